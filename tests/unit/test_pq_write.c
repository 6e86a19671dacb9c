/* Unit tests of the Parquet writer's encoders: RLE/bit-packed levels (exact bytes and a
 * round trip through an independent decoder), boolean packing, dictionary fallback,
 * statistics (truncation, float zeros, NaN, nan_count) and the column batch API. Files are checked
 * through the reader's footer parser and row API. */
#include "idbsync/pq_read.h"
#include "idbsync/pq_write.h"
#include "parquet/write/pqw.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pq_write_test.h"

/* ---- an independent RLE/bit-packed hybrid decoder ---- */
static size_t rle_decode(const uint8_t *p, size_t n, int bw, uint32_t *out, size_t want)
{
	size_t i = 0, k = 0;
	while (i < n && k < want) {
		uint64_t h = 0;
		int sh = 0;
		while (i < n) {
			h |= (uint64_t)(p[i] & 0x7F) << sh;
			sh += 7;
			if (!(p[i++] & 0x80))
				break;
		}
		if (h & 1) {
			size_t cnt = (size_t)(h >> 1) * 8;
			uint64_t acc = 0;
			int bits = 0;
			for (size_t v = 0; v < cnt; v++) {
				while (bits < bw) {
					acc |= (uint64_t)(i < n ? p[i] : 0) << bits;
					i++;
					bits += 8;
				}
				uint32_t val = (uint32_t)(acc & ((1ULL << bw) - 1));
				acc >>= bw;
				bits -= bw;
				if (k < want)
					out[k++] = val;
			}
		} else {
			size_t cnt = (size_t)(h >> 1);
			uint32_t val = 0;
			for (int b = 0; b < (bw + 7) / 8; b++)
				val |= (uint32_t)p[i++] << (8 * b);
			for (size_t v = 0; v < cnt && k < want; v++)
				out[k++] = val;
		}
	}
	return k;
}

static void test_rle_bytes(void)
{
	ids_buf b = IDS_BUF_INIT;
	int16_t ones[10];
	for (int i = 0; i < 10; i++)
		ones[i] = 1;
	pqw_rle_u16(&b, ones, 10, 1);
	CHECK(b.len == 2 && (uint8_t)b.data[0] == 0x14 && b.data[1] == 1);

	ids_buf_reset(&b);
	int16_t alt[8] = {0, 1, 0, 1, 0, 1, 0, 1};
	pqw_rle_u16(&b, alt, 8, 1);
	CHECK(b.len == 2 && (uint8_t)b.data[0] == 0x03 && (uint8_t)b.data[1] == 0xAA);

	/* three literals, then a run of 10 that first tops the literal group up to 8 */
	ids_buf_reset(&b);
	int16_t mix[13] = {1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
	pqw_rle_u16(&b, mix, 13, 1);
	CHECK(b.len == 3 && (uint8_t)b.data[0] == 0x05 && (uint8_t)b.data[1] == 0x07 &&
	      b.data[2] == 0);

	/* a literal group then a run of 40 (80 bits): the run stays RLE */
	ids_buf_reset(&b);
	int16_t lr[48] = {2, 1, 2, 1, 2, 1, 2, 1};
	for (int i = 8; i < 48; i++)
		lr[i] = 3;
	pqw_rle_u16(&b, lr, 48, 2);
	CHECK(b.len == 1 + 2 + 2 && (uint8_t)b.data[0] == 0x03 && (uint8_t)b.data[3] == 80 &&
	      b.data[4] == 3);

	/* between literals a run shorter than 64 bits is bit-packed with them */
	ids_buf_reset(&b);
	int16_t sp[32] = {1, 0, 1};
	sp[31] = 1;
	pqw_rle_u16(&b, sp, 32, 1);
	CHECK(b.len == 1 + 4 && (uint8_t)b.data[0] == 0x09 && (uint8_t)b.data[1] == 0x05 &&
	      !b.data[2] && !b.data[3] && (uint8_t)b.data[4] == 0x80);

	ids_buf_reset(&b);
	uint8_t bools[10] = {1, 0, 1, 1, 0, 0, 0, 1, 1, 0};
	pqw_pack_bools(&b, bools, 10);
	CHECK(b.len == 2 && (uint8_t)b.data[0] == 0x8D && (uint8_t)b.data[1] == 0x01);
	ids_buf_free(&b);
}

static void test_rle_roundtrip(void)
{
	uint32_t seed = 7;
	for (int bw = 1; bw <= 20; bw++) {
		for (int trial = 0; trial < 20; trial++) {
			size_t n = (size_t)(seed % 3000) + 1;
			uint32_t *v = malloc(n * sizeof *v), *back = calloc(n, sizeof *back);
			uint32_t mask = (uint32_t)((1ULL << bw) - 1);
			for (size_t i = 0; i < n;) {
				seed = seed * 1103515245 + 12345;
				size_t run = (seed >> 8) % 4 == 0 ? (seed >> 12) % 40 + 1 : 1;
				seed = seed * 1103515245 + 12345;
				uint32_t x = (seed >> 4) & mask;
				for (size_t r = 0; r < run && i < n; r++)
					v[i++] = x;
			}
			ids_buf b = IDS_BUF_INIT;
			pqw_rle_u32(&b, v, n, bw);
			size_t got = rle_decode((const uint8_t *)b.data, b.len, bw, back, n);
			CHECK(got == n && !memcmp(v, back, n * sizeof *v));
			ids_buf_free(&b);
			free(v);
			free(back);
		}
	}
}

/* ---- helpers over the reader ---- */
static char *read_rows(const char *path, const pq_file_meta **meta_out, pq_reader **rd)
{
	ids_error err = IDS_ERROR_INIT;
	if (pq_reader_open(rd, path, NULL, &err)) {
		TEST_FAIL("reader: %s", err.msg);
		return NULL;
	}
	*meta_out = pq_reader_meta(*rd);
	return rows_ndjson(*rd);
}

static int has_enc(const pq_chunk_meta *c, pq_encoding e)
{
	for (size_t i = 0; i < c->n_encodings; i++)
		if (c->encodings[i] == e)
			return 1;
	return 0;
}

static pq_node *one_col(pq_type t, pq_logical_kind lk)
{
	pq_node *root = pq_node_new_group("schema", PQ_REQUIRED);
	pq_node *c = pq_node_new_leaf("v", t, PQ_OPTIONAL);
	c->logical.kind = lk;
	pq_node_add(root, c);
	return root;
}

/* Renumbering keeps every value findable under its new index, for both entry layouts. */
static void test_dict_reorder(void)
{
	pqw_dict *d = pqw_dict_new(PQ_BYTE_ARRAY, 0);
	CHECK(d && pqw_dict_put(d, "a", 1) == 0 && pqw_dict_put(d, "bb", 2) == 1 &&
	      pqw_dict_put(d, "ccc", 3) == 2);
	const uint32_t order[3] = {2, 0, 1};
	CHECK(d && pqw_dict_reorder(d, order) == 0);
	CHECK(d && pqw_dict_put(d, "ccc", 3) == 0 && pqw_dict_put(d, "a", 1) == 1 &&
	      pqw_dict_put(d, "bb", 2) == 2 && pqw_dict_put(d, "d", 1) == 3);
	const ids_buf *pl = d ? pqw_dict_plain(d) : NULL;
	CHECK(pl && pl->len == 4 * 4 + 7 && !memcmp(pl->data, "\3\0\0\0ccc\1\0\0\0a\2\0\0\0bb", 15) &&
	      pqw_dict_offset(d, 2) == 12 && pqw_dict_offset(d, 3) == 18);
	pqw_dict_free(d);
	d = pqw_dict_new(PQ_INT64, 8);
	for (int64_t v = 0; d && v < 5; v++)
		CHECK(pqw_dict_put(d, &v, 8) == v);
	const uint32_t rev[5] = {4, 3, 2, 1, 0};
	CHECK(d && pqw_dict_reorder(d, rev) == 0);
	for (int64_t v = 0; d && v < 5; v++) {
		int64_t at;
		memcpy(&at, pqw_dict_plain(d)->data + (4 - v) * 8, 8);
		CHECK(pqw_dict_put(d, &v, 8) == 4 - v && at == v);
	}
	pqw_dict_free(d);
}

/* Writes n one-column rows {"v": row(i)} to path with o; expect (if not NULL) gets them as
 * NDJSON, the text read_rows gives back. */
static void write_strings(const char *path, const pq_node *s, const pq_write_options *o, int n,
			  int (*row)(char *, size_t, int), ids_buf *expect)
{
	ids_error err = IDS_ERROR_INIT;
	pq_writer *w;
	CHECK(pq_writer_new(&w, path, s, o, &err) == 0);
	char buf[64];
	for (int i = 0; w && i < n; i++) {
		int len = row(buf, sizeof buf, i);
		CHECK(pq_writer_write_json(w, buf, (size_t)len, NULL, &err) == 0);
		if (expect) {
			ids_buf_append(expect, buf, (size_t)len);
			ids_buf_putc(expect, '\n');
		}
	}
	CHECK(w && pq_writer_close(w, &err) == 0);
	pq_writer_free(w);
}

/* Writes n rows {"v": row(i)} to path with o, reads them back (they must equal what was
 * written) and returns the one row group's chunk, or NULL (a failed check) when the file has
 * another number of row groups; *rd is the reader to free. */
static const pq_chunk_meta *write_one_chunk(const char *path, const pq_node *s, const pq_write_options *o,
					    int n, int (*row)(char *, size_t, int), pq_reader **rd)
{
	ids_buf expect = IDS_BUF_INIT;
	write_strings(path, s, o, n, row, &expect);
	const pq_file_meta *m = NULL;
	*rd = NULL;
	char *got = read_rows(path, &m, rd);
	CHECK(got && !strcmp(got, expect.data));
	free(got);
	ids_buf_free(&expect);
	if (!m || m->n_row_groups != 1) {
		CHECK(!"one row group");
		return NULL;
	}
	return &m->row_groups[0].chunks[0];
}

/* 300 rows cycling over 20 values (dictionary pays), then unique values (it overflows) */
static int cycle_then_unique(char *b, size_t n, int i)
{
	return i < 300 ? snprintf(b, n, "{\"v\":\"value-%d\"}", i % 20) : snprintf(b, n, "{\"v\":\"unique-%d\"}", i);
}

static int unique(char *b, size_t n, int i) { return snprintf(b, n, "{\"v\":\"u%d\"}", i); }

static int cycle150(char *b, size_t n, int i) { return snprintf(b, n, "{\"v\":\"value-%d\"}", i % 150); }

static void test_dict_fallback(void)
{
	pq_node *s = one_col(PQ_BYTE_ARRAY, PQ_LT_STRING);
	pq_write_options o = PQ_WRITE_OPTIONS_INIT;
	o.dict_max_bytes = 2000;
	o.page_bytes = 64;
	o.codec = PQ_CODEC_UNCOMPRESSED;
	const char *path = tmp_path("fallback.parquet");
	pq_reader *rd;
	const pq_chunk_meta *c = write_one_chunk(path, s, &o, 600, cycle_then_unique, &rd);
	if (c) {
		CHECK(has_enc(c, PQ_ENC_PLAIN_DICTIONARY));
		CHECK(has_enc(c, PQ_ENC_PLAIN));
		CHECK(c->dictionary_page_offset == 4);
	}
	pq_reader_free(rd);

	/* unique from the start: the dictionary never pays and is dropped entirely */
	c = write_one_chunk(path, s, &o, 200, unique, &rd);
	if (c) {
		CHECK(!has_enc(c, PQ_ENC_PLAIN_DICTIONARY) && has_enc(c, PQ_ENC_PLAIN));
		CHECK(c->dictionary_page_offset < 0);
	}
	pq_reader_free(rd);
	pq_node_free(s);
	unlink(path);
}

/* dict_probe: a first page of at least twice the probe is judged on its first values only.
 * 2,000 values cycling over 150: judged on the whole page the dictionary pays; on a probe of
 * 100 (all distinct) it does not. The rows read back the same either way. */
static void test_dict_probe(void)
{
	pq_node *s = one_col(PQ_BYTE_ARRAY, PQ_LT_STRING);
	const char *path = tmp_path("probe.parquet");
	for (int probe = 0; probe <= 100; probe += 100) {
		pq_write_options o = PQ_WRITE_OPTIONS_INIT;
		o.dict_probe = (size_t)probe;
		pq_reader *rd;
		const pq_chunk_meta *c = write_one_chunk(path, s, &o, 2000, cycle150, &rd);
		if (c)
			CHECK(probe ? c->dictionary_page_offset < 0 : c->dictionary_page_offset == 4);
		pq_reader_free(rd);
	}
	pq_node_free(s);
	unlink(path);
}

static void test_string_stats(void)
{
	ids_error err = IDS_ERROR_INIT;
	pq_node *s = one_col(PQ_BYTE_ARRAY, PQ_LT_STRING);
	const char *path = tmp_path("stats.parquet");
	char a100[101], c100[101], row[400];
	memset(a100, 'a', 100);
	memset(c100, 'c', 100);
	a100[100] = c100[100] = 0;
	for (int variant = 0; variant < 2; variant++) {
		pq_writer *w;
		CHECK(pq_writer_new(&w, path, s, NULL, &err) == 0);
		int n = snprintf(row, sizeof row, "{\"v\":\"%s\"}", a100);
		CHECK(pq_writer_write_json(w, row, (size_t)n, NULL, &err) == 0);
		if (variant == 0) {
			n = snprintf(row, sizeof row, "{\"v\":\"%s\"}", c100);
		} else {
			/* max is 50 x U+00E9 (100 bytes, none of them ASCII): no valid bound */
			n = snprintf(row, sizeof row, "{\"v\":\"");
			for (int i = 0; i < 50; i++)
				n += snprintf(row + n, sizeof row - (size_t)n, "\xc3\xa9");
			n += snprintf(row + n, sizeof row - (size_t)n, "\"}");
		}
		CHECK(pq_writer_write_json(w, row, (size_t)n, NULL, &err) == 0);
		CHECK(pq_writer_write_json(w, "{}", 2, NULL, &err) == 0);
		CHECK(pq_writer_close(w, &err) == 0);
		pq_writer_free(w);
		const pq_file_meta *m;
		pq_reader *rd;
		free(read_rows(path, &m, &rd));
		const pq_stats *st = &m->row_groups[0].chunks[0].stats;
		CHECK(st->null_count == 1);
		CHECK(st->has_min && st->min_len == 64 && !memcmp(st->min, a100, 64));
		if (variant == 0)
			CHECK(st->has_max && st->max_len == 64 && !memcmp(st->max, c100, 63) &&
			      st->max[63] == 'd');
		else
			CHECK(!st->has_max);
		pq_reader_free(rd);
	}
	pq_node_free(s);
	unlink(path);
}

static double stat_double(const uint8_t *p)
{
	double d;
	memcpy(&d, p, 8);
	return d;
}

static void test_float_stats(void)
{
	ids_error err = IDS_ERROR_INIT;
	pq_node *s = one_col(PQ_DOUBLE, PQ_LT_NONE);
	const char *path = tmp_path("fstats.parquet");
	const char *cases[][3] = {
		{"{\"v\":0}", "{\"v\":{\"$num\":\"-0\"}}", "{\"v\":1.5}"},
		{"{\"v\":-1}", "{\"v\":0.0}", "{\"v\":{\"$num\":\"NaN\"}}"},
		{"{\"v\":{\"$num\":\"NaN\"}}", "{\"v\":null}", "{\"v\":{\"$num\":\"NaN\"}}"},
	};
	for (int k = 0; k < 3; k++) {
		pq_writer *w;
		CHECK(pq_writer_new(&w, path, s, NULL, &err) == 0);
		for (int i = 0; i < 3; i++)
			CHECK(pq_writer_write_json(w, cases[k][i], strlen(cases[k][i]), NULL, &err) == 0);
		CHECK(pq_writer_close(w, &err) == 0);
		pq_writer_free(w);
		const pq_file_meta *m;
		pq_reader *rd;
		free(read_rows(path, &m, &rd));
		const pq_stats *st = &m->row_groups[0].chunks[0].stats;
		CHECK(st->nan_count == k);   /* 0, 1 and 2 NaNs: written even when 0 */
		if (k == 0) {
			CHECK(st->has_min && signbit(stat_double(st->min)) && stat_double(st->min) == 0);
			CHECK(st->has_max && stat_double(st->max) == 1.5);
		} else if (k == 1) {
			CHECK(st->has_min && stat_double(st->min) == -1);
			CHECK(st->has_max && stat_double(st->max) == 0 && !signbit(stat_double(st->max)));
		} else {
			CHECK(!st->has_min && !st->has_max && st->null_count == 1);
		}
		pq_reader_free(rd);
	}
	pq_node_free(s);
	unlink(path);
}

/* 900 doubles, every 7th a NaN, in pages of 64 values: 0 cycling over 10 values (the chunk
 * stays dictionary-encoded), 1 all distinct, dictionary off (PLAIN), 2 cycling for 300 rows then distinct (a
 * dictionary, then PLAIN after the fallback). nan_count counts every NaN once whichever way
 * its page was encoded: a dictionary's NaN entry is not counted, the pages using it are. */
static int nan_row(char *b, size_t n, int i, int mode)
{
	if (i % 7 == 3)
		return snprintf(b, n, "{\"v\":{\"$num\":\"NaN\"}}");
	int distinct = mode == 1 || (mode == 2 && i >= 300);
	return snprintf(b, n, "{\"v\":%d.5}", distinct ? i : i % 10);
}
static int nan_row0(char *b, size_t n, int i) { return nan_row(b, n, i, 0); }
static int nan_row1(char *b, size_t n, int i) { return nan_row(b, n, i, 1); }
static int nan_row2(char *b, size_t n, int i) { return nan_row(b, n, i, 2); }

static void test_nan_count(void)
{
	pq_node *s = one_col(PQ_DOUBLE, PQ_LT_NONE);
	const char *path = tmp_path("nans.parquet");
	int (*rows[3])(char *, size_t, int) = {nan_row0, nan_row1, nan_row2};
	for (int mode = 0; mode < 3; mode++) {
		pq_write_options o = PQ_WRITE_OPTIONS_INIT;
		o.page_bytes = 64 * 8;
		o.dict_max_bytes = 1000;
		o.dictionary = mode == 1 ? 0 : -1;
		o.codec = PQ_CODEC_UNCOMPRESSED;
		pq_reader *rd;
		const pq_chunk_meta *c = write_one_chunk(path, s, &o, 900, rows[mode], &rd);
		if (c) {
			CHECK(c->stats.nan_count == (900 + 3) / 7);
			CHECK(has_enc(c, PQ_ENC_PLAIN_DICTIONARY) == (mode != 1));
			CHECK(has_enc(c, PQ_ENC_PLAIN) == (mode != 0));
			CHECK(c->stats.has_min && stat_double(c->stats.min) == 0.5);
			CHECK(c->stats.has_max && stat_double(c->stats.max) == (mode ? 898.5 : 9.5));   /* 899: NaN */
		}
		pq_reader_free(rd);
	}
	pq_node_free(s);
	unlink(path);
}

/* list<int32> written through the batch API: [[1,2],[],null,[3,null]] */
static void test_batch_api(void)
{
	ids_error err = IDS_ERROR_INIT;
	pq_node *root = pq_node_new_group("schema", PQ_REQUIRED);
	pq_node *l = pq_node_new_group("xs", PQ_OPTIONAL);
	l->logical.kind = PQ_LT_LIST;
	l->converted = PQ_CT_LIST;
	pq_node *g = pq_node_new_group("list", PQ_REPEATED);
	pq_node_add(g, pq_node_new_leaf("element", PQ_INT32, PQ_OPTIONAL));
	pq_node_add(l, g);
	pq_node_add(root, l);
	pq_node *id = pq_node_new_leaf("id", PQ_INT64, PQ_REQUIRED);
	pq_node_add(root, id);
	const char *path = tmp_path("batch.parquet");
	pq_writer *w;
	CHECK(pq_writer_new(&w, path, root, NULL, &err) == 0);
	CHECK(pq_writer_num_columns(w) == 2);
	int md, mr;
	pq_writer_column(w, 0, &md, &mr);
	CHECK(md == 3 && mr == 1);
	int16_t def[] = {3, 3, 1, 0, 3, 2}, rep[] = {0, 1, 0, 0, 0, 1};
	int32_t vals[] = {1, 2, 3};
	pq_column_batch b = {6, def, rep, vals, 3};
	CHECK(pq_writer_write_column(w, 0, &b, &err) == 0);
	int64_t ids[] = {10, 20, 30, 40};
	pq_column_batch bi = {4, NULL, NULL, ids, 4};
	CHECK(pq_writer_write_column(w, 1, &bi, &err) == 0);
	CHECK(pq_writer_end_rows(w, 5, &err) == IDS_EINVAL);   /* 4 rows were written */
	CHECK(pq_writer_end_rows(w, 4, &err) == 0);
	/* bad levels are refused */
	int16_t bad_def[] = {4}, bad_rep[] = {0};
	pq_column_batch bb = {1, bad_def, bad_rep, vals, 1};
	CHECK(pq_writer_write_column(w, 0, &bb, &err) == IDS_EINVAL);
	int16_t inc_def[] = {3, 0}, inc_rep[] = {0, 1};   /* rep 1 needs def >= 2 */
	pq_column_batch bc = {2, inc_def, inc_rep, vals, 1};
	CHECK(pq_writer_write_column(w, 0, &bc, &err) == IDS_EINVAL);
	CHECK(pq_writer_close(w, &err) == 0);
	pq_writer_free(w);
	const pq_file_meta *m;
	pq_reader *rd;
	char *got = read_rows(path, &m, &rd);
	const char *want = "{\"xs\":[1,2],\"id\":10}\n{\"xs\":[],\"id\":20}\n"
			   "{\"xs\":null,\"id\":30}\n{\"xs\":[3,null],\"id\":40}\n";
	CHECK(got && !strcmp(got, want));
	if (got && strcmp(got, want))
		fprintf(stderr, "got:\n%s", got);
	free(got);
	pq_reader_free(rd);
	pq_node_free(root);
	unlink(path);
}

/* Writes NDJSON with schema root to path and opens the file (NULL, with the failure
 * counted, when either fails). */
static pq_reader *write_ndjson_open(const pq_node *root, const ids_buf *in, const char *path)
{
	ids_error err = IDS_ERROR_INIT;
	pq_writer *w = NULL;
	pq_reader *r = NULL;
	CHECK(pq_writer_new(&w, path, root, NULL, &err) == 0);
	CHECK(w && pq_writer_write_ndjson(w, in->data, in->len, "in", &err) == 0);
	CHECK(w && pq_writer_close(w, &err) == 0);
	pq_writer_free(w);
	CHECK(pq_reader_open(&r, path, NULL, &err) == 0);
	return r;
}

/* Numbers from NDJSON: the shredder's plain-number path (pqj_number_plain) gives what the
 * lexer gives. Doubles are the correctly rounded value of their text (strtod's) except an
 * integer literal, which is its integer's value ("-0" is +0.0); integer columns take up to
 * 19 digits and integral exponent forms. Random short decimals check the exact division. */
static void test_numbers(void)
{
	static const char *dtext[] = {"0", "-0", "-0.0", "0.1", "-123.456", "1.5e2", "1E-3",
				      "9007199254740993", "9007199254740992.5", "123456789012345678",
				      "1234567890123456789.5", "0.30000000000000004", "5e-324", "7"};
	static const char *itext[] = {"0", "-7", "123456789012345678", "1234567890123456789",
				      "-9223372036854775808", "9223372036854775807", "1e3", "25.0"};
	static const int64_t iwant[] = {0, -7, 123456789012345678LL, 1234567890123456789LL,
					INT64_MIN, INT64_MAX, 1000, 25};
	const size_t nd = sizeof dtext / sizeof *dtext, ni = sizeof itext / sizeof *itext;
	const size_t nrand = 20000;
	ids_buf in = IDS_BUF_INIT;
	char (*rtext)[40] = malloc(nrand * sizeof *rtext);
	uint64_t seed = 42;
	for (size_t i = 0; i < nd + nrand; i++) {
		const char *d = i < nd ? dtext[i] : rtext[i - nd];
		if (i >= nd) {   /* up to 16 digits, 0-12 of them after the point */
			seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
			uint64_t m = (seed >> 11) % 10000000000000000ULL;
			int f = (int)((seed >> 3) % 13);
			int n = snprintf(rtext[i - nd], 40, "%s%llu", seed & 4 ? "-" : "",
					 (unsigned long long)m);
			if (f && n - (seed & 4 ? 1 : 0) > f) {   /* put the point f digits from the end */
				char *t = rtext[i - nd];
				memmove(t + n - f + 1, t + n - f, (size_t)f + 1);
				t[n - f] = '.';
			}
		}
		ids_buf_printf(&in, "{\"d\":%s,\"i\":%s}\n", d, i < ni ? itext[i] : "1");
	}
	pq_node *root = pq_node_new_group("schema", PQ_REQUIRED);
	pq_node_add(root, pq_node_new_leaf("d", PQ_DOUBLE, PQ_REQUIRED));
	pq_node_add(root, pq_node_new_leaf("i", PQ_INT64, PQ_REQUIRED));
	ids_error err = IDS_ERROR_INIT;
	const char *path = tmp_path("numbers.parquet");
	pq_reader *r = write_ndjson_open(root, &in, path);
	pq_read_batch b;
	CHECK(r && pq_reader_read_column(r, 0, 0, &b, &err) == 0 && b.n_values == nd + nrand);
	for (size_t i = 0; r && i < b.n_values; i++) {
		const char *t = i < nd ? dtext[i] : rtext[i - nd];
		double got = ((const double *)b.values)[i], want = strtod(t, NULL);
		if (!strpbrk(t, ".eE"))
			want = (double)strtoll(t, NULL, 10);   /* an integer literal: "-0" is +0.0 */
		if (memcmp(&got, &want, 8))
			fprintf(stderr, "number %s read back as %.17g, want %.17g\n", t, got, want);
		CHECK(!memcmp(&got, &want, 8));
	}
	CHECK(r && pq_reader_read_column(r, 0, 1, &b, &err) == 0 && b.n_values == nd + nrand);
	for (size_t i = 0; r && i < ni; i++)
		CHECK_EQ_INT(((const int64_t *)b.values)[i], iwant[i]);
	pq_reader_free(r);
	pq_node_free(root);
	free(rtext);
	ids_buf_free(&in);
	unlink(path);
}

/* Strings from NDJSON: the inline plain-ASCII scan (pqj_string) hands an escape, a UTF-8
 * sequence or the row's last bytes to the full scan at any position, and errors keep their
 * columns. Every length 0-24 with the special text at every position, read back. */
static void test_strings(void)
{
	static const char *spec[][2] = {{"\\n", "\n"}, {"\xc3\xa9", "\xc3\xa9"}, {"\\u00e9", "\xc3\xa9"},
					{"\\\"", "\""}, {"a", "a"}};
	ids_buf in = IDS_BUF_INIT, want = IDS_BUF_INIT;
	size_t nwant = 0;
	for (size_t sp = 0; sp < 5; sp++)
		for (size_t len = 0; len <= 24; len++)
			for (size_t k = 0; k <= len; k++) {
				ids_buf_puts(&in, "{\"s\":\"");
				for (size_t i = 0; i < len; i++) {
					ids_buf_puts(&in, i == k ? spec[sp][0] : "x");
					ids_buf_puts(&want, i == k ? spec[sp][1] : "x");
				}
				/* a short row's string ends within 8 bytes of the text's end */
				ids_buf_puts(&in, len % 2 ? "\"}\n" : "\",\"t\":\"0123456789abcdef\"}\n");
				ids_buf_putc(&want, '|');
				nwant++;
			}
	pq_node *root = pq_node_new_group("schema", PQ_REQUIRED);
	pq_node *sn = pq_node_new_leaf("s", PQ_BYTE_ARRAY, PQ_REQUIRED);
	sn->logical.kind = PQ_LT_STRING;
	pq_node_add(root, sn);
	pq_node *tn = pq_node_new_leaf("t", PQ_BYTE_ARRAY, PQ_OPTIONAL);
	tn->logical.kind = PQ_LT_STRING;
	pq_node_add(root, tn);
	ids_error err = IDS_ERROR_INIT;
	const char *path = tmp_path("strings.parquet");
	pq_writer *w = NULL;
	pq_reader *r = write_ndjson_open(root, &in, path);
	pq_read_batch b;
	ids_buf got = IDS_BUF_INIT;
	CHECK(r && pq_reader_read_column(r, 0, 0, &b, &err) == 0 && b.n_values == nwant);
	for (size_t i = 0; r && i < b.n_values; i++) {
		const pq_rbytes *v = &((const pq_rbytes *)b.values)[i];
		ids_buf_append(&got, v->ptr, v->len);
		ids_buf_putc(&got, '|');
	}
	CHECK(got.len == want.len && !memcmp(got.data, want.data, want.len));
	pq_reader_free(r);
	unlink(path);
	/* a raw control character past the first word, and one in a row's last bytes */
	const char *bad[] = {"{\"s\":\"aaaaaaaaa\x01\"}\n", "{\"s\":\"a\x01\"}\n"};
	const char *col[] = {"in:1:16:", "in:1:8:"};
	for (int i = 0; i < 2; i++) {
		CHECK(pq_writer_new(&w, path, root, NULL, &err) == 0);
		CHECK(w && pq_writer_write_ndjson(w, bad[i], strlen(bad[i]), "in", &err) == IDS_EINVAL);
		CHECK_HAS(err.msg, col[i]);
		CHECK_HAS(err.msg, "control character");
		pq_writer_free(w);
	}
	pq_node_free(root);
	ids_buf_free(&in);
	ids_buf_free(&want);
	ids_buf_free(&got);
}

int main(void)
{
	if (test_mkdtemp(tmpdir, sizeof tmpdir, "test_pq_write"))
		return 1;
	test_rle_bytes();
	test_rle_roundtrip();
	test_dict_reorder();
	test_dict_fallback();
	test_dict_probe();
	test_string_stats();
	test_float_stats();
	test_nan_count();
	test_batch_api();
	test_numbers();
	test_strings();
	rmdir(tmpdir);
	return test_report("test_pq_write");
}
