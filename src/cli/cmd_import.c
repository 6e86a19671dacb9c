/* `idbsync import`: Parquet files → server-side changes of one store. With --data DIR the
 * import runs in this process on the state directory (the server must not be running on it);
 * with --server URL the files are uploaded to POST /v1/admin/db/{db}/import and imported there.
 * A progress bar goes to a terminal's stderr; a summary line ends the run. */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "idbsync/import.h"

static void import_usage(FILE *f)
{
	fprintf(f, "usage: idbsync import --db D --store S [--key FIELD] [--mode upsert|replace]\n"
		   "                      [--user-column COL] [--client ID] (--data DIR | --server URL [--token T])\n"
		   "                      FILE.parquet...\n"
		   "  --key FIELD        the column holding the IndexedDB key        [id]\n"
		   "  --mode replace     rows of the store absent from the files become deletes\n"
		   "  --user-column COL  each row belongs to that user (reaches only their browsers)\n"
		   "  --client ID        client id for the mutations: re-running with the same id and files\n"
		   "                     applies nothing twice                         [a new id per run]\n"
		   "  An optional _op column (put|delete) carries deletes.\n");
}

static int tty;

static void bar(void *ctx, int64_t done, int64_t total)
{
	if (!tty || total <= 0)
		return;
	int w = 40, fill = (int)(done * w / total);
	fprintf(stderr, "\r  [%.*s%*s] %lld/%lld rows", fill, "########################################", w - fill, "",
		(long long)done, (long long)total);
	if (done >= total)
		fputc('\n', stderr);
}

static int progress_bytes(void *ctx, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	if (tty && ut > 0) {
		int w = 40, fill = (int)(un * w / ut);
		fprintf(stderr, "\r  upload [%.*s%*s] %lld/%lld bytes", fill, "########################################",
			w - fill, "", (long long)un, (long long)ut);
	}
	return 0;
}

static size_t collect(char *p, size_t sz, size_t n, void *arg)
{
	return ids_buf_append(arg, p, sz * n) ? 0 : sz * n;
}

/* Several files travel as one bundle so a replace sees all of them. */
static int make_bundle(char *const *files, int n, char *path, size_t pathlen)
{
	snprintf(path, pathlen, "%s/idbsync-bundle-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	int fd = mkstemp(path);
	FILE *o = fd >= 0 ? fdopen(fd, "wb") : NULL;
	if (!o)
		return -1;
	fwrite("IDSBUNDL", 1, 8, o);
	for (int i = 0; i < n; i++) {
		FILE *f = fopen(files[i], "rb");
		struct stat st;
		if (!f || fstat(fileno(f), &st)) {
			fprintf(stderr, "idbsync import: %s: cannot read\n", files[i]);
			if (f)
				fclose(f);
			fclose(o);
			unlink(path);
			return -1;
		}
		unsigned char len[8];
		for (int k = 0; k < 8; k++)
			len[k] = (unsigned char)((uint64_t)st.st_size >> (56 - 8 * k));
		fwrite(len, 1, 8, o);
		char buf[65536];
		size_t r;
		while ((r = fread(buf, 1, sizeof buf, f)) > 0)
			fwrite(buf, 1, r, o);
		fclose(f);
	}
	return fclose(o) ? -1 : 0;
}

static int upload(const char *server, const char *token, const imp_options *o, char *const *files, int n)
{
	char bundle[4200] = "";
	const char *body = files[0];
	if (n > 1) {
		if (make_bundle(files, n, bundle, sizeof bundle))
			return 1;
		body = bundle;
	}
	CURL *c = curl_easy_init();
	char *es = curl_easy_escape(c, o->store, 0), *ek = curl_easy_escape(c, o->key_field, 0),
	     *eu = o->user_column ? curl_easy_escape(c, o->user_column, 0) : NULL, *ec = curl_easy_escape(c, o->client, 0);
	char url[8192];
	snprintf(url, sizeof url, "%s/v1/admin/db/%s/import?store=%s&key=%s&mode=%s&client=%s%s%s", server, o->db, es,
		 ek, o->mode == IMP_REPLACE ? "replace" : "upsert", ec, eu ? "&user_column=" : "", eu ? eu : "");
	curl_free(es);
	curl_free(ek);
	curl_free(eu);
	curl_free(ec);
	int rc = 1;
	/* the client id makes a retried upload harmless: the server skips what it applied */
	for (int attempt = 1; attempt <= 3; attempt++) {
		FILE *f = fopen(body, "rb");
		struct stat st;
		if (!f || fstat(fileno(f), &st)) {
			fprintf(stderr, "idbsync import: %s: cannot read\n", body);
			if (f)
				fclose(f);
			break;
		}
		ids_buf resp = IDS_BUF_INIT;
		struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/octet-stream");
		char auth[1024];
		if (token) {
			snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
			h = curl_slist_append(h, auth);
		}
		curl_easy_reset(c);
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "POST");
		curl_easy_setopt(c, CURLOPT_READDATA, f);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)st.st_size);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
		curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress_bytes);
		CURLcode cc = curl_easy_perform(c);
		long status = 0;
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		curl_slist_free_all(h);
		fclose(f);
		if (tty)
			fputc('\n', stderr);
		if (cc != CURLE_OK) {
			fprintf(stderr, "idbsync import: %s: %s%s\n", server, curl_easy_strerror(cc),
				attempt < 3 ? " (retrying)" : "");
			ids_buf_free(&resp);
			sleep((unsigned)attempt);
			continue;
		}
		json_t *j = json_loadb(resp.data ? resp.data : "", resp.len, 0, NULL);
		if (status == 200 && j) {
			printf("imported %lld rows from %lld file(s) into %s/%s: %lld puts, %lld deletes, %lld replaced, "
			       "%lld already applied, %lld lost to conflict rules\n",
			       (long long)json_integer_value(json_object_get(j, "rows")),
			       (long long)json_integer_value(json_object_get(j, "files")), o->db, o->store,
			       (long long)json_integer_value(json_object_get(j, "puts")),
			       (long long)json_integer_value(json_object_get(j, "deletes")),
			       (long long)json_integer_value(json_object_get(j, "replaced")),
			       (long long)json_integer_value(json_object_get(j, "duplicates")),
			       (long long)json_integer_value(json_object_get(j, "conflicts")));
			rc = 0;
		} else {
			json_t *m = j ? json_object_get(json_object_get(j, "error"), "message") : NULL;
			fprintf(stderr, "idbsync import: server answered %ld: %s\n", status,
				m ? json_string_value(m) : (resp.data ? resp.data : ""));
			rc = status >= 500 ? 1 : 1;
		}
		json_decref(j);
		ids_buf_free(&resp);
		break;
	}
	curl_easy_cleanup(c);
	if (bundle[0])
		unlink(bundle);
	return rc;
}

int cmd_import(int argc, char **argv)
{
	imp_options o = IMP_OPTIONS_INIT;
	const char *data = NULL, *server = NULL, *token = getenv("IDBSYNC_TOKEN");
	char client[128];
	int i = 1;
	for (; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			import_usage(stdout);
			return 0;
		}
		if (a[0] != '-' || !strcmp(a, "--"))
			break;
		static const char *const known[] = {"--db", "--store", "--key", "--user-column", "--client", "--data",
						    "--server", "--token", "--mode", NULL};
		int k = 0;
		while (known[k] && strcmp(known[k], a))
			k++;
		if (!known[k]) {
			fprintf(stderr, "idbsync import: unknown option %s (see --help)\n", a);
			return 2;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "idbsync import: %s needs a value\n", a);
			return 2;
		}
		const char *v = argv[++i];
		if (!strcmp(a, "--db")) o.db = v;
		else if (!strcmp(a, "--store")) o.store = v;
		else if (!strcmp(a, "--key")) o.key_field = v;
		else if (!strcmp(a, "--user-column")) o.user_column = v;
		else if (!strcmp(a, "--client")) o.client = v;
		else if (!strcmp(a, "--data")) data = v;
		else if (!strcmp(a, "--server")) server = v;
		else if (!strcmp(a, "--token")) token = v;
		else if (!strcmp(a, "--mode")) {
			if (!strcmp(v, "replace")) o.mode = IMP_REPLACE;
			else if (strcmp(v, "upsert")) {
				fprintf(stderr, "idbsync import: --mode must be upsert or replace\n");
				return 2;
			}
		} else {
			fprintf(stderr, "idbsync import: unknown option %s\n", a);
			import_usage(stderr);
			return 2;
		}
	}
	if (i < argc && !strcmp(argv[i], "--"))
		i++;
	if (!o.db || !o.store || i >= argc || (!data == !server)) {
		fprintf(stderr, "idbsync import: need --db, --store, one of --data or --server, and at least one file\n");
		import_usage(stderr);
		return 2;
	}
	if (!o.client) {
		srand((unsigned)(time(NULL) ^ getpid()));
		snprintf(client, sizeof client, "import-%lld-%04x%04x", (long long)time(NULL), rand() & 0xffff,
			 rand() & 0xffff);
		o.client = client;
	}
	tty = isatty(2);
	if (server)
		return upload(server, token, &o, argv + i, argc - i);

	store_options so = STORE_OPTIONS_INIT;
	so.dir = data;
	store *st;
	ids_error err = IDS_ERROR_INIT;
	if (store_open(&st, &so, &err)) {
		fprintf(stderr, "idbsync import: %s\n", err.msg);
		return 1;
	}
	o.progress = bar;
	imp_summary sum;
	int rc = imp_files(st, &o, (const char *const *)(argv + i), (size_t)(argc - i), &sum, &err);
	store_free(st);
	if (rc) {
		fprintf(stderr, "\nidbsync import: %s\n", err.msg);
		return 1;
	}
	printf("imported %lld rows from %lld file(s) into %s/%s: %lld puts, %lld deletes, %lld replaced, "
	       "%lld already applied, %lld lost to conflict rules\n",
	       (long long)sum.rows, (long long)sum.files, o.db, o.store, (long long)sum.puts, (long long)sum.deletes,
	       (long long)sum.replaced, (long long)sum.duplicates, (long long)sum.conflicts);
	return 0;
}
