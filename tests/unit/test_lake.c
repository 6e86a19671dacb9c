/* Unit tests of the lake's pure parts: identifier sanitizing, Hive path escaping, type
 * inference and the widening rules (docs/lake-layout.md "Schema"). */
#include <jansson.h>
#include <stdlib.h>

#include "lake/lake_int.h"
#include "test_util.h"

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
		json_t *v = json_loads(values[i], JSON_DECODE_ANY, NULL);
		lk_cols_observe(&cols, &nc, v, LK_NESTED_STRUCT, 1, lk_reserved_cols);
		json_decref(v);
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
	json_t *v1 = json_loads("{\"a\":{\"x\":1}}", 0, NULL), *v2 = json_loads("{\"a\":{\"y\":\"s\"},\"B\":1}", 0, NULL);
	CHECK_EQ_INT(lk_cols_observe(&cols, &nc, v1, LK_NESTED_STRUCT, 1, lk_reserved_cols), 1);
	CHECK_EQ_INT(lk_cols_observe(&cols, &nc, v2, LK_NESTED_STRUCT, 2, lk_reserved_cols), 1);
	CHECK_EQ_INT((long long)nc, 2);
	CHECK_EQ_STR(cols[1].name, "b");
	CHECK_EQ_STR(cols[0].type->fields[1].name, "y");
	json_t *row = lk_convert(v2, cols[0].type);
	json_decref(row);
	json_decref(v1);
	json_decref(v2);
	lk_cols_free(cols, nc);
	return test_report("test_lake");
}
