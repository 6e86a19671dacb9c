/* Unit tests of the writer's modes: threads (parallel inference and shredding must not
 * change one byte), the strict prefix-inference path (used only when it gives exactly the
 * two-pass result), mixing the row API with NDJSON, and bare repeated fields. */
#include "idbsync/pq_read.h"
#include "idbsync/pq_write.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pq_write_test.h"

static void tree_str(const pq_node *n, ids_buf *b)
{
	ids_buf_printf(b, "%s:%d:%d:%d:%d:%d(", n->name, (int)n->type, (int)n->repetition,
		       (int)n->logical.kind, (int)n->logical.unit, (int)n->converted);
	for (size_t i = 0; i < n->n_children; i++)
		tree_str(n->children[i], b);
	ids_buf_putc(b, ')');
}

static int read_all(const char *path, ids_buf *b)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	char tmp[65536];
	size_t k;
	while ((k = fread(tmp, 1, sizeof tmp, f)) > 0)
		ids_buf_append(b, tmp, k);
	fclose(f);
	return 0;
}

/* Threads change neither the inferred schema, nor error positions, nor one output byte. */
static void test_threads(void)
{
	ids_error err = IDS_ERROR_INIT;
	ids_buf in = IDS_BUF_INIT;
	const size_t rows = 200000;
	for (size_t i = 0; i < rows; i++) {
		ids_buf_printf(&in, "{\"id\":%zu,\"v\":%s,\"w\":%s,\"s\":\"str-%zu\"", i,
			       i < rows / 2 ? "1" : "2.5", i < rows - 10 ? "\"x\"" : "7", i % 777);
		if (i > rows - 5)
			ids_buf_printf(&in, ",\"late\":{\"t\":{\"$date\":\"2024-01-01T00:00:00.1234567Z\"}}");
		if (i % 3 == 0)
			ids_buf_printf(&in, ",\"l\":[%zu,null]", i);
		ids_buf_puts(&in, "}\n");
	}
	CHECK(in.len > 8 << 20);
	ids_buf t1 = IDS_BUF_INIT, t4 = IDS_BUF_INIT;
	pq_node *s1 = NULL, *s4 = NULL;
	pq_infer *inf;
	pq_infer_new(&inf, &err);
	CHECK(pq_infer_add_ndjson_threads(inf, in.data, in.len, "in", 1, &err) == 0);
	pq_infer_schema(&s1, inf, PQ_PROFILE_MODERN, &err);
	pq_infer_free(inf);
	pq_infer_new(&inf, &err);
	CHECK(pq_infer_add_ndjson_threads(inf, in.data, in.len, "in", 4, &err) == 0);
	pq_infer_schema(&s4, inf, PQ_PROFILE_MODERN, &err);
	pq_infer_free(inf);
	CHECK(s1 && s4);
	if (!s1 || !s4)
		return;
	tree_str(s1, &t1);
	tree_str(s4, &t4);
	CHECK(!strcmp(t1.data, t4.data));
	CHECK(child(s1, "v")->type == PQ_DOUBLE && is_string(child(s1, "w")) &&
	      child(child(s1, "late"), "t")->logical.unit == PQ_NANOS);

	/* an error in the last slice names the global line */
	ids_buf bad = IDS_BUF_INIT;
	ids_buf_append(&bad, in.data, in.len);
	ids_buf_puts(&bad, "{\"id\":1,}\n");
	pq_infer_new(&inf, &err);
	CHECK(pq_infer_add_ndjson_threads(inf, bad.data, bad.len, "in", 4, &err) == IDS_EINVAL);
	char want[64];
	snprintf(want, sizeof want, "in:%zu:9: expected a string key", rows + 1);
	CHECK(!strcmp(err.msg, want));
	pq_infer_free(inf);

	ids_buf f1 = IDS_BUF_INIT, f4 = IDS_BUF_INIT;
	for (int t = 1; t <= 4; t += 3) {
		pq_write_options o = PQ_WRITE_OPTIONS_INIT;
		o.profile = PQ_PROFILE_MODERN;
		o.threads = t;
		o.page_bytes = 30000;
		o.row_group_rows = 50000;
		o.dict_max_bytes = 20000;
		pq_writer *w;
		CHECK(pq_writer_new(&w, tmp_path("threads.parquet"), s1, &o, &err) == 0);
		CHECK(pq_writer_write_ndjson(w, in.data, in.len, "in", &err) == 0);
		CHECK(pq_writer_close(w, &err) == 0);
		pq_writer_free(w);
		CHECK(read_all(tmp_path("threads.parquet"), t == 1 ? &f1 : &f4) == 0);
		unlink(tmp_path("threads.parquet"));
	}
	CHECK(f1.len > 0 && f1.len == f4.len && !memcmp(f1.data, f4.data, f1.len));

	/* a threaded writer that fails mid-way leaves nothing behind */
	pq_write_options o = PQ_WRITE_OPTIONS_INIT;
	o.threads = 3;
	o.page_bytes = 10000;
	pq_writer *w;
	CHECK(pq_writer_new(&w, tmp_path("threads.parquet"), s1, &o, &err) == 0);
	CHECK(pq_writer_write_ndjson(w, bad.data, bad.len, "in", &err) == IDS_EINVAL);
	pq_writer_free(w);
	CHECK(count_files() == 0);

	ids_buf_free(&f1);
	ids_buf_free(&f4);
	ids_buf_free(&t1);
	ids_buf_free(&t4);
	ids_buf_free(&bad);
	ids_buf_free(&in);
	pq_node_free(s1);
	pq_node_free(s4);
}

/* Threaded inference keeps the caller's choice about ISO-8601 strings in every slice. */
static void test_threads_text_times(void)
{
	ids_error err = IDS_ERROR_INIT;
	ids_buf in = IDS_BUF_INIT;
	/* t only in the later slices, so the first slice's own tree cannot decide it */
	for (size_t i = 0; in.len < (9 << 20); i++) {
		if (in.len < (5 << 20))
			ids_buf_printf(&in, "{\"pad\":\"%040zu\"}\n", i);
		else
			ids_buf_printf(&in, "{\"t\":\"2024-01-01T00:00:%02zuZ\",\"pad\":\"%040zu\"}\n", i % 60, i);
	}
	for (int on = 0; on < 2; on++) {
		pq_infer *inf;
		pq_node *s = NULL;
		CHECK(pq_infer_new(&inf, &err) == 0);
		pq_infer_text_times(inf, on);
		CHECK(pq_infer_add_ndjson_threads(inf, in.data, in.len, "in", 4, &err) == 0);
		CHECK(pq_infer_schema(&s, inf, PQ_PROFILE_MODERN, &err) == 0);
		CHECK(s && (on ? child(s, "t")->logical.kind == PQ_LT_TIMESTAMP : is_string(child(s, "t"))));
		pq_node_free(s);
		pq_infer_free(inf);
	}
	ids_buf_free(&in);
}

/* A page spans NDJSON slices (the input is cut into ~8 MiB slices for the parser threads):
 * a column whose page never fills has one data page, with any thread count. Uncompressed,
 * so that the text column's pages end by size (snappy and zstd write a text column's PLAIN
 * pages as one, page.c). */
static void test_pages_span_slices(void)
{
	ids_error err = IDS_ERROR_INIT;
	ids_buf in = IDS_BUF_INIT;
	const size_t rows = 150000;
	for (size_t i = 0; i < rows; i++)
		ids_buf_printf(&in, "{\"b\":%s,\"pad\":\"%060zu\"}\n", i % 3 ? "true" : "false", i);
	CHECK(in.len > 8 << 20);
	pq_node *s = infer("{\"b\":true,\"pad\":\"x\"}\n", PQ_PROFILE_COMPAT, &err);
	for (int t = 1; s && t <= 2; t++) {
		pq_write_options o = PQ_WRITE_OPTIONS_INIT;
		o.threads = t;
		o.codec = PQ_CODEC_UNCOMPRESSED;
		pq_writer *w;
		CHECK(pq_writer_new(&w, tmp_path("span.parquet"), s, &o, &err) == 0);
		CHECK(pq_writer_write_ndjson(w, in.data, in.len, "in", &err) == 0);
		CHECK(pq_writer_close(w, &err) == 0);
		pq_writer_free(w);
		int dict = -1;
		CHECK(data_pages(tmp_path("span.parquet"), 0, 0, &dict) == 1 && dict == 0);
		CHECK(data_pages(tmp_path("span.parquet"), 0, 1, &dict) > 8);
		unlink(tmp_path("span.parquet"));
	}
	pq_node_free(s);
	ids_buf_free(&in);
}

/* Pages that span slices are linked, not copied (take_page, pqw_page_link): the values of
 * every kind of column read back as the row API (which stages each row into the page
 * itself) writes them, at 1 and 2 threads, with long chains for a sparse column, and rows
 * staged through the row API after the NDJSON follow its last page's values. */
static void test_linked_pages(void)
{
	ids_error err = IDS_ERROR_INIT;
	ids_buf in = IDS_BUF_INIT;
	const size_t rows = 170000;
	for (size_t i = 0; i < rows; i++) {
		ids_buf_printf(&in, "{\"id\":%zu,\"s\":\"k%zu\",\"d\":%zu.25,\"b\":%s", i * 7, i % 50,
			       i % 1000, i % 3 ? "true" : "false");
		if (i % 97 == 0)   /* a few hundred bytes per slice: its page spans every slice */
			ids_buf_printf(&in, ",\"x\":\"sparse-%zu\"", i);
		ids_buf_printf(&in, ",\"pad\":\"%080zu\"}\n", i);
	}
	CHECK(in.len > 20 << 20);   /* three slices */
	const char *tail[] = {"{\"id\":1,\"s\":\"after\",\"x\":\"row-api\"}", "{\"id\":2,\"d\":0.5}"};
	pq_node *s = infer(in.data, PQ_PROFILE_COMPAT, &err);
	char *want = NULL;
	for (int mode = 0; s && mode < 3; mode++) {
		pq_write_options o = PQ_WRITE_OPTIONS_INIT;
		o.threads = mode == 2 ? 2 : 1;
		pq_writer *w = NULL;
		const char *path = tmp_path("linked.parquet");
		CHECK(pq_writer_new(&w, path, s, &o, &err) == 0);
		if (!w)
			break;
		if (mode == 0) {   /* the reference: every row through the row API */
			for (const char *p = in.data, *e; p < in.data + in.len; p = e + 1) {
				e = memchr(p, '\n', (size_t)(in.data + in.len - p));
				CHECK(pq_writer_write_json(w, p, (size_t)(e - p), NULL, &err) == 0);
			}
		} else {
			CHECK(pq_writer_write_ndjson(w, in.data, in.len, "in", &err) == 0);
		}
		for (size_t k = 0; k < 2; k++)
			CHECK(pq_writer_write_json(w, tail[k], strlen(tail[k]), NULL, &err) == 0);
		CHECK(pq_writer_close(w, &err) == 0);
		pq_writer_free(w);
		pq_reader *rd = NULL;
		CHECK(pq_reader_open(&rd, path, NULL, &err) == 0);
		char *all = rd ? rows_ndjson(rd) : NULL;
		pq_reader_free(rd);
		CHECK(all && strstr(all, "\"x\":\"sparse-164900\"") &&
		      strstr(all, "{\"id\":1,\"s\":\"after\",\"d\":null,\"b\":null,\"x\":\"row-api\","));
		if (mode == 0)
			want = all;
		else {
			CHECK(all && want && !strcmp(all, want));
			free(all);
		}
		unlink(path);
	}
	free(want);
	pq_node_free(s);
	ids_buf_free(&in);
}

/* Bare repeated fields (no LIST annotation) take JSON arrays too. */
static void test_bare_repeated(void)
{
	ids_error err = IDS_ERROR_INIT;
	pq_node *root = pq_node_new_group("schema", PQ_REQUIRED);
	pq_node_add(root, pq_node_new_leaf("r", PQ_INT32, PQ_REPEATED));
	pq_node *g = pq_node_new_group("g", PQ_REPEATED);
	pq_node_add(g, pq_node_new_leaf("a", PQ_INT64, PQ_OPTIONAL));
	pq_node_add(root, g);
	const char *path = tmp_path("bare.parquet");
	pq_writer *w = NULL;
	CHECK(pq_writer_new(&w, path, root, NULL, &err) == 0);
	const char *nd = "{\"r\":[ 1 , 2 ],\"g\":[ {\"a\":1} , {\"a\":null} ]}\n{\"r\":[]}\n{}\n";
	CHECK(w && pq_writer_write_ndjson(w, nd, strlen(nd), "in", &err) == 0);
	/* a bare repeated field cannot be null: null is written as empty */
	CHECK(w && pq_writer_write_json(w, "{\"r\":null}", 10, NULL, &err) == 0);
	CHECK(w && pq_writer_close(w, &err) == 0);
	pq_writer_free(w);
	pq_reader *rd = NULL;
	CHECK(pq_reader_open(&rd, path, NULL, &err) == 0);
	char *all = rd ? rows_ndjson(rd) : NULL;
	const char *want = "{\"r\":[1,2],\"g\":[{\"a\":1},{\"a\":null}]}\n{\"r\":[],\"g\":[]}\n"
			   "{\"r\":[],\"g\":[]}\n{\"r\":[],\"g\":[]}\n";
	CHECK(all && !strcmp(all, want));
	if (all && strcmp(all, want))
		fprintf(stderr, "bare repeated:\n%s", all);
	pq_reader_free(rd);
	free(all);
	pq_node_free(root);
	unlink(path);
}

/* Rows from the row API and from NDJSON, interleaved, keep their order. */
static void test_mixed_apis(void)
{
	ids_error err = IDS_ERROR_INIT;
	pq_node *s = infer("{\"a\":1,\"l\":[\"x\"]}\n", PQ_PROFILE_MODERN, &err);
	pq_write_options o = PQ_WRITE_OPTIONS_INIT;
	o.threads = 2;
	pq_writer *w = NULL;
	const char *path = tmp_path("mixed.parquet");
	CHECK(s && pq_writer_new(&w, path, s, &o, &err) == 0);
	if (!w)
		return;
	CHECK(pq_writer_write_json(w, "{\"a\":1,\"l\":[\"p\"]}", 19, NULL, &err) == 0);
	CHECK(pq_writer_write_json(w, "{\"a\":2}", 7, NULL, &err) == 0);
	const char *nd = "{\"a\":3,\"l\":[]}\n{\"a\":4,\"l\":[\"q\",null]}\n";
	CHECK(pq_writer_write_ndjson(w, nd, strlen(nd), "nd", &err) == 0);
	CHECK(pq_writer_write_json(w, "{\"a\":5}", 7, NULL, &err) == 0);
	CHECK(pq_writer_num_rows(w) == 5);
	CHECK(pq_writer_close(w, &err) == 0);
	pq_writer_free(w);
	pq_reader *rd = NULL;
	CHECK(pq_reader_open(&rd, path, NULL, &err) == 0);
	char *all = rd ? rows_ndjson(rd) : NULL;
	const char *want = "{\"a\":1,\"l\":[\"p\"]}\n{\"a\":2,\"l\":null}\n{\"a\":3,\"l\":[]}\n"
			   "{\"a\":4,\"l\":[\"q\",null]}\n{\"a\":5,\"l\":null}\n";
	CHECK(all && !strcmp(all, want));
	pq_reader_free(rd);
	free(all);
	pq_node_free(s);
	unlink(path);
}

/* Writes data with the schema inferred from its first `pre` bytes (strict mode); returns
 * the rc and, on success, the file bytes in out. */
static int write_prefixed(const char *data, size_t len, size_t pre, int threads, ids_buf *out)
{
	ids_error err = IDS_ERROR_INIT;
	pq_infer *inf;
	pq_node *s = NULL;
	pq_writer *w = NULL;
	pq_infer_new(&inf, &err);
	int rc = pq_infer_add_ndjson(inf, data, pre, "in", &err);
	if (!rc)
		rc = pq_infer_schema(&s, inf, PQ_PROFILE_MODERN, &err);
	pq_write_options o = PQ_WRITE_OPTIONS_INIT;
	o.profile = PQ_PROFILE_MODERN;
	o.threads = threads;
	if (!rc)
		rc = pq_writer_new(&w, tmp_path("pre.parquet"), s, &o, &err);
	if (!rc)
		rc = pq_writer_write_ndjson_inferred(w, data, len, "in", inf, &err);
	if (!rc)
		rc = pq_writer_close(w, &err);
	pq_writer_free(w);
	if (!rc)
		read_all(tmp_path("pre.parquet"), out);
	unlink(tmp_path("pre.parquet"));
	pq_node_free(s);
	pq_infer_free(inf);
	return rc;
}

static int write_full(const char *data, size_t len, ids_buf *out)
{
	ids_error err = IDS_ERROR_INIT;
	pq_node *s = infer(data, PQ_PROFILE_MODERN, &err);
	pq_write_options o = PQ_WRITE_OPTIONS_INIT;
	o.profile = PQ_PROFILE_MODERN;
	pq_writer *w = NULL;
	int rc = s ? pq_writer_new(&w, tmp_path("full.parquet"), s, &o, &err) : IDS_EINVAL;
	if (!rc)
		rc = pq_writer_write_ndjson(w, data, len, "in", &err);
	if (!rc)
		rc = pq_writer_close(w, &err);
	pq_writer_free(w);
	if (!rc)
		read_all(tmp_path("full.parquet"), out);
	unlink(tmp_path("full.parquet"));
	pq_node_free(s);
	return rc;
}

/* A schema inferred from a prefix is used only when the whole input fits it exactly. */
static void test_prefix_inference(void)
{
	const char *head =
		"{\"i\":1,\"d\":1.5,\"s\":\"a\",\"b\":true,\"t\":{\"$date\":\"2024-01-01T00:00:00.123Z\"},"
		"\"bin\":{\"$bin\":\"AAE=\"},\"o\":{\"x\":1},\"l\":[1],\"n\":null,\"e\":{},\"el\":[],"
		"\"w\":\"text\",\"it\":\"2024-01-01T00:00:00.5+01:00\",\"dt\":\"2024-01-01\"}\n"
		"{\"i\":2,\"d\":3,\"w\":7,\"l\":[]}\n";
	struct { const char *tail; int fits; } cases[] = {
		{"{\"i\":3,\"d\":-1,\"s\":\"z\",\"t\":{\"$date\":\"2024-01-02T00:00:00.123456Z\"},"
		 "\"o\":{},\"e\":{},\"w\":[1,{\"q\":null}],\"el\":null,\"t\":null}\n", 0},   /* dup key */
		{"{\"i\":3,\"d\":-1,\"s\":\"z\",\"t\":{\"$date\":\"2024-01-02T00:00:00.123456Z\"},"
		 "\"o\":{},\"e\":{},\"w\":[1,{\"q\":null}],\"el\":null,\"bin\":{\"$bin\":\"\"}}\n", 1},
		{"{\"i\":3,\"new\":1}\n", 0},
		{"{\"o\":{\"y\":2}}\n", 0},
		{"{\"i\":2.5}\n", 0},
		{"{\"i\":5.0}\n", 0},
		{"{\"i\":\"5\"}\n", 0},
		{"{\"i\":18446744073709551616}\n", 0},
		{"{\"s\":5}\n", 0},
		{"{\"n\":1}\n", 0},
		{"{\"e\":{\"k\":1}}\n", 0},
		{"{\"e\":3}\n", 0},
		{"{\"el\":[1]}\n", 0},
		{"{\"t\":\"2024-01-01T00:00:00Z\"}\n", 0},
		{"{\"t\":{\"$date\":\"2024-01-01T00:00:00.1234567Z\"}}\n", 0},
		{"{\"bin\":\"AAE=\"}\n", 0},
		{"{\"b\":1}\n", 0},
		{"{\"l\":[1.5]}\n", 0},
		{"{\"l\":5}\n", 0},
		{"{\"d\":{\"$num\":\"NaN\"},\"w\":{\"$date\":\"2024-01-01\"}}\n", 1},
		{"{\"w\":{\"$date\":\"x\"}}\n", 0},
		{"{\"w\":{\"$bin\":\"!\"}}\n", 0},
		{"\n{\"d\":1e400}\n", 1},
		/* ISO text inferred as TIMESTAMP / DATE */
		{"{\"it\":\"2024-01-02 10:00:00.25Z\",\"dt\":\"2024-12-31\"}\n", 1},
		{"{\"it\":null,\"dt\":null}\n", 1},
		{"{\"it\":\"2024-01-02T00:00:00\"}\n", 0},        /* no zone: text */
		{"{\"it\":\"2024-01-02T00:00:00.1234567Z\"}\n", 0},   /* a finer unit */
		{"{\"it\":{\"$date\":\"2024-01-01T00:00:00Z\"}}\n", 0},
		{"{\"dt\":\"2024-01-02T00:00:00Z\"}\n", 0},
		{"{\"dt\":\"2024-02-30\"}\n", 0},
		{"{\"dt\":5}\n", 0},
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		ids_buf in = IDS_BUF_INIT, a = IDS_BUF_INIT, b = IDS_BUF_INIT, c = IDS_BUF_INIT;
		ids_buf_puts(&in, head);
		size_t pre = in.len;
		ids_buf_puts(&in, cases[k].tail);
		int full = write_full(in.data, in.len, &a);
		int rc1 = write_prefixed(in.data, in.len, pre, 1, &b);
		int rc2 = write_prefixed(in.data, in.len, pre, 3, &c);
		if (cases[k].fits) {
			CHECK(full == 0 && rc1 == 0 && rc2 == 0);
			CHECK(a.len && a.len == b.len && !memcmp(a.data, b.data, a.len));
			CHECK(b.len == c.len && !memcmp(b.data, c.data, b.len));
		} else {
			CHECK(rc1 != 0 && rc2 != 0);   /* the caller then does the full passes */
		}
		if ((cases[k].fits && (rc1 || full)) || (!cases[k].fits && !rc1))
			fprintf(stderr, "prefix case %zu: full %d prefixed %d %d\n", k, full, rc1, rc2);
		CHECK(count_files() == 0);
		ids_buf_free(&in);
		ids_buf_free(&a);
		ids_buf_free(&b);
		ids_buf_free(&c);
	}
}

/* The row-at-a-time API (pq_writer_put) writes the same file as the JSON row API for the
 * same rows, and refuses levels that do not fit the schema without spoiling the writer. */
static int put_rows(pq_writer *w, ids_error *err)
{
	int64_t one = 1, two = 2, three = 3;
	double x = 1.5;
	uint8_t ts[12];
	size_t tn = 0;
	int rc = pq_instant_value(ts, &tn, pq_writer_column(w, 4, NULL, NULL), 1704067200, 0, err);
	/* {"id":1,"s":"hi","l":[1,null,3],"st":{"x":1.5,"t":{"$date":"2024-01-01T00:00:00.000Z"}}} */
	if (rc || (rc = pq_writer_row_begin(w, err)) || (rc = pq_writer_put(w, 0, 0, 0, &one, 8, err)) ||
	    (rc = pq_writer_put(w, 1, 1, 0, "hi", 2, err)) || (rc = pq_writer_put(w, 2, 3, 0, &one, 8, err)) ||
	    (rc = pq_writer_put(w, 2, 2, 1, NULL, 0, err)) || (rc = pq_writer_put(w, 2, 3, 1, &three, 8, err)) ||
	    (rc = pq_writer_put(w, 3, 2, 0, &x, 8, err)) || (rc = pq_writer_put(w, 4, 2, 0, ts, tn, err)) ||
	    (rc = pq_writer_row_end(w, err)))
		return rc;
	/* {"id":2,"s":null,"l":[],"st":null} */
	if ((rc = pq_writer_row_begin(w, err)) || (rc = pq_writer_put(w, 0, 0, 0, &two, 8, err)) ||
	    (rc = pq_writer_put(w, 1, 0, 0, NULL, 0, err)) || (rc = pq_writer_put(w, 2, 1, 0, NULL, 0, err)) ||
	    (rc = pq_writer_put(w, 3, 0, 0, NULL, 0, err)) || (rc = pq_writer_put(w, 4, 0, 0, NULL, 0, err)) ||
	    (rc = pq_writer_row_end(w, err)))
		return rc;
	/* a row with every kind of mistake, cancelled: nothing of it is written */
	CHECK(pq_writer_put(w, 0, 0, 0, &three, 8, err) == IDS_EINVAL);   /* outside a row */
	CHECK(pq_writer_row_begin(w, err) == 0);
	CHECK(pq_writer_put(w, 9, 0, 0, NULL, 0, err) == IDS_EINVAL);
	CHECK(pq_writer_put(w, 2, 3, 1, &three, 8, err) == IDS_EINVAL);   /* rep 1 first */
	CHECK(pq_writer_put(w, 1, 0, 0, "x", 1, err) == IDS_EINVAL);      /* a value in a null */
	CHECK(pq_writer_put(w, 0, 0, 0, &three, 4, err) == IDS_EINVAL);   /* 4 bytes for INT64 */
	CHECK(pq_writer_put(w, 0, 0, 0, &three, 8, err) == 0);
	CHECK(pq_writer_put(w, 0, 0, 0, &three, 8, err) == IDS_EINVAL);   /* a second row start */
	CHECK(pq_writer_put(w, 2, 3, 0, &one, 8, err) == 0);
	CHECK(pq_writer_put(w, 2, 0, 1, NULL, 0, err) == IDS_EINVAL);     /* rep 1 needs def >= 2 */
	CHECK(pq_writer_row_end(w, err) == IDS_EINVAL);                   /* columns 1, 3, 4 missing */
	CHECK_HAS(err->msg, "'s' got no entry");
	pq_writer_row_cancel(w);
	CHECK(pq_writer_num_rows(w) == 2);
	/* {"id":3} */
	if ((rc = pq_writer_row_begin(w, err)) || (rc = pq_writer_put(w, 0, 0, 0, &three, 8, err)) ||
	    (rc = pq_writer_put(w, 1, 0, 0, NULL, 0, err)) || (rc = pq_writer_put(w, 2, 0, 0, NULL, 0, err)) ||
	    (rc = pq_writer_put(w, 3, 0, 0, NULL, 0, err)) || (rc = pq_writer_put(w, 4, 0, 0, NULL, 0, err)))
		return rc;
	return pq_writer_row_end(w, err);
}

static void test_row_put(void)
{
	const char *schema = "{\"fields\":[{\"name\":\"id\",\"type\":\"int64\",\"required\":true},"
			     "{\"name\":\"s\",\"type\":\"string\"},"
			     "{\"name\":\"l\",\"type\":\"list\",\"element\":{\"type\":\"int64\"}},"
			     "{\"name\":\"st\",\"type\":\"struct\",\"fields\":[{\"name\":\"x\",\"type\":\"double\"},"
			     "{\"name\":\"t\",\"type\":\"timestamp\",\"unit\":\"micros\"}]}]}";
	/* the first row's halves in parentheses: one literal (clang's -Wstring-concatenation) */
	const char *rows[] = {("{\"id\":1,\"s\":\"hi\",\"l\":[1,null,3],\"st\":{\"x\":1.5,\"t\":{\"$date\":"
			       "\"2024-01-01T00:00:00.000Z\"}}}"),
			      "{\"id\":2,\"s\":null,\"l\":[],\"st\":null}", "{\"id\":3}"};
	ids_error err = IDS_ERROR_INIT;
	pq_node *s = NULL;
	CHECK(pq_schema_from_json(&s, schema, strlen(schema), PQ_PROFILE_MODERN, &err) == 0);
	ids_buf a = IDS_BUF_INIT, b = IDS_BUF_INIT;
	for (int api = 0; s && api < 2; api++) {
		pq_write_options o = PQ_WRITE_OPTIONS_INIT;
		o.profile = PQ_PROFILE_MODERN;
		const char *path = tmp_path(api ? "put.parquet" : "json.parquet");
		pq_writer *w = NULL;
		CHECK(pq_writer_new(&w, path, s, &o, &err) == 0);
		if (!w)
			break;
		int rc = 0;
		for (int i = 0; !api && !rc && i < 3; i++)
			rc = pq_writer_write_json(w, rows[i], strlen(rows[i]), NULL, &err);
		if (api)
			rc = put_rows(w, &err);
		CHECK(rc == 0);
		if (rc)
			fprintf(stderr, "row_put: %s\n", err.msg);
		CHECK(pq_writer_close(w, &err) == 0);
		pq_writer_free(w);
		CHECK(read_all(path, api ? &b : &a) == 0);
		if (api)
			EXPECT_ROWS(path, "{\"id\":1,\"s\":\"hi\",\"l\":[1,null,3],\"st\":{\"x\":1.5,\"t\":{\"$date\":"
					  "\"2024-01-01T00:00:00.000Z\"}}}\n{\"id\":2,\"s\":null,\"l\":[],\"st\":null}\n"
					  "{\"id\":3,\"s\":null,\"l\":null,\"st\":null}\n");
		unlink(path);
	}
	CHECK(a.len && a.len == b.len && !memcmp(a.data, b.data, a.len));   /* the same file */
	ids_buf_free(&a);
	ids_buf_free(&b);
	pq_node_free(s);
}

int main(void)
{
	if (test_mkdtemp(tmpdir, sizeof tmpdir, "test_pq_write_modes"))
		return 1;
	test_threads();
	test_mixed_apis();
	test_row_put();
	test_pages_span_slices();
	test_linked_pages();
	test_threads_text_times();
	test_bare_repeated();
	test_prefix_inference();
	rmdir(tmpdir);
	return test_report("test_pq_write_modes");
}
