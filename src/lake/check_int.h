/* Private to the lake check (check.c: walk, file, schema and chunk rules; check_pages.c: the
 * footer fields the reader does not keep, page headers, page index and timestamp values). */
#ifndef LAKE_CHECK_INT_H
#define LAKE_CHECK_INT_H

#include "lake_int.h"

#include "idbsync/lake_check.h"
#include "idbsync/pq_read.h"

#define CK_MAX_ENC_STATS 16

/* What ColumnChunk/ColumnMetaData hold beyond pq_chunk_meta: the page index and encoding_stats. */
typedef struct ck_extra {
	int64_t ci_off, oi_off;          /* -1: absent */
	int32_t ci_len, oi_len;
	int has_enc_stats;
	int n_enc_stats;
	struct { int32_t page_type, encoding, count; } enc_stats[CK_MAX_ENC_STATS];
} ck_extra;

typedef struct ck_file {
	const char *path;
	const uint8_t *data;
	size_t size;
	pq_reader *reader;
	const pq_file_meta *meta;
	ck_extra *extra;                 /* n_row_groups x n_columns */
	const lake_check_options *o;
	lake_check_report report;
	void *ctx;
	lake_check_stats *st;
	int n;                           /* violations in this file */
} ck_file;

/* Expected top-level column order of one table directory. */
typedef struct ck_table {
	char *dir;
	char **names;
	size_t n;
	int from_meta;                   /* names come from the lake's _idbsync/<t>.json */
	char *ref_file;                  /* else: from this file */
	struct ck_table *next;
} ck_table;

typedef struct ck_walk {
	const lake_check_options *o;
	lake_check_report report;
	void *ctx;
	lake_check_stats *st;
	ck_table *tables;
} ck_walk;

void ck_violation(ck_file *f, const char *column, const char *rule, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 4, 5)))
#endif
	;
/* Decodes the footer again for the page index offsets and encoding_stats into f->extra. */
int ck_footer_extras(ck_file *f, ids_error *err);
/* Page headers of chunk (rg, col) in [start, end). */
void ck_pages(ck_file *f, size_t rg, size_t col, int64_t start, int64_t end);
void ck_page_index(ck_file *f, size_t rg);
/* Every INT96 and INT64 TIMESTAMP value in Impala's range. */
void ck_timestamps(ck_file *f);

#endif
