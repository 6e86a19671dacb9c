/* Pulls: rows changed after a cursor, in seq order, from one read snapshot. Each key appears
 * once with its latest state (a compacted change feed), tombstones as deletes. With auth on,
 * a user sees their own rows and the shared ones (uid 0), merged by seq. */
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

static const char *const pull_sql =
	"SELECT r.seq, s.name, r.key, r.deleted, r.value, r.hlc FROM rows r JOIN stores s ON s.sid=r.sid"
	" WHERE r.did=?1 AND r.uid=?2 AND r.seq>?3 ORDER BY r.seq LIMIT ?4";

/* A cursor below the tombstone horizon would miss collected deletions: both backends answer
 * it the same way (410). */
int store_pull_horizon(int64_t since, int64_t floor, ids_error *err)
{
	if (since > 0 && since < floor)
		return ids_fail(err, IDS_EGONE,
				"cursor %lld is older than the tombstone horizon %lld: deletions were collected; "
				"resync from since=0 and drop local rows the server does not return",
				(long long)since, (long long)floor);
	return 0;
}

static int64_t lookup(sqlite3 *db, const char *sql, const char *name, int64_t *extra)
{
	sqlite3_stmt *q;
	int64_t v = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW) {
		v = sqlite3_column_int64(q, 0);
		if (extra)
			*extra = sqlite3_column_int64(q, 1);
	}
	sqlite3_finalize(q);
	return v;
}

void store_emit_change(ids_buf *out, int first, int64_t seq, const char *store_name, size_t store_len,
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

static void emit_row(sqlite3_stmt *q, ids_buf *out, int first)
{
	store_emit_change(out, first, sqlite3_column_int64(q, 0), (const char *)sqlite3_column_text(q, 1),
			  (size_t)sqlite3_column_bytes(q, 1), sqlite3_column_blob(q, 2), (size_t)sqlite3_column_bytes(q, 2),
			  sqlite3_column_int(q, 3), (const char *)sqlite3_column_text(q, 4),
			  (size_t)sqlite3_column_bytes(q, 4), (const char *)sqlite3_column_text(q, 5),
			  (size_t)sqlite3_column_bytes(q, 5));
}

void store_note_pull(store *s, const store_pull_req *req)
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
	pull_note **bucket = &s->note_index[h % NOTE_BUCKETS];
	pthread_mutex_lock(&s->mu);
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
		n->next = s->notes;
		s->notes = n;
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
	pthread_mutex_unlock(&s->mu);
}

void store_pull_done(store *s, const store_pull_req *req)
{
	/* PostgreSQL: no notes, they feed tombstone GC, which it does not run yet (gc.c would never
	 * drain them) */
	if (!s->pg)
		store_note_pull(s, req);
	atomic_fetch_add(&s->stats.pulls, 1);
}

int store_pull(store *s, const store_pull_req *req, ids_buf *out, int64_t *cursor, int *count,
	       ids_error *err)
{
	int rc = store_pull_look(s, req, out, cursor, count, err);
	if (!rc)
		store_pull_done(s, req);
	return rc;
}

int store_pull_look(store *s, const store_pull_req *req, ids_buf *out, int64_t *cursor, int *count,
		    ids_error *err)
{
	if (s->pg)
		return store_pg_pull(s, req, out, cursor, count, err);
	sqlite3 *db = store_reader_get(s);
	int rc = 0, n = 0, more = 0;
	int64_t cur = req->since, head = 0;
	int limit = req->limit > 0 ? req->limit : 1000;
	sqlite3_stmt *q[2] = {NULL, NULL};
	if (store_exec(db, "BEGIN", err)) {
		store_reader_put(s, db);
		return IDS_EIO;
	}
	sqlite3_stmt *h;
	sqlite3_prepare_v2(db, "SELECT v FROM meta WHERE k='head'", -1, &h, NULL);
	if (sqlite3_step(h) == SQLITE_ROW)
		head = sqlite3_column_int64(h, 0);
	sqlite3_finalize(h);
	int64_t floor = 0;
	int64_t did = lookup(db, "SELECT did, gc_floor FROM dbs WHERE name=?1", req->db, &floor);
	int64_t uid = req->user[0] ? lookup(db, "SELECT uid FROM users WHERE name=?1", req->user, NULL) : 0;
	if ((rc = store_pull_horizon(req->since, floor, err)))
		goto out;
	ids_buf_puts(out, "{\"changes\":[");
	size_t start = out->len, max_bytes = req->max_bytes ? req->max_bytes : (16u << 20);
	if (did >= 0) {
		int nq = 0;
		int64_t uids[2] = {uid, 0};
		int nu = uid > 0 ? 2 : (uid == 0 ? 1 : 0);
		if (uid < 0 && req->user[0]) {
			uids[0] = 0; /* unknown user: only shared rows */
			nu = 1;
		}
		for (int i = 0; i < nu; i++) {
			if (sqlite3_prepare_v2(db, pull_sql, -1, &q[i], NULL) != SQLITE_OK) {
				rc = store_sql_err(s, db, SQLITE_ERROR, err, "pull");
				goto out;
			}
			sqlite3_bind_int64(q[i], 1, did);
			sqlite3_bind_int64(q[i], 2, uids[i]);
			sqlite3_bind_int64(q[i], 3, req->since);
			sqlite3_bind_int(q[i], 4, limit + 1);
			nq++;
		}
		int have[2] = {0, 0};
		for (int i = 0; i < nq; i++)
			have[i] = sqlite3_step(q[i]) == SQLITE_ROW;
		while (have[0] || have[1]) {
			int pick = !have[0] || (have[1] && sqlite3_column_int64(q[1], 0) < sqlite3_column_int64(q[0], 0));
			if (n == limit || (n > 0 && out->len - start > max_bytes)) {
				more = 1;
				break;
			}
			emit_row(q[pick], out, n == 0);
			cur = sqlite3_column_int64(q[pick], 0);
			n++;
			have[pick] = sqlite3_step(q[pick]) == SQLITE_ROW;
		}
	}
	/* With nothing more to send, the snapshot's head is a safe cursor: every later commit
	 * gets a larger seq. */
	if (!more && head > cur)
		cur = head;
	ids_buf_printf(out, "],\"cursor\":%lld,\"more\":%s,\"now\":%lld}", (long long)cur, more ? "true" : "false",
		       (long long)hlc_wall_ms());
	if (out->failed)
		rc = ids_fail(err, out->failed, "pull response too large");
out:
	sqlite3_finalize(q[0]);
	sqlite3_finalize(q[1]);
	store_exec(db, "COMMIT", NULL);
	store_reader_put(s, db);
	if (!rc) {
		*cursor = cur;
		*count = n;
	}
	return rc;
}

int store_list_json(store *s, const char *dbname, const char *user, ids_buf *out, ids_error *err)
{
	if (s->pg)
		return store_pg_list_json(s, dbname, user, out, err);
	sqlite3 *db = store_reader_get(s);
	int64_t did = lookup(db, "SELECT did, gc_floor FROM dbs WHERE name=?1", dbname, NULL);
	int64_t uid = user[0] ? lookup(db, "SELECT uid FROM users WHERE name=?1", user, NULL) : 0;
	ids_buf_puts(out, "{\"stores\":[");
	sqlite3_stmt *q = NULL;
	int rc = 0;
	/* per-user counts come from the pull index (did, uid, ...): only the caller's rows are read */
	const char *sql = user[0]
		? "SELECT s.name, coalesce(c.live, 0), coalesce(c.tomb, 0) FROM stores s LEFT JOIN"
		  " (SELECT sid, sum(deleted=0) AS live, sum(deleted=1) AS tomb FROM rows WHERE did=?1 AND uid IN (?2, 0)"
		  " GROUP BY sid) c ON c.sid=s.sid WHERE s.did=?1 ORDER BY s.name"
		: "SELECT name, live, tomb FROM stores WHERE did=?1 ORDER BY name";
	if (did >= 0) {
		if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) {
			rc = store_sql_err(s, db, SQLITE_ERROR, err, "stores");
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
				       ids_rule_name(store_rule(s, dbname, name)));
		}
	}
	ids_buf_puts(out, "]}");
out:
	sqlite3_finalize(q);
	store_reader_put(s, db);
	return rc;
}
