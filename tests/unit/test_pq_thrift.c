/* Unit tests for the Thrift compact protocol: encoder output against hand-computed bytes,
 * encode -> decode round trips, skipping unknown nested fields, and hostile inputs
 * (truncation, huge list counts, deep nesting, bad types) that must fail cleanly. */
#include "parquet/common/thrift.h"

#include <stdio.h>
#include <string.h>

#include "test_util.h"

static void known_bytes(void)
{
	ids_buf b = IDS_BUF_INIT;
	pq_tenc e;
	pq_tenc_init(&e, &b);
	pq_tenc_elem_struct_begin(&e);
	pq_tenc_i32(&e, 1, 1);         /* delta 1, i32: 0x15, zigzag(1)=2 */
	pq_tenc_i64(&e, 3, -1);        /* delta 2, i64: 0x26, zigzag(-1)=1 */
	pq_tenc_bool(&e, 4, 1);        /* 0x11 */
	pq_tenc_string(&e, 20, "ab");  /* delta 16 > 15: long form 0x08, zigzag(20)=40 */
	pq_tenc_list_begin(&e, 21, PQ_T_I32, 2); /* 0x19, 0x25 */
	pq_tenc_elem_i32(&e, 300);     /* zigzag 600 = 0xd8 0x04 */
	pq_tenc_elem_i32(&e, -2);      /* 3 */
	pq_tenc_struct_begin(&e, 22);  /* 0x1c */
	pq_tenc_bool(&e, 1, 0);        /* 0x12 */
	pq_tenc_struct_end(&e);        /* 0x00 */
	pq_tenc_struct_end(&e);        /* 0x00 */
	CHECK(pq_tenc_finish(&e) == 0);
	const uint8_t want[] = {0x15, 0x02, 0x26, 0x01, 0x11, 0x08, 40, 2, 'a', 'b', 0x19, 0x25, 0xd8,
				0x04, 0x03, 0x1c, 0x12, 0x00, 0x00};
	CHECK(b.len == sizeof want && memcmp(b.data, want, sizeof want) == 0);

	/* decode it back */
	ids_error err = IDS_ERROR_INIT;
	pq_tdec d;
	pq_tdec_init(&d, (const uint8_t *)b.data, b.len, &err);
	CHECK(pq_tdec_struct_begin(&d) == 0);
	int16_t id;
	int t, rc, seen = 0;
	while ((rc = pq_tdec_field(&d, &id, &t)) > 0) {
		int32_t i32;
		int64_t i64;
		int bv;
		const uint8_t *p;
		size_t n;
		switch (id) {
		case 1: CHECK(pq_tdec_expect_i32(&d, t, &i32) == 1 && i32 == 1); seen |= 1; break;
		case 3: CHECK(pq_tdec_expect_i64(&d, t, &i64) == 1 && i64 == -1); seen |= 2; break;
		case 4: CHECK(pq_tdec_expect_bool(&d, t, &bv) == 1 && bv == 1); seen |= 4; break;
		case 20: CHECK(pq_tdec_expect_binary(&d, t, &p, &n) == 1 && n == 2 && !memcmp(p, "ab", 2)); seen |= 8; break;
		case 21: {
			int et;
			uint32_t cnt;
			CHECK(t == PQ_T_LIST && pq_tdec_list_begin(&d, &et, &cnt) == 0 && et == PQ_T_I32 && cnt == 2);
			CHECK(pq_tdec_i32(&d, &i32) == 0 && i32 == 300);
			CHECK(pq_tdec_i32(&d, &i32) == 0 && i32 == -2);
			seen |= 16;
			break;
		}
		default: CHECK(pq_tdec_skip(&d, t) == 0); seen |= 32; /* the nested struct */
		}
	}
	CHECK(rc == 0 && seen == 63 && pq_tdec_pos(&d) == b.len && d.depth == 0);
	ids_buf_free(&b);
}

static void roundtrip_wide(void)
{
	/* long lists, i64 extremes, negative and large field ids, lists of structs and bools */
	ids_buf b = IDS_BUF_INIT;
	pq_tenc e;
	pq_tenc_init(&e, &b);
	pq_tenc_elem_struct_begin(&e);
	pq_tenc_i64(&e, 2, INT64_MIN);
	pq_tenc_i64(&e, 3, INT64_MAX);
	pq_tenc_i32(&e, 4, INT32_MIN);
	pq_tenc_double(&e, 5, -2.5);
	pq_tenc_list_begin(&e, 6, PQ_T_STRUCT, 100);
	for (int i = 0; i < 100; i++) {
		pq_tenc_elem_struct_begin(&e);
		pq_tenc_i32(&e, 1, i);
		pq_tenc_list_begin(&e, 2, PQ_T_BOOL, 3);
		pq_tenc_elem_bool(&e, 1);
		pq_tenc_elem_bool(&e, 0);
		pq_tenc_elem_bool(&e, 1);
		pq_tenc_struct_end(&e);
	}
	pq_tenc_i32(&e, 1000, 7);
	pq_tenc_struct_end(&e);
	CHECK(pq_tenc_finish(&e) == 0);

	ids_error err = IDS_ERROR_INIT;
	pq_tdec d;
	pq_tdec_init(&d, (const uint8_t *)b.data, b.len, &err);
	CHECK(pq_tdec_struct_begin(&d) == 0);
	int16_t id;
	int t, rc, sum = 0;
	int64_t v64;
	int32_t v32;
	double dv;
	while ((rc = pq_tdec_field(&d, &id, &t)) > 0) {
		if (id == 2) CHECK(pq_tdec_i64(&d, &v64) == 0 && v64 == INT64_MIN);
		else if (id == 3) CHECK(pq_tdec_i64(&d, &v64) == 0 && v64 == INT64_MAX);
		else if (id == 4) CHECK(pq_tdec_i32(&d, &v32) == 0 && v32 == INT32_MIN);
		else if (id == 5) CHECK(pq_tdec_double(&d, &dv) == 0 && dv == -2.5);
		else if (id == 1000) CHECK(pq_tdec_i32(&d, &v32) == 0 && v32 == 7);
		else if (id == 6) {
			int et;
			uint32_t n;
			CHECK(pq_tdec_list_begin(&d, &et, &n) == 0 && n == 100 && et == PQ_T_STRUCT);
			for (uint32_t i = 0; i < n; i++) {
				CHECK(pq_tdec_struct_begin(&d) == 0);
				int16_t fid;
				int ft;
				while ((rc = pq_tdec_field(&d, &fid, &ft)) > 0) {
					if (fid == 1) {
						CHECK(pq_tdec_i32(&d, &v32) == 0);
						sum += v32;
					} else {
						int bt;
						uint32_t bn;
						int bv[3];
						CHECK(pq_tdec_list_begin(&d, &bt, &bn) == 0 && bn == 3);
						for (int k = 0; k < 3; k++)
							CHECK(pq_tdec_bool(&d, &bv[k]) == 0);
						CHECK(bv[0] == 1 && bv[1] == 0 && bv[2] == 1);
					}
				}
				CHECK(rc == 0);
			}
		}
	}
	CHECK(rc == 0 && sum == 4950 && pq_tdec_pos(&d) == b.len);

	/* the whole thing also skips as one struct */
	pq_tdec_init(&d, (const uint8_t *)b.data, b.len, &err);
	CHECK(pq_tdec_skip(&d, PQ_T_STRUCT) == 0 && pq_tdec_pos(&d) == b.len);

	/* every truncation fails cleanly */
	for (size_t cut = 0; cut < b.len; cut++) {
		pq_tdec_init(&d, (const uint8_t *)b.data, cut, &err);
		CHECK(pq_tdec_skip(&d, PQ_T_STRUCT) != 0);
	}
	ids_buf_free(&b);
}

static int skip_bytes(const uint8_t *p, size_t n, ids_error *err)
{
	pq_tdec d;
	pq_tdec_init(&d, p, n, err);
	return pq_tdec_skip(&d, PQ_T_STRUCT);
}

static void hostile(void)
{
	ids_error err = IDS_ERROR_INIT;
	/* list field claiming 2^31 i64 elements in 6 bytes */
	const uint8_t huge_list[] = {0x19, 0xF6, 0xff, 0xff, 0xff, 0x07};
	CHECK(skip_bytes(huge_list, sizeof huge_list, &err) == IDS_ECORRUPT);
	CHECK(strstr(err.msg, "byte offset") != NULL);
	/* binary length past the end */
	const uint8_t long_bin[] = {0x18, 0x7f, 'a', 0};
	CHECK(skip_bytes(long_bin, sizeof long_bin, &err) == IDS_ECORRUPT);
	/* unterminated varint */
	const uint8_t bad_varint[] = {0x15, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0};
	CHECK(skip_bytes(bad_varint, sizeof bad_varint, &err) == IDS_ECORRUPT);
	/* invalid field type 13 */
	const uint8_t bad_type[] = {0x1d, 0};
	CHECK(skip_bytes(bad_type, sizeof bad_type, &err) == IDS_ECORRUPT);
	/* map with hostile count */
	const uint8_t bad_map[] = {0x1b, 0xff, 0xff, 0xff, 0x0f, 0x55, 0};
	CHECK(skip_bytes(bad_map, sizeof bad_map, &err) == IDS_ECORRUPT);
	/* a valid map skips */
	const uint8_t ok_map[] = {0x1b, 0x02, 0x85, 0x01, 'k', 0x02, 0x01, 'j', 0x04, 0x00};
	CHECK(skip_bytes(ok_map, sizeof ok_map, &err) == 0);
	/* empty map is one byte */
	const uint8_t empty_map[] = {0x1b, 0x00, 0x00};
	CHECK(skip_bytes(empty_map, sizeof empty_map, &err) == 0);
	/* nesting: 200 struct-in-struct levels must hit the depth cap, not the stack */
	uint8_t deep[402];
	for (int i = 0; i < 200; i++)
		deep[i] = 0x1c;
	memset(deep + 200, 0, 202);
	CHECK(skip_bytes(deep, sizeof deep, &err) == IDS_ELIMIT);
	/* lists of lists nested deeply too */
	uint8_t deepl[300];
	deepl[0] = 0x19;
	for (int i = 1; i < 299; i++)
		deepl[i] = 0x19; /* list of 1 list */
	deepl[299] = 0;
	CHECK(skip_bytes(deepl, sizeof deepl, &err) != 0);
	/* field id delta overflow: long-form id 32767 then delta 15 */
	const uint8_t id_over[] = {0x05, 0xfe, 0xff, 0x03, 0x00, 0xf5, 0x00, 0x00};
	CHECK(skip_bytes(id_over, sizeof id_over, &err) == IDS_ECORRUPT);
	/* empty input */
	CHECK(skip_bytes((const uint8_t *)"", 0, &err) == IDS_ECORRUPT);
	/* encoder: unbalanced end is reported */
	ids_buf b = IDS_BUF_INIT;
	pq_tenc e;
	pq_tenc_init(&e, &b);
	pq_tenc_struct_end(&e);
	CHECK(pq_tenc_finish(&e) == IDS_EINVAL);
	ids_buf_free(&b);
	/* encoder: a capped buffer reports ELIMIT */
	ids_buf_init(&b, 4);
	pq_tenc_init(&e, &b);
	pq_tenc_elem_struct_begin(&e);
	pq_tenc_string(&e, 1, "hello world");
	pq_tenc_struct_end(&e);
	CHECK(pq_tenc_finish(&e) == IDS_ELIMIT);
	ids_buf_free(&b);
}

int main(void)
{
	known_bytes();
	roundtrip_wide();
	hostile();
	return test_report("test_pq_thrift");
}
