/* The state ledger: rows (current state incl. tombstones), the change log the lake writer
 * reads, clients' acknowledged mutation ids, and the conflicts log. Two backends behind this
 * one interface: SQLite (WAL) in a data directory, the zero-configuration default, owned by one
 * process; or PostgreSQL (ledger_options.state = "postgres://..."), shared by several servers
 * (docs/scaling.md). Either way one writer thread per process applies pushes with group commit
 * (many pushes, one fsync); pulls read from a pool of read connections concurrently. */
#ifndef IDBSYNC_LEDGER_H
#define IDBSYNC_LEDGER_H

#include <stdatomic.h>
#include <stdint.h>

#include "idbsync/buf.h"
#include "idbsync/error.h"
#include "idbsync/hlc.h"
#include "idbsync/sync.h"

typedef struct ledger ledger;

typedef struct ledger_options {
	const char *dir;                 /* data directory, created if missing */
	const char *node_id;             /* HLC node of the server; NULL: random, persisted */
	int64_t max_skew_ms;             /* HLC: how far ahead a client stamp may be */
	int durable;                     /* 1: fsync on every commit (synchronous=FULL) */
	int auth;                        /* 1: rows are scoped per user */
	int64_t tombstone_retention_ms;  /* clients not seen for this long stop holding tombstones */
	int64_t gc_interval_ms;          /* how often tombstones are collected */
	size_t group_max_mutations;      /* upper bound of one group commit */
	ids_rule default_rule;
	int64_t base_retention_ms;       /* change-log entries stay this long even after the lake has
					  * them: the merge rule reads the version a client's base names */
	int no_lake;                     /* nobody reads the change log: GC prunes it after base_retention */
	const char *state;               /* NULL or "": SQLite in dir; "postgres://..." or
					  * "postgresql://...": PostgreSQL (libpq URI), several servers may share it */
} ledger_options;

#define LEDGER_OPTIONS_INIT                                                                            \
	{.dir = "./data", .max_skew_ms = 300000, .durable = 1, .tombstone_retention_ms = 30LL * 86400000,  \
	 .gc_interval_ms = 60000, .group_max_mutations = 50000, .default_rule = IDS_RULE_LWW,               \
	 .base_retention_ms = 86400000LL}

/* CLOCK_MONOTONIC in microseconds (stage timings). */
int64_t ledger_mono_us(void);

/* 1 when state names PostgreSQL (a postgres:// or postgresql:// URI). */
int ledger_state_is_postgres(const char *state);

#define LEDGER_COMMIT_BUCKETS 12
typedef struct ledger_stats {
	atomic_llong mutations_applied;
	atomic_llong mutations_duplicate;   /* already applied earlier (retries) */
	atomic_llong conflicts;
	atomic_llong pushes;
	atomic_llong commits;
	atomic_llong commit_us_sum;
	atomic_llong commit_bucket[LEDGER_COMMIT_BUCKETS]; /* cumulative-able counts per bound */
	atomic_llong tombstones_collected;
	atomic_llong pulls;
	/* microseconds summed over pushes: queued until the writer took them; the writer's group
	 * before its commit (a streamed push's wait for its parser included) */
	atomic_llong push_queue_us, push_apply_us;
	atomic_llong pushes_streamed;       /* queued while still parsed (ids_batch_stream_begin) */
	/* WAL frames copied into the database by the checkpoint thread and by the writer's own
	 * checkpoint (which the next push waits for), and the WAL's restarts at its beginning */
	atomic_llong ckpt_frames_thread, ckpt_frames_writer, wal_restarts;
} ledger_stats;
extern const double ledger_commit_bounds[LEDGER_COMMIT_BUCKETS - 1]; /* seconds; last bucket is +Inf */

int ledger_open(ledger **out, const ledger_options *o, ids_error *err);
/* Stops the writer (finishing queued pushes) and closes everything. NULL is a no-op. */
void ledger_free(ledger *lg);

hlc_clock *ledger_clock(ledger *lg);
const ledger_stats *ledger_get_stats(ledger *lg);

/* Per-store conflict rule. db may be NULL (any database). Later calls override earlier. */
int ledger_set_rule(ledger *lg, const char *db, const char *store_name, ids_rule rule);
ids_rule ledger_rule(ledger *lg, const char *db, const char *store_name);
/* Declares a store server-owned: clients receive it, their pushes to it fail with
 * IDS_EFORBIDDEN (nothing of the batch applied); server-origin writes (imports) still apply.
 * db may be NULL (any database). */
int ledger_set_read_only(ledger *lg, const char *db, const char *store_name);
int ledger_is_read_only(ledger *lg, const char *db, const char *store_name);

typedef struct ledger_push_result {
	int64_t ack;          /* highest mutation id of this client durably applied */
	int64_t cursor;       /* server head seq after the commit */
	int64_t expected;     /* next id the server expects from this client */
	int gap;              /* 1: stopped at a missing id */
	size_t applied, duplicates, conflicts;
	ids_buf conflicts_json; /* JSON array of lost mutations with their winners */
	/* Mutations stored exactly as sent, as runs {first id, its seq, count} (ids and seqs both
	 * consecutive): the client's next edit of such a key is made on that version (its base). */
	struct ledger_kept_run { int64_t id, seq, n; } *kept;
	size_t n_kept, cap_kept;
} ledger_push_result;

void ledger_push_result_init(ledger_push_result *r);
void ledger_push_result_free(ledger_push_result *r);

/* Applies batch b (all-or-nothing for errors; stops at an id gap) and returns only after the
 * commit is durable. Thread-safe; concurrent calls share one commit. b stays the caller's.
 * Errors: IDS_EFORBIDDEN (row of another user), IDS_ENOSPC (disk full), IDS_EIO. */
int ledger_push(ledger *lg, ids_batch *b, ledger_push_result *res, ids_error *err);

/* ledger_push without holding the caller's thread: the batch joins the next group commit and
 * done(ctx, rc, err) is called on the writer thread once that commit is durable (rc 0) or
 * failed (err says why). b and res stay the caller's and must live until done is called;
 * done must not block (it hands the result to whoever answers the client). Returns 0 when
 * queued, or an error (shutting down) and then done is never called. */
/* Whether a push queued now would be applied at once: SQLite, nothing queued or being applied.
 * Then a push may be queued while it is still parsed (ids_batch_stream_begin): the writer waits
 * for each of its mutations, which only pays while it has nothing else to do. */
int ledger_push_idle(ledger *lg);
typedef void (*ledger_push_done_fn)(void *ctx, int rc, const ids_error *err);
int ledger_push_async(ledger *lg, ids_batch *b, ledger_push_result *res, ledger_push_done_fn done, void *ctx,
		     ids_error *err);

typedef struct ledger_pull_req {
	const char *db;
	const char *user;     /* "" when auth is off */
	const char *client;   /* optional: records the client's progress for tombstone GC */
	int64_t since;
	int limit;
	size_t max_bytes;     /* stop adding changes past this response size (0: 16 MiB); at least one is sent */
} ledger_pull_req;

/* Appends {"changes":[...],"cursor":N,"more":bool} to out. *count gets the number of changes
 * and *cursor the cursor. IDS_EGONE when since predates collected tombstones. */
int ledger_pull(ledger *lg, const ledger_pull_req *req, ids_buf *out, int64_t *cursor, int *count,
	       ids_error *err);
/* ledger_pull without its bookkeeping, for a look that may not be answered (a long-poll that
 * finds nothing) or whose page is shared among waiters (the server's fan-out): the caller calls
 * ledger_pull_done once for each pull it answers. */
int ledger_pull_look(ledger *lg, const ledger_pull_req *req, ids_buf *out, int64_t *cursor, int *count,
		    ids_error *err);
/* A pull answered to req->client: counts it (ledger_get_stats' pulls) and notes the client's
 * progress (req->since) for tombstone collection. */
void ledger_pull_done(ledger *lg, const ledger_pull_req *req);

/* Current committed head seq, and a wait for it to pass `after` (returns 1 if it did, 0 on
 * timeout or shutdown). */
int64_t ledger_head(ledger *lg);
/* The committed head read from the state itself: with PostgreSQL, servers learn of each other's
 * commits a moment later (NOTIFY), so a cursor another server handed out, or a flush that must
 * cover every acked push, asks for this (one query; it also moves ledger_head). SQLite: ledger_head. */
int64_t ledger_head_fresh(ledger *lg);
/* Moves whenever a page read before may differ from one read now at the same head: a tombstone
 * collection here, or (PostgreSQL) any notification from another server, whose collections do
 * not move the head. Pages shared among pulls are keyed by it as well as by the head. */
int64_t ledger_read_gen(ledger *lg);

/* The state's identity (16 hex digits): made with the state, new after ledger_restore. Pulls
 * and pushes answer it; a client whose cursor belongs to another epoch must resync. */
#define LEDGER_EPOCH_LEN 16
const char *ledger_epoch(const ledger *lg);
/* `idbsync backup`: a consistent copy of the state in data_dir written to out_file (a SQLite
 * file; an existing file is refused), online: a running server keeps serving (the copy is
 * one read snapshot). *head gets the seq the copy holds. */
int ledger_backup(const char *data_dir, const char *out_file, int64_t *head, ids_error *err);
/* `idbsync restore`: replaces the state in data_dir (no server may hold it) by the backup
 * file, checked first (integrity, idbsync schema), and gives it a new epoch. */
int ledger_restore(const char *backup_file, const char *data_dir, char epoch_out[LEDGER_EPOCH_LEN + 1],
		  int64_t *head, ids_error *err);
/* The same two with the state in PostgreSQL (state: its postgres:// URI). A backup is Debian's
 * pg_dump of that database (custom format, run on a snapshot exported here, so *head is exactly
 * what it holds) while the servers keep serving; IDS_ENOTFOUND when pg_dump is not installed. A
 * restore checks the file (pg_restore --list), refuses (IDS_EBUSY) while a server is connected
 * to the database, replaces the tables in one transaction (pg_restore) and sets a new epoch. */
int ledger_pg_backup(const char *state, const char *out_file, int64_t *head, ids_error *err);
int ledger_pg_restore(const char *backup_file, const char *state, char epoch_out[LEDGER_EPOCH_LEN + 1],
		     int64_t *head, ids_error *err);
int ledger_wait(ledger *lg, int64_t after, int timeout_ms);
/* A seq at or above database db's latest change and at most the head: a waiter of db that has
 * seen everything up to seq `after` has nothing new while this is <= after (so a change in
 * one database does not wake the live clients of every other). */
int64_t ledger_db_head(ledger *lg, const char *db);
/* Wakes every waiter (used at shutdown). */
void ledger_wake_all(ledger *lg);

/* Appends {"stores":[{"name":..,"rows":N,"tombstones":N,"conflict":"lww"},...]} for db. */
int ledger_list_json(ledger *lg, const char *db, const char *user, ids_buf *out, ids_error *err);

/* ---- reading for the lake writer ----
 * Keys hash to 32 bits (ledger_key_hash); a table of 2^k buckets puts a key in bucket
 * hash >> (32 - k), so one bucket is one contiguous hash range (an index range scan). */
uint32_t ledger_key_hash(const uint8_t *key, size_t len);

/* Pins one read snapshot of the state to the calling thread: every read it makes through the
 * ledger until ledger_read_end sees that snapshot and no later commit (SQLite: a read
 * transaction on one connection of the pool; PostgreSQL: a REPEATABLE READ transaction), so
 * the lake's change-log round and the state pass after it agree on one seq. *head (if not NULL)
 * is the snapshot's head seq. One pin per ledger at a time (IDS_EBUSY if another thread holds
 * it); other threads' reads and the writer go on meanwhile. A pinned SQLite snapshot keeps the
 * WAL from restarting at its beginning, so hold it for one short pass. Writes through the
 * ledger (ledger_changes_prune) must wait for ledger_read_end. */
int ledger_read_begin(ledger *lg, int64_t *head, ids_error *err);
/* Ends the calling thread's pin (no-op without one). */
void ledger_read_end(ledger *lg);

typedef struct ledger_change {
	int64_t seq;
	const char *db, *store, *user, *client;   /* names */
	const uint8_t *key;                        /* canonical encoding (ids_key_to_json) */
	size_t key_len;
	ids_op op;
	const char *hlc;
	const char *value;                         /* NULL for delete */
	size_t value_len;
	int64_t mid;                               /* client mutation id */
	ids_origin origin;
	int64_t ts_ms;                             /* server time of the commit */
} ledger_change;

/* Calls fn for committed changes with seq > after, in seq order, at most max of them (fn
 * returning non-zero stops early with that code). *last gets the last seq passed to fn
 * (after, if none). Runs on a read snapshot; safe concurrently with pushes. */
int ledger_changes_scan(ledger *lg, int64_t after, size_t max,
		       int (*fn)(void *ctx, const ledger_change *c), void *ctx, int64_t *last, ids_error *err);
/* The conflicts log (losing mutations with their winners) in id order, for the lake's
 * S_conflicts tables; same contract as ledger_changes_scan. */
typedef struct ledger_conflict {
	int64_t id;                                /* conflicts.id, increasing */
	const char *db, *store, *user, *client;
	const uint8_t *key;
	size_t key_len;
	ids_op op;                                 /* the losing mutation's op */
	const char *hlc;                           /* the losing mutation's stamp */
	const char *value;                         /* its value (NULL for delete) */
	size_t value_len;
	int64_t mid;
	const char *rule, *reason;
	int64_t winner_seq;
	const char *winner_hlc;
	int64_t ts_ms;
} ledger_conflict;

/* The highest conflict id (0: none). */
int64_t ledger_conflicts_head(ledger *lg);
int ledger_conflicts_scan(ledger *lg, int64_t after, size_t max,
			 int (*fn)(void *ctx, const ledger_conflict *c), void *ctx, int64_t *last,
			 ids_error *err);

/* Drops change-log entries with seq <= upto (the lake has them durably) that are older than
 * base_retention_ms (the three-way merge still needs recent versions). */
int ledger_changes_prune(ledger *lg, int64_t upto, ids_error *err);

typedef struct ledger_row {
	const char *user;
	const uint8_t *key;
	size_t key_len;
	uint32_t hash;
	int64_t seq;
	const char *hlc;
	const char *value;                         /* live rows only are passed */
	size_t value_len;
	ids_origin origin;
} ledger_row;

/* Calls fn for every live row of db/store_name whose key hash is in [hash_lo, hash_hi]
 * (inclusive), in key order. *head gets the snapshot's head seq: the rows reflect exactly
 * the changes up to it. Cost: one pass over the store's rows (hashes are not indexed, to keep
 * pushes fast); to refresh a few keys use ledger_rows_get. */
int ledger_rows_scan(ledger *lg, const char *db, const char *store_name, uint32_t hash_lo, uint32_t hash_hi,
		    int (*fn)(void *ctx, const ledger_row *r), void *ctx, int64_t *head, ids_error *err);

/* Row ids (SQLite ledger only; PostgreSQL answers IDS_EINVAL). A row keeps its id from its
 * first put until garbage collection removes its tombstone, and a new row gets an id above
 * every row there is (a collected highest id may be handed out again). The lake's current
 * state keeps rows created since its last pass in files of their own by id range.
 * ledger_rows_scan_ids is ledger_rows_scan for rows with id in (after, upto]: after > 0 reads
 * the range by id (cheap for a range of new rows), after = 0 the whole store.
 * ledger_rows_ids: ids[i] = the id of keys[i]'s row, live or tombstone, 0 if there is none;
 * *max_id (if not NULL) = the highest id of any row, on the same snapshot. */
int ledger_rows_scan_ids(ledger *lg, const char *db, const char *store_name, uint32_t hash_lo, uint32_t hash_hi,
			int64_t after, int64_t upto, int (*fn)(void *ctx, const ledger_row *r), void *ctx,
			int64_t *head, ids_error *err);
struct ledger_key_ref;
int ledger_rows_ids(ledger *lg, const char *db, const char *store_name, const struct ledger_key_ref *keys, size_t n,
		   int64_t *ids, int64_t *max_id, ids_error *err);
/* The rows of db/store_name (live and tombstones) with id > after, in id order, at most max of
 * them: fn gets each one's id, user, key, seq and whether it is a tombstone, no value (fn
 * returning non-zero stops early with that code). Rows created since a point are one range
 * read of the rows b-tree, where ledger_rows_ids costs an index lookup per key: the lake's
 * state pass matches its touched keys against them and looks up only those it did not find.
 * SQLite ledger only. */
typedef struct ledger_row_id {
	int64_t id, seq;
	const char *user;
	const uint8_t *key;
	size_t key_len;
	int deleted;
} ledger_row_id;
int ledger_rows_after(ledger *lg, const char *db, const char *store_name, int64_t after, size_t max,
		     int (*fn)(void *ctx, const ledger_row_id *r), void *ctx, ids_error *err);

/* Point lookups of live rows by (user, key), on one read snapshot (*head as above): the way to
 * refresh only the keys that changed since a flush (read-merge-write of a lake bucket). */
typedef struct ledger_key_ref {
	const char *user;          /* "" for shared/no-auth rows */
	const uint8_t *key;
	size_t key_len;
} ledger_key_ref;
/* fn gets found=0 for keys with no live row (absent or deleted). */
int ledger_rows_get(ledger *lg, const char *db, const char *store_name, const ledger_key_ref *keys, size_t n,
		   int (*fn)(void *ctx, size_t i, int found, const ledger_row *r), void *ctx, int64_t *head,
		   ids_error *err);

/* Names of the databases and of the stores of one database (JSON arrays of strings). */
int ledger_names_json(ledger *lg, const char *db, ids_buf *out, ids_error *err);

/* ---- analytics queries ----
 * Runs one read-only SELECT over the current state of db: each store is a view named after
 * it with a column per top-level field (typed from the stored values; dates as ISO-8601
 * text, nested objects/arrays as JSON text) plus _key (JSON), _seq and _hlc. With user set,
 * views hold only that user's and shared rows. Anything but a single SELECT, reading the raw
 * tables, or running past the limits fails with IDS_EINVAL (message says why), except the
 * time limit: IDS_ETIMEOUT. A store's boolean field selected as is answers true/false. Appends
 * {"columns":[...],"rows":[[...]],"truncated":bool} to out. params is a JSON array or NULL. */
typedef struct ledger_query_limits {
	int64_t timeout_ms;   /* default 5000 */
	int64_t max_rows;     /* default 10000; more rows set "truncated" */
	size_t max_bytes;     /* default 32 MiB of response */
} ledger_query_limits;

int ledger_query(ledger *lg, const char *db, const char *user, const char *sql, size_t sql_len,
		const char *params_json, size_t params_len, const ledger_query_limits *lim, ids_buf *out,
		ids_error *err);

/* The columns ledger_query's view of one store has, with their types ("integer", "real",
 * "text", "boolean", "date" (ISO text), "json" (nested or mixed values as JSON text), "null"),
 * from the store's field registry. Appends {"store":..,"columns":[{"name","type"}..]} to out;
 * IDS_ENOTFOUND for a store the database does not have. */
int ledger_query_columns(ledger *lg, const char *db, const char *store_name, ids_buf *out, ids_error *err);

/* ---- several servers on one state (PostgreSQL) ----
 * A lease among the servers sharing the state: at most one holds `name` ("lake", "inbox") at a
 * time. *held gets 1 while this process holds it. The PostgreSQL backend keeps it as a session
 * advisory lock on a connection of its own, so a server that dies (or loses its connection)
 * frees it at once for the next caller; SQLite has one process per state, which always holds
 * it. Call it again to take over a free lease or to learn that it was lost. */
int ledger_lease(ledger *lg, const char *name, int *held, ids_error *err);
/* A commit fenced by lease name (the lake's flush commit): begin returns 0 only while this
 * process still holds the lease as it took it last (the lease's generation in the state,
 * counted up by every new holder, is still its own, and its session still holds the lock),
 * and until ledger_lease_fence_end no other server can take the lease over; else IDS_EBUSY
 * (another server took it, or the state cannot be reached to prove it) and the caller must
 * not commit. Call end after the commit (also a failed one), only after a begin that returned
 * 0. One fence at a time per ledger. SQLite: always 0. */
int ledger_lease_fence_begin(ledger *lg, const char *name, ids_error *err);
void ledger_lease_fence_end(ledger *lg);

/* ---- the Iceberg catalog in the state (src/ledger/icecat.c) ----
 * The current metadata location of each Iceberg table of the lake when its files are on S3
 * without an external catalog (docs/iceberg.md): the row is the commit point. Safe from any
 * thread. ledger_ice_get appends the location of ns.name to loc (IDS_ENOTFOUND: no such row).
 * ledger_ice_swap sets it to loc if it is expect (NULL: creates it if absent), atomically;
 * IDS_ECONFLICT if not. ledger_ice_list appends the namespaces (ns NULL) or the tables of ns,
 * sorted, one a line. */
int ledger_ice_get(ledger *lg, const char *ns, const char *name, ids_buf *loc, ids_error *err);
int ledger_ice_swap(ledger *lg, const char *ns, const char *name, const char *expect, const char *loc, ids_error *err);
int ledger_ice_list(ledger *lg, const char *ns, ids_buf *out, ids_error *err);

/* Runs tombstone garbage collection now (normally periodic on the writer thread). */
int ledger_gc_now(ledger *lg, ids_error *err);

#endif
