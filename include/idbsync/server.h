/* The sync server: HTTP API over the ledger (see docs/protocol.md). */
#ifndef IDBSYNC_SERVER_H
#define IDBSYNC_SERVER_H

#include <stdint.h>

#include "idbsync/buf.h"
#include "idbsync/error.h"
#include "idbsync/ledger.h"
#include "idbsync/sync.h"

typedef struct server server;

/* Optional components the server calls into (the lake writer); NULL members are absent. */
typedef struct server_hooks {
	void *ctx;
	/* POST /v1/db/{db}/flush: returns when the lake has everything up to upto. */
	int (*flush)(void *ctx, const char *db, int64_t upto, ids_error *err);
	/* Appends Prometheus lines to /metrics. */
	void (*metrics)(void *ctx, ids_buf *out);
	/* GET /v1/db/{db}/lake: appends the lake's tables of db as JSON. */
	int (*lake_stats)(void *ctx, const char *db, ids_buf *out, ids_error *err);
	/* GET /readyz: appends the lake's health as JSON; non-zero when it is not ready. */
	int (*health)(void *ctx, ids_buf *out);
	/* GET /iceberg/v1/...: the lake's committed Iceberg tables, as lake_iceberg_read
	 * (ns NULL: namespaces one a line; table NULL: tables of ns, in any order: the route sorts
	 * them for its pages; else loc and metadata JSON). */
	int (*iceberg)(void *ctx, const char *ns, const char *table, ids_buf *loc, ids_buf *out, ids_error *err);
	/* a table load that asks for vended credentials (from a caller the catalog lets read it):
	 * appends the LoadTableResult members that carry them, as lake_iceberg_vend; non-zero: none */
	int (*iceberg_vend)(void *ctx, ids_buf *out, ids_error *err);
} server_hooks;

typedef struct server_options {
	const char *listen;          /* "127.0.0.1:8080", "[::1]:8080"; port 0 picks a free one */
	const char *auth;            /* "none" or "tokens:FILE" */
	const char *static_dir;      /* served at /client/ and / (demo); NULL: none */
	ids_limits limits;
	int conn_timeout_s;          /* idle connection timeout (slow or stalled clients) */
	int max_connections;
	int max_wait_s;              /* cap on pull ?wait= */
	server_hooks hooks;
	const char *drill_url;       /* forward /query to Apache Drill (NULL: embedded SQLite) */
	int64_t query_timeout_ms;    /* analytics query time limit */
	int64_t query_max_rows;      /* analytics query row limit (more: "truncated":true) */
	const char *spool_dir;       /* where import uploads are spooled (NULL: uploads refused) */
	uint64_t max_upload;         /* bytes of one import upload */
	uint64_t max_inflight_bytes; /* response bytes held for all clients at once (503 beyond) */
	int max_conns_per_ip;        /* 0: unlimited */
	int workers;                 /* threads running request handlers; waiting requests hold none */
} server_options;

#define SERVER_OPTIONS_INIT                                                                              \
	{.listen = "127.0.0.1:8080", .auth = "none", .limits = IDS_LIMITS_INIT, .conn_timeout_s = 30,       \
	 .max_connections = 16384, .max_wait_s = 60, .query_timeout_ms = 5000, .query_max_rows = 10000,      \
	 .max_upload = (uint64_t)4 << 30, .max_inflight_bytes = (uint64_t)256 << 20, .workers = 32}

/* Starts listening; the ledger stays the caller's and must outlive the server. */
int server_start(server **out, ledger *lg, const server_options *o, ids_error *err);
/* The bound port (useful with port 0). */
int server_port(server *s);
/* Stops accepting, ends long-polls and streams, joins threads. NULL is a no-op. */
void server_stop(server *s);

#endif
