/* Where waiting requests wait without a thread: long-polls and SSE streams with nothing to
 * send are parked here (their connection suspended in libmicrohttpd) until their database
 * has a change past what they have seen (ledger_db_head), their deadline comes, their client
 * hangs up, or the server stops; then they go back to the request workers, behind fresh
 * requests (a wave of ten thousand woken clients must not delay a push's answer). Two threads serve every parked request:
 * the watcher follows the ledger's head (ledger_wait, so any backend's notion of "changed"
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

/* The parked requests of one database: a change elsewhere costs them one look-up, not a scan. */
typedef struct park_group {
	struct park_group *next;
	parked *list;
	int64_t seen;                /* the database's last change when its list was last scanned */
	char db[];                   /* "": requests that wake on any change */
} park_group;

#define GROUP_BUCKETS 256

struct parking {
	ledger *lg;
	pthread_mutex_t mu;          /* groups, heap, n, stopped */
	park_group *groups[GROUP_BUCKETS];
	parked **heap;               /* parked requests with a deadline, earliest first */
	size_t n_heap, cap_heap;
	int n;
	int stopped;
	atomic_llong head;           /* the ledger head the watcher saw last */
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

/* ---- the deadline heap (a binary min-heap on until_ms; each entry knows its slot) ---- */

static void heap_set(parking *p, size_t i, parked *e)
{
	p->heap[i] = e;
	e->slot = i;
}

static void heap_fix(parking *p, size_t i)
{
	parked *e = p->heap[i];
	while (i > 0 && p->heap[(i - 1) / 2]->until_ms > e->until_ms) {
		heap_set(p, i, p->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= p->n_heap)
			break;
		if (c + 1 < p->n_heap && p->heap[c + 1]->until_ms < p->heap[c]->until_ms)
			c++;
		if (p->heap[c]->until_ms >= e->until_ms)
			break;
		heap_set(p, i, p->heap[c]);
		i = c;
	}
	heap_set(p, i, e);
}

static int heap_push(parking *p, parked *e)
{
	if (p->n_heap == p->cap_heap) {
		size_t cap = p->cap_heap ? p->cap_heap * 2 : 1024;
		parked **h = realloc(p->heap, cap * sizeof *h);
		if (!h)
			return -1;
		p->heap = h;
		p->cap_heap = cap;
	}
	heap_set(p, p->n_heap++, e);
	heap_fix(p, p->n_heap - 1);
	return 0;
}

static void heap_remove(parking *p, parked *e)
{
	size_t i = e->slot;
	parked *last = p->heap[--p->n_heap];
	if (last != e) {
		heap_set(p, i, last);
		heap_fix(p, i);
	}
	e->slot = SIZE_MAX;
}

static park_group *group_of(parking *p, const char *db, int create)
{
	if (!db)
		db = "";
	unsigned h = 2166136261u; /* FNV-1a */
	for (const unsigned char *c = (const unsigned char *)db; *c; c++)
		h = (h ^ *c) * 16777619u;
	park_group **b = &p->groups[h % GROUP_BUCKETS];
	for (park_group *g = *b; g; g = g->next)
		if (!strcmp(g->db, db))
			return g;
	if (!create)
		return NULL;
	size_t n = strlen(db) + 1;
	park_group *g = calloc(1, sizeof *g + n);
	if (!g)
		return NULL;
	memcpy(g->db, db, n);
	g->next = *b;
	*b = g;
	return g;
}

/* The last change that concerns the group's requests. Called under mu: park mu, then ledger mu
 * (never the reverse). */
static int64_t group_head(parking *p, const park_group *g)
{
	return g->db[0] ? ledger_db_head(p->lg, g->db) : atomic_load(&p->head);
}

static void unlink_entry(parking *p, parked *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		e->group->list = e->next;
	if (e->next)
		e->next->prev = e->prev;
	if (e->slot != SIZE_MAX)
		heap_remove(p, e);
	e->on = 0;
	p->n--;
	/* before the connection is resumed: once it is, its socket may close and its number be
	 * reused by another connection */
	if (e->fd >= 0)
		epoll_ctl(p->ep, EPOLL_CTL_DEL, e->fd, NULL);
}

static void *watcher_main(void *arg)
{
	pthread_setname_np(pthread_self(), "idb-park-watch");
	parking *p = arg;
	int64_t h = ledger_head(p->lg);
	atomic_store(&p->head, h);
	while (!atomic_load(&p->stop_watch)) {
		ledger_wait(p->lg, h, 500);
		int64_t now = ledger_head(p->lg);
		if (now != h) {
			h = now;
			atomic_store(&p->head, h);
			/* the waker only if someone waits: with nothing parked (one client pushing) it
			 * woke on every commit, beside the push's answer, to find nobody. A request that
			 * parks after this look compares its cursor with this head itself (parking_add,
			 * under mu) */
			pthread_mutex_lock(&p->mu);
			int waiting = p->n > 0;
			pthread_mutex_unlock(&p->mu);
			if (waiting)
				poke(p);
		}
	}
	return NULL;
}

static void wake(parked **list, parked *e, int reason)
{
	e->reason = reason;
	e->next = *list;
	*list = e;
}

static void *waker_main(void *arg)
{
	pthread_setname_np(pthread_self(), "idb-park-wake");
	parking *p = arg;
	struct epoll_event ev[256];
	for (;;) {
		pthread_mutex_lock(&p->mu);
		int64_t due = p->n_heap ? p->heap[0]->until_ms : INT64_MAX, now = hlc_wall_ms();
		pthread_mutex_unlock(&p->mu);
		int timeout = due == INT64_MAX ? 1000 : due <= now ? 0 : due - now > 1000 ? 1000 : (int)(due - now);
		int n = epoll_wait(p->ep, ev, 256, timeout);
		if (n < 0 && errno != EINTR)
			n = 0;
		int moved = 0;
		parked *woken = NULL;
		pthread_mutex_lock(&p->mu);
		for (int i = 0; i < n; i++) {
			if (ev[i].data.ptr == p) {
				uint64_t v;
				ssize_t r = read(p->efd, &v, sizeof v);
				(void)r;
				moved = 1;
				continue;
			}
			parked *e = ev[i].data.ptr;
			if (!e->on)
				continue;
			unlink_entry(p, e);
			wake(&woken, e, PARK_GONE);
		}
		if (moved || p->stopped) {
			for (int b = 0; b < GROUP_BUCKETS; b++)
				for (park_group *g = p->groups[b]; g; g = g->next) {
					if (!g->list)
						continue;
					int64_t h = group_head(p, g);
					if (h == g->seen && !p->stopped)
						continue; /* nothing new for anyone here */
					g->seen = h;
					for (parked *e = g->list, *next; e; e = next) {
						next = e->next;
						if (p->stopped || h > e->after) {
							unlink_entry(p, e);
							wake(&woken, e, p->stopped ? PARK_STOP : PARK_HEAD);
						}
					}
				}
		}
		now = hlc_wall_ms();
		while (p->n_heap && p->heap[0]->until_ms <= now) {
			parked *e = p->heap[0];
			unlink_entry(p, e);
			wake(&woken, e, PARK_TIME);
		}
		int stopped = p->stopped;
		pthread_mutex_unlock(&p->mu);
		/* in batches per pool: one lock and one wake-up for a wave, not one per waiter; woken
		 * in the order they parked (the list is newest first) */
		while (woken) {
			workers *pool = woken->pool;
			task *chain = NULL;
			for (parked **pp = &woken; *pp;) {
				parked *e = *pp;
				if (e->pool != pool) {
					pp = &e->next;
					continue;
				}
				*pp = e->next;
				e->t.next = chain;
				chain = &e->t;
			}
			workers_submit_list(pool, chain, LANE_WOKEN);
		}
		if (stopped)
			break;
	}
	return NULL;
}

int parking_start(parking **out, ledger *lg, ids_error *err)
{
	*out = NULL;
	parking *p = calloc(1, sizeof *p);
	if (!p)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	p->lg = lg;
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
	atomic_store(&p->head, ledger_head(lg));
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
	park_group *g = p->stopped ? NULL : group_of(p, e->db, 1);
	int r = p->stopped ? PARK_STOP : !g || group_head(p, g) > e->after ? PARK_HEAD : 0;
	e->slot = SIZE_MAX;
	if (!r && e->until_ms && heap_push(p, e))
		r = PARK_TIME; /* out of memory for the heap: answer now rather than never */
	if (r) {
		pthread_mutex_unlock(&p->mu);
		e->reason = r;
		workers_submit(e->pool, &e->t, LANE_WOKEN);
		return;
	}
	e->group = g;
	e->prev = NULL;
	e->next = g->list;
	if (g->list)
		g->list->prev = e;
	g->list = e;
	e->on = 1;
	p->n++;
	if (e->fd >= 0) {
		struct epoll_event ev = {.events = EPOLLRDHUP, .data.ptr = e};
		epoll_ctl(p->ep, EPOLL_CTL_ADD, e->fd, &ev);
	}
	int earliest = e->slot == 0;
	pthread_mutex_unlock(&p->mu);
	if (earliest)
		poke(p); /* the waker may be sleeping past this deadline */
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
		ledger_wake_all(p->lg);
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
	for (int b = 0; b < GROUP_BUCKETS; b++)
		for (park_group *g = p->groups[b], *next; g; g = next) {
			next = g->next;
			free(g);
		}
	free(p->heap);
	pthread_mutex_destroy(&p->mu);
	free(p);
}
