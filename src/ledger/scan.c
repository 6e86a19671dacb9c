/* Read-side scans for the lake writer: the change log in seq order, and the live rows of one
 * store by key-hash range (one lake bucket). Both read a snapshot, so they never block or
 * observe a half-applied push. */
#include "ledger_int.h"
#include "idbsync/path.h"

#include <stdio.h>
#include <string.h>

uint32_t ledger_key_hash(const uint8_t *key, size_t len)
{
	/* FNV-1a, then a murmur finalizer so nearby keys spread over all buckets */
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < len; i++) {
		h ^= key[i];
		h *= 16777619u;
	}
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

int ledger_changes_scan(ledger *lg, int64_t after, size_t max,
		       int (*fn)(void *ctx, const ledger_change *c), void *ctx, int64_t *last, ids_error *err)
{
	if (lg->pg)
		return ledger_pg_changes_scan(lg, after, max, fn, ctx, last, err);
	return ledger_sqlite_scan_log(lg, "scan changes", LEDGER_CHANGES_IDS_SQL, after, max, fn, NULL, ctx, last, err);
}

int ledger_sqlite_scan_log(ledger *lg, const char *what, const char *sql, int64_t after, size_t max,
			  int (*change)(void *ctx, const ledger_change *c),
			  int (*conflict)(void *ctx, const ledger_conflict *c), void *ctx, int64_t *last, ids_error *err)
{
	sqlite3 *db = ledger_reader_get(lg);
	sqlite3_stmt *q = NULL;
	int rc = 0;
	*last = after;
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) {
		rc = ledger_sql_err(lg, db, SQLITE_ERROR, err, what);
	} else {
		sqlite3_bind_int64(q, 1, after);
		sqlite3_bind_int64(q, 2, (sqlite3_int64)max);
		ledger_log_rows rows;
		ledger_log_rows_init(&rows, lg, q, what);
		rc = change ? ledger_scan_changes(&rows.base.src, change, ctx, last, err)
			    : ledger_scan_conflicts(&rows.base.src, conflict, ctx, last, err);
		ledger_log_rows_end(&rows);
	}
	sqlite3_finalize(q);
	ledger_reader_put(lg, db);
	return rc;
}

/* A read connection inside a transaction (one snapshot), and that snapshot's head seq; on a
 * thread that pinned one (ledger_read_begin), that snapshot. */
static sqlite3 *snapshot_begin(ledger *lg, int64_t *head, ids_error *err)
{
	sqlite3 *db = ledger_reader_get(lg);
	if (!ledger_reader_pinned(lg, db) && ledger_exec(db, "BEGIN", err)) {
		ledger_reader_put(lg, db);
		return NULL;
	}
	sqlite3_stmt *h = NULL;
	sqlite3_prepare_v2(db, "SELECT v FROM meta WHERE k='head'", -1, &h, NULL);
	*head = sqlite3_step(h) == SQLITE_ROW ? sqlite3_column_int64(h, 0) : 0;
	sqlite3_finalize(h);
	return db;
}

static void snapshot_end(ledger *lg, sqlite3 *db, sqlite3_stmt *q)
{
	sqlite3_finalize(q);
	if (!ledger_reader_pinned(lg, db))   /* a pinned snapshot goes on: ledger_read_end */
		ledger_exec(db, "COMMIT", NULL);
	ledger_reader_put(lg, db);
}

/* Prepares sql on the snapshot with ?1 = database name and ?2 = store name bound. */
static int prepare_store_sql(ledger *lg, sqlite3 *db, const char *sql, const char *dbname, const char *store_name,
			     sqlite3_stmt **q, ids_error *err, const char *what)
{
	if (sqlite3_prepare_v2(db, sql, -1, q, NULL) != SQLITE_OK)
		return ledger_sql_err(lg, db, SQLITE_ERROR, err, what);
	sqlite3_bind_text(*q, 1, dbname, -1, SQLITE_STATIC);
	sqlite3_bind_text(*q, 2, store_name, -1, SQLITE_STATIC);
	return 0;
}

/* A row's columns from col on, in the order every row query selects them: khash, seq, hlc,
 * value, origin. */
static void row_tail(sqlite3_stmt *q, int col, ledger_row *r)
{
	r->hash = (uint32_t)sqlite3_column_int64(q, col);
	r->seq = sqlite3_column_int64(q, col + 1);
	r->hlc = (const char *)sqlite3_column_text(q, col + 2);
	r->value = (const char *)sqlite3_column_text(q, col + 3);
	r->value_len = (size_t)sqlite3_column_bytes(q, col + 3);
	r->origin = (ids_origin)sqlite3_column_int(q, col + 4);
}

/* Runs a rows query (columns: user, key, khash, seq, hlc, value, origin) prepared on the
 * snapshot db, calling fn per row. */
static int scan_rows_query(ledger *lg, sqlite3 *db, sqlite3_stmt *q, int (*fn)(void *ctx, const ledger_row *r),
			   void *ctx, ids_error *err)
{
	int rc = 0, step;
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		ledger_row r = {0};
		r.user = (const char *)sqlite3_column_text(q, 0);
		r.key = sqlite3_column_blob(q, 1);
		r.key_len = (size_t)sqlite3_column_bytes(q, 1);
		row_tail(q, 2, &r);
		if ((rc = fn(ctx, &r)))
			break;
	}
	if (!rc && step != SQLITE_DONE && step != SQLITE_ROW)
		rc = ledger_sql_err(lg, db, step, err, "scan rows");
	return rc;
}

#define ROWS_COLS                                                                                 \
	"SELECT u.name, r.key, r.khash, r.seq, r.hlc, " LEDGER_ROW_VALUE("r") ", r.origin FROM rows r" \
	" JOIN users u ON u.uid=r.uid" LEDGER_ROW_VALUE_JOIN("r", "")
#define STORE_SID "(SELECT s.sid FROM stores s JOIN dbs d ON d.did=s.did WHERE d.name=?1 AND s.name=?2)"

int ledger_rows_scan(ledger *lg, const char *dbname, const char *store_name, uint32_t lo, uint32_t hi,
		    int (*fn)(void *ctx, const ledger_row *r), void *ctx, int64_t *head, ids_error *err)
{
	if (lg->pg)
		return ledger_pg_rows_scan(lg, dbname, store_name, lo, hi, fn, ctx, head, err);
	return ledger_rows_scan_ids(lg, dbname, store_name, lo, hi, 0, INT64_MAX, fn, ctx, head, err);
}

int ledger_rows_scan_ids(ledger *lg, const char *dbname, const char *store_name, uint32_t lo, uint32_t hi,
			int64_t after, int64_t upto, int (*fn)(void *ctx, const ledger_row *r), void *ctx,
			int64_t *head, ids_error *err)
{
	if (lg->pg)
		return ids_fail(err, IDS_EINVAL, "row ids: not kept by a PostgreSQL ledger");
	sqlite3_stmt *q = NULL;
	int rc = 0;
	sqlite3 *db = snapshot_begin(lg, head, err);
	if (!db)
		return IDS_EIO;
	/* a range of new rows is read by id (the rows b-tree), a whole store through its key
	 * index: the unary + keeps SQLite from choosing the other */
	const char *sql = after > 0
		? ROWS_COLS " WHERE r.rowid > ?5 AND r.rowid <= ?6 AND +r.sid=" STORE_SID
		  " AND r.khash BETWEEN ?3 AND ?4 AND r.deleted=0"
		: ROWS_COLS " WHERE r.sid=" STORE_SID " AND r.khash BETWEEN ?3 AND ?4 AND r.deleted=0"
		  " AND +r.rowid > ?5 AND +r.rowid <= ?6";
	if ((rc = prepare_store_sql(lg, db, sql, dbname, store_name, &q, err, "scan rows")))
		goto out;
	sqlite3_bind_int64(q, 3, lo);
	sqlite3_bind_int64(q, 4, hi);
	sqlite3_bind_int64(q, 5, after);
	sqlite3_bind_int64(q, 6, upto);
	rc = scan_rows_query(lg, db, q, fn, ctx, err);
out:
	snapshot_end(lg, db, q);
	return rc;
}

int ledger_rows_ids(ledger *lg, const char *dbname, const char *store_name, const ledger_key_ref *keys, size_t n,
		   int64_t *ids, int64_t *max_id, ids_error *err)
{
	if (lg->pg)
		return ids_fail(err, IDS_EINVAL, "row ids: not kept by a PostgreSQL ledger");
	sqlite3_stmt *q = NULL;
	int64_t head;
	int rc = 0;
	sqlite3 *db = snapshot_begin(lg, &head, err);
	if (!db)
		return IDS_EIO;
	if (max_id) {
		sqlite3_stmt *m = NULL;
		if (sqlite3_prepare_v2(db, "SELECT max(rowid) FROM rows", -1, &m, NULL) != SQLITE_OK)
			rc = ledger_sql_err(lg, db, SQLITE_ERROR, err, "row ids");
		*max_id = !rc && sqlite3_step(m) == SQLITE_ROW ? sqlite3_column_int64(m, 0) : 0;
		sqlite3_finalize(m);
	}
	/* the store's and each user's id looked up once, not per key: a pass has many keys */
	sqlite3_stmt *st = NULL, *us = NULL;
	int64_t sid = -1, uid = -1;
	const char *last_user = NULL;
	if (rc || !n || (rc = prepare_store_sql(lg, db, "SELECT " STORE_SID, dbname, store_name, &st, err, "row ids")))
		goto out;
	sid = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL ? sqlite3_column_int64(st, 0) : -1;
	if (sqlite3_prepare_v2(db, "SELECT uid FROM users WHERE name=?1", -1, &us, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT rowid FROM rows WHERE sid=?1 AND " LEDGER_ROW_KEY_IS("", "?2", "?3"), -1, &q, NULL) != SQLITE_OK) {
		rc = ledger_sql_err(lg, db, SQLITE_ERROR, err, "row ids");
		goto out;
	}
	for (size_t i = 0; i < n && !rc; i++) {
		const char *user = keys[i].user ? keys[i].user : "";
		if (!last_user || strcmp(user, last_user)) {
			sqlite3_bind_text(us, 1, user, -1, SQLITE_STATIC);
			uid = sqlite3_step(us) == SQLITE_ROW ? sqlite3_column_int64(us, 0) : -1;
			sqlite3_reset(us);
			last_user = user;
		}
		ids[i] = 0;
		if (sid < 0 || uid < 0)
			continue;
		sqlite3_bind_int64(q, 1, sid);
		sqlite3_bind_int64(q, 2, uid);
		sqlite3_bind_blob(q, 3, keys[i].key, (int)keys[i].key_len, SQLITE_STATIC);
		int step = sqlite3_step(q);
		ids[i] = step == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
		if (step != SQLITE_ROW && step != SQLITE_DONE)
			rc = ledger_sql_err(lg, db, step, err, "row ids");
		sqlite3_reset(q);
	}
out:
	sqlite3_finalize(st);
	sqlite3_finalize(us);
	snapshot_end(lg, db, q);
	return rc;
}

int ledger_rows_after(ledger *lg, const char *dbname, const char *store_name, int64_t after, size_t max,
		     int (*fn)(void *ctx, const ledger_row_id *r), void *ctx, ids_error *err)
{
	if (lg->pg)
		return ids_fail(err, IDS_EINVAL, "row ids: not kept by a PostgreSQL ledger");
	sqlite3_stmt *q = NULL, *us = NULL;
	int64_t head, uid = -1;
	ids_buf user = IDS_BUF_INIT;
	int rc = 0, step;
	sqlite3 *db = snapshot_begin(lg, &head, err);
	if (!db)
		return IDS_EIO;
	/* by id (the rows b-tree): the unary + keeps SQLite off the store's key index */
	if ((rc = prepare_store_sql(lg, db, "SELECT r.rowid, r.uid, r.key, r.seq, r.deleted FROM rows r WHERE r.rowid > ?3 AND +r.sid=" STORE_SID
				    " ORDER BY r.rowid LIMIT ?4", dbname, store_name, &q, err, "rows after")))
		goto out;
	if (sqlite3_prepare_v2(db, "SELECT name FROM users WHERE uid=?1", -1, &us, NULL) != SQLITE_OK) {
		rc = ledger_sql_err(lg, db, SQLITE_ERROR, err, "rows after");
		goto out;
	}
	sqlite3_bind_int64(q, 3, after);
	sqlite3_bind_int64(q, 4, (sqlite3_int64)(max > INT64_MAX ? INT64_MAX : max));
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		int64_t u = sqlite3_column_int64(q, 1);
		if (u != uid) {   /* a user's name looked up once per run of its rows */
			sqlite3_bind_int64(us, 1, u);
			const char *name = sqlite3_step(us) == SQLITE_ROW ? (const char *)sqlite3_column_text(us, 0) : NULL;
			ids_buf_reset(&user);
			ids_buf_append(&user, name ? name : "", name ? strlen(name) + 1 : 1);
			sqlite3_reset(us);
			if (user.failed) {
				rc = ids_fail(err, IDS_ENOMEM, "out of memory");
				break;
			}
			uid = u;
		}
		ledger_row_id r = {sqlite3_column_int64(q, 0), sqlite3_column_int64(q, 3), user.data,
				   sqlite3_column_blob(q, 2), (size_t)sqlite3_column_bytes(q, 2), sqlite3_column_int(q, 4)};
		if ((rc = fn(ctx, &r)))
			break;
	}
	if (!rc && step != SQLITE_DONE && step != SQLITE_ROW)
		rc = ledger_sql_err(lg, db, step, err, "rows after");
out:
	ids_buf_free(&user);
	sqlite3_finalize(us);
	snapshot_end(lg, db, q);
	return rc;
}

int ledger_rows_get(ledger *lg, const char *dbname, const char *store_name, const ledger_key_ref *keys, size_t n,
		   int (*fn)(void *ctx, size_t i, int found, const ledger_row *r), void *ctx, int64_t *head,
		   ids_error *err)
{
	if (lg->pg)
		return ledger_pg_rows_get(lg, dbname, store_name, keys, n, fn, ctx, head, err);
	sqlite3_stmt *q = NULL;
	int rc = 0;
	sqlite3 *db = snapshot_begin(lg, head, err);
	if (!db)
		return IDS_EIO;
	const char *sql =
		"SELECT r.khash, r.seq, r.hlc, " LEDGER_ROW_VALUE("r") ", r.origin FROM rows r" LEDGER_ROW_VALUE_JOIN("r", "")
		" WHERE r.sid=" STORE_SID
		" AND " LEDGER_ROW_KEY_IS("r.", "SELECT uid FROM users WHERE name=?3", "?4") " AND r.deleted=0";
	if ((rc = prepare_store_sql(lg, db, sql, dbname, store_name, &q, err, "row lookup")))
		goto out;
	for (size_t i = 0; i < n && !rc; i++) {
		sqlite3_bind_text(q, 3, keys[i].user ? keys[i].user : "", -1, SQLITE_STATIC);
		sqlite3_bind_blob(q, 4, keys[i].key, (int)keys[i].key_len, SQLITE_STATIC);
		ledger_row r = {0};
		int found = sqlite3_step(q) == SQLITE_ROW;
		r.user = keys[i].user ? keys[i].user : "";
		r.key = keys[i].key;
		r.key_len = keys[i].key_len;
		if (found) {
			row_tail(q, 0, &r);
		}
		rc = fn(ctx, i, found, &r);
		sqlite3_reset(q);
	}
out:
	snapshot_end(lg, db, q);
	return rc;
}

int ledger_names_json(ledger *lg, const char *dbname, ids_buf *out, ids_error *err)
{
	if (lg->pg)
		return ledger_pg_names_json(lg, dbname, out, err);
	sqlite3 *db = ledger_reader_get(lg);
	sqlite3_stmt *q = NULL;
	const char *sql = dbname ? "SELECT s.name FROM stores s JOIN dbs d ON d.did=s.did WHERE d.name=?1 ORDER BY 1"
				 : "SELECT name FROM dbs ORDER BY 1";
	int rc = 0;
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) {
		rc = ledger_sql_err(lg, db, SQLITE_ERROR, err, "names");
	} else {
		if (dbname)
			sqlite3_bind_text(q, 1, dbname, -1, SQLITE_STATIC);
		ids_buf_putc(out, '[');
		int first = 1;
		while (sqlite3_step(q) == SQLITE_ROW) {
			if (!first)
				ids_buf_putc(out, ',');
			first = 0;
			ids_buf_json_str(out, (const char *)sqlite3_column_text(q, 0), (size_t)sqlite3_column_bytes(q, 0));
		}
		ids_buf_putc(out, ']');
	}
	sqlite3_finalize(q);
	ledger_reader_put(lg, db);
	return rc;
}

/* Deletes the changes up to seq upto older than cutoff (ms). Changes are appended in seq order
 * with the server's clock as ts, so those old enough to go are a prefix: its end is found by
 * walking from the oldest to the first one to keep. "DELETE ... WHERE seq<=upto AND ts<cutoff"
 * tested every retained change (no index on ts): 2.3k instructions each, every 5 s on the
 * lake's thread (a day of changes by default), every --gc-interval on the writer's without a
 * lake. A clock that stepped back keeps some changes longer than the retention, never shorter.
 * On its own connection the prefix goes in transactions of PRUNE_BATCH changes, so a large
 * backlog (a server down for a day, a retention shortened) holds the write lock for a bounded
 * time per transaction: each also writes back the values of the rows whose change it deletes. */
#define PRUNE_BATCH 65536

/* One transaction (or the caller's): rows get back the values only their changes held, then
 * the changes up to last go. */
static int prune_upto(ledger *lg, sqlite3 *db, int own, int64_t last, ids_error *err)
{
	static const char *const sql[] = {
		"UPDATE rows SET value=(SELECT c.value FROM changes c WHERE c.seq=rows.seq) WHERE rowid IN"
		" (SELECT r.rowid FROM changes c JOIN rows r ON r.sid=c.sid AND " LEDGER_ROW_KEY_IS("r.", "c.uid", "c.key")
		" WHERE c.seq<=?1 AND r.seq=c.seq AND r.value IS NULL AND r.deleted=0)",
		"DELETE FROM changes WHERE seq<=?1",
	};
	int rc = own ? ledger_exec(db, "BEGIN IMMEDIATE", err) : 0;
	for (int i = 0; !rc && i < 2; i++) {
		sqlite3_stmt *q = NULL;
		if (sqlite3_prepare_v2(db, sql[i], -1, &q, NULL) != SQLITE_OK) {
			rc = ledger_sql_err(lg, db, SQLITE_ERROR, err, "prune changes");
			break;
		}
		sqlite3_bind_int64(q, 1, last);
		rc = sqlite3_step(q) == SQLITE_DONE ? 0 : ledger_sql_err(lg, db, sqlite3_errcode(db), err, "prune changes");
		sqlite3_finalize(q);
	}
	if (own && !rc)
		rc = ledger_exec(db, "COMMIT", err);
	if (own && rc && !sqlite3_get_autocommit(db))
		ledger_exec(db, "ROLLBACK", NULL);
	return rc;
}

int ledger_prune_old_changes(ledger *lg, sqlite3 *db, int64_t upto, int64_t cutoff, ids_error *err)
{
	int own = sqlite3_get_autocommit(db);
	int64_t limit = own ? PRUNE_BATCH : -1;   /* in the caller's transaction: all of it at once */
	int rc = 0;
	for (int more = 1; !rc && more;) {
		int64_t last = 0, n = 0;
		sqlite3_stmt *w = NULL;
		int step;
		sqlite3_prepare_v2(db, "SELECT seq, ts FROM changes WHERE seq<=?1 ORDER BY seq LIMIT ?2", -1, &w, NULL);
		sqlite3_bind_int64(w, 1, upto);
		sqlite3_bind_int64(w, 2, limit);
		while ((step = sqlite3_step(w)) == SQLITE_ROW && sqlite3_column_int64(w, 1) < cutoff) {
			last = sqlite3_column_int64(w, 0);
			n++;
		}
		if (step != SQLITE_ROW && step != SQLITE_DONE)
			rc = ledger_sql_err(lg, db, step, err, "prune changes");
		sqlite3_finalize(w);
		more = limit > 0 && n == limit;   /* the whole batch was old enough: there may be more */
		if (!rc && last > 0)
			rc = prune_upto(lg, db, own, last, err);
	}
	return rc;
}

/* Runs on the caller's thread with its own connection: the writer serializes through SQLite's
 * lock (busy_timeout), and pruning only deletes rows the writer never reads again. */
int ledger_changes_prune(ledger *lg, int64_t upto, ids_error *err)
{
	if (lg->pg)
		return ledger_pg_changes_prune(lg, upto, err);
	char path[IDS_PATH_MAX + 1];
	if (ids_path(path, sizeof path, err, "%s/idbsync.sqlite", lg->dir))
		return err->code;
	sqlite3 *db = NULL;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		sqlite3_close(db);
		return ids_fail(err, IDS_EIO, "cannot open %s", path);
	}
	sqlite3_busy_timeout(db, 30000);
	int rc = ledger_prune_old_changes(lg, db, upto, hlc_wall_ms() - lg->o.base_retention_ms, err);
	sqlite3_close(db);
	return rc;
}
