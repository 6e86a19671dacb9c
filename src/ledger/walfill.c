/* The WAL's disk blocks written ahead of the commits that use them. A commit whose frames
 * grow the WAL file syncs slower than one that rewrites blocks the file already has: the
 * sync also writes the file's new size and block map (an ext4 without a journal writes the
 * inode itself), p50 0.56 ms against 0.36 ms in a one-client push (docs/benchmarks.md). A
 * fresh WAL grows with nearly every commit until it reaches its working size (while the
 * lake's reads keep it from starting over, 22 MB in 300,000 mutations). So once a commit's
 * frames come within half a step of the file's end, a thread of this file's own appends a
 * step of zeros and syncs them, beside the writer: the commits after it land on blocks that
 * exist. A step is the file's size, from 1 MiB to 8 MiB: a small database (a test's, a
 * demo's) gets 1 MiB, a busy one's WAL doubles to its working size in a few fills.
 *
 * Zeros past the last frame are what SQLite expects to find there: a WAL is read only up to
 * the first frame whose salt and checksum do not match (recovery stops at a zero frame, as
 * at the stale frames a restarted WAL leaves behind), and SQLite itself never truncates it
 * below journal_size_limit (LEDGER_WAL_LIMIT), so nothing is filled beyond that. The thread
 * writes only past the end SQLite has written; a write of the writer's that would reach the
 * part being filled first stops the fill and joins its thread (ledger_walfill_write_begin:
 * at most one FILL_PIECE written meanwhile), so the two never write the same bytes. The writer's
 * connection is not the only one that writes the WAL (the Iceberg catalog, icecat.c, commits
 * through a connection of its own): every connection of the process opens the WAL through
 * walbuf.c's wrapper, and all of a WAL's handles share one walfill (a registry by path) whose
 * mutex every write and truncate of the WAL holds: a fill starts from the file's size read under
 * it (never a remembered one), and a write that would reach a running fill joins it first.
 * A fill that fails (a full disk) is cut back to where it started, and the file is not filled
 * again; no fill starts with less than FILL_FREE_MIN free on the filesystem, so a nearly full
 * disk keeps its room for the frames themselves. */
#include "ledger_int.h"

#include "idbsync/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define FILL_STEP_MIN ((sqlite3_int64)1 << 20)
#define FILL_STEP_MAX ((sqlite3_int64)8 << 20)
#define FILL_PIECE (256 << 10)
#define FILL_FREE_MIN ((unsigned long long)1 << 30)

struct walfill {
	char *path;                /* the WAL's */
	int refs;                  /* handles sharing it (under reg_mu) */
	struct walfill *next;      /* the registry */
	pthread_mutex_t mu;        /* the fields below but the thread's own */
	int off;                   /* no more fills for this file (one failed) */
	int running;               /* the thread was started and not joined */
	pthread_t th;
	atomic_int stop;           /* a writer's: end before the next piece, without the sync */
	atomic_int finished;       /* the thread's: done is set */
	sqlite3_int64 from, to;    /* the fill: [from, to) */
	sqlite3_int64 done;        /* the thread's: how far it wrote; -1: cut back to from */
	long long fail_after;      /* tests (IDBSYNC_TEST_WALFILL_FAIL): ENOSPC after this many bytes */
	long slow_us;              /* tests (IDBSYNC_TEST_WALFILL_SLOW): a pause before each piece */
};

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static walfill *reg;
static atomic_int reg_broken;   /* a handle went without its walfill (no memory): no more fills */

walfill *ledger_walfill_get(const char *path)
{
	if (getenv("IDBSYNC_NO_WALFILL"))
		return NULL; /* no filling (benchmarks compare): the WAL grows with its commits */
	pthread_mutex_lock(&reg_mu);
	walfill *w = reg;
	while (w && strcmp(w->path, path))
		w = w->next;
	if (w) {
		w->refs++;
	} else if ((w = calloc(1, sizeof *w)) && (w->path = strdup(path))) {
		w->refs = 1;
		pthread_mutex_init(&w->mu, NULL);
		const char *f = getenv("IDBSYNC_TEST_WALFILL_FAIL");
		w->fail_after = f ? atoll(f) : -1;
		const char *slow = getenv("IDBSYNC_TEST_WALFILL_SLOW");
		w->slow_us = slow ? atol(slow) : 0;
		w->next = reg;
		reg = w;
	} else {
		free(w);
		w = NULL;
		atomic_store(&reg_broken, 1); /* its writes would not join a fill: none may start */
	}
	pthread_mutex_unlock(&reg_mu);
	return w;
}

static void *fill_main(void *arg)
{
	walfill *w = arg;
	pthread_setname_np(pthread_self(), "idb-wal-fill");
	static const char zeros[FILL_PIECE];
	int fd = open(w->path, O_WRONLY | O_CLOEXEC), err = fd < 0 ? errno : 0;
	sqlite3_int64 at = w->from;
	while (!err && at < w->to && !atomic_load(&w->stop)) {
		size_t n = w->to - at < FILL_PIECE ? (size_t)(w->to - at) : FILL_PIECE;
		if (w->fail_after >= 0 && at - w->from >= w->fail_after) {
			err = ENOSPC;
			break;
		}
		if (w->slow_us)
			usleep((useconds_t)w->slow_us); /* tests: a fill that other writes surely meet */
		ssize_t k = pwrite(fd, zeros, n, at);
		if (k < 0 && errno != EINTR)
			err = errno;
		else if (k > 0)
			at += k;
	}
	/* the new size and block map durable now, not in the next commit's sync (a stopped fill
	 * leaves that to the commit: a writer is waiting) */
	if (!err && at > w->from && !atomic_load(&w->stop) && fdatasync(fd))
		err = errno;
	/* a failed fill is cut back (nobody wrote past from meanwhile: they join first); if even
	 * that fails the zeros stay, harmless past the frames */
	if (err && fd >= 0 && ftruncate(fd, w->from) == 0)
		at = -1;
	if (err)
		ids_logf(IDS_LOG_WARN, "wal_fill", "%s: cannot write the WAL's blocks ahead (%s): it grows with its commits",
			 w->path, strerror(err));
	if (fd >= 0)
		close(fd);
	w->done = err ? -1 : at;
	atomic_store(&w->finished, 1);
	return NULL;
}

/* Under mu: joins a started fill. */
static void fill_join(walfill *w)
{
	if (!w->running)
		return;
	atomic_store(&w->stop, 1);
	pthread_join(w->th, NULL);
	w->running = 0;
	if (w->done < 0)
		w->off = 1;
}

void ledger_walfill_write_begin(walfill *w, sqlite3_int64 end)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	if (w->running && end > w->from)
		fill_join(w); /* the fill stops at its next piece; what it wrote is kept */
}

void ledger_walfill_write_end(walfill *w)
{
	if (w)
		pthread_mutex_unlock(&w->mu);
}

/* The filesystem of path (the WAL itself: it exists, its sync just returned) has FILL_FREE_MIN free. */
static int room(const char *path)
{
	struct statvfs v;
	return !statvfs(path, &v) && (unsigned long long)v.f_bavail * v.f_frsize >= FILL_FREE_MIN;
}

void ledger_walfill_after_sync(walfill *w, sqlite3_file *real, sqlite3_int64 end)
{
	/* a new WAL's header is synced before the first commit's frames (synchronous=FULL): a fill
	 * from there would be stopped at once by those frames */
	if (!w || end <= 32 || atomic_load(&reg_broken))
		return;
	pthread_mutex_lock(&w->mu);
	if (w->running && atomic_load(&w->finished))
		fill_join(w); /* done meanwhile: the join does not wait */
	/* the size read under mu, which every write of the WAL holds (ledger_walfill_write_begin):
	 * a write is in it or starts after the fill and joins it first if it reaches it */
	sqlite3_int64 size = 0;
	if (!w->off && !w->running && real->pMethods->xFileSize(real, &size) == SQLITE_OK) {
		if (size < end)
			size = end;
		sqlite3_int64 step = size < FILL_STEP_MIN ? FILL_STEP_MIN : size > FILL_STEP_MAX ? FILL_STEP_MAX : size;
		if (size - end < step / 2 && size < LEDGER_WAL_LIMIT && room(w->path)) {
			w->from = size;
			w->to = size + step < LEDGER_WAL_LIMIT ? size + step : LEDGER_WAL_LIMIT;
			w->done = 0;
			atomic_store(&w->stop, 0);
			atomic_store(&w->finished, 0);
			w->running = !pthread_create(&w->th, NULL, fill_main, w);
		}
	}
	pthread_mutex_unlock(&w->mu);
}

void ledger_walfill_put(walfill *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&reg_mu);
	int last = --w->refs == 0;
	if (last) {
		walfill **p = &reg;
		while (*p != w)
			p = &(*p)->next;
		*p = w->next;
	}
	pthread_mutex_unlock(&reg_mu);
	if (!last)
		return;
	pthread_mutex_lock(&w->mu);
	fill_join(w);
	pthread_mutex_unlock(&w->mu);
	pthread_mutex_destroy(&w->mu);
	free(w->path);
	free(w);
}
