/* A push body parsed while the writer applies it. With one client a push is a chain — receive,
 * parse, apply, commit, answer — and parsing was a fifth of its CPU on the thread before the
 * writer's: here the receiving thread checks the mutations 16 at a time and the writer applies
 * each group as soon as it is published, inside the push's savepoint (and parses the next group
 * itself when the receiving thread is not at it: on a loaded machine both often share one
 * core, and the writer then waited for a parser that was not running). The same checks as a
 * whole parse (batch_int.h) decide; anything they would refuse, or any body of another shape,
 * fails the stream and the caller parses the body whole, so the answers never differ. */
#include "batch_int.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* mutations per published group: small, so the writer waits only for the first */
#define GROUP 16

typedef struct chunk {
	struct chunk *next;
	ids_json json;   /* the tokens of its mutations: m->json points here */
	ids_buf arena;   /* their stores and keys; never grows once published */
} chunk;

struct ids_batch_stream {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	atomic_size_t ready;  /* mutations published: b->m[0..ready) are complete */
	int state;            /* under mu: 0 parsing, 1 every mutation valid, -1 failed */
	int parsing;          /* under mu: a thread holds the parse (the fields below) */
	int worker_out;       /* under mu: ids_batch_stream_run has returned */
	size_t count;         /* the published count; read by others once state != 0 */
	size_t ppos, parsed;  /* the parse's: where it is, mutations complete */
	int array_end;        /* the parse's: past the array's ']' */
	size_t last_ntok, last_arena; /* the parse's: the previous group's sizes */
	size_t cap;           /* b->m's size: the array never moves while the writer reads it */
	size_t len;           /* the body's */
	size_t max_tokens;    /* as ids_batch_parse's whole parse */
	size_t tokens;        /* used so far: the envelope's, the array's, each chunk's */
	int seen_origin, seen_user;
	ids_limits lim;
	hlc_clock *clock;
	chunk *chunks, **tail;
};

/* the whole parse's depth cap (batch.c) */
#define MAX_DEPTH 64

static size_t skip_ws(const char *s, size_t n, size_t p)
{
	while (p < n && (s[p] == ' ' || s[p] == '\t' || s[p] == '\n' || s[p] == '\r'))
		p++;
	return p;
}

/* Appends one "key": value pair of the top-level object to b->json; *key gets the key's token. */
static int read_pair(ids_batch *b, size_t *pos, size_t max_tokens, size_t *key, int value_too)
{
	ids_json *j = &b->json;
	size_t p = skip_ws(b->body, b->stream->len, *pos);
	if (p >= b->stream->len || b->body[p] != '"')
		return -1;
	*key = j->ntok;
	if (ids_json_parse_at(j, b->body, b->stream->len, &p, 1, max_tokens, MAX_DEPTH, NULL))
		return -1;
	p = skip_ws(b->body, b->stream->len, p);
	if (p >= b->stream->len || b->body[p] != ':')
		return -1;
	p++;
	if (value_too && ids_json_parse_at(j, b->body, b->stream->len, &p, 1, max_tokens, MAX_DEPTH, NULL))
		return -1;
	*pos = p;
	return 0;
}

int ids_batch_stream_begin(ids_batch **out, const char *db, char *body, size_t len, const ids_limits *lim,
			   hlc_clock *clock)
{
	*out = NULL;
	ids_batch *b;
	if (len > UINT32_MAX - 1 || ids_batch_alloc(&b, db, NULL))
		return 1;
	struct ids_batch_stream *st = calloc(1, sizeof *st);
	ids_jtok *tok = malloc(16 * sizeof *tok);
	if (!st || !tok) {
		free(st);
		free(tok);
		free(b);
		return 1;
	}
	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->cv, NULL);
	st->len = len;
	st->max_tokens = len / 2 + 16;
	st->lim = *lim;
	st->clock = clock;
	st->tail = &st->chunks;
	b->stream = st;
	b->body = body;
	ids_buf_init(&b->arena, 0);
	/* token 0 stands for the body's object, so the envelope reads as in a whole parse */
	ids_json *j = &b->json;
	j->tok = tok;
	j->cap = 16;
	j->ntok = 1;
	size_t p = skip_ws(body, len, 0);
	if (p >= len || body[p] != '{')
		goto no;
	tok[0] = (ids_jtok){.type = IDS_JOBJ, .start = (uint32_t)p};
	p++;
	for (uint32_t pairs = 0;; pairs++) {
		size_t k;
		/* the array's token counts too (the +1) */
		if (read_pair(b, &p, st->max_tokens - 1, &k, 0))
			goto no;
		if (ids_json_streq(j, k, "mutations")) {
			p = skip_ws(body, len, p);
			if (p >= len || body[p] != '[')
				goto no; /* the whole parse names what is wrong */
			j->tok[0].size = pairs;
			st->ppos = skip_ws(body, len, p + 1);
			if (st->ppos < len && body[st->ppos] == ']') {
				st->ppos++;
				st->array_end = 1;
			}
			break;
		}
		if (ids_json_parse_at(j, body, len, &p, 1, st->max_tokens - 1, MAX_DEPTH, NULL))
			goto no;
		p = skip_ws(body, len, p);
		if (p >= len || body[p] != ',')
			goto no; /* the end of the object: no mutations at all */
		p++;
	}
	st->tokens = j->ntok + 1;
	st->seen_origin = ids_json_get(j, 0, "origin") >= 0;
	st->seen_user = ids_json_get(j, 0, "user") >= 0;
	if (ids_batch_envelope(b, NULL))
		goto no;
	/* a mutation object takes over 40 bytes, so this never stops a valid push; the array is
	 * sized once because the writer reads it while it fills */
	st->cap = len / 16 + 1;
	if (st->cap > lim->max_mutations)
		st->cap = lim->max_mutations;
	b->m = malloc((st->cap ? st->cap : 1) * sizeof *b->m);
	if (!b->m)
		goto no;
	*out = b;
	return 0;
no:
	b->body = NULL; /* the caller's again */
	ids_batch_free(b);
	return 1;
}

/* One group of up to GROUP mutations into a new chunk; *end set at the array's ']'. */
static int parse_group(ids_batch *b, size_t *pos, size_t *count, int *end)
{
	struct ids_batch_stream *st = b->stream;
	chunk *c = calloc(1, sizeof *c);
	if (!c)
		return -1;
	ids_buf_init(&c->arena, 0);
	/* sized like the previous group (a group's arrays grown from empty cost ~700 Ir per
	 * mutation in reallocations) */
	size_t want = st->last_ntok + st->last_ntok / 4 + 64;
	c->json.tok = malloc(want * sizeof *c->json.tok);
	c->json.cap = c->json.tok ? want : 0;
	ids_buf_reserve(&c->arena, st->last_arena + st->last_arena / 4 + 256);
	*st->tail = c; /* freed with the stream, published or not */
	st->tail = &c->next;
	pending pd[GROUP];
	size_t first = *count, p = *pos;
	int k = 0, rc = 0;
	while (k < GROUP) {
		size_t t = c->json.ntok;
		if (*count >= st->cap || st->tokens >= st->max_tokens ||
		    ids_json_parse_at(&c->json, b->body, st->len, &p, 2, st->max_tokens - st->tokens, MAX_DEPTH, NULL))
			return -1;
		ids_mutation *m = &b->m[*count];
		memset(m, 0, sizeof *m);
		if ((rc = ids_batch_parse_mutation(b, &c->json, &c->arena, t, *count, &pd[k], k ? &pd[k - 1] : NULL,
						   &st->lim, st->clock, NULL)))
			return -1;
		(*count)++;
		k++;
		p = skip_ws(b->body, st->len, p);
		if (p < st->len && b->body[p] == ',') {
			p++;
			continue;
		}
		if (p < st->len && b->body[p] == ']') {
			p++;
			*end = 1;
			break;
		}
		return -1;
	}
	if (c->arena.failed)
		return -1;
	for (int i = 0; i < k; i++) {
		b->m[first + i].store = c->arena.data + pd[i].store_off;
		b->m[first + i].key = (const uint8_t *)c->arena.data + pd[i].key_off;
	}
	st->tokens += c->json.ntok;
	st->last_ntok = c->json.ntok;
	st->last_arena = c->arena.len;
	*pos = p;
	return 0;
}

/* After the array: the object's other members. An "origin" or "user" here would change what
 * the envelope said, so it fails the stream (the whole parse takes it). */
static int parse_rest(ids_batch *b, size_t p)
{
	struct ids_batch_stream *st = b->stream;
	ids_json *j = &b->json;
	for (;;) {
		p = skip_ws(b->body, st->len, p);
		if (p < st->len && b->body[p] == '}')
			break;
		if (p >= st->len || b->body[p] != ',')
			return -1;
		p++;
		size_t k, other = st->tokens - j->ntok;
		if (read_pair(b, &p, st->max_tokens - other, &k, 1))
			return -1;
		if ((!st->seen_origin && ids_json_streq(j, k, "origin")) || (!st->seen_user && ids_json_streq(j, k, "user")))
			return -1;
		st->tokens = other + j->ntok;
	}
	return skip_ws(b->body, st->len, p + 1) == st->len ? 0 : -1;
}

/* One piece of the parse, by the thread that holds it (st->parsing): the next group of
 * mutations, and after the last one what follows the array. Publishes it and gives the parse
 * back; returns with mu held. */
static void parse_next(ids_batch *b)
{
	struct ids_batch_stream *st = b->stream;
	size_t done = st->parsed;
	int state = 0;
	if (!st->array_end && parse_group(b, &st->ppos, &st->parsed, &st->array_end)) {
		state = -1;
		st->parsed = done; /* the failed group's mutations are not complete */
	}
	if (!state && st->array_end)
		state = parse_rest(b, st->ppos) ? -1 : 1;
	pthread_mutex_lock(&st->mu);
	atomic_store_explicit(&st->ready, st->parsed, memory_order_release);
	st->count = st->parsed;
	st->state = state;
	st->parsing = 0;
	pthread_cond_broadcast(&st->cv);
}

/* Under mu: takes the parse if nobody has it and it is not over, runs one piece; 1 if it did. */
static int help(ids_batch *b)
{
	struct ids_batch_stream *st = b->stream;
	if (st->state || st->parsing)
		return 0;
	st->parsing = 1;
	pthread_mutex_unlock(&st->mu);
	parse_next(b);
	return 1;
}

void ids_batch_stream_run(ids_batch *b)
{
	struct ids_batch_stream *st = b->stream;
	pthread_mutex_lock(&st->mu);
	while (!st->state)
		if (!help(b))
			pthread_cond_wait(&st->cv, &st->mu); /* the writer parses a group meanwhile */
	st->worker_out = 1;
	pthread_cond_broadcast(&st->cv);
	pthread_mutex_unlock(&st->mu);
}

int ids_batch_wait(ids_batch *b, size_t i)
{
	struct ids_batch_stream *st = b->stream;
	if (!st)
		return i < b->n;
	if (i < atomic_load_explicit(&st->ready, memory_order_acquire))
		return 1;
	/* not parsed yet: parse it here if the parser is not at it (it lost its core, say) */
	pthread_mutex_lock(&st->mu);
	while (i >= atomic_load_explicit(&st->ready, memory_order_relaxed) && !st->state)
		if (!help(b))
			pthread_cond_wait(&st->cv, &st->mu);
	int has = i < atomic_load_explicit(&st->ready, memory_order_relaxed);
	pthread_mutex_unlock(&st->mu);
	return has;
}

int ids_batch_stream_end(ids_batch *b, ids_error *err)
{
	struct ids_batch_stream *st = b->stream;
	if (!st)
		return 0;
	/* the batch may be freed once this returns: the parser's thread must be out of it too */
	pthread_mutex_lock(&st->mu);
	while (!st->state || !st->worker_out)
		if (!help(b))
			pthread_cond_wait(&st->cv, &st->mu);
	int state = st->state;
	size_t count = st->count;
	pthread_mutex_unlock(&st->mu);
	if (state < 0)
		return ids_fail(err, IDS_EINVAL, "push body: refused by its streamed check (parsed whole to say why)");
	b->n = count;
	return 0;
}

char *ids_batch_take_body(ids_batch *b, size_t *len)
{
	char *body = b->body;
	*len = b->stream ? b->stream->len : 0;
	b->body = NULL;
	b->n = 0;
	return body;
}

void ids_batch_stream_free(struct ids_batch_stream *st)
{
	if (!st)
		return;
	for (chunk *c = st->chunks, *next; c; c = next) {
		next = c->next;
		ids_json_free(&c->json);
		ids_buf_free(&c->arena);
		free(c);
	}
	pthread_cond_destroy(&st->cv);
	pthread_mutex_destroy(&st->mu);
	free(st);
}
