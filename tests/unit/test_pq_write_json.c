/* Unit tests of the JSON side of the writer: schema inference and its widening rules,
 * schema files, NDJSON error positions (file:line:col), conversions (dates, decimals,
 * UUIDs, binary, maps, lists of structs) read back through the reader, and the promise
 * that a failed write leaves nothing on disk. */
#include "idbsync/pq_read.h"
#include "idbsync/pq_write.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pq_write_test.h"

static void test_infer(void)
{
	ids_error err = IDS_ERROR_INIT;
	const char *in =
		"{\"i\":1,\"d\":1.5,\"w\":1,\"b\":true,\"s\":\"x\",\"ts\":{\"$date\":\"2024-01-01T00:00:00.000Z\"},"
		"\"bin\":{\"$bin\":\"AAE=\"},\"o\":{\"a\":1},\"l\":[1,2],\"mix\":\"a\",\"ob\":{\"x\":1},"
		"\"n\":null,\"e\":{},\"el\":[],\"big\":1}\n"
		"\n"
		"{\"w\":2.5,\"o\":{\"b\":\"y\"},\"l\":[3.5],\"mix\":2,\"ob\":3,\"new\":[{\"k\":true}],"
		"\"big\":18446744073709551616,\"nan\":{\"$num\":\"NaN\"}}\n";
	pq_node *s = infer(in, PQ_PROFILE_COMPAT, &err);
	CHECK(s != NULL);
	if (!s) {
		fprintf(stderr, "infer: %s\n", err.msg);
		return;
	}
	const char *order[] = {"i", "d", "w", "b", "s", "ts", "bin", "o", "l", "mix", "ob", "n",
			       "e", "el", "big", "new", "nan"};
	CHECK(s->n_children == 17);
	for (size_t i = 0; i < 17 && i < s->n_children; i++)
		CHECK(!strcmp(s->children[i]->name, order[i]));
	CHECK(child(s, "i")->type == PQ_INT64);
	CHECK(child(s, "d")->type == PQ_DOUBLE);
	CHECK(child(s, "w")->type == PQ_DOUBLE);        /* int then double */
	CHECK(child(s, "b")->type == PQ_BOOLEAN);
	CHECK(is_string(child(s, "s")));
	CHECK(child(s, "ts")->type == PQ_INT96);        /* compat */
	CHECK(child(s, "bin")->type == PQ_BYTE_ARRAY && child(s, "bin")->logical.kind == PQ_LT_NONE);
	const pq_node *o = child(s, "o");
	CHECK(o->type == PQ_GROUP && o->n_children == 2 && child(o, "a")->type == PQ_INT64 &&
	      is_string(child(o, "b")));
	const pq_node *l = child(s, "l");
	CHECK(l->type == PQ_GROUP && l->logical.kind == PQ_LT_LIST && l->converted == PQ_CT_LIST);
	CHECK(l->n_children == 1 && l->children[0]->repetition == PQ_REPEATED &&
	      !strcmp(l->children[0]->name, "list"));
	CHECK(l->children[0]->children[0]->type == PQ_DOUBLE &&
	      !strcmp(l->children[0]->children[0]->name, "element"));
	CHECK(is_string(child(s, "mix")));              /* string vs number */
	CHECK(is_string(child(s, "ob")));               /* object vs scalar */
	CHECK(is_string(child(s, "n")));                /* only null */
	CHECK(is_string(child(s, "e")));                /* empty object */
	CHECK(is_string(child(s, "el")->children[0]->children[0]));   /* only empty lists */
	CHECK(child(s, "big")->type == PQ_DOUBLE);      /* beyond int64 */
	const pq_node *nw = child(s, "new")->children[0]->children[0];
	CHECK(nw->type == PQ_GROUP && child(nw, "k")->type == PQ_BOOLEAN);
	CHECK(child(s, "nan")->type == PQ_DOUBLE);
	pq_node_free(s);

	/* modern timestamps: micros, or nanos when some value needs them */
	s = infer("{\"t\":{\"$date\":\"2024-01-01T00:00:00.123456Z\"}}\n", PQ_PROFILE_MODERN, &err);
	CHECK(s && child(s, "t")->type == PQ_INT64 && child(s, "t")->logical.kind == PQ_LT_TIMESTAMP &&
	      child(s, "t")->logical.unit == PQ_MICROS && child(s, "t")->logical.utc &&
	      child(s, "t")->converted == PQ_CT_TIMESTAMP_MICROS);
	pq_node_free(s);
	s = infer("{\"t\":{\"$date\":\"2024-01-01T00:00:00.123Z\"}}\n"
		  "{\"t\":{\"$date\":\"2024-01-01T00:00:00.123456789Z\"}}\n", PQ_PROFILE_MODERN, &err);
	CHECK(s && child(s, "t")->logical.unit == PQ_NANOS);
	pq_node_free(s);
	/* timestamp vs string widens */
	s = infer("{\"t\":{\"$date\":\"2024-01-01T00:00:00Z\"}}\n{\"t\":\"x\"}\n", PQ_PROFILE_MODERN,
		  &err);
	CHECK(s && is_string(child(s, "t")));
	pq_node_free(s);
	/* past 16 levels values are kept as JSON text, even when a scalar came first */
	ids_buf deep = IDS_BUF_INIT;
	ids_buf_puts(&deep, "{\"d\":");
	for (int i = 0; i < 20; i++)
		ids_buf_puts(&deep, "{\"a\":");
	ids_buf_puts(&deep, "1");
	for (int i = 0; i < 21; i++)
		ids_buf_puts(&deep, "}");
	ids_buf_puts(&deep, "\n");
	s = infer(deep.data, PQ_PROFILE_MODERN, &err);
	const pq_node *d = s ? child(s, "d") : NULL;
	int levels = 0;
	while (d && d->type == PQ_GROUP) {
		d = child(d, "a");
		levels++;
	}
	CHECK(levels == 15 && is_string(d));
	pq_writer *w = NULL;
	CHECK(s && pq_writer_new(&w, tmp_path("deep.parquet"), s, NULL, &err) == 0);
	CHECK(w && pq_writer_write_ndjson(w, deep.data, deep.len, "in", &err) == 0);
	CHECK(w && pq_writer_close(w, &err) == 0);
	pq_writer_free(w);
	unlink(tmp_path("deep.parquet"));
	ids_buf_free(&deep);
	pq_node_free(s);
	s = infer("\n  \n", PQ_PROFILE_MODERN, &err);
	CHECK(!s && err.code == IDS_EINVAL);
}

/* ISO-8601 strings: DATE and TIMESTAMP columns that give back the same day and instant,
 * STRING when any value is not one, or without a zone, or with the option off. */
static void test_text_times(void)
{
	ids_error err = IDS_ERROR_INIT;
	const char *in =
		"{\"d\":\"2024-02-29\",\"t\":\"2024-05-28T00:22:11.954Z\",\"o\":\"2024-05-28 02:22:11.123456789+02:00\","
		"\"l\":\"2024-05-28T00:22:11\",\"m\":\"2024-05-28\",\"x\":\"2024-05-28T00:22:11Z\",\"c\":\"2024-05-28T01:22:11+0100\"}\n"
		"{\"d\":null,\"t\":\"1969-12-31T23:59:59.999999Z\",\"o\":null,\"l\":null,"
		"\"m\":\"2024-05-28T00:22:11Z\",\"x\":\"soon\"}\n";
	for (int profile = 0; profile < 2; profile++) {
		pq_profile p = profile ? PQ_PROFILE_MODERN : PQ_PROFILE_COMPAT;
		pq_node *s = infer(in, p, &err);
		CHECK(s != NULL);
		if (!s)
			return;
		const pq_node *d = child(s, "d"), *t = child(s, "t"), *o = child(s, "o");
		CHECK(d->type == PQ_INT32 && d->logical.kind == PQ_LT_DATE && d->converted == PQ_CT_DATE);
		if (p == PQ_PROFILE_COMPAT) {
			CHECK(t->type == PQ_INT96 && o->type == PQ_INT96);
		} else {
			CHECK(t->type == PQ_INT64 && t->logical.kind == PQ_LT_TIMESTAMP && t->logical.utc &&
			      t->logical.unit == PQ_MICROS);
			CHECK(o->logical.unit == PQ_NANOS);   /* every digit kept */
		}
		CHECK(child(s, "c")->type == (p == PQ_PROFILE_COMPAT ? PQ_INT96 : PQ_INT64));
		CHECK(is_string(child(s, "l")));   /* no zone: no instant */
		CHECK(is_string(child(s, "m")));   /* a date and an instant */
		CHECK(is_string(child(s, "x")));   /* an instant and other text */
		pq_writer *w = NULL;
		const char *path = tmp_path("times.parquet");
		CHECK(pq_writer_new(&w, path, s, NULL, &err) == 0);
		CHECK(w && pq_writer_write_ndjson(w, in, strlen(in), "in", &err) == 0);
		CHECK(w && pq_writer_close(w, &err) == 0);
		pq_writer_free(w);
		EXPECT_ROWS(path,
			"{\"d\":{\"$date\":\"2024-02-29T00:00:00.000Z\"},\"t\":{\"$date\":\"2024-05-28T00:22:11.954Z\"},"
			"\"o\":{\"$date\":\"2024-05-28T00:22:11.123456789Z\"},\"l\":\"2024-05-28T00:22:11\","
			"\"m\":\"2024-05-28\",\"x\":\"2024-05-28T00:22:11Z\",\"c\":{\"$date\":\"2024-05-28T00:22:11.000Z\"}}\n"
			"{\"d\":null,\"t\":{\"$date\":\"1969-12-31T23:59:59.999999Z\"},\"o\":null,\"l\":null,"
			"\"m\":\"2024-05-28T00:22:11Z\",\"x\":\"soon\",\"c\":null}\n");
		unlink(path);
		pq_node_free(s);
	}
	/* off: every string stays a string */
	pq_infer *inf;
	pq_node *s = NULL;
	CHECK(pq_infer_new(&inf, &err) == 0);
	pq_infer_text_times(inf, 0);
	CHECK(pq_infer_add_ndjson(inf, in, strlen(in), "in", &err) == 0);
	CHECK(pq_infer_schema(&s, inf, PQ_PROFILE_MODERN, &err) == 0);
	CHECK(s && is_string(child(s, "d")) && is_string(child(s, "t")) && is_string(child(s, "o")));
	pq_node_free(s);
	pq_infer_free(inf);
}

/* Keys are matched against the expected one by words (pqj_key_is: up to 15 bytes in two
 * words, longer ones by memcmp): names of 7, 8, 15 and 16 bytes, names that are prefixes of
 * others, in changing orders and at the row's end, each land in their own column. */
static void test_key_lengths(void)
{
	ids_error err = IDS_ERROR_INIT;
	const char *in =
		"{\"abcdefg\":1,\"abcdefgh\":2,\"abcdefghijklmno\":3,\"abcdefghijklmnop\":4,\"abcdefghijklmn\":5}\n"
		"{\"abcdefghijklmnop\":14,\"abcdefghijklmno\":13,\"abcdefgh\":12,\"abcdefg\":11}\n"
		"{\"abcdefgh\":22,\"abcdefghijklmn\":25}\n"
		"{\"abcdefg\":31,\"abcdefgh\":32,\"abcdefghijklmno\":33,\"abcdefghijklmnop\":34,\"abcdefghijklmn\":35}\n";
	pq_node *s = infer(in, PQ_PROFILE_MODERN, &err);
	CHECK(s != NULL);
	if (!s)
		return;
	pq_writer *w = NULL;
	const char *path = tmp_path("keys.parquet");
	CHECK(pq_writer_new(&w, path, s, NULL, &err) == 0);
	CHECK(w && pq_writer_write_ndjson(w, in, strlen(in), "in", &err) == 0);
	CHECK(w && pq_writer_close(w, &err) == 0);
	pq_writer_free(w);
	EXPECT_ROWS(path,
		"{\"abcdefg\":1,\"abcdefgh\":2,\"abcdefghijklmno\":3,\"abcdefghijklmnop\":4,\"abcdefghijklmn\":5}\n"
		"{\"abcdefg\":11,\"abcdefgh\":12,\"abcdefghijklmno\":13,\"abcdefghijklmnop\":14,\"abcdefghijklmn\":null}\n"
		"{\"abcdefg\":null,\"abcdefgh\":22,\"abcdefghijklmno\":null,\"abcdefghijklmnop\":null,\"abcdefghijklmn\":25}\n"
		"{\"abcdefg\":31,\"abcdefgh\":32,\"abcdefghijklmno\":33,\"abcdefghijklmnop\":34,\"abcdefghijklmn\":35}\n");
	unlink(path);
	pq_node_free(s);
}

/* A struct of more than 8 fields finds keys through its hash index (shred.c): sparse
 * rows name a few fields, in any order, with keys the schema lacks (skipped) among them.
 * With more than 16 top-level fields the absent scalars' nulls are deferred and written in
 * runs (pqw_shred_defer): explicit nulls, a struct and a list (not deferred) in between,
 * many pages per slice and two parser threads must give the same rows. */
static void write_sparse(const pq_node *s, const ids_buf *in, const char *want,
			 size_t page_bytes, int threads)
{
	ids_error err = IDS_ERROR_INIT;
	pq_write_options o = PQ_WRITE_OPTIONS_INIT;
	o.page_bytes = page_bytes;
	o.threads = threads;
	const char *path = tmp_path("sparse.parquet");
	pq_writer *w = NULL;
	CHECK(pq_writer_new(&w, path, s, &o, &err) == 0);
	CHECK(w && pq_writer_write_ndjson(w, in->data, in->len, "in", &err) == 0);
	CHECK(w && pq_writer_close(w, &err) == 0);
	pq_writer_free(w);
	EXPECT_ROWS(path, want);
	unlink(path);
}

static void test_sparse_keys(void)
{
	enum { NF = 20, NR = 3000 };
	ids_error err = IDS_ERROR_INIT;
	ids_buf first = IDS_BUF_INIT, in = IDS_BUF_INIT, want = IDS_BUF_INIT;
	ids_buf_puts(&first, "{");
	for (int f = 0; f < NF; f++)
		ids_buf_printf(&first, "%s\"f%02d\":%d", f ? "," : "", f, f);
	ids_buf_puts(&first, ",\"st\":{\"a\":1},\"li\":[1,2]}\n");
	ids_buf_puts(&in, first.data);
	ids_buf_puts(&want, first.data);
	uint32_t r = 12345;
	for (int i = 0; i < NR; i++) {
		long v[NF + 2];   /* -1 absent, -2 null; the last two: st, li */
		int order[NF + 2], n = 0;
		for (int f = 0; f < NF + 2; f++) {
			r = r * 1103515245u + 12345u;
			uint32_t d = (r >> 16) % 16;
			v[f] = d < 3 ? (long)i * 100 + f : d == 3 ? -2 : -1;
			if (v[f] != -1)
				order[n++] = f;
		}
		for (int k = n - 1; k > 0; k--) {   /* shuffle the keys */
			r = r * 1103515245u + 12345u;
			int m = (int)((r >> 16) % (uint32_t)(k + 1)), t = order[k];
			order[k] = order[m];
			order[m] = t;
		}
		ids_buf_puts(&in, "{");
		for (int k = 0; k < n; k++) {
			int f = order[k];
			char name[16];
			snprintf(name, sizeof name, "%s", f == NF ? "st" : f == NF + 1 ? "li" : "");
			if (f < NF)
				snprintf(name, sizeof name, "f%02d", f);
			ids_buf_printf(&in, "%s\"%s\":", k ? "," : "", name);
			if (v[f] == -2)
				ids_buf_puts(&in, "null");
			else if (f < NF)
				ids_buf_printf(&in, "%ld", v[f]);
			else
				ids_buf_printf(&in, f == NF ? "{\"a\":%ld}" : "[%ld]", v[f]);
			if (k == n / 2)
				ids_buf_puts(&in, ",\"zz\":[1,{\"f01\":2}]");
		}
		ids_buf_puts(&in, "}\n");
		ids_buf_puts(&want, "{");
		for (int f = 0; f < NF; f++) {
			if (v[f] >= 0)
				ids_buf_printf(&want, "%s\"f%02d\":%ld", f ? "," : "", f, v[f]);
			else
				ids_buf_printf(&want, "%s\"f%02d\":null", f ? "," : "", f);
		}
		if (v[NF] >= 0)
			ids_buf_printf(&want, ",\"st\":{\"a\":%ld}", v[NF]);
		else
			ids_buf_puts(&want, ",\"st\":null");
		if (v[NF + 1] >= 0)
			ids_buf_printf(&want, ",\"li\":[%ld]}\n", v[NF + 1]);
		else
			ids_buf_puts(&want, ",\"li\":null}\n");
	}
	pq_node *s = infer(first.data, PQ_PROFILE_MODERN, &err);
	CHECK(s != NULL);
	if (!s)
		return;
	write_sparse(s, &in, want.data, 0, 1);
	write_sparse(s, &in, want.data, 512, 1);
	write_sparse(s, &in, want.data, 512, 2);

	/* a key twice in one row is still refused when it is found through the index */
	const char *path = tmp_path("sparse.parquet");
	const char *dup = "{\"f03\":1,\"f11\":2,\"f03\":3}\n";
	pq_writer *w = NULL;
	CHECK(pq_writer_new(&w, path, s, NULL, &err) == 0);
	CHECK(w && pq_writer_write_ndjson(w, dup, strlen(dup), "in", &err) == IDS_EINVAL);
	if (!strstr(err.msg, "in:1:18: field 'f03': duplicate key")) {
		TEST_FAIL("got '%s'", err.msg);
	}
	pq_writer_close(w, &err);
	pq_writer_free(w);
	pq_node_free(s);
	ids_buf_free(&first);
	ids_buf_free(&in);
	ids_buf_free(&want);
}

static void expect_err(const char *ndjson, const char *want)
{
	ids_error err = IDS_ERROR_INIT;
	pq_infer *inf;
	pq_infer_new(&inf, &err);
	int rc = pq_infer_add_ndjson(inf, ndjson, strlen(ndjson), "in.ndjson", &err);
	CHECK(rc == IDS_EINVAL);
	if (strcmp(err.msg, want)) {
		TEST_FAIL("want '%s'\n got '%s'", want, err.msg);
	}
	pq_infer_free(inf);
}

static void test_errors(void)
{
	expect_err("{\"a\":1}\n{\"a\":1 \"b\":2}\n", "in.ndjson:2:8: expected ',' or '}'");
	expect_err("{\"a\":1}\n\n\n{\"a\":[1,2}\n", "in.ndjson:4:10: expected ',' or ']'");
	expect_err("[1]\n", "in.ndjson:1:1: a row must be a JSON object");
	expect_err("{\"a\":tru}\n", "in.ndjson:1:6: invalid literal");
	expect_err("{\"a\":\"x\ty\"}\n", "in.ndjson:1:8: control character in string (must be escaped)");
	expect_err("{\"a\":\"\xff\"}\n", "in.ndjson:1:7: invalid UTF-8 in string");
	expect_err("{\"a\":\"\\q\"}\n", "in.ndjson:1:7: bad escape '\\q'");
	expect_err("{\"a\":\"\\ud800\"}\n", "in.ndjson:1:7: unpaired surrogate in \\u escape");
	expect_err("{\"a\":1} x\n", "in.ndjson:1:9: unexpected data after the row's object");
	expect_err("{\"a\":1,\"a\":2}\n", "in.ndjson:1:8: duplicate key 'a'");
	expect_err("{\"a\":01}\n", "in.ndjson:1:7: expected ',' or '}'");
	expect_err("{\"a\":-}\n", "in.ndjson:1:6: invalid number");
	expect_err("{\"a\":\"abc}\n", "in.ndjson:1:6: unterminated string");
	expect_err("{\"a\":1,}\n", "in.ndjson:1:8: expected a string key");
	expect_err("{\"b\":{\"$bin\":\"!!\"}}\n", "in.ndjson:1:6: bad base64 in $bin");
	expect_err("{\"d\":{\"$date\":\"2024-13-01\"}}\n", "in.ndjson:1:6: bad ISO-8601 date in $date");
	expect_err("{\"n\":{\"$num\":\"nan\"}}\n",
		   "in.ndjson:1:6: bad $num value (NaN, Infinity, -Infinity or -0)");
}

static const char schema_json[] =
	"{\"fields\":["
	"{\"name\":\"id\",\"type\":\"int64\",\"required\":true},"
	"{\"name\":\"i32\",\"type\":\"int32\"},"
	"{\"name\":\"f\",\"type\":\"float\"},"
	"{\"name\":\"day\",\"type\":\"date\"},"
	"{\"name\":\"ms\",\"type\":\"timestamp\",\"unit\":\"millis\"},"
	"{\"name\":\"us\",\"type\":\"timestamp\",\"unit\":\"micros\",\"utc\":false},"
	"{\"name\":\"ns\",\"type\":\"timestamp\",\"unit\":\"nanos\"},"
	"{\"name\":\"i96\",\"type\":\"int96\"},"
	"{\"name\":\"price\",\"type\":\"decimal\",\"precision\":12,\"scale\":2},"
	"{\"name\":\"small\",\"type\":\"decimal\",\"precision\":4,\"scale\":1},"
	"{\"name\":\"huge\",\"type\":\"decimal\",\"precision\":38,\"scale\":0},"
	"{\"name\":\"u\",\"type\":\"uuid\"},"
	"{\"name\":\"j\",\"type\":\"json\"},"
	"{\"name\":\"raw\",\"type\":\"binary\"},"
	"{\"name\":\"fx\",\"type\":\"fixed\",\"length\":3},"
	"{\"name\":\"tags\",\"type\":\"list\",\"element\":{\"type\":\"string\"}},"
	"{\"name\":\"people\",\"type\":\"list\",\"element\":{\"type\":\"struct\",\"fields\":["
	"  {\"name\":\"name\",\"type\":\"string\"},{\"name\":\"age\",\"type\":\"int32\"}]}},"
	"{\"name\":\"m\",\"type\":\"map\",\"key\":{\"type\":\"string\"},\"value\":{\"type\":\"int64\"}},"
	"{\"name\":\"mi\",\"type\":\"map\",\"key\":{\"type\":\"int32\"},\"value\":{\"type\":\"string\"}},"
	"{\"name\":\"nested\",\"type\":\"list\",\"element\":{\"type\":\"list\",\"element\":{\"type\":\"int64\"}}},"
	"{\"name\":\"addr\",\"type\":\"struct\",\"fields\":[{\"name\":\"city\",\"type\":\"string\"},"
	"  {\"name\":\"zip\",\"type\":\"string\",\"required\":true}]}"
	"]}";

/* Rows in and the reader's JSON out (the reader normalizes to the shared conventions). */
static const char *rows[][2] = {
	{"{\"id\":1,\"i32\":-2147483648,\"f\":1.5,\"day\":{\"$date\":\"2024-02-29T00:00:00.000Z\"},"
	 "\"ms\":{\"$date\":\"1969-12-31T23:59:59.999Z\"},\"us\":{\"$date\":\"2024-01-01T00:00:00.123456Z\"},"
	 "\"ns\":{\"$date\":\"2024-01-01T00:00:00.123456789Z\"},\"i96\":{\"$date\":\"1900-01-01T12:00:00.000Z\"},"
	 "\"price\":\"-1234567890.12\",\"small\":99.9,\"huge\":\"-99999999999999999999999999999999999999\","
	 "\"u\":\"123e4567-e89b-12d3-a456-426614174000\",\"j\":{\"a\":[1,2]},\"raw\":{\"$bin\":\"AP8=\"},"
	 "\"fx\":{\"$bin\":\"YWJj\"},\"tags\":[\"a\",null,\"\"],\"people\":[{\"name\":\"x\",\"age\":3},{\"name\":null}],"
	 "\"m\":{\"k1\":1,\"k2\":null},\"mi\":[{\"key\":7,\"value\":\"seven\"}],\"nested\":[[1],[],null,[2,3]],"
	 "\"addr\":{\"zip\":\"Z\"}}",
	 "{\"id\":1,\"i32\":-2147483648,\"f\":1.5,\"day\":{\"$date\":\"2024-02-29T00:00:00.000Z\"},"
	 "\"ms\":{\"$date\":\"1969-12-31T23:59:59.999Z\"},\"us\":{\"$date\":\"2024-01-01T00:00:00.123456Z\"},"
	 "\"ns\":{\"$date\":\"2024-01-01T00:00:00.123456789Z\"},\"i96\":{\"$date\":\"1900-01-01T12:00:00.000Z\"},"
	 "\"price\":\"-1234567890.12\",\"small\":\"99.9\",\"huge\":\"-99999999999999999999999999999999999999\","
	 "\"u\":\"123e4567-e89b-12d3-a456-426614174000\",\"j\":{\"a\":[1,2]},\"raw\":{\"$bin\":\"AP8=\"},"
	 "\"fx\":{\"$bin\":\"YWJj\"},\"tags\":[\"a\",null,\"\"],\"people\":[{\"name\":\"x\",\"age\":3},{\"name\":null,\"age\":null}],"
	 "\"m\":{\"k1\":1,\"k2\":null},\"mi\":[{\"key\":7,\"value\":\"seven\"}],\"nested\":[[1],[],null,[2,3]],"
	 "\"addr\":{\"city\":null,\"zip\":\"Z\"}}"},
	{"{\"id\":9223372036854775807,\"ms\":{\"$date\":null},\"price\":5,\"small\":\"-0.5\",\"day\":\"1970-01-01\",\"tags\":[],"
	 "\"people\":null,\"m\":{},\"addr\":null}",
	 "{\"id\":9223372036854775807,\"i32\":null,\"f\":null,\"day\":{\"$date\":\"1970-01-01T00:00:00.000Z\"},"
	 "\"ms\":null,\"us\":null,\"ns\":null,\"i96\":null,\"price\":\"5.00\",\"small\":\"-0.5\",\"huge\":null,"
	 "\"u\":null,\"j\":null,\"raw\":null,\"fx\":null,\"tags\":[],\"people\":null,\"m\":{},\"mi\":null,"
	 "\"nested\":null,\"addr\":null}"},
};

static void test_roundtrip(pq_profile profile, int page_version, pq_codec codec)
{
	ids_error err = IDS_ERROR_INIT;
	pq_node *s = NULL;
	CHECK(pq_schema_from_json(&s, schema_json, strlen(schema_json), profile, &err) == 0);
	if (!s) {
		fprintf(stderr, "schema: %s\n", err.msg);
		return;
	}
	pq_write_options o = PQ_WRITE_OPTIONS_INIT;
	o.profile = profile;
	o.page_version = page_version;
	o.codec = codec;
	const char *path = tmp_path("rt.parquet");
	pq_writer *w;
	CHECK(pq_writer_new(&w, path, s, &o, &err) == 0);
	size_t n = sizeof rows / sizeof rows[0];
	for (size_t i = 0; i < n; i++) {
		size_t off = 0;
		if (pq_writer_write_json(w, rows[i][0], strlen(rows[i][0]), &off, &err)) {
			TEST_FAIL("row %zu at %zu: %s", i, off, err.msg);
		}
	}
	CHECK(pq_writer_close(w, &err) == 0);
	pq_writer_free(w);
	pq_reader *rd;
	if (pq_reader_open(&rd, path, NULL, &err)) {
		TEST_FAIL("reader: %s", err.msg);
		pq_node_free(s);
		return;
	}
	ids_buf row = IDS_BUF_INIT;
	for (size_t i = 0; i < n; i++) {
		ids_buf_reset(&row);
		int rc = pq_reader_next_row_json(rd, &row, &err);
		CHECK(rc == 1);
		if (rc != 1 || strcmp(row.data, rows[i][1])) {
			TEST_FAIL("profile %d v%d codec %d row %zu\n want %s\n got  %s", profile,
				page_version, codec, i, rows[i][1], rc == 1 ? row.data : err.msg);
		}
	}
	ids_buf_free(&row);
	pq_reader_free(rd);
	pq_node_free(s);
	unlink(path);
}

static void write_err(const char *row, const char *want)
{
	ids_error err = IDS_ERROR_INIT;
	pq_node *s = NULL;
	pq_schema_from_json(&s, schema_json, strlen(schema_json), PQ_PROFILE_MODERN, &err);
	pq_writer *w;
	CHECK(pq_writer_new(&w, tmp_path("err.parquet"), s, NULL, &err) == 0);
	ids_buf in = IDS_BUF_INIT;
	ids_buf_puts(&in, "{\"id\":1}\n");
	ids_buf_puts(&in, row);
	ids_buf_puts(&in, "\n");
	int rc = pq_writer_write_ndjson(w, in.data, in.len, "in.ndjson", &err);
	CHECK(rc == IDS_EINVAL);
	if (strcmp(err.msg, want)) {
		TEST_FAIL("want '%s'\n got '%s'", want, err.msg);
	}
	CHECK(pq_writer_close(w, &err) != 0);   /* poisoned: nothing gets renamed into place */
	pq_writer_free(w);
	CHECK(count_files() == 0);
	ids_buf_free(&in);
	pq_node_free(s);
}

static void test_write_errors(void)
{
	write_err("{\"i32\":1}", "in.ndjson:2:9: field 'id': missing required field");
	write_err("{\"id\":null}", "in.ndjson:2:7: field 'id': null in a required field");
	write_err("{\"id\":\"1\"}", "in.ndjson:2:7: field 'id': expected an integer");
	write_err("{\"id\":1.5}", "in.ndjson:2:7: field 'id': expected an integer");
	write_err("{\"id\":1,\"i32\":2147483648}", "in.ndjson:2:15: field 'i32': integer out of range for 32 bits");
	write_err("{\"id\":1,\"price\":\"1.234\"}",
		  "in.ndjson:2:17: field 'price': decimal(12,2): more fraction digits than the column's scale");
	write_err("{\"id\":1,\"small\":1000}",
		  "in.ndjson:2:17: field 'small': decimal(4,1): too many digits for the column's precision");
	write_err("{\"id\":1,\"ms\":{\"$date\":\"2024-01-01T00:00:00.0001Z\"}}",
		  "in.ndjson:2:14: field 'ms': timestamp has more precision than the column's unit");
	write_err("{\"id\":1,\"day\":{\"$date\":\"2024-01-01T10:00:00Z\"}}",
		  "in.ndjson:2:15: field 'day': a DATE column needs midnight UTC");
	write_err("{\"id\":1,\"u\":\"not-a-uuid\"}", "in.ndjson:2:13: field 'u': expected a UUID string");
	write_err("{\"id\":1,\"fx\":{\"$bin\":\"YQ==\"}}", "in.ndjson:2:14: field 'fx': expected 3 bytes, got 1");
	write_err("{\"id\":1,\"tags\":\"x\"}", "in.ndjson:2:16: field 'tags': expected an array");
	write_err("{\"id\":1,\"addr\":{\"city\":\"c\"}}",
		  "in.ndjson:2:27: field 'addr.zip': missing required field");
	write_err("{\"id\":1,\"people\":[{\"age\":true}]}",
		  "in.ndjson:2:26: field 'people.element.age': expected an integer");
	write_err("{\"id\":1,\"mi\":{\"x\":\"y\"}}", "in.ndjson:2:15: field 'mi.key_value.key': map key is not an integer");
}

/* A failed row via the row API is rolled back; the writer keeps going. */
static void test_rollback(void)
{
	ids_error err = IDS_ERROR_INIT;
	pq_node *s = NULL;
	pq_schema_from_json(&s, schema_json, strlen(schema_json), PQ_PROFILE_COMPAT, &err);
	const char *path = tmp_path("rb.parquet");
	pq_writer *w;
	CHECK(pq_writer_new(&w, path, s, NULL, &err) == 0);
	const char *bad = "{\"id\":5,\"tags\":[\"a\",\"b\"],\"people\":[{\"name\":\"n\"}],\"i32\":\"oops\"}";
	size_t off = 0;
	CHECK(pq_writer_write_json(w, bad, strlen(bad), &off, &err) == IDS_EINVAL && off == 55);
	const char *good = "{\"id\":6,\"tags\":[\"c\"]}";
	CHECK(pq_writer_write_json(w, good, strlen(good), NULL, &err) == 0);
	CHECK(pq_writer_close(w, &err) == 0);
	pq_writer_free(w);
	CHECK(count_files() == 1);
	struct stat st;
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644);
	pq_reader *rd;
	ids_buf row = IDS_BUF_INIT;
	CHECK(pq_reader_open(&rd, path, NULL, &err) == 0);
	CHECK(pq_reader_num_rows(rd) == 1);
	CHECK(pq_reader_next_row_json(rd, &row, &err) == 1);
	CHECK(row.data && strstr(row.data, "\"id\":6,") && strstr(row.data, "\"tags\":[\"c\"]") &&
	      strstr(row.data, "\"people\":null"));
	CHECK(pq_reader_next_row_json(rd, &row, &err) == 0);
	pq_reader_free(rd);
	ids_buf_free(&row);
	pq_node_free(s);
	unlink(path);
}

static void test_schema_errors(void)
{
	ids_error err = IDS_ERROR_INIT;
	pq_node *s = NULL;
	const char *bad[][2] = {
		{"{\"fields\":[{\"name\":\"a\",\"type\":\"strin\"}]}", "schema.fields[0]: unknown type 'strin'"},
		{"{\"fields\":[]}", "schema: \"fields\" must be a non-empty array"},
		{"{\"fields\":[{\"type\":\"int64\"}]}", "schema.fields[0]: missing \"name\""},
		{"{\"fields\":[{\"name\":\"l\",\"type\":\"list\",\"element\":{\"type\":\"x\"}}]}",
		 "schema.fields[0].element: unknown type 'x'"},
		{"{\"fields\":[{\"name\":\"d\",\"type\":\"decimal\",\"precision\":40,\"scale\":1}]}",
		 "schema.fields[0]: decimal needs 1 <= precision <= 38 and 0 <= scale <= precision"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		CHECK(pq_schema_from_json(&s, bad[i][0], strlen(bad[i][0]), PQ_PROFILE_MODERN, &err) ==
		      IDS_EINVAL);
		if (strcmp(err.msg, bad[i][1])) {
			TEST_FAIL("want '%s'\n got '%s'", bad[i][1], err.msg);
		}
	}
	/* names that collide once lowercased are refused in the compat profile only */
	const char *ci = "{\"fields\":[{\"name\":\"Id\",\"type\":\"int64\"},{\"name\":\"id\",\"type\":\"int64\"}]}";
	CHECK(pq_schema_from_json(&s, ci, strlen(ci), PQ_PROFILE_COMPAT, &err) == 0);
	pq_writer *w = NULL;
	pq_write_options o = PQ_WRITE_OPTIONS_INIT;
	CHECK(pq_writer_new(&w, tmp_path("ci.parquet"), s, &o, &err) == IDS_EINVAL);
	CHECK(count_files() == 0);
	o.profile = PQ_PROFILE_MODERN;
	CHECK(pq_writer_new(&w, tmp_path("ci.parquet"), s, &o, &err) == 0);
	pq_writer_free(w);   /* never closed: the temp file goes away */
	CHECK(count_files() == 0);

	/* the final rename must never replace something that is not a regular file */
	char fifo[512], sub[512];
	snprintf(fifo, sizeof fifo, "%s", tmp_path("fifo"));
	snprintf(sub, sizeof sub, "%s", tmp_path("subdir"));
	CHECK(mkfifo(fifo, 0600) == 0);
	CHECK(pq_writer_new(&w, fifo, s, &o, &err) == IDS_EINVAL);
	CHECK(strstr(err.msg, "not a regular file") != NULL);
	CHECK(mkdir(sub, 0700) == 0);
	CHECK(pq_writer_new(&w, sub, s, &o, &err) == IDS_EINVAL);
	struct stat st;
	CHECK(lstat(fifo, &st) == 0 && S_ISFIFO(st.st_mode));
	unlink(fifo);
	rmdir(sub);
	CHECK(count_files() == 0);
	pq_node_free(s);
}

int main(void)
{
	if (test_mkdtemp(tmpdir, sizeof tmpdir, "test_pq_write_json"))
		return 1;
	test_infer();
	test_text_times();
	test_key_lengths();
	test_sparse_keys();
	test_errors();
	for (int p = 0; p < 2; p++)
		for (int v = 1; v <= 2; v++) {
			test_roundtrip(p ? PQ_PROFILE_MODERN : PQ_PROFILE_COMPAT, v, PQ_CODEC_SNAPPY);
			test_roundtrip(p ? PQ_PROFILE_MODERN : PQ_PROFILE_COMPAT, v, PQ_CODEC_ZSTD);
		}
	test_roundtrip(PQ_PROFILE_MODERN, 1, PQ_CODEC_UNCOMPRESSED);
	test_roundtrip(PQ_PROFILE_MODERN, 2, PQ_CODEC_GZIP);
	test_roundtrip(PQ_PROFILE_COMPAT, 1, PQ_CODEC_LZ4_RAW);
	test_write_errors();
	test_rollback();
	test_schema_errors();
	rmdir(tmpdir);
	return test_report("test_pq_write_json");
}
