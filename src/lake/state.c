/* The current state of a table: 2^k hash buckets, each rebuilt copy-on-write from the
 * ledger's rows under a new name (part-<b>-<gen>) into the table's next version, which one
 * RENAME_EXCHANGE swaps in (state_tree.c); the dirty buckets of a flush are written by one scan
 * of the ledger (run_group). A new schema version or a bucket past its target size rebuilds
 * the whole table the same way. Partitioned tables put their files under <col>=<value>/: the
 * exchange moves a row between partitions at once (docs/lake-layout.md). */
#include "iceberg.h"
#include "lake_int.h"

#include "idbsync/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
			t->gen = json_integer_value(json_object_get(j, "gen"));
			lk_delta_read_meta(t, j);
			json_decref(j);
		}
	}
	ids_buf_free(&b);
	return 0;
}

typedef struct pw {
	char *part;              /* "" or "col=value" */
	pq_writer *full;
	char final[IDS_PATH_MAX + 1];
} pw;

typedef struct job {
	lake *l;
	lk_table *t;
	pq_node *schema;
	pq_write_options wo;
	lk_tree *x;              /* the next version of the table dir */
	uint32_t b;              /* bucket */
	uint32_t file_no;        /* part-<file_no>-<gen>.parquet */
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
	char sub[IDS_PATH_MAX + 1];
	int rc = ids_path(sub, sizeof sub, j->err, "%s/%s", j->x->next, part);
	if (!rc && part[0])
		rc = ids_mkdirs(sub, j->err);
	if (!rc)
		rc = lk_tree_path(j->x, part, j->file_no, x->final, sizeof x->final, j->err);
	if (rc)
		return rc;
	*out = x;
	/* straight into the next version: no reader lists it before the exchange */
	return open_writer(j, &x->full, x->final);
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
	return rc;
}

static void job_free(job *j)
{
	for (size_t i = 0; i < j->n_parts; i++) {
		pq_writer_free(j->parts[i].full);
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

/* Every partition dir that held a file of this bucket gets a (possibly empty) one again: a
 * partition dir, once made, keeps files of the buckets it had (engines that cache the list of
 * partitions find it). */
static int keep_partitions(job *j)
{
	int rc = 0;
	for (size_t i = 0; !rc && i < j->x->n_old; i++) {
		const lk_sfile *f = &j->x->old[i];
		char part[IDS_PATH_MAX + 1];
		if (f->no != j->b || !f->sub_len || f->sub_len >= sizeof part)
			continue;
		memcpy(part, f->rel, f->sub_len);
		part[f->sub_len] = 0;
		pw *x;
		rc = get_part(j, part, &x);
	}
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

static int on_group_row(void *ctx, const ledger_row *r)
{
	group *g = ctx;
	uint32_t b = g->k ? r->hash >> (32 - g->k) : 0;
	int32_t s = g->slot[b];
	return s < 0 ? 0 : on_row(&g->jobs[s], r);
}

static int run_group(lake *l, lk_table *t, int k, const uint32_t *buckets, size_t n, const lk_state_src *src,
		     lk_tree *x, int64_t *max_size, ids_error *err)
{
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
		*j = (job){.l = l, .t = t, .x = x, .b = buckets[i], .err = err,
			   .file_no = src->file_no ? src->file_no : buckets[i]};
		lk_tree_replace(x, j->file_no);
		g.slot[buckets[i]] = (int32_t)i;
		lk_write_opts(l, &j->wo);
		j->wo.row_group_bytes = rg;
		j->schema = lk_table_schema(l, t, LK_T_STATE);
		pw *p;
		if (!j->schema)
			rc = ids_fail(err, IDS_ENOMEM, "schema: out of memory");
		else if (!t->part_field)
			rc = get_part(j, "", &p);   /* an empty bucket is an empty file */
		else
			rc = keep_partitions(j);
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
			int64_t sz = !rc ? lk_file_size(g.jobs[i].parts[p].final) : 0;
			if (sz > *max_size)
				*max_size = sz;
		}
	for (size_t i = 0; g.jobs && i < n; i++)
		job_free(&g.jobs[i]);   /* a failure's files: in the next version, removed with it */
	free(g.jobs);
	free(g.slot);
	return rc;
}

/* Runs buckets[0..n) in groups of at most GROUP_MAX open buckets. */
int lk_state_run(lake *l, lk_table *t, int k, const uint32_t *buckets, size_t n, const lk_state_src *src,
		 lk_tree *x, int64_t *max_size, ids_error *err)
{
	int rc = 0;
	for (size_t i = 0; !rc && i < n; i += GROUP_MAX)
		rc = run_group(l, t, k, buckets + i, n - i < GROUP_MAX ? n - i : GROUP_MAX, src, x, max_size, err);
	return rc;
}

int lk_state_run_dirty(lake *l, lk_table *t, const lk_state_src *src, lk_tree *x, int64_t *max_size, ids_error *err)
{
	uint32_t *dirty = malloc(sizeof *dirty << t->k);
	size_t nd = 0;
	if (!dirty)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	for (uint32_t b = 0; b < (1u << t->k); b++)
		if (bucket_dirty(t, t->k, b))
			dirty[nd++] = b;
	int rc = lk_state_run(l, t, t->k, dirty, nd, src, x, max_size, err);
	free(dirty);
	return rc;
}

/* Whole table into DIR/D/.<table>.next, then exchanged with the visible dir. */
static int rebuild(lake *l, lk_table *t, int k, int64_t *max_size, ids_error *err)
{
	lk_tree x;
	int rc = lk_tree_begin(l, t, &x, 1, err);
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
		rc = lk_state_run(l, t, k, all, (size_t)1 << k, &src, &x, max_size, err);
	free(all);
	if (!rc) {
		t->upto = upto;
		free(t->deltas);
		t->deltas = NULL;
		t->n_deltas = 0;
		rc = lk_tree_commit(l, t, &x, k, err);
		t->rebuild |= rc != 0;   /* the deltas above are forgotten: the retry rebuilds */
	}
	lk_tree_free(&x);   /* the old version, or what failed */
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
			lk_tree x;
			if (!(rc = lk_tree_begin(l, t, &x, 0, err))) {
				if (!(rc = lk_state_run_dirty(l, t, &all, &x, &max_size, err)))
					rc = lk_tree_commit(l, t, &x, t->k, err);
				lk_tree_free(&x);
			}
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

/* A pass changes the dir in one exchange and never writes over a name, so a query that lists
 * once reads one version or fails with file-not-found; the number still tells a reader whether
 * its query spanned a pass (one that lists partition dirs one by one can miss a moved row then:
 * docs/lake-layout.md, "What a reader sees"). Not fsynced (two per table and pass): the floor
 * (clock ms x 2000) keeps the number growing across a crash that lost or rolled back the file. */
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
