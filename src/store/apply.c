/* Applying one push batch inside the writer's transaction: idempotency by client mutation id,
 * gap detection, user scoping, the conflict rule, and the row / change-log / conflict writes. */
#include "store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t lookup_or_insert(store *s, const char *sel, const char *ins, int64_t a, const char *name,
				int *rc_out, ids_error *err)
{
	sqlite3_stmt *q;
	int64_t id = -1;
	for (int pass = 0; pass < 2 && id < 0; pass++) {
		if (sqlite3_prepare_v2(s->w, pass ? ins : sel, -1, &q, NULL) != SQLITE_OK) {
			*rc_out = store_sql_err(s, s->w, SQLITE_ERROR, err, "prepare");
			return -1;
		}
		int i = 1;
		if (a >= 0)
			sqlite3_bind_int64(q, i++, a);
		sqlite3_bind_text(q, i, name, -1, SQLITE_STATIC);
		int rc = sqlite3_step(q);
		if (!pass && rc == SQLITE_ROW)
			id = sqlite3_column_int64(q, 0);
		else if (pass && rc == SQLITE_DONE)
			id = sqlite3_last_insert_rowid(s->w);
		else if (pass) {
			*rc_out = store_sql_err(s, s->w, rc, err, "insert");
			sqlite3_finalize(q);
			return -1;
		}
		sqlite3_finalize(q);
	}
	*rc_out = 0;
	return id;
}

int store_db_id(store *s, const char *name, int64_t *did, ids_error *err)
{
	int rc;
	*did = lookup_or_insert(s, "SELECT did FROM dbs WHERE name=?1", "INSERT INTO dbs(name) VALUES(?1)", -1,
				name, &rc, err);
	return rc;
}

int store_user_id(store *s, const char *name, int64_t *uid, ids_error *err)
{
	int rc;
	*uid = lookup_or_insert(s, "SELECT uid FROM users WHERE name=?1", "INSERT INTO users(name) VALUES(?1)",
				-1, name, &rc, err);
	return rc;
}

int store_store_id(store *s, int64_t did, const char *name, int64_t *sid, ids_error *err)
{
	int rc;
	*sid = lookup_or_insert(s, "SELECT sid FROM stores WHERE did=?1 AND name=?2",
				"INSERT INTO stores(did, name) VALUES(?1, ?2)", did, name, &rc, err);
	return rc;
}

static int step_done(store *s, sqlite3_stmt *q, ids_error *err, const char *what)
{
	int rc = sqlite3_step(q);
	sqlite3_reset(q);
	if (rc != SQLITE_DONE)
		return store_sql_err(s, s->w, rc, err, what);
	return 0;
}

/* Per-batch cache of store ids: batches usually touch one or two stores. */
typedef struct sid_cache {
	const char *name[8];
	int64_t sid[8];
	ids_rule rule[8];
	int ro[8];
	int64_t dlive[8], dtomb[8];
	int n;
} sid_cache;

static int flush_counts(store *s, sid_cache *c, ids_error *err)
{
	for (int i = 0; i < c->n; i++) {
		if (!c->dlive[i] && !c->dtomb[i])
			continue;
		sqlite3_stmt *q = s->st[ST_STORE_COUNTS];
		sqlite3_bind_int64(q, 1, c->sid[i]);
		sqlite3_bind_int64(q, 2, c->dlive[i]);
		sqlite3_bind_int64(q, 3, c->dtomb[i]);
		int rc = step_done(s, q, err, "store counts");
		if (rc)
			return rc;
		c->dlive[i] = c->dtomb[i] = 0;
	}
	return 0;
}

static int sid_for(store *s, ids_batch *b, int64_t did, sid_cache *c, const char *name, int *slot,
		   ids_error *err)
{
	for (int i = 0; i < c->n; i++)
		if (c->name[i] == name || !strcmp(c->name[i], name)) {
			*slot = i;
			return 0;
		}
	if (c->n == 8) {
		int rc = flush_counts(s, c, err);
		if (rc)
			return rc;
		c->n = 0;
	}
	int i = c->n;
	int rc = store_store_id(s, did, name, &c->sid[i], err);
	if (rc)
		return rc;
	c->n++;
	c->name[i] = name;
	c->rule[i] = store_rule(s, b->db, name);
	c->ro[i] = store_is_read_only(s, b->db, name);
	c->dlive[i] = c->dtomb[i] = 0;
	*slot = i;
	return 0;
}

void store_conflict_json(ids_buf *o, const ids_mutation *m, ids_rule rule, const char *reason, int64_t wseq,
			 int wdel, const char *whlc, const char *wval, size_t wlen, const ids_buf *lost)
{
	ids_buf_putc(o, o->len ? ',' : '[');
	ids_buf_printf(o, "{\"id\":%lld,\"store\":", (long long)m->id);
	ids_buf_json_str(o, m->store, strlen(m->store));
	ids_buf_puts(o, ",\"key\":");
	ids_key_to_json(m->key, m->key_len, o, NULL);
	ids_buf_printf(o, ",\"op\":\"%s\",\"rule\":\"%s\",\"reason\":", m->op == IDS_OP_PUT ? "put" : "delete",
		       ids_rule_name(rule));
	ids_buf_json_str(o, reason, strlen(reason));
	if (lost && lost->len) {
		ids_buf_puts(o, ",\"fields\":");
		ids_buf_append(o, lost->data, lost->len);
	}
	ids_buf_printf(o, ",\"winner\":{\"seq\":%lld,\"op\":\"%s\",\"hlc\":\"%s\"", (long long)wseq,
		       wdel ? "delete" : "put", whlc);
	if (!wdel && wval) {
		ids_buf_puts(o, ",\"value\":");
		ids_buf_append(o, wval, wlen);
	}
	ids_buf_puts(o, "}}");
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

#define CHANGE_ROWS 32

typedef struct ctx {
	int64_t did, uid, cid;
	int64_t now;
	ids_origin origin;
	int skip_insert_first; /* mutations left before trying the insert-first path again */
	/* change-log rows are inserted 32 (or 8) per statement: a statement per row cost 1.1k
	 * instructions more per row (cursor, VDBE start and halt) */
	change_row pend[CHANGE_ROWS];
	int n_pend;
} ctx;

static void bind_change(sqlite3_stmt *q, int at, const ctx *c, const change_row *r)
{
	sqlite3_bind_int64(q, at + 1, r->seq);
	sqlite3_bind_int64(q, at + 2, c->did);
	sqlite3_bind_int64(q, at + 3, r->sid);
	sqlite3_bind_int64(q, at + 4, c->uid);
	sqlite3_bind_blob(q, at + 5, r->key, (int)r->key_len, SQLITE_STATIC);
	sqlite3_bind_int(q, at + 6, r->deleted ? IDS_OP_DELETE : IDS_OP_PUT);
	sqlite3_bind_text(q, at + 7, r->h, -1, SQLITE_STATIC);
	if (r->val)
		sqlite3_bind_text(q, at + 8, r->val, (int)r->vlen, SQLITE_STATIC);
	else
		sqlite3_bind_null(q, at + 8);
	sqlite3_bind_int64(q, at + 9, c->cid);
	sqlite3_bind_int64(q, at + 10, r->mid);
	sqlite3_bind_int(q, at + 11, c->origin);
	sqlite3_bind_int64(q, at + 12, c->now);
}

/* Writes the waiting change-log rows, in seq order. Must run before anything reads the
 * change log inside the transaction (the merge rule's base lookup) and before the batch ends. */
static int flush_changes(store *s, ctx *c, ids_error *err)
{
	int done = 0, rc = 0;
	while (!rc && done < c->n_pend) {
		int left = c->n_pend - done;
		int rows = left >= 32 ? 32 : left >= 8 ? 8 : 1;
		sqlite3_stmt *q = s->st[rows == 32 ? ST_ADD_CHANGES_32 : rows == 8 ? ST_ADD_CHANGES_8 : ST_ADD_CHANGE];
		for (int r = 0; r < rows; r++)
			bind_change(q, r * 12, c, &c->pend[done + r]);
		rc = step_done(s, q, err, "change log");
		done += rows;
	}
	c->n_pend = 0;
	return rc;
}

/* Queues a change-log row; val must live as long as the batch (merged values do not: the
 * caller flushes right after queueing one). */
static int add_change(store *s, ctx *c, int64_t seq, int64_t sid, const ids_mutation *m, int deleted,
		      const char *h, const char *val, size_t vlen, ids_error *err)
{
	change_row *r = &c->pend[c->n_pend++];
	*r = (change_row){seq, sid, m->id, m->key, m->key_len, val, vlen, deleted, ""};
	memcpy(r->h, h, strlen(h) + 1);
	return c->n_pend == CHANGE_ROWS ? flush_changes(s, c, err) : 0;
}

static int log_conflict(store *s, ctx *c, int64_t sid, const ids_mutation *m, ids_rule rule,
			const char *reason, int64_t wseq, const char *whlc, ids_error *err)
{
	sqlite3_stmt *q = s->st[ST_ADD_CONFLICT];
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
	return step_done(s, q, err, "conflict log");
}

int store_admit_mutation(store *s, const ids_batch *b, int read_only, ids_mutation *m, ids_error *err)
{
	if (b->origin == IDS_ORIGIN_CLIENT && read_only)
		return ids_fail(err, IDS_EFORBIDDEN,
				"mutation %lld: store \"%s\" is server-owned (read-only for clients); nothing of this push "
				"was applied",
				(long long)m->id, m->store);
	if (!m->has_hlc) {
		hlc_clock_now(&s->clock, &m->hlc);
		m->has_hlc = 1;
	} else {
		hlc_clock_observe(&s->clock, &m->hlc);
	}
	return 0;
}

int store_refuse_shared(const ids_batch *b, const ids_mutation *m, ids_error *err)
{
	ids_buf k = IDS_BUF_INIT;
	ids_key_to_json(m->key, m->key_len, &k, NULL);
	int rc = ids_fail(err, IDS_EFORBIDDEN,
			  "mutation %lld: store \"%s\" key %s belongs to another owner (shared row); "
			  "user \"%s\" may not change it",
			  (long long)m->id, m->store, k.data ? k.data : "?", b->user);
	ids_buf_free(&k);
	return rc;
}

/* Extends the last run of kept mutations or starts one. */
int store_note_kept(store_push_result *r, int64_t id, int64_t seq, ids_error *err)
{
	struct store_kept_run *k = r->n_kept ? &r->kept[r->n_kept - 1] : NULL;
	if (k && id == k->id + k->n && seq == k->seq + k->n) {
		k->n++;
		return 0;
	}
	if (r->n_kept == r->cap_kept) {
		size_t nc = r->cap_kept ? r->cap_kept * 2 : 4;
		struct store_kept_run *a = realloc(r->kept, nc * sizeof *a);
		if (!a)
			return ids_fail(err, IDS_ENOMEM, "out of memory");
		r->kept = a;
		r->cap_kept = nc;
	}
	r->kept[r->n_kept++] = (struct store_kept_run){id, seq, 1};
	return 0;
}

/* Binds a row's columns (ST_PUT_ROW and ST_INSERT_ROW share them). */
static void bind_row(sqlite3_stmt *p, ctx *c, int64_t sid, const ids_batch *b, const ids_mutation *m,
		     int64_t seq, const char *h, const ids_decision *d, const char *val, size_t vlen)
{
	sqlite3_bind_int64(p, 1, sid);
	sqlite3_bind_int64(p, 2, c->uid);
	sqlite3_bind_blob(p, 3, m->key, (int)m->key_len, SQLITE_STATIC);
	sqlite3_bind_int64(p, 4, c->did);
	sqlite3_bind_int64(p, 5, seq);
	sqlite3_bind_text(p, 6, h, -1, SQLITE_STATIC);
	sqlite3_bind_int(p, 7, d->deleted);
	sqlite3_bind_int(p, 8, b->origin);
	if (val)
		sqlite3_bind_text(p, 9, val, (int)vlen, SQLITE_STATIC);
	else
		sqlite3_bind_null(p, 9);
	if (d->merged)
		sqlite3_bind_text(p, 10, d->meta.data, (int)d->meta.len, SQLITE_STATIC);
	else
		sqlite3_bind_null(p, 10);
	sqlite3_bind_int64(p, 11, store_key_hash(m->key, m->key_len)); /* for the lake's bucket scans */
}

/* A shared row (uid 0) with this key: a user may not create its own over it. */
static int shared_row(store *s, int64_t sid, const ids_mutation *m)
{
	sqlite3_stmt *q = s->st[ST_GET_SHARED];
	sqlite3_bind_int64(q, 1, sid);
	sqlite3_bind_blob(q, 2, m->key, (int)m->key_len, SQLITE_STATIC);
	int shared = sqlite3_step(q) == SQLITE_ROW;
	sqlite3_reset(q);
	return shared;
}

/* Most pushed keys are new. For them every rule but merge decides "apply as sent" without a
 * current row, so the row is inserted straight away (ON CONFLICT DO NOTHING) and read only if
 * the insert finds the key taken: one index search and one statement per new key fewer. After
 * a miss the next 16 mutations take the read-first path, so pushes of updates pay for one
 * failed insert in 17. Returns 1 with d decided and the row written, 0 to read the row first. */
static int insert_first(store *s, ids_batch *b, ctx *c, int64_t sid, ids_rule rule, ids_mutation *m,
			int64_t seq, char *h, ids_decision *d, int *rc, ids_error *err)
{
	static const ids_row none = {0};
	if (rule == IDS_RULE_MERGE || c->skip_insert_first > 0) {
		c->skip_insert_first -= c->skip_insert_first > 0;
		return 0;
	}
	if (c->uid != 0 && shared_row(s, sid, m))
		return 0; /* the read-first path answers 403 */
	if ((*rc = ids_conflict_decide(rule, &none, m, b->origin, seq, d, err)))
		return 1;
	if (d->outcome != IDS_APPLY || d->merged || d->partial) {
		ids_decision_free(d);
		ids_decision_init(d);
		return 0;
	}
	hlc_format(&d->hlc, h);
	sqlite3_stmt *p = s->st[ST_INSERT_ROW];
	bind_row(p, c, sid, b, m, seq, h, d, d->deleted ? NULL : m->value, m->value_len);
	if ((*rc = step_done(s, p, err, "write row")))
		return 1;
	if (sqlite3_changes(s->w) == 1)
		return 1;
	c->skip_insert_first = 16;
	ids_decision_free(d);
	ids_decision_init(d);
	return 0;
}

/* store_apply_decided's writes on SQLite (store_apply_io) */
typedef struct wctx {
	store *s;
	const ids_batch *b;
	ctx *c;
	int64_t sid;
	sqlite3_stmt *g;   /* the current row's read: reset before writing, its columns die then */
	int written;       /* insert_first wrote the row already */
} wctx;

static int sql_write(void *arg, const ids_mutation *m, int64_t seq, const char *h, const ids_decision *d,
		     const char *val, size_t vlen, ids_error *err)
{
	wctx *w = arg;
	store *s = w->s;
	int rc;
	if (!w->written) {
		sqlite3_stmt *p = s->st[ST_PUT_ROW];
		bind_row(p, w->c, w->sid, w->b, m, seq, h, d, val, vlen);
		/* cur's column pointers die with the reset, and the merge buffers already copied them */
		sqlite3_reset(w->g);
		if ((rc = step_done(s, p, err, "write row")))
			return rc;
	}
	if ((rc = add_change(s, w->c, seq, w->sid, m, d->deleted, h, val, vlen, err)) ||
	    (d->merged && (rc = flush_changes(s, w->c, err))))
		return rc;
	return d->deleted ? 0 : store_fields_note(s, w->sid, m, err);
}

static int sql_conflict(void *arg, const ids_mutation *m, ids_rule rule, const char *reason, int64_t wseq,
			const char *whlc, ids_error *err)
{
	wctx *w = arg;
	sqlite3_reset(w->g);
	return log_conflict(w->s, w->c, w->sid, m, rule, reason, wseq, whlc, err);
}

static int apply_one(store *s, ids_batch *b, ctx *c, sid_cache *sc, ids_mutation *m,
		     store_push_result *res, ids_error *err)
{
	int slot, rc = sid_for(s, b, c->did, sc, m->store, &slot, err);
	if (rc)
		return rc;
	int64_t sid = sc->sid[slot];
	ids_rule rule = sc->rule[slot];
	if ((rc = store_admit_mutation(s, b, sc->ro[slot], m, err)))
		return rc;

	ids_row cur = {0};
	char cur_hlc[HLC_STR_MAX] = "";
	sqlite3_stmt *g = s->st[ST_GET_ROW];
	sqlite3_stmt *bq = NULL;
	int64_t seq = s->next_seq;
	char h[HLC_STR_MAX];
	ids_decision d;
	ids_decision_init(&d);
	int written = insert_first(s, b, c, sid, rule, m, seq, h, &d, &rc, err);
	if (rc)
		goto out;
	if (!written) {
		sqlite3_bind_int64(g, 1, sid);
		sqlite3_bind_int64(g, 2, c->uid);
		sqlite3_bind_blob(g, 3, m->key, (int)m->key_len, SQLITE_STATIC);
		store_sqlite_rows rows;
		store_sqlite_rows_init(&rows, s, g, "read row");
		if ((rc = rows.src.next(&rows.src, err)) < 0)
			goto out;
		if (rc == 1)
			store_read_cur(&rows.src, 0, &cur, cur_hlc);
		rc = 0;
		if (!cur.exists && c->uid != 0 && shared_row(s, sid, m)) {
			rc = store_refuse_shared(b, m, err);
			goto out;
		}
		if (rule == IDS_RULE_MERGE && m->has_base && cur.exists) {
			if ((rc = flush_changes(s, c, err))) {
				sqlite3_reset(g);
				goto out;
			}
			bq = s->st[ST_BASE_VALUE];
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
		rc = ids_conflict_decide(rule, &cur, m, b->origin, seq, &d, err);
		if (bq)
			sqlite3_reset(bq);
		if (rc)
			goto out;
	}
	wctx w = {s, b, c, sid, g, written};
	store_apply_io io = {sql_write, sql_conflict, &w};
	rc = store_apply_decided(s, &io, rule, m, &cur, cur_hlc, seq, &d, &sc->dlive[slot], &sc->dtomb[slot], res, err);
out:
	sqlite3_reset(g);
	ids_decision_free(&d);
	return rc;
}

typedef struct batch_ctx {
	store *s;
	ids_batch *b;
	ctx *c;
	sid_cache *sc;
	store_push_result *res;
	ids_error *err;
} batch_ctx;

static int apply_at(void *arg, size_t i)
{
	batch_ctx *x = arg;
	return apply_one(x->s, x->b, x->c, x->sc, &x->b->m[i], x->res, x->err);
}

static int get_client(store *s, ctx *c, const char *name, int64_t *last_mid, ids_error *err)
{
	sqlite3_stmt *q = s->st[ST_GET_CLIENT];
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
		return store_sql_err(s, s->w, rc, err, "read client");
	sqlite3_stmt *ins;
	sqlite3_prepare_v2(s->w, "INSERT INTO clients(did, uid, name, seen) VALUES(?1,?2,?3,?4)", -1, &ins, NULL);
	sqlite3_bind_int64(ins, 1, c->did);
	sqlite3_bind_int64(ins, 2, c->uid);
	sqlite3_bind_text(ins, 3, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(ins, 4, c->now);
	rc = sqlite3_step(ins);
	sqlite3_finalize(ins);
	if (rc != SQLITE_DONE)
		return store_sql_err(s, s->w, rc, err, "add client");
	c->cid = sqlite3_last_insert_rowid(s->w);
	*last_mid = 0;
	return 0;
}

int store_apply_batch(store *s, ids_batch *b, store_push_result *res, ids_error *err)
{
	ctx c;
	c.did = c.uid = c.cid = 0;
	c.skip_insert_first = c.n_pend = 0;
	c.origin = b->origin;
	c.now = hlc_wall_ms();
	int rc = store_db_id(s, b->db, &c.did, err);
	if (!rc)
		rc = store_user_id(s, b->user, &c.uid, err);
	int64_t last_mid = 0;
	if (!rc)
		rc = get_client(s, &c, b->client, &last_mid, err);
	if (rc)
		return rc;
	sid_cache sc = {0};
	int64_t ack = last_mid;
	batch_ctx bc = {s, b, &c, &sc, res, err};
	rc = store_apply_ids(b, &ack, res, apply_at, &bc);
	if (!rc)
		rc = flush_changes(s, &c, err);
	if (!rc)
		rc = flush_counts(s, &sc, err);
	if (!rc) {
		sqlite3_stmt *q = s->st[ST_SET_CLIENT];
		sqlite3_bind_int64(q, 1, c.cid);
		sqlite3_bind_int64(q, 2, ack);
		sqlite3_bind_int64(q, 3, c.now);
		rc = step_done(s, q, err, "client progress");
	}
	if (res->conflicts_json.len)
		ids_buf_putc(&res->conflicts_json, ']');
	res->ack = ack;
	res->expected = ack + 1;
	return rc;
}
