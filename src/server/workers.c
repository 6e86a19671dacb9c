/* The request workers: a fixed number of threads that run request handlers and their
 * continuations in arrival order (woken waiters after everything else). libmicrohttpd's event threads only move bytes and hand
 * work here, so a slow handler never stalls the sockets, and a connection that waits (a
 * long-poll, an SSE stream, a push in a group commit) holds no thread at all (park.c). */
#include <pthread.h>
#include <stdlib.h>

#include "server_int.h"

struct workers {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	task *head[2], *tail[2];    /* [0] first: new requests and finished pushes; [1] woken waiters */
	int stop;
	int n;
	pthread_t th[];
};

static void *run(void *arg)
{
	workers *w = arg;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->head[0] && !w->head[1] && !w->stop)
			pthread_cond_wait(&w->cv, &w->mu);
		int q = w->head[0] ? 0 : 1;
		task *t = w->head[q];
		if (!t)
			break; /* stopping and nothing left */
		w->head[q] = t->next;
		if (!w->head[q])
			w->tail[q] = NULL;
		pthread_mutex_unlock(&w->mu);
		t->next = NULL;
		t->fn(t);
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

int workers_start(workers **out, int n, ids_error *err)
{
	*out = NULL;
	if (n < 1)
		n = 1;
	workers *w = calloc(1, sizeof *w + (size_t)n * sizeof(pthread_t));
	if (!w)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 1u << 20);
	for (; w->n < n; w->n++)
		if (pthread_create(&w->th[w->n], &attr, run, w))
			break;
	pthread_attr_destroy(&attr);
	if (w->n < n) {
		workers_stop(w);
		return ids_fail(err, IDS_EIO, "cannot start %d request worker threads", n);
	}
	*out = w;
	return 0;
}

void workers_submit(workers *w, task *t, int later)
{
	t->next = NULL;
	pthread_mutex_lock(&w->mu);
	if (w->tail[later])
		w->tail[later]->next = t;
	else
		w->head[later] = t;
	w->tail[later] = t;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

void workers_stop(workers *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	for (int i = 0; i < w->n; i++)
		pthread_join(w->th[i], NULL);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w);
}
