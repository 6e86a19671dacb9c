/* Where waiting requests wait without a thread: long-polls and SSE streams with nothing to
 * send are parked here (their connection suspended in libmicrohttpd) until the store's head
 * passes what they have seen, their deadline comes, their client hangs up, or the server
 * stops; then they go back to the request workers. Two threads serve every parked request:
 * the watcher follows the store's head (store_wait, so any backend's notion of "changed"
 * works) and the waker sleeps in epoll on the parked sockets (EPOLLRDHUP: the client left)
 * and an eventfd (the head moved, an earlier deadline, stop). */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "server_int.h"

struct parking {
	store *st;
	pthread_mutex_t mu;          /* the list, next_due, stopped */
	parked *list;
	int n;
	int64_t next_due;            /* no parked deadline is earlier (INT64_MAX: none) */
	int stopped;
	atomic_llong head;           /* the store head the watcher saw last */
	atomic_int stop_watch;
	int ep, efd;
	pthread_t waker, watcher;
	int waker_on, watcher_on;
};

static void poke(parking *p)
{
	uint64_t one = 1;
	ssize_t w = write(p->efd, &one, sizeof one);
	(void)w; /* a full counter is already a pending wake-up */
}

static void unlink_entry(parking *p, parked *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		p->list = e->next;
	if (e->next)
		e->next->prev = e->prev;
	e->on = 0;
	p->n--;
	/* before the connection is resumed: once it is, its socket may close and its number be
	 * reused by another connection */
	if (e->fd >= 0)
		epoll_ctl(p->ep, EPOLL_CTL_DEL, e->fd, NULL);
}

static void *watcher_main(void *arg)
{
	parking *p = arg;
	int64_t h = store_head(p->st);
	atomic_store(&p->head, h);
	while (!atomic_load(&p->stop_watch)) {
		store_wait(p->st, h, 500);
		int64_t now = store_head(p->st);
		if (now != h) {
			h = now;
			atomic_store(&p->head, h);
			poke(p);
		}
	}
	return NULL;
}

static void *waker_main(void *arg)
{
	parking *p = arg;
	struct epoll_event ev[256];
	for (;;) {
		pthread_mutex_lock(&p->mu);
		int64_t due = p->next_due, now = hlc_wall_ms();
		pthread_mutex_unlock(&p->mu);
		int timeout = due == INT64_MAX ? 1000 : due <= now ? 0 : due - now > 1000 ? 1000 : (int)(due - now);
		int n = epoll_wait(p->ep, ev, 256, timeout);
		if (n < 0 && errno != EINTR)
			n = 0;
		int scan = 0;
		parked *wake = NULL;
		pthread_mutex_lock(&p->mu);
		for (int i = 0; i < n; i++) {
			if (ev[i].data.ptr == p) {
				uint64_t v;
				ssize_t r = read(p->efd, &v, sizeof v);
				(void)r;
				scan = 1;
				continue;
			}
			parked *e = ev[i].data.ptr;
			if (!e->on)
				continue;
			unlink_entry(p, e);
			e->reason = PARK_GONE;
			e->next = wake;
			wake = e;
		}
		now = hlc_wall_ms();
		if (scan || now >= p->next_due || p->stopped) {
			int64_t head = atomic_load(&p->head), next_due = INT64_MAX;
			for (parked *e = p->list, *next; e; e = next) {
				next = e->next;
				int r = p->stopped ? PARK_STOP : head > e->after ? PARK_HEAD
					: e->until_ms && now >= e->until_ms ? PARK_TIME : 0;
				if (!r) {
					if (e->until_ms && e->until_ms < next_due)
						next_due = e->until_ms;
					continue;
				}
				unlink_entry(p, e);
				e->reason = r;
				e->next = wake;
				wake = e;
			}
			p->next_due = next_due;
		}
		int stopped = p->stopped;
		pthread_mutex_unlock(&p->mu);
		for (parked *e = wake, *next; e; e = next) {
			next = e->next;
			workers_submit(e->pool, &e->t);
		}
		if (stopped)
			break;
	}
	return NULL;
}

int parking_start(parking **out, store *st, ids_error *err)
{
	*out = NULL;
	parking *p = calloc(1, sizeof *p);
	if (!p)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	p->st = st;
	p->next_due = INT64_MAX;
	p->ep = p->efd = -1;
	pthread_mutex_init(&p->mu, NULL);
	p->ep = epoll_create1(EPOLL_CLOEXEC);
	p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = p};
	if (p->ep < 0 || p->efd < 0 || epoll_ctl(p->ep, EPOLL_CTL_ADD, p->efd, &ev)) {
		int e = errno;
		parking_free(p);
		return ids_fail(err, IDS_EIO, "cannot set up the wait queue for long-polls: %s", strerror(e));
	}
	atomic_store(&p->head, store_head(st));
	p->watcher_on = !pthread_create(&p->watcher, NULL, watcher_main, p);
	p->waker_on = p->watcher_on && !pthread_create(&p->waker, NULL, waker_main, p);
	if (!p->waker_on) {
		parking_stop(p);
		parking_free(p);
		return ids_fail(err, IDS_EIO, "cannot start the wait queue's threads");
	}
	*out = p;
	return 0;
}

void parking_add(parking *p, parked *e)
{
	pthread_mutex_lock(&p->mu);
	int r = p->stopped ? PARK_STOP : atomic_load(&p->head) > e->after ? PARK_HEAD : 0;
	if (r) {
		pthread_mutex_unlock(&p->mu);
		e->reason = r;
		workers_submit(e->pool, &e->t);
		return;
	}
	e->prev = NULL;
	e->next = p->list;
	if (p->list)
		p->list->prev = e;
	p->list = e;
	e->on = 1;
	p->n++;
	if (e->fd >= 0) {
		struct epoll_event ev = {.events = EPOLLRDHUP, .data.ptr = e};
		epoll_ctl(p->ep, EPOLL_CTL_ADD, e->fd, &ev);
	}
	int earlier = e->until_ms && e->until_ms < p->next_due;
	if (earlier)
		p->next_due = e->until_ms;
	pthread_mutex_unlock(&p->mu);
	if (earlier)
		poke(p);
}

int parking_count(parking *p)
{
	pthread_mutex_lock(&p->mu);
	int n = p->n;
	pthread_mutex_unlock(&p->mu);
	return n;
}

void parking_stop(parking *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopped = 1;
	pthread_mutex_unlock(&p->mu);
	atomic_store(&p->stop_watch, 1);
	if (p->watcher_on) {
		store_wake_all(p->st);
		pthread_join(p->watcher, NULL);
	}
	if (p->waker_on) {
		poke(p);
		pthread_join(p->waker, NULL);
	}
}

void parking_free(parking *p)
{
	if (!p)
		return;
	if (p->ep >= 0)
		close(p->ep);
	if (p->efd >= 0)
		close(p->efd);
	pthread_mutex_destroy(&p->mu);
	free(p);
}
