/* Rows found by their user and key length first (schema 3: rows_key(sid, ukl, key), ROWS_INDEXES
 * in src/ledger/ledger.c, ledger_row_ukl): keys that share a prefix or a length stay apart, users
 * keep their own rows of one key, the statements that look a key up use the index (a lookup by
 * uid and key, without ukl, would scan the store), and a state of version 2, whose rows table
 * had UNIQUE(sid, uid, key), is rebuilt on open with its rowids, values and uniqueness kept.
 * SQLite only (PostgreSQL keeps its own schema). */
#include "ledger/ledger_int.h"

#include "ledger_test.h"

/* Keys of many lengths, some prefixes of others, numbers counted up in text as an app would. */
static const char *const keys[] = {"a", "ab", "abc", "b", "ba", "k-9", "k-10", "k-100", "k-99", "k-1000", "", "zz"};
#define NKEYS (int)(sizeof keys / sizeof keys[0])

/* Puts every key (value "<tag>-<i>") into database dbn as client c, for user. */
static void put_all(ledger *lg, const char *dbn, const char *user, const char *c, int first_id, const char *tag)
{
	ids_buf body = IDS_BUF_INIT;
	ids_buf_printf(&body, "{\"client\":\"%s\",\"mutations\":[", c);
	for (int i = 0; i < NKEYS; i++)
		ids_buf_printf(&body, "%s{\"id\":%d,\"store\":\"s\",\"op\":\"put\",\"key\":\"%s\",\"value\":\"%s-%d\"}",
			       i ? "," : "", first_id + i, keys[i], tag, i);
	ids_buf_puts(&body, "]}");
	ledger_push_result r;
	ids_error err = IDS_ERROR_INIT;
	if (!CHECK_EQ_INT(push(lg, dbn, user, body.data, &r, &err), 0))
		fprintf(stderr, "  push: %s\n", err.msg);
	CHECK_EQ_INT((int)r.applied, NKEYS);
	ledger_push_result_free(&r);
	ids_buf_free(&body);
}

/* Every key of dbn once, with the value of tag, and `more` changes besides. */
static void check_pull(ledger *lg, const char *dbn, const char *user, const char *tag, int more)
{
	pulled *p = pull(lg, dbn, user, NULL, 0, 0);
	CHECK_EQ_INT(p->rc, 0);
	CHECK_EQ_INT(p->parsed, NKEYS + more);
	for (int i = 0; i < NKEYS; i++) {
		char k[64], v[64];
		snprintf(k, sizeof k, "\"%s\"", keys[i]);
		snprintf(v, sizeof v, "\"%s-%d\"", tag, i);
		change *c = find_key(p, k);
		if (!CHECK(c != NULL))
			fprintf(stderr, "  key %s not pulled\n", k);
		else
			CHECK_EQ_STR(c->value, v);
	}
}

/* The query plan of sql on db: its steps' details joined by " | ". */
static void plan_of(sqlite3 *db, const char *sql, char *out, size_t n)
{
	char eqp[4096];
	snprintf(eqp, sizeof eqp, "EXPLAIN QUERY PLAN %s", sql);
	sqlite3_stmt *q = NULL;
	out[0] = 0;
	if (!CHECK_EQ_INT(sqlite3_prepare_v2(db, eqp, -1, &q, NULL), SQLITE_OK)) {
		fprintf(stderr, "  %s: %s\n", sql, sqlite3_errmsg(db));
		return;
	}
	size_t at = 0;
	while (sqlite3_step(q) == SQLITE_ROW && at < n)
		at += (size_t)snprintf(out + at, n - at, "%s | ", (const char *)sqlite3_column_text(q, 3));
	sqlite3_finalize(q);
}

#define KEY_SEARCH "INDEX rows_key (sid=? AND ukl=? AND key=?)"

/* No statement the writer prepared scans the rows table; those that look a key up, and the
 * forms the lake's lookups and the prune use, search rows_key on all four of its columns. */
static void plans(ledger *lg, const char *dir)
{
	char path[600], plan[4096];
	snprintf(path, sizeof path, "%s/idbsync.sqlite", dir);
	sqlite3 *db = NULL;
	CHECK_EQ_INT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	int searched = 0;
	for (int i = 0; i < ST_COUNT; i++) {
		const char *sql = sqlite3_sql(lg->st[i]);
		if (!strstr(sql, " rows"))
			continue;
		plan_of(db, sql, plan, sizeof plan);
		if (!CHECK(!strstr(plan, "SCAN rows")))
			fprintf(stderr, "  %s\n  plan: %s\n", sql, plan);
		searched += strstr(plan, KEY_SEARCH) != NULL;
	}
	CHECK(searched >= 2); /* ST_GET_ROW, ST_GET_SHARED */
	static const char *const forms[] = {
		"SELECT rowid FROM rows WHERE sid=?1 AND " LEDGER_ROW_KEY_IS("", "?2", "?3"),
		"SELECT r.rowid FROM changes c JOIN rows r ON r.sid=c.sid AND " LEDGER_ROW_KEY_IS("r.", "c.uid", "c.key")
		" WHERE c.seq<=?1 AND r.seq=c.seq",
		"SELECT r.rowid FROM rows r WHERE r.sid=?1 AND " LEDGER_ROW_KEY_IS("r.", "SELECT uid FROM users WHERE name=?3", "?4"),
	};
	for (int i = 0; i < 3; i++) {
		plan_of(db, forms[i], plan, sizeof plan);
		if (!CHECK(strstr(plan, KEY_SEARCH) != NULL))
			fprintf(stderr, "  %s\n  plan: %s\n", forms[i], plan);
	}
	/* by uid and key alone SQLite cannot search the index by the key */
	plan_of(db, "SELECT rowid FROM rows WHERE sid=?1 AND uid=?2 AND key=?3", plan, sizeof plan);
	CHECK(!strstr(plan, KEY_SEARCH));
	sqlite3_close(db);
}

static void fresh(const char *dir)
{
	ledger *lg = open_dir(dir, 0);
	if (!lg)
		return;
	CHECK_EQ_INT(sql_int(dir, "SELECT v FROM meta WHERE k='schema_version'"), 3);
	CHECK_EQ_INT(sql_int(dir, "SELECT count(*) FROM sqlite_schema WHERE name='rows_key'"), 1);
	CHECK_EQ_INT(sql_int(dir, "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'sqlite_autoindex_rows%'"), 0);
	put_all(lg, "db", "", "A", 1, "one");
	put_all(lg, "db2", "u1", "B", 1, "u1");
	put_all(lg, "db2", "u2", "C", 1, "u2"); /* the same keys, another user's rows */
	put_all(lg, "db", "", "A", 1 + NKEYS, "two"); /* every key again: replaced, not added */
	put_all(lg, "db2", "u2", "C", 1 + NKEYS, "u2b");
	CHECK_EQ_INT(sql_int(dir, "SELECT count(*) FROM rows"), 3 * NKEYS);
	CHECK_EQ_INT(sql_int(dir, "SELECT count(*) FROM rows WHERE ukl != " LEDGER_ROW_UKL_SQL("uid", "key")), 0);
	CHECK_EQ_INT(sql_int(dir, "SELECT count(DISTINCT ukl >> 16) FROM rows"), 3);
	check_pull(lg, "db", "", "two", 0);
	check_pull(lg, "db2", "u1", "u1", 0);
	check_pull(lg, "db2", "u2", "u2b", 0);
	plans(lg, dir);
	ledger_free(lg);
}

/* One text from the SQLite state in dir ("" if none). */
static void sql_text(const char *dir, const char *sql, char *out, size_t n)
{
	char path[600];
	snprintf(path, sizeof path, "%s/idbsync.sqlite", dir);
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	out[0] = 0;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW &&
	    sqlite3_column_text(q, 0))
		snprintf(out, n, "%s", (const char *)sqlite3_column_text(q, 0));
	sqlite3_finalize(q);
	sqlite3_close(db);
}

#define ROWS_SNAPSHOT \
	"SELECT group_concat(x, ',') FROM (SELECT rowid || ':' || hex(key) || ':' || uid || ':' || seq AS x FROM rows ORDER BY rowid)"

static void upgrade(const char *dir)
{
	ledger *lg = open_dir(dir, 0);
	if (!lg)
		return;
	put_all(lg, "db", "", "A", 1, "one");
	put_all(lg, "db2", "u1", "B", 1, "u1");
	ledger_push_result r;
	ids_error err = IDS_ERROR_INIT;
	CHECK_EQ_INT(pushf(lg, "db", "", &r, &err, "{\"client\":\"A\",\"mutations\":[{\"id\":13,\"store\":\"s\","
						 "\"op\":\"delete\",\"key\":\"gone\"}]}"), 0);
	ledger_push_result_free(&r);
	ledger_free(lg);
	/* back to version 2's table: its rows written out to compare, the old unique key */
	char snap[8192], now[8192];
	sql_text(dir, ROWS_SNAPSHOT, snap, sizeof snap);
	CHECK(strlen(snap) > 100);
	CHECK_EQ_INT(old_rows_table(dir), SQLITE_OK);
	CHECK_EQ_INT(sql_exec(dir, "UPDATE meta SET v=2 WHERE k='schema_version'"), SQLITE_OK);
	CHECK_EQ_INT(sql_int(dir, "SELECT count(*) FROM sqlite_schema WHERE name='sqlite_autoindex_rows_1'"), 1);
	CHECK_EQ_INT(sql_int(dir, "SELECT count(*) FROM sqlite_schema WHERE name='rows_key'"), 0);

	lg = open_dir(dir, 0);
	if (!lg)
		return;
	CHECK_EQ_INT(sql_int(dir, "SELECT v FROM meta WHERE k='schema_version'"), 3);
	CHECK_EQ_INT(sql_int(dir, "SELECT count(*) FROM sqlite_schema WHERE name='sqlite_autoindex_rows_1'"), 0);
	CHECK_EQ_INT(sql_int(dir, "SELECT count(*) FROM sqlite_schema WHERE name IN ('rows_key', 'rows_pull', 'rows_tomb')"),
		     3);
	CHECK_EQ_INT(sql_int(dir, "SELECT count(*) FROM sqlite_schema WHERE name='rows_v3'"), 0);
	CHECK_EQ_INT(sql_int(dir, "SELECT count(*) FROM rows WHERE ukl != " LEDGER_ROW_UKL_SQL("uid", "key")), 0);
	sql_text(dir, ROWS_SNAPSHOT, now, sizeof now);
	CHECK_EQ_STR(now, snap); /* same rowids, keys, users, seqs */
	check_pull(lg, "db", "", "one", 1); /* and the tombstone */
	check_pull(lg, "db2", "u1", "u1", 0);
	/* writes on the rebuilt table: every key replaced in place, none added */
	put_all(lg, "db", "", "A", 14, "two");
	CHECK_EQ_INT(sql_int(dir, "SELECT count(*) FROM rows"), 2 * NKEYS + 1);
	check_pull(lg, "db", "", "two", 1);
	plans(lg, dir);
	ledger_free(lg);
	/* the index keeps keys unique: a copy of a row is refused, the same row with another key
	 * (of the same length, so the same ukl) is not */
	CHECK_EQ_INT(sql_exec(dir, "INSERT INTO rows(sid, uid, key, did, seq, hlc, deleted, origin, khash, ukl)"
				   " SELECT sid, uid, key, did, seq + 1000, hlc, 0, 0, 0, ukl FROM rows WHERE key=x'306100'"),
		     SQLITE_CONSTRAINT);
	CHECK_EQ_INT(sql_exec(dir, "INSERT INTO rows(sid, uid, key, did, seq, hlc, deleted, origin, khash, ukl)"
				   " SELECT sid, uid, x'307a00', did, seq + 1000, hlc, 0, 0, 0, ukl FROM rows WHERE key=x'306100'"),
		     SQLITE_OK);
	CHECK_EQ_INT(sql_int(dir, "SELECT count(*) FROM rows WHERE key IN (x'306100', x'307a00')"), 4); /* "a", "z" in db and db2 */
	sql_text(dir, "PRAGMA integrity_check", now, sizeof now);
	CHECK_EQ_STR(now, "ok");
}

int main(void)
{
	if (pg_template())
		return 77;
	if (test_mkdtemp(tmproot, sizeof tmproot, "ids_test_ledger_keys"))
		return 1;
	char dir[512];
	make_dir(dir, sizeof dir, "fresh");
	fresh(dir);
	make_dir(dir, sizeof dir, "upgrade");
	upgrade(dir);
	test_rmtree(tmproot);
	return test_report("test_ledger_keys");
}
