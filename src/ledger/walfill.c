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
 * part being filled first stops the fill and joins its thread (ledger_walfill_before_write:
 * at most one FILL_PIECE written meanwhile), so the two never write the same bytes. A fill that fails (a full disk) is cut back to where it
 * started, and the file is not filled again; no fill starts with less than FILL_FREE_MIN
 * free on the filesystem, so a nearly full disk keeps its room for the frames themselves. */
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
	const char *path;          /* the WAL's (SQLite keeps the string while the file is open) */
	sqlite3_int64 size;        /* the file's size as last known: frames or zeros up to here */
	int off;                   /* no more fills for this file (one failed) */
	int running;               /* the thread was started and not joined */
	pthread_t th;
	atomic_int stop;           /* the writer's: end before the next piece, without the sync */
	atomic_int finished;       /* the thread's: done is set */
	sqlite3_int64 from, to;    /* the fill: [from, to) */
	sqlite3_int64 done;        /* the new size; -1: cut back to from; -2: size unknown */
	long long fail_after;      /* tests (IDBSYNC_TEST_WALFILL_FAIL): ENOSPC after this many bytes */
};

walfill *ledger_walfill_new(const char *path)
{
	walfill *w = calloc(1, sizeof *w);
	if (!w)
		return NULL; /* no filling: the WAL grows with its commits, as SQLite's does */
	w->path = path;
	w->size = -1;
	const char *f = getenv("IDBSYNC_TEST_WALFILL_FAIL");
	w->fail_after = f ? atoll(f) : -1;
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
		ssize_t k = pwrite(fd, zeros, n, at);
		if (k < 0 && errno != EINTR)
			err = errno;
		else if (k > 0)
			at += k;
	}
	/* the new size and block map durable now, not in the next commit's sync (a stopped fill
	 * leaves that to the commit: the writer is waiting) */
	if (!err && at > w->from && !atomic_load(&w->stop) && fdatasync(fd))
		err = errno;
	if (err && fd >= 0 && ftruncate(fd, w->from) == 0)
		at = -1;
	else if (err)
		at = -2; /* the zeros stay (harmless, past the frames); the size is read again */
	if (err)
		ids_logf(IDS_LOG_WARN, "wal_fill", "%s: cannot write the WAL's blocks ahead (%s): it grows with its commits",
			 w->path, strerror(err));
	if (fd >= 0)
		close(fd);
	w->done = at;
	atomic_store(&w->finished, 1);
	return NULL;
}

/* Joins a started fill and takes its result. */
static void fill_join(walfill *w)
{
	if (!w->running)
		return;
	atomic_store(&w->stop, 1);
	pthread_join(w->th, NULL);
	w->running = 0;
	if (w->done < 0)
		w->off = 1;
	w->size = w->done >= 0 ? w->done : w->done == -1 ? w->from : -1;
}

void ledger_walfill_before_write(walfill *w, sqlite3_int64 end)
{
	if (w && w->running && end > w->from)
		fill_join(w); /* the fill stops at its next piece; what it wrote is kept */
}

void ledger_walfill_after_sync(walfill *w, sqlite3_file *real, sqlite3_int64 end)
{
	/* a new WAL's header is synced before the first commit's frames (synchronous=FULL): a fill
	 * from there would be stopped at once by those frames */
	if (!w || w->off || end <= 32)
		return;
	if (w->running) {
		if (!atomic_load(&w->finished))
			return;
		fill_join(w); /* done meanwhile: the join does not wait */
	}
	if (w->size < 0 && real->pMethods->xFileSize(real, &w->size) != SQLITE_OK) {
		w->size = -1;
		return;
	}
	if (end > w->size)
		w->size = end;
	sqlite3_int64 step = w->size < FILL_STEP_MIN ? FILL_STEP_MIN : w->size > FILL_STEP_MAX ? FILL_STEP_MAX : w->size;
	if (w->size - end >= step / 2 || w->size >= LEDGER_WAL_LIMIT)
		return;
	struct statvfs v;
	char dir[IDS_PATH_MAX + 1];
	const char *slash = strrchr(w->path, '/');
	size_t dl = slash ? (size_t)(slash - w->path) : 1;
	if (dl >= sizeof dir)
		return;
	memcpy(dir, slash ? w->path : ".", dl);
	dir[dl] = 0;
	if (statvfs(dl ? dir : "/", &v) || (unsigned long long)v.f_bavail * v.f_frsize < FILL_FREE_MIN)
		return;
	w->from = w->size;
	w->to = w->size + step < LEDGER_WAL_LIMIT ? w->size + step : LEDGER_WAL_LIMIT;
	atomic_store(&w->stop, 0);
	atomic_store(&w->finished, 0);
	w->running = !pthread_create(&w->th, NULL, fill_main, w);
}

void ledger_walfill_forget(walfill *w)
{
	if (!w)
		return;
	fill_join(w);
	w->size = -1;
}

void ledger_walfill_free(walfill *w)
{
	if (!w)
		return;
	fill_join(w);
	free(w);
}
