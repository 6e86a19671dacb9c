/* Helpers shared by the Parquet writer unit tests (test_pq_write*.c):
 * a failure counter with CHECK, a per-test temp directory, schema lookups, and reading a
 * file's rows back as NDJSON. */
#ifndef PQ_WRITE_TEST_H
#define PQ_WRITE_TEST_H

#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "idbsync/pq_read.h"
#include "idbsync/pq_write.h"

#define PQW_TEST_HELPER __attribute__((unused))

PQW_TEST_HELPER static int failures;
#define CHECK(c)                                                                  \
	do {                                                                      \
		if (!(c)) {                                                       \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c); \
			failures++;                                               \
		}                                                                 \
	} while (0)

PQW_TEST_HELPER static char tmpdir[256];

PQW_TEST_HELPER static const char *tmp_path(const char *name)
{
	static char p[512];
	snprintf(p, sizeof p, "%s/%s", tmpdir, name);
	return p;
}

PQW_TEST_HELPER static size_t count_files(void)
{
	DIR *d = opendir(tmpdir);
	size_t n = 0;
	struct dirent *e;
	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

PQW_TEST_HELPER static const pq_node *child(const pq_node *n, const char *name)
{
	for (size_t i = 0; n && i < n->n_children; i++)
		if (!strcmp(n->children[i]->name, name))
			return n->children[i];
	return NULL;
}

PQW_TEST_HELPER static pq_node *infer(const char *ndjson, pq_profile profile, ids_error *err)
{
	pq_infer *inf;
	pq_node *s = NULL;
	if (pq_infer_new(&inf, err))
		return NULL;
	if (!pq_infer_add_ndjson(inf, ndjson, strlen(ndjson), "in.ndjson", err))
		pq_infer_schema(&s, inf, profile, err);
	pq_infer_free(inf);
	return s;
}

PQW_TEST_HELPER static int is_string(const pq_node *n)
{
	return n && n->type == PQ_BYTE_ARRAY && n->logical.kind == PQ_LT_STRING &&
	       n->converted == PQ_CT_UTF8 && n->repetition == PQ_OPTIONAL;
}

/* Every remaining row of rd as NDJSON (one line per row; the caller frees it). A read error
 * is printed and counted as a failure. */
PQW_TEST_HELPER static char *rows_ndjson(pq_reader *rd)
{
	ids_error err = IDS_ERROR_INIT;
	ids_buf all = IDS_BUF_INIT, row = IDS_BUF_INIT;
	int rc;
	while ((rc = pq_reader_next_row_json(rd, &row, &err)) == 1) {
		ids_buf_append(&all, row.data, row.len);
		ids_buf_putc(&all, '\n');
		ids_buf_reset(&row);
	}
	if (rc < 0) {
		fprintf(stderr, "reader: %s\n", err.msg);
		failures++;
	}
	ids_buf_free(&row);
	return ids_buf_steal(&all, NULL);
}

#endif
