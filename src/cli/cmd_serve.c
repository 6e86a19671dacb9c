/* `idbsync serve`: options from a JSON config file and flags (flags win; both from the one
 * table serve_opts), then the ledger, the lake and the HTTP server, until SIGINT/SIGTERM. Zero
 * configuration works: ./data, ./lake, 127.0.0.1:8080. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "idbsync/config.h"
#include "idbsync/import.h"
#include "idbsync/lake.h"
#include "idbsync/log.h"
#include "idbsync/path.h"
#include "idbsync/pq_write.h"
#include "idbsync/server.h"
#include "idbsync/ledger.h"
#include "opts.h"
#include "serve_lease.h"

typedef struct rule_opt {
	char db[IDS_DB_NAME_MAX + 1];
	char store[IDS_NAME_MAX + 1];
	ids_rule rule;
	int has_db;
	int read_only;
} rule_opt;

typedef struct serve_cfg {
	ledger_options so;
	server_options ho;
	lake_options lo;
	imp_inbox_options io;
	/* strings point into argv or a config file, both alive for the process */
	const char *data, *state, *lake, *listen, *auth, *stat, *node, *drill;
	int no_lake, no_inbox, no_fsync;
	int log_level, log_format;   /* ids_log_level, ids_log_format */
	rule_opt rules[256];
	int n_rules;
	char spool[IDS_PATH_MAX + 1];
} serve_cfg;

static int add_rule(serve_cfg *c, const char *spec, const char *rule, int read_only, ids_error *err)
{
	if (c->n_rules == (int)(sizeof c->rules / sizeof c->rules[0]))
		return ids_fail(err, IDS_ELIMIT, "too many conflict rules (at most %zu)", sizeof c->rules / sizeof c->rules[0]);
	rule_opt r = {.read_only = read_only};
	if (ids_rule_parse(rule, &r.rule))
		return ids_fail(err, IDS_EINVAL, "unknown conflict rule \"%s\" (lww, client-wins, server-wins, merge)", rule);
	const char *slash = strchr(spec, '/');
	if (slash && (size_t)(slash - spec) <= IDS_DB_NAME_MAX) {
		memcpy(r.db, spec, (size_t)(slash - spec));
		r.has_db = 1;
		spec = slash + 1;
	}
	if (!*spec || strlen(spec) > IDS_NAME_MAX)
		return ids_fail(err, IDS_EINVAL, "expected a store name of 1 to %d bytes", IDS_NAME_MAX);
	memcpy(r.store, spec, strlen(spec) + 1);
	c->rules[c->n_rules++] = r;
	return 0;
}

static int parse_conflict(void *cfg, const char *v, ids_error *err)
{
	const char *eq = strchr(v, '=');
	char spec[IDS_NAME_MAX + IDS_DB_NAME_MAX + 2];
	if (!eq || (size_t)(eq - v) >= sizeof spec)
		return ids_fail(err, IDS_EINVAL, "expected [DB/]STORE=RULE, got \"%s\"", v);
	memcpy(spec, v, (size_t)(eq - v));
	spec[eq - v] = 0;
	return add_rule(cfg, spec, eq + 1, 0, err);
}

static int parse_read_only(void *cfg, const char *v, ids_error *err) { return add_rule(cfg, v, "lww", 1, err); }

static int parse_state(void *cfg, const char *v, ids_error *err)
{
	if (!ledger_state_is_postgres(v))
		return ids_fail(err, IDS_EINVAL, "expected a postgres://... or postgresql://... URI, got \"%s\"", v);
	((serve_cfg *)cfg)->state = v;
	return 0;
}

static int parse_default_rule(void *cfg, const char *v, ids_error *err)
{
	if (ids_rule_parse(v, &((serve_cfg *)cfg)->so.default_rule))
		return ids_fail(err, IDS_EINVAL, "unknown rule \"%s\" (lww, client-wins, server-wins, merge)", v);
	return 0;
}

static int parse_partition(void *cfg, const char *v, ids_error *err)
{
	lake_options *o = &((serve_cfg *)cfg)->lo;
	if (!strchr(v, '=') || o->n_partition == (int)(sizeof o->partition / sizeof o->partition[0]))
		return ids_fail(err, IDS_EINVAL, "expected [DB/]STORE=FIELD (at most 16)");
	o->partition[o->n_partition++] = v;
	return 0;
}

static int parse_iceberg_keep(void *cfg, const char *v, ids_error *err)
{
	lake_options *o = &((serve_cfg *)cfg)->lo;
	if (ids_parse_duration_ms(v, &o->iceberg_keep_ms))
		return ids_fail(err, IDS_EINVAL, "expected a duration like 10min as 600s, or 0 (keep every snapshot)");
	if (!o->iceberg_keep_ms)
		o->iceberg_keep_ms = -1;
	return 0;
}

static int parse_url(const char *v, const char **out, const char *what, ids_error *err)
{
	if (strncmp(v, "http://", 7) && strncmp(v, "https://", 8))
		return ids_fail(err, IDS_EINVAL, "expected %s, like http://127.0.0.1:8181", what);
	*out = v;
	return 0;
}

static int parse_iceberg_rest(void *cfg, const char *v, ids_error *err)
{
	return parse_url(v, &((serve_cfg *)cfg)->lo.iceberg_rest, "the catalog's base URL", err);
}

static int parse_s3_endpoint(void *cfg, const char *v, ids_error *err)
{
	return parse_url(v, &((serve_cfg *)cfg)->lo.s3_endpoint, "the S3 service's URL", err);
}

static int parse_warehouse(void *cfg, const char *v, ids_error *err)
{
	if (strncmp(v, "s3://", 5) || !v[5] || v[5] == '/')
		return ids_fail(err, IDS_EINVAL, "expected s3://bucket[/prefix]");
	((serve_cfg *)cfg)->lo.iceberg_warehouse = v;
	return 0;
}

static const cli_choice log_levels[] = {{"debug", IDS_LOG_DEBUG}, {"info", IDS_LOG_INFO}, {"warn", IDS_LOG_WARN},
					{"error", IDS_LOG_ERROR}, {"off", IDS_LOG_OFF}, {NULL, 0}};
static const cli_choice log_formats[] = {{"text", IDS_LOG_TEXT}, {"json", IDS_LOG_JSON}, {NULL, 0}};
static const cli_choice profiles[] = {{"compat", PQ_PROFILE_COMPAT}, {"modern", PQ_PROFILE_MODERN}, {NULL, 0}};
static const cli_choice formats[] = {{"hive", LAKE_FORMAT_HIVE}, {"iceberg", LAKE_FORMAT_ICEBERG}, {NULL, 0}};
static const cli_choice nesteds[] = {{"auto", LAKE_NESTED_AUTO}, {"struct", LAKE_NESTED_STRUCT}, {"json", LAKE_NESTED_JSON},
				     {NULL, 0}};

#define F(m) CLI_FIELD(serve_cfg, m)
#define STR(fl, a, d, m, h) {.flag = fl, .arg = a, .def = d, .help = h, .type = CLI_STR, F(m)}
#define NUM(fl, a, d, m, h) {.flag = fl, .arg = a, .def = d, .help = h, .type = CLI_INT, F(m)}
#define SECS(fl, k, d, m, h) {.flag = fl, .arg = "S", .def = d, .help = h, .type = CLI_INT, F(m), .scale = 1000, .key = k}
#define SWITCH(fl, m, h) {.flag = fl, .help = h, .type = CLI_SWITCH, F(m)}
#define ENUM(fl, a, d, m, ch, h) {.flag = fl, .arg = a, .def = d, .help = h, .type = CLI_ENUM, F(m), .choices = ch}
#define CUSTOM(fl, a, d, fn, rep, h) {.flag = fl, .arg = a, .def = d, .help = h, .type = CLI_CUSTOM, .parse = fn, .flags = rep}

/* Every setting of `idbsync serve`: flag, value, default, field, help. A config key is the
 * flag with '_' for '-' (the older unit-named keys are given). README's table follows it
 * (tests/integration/options_doc.test.mjs holds the two together). */
static const cli_opt serve_opts[] = {
	STR("--data", "DIR", "./data", data, "state directory (SQLite)"),
	CUSTOM("--state", "URL", NULL, parse_state, 0, "keep the state in PostgreSQL (postgres://...), shared by several servers"),
	STR("--lake", "DIR", "./lake", lake, "Parquet lake directory"),
	STR("--listen", "ADDR:PORT", "127.0.0.1:8080", listen, "address to listen on (port 0: any)"),
	{.flag = "--config", .arg = "FILE", .help = "JSON config file (flags override it; keys are these flags with '_')",
	 .type = CLI_CONFIG},
	ENUM("--log-level", "LEVEL", "info", log_level, log_levels, "debug, info, warn, error or off"),
	ENUM("--log-format", "FORMAT", "text", log_format, log_formats, "text or json: one line per event (requests, pushes, lake)"),
	STR("--auth", "none|tokens:FILE", "none", auth, "bearer tokens file: lines \"TOKEN USER\""),
	CUSTOM("--conflict", "[DB/]STORE=RULE", NULL, parse_conflict, CLI_REPEAT,
	       "rule for a store: lww, client-wins, server-wins (lake-wins), merge"),
	CUSTOM("--default-conflict", "RULE", "lww", parse_default_rule, 0, "rule for stores not named"),
	CUSTOM("--read-only", "[DB/]STORE", NULL, parse_read_only, CLI_REPEAT,
	       "server-owned store: clients receive it, their writes get 403"),
	NUM("--max-body", "BYTES", "33554432", ho.limits.max_body, "request body limit"),
	NUM("--max-value", "BYTES", "8388608", ho.limits.max_value, "one value's JSON limit"),
	NUM("--max-key", "BYTES", "4096", ho.limits.max_key, "one encoded key's limit"),
	NUM("--max-skew-ms", "MS", "300000", so.max_skew_ms, "how far ahead a client hlc may be"),
	STR("--node-id", "ID", "random, persisted", node, "the server's hlc node id"),
	SECS("--tombstone-retention", "tombstone_retention_s", "2592000", so.tombstone_retention_ms,
	     "clients idle longer stop holding tombstones"),
	SECS("--gc-interval", "gc_interval_s", "60", so.gc_interval_ms, "tombstone collection period"),
	SECS("--base-retention", "base_retention_s", "86400", so.base_retention_ms,
	     "keep change-log versions this long for three-way merges"),
	{.flag = "--conn-timeout", .arg = "S", .def = "30", .help = "idle connection timeout", .type = CLI_INT,
	 F(ho.conn_timeout_s), .key = "conn_timeout_s"},
	NUM("--max-conns-per-ip", "N", "unlimited", ho.max_conns_per_ip, "connections from one address (slowloris guard)"),
	{.flag = "--max-connections", .arg = "N", .def = "16384", .help = "open connections at once (live clients hold one each)",
	 .type = CLI_INT, F(ho.max_connections), .min = 1, .max = 1000000},
	{.flag = "--workers", .arg = "N", .def = "32", .help = "threads running requests; waiting long-polls and streams hold none",
	 .type = CLI_INT, F(ho.workers), .min = 1, .max = 1024},
	NUM("--max-inflight", "BYTES", "256 MiB", ho.max_inflight_bytes,
	    "response bytes held for slow readers, all clients (503 beyond)"),
	STR("--static", "DIR", NULL, stat, "serve DIR/client and DIR/demo (the demo page)"),
	STR("--drill-url", "URL", NULL, drill, "send /query to Apache Drill's REST API (and lake refreshes)"),
	NUM("--query-timeout", "MS", "5000", ho.query_timeout_ms, "analytics query time limit"),
	NUM("--query-max-rows", "N", "10000", ho.query_max_rows, "analytics query row limit"),
	SWITCH("--no-lake", no_lake, "do not write the Parquet lake"),
	SWITCH("--no-inbox", no_inbox, "do not import Parquet dropped under LAKE/<db>/_inbox/<store>/"),
	NUM("--inbox-interval", "MS", "2000", io.scan_interval_ms, "how often the inbox is scanned"),
	NUM("--inbox-settle", "MS", "3000", io.settle_ms, "a file without _SUCCESS is complete once unchanged this long"),
	NUM("--max-upload", "BYTES", "4 GiB", ho.max_upload, "one import upload (POST /v1/admin/db/{db}/import)"),
	SWITCH("--unsafe-no-fsync", no_fsync, "do not fsync commits (benchmarks only: acked data may be lost)"),
	{.flag = "--lake-profile", .arg = "compat|modern", .def = "compat", .type = CLI_ENUM, F(lo.profile),
	 .help = "compat: Hive 2+/Impala 3+/Drill; modern: Trino/Spark/DuckDB", .choices = profiles,
	 .section = "lake (Parquet) options:"},
	ENUM("--lake-format", "hive|iceberg", "hive", lo.format, formats, "iceberg: also Apache Iceberg v2 tables in DIR/_iceberg"),
	CUSTOM("--iceberg-keep", "DUR", "600s", parse_iceberg_keep, 0,
	       "Iceberg snapshots kept for time travel and running queries; 0: all"),
	{.flag = "--iceberg-keep-snapshots", .arg = "N", .def = "0", .type = CLI_INT, F(lo.iceberg_keep_snapshots),
	 .min = 0, .max = 1000000000, .help = "and at most the newest N snapshots of a table (0: no limit)"},
	CUSTOM("--iceberg-rest", "URL", NULL, parse_iceberg_rest, 0,
	       "commit the Iceberg tables through this REST catalog (not given: the file-system catalog)"),
	CUSTOM("--iceberg-warehouse", "s3://BUCKET/PREFIX", NULL, parse_warehouse, 0,
	       "the Iceberg files also on S3 (the catalog: the state, or --iceberg-rest)"),
	{.flag = "--iceberg-vend-credentials", .type = CLI_SWITCH, F(lo.iceberg_vend),
	 .help = "S3 warehouse: hand the S3 keys to catalog readers that ask (admin tokens; needs --auth tokens)"},
	CUSTOM("--s3-endpoint", "URL", NULL, parse_s3_endpoint, 0,
	       "the S3 service (credentials: $AWS_ACCESS_KEY_ID, $AWS_SECRET_ACCESS_KEY)"),
	STR("--s3-region", "REGION", "us-east-1", lo.s3_region, "S3 signing region"),
	{.flag = "--flush-interval", .arg = "DUR", .def = "1s", .help = "how often new changes land in the lake (1s, 250ms)",
	 .type = CLI_DUR, F(lo.flush_interval_ms), .min = 1},
	ENUM("--lake-nested", "auto|struct|json", "auto: by profile", lo.nested, nesteds, "nested objects as STRUCT or JSON text"),
	CUSTOM("--lake-partition", "[DB/]STORE=FIELD", NULL, parse_partition, CLI_REPEAT,
	       "Hive-style partitioning of a store's current state"),
	{.flag = "--lake-bucket-bytes", .arg = "SIZE", .def = "128M", .help = "target size of one current-state file before doubling",
	 .type = CLI_SIZE, F(lo.bucket_bytes), .min = 1},
	STR("--lake-config", "FILE", NULL, lo.config_file,
	    "JSON: {\"stores\":{\"[db/]store\":{\"partition_by\":F,\"bucket_bytes\":N}}} (docs/lake-layout.md)"),
	{.flag = "--lake-retry-max", .arg = "N", .def = "10", .help = "attempts before a failing table or row is quarantined",
	 .type = CLI_INT, F(lo.retry_max), .min = 1, .max = 1000},
	{.flag = "--lake-retry-base", .arg = "DUR", .def = "1s", .help = "wait before the first retry, doubled each time up to 5 min",
	 .type = CLI_DUR, F(lo.retry_base_ms), .min = 1},
	STR("--on-flush", "'COMMAND'", NULL, lo.on_flush, "run after each flush per touched table (env IDBSYNC_TABLE, ...)"),
	STR("--drill-workspace", "WS", "dfs.lake", lo.drill_workspace, "the Drill workspace the lake is mounted as"),
	{0},
};

static const cli_cmd serve_cmd = {
	.name = "serve",
	.usage = "usage: idbsync serve [options]\n",
	.opts = serve_opts,
	.no_args = 1,
};

/* BIN/../share/idbsync when it holds the client (an installed binary), found from
 * /proc/self/exe so the prefix chosen at install time needs no rebuild. */
static int share_dir(char *out, size_t n)
{
	char exe[IDS_PATH_MAX + 1];
	ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (k <= 0)
		return 0;
	exe[k] = 0;
	char *slash = strrchr(exe, '/');
	if (!slash)
		return 0;
	*slash = 0;
	struct stat st;
	char probe[IDS_PATH_MAX + 1];
	if (ids_path(out, n, NULL, "%s/../share/idbsync", exe) ||
	    ids_path(probe, sizeof probe, NULL, "%s/client/idbsync.js", out))
		return 0;
	return !stat(probe, &st);
}

/* After the flags: the ledger, the lake, the inbox and the server, until a signal. */
static int serve_run(void *cfg, char **args, int nargs)
{
	serve_cfg *c = cfg;
	ids_log_setup((ids_log_level)c->log_level, (ids_log_format)c->log_format, 2);
	ids_error err = IDS_ERROR_INIT;
	/* refused here, naming the flag, rather than by a cut name later: the longest names beneath
	 * them are LAKE/<db>/<table>_changes/dt=.../part-....parquet.tmp and DATA/<db>.sqlite-wal */
	if (ids_path_room(c->data, CLI_DATA_PATH_ROOM, "--data", &err) ||
	    ids_path_room(c->lake, LAKE_PATH_ROOM, "--lake", &err)) {
		fprintf(stderr, "idbsync serve: %s\n", err.msg);
		return 2;
	}
	c->so.dir = c->data;
	c->so.state = c->state;
	c->so.no_lake = c->no_lake;
	c->so.durable = !c->no_fsync;
	c->so.node_id = c->node;
	c->ho.listen = c->listen;
	c->ho.auth = c->auth;
	c->ho.drill_url = c->drill;
	c->lo.drill_url = c->drill;   /* both the query endpoint and the lake's refreshes use Drill */
	c->so.auth = strcmp(c->auth, "none") != 0;
	/* the keys are the server's own, long-lived: never to whoever reaches the port */
	if (c->lo.iceberg_vend && !c->so.auth) {
		fprintf(stderr, "idbsync serve: --iceberg-vend-credentials needs --auth tokens:FILE: it hands the server's S3 "
				"keys to catalog readers, and with --auth none anyone who reaches %s would get them\n",
			c->listen);
		return 2;
	}
	static char installed[IDS_PATH_MAX + 1];
	if (c->stat) {
		c->ho.static_dir = c->stat;
	} else if (share_dir(installed, sizeof installed)) {
		c->ho.static_dir = installed;   /* `make install`: PREFIX/share/idbsync beside PREFIX/bin */
	} else {
#ifdef IDS_SOURCE_DIR
		struct stat st;
		if (!stat(IDS_SOURCE_DIR "/client", &st))
			c->ho.static_dir = IDS_SOURCE_DIR;
#endif
	}

	/* signals are handled by sigwait on this thread; every other thread inherits the mask */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	ledger *lg = NULL;
	if (ledger_open(&lg, &c->so, &err)) {
		fprintf(stderr, "idbsync serve: %s\n", err.msg);
		return 1;
	}
	for (int i = 0; i < c->n_rules; i++) {
		const char *rdb = c->rules[i].has_db ? c->rules[i].db : NULL;
		if (c->rules[i].read_only)
			ledger_set_read_only(lg, rdb, c->rules[i].store);
		else
			ledger_set_rule(lg, rdb, c->rules[i].store, c->rules[i].rule);
	}
	/* import uploads are spooled next to the state, on the same disk */
	if (ids_path(c->spool, sizeof c->spool, &err, "%s/tmp", c->data)) {
		fprintf(stderr, "idbsync serve: %s\n", err.msg);
		ledger_free(lg);
		return 1;
	}
	mkdir(c->spool, 0700);
	c->ho.spool_dir = c->spool;
	/* the lake writer and the inbox: this process's own with SQLite; with PostgreSQL one
	 * server at a time runs each, by lease (serve_lease.c) */
	c->io.lake_dir = c->lake;
	c->lo.dir = c->lake;
	serve_lease *ls = NULL;
	if (serve_lease_start(&ls, lg, c->state != NULL, c->no_lake ? NULL : &c->lo, c->no_inbox ? NULL : &c->io,
			      &c->ho.hooks, &err)) {
		fprintf(stderr, "idbsync serve: %s\n", err.msg);
		ledger_free(lg);
		return 1;
	}
	server *sv = NULL;
	if (server_start(&sv, lg, &c->ho, &err)) {
		fprintf(stderr, "idbsync serve: %s\n", err.msg);
		serve_lease_free(ls);
		ledger_free(lg);
		return 1;
	}
	const char *host = c->listen;
	const char *colon = strrchr(host, ':');
	printf("idbsync: listening on http://%.*s:%d (data %s, lake %s, auth %s)\n", (int)(colon - host), host,
	       server_port(sv), c->data, c->lake, c->auth);
	fflush(stdout);
	int sig = 0;
	sigwait(&set, &sig);
	ids_logf(IDS_LOG_INFO, "shutdown", "signal %d: stopping (the lake records its progress within %d ms)", sig, LAKE_STOP_BUDGET_MS);
	/* the lake first: an HTTP handler waiting in lake_flush would hold server_stop */
	serve_lease_stop(ls);
	server_stop(sv);
	serve_lease_free(ls);
	ledger_free(lg);
	return 0;
}

int cmd_serve(int argc, char **argv)
{
	static serve_cfg c;   /* the settings outlive this frame: threads read their strings */
	c = (serve_cfg){
		.so = LEDGER_OPTIONS_INIT,
		.ho = SERVER_OPTIONS_INIT,
		.lo = LAKE_OPTIONS_INIT,
		.io = IMP_INBOX_OPTIONS_INIT,
		.data = "./data",
		.lake = "./lake",
		.listen = "127.0.0.1:8080",
		.auth = "none",
		.log_level = IDS_LOG_INFO,
		.log_format = IDS_LOG_TEXT,
	};
	return cli_main(&serve_cmd, &c, argc, argv, serve_run);
}
