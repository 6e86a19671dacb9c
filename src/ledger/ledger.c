/* Opening the ledger: directory, SQLite connections and pragmas, schema migrations, the
 * conflict-rule table, and the read-connection pool. */
#include "ledger_int.h"
#include "idbsync/log.h"
#include "idbsync/path.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/file.h>
#include <unistd.h>
#include <fcntl.h>

const double ledger_commit_bounds[LEDGER_COMMIT_BUCKETS - 1] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
							      0.05,   0.1,   0.25,   0.5,   1.0};

/* The rows table and its indexes, as schema 3 has them (schema_upgrade rebuilds older ones). */
#define ROWS_COLS                                                                                   \
	"(sid INTEGER NOT NULL, uid INTEGER NOT NULL, key BLOB NOT NULL, did INTEGER NOT NULL,"       \
	" seq INTEGER NOT NULL, hlc TEXT NOT NULL, deleted INTEGER NOT NULL, origin INTEGER NOT NULL," \
	" value TEXT, meta TEXT, khash INTEGER NOT NULL, ukl INTEGER NOT NULL)"
/* A key is unique per store and user through rows_key(sid, ukl, key), ukl being the user and
 * the key's length (ledger_row_ukl): keys counted up in text ("order-9", "order-10", ...,
 * "order-100") then go at the end of their length's run, where an index by (sid, uid, key)
 * put each new one between two old ones (a run of 100000..199999 between 10000..19999) and
 * SQLite rebalanced a full page every ~10 new keys; and the index compares two columns before
 * the key instead of three. A new text key: 17.6k -> 14.4k instructions in the writer; random
 * keys (UUIDs) and numbers cost the same as before (docs/benchmarks.md, "The key's length
 * first"). A real column, not an index on an expression: SQLite then searched the index a
 * second time for each insert, +22% for UUID keys. Lookups go through LEDGER_ROW_KEY_IS.
 * No index on the key hash: its random order made every commit dirty (and write to the WAL)
 * a page per new key, cutting durable push throughput 2-3x (bench/push.sh). The lake reads
 * bucket ranges by scanning a store, or by key (ledger_rows_get).
 * rows_tomb: tombstones only (partial: a live row costs no entry): the collector finds and
 * counts them without reading every row of the database, which at 1M rows held the writer,
 * and every push behind it, for seconds each --gc-interval. */
#define ROWS_INDEXES                                                   \
	"CREATE UNIQUE INDEX IF NOT EXISTS rows_key ON rows(sid, ukl, key);" \
	"CREATE INDEX IF NOT EXISTS rows_pull ON rows(did, uid, seq);"      \
	"CREATE INDEX IF NOT EXISTS rows_tomb ON rows(did, sid, seq) WHERE deleted=1;"

static const char *const schema_v1 =
	"CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v);"
	"CREATE TABLE IF NOT EXISTS dbs(did INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL,"
	" gc_floor INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE IF NOT EXISTS users(uid INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL);"
	"INSERT OR IGNORE INTO users(uid, name) VALUES(0, '');"
	"CREATE TABLE IF NOT EXISTS stores(sid INTEGER PRIMARY KEY, did INTEGER NOT NULL, name TEXT NOT NULL,"
	" live INTEGER NOT NULL DEFAULT 0, tomb INTEGER NOT NULL DEFAULT 0, UNIQUE(did, name));"
	"CREATE TABLE IF NOT EXISTS clients(cid INTEGER PRIMARY KEY, did INTEGER NOT NULL, uid INTEGER NOT NULL,"
	" name TEXT NOT NULL, last_mid INTEGER NOT NULL DEFAULT 0, pulled INTEGER NOT NULL DEFAULT 0,"
	" seen INTEGER NOT NULL DEFAULT 0, UNIQUE(did, uid, name));"
	"CREATE TABLE IF NOT EXISTS rows" ROWS_COLS ";" /* its indexes: schema_upgrade */
	"CREATE TABLE IF NOT EXISTS changes(seq INTEGER PRIMARY KEY, did INTEGER NOT NULL, sid INTEGER NOT NULL,"
	" uid INTEGER NOT NULL, key BLOB NOT NULL, op INTEGER NOT NULL, hlc TEXT NOT NULL, value TEXT,"
	" cid INTEGER NOT NULL, mid INTEGER NOT NULL, origin INTEGER NOT NULL, ts INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS conflicts(id INTEGER PRIMARY KEY, did INTEGER, sid INTEGER, uid INTEGER,"
	" key BLOB, cid INTEGER, mid INTEGER, op INTEGER, hlc TEXT, value TEXT, rule TEXT, reason TEXT,"
	" winner_seq INTEGER, winner_hlc TEXT, ts INTEGER);"
	/* top-level fields seen per store and the kinds of their values (bits, see fields.c): the
	 * analytics views get a column for every field, not only those of recent rows */
	"CREATE TABLE IF NOT EXISTS fields(sid INTEGER NOT NULL, name TEXT NOT NULL, kinds INTEGER NOT NULL,"
	" PRIMARY KEY(sid, name));"
	"INSERT OR IGNORE INTO meta(k, v) VALUES('schema_version', 1);"
	"INSERT OR IGNORE INTO meta(k, v) VALUES('head', 0);";

static const char *const stmt_sql[ST_COUNT] = {
	/* value: NULL for a live row whose change holds it (LEDGER_ROW_VALUE); apply.c looks it up
	 * (ST_ROW_VALUE) only when a rule needs it */
	[ST_GET_ROW] = "SELECT seq, hlc, deleted, origin, value, meta, rowid FROM rows WHERE sid=?1"
		       " AND ukl=?2 AND key=?3", /* ?2: ledger_row_ukl */
	[ST_ROW_VALUE] = "SELECT value FROM changes WHERE seq=?1",
	/* a row that was just read (ST_GET_ROW) is written by its rowid: the key's index is not
	 * searched again (the upsert searched it for its conflict check); its value NULL, the
	 * change at seq holds it (LEDGER_ROW_VALUE) */
	[ST_SET_ROW] = "UPDATE rows SET seq=?2, hlc=?3, deleted=?4, origin=?5, value=NULL, meta=?6 WHERE rowid=?1",
	[ST_GET_SHARED] = "SELECT 1 FROM rows WHERE sid=?1 AND ukl=?3 AND key=?2 AND deleted=0", /* ?3: ledger_row_ukl(0) */
	[ST_ANY_SHARED] = "SELECT 1 FROM rows WHERE sid=?1 AND " LEDGER_ROW_UID0 " AND deleted=0 LIMIT 1",
	[ST_PUT_ROW] = "INSERT INTO rows(sid, uid, key, did, seq, hlc, deleted, origin, value, meta, khash, ukl)"
		       " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,NULL,?9,?10,?11) ON CONFLICT(sid, ukl, key) DO UPDATE SET"
		       " seq=excluded.seq, hlc=excluded.hlc, deleted=excluded.deleted, origin=excluded.origin,"
		       " value=NULL, meta=excluded.meta",
	/* the change log's and new keys' inserts are made by multi_insert_sql (see there) */
	[ST_ADD_CONFLICT] = "INSERT INTO conflicts(did, sid, uid, key, cid, mid, op, hlc, value, rule, reason,"
			    " winner_seq, winner_hlc, ts) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14)",
	[ST_GET_CLIENT] = "SELECT cid, last_mid FROM clients WHERE did=?1 AND uid=?2 AND name=?3",
	[ST_SET_CLIENT] = "UPDATE clients SET last_mid=?2, seen=?3 WHERE cid=?1",
	[ST_STORE_COUNTS] = "UPDATE stores SET live=live+?2, tomb=tomb+?3 WHERE sid=?1",
	[ST_BASE_VALUE] = "SELECT op, value FROM changes WHERE seq=?1 AND sid=?2 AND uid=?3 AND key=?4",
	[ST_CHANGES_TAIL] = "SELECT max(seq) FROM changes",
	[ST_FIELD] = "INSERT INTO fields(sid, name, kinds) VALUES(?1, ?2, ?3) ON CONFLICT(sid, name) DO UPDATE SET"
		     " kinds = kinds | excluded.kinds",
};

/* The change log's rows and new keys' rows are inserted several per statement (1, 8 or 32):
 * a statement per row cost ~1.1k instructions more per row for the change log and ~3k for the
 * row (cursors opened, the VDBE started and halted). Parameters equal for a whole push are
 * numbered ?1..?N and bound once per statement run; '#' in a row's template is that row's next
 * parameter, numbered after them. */
static const char *const change_cols = "INSERT OR FAIL INTO changes(seq, did, sid, uid, key, op, hlc, value, cid, mid,"
				       " origin, ts) VALUES";
static const char *const change_row = "(#,?1,#,?2,#,#,#,#,?3,#,?4,?5)"; /* did uid cid origin ts */
/* Without seq, SQLite gives each row the largest rowid + 1, found by walking the table's right
 * edge; an explicit seq is looked up from the root first (~1k instructions a row). apply.c uses
 * these only when that next rowid is the seq the row must have. */
static const char *const change_cols_r = "INSERT OR FAIL INTO changes(did, sid, uid, key, op, hlc, value, cid, mid,"
					 " origin, ts) VALUES";
static const char *const change_row_r = "(?1,#,?2,#,#,#,#,?3,#,?4,?5)";
static const char *const new_row_cols = "INSERT OR FAIL INTO rows(sid, uid, key, did, seq, hlc, deleted, origin, value,"
					" meta, khash, ukl) VALUES";
static const char *const new_row_row = "(#,?1,#,?2,#,#,#,?3,NULL,NULL,#,#)"; /* uid did origin */

static char *multi_insert_sql(const char *cols, const char *row, int rows)
{
	int consts = 0;
	for (const char *p = row; *p; p++) {
		if (*p == '?' && p[1] - '0' > consts)
			consts = p[1] - '0';
	}
	ids_buf b = IDS_BUF_INIT;
	ids_buf_puts(&b, cols);
	for (int r = 0, n = consts + 1; r < rows; r++) {
		if (r)
			ids_buf_putc(&b, ',');
		for (const char *p = row; *p; p++) {
			if (*p == '#')
				ids_buf_printf(&b, "?%d", n++);
			else
				ids_buf_putc(&b, *p);
		}
	}
	return b.failed ? (ids_buf_free(&b), NULL) : ids_buf_steal(&b, NULL);
}

static char *generated_sql(int i)
{
	switch (i) {
	case ST_ADD_CHANGE: return multi_insert_sql(change_cols, change_row, 1);
	case ST_ADD_CHANGES_8: return multi_insert_sql(change_cols, change_row, 8);
	case ST_ADD_CHANGES_32: return multi_insert_sql(change_cols, change_row, 32);
	case ST_ADD_CHANGES_8R: return multi_insert_sql(change_cols_r, change_row_r, 8);
	case ST_ADD_CHANGES_32R: return multi_insert_sql(change_cols_r, change_row_r, 32);
	case ST_NEW_ROWS_1: return multi_insert_sql(new_row_cols, new_row_row, 1);
	case ST_NEW_ROWS_8: return multi_insert_sql(new_row_cols, new_row_row, 8);
	case ST_NEW_ROWS_32: return multi_insert_sql(new_row_cols, new_row_row, 32);
	default: return NULL;
	}
}

int ledger_sql_err(ledger *lg, sqlite3 *db, int rc, ids_error *err, const char *what)
{
	int code = IDS_EIO;
	if (rc == SQLITE_FULL || (rc & 0xff) == SQLITE_FULL || errno == ENOSPC)
		code = IDS_ENOSPC;
	if ((rc & 0xff) == SQLITE_IOERR && sqlite3_system_errno(db) == ENOSPC)
		code = IDS_ENOSPC;
	return ids_fail(err, code, "%s: %s (data dir %s)", what, sqlite3_errmsg(db), lg ? lg->dir : "?");
}

int ledger_exec(sqlite3 *db, const char *sql, ids_error *err)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		int code = (rc & 0xff) == SQLITE_FULL ? IDS_ENOSPC : IDS_EIO;
		ids_fail(err, code, "sqlite: %s", msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return code;
	}
	return 0;
}

/* Version 2 keeps a row's value in the change log alone while its change is kept
 * (LEDGER_ROW_VALUE): the tables are those of version 1, whose rows (values in the row) it
 * reads as they are. Version 3 finds a row's key by its user and length first (rows_key, ukl):
 * a table of version 1 or 2 had UNIQUE(sid, uid, key), which SQLite cannot drop, so it is
 * copied into a new one, rowids kept, once, in one transaction. A binary of an older version
 * would read version 2's rows as empty, and could not write version 3's (its upsert names the
 * old unique key), so a database of a newer version than this binary knows is refused. */
#define SCHEMA_VERSION 3
#define STR_(x) #x
#define STR(x) STR_(x)

static int64_t sql_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *q = NULL;
	int64_t v = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return v;
}

static int schema_upgrade(ledger *lg, ids_error *err)
{
	int64_t v = sql_int(lg->w, "SELECT v FROM meta WHERE k='schema_version'");
	if (v < 0)
		return ledger_sql_err(lg, lg->w, SQLITE_ERROR, err, "schema version");
	if (v > SCHEMA_VERSION)
		return ids_fail(err, IDS_EINVAL, "%s/idbsync.sqlite: schema version %lld is newer than this idbsync's (%d)",
				lg->dir, (long long)v, SCHEMA_VERSION);
	if (v == SCHEMA_VERSION)
		return 0;
	int rebuild = sql_int(lg->w, "SELECT count(*) FROM sqlite_schema WHERE name='sqlite_autoindex_rows_1'") > 0;
	if (rebuild)
		ids_logf(IDS_LOG_INFO, "ledger.upgrade",
			 "rebuilding the rows table for schema 3 (once; its keys are indexed by their length first)");
	int64_t t0 = ledger_mono_us(), copied = 0;
	int rc = ledger_exec(lg->w, "BEGIN IMMEDIATE", err);
	if (!rc && rebuild) {
		rc = ledger_exec(lg->w,
				 "CREATE TABLE rows_v3" ROWS_COLS ";"
				 "INSERT INTO rows_v3(rowid, sid, uid, key, did, seq, hlc, deleted, origin, value, meta, khash, ukl)"
				 " SELECT rowid, sid, uid, key, did, seq, hlc, deleted, origin, value, meta, khash, "
				 LEDGER_ROW_UKL_SQL("uid", "key") " FROM rows;",
				 err);
		copied = sqlite3_changes64(lg->w); /* the INSERT's, counted as it copies (no scan of its own) */
		if (!rc)
			rc = ledger_exec(lg->w, "DROP TABLE rows; ALTER TABLE rows_v3 RENAME TO rows;", err);
	}
	if (!rc)
		rc = ledger_exec(lg->w, ROWS_INDEXES "UPDATE meta SET v=" STR(SCHEMA_VERSION) " WHERE k='schema_version';"
				 "COMMIT", err);
	ids_logrec r;
	if (!rc && rebuild && ids_log_begin(&r, IDS_LOG_INFO, "ledger.upgraded")) {
		ids_log_int(&r, "rows", (long long)copied);
		ids_log_num(&r, "seconds", (double)(ledger_mono_us() - t0) / 1e6);
		ids_log_end(&r);
	}
	if (rc && !sqlite3_get_autocommit(lg->w))
		ledger_exec(lg->w, "ROLLBACK", NULL);
	return rc;
}

static int open_conn(ledger *lg, sqlite3 **out, int readonly, const char *vfs, ids_error *err)
{
	char path[IDS_PATH_MAX + 1];
	if (ids_path(path, sizeof path, err, "%s/idbsync.sqlite", lg->dir))
		return err->code;
	int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	int rc = sqlite3_open_v2(path, out, flags | SQLITE_OPEN_NOMUTEX, vfs);
	if (rc != SQLITE_OK) {
		ids_fail(err, IDS_EIO, "cannot open %s: %s", path, *out ? sqlite3_errmsg(*out) : sqlite3_errstr(rc));
		sqlite3_close(*out);
		*out = NULL;
		return IDS_EIO;
	}
	sqlite3_busy_timeout(*out, 10000);
	sqlite3_extended_result_codes(*out, 1);
	return ledger_exec(*out, readonly ? "PRAGMA cache_size=-8000;" : "PRAGMA cache_size=-65536;", err);
}

int ledger_conn_open(ledger *lg, sqlite3 **out, int readonly, ids_error *err)
{
	return open_conn(lg, out, readonly, NULL, err);
}

static int load_node(ledger *lg, char *node, ids_error *err)
{
	sqlite3_stmt *q;
	if (lg->o.node_id) {
		snprintf(node, HLC_NODE_MAX + 1, "%s", lg->o.node_id);
		return 0;
	}
	sqlite3_prepare_v2(lg->w, "SELECT v FROM meta WHERE k='node'", -1, &q, NULL);
	if (sqlite3_step(q) == SQLITE_ROW) {
		snprintf(node, HLC_NODE_MAX + 1, "%s", (const char *)sqlite3_column_text(q, 0));
		sqlite3_finalize(q);
		return 0;
	}
	sqlite3_finalize(q);
	unsigned char rnd[6];
	sqlite3_randomness(sizeof rnd, rnd);
	snprintf(node, HLC_NODE_MAX + 1, "s%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3], rnd[4],
		 rnd[5]);
	char sql[128];
	snprintf(sql, sizeof sql, "INSERT INTO meta(k, v) VALUES('node', '%s')", node);
	return ledger_exec(lg->w, sql, err);
}

/* The state's identity: made once with the state, replaced by a restore (backup.c), so a
 * client holding a cursor of another state learns it must resync. */
static int load_epoch(ledger *lg, ids_error *err)
{
	sqlite3_stmt *q;
	sqlite3_prepare_v2(lg->w, "SELECT v FROM meta WHERE k='epoch'", -1, &q, NULL);
	int found = sqlite3_step(q) == SQLITE_ROW;
	if (found)
		snprintf(lg->epoch, sizeof lg->epoch, "%s", (const char *)sqlite3_column_text(q, 0));
	sqlite3_finalize(q);
	if (found)
		return 0;
	ledger_new_epoch(lg->epoch);
	char sql[128];
	snprintf(sql, sizeof sql, "INSERT INTO meta(k, v) VALUES('epoch', '%s')", lg->epoch);
	return ledger_exec(lg->w, sql, err);
}

const char *ledger_epoch(const ledger *lg) { return lg->epoch; }

int ledger_state_is_postgres(const char *state)
{
	return state && (!strncmp(state, "postgres://", 11) || !strncmp(state, "postgresql://", 13));
}

int ledger_lease(ledger *lg, const char *name, int *held, ids_error *err)
{
	if (lg->pg)
		return ledger_pg_lease(lg, name, held, err);
	*held = 1; /* SQLite: this process alone holds the state (DIR/LOCK) */
	return 0;
}

int ledger_lease_fence_begin(ledger *lg, const char *name, ids_error *err)
{
	return lg->pg ? ledger_pg_lease_fence_begin(lg, name, err) : 0;
}

void ledger_lease_fence_end(ledger *lg)
{
	if (lg->pg)
		ledger_pg_lease_fence_end(lg);
}

static int walbuf_ok; /* the writer's connection goes through walbuf.c's VFS */

/* This SQLite build has no lookaside allocator (OMIT_LOOKASIDE), so every statement step
 * mallocs its cursors and records; with the default memory statistics each of those takes a
 * process-wide mutex. Nothing here reads the statistics. Must precede sqlite3_initialize. */
static void sqlite_global_config(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	/* IDBSYNC_WALBUF=0 writes the WAL frame by frame as SQLite does, to compare (bench/) */
	const char *e = getenv("IDBSYNC_WALBUF");
	walbuf_ok = ledger_walbuf_register() == SQLITE_OK && !(e && !strcmp(e, "0"));
}

/* The SQLite backend: the data dir's lock, connections, pragmas, schema, ids and the
 * checkpoint thread. */
static int open_sqlite(ledger *lg, const ledger_options *o, ids_error *err)
{
	int rc = 0;
	{
		/* One process owns a data dir: the writer keeps the next seq in memory, so a second
		 * writer on the same SQLite file would collide. */
		char lock[IDS_PATH_MAX + 1];
		lg->lock_fd = -1;
		rc = ids_path(lock, sizeof lock, err, "%s/LOCK", o->dir);
		if (!rc && (lg->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0) {
			rc = ids_fail(err, IDS_EIO, "cannot create %s: %s", lock, strerror(errno));
		} else if (!rc && flock(lg->lock_fd, LOCK_EX | LOCK_NB)) {
			char pid[32] = "";
			ssize_t n = pread(lg->lock_fd, pid, sizeof pid - 1, 0);
			pid[n > 0 ? n : 0] = 0;
			pid[strcspn(pid, "\r\n")] = 0;   /* the file holds "PID\n" */
			rc = ids_fail(err, IDS_EIO,
				      "data directory %s is in use by another idbsync process (pid %s); stop it, or send "
				      "the work to it (e.g. idbsync import --server URL)",
				      o->dir, pid[0] ? pid : "?");
			close(lg->lock_fd);
			lg->lock_fd = -1;
		} else if (!rc) {
			char pid[32];
			int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
			if (ftruncate(lg->lock_fd, 0) == 0 && pwrite(lg->lock_fd, pid, (size_t)n, 0) < 0)
				(void)0; /* the pid is informational only */
		}
	}
	/* after the LOCK (no other process has the state open), before the first connection builds
	 * the WAL index */
	if (!rc)
		ledger_reserve_release(o->dir);
	if (!rc)
		rc = open_conn(lg, &lg->w, 0, o->durable && walbuf_ok ? LEDGER_WALBUF_VFS : NULL, err);
	/* The WAL file keeps its largest size unless limited: while the lake's scans hold old
	 * snapshots it cannot restart and grows (249 MB in an 800k-mutation push); afterwards it is
	 * cut back to 64 MiB. */
	if (!rc)
		rc = ledger_exec(lg->w, "PRAGMA journal_mode=WAL; PRAGMA temp_store=MEMORY; PRAGMA journal_size_limit=" LEDGER_WAL_LIMIT_SQL ";", err);
	if (!rc)
		rc = ledger_exec(lg->w, o->durable ? "PRAGMA synchronous=FULL;" : "PRAGMA synchronous=OFF;", err);
	/* Debian builds SQLite with SECURE_DELETE on: every cell moved or freed in a B-tree page
	 * (a page split per ~10 new keys) is zeroed, 1.6% of the writer's instructions per new key.
	 * It erased nothing that matters here: a deleted or replaced value stays in the change log
	 * for --base-retention and in the lake's change files by design. */
	if (!rc)
		rc = ledger_exec(lg->w, "PRAGMA secure_delete=OFF;", err);
	if (!rc)
		rc = ledger_exec(lg->w, schema_v1, err);
	if (!rc)
		rc = schema_upgrade(lg, err);
	for (int i = 0; !rc && i < ST_COUNT; i++) {
		char *gen = generated_sql(i);
		if (sqlite3_prepare_v3(lg->w, gen ? gen : stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &lg->st[i], NULL) !=
		    SQLITE_OK)
			rc = ledger_sql_err(lg, lg->w, SQLITE_ERROR, err, "prepare");
		free(gen);
	}
	char node[HLC_NODE_MAX + 1];
	if (!rc)
		rc = load_node(lg, node, err);
	if (!rc)
		rc = load_epoch(lg, err);
	if (!rc)
		rc = hlc_clock_init(&lg->clock, node, o->max_skew_ms, err);
	if (!rc) {
		sqlite3_stmt *q;
		sqlite3_prepare_v2(lg->w, "SELECT max(coalesce((SELECT max(seq) FROM changes), 0),"
					 " coalesce((SELECT max(seq) FROM rows), 0),"
					 " (SELECT v FROM meta WHERE k='head'))", -1, &q, NULL);
		if (sqlite3_step(q) == SQLITE_ROW)
			lg->head = sqlite3_column_int64(q, 0);
		sqlite3_finalize(q);
		lg->next_seq = lg->head + 1;
		lg->open_head = lg->head;
		/* the clock must never stamp below what is already stored */
		sqlite3_prepare_v2(lg->w, "SELECT max(hlc) FROM rows", -1, &q, NULL);
		if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_type(q, 0) == SQLITE_TEXT) {
			hlc_stamp st;
			const char *h = (const char *)sqlite3_column_text(q, 0);
			if (!hlc_parse(&st, h, strlen(h), NULL) && st.ms <= hlc_wall_ms() + o->max_skew_ms)
				hlc_clock_observe(&lg->clock, &st);
		}
		sqlite3_finalize(q);
	}
	for (int i = 0; !rc && i < READERS; i++)
		rc = open_conn(lg, &lg->readers[i], 1, NULL, err);
	sqlite3 *ck = NULL;
	if (!rc && (rc = open_conn(lg, &ck, 0, NULL, err)))
		sqlite3_close(ck);
	else if (!rc)
		rc = ledger_ckpt_start(lg, ck, err);
	if (!rc && ledger_reserve_make(o->dir, 0))
		atomic_store(&lg->reserve_missing, 1);
	return rc;
}

int ledger_open(ledger **out, const ledger_options *o, ids_error *err)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, sqlite_global_config);
	*out = NULL;
	ledger *lg = calloc(1, sizeof *lg);
	if (!lg)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	lg->o = *o;
	lg->lock_fd = -1;
	lg->dir = strdup(o->dir);
	pthread_mutex_init(&lg->mu, NULL);
	pthread_cond_init(&lg->work, NULL);
	pthread_cond_init(&lg->done, NULL);
	pthread_cond_init(&lg->changed, NULL);
	pthread_mutex_init(&lg->rmu, NULL);
	pthread_cond_init(&lg->rfree, NULL);
	pthread_rwlock_init(&lg->rules_lock, NULL);
	int rc = ids_mkdirs(o->dir, err); /* with PostgreSQL too: uploads are spooled there */
	if (!rc)
		rc = ledger_state_is_postgres(o->state) ? ledger_pg_open(lg, err) : open_sqlite(lg, o, err);
	if (rc == IDS_ENOSPC && !ledger_state_is_postgres(o->state)) {
		/* e.g. no room to rebuild the WAL index after a crash (walbuf.c, reserve.c) */
		char why[sizeof err->msg];
		snprintf(why, sizeof why, "%s", err->msg);
		ids_fail(err, IDS_ENOSPC, "cannot open the state in %s: %s; free space on that disk and start again",
			 o->dir, why);
	}
	if (!rc) {
		lg->last_gc_ms = hlc_wall_ms();
		if (pthread_create(&lg->writer, NULL, ledger_writer_main, lg))
			rc = ids_fail(err, IDS_EIO, "cannot start the writer thread");
		else
			lg->writer_started = 1;
	}
	if (rc) {
		ledger_free(lg);
		return rc;
	}
	*out = lg;
	return 0;
}

void ledger_free(ledger *lg)
{
	if (!lg)
		return;
	if (lg->writer_started) {
		pthread_mutex_lock(&lg->mu);
		lg->stop = 1;
		pthread_cond_broadcast(&lg->work);
		pthread_cond_broadcast(&lg->changed);
		pthread_mutex_unlock(&lg->mu);
		pthread_join(lg->writer, NULL);
	}
	ledger_pg_close(lg);
	ledger_ckpt_stop(lg);
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(lg->st[i]);
	for (int i = 0; i < READERS; i++)
		sqlite3_close(lg->readers[i]);
	if (lg->w)
		sqlite3_close(lg->w);
	for (size_t i = 0; i < lg->n_rules; i++) {
		free(lg->rules[i].db);
		free(lg->rules[i].store);
	}
	free(lg->rules);
	ledger_fields_reset(lg);
	while (lg->notes) {
		pull_note *n = lg->notes;
		lg->notes = n->next;
		free(n->key);
		free(n);
	}
	for (int b = 0; b < DB_HEAD_BUCKETS; b++)
		for (db_head *d = lg->db_heads[b], *next; d; d = next) {
			next = d->next;
			free(d);
		}
	hlc_clock_destroy(&lg->clock);
	if (lg->lock_fd > 0)
		close(lg->lock_fd); /* releases the flock */
	free(lg->dir);
	free(lg);
}

hlc_clock *ledger_clock(ledger *lg) { return &lg->clock; }
const ledger_stats *ledger_get_stats(ledger *lg) { return &lg->stats; }

int ledger_set_rule(ledger *lg, const char *db, const char *name, ids_rule rule)
{
	pthread_rwlock_wrlock(&lg->rules_lock);
	rule_entry *r = realloc(lg->rules, (lg->n_rules + 1) * sizeof *r);
	if (!r) {
		pthread_rwlock_unlock(&lg->rules_lock);
		return IDS_ENOMEM;
	}
	lg->rules = r;
	r[lg->n_rules].db = db ? strdup(db) : NULL;
	r[lg->n_rules].store = strdup(name);
	r[lg->n_rules].rule = rule;
	r[lg->n_rules].read_only = 0;
	lg->n_rules++;
	pthread_rwlock_unlock(&lg->rules_lock);
	return 0;
}

ids_rule ledger_rule(ledger *lg, const char *db, const char *name)
{
	ids_rule rule = lg->o.default_rule;
	int best = -1;
	pthread_rwlock_rdlock(&lg->rules_lock);
	for (size_t i = 0; i < lg->n_rules; i++) {
		rule_entry *r = &lg->rules[i];
		if (r->read_only || (strcmp(r->store, name) != 0 && strcmp(r->store, "*") != 0))
			continue;
		if (r->db && strcmp(r->db, db) != 0)
			continue;
		/* the most specific match wins: db+store > store > db+* > * */
		int score = (r->db ? 1 : 0) + (strcmp(r->store, "*") ? 2 : 0);
		if (score >= best) {
			best = score;
			rule = r->rule;
		}
	}
	pthread_rwlock_unlock(&lg->rules_lock);
	return rule;
}

int ledger_set_read_only(ledger *lg, const char *db, const char *name)
{
	int rc = ledger_set_rule(lg, db, name, IDS_RULE_LWW);
	if (!rc) {
		pthread_rwlock_wrlock(&lg->rules_lock);
		lg->rules[lg->n_rules - 1].read_only = 1;
		pthread_rwlock_unlock(&lg->rules_lock);
	}
	return rc;
}

int ledger_is_read_only(ledger *lg, const char *db, const char *name)
{
	int ro = 0;
	pthread_rwlock_rdlock(&lg->rules_lock);
	for (size_t i = 0; i < lg->n_rules && !ro; i++) {
		rule_entry *r = &lg->rules[i];
		ro = r->read_only && (!strcmp(r->store, name) || !strcmp(r->store, "*")) && (!r->db || !strcmp(r->db, db));
	}
	pthread_rwlock_unlock(&lg->rules_lock);
	return ro;
}

sqlite3 *ledger_reader_get(ledger *lg)
{
	pthread_mutex_lock(&lg->rmu);
	sqlite3 *pin = ledger_pin_mine(lg);
	if (pin) {
		pthread_mutex_unlock(&lg->rmu);
		return pin;
	}
	for (;;) {
		for (int i = 0; i < READERS; i++) {
			if (!lg->reader_busy[i]) {
				lg->reader_busy[i] = 1;
				pthread_mutex_unlock(&lg->rmu);
				return lg->readers[i];
			}
		}
		pthread_cond_wait(&lg->rfree, &lg->rmu);
	}
}

void ledger_reader_put(ledger *lg, sqlite3 *db)
{
	pthread_mutex_lock(&lg->rmu);
	for (int i = 0; i < READERS && db != lg->pin; i++)   /* the pin stays taken: ledger_read_end */
		if (lg->readers[i] == db)
			lg->reader_busy[i] = 0;
	pthread_cond_signal(&lg->rfree);
	pthread_mutex_unlock(&lg->rmu);
}

void ledger_push_result_init(ledger_push_result *r)
{
	memset(r, 0, sizeof *r);
	ids_buf_init(&r->conflicts_json, 0);
}

void ledger_push_result_free(ledger_push_result *r)
{
	ids_buf_free(&r->conflicts_json);
	free(r->kept);
}
