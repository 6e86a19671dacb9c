/* Private interface of the Iceberg side of the lake (--lake-format iceberg): every table of the
 * plain layout is also an Apache Iceberg v2 table under DIR/_iceberg/D/<table>/ whose data
 * files are hard links of the plain layout's files, committed once per flush through a
 * file-system catalog (metadata/vN.metadata.json + version-hint.text). iceberg.c loads the
 * tables and takes the lake's hooks, iceberg_schema.c field ids and schemas, iceberg_commit.c
 * the snapshots (iceberg_state.c the current state's, with its partition spec), iceberg_avro.c / iceberg_avro_read.c manifests and manifest lists, iceberg_metrics.c
 * column metrics, iceberg_expire.c snapshot expiry.
 * Layout and guarantees: docs/iceberg.md. */
#ifndef LAKE_ICEBERG_H
#define LAKE_ICEBERG_H

#include <stdint.h>
#include <sys/types.h>

#include "idbsync/s3.h"
#include "lake_int.h"

typedef struct lk_ice lk_ice;

enum { LK_FORMAT_HIVE = LAKE_FORMAT_HIVE, LK_FORMAT_ICEBERG = LAKE_FORMAT_ICEBERG };

/* ---- lake hooks (no-ops unless the lake's format is iceberg) ---- */
/* At lake_open, after the progress is read: loads the Iceberg tables found under
 * DIR/_iceberg (the reconcile with the progress runs in lk_log_cleanup, right after). */
int lk_ice_open(lake *l, ids_error *err);
void lk_ice_free(lake *l);
/* Sets the Iceberg field id of every node of a table schema built by lk_table_schema (ids
 * are per store, shared by its three tables, stable across schema versions; a column whose
 * type changes in a way Iceberg cannot promote gets a new id). */
void lk_ice_field_ids(lake *l, const lk_table *t, pq_node *root);
/* A change-log (dt: its day) or conflicts (dt NULL) file was renamed into the plain layout;
 * the next commit adds it. */
void lk_ice_add_file(lake *l, lk_table *t, lk_table_kind kind, const char *path, const char *dt, int64_t first,
		     int64_t last, int64_t rows);
/* The plain layout's compaction merged t's change-log files of day dt with seqs first..last
 * into path: the next commit replaces the Iceberg files of that range with it (a "replace"
 * snapshot), when their rows add up to the merged file's. */
void lk_ice_compacted(lake *l, lk_table *t, const char *path, const char *dt, int64_t first, int64_t last);
/* t's current-state pass wrote its buckets: the next commit replaces the changed files. */
void lk_ice_state_written(lake *l, lk_table *t);
/* Commits one snapshot per Iceberg table with pending work; called by write_progress before
 * progress.json records changes/state/conflicts, so every recorded change is in Iceberg. */
int lk_ice_commit(lake *l, int64_t changes, int64_t state, int64_t conflicts, ids_error *err);
/* Removes from every Iceberg table the files past the recorded progress (a crash or a failed
 * flush between the Iceberg commit and progress.json) and forgets pending files. */
void lk_ice_reconcile(lake *l);

/* `idbsync ddl` (iceberg_ddl.c): the lake at abs has Iceberg tables and the dialect attaches
 * them (duckdb, spark, trino, hive, impala); lk_ice_ddl prints the statements. */
int lk_ice_ddl_applies(const char *abs, const char *dialect);
int lk_ice_ddl(ids_buf *out, const lake_ddl_options *o, const char *abs, ids_error *err);

/* ---- Avro files (iceberg_avro.c writes, iceberg_avro_read.c reads) ---- */
/* Column metrics of a data file (from its Parquet footer): value and null counts, bounds in
 * Iceberg's single-value serialization (at most 16 bytes; a longer string keeps a prefix as
 * its lower bound and no upper bound). */
#define ICE_BOUND_MAX 16
typedef struct ice_metric {
	int32_t id;
	int64_t values, nulls;       /* nulls -1: unknown */
	int64_t size;                /* column_sizes: the chunks' compressed bytes (0: unknown) */
	int64_t nans;                /* nan_value_counts of a double column (-1: unknown, or not double) */
	uint8_t lo_len, hi_len;      /* 0: no bound */
	uint8_t lo[ICE_BOUND_MAX], hi[ICE_BOUND_MAX];
} ice_metric;

#define ICE_PART_MAX 64         /* a longer identity partition value: the file is left unpartitioned */
#define ICE_SPEC_PART (-1)

typedef struct ice_file {
	char *path;                  /* Iceberg data file: absolute path (written as a file:// URI) */
	int status;                  /* manifest entry status: 0 existing, 1 added, 2 deleted */
	int64_t rows, size;
	int64_t snap;                /* snapshot that added it */
	int64_t seq, fseq;           /* data and file sequence numbers (0: inherit, new) */
	int32_t day;                 /* change log: day(idb_ts) partition value */
	int64_t first, last;         /* change log / conflicts: seq or id range (from the name) */
	dev_t dev;                   /* current state: the inode, to find changed buckets */
	ino_t ino;
	ice_metric *m;               /* column metrics (owned), NULL: none known */
	size_t n_m;
	int32_t spec;                /* partition spec of its manifest entry (ICE_SPEC_PART: the
				      * state's identity spec if pset, else the unpartitioned 0) */
	uint8_t pset, pnull, plen;   /* state of a partitioned store: the partition column holds one
				      * value in the whole file (pset): null, or pval[0..plen) */
	uint8_t pval[ICE_PART_MAX];  /* in Iceberg's single-value serialization */
} ice_file;

typedef struct ice_mf {
	char *path;
	int64_t len, seq, min_seq, snap;
	int32_t added, existing, deleted;
	int64_t arows, erows, drows;
	int32_t spec;                /* its partition spec */
	int has_bounds;              /* a partition summary of its spec's one field: */
	uint8_t pnull, pvals;        /* a null value / a value in the entries, */
	uint8_t lo_len, hi_len;      /* and the bounds of the values (single-value serialized) */
	uint8_t lo[ICE_PART_MAX], hi[ICE_PART_MAX];
} ice_mf;

/* A partition spec of at most one field (the change log's day(idb_ts), the state's identity of
 * the store's partition field); transform NULL: unpartitioned. */
typedef struct ice_part {
	int32_t spec_id, field_id, source_id;
	char name[256];
	const char *transform;       /* "day" or "identity" */
	const char *type;            /* Iceberg type of the partition value: "date", "long", "double",
				      * "boolean", "string", "binary", "timestamptz" */
} ice_part;

/* The partition spec spec_id of meta into *out (its source column's type from the schemas);
 * -1 if meta has no such spec or its field is not one these tables write. */
int ice_part_of(json_t *meta, int32_t spec_id, ice_part *out);

/* What a manifest needs besides its entries (Avro key-value metadata). */
typedef struct ice_mf_meta {
	const char *schema_json;     /* table schema */
	int schema_id;
	ice_part part;               /* the spec of every entry */
	int sort_order_id;           /* written for data files (0: unsorted) */
	int seq_field_id;            /* column whose [first,last] bounds are written (0: none) */
	const struct lk_ice *ice;    /* the URIs of the data files */
} ice_mf_meta;

/* ---- the lake's Iceberg tables (iceberg.c) ---- */
#define ICE_FIRST_USER_ID 100   /* ids below are the system columns' (lk_reserved_cols index + 1) */

typedef struct ice_tbl {
	char loc[4400];              /* absolute table dir */
	json_t *meta;                /* current metadata (NULL: the table has no snapshot yet) */
	int version;                 /* N of metadata/vN.metadata.json */
	ice_file *files;             /* live files of the current snapshot */
	size_t n_files;
	ice_mf *mfs;                 /* its manifest list */
	size_t n_mfs;
	ice_file *grave;             /* files removed from the table (seq: the snapshot that removed
				      * them), unlinked once every snapshot before it expired */
	size_t n_grave;
	ice_file *pend;              /* plain-layout files to add at the next commit */
	size_t n_pend;
	ice_file *merged;            /* change log: merged plain-layout files to swap in (compaction) */
	size_t n_merged;
	int state_dirty;
	int reconcile;               /* a reconcile failed: retried before the next commit */
	int reload;                  /* --iceberg-rest: re-read from the catalog before the next commit */
	char *uri;                   /* the catalog in the state: the current metadata file's URI */
} ice_tbl;

typedef struct ice_ent {
	lk_table *t;
	json_t *ids;                 /* "path:type" -> field id */
	int next_id;
	ice_tbl k[3];
	struct ice_ent *next;
} ice_ent;

struct lk_ice {
	char root[4200];             /* absolute DIR/_iceberg */
	char prefix[512];            /* --iceberg-rest: the catalog's path prefix ("" or "p/") */
	s3 *s3;                      /* --iceberg-warehouse s3://...: root is its local mirror */
	char s3_base[1400];          /* "s3://bucket/prefix/": the URI of root's files */
	char *vend;                  /* --iceberg-vend-credentials: what lake_iceberg_vend appends */
	ice_ent *ents;
};

/* The three tables of t (loaded at first use). */
int ice_ent_get(lake *l, lk_table *t, ice_ent **out, ids_error *err);
extern const char *const ice_kind_name[3];

/* Re-reads table kind k of e from its catalog (its pending files stay): after a REST commit
 * failed, so the next attempt is built on what the catalog has. */
int ice_tbl_reload(lake *l, ice_ent *e, int k, ids_error *err);
/* The snapshot the main branch of meta points at (0: none). */
int64_t ice_main_snapshot(json_t *meta);
/* N of the newest LOC/metadata/vN.metadata.json of the file-system catalog, 0 when none. */
int ice_latest_version(const char *loc);

/* ---- the REST catalog client (iceberg_rest.c; --iceberg-rest) ---- */
/* GET /v1/config: the catalog answers, its prefix is taken. */
int ice_rest_open(lake *l, ids_error *err);
/* Calls each with the metadata of every table of every single-level namespace. */
int ice_rest_list(lake *l, void (*each)(lake *l, json_t *meta, void *ctx), void *ctx, ids_error *err);
/* The catalog's metadata of table kind k of e (*meta NULL: no such table yet). */
int ice_rest_load(lake *l, ice_ent *e, int k, json_t **meta, ids_error *err);
/* Creates the namespace (if needed) and the table with want's location, partition spec, sort
 * order and properties (fields: the lake's schema, whose system columns fix the ids);
 * *meta: the catalog's metadata (new reference). An existing table is loaded instead. */
int ice_rest_create(lake *l, ice_ent *e, int k, json_t *want, json_t *fields, json_t **meta, ids_error *err);
/* Commits the updates that turn base (the catalog's metadata) into next (schemas and snapshots
 * added, snapshots removed, main moved), asserting base's uuid and main snapshot. IDS_ECONFLICT
 * (HTTP 409): another writer moved the table. *meta: the committed metadata (new reference). */
int ice_rest_commit(lake *l, ice_ent *e, int k, json_t *base, json_t *next, json_t **meta, ids_error *err);

/* ---- the catalog in the state (iceberg_cat.c; an S3 warehouse without --iceberg-rest) ---- */
/* 1 when the tables are committed through the state's catalog. */
int ice_cat_mode(const lake *l);
/* N of a metadata file named v<N>-<uuid>.metadata.json (0: another name). */
int ice_cat_version(const char *uri);
/* Appends the bytes of the warehouse file at uri (fetched into the mirror if it lacks it). */
int ice_cat_read(lk_ice *ice, const char *uri, ids_buf *out, ids_error *err);
/* x's committed metadata as the state names it (*meta NULL: no table yet); sets x->uri and
 * x->version. */
int ice_cat_load(lake *l, ice_tbl *x, json_t **meta, ids_error *err);
/* The commit: meta written as metadata/v<N+1>-<uuid>.metadata.json, uploaded, then the state's
 * row moved from x->uri to it (IDS_ECONFLICT: it no longer names x->uri). */
int ice_cat_commit(lake *l, ice_tbl *x, const char *mdir, const char *uuid, json_t *meta, ids_error *err);
/* --iceberg-vend-credentials: checks it applies (an S3 warehouse, the served catalog) and
 * builds ice->vend from the S3 settings and keys (iceberg_serve.c). */
int ice_vend_init(lake *l, ids_error *err);
/* lake_iceberg_read from the state's rows. */
int ice_cat_serve(lake *l, const char *db, const char *table, ids_buf *loc, ids_buf *out, ids_error *err);
/* At start: loads every table the state's catalog names. */
int ice_cat_open(lake *l, ids_error *err);

/* ---- field ids and schemas (iceberg_schema.c) ---- */
/* The ids of meta's current schema back into e (at load). */
void ice_learn_schema(ice_ent *e, json_t *meta);
/* The current schema's fields of table kind k as Iceberg JSON (new reference). */
json_t *ice_schema_fields(lake *l, ice_ent *e, int k, ids_error *err);
int ice_max_id(json_t *fields);
/* The element of array member `list` of meta whose member `key` is id, or NULL. */
json_t *ice_find_by_id(json_t *meta, const char *list, const char *key, json_int_t id);
json_t *ice_current_schema(json_t *meta);

/* ---- commits (iceberg_commit.c; the state's: iceberg_state.c) ---- */
/* One snapshot of table kind k: add[0..n_add) (paths in the table's data dir, sizes known)
 * added, the live files whose del[i] is set removed; op the summary's operation, seq_mark its
 * idbsync.seq, extra more summary entries (or NULL). On success the added files move into the
 * table (their paths and metrics taken). */
int ice_commit_tbl(lake *l, ice_ent *e, int k, ice_file *add, size_t n_add, const uint8_t *del, const char *op,
		   int64_t seq_mark, json_t *extra, ids_error *err);
/* The state of a partitioned store: the spec identity(<partition column>) of meta (fields: the
 * schema being committed), added (and made the default) if the column's current id has none;
 * 0 (unpartitioned) when the column is not a primitive one. With --iceberg-rest the spec
 * reaches the catalog as an add-spec update of the commit (ice_rest_commit). */
int32_t ice_state_spec(ice_ent *e, json_t *meta, json_t *fields);
/* The state of t passed: its table's changed bucket files replace the old ones. */
int ice_commit_state(lake *l, ice_ent *e, int64_t state, ids_error *err);
/* Pending change-log / conflicts files of table kind k appended. */
int ice_commit_log(lake *l, ice_ent *e, int k, int64_t changes, int64_t conflicts, ids_error *err);
/* The change log's merged files replace the files they were merged from (a "replace"
 * snapshot); a merged file whose rows do not equal theirs is left out. */
int ice_commit_compaction(lake *l, ice_ent *e, ids_error *err);
/* Files of table kind k past the recorded progress removed (a "delete" snapshot). */
int ice_reconcile_tbl(lake *l, ice_ent *e, int k, ids_error *err);
/* ---- snapshot expiry (iceberg_expire.c) ---- */
/* Before a commit writes meta (its new snapshot new_snap, parent kept): drops the snapshots
 * older than the lake's --iceberg-keep or beyond its --iceberg-keep-snapshots (in batches of 16) from meta and returns them (NULL:
 * none). After the commit: ice_expire_files unlinks what only they referenced. */
json_t *ice_expire_snapshots(lake *l, json_t *meta, int64_t now, int64_t new_snap, int64_t parent);
void ice_expire_files(lk_ice *ice, ice_tbl *x, json_t *meta, json_t *expired);
/* The file-system catalog and the state's: removes the metadata versions older than every version meta's
 * metadata log keeps (and than current, meta's own N): no reader is sent to them any more,
 * and their snapshots' files may be gone next. */
void ice_drop_old_versions(lk_ice *ice, const ice_tbl *x, json_t *meta, int current);
/* Metadata versions a metadata log keeps (Iceberg's write.metadata.previous-versions-max
 * default): without it, and with no expiry, every version stayed on disk, and each holds
 * every snapshot: bytes on disk grew with the square of the flushes. */
#define ICE_PREV_VERSIONS_MAX 100
/* At start: removes the data files and manifests (lists) under the table's dir that no snapshot
 * of its metadata names and that are older than --iceberg-keep (10 min when 0 or keep-all), so
 * another writer's commit in progress keeps its files (a crashed commit's leftovers, expiry
 * interrupted). Nothing when a manifest cannot be read. */
void ice_remove_orphans(lake *l, ice_tbl *x);
/* At load: the files that retained snapshots removed (the graveyard). */
int ice_load_grave(lk_ice *ice, ice_tbl *x, ids_error *err);
/* ---- the warehouse's files (iceberg_store.c): local, or S3 with a local mirror ---- */
/* The URI that metadata and manifests name for path (a file under ice->root): file://path,
 * or the s3:// URI of its key. -1 if it does not fit. */
int ice_uri(const lk_ice *ice, const char *path, char *out, size_t size);
/* The local (mirror) path of a URI that ice_uri made (or Hadoop's file:/a); any other string
 * is returned as it is. May return buf. */
const char *ice_path(const lk_ice *ice, const char *uri, char *buf, size_t size);
/* S3 warehouse: PUTs the mirror's file path to its key (before a commit names it); else 0. */
int ice_publish(lk_ice *ice, const char *path, ids_error *err);
/* S3 warehouse: a file the mirror lacks is fetched from its key; else 0. */
int ice_fetch(lk_ice *ice, const char *path, ids_error *err);
/* Removes a file of the warehouse (the mirror's and the S3 object). */
void ice_remove(lk_ice *ice, const char *path);
/* S3 warehouse: removes the objects under the mirror dir's key prefix (listed, every page)
 * whose key ends in one of suffixes (NULL-terminated), whose mirror path set does not name,
 * last modified before cutoff (an object of unknown age stays). Objects the mirror never had
 * (a lost mirror, a crash between a PUT and the mirror's bookkeeping) are found too. Returns
 * how many; a listing that fails is logged and removes nothing more. */
size_t ice_sweep_s3(lk_ice *ice, const char *dir, const char *const *suffixes, json_t *set, time_t cutoff);

/* IDBSYNC_TEST_ICEBERG_KILL (tests): kill -9 at the n-th time step is reached. */
void ice_test_kill(const char *step);

/* Writes a manifest with files[0..n) (their status, seqs as given; seq 0 is written as
 * null: inherited) to path (created, never overwritten) and fills *out (its manifest-list
 * entry: counts, bounds; out->seq/snap are the caller's). */
int ice_write_manifest(const char *path, const ice_file *files, size_t n, const ice_mf_meta *m, int64_t snap,
		       ice_mf *out, ids_error *err);
int ice_write_manifest_list(const lk_ice *ice, const char *path, const ice_mf *mfs, size_t n, int64_t snap,
			    int64_t parent, int64_t seq, ids_error *err);
/* Reads a manifest list / the live entries of a manifest (deleted: its DELETED entries
 * instead); arrays grow by realloc, the caller frees them (ice_files_free / ice_mfs_free). */
int ice_read_manifest_list(lk_ice *ice, const char *path, ice_mf **mfs, size_t *n, ids_error *err);
int ice_read_manifest(lk_ice *ice, const char *path, int64_t mf_seq, int deleted, ice_file **files, size_t *n,
		      ids_error *err);
void ice_files_free(ice_file *f, size_t n);
/* Fills f->m from the Parquet footer of path (top-level primitive columns with a field id)
 * and f->rows; with part (a top-level column name) also f->pset/pnull/pval when that column
 * holds one value (or only nulls) in the whole file, as its statistics show exactly. */
int ice_file_metrics(const char *path, const char *part, ice_file *f, ids_error *err);
/* <0, 0, >0 as single-value serialized a < b for an Iceberg primitive type (strings and
 * binary unsigned bytewise, as Iceberg orders them). */
int ice_value_cmp(const char *type, const uint8_t *a, size_t an, const uint8_t *b, size_t bn);
void ice_mfs_free(ice_mf *m, size_t n);
/* Creates path with data (fsynced) through a temp file and link(2): fails with
 * IDS_ECONFLICT if path exists. The commit primitive of the file-system catalog. */
int ice_create_file(const char *path, const void *data, size_t len, ids_error *err);
/* A metadata JSON as text (compact, keys in their order), as json_dumps would write it, at a
 * fraction of its cost on a table with thousands of snapshots; NULL when out of memory. The
 * caller frees it. */
char *ice_meta_text(const json_t *meta);

#endif
