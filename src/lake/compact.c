/* Compaction of the change log: a flush adds one small file per table and day, so a day
 * directory that holds COMPACT_MIN files under the target size is rebuilt with each run of
 * consecutive small files of one schema and one size tier merged into one file (column chunks decoded and
 * re-encoded as they are: no value goes through JSON, so every type keeps its exact bytes).
 * Files that stay are hard links (the same inode: a reader that opened one keeps reading
 * it). The new directory is built in the staging dir and exchanged with the visible one in one
 * RENAME_EXCHANGE, so a listing sees either the old files or the merged ones, never both.
 * Size tiers (factors of 4 from 256 KiB) keep a day's growing merged file from being copied at
 * every compaction: a byte is rewritten a few times per tier, not once per 16 flushes. */
#include "iceberg.h"
#include "lake_int.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "idbsync/pq_read.h"

#define COMPACT_MIN 16
#define COMPACT_CHECK_MS 10000   /* at most; 20 flush intervals when that is shorter */

static int tier(int64_t size)
{
	int t = 0;
	for (int64_t s = 256 << 10; size >= s && t < 30; s *= 4)
		t++;
	return t;
}

typedef struct lf {
	char name[96];
	int64_t first, last, size;
	pq_node *schema;             /* small files: their schema (readers are opened one at a time) */
	int out;                     /* index of the merged output, -1: kept as it is */
} lf;

static int cmp_lf(const void *a, const void *b)
{
	const lf *x = a, *y = b;
	return x->first < y->first ? -1 : x->first > y->first;
}

static int same_node(const pq_node *a, const pq_node *b)
{
	if (strcmp(a->name, b->name) || a->type != b->type || a->repetition != b->repetition ||
	    a->type_length != b->type_length || a->converted != b->converted || a->n_children != b->n_children ||
	    a->logical.kind != b->logical.kind || a->logical.scale != b->logical.scale ||
	    a->logical.precision != b->logical.precision || a->logical.utc != b->logical.utc ||
	    a->logical.unit != b->logical.unit || a->logical.bit_width != b->logical.bit_width ||
	    a->logical.is_signed != b->logical.is_signed)
		return 0;
	for (size_t i = 0; i < a->n_children; i++)
		if (!same_node(a->children[i], b->children[i]))
			return 0;
	return 1;
}

/* Appends every row group of src to w (same schema). */
static int copy_rows(pq_writer *w, pq_reader *src, ids_error *err)
{
	const pq_file_meta *m = pq_reader_meta(src);
	int rc = 0;
	for (size_t g = 0; !rc && g < m->n_row_groups; g++) {
		for (size_t c = 0; !rc && c < m->n_columns; c++) {
			pq_read_batch b;
			if (!(rc = pq_reader_read_column(src, g, c, &b, err)))
				rc = pq_writer_write_column(w, c, (const pq_column_batch *)&b, err);
		}
		if (!rc)
			rc = pq_writer_end_rows(w, (size_t)m->row_groups[g].num_rows, err);
	}
	return rc;
}

int lk_files_concat(lake *l, const char *path, const char *const *in, size_t n, ids_error *err)
{
	pq_reader *r = NULL;
	pq_writer *w = NULL;
	pq_node *schema = NULL;
	int rc = n ? pq_reader_open(&r, in[0], NULL, err) : ids_fail(err, IDS_EINVAL, "no files to concatenate");
	if (!rc && !(schema = pq_node_clone(pq_reader_schema(r))))
		rc = ids_fail(err, IDS_ENOMEM, "out of memory");
	if (!rc) {
		pq_write_options wo;
		lk_write_opts(l, &wo);
		rc = pq_writer_new(&w, path, schema, &wo, err);
	}
	for (size_t i = 0; !rc && i < n; i++) {
		if (lk_out_of_time(l)) {
			rc = ids_fail(err, IDS_EBUSY, "shutting down");
			break;
		}
		if (i && !(rc = pq_reader_open(&r, in[i], NULL, err)) && !same_node(schema, pq_reader_schema(r)))
			rc = ids_fail(err, IDS_EINVAL, "%s: another schema than %s", in[i], in[0]);
		if (!rc)
			rc = copy_rows(w, r, err);
		pq_reader_free(r);
		r = NULL;
	}
	if (!rc)
		rc = pq_writer_close(w, err);
	pq_reader_free(r);
	pq_writer_free(w);   /* removes its temp file if it was not closed */
	pq_node_free(schema);
	return rc;
}

/* The files f[0..n) of dir (one schema) merged into out. */
static int concat_run(lake *l, const char *out, const char *dir, const lf *f, size_t n, ids_error *err)
{
	char (*paths)[IDS_PATH_MAX + 1] = malloc(n * sizeof *paths);
	const char **in = malloc(n * sizeof *in);
	int rc = paths && in ? 0 : ids_fail(err, IDS_ENOMEM, "out of memory");
	for (size_t k = 0; !rc && k < n; k++) {
		in[k] = paths[k];
		rc = ids_path(paths[k], sizeof paths[k], err, "%s/%s", dir, f[k].name);
	}
	if (!rc)
		rc = lk_files_concat(l, out, in, n, err);
	free(paths);
	free(in);
	return rc;
}

static int read_schema(const char *dir, lf *f, ids_error *err)
{
	char p[IDS_PATH_MAX + 1];
	pq_reader *r = NULL;
	int rc = ids_path(p, sizeof p, err, "%s/%s", dir, f->name);
	if (!rc)
		rc = pq_reader_open(&r, p, NULL, err);
	if (!rc && !(f->schema = pq_node_clone(pq_reader_schema(r))))
		rc = ids_fail(err, IDS_ENOMEM, "out of memory");
	pq_reader_free(r);
	return rc;
}

static int list_dir(const char *dir, lf **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	size_t cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		int64_t a, b;
		if (!lk_log_name(e->d_name, &a, &b) || strlen(e->d_name) >= sizeof((lf *)0)->name)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			lf *p = realloc(*out, cap * sizeof *p);
			if (!p)
				break;
			*out = p;
		}
		char p[IDS_PATH_MAX + 1];
		if (ids_path(p, sizeof p, NULL, "%s/%s", dir, e->d_name))
			continue;
		lf *f = &(*out)[(*n)++];
		memset(f, 0, sizeof *f);
		snprintf(f->name, sizeof f->name, "%s", e->d_name);
		f->first = a;
		f->last = b;
		f->size = lk_file_size(p);
		f->out = -1;
	}
	closedir(d);
	if (*n)
		qsort(*out, *n, sizeof **out, cmp_lf);
	return 0;
}

/* Rebuilds dir (a dt= directory of t's change log) with its small files merged; *left gets
 * the number of small files it holds afterwards, or 0 when it holds enough but none could be
 * merged (different schemas): those wait for COMPACT_MIN new files. */
static int compact_dir(lake *l, lk_table *t, const char *dir, int64_t target, int budget, int *left, ids_error *err)
{
	lf *f;
	size_t n, small = 0;
	list_dir(dir, &f, &n);
	for (size_t i = 0; i < n; i++)
		small += f[i].size < target;
	*left = (int)small;
	if (small < COMPACT_MIN) {
		free(f);
		return 0;
	}
	int rc = 0;
	/* runs: consecutive small files of one schema, up to the target size */
	int outs = 0;
	int64_t (*range)[2] = calloc(n + 1, sizeof *range);   /* each output's seqs */
	if (!range)
		rc = ids_fail(err, IDS_ENOMEM, "out of memory");
	for (size_t i = 0; !rc && i < n; i++)
		if (f[i].size < target)
			rc = read_schema(dir, &f[i], err);
	int taken = 0;   /* input files merged so far, against the budget */
	for (size_t i = 0; !rc && i < n && (!budget || taken < budget); i++) {
		if (f[i].size >= target || !f[i].schema)
			continue;
		size_t j = i;
		int64_t sum = f[i].size;
		while (j + 1 < n && (!budget || taken + (int)(j - i) + 1 < budget) && f[j + 1].schema && sum + f[j + 1].size <= target &&
		       tier(f[j + 1].size) == tier(f[i].size) && same_node(f[i].schema, f[j + 1].schema))
			sum += f[++j].size;
		if (j > i) {
			for (size_t k = i; k <= j; k++)
				f[k].out = outs;
			range[outs][0] = f[i].first;
			range[outs][1] = f[j].last;
			outs++;
			*left -= (int)(j - i);
			taken += (int)(j - i) + 1;
		}
		i = j;
	}
	/* built outside the table dir (DuckDB's ** lists hidden dirs too), in the staging dir
	 * that a start empties */
	char next[IDS_PATH_MAX + 1] = "", p[IDS_PATH_MAX + 1], q[IDS_PATH_MAX + 1], meta[IDS_PATH_MAX + 1];
	lk_db_meta(l, t->db, meta, sizeof meta);
	if (outs) {
		int prc = ids_path(next, sizeof next, err, "%s/tmp/compact-%s-%s", meta, t->table, strrchr(dir, '/') + 4);
		rc = rc ? rc : prc;
	}
	if (!rc && outs) {
		lk_rm_rf(next);
		rc = ids_mkdirs(next, err);
	}
	int given_up = 0;
	for (size_t i = 0; !rc && outs && i < n; i++) {
		if ((rc = ids_path(p, sizeof p, err, "%s/%s", dir, f[i].name)))
			break;
		if (f[i].out < 0) {
			if (!(rc = ids_path(q, sizeof q, err, "%s/%s", next, f[i].name)) && link(p, q))
				rc = ids_fail(err, IDS_EIO, "link %s -> %s: %m", p, q);
			continue;
		}
		size_t j = i;
		while (j + 1 < n && f[j + 1].out == f[i].out)
			j++;
		lk_log_path(q, sizeof q, next, f[i].first, f[j].last);
		rc = concat_run(l, q, dir, f + i, j - i + 1, err);
		if (rc == IDS_EBUSY) {
			/* shutting down: the dir stays as it is, the next start's check merges it */
			ids_error clean = IDS_ERROR_INIT;
			*err = clean;
			rc = 0;
			given_up = 1;
			break;
		}
		if (rc)
			ids_wrap(err, "compacting %s into %s: ", dir, q);
		else
			atomic_fetch_add(&l->m_compactions, 1);
		i = j;
	}
	for (size_t i = 0; i < n; i++)
		pq_node_free(f[i].schema);
	free(f);
	if (!rc && outs && !given_up) {
		lk_fsync_dir(next);
		if (!(rc = lk_exchange(next, dir, err)))
			lk_fsync_dir(dir);
		for (int o = 0; !rc && o < outs; o++) {   /* the Iceberg change log follows */
			lk_log_path(q, sizeof q, dir, range[o][0], range[o][1]);
			lk_ice_compacted(l, t, q, strrchr(dir, '/') + 4, range[o][0], range[o][1]);
		}
	}
	free(range);
	if (outs && next[0])
		lk_rm_rf(next);   /* the old version after the exchange; open files stay readable */
	else
		*left = 0;
	return rc;
}

static int64_t check_every(const lake *l)
{
	return l->o.flush_interval_ms * 20 < COMPACT_CHECK_MS ? l->o.flush_interval_ms * 20 : COMPACT_CHECK_MS;
}

int lk_compact_wanted(const lake *l)
{
	if (lk_now_ms() - l->compact_ms < check_every(l))
		return 0;
	for (const lk_table *t = l->tables; t; t = t->next)
		if (t->log_files >= COMPACT_MIN)
			return 1;
	return 0;
}

/* Small files of a table past which a busy flush compacts anyway (lake.c): bounds the files
 * an ingest that never lets the change log catch up leaves, at the price of one long stall
 * (about 12M changes re-encoded at 100k-change rounds). */
#define COMPACT_OVERDUE 128

/* What one compaction during a busy flush may merge per dt= directory: 128 small files at once
 * stopped the flush for 9.2 s near the end of a 10M-row ingest (state 358k changes behind at
 * its end); a quarter of them stops it for about a quarter of that, and the rest waits for the
 * idle loop or the next overdue check. */
#define COMPACT_BUSY_FILES 32

int lk_compact_overdue(const lake *l)
{
	for (const lk_table *t = l->tables; t; t = t->next)
		if (t->log_files >= COMPACT_OVERDUE)
			return 1;
	return 0;
}

int lk_compact(lake *l, ids_error *err)
{
	int64_t now = lk_now_ms();
	if (now - l->compact_ms < check_every(l))
		return 0;
	int first = !l->compact_ms;   /* the first check after start looks at every table */
	l->compact_ms = now;
	int rc = 0;
	for (lk_table *t = l->tables; !rc && t; t = t->next) {
		if (!first && t->log_files < COMPACT_MIN)
			continue;
		char base[4096];
		lk_table_dir(l, t, "_changes", base, sizeof base);
		DIR *d = opendir(base);
		if (!d)
			continue;
		struct dirent *e;
		int64_t target = t->bucket_bytes ? t->bucket_bytes : l->bucket_bytes;
		int most = 0;
		while (!rc && (e = readdir(d))) {
			if (strncmp(e->d_name, "dt=", 3))
				continue;
			char dir[IDS_PATH_MAX + 1];
			int left = 0;
			if (!(rc = ids_path(dir, sizeof dir, err, "%s/%s", base, e->d_name)))
				rc = compact_dir(l, t, dir, target, l->busy ? COMPACT_BUSY_FILES : 0, &left, err);
			if (left > most)
				most = left;
		}
		closedir(d);
		/* the next check comes once the small files left and the new ones could make a merge
		 * (merged files stay small until they reach the target, and merge again) */
		if (!rc)
			t->log_files = most;
	}
	return rc;
}
