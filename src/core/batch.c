/* Push batch parsing: the whole body is validated before the ledger sees it, so a bad
 * mutation anywhere rejects the batch with nothing applied. Values stay as spans of the
 * body (no re-serialization); keys are canonicalized. */
#include "batch_int.h"

#include "idbsync/value.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ids_db_name_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > IDS_DB_NAME_MAX || s[0] == '.' || s[0] == '_')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
		      c == '-' || c == '.'))
			return 0;
	}
	return 1;
}

int ids_id_valid(const char *s, size_t n)
{
	if (n == 0 || n > IDS_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	return 1;
}

int ids_store_name_valid(const char *s, size_t n)
{
	if (n == 0 || n > IDS_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

/* The fields of a mutation object, found in one pass over its keys (the first of a repeated
 * key counts, as with ids_json_get). */
enum { F_ID, F_STORE, F_OP, F_KEY, F_VALUE, F_HLC, F_BASE, F_COUNT };

static int field_of(const ids_json *j, size_t k)
{
	static const char *const names[F_COUNT] = {"id", "store", "op", "key", "value", "hlc", "base"};
	const ids_jtok *kt = &j->tok[k];
	if (kt->escaped) {
		for (int i = 0; i < F_COUNT; i++)
			if (ids_json_streq(j, k, names[i]))
				return i;
		return -1;
	}
	const char *s = j->text + kt->start + 1;
	switch (kt->end - kt->start - 2) {
	case 2:
		return s[0] == 'i' && s[1] == 'd' ? F_ID : s[0] == 'o' && s[1] == 'p' ? F_OP : -1;
	case 3:
		return !memcmp(s, "key", 3) ? F_KEY : !memcmp(s, "hlc", 3) ? F_HLC : -1;
	case 4:
		return !memcmp(s, "base", 4) ? F_BASE : -1;
	case 5:
		return !memcmp(s, "store", 5) ? F_STORE : !memcmp(s, "value", 5) ? F_VALUE : -1;
	}
	return -1;
}

/* Error paths name the mutation ("mutations[3].key: ..."); the name is only formatted then. */
#define MPATH "mutations[%zu]"

int ids_batch_parse_mutation(ids_batch *b, const ids_json *j, ids_buf *arena, size_t t, size_t idx, pending *pd,
			     const pending *prev, const ids_limits *lim, hlc_clock *clock, ids_error *err)
{
	ids_mutation *m = &b->m[idx];
	if (j->tok[t].type != IDS_JOBJ)
		return ids_fail(err, IDS_EINVAL, MPATH ": must be an object", idx);
	long fl[F_COUNT];
	for (int i = 0; i < F_COUNT; i++)
		fl[i] = -1;
	size_t k = t + 1;
	for (uint32_t i = 0; i < j->tok[t].size; i++, k = j->tok[k + 1].next) {
		int w = field_of(j, k);
		if (w >= 0 && fl[w] < 0)
			fl[w] = (long)k + 1;
	}
	long f = fl[F_ID];
	if (f < 0 || ids_json_i64(j, (size_t)f, &m->id) || m->id < 1)
		return ids_fail(err, IDS_EINVAL, MPATH ".id: required, an integer >= 1", idx);
	if (idx > 0 && m->id <= b->m[idx - 1].id)
		return ids_fail(err, IDS_EINVAL, MPATH ".id: ids must be strictly increasing (%lld after %lld)", idx,
				(long long)m->id, (long long)b->m[idx - 1].id);

	f = fl[F_STORE];
	if (f < 0 || j->tok[f].type != IDS_JSTR)
		return ids_fail(err, IDS_EINVAL, MPATH ".store: required, a string", idx);
	/* batches write to one or two stores: the same token text as the previous mutation's
	 * shares its checked copy in the arena */
	const ids_jtok *st = &j->tok[f];
	const ids_jtok *pst = prev ? &j->tok[prev->store_tok] : NULL;
	if (pst && pst->end - pst->start == st->end - st->start &&
	    !memcmp(j->text + pst->start, j->text + st->start, st->end - st->start)) {
		pd->store_off = prev->store_off;
	} else {
		pd->store_off = arena->len;
		if (ids_json_unescape(j, (size_t)f, arena) ||
		    !ids_store_name_valid(arena->data + pd->store_off, arena->len - pd->store_off) ||
		    memchr(arena->data + pd->store_off, 0, arena->len - pd->store_off))
			return ids_fail(err, IDS_EINVAL, MPATH ".store: 1-%d bytes without control characters", idx,
					IDS_NAME_MAX);
		ids_buf_putc(arena, 0);
	}
	pd->store_tok = (size_t)f;

	f = fl[F_OP];
	if (f >= 0 && ids_json_streq(j, (size_t)f, "put"))
		m->op = IDS_OP_PUT;
	else if (f >= 0 && ids_json_streq(j, (size_t)f, "delete"))
		m->op = IDS_OP_DELETE;
	else
		return ids_fail(err, IDS_EINVAL, MPATH ".op: must be \"put\" or \"delete\"", idx);

	f = fl[F_KEY];
	if (f < 0)
		return ids_fail(err, IDS_EINVAL, MPATH ".key: required", idx);
	pd->key_off = arena->len;
	int rc = ids_key_encode(j, (size_t)f, arena, err);
	if (rc)
		return ids_wrap(err, MPATH ".key: ", idx);
	m->key_len = arena->len - pd->key_off;
	if (m->key_len > lim->max_key)
		return ids_fail(err, IDS_ELIMIT, MPATH ".key: %zu bytes encoded, the limit is %zu", idx, m->key_len,
				lim->max_key);

	f = fl[F_VALUE];
	if (m->op == IDS_OP_PUT) {
		if (f < 0)
			return ids_fail(err, IDS_EINVAL, MPATH ".value: required for put", idx);
		const ids_jtok *vt = &j->tok[f];
		m->json = j;
		m->vtok = (uint32_t)f;
		m->value = j->text + vt->start;
		m->value_len = vt->end - vt->start;
		if (m->value_len > lim->max_value)
			return ids_fail(err, IDS_ELIMIT, MPATH ".value: %zu bytes, the limit is %zu", idx, m->value_len,
					lim->max_value);
		if (ids_value_check(j, (size_t)f, "", NULL)) {
			/* checked again only to name the place in the message */
			char vpath[80];
			snprintf(vpath, sizeof vpath, MPATH ".value", idx);
			if ((rc = ids_value_check(j, (size_t)f, vpath, err)))
				return rc;
		}
	} else if (f >= 0 && j->tok[f].type != IDS_JNULL) {
		return ids_fail(err, IDS_EINVAL, MPATH ".value: must be absent for delete", idx);
	}

	f = fl[F_HLC];
	if (f >= 0 && j->tok[f].type != IDS_JNULL) {
		if (j->tok[f].type != IDS_JSTR || j->tok[f].escaped)
			return ids_fail(err, IDS_EINVAL, MPATH ".hlc: must be a string", idx);
		if (hlc_parse(&m->hlc, j->text + j->tok[f].start + 1, j->tok[f].end - j->tok[f].start - 2, err) ||
		    (clock && hlc_clock_check(clock, &m->hlc, err)))
			return ids_wrap(err, MPATH ".", idx);
		m->has_hlc = 1;
	}
	f = fl[F_BASE];
	if (f >= 0 && j->tok[f].type != IDS_JNULL) {
		if (ids_json_i64(j, (size_t)f, &m->base) || m->base < 0)
			return ids_fail(err, IDS_EINVAL, MPATH ".base: must be an integer >= 0 (a server seq)", idx);
		m->has_base = 1;
	}
	return 0;
}

int ids_batch_envelope(ids_batch *b, ids_error *err)
{
	const ids_json *j = &b->json;
	long f = ids_json_get(j, 0, "client");
	if (f < 0 || j->tok[f].type != IDS_JSTR || ids_json_strcpy(j, (size_t)f, b->client, sizeof b->client) ||
	    !ids_id_valid(b->client, strlen(b->client)))
		return ids_fail(err, IDS_EINVAL, "client: required, 1-%d printable ASCII characters without spaces",
				IDS_NAME_MAX);
	/* server-side writers (importers, admin tools) mark their batches; the route checks rights */
	long og = ids_json_get(j, 0, "origin");
	if (og >= 0 && ids_json_streq(j, (size_t)og, "server"))
		b->origin = IDS_ORIGIN_SERVER;
	else if (og >= 0 && !ids_json_streq(j, (size_t)og, "client"))
		return ids_fail(err, IDS_EINVAL, "origin: must be \"client\" or \"server\"");
	long us = ids_json_get(j, 0, "user");
	if (us >= 0) {
		if (b->origin != IDS_ORIGIN_SERVER)
			return ids_fail(err, IDS_EINVAL, "user: only server-origin pushes name the owning user");
		if (j->tok[us].type != IDS_JSTR || ids_json_strcpy(j, (size_t)us, b->user, sizeof b->user) ||
		    (b->user[0] && !ids_id_valid(b->user, strlen(b->user))))
			return ids_fail(err, IDS_EINVAL,
					"user: a user id (printable ASCII without spaces), or \"\" for shared rows");
	}
	return 0;
}

int ids_batch_alloc(ids_batch **out, const char *db, ids_error *err)
{
	ids_batch *b = calloc(1, sizeof *b);
	if (!b)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	if (!ids_db_name_valid(db)) {
		free(b);
		return ids_fail(err, IDS_EINVAL,
				"database name must be 1-64 characters of [A-Za-z0-9_.-], not starting with '.' or '_'");
	}
	strcpy(b->db, db);
	*out = b;
	return 0;
}

int ids_batch_parse(ids_batch **out, const char *db, char *body, size_t len, const ids_limits *lim,
		    hlc_clock *clock, ids_error *err)
{
	*out = NULL;
	ids_batch *b;
	int rc = ids_batch_alloc(&b, db, err);
	if (rc) {
		free(body);
		return rc;
	}
	b->body = body;
	pending *pd = NULL;
	/* a mutation takes at least ~30 bytes, so this cap never rejects a legal body */
	rc = ids_json_parse(&b->json, body, len, len / 2 + 16, 64, err);
	if (rc)
		goto fail;
	const ids_json *j = &b->json;
	if (j->tok[0].type != IDS_JOBJ) {
		rc = ids_fail(err, IDS_EINVAL, "body must be a JSON object");
		goto fail;
	}
	if ((rc = ids_batch_envelope(b, err)))
		goto fail;
	long ms = ids_json_get(j, 0, "mutations");
	if (ms < 0 || j->tok[ms].type != IDS_JARR) {
		rc = ids_fail(err, IDS_EINVAL, "mutations: required, an array");
		goto fail;
	}
	size_t n = j->tok[ms].size;
	if (n > lim->max_mutations) {
		rc = ids_fail(err, IDS_ELIMIT, "mutations: %zu in one push, the limit is %zu", n, lim->max_mutations);
		goto fail;
	}
	b->m = calloc(n ? n : 1, sizeof *b->m);
	pd = calloc(n ? n : 1, sizeof *pd);
	if (!b->m || !pd) {
		rc = ids_fail(err, IDS_ENOMEM, "out of memory");
		goto fail;
	}
	ids_buf_init(&b->arena, 0);
	size_t t = (size_t)ms + 1;
	for (size_t i = 0; i < n; i++) {
		if ((rc = ids_batch_parse_mutation(b, j, &b->arena, t, i, &pd[i], i ? &pd[i - 1] : NULL, lim, clock,
						   err)))
			goto fail;
		t = j->tok[t].next;
	}
	if (b->arena.failed) {
		rc = ids_fail(err, b->arena.failed, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		b->m[i].store = b->arena.data + pd[i].store_off;
		b->m[i].key = (const uint8_t *)b->arena.data + pd[i].key_off;
	}
	b->n = n;
	free(pd);
	*out = b;
	return 0;
fail:
	free(pd);
	ids_batch_free(b);
	return rc;
}

int ids_batch_new(ids_batch **out, const char *db, const char *client, const char *user,
		  ids_origin origin, ids_error *err)
{
	ids_batch *b;
	int rc = ids_batch_alloc(&b, db, err);
	if (rc)
		return rc;
	snprintf(b->client, sizeof b->client, "%s", client);
	snprintf(b->user, sizeof b->user, "%s", user ? user : "");
	b->origin = origin;
	*out = b;
	return 0;
}

/* Server-side batches own copies of their key/value text: each mutation's JSON is parsed
 * on its own, so the arena holds "key\0value" and the pointers are set once complete. */
int ids_batch_add(ids_batch *b, int64_t id, const char *store, ids_op op, const char *key_json,
		  size_t key_len, const char *value_json, size_t value_len, const ids_limits *lim, ids_error *err)
{
	ids_json j = IDS_JSON_INIT;
	ids_buf key = IDS_BUF_INIT;
	int rc = ids_json_parse(&j, key_json, key_len, 0, IDS_KEY_MAX_DEPTH + 2, err);
	if (!rc)
		rc = ids_key_encode(&j, 0, &key, err);
	if (!rc && key.len > lim->max_key)
		rc = ids_fail(err, IDS_ELIMIT, "key: %zu bytes encoded, the limit is %zu", key.len, lim->max_key);
	if (!rc && op == IDS_OP_PUT) {
		rc = ids_json_parse(&j, value_json, value_len, 0, 64, err);
		if (!rc)
			rc = ids_value_check(&j, 0, "value", err);
		if (!rc && value_len > lim->max_value)
			rc = ids_fail(err, IDS_ELIMIT, "value: %zu bytes, the limit is %zu", value_len, lim->max_value);
	}
	ids_json_free(&j);
	if (rc) {
		ids_buf_free(&key);
		return rc;
	}
	ids_mutation *nm = realloc(b->m, (b->n + 1) * sizeof *nm);
	if (!nm) {
		ids_buf_free(&key);
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	}
	b->m = nm;
	ids_mutation *m = &b->m[b->n++];
	memset(m, 0, sizeof *m);
	m->id = id;
	m->op = op;
	/* each item is its own allocation so earlier pointers stay valid as the batch grows */
	size_t sl = strlen(store);
	char *blk = malloc(sl + 1 + key.len + (op == IDS_OP_PUT ? value_len : 0) + 1);
	if (!blk) {
		b->n--;
		ids_buf_free(&key);
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	}
	memcpy(blk, store, sl + 1);
	memcpy(blk + sl + 1, key.data, key.len);
	m->store = blk;
	m->key = (const uint8_t *)blk + sl + 1;
	m->key_len = key.len;
	if (op == IDS_OP_PUT) {
		char *v = blk + sl + 1 + key.len;
		memcpy(v, value_json, value_len);
		v[value_len] = 0;
		m->value = v;
		m->value_len = value_len;
	}
	ids_buf_free(&key);
	return 0;
}

void ids_batch_free(ids_batch *b)
{
	if (!b)
		return;
	if (!b->body && !b->stream) /* built with ids_batch_add: each mutation owns one block */
		for (size_t i = 0; i < b->n; i++)
			free((void *)b->m[i].store);
	ids_batch_stream_free(b->stream);
	free(b->m);
	free(b->body);
	ids_json_free(&b->json);
	ids_buf_free(&b->arena);
	free(b);
}

const char *ids_rule_name(ids_rule r)
{
	switch (r) {
	case IDS_RULE_LWW: return "lww";
	case IDS_RULE_CLIENT_WINS: return "client-wins";
	case IDS_RULE_SERVER_WINS: return "server-wins";
	case IDS_RULE_MERGE: return "merge";
	}
	return "?";
}

int ids_rule_parse(const char *s, ids_rule *out)
{
	if (!strcmp(s, "lww")) *out = IDS_RULE_LWW;
	else if (!strcmp(s, "client-wins")) *out = IDS_RULE_CLIENT_WINS;
	else if (!strcmp(s, "server-wins") || !strcmp(s, "lake-wins")) *out = IDS_RULE_SERVER_WINS;
	else if (!strcmp(s, "merge")) *out = IDS_RULE_MERGE;
	else return IDS_EINVAL;
	return 0;
}
