/* One page for many waiters. When a commit wakes ten thousand long-polls and SSE streams, most
 * of them sit at the same cursor of the same database and user scope, so their answer is the
 * same bytes: the first caller builds it (one store read, one JSON encode) and every caller with
 * the same key and no newer head shares it, by reference, until the response is sent. Measured
 * (docs/benchmarks.md, "Many live clients"): per-client builds were most of the fan-out's CPU. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "server_int.h"

/* A few keys are live at once (one per cursor that waiters sit at, per scope); past this the
 * oldest finished entry goes. Pages past FANOUT_KEEP_BYTES in all are answered but not kept. */
#define FANOUT_ENTRIES 64
#define FANOUT_KEEP_BYTES (64u << 20)

typedef struct entry {
	struct entry *next;
	page_key k;                 /* db and user point into names */
	int64_t head;               /* the ledger head read before the build: serves callers that saw no later one */
	page *pg;                   /* NULL while building */
	int failed;                 /* the build failed: waiters build their own */
	int waiting;                /* callers sleeping on built for this entry */
	char names[];
} entry;

struct fanout {
	pthread_mutex_t mu;
	pthread_cond_t built;
	entry *list;                /* newest first */
	int n;
	size_t bytes;               /* of the kept pages */
	atomic_llong builds, shared;
};

page *page_ref(page *p)
{
	if (p)
		atomic_fetch_add(&p->refs, 1);
	return p;
}

void page_unref(page *p)
{
	if (p && atomic_fetch_sub(&p->refs, 1) == 1)
		free(p);
}

int fanout_new(fanout **out)
{
	*out = calloc(1, sizeof **out);
	if (!*out)
		return -1;
	pthread_mutex_init(&(*out)->mu, NULL);
	pthread_cond_init(&(*out)->built, NULL);
	return 0;
}

static void entry_free(fanout *f, entry *e)
{
	if (e->pg)
		f->bytes -= e->pg->len;
	page_unref(e->pg);
	free(e);
}

void fanout_free(fanout *f)
{
	if (!f)
		return;
	for (entry *e = f->list, *next; e; e = next) {
		next = e->next;
		entry_free(f, e);
	}
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->built);
	free(f);
}

void fanout_counts(fanout *f, long long *builds, long long *shared)
{
	*builds = atomic_load(&f->builds);
	*shared = atomic_load(&f->shared);
}

static int same_key(const page_key *a, const page_key *b)
{
	return a->kind == b->kind && a->gen == b->gen && a->since == b->since && a->limit == b->limit && a->max_bytes == b->max_bytes &&
	       !strcmp(a->db, b->db) && !strcmp(a->user, b->user);
}

/* Drops finished entries no caller can use again (the head moved past them), failed ones, and
 * past the entry limit the oldest finished one. Under mu. */
static void prune(fanout *f, int64_t head)
{
	entry **pp = &f->list, *oldest = NULL, **oldest_pp = NULL;
	while (*pp) {
		entry *e = *pp;
		int done = e->pg || e->failed;
		if (done && !e->waiting && (e->head < head || e->failed)) {
			*pp = e->next;
			f->n--;
			entry_free(f, e);
			continue;
		}
		if (done && !e->waiting) {
			oldest = e;
			oldest_pp = pp;
		}
		pp = &e->next;
	}
	if (f->n >= FANOUT_ENTRIES && oldest) {
		*oldest_pp = oldest->next;
		f->n--;
		entry_free(f, oldest);
	}
}

int page_build(page **out, int64_t head, page_build_fn build, void *ctx, ids_error *err)
{
	*out = NULL;
	ids_buf body = IDS_BUF_INIT;
	page_meta m = {0};
	m.head = head;
	int rc = build(ctx, &body, &m, err);
	page *p = NULL;
	if (!rc && !(p = malloc(sizeof *p + body.len + 1)))
		rc = ids_fail(err, IDS_ENOMEM, "out of memory");
	if (p) {
		atomic_init(&p->refs, 1);
		p->m = m;
		p->len = body.len;
		memcpy(p->data, body.data ? body.data : "", body.len);
		p->data[body.len] = 0;
	}
	ids_buf_free(&body);
	*out = p;
	return rc;
}

int fanout_page(fanout *f, const page_key *k, int64_t head, page_build_fn build, void *ctx, page **out,
		ids_error *err)
{
	*out = NULL;
	pthread_mutex_lock(&f->mu);
	for (;;) {
		entry *e = f->list;
		for (; e; e = e->next)
			if (!e->failed && e->head >= head && same_key(&e->k, k))
				break;
		if (!e)
			break;
		if (e->pg) {
			*out = page_ref(e->pg);
			pthread_mutex_unlock(&f->mu);
			atomic_fetch_add(&f->shared, 1);
			return 0;
		}
		/* another worker is building it: a few milliseconds, against a build of our own */
		e->waiting++;
		while (!e->pg && !e->failed)
			pthread_cond_wait(&f->built, &f->mu);
		e->waiting--;
		if (e->failed)
			break; /* build our own: the error is the caller's to answer */
	}
	prune(f, head);
	size_t dl = strlen(k->db) + 1, ul = strlen(k->user) + 1;
	entry *e = malloc(sizeof *e + dl + ul);
	if (e) {
		*e = (entry){.k = *k, .head = head};
		memcpy(e->names, k->db, dl);
		memcpy(e->names + dl, k->user, ul);
		e->k.db = e->names;
		e->k.user = e->names + dl;
		e->next = f->list;
		f->list = e;
		f->n++;
	}
	pthread_mutex_unlock(&f->mu);

	page *p;
	int rc = page_build(&p, head, build, ctx, err);
	atomic_fetch_add(&f->builds, 1);
	if (e) {
		pthread_mutex_lock(&f->mu);
		if (p && (f->bytes + p->len <= FANOUT_KEEP_BYTES || e->waiting)) {
			e->pg = page_ref(p);
			f->bytes += p->len;
		} else {
			e->failed = 1; /* not kept: pruned, and anyone waiting builds (or finds) another */
		}
		pthread_cond_broadcast(&f->built);
		pthread_mutex_unlock(&f->mu);
	}
	*out = p;
	return rc;
}
