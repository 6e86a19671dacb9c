/* `idbsync import`: Parquet files → server-side changes of one store. With --data DIR the
 * import runs in this process on the state directory (the server must not be running on it);
 * with --server URL the files are uploaded to POST /v1/admin/db/{db}/import and imported there.
 * A progress bar goes to a terminal's stderr (bytes while uploading, then rows as the server
 * reports them); a summary line ends the run. --dry-run reads and converts here, sends nothing. */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "idbsync/import.h"
#include "idbsync/path.h"
#include "idbsync/sync.h"
#include "opts.h"

/* What `idbsync import` is told: imp_options plus where the changes go. */
typedef struct import_cfg {
	imp_options o;
	const char *data, *server, *token;
	int dry_run;
} import_cfg;

static const cli_choice modes[] = {{"upsert", IMP_UPSERT}, {"replace", IMP_REPLACE}, {NULL, 0}};

#define F(m) CLI_FIELD(import_cfg, m)
/* Every flag of `idbsync import` (help, parsing: src/cli/opts.c). */
static const cli_opt import_opts[] = {
	{.flag = "--db", .arg = "D", .help = "the database (required)", .type = CLI_STR, F(o.db)},
	{.flag = "--store", .arg = "S", .help = "the object store (required)", .type = CLI_STR, F(o.store)},
	{.flag = "--key", .arg = "FIELD", .def = "id", .help = "the column holding the IndexedDB key", .type = CLI_STR,
	 F(o.key_field)},
	{.flag = "--mode", .arg = "upsert|replace", .def = "upsert",
	 .help = "replace: rows of the store absent from the files become deletes", .type = CLI_ENUM, F(o.mode),
	 .choices = modes},
	{.flag = "--user-column", .arg = "COL", .help = "each row belongs to that user (reaches only their browsers)",
	 .type = CLI_STR, F(o.user_column)},
	{.flag = "--client", .arg = "ID", .def = "a new id per run",
	 .help = "client id for the mutations: re-running with the same id and files applies nothing twice",
	 .type = CLI_STR, F(o.client)},
	{.flag = "--dry-run", .help = "read and convert every row, report rows, keys, duplicate keys and errors; send "
				      "and change nothing (no server or --data needed)", .type = CLI_SWITCH, F(dry_run)},
	{.flag = "--data", .arg = "DIR", .help = "import here, into the state directory (no server running on it)",
	 .type = CLI_STR, F(data)},
	{.flag = "--server", .arg = "URL", .help = "upload to a running server (POST /v1/admin/db/{db}/import)",
	 .type = CLI_STR, F(server)},
	{.flag = "--token", .arg = "T", .def = "$IDBSYNC_TOKEN", .help = "the admin's bearer token for --server",
	 .type = CLI_STR, F(token)},
	{0},
};

#undef F

static const cli_cmd import_cmd = {
	.name = "import",
	.usage = "usage: idbsync import --db D --store S [options] (--data DIR | --server URL [--token T]) FILE.parquet...\n",
	.footer = "  Types: see docs/types.md (decimals, UUID, TIME, INTERVAL, big integers).\n"
		  "  An optional _op column (put|delete) carries deletes.\n",
	.opts = import_opts,
};

static int tty;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void human_bytes(double b, char *out, size_t n)
{
	const char *u[] = {"B", "kB", "MB", "GB", "TB"};
	int i = 0;
	while (b >= 1000 && i < 4) {
		b /= 1000;
		i++;
	}
	snprintf(out, n, i ? "%.1f %s" : "%.0f %s", b, u[i]);
}

/* One bar line, redrawn in place: what, a bar, percent, done/total, rate. */
typedef struct bar_state {
	double t0, last;
	int64_t last_done;
	int shown;
} bar_state;

static void draw(bar_state *b, const char *what, int64_t done, int64_t total, int bytes)
{
	if (!tty || total <= 0)
		return;
	double t = now_s();
	if (!b->t0)
		b->t0 = t;
	if ((done < total && t - b->last < 0.1) || (b->shown && done == b->last_done))
		return;
	b->last = t;
	b->last_done = done;
	b->shown = 1;
	int w = 30, fill = (int)(done * w / total);
	double el = t - b->t0, rate = el > 0 ? (double)done / el : 0;
	char d[32], tt[32], r[32];
	if (bytes) {
		human_bytes((double)done, d, sizeof d);
		human_bytes((double)total, tt, sizeof tt);
		human_bytes(rate, r, sizeof r);
		fprintf(stderr, "\r  %-9s [%.*s%*s] %3d%% %s/%s  %s/s   ", what, fill, "##############################", w - fill,
			"", (int)(done * 100 / total), d, tt, r);
	} else {
		fprintf(stderr, "\r  %-9s [%.*s%*s] %3d%% %lld/%lld rows  %.0f rows/s   ", what, fill,
			"##############################", w - fill, "", (int)(done * 100 / total), (long long)done,
			(long long)total, rate);
	}
}

static void bar_end(bar_state *b)
{
	if (tty && b->shown)
		fputc('\n', stderr);
	b->shown = 0;
}

static bar_state rows_bar;

static void bar(void *ctx, int64_t done, int64_t total)
{
	draw(&rows_bar, ctx ? (const char *)ctx : "importing", done, total, 0);
}

typedef struct upload_state {
	bar_state up, rows;
	ids_buf resp;      /* the whole answer */
	size_t scanned;    /* progress lines parsed up to here */
	int64_t total;     /* rows, as the last progress line said */
} upload_state;

static int progress_bytes(void *ctx, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	upload_state *u = ctx;
	if (ut > 0 && !u->rows.shown)
		draw(&u->up, "uploading", (int64_t)un, (int64_t)ut, 1);
	return 0;
}

/* The server streams {"progress":{"rows":..,"total":..}} lines, then the result or error. */
static size_t collect_lines(char *p, size_t sz, size_t n, void *arg)
{
	upload_state *u = arg;
	if (ids_buf_append(&u->resp, p, sz * n))
		return 0;
	char *nl;
	while ((nl = memchr(u->resp.data + u->scanned, '\n', u->resp.len - u->scanned))) {
		json_t *j = json_loadb(u->resp.data + u->scanned, (size_t)(nl - (u->resp.data + u->scanned)), 0, NULL);
		json_t *pr = json_object_get(j, "progress");
		if (pr) {
			if (u->up.shown) {
				draw(&u->up, "uploading", 1, 1, 0);
				bar_end(&u->up);
			}
			u->total = (int64_t)json_integer_value(json_object_get(pr, "total"));
			draw(&u->rows, "importing", (int64_t)json_integer_value(json_object_get(pr, "rows")), u->total, 0);
		} else if (json_object_get(j, "result") && u->rows.shown) {
			/* the import ended between two progress lines: the bar still ends full */
			draw(&u->rows, "importing", u->total, u->total, 0);
		}
		json_decref(j);
		u->scanned = (size_t)(nl - u->resp.data) + 1;
	}
	return sz * n;
}

/* The summary line, and the duplicate keys when there were any. */
static void print_summary(const char *verb, const imp_options *o, json_int_t rows, json_int_t files, json_int_t puts,
			  json_int_t deletes, json_int_t replaced, json_int_t already, json_int_t conflicts, json_int_t keys,
			  json_int_t dups, const char *first_dup)
{
	if (o->dry_run)
		printf("%s %lld rows from %lld file(s) into %s/%s: %lld puts, %lld deletes, %lld keys, %lld duplicate keys\n",
		       verb, (long long)rows, (long long)files, o->db, o->store, (long long)puts, (long long)deletes,
		       (long long)keys, (long long)dups);
	else
		printf("%s %lld rows from %lld file(s) into %s/%s: %lld puts, %lld deletes, %lld replaced, "
		       "%lld already applied, %lld lost to conflict rules, %lld keys, %lld duplicate keys\n",
		       verb, (long long)rows, (long long)files, o->db, o->store, (long long)puts, (long long)deletes,
		       (long long)replaced, (long long)already, (long long)conflicts, (long long)keys, (long long)dups);
	if (dups > 0)
		fprintf(stderr, "idbsync import: warning: %lld row(s) repeat a key of an earlier row (the last row wins); "
				"first: %s\n", (long long)dups, first_dup ? first_dup : "?");
}

/* Several files travel as one bundle so a replace sees all of them. 0 or an IDS_E* code (printed). */
static int make_bundle(char *const *files, int n, char *path, size_t pathlen)
{
	ids_error err = IDS_ERROR_INIT;
	if (ids_path(path, pathlen, &err, "%s/idbsync-bundle-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp")) {
		fprintf(stderr, "idbsync import: TMPDIR: %s\n", err.msg);
		return err.code;
	}
	int fd = mkstemp(path);
	FILE *o = fd >= 0 ? fdopen(fd, "wb") : NULL;
	if (!o) {
		fprintf(stderr, "idbsync import: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return IDS_EIO;
	}
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
			return IDS_EIO;
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
	if (fclose(o)) {
		fprintf(stderr, "idbsync import: %s: %s\n", path, strerror(errno));
		unlink(path);
		return IDS_EIO;
	}
	return 0;
}

static int upload(const char *server, const char *token, const imp_options *o, char *const *files, int n)
{
	char bundle[IDS_PATH_MAX + 1] = "";
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
	int ul = snprintf(url, sizeof url, "%s/v1/admin/db/%s/import?store=%s&key=%s&mode=%s&client=%s%s%s&progress=1",
			  server, o->db, es, ek, o->mode == IMP_REPLACE ? "replace" : "upsert", ec,
			  eu ? "&user_column=" : "", eu ? eu : "");
	curl_free(es);
	curl_free(ek);
	curl_free(eu);
	curl_free(ec);
	if (ul < 0 || (size_t)ul >= sizeof url) {   /* a cut URL would import with other settings */
		fprintf(stderr, "idbsync import: the upload URL for --server %.100s is longer than %zu bytes\n", server,
			sizeof url - 1);
		curl_easy_cleanup(c);
		if (bundle[0])
			unlink(bundle);
		return 1;
	}
	/* the server's messages name the files as typed here, not its copy of the upload */
	json_t *names = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(names, json_string(files[i]));
	char *names_txt = json_dumps(names, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(names);
	char names_hdr[4200] = "";
	if (names_txt && strlen(names_txt) < 4000)
		snprintf(names_hdr, sizeof names_hdr, "X-Idbsync-Files: %s", names_txt);
	free(names_txt);
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
		upload_state u = {0};
		ids_buf_init(&u.resp, 0);
		struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/octet-stream");
		char auth[1024];
		if (token) {
			snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
			h = curl_slist_append(h, auth);
		}
		if (names_hdr[0])
			h = curl_slist_append(h, names_hdr);
		curl_easy_reset(c);
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "POST");
		curl_easy_setopt(c, CURLOPT_READDATA, f);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)st.st_size);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect_lines);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &u);
		curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress_bytes);
		curl_easy_setopt(c, CURLOPT_XFERINFODATA, &u);
		CURLcode cc = curl_easy_perform(c);
		long status = 0;
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		curl_slist_free_all(h);
		fclose(f);
		bar_end(&u.up);
		bar_end(&u.rows);
		if (cc != CURLE_OK && cc != CURLE_WRITE_ERROR) {
			/* nothing to retry when the server cannot be reached at all */
			int retry = attempt < 3 && cc != CURLE_COULDNT_RESOLVE_HOST && cc != CURLE_COULDNT_CONNECT &&
				    cc != CURLE_URL_MALFORMAT && cc != CURLE_UNSUPPORTED_PROTOCOL;
			fprintf(stderr, "idbsync import: %s: %s%s\n", server, curl_easy_strerror(cc), retry ? " (retrying)" : "");
			ids_buf_free(&u.resp);
			if (!retry)
				break;
			sleep((unsigned)attempt);
			continue;
		}
		/* the last line is the answer (a plain JSON body from servers without progress) */
		size_t last = u.resp.len;
		while (last > 0 && u.resp.data[last - 1] == '\n')
			last--;
		size_t from = last;
		while (from > 0 && u.resp.data[from - 1] != '\n')
			from--;
		json_t *j = json_loadb(u.resp.data ? u.resp.data + from : "", last - from, 0, NULL);
		json_t *res = json_object_get(j, "result");
		if (!res && status == 200 && json_object_get(j, "rows"))
			res = j;
		if (status == 200 && res) {
#define F(name) json_integer_value(json_object_get(res, name))
			print_summary("imported", o, F("rows"), F("files"), F("puts"), F("deletes"), F("replaced"),
				      F("duplicates"), F("conflicts"), F("keys"), F("duplicate_keys"),
				      json_string_value(json_object_get(res, "first_duplicate")));
#undef F
			rc = 0;
		} else {
			json_t *e = json_object_get(j, "error");
			json_t *m = json_object_get(e, "message"), *st2 = json_object_get(e, "status");
			fprintf(stderr, "idbsync import: server answered %ld: %s\n",
				st2 ? (long)json_integer_value(st2) : status,
				m ? json_string_value(m) : (u.resp.data ? u.resp.data : ""));
		}
		json_decref(j);
		ids_buf_free(&u.resp);
		break;
	}
	curl_easy_cleanup(c);
	if (bundle[0])
		unlink(bundle);
	return rc;
}

static int import_run(void *cfg, char **files, int nfiles)
{
	const import_cfg *c = cfg;
	imp_options o = c->o;
	const char *data = c->data, *server = c->server, *token = c->token;
	int dry_run = c->dry_run;
	char client[128];
	if (!o.db || !o.store || !nfiles || (!dry_run && !data == !server) || (data && server)) {
		fprintf(stderr, "idbsync import: need --db, --store, one of --data or --server, and at least one file\n");
		cli_help(&import_cmd, stderr);
		return 2;
	}
	/* the server's own rules, checked before anything is read or sent */
	if (!ids_db_name_valid(o.db)) {
		fprintf(stderr, "idbsync import: --db %s: a database name is 1-64 characters of [A-Za-z0-9_.-], not "
				"starting with '.' or '_'\n", o.db);
		return 2;
	}
	if (!ids_store_name_valid(o.store, strlen(o.store))) {
		fprintf(stderr, "idbsync import: --store: an object store name is 1-256 bytes without control characters\n");
		return 2;
	}
	if (o.client && !ids_id_valid(o.client, strlen(o.client))) {
		fprintf(stderr, "idbsync import: --client %s: 1-256 printable ASCII characters, no spaces\n", o.client);
		return 2;
	}
	if (!o.client) {
		srand((unsigned)(time(NULL) ^ getpid()));
		snprintf(client, sizeof client, "import-%lld-%04x%04x", (long long)time(NULL), rand() & 0xffff,
			 rand() & 0xffff);
		o.client = client;
	}
	tty = isatty(2);
	ids_error err = IDS_ERROR_INIT;
	imp_summary sum;
	o.progress = bar;
	if (dry_run) {
		o.dry_run = 1;
		o.progress_ctx = (void *)"checking";
		int rc = imp_files(NULL, &o, (const char *const *)files, (size_t)nfiles, &sum, &err);
		bar_end(&rows_bar);
		if (rc) {
			fprintf(stderr, "idbsync import: %s\n", err.msg);
			return 1;
		}
		print_summary("dry run: would import", &o, sum.rows, sum.files, sum.puts, sum.deletes, 0, 0, 0, sum.keys,
			      sum.duplicate_keys, sum.first_duplicate);
		printf("nothing was sent%s\n", o.mode == IMP_REPLACE ? " (replace mode: the rows it would delete are "
									   "known only to the server)" : "");
		return 0;
	}
	if (server)
			return upload(server, token, &o, files, nfiles);

	if (ids_path_room(data, CLI_DATA_PATH_ROOM, "--data", &err)) {
		fprintf(stderr, "idbsync import: %s\n", err.msg);
		return 2;
	}
	ledger_options so = LEDGER_OPTIONS_INIT;
	so.dir = data;
	ledger *lg;
	if (ledger_open(&lg, &so, &err)) {
		fprintf(stderr, "idbsync import: %s\n", err.msg);
		return 1;
	}
	int rc = imp_files(lg, &o, (const char *const *)files, (size_t)nfiles, &sum, &err);
	ledger_free(lg);
	bar_end(&rows_bar);
	if (rc) {
		fprintf(stderr, "idbsync import: %s\n", err.msg);
		return 1;
	}
	print_summary("imported", &o, sum.rows, sum.files, sum.puts, sum.deletes, sum.replaced, sum.duplicates,
		      sum.conflicts, sum.keys, sum.duplicate_keys, sum.first_duplicate);
	return 0;
}

int cmd_import(int argc, char **argv)
{
	import_cfg c = {.o = IMP_OPTIONS_INIT, .token = getenv("IDBSYNC_TOKEN")};
	return cli_main(&import_cmd, &c, argc, argv, import_run);
}
