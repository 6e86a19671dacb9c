/* Parquet writer: a schema (pq_node tree) and rows in, one Parquet file out.
 *
 * Three ways to feed data:
 *  - the row API, pq_writer_write_json(): one row as JSON text in idbsync's value
 *    conventions ({"$date":..} timestamps/dates, {"$bin":..} binary, {"$num":"NaN"} etc.,
 *    64-bit integers as plain JSON integers, decimals as "123.45" strings or numbers,
 *    UUIDs as canonical strings), shredded straight into the columns without a DOM;
 *  - the column batch API, pq_writer_write_column() + pq_writer_end_rows(): values and
 *    definition/repetition levels per leaf column, for callers that already hold columns;
 *  - the row-at-a-time API, pq_writer_row_begin() / pq_writer_put() / pq_writer_row_end():
 *    one row's leaf values with their levels, for callers that walk their own values (the
 *    lake, from a stored value's tokens) and would otherwise print JSON for the shredder.
 * Memory is bounded by one row group (its encoded, compressed pages) whatever the file size.
 * The file is written to "<path>.tmp-XXXXXX" and renamed over <path> by pq_writer_close()
 * after fsync, so a reader never sees a half-written file and an error leaves nothing behind.
 *
 * Profiles pick defaults that a family of engines reads (every option can be overridden):
 *  - PQ_PROFILE_COMPAT (the default): Hive 2/3, Impala 3/4, Drill 1.2x, and everything newer:
 *    DataPage V1, PLAIN + PLAIN_DICTIONARY, snappy, timestamps as INT96, decimals as
 *    FIXED_LEN_BYTE_ARRAY, standard 3-level LIST/MAP, lowercase column names.
 *  - PQ_PROFILE_MODERN: Trino, Spark 3, DuckDB, Arrow: zstd, INT64 timestamps (micros, UTC),
 *    RLE_DICTIONARY, decimals in INT32/INT64 when they fit; DataPage V1 unless page_version=2.
 * The profile only matters when a schema is built for it (pq_infer_schema,
 * pq_schema_from_json choose physical types from it); the writer writes the physical types
 * of the schema it is given and takes encodings, codec and page version from the options.
 */
#ifndef IDBSYNC_PQ_WRITE_H
#define IDBSYNC_PQ_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "idbsync/error.h"
#include "idbsync/pq.h"

typedef enum pq_profile { PQ_PROFILE_COMPAT = 0, PQ_PROFILE_MODERN = 1 } pq_profile;

typedef struct pq_kv {
	const char *key;
	const char *value;
} pq_kv;

typedef struct pq_write_options {
	pq_profile profile;
	int codec;               /* pq_codec, or -1: profile default (compat snappy, modern zstd) */
	int codec_level;         /* 0: the codec's default */
	int page_version;        /* 0: 1 (both profiles); 1 or 2 */
	int dictionary;          /* -1: on; 0: off; 1: on */
	size_t dict_max_bytes;   /* 0: 1 MiB; past it a column chunk falls back to PLAIN */
	size_t dict_probe;       /* 0: 16,384. A chunk's first page of at least twice this many
				  * values is judged on its first dict_probe values before its
				  * whole dictionary is built (a smaller page on all of it).
				  * Smaller probes cost less for columns of distinct values and
				  * judge columns with a slowly growing domain less well. */
	size_t page_bytes;       /* 0: 1 MiB of values (PLAIN size) per data page. Three codec
				  * cuts differ from it: lz4_raw cuts a flat column's PLAIN pages
				  * in pieces under 64 KiB when its first page compresses smaller
				  * so; snappy, zstd (and lz4_raw when it does not cut) write a
				  * flat text column's PLAIN pages as one (up to 16 MiB); snappy
				  * writes a flat column of 4-, 8- or 16-byte values in pages of
				  * the whole 64 KiB fragments of twice page_bytes. At the default
				  * codec level, zstd pages use the match finder the chunk's first
				  * page compresses smallest with (long text: a 1 MiB window), and
				  * gzip pages level 9 where it saves over 5% on the first page,
				  * else 6. The file is the same for any threads either way. */
	int64_t row_group_rows;  /* 0: 1,000,000 rows */
	size_t row_group_bytes;  /* 0: 128 MiB of values (PLAIN size) per row group */
	size_t stat_max_bytes;   /* 0: 64; longer min/max are truncated (or omitted) */
	int page_crc;            /* write CRC32 of each page (default off) */
	int threads;             /* 0 or 1: everything on the caller's thread; N > 1: N/2 encoder
				  * threads dictionary-encode and compress pages while rows are
				  * shredded, and pq_writer_write_ndjson shreds on N threads.
				  * The file is the same whatever N. */
	int file_mode;           /* 0: 0644 (before umask) */
	const char *created_by;  /* NULL: "idbsync version 0.1.0 (build <date>)" */
	const pq_kv *kv;         /* key_value_metadata, copied; may be NULL */
	size_t n_kv;
} pq_write_options;

#define PQ_WRITE_OPTIONS_INIT {.profile = PQ_PROFILE_COMPAT, .codec = -1, .dictionary = -1}

typedef struct pq_writer pq_writer;

/* Creates the temp file next to path and prepares one column writer per leaf of schema
 * (a group node whose children are the top-level fields; copied, the caller keeps its
 * tree). Fails with IDS_EINVAL for an unsupported schema (e.g. names that collide once
 * lowercased in the compat profile) and IDS_EIO when the file cannot be created. */
int pq_writer_new(pq_writer **out, const char *path, const pq_node *schema,
		  const pq_write_options *opts, ids_error *err);

/* Row API: one row as a JSON object. Keys not in the schema are ignored; missing keys are
 * null (an error for required fields); a duplicate key is an error. On error nothing of
 * the row is kept (the writer stays usable) and *err_off (if not NULL) gets the byte
 * offset in json where it failed. Not thread-safe: one writer, one caller at a time.
 * Conversions per column type:
 *   BOOLEAN true/false; INT32/INT64 integers (a number with a fraction must be integral),
 *   DATE {"$date":..} at midnight UTC, "YYYY-MM-DD" or days; TIMESTAMP/INT96 {"$date":..}
 *   or an ISO string or an integer in the column's unit (an error if precision would be
 *   lost); FLOAT/DOUBLE numbers or {"$num":..}; STRING strings (any other value is stored
 *   as its JSON text); JSON the value's JSON text; BYTE_ARRAY {"$bin":..} or a string;
 *   DECIMAL a string or number with at most `scale` fraction digits (exact, no rounding);
 *   UUID the 36-char string; FIXED_LEN_BYTE_ARRAY {"$bin":..} of exactly type_length bytes.
 *   Lists are JSON arrays; maps are objects, or arrays of {"key":..,"value":..}. */
int pq_writer_write_json(pq_writer *w, const char *json, size_t len, size_t *err_off,
			 ids_error *err);

/* Writes an NDJSON buffer (one object per line, blank lines skipped). Errors read
 * "<name>:<line>:<col>: <what>" (col counts bytes from 1). Runs on opts.threads threads:
 * the buffer is cut into slices of whole lines (about 8 MiB, at most row_group_rows
 * lines), shredded in parallel and committed in order; pages and row groups end at slice
 * boundaries, so the file is the same for any thread count (row groups stay within
 * row_group_rows but are not cut exactly there). A failed row is not rolled back: after an
 * error the writer can only be freed (which removes the temp file). */
int pq_writer_write_ndjson(pq_writer *w, const char *data, size_t len, const char *name,
			   ids_error *err);

/* Like pq_writer_write_ndjson for a schema inferred (pq_infer_schema) from only a prefix
 * of data, by inf: every row must fit that schema exactly as inference over all rows
 * would have typed it. The first value that would have changed the schema (a new field,
 * a widening, a finer timestamp unit) stops the write (IDS_ECONFLICT, or IDS_EINVAL for
 * a value the column cannot take). On any failure the caller infers from all rows and
 * writes again with a new writer; that pass reports the input's real errors. So a
 * uniform input is read once plus its prefix, not twice, and the file is the same. */
typedef struct pq_infer pq_infer;
int pq_writer_write_ndjson_inferred(pq_writer *w, const char *data, size_t len,
				    const char *name, const pq_infer *inf, ids_error *err);

/* ---- column batch API ---- */

/* Leaf columns in schema (depth-first) order. */
size_t pq_writer_num_columns(const pq_writer *w);
/* Borrowed leaf node of column i and its maximum definition / repetition levels. */
const pq_node *pq_writer_column(const pq_writer *w, size_t i, int *max_def, int *max_rep);

/* Byte arrays in a batch. */
typedef struct pq_bytes {
	const uint8_t *ptr;
	uint32_t len;
} pq_bytes;

typedef struct pq_column_batch {
	size_t n;              /* level entries (values + nulls + empty lists) */
	const int16_t *def;    /* n entries; NULL when max_def == 0 */
	const int16_t *rep;    /* n entries; NULL when max_rep == 0 */
	/* The non-null values (entries whose def == max_def), packed by physical type:
	 * BOOLEAN uint8_t 0/1, INT32 int32_t, INT64 int64_t, INT96 12 bytes (LE nanos-of-day,
	 * LE Julian day), FLOAT float, DOUBLE double, BYTE_ARRAY pq_bytes,
	 * FIXED_LEN_BYTE_ARRAY type_length bytes each. */
	const void *values;
	size_t n_values;
} pq_column_batch;

/* Appends to column col. A batch holds whole rows (rep[0] == 0). Levels are validated
 * (ranges, a repeated entry's def level, the value count) so a caller bug cannot produce
 * a file readers misread. Row-group limits are applied at pq_writer_end_rows. */
int pq_writer_write_column(pq_writer *w, size_t col, const pq_column_batch *b, ids_error *err);
/* Declares that n_rows complete rows were written to every column since the last call
 * (IDS_EINVAL if a column disagrees); may flush a row group. */
int pq_writer_end_rows(pq_writer *w, size_t n_rows, ids_error *err);

/* ---- row-at-a-time API ----
 * For callers that walk their own values and know the schema (the lake feeds each stored
 * value's tokens straight into the columns, with no JSON row text in between). A row is
 * pq_writer_row_begin, then every leaf column's level entries in Dremel order through
 * pq_writer_put (columns in any order, each column's entries in order), then
 * pq_writer_row_end. Values are physical values as in pq_column_batch (BOOLEAN one byte
 * 0/1, INT64 8 bytes LE, INT96 12 bytes, BYTE_ARRAY any bytes, ...): conversions are the
 * caller's (pq_instant_value for timestamps). Not thread-safe, like the rest. */

/* Starts a row (IDS_EINVAL if the writer is closed or failed). */
int pq_writer_row_begin(pq_writer *w, ids_error *err);
/* One level entry of column col: value/len when def == the column's max definition level,
 * value NULL for a null or an empty list at level def. Levels are checked (ranges, a
 * repeated entry's def, a fixed-size value's length): IDS_EINVAL names the column. Also
 * IDS_ENOMEM, or IDS_ELIMIT for a value over 1 GiB. After any error the row is still open:
 * cancel it (the writer stays usable). */
int pq_writer_put(pq_writer *w, size_t col, int def, int rep, const void *value, size_t len,
		  ids_error *err);
/* Ends the row: every column must have got exactly one entry with rep 0 (else IDS_EINVAL
 * naming the column, the row still open). May flush pages and a row group; an I/O error
 * there fails the writer, as with the other APIs. */
int pq_writer_row_end(pq_writer *w, ids_error *err);
/* Drops what the open row put (nothing of it is written). */
void pq_writer_row_cancel(pq_writer *w);
/* An instant (seconds since the epoch, nanoseconds [0, 1e9)) as the physical value of
 * timestamp leaf n (INT96; INT64 TIMESTAMP in its unit), the conversion the JSON path
 * applies to {"$date":..}: out (12 bytes) gets *len bytes. IDS_EINVAL "timestamp out of
 * range" / "timestamp has more precision than the column's unit", or for another type. */
int pq_instant_value(uint8_t out[12], size_t *len, const pq_node *n, int64_t secs, int32_t nanos,
		     ids_error *err);

/* Rows written so far. */
int64_t pq_writer_num_rows(const pq_writer *w);
/* 1 while rows can still be written: a row that pq_writer_write_json refused leaves the
 * writer usable, an I/O error or a close does not. */
int pq_writer_usable(const pq_writer *w);

/* Flushes the last row group, writes the footer, fsyncs and renames the file into place.
 * On failure the temp file is removed. Either way, free the writer afterwards. */
int pq_writer_close(pq_writer *w, ids_error *err);
/* Releases w; if it was not closed successfully, deletes the temp file. NULL is a no-op. */
void pq_writer_free(pq_writer *w);

/* ---- schema inference (NDJSON without a schema) ----
 * Rules, applied per field across all rows:
 *   integer -> INT64; other number or {"$num":..} -> DOUBLE (INT64 widens to DOUBLE when
 *   a non-integer or an integer beyond int64 appears); true/false -> BOOLEAN;
 *   string -> STRING (ISO-8601 dates / instants: see pq_infer_text_times);
 *   {"$date":..} -> TIMESTAMP (UTC; compat: INT96, modern: INT64 micros,
 *   or nanos if some value has sub-microsecond digits); {"$bin":..} -> BYTE_ARRAY;
 *   other object -> struct (fields united across rows, in first-seen order);
 *   array -> 3-level LIST whose element follows the same rules; null/missing -> null.
 *   Incompatible mixes (string vs number, bool vs number, object vs scalar, list vs
 *   non-list, timestamp vs string, ...) widen the field to STRING: strings are kept as
 *   they are and every other value is stored as its JSON text. A field that is only ever
 *   null, an empty object, or a list that is only ever empty becomes STRING (or a list of
 *   STRING). Every field is optional. */
int pq_infer_new(pq_infer **out, ids_error *err);
/* ISO-8601 strings as DATE / TIMESTAMP (on by default, as DuckDB's and pyarrow's JSON
 * readers do): a field whose strings are all "YYYY-MM-DD" becomes DATE (INT32); one whose
 * strings are all instants with a zone ("2024-05-28T00:22:11.954Z", "...+02:00") becomes
 * a TIMESTAMP like {"$date":..} (UTC, exact: the unit keeps every fraction digit). A local
 * time without a zone, or any other string in the field, keeps it STRING. Set before
 * adding rows. */
void pq_infer_text_times(pq_infer *inf, int on);
/* Adds one row (a JSON object); *err_off as for pq_writer_write_json. */
int pq_infer_add_json(pq_infer *inf, const char *json, size_t len, size_t *err_off,
		      ids_error *err);
/* Every line of an NDJSON buffer; errors as for pq_writer_write_ndjson. */
int pq_infer_add_ndjson(pq_infer *inf, const char *data, size_t len, const char *name,
			ids_error *err);
/* Same, splitting the buffer at line boundaries over `threads` threads (the result and
 * any error message are the same as with pq_infer_add_ndjson). */
int pq_infer_add_ndjson_threads(pq_infer *inf, const char *data, size_t len, const char *name,
				int threads, ids_error *err);
/* Folds what `from` has seen into `into` (as if into had seen from's rows after its own). */
int pq_infer_merge(pq_infer *into, const pq_infer *from, ids_error *err);
/* Builds the schema for the rows seen so far (caller frees with pq_node_free). */
int pq_infer_schema(pq_node **out, const pq_infer *inf, pq_profile profile, ids_error *err);
void pq_infer_free(pq_infer *inf);

/* ---- schema files (parquet write --schema FILE) ----
 * {"fields": [FIELD, ...]} where FIELD is
 *   {"name": "x", "type": T, "required": false (default)} plus per type:
 *   "boolean" | "int32" | "int64" | "float" | "double" | "string" | "json" | "binary" |
 *   "uuid" | "date" | "int96" (a timestamp stored as INT96)
 *   "timestamp": "unit": "millis"|"micros"|"nanos" (default: compat INT96, modern micros),
 *                "utc": true (default) | false
 *   "decimal":   "precision": 1..38, "scale": 0..precision (compat FIXED_LEN_BYTE_ARRAY,
 *                modern INT32/INT64/FIXED_LEN_BYTE_ARRAY by precision)
 *   "fixed":     "length": N (FIXED_LEN_BYTE_ARRAY, binary)
 *   "list":      "element": {"type": ..., "required": false, ...}
 *   "map":       "key": {"type": ...} (always required), "value": {"type": ...}
 *   "struct":    "fields": [FIELD, ...]
 * Errors name the field path ("fields[2].element: unknown type 'strin'"). */
int pq_schema_from_json(pq_node **out, const char *text, size_t len, pq_profile profile,
			ids_error *err);

#endif
