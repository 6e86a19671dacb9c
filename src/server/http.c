/* libmicrohttpd glue — the only file that includes microhttpd.h. One thread per connection
 * (pushes block until their group commit is durable; long-polls and SSE block on the store's
 * condition variable), request bodies capped at --max-body, idle connections timed out. */
#include <microhttpd.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <malloc.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server_int.h"

#include "idbsync/log.h"

typedef struct conn {
	ids_buf body;
	int too_large;
	int responded;
	int logged;                 /* the request's log line is written */
	size_t bytes_in;            /* the body's size (a handler may take the body) */
	struct timespec t0;         /* the request's headers arrived */
	struct MHD_Connection *c;
	/* import uploads stream to a temp file instead of memory */
	FILE *spool;
	char spool_path[4200];
	uint64_t spooled;
	int spool_failed;
} conn;

/* One line per request: method, path, status, bytes, duration, client, user, and for pushes
 * the counts; errors (4xx warn, 5xx error) with their message. Health checks and metrics
 * scrapes are debug. */
void req_log_line(http_req *req, http_resp *resp)
{
	conn *cn = req->impl;
	if (cn->logged)
		return;
	cn->logged = 1;
	int status = resp->status ? resp->status : 200;
	int quiet = !strcmp(req->path, "/healthz") || !strcmp(req->path, "/readyz") || !strcmp(req->path, "/metrics");
	ids_log_level lvl = status >= 500 ? IDS_LOG_ERROR : status >= 400 ? IDS_LOG_WARN : quiet ? IDS_LOG_DEBUG : IDS_LOG_INFO;
	ids_logrec r;
	if (!ids_log_begin(&r, lvl, "request"))
		return;
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ms = (double)(t1.tv_sec - cn->t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - cn->t0.tv_nsec) / 1e6;
	ids_log_str(&r, "method", req->method);
	ids_log_str(&r, "path", req->path);
	ids_log_int(&r, "status", status);
	ids_log_int(&r, "bytes_in", (long long)(cn->bytes_in ? cn->bytes_in : cn->spooled));
	ids_log_int(&r, "bytes_out", resp->stream ? -1 : (long long)resp->body.len);
	ids_log_num(&r, "ms", ms);
	if (req->log_client)
		ids_log_str(&r, "client", req->log_client);
	if (req->user && req->user[0])
		ids_log_str(&r, "user", req->user);
	if (req->log_push) {
		ids_log_int(&r, "mutations", req->log_mutations);
		ids_log_int(&r, "applied", req->log_applied);
		ids_log_int(&r, "duplicates", req->log_duplicates);
		ids_log_int(&r, "conflicts", req->log_conflicts);
	}
	if (status >= 400 && resp->body.len)
		ids_log_strn(&r, "error", resp->body.data, resp->body.len < 600 ? resp->body.len : 600);
	ids_log_end(&r);
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

static ssize_t stream_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
	http_resp *resp = cls;
	ssize_t n = resp->stream(resp->stream_ctx, buf, max);
	return n < 0 ? MHD_CONTENT_READER_END_OF_STREAM : n;
}

static void stream_free_cb(void *cls)
{
	http_resp *resp = cls;
	if (resp->stream_free)
		resp->stream_free(resp->stream_ctx);
	free(resp);
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
} inflight;

static void inflight_free(void *cls)
{
	inflight *f = cls;
	atomic_fetch_sub(&f->s->inflight_bytes, (long long)f->len);
	free(f->body);
	free(f);
}

static enum MHD_Result send_resp(server *s, struct MHD_Connection *c, http_resp *resp, enum route_id rid)
{
	struct MHD_Response *r;
	int status = resp->status ? resp->status : 200;
	if (resp->stream) {
		http_resp *heap = malloc(sizeof *heap);
		if (!heap)
			return MHD_NO;
		*heap = *resp;
		r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_cb, heap, stream_free_cb);
		MHD_add_response_header(r, "Cache-Control", "no-cache");
		MHD_add_response_header(r, "X-Accel-Buffering", "no");
	} else if (resp->file) {
		FILE *f = fopen(resp->file, "rb");
		if (!f) {
			resp_error_status(resp, 404, "not_found", "file not found");
			return send_resp(s, c, resp, rid);
		}
		fseek(f, 0, SEEK_END);
		long size = ftell(f);
		fclose(f);
		int fd = open(resp->file, 0);
		r = MHD_create_response_from_fd((uint64_t)size, fd);
		MHD_add_response_header(r, "Cache-Control", "no-cache");
	} else {
		size_t len;
		char *body = ids_buf_steal(&resp->body, &len);
		long long before = atomic_fetch_add(&s->inflight_bytes, (long long)len);
		/* one response always goes out, even if larger than the budget on its own */
		if (len > 65536 && before > 0 && before + (long long)len > (long long)s->o.max_inflight_bytes) {
			atomic_fetch_sub(&s->inflight_bytes, (long long)len);
			free(body);
			atomic_fetch_add(&s->busy_rejects, 1);
			resp_error_status(resp, 503, "busy",
					  "too many large responses waiting for slow clients; retry shortly (--max-inflight)");
			return send_resp(s, c, resp, rid);
		}
		inflight *f = malloc(sizeof *f);
		if (!f) {
			atomic_fetch_sub(&s->inflight_bytes, (long long)len);
			free(body);
			return MHD_NO;
		}
		*f = (inflight){s, len, body};
		r = MHD_create_response_from_buffer_with_free_callback_cls(len, body, inflight_free, f);
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

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	server *s = cls;
	conn *cn = *con_cls;
	if (!cn) {
		cn = calloc(1, sizeof *cn);
		if (!cn)
			return MHD_NO;
		cn->c = c;
		clock_gettime(CLOCK_MONOTONIC, &cn->t0);
		ids_buf_init(&cn->body, s->o.limits.max_body);
		*con_cls = cn;
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		uint64_t cap = s->o.limits.max_body;
		if (is_upload(method, url) && s->o.spool_dir) {
			cap = s->o.max_upload;
			snprintf(cn->spool_path, sizeof cn->spool_path, "%s/upload-XXXXXX", s->o.spool_dir);
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
			http_resp resp = {0};
			char msg[128];
			if (cn->spool || cn->spool_failed)
				snprintf(msg, sizeof msg, "upload is larger than the limit of %llu bytes (--max-upload)",
					 (unsigned long long)s->o.max_upload);
			else
				snprintf(msg, sizeof msg, "request body is larger than the limit of %zu bytes (--max-body)",
					 s->o.limits.max_body);
			resp_error(&resp, IDS_ELIMIT, msg);
			cn->responded = 1;
			http_req req = {.method = method, .path = url, .user = "", .impl = cn};
			req_log_line(&req, &resp);
			return send_resp(s, c, &resp, R_OTHER);
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
	if (cn->responded)
		return MHD_YES;
	cn->responded = 1;
	http_resp resp = {0};
	ids_buf_init(&resp.body, 0);
	enum route_id rid = R_OTHER;
	http_req req = {.method = method, .path = url, .body = cn->body.data ? cn->body.data : "", .body_len = cn->body.len,
			.user = "", .impl = cn};
	cn->bytes_in = cn->body.len;
	if (cn->too_large) {
		char msg[128];
		snprintf(msg, sizeof msg, "request body is larger than the limit of %zu bytes (--max-body)",
			 s->o.limits.max_body);
		resp_error(&resp, IDS_ELIMIT, msg);
	} else if (cn->spool_failed || (cn->spool && fflush(cn->spool))) {
		resp_error_status(&resp, 507, "disk_full", "cannot store the upload in the data directory");
	} else {
		if (cn->spool) {
			fclose(cn->spool);
			cn->spool = NULL;
			req.body_file = cn->spool_path;
		}
		route_dispatch(s, &req, &resp, &rid);
	}
	req_log_line(&req, &resp);
	enum MHD_Result ret = send_resp(s, c, &resp, rid);
	ids_buf_free(&resp.body);
	return ret;
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t)
{
	conn *cn = *con_cls;
	if (!cn)
		return;
	if (cn->spool)
		fclose(cn->spool);
	if (cn->spool_path[0])
		unlink(cn->spool_path);
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

int server_start(server **out, store *st, const server_options *o, ids_error *err)
{
	*out = NULL;
	server *s = calloc(1, sizeof *s);
	if (!s)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	s->o = *o;
	s->st = st;
	int rc = auth_load(&s->auth, o->auth ? o->auth : "none", err);
	struct sockaddr_storage ss;
	socklen_t sl = 0;
	if (!rc)
		rc = parse_listen(o->listen, &ss, &sl, err);
	if (rc) {
		auth_free(s->auth);
		free(s);
		return rc;
	}
	/* one malloc arena per connection thread would keep freed memory from returning to the OS */
	mallopt(M_ARENA_MAX, 4);
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
			 MHD_USE_ERROR_LOG;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* our own socket: a taken port is named with its errno (libmicrohttpd's own bind error
	 * says "port 0" for an address given as a sockaddr) */
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
	    (ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one)) ||
	    bind(fd, (struct sockaddr *)&ss, sl) || listen(fd, 1024)) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		auth_free(s->auth);
		free(s);
		return ids_fail(err, IDS_EIO, "cannot listen on %s: %s%s", o->listen, strerror(e),
				e == EADDRINUSE ? " (another server has that port: choose another with --listen, or PORT= with make run)"
						: "");
	}
	s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET, fd,
				     MHD_OPTION_NOTIFY_COMPLETED, on_done, s,
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o->conn_timeout_s,
				     MHD_OPTION_CONNECTION_LIMIT, (unsigned)o->max_connections,
				     MHD_OPTION_THREAD_STACK_SIZE, (size_t)(512 * 1024), MHD_OPTION_PER_IP_CONNECTION_LIMIT,
				     (unsigned)o->max_conns_per_ip, MHD_OPTION_END);
	if (!s->daemon) {
		close(fd);
		auth_free(s->auth);
		free(s);
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
	store_wake_all(s->st);
	MHD_stop_daemon(s->daemon);
	auth_free(s->auth);
	free(s);
}
