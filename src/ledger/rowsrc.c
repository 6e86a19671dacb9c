/* What both backends read from a row, in one place: the change-log and conflict-log scans, a
 * pull's page and a key's current row, each over a row source (ledger_rowsrc) that a backend
 * makes of its answer (SQLite here, PostgreSQL in pg_read.c). */
#include "ledger_int.h"

#include <stdio.h>
#include <string.h>

static int sq_next(ledger_rowsrc *r, ids_error *err)
{
	ledger_sqlite_rows *q = (ledger_sqlite_rows *)r;
	int step = sqlite3_step(q->q);
	if (step == SQLITE_ROW)
		return 1;
	if (step == SQLITE_DONE)
		return 0;
	return ledger_sql_err(q->lg, sqlite3_db_handle(q->q), step, err, q->what);
}

static int64_t sq_i64(ledger_rowsrc *r, int col) { return sqlite3_column_int64(((ledger_sqlite_rows *)r)->q, col); }

static const char *sq_text(ledger_rowsrc *r, int col, size_t *len)
{
	sqlite3_stmt *q = ((ledger_sqlite_rows *)r)->q;
	if (sqlite3_column_type(q, col) == SQLITE_NULL) {
		*len = 0;
		return NULL;
	}
	const char *t = (const char *)sqlite3_column_text(q, col);
	*len = (size_t)sqlite3_column_bytes(q, col);
	return t;
}

static int sq_blob(ledger_rowsrc *r, int col, const uint8_t **p, size_t *len, ids_error *err)
{
	(void)err;
	sqlite3_stmt *q = ((ledger_sqlite_rows *)r)->q;
	*p = sqlite3_column_blob(q, col);
	*len = (size_t)sqlite3_column_bytes(q, col);
	return 0;
}

void ledger_sqlite_rows_init(ledger_sqlite_rows *r, ledger *lg, sqlite3_stmt *q, const char *what)
{
	r->src = (ledger_rowsrc){sq_next, sq_i64, sq_text, sq_blob};
	r->lg = lg;
	r->q = q;
	r->what = what;
}

/* text that is never NULL (a NULL name reads as "") */
static const char *str(ledger_rowsrc *r, int col)
{
	size_t l;
	const char *t = r->text(r, col, &l);
	return t ? t : "";
}

/* The ten columns the change log and the conflicts log share (LEDGER_LOG_COLS). */
typedef struct log_cols {
	int64_t id, mid;
	const char *db, *store, *user, *client, *hlc, *value;
	const uint8_t *key;
	size_t key_len, value_len;
	ids_op op;
} log_cols;

static int read_log_cols(ledger_rowsrc *r, log_cols *c, ids_error *err)
{
	c->id = r->i64(r, 0);
	c->db = str(r, 1), c->store = str(r, 2), c->user = str(r, 3), c->client = str(r, 4);
	int rc = r->blob(r, 5, &c->key, &c->key_len, err);
	c->op = (ids_op)r->i64(r, 6);
	c->hlc = str(r, 7);
	c->value = r->text(r, 8, &c->value_len);
	c->mid = r->i64(r, 9);
	return rc;
}

#define LOG_FIELDS(c)                                                                                  \
	.db = (c).db, .store = (c).store, .user = (c).user, .client = (c).client, .key = (c).key,          \
	.key_len = (c).key_len, .op = (c).op, .hlc = (c).hlc, .value = (c).value, .value_len = (c).value_len, \
	.mid = (c).mid

int ledger_scan_changes(ledger_rowsrc *r, int (*fn)(void *ctx, const ledger_change *c), void *ctx, int64_t *last,
		       ids_error *err)
{
	int rc;
	while ((rc = r->next(r, err)) == 1) {
		log_cols l;
		if ((rc = read_log_cols(r, &l, err)))
			break;
		ledger_change c = {.seq = l.id, LOG_FIELDS(l), .origin = (ids_origin)r->i64(r, 10), .ts_ms = r->i64(r, 11)};
		if ((rc = fn(ctx, &c)))
			break;
		*last = c.seq;
	}
	return rc;
}

int ledger_scan_conflicts(ledger_rowsrc *r, int (*fn)(void *ctx, const ledger_conflict *c), void *ctx,
			 int64_t *last, ids_error *err)
{
	int rc;
	while ((rc = r->next(r, err)) == 1) {
		log_cols l;
		if ((rc = read_log_cols(r, &l, err)))
			break;
		ledger_conflict c = {.id = l.id, LOG_FIELDS(l), .rule = str(r, 10), .reason = str(r, 11),
				    .winner_seq = r->i64(r, 12), .winner_hlc = str(r, 13), .ts_ms = r->i64(r, 14)};
		if ((rc = fn(ctx, &c)))
			break;
		*last = c.id;
	}
	return rc;
}

int ledger_pull_page(ledger_rowsrc *r, const ledger_pull_req *req, int64_t head, int64_t floor,
		    ids_buf *out, int64_t *cursor, int *count, ids_error *err)
{
	int rc = ledger_pull_horizon(req->since, floor, err), n = 0, more = 0;
	if (rc)
		return rc;
	int64_t cur = req->since;
	int limit = req->limit > 0 ? req->limit : 1000;
	ids_buf_puts(out, "{\"changes\":[");
	size_t start = out->len, max_bytes = req->max_bytes ? req->max_bytes : (16u << 20);
	while ((rc = r->next(r, err)) == 1) {
		if (n == limit || (n > 0 && out->len - start > max_bytes)) {
			more = 1;
			break;
		}
		const uint8_t *key;
		size_t klen, slen, vlen, hlen;
		if ((rc = r->blob(r, 2, &key, &klen, err)))
			return rc;
		const char *sname = r->text(r, 1, &slen), *val = r->text(r, 4, &vlen), *hlc = r->text(r, 5, &hlen);
		cur = r->i64(r, 0);
		ledger_emit_change(out, n == 0, cur, sname ? sname : "", slen, key, klen, (int)r->i64(r, 3), val, vlen,
				  hlc ? hlc : "", hlen);
		n++;
	}
	if (rc < 0)
		return rc;
	/* With nothing more to send, the snapshot's head is a safe cursor: every later commit
	 * gets a larger seq. */
	if (!more && head > cur)
		cur = head;
	ids_buf_printf(out, "],\"cursor\":%lld,\"more\":%s,\"now\":%lld}", (long long)cur, more ? "true" : "false",
		       (long long)hlc_wall_ms());
	if (out->failed)
		return ids_fail(err, out->failed, "pull response too large");
	/* noted and counted once per answer by ledger_pull_done, however many looks it took */
	*cursor = cur;
	*count = n;
	return 0;
}

void ledger_read_cur(ledger_rowsrc *r, int col, ids_row *cur, char cur_hlc[HLC_STR_MAX])
{
	cur->exists = 1;
	cur->seq = r->i64(r, col);
	snprintf(cur_hlc, HLC_STR_MAX, "%s", str(r, col + 1));
	hlc_parse(&cur->hlc, cur_hlc, strlen(cur_hlc), NULL);
	cur->deleted = (int)r->i64(r, col + 2);
	cur->origin = (ids_origin)r->i64(r, col + 3);
	cur->value = r->text(r, col + 4, &cur->value_len);
	cur->meta = r->text(r, col + 5, &cur->meta_len);
}
