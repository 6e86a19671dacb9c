/* Helpers shared by the unit tests that write or read Parquet (test_pq_write*.c, the
 * importer's and the import route's), over test_util.h's assertions: a per-test temp
 * directory, a file written from a schema and NDJSON rows, schema lookups, and reading a
 * file's rows back as NDJSON. */
#ifndef PQ_WRITE_TEST_H
#define PQ_WRITE_TEST_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idbsync/pq_read.h"
#include "idbsync/pq_write.h"
#include "parquet/common/thrift.h"
#include "test_util.h"

#define PQW_TEST_HELPER __attribute__((unused))

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

/* Writes the NDJSON rows under schema (pq_schema_from_json's format, modern profile) to path;
 * the top-level column interval_col (if not NULL) becomes INTERVAL (FIXED_LEN_BYTE_ARRAY(12)),
 * which the schema format has no word for. 0, or -1 after counting a failure. */
PQW_TEST_HELPER static int write_parquet_file(const char *path, const char *schema, const char *ndjson,
					      const char *interval_col)
{
	ids_error err = IDS_ERROR_INIT;
	pq_node *s = NULL;
	pq_writer *w = NULL;
	pq_write_options o = PQ_WRITE_OPTIONS_INIT;
	o.profile = PQ_PROFILE_MODERN;
	int rc = pq_schema_from_json(&s, schema, strlen(schema), PQ_PROFILE_MODERN, &err);
	for (size_t i = 0; !rc && interval_col && i < s->n_children; i++)
		if (!strcmp(s->children[i]->name, interval_col))
			s->children[i]->converted = PQ_CT_INTERVAL;
	if (!rc)
		rc = pq_writer_new(&w, path, s, &o, &err);
	if (!rc)
		rc = pq_writer_write_ndjson(w, ndjson, strlen(ndjson), path, &err);
	if (!rc)
		rc = pq_writer_close(w, &err);
	if (rc)
		TEST_FAIL("writing %s: %s", path, err.msg);
	pq_writer_free(w);
	pq_node_free(s);
	return rc ? -1 : 0;
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
		TEST_FAIL("reader: %s", err.msg);
	}
	ids_buf_free(&row);
	return ids_buf_steal(&all, NULL);
}

/* Checks that the file at path reads back as the NDJSON want (prints what it got if not). */
#define EXPECT_ROWS(path, want) expect_rows(path, want, __FILE__, __LINE__)
PQW_TEST_HELPER static void expect_rows(const char *path, const char *want, const char *file,
					int line)
{
	ids_error err = IDS_ERROR_INIT;
	pq_reader *rd = NULL;
	char *all = NULL;
	if (pq_reader_open(&rd, path, NULL, &err) == 0)
		all = rows_ndjson(rd);
	if (!all || strcmp(all, want))
		test_fail(file, line, "rows of %s differ: %s\n%s", path, rd ? "got" : err.msg, all ? all : "");
	else
		test_passed++;
	free(all);
	pq_reader_free(rd);
}

/* Data pages (and, through *dict, dictionary pages) of column col in row group rg of the
 * file at path, from its page headers; -1 when the file cannot be read. */
PQW_TEST_HELPER static int data_pages(const char *path, size_t rg, size_t col, int *dict)
{
	ids_error err = IDS_ERROR_INIT;
	pq_reader *rd;
	if (pq_reader_open(&rd, path, NULL, &err))
		return -1;
	const pq_chunk_meta *c = &pq_reader_meta(rd)->row_groups[rg].chunks[col];
	int64_t at = c->dictionary_page_offset >= 0 ? c->dictionary_page_offset : c->data_page_offset;
	int64_t end = at + c->total_compressed_size;
	pq_reader_free(rd);
	FILE *f = fopen(path, "rb");
	uint8_t *b = malloc((size_t)(end - at));
	int n = -1;
	if (f && b && !fseek(f, (long)at, SEEK_SET) && fread(b, 1, (size_t)(end - at), f) == (size_t)(end - at)) {
		n = *dict = 0;
		for (size_t off = 0; off < (size_t)(end - at);) {
			pq_tdec d;
			pq_tdec_init(&d, b + off, (size_t)(end - at) - off, &err);
			int16_t id;
			int type;
			int32_t v, kind = -1, comp = 0;
			pq_tdec_struct_begin(&d);
			while (pq_tdec_field(&d, &id, &type) == 1) {
				if ((id == 1 || id == 3) && pq_tdec_expect_i32(&d, type, &v) == 1)
					*(id == 1 ? &kind : &comp) = v;
				else if (id != 1 && id != 3)
					pq_tdec_skip(&d, type);
			}
			if (kind < 0 || comp < 0)
				return n = -1;
			*(kind == PQ_PAGE_DICTIONARY ? dict : &n) += 1;
			off += pq_tdec_pos(&d) + (size_t)comp;
		}
	}
	if (f)
		fclose(f);
	free(b);
	return n;
}

#endif
