/* The lake writer's life cycle: open (recovery of a crashed flush), the flush thread (every
 * flush_interval_ms when the ledger head moved, or at once on lake_flush), pruning of the
 * ledger's change log, and shutdown. Options: options.c; progress: progress.c; metrics: stats.c.
 * One flush = rounds of change log and conflicts, each recorded at once, and a pass over the
 * touched current-state buckets whenever it is due (state_due). */
#include "iceberg.h"
#include "lake_int.h"

#include "idbsync/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#define PRUNE_EVERY_MS 5000
/* The head this far ahead of the change log after a round (or at the flush's end): an ingest
 * is on, and the state's delta merges (l->busy, state_delta.c) and the change log's compaction
 * wait for it to end. A flush whose last round was not full still compacted: 15 s of 70 files,
 * in the last seconds of a 10M-row ingest, with the head 35k ahead */
#define BUSY_BEHIND 10000

static int ingest_on(lake *l)
{
	return ledger_head(l->lg) - l->changes_seq >= BUSY_BEHIND;
}

/* One round: at most BATCH_MAX changes into the change log and the new conflicts, recorded as
 * durable progress at once. The keys they touched are remembered for the next state pass;
 * after a crash lk_log_retouch finds them again from state_seq. */
static int log_round(lake *l, int *more, ids_error *err)
{
	int64_t done = l->changes_seq, cdone = l->conflicts_id;
	int rc = lk_log_flush(l, &done, more, err);
	if (!rc)
		rc = lk_conflicts_flush(l, &cdone, err);
	if (!rc && (done != l->changes_seq || cdone != l->conflicts_id || l->hold_changed))
		rc = lk_progress_write(l, done, l->state_seq, cdone, err);
	if (!rc) {
		l->changes_seq = done;
		l->conflicts_id = cdone;
		pthread_mutex_lock(&l->mu);
		l->log_flushed = done;
		pthread_mutex_unlock(&l->mu);
	}
	return rc;
}

/* t's current-state files miss a change, were never read, or need a whole rebuild */
static int table_needs_state(const lk_table *t)
{
	return t->touched || t->k < 0 || t->dir_version != t->version || t->rebuild || t->grow;
}

static int state_needed(const lake *l)
{
	for (const lk_table *t = l->tables; t; t = t->next)
		if (table_needs_state(t))
			return 1;
	return 0;
}

/* The state pass is due for a flush call that the change log has reached (or cannot get
 * closer to), else when the last pass ended at least max(interval/2, its own duration) ago:
 * rebuilding buckets never takes more than about half the time, so the change log keeps up
 * with any ingest rate and the state follows as often as its size allows. */
static int state_due(const lake *l, int more)
{
	if (l->state_seq >= l->changes_seq && !state_needed(l))
		return 0;
	if (l->want > l->state_seq && (l->changes_seq >= l->want || !more))
		return 1;
	int64_t gap = l->o.flush_interval_ms / 2;
	if (l->state_cost_ms > gap)
		gap = l->state_cost_ms;
	return lk_now_ms() - l->state_end_ms >= gap;
}

/* Rebuilds the touched state buckets of every table, then records state_seq. Runs in the read
 * snapshot of the round before it (do_flush): the rounds the snapshot still holds (more) go to
 * the change log first, so the rows the pass reads are exactly the state at the seq the change
 * log reached, which it records (state_seq, and each Iceberg state snapshot's idbsync.seq). */
static int state_pass(lake *l, int more, ids_error *err)
{
	int64_t t0 = lk_now_ms(), from = l->changes_seq;
	int rc = 0;
	while (!rc && more && !lk_out_of_time(l))
		rc = log_round(l, &more, err);
	if (!rc && more)
		return ids_fail(err, IDS_EBUSY, "shutting down");
	int64_t upto = l->changes_seq, t_log = lk_now_ms() - t0;
	for (lk_table *t = l->tables; !rc && t; t = t->next) {
		if (!table_needs_state(t) || t->state_held)
			continue;   /* a held table's state waits for its retry (hold.c) */
		if (lk_out_of_time(l))
			return ids_fail(err, IDS_EBUSY, "shutting down");
		if (!(rc = lk_state_flush(l, t, err)))
			rc = lk_table_save(l, t, err);
		if (rc) {
			/* this table's state stays as it was; the others go on */
			lk_hold_table(l, t, LK_HOLD_STATE, 0, err);
			ids_error clean = IDS_ERROR_INIT;
			*err = clean;
			rc = 0;
			continue;
		}
		if (t->touched)
			lk_notify_table(l, t, "state", "", upto);
	}
	if (!rc && (upto != l->state_seq || l->hold_changed))
		rc = lk_progress_write(l, l->changes_seq, upto, l->conflicts_id, err);
	if (rc)
		return rc;
	l->state_seq = upto;
	for (lk_table *t = l->tables; t; t = t->next) {
		if (t->state_held)
			continue;   /* its touched keys and dirty buckets wait with it */
		t->touched = 0;
		lk_delta_reset(t);
	}
	l->state_end_ms = lk_now_ms();
	l->state_cost_ms = l->state_end_ms - t0;
	ids_logrec lr;
	if (ids_log_begin(&lr, IDS_LOG_DEBUG, "lake_state_pass")) {
		ids_log_int(&lr, "state_seq", upto);
		ids_log_int(&lr, "ms", l->state_cost_ms);
		ids_log_int(&lr, "log_changes", upto - from);
		ids_log_int(&lr, "log_ms", t_log);
		ids_log_end(&lr);
	}
	pthread_mutex_lock(&l->mu);   /* flush calls waiting for this pass return now */
	l->flushed = upto;
	pthread_cond_broadcast(&l->done);
	pthread_mutex_unlock(&l->mu);
	return 0;
}

/* A failed compaction leaves the small files as they are (counted, logged, tried again at
 * the next check): syncing goes on. */
static void compact(lake *l)
{
	ids_error err = IDS_ERROR_INIT;
	if (lk_compact(l, &err)) {
		atomic_fetch_add(&l->m_flush_errors, 1);
		ids_logf(IDS_LOG_WARN, "lake_compaction_failed", "will retry at the next check: %s", err.msg);
	}
}

/* Where a round's time went (--log-level debug): waiting for the pin (the WAL's restart,
 * pin.c), writing the change log, and the state pass with the rounds it finished first; how
 * far the change log and the state are behind the head after it. */
static void round_log(lake *l, int64_t from, int64_t r0, int64_t r1, int64_t r2, int pass)
{
	ids_logrec lr;
	if (!ids_log_begin(&lr, IDS_LOG_DEBUG, "lake_round"))
		return;
	int64_t head = ledger_head(l->lg);
	ids_log_int(&lr, "changes", l->changes_seq - from);
	ids_log_int(&lr, "pin_ms", r1 - r0);
	ids_log_int(&lr, "log_ms", r2 - r1);
	ids_log_int(&lr, "state_ms", pass ? lk_now_ms() - r2 : 0);
	ids_log_int(&lr, "log_behind", head - l->changes_seq);
	ids_log_int(&lr, "state_behind", head - l->state_seq);
	ids_log_end(&lr);
}

static void merge_idle(lake *l)
{
	ids_error err = IDS_ERROR_INIT;
	l->busy = 0;
	if (lk_delta_merge_idle(l, &err)) {
		atomic_fetch_add(&l->m_flush_errors, 1);
		ids_logf(IDS_LOG_WARN, "lake_merge_failed", "will retry at the next pass: %s", err.msg);
	}
}

static void do_flush(lake *l)
{
	ids_error err = IDS_ERROR_INIT;
	pthread_mutex_lock(&l->mu);
	int64_t gen = ++l->gen_started;
	pthread_mutex_unlock(&l->mu);
	int64_t t0 = lk_now_ms();
	int more = 1, rc = 0;
	int asked = lk_hold_check_request(l);   /* held tables and changes whose retry is due */
	if (l->hold_changed || asked)
		rc = lk_progress_write(l, l->changes_seq, l->state_seq, l->conflicts_id, &err);
	if (asked && !rc)
		lk_hold_request_done(l);
	int busy = 0;   /* a round was full: the ledger head ran ahead of the change log */
	l->busy = 0;
	while (more && !rc && !lk_out_of_time(l)) {
		/* one snapshot of the ledger for the round and the state pass after it (released
		 * between rounds: a pinned snapshot keeps the WAL from restarting) */
		int64_t r0 = lk_now_ms(), from = l->changes_seq;
		rc = ledger_read_begin(l->lg, NULL, &err);
		int64_t r1 = lk_now_ms();
		if (!rc)
			rc = log_round(l, &more, &err);
		int64_t r2 = lk_now_ms();
		busy |= more;
		l->busy = busy || ingest_on(l);
		int pass = !rc && state_due(l, more) && !lk_out_of_time(l);
		if (pass)
			rc = state_pass(l, more, &err);
		ledger_read_end(l->lg);
		round_log(l, from, r0, r1, r2, pass);
	}
	/* Compaction decodes and re-encodes every small file since the last check, on this thread:
	 * after a busy flush of a 10M-row ingest that was 70 files, 12 s in which the change log
	 * fell 2M changes behind the head. A busy flush leaves it to the idle loop (or to a table
	 * with so many small files that it cannot wait). */
	l->busy |= ingest_on(l);
	/* nor while the state is behind the change log: the pass is due within interval/2, and a
	 * compaction first kept the end of an ingest out of the state for 9.6 s */
	if (!rc && !atomic_load(&l->stop_by_ms) && ((!l->busy && l->state_seq >= l->changes_seq) || lk_compact_overdue(l)))
		compact(l);
	lk_test_pause(LK_PAUSE_FLUSH, l->busy ? "busy" : "idle");
	int64_t t1 = lk_now_ms();
	atomic_fetch_add(&l->m_flush_us, (t1 - t0) * 1000);
	if (rc) {
		atomic_fetch_add(&l->m_flush_errors, 1);
		ids_logf(IDS_LOG_ERROR, "lake_flush_failed", "will retry: %s", err.msg);
		/* files past the recorded progress would be written again under other names */
		lk_log_cleanup(l, NULL);
		for (lk_table *t = l->tables; t; t = t->next)
			t->k = -1; /* re-read the dir state */
	} else {
		atomic_fetch_add(&l->m_flushes, 1);
		ids_logrec lr;
		if (ids_log_begin(&lr, IDS_LOG_DEBUG, "lake_flush")) {
			ids_log_int(&lr, "changes_seq", l->changes_seq);
			ids_log_int(&lr, "state_seq", l->state_seq);
			ids_log_int(&lr, "ms", t1 - t0);
			ids_log_end(&lr);
		}
		if (t1 - l->prune_ms >= PRUNE_EVERY_MS) {
			ids_error perr = IDS_ERROR_INIT;
			/* a crash before the next state pass needs the changes after state_seq */
			int64_t floor = lk_hold_floor(l);
			if (ledger_changes_prune(l->lg, floor < l->state_seq ? floor : l->state_seq, &perr))
				ids_logf(IDS_LOG_WARN, "lake_prune_failed", "%s", perr.msg);
			l->prune_ms = t1;
		}
	}
	pthread_mutex_lock(&l->mu);
	l->last_flush_ms = t1;
	if (rc)
		snprintf(l->last_err, sizeof l->last_err, "%s", err.msg);
	else
		l->last_err[0] = 0;
	l->flushed = l->state_seq;
	l->log_flushed = l->changes_seq;
	if (!rc)
		l->gen_done = gen;
	pthread_cond_broadcast(&l->done);
	pthread_mutex_unlock(&l->mu);
}

static void *flush_main(void *arg)
{
	pthread_setname_np(pthread_self(), "idb-lake");
	lake *l = arg;
	int failures = 0;
	pthread_mutex_lock(&l->mu);
	while (!l->stop) {
		int64_t now = lk_now_ms();
		int64_t head = ledger_head(l->lg);
		/* flushes start at most every interval/2: a change is visible within the interval
		 * (plus the flush itself) at half the files of flushing at the deadline's pace */
		int64_t gap = l->o.flush_interval_ms / 2;
		for (int i = 0; i < failures && gap < 30000; i++)
			gap *= 2;
		int due = now - l->last_flush_ms >= gap;
		int asked = l->want > l->flushed || l->want_gen > l->gen_started;
		int pending = head > l->flushed || asked || lk_hold_due(l);
		if (pending && (due || (asked && !failures))) {
			pthread_mutex_unlock(&l->mu);
			do_flush(l);
			pthread_mutex_lock(&l->mu);
			failures = l->last_err[0] ? failures + 1 : 0;
			continue;
		}
		if (!pending && !failures && lk_delta_merge_wanted(l)) {
			/* the state's deltas that busy flushes left unmerged */
			pthread_mutex_unlock(&l->mu);
			merge_idle(l);
			pthread_mutex_lock(&l->mu);
			continue;
		}
		if (!pending && !failures && lk_compact_wanted(l)) {
			/* small files left when the writes stopped are merged while idle too, all of
			 * them: the cap of a busy flush's compaction (l->busy, left set by the last
			 * flush) is for a flush an ingest waits on */
			pthread_mutex_unlock(&l->mu);
			l->busy = 0;
			compact(l);
			pthread_mutex_lock(&l->mu);
			continue;
		}
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 20 * 1000000L;  /* poll the head: cheap, and bounds the added latency */
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&l->wake, &l->mu, &ts);
	}
	pthread_mutex_unlock(&l->mu);
	/* a clean shutdown leaves the lake current */
	if (ledger_head(l->lg) > l->flushed && !failures) {
		l->want = ledger_head(l->lg);
		do_flush(l);
	}
	return NULL;
}

int lake_open(lake **out, ledger *lg, const lake_options *o, ids_error *err)
{
	*out = NULL;
	/* the plain layout commits by rename(2), which object storage does not have */
	if (o->dir && strstr(o->dir, "://"))
		return ids_fail(err, IDS_EINVAL,
				"--lake must name a local (or mounted) directory: the plain layout swaps files by "
				"rename, which object storage has not. For S3 use --lake DIR --lake-format iceberg "
				"--iceberg-warehouse s3://BUCKET/PREFIX (docs/iceberg.md)");
	if (ids_path_room(o->dir ? o->dir : "./lake", LAKE_PATH_ROOM, "lake", err))
		return IDS_ELIMIT;
	lake *l = calloc(1, sizeof *l);
	if (!l)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	l->o = *o;
	l->lg = lg;
	l->lock_fd = -1;
	l->dir = strdup(o->dir ? o->dir : "./lake");
	l->profile = o->profile;
	l->bucket_bytes = o->bucket_bytes > 0 ? o->bucket_bytes : (int64_t)128 << 20;
	l->max_bucket_bits = LK_MAX_BUCKET_BITS;
	l->drill_ws = strdup(o->drill_workspace ? o->drill_workspace : "dfs.lake");
	/* the tests' way to make the writer refuse a row, as a bug in a conversion would */
	const char *refuse = getenv("IDBSYNC_TEST_LAKE_REFUSE");
	l->refuse = refuse && *refuse ? strdup(refuse) : NULL;
	/* and to make an ingest's full rounds (a busy flush) from a few thousand changes */
	const char *round = getenv("IDBSYNC_TEST_LAKE_ROUND");
	l->round_max = round && atoi(round) > 0 ? (size_t)atoi(round) : 0;
	if (l->o.flush_interval_ms <= 0)
		l->o.flush_interval_ms = 1000;
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->wake, NULL);
	pthread_cond_init(&l->done, NULL);
	pthread_mutex_init(&l->nmu, NULL);
	pthread_cond_init(&l->nwake, NULL);
	int rc = 0;
	if (o->config_file)
		rc = lk_config_load(l, o->config_file, err);
	l->nested = o->nested ? o->nested : l->nested;
	if (!l->nested)
		l->nested = l->profile == PQ_PROFILE_MODERN ? LK_NESTED_STRUCT : LK_NESTED_JSON;
	for (int i = 0; !rc && i < o->n_partition; i++) {
		char m[600];
		const char *eq = strchr(o->partition[i], '=');
		snprintf(m, sizeof m, "%.*s", (int)(eq - o->partition[i]), o->partition[i]);
		rc = lk_config_add(l, m, eq + 1, 0, err);
	}
	char meta[IDS_PATH_MAX + 1];
	if (!rc)
		rc = ids_path(meta, sizeof meta, err, "%s/_idbsync", l->dir);
	if (!rc)
		rc = ids_mkdirs(meta, err);
	if (!rc) {
		/* one writer per lake: a second server would interleave files */
		char lock[IDS_PATH_MAX + 1];
		rc = ids_path(lock, sizeof lock, err, "%s/lock", meta);
		int fd = rc ? -1 : open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (!rc && (fd < 0 || flock(fd, LOCK_EX | LOCK_NB))) {
			if (fd >= 0)
				close(fd);
			rc = ids_fail(err, IDS_EIO, "%s is in use by another idbsync (lock %s)", l->dir, lock);
		} else {
			/* held until lake_free: a server that loses the lake lease hands the lake on
			 * (src/cli/serve_lease.c) */
			l->lock_fd = fd;
		}
	}
	int fresh = 0;
	if (!rc)
		rc = lk_progress_read(l, &fresh, err);
	int rebased = 0;
	if (!rc && !fresh && l->epoch[0] && strcmp(l->epoch, ledger_epoch(l->lg))) {
		rc = lk_rebase(l, err);
		rebased = 1;
	}
	if (!rc)
		rc = lk_ice_open(l, err);
	if (!rc)
		rc = lk_log_cleanup(l, err);   /* also takes unrecorded files back out of Iceberg */
	if (!rc && fresh)
		rc = lk_adopt_stores(l, err);
	if (!rc && rebased)
		rc = lk_progress_write(l, l->changes_seq, l->state_seq, l->conflicts_id, err);
	if (!rc && fresh)
		rc = lk_progress_write(l, 0, 0, 0, err);
	if (!rc && l->state_seq < l->changes_seq)
		rc = lk_log_retouch(l, l->state_seq, l->changes_seq, err);
	l->flushed = l->state_seq;
	l->log_flushed = l->changes_seq;
	if (!rc)
		lk_hold_publish(l);
	if (!rc)
		rc = lk_notify_start(l, err);
	if (!rc) {
		if (pthread_create(&l->thread, NULL, flush_main, l))
			rc = ids_fail(err, IDS_EIO, "cannot start the lake flush thread");
		else
			l->started = 1;
	}
	if (rc) {
		lake_free(l);
		return rc;
	}
	*out = l;
	return 0;
}

int lake_flush(lake *l, const char *db, int64_t upto, int timeout_ms, ids_error *err)
{
	if (!l)
		return ids_fail(err, IDS_EINVAL, "the lake is off (--no-lake)");
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += timeout_ms / 1000;
	dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	int rc = 0;
	pthread_mutex_lock(&l->mu);
	if (upto > l->want)
		l->want = upto;
	/* a flush that starts after this call: it also writes conflicts (which add no seq) */
	int64_t gen = l->gen_started + 1;
	if (gen > l->want_gen)
		l->want_gen = gen;
	pthread_cond_signal(&l->wake);
	while ((l->flushed < upto || l->gen_done < gen) && !l->stop) {
		if (pthread_cond_timedwait(&l->done, &l->mu, &dl) == ETIMEDOUT) {
			/* still catching up is not a failure: 503, call again (an error, if any, is named) */
			rc = ids_fail(err, l->last_err[0] ? IDS_EIO : IDS_EBUSY,
				      "the lake did not reach seq %" PRId64 " within %d ms (at %" PRId64 ")%s%s; call again",
				      upto, timeout_ms, l->flushed, l->last_err[0] ? "; last error: " : "", l->last_err);
			break;
		}
	}
	if (!rc && (l->flushed < upto || l->gen_done < gen))
		rc = ids_fail(err, IDS_EIO, "the lake is shutting down");
	size_t dn = db ? strlen(db) : 0;
	for (const char *h = l->held_dbs; !rc && db && h && *h;) {
		const char *nl = strchr(h, '\n');
		if (!strncmp(h, db, dn) && h[dn] == '\t')
			rc = ids_fail(err, IDS_EIO, "the lake wrote everything up to seq %" PRId64 " but %.*s (retried with backoff; GET /readyz lists what is held)",
				      upto, (int)((nl ? nl : h + strlen(h)) - h - dn - 1), h + dn + 1);
		h = nl ? nl + 1 : NULL;
	}
	pthread_mutex_unlock(&l->mu);
	return rc;
}

void lake_stop(lake *l)
{
	if (!l)
		return;
	pthread_mutex_lock(&l->mu);
	if (!l->stop) {
		l->stop = 1;
		atomic_store(&l->stop_by_ms, lk_now_ms() + LAKE_STOP_BUDGET_MS);
	}
	pthread_cond_broadcast(&l->wake);
	pthread_cond_broadcast(&l->done);
	pthread_mutex_unlock(&l->mu);
}

int lk_out_of_time(lake *l)
{
	int64_t by = atomic_load(&l->stop_by_ms);
	return by && lk_now_ms() >= by;
}

void lake_free(lake *l)
{
	if (!l)
		return;
	lake_stop(l);
	if (l->started)
		pthread_join(l->thread, NULL);
	lk_notify_stop(l);
	lk_hold_free(l);
	lk_ice_free(l);
	lk_tables_free(l);
	for (size_t i = 0; i < l->n_cfg; i++) {
		free(l->cfg[i].match);
		free(l->cfg[i].partition_by);
	}
	free(l->cfg);
	free(l->dir);
	free(l->drill_ws);
	free(l->refuse);
	ids_buf_free(&l->row_buf);
	ids_buf_free(&l->row_tmp);
	ids_buf_free(&l->row_bin);
	ids_buf_free(&l->tape);
	ids_buf_free(&l->row.arena);
	ids_json_free(&l->vjson);
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->wake);
	pthread_cond_destroy(&l->done);
	pthread_mutex_destroy(&l->nmu);
	pthread_cond_destroy(&l->nwake);
	if (l->lock_fd >= 0)
		close(l->lock_fd); /* last: everything above may still write the lake */
	free(l);
}
