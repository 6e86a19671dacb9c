/* One read snapshot pinned to a thread (ledger_read_begin): the lake's flush thread reads a
 * change-log round and the state pass after it from one snapshot, so the state it writes is
 * exactly the state at the seq its change log reached. The pools' get (ledger.c, pg.c) hand the
 * pinned connection back to that thread, and the scans (scan.c, pg_read.c) skip their own
 * BEGIN and COMMIT on it. */
#include "pg_int.h"

#include <string.h>
#include <time.h>

/* Under rmu: the calling thread's pinned connection, or NULL. */
void *ledger_pin_mine(ledger *lg)
{
	return lg->pin && pthread_equal(lg->pin_thread, pthread_self()) ? lg->pin : NULL;
}

int ledger_reader_pinned(ledger *lg, const void *conn)
{
	pthread_mutex_lock(&lg->rmu);
	int mine = conn && conn == ledger_pin_mine(lg);
	pthread_mutex_unlock(&lg->rmu);
	return mine;
}

/* A PostgreSQL reader in a REPEATABLE READ transaction whose snapshot is taken by reading the
 * head (the first statement fixes it). */
static void *pg_begin(ledger *lg, int64_t *head, ids_error *err)
{
	PGconn *c = pg_reader_get(lg, err);
	if (!c)
		return NULL;
	PGresult *r = NULL;
	if (!pg_exec(lg, c, "begin a read snapshot", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err))
		r = pg_run(lg, c, "read the head", "SELECT v::bigint FROM meta WHERE k='head'", 0, NULL, NULL, NULL, err);
	*head = r && PQntuples(r) ? pg_i64(r, 0, 0) : 0;
	PQclear(r);
	if (!r) {
		if (PQtransactionStatus(c) != PQTRANS_IDLE)
			pg_exec(lg, c, "end a read snapshot", "ROLLBACK", NULL);
		pg_reader_put(lg, c);
		return NULL;
	}
	return c;
}

/* The WAL restarts at its beginning only when a checkpoint has copied all of it and no reader
 * holds a snapshot inside it. The flush thread pins one for each round and its pass, back to
 * back under a busy ingest, so a checkpoint only ever copied up to the last pin's mark and the
 * WAL grew without end (1.06 GB in a 5M-row ingest against 60-160 MB without pins). So a pin
 * taken while the WAL is large and the writer busy first waits, unpinned, for the WAL to start
 * over (checkpoint.c: with no pin the checkpoint thread copies the backlog, the writer's own
 * checkpoint the last frames, and the commit after it restarts the WAL): a few commits,
 * bounded by PIN_WAIT_MS. (A RESTART checkpoint from here instead held the
 * checkpoint lock while waiting for the busy writer, and the WAL grew further.) */
#define PIN_WAL_FRAMES (LEDGER_WAL_LIMIT / 4096) /* of 4 KiB pages: journal_size_limit */
#define PIN_WAIT_MS 250
#define PIN_BUSY_MS 100          /* the writer committed this recently: it is busy */

static void wait_wal_restart(ledger *lg)
{
	long long r0 = atomic_load(&lg->stats.wal_restarts), t0 = ledger_mono_us();
	while (atomic_load(&lg->wal_frames) >= PIN_WAL_FRAMES && atomic_load(&lg->stats.wal_restarts) == r0 &&
	       ledger_mono_us() - atomic_load(&lg->wal_commit_us) < PIN_BUSY_MS * 1000 &&
	       ledger_mono_us() - t0 < PIN_WAIT_MS * 1000)
		nanosleep(&(struct timespec){.tv_nsec = 2000000}, NULL);
}

/* A SQLite reader in a read transaction: WAL fixes its snapshot at the first read (the head). */
static void *sqlite_begin(ledger *lg, int64_t *head, ids_error *err)
{
	wait_wal_restart(lg);
	sqlite3 *db = ledger_reader_get(lg);
	sqlite3_stmt *q = NULL;
	int rc = ledger_exec(db, "BEGIN", err);
	if (!rc && sqlite3_prepare_v2(db, "SELECT v FROM meta WHERE k='head'", -1, &q, NULL) != SQLITE_OK)
		rc = ledger_sql_err(lg, db, SQLITE_ERROR, err, "read the head");
	int step = rc ? SQLITE_ERROR : sqlite3_step(q);
	if (!rc && step != SQLITE_ROW && step != SQLITE_DONE)
		rc = ledger_sql_err(lg, db, step, err, "read the head");
	*head = step == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
	sqlite3_finalize(q);
	if (rc) {
		if (!sqlite3_get_autocommit(db))
			ledger_exec(db, "ROLLBACK", NULL);
		ledger_reader_put(lg, db);
		return NULL;
	}
	return db;
}

int ledger_read_begin(ledger *lg, int64_t *head, ids_error *err)
{
	pthread_mutex_lock(&lg->rmu);
	int taken = lg->pin != NULL;
	pthread_mutex_unlock(&lg->rmu);
	if (taken)
		return ids_fail(err, IDS_EBUSY, "a read snapshot of the state is already pinned");
	int64_t h = 0;
	void *c = lg->pg ? pg_begin(lg, &h, err) : sqlite_begin(lg, &h, err);
	if (!c)
		return err && err->code ? err->code : IDS_EIO;
	pthread_mutex_lock(&lg->rmu);
	lg->pin = c;
	lg->pin_thread = pthread_self();
	pthread_mutex_unlock(&lg->rmu);
	if (head)
		*head = h;
	return 0;
}

void ledger_read_end(ledger *lg)
{
	pthread_mutex_lock(&lg->rmu);
	void *c = ledger_pin_mine(lg);
	if (c)
		lg->pin = NULL;   /* from here the pool's put returns it */
	pthread_mutex_unlock(&lg->rmu);
	if (!c)
		return;
	if (lg->pg) {
		if (PQtransactionStatus(c) != PQTRANS_IDLE)
			pg_exec(lg, c, "end a read snapshot", "ROLLBACK", NULL);
		pg_reader_put(lg, c);
	} else {
		if (!sqlite3_get_autocommit(c))
			ledger_exec(c, "COMMIT", NULL);
		ledger_reader_put(lg, c);
	}
}
