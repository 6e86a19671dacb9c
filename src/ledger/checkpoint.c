/* WAL checkpoints on their own thread and connection. SQLite's automatic checkpoint runs in
 * the connection that commits, right after the commit: on the push path it copied ~1000 pages
 * into the database and fsynced it while a client waited for its ack (8.6% of a single
 * client's push time in perf, and the push p99). The writer's WAL hook now only wakes this
 * thread, which runs PASSIVE checkpoints (they never block the writer or readers).
 * The WAL restarts from its beginning only after a checkpoint has copied all of it, which a
 * checkpoint running beside a busy writer never quite does (the WAL grew to 411 MB in an
 * 800k-mutation push). So at SQLite's own threshold (CKPT_INLINE) the writer checkpoints once
 * itself, in the hook, as before: the background thread, woken from a quarter of that on, has
 * copied most frames by then, so the rest is little. The WAL stays as large as it was with the
 * automatic checkpoint; with a later inline threshold (4000 frames) it grew 4x, and on a nearly
 * full disk the growing WAL took the space a freed file gave back (faults/disk_full, tmpfs). */
#include "ledger_int.h"

#include "idbsync/log.h"

#include <stdio.h>

#define CKPT_FRAMES 250    /* the background thread starts copying */
#define CKPT_INLINE 1000   /* SQLite's default autocheckpoint threshold */

static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	ledger *s = arg;
	if (frames >= CKPT_INLINE) {
		sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	} else if (frames >= CKPT_FRAMES) {
		pthread_mutex_lock(&s->ckmu);
		s->ck_due = 1;
		pthread_cond_signal(&s->ckwake);
		pthread_mutex_unlock(&s->ckmu);
	}
	return SQLITE_OK;
}

static void *ckpt_main(void *arg)
{
	ledger *s = arg;
	pthread_mutex_lock(&s->ckmu);
	for (;;) {
		while (!s->ck_due && !s->ck_stop)
			pthread_cond_wait(&s->ckwake, &s->ckmu);
		if (s->ck_stop)
			break;
		s->ck_due = 0;
		pthread_mutex_unlock(&s->ckmu);
		int log = 0, done = 0;
		int rc = sqlite3_wal_checkpoint_v2(s->ck, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
		if (rc != SQLITE_OK && rc != SQLITE_BUSY) /* e.g. disk full: the next commit wakes us again */
			ids_logf(IDS_LOG_WARN, "checkpoint_failed", "WAL checkpoint: %s", sqlite3_errmsg(s->ck));
		pthread_mutex_lock(&s->ckmu);
	}
	pthread_mutex_unlock(&s->ckmu);
	return NULL;
}

int ledger_ckpt_start(ledger *s, sqlite3 *ck, ids_error *err)
{
	s->ck = ck;
	pthread_mutex_init(&s->ckmu, NULL);
	pthread_cond_init(&s->ckwake, NULL);
	/* a checkpoint copies frames through its own buffer: no page cache needed */
	int rc = ledger_exec(s->ck, s->o.durable ? "PRAGMA cache_size=-1024; PRAGMA synchronous=FULL;"
						: "PRAGMA cache_size=-1024; PRAGMA synchronous=OFF;", err);
	if (rc)
		return rc;
	if (pthread_create(&s->ckpt, NULL, ckpt_main, s))
		return ids_fail(err, IDS_EIO, "cannot start the checkpoint thread");
	s->ckpt_started = 1;
	/* replaces the automatic checkpoint (sqlite3_wal_autocheckpoint is a wal hook too) */
	sqlite3_wal_hook(s->w, wal_hook, s);
	return 0;
}

void ledger_ckpt_stop(ledger *s)
{
	if (s->ckpt_started) {
		pthread_mutex_lock(&s->ckmu);
		s->ck_stop = 1;
		pthread_cond_signal(&s->ckwake);
		pthread_mutex_unlock(&s->ckmu);
		pthread_join(s->ckpt, NULL);
		s->ckpt_started = 0;
		sqlite3_wal_hook(s->w, NULL, NULL);   /* the hook's mutex goes away below */
		pthread_cond_destroy(&s->ckwake);
		pthread_mutex_destroy(&s->ckmu);
	}
	sqlite3_close(s->ck);
	s->ck = NULL;
}
