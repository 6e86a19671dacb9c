/* Helpers shared by the route handler tests (test_routes_*.c), over test_util.h's assertions:
 * a thin in-process server (server_start on 127.0.0.1, port 0, over a real store in a temp
 * dir, with whatever hooks the test fakes) and a libcurl client that returns status, content
 * type and body. The handlers run exactly as in `idbsync serve`; only the lake behind the
 * hooks is a fake. */
#ifndef ROUTE_TEST_H
#define ROUTE_TEST_H

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idbsync/log.h"
#include "idbsync/server.h"
#include "idbsync/ledger.h"
#include "test_util.h"

#define RT_HELPER __attribute__((unused))

typedef struct rt_server {
	ledger *lg;
	server *srv;
	char url[64];
} rt_server;

/* Opens a ledger in dir (auth: rows scoped per user) and starts a server over it with o
 * (listen is forced to 127.0.0.1:0). 0 on success. */
RT_HELPER static int rt_start(rt_server *r, const char *dir, int auth, server_options *o)
{
	ids_error err = IDS_ERROR_INIT;
	ledger_options so = LEDGER_OPTIONS_INIT;
	so.dir = dir;
	so.durable = 0;
	so.auth = auth;
	memset(r, 0, sizeof *r);
	o->listen = "127.0.0.1:0";
	/* a request line per call would bury the failures, which print the answer themselves */
	ids_log_setup(IDS_LOG_OFF, IDS_LOG_TEXT, 2);
	if (ledger_open(&r->lg, &so, &err) || server_start(&r->srv, r->lg, o, &err)) {
		TEST_FAIL("starting a server on %s: %s", dir, err.msg);
		return -1;
	}
	snprintf(r->url, sizeof r->url, "http://127.0.0.1:%d", server_port(r->srv));
	return 0;
}

RT_HELPER static void rt_stop(rt_server *r)
{
	server_stop(r->srv);
	ledger_free(r->lg);
	r->srv = NULL;
	r->lg = NULL;
}

typedef struct rt_resp {
	long status;
	char ctype[128];
	ids_buf body;
	int first_frame; /* stop reading after the first "\n\n" (an event stream never ends) */
} rt_resp;

static size_t rt_write(char *p, size_t size, size_t n, void *ctx)
{
	rt_resp *r = ctx;
	ids_buf_append(&r->body, p, size * n);
	if (r->first_frame && r->body.len && memmem(r->body.data, r->body.len, "\n\n", 2))
		return 0; /* ends the transfer: CURLE_WRITE_ERROR, the status is already in */
	return size * n;
}

/* One request: method, base url + path, an optional body (len bytes) and headers (a NULL-
 * terminated list of "Name: value"). Fills out (reset first; its body is NUL-terminated) and
 * returns the status, or 0 when no answer came. */
RT_HELPER static long rt_call(rt_resp *out, const rt_server *r, const char *method, const char *path,
			      const char *body, size_t len, const char *const *headers)
{
	char url[1200];
	snprintf(url, sizeof url, "%s%s", r->url, path);
	ids_buf_reset(&out->body);
	out->status = 0;
	out->ctype[0] = 0;
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	for (size_t i = 0; headers && headers[i]; i++)
		h = curl_slist_append(h, headers[i]);
	h = curl_slist_append(h, "Expect:"); /* no 100-continue round trip */
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (!strcmp(method, "HEAD"))
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, rt_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	CURLcode rc = curl_easy_perform(c);
	if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && out->first_frame)) {
		char *ct = NULL;
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
		curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
		snprintf(out->ctype, sizeof out->ctype, "%s", ct ? ct : "");
	} else {
		TEST_FAIL("%s %s: %s", method, path, curl_easy_strerror(rc));
	}
	ids_buf_putc(&out->body, 0);
	out->body.len--;
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return out->status;
}

/* GET path, and POST path with a NUL-terminated body (JSON), with an optional bearer token. */
RT_HELPER static long rt_get(rt_resp *out, const rt_server *r, const char *path, const char *token)
{
	char auth[300];
	snprintf(auth, sizeof auth, "Authorization: Bearer %s", token ? token : "");
	const char *h[] = {token ? auth : NULL, NULL};
	return rt_call(out, r, "GET", path, NULL, 0, h);
}

RT_HELPER static long rt_post(rt_resp *out, const rt_server *r, const char *path, const char *json,
			      const char *token)
{
	char auth[300];
	snprintf(auth, sizeof auth, "Authorization: Bearer %s", token ? token : "");
	const char *h[] = {"Content-Type: application/json", token ? auth : NULL, NULL};
	return rt_call(out, r, "POST", path, json, json ? strlen(json) : 0, h);
}

/* Checks an error answer: the status, {"error":{"code":code,...}} and a message that
 * contains msg. */
RT_HELPER static void rt_check_error(const rt_resp *r, long status, const char *code, const char *msg, const char *file,
			   int line)
{
	char want[80];
	snprintf(want, sizeof want, "{\"error\":{\"code\":\"%s\",\"message\":\"", code);
	const char *b = r->body.data ? r->body.data : "";
	if (r->status != status || strncmp(b, want, strlen(want)) || !strstr(b, msg) ||
	    strcmp(r->ctype, "application/json"))
		test_fail(file, line, "want %ld %s with \"%s\"; got %ld (%s) %s", status, code, msg, r->status,
			  r->ctype, b);
	else
		test_passed++;
}
#define CHECK_ERROR(r, status, code, msg) rt_check_error(r, status, code, msg, __FILE__, __LINE__)

/* Checks a success: the status and a body that contains want. */
RT_HELPER static void rt_check_ok(const rt_resp *r, long status, const char *want, const char *file, int line)
{
	const char *b = r->body.data ? r->body.data : "";
	if (r->status != status || !strstr(b, want))
		test_fail(file, line, "want %ld with \"%s\"; got %ld %s", status, want, r->status, b);
	else
		test_passed++;
}
#define CHECK_OK(r, status, want) rt_check_ok(r, status, want, __FILE__, __LINE__)

#endif
