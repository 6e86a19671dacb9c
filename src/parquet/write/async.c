/* Encoder threads: while the caller's threads parse and shred rows, finished pages are
 * dictionary-encoded, RLE-encoded and compressed by N worker threads. A column's pages
 * wait in the column's own queue, in order; a worker takes the first column on the ready
 * list that no other worker holds, encodes one page and puts the column back at the end of
 * the list if more pages wait. So a column's pages are encoded in order and its dictionary
 * and chunk are touched by one thread at a time — the output is byte for byte what the
 * single-threaded writer produces — while the work spreads over every worker whatever the
 * columns' sizes (binding columns to workers left one worker compressing the big columns
 * while the other idled: gzip got no faster with a second thread). The queue is capped in
 * bytes, so memory stays bounded when the workers fall behind. */
#include "pqw.h"
#include "parquet/codec/pq_codec.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define QUEUE_MAX_BYTES ((size_t)64 << 20)

typedef struct worker {
	pthread_t th;
	struct pqw_async *a;
	int started;
	pqw_scratch sc;
} worker;

typedef struct colq {
	pqw_page *head, *tail;   /* pages waiting, oldest first */
	int held;                /* a worker is encoding one of its pages */
	int listed;              /* on the ready list */
	size_t next;             /* ready list link (column index + 1; 0 ends it) */
} colq;

struct pqw_async {
	pq_writer *w;
	worker *wk;
	int n;
	colq *q;                 /* per column */
	size_t ready_head, ready_tail;   /* column index + 1; 0: empty */
	size_t pending;          /* pages queued or being encoded */
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	size_t queued_bytes;
	int stop;
	int rc;
	ids_error err;
};

static size_t page_bytes(const pqw_page *pg)
{
	return pg->vals.len + pqw_seg_bytes(pg) + pg->n_lv * 4 + 64;
}

/* Under a->mu: column i has pages and no holder, and is not yet listed. */
static void list_ready(struct pqw_async *a, size_t i)
{
	colq *q = &a->q[i];
	if (q->listed || q->held || !q->head)
		return;
	q->listed = 1;
	q->next = 0;
	if (a->ready_tail)
		a->q[a->ready_tail - 1].next = i + 1;
	else
		a->ready_head = i + 1;
	a->ready_tail = i + 1;
}

static void *run(void *arg)
{
	pthread_setname_np(pthread_self(), "idb-pq-encode");
	worker *k = arg;
	struct pqw_async *a = k->a;
	pthread_mutex_lock(&a->mu);
	for (;;) {
		while (!a->ready_head && !a->stop)
			pthread_cond_wait(&a->work, &a->mu);
		if (!a->ready_head)
			break;
		size_t i = a->ready_head - 1;
		colq *q = &a->q[i];
		a->ready_head = q->next;
		if (!a->ready_head)
			a->ready_tail = 0;
		q->listed = 0;
		q->held = 1;
		pqw_page *pg = q->head;
		q->head = pg->next;
		if (!q->head)
			q->tail = NULL;
		int failed = a->rc;
		pthread_mutex_unlock(&a->mu);

		size_t bytes = page_bytes(pg);
		ids_error err = IDS_ERROR_INIT;
		/* a job without levels (no staged page has none) finishes the chunk */
		int rc = failed ? 0
			 : pg->n_lv ? pqw_encode_page(a->w, pg->col, pg, &k->sc, &err)
				    : pqw_chunk_finish(a->w, pg->col, &k->sc, &err);
		pqw_page_reset(pg);

		pthread_mutex_lock(&a->mu);
		if (rc && !a->rc) {
			a->rc = rc;
			a->err = err;
		}
		a->queued_bytes -= bytes;
		a->pending--;
		pqw_pool_put(a->w, pg->col, pg);
		q->held = 0;
		list_ready(a, i);
		if (a->ready_head)
			pthread_cond_signal(&a->work);
		pthread_cond_broadcast(&a->done);
	}
	pthread_mutex_unlock(&a->mu);
	pq_codec_thread_cleanup();
	return NULL;
}

int pqw_async_new(pq_writer *w, int threads, ids_error *err)
{
	struct pqw_async *a = calloc(1, sizeof *a);
	if (!a)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	a->w = w;
	a->n = threads;
	a->wk = calloc((size_t)threads, sizeof *a->wk);
	a->q = calloc(w->ncols ? w->ncols : 1, sizeof *a->q);
	if (!a->wk || !a->q) {
		free(a->wk);
		free(a->q);
		free(a);
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	}
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->work, NULL);
	pthread_cond_init(&a->done, NULL);
	w->async = a;
	for (int i = 0; i < threads; i++) {
		a->wk[i].a = a;
		if (pthread_create(&a->wk[i].th, NULL, run, &a->wk[i])) {
			pqw_async_free(w);
			return ids_fail(err, IDS_EIO, "cannot start an encoder thread");
		}
		a->wk[i].started = 1;
	}
	return 0;
}

static int enqueue(pq_writer *w, pqw_col *c, pqw_page *job, ids_error *err)
{
	struct pqw_async *a = w->async;
	job->col = c;
	job->next = NULL;
	colq *q = &a->q[c->index];
	pthread_mutex_lock(&a->mu);
	while (a->queued_bytes > QUEUE_MAX_BYTES && !a->rc)
		pthread_cond_wait(&a->done, &a->mu);
	if (a->rc) {
		int rc = a->rc;
		if (err)
			*err = a->err;
		pthread_mutex_unlock(&a->mu);
		pqw_page_reset(job);
		pqw_pool_put(w, c, job);
		return rc;
	}
	if (q->tail)
		q->tail->next = job;
	else
		q->head = job;
	q->tail = job;
	a->queued_bytes += page_bytes(job);
	a->pending++;
	list_ready(a, c->index);
	pthread_cond_signal(&a->work);
	pthread_mutex_unlock(&a->mu);
	return 0;
}
int pqw_async_submit(pq_writer *w, pqw_col *c, ids_error *err)
{
	pqw_page *job = pqw_pool_get(w, c);
	if (!job)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	pqw_page fresh = *job;
	*job = c->cur;
	c->cur = fresh;
	return enqueue(w, c, job, err);
}

int pqw_async_dict_finish(pq_writer *w, pqw_col *c, ids_error *err)
{
	if (!w->async)
		return 0;
	pqw_page *job = pqw_pool_get(w, c);
	if (!job)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	pqw_page_reset(job);
	return enqueue(w, c, job, err);
}

int pqw_async_barrier(pq_writer *w, ids_error *err)
{
	struct pqw_async *a = w->async;
	if (!a)
		return 0;
	pthread_mutex_lock(&a->mu);
	while (a->pending)
		pthread_cond_wait(&a->done, &a->mu);
	int rc = a->rc;
	if (rc && err)
		*err = a->err;
	pthread_mutex_unlock(&a->mu);
	return rc;
}

int pqw_async_wait_col(pq_writer *w, const pqw_col *c, ids_error *err)
{
	struct pqw_async *a = w->async;
	if (!a)
		return 0;
	colq *q = &a->q[c->index];
	pthread_mutex_lock(&a->mu);
	while ((q->head || q->held) && !a->rc)
		pthread_cond_wait(&a->done, &a->mu);
	int rc = a->rc;
	if (rc && err)
		*err = a->err;
	pthread_mutex_unlock(&a->mu);
	return rc;
}

void pqw_async_free(pq_writer *w)
{
	struct pqw_async *a = w->async;
	if (!a)
		return;
	pthread_mutex_lock(&a->mu);
	a->stop = 1;
	a->rc = a->rc ? a->rc : IDS_EINVAL;   /* queued pages are dropped, not encoded */
	pthread_cond_broadcast(&a->work);
	pthread_mutex_unlock(&a->mu);
	for (int i = 0; i < a->n; i++)
		if (a->wk[i].started)
			pthread_join(a->wk[i].th, NULL);
	for (size_t i = 0; i < a->w->ncols; i++)
		for (pqw_page *p = a->q[i].head, *nx; p; p = nx) {
			nx = p->next;
			pqw_page_free(p);
			free(p);
		}
	for (int i = 0; i < a->n; i++)
		pqw_scratch_free(&a->wk[i].sc);
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->work);
	pthread_cond_destroy(&a->done);
	free(a->wk);
	free(a->q);
	free(a);
	w->async = NULL;
}
