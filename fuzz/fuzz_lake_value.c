/* Fuzz target: the lake's conversion of stored values into Parquet rows (src/lake/lvalue.c).
 * Each input line that is a value the server would store (JSON that passes the push's tagged-
 * value check) is observed into a column list (schema inference and widening),
 * then every line is converted for the final columns: the row text must be JSON, and the
 * writer must take it with the schema the lake would build from those columns — a row the
 * writer refused would fail a flush in the server. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "idbsync/pq_write.h"
#include "idbsync/value.h"
#include "lake/lake_int.h"

#define MAX_LINES 64

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	const char *s = (const char *)data;
	int nested = size & 1 ? LK_NESTED_STRUCT : LK_NESTED_JSON;
	int profile = size & 2 ? PQ_PROFILE_MODERN : PQ_PROFILE_COMPAT;
	ids_json j[MAX_LINES];
	size_t n = 0;
	lk_col *cols = NULL;
	size_t nc = 0;
	for (size_t at = 0; at < size && n < MAX_LINES;) {
		const char *nl = memchr(s + at, '\n', size - at);
		size_t end = nl ? (size_t)(nl - s) : size;
		ids_json x = IDS_JSON_INIT;
		if (!ids_json_parse(&x, s + at, end - at, 100000, 64, NULL) && !ids_value_check(&x, 0, "value", NULL)) {
			lk_cols_observe(&cols, &nc, &x, 0, nested, (int)n + 1, lk_reserved_cols);
			j[n++] = x;
		} else {
			ids_json_free(&x);
		}
		at = end + 1;
	}
	pq_node *root = pq_node_new_group("schema", PQ_REQUIRED);
	pq_node_add(root, pq_node_new_leaf("idb_seq", PQ_INT64, PQ_REQUIRED));
	for (size_t i = 0; i < nc; i++)
		if (pq_node_add(root, lk_type_node(cols[i].name, cols[i].type, profile)))
			abort();
	char path[64];
	snprintf(path, sizeof path, "/dev/shm/fz-lake-%d.parquet", getpid());
	pq_write_options o = PQ_WRITE_OPTIONS_INIT;
	o.profile = (pq_profile)profile;
	o.page_bytes = 256;
	o.row_group_rows = 5;
	pq_writer *w = NULL;
	ids_error err = IDS_ERROR_INIT;
	if (pq_writer_new(&w, path, root, &o, &err)) {
		fprintf(stderr, "writer: %s\n", err.msg);
		abort();
	}
	ids_buf cols_txt = IDS_BUF_INIT, tmp = IDS_BUF_INIT, row = IDS_BUF_INIT;
	ids_json check = IDS_JSON_INIT;
	for (size_t i = 0; i < n; i++) {
		ids_buf_reset(&cols_txt);
		lk_emit_ctx e = {.tmp = &tmp, .profile = profile};
		lk_emit_cols(&cols_txt, &e, cols, nc, NULL, &j[i], 0);
		ids_buf_reset(&row);
		ids_buf_printf(&row, "{\"idb_seq\":%zu", i);
		ids_buf_append(&row, cols_txt.data ? cols_txt.data : "", cols_txt.len);
		ids_buf_putc(&row, '}');
		if (ids_json_parse(&check, row.data, row.len, 0, 200, &err)) {
			fprintf(stderr, "row text is not JSON (%s): %.*s\n", err.msg, (int)row.len, row.data);
			abort();
		}
		size_t off = 0;
		if (pq_writer_write_json(w, row.data, row.len, &off, &err)) {
			fprintf(stderr, "writer refused a converted row (%s): %.*s\n", err.msg, (int)row.len, row.data);
			abort();
		}
	}
	if (pq_writer_close(w, &err)) {
		fprintf(stderr, "close: %s\n", err.msg);
		abort();
	}
	pq_writer_free(w);
	pq_node_free(root);
	unlink(path);
	for (size_t i = 0; i < n; i++)
		ids_json_free(&j[i]);
	ids_json_free(&check);
	ids_buf_free(&cols_txt);
	ids_buf_free(&tmp);
	ids_buf_free(&row);
	lk_cols_free(cols, nc);
	return 0;
}
