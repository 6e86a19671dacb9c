/* Read-side scan of the conflicts log for the lake writer (DIR/D/S_conflicts/): the losing
 * mutations in id order with their winners, on a read snapshot like the other scans. */
#include "store_int.h"

#include <string.h>

static const char *text_or_empty(sqlite3_stmt *q, int i)
{
	const char *t = (const char *)sqlite3_column_text(q, i);
	return t ? t : "";
}

int store_conflicts_scan(store *s, int64_t after, size_t max,
			 int (*fn)(void *ctx, const store_conflict *c), void *ctx, int64_t *last,
			 ids_error *err)
{
	if (s->pg)
		return store_pg_conflicts_scan(s, after, max, fn, ctx, last, err);
	sqlite3 *db = store_reader_get(s);
	sqlite3_stmt *q = NULL;
	int rc = 0;
	*last = after;
	const char *sql =
		"SELECT c.id, d.name, s.name, u.name, coalesce(cl.name, ''), c.key, c.op, c.hlc, c.value, c.mid,"
		" c.rule, c.reason, c.winner_seq, c.winner_hlc, c.ts FROM conflicts c JOIN dbs d ON d.did=c.did"
		" JOIN stores s ON s.sid=c.sid JOIN users u ON u.uid=c.uid LEFT JOIN clients cl ON cl.cid=c.cid"
		" WHERE c.id>?1 ORDER BY c.id LIMIT ?2";
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) {
		rc = store_sql_err(s, db, SQLITE_ERROR, err, "scan conflicts");
		goto out;
	}
	sqlite3_bind_int64(q, 1, after);
	sqlite3_bind_int64(q, 2, (sqlite3_int64)max);
	int step;
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		store_conflict c;
		memset(&c, 0, sizeof c);
		c.id = sqlite3_column_int64(q, 0);
		c.db = text_or_empty(q, 1);
		c.store = text_or_empty(q, 2);
		c.user = text_or_empty(q, 3);
		c.client = text_or_empty(q, 4);
		c.key = sqlite3_column_blob(q, 5);
		c.key_len = (size_t)sqlite3_column_bytes(q, 5);
		c.op = (ids_op)sqlite3_column_int(q, 6);
		c.hlc = text_or_empty(q, 7);
		if (sqlite3_column_type(q, 8) != SQLITE_NULL) {
			c.value = (const char *)sqlite3_column_text(q, 8);
			c.value_len = (size_t)sqlite3_column_bytes(q, 8);
		}
		c.mid = sqlite3_column_int64(q, 9);
		c.rule = text_or_empty(q, 10);
		c.reason = text_or_empty(q, 11);
		c.winner_seq = sqlite3_column_int64(q, 12);
		c.winner_hlc = text_or_empty(q, 13);
		c.ts_ms = sqlite3_column_int64(q, 14);
		if ((rc = fn(ctx, &c)))
			break;
		*last = c.id;
	}
	if (!rc && step != SQLITE_DONE && step != SQLITE_ROW)
		rc = store_sql_err(s, db, step, err, "scan conflicts");
out:
	sqlite3_finalize(q);
	store_reader_put(s, db);
	return rc;
}

int64_t store_conflicts_head(store *s)
{
	if (s->pg)
		return store_pg_conflicts_head(s);
	sqlite3 *db = store_reader_get(s);
	sqlite3_stmt *q = NULL;
	int64_t head = 0;
	if (sqlite3_prepare_v2(db, "SELECT coalesce(max(id), 0) FROM conflicts", -1, &q, NULL) == SQLITE_OK &&
	    sqlite3_step(q) == SQLITE_ROW)
		head = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	store_reader_put(s, db);
	return head;
}
