/* libmicrohttpd glue — the only file that includes microhttpd.h. libmicrohttpd's event
 * threads (epoll) only read requests and write responses; every request is suspended and
 * handed to the request workers (workers.c), and a request that must wait — a long-poll, an
 * SSE stream with nothing new, a push until its group commit is durable — holds no thread
 * (park.c, ledger_push_async) until it is resumed. Request bodies are capped at --max-body,
 * idle connections timed out. */
#include <microhttpd.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <malloc.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "server_int.h"

#include "idbsync/log.h"
#include "idbsync/path.h"

typedef struct conn {
	server *s;
	ids_buf body;
	int too_large;
	int responded;
	/* the request while it is away from the event thread: its worker steps and its answer */
	http_req req;
	http_resp resp;
	enum route_id rid;
	parked pk;                  /* pk.t runs conn_step on a worker */
	int dispatched;             /* route_dispatch ran; later steps run resp.cont */
	int ready;                  /* resp is the answer: queue it when resumed */
	int sent;                   /* the answer (or a stream's headers) is queued */
	int gone;                   /* the client hung up while parked: close */
	int logged;                 /* the request's log line is built (and written, or in line) */
	int in_step;                /* a worker runs conn_step: the line waits in line for the resume */
	ids_logrec line;            /* the request's log line while it is built and not yet written
				     * (line.on); whoever holds the connection holds it. It leaves by
				     * ids_log_end (step_end, on_done) or by line_take (conn_step) */
	int woken;                  /* this step follows a wake-up from parking: its answer is paced */
	atomic_int paced;           /* holds one of the pace window's places (see pace_resume) */
	struct conn *pace_next;
	size_t bytes_in;            /* the body's size (a handler may take the body) */
	struct timespec t0;         /* the request's headers arrived */
	int push;                   /* POST .../push: its transport stages are timed (/metrics) */
	int64_t t_stage;            /* a push: when its body was whole, then when its answer was ready */
	struct MHD_Connection *c;
	/* import uploads stream to a temp file instead of memory */
	FILE *spool;
	char spool_path[IDS_PATH_MAX + 1];
	uint64_t spooled;
	int spool_failed;
} conn;

/* One line per request: method, path, status, bytes, duration, client, user, and for pushes
 * the counts; errors (4xx warn, 5xx error) with their message. Health checks and metrics
 * scrapes are debug. A request answered from a worker (conn_step) has its line written after
 * its connection is handed back: the write wakes whoever reads the log (a pipe), and with one
 * client pushing that was the client's own process, woken on the chain it waits on. */
void req_log_line(http_req *req, http_resp *resp)
{
	conn *cn = req->impl;
	if (cn->logged)
		return;
	cn->logged = 1;
	int status = resp->status ? resp->status : 200;
	int quiet = !strcmp(req->path, "/healthz") || !strcmp(req->path, "/readyz") || !strcmp(req->path, "/metrics");
	ids_log_level lvl = status >= 500 ? IDS_LOG_ERROR : status >= 400 ? IDS_LOG_WARN : quiet ? IDS_LOG_DEBUG : IDS_LOG_INFO;
	ids_logrec *r = &cn->line;
	if (!ids_log_begin(r, lvl, "request"))
		return;
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ms = (double)(t1.tv_sec - cn->t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - cn->t0.tv_nsec) / 1e6;
	ids_log_str(r, "method", req->method);
	ids_log_str(r, "path", req->path);
	ids_log_int(r, "status", status);
	ids_log_int(r, "bytes_in", (long long)(cn->bytes_in ? cn->bytes_in : cn->spooled));
	ids_log_int(r, "bytes_out", resp->stream ? -1 : resp->file ? resp->file_bytes
				      : resp->page ? (long long)resp->page->len : (long long)resp->body.len);
	ids_log_num(r, "ms", ms);
	if (req->log_client)
		ids_log_str(r, "client", req->log_client);
	if (req->user && req->user[0])
		ids_log_str(r, "user", req->user);
	if (req->log_push) {
		ids_log_int(r, "mutations", req->log_mutations);
		ids_log_int(r, "applied", req->log_applied);
		ids_log_int(r, "duplicates", req->log_duplicates);
		ids_log_int(r, "conflicts", req->log_conflicts);
	}
	if (status >= 400 && resp->body.len)
		ids_log_strn(r, "error", resp->body.data, resp->body.len < 600 ? resp->body.len : 600);
	if (!cn->in_step)
		ids_log_end(r);   /* outside a worker's step: written now */
	/* else it stays in cn->line: conn_step takes it out before the hand-off, or step_end
	 * writes it */
}

/* Moves the request's unwritten log line (if any) out of its connection: the caller owns it
 * and writes it with ids_log_end, and cn->line is left empty, so step_end and on_done have
 * nothing to write. For a step that hands its connection back and writes the line after:
 * once handed back, cn is the event thread's and may be gone. */
static ids_logrec line_take(conn *cn)
{
	ids_logrec l = cn->line;
	memset(&cn->line, 0, sizeof cn->line);
	return l;
}

static int is_upload(const char *method, const char *url)
{
	size_t n = strlen(url);
	return !strcmp(method, "POST") && !strncmp(url, "/v1/admin/db/", 13) && n > 7 && !strcmp(url + n - 7, "/import");
}

const char *req_query(http_req *r, const char *name)
{
	conn *cn = r->impl;
	return MHD_lookup_connection_value(cn->c, MHD_GET_ARGUMENT_KIND, name);
}

const char *req_header(http_req *r, const char *name)
{
	conn *cn = r->impl;
	return MHD_lookup_connection_value(cn->c, MHD_HEADER_KIND, name);
}

char *req_take_body(http_req *r, size_t *len)
{
	conn *cn = r->impl;
	char *b = ids_buf_steal(&cn->body, len);
	r->body = NULL;
	r->body_len = 0;
	return b;
}

/* Woken waiters are resumed at most PACE_WINDOW at a time. A resumed connection is served in
 * the event thread's next pass; resuming a whole fan-out at once made one pass write thousands
 * of answers while a push that arrived meanwhile waited behind them (p99 0.8-6 s during a
 * 10,000-client fan-out). With the window, the event threads go back to epoll after at most
 * this many, and a push's own resume (not paced) is served in the pass after it. Smaller is not
 * free: every pass that resumes anything walks libmicrohttpd's list of suspended connections
 * (all the parked ones). */
#define PACE_WINDOW 128

static void conn_resume(conn *cn);

static void pace_resume(conn *cn)
{
	server *s = cn->s;
	pthread_mutex_lock(&s->pace_mu);
	if (s->pace_out >= PACE_WINDOW) {
		cn->pace_next = NULL;
		if (s->pace_tail)
			s->pace_tail->pace_next = cn;
		else
			s->pace_head = cn;
		s->pace_tail = cn;
		pthread_mutex_unlock(&s->pace_mu);
		return;
	}
	s->pace_out++;
	atomic_store(&cn->paced, 1);
	pthread_mutex_unlock(&s->pace_mu);
	conn_resume(cn);
}

/* An event thread took a paced connection's answer (or it closed): its place goes to the next. */
static void pace_done(conn *cn)
{
	if (!atomic_exchange(&cn->paced, 0))
		return;
	server *s = cn->s;
	pthread_mutex_lock(&s->pace_mu);
	conn *next = s->pace_head;
	if (next) {
		s->pace_head = next->pace_next;
		if (!s->pace_head)
			s->pace_tail = NULL;
		atomic_store(&next->paced, 1); /* takes the place over */
	} else {
		s->pace_out--;
	}
	pthread_mutex_unlock(&s->pace_mu);
	if (next)
		conn_resume(next);
}

/* A stream's response outlives its connection's state (libmicrohttpd frees it later), so its
 * callback argument is its own. */
typedef struct strm {
	conn *cn;
	http_stream_fn fn;
	void (*fn_free)(void *ctx);
	void *ctx;
} strm;

static ssize_t stream_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
	strm *st = cls;
	conn *cn = st->cn;
	pace_done(cn);
	if (cn->gone)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	ssize_t n = st->fn(st->ctx, buf, max);
	if (n < 0)
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (n == 0) {
		if (atomic_load(&cn->s->stopping))
			return MHD_CONTENT_READER_END_OF_STREAM;
		/* nothing to send: the stream's cont makes more on a worker (it may park) */
		atomic_fetch_add(&cn->s->suspended, 1);
		MHD_suspend_connection(cn->c);
		cn->pk.reason = PARK_NONE;
		workers_submit(cn->s->live, &cn->pk.t, LANE_WOKEN); /* a waiter, like the woken ones */
	}
	return n;
}

static void stream_free_cb(void *cls)
{
	strm *st = cls;
	if (st->fn_free)
		st->fn_free(st->ctx);
	free(st);
}

static void add_common_headers(server *s, struct MHD_Response *r)
{
	MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
	MHD_add_response_header(r, "Access-Control-Allow-Headers", "Authorization, Content-Type, Last-Event-ID");
	MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
	MHD_add_response_header(r, "Access-Control-Max-Age", "86400");
}

/* Response bodies wait in memory until a client reads them; a global budget keeps clients that
 * stop reading from making the server hold gigabytes (each holds its buffer until timeout). */
typedef struct inflight {
	server *s;
	size_t len;
	char *body;
	page *page;                 /* or a shared page */
} inflight;

static void inflight_free(void *cls)
{
	inflight *f = cls;
	atomic_fetch_sub(&f->s->inflight_bytes, (long long)f->len);
	free(f->body);
	page_unref(f->page);
	free(f);
}

int resp_over_budget(server *s, http_resp *resp, size_t min_len)
{
	long long held = atomic_load(&s->inflight_bytes);
	/* one response always goes out, even if larger than the budget on its own */
	if (held <= 0 || held + (long long)min_len + 1 <= (long long)s->o.max_inflight_bytes)
		return 0;
	atomic_fetch_add(&s->busy_rejects, 1);
	resp_error_status(resp, 503, "busy", "too many large responses waiting for slow clients; retry shortly (--max-inflight)");
	return 1;
}

static enum MHD_Result send_resp(server *s, conn *cn, http_resp *resp, enum route_id rid)
{
	struct MHD_Connection *c = cn->c;
	struct MHD_Response *r;
	int status = resp->status ? resp->status : 200;
	cn->sent = 1;
	if (resp->stream) {
		strm *st = malloc(sizeof *st);
		if (!st) {
			if (resp->stream_free)
				resp->stream_free(resp->stream_ctx);
			return MHD_NO;
		}
		*st = (strm){cn, resp->stream, resp->stream_free, resp->stream_ctx};
		resp->stream_free = NULL; /* the response's now */
		r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_cb, st, stream_free_cb);
		MHD_add_response_header(r, "Cache-Control", "no-cache");
		MHD_add_response_header(r, "X-Accel-Buffering", "no");
	} else if (resp->file) {
		/* one open, sized by fstat: a file replaced between a size check and a second open
		 * would be sent with the other file's length (or as fd -1 if it vanished) */
		int fd = open(resp->file, O_RDONLY | O_CLOEXEC);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode)) {
			if (fd >= 0)
				close(fd);
			resp->file = NULL;
			resp_error_status(resp, 404, "not_found", "file not found");
			return send_resp(s, cn, resp, rid);
		}
		r = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
		if (!r)
			close(fd);
		MHD_add_response_header(r, "Cache-Control", "no-cache");
	} else {
		/* a shared page counts for each response that holds it: the budget stays an upper bound */
		size_t len = resp->page ? resp->page->len : resp->body.len;
		if (len > 65536 && resp_over_budget(s, resp, len - 1)) {
			page_unref(resp->page);
			resp->page = NULL;
			return send_resp(s, cn, resp, rid);
		}
		inflight *f = malloc(sizeof *f);
		if (!f)
			return MHD_NO;
		*f = (inflight){s, len, NULL, resp->page};
		resp->page = NULL; /* the response's now */
		if (!f->page)
			f->body = ids_buf_steal(&resp->body, &len);
		atomic_fetch_add(&s->inflight_bytes, (long long)len);
		r = MHD_create_response_from_buffer_with_free_callback_cls(len, f->page ? f->page->data : f->body,
									   inflight_free, f);
	}
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", resp->ctype ? resp->ctype : "application/json");
	add_common_headers(s, r);
	enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
	MHD_destroy_response(r);
	int cls = status / 100;
	if (cls >= 1 && cls <= 5)
		atomic_fetch_add(&s->requests[rid][cls], 1);
	return ret;
}

/* Gives a request back to libmicrohttpd's event thread (which queues cn->resp if ready). */
static void conn_resume(conn *cn)
{
	atomic_fetch_sub(&cn->s->suspended, 1);
	MHD_resume_connection(cn->c);
}

/* A client that closed its socket while its request waited in a queue (not parked, so the
 * waker's EPOLLRDHUP did not see it): its page is not worth building. Only a hang-up counts;
 * unread bytes (a pipelined request) do not. */
static int hung_up(int fd)
{
	struct pollfd p = {fd, POLLRDHUP, 0};
	return fd >= 0 && poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* Before a step hands its connection on other than by resuming it (parked, to the bulk
 * workers, to outside work): a line built meanwhile is written now, from the connection
 * itself, which this step still holds. */
static void step_end(conn *cn)
{
	cn->in_step = 0;
	ids_log_end(&cn->line);
}

/* One step of a request on a worker: the handler, or the continuation it left (after a
 * wake-up, a push's commit, or a stream that ran dry). Ends by parking the request, by
 * starting its outside work, or by resuming its connection. */
static void conn_step(task *t)
{
	conn *cn = (conn *)((char *)t - offsetof(conn, pk.t));
	server *s = cn->s;
	http_resp *resp = &cn->resp;
	/* an answer to a wake-up (a commit, a deadline, a stream's next frame) is one of many:
	 * paced; a push's (PARK_DONE) and a new request's are not */
	cn->woken = cn->dispatched && cn->pk.reason != PARK_DONE;
	cn->in_step = 1;
	if (!cn->dispatched) {
		cn->dispatched = 1;
		if (cn->push)
			atomic_fetch_add(&s->push_dispatch_us, ledger_mono_us() - cn->t_stage);
		route_dispatch(s, &cn->req, resp, &cn->rid);
	} else if (cn->pk.reason == PARK_GONE || (cn->pk.reason == PARK_NONE && !resp->stream && hung_up(cn->pk.fd))) {
		cn->gone = 1;
		step_end(cn);
		conn_resume(cn);
		return;
	} else if (resp->cont) {
		resp->cont(s, &cn->req, resp, cn->pk.reason);
	}
	/* cn is another thread's once handed on: nothing of it is touched after */
	if (resp->park || resp->bulk || resp->start)
		step_end(cn);
	if (resp->park) {
		resp->park = 0;
		cn->pk.after = resp->park_after;
		cn->pk.until_ms = resp->park_until_ms;
		cn->pk.db = resp->park_db;
		cn->pk.pool = s->live;
		parking_add(s->park, &cn->pk);
		return;
	}
	if (resp->bulk) {
		/* a large page: built on the bulk workers, after the quick requests (route_sync.c) */
		resp->bulk = 0;
		cn->pk.reason = PARK_NONE;
		workers_submit(s->bulk, &cn->pk.t, LANE_NEW);
		return;
	}
	if (resp->start) {
		void (*start)(server *, http_req *, http_resp *) = resp->start;
		resp->start = NULL;
		cn->pk.pool = s->fast;
		start(s, &cn->req, resp); /* may finish (and resume) at once on another thread */
		return;
	}
	if (!cn->sent) {
		/* the log line here: a write to a slow stderr pipe may block, and the event thread
		 * serves every socket */
		req_log_line(&cn->req, resp);
		cn->ready = 1;
		if (cn->push)
			cn->t_stage = ledger_mono_us();
	}
	/* the line is written once the answer is on its way (req_log_line says why), so it
	 * is moved out of cn, which is not ours after the resume */
	ids_logrec line = line_take(cn);
	cn->in_step = 0;
	if (cn->woken)
		pace_resume(cn);
	else
		conn_resume(cn);
	ids_log_end(&line);
}

void req_wake(http_req *req)
{
	conn *cn = req->impl;
	cn->pk.reason = PARK_DONE;
	workers_submit(cn->pk.pool, &cn->pk.t, LANE_PUSH);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	server *s = cls;
	conn *cn = *con_cls;
	if (!cn) {
		cn = calloc(1, sizeof *cn);
		if (!cn)
			return MHD_NO;
		cn->s = s;
		cn->c = c;
		cn->pk.t.fn = conn_step;
		cn->pk.pool = s->fast;
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		cn->pk.fd = ci ? ci->connect_fd : -1;
		cn->req = (http_req){.method = method, .path = url, .user = "", .impl = cn};
		ids_buf_init(&cn->resp.body, 0);
		clock_gettime(CLOCK_MONOTONIC, &cn->t0);
		ids_buf_init(&cn->body, s->o.limits.max_body);
		*con_cls = cn;
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		uint64_t cap = s->o.limits.max_body;
		if (is_upload(method, url) && s->o.spool_dir) {
			cap = s->o.max_upload;
			/* a spool dir too long for the name: mkstemp("") fails, the upload gets its error */
			ids_path(cn->spool_path, sizeof cn->spool_path, NULL, "%s/upload-XXXXXX", s->o.spool_dir);
			int fd = mkstemp(cn->spool_path);
			cn->spool = fd >= 0 ? fdopen(fd, "wb") : NULL;
			if (!cn->spool) {
				if (fd >= 0)
					close(fd);
				cn->spool_path[0] = 0;
				cn->spool_failed = 1;
			}
		}
		if (cl && strtoull(cl, NULL, 10) > cap)
			cn->too_large = 1;
		/* refuse an oversized body before reading it */
		if (cn->too_large) {
			char msg[128];
			if (cn->spool || cn->spool_failed)
				snprintf(msg, sizeof msg, "upload is larger than the limit of %llu bytes (--max-upload)",
					 (unsigned long long)s->o.max_upload);
			else
				snprintf(msg, sizeof msg, "request body is larger than the limit of %zu bytes (--max-body)",
					 s->o.limits.max_body);
			resp_error(&cn->resp, IDS_ELIMIT, msg);
			cn->responded = 1;
			req_log_line(&cn->req, &cn->resp);
			return send_resp(s, cn, &cn->resp, R_OTHER);
		}
		return MHD_YES;
	}
	if (*upload_size) {
		atomic_fetch_add(&s->bytes_in, (long long)*upload_size);
		if (cn->spool) {
			cn->spooled += *upload_size;
			if (cn->spooled > s->o.max_upload)
				cn->too_large = 1;
			else if (!cn->too_large && fwrite(upload, 1, *upload_size, cn->spool) != *upload_size)
				cn->spool_failed = 1;
			*upload_size = 0;
			return MHD_YES;
		}
		if (!cn->too_large && ids_buf_append(&cn->body, upload, *upload_size))
			cn->too_large = 1; /* keep reading and discarding; answer 413 at the end */
		*upload_size = 0;
		return MHD_YES;
	}
	if (cn->gone)
		return MHD_NO; /* the client left while its request waited */
	if (cn->ready) {
		/* back from a worker with the answer (and its log line written) */
		cn->ready = 0;
		pace_done(cn);
		return send_resp(s, cn, &cn->resp, cn->rid);
	}
	if (cn->responded)
		return MHD_YES;
	cn->responded = 1;
	cn->rid = R_OTHER;
	cn->req.body = cn->body.data ? cn->body.data : "";
	cn->req.body_len = cn->body.len;
	cn->bytes_in = cn->body.len;
	if (cn->too_large) {
		char msg[128];
		snprintf(msg, sizeof msg, "request body is larger than the limit of %zu bytes (--max-body)",
			 s->o.limits.max_body);
		resp_error(&cn->resp, IDS_ELIMIT, msg);
	} else if (cn->spool_failed || (cn->spool && fflush(cn->spool))) {
		resp_error_status(&cn->resp, 507, "disk_full", "cannot store the upload in the data directory");
	} else {
		if (cn->spool) {
			fclose(cn->spool);
			cn->spool = NULL;
			cn->req.body_file = cn->spool_path;
		}
		/* the handler runs on a worker; this thread goes back to the other sockets */
		atomic_fetch_add(&s->suspended, 1);
		MHD_suspend_connection(c);
		size_t n = strlen(url);
		int push = !strcmp(method, "POST") && n > 5 && !strcmp(url + n - 5, "/push");
		if (push) {
			cn->push = 1;
			cn->t_stage = ledger_mono_us();
			atomic_fetch_add(&s->push_recv_us, cn->t_stage - ((int64_t)cn->t0.tv_sec * 1000000 + cn->t0.tv_nsec / 1000));
		}
		workers_submit(route_slow(url) ? s->slow : s->fast, &cn->pk.t, push ? LANE_PUSH : LANE_NEW);
		return MHD_YES;
	}
	req_log_line(&cn->req, &cn->resp);
	return send_resp(s, cn, &cn->resp, cn->rid);
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t)
{
	conn *cn = *con_cls;
	if (!cn)
		return;
	if (cn->push && cn->ready == 0 && cn->sent)
		atomic_fetch_add(&cn->s->push_send_us, ledger_mono_us() - cn->t_stage);
	if (cn->spool)
		fclose(cn->spool);
	if (cn->spool_path[0])
		unlink(cn->spool_path);
	if (cn->resp.cont_free && cn->resp.cont_ctx)
		cn->resp.cont_free(cn->resp.cont_ctx);
	if (cn->resp.stream_free)
		cn->resp.stream_free(cn->resp.stream_ctx);
	pace_done(cn);
	/* every step writes its line or takes it (step_end, conn_step), so none should be left
	 * here; one that was would still be written rather than lost */
	ids_log_end(&cn->line);
	page_unref(cn->resp.page);
	ids_buf_free(&cn->resp.body);
	ids_buf_free(&cn->body);
	free(cn);
	*con_cls = NULL;
}

static int parse_listen(const char *spec, struct sockaddr_storage *ss, socklen_t *len, ids_error *err)
{
	char host[256];
	const char *colon = strrchr(spec, ':');
	if (!colon)
		return ids_fail(err, IDS_EINVAL, "--listen %s: expected ADDR:PORT", spec);
	size_t hl = (size_t)(colon - spec);
	if (hl >= sizeof host)
		return ids_fail(err, IDS_EINVAL, "--listen %s: address too long", spec);
	memcpy(host, spec, hl);
	host[hl] = 0;
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end || port < 0 || port > 65535)
		return ids_fail(err, IDS_EINVAL, "--listen %s: bad port", spec);
	memset(ss, 0, sizeof *ss);
	if (host[0] == '[') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		if (hl < 2 || host[hl - 1] != ']')
			return ids_fail(err, IDS_EINVAL, "--listen %s: bad IPv6 address", spec);
		host[hl - 1] = 0;
		if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1)
			return ids_fail(err, IDS_EINVAL, "--listen %s: bad IPv6 address", spec);
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		*len = sizeof *a;
		return 0;
	}
	struct sockaddr_in *a = (struct sockaddr_in *)ss;
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	if (!host[0] || !strcmp(host, "*"))
		a->sin_addr.s_addr = htonl(INADDR_ANY);
	else if (!strcmp(host, "localhost"))
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
		return ids_fail(err, IDS_EINVAL, "--listen %s: bad IPv4 address", spec);
	*len = sizeof *a;
	return 0;
}

/* Threads of libmicrohttpd's event loop (epoll): they only move bytes. Handlers that may block
 * for long (flush, query, import, gc) get their own few workers so sync traffic never queues
 * behind them. */
#define EVENT_THREADS 2
#define SLOW_WORKERS 4
/* Large pull pages (a page past route_sync.c's first look) are built here, at most this many
 * at once: each holds a read connection and a core while it builds, and 30 stalled clients
 * asking for 16 MiB each once held every request worker (waiting for the ledger's 8 read
 * connections) while a 409 that needs no store at all waited 1.1 s for a worker. Four leaves
 * half the read connections to quick pulls, SSE frames and the lake; on 2 cores more
 * concurrent builds add no throughput. */
#define BULK_WORKERS 4
/* Woken waiters (a fan-out: a shared page, a park, a resume each) run on these, at a lower
 * priority than the threads a push passes through (event threads, request workers, the ledger's
 * writer). A fan-out is CPU work and the machine has 2 cores: 32 workers on it only added
 * runnable threads that each hand-off of a push waited behind (measured: a push's answer took up
 * to 0.5 s inside the server during a 10,000-client fan-out). Niceness is per thread on Linux;
 * raising it needs no privilege. */
#define LIVE_WORKERS 4
#define LIVE_NICE 5

/* The end of both a failed start and server_stop, once no connection is left: the pools, then
 * what their tasks used. */
static void release(server *s)
{
	workers_stop(s->fast);
	workers_stop(s->live);
	workers_stop(s->slow);
	workers_stop(s->bulk);
	parking_free(s->park);
	fanout_free(s->fan);
	pthread_mutex_destroy(&s->pace_mu);
	auth_free(s->auth);
	free(s);
}

static void start_failed(server *s)
{
	parking_stop(s->park);
	release(s);
}

int server_start(server **out, ledger *lg, const server_options *o, ids_error *err)
{
	*out = NULL;
	server *s = calloc(1, sizeof *s);
	if (!s)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	s->o = *o;
	s->lg = lg;
	const char *ps = getenv("IDBSYNC_PUSH_STREAM");
	s->push_stream = !ps || strcmp(ps, "0");
	pthread_mutex_init(&s->pace_mu, NULL);
	int rc = auth_load(&s->auth, o->auth ? o->auth : "none", err);
	struct sockaddr_storage ss;
	socklen_t sl = 0;
	if (!rc)
		rc = parse_listen(o->listen, &ss, &sl, err);
	if (rc) {
		auth_free(s->auth);
		pthread_mutex_destroy(&s->pace_mu);
		free(s);
		return rc;
	}
	/* the workers share a few malloc arenas, so freed memory returns to the OS */
	mallopt(M_ARENA_MAX, 4);
	/* every live client is an open socket: take all the descriptors the hard limit allows */
	struct rlimit nofile;
	if (!getrlimit(RLIMIT_NOFILE, &nofile) && nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (!rc)
		rc = workers_start(&s->fast, "idb-http", o->workers, 1, 0, err);
	if (!rc)
		rc = workers_start(&s->slow, "idb-http-slow", SLOW_WORKERS, 0, 0, err);
	if (!rc)
		rc = workers_start(&s->bulk, "idb-http-bulk", BULK_WORKERS, 0, 0, err);
	if (!rc)
		rc = workers_start(&s->live, "idb-http-live", LIVE_WORKERS, 0, LIVE_NICE, err);
	if (!rc)
		rc = parking_start(&s->park, lg, err);
	if (!rc && fanout_new(&s->fan))
		rc = ids_fail(err, IDS_ENOMEM, "out of memory");
	if (rc) {
		start_failed(s);
		return rc;
	}
	/* our own socket: a taken port is named with its errno (libmicrohttpd's own bind error
	 * says "port 0" for an address given as a sockaddr) */
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
	    (ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one)) ||
	    bind(fd, (struct sockaddr *)&ss, sl) || listen(fd, 1024)) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		start_failed(s);
		return ids_fail(err, IDS_EIO, "cannot listen on %s: %s%s", o->listen, strerror(e),
				e == EADDRINUSE ? " (another server has that port: choose another with --listen, or PORT= with make run)"
						: "");
	}
	s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET, fd,
				     MHD_OPTION_NOTIFY_COMPLETED, on_done, s,
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o->conn_timeout_s,
				     MHD_OPTION_CONNECTION_LIMIT, (unsigned)o->max_connections,
				     MHD_OPTION_THREAD_POOL_SIZE, (unsigned)EVENT_THREADS,
				     MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)o->max_conns_per_ip, MHD_OPTION_END);
	if (!s->daemon) {
		close(fd);
		start_failed(s);
		return ids_fail(err, IDS_EIO, "cannot serve on %s: libmicrohttpd did not start", o->listen);
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info ? info->port : 0;
	*out = s;
	return 0;
}

int server_port(server *s) { return s->port; }

void server_stop(server *s)
{
	if (!s)
		return;
	atomic_store(&s->stopping, 1);
	int lfd = MHD_quiesce_daemon(s->daemon); /* no new connections */
	ledger_wake_all(s->lg);
	/* every parked request answers (an empty pull, the end of a stream); libmicrohttpd must
	 * not be stopped while a connection is suspended, so wait for them to come back (a
	 * handler stuck in the lake or Drill gets 10 s) */
	parking_stop(s->park);
	for (int i = 0; i < 1000 && atomic_load(&s->suspended) > 0; i++)
		usleep(10000);
	MHD_stop_daemon(s->daemon);
	if (lfd >= 0)
		close(lfd);
	release(s);
}
