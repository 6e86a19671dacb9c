/* WAL checkpoints on their own thread and connection. SQLite's automatic checkpoint runs in
 * the connection that commits, right after the commit: on the push path it copied ~1000 pages
 * into the database and fsynced it while a client waited for its ack (8.6% of a single
 * client's push time in perf, and the push p99). The writer's WAL hook now only wakes this
 * thread, which runs PASSIVE checkpoints (they never block the writer or readers).
 * The WAL restarts from its beginning only after a checkpoint has copied all of it, which a
 * checkpoint running beside a busy writer never quite does (the WAL grew to 411 MB in an
 * 800k-mutation push). So at SQLite's own threshold (CKPT_INLINE) the writer checkpoints once
 * itself, as SQLite's automatic checkpoint did: the background thread, woken from a quarter of
 * that on, has copied most frames by then, so the rest is little. The WAL stays as large as it
 * was with the automatic checkpoint; with a later inline threshold (4000 frames) it grew 4x,
 * and on a nearly full disk the growing WAL took the space a freed file gave back
 * (faults/disk_full, tmpfs). The writer runs that checkpoint once the group's answers are
 * queued on the workers, not in the hook: the hook runs inside the COMMIT, before the answer,
 * and while the lake's reads keep the WAL from restarting nearly every commit past CKPT_INLINE
 * frames made one (a page copy each, and at times a sync of the database file) with the client
 * waiting. The next group still begins after it, as before, so the WAL grows no further. */
#include "ledger_int.h"

#include "idbsync/log.h"

#include <pthread.h>
#include <stdio.h>

#define CKPT_FRAMES 250    /* the background thread starts copying */
#define CKPT_INLINE 1000   /* SQLite's default autocheckpoint threshold */

static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	ledger *lg = arg;
	if (frames < atomic_load(&lg->wal_frames))
		atomic_fetch_add(&lg->wal_restarts, 1);   /* the WAL started over at its beginning */
	atomic_store(&lg->wal_frames, frames);
	atomic_store(&lg->wal_commit_us, ledger_mono_us());
	if (frames >= CKPT_INLINE) {
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
	sqlite3_wal_checkpoint_v2(lg->w, "main", SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
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
		int log = 0, done = 0;
		int rc = sqlite3_wal_checkpoint_v2(lg->ck, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
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
