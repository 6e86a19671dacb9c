/* WAL checkpoints on their own thread and connection. SQLite's automatic checkpoint runs in
 * the connection that commits, right after the commit: on the push path it copied ~1000 pages
 * into the database and fsynced it while a client waited for its ack (8.6% of a single
 * client's push time in perf, and the push p99). The writer's WAL hook now only wakes this
 * thread, which runs PASSIVE checkpoints (they never block the writer or readers).
 * The WAL restarts from its beginning only after a checkpoint has copied all of it, which a
 * checkpoint running beside a busy writer never quite does (the WAL grew to 411 MB in an
 * 800k-mutation push). So past SQLite's own threshold (CKPT_INLINE) the writer checkpoints
 * itself, once the group's answers are queued on the workers (not in the hook, which runs
 * inside the COMMIT, before the answer), and the next group begins only after it: with no
 * writer beside it, that checkpoint copies everything, and the next commit starts the WAL over.
 * While the lake's flush holds a read snapshot nobody can copy past it, and the WAL grows by a
 * flush's worth (8-12k frames with one client pushing); when it let go, the writer's
 * checkpoint used to copy that backlog itself, 25-35 ms with the next push waiting (once per
 * lake flush). Now a backlog of more than CKPT_LEFT frames is the thread's, copied beside the
 * writer, and the writer's checkpoint copies the rest once the thread is within CKPT_LEFT of
 * the end (or the WAL passed its size limit, CKPT_HARD). Otherwise the thread is not woken
 * past CKPT_INLINE: its checkpoint would hold the lock the writer's needs (a PASSIVE one
 * returns at once when another runs), and under eight busy clients the WAL then restarted
 * a third as often and grew to 194 MB against 119.
 */
#include "ledger_int.h"

#include "idbsync/log.h"

#include <pthread.h>
#include <stdio.h>

#define CKPT_FRAMES 250    /* the background thread starts copying */
#define CKPT_INLINE 1000   /* SQLite's default autocheckpoint threshold */
#define CKPT_LEFT 4000     /* more frames left to copy than this are the thread's (a backlog) */
#define CKPT_HARD (LEDGER_WAL_LIMIT / 4096) /* past it the writer copies whatever is left */

/* ck_copied's packing: the WAL's generation (stats.wal_restarts) above, frames copied below */
static unsigned long long copied_pack(long long gen, int frames)
{
	return (unsigned long long)(uint32_t)gen << 32 | (uint32_t)frames;
}

/* The frames of the current WAL a checkpoint has copied, as the last one said (0 if it ran
 * on an earlier WAL); *gen gets the WAL's generation. */
static int copied_now(ledger *lg, long long *gen)
{
	unsigned long long c = atomic_load(&lg->ck_copied);
	*gen = atomic_load(&lg->stats.wal_restarts);
	return c >> 32 == (uint32_t)*gen ? (int)(uint32_t)c : 0;
}

/* One PASSIVE checkpoint on db; the frames it copied go to *count. */
static int checkpoint(ledger *lg, sqlite3 *db, atomic_llong *count)
{
	long long gen;
	int before = copied_now(lg, &gen), log = 0, done = 0;
	int rc = sqlite3_wal_checkpoint_v2(db, "main", SQLITE_CHECKPOINT_PASSIVE, &log, &done);
	if (rc == SQLITE_OK && done > before) {
		atomic_fetch_add(count, done - before);
		atomic_store(&lg->ck_copied, copied_pack(gen, done));
	}
	return rc;
}

static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	ledger *lg = arg;
	if (frames < atomic_load(&lg->wal_frames))
		atomic_fetch_add(&lg->stats.wal_restarts, 1);   /* the WAL started over at its beginning */
	atomic_store(&lg->wal_frames, frames);
	atomic_store(&lg->wal_commit_us, ledger_mono_us());
	long long gen;
	if (frames >= CKPT_INLINE && (frames - copied_now(lg, &gen) <= CKPT_LEFT || frames >= CKPT_HARD)) {
		/* the thread is not woken: its checkpoint would hold the lock the writer's needs */
		lg->ck_writer_due = 1; /* ledger_ckpt_writer, once the pushes are answered */
	} else if (frames >= CKPT_FRAMES) {
		pthread_mutex_lock(&lg->ckmu);
		lg->ck_due = 1;
		pthread_cond_signal(&lg->ckwake);
		pthread_mutex_unlock(&lg->ckmu);
	}
	return SQLITE_OK;
}

void ledger_ckpt_writer(ledger *lg)
{
	if (!lg->ck_writer_due)
		return;
	lg->ck_writer_due = 0;
	checkpoint(lg, lg->w, &lg->stats.ckpt_frames_writer);
}

static void *ckpt_main(void *arg)
{
	pthread_setname_np(pthread_self(), "idb-checkpoint");
	ledger *lg = arg;
	pthread_mutex_lock(&lg->ckmu);
	for (;;) {
		while (!lg->ck_due && !lg->ck_stop)
			pthread_cond_wait(&lg->ckwake, &lg->ckmu);
		if (lg->ck_stop)
			break;
		lg->ck_due = 0;
		pthread_mutex_unlock(&lg->ckmu);
		int rc = checkpoint(lg, lg->ck, &lg->stats.ckpt_frames_thread);
		if (rc != SQLITE_OK && rc != SQLITE_BUSY) /* e.g. disk full: the next commit wakes us again */
			ids_logf(IDS_LOG_WARN, "checkpoint_failed", "WAL checkpoint: %s", sqlite3_errmsg(lg->ck));
		/* space came back (the checkpoint could write): the reserve a full disk kept from the
		 * open (reserve.c), before pushes take the space again */
		if (rc == SQLITE_OK && atomic_load(&lg->reserve_missing) && !ledger_reserve_make(lg->dir, 1))
			atomic_store(&lg->reserve_missing, 0);
		pthread_mutex_lock(&lg->ckmu);
	}
	pthread_mutex_unlock(&lg->ckmu);
	return NULL;
}

int ledger_ckpt_start(ledger *lg, sqlite3 *ck, ids_error *err)
{
	lg->ck = ck;
	pthread_mutex_init(&lg->ckmu, NULL);
	pthread_cond_init(&lg->ckwake, NULL);
	/* a checkpoint copies frames through its own buffer: no page cache needed */
	int rc = ledger_exec(lg->ck, lg->o.durable ? "PRAGMA cache_size=-1024; PRAGMA synchronous=FULL;"
						: "PRAGMA cache_size=-1024; PRAGMA synchronous=OFF;", err);
	if (rc)
		return rc;
	if (pthread_create(&lg->ckpt, NULL, ckpt_main, lg))
		return ids_fail(err, IDS_EIO, "cannot start the checkpoint thread");
	lg->ckpt_started = 1;
	/* replaces the automatic checkpoint (sqlite3_wal_autocheckpoint is a wal hook too) */
	sqlite3_wal_hook(lg->w, wal_hook, lg);
	return 0;
}

void ledger_ckpt_stop(ledger *lg)
{
	if (lg->ckpt_started) {
		pthread_mutex_lock(&lg->ckmu);
		lg->ck_stop = 1;
		pthread_cond_signal(&lg->ckwake);
		pthread_mutex_unlock(&lg->ckmu);
		pthread_join(lg->ckpt, NULL);
		lg->ckpt_started = 0;
		sqlite3_wal_hook(lg->w, NULL, NULL);   /* the hook's mutex goes away below */
		pthread_cond_destroy(&lg->ckwake);
		pthread_mutex_destroy(&lg->ckmu);
	}
	sqlite3_close(lg->ck);
	lg->ck = NULL;
}
