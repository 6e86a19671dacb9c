/* Parquet codec: the types shared by the writer (pq_write.h) and the reader (pq_read.h).
 * Enum values equal those of apache/parquet-format parquet.thrift so they can be
 * written to and read from the file footer as they are. */
#ifndef IDBSYNC_PQ_H
#define IDBSYNC_PQ_H

#include <stddef.h>
#include <stdint.h>

#include "idbsync/error.h"

typedef enum pq_type {
	PQ_BOOLEAN = 0, PQ_INT32 = 1, PQ_INT64 = 2, PQ_INT96 = 3, PQ_FLOAT = 4,
	PQ_DOUBLE = 5, PQ_BYTE_ARRAY = 6, PQ_FIXED_LEN_BYTE_ARRAY = 7,
	PQ_GROUP = -1 /* not a thrift value: marks a group node in our schema tree */
} pq_type;

typedef enum pq_repetition { PQ_REQUIRED = 0, PQ_OPTIONAL = 1, PQ_REPEATED = 2 } pq_repetition;

typedef enum pq_encoding {
	PQ_ENC_PLAIN = 0, PQ_ENC_PLAIN_DICTIONARY = 2, PQ_ENC_RLE = 3, PQ_ENC_BIT_PACKED = 4,
	PQ_ENC_DELTA_BINARY_PACKED = 5, PQ_ENC_DELTA_LENGTH_BYTE_ARRAY = 6,
	PQ_ENC_DELTA_BYTE_ARRAY = 7, PQ_ENC_RLE_DICTIONARY = 8, PQ_ENC_BYTE_STREAM_SPLIT = 9
} pq_encoding;

typedef enum pq_codec {
	PQ_CODEC_UNCOMPRESSED = 0, PQ_CODEC_SNAPPY = 1, PQ_CODEC_GZIP = 2, PQ_CODEC_LZO = 3,
	PQ_CODEC_BROTLI = 4, PQ_CODEC_LZ4 = 5 /* Hadoop-framed */, PQ_CODEC_ZSTD = 6, PQ_CODEC_LZ4_RAW = 7
} pq_codec;

typedef enum pq_page_type {
	PQ_PAGE_DATA = 0, PQ_PAGE_INDEX = 1, PQ_PAGE_DICTIONARY = 2, PQ_PAGE_DATA_V2 = 3
} pq_page_type;

/* Legacy ConvertedType values (parquet.thrift); -1 = none. */
typedef enum pq_converted {
	PQ_CT_NONE = -1, PQ_CT_UTF8 = 0, PQ_CT_MAP = 1, PQ_CT_MAP_KEY_VALUE = 2, PQ_CT_LIST = 3,
	PQ_CT_ENUM = 4, PQ_CT_DECIMAL = 5, PQ_CT_DATE = 6, PQ_CT_TIME_MILLIS = 7,
	PQ_CT_TIME_MICROS = 8, PQ_CT_TIMESTAMP_MILLIS = 9, PQ_CT_TIMESTAMP_MICROS = 10,
	PQ_CT_UINT_8 = 11, PQ_CT_UINT_16 = 12, PQ_CT_UINT_32 = 13, PQ_CT_UINT_64 = 14,
	PQ_CT_INT_8 = 15, PQ_CT_INT_16 = 16, PQ_CT_INT_32 = 17, PQ_CT_INT_64 = 18,
	PQ_CT_JSON = 19, PQ_CT_BSON = 20, PQ_CT_INTERVAL = 21
} pq_converted;

/* Our flattened view of LogicalType (the thrift union). */
typedef enum pq_logical_kind {
	PQ_LT_NONE = 0, PQ_LT_STRING, PQ_LT_MAP, PQ_LT_LIST, PQ_LT_ENUM, PQ_LT_DECIMAL, PQ_LT_DATE,
	PQ_LT_TIME, PQ_LT_TIMESTAMP, PQ_LT_INTEGER, PQ_LT_UNKNOWN, PQ_LT_JSON, PQ_LT_BSON,
	PQ_LT_UUID, PQ_LT_FLOAT16
} pq_logical_kind;

typedef enum pq_time_unit { PQ_MILLIS = 0, PQ_MICROS = 1, PQ_NANOS = 2 } pq_time_unit;

typedef struct pq_logical {
	pq_logical_kind kind;
	int32_t scale, precision;      /* DECIMAL */
	int utc;                       /* TIME/TIMESTAMP: isAdjustedToUTC */
	pq_time_unit unit;             /* TIME/TIMESTAMP */
	int bit_width, is_signed;      /* INTEGER */
} pq_logical;

/* A schema tree node. The root is a group; leaves are columns (in depth-first order). */
typedef struct pq_node {
	char *name;
	pq_type type;                  /* PQ_GROUP for groups */
	pq_repetition repetition;
	int32_t type_length;           /* FIXED_LEN_BYTE_ARRAY */
	pq_logical logical;
	pq_converted converted;
	int32_t field_id;              /* -1 if absent */
	struct pq_node **children;
	size_t n_children;
} pq_node;

/* Builders for schema trees; the tree owns its children and names. */
pq_node *pq_node_new_group(const char *name, pq_repetition rep);
pq_node *pq_node_new_leaf(const char *name, pq_type type, pq_repetition rep);
/* Adds child to group; returns 0 or IDS_ENOMEM. The group takes ownership. */
int pq_node_add(pq_node *group, pq_node *child);
pq_node *pq_node_clone(const pq_node *n);
void pq_node_free(pq_node *n);

const char *pq_type_name(pq_type t);
const char *pq_encoding_name(pq_encoding e);
const char *pq_codec_name(pq_codec c);
/* Parses "none|uncompressed|snappy|gzip|zstd|lz4_raw|lz4|brotli"; returns 0 or IDS_EINVAL. */
int pq_codec_parse(const char *s, pq_codec *out);

#endif
