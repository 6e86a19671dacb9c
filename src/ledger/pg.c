/* The PostgreSQL backend's plumbing: connections (reconnecting after the database restarts),
 * the schema, the listener thread that turns NOTIFYs of other servers' commits into wake-ups
 * of this server's long-polls, and leases (session advisory locks). Several idbsync servers
 * share one database; docs/scaling.md says why their pushes and pulls stay exact. */
#include "pg_int.h"
#include "idbsync/path.h"

#include <pthread.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Created under an advisory lock: servers starting together must not race on CREATE TABLE. */
static const char *const pg_schema =
	"CREATE TABLE IF NOT EXISTS meta(k text PRIMARY KEY, v text NOT NULL);"
	"CREATE TABLE IF NOT EXISTS dbs(did bigserial PRIMARY KEY, name text UNIQUE NOT NULL,"
	" gc_floor bigint NOT NULL DEFAULT 0);"
	"CREATE TABLE IF NOT EXISTS users(uid bigserial PRIMARY KEY, name text UNIQUE NOT NULL);"
	"INSERT INTO users(uid, name) VALUES(0, '') ON CONFLICT DO NOTHING;"
	"CREATE TABLE IF NOT EXISTS stores(sid bigserial PRIMARY KEY, did bigint NOT NULL, name text NOT NULL,"
	" live bigint NOT NULL DEFAULT 0, tomb bigint NOT NULL DEFAULT 0, UNIQUE(did, name));"
	"CREATE TABLE IF NOT EXISTS clients(cid bigserial PRIMARY KEY, did bigint NOT NULL, uid bigint NOT NULL,"
	" name text NOT NULL, last_mid bigint NOT NULL DEFAULT 0, pulled bigint NOT NULL DEFAULT 0,"
	" seen bigint NOT NULL DEFAULT 0, UNIQUE(did, uid, name));"
	"CREATE TABLE IF NOT EXISTS rows(sid bigint NOT NULL, uid bigint NOT NULL, key bytea NOT NULL,"
	" did bigint NOT NULL, seq bigint NOT NULL, hlc text NOT NULL, deleted int NOT NULL,"
	" origin int NOT NULL, value text, meta text, khash bigint NOT NULL, PRIMARY KEY(sid, uid, key));"
	"CREATE INDEX IF NOT EXISTS rows_pull ON rows(did, seq);" /* pulls: in seq order, uid filtered */
	/* tombstones only: the collector's DELETE reads them, not every row of the database (it
	 * holds the head lock, so every push waited for that scan) */
	"CREATE INDEX IF NOT EXISTS rows_tomb ON rows(did, seq) WHERE deleted=1;"
	"CREATE TABLE IF NOT EXISTS changes(seq bigint PRIMARY KEY, did bigint NOT NULL, sid bigint NOT NULL,"
	" uid bigint NOT NULL, key bytea NOT NULL, op int NOT NULL, hlc text NOT NULL, value text,"
	" cid bigint NOT NULL, mid bigint NOT NULL, origin int NOT NULL, ts bigint NOT NULL);"
	"CREATE TABLE IF NOT EXISTS conflicts(id bigserial PRIMARY KEY, did bigint, sid bigint, uid bigint,"
	" key bytea, cid bigint, mid bigint, op int, hlc text, value text, rule text, reason text,"
	" winner_seq bigint, winner_hlc text, ts bigint);"
	"INSERT INTO meta(k, v) VALUES('schema_version', '1') ON CONFLICT DO NOTHING;"
	"INSERT INTO meta(k, v) VALUES('head', '0') ON CONFLICT DO NOTHING;";

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

static void notice_quiet(void *arg, const char *msg) { (void)arg, (void)msg; }

int pg_connect(ledger *lg, PGconn **c, ids_error *err)
{
	if (*c && PQstatus(*c) == CONNECTION_OK)
		return 0;
	PQfinish(*c);
	/* the URI is expanded; the later keywords fill in what it leaves out */
	const char *keys[] = {"dbname", "connect_timeout", "fallback_application_name", NULL};
	const char *vals[] = {lg->pg->uri, "5", "idbsync", NULL};
	*c = PQconnectdbParams(keys, vals, 1);
	if (!*c)
		return ids_fail(err, IDS_ENOMEM, "out of memory connecting to PostgreSQL");
	if (PQstatus(*c) != CONNECTION_OK) {
		int rc = ids_fail(err, IDS_EIO, "cannot connect to PostgreSQL (--state): %s",
				  PQerrorMessage(*c));
		PQfinish(*c);
		*c = NULL;
		return rc;
	}
	PQsetNoticeProcessor(*c, notice_quiet, NULL); /* "relation already exists, skipping" */
	/* acks wait for the commit's WAL flush (durable), unless --unsafe-no-fsync. No bitmap scans:
	 * with statistics not yet gathered on a growing table, the planner picks one for a pull and
	 * sorts every row after the cursor where the (did, seq) index stops after one page. */
	return pg_exec(lg, *c, "session settings",
		       lg->o.durable ? "SET synchronous_commit=on; SET enable_bitmapscan=off"
				    : "SET synchronous_commit=off; SET enable_bitmapscan=off",
		       err);
}

PGresult *pg_run(ledger *lg, PGconn *c, const char *what, const char *sql, int n, const char *const *vals,
		 const int *lens, const int *binary, ids_error *err)
{
	/* without parameters: the simple protocol, which also runs several statements (the schema) */
	PGresult *r = n ? PQexecParams(c, sql, n, NULL, vals, lens, binary, 0) : PQexec(c, sql);
	ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return r;
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	/* 53100 disk_full; everything else is the database being unreachable or unwell */
	int code = state && !strcmp(state, "53100") ? IDS_ENOSPC : IDS_EIO;
	ids_fail(err, code, "PostgreSQL: %s: %s", what,
		 r && PQresultErrorMessage(r)[0] ? PQresultErrorMessage(r) : PQerrorMessage(c));
	/* drop the trailing newline libpq puts on its messages */
	if (err) {
		size_t l = strlen(err->msg);
		while (l && (err->msg[l - 1] == '\n' || err->msg[l - 1] == ' '))
			err->msg[--l] = 0;
	}
	PQclear(r);
	return NULL;
}

int pg_exec(ledger *lg, PGconn *c, const char *what, const char *sql, ids_error *err)
{
	PGresult *r = pg_run(lg, c, what, sql, 0, NULL, NULL, NULL, err);
	if (!r)
		return err && err->code ? err->code : IDS_EIO;
	PQclear(r);
	return 0;
}

int64_t pg_i64(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

uint8_t *pg_bytes(const PGresult *r, int row, int col, size_t *len)
{
	return PQunescapeBytea((const unsigned char *)PQgetvalue(r, row, col), len);
}

static int rows_next(ledger_rowsrc *r, ids_error *err)
{
	(void)err;
	pg_rows *p = (pg_rows *)r;
	PQfreemem(p->blob);
	p->blob = NULL;
	p->row++;
	return p->row < PQntuples(p->r) && !PQgetisnull(p->r, p->row, p->col0);
}

static int64_t rows_i64(ledger_rowsrc *r, int col)
{
	pg_rows *p = (pg_rows *)r;
	return pg_i64(p->r, p->row, p->col0 + col);
}

static const char *rows_text(ledger_rowsrc *r, int col, size_t *len)
{
	pg_rows *p = (pg_rows *)r;
	*len = 0;
	if (PQgetisnull(p->r, p->row, p->col0 + col))
		return NULL;
	*len = (size_t)PQgetlength(p->r, p->row, p->col0 + col);
	return PQgetvalue(p->r, p->row, p->col0 + col);
}

static int rows_blob(ledger_rowsrc *r, int col, const uint8_t **out, size_t *len, ids_error *err)
{
	pg_rows *p = (pg_rows *)r;
	PQfreemem(p->blob);
	p->blob = pg_bytes(p->r, p->row, p->col0 + col, len);
	*out = p->blob;
	return p->blob ? 0 : ids_fail(err, IDS_ENOMEM, "out of memory");
}

void pg_rows_init(pg_rows *r, const PGresult *q, int col0)
{
	*r = (pg_rows){{rows_next, rows_i64, rows_text, rows_blob}, q, -1, col0, NULL};
}

void pg_rows_free(pg_rows *r)
{
	PQfreemem(r->blob);
	r->blob = NULL;
}

PGconn *pg_reader_get(ledger *lg, ids_error *err)
{
	struct ledger_pg *pg = lg->pg;
	int i = -1;
	pthread_mutex_lock(&lg->rmu);
	PGconn *pin = ledger_pin_mine(lg);
	if (pin) {
		pthread_mutex_unlock(&lg->rmu);
		return pin;
	}
	for (;;) {
		for (int k = 0; k < PG_READERS && i < 0; k++)
			if (!pg->reader_busy[k])
				i = k;
		if (i >= 0)
			break;
		pthread_cond_wait(&lg->rfree, &lg->rmu);
	}
	pg->reader_busy[i] = 1;
	pthread_mutex_unlock(&lg->rmu);
	if (pg_connect(lg, &pg->readers[i], err)) {
		pthread_mutex_lock(&lg->rmu);
		pg->reader_busy[i] = 0;
		pthread_cond_signal(&lg->rfree);
		pthread_mutex_unlock(&lg->rmu);
		return NULL;
	}
	return pg->readers[i];
}

void pg_reader_put(ledger *lg, PGconn *c)
{
	struct ledger_pg *pg = lg->pg;
	pthread_mutex_lock(&lg->rmu);
	for (int i = 0; i < PG_READERS && c != lg->pin; i++)   /* the pin stays taken: ledger_read_end */
		if (pg->readers[i] == c)
			pg->reader_busy[i] = 0;
	pthread_cond_signal(&lg->rfree);
	pthread_mutex_unlock(&lg->rmu);
}

/* Moves the head forward (a commit of any server) and wakes long-polls and SSE streams. */
static void head_seen(ledger *lg, int64_t h)
{
	pthread_mutex_lock(&lg->mu);
	if (h > lg->head) {
		lg->head = h;
		pthread_cond_broadcast(&lg->changed);
	}
	pthread_mutex_unlock(&lg->mu);
}

static int64_t read_head(ledger *lg, PGconn *c, ids_error *err)
{
	PGresult *r = pg_run(lg, c, "read the head", "SELECT v::bigint FROM meta WHERE k='head'", 0, NULL, NULL,
			     NULL, err);
	int64_t h = r && PQntuples(r) ? pg_i64(r, 0, 0) : -1;
	PQclear(r);
	return h;
}

/* The state's epoch (meta 'epoch') into lg->epoch; "" when the schema is not there yet. */
static int read_epoch(ledger *lg, ids_error *err)
{
	lg->epoch[0] = 0;
	/* two statements: a query naming meta would fail to parse before it exists */
	PGresult *r = pg_run(lg, lg->pg->w, "read the schema", "SELECT to_regclass('meta') IS NOT NULL", 0, NULL, NULL,
			     NULL, err);
	if (!r)
		return IDS_EIO;
	int exists = PQntuples(r) && !strcmp(PQgetvalue(r, 0, 0), "t");
	PQclear(r);
	if (!exists)
		return 0;
	r = pg_run(lg, lg->pg->w, "read the schema", "SELECT v FROM meta WHERE k='epoch'", 0, NULL, NULL, NULL, err);
	if (!r)
		return IDS_EIO;
	if (PQntuples(r))
		snprintf(lg->epoch, sizeof lg->epoch, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	return 0;
}

int64_t ledger_pg_head_fresh(ledger *lg)
{
	PGconn *c = pg_reader_get(lg, NULL);
	int64_t h = c ? read_head(lg, c, NULL) : -1;
	if (c)
		pg_reader_put(lg, c);
	if (h >= 0)
		head_seen(lg, h);
	return ledger_head(lg);
}

static int listener_stopping(ledger *lg)
{
	pthread_mutex_lock(&lg->mu);
	int stop = lg->stop;
	pthread_mutex_unlock(&lg->mu);
	return stop;
}

/* Every commit NOTIFYs idbsync_head (pg_push.c); this thread reads the head then and wakes this
 * server's waiters for commits made by any server. After a reconnect it reads the head once, which
 * covers notifications sent while it was away. */
static void *listener_main(void *arg)
{
	pthread_setname_np(pthread_self(), "idb-pg-listen");
	ledger *lg = arg;
	struct ledger_pg *pg = lg->pg;
	int listening = 0;
	while (!listener_stopping(lg)) {
		if (!listening) {
			if (pg_connect(lg, &pg->listen, NULL) || pg_exec(lg, pg->listen, "listen", "LISTEN idbsync_head", NULL)) {
				sleep_ms(250);
				continue;
			}
			listening = 1;
			int64_t h = read_head(lg, pg->listen, NULL);
			if (h >= 0)
				head_seen(lg, h);
		}
		struct pollfd p = {PQsocket(pg->listen), POLLIN, 0};
		if (poll(&p, 1, 250) < 0 || (p.revents && !PQconsumeInput(pg->listen)) || PQstatus(pg->listen) != CONNECTION_OK) {
			PQfinish(pg->listen);
			pg->listen = NULL;
			listening = 0;
			continue;
		}
		/* the payload is not trusted (any session may NOTIFY, a /query too): a notification
		 * only says to read the committed head */
		PGnotify *n;
		int notified = 0;
		while ((n = PQnotifies(pg->listen))) {
			notified = 1;
			PQfreemem(n);
		}
		if (notified)
			atomic_fetch_add(&lg->read_gen, 1);   /* another server's GC does not move the head */
		int64_t h = notified ? read_head(lg, pg->listen, NULL) : -1;
		if (h >= 0)
			head_seen(lg, h);
	}
	return NULL;
}

/* The node of this server's HLC: its own per server (servers share the state, not a clock),
 * kept in DIR/node so a restart stamps as the same node; --node-id names it. */
static int load_node(ledger *lg, char *node, ids_error *err)
{
	if (lg->o.node_id) {
		snprintf(node, HLC_NODE_MAX + 1, "%s", lg->o.node_id);
		return 0;
	}
	char path[IDS_PATH_MAX + 1];
	if (ids_path(path, sizeof path, err, "%s/node", lg->dir))
		return err->code;
	FILE *f = fopen(path, "r");
	if (f) {
		int ok = fgets(node, HLC_NODE_MAX + 1, f) != NULL;
		fclose(f);
		node[strcspn(node, "\r\n")] = 0;
		if (ok && node[0])
			return 0;
	}
	char epoch[LEDGER_EPOCH_LEN + 1];
	ledger_new_epoch(epoch);
	snprintf(node, HLC_NODE_MAX + 1, "p%.12s", epoch);
	f = fopen(path, "w");
	int bad = !f || fprintf(f, "%s\n", node) < 0;
	if (f && fclose(f))
		bad = 1;
	if (bad)
		return ids_fail(err, IDS_EIO, "cannot write %s: %s", path, strerror(errno));
	return 0;
}

int ledger_pg_open(ledger *lg, ids_error *err)
{
	struct ledger_pg *pg = calloc(1, sizeof *pg);
	if (!pg || !(pg->uri = strdup(lg->o.state))) {
		free(pg);
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	}
	lg->pg = pg;
	pthread_mutex_init(&pg->lease_mu, NULL);
	const char *delay = getenv("IDBSYNC_TEST_COMMIT_DELAY_MS");
	pg->commit_delay_ms = delay ? strtoll(delay, NULL, 10) : 0;
	int rc = pg_connect(lg, &pg->w, err);
	if (!rc && !(rc = read_epoch(lg, err)) && !lg->epoch[0]) {
		/* the first server creates the schema, under a lock so that servers starting
		 * together do not race; later ones find it and take no lock at all (DDL, even
		 * IF NOT EXISTS, would wait behind running groups) */
		rc = pg_exec(lg, pg->w, "create the schema", "BEGIN", err);
		if (!rc)
			rc = pg_exec(lg, pg->w, "create the schema", "SELECT pg_advisory_xact_lock(7453, 1)", err);
		if (!rc)
			rc = pg_exec(lg, pg->w, "create the schema", pg_schema, err);
		if (!rc) {
			/* the state's identity, made once */
			char epoch[LEDGER_EPOCH_LEN + 1];
			ledger_new_epoch(epoch);
			const char *v[] = {epoch};
			PGresult *r = pg_run(lg, pg->w, "epoch", "INSERT INTO meta(k, v) VALUES('epoch', $1) ON CONFLICT DO NOTHING",
					     1, v, NULL, NULL, err);
			rc = r ? 0 : IDS_EIO;
			PQclear(r);
		}
		if (!rc)
			rc = pg_exec(lg, pg->w, "create the schema", "COMMIT", err);
		else if (PQstatus(pg->w) == CONNECTION_OK)
			pg_exec(lg, pg->w, "rollback", "ROLLBACK", NULL);
		if (!rc && !(rc = read_epoch(lg, err)) && !lg->epoch[0])
			rc = ids_fail(err, IDS_ECORRUPT, "PostgreSQL (--state): the schema has no epoch after creating it");
	}
	if (!rc && (lg->head = read_head(lg, pg->w, err)) < 0)
		rc = IDS_EIO;
	char node[HLC_NODE_MAX + 1];
	if (!rc)
		rc = load_node(lg, node, err);
	if (!rc)
		rc = hlc_clock_init(&lg->clock, node, lg->o.max_skew_ms, err);
	if (!rc) {
		/* the clock must never stamp below what is already stored */
		PGresult *r = pg_run(lg, pg->w, "read the clock", "SELECT max(hlc) FROM rows", 0, NULL, NULL, NULL, err);
		if (r && PQntuples(r) && !PQgetisnull(r, 0, 0)) {
			hlc_stamp st;
			const char *h = PQgetvalue(r, 0, 0);
			if (!hlc_parse(&st, h, strlen(h), NULL) && st.ms <= hlc_wall_ms() + lg->o.max_skew_ms)
				hlc_clock_observe(&lg->clock, &st);
		}
		PQclear(r);
	}
	if (!rc) {
		if (pthread_create(&pg->listener, NULL, listener_main, lg))
			rc = ids_fail(err, IDS_EIO, "cannot start the PostgreSQL listener thread");
		else
			pg->listener_started = 1;
	}
	return rc;
}

/* After the writer stopped (ledger_free): the listener sees stop and ends within its poll. */
void ledger_pg_close(ledger *lg)
{
	struct ledger_pg *pg = lg->pg;
	if (!pg)
		return;
	if (pg->listener_started) {
		pthread_mutex_lock(&lg->mu);
		lg->stop = 1;
		pthread_mutex_unlock(&lg->mu);
		pthread_join(pg->listener, NULL);
	}
	PQfinish(pg->w);
	PQfinish(pg->listen);
	PQfinish(pg->lease);
	for (int i = 0; i < PG_READERS; i++)
		PQfinish(pg->readers[i]);
	pthread_mutex_destroy(&pg->lease_mu);
	free(pg->uri);
	free(pg);
	lg->pg = NULL;
}

/* The generation slot of lease name (pg->lease_mu held). */
static int64_t *lease_gen(struct ledger_pg *pg, const char *name)
{
	for (int i = 0; i < pg->n_gens; i++)
		if (!strcmp(pg->gens[i].name, name))
			return &pg->gens[i].gen;
	if (pg->n_gens == (int)(sizeof pg->gens / sizeof *pg->gens) || strlen(name) >= sizeof pg->gens[0].name)
		return NULL;
	snprintf(pg->gens[pg->n_gens].name, sizeof pg->gens[0].name, "%s", name);
	pg->gens[pg->n_gens].gen = -1;
	return &pg->gens[pg->n_gens++].gen;
}

/* A session advisory lock (7453, hash of the name) on the lease connection: PostgreSQL frees it
 * the moment that session ends, which is what makes failover fast and safe. Held already is
 * checked in pg_locks (taking it again would stack the lock). Who takes it counts the lease's
 * generation up (meta 'lease:NAME'), waiting for a fenced commit of the previous holder to end. */
int ledger_pg_lease(ledger *lg, const char *name, int *held, ids_error *err)
{
	struct ledger_pg *pg = lg->pg;
	uint32_t h = ledger_key_hash((const uint8_t *)name, strlen(name)) & 0x7fffffff;
	char key[16], k[40];
	snprintf(key, sizeof key, "%u", h);
	snprintf(k, sizeof k, "lease:%s", name);
	const char *v[] = {key}, *kv[] = {k};
	*held = 0;
	pthread_mutex_lock(&pg->lease_mu);
	int64_t *gen = lease_gen(pg, name);
	int rc = pg_connect(lg, &pg->lease, err);
	if (!rc) {
		PGresult *r = pg_run(lg, pg->lease, "lease",
				     "SELECT EXISTS(SELECT 1 FROM pg_locks WHERE locktype='advisory' AND pid=pg_backend_pid()"
				     " AND classid=7453 AND objid=$1::bigint AND objsubid=2) OR pg_try_advisory_lock(7453, $1::int)",
				     1, v, NULL, NULL, err);
		if (!r)
			rc = IDS_EIO;
		else
			*held = !strcmp(PQgetvalue(r, 0, 0), "t");
		PQclear(r);
	}
	if (!*held && gen)
		*gen = -1;
	if (!rc && *held && gen && *gen < 0) {
		/* taken now (or its generation is not known yet): the next generation is this holder's */
		PGresult *r = pg_run(lg, pg->lease, "lease generation",
				     "INSERT INTO meta(k, v) VALUES($1, '1') ON CONFLICT(k) DO UPDATE"
				     " SET v=(meta.v::bigint + 1)::text RETURNING v::bigint",
				     1, kv, NULL, NULL, err);
		if (r && PQntuples(r))
			*gen = pg_i64(r, 0, 0);
		else
			rc = IDS_EIO;
		PQclear(r);
	}
	pthread_mutex_unlock(&pg->lease_mu);
	return rc;
}

int ledger_pg_lease_fence_begin(ledger *lg, const char *name, ids_error *err)
{
	struct ledger_pg *pg = lg->pg;
	uint32_t h = ledger_key_hash((const uint8_t *)name, strlen(name)) & 0x7fffffff;
	char key[16], k[40], g[24];
	pthread_mutex_lock(&pg->lease_mu);
	int64_t *gen = lease_gen(pg, name);
	snprintf(key, sizeof key, "%u", h);
	snprintf(k, sizeof k, "lease:%s", name);
	snprintf(g, sizeof g, "%lld", (long long)(gen ? *gen : -1));
	const char *v[] = {k, g, key};
	/* a lease session that died and reconnected holds nothing: it cannot pass */
	int rc = !gen || *gen < 0 ? IDS_EBUSY : pg_connect(lg, &pg->lease, err);
	if (!rc)
		rc = pg_exec(lg, pg->lease, "lease fence", "BEGIN", err);
	if (!rc) {
		/* the row lock makes a new holder's count-up wait for this commit to end */
		PGresult *r = pg_run(lg, pg->lease, "lease fence",
				     "SELECT m.v::bigint=$2::bigint AND EXISTS(SELECT 1 FROM pg_locks WHERE locktype='advisory'"
				     " AND pid=pg_backend_pid() AND classid=7453 AND objid=$3::bigint AND objsubid=2)"
				     " FROM meta m WHERE m.k=$1 FOR UPDATE OF m",
				     3, v, NULL, NULL, err);
		rc = !r ? IDS_EIO : PQntuples(r) && !strcmp(PQgetvalue(r, 0, 0), "t") ? 0 : IDS_EBUSY;
		PQclear(r);
		if (rc)
			pg_exec(lg, pg->lease, "lease fence", "ROLLBACK", NULL);
	}
	if (rc) {
		if (gen)
			*gen = -1;
		pthread_mutex_unlock(&pg->lease_mu);
		return ids_fail(err, IDS_EBUSY,
				"the %s lease is no longer this server's (another server took it over, or the state "
				"cannot be reached to prove it): nothing committed",
				name);
	}
	return 0; /* lease_mu stays held to ledger_pg_lease_fence_end */
}

void ledger_pg_lease_fence_end(ledger *lg)
{
	struct ledger_pg *pg = lg->pg;
	pg_exec(lg, pg->lease, "lease fence", "COMMIT", NULL);
	pthread_mutex_unlock(&pg->lease_mu);
}
