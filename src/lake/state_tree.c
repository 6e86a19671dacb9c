/* The next version of a current-state dir: a state pass never writes over a name a reader may
 * have listed. Its new files get names no version of the dir used before (part-<no>-<gen>), and
 * the pass builds the whole next dir beside the visible one (hard links of the files it keeps,
 * its new files, _buckets) and swaps it in with one RENAME_EXCHANGE: a name, once visible, keeps
 * its bytes, and a listing sees one version of the table or the next, never a mix (Drill read
 * rows torn between two versions of a file renamed over the same name). docs/lake-layout.md. */
#include "lake_int.h"

#include "idbsync/log.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int lk_sfile_parse(const char *name, uint32_t *no, int64_t *gen)
{
	unsigned n;
	long long g;
	int end = 0;
	if (sscanf(name, "part-%u-%lld.parquet%n", &n, &g, &end) == 2 && end && !name[end] && g > 0) {
		*no = n;
		*gen = g;
		return 1;
	}
	end = 0;
	if (sscanf(name, "part-%u.parquet%n", &n, &end) == 1 && end && !name[end]) {
		*no = n;
		*gen = 0;   /* written before generations: the name is still never written again */
		return 1;
	}
	return 0;
}

void lk_test_pause(lk_pause at, const char *step)
{
	static const char *const var[] = {"IDBSYNC_TEST_LAKE_PAUSE", "IDBSYNC_TEST_LAKE_PAUSE_FLUSH"};
	static int count[2];   /* the flush thread's alone */
	const char *dir = getenv(var[at]);
	if (!dir)
		return;
	int n = ++count[at];
	char p[IDS_PATH_MAX + 1], go[IDS_PATH_MAX + 1];
	if (ids_path(go, sizeof go, NULL, "%s/go-%d", dir, n) || ids_path(p, sizeof p, NULL, "%s/paused-%d", dir, n) ||
	    lk_write_file(p, step, strlen(step), NULL))
		return;
	for (int i = 0; i < 12000 && !lk_exists(go); i++)
		usleep(5000);
}

static int add_file(lk_tree *x, const char *sub, const char *name, ids_error *err)
{
	if (x->n_old == x->cap_old) {
		size_t cap = x->cap_old ? x->cap_old * 2 : 64;
		lk_sfile *o = realloc(x->old, cap * sizeof *o);
		if (!o)
			return ids_fail(err, IDS_ENOMEM, "out of memory");
		x->old = o;
		x->cap_old = cap;
	}
	lk_sfile *f = &x->old[x->n_old];
	memset(f, 0, sizeof *f);
	f->no = UINT32_MAX;   /* not a state file: kept as it is */
	lk_sfile_parse(name, &f->no, &f->gen);
	size_t sl = strlen(sub);
	if (!(f->rel = malloc(sl + strlen(name) + 2)))
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	sprintf(f->rel, "%s%s%s", sub, sl ? "/" : "", name);
	f->sub_len = sl;
	x->n_old++;
	if (f->gen >= x->gen)
		x->gen = f->gen + 1;
	return 0;
}

/* The regular files of dir/sub (sub "" and each <col>=<value> dir), but _buckets. */
static int list_dir(lk_tree *x, const char *sub, ids_error *err)
{
	char p[IDS_PATH_MAX + 1];
	int rc = ids_path(p, sizeof p, err, "%s%s%s", x->dir, sub[0] ? "/" : "", sub);
	DIR *d = rc ? NULL : opendir(p);
	if (!d)
		return rc ? rc : errno == ENOENT ? 0 : ids_fail(err, IDS_EIO, "open %s: %s", p, strerror(errno));
	struct dirent *e;
	while (!rc && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || (!sub[0] && !strcmp(e->d_name, "_buckets")))
			continue;
		char f[IDS_PATH_MAX + 1];
		struct stat st;
		if ((rc = ids_path(f, sizeof f, err, "%s/%s", p, e->d_name)) || lstat(f, &st))
			continue;
		if (S_ISREG(st.st_mode))
			rc = add_file(x, sub, e->d_name, err);
		else if (S_ISDIR(st.st_mode) && !sub[0] && strchr(e->d_name, '='))
			rc = list_dir(x, e->d_name, err);
	}
	closedir(d);
	return rc;
}

int lk_tree_list(lake *l, lk_table *t, lk_tree *x, ids_error *err)
{
	memset(x, 0, sizeof *x);
	x->gen = t->gen + 1;
	x->table = t->table;
	lk_table_dir(l, t, NULL, x->dir, sizeof x->dir);
	int rc = list_dir(x, "", err);
	if (rc)
		lk_tree_free(x);
	return rc;
}

int lk_tree_begin(lake *l, lk_table *t, lk_tree *x, int all, ids_error *err)
{
	int rc = lk_tree_list(l, t, x, err);
	if (rc)
		return rc;
	x->all = all;
	char next[IDS_PATH_MAX + 1];
	if (!(rc = ids_path(next, sizeof next, err, "%s/%s/.%s.next", l->dir, t->db, t->table)) &&
	    !(rc = ids_path(x->dbdir, sizeof x->dbdir, err, "%s/%s", l->dir, t->db))) {
		lk_rm_rf(next);   /* what a crash left */
		memcpy(x->next, next, sizeof next);
		rc = ids_mkdirs(x->next, err);
	}
	if (rc)
		lk_tree_free(x);
	return rc;
}

void lk_tree_replace(lk_tree *x, uint32_t no)
{
	for (size_t i = 0; i < x->n_old; i++)
		if (x->old[i].no == no)
			x->old[i].gone = 1;
	x->changed = 1;
}

int lk_tree_path(const lk_tree *x, const char *sub, uint32_t no, char *out, size_t sz, ids_error *err)
{
	return ids_path(out, sz, err, "%s%s%s/part-%u-%" PRId64 ".parquet", x->next, sub[0] ? "/" : "", sub, no, x->gen);
}

const lk_sfile *lk_tree_old(const lk_tree *x, uint32_t no)
{
	for (size_t i = 0; i < x->n_old; i++)
		if (x->old[i].no == no && !x->old[i].sub_len)
			return &x->old[i];
	return NULL;
}

int lk_tree_old_path(const lk_tree *x, uint32_t no, char *out, size_t sz)
{
	const lk_sfile *f = lk_tree_old(x, no);
	return f && !ids_path(out, sz, NULL, "%s/%s", x->dir, f->rel);
}

/* Links the kept files into next, fsyncs each dir of next once. */
static int link_kept(lk_tree *x, ids_error *err)
{
	int rc = 0;
	for (size_t i = 0; !rc && !x->all && i < x->n_old; i++) {
		lk_sfile *f = &x->old[i];
		char a[IDS_PATH_MAX + 1], b[IDS_PATH_MAX + 1];
		if (f->gone || (rc = ids_path(a, sizeof a, err, "%s/%s", x->dir, f->rel)) ||
		    (rc = ids_path(b, sizeof b, err, "%s/%s", x->next, f->rel)))
			continue;
		if (f->sub_len) {   /* its partition dir, if no new file made it */
			b[strlen(x->next) + 1 + f->sub_len] = 0;
			if (!lk_exists(b) && (rc = ids_mkdirs(b, err)))
				break;
			b[strlen(x->next) + 1 + f->sub_len] = '/';
		}
		if (link(a, b) && errno != EEXIST)
			rc = ids_fail(err, IDS_EIO, "link %s -> %s: %s", a, b, strerror(errno));
		x->linked++;
	}
	DIR *d = rc ? NULL : opendir(x->next);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char p[IDS_PATH_MAX + 1];
		if (e->d_name[0] != '.' && strchr(e->d_name, '=') && !ids_path(p, sizeof p, NULL, "%s/%s", x->next, e->d_name))
			lk_fsync_dir(p);
	}
	if (d)
		closedir(d);
	return rc;
}

int lk_tree_commit(lake *l, lk_table *t, lk_tree *x, int k, ids_error *err)
{
	(void)l;
	if (!x->changed && !x->all)
		return 0;   /* nothing new: the visible dir stays */
	t->gen = x->gen;   /* only grows: a gen that never became visible is just skipped */
	x->t0_us = ledger_mono_us();
	int rc = link_kept(x, err);
	if (!rc)
		rc = lk_state_meta_write(t, x->next, k, err);
	if (rc)
		return rc;
	lk_fsync_dir(x->next);
	lk_test_pause(LK_PAUSE_PASS, "exchange");
	if (lk_exists(x->dir))
		rc = lk_exchange(x->next, x->dir, err);
	else if (rename(x->next, x->dir))
		rc = ids_fail(err, IDS_EIO, "rename %s -> %s: %s", x->next, x->dir, strerror(errno));
	lk_fsync_dir(x->dbdir);
	if (!rc) {
		/* next is the old version now: its files stay readable by whoever has them open,
		 * and its names (replaced ones) are gone from the visible dir */
		lk_test_pause(LK_PAUSE_PASS, "exchanged");
		x->committed = 1;
	}
	return rc;
}

void lk_tree_free(lk_tree *x)
{
	if (x->next[0])
		lk_rm_rf(x->next);   /* the old version after a commit, the unfinished one else */
	ids_logrec lr;
	/* what the exchange costs a pass beyond writing its files (docs/benchmarks.md) */
	if (x->committed && ids_log_begin(&lr, IDS_LOG_DEBUG, "lake_state_exchange")) {
		ids_log_str(&lr, "table", x->table);
		ids_log_int(&lr, "kept", (long long)x->linked);
		ids_log_int(&lr, "us", (long long)(ledger_mono_us() - x->t0_us));
		ids_log_end(&lr);
	}
	x->committed = 0;
	for (size_t i = 0; i < x->n_old; i++)
		free(x->old[i].rel);
	free(x->old);
	x->old = NULL;
	x->n_old = x->cap_old = 0;
	x->next[0] = 0;
}
