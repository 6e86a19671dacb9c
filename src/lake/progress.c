/* Durable progress (DIR/_idbsync/progress.json: how far the change log, the state and the
 * conflicts are written, with the held tables and rows in the same atomic write), the adoption
 * of stores a fresh lake finds, and the rebase after the state was restored (a new epoch). */
#include "iceberg.h"
#include "lake_int.h"

#include "idbsync/log.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lk_progress_read(lake *l, int *fresh, ids_error *err)
{
	char p[IDS_PATH_MAX + 1];
	ids_path(p, sizeof p, NULL, "%s/_idbsync/progress.json", l->dir);
	ids_buf b = IDS_BUF_INIT;
	int rc = lk_read_file(p, &b, 1 << 20, err);
	*fresh = rc == IDS_ENOTFOUND;
	if (rc) {
		ids_buf_free(&b);
		return *fresh ? 0 : rc;
	}
	json_t *j = json_loadb(b.data, b.len, 0, NULL);
	ids_buf_free(&b);
	if (!j)
		return ids_fail(err, IDS_ECORRUPT, "%s: not JSON", p);
	l->changes_seq = json_integer_value(json_object_get(j, "changes_seq"));
	json_t *ss = json_object_get(j, "state_seq");   /* absent before format 2: state == log */
	l->state_seq = ss ? json_integer_value(ss) : l->changes_seq;
	if (l->state_seq > l->changes_seq)
		l->state_seq = l->changes_seq;
	l->conflicts_id = json_integer_value(json_object_get(j, "conflicts_id"));
	rc = lk_hold_from_json(l, j, err);
	const char *ep = json_string_value(json_object_get(j, "epoch"));
	snprintf(l->epoch, sizeof l->epoch, "%s", ep ? ep : "");
	const char *prof = json_string_value(json_object_get(j, "profile"));
	int want = l->profile == PQ_PROFILE_MODERN;
	if (!rc && prof && strcmp(prof, want ? "modern" : "compat"))
		rc = ids_fail(err, IDS_EINVAL, "%s was written with --lake-profile %s; use it again or a new lake dir", l->dir,
			      prof);
	/* Iceberg tables must hold every change from the start: no switching of an existing lake */
	const char *fmt = json_string_value(json_object_get(j, "lake_format"));
	const char *want_fmt = l->o.format == LK_FORMAT_ICEBERG ? "iceberg" : "hive";
	if (!rc && strcmp(fmt ? fmt : "hive", want_fmt))
		rc = ids_fail(err, IDS_EINVAL, "%s was written with --lake-format %s; use it again or a new lake dir", l->dir,
			      fmt ? fmt : "hive");
	json_decref(j);
	return rc;
}

/* Progress and the held tables and quarantined changes it goes with, in one atomic write:
 * a change left out of the change log is never recorded as written without its entry. */
static int progress_write(lake *l, int64_t changes, int64_t state, int64_t conflicts, ids_error *err);

/* A commit of the lake, fenced by the lake lease (docs/scaling.md): a server that lost the lease
 * without noticing yet commits nothing, and no other server takes the lease over meanwhile. */
int lk_progress_write(lake *l, int64_t changes, int64_t state, int64_t conflicts, ids_error *err)
{
	int rc = ledger_lease_fence_begin(l->lg, "lake", err);
	if (rc)
		return rc;
	rc = progress_write(l, changes, state, conflicts, err);
	ledger_lease_fence_end(l->lg);
	return rc;
}

static int progress_write(lake *l, int64_t changes, int64_t state, int64_t conflicts, ids_error *err)
{
	char p[IDS_PATH_MAX + 1];
	ids_path(p, sizeof p, NULL, "%s/_idbsync/progress.json", l->dir);
	/* the Iceberg tables commit first: everything progress.json records is in them */
	int rc = lk_ice_commit(l, changes, state, conflicts, err);
	if (rc)
		return rc;
	json_t *j = lk_hold_to_json(l);
	if (l->ice)
		json_object_set_new(j, "lake_format", json_string("iceberg"));
	json_object_set_new(j, "format", json_integer(2));
	json_object_set_new(j, "epoch", json_string(ledger_epoch(l->lg)));
	json_object_set_new(j, "changes_seq", json_integer(changes));
	json_object_set_new(j, "state_seq", json_integer(state));
	json_object_set_new(j, "conflicts_id", json_integer(conflicts));
	json_object_set_new(j, "profile", json_string(l->profile == PQ_PROFILE_MODERN ? "modern" : "compat"));
	json_object_set_new(j, "nested", json_string(l->nested == LK_NESTED_STRUCT ? "struct" : "json"));
	json_object_set_new(j, "updated_ms", json_integer(lk_now_ms()));
	char *body = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!body)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	size_t n = strlen(body);
	body[n] = '\n';   /* json_dumps leaves room for its NUL: the newline takes it */
	rc = lk_write_file(p, body, n + 1, err);
	free(body);
	if (!rc && l->hold_changed) {
		l->hold_changed = 0;
		lk_hold_publish(l);
	}
	return rc;
}

/* Moves the change-log files (DIR/<db>/<t>_changes/dt=.../part-A-B) and conflict files with
 * B above keep into DIR/_idbsync/orphaned/<epoch>/..., returning the lowest A moved (or
 * INT64_MAX). */
static int64_t orphan_files(lake *l, const char *rel, int64_t keep, int64_t keep_conf, int depth, const char *to)
{
	char dir[IDS_PATH_MAX + 1];
	ids_path(dir, sizeof dir, NULL, "%s/%s", l->dir, rel);
	DIR *d = opendir(dir);
	if (!d)
		return INT64_MAX;
	int64_t low = INT64_MAX;
	struct dirent *e;
	while ((e = readdir(d))) {
		const char *n = e->d_name;
		if (n[0] == '.' || (n[0] == '_' && depth == 0))
			continue;
		char sub[IDS_PATH_MAX + 1];
		if (ids_path(sub, sizeof sub, NULL, "%s/%s", rel, n))
			continue;   /* not a name the lake wrote */
		int64_t a, b, x = INT64_MAX;
		size_t len = strlen(n);
		if (depth == 1 && len > 10 && !strcmp(n + len - 10, "_conflicts")) {
			orphan_files(l, sub, keep_conf, keep_conf, 3, to);   /* conflict ids: no bearing on seqs */
		} else if (depth == 0 || (depth == 1 && len > 8 && !strcmp(n + len - 8, "_changes")) ||
			   (depth == 2 && !strncmp(n, "dt=", 3))) {
			x = orphan_files(l, sub, keep, keep_conf, depth + 1, to);
		} else if (depth >= 2 && lk_log_name(n, &a, &b) && b > keep) {
			char from[IDS_PATH_MAX + 1], dst[IDS_PATH_MAX + 1], ddir[IDS_PATH_MAX + 1];
			if (!ids_path(from, sizeof from, NULL, "%s/%s", l->dir, sub) &&
			    !ids_path(ddir, sizeof ddir, NULL, "%s/%s", to, rel) &&
			    !ids_path(dst, sizeof dst, NULL, "%s/%s", ddir, n) && !ids_mkdirs(ddir, NULL) && !rename(from, dst))
				x = a;
		}
		if (x < low)
			low = x;
	}
	closedir(d);
	return low;
}


/* The state the lake was written from was replaced (idbsync restore gives it a new epoch):
 * seqs above the restored head will be given again to other changes. The change-log and
 * conflict files past the restored state move to DIR/_idbsync/orphaned/<old epoch>/ (hidden
 * from engines, kept for the operator), progress goes back to what the restored state holds,
 * and the current state is rebuilt from its rows. */
int lk_rebase(lake *l, ids_error *err)
{
	int64_t head = ledger_head(l->lg), chead = ledger_conflicts_head(l->lg);
	char to[IDS_PATH_MAX + 1];
	ids_path(to, sizeof to, NULL, "%s/_idbsync/orphaned/%s", l->dir, l->epoch);
	int64_t low = INT64_MAX;
	DIR *root = opendir(l->dir);
	struct dirent *e;
	while (root && (e = readdir(root))) {
		if (e->d_name[0] == '.' || e->d_name[0] == '_')
			continue;
		int64_t x = orphan_files(l, e->d_name, head, chead, 1, to);
		if (x < low)
			low = x;
	}
	if (root)
		closedir(root);
	int64_t changes = l->changes_seq < head ? l->changes_seq : head;
	if (low != INT64_MAX && low - 1 < changes)
		changes = low - 1;   /* a file that held both sides: its kept part is written again */
	ids_logf(IDS_LOG_WARN, "lake_rebase",
		 "the state was restored (epoch %s, was %s): lake progress %" PRId64 " -> %" PRId64
		 "; files past it moved to %s; current state rebuilt",
		 ledger_epoch(l->lg), l->epoch, l->changes_seq, changes, to);
	l->changes_seq = changes;
	l->state_seq = changes;
	if (l->conflicts_id > chead)
		l->conflicts_id = chead;
	lk_hold_free(l);   /* what was held belonged to the replaced state */
	for (lk_table *t = l->tables; t; t = t->next) {
		t->log_held = t->conf_held = 0;
		t->state_held = 0;
		t->obs_from = t->obs_to = 0;   /* seqs are handed out again */
		lk_feed_bad(t);                /* its rows belong to the replaced state */
		memset(&t->fail, 0, sizeof t->fail);
	}
	return lk_adopt_stores(l, err);
}

/* On a fresh lake every existing store is built from its rows (the change log may have been
 * pruned by an earlier lake, so only rows are complete). */
int lk_adopt_stores(lake *l, ids_error *err)
{
	ids_buf dbs = IDS_BUF_INIT, sts = IDS_BUF_INIT;
	int rc = ledger_names_json(l->lg, NULL, &dbs, err);
	json_t *jd = rc ? NULL : json_loadb(dbs.data, dbs.len, 0, NULL);
	size_t i;
	json_t *d;
	json_array_foreach(jd, i, d)
	{
		ids_buf_reset(&sts);
		if (rc || (rc = ledger_names_json(l->lg, json_string_value(d), &sts, err)))
			break;
		json_t *js = json_loadb(sts.data, sts.len, 0, NULL);
		size_t k;
		json_t *s;
		json_array_foreach(js, k, s)
		{
			lk_table *t;
			if (!rc && !(rc = lk_table_get(l, json_string_value(d), json_string_value(s), &t, err))) {
				t->rebuild = 1;
				t->touched = 1;
			}
		}
		json_decref(js);
	}
	json_decref(jd);
	ids_buf_free(&dbs);
	ids_buf_free(&sts);
	return rc;
}

