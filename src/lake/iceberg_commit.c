/* Iceberg commits: one snapshot of one table (manifest, manifest list, then the next
 * metadata/vN.metadata.json created with link(2), the commit, then version-hint.text), the
 * appends of the change log and conflicts (the current state's commit: iceberg_state.c),
 * and the "delete" snapshot that takes files past the recorded progress back
 * out after a crash. docs/iceberg.md, "Commit and crash safety". */
#include "iceberg.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include "idbsync/log.h"

#define FAST_APPEND_MAX 64      /* manifests in a list before an append rewrites them into one */
#define ID_SEQ 3                /* idb_seq */
#define ID_ID 11                /* idb_id */

/* The crash tests' kill -9 at an exact step: IDBSYNC_TEST_ICEBERG_KILL=<step>:<n> kills the
 * process at the n-th time it reaches step (list: manifest list written, metadata not; hint:
 * vN.metadata.json created, version-hint.text not; meta: the metadata committed (and its hint),
 * the in-memory view not; <op>-list, <op>-meta: the same in a commit of that
 * operation, e.g. replace-list; compact-link: a compaction's merged file linked in, its commit
 * not begun; commit: every table committed, progress.json not; expire, expire-meta,
 * expire-lists, expire-data: the steps of an expiry, iceberg_expire.c; orphan: an orphan file
 * removed at start, the others not yet). tests/lake/iceberg_kills.json lists the ones tested. */
void ice_test_kill(const char *step)
{
	static int count;
	const char *v = getenv("IDBSYNC_TEST_ICEBERG_KILL");
	size_t n = strlen(step);
	if (v && !strncmp(v, step, n) && v[n] == ':' && ++count == atoi(v + n + 1))
		raise(SIGKILL);
}

static int64_t rand63(void)
{
	uint64_t r = 0;
	if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
		r = ((uint64_t)rand() << 32) ^ (uint64_t)rand() ^ (uint64_t)lk_now_ms();
	r &= INT64_MAX;
	return r ? (int64_t)r : 1;
}

static void uuid4(char out[37])
{
	uint8_t b[16];
	for (int i = 0; i < 2; i++) {
		int64_t r = rand63();
		memcpy(b + 8 * i, &r, 8);
	}
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3],
		 b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* ---- commit ---- */
/* The next commit's metadata from the current one: a shallow copy whose arrays a commit
 * appends to (or expiry replaces) are copied too, the snapshots and log entries themselves
 * shared, never changed in place. A deep copy of every snapshot, and its free, was most of a
 * flush's CPU once a table kept thousands of snapshots (docs/benchmarks.md). */
static json_t *next_metadata(json_t *cur)
{
	static const char *const grown[] = {"schemas", "snapshots", "snapshot-log", "metadata-log", "partition-specs"};
	json_t *m = json_copy(cur);
	for (size_t i = 0; m && i < sizeof grown / sizeof *grown; i++) {
		json_t *a = json_object_get(m, grown[i]);
		if (a && json_object_set_new(m, grown[i], json_copy(a))) {
			json_decref(m);
			return NULL;
		}
	}
	return m;
}

static json_t *new_metadata(lake *l, ice_ent *e, int k)
{
	char uuid[37], loc[4500];
	uuid4(uuid);
	if (ice_uri(l->ice, e->k[k].loc, loc, sizeof loc))
		return NULL;
	json_t *spec = json_pack("{sis[]}", "spec-id", 0, "fields");
	if (k == LK_T_CHANGES)
		json_array_append_new(json_object_get(spec, "fields"),
				      json_pack("{sisissss}", "source-id", 9, "field-id", 1000, "name", "idb_ts_day",
						"transform", "day"));
	int sort_col = k == LK_T_CHANGES ? ID_SEQ : k == LK_T_CONFLICTS ? ID_ID : 0;
	json_t *orders = json_pack("[{sis[]}]", "order-id", 0, "fields");
	if (sort_col)
		json_array_append_new(orders, json_pack("{sis[{sssissss}]}", "order-id", 1, "fields", "transform", "identity",
							"source-id", sort_col, "direction", "asc", "null-order",
							"nulls-first"));
	json_t *m = json_object();
	json_object_set_new(m, "format-version", json_integer(2));
	json_object_set_new(m, "table-uuid", json_string(uuid));
	json_object_set_new(m, "location", json_string(loc));
	json_object_set_new(m, "last-sequence-number", json_integer(0));
	json_object_set_new(m, "last-updated-ms", json_integer(lk_now_ms()));
	json_object_set_new(m, "last-column-id", json_integer(0));
	json_object_set_new(m, "current-schema-id", json_integer(-1));
	json_object_set_new(m, "schemas", json_array());
	json_object_set_new(m, "default-spec-id", json_integer(0));
	json_object_set_new(m, "partition-specs", json_pack("[o]", spec));
	json_object_set_new(m, "last-partition-id", json_integer(k == LK_T_CHANGES ? 1000 : 999));
	json_object_set_new(m, "sort-orders", orders);
	json_object_set_new(m, "default-sort-order-id", json_integer(sort_col ? 1 : 0));
	json_object_set_new(m, "properties",
			    json_pack("{ssssssss}", "idbsync.db", e->t->db, "idbsync.store", e->t->store, "idbsync.kind",
				      ice_kind_name[k], "write.parquet.compression-codec",
				      l->profile == PQ_PROFILE_MODERN ? "zstd" : "snappy"));
	json_object_set_new(m, "refs", json_object());
	json_object_set_new(m, "snapshots", json_array());
	json_object_set_new(m, "snapshot-log", json_array());
	json_object_set_new(m, "metadata-log", json_array());
	return m;
}

static int mkdir_in(const char *loc, const char *sub, char *out, size_t sz, ids_error *err)
{
	int rc = ids_path(out, sz, err, "%s/%s", loc, sub);
	return rc ? rc : ids_mkdirs(out, err);
}

static void summary_add(json_t *s, const char *k, int64_t v)
{
	char b[24];
	snprintf(b, sizeof b, "%" PRId64, v);
	json_object_set_new(s, k, json_string(b));
}

/* The file-system catalog's commit: v<N+1>.metadata.json created (never replacing one), then
 * the hint (only a hint: readers also look for v<N+1>). */
static int fs_commit(ice_tbl *x, const char *mdir, json_t *meta, ids_error *err)
{
	char *body = ice_meta_text(meta);
	if (!body)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	char vpath[IDS_PATH_MAX + 1];
	int rc = ids_path(vpath, sizeof vpath, err, "%s/v%d.metadata.json", mdir, x->version + 1);
	if (!rc)
		rc = ice_create_file(vpath, body, strlen(body), err);
	free(body);
	if (!rc) {
		ice_test_kill("hint");   /* committed (readers that probe for vN see it), the hint not moved */
		char hint[IDS_PATH_MAX + 1], num[24];
		int n = snprintf(num, sizeof num, "%d", x->version + 1);
		if (!ids_path(hint, sizeof hint, NULL, "%s/version-hint.text", mdir))
			lk_write_file(hint, num, (size_t)n, NULL);
	}
	return rc;
}

/* The REST catalog's commit of *meta (the catalog's answer replaces it). When it fails the
 * table is re-read: if the catalog has the snapshot after all (an answer lost), that is the
 * commit (*reloaded: x already shows it); else the error, IDS_ECONFLICT when another writer
 * moved the table, and the caller builds the commit again on the re-read table. */
static int rest_commit(lake *l, ice_ent *e, int k, json_t **meta, int64_t snap, int *reloaded, ids_error *err)
{
	ice_tbl *x = &e->k[k];
	json_t *got = NULL;
	int rc = ice_rest_commit(l, e, k, x->meta, *meta, &got, err);
	if (!rc) {
		json_decref(*meta);
		*meta = got;
		return 0;
	}
	ids_error e2 = IDS_ERROR_INIT;
	if (ice_tbl_reload(l, e, k, &e2)) {
		x->reload = 1;   /* read again before the next commit */
		return rc;
	}
	if (ice_main_snapshot(x->meta) == snap) {
		*err = (ids_error)IDS_ERROR_INIT;
		*reloaded = 1;
		return 0;
	}
	return rc;
}

int ice_commit_tbl(lake *l, ice_ent *e, int k, ice_file *add, size_t n_add, const uint8_t *del, const char *op,
		   int64_t seq_mark, json_t *extra, ids_error *err)
{
	ice_tbl *x = &e->k[k];
	char mdir[4600];
	int rc = mkdir_in(x->loc, "metadata", mdir, sizeof mdir, err);
	if (rc)
		return rc;
	if (x->reload && (rc = ice_tbl_reload(l, e, k, err)))
		return rc;
	x->reload = 0;
	json_t *fields = ice_schema_fields(l, e, k, err);
	if (fields && !x->meta && l->o.iceberg_rest) {   /* the catalog creates the table */
		json_t *want = new_metadata(l, e, k);
		rc = want ? ice_rest_create(l, e, k, want, fields, &x->meta, err) : ids_fail(err, IDS_ENOMEM, "out of memory");
		json_decref(want);
		if (!rc && ice_main_snapshot(x->meta))   /* it existed: its files too */
			rc = ice_tbl_reload(l, e, k, err);
	}
	json_t *meta = rc || !fields ? NULL : x->meta ? next_metadata(x->meta) : new_metadata(l, e, k);
	if (!meta || !fields) {
		json_decref(meta);
		json_decref(fields);
		return err->code ? err->code : ids_fail(err, IDS_ENOMEM, "out of memory");
	}
	/* a new schema when the columns changed (an equal older one is made current again, as
	 * Iceberg's own writers do) */
	json_t *cur = ice_current_schema(meta);
	int schema_id = (int)json_integer_value(json_object_get(meta, "current-schema-id"));
	if (!cur || !json_equal(json_object_get(cur, "fields"), fields)) {
		schema_id = 0;   /* the next free one */
		int same = -1;
		size_t i;
		json_t *s;
		json_array_foreach(json_object_get(meta, "schemas"), i, s) {
			int sid = (int)json_integer_value(json_object_get(s, "schema-id"));
			if (sid >= schema_id)
				schema_id = sid + 1;
			if (json_equal(json_object_get(s, "fields"), fields))
				same = sid;
		}
		if (same >= 0)
			schema_id = same;
		else
			json_array_append_new(json_object_get(meta, "schemas"),
					      json_pack("{sssiso}", "type", "struct", "schema-id", schema_id, "fields",
							json_incref(fields)));
		json_object_set_new(meta, "current-schema-id", json_integer(schema_id));
	}
	int lastcol = (int)json_integer_value(json_object_get(meta, "last-column-id"));
	if (ice_max_id(fields) > lastcol)
		json_object_set_new(meta, "last-column-id", json_integer(ice_max_id(fields)));
	/* the state of a partitioned store: a file whose partition column holds one value gets
	 * the identity spec, any other the unpartitioned one (spec 0) */
	int32_t pspec = k == LK_T_STATE && e->t->part_field ? ice_state_spec(e, meta, fields) : 0;
	for (size_t i = 0; i < n_add; i++)
		if (add[i].spec == ICE_SPEC_PART)
			add[i].spec = add[i].pset ? pspec : 0;
	json_t *schema = json_pack("{sssiso}", "type", "struct", "schema-id", schema_id, "fields", fields);   /* takes fields */
	char *schema_text = schema ? json_dumps(schema, JSON_COMPACT) : NULL;
	json_decref(schema);
	if (!schema_text) {
		json_decref(meta);
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	}

	int64_t snap = rand63(), seq = (int64_t)json_integer_value(json_object_get(meta, "last-sequence-number")) + 1;
	json_t *pcur = json_object_get(meta, "current-snapshot-id");
	int64_t parent = pcur && json_integer_value(pcur) > 0 ? (int64_t)json_integer_value(pcur) : 0;
	size_t n_del = 0, n_keep = 0;
	int64_t del_rows = 0, keep_rows = 0, add_rows = 0;
	for (size_t i = 0; i < x->n_files; i++) {
		if (del && del[i]) {
			n_del++;
			del_rows += x->files[i].rows;
		} else {
			n_keep++;
			keep_rows += x->files[i].rows;
		}
	}
	for (size_t i = 0; i < n_add; i++)
		add_rows += add[i].rows;
	ice_mf_meta mm = {.schema_json = schema_text, .schema_id = schema_id,
			  .sort_order_id = k == LK_T_STATE ? 0 : 1, .seq_field_id = k == LK_T_CHANGES ? ID_SEQ : k == LK_T_CONFLICTS ? ID_ID : 0,
			  .ice = l->ice};
	/* fast append: the old manifests as they are plus one with the new files; anything
	 * removed (or too many manifests): one manifest with every live and removed file */
	int fast = !n_del && x->n_mfs < FAST_APPEND_MAX;
	size_t n_list = fast ? x->n_mfs : 0;
	ice_mf *list = calloc(n_list + n_add + (fast ? 0 : x->n_files) + 1, sizeof *list);   /* one per spec */
	ice_file *ents = NULL;
	size_t n_ents = 0;
	if (!list)
		rc = ids_fail(err, IDS_ENOMEM, "out of memory");
	for (size_t i = 0; !rc && i < n_list; i++) {
		list[i] = x->mfs[i];
		list[i].path = strdup(x->mfs[i].path);
	}
	if (!rc && (n_add || !fast)) {
		ents = calloc(n_add + (fast ? 0 : x->n_files) + 1, sizeof *ents);
		if (!ents)
			rc = ids_fail(err, IDS_ENOMEM, "out of memory");
		for (size_t i = 0; !rc && !fast && i < x->n_files; i++) {
			ents[n_ents] = x->files[i];
			ents[n_ents++].status = del && del[i] ? 2 : 0;
		}
		for (size_t i = 0; !rc && i < n_add; i++) {
			ents[n_ents] = add[i];
			ents[n_ents].status = 1;
			ents[n_ents].seq = ents[n_ents].fseq = 0;
			ents[n_ents++].snap = snap;
		}
	}
	char uuid[37], mpath[IDS_PATH_MAX + 1], lpath[IDS_PATH_MAX + 1];
	uuid4(uuid);
	/* a manifest per partition spec of the entries (one but for a partitioned state) */
	ice_file *grp = !rc && n_ents ? calloc(n_ents, sizeof *grp) : NULL;
	if (!rc && n_ents && !grp)
		rc = ids_fail(err, IDS_ENOMEM, "out of memory");
	for (size_t g = 0, done = 0; !rc && done < n_ents; g++) {
		int32_t spec = INT32_MAX;
		for (size_t i = 0; i < n_ents; i++)   /* the smallest spec not written yet */
			if (ents[i].spec < spec && (!g || ents[i].spec > mm.part.spec_id))
				spec = ents[i].spec;
		size_t n_grp = 0;
		for (size_t i = 0; i < n_ents; i++)
			if (ents[i].spec == spec)
				grp[n_grp++] = ents[i];
		done += n_grp;
		if (ice_part_of(meta, spec, &mm.part)) {
			rc = ids_fail(err, IDS_ECORRUPT, "%s: partition spec %d: not one this writer knows", x->loc, (int)spec);
			break;
		}
		if ((rc = ids_path(mpath, sizeof mpath, err, "%s/%s-m%zu.avro", mdir, uuid, g)))
			break;
		ice_mf *m = &list[n_list];
		rc = ice_write_manifest(mpath, grp, n_grp, &mm, snap, m, err);
		if (!rc)
			rc = ice_publish(l->ice, mpath, err);
		if (!rc) {
			m->path = strdup(mpath);
			m->seq = seq;
			if (!m->min_seq || m->min_seq > seq)
				m->min_seq = seq;
			n_list++;
		}
	}
	free(grp);
	free(ents);
	int prc = ids_path(lpath, sizeof lpath, rc ? NULL : err, "%s/snap-%" PRId64 "-1-%s.avro", mdir, snap, uuid);
	if (!rc)
		rc = prc;
	if (!rc)
		rc = ice_write_manifest_list(l->ice, lpath, list, n_list, snap, parent, seq, err);
	if (!rc)
		rc = ice_publish(l->ice, lpath, err);
	char step[32];
	snprintf(step, sizeof step, "%s-list", op);
	if (!rc) {
		ice_test_kill("list");
		ice_test_kill(step);   /* e.g. replace-list: a compaction's commit */
	}

	/* the metadata file: the commit */
	int64_t now = lk_now_ms(), before = (int64_t)json_integer_value(json_object_get(meta, "last-updated-ms"));
	if (now < before)
		now = before;
	json_t *summary = json_pack("{ss}", "operation", op);
	summary_add(summary, "added-data-files", (int64_t)n_add);
	summary_add(summary, "added-records", add_rows);
	if (n_del) {
		summary_add(summary, "deleted-data-files", (int64_t)n_del);
		summary_add(summary, "deleted-records", del_rows);
	}
	summary_add(summary, "total-data-files", (int64_t)(n_keep + n_add));
	summary_add(summary, "total-records", keep_rows + add_rows);
	summary_add(summary, "total-delete-files", 0);
	summary_add(summary, "total-position-deletes", 0);
	summary_add(summary, "total-equality-deletes", 0);
	summary_add(summary, "idbsync.seq", seq_mark);
	if (extra)
		json_object_update(summary, extra);
	char luri[4900];
	if (!rc && ice_uri(l->ice, lpath, luri, sizeof luri))
		rc = ids_fail(err, IDS_ELIMIT, "%s: path too long", lpath);
	json_t *s = json_pack("{sIsIsIsssosi}", "snapshot-id", (json_int_t)snap, "sequence-number", (json_int_t)seq,
			      "timestamp-ms", (json_int_t)now, "manifest-list", luri, "summary", summary, "schema-id",
			      schema_id);
	if (parent)
		json_object_set_new(s, "parent-snapshot-id", json_integer(parent));
	json_array_append_new(json_object_get(meta, "snapshots"), s);
	json_array_append_new(json_object_get(meta, "snapshot-log"),
			      json_pack("{sIsI}", "timestamp-ms", (json_int_t)now, "snapshot-id", (json_int_t)snap));
	if (x->version) {
		char prev[4900];
		if (x->uri)   /* the state's catalog: the file it names */
			snprintf(prev, sizeof prev, "%s", x->uri);
		else
			snprintf(prev, sizeof prev, "file://%s/v%d.metadata.json", mdir, x->version);
		json_array_append_new(json_object_get(meta, "metadata-log"),
				      json_pack("{sIss}", "timestamp-ms", (json_int_t)before, "metadata-file", prev));
	}
	json_t *mlog = json_object_get(meta, "metadata-log");
	int trimmed = json_array_size(mlog) > ICE_PREV_VERSIONS_MAX;
	while (json_array_size(mlog) > ICE_PREV_VERSIONS_MAX)
		json_array_remove(mlog, 0);
	json_object_set_new(meta, "last-sequence-number", json_integer(seq));
	json_object_set_new(meta, "last-updated-ms", json_integer(now));
	json_object_set_new(meta, "current-snapshot-id", json_integer(snap));
	json_object_set_new(meta, "refs", json_pack("{s{sIss}}", "main", "snapshot-id", (json_int_t)snap, "type", "branch"));
	json_t *expired = rc ? NULL : ice_expire_snapshots(l, meta, now, snap, parent);
	int reloaded = 0;
	if (!rc && l->o.iceberg_rest)
		rc = rest_commit(l, e, k, &meta, snap, &reloaded, err);
	else if (!rc && ice_cat_mode(l))
		rc = ice_cat_commit(l, x, mdir, uuid, meta, err);
	else if (!rc)
		rc = fs_commit(x, mdir, meta, err);
	free(schema_text);
	snprintf(step, sizeof step, "%s-meta", op);
	if (!rc)
		ice_test_kill(step);
	if (!rc && reloaded) {
		ice_test_kill("meta");
		if (expired)
			ice_expire_files(l->ice, x, x->meta, expired);
	} else if (!rc) {
		ice_test_kill("meta");
		/* the in-memory view follows the commit */
		size_t w = 0;
		for (size_t i = 0; i < x->n_files; i++) {
			if (del && del[i]) {
				/* removed: unlinked once no kept snapshot has it */
				free(x->files[i].m);
				x->files[i].m = NULL;
				x->files[i].n_m = 0;
				ice_file *g = realloc(x->grave, (x->n_grave + 1) * sizeof *g);
				if (g) {
					x->grave = g;
					g[x->n_grave] = x->files[i];
					g[x->n_grave++].seq = seq;
				} else {
					free(x->files[i].path);   /* an orphan then */
				}
			} else
				x->files[w++] = x->files[i];
		}
		x->n_files = w;
		ice_file *nf = realloc(x->files, (w + n_add + 1) * sizeof *nf);
		if (nf) {
			x->files = nf;
			for (size_t i = 0; i < n_add; i++) {
				nf[w + i] = add[i];
				nf[w + i].status = 0;
				nf[w + i].seq = nf[w + i].fseq = seq;
				nf[w + i].snap = snap;
				add[i].path = NULL;   /* moved */
				add[i].m = NULL;
			}
			x->n_files = w + n_add;
		}
		ice_mfs_free(x->mfs, x->n_mfs);
		x->mfs = list;
		x->n_mfs = n_list;
		list = NULL;
		json_decref(x->meta);
		x->meta = meta;
		meta = NULL;
		x->version += !l->o.iceberg_rest;   /* the file-system catalog's vN */
		if (expired)
			ice_expire_files(l->ice, x, x->meta, expired);
		else if (trimmed && x->version)
			ice_drop_old_versions(l->ice, x, x->meta, x->version);
	} else {
		ids_wrap(err, "iceberg commit of %s: ", x->loc);
	}
	ice_mfs_free(list, n_list);
	json_decref(meta);
	json_decref(expired);
	return rc;
}

/* Links plain-layout files src[0..n) into the table's data dir (a file its table's hold
 * already removed again is skipped). */
static int link_files(lake *l, ice_tbl *x, int k, const ice_file *src, size_t n, ice_file **out, size_t *n_out,
		      ids_error *err)
{
	*out = calloc(n + 1, sizeof **out);
	*n_out = 0;
	if (!*out)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	int rc = 0;
	for (size_t i = 0; !rc && i < n; i++) {
		const ice_file *p = &src[i];
		struct stat st;
		if (stat(p->path, &st))
			continue;
		char dir[IDS_PATH_MAX + 1], dst[IDS_PATH_MAX + 1], day[40] = "";
		if (k == LK_T_CHANGES) {
			const char *dt = strstr(p->path, "/dt=");
			snprintf(day, sizeof day, "/idb_ts_day=%.10s", dt ? dt + 4 : "null");
		}
		if ((rc = ids_path(dir, sizeof dir, err, "%s/data%s", x->loc, day)) || (rc = ids_mkdirs(dir, err)))
			break;
		if ((rc = ids_path(dst, sizeof dst, err, "%s/part-%020" PRId64 "-%020" PRId64 "-%08x.parquet", dir, p->first,
				   p->last, (unsigned)(rand63() & 0xffffffff))))
			break;
		if (link(p->path, dst)) {
			rc = ids_fail(err, IDS_EIO, "link %s -> %s: %s", p->path, dst, strerror(errno));
			break;
		}
		ice_file *f = &(*out)[(*n_out)++];
		*f = *p;
		f->m = NULL;
		f->path = strdup(dst);
		if ((rc = ice_file_metrics(dst, NULL, f, err)) || (rc = ice_publish(l->ice, dst, err)))
			break;
		f->size = st.st_size;
		f->dev = st.st_dev;
		f->ino = st.st_ino;
		lk_fsync_dir(dir);
	}
	return rc;
}

static void pend_clear(ice_tbl *x)
{
	ice_files_free(x->pend, x->n_pend);
	x->pend = NULL;
	x->n_pend = 0;
}

int ice_commit_log(lake *l, ice_ent *e, int k, int64_t changes, int64_t conflicts, ids_error *err)
{
	ice_tbl *x = &e->k[k];
	ice_file *add = NULL;
	size_t n = 0;
	int rc = link_files(l, x, k, x->pend, x->n_pend, &add, &n, err);
	json_t *extra = json_object();
	if (k == LK_T_CONFLICTS)
		summary_add(extra, "idbsync.conflict-id", conflicts);
	if (k == LK_T_CHANGES && e->t->log_held)
		summary_add(extra, "idbsync.held-from", e->t->log_held);
	if (!rc && n)
		rc = ice_commit_tbl(l, e, k, add, n, NULL, "append", changes, extra, err);
	if (rc)   /* the links are orphans: nothing refers to them */
		for (size_t i = 0; i < n; i++)
			if (add[i].path)
				ice_remove(l->ice, add[i].path);
	json_decref(extra);
	ice_files_free(add, n);
	if (!rc)
		pend_clear(x);
	return rc;
}

int ice_commit_compaction(lake *l, ice_ent *e, ids_error *err)
{
	ice_tbl *x = &e->k[LK_T_CHANGES];
	ice_file *add = NULL;
	size_t n = 0, kept = 0;
	int rc = link_files(l, x, LK_T_CHANGES, x->merged, x->n_merged, &add, &n, err);
	if (!rc && n)
		ice_test_kill("compact-link");
	uint8_t *del = calloc(x->n_files + 1, 1), *mine = calloc(x->n_files + 1, 1);
	if (!rc && (!del || !mine))
		rc = ids_fail(err, IDS_ENOMEM, "out of memory");
	if (rc)
		kept = n;   /* every link goes again */
	for (size_t i = 0; !rc && i < n; i++) {
		/* the live files of its day within its seqs: they must hold exactly its rows */
		int64_t rows = 0;
		size_t cnt = 0;
		for (size_t j = 0; j < x->n_files; j++) {
			const ice_file *f = &x->files[j];
			mine[j] = !del[j] && f->day == add[i].day && f->first >= add[i].first && f->last <= add[i].last &&
				  f->last > 0;
			rows += mine[j] ? f->rows : 0;
			cnt += mine[j];
		}
		if (cnt < 2 || rows != add[i].rows) {   /* not what Iceberg has: leave it */
			ice_remove(l->ice, add[i].path);
			free(add[i].path);
			free(add[i].m);
			continue;
		}
		for (size_t j = 0; j < x->n_files; j++)
			del[j] |= mine[j];
		add[kept++] = add[i];
	}
	if (!rc && kept)
		rc = ice_commit_tbl(l, e, LK_T_CHANGES, add, kept, del, "replace", l->changes_seq, NULL, err);
	if (rc)
		for (size_t i = 0; i < kept; i++)
			if (add[i].path)
				ice_remove(l->ice, add[i].path);
	ice_files_free(add, kept);
	free(del);
	free(mine);
	ice_files_free(x->merged, x->n_merged);   /* tried once: a failure leaves the small files */
	x->merged = NULL;
	x->n_merged = 0;
	return rc;
}

/* The current state: the bucket files whose inode the snapshot does not have are added, the
 * snapshot's files whose inode left the plain layout are removed, in one snapshot. */
/* Files of change log / conflicts table k past what progress.json records. */
int ice_reconcile_tbl(lake *l, ice_ent *e, int k, ids_error *err)
{
	ice_tbl *x = &e->k[k];
	pend_clear(x);
	uint8_t *del = calloc(x->n_files + 1, 1);
	if (!del)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	size_t n = 0;
	int64_t mark = k == LK_T_CHANGES ? l->changes_seq : l->conflicts_id;
	for (size_t i = 0; i < x->n_files; i++) {
		ice_file *f = &x->files[i];
		if (f->first > mark || lk_log_unrecorded(l, e->t, k == LK_T_CONFLICTS, f->first, f->last)) {
			del[i] = 1;
			n++;
		}
	}
	int rc = 0;
	if (n) {
		json_t *extra = json_pack("{ss}", "idbsync.recovered", "true");
		rc = ice_commit_tbl(l, e, k, NULL, 0, del, "delete", k == LK_T_CHANGES ? l->changes_seq : l->changes_seq, extra,
				err);
		json_decref(extra);
		if (!rc)
			ids_logf(IDS_LOG_INFO, "lake_iceberg", "iceberg %s: took back %zu file(s) past the recorded progress",
				x->loc, n);
	}
	free(del);
	x->reconcile = rc != 0;
	return rc;
}
