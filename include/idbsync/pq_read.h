/* Parquet READER: opens a file (or a memory buffer), decodes its footer, and yields rows as
 * JSON text in the idbsync value conventions, or whole column chunks as typed batches.
 *
 * Robust against hostile files: every length, offset, count, bit width, level and dictionary
 * index is checked; allocations are capped (pq_read_options); errors name the file, row group,
 * column path and byte offset. Memory is bounded by the column chunks of one row group (one
 * compressed chunk buffer + one decoded page per leaf column), never the whole file.
 *
 * JSON conventions for leaf values (see also docs/protocol.md):
 *   STRING/ENUM/UTF8 -> string (invalid UTF-8 bytes become U+FFFD); JSON -> the embedded value
 *   when it parses, else a string; BSON / un-annotated BYTE_ARRAY / FIXED_LEN_BYTE_ARRAY ->
 *   {"$bin":"<base64>"}; DATE, TIMESTAMP (millis/micros/nanos), INT96 -> {"$date":"...Z"} with
 *   3 fraction digits, or 6/9 when sub-millisecond digits are non-zero; TIME -> string
 *   "HH:MM:SS.fff[fff[fff]]"; DECIMAL -> exact decimal string "123.45"; UUID -> canonical
 *   lowercase string; unsigned INTEGER -> unsigned digits; INT64 -> exact integer digits;
 *   FLOAT/DOUBLE -> shortest round-trip digits, NaN/Infinity/-Infinity/-0 -> {"$num":..};
 *   FLOAT16 -> number. Structs -> objects; LIST (3-level, legacy 2-level, unannotated repeated)
 *   -> arrays; MAP -> object when keys are strings, else [{"key":..,"value":..}, ...]. */
#ifndef IDBSYNC_PQ_READ_H
#define IDBSYNC_PQ_READ_H

#include <stddef.h>
#include <stdint.h>

#include "idbsync/buf.h"
#include "idbsync/error.h"
#include "idbsync/pq.h"

typedef struct pq_read_options {
	size_t max_page_size;    /* cap on one page's uncompressed size (bytes) */
	size_t max_page_values;  /* cap on level entries in one page */
	size_t max_footer_size;  /* cap on the footer (FileMetaData) length */
	size_t max_row_json;     /* cap on one row's JSON text */
	int verify_crc;          /* check page CRCs when present */
} pq_read_options;

#define PQ_READ_OPTIONS_INIT                                                                        \
	{.max_page_size = (size_t)256 << 20, .max_page_values = (size_t)1 << 24,                       \
	 .max_footer_size = (size_t)64 << 20, .max_row_json = (size_t)256 << 20, .verify_crc = 1}

/* Byte string pointing into reader-owned memory (same layout as pq_bytes in pq_write.h). */
typedef struct pq_rbytes {
	const uint8_t *ptr;
	uint32_t len;
} pq_rbytes;

/* Column statistics as stored (plain-encoded min/max bytes, borrowed). */
typedef struct pq_stats {
	const uint8_t *min, *max;      /* min_value/max_value, else deprecated min/max */
	uint32_t min_len, max_len;
	int has_min, has_max;
	int legacy_minmax;             /* min/max came from the deprecated fields 1/2 */
	int64_t null_count;            /* -1 if absent */
	int64_t distinct_count;        /* -1 if absent */
	int64_t nan_count;             /* NaNs of a FLOAT/DOUBLE chunk; -1 if absent (older writers
					* leave it out: then nothing is known) */
} pq_stats;

typedef struct pq_chunk_meta {
	pq_type type;
	pq_codec codec;
	const pq_encoding *encodings;  /* distinct encodings listed in ColumnMetaData */
	size_t n_encodings;
	const char *path;              /* path_in_schema joined with '.' */
	const char *file_path;         /* NULL unless the chunk lives in another file (unsupported) */
	int64_t num_values;
	int64_t total_uncompressed_size, total_compressed_size;
	int64_t data_page_offset;
	int64_t dictionary_page_offset; /* -1 if absent */
	int64_t index_page_offset;      /* -1 if absent */
	int has_meta;                   /* ColumnMetaData present (absent only in encrypted files) */
	pq_stats stats;
} pq_chunk_meta;

typedef struct pq_row_group_meta {
	int64_t num_rows;
	int64_t total_byte_size;
	int64_t total_compressed_size;  /* -1 if absent */
	pq_chunk_meta *chunks;          /* one per leaf column */
} pq_row_group_meta;

/* A leaf column of the schema. */
typedef struct pq_column_desc {
	const pq_node *node;
	const char *path;               /* dotted path from the root, e.g. "addr.city" */
	int max_def, max_rep;
} pq_column_desc;

typedef struct pq_key_value {
	const char *key;
	const char *value;              /* NULL if absent */
} pq_key_value;

typedef struct pq_file_meta {
	int32_t version;
	int64_t num_rows;
	pq_node *schema;                /* root group */
	pq_column_desc *columns;
	size_t n_columns;
	pq_row_group_meta *row_groups;
	size_t n_row_groups;
	pq_key_value *kv;
	size_t n_kv;
	const char *created_by;         /* NULL if absent */
	int has_column_orders;          /* 1 when column_orders present (all TYPE_ORDER) */
	struct pq_meta_arena *arena;    /* owns strings and arrays */
} pq_file_meta;

/* Decodes a FileMetaData thrift struct from footer[0..n). base_offset is the footer's offset
 * in its file (for error messages). Caller frees *out with pq_file_meta_free. */
int pq_file_meta_parse(pq_file_meta **out, const uint8_t *footer, size_t n, uint64_t base_offset,
		       ids_error *err);
void pq_file_meta_free(pq_file_meta *m);

typedef struct pq_reader pq_reader;

/* Opens path and decodes its footer. opts may be NULL (defaults). */
int pq_reader_open(pq_reader **out, const char *path, const pq_read_options *opts, ids_error *err);
/* Same over a caller buffer that must outlive the reader; name is used in messages. */
int pq_reader_open_mem(pq_reader **out, const void *data, size_t len, const char *name,
		       const pq_read_options *opts, ids_error *err);
void pq_reader_free(pq_reader *r);

const pq_file_meta *pq_reader_meta(const pq_reader *r);
const pq_node *pq_reader_schema(const pq_reader *r);
int64_t pq_reader_num_rows(const pq_reader *r);

/* Appends the next row as one JSON object (no newline) to out. Returns 1 for a row, 0 at the
 * end of the file, <0 (IDS_ECORRUPT, IDS_ELIMIT, IDS_EIO, ...) on error. */
int pq_reader_next_row_json(pq_reader *r, ids_buf *out, ids_error *err);

/* A whole column chunk decoded: level entries and the non-null values packed by physical type
 * (BOOLEAN uint8_t, INT32 int32_t, INT64 int64_t, INT96 12 bytes, FLOAT float, DOUBLE double,
 * BYTE_ARRAY pq_rbytes, FIXED_LEN_BYTE_ARRAY type_length bytes each). Same layout as
 * pq_write.h's pq_column_batch, so a batch can be handed to the writer with a cast. */
typedef struct pq_read_batch {
	size_t n;                       /* level entries */
	const int16_t *def;             /* NULL when max_def == 0 */
	const int16_t *rep;             /* NULL when max_rep == 0 */
	const void *values;
	size_t n_values;
} pq_read_batch;

/* Decodes column chunk (row group rg, leaf col) into *out. The batch's memory belongs to the
 * reader and stays valid until the next pq_reader_read_column call or pq_reader_free. Does not
 * disturb the row iterator. */
int pq_reader_read_column(pq_reader *r, size_t rg, size_t col, pq_read_batch *out, ids_error *err);

/* Appends the JSON form of one leaf value (the conventions above) for column desc c.
 * v points at one packed value as in pq_read_batch. */
int pq_value_to_json(const pq_column_desc *c, const void *v, ids_buf *out);

#endif
