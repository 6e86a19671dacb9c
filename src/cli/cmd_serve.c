/* `idbsync serve`: options from a JSON config file and flags (flags win), then the store and
 * the HTTP server, until SIGINT/SIGTERM. Zero configuration works: ./data, ./lake,
 * 127.0.0.1:8080. */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "idbsync/import.h"
#include "idbsync/lake.h"
#include "idbsync/log.h"
#include "idbsync/server.h"
#include "idbsync/store.h"
#include "serve_lease.h"

typedef struct rule_opt {
	char db[IDS_DB_NAME_MAX + 1];
	char store[IDS_NAME_MAX + 1];
	ids_rule rule;
	int has_db;
	int read_only;
} rule_opt;

typedef struct serve_cfg {
	store_options so;
	server_options ho;
	lake_options lo;
	int no_lake;
	imp_inbox_options io;
	int no_inbox;
	char spool[4200];
	rule_opt rules[256];
	int n_rules;
	/* strings owned here (config file values, flags) */
	char data[4096], state[4096], lake[4096], listen[300], auth[4200], stat[4096], node[HLC_NODE_MAX + 1], drill[2048];
	ids_log_level log_level;
	ids_log_format log_format;
} serve_cfg;

static const char serve_help[] =
		"usage: idbsync serve [options]\n"
		"  --data DIR               state directory (SQLite)            [./data]\n"
		"  --state URL              keep the state in PostgreSQL (postgres://...), shared by several servers\n"
		"  --lake DIR               Parquet lake directory              [./lake]\n"
		"  --listen ADDR:PORT       address to listen on (port 0: any)  [127.0.0.1:8080]\n"
		"  --config FILE            JSON config file (flags override it; keys are these flags with '_')\n"
		"  --log-level LEVEL        debug, info, warn, error or off       [info]\n"
		"  --log-format FORMAT      text or json: one line per event (requests, pushes, lake) [text]\n"
		"  --auth none|tokens:FILE  bearer tokens file: lines \"TOKEN USER\" [none]\n"
		"  --conflict [DB/]STORE=RULE  rule for a store: lww, client-wins, server-wins (lake-wins), merge\n"
		"  --default-conflict RULE  rule for stores not named            [lww]\n"
		"  --read-only [DB/]STORE   server-owned store: clients receive it, their writes get 403\n"
		"  --max-body BYTES         request body limit                   [33554432]\n"
		"  --max-value BYTES        one value's JSON limit               [8388608]\n"
		"  --max-key BYTES          one encoded key's limit              [4096]\n"
		"  --max-skew-ms MS         how far ahead a client hlc may be    [300000]\n"
		"  --node-id ID             the server's hlc node id             [random, persisted]\n"
		"  --tombstone-retention S  clients idle longer stop holding tombstones [2592000]\n"
		"  --gc-interval S          tombstone collection period          [60]\n"
		"  --base-retention S       keep change-log versions this long for three-way merges [86400]\n"
		"  --conn-timeout S         idle connection timeout              [30]\n"
		"  --max-conns-per-ip N     connections from one address (slowloris guard) [unlimited]\n"
		"  --max-inflight BYTES     response bytes held for slow readers, all clients (503 beyond) [256 MiB]\n"
		"  --static DIR             serve DIR/client and DIR/demo (the demo page)\n"
		"  --drill-url URL          send /query to Apache Drill's REST API (and lake refreshes)\n"
		"  --query-timeout MS       analytics query time limit           [5000]\n"
		"  --query-max-rows N       analytics query row limit            [10000]\n"
		"  --no-lake                do not write the Parquet lake\n"
		"  --no-inbox               do not import Parquet dropped under LAKE/<db>/_inbox/<store>/\n"
		"  --inbox-interval MS      how often the inbox is scanned        [2000]\n"
		"  --inbox-settle MS        a file without _SUCCESS is complete once unchanged this long [3000]\n"
		"  --max-upload BYTES       one import upload (POST /v1/admin/db/{db}/import) [4 GiB]\n"
		"  --unsafe-no-fsync        do not fsync commits (benchmarks only: acked data may be lost)\n";

static void serve_usage(FILE *f)
{
	fputs(serve_help, f);
	fputs(lake_usage(), f);
}

/* flag is one of serve's (named in its help as "  FLAG ") or the lake's */
static int flag_known(const char *flag)
{
	lake_options probe = LAKE_OPTIONS_INIT;
	size_t n = strlen(flag);
	for (const char *p = serve_help; (p = strstr(p, flag)); p += n)
		if (p > serve_help && p[-1] == ' ' && (p[n] == ' ' || p[n] == '\n'))
			return 1;
	return lake_option(&probe, flag, "1", NULL) != 0;
}

static int set_rule(serve_cfg *c, const char *spec, const char *rule, const char *where)
{
	if (c->n_rules == (int)(sizeof c->rules / sizeof c->rules[0])) {
		fprintf(stderr, "idbsync serve: %s: too many conflict rules\n", where);
		return -1;
	}
	rule_opt *r = &c->rules[c->n_rules];
	memset(r, 0, sizeof *r);
	if (ids_rule_parse(rule, &r->rule)) {
		fprintf(stderr, "idbsync serve: %s: unknown conflict rule \"%s\" (lww, client-wins, server-wins, merge)\n",
			where, rule);
		return -1;
	}
	const char *slash = strchr(spec, '/');
	if (slash && (size_t)(slash - spec) <= IDS_DB_NAME_MAX) {
		memcpy(r->db, spec, (size_t)(slash - spec));
		r->has_db = 1;
		spec = slash + 1;
	}
	snprintf(r->store, sizeof r->store, "%s", spec);
	c->n_rules++;
	return 0;
}

static int num_arg(const char *flag, const char *v, long long *out);

/* One value flag (from argv or the config file, whose keys name the flags). */
static int apply(serve_cfg *c, const char *a, const char *v)
{
	long long x = 0;
	if (!strcmp(a, "--data")) snprintf(c->data, sizeof c->data, "%s", v);
	else if (!strcmp(a, "--state")) {
		if (!store_state_is_postgres(v)) {
			fprintf(stderr, "idbsync serve: --state: expected a postgres://... or postgresql://... URI, got \"%s\"\n", v);
			return -1;
		}
		snprintf(c->state, sizeof c->state, "%s", v);
	}
	else if (!strcmp(a, "--lake")) snprintf(c->lake, sizeof c->lake, "%s", v);
	else if (!strcmp(a, "--listen")) snprintf(c->listen, sizeof c->listen, "%s", v);
	else if (!strcmp(a, "--auth")) snprintf(c->auth, sizeof c->auth, "%s", v);
	else if (!strcmp(a, "--static")) snprintf(c->stat, sizeof c->stat, "%s", v);
	else if (!strcmp(a, "--node-id")) snprintf(c->node, sizeof c->node, "%s", v);
	else if (!strcmp(a, "--config")) return 0; /* loaded first */
	else if (!strcmp(a, "--log-level")) {
		if (ids_log_level_parse(v, &c->log_level)) {
			fprintf(stderr, "idbsync serve: --log-level: expected debug, info, warn, error or off, got \"%s\"\n", v);
			return -1;
		}
	} else if (!strcmp(a, "--log-format")) {
		if (ids_log_format_parse(v, &c->log_format)) {
			fprintf(stderr, "idbsync serve: --log-format: expected text or json, got \"%s\"\n", v);
			return -1;
		}
	}
	else if (!strcmp(a, "--inbox-interval")) { if (num_arg(a, v, &x)) return -1; c->io.scan_interval_ms = x; }
	else if (!strcmp(a, "--inbox-settle")) { if (num_arg(a, v, &x)) return -1; c->io.settle_ms = x; }
	else if (!strcmp(a, "--max-inflight")) { if (num_arg(a, v, &x)) return -1; c->ho.max_inflight_bytes = (uint64_t)x; }
	else if (!strcmp(a, "--max-conns-per-ip")) { if (num_arg(a, v, &x)) return -1; c->ho.max_conns_per_ip = (int)x; }
	else if (!strcmp(a, "--max-upload")) { if (num_arg(a, v, &x)) return -1; c->ho.max_upload = (uint64_t)x; }
	else if (!strcmp(a, "--query-timeout")) { if (num_arg(a, v, &x)) return -1; c->ho.query_timeout_ms = x; }
	else if (!strcmp(a, "--query-max-rows")) { if (num_arg(a, v, &x)) return -1; c->ho.query_max_rows = x; }
	else if (!strcmp(a, "--drill-url")) {
		/* both the query endpoint and the lake's refresh notifications use Drill */
		snprintf(c->drill, sizeof c->drill, "%s", v);
		ids_error err = IDS_ERROR_INIT;
		if (lake_option(&c->lo, a, v, &err) < 0) {
			fprintf(stderr, "idbsync serve: %s %s: %s\n", a, v, err.msg);
			return -1;
		}
	}
	else if (!strcmp(a, "--conflict")) {
		const char *eq = strchr(v, '=');
		char spec[IDS_NAME_MAX + IDS_DB_NAME_MAX + 2];
		if (!eq || (size_t)(eq - v) >= sizeof spec) {
			fprintf(stderr, "idbsync serve: --conflict %s: expected [DB/]STORE=RULE\n", v);
			return -1;
		}
		memcpy(spec, v, (size_t)(eq - v));
		spec[eq - v] = 0;
		if (set_rule(c, spec, eq + 1, "--conflict"))
			return -1;
	} else if (!strcmp(a, "--read-only")) {
		if (set_rule(c, v, "lww", "--read-only"))
			return -1;
		c->rules[c->n_rules - 1].read_only = 1;
	} else if (!strcmp(a, "--default-conflict")) {
		if (ids_rule_parse(v, &c->so.default_rule)) {
			fprintf(stderr, "idbsync serve: --default-conflict: unknown rule \"%s\"\n", v);
			return -1;
		}
	} else if (!strcmp(a, "--max-body")) { if (num_arg(a, v, &x)) return -1; c->ho.limits.max_body = (size_t)x; }
	else if (!strcmp(a, "--max-value")) { if (num_arg(a, v, &x)) return -1; c->ho.limits.max_value = (size_t)x; }
	else if (!strcmp(a, "--max-key")) { if (num_arg(a, v, &x)) return -1; c->ho.limits.max_key = (size_t)x; }
	else if (!strcmp(a, "--max-skew-ms")) { if (num_arg(a, v, &x)) return -1; c->so.max_skew_ms = x; }
	else if (!strcmp(a, "--tombstone-retention")) { if (num_arg(a, v, &x)) return -1; c->so.tombstone_retention_ms = x * 1000; }
	else if (!strcmp(a, "--base-retention")) { if (num_arg(a, v, &x)) return -1; c->so.base_retention_ms = x * 1000; }
	else if (!strcmp(a, "--gc-interval")) { if (num_arg(a, v, &x)) return -1; c->so.gc_interval_ms = x * 1000; }
	else if (!strcmp(a, "--conn-timeout")) { if (num_arg(a, v, &x)) return -1; c->ho.conn_timeout_s = (int)x; }
	else {
		ids_error err = IDS_ERROR_INIT;
		int used = lake_option(&c->lo, a, v, &err);
		if (used < 0) {
			fprintf(stderr, "idbsync serve: %s %s: %s\n", a, v, err.msg);
			return -1;
		}
		if (used == 0) {
			fprintf(stderr, "idbsync serve: unknown option %s (see --help)\n", a);
			return -1;
		}
	}
	return 0;
}

static int apply_switch(serve_cfg *c, const char *a, int on)
{
	if (!strcmp(a, "--unsafe-no-fsync"))
		c->so.durable = !on;
	else if (!strcmp(a, "--no-lake"))
		c->no_lake = on;
	else if (!strcmp(a, "--no-inbox"))
		c->no_inbox = on;
	else
		return 0;
	return 1;
}

/* The ARG word after "  FLAG " in the help texts ("DIR", "BYTES", ...), or "" for a switch. */
static void flag_arg(const char *flag, char *out, size_t n)
{
	out[0] = 0;
	const char *texts[] = {serve_help, lake_usage()};
	size_t fl = strlen(flag);
	for (int t = 0; t < 2; t++)
		for (const char *p = texts[t]; (p = strstr(p, flag)); p += fl)
			if (p > texts[t] && p[-1] == ' ' && p[fl] == ' ' && p[fl + 1] != ' ') {
				size_t k = strcspn(p + fl + 1, " \n");
				snprintf(out, n, "%.*s", (int)k, p + fl + 1);
				return;
			}
}

/* Config keys are the flags' names with '_' ("max_body" is --max-body); a few older keys
 * carry their unit. */
static void config_flag(const char *key, char *flag, size_t n)
{
	static const char *const alias[][2] = {{"tombstone_retention_s", "--tombstone-retention"},
					       {"base_retention_s", "--base-retention"}, {"gc_interval_s", "--gc-interval"},
					       {"conn_timeout_s", "--conn-timeout"}};
	for (size_t i = 0; i < sizeof alias / sizeof alias[0]; i++)
		if (!strcmp(key, alias[i][0])) {
			snprintf(flag, n, "%s", alias[i][1]);
			return;
		}
	snprintf(flag, n, "--%s", key);
	for (char *p = flag + 2; *p; p++)
		if (*p == '_')
			*p = '-';
}

static int config_scalar(serve_cfg *c, const char *key, json_t *v, const char *where)
{
	char flag[128], arg[32], text[64];
	config_flag(key, flag, sizeof flag);
	if (apply_switch(c, flag, 0)) {
		if (!json_is_boolean(v)) {
			fprintf(stderr, "idbsync serve: %s: must be true or false\n", where);
			return -1;
		}
		apply_switch(c, flag, json_is_true(v));
		return 0;
	}
	if (!flag_known(flag) || !strcmp(flag, "--config")) {
		fprintf(stderr, "idbsync serve: %s: unknown setting (the keys are the flags of idbsync serve --help, "
				"with '_' for '-')\n", where);
		return -1;
	}
	flag_arg(flag, arg, sizeof arg);
	int numeric = !strcmp(arg, "BYTES") || !strcmp(arg, "MS") || !strcmp(arg, "S") || !strcmp(arg, "N");
	int dur = !strcmp(arg, "DUR") || !strcmp(arg, "SIZE");
	const char *val = NULL;
	if (json_is_string(v) && (!numeric || dur))
		val = json_string_value(v);
	else if (json_is_integer(v) && (numeric || dur)) {
		snprintf(text, sizeof text, "%lld", (long long)json_integer_value(v));
		val = text;
	}
	if (!val) {
		fprintf(stderr, "idbsync serve: %s: must be %s (%s %s)\n", where,
			numeric ? "a number" : dur ? "a number or a string" : "a string", flag, arg);
		return -1;
	}
	return apply(c, flag, val);   /* the config stays loaded: the lake keeps pointers to its strings */
}

static int load_config(serve_cfg *c, const char *path)
{
	json_error_t je;
	json_t *root = json_load_file(path, 0, &je);
	if (!root) {
		fprintf(stderr, "idbsync serve: %s:%d:%d: %s\n", path, je.line, je.column, je.text);
		return -1;
	}
	if (!json_is_object(root)) {
		fprintf(stderr, "idbsync serve: %s: expected a JSON object of settings\n", path);
		json_decref(root);
		return -1;
	}
	int rc = 0;
	const char *k;
	json_t *v;
	json_object_foreach(root, k, v)
	{
		char where[600];
		snprintf(where, sizeof where, "%s: field \"%s\"", path, k);
		if (!strcmp(k, "read_only")) {
			if (!json_is_array(v)) {
				fprintf(stderr, "idbsync serve: %s: must be an array of store names\n", where);
				rc = -1;
				continue;
			}
			size_t i;
			json_t *e;
			json_array_foreach(v, i, e)
			{
				if (!json_is_string(e) || set_rule(c, json_string_value(e), "lww", where)) {
					fprintf(stderr, "idbsync serve: %s[%zu]: must be a store name\n", where, i);
					rc = -1;
				} else {
					c->rules[c->n_rules - 1].read_only = 1;
				}
			}
		} else if (!strcmp(k, "conflict")) {
			if (!json_is_object(v)) {
				fprintf(stderr, "idbsync serve: %s: must be an object {\"[db/]store\": \"rule\"}\n", where);
				rc = -1;
				continue;
			}
			const char *store;
			json_t *rv;
			json_object_foreach(v, store, rv)
			{
				if (!json_is_string(rv) || set_rule(c, store, json_string_value(rv), where)) {
					if (!json_is_string(rv))
						fprintf(stderr, "idbsync serve: %s.%s: must be a rule name string\n", where, store);
					rc = -1;
				}
			}
		} else if (config_scalar(c, k, v, where)) {
			rc = -1;
		}
	}
	/* kept for the life of the process: lake settings point into its strings */
	static json_t *loaded;
	json_decref(loaded);
	loaded = root;
	return rc;
}

static int num_arg(const char *flag, const char *v, long long *out)
{
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	if (!*v || *end || errno || x < 0) {
		fprintf(stderr, "idbsync serve: %s: expected a non-negative integer, got \"%s\"\n", flag, v);
		return -1;
	}
	*out = x;
	return 0;
}

static int parse_args(serve_cfg *c, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			serve_usage(stdout);
			exit(0);
		}
		if (apply_switch(c, a, 1))
			continue;
		if (i + 1 >= argc) {
			if (flag_known(a))
				fprintf(stderr, "idbsync serve: %s needs a value (see --help)\n", a);
			else
				fprintf(stderr, "idbsync serve: unknown option %s (see --help)\n", a);
			return -1;
		}
		if (apply(c, a, argv[++i]))
			return -1;
	}
	return 0;
}

/* BIN/../share/idbsync when it holds the client (an installed binary), found from
 * /proc/self/exe so the prefix chosen at install time needs no rebuild. */
static int share_dir(char *out, size_t n)
{
	char exe[4096];
	ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (k <= 0)
		return 0;
	exe[k] = 0;
	char *slash = strrchr(exe, '/');
	if (!slash)
		return 0;
	*slash = 0;
	struct stat st;
	char probe[4300];
	if ((size_t)snprintf(out, n, "%s/../share/idbsync", exe) >= n ||
	    (size_t)snprintf(probe, sizeof probe, "%s/client/idbsync.js", out) >= sizeof probe)
		return 0;
	return !stat(probe, &st);
}

int cmd_serve(int argc, char **argv)
{
	static serve_cfg c;
	store_options so = STORE_OPTIONS_INIT;
	server_options ho = SERVER_OPTIONS_INIT;
	lake_options lo = LAKE_OPTIONS_INIT;
	imp_inbox_options io = IMP_INBOX_OPTIONS_INIT;
	c.so = so;
	c.ho = ho;
	c.lo = lo;
	c.io = io;
	snprintf(c.data, sizeof c.data, "./data");
	snprintf(c.lake, sizeof c.lake, "./lake");
	snprintf(c.listen, sizeof c.listen, "127.0.0.1:8080");
	snprintf(c.auth, sizeof c.auth, "none");
	c.log_level = IDS_LOG_INFO;
	for (int i = 1; i + 1 < argc; i++)
		if (!strcmp(argv[i], "--config") && load_config(&c, argv[i + 1]))
			return 2;
	if (parse_args(&c, argc, argv))
		return 2;
	ids_log_setup(c.log_level, c.log_format, 2);
	c.so.dir = c.data;
	c.so.state = c.state[0] ? c.state : NULL;
	c.so.no_lake = c.no_lake;
	c.so.node_id = c.node[0] ? c.node : NULL;
	c.ho.listen = c.listen;
	c.ho.lake = c.lake;
	c.ho.auth = c.auth;
	c.ho.drill_url = c.drill[0] ? c.drill : NULL;
	c.so.auth = strcmp(c.auth, "none") != 0;
	static char installed[4200];
	if (c.stat[0]) {
		c.ho.static_dir = c.stat;
	} else if (share_dir(installed, sizeof installed)) {
		c.ho.static_dir = installed;   /* `make install`: PREFIX/share/idbsync beside PREFIX/bin */
	} else {
#ifdef IDS_SOURCE_DIR
		struct stat st;
		if (!stat(IDS_SOURCE_DIR "/client", &st))
			c.ho.static_dir = IDS_SOURCE_DIR;
#endif
	}

	/* signals are handled by sigwait on this thread; every other thread inherits the mask */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	ids_error err = IDS_ERROR_INIT;
	store *st = NULL;
	if (store_open(&st, &c.so, &err)) {
		fprintf(stderr, "idbsync serve: %s\n", err.msg);
		return 1;
	}
	for (int i = 0; i < c.n_rules; i++) {
		const char *rdb = c.rules[i].has_db ? c.rules[i].db : NULL;
		if (c.rules[i].read_only)
			store_set_read_only(st, rdb, c.rules[i].store);
		else
			store_set_rule(st, rdb, c.rules[i].store, c.rules[i].rule);
	}
	/* import uploads are spooled next to the state, on the same disk */
	snprintf(c.spool, sizeof c.spool, "%s/tmp", c.data);
	mkdir(c.spool, 0700);
	c.ho.spool_dir = c.spool;
	/* the lake writer and the inbox: this process's own with SQLite; with PostgreSQL one
	 * server at a time runs each, by lease (serve_lease.c) */
	c.io.lake_dir = c.lake;
	c.lo.dir = c.lake;
	serve_lease *ls = NULL;
	if (serve_lease_start(&ls, st, c.so.state != NULL, c.no_lake ? NULL : &c.lo, c.no_inbox ? NULL : &c.io,
			      &c.ho.hooks, &err)) {
		fprintf(stderr, "idbsync serve: %s\n", err.msg);
		store_free(st);
		return 1;
	}
	server *sv = NULL;
	if (server_start(&sv, st, &c.ho, &err)) {
		fprintf(stderr, "idbsync serve: %s\n", err.msg);
		serve_lease_free(ls);
		store_free(st);
		return 1;
	}
	const char *host = c.listen;
	const char *colon = strrchr(host, ':');
	printf("idbsync: listening on http://%.*s:%d (data %s, lake %s, auth %s)\n", (int)(colon - host), host,
	       server_port(sv), c.data, c.lake, c.auth);
	fflush(stdout);
	int sig = 0;
	sigwait(&set, &sig);
	ids_logf(IDS_LOG_INFO, "shutdown", "signal %d: stopping (the lake records its progress within %d ms)", sig, LAKE_STOP_BUDGET_MS);
	/* the lake first: an HTTP handler waiting in lake_flush would hold server_stop */
	serve_lease_stop(ls);
	server_stop(sv);
	serve_lease_free(ls);
	store_free(st);
	return 0;
}
