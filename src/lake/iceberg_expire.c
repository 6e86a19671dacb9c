/* Snapshot expiry of the Iceberg tables (--iceberg-keep, default 10 minutes, and
 * --iceberg-keep-snapshots N): a commit drops the snapshots older than that or beyond the newest
 * N from the metadata it writes (16 at a time, never the current one or its parent), and once
 * that metadata is committed unlinks what only they referenced: the metadata versions older
 * than the metadata log, their manifest lists, the manifests no kept snapshot lists, the data
 * files removed from the table at or before the oldest kept snapshot (the graveyard). A crash in between leaves orphan files, never a missing one; those (and
 * the files of a commit a crash interrupted) are removed at start once older than the window:
 * ice_remove_orphans. docs/iceberg.md, "Snapshot expiry" and "Orphan files". */
#include "iceberg.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "idbsync/log.h"

#define EXPIRE_BATCH 16
#define DEFAULT_KEEP_MS ((int64_t)10 * 60 * 1000)

/* Whether snapshot s goes: older than the age limit (cutoff), or not among the newest keep_n
 * (rank: how many snapshots are newer); never the new snapshot or its parent. */
static int expirable(json_t *s, int64_t cutoff, size_t rank, int64_t keep_n, int64_t new_snap, int64_t parent)
{
	json_int_t id = json_integer_value(json_object_get(s, "snapshot-id"));
	if (id == new_snap || id == parent)
		return 0;
	return json_integer_value(json_object_get(s, "timestamp-ms")) < cutoff || (keep_n > 0 && (int64_t)rank >= keep_n);
}

/* How many snapshots of snaps have a higher sequence number than s. */
static size_t newer(json_t *snaps, json_t *s)
{
	json_int_t q = json_integer_value(json_object_get(s, "sequence-number"));
	json_t *o;
	size_t i, n = 0;
	json_array_foreach(snaps, i, o)
		n += json_integer_value(json_object_get(o, "sequence-number")) > q;
	return n;
}

json_t *ice_expire_snapshots(lake *l, json_t *meta, int64_t now, int64_t new_snap, int64_t parent)
{
	int64_t keep = l->o.iceberg_keep_ms ? l->o.iceberg_keep_ms : DEFAULT_KEEP_MS;
	int64_t keep_n = l->o.iceberg_keep_snapshots;
	if (keep < 0 && keep_n <= 0)
		return NULL;
	int64_t cutoff = keep < 0 ? INT64_MIN : now - keep;
	json_t *snaps = json_object_get(meta, "snapshots");
	size_t i, n = 0;
	json_t *s;
	json_array_foreach(snaps, i, s)
		n += expirable(s, cutoff, newer(snaps, s), keep_n, new_snap, parent);
	if (n < EXPIRE_BATCH)
		return NULL;
	json_t *kept = json_array(), *gone = json_array();
	json_int_t last_gone = INT64_MIN;   /* the newest timestamp that goes */
	json_array_foreach(snaps, i, s)
	{
		int go = expirable(s, cutoff, newer(snaps, s), keep_n, new_snap, parent);
		json_array_append(go ? gone : kept, s);
		json_int_t ts = json_integer_value(json_object_get(s, "timestamp-ms"));
		if (go && ts > last_gone)
			last_gone = ts;
	}
	json_object_set_new(meta, "snapshots", kept);
	/* the snapshot log keeps only the entries after the last expired snapshot */
	json_t *log = json_object_get(meta, "snapshot-log"), *nlog = json_array(), *e;
	size_t from = 0, j;
	json_array_foreach(log, i, e)
	{
		json_int_t id = json_integer_value(json_object_get(e, "snapshot-id"));
		json_array_foreach(gone, j, s)
			if (json_integer_value(json_object_get(s, "snapshot-id")) == id)
				from = i + 1;
	}
	json_array_foreach(log, i, e)
		if (i >= from)
			json_array_append(nlog, e);
	json_object_set_new(meta, "snapshot-log", nlog);
	/* and the metadata log the versions written after the newest expired snapshot: a version
	 * whose current snapshot goes (committed at its timestamp) leaves the log, and its file
	 * the disk, before the snapshot's files do */
	json_t *mlog = json_object_get(meta, "metadata-log"), *nm = json_array();
	json_array_foreach(mlog, i, e)
		if (json_integer_value(json_object_get(e, "timestamp-ms")) > last_gone)
			json_array_append(nm, e);
	json_object_set_new(meta, "metadata-log", nm);
	return gone;
}

static int listed(const ice_mf *m, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(m[i].path, path))
			return 1;
	return 0;
}

void ice_drop_old_versions(lk_ice *ice, const ice_tbl *x, json_t *meta, int current)
{
	int lowest = current;
	json_t *e;
	size_t i;
	json_array_foreach(json_object_get(meta, "metadata-log"), i, e)
	{
		const char *f = json_string_value(json_object_get(e, "metadata-file"));
		const char *b = f ? strrchr(f, '/') : NULL;
		int v = 0;
		if (b && sscanf(b, "/v%d", &v) == 1 && v > 0 && v < lowest)
			lowest = v;
	}
	char dir[IDS_PATH_MAX + 1];
	DIR *d = ids_path(dir, sizeof dir, NULL, "%s/metadata", x->loc) ? NULL : opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		/* vN.metadata.json, or v<N>-<uuid>.metadata.json (the state's catalog) */
		int v = 0;
		size_t nl = strlen(de->d_name);
		if (sscanf(de->d_name, "v%d", &v) == 1 && v > 0 && v < lowest && nl > 14 &&
		    !strcmp(de->d_name + nl - 14, ".metadata.json")) {
			char p[IDS_PATH_MAX + 1];
			if (!ids_path(p, sizeof p, NULL, "%s/%s", dir, de->d_name))
				ice_remove(ice, p);
		}
	}
	if (d)
		closedir(d);
}

void ice_expire_files(lk_ice *ice, ice_tbl *x, json_t *meta, json_t *expired)
{
	/* the oldest kept snapshot: everything a kept snapshot lists is in its list or newer */
	json_t *oldest = NULL, *s;
	size_t i;
	json_array_foreach(json_object_get(meta, "snapshots"), i, s)
		if (!oldest || json_integer_value(json_object_get(s, "sequence-number")) <
				       json_integer_value(json_object_get(oldest, "sequence-number")))
			oldest = s;
	if (!oldest)
		return;
	/* in this order, so a kill -9 between any two steps leaves only metadata versions whose
	 * files all exist: the versions that named the expired snapshots, then their manifest
	 * lists and manifests, then the data files */
	ice_test_kill("expire");
	if (x->version)
		ice_drop_old_versions(ice, x, meta, x->version);
	ice_test_kill("expire-meta");
	int64_t floor = (int64_t)json_integer_value(json_object_get(oldest, "sequence-number"));
	ice_mf *keep = NULL;
	size_t n_keep = 0;
	ids_error err = IDS_ERROR_INIT;
	char kbuf[4600], mbuf[4600];
	const char *kl = ice_path(ice, json_string_value(json_object_get(oldest, "manifest-list")), kbuf, sizeof kbuf);
	if (!kl || ice_read_manifest_list(ice, kl, &keep, &n_keep, &err)) {
		ice_mfs_free(keep, n_keep);
		return;   /* unsure what is kept: nothing is removed (orphans at worst) */
	}
	json_array_foreach(expired, i, s)
	{
		const char *ml = ice_path(ice, json_string_value(json_object_get(s, "manifest-list")), mbuf, sizeof mbuf);
		ice_mf *mfs = NULL;
		size_t n = 0;
		ids_error e2 = IDS_ERROR_INIT;
		if (!ml || ice_read_manifest_list(ice, ml, &mfs, &n, &e2)) {
			ice_mfs_free(mfs, n);
			continue;
		}
		for (size_t k = 0; k < n; k++)
			if (!listed(keep, n_keep, mfs[k].path))
				ice_remove(ice, mfs[k].path);
		ice_mfs_free(mfs, n);
		ice_remove(ice, ml);
	}
	ice_mfs_free(keep, n_keep);
	ice_test_kill("expire-lists");
	/* a file removed at snapshot seq D is in the snapshots before D only */
	size_t w = 0;
	for (size_t k = 0; k < x->n_grave; k++) {
		if (x->grave[k].seq <= floor) {
			ice_remove(ice, x->grave[k].path);
			ice_test_kill("expire-data");
			free(x->grave[k].path);
			free(x->grave[k].m);
		} else {
			x->grave[w++] = x->grave[k];
		}
	}
	x->n_grave = w;
}

int ice_load_grave(lk_ice *ice, ice_tbl *x, ids_error *err)
{
	json_t *s;
	size_t i;
	int rc = 0;
	json_array_foreach(json_object_get(x->meta, "snapshots"), i, s)
	{
		char buf[4600];
		const char *ml = ice_path(ice, json_string_value(json_object_get(s, "manifest-list")), buf, sizeof buf);
		int64_t id = (int64_t)json_integer_value(json_object_get(s, "snapshot-id"));
		int64_t seq = (int64_t)json_integer_value(json_object_get(s, "sequence-number"));
		ice_mf *mfs = NULL;
		size_t n = 0;
		if (ml && (rc = ice_read_manifest_list(ice, ml, &mfs, &n, err)))
			break;
		for (size_t k = 0; !rc && k < n; k++) {
			if (mfs[k].snap != id)
				continue;   /* written by an earlier snapshot: its removals are that one's */
			size_t before = x->n_grave;
			rc = ice_read_manifest(ice, mfs[k].path, seq, 1, &x->grave, &x->n_grave, err);
			for (size_t g = before; g < x->n_grave; g++)
				x->grave[g].seq = seq;
		}
		ice_mfs_free(mfs, n);
		if (rc)
			break;
	}
	return rc;
}

/* ---- orphan files ---- */
/* Every manifest list, manifest and data file that a snapshot of meta names (removed entries
 * too: an older snapshot still reads them) into set; fails naming the first that cannot be read. */
static int referenced(lk_ice *ice, json_t *meta, json_t *set, ids_error *err)
{
	json_t *s;
	size_t i;
	int rc = 0;
	json_array_foreach(json_object_get(meta, "snapshots"), i, s)
	{
		char buf[4600];
		const char *ml = ice_path(ice, json_string_value(json_object_get(s, "manifest-list")), buf, sizeof buf);
		ice_mf *mfs = NULL;
		size_t n = 0;
		if (!ml)
			return ids_fail(err, IDS_ECORRUPT, "snapshot %zu has no manifest-list", i);
		if ((rc = ice_read_manifest_list(ice, ml, &mfs, &n, err))) {
			ice_mfs_free(mfs, n);
			return rc;
		}
		json_object_set_new(set, ml, json_true());
		for (size_t k = 0; !rc && k < n; k++) {
			json_object_set_new(set, mfs[k].path, json_true());
			for (int del = 0; !rc && del < 2; del++) {
				ice_file *f = NULL;
				size_t nf = 0;
				rc = ice_read_manifest(ice, mfs[k].path, 0, del, &f, &nf, err);
				for (size_t j = 0; j < nf; j++)
					json_object_set_new(set, f[j].path, json_true());
				ice_files_free(f, nf);
			}
		}
		ice_mfs_free(mfs, n);
		if (rc)
			return rc;
	}
	return 0;
}

/* Removes the files under dir (recursively) that set does not name, ending in suffix, last
 * changed before cutoff. Returns how many. */
static size_t sweep(lk_ice *ice, const char *dir, const char *suffix, json_t *set, time_t cutoff)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0, sl = strlen(suffix);
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char p[IDS_PATH_MAX + 1];
		struct stat st;
		if (ids_path(p, sizeof p, NULL, "%s/%s", dir, de->d_name) || lstat(p, &st))
			continue;
		size_t nl = strlen(de->d_name);
		if (S_ISDIR(st.st_mode))
			n += sweep(ice, p, suffix, set, cutoff);
		else if (nl > sl && !strcmp(de->d_name + nl - sl, suffix) && !json_object_get(set, p) && st.st_mtime < cutoff) {
			ice_remove(ice, p);
			n++;
			ice_test_kill("orphan");   /* the crash tests: cut off in the middle of a sweep */
		}
	}
	if (d)
		closedir(d);
	return n;
}

void ice_remove_orphans(lake *l, ice_tbl *x)
{
	if (!x->meta)
		return;
	if (x->version)   /* an expiry cut off before it got to them: they name what goes next */
		ice_drop_old_versions(l->ice, x, x->meta, x->version);
	int64_t keep = l->o.iceberg_keep_ms > 0 ? l->o.iceberg_keep_ms : DEFAULT_KEEP_MS;
	json_t *set = json_object();
	ids_error err = IDS_ERROR_INIT;
	if (!set || referenced(l->ice, x->meta, set, &err)) {
		/* unsure what is referenced: nothing is removed */
		ids_logf(IDS_LOG_WARN, "lake_iceberg", "iceberg %s: orphan files not looked for: %s", x->loc,
			 set ? err.msg : "out of memory");
		json_decref(set);
		return;
	}
	for (size_t i = 0; i < x->n_grave; i++)   /* unlinked by expiry, in its time */
		json_object_set_new(set, x->grave[i].path, json_true());
	time_t cutoff = time(NULL) - (time_t)(keep / 1000);
	/* a name that does not fit is empty: nothing is swept there */
	char dir[IDS_PATH_MAX + 1];
	ids_path(dir, sizeof dir, NULL, "%s/data", x->loc);
	size_t n = sweep(l->ice, dir, ".parquet", set, cutoff);
	ids_path(dir, sizeof dir, NULL, "%s/metadata", x->loc);
	n += sweep(l->ice, dir, ".avro", set, cutoff);
	if (x->uri) {   /* the state's catalog: a metadata file of a commit the state did not take */
		char buf[4800];
		json_t *e;
		size_t i;
		json_object_set_new(set, ice_path(l->ice, x->uri, buf, sizeof buf), json_true());
		json_array_foreach(json_object_get(x->meta, "metadata-log"), i, e)
		{
			const char *p = ice_path(l->ice, json_string_value(json_object_get(e, "metadata-file")), buf, sizeof buf);
			if (p)
				json_object_set_new(set, p, json_true());
		}
		n += sweep(l->ice, dir, ".metadata.json", set, cutoff);
	}
	if (l->ice->s3) {   /* what S3 holds that the mirror does not know (a lost mirror) */
		static const char *const data_sfx[] = {".parquet", NULL}, *const meta_sfx[] = {".avro", NULL},
					 *const cat_sfx[] = {".avro", ".metadata.json", NULL};
		ids_path(dir, sizeof dir, NULL, "%s/data", x->loc);
		n += ice_sweep_s3(l->ice, dir, data_sfx, set, cutoff);
		ids_path(dir, sizeof dir, NULL, "%s/metadata", x->loc);
		n += ice_sweep_s3(l->ice, dir, x->uri ? cat_sfx : meta_sfx, set, cutoff);
	}
	if (n)
		ids_logf(IDS_LOG_INFO, "lake_iceberg", "iceberg %s: removed %zu orphan file(s)", x->loc, n);
	json_decref(set);
}
