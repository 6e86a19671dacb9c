/* A row's value kept once (schema version 2, LEDGER_ROW_VALUE in src/ledger/ledger_int.h): a
 * pushed row's value is stored only in the change log while its change is kept, and every reader
 * (pull, the lake's row scans and lookups, the analytics views, the conflict answers, the merge
 * rule) gets it from there; the change-log prune gives it back to the row first. And a database
 * of version 1 (every row holding its value, older changes pruned), built here from a fresh one
 * as version 1 left it, opens and reads back the same. SQLite only: PostgreSQL keeps each row's
 * value in its row. */
#include "ledger_test.h"

static ledger *open_retention(const char *dir, int64_t retention_ms)
{
	ledger_options o = LEDGER_OPTIONS_INIT;
	o.dir = dir;
	o.base_retention_ms = retention_ms;
	ledger *lg = NULL;
	ids_error err = IDS_ERROR_INIT;
	if (!CHECK_EQ_INT(ledger_open(&lg, &o, &err), 0))
		fprintf(stderr, "  ledger_open(%s): %s\n", dir, err.msg);
	return lg;
}

typedef struct scanned {
	int n;
	char vals[8][32];
} scanned;

static int scan_row(void *ctx, const ledger_row *r)
{
	scanned *s = ctx;
	if (s->n < 8)
		snprintf(s->vals[s->n], sizeof s->vals[0], "%.*s", (int)r->value_len, r->value ? r->value : "(null)");
	s->n++;
	return 0;
}

static int get_row(void *ctx, size_t i, int found, const ledger_row *r)
{
	scanned *s = ctx;
	snprintf(s->vals[i], sizeof s->vals[0], "%.*s", found ? (int)r->value_len : 6, found && r->value ? r->value : "absent");
	s->n++;
	return 0;
}

/* What every reader sees of db "v", store "s": keys a (deleted), b = {"v":22}, c = "c1",
 * d = [4] (d written and lost to in one push), m = {"x":1,"y":2} (merge store "m"). */
static void check_reads(ledger *lg, const char *dir)
{
	pulled *p = pull(lg, "v", "", NULL, 0, 0);
	CHECK_EQ_INT(p->rc, 0);
	CHECK_EQ_INT(p->count, 5);
	CHECK(find_key(p, "\"a\"") && find_key(p, "\"a\"")->del == 1);
	CHECK(find_key(p, "\"b\"") && !strcmp(find_key(p, "\"b\"")->value, "{\"v\":22}"));
	CHECK(find_key(p, "\"c\"") && !strcmp(find_key(p, "\"c\"")->value, "\"c1\""));
	CHECK(find_key(p, "\"d\"") && !strcmp(find_key(p, "\"d\"")->value, "[4]"));
	CHECK(find_key(p, "\"m\"") && !strcmp(find_key(p, "\"m\"")->value, "{\"x\":1,\"y\":2}"));

	/* the lake's reads: a store's live rows, and rows by key */
	ids_error err = IDS_ERROR_INIT;
	scanned s = {0};
	int64_t head = 0;
	CHECK_EQ_INT(ledger_rows_scan(lg, "v", "s", 0, UINT32_MAX, scan_row, &s, &head, &err), 0);
	CHECK_EQ_INT(s.n, 3);
	for (int i = 0; i < 3; i++)
		CHECK(!strcmp(s.vals[i], "{\"v\":22}") || !strcmp(s.vals[i], "\"c1\"") || !strcmp(s.vals[i], "[4]"));
	ledger_key_ref keys[3] = {{"", NULL, 0}, {"", NULL, 0}, {"", NULL, 0}};
	ids_buf kb[3] = {IDS_BUF_INIT, IDS_BUF_INIT, IDS_BUF_INIT};
	const char *kj[3] = {"\"b\"", "\"a\"", "\"d\""};
	for (int i = 0; i < 3; i++) { /* the stored (binary) form of each key */
		ids_json j = IDS_JSON_INIT;
		CHECK_EQ_INT(ids_json_parse(&j, kj[i], strlen(kj[i]), 0, 0, &err), 0);
		CHECK_EQ_INT(ids_key_encode(&j, 0, &kb[i], &err), 0);
		ids_json_free(&j);
		keys[i].key = (const uint8_t *)kb[i].data;
		keys[i].key_len = kb[i].len;
	}
	s = (scanned){0};
	CHECK_EQ_INT(ledger_rows_get(lg, "v", "s", keys, 3, get_row, &s, &head, &err), 0);
	CHECK_EQ_STR(s.vals[0], "{\"v\":22}");
	CHECK_EQ_STR(s.vals[1], "absent");
	CHECK_EQ_STR(s.vals[2], "[4]");
	for (int i = 0; i < 3; i++)
		ids_buf_free(&kb[i]);

	/* the analytics views */
	ids_buf out = IDS_BUF_INIT;
	const char *q = "SELECT _key, v FROM s WHERE v IS NOT NULL";
	CHECK_EQ_INT(ledger_query(lg, "v", "", q, strlen(q), NULL, 0, NULL, &out, &err), 0);
	CHECK_HAS(out.data, "\"rows\":[[\"\\\"b\\\"\",22]]");
	ids_buf_free(&out);
	(void)dir;
}

/* Pushes the rows check_reads expects. */
static void push_rows(ledger *lg)
{
	ledger_push_result r;
	ids_error err = IDS_ERROR_INIT;
	CHECK_EQ_INT(ledger_set_rule(lg, "v", "m", IDS_RULE_MERGE), 0);
	CHECK_EQ_INT(pushf(lg, "v", "", &r, &err,
			   "{\"client\":\"A\",\"mutations\":["
			   "{\"id\":1,\"store\":\"s\",\"op\":\"put\",\"key\":\"a\",\"value\":1},"
			   "{\"id\":2,\"store\":\"s\",\"op\":\"put\",\"key\":\"b\",\"value\":{\"v\":2}},"
			   "{\"id\":3,\"store\":\"s\",\"op\":\"put\",\"key\":\"c\",\"value\":\"c1\"},"
			   "{\"id\":4,\"store\":\"s\",\"op\":\"put\",\"key\":\"d\",\"value\":[4],\"hlc\":\"%s\"},"
			   /* loses to id 4, whose value is still queued for the change log: the answer names it */
			   "{\"id\":5,\"store\":\"s\",\"op\":\"put\",\"key\":\"d\",\"value\":[3],\"hlc\":\"%s\"},"
			   "{\"id\":6,\"store\":\"m\",\"op\":\"put\",\"key\":\"m\",\"value\":{\"x\":1}}]}",
			   hlc_at(2000, 0, "A"), hlc_at(1000, 0, "A")),
		     0);
	CHECK_EQ_INT(r.applied, 5);
	CHECK_EQ_INT(r.conflicts, 1);
	CHECK_HAS(r.conflicts_json.data, "[4]");
	ledger_push_result_free(&r);
	CHECK_EQ_INT(pushf(lg, "v", "", &r, &err,
			   "{\"client\":\"A\",\"mutations\":["
			   "{\"id\":7,\"store\":\"s\",\"op\":\"put\",\"key\":\"b\",\"value\":{\"v\":22}},"
			   "{\"id\":8,\"store\":\"s\",\"op\":\"delete\",\"key\":\"a\"},"
			   /* merged with the row's value, read from the change log */
			   "{\"id\":9,\"store\":\"m\",\"op\":\"put\",\"key\":\"m\",\"value\":{\"y\":2}}]}"),
		     0);
	CHECK_EQ_INT(r.applied, 3);
	ledger_push_result_free(&r);
}

/* Client B's mutation `id` on key d, older than d's [4]: it loses, and the answer names [4]. */
static void lose_to_d(ledger *lg, int id, int64_t offset_ms)
{
	ledger_push_result r;
	ids_error err = IDS_ERROR_INIT;
	CHECK_EQ_INT(pushf(lg, "v", "", &r, &err,
			   "{\"client\":\"B\",\"mutations\":[{\"id\":%d,\"store\":\"s\",\"op\":\"put\",\"key\":\"d\","
			   "\"value\":[%d],\"hlc\":\"%s\"}]}", id, id, hlc_at(offset_ms, 0, "B")),
		     0);
	CHECK_EQ_INT(r.conflicts, 1);
	CHECK_HAS(r.conflicts_json.data, "[4]");
	ledger_push_result_free(&r);
}

static void value_once(const char *dir)
{
	ledger *lg = open_retention(dir, -60000); /* the prune below takes every change */
	if (!lg)
		return;
	push_rows(lg);
	/* stored once: no row holds its value while its change is kept */
	CHECK_EQ_INT(sql_int(dir, "SELECT count(*) FROM rows WHERE value IS NOT NULL"), 0);
	CHECK_EQ_INT(sql_int(dir, "SELECT v FROM meta WHERE k='schema_version'"), 3);
	check_reads(lg, dir);
	/* a loser against a row written in an earlier push: the winner's value from the log */
	ids_error err = IDS_ERROR_INIT;
	lose_to_d(lg, 1, 500);

	/* the prune gives each value back to its row before the change goes */
	CHECK_EQ_INT(ledger_changes_prune(lg, ledger_head(lg), &err), 0);
	CHECK_EQ_INT(sql_int(dir, "SELECT count(*) FROM changes"), 0);
	CHECK_EQ_INT(sql_int(dir, "SELECT count(*) FROM rows WHERE value IS NULL AND deleted=0"), 0);
	check_reads(lg, dir);
	/* and a loser against such a row */
	lose_to_d(lg, 2, 600);
	ledger_free(lg);
}

/* A backlog larger than one prune transaction (PRUNE_BATCH, 65,536 changes): the prune takes
 * it in several, and every row gets its value back. */
static void prune_backlog(const char *dir)
{
	ledger *lg = open_retention(dir, -60000);
	if (!lg)
		return;
	ids_buf body = IDS_BUF_INIT;
	ledger_push_result r;
	ids_error err = IDS_ERROR_INIT;
	const int per = 1000, batches = 70;
	for (int bi = 0; bi < batches; bi++) {
		nth_batch(&body, "P", bi, per, "s");
		CHECK_EQ_INT(push(lg, "v", "", body.data, &r, &err), 0);
		ledger_push_result_free(&r);
	}
	CHECK_EQ_INT(sql_int(dir, "SELECT count(*) FROM rows WHERE value IS NULL"), per * batches);
	CHECK_EQ_INT(ledger_changes_prune(lg, ledger_head(lg), &err), 0);
	CHECK_EQ_INT(sql_int(dir, "SELECT count(*) FROM changes"), 0);
	CHECK_EQ_INT(sql_int(dir, "SELECT count(*) FROM rows WHERE value IS NULL"), 0);
	/* each row holds its own value (<id> for ids 1..70,000), none lost or taken twice */
	CHECK(sql_int(dir, "SELECT sum(CAST(value AS INTEGER)) FROM rows") == 70000LL * 70001 / 2);
	CHECK_EQ_INT(sql_int(dir, "SELECT count(DISTINCT value) FROM rows"), per * batches);
	ids_buf_free(&body);
	ledger_free(lg);
}

/* A database as version 1 left it: every row holds its value, the rows table has its old unique
 * key (old_rows_table), and the change log lost its older changes to the prune (here all but the
 * newest: b's update). */
static void version_1(const char *dir)
{
	ledger *lg = open_retention(dir, 24 * 3600 * 1000LL);
	if (!lg)
		return;
	push_rows(lg);
	ledger_free(lg);
	CHECK_EQ_INT(old_rows_table(dir), SQLITE_OK);
	CHECK_EQ_INT(sql_exec(dir, "UPDATE rows SET value=(SELECT value FROM changes c WHERE c.seq=rows.seq)"
				   " WHERE value IS NULL AND deleted=0;"
				   "DELETE FROM changes WHERE seq < (SELECT seq FROM changes WHERE op=1 ORDER BY seq DESC LIMIT 1);"
				   "UPDATE meta SET v=1 WHERE k='schema_version';"),
		     SQLITE_OK);
	CHECK_EQ_INT(sql_int(dir, "SELECT count(*) FROM rows WHERE value IS NULL AND deleted=0"), 0);
	lg = open_retention(dir, 24 * 3600 * 1000LL);
	if (!lg)
		return;
	CHECK_EQ_INT(sql_int(dir, "SELECT v FROM meta WHERE k='schema_version'"), 3);
	check_reads(lg, dir);
	CHECK_EQ_INT(ledger_set_rule(lg, "v", "m", IDS_RULE_MERGE), 0); /* rules are not stored */
	/* writes on version-1 rows: an update (the row lets its value go), a merge, a loser */
	ledger_push_result r;
	ids_error err = IDS_ERROR_INIT;
	CHECK_EQ_INT(pushf(lg, "v", "", &r, &err,
			   "{\"client\":\"C\",\"mutations\":["
			   "{\"id\":1,\"store\":\"s\",\"op\":\"put\",\"key\":\"c\",\"value\":\"c2\"},"
			   "{\"id\":2,\"store\":\"m\",\"op\":\"put\",\"key\":\"m\",\"value\":{\"z\":3}},"
			   "{\"id\":3,\"store\":\"s\",\"op\":\"put\",\"key\":\"d\",\"value\":[0],\"hlc\":\"%s\"}]}",
			   hlc_at(100, 0, "C")),
		     0);
	CHECK_EQ_INT(r.applied, 2);
	CHECK_EQ_INT(r.conflicts, 1);
	CHECK_HAS(r.conflicts_json.data, "[4]");
	ledger_push_result_free(&r);
	pulled *p = pull(lg, "v", "", NULL, 0, 0);
	CHECK(find_key(p, "\"c\"") && !strcmp(find_key(p, "\"c\"")->value, "\"c2\""));
	CHECK(find_key(p, "\"m\""));
	CHECK_EQ_STR(find_key(p, "\"m\"") ? find_key(p, "\"m\"")->value : "", "{\"x\":1,\"y\":2,\"z\":3}");
	CHECK(find_key(p, "\"d\"") && !strcmp(find_key(p, "\"d\"")->value, "[4]"));
	ledger_free(lg);

	/* a database of a newer version than this binary knows is refused, not misread */
	CHECK_EQ_INT(sql_exec(dir, "UPDATE meta SET v=4 WHERE k='schema_version'"), SQLITE_OK);
	ledger_options o = LEDGER_OPTIONS_INIT;
	o.dir = dir;
	lg = NULL;
	CHECK(ledger_open(&lg, &o, &err) != 0);
	CHECK(lg == NULL);
	CHECK_HAS(err.msg, "schema version 4");
}

int main(void)
{
	if (pg_template()) /* PostgreSQL keeps every row's value in its row */
		return 77;
	if (test_mkdtemp(tmproot, sizeof tmproot, "ids_test_ledger_value"))
		return 1;
	char dir[512];
	make_dir(dir, sizeof dir, "once");
	value_once(dir);
	make_dir(dir, sizeof dir, "backlog");
	prune_backlog(dir);
	make_dir(dir, sizeof dir, "v1");
	version_1(dir);
	test_rmtree(tmproot);
	return test_report("test_ledger_value");
}
