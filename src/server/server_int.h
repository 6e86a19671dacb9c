/* Private server types: the request/response shape the route handlers see. Only http.c
 * knows libmicrohttpd; handlers work on these plain structs. */
#ifndef SERVER_INT_H
#define SERVER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "idbsync/buf.h"
#include "idbsync/server.h"

struct http_req {
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
};

/* Streaming responses (SSE): fill buf with up to max bytes; return bytes, -1 to end, or 0
 * when nothing is ready: then the response's cont runs on a worker to make some (it may
 * park). Runs on libmicrohttpd's event thread: it must not block. */
typedef ssize_t (*http_stream_fn)(void *ctx, char *buf, size_t max);

/* Why a continuation runs (park.c): */
enum { PARK_NONE, PARK_HEAD /* the ledger's head passed park_after */, PARK_TIME /* park_until_ms */,
       PARK_GONE /* the client hung up: the continuation is not run */, PARK_STOP /* shutdown */,
       PARK_DONE /* req_wake: what resp->start began has finished */ };

/* fanout.c: a response body shared, by reference, among the waiters it answers. */
typedef struct page_meta {
	int64_t head;               /* the ledger head read before the build (the snapshot holds at least it) */
	int64_t cursor;
	int count;                  /* changes in the page */
	int complete;               /* holds every change up to its cursor ("more":false) */
} page_meta;
typedef struct page {
	atomic_int refs;
	page_meta m;
	size_t len;
	char data[];
} page;
page *page_ref(page *p);
void page_unref(page *p);       /* NULL is a no-op */

enum { PAGE_PULL, PAGE_SSE };
/* What makes two waiters' answers the same bytes (the client is not part of it: it only
 * changes the bookkeeping, ledger_pull_done). */
typedef struct page_key {
	int kind;
	const char *db, *user;
	int64_t since;
	int limit;
	size_t max_bytes;
	long long gen;              /* ledger_read_gen: a collection may turn a page into a 410 */
} page_key;
/* Builds a page into out and fills m (m->head is set); returns 0 or an ids error. */
typedef int (*page_build_fn)(void *ctx, ids_buf *out, page_meta *m, ids_error *err);
typedef struct fanout fanout;
int fanout_new(fanout **out);
void fanout_free(fanout *f);
/* The page for k as of a ledger head of at least head: a shared one if some caller built it
 * (or is building it: then this waits for it), else built here with build(ctx) and offered to
 * later callers. *out is a reference (page_unref). Errors are not shared. */
int fanout_page(fanout *f, const page_key *k, int64_t head, page_build_fn build, void *ctx, page **out,
		ids_error *err);
/* A page of one's own (not shared): built with build(ctx) as fanout_page would. */
int page_build(page **out, int64_t head, page_build_fn build, void *ctx, ids_error *err);
/* Pages built and pages shared since the start (the /metrics counters). */
void fanout_counts(fanout *f, long long *builds, long long *shared);

typedef struct http_req http_req;
typedef struct http_resp http_resp;
/* A continuation: the rest of a request that could not be answered at once. */
typedef void (*http_cont_fn)(server *s, http_req *req, http_resp *resp, int reason);

struct http_resp {
	int status;
	const char *ctype;
	ids_buf body;
	page *page;                 /* the body, shared with other waiters (instead of body; a reference) */
	const char *file;           /* serve this file instead of body (often file_path below) */
	char file_path[1100];       /* room for the path a handler builds: it lives until sent */
	long long file_bytes;       /* the file's size when the handler found it (the request log) */
	http_stream_fn stream;
	void (*stream_free)(void *ctx);
	void *stream_ctx;
	/* A handler (or continuation) that cannot answer yet returns with one of these set and
	 * holds no thread meanwhile; cont then runs on a worker with the reason:
	 *  park: wait until the ledger's head passes park_after or park_until_ms (0: none) comes;
	 *  start: called last, with nothing touched after it; it begins work that ends in
	 *         req_wake(req) (a push's group commit). */
	int park;
	int64_t park_after, park_until_ms;
	const char *park_db;        /* lives as long as cont_ctx */
	void (*start)(server *s, http_req *req, http_resp *resp);
	/* bulk: run cont on the bulk workers (a large pull page: see route_sync.c) */
	int bulk;
	http_cont_fn cont;
	void *cont_ctx;
	void (*cont_free)(void *ctx);   /* frees cont_ctx if the connection ends first */
};

enum route_id { R_HEALTH, R_METRICS, R_PUSH, R_PULL, R_EVENTS, R_STORES, R_GC, R_STATIC, R_FLUSH, R_QUERY, R_LAKE, R_IMPORT, R_ICEBERG, R_OTHER, R_COUNT };

typedef struct auth_table auth_table;

/* workers.c: a fixed pool of threads running tasks in arrival order. */
typedef struct task {
	void (*fn)(struct task *t);
	struct task *next;
} task;
typedef struct workers workers;
/* keep_for_push: one of the n takes LANE_PUSH only (the request pool; the others get no pushes).
 * name: the threads' name (top -H, perf; at most 15 bytes). nice: the threads' niceness (0: the
 * process's; higher runs them after the others). */
int workers_start(workers **out, const char *name, int n, int keep_for_push, int nice, ids_error *err);
/* Lanes, served in this order: */
enum { LANE_PUSH, LANE_NEW, LANE_WOKEN, LANES };
void workers_submit(workers *w, task *t, int lane);
/* Queues the tasks chained through next, first to last, with one lock and one wake-up. */
void workers_submit_list(workers *w, task *first, int lane);
/* Runs what is queued, then joins the threads. NULL is a no-op. */
void workers_stop(workers *w);

/* park.c: requests waiting for the ledger's head, a deadline or their client's hang-up. */
typedef struct parked {
	task t;                     /* submitted to pool when woken, with reason set */
	workers *pool;
	int fd;                     /* the client's socket, watched for a hang-up (-1: none) */
	const char *db;             /* wake on this database's changes (NULL: any change) */
	int64_t after, until_ms;
	int reason;
	int on;                     /* parked (park.c's lock) */
	size_t slot;                /* in the deadline heap (SIZE_MAX: none) */
	struct park_group *group;
	struct parked *prev, *next;
} parked;
typedef struct parking parking;
int parking_start(parking **out, ledger *lg, ids_error *err);
/* Parks e, or submits it at once when the head already passed e->after or parking stopped. */
void parking_add(parking *p, parked *e);
int parking_count(parking *p);
/* Wakes every parked request (PARK_STOP) and joins the threads; later adds are submitted at
 * once. parking_free after the workers are stopped. */
void parking_stop(parking *p);
void parking_free(parking *p);

struct server {
	server_options o;
	ledger *lg;
	auth_table *auth;
	void *daemon;
	int port;
	atomic_int stopping;
	atomic_llong requests[R_COUNT][6]; /* by route and status class 1xx..5xx (index 1-5) */
	atomic_llong bytes_in;
	atomic_int sse_clients;
	atomic_llong inflight_bytes;       /* response bytes queued in memory, all connections */
	atomic_llong busy_rejects;
	int push_stream; /* route_push may stream (IDBSYNC_PUSH_STREAM=0 turns it off, to compare) */
	atomic_llong push_parse_us, push_wake_us;
	atomic_llong push_recv_us, push_dispatch_us, push_send_us; /* http.c: the same for the transport */ /* route_sync.c: stage times summed (/metrics) */
	workers *fast;                     /* request handlers */
	workers *slow;                     /* handlers that may block for long: flush, query, import, gc */
	workers *bulk;                     /* large pull pages (resp->bulk), a few at a time */
	workers *live;                     /* woken waiters (parked requests, streams run dry) */
	parking *park;
	atomic_int suspended;              /* connections handed to a worker or parked */
	fanout *fan;                       /* pages shared among woken waiters */
	atomic_llong bulk_builds;          /* pages built on the bulk workers */
	/* Woken waiters go back to the event threads at most PACE_WINDOW at a time (http.c), so a
	 * push's answer never queues behind a whole fan-out's writes. */
	pthread_mutex_t pace_mu;
	int pace_out;                      /* resumed, not yet taken by an event thread */
	struct conn *pace_head, *pace_tail;
};

/* A large response (more than min_len bytes) would pass --max-inflight: answers 503 busy
 * (counted) and returns 1. Called before building one, so a refused page costs nothing, and
 * again when queueing it. */
int resp_over_budget(server *s, http_resp *resp, size_t min_len);

/* Wakes a request whose resp->start began work elsewhere: its cont runs with PARK_DONE. */
void req_wake(http_req *req);
/* Handlers for this path may block for long (they run on the slow workers). */
int route_slow(const char *path);

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
/* The Iceberg REST spec's error: {"error":{"message","type","code":status}}. */
void resp_iceberg_error(http_resp *resp, int status, const char *type, const char *msg);
/* /iceberg/v1/<sub>: the read side of an Iceberg REST catalog (route_iceberg.c). */
void route_iceberg(server *s, http_req *req, http_resp *resp, const char *sub);
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
