/* The lake's tables as Apache Iceberg v2 tables (--lake-format iceberg): DIR/_iceberg/D/<table>/
 * with data/ (hard links of the plain layout's immutable files, so the Parquet bytes are the
 * writer's own) and metadata/ (manifests, manifest lists, vN.metadata.json, version-hint.text).
 * One snapshot per table per flush, committed before progress.json records the flush, so every
 * recorded change is in Iceberg; a commit that progress.json did not record is taken back out
 * at start (lk_ice_reconcile). Here: loading the tables at start and the lake's hooks; field
 * ids and schemas in iceberg_schema.c, commits in iceberg_commit.c, manifests (Avro) in
 * iceberg_avro.c, column metrics in iceberg_metrics.c. Layout and guarantees: docs/iceberg.md. */
#include "iceberg.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "idbsync/log.h"



static const char *const kind_suffix[3] = {"", "_changes", "_conflicts"};
const char *const ice_kind_name[3] = {"state", "changes", "conflicts"};

static int days_of(const char *dt)
{
	int y, m, d;
	if (!dt || sscanf(dt, "%d-%d-%d", &y, &m, &d) != 3)
		return 0;
	/* days from civil (Howard Hinnant) */
	y -= m <= 2;
	int era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (unsigned)(m + (m > 2 ? -3 : 9)) + 2) / 5 + (unsigned)d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int)doe - 719468;
}

static ice_ent *ent_find(lake *l, const lk_table *t)
{
	for (ice_ent *e = l->ice ? l->ice->ents : NULL; e; e = e->next)
		if (e->t == t)
			return e;
	return NULL;
}

/* ---- loading ---- */
static int read_json(const char *path, json_t **out, ids_error *err)
{
	ids_buf b = IDS_BUF_INIT;
	int rc = lk_read_file(path, &b, 256u << 20, err);
	if (!rc) {
		json_error_t je;
		*out = json_loadb(b.data, b.len, 0, &je);
		if (!*out)
			rc = ids_fail(err, IDS_ECORRUPT, "%s:%d: %s", path, je.line, je.text);
	}
	ids_buf_free(&b);
	return rc;
}

int ice_latest_version(const char *loc)
{
	char dir[IDS_PATH_MAX + 1];
	DIR *d = ids_path(dir, sizeof dir, NULL, "%s/metadata", loc) ? NULL : opendir(dir);
	int best = 0;
	struct dirent *de;
	while (d && (de = readdir(d))) {
		int v, end = 0;
		if (sscanf(de->d_name, "v%d.metadata.json%n", &v, &end) == 1 && end > 0 && !de->d_name[end] && v > best)
			best = v;
	}
	if (d)
		closedir(d);
	return best;
}


int64_t ice_main_snapshot(json_t *meta)
{
	json_t *r = json_object_get(json_object_get(json_object_get(meta, "refs"), "main"), "snapshot-id");
	if (!r)
		r = json_object_get(meta, "current-snapshot-id");
	return r && json_integer_value(r) > 0 ? (int64_t)json_integer_value(r) : 0;
}

/* The table's current metadata from its catalog: the newest vN.metadata.json, or the REST
 * catalog's answer. */
static int load_tbl(lake *l, ice_ent *e, int k, ids_error *err)
{
	ice_tbl *x = &e->k[k];
	int rc;
	if (l->o.iceberg_rest) {
		if ((rc = ice_rest_load(l, e, k, &x->meta, err)) || !x->meta)
			return rc;
	} else if (ice_cat_mode(l)) {
		if ((rc = ice_cat_load(l, x, &x->meta, err)) || !x->meta)
			return rc ? ids_wrap(err, "iceberg table %s: ", x->loc), rc : 0;
	} else {
		int v = ice_latest_version(x->loc);
		if (!v)
			return 0;
		char p[IDS_PATH_MAX + 1];
		if ((rc = ids_path(p, sizeof p, err, "%s/metadata/v%d.metadata.json", x->loc, v)) ||
		    (rc = read_json(p, &x->meta, err)))
			return rc;
		x->version = v;
	}
	ice_learn_schema(e, x->meta);
	json_int_t last = json_integer_value(json_object_get(x->meta, "last-column-id"));
	if (last >= e->next_id)
		e->next_id = (int)last + 1;
	int64_t cur = ice_main_snapshot(x->meta);
	json_t *snap = cur ? ice_find_by_id(x->meta, "snapshots", "snapshot-id", cur) : NULL;
	char buf[4600];
	const char *ml = ice_path(l->ice, json_string_value(json_object_get(snap, "manifest-list")), buf, sizeof buf);
	if (ml)
		rc = ice_read_manifest_list(l->ice, ml, &x->mfs, &x->n_mfs, err);
	for (size_t i = 0; !rc && i < x->n_mfs; i++) {
		size_t from = x->n_files;
		rc = ice_read_manifest(l->ice, x->mfs[i].path, x->mfs[i].seq, 0, &x->files, &x->n_files, err);
		for (size_t j = from; j < x->n_files; j++)
			x->files[j].spec = x->mfs[i].spec;   /* a later rewrite keeps each entry's spec */
	}
	if (!rc)
		rc = ice_load_grave(l->ice, x, err);
	for (size_t i = 0; !rc && i < x->n_files; i++) {
		struct stat st;
		if (!stat(x->files[i].path, &st)) {
			x->files[i].dev = st.st_dev;
			x->files[i].ino = st.st_ino;
		}
	}
	return rc ? ids_wrap(err, "iceberg table %s: ", x->loc), rc : 0;
}

int ice_ent_get(lake *l, lk_table *t, ice_ent **out, ids_error *err)
{
	if ((*out = ent_find(l, t)))
		return 0;
	ice_ent *e = calloc(1, sizeof *e);
	if (!e || !(e->ids = json_object()))
		return free(e), ids_fail(err, IDS_ENOMEM, "out of memory");
	e->t = t;
	e->next_id = ICE_FIRST_USER_ID;
	int rc = 0;
	for (int k = 0; k < 3; k++) {
		int prc = ids_path(e->k[k].loc, sizeof e->k[k].loc, rc ? NULL : err, "%s/%s/%s%s", l->ice->root, t->db,
				   t->table, kind_suffix[k]);
		if (!rc)
			rc = prc ? prc : load_tbl(l, e, k, err);
	}
	e->next = l->ice->ents;
	l->ice->ents = e;   /* kept even on error: lk_ice_free frees it */
	*out = e;
	return rc;
}

static void tbl_clear(ice_tbl *x)
{
	json_decref(x->meta);
	x->meta = NULL;
	ice_files_free(x->files, x->n_files);
	ice_files_free(x->grave, x->n_grave);
	ice_mfs_free(x->mfs, x->n_mfs);
	x->files = x->grave = NULL;
	x->mfs = NULL;
	free(x->uri);
	x->uri = NULL;
	x->n_files = x->n_grave = x->n_mfs = 0;
	x->version = 0;
}

int ice_tbl_reload(lake *l, ice_ent *e, int k, ids_error *err)
{
	tbl_clear(&e->k[k]);
	return load_tbl(l, e, k, err);
}

/* A table the REST catalog lists: the lake's if its properties say so. */
static void found_rest(lake *l, json_t *meta, void *ctx)
{
	int *rc = ctx;
	json_t *props = json_object_get(meta, "properties");
	const char *dbn = json_string_value(json_object_get(props, "idbsync.db"));
	const char *st = json_string_value(json_object_get(props, "idbsync.store"));
	lk_table *t;
	ice_ent *e;
	ids_error err = IDS_ERROR_INIT;
	if (!*rc && dbn && st && !lk_table_get(l, dbn, st, &t, &err) && ice_ent_get(l, t, &e, &err)) {
		ids_logf(IDS_LOG_WARN, "lake_iceberg", "iceberg: %s", err.msg);
		*rc = err.code;
	}
}

/* At start, before any commit of ours: what crashes and interrupted expiry left behind. */
static int remove_orphans(lake *l)
{
	for (ice_ent *e = l->ice->ents; e; e = e->next)
		for (int k = 0; k < 3; k++)
			ice_remove_orphans(l, &e->k[k]);
	return 0;
}

int lk_ice_open(lake *l, ids_error *err)
{
	if ((l->o.iceberg_rest || l->o.iceberg_warehouse) && l->o.format != LK_FORMAT_ICEBERG)
		return ids_fail(err, IDS_EINVAL, "--iceberg-rest and --iceberg-warehouse need --lake-format iceberg");
	if (l->o.iceberg_vend && l->o.format != LK_FORMAT_ICEBERG)
		return ids_fail(err, IDS_EINVAL, "--iceberg-vend-credentials needs --lake-format iceberg --iceberg-warehouse s3://...");
	if (l->o.format != LK_FORMAT_ICEBERG)
		return 0;
	if (!(l->ice = calloc(1, sizeof *l->ice)))
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	char abs[PATH_MAX];
	if (!realpath(l->dir, abs))
		return ids_fail(err, IDS_EIO, "%s: %s", l->dir, strerror(errno));
	int rc = ids_path(l->ice->root, sizeof l->ice->root, err, "%s/_iceberg", abs);
	if (!rc)
		rc = ids_mkdirs(l->ice->root, err);
	if (!rc && l->o.iceberg_warehouse) {
		s3_options so = {.endpoint = l->o.s3_endpoint, .region = l->o.s3_region};
		if (!(rc = s3_open(&l->ice->s3, l->o.iceberg_warehouse, &so, err)))
			rc = s3_uri(l->ice->s3, "", l->ice->s3_base, sizeof l->ice->s3_base, err);
		if (rc)
			return ids_wrap(err, "--iceberg-warehouse: "), rc;
	}
	if (!rc && l->o.iceberg_vend && (rc = ice_vend_init(l, err)))
		return rc;
	/* every table found, so the reconcile with the progress sees all of them */
	if (!rc && l->o.iceberg_rest) {
		int found = 0;
		if (!(rc = ice_rest_open(l, err)) && !(rc = ice_rest_list(l, found_rest, &found, err)) && found)
			rc = ids_fail(err, found, "iceberg rest catalog %s: a table of the lake did not load", l->o.iceberg_rest);
		return rc ? rc : remove_orphans(l);
	}
	if (!rc && ice_cat_mode(l))
		return (rc = ice_cat_open(l, err)) ? rc : remove_orphans(l);
	DIR *r = rc ? NULL : opendir(l->ice->root);
	struct dirent *d;
	while (!rc && r && (d = readdir(r))) {
		if (d->d_name[0] == '.' || d->d_name[0] == '_')
			continue;
		char db[IDS_PATH_MAX + 1];
		DIR *s = ids_path(db, sizeof db, NULL, "%s/%s", l->ice->root, d->d_name) ? NULL : opendir(db);
		struct dirent *td;
		while (!rc && s && (td = readdir(s))) {
			if (td->d_name[0] == '.')
				continue;
			char loc[IDS_PATH_MAX + 1], p[IDS_PATH_MAX + 1];
			int v = ids_path(loc, sizeof loc, NULL, "%s/%s", db, td->d_name) ? 0 : ice_latest_version(loc);
			if (!v)
				continue;
			json_t *m = NULL;
			if ((rc = ids_path(p, sizeof p, err, "%s/metadata/v%d.metadata.json", loc, v)) ||
			    (rc = read_json(p, &m, err)))
				break;
			json_t *props = json_object_get(m, "properties");
			const char *dbn = json_string_value(json_object_get(props, "idbsync.db"));
			const char *st = json_string_value(json_object_get(props, "idbsync.store"));
			lk_table *t;
			ice_ent *e;
			if (dbn && st && !(rc = lk_table_get(l, dbn, st, &t, err)))
				rc = ice_ent_get(l, t, &e, err);
			json_decref(m);
		}
		if (s)
			closedir(s);
	}
	if (r)
		closedir(r);
	return rc ? rc : remove_orphans(l);
}

void lk_ice_free(lake *l)
{
	if (!l->ice)
		return;
	while (l->ice->ents) {
		ice_ent *e = l->ice->ents;
		l->ice->ents = e->next;
		json_decref(e->ids);
		for (int k = 0; k < 3; k++) {
			tbl_clear(&e->k[k]);
			ice_files_free(e->k[k].pend, e->k[k].n_pend);
			ice_files_free(e->k[k].merged, e->k[k].n_merged);
		}
		free(e);
	}
	s3_free(l->ice->s3);
	free(l->ice->vend);
	free(l->ice);
	l->ice = NULL;
}

/* ---- metadata text ---- */
/* json_dumps keeps a hashtable of every container it enters (its loop check) and writes
 * through a callback: for a metadata JSON of 3,000 snapshots that was most of a commit's CPU
 * (docs/benchmarks.md). The metadata is a tree jansson built (no loops), so a plain walk. */
static void meta_text(ids_buf *o, const json_t *v)
{
	const char *k;
	json_t *x;
	size_t i, n = 0;
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		ids_buf_putc(o, '{');
		json_object_foreach((json_t *)v, k, x) {
			if (n++)
				ids_buf_putc(o, ',');
			ids_buf_json_str(o, k, strlen(k));
			ids_buf_putc(o, ':');
			meta_text(o, x);
		}
		ids_buf_putc(o, '}');
		break;
	case JSON_ARRAY:
		ids_buf_putc(o, '[');
		json_array_foreach(v, i, x) {
			if (i)
				ids_buf_putc(o, ',');
			meta_text(o, x);
		}
		ids_buf_putc(o, ']');
		break;
	case JSON_STRING:
		ids_buf_json_str(o, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		ids_buf_i64(o, (int64_t)json_integer_value(v));
		break;
	case JSON_REAL: {
		char b[40];
		snprintf(b, sizeof b, "%.17g", json_real_value(v));
		ids_buf_puts(o, b);
		if (!strpbrk(b, ".eEn"))   /* still a real when read back, as jansson writes it */
			ids_buf_puts(o, ".0");
		break;
	}
	case JSON_TRUE:
		ids_buf_puts(o, "true");
		break;
	case JSON_FALSE:
		ids_buf_puts(o, "false");
		break;
	default:
		ids_buf_puts(o, "null");
	}
}

char *ice_meta_text(const json_t *meta)
{
	ids_buf o = IDS_BUF_INIT;
	meta_text(&o, meta);
	if (o.failed) {
		ids_buf_free(&o);
		return NULL;
	}
	return ids_buf_steal(&o, NULL);
}

/* ---- hooks ---- */
/* Adds a plain-layout file to a list of files to commit (once: a replay updates its rows). */
static void file_add(ice_file **list, size_t *n, const char *path, const char *dt, int64_t first, int64_t last,
		     int64_t rows)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp((*list)[i].path, path)) {
			(*list)[i].rows = rows;
			return;
		}
	ice_file *a = realloc(*list, (*n + 1) * sizeof *a);
	if (!a)
		return;
	*list = a;
	ice_file *f = &a[*n];
	memset(f, 0, sizeof *f);
	if (!(f->path = strdup(path)))
		return;
	(*n)++;
	f->status = 1;
	f->rows = rows;
	f->first = first;
	f->last = last;
	f->day = days_of(dt);
}

void lk_ice_add_file(lake *l, lk_table *t, lk_table_kind kind, const char *path, const char *dt, int64_t first,
		     int64_t last, int64_t rows)
{
	ice_ent *e;
	ids_error err = IDS_ERROR_INIT;
	if (l->ice && !ice_ent_get(l, t, &e, &err))   /* a load error comes back at the commit */
		file_add(&e->k[kind].pend, &e->k[kind].n_pend, path, dt, first, last, rows);
}

void lk_ice_compacted(lake *l, lk_table *t, const char *path, const char *dt, int64_t first, int64_t last)
{
	ice_ent *e;
	ids_error err = IDS_ERROR_INIT;
	if (l->ice && !ice_ent_get(l, t, &e, &err))   /* rows: from its footer at the commit */
		file_add(&e->k[LK_T_CHANGES].merged, &e->k[LK_T_CHANGES].n_merged, path, dt, first, last, 0);
}

void lk_ice_state_written(lake *l, lk_table *t)
{
	ice_ent *e;
	ids_error err = IDS_ERROR_INIT;
	if (l->ice && !ice_ent_get(l, t, &e, &err))
		e->k[LK_T_STATE].state_dirty = 1;
}

/* A compaction cut off by a kill -9 between the plain layout's merge and the Iceberg commit
 * that swaps the merged file in: the plain day dir has the merged file, the Iceberg change log
 * still has its small files. Each plain file whose seq range holds two or more live Iceberg
 * files of its day is queued as merged again (the next commit checks their rows against its
 * footer, ice_commit_compaction), so the redo needs no record of the merge. */
static void redo_compactions(lake *l, ice_ent *e)
{
	ice_tbl *x = &e->k[LK_T_CHANGES];
	if (x->n_files < 2)
		return;
	char base[4096];
	lk_table_dir(l, e->t, "_changes", base, sizeof base);
	DIR *d = opendir(base);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (strncmp(de->d_name, "dt=", 3))
			continue;
		int day = days_of(de->d_name + 3);
		size_t of_day = 0;
		for (size_t i = 0; i < x->n_files; i++)
			of_day += x->files[i].day == day;
		char dir[IDS_PATH_MAX + 1];
		DIR *dd = of_day >= 2 && !ids_path(dir, sizeof dir, NULL, "%s/%s", base, de->d_name) ? opendir(dir) : NULL;
		struct dirent *fe;
		while (dd && (fe = readdir(dd))) {
			int64_t first, last;
			int end = 0;
			if (sscanf(fe->d_name, "part-%" SCNd64 "-%" SCNd64 ".parquet%n", &first, &last, &end) != 2 ||
			    fe->d_name[end])
				continue;
			size_t within = 0;
			for (size_t i = 0; i < x->n_files; i++) {
				const ice_file *f = &x->files[i];
				within += f->day == day && f->first >= first && f->last <= last && f->last > 0;
			}
			char path[IDS_PATH_MAX + 1];
			if (within >= 2 && !ids_path(path, sizeof path, NULL, "%s/%s", dir, fe->d_name)) {
				ids_logf(IDS_LOG_INFO, "lake_iceberg", "iceberg: redoing the compaction of %zu files into %s", within,
					 path);
				lk_ice_compacted(l, e->t, path, de->d_name + 3, first, last);
			}
		}
		if (dd)
			closedir(dd);
	}
	if (d)
		closedir(d);
}

void lk_ice_reconcile(lake *l)
{
	if (!l->ice)
		return;
	for (ice_ent *e = l->ice->ents; e; e = e->next) {
		for (int k = LK_T_CHANGES; k <= LK_T_CONFLICTS; k++) {
			ids_error err = IDS_ERROR_INIT;
			if (ice_reconcile_tbl(l, e, k, &err))
				ids_logf(IDS_LOG_WARN, "lake_iceberg", "iceberg reconcile failed (retried before the next commit): %s",
					err.msg);
		}
		redo_compactions(l, e);
	}
}

/* One table's commit. Through a REST catalog a conflict (another writer committed since the
 * table was read; commit_tbl has re-read it) builds the commit again on what the catalog has. */
#define REST_ATTEMPTS 5
static int commit_kind(lake *l, ice_ent *e, int k, int64_t changes, int64_t state, int64_t conflicts, ids_error *err)
{
	int rc = 0;
	for (int a = 1; a <= REST_ATTEMPTS; a++) {
		rc = k == LK_T_STATE ? ice_commit_state(l, e, state, err) : ice_commit_log(l, e, k, changes, conflicts, err);
		if (rc != IDS_ECONFLICT || !l->o.iceberg_rest || a == REST_ATTEMPTS)
			break;
		ids_logf(IDS_LOG_WARN, "lake_iceberg", "iceberg rest: commit conflict on %s (attempt %d), re-read, retrying: %s",
			e->k[k].loc, a, err->msg);
		*err = (ids_error)IDS_ERROR_INIT;
	}
	return rc;
}

int lk_ice_commit(lake *l, int64_t changes, int64_t state, int64_t conflicts, ids_error *err)
{
	if (!l->ice)
		return 0;
	int rc = 0;
	for (ice_ent *e = l->ice->ents; !rc && e; e = e->next)
		for (int k = LK_T_CHANGES; !rc && k <= LK_T_CONFLICTS; k++)
			if (e->k[k].reconcile)
				rc = ice_reconcile_tbl(l, e, k, err);
	for (ice_ent *e = l->ice->ents; !rc && e; e = e->next) {
		if (e->k[LK_T_CHANGES].n_merged && !e->t->log_held) {
			ids_error cerr = IDS_ERROR_INIT;   /* optional: a failure leaves the small files */
			if (ice_commit_compaction(l, e, &cerr))
				ids_logf(IDS_LOG_WARN, "lake_iceberg", "iceberg compaction of %s left out: %s", e->k[LK_T_CHANGES].loc,
					cerr.msg);
		}
		if (e->k[LK_T_CHANGES].n_pend)
			rc = commit_kind(l, e, LK_T_CHANGES, changes, state, conflicts, err);
		if (!rc && e->k[LK_T_CONFLICTS].n_pend)
			rc = commit_kind(l, e, LK_T_CONFLICTS, changes, state, conflicts, err);
		if (!rc && e->k[LK_T_STATE].state_dirty && !e->t->state_held)
			rc = commit_kind(l, e, LK_T_STATE, changes, state, conflicts, err);
	}
	if (!rc)
		ice_test_kill("commit");
	return rc;
}
