/* `idbsync lake quarantine list|retry`: what the lake could not write (held tables and
 * change-log rows, from DIR/_idbsync/progress.json) and the operator's retry, taken up by the
 * server holding the lake (or the next one to open it). Runs beside a live server. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "idbsync/lake.h"
#include "idbsync/path.h"
#include "opts.h"

typedef struct q_cfg {
	const char *sub;   /* list or retry */
	const char *dir;
	int as_json;
	double wait_s;
} q_cfg;

static int parse_wait(void *cfg, const char *v, ids_error *err)
{
	char *end;
	double x = strtod(v, &end);
	if (end == v || *end || !(x >= 0))
		return ids_fail(err, IDS_EINVAL, "expected seconds, got '%s'", v);
	((q_cfg *)cfg)->wait_s = x;
	return 0;
}

/* Every flag of `idbsync lake quarantine` (help, parsing: src/cli/opts.c). */
static const cli_opt q_opts[] = {
	{.flag = "--lake", .arg = "DIR", .def = "./lake", .help = "the lake", .type = CLI_STR, CLI_FIELD(q_cfg, dir)},
	{.flag = "--json", .help = "list: the held tables and rows as JSON", .type = CLI_SWITCH, CLI_FIELD(q_cfg, as_json)},
	{.flag = "--wait", .arg = "SECONDS", .def = "30", .help = "retry: how long to wait for a server to record the outcome",
	 .type = CLI_CUSTOM, .parse = parse_wait},
	{0},
};

static const cli_cmd q_cmd = {
	.name = "lake quarantine",
	.usage = "usage: idbsync lake quarantine list  --lake DIR [--json]\n"
		 "       idbsync lake quarantine retry --lake DIR [--wait SECONDS]\n"
		 "  list   the tables and changes the lake holds because writing them failed: retried\n"
		 "         with backoff, quarantined once --lake-retry-max attempts are spent\n"
		 "  retry  retries all of them now, quarantined or not; waits for the server holding\n"
		 "         the lake to record the outcome, then lists what is still held\n",
	.opts = q_opts,
	.no_args = 1,
};

static void q_usage(FILE *f) { cli_help(&q_cmd, f); }

static void when(long long ms, char *out, size_t n)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&s, &tm);
	strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void print_failure(json_t *x)
{
	char since[32];
	when(json_integer_value(json_object_get(x, "since_ms")), since, sizeof since);
	long long next = json_integer_value(json_object_get(x, "next_ms"));
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	long long now_ms = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
	if (json_is_true(json_object_get(x, "quarantined")))
		printf("    QUARANTINED after %lld attempts (since %s)\n", json_integer_value(json_object_get(x, "attempts")),
		       since);
	else
		printf("    retrying: %lld attempts, next in %.1f s (since %s)\n",
		       json_integer_value(json_object_get(x, "attempts")), next > now_ms ? (next - now_ms) / 1000.0 : 0.0,
		       since);
	printf("    error: %s\n", json_string_value(json_object_get(x, "error")) ?: "");
}

/* Prints the list; returns how many things are held, or a negative IDS_E* code (printed). */
static int list(const char *dir, int as_json)
{
	ids_buf b = IDS_BUF_INIT;
	ids_error err = IDS_ERROR_INIT;
	if (lake_quarantine_read(dir, &b, &err)) {
		fprintf(stderr, "idbsync lake quarantine: %s\n", err.msg);
		ids_buf_free(&b);
		return err.code;
	}
	json_t *j = json_loadb(b.data, b.len, 0, NULL);
	if (as_json)
		printf("%.*s\n", (int)b.len, b.data);
	ids_buf_free(&b);
	json_t *h = json_object_get(j, "held"), *q = json_object_get(j, "quarantine");
	int n = (int)(json_array_size(h) + json_array_size(q));
	if (!as_json && !n)
		printf("nothing is held: the lake has written every change it was given\n");
	size_t i;
	json_t *x;
	if (!as_json && json_array_size(h))
		printf("held tables (%zu):\n", json_array_size(h));
	json_array_foreach(h, i, x)
	{
		if (as_json)
			break;
		printf("  %s/%s (table %s):", json_string_value(json_object_get(x, "db")),
		       json_string_value(json_object_get(x, "store")), json_string_value(json_object_get(x, "table")));
		if (json_object_get(x, "changes_from"))
			printf(" change log from seq %lld;", json_integer_value(json_object_get(x, "changes_from")));
		if (json_object_get(x, "conflicts_from"))
			printf(" conflicts from id %lld;", json_integer_value(json_object_get(x, "conflicts_from")));
		if (json_is_true(json_object_get(x, "state")))
			printf(" current state;");
		printf("\n");
		print_failure(x);
	}
	if (!as_json && json_array_size(q))
		printf("held rows (%zu):\n", json_array_size(q));
	json_array_foreach(q, i, x)
	{
		if (as_json)
			break;
		int state = !strcmp(json_string_value(json_object_get(x, "kind")) ?: "", "state");
		printf("  %s/%s key %s seq %lld: left out of the %s\n", json_string_value(json_object_get(x, "db")),
		       json_string_value(json_object_get(x, "store")), json_string_value(json_object_get(x, "key")),
		       json_integer_value(json_object_get(x, "seq")), state ? "current state" : "change log");
		print_failure(x);
	}
	json_decref(j);
	return n;
}

static int q_run(void *cfg, char **args, int nargs)
{
	const q_cfg *c = cfg;
	const char *dir = c->dir;
	int as_json = c->as_json;
	double wait_s = c->wait_s;
	if (!strcmp(c->sub, "list"))
		return list(dir, as_json) < 0 ? 1 : 0;
	ids_error err = IDS_ERROR_INIT;
	ids_buf b = IDS_BUF_INIT;
	int rc = lake_quarantine_read(dir, &b, &err);   /* a lake at all? */
	ids_buf_free(&b);
	if (!rc)
		rc = lake_quarantine_retry(dir, &err);
	if (rc) {
		fprintf(stderr, "idbsync lake quarantine retry: %s\n", err.msg);
		return 1;
	}
	char req[IDS_PATH_MAX + 1];
	if (ids_path(req, sizeof req, &err, "%s/_idbsync/retry", dir)) {
		fprintf(stderr, "idbsync lake quarantine retry: %s\n", err.msg);
		return 1;
	}
	for (double t = 0; t < wait_s && !access(req, F_OK); t += 0.1)
		usleep(100000);
	if (!access(req, F_OK)) {
		printf("retry asked for; no server took it up within %.0f s (it will when one opens %s)\n", wait_s, dir);
		return 0;
	}
	printf("retried; what is still held:\n");
	int n = list(dir, as_json);
	return n < 0 ? 1 : n > 0 ? 3 : 0;
}

int cmd_lake_quarantine(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;
	if (!sub || !strcmp(sub, "--help") || !strcmp(sub, "-h")) {
		q_usage(sub ? stdout : stderr);
		return sub ? 0 : 2;
	}
	if (strcmp(sub, "list") && strcmp(sub, "retry")) {
		fprintf(stderr, "idbsync lake quarantine: unknown subcommand '%s' (list, retry)\n", sub);
		q_usage(stderr);
		return 2;
	}
	q_cfg c = {.sub = sub, .dir = "./lake", .wait_s = 30};
	return cli_main(&q_cmd, &c, argc - 1, argv + 1, q_run);
}
