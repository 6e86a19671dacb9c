/* The append-only logs of a table: the conflicts (every losing mutation in DIR/D/<t>_conflicts/
 * as part-<first>-<last>.parquet named by conflict id range), the bookkeeping of the keys the
 * change log touched (for the state pass), and the cleanup of files past the recorded progress
 * at start, so a crash never leaves a change missing or doubled. The change log files are
 * written by logstream.c. Files are written in the hidden staging dir and renamed in. */
#include "iceberg.h"
#include "lake_int.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "idbsync/log.h"
#include "idbsync/value.h"

#define BATCH_MAX 100000
#define BATCH_BYTES ((size_t)64 << 20)

typedef struct rec {
	int64_t seq;                 /* conflict id */
	lk_table *t;
	lk_row *sys;                 /* the row's system columns (lk_row_copy) */
	char *value;                 /* the losing value's JSON text, or NULL */
	size_t vlen;
} rec;

typedef struct batch {
	lake *l;
	rec *r;
	size_t n, cap, bytes;
	int64_t last;
	lk_table *cache;
	ids_buf key;
	ids_error *err;
	int rc;
	lk_table *only;              /* replay of a held table: its conflicts alone, */
	int64_t upto;                /* up to this id */
} batch;

static void batch_free(batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		lk_row_free_copy(b->r[i].sys);
		free(b->r[i].value);
	}
	free(b->r);
	ids_buf_free(&b->key);
}

void lk_day_of(int64_t ms, char *out)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&s, &tm);
	if (!strftime(out, 12, "%Y-%m-%d", &tm))   /* a year past 9999: not a clock we keep */
		memcpy(out, "9999-12-31", 11);
}

static rec *push_rec(batch *b, const char *db, const char *store_name, int64_t seq, const uint8_t *key,
		     size_t key_len, const char *value, size_t vlen)
{
	if (b->n == b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 1024;
		rec *r = realloc(b->r, nc * sizeof *r);
		if (!r) {
			b->rc = ids_fail(b->err, IDS_ENOMEM, "out of memory");
			return NULL;
		}
		b->r = r;
		b->cap = nc;
	}
	lk_table *t = b->cache;
	if (!t || strcmp(t->db, db) || strcmp(t->store, store_name)) {
		if ((b->rc = lk_table_get(b->l, db, store_name, &t, b->err)))
			return NULL;
		b->cache = t;
	}
	if ((b->rc = lk_key_json(key, key_len, &b->key, b->err)))
		return NULL;
	rec *r = &b->r[b->n++];
	memset(r, 0, sizeof *r);
	r->seq = seq;
	r->t = t;
	if (value && !lk_parse_value(&b->l->vjson, value, vlen)) {
		lk_table_observe_v(b->l, t, &b->l->vjson, seq);
		if (!(r->value = malloc(vlen + 1))) {
			b->n--;
			b->rc = ids_fail(b->err, IDS_ENOMEM, "out of memory");
			return NULL;
		}
		memcpy(r->value, value, vlen);
		r->vlen = vlen;
	}
	b->bytes += vlen + key_len + 200;
	b->last = seq;
	return r;
}

/* Remembers that change c touched t: its bucket becomes dirty and, for a table in the delta
 * layout (not partitioned), its key is kept for the pass to place by row id. */
int lk_log_touch_key(lk_table *t, const ledger_change *c, const char *keyjson, ids_error *err)
{
	(void)keyjson;
	(void)err;
	t->touched = 1;
	lk_mark_dirty(t, ledger_key_hash(c->key, c->key_len));
	if (!t->part_field)
		lk_delta_touch(t, c->user, c->key, c->key_len);
	return 0;
}

static int on_conflict(void *ctx, const ledger_conflict *c)
{
	batch *b = ctx;
	if (b->only && c->id > b->upto)
		return 1;
	lk_table *t = NULL;
	if ((b->rc = lk_table_get(b->l, c->db, c->store, &t, b->err)))
		return b->rc;
	if (b->only ? t != b->only : t->conf_held && c->id >= t->conf_held) {
		b->last = c->id;   /* a held table's conflicts wait for its replay */
		return 0;
	}
	rec *r = push_rec(b, c->db, c->store, c->id, c->key, c->key_len, c->value, c->value_len);
	if (!r)
		return b->rc;
	const char *op = c->op == IDS_OP_DELETE ? "delete" : "put";
	lk_row *o = lk_row_start(b->l);
	lk_row_i64(o, "idb_id", c->id);
	lk_row_str(o, "idb_key", b->key.data, b->key.len);
	lk_row_str(o, "idb_user", c->user, strlen(c->user));
	lk_row_str(o, "idb_client", c->client, strlen(c->client));
	lk_row_i64(o, "idb_mid", c->mid);
	lk_row_str(o, "idb_op", op, strlen(op));
	lk_row_str(o, "idb_hlc", c->hlc, strlen(c->hlc));
	lk_row_str(o, "idb_rule", c->rule, strlen(c->rule));
	lk_row_str(o, "idb_reason", c->reason, strlen(c->reason));
	lk_row_i64(o, "idb_winner_seq", c->winner_seq);
	lk_row_str(o, "idb_winner_hlc", c->winner_hlc, strlen(c->winner_hlc));
	lk_row_ts(o, "idb_ts", c->ts_ms);
	if (!(r->sys = lk_row_copy(o)))
		return b->rc = ids_fail(b->err, IDS_ENOMEM, "out of memory");
	return b->bytes > BATCH_BYTES ? 1 : 0;
}

static int cmp_rec(const void *a, const void *b)
{
	const rec *x = a, *y = b;
	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Writes r[0..n) (one table) as one file: staging, then rename into dir. */
static int write_group(lake *l, rec *r, size_t n, ids_error *err)
{
	lk_table *t = r[0].t;
	char dir[IDS_PATH_MAX + 1], stage[IDS_PATH_MAX + 1], final[IDS_PATH_MAX + 1];
	lk_table_dir(l, t, "_conflicts", dir, sizeof dir);
	int rc = ids_mkdirs(dir, err);
	if (rc)
		return rc;
	lk_log_path(final, sizeof final, dir, r[0].seq, r[n - 1].seq);
	if ((rc = lk_stage_dir(l, t->db, stage, sizeof stage, err)))
		return rc;
	char sp[IDS_PATH_MAX + 1];
	if ((rc = ids_path(sp, sizeof sp, err, "%s/%s_conflicts-%" PRId64 ".parquet", stage, t->table, r[0].seq)))
		return rc;
	pq_node *schema = lk_table_schema(l, t, LK_T_CONFLICTS);
	pq_write_options wo;
	lk_write_opts(l, &wo);
	pq_writer *w = NULL;
	rc = schema ? pq_writer_new(&w, sp, schema, &wo, err) : ids_fail(err, IDS_ENOMEM, "out of memory");
	for (size_t i = 0; !rc && i < n; i++) {
		int ok = r[i].value && !lk_parse_value(&l->vjson, r[i].value, r[i].vlen);
		for (int pass = 0; pass < 2; pass++) {
			lk_row_restore(l, r[i].sys);
			lk_row_fill(l, t, ok && !pass ? &l->vjson : NULL, 0);
			rc = lk_write_row(l, w, err);
			if (!rc || !pq_writer_usable(w) || !ok || pass)
				break;
			/* the losing value alone was refused: the conflict is kept without it */
			atomic_fetch_add(&l->m_fallbacks[LK_FB_BAD_VALUE], 1);
			ids_logf(IDS_LOG_WARN, "lake_fallback", "%s/%s conflict %" PRId64 ": value left out: %s", t->db, t->store,
				 r[i].seq, err->msg);
			ids_error clean = IDS_ERROR_INIT;
			*err = clean;
		}
	}
	if (!rc)
		rc = pq_writer_close(w, err);
	pq_writer_free(w);
	pq_node_free(schema);
	if (!rc && rename(sp, final))
		rc = ids_fail(err, IDS_EIO, "rename %s -> %s: %m", sp, final);
	if (rc) {
		unlink(sp);
		return ids_wrap(err, "%s: ", final), rc;
	}
	lk_fsync_dir(dir);
	lk_ice_add_file(l, t, LK_T_CONFLICTS, final, NULL, r[0].seq, r[n - 1].seq, (int64_t)n);
	atomic_fetch_add(&l->m_files, 1);
	atomic_fetch_add(&l->m_log_rows, (long long)n);
	lk_notify_table(l, t, "conflicts", "", r[n - 1].seq);
	return 0;
}

static int write_batch(lake *l, batch *b, ids_error *err)
{
	qsort(b->r, b->n, sizeof *b->r, cmp_rec);
	int rc = 0;
	/* schema files first: the DDL must know every column a file has */
	for (size_t i = 0; !rc && i < b->n; i++)
		if (i == 0 || b->r[i].t != b->r[i - 1].t)
			rc = lk_table_save(l, b->r[i].t, err);
	size_t start = 0;
	for (size_t i = 1; !rc && i <= b->n; i++) {
		if (i < b->n && b->r[i].t == b->r[start].t)
			continue;
		rc = write_group(l, b->r + start, i - start, err);
		if (rc && !b->only) {
			/* that table waits (hold.c retries it), the others go on */
			lk_hold_table(l, b->r[start].t, LK_HOLD_CONF, b->r[start].seq, err);
			ids_error clean = IDS_ERROR_INIT;
			*err = clean;
			rc = 0;
		}
		start = i;
	}
	return rc;
}

typedef struct retouch {
	lake *l;
	int64_t upto;
	ids_buf key;
	ids_error *err;
} retouch;

static int on_retouch(void *ctx, const ledger_change *c)
{
	retouch *x = ctx;
	if (c->seq > x->upto)
		return 1;
	lk_table *t;
	int rc = lk_table_get(x->l, c->db, c->store, &t, x->err);
	if (!rc)
		rc = lk_key_json(c->key, c->key_len, &x->key, x->err);
	return rc ? rc : lk_log_touch_key(t, c, x->key.data, x->err);
}

int lk_log_retouch(lake *l, int64_t after, int64_t upto, ids_error *err)
{
	retouch x = {.l = l, .upto = upto, .err = err};
	int rc = 0;
	while (!rc && after < upto) {
		int64_t last = after;
		rc = ledger_changes_scan(l->lg, after, BATCH_MAX, on_retouch, &x, &last, err);
		if (rc == 1) {
			rc = 0;   /* went past upto */
			break;
		}
		if (last <= after)
			break;    /* nothing more in the ledger */
		after = last;
	}
	ids_buf_free(&x.key);
	return rc;
}

int lk_conflicts_flush(lake *l, int64_t *done, ids_error *err)
{
	batch b = {.l = l, .err = err, .last = l->conflicts_id};
	int64_t last = 0;
	int rc = ledger_conflicts_scan(l->lg, l->conflicts_id, BATCH_MAX, on_conflict, &b, &last, err);
	if (rc == 1)
		rc = 0;
	if (!rc && b.n)
		rc = write_batch(l, &b, err);
	*done = b.last;
	batch_free(&b);
	return rc;
}

int lk_conflicts_replay(lake *l, lk_table *t, int64_t after, int64_t upto, ids_error *err)
{
	int rc = 0;
	while (!rc && after < upto) {
		batch b = {.l = l, .err = err, .last = after, .only = t, .upto = upto};
		int64_t last = after;
		rc = ledger_conflicts_scan(l->lg, after, BATCH_MAX, on_conflict, &b, &last, err);
		if (rc == 1)
			rc = 0;
		if (!rc && b.n)
			rc = write_batch(l, &b, err);
		batch_free(&b);
		if (last <= after || last >= upto)
			break;
		after = last;
	}
	return rc;
}

void lk_log_path(char *out, size_t sz, const char *dir, int64_t first, int64_t last)
{
	ids_path(out, sz, NULL, "%s/part-%020" PRId64 "-%020" PRId64 ".parquet", dir, first, last);
}

int lk_log_name(const char *n, int64_t *first, int64_t *last)
{
	long long x, y;
	int end = 0;
	if (sscanf(n, "part-%lld-%lld.parquet%n", &x, &y, &end) == 2 && end > 0 && n[end] == 0) {
		*first = x;
		*last = y;
		return 1;
	}
	return 0;
}

/* The loaded table of database db whose dir name is name[0..n), or NULL. */
static lk_table *table_named(lake *l, const char *db, const char *name, size_t n)
{
	for (lk_table *t = l->tables; t; t = t->next)
		if (!strcmp(t->db, db) && strlen(t->table) == n && !strncmp(t->table, name, n))
			return t;
	return NULL;
}

/* A file of a held table at or past the hold, or a quarantined change's own file, was
 * written by a replay that was not recorded: the next replay writes it again. */
int lk_log_unrecorded(lake *l, lk_table *t, int conflicts, int64_t a, int64_t b)
{
	if (!t)
		return 0;
	int64_t held = conflicts ? t->conf_held : t->log_held;
	if (held && a >= held)
		return 1;
	for (lk_qchange *q = l->quarantine; !conflicts && q; q = q->next)
		if (q->t == t && q->seq == a && a == b)
			return 1;
	return 0;
}

static void clean_files(lake *l, const char *dir, lk_table *t, int conflicts, int64_t keep_upto, int depth)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		const char *n = e->d_name;
		if (n[0] == '.' || n[0] == '_')
			continue;
		char p[IDS_PATH_MAX + 1];
		ids_path(p, sizeof p, NULL, "%s/%s", dir, n);
		int64_t a, b;
		if (depth == 0 && !strncmp(n, "dt=", 3))
			clean_files(l, p, t, conflicts, keep_upto, 1);
		else if (lk_log_name(n, &a, &b) && (a > keep_upto || lk_log_unrecorded(l, t, conflicts, a, b)))
			unlink(p);
	}
	closedir(d);
	lk_fsync_dir(dir);
}

static void clean_dir(lake *l, const char *dir, const char *db, const char *tname, size_t n, int64_t keep_upto,
		      int conflicts)
{
	clean_files(l, dir, table_named(l, db, tname, n), conflicts, keep_upto, conflicts);
}

int lk_log_cleanup(lake *l, ids_error *err)
{
	DIR *root = opendir(l->dir);
	if (!root)
		return 0;
	struct dirent *e;
	while ((e = readdir(root))) {
		if (e->d_name[0] == '.' || e->d_name[0] == '_')
			continue;
		char db[IDS_PATH_MAX + 1];
		ids_path(db, sizeof db, NULL, "%s/%s", l->dir, e->d_name);
		DIR *d = opendir(db);
		if (!d)
			continue;
		struct dirent *t;
		while ((t = readdir(d))) {
			char p[IDS_PATH_MAX + 1];
			ids_path(p, sizeof p, NULL, "%s/%s", db, t->d_name);
			if (t->d_name[0] == '.' && strcmp(t->d_name, ".") && strcmp(t->d_name, "..")) {
				lk_rm_rf(p);   /* a rebuild that did not finish */
				continue;
			}
			if (t->d_name[0] == '.' || t->d_name[0] == '_')
				continue;
			size_t n = strlen(t->d_name);
			/* which limit applies is told by the layout: change files sit under dt=,
			 * conflict files at the top of the table dir */
			if (n > 8 && !strcmp(t->d_name + n - 8, "_changes"))
				clean_dir(l, p, e->d_name, t->d_name, n - 8, l->changes_seq, 0);
			else if (n > 10 && !strcmp(t->d_name + n - 10, "_conflicts"))
				clean_dir(l, p, e->d_name, t->d_name, n - 10, l->conflicts_id, 1);
		}
		closedir(d);
		char tmp[IDS_PATH_MAX + 1];
		ids_path(tmp, sizeof tmp, NULL, "%s/_idbsync/tmp", db);
		lk_rm_rf(tmp);
	}
	closedir(root);
	lk_ice_reconcile(l);   /* the Iceberg tables too */
	(void)err;
	return 0;
}
