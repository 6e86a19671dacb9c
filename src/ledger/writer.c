/* The writer thread and group commit: pushes queue up while a commit is in flight, then the
 * next transaction applies all of them and pays for one fsync. A push returns only after its
 * transaction is durable. Each push runs in a savepoint so a failing push (403) rolls back
 * alone. */
#include "ledger_int.h"

#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t ledger_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Queues job for the writer; the caller holds mu. */
static int enqueue(ledger *lg, push_job *job, ids_error *err)
{
	if (lg->stop)
		return ids_fail(err, IDS_EIO, "server is shutting down");
	job->t_queued = ledger_mono_us();
	if (job->b && job->b->stream)
		atomic_fetch_add(&lg->stats.pushes_streamed, 1);
	if (lg->queue_tail)
		lg->queue_tail->next = job;
	else
		lg->queue = job;
	lg->queue_tail = job;
	pthread_cond_signal(&lg->work);
	return 0;
}

int ledger_push_async(ledger *lg, ids_batch *b, ledger_push_result *res, ledger_push_done_fn done, void *ctx,
		     ids_error *err)
{
	push_job *job = calloc(1, sizeof *job);
	if (!job)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	job->b = b;
	job->res = res;
	job->done_fn = done;
	job->done_ctx = ctx;
	pthread_mutex_lock(&lg->mu);
	int rc = enqueue(lg, job, err);
	pthread_mutex_unlock(&lg->mu);
	if (rc)
		free(job);
	return rc;
}

int ledger_push(ledger *lg, ids_batch *b, ledger_push_result *res, ids_error *err)
{
	push_job job = {0};
	job.b = b;
	job.res = res;
	pthread_mutex_lock(&lg->mu);
	int rc = enqueue(lg, &job, err);
	if (rc) {
		pthread_mutex_unlock(&lg->mu);
		return rc;
	}
	while (!job.done)
		pthread_cond_wait(&lg->done, &lg->mu);
	pthread_mutex_unlock(&lg->mu);
	if (b)
		atomic_fetch_add(&lg->stats.pushes, 1);
	if (job.rc && err)
		*err = job.err;
	return job.rc;
}

void ledger_record_commit(ledger *lg, int64_t us)
{
	atomic_fetch_add(&lg->stats.commits, 1);
	atomic_fetch_add(&lg->stats.commit_us_sum, us);
	double sec = (double)us / 1e6;
	int b = 0;
	while (b < LEDGER_COMMIT_BUCKETS - 1 && sec > ledger_commit_bounds[b])
		b++;
	atomic_fetch_add(&lg->stats.commit_bucket[b], 1);
}

/* One statement of the commit path, checked; the tests' fault hook (ledger_int.h) can make
 * the nth run of a named step fail, as a full disk or a broken file would. */
static int step(ledger *lg, const char *name, const char *sql, ids_error *err)
{
	if (lg->fault_step && !strcmp(lg->fault_step, name) && --lg->fault_countdown == 0)
		return ids_fail(err, IDS_EIO, "%s: injected failure (test)", name);
	return ledger_exec(lg->w, sql, err);
}

static int set_head(ledger *lg, ids_error *err)
{
	if (lg->fault_step && !strcmp(lg->fault_step, "head") && --lg->fault_countdown == 0)
		return ids_fail(err, IDS_EIO, "head: injected failure (test)");
	sqlite3_stmt *q = NULL;
	int rc = sqlite3_prepare_v2(lg->w, "UPDATE meta SET v=?1 WHERE k='head'", -1, &q, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_bind_int64(q, 1, lg->next_seq - 1)) == SQLITE_OK)
		rc = sqlite3_step(q);
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? 0 : ledger_sql_err(lg, lg->w, rc, err, "update the head");
}

static unsigned db_bucket(const char *db)
{
	unsigned h = 2166136261u; /* FNV-1a */
	for (const unsigned char *p = (const unsigned char *)db; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h % DB_HEAD_BUCKETS;
}

/* Under mu. Out of memory leaves the db unnoted: ledger_db_head then answers the head. */
static void note_db_head(ledger *lg, const char *db, int64_t seq)
{
	db_head **b = &lg->db_heads[db_bucket(db)];
	for (db_head *d = *b; d; d = d->next)
		if (!strcmp(d->name, db)) {
			d->seq = seq;
			return;
		}
	size_t n = strlen(db) + 1;
	db_head *d = malloc(sizeof *d + n);
	if (!d) {
		lg->open_head = seq; /* conservative: every unnoted db may have changed up to here */
		return;
	}
	memcpy(d->name, db, n);
	d->seq = seq;
	d->next = *b;
	*b = d;
}

int64_t ledger_db_head(ledger *lg, const char *db)
{
	pthread_mutex_lock(&lg->mu);
	/* PostgreSQL: other servers' commits come as one head (NOTIFY), not per database, so every
	 * database may have changed up to it (parked requests re-pull, a one-statement pull) */
	int64_t h = lg->pg ? lg->head : lg->open_head;
	for (db_head *d = lg->db_heads[db_bucket(db)]; d; d = d->next)
		if (!strcmp(d->name, db)) {
			h = d->seq;
			break;
		}
	pthread_mutex_unlock(&lg->mu);
	return h;
}

/* Every step is checked: a savepoint, rollback-to or release that fails leaves the transaction
 * in a state nobody can vouch for, so the whole group is rolled back and every job of it gets
 * the error (their pushers retry); nothing partial is ever committed. */
static void run_group(ledger *lg, push_job *jobs)
{
	ids_error err = IDS_ERROR_INIT;
	int64_t seq0 = lg->next_seq, t_start = ledger_mono_us();
	for (push_job *j = jobs; j; j = j->next)
		atomic_fetch_add(&lg->stats.push_queue_us, t_start - j->t_queued);
	int rc = step(lg, "begin", "BEGIN IMMEDIATE", &err), open = !rc;
	for (push_job *j = jobs; j && !rc; j = j->next) {
		int64_t seq_before = lg->next_seq;
		if ((rc = step(lg, "savepoint", "SAVEPOINT job", &err)))
			break;
		j->rc = ledger_apply_batch(lg, j->b, j->res, &j->err);
		j->last_seq = lg->next_seq != seq_before ? lg->next_seq - 1 : 0;
		if (j->rc) {
			/* this push alone is refused (403, ...): its writes go, the group's stay */
			if ((rc = step(lg, "rollback_to", "ROLLBACK TO job", &err)))
				break;
			lg->next_seq = seq_before;
			ledger_fields_reset(lg);
		}
		rc = step(lg, "release", "RELEASE job", &err);
	}
	if (!rc && lg->next_seq != seq0)
		rc = set_head(lg, &err);
	if (!rc) {
		int64_t t0 = ledger_mono_us();
		atomic_fetch_add(&lg->stats.push_apply_us, t0 - t_start);
		rc = step(lg, "commit", "COMMIT", &err);
		ledger_record_commit(lg, ledger_mono_us() - t0);
		if (rc && !lg->fault_step)
			ledger_sql_err(lg, lg->w, sqlite3_extended_errcode(lg->w), &err, "commit");
		if (rc)
			rc = err.code ? err.code : IDS_EIO;
	}
	if (rc) {
		if (open)
			ledger_exec(lg->w, "ROLLBACK", NULL);
		lg->next_seq = seq0;
		ledger_fields_reset(lg); /* the cache may name fields the rolled-back commit added */
	}
	ledger_group_done(lg, jobs, lg->next_seq - 1, rc, &err);
}

void ledger_group_done(ledger *lg, push_job *jobs, int64_t new_head, int rc, const ids_error *err)
{
	/* a push still being parsed (a group that failed before applying it) is not answered
	 * while its parser reads the batch */
	for (push_job *j = jobs; j; j = j->next)
		if (j->b)
			ids_batch_stream_end(j->b, NULL);
	if (rc) {
		for (push_job *j = jobs; j; j = j->next) {
			/* a push refused on its own keeps its own error; every other gets the group's */
			if (!j->rc) {
				j->rc = rc;
				j->err = *err;
			}
		}
	}
	pthread_mutex_lock(&lg->mu);
	lg->writing = 0; /* the pushers answered now may send their next push before this thread sleeps */
	/* other servers' commits may have moved the head further already (PostgreSQL) */
	if (!rc && new_head > lg->head)
		lg->head = new_head;
	for (push_job *j = jobs; j; j = j->next) {
		if (!j->rc && j->last_seq)
			note_db_head(lg, j->b->db, j->last_seq);
		if (!j->rc) {
			/* this commit's head: a later one of another server must not skip changes between */
			j->res->cursor = new_head;
			atomic_fetch_add(&lg->stats.mutations_applied, (long long)j->res->applied);
			atomic_fetch_add(&lg->stats.mutations_duplicate, (long long)j->res->duplicates);
			atomic_fetch_add(&lg->stats.conflicts, (long long)j->res->conflicts);
		}
	}
	/* jobs live on their pushers' stacks: detach the list before waking them; asynchronous
	 * ones are the writer's to finish, after the lock */
	push_job *async = NULL;
	for (push_job *j = jobs, *next; j; j = next) {
		next = j->next;
		if (j->done_fn) {
			j->next = async;
			async = j;
		} else {
			j->done = 1;
		}
	}
	pthread_cond_broadcast(&lg->done);
	pthread_cond_broadcast(&lg->changed);
	pthread_mutex_unlock(&lg->mu);
	for (push_job *j = async, *next; j; j = next) {
		next = j->next;
		atomic_fetch_add(&lg->stats.pushes, 1);
		j->done_fn(j->done_ctx, j->rc, &j->err);
		free(j);
	}
}

void *ledger_writer_main(void *arg)
{
	pthread_setname_np(pthread_self(), "idb-writer");
	ledger *lg = arg;
	pthread_mutex_lock(&lg->mu);
	for (;;) {
		while (!lg->queue && !lg->stop) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&lg->work, &lg->mu, &ts);
			if (!lg->queue && hlc_wall_ms() - lg->last_gc_ms >= lg->o.gc_interval_ms)
				break;
		}
		if (!lg->queue && lg->stop)
			break;
		if (lg->queue && !lg->queue->b) {
			/* a GC request (ledger_gc_now) runs on its own */
			push_job *g = lg->queue;
			lg->queue = g->next;
			if (!lg->queue)
				lg->queue_tail = NULL;
			pthread_mutex_unlock(&lg->mu);
			ledger_flush_notes(lg);
			g->rc = ledger_gc_run(lg, &g->err);
			pthread_mutex_lock(&lg->mu);
			g->done = 1;
			pthread_cond_broadcast(&lg->done);
			continue;
		}
		/* take a bounded group so one commit never grows without limit */
		push_job *head = lg->queue, *tail = head;
		size_t muts = head ? head->b->n : 0;
		while (tail && tail->next && tail->next->b && muts + tail->next->b->n <= lg->o.group_max_mutations) {
			tail = tail->next;
			muts += tail->b->n;
		}
		lg->writing = 1;
		if (head) {
			lg->queue = tail->next;
			if (!lg->queue)
				lg->queue_tail = NULL;
			tail->next = NULL;
		}
		pthread_mutex_unlock(&lg->mu);
		if (head && lg->pg)
			ledger_pg_run_group(lg, head);
		else if (head)
			run_group(lg, head);
		ledger_ckpt_writer(lg); /* after the answers (checkpoint.c) */
		if (hlc_wall_ms() - lg->last_gc_ms >= lg->o.gc_interval_ms) {
			lg->last_gc_ms = hlc_wall_ms();
			ledger_flush_notes(lg);
			ledger_gc_run(lg, NULL);
			malloc_trim(0); /* hand memory freed by finished connections back to the OS */
		}
		pthread_mutex_lock(&lg->mu);
		lg->writing = 0;
	}
	pthread_mutex_unlock(&lg->mu);
	return NULL;
}

int ledger_push_idle(ledger *lg)
{
	if (lg->pg)
		return 0;
	pthread_mutex_lock(&lg->mu);
	int idle = !lg->queue && !lg->writing && !lg->stop;
	pthread_mutex_unlock(&lg->mu);
	return idle;
}

int64_t ledger_head(ledger *lg)
{
	pthread_mutex_lock(&lg->mu);
	int64_t h = lg->head;
	pthread_mutex_unlock(&lg->mu);
	return h;
}

int64_t ledger_read_gen(ledger *lg)
{
	return atomic_load(&lg->read_gen);
}

int64_t ledger_head_fresh(ledger *lg)
{
	return lg->pg ? ledger_pg_head_fresh(lg) : ledger_head(lg);
}

int ledger_wait(ledger *lg, int64_t after, int timeout_ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&lg->mu);
	while (lg->head <= after && !lg->stop && !lg->closing) {
		if (pthread_cond_timedwait(&lg->changed, &lg->mu, &ts))
			break;
	}
	int moved = lg->head > after;
	pthread_mutex_unlock(&lg->mu);
	return moved;
}

void ledger_wake_all(ledger *lg)
{
	pthread_mutex_lock(&lg->mu);
	lg->closing = 1;
	pthread_cond_broadcast(&lg->changed);
	pthread_mutex_unlock(&lg->mu);
}
