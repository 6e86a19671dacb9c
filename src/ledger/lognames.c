/* The change log's and the conflict log's rows name their database, store, user and client by
 * id. SQLite's scans of them (the lake's flush reads every change this way) read the ids and
 * look each name up once per scan, in a few slots per kind, where four joins per row cost
 * about 1,400 instructions a change, 5% of a flush (docs/benchmarks.md, "The lake's backlog,
 * its log scan"). A row whose database, store or user has no name is passed over, as the joins did
 * (nothing deletes those rows); a client without one reads as "", the LEFT JOIN's coalesce.
 * PostgreSQL's scans keep the joins (pg_read.c). */
#include "ledger_int.h"

#include <stdlib.h>
#include <string.h>

static const char *const look_sql[LOG_NAME_KINDS] = {
	"SELECT name FROM dbs WHERE did=?1", "SELECT name FROM stores WHERE sid=?1",
	"SELECT name FROM users WHERE uid=?1", "SELECT name FROM clients WHERE cid=?1"};

/* The name of id of kind into r->name[kind]: 1 found, 0 no such row, or a negative error code
 * (err set). */
static int name_of(ledger_log_rows *r, int kind, int64_t id, ids_error *err)
{
	ledger_log_name *s = &r->slot[kind][(uint64_t)id % LOG_NAME_SLOTS];
	if (!s->state || s->id != id) {
		sqlite3 *db = sqlite3_db_handle(r->base.q);
		sqlite3_stmt **q = &r->look[kind];
		if (!*q && sqlite3_prepare_v2(db, look_sql[kind], -1, q, NULL) != SQLITE_OK)
			return ledger_sql_err(r->base.lg, db, SQLITE_ERROR, err, r->base.what);
		sqlite3_bind_int64(*q, 1, id);
		int step = sqlite3_step(*q);
		const char *t = step == SQLITE_ROW ? (const char *)sqlite3_column_text(*q, 0) : NULL;
		char *copy = step == SQLITE_ROW ? strdup(t ? t : "") : NULL;
		sqlite3_reset(*q);
		if (step != SQLITE_ROW && step != SQLITE_DONE)
			return ledger_sql_err(r->base.lg, db, step, err, r->base.what);
		if (step == SQLITE_ROW && !copy)
			return ids_fail(err, IDS_ENOMEM, "%s: out of memory", r->base.what);
		free(s->name);
		s->id = id;
		s->name = copy;
		s->len = copy ? strlen(copy) : 0;
		s->state = copy ? 1 : -1;
	}
	r->name[kind] = s->name;
	r->len[kind] = s->len;
	return s->state > 0;
}

static int log_next(ledger_rowsrc *src, ids_error *err)
{
	ledger_log_rows *r = (ledger_log_rows *)src;
	for (;;) {
		int rc = r->sq.next(src, err);
		if (rc != 1)
			return rc;
		int named = 1;
		for (int k = 0; k < LOG_NAME_KINDS && named; k++) {
			int col = 1 + k;
			named = sqlite3_column_type(r->base.q, col) == SQLITE_NULL
					? 0
					: name_of(r, k, sqlite3_column_int64(r->base.q, col), err);
			if (named < 0)
				return named;   /* an error code */
			if (!named && k == LOG_NAME_CLIENT) {
				r->name[k] = "";
				r->len[k] = 0;
				named = 1;
			}
		}
		if (named)
			return 1;
	}
}

static const char *log_text(ledger_rowsrc *src, int col, size_t *len)
{
	ledger_log_rows *r = (ledger_log_rows *)src;
	if (col >= 1 && col <= LOG_NAME_KINDS) {
		*len = r->len[col - 1];
		return r->name[col - 1];
	}
	return r->sq.text(src, col, len);
}

void ledger_log_rows_init(ledger_log_rows *r, ledger *lg, sqlite3_stmt *q, const char *what)
{
	memset(r, 0, sizeof *r);
	ledger_sqlite_rows_init(&r->base, lg, q, what);
	/* only the names differ from SQLite's source: its i64 and blob serve as they are */
	r->sq = r->base.src;
	r->base.src.next = log_next;
	r->base.src.text = log_text;
}

void ledger_log_rows_end(ledger_log_rows *r)
{
	for (int k = 0; k < LOG_NAME_KINDS; k++) {
		sqlite3_finalize(r->look[k]);
		for (int i = 0; i < LOG_NAME_SLOTS; i++)
			free(r->slot[k][i].name);
	}
}
