/* Unit tests for push bodies parsed while they are applied (src/core/batch_stream.c): a
 * streamed body that ends well is exactly the batch the whole parse makes; one the whole parse
 * refuses never ends well (so nothing of it is kept); and a reader waiting mutation by
 * mutation on another thread (as the ledger's writer does) sees every mutation complete. */
#include "idbsync/sync.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

static int same_mutation(const ids_mutation *a, const ids_mutation *b)
{
	return a->id == b->id && a->op == b->op && !strcmp(a->store, b->store) && a->key_len == b->key_len &&
	       !memcmp(a->key, b->key, a->key_len) && a->value_len == b->value_len &&
	       (!a->value) == (!b->value) && (!a->value || !memcmp(a->value, b->value, a->value_len)) &&
	       a->has_hlc == b->has_hlc && !memcmp(&a->hlc, &b->hlc, sizeof a->hlc) && a->has_base == b->has_base &&
	       a->base == b->base && (!a->value || a->json->tok[a->vtok].type == b->json->tok[b->vtok].type);
}

typedef struct reader {
	ids_batch *b;
	size_t seen;
	int end_rc;
	int torn; /* a mutation it was given was not complete */
} reader;

/* what the ledger's writer does with a streamed batch (apply_common.c, apply.c) */
static void *read_all(void *arg)
{
	reader *r = arg;
	while (ids_batch_wait(r->b, r->seen)) {
		const ids_mutation *m = &r->b->m[r->seen];
		if (!m->store || !m->key || m->id < 1) {
			r->torn = 1;
			break;
		}
		r->seen++;
	}
	r->end_rc = ids_batch_stream_end(r->b, NULL);
	return NULL;
}

/* Streams body (with a reader thread) and parses it whole; checks they agree. Returns what
 * the stream said: -1 not streamable, 0 ended well, 1 failed. */
static int both(const char *body, const ids_limits *lim, int whole_ok_if_failed)
{
	size_t len = strlen(body);
	ids_batch *s = NULL, *w = NULL;
	char *c1 = strdup(body), *c2 = strdup(body);
	int wrc = ids_batch_parse(&w, "db", c2, len, lim, NULL, NULL);
	if (ids_batch_stream_begin(&s, "db", c1, len, lim, NULL)) {
		free(c1);
		ids_batch_free(w);
		return -1;
	}
	reader r = {s, 0, 0, 0};
	pthread_t t;
	pthread_create(&t, NULL, read_all, &r);
	ids_batch_stream_run(s);
	pthread_join(t, NULL);
	CHECK(!r.torn);
	/* and a reader that comes after the parse ended (a writer busy elsewhere meanwhile) */
	reader late = {s, 0, 0, 0};
	read_all(&late);
	CHECK(!late.torn);
	CHECK_EQ_INT(late.seen, r.seen);
	/* a writer whose parser never got going parses every group itself */
	ids_batch *s2 = NULL;
	char *c3 = strdup(body);
	if (CHECK_EQ_INT(ids_batch_stream_begin(&s2, "db", c3, len, lim, NULL), 0)) {
		size_t n2 = 0;
		while (ids_batch_wait(s2, n2)) {
			CHECK(s2->m[n2].store && s2->m[n2].key);
			n2++;
		}
		ids_batch_stream_run(s2); /* returns at once: nothing is left */
		CHECK_EQ_INT(ids_batch_stream_end(s2, NULL), r.end_rc);
		CHECK_EQ_INT(n2, r.seen);
		for (size_t i = 0; i < n2 && i < r.seen; i++)
			CHECK(same_mutation(&s2->m[i], &s->m[i]));
	} else {
		free(c3);
	}
	ids_batch_free(s2);
	int out = r.end_rc ? 1 : 0;
	if (!r.end_rc) {
		/* accepted streamed: the whole parse accepts the same batch */
		if (!CHECK_EQ_INT(wrc, 0) || !CHECK_EQ_INT(s->n, w->n) || !CHECK_EQ_INT(r.seen, s->n)) {
			fprintf(stderr, "  body: %.200s\n", body);
		} else {
			CHECK_EQ_STR(s->client, w->client);
			CHECK_EQ_STR(s->user, w->user);
			CHECK_EQ_INT(s->origin, w->origin);
			for (size_t i = 0; i < s->n; i++)
				if (!CHECK(same_mutation(&s->m[i], &w->m[i])))
					fprintf(stderr, "  mutation %zu of %.200s\n", i, body);
		}
	} else if (!whole_ok_if_failed && !CHECK(wrc != 0)) {
		fprintf(stderr, "  streamed failed, whole parse accepted: %.200s\n", body);
	}
	ids_batch_free(s);
	ids_batch_free(w);
	return out;
}

/* {"client":"c","mutations":[ n mutations ]}, mutation `bad` (if < n) made invalid by `how` */
static char *gen(size_t n, size_t bad, int how, const char *head, const char *tail)
{
	ids_buf o = IDS_BUF_INIT;
	ids_buf_printf(&o, "{%s\"mutations\" : [", head);
	for (size_t i = 0; i < n; i++) {
		const char *store = i % 7 == 3 ? "other" : "orders";
		if (i == bad && how == 0)
			ids_buf_printf(&o, "%s{\"id\":%zu,\"store\":\"%s\",\"op\":\"upsert\",\"key\":\"k%zu\",\"value\":1}",
				       i ? "," : "", i + 1, store, i);
		else if (i == bad && how == 1)
			ids_buf_printf(&o, "%s{\"id\":%zu,\"store\":\"%s\",\"op\":\"put\",\"key\":\"k%zu\",\"value\":{\"a\":", i ? "," : "",
				       i + 1, store, i);
		else if (i % 5 == 4)
			ids_buf_printf(&o, "%s{\"id\":%zu,\"store\":\"%s\",\"op\":\"delete\",\"key\":[%zu,\"x\\u0041\"],\"hlc\":\"1700000000000-0001-c\"}",
				       i ? "," : "", i + 1, store, i);
		else
			ids_buf_printf(&o, "%s\n {\"id\":%zu,\"store\":\"%s\",\"op\":\"put\",\"key\":\"k%zu\",\"value\":{\"n\":%zu,\"s\":\"caf\xc3\xa9\"},\"base\":%zu}",
				       i ? "," : "", i + 1, store, i, i, i);
	}
	ids_buf_printf(&o, "]%s}", tail);
	ids_buf_putc(&o, 0);
	return o.data;
}

static void generated(void)
{
	ids_limits lim = IDS_LIMITS_INIT;
	const size_t ns[] = {0, 1, 15, 16, 17, 33, 500};
	for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
		char *body = gen(ns[k], SIZE_MAX, 0, "\"client\":\"c-1\",", "");
		CHECK_EQ_INT(both(body, &lim, 0), 0);
		free(body);
		/* one bad mutation, first, at a group's edge, last: nothing of the batch ends well */
		const size_t bads[] = {0, 15, 16, ns[k] ? ns[k] - 1 : 0};
		for (size_t i = 0; ns[k] && i < 4; i++)
			for (int how = 0; how < 2; how++) {
				if (bads[i] >= ns[k])
					continue;
				body = gen(ns[k], bads[i], how, "\"client\":\"c-1\",", "");
				CHECK_EQ_INT(both(body, &lim, 0), 1);
				free(body);
			}
	}
	/* over the count limit: the stream fails, the whole parse says why */
	lim.max_mutations = 16;
	char *body = gen(17, SIZE_MAX, 0, "\"client\":\"c\",", "");
	CHECK_EQ_INT(both(body, &lim, 0), 1);
	free(body);
	body = gen(16, SIZE_MAX, 0, "\"client\":\"c\",", "");
	CHECK_EQ_INT(both(body, &lim, 0), 0);
	free(body);
}

static void shapes(void)
{
	ids_limits lim = IDS_LIMITS_INIT;
	const char *OK = "{\"id\":1,\"store\":\"s\",\"op\":\"put\",\"key\":1,\"value\":1}";
	char b[512];
	/* not streamable: the whole parse decides */
	const char *whole[] = {
		"", "[]", "{}", "{\"mutations\":[]}", "{\"client\":\"c\"}", "{\"client\":\"c\",\"mutations\":{}}",
		"{\"client\":\"a b\",\"mutations\":[]}", "{\"client\":\"c\",\"origin\":\"x\",\"mutations\":[]}",
		"{\"client\":\"c\",\"user\":\"u\",\"mutations\":[]}", "{\"client\":\"c\" \"mutations\":[]}",
		"{\"client\":\"c\",\"mutations\":5,\"mutations\":[]}", NULL};
	for (int i = 0; whole[i]; i++)
		CHECK_EQ_INT(both(whole[i], &lim, 0), -1);
	/* streamed, and ends well */
	snprintf(b, sizeof b, " {\"client\":\"c\",\"x\":[1,{\"y\":null}],\"mut\\u0061tions\":[%s],\"z\":true,\"client\":\"d\"}\n ", OK);
	CHECK_EQ_INT(both(b, &lim, 0), 0);
	snprintf(b, sizeof b, "{\"client\":\"c\",\"origin\":\"server\",\"user\":\"\",\"mutations\":[%s],\"mutations\":[]}", OK);
	CHECK_EQ_INT(both(b, &lim, 0), 0);
	snprintf(b, sizeof b, "{\"client\":\"c\",\"origin\":\"client\",\"mutations\":[%s],\"origin\":\"server\"}", OK);
	CHECK_EQ_INT(both(b, &lim, 0), 0);
	CHECK_EQ_INT(both("{\"client\":\"c\",\"mutations\":[ ]}", &lim, 0), 0);
	/* streamed, and fails: bad JSON anywhere, data after the object */
	const char *bad[] = {"{\"client\":\"c\",\"mutations\":[%s", "{\"client\":\"c\",\"mutations\":[%s]",
			     "{\"client\":\"c\",\"mutations\":[%s]}x", "{\"client\":\"c\",\"mutations\":[%s,]}",
			     "{\"client\":\"c\",\"mutations\":[%s],}", "{\"client\":\"c\",\"mutations\":[%s],\"a\":tru}",
			     "{\"client\":\"c\",\"mutations\":[%s] \"a\":1}", NULL};
	for (int i = 0; bad[i]; i++) {
		snprintf(b, sizeof b, bad[i], OK);
		CHECK_EQ_INT(both(b, &lim, 0), 1);
	}
	/* an "origin" or "user" after the mutations would change the envelope: the stream gives
	 * way to the whole parse, which accepts it */
	snprintf(b, sizeof b, "{\"client\":\"c\",\"mutations\":[%s],\"origin\":\"server\"}", OK);
	CHECK_EQ_INT(both(b, &lim, 1), 1);
	snprintf(b, sizeof b, "{\"client\":\"c\",\"origin\":\"server\",\"mutations\":[%s],\"user\":\"u\"}", OK);
	CHECK_EQ_INT(both(b, &lim, 1), 1);
	/* nesting deeper than the whole parse allows, inside a value */
	ids_buf deep = IDS_BUF_INIT;
	ids_buf_puts(&deep, "{\"client\":\"c\",\"mutations\":[{\"id\":1,\"store\":\"s\",\"op\":\"put\",\"key\":1,\"value\":");
	for (int i = 0; i < 62; i++)
		ids_buf_putc(&deep, '[');
	for (int i = 0; i < 62; i++)
		ids_buf_putc(&deep, ']');
	ids_buf_puts(&deep, "}]}");
	ids_buf_putc(&deep, 0);
	CHECK_EQ_INT(both(deep.data, &lim, 0), 1);
	ids_buf_free(&deep);
}

int main(void)
{
	generated();
	shapes();
	return test_report("test_batch_stream");
}
