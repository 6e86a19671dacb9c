/* Parquet rows → server-side mutations of one store, pushed in group-committed batches.
 * Ids are positions (per user) in the input under one client id, so re-running the same input
 * is idempotent; replace mode then deletes live rows the input did not mention. Values take
 * the reader's JSON conventions, with the import's own choices of docs/types.md on top
 * (decimals as numbers where exact, intervals as ISO-8601 durations). */
#include "idbsync/import.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idbsync/pq_read.h"
#include "idbsync/value.h"
#include "import_int.h"

/* ---- a set of (user, encoded key): replace mode, and the count of repeated keys ---- */
typedef struct kset {
	uint64_t *hash;     /* 0 = empty */
	char **item;        /* "user\0" + key bytes, length-prefixed below */
	size_t *len;
	size_t cap, n;
} kset;

static uint64_t hash_bytes(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
	return h | 1;
}

static int kset_grow(kset *s)
{
	size_t nc = s->cap ? s->cap * 2 : 1024;
	kset t = {calloc(nc, 8), calloc(nc, sizeof(char *)), calloc(nc, sizeof(size_t)), nc, s->n};
	if (!t.hash || !t.item || !t.len) {
		free(t.hash);
		free(t.item);
		free(t.len);
		return IDS_ENOMEM;
	}
	for (size_t i = 0; i < s->cap; i++) {
		if (!s->hash[i])
			continue;
		size_t j = s->hash[i] & (nc - 1);
		while (t.hash[j])
			j = (j + 1) & (nc - 1);
		t.hash[j] = s->hash[i];
		t.item[j] = s->item[i];
		t.len[j] = s->len[i];
	}
	free(s->hash);
	free(s->item);
	free(s->len);
	*s = t;
	return 0;
}

static int kset_find(const kset *s, const char *p, size_t n, uint64_t h)
{
	if (!s->cap)
		return 0;
	for (size_t j = h & (s->cap - 1); s->hash[j]; j = (j + 1) & (s->cap - 1))
		if (s->hash[j] == h && s->len[j] == n && !memcmp(s->item[j], p, n))
			return 1;
	return 0;
}

/* 0: added, 1: already there, IDS_ENOMEM */
static int kset_add(kset *s, const char *user, const uint8_t *key, size_t klen)
{
	size_t ul = strlen(user), n = ul + 1 + klen;
	char *p = malloc(n);
	if (!p)
		return IDS_ENOMEM;
	memcpy(p, user, ul + 1);
	memcpy(p + ul + 1, key, klen);
	uint64_t h = hash_bytes(p, n);
	if (kset_find(s, p, n, h)) {
		free(p);
		return 1;
	}
	if ((s->n + 1) * 2 > s->cap && kset_grow(s)) {
		free(p);
		return IDS_ENOMEM;
	}
	size_t j = h & (s->cap - 1);
	while (s->hash[j])
		j = (j + 1) & (s->cap - 1);
	s->hash[j] = h;
	s->item[j] = p;
	s->len[j] = n;
	s->n++;
	return 0;
}

static void kset_free(kset *s)
{
	for (size_t i = 0; i < s->cap; i++)
		free(s->item[i]);
	free(s->hash);
	free(s->item);
	free(s->len);
}

/* ---- batches per user ---- */
typedef struct ubatch {
	char *user;
	int64_t next_id;       /* last id given to this user's mutations */
	ids_batch *b;
	struct ubatch *next;
} ubatch;

typedef struct run {
	ledger *lg;
	const imp_options *o;
	char client[IDS_NAME_MAX + 1];
	ubatch *users;
	size_t pending;
	imp_summary *sum;
	kset keys;
	int64_t done, total;
	const char *fname;     /* the current file as messages call it */
	int64_t rowno;
	imp_convs conv;        /* the current file's top-level columns that need converting */
} run;

static ubatch *user_slot(run *r, const char *user, ids_error *err)
{
	for (ubatch *u = r->users; u; u = u->next)
		if (!strcmp(u->user, user))
			return u;
	ubatch *u = calloc(1, sizeof *u);
	if (!u || !(u->user = strdup(user))) {
		free(u);
		ids_fail(err, IDS_ENOMEM, "out of memory");
		return NULL;
	}
	u->next = r->users;
	r->users = u;
	return u;
}

static int push_one(run *r, ubatch *u, ids_error *err)
{
	if (!u->b || !u->b->n)
		return 0;
	if (r->o->dry_run) {
		r->done += (int64_t)u->b->n;
		ids_batch_free(u->b);
		u->b = NULL;
		return 0;
	}
	ledger_push_result res;
	ledger_push_result_init(&res);
	int rc = ledger_push(r->lg, u->b, &res, err);
	if (!rc && res.gap)
		rc = ids_fail(err, IDS_ECONFLICT,
			      "client id \"%s\" was already used for a different import (server expects id %lld for user "
			      "\"%s\"): import under a new client id",
			      r->client, (long long)res.expected, u->user);
	if (!rc) {
		r->sum->duplicates += (int64_t)res.duplicates;
		r->sum->conflicts += (int64_t)res.conflicts;
		r->done += (int64_t)u->b->n;
	}
	ledger_push_result_free(&res);
	ids_batch_free(u->b);
	u->b = NULL;
	return rc;
}

static int flush_all(run *r, ids_error *err)
{
	for (ubatch *u = r->users; u; u = u->next) {
		int rc = push_one(r, u, err);
		if (rc)
			return rc;
	}
	r->pending = 0;
	if (r->o->progress)
		r->o->progress(r->o->progress_ctx, r->done, r->total);
	return 0;
}

static int add_mutation(run *r, const char *user, ids_op op, const char *key, size_t klen, const char *val,
			size_t vlen, ids_error *err)
{
	ubatch *u = user_slot(r, user, err);
	if (!u)
		return IDS_ENOMEM;
	if (!u->b) {
		int rc = ids_batch_new(&u->b, r->o->db, r->client, user, IDS_ORIGIN_SERVER, err);
		if (rc)
			return rc;
	}
	ids_limits lim = IDS_LIMITS_INIT;
	int rc = ids_batch_add(u->b, ++u->next_id, r->o->store, op, key, klen, val, vlen, &lim, err);
	if (rc)
		return rc;
	if (op == IDS_OP_PUT)
		r->sum->puts++;
	else
		r->sum->deletes++;
	/* every key, for replace mode and to count the rows a later row of the input overrides */
	const ids_mutation *m = &u->b->m[u->b->n - 1];
	int seen = kset_add(&r->keys, user, m->key, m->key_len);
	if (seen < 0)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	if (seen && r->fname) {
		if (!r->sum->duplicate_keys++)
			snprintf(r->sum->first_duplicate, sizeof r->sum->first_duplicate, "key %.*s%s: %s row %lld",
				 klen > 60 ? 60 : (int)klen, key, klen > 60 ? "..." : "", r->fname, (long long)r->rowno);
	}
	if (++r->pending >= r->o->batch_rows)
		return flush_all(r, err);
	return 0;
}

/* One row: key, _op, owner, and the value (the row without _op). */
static int import_row(run *r, const char *file, int64_t rowno, const char *row, size_t len, ids_json *j,
		      ids_buf *val, ids_error *err)
{
	int rc = ids_json_parse(j, row, len, 0, 64, err);
	if (rc)
		return ids_wrap(err, "%s: row %lld: ", file, (long long)rowno);
	const char *kf = r->o->key_field ? r->o->key_field : "id";
	long k = ids_json_get(j, 0, kf);
	if (k < 0 || j->tok[k].type == IDS_JNULL)
		return ids_fail(err, IDS_EINVAL, "%s: row %lld: the key field \"%s\" is missing or null", file,
				(long long)rowno, kf);
	ids_op op = IDS_OP_PUT;
	long o = ids_json_get(j, 0, "_op");
	if (o >= 0 && j->tok[o].type != IDS_JNULL) {
		if (ids_json_streq(j, (size_t)o, "delete"))
			op = IDS_OP_DELETE;
		else if (!ids_json_streq(j, (size_t)o, "put"))
			return ids_fail(err, IDS_EINVAL, "%s: row %lld: _op must be \"put\" or \"delete\"", file,
					(long long)rowno);
	}
	char user[IDS_NAME_MAX + 1] = "";
	if (r->o->user_column) {
		long uc = ids_json_get(j, 0, r->o->user_column);
		if (uc >= 0 && j->tok[uc].type == IDS_JSTR) {
			if (ids_json_strcpy(j, (size_t)uc, user, sizeof user) || !ids_id_valid(user, strlen(user)))
				return ids_fail(err, IDS_EINVAL, "%s: row %lld: column %s is not a valid user id", file,
						(long long)rowno, r->o->user_column);
		} else if (uc >= 0 && j->tok[uc].type == IDS_JNUM) {
			snprintf(user, sizeof user, "%.*s", (int)(j->tok[uc].end - j->tok[uc].start), row + j->tok[uc].start);
		} else if (uc >= 0 && j->tok[uc].type != IDS_JNULL) {
			return ids_fail(err, IDS_EINVAL, "%s: row %lld: column %s must be a string user id", file,
					(long long)rowno, r->o->user_column);
		}
	}
	ids_buf_reset(val);
	if (op == IDS_OP_PUT) {
		ids_buf_putc(val, '{');
		size_t t = 1;
		int first = 1;
		for (uint32_t i = 0; i < j->tok[0].size; i++) {
			size_t v = t + 1;
			if ((long)t + 1 != o) {
				if (!first)
					ids_buf_putc(val, ',');
				first = 0;
				ids_buf_append(val, row + j->tok[t].start, j->tok[v].start - j->tok[t].start);
				imp_convs_put(&r->conv, j, t, v, row, val);
			}
			t = j->tok[v].next;
		}
		ids_buf_putc(val, '}');
		ids_json vj = IDS_JSON_INIT;
		imp_widen_big_ints(&vj, val);
		ids_json_free(&vj);
	}
	const char *kp;
	size_t kl;
	imp_convs_key(&r->conv, kf, j, (size_t)k, row, &kp, &kl);
	rc = add_mutation(r, user, op, kp, kl, val->data, val->len, err);
	if (rc && err->code != IDS_ECONFLICT && err->code != IDS_EIO && err->code != IDS_ENOSPC)
		return ids_wrap(err, "%s: row %lld: ", file, (long long)rowno);
	return rc;
}

/* Replace mode: live rows not mentioned by the input (and not written since it began). */
typedef struct absent {
	run *r;
	int64_t before;
	char **users;
	ids_buf *keys; /* per entry: JSON key text */
	size_t n, cap;
} absent;

static int collect_absent(void *ctx, const ledger_row *row)
{
	absent *a = ctx;
	size_t ul = strlen(row->user), n = ul + 1 + row->key_len;
	char stack[512], *p = n <= sizeof stack ? stack : malloc(n);
	if (!p)
		return IDS_ENOMEM;
	memcpy(p, row->user, ul + 1);
	memcpy(p + ul + 1, row->key, row->key_len);
	int found = kset_find(&a->r->keys, p, n, hash_bytes(p, n));
	if (p != stack)
		free(p);
	if (found || row->seq > a->before)
		return 0;
	if (a->n == a->cap) {
		size_t nc = a->cap ? a->cap * 2 : 256;
		char **nu = realloc(a->users, nc * sizeof *nu);
		ids_buf *nk = nu ? realloc(a->keys, nc * sizeof *nk) : NULL;
		if (nu)
			a->users = nu;
		if (!nk)
			return IDS_ENOMEM;
		a->keys = nk;
		a->cap = nc;
	}
	a->users[a->n] = strdup(row->user);
	ids_buf_init(&a->keys[a->n], 0);
	ids_key_to_json(row->key, row->key_len, &a->keys[a->n], NULL);
	a->n++;
	return 0;
}

static int replace_absent(run *r, int64_t before, ids_error *err)
{
	absent a = {r, before, NULL, NULL, 0, 0};
	int64_t head;
	int rc = ledger_rows_scan(r->lg, r->o->db, r->o->store, 0, UINT32_MAX, collect_absent, &a, &head, err);
	for (size_t i = 0; i < a.n; i++) {
		if (!rc) {
			rc = add_mutation(r, a.users[i], IDS_OP_DELETE, a.keys[i].data, a.keys[i].len, NULL, 0, err);
			if (!rc) {
				r->sum->deletes--; /* counted as replaced, not as input deletes */
				r->sum->replaced++;
			}
		}
		free(a.users[i]);
		ids_buf_free(&a.keys[i]);
	}
	free(a.users);
	free(a.keys);
	if (!rc)
		rc = flush_all(r, err);
	return rc;
}

/* Messages from the reader name the path it opened: put the user's name for it instead. */
static int rename_in_msg(ids_error *err, const char *path, const char *name, int rc)
{
	if (!err || path == name || !strcmp(path, name))
		return rc;
	char out[sizeof err->msg];
	size_t o = 0, pl = strlen(path);
	for (const char *p = err->msg; *p && o + 1 < sizeof out;) {
		if (!strncmp(p, path, pl)) {
			o += (size_t)snprintf(out + o, sizeof out - o, "%s", name);
			if (o >= sizeof out)
				o = sizeof out - 1;
			p += pl;
		} else {
			out[o++] = *p++;
		}
	}
	out[o] = 0;
	memcpy(err->msg, out, o + 1);
	return rc;
}

/* Per file: the key column must exist (else list the columns there are), and which
 * top-level columns get the conversions of docs/types.md. */
static int prepare_file(run *r, pq_reader *pr, ids_error *err)
{
	const pq_node *root = pq_reader_schema(pr);
	const char *kf = r->o->key_field ? r->o->key_field : "id";
	if (imp_convs_plan(&r->conv, root))
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	int has_key = 0;
	for (size_t i = 0; i < root->n_children; i++)
		has_key |= !strcmp(root->children[i]->name, kf);
	if (!has_key) {
		char cols[300];
		size_t o = 0;
		cols[0] = 0;
		for (size_t i = 0; i < root->n_children && o + 1 < sizeof cols; i++) {
			int w = snprintf(cols + o, sizeof cols - o, "%s%s", i ? ", " : "", root->children[i]->name);
			o = w < 0 || (size_t)w >= sizeof cols - o ? sizeof cols : o + (size_t)w;
		}
		if (o >= sizeof cols)
			memcpy(cols + sizeof cols - 5, "...", 4);
		return ids_fail(err, IDS_EINVAL,
				"%s: no column \"%s\" to take the key from; the file has the columns %s (choose the key "
				"column with --key COLUMN, or \"key\" in the inbox's _import.json)",
				r->fname, kf, root->n_children ? cols : "(none)");
	}
	return 0;
}

int imp_files(ledger *lg, const imp_options *o, const char *const *files, size_t n, imp_summary *sum,
	      ids_error *err)
{
	memset(sum, 0, sizeof *sum);
	if (!o->db || !ids_db_name_valid(o->db))
		return ids_fail(err, IDS_EINVAL,
				"--db: a database name of 1-64 characters of [A-Za-z0-9_.-], not starting with '.' or '_', "
				"is required");
	if (!o->store || !ids_store_name_valid(o->store, strlen(o->store)))
		return ids_fail(err, IDS_EINVAL,
				"--store: the object store to import into is required (1-256 bytes, no control characters)");
	if (!lg && !o->dry_run)
		return ids_fail(err, IDS_EINVAL, "import: no store to import into");
	run r = {0};
	r.lg = lg;
	r.o = o;
	r.sum = sum;
	if (o->client) {
		snprintf(r.client, sizeof r.client, "%s", o->client);
	} else {
		uint32_t rnd[2] = {(uint32_t)rand() ^ (uint32_t)hlc_wall_ms(), (uint32_t)(uintptr_t)&r};
		snprintf(r.client, sizeof r.client, "import-%lld-%08x%08x", (long long)hlc_wall_ms(), rnd[0], rnd[1]);
	}
	imp_options eff = *o;
	if (!eff.batch_rows)
		eff.batch_rows = 5000;
	r.o = &eff;
	int rc = 0;
	/* rows of all files, for progress; also fails early on unreadable files and missing keys */
	for (size_t i = 0; i < n && !rc; i++) {
		pq_reader *pr;
		r.fname = o->names && o->names[i] ? o->names[i] : files[i];
		rc = rename_in_msg(err, files[i], r.fname, pq_reader_open(&pr, files[i], NULL, err));
		if (!rc) {
			r.total += pq_reader_num_rows(pr);
			rc = prepare_file(&r, pr, err);
			pq_reader_free(pr);
		}
	}
	int64_t before = lg ? ledger_head(lg) : 0;
	ids_buf row = IDS_BUF_INIT, val = IDS_BUF_INIT;
	ids_json j = IDS_JSON_INIT;
	for (size_t i = 0; i < n && !rc; i++) {
		pq_reader *pr;
		r.fname = o->names && o->names[i] ? o->names[i] : files[i];
		if ((rc = rename_in_msg(err, files[i], r.fname, pq_reader_open(&pr, files[i], NULL, err))))
			break;
		if ((rc = prepare_file(&r, pr, err))) {
			pq_reader_free(pr);
			break;
		}
		r.rowno = 0;
		for (;;) {
			ids_buf_reset(&row);
			int got = pq_reader_next_row_json(pr, &row, err);
			if (got < 0) {
				rc = rename_in_msg(err, files[i], r.fname, got);
				break;
			}
			if (got == 0)
				break;
			r.rowno++;
			sum->rows++;
			if ((rc = import_row(&r, r.fname, r.rowno, row.data, row.len, &j, &val, err)))
				break;
		}
		pq_reader_free(pr);
		sum->files++;
	}
	r.fname = NULL;
	if (!rc)
		rc = flush_all(&r, err);
	sum->keys = (int64_t)r.keys.n;
	if (!rc && o->mode == IMP_REPLACE && !o->dry_run)
		rc = replace_absent(&r, before, err);
	ids_buf_free(&row);
	ids_buf_free(&val);
	ids_json_free(&j);
	kset_free(&r.keys);
	imp_convs_free(&r.conv);
	while (r.users) {
		ubatch *u = r.users;
		r.users = u->next;
		ids_batch_free(u->b);
		free(u->user);
		free(u);
	}
	return rc;
}
