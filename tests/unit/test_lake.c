/* Unit tests of the lake's pure parts: identifier sanitizing, Hive path escaping, type
 * inference and the widening rules (docs/lake-layout.md "Schema"). */
#include <jansson.h>
#include <stdlib.h>
#include <unistd.h>

#include "lake/lake_int.h"
#include "test_util.h"

/* The direct path refuses (IDS_EINVAL, nothing put) a value whose column widened after the
 * writer's schema was built, rather than putting a double's bits into the INT64 column. */
static void direct_wrong_schema(void)
{
	ids_json v1 = IDS_JSON_INIT, v2 = IDS_JSON_INIT;
	CHECK(ids_json_parse(&v1, "{\"a\":1}", 7, 0, 8, NULL) == 0);
	CHECK(ids_json_parse(&v2, "{\"a\":1.5}", 9, 0, 8, NULL) == 0);
	lk_col *cols = NULL;
	size_t nc = 0;
	lk_cols_observe(&cols, &nc, &v1, 0, LK_NESTED_STRUCT, 1, lk_reserved_cols);
	pq_node *root = pq_node_new_group("schema", PQ_REQUIRED);
	pq_node_add(root, lk_type_node(cols[0].name, cols[0].type, PQ_PROFILE_COMPAT));
	char path[] = "/tmp/test_lake_direct_XXXXXX";
	int fd = mkstemp(path);
	if (fd >= 0)
		close(fd);
	pq_writer *w = NULL;
	pq_write_options o = PQ_WRITE_OPTIONS_INIT;
	ids_error err = IDS_ERROR_INIT;
	CHECK(pq_writer_new(&w, path, root, &o, &err) == 0);
	ids_buf tmp = IDS_BUF_INIT, bin = IDS_BUF_INIT;
	lk_emit_ctx e = {.tmp = &tmp, .bin = &bin};
	size_t col = 0;
	CHECK(w && pq_writer_row_begin(w, &err) == 0 && lk_put_cols(w, &col, &e, cols, nc, NULL, &v1, 0, &err) == 0 &&
	      pq_writer_row_end(w, &err) == 0);
	CHECK_EQ_INT(lk_cols_observe(&cols, &nc, &v2, 0, LK_NESTED_STRUCT, 2, lk_reserved_cols), 2);   /* widened */
	col = 0;
	CHECK(w && pq_writer_row_begin(w, &err) == 0);
	CHECK(w && lk_put_cols(w, &col, &e, cols, nc, NULL, &v2, 0, &err) == IDS_EINVAL);
	CHECK_HAS(err.msg, "does not have the table's type");
	pq_writer_row_cancel(w);
	CHECK(w && pq_writer_num_rows(w) == 1 && pq_writer_close(w, &err) == 0);
	pq_writer_free(w);
	unlink(path);
	pq_node_free(root);
	ids_buf_free(&tmp);
	ids_buf_free(&bin);
	ids_json_free(&v1);
	ids_json_free(&v2);
	lk_cols_free(cols, nc);
}

static const char *san(const char *in)
{
	static char out[128];
	lk_sanitize(in, out, sizeof out);
	return out;
}

static const char *kind_after(const char *const *values, size_t n)
{
	lk_col *cols = NULL;
	size_t nc = 0;
	for (size_t i = 0; i < n; i++) {
		ids_json j = IDS_JSON_INIT;
		CHECK(!ids_json_parse(&j, values[i], strlen(values[i]), 0, 64, NULL));
		lk_cols_observe(&cols, &nc, &j, 0, LK_NESTED_STRUCT, 1, lk_reserved_cols);
		ids_json_free(&j);
	}
	static char buf[64];
	snprintf(buf, sizeof buf, "%s", nc ? lk_kind_name(cols[0].type->kind) : "none");
	lk_cols_free(cols, nc);
	return buf;
}

int main(void)
{
	CHECK_EQ_STR(san("Order"), "order_");
	CHECK_EQ_STR(san("my field"), "my_field");
	CHECK_EQ_STR(san("9lives"), "f_9lives");
	CHECK_EQ_STR(san("$$$"), "col");
	CHECK_EQ_STR(san("größe"), "gr_e");
	CHECK_EQ_STR(san("CamelCase__x"), "camelcase_x");
	CHECK(lk_is_reserved("timestamp"));
	CHECK(!lk_is_reserved("total"));

	ids_buf b = IDS_BUF_INIT;
	lk_hive_escape("a/b:c=d%", 8, &b);
	CHECK_EQ_STR(b.data, "a%2Fb%3Ac%3Dd%25");
	ids_buf_free(&b);

	const char *ints[] = {"{\"a\":1}", "{\"a\":2}"};
	CHECK_EQ_STR(kind_after(ints, 2), "bigint");
	const char *widen[] = {"{\"a\":1}", "{\"a\":2.5}"};
	CHECK_EQ_STR(kind_after(widen, 2), "double");
	const char *str[] = {"{\"a\":1}", "{\"a\":\"x\"}"};
	CHECK_EQ_STR(kind_after(str, 2), "string");
	const char *dates[] = {"{\"a\":null}", "{\"a\":{\"$date\":\"2024-01-01T00:00:00.000Z\"}}"};
	CHECK_EQ_STR(kind_after(dates, 2), "timestamp");
	const char *st[] = {"{\"a\":{\"x\":1}}", "{\"a\":{\"y\":true}}"};
	CHECK_EQ_STR(kind_after(st, 2), "struct");
	const char *st2s[] = {"{\"a\":{\"x\":1}}", "{\"a\":3}"};
	CHECK_EQ_STR(kind_after(st2s, 2), "string");
	const char *scalar[] = {"42"};
	CHECK_EQ_STR(kind_after(scalar, 1), "bigint");

	/* a struct widened with a new field appends it */
	lk_col *cols = NULL;
	size_t nc = 0;
	ids_json v1 = IDS_JSON_INIT, v2 = IDS_JSON_INIT;
	const char *t1 = "{\"a\":{\"x\":1}}", *t2 = "{\"B\":1, \"a\":{\"y\":\"s\\u00e9\"}}";
	CHECK(!ids_json_parse(&v1, t1, strlen(t1), 0, 64, NULL) && !ids_json_parse(&v2, t2, strlen(t2), 0, 64, NULL));
	CHECK_EQ_INT(lk_cols_observe(&cols, &nc, &v1, 0, LK_NESTED_STRUCT, 1, lk_reserved_cols), 1);
	CHECK_EQ_INT(lk_cols_observe(&cols, &nc, &v2, 0, LK_NESTED_STRUCT, 2, lk_reserved_cols), 1);
	CHECK_EQ_INT((long long)nc, 2);
	CHECK_EQ_STR(cols[1].name, "b");
	CHECK_EQ_STR(cols[0].type->fields[1].name, "y");
	/* row text: columns in schema order whatever the key order, struct fields by name, strings as sent */
	ids_buf row = IDS_BUF_INIT, tmp = IDS_BUF_INIT;
	lk_emit_ctx e = {.tmp = &tmp};
	lk_emit_cols(&row, &e, cols, nc, NULL, &v2, 0);
	CHECK_EQ_STR(row.data, ",\"a\":{\"x\":null,\"y\":\"s\\u00e9\"},\"b\":1");
	ids_json_free(&v1);
	ids_json_free(&v2);
	lk_cols_free(cols, nc);

	/* conversions into widened columns: numbers keep their text, other kinds become JSON text */
	const char *mixed[] = {
		"{\"n\":1,\"d\":1,\"s\":\"x\",\"t\":{\"$date\":\"2024-01-01T00:00:00.000Z\"},\"big\":1}",
		"{\"n\":2.50,\"d\":123456789012345678901,\"s\":{\"k\":[1, 2.0e3,true]},\"t\":null,\"big\":99999999999999999999}",
		"{\"n\":{\"$num\":\"NaN\"},\"s\":0.1,\"t\":{\"$undefined\":true},\"big\":{\"$esc\":{\"$x\":1}}}",
	};
	cols = NULL;
	nc = 0;
	ids_json jm[3] = {IDS_JSON_INIT, IDS_JSON_INIT, IDS_JSON_INIT};
	for (int i = 0; i < 3; i++) {
		CHECK(!ids_json_parse(&jm[i], mixed[i], strlen(mixed[i]), 0, 64, NULL));
		lk_cols_observe(&cols, &nc, &jm[i], 0, LK_NESTED_JSON, 1, lk_reserved_cols);
	}
	CHECK_EQ_STR(lk_kind_name(cols[0].type->kind), "double");
	CHECK_EQ_STR(lk_kind_name(cols[1].type->kind), "double");
	CHECK_EQ_STR(lk_kind_name(cols[2].type->kind), "string");
	CHECK_EQ_STR(lk_kind_name(cols[3].type->kind), "timestamp");
	CHECK_EQ_STR(lk_kind_name(cols[4].type->kind), "string");
	const char *want[] = {
		",\"n\":1,\"d\":1,\"s\":\"x\",\"t\":{\"$date\":\"2024-01-01T00:00:00.000Z\"},\"big\":\"1\"",
		",\"n\":2.50,\"d\":123456789012345678901,\"s\":\"{\\\"k\\\":[1,2.0e3,true]}\",\"t\":null,\"big\":\"99999999999999999999\"",
		",\"n\":{\"$num\":\"NaN\"},\"d\":null,\"s\":\"0.1\",\"t\":null,\"big\":\"{\\\"$esc\\\":{\\\"$x\\\":1}}\"",
	};
	for (int i = 0; i < 3; i++) {
		ids_buf_reset(&row);
		lk_emit_ctx em = {.tmp = &tmp};
		lk_emit_cols(&row, &em, cols, nc, NULL, &jm[i], 0);
		CHECK_EQ_STR(row.data, want[i]);
		ids_json_free(&jm[i]);
	}
	ids_buf_free(&row);
	ids_buf_free(&tmp);
	lk_cols_free(cols, nc);
	direct_wrong_schema();
	return test_report("test_lake");
}
