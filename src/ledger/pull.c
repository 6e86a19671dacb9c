/* Pulls: rows changed after a cursor, in seq order, from one read snapshot. Each key appears
 * once with its latest state (a compacted change feed), tombstones as deletes. With auth on,
 * a user sees their own rows and the shared ones (uid 0), merged by seq. */
#include "ledger_int.h"

#include <stdlib.h>
#include <string.h>

static const char *const pull_sql =
	"SELECT r.seq, s.name, r.key, r.deleted, " LEDGER_ROW_VALUE("r") ", r.hlc FROM rows r JOIN stores s ON s.sid=r.sid"
	LEDGER_ROW_VALUE_JOIN("r", "") " WHERE r.did=?1 AND r.uid=?2 AND r.seq>?3 ORDER BY r.seq LIMIT ?4";

/* A cursor below the tombstone horizon would miss collected deletions: both backends answer
 * it the same way (410). */
int ledger_pull_horizon(int64_t since, int64_t floor, ids_error *err)
{
	if (since > 0 && since < floor)
		return ids_fail(err, IDS_EGONE,
				"cursor %lld is older than the tombstone horizon %lld: deletions were collected; "
				"resync from since=0 and drop local rows the server does not return",
				(long long)since, (long long)floor);
	return 0;
}

/* The id (and with extra, the second column) of the row named name: 0, IDS_ENOTFOUND when there
 * is none, or an error (the query failed) with err filled. */
static int lookup(ledger *lg, sqlite3 *db, const char *sql, const char *name, int64_t *id, int64_t *extra,
		  ids_error *err)
{
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		return ledger_sql_err(lg, db, SQLITE_ERROR, err, "look up a name");
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	int step = sqlite3_step(q), rc = IDS_ENOTFOUND;
	if (step == SQLITE_ROW) {
		*id = sqlite3_column_int64(q, 0);
		if (extra)
			*extra = sqlite3_column_int64(q, 1);
		rc = 0;
	} else if (step != SQLITE_DONE) {
		rc = ledger_sql_err(lg, db, step, err, "look up a name");
	}
	sqlite3_finalize(q);
	return rc;
}

/* A database's id and tombstone horizon, and a user's id (0 without auth; -1 unknown: it has
 * only the shared rows). did -1: the database has no rows yet. */
static int pull_ids(ledger *lg, sqlite3 *db, const char *dbname, const char *user, int64_t *did, int64_t *floor,
		    int64_t *uid, ids_error *err)
{
	*did = *uid = -1;
	*floor = 0;
	int rc = lookup(lg, db, "SELECT did, gc_floor FROM dbs WHERE name=?1", dbname, did, floor, err);
	if (rc && rc != IDS_ENOTFOUND)
		return rc;
	*uid = 0;
	if (user[0] && (rc = lookup(lg, db, "SELECT uid FROM users WHERE name=?1", user, uid, NULL, err))) {
		*uid = -1;
		if (rc != IDS_ENOTFOUND)
			return rc;
	}
	return 0;
}

void ledger_emit_change(ids_buf *out, int first, int64_t seq, const char *store_name, size_t store_len,
		       const uint8_t *key, size_t key_len, int deleted, const char *value, size_t value_len,
		       const char *hlc, size_t hlc_len)
{
	if (!first)
		ids_buf_putc(out, ',');
	ids_buf_printf(out, "{\"seq\":%lld,\"store\":", (long long)seq);
	ids_buf_json_str(out, store_name, store_len);
	ids_buf_puts(out, deleted ? ",\"op\":\"delete\"" : ",\"op\":\"put\"");
	ids_buf_puts(out, ",\"key\":");
	ids_key_to_json(key, key_len, out, NULL);
	if (!deleted) {
		ids_buf_puts(out, ",\"value\":");
		ids_buf_append(out, value, value_len);
	}
	ids_buf_puts(out, ",\"hlc\":\"");
	ids_buf_append(out, hlc, hlc_len);
	ids_buf_puts(out, "\"}");
}

/* A pull's rows on SQLite: the user's rows and the shared ones (uid 0), two index scans
 * merged by seq (one scan with uid IN (..) would read every row after the cursor and sort). */
typedef struct pull_rows {
	ledger_rowsrc src;
	ledger_sqlite_rows q[2];
	int nq, have[2], pick, started;
} pull_rows;

static int pull_next(ledger_rowsrc *r, ids_error *err)
{
	pull_rows *p = (pull_rows *)r;
	for (int i = 0; i < p->nq; i++) {
		if (p->started && i != p->pick)
			continue;
		p->have[i] = p->q[i].src.next(&p->q[i].src, err);
		if (p->have[i] < 0)
			return p->have[i];
	}
	p->started = 1;
	if (!p->have[0] && !p->have[1])
		return 0;
	p->pick = !p->have[0] || (p->have[1] && sqlite3_column_int64(p->q[1].q, 0) < sqlite3_column_int64(p->q[0].q, 0));
	return 1;
}

static int64_t pull_i64(ledger_rowsrc *r, int col)
{
	pull_rows *p = (pull_rows *)r;
	return p->q[p->pick].src.i64(&p->q[p->pick].src, col);
}

static const char *pull_text(ledger_rowsrc *r, int col, size_t *len)
{
	pull_rows *p = (pull_rows *)r;
	return p->q[p->pick].src.text(&p->q[p->pick].src, col, len);
}

static int pull_blob(ledger_rowsrc *r, int col, const uint8_t **out, size_t *len, ids_error *err)
{
	pull_rows *p = (pull_rows *)r;
	return p->q[p->pick].src.blob(&p->q[p->pick].src, col, out, len, err);
}

void ledger_note_pull(ledger *lg, const ledger_pull_req *req)
{
	if (!req->client || !*req->client)
		return;
	size_t kl = strlen(req->db) + strlen(req->user) + strlen(req->client) + 3;
	unsigned h = 2166136261u; /* FNV-1a over the three names */
	for (const char *part[3] = {req->db, req->user, req->client}, **p = part; p < part + 3; p++)
		for (const unsigned char *c = (const unsigned char *)*p;; c++) {
			h = (h ^ *c) * 16777619u;
			if (!*c)
				break;
		}
	pull_note **bucket = &lg->note_index[h % NOTE_BUCKETS];
	pthread_mutex_lock(&lg->mu);
	pull_note *n = *bucket;
	for (; n; n = n->hnext)
		if (!strcmp(n->client, req->client) && !strcmp(n->db, req->db) && !strcmp(n->user, req->user))
			break;
	if (!n && (n = calloc(1, sizeof *n)) && (n->key = malloc(kl))) {
		/* one allocation holds the three names */
		n->db = n->key;
		strcpy(n->db, req->db);
		n->user = n->db + strlen(req->db) + 1;
		strcpy(n->user, req->user);
		n->client = n->user + strlen(req->user) + 1;
		strcpy(n->client, req->client);
		n->next = lg->notes;
		lg->notes = n;
		n->hnext = *bucket;
		*bucket = n;
	} else if (n && !n->key) {
		free(n);
		n = NULL;
	}
	if (n) {
		if (req->since > n->since)
			n->since = req->since;
		n->seen = hlc_wall_ms();
	}
	pthread_mutex_unlock(&lg->mu);
}

void ledger_pull_done(ledger *lg, const ledger_pull_req *req)
{
	ledger_note_pull(lg, req);   /* feeds tombstone GC, on either backend */
	atomic_fetch_add(&lg->stats.pulls, 1);
}

int ledger_pull(ledger *lg, const ledger_pull_req *req, ids_buf *out, int64_t *cursor, int *count,
	       ids_error *err)
{
	int rc = ledger_pull_look(lg, req, out, cursor, count, err);
	if (!rc)
		ledger_pull_done(lg, req);
	return rc;
}

int ledger_pull_look(ledger *lg, const ledger_pull_req *req, ids_buf *out, int64_t *cursor, int *count,
		    ids_error *err)
{
	if (lg->pg)
		return ledger_pg_pull(lg, req, out, cursor, count, err);
	sqlite3 *db = ledger_reader_get(lg);
	int64_t head = 0, did, floor, uid;
	pull_rows rows = {.src = {pull_next, pull_i64, pull_text, pull_blob}};
	if (ledger_exec(db, "BEGIN", err)) {
		ledger_reader_put(lg, db);
		return IDS_EIO;
	}
	sqlite3_stmt *h;
	sqlite3_prepare_v2(db, "SELECT v FROM meta WHERE k='head'", -1, &h, NULL);
	if (sqlite3_step(h) == SQLITE_ROW)
		head = sqlite3_column_int64(h, 0);
	sqlite3_finalize(h);
	int rc = pull_ids(lg, db, req->db, req->user, &did, &floor, &uid, err);
	int64_t uids[2] = {uid < 0 ? 0 : uid, 0}; /* an unknown user: only shared rows */
	int nu = did < 0 ? 0 : uid > 0 ? 2 : 1;
	for (int i = 0; i < nu && !rc; i++) {
		sqlite3_stmt *q;
		if (sqlite3_prepare_v2(db, pull_sql, -1, &q, NULL) != SQLITE_OK) {
			rc = ledger_sql_err(lg, db, SQLITE_ERROR, err, "pull");
			break;
		}
		sqlite3_bind_int64(q, 1, did);
		sqlite3_bind_int64(q, 2, uids[i]);
		sqlite3_bind_int64(q, 3, req->since);
		sqlite3_bind_int(q, 4, (req->limit > 0 ? req->limit : 1000) + 1);
		ledger_sqlite_rows_init(&rows.q[rows.nq++], lg, q, "pull");
	}
	if (!rc)
		rc = ledger_pull_page(&rows.src, req, head, floor, out, cursor, count, err);
	for (int i = 0; i < rows.nq; i++)
		sqlite3_finalize(rows.q[i].q);
	ledger_exec(db, "COMMIT", NULL);
	ledger_reader_put(lg, db);
	return rc;
}

int ledger_list_json(ledger *lg, const char *dbname, const char *user, ids_buf *out, ids_error *err)
{
	if (lg->pg)
		return ledger_pg_list_json(lg, dbname, user, out, err);
	sqlite3 *db = ledger_reader_get(lg);
	int64_t did, floor, uid;
	sqlite3_stmt *q = NULL;
	int rc = pull_ids(lg, db, dbname, user, &did, &floor, &uid, err);
	if (rc)
		goto out;
	ids_buf_puts(out, "{\"stores\":[");
	/* per-user counts come from the pull index (did, uid, ...): only the caller's rows are read */
	const char *sql = user[0]
		? "SELECT s.name, coalesce(c.live, 0), coalesce(c.tomb, 0) FROM stores s LEFT JOIN"
		  " (SELECT sid, sum(deleted=0) AS live, sum(deleted=1) AS tomb FROM rows WHERE did=?1 AND uid IN (?2, 0)"
		  " GROUP BY sid) c ON c.sid=s.sid WHERE s.did=?1 ORDER BY s.name"
		: "SELECT name, live, tomb FROM stores WHERE did=?1 ORDER BY name";
	if (did >= 0) {
		if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) {
			rc = ledger_sql_err(lg, db, SQLITE_ERROR, err, "stores");
			goto out;
		}
		sqlite3_bind_int64(q, 1, did);
		if (user[0])
			sqlite3_bind_int64(q, 2, uid);
		int first = 1;
		while (sqlite3_step(q) == SQLITE_ROW) {
			const char *name = (const char *)sqlite3_column_text(q, 0);
			if (!first)
				ids_buf_putc(out, ',');
			first = 0;
			ids_buf_puts(out, "{\"name\":");
			ids_buf_json_str(out, name, (size_t)sqlite3_column_bytes(q, 0));
			ids_buf_printf(out, ",\"rows\":%lld,\"tombstones\":%lld,\"conflict\":\"%s\"}",
				       (long long)sqlite3_column_int64(q, 1), (long long)sqlite3_column_int64(q, 2),
				       ids_rule_name(ledger_rule(lg, dbname, name)));
		}
	}
	ids_buf_puts(out, "]}");
out:
	sqlite3_finalize(q);
	ledger_reader_put(lg, db);
	return rc;
}
