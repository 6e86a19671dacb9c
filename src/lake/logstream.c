/* One round of the change log: the ledger's changes after changes_seq, in seq order, streamed
 * into one open file per (table, day), each row built, written and freed at once. Holding a
 * round's rows (100k parsed values) until the end made the allocator give its heap back and
 * fault it in again every round: most of a round's time went to clearing fresh pages.
 * A change that widens its table's schema closes that table's open file first, so every file
 * has one schema, and the schema file names it before the file appears. Files are written in
 * the hidden staging dir and renamed in as part-<first>-<last>.parquet (lake.c records the
 * progress after; changelog.c removes files past it at start).
 * Isolation: a row the writer refuses is quarantined and the round goes on; a table whose
 * file cannot be written loses this round's files and is held (hold.c retries it through
 * lk_log_replay), and the round goes on for every other table. */
#include "iceberg.h"
#include "lake_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ROUND_MAX 100000
#define ROUND_BYTES ((size_t)64 << 20)
#define OPEN_MAX 64              /* open files (tables x days) before all are finished */

typedef struct lfile {
	lk_table *t;
	char dt[12];
	int version;                 /* the table's schema version the file was opened with */
	pq_writer *w;
	int64_t first, last;
	size_t n;
	char stage[IDS_PATH_MAX + 1];
} lfile;

typedef struct done_file {
	lk_table *t;
	char *path;
} done_file;

typedef struct round {
	lake *l;
	lfile f[OPEN_MAX];
	size_t n_open, rows, bytes, seen;
	int64_t last;
	lk_table *cache;
	ids_buf key;
	ids_error *err;
	int rc;
	done_file *done;             /* files renamed in this round (removed again if their table is held) */
	size_t n_done;
	lk_table *only;              /* replay: this table alone, */
	int64_t upto;                /* up to this seq, */
	int single;                  /* one change in a file of its own */
	int64_t day_lo, day_hi;      /* the UTC day [lo, hi) in ms of dt, the last change's */
	char dt[12];
} round;

static void drop(lfile *f)
{
	pq_writer_free(f->w);
	if (f->stage[0])
		unlink(f->stage);
	memset(f, 0, sizeof *f);
}

/* Closes f and renames it into its dt= dir (a file whose rows were all refused is dropped). */
static int finish(round *r, lfile *f, ids_error *err)
{
	lake *l = r->l;
	if (!f->n) {
		drop(f);
		return 0;
	}
	char base[IDS_PATH_MAX + 1], dir[IDS_PATH_MAX + 1], final[IDS_PATH_MAX + 1];
	lk_table_dir(l, f->t, "_changes", base, sizeof base);
	int rc = pq_writer_close(f->w, err);
	if (!rc)
		rc = ids_path(dir, sizeof dir, err, "%s/dt=%s", base, f->dt);
	lk_log_path(final, sizeof final, dir, f->first, f->last);
	if (!rc)
		rc = ids_mkdirs(dir, err);
	if (!rc && rename(f->stage, final))
		rc = ids_fail(err, IDS_EIO, "rename %s -> %s: %m", f->stage, final);
	if (rc) {
		ids_wrap(err, "%s: ", final);
		drop(f);
		return rc;
	}
	f->stage[0] = 0;
	lk_fsync_dir(dir);
	lk_ice_add_file(l, f->t, LK_T_CHANGES, final, f->dt, f->first, f->last, (int64_t)f->n);
	{
		done_file *d = realloc(r->done, (r->n_done + 1) * sizeof *d);
		if (d) {
			r->done = d;
			d[r->n_done].t = f->t;
			if ((d[r->n_done].path = strdup(final)))
				r->n_done++;
		}
	}
	atomic_fetch_add(&l->m_files, 1);
	atomic_fetch_add(&l->m_log_rows, (long long)f->n);
	f->t->log_files++;
	char part[40];
	snprintf(part, sizeof part, "dt=%s", f->dt);
	lk_notify_table(l, f->t, "changes", part, f->last);
	drop(f);
	return 0;
}

/* t cannot take this round's rows (the error is in r->err): in a replay that is the
 * answer; otherwise t's files of this round go, t is held from its first change of the
 * round, and the round goes on. */
static int table_failed(round *r, lk_table *t, int64_t seq)
{
	if (r->only)
		return r->rc ? r->rc : IDS_EIO;
	int64_t from = t->round_first && t->round_first < seq ? t->round_first : seq;
	for (size_t i = 0; i < r->n_open;)
		if (r->f[i].t == t) {
			drop(&r->f[i]);
			r->f[i] = r->f[--r->n_open];
		} else {
			i++;
		}
	for (size_t i = 0; i < r->n_done; i++)
		if (r->done[i].t == t)
			unlink(r->done[i].path);
	lk_hold_table(r->l, t, LK_HOLD_LOG, from, r->err);
	ids_error clean = IDS_ERROR_INIT;
	*r->err = clean;
	return r->rc = 0;
}

static int finish_all(round *r)
{
	while (r->n_open) {
		lfile f = r->f[--r->n_open];
		lk_table *t = f.t;   /* finish drops f, also when it fails */
		int64_t first = f.first;
		if ((r->rc = finish(r, &f, r->err)) && table_failed(r, t, first))
			return r->rc;
	}
	return 0;
}

/* The open file of (t, dt) at t's current schema version, opening one if needed. */
static int file_for(round *r, lk_table *t, const char *dt, int64_t seq, lfile **out)
{
	for (size_t i = 0; i < r->n_open; i++) {
		lfile *f = &r->f[i];
		if (f->t != t || strcmp(f->dt, dt))
			continue;
		if (f->version == t->version) {
			*out = f;
			return 0;
		}
		lfile old = *f;   /* the schema widened: a new file */
		r->f[i] = r->f[--r->n_open];
		int rc = finish(r, &old, r->err);
		if (rc)
			return rc;   /* on_change holds t */
		break;
	}
	int rc = r->n_open == OPEN_MAX ? finish_all(r) : 0;
	if (rc)
		return rc;
	/* the schema file must name every column before a file has it */
	if ((rc = lk_table_save(r->l, t, r->err)))
		return rc;
	lfile *f = &r->f[r->n_open];
	memset(f, 0, sizeof *f);
	char stage[IDS_PATH_MAX + 1];
	if ((rc = lk_stage_dir(r->l, t->db, stage, sizeof stage, r->err)))
		return rc;
	if ((rc = ids_path(f->stage, sizeof f->stage, r->err, "%s/%s_changes-%" PRId64 ".parquet", stage, t->table, seq)))
		return rc;
	pq_node *schema = lk_table_schema(r->l, t, LK_T_CHANGES);
	pq_write_options wo;
	lk_write_opts(r->l, &wo);
	rc = schema ? pq_writer_new(&f->w, f->stage, schema, &wo, r->err) : ids_fail(r->err, IDS_ENOMEM, "out of memory");
	pq_node_free(schema);
	if (rc) {
		f->stage[0] = 0;
		drop(f);
		return rc;
	}
	f->t = t;
	snprintf(f->dt, sizeof f->dt, "%s", dt);
	f->version = t->version;
	f->first = seq;
	r->n_open++;
	*out = f;
	return 0;
}

static int on_change(void *ctx, const ledger_change *c)
{
	round *r = ctx;
	if (r->only && c->seq > r->upto)
		return 1;
	r->seen++;
	lk_table *t = r->cache;
	if (!t || strcmp(t->db, c->db) || strcmp(t->store, c->store)) {
		if ((r->rc = lk_table_get(r->l, c->db, c->store, &t, r->err)))
			return r->rc;
		r->cache = t;
	}
	if (r->only && t != r->only)
		return 0;
	if ((r->rc = lk_key_json(c->key, c->key_len, &r->key, r->err)) ||
	    (r->rc = lk_log_touch_key(t, c, r->key.data, r->err)))
		return r->rc;
	if ((!r->only && t->log_held && c->seq >= t->log_held) || (!r->single && lk_hold_quarantined(r->l, t, c->seq))) {
		r->last = c->seq;   /* a held table's changes wait for its replay, a quarantined one for its own */
		t->obs_from = t->obs_to = 0;   /* not observed: the state observes what follows itself */
		lk_feed_bad(t);
		return 0;
	}
	if (!t->round_first)
		t->round_first = c->seq;
	lake *l = r->l;
	const ids_json *v = c->value && !lk_parse_value(&l->vjson, c->value, c->value_len) ? &l->vjson : NULL;
	if (v)
		lk_table_observe_v(l, t, v, c->seq);
	/* changes of t come in seq order and none was passed over since obs_to (that resets it) */
	if (!t->obs_to)
		t->obs_from = c->seq;
	if (c->seq > t->obs_to)
		t->obs_to = c->seq;
	if (c->value && !v)
		atomic_fetch_add(&l->m_fallbacks[LK_FB_BAD_VALUE], 1);   /* the ledger validated it */
	if (c->ts_ms < r->day_lo || c->ts_ms >= r->day_hi) {
		/* a day is 86,400,000 ms in Unix time: strftime once per day, not per change */
		int64_t d = c->ts_ms / 86400000 - (c->ts_ms % 86400000 < 0);
		r->day_lo = d * 86400000;
		r->day_hi = r->day_lo + 86400000;
		lk_day_of(c->ts_ms, r->dt);
	}
	lfile *f;
	if ((r->rc = file_for(r, t, r->dt, c->seq, &f)))
		return table_failed(r, t, c->seq);
	lk_row *o = lk_row_start(l);
	int del = c->op == IDS_OP_DELETE;
	lk_row_i64(o, "idb_seq", c->seq);
	lk_row_str(o, "idb_op", del ? "delete" : "put", del ? 6 : 3);
	lk_row_bool(o, "idb_deleted", del);
	lk_row_str(o, "idb_key", r->key.data, r->key.len);
	lk_row_str(o, "idb_user", c->user, strlen(c->user));
	lk_row_str(o, "idb_client", c->client, strlen(c->client));
	lk_row_i64(o, "idb_mid", c->mid);
	lk_row_str(o, "idb_hlc", c->hlc, strlen(c->hlc));
	lk_row_ts(o, "idb_ts", c->ts_ms);
	lk_row_str(o, "idb_origin", c->origin == IDS_ORIGIN_SERVER ? "server" : "client", 6);
	lk_row_fill(l, t, v, 0);
	/* the user columns as put are kept for the state's next delta (state_feed.c) */
	l->tape_want = !r->only && t->upto >= 0 && !t->feed_bad && !t->part_field;
	r->rc = lk_write_row(l, f->w, r->err);
	l->tape_want = 0;
	if (r->rc) {
		if (!pq_writer_usable(f->w))
			return table_failed(r, t, c->seq);
		if (r->only && r->single)
			return r->rc;
		/* the writer refused this row alone: it waits in the quarantine */
		if ((r->rc = lk_hold_change(l, t, c, r->key.data, r->err)))
			return r->rc;
		ids_error clean = IDS_ERROR_INIT;
		*r->err = clean;
		r->last = c->seq;
		return 0;
	}
	if (r->only)
		lk_feed_bad(t);   /* a replay: its changes are older than what was fed */
	else
		lk_feed_change(l, t, c, r->key.data, r->key.len, v);
	if (!f->n)
		f->first = c->seq;
	f->last = c->seq;
	f->n++;
	r->last = c->seq;
	r->rows++;
	r->bytes += c->value_len + c->key_len + 200;
	if (r->single)
		return 1;
	return r->bytes > ROUND_BYTES ? 1 : 0;
}

static void round_end(round *r)
{
	for (size_t i = 0; i < r->n_open; i++)
		drop(&r->f[i]);
	r->n_open = 0;
	for (size_t i = 0; i < r->n_done; i++)
		free(r->done[i].path);
	free(r->done);
	ids_buf_free(&r->key);
	for (lk_table *t = r->l->tables; t; t = t->next)
		t->round_first = 0;
}

int lk_log_flush(lake *l, int64_t *done, int *more, ids_error *err)
{
	round r = {.l = l, .err = err, .last = l->changes_seq, .day_lo = 1, .day_hi = 0};
	int64_t last = 0;
	*more = 0;
	size_t max = l->round_max ? l->round_max : ROUND_MAX;
	int rc = ledger_changes_scan(l->lg, l->changes_seq, max, on_change, &r, &last, err);
	if (rc == 1 || (!rc && r.seen == max))
		*more = 1;
	if (rc == 1)
		rc = 0;
	if (!rc)
		rc = finish_all(&r);
	if (rc)   /* the round is read again: its changes would be fed twice */
		for (lk_table *t = l->tables; t; t = t->next)
			lk_feed_bad(t);
	*done = r.last;
	round_end(&r);
	return rc;
}

int lk_log_replay(lake *l, lk_table *t, int64_t after, int64_t upto, int single, ids_error *err)
{
	int rc = 0;
	while (!rc && after < upto) {
		round r = {.l = l, .err = err, .last = after, .only = t, .upto = upto, .single = single, .day_lo = 1, .day_hi = 0};
		int64_t last = after;
		rc = ledger_changes_scan(l->lg, after, single ? 1 : ROUND_MAX, on_change, &r, &last, err);
		if (rc == 1)
			rc = 0;
		if (!rc)
			rc = finish_all(&r);
		if (rc)   /* nothing of a failed replay stays: the next one writes it all again */
			for (size_t i = 0; i < r.n_done; i++)
				unlink(r.done[i].path);
		int end = last <= after || last >= upto || single;
		after = last;
		round_end(&r);
		if (end)
			break;
	}
	return rc;
}
