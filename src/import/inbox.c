/* The inbox: engines drop Parquet under LAKE/<db>/_inbox/<store>/ (Hive INSERT OVERWRITE
 * DIRECTORY, Spark, DuckDB COPY). A scan imports each complete job once and moves its files to
 * _done/; a file that cannot be imported goes alone to _rejected/ with its own error report. Exactly-once across crashes comes from the
 * client id: it is derived from the files' names, sizes and mtimes, so a job interrupted by a
 * kill is re-imported under the same id and the server skips what it already applied.
 * Optional _inbox/<store>/_import.json: {"key":"id","mode":"upsert|replace","user_column":"u"}. */
#include "idbsync/import.h"
#include "idbsync/log.h"
#include "idbsync/path.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

typedef struct seen {
	char *path;
	off_t size;
	int64_t mtime_ns;
	int64_t first_ms;      /* when this size/mtime was first observed */
	struct seen *next;
} seen;

struct imp_inbox {
	ledger *lg;
	imp_inbox_options o;
	char *lake;
	char *key_field;
	pthread_t th;
	int started, stop;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	seen *seen;
};

static int hidden(const char *name) { return name[0] == '.' || name[0] == '_'; }

static int64_t mtime_ns(const struct stat *st) { return (int64_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec; }

/* True once a file has kept its size and mtime for settle_ms. */
static int settled(imp_inbox *ib, const char *path, const struct stat *st)
{
	int64_t now = hlc_wall_ms();
	for (seen *s = ib->seen; s; s = s->next) {
		if (strcmp(s->path, path))
			continue;
		if (s->size != st->st_size || s->mtime_ns != mtime_ns(st)) {
			s->size = st->st_size;
			s->mtime_ns = mtime_ns(st);
			s->first_ms = now;
			return 0;
		}
		return now - s->first_ms >= ib->o.settle_ms;
	}
	seen *s = calloc(1, sizeof *s);
	if (s && (s->path = strdup(path))) {
		s->size = st->st_size;
		s->mtime_ns = mtime_ns(st);
		s->first_ms = now;
		s->next = ib->seen;
		ib->seen = s;
	} else {
		free(s);
	}
	return ib->o.settle_ms <= 0;
}

static void forget(imp_inbox *ib, const char *path)
{
	for (seen **p = &ib->seen; *p; p = &(*p)->next) {
		if (!strcmp((*p)->path, path)) {
			seen *s = *p;
			*p = s->next;
			free(s->path);
			free(s);
			return;
		}
	}
}

/* dir/name → dir/sub/name (dest, IDS_PATH_MAX + 1 bytes); 0 or an IDS_E* code. */
static int move_to(const char *dir, const char *sub, const char *name, char *dest)
{
	char d[IDS_PATH_MAX + 1], src[IDS_PATH_MAX + 1];
	int rc = ids_path(d, sizeof d, NULL, "%s/%s", dir, sub);
	if (!rc)
		rc = ids_path(src, sizeof src, NULL, "%s/%s", dir, name);
	if (!rc)
		rc = ids_path(dest, IDS_PATH_MAX + 1, NULL, "%s/%s", d, name);
	if (rc)
		return rc;
	if ((mkdir(d, 0755) && errno != EEXIST) || rename(src, dest))
		return IDS_EIO;
	return 0;
}

static void load_settings(const char *dir, imp_options *o, char *key, char *user_col, size_t len)
{
	char path[IDS_PATH_MAX + 1];
	json_t *j = ids_path(path, sizeof path, NULL, "%s/_import.json", dir) ? NULL : json_load_file(path, 0, NULL);
	if (!j)
		return;
	json_t *v;
	if ((v = json_object_get(j, "key")) && json_is_string(v)) {
		snprintf(key, len, "%s", json_string_value(v));
		o->key_field = key;
	}
	if ((v = json_object_get(j, "user_column")) && json_is_string(v)) {
		snprintf(user_col, len, "%s", json_string_value(v));
		o->user_column = user_col;
	}
	if ((v = json_object_get(j, "mode")) && json_is_string(v) && !strcmp(json_string_value(v), "replace"))
		o->mode = IMP_REPLACE;
	json_decref(j);
}

typedef struct job {
	char **names;
	size_t n;
} job;

static uint64_t ident_hash(uint64_t h, const char *dir, const char *name)
{
	char path[IDS_PATH_MAX + 1], ident[IDS_PATH_MAX + 100];
	struct stat st = {0};
	if (!ids_path(path, sizeof path, NULL, "%s/%s", dir, name))
		stat(path, &st);
	int il = snprintf(ident, sizeof ident, "%s|%lld|%lld;", name, (long long)st.st_size, (long long)mtime_ns(&st));
	for (int i = 0; i < il && i < (int)sizeof ident; i++)
		h = (h ^ (unsigned char)ident[i]) * 1099511628211ULL;
	return h;
}

static int transient(int code) { return code == IDS_EIO || code == IDS_ENOSPC || code == IDS_ENOMEM; }

/* Moves one file to _rejected/ with <file>.error.txt holding its own error. */
static void reject(imp_inbox *ib, const char *dir, const char *db, const char *store_name, const char *name,
		   const char *msg)
{
	char dest[IDS_PATH_MAX + 1], src[IDS_PATH_MAX + 1], rep[IDS_PATH_MAX + 1];
	if (ids_path(src, sizeof src, NULL, "%s/%s", dir, name))
		return;   /* scan_store lists only names that fit */
	if (move_to(dir, "_rejected", name, dest) == 0 && !ids_path(rep, sizeof rep, NULL, "%s.error.txt", dest)) {
		FILE *f = fopen(rep, "w");
		if (f) {
			fprintf(f, "idbsync could not import %s into %s/%s:\n%s\n", name, db, store_name, msg);
			fclose(f);
		}
	}
	forget(ib, src);
	ids_logf(IDS_LOG_WARN, "inbox_rejected", "%s/%s: %s moved to _rejected/: %s", db, store_name, name, msg);
}

/* Imports the complete files of one store directory; returns how many were handled. */
static int scan_store(imp_inbox *ib, const char *db, const char *store_name, const char *dir, ids_error *err)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	char success[IDS_PATH_MAX + 1];
	struct stat sst;
	int marker = !ids_path(success, sizeof success, NULL, "%s/_SUCCESS", dir) && stat(success, &sst) == 0;
	job jb = {0};
	struct dirent *e;
	while ((e = readdir(d))) {
		if (hidden(e->d_name))
			continue;
		/* a name too long for its destinations is left where it is (the start-up check on the
		 * lake directory leaves room for every name a file system allows) */
		char path[IDS_PATH_MAX + 1], longest[IDS_PATH_MAX + 1];
		struct stat st;
		if (ids_path(path, sizeof path, NULL, "%s/%s", dir, e->d_name) ||
		    ids_path(longest, sizeof longest, NULL, "%s/_rejected/%s.error.txt", dir, e->d_name) ||
		    stat(path, &st) || !S_ISREG(st.st_mode))
			continue;
		if (!marker && !settled(ib, path, &st))
			continue;
		char **nn = realloc(jb.names, (jb.n + 1) * sizeof *nn);
		if (!nn)
			break;
		jb.names = nn;
		if (!(jb.names[jb.n] = strdup(e->d_name)))
			break;
		jb.n++;
	}
	closedir(d);
	int handled = 0, retry = 0;
	/* without a marker each file is its own job; with one, the files form one job */
	size_t groups = marker ? (jb.n ? 1 : 0) : jb.n;
	char (*pbuf)[IDS_PATH_MAX + 1] = jb.n ? calloc(jb.n, sizeof *pbuf) : NULL;
	const char **paths = jb.n ? calloc(jb.n, sizeof *paths) : NULL;
	const char **names = jb.n ? calloc(jb.n, sizeof *names) : NULL;
	for (size_t g = 0; g < groups && pbuf && paths && names; g++) {
		size_t first = marker ? 0 : g, count = marker ? jb.n : 1;
		imp_options o = IMP_OPTIONS_INIT;
		char key[256], user_col[256], client[IDS_NAME_MAX + 1];
		o.db = db;
		o.store = store_name;
		o.key_field = ib->key_field;
		load_settings(dir, &o, key, user_col, sizeof key);
		/* a job of several files: each is checked alone first, so a bad one is rejected with
		 * its own error and the others still go in */
		size_t good = 0;
		uint64_t h = 1469598103934665603ULL;
		for (size_t i = 0; i < count && !retry; i++) {
			const char *name = jb.names[first + i];
			ids_path(pbuf[good], sizeof pbuf[good], NULL, "%s/%s", dir, name);   /* fits: listed above */
			if (count > 1) {
				imp_options dry = o;
				imp_summary dsum;
				ids_error derr = IDS_ERROR_INIT;
				const char *p1 = pbuf[good];
				dry.dry_run = 1;
				dry.names = &name;
				if (imp_files(NULL, &dry, &p1, 1, &dsum, &derr)) {
					if (transient(derr.code)) {
						retry = 1;
						if (err)
							*err = derr;
						ids_logf(IDS_LOG_WARN, "inbox_retry", "%s/%s: will retry: %s", db, store_name, derr.msg);
					} else {
						reject(ib, dir, db, store_name, name, derr.msg);
						handled++;
					}
					continue;
				}
			}
			paths[good] = pbuf[good];
			names[good] = name;
			h = ident_hash(h, dir, name);
			good++;
		}
		if (retry)
			break;
		if (!good)
			continue;
		/* the client id comes from the files that go in: the same after a crash */
		snprintf(client, sizeof client, "inbox-%016llx", (unsigned long long)h);
		o.client = client;
		o.names = names;
		imp_summary sum;
		ids_error ierr = IDS_ERROR_INIT;
		int rc = imp_files(ib->lg, &o, paths, good, &sum, &ierr);
		char dest[IDS_PATH_MAX + 1];
		if (!rc) {
			for (size_t i = 0; i < good; i++) {
				move_to(dir, "_done", names[i], dest);
				forget(ib, paths[i]);
			}
			ids_logrec lr;
			if (ids_log_begin(&lr, IDS_LOG_INFO, "inbox_imported")) {
				ids_log_str(&lr, "db", db);
				ids_log_str(&lr, "store", store_name);
				ids_log_int(&lr, "rows", (long long)sum.rows);
				ids_log_int(&lr, "files", (long long)good);
				ids_log_int(&lr, "duplicate_keys", (long long)sum.duplicate_keys);
				ids_log_end(&lr);
			}
			handled += (int)good;
		} else if (transient(ierr.code)) {
			/* leave the files and try again next scan */
			ids_logf(IDS_LOG_WARN, "inbox_retry", "%s/%s: will retry: %s", db, store_name, ierr.msg);
			if (err)
				*err = ierr;
		} else {
			for (size_t i = 0; i < good; i++)
				reject(ib, dir, db, store_name, names[i], ierr.msg);
			handled += (int)good;
		}
	}
	free(pbuf);
	free(paths);
	free(names);
	if (marker && handled == (int)jb.n && jb.n) {
		char dest[IDS_PATH_MAX + 1], renamed[IDS_PATH_MAX + 1];
		if (move_to(dir, "_done", "_SUCCESS", dest) == 0 &&
		    !ids_path(renamed, sizeof renamed, NULL, "%s-%lld", dest, (long long)hlc_wall_ms()))
			rename(dest, renamed);
	}
	for (size_t i = 0; i < jb.n; i++)
		free(jb.names[i]);
	free(jb.names);
	return handled;
}

int imp_inbox_scan(imp_inbox *ib, ids_error *err)
{
	DIR *lake = opendir(ib->lake);
	if (!lake)
		return 0;
	int total = 0;
	struct dirent *db;
	while ((db = readdir(lake))) {
		if (hidden(db->d_name) || !ids_db_name_valid(db->d_name))
			continue;
		char inbox[IDS_PATH_MAX + 1];
		DIR *in = ids_path(inbox, sizeof inbox, NULL, "%s/%s/_inbox", ib->lake, db->d_name) ? NULL : opendir(inbox);
		if (!in)
			continue;
		struct dirent *s;
		while ((s = readdir(in))) {
			if (hidden(s->d_name))
				continue;
			char dir[IDS_PATH_MAX + 1];
			struct stat st;
			if (ids_path(dir, sizeof dir, NULL, "%s/%s", inbox, s->d_name) || stat(dir, &st) || !S_ISDIR(st.st_mode))
				continue;
			total += scan_store(ib, db->d_name, s->d_name, dir, err);
		}
		closedir(in);
	}
	closedir(lake);
	return total;
}

static void *inbox_main(void *arg)
{
	pthread_setname_np(pthread_self(), "idb-inbox");
	imp_inbox *ib = arg;
	pthread_mutex_lock(&ib->mu);
	while (!ib->stop) {
		pthread_mutex_unlock(&ib->mu);
		imp_inbox_scan(ib, NULL);
		pthread_mutex_lock(&ib->mu);
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += ib->o.scan_interval_ms / 1000;
		ts.tv_nsec += (ib->o.scan_interval_ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		if (!ib->stop)
			pthread_cond_timedwait(&ib->cv, &ib->mu, &ts);
	}
	pthread_mutex_unlock(&ib->mu);
	return NULL;
}

int imp_inbox_start(imp_inbox **out, ledger *lg, const imp_inbox_options *o, ids_error *err)
{
	/* LAKE/<db>/_inbox/<store>/_rejected/<file>.error.txt: names a file system allows */
	if (ids_path_room(o->lake_dir, IMP_INBOX_PATH_ROOM, "inbox", err))
		return err ? err->code : IDS_ELIMIT;
	imp_inbox *ib = calloc(1, sizeof *ib);
	if (!ib)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	ib->lg = lg;
	ib->o = *o;
	ib->lake = strdup(o->lake_dir);
	ib->key_field = strdup(o->key_field ? o->key_field : "id");
	pthread_mutex_init(&ib->mu, NULL);
	pthread_cond_init(&ib->cv, NULL);
	if (o->scan_interval_ms > 0) {
		if (pthread_create(&ib->th, NULL, inbox_main, ib)) {
			imp_inbox_free(ib);
			return ids_fail(err, IDS_EIO, "cannot start the inbox thread");
		}
		ib->started = 1;
	}
	*out = ib;
	return 0;
}

void imp_inbox_free(imp_inbox *ib)
{
	if (!ib)
		return;
	if (ib->started) {
		pthread_mutex_lock(&ib->mu);
		ib->stop = 1;
		pthread_cond_broadcast(&ib->cv);
		pthread_mutex_unlock(&ib->mu);
		pthread_join(ib->th, NULL);
	}
	while (ib->seen) {
		seen *s = ib->seen;
		ib->seen = s->next;
		free(s->path);
		free(s);
	}
	free(ib->lake);
	free(ib->key_field);
	free(ib);
}
