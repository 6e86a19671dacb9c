/* Private layout of the ledger, shared by its files (open, apply, writer, pull, gc). */
#ifndef LEDGER_INT_H
#define LEDGER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <sqlite3.h>

#include "idbsync/ledger.h"
#include "idbsync/json.h"
#include "idbsync/path.h"
#include "idbsync/value.h"

typedef struct push_job {
	ids_batch *b;
	ledger_push_result *res;
	ids_error err;
	int rc;
	int done;
	struct push_job *next;
	/* ledger_push_async: the job is heap-allocated and done_fn is called instead of waking a
	 * waiting pusher */
	ledger_push_done_fn done_fn;
	void *done_ctx;
	int64_t last_seq;           /* the job's last change (0: none), for ledger_db_head */
	int64_t t_queued;           /* ledger_mono_us when queued */
} push_job;

/* The seq of each database's latest change since the ledger opened (ledger_db_head). */
typedef struct db_head {
	struct db_head *next;
	int64_t seq;
	char name[];
} db_head;
#define DB_HEAD_BUCKETS 256

typedef struct rule_entry {
	char *db;      /* NULL: any */
	char *store;
	ids_rule rule;
	int read_only; /* an entry of the read-only list, not a rule */
} rule_entry;

typedef struct pull_note {
	char *key;     /* "did\x1fuid-name\x1fclient" */
	char *db, *user, *client;
	int64_t since, seen;
	struct pull_note *next;
	struct pull_note *hnext;       /* in note_index's bucket */
} pull_note;
/* The notes by (db, user, client): a fan-out answers thousands of clients, each noted once per
 * answer; a scan of the list per note cost O(clients) under mu each (1,500 string compares per
 * note at 3,000 long-polls). */
#define NOTE_BUCKETS 4096

#define READERS 8

enum {
	ST_GET_ROW, ST_GET_SHARED, ST_PUT_ROW, ST_ADD_CHANGE, ST_ADD_CONFLICT, ST_GET_CLIENT,
	ST_SET_CLIENT, ST_STORE_COUNTS, ST_BASE_VALUE, ST_FIELD,
	ST_ADD_CHANGES_8, ST_ADD_CHANGES_32, /* ST_ADD_CHANGE for 8 and 32 rows in one statement */
	ST_NEW_ROWS_1, ST_NEW_ROWS_8, ST_NEW_ROWS_32, /* new keys' rows, 1, 8 or 32 per statement */
	ST_ADD_CHANGES_8R, ST_ADD_CHANGES_32R, /* the same, each row's seq the next rowid */
	ST_CHANGES_TAIL, ST_SET_ROW, ST_ANY_SHARED, ST_ROW_VALUE,
	ST_COUNT
};

struct ledger_pg; /* pg.c: the PostgreSQL backend's connections and threads */

struct ledger {
	ledger_options o;
	struct ledger_pg *pg;              /* NULL: the SQLite backend; else every public call goes to pg*.c */
	char *dir;
	char epoch[LEDGER_EPOCH_LEN + 1]; /* the state's identity (meta 'epoch') */
	int lock_fd;                      /* flock on DIR/LOCK: one process per data dir */
	atomic_int reserve_missing;       /* DIR/idbsync.reserve to be made (reserve.c) */
	hlc_clock clock;
	ledger_stats stats;
	atomic_llong read_gen;  /* ledger_read_gen */

	sqlite3 *w;                       /* the writer connection; only the writer thread uses it */
	sqlite3_stmt *st[ST_COUNT];
	pthread_t writer;
	int writer_started;
	int64_t next_seq;                 /* writer-only */

	pthread_mutex_t mu;               /* guards the queue, head, stop, notes */
	pthread_cond_t work;              /* writer waits for jobs */
	pthread_cond_t done;              /* pushers wait for their job */
	pthread_cond_t changed;           /* pullers wait for head to move */
	push_job *queue, *queue_tail;
	int writing;                      /* the writer is applying a group (ledger_push_idle) */
	int stop;
	int closing;                      /* waiters should return: shutting down */
	int64_t head;
	int64_t open_head;                /* the head when the ledger opened */
	db_head *db_heads[DB_HEAD_BUCKETS]; /* guarded by mu */
	int64_t last_gc_ms;
	pull_note *notes;
	pull_note *note_index[NOTE_BUCKETS]; /* the same notes, hashed; both guarded by mu */

	pthread_mutex_t rmu;              /* read connection pool */
	pthread_cond_t rfree;
	sqlite3 *readers[READERS];
	int reader_busy[READERS];
	/* ledger_read_begin's pin (one reader, SQLite's or PostgreSQL's) and the thread it is
	 * pinned to; guarded by rmu */
	void *pin;
	pthread_t pin_thread;

	sqlite3 *ck;                      /* the checkpoint thread's connection (checkpoint.c) */
	pthread_t ckpt;
	int ckpt_started;
	pthread_mutex_t ckmu;
	pthread_cond_t ckwake;
	int ck_due, ck_stop;
	int ck_writer_due;                /* writer-only: its own checkpoint waits for the answers */
	/* the WAL as the writer's hook saw it after its last commit (checkpoint.c), read by a pin
	 * that waits for the WAL to restart (pin.c) */
	_Atomic int wal_frames;
	_Atomic long long wal_commit_us;
	/* the last checkpoint's result (checkpoint.c): frames copied, and in the high half the low
	 * 32 bits of stats.wal_restarts when it began (a result from an earlier WAL is stale) */
	_Atomic unsigned long long ck_copied;

	struct field_seen **fields;       /* writer-only cache of the fields table (hash buckets) */
	size_t n_field_buckets;
	int64_t shape_sid;                /* the last noted value's store and its field names and */
	size_t shape_len;                 /* kinds: a value of the same shape adds nothing */
	char shape[256];

	/* tests only: the fault_countdown-th run of the commit-path step fault_step ("begin",
	 * "savepoint", "rollback_to", "release", "head", "commit") fails (writer.c) */
	const char *fault_step;
	int fault_countdown;

	pthread_rwlock_t rules_lock;
	rule_entry *rules;
	size_t n_rules;
};

/* writer.c: publishes a finished group (head, stats) and wakes its pushers and the waiters;
 * both backends' group commits end here. rc/err: the group's failure, if any. */
void ledger_group_done(ledger *lg, push_job *jobs, int64_t new_head, int rc, const ids_error *err);
void ledger_record_commit(ledger *lg, int64_t us);
/* apply.c: the push answer's pieces, shared by both backends' apply */
void ledger_conflict_json(ids_buf *o, const ids_mutation *m, ids_rule rule, const char *reason, int64_t wseq,
			 int wdel, const char *whlc, const char *wval, size_t wlen, const ids_buf *lost);
int ledger_note_kept(ledger_push_result *r, int64_t id, int64_t seq, ids_error *err);
/* A mutation's admission, before its row is read: refuses a client's write to a server-owned
 * store (IDS_EFORBIDDEN, nothing of the push applies) and stamps or observes its HLC. */
int ledger_admit_mutation(ledger *lg, const ids_batch *b, int read_only, ids_mutation *m, ids_error *err);
/* The refusal (IDS_EFORBIDDEN) of a user's mutation to a key a shared row (uid 0) holds. */
int ledger_refuse_shared(const ids_batch *b, const ids_mutation *m, ids_error *err);
/* pull.c: one change of a pull answer (both backends) */
void ledger_emit_change(ids_buf *out, int first, int64_t seq, const char *store_name, size_t store_len,
		       const uint8_t *key, size_t key_len, int deleted, const char *value, size_t value_len,
		       const char *hlc, size_t hlc_len);
void ledger_note_pull(ledger *lg, const ledger_pull_req *req);

/* A row source: the rows of one backend's answer (a SQLite statement, a PostgreSQL result) read
 * column by column, so that what is read from a row lives in one place for both backends
 * (rowsrc.c). next: 1 a row, 0 the end, < 0 an error (err filled). text: NULL for SQL NULL.
 * blob: the bytes stay valid until the next row; 0 or IDS_ENOMEM. */
typedef struct ledger_rowsrc {
	int (*next)(struct ledger_rowsrc *r, ids_error *err);
	int64_t (*i64)(struct ledger_rowsrc *r, int col);
	const char *(*text)(struct ledger_rowsrc *r, int col, size_t *len);
	int (*blob)(struct ledger_rowsrc *r, int col, const uint8_t **p, size_t *len, ids_error *err);
} ledger_rowsrc;

/* The SQLite statement q as a row source (what names it in errors). */
typedef struct ledger_sqlite_rows {
	ledger_rowsrc src;
	ledger *lg;
	sqlite3_stmt *q;
	const char *what;
} ledger_sqlite_rows;
void ledger_sqlite_rows_init(ledger_sqlite_rows *r, ledger *lg, sqlite3_stmt *q, const char *what);

/* A row's value, SQL over the rows table aliased R (SQLite): LEDGER_ROW_VALUE(R) is the column,
 * LEDGER_ROW_VALUE_JOIN(R, SCHEMA) goes after the FROM's tables. A row written by a push keeps
 * its value only in the change log (rows.value NULL, the change at rows.seq holds it) while that
 * change is kept: a new key's value was written twice, a quarter of a push's WAL bytes
 * (docs/benchmarks.md, "One copy of a new value"). The prune copies it back into the row
 * before it deletes the change (ledger_prune_old_changes); rows of older databases, and rows
 * whose change is gone, hold their own. A tombstone has no value (and no lookup). A join, not a
 * scalar subquery: 0.9k instructions per pulled row against 2.8k. */
#define LEDGER_ROW_VALUE(R) "coalesce(" R ".value, vc_.value)"
#define LEDGER_ROW_VALUE_JOIN(R, SCHEMA) \
	" LEFT JOIN " SCHEMA "changes vc_ ON vc_.seq=" R ".seq AND " R ".value IS NULL AND " R ".deleted=0"

/* A row's user and key length in one column (SQLite, schema 3): ukl = uid << 16 | the key's
 * bytes (at most 65535), which leads the rows' unique key index, rows_key(sid, ukl, key) in
 * ledger.c, and orders keys of one length together. The writer binds ledger_row_ukl (its
 * inserts and its row reads); other lookups name it with LEDGER_ROW_KEY_IS: R is the rows
 * table's prefix ("" or "r."), UID the SQL of the user id, KEY that of the key. A lookup by
 * uid and key alone would scan the store. */
static inline int64_t ledger_row_ukl(int64_t uid, size_t key_len)
{
	return (int64_t)((uint64_t)uid << 16) | (int64_t)(key_len < 65535 ? key_len : 65535);
}
/* CAST: length() counts a text value's characters, the writer a key's bytes (keys are blobs) */
#define LEDGER_ROW_UKL_SQL(UID, KEY) "((" UID ")<<16|min(length(CAST(" KEY " AS BLOB)),65535))"
#define LEDGER_ROW_KEY_IS(R, UID, KEY) R "ukl=" LEDGER_ROW_UKL_SQL(UID, KEY) " AND " R "key=" KEY
#define LEDGER_ROW_UID0 "ukl BETWEEN 0 AND 65535" /* a row of user 0 (shared), by rows_key */

/* The change log and the conflicts log share their first columns and joins; each backend runs
 * this SQL with its own placeholders (P1 the id to read after, P2 the row limit). */
#define LEDGER_LOG_COLS(ID) \
	"SELECT c." ID ", d.name, s.name, u.name, coalesce(cl.name, ''), c.key, c.op, c.hlc, c.value, c.mid"
#define LEDGER_LOG_FROM(TABLE, ID, P1, P2)                                                                    \
	" FROM " TABLE " c JOIN dbs d ON d.did=c.did JOIN stores s ON s.sid=c.sid JOIN users u ON u.uid=c.uid" \
	" LEFT JOIN clients cl ON cl.cid=c.cid WHERE c." ID ">" P1 " ORDER BY c." ID " LIMIT " P2
#define LEDGER_CHANGES_TAIL ", c.origin, c.ts"
#define LEDGER_CONFLICTS_TAIL ", c.rule, c.reason, c.winner_seq, c.winner_hlc, c.ts"
#define LEDGER_CHANGES_SQL(P1, P2) \
	LEDGER_LOG_COLS("seq") LEDGER_CHANGES_TAIL LEDGER_LOG_FROM("changes", "seq", P1, P2)
#define LEDGER_CONFLICTS_SQL(P1, P2) \
	LEDGER_LOG_COLS("id") LEDGER_CONFLICTS_TAIL LEDGER_LOG_FROM("conflicts", "id", P1, P2)
/* SQLite's scans of either log read the ids where LEDGER_LOG_COLS joins the names, and a
 * ledger_log_rows source gives them as the names (lognames.c). */
#define LEDGER_LOG_IDS(ID) "SELECT c." ID ", c.did, c.sid, c.uid, c.cid, c.key, c.op, c.hlc, c.value, c.mid"
#define LEDGER_LOG_ONLY(TABLE, ID) " FROM " TABLE " c WHERE c." ID ">?1 ORDER BY c." ID " LIMIT ?2"
#define LEDGER_CHANGES_IDS_SQL LEDGER_LOG_IDS("seq") LEDGER_CHANGES_TAIL LEDGER_LOG_ONLY("changes", "seq")
#define LEDGER_CONFLICTS_IDS_SQL LEDGER_LOG_IDS("id") LEDGER_CONFLICTS_TAIL LEDGER_LOG_ONLY("conflicts", "id")
enum { LOG_NAME_DB, LOG_NAME_STORE, LOG_NAME_USER, LOG_NAME_CLIENT, LOG_NAME_KINDS };
#define LOG_NAME_SLOTS 32
typedef struct ledger_log_name {
	int64_t id;
	char *name;
	size_t len;
	int state;                            /* 0 empty, 1 named, -1 no such row */
} ledger_log_name;
typedef struct ledger_log_rows {
	ledger_sqlite_rows base;              /* first: base.src is the source the scan reads */
	ledger_rowsrc sq;                     /* SQLite's next and text, which base.src's call */
	sqlite3_stmt *look[LOG_NAME_KINDS];   /* prepared at the first miss */
	ledger_log_name slot[LOG_NAME_KINDS][LOG_NAME_SLOTS]; /* by id modulo LOG_NAME_SLOTS */
	const char *name[LOG_NAME_KINDS];     /* the current row's, and their lengths */
	size_t len[LOG_NAME_KINDS];
} ledger_log_rows;
/* A source over q (LEDGER_*_IDS_SQL): its columns 1-4 read as the names of the row's database,
 * store, user and client. ledger_log_rows_end frees what it holds (not q). */
void ledger_log_rows_init(ledger_log_rows *r, ledger *lg, sqlite3_stmt *q, const char *what);
void ledger_log_rows_end(ledger_log_rows *r);
/* The rows of LEDGER_CHANGES_SQL / LEDGER_CONFLICTS_SQL to fn, the contract of ledger_changes_scan
 * and ledger_conflicts_scan (*last: the last id passed). */
int ledger_scan_changes(ledger_rowsrc *r, int (*fn)(void *ctx, const ledger_change *c), void *ctx, int64_t *last,
		       ids_error *err);
int ledger_scan_conflicts(ledger_rowsrc *r, int (*fn)(void *ctx, const ledger_conflict *c), void *ctx,
			 int64_t *last, ids_error *err);

/* scan.c: the SQLite scan of either log (sql: LEDGER_*_IDS_SQL; the other callback NULL) */
int ledger_sqlite_scan_log(ledger *lg, const char *what, const char *sql, int64_t after, size_t max,
			  int (*change)(void *ctx, const ledger_change *c),
			  int (*conflict)(void *ctx, const ledger_conflict *c), void *ctx, int64_t *last, ids_error *err);

/* A pull's answer from rows (seq, store name, key, deleted, value, hlc) in seq order on one
 * snapshot whose head is head and whose database's tombstone horizon is floor: IDS_EGONE for a
 * cursor below the horizon, else the page (at most req->limit changes, about req->max_bytes)
 * and the cursor (docs/scaling.md says why head is a safe one). Both backends' pulls end here;
 * the caller notes (GC) and counts the answer once with ledger_pull_done. */
int ledger_pull_page(ledger_rowsrc *r, const ledger_pull_req *req, int64_t head, int64_t floor,
		    ids_buf *out, int64_t *cursor, int *count, ids_error *err);

/* A key's current row (seq, hlc, deleted, origin, value, meta from column col on) into cur;
 * its stamp's text into cur_hlc (cur->hlc is parsed from it). */
void ledger_read_cur(ledger_rowsrc *r, int col, ids_row *cur, char cur_hlc[HLC_STR_MAX]);

/* What a backend does with a decided mutation: writes the applied row with its change-log
 * entry (val NULL: a tombstone), or logs a conflict (the losing mutation and its winner). */
typedef struct ledger_apply_io {
	int (*write)(void *ctx, const ids_mutation *m, int64_t seq, const char *hlc, const ids_decision *d,
		     const char *val, size_t vlen, ids_error *err);
	int (*conflict)(void *ctx, const ids_mutation *m, ids_rule rule, const char *reason, int64_t wseq,
			const char *whlc, ids_error *err);
	void *ctx;
} ledger_apply_io;
/* Acts on the decision d of mutation m (seq: the seq it takes if applied; cur: the row it was
 * decided against): an applied one is written (io->write) and takes lg->next_seq, a lost one is
 * logged (io->conflict), both answered in res; *dlive and *dtomb get the store's count deltas.
 * Both backends' apply end here (apply.c, pg_push.c). */
int ledger_apply_decided(ledger *lg, const ledger_apply_io *io, ids_rule rule, const ids_mutation *m,
			const ids_row *cur, const char *cur_hlc, int64_t seq, const ids_decision *d, int64_t *dlive,
			int64_t *dtomb, ledger_push_result *res, ids_error *err);
/* The mutations of b a client's last acknowledged id ack lets apply: duplicates (ids at or below
 * it) are counted in res, a gap stops the scan (res->gap). fn gets each one in order; its
 * failure stops the scan. *ack gets the new last id; the answer's fields are set. */
int ledger_apply_ids(ids_batch *b, int64_t *ack, ledger_push_result *res, int (*fn)(void *ctx, size_t i), void *ctx);

/* The PostgreSQL backend (pg.c: connections, schema, NOTIFY listener, leases; pg_push.c: group
 * commit and apply; pg_read.c: pulls and the lake's scans). */
int ledger_pg_open(ledger *lg, ids_error *err);
void ledger_pg_close(ledger *lg);
void ledger_pg_run_group(ledger *lg, push_job *jobs);
int ledger_pg_pull(ledger *lg, const ledger_pull_req *req, ids_buf *out, int64_t *cursor, int *count, ids_error *err);
int ledger_pg_list_json(ledger *lg, const char *db, const char *user, ids_buf *out, ids_error *err);
int ledger_pg_names_json(ledger *lg, const char *db, ids_buf *out, ids_error *err);
int ledger_pg_changes_scan(ledger *lg, int64_t after, size_t max, int (*fn)(void *ctx, const ledger_change *c),
			  void *ctx, int64_t *last, ids_error *err);
int ledger_pg_changes_prune(ledger *lg, int64_t upto, ids_error *err);
int64_t ledger_pg_conflicts_head(ledger *lg);
int ledger_pg_conflicts_scan(ledger *lg, int64_t after, size_t max, int (*fn)(void *ctx, const ledger_conflict *c),
			    void *ctx, int64_t *last, ids_error *err);
int ledger_pg_rows_scan(ledger *lg, const char *db, const char *store_name, uint32_t lo, uint32_t hi,
		       int (*fn)(void *ctx, const ledger_row *r), void *ctx, int64_t *head, ids_error *err);
int ledger_pg_rows_get(ledger *lg, const char *db, const char *store_name, const ledger_key_ref *keys, size_t n,
		      int (*fn)(void *ctx, size_t i, int found, const ledger_row *r), void *ctx, int64_t *head,
		      ids_error *err);
int ledger_pg_lease(ledger *lg, const char *name, int *held, ids_error *err);
int ledger_pg_lease_fence_begin(ledger *lg, const char *name, ids_error *err);
void ledger_pg_lease_fence_end(ledger *lg);
/* pg_gc.c: tombstone collection with this server's noted pull progress (gc.c's rule) */
int ledger_pg_gc(ledger *lg, ids_error *err);
int64_t ledger_pg_head_fresh(ledger *lg);

int ledger_sql_err(ledger *lg, sqlite3 *db, int rc, ids_error *err, const char *what);
/* Deletes changes up to seq upto older than cutoff (ms since the epoch), walking the old prefix. */
int ledger_prune_old_changes(ledger *lg, sqlite3 *db, int64_t upto, int64_t cutoff, ids_error *err);
/* checkpoint.c: takes ck (a read-write connection); stop joins the thread and closes it. */
int ledger_ckpt_start(ledger *lg, sqlite3 *ck, ids_error *err);
void ledger_ckpt_stop(ledger *lg);
/* The writer's own checkpoint, if its last commit asked for one: called by the writer between
 * groups, after their pushes are answered. */
void ledger_ckpt_writer(ledger *lg);
int ledger_exec(sqlite3 *db, const char *sql, ids_error *err);
/* Another connection to the SQLite state (the writer's settings, busy timeout; readonly: a
 * reader's), for a caller that needs one of its own; sqlite3_close() it. */
/* walbuf.c: the VFS (registered by name) through which the writer's connection gathers each
 * commit's WAL frames into one write; only with synchronous=FULL. It also registers
 * LEDGER_SHM_VFS as the process's default VFS: the same wrapper without the buffering, whose
 * only change is that a WAL index (-shm) region gets all its disk blocks before SQLite uses it
 * (SQLITE_FULL, not SIGBUS, on a full disk). Both do so for the writer. Called once, before
 * any connection opens; returns a SQLite result code. */
#define LEDGER_WALBUF_VFS "idbsync-walbuf"
/* The WAL's size SQLite cuts it back to after it started over (journal_size_limit) */
#define LEDGER_WAL_LIMIT ((sqlite3_int64)64 << 20)
#define LEDGER_WAL_LIMIT_SQL "67108864"
/* walfill.c: the writer's WAL gets its blocks (zeros) ahead of its commits, on a thread of its
 * own. Every handle of a WAL (any connection) shares the path's walfill (get/put; NULL: no
 * filling); walbuf.c brackets each write and truncate of the WAL with write_begin/write_end
 * (end: where the write ends, past a running fill's start it is joined first; a truncate gives
 * INT64_MAX), and the writer's buffered handle calls after_sync after a commit's sync. */
typedef struct walfill walfill;
walfill *ledger_walfill_get(const char *path);
void ledger_walfill_put(walfill *w);
void ledger_walfill_write_begin(walfill *w, sqlite3_int64 end);
void ledger_walfill_write_end(walfill *w);
void ledger_walfill_after_sync(walfill *w, sqlite3_file *real, sqlite3_int64 end);
#define LEDGER_SHM_VFS "idbsync-shm"
/* reserve.c: DIR/idbsync.reserve, deleted before the state opens so that a restart on a full
 * disk has room for the WAL index, and made again (all of it or nothing: -1; quiet: no log
 * line when there is no room) once it is open, or after a checkpoint while it is missing. */
#define LEDGER_RESERVE_BYTES (128 << 10)
void ledger_reserve_release(const char *dir);
int ledger_reserve_make(const char *dir, int quiet);
int ledger_walbuf_register(void);
int ledger_conn_open(ledger *lg, sqlite3 **out, int readonly, ids_error *err);
/* A read connection of the pool (waits for a free one); on a thread that pinned a snapshot
 * (ledger_read_begin), that snapshot's connection, which ledger_reader_put leaves pinned. */
sqlite3 *ledger_reader_get(ledger *lg);
/* 1 when db is the calling thread's pinned snapshot: already in its transaction (no BEGIN,
 * no COMMIT around a scan). */
int ledger_reader_pinned(ledger *lg, const void *conn);
/* Under rmu: the calling thread's pinned connection, or NULL (pin.c). */
void *ledger_pin_mine(ledger *lg);
void ledger_reader_put(ledger *lg, sqlite3 *db);

/* Lookup-or-create of ids (writer only). */
int ledger_db_id(ledger *lg, const char *name, int64_t *did, ids_error *err);
int ledger_user_id(ledger *lg, const char *name, int64_t *uid, ids_error *err);
int ledger_store_id(ledger *lg, int64_t did, const char *name, int64_t *sid, ids_error *err);

/* Applies one batch inside the writer's open transaction. */
int ledger_apply_batch(ledger *lg, ids_batch *b, ledger_push_result *res, ids_error *err);
void *ledger_writer_main(void *arg);
/* Records the top-level fields of a put's value (writer thread, inside its transaction). */
int ledger_fields_note(ledger *lg, int64_t sid, const ids_mutation *m, ids_error *err);
/* Forgets the cache (after a failed commit, and at close). */
void ledger_fields_reset(ledger *lg);
int ledger_gc_run(ledger *lg, ids_error *err);
void ledger_flush_notes(ledger *lg);

/* query.c: the column type a view gives a field whose values had these kinds (fields.c's
 * K_* bits), and the answer of ledger_query_columns built from the fields and their kinds. */
typedef enum ledger_col_type { C_TEXT, C_INTEGER, C_REAL, C_BOOLEAN, C_DATE, C_JSON, C_NULL } ledger_col_type;
ledger_col_type ledger_col_type_of(int kinds);
void ledger_columns_begin(ids_buf *out, const char *store_name);
void ledger_columns_add(ids_buf *out, const char *field, int kinds);
/* s between q quotes, q doubled inside (an SQL identifier with '"', a literal with '\''). */
void ledger_sql_quote(ids_buf *o, const char *s, char q);
/* A query's params (a JSON array; expect >= 0: the SQL's placeholder count, checked) to fn one
 * by one: its JSON type and its text (a string unescaped, other values as written). */
int ledger_query_params(const char *params, size_t len, int expect,
		       int (*fn)(void *ctx, int i, ids_jtype type, const char *text, size_t n), void *ctx, ids_error *err);
/* pg_query.c: ledger_query and ledger_query_columns on PostgreSQL (lim: filled in) */
int ledger_pg_query(ledger *lg, const char *db, const char *user, const char *sql, size_t sql_len, const char *params,
		   size_t params_len, const ledger_query_limits *lim, ids_buf *out, ids_error *err);
int ledger_pg_query_columns(ledger *lg, const char *db, const char *store_name, ids_buf *out, ids_error *err);

/* backup.c: claims out_file (never overwritten) and names the copy's temp file beside it; then
 * (rc: the copy's outcome) the copy is fsynced and renamed over out_file, or both removed. */
int ledger_backup_claim(const char *out_file, char tmp[IDS_PATH_MAX + 1], ids_error *err);
int ledger_backup_finish(int rc, const char *tmp, const char *out_file, ids_error *err);
/* 16 random hex digits (backup.c) */
void ledger_new_epoch(char out[LEDGER_EPOCH_LEN + 1]);

/* IDS_EGONE when a pull cursor lies below the tombstone horizon floor (pull.c). */
int ledger_pull_horizon(int64_t since, int64_t floor, ids_error *err);

#endif
