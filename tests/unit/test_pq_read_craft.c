/* Reader tests on Parquet files crafted byte by byte (with our Thrift encoder and codecs), for
 * what DuckDB does not write: INT96 timestamps, legacy 2-level lists with BIT_PACKED levels,
 * bare repeated fields, page CRCs (good and bad), Hadoop-framed LZ4, V2 pages stored
 * uncompressed under a codec, DELTA_BYTE_ARRAY, ConvertedType-only annotations, the JSON
 * logical type, MAP_KEY_VALUE maps, and hostile dictionary indices / levels. */
#include "idbsync/pq_read.h"
#include "parquet/codec/pq_codec.h"
#include "parquet/common/thrift.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "test_util.h"

typedef struct selem {
	const char *name;
	int type;       /* -1 group */
	int rep;
	int nkids;
	int conv;       /* -1 none */
	int lt;         /* LogicalType union member id, 0 none */
	int scale, prec, tlen;
} selem;

typedef struct col {
	const char *path;             /* dotted */
	int type, codec;
	int64_t num_values;
	int64_t start, len;           /* filled by the builder */
	int encs[4];
	int n_encs;
} col;

static void le32(ids_buf *b, uint32_t v)
{
	uint8_t p[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
	ids_buf_append(b, p, 4);
}

/* RLE/bit-packed hybrid as one bit-packed run */
static void hybrid(ids_buf *b, const int *v, int n, int bw)
{
	int groups = (n + 7) / 8;
	ids_buf_putc(b, (char)(groups << 1 | 1));
	uint8_t bytes[256] = {0};
	for (int i = 0; i < n; i++)
		for (int k = 0; k < bw; k++)
			if ((v[i] >> k) & 1)
				bytes[(i * bw + k) / 8] |= (uint8_t)(1 << ((i * bw + k) % 8));
	ids_buf_append(b, bytes, (size_t)(groups * bw));
}

static void levels_rle(ids_buf *b, const int *v, int n, int bw)
{
	ids_buf t = IDS_BUF_INIT;
	hybrid(&t, v, n, bw);
	le32(b, (uint32_t)t.len);
	ids_buf_append(b, t.data, t.len);
	ids_buf_free(&t);
}

/* legacy BIT_PACKED: MSB first, no length */
static void levels_bitpacked(ids_buf *b, const int *v, int n, int bw)
{
	uint8_t bytes[256] = {0};
	for (int i = 0; i < n; i++)
		for (int k = 0; k < bw; k++)
			if ((v[i] >> (bw - 1 - k)) & 1)
				bytes[(i * bw + k) / 8] |= (uint8_t)(0x80 >> ((i * bw + k) % 8));
	ids_buf_append(b, bytes, (size_t)((n * bw + 7) / 8));
}

typedef struct page {
	int type;            /* 0 data v1, 3 data v2, 2 dictionary */
	int n, enc, def_enc, rep_enc;
	const void *body;    /* uncompressed body (v2: levels first, then values) */
	size_t len;
	int crc;             /* 0 none, 1 good, 2 bad */
	int rl, dl;          /* v2 level lengths */
	int v2_uncompressed; /* is_compressed = false */
	int num_nulls, num_rows;
	int bare;            /* v2: empty values written with no codec frame (0 bytes) */
} page;

static void write_page(ids_buf *f, int codec, const page *p)
{
	ids_buf z = IDS_BUF_INIT;
	ids_error err = IDS_ERROR_INIT;
	const uint8_t *body = p->body;
	if (p->type == 3) {
		size_t lv = (size_t)(p->rl + p->dl);
		ids_buf_append(&z, body, lv);
		if (p->v2_uncompressed || (p->bare && p->len == lv))
			ids_buf_append(&z, body + lv, p->len - lv);
		else
			pq_compress((pq_codec)codec, 0, body + lv, p->len - lv, &z, &err);
	} else {
		pq_compress((pq_codec)codec, 0, body, p->len, &z, &err);
	}
	ids_buf h = IDS_BUF_INIT;
	pq_tenc e;
	pq_tenc_init(&e, &h);
	pq_tenc_elem_struct_begin(&e);
	pq_tenc_i32(&e, 1, p->type);
	pq_tenc_i32(&e, 2, (int32_t)p->len);
	pq_tenc_i32(&e, 3, (int32_t)z.len);
	if (p->crc) {
		uint32_t c = (uint32_t)crc32(0, (const Bytef *)z.data, (uInt)z.len);
		pq_tenc_i32(&e, 4, (int32_t)(p->crc == 2 ? c ^ 1 : c));
	}
	if (p->type == 0) {
		pq_tenc_struct_begin(&e, 5);
		pq_tenc_i32(&e, 1, p->n);
		pq_tenc_i32(&e, 2, p->enc);
		pq_tenc_i32(&e, 3, p->def_enc);
		pq_tenc_i32(&e, 4, p->rep_enc);
		pq_tenc_struct_end(&e);
	} else if (p->type == 2) {
		pq_tenc_struct_begin(&e, 7);
		pq_tenc_i32(&e, 1, p->n);
		pq_tenc_i32(&e, 2, p->enc);
		pq_tenc_struct_end(&e);
	} else {
		pq_tenc_struct_begin(&e, 8);
		pq_tenc_i32(&e, 1, p->n);
		pq_tenc_i32(&e, 2, p->num_nulls);
		pq_tenc_i32(&e, 3, p->num_rows);
		pq_tenc_i32(&e, 4, p->enc);
		pq_tenc_i32(&e, 5, p->dl);
		pq_tenc_i32(&e, 6, p->rl);
		if (p->v2_uncompressed)
			pq_tenc_bool(&e, 7, 0);
		pq_tenc_struct_end(&e);
	}
	pq_tenc_struct_end(&e);
	ids_buf_append(f, h.data, h.len);
	ids_buf_append(f, z.data, z.len);
	ids_buf_free(&h);
	ids_buf_free(&z);
}

static void write_footer(ids_buf *f, const selem *s, int ns, col *cols, int nc, int64_t rows)
{
	ids_buf h = IDS_BUF_INIT;
	pq_tenc e;
	pq_tenc_init(&e, &h);
	pq_tenc_elem_struct_begin(&e);
	pq_tenc_i32(&e, 1, 1);
	pq_tenc_list_begin(&e, 2, PQ_T_STRUCT, (size_t)ns);
	for (int i = 0; i < ns; i++) {
		pq_tenc_elem_struct_begin(&e);
		if (s[i].type >= 0)
			pq_tenc_i32(&e, 1, s[i].type);
		if (s[i].tlen)
			pq_tenc_i32(&e, 2, s[i].tlen);
		if (i > 0)
			pq_tenc_i32(&e, 3, s[i].rep);
		pq_tenc_string(&e, 4, s[i].name);
		if (s[i].nkids)
			pq_tenc_i32(&e, 5, s[i].nkids);
		if (s[i].conv >= 0)
			pq_tenc_i32(&e, 6, s[i].conv);
		if (s[i].conv == 5) {
			pq_tenc_i32(&e, 7, s[i].scale);
			pq_tenc_i32(&e, 8, s[i].prec);
		}
		if (s[i].lt) {
			pq_tenc_struct_begin(&e, 10);
			pq_tenc_struct_begin(&e, (int16_t)s[i].lt);
			pq_tenc_struct_end(&e);
			pq_tenc_struct_end(&e);
		}
		pq_tenc_struct_end(&e);
	}
	pq_tenc_i64(&e, 3, rows);
	pq_tenc_list_begin(&e, 4, PQ_T_STRUCT, 1);
	pq_tenc_elem_struct_begin(&e);
	pq_tenc_list_begin(&e, 1, PQ_T_STRUCT, (size_t)nc);
	for (int c = 0; c < nc; c++) {
		pq_tenc_elem_struct_begin(&e);
		pq_tenc_i64(&e, 2, cols[c].start);
		pq_tenc_struct_begin(&e, 3);
		pq_tenc_i32(&e, 1, cols[c].type);
		pq_tenc_list_begin(&e, 2, PQ_T_I32, (size_t)cols[c].n_encs);
		for (int k = 0; k < cols[c].n_encs; k++)
			pq_tenc_elem_i32(&e, cols[c].encs[k]);
		char path[128];
		snprintf(path, sizeof path, "%s", cols[c].path);
		int parts = 1;
		for (char *p = path; *p; p++)
			parts += *p == '.';
		pq_tenc_list_begin(&e, 3, PQ_T_BINARY, (size_t)parts);
		for (char *tok = strtok(path, "."); tok; tok = strtok(NULL, "."))
			pq_tenc_elem_binary(&e, tok, strlen(tok));
		pq_tenc_i32(&e, 4, cols[c].codec);
		pq_tenc_i64(&e, 5, cols[c].num_values);
		pq_tenc_i64(&e, 6, cols[c].len);
		pq_tenc_i64(&e, 7, cols[c].len);
		pq_tenc_i64(&e, 9, cols[c].start);
		pq_tenc_struct_end(&e);
		pq_tenc_struct_end(&e);
	}
	pq_tenc_i64(&e, 2, 1000);
	pq_tenc_i64(&e, 3, rows);
	pq_tenc_struct_end(&e);
	pq_tenc_string(&e, 6, "idbsync test crafter");
	pq_tenc_struct_end(&e);
	CHECK(pq_tenc_finish(&e) == 0);
	ids_buf_append(f, h.data, h.len);
	le32(f, (uint32_t)h.len);
	ids_buf_append(f, "PAR1", 4);
	ids_buf_free(&h);
}

static int no_crc;   /* read with verify_crc off (`parquet cat --no-verify-crc`) */

/* Reads all rows; returns the NDJSON (caller frees) or NULL with err set. */
static char *read_rows(const ids_buf *f, ids_error *err)
{
	pq_reader *r;
	pq_read_options o = PQ_READ_OPTIONS_INIT;
	o.verify_crc = !no_crc;
	if (pq_reader_open_mem(&r, f->data, f->len, "crafted.parquet", &o, err))
		return NULL;
	ids_buf out = IDS_BUF_INIT;
	int rc;
	while ((rc = pq_reader_next_row_json(r, &out, err)) > 0)
		ids_buf_putc(&out, '\n');
	pq_reader_free(r);
	if (rc < 0) {
		ids_buf_free(&out);
		return NULL;
	}
	return ids_buf_steal(&out, NULL);
}

static void expect(const ids_buf *f, const char *want, const char *label)
{
	ids_error err = IDS_ERROR_INIT;
	char *got = read_rows(f, &err);
	CHECK(got && strcmp(got, want) == 0);
	if (!got || strcmp(got, want) != 0)
		fprintf(stderr, "%s:\n  got:  %s\n  want: %s\n", label, got ? got : err.msg, want);
	free(got);
}

static void expect_error(const ids_buf *f, const char *needle, const char *label)
{
	ids_error err = IDS_ERROR_INIT;
	char *got = read_rows(f, &err);
	CHECK(!got && strstr(err.msg, needle));
	if (got || !strstr(err.msg, needle))
		fprintf(stderr, "%s: expected error containing '%s', got: %s\n", label, needle, got ? got : err.msg);
	free(got);
}

/* One column file: a single chunk of the given pages. */
static void one_column(ids_buf *f, const selem *s, int ns, col *c, const page *pages, int np, int64_t rows)
{
	ids_buf_reset(f);
	ids_buf_append(f, "PAR1", 4);
	c->start = (int64_t)f->len;
	for (int i = 0; i < np; i++)
		write_page(f, c->codec, &pages[i]);
	c->len = (int64_t)f->len - c->start;
	write_footer(f, s, ns, c, 1, rows);
}

static void test_int96_crc_lz4(void)
{
	ids_buf f = IDS_BUF_INIT, body = IDS_BUF_INIT;
	selem s[] = {{"schema", -1, 0, 1, -1, 0, 0, 0, 0}, {"ts", PQ_INT96, PQ_REQUIRED, 0, -1, 0, 0, 0, 0}};
	/* day 2440589 = 1970-01-02; 1.5 s; then 123456789 ns on 1969-12-31 */
	uint8_t v[24] = {0};
	uint64_t nod = 1500000000ULL;
	memcpy(v, &nod, 8);
	uint32_t jd = 2440589;
	memcpy(v + 8, &jd, 4);
	nod = 123456789ULL;
	memcpy(v + 12, &nod, 8);
	jd = 2440587;
	memcpy(v + 20, &jd, 4);
	ids_buf_append(&body, v, sizeof v);
	const char *want = "{\"ts\":{\"$date\":\"1970-01-02T00:00:01.500Z\"}}\n"
			   "{\"ts\":{\"$date\":\"1969-12-31T00:00:00.123456789Z\"}}\n";
	const int codecs[] = {PQ_CODEC_UNCOMPRESSED, PQ_CODEC_LZ4, PQ_CODEC_GZIP, PQ_CODEC_BROTLI};
	for (int k = 0; k < 4; k++) {
		col c = {"ts", PQ_INT96, codecs[k], 2, 0, 0, {0}, 1};
		page p = {0, 2, PQ_ENC_PLAIN, PQ_ENC_RLE, PQ_ENC_RLE, body.data, body.len, 1, 0, 0, 0, 0, 0, 0};
		one_column(&f, s, 2, &c, &p, 1, 2);
		expect(&f, want, "int96 with crc");
		p.crc = 2;
		one_column(&f, s, 2, &c, &p, 1, 2);
		expect_error(&f, "CRC mismatch", "bad crc");
		no_crc = 1;
		expect(&f, want, "bad crc, not verified");
		no_crc = 0;
	}
	/* a lying footer row count is reported, not followed */
	col c = {"ts", PQ_INT96, 0, 2, 0, 0, {0}, 1};
	page p = {0, 2, PQ_ENC_PLAIN, PQ_ENC_RLE, PQ_ENC_RLE, body.data, body.len, 0, 0, 0, 0, 0, 0, 0};
	one_column(&f, s, 2, &c, &p, 1, 3);
	expect_error(&f, "fewer values", "too many rows");
	one_column(&f, s, 2, &c, &p, 1, 1);
	expect_error(&f, "more values than the row group", "too few rows");
	ids_buf_free(&f);
	ids_buf_free(&body);
}

static void test_legacy_lists(void)
{
	ids_buf f = IDS_BUF_INIT, body = IDS_BUF_INIT;
	/* optional group tags (LIST) { repeated int32 array; } -- 2-level, converted type only */
	selem s[] = {{"schema", -1, 0, 1, -1, 0, 0, 0, 0}, {"tags", -1, PQ_OPTIONAL, 1, PQ_CT_LIST, 0, 0, 0, 0},
		     {"array", PQ_INT32, PQ_REPEATED, 0, -1, 0, 0, 0, 0}};
	/* rows: [1,2], [], null, [3] */
	int rep[] = {0, 1, 0, 0, 0}, def[] = {2, 2, 1, 0, 2};
	levels_rle(&body, rep, 5, 1);
	levels_bitpacked(&body, def, 5, 2);
	int32_t vals[] = {1, 2, 3};
	ids_buf_append(&body, vals, sizeof vals);
	col c = {"tags.array", PQ_INT32, PQ_CODEC_SNAPPY, 5, 0, 0, {0, 3, 4}, 3};
	page p = {0, 5, PQ_ENC_PLAIN, PQ_ENC_BIT_PACKED, PQ_ENC_RLE, body.data, body.len, 0, 0, 0, 0, 0, 0, 0};
	one_column(&f, s, 3, &c, &p, 1, 4);
	expect(&f, "{\"tags\":[1,2]}\n{\"tags\":[]}\n{\"tags\":null}\n{\"tags\":[3]}\n", "2-level list");

	/* bare repeated field: repeated int64 nums; rows [5,6], [] */
	selem s2[] = {{"schema", -1, 0, 1, -1, 0, 0, 0, 0}, {"nums", PQ_INT64, PQ_REPEATED, 0, -1, 0, 0, 0, 0}};
	int rep2[] = {0, 1, 0}, def2[] = {1, 1, 0};
	ids_buf_reset(&body);
	levels_rle(&body, rep2, 3, 1);
	levels_rle(&body, def2, 3, 1);
	int64_t v2[] = {5, 6};
	ids_buf_append(&body, v2, sizeof v2);
	col c2 = {"nums", PQ_INT64, PQ_CODEC_ZSTD, 3, 0, 0, {0, 3}, 2};
	page p2 = {0, 3, PQ_ENC_PLAIN, PQ_ENC_RLE, PQ_ENC_RLE, body.data, body.len, 0, 0, 0, 0, 0, 0, 0};
	one_column(&f, s2, 2, &c2, &p2, 1, 2);
	expect(&f, "{\"nums\":[5,6]}\n{\"nums\":[]}\n", "bare repeated");

	/* a definition level above the maximum (2) that still fits the bit width */
	int bad_def[] = {2, 3, 1, 0, 2};
	ids_buf_reset(&body);
	levels_rle(&body, rep, 5, 1);
	levels_bitpacked(&body, bad_def, 5, 2);
	ids_buf_append(&body, vals, sizeof vals);
	p.body = body.data;
	p.len = body.len;
	one_column(&f, s, 3, &c, &p, 1, 4);
	expect_error(&f, "definition level 3 at entry 1 exceeds the maximum 2", "def level too high");
	/* rows that start with a non-zero repetition level */
	int bad_rep[] = {1, 1, 0, 0, 0};
	ids_buf_reset(&body);
	levels_rle(&body, bad_rep, 5, 1);
	levels_bitpacked(&body, def, 5, 2);
	ids_buf_append(&body, vals, sizeof vals);
	p.body = body.data;
	p.len = body.len;
	one_column(&f, s, 3, &c, &p, 1, 4);
	expect_error(&f, "repetition level", "bad first rep");
	ids_buf_free(&f);
	ids_buf_free(&body);
}

static void test_v2_delta_dict(void)
{
	ids_buf f = IDS_BUF_INIT, body = IDS_BUF_INIT;
	/* optional binary s (UTF8) as converted type only; V2 page, zstd codec, stored uncompressed */
	selem s[] = {{"schema", -1, 0, 1, -1, 0, 0, 0, 0}, {"s", PQ_BYTE_ARRAY, PQ_OPTIONAL, 0, PQ_CT_UTF8, 0, 0, 0, 0}};
	int def[] = {1, 0, 1};
	ids_buf lv = IDS_BUF_INIT;
	hybrid(&lv, def, 3, 1);
	ids_buf_append(&body, lv.data, lv.len);
	/* DELTA_BYTE_ARRAY "axis", "axle": prefixes 0,2 ; suffixes "axis","le" */
	const uint8_t dba[] = {0x80, 0x01, 0x04, 0x02, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00,
			       0x80, 0x01, 0x04, 0x02, 0x08, 0x03, 0x00, 0x00, 0x00, 0x00,
			       'a', 'x', 'i', 's', 'l', 'e'};
	ids_buf_append(&body, dba, sizeof dba);
	col c = {"s", PQ_BYTE_ARRAY, PQ_CODEC_ZSTD, 3, 0, 0, {7, 3}, 2};
	page p = {3, 3, PQ_ENC_DELTA_BYTE_ARRAY, 0, 0, body.data, body.len, 1, 0, (int)lv.len, 1, 1, 3, 0};
	one_column(&f, s, 2, &c, &p, 1, 3);
	expect(&f, "{\"s\":\"axis\"}\n{\"s\":null}\n{\"s\":\"axle\"}\n", "v2 uncompressed delta_byte_array");
	p.v2_uncompressed = 0;
	one_column(&f, s, 2, &c, &p, 1, 3);
	expect(&f, "{\"s\":\"axis\"}\n{\"s\":null}\n{\"s\":\"axle\"}\n", "v2 compressed delta_byte_array");

	/* dictionary page + RLE_DICTIONARY data page with an out-of-range index */
	ids_buf dict = IDS_BUF_INIT;
	le32(&dict, 2);
	ids_buf_append(&dict, "{}", 2);
	le32(&dict, 3);
	ids_buf_append(&dict, "no}", 3);
	selem sj[] = {{"schema", -1, 0, 1, -1, 0, 0, 0, 0}, {"j", PQ_BYTE_ARRAY, PQ_REQUIRED, 0, -1, 12, 0, 0, 0}};
	int idx[] = {0, 1, 0};
	ids_buf_reset(&body);
	ids_buf_putc(&body, 1);
	hybrid(&body, idx, 3, 1);
	page pages[2] = {{2, 2, PQ_ENC_PLAIN, 0, 0, dict.data, dict.len, 0, 0, 0, 0, 0, 0, 0},
			 {0, 3, PQ_ENC_RLE_DICTIONARY, PQ_ENC_RLE, PQ_ENC_RLE, body.data, body.len, 0, 0, 0, 0, 0, 0, 0}};
	col cj = {"j", PQ_BYTE_ARRAY, PQ_CODEC_SNAPPY, 3, 0, 0, {0, 8}, 2};
	one_column(&f, sj, 2, &cj, pages, 2, 3);
	/* JSON logical type: valid JSON is embedded, invalid becomes a string */
	expect(&f, "{\"j\":{}}\n{\"j\":\"no}\"}\n{\"j\":{}}\n", "json + dictionary");
	int bad_idx[] = {0, 5, 0};
	ids_buf_reset(&body);
	ids_buf_putc(&body, 3);
	hybrid(&body, bad_idx, 3, 3);
	pages[1].body = body.data;
	pages[1].len = body.len;
	one_column(&f, sj, 2, &cj, pages, 2, 3);
	expect_error(&f, "dictionary index 5 out of range (dictionary has 2 entries)", "bad dict index");
	ids_error err = IDS_ERROR_INIT;
	char *got = read_rows(&f, &err);
	CHECK(!got && strstr(err.msg, "crafted.parquet: row group 0, column 'j', page at byte offset"));
	free(got);
	ids_buf_free(&dict);
	ids_buf_free(&lv);
	ids_buf_free(&f);
	ids_buf_free(&body);
}

/* apache/parquet-testing datapage_v2_empty_datapage.snappy.parquet: a V2 page holding one
 * null, whose values section is empty with no snappy frame; other readers return the row. And
 * INT96 outside the nanosecond range of 1677-2262 (Spark writes them for old and far dates). */
static void test_v2_empty_int96_range(void)
{
	ids_buf f = IDS_BUF_INIT, lv = IDS_BUF_INIT;
	selem s[] = {{"schema", -1, 0, 1, -1, 0, 0, 0, 0}, {"x", PQ_FLOAT, PQ_OPTIONAL, 0, -1, 0, 0, 0, 0}};
	int def[] = {0};
	hybrid(&lv, def, 1, 1);
	const int codecs[] = {PQ_CODEC_SNAPPY, PQ_CODEC_ZSTD, PQ_CODEC_GZIP};
	for (int k = 0; k < 3; k++) {
		col c = {"x", PQ_FLOAT, codecs[k], 1, 0, 0, {0}, 1};
		page p = {3, 1, PQ_ENC_PLAIN, 0, 0, lv.data, lv.len, 0, 0, (int)lv.len, 0, 1, 1, 1};
		one_column(&f, s, 2, &c, &p, 1, 1);
		expect(&f, "{\"x\":null}\n", "v2 page of one null, no codec frame");
	}
	selem st[] = {{"schema", -1, 0, 1, -1, 0, 0, 0, 0}, {"ts", PQ_INT96, PQ_REQUIRED, 0, -1, 0, 0, 0, 0}};
	/* 1500-03-01 (JD 2268983) and 3000-01-01 (JD 2816788), each at 12:00:00.000000001 */
	uint8_t v[24];
	uint64_t nod = 43200000000001ULL;
	uint32_t jd[2] = {2268983, 2816788};   /* proleptic Gregorian, as Parquet readers count */
	for (int i = 0; i < 2; i++) {
		memcpy(v + 12 * i, &nod, 8);
		memcpy(v + 12 * i + 8, &jd[i], 4);
	}
	col c = {"ts", PQ_INT96, PQ_CODEC_UNCOMPRESSED, 2, 0, 0, {0}, 1};
	page p = {0, 2, PQ_ENC_PLAIN, PQ_ENC_RLE, PQ_ENC_RLE, v, sizeof v, 0, 0, 0, 0, 0, 0, 0};
	one_column(&f, st, 2, &c, &p, 1, 2);
	expect(&f, "{\"ts\":{\"$date\":\"1500-03-01T12:00:00.000000001Z\"}}\n"
		   "{\"ts\":{\"$date\":\"3000-01-01T12:00:00.000000001Z\"}}\n", "int96 outside the nanosecond range");
	ids_buf_free(&f);
	ids_buf_free(&lv);
}

static void test_converted_map(void)
{
	ids_buf f = IDS_BUF_INIT, b1 = IDS_BUF_INIT, b2 = IDS_BUF_INIT;
	/* required group m (MAP_KEY_VALUE) { repeated group map { required binary key (UTF8);
	 * optional int32 value (DECIMAL(5,2) converted) } } ; rows {"a":1.05,"b":null}, {} */
	selem s[] = {{"schema", -1, 0, 1, -1, 0, 0, 0, 0}, {"m", -1, PQ_REQUIRED, 1, PQ_CT_MAP_KEY_VALUE, 0, 0, 0, 0},
		     {"map", -1, PQ_REPEATED, 2, -1, 0, 0, 0, 0},
		     {"key", PQ_BYTE_ARRAY, PQ_REQUIRED, 0, PQ_CT_UTF8, 0, 0, 0, 0},
		     {"value", PQ_INT32, PQ_OPTIONAL, 0, PQ_CT_DECIMAL, 0, 2, 5, 0}};
	int rep[] = {0, 1, 0}, kdef[] = {1, 1, 0}, vdef[] = {2, 1, 0};
	levels_rle(&b1, rep, 3, 1);
	levels_rle(&b1, kdef, 3, 1);
	le32(&b1, 1);
	ids_buf_putc(&b1, 'a');
	le32(&b1, 1);
	ids_buf_putc(&b1, 'b');
	levels_rle(&b2, rep, 3, 1);
	levels_rle(&b2, vdef, 3, 2);
	int32_t v = 105;
	ids_buf_append(&b2, &v, 4);
	ids_buf_reset(&f);
	ids_buf_append(&f, "PAR1", 4);
	col cols[2] = {{"m.map.key", PQ_BYTE_ARRAY, 0, 3, 0, 0, {0, 3}, 2},
		       {"m.map.value", PQ_INT32, 0, 3, 0, 0, {0, 3}, 2}};
	page p1 = {0, 3, PQ_ENC_PLAIN, PQ_ENC_RLE, PQ_ENC_RLE, b1.data, b1.len, 0, 0, 0, 0, 0, 0, 0};
	page p2 = {0, 3, PQ_ENC_PLAIN, PQ_ENC_RLE, PQ_ENC_RLE, b2.data, b2.len, 0, 0, 0, 0, 0, 0, 0};
	cols[0].start = (int64_t)f.len;
	write_page(&f, 0, &p1);
	cols[0].len = (int64_t)f.len - cols[0].start;
	cols[1].start = (int64_t)f.len;
	write_page(&f, 0, &p2);
	cols[1].len = (int64_t)f.len - cols[1].start;
	write_footer(&f, s, 5, cols, 2, 2);
	expect(&f, "{\"m\":{\"a\":\"1.05\",\"b\":null}}\n{\"m\":{}}\n", "map_key_value + decimal");
	ids_buf_free(&f);
	ids_buf_free(&b1);
	ids_buf_free(&b2);
}

int main(void)
{
	test_int96_crc_lz4();
	test_legacy_lists();
	test_v2_delta_dict();
	test_converted_map();
	test_v2_empty_int96_range();
	pq_codec_thread_cleanup();
	return test_report("test_pq_read_craft");
}
