/* Reading the PostgreSQL state: pulls and the lake's scans, each on one snapshot of a read
 * connection (one statement, or a REPEATABLE READ transaction). Because seqs commit in order (pg_push.c), a snapshot holds
 * exactly the seqs up to the head it reads, so its head is a cursor that skips nothing. */
#include "pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A read connection inside a snapshot; *head (if asked) is that snapshot's head. On a thread
 * that pinned one (ledger_read_begin), that snapshot. */
static PGconn *snapshot_begin(ledger *lg, int64_t *head, ids_error *err)
{
	PGconn *c = pg_reader_get(lg, err);
	if (!c)
		return NULL;
	int pinned = ledger_reader_pinned(lg, c);   /* already in the pinned snapshot */
	if (!pinned && pg_exec(lg, c, "begin", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err)) {
		pg_reader_put(lg, c);
		return NULL;
	}
	if (head) {
		PGresult *r = pg_run(lg, c, "read the head", "SELECT v::bigint FROM meta WHERE k='head'", 0, NULL, NULL,
				     NULL, err);
		*head = r && PQntuples(r) ? pg_i64(r, 0, 0) : 0;
		PQclear(r);
		if (!r) {
			if (!pinned)
				pg_exec(lg, c, "rollback", "ROLLBACK", NULL);
			pg_reader_put(lg, c);
			return NULL;
		}
	}
	return c;
}

static void snapshot_end(ledger *lg, PGconn *c)
{
	if (PQtransactionStatus(c) != PQTRANS_IDLE && !ledger_reader_pinned(lg, c))
		pg_exec(lg, c, "end", "ROLLBACK", NULL);
	pg_reader_put(lg, c);
}

/* A pull is one statement, so one snapshot (and one round trip): the head, the db's tombstone
 * horizon and the page of rows, the head and horizon repeated on every row (a row of NULLs when
 * the page is empty). */
static const char pull_sql[] =
	"SELECT h.v::bigint, coalesce(d.gc_floor, 0), r.seq, s.name, r.key, r.deleted, r.value, r.hlc"
	" FROM meta h LEFT JOIN dbs d ON d.name=$1"
	" LEFT JOIN LATERAL (SELECT seq, sid, key, deleted, value, hlc FROM rows WHERE did=d.did"
	"  AND uid IN (0, coalesce((SELECT uid FROM users WHERE name=$2 AND $2<>''), 0)) AND seq>$3"
	"  ORDER BY seq LIMIT $4) r ON true"
	" LEFT JOIN stores s ON s.sid=r.sid WHERE h.k='head' ORDER BY r.seq";

int ledger_pg_pull(ledger *lg, const ledger_pull_req *req, ids_buf *out, int64_t *cursor, int *count, ids_error *err)
{
	PGconn *c = pg_reader_get(lg, err);
	if (!c)
		return IDS_EIO;
	int rc = 0;
	char since[24], lim[24];
	snprintf(since, sizeof since, "%lld", (long long)req->since);
	snprintf(lim, sizeof lim, "%d", (req->limit > 0 ? req->limit : 1000) + 1);
	const char *v[] = {req->db, req->user, since, lim};
	PGresult *q = pg_run(lg, c, "pull", pull_sql, 4, v, NULL, NULL, err);
	if (!q || !PQntuples(q)) {
		rc = q ? ids_fail(err, IDS_ECORRUPT, "PostgreSQL (--state): the state has no head") : IDS_EIO;
	} else {
		pg_rows rows;
		pg_rows_init(&rows, q, 2);
		rc = ledger_pull_page(&rows.src, req, pg_i64(q, 0, 0), pg_i64(q, 0, 1), out, cursor, count, err);
		pg_rows_free(&rows);
	}
	PQclear(q);
	pg_reader_put(lg, c);
	return rc;
}

int ledger_pg_list_json(ledger *lg, const char *dbname, const char *user, ids_buf *out, ids_error *err)
{
	PGconn *c = pg_reader_get(lg, err);
	if (!c)
		return IDS_EIO;
	const char *v[] = {dbname, user};
	/* per-user counts come from the user's rows; without auth the store's running counts */
	PGresult *q = pg_run(lg, c, "stores",
			     user[0] ? "SELECT s.name, coalesce(c.live, 0), coalesce(c.tomb, 0) FROM stores s JOIN dbs d"
				       " ON d.did=s.did LEFT JOIN (SELECT sid, count(*) FILTER (WHERE deleted=0) AS live,"
				       " count(*) FILTER (WHERE deleted=1) AS tomb FROM rows WHERE uid IN (0, coalesce((SELECT"
				       " uid FROM users WHERE name=$2), 0)) GROUP BY sid) c ON c.sid=s.sid WHERE d.name=$1"
				       " ORDER BY s.name COLLATE \"C\""
				     : "SELECT s.name, s.live, s.tomb FROM stores s JOIN dbs d ON d.did=s.did WHERE d.name=$1"
				       " ORDER BY s.name COLLATE \"C\"",
			     user[0] ? 2 : 1, v, NULL, NULL, err);
	if (q) {
		ids_buf_puts(out, "{\"stores\":[");
		for (int i = 0; i < PQntuples(q); i++) {
			ids_buf_puts(out, i ? ",{\"name\":" : "{\"name\":");
			ids_buf_json_str(out, PQgetvalue(q, i, 0), (size_t)PQgetlength(q, i, 0));
			ids_buf_printf(out, ",\"rows\":%lld,\"tombstones\":%lld,\"conflict\":\"%s\"}", (long long)pg_i64(q, i, 1),
				       (long long)pg_i64(q, i, 2), ids_rule_name(ledger_rule(lg, dbname, PQgetvalue(q, i, 0))));
		}
		ids_buf_puts(out, "]}");
	}
	PQclear(q);
	pg_reader_put(lg, c);
	return q ? 0 : IDS_EIO;
}

int ledger_pg_names_json(ledger *lg, const char *dbname, ids_buf *out, ids_error *err)
{
	PGconn *c = pg_reader_get(lg, err);
	if (!c)
		return IDS_EIO;
	const char *v[] = {dbname};
	PGresult *q = pg_run(lg, c, "names",
			     dbname ? "SELECT s.name FROM stores s JOIN dbs d ON d.did=s.did WHERE d.name=$1 ORDER BY s.name COLLATE \"C\""
				    : "SELECT name FROM dbs ORDER BY name COLLATE \"C\"",
			     dbname ? 1 : 0, v, NULL, NULL, err);
	if (q) {
		ids_buf_putc(out, '[');
		for (int i = 0; i < PQntuples(q); i++) {
			if (i)
				ids_buf_putc(out, ',');
			ids_buf_json_str(out, PQgetvalue(q, i, 0), (size_t)PQgetlength(q, i, 0));
		}
		ids_buf_putc(out, ']');
	}
	PQclear(q);
	pg_reader_put(lg, c);
	return q ? 0 : IDS_EIO;
}

static const char *text_at(const PGresult *r, int i, int col) { return PQgetvalue(r, i, col); }

/* A scan of the change log (change set) or of the conflicts log (LEDGER_CHANGES_SQL,
 * LEDGER_CONFLICTS_SQL). */
static int scan_log(ledger *lg, const char *what, const char *sql, int64_t after, size_t max,
		    int (*change)(void *ctx, const ledger_change *c), int (*conflict)(void *ctx, const ledger_conflict *c),
		    void *ctx, int64_t *last, ids_error *err)
{
	*last = after;
	PGconn *c = pg_reader_get(lg, err);
	if (!c)
		return IDS_EIO;
	char a[24], m[24];
	snprintf(a, sizeof a, "%lld", (long long)after);
	snprintf(m, sizeof m, "%zu", max);
	const char *v[] = {a, m};
	PGresult *q = pg_run(lg, c, what, sql, 2, v, NULL, NULL, err);
	int rc = IDS_EIO;
	if (q) {
		pg_rows rows;
		pg_rows_init(&rows, q, 0);
		rc = change ? ledger_scan_changes(&rows.src, change, ctx, last, err)
			    : ledger_scan_conflicts(&rows.src, conflict, ctx, last, err);
		pg_rows_free(&rows);
	}
	PQclear(q);
	pg_reader_put(lg, c);
	return rc;
}

int ledger_pg_changes_scan(ledger *lg, int64_t after, size_t max, int (*fn)(void *ctx, const ledger_change *c),
			  void *ctx, int64_t *last, ids_error *err)
{
	return scan_log(lg, "scan changes", LEDGER_CHANGES_SQL("$1", "$2"), after, max, fn, NULL, ctx, last, err);
}

/* The changes up to seq upto older than cutoff are a prefix of the log (appended in seq order
 * with the server's clock as ts): the first change to keep is found by walking the primary key
 * from the oldest, and everything before it goes. "seq<=upto AND ts<cutoff" visited every
 * retained change (no index on ts) on each prune, every 5 s: O(log), not O(pruned). */
int pg_prune_changes(ledger *lg, PGconn *c, int64_t upto, int64_t cutoff, ids_error *err)
{
	char u[24], t[24];
	snprintf(u, sizeof u, "%lld", (long long)upto);
	snprintf(t, sizeof t, "%lld", (long long)cutoff);
	const char *v[] = {u, t};
	PGresult *q = pg_run(lg, c, "prune changes",
			     "DELETE FROM changes WHERE seq <= coalesce((SELECT seq FROM changes WHERE seq<=$1::bigint"
			     " AND ts>=$2::bigint ORDER BY seq LIMIT 1) - 1, $1::bigint)",
			     2, v, NULL, NULL, err);
	PQclear(q);
	return q ? 0 : IDS_EIO;
}

int ledger_pg_changes_prune(ledger *lg, int64_t upto, ids_error *err)
{
	PGconn *c = pg_reader_get(lg, err);
	if (!c)
		return IDS_EIO;
	int rc = pg_prune_changes(lg, c, upto, hlc_wall_ms() - lg->o.base_retention_ms, err);
	pg_reader_put(lg, c);
	return rc;
}

int64_t ledger_pg_conflicts_head(ledger *lg)
{
	PGconn *c = pg_reader_get(lg, NULL);
	if (!c)
		return 0;
	PGresult *q = pg_run(lg, c, "conflicts head", "SELECT coalesce(max(id), 0) FROM conflicts", 0, NULL, NULL, NULL, NULL);
	int64_t h = q && PQntuples(q) ? pg_i64(q, 0, 0) : 0;
	PQclear(q);
	pg_reader_put(lg, c);
	return h;
}

int ledger_pg_conflicts_scan(ledger *lg, int64_t after, size_t max, int (*fn)(void *ctx, const ledger_conflict *c),
			    void *ctx, int64_t *last, ids_error *err)
{
	return scan_log(lg, "scan conflicts", LEDGER_CONFLICTS_SQL("$1", "$2"), after, max, NULL, fn, ctx, last, err);
}

/* A row's columns from col on, in the order every row query selects them: khash, seq, hlc,
 * value, origin. */
static void row_tail(const PGresult *q, int row, int col, ledger_row *r)
{
	r->hash = (uint32_t)pg_i64(q, row, col);
	r->seq = pg_i64(q, row, col + 1);
	r->hlc = text_at(q, row, col + 2);
	r->value = PQgetvalue(q, row, col + 3);
	r->value_len = (size_t)PQgetlength(q, row, col + 3);
	r->origin = (ids_origin)pg_i64(q, row, col + 4);
}

int ledger_pg_rows_scan(ledger *lg, const char *dbname, const char *store_name, uint32_t lo, uint32_t hi,
		       int (*fn)(void *ctx, const ledger_row *r), void *ctx, int64_t *head, ids_error *err)
{
	PGconn *c = snapshot_begin(lg, head, err);
	if (!c)
		return IDS_EIO;
	char l[16], h[16];
	snprintf(l, sizeof l, "%u", lo);
	snprintf(h, sizeof h, "%u", hi);
	const char *v[] = {dbname, store_name, l, h};
	PGresult *q = pg_run(lg, c, "scan rows",
			     "SELECT u.name, r.key, r.khash, r.seq, r.hlc, r.value, r.origin FROM rows r"
			     " JOIN users u ON u.uid=r.uid WHERE r.sid=(SELECT s.sid FROM stores s JOIN dbs d ON d.did=s.did"
			     " WHERE d.name=$1 AND s.name=$2) AND r.khash BETWEEN $3 AND $4 AND r.deleted=0 ORDER BY r.key",
			     4, v, NULL, NULL, err);
	int rc = q ? 0 : IDS_EIO;
	for (int i = 0; q && i < PQntuples(q) && !rc; i++) {
		ledger_row r = {0};
		r.user = text_at(q, i, 0);
		uint8_t *key = pg_bytes(q, i, 1, &r.key_len);
		if (!key) {
			rc = ids_fail(err, IDS_ENOMEM, "out of memory");
			break;
		}
		r.key = key;
		row_tail(q, i, 2, &r);
		rc = fn(ctx, &r);
		PQfreemem(key);
	}
	PQclear(q);
	snapshot_end(lg, c);
	return rc;
}

int ledger_pg_rows_get(ledger *lg, const char *dbname, const char *store_name, const ledger_key_ref *keys, size_t n,
		      int (*fn)(void *ctx, size_t i, int found, const ledger_row *r), void *ctx, int64_t *head,
		      ids_error *err)
{
	PGconn *c = snapshot_begin(lg, head, err);
	if (!c)
		return IDS_EIO;
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		const char *user = keys[i].user ? keys[i].user : "";
		const char *v[] = {dbname, store_name, user, (const char *)keys[i].key};
		int lens[4] = {0, 0, 0, (int)keys[i].key_len}, bin[4] = {0, 0, 0, 1};
		PGresult *q = pg_run(lg, c, "row lookup",
				     "SELECT r.khash, r.seq, r.hlc, r.value, r.origin FROM rows r WHERE r.sid=(SELECT s.sid"
				     " FROM stores s JOIN dbs d ON d.did=s.did WHERE d.name=$1 AND s.name=$2)"
				     " AND r.uid=(SELECT uid FROM users WHERE name=$3) AND r.key=$4 AND r.deleted=0",
				     4, v, lens, bin, err);
		if (!q) {
			rc = IDS_EIO;
			break;
		}
		ledger_row r = {0};
		int found = PQntuples(q) > 0;
		r.user = user;
		r.key = keys[i].key;
		r.key_len = keys[i].key_len;
		if (found) {
			row_tail(q, 0, 0, &r);
		}
		rc = fn(ctx, i, found, &r);
		PQclear(q);
	}
	snapshot_end(lg, c);
	return rc;
}
