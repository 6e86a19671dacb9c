/* What both lake fuzz targets (fuzz_lake_value.c, fuzz_lake_flush.c) do the lake's way: the
 * Parquet schema of a column list and the row written for a stored value. Written once so
 * the two targets test the lake's path, not two copies of it. Failures abort: each is a bug
 * the target exists to find. */
#ifndef FUZZ_LAKE_COMMON_H
#define FUZZ_LAKE_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "idbsync/pq_write.h"
#include "lake/lake_int.h"

/* Opens a writer at path for the table the lake builds from cols (idb_seq, then one column
 * per entry) in profile, with small pages and row groups so a few rows cross both. *root
 * gets the schema (the caller frees it with pq_node_free after the writer). */
pq_writer *fz_lake_writer(const char *path, const lk_col *cols, size_t nc, int profile, size_t page_bytes,
			  int64_t row_group_rows, pq_node **root);

/* Converts value token 0 of j into row i as the lake does ({"idb_seq":i,...} into row,
 * reset first), checks that it is JSON, and writes it with w: a row the writer refuses
 * would hold a table in the server. tmp is scratch. */
void fz_lake_put_row(pq_writer *w, ids_buf *row, size_t i, const lk_col *cols, size_t nc, const ids_json *j,
		     int profile, ids_buf *tmp);

/* The same row through the lake's direct path (lk_put_cols into w's columns, no row text):
 * a refusal aborts, as the text path's does. fuzz_lake_flush.c reads both files back and
 * compares them row by row. tmp and bin are scratch. */
void fz_lake_put_row_direct(pq_writer *w, size_t i, const lk_col *cols, size_t nc, const ids_json *j, int profile,
			    ids_buf *tmp, ids_buf *bin, ids_buf *tape);

#endif
