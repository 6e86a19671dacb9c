/* Sync routes: push (validate whole batch, then block until durable), pull (with optional
 * long-poll) and the Server-Sent Events stream for live clients. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server_int.h"

void route_push(server *s, http_req *req, http_resp *resp, const char *db)
{
	ids_error err = IDS_ERROR_INIT;
	size_t len;
	char *body = req_take_body(req, &len);
	ids_batch *b = NULL;
	int rc = ids_batch_parse(&b, db, body, len, &s->o.limits, store_clock(s->st), &err);
	if (rc) {
		resp_error(resp, rc, err.msg);
		return;
	}
	if (b->origin == IDS_ORIGIN_SERVER) {
		/* server-side changes (lake imports) beat stale client edits under server-wins, so
		 * only trusted callers may make them; their rows are shared unless "user" is given */
		if (req->user[0] && !req->admin) {
			resp_error_status(resp, 403, "forbidden", "origin \"server\" pushes need an admin token");
			ids_batch_free(b);
			return;
		}
	} else {
		snprintf(b->user, sizeof b->user, "%s", req->user);
	}
	store_push_result res;
	store_push_result_init(&res);
	rc = store_push(s->st, b, &res, &err);
	req->log_client = b->client;   /* valid until the line is written: the batch is freed after */
	req->log_push = 1;
	req->log_mutations = (long long)b->n;
	req->log_applied = (long long)res.applied;
	req->log_duplicates = (long long)res.duplicates;
	req->log_conflicts = (long long)res.conflicts;
	if (rc) {
		resp_error(resp, rc, err.msg);
	} else {
		ids_buf *o = &resp->body;
		ids_buf_printf(o, "{\"ack\":%lld,\"cursor\":%lld,\"applied\":%zu,\"duplicates\":%zu,\"now\":%lld,\"epoch\":\"%s\",",
			       (long long)res.ack, (long long)res.cursor, res.applied, res.duplicates,
			       (long long)hlc_wall_ms(), store_epoch(s->st));
		if (res.gap)
			ids_buf_printf(o, "\"gap\":true,\"expected\":%lld,", (long long)res.expected);
		ids_buf_puts(o, "\"kept\":[");
		for (size_t i = 0; i < res.n_kept; i++)
			ids_buf_printf(o, "%s[%lld,%lld,%lld]", i ? "," : "", (long long)res.kept[i].id,
				       (long long)res.kept[i].seq, (long long)res.kept[i].n);
		ids_buf_puts(o, "],\"conflicts\":");
		if (res.conflicts_json.len)
			ids_buf_append(o, res.conflicts_json.data, res.conflicts_json.len);
		else
			ids_buf_puts(o, "[]");
		ids_buf_putc(o, '}');
		resp->status = 200;
	}
	store_push_result_free(&res);
	req_log_line(req, resp);   /* before the batch (the client id) goes */
	ids_batch_free(b);
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
	const char *want = req_query(req, "epoch"), *have = store_epoch(s->st);
	char msg[400];
	if (want && *want && strcmp(want, have)) {
		snprintf(msg, sizeof msg, "this server's state is epoch %s, not %.40s (it was restored or replaced): "
					  "pull from since=0 and push what is not acknowledged", have, want);
		resp_error_status(resp, 409, "epoch_changed", msg);
		return -1;
	}
	int64_t head = store_head(s->st);
	if (since > head) /* another server's commit may not have reached this one yet */
		head = store_head_fresh(s->st);
	if (since > head) {
		snprintf(msg, sizeof msg, "cursor %lld is past this server's head %lld (epoch %s): the state was restored "
					  "or replaced; pull from since=0 and push what is not acknowledged",
			 (long long)since, (long long)head, have);
		resp_error_status(resp, 409, "cursor_ahead", msg);
		return -1;
	}
	return 0;
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
	store_pull_req pr = {db, req->user, client, since, (int)limit, 0};
	ids_error err = IDS_ERROR_INIT;
	int64_t deadline = hlc_wall_ms() + wait * 1000;
	for (;;) {
		int64_t cursor;
		int count;
		int64_t head = store_head(s->st);
		ids_buf_reset(&resp->body);
		int rc = store_pull(s->st, &pr, &resp->body, &cursor, &count, &err);
		if (rc) {
			resp_error(resp, rc, err.msg);
			return;
		}
		int64_t left = deadline - hlc_wall_ms();
		if (count > 0 || left <= 0 || atomic_load(&s->stopping))
			break;
		/* nothing for this caller yet: wait for the next commit, then look again */
		store_wait(s->st, head, (int)left);
		pr.since = cursor;
	}
	if (resp->body.len && resp->body.data[resp->body.len - 1] == '}') {
		resp->body.len--;   /* the state's identity closes the answer */
		ids_buf_printf(&resp->body, ",\"epoch\":\"%s\"}", store_epoch(s->st));
	}
	resp->status = 200;
}

typedef struct sse {
	server *s;
	char db[IDS_DB_NAME_MAX + 1];
	char user[IDS_NAME_MAX + 1];
	char client[IDS_NAME_MAX + 1];
	int64_t cursor;
	ids_buf pending;
	size_t off;
	int started;
} sse;

/* SSE frames must not contain raw newlines; in our JSON they can only be insignificant
 * whitespace (inside strings they are escaped), so they become spaces. */
static void frame(sse *x, const char *event, const char *data, size_t n, int64_t id)
{
	ids_buf_printf(&x->pending, "id: %lld\nevent: %s\ndata: ", (long long)id, event);
	size_t start = x->pending.len;
	ids_buf_append(&x->pending, data, n);
	for (size_t i = start; i < x->pending.len; i++)
		if (x->pending.data[i] == '\n' || x->pending.data[i] == '\r')
			x->pending.data[i] = ' ';
	ids_buf_puts(&x->pending, "\n\n");
}

static ssize_t sse_read(void *ctx, char *buf, size_t max)
{
	sse *x = ctx;
	if (x->started >= 2 && x->off >= x->pending.len)
		return -1; /* the error frame went out: end the stream */
	while (x->off >= x->pending.len) {
		ids_buf_reset(&x->pending);
		x->off = 0;
		if (atomic_load(&x->s->stopping))
			return -1;
		if (!x->started) {
			x->started = 1;
			ids_buf_puts(&x->pending, "retry: 2000\n\n");
			break;
		}
		ids_buf body = IDS_BUF_INIT;
		ids_error err = IDS_ERROR_INIT;
		store_pull_req pr = {x->db, x->user, x->client[0] ? x->client : NULL, x->cursor, 500, 4u << 20};
		int64_t cursor, head = store_head(x->s->st);
		int count;
		int rc = store_pull(x->s->st, &pr, &body, &cursor, &count, &err);
		if (rc) {
			ids_buf e = IDS_BUF_INIT;
			ids_buf_printf(&e, "{\"error\":{\"code\":\"%s\",\"message\":", ids_code_name(rc));
			ids_buf_json_str(&e, err.msg, strlen(err.msg));
			ids_buf_puts(&e, "}}");
			frame(x, "error", e.data, e.len, x->cursor);
			ids_buf_free(&e);
			ids_buf_free(&body);
			x->started = 2; /* end after sending the error */
			break;
		}
		if (count > 0)
			frame(x, "changes", body.data, body.len, cursor);
		x->cursor = cursor;
		ids_buf_free(&body);
		if (count > 0)
			break;
		if (!store_wait(x->s->st, head, 15000) && !atomic_load(&x->s->stopping)) {
			ids_buf_puts(&x->pending, ": keepalive\n\n");
			break;
		}
	}
	size_t n = x->pending.len - x->off;
	if (n > max)
		n = max;
	memcpy(buf, x->pending.data + x->off, n);
	x->off += n;
	return (ssize_t)n;
}

static void sse_free(void *ctx)
{
	sse *x = ctx;
	atomic_fetch_sub(&x->s->sse_clients, 1);
	ids_buf_free(&x->pending);
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
	ids_buf_init(&x->pending, 64u << 20);
	atomic_fetch_add(&s->sse_clients, 1);
	resp->status = 200;
	resp->ctype = "text/event-stream";
	resp->stream = sse_read;
	resp->stream_free = sse_free;
	resp->stream_ctx = x;
}
