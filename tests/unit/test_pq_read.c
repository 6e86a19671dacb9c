/* Reader unit tests: the low-level decoders on hand-built byte sequences (RLE/bit-packed
 * hybrid, legacy BIT_PACKED, DELTA_BINARY_PACKED incl. 64-bit wraparound, DELTA_LENGTH /
 * DELTA_BYTE_ARRAY, BYTE_STREAM_SPLIT, PLAIN), hostile variants of each, and the golden
 * fixtures in tests/golden/parquet (file and memory sources, row and batch APIs). */
#include "parquet/read/rd_internal.h"
#include "parquet/codec/pq_codec.h"

#include <stdio.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "test_util.h"

/* ---- a tiny DELTA_BINARY_PACKED encoder, only for building test input ---- */
static void uv(ids_buf *b, uint64_t v)
{
	while (v >= 0x80) {
		ids_buf_putc(b, (char)(v | 0x80));
		v >>= 7;
	}
	ids_buf_putc(b, (char)v);
}

static void dbp_encode(ids_buf *b, const int64_t *v, size_t n)
{
	uv(b, 128);
	uv(b, 4);
	uv(b, n);
	uv(b, n ? ((uint64_t)v[0] << 1) ^ (uint64_t)(v[0] >> 63) : 0);
	for (size_t start = 1; start < n; start += 128) {
		size_t cnt = n - start < 128 ? n - start : 128;
		uint64_t d[128] = {0};
		int64_t mn = INT64_MAX;
		for (size_t i = 0; i < cnt; i++) {
			d[i] = (uint64_t)v[start + i] - (uint64_t)v[start + i - 1];
			if ((int64_t)d[i] < mn)
				mn = (int64_t)d[i];
		}
		uv(b, ((uint64_t)mn << 1) ^ (uint64_t)(mn >> 63));
		int bw[4] = {0};
		for (int m = 0; m < 4; m++)
			for (size_t i = (size_t)m * 32; i < (size_t)m * 32 + 32 && i < cnt; i++) {
				uint64_t r = d[i] - (uint64_t)mn;
				while (bw[m] < 64 && (r >> bw[m]))
					bw[m]++;
			}
		for (int m = 0; m < 4; m++)
			ids_buf_putc(b, (char)bw[m]);
		for (int m = 0; m < 4 && (size_t)m * 32 < cnt; m++) {
			uint8_t bytes[32 * 8] = {0};
			for (size_t i = 0; i < 32; i++) {
				size_t k = (size_t)m * 32 + i;
				uint64_t r = k < cnt ? d[k] - (uint64_t)mn : 0;
				for (int bit = 0; bit < bw[m]; bit++)
					if ((r >> bit) & 1) {
						size_t pos = i * (size_t)bw[m] + (size_t)bit;
						bytes[pos / 8] |= (uint8_t)(1 << (pos % 8));
					}
			}
			ids_buf_append(b, bytes, (size_t)bw[m] * 4);
		}
	}
}

static void test_rle(void)
{
	ids_error err = IDS_ERROR_INIT;
	/* Encodings.md example: bit-packed 0..7 at width 3 */
	const uint8_t bp[] = {0x03, 0x88, 0xC6, 0xFA};
	int16_t out[200];
	uint32_t o32[200];
	CHECK(rd_rle_i16(bp, sizeof bp, 3, 8, out, &err) == 0);
	for (int i = 0; i < 8; i++)
		CHECK(out[i] == i);
	/* fewer values than the run holds is fine */
	CHECK(rd_rle_u32(bp, sizeof bp, 3, 5, o32, &err) == 0 && o32[4] == 4);
	/* an RLE run of 100 x 5 then a bit-packed run */
	const uint8_t mix[] = {0xC8, 0x01, 0x05, 0x03, 0x88, 0xC6, 0xFA};
	CHECK(rd_rle_i16(mix, sizeof mix, 3, 108, out, &err) == 0);
	CHECK(out[0] == 5 && out[99] == 5 && out[100] == 0 && out[107] == 7);
	/* truncations and lies */
	CHECK(rd_rle_i16(mix, sizeof mix, 3, 109, out, &err) == IDS_ECORRUPT);
	CHECK(rd_rle_i16(bp, 3, 3, 8, out, &err) == IDS_ECORRUPT);
	const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
	CHECK(rd_rle_u32(huge, sizeof huge, 1, 10, o32, &err) == IDS_ECORRUPT); /* bit-packed, no data */
	const uint8_t wide[] = {0x02, 0x09};  /* RLE value 9 at width 3 */
	CHECK(rd_rle_u32(wide, sizeof wide, 3, 1, o32, &err) == IDS_ECORRUPT);
	const uint8_t longvar[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
	CHECK(rd_rle_u32(longvar, sizeof longvar, 1, 1, o32, &err) == IDS_ECORRUPT);
	CHECK(rd_rle_u32(bp, sizeof bp, 33, 1, o32, &err) == IDS_ECORRUPT);
	/* width 0: runs carry no value bytes */
	const uint8_t zero[] = {0x14};
	CHECK(rd_rle_u32(zero, 1, 0, 10, o32, &err) == 0 && o32[9] == 0);
	/* width 32 values */
	const uint8_t w32[] = {0x02, 0xff, 0xff, 0xff, 0xff};
	CHECK(rd_rle_u32(w32, sizeof w32, 32, 1, o32, &err) == 0 && o32[0] == 0xffffffffu);
	/* legacy BIT_PACKED levels are MSB first: 0..7 at width 3 = 00000101 00111001 01110111 */
	const uint8_t legacy[] = {0x05, 0x39, 0x77};
	size_t used = 0;
	CHECK(rd_bitpacked_i16(legacy, 3, 3, 8, out, &used, &err) == 0 && used == 3);
	for (int i = 0; i < 8; i++)
		CHECK(out[i] == i);
	CHECK(rd_bitpacked_i16(legacy, 2, 3, 8, out, &used, &err) == IDS_ECORRUPT);
}

static void test_delta(void)
{
	ids_error err = IDS_ERROR_INIT;
	size_t used = 0;
	int32_t o32[600];
	int64_t o64[600];
	/* Encodings.md example 1 */
	const uint8_t ex1[] = {0x80, 0x01, 0x04, 0x05, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00};
	CHECK(rd_delta_binary(ex1, sizeof ex1, 5, 0, o32, &used, &err) == 0);
	CHECK(o32[0] == 1 && o32[4] == 5 && used == sizeof ex1);
	/* example 2: 7,5,3,1,2,3,4,5 */
	const uint8_t ex2[] = {0x80, 0x01, 0x04, 0x08, 0x0E, 0x03, 0x02, 0x00, 0x00, 0x00,
			       0xC0, 0x3F, 0, 0, 0, 0, 0, 0};
	CHECK(rd_delta_binary(ex2, sizeof ex2, 8, 0, o32, &used, &err) == 0);
	const int32_t want2[] = {7, 5, 3, 1, 2, 3, 4, 5};
	CHECK(memcmp(o32, want2, sizeof want2) == 0 && used == sizeof ex2);
	/* round trip with extremes (deltas wrap modulo 2^64) across several blocks */
	int64_t v[600];
	uint64_t seed = 42;
	for (int i = 0; i < 600; i++) {
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		v[i] = i % 50 == 0 ? INT64_MIN : i % 50 == 1 ? INT64_MAX : (int64_t)(seed >> (i % 60));
	}
	ids_buf b = IDS_BUF_INIT;
	dbp_encode(&b, v, 600);
	CHECK(rd_delta_binary((uint8_t *)b.data, b.len, 600, 1, o64, &used, &err) == 0);
	CHECK(memcmp(o64, v, sizeof v) == 0 && used == b.len);
	/* fewer values than the stream holds; asking for more fails */
	CHECK(rd_delta_binary((uint8_t *)b.data, b.len, 10, 1, o64, &used, &err) == 0 && o64[9] == v[9]);
	CHECK(rd_delta_binary((uint8_t *)b.data, b.len, 601, 1, o64, &used, &err) == IDS_ECORRUPT);
	/* truncations fail cleanly (the last miniblock's padding may legitimately be missing) */
	for (size_t cut = 0; cut + 80 < b.len; cut += 7)
		CHECK(rd_delta_binary((uint8_t *)b.data, cut, 600, 1, o64, &used, &err) != 0);
	ids_buf_free(&b);
	/* hostile headers: block size not a multiple of 128, miniblock of 7, bit width 65 */
	const uint8_t bad1[] = {0x40, 0x04, 0x05, 0x02};
	CHECK(rd_delta_binary(bad1, sizeof bad1, 5, 0, o32, &used, &err) == IDS_ECORRUPT);
	const uint8_t bad2[] = {0x80, 0x01, 0x07, 0x05, 0x02};
	CHECK(rd_delta_binary(bad2, sizeof bad2, 5, 0, o32, &used, &err) == IDS_ECORRUPT);
	const uint8_t bad3[] = {0x80, 0x01, 0x04, 0x05, 0x02, 0x02, 65, 0, 0, 0};
	CHECK(rd_delta_binary(bad3, sizeof bad3, 5, 0, o32, &used, &err) == IDS_ECORRUPT);

	/* DELTA_LENGTH_BYTE_ARRAY: Hello World Foobar ABCDEF */
	const char *words[] = {"Hello", "World", "Foobar", "ABCDEF"};
	int64_t lens[4];
	ids_buf_init(&b, 0);
	for (int i = 0; i < 4; i++)
		lens[i] = (int64_t)strlen(words[i]);
	dbp_encode(&b, lens, 4);
	for (int i = 0; i < 4; i++)
		ids_buf_puts(&b, words[i]);
	pq_rbytes rb[8];
	CHECK(rd_delta_length_ba((uint8_t *)b.data, b.len, 4, rb, 100, &err) == 0);
	for (int i = 0; i < 4; i++)
		CHECK(rb[i].len == strlen(words[i]) && memcmp(rb[i].ptr, words[i], rb[i].len) == 0);
	CHECK(rd_delta_length_ba((uint8_t *)b.data, b.len - 1, 4, rb, 100, &err) == IDS_ECORRUPT);
	ids_buf_free(&b);

	/* DELTA_BYTE_ARRAY: axis axle babble babyhood */
	const char *full[] = {"axis", "axle", "babble", "babyhood"};
	const char *suf[] = {"axis", "le", "babble", "yhood"};
	int64_t pre[4] = {0, 2, 0, 3}, sl[4];
	ids_buf_init(&b, 0);
	dbp_encode(&b, pre, 4);
	for (int i = 0; i < 4; i++)
		sl[i] = (int64_t)strlen(suf[i]);
	dbp_encode(&b, sl, 4);
	for (int i = 0; i < 4; i++)
		ids_buf_puts(&b, suf[i]);
	uint8_t *arena = NULL;
	size_t acap = 0;
	CHECK(rd_delta_ba((uint8_t *)b.data, b.len, 4, rb, &arena, &acap, 1 << 20, 100, &err) == 0);
	for (int i = 0; i < 4; i++)
		CHECK(rb[i].len == strlen(full[i]) && memcmp(rb[i].ptr, full[i], rb[i].len) == 0);
	/* a prefix longer than the previous value is corrupt */
	ids_buf_reset(&b);
	int64_t badpre[4] = {3, 2, 0, 3};
	dbp_encode(&b, badpre, 4);
	dbp_encode(&b, sl, 4);
	for (int i = 0; i < 4; i++)
		ids_buf_puts(&b, suf[i]);
	CHECK(rd_delta_ba((uint8_t *)b.data, b.len, 4, rb, &arena, &acap, 1 << 20, 100, &err) == IDS_ECORRUPT);
	free(arena);
	ids_buf_free(&b);
}

static void test_plain_bss(void)
{
	ids_error err = IDS_ERROR_INIT;
	size_t used;
	/* BYTE_STREAM_SPLIT of floats 1.0f (0x3f800000) and -2.0f (0xc0000000) */
	const uint8_t bss[] = {0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x3f, 0xc0};
	float f[2];
	CHECK(rd_byte_stream_split(PQ_FLOAT, 0, bss, sizeof bss, 2, f, &err) == 0);
	CHECK(f[0] == 1.0f && f[1] == -2.0f);
	CHECK(rd_byte_stream_split(PQ_FLOAT, 0, bss, 7, 2, f, &err) == IDS_ECORRUPT);
	CHECK(rd_byte_stream_split(PQ_BYTE_ARRAY, 0, bss, 8, 2, f, &err) == IDS_ECORRUPT);
	/* FIXED_LEN_BYTE_ARRAY(3) x 2 */
	const uint8_t bss3[] = {1, 4, 2, 5, 3, 6};
	uint8_t fl[6];
	CHECK(rd_byte_stream_split(PQ_FIXED_LEN_BYTE_ARRAY, 3, bss3, 6, 2, fl, &err) == 0);
	CHECK(fl[0] == 1 && fl[1] == 2 && fl[2] == 3 && fl[3] == 4 && fl[5] == 6);
	/* PLAIN booleans, LSB first */
	const uint8_t bools[] = {0x05, 0x01};
	uint8_t bo[9];
	CHECK(rd_plain(PQ_BOOLEAN, 0, bools, 2, 9, bo, &used, &err) == 0 && used == 2);
	CHECK(bo[0] == 1 && bo[1] == 0 && bo[2] == 1 && bo[8] == 1);
	CHECK(rd_plain(PQ_BOOLEAN, 0, bools, 1, 9, bo, &used, &err) == IDS_ECORRUPT);
	/* PLAIN byte arrays with a lying length */
	const uint8_t ba[] = {2, 0, 0, 0, 'h', 'i', 0xff, 0xff, 0xff, 0x7f, 'x'};
	pq_rbytes rb[2];
	CHECK(rd_plain(PQ_BYTE_ARRAY, 0, ba, sizeof ba, 1, rb, &used, &err) == 0 && rb[0].len == 2);
	CHECK(rd_plain(PQ_BYTE_ARRAY, 0, ba, sizeof ba, 2, rb, &used, &err) == IDS_ECORRUPT);
	int64_t i64[2];
	CHECK(rd_plain(PQ_INT64, 0, ba, sizeof ba, 2, i64, &used, &err) == IDS_ECORRUPT);
}

static char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long len = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *p = malloc((size_t)len + 1);
	if (p && fread(p, 1, (size_t)len, f) != (size_t)len) {
		free(p);
		p = NULL;
	}
	fclose(f);
	if (p) {
		p[len] = 0;
		*n = (size_t)len;
	}
	return p;
}

static void read_all(pq_reader *r, ids_buf *out, const char *name)
{
	ids_error err = IDS_ERROR_INIT;
	int rc;
	while ((rc = pq_reader_next_row_json(r, out, &err)) > 0)
		ids_buf_putc(out, '\n');
	if (rc < 0)
		fprintf(stderr, "%s: %s\n", name, err.msg);
	CHECK(rc == 0);
}

static void test_golden(void)
{
	static const char *names[] = {"flat_v1_snappy", "flat_v2_zstd", "flat_v1_gzip_nodict",
				      "nested_v1_uncompressed", "nested_v2_lz4raw", "extremes_v1_brotli",
				      "extremes_v2_snappy"};
	for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
		char pq[1024], nd[1024];
		snprintf(pq, sizeof pq, "%s/tests/golden/parquet/%s.parquet", IDS_SOURCE_DIR, names[k]);
		snprintf(nd, sizeof nd, "%s/tests/golden/parquet/%s.ndjson", IDS_SOURCE_DIR, names[k]);
		size_t nlen = 0, plen = 0;
		char *want = slurp(nd, &nlen), *bytes = slurp(pq, &plen);
		CHECK(want && bytes);
		if (!want || !bytes) {
			free(want);
			free(bytes);
			continue;
		}
		ids_error err = IDS_ERROR_INIT;
		pq_reader *r = NULL;
		ids_buf out = IDS_BUF_INIT;
		CHECK(pq_reader_open(&r, pq, NULL, &err) == 0);
		if (r) {
			read_all(r, &out, names[k]);
			CHECK(out.len == nlen && memcmp(out.data, want, nlen) == 0);
			if (out.len != nlen || memcmp(out.data, want, nlen) != 0)
				fprintf(stderr, "%s: output differs from the golden NDJSON\n", names[k]);
			/* batch API: every column chunk decodes; values + nulls add up */
			const pq_file_meta *m = pq_reader_meta(r);
			for (size_t g = 0; g < m->n_row_groups; g++)
				for (size_t c = 0; c < m->n_columns; c++) {
					pq_read_batch b;
					int rc = pq_reader_read_column(r, g, c, &b, &err);
					CHECK(rc == 0);
					CHECK((int64_t)b.n == m->row_groups[g].chunks[c].num_values);
					size_t nn = 0;
					for (size_t i = 0; i < b.n; i++)
						nn += !b.def || b.def[i] == m->columns[c].max_def;
					CHECK(nn == b.n_values);
				}
			pq_reader_free(r);
		}
		/* memory source gives the same rows */
		ids_buf_reset(&out);
		CHECK(pq_reader_open_mem(&r, bytes, plen, names[k], NULL, &err) == 0);
		if (r) {
			read_all(r, &out, names[k]);
			CHECK(out.len == nlen && memcmp(out.data, want, nlen) == 0);
			pq_reader_free(r);
		}
		/* every truncation fails cleanly (checked under ASan in CI) */
		for (size_t cut = 0; cut < plen; cut += plen / 50 + 1) {
			if (pq_reader_open_mem(&r, bytes, cut, names[k], NULL, &err) == 0) {
				ids_buf_reset(&out);
				while (pq_reader_next_row_json(r, &out, &err) > 0)
					;
				pq_reader_free(r);
			} else {
				CHECK(strstr(err.msg, names[k]) != NULL);
			}
		}
		ids_buf_free(&out);
		free(want);
		free(bytes);
	}
}

/* the fast shortest-double path must agree with the printf-based search */
static void test_doubles(void)
{
	pq_node *leaf = pq_node_new_leaf("d", PQ_DOUBLE, PQ_REQUIRED);
	pq_column_desc c = {leaf, "d", 0, 0};
	ids_buf b = IDS_BUF_INIT;
	uint64_t seed = 1;
	int bad = 0;
	for (int i = 0; i < 300000; i++) {
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		double v;
		if (i % 3 == 0) {
			uint64_t bits = seed;
			memcpy(&v, &bits, 8);
		} else if (i % 3 == 1) {
			v = (double)(seed >> 11) / (double)(1ULL << (seed % 60)) / 7.0;
		} else {
			v = (double)(i % 100000) / 3.0 * ((seed & 1) ? 1e-5 : 1.0);
		}
		if (isnan(v) || isinf(v) || v == 0)
			continue;
		ids_buf_reset(&b);
		rd_json_value(&c, (const uint8_t *)&v, &b);
		char want[40];
		for (int prec = fabs(v) < DBL_MIN ? 1 : 15; prec <= 17; prec++) {
			snprintf(want, sizeof want, "%.*g", prec, v);
			if (strtod(want, NULL) == v)
				break;
		}
		int same_len = 1;
		/* compare significant digits count: ours must read back equal and be no longer */
		size_t dig_ours = 0, dig_want = 0;
		for (const char *p = b.data; *p && *p != 'e'; p++)
			dig_ours += *p >= '0' && *p <= '9';
		for (const char *p = want; *p && *p != 'e'; p++)
			dig_want += *p >= '0' && *p <= '9';
		/* leading zeros of 0.000ddd count in ours but not in %g exponent form */
		const char *q = b.data + (b.data[0] == '-');
		if (q[0] == '0' && q[1] == '.') {
			q += 2;
			dig_ours -= 1;
			while (*q == '0') {
				dig_ours--;
				q++;
			}
		}
		if (!strchr(b.data, '.') && !strchr(b.data, 'e')) /* integers: trailing zeros are not digits */
			for (size_t k = b.len; k > 1 && b.data[k - 1] == '0'; k--)
				dig_ours--;
		if (strtod(b.data, NULL) != v || dig_ours > dig_want)
			same_len = 0;
		if (!same_len && bad++ < 5)
			fprintf(stderr, "double %.17g: ours %s, printf %s\n", v, b.data, want);
	}
	CHECK(bad == 0);
	ids_buf_free(&b);
	pq_node_free(leaf);
}

int main(void)
{
	test_doubles();
	test_rle();
	test_delta();
	test_plain_bss();
	test_golden();
	pq_codec_thread_cleanup();
	return test_report("test_pq_read");
}
