/* The lake writer: lands every synced object store as Parquet tables under the lake
 * directory — current state (DIR/D/S/), append-only change log (DIR/D/S_changes/dt=.../) and
 * conflicts (DIR/D/S_conflicts/) — with atomic visibility, crash safety and schema evolution.
 * Layout and guarantees: docs/lake-layout.md. A background thread flushes every
 * flush_interval_ms when the ledger's head moved; lake_flush() forces one and waits. */
#ifndef IDBSYNC_LAKE_H
#define IDBSYNC_LAKE_H

#include <stdint.h>

#include "idbsync/buf.h"
#include "idbsync/error.h"
#include "idbsync/ledger.h"

typedef struct lake lake;

/* How nested objects land in Parquet (--lake-nested), and the table formats (--lake-format). */
enum { LAKE_NESTED_AUTO = 0, LAKE_NESTED_STRUCT = 1, LAKE_NESTED_JSON = 2 };
enum { LAKE_FORMAT_HIVE = 0, LAKE_FORMAT_ICEBERG = 1 };

/* The lake's settings (the `idbsync serve` flags of its part of the help: src/cli/cmd_serve.c). */
typedef struct lake_options {
	const char *dir;               /* lake root */
	int profile;                   /* pq_profile: 0 compat (default), 1 modern */
	int64_t flush_interval_ms;     /* default 1000 */
	int nested;                    /* LAKE_NESTED_*: auto is STRUCT for modern, JSON strings for compat */
	const char *on_flush;          /* shell command run after each flush (NULL: none) */
	const char *drill_url;         /* Apache Drill REST base URL for refreshes (NULL: none) */
	const char *config_file;       /* optional JSON with per-store settings (partitioning, ...) */
	int64_t bucket_bytes;          /* target size of one current-state bucket file; 0: 128 MiB */
	const char *drill_workspace;   /* Drill workspace the lake is mounted as; NULL: "dfs.lake" */
	const char *partition[16];     /* "[DB/]STORE=FIELD": Hive-style partitioning of the state */
	int n_partition;
	int retry_max;                 /* attempts before a failure is quarantined; 0: 10 */
	int64_t retry_base_ms;         /* the first retry's wait, doubled each time (to 5 min); 0: 1000 */
	int format;                    /* LAKE_FORMAT_HIVE: plain Hive-style layout; LAKE_FORMAT_ICEBERG:
					* also Apache Iceberg tables (docs/iceberg.md) */
	int64_t iceberg_keep_ms;       /* Iceberg snapshots younger than this are kept; 0: 10 min;
					* -1: all (no expiry) */
	int64_t iceberg_keep_snapshots; /* and at most the newest N of them (at least the current
					 * snapshot and its parent); 0: no such limit */
	const char *iceberg_rest;      /* base URL of an Iceberg REST catalog that the tables are
					* committed through (NULL: the file-system catalog) */
	const char *iceberg_warehouse; /* s3://bucket/prefix: the Iceberg files also go to S3
					* (needs iceberg_rest); NULL: DIR/_iceberg only */
	int iceberg_vend;              /* the served catalog vends the S3 keys to readers that ask
					* (docs/iceberg.md, "Credential vending"); needs the S3 warehouse
					* without iceberg_rest */
	const char *s3_endpoint;       /* http(s)://host:port of the S3 service */
	const char *s3_region;         /* NULL: us-east-1 */
} lake_options;

#define LAKE_OPTIONS_INIT {.dir = "./lake", .flush_interval_ms = 1000}

/* Bytes the lake needs beneath its directory for the names it builds (tables, partitions,
 * dt= directories, temporary files); lake_open refuses a longer dir with IDS_ELIMIT. */
#define LAKE_PATH_ROOM 1200

/* Opens (and recovers) the lake and starts its flush thread. lg must outlive the lake. */
int lake_open(lake **out, ledger *lg, const lake_options *o, ids_error *err);
/* Flushes until the lake reflects every change with seq <= upto (the ledger head at the time
 * of a POST /v1/db/{db}/flush), or timeout_ms passes (IDS_EIO). With db, a table or change of
 * that database the lake holds (it failed and waits for a retry) is an IDS_EIO naming it. */
int lake_flush(lake *l, const char *db, int64_t upto, int timeout_ms, ids_error *err);
/* Appends Prometheus lines (idbsync_lake_*) to out. */
void lake_metrics(lake *l, ids_buf *out);
/* Appends the lake's health as a JSON object to out: {"flushed","head","last_error",
 * "held":[tables],"quarantine":[changes]} (docs/lake-layout.md, "When a write fails").
 * Returns 1 when something is held, quarantined or the last flush failed, else 0. */
int lake_health(lake *l, ids_buf *out);
/* GET /v1/db/{db}/lake: {"tables":[{"store","table","rows","files","changes","change_files"}],
 * "flushed"}: the rows an engine finds in each table's files right now (footers' counts). */
int lake_db_stats(lake *l, const char *db, ids_buf *out, ids_error *err);
/* The Iceberg catalog the server serves (GET /iceberg/v1/..., docs/iceberg.md): the committed
 * tables of the file-system catalog under DIR/_iceberg, read from disk (safe from any thread).
 * db NULL: appends the namespaces (databases) to out, sorted, one a line; table NULL: the
 * tables of db that have a committed version, likewise; else the current committed
 * metadata JSON of db.table to out and its URI to loc. IDS_ENOTFOUND: no such namespace or
 * table, or no catalog to serve (not --lake-format iceberg, or tables in --iceberg-rest). */
int lake_iceberg_read(lake *l, const char *db, const char *table, ids_buf *loc, ids_buf *out, ids_error *err);
/* The served catalog's credential vending (--iceberg-vend-credentials): appends the members of
 * a LoadTableResult for a reader that asked (X-Iceberg-Access-Delegation: vended-credentials),
 * `"config":{"s3.endpoint",..,"s3.access-key-id","s3.secret-access-key"},"storage-credentials":[..]`
 * with the keys the lake writes S3 with. IDS_ENOTFOUND when the lake vends none (option off, no
 * S3 warehouse). The caller decides who may have them. Safe from any thread. */
int lake_iceberg_vend(lake *l, ids_buf *out, ids_error *err);
/* Begins shutdown without waiting: every lake_flush() caller returns at once (an HTTP
 * server stopping waits for its handlers), and the flush thread ends its work within
 * LAKE_STOP_BUDGET_MS, leaving durable progress for the next start. NULL is a no-op. */
void lake_stop(lake *l);
#define LAKE_STOP_BUDGET_MS 2000
/* `idbsync lake quarantine`: appends {"held":[..],"quarantine":[..]} as recorded in DIR's
 * progress.json (the tables and change-log rows the lake could not write, with their attempts
 * and last error; docs/lake-layout.md). IDS_ENOTFOUND when DIR is not a lake. */
int lake_quarantine_read(const char *dir, ids_buf *out, ids_error *err);
/* Asks the server that holds DIR (or the next one to open it) to retry everything held now,
 * quarantined or not: writes DIR/_idbsync/retry, removed once the outcome is recorded. */
int lake_quarantine_retry(const char *dir, ids_error *err);
/* lake_stop, waits for the flush thread, and frees. NULL is a no-op. */
void lake_free(lake *l);

/* ---- DDL (`idbsync ddl`) ---- */
typedef struct lake_ddl_options {
	const char *dir;               /* lake root (read-only: only the hidden metadata is read) */
	const char *dialect;           /* hive | impala | drill | trino | spark */
	const char *db;                /* NULL: every database */
	const char *store;             /* NULL: every store (the store's real name or its table name) */
	const char *location;          /* URI prefix the engine sees the lake at; NULL: file://<abs dir> */
	const char *drill_workspace;   /* NULL: "dfs.lake" */
	const char *catalog_uri;       /* iceberg lake: the REST catalog engines attach to (the running
	                                * server's http://HOST:PORT/iceberg); NULL: the file-system catalog */
	const char *catalog_token;     /* with catalog_uri: the bearer (admin) token, printed into the
	                                * statement; NULL: none (a server with --auth none) */
	const char *s3_endpoint;       /* a lake whose Iceberg tables are on S3 (--iceberg-warehouse
	                                * s3://): the endpoint engines reach S3 at; NULL: AWS's own */
	const char *s3_region;         /* with an S3 lake: the region; NULL: us-east-1 */
	const char *s3_access_key;     /* with an S3 lake and catalog_uri: static keys printed into the */
	const char *s3_secret_key;     /* engine's settings; NULL: a placeholder (or vended credentials) */
} lake_ddl_options;

/* Appends the statements for the tables found under o->dir: CREATE EXTERNAL TABLE (or views
 * for Drill) for the current state, change log and conflicts, then the refresh statements an
 * engine needs after new data lands. IDS_ENOTFOUND when no table matches. */
int lake_ddl(ids_buf *out, const lake_ddl_options *o, ids_error *err);

#endif
