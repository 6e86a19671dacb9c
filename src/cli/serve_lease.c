/* One lake writer and one inbox among the servers sharing a state: a thread checks this
 * server's leases every SERVE_LEASE_PERIOD_MS, opens the lake (or the inbox) when it holds the
 * lease and closes it when it lost it. Opening is the lake's crash recovery (progress.json,
 * unrecorded files removed), so a writer that died mid-flush is taken over with nothing lost
 * or doubled. The HTTP handlers reach the lake through the hooks below, under a read lock that
 * the thread takes for writing only to swap the lake. */
#include "serve_lease.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "idbsync/log.h"

struct serve_lease {
	ledger *lg;
	const lake_options *lo;
	const imp_inbox_options *io;
	int shared;               /* PostgreSQL: other servers may hold the leases */
	pthread_rwlock_t rw;      /* guards lk: handlers read it, the thread swaps it */
	lake *lk;
	imp_inbox *inbox;         /* the thread's alone */
	pthread_mutex_t mu;       /* guards stop */
	pthread_cond_t wake;
	int stop, started;
	pthread_t thread;
};

static const char not_writer[] =
	"this server does not hold the lake lease: another server sharing the state writes the lake "
	"(ask that one, or call again: a server takes the lease over within seconds when its holder stops)";

static int hook_flush(void *ctx, const char *db, int64_t upto, ids_error *err)
{
	serve_lease *ls = ctx;
	pthread_rwlock_rdlock(&ls->rw);
	int rc = ls->lk ? lake_flush(ls->lk, db, upto, 60000, err) : ids_fail(err, IDS_EBUSY, "%s", not_writer);
	pthread_rwlock_unlock(&ls->rw);
	return rc;
}

static void hook_metrics(void *ctx, ids_buf *out)
{
	serve_lease *ls = ctx;
	pthread_rwlock_rdlock(&ls->rw);
	ids_buf_printf(out, "# HELP idbsync_lake_writer 1 when this server writes the lake (holds the lake lease).\n"
			    "# TYPE idbsync_lake_writer gauge\nidbsync_lake_writer %d\n", ls->lk != NULL);
	if (ls->lk)
		lake_metrics(ls->lk, out);
	pthread_rwlock_unlock(&ls->rw);
}

static int hook_stats(void *ctx, const char *db, ids_buf *out, ids_error *err)
{
	serve_lease *ls = ctx;
	pthread_rwlock_rdlock(&ls->rw);
	int rc = ls->lk ? lake_db_stats(ls->lk, db, out, err) : ids_fail(err, IDS_EBUSY, "%s", not_writer);
	pthread_rwlock_unlock(&ls->rw);
	return rc;
}

static int hook_iceberg(void *ctx, const char *ns, const char *table, ids_buf *loc, ids_buf *out, ids_error *err)
{
	serve_lease *ls = ctx;
	pthread_rwlock_rdlock(&ls->rw);
	int rc = ls->lk ? lake_iceberg_read(ls->lk, ns, table, loc, out, err) : ids_fail(err, IDS_EBUSY, "%s", not_writer);
	pthread_rwlock_unlock(&ls->rw);
	return rc;
}

static int hook_iceberg_vend(void *ctx, ids_buf *out, ids_error *err)
{
	serve_lease *ls = ctx;
	pthread_rwlock_rdlock(&ls->rw);
	int rc = ls->lk ? lake_iceberg_vend(ls->lk, out, err) : ids_fail(err, IDS_EBUSY, "%s", not_writer);
	pthread_rwlock_unlock(&ls->rw);
	return rc;
}

/* A server that does not write the lake is ready: it syncs, and the writer reports the lake. */
static int hook_health(void *ctx, ids_buf *out)
{
	serve_lease *ls = ctx;
	pthread_rwlock_rdlock(&ls->rw);
	int bad = 0;
	if (ls->lk)
		bad = lake_health(ls->lk, out);
	else
		ids_buf_puts(out, "{\"writer\":false}");
	pthread_rwlock_unlock(&ls->rw);
	return bad;
}

/* Takes or drops the lake and the inbox to match the leases. A lease that cannot be checked
 * (the database is away) counts as lost: PostgreSQL frees it with the session anyway. */
static int check(serve_lease *ls, ids_error *first_err)
{
	int rc = 0;
	if (ls->lo) {
		int held = 0;
		ids_error err = IDS_ERROR_INIT;
		if (ledger_lease(ls->lg, "lake", &held, &err))
			ids_logf(IDS_LOG_WARN, "lake_lease", "cannot check the lake lease: %s", err.msg);
		if (held && !ls->lk) {
			lake *lk = NULL;
			if ((rc = lake_open(&lk, ls->lg, ls->lo, &err))) {
				if (ls->shared)
					ids_logf(IDS_LOG_WARN, "lake_lease", "holding the lake lease, cannot open %s yet: %s",
						 ls->lo->dir, err.msg);
				if (first_err)
					ids_fail(first_err, rc, "lake %s: %s", ls->lo->dir, err.msg);
			} else {
				if (ls->shared)
					ids_logf(IDS_LOG_INFO, "lake_lease", "this server writes the lake %s", ls->lo->dir);
				pthread_rwlock_wrlock(&ls->rw);
				ls->lk = lk;
				pthread_rwlock_unlock(&ls->rw);
			}
		} else if (!held && ls->lk) {
			ids_logf(IDS_LOG_WARN, "lake_lease", "lost the lake lease: closing the lake for its next writer");
			lake_stop(ls->lk); /* releases flush waiters, so the write lock comes soon */
			pthread_rwlock_wrlock(&ls->rw);
			lake *lk = ls->lk;
			ls->lk = NULL;
			pthread_rwlock_unlock(&ls->rw);
			lake_free(lk);
		}
	}
	if (ls->io && !rc) {
		int held = 0;
		ids_error err = IDS_ERROR_INIT;
		if (ledger_lease(ls->lg, "inbox", &held, &err))
			ids_logf(IDS_LOG_WARN, "inbox_lease", "cannot check the inbox lease: %s", err.msg);
		if (held && !ls->inbox) {
			if ((rc = imp_inbox_start(&ls->inbox, ls->lg, ls->io, &err))) {
				if (ls->shared)
					ids_logf(IDS_LOG_WARN, "inbox_lease", "holding the inbox lease, cannot start the inbox: %s",
						 err.msg);
				if (first_err)
					ids_fail(first_err, rc, "inbox: %s", err.msg);
			}
		} else if (!held && ls->inbox) {
			ids_logf(IDS_LOG_WARN, "inbox_lease", "lost the inbox lease: stopping the inbox");
			imp_inbox_free(ls->inbox);
			ls->inbox = NULL;
		}
	}
	return rc;
}

static void *lease_main(void *arg)
{
	pthread_setname_np(pthread_self(), "idb-lease");
	serve_lease *ls = arg;
	pthread_mutex_lock(&ls->mu);
	while (!ls->stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += SERVE_LEASE_PERIOD_MS / 1000;
		ts.tv_nsec += (long)(SERVE_LEASE_PERIOD_MS % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		if (pthread_cond_timedwait(&ls->wake, &ls->mu, &ts) != ETIMEDOUT || ls->stop)
			continue;
		pthread_mutex_unlock(&ls->mu);
		check(ls, NULL);
		pthread_mutex_lock(&ls->mu);
	}
	pthread_mutex_unlock(&ls->mu);
	return NULL;
}

int serve_lease_start(serve_lease **out, ledger *lg, int shared, const lake_options *lo,
		      const imp_inbox_options *io, server_hooks *hooks, ids_error *err)
{
	*out = NULL;
	serve_lease *ls = calloc(1, sizeof *ls);
	if (!ls)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	ls->lg = lg;
	ls->lo = lo;
	ls->io = io;
	ls->shared = shared;
	pthread_rwlock_init(&ls->rw, NULL);
	pthread_mutex_init(&ls->mu, NULL);
	pthread_cond_init(&ls->wake, NULL);
	/* the first check at once: with SQLite (always the holder) its errors stop the start */
	ids_error first = IDS_ERROR_INIT;
	int rc = check(ls, &first);
	if (rc && !shared)
		*err = first;
	else
		rc = 0;
	if (!rc && (lo || io)) {
		if (pthread_create(&ls->thread, NULL, lease_main, ls))
			rc = ids_fail(err, IDS_EIO, "cannot start the lease thread");
		else
			ls->started = 1;
	}
	if (rc) {
		serve_lease_free(ls);
		return rc;
	}
	if (lo) {
		hooks->ctx = ls;
		hooks->flush = hook_flush;
		hooks->metrics = hook_metrics;
		hooks->lake_stats = hook_stats;
		hooks->health = hook_health;
		hooks->iceberg = hook_iceberg;
		hooks->iceberg_vend = hook_iceberg_vend;
	}
	*out = ls;
	return 0;
}

void serve_lease_stop(serve_lease *ls)
{
	if (!ls)
		return;
	pthread_mutex_lock(&ls->mu);
	ls->stop = 1;
	pthread_cond_signal(&ls->wake);
	pthread_mutex_unlock(&ls->mu);
	pthread_rwlock_rdlock(&ls->rw);
	lake_stop(ls->lk);
	pthread_rwlock_unlock(&ls->rw);
}

void serve_lease_free(serve_lease *ls)
{
	if (!ls)
		return;
	serve_lease_stop(ls);
	if (ls->started)
		pthread_join(ls->thread, NULL);
	imp_inbox_free(ls->inbox);
	lake_free(ls->lk);
	pthread_rwlock_destroy(&ls->rw);
	pthread_mutex_destroy(&ls->mu);
	pthread_cond_destroy(&ls->wake);
	free(ls);
}
