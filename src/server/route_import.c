/* POST /v1/admin/db/{db}/import?store=S[&key=F][&mode=upsert|replace][&user_column=C][&client=ID]
 * [&progress=1]. The body (spooled to disk by http.c) is one Parquet file, or several framed
 * as an idbsync bundle ("IDSBUNDL" then, per file, an 8-byte big-endian length and the bytes)
 * so a replace can span files. The import runs here, in-process, exactly as `idbsync import
 * --data` would. X-Idbsync-Files: ["a.parquet",..] names the files in messages (never the
 * spool path). progress=1 streams NDJSON progress lines while a thread imports. */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "idbsync/path.h"
#include "idbsync/import.h"
#include "server_int.h"

/* Splits a bundle into temp files next to it; returns how many (paths in out). */
static int split_bundle(const char *path, char ***out, size_t *n, ids_error *err)
{
	FILE *f = fopen(path, "rb");
	char magic[8];
	*out = NULL;
	*n = 0;
	if (!f)
		return ids_fail(err, IDS_EIO, "cannot read the upload");
	if (fread(magic, 1, 8, f) != 8 || memcmp(magic, "IDSBUNDL", 8)) {
		fclose(f);
		/* a plain Parquet file */
		*out = calloc(1, sizeof **out);
		if (!*out)
			return ids_fail(err, IDS_ENOMEM, "out of memory");
		(*out)[0] = strdup(path);
		*n = 1;
		return 0;
	}
	int rc = 0;
	unsigned char lenb[8];
	while (!rc && fread(lenb, 1, 8, f) == 8) {
		uint64_t len = 0;
		for (int i = 0; i < 8; i++)
			len = len << 8 | lenb[i];
		char tmpl[IDS_PATH_MAX + 1];
		FILE *o = ids_path(tmpl, sizeof tmpl, NULL, "%s-part%zu", path, *n) ? NULL : fopen(tmpl, "wb");
		char **grown = realloc(*out, (*n + 1) * sizeof **out);
		if (!o || !grown) {
			if (o)
				fclose(o);
			if (grown)
				*out = grown;
			rc = ids_fail(err, IDS_EIO, "cannot split the upload");
			break;
		}
		*out = grown;
		(*out)[(*n)++] = strdup(tmpl);
		char buf[65536];
		while (len > 0) {
			size_t want = len < sizeof buf ? (size_t)len : sizeof buf;
			size_t got = fread(buf, 1, want, f);
			if (got != want || fwrite(buf, 1, got, o) != got) {
				rc = ids_fail(err, IDS_EINVAL, "bundle: file %zu is truncated", *n);
				break;
			}
			len -= got;
		}
		fclose(o);
	}
	fclose(f);
	return rc;
}

/* An import's inputs, owned (the request's memory ends when the handler returns). */
typedef struct import_job {
	server *s;
	imp_options o;
	char *db, *store, *key, *user_column, *client;
	char **files, **names;
	size_t n;
	int own_first;          /* files[0] is our link to the spool file (unlink it) */
	/* progress=1: the importing thread and the streaming callback share the rest */
	pthread_t th;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int64_t done, total, sent_done;
	int finished, ended;
	int rc;
	ids_error err;
	imp_summary sum;
	int64_t cursor;
} import_job;

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static void job_free(import_job *jb)
{
	if (!jb)
		return;
	if (jb->started)
		pthread_join(jb->th, NULL);
	for (size_t i = 0; i < jb->n; i++) {
		if (i > 0 || jb->own_first)
			unlink(jb->files[i]);
		free(jb->files[i]);
		if (jb->names)
			free(jb->names[i]);
	}
	free(jb->files);
	free(jb->names);
	free(jb->db);
	free(jb->store);
	free(jb->key);
	free(jb->user_column);
	free(jb->client);
	pthread_mutex_destroy(&jb->mu);
	pthread_cond_destroy(&jb->cv);
	free(jb);
}

/* The user's names for the files, from X-Idbsync-Files (a JSON array of strings), or
 * "upload" / "upload file N" (never the spool path). */
static int job_names(import_job *jb, http_req *req)
{
	jb->names = calloc(jb->n, sizeof *jb->names);
	if (!jb->names)
		return IDS_ENOMEM;
	const char *h = req_header(req, "X-Idbsync-Files");
	json_t *a = h ? json_loads(h, 0, NULL) : NULL;
	for (size_t i = 0; i < jb->n; i++) {
		json_t *v = json_is_array(a) && json_array_size(a) == jb->n ? json_array_get(a, i) : NULL;
		char dflt[64];
		if (jb->n == 1)
			snprintf(dflt, sizeof dflt, "the upload");
		else
			snprintf(dflt, sizeof dflt, "file %zu of the upload", i + 1);
		const char *nm = json_is_string(v) && json_string_length(v) < 1024 ? json_string_value(v) : dflt;
		if (!(jb->names[i] = strdup(nm))) {
			json_decref(a);
			return IDS_ENOMEM;
		}
	}
	json_decref(a);
	jb->o.names = (const char *const *)jb->names;
	return 0;
}

static void summary_json(ids_buf *o, const imp_summary *sum, int64_t cursor)
{
	ids_buf_printf(o,
		       "{\"files\":%lld,\"rows\":%lld,\"puts\":%lld,\"deletes\":%lld,\"replaced\":%lld,\"duplicates\":%lld,"
		       "\"conflicts\":%lld,\"keys\":%lld,\"duplicate_keys\":%lld,\"first_duplicate\":",
		       (long long)sum->files, (long long)sum->rows, (long long)sum->puts, (long long)sum->deletes,
		       (long long)sum->replaced, (long long)sum->duplicates, (long long)sum->conflicts, (long long)sum->keys,
		       (long long)sum->duplicate_keys);
	if (sum->first_duplicate[0])
		ids_buf_json_str(o, sum->first_duplicate, strlen(sum->first_duplicate));
	else
		ids_buf_puts(o, "null");
	ids_buf_printf(o, ",\"cursor\":%lld}", (long long)cursor);
}

static void on_progress(void *ctx, int64_t done, int64_t total)
{
	import_job *jb = ctx;
	pthread_mutex_lock(&jb->mu);
	jb->done = done;
	jb->total = total;
	pthread_cond_broadcast(&jb->cv);
	pthread_mutex_unlock(&jb->mu);
}

static void *job_main(void *arg)
{
	pthread_setname_np(pthread_self(), "idb-import");
	import_job *jb = arg;
	ids_error err = IDS_ERROR_INIT;
	imp_summary sum;
	int rc = imp_files(jb->s->lg, &jb->o, (const char *const *)jb->files, jb->n, &sum, &err);
	pthread_mutex_lock(&jb->mu);
	jb->rc = rc;
	jb->err = err;
	jb->sum = sum;
	jb->cursor = ledger_head(jb->s->lg);
	jb->finished = 1;
	pthread_cond_broadcast(&jb->cv);
	pthread_mutex_unlock(&jb->mu);
	return NULL;
}

/* One NDJSON line per call: progress at least every second (it also keeps proxies from
 * timing the connection out), then the result or the error, then the end. */
static ssize_t job_stream(void *ctx, char *buf, size_t max)
{
	import_job *jb = ctx;
	ids_buf line = IDS_BUF_INIT;
	pthread_mutex_lock(&jb->mu);
	if (jb->ended) {
		pthread_mutex_unlock(&jb->mu);
		return -1;
	}
	if (!jb->finished && jb->done == jb->sent_done) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&jb->cv, &jb->mu, &ts);
	}
	if (jb->finished) {
		if (jb->rc) {
			int code = jb->rc == IDS_ECORRUPT ? IDS_EINVAL : jb->rc;
			ids_buf_printf(&line, "{\"error\":{\"code\":\"%s\",\"status\":%d,\"message\":", ids_code_name(code),
				       status_for(code));
			ids_buf_json_str(&line, jb->err.msg, strlen(jb->err.msg));
			ids_buf_puts(&line, "}}\n");
		} else {
			ids_buf_puts(&line, "{\"result\":");
			summary_json(&line, &jb->sum, jb->cursor);
			ids_buf_puts(&line, "}\n");
		}
		jb->ended = 1;
	} else {
		ids_buf_printf(&line, "{\"progress\":{\"rows\":%lld,\"total\":%lld}}\n", (long long)jb->done,
			       (long long)jb->total);
		jb->sent_done = jb->done;
	}
	pthread_mutex_unlock(&jb->mu);
	size_t n = line.len < max ? line.len : max; /* lines are far below MHD's 16 KiB block */
	memcpy(buf, line.data ? line.data : "", n);
	ids_buf_free(&line);
	return (ssize_t)n;
}

static void job_stream_free(void *ctx) { job_free(ctx); }

void route_import(server *s, http_req *req, http_resp *resp, const char *db)
{
	ids_error err = IDS_ERROR_INIT;
	if (!req->body_file) {
		resp_error_status(resp, 400, "invalid", "imports need the server's --data directory for uploads");
		return;
	}
	const char *store_name = req_query(req, "store"), *key = req_query(req, "key"), *mode = req_query(req, "mode"),
		   *client = req_query(req, "client"), *progress = req_query(req, "progress");
	if (mode && strcmp(mode, "replace") && strcmp(mode, "upsert")) {
		resp_error_status(resp, 400, "invalid", "mode must be upsert or replace");
		return;
	}
	if (!store_name || !store_name[0]) {
		resp_error_status(resp, 400, "invalid", "query parameter store (the object store to import into) is required");
		return;
	}
	if (client && !ids_id_valid(client, strlen(client))) {
		resp_error_status(resp, 400, "invalid", "query parameter client: 1-256 printable ASCII characters");
		return;
	}
	import_job *jb = calloc(1, sizeof *jb);
	if (!jb) {
		resp_error(resp, IDS_ENOMEM, "out of memory");
		return;
	}
	pthread_mutex_init(&jb->mu, NULL);
	pthread_cond_init(&jb->cv, NULL);
	jb->s = s;
	imp_options o = IMP_OPTIONS_INIT;
	jb->o = o;
	jb->db = strdup(db);
	jb->store = strdup(store_name);
	jb->key = dup_or_null(key);
	jb->user_column = dup_or_null(req_query(req, "user_column"));
	jb->client = dup_or_null(client);
	jb->o.db = jb->db;
	jb->o.store = jb->store;
	if (jb->key)
		jb->o.key_field = jb->key;
	jb->o.user_column = jb->user_column;
	jb->o.client = jb->client;
	jb->o.mode = mode && !strcmp(mode, "replace") ? IMP_REPLACE : IMP_UPSERT;
	int rc = !jb->db || !jb->store ? ids_fail(&err, IDS_ENOMEM, "out of memory") : 0;
	if (!rc)
		rc = split_bundle(req->body_file, &jb->files, &jb->n, &err);
	jb->own_first = !rc && jb->n && strcmp(jb->files[0], req->body_file) != 0;
	if (!rc && jb->n == 1 && !strcmp(jb->files[0], req->body_file)) {
		/* http.c removes the spool file when the response ends: a streaming import keeps
		 * its own link to it */
		char own[IDS_PATH_MAX + 1];
		if (!ids_path(own, sizeof own, NULL, "%s-import", req->body_file) && link(req->body_file, own) == 0) {
			free(jb->files[0]);
			jb->files[0] = strdup(own);
			jb->own_first = 1;
		}
	}
	if (!rc && job_names(jb, req))
		rc = ids_fail(&err, IDS_ENOMEM, "out of memory");
	if (!rc && progress && !strcmp(progress, "1")) {
		jb->o.progress = on_progress;
		jb->o.progress_ctx = jb;
		if (pthread_create(&jb->th, NULL, job_main, jb) == 0) {
			jb->started = 1;
			resp->status = 200;
			resp->ctype = "application/x-ndjson";
			resp->stream = job_stream;
			resp->stream_free = job_stream_free;
			resp->stream_ctx = jb;
			return;
		}
	}
	imp_summary sum;
	if (!rc)
		rc = imp_files(s->lg, &jb->o, (const char *const *)jb->files, jb->n, &sum, &err);
	job_free(jb);
	if (rc) {
		/* unreadable Parquet is the caller's input problem, not a server fault */
		resp_error(resp, rc == IDS_ECORRUPT ? IDS_EINVAL : rc, err.msg);
		return;
	}
	summary_json(&resp->body, &sum, ledger_head(s->lg));
	resp->status = 200;
}
