/* Encoder threads: while the caller's thread parses and shreds rows, finished pages are
 * dictionary-encoded, RLE-encoded and compressed by N worker threads. Each column is
 * bound to one worker (column index mod N), so a column's pages are encoded in order and
 * its dictionary and chunk are only ever touched by one thread; the output is byte for
 * byte what the single-threaded writer produces. The queue is capped in bytes, so memory
 * stays bounded when the workers fall behind. */
#include "pqw.h"
#include "parquet/codec/pq_codec.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define QUEUE_MAX_BYTES ((size_t)64 << 20)

typedef struct worker {
	pthread_t th;
	struct pqw_async *a;
	pqw_page *head, *tail;
	int busy, started;
	pqw_scratch sc;
} worker;

struct pqw_async {
	pq_writer *w;
	worker *wk;
	int n;
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	size_t queued_bytes;
	int stop;
	int rc;
	ids_error err;
};

static size_t page_bytes(const pqw_page *pg) { return pg->vals.len + pg->n_lv * 4 + 64; }

static void *run(void *arg)
{
	worker *k = arg;
	struct pqw_async *a = k->a;
	pthread_mutex_lock(&a->mu);
	for (;;) {
		while (!k->head && !a->stop)
			pthread_cond_wait(&a->work, &a->mu);
		if (!k->head)
			break;
		pqw_page *pg = k->head;
		k->head = pg->next;
		if (!k->head)
			k->tail = NULL;
		k->busy = 1;
		int failed = a->rc;
		pthread_mutex_unlock(&a->mu);

		size_t bytes = page_bytes(pg);
		ids_error err = IDS_ERROR_INIT;
		int rc = failed ? 0 : pqw_encode_page(a->w, pg->col, pg, &k->sc, &err);
		pqw_page_reset(pg);

		pthread_mutex_lock(&a->mu);
		if (rc && !a->rc) {
			a->rc = rc;
			a->err = err;
		}
		a->queued_bytes -= bytes;
		pqw_pool_put(a->w, pg->col, pg);
		k->busy = 0;
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
	if (!a->wk) {
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
	worker *k = &a->wk[c->index % (size_t)a->n];
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
	if (k->tail)
		k->tail->next = job;
	else
		k->head = job;
	k->tail = job;
	a->queued_bytes += page_bytes(job);
	pthread_cond_broadcast(&a->work);
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

int pqw_async_barrier(pq_writer *w, ids_error *err)
{
	struct pqw_async *a = w->async;
	if (!a)
		return 0;
	pthread_mutex_lock(&a->mu);
	for (;;) {
		int pending = 0;
		for (int i = 0; i < a->n; i++)
			pending |= a->wk[i].head != NULL || a->wk[i].busy;
		if (!pending)
			break;
		pthread_cond_wait(&a->done, &a->mu);
	}
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
	for (int i = 0; i < a->n; i++) {
		for (pqw_page *p = a->wk[i].head, *nx; p; p = nx) {
			nx = p->next;
			pqw_page_free(p);
			free(p);
		}
		pqw_scratch_free(&a->wk[i].sc);
	}
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->work);
	pthread_cond_destroy(&a->done);
	free(a->wk);
	free(a);
	w->async = NULL;
}
