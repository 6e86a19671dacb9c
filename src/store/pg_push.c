/* Group commit on PostgreSQL. The writer thread of each server applies its queued pushes in
 * one transaction that first locks the head row (UPDATE meta ... 'head'): the lock is the
 * commit order of every server, so seqs become visible in order (a pull's snapshot holds every
 * seq up to its head, docs/scaling.md) and a client's last acknowledged id is read and written
 * by one writer at a time (a retried batch reaching another server is a duplicate, never
 * applied twice). Pushes are answered only after COMMIT returned (synchronous_commit=on). */
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
static int one_id(store *s, const char *what, const char *sql, int n, const char *const *v, const int *lens,
		  const int *bin, int64_t *out, ids_error *err)
{
	PGresult *r = pg_run(s, s->pg->w, what, sql, n, v, lens, bin, err);
	if (!r)
		return IDS_EIO;
	*out = PQntuples(r) ? pg_i64(r, 0, 0) : -1;
	PQclear(r);
	return 0;
}

/* Names get their ids on first use; the head lock makes the insert-or-select race-free. */
static int name_id(store *s, const char *table, const char *idcol, const char *name, int64_t *out, ids_error *err)
{
	char sql[300];
	snprintf(sql, sizeof sql,
		 "WITH i AS (INSERT INTO %s(name) VALUES($1) ON CONFLICT DO NOTHING RETURNING %s)"
		 " SELECT %s FROM i UNION ALL SELECT %s FROM %s WHERE name=$1",
		 table, idcol, idcol, idcol, table);
	const char *v[] = {name};
	return one_id(s, table, sql, 1, v, NULL, NULL, out, err);
}

static int flush_counts(store *s, pctx *c, ids_error *err)
{
	for (int i = 0; i < c->n_st; i++) {
		if (!c->st[i].dlive && !c->st[i].dtomb)
			continue;
		char a[24], b[24], d[24];
		i64s(a, c->st[i].sid), i64s(b, c->st[i].dlive), i64s(d, c->st[i].dtomb);
		const char *v[] = {a, b, d};
		PGresult *r = pg_run(s, s->pg->w, "store counts", "UPDATE stores SET live=live+$2, tomb=tomb+$3 WHERE sid=$1",
				     3, v, NULL, NULL, err);
		if (!r)
			return IDS_EIO;
		PQclear(r);
		c->st[i].dlive = c->st[i].dtomb = 0;
	}
	return 0;
}

static int store_slot(store *s, const ids_batch *b, pctx *c, const char *name, int *slot, ids_error *err)
{
	for (int i = 0; i < c->n_st; i++)
		if (!strcmp(c->st[i].name, name)) {
			*slot = i;
			return 0;
		}
	int rc;
	if (c->n_st == 8) {
		if ((rc = flush_counts(s, c, err)))
			return rc;
		c->n_st = 0;
	}
	int i = c->n_st;
	const char *v[] = {c->sdid, name};
	if ((rc = one_id(s, "stores",
			 "WITH i AS (INSERT INTO stores(did, name) VALUES($1, $2) ON CONFLICT DO NOTHING RETURNING sid)"
			 " SELECT sid FROM i UNION ALL SELECT sid FROM stores WHERE did=$1 AND name=$2",
			 2, v, NULL, NULL, &c->st[i].sid, err)))
		return rc;
	c->st[i].name = name;
	c->st[i].rule = store_rule(s, b->db, name);
	c->st[i].ro = store_is_read_only(s, b->db, name);
	c->st[i].dlive = c->st[i].dtomb = 0;
	c->n_st++;
	*slot = i;
	return 0;
}

static int log_conflict(store *s, pctx *c, const char *ssid, const ids_mutation *m, ids_rule rule,
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
	PGresult *r = pg_run(s, s->pg->w, "conflict log",
			     "INSERT INTO conflicts(did, sid, uid, key, cid, mid, op, hlc, value, rule, reason, winner_seq,"
			     " winner_hlc, ts) VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)",
			     14, v, lens, bin, err);
	PQclear(r);
	return r ? 0 : IDS_EIO;
}

/* The row, the change-log entry (seq) and the answer's bookkeeping of one applied mutation. */
static int write_applied(store *s, const ids_batch *b, pctx *c, const char *ssid, const ids_mutation *m,
			 const ids_decision *d, int64_t seq, const char *h, const char *val, size_t vlen, ids_error *err)
{
	char sseq[24], del[4], org[4], hash[24], op[4], mid[24];
	i64s(sseq, seq), i64s(hash, store_key_hash(m->key, m->key_len)), i64s(mid, m->id);
	snprintf(del, sizeof del, "%d", d->deleted);
	snprintf(org, sizeof org, "%d", (int)b->origin);
	snprintf(op, sizeof op, "%d", d->deleted ? IDS_OP_DELETE : IDS_OP_PUT);
	/* the row and its change-log entry in one statement: one round trip per mutation less */
	const char *v[] = {ssid, c->suid, (const char *)m->key, c->sdid, sseq, h, del, org, val,
			   d->merged ? d->meta.data : NULL, hash, op, c->scid, mid, c->snow};
	int l[15] = {0, 0, (int)m->key_len, 0, 0, 0, 0, 0, (int)vlen, d->merged ? (int)d->meta.len : 0};
	int bin[15] = {0, 0, 1, 0, 0, 0, 0, 0, 1, 1};
	PGresult *r = pg_run(s, s->pg->w, "write row",
			     "WITH w AS (INSERT INTO rows(sid, uid, key, did, seq, hlc, deleted, origin, value, meta, khash)"
			     " VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) ON CONFLICT(sid, uid, key) DO UPDATE SET"
			     " seq=excluded.seq, hlc=excluded.hlc, deleted=excluded.deleted, origin=excluded.origin,"
			     " value=excluded.value, meta=excluded.meta)"
			     " INSERT INTO changes(seq, did, sid, uid, key, op, hlc, value, cid, mid, origin, ts)"
			     " VALUES($5,$4,$1,$2,$3,$12,$6,$9,$13,$14,$8,$15)",
			     15, v, l, bin, err);
	PQclear(r);
	return r ? 0 : IDS_EIO;
}

static int apply_one(store *s, ids_batch *b, pctx *c, ids_mutation *m, store_push_result *res, ids_error *err)
{
	int slot, rc = store_slot(s, b, c, m->store, &slot, err);
	if (rc)
		return rc;
	char ssid[24];
	i64s(ssid, c->st[slot].sid);
	ids_rule rule = c->st[slot].rule;
	if (b->origin == IDS_ORIGIN_CLIENT && c->st[slot].ro)
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
	const char *kv[] = {ssid, c->suid, (const char *)m->key};
	int kl[3] = {0, 0, (int)m->key_len}, kb[3] = {0, 0, 1};
	PGresult *row = pg_run(s, s->pg->w, "read row",
			       "SELECT seq, hlc, deleted, origin, value, meta FROM rows WHERE sid=$1 AND uid=$2 AND key=$3",
			       3, kv, kl, kb, err);
	if (!row)
		return IDS_EIO;
	PGresult *base = NULL;
	ids_row cur = {0};
	char cur_hlc[HLC_STR_MAX] = "";
	if (PQntuples(row)) {
		cur.exists = 1;
		cur.seq = pg_i64(row, 0, 0);
		snprintf(cur_hlc, sizeof cur_hlc, "%s", PQgetvalue(row, 0, 1));
		hlc_parse(&cur.hlc, cur_hlc, strlen(cur_hlc), NULL);
		cur.deleted = (int)pg_i64(row, 0, 2);
		cur.origin = (ids_origin)pg_i64(row, 0, 3);
		if (!PQgetisnull(row, 0, 4)) {
			cur.value = PQgetvalue(row, 0, 4);
			cur.value_len = (size_t)PQgetlength(row, 0, 4);
		}
		if (!PQgetisnull(row, 0, 5)) {
			cur.meta = PQgetvalue(row, 0, 5);
			cur.meta_len = (size_t)PQgetlength(row, 0, 5);
		}
	}
	ids_decision d;
	ids_decision_init(&d);
	int64_t seq = s->next_seq;
	char h[HLC_STR_MAX];
	if (!cur.exists && c->uid != 0) {
		/* a shared row (uid 0) with this key: a user may not create its own over it */
		const char *sv[] = {ssid, (const char *)m->key};
		int sl[2] = {0, (int)m->key_len}, sb[2] = {0, 1};
		PGresult *sh = pg_run(s, s->pg->w, "read shared row",
				      "SELECT 1 FROM rows WHERE sid=$1 AND uid=0 AND key=$2 AND deleted=0", 2, sv, sl, sb, err);
		int shared = sh && PQntuples(sh);
		PQclear(sh);
		if (!sh) {
			rc = IDS_EIO;
			goto out;
		}
		if (shared) {
			ids_buf k = IDS_BUF_INIT;
			ids_key_to_json(m->key, m->key_len, &k, NULL);
			rc = ids_fail(err, IDS_EFORBIDDEN,
				      "mutation %lld: store \"%s\" key %s belongs to another owner (shared row); "
				      "user \"%s\" may not change it",
				      (long long)m->id, m->store, k.data ? k.data : "?", b->user);
			ids_buf_free(&k);
			goto out;
		}
	}
	if (rule == IDS_RULE_MERGE && m->has_base && cur.exists) {
		char bs[24];
		i64s(bs, m->base);
		const char *bv[] = {bs, ssid, c->suid, (const char *)m->key};
		int bl[4] = {0, 0, 0, (int)m->key_len}, bb[4] = {0, 0, 0, 1};
		base = pg_run(s, s->pg->w, "read base", "SELECT op, value FROM changes WHERE seq=$1 AND sid=$2 AND uid=$3 AND key=$4",
			      4, bv, bl, bb, err);
		if (!base) {
			rc = IDS_EIO;
			goto out;
		}
		if (PQntuples(base)) {
			cur.has_base_value = 1;
			if (pg_i64(base, 0, 0) == IDS_OP_PUT) {
				cur.base_value = PQgetvalue(base, 0, 1);
				cur.base_len = (size_t)PQgetlength(base, 0, 1);
			}
		}
	}
	if ((rc = ids_conflict_decide(rule, &cur, m, b->origin, seq, &d, err)))
		goto out;
	if (d.outcome == IDS_APPLY) {
		const char *val = d.deleted ? NULL : d.merged ? d.value.data : m->value;
		size_t vlen = d.deleted ? 0 : d.merged ? d.value.len : m->value_len;
		hlc_format(&d.hlc, h);
		if ((rc = write_applied(s, b, c, ssid, m, &d, seq, h, val, vlen, err)))
			goto out;
		s->next_seq++;
		res->applied++;
		if (!d.partial && d.deleted == (m->op == IDS_OP_DELETE) &&
		    (!d.merged || d.deleted || (vlen == m->value_len && !memcmp(val, m->value, vlen))) &&
		    (rc = store_note_kept(res, m->id, seq, err)))
			goto out;
		int was_live = cur.exists && !cur.deleted, was_tomb = cur.exists && cur.deleted;
		c->st[slot].dlive += (!d.deleted) - was_live;
		c->st[slot].dtomb += (d.deleted ? 1 : 0) - was_tomb;
		if (d.partial) {
			const char *reason = "some fields have newer versions (per-field merge)";
			store_conflict_json(&res->conflicts_json, m, rule, reason, seq, d.deleted, h, val, vlen, &d.lost);
			res->conflicts++;
			rc = log_conflict(s, c, ssid, m, rule, reason, seq, h, err);
		}
	} else if (d.outcome == IDS_LOSE) {
		store_conflict_json(&res->conflicts_json, m, rule, d.reason, cur.seq, cur.deleted, cur_hlc, cur.value,
				    cur.value_len, &d.lost);
		res->conflicts++;
		rc = log_conflict(s, c, ssid, m, rule, d.reason, cur.seq, cur_hlc, err);
	} else {
		res->duplicates++;
	}
out:
	PQclear(base);
	PQclear(row);
	ids_decision_free(&d);
	return rc;
}

/* One push inside the group's transaction: the same contract as store_apply_batch (apply.c). */
static int apply_batch(store *s, ids_batch *b, store_push_result *res, ids_error *err)
{
	pctx c;
	memset(&c, 0, sizeof c);
	c.now = hlc_wall_ms();
	i64s(c.snow, c.now);
	int rc = name_id(s, "dbs", "did", b->db, &c.did, err);
	if (!rc)
		rc = name_id(s, "users", "uid", b->user, &c.uid, err);
	i64s(c.sdid, c.did), i64s(c.suid, c.uid);
	PGresult *r = NULL;
	if (!rc) {
		const char *v[] = {c.sdid, c.suid, b->client, c.snow};
		r = pg_run(s, s->pg->w, "client",
			   "WITH i AS (INSERT INTO clients(did, uid, name, seen) VALUES($1,$2,$3,$4) ON CONFLICT DO NOTHING"
			   " RETURNING cid, last_mid) SELECT cid, last_mid FROM i UNION ALL"
			   " SELECT cid, last_mid FROM clients WHERE did=$1 AND uid=$2 AND name=$3",
			   4, v, NULL, NULL, err);
		rc = r ? 0 : IDS_EIO;
	}
	if (rc)
		return rc;
	c.cid = pg_i64(r, 0, 0);
	int64_t ack = pg_i64(r, 0, 1);
	PQclear(r);
	i64s(c.scid, c.cid);
	for (size_t i = 0; i < b->n && !rc; i++) {
		ids_mutation *m = &b->m[i];
		if (m->id <= ack) {
			res->duplicates++;
			continue;
		}
		if (m->id != ack + 1) {
			res->gap = 1;
			break;
		}
		rc = apply_one(s, b, &c, m, res, err);
		if (!rc)
			ack = m->id;
	}
	if (!rc)
		rc = flush_counts(s, &c, err);
	if (!rc) {
		char sa[24];
		i64s(sa, ack);
		const char *v[] = {c.scid, sa, c.snow};
		r = pg_run(s, s->pg->w, "client progress", "UPDATE clients SET last_mid=$2, seen=$3 WHERE cid=$1", 3, v,
			   NULL, NULL, err);
		rc = r ? 0 : IDS_EIO;
		PQclear(r);
	}
	if (res->conflicts_json.len)
		ids_buf_putc(&res->conflicts_json, ']');
	res->ack = ack;
	res->expected = ack + 1;
	return rc;
}

void store_pg_run_group(store *s, push_job *jobs)
{
	struct store_pg *pg = s->pg;
	ids_error err = IDS_ERROR_INIT;
	int64_t head = 0;
	int rc = pg_connect(s, &pg->w, &err), open = 0;
	if (!rc && !(rc = pg_exec(s, pg->w, "begin", "BEGIN", &err)))
		open = 1;
	/* the commit-order lock, held to COMMIT: the next group of any server waits here */
	if (!rc)
		rc = one_id(s, "head lock", "UPDATE meta SET v=v WHERE k='head' RETURNING v::bigint", 0, NULL, NULL, NULL,
			    &head, &err);
	s->next_seq = head + 1;
	if (!rc && pg->commit_delay_ms > 0) {
		struct timespec ts = {pg->commit_delay_ms / 1000, (long)(pg->commit_delay_ms % 1000) * 1000000};
		nanosleep(&ts, NULL);
	}
	for (push_job *j = jobs; j && !rc; j = j->next) {
		int64_t before = s->next_seq;
		if ((rc = pg_exec(s, pg->w, "savepoint", "SAVEPOINT job", &err)))
			break;
		j->rc = apply_batch(s, j->b, j->res, &j->err);
		j->last_seq = !j->rc && s->next_seq != before ? s->next_seq - 1 : 0;
		if (j->rc) {
			/* this push alone is refused (403, ...): its writes go, the group's stay */
			if ((rc = pg_exec(s, pg->w, "rollback to savepoint", "ROLLBACK TO job", &err)))
				break;
			s->next_seq = before;
		}
		rc = pg_exec(s, pg->w, "release savepoint", "RELEASE job", &err);
	}
	int64_t new_head = s->next_seq - 1;
	if (!rc && new_head != head) {
		char nh[24];
		i64s(nh, new_head);
		const char *v[] = {nh};
		/* the NOTIFY is delivered at COMMIT, to every server's listener (pg.c) */
		PGresult *r = pg_run(s, pg->w, "head", "UPDATE meta SET v=$1 WHERE k='head'", 1, v, NULL, NULL, &err);
		PQclear(r);
		if (r)
			r = pg_run(s, pg->w, "notify", "SELECT pg_notify('idbsync_head', $1)", 1, v, NULL, NULL, &err);
		PQclear(r);
		rc = r ? 0 : IDS_EIO;
	}
	if (!rc) {
		int64_t t0 = store_mono_us();
		rc = pg_exec(s, pg->w, "commit", "COMMIT", &err);
		store_record_commit(s, store_mono_us() - t0);
		open = 0; /* a failed COMMIT ends the transaction too */
	}
	if (rc && open && PQstatus(pg->w) == CONNECTION_OK)
		pg_exec(s, pg->w, "rollback", "ROLLBACK", NULL);
	store_group_done(s, jobs, rc ? -1 : new_head, rc, &err);
}
