/* The NaN counts of an Iceberg data file's metrics (src/lake/iceberg_metrics.c): taken from the
 * footer's nan_count, which our writer puts in every double chunk, without reading the values
 * (a footer edited to say 5 NaNs where the values hold 4 gives 5); and counted in the values of
 * a file without it (the field's id changed to one readers skip, as a file of another writer). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "idbsync/pq_write.h"
#include "lake/iceberg.h"
#include "test_util.h"

static char dir[256], path[320];

/* 10 rows {x: double, 4 of them NaN; n: long}, field ids 1 and 2, into path; its bytes in *f */
static int write_file(ids_buf *f)
{
	ids_error err = IDS_ERROR_INIT;
	pq_node *root = pq_node_new_group("schema", PQ_REQUIRED);
	pq_node *x = pq_node_new_leaf("x", PQ_DOUBLE, PQ_OPTIONAL), *n = pq_node_new_leaf("n", PQ_INT64, PQ_OPTIONAL);
	x->field_id = 1;
	n->field_id = 2;
	pq_node_add(root, x);
	pq_node_add(root, n);
	pq_writer *w = NULL;
	int rc = pq_writer_new(&w, path, root, NULL, &err);
	for (int i = 0; !rc && i < 10; i++) {
		char row[80];
		int len = i % 3 ? snprintf(row, sizeof row, "{\"x\":%d.5,\"n\":%d}", i, i)
				: snprintf(row, sizeof row, "{\"x\":{\"$num\":\"NaN\"},\"n\":%d}", i);
		rc = pq_writer_write_json(w, row, (size_t)len, NULL, &err);
	}
	if (!rc)
		rc = pq_writer_close(w, &err);
	pq_writer_free(w);
	pq_node_free(root);
	CHECK(rc == 0);
	FILE *fp = fopen(path, "rb");
	char b[4096];
	size_t k;
	while (fp && (k = fread(b, 1, sizeof b, fp)) > 0)
		ids_buf_append(f, b, k);
	if (fp)
		fclose(fp);
	return rc || !fp;
}

static void put_file(const ids_buf *f)
{
	FILE *fp = fopen(path, "wb");
	CHECK(fp && fwrite(f->data, 1, f->len, fp) == f->len);
	if (fp)
		fclose(fp);
}

/* x's NaN count as ice_file_metrics gives it (-2: no metric for field 1) */
static int64_t nans_of_x(void)
{
	ice_file f;
	memset(&f, 0, sizeof f);
	ids_error err = IDS_ERROR_INIT;
	int64_t n = -2;
	CHECK(ice_file_metrics(path, NULL, &f, &err) == 0);
	for (size_t i = 0; i < f.n_m; i++)
		if (f.m[i].id == 1)
			n = f.m[i].nans;
	free(f.m);
	return n;
}

int main(void)
{
	if (test_mkdtemp(dir, sizeof dir, "test_ice_metrics"))
		return 1;
	snprintf(path, sizeof path, "%s/x.parquet", dir);
	ids_buf f = IDS_BUF_INIT;
	if (write_file(&f))
		return test_report("test_ice_metrics");
	CHECK_EQ_INT(nans_of_x(), 4);

	/* x's Statistics end with nan_count: the compact header of field 9 after field 6 (delta 3,
	 * type i64: 0x36), zigzag 4 (0x08), the struct's stop byte; once, in the footer */
	uint32_t flen = 0;
	CHECK(f.len > 12);
	memcpy(&flen, f.data + f.len - 8, 4);
	size_t from = f.len - 8 - flen, at = 0, hits = 0;
	for (size_t i = from; i + 3 <= f.len - 8; i++)
		if (!memcmp(f.data + i, "\x36\x08\x00", 3)) {
			at = i;
			hits++;
		}
	CHECK_EQ_INT(hits, 1);
	if (hits == 1) {
		f.data[at + 1] = 0x0a;   /* the footer says 5: believed, the values are not read */
		put_file(&f);
		CHECK_EQ_INT(nans_of_x(), 5);
		f.data[at + 1] = 0x08;
		f.data[at] = 0x46;   /* field 10, unknown: no nan_count, the values are counted */
		put_file(&f);
		CHECK_EQ_INT(nans_of_x(), 4);
	}
	ids_buf_free(&f);
	unlink(path);
	rmdir(dir);
	return test_report("test_ice_metrics");
}
