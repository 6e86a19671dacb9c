/* Row counts of a database's lake tables as an engine sees them: the files it would list
 * (names starting with '_' or '.' skipped, like Hive, Impala, Drill, Spark) and the row counts
 * in their footers. Read from disk, not from the flush thread's state: it is what a query
 * would find right now. A file swapped away between the listing and its open is skipped. */
#include "lake_int.h"

#include <inttypes.h>

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "idbsync/pq_read.h"

static void count_dir(const char *dir, int depth, int64_t *rows, int64_t *files)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || e->d_name[0] == '_')
			continue;
		char p[IDS_PATH_MAX + 1];
		ids_path(p, sizeof p, NULL, "%s/%s", dir, e->d_name);
		size_t n = strlen(e->d_name);
		struct stat st;
		if (stat(p, &st))
			continue;
		if (S_ISDIR(st.st_mode)) {
			if (depth < 4)   /* partition dirs (col=value), dt=DAY */
				count_dir(p, depth + 1, rows, files);
		} else if (n > 8 && !strcmp(e->d_name + n - 8, ".parquet")) {
			pq_reader *r = NULL;
			if (!pq_reader_open(&r, p, NULL, NULL)) {
				*rows += pq_reader_num_rows(r);
				(*files)++;
			}
			pq_reader_free(r);
		}
	}
	closedir(d);
}

int lake_db_stats(lake *l, const char *db, ids_buf *out, ids_error *err)
{
	char meta[IDS_PATH_MAX + 1];
	lk_db_meta(l, db, meta, sizeof meta);
	ids_buf_puts(out, "{\"tables\":[");
	DIR *d = opendir(meta);
	int first = 1;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (n < 6 || strcmp(e->d_name + n - 5, ".json"))
			continue;
		char p[IDS_PATH_MAX + 1];
		ids_path(p, sizeof p, NULL, "%s/%s", meta, e->d_name);
		json_t *j = json_load_file(p, 0, NULL);
		const char *store = json_string_value(json_object_get(j, "store"));
		const char *table = json_string_value(json_object_get(j, "table"));
		if (store && table) {
			int64_t rows = 0, files = 0, crows = 0, cfiles = 0;
			char dir[IDS_PATH_MAX + 1];
			ids_path(dir, sizeof dir, NULL, "%s/%s/%s", l->dir, db, table);
			count_dir(dir, 0, &rows, &files);
			ids_path(dir, sizeof dir, NULL, "%s/%s/%s_changes", l->dir, db, table);
			count_dir(dir, 0, &crows, &cfiles);
			ids_buf_puts(out, first ? "" : ",");
			first = 0;
			ids_buf_puts(out, "{\"store\":");
			ids_buf_json_str(out, store, strlen(store));
			ids_buf_puts(out, ",\"table\":");
			ids_buf_json_str(out, table, strlen(table));
			ids_buf_printf(out, ",\"rows\":%lld,\"files\":%lld,\"changes\":%lld,\"change_files\":%lld}",
				       (long long)rows, (long long)files, (long long)crows, (long long)cfiles);
		}
		json_decref(j);
	}
	if (d)
		closedir(d);
	pthread_mutex_lock(&l->mu);
	int64_t flushed = l->flushed;
	pthread_mutex_unlock(&l->mu);
	ids_buf_printf(out, "],\"flushed\":%lld}", (long long)flushed);
	return out->failed ? ids_fail(err, IDS_ENOMEM, "out of memory") : 0;
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
	int64_t head = ledger_head(l->lg);
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
	ids_buf_printf(out, "# HELP idbsync_lake_state_fed_rows_total Current-state rows whose delta file the change-log pass wrote.\n"
			    "# TYPE idbsync_lake_state_fed_rows_total counter\nidbsync_lake_state_fed_rows_total %lld\n",
		       (long long)atomic_load(&l->m_fed_rows));
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
		       logged, ledger_head(l->lg));
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

