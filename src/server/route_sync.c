/* Sync routes: push (validate the whole batch, then answer when its group commit is durable),
 * pull (with optional long-poll) and the Server-Sent Events stream for live clients. None of
 * them holds a thread while it waits: they park (park.c) or hand work on (resp->start). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server_int.h"

/* A push between its check and its answer: the batch waits in the ledger's group commit
 * (ledger_push_async) while no thread waits for it. */
typedef struct push_op {
	ids_batch *b;
	ledger_push_result res;
	int rc;
	ids_error err;
	http_req *req;
	int64_t t_done;     /* the commit's end (ledger_mono_us): the wake-up's cost to the answer */
} push_op;

static void push_op_free(void *ctx)
{
	push_op *op = ctx;
	ledger_push_result_free(&op->res);
	ids_batch_free(op->b);
	free(op);
}

/* the writer thread, after the commit. The answer is built on a worker: answering here (one
 * thread fewer between the commit and the answer) made one-client pushes slower on a busy
 * machine, the next push's hand-off to its worker 0.1 -> 0.7 ms (docs/benchmarks.md, branch
 * push-cpu5). */
static void push_committed(void *ctx, int rc, const ids_error *err)
{
	push_op *op = ctx;
	op->rc = rc;
	if (rc)
		op->err = *err;
	op->t_done = ledger_mono_us();
	req_wake(op->req);
}

static void push_start(server *s, http_req *req, http_resp *resp)
{
	push_op *op = resp->cont_ctx;
	int rc = ledger_push_async(s->lg, op->b, &op->res, push_committed, op, &op->err);
	if (rc) {
		op->rc = rc;
		req_wake(req);
	}
}

/* A streamed push: queued first, then parsed here while the writer applies it. Once the
 * stream has ended the writer may answer and free everything: op is not touched after. */
static void push_stream_start(server *s, http_req *req, http_resp *resp)
{
	push_op *op = resp->cont_ctx;
	ids_batch *b = op->b;
	int rc = ledger_push_async(s->lg, b, &op->res, push_committed, op, &op->err);
	int64_t t0 = ledger_mono_us();
	ids_batch_stream_run(b);
	atomic_fetch_add(&s->push_parse_us, ledger_mono_us() - t0);
	if (rc) {
		op->rc = rc;
		req_wake(req);
	}
}

static int push_checked(server *s, http_req *req, http_resp *resp, ids_batch *b);

/* A streamed push whose stream failed (a bad mutation, a body of another shape) kept nothing:
 * parsed whole, it gets the answer it would have had without streaming, or is pushed again. */
static int push_reparse(server *s, http_req *req, http_resp *resp, push_op *op)
{
	char db[sizeof op->b->db];
	size_t len;
	memcpy(db, op->b->db, sizeof db);
	char *body = ids_batch_take_body(op->b, &len);
	ids_batch_free(op->b);
	op->b = NULL;
	ledger_push_result_free(&op->res);
	ledger_push_result_init(&op->res);
	op->rc = 0;
	op->err = (ids_error)IDS_ERROR_INIT;
	ids_batch *b = NULL;
	int rc = ids_batch_parse(&b, db, body, len, &s->o.limits, ledger_clock(s->lg), &op->err);
	if (rc) {
		resp_error(resp, rc, op->err.msg);
		return -1;
	}
	if (push_checked(s, req, resp, b))
		return -1;
	op->b = b;
	resp->start = push_start;
	return 0;
}

static void push_answer(server *s, http_req *req, http_resp *resp, int reason)
{
	push_op *op = resp->cont_ctx;
	if (op->t_done)
		atomic_fetch_add(&s->push_wake_us, ledger_mono_us() - op->t_done);
	op->t_done = 0;
	if (op->rc && op->b->stream && ids_batch_stream_end(op->b, NULL) && !push_reparse(s, req, resp, op))
		return; /* queued again */
	ledger_push_result *res = &op->res;
	ids_batch *b = op->b;
	if (!b) { /* refused when parsed whole: resp holds the error */
		req_log_line(req, resp);
		push_op_free(op);
		resp->cont = NULL;
		resp->cont_ctx = NULL;
		resp->cont_free = NULL;
		return;
	}
	req->log_client = b->client;   /* valid until the line is written: the batch is freed after */
	req->log_push = 1;
	req->log_mutations = (long long)b->n;
	req->log_applied = (long long)res->applied;
	req->log_duplicates = (long long)res->duplicates;
	req->log_conflicts = (long long)res->conflicts;
	if (op->rc) {
		resp_error(resp, op->rc, op->err.msg);
	} else {
		ids_buf *o = &resp->body;
		ids_buf_printf(o, "{\"ack\":%lld,\"cursor\":%lld,\"applied\":%zu,\"duplicates\":%zu,\"now\":%lld,\"epoch\":\"%s\",",
			       (long long)res->ack, (long long)res->cursor, res->applied, res->duplicates,
			       (long long)hlc_wall_ms(), ledger_epoch(s->lg));
		if (res->gap)
			ids_buf_printf(o, "\"gap\":true,\"expected\":%lld,", (long long)res->expected);
		ids_buf_puts(o, "\"kept\":[");
		for (size_t i = 0; i < res->n_kept; i++)
			ids_buf_printf(o, "%s[%lld,%lld,%lld]", i ? "," : "", (long long)res->kept[i].id,
				       (long long)res->kept[i].seq, (long long)res->kept[i].n);
		ids_buf_puts(o, "],\"conflicts\":");
		if (res->conflicts_json.len)
			ids_buf_append(o, res->conflicts_json.data, res->conflicts_json.len);
		else
			ids_buf_puts(o, "[]");
		ids_buf_putc(o, '}');
		resp->status = 200;
	}
	req_log_line(req, resp);   /* before the batch (the client id) goes */
	push_op_free(op);
	resp->cont = NULL;
	resp->cont_ctx = NULL;
	resp->cont_free = NULL;
}

/* Who may push what: 0, or the answer is in resp (and b freed). */
static int push_checked(server *s, http_req *req, http_resp *resp, ids_batch *b)
{
	if (b->origin == IDS_ORIGIN_SERVER) {
		/* server-side changes (lake imports) beat stale client edits under server-wins, so
		 * only trusted callers may make them; their rows are shared unless "user" is given */
		if (req->user[0] && !req->admin) {
			resp_error_status(resp, 403, "forbidden", "origin \"server\" pushes need an admin token");
			ids_batch_free(b);
			return -1;
		}
	} else {
		snprintf(b->user, sizeof b->user, "%s", req->user);
	}
	return 0;
}

void route_push(server *s, http_req *req, http_resp *resp, const char *db)
{
	ids_error err = IDS_ERROR_INIT;
	size_t len;
	char *body = req_take_body(req, &len);
	ids_batch *b = NULL;
	int64_t t0 = ledger_mono_us();
	/* with the writer idle (one client) the push is applied while it is parsed */
	int streamed = s->push_stream && ledger_push_idle(s->lg) &&
		       !ids_batch_stream_begin(&b, db, body, len, &s->o.limits, ledger_clock(s->lg));
	int rc = streamed ? 0 : ids_batch_parse(&b, db, body, len, &s->o.limits, ledger_clock(s->lg), &err);
	atomic_fetch_add(&s->push_parse_us, ledger_mono_us() - t0);
	if (rc) {
		resp_error(resp, rc, err.msg);
		return;
	}
	if (push_checked(s, req, resp, b))
		return;
	push_op *op = calloc(1, sizeof *op);
	if (!op) {
		ids_batch_free(b);
		resp_error(resp, IDS_ENOMEM, "out of memory");
		return;
	}
	op->b = b;
	op->req = req;
	ledger_push_result_init(&op->res);
	resp->cont_ctx = op;
	resp->cont_free = push_op_free;
	resp->cont = push_answer;
	resp->start = streamed ? push_stream_start : push_start;
}

static int query_i64(http_req *req, const char *name, int64_t def, int64_t min, int64_t max, int64_t *out,
		     http_resp *resp)
{
	const char *v = req_query(req, name);
	if (!v) {
		*out = def;
		return 0;
	}
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	if (!*v || *end || errno == ERANGE || x < min || x > max) {
		char msg[160];
		snprintf(msg, sizeof msg, "query parameter %s must be an integer from %lld to %lld", name,
			 (long long)min, (long long)max);
		resp_error_status(resp, 400, "invalid", msg);
		return -1;
	}
	*out = x;
	return 0;
}

static int client_param(http_req *req, http_resp *resp, const char **client)
{
	*client = req_query(req, "client");
	req->log_client = *client;
	if (*client && !ids_id_valid(*client, strlen(*client))) {
		resp_error_status(resp, 400, "invalid", "query parameter client: 1-256 printable ASCII characters");
		return -1;
	}
	return 0;
}

/* A cursor from another state (a restored or replaced server) is answered 409, never a
 * silent wait for seqs that will not come: ?epoch= names the state the client synced with,
 * and a cursor past the head cannot belong to this state. */
static int state_check(server *s, http_req *req, http_resp *resp, int64_t since)
{
	const char *want = req_query(req, "epoch"), *have = ledger_epoch(s->lg);
	char msg[400];
	if (want && *want && strcmp(want, have)) {
		snprintf(msg, sizeof msg, "this server's state is epoch %s, not %.40s (it was restored or replaced): "
					  "pull from since=0 and push what is not acknowledged", have, want);
		resp_error_status(resp, 409, "epoch_changed", msg);
		return -1;
	}
	int64_t head = ledger_head(s->lg);
	if (since > head) /* another server's commit may not have reached this one yet */
		head = ledger_head_fresh(s->lg);
	if (since > head) {
		snprintf(msg, sizeof msg, "cursor %lld is past this server's head %lld (epoch %s): the state was restored "
					  "or replaced; pull from since=0 and push what is not acknowledged",
			 (long long)since, (long long)head, have);
		resp_error_status(resp, 409, "cursor_ahead", msg);
		return -1;
	}
	return 0;
}

/* A pull's first look builds at most this much on the request workers. A page that would be
 * larger (a first sync, a client far behind: up to 16 MiB) is built again on the bulk workers
 * (resp->bulk, BULK_WORKERS in http.c), a few at a time. Measured: 30 stalled clients each
 * asking for a 16 MiB page held all 31 request workers, 8 building and the rest waiting for
 * one of the ledger's 8 read connections, for seconds; a pull that needed no page at all waited
 * 1.1 s for a worker and pushes' commits shared 2 cores with 8 builds. The first look's part
 * is dropped, not continued, so the big page still comes from one snapshot (each key once, at
 * its latest state); it costs ~2% of a full page. */
#define FIRST_LOOK_BYTES (256u << 10)

/* Whether a pull's answer says it holds everything up to its cursor ("more":false in the tail
 * after the changes array). */
static int page_complete(const char *body, size_t len)
{
	static const char all[] = "\"more\":false,";
	const char *end = len ? memrchr(body, ']', len) : NULL;
	return end && memmem(end, len - (size_t)(end - body), all, sizeof all - 1);
}

/* A long-poll between two looks at the ledger: its own copies of what the request named. */
typedef struct pull_wait {
	char db[IDS_DB_NAME_MAX + 1];
	char user[IDS_NAME_MAX + 1];
	char client[IDS_NAME_MAX + 1];
	ledger_pull_req pr;
	int64_t deadline;
	int big;                    /* the next look is the full page, on the bulk workers */
} pull_wait;

typedef struct build_ctx {
	server *s;
	const ledger_pull_req *pr;
} build_ctx;

/* A pull's page, built once for every waiter at the same cursor (fanout.c): the ledger's answer
 * closed by the state's identity. */
static int pull_build(void *ctx, ids_buf *out, page_meta *m, ids_error *err)
{
	build_ctx *c = ctx;
	int rc = ledger_pull_look(c->s->lg, c->pr, out, &m->cursor, &m->count, err);
	if (rc)
		return rc;
	m->complete = page_complete(out->data, out->len);
	if (out->len && out->data[out->len - 1] == '}') {
		out->len--;
		ids_buf_printf(out, ",\"epoch\":\"%s\"}", ledger_epoch(c->s->lg));
	}
	return out->failed ? ids_fail(err, out->failed, "pull response too large") : 0;
}

/* The page for a look at pr, shared with other callers at the same cursor; max_bytes
 * overrides pr's. A large page (bulk: on the bulk workers) is the caller's own: it is a first
 * sync or a client far behind, rarely at another's cursor, and a kept 16 MiB page would stay
 * in memory until the next commit. */
static int look(server *s, const ledger_pull_req *pr, int kind, size_t max_bytes, int bulk, page_build_fn build,
		page **out, ids_error *err)
{
	ledger_pull_req l = *pr;
	l.max_bytes = max_bytes;
	build_ctx c = {s, &l};
	if (bulk) {
		atomic_fetch_add(&s->bulk_builds, 1);
		return page_build(out, ledger_head(s->lg), build, &c, err);
	}
	page_key k = {kind, l.db, l.user, l.since, l.limit, l.max_bytes,
		      (long long)ledger_read_gen(s->lg)};
	return fanout_page(s->fan, &k, ledger_head(s->lg), build, &c, out, err);
}

/* One look: answers (changes, the deadline passed, shutdown, an error) and returns 1, or
 * returns 0 having parked the request until the head passes what this look saw, or (a first
 * look that found a large page) having sent it to the bulk workers. */
static int pull_once(server *s, http_resp *resp, ledger_pull_req *pr, int64_t deadline, int first_look)
{
	ids_error err = IDS_ERROR_INIT;
	page *pg;
	ids_buf_reset(&resp->body);
	if (!first_look && resp_over_budget(s, resp, FIRST_LOOK_BYTES))
		return 1; /* a large page that --max-inflight would refuse: refused before it is built */
	int rc = look(s, pr, PAGE_PULL, first_look ? FIRST_LOOK_BYTES : pr->max_bytes, !first_look, pull_build, &pg,
		      &err);
	if (rc) {
		resp_error(resp, rc, err.msg);
		return 1;
	}
	/* stopped by the byte cap, not by the row limit: a large page */
	if (first_look && pg->m.count > 0 && pg->m.count < pr->limit && !pg->m.complete) {
		page_unref(pg);
		resp->bulk = 1;
		return 0;
	}
	if (pg->m.count > 0 || hlc_wall_ms() >= deadline || atomic_load(&s->stopping)) {
		ledger_pull_done(s->lg, pr); /* once per answer, however many looks it took */
		resp->page = pg;
		resp->status = 200;
		return 1;
	}
	/* nothing for this caller yet: look again after the next commit */
	pr->since = pg->m.cursor;
	resp->park = 1;
	resp->park_after = pg->m.head;
	resp->park_until_ms = deadline;
	resp->park_db = pr->db;
	page_unref(pg);
	return 0;
}

static void pull_again(server *s, http_req *req, http_resp *resp, int reason)
{
	pull_wait *w = resp->cont_ctx;
	int big = w->big;
	w->big = 0;
	if (pull_once(s, resp, &w->pr, w->deadline, !big)) {
		free(w);
		resp->cont = NULL;
		resp->cont_ctx = NULL;
		resp->cont_free = NULL;
	} else {
		w->big = resp->bulk;
	}
}

void route_pull(server *s, http_req *req, http_resp *resp, const char *db)
{
	int64_t since, limit, wait;
	const char *client;
	if (query_i64(req, "since", 0, 0, INT64_MAX, &since, resp) ||
	    query_i64(req, "limit", 1000, 1, 10000, &limit, resp) ||
	    query_i64(req, "wait", 0, 0, s->o.max_wait_s, &wait, resp) || client_param(req, resp, &client) ||
	    state_check(s, req, resp, since))
		return;
	ledger_pull_req pr = {db, req->user, client, since, (int)limit, 0};
	int64_t deadline = hlc_wall_ms() + wait * 1000;
	if (pull_once(s, resp, &pr, deadline, 1))
		return;
	pull_wait *w = calloc(1, sizeof *w);
	if (!w) {
		resp->park = 0;
		resp->bulk = 0;
		resp_error(resp, IDS_ENOMEM, "out of memory");
		return;
	}
	snprintf(w->db, sizeof w->db, "%s", db);
	snprintf(w->user, sizeof w->user, "%s", req->user);
	snprintf(w->client, sizeof w->client, "%s", client ? client : "");
	w->pr = pr;
	w->pr.db = w->db;
	resp->park_db = w->db;  /* pull_once pointed it at the request's copy */
	w->pr.user = w->user;
	w->pr.client = client ? w->client : NULL;
	w->deadline = deadline;
	w->big = resp->bulk;
	resp->cont = pull_again;
	resp->cont_ctx = w;
	resp->cont_free = free;
}

typedef struct sse {
	server *s;
	char db[IDS_DB_NAME_MAX + 1];
	char user[IDS_NAME_MAX + 1];
	char client[IDS_NAME_MAX + 1];
	int64_t cursor;
	ids_buf pending;            /* what the event thread sends next (filled on a worker) */
	page *frame;                /* or a frame shared with the other streams at the same cursor */
	size_t off;                 /* sent of pending or frame */
	int ended;                  /* end the stream once pending is sent */
	int big;                    /* the next frame is built on the bulk workers */
	int64_t idle_after;         /* the frame in pending holds every change up to this (-1: maybe not) */
} sse;

/* SSE frames must not contain raw newlines; in our JSON they can only be insignificant
 * whitespace (inside strings they are escaped), so they become spaces. */
static void frame(ids_buf *out, const char *event, const char *data, size_t n, int64_t id)
{
	ids_buf_printf(out, "id: %lld\nevent: %s\ndata: ", (long long)id, event);
	size_t start = out->len;
	ids_buf_append(out, data, n);
	for (size_t i = start; i < out->len; i++)
		if (out->data[i] == '\n' || out->data[i] == '\r')
			out->data[i] = ' ';
	ids_buf_puts(out, "\n\n");
}

/* A stream's next frame, built once for every stream at the same cursor (fanout.c); a page
 * with no changes is an empty page (the stream parks). */
static int sse_build(void *ctx, ids_buf *out, page_meta *m, ids_error *err)
{
	build_ctx *c = ctx;
	ids_buf body = IDS_BUF_INIT;
	int rc = ledger_pull_look(c->s->lg, c->pr, &body, &m->cursor, &m->count, err);
	if (!rc && m->count > 0) {
		m->complete = page_complete(body.data, body.len);
		frame(out, "changes", body.data, body.len, m->cursor);
		if (out->failed)
			rc = ids_fail(err, out->failed, "SSE frame too large");
	}
	ids_buf_free(&body);
	return rc;
}

/* libmicrohttpd's event thread: only copies what sse_fill prepared */
static ssize_t sse_read(void *ctx, char *buf, size_t max)
{
	sse *x = ctx;
	const char *src = x->frame ? x->frame->data : x->pending.data;
	size_t n = (x->frame ? x->frame->len : x->pending.len) - x->off;
	if (!n)
		return x->ended ? -1 : 0;
	if (n > max)
		n = max;
	memcpy(buf, src + x->off, n);
	x->off += n;
	return (ssize_t)n;
}

/* Like a pull's first look (FIRST_LOOK_BYTES): a frame of up to 4 MiB is built on the bulk
 * workers, so a stream far behind does not hold a request worker (and a store reader) while
 * pushes and quick pulls wait. */
#define SSE_FRAME_BYTES (4u << 20)

/* A worker, when the stream ran dry: the next frame, a keep-alive after 15 s of nothing, or
 * a park until the next commit. */
static void sse_fill(server *s, http_req *req, http_resp *resp, int reason)
{
	sse *x = resp->cont_ctx;
	ids_buf_reset(&x->pending);
	page_unref(x->frame);
	x->frame = NULL;
	x->off = 0;
	int big = x->big;
	x->big = 0;
	if (atomic_load(&s->stopping) || reason == PARK_STOP) {
		x->ended = 1;
		return;
	}
	if (reason == PARK_TIME) {
		ids_buf_puts(&x->pending, ": keepalive\n\n");
		return;
	}
	if (reason == PARK_NONE && x->idle_after >= 0 && !big) {
		/* the frame just sent left nothing behind: wait for the next change without a look */
		resp->park = 1;
		resp->park_after = x->idle_after;
		resp->park_until_ms = hlc_wall_ms() + 15000;
		resp->park_db = x->db;
		x->idle_after = -1;
		return;
	}
	ids_error err = IDS_ERROR_INIT;
	ledger_pull_req pr = {x->db, x->user, x->client[0] ? x->client : NULL, x->cursor, 500, SSE_FRAME_BYTES};
	page *pg;
	int rc = look(s, &pr, PAGE_SSE, big ? SSE_FRAME_BYTES : FIRST_LOOK_BYTES, big, sse_build, &pg, &err);
	if (rc) {
		ids_buf e = IDS_BUF_INIT;
		ids_buf_printf(&e, "{\"error\":{\"code\":\"%s\",\"message\":", ids_code_name(rc));
		ids_buf_json_str(&e, err.msg, strlen(err.msg));
		ids_buf_puts(&e, "}}");
		frame(&x->pending, "error", e.data, e.len, x->cursor);
		ids_buf_free(&e);
		x->ended = 1; /* end after sending the error */
		return;
	}
	if (!big && pg->m.count > 0 && pg->m.count < pr.limit && !pg->m.complete) {
		/* stopped by the first look's byte cap: the whole frame comes from the bulk workers */
		page_unref(pg);
		x->big = 1;
		resp->bulk = 1;
		return;
	}
	if (pg->m.count > 0) {
		ledger_pull_done(s->lg, &pr);
		x->frame = pg;
		/* the frame says whether the pull left some changes behind */
		x->idle_after = pg->m.complete ? pg->m.head : -1;
	} else {
		resp->park = 1;
		resp->park_after = pg->m.head;
		resp->park_until_ms = hlc_wall_ms() + 15000;
		resp->park_db = x->db;
	}
	x->cursor = pg->m.cursor;
	if (pg != x->frame)
		page_unref(pg);
}

static void sse_free(void *ctx)
{
	sse *x = ctx;
	atomic_fetch_sub(&x->s->sse_clients, 1);
	ids_buf_free(&x->pending);
	page_unref(x->frame);
	free(x);
}

void route_events(server *s, http_req *req, http_resp *resp, const char *db)
{
	int64_t since;
	const char *client;
	if (query_i64(req, "since", 0, 0, INT64_MAX, &since, resp) || client_param(req, resp, &client))
		return;
	const char *last = req_header(req, "Last-Event-ID");
	if (last && *last)
		since = strtoll(last, NULL, 10);
	if (state_check(s, req, resp, since))
		return;
	sse *x = calloc(1, sizeof *x);
	if (!x) {
		resp_error(resp, IDS_ENOMEM, "out of memory");
		return;
	}
	x->s = s;
	snprintf(x->db, sizeof x->db, "%s", db);
	snprintf(x->user, sizeof x->user, "%s", req->user);
	snprintf(x->client, sizeof x->client, "%s", client ? client : "");
	x->cursor = since;
	x->idle_after = -1;
	ids_buf_init(&x->pending, 64u << 20);
	ids_buf_puts(&x->pending, "retry: 2000\n\n");
	atomic_fetch_add(&s->sse_clients, 1);
	resp->status = 200;
	resp->ctype = "text/event-stream";
	resp->stream = sse_read;
	resp->stream_free = sse_free;
	resp->stream_ctx = x;
	resp->cont = sse_fill;
	resp->cont_ctx = x;  /* the stream's: freed by stream_free */
}
