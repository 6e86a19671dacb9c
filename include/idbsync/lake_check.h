/* `idbsync lake check`: applies the checks Apache Impala's Parquet reader makes
 * (apache/impala be/src/exec/parquet/) to every Parquet file of a lake, so that a user can
 * learn before pointing Impala at a lake that every file will be read, and read as meant.
 * Impala cannot run on the project's machines; this is the reader check that stands in for it.
 *
 * Each violation names the file, the column (dotted path, or "" for the file) and a rule:
 *   unreadable         the file cannot be decoded at all (magic, footer, thrift)
 *   version            FileMetaData.version > 2 (ValidateFileVersion)
 *   codec              codec outside UNCOMPRESSED, SNAPPY, GZIP, ZSTD, LZ4 (compat: Impala 3.0
 *                      reads only UNCOMPRESSED, SNAPPY, GZIP) (ValidateRowGroupColumn)
 *   encoding           ColumnMetaData.encodings lists one outside PLAIN, PLAIN_DICTIONARY, RLE,
 *                      BIT_PACKED, RLE_DICTIONARY (compat: no RLE_DICTIONARY, before 4.0)
 *   type               a leaf Impala maps to no type: FIXED_LEN_BYTE_ARRAY that is not a DECIMAL,
 *                      DECIMAL without precision/type_length, INT64 timestamp without unit,
 *                      chunk type differing from the schema's
 *   offsets            data/dictionary page offsets outside the file, dictionary after the data,
 *                      or the chunk reaching the footer (ValidateColumnOffsets)
 *   page-header-size   a page header of 8 MiB or more (--max_page_header_size)
 *   page-v2            a DataPage V2 (compat only: read from Impala 4.3 on)
 *   page-encoding      a data page not PLAIN or dictionary (BOOLEAN: PLAIN or RLE)
 *   level-encoding     V1 definition/repetition levels not RLE (BIT_PACKED refused since 3.0)
 *   dict-encoding      a dictionary page not PLAIN/PLAIN_DICTIONARY encoded
 *   dict-first         a dictionary page that is not the chunk's first page, or a second one
 *   dict-bool          a dictionary for a BOOLEAN column
 *   dict-missing       a dictionary-encoded data page in a chunk without a dictionary page
 *   dict-count         a fixed-width dictionary whose size is not num_values entries
 *   encoding-stats     encoding_stats that do not match the data pages (dictionary filtering
 *                      trusts them and would drop row groups)
 *   page-index         ColumnIndex bytes of a row group not all before its OffsetIndex bytes
 *   timestamp-range    a timestamp outside 1400-01-01 .. 9999-12-31 (Impala reads NULL)
 *   timestamp-utc      compat only: INT64 timestamp with isAdjustedToUTC (Impala converts it to
 *                      the server's local time; INT96 is read as stored)
 *   list-levels        a LIST that is not the standard 3-level form (Impala's default resolution)
 *   column-order       top-level columns not in the order of the table (Impala resolves by
 *                      position): against the lake's metadata (_idbsync/<t>.json), else, in a
 *                      partitioned table (<col>=<value>/ dirs), against the table's first file
 *   partition-column   a file under <col>=<value>/ that also stores <col>
 */
#ifndef IDBSYNC_LAKE_CHECK_H
#define IDBSYNC_LAKE_CHECK_H

#include <stdint.h>

#include "idbsync/error.h"

typedef enum lake_check_profile {
	LAKE_CHECK_IMPALA4 = 0,  /* the reader of current Impala (4.x) */
	LAKE_CHECK_COMPAT = 1    /* also what Impala 3.x refuses (the lake's compat profile target) */
} lake_check_profile;

typedef struct lake_check_options {
	lake_check_profile profile;
	int max_per_file;        /* violations reported per file before "... more" (0: 20) */
} lake_check_options;

#define LAKE_CHECK_OPTIONS_INIT {.profile = LAKE_CHECK_IMPALA4}

/* Called once per violation; the strings are borrowed for the call. */
typedef void (*lake_check_report)(void *ctx, const char *file, const char *column, const char *rule,
				  const char *message);

typedef struct lake_check_stats {
	int64_t files;           /* Parquet files checked */
	int64_t violations;      /* all of them, also those not reported past max_per_file */
	int64_t files_failed;    /* files with at least one violation */
} lake_check_stats;

/* Checks path: a Parquet file, or a directory walked recursively (names starting with '_' or
 * '.' are skipped, as every engine does; files ending in .parquet are checked). Adds to *st.
 * Returns 0 whether or not violations were found (see st->violations), or IDS_ENOTFOUND /
 * IDS_EIO when path cannot be read at all. */
int lake_check_path(const char *path, const lake_check_options *o, lake_check_report report, void *ctx,
		    lake_check_stats *st, ids_error *err);

/* The rule names above, NULL-terminated (for help text and tests). */
extern const char *const lake_check_rules[];

#endif
