/* Private layout of the lake writer, shared by its files: the column type tree and table
 * schemas (ltype.c, table.c), names and file-system helpers (names.c), the current-state
 * bucket writer (state.c), the append-only logs (changelog.c), notifications (notify.c)
 * and the flush loop (lake.c). Layout on disk: docs/lake-layout.md. */
#ifndef LAKE_INT_H
#define LAKE_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "idbsync/json.h"
#include "idbsync/lake.h"
#include "idbsync/pq.h"
#include "idbsync/path.h"
#include "idbsync/pq_write.h"
#include "idbsync/ledger.h"

struct lk_table;
#define LK_DIRTY_BYTES 8192       /* one bit per 2^16 hash range */
#define LK_MAX_BUCKET_BITS 16
void lk_mark_dirty(struct lk_table *t, uint32_t hash);

/* ---- column types ---- */
typedef enum lk_kind {
	LK_NULL = 0, LK_BOOL, LK_BIGINT, LK_DOUBLE, LK_STRING, LK_JSON, LK_BINARY, LK_TIMESTAMP,
	LK_STRUCT, LK_LIST
} lk_kind;

typedef struct lk_type lk_type;
typedef struct lk_col {
	char *name;         /* sanitized column name */
	char *field;        /* the value's field name it comes from */
	size_t field_len;
	lk_type *type;
	int since;          /* schema version that added it */
} lk_col;

struct lk_type {
	lk_kind kind;
	lk_col *fields;     /* LK_STRUCT */
	size_t n_fields;
	lk_type *elem;      /* LK_LIST */
};

enum { LK_NESTED_STRUCT = LAKE_NESTED_STRUCT, LK_NESTED_JSON = LAKE_NESTED_JSON };

lk_type *lk_type_new(lk_kind k);
void lk_type_free(lk_type *t);
void lk_cols_free(lk_col *c, size_t n);
const char *lk_kind_name(lk_kind k);
/* Values are tokens of the stored JSON text (j, token index v; -1: absent), lvalue.c.
 * Merges the type observed in v into the column list (adding fields, widening). Returns a bit
 * set: 1 a column/field was added, 2 a type widened. */
int lk_cols_observe(lk_col **cols, size_t *n, const ids_json *j, long v, int nested, int version,
		    const char *const *reserved);
/* Values the writer's types cannot hold as they are get a documented fallback form
 * (docs/lake-layout.md, "Fallbacks"); the conversion counts them here. */
enum { LK_FB_SURROGATE = 0, LK_FB_DATE_RANGE, LK_FB_BAD_VALUE, LK_FB_N };
typedef struct lk_emit_ctx {
	ids_buf *tmp;                /* scratch */
	ids_buf *bin;                /* scratch for decoded $bin (the direct path, lk_put_cols) */
	int profile;                 /* pq_profile: the range of a TIMESTAMP column */
	ids_buf *tape;               /* lk_put_cols records what it put here (NULL: not) */
	unsigned n[LK_FB_N];         /* fallbacks written, by kind (the caller resets them) */
} lk_emit_ctx;
extern const char *const lk_fallback_names[LK_FB_N];
/* Appends ,"name":value for each column (the one whose field is skip left out) from value v,
 * each value converted for its column's type (what the writer's JSON shredder takes). Every
 * value the push accepts converts: what a type cannot hold takes its fallback, counted in e. */
void lk_emit_cols(ids_buf *b, lk_emit_ctx *e, const lk_col *cols, size_t n, const char *skip, const ids_json *j,
		  long v);
/* The direct path (lput.c): the same columns of value v put straight into w's leaf columns
 * from *col on (advanced past them), each value converted as lk_emit_cols writes it and the
 * writer's JSON shredder reads it (same fallbacks, counted in e), with no row text between.
 * 0, the writer's error, or IDS_EINVAL for a value its column cannot take (where the text
 * path is refused too: a bad $num or $bin). The caller owns the row (begin/end/cancel). */
int lk_put_cols(pq_writer *w, size_t *col, lk_emit_ctx *e, const lk_col *cols, size_t n, const char *skip,
		const ids_json *j, long v, ids_error *err);
/* Puts what lk_put_cols recorded on a tape (lk_emit_ctx.tape) into w's columns from first on:
 * the same values into a second file whose user columns are the same (the state's delta). */
int lk_put_tape(pq_writer *w, size_t first, const ids_buf *tape, ids_error *err);
/* Unix ms into timestamp column col (present, def 1, rep 0) as {"$date":..} of it would be. */
int lk_put_ms(pq_writer *w, size_t col, int def, int rep, int64_t ms, ids_error *err);
/* An integer token that fits int64; the single-string payload of {"$date"|"$bigint"|"$num":s}
 * (or -1). */
int lk_is_i64(const ids_json *j, long t);
long lk_tagged_text(const ids_json *j, long v);
/* The columns' values of one stored value v (-1: none), in column order: lk_cols_value
 * gives column c's value token (-1: absent; -2: c is the skipped column). Keys are tried in
 * column order first (values of one store mostly keep it). */
typedef struct lk_cols_cur {
	const ids_json *j;
	long v, obj;
	size_t end, kn;
	const char *skip;
} lk_cols_cur;
void lk_cols_begin(lk_cols_cur *k, const ids_json *j, long v, const char *skip);
long lk_cols_value(lk_cols_cur *k, const lk_col *c);
/* The value token of field (len bytes, NUL allowed) in object obj, or -1. */
long lk_get_field(const ids_json *j, long obj, const char *field, size_t len);
/* v is written as null: absent (-1), null or {"$undefined":..}. */
int lk_value_null(const ids_json *j, long v);
/* The value's text (strings unescaped, tagged scalars their string, else JSON text). */
void lk_text_of(const ids_json *j, long v, ids_buf *out);
/* Schema JSON <-> columns. */
json_t *lk_cols_to_json(const lk_col *c, size_t n);
int lk_cols_from_json(lk_col **out, size_t *n, json_t *a, ids_error *err);
/* A Parquet node for a column (name, type) under the profile. */
pq_node *lk_type_node(const char *name, const lk_type *t, int profile);
/* Unwraps {"$esc":{..}}; returns v itself when it is a plain object, else -1. */
long lk_plain_object(const ids_json *j, long v);

/* ---- names and files (names.c) ---- */
/* Lowercase identifier legal unquoted in Hive, Impala, Drill, Trino, Spark: [a-z][a-z0-9_]*,
 * at most 100 bytes, not a reserved word. Written to out (>= 128 bytes). */
void lk_sanitize(const char *in, char *out, size_t outsz);
int lk_is_reserved(const char *s);
/* Makes name unique among taken (NULL-terminated) by appending _2, _3, ... (in place). */
void lk_unique(char *name, size_t sz, int (*taken)(void *ctx, const char *n), void *ctx);
/* Hive partition-path escaping of a value (FileUtils.escapePathName). */
void lk_hive_escape(const char *in, size_t n, ids_buf *out);
int lk_fsync_dir(const char *path);
int lk_write_file(const char *path, const char *data, size_t len, ids_error *err); /* atomic */
/* atomic for readers, not durable: a file a crash may lose or roll back */
int lk_write_file_nosync(const char *path, const char *data, size_t len, ids_error *err);
int lk_read_file(const char *path, ids_buf *out, size_t max, ids_error *err);
void lk_rm_rf(const char *path);
int lk_exists(const char *path);
int64_t lk_file_size(const char *path);
/* rename(2) with RENAME_EXCHANGE; falls back to two renames when the fs lacks it. */
int lk_exchange(const char *a, const char *b, ids_error *err);
int64_t lk_now_ms(void);

/* ---- tables ---- */
typedef enum lk_kind_table { LK_T_STATE = 0, LK_T_CHANGES = 1, LK_T_CONFLICTS = 2 } lk_table_kind;

/* A failure the lake set aside, retried with backoff until it works or, after
 * --lake-retry-max attempts, quarantined until `idbsync lake quarantine retry`. */
typedef struct lk_failure {
	int attempts;
	int quarantined;
	int64_t since_ms, next_ms;
	char err[400];
} lk_failure;

/* A change-log row the writer refused: left out of its file, named in progress.json, and
 * written as a file of its own (part-<seq>-<seq>) once a retry works. The ledger keeps the
 * change until then (the prune floor). */
typedef struct lk_qchange {
	struct lk_table *t;
	int64_t seq;
	char *key;                   /* the key's JSON text */
	int state;                   /* a current-state row instead: left out of its bucket file */
	uint32_t hash;               /* state: the key's hash (its bucket) */
	char *user;                  /* state: the row's user (NULL in a progress.json from before it was kept) */
	int pending;                 /* state: its bucket is being written again */
	lk_failure fail;
	struct lk_qchange *next;
} lk_qchange;

typedef struct lk_table {
	char *db, *store;            /* real names */
	char table[128];             /* sanitized dir / table name */
	char *part_field;            /* partition field of the current state, or NULL */
	char part_col[128];          /* its column name */
	int64_t bucket_bytes;        /* target size of one bucket file */
	int version;                 /* schema version */
	lk_col *cols;
	size_t n_cols;
	json_t *history;             /* array of schema events */
	int dirty_schema;            /* schema file needs writing */
	/* per flush */
	int touched;
	uint8_t *dirty;              /* bitmap over hash >> 16 (LK_DIRTY_BYTES), NULL: none */
	int64_t dirty_n;
	int k;                       /* bucket bits of the current-state dir */
	int dir_version;             /* schema version the current-state dir was built with */
	int rebuild;                 /* full rebuild needed */
	int widened;                 /* a row widened the schema mid-scan: the scan stopped (IDS_ECONFLICT)
				 * and the table is rebuilt with the wider schema */
	int grow;                    /* next rebuild doubles the buckets */
	int log_files;               /* change-log files written since the last compaction check */
	int64_t round_first;         /* its first change in the change-log round at hand */
	int64_t obs_from, obs_to;    /* every change of this table in [from, to] had its value observed
				 * into the schema by this process's change-log passes (0, 0: none):
				 * a state row at such a seq needs no second observation */
	/* rows created since the last rebuild, in files of their own (state_delta.c) */
	int64_t upto;                /* the bucket files hold the rows with ledger id <= upto; -1: all */
	struct lk_delta *deltas;     /* the other files, by id range, in id order */
	size_t n_deltas;
	int merge_due;               /* a busy flush left its deltas unmerged (lk_delta_merge_idle) */
	int64_t gen;                 /* the newest generation of state file names (_buckets "gen") */
	int64_t pass_no;             /* the last number written to _idbsync/<t>.pass, 0: not read yet */
	struct lk_feed *feed;        /* the next delta, written by the change log (state_feed.c) */
	int feed_bad;                /* a change was not fed: the pass reads the ledger */
	ids_buf rkeys;               /* touched keys of this pass (u32 len, user, u32 len, key)... */
	size_t n_rkeys;
	int rkeys_over;              /* ...or more than fit: the pass cannot place them */
	/* isolation (hold.c): a table whose files cannot be written is held, the rest go on */
	int64_t log_held;            /* 0, or the first change seq its change log still misses */
	int64_t conf_held;           /* 0, or the first conflict id its conflicts table misses */
	int state_held;              /* its current-state pass failed: stale until a retry works */
	lk_failure fail;             /* why, and when to try again (shared by the three) */
	struct lk_table *next;
} lk_table;

typedef struct lk_store_cfg {
	char *match;                 /* "db/store" or "store" */
	char *partition_by;
	int64_t bucket_bytes;
} lk_store_cfg;

typedef struct lk_notice {
	char *table;                 /* db.table */
	char *db, *tname, *kind;     /* kind: state | changes | conflicts */
	char *partitions;            /* space separated relative dirs, may be empty */
	int64_t seq;
	int attempts;
	int64_t next_ms;
	struct lk_notice *next;
} lk_notice;

enum { LK_SV_I64 = 0, LK_SV_STR, LK_SV_TS, LK_SV_BOOL };
#define LK_MAX_SYS 16
typedef struct lk_sysv {
	const char *name;            /* a literal */
	int kind;                    /* LK_SV_* */
	int64_t i;                   /* I64, TS (ms), BOOL */
	size_t off, len;             /* STR: bytes in the row's arena */
} lk_sysv;
typedef struct lk_row {
	lk_sysv sys[LK_MAX_SYS];
	size_t n_sys;
	ids_buf arena;               /* the system strings' bytes */
	const lk_table *t;
	const ids_json *j;
	int skip_part;
	int counted;                 /* its fallbacks are in the metrics */
} lk_row;

struct lake {
	lake_options o;
	char *dir;
	ledger *lg;
	int profile, nested;
	int64_t bucket_bytes;
	int max_bucket_bits;
	lk_store_cfg *cfg;
	size_t n_cfg;
	lk_table *tables;
	char *drill_ws;              /* e.g. dfs.lake */
	/* the flush thread's row (lk_row_*), its scratch, and the tokens of the value at hand */
	lk_row row;
	ids_buf row_buf, row_tmp, row_bin;
	ids_buf tape;                /* the last row's user columns as put (lk_write_row_tape) */
	int tape_want, tape_ok;
	unsigned tape_fb[LK_FB_N];   /* its fallbacks */
	ids_json vjson;
	int64_t compact_ms;          /* the last compaction check */
	int64_t prune_ms;            /* the last prune of the ledger's change log (flush thread) */
	char epoch[40];              /* the ledger epoch progress.json was written for */
	lk_qchange *quarantine;      /* refused change-log rows (hold.c) */
	struct lk_ice *ice;          /* --lake-format iceberg: the Iceberg tables (iceberg.c), else NULL */
	int hold_changed;            /* held tables or the quarantine changed: write progress */
	int n_feeds;                 /* open lk_feed files (state_feed.c) */
	int64_t log_fail_ms;         /* the last failure logged (rate limit) */

	/* progress (durable in DIR/_idbsync/progress.json): the change log is written up to
	 * changes_seq, the current state reflects every change <= state_seq (<= changes_seq) */
	int64_t changes_seq, state_seq, conflicts_id;
	int64_t state_end_ms, state_cost_ms;   /* the last state pass: when it ended, how long it took */
	int busy;                    /* a change-log round of the flush at hand was full: the head ran
				 * ahead, so the state's delta merges wait (state_delta.c) */

	pthread_t thread;
	int started;
	int lock_fd;            /* flock on _idbsync/lock, held until lake_free (-1: none) */
	pthread_mutex_t mu;
	pthread_cond_t wake, done;
	int stop;
	atomic_llong stop_by_ms;     /* set by lake_stop: work past this time is left to the next start */
	int64_t want;                /* flush requested up to */
	int64_t flushed;             /* lake reflects every change <= flushed (state_seq) */
	int64_t log_flushed;         /* changes_seq, for the metrics thread */
	int64_t gen_started, gen_done, want_gen;   /* flushes started / completed / asked for */
	int64_t last_flush_ms;
	char last_err[512];
	char *hold_json;             /* lk_hold_to_json as text, for readiness (under mu) */
	char *refuse;                /* tests: rows with this text are refused (IDBSYNC_TEST_LAKE_REFUSE) */
	size_t round_max;            /* tests: changes per change-log round (IDBSYNC_TEST_LAKE_ROUND), 0: 100k */
	char *held_dbs;              /* lines "db\twhat is held", for lake_flush (under mu) */

	/* notifications */
	pthread_t nthread;
	int nstarted;
	pthread_mutex_t nmu;
	pthread_cond_t nwake;
	lk_notice *nq;
	int nq_len;

	/* metrics */
	atomic_llong m_flushes, m_flush_errors, m_files, m_rows, m_bytes, m_flush_us, m_rebuilds;
	atomic_llong m_log_rows, m_notify_ok, m_notify_fail, m_notify_retries, m_notify_dropped;
	atomic_llong m_compactions, m_fed_rows;
	atomic_llong m_fallbacks[LK_FB_N];
	atomic_llong m_retries, m_retry_ok, m_held_tables, m_held_changes, m_quarantined;
};

/* table.c */
typedef struct lk_sys {
	const char *name;
	lk_kind kind;
} lk_sys;
/* The system columns that lead every file of a table kind (users' columns follow). */
const lk_sys *lk_system_cols(lk_table_kind k, size_t *n);
extern const char *const lk_reserved_cols[];   /* NULL-terminated: system names and "dt" */
int lk_table_get(lake *l, const char *db, const char *store_name, lk_table **out, ids_error *err);
int lk_table_save(lake *l, lk_table *t, ids_error *err);
void lk_tables_free(lake *l);
/* Observes a parsed value (its root token) into the table schema; marks dirty_schema. */
int lk_table_observe_v(lake *l, lk_table *t, const ids_json *j, int64_t seq);
/* Tokenizes a stored value into j (0, or non-zero on bad JSON). */
int lk_parse_value(ids_json *j, const char *value, size_t len);
/* Builds the writer schema for one of the three tables. */
pq_node *lk_table_schema(lake *l, const lk_table *t, lk_table_kind kind);
/* The row at hand (l->row): lk_row_start, the system columns in the schema's order
 * (lk_row_i64/str/ts/bool), then lk_row_fill names the stored value whose user columns
 * follow (j NULL: all null; skip_part: the partition column left out, for the state).
 * lk_write_row puts it straight into a writer's columns, as often as needed. */
lk_row *lk_row_start(lake *l);
void lk_row_i64(lk_row *r, const char *name, int64_t v);
void lk_row_str(lk_row *r, const char *name, const char *s, size_t n);
void lk_row_ts(lk_row *r, const char *name, int64_t ms);
void lk_row_bool(lk_row *r, const char *name, int v);
void lk_row_fill(lake *l, const lk_table *t, const ids_json *j, int skip_part);
/* A copy of r's system columns (freed with lk_row_free_copy), and back into l->row. */
lk_row *lk_row_copy(const lk_row *r);
void lk_row_restore(lake *l, const lk_row *saved);
void lk_row_free_copy(lk_row *r);
/* The row as the JSON text the writer's row API reads (errors quote it; tests compare). */
void lk_row_text(lake *l, ids_buf *out);
/* Path helpers. */
void lk_table_dir(lake *l, const lk_table *t, const char *suffix, char *out, size_t sz);
void lk_db_meta(lake *l, const char *db, char *out, size_t sz);
/* D/_idbsync/tmp, created: files are written there and renamed in (a start empties it). */
int lk_stage_dir(lake *l, const char *db, char *out, size_t sz, ids_error *err);
/* Options for writers. */
void lk_write_opts(lake *l, pq_write_options *o);
/* Writes l->row with w (its fallbacks counted once); a refusal's message quotes the row. With
 * l->tape_want, the user columns it put by the direct path are kept on l->tape (l->tape_ok). */
int lk_write_row(lake *l, pq_writer *w, ids_error *err);
/* Writes l->row's system columns, then the user columns from the last lk_write_row's tape, with
 * w: IDS_EINVAL if there is no tape (that row took the text path), else the writer's error. */
int lk_write_row_tape(lake *l, pq_writer *w, ids_error *err);
/* Key JSON text of a stored key. */
int lk_key_json(const uint8_t *k, size_t n, ids_buf *out, ids_error *err);
/* Partition value (escaped dir name component "col=value") of value j. */
void lk_part_dir(const lk_table *t, const ids_json *j, ids_buf *out);

/* lake_stop was called and its time budget is spent: long work stops at its next step
 * (durable progress stays where the last completed step left it). */
int lk_out_of_time(lake *l);

/* options.c: a --lake-config file and one per-store setting ("[db/]store" match). */
int lk_config_load(lake *l, const char *path, ids_error *err);
int lk_config_add(lake *l, const char *match, const char *part, int64_t bytes, ids_error *err);
/* progress.c: progress.json read at open (*fresh: no lake yet) and written after each step
 * (with the held tables and rows); stores adopted by a fresh lake; the rebase onto a restored
 * state (a new ledger epoch). */
int lk_progress_read(lake *l, int *fresh, ids_error *err);
int lk_progress_write(lake *l, int64_t changes, int64_t state, int64_t conflicts, ids_error *err);
int lk_adopt_stores(lake *l, ids_error *err);
int lk_rebase(lake *l, ids_error *err);

/* hold.c: isolation of failures. A table's failure holds only that table (and only the
 * part that failed: change log, conflicts, or current state); a refused row holds only that
 * change. Both are retried with backoff on the flush thread and recorded with the progress. */
enum { LK_HOLD_LOG = 1, LK_HOLD_CONF = 2, LK_HOLD_STATE = 4 };
/* Holds what of t: the change log from seq/conflict id `from` on, or the state pass. */
void lk_hold_table(lake *l, lk_table *t, int what, int64_t from, const ids_error *why);
/* Quarantines change c of t (its key's JSON text keyjson) the writer refused. */
int lk_hold_change(lake *l, lk_table *t, const ledger_change *c, const char *keyjson, const ids_error *why);
/* A current-state row the writer refused (left out of its bucket file; hold.c retries it by
 * writing its bucket again). Around a state pass of t: _begin marks the entries whose bucket
 * the pass writes (full: every one), _end drops those the pass wrote (or found deleted). */
int lk_hold_state_row(lake *l, lk_table *t, const char *keyjson, const char *user, uint32_t hash, int64_t seq,
		      const ids_error *why);
void lk_hold_state_begin(lake *l, lk_table *t, int full);
void lk_hold_state_end(lake *l, lk_table *t);
/* Change seq of t waits in the quarantine (a replay of its table passes it over). */
int lk_hold_quarantined(const lake *l, const lk_table *t, int64_t seq);
/* Retries what is due (or everything with force, for `quarantine retry`). */
void lk_hold_retry(lake *l, int force);
/* A retry is due, or asked for by `idbsync lake quarantine retry` (the file DIR/_idbsync/retry). */
int lk_hold_due(lake *l);
/* Takes up that request (then retries everything; returns 1) or retries what is due (0);
 * lk_hold_request_done removes the request once the outcome is in progress.json. */
int lk_hold_check_request(lake *l);
void lk_hold_request_done(lake *l);
/* The prune floor: the ledger must keep every change above the returned seq. */
int64_t lk_hold_floor(const lake *l);
/* progress.json's "held" and "quarantine" members, and back at start. */
json_t *lk_hold_to_json(const lake *l);
int lk_hold_from_json(lake *l, json_t *progress, ids_error *err);
/* Publishes the counts (metrics) and the JSON (readiness) for other threads. */
void lk_hold_publish(lake *l);
void lk_hold_free(lake *l);
/* 1 if a current-state row of t is held (left out of its file until a pass settles it). */
int lk_hold_state_any(const lake *l, const lk_table *t);

/* state_feed.c: the change-log pass writes each change it logs of a table in the delta layout
 * as a current-state row too, into one staged file per table; the state pass renames it in as
 * its new delta when its touched keys were created by exactly those changes (state_delta.c).
 * lk_feed_change after a change's log row is written; lk_feed_bad when a change of t is not
 * (the count check catches any other); lk_feed_usable: every touched key was fed, *last_seq
 * the last change's seq; lk_feed_take closes it and renames it to final (*size: the larger of
 * it and the file's size); lk_feed_reset after every state pass of t, lk_feed_drop at close. */
typedef struct lk_feed lk_feed;
void lk_feed_change(lake *l, lk_table *t, const ledger_change *c, const char *keyjson, size_t keylen,
		    const ids_json *v);
void lk_feed_bad(lk_table *t);
int lk_feed_usable(const lk_table *t, int64_t *last_seq);
int lk_feed_take(lake *l, lk_table *t, const char *final, int64_t *size, ids_error *err);
void lk_feed_reset(lake *l, lk_table *t);
void lk_feed_drop(lake *l, lk_table *t);

/* state_tree.c: the next version of a current-state dir. A pass writes its new files under
 * names no version of the dir had (part-<no>-<gen>.parquet, gen growing per table and kept in
 * _buckets), builds the next dir beside the visible one (D/.<t>.next: hard links of the files it
 * keeps, its new files, _buckets) and swaps it in with one RENAME_EXCHANGE: a name, once visible,
 * keeps its bytes, and a listing sees one version or the next (docs/lake-layout.md). */
typedef struct lk_sfile {
	char *rel;                   /* below the table dir: "part-3-7.parquet", "region=a/part-3-7.parquet" */
	size_t sub_len;              /* length of its partition dir in rel (0: none) */
	uint32_t no;                 /* bucket or delta slot; UINT32_MAX: not a state file (kept) */
	int64_t gen;                 /* 0: a name from before generations (part-<no>.parquet) */
	int gone;                    /* replaced by this pass: not linked into the next version */
} lk_sfile;
typedef struct lk_tree {
	char dir[IDS_PATH_MAX + 1], next[IDS_PATH_MAX + 1], dbdir[IDS_PATH_MAX + 1];
	lk_sfile *old;               /* the visible dir's files when the pass began */
	size_t n_old, cap_old;
	int64_t gen;                 /* the names of this pass's files */
	int all;                     /* a rebuild: nothing of the old version is kept */
	int changed;                 /* some file replaced or added: commit exchanges */
	int committed;
	const char *table;           /* for the log line of its cost */
	size_t linked;               /* files kept (hard links made) */
	int64_t t0_us;               /* when commit began (CLOCK_MONOTONIC) */
} lk_tree;
/* 1 and the file number and generation of a state file name (part-<no>-<gen>.parquet or the
 * older part-<no>.parquet, gen 0), else 0. */
int lk_sfile_parse(const char *name, uint32_t *no, int64_t *gen);
/* Lists t's visible dir (and its partition dirs) and makes an empty D/.<t>.next; all: a rebuild.
 * lk_tree_list only lists (lk_tree_old*, then lk_tree_free). */
int lk_tree_begin(lake *l, lk_table *t, lk_tree *x, int all, ids_error *err);
int lk_tree_list(lake *l, lk_table *t, lk_tree *x, ids_error *err);
/* The files of number no (every partition's) are replaced: not linked into the next version. */
void lk_tree_replace(lk_tree *x, uint32_t no);
/* The path of the new file no in partition dir sub ("": none) of the next version. */
int lk_tree_path(const lk_tree *x, const char *sub, uint32_t no, char *out, size_t sz, ids_error *err);
/* The visible file no (not partitioned) when the pass began, NULL if none; its full path (1). */
const lk_sfile *lk_tree_old(const lk_tree *x, uint32_t no);
int lk_tree_old_path(const lk_tree *x, uint32_t no, char *out, size_t sz);
/* Links the kept files, writes _buckets (k buckets, t's deltas, the new gen) and exchanges the
 * next version with the visible dir (nothing done when the pass changed nothing). */
int lk_tree_commit(lake *l, lk_table *t, lk_tree *x, int k, ids_error *err);
/* Removes D/.<t>.next (after a commit: the old version; its open files stay readable). */
void lk_tree_free(lk_tree *x);
/* Tests: stops the flush thread at a step while the hook's variable names a directory DIR: it
 * writes DIR/paused-<n> (the step's name) and waits up to 60 s for DIR/go-<n>, so a test reads
 * the lake at that instant. LK_PAUSE_PASS (IDBSYNC_TEST_LAKE_PAUSE): each step of a state pass
 * that changes what a reader sees (tests/lake/lake_skew). LK_PAUSE_FLUSH
 * (IDBSYNC_TEST_LAKE_PAUSE_FLUSH): the end of each flush, after its compaction or none, step
 * "busy" or "idle" (tests/lake/lake_compact_busy). */
typedef enum lk_pause { LK_PAUSE_PASS, LK_PAUSE_FLUSH } lk_pause;
void lk_test_pause(lk_pause at, const char *step);

/* state.c */
/* Ledger rows a state run reads: ids in (after, upto]; file_no names the file part-<file_no>
 * instead of the bucket number (0: the bucket's). */
typedef struct lk_state_src {
	int64_t after, upto;
	uint32_t file_no;
} lk_state_src;
#define LK_STATE_SRC_ALL {0, INT64_MAX, 0}
/* Writes the files of buckets[0..n) (bucket bits k) from one scan per group of buckets into
 * the next version x (each replaces the visible files of its number); *max_size gets the
 * largest file written. */
int lk_state_run(lake *l, lk_table *t, int k, const uint32_t *buckets, size_t n, const lk_state_src *src,
		 lk_tree *x, int64_t *max_size, ids_error *err);
/* lk_state_run of the dirty buckets of t into x. */
int lk_state_run_dirty(lake *l, lk_table *t, const lk_state_src *src, lk_tree *x, int64_t *max_size, ids_error *err);
/* _buckets of dir: bucket bits, schema version, and the id ranges (state_delta.c) */
int lk_state_meta_write(lk_table *t, const char *dir, int k, ids_error *err);
int lk_state_flush(lake *l, lk_table *t, ids_error *err);
/* D/_idbsync/<t>.pass: made odd before a state pass changes any file of t's dir and even once it
 * is done, always growing. A reader that reads the same even number before and after a query
 * read one state (docs/lake-layout.md, "What a reader sees"). Anything that swaps files of a
 * state dir outside lk_state_flush brackets them with busy=1 / busy=0. */
int lk_state_pass_mark(lake *l, lk_table *t, int busy, ids_error *err);
/* Ends what lk_state_pass_mark(.., 1, ..) began (even again); a failure is logged, not returned. */
void lk_state_pass_done(lake *l, lk_table *t);
int lk_state_read_meta(lake *l, lk_table *t);
/* The key of this hash is in a bucket the next incremental pass writes (its slot is dirty). */
int lk_state_slot_dirty(const lk_table *t, uint32_t hash);

/* state_delta.c: the files of rows created since the last rebuild. Deltas are named
 * part-<slot>.parquet with slot >= LK_DELTA_SLOT0 (bucket numbers stay below 2^16). */
#define LK_DELTA_SLOT0 65536u
typedef struct lk_delta {
	uint32_t slot;
	int64_t lo, hi;              /* ledger ids (lo, hi] */
} lk_delta;
/* Remembers a touched key for the next pass (non-partitioned tables). */
void lk_delta_touch(lk_table *t, const char *user, const uint8_t *key, size_t key_len);
/* Forgets the keys of the pass just written. */
void lk_delta_reset(lk_table *t);
/* The incremental pass of a table whose files are split by id (t->upto >= 0): dirty buckets
 * for touched rows up to upto, a rewrite of each delta holding a touched row, a new delta for
 * rows created since, then merges of small deltas. *rebuild = 1 (nothing written) when the
 * keys cannot be placed: the caller rebuilds the table. */
int lk_delta_pass(lake *l, lk_table *t, int64_t *max_size, int *rebuild, ids_error *err);
/* Merges the deltas that busy flushes left unmerged, in a read snapshot at state_seq (the
 * flush thread, idle); 1 if some table waits for it. */
int lk_delta_merge_idle(lake *l, ids_error *err);
int lk_delta_merge_wanted(const lake *l);
/* 1 if t's rows can be split by ledger id (then *upto = the highest id), 0 if not. */
int lk_delta_start(lake *l, lk_table *t, int64_t *upto);
/* Parses the "upto" and "deltas" members of _buckets into t. */
void lk_delta_read_meta(lk_table *t, json_t *j);

/* logstream.c: one round of the change log (at most 100k changes or 64 MiB) after
 * l->changes_seq into files; *done: the last seq written, *more: the ledger has more. Held
 * tables are passed over; a row the writer refuses is quarantined (lk_hold_change), a table
 * whose file fails is held (lk_hold_table): neither stops the round. */
int lk_log_flush(lake *l, int64_t *done, int *more, ids_error *err);
/* The change log of one table for changes in (after, upto]: the retry of a held table or of
 * one quarantined change (single: that change alone, in a file of its own; fails if the
 * writer refuses it). A failure of t is returned, not held. */
int lk_log_replay(lake *l, lk_table *t, int64_t after, int64_t upto, int single, ids_error *err);

/* compact.c: merges the change log's small files (a check every 10 s at most). */
int lk_compact(lake *l, ids_error *err);
int lk_compact_wanted(const lake *l);   /* a check is due and some table has enough small files */
int lk_compact_overdue(const lake *l);  /* some table has so many small files that a busy flush compacts */
/* Writes the rows of the Parquet files in[0..n) into path (written whole or not at all), column
 * chunks decoded and re-encoded as the compaction does (no value through JSON, no ledger read);
 * IDS_EINVAL when a file's schema is not the first one's, IDS_EBUSY when lake_stop's budget
 * ran out before the last file. */
int lk_files_concat(lake *l, const char *path, const char *const *in, size_t n, ids_error *err);

/* changelog.c */
int lk_log_touch_key(lk_table *t, const ledger_change *c, const char *keyjson, ids_error *err);
void lk_day_of(int64_t ms, char *out);   /* YYYY-MM-DD (UTC), out >= 12 bytes */
int lk_conflicts_flush(lake *l, int64_t *done, ids_error *err);
/* The conflicts of held table t with ids in (after, upto] (hold.c's retry). */
int lk_conflicts_replay(lake *l, lk_table *t, int64_t after, int64_t upto, ids_error *err);
int lk_log_cleanup(lake *l, ids_error *err);
/* A file of t's change log (conflicts: 1) with range [a, b] that progress.json does not record
 * although it is not past the progress mark: its table is held from there, or it is a
 * quarantined change's own file. */
int lk_log_unrecorded(lake *l, lk_table *t, int conflicts, int64_t a, int64_t b);
/* Log files are dir/part-<first>-<last>.parquet (zero-padded, so names sort by seq). */
void lk_log_path(char *out, size_t sz, const char *dir, int64_t first, int64_t last);
/* Parses such a name: 1 and the range, else 0. */
int lk_log_name(const char *n, int64_t *first, int64_t *last);
/* Marks the buckets (and partitioned keys) of changes in (after, upto] as touched again: the
 * recovery of state work that a crash lost after the change log was already recorded. */
int lk_log_retouch(lake *l, int64_t after, int64_t upto, ids_error *err);

/* notify.c */
int lk_notify_start(lake *l, ids_error *err);
void lk_notify_stop(lake *l);
void lk_notify_table(lake *l, lk_table *t, const char *kind, const char *partitions, int64_t seq);

#endif
