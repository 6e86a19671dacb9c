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

#include "idbsync/value.h"
#include "lake_common.h"

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
	char path[64];
	snprintf(path, sizeof path, "/dev/shm/fz-lake-%d.parquet", getpid());
	pq_node *root = NULL;
	pq_writer *w = fz_lake_writer(path, cols, nc, profile, 256, 5, &root);
	ids_buf tmp = IDS_BUF_INIT, row = IDS_BUF_INIT;
	for (size_t i = 0; i < n; i++)
		fz_lake_put_row(w, &row, i, cols, nc, &j[i], profile, &tmp);
	ids_error err = IDS_ERROR_INIT;
	if (pq_writer_close(w, &err)) {
		fprintf(stderr, "close: %s\n", err.msg);
		abort();
	}
	pq_writer_free(w);
	pq_node_free(root);
	unlink(path);
	for (size_t i = 0; i < n; i++)
		ids_json_free(&j[i]);
	ids_buf_free(&tmp);
	ids_buf_free(&row);
	lk_cols_free(cols, nc);
	return 0;
}
