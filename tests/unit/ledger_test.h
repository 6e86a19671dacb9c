/* The state ledger's test helpers, shared by test_ledger.c (the suite both backends pass) and
 * test_ledger_multi.c (several ledgers on one PostgreSQL): pushes from JSON bodies, pulls parsed
 * back, the pushers' batches and a waiter thread, and open_dir(), which opens the SQLite state in a
 * temp dir or, when IDBSYNC_TEST_PG names a PostgreSQL (tests/pg/ledger.test.mjs starts one), a
 * fresh database named after that dir (open_state: several data dirs on one state).
 * Header-only: one test executable per .c file. */
#ifndef IDS_LEDGER_TEST_H
#define IDS_LEDGER_TEST_H

#include "idbsync/ledger.h"
#include "idbsync/value.h"

#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

static char tmproot[256];

static inline void make_dir(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", tmproot, name);
}

/* IDBSYNC_TEST_PG: a libpq URI with "{db}" where the database name goes (tests/pg/ledger.test.mjs);
 * NULL: the SQLite backend. */
static inline const char *pg_template(void)
{
	const char *t = getenv("IDBSYNC_TEST_PG");
	return t && *t ? t : NULL;
}

/* The template with {db} replaced. */
static inline void pg_uri(char *out, size_t n, const char *db)
{
	const char *t = pg_template(), *at = strstr(t, "{db}");
	if (!at)
		snprintf(out, n, "%s", t);
	else
		snprintf(out, n, "%.*s%s%s", (int)(at - t), t, db, at + 4);
}

/* CREATE DATABASE name unless it exists (through the "postgres" database). */
static inline int pg_create_db(const char *name)
{
	char uri[1024], sql[300];
	pg_uri(uri, sizeof uri, "postgres");
	PGconn *c = PQconnectdb(uri);
	snprintf(sql, sizeof sql, "CREATE DATABASE \"%s\"", name);
	PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	int ok = r && (PQresultStatus(r) == PGRES_COMMAND_OK || (state && !strcmp(state, "42P04")));
	if (!ok)
		fprintf(stderr, "  CREATE DATABASE %s: %s\n", name, PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
	return ok ? 0 : -1;
}

/* The state of dir: SQLite in it, or (IDBSYNC_TEST_PG) the PostgreSQL database named after its
 * path below tmproot, so that reopening dir finds the same state. state gets the URI. */
static inline void state_for(const char *dir, char *state, size_t n)
{
	state[0] = 0;
	if (!pg_template())
		return;
	char name[200];
	const char *rel = strncmp(dir, tmproot, strlen(tmproot)) ? dir : dir + strlen(tmproot) + 1;
	snprintf(name, sizeof name, "t_%.60s", rel); /* PostgreSQL names: 63 bytes */
	for (char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
			*p = '_';
	if (!pg_create_db(name))
		pg_uri(state, n, name);
}

/* Opens the state `state` (NULL: SQLite in dir) with dir as its data dir. */
static inline ledger *open_state(const char *dir, const char *state, int durable)
{
	ledger_options o = LEDGER_OPTIONS_INIT;
	o.dir = dir;
	o.state = state && state[0] ? state : NULL;
	o.durable = durable;
	ledger *lg = NULL;
	ids_error err = IDS_ERROR_INIT;
	if (!CHECK_EQ_INT(ledger_open(&lg, &o, &err), 0))
		fprintf(stderr, "  ledger_open(%s): %s\n", o.state ? o.state : dir, err.msg);
	return lg;
}

static inline ledger *open_dir(const char *dir, int durable)
{
	char state[1024];
	state_for(dir, state, sizeof state);
	return open_state(dir, state, durable);
}

/* Parses body as a client push (with the ledger's clock for the skew check) and pushes it as
 * `user`. res is initialized here; the caller frees it. */
static inline int push(ledger *lg, const char *db, const char *user, const char *body, ledger_push_result *res,
		ids_error *err)
{
	ids_batch *b = NULL;
	ids_limits lim = IDS_LIMITS_INIT;
	ledger_push_result_init(res);
	int rc = ids_batch_parse(&b, db, strdup(body), strlen(body), &lim, ledger_clock(lg), err);
	if (rc) {
		fprintf(stderr, "  batch rejected: %s\n", err->msg);
		return rc;
	}
	snprintf(b->user, sizeof b->user, "%s", user);
	rc = ledger_push(lg, b, res, err);
	ids_batch_free(b);
	return rc;
}

/* Same, for bodies built with printf. */
static inline int pushf(ledger *lg, const char *db, const char *user, ledger_push_result *res, ids_error *err,
		 const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static inline int pushf(ledger *lg, const char *db, const char *user, ledger_push_result *res, ids_error *err,
		 const char *fmt, ...)
{
	char body[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(body, sizeof body, fmt, ap);
	va_end(ap);
	return push(lg, db, user, body, res, err);
}

/* Batch bi (from 0) of a pusher that sends batches of `per` puts to store_name as `client`: its
 * body into body (reset first), ids counting on from the batch before, key "<client>-<id>" and
 * value <id>. Returns the batch's last id (the ack it expects). */
static inline int64_t nth_batch(ids_buf *body, const char *client, int bi, int per, const char *store_name)
{
	int first = 1 + bi * per;
	ids_buf_reset(body);
	ids_buf_printf(body, "{\"client\":\"%s\",\"mutations\":[", client);
	for (int id = first; id < first + per; id++)
		ids_buf_printf(body, "%s{\"id\":%d,\"store\":\"%s\",\"op\":\"put\",\"key\":\"%s-%d\",\"value\":%d}",
			       id > first ? "," : "", id, store_name, client, id, id);
	ids_buf_puts(body, "]}");
	return first + per - 1;
}

/* A thread waiting (ledger_wait) for the head to pass `after`: moved gets its answer. */
typedef struct waiter {
	ledger *lg;
	int64_t after;
	int timeout_ms;
	int moved;
} waiter;

static inline void *wait_thread(void *arg)
{
	waiter *w = arg;
	w->moved = ledger_wait(w->lg, w->after, w->timeout_ms);
	return NULL;
}

typedef struct change {
	int64_t seq;
	char store[64];
	char key[128];   /* canonical key JSON */
	int del;
	char value[256]; /* minified */
	char hlc[HLC_STR_MAX];
} change;

typedef struct pulled {
	int rc;
	int count;       /* from ledger_pull */
	int parsed;      /* number of elements in "changes" */
	int64_t cursor;  /* from ledger_pull */
	int64_t json_cursor;
	int more;
	change c[1200];
	char err[512];
} pulled;

static pulled P; /* big: static */

static inline pulled *pull(ledger *lg, const char *db, const char *user, const char *client, int64_t since, int limit)
{
	memset(&P, 0, sizeof P);
	ledger_pull_req req = {.db = db, .user = user, .client = client, .since = since, .limit = limit};
	ids_buf out = IDS_BUF_INIT;
	ids_error err = IDS_ERROR_INIT;
	P.rc = ledger_pull(lg, &req, &out, &P.cursor, &P.count, &err);
	snprintf(P.err, sizeof P.err, "%s", err.msg);
	if (P.rc) {
		ids_buf_free(&out);
		return &P;
	}
	ids_json j = IDS_JSON_INIT;
	if (!CHECK_EQ_INT(ids_json_parse(&j, out.data, out.len, 0, 0, &err), 0)) {
		fprintf(stderr, "  pull output is not JSON: %s\n", err.msg);
		ids_buf_free(&out);
		return &P;
	}
	long ch = ids_json_get(&j, 0, "changes");
	long cu = ids_json_get(&j, 0, "cursor");
	long mo = ids_json_get(&j, 0, "more");
	CHECK(ch > 0 && cu > 0 && mo > 0);
	if (cu > 0)
		ids_json_i64(&j, (size_t)cu, &P.json_cursor);
	P.more = mo > 0 && j.tok[mo].type == IDS_JTRUE;
	if (ch > 0) {
		size_t t = (size_t)ch + 1;
		for (uint32_t i = 0; i < j.tok[ch].size && i < 1200; i++) {
			change *c = &P.c[i];
			long f = ids_json_get(&j, t, "seq");
			if (f > 0)
				ids_json_i64(&j, (size_t)f, &c->seq);
			f = ids_json_get(&j, t, "store");
			if (f > 0)
				ids_json_strcpy(&j, (size_t)f, c->store, sizeof c->store);
			f = ids_json_get(&j, t, "op");
			c->del = f > 0 && ids_json_streq(&j, (size_t)f, "delete");
			ids_buf tmp = IDS_BUF_INIT;
			f = ids_json_get(&j, t, "key");
			if (f > 0)
				ids_json_minify(&j, (size_t)f, &tmp);
			snprintf(c->key, sizeof c->key, "%s", tmp.data ? tmp.data : "");
			ids_buf_reset(&tmp);
			f = ids_json_get(&j, t, "value");
			if (f > 0)
				ids_json_minify(&j, (size_t)f, &tmp);
			snprintf(c->value, sizeof c->value, "%s", tmp.data ? tmp.data : "");
			ids_buf_free(&tmp);
			f = ids_json_get(&j, t, "hlc");
			if (f > 0)
				ids_json_strcpy(&j, (size_t)f, c->hlc, sizeof c->hlc);
			P.parsed++;
			t = j.tok[t].next;
		}
	}
	ids_json_free(&j);
	ids_buf_free(&out);
	return &P;
}

static inline change *find_key(pulled *p, const char *key)
{
	for (int i = 0; i < p->parsed; i++)
		if (!strcmp(p->c[i].key, key))
			return &p->c[i];
	return NULL;
}

/* One integer from the SQLite state in dir (-1 if none), on a connection of its own. */
static inline long long sql_int(const char *dir, const char *sql)
{
	char path[600];
	snprintf(path, sizeof path, "%s/idbsync.sqlite", dir);
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	long long v = -1;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
	return v;
}

static inline int sql_exec(const char *dir, const char *sql)
{
	char path[600];
	snprintf(path, sizeof path, "%s/idbsync.sqlite", dir);
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc;
}

/* The rows table of a closed SQLite state put back as schema versions 1 and 2 had it: keys unique
 * by UNIQUE(sid, uid, key), no rows_key; rowids kept. The version is the caller's to set. */
static inline int old_rows_table(const char *dir)
{
	return sql_exec(dir, "BEGIN;"
			     "CREATE TABLE rows_old(sid INTEGER NOT NULL, uid INTEGER NOT NULL, key BLOB NOT NULL,"
			     " did INTEGER NOT NULL, seq INTEGER NOT NULL, hlc TEXT NOT NULL, deleted INTEGER NOT NULL,"
			     " origin INTEGER NOT NULL, value TEXT, meta TEXT, khash INTEGER NOT NULL, UNIQUE(sid, uid, key));"
			     "INSERT INTO rows_old(rowid, sid, uid, key, did, seq, hlc, deleted, origin, value, meta, khash)"
			     " SELECT rowid, sid, uid, key, did, seq, hlc, deleted, origin, value, meta, khash FROM rows;"
			     "DROP TABLE rows;"
			     "ALTER TABLE rows_old RENAME TO rows;"
			     "CREATE INDEX rows_pull ON rows(did, uid, seq);"
			     "CREATE INDEX rows_tomb ON rows(did, sid, seq) WHERE deleted=1;"
			     "COMMIT");
}

static inline const char *hlc_at(int64_t offset_ms, int ctr, const char *node)
{
	static char buf[8][HLC_STR_MAX];
	static int i;
	char *b = buf[i++ % 8];
	/* one base for the whole run: stamps compare by their offsets alone, however long the
	 * pushes between them take (a loaded machine took > 300 ms between two, and a stamp meant
	 * to be older came out newer) */
	static int64_t base;
	if (!base)
		base = hlc_wall_ms() - 60000;
	hlc_stamp st;
	st.ms = base + offset_ms;
	st.counter = (uint32_t)ctr;
	snprintf(st.node, sizeof st.node, "%s", node);
	hlc_format(&st, b);
	return b;
}

#endif
