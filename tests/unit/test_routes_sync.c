/* Unit tests for the sync route handlers (src/server/route_sync.c and the route table) over a
 * thin in-process server: push, pull, events and stores, each route's success and every 4xx
 * docs/protocol.md gives it (400 invalid, 401, 403, 405, 409 epoch_changed / cursor_ahead,
 * 410 cursor_expired, 413 too_large), with and without authentication. */
#include <stdio.h>
#include <string.h>

#include "route_test.h"

static char root[256];
static rt_server open_srv;   /* auth off; limits small enough to reach each 413 */
static rt_server auth_srv;   /* tokens: alice, bob, admin */

#define PUT(id, key, value) "{\"id\":" #id ",\"store\":\"s\",\"op\":\"put\",\"key\":" key ",\"value\":" value "}"

static void push(void)
{
	rt_resp r = {0};
	const rt_server *s = &open_srv;
	rt_post(&r, s, "/v1/db/app/push", "{\"client\":\"c1\",\"mutations\":[" PUT(1, "1", "{\"a\":1}") "]}", NULL);
	CHECK_OK(&r, 200, "{\"ack\":1,\"cursor\":1,\"applied\":1,\"duplicates\":0,");
	CHECK_HAS(r.body.data, "\"epoch\":\"");
	CHECK_HAS(r.body.data, "\"kept\":[[1,1,1]],\"conflicts\":[]}");
	/* the same batch again: acknowledged, not applied twice */
	rt_post(&r, s, "/v1/db/app/push", "{\"client\":\"c1\",\"mutations\":[" PUT(1, "1", "{\"a\":1}") "]}", NULL);
	CHECK_OK(&r, 200, "\"ack\":1,\"cursor\":1,\"applied\":0,\"duplicates\":1,");
	/* a gap: processing stops, the answer says which id to resend from */
	rt_post(&r, s, "/v1/db/app/push", "{\"client\":\"c1\",\"mutations\":[" PUT(5, "2", "2") "]}", NULL);
	CHECK_OK(&r, 200, "\"gap\":true,\"expected\":2,");

	/* 400: malformed JSON, a missing field named, a clock too far ahead, a bad db name */
	rt_post(&r, s, "/v1/db/app/push", "{\"client\":", NULL);
	CHECK_ERROR(&r, 400, "invalid", "");
	rt_post(&r, s, "/v1/db/app/push", "{\"client\":\"c1\",\"mutations\":[{\"id\":2,\"store\":\"s\",\"key\":1}]}", NULL);
	CHECK_ERROR(&r, 400, "invalid", "mutations[0].op");
	rt_post(&r, s, "/v1/db/app/push",
		"{\"client\":\"c1\",\"mutations\":[{\"id\":2,\"store\":\"s\",\"op\":\"delete\",\"key\":1,"
		"\"hlc\":\"9999999999999-0000-x\"}]}", NULL);
	CHECK_ERROR(&r, 400, "invalid", "ahead of the server clock");
	rt_post(&r, s, "/v1/db/_hidden/push", "{}", NULL);
	CHECK_ERROR(&r, 400, "invalid", "database name must be 1-64 characters");
	/* 405 */
	rt_get(&r, s, "/v1/db/app/push", NULL);
	CHECK_ERROR(&r, 405, "method_not_allowed", "use POST");
	/* 413: body over --max-body, key over --max-key, value over --max-value, too many mutations */
	char big[5000];
	memset(big, ' ', sizeof big - 1);
	big[sizeof big - 1] = 0;
	big[0] = '{';
	big[sizeof big - 2] = '}';
	rt_post(&r, s, "/v1/db/app/push", big, NULL);
	CHECK_ERROR(&r, 413, "too_large", "--max-body");
	rt_post(&r, s, "/v1/db/app/push", "{\"client\":\"c1\",\"mutations\":[" PUT(2, "\"" 
		"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk\"", "1") "]}", NULL);
	CHECK_ERROR(&r, 413, "too_large", "the limit is 64");
	char val[700];
	snprintf(val, sizeof val, "{\"client\":\"c1\",\"mutations\":[{\"id\":2,\"store\":\"s\",\"op\":\"put\",\"key\":3,"
		 "\"value\":\"%0400d\"}]}", 0);
	rt_post(&r, s, "/v1/db/app/push", val, NULL);
	CHECK_ERROR(&r, 413, "too_large", "the limit is 300");
	rt_post(&r, s, "/v1/db/app/push", "{\"client\":\"c1\",\"mutations\":[" PUT(2, "2", "2") "," PUT(3, "3", "3") ","
		PUT(4, "4", "4") "," PUT(5, "5", "5") "," PUT(6, "6", "6") "," PUT(7, "7", "7") "]}", NULL);
	CHECK_ERROR(&r, 413, "too_large", "mutations: 6 in one push, the limit is 5");
	/* none of the refused pushes applied anything */
	CHECK_EQ_INT(ledger_head(s->lg), 1);
	ids_buf_free(&r.body);
}

static void pull(void)
{
	rt_resp r = {0};
	const rt_server *s = &open_srv;
	rt_get(&r, s, "/v1/db/app/pull?since=0&client=c1", NULL);
	CHECK_OK(&r, 200, "{\"changes\":[{\"seq\":1,\"store\":\"s\",\"op\":\"put\",\"key\":1,\"value\":{\"a\":1},");
	CHECK_HAS(r.body.data, "\"cursor\":1,\"more\":false,");
	CHECK_HAS(r.body.data, "\"epoch\":\"");
	CHECK_EQ_STR(r.ctype, "application/json");
	rt_get(&r, s, "/v1/db/app/pull?since=1", NULL);
	CHECK_OK(&r, 200, "{\"changes\":[],\"cursor\":1,");
	rt_get(&r, s, "/v1/db/other/pull", NULL);
	CHECK_OK(&r, 200, "{\"changes\":[],");

	const char *bad[][2] = {{"since=-1", "query parameter since must be an integer"},
				{"since=x", "query parameter since"},
				{"limit=0", "query parameter limit must be an integer from 1 to 10000"},
				{"limit=10001", "query parameter limit"},
				{"wait=3", "query parameter wait must be an integer from 0 to 2"},
				{"client=has%20space", "query parameter client"}};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char path[100];
		snprintf(path, sizeof path, "/v1/db/app/pull?%s", bad[i][0]);
		rt_get(&r, s, path, NULL);
		CHECK_ERROR(&r, 400, "invalid", bad[i][1]);
	}
	rt_get(&r, s, "/v1/db/app/pull?epoch=0000000000000000", NULL);
	CHECK_ERROR(&r, 409, "epoch_changed", "pull from since=0");
	rt_get(&r, s, "/v1/db/app/pull?since=99", NULL);
	CHECK_ERROR(&r, 409, "cursor_ahead", "cursor 99 is past this server's head 1");
	rt_post(&r, s, "/v1/db/app/pull", "{}", NULL);
	CHECK_ERROR(&r, 405, "method_not_allowed", "use GET");

	/* 410: a tombstone every client has pulled past is collected; an older cursor is refused */
	rt_post(&r, s, "/v1/db/gcdb/push", "{\"client\":\"g\",\"mutations\":[" PUT(1, "1", "1") "," PUT(2, "2", "2")
		",{\"id\":3,\"store\":\"s\",\"op\":\"delete\",\"key\":2}]}", NULL);
	CHECK_OK(&r, 200, "\"ack\":3,");
	rt_get(&r, s, "/v1/db/gcdb/pull?since=0&client=g", NULL);
	CHECK_OK(&r, 200, "\"more\":false");
	rt_get(&r, s, "/v1/db/gcdb/pull?since=4&client=g", NULL);
	CHECK_OK(&r, 200, "\"changes\":[]");
	rt_post(&r, s, "/v1/admin/gc", NULL, NULL);
	CHECK_OK(&r, 200, "{\"collected\":1}");
	rt_get(&r, s, "/v1/db/gcdb/pull?since=1", NULL);
	CHECK_ERROR(&r, 410, "cursor_expired", "resync from since=0");
	rt_get(&r, s, "/v1/db/gcdb/pull?since=0", NULL);
	CHECK_OK(&r, 200, "\"key\":1,");
	ids_buf_free(&r.body);
}

static void events(void)
{
	rt_resp r = {0};
	const rt_server *s = &open_srv;
	r.first_frame = 1;
	rt_get(&r, s, "/v1/db/app/events?since=0", NULL);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_STR(r.ctype, "text/event-stream");
	CHECK_EQ_STR(r.body.data, "retry: 2000\n\n");
	r.first_frame = 0;
	rt_get(&r, s, "/v1/db/app/events?since=x", NULL);
	CHECK_ERROR(&r, 400, "invalid", "query parameter since");
	rt_get(&r, s, "/v1/db/app/events?epoch=0000000000000000", NULL);
	CHECK_ERROR(&r, 409, "epoch_changed", "");
	const char *h[] = {"Last-Event-ID: 50", NULL};
	rt_call(&r, s, "GET", "/v1/db/app/events", NULL, 0, h);
	CHECK_ERROR(&r, 409, "cursor_ahead", "cursor 50");
	ids_buf_free(&r.body);
}

static void stores(void)
{
	rt_resp r = {0};
	rt_get(&r, &open_srv, "/v1/db/app/stores", NULL);
	CHECK_OK(&r, 200, "{\"stores\":[{\"name\":\"s\",\"rows\":1,\"tombstones\":0,\"conflict\":\"lww\"}]}");
	rt_get(&r, &open_srv, "/v1/db/nothing/stores", NULL);
	CHECK_OK(&r, 200, "{\"stores\":[]}");
	ids_buf_free(&r.body);
}

/* With tokens: 401 without or with an unknown token, rows scoped per user, 403 for a shared
 * row and for server-origin pushes from a non-admin token. */
static void with_auth(void)
{
	rt_resp r = {0};
	const rt_server *s = &auth_srv;
	const char *body = "{\"client\":\"t\",\"mutations\":[" PUT(1, "1", "\"mine\"") "]}";
	rt_post(&r, s, "/v1/db/app/push", body, NULL);
	CHECK_ERROR(&r, 401, "unauthorized", "missing bearer token");
	rt_post(&r, s, "/v1/db/app/push", body, "nope");
	CHECK_ERROR(&r, 401, "unauthorized", "unknown or revoked token");
	rt_get(&r, s, "/v1/db/app/pull", NULL);
	CHECK_ERROR(&r, 401, "unauthorized", "");
	rt_post(&r, s, "/v1/db/app/push", body, "ta");
	CHECK_OK(&r, 200, "\"applied\":1,");
	/* bob's key 1 is another row; bob does not see alice's */
	rt_post(&r, s, "/v1/db/app/push", "{\"client\":\"t\",\"mutations\":[" PUT(1, "1", "\"bobs\"") "]}", "tb");
	CHECK_OK(&r, 200, "\"applied\":1,");
	rt_get(&r, s, "/v1/db/app/pull", "tb");
	CHECK_OK(&r, 200, "\"value\":\"bobs\"");
	CHECK(!strstr(r.body.data, "mine"));
	rt_get(&r, s, "/v1/db/app/pull?access_token=ta", NULL); /* EventSource's way */
	CHECK_OK(&r, 200, "\"value\":\"mine\"");
	CHECK(!strstr(r.body.data, "bobs"));
	/* server-origin writes need an admin token; they make shared rows users cannot modify */
	const char *shared = "{\"client\":\"srv\",\"origin\":\"server\",\"mutations\":[" PUT(1, "7", "\"shared\"") "]}";
	rt_post(&r, s, "/v1/db/app/push", shared, "ta");
	CHECK_ERROR(&r, 403, "forbidden", "origin \\\"server\\\" pushes need an admin token");
	rt_post(&r, s, "/v1/db/app/push", shared, "tadm");
	CHECK_OK(&r, 200, "\"applied\":1,");
	rt_post(&r, s, "/v1/db/app/push", "{\"client\":\"t\",\"mutations\":[" PUT(2, "7", "\"overwrite\"") "]}", "ta");
	CHECK_ERROR(&r, 403, "forbidden", "shared row");
	rt_get(&r, s, "/v1/db/app/stores", "ta");
	CHECK_OK(&r, 200, "{\"stores\":[{\"name\":\"s\",\"rows\":2,");  /* its own row and the shared one */
	ids_buf_free(&r.body);
}

int main(void)
{
	if (test_mkdtemp(root, sizeof root, "ids_test_routes_sync"))
		return 1;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	char dir[512], tokens[512];
	snprintf(dir, sizeof dir, "%s/open", root);
	server_options o = SERVER_OPTIONS_INIT;
	o.limits.max_body = 4096;
	o.limits.max_key = 64;
	o.limits.max_value = 300;
	o.limits.max_mutations = 5;
	o.max_wait_s = 2;
	if (rt_start(&open_srv, dir, 0, &o) == 0) {
		push();
		pull();
		events();
		stores();
		rt_stop(&open_srv);
	}
	snprintf(tokens, sizeof tokens, "%s/tokens", root);
	FILE *f = fopen(tokens, "w");
	if (f) {
		fputs("ta alice\ntb bob\ntadm root admin\n", f);
		fclose(f);
	}
	char spec[600];
	snprintf(spec, sizeof spec, "tokens:%s", tokens);
	snprintf(dir, sizeof dir, "%s/auth", root);
	server_options ao = SERVER_OPTIONS_INIT;
	ao.auth = spec;
	if (rt_start(&auth_srv, dir, 1, &ao) == 0) {
		with_auth();
		rt_stop(&auth_srv);
	}
	curl_global_cleanup();
	test_rmtree(root);
	return test_report("test_routes_sync");
}
