/* The writer thread and group commit: pushes queue up while a commit is in flight, then the
 * next transaction applies all of them and pays for one fsync. A push returns only after its
 * transaction is durable. Each push runs in a savepoint so a failing push (403) rolls back
 * alone. */
#include "ledger_int.h"

#include <malloc.h>
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
static int enqueue(ledger *s, push_job *job, ids_error *err)
{
	if (s->stop)
		return ids_fail(err, IDS_EIO, "server is shutting down");
	job->t_queued = ledger_mono_us();
	if (job->b && job->b->stream)
		atomic_fetch_add(&s->stats.pushes_streamed, 1);
	if (s->queue_tail)
		s->queue_tail->next = job;
	else
		s->queue = job;
	s->queue_tail = job;
	pthread_cond_signal(&s->work);
	return 0;
}

int ledger_push_async(ledger *s, ids_batch *b, ledger_push_result *res, ledger_push_done_fn done, void *ctx,
		     ids_error *err)
{
	push_job *job = calloc(1, sizeof *job);
	if (!job)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	job->b = b;
	job->res = res;
	job->done_fn = done;
	job->done_ctx = ctx;
	pthread_mutex_lock(&s->mu);
	int rc = enqueue(s, job, err);
	pthread_mutex_unlock(&s->mu);
	if (rc)
		free(job);
	return rc;
}

int ledger_push(ledger *s, ids_batch *b, ledger_push_result *res, ids_error *err)
{
	push_job job = {0};
	job.b = b;
	job.res = res;
	pthread_mutex_lock(&s->mu);
	int rc = enqueue(s, &job, err);
	if (rc) {
		pthread_mutex_unlock(&s->mu);
		return rc;
	}
	while (!job.done)
		pthread_cond_wait(&s->done, &s->mu);
	pthread_mutex_unlock(&s->mu);
	if (b)
		atomic_fetch_add(&s->stats.pushes, 1);
	if (job.rc && err)
		*err = job.err;
	return job.rc;
}

void ledger_record_commit(ledger *s, int64_t us)
{
	atomic_fetch_add(&s->stats.commits, 1);
	atomic_fetch_add(&s->stats.commit_us_sum, us);
	double sec = (double)us / 1e6;
	int b = 0;
	while (b < LEDGER_COMMIT_BUCKETS - 1 && sec > ledger_commit_bounds[b])
		b++;
	atomic_fetch_add(&s->stats.commit_bucket[b], 1);
}

/* One statement of the commit path, checked; the tests' fault hook (ledger_int.h) can make
 * the nth run of a named step fail, as a full disk or a broken file would. */
static int step(ledger *s, const char *name, const char *sql, ids_error *err)
{
	if (s->fault_step && !strcmp(s->fault_step, name) && --s->fault_countdown == 0)
		return ids_fail(err, IDS_EIO, "%s: injected failure (test)", name);
	return ledger_exec(s->w, sql, err);
}

static int set_head(ledger *s, ids_error *err)
{
	if (s->fault_step && !strcmp(s->fault_step, "head") && --s->fault_countdown == 0)
		return ids_fail(err, IDS_EIO, "head: injected failure (test)");
	sqlite3_stmt *q = NULL;
	int rc = sqlite3_prepare_v2(s->w, "UPDATE meta SET v=?1 WHERE k='head'", -1, &q, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_bind_int64(q, 1, s->next_seq - 1)) == SQLITE_OK)
		rc = sqlite3_step(q);
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? 0 : ledger_sql_err(s, s->w, rc, err, "update the head");
}

static unsigned db_bucket(const char *db)
{
	unsigned h = 2166136261u; /* FNV-1a */
	for (const unsigned char *p = (const unsigned char *)db; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h % DB_HEAD_BUCKETS;
}

/* Under mu. Out of memory leaves the db unnoted: ledger_db_head then answers the head. */
static void note_db_head(ledger *s, const char *db, int64_t seq)
{
	db_head **b = &s->db_heads[db_bucket(db)];
	for (db_head *d = *b; d; d = d->next)
		if (!strcmp(d->name, db)) {
			d->seq = seq;
			return;
		}
	size_t n = strlen(db) + 1;
	db_head *d = malloc(sizeof *d + n);
	if (!d) {
		s->open_head = seq; /* conservative: every unnoted db may have changed up to here */
		return;
	}
	memcpy(d->name, db, n);
	d->seq = seq;
	d->next = *b;
	*b = d;
}

int64_t ledger_db_head(ledger *s, const char *db)
{
	pthread_mutex_lock(&s->mu);
	/* PostgreSQL: other servers' commits come as one head (NOTIFY), not per database, so every
	 * database may have changed up to it (parked requests re-pull, a one-statement pull) */
	int64_t h = s->pg ? s->head : s->open_head;
	for (db_head *d = s->db_heads[db_bucket(db)]; d; d = d->next)
		if (!strcmp(d->name, db)) {
			h = d->seq;
			break;
		}
	pthread_mutex_unlock(&s->mu);
	return h;
}

/* Every step is checked: a savepoint, rollback-to or release that fails leaves the transaction
 * in a state nobody can vouch for, so the whole group is rolled back and every job of it gets
 * the error (their pushers retry); nothing partial is ever committed. */
static void run_group(ledger *s, push_job *jobs)
{
	ids_error err = IDS_ERROR_INIT;
	int64_t seq0 = s->next_seq, t_start = ledger_mono_us();
	for (push_job *j = jobs; j; j = j->next)
		atomic_fetch_add(&s->stats.push_queue_us, t_start - j->t_queued);
	int rc = step(s, "begin", "BEGIN IMMEDIATE", &err), open = !rc;
	for (push_job *j = jobs; j && !rc; j = j->next) {
		int64_t seq_before = s->next_seq;
		if ((rc = step(s, "savepoint", "SAVEPOINT job", &err)))
			break;
		j->rc = ledger_apply_batch(s, j->b, j->res, &j->err);
		j->last_seq = s->next_seq != seq_before ? s->next_seq - 1 : 0;
		if (j->rc) {
			/* this push alone is refused (403, ...): its writes go, the group's stay */
			if ((rc = step(s, "rollback_to", "ROLLBACK TO job", &err)))
				break;
			s->next_seq = seq_before;
			ledger_fields_reset(s);
		}
		rc = step(s, "release", "RELEASE job", &err);
	}
	if (!rc && s->next_seq != seq0)
		rc = set_head(s, &err);
	if (!rc) {
		int64_t t0 = ledger_mono_us();
		atomic_fetch_add(&s->stats.push_apply_us, t0 - t_start);
		rc = step(s, "commit", "COMMIT", &err);
		ledger_record_commit(s, ledger_mono_us() - t0);
		if (rc && !s->fault_step)
			ledger_sql_err(s, s->w, sqlite3_extended_errcode(s->w), &err, "commit");
		if (rc)
			rc = err.code ? err.code : IDS_EIO;
	}
	if (rc) {
		if (open)
			ledger_exec(s->w, "ROLLBACK", NULL);
		s->next_seq = seq0;
		ledger_fields_reset(s); /* the cache may name fields the rolled-back commit added */
	}
	ledger_group_done(s, jobs, s->next_seq - 1, rc, &err);
}

void ledger_group_done(ledger *s, push_job *jobs, int64_t new_head, int rc, const ids_error *err)
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
	pthread_mutex_lock(&s->mu);
	s->writing = 0; /* the pushers answered now may send their next push before this thread sleeps */
	/* other servers' commits may have moved the head further already (PostgreSQL) */
	if (!rc && new_head > s->head)
		s->head = new_head;
	for (push_job *j = jobs; j; j = j->next) {
		if (!j->rc && j->last_seq)
			note_db_head(s, j->b->db, j->last_seq);
		if (!j->rc) {
			/* this commit's head: a later one of another server must not skip changes between */
			j->res->cursor = new_head;
			atomic_fetch_add(&s->stats.mutations_applied, (long long)j->res->applied);
			atomic_fetch_add(&s->stats.mutations_duplicate, (long long)j->res->duplicates);
			atomic_fetch_add(&s->stats.conflicts, (long long)j->res->conflicts);
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
	pthread_cond_broadcast(&s->done);
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->mu);
	for (push_job *j = async, *next; j; j = next) {
		next = j->next;
		atomic_fetch_add(&s->stats.pushes, 1);
		j->done_fn(j->done_ctx, j->rc, &j->err);
		free(j);
	}
}

void *ledger_writer_main(void *arg)
{
	ledger *s = arg;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->queue && !s->stop) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&s->work, &s->mu, &ts);
			if (!s->queue && hlc_wall_ms() - s->last_gc_ms >= s->o.gc_interval_ms)
				break;
		}
		if (!s->queue && s->stop)
			break;
		if (s->queue && !s->queue->b) {
			/* a GC request (ledger_gc_now) runs on its own */
			push_job *g = s->queue;
			s->queue = g->next;
			if (!s->queue)
				s->queue_tail = NULL;
			pthread_mutex_unlock(&s->mu);
			ledger_flush_notes(s);
			g->rc = ledger_gc_run(s, &g->err);
			pthread_mutex_lock(&s->mu);
			g->done = 1;
			pthread_cond_broadcast(&s->done);
			continue;
		}
		/* take a bounded group so one commit never grows without limit */
		push_job *head = s->queue, *tail = head;
		size_t muts = head ? head->b->n : 0;
		while (tail && tail->next && tail->next->b && muts + tail->next->b->n <= s->o.group_max_mutations) {
			tail = tail->next;
			muts += tail->b->n;
		}
		s->writing = 1;
		if (head) {
			s->queue = tail->next;
			if (!s->queue)
				s->queue_tail = NULL;
			tail->next = NULL;
		}
		pthread_mutex_unlock(&s->mu);
		if (head && s->pg)
			ledger_pg_run_group(s, head);
		else if (head)
			run_group(s, head);
		if (hlc_wall_ms() - s->last_gc_ms >= s->o.gc_interval_ms) {
			s->last_gc_ms = hlc_wall_ms();
			ledger_flush_notes(s);
			ledger_gc_run(s, NULL);
			malloc_trim(0); /* hand memory freed by finished connections back to the OS */
		}
		pthread_mutex_lock(&s->mu);
		s->writing = 0;
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

int ledger_push_idle(ledger *s)
{
	if (s->pg)
		return 0;
	pthread_mutex_lock(&s->mu);
	int idle = !s->queue && !s->writing && !s->stop;
	pthread_mutex_unlock(&s->mu);
	return idle;
}

int64_t ledger_head(ledger *s)
{
	pthread_mutex_lock(&s->mu);
	int64_t h = s->head;
	pthread_mutex_unlock(&s->mu);
	return h;
}

int64_t ledger_read_gen(ledger *s)
{
	return atomic_load(&s->read_gen);
}

int64_t ledger_head_fresh(ledger *s)
{
	return s->pg ? ledger_pg_head_fresh(s) : ledger_head(s);
}

int ledger_wait(ledger *s, int64_t after, int timeout_ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&s->mu);
	while (s->head <= after && !s->stop && !s->closing) {
		if (pthread_cond_timedwait(&s->changed, &s->mu, &ts))
			break;
	}
	int moved = s->head > after;
	pthread_mutex_unlock(&s->mu);
	return moved;
}

void ledger_wake_all(ledger *s)
{
	pthread_mutex_lock(&s->mu);
	s->closing = 1;
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->mu);
}
