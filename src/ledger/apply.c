/* Applying one push batch inside the writer's transaction: idempotency by client mutation id,
 * gap detection, user scoping, the conflict rule, and the row / change-log / conflict writes.
 * New keys' rows and change-log rows are written in runs of up to 32 per statement. */
#include "ledger_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int step_done(ledger *lg, sqlite3_stmt *q, ids_error *err, const char *what)
{
	int rc = sqlite3_step(q);
	sqlite3_reset(q);
	if (rc != SQLITE_DONE)
		return ledger_sql_err(lg, lg->w, rc, err, what);
	return 0;
}

/* Per-batch cache of store ids: batches usually touch one or two stores. */
typedef struct sid_cache {
	const char *name[8];
	int64_t sid[8];
	ids_rule rule[8];
	int ro[8];
	int64_t dlive[8], dtomb[8];
	int shared[8]; /* the store has live shared rows (uid 0): 1 yes, 0 no, -1 not asked yet */
	int n;
} sid_cache;

static int flush_counts(ledger *lg, sid_cache *c, ids_error *err)
{
	for (int i = 0; i < c->n; i++) {
		if (!c->dlive[i] && !c->dtomb[i])
			continue;
		sqlite3_stmt *q = lg->st[ST_STORE_COUNTS];
		sqlite3_bind_int64(q, 1, c->sid[i]);
		sqlite3_bind_int64(q, 2, c->dlive[i]);
		sqlite3_bind_int64(q, 3, c->dtomb[i]);
		int rc = step_done(lg, q, err, "store counts");
		if (rc)
			return rc;
		c->dlive[i] = c->dtomb[i] = 0;
	}
	return 0;
}

/* A change-log row waiting for its multi-row insert; key and value point into the batch. */
typedef struct change_row {
	int64_t seq, sid, mid;
	const uint8_t *key;
	size_t key_len;
	const char *val;
	size_t vlen;
	int deleted;
	char h[HLC_STR_MAX];
} change_row;

/* A new key's row waiting for its multi-row insert (flush_fresh); the mutation lives in the batch. */
typedef struct fresh_row {
	ids_mutation *m;
	int slot;
	int deleted;
	hlc_stamp hlc;
	char h[HLC_STR_MAX];
} fresh_row;

/* change-log rows and new keys' rows are inserted 32 (or 8) per statement: a statement per
 * row cost 1.1k (change log) and ~3k (row) instructions more per row: cursors, VDBE start
 * and halt (ledger.c: multi_insert_sql) */
#define CHANGE_ROWS 32
#define FRESH_ROWS 32
#define BACKOFF_MIN 16
#define BACKOFF_MAX 1024

typedef struct ctx {
	int64_t did, uid, cid;
	int64_t now;
	ids_origin origin;
	ids_batch *b;
	sid_cache *sc;
	ledger_push_result *res;
	int skip_insert_first; /* mutations left before trying the insert-first path again */
	int backoff;           /* the next skip_insert_first: doubles per miss, reset by a hit */
	change_row pend[CHANGE_ROWS];
	int n_pend;
	int64_t tail; /* the change log's largest seq, -1: not known (tail_is) */
	fresh_row fresh[FRESH_ROWS];
	int n_fresh;
} ctx;

/* change log: ?1..?5 are did, uid, cid, origin, ts; a row's own 7 follow (ledger.c), or 6
 * without its seq (the ..R statements: the seq is the next rowid) */
static void bind_change(sqlite3_stmt *q, int at, const change_row *r, int with_seq)
{
	if (with_seq)
		sqlite3_bind_int64(q, ++at, r->seq);
	sqlite3_bind_int64(q, at + 1, r->sid);
	sqlite3_bind_blob(q, at + 2, r->key, (int)r->key_len, SQLITE_STATIC);
	sqlite3_bind_int(q, at + 3, r->deleted ? IDS_OP_DELETE : IDS_OP_PUT);
	sqlite3_bind_text(q, at + 4, r->h, -1, SQLITE_STATIC);
	if (r->val)
		sqlite3_bind_text(q, at + 5, r->val, (int)r->vlen, SQLITE_STATIC);
	else
		sqlite3_bind_null(q, at + 5);
	sqlite3_bind_int64(q, at + 6, r->mid);
}

/* Whether the change log's largest seq is `seq`, so rows inserted without a seq get seq+1,
 * seq+2, ...: the log is pruned by age (gc.c, scan.c), which may take its newest rows too.
 * c->tail caches the answer within the batch (only this batch writes the log meanwhile). */
static int tail_is(ledger *lg, ctx *c, int64_t seq)
{
	if (c->tail < 0) {
		sqlite3_stmt *q = lg->st[ST_CHANGES_TAIL];
		if (sqlite3_step(q) == SQLITE_ROW)
			c->tail = sqlite3_column_int64(q, 0); /* NULL (empty log) reads as 0 */
		sqlite3_reset(q);
	}
	return c->tail == seq;
}

/* Writes the waiting change-log rows, in seq order. Must run before anything reads the
 * change log inside the transaction (the merge rule's base lookup) and before the batch ends. */
static int flush_changes(ledger *lg, ctx *c, ids_error *err)
{
	int done = 0, rc = 0;
	while (!rc && done < c->n_pend) {
		int left = c->n_pend - done;
		int rows = left >= 32 ? 32 : left >= 8 ? 8 : 1;
		const change_row *first = &c->pend[done];
		int next_rowid = rows > 1 && first[rows - 1].seq == first->seq + rows - 1 && tail_is(lg, c, first->seq - 1);
		for (int r = 1; next_rowid && r < rows; r++)
			next_rowid = first[r].seq == first[r - 1].seq + 1;
		sqlite3_stmt *q = lg->st[rows == 32 ? (next_rowid ? ST_ADD_CHANGES_32R : ST_ADD_CHANGES_32) :
				     rows == 8 ? (next_rowid ? ST_ADD_CHANGES_8R : ST_ADD_CHANGES_8) : ST_ADD_CHANGE];
		sqlite3_bind_int64(q, 1, c->did);
		sqlite3_bind_int64(q, 2, c->uid);
		sqlite3_bind_int64(q, 3, c->cid);
		sqlite3_bind_int(q, 4, c->origin);
		sqlite3_bind_int64(q, 5, c->now);
		for (int r = 0; r < rows; r++)
			bind_change(q, 5 + r * (next_rowid ? 6 : 7), &first[r], !next_rowid);
		rc = step_done(lg, q, err, "change log");
		if (!rc && next_rowid && sqlite3_last_insert_rowid(lg->w) != first[rows - 1].seq)
			rc = ids_fail(err, IDS_ECORRUPT, "change log: seq %lld written as %lld (data dir %s)",
				      (long long)first[rows - 1].seq, (long long)sqlite3_last_insert_rowid(lg->w), lg->dir);
		c->tail = rc ? -1 : first[rows - 1].seq;
		done += rows;
	}
	c->n_pend = 0;
	return rc;
}

/* Queues a change-log row; val must live as long as the batch (merged values do not: the
 * caller flushes right after queueing one). */
static int add_change(ledger *lg, ctx *c, int64_t seq, int64_t sid, const ids_mutation *m, int deleted,
		      const char *h, const char *val, size_t vlen, ids_error *err)
{
	change_row *r = &c->pend[c->n_pend++];
	*r = (change_row){seq, sid, m->id, m->key, m->key_len, val, vlen, deleted, ""};
	memcpy(r->h, h, strlen(h) + 1);
	return c->n_pend == CHANGE_ROWS ? flush_changes(lg, c, err) : 0;
}

static int log_conflict(ledger *lg, ctx *c, int64_t sid, const ids_mutation *m, ids_rule rule,
			const char *reason, int64_t wseq, const char *whlc, ids_error *err)
{
	sqlite3_stmt *q = lg->st[ST_ADD_CONFLICT];
	char h[HLC_STR_MAX];
	hlc_format(&m->hlc, h);
	sqlite3_bind_int64(q, 1, c->did);
	sqlite3_bind_int64(q, 2, sid);
	sqlite3_bind_int64(q, 3, c->uid);
	sqlite3_bind_blob(q, 4, m->key, (int)m->key_len, SQLITE_STATIC);
	sqlite3_bind_int64(q, 5, c->cid);
	sqlite3_bind_int64(q, 6, m->id);
	sqlite3_bind_int(q, 7, m->op);
	sqlite3_bind_text(q, 8, h, -1, SQLITE_TRANSIENT);
	if (m->value)
		sqlite3_bind_text(q, 9, m->value, (int)m->value_len, SQLITE_STATIC);
	else
		sqlite3_bind_null(q, 9);
	sqlite3_bind_text(q, 10, ids_rule_name(rule), -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 11, reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 12, wseq);
	sqlite3_bind_text(q, 13, whlc, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(q, 14, c->now);
	return step_done(lg, q, err, "conflict log");
}

/* Binds a row's per-field stamps (merge) at `at`. The row's value is not written: the change
 * at its seq holds it (LEDGER_ROW_VALUE). */
static void bind_meta(sqlite3_stmt *p, int at, const ids_decision *d)
{
	if (d->merged)
		sqlite3_bind_text(p, at, d->meta.data, (int)d->meta.len, SQLITE_STATIC);
	else
		sqlite3_bind_null(p, at);
}

/* Binds a new row's columns (ST_PUT_ROW). */
static void bind_row(sqlite3_stmt *p, ctx *c, int64_t sid, const ids_batch *b, const ids_mutation *m,
		     int64_t seq, const char *h, const ids_decision *d)
{
	sqlite3_bind_int64(p, 1, sid);
	sqlite3_bind_int64(p, 2, c->uid);
	sqlite3_bind_blob(p, 3, m->key, (int)m->key_len, SQLITE_STATIC);
	sqlite3_bind_int64(p, 4, c->did);
	sqlite3_bind_int64(p, 5, seq);
	sqlite3_bind_text(p, 6, h, -1, SQLITE_STATIC);
	sqlite3_bind_int(p, 7, d->deleted);
	sqlite3_bind_int(p, 8, b->origin);
	bind_meta(p, 9, d);
	sqlite3_bind_int64(p, 10, ledger_key_hash(m->key, m->key_len)); /* for the lake's bucket scans */
	sqlite3_bind_int64(p, 11, ledger_row_ukl(c->uid, m->key_len));
}

/* Binds an existing row's new state (ST_SET_ROW). */
static void bind_set_row(sqlite3_stmt *p, int64_t rowid, int64_t seq, const char *h, const ids_decision *d,
			 ids_origin origin)
{
	sqlite3_bind_int64(p, 1, rowid);
	sqlite3_bind_int64(p, 2, seq);
	sqlite3_bind_text(p, 3, h, -1, SQLITE_STATIC);
	sqlite3_bind_int(p, 4, d->deleted);
	sqlite3_bind_int(p, 5, origin);
	bind_meta(p, 6, d);
}

/* A shared row (uid 0) with this key: a user may not create its own over it. Most stores
 * have no shared row at all, which is asked once per batch and store (a user's push creates
 * none) instead of once per mutation. */
static int shared_row(ledger *lg, sid_cache *sc, int slot, const ids_mutation *m)
{
	if (sc->shared[slot] < 0) {
		sqlite3_stmt *q = lg->st[ST_ANY_SHARED];
		sqlite3_bind_int64(q, 1, sc->sid[slot]);
		sc->shared[slot] = sqlite3_step(q) == SQLITE_ROW;
		sqlite3_reset(q);
	}
	if (!sc->shared[slot])
		return 0;
	sqlite3_stmt *q = lg->st[ST_GET_SHARED];
	sqlite3_bind_int64(q, 1, sc->sid[slot]);
	sqlite3_bind_blob(q, 2, m->key, (int)m->key_len, SQLITE_STATIC);
	sqlite3_bind_int64(q, 3, ledger_row_ukl(0, m->key_len));
	int shared = sqlite3_step(q) == SQLITE_ROW;
	sqlite3_reset(q);
	return shared;
}

static int flush_fresh(ledger *lg, ctx *c, ids_error *err);

static int sid_for(ledger *lg, ctx *c, const char *name, int *slot, ids_error *err)
{
	sid_cache *sc = c->sc;
	for (int i = 0; i < sc->n; i++)
		if (sc->name[i] == name || !strcmp(sc->name[i], name)) {
			*slot = i;
			return 0;
		}
	if (sc->n == 8) {
		/* the waiting new rows refer to their store by slot */
		int rc = flush_fresh(lg, c, err);
		if (!rc)
			rc = flush_counts(lg, sc, err);
		if (rc)
			return rc;
		sc->n = 0;
	}
	int i = sc->n;
	int rc = ledger_store_id(lg, c->did, name, &sc->sid[i], err);
	if (rc)
		return rc;
	sc->n++;
	sc->name[i] = name;
	sc->rule[i] = ledger_rule(lg, c->b->db, name);
	sc->ro[i] = ledger_is_read_only(lg, c->b->db, name);
	sc->dlive[i] = sc->dtomb[i] = 0;
	sc->shared[i] = -1;
	*slot = i;
	return 0;
}

/* ledger_apply_decided's writes on SQLite (ledger_apply_io) */
typedef struct wctx {
	ledger *lg;
	ctx *c;
	int64_t sid;
	sqlite3_stmt *g; /* the current row's read (NULL: none): reset before writing, its columns die then */
	int exists;      /* the key has a row, rowid: ST_SET_ROW; else ST_PUT_ROW */
	int64_t rowid;
	int written;     /* flush_fresh wrote the row already */
} wctx;

static int sql_write(void *arg, const ids_mutation *m, int64_t seq, const char *h, const ids_decision *d,
		     const char *val, size_t vlen, ids_error *err)
{
	wctx *w = arg;
	ledger *lg = w->lg;
	int rc;
	if (!w->written) {
		sqlite3_stmt *p = lg->st[w->exists ? ST_SET_ROW : ST_PUT_ROW];
		if (w->exists)
			bind_set_row(p, w->rowid, seq, h, d, w->c->origin);
		else
			bind_row(p, w->c, w->sid, w->c->b, m, seq, h, d);
		/* cur's column pointers die with the reset, and the merge buffers already copied them */
		if (w->g)
			sqlite3_reset(w->g);
		if ((rc = step_done(lg, p, err, "write row")))
			return rc;
	}
	if ((rc = add_change(lg, w->c, seq, w->sid, m, d->deleted, h, val, vlen, err)) ||
	    (d->merged && (rc = flush_changes(lg, w->c, err))))
		return rc;
	return d->deleted ? 0 : ledger_fields_note(lg, w->sid, m, err);
}

static int sql_conflict(void *arg, const ids_mutation *m, ids_rule rule, const char *reason, int64_t wseq,
			const char *whlc, ids_error *err)
{
	wctx *w = arg;
	if (w->g)
		sqlite3_reset(w->g);
	return log_conflict(w->lg, w->c, w->sid, m, rule, reason, wseq, whlc, err);
}

/* Most pushed keys are new. For them every rule but merge decides "apply as sent" without a
 * current row, so such a mutation is decided straight away and its row waits for a
 * multi-row insert (flush_fresh) instead of being read first: one index search and one
 * statement per new key fewer. Returns 1 if m is queued (or *rc is set), 0 to read its row. */
static int queue_fresh(ledger *lg, ctx *c, int slot, ids_rule rule, ids_mutation *m, int *rc, ids_error *err)
{
	static const ids_row none = {0};
	if (c->uid != 0 && shared_row(lg, c->sc, slot, m))
		return 0; /* the read-first path answers 403 */
	ids_decision d;
	ids_decision_init(&d);
	*rc = ids_conflict_decide(rule, &none, m, c->origin, lg->next_seq + c->n_fresh, &d, err);
	int queued = !*rc && d.outcome == IDS_APPLY && !d.merged && !d.partial;
	if (queued) {
		fresh_row *f = &c->fresh[c->n_fresh++];
		f->m = m;
		f->slot = slot;
		f->deleted = d.deleted;
		f->hlc = d.hlc;
		hlc_format(&d.hlc, f->h);
	}
	ids_decision_free(&d);
	if (queued && c->n_fresh == FRESH_ROWS)
		*rc = flush_fresh(lg, c, err);
	return queued || *rc;
}

static int apply_one(ledger *lg, ctx *c, ids_mutation *m, int read_first, ids_error *err);

/* Inserts the waiting new keys' rows, 32, 8 or 1 per statement, and finishes their mutations.
 * A key that exists after all (a row of an earlier push, or a key twice in the batch) stops
 * its statement with a constraint error (INSERT OR FAIL: the rows before it stay, and need no
 * statement journal, which copied every page the statement touched): the mutations from
 * there on take the read-first path, in order, and the next `backoff` mutations skip the
 * insert-first path (pushes of updates pay for one failed statement per 16..1024 mutations). */
static int flush_fresh(ledger *lg, ctx *c, ids_error *err)
{
	int n = c->n_fresh, done = 0, rc = 0;
	c->n_fresh = 0;
	while (!rc && done < n) {
		int left = n - done, rows = left >= 32 ? 32 : left >= 8 ? 8 : 1;
		sqlite3_stmt *q = lg->st[rows == 32 ? ST_NEW_ROWS_32 : rows == 8 ? ST_NEW_ROWS_8 : ST_NEW_ROWS_1];
		/* ?1..?3 are uid, did, origin; a row's own 7 follow (ledger.c; no value: the change
		 * log's row holds it, LEDGER_ROW_VALUE) */
		sqlite3_bind_int64(q, 1, c->uid);
		sqlite3_bind_int64(q, 2, c->did);
		sqlite3_bind_int(q, 3, c->origin);
		for (int r = 0; r < rows; r++) {
			const fresh_row *f = &c->fresh[done + r];
			const ids_mutation *m = f->m;
			int at = 3 + r * 7;
			sqlite3_bind_int64(q, at + 1, c->sc->sid[f->slot]);
			sqlite3_bind_blob(q, at + 2, m->key, (int)m->key_len, SQLITE_STATIC);
			sqlite3_bind_int64(q, at + 3, lg->next_seq + r);
			sqlite3_bind_text(q, at + 4, f->h, -1, SQLITE_STATIC);
			sqlite3_bind_int(q, at + 5, f->deleted);
			sqlite3_bind_int64(q, at + 6, ledger_key_hash(m->key, m->key_len)); /* the lake's buckets */
			sqlite3_bind_int64(q, at + 7, ledger_row_ukl(c->uid, m->key_len));
		}
		/* OR FAIL: the rows before a conflicting one stay in, and sqlite3_changes counts them */
		int src = sqlite3_step(q);
		int went = src == SQLITE_DONE ? rows : (src & 0xff) == SQLITE_CONSTRAINT ? sqlite3_changes(lg->w) : -1;
		sqlite3_reset(q);
		if (went < 0 || went > rows || (went == rows && src != SQLITE_DONE))
			return ledger_sql_err(lg, lg->w, src, err, "write row");
		static const ids_row none = {0};
		for (int r = 0; !rc && r < went; r++) {
			fresh_row *f = &c->fresh[done + r];
			ids_decision d;
			ids_decision_init(&d);
			d.outcome = IDS_APPLY;
			d.deleted = f->deleted;
			d.hlc = f->hlc;
			wctx w = {lg, c, c->sc->sid[f->slot], NULL, 0, 0, 1};
			ledger_apply_io io = {sql_write, sql_conflict, &w};
			rc = ledger_apply_decided(lg, &io, c->sc->rule[f->slot], f->m, &none, "", lg->next_seq, &d,
						 &c->sc->dlive[f->slot], &c->sc->dtomb[f->slot], c->res, err);
		}
		if (!rc && went < rows) {
			c->skip_insert_first = c->backoff;
			c->backoff = c->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : c->backoff * 2;
			for (int r = done + went; !rc && r < n; r++)
				rc = apply_one(lg, c, c->fresh[r].m, 1, err);
			return rc;
		}
		c->backoff = BACKOFF_MIN;
		done += rows;
	}
	return rc;
}

/* The value of a live row read without it (LEDGER_ROW_VALUE): the change at the row's seq
 * holds it, still in the queue of change-log rows if this push wrote the row, else in the
 * change log (*vq then holds the column until the caller resets it). Only the merge rule and
 * a losing mutation's answer need it: last-writer-wins decides on stamps alone. */
static int row_value(ledger *lg, const ctx *c, ids_row *cur, sqlite3_stmt **vq, ids_error *err)
{
	if (!cur->exists || cur->deleted || cur->value)
		return 0;
	for (int i = c->n_pend - 1; i >= 0; i--)
		if (c->pend[i].seq == cur->seq) {
			cur->value = c->pend[i].val;
			cur->value_len = c->pend[i].vlen;
			return 0;
		}
	*vq = lg->st[ST_ROW_VALUE];
	sqlite3_bind_int64(*vq, 1, cur->seq);
	int step = sqlite3_step(*vq);
	if (step == SQLITE_ROW && sqlite3_column_type(*vq, 0) == SQLITE_TEXT) {
		cur->value = (const char *)sqlite3_column_text(*vq, 0);
		cur->value_len = (size_t)sqlite3_column_bytes(*vq, 0);
		return 0;
	}
	return ids_fail(err, step == SQLITE_ROW || step == SQLITE_DONE ? IDS_ECORRUPT : IDS_EIO,
			"row at seq %lld: its value is in neither the row nor the change log (data dir %s)",
			(long long)cur->seq, lg->dir);
}

/* Applies one mutation, or queues it for flush_fresh; read_first: its row is read first. */
static int apply_one(ledger *lg, ctx *c, ids_mutation *m, int read_first, ids_error *err)
{
	int slot, rc = sid_for(lg, c, m->store, &slot, err);
	if (rc)
		return rc;
	ids_batch *b = c->b;
	int64_t sid = c->sc->sid[slot];
	ids_rule rule = c->sc->rule[slot];
	if ((rc = ledger_admit_mutation(lg, b, c->sc->ro[slot], m, err)))
		return rc;
	if (!read_first && rule != IDS_RULE_MERGE) {
		if (c->skip_insert_first > 0)
			c->skip_insert_first--;
		else if (queue_fresh(lg, c, slot, rule, m, &rc, err))
			return rc;
	}
	/* the rows waiting for their insert go first: this mutation may read one of them */
	if ((rc = flush_fresh(lg, c, err)))
		return rc;

	ids_row cur = {0};
	char cur_hlc[HLC_STR_MAX] = "";
	sqlite3_stmt *g = lg->st[ST_GET_ROW];
	sqlite3_stmt *bq = NULL, *vq = NULL;
	int64_t seq = lg->next_seq, rowid = 0;
	ids_decision d;
	ids_decision_init(&d);
	sqlite3_bind_int64(g, 1, sid);
	sqlite3_bind_int64(g, 2, ledger_row_ukl(c->uid, m->key_len));
	sqlite3_bind_blob(g, 3, m->key, (int)m->key_len, SQLITE_STATIC);
	ledger_sqlite_rows rows;
	ledger_sqlite_rows_init(&rows, lg, g, "read row");
	if ((rc = rows.src.next(&rows.src, err)) < 0)
		goto out;
	if (rc == 1) {
		ledger_read_cur(&rows.src, 0, &cur, cur_hlc);
		rowid = sqlite3_column_int64(g, 6);
	}
	rc = 0;
	if (!cur.exists && c->uid != 0 && shared_row(lg, c->sc, slot, m)) {
		rc = ledger_refuse_shared(b, m, err);
		goto out;
	}
	if (rule == IDS_RULE_MERGE && m->has_base && cur.exists) {
		if ((rc = flush_changes(lg, c, err)))
			goto out;
		bq = lg->st[ST_BASE_VALUE];
		sqlite3_bind_int64(bq, 1, m->base);
		sqlite3_bind_int64(bq, 2, sid);
		sqlite3_bind_int64(bq, 3, c->uid);
		sqlite3_bind_blob(bq, 4, m->key, (int)m->key_len, SQLITE_STATIC);
		if (sqlite3_step(bq) == SQLITE_ROW) {
			cur.has_base_value = 1;
			if (sqlite3_column_int(bq, 0) == IDS_OP_PUT) {
				cur.base_value = (const char *)sqlite3_column_text(bq, 1);
				cur.base_len = (size_t)sqlite3_column_bytes(bq, 1);
			}
		}
	}
	if (rule == IDS_RULE_MERGE && (rc = row_value(lg, c, &cur, &vq, err)))
		goto out;
	rc = ids_conflict_decide(rule, &cur, m, b->origin, seq, &d, err);
	if (bq)
		sqlite3_reset(bq);
	if (!rc && d.outcome == IDS_LOSE)   /* the answer names the winning value */
		rc = row_value(lg, c, &cur, &vq, err);
	if (rc)
		goto out;
	wctx w = {lg, c, sid, g, cur.exists, rowid, 0};
	ledger_apply_io io = {sql_write, sql_conflict, &w};
	rc = ledger_apply_decided(lg, &io, rule, m, &cur, cur_hlc, seq, &d, &c->sc->dlive[slot], &c->sc->dtomb[slot], c->res,
				 err);
out:
	sqlite3_reset(g);
	if (vq)
		sqlite3_reset(vq);
	ids_decision_free(&d);
	return rc;
}

typedef struct batch_ctx {
	ledger *lg;
	ctx *c;
	ids_error *err;
} batch_ctx;

static int apply_at(void *arg, size_t i)
{
	batch_ctx *x = arg;
	return apply_one(x->lg, x->c, &x->c->b->m[i], 0, x->err);
}

static int get_client(ledger *lg, ctx *c, const char *name, int64_t *last_mid, ids_error *err)
{
	sqlite3_stmt *q = lg->st[ST_GET_CLIENT];
	sqlite3_bind_int64(q, 1, c->did);
	sqlite3_bind_int64(q, 2, c->uid);
	sqlite3_bind_text(q, 3, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		c->cid = sqlite3_column_int64(q, 0);
		*last_mid = sqlite3_column_int64(q, 1);
		sqlite3_reset(q);
		return 0;
	}
	sqlite3_reset(q);
	if (rc != SQLITE_DONE)
		return ledger_sql_err(lg, lg->w, rc, err, "read client");
	sqlite3_stmt *ins;
	sqlite3_prepare_v2(lg->w, "INSERT INTO clients(did, uid, name, seen) VALUES(?1,?2,?3,?4)", -1, &ins, NULL);
	sqlite3_bind_int64(ins, 1, c->did);
	sqlite3_bind_int64(ins, 2, c->uid);
	sqlite3_bind_text(ins, 3, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(ins, 4, c->now);
	rc = sqlite3_step(ins);
	sqlite3_finalize(ins);
	if (rc != SQLITE_DONE)
		return ledger_sql_err(lg, lg->w, rc, err, "add client");
	c->cid = sqlite3_last_insert_rowid(lg->w);
	*last_mid = 0;
	return 0;
}

int ledger_apply_batch(ledger *lg, ids_batch *b, ledger_push_result *res, ids_error *err)
{
	ctx c;
	c.did = c.uid = c.cid = 0;
	c.skip_insert_first = c.n_pend = c.n_fresh = 0;
	c.backoff = BACKOFF_MIN;
	c.tail = -1;
	c.origin = b->origin;
	c.now = hlc_wall_ms();
	int rc = ledger_db_id(lg, b->db, &c.did, err);
	if (!rc)
		rc = ledger_user_id(lg, b->user, &c.uid, err);
	int64_t last_mid = 0;
	if (!rc)
		rc = get_client(lg, &c, b->client, &last_mid, err);
	if (rc)
		return rc;
	sid_cache sc = {0};
	c.b = b;
	c.sc = &sc;
	c.res = res;
	int64_t ack = last_mid;
	batch_ctx bc = {lg, &c, err};
	rc = ledger_apply_ids(b, &ack, res, apply_at, &bc);
	/* a push parsed while it is applied (ids_batch_stream_begin) keeps nothing unless every
	 * mutation of it was valid: then its route parses it whole and says why */
	ids_error serr = IDS_ERROR_INIT;
	if (ids_batch_stream_end(b, &serr)) {
		*err = serr;
		return serr.code;
	}
	if (!rc)
		rc = flush_fresh(lg, &c, err);
	if (!rc)
		rc = flush_changes(lg, &c, err);
	if (!rc)
		rc = flush_counts(lg, &sc, err);
	if (!rc) {
		sqlite3_stmt *q = lg->st[ST_SET_CLIENT];
		sqlite3_bind_int64(q, 1, c.cid);
		sqlite3_bind_int64(q, 2, ack);
		sqlite3_bind_int64(q, 3, c.now);
		rc = step_done(lg, q, err, "client progress");
	}
	if (res->conflicts_json.len)
		ids_buf_putc(&res->conflicts_json, ']');
	res->ack = ack;
	res->expected = ack + 1;
	return rc;
}
