/* Unit tests for the importer (src/import, imp_files): Parquet files written with our own
 * writer are imported into a real store and pulled back. Each type's conversion of
 * docs/types.md, duplicate keys counted (and the first one named), _op deletes, replace mode, a
 * re-import absorbed by the client's ids, rows owned by users; and the errors: a missing key
 * column lists the file's columns, a bad row names file, row and field, a file that is not
 * Parquet names the file, and none of them applies anything. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idbsync/import.h"
#include "idbsync/json.h"
#include "idbsync/ledger.h"

#include "pq_write_test.h"

static char root[256];

/* ROOT/name (four at a time stay valid). */
static const char *at(const char *name)
{
	static char p[4][512];
	static int i;
	i = (i + 1) % 4;
	snprintf(p[i], sizeof p[i], "%s/%s", root, name);
	return p[i];
}

/* ROOT/name, written from schema and NDJSON rows (write_parquet_file). */
static const char *write_parquet(const char *name, const char *schema, const char *ndjson,
				 const char *interval_col)
{
	const char *path = at(name);
	write_parquet_file(path, schema, ndjson, interval_col);
	return path;
}

static void write_bytes(const char *name, const void *p, size_t n)
{
	FILE *f = fopen(at(name), "wb");
	if (!f || fwrite(p, 1, n, f) != n)
		TEST_FAIL("cannot write %s", at(name));
	if (f)
		fclose(f);
}

static ledger *open_ledger(const char *name)
{
	ledger_options o = LEDGER_OPTIONS_INIT;
	o.dir = at(name);
	o.durable = 0;
	ledger *lg = NULL;
	ids_error err = IDS_ERROR_INIT;
	if (!CHECK_EQ_INT(ledger_open(&lg, &o, &err), 0))
		TEST_FAIL("ledger_open: %s", err.msg);
	return lg;
}

/* Imports files into db "shop", store st_name (key "id" unless key is given), under a client
 * id of its own: mutation ids are (file, row) positions, so two imports under one client id
 * would be the same mutations. */
static int import(ledger *lg, const char *st_name, const char *key, const char *const *files, size_t n,
		  imp_summary *sum, ids_error *err)
{
	static int calls;
	char client[32];
	snprintf(client, sizeof client, "unit-import-%d", ++calls);
	imp_options o = IMP_OPTIONS_INIT;
	o.db = "shop";
	o.store = st_name;
	if (key)
		o.key_field = key;
	o.client = client;
	return imp_files(lg, &o, files, n, sum, err);
}

/* The live rows of one store as "key=value" lines in pull order (the caller frees). */
static char *rows_of(ledger *lg, const char *user, const char *st_name)
{
	ids_buf out = IDS_BUF_INIT, page = IDS_BUF_INIT;
	ids_error err = IDS_ERROR_INIT;
	ledger_pull_req pr = {"shop", user, NULL, 0, 10000, 0};
	int64_t cursor;
	int count;
	ids_json j = IDS_JSON_INIT;
	if (ledger_pull(lg, &pr, &page, &cursor, &count, &err) ||
	    ids_json_parse(&j, page.data, page.len, 0, 64, &err)) {
		TEST_FAIL("pull: %s", err.msg);
		goto done;
	}
	long ch = ids_json_get(&j, 0, "changes");
	size_t t = (size_t)ch + 1;
	for (uint32_t i = 0; ch >= 0 && i < j.tok[ch].size; i++, t = j.tok[t].next) {
		long st = ids_json_get(&j, t, "store"), op = ids_json_get(&j, t, "op");
		long k = ids_json_get(&j, t, "key"), v = ids_json_get(&j, t, "value");
		if (!ids_json_streq(&j, (size_t)st, st_name) || !ids_json_streq(&j, (size_t)op, "put"))
			continue;
		ids_buf_append(&out, page.data + j.tok[k].start, j.tok[k].end - j.tok[k].start);
		ids_buf_putc(&out, '=');
		ids_buf_append(&out, page.data + j.tok[v].start, j.tok[v].end - j.tok[v].start);
		ids_buf_putc(&out, '\n');
	}
done:
	ids_json_free(&j);
	ids_buf_free(&page);
	ids_buf_putc(&out, 0);
	return ids_buf_steal(&out, NULL);
}

static void check_rows(ledger *lg, const char *user, const char *st_name, const char *want, int line)
{
	char *got = rows_of(lg, user, st_name);
	if (strcmp(got, want))
		test_fail(__FILE__, line, "rows of %s differ:\n  got:\n%s  want:\n%s", st_name, got, want);
	else
		test_passed++;
	free(got);
}
#define CHECK_ROWS(s, user, st_name, want) check_rows(s, user, st_name, want, __LINE__)

/* One row per Parquet type the importer meets, and what docs/types.md says it becomes. */
static void conversions(ledger *lg)
{
	static const char schema[] =
		"{\"fields\":[{\"name\":\"id\",\"type\":\"int64\",\"required\":true},"
		"{\"name\":\"i32\",\"type\":\"int32\"},{\"name\":\"big\",\"type\":\"int64\"},"
		"{\"name\":\"dbl\",\"type\":\"double\"},{\"name\":\"s\",\"type\":\"string\"},"
		"{\"name\":\"b\",\"type\":\"boolean\"},{\"name\":\"day\",\"type\":\"date\"},"
		"{\"name\":\"ts\",\"type\":\"timestamp\",\"unit\":\"millis\"},"
		"{\"name\":\"price\",\"type\":\"decimal\",\"precision\":10,\"scale\":2},"
		"{\"name\":\"wide\",\"type\":\"decimal\",\"precision\":20,\"scale\":2},"
		"{\"name\":\"huge\",\"type\":\"decimal\",\"precision\":38,\"scale\":0},"
		"{\"name\":\"iv\",\"type\":\"fixed\",\"length\":12},"
		"{\"name\":\"tags\",\"type\":\"list\",\"element\":{\"type\":\"string\"}},"
		"{\"name\":\"addr\",\"type\":\"struct\",\"fields\":[{\"name\":\"city\",\"type\":\"string\"},"
		"{\"name\":\"fee\",\"type\":\"decimal\",\"precision\":6,\"scale\":2}]},"
		"{\"name\":\"raw\",\"type\":\"binary\"}]}";
	/* INTERVAL 1 year 2 months 3 days 04:05:06.789, 90 minutes, zero (months, days, ms LE) */
	static const char rows[] =
		"{\"id\":1,\"i32\":-5,\"big\":9007199254740993,\"dbl\":1.5,\"s\":\"a\\\"b\",\"b\":true,"
		"\"day\":{\"$date\":\"2024-02-29T00:00:00.000Z\"},\"ts\":{\"$date\":\"2024-01-01T10:00:00.123Z\"},"
		"\"price\":\"63.00\",\"wide\":\"12345678901234567.89\",\"huge\":\"123456789012345678901234567890\","
		"\"iv\":{\"$bin\":\"DgAAAAMAAABlaOAA\"},\"tags\":[\"x\",null],\"addr\":{\"city\":\"Oslo\",\"fee\":\"1.50\"},"
		"\"raw\":{\"$bin\":\"AP8=\"}}\n"
		"{\"id\":2,\"big\":-42,\"price\":\"-0.05\",\"huge\":\"-9007199254740993\",\"iv\":{\"$bin\":\"AAAAAAAAAADAZVIA\"}}\n"
		"{\"id\":3,\"huge\":\"12\",\"iv\":{\"$bin\":\"AAAAAAAAAAAAAAAA\"}}\n";
	const char *f = write_parquet("types.parquet", schema, rows, "iv");
	imp_summary sum;
	ids_error err = IDS_ERROR_INIT;
	if (!CHECK_EQ_INT(import(lg, "types", NULL, &f, 1, &sum, &err), 0))
		TEST_FAIL("import: %s", err.msg);
	CHECK_EQ_INT(sum.files, 1);
	CHECK_EQ_INT(sum.rows, 3);
	CHECK_EQ_INT(sum.puts, 3);
	CHECK_EQ_INT(sum.keys, 3);
	CHECK_EQ_INT(sum.duplicate_keys, 0);
	CHECK_EQ_STR(sum.first_duplicate, "");
	/* numbers stay numbers; a 64-bit integer past 2^53 is a $bigint; DECIMAL(p<=15) a number,
	 * DECIMAL(p,0) an integer ($bigint past 2^53), wider decimals exact strings; nested
	 * decimals keep the reader's string; INTERVAL an ISO-8601 duration; dates $date */
	CHECK_ROWS(lg, "", "types",
		   "1={\"id\":1,\"i32\":-5,\"big\":{\"$bigint\":\"9007199254740993\"},\"dbl\":1.5,\"s\":\"a\\\"b\","
		   "\"b\":true,\"day\":{\"$date\":\"2024-02-29T00:00:00.000Z\"},"
		   "\"ts\":{\"$date\":\"2024-01-01T10:00:00.123Z\"},\"price\":63.00,\"wide\":\"12345678901234567.89\","
		   "\"huge\":{\"$bigint\":\"123456789012345678901234567890\"},\"iv\":\"P1Y2M3DT4H5M6.789S\","
		   "\"tags\":[\"x\",null],\"addr\":{\"city\":\"Oslo\",\"fee\":\"1.50\"},\"raw\":{\"$bin\":\"AP8=\"}}\n"
		   "2={\"id\":2,\"i32\":null,\"big\":-42,\"dbl\":null,\"s\":null,\"b\":null,\"day\":null,\"ts\":null,"
		   "\"price\":-0.05,\"wide\":null,\"huge\":{\"$bigint\":\"-9007199254740993\"},\"iv\":\"PT1H30M\","
		   "\"tags\":null,\"addr\":null,\"raw\":null}\n"
		   "3={\"id\":3,\"i32\":null,\"big\":null,\"dbl\":null,\"s\":null,\"b\":null,\"day\":null,\"ts\":null,"
		   "\"price\":null,\"wide\":null,\"huge\":12,\"iv\":\"PT0S\",\"tags\":null,\"addr\":null,\"raw\":null}\n");

	/* a DECIMAL key column gives the same number as key */
	static const char kschema[] = "{\"fields\":[{\"name\":\"code\",\"type\":\"decimal\",\"precision\":6,"
				      "\"scale\":1},{\"name\":\"v\",\"type\":\"string\"}]}";
	f = write_parquet("dkey.parquet", kschema, "{\"code\":\"7.5\",\"v\":\"a\"}\n", NULL);
	if (!CHECK_EQ_INT(import(lg, "dkey", "code", &f, 1, &sum, &err), 0))
		TEST_FAIL("import: %s", err.msg);
	CHECK_ROWS(lg, "", "dkey", "7.5={\"code\":7.5,\"v\":\"a\"}\n");
}

static const char plain[] = "{\"fields\":[{\"name\":\"id\",\"type\":\"int64\"},{\"name\":\"v\",\"type\":\"string\"},"
			    "{\"name\":\"_op\",\"type\":\"string\"},{\"name\":\"owner\",\"type\":\"string\"}]}";

/* Rows of one import with a key an earlier row had: the last wins, each is counted, the first
 * is named with the file's given name and its row. */
static void duplicates(ledger *lg)
{
	const char *files[2];
	files[0] = write_parquet("d1.parquet", plain, "{\"id\":1,\"v\":\"a\"}\n{\"id\":2,\"v\":\"b\"}\n{\"id\":1,\"v\":\"c\"}\n", NULL);
	files[1] = write_parquet("d2.parquet", plain, "{\"id\":2,\"v\":\"d\"}\n{\"id\":3,\"v\":\"e\"}\n", NULL);
	const char *names[2] = {"first.parquet", "second.parquet"};
	imp_options o = IMP_OPTIONS_INIT;
	o.db = "shop";
	o.store = "dups";
	o.client = "unit-dups";
	o.names = names;
	imp_summary sum;
	ids_error err = IDS_ERROR_INIT;
	if (!CHECK_EQ_INT(imp_files(lg, &o, files, 2, &sum, &err), 0))
		TEST_FAIL("import: %s", err.msg);
	CHECK_EQ_INT(sum.rows, 5);
	CHECK_EQ_INT(sum.keys, 3);
	CHECK_EQ_INT(sum.duplicate_keys, 2);
	CHECK_EQ_STR(sum.first_duplicate, "key 1: first.parquet row 3");
	CHECK_ROWS(lg, "", "dups",
		   "1={\"id\":1,\"v\":\"c\",\"owner\":null}\n2={\"id\":2,\"v\":\"d\",\"owner\":null}\n"
		   "3={\"id\":3,\"v\":\"e\",\"owner\":null}\n");

	/* the same files under the same client again: every mutation is a duplicate, none applies */
	int64_t head = ledger_head(lg);
	if (!CHECK_EQ_INT(imp_files(lg, &o, files, 2, &sum, &err), 0))
		TEST_FAIL("re-import: %s", err.msg);
	CHECK_EQ_INT(sum.duplicates, 5);
	CHECK_EQ_INT(ledger_head(lg), head);

	/* a dry run counts the same without a ledger */
	o.dry_run = 1;
	o.client = "unit-dry";
	CHECK_EQ_INT(imp_files(NULL, &o, files, 2, &sum, &err), 0);
	CHECK_EQ_INT(sum.rows, 5);
	CHECK_EQ_INT(sum.duplicate_keys, 2);
	CHECK_EQ_STR(sum.first_duplicate, "key 1: first.parquet row 3");
	CHECK_EQ_INT(ledger_head(lg), head);
}

/* _op deletes, replace mode deleting what the files do not mention, and user-owned rows. */
static void ops_replace_users(ledger *lg)
{
	const char *f = write_parquet("base.parquet", plain,
				      "{\"id\":1,\"v\":\"a\"}\n{\"id\":2,\"v\":\"b\"}\n{\"id\":3,\"v\":\"c\"}\n", NULL);
	imp_summary sum;
	ids_error err = IDS_ERROR_INIT;
	CHECK_EQ_INT(import(lg, "ops", NULL, &f, 1, &sum, &err), 0);
	f = write_parquet("del.parquet", plain, "{\"id\":2,\"_op\":\"delete\"}\n{\"id\":4,\"v\":\"d\",\"_op\":\"put\"}\n", NULL);
	imp_options o = IMP_OPTIONS_INIT;
	o.db = "shop";
	o.store = "ops";
	o.client = "unit-ops-2";
	CHECK_EQ_INT(imp_files(lg, &o, &f, 1, &sum, &err), 0);
	CHECK_EQ_INT(sum.puts, 1);
	CHECK_EQ_INT(sum.deletes, 1);
	/* the _op column is not part of the value */
	CHECK_ROWS(lg, "", "ops",
		   "1={\"id\":1,\"v\":\"a\",\"owner\":null}\n3={\"id\":3,\"v\":\"c\",\"owner\":null}\n"
		   "4={\"id\":4,\"v\":\"d\",\"owner\":null}\n");

	f = write_parquet("repl.parquet", plain, "{\"id\":3,\"v\":\"C\"}\n", NULL);
	o.mode = IMP_REPLACE;
	o.client = "unit-ops-3";
	CHECK_EQ_INT(imp_files(lg, &o, &f, 1, &sum, &err), 0);
	CHECK_EQ_INT(sum.replaced, 2);
	CHECK_ROWS(lg, "", "ops", "3={\"id\":3,\"v\":\"C\",\"owner\":null}\n");

	f = write_parquet("users.parquet", plain,
			  "{\"id\":1,\"v\":\"a\",\"owner\":\"alice\"}\n{\"id\":1,\"v\":\"b\",\"owner\":\"bob\"}\n", NULL);
	o = (imp_options)IMP_OPTIONS_INIT;
	o.db = "shop";
	o.store = "owned";
	o.user_column = "owner";
	o.client = "unit-users";
	CHECK_EQ_INT(imp_files(lg, &o, &f, 1, &sum, &err), 0);
	CHECK_EQ_INT(sum.keys, 2);              /* the same key of two users: two rows */
	CHECK_EQ_INT(sum.duplicate_keys, 0);
	CHECK_ROWS(lg, "alice", "owned", "1={\"id\":1,\"v\":\"a\",\"owner\":\"alice\"}\n");
	CHECK_ROWS(lg, "bob", "owned", "1={\"id\":1,\"v\":\"b\",\"owner\":\"bob\"}\n");
}

/* Every refusal names what is wrong, and nothing of the import is applied. */
static void errors(ledger *lg)
{
	imp_summary sum;
	ids_error err = IDS_ERROR_INIT;
	int64_t head = ledger_head(lg);

	/* no key column: the message lists the columns the file has */
	const char *f = write_parquet("nokey.parquet", "{\"fields\":[{\"name\":\"sku\",\"type\":\"string\"},"
				      "{\"name\":\"qty\",\"type\":\"int32\"}]}", "{\"sku\":\"a\",\"qty\":1}\n", NULL);
	CHECK_EQ_INT(import(lg, "e", NULL, &f, 1, &sum, &err), IDS_EINVAL);
	CHECK_HAS(err.msg, "nokey.parquet: no column \"id\" to take the key from; the file has the columns sku, qty");
	CHECK_HAS(err.msg, "--key COLUMN");
	/* and with --key naming a column it has, the same file imports */
	CHECK_EQ_INT(import(lg, "e", "sku", &f, 1, &sum, &err), 0);
	CHECK_EQ_INT(ledger_head(lg), head + 1);
	head = ledger_head(lg);

	/* a second file without the key fails the whole import before anything is pushed */
	const char *two[2] = {write_parquet("ok.parquet", plain, "{\"id\":9,\"v\":\"x\"}\n", NULL), f};
	CHECK_EQ_INT(import(lg, "e", NULL, two, 2, &sum, &err), IDS_EINVAL);
	CHECK_HAS(err.msg, "nokey.parquet: no column \"id\"");
	CHECK_EQ_INT(ledger_head(lg), head);

	/* bad rows: file, row and field named; the batch they are in is not applied */
	f = write_parquet("badop.parquet", plain, "{\"id\":1,\"v\":\"a\"}\n{\"id\":2,\"_op\":\"upsert\"}\n", NULL);
	CHECK_EQ_INT(import(lg, "e", NULL, &f, 1, &sum, &err), IDS_EINVAL);
	CHECK_HAS(err.msg, "badop.parquet: row 2: _op must be \"put\" or \"delete\"");
	f = write_parquet("nullkey.parquet", plain, "{\"id\":1,\"v\":\"a\"}\n{\"v\":\"b\"}\n", NULL);
	CHECK_EQ_INT(import(lg, "e", NULL, &f, 1, &sum, &err), IDS_EINVAL);
	CHECK_HAS(err.msg, "nullkey.parquet: row 2: the key field \"id\" is missing or null");
	f = write_parquet("baduser.parquet", plain, "{\"id\":1,\"owner\":\"has space\"}\n", NULL);
	imp_options o = IMP_OPTIONS_INIT;
	o.db = "shop";
	o.store = "e";
	o.user_column = "owner";
	CHECK_EQ_INT(imp_files(lg, &o, &f, 1, &sum, &err), IDS_EINVAL);
	CHECK_HAS(err.msg, "baduser.parquet: row 1: column owner is not a valid user id");
	CHECK_EQ_INT(ledger_head(lg), head);

	/* files that are not Parquet: missing, empty, junk, cut short; named by their given name */
	const char *missing = at("no-such.parquet");
	CHECK(import(lg, "e", NULL, &missing, 1, &sum, &err) != 0);
	CHECK_HAS(err.msg, "no-such.parquet");
	write_bytes("empty.parquet", "", 0);
	write_bytes("junk.parquet", "this is not a parquet file at all, just text\n", 45);
	FILE *in = fopen(at("ok.parquet"), "rb");
	char buf[4096];
	size_t n = in ? fread(buf, 1, sizeof buf, in) : 0;
	if (in)
		fclose(in);
	CHECK(n > 40);
	write_bytes("cut.parquet", buf, n - 20);
	const char *bad[] = {"empty.parquet", "junk.parquet", "cut.parquet"};
	for (size_t i = 0; i < 3; i++) {
		const char *p = at(bad[i]), *name = "upload.parquet";
		o = (imp_options)IMP_OPTIONS_INIT;
		o.db = "shop";
		o.store = "e";
		o.names = &name;
		int rc = imp_files(lg, &o, &p, 1, &sum, &err);
		if (!CHECK(rc == IDS_ECORRUPT || rc == IDS_EINVAL))
			TEST_FAIL("%s: rc %d: %s", bad[i], rc, err.msg);
		CHECK_HAS(err.msg, "upload.parquet");
		if (strstr(err.msg, root))
			TEST_FAIL("%s: the message shows the server's path: %s", bad[i], err.msg);
	}
	CHECK_EQ_INT(ledger_head(lg), head);

	/* the options themselves */
	o = (imp_options)IMP_OPTIONS_INIT;
	o.store = "e";
	CHECK_EQ_INT(imp_files(lg, &o, &f, 1, &sum, &err), IDS_EINVAL);
	CHECK_HAS(err.msg, "--db");
	o.db = "_hidden";
	CHECK_EQ_INT(imp_files(lg, &o, &f, 1, &sum, &err), IDS_EINVAL);
	CHECK_HAS(err.msg, "--db");
	o.db = "shop";
	o.store = NULL;
	CHECK_EQ_INT(imp_files(lg, &o, &f, 1, &sum, &err), IDS_EINVAL);
	CHECK_HAS(err.msg, "--store");
	o.store = "e";
	CHECK_EQ_INT(imp_files(NULL, &o, &f, 1, &sum, &err), IDS_EINVAL);
	CHECK_EQ_INT(ledger_head(lg), head);
}

int main(void)
{
	if (test_mkdtemp(root, sizeof root, "ids_test_import"))
		return 1;
	ledger *lg = open_ledger("data");
	if (lg) {
		conversions(lg);
		duplicates(lg);
		ops_replace_users(lg);
		errors(lg);
	}
	ledger_free(lg);
	test_rmtree(root);
	return test_report("test_import");
}
