/* The current state of a table: 2^k hash buckets part-<b>.parquet with stable names, each
 * rebuilt copy-on-write from the ledger's rows and swapped in with rename(); the dirty buckets
 * of a flush are written by one scan of the ledger (run_group).
 * A new schema version or a bucket past its target size rebuilds the whole table into a hidden
 * sibling directory that replaces the visible one with one RENAME_EXCHANGE. Partitioned
 * tables put part-<b> under <col>=<value>/ and swap in two phases (docs/lake-layout.md). */
#include "iceberg.h"
#include "lake_int.h"

#include "idbsync/log.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_PARTS 4096
#define GROUP_MAX 64          /* buckets written by one scan of the ledger */
#define GROUP_BUFFER_BYTES ((size_t)256 << 20)  /* row-group budget of one group's writers */
#define MIN_ROW_GROUP_BYTES ((size_t)8 << 20)

void lk_mark_dirty(lk_table *t, uint32_t hash)
{
	if (!t->dirty && !(t->dirty = calloc(1, LK_DIRTY_BYTES)))
		return;
	uint32_t i = hash >> 16;
	t->dirty[i >> 3] |= (uint8_t)(1u << (i & 7));
	t->dirty_n++;
}

int lk_state_slot_dirty(const lk_table *t, uint32_t hash)
{
	uint32_t i = hash >> 16;
	return t->dirty && (t->dirty[i >> 3] & (1u << (i & 7)));
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
	char dir[IDS_PATH_MAX + 1], p[IDS_PATH_MAX + 1];
	lk_table_dir(l, t, NULL, dir, sizeof dir);
	ids_path(p, sizeof p, NULL, "%s/_buckets", dir);
	ids_buf b = IDS_BUF_INIT;
	t->k = -1;
	t->dir_version = -1;
	if (!lk_read_file(p, &b, 4096, NULL)) {
		json_t *j = json_loadb(b.data, b.len, 0, NULL);
		if (j) {
			t->k = (int)json_integer_value(json_object_get(j, "k"));
			t->dir_version = (int)json_integer_value(json_object_get(j, "version"));
			lk_delta_read_meta(t, j);
			json_decref(j);
		}
	}
	ids_buf_free(&b);
	return 0;
}

typedef struct pw {
	char *part;              /* "" or "col=value" */
	pq_writer *full, *minus; /* minus: phase 1 (touched keys left out); NULL if not needed */
	char full_stage[IDS_PATH_MAX + 1], minus_stage[IDS_PATH_MAX + 1], final[IDS_PATH_MAX + 1];
} pw;

typedef struct job {
	lake *l;
	lk_table *t;
	pq_node *schema;
	pq_write_options wo;
	const char *outdir;      /* the table dir (incremental) or the new version dir (rebuild) */
	int staged;              /* incremental: write to the staging dir, then rename in */
	uint32_t b;              /* bucket */
	uint32_t file_no;        /* part-<file_no>.parquet */
	pw *parts;
	size_t n_parts;
	ids_buf key, pdir;
	ids_error *err;
} job;

/* Tests: IDBSYNC_TEST_LAKE_PAUSE=DIR stops the flush thread before each rename or exchange of
 * a state pass: it writes DIR/paused-<n> (the step's name) and waits up to 60 s for DIR/go-<n>,
 * so a test reads the table at every intermediate state (tests/lake/lake_skew.test.mjs). */
static void test_pause(const char *step)
{
	static int n;
	const char *dir = getenv("IDBSYNC_TEST_LAKE_PAUSE");
	char p[IDS_PATH_MAX + 1], go[IDS_PATH_MAX + 1];
	if (!dir || ids_path(go, sizeof go, NULL, "%s/go-%d", dir, ++n) ||
	    ids_path(p, sizeof p, NULL, "%s/paused-%d", dir, n) || lk_write_file(p, step, strlen(step), NULL))
		return;
	for (int i = 0; i < 12000 && !lk_exists(go); i++)
		usleep(5000);
}

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
	char stage[IDS_PATH_MAX + 1], sub[IDS_PATH_MAX + 1];
	lk_db_meta(j->l, j->t->db, stage, sizeof stage);
	int rc = ids_path(sub, sizeof sub, j->err, "%s/%s", j->outdir, part);
	if (!rc && part[0])
		rc = lk_mkdirs(sub, j->err);
	if (!rc)
		rc = ids_path(x->final, sizeof x->final, j->err, "%s/part-%u.parquet", sub, j->file_no);
	if (rc)
		return rc;
	*out = x;
	if (!j->staged)
		return open_writer(j, &x->full, x->final);
	if ((rc = ids_path(x->full_stage, sizeof x->full_stage, j->err, "%s/tmp/%s-%zu-%u.full.parquet", stage,
			   j->t->table, j->n_parts, j->b)) ||
	    (rc = open_writer(j, &x->full, x->full_stage)))
		return rc;
	if (part[0] && lk_exists(x->final)) {
		rc = ids_path(x->minus_stage, sizeof x->minus_stage, j->err, "%s/tmp/%s-%zu-%u.minus.parquet", stage,
			      j->t->table, j->n_parts, j->b);
		if (!rc)
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

static int on_row(void *ctx, const ledger_row *r)
{
	job *j = ctx;
	lk_table *t = j->t;
	lake *l = j->l;
	const ids_json *v = &l->vjson;
	if (lk_parse_value(&l->vjson, r->value, r->value_len))
		return 0; /* the ledger validated it; nothing sensible to write */
	/* a row at a seq the change log observed has that change's value: it widens nothing */
	int seen = t->obs_to && r->seq >= t->obs_from && r->seq <= t->obs_to;
	if (!seen && lk_table_observe_v(l, t, v, r->seq)) {
		t->widened = 1;   /* stops the scan; lk_state_flush rebuilds with the wider schema */
		return ids_fail(j->err, IDS_ECONFLICT, "table %s: a row widened the schema during the scan", t->table);
	}
	int rc = lk_key_json(r->key, r->key_len, &j->key, j->err);
	if (rc)
		return rc;
	pw *p = NULL;
	if (t->part_field)
		lk_part_dir(t, v, &j->pdir);
	rc = get_part(j, t->part_field ? j->pdir.data : "", &p);
	lk_row *row = lk_row_start(l);
	lk_row_str(row, "idb_key", j->key.data, j->key.len);
	lk_row_str(row, "idb_user", r->user, strlen(r->user));
	lk_row_i64(row, "idb_seq", r->seq);
	lk_row_str(row, "idb_hlc", r->hlc, strlen(r->hlc));
	lk_row_fill(l, t, v, !l->ice);   /* Iceberg's files hold the partition column (table.c) */
	if (!rc && (rc = lk_write_row(l, p->full, j->err)) && pq_writer_usable(p->full)) {
		/* this row alone was refused: the rest of the bucket is written, the row waits */
		rc = lk_hold_state_row(l, t, j->key.data, r->user, r->hash, r->seq, j->err);
		ids_error clean = IDS_ERROR_INIT;
		*j->err = clean;
		return rc;
	}
	if (!rc && p->minus) {
		char *tk = NULL;
		if (asprintf(&tk, "%s\x1f%s", r->user, j->key.data) > 0 && !touched(t, tk))
			rc = lk_write_row(l, p->minus, j->err);
		free(tk);
	}
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
		char p[IDS_PATH_MAX + 1];
		if (ids_path(p, sizeof p, NULL, "%s/%s/part-%u.parquet", dir, e->d_name, j->b))
			continue;   /* not a directory the lake made */
		if (lk_exists(p)) {
			pw *x;
			rc = get_part(j, e->d_name, &x);
		}
	}
	closedir(d);
	return rc;
}

/* Runs the jobs of buckets[0..n) (bucket bits k) with one scan of the ledger: each row goes to
 * the job of its bucket, rows of other buckets are skipped before they are parsed. One scan
 * per group instead of one per bucket is what keeps a flush that touched every bucket linear
 * in the ledger's size. */
typedef struct group {
	job *jobs;
	int32_t *slot;           /* bucket -> index in jobs, or -1 */
	int k;
} group;

static int cmp_cstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* fsync of every partition dir the group renamed into, each once */
static void sync_part_dirs(group *g, size_t n, const char *outdir)
{
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += g->jobs[i].n_parts;
	char **names = malloc((total + 1) * sizeof *names);
	if (!names) {
		lk_fsync_dir(outdir);
		return;
	}
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		for (size_t p = 0; p < g->jobs[i].n_parts; p++)
			names[m++] = g->jobs[i].parts[p].part;
	qsort(names, m, sizeof *names, cmp_cstr);
	for (size_t i = 0; i < m; i++) {
		if (i && !strcmp(names[i], names[i - 1]))
			continue;
		char d[IDS_PATH_MAX + 1];
		ids_path(d, sizeof d, NULL, "%s/%s", outdir, names[i]);
		lk_fsync_dir(d);
	}
	free(names);
}

static int on_group_row(void *ctx, const ledger_row *r)
{
	group *g = ctx;
	uint32_t b = g->k ? r->hash >> (32 - g->k) : 0;
	int32_t s = g->slot[b];
	return s < 0 ? 0 : on_row(&g->jobs[s], r);
}

static int run_group(lake *l, lk_table *t, int k, const uint32_t *buckets, size_t n, const lk_state_src *src,
		     const char *outdir, int staged, int64_t *max_size, ids_error *err)
{
	char dir[IDS_PATH_MAX + 1];
	lk_table_dir(l, t, NULL, dir, sizeof dir);
	group g = {.k = k};
	g.jobs = calloc(n, sizeof *g.jobs);
	g.slot = malloc(sizeof *g.slot << k);
	int rc = g.jobs && g.slot ? 0 : ids_fail(err, IDS_ENOMEM, "out of memory");
	if (!rc)
		memset(g.slot, 0xff, sizeof *g.slot << k);
	/* every open writer holds a row group: bound their sum */
	size_t rg = GROUP_BUFFER_BYTES / (n ? n : 1);
	if (rg < MIN_ROW_GROUP_BYTES)
		rg = MIN_ROW_GROUP_BYTES;
	for (size_t i = 0; !rc && i < n; i++) {
		job *j = &g.jobs[i];
		*j = (job){.l = l, .t = t, .outdir = outdir, .staged = staged, .b = buckets[i], .err = err,
			   .file_no = src->file_no ? src->file_no : buckets[i]};
		g.slot[buckets[i]] = (int32_t)i;
		lk_write_opts(l, &j->wo);
		j->wo.row_group_bytes = rg;
		j->schema = lk_table_schema(l, t, LK_T_STATE);
		pw *x;
		if (!j->schema)
			rc = ids_fail(err, IDS_ENOMEM, "schema: out of memory");
		else if (!t->part_field)
			rc = get_part(j, "", &x);   /* an empty bucket is an empty file */
		else
			rc = keep_partitions(j, dir);
	}
	if (!rc) {
		uint32_t lo = k ? buckets[0] << (32 - k) : 0;
		uint32_t hi = k ? (uint32_t)(((uint64_t)buckets[n - 1] + 1) << (32 - k)) - 1 : 0xffffffffu;
		int64_t head = 0;
		rc = src->after == 0 && src->upto == INT64_MAX
			     ? ledger_rows_scan(l->lg, t->db, t->store, lo, hi, on_group_row, &g, &head, err)
			     : ledger_rows_scan_ids(l->lg, t->db, t->store, lo, hi, src->after, src->upto, on_group_row, &g,
						    &head, err);
	}
	for (size_t i = 0; !rc && i < n; i++)
		for (size_t p = 0; !rc && p < g.jobs[i].n_parts; p++) {
			rc = pq_writer_close(g.jobs[i].parts[p].full, err);
			if (!rc && g.jobs[i].parts[p].minus)
				rc = pq_writer_close(g.jobs[i].parts[p].minus, err);
			int64_t sz = !rc && !staged ? lk_file_size(g.jobs[i].parts[p].final) : 0;
			if (sz > *max_size)
				*max_size = sz;
		}
	/* phase 1: files without the touched keys, so a key that moved partitions is never in
	 * two files at once; phase 2: the full files */
	for (int phase = 1; !rc && staged && phase <= 2; phase++) {
		for (size_t i = 0; !rc && i < n; i++)
			for (size_t p = 0; !rc && p < g.jobs[i].n_parts; p++) {
				pw *x = &g.jobs[i].parts[p];
				const char *src = phase == 1 ? x->minus_stage : x->full_stage;
				if (!src[0])
					continue;
				test_pause(phase == 1 ? "minus" : "full");
				if (rename(src, x->final))
					rc = ids_fail(err, IDS_EIO, "rename %s -> %s: %m", src, x->final);
				int64_t sz = phase == 2 ? lk_file_size(x->final) : 0;
				if (sz > *max_size)
					*max_size = sz;
			}
		sync_part_dirs(&g, n, outdir);
	}
	for (size_t i = 0; g.jobs && i < n; i++) {
		for (size_t p = 0; p < g.jobs[i].n_parts; p++) {
			if (g.jobs[i].parts[p].full_stage[0])
				unlink(g.jobs[i].parts[p].full_stage);
			if (g.jobs[i].parts[p].minus_stage[0])
				unlink(g.jobs[i].parts[p].minus_stage);
		}
		job_free(&g.jobs[i]);
	}
	free(g.jobs);
	free(g.slot);
	return rc;
}

/* Runs buckets[0..n) in groups of at most GROUP_MAX open buckets. */
int lk_state_run(lake *l, lk_table *t, int k, const uint32_t *buckets, size_t n, const lk_state_src *src,
		 const char *outdir, int staged, int64_t *max_size, ids_error *err)
{
	int rc = 0;
	for (size_t i = 0; !rc && i < n; i += GROUP_MAX)
		rc = run_group(l, t, k, buckets + i, n - i < GROUP_MAX ? n - i : GROUP_MAX, src, outdir, staged,
			       max_size, err);
	return rc;
}

int lk_state_run_dirty(lake *l, lk_table *t, const lk_state_src *src, int64_t *max_size, ids_error *err)
{
	uint32_t *dirty = malloc(sizeof *dirty << t->k);
	size_t nd = 0;
	if (!dirty)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	for (uint32_t b = 0; b < (1u << t->k); b++)
		if (bucket_dirty(t, t->k, b))
			dirty[nd++] = b;
	char dir[IDS_PATH_MAX + 1];
	lk_table_dir(l, t, NULL, dir, sizeof dir);
	int rc = lk_state_run(l, t, t->k, dirty, nd, src, dir, 1, max_size, err);
	free(dirty);
	return rc;
}

/* Whole table into DIR/D/.<table>.next, then exchanged with the visible dir. */
static int rebuild(lake *l, lk_table *t, int k, int64_t *max_size, ids_error *err)
{
	char dir[IDS_PATH_MAX + 1], next[IDS_PATH_MAX + 1];
	lk_table_dir(l, t, NULL, dir, sizeof dir);
	int rc = ids_path(next, sizeof next, err, "%s/%s/.%s.next", l->dir, t->db, t->table);
	if (rc)
		return rc;
	lk_rm_rf(next);
	rc = lk_mkdirs(next, err);
	uint32_t *all = rc ? NULL : malloc(sizeof *all << k);
	if (!rc && !all)
		rc = ids_fail(err, IDS_ENOMEM, "out of memory");
	for (uint32_t b = 0; all && b < (1u << k); b++)
		all[b] = b;
	/* rows up to the highest id now go to the buckets, later ones to deltas */
	lk_state_src src = LK_STATE_SRC_ALL;
	int64_t upto = -1;
	if (!rc && lk_delta_start(l, t, &upto))
		src.upto = upto;
	if (!rc)
		rc = lk_state_run(l, t, k, all, (size_t)1 << k, &src, next, 0, max_size, err);
	free(all);
	if (!rc) {
		t->upto = upto;
		free(t->deltas);
		t->deltas = NULL;
		t->n_deltas = 0;
		rc = lk_state_meta_write(t, next, k, err);
	}
	if (!rc) {
		lk_fsync_dir(next);
		test_pause("rebuild");
		if (lk_exists(dir)) {
			rc = lk_exchange(next, dir, err);
			if (!rc)
				lk_rm_rf(next); /* the old version; open files stay readable */
		} else if (rename(next, dir)) {
			rc = ids_fail(err, IDS_EIO, "rename %s -> %s: %m", next, dir);
		}
		char dbdir[IDS_PATH_MAX + 1];
		ids_path(dbdir, sizeof dbdir, NULL, "%s/%s", l->dir, t->db);
		lk_fsync_dir(dbdir);
	}
	if (rc && !t->widened)
		lk_rm_rf(next);
	if (!rc) {
		t->k = k;
		t->dir_version = t->version;
		atomic_fetch_add(&l->m_rebuilds, 1);
	}
	return rc;
}

static int state_flush(lake *l, lk_table *t, ids_error *err)
{
	if (t->k < 0)
		lk_state_read_meta(l, t);
	int64_t target = t->bucket_bytes ? t->bucket_bytes : l->bucket_bytes;
	char stage[IDS_PATH_MAX + 1];
	int rc = lk_stage_dir(l, t->db, stage, sizeof stage, err);
	if (rc)
		return rc;
	for (int attempt = 0; attempt < 8; attempt++) {
		int64_t max_size = 0;
		int full = t->k < 0 || t->dir_version != t->version || t->rebuild || t->grow;
		lk_hold_state_begin(l, t, full);
		/* the schema file must name every column before a file has it */
		if ((rc = lk_table_save(l, t, err)))
			return rc;
		if (full) {
			int k = t->k < 0 ? 0 : t->k;
			if (t->grow && k < l->max_bucket_bits)
				k++;
			rc = rebuild(l, t, k, &max_size, err);
		} else if (t->upto >= 0) {
			int again = 0;
			rc = lk_delta_pass(l, t, &max_size, &again, err);
			if (!rc && again) {
				t->rebuild = 1;   /* keys the id ranges cannot place: one whole rebuild */
				continue;
			}
		} else {
			lk_state_src all = LK_STATE_SRC_ALL;
			rc = lk_state_run_dirty(l, t, &all, &max_size, err);
		}
		if (rc && t->widened) {
			t->widened = 0;
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
	if (rc)   /* only a widened schema leaves the loop with an error: every attempt widened it */
		rc = ids_fail(err, IDS_EIO, "table %s: schema kept changing during the rebuild", t->table);
	if (!rc) {
		lk_hold_state_end(l, t);
		lk_ice_state_written(l, t);
	}
	if (!rc) {
		free(t->dirty);
		t->dirty = NULL;
		t->dirty_n = 0;
	}
	return rc;
}

/* Renames keep every instant of the directory free of duplicates, but a query opens its files
 * one after another: a row that moves between two files during the query (another partition,
 * a doubling, deltas merged or folded) can be read from both. No order of renames prevents
 * that, so the pass says when it runs and a reader can tell whether a query spanned one. Not
 * fsynced (two per table and pass): the floor (clock ms x 2000) keeps the number growing across
 * a crash that lost or rolled back the file. */
int lk_state_pass_mark(lake *l, lk_table *t, int busy, ids_error *err)
{
	char meta[IDS_PATH_MAX + 1], p[IDS_PATH_MAX + 1];
	int rc = lk_stage_dir(l, t->db, meta, sizeof meta, err);   /* makes D/_idbsync */
	if (rc)
		return rc;
	lk_db_meta(l, t->db, meta, sizeof meta);
	if ((rc = ids_path(p, sizeof p, err, "%s/%s.pass", meta, t->table)))
		return rc;
	if (!t->pass_no) {   /* the file is read once a run; this process is its only writer */
		ids_buf b = IDS_BUF_INIT;
		t->pass_no = lk_read_file(p, &b, 64, NULL) ? 0 : strtoll(b.len ? b.data : "0", NULL, 10);
		ids_buf_free(&b);
	}
	int64_t n = t->pass_no + 1, floor = lk_now_ms() * 2000;
	if (n < floor)
		n = floor;
	if ((n & 1) != (busy != 0))
		n++;
	char text[32];
	int len = snprintf(text, sizeof text, "%" PRId64 "\n", n);
	rc = lk_write_file_nosync(p, text, (size_t)len, err);   /* visibility is all it is for */
	if (!rc)
		t->pass_no = n;
	return rc;
}

void lk_state_pass_done(lake *l, lk_table *t)
{
	ids_error err = IDS_ERROR_INIT;
	if (lk_state_pass_mark(l, t, 0, &err))   /* stays odd: readers keep distrusting */
		ids_logf(IDS_LOG_WARN, "lake_pass_mark", "table %s: %s", t->table, err.msg);
}

int lk_state_flush(lake *l, lk_table *t, ids_error *err)
{
	int rc = lk_state_pass_mark(l, t, 1, err);
	if (!rc) {
		rc = state_flush(l, t, err);
		lk_state_pass_done(l, t);
	}
	lk_feed_reset(l, t);   /* used or not, the next changes start the next one */
	return rc;
}
