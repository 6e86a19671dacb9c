/* Private server types: the request/response shape the route handlers see. Only http.c
 * knows libmicrohttpd; handlers work on these plain structs. */
#ifndef SERVER_INT_H
#define SERVER_INT_H

#include <stdatomic.h>
#include <sys/types.h>

#include "idbsync/buf.h"
#include "idbsync/server.h"

typedef struct http_req {
	const char *method;
	const char *path;
	const char *body;           /* NUL-terminated; handlers may take it with req_take_body */
	size_t body_len;
	const char *user;           /* authenticated user ("" when auth is off) */
	int admin;                  /* may call the /v1/admin routes */
	void *impl;                 /* http.c's connection state */
	const char *body_file;      /* uploads (import): the body spooled to this file */
	/* what the request log line adds for this request (handlers fill what they know) */
	const char *log_client;
	int log_push;               /* a push: the counts below are set */
	long long log_mutations, log_applied, log_duplicates, log_conflicts;
} http_req;

/* Streaming responses (SSE): fill buf with up to max bytes; return bytes, 0 never, -1 to end. */
typedef ssize_t (*http_stream_fn)(void *ctx, char *buf, size_t max);

typedef struct http_resp {
	int status;
	const char *ctype;
	ids_buf body;
	const char *file;           /* serve this file instead of body (often file_path below) */
	char file_path[1100];       /* room for the path a handler builds: it lives until sent */
	http_stream_fn stream;
	void (*stream_free)(void *ctx);
	void *stream_ctx;
} http_resp;

enum route_id { R_HEALTH, R_METRICS, R_PUSH, R_PULL, R_EVENTS, R_STORES, R_GC, R_STATIC, R_FLUSH, R_QUERY, R_LAKE, R_IMPORT, R_OTHER, R_COUNT };

typedef struct auth_table auth_table;

struct server {
	server_options o;
	store *st;
	auth_table *auth;
	void *daemon;
	int port;
	atomic_int stopping;
	atomic_llong requests[R_COUNT][6]; /* by route and status class 1xx..5xx (index 1-5) */
	atomic_llong bytes_in;
	atomic_int sse_clients;
	atomic_llong inflight_bytes;       /* response bytes queued in memory, all connections */
	atomic_llong busy_rejects;
};

const char *req_query(http_req *r, const char *name);
const char *req_header(http_req *r, const char *name);
/* Takes ownership of the request body (malloc'ed); the caller frees it. */
char *req_take_body(http_req *r, size_t *len);

/* Writes {"error":{"code":..,"message":..}} with the HTTP status that fits the code. */
void resp_error(http_resp *resp, int ids_code, const char *msg);
/* Writes the request's log line now (a handler whose log fields die before it returns);
 * otherwise http.c writes it after the handler. */
void req_log_line(http_req *req, http_resp *resp);
void resp_error_status(http_resp *resp, int status, const char *code, const char *msg);
int status_for(int ids_code);

/* The route table dispatches to the handlers below. */
int route_dispatch(server *s, http_req *req, http_resp *resp, enum route_id *rid);
void route_push(server *s, http_req *req, http_resp *resp, const char *db);
void route_pull(server *s, http_req *req, http_resp *resp, const char *db);
void route_events(server *s, http_req *req, http_resp *resp, const char *db);
void route_stores(server *s, http_req *req, http_resp *resp, const char *db);
void route_health(server *s, http_req *req, http_resp *resp);
void route_ready(server *s, http_req *req, http_resp *resp);
void route_metrics(server *s, http_req *req, http_resp *resp);
void route_gc(server *s, http_req *req, http_resp *resp);
void route_flush(server *s, http_req *req, http_resp *resp, const char *db);
void route_lake(server *s, http_req *req, http_resp *resp, const char *db);
void route_query(server *s, http_req *req, http_resp *resp, const char *db);
void route_import(server *s, http_req *req, http_resp *resp, const char *db);
/* Runs sql on Apache Drill (REST) and appends our query response shape to out. */
int drill_query(const char *url, const char *db, const char *sql, const char *params, size_t plen,
		int64_t timeout_ms, ids_buf *out, ids_error *err);
void route_static(server *s, http_req *req, http_resp *resp);

/* Auth: "none" or "tokens:FILE" (lines "TOKEN USER [admin]", '#' comments). */
int auth_load(auth_table **out, const char *spec, ids_error *err);
/* Resolves a bearer token to a user; returns 0 and the user, or IDS_EFORBIDDEN. */
int auth_check(auth_table *a, const char *token, const char **user, int *admin);
int auth_enabled(const auth_table *a);
void auth_free(auth_table *a);

#endif
