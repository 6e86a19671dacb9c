/* Group commit on PostgreSQL. The writer thread of each server applies its queued pushes in
 * one transaction that first locks the head row (UPDATE meta ... 'head'): the lock is the
 * commit order of every server, so seqs become visible in order (a pull's snapshot holds every
 * seq up to its head, docs/scaling.md) and a client's last acknowledged id is read and written
 * by one writer at a time (a retried batch reaching another server is a duplicate, never
 * applied twice). Pushes are answered only after COMMIT returned (synchronous_commit=on).
 * Round trips do not grow with a push's size: its keys' current rows are read in one statement
 * (unnest of binary arrays), conflicts are decided in C, and its rows and change-log entries are
 * written in one more; a push is cut into several such segments only where a key repeats (the
 * later mutation must see the earlier one's row) or more than 8 stores are touched.
 * Every read happens after the head lock, none before: a row read before it could be changed by
 * another server's group committing in between (its decision would rest on a stale row), and a
 * client's last_mid read before it would let a retried batch be applied twice. */
#include "pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct pctx {
	int64_t did, uid, cid, now;
	char sdid[24], suid[24], scid[24], snow[24];
	/* per-batch cache of the stores touched, with their live/tombstone count deltas */
	struct { const char *name; int64_t sid; ids_rule rule; int ro; int64_t dlive, dtomb; } st[8];
	int n_st;
} pctx;

static void i64s(char *out, int64_t v) { snprintf(out, 24, "%lld", (long long)v); }

/* One bigint answer of a parameterized statement, -1 (and rc) on failure. */
static int one_id(ledger *lg, const char *what, const char *sql, int n, const char *const *v, const int *lens,
		  const int *bin, int64_t *out, ids_error *err)
{
	PGresult *r = pg_run(lg, lg->pg->w, what, sql, n, v, lens, bin, err);
	if (!r)
		return IDS_EIO;
	*out = PQntuples(r) ? pg_i64(r, 0, 0) : -1;
	PQclear(r);
	return 0;
}

/* A push's database, user and client ids (each created on first use) and the client's last
 * acknowledged id, in one statement. Each insert-or-select is race-free because the head lock is
 * held: no other group can be between its insert and its commit. A row this statement inserts is
 * not in its own snapshot, so each name comes from exactly one side of its UNION ALL. */
static const char *const ids_sql =
	"WITH di AS (INSERT INTO dbs(name) VALUES($1::text) ON CONFLICT DO NOTHING RETURNING did),"
	" d AS (SELECT did FROM di UNION ALL SELECT did FROM dbs WHERE name=$1::text),"
	" ui AS (INSERT INTO users(name) VALUES($2::text) ON CONFLICT DO NOTHING RETURNING uid),"
	" u AS (SELECT uid FROM ui UNION ALL SELECT uid FROM users WHERE name=$2::text),"
	" ci AS (INSERT INTO clients(did, uid, name, seen) SELECT d.did, u.uid, $3::text, $4::bigint FROM d, u"
	" ON CONFLICT DO NOTHING RETURNING did, uid, cid, last_mid)"
	" SELECT did, uid, cid, last_mid FROM ci UNION ALL SELECT c.did, c.uid, c.cid, c.last_mid"
	" FROM clients c, d, u WHERE c.did=d.did AND c.uid=u.uid AND c.name=$3::text";

/* The stores' live/tombstone count deltas gathered so far, and with ack (not NULL) the client's
 * new last acknowledged id, in one statement. */
static int flush_counts(ledger *lg, pctx *c, const char *ack, ids_error *err)
{
	ids_buf sid = IDS_BUF_INIT, dl = IDS_BUF_INIT, dt = IDS_BUF_INIT;
	ids_buf_putc(&sid, '{'), ids_buf_putc(&dl, '{'), ids_buf_putc(&dt, '{');
	int n = 0;
	for (int i = 0; i < c->n_st; i++) {
		if (!c->st[i].dlive && !c->st[i].dtomb)
			continue;
		ids_buf_printf(&sid, "%s%lld", n ? "," : "", (long long)c->st[i].sid);
		ids_buf_printf(&dl, "%s%lld", n ? "," : "", (long long)c->st[i].dlive);
		ids_buf_printf(&dt, "%s%lld", n ? "," : "", (long long)c->st[i].dtomb);
		n++;
	}
	ids_buf_putc(&sid, '}'), ids_buf_putc(&dl, '}'), ids_buf_putc(&dt, '}');
	int rc = 0;
	if (sid.failed || dl.failed || dt.failed)
		rc = ids_fail(err, IDS_ENOMEM, "out of memory");
	else if (n || ack) {
		const char *v[] = {sid.data, dl.data, dt.data, ack ? c->scid : NULL, ack, c->snow};
		PGresult *r = pg_run(lg, lg->pg->w, "store counts and client progress",
				     "WITH u AS (UPDATE stores t SET live=t.live+x.dl, tomb=t.tomb+x.dt"
				     " FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS x(sid, dl, dt) WHERE t.sid=x.sid)"
				     " UPDATE clients SET last_mid=$5::bigint, seen=$6::bigint WHERE cid=$4::bigint",
				     6, v, NULL, NULL, err);
		rc = r ? 0 : IDS_EIO;
		PQclear(r);
	}
	ids_buf_free(&sid), ids_buf_free(&dl), ids_buf_free(&dt);
	for (int i = 0; i < c->n_st && !rc; i++)
		c->st[i].dlive = c->st[i].dtomb = 0;
	return rc;
}

static int store_slot(ledger *lg, const ids_batch *b, pctx *c, const char *name, int *slot, ids_error *err)
{
	for (int i = 0; i < c->n_st; i++)
		if (!strcmp(c->st[i].name, name)) {
			*slot = i;
			return 0;
		}
	int rc;
	if (c->n_st == 8) {
		if ((rc = flush_counts(lg, c, NULL, err)))
			return rc;
		c->n_st = 0;
	}
	int i = c->n_st;
	const char *v[] = {c->sdid, name};
	if ((rc = one_id(lg, "stores",
			 "WITH i AS (INSERT INTO stores(did, name) VALUES($1, $2) ON CONFLICT DO NOTHING RETURNING sid)"
			 " SELECT sid FROM i UNION ALL SELECT sid FROM stores WHERE did=$1 AND name=$2",
			 2, v, NULL, NULL, &c->st[i].sid, err)))
		return rc;
	c->st[i].name = name;
	c->st[i].rule = ledger_rule(lg, b->db, name);
	c->st[i].ro = ledger_is_read_only(lg, b->db, name);
	c->st[i].dlive = c->st[i].dtomb = 0;
	c->n_st++;
	*slot = i;
	return 0;
}

static int log_conflict(ledger *lg, pctx *c, const char *ssid, const ids_mutation *m, ids_rule rule,
			const char *reason, int64_t wseq, const char *whlc, ids_error *err)
{
	char h[HLC_STR_MAX], mid[24], op[8], ws[24];
	hlc_format(&m->hlc, h);
	i64s(mid, m->id), i64s(ws, wseq);
	snprintf(op, sizeof op, "%d", (int)m->op);
	const char *v[] = {c->sdid, ssid, c->suid, (const char *)m->key, c->scid, mid, op, h,
			   m->value, ids_rule_name(rule), reason, ws, whlc, c->snow};
	int lens[14] = {0, 0, 0, (int)m->key_len, 0, 0, 0, 0, (int)m->value_len};
	int bin[14] = {0, 0, 0, 1, 0, 0, 0, 0, 1};
	PGresult *r = pg_run(lg, lg->pg->w, "conflict log",
			     "INSERT INTO conflicts(did, sid, uid, key, cid, mid, op, hlc, value, rule, reason, winner_seq,"
			     " winner_hlc, ts) VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)",
			     14, v, lens, bin, err);
	PQclear(r);
	return r ? 0 : IDS_EIO;
}

/* A one-dimensional PostgreSQL array in binary form (array_send's layout), so that a segment's
 * keys and rows travel as a few parameters of one statement whatever the segment's size. */
typedef struct parr {
	ids_buf b;
	uint32_t oid, n;
	int nulls;
} parr;

static void be32(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v; }

static void parr_init(parr *a, uint32_t oid)
{
	memset(a, 0, sizeof *a);
	ids_buf_init(&a->b, (size_t)1 << 30); /* PostgreSQL's limit for one value */
	a->oid = oid;
	uint8_t hdr[20] = {0};
	ids_buf_append(&a->b, hdr, sizeof hdr); /* ndim, has-null, element type, length, lower bound */
}

static void parr_bytes(parr *a, const void *p, size_t n)
{
	uint8_t l[4];
	be32(l, p ? (uint32_t)n : 0xffffffffu);
	ids_buf_append(&a->b, l, 4);
	if (p)
		ids_buf_append(&a->b, p, n);
	a->nulls |= !p;
	a->n++;
}

static void parr_i64(parr *a, int64_t v)
{
	uint8_t x[8];
	be32(x, (uint32_t)((uint64_t)v >> 32)), be32(x + 4, (uint32_t)v);
	parr_bytes(a, x, 8);
}

/* The finished array as a binary parameter; IDS_ELIMIT when its buffer could not grow. */
static int parr_done(parr *a, const char **val, int *len, ids_error *err)
{
	if (a->b.failed)
		return ids_fail(err, IDS_ELIMIT, "PostgreSQL: a statement's array would pass 1 GiB (or memory ran out)");
	uint8_t *h = (uint8_t *)a->b.data;
	be32(h, 1), be32(h + 4, (uint32_t)a->nulls), be32(h + 8, a->oid), be32(h + 12, a->n), be32(h + 16, 1);
	*val = a->b.data;
	*len = (int)a->b.len;
	return 0;
}

#define OID_INT8 20
#define OID_BYTEA 17
#define OID_TEXT 25

/* A segment's current rows, one statement for all its keys. LATERAL keeps each lookup an index
 * probe on rows' primary key whatever the planner guesses for the array's size. The last column
 * is set when the row is absent and a shared row (uid 0) holds the key: a user may not create
 * its own over it. */
static const char *const read_rows_sql =
	"SELECT k.i, r.seq, r.hlc, r.deleted, r.origin, r.value, r.meta,"
	" r.seq IS NULL AND $3::bigint<>0 AND EXISTS(SELECT 1 FROM rows x WHERE x.sid=k.sid AND x.uid=0"
	" AND x.key=k.key AND x.deleted=0)"
	" FROM unnest($1::bigint[], $2::bytea[]) WITH ORDINALITY AS k(sid, key, i)"
	" LEFT JOIN LATERAL (SELECT seq, hlc, deleted, origin, value, meta FROM rows"
	" WHERE sid=k.sid AND uid=$3::bigint AND key=k.key) r ON true";

/* A segment's applied rows and change-log entries, one statement (keys are unique in a segment,
 * so no row is hit twice by the ON CONFLICT). */
static const char *const write_rows_sql =
	"WITH d AS (SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::bigint[], $4::text[], $5::bigint[],"
	" $6::text[], $7::text[], $8::bigint[], $9::bigint[], $10::bigint[])"
	" AS d(sid, key, seq, hlc, deleted, value, meta, khash, op, mid)),"
	" w AS (INSERT INTO rows(sid, uid, key, did, seq, hlc, deleted, origin, value, meta, khash)"
	" SELECT sid, $11::bigint, key, $12::bigint, seq, hlc, deleted, $13::int, value, meta, khash FROM d"
	" ON CONFLICT(sid, uid, key) DO UPDATE SET seq=excluded.seq, hlc=excluded.hlc, deleted=excluded.deleted,"
	" origin=excluded.origin, value=excluded.value, meta=excluded.meta)"
	" INSERT INTO changes(seq, did, sid, uid, key, op, hlc, value, cid, mid, origin, ts)"
	" SELECT seq, $12::bigint, sid, $11::bigint, key, op, hlc, value, $14::bigint, mid, $13::int, $15::bigint FROM d";

enum { W_SID, W_KEY, W_SEQ, W_HLC, W_DEL, W_VAL, W_META, W_HASH, W_OP, W_MID, W_N };

typedef struct seg {
	size_t *ix;      /* the batch's mutations to apply, in order */
	int *slot;       /* their store cache slot (valid for the segment being built) */
	size_t *set;     /* open-addressing set of (sid, key) in the segment: 1 + index into ix */
	size_t mask;
	parr w[W_N];
	size_t nw;
} seg;

static uint64_t key_slot(int64_t sid, const ids_mutation *m)
{
	return ((uint64_t)ledger_key_hash(m->key, m->key_len) << 16) ^ (uint64_t)sid * 0x9e3779b97f4a7c15ull;
}

/* Adds (sid, key) of ix[q] to the segment starting at p; 0 when the segment already has it.
 * Entries of earlier segments (index below p) count as free. */
static int seg_add(seg *g, const ids_batch *b, const pctx *c, size_t p, size_t q)
{
	const ids_mutation *m = &b->m[g->ix[q]];
	int64_t sid = c->st[g->slot[q]].sid;
	for (size_t h = key_slot(sid, m) & g->mask;; h = (h + 1) & g->mask) {
		size_t e = g->set[h];
		if (!e || e - 1 < p) {
			g->set[h] = q + 1;
			return 1;
		}
		const ids_mutation *o = &b->m[g->ix[e - 1]];
		if (c->st[g->slot[e - 1]].sid == sid && o->key_len == m->key_len && !memcmp(o->key, m->key, m->key_len))
			return 0;
	}
}

static int cached_slot(const pctx *c, const char *name)
{
	for (int i = 0; i < c->n_st; i++)
		if (!strcmp(c->st[i].name, name))
			return i;
	return -1;
}

/* ledger_apply_decided's writes on PostgreSQL (ledger_apply_io): an applied row joins the
 * segment's write statement, a conflict is logged at once. */
typedef struct wctx {
	ledger *lg;
	pctx *c;
	seg *g;
	int slot;
} wctx;

static int pg_write(void *arg, const ids_mutation *m, int64_t seq, const char *h, const ids_decision *d,
		    const char *val, size_t vlen, ids_error *err)
{
	(void)err;
	wctx *w = arg;
	seg *g = w->g;
	parr_i64(&g->w[W_SID], w->c->st[w->slot].sid);
	parr_bytes(&g->w[W_KEY], m->key, m->key_len);
	parr_i64(&g->w[W_SEQ], seq);
	parr_bytes(&g->w[W_HLC], h, strlen(h));
	parr_i64(&g->w[W_DEL], d->deleted);
	parr_bytes(&g->w[W_VAL], val, vlen);
	parr_bytes(&g->w[W_META], d->merged && d->meta.data ? d->meta.data : NULL, d->merged ? d->meta.len : 0);
	parr_i64(&g->w[W_HASH], ledger_key_hash(m->key, m->key_len));
	parr_i64(&g->w[W_OP], d->deleted ? IDS_OP_DELETE : IDS_OP_PUT);
	parr_i64(&g->w[W_MID], m->id);
	g->nw++;
	return 0;
}

static int pg_conflict(void *arg, const ids_mutation *m, ids_rule rule, const char *reason, int64_t wseq,
		       const char *whlc, ids_error *err)
{
	wctx *w = arg;
	char ssid[24];
	i64s(ssid, w->c->st[w->slot].sid);
	return log_conflict(w->lg, w->c, ssid, m, rule, reason, wseq, whlc, err);
}

/* Decides one mutation against its current row (cur; the segment's read) and queues its write. */
static int decide_one(ledger *lg, ids_batch *b, pctx *c, seg *g, int slot, ids_mutation *m, ids_row *cur,
		      const char *cur_hlc, int shared, ledger_push_result *res, ids_error *err)
{
	char ssid[24];
	i64s(ssid, c->st[slot].sid);
	ids_rule rule = c->st[slot].rule;
	int rc = 0;
	if (shared)
		return ledger_refuse_shared(b, m, err);
	PGresult *base = NULL;
	if (rule == IDS_RULE_MERGE && m->has_base && cur->exists) {
		/* rare (per-field merge with a base): one round trip of its own */
		char bs[24];
		i64s(bs, m->base);
		const char *bv[] = {bs, ssid, c->suid, (const char *)m->key};
		int bl[4] = {0, 0, 0, (int)m->key_len}, bb[4] = {0, 0, 0, 1};
		base = pg_run(lg, lg->pg->w, "read base", "SELECT op, value FROM changes WHERE seq=$1 AND sid=$2 AND uid=$3 AND key=$4",
			      4, bv, bl, bb, err);
		if (!base)
			return IDS_EIO;
		if (PQntuples(base)) {
			cur->has_base_value = 1;
			if (pg_i64(base, 0, 0) == IDS_OP_PUT) {
				cur->base_value = PQgetvalue(base, 0, 1);
				cur->base_len = (size_t)PQgetlength(base, 0, 1);
			}
		}
	}
	ids_decision d;
	ids_decision_init(&d);
	int64_t seq = lg->next_seq;
	wctx w = {lg, c, g, slot};
	ledger_apply_io io = {pg_write, pg_conflict, &w};
	if (!(rc = ids_conflict_decide(rule, cur, m, b->origin, seq, &d, err)))
		rc = ledger_apply_decided(lg, &io, rule, m, cur, cur_hlc, seq, &d, &c->st[slot].dlive, &c->st[slot].dtomb, res,
					 err);
	PQclear(base);
	ids_decision_free(&d);
	return rc;
}

/* Mutations ix[p..e) of one segment: one statement reads all their rows, C decides each in
 * order as before, one statement writes the applied rows and change-log entries. */
static int run_segment(ledger *lg, ids_batch *b, pctx *c, seg *g, size_t p, size_t e, ledger_push_result *res,
		       ids_error *err)
{
	parr sids, keys;
	parr_init(&sids, OID_INT8), parr_init(&keys, OID_BYTEA);
	for (size_t q = p; q < e; q++) {
		const ids_mutation *m = &b->m[g->ix[q]];
		parr_i64(&sids, c->st[g->slot[q]].sid);
		parr_bytes(&keys, m->key, m->key_len);
	}
	const char *rv[3] = {NULL, NULL, c->suid};
	int rl[3] = {0, 0, 0}, rb[3] = {1, 1, 0};
	int rc = parr_done(&sids, &rv[0], &rl[0], err);
	if (!rc)
		rc = parr_done(&keys, &rv[1], &rl[1], err);
	PGresult *r = rc ? NULL : pg_run(lg, lg->pg->w, "read rows", read_rows_sql, 3, rv, rl, rb, err);
	ids_buf_free(&sids.b), ids_buf_free(&keys.b);
	if (rc)
		return rc;
	if (!r)
		return IDS_EIO;
	size_t n = e - p;
	int *row = malloc(n * sizeof *row);
	if (!row) {
		PQclear(r);
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++)
		row[i] = -1;
	for (int t = 0; t < PQntuples(r); t++) {
		int64_t i = pg_i64(r, t, 0) - 1;
		if (i >= 0 && (size_t)i < n)
			row[i] = t;
	}
	g->nw = 0;
	for (int k = 0; k < W_N; k++)
		parr_init(&g->w[k], k == W_KEY ? OID_BYTEA : k == W_HLC || k == W_VAL || k == W_META ? OID_TEXT : OID_INT8);
	for (size_t i = 0; i < n && !rc; i++) {
		int t = row[i];
		if (t < 0) {
			rc = ids_fail(err, IDS_EIO, "PostgreSQL: read rows: a key's answer is missing");
			break;
		}
		ids_row cur = {0};
		char cur_hlc[HLC_STR_MAX] = "";
		if (!PQgetisnull(r, t, 1)) {
			pg_rows rows;
			pg_rows_init(&rows, r, 0);
			rows.row = t;
			ledger_read_cur(&rows.src, 1, &cur, cur_hlc);
		}
		int shared = PQgetvalue(r, t, 7)[0] == 't';
		rc = decide_one(lg, b, c, g, g->slot[p + i], &b->m[g->ix[p + i]], &cur, cur_hlc, shared, res, err);
	}
	free(row);
	PQclear(r);
	if (!rc && g->nw) {
		const char *v[15];
		int l[15] = {0}, bin[15] = {0};
		for (int k = 0; k < W_N && !rc; k++) {
			bin[k] = 1;
			rc = parr_done(&g->w[k], &v[k], &l[k], err);
		}
		char org[4];
		snprintf(org, sizeof org, "%d", (int)b->origin);
		v[10] = c->suid, v[11] = c->sdid, v[12] = org, v[13] = c->scid, v[14] = c->snow;
		PGresult *w = rc ? NULL : pg_run(lg, lg->pg->w, "write rows", write_rows_sql, 15, v, l, bin, err);
		if (!rc && !w)
			rc = IDS_EIO;
		PQclear(w);
	}
	for (int k = 0; k < W_N; k++)
		ids_buf_free(&g->w[k].b);
	return rc;
}

/* The mutations ix[0..na) of one push, in segments: a segment ends before a key it already has
 * (the later mutation must see the earlier one's row) and before a store that would evict the
 * store cache (its slots must stay valid until the segment is written). */
static int apply_mutations(ledger *lg, ids_batch *b, pctx *c, seg *g, size_t na, ledger_push_result *res, ids_error *err)
{
	int rc = 0;
	for (size_t p = 0; p < na && !rc;) {
		size_t q = p;
		for (; q < na; q++) {
			ids_mutation *m = &b->m[g->ix[q]];
			int slot = cached_slot(c, m->store);
			if (slot < 0 && c->n_st == 8 && q > p)
				break;
			if (slot < 0 && (rc = store_slot(lg, b, c, m->store, &slot, err)))
				return rc;
			g->slot[q] = slot;
			if (!seg_add(g, b, c, p, q))
				break;
			if ((rc = ledger_admit_mutation(lg, b, c->st[slot].ro, m, err)))
				return rc;
		}
		rc = run_segment(lg, b, c, g, p, q, res, err);
		p = q;
	}
	return rc;
}

/* The mutations that apply, gathered before any is applied (ledger_apply_ids) */
typedef struct ids_seen {
	seg *g;
	size_t n;
} ids_seen;

static int take_id(void *arg, size_t i)
{
	ids_seen *x = arg;
	x->g->ix[x->n++] = i;
	return 0;
}

/* One push inside the group's transaction: the same contract as ledger_apply_batch (apply.c). */
static int apply_batch(ledger *lg, ids_batch *b, ledger_push_result *res, ids_error *err)
{
	pctx c;
	memset(&c, 0, sizeof c);
	c.now = hlc_wall_ms();
	i64s(c.snow, c.now);
	const char *v[] = {b->db, b->user, b->client, c.snow};
	PGresult *r = pg_run(lg, lg->pg->w, "client", ids_sql, 4, v, NULL, NULL, err);
	if (!r)
		return IDS_EIO;
	if (PQntuples(r) != 1) {
		PQclear(r);
		return ids_fail(err, IDS_EIO, "PostgreSQL: client: no ids for database \"%s\", client \"%s\"", b->db,
				b->client);
	}
	c.did = pg_i64(r, 0, 0), c.uid = pg_i64(r, 0, 1), c.cid = pg_i64(r, 0, 2);
	int64_t ack = pg_i64(r, 0, 3);
	PQclear(r);
	i64s(c.sdid, c.did), i64s(c.suid, c.uid);
	int rc = 0;
	i64s(c.scid, c.cid);
	/* which mutations apply: ids up to the client's last acknowledged one are duplicates, the
	 * rest must follow it without a gap */
	seg g;
	memset(&g, 0, sizeof g);
	size_t na = 0, cap = 16;
	while (cap < 2 * b->n)
		cap <<= 1;
	g.ix = malloc((b->n ? b->n : 1) * sizeof *g.ix);
	g.slot = malloc((b->n ? b->n : 1) * sizeof *g.slot);
	g.set = calloc(cap, sizeof *g.set);
	g.mask = cap - 1;
	if (!g.ix || !g.slot || !g.set)
		rc = ids_fail(err, IDS_ENOMEM, "out of memory");
	if (!rc) {
		ids_seen seen = {&g, 0};
		ledger_apply_ids(b, &ack, res, take_id, &seen);
		na = seen.n;
		rc = apply_mutations(lg, b, &c, &g, na, res, err);
	}
	free(g.ix), free(g.slot), free(g.set);
	if (!rc) {
		char sa[24];
		i64s(sa, ack);
		rc = flush_counts(lg, &c, sa, err);
	}
	if (res->conflicts_json.len)
		ids_buf_putc(&res->conflicts_json, ']');
	res->ack = ack;
	res->expected = ack + 1;
	return rc;
}

void ledger_pg_run_group(ledger *lg, push_job *jobs)
{
	struct ledger_pg *pg = lg->pg;
	ids_error err = IDS_ERROR_INIT;
	int64_t head = 0;
	int rc = pg_connect(lg, &pg->w, &err), open = 0;
	if (!rc && !(rc = pg_exec(lg, pg->w, "begin", "BEGIN", &err)))
		open = 1;
	/* the commit-order lock, held to COMMIT: the next group of any server waits here */
	if (!rc)
		rc = one_id(lg, "head lock", "UPDATE meta SET v=v WHERE k='head' RETURNING v::bigint", 0, NULL, NULL, NULL,
			    &head, &err);
	lg->next_seq = head + 1;
	if (!rc && pg->commit_delay_ms > 0) {
		struct timespec ts = {pg->commit_delay_ms / 1000, (long)(pg->commit_delay_ms % 1000) * 1000000};
		nanosleep(&ts, NULL);
	}
	/* each push in a savepoint of its own; ending one and opening the next is one round trip */
	if (!rc && jobs)
		rc = pg_exec(lg, pg->w, "savepoint", "SAVEPOINT job", &err);
	for (push_job *j = jobs; j && !rc; j = j->next) {
		int64_t before = lg->next_seq;
		j->rc = apply_batch(lg, j->b, j->res, &j->err);
		j->last_seq = !j->rc && lg->next_seq != before ? lg->next_seq - 1 : 0;
		if (j->rc)
			lg->next_seq = before; /* this push alone is refused (403, ...): its writes go, the group's stay */
		rc = pg_exec(lg, pg->w, "savepoint",
			     j->rc ? (j->next ? "ROLLBACK TO job; RELEASE job; SAVEPOINT job" : "ROLLBACK TO job; RELEASE job")
				   : (j->next ? "RELEASE job; SAVEPOINT job" : "RELEASE job"),
			     &err);
	}
	int64_t new_head = lg->next_seq - 1;
	if (!rc && new_head != head) {
		char nh[24];
		i64s(nh, new_head);
		const char *v[] = {nh};
		/* the NOTIFY is delivered at COMMIT, to every server's listener (pg.c) */
		PGresult *r = pg_run(lg, pg->w, "head", "UPDATE meta SET v=$1 WHERE k='head'", 1, v, NULL, NULL, &err);
		PQclear(r);
		if (r)
			r = pg_run(lg, pg->w, "notify", "SELECT pg_notify('idbsync_head', $1)", 1, v, NULL, NULL, &err);
		PQclear(r);
		rc = r ? 0 : IDS_EIO;
	}
	if (!rc) {
		int64_t t0 = ledger_mono_us();
		rc = pg_exec(lg, pg->w, "commit", "COMMIT", &err);
		ledger_record_commit(lg, ledger_mono_us() - t0);
		open = 0; /* a failed COMMIT ends the transaction too */
	}
	if (rc && open && PQstatus(pg->w) == CONNECTION_OK)
		pg_exec(lg, pg->w, "rollback", "ROLLBACK", NULL);
	ledger_group_done(lg, jobs, rc ? -1 : new_head, rc, &err);
}
