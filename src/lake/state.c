/* The current state of a table: 2^k hash buckets part-<b>.parquet with stable names, each
 * rebuilt copy-on-write from store_rows_scan of its hash range and swapped in with rename().
 * A new schema version or a bucket past its target size rebuilds the whole table into a hidden
 * sibling directory that replaces the visible one with one RENAME_EXCHANGE. Partitioned
 * tables put part-<b> under <col>=<value>/ and swap in two phases (docs/lake-layout.md). */
#include "lake_int.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_PARTS 4096
#define SCHEMA_CHANGED 7001   /* internal: a row widened the schema mid-scan */

void lk_mark_dirty(lk_table *t, uint32_t hash)
{
	if (!t->dirty && !(t->dirty = calloc(1, LK_DIRTY_BYTES)))
		return;
	uint32_t i = hash >> 16;
	t->dirty[i >> 3] |= (uint8_t)(1u << (i & 7));
	t->dirty_n++;
}

static int bucket_dirty(const lk_table *t, int k, uint32_t b)
{
	if (!t->dirty)
		return 0;
	uint32_t lo = k ? b << (16 - k) : 0, n = 1u << (16 - k);
	for (uint32_t i = lo; i < lo + n; i++)
		if (t->dirty[i >> 3] & (1u << (i & 7)))
			return 1;
	return 0;
}

int lk_state_read_meta(lake *l, lk_table *t)
{
	char dir[4096], p[4200];
	lk_table_dir(l, t, NULL, dir, sizeof dir);
	snprintf(p, sizeof p, "%s/_buckets", dir);
	ids_buf b = IDS_BUF_INIT;
	t->k = -1;
	t->dir_version = -1;
	if (!lk_read_file(p, &b, 4096, NULL)) {
		json_t *j = json_loadb(b.data, b.len, 0, NULL);
		if (j) {
			t->k = (int)json_integer_value(json_object_get(j, "k"));
			t->dir_version = (int)json_integer_value(json_object_get(j, "version"));
			json_decref(j);
		}
	}
	ids_buf_free(&b);
	return 0;
}

typedef struct pw {
	char *part;              /* "" or "col=value" */
	pq_writer *full, *minus; /* minus: phase 1 (touched keys left out); NULL if not needed */
	char full_stage[4300], minus_stage[4300], final[4300];
} pw;

typedef struct job {
	lake *l;
	lk_table *t;
	pq_node *schema;
	pq_write_options wo;
	const char *outdir;      /* the table dir (incremental) or the new version dir (rebuild) */
	int staged;              /* incremental: write to the staging dir, then rename in */
	uint32_t b;
	pw *parts;
	size_t n_parts;
	ids_buf key, pdir;
	ids_error *err;
} job;

static int open_writer(job *j, pq_writer **w, const char *path)
{
	int rc = pq_writer_new(w, path, j->schema, &j->wo, j->err);
	if (!rc)
		atomic_fetch_add(&j->l->m_files, 1);
	return rc;
}

static int get_part(job *j, const char *part, pw **out)
{
	for (size_t i = 0; i < j->n_parts; i++)
		if (!strcmp(j->parts[i].part, part)) {
			*out = &j->parts[i];
			return 0;
		}
	if (j->n_parts == MAX_PARTS)
		return ids_fail(j->err, IDS_ELIMIT, "table %s: more than %d partitions in bucket %u", j->t->table,
				MAX_PARTS, j->b);
	pw *p = realloc(j->parts, (j->n_parts + 1) * sizeof *p);
	if (!p)
		return ids_fail(j->err, IDS_ENOMEM, "out of memory");
	j->parts = p;
	pw *x = &p[j->n_parts++];
	memset(x, 0, sizeof *x);
	x->part = strdup(part);
	char stage[4096], sub[4200];
	lk_db_meta(j->l, j->t->db, stage, sizeof stage);
	snprintf(sub, sizeof sub, "%s/%s", j->outdir, part);
	if (part[0]) {
		int rc = lk_mkdirs(sub, j->err);
		if (rc)
			return rc;
	}
	snprintf(x->final, sizeof x->final, "%s/part-%u.parquet", sub, j->b);
	*out = x;
	int rc;
	if (!j->staged)
		return open_writer(j, &x->full, x->final);
	snprintf(x->full_stage, sizeof x->full_stage, "%s/tmp/%s-%zu-%u.full.parquet", stage, j->t->table, j->n_parts,
		 j->b);
	if ((rc = open_writer(j, &x->full, x->full_stage)))
		return rc;
	if (part[0] && lk_exists(x->final)) {
		snprintf(x->minus_stage, sizeof x->minus_stage, "%s/tmp/%s-%zu-%u.minus.parquet", stage, j->t->table,
			 j->n_parts, j->b);
		rc = open_writer(j, &x->minus, x->minus_stage);
	}
	return rc;
}

static int touched(const lk_table *t, const char *k)
{
	size_t lo = 0, hi = t->n_tkeys;
	while (lo < hi) {
		size_t m = (lo + hi) / 2;
		int c = strcmp(t->tkeys[m], k);
		if (!c)
			return 1;
		if (c < 0)
			lo = m + 1;
		else
			hi = m;
	}
	return 0;
}

static int on_row(void *ctx, const store_row *r)
{
	job *j = ctx;
	lk_table *t = j->t;
	json_t *v = lk_parse_value(r->value, r->value_len);
	if (!v)
		return 0; /* the store validated it; nothing sensible to write */
	if (lk_table_observe_v(j->l, t, v, r->seq)) {
		json_decref(v);
		return SCHEMA_CHANGED;
	}
	int rc = lk_key_json(r->key, r->key_len, &j->key, j->err);
	if (rc) {
		json_decref(v);
		return rc;
	}
	pw *p = NULL;
	if (t->part_field)
		lk_part_dir(t, v, &j->pdir);
	rc = get_part(j, t->part_field ? j->pdir.data : "", &p);
	json_t *row = json_object();
	json_object_set_new(row, "idb_key", json_stringn(j->key.data, j->key.len));
	json_object_set_new(row, "idb_user", json_string(r->user));
	json_object_set_new(row, "idb_seq", json_integer(r->seq));
	json_object_set_new(row, "idb_hlc", json_string(r->hlc));
	lk_table_fill(t, row, v, 1);
	if (!rc)
		rc = lk_write_row(j->l, p->full, row, j->err);
	if (!rc && p->minus) {
		char *tk = NULL;
		if (asprintf(&tk, "%s\x1f%s", r->user, j->key.data) > 0 && !touched(t, tk))
			rc = lk_write_row(j->l, p->minus, row, j->err);
		free(tk);
	}
	json_decref(row);
	json_decref(v);
	return rc;
}

static void job_free(job *j)
{
	for (size_t i = 0; i < j->n_parts; i++) {
		pq_writer_free(j->parts[i].full);
		pq_writer_free(j->parts[i].minus);
		free(j->parts[i].part);
	}
	free(j->parts);
	j->parts = NULL;
	j->n_parts = 0;
	pq_node_free(j->schema);
	j->schema = NULL;
	ids_buf_free(&j->key);
	ids_buf_free(&j->pdir);
}

/* Every partition dir of dir that holds part-<b>.parquet gets a (possibly empty) file too,
 * so nothing that was listed ever disappears. */
static int keep_partitions(job *j, const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	struct dirent *e;
	int rc = 0;
	while (!rc && (e = readdir(d))) {
		if (e->d_name[0] == '.' || e->d_name[0] == '_' || !strchr(e->d_name, '='))
			continue;
		char p[4400];
		snprintf(p, sizeof p, "%s/%s/part-%u.parquet", dir, e->d_name, j->b);
		if (lk_exists(p)) {
			pw *x;
			rc = get_part(j, e->d_name, &x);
		}
	}
	closedir(d);
	return rc;
}

static int scan_bucket(job *j, int k)
{
	uint32_t lo = k ? j->b << (32 - k) : 0;
	uint32_t hi = k ? (uint32_t)(((uint64_t)(j->b + 1) << (32 - k)) - 1) : 0xffffffffu;
	int64_t head = 0;
	return store_rows_scan(j->l->st, j->t->db, j->t->store, lo, hi, on_row, j, &head, j->err);
}

/* Incremental: rewrite bucket b of the visible dir through the staging dir. */
static int rewrite_bucket(lake *l, lk_table *t, uint32_t b, int64_t *max_size, ids_error *err)
{
	char dir[4096];
	lk_table_dir(l, t, NULL, dir, sizeof dir);
	job j = {.l = l, .t = t, .outdir = dir, .staged = 1, .b = b, .err = err};
	lk_write_opts(l, &j.wo);
	j.schema = lk_table_schema(l, t, LK_T_STATE);
	int rc = j.schema ? 0 : ids_fail(err, IDS_ENOMEM, "schema: out of memory");
	pw *x;
	if (!rc && !t->part_field)
		rc = get_part(&j, "", &x);   /* an empty bucket is an empty file */
	if (!rc && t->part_field)
		rc = keep_partitions(&j, dir);
	if (!rc)
		rc = scan_bucket(&j, t->k);
	for (size_t i = 0; !rc && i < j.n_parts; i++) {
		rc = pq_writer_close(j.parts[i].full, err);
		if (!rc && j.parts[i].minus)
			rc = pq_writer_close(j.parts[i].minus, err);
	}
	/* phase 1: files without the touched keys, so a key that moved partitions is never in
	 * two files at once; phase 2: the full files */
	for (int phase = 1; !rc && phase <= 2; phase++) {
		for (size_t i = 0; !rc && i < j.n_parts; i++) {
			const char *src = phase == 1 ? j.parts[i].minus_stage : j.parts[i].full_stage;
			if (!src[0])
				continue;
			if (rename(src, j.parts[i].final))
				rc = ids_fail(err, IDS_EIO, "rename %s -> %s: %m", src, j.parts[i].final);
			int64_t sz = phase == 2 ? lk_file_size(j.parts[i].final) : 0;
			if (sz > *max_size)
				*max_size = sz;
		}
		for (size_t i = 0; !rc && i < j.n_parts; i++) {
			char d[4300];
			snprintf(d, sizeof d, "%s/%s", dir, j.parts[i].part);
			lk_fsync_dir(d);
		}
	}
	for (size_t i = 0; i < j.n_parts; i++) {
		if (j.parts[i].full_stage[0])
			unlink(j.parts[i].full_stage);
		if (j.parts[i].minus_stage[0])
			unlink(j.parts[i].minus_stage);
	}
	job_free(&j);
	return rc;
}

/* Whole table into DIR/D/.<table>.next, then exchanged with the visible dir. */
static int rebuild(lake *l, lk_table *t, int k, int64_t *max_size, ids_error *err)
{
	char dir[4096], next[4200];
	lk_table_dir(l, t, NULL, dir, sizeof dir);
	snprintf(next, sizeof next, "%s/%s/.%s.next", l->dir, t->db, t->table);
	lk_rm_rf(next);
	int rc = lk_mkdirs(next, err);
	for (uint32_t b = 0; !rc && b < (1u << k); b++) {
		job j = {.l = l, .t = t, .outdir = next, .staged = 0, .b = b, .err = err};
		lk_write_opts(l, &j.wo);
		j.schema = lk_table_schema(l, t, LK_T_STATE);
		pw *x;
		if (!t->part_field)
			rc = get_part(&j, "", &x);
		else
			rc = keep_partitions(&j, dir);
		if (!rc)
			rc = scan_bucket(&j, k);
		for (size_t i = 0; !rc && i < j.n_parts; i++) {
			rc = pq_writer_close(j.parts[i].full, err);
			int64_t sz = rc ? 0 : lk_file_size(j.parts[i].final);
			if (sz > *max_size)
				*max_size = sz;
		}
		job_free(&j);
	}
	if (!rc) {
		char meta[4300], body[100];
		snprintf(meta, sizeof meta, "%s/_buckets", next);
		int n = snprintf(body, sizeof body, "{\"k\":%d,\"version\":%d}\n", k, t->version);
		rc = lk_write_file(meta, body, (size_t)n, err);
	}
	if (!rc) {
		lk_fsync_dir(next);
		if (lk_exists(dir)) {
			rc = lk_exchange(next, dir, err);
			if (!rc)
				lk_rm_rf(next); /* the old version; open files stay readable */
		} else if (rename(next, dir)) {
			rc = ids_fail(err, IDS_EIO, "rename %s -> %s: %m", next, dir);
		}
		char dbdir[4096];
		snprintf(dbdir, sizeof dbdir, "%s/%s", l->dir, t->db);
		lk_fsync_dir(dbdir);
	}
	if (rc && rc != SCHEMA_CHANGED)
		lk_rm_rf(next);
	if (!rc) {
		t->k = k;
		t->dir_version = t->version;
		atomic_fetch_add(&l->m_rebuilds, 1);
	}
	return rc;
}

int lk_state_flush(lake *l, lk_table *t, ids_error *err)
{
	if (t->k < 0)
		lk_state_read_meta(l, t);
	int64_t target = t->bucket_bytes ? t->bucket_bytes : l->bucket_bytes;
	char stage[4096];
	lk_db_meta(l, t->db, stage, sizeof stage);
	strcat(stage, "/tmp");
	int rc = lk_mkdirs(stage, err);
	if (rc)
		return rc;
	for (int attempt = 0; attempt < 8; attempt++) {
		int64_t max_size = 0;
		int full = t->k < 0 || t->dir_version != t->version || t->rebuild || t->grow;
		/* the schema file must name every column before a file has it */
		if ((rc = lk_table_save(l, t, err)))
			return rc;
		if (full) {
			int k = t->k < 0 ? 0 : t->k;
			if (t->grow && k < l->max_bucket_bits)
				k++;
			rc = rebuild(l, t, k, &max_size, err);
		} else {
			for (uint32_t b = 0; !rc && b < (1u << t->k); b++)
				if (bucket_dirty(t, t->k, b))
					rc = rewrite_bucket(l, t, b, &max_size, err);
		}
		if (rc == SCHEMA_CHANGED) {
			t->rebuild = 1;   /* retry the whole table with the wider schema */
			continue;
		}
		if (rc)
			return rc;
		t->rebuild = 0;
		t->grow = max_size > target && t->k < l->max_bucket_bits;
		if (!t->grow || attempt >= 1)
			break;
	}
	if (rc == SCHEMA_CHANGED)
		rc = ids_fail(err, IDS_EIO, "table %s: schema kept changing during the rebuild", t->table);
	if (!rc) {
		free(t->dirty);
		t->dirty = NULL;
		t->dirty_n = 0;
	}
	return rc;
}
