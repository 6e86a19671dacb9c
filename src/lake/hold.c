/* Isolation of failures: one table's trouble never holds up another table or database.
 * A table whose files cannot be written is held (only the part that failed: change log,
 * conflicts or current state) and a change-log row the writer refuses is quarantined; both
 * are retried with exponential backoff on the flush thread, and after --lake-retry-max
 * attempts wait for `idbsync lake quarantine retry`. They are recorded in progress.json with
 * the progress they go with (one atomic write), and the ledger keeps every change a held
 * table or a quarantined row still needs (lk_hold_floor bounds the change-log prune). */
#include "lake_int.h"

#include "idbsync/log.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define QUARANTINE_PER_TABLE 1000   /* more refused rows than this: the table is held instead */
#define BACKOFF_CAP_MS 300000

static int retry_max(const lake *l) { return l->o.retry_max > 0 ? l->o.retry_max : 10; }

static int64_t retry_base(const lake *l) { return l->o.retry_base_ms > 0 ? l->o.retry_base_ms : 1000; }

/* One more failed attempt: when to try again, or quarantined when the attempts are spent. */
static void note(lake *l, lk_failure *f, const char *why)
{
	int64_t now = lk_now_ms(), wait = retry_base(l);
	if (!f->since_ms)
		f->since_ms = now;
	for (int i = 0; i < f->attempts && wait < BACKOFF_CAP_MS; i++)
		wait *= 2;
	if (wait > BACKOFF_CAP_MS)
		wait = BACKOFF_CAP_MS;
	f->attempts++;
	f->next_ms = now + wait;
	f->quarantined = f->attempts >= retry_max(l);
	snprintf(f->err, sizeof f->err, "%s", why && why[0] ? why : "unknown error");
	l->hold_changed = 1;
}

static void say(const lake *l, const lk_failure *f, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(const lake *l, const lk_failure *f, const char *fmt, ...)
{
	ids_logrec r;
	if (!ids_log_begin(&r, f->quarantined ? IDS_LOG_ERROR : IDS_LOG_WARN, f->quarantined ? "lake_quarantined" : "lake_held"))
		return;
	va_list ap;
	va_start(ap, fmt);
	ids_logv(&r, "what", fmt, ap);
	va_end(ap);
	ids_log_str(&r, "error", f->err);
	ids_log_int(&r, "attempts", f->attempts);
	if (f->quarantined) {
		ids_log_str(&r, "msg", "quarantined: idbsync lake quarantine retry --lake DIR retries it");
		ids_log_str(&r, "lake", l->dir);
	} else {
		ids_log_int(&r, "max_attempts", retry_max(l));
		ids_log_num(&r, "retry_in_s", (double)(f->next_ms - lk_now_ms()) / 1000.0);
	}
	ids_log_end(&r);
}

static void recovered(lake *l, lk_failure *f, const char *what);

static int held(const lk_table *t) { return t->log_held || t->conf_held || t->state_held; }

void lk_hold_table(lake *l, lk_table *t, int what, int64_t from, const ids_error *why)
{
	if ((what & LK_HOLD_LOG) && (!t->log_held || from < t->log_held))
		t->log_held = from;
	if ((what & LK_HOLD_CONF) && (!t->conf_held || from < t->conf_held))
		t->conf_held = from;
	if (what & LK_HOLD_STATE)
		t->state_held = 1;
	note(l, &t->fail, why ? why->msg : NULL);
	say(l, &t->fail, "table %s/%s (%s) %s held%s", t->db, t->store, t->table,
	    what & LK_HOLD_LOG ? "change log" : what & LK_HOLD_CONF ? "conflicts" : "current state",
	    what & (LK_HOLD_LOG | LK_HOLD_CONF) ? " (from the failed change on)" : "");
}

static lk_qchange *find_change(const lake *l, const lk_table *t, int64_t seq)
{
	for (lk_qchange *q = l->quarantine; q; q = q->next)
		if (q->t == t && q->seq == seq && !q->state)
			return q;
	return NULL;
}

static void insert(lake *l, lk_qchange *q)
{
	/* sorted by seq: replays go in order, the floor is the first change entry */
	lk_qchange **p = &l->quarantine;
	while (*p && (*p)->seq < q->seq)
		p = &(*p)->next;
	q->next = *p;
	*p = q;
}

static lk_qchange *new_entry(lk_table *t, int64_t seq, const char *keyjson)
{
	lk_qchange *q = calloc(1, sizeof *q);
	if (q && !(q->key = strdup(keyjson ? keyjson : ""))) {
		free(q);
		return NULL;
	}
	if (q) {
		q->t = t;
		q->seq = seq;
	}
	return q;
}

static void drop_entry(lk_qchange **p)
{
	lk_qchange *q = *p;
	*p = q->next;
	free(q->key);
	free(q->user);
	free(q);
}

int lk_hold_quarantined(const lake *l, const lk_table *t, int64_t seq)
{
	return l->quarantine && find_change(l, t, seq);
}

int lk_hold_change(lake *l, lk_table *t, const ledger_change *c, const char *keyjson, const ids_error *why)
{
	if (find_change(l, t, c->seq))
		return 0;
	size_t n = 0;
	for (lk_qchange *q = l->quarantine; q; q = q->next)
		n += q->t == t;
	if (n >= QUARANTINE_PER_TABLE) {
		lk_hold_table(l, t, LK_HOLD_LOG, c->seq, why);
		return 0;
	}
	lk_qchange *q = new_entry(t, c->seq, keyjson);
	if (!q)
		return ids_fail(NULL, IDS_ENOMEM, "out of memory");
	note(l, &q->fail, why ? why->msg : NULL);
	insert(l, q);
	say(l, &q->fail, "%s/%s key %s seq %" PRId64 " left out of the change log", t->db, t->store, q->key, q->seq);
	return 0;
}

int lk_hold_state_row(lake *l, lk_table *t, const char *keyjson, const char *user, uint32_t hash, int64_t seq,
		      const ids_error *why)
{
	lk_qchange *q = NULL;
	for (lk_qchange **p = &l->quarantine; *p; p = &(*p)->next)
		if ((*p)->t == t && (*p)->state && !strcmp((*p)->key, keyjson)) {
			q = *p;
			*p = q->next;   /* taken out: inserted again at its new seq */
			break;
		}
	if (!q && !(q = new_entry(t, seq, keyjson)))
		return ids_fail(NULL, IDS_ENOMEM, "out of memory");
	q->state = 1;
	q->hash = hash;
	q->seq = seq;
	q->pending = 0;
	free(q->user);
	q->user = strdup(user ? user : "");   /* NULL: its file is found by a rebuild (state_delta.c) */
	note(l, &q->fail, why ? why->msg : NULL);
	insert(l, q);
	say(l, &q->fail, "%s/%s key %s (seq %" PRId64 ") left out of the current state", t->db, t->store, q->key, seq);
	return 0;
}

int lk_hold_state_any(const lake *l, const lk_table *t)
{
	for (const lk_qchange *q = l->quarantine; q; q = q->next)
		if (q->t == t && q->state)
			return 1;
	return 0;
}

void lk_hold_state_begin(lake *l, lk_table *t, int full)
{
	for (lk_qchange *q = l->quarantine; q; q = q->next)
		if (q->t == t && q->state)
			q->pending = full || lk_state_slot_dirty(t, q->hash);
}

void lk_hold_state_end(lake *l, lk_table *t)
{
	for (lk_qchange **p = &l->quarantine; *p;) {
		lk_qchange *q = *p;
		if (q->t != t || !q->state || !q->pending) {
			p = &q->next;
			continue;
		}
		char what[600];
		snprintf(what, sizeof what, "%s/%s key %s in the current state", t->db, t->store, q->key);
		recovered(l, &q->fail, what);
		drop_entry(p);
	}
}

int64_t lk_hold_floor(const lake *l)
{
	int64_t floor = INT64_MAX;
	for (const lk_table *t = l->tables; t; t = t->next)
		if (t->log_held && t->log_held - 1 < floor)
			floor = t->log_held - 1;
	for (const lk_qchange *q = l->quarantine; q; q = q->next)
		if (!q->state) {
			if (q->seq - 1 < floor)
				floor = q->seq - 1;
			break;   /* sorted by seq */
		}
	return floor;
}

static void recovered(lake *l, lk_failure *f, const char *what)
{
	ids_logrec r;
	if (ids_log_begin(&r, IDS_LOG_INFO, "lake_recovered")) {
		ids_log_str(&r, "what", what);
		ids_log_int(&r, "failed_attempts", f->attempts);
		ids_log_end(&r);
	}
	memset(f, 0, sizeof *f);
	atomic_fetch_add(&l->m_retry_ok, 1);
	l->hold_changed = 1;
}

static int due(const lk_failure *f, int64_t now, int force) { return force || (!f->quarantined && f->next_ms <= now); }

/* The parts of t that failed, again; 0 when all of them are written now. */
static int retry_table(lake *l, lk_table *t, ids_error *err)
{
	int rc = 0;
	if (t->log_held && !(rc = lk_log_replay(l, t, t->log_held - 1, l->changes_seq, 0, err)))
		t->log_held = 0;
	if (!rc && t->conf_held && !(rc = lk_conflicts_replay(l, t, t->conf_held - 1, l->conflicts_id, err)))
		t->conf_held = 0;
	if (!rc && t->state_held) {
		t->rebuild = 1;   /* every row again: the failed passes' work is not known */
		if (!(rc = lk_state_flush(l, t, err)) && !(rc = lk_table_save(l, t, err)))
			t->state_held = 0;
	}
	return rc;
}

void lk_hold_retry(lake *l, int force)
{
	int64_t now = lk_now_ms();
	for (lk_table *t = l->tables; t && !lk_out_of_time(l); t = t->next) {
		if (!held(t) || !due(&t->fail, now, force))
			continue;
		ids_error err = IDS_ERROR_INIT;
		atomic_fetch_add(&l->m_retries, 1);
		char what[400];
		snprintf(what, sizeof what, "table %s/%s (%s)", t->db, t->store, t->table);
		if (force)
			t->fail.attempts = 0;
		if (!retry_table(l, t, &err)) {
			recovered(l, &t->fail, what);
		} else {
			note(l, &t->fail, err.msg);
			say(l, &t->fail, "%s still held", what);
		}
	}
	for (lk_qchange **p = &l->quarantine; *p && !lk_out_of_time(l);) {
		lk_qchange *q = *p;
		if (!due(&q->fail, now, force) || (!q->state && q->t->log_held)) {   /* a held table's replay comes first */
			p = &q->next;
			continue;
		}
		if (q->state) {
			/* its bucket is written again at the next state pass, which settles it */
			lk_mark_dirty(q->t, q->hash);
			q->t->touched = 1;
			q->fail.next_ms = now + BACKOFF_CAP_MS;   /* until that pass says */
			if (force)
				q->fail.attempts = 0;
			p = &q->next;
			continue;
		}
		ids_error err = IDS_ERROR_INIT;
		atomic_fetch_add(&l->m_retries, 1);
		if (force)
			q->fail.attempts = 0;
		if (!lk_log_replay(l, q->t, q->seq - 1, q->seq, 1, &err)) {
			char what[600];
			snprintf(what, sizeof what, "%s/%s key %s seq %" PRId64, q->t->db, q->t->store, q->key, q->seq);
			recovered(l, &q->fail, what);
			drop_entry(p);
			continue;
		}
		note(l, &q->fail, err.msg);
		say(l, &q->fail, "%s/%s key %s seq %" PRId64 " still refused", q->t->db, q->t->store, q->key, q->seq);
		p = &q->next;
	}
}

static char *retry_path(const lake *l)
{
	char *p = NULL;
	return asprintf(&p, "%s/_idbsync/retry", l->dir) < 0 ? NULL : p;
}

int lk_hold_due(lake *l)
{
	char *p = retry_path(l);
	int asked = p && !access(p, F_OK);
	free(p);
	if (asked)
		return 1;
	int64_t now = lk_now_ms();
	for (const lk_table *t = l->tables; t; t = t->next)
		if (held(t) && due(&t->fail, now, 0))
			return 1;
	for (const lk_qchange *q = l->quarantine; q; q = q->next)
		if (due(&q->fail, now, 0))
			return 1;
	return 0;
}

int lk_hold_check_request(lake *l)
{
	char *p = retry_path(l);
	int asked = p && !access(p, F_OK);
	if (asked)
		ids_logf(IDS_LOG_INFO, "lake_retry", "retrying every held table and row (idbsync lake quarantine retry)");
	lk_hold_retry(l, asked);
	free(p);
	return asked;
}

void lk_hold_request_done(lake *l)
{
	char *p = retry_path(l);
	if (p)
		unlink(p);   /* after the progress is written: the CLI waiting for it reads the outcome */
	free(p);
}

int lake_quarantine_read(const char *dir, ids_buf *out, ids_error *err)
{
	char p[IDS_PATH_MAX + 1];
	int prc = ids_path(p, sizeof p, err, "%s/_idbsync/progress.json", dir);
	if (prc)
		return prc;
	json_error_t je;
	json_t *j = json_load_file(p, 0, &je);
	if (!j)
		return ids_fail(err, access(p, F_OK) ? IDS_ENOTFOUND : IDS_ECORRUPT, "%s: %s", p,
				access(p, F_OK) ? "no such file (not a lake, or never flushed)" : je.text);
	json_t *o = json_object();
	json_t *h = json_object_get(j, "held"), *q = json_object_get(j, "quarantine");
	json_object_set(o, "held", h ? h : json_array());
	json_object_set(o, "quarantine", q ? q : json_array());
	if (!h)
		json_decref(json_object_get(o, "held"));
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	json_decref(j);
	int rc = s ? ids_buf_puts(out, s) : ids_fail(err, IDS_ENOMEM, "out of memory");
	free(s);
	return rc;
}

int lake_quarantine_retry(const char *dir, ids_error *err)
{
	char p[IDS_PATH_MAX + 1];
	int prc = ids_path(p, sizeof p, err, "%s/_idbsync/retry", dir);
	if (prc)
		return prc;
	return lk_write_file(p, "retry\n", 6, err);
}

static json_t *failure_json(const lk_failure *f)
{
	return json_pack("{sisbsIsIss}", "attempts", f->attempts, "quarantined", f->quarantined, "since_ms",
			 (json_int_t)f->since_ms, "next_ms", (json_int_t)f->next_ms, "error", f->err);
}

json_t *lk_hold_to_json(const lake *l)
{
	json_t *o = json_object(), *h = json_array(), *q = json_array();
	for (const lk_table *t = l->tables; t; t = t->next) {
		if (!held(t))
			continue;
		json_t *x = failure_json(&t->fail);
		json_object_set_new(x, "db", json_string(t->db));
		json_object_set_new(x, "store", json_string(t->store));
		json_object_set_new(x, "table", json_string(t->table));
		if (t->log_held)
			json_object_set_new(x, "changes_from", json_integer(t->log_held));
		if (t->conf_held)
			json_object_set_new(x, "conflicts_from", json_integer(t->conf_held));
		if (t->state_held)
			json_object_set_new(x, "state", json_true());
		json_array_append_new(h, x);
	}
	for (const lk_qchange *c = l->quarantine; c; c = c->next) {
		json_t *x = failure_json(&c->fail);
		json_object_set_new(x, "db", json_string(c->t->db));
		json_object_set_new(x, "store", json_string(c->t->store));
		json_object_set_new(x, "table", json_string(c->t->table));
		json_object_set_new(x, "kind", json_string(c->state ? "state" : "change"));
		json_object_set_new(x, "seq", json_integer(c->seq));
		json_object_set_new(x, "key", json_string(c->key));
		if (c->state)
			json_object_set_new(x, "hash", json_integer(c->hash));
		if (c->state && c->user)
			json_object_set_new(x, "user", json_string(c->user));
		json_array_append_new(q, x);
	}
	json_object_set_new(o, "held", h);
	json_object_set_new(o, "quarantine", q);
	return o;
}

static void failure_from(lk_failure *f, json_t *x)
{
	f->attempts = (int)json_integer_value(json_object_get(x, "attempts"));
	f->quarantined = json_is_true(json_object_get(x, "quarantined"));
	f->since_ms = json_integer_value(json_object_get(x, "since_ms"));
	f->next_ms = lk_now_ms();   /* a restart is a good moment to try again */
	snprintf(f->err, sizeof f->err, "%s", json_string_value(json_object_get(x, "error")) ?: "");
}

int lk_hold_from_json(lake *l, json_t *progress, ids_error *err)
{
	size_t i;
	json_t *x;
	json_array_foreach(json_object_get(progress, "held"), i, x)
	{
		lk_table *t;
		const char *db = json_string_value(json_object_get(x, "db")), *st = json_string_value(json_object_get(x, "store"));
		if (!db || !st)
			return ids_fail(err, IDS_ECORRUPT, "progress.json: held[%zu] has no db/store", i);
		int rc = lk_table_get(l, db, st, &t, err);
		if (rc)
			return rc;
		t->log_held = json_integer_value(json_object_get(x, "changes_from"));
		t->conf_held = json_integer_value(json_object_get(x, "conflicts_from"));
		t->state_held = json_is_true(json_object_get(x, "state"));
		if (t->state_held)
			t->rebuild = 1;
		failure_from(&t->fail, x);
	}
	json_array_foreach(json_object_get(progress, "quarantine"), i, x)
	{
		const char *db = json_string_value(json_object_get(x, "db")), *st = json_string_value(json_object_get(x, "store"));
		const char *key = json_string_value(json_object_get(x, "key"));
		if (!db || !st || !key)
			return ids_fail(err, IDS_ECORRUPT, "progress.json: quarantine[%zu] has no db/store/key", i);
		lk_table *t;
		int rc = lk_table_get(l, db, st, &t, err);
		if (rc)
			return rc;
		lk_qchange *q = calloc(1, sizeof *q);
		if (!q || !(q->key = strdup(key))) {
			free(q);
			return ids_fail(err, IDS_ENOMEM, "out of memory");
		}
		q->t = t;
		q->seq = json_integer_value(json_object_get(x, "seq"));
		q->state = !strcmp(json_string_value(json_object_get(x, "kind")) ?: "change", "state");
		q->hash = (uint32_t)json_integer_value(json_object_get(x, "hash"));
		const char *user = json_string_value(json_object_get(x, "user"));
		if (q->state && user && !(q->user = strdup(user))) {
			free(q->key);
			free(q);
			return ids_fail(err, IDS_ENOMEM, "out of memory");
		}
		if (q->state) {   /* its bucket again after a restart */
			lk_mark_dirty(t, q->hash);
			t->touched = 1;
		}
		failure_from(&q->fail, x);
		insert(l, q);
	}
	return 0;
}

void lk_hold_publish(lake *l)
{
	long long tables = 0, changes = 0, quarantined = 0;
	for (const lk_table *t = l->tables; t; t = t->next)
		if (held(t)) {
			tables++;
			quarantined += t->fail.quarantined;
		}
	for (const lk_qchange *q = l->quarantine; q; q = q->next) {
		changes++;
		quarantined += q->fail.quarantined;
	}
	atomic_store(&l->m_held_tables, tables);
	atomic_store(&l->m_held_changes, changes);
	atomic_store(&l->m_quarantined, quarantined);
	json_t *j = lk_hold_to_json(l);
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	/* one line per held thing: "db\twhat: error", for lake_flush of that database */
	ids_buf dbs = IDS_BUF_INIT;
	for (const lk_table *t = l->tables; t; t = t->next)
		if (held(t))
			ids_buf_printf(&dbs, "%s\ttable %s (%s) is held after %d attempts: %s\n", t->db, t->store,
				       t->table, t->fail.attempts, t->fail.err);
	for (const lk_qchange *q = l->quarantine; q; q = q->next)
		ids_buf_printf(&dbs, "%s\tstore %s key %s seq %" PRId64 " is held out of the %s after %d attempts: %s\n",
			       q->t->db, q->t->store, q->key, q->seq, q->state ? "current state" : "change log",
			       q->fail.attempts, q->fail.err);
	pthread_mutex_lock(&l->mu);
	free(l->hold_json);
	l->hold_json = s;
	free(l->held_dbs);
	l->held_dbs = dbs.len ? strndup(dbs.data, dbs.len) : NULL;
	pthread_mutex_unlock(&l->mu);
	ids_buf_free(&dbs);
}

void lk_hold_free(lake *l)
{
	while (l->quarantine) {
		lk_qchange *q = l->quarantine;
		l->quarantine = q->next;
		free(q->key);
		free(q->user);
		free(q);
	}
	free(l->hold_json);
	l->hold_json = NULL;
	free(l->held_dbs);
	l->held_dbs = NULL;
}
