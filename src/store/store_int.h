/* Private layout of the store, shared by its files (open, apply, writer, pull, gc). */
#ifndef STORE_INT_H
#define STORE_INT_H

#include <pthread.h>
#include <sqlite3.h>

#include "idbsync/store.h"
#include "idbsync/value.h"

typedef struct push_job {
	ids_batch *b;
	store_push_result *res;
	ids_error err;
	int rc;
	int done;
	struct push_job *next;
	/* store_push_async: the job is heap-allocated and done_fn is called instead of waking a
	 * waiting pusher */
	store_push_done_fn done_fn;
	void *done_ctx;
	int64_t last_seq;           /* the job's last change (0: none), for store_db_head */
} push_job;

/* The seq of each database's latest change since the store opened (store_db_head). */
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
} pull_note;

#define READERS 8

enum {
	ST_GET_ROW, ST_GET_SHARED, ST_PUT_ROW, ST_ADD_CHANGE, ST_ADD_CONFLICT, ST_GET_CLIENT,
	ST_SET_CLIENT, ST_STORE_COUNTS, ST_BASE_VALUE, ST_FIELD,
	ST_ADD_CHANGES_8, ST_ADD_CHANGES_32, /* ST_ADD_CHANGE for 8 and 32 rows in one statement */
	ST_NEW_ROWS_1, ST_NEW_ROWS_8, ST_NEW_ROWS_32, /* new keys' rows, 1, 8 or 32 per statement */
	ST_ADD_CHANGES_8R, ST_ADD_CHANGES_32R, /* the same, each row's seq the next rowid */
	ST_CHANGES_TAIL, ST_SET_ROW, ST_ANY_SHARED,
	ST_COUNT
};

struct store_pg; /* pg.c: the PostgreSQL backend's connections and threads */

struct store {
	store_options o;
	struct store_pg *pg;              /* NULL: the SQLite backend; else every public call goes to pg*.c */
	char *dir;
	char epoch[STORE_EPOCH_LEN + 1]; /* the state's identity (meta 'epoch') */
	int lock_fd;                      /* flock on DIR/LOCK: one process per data dir */
	hlc_clock clock;
	store_stats stats;

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
	int stop;
	int closing;                      /* waiters should return: shutting down */
	int64_t head;
	int64_t open_head;                /* the head when the store opened */
	db_head *db_heads[DB_HEAD_BUCKETS]; /* guarded by mu */
	int64_t last_gc_ms;
	pull_note *notes;

	pthread_mutex_t rmu;              /* read connection pool */
	pthread_cond_t rfree;
	sqlite3 *readers[READERS];
	int reader_busy[READERS];

	sqlite3 *ck;                      /* the checkpoint thread's connection (checkpoint.c) */
	pthread_t ckpt;
	int ckpt_started;
	pthread_mutex_t ckmu;
	pthread_cond_t ckwake;
	int ck_due, ck_stop;

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
void store_group_done(store *s, push_job *jobs, int64_t new_head, int rc, const ids_error *err);
void store_record_commit(store *s, int64_t us);
int64_t store_mono_us(void);
/* apply.c: the push answer's pieces, shared by both backends' apply */
void store_conflict_json(ids_buf *o, const ids_mutation *m, ids_rule rule, const char *reason, int64_t wseq,
			 int wdel, const char *whlc, const char *wval, size_t wlen, const ids_buf *lost);
int store_note_kept(store_push_result *r, int64_t id, int64_t seq, ids_error *err);
/* A mutation's admission, before its row is read: refuses a client's write to a server-owned
 * store (IDS_EFORBIDDEN, nothing of the push applies) and stamps or observes its HLC. */
int store_admit_mutation(store *s, const ids_batch *b, int read_only, ids_mutation *m, ids_error *err);
/* The refusal (IDS_EFORBIDDEN) of a user's mutation to a key a shared row (uid 0) holds. */
int store_refuse_shared(const ids_batch *b, const ids_mutation *m, ids_error *err);
/* pull.c: one change of a pull answer (both backends) */
void store_emit_change(ids_buf *out, int first, int64_t seq, const char *store_name, size_t store_len,
		       const uint8_t *key, size_t key_len, int deleted, const char *value, size_t value_len,
		       const char *hlc, size_t hlc_len);
void store_note_pull(store *s, const store_pull_req *req);

/* The PostgreSQL backend (pg.c: connections, schema, NOTIFY listener, leases; pg_push.c: group
 * commit and apply; pg_read.c: pulls and the lake's scans). */
int store_pg_open(store *s, ids_error *err);
void store_pg_close(store *s);
void store_pg_run_group(store *s, push_job *jobs);
int store_pg_pull(store *s, const store_pull_req *req, ids_buf *out, int64_t *cursor, int *count, ids_error *err);
int store_pg_list_json(store *s, const char *db, const char *user, ids_buf *out, ids_error *err);
int store_pg_names_json(store *s, const char *db, ids_buf *out, ids_error *err);
int store_pg_changes_scan(store *s, int64_t after, size_t max, int (*fn)(void *ctx, const store_change *c),
			  void *ctx, int64_t *last, ids_error *err);
int store_pg_changes_prune(store *s, int64_t upto, ids_error *err);
int64_t store_pg_conflicts_head(store *s);
int store_pg_conflicts_scan(store *s, int64_t after, size_t max, int (*fn)(void *ctx, const store_conflict *c),
			    void *ctx, int64_t *last, ids_error *err);
int store_pg_rows_scan(store *s, const char *db, const char *store_name, uint32_t lo, uint32_t hi,
		       int (*fn)(void *ctx, const store_row *r), void *ctx, int64_t *head, ids_error *err);
int store_pg_rows_get(store *s, const char *db, const char *store_name, const store_key_ref *keys, size_t n,
		      int (*fn)(void *ctx, size_t i, int found, const store_row *r), void *ctx, int64_t *head,
		      ids_error *err);
int store_pg_lease(store *s, const char *name, int *held, ids_error *err);
int64_t store_pg_head_fresh(store *s);

int store_sql_err(store *s, sqlite3 *db, int rc, ids_error *err, const char *what);
/* checkpoint.c: takes ck (a read-write connection); stop joins the thread and closes it. */
int store_ckpt_start(store *s, sqlite3 *ck, ids_error *err);
void store_ckpt_stop(store *s);
int store_exec(sqlite3 *db, const char *sql, ids_error *err);
sqlite3 *store_reader_get(store *s);
void store_reader_put(store *s, sqlite3 *db);

/* Lookup-or-create of ids (writer only). */
int store_db_id(store *s, const char *name, int64_t *did, ids_error *err);
int store_user_id(store *s, const char *name, int64_t *uid, ids_error *err);
int store_store_id(store *s, int64_t did, const char *name, int64_t *sid, ids_error *err);

/* Applies one batch inside the writer's open transaction. */
int store_apply_batch(store *s, ids_batch *b, store_push_result *res, ids_error *err);
void *store_writer_main(void *arg);
/* Records the top-level fields of a put's value (writer thread, inside its transaction). */
int store_fields_note(store *s, int64_t sid, const ids_mutation *m, ids_error *err);
/* Forgets the cache (after a failed commit, and at close). */
void store_fields_reset(store *s);
int store_gc_run(store *s, ids_error *err);
void store_flush_notes(store *s);

/* 16 random hex digits (backup.c) */
void store_new_epoch(char out[STORE_EPOCH_LEN + 1]);

/* IDS_EGONE when a pull cursor lies below the tombstone horizon floor (pull.c). */
int store_pull_horizon(int64_t since, int64_t floor, ids_error *err);

#endif
