/* The request workers: a fixed number of threads that run request handlers and their
 * continuations in arrival order within three lanes: pushes first (a push is short: parse,
 * then it waits in the group commit without a worker), then other new requests, then woken
 * waiters; one worker takes pushes only. So neither a wave of ten thousand woken long-polls
 * nor a burst of large pulls puts a push's answer at the back of the queue. libmicrohttpd's event threads only move bytes and hand
 * work here, so a slow handler never stalls the sockets, and a connection that waits (a
 * long-poll, an SSE stream, a push in a group commit) holds no thread at all (park.c). */
#include <pthread.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "server_int.h"

/* A worker takes up to this many woken waiters at once (each a short step: a shared page, a
 * park, a resume): a wave of thousands costs a lock per few, not per one. */
#define WOKEN_BATCH 16

typedef struct worker {
	struct workers *w;
	int first_lane_only;        /* kept for pushes: a burst of slow pulls never holds them all */
	pthread_t th;
} worker;

struct workers {
	pthread_mutex_t mu;
	pthread_cond_t cv;          /* the workers that take every lane wait here */
	pthread_cond_t cv_push;     /* the push-only worker waits here */
	int push_idle;              /* the push-only worker is waiting on cv_push */
	task *head[LANES], *tail[LANES]; /* lane 0 first (see workers_submit) */
	int stop;
	int nice;
	const char *name;
	int n;
	worker th[];
};

static void *run(void *arg)
{
	worker *k = arg;
	workers *w = k->w;
	pthread_setname_np(pthread_self(), w->name);
	if (w->nice) /* this thread only (Linux: niceness is per thread) */
		setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), w->nice);
	int lanes = k->first_lane_only ? 1 : LANES;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		int q = 0;
		while (q < lanes && !w->head[q])
			q++;
		if (q == lanes)
			q = LANES; /* nothing this worker may take */
		if (q == LANES && !w->stop) {
			if (k->first_lane_only) {
				w->push_idle = 1;
				pthread_cond_wait(&w->cv_push, &w->mu);
				w->push_idle = 0;
			} else {
				pthread_cond_wait(&w->cv, &w->mu);
			}
			continue;
		}
		if (q == LANES)
			break; /* stopping and nothing left */
		/* woken waiters a few at a time: a wave of thousands costs a lock per few, not per one */
		task *t = w->head[q], *last = t;
		for (int n = 1; q == LANE_WOKEN && n < WOKEN_BATCH && last->next; n++)
			last = last->next;
		w->head[q] = last->next;
		if (!w->head[q])
			w->tail[q] = NULL;
		last->next = NULL;
		pthread_mutex_unlock(&w->mu);
		while (t) {
			task *next = t->next;
			t->next = NULL;
			t->fn(t);
			t = next;
		}
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

int workers_start(workers **out, const char *name, int n, int keep_for_push, int nice, ids_error *err)
{
	*out = NULL;
	if (n < 1)
		n = 1;
	workers *w = calloc(1, sizeof *w + (size_t)n * sizeof(worker));
	if (!w)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	pthread_cond_init(&w->cv_push, NULL);
	w->nice = nice;
	w->name = name;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 1u << 20);
	for (; w->n < n; w->n++) {
		w->th[w->n] = (worker){w, keep_for_push && n > 1 && w->n == 0, 0};
		if (pthread_create(&w->th[w->n].th, &attr, run, &w->th[w->n]))
			break;
	}
	pthread_attr_destroy(&attr);
	if (w->n < n) {
		workers_stop(w);
		return ids_fail(err, IDS_EIO, "cannot start %d request worker threads", n);
	}
	*out = w;
	return 0;
}

void workers_submit(workers *w, task *t, int lane)
{
	t->next = NULL;
	workers_submit_list(w, t, lane);
}

void workers_submit_list(workers *w, task *first, int lane)
{
	if (!first)
		return;
	task *last = first;
	int n = 1;
	for (; last->next; last = last->next)
		n++;
	pthread_mutex_lock(&w->mu);
	if (w->tail[lane])
		w->tail[lane]->next = first;
	else
		w->head[lane] = first;
	w->tail[lane] = last;
	/* as many workers as there are batches to take (run): waking all of them for a wave of
	 * thousands only had them switch in to fight over this lock */
	int wake = lane == LANE_WOKEN ? (n + WOKEN_BATCH - 1) / WOKEN_BATCH : n;
	if (lane == LANE_PUSH && w->push_idle) {
		/* the push-only worker takes the first; waking another as well (as before) made two
		 * threads switch in for one push's step, twice per push, on the chain a client waits
		 * for, and one of them found nothing */
		pthread_cond_signal(&w->cv_push);
		w->push_idle = 0; /* a second push before it runs wakes another worker */
		wake--;
	}
	for (int i = 0; i < wake && i < w->n; i++)
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
	pthread_cond_broadcast(&w->cv_push);
	pthread_mutex_unlock(&w->mu);
	for (int i = 0; i < w->n; i++)
		pthread_join(w->th[i].th, NULL);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	pthread_cond_destroy(&w->cv_push);
	free(w);
}
