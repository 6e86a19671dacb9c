/* The lake writer's life cycle: options, open (recovery of a crashed flush), the flush thread
 * (every flush_interval_ms when the store head moved, or at once on lake_flush), durable
 * progress in DIR/_idbsync/progress.json, pruning of the store's change log, and metrics.
 * One flush = rounds of change log and conflicts, each recorded at once, and a pass over the
 * touched current-state buckets whenever it is due (state_due). */
#include "iceberg.h"
#include "lake_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#define PRUNE_EVERY_MS 5000

static int parse_ms(const char *v, int64_t *out)
{
	char *end;
	errno = 0;
	double x = strtod(v, &end);
	if (end == v || errno || x < 0)
		return -1;
	if (!strcmp(end, "s"))
		x *= 1000;
	else if (*end && strcmp(end, "ms"))
		return -1;
	*out = (int64_t)x;
	return 0;
}

static int parse_bytes(const char *v, int64_t *out)
{
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	if (end == v || errno || x <= 0)
		return -1;
	if (!strcasecmp(end, "k") || !strcasecmp(end, "KiB")) x <<= 10;
	else if (!strcasecmp(end, "m") || !strcasecmp(end, "MiB")) x <<= 20;
	else if (!strcasecmp(end, "g") || !strcasecmp(end, "GiB")) x <<= 30;
	else if (*end) return -1;
	*out = x;
	return 0;
}

int lake_option(lake_options *o, const char *flag, const char *value, ids_error *err)
{
	if (!strcmp(flag, "--lake-profile")) {
		if (!strcmp(value, "compat")) o->profile = PQ_PROFILE_COMPAT;
		else if (!strcmp(value, "modern")) o->profile = PQ_PROFILE_MODERN;
		else return ids_fail(err, IDS_EINVAL, "expected compat or modern");
	} else if (!strcmp(flag, "--flush-interval")) {
		if (parse_ms(value, &o->flush_interval_ms) || o->flush_interval_ms < 1)
			return ids_fail(err, IDS_EINVAL, "expected a duration like 1s, 250ms or 500 (ms)");
	} else if (!strcmp(flag, "--on-flush")) {
		o->on_flush = value;
	} else if (!strcmp(flag, "--drill-url")) {
		o->drill_url = value;
	} else if (!strcmp(flag, "--drill-workspace")) {
		o->drill_workspace = value;
	} else if (!strcmp(flag, "--lake-config")) {
		o->config_file = value;
	} else if (!strcmp(flag, "--lake-nested")) {
		if (!strcmp(value, "auto")) o->nested = 0;
		else if (!strcmp(value, "struct")) o->nested = LK_NESTED_STRUCT;
		else if (!strcmp(value, "json")) o->nested = LK_NESTED_JSON;
		else return ids_fail(err, IDS_EINVAL, "expected auto, struct or json");
	} else if (!strcmp(flag, "--lake-bucket-bytes")) {
		if (parse_bytes(value, &o->bucket_bytes))
			return ids_fail(err, IDS_EINVAL, "expected a size like 134217728, 128M or 64k");
	} else if (!strcmp(flag, "--lake-retry-max")) {
		char *end;
		long n = strtol(value, &end, 10);
		if (*end || end == value || n < 1 || n > 1000)
			return ids_fail(err, IDS_EINVAL, "expected a number of attempts from 1 to 1000");
		o->retry_max = (int)n;
	} else if (!strcmp(flag, "--lake-retry-base")) {
		if (parse_ms(value, &o->retry_base_ms) || o->retry_base_ms < 1)
			return ids_fail(err, IDS_EINVAL, "expected a duration like 1s, 250ms or 500 (ms)");
	} else if (!strcmp(flag, "--lake-format")) {
		if (!strcmp(value, "hive")) o->format = LK_FORMAT_HIVE;
		else if (!strcmp(value, "iceberg")) o->format = LK_FORMAT_ICEBERG;
		else return ids_fail(err, IDS_EINVAL, "expected hive or iceberg");
	} else if (!strcmp(flag, "--iceberg-keep")) {
		if (parse_ms(value, &o->iceberg_keep_ms))
			return ids_fail(err, IDS_EINVAL, "expected a duration like 10min as 600s, or 0 (keep every snapshot)");
		if (!o->iceberg_keep_ms)
			o->iceberg_keep_ms = -1;
	} else if (!strcmp(flag, "--lake-partition")) {
		if (!strchr(value, '=') || o->n_partition == (int)(sizeof o->partition / sizeof o->partition[0]))
			return ids_fail(err, IDS_EINVAL, "expected [DB/]STORE=FIELD (at most 16)");
		o->partition[o->n_partition++] = value;
	} else {
		return 0;
	}
	return 1;
}

const char *lake_usage(void)
{
	return "lake (Parquet) options:\n"
	       "  --lake-profile compat|modern  compat: Hive 2+/Impala 3+/Drill; modern: Trino/Spark/DuckDB [compat]\n"
	       "  --lake-format hive|iceberg  iceberg: also Apache Iceberg v2 tables in DIR/_iceberg [hive]\n"
	       "  --iceberg-keep DUR        Iceberg snapshots kept for time travel and running queries; 0: all [600s]\n"
	       "  --flush-interval DUR      how often new changes land in the lake (1s, 250ms) [1s]\n"
	       "  --lake-nested auto|struct|json  nested objects as STRUCT or JSON text [auto: by profile]\n"
	       "  --lake-partition [DB/]STORE=FIELD  Hive-style partitioning of a store's current state\n"
	       "  --lake-bucket-bytes SIZE  target size of one current-state file before doubling [128M]\n"
	       "  --lake-config FILE        JSON: {\"stores\":{\"[db/]store\":{\"partition_by\":F,\"bucket_bytes\":N}}}\n"
	       "  --lake-retry-max N        attempts before a failing table or row is quarantined [10]\n"
	       "  --lake-retry-base DUR     wait before the first retry, doubled each time up to 5 min [1s]\n"
	       "  --on-flush 'COMMAND'      run after each flush per touched table (env IDBSYNC_TABLE, ...)\n"
	       "  --drill-url URL           send REFRESH TABLE METADATA to Drill's REST API after flushes\n"
	       "  --drill-workspace WS      the Drill workspace the lake is mounted as [dfs.lake]\n";
}

static int add_cfg(lake *l, const char *match, const char *part, int64_t bytes, ids_error *err)
{
	lk_store_cfg *c = realloc(l->cfg, (l->n_cfg + 1) * sizeof *c);
	if (!c)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	l->cfg = c;
	c[l->n_cfg].match = strdup(match);
	c[l->n_cfg].partition_by = part ? strdup(part) : NULL;
	c[l->n_cfg].bucket_bytes = bytes;
	l->n_cfg++;
	return 0;
}

static int load_config(lake *l, const char *path, ids_error *err)
{
	json_error_t je;
	json_t *j = json_load_file(path, 0, &je);
	if (!j)
		return ids_fail(err, IDS_EINVAL, "%s:%d:%d: %s", path, je.line, je.column, je.text);
	int rc = 0;
	json_t *x;
	if ((x = json_object_get(j, "profile")) && json_is_string(x))
		l->profile = !strcmp(json_string_value(x), "modern") ? PQ_PROFILE_MODERN : PQ_PROFILE_COMPAT;
	if ((x = json_object_get(j, "nested")) && json_is_string(x))
		l->nested = !strcmp(json_string_value(x), "struct") ? LK_NESTED_STRUCT : LK_NESTED_JSON;
	if ((x = json_object_get(j, "bucket_bytes")) && json_is_integer(x) && json_integer_value(x) > 0)
		l->bucket_bytes = json_integer_value(x);
	if ((x = json_object_get(j, "flush_interval_ms")) && json_is_integer(x) && json_integer_value(x) > 0)
		l->o.flush_interval_ms = json_integer_value(x);
	json_t *stores = json_object_get(j, "stores");
	const char *k;
	json_t *v;
	json_object_foreach(stores, k, v)
	{
		json_t *p = json_object_get(v, "partition_by");
		json_t *b = json_object_get(v, "bucket_bytes");
		if ((p && !json_is_string(p)) || (b && !json_is_integer(b))) {
			rc = ids_fail(err, IDS_EINVAL, "%s: stores.%s: partition_by must be a string, bucket_bytes an integer",
				      path, k);
			break;
		}
		if ((rc = add_cfg(l, k, p ? json_string_value(p) : NULL, b ? json_integer_value(b) : 0, err)))
			break;
	}
	json_decref(j);
	return rc;
}

static int read_progress(lake *l, int *fresh, ids_error *err)
{
	char p[4200];
	snprintf(p, sizeof p, "%s/_idbsync/progress.json", l->dir);
	ids_buf b = IDS_BUF_INIT;
	int rc = lk_read_file(p, &b, 1 << 20, err);
	*fresh = rc == IDS_ENOTFOUND;
	if (rc) {
		ids_buf_free(&b);
		return *fresh ? 0 : rc;
	}
	json_t *j = json_loadb(b.data, b.len, 0, NULL);
	ids_buf_free(&b);
	if (!j)
		return ids_fail(err, IDS_ECORRUPT, "%s: not JSON", p);
	l->changes_seq = json_integer_value(json_object_get(j, "changes_seq"));
	json_t *ss = json_object_get(j, "state_seq");   /* absent before format 2: state == log */
	l->state_seq = ss ? json_integer_value(ss) : l->changes_seq;
	if (l->state_seq > l->changes_seq)
		l->state_seq = l->changes_seq;
	l->conflicts_id = json_integer_value(json_object_get(j, "conflicts_id"));
	rc = lk_hold_from_json(l, j, err);
	const char *prof = json_string_value(json_object_get(j, "profile"));
	int want = l->profile == PQ_PROFILE_MODERN;
	if (!rc && prof && strcmp(prof, want ? "modern" : "compat"))
		rc = ids_fail(err, IDS_EINVAL, "%s was written with --lake-profile %s; use it again or a new lake dir", l->dir,
			      prof);
	/* Iceberg tables must hold every change from the start: no switching of an existing lake */
	const char *fmt = json_string_value(json_object_get(j, "lake_format"));
	const char *want_fmt = l->o.format == LK_FORMAT_ICEBERG ? "iceberg" : "hive";
	if (!rc && strcmp(fmt ? fmt : "hive", want_fmt))
		rc = ids_fail(err, IDS_EINVAL, "%s was written with --lake-format %s; use it again or a new lake dir", l->dir,
			      fmt ? fmt : "hive");
	json_decref(j);
	return rc;
}

/* Progress and the held tables and quarantined changes it goes with, in one atomic write:
 * a change left out of the change log is never recorded as written without its entry. */
static int write_progress(lake *l, int64_t changes, int64_t state, int64_t conflicts, ids_error *err)
{
	char p[4200];
	snprintf(p, sizeof p, "%s/_idbsync/progress.json", l->dir);
	/* the Iceberg tables commit first: everything progress.json records is in them */
	int rc = lk_ice_commit(l, changes, state, conflicts, err);
	if (rc)
		return rc;
	json_t *j = lk_hold_to_json(l);
	if (l->ice)
		json_object_set_new(j, "lake_format", json_string("iceberg"));
	json_object_set_new(j, "format", json_integer(2));
	json_object_set_new(j, "changes_seq", json_integer(changes));
	json_object_set_new(j, "state_seq", json_integer(state));
	json_object_set_new(j, "conflicts_id", json_integer(conflicts));
	json_object_set_new(j, "profile", json_string(l->profile == PQ_PROFILE_MODERN ? "modern" : "compat"));
	json_object_set_new(j, "nested", json_string(l->nested == LK_NESTED_STRUCT ? "struct" : "json"));
	json_object_set_new(j, "updated_ms", json_integer(lk_now_ms()));
	char *body = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!body)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	size_t n = strlen(body);
	body[n] = '\n';   /* json_dumps leaves room for its NUL: the newline takes it */
	rc = lk_write_file(p, body, n + 1, err);
	free(body);
	if (!rc && l->hold_changed) {
		l->hold_changed = 0;
		lk_hold_publish(l);
	}
	return rc;
}

/* On a fresh lake every existing store is built from its rows (the change log may have been
 * pruned by an earlier lake, so only rows are complete). */
static int adopt_stores(lake *l, ids_error *err)
{
	ids_buf dbs = IDS_BUF_INIT, sts = IDS_BUF_INIT;
	int rc = store_names_json(l->st, NULL, &dbs, err);
	json_t *jd = rc ? NULL : json_loadb(dbs.data, dbs.len, 0, NULL);
	size_t i;
	json_t *d;
	json_array_foreach(jd, i, d)
	{
		ids_buf_reset(&sts);
		if (rc || (rc = store_names_json(l->st, json_string_value(d), &sts, err)))
			break;
		json_t *js = json_loadb(sts.data, sts.len, 0, NULL);
		size_t k;
		json_t *s;
		json_array_foreach(js, k, s)
		{
			lk_table *t;
			if (!rc && !(rc = lk_table_get(l, json_string_value(d), json_string_value(s), &t, err))) {
				t->rebuild = 1;
				t->touched = 1;
			}
		}
		json_decref(js);
	}
	json_decref(jd);
	ids_buf_free(&dbs);
	ids_buf_free(&sts);
	return rc;
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
		rc = write_progress(l, done, l->state_seq, cdone, err);
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

/* Rebuilds the touched state buckets of every table, then records state_seq. */
static int state_pass(lake *l, ids_error *err)
{
	int64_t t0 = lk_now_ms(), upto = l->changes_seq;
	int rc = 0;
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
		rc = write_progress(l, l->changes_seq, upto, l->conflicts_id, err);
	if (rc)
		return rc;
	l->state_seq = upto;
	for (lk_table *t = l->tables; t; t = t->next) {
		if (t->state_held)
			continue;   /* its touched keys and dirty buckets wait with it */
		t->touched = 0;
		for (size_t i = 0; i < t->n_tkeys; i++)
			free(t->tkeys[i]);
		t->n_tkeys = 0;
	}
	l->state_end_ms = lk_now_ms();
	l->state_cost_ms = l->state_end_ms - t0;
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
		fprintf(stderr, "idbsync: lake compaction failed (will retry): %s\n", err.msg);
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
		rc = write_progress(l, l->changes_seq, l->state_seq, l->conflicts_id, &err);
	if (asked && !rc)
		lk_hold_request_done(l);
	while (more && !rc && !lk_out_of_time(l)) {
		rc = log_round(l, &more, &err);
		if (!rc && state_due(l, more) && !lk_out_of_time(l))
			rc = state_pass(l, &err);
	}
	if (!rc && !atomic_load(&l->stop_by_ms))
		compact(l);
	int64_t t1 = lk_now_ms();
	atomic_fetch_add(&l->m_flush_us, (t1 - t0) * 1000);
	if (rc) {
		atomic_fetch_add(&l->m_flush_errors, 1);
		fprintf(stderr, "idbsync: lake flush failed (will retry): %s\n", err.msg);
		/* files past the recorded progress would be written again under other names */
		lk_log_cleanup(l, NULL);
		for (lk_table *t = l->tables; t; t = t->next)
			t->k = -1; /* re-read the dir state */
	} else {
		atomic_fetch_add(&l->m_flushes, 1);
		static __thread int64_t last_prune;
		if (t1 - last_prune >= PRUNE_EVERY_MS) {
			ids_error perr = IDS_ERROR_INIT;
			/* a crash before the next state pass needs the changes after state_seq */
			int64_t floor = lk_hold_floor(l);
			if (store_changes_prune(l->st, floor < l->state_seq ? floor : l->state_seq, &perr))
				fprintf(stderr, "idbsync: lake: prune of the change log failed: %s\n", perr.msg);
			last_prune = t1;
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
	lake *l = arg;
	int failures = 0;
	pthread_mutex_lock(&l->mu);
	while (!l->stop) {
		int64_t now = lk_now_ms();
		int64_t head = store_head(l->st);
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
		if (!pending && !failures && lk_compact_wanted(l)) {
			/* small files left when the writes stopped are merged while idle too */
			pthread_mutex_unlock(&l->mu);
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
	if (store_head(l->st) > l->flushed && !failures) {
		l->want = store_head(l->st);
		do_flush(l);
	}
	return NULL;
}

int lake_open(lake **out, store *st, const lake_options *o, ids_error *err)
{
	*out = NULL;
	lake *l = calloc(1, sizeof *l);
	if (!l)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	l->o = *o;
	l->st = st;
	l->dir = strdup(o->dir ? o->dir : "./lake");
	l->profile = o->profile;
	l->bucket_bytes = o->bucket_bytes > 0 ? o->bucket_bytes : (int64_t)128 << 20;
	l->max_bucket_bits = LK_MAX_BUCKET_BITS;
	l->drill_ws = strdup(o->drill_workspace ? o->drill_workspace : "dfs.lake");
	/* the tests' way to make the writer refuse a row, as a bug in a conversion would */
	const char *refuse = getenv("IDBSYNC_TEST_LAKE_REFUSE");
	l->refuse = refuse && *refuse ? strdup(refuse) : NULL;
	if (l->o.flush_interval_ms <= 0)
		l->o.flush_interval_ms = 1000;
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->wake, NULL);
	pthread_cond_init(&l->done, NULL);
	pthread_mutex_init(&l->nmu, NULL);
	pthread_cond_init(&l->nwake, NULL);
	int rc = 0;
	if (o->config_file)
		rc = load_config(l, o->config_file, err);
	l->nested = o->nested ? o->nested : l->nested;
	if (!l->nested)
		l->nested = l->profile == PQ_PROFILE_MODERN ? LK_NESTED_STRUCT : LK_NESTED_JSON;
	for (int i = 0; !rc && i < o->n_partition; i++) {
		char m[600];
		const char *eq = strchr(o->partition[i], '=');
		snprintf(m, sizeof m, "%.*s", (int)(eq - o->partition[i]), o->partition[i]);
		rc = add_cfg(l, m, eq + 1, 0, err);
	}
	char meta[4200];
	snprintf(meta, sizeof meta, "%s/_idbsync", l->dir);
	if (!rc)
		rc = lk_mkdirs(meta, err);
	if (!rc) {
		/* one writer per lake: a second server would interleave files */
		char lock[4300];
		snprintf(lock, sizeof lock, "%s/lock", meta);
		int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB)) {
			if (fd >= 0)
				close(fd);
			rc = ids_fail(err, IDS_EIO, "%s is in use by another idbsync (lock %s)", l->dir, lock);
		}
		/* the descriptor stays open for the life of the process: the lock is ours */
	}
	int fresh = 0;
	if (!rc)
		rc = read_progress(l, &fresh, err);
	if (!rc)
		rc = lk_ice_open(l, err);
	if (!rc)
		rc = lk_log_cleanup(l, err);   /* also takes unrecorded files back out of Iceberg */
	if (!rc && fresh)
		rc = adopt_stores(l, err);
	if (!rc && fresh)
		rc = write_progress(l, 0, 0, 0, err);
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

void lake_metrics(lake *l, ids_buf *out)
{
	if (!l)
		return;
	pthread_mutex_lock(&l->mu);
	int64_t flushed = l->flushed, logged = l->log_flushed, last = l->last_flush_ms;
	pthread_mutex_unlock(&l->mu);
	pthread_mutex_lock(&l->nmu);
	int pending = l->nq_len;
	pthread_mutex_unlock(&l->nmu);
	int64_t head = store_head(l->st);
	ids_buf_printf(out,
		       "# HELP idbsync_lake_flushes_total Completed lake flushes.\n# TYPE idbsync_lake_flushes_total counter\n"
		       "idbsync_lake_flushes_total %lld\n"
		       "# TYPE idbsync_lake_flush_errors_total counter\nidbsync_lake_flush_errors_total %lld\n"
		       "# TYPE idbsync_lake_flush_seconds_total counter\nidbsync_lake_flush_seconds_total %.6f\n"
		       "# HELP idbsync_lake_flushed_seq The lake reflects every change up to this seq.\n"
		       "# TYPE idbsync_lake_flushed_seq gauge\nidbsync_lake_flushed_seq %" PRId64 "\n"
		       "# TYPE idbsync_lake_lag_changes gauge\nidbsync_lake_lag_changes %" PRId64 "\n"
		       "# HELP idbsync_lake_changes_seq The change log holds every change up to this seq.\n"
		       "# TYPE idbsync_lake_changes_seq gauge\nidbsync_lake_changes_seq %" PRId64 "\n"
		       "# TYPE idbsync_lake_last_flush_timestamp_seconds gauge\n"
		       "idbsync_lake_last_flush_timestamp_seconds %.3f\n"
		       "# TYPE idbsync_lake_files_written_total counter\nidbsync_lake_files_written_total %lld\n"
		       "# TYPE idbsync_lake_rows_written_total counter\nidbsync_lake_rows_written_total %lld\n"
		       "# TYPE idbsync_lake_log_rows_total counter\nidbsync_lake_log_rows_total %lld\n"
		       "# TYPE idbsync_lake_table_rebuilds_total counter\nidbsync_lake_table_rebuilds_total %lld\n"
		       "# TYPE idbsync_lake_compactions_total counter\nidbsync_lake_compactions_total %lld\n"
		       "# HELP idbsync_lake_notify_total Engine notifications (--on-flush, --drill-url) by result.\n"
		       "# TYPE idbsync_lake_notify_total counter\n"
		       "idbsync_lake_notify_total{result=\"ok\"} %lld\nidbsync_lake_notify_total{result=\"failed\"} %lld\n"
		       "idbsync_lake_notify_total{result=\"retried\"} %lld\nidbsync_lake_notify_total{result=\"dropped\"} %lld\n"
		       "# TYPE idbsync_lake_notify_pending gauge\nidbsync_lake_notify_pending %d\n"
		       "# HELP idbsync_lake_held_tables Tables whose change log, conflicts or state wait for a retry.\n"
		       "# TYPE idbsync_lake_held_tables gauge\nidbsync_lake_held_tables %lld\n"
		       "# HELP idbsync_lake_held_changes Change-log rows the writer refused, waiting for a retry.\n"
		       "# TYPE idbsync_lake_held_changes gauge\nidbsync_lake_held_changes %lld\n"
		       "# HELP idbsync_lake_quarantined Held tables and changes whose retries are spent.\n"
		       "# TYPE idbsync_lake_quarantined gauge\nidbsync_lake_quarantined %lld\n"
		       "# TYPE idbsync_lake_retries_total counter\nidbsync_lake_retries_total{result=\"ok\"} %lld\n"
		       "idbsync_lake_retries_total{result=\"failed\"} %lld\n",
		       (long long)atomic_load(&l->m_flushes), (long long)atomic_load(&l->m_flush_errors),
		       (double)atomic_load(&l->m_flush_us) / 1e6, flushed, head > flushed ? head - flushed : 0, logged,
		       (double)last / 1000.0, (long long)atomic_load(&l->m_files), (long long)atomic_load(&l->m_rows),
		       (long long)atomic_load(&l->m_log_rows), (long long)atomic_load(&l->m_rebuilds),
		       (long long)atomic_load(&l->m_compactions), (long long)atomic_load(&l->m_notify_ok),
		       (long long)atomic_load(&l->m_notify_fail), (long long)atomic_load(&l->m_notify_retries),
		       (long long)atomic_load(&l->m_notify_dropped), pending, (long long)atomic_load(&l->m_held_tables),
		       (long long)atomic_load(&l->m_held_changes), (long long)atomic_load(&l->m_quarantined),
		       (long long)atomic_load(&l->m_retry_ok),
		       (long long)(atomic_load(&l->m_retries) - atomic_load(&l->m_retry_ok)));
	ids_buf_puts(out, "# HELP idbsync_lake_fallbacks_total Values written in a documented fallback form.\n"
			  "# TYPE idbsync_lake_fallbacks_total counter\n");
	for (int k = 0; k < LK_FB_N; k++)
		ids_buf_printf(out, "idbsync_lake_fallbacks_total{kind=\"%s\"} %lld\n", lk_fallback_names[k],
			       (long long)atomic_load(&l->m_fallbacks[k]));
}

int lake_health(lake *l, ids_buf *out)
{
	pthread_mutex_lock(&l->mu);
	int64_t flushed = l->flushed, logged = l->log_flushed;
	char last[sizeof l->last_err];
	memcpy(last, l->last_err, sizeof last);
	ids_buf_printf(out, "{\"flushed\":%" PRId64 ",\"changes\":%" PRId64 ",\"head\":%" PRId64 ",\"last_error\":", flushed,
		       logged, store_head(l->st));
	if (last[0])
		ids_buf_json_str(out, last, strlen(last));
	else
		ids_buf_puts(out, "null");
	const char *h = l->hold_json;
	if (h && h[0] == '{' && strlen(h) > 2) {
		ids_buf_putc(out, ',');
		ids_buf_puts(out, h + 1);   /* its members: "held":[..],"quarantine":[..]} */
	} else {
		ids_buf_putc(out, '}');
	}
	pthread_mutex_unlock(&l->mu);
	return last[0] || atomic_load(&l->m_held_tables) || atomic_load(&l->m_held_changes);
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
	ids_json_free(&l->vjson);
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->wake);
	pthread_cond_destroy(&l->done);
	pthread_mutex_destroy(&l->nmu);
	pthread_cond_destroy(&l->nwake);
	free(l);
}
