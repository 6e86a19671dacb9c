/* The lake's schema and row conversion for the lake fuzz targets (see lake_common.h). */
#include "lake_common.h"

#include <stdio.h>
#include <stdlib.h>

pq_writer *fz_lake_writer(const char *path, const lk_col *cols, size_t nc, int profile, size_t page_bytes,
			  int64_t row_group_rows, pq_node **root)
{
	*root = pq_node_new_group("schema", PQ_REQUIRED);
	pq_node_add(*root, pq_node_new_leaf("idb_seq", PQ_INT64, PQ_REQUIRED));
	for (size_t i = 0; i < nc; i++)
		if (pq_node_add(*root, lk_type_node(cols[i].name, cols[i].type, profile))) {
			fprintf(stderr, "schema refused column %s\n", cols[i].name);
			abort();
		}
	pq_write_options o = PQ_WRITE_OPTIONS_INIT;
	o.profile = (pq_profile)profile;
	o.page_bytes = page_bytes;
	o.row_group_rows = row_group_rows;
	pq_writer *w = NULL;
	ids_error err = IDS_ERROR_INIT;
	if (pq_writer_new(&w, path, *root, &o, &err)) {
		fprintf(stderr, "writer: %s\n", err.msg);
		abort();
	}
	return w;
}

void fz_lake_put_row(pq_writer *w, ids_buf *row, size_t i, const lk_col *cols, size_t nc, const ids_json *j,
		     int profile, ids_buf *tmp)
{
	ids_error err = IDS_ERROR_INIT;
	ids_buf_reset(row);
	ids_buf_printf(row, "{\"idb_seq\":%zu", i);
	lk_emit_ctx e = {.tmp = tmp, .profile = profile};
	lk_emit_cols(row, &e, cols, nc, NULL, j, 0);
	ids_buf_putc(row, '}');
	ids_json check = IDS_JSON_INIT;
	if (ids_json_parse(&check, row->data, row->len, 0, 200, &err)) {
		fprintf(stderr, "row text is not JSON (%s): %.*s\n", err.msg, (int)row->len, row->data);
		abort();
	}
	ids_json_free(&check);
	size_t off = 0;
	if (pq_writer_write_json(w, row->data, row->len, &off, &err)) {
		fprintf(stderr, "writer refused a converted row (%s): %.*s\n", err.msg, (int)row->len, row->data);
		abort();
	}
}

void fz_lake_put_row_direct(pq_writer *w, size_t i, const lk_col *cols, size_t nc, const ids_json *j, int profile,
			    ids_buf *tmp, ids_buf *bin, ids_buf *tape)
{
	ids_error err = IDS_ERROR_INIT;
	lk_emit_ctx e = {.tmp = tmp, .bin = bin, .profile = profile, .tape = tape};
	if (tape)
		ids_buf_reset(tape);
	int64_t seq = (int64_t)i;
	size_t col = 1;
	if (pq_writer_row_begin(w, &err) || pq_writer_put(w, 0, 0, 0, &seq, 8, &err) ||
	    lk_put_cols(w, &col, &e, cols, nc, NULL, j, 0, &err) || pq_writer_row_end(w, &err)) {
		fprintf(stderr, "the direct path refused a row (%s)\n", err.msg);
		abort();
	}
}
