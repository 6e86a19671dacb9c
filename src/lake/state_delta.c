/* Current-state files by ledger row id: the bucket files hold the rows with id <= upto (set
 * by the last rebuild), and "deltas" part-<slot>.parquet hold the rows with id in (lo, hi].
 * A row keeps its id for life and new rows get higher ids, so rows created since the last
 * pass go to a new delta without rewriting any bucket: with new keys hashed over every
 * bucket, a pass used to rewrite the whole table (O(table) per pass); now it writes what is
 * new. A touched older row rewrites its bucket or its delta; small deltas are merged in
 * tiers (each row rewritten O(log) times) with a directory exchange, so a reader sees each
 * key once (docs/lake-layout.md). */
#include "iceberg.h"
#include "lake_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idbsync/log.h"
#include "idbsync/value.h"

#define RKEYS_MAX ((size_t)64 << 20)   /* keys remembered per pass; past it, one rebuild */
#define MERGE_FANOUT 8                  /* maybe_merge */
#define MAX_DELTAS 64

void lk_delta_touch(lk_table *t, const char *user, const uint8_t *key, size_t key_len)
{
	if (t->rkeys_over)
		return;
	uint32_t ul = (uint32_t)strlen(user) + 1, kl = (uint32_t)key_len;
	if (t->rkeys.len + 8 + ul + kl > RKEYS_MAX || ids_buf_append(&t->rkeys, &ul, 4) ||
	    ids_buf_append(&t->rkeys, user, ul) || ids_buf_append(&t->rkeys, &kl, 4) ||
	    ids_buf_append(&t->rkeys, key, kl)) {
		t->rkeys_over = 1;
		return;
	}
	t->n_rkeys++;
}

void lk_delta_reset(lk_table *t)
{
	if (t->rkeys.cap > ((size_t)4 << 20))
		ids_buf_free(&t->rkeys);   /* a catch-up's keys: do not keep that much */
	ids_buf_reset(&t->rkeys);
	t->n_rkeys = 0;
	t->rkeys_over = 0;
}

int lk_delta_start(lake *l, lk_table *t, int64_t *upto)
{
	if (t->part_field)
		return 0;   /* a key moves between partition dirs: the two-phase swap needs the bucket */
	/* every row there is: rows the change log has not reached yet are in the files at once
	 * (a flush call returns when the state reflects what was acked before it), and when
	 * their changes come, the next pass rewrites their buckets once */
	ids_error e = IDS_ERROR_INIT;
	return ledger_rows_ids(l->lg, t->db, t->store, NULL, 0, NULL, upto, &e) == 0;
}

void lk_delta_read_meta(lk_table *t, json_t *j)
{
	json_t *u = json_object_get(j, "upto"), *d = json_object_get(j, "deltas");
	free(t->deltas);
	t->deltas = NULL;
	t->n_deltas = 0;
	t->upto = json_is_integer(u) ? json_integer_value(u) : -1;
	size_t n = json_array_size(d);
	/* a stop right after an ingest leaves its deltas unmerged: the idle loop merges them */
	t->merge_due = n >= MERGE_FANOUT;
	if (t->upto < 0 || !n || !(t->deltas = calloc(n, sizeof *t->deltas)))
		return;
	for (size_t i = 0; i < n; i++) {
		json_t *x = json_array_get(d, i);
		lk_delta *e = &t->deltas[t->n_deltas++];
		e->slot = (uint32_t)json_integer_value(json_array_get(x, 0));
		e->lo = json_integer_value(json_array_get(x, 1));
		e->hi = json_integer_value(json_array_get(x, 2));
	}
}

int lk_state_meta_write(lk_table *t, const char *dir, int k, ids_error *err)
{
	json_t *j = json_pack("{s:i,s:i,s:I}", "k", k, "version", t->version, "gen", (json_int_t)t->gen);
	json_t *d = t->upto >= 0 ? json_array() : NULL;
	for (size_t i = 0; d && i < t->n_deltas; i++)
		json_array_append_new(d, json_pack("[I,I,I]", (json_int_t)t->deltas[i].slot, (json_int_t)t->deltas[i].lo,
						  (json_int_t)t->deltas[i].hi));
	if (j && d) {
		json_object_set_new(j, "upto", json_integer(t->upto));
		json_object_set_new(j, "deltas", d);
	}
	char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	char p[IDS_PATH_MAX + 1];
	int rc = body ? ids_path(p, sizeof p, err, "%s/_buckets", dir) : ids_fail(err, IDS_ENOMEM, "out of memory");
	if (!rc)
		rc = lk_write_file(p, body, strlen(body), err);
	free(body);
	return rc;
}

/* Writes delta d (its id range) into the next version x. */
static int write_delta(lake *l, lk_table *t, const lk_delta *d, lk_tree *x, ids_error *err)
{
	lk_state_src src = {d->lo, d->hi, d->slot};
	uint32_t one = 0;
	int64_t size = 0;
	return lk_state_run(l, t, 0, &one, 1, &src, x, &size, err);
}

static int64_t delta_size(const lk_tree *x, const lk_delta *d)
{
	char p[IDS_PATH_MAX + 1];
	if (!lk_tree_old_path(x, d->slot, p, sizeof p))
		return 0;
	int64_t s = lk_file_size(p);
	return s > 0 ? s : 0;
}

/* The merged file of deltas[i..n) in the next version x. Each delta file holds the live rows of its id range
 * as of the last pass and the ranges are back to back, so their rows, concatenated, are the
 * merged range's: copied column by column (as the change-log compaction does), which costs a
 * fraction of reading and encoding them again from the ledger. Read from the ledger instead
 * when a file is missing (a lake written before a pass's files and _buckets were exchanged
 * together: a crash between listing a range and writing it) or the copy fails (but for
 * shutting down, IDS_EBUSY: the merge waits for the next start). */
static int merged_file(lake *l, lk_table *t, size_t i, const lk_delta *m, lk_tree *x, ids_error *err)
{
	size_t n = t->n_deltas - i;
	char (*paths)[IDS_PATH_MAX + 1] = malloc(n * sizeof *paths);
	const char **in = malloc(n * sizeof *in);
	char out[IDS_PATH_MAX + 1];
	int rc = paths && in ? 0 : ids_fail(err, IDS_ENOMEM, "out of memory");
	if (!rc)
		rc = lk_tree_path(x, "", m->slot, out, sizeof out, err);
	size_t missing = n;
	for (size_t k = 0; !rc && k < n; k++) {
		in[k] = paths[k];
		if (!lk_tree_old_path(x, t->deltas[i + k].slot, paths[k], sizeof paths[k]))
			missing = k;
	}
	if (!rc && (rc = missing < n ? ids_fail(err, IDS_ENOTFOUND, "%s: no file of delta slot %u", t->table,
						 t->deltas[i + missing].slot)
				     : lk_files_concat(l, out, in, n, err)) &&
	    rc != IDS_EBUSY) {
		ids_logf(IDS_LOG_DEBUG, "lake_delta_merge", "%s: merged from the ledger: %s", t->table, err->msg);
		ids_error clean = IDS_ERROR_INIT;
		*err = clean;
		rc = write_delta(l, t, m, x, err);
	}
	free(paths);
	free(in);
	return rc;
}

/* Merges deltas[i..n) into one file in the slot of deltas[i]: a next version of the table dir
 * (hard links of the other files, the merged file, _buckets) exchanged with the visible dir in
 * one rename (as every pass is), so no reader sees a row twice. */
static int merge(lake *l, lk_table *t, size_t i, ids_error *err)
{
	int64_t t0 = lk_now_ms();
	size_t n = t->n_deltas;
	lk_delta keep = t->deltas[i], m = {keep.slot, keep.lo, t->deltas[n - 1].hi};
	lk_tree x;
	int rc = lk_tree_begin(l, t, &x, 0, err);
	for (size_t k = i; !rc && k < n; k++)
		lk_tree_replace(&x, t->deltas[k].slot);
	if (!rc && !(rc = merged_file(l, t, i, &m, &x, err))) {
		t->deltas[i] = m;
		t->n_deltas = i + 1;
		if ((rc = lk_tree_commit(l, t, &x, t->k, err))) {   /* the visible dir is as it was: so is the list */
			t->deltas[i] = keep;
			t->n_deltas = n;
		}
	}
	lk_tree_free(&x);   /* after the exchange: the old version (open files stay readable) */
	if (!rc) {
		atomic_fetch_add(&l->m_rebuilds, 1);
		ids_logrec lr;
		if (ids_log_begin(&lr, IDS_LOG_DEBUG, "lake_delta_merge")) {
			ids_log_str(&lr, "table", t->table);
			ids_log_int(&lr, "files", (long long)(n - i));
			ids_log_int(&lr, "ids", (long long)(m.hi - m.lo));
			ids_log_int(&lr, "ms", (long long)(lk_now_ms() - t0));
			ids_log_end(&lr);
		}
	}
	return rc;
}

/* Size-tiered, in id order: when MERGE_FANOUT deltas at the end are within 2x of the newest
 * one's size (and their sum within the bucket target), they become one; repeated, so tiers
 * grow by the fanout. A steady ingest thus keeps at most about fanout files per tier and
 * writes a row 1 + log_8(passes) times (binary merging wrote it log_2 times, which cost
 * more than the pass itself). MAX_DELTAS bounds the count whatever the sizes. */
static int maybe_merge(lake *l, lk_table *t, int idle, ids_error *err)
{
	/* A merge stops the flush thread for as long as it copies its rows (the top tier of a
	 * 10M-row ingest: 6-8M rows, 4-5 s at load 4-8), and the change log and the state stand
	 * still meanwhile: the state ended 2M behind when one fell near the end of an ingest. So a
	 * busy flush only adds deltas, up to MAX_DELTAS; the idle flush thread merges them. */
	if (l->busy && t->n_deltas < MAX_DELTAS) {
		t->merge_due |= t->n_deltas >= MERGE_FANOUT;
		return 0;
	}
	/* nor the pass after them: its merges of what they left (33 files, 6.8 s) kept the last
	 * changes of an ingest out of the state; the idle loop merges once it is recorded */
	if (!idle && t->merge_due && t->n_deltas < MAX_DELTAS)
		return 0;
	int64_t cap = t->bucket_bytes ? t->bucket_bytes : l->bucket_bytes;
	int rc = 0;
	while (!rc && t->n_deltas >= MERGE_FANOUT) {
		size_t n = t->n_deltas, i = n - 1;
		lk_tree cur;
		if ((rc = lk_tree_list(l, t, &cur, err)))
			break;
		int64_t newest = delta_size(&cur, &t->deltas[n - 1]), acc = newest;
		while (i > 0) {
			int64_t s = delta_size(&cur, &t->deltas[i - 1]);
			/* idle, the deltas an ingest left (all of a size, the newest maybe
			 * small) are merged up to the size cap, not only a tier */
			if ((!idle && s > 2 * newest) || acc + s > cap)
				break;
			acc += s;
			i--;
		}
		lk_tree_free(&cur);
		if (n - i < MERGE_FANOUT && n >= MAX_DELTAS)
			i = n - MERGE_FANOUT;   /* too many files of mixed sizes: merge the newest anyway */
		if (n - i < MERGE_FANOUT)
			break;
		rc = merge(l, t, i, err);
		if (rc == IDS_EBUSY) {   /* shutting down: the deltas stay as they are, all listed */
			ids_error clean = IDS_ERROR_INIT;
			*err = clean;
			return 0;
		}
		if (t->n_deltas == n)
			break;   /* not merged */
	}
	return rc;
}

/* The lowest slot no delta uses. */
static uint32_t free_slot(const lk_table *t)
{
	for (uint32_t s = LK_DELTA_SLOT0;; s++) {
		size_t i = 0;
		while (i < t->n_deltas && t->deltas[i].slot != s)
			i++;
		if (i == t->n_deltas)
			return s;
	}
}

/* Index of the delta whose range holds id, or n_deltas. */
static size_t find_delta(const lk_table *t, int64_t id)
{
	size_t lo = 0, hi = t->n_deltas;
	while (lo < hi) {
		size_t m = (lo + hi) / 2;
		if (t->deltas[m].hi < id)
			lo = m + 1;
		else
			hi = m;
	}
	return lo < t->n_deltas && id > t->deltas[lo].lo ? lo : t->n_deltas;
}

/* The pass's keys as refs into t->rkeys, with room for extra more after them. */
static ledger_key_ref *key_refs(const lk_table *t, size_t extra)
{
	ledger_key_ref *r = calloc(t->n_rkeys + extra + 1, sizeof *r);
	const char *p = t->rkeys.data;
	for (size_t i = 0; r && i < t->n_rkeys; i++) {
		uint32_t ul, kl;
		memcpy(&ul, p, 4);
		r[i].user = p + 4;
		p += 4 + ul;
		memcpy(&kl, p, 4);
		r[i].key = (const uint8_t *)p + 4;
		r[i].key_len = kl;
		p += 4 + kl;
	}
	return r;
}

/* The ids of a pass's touched keys. The rows created since the last range (id > last) are
 * read in one range scan of the rows b-tree and matched by (user, key); only the keys not
 * among them (updates of older rows, deletes, keys past the scan's bound) are looked up one by
 * one. An ingest of new keys thus costs one read of its new rows instead of an index lookup
 * per key (~7k instructions each, half the state pass's own cost).
 * New keys get their rows' ids in the order their changes came, the order the pass touched
 * them: the rows are matched in step with the keys first, each against the next key, and a
 * hash table of the keys is built only when a row is not the next key. Built for every pass,
 * it took 12% of the flush thread in a 10M-row ingest (perf): a probe of a 1M-slot table and
 * the key it points to, two cache misses per key and row. */
typedef struct idmatch {
	const ledger_key_ref *refs;
	size_t n;
	int64_t *ids;
	size_t next;                 /* in step: the key the next row should be; n: all placed */
	int32_t *slot;               /* open addressing: index of the first of equal keys, or -1 */
	int32_t *first;              /* each key's first equal key */
	size_t mask, left;           /* distinct keys not matched yet */
	size_t distinct;
	int64_t fed;                 /* the feed's last seq (0: no feed) */
	size_t stray, late;          /* rows read that no touched key has; matched rows changed since */
	int oom;
} idmatch;

static size_t find_slot(const idmatch *m, const char *user, const uint8_t *key, size_t n)
{
	uint32_t h = ledger_key_hash(key, n);
	for (const char *p = user; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	for (size_t s = h & m->mask;; s = (s + 1) & m->mask) {
		int32_t i = m->slot[s];
		if (i < 0 || (m->refs[i].key_len == n && !memcmp(m->refs[i].key, key, n) && !strcmp(m->refs[i].user, user)))
			return s;
	}
}

/* Leaves the in-step match: every key into the hash table; those placed in step (ids set,
 * distinct: each is a different row) are not left to match. */
static int build_hash(idmatch *m)
{
	size_t cap = 16;
	while (cap < 2 * m->n)
		cap <<= 1;
	m->slot = malloc(cap * sizeof *m->slot);
	m->first = malloc((m->n + 1) * sizeof *m->first);
	if (!m->slot || !m->first)
		return m->oom = 1;
	m->mask = cap - 1;
	memset(m->slot, 0xff, cap * sizeof *m->slot);
	for (size_t i = 0; i < m->n; i++) {
		size_t s = find_slot(m, m->refs[i].user, m->refs[i].key, m->refs[i].key_len);
		if (m->slot[s] < 0) {
			m->slot[s] = (int32_t)i;
			m->distinct++;
			m->left += !m->ids[i];
		}
		m->first[i] = m->slot[s];
	}
	m->next = m->n;
	return 0;
}

static int on_new_row(void *ctx, const ledger_row_id *r)
{
	idmatch *m = ctx;
	if (!m->slot && m->next < m->n) {
		const ledger_key_ref *k = &m->refs[m->next];
		if (k->key_len == r->key_len && !memcmp(k->key, r->key, r->key_len) && !strcmp(k->user, r->user)) {
			m->ids[m->next++] = r->id;
			m->late += r->deleted || r->seq > m->fed;
			return m->next == m->n;   /* every touched key placed: stop */
		}
	}
	if (!m->slot && (build_hash(m) || !m->left))
		return 1;   /* out of memory, or only keys touched twice were left */
	int32_t i = m->slot[find_slot(m, r->user, r->key, r->key_len)];
	if (i < 0 || m->ids[i]) {
		m->stray++;
		return 0;
	}
	m->ids[i] = r->id;
	m->late += r->deleted || r->seq > m->fed;
	return --m->left ? 0 : 1;   /* every touched key placed: stop */
}

/* *use_feed: the feed (its last seq fed, 0: none) holds the pass's rows exactly: every touched
 * key once, each a row created since the last range and not changed since the change fed, and
 * no other row of the store among them. */
static int touched_ids(lake *l, lk_table *t, const ledger_key_ref *refs, size_t n, int64_t *ids, int64_t last,
		       int64_t fed, int *use_feed, ids_error *err)
{
	idmatch m = {.refs = refs, .n = n, .ids = ids, .fed = fed};
	*use_feed = 0;
	ledger_key_ref *rest = malloc((n + 1) * sizeof *rest);
	int64_t *rest_ids = calloc(n + 1, sizeof *rest_ids);
	size_t *at = malloc((n + 1) * sizeof *at), k = 0;
	int rc = rest && rest_ids && at ? 0 : ids_fail(err, IDS_ENOMEM, "out of memory");
	/* bounded: rows created after the pass's changes follow its own in id order; stops by
	 * itself once every key is placed in step */
	if (!rc && n && (rc = ledger_rows_after(l->lg, t->db, t->store, last, 2 * n + 64, on_new_row, &m, err)) == 1)
		rc = 0;
	if (!rc && (m.oom || (!m.slot && m.next < m.n && build_hash(&m))))
		rc = ids_fail(err, IDS_ENOMEM, "out of memory");
	if (!rc && !m.slot) {   /* every key placed in step: n distinct keys, each a new row */
		*use_feed = fed && !m.late;
		goto done;
	}
	*use_feed = !rc && fed && m.distinct == n && !m.left && !m.stray && !m.late;
	for (size_t i = 0; !rc && i < n; i++)
		if (m.first[i] == (int32_t)i && !ids[i]) {
			rest[k] = refs[i];
			at[k++] = i;
		}
	if (!rc && k)
		rc = ledger_rows_ids(l->lg, t->db, t->store, rest, k, rest_ids, NULL, err);
	for (size_t i = 0; !rc && i < k; i++)
		ids[at[i]] = rest_ids[i];
	for (size_t i = 0; !rc && i < n; i++)
		ids[i] = ids[m.first[i]];
done:
	free(m.slot);
	free(m.first);
	free(rest);
	free(rest_ids);
	free(at);
	return rc;
}

/* The held rows of t whose file this pass writes again (hold.c marked them pending: a retry is
 * due) join its keys at refs[t->n_rkeys..]: each is placed like a touched key (its bucket, its
 * delta, or the new one), so a held row costs the file it belongs in, not a whole rebuild.
 * *n: how many; 1 if one cannot be placed (no user recorded: a progress.json from before; a
 * key that does not encode back to the bytes it was held with). */
static int held_keys(lake *l, lk_table *t, ledger_key_ref *refs, ids_buf *keys, size_t *n)
{
	ids_json j = IDS_JSON_INIT;
	size_t *off = NULL, m = 0;
	int bad = 0;
	*n = 0;
	for (lk_qchange *q = l->quarantine; q && !bad; q = q->next) {
		if (q->t != t || !q->state || !q->pending)
			continue;
		size_t *o = realloc(off, (m + 1) * sizeof *o);
		if (!o || !q->user || ids_json_parse(&j, q->key, strlen(q->key), 0, 128, NULL)) {
			free(o ? o : off);
			off = NULL;
			bad = 1;
			break;
		}
		off = o;
		off[m] = keys->len;
		ids_error e = IDS_ERROR_INIT;
		/* the key as the ledger stores it: its hash must be the one the row was held with */
		bad = ids_key_encode(&j, 0, keys, &e) || keys->failed ||
		      ledger_key_hash((const uint8_t *)keys->data + off[m], keys->len - off[m]) != q->hash;
		refs[t->n_rkeys + m] = (ledger_key_ref){q->user, NULL, keys->len - off[m]};
		m++;
	}
	for (size_t i = 0; !bad && i < m; i++)   /* the buffer has stopped moving */
		refs[t->n_rkeys + i].key = (const uint8_t *)keys->data + off[i];
	free(off);
	ids_json_free(&j);
	*n = m;
	return bad;
}

static size_t held_count(const lake *l, const lk_table *t)
{
	size_t n = 0;
	for (const lk_qchange *q = l->quarantine; q; q = q->next)
		n += q->t == t && q->state && q->pending;
	return n;
}

int lk_delta_pass(lake *l, lk_table *t, int64_t *max_size, int *rebuild, ids_error *err)
{
	*rebuild = 0;
	size_t nh = held_count(l, t), n = 0;
	ids_buf hkeys = IDS_BUF_INIT;
	ledger_key_ref *refs = t->rkeys_over ? NULL : key_refs(t, nh);
	if (t->rkeys_over || (refs && held_keys(l, t, refs, &hkeys, &nh))) {
		*rebuild = 1;   /* dirty buckets without their keys: the ranges cannot place them */
		free(refs);
		ids_buf_free(&hkeys);
		return 0;
	}
	n = t->n_rkeys + nh;
	int64_t *ids = calloc(n + 1, sizeof *ids);
	uint8_t *redo = calloc(t->n_deltas + 1, 1);
	int rc = refs && ids && redo ? 0 : ids_fail(err, IDS_ENOMEM, "out of memory");
	int64_t last = t->n_deltas ? t->deltas[t->n_deltas - 1].hi : t->upto, top = last, fed = 0;
	int use_feed = 0;
	if (!rc)
		rc = touched_ids(l, t, refs, n, ids, last, !nh && lk_feed_usable(t, &fed) ? fed : 0, &use_feed, err);
	/* the dirty buckets now: only those of touched rows up to upto */
	if (t->dirty)
		memset(t->dirty, 0, LK_DIRTY_BYTES);
	t->dirty_n = 0;
	for (size_t i = 0; !rc && !*rebuild && i < n; i++) {
		int64_t id = ids[i];
		if (id > last) {
			top = id > top ? id : top;
		} else if (id > t->upto) {
			size_t d = find_delta(t, id);
			if (d == t->n_deltas)
				*rebuild = 1;   /* not in any range: our own bug, healed by a rebuild */
			else
				redo[d] = 1;
		} else if (!id && t->n_deltas) {
			*rebuild = 1;   /* its tombstone was collected: its file is unknown */
		} else {
			lk_mark_dirty(t, ledger_key_hash(refs[i].key, refs[i].key_len));
		}
	}
	/* every file this pass writes goes into the next version of the dir under a new name:
	 * one exchange makes the buckets, the rewritten deltas, the new one and _buckets visible */
	lk_tree x;
	size_t n0 = t->n_deltas;
	int tree = !rc && !*rebuild && !(rc = lk_tree_begin(l, t, &x, 0, err));
	if (tree) {
		lk_state_src base = {0, t->upto, 0};
		rc = lk_state_run_dirty(l, t, &base, &x, max_size, err);
	}
	for (size_t d = 0; tree && !rc && d < t->n_deltas; d++)
		if (redo[d])
			rc = write_delta(l, t, &t->deltas[d], &x, err);
	if (tree && !rc && top > last) {
		lk_delta *nd = realloc(t->deltas, (t->n_deltas + 1) * sizeof *nd);
		if (!nd) {
			rc = ids_fail(err, IDS_ENOMEM, "out of memory");
		} else {
			t->deltas = nd;
			nd[t->n_deltas] = (lk_delta){free_slot(t), last, top};
			t->n_deltas++;
			char final[IDS_PATH_MAX + 1];
			if (!use_feed)
				rc = write_delta(l, t, &nd[t->n_deltas - 1], &x, err);
			else if (!(rc = lk_tree_path(&x, "", nd[t->n_deltas - 1].slot, final, sizeof final, err))) {
				lk_tree_replace(&x, nd[t->n_deltas - 1].slot);
				rc = lk_feed_take(l, t, final, max_size, err);   /* the rows as the ledger has them */
			}
		}
	}
	if (tree && !rc)
		rc = lk_tree_commit(l, t, &x, t->k, err);
	if (rc)
		t->n_deltas = n0;   /* the visible dir is as it was: so is the list */
	if (tree)
		lk_tree_free(&x);
	if (!rc && !*rebuild)
		rc = maybe_merge(l, t, 0, err);
	free(refs);
	ids_buf_free(&hkeys);
	free(ids);
	free(redo);
	return rc;
}

int lk_delta_merge_wanted(const lake *l)
{
	for (const lk_table *t = l->tables; t; t = t->next)
		if (t->merge_due && !t->state_held)
			return 1;
	return 0;
}

int lk_delta_merge_idle(lake *l, ids_error *err)
{
	/* a merge read from the ledger (a delta file missing) must read the state at state_seq */
	int64_t head = 0;
	int rc = ledger_read_begin(l->lg, &head, err);
	for (lk_table *t = l->tables; !rc && t; t = t->next) {
		size_t n = t->n_deltas;
		/* a merge swaps state files as a pass does: readers see it by the pass number */
		if (t->merge_due && !t->state_held && head == l->state_seq && !(rc = lk_state_pass_mark(l, t, 1, err))) {
			rc = maybe_merge(l, t, 1, err);
			lk_state_pass_done(l, t);
		}
		if (t->n_deltas != n)   /* Iceberg's state takes the merged file at the next commit */
			lk_ice_state_written(l, t);
	}
	ledger_read_end(l->lg);   /* a no-op when the pin was not taken */
	/* what is left (a failure, a push meanwhile) waits for the next state pass's merge */
	for (lk_table *t = l->tables; t; t = t->next)
		t->merge_due = 0;
	return rc;
}
