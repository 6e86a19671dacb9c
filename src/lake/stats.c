/* Row counts of a database's lake tables as an engine sees them: the files it would list
 * (names starting with '_' or '.' skipped, like Hive, Impala, Drill, Spark) and the row counts
 * in their footers. Read from disk, not from the flush thread's state: it is what a query
 * would find right now. A file swapped away between the listing and its open is skipped. */
#include "lake_int.h"

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
		char p[4400];
		snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
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
	char meta[4096];
	lk_db_meta(l, db, meta, sizeof meta);
	ids_buf_puts(out, "{\"tables\":[");
	DIR *d = opendir(meta);
	int first = 1;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (n < 6 || strcmp(e->d_name + n - 5, ".json"))
			continue;
		char p[4400];
		snprintf(p, sizeof p, "%s/%s", meta, e->d_name);
		json_t *j = json_load_file(p, 0, NULL);
		const char *store = json_string_value(json_object_get(j, "store"));
		const char *table = json_string_value(json_object_get(j, "table"));
		if (store && table) {
			int64_t rows = 0, files = 0, crows = 0, cfiles = 0;
			char dir[4400];
			snprintf(dir, sizeof dir, "%s/%s/%s", l->dir, db, table);
			count_dir(dir, 0, &rows, &files);
			snprintf(dir, sizeof dir, "%s/%s/%s_changes", l->dir, db, table);
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
