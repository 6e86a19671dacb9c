/* Unit tests for the other route handlers (route_admin.c, route_query.c, route_import.c,
 * static.c and the route table) over a thin in-process server whose lake is a fake behind
 * server_hooks: /healthz, /readyz, /metrics, flush, lake, GC, analytics queries, the import
 * upload, static files, CORS preflights, unknown routes and the Iceberg catalog's read side; each route's success and each
 * 4xx docs/protocol.md gives it, with and without authentication and without a lake. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pq_write_test.h"
#include "route_test.h"

static char root[256];
static rt_server full;   /* fake lake hooks, static files, uploads; auth off */
static rt_server bare;   /* no hooks, no static dir, no spool dir */
static rt_server authd;  /* tokens; lake statistics only */

/* The lake behind the hooks: what the server asked of it, and its answers. */
static struct {
	int unhealthy;
	int flushes;
	int64_t upto;
} lake;

static int fake_flush(void *ctx, const char *db, int64_t upto, ids_error *err)
{
	if (!strcmp(db, "held"))
		return ids_fail(err, IDS_EIO, "table held.orders is held: disk error");
	if (!strcmp(db, "slow"))
		return ids_fail(err, IDS_EBUSY, "the lake did not catch up within 60 s");
	lake.flushes++;
	lake.upto = upto;
	return 0;
}

static void fake_metrics(void *ctx, ids_buf *out) { ids_buf_puts(out, "idbsync_fake_lake_metric 7\n"); }

static int fake_stats(void *ctx, const char *db, ids_buf *out, ids_error *err)
{
	if (!strcmp(db, "broken"))
		return ids_fail(err, IDS_EIO, "cannot list the lake of broken");
	ids_buf_printf(out, "{\"tables\":[],\"flushed\":%lld}", (long long)lake.upto);
	return 0;
}

static int fake_health(void *ctx, ids_buf *out)
{
	ids_buf_puts(out, lake.unhealthy ? "{\"held\":[\"shop.orders\"]}" : "{\"held\":[]}");
	return lake.unhealthy;
}

/* The lake's Iceberg catalog: namespace shop with tables orders and orders_changes. */
static int fake_iceberg(void *ctx, const char *ns, const char *table, ids_buf *loc, ids_buf *out, ids_error *err)
{
	if (!ns) {
		ids_buf_puts(out, "crm\nshop\n");
		return 0;
	}
	if (strcmp(ns, "shop"))
		return ids_fail(err, IDS_ENOTFOUND, "no namespace %s", ns);
	if (!table) {
		ids_buf_puts(out, "orders\norders_changes\n");
		return 0;
	}
	if (strcmp(table, "orders"))
		return ids_fail(err, IDS_ENOTFOUND, "no table %s.%s", ns, table);
	ids_buf_puts(loc, "file:///lake/_iceberg/shop/orders/metadata/v3.metadata.json");
	ids_buf_puts(out, "{\"format-version\":2}");
	return 0;
}

/* The lake's credential vending (lake_iceberg_vend): its members of a LoadTableResult, or
 * none (vend_off: the option is off). */
static int vend_off;
static int fake_vend(void *ctx, ids_buf *out, ids_error *err)
{
	(void)ctx;
	if (vend_off)
		return ids_fail(err, IDS_ENOTFOUND, "the lake vends no credentials");
	ids_buf_puts(out, "\"config\":{\"s3.access-key-id\":\"AK\"}");
	return 0;
}

static void iceberg_catalog(void)
{
	rt_resp r = {0};
	rt_get(&r, &full, "/iceberg/v1/config", NULL);
	CHECK_OK(&r, 200, "{\"defaults\":{},\"overrides\":{},\"endpoints\":[\"GET /v1/{prefix}/namespaces\",");
	rt_get(&r, &full, "/iceberg/v1/namespaces", NULL);
	CHECK_OK(&r, 200, "{\"namespaces\":[[\"crm\"],[\"shop\"]]}");
	rt_get(&r, &full, "/iceberg/v1/namespaces?parent=shop", NULL);
	CHECK_OK(&r, 200, "{\"namespaces\":[]}");
	rt_get(&r, &full, "/iceberg/v1/namespaces/shop", NULL);
	CHECK_OK(&r, 200, "{\"namespace\":[\"shop\"],\"properties\":{}}");
	rt_get(&r, &full, "/iceberg/v1/namespaces/shop/tables", NULL);
	CHECK_OK(&r, 200, "{\"identifiers\":[{\"namespace\":[\"shop\"],\"name\":\"orders\"},"
			  "{\"namespace\":[\"shop\"],\"name\":\"orders_changes\"}]}");
	/* pages (the spec's pageSize and pageToken): the token is the page's last name in base64 */
	rt_get(&r, &full, "/iceberg/v1/namespaces?pageToken=&pageSize=1", NULL);
	CHECK_OK(&r, 200, "{\"namespaces\":[[\"crm\"]],\"next-page-token\":\"Y3Jt\"}");
	rt_get(&r, &full, "/iceberg/v1/namespaces?pageToken=Y3Jt&pageSize=1", NULL);
	CHECK_OK(&r, 200, "{\"namespaces\":[[\"shop\"]],\"next-page-token\":null}");   /* the last page */
	rt_get(&r, &full, "/iceberg/v1/namespaces?pageToken=c2hvcA%3D%3D&pageSize=1", NULL);   /* after "shop" */
	CHECK_OK(&r, 200, "{\"namespaces\":[],\"next-page-token\":null}");
	rt_get(&r, &full, "/iceberg/v1/namespaces/shop/tables?pageSize=2", NULL);
	CHECK_OK(&r, 200, "{\"identifiers\":[{\"namespace\":[\"shop\"],\"name\":\"orders\"},"
			  "{\"namespace\":[\"shop\"],\"name\":\"orders_changes\"}],\"next-page-token\":null}");
	rt_get(&r, &full, "/iceberg/v1/namespaces/shop/tables?pageToken=b3JkZXJz", NULL);   /* no pageSize: the rest */
	CHECK_OK(&r, 200, "{\"identifiers\":[{\"namespace\":[\"shop\"],\"name\":\"orders_changes\"}]}");
	/* what this catalog never sends: not base64, a name with a slash, unpadded; a size below 1
	 * or not a whole number */
	const char *bad[][2] = {{"pageToken=%21%21", "pageToken"}, {"pageToken=YS9i", "pageToken"},
				{"pageToken=Y3J", "pageToken"},     {"pageSize=0", "pageSize"},
				{"pageSize=-1", "pageSize"},        {"pageSize=2x", "pageSize"},
				{"pageSize=", "pageSize"},          {"pageToken=&pageSize=1.5", "pageSize"}};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char url[100], want[100];
		snprintf(url, sizeof url, "/iceberg/v1/namespaces/shop/tables?%s", bad[i][0]);
		rt_get(&r, &full, url, NULL);
		CHECK_OK(&r, 400, "\"type\":\"BadRequestException\",\"code\":400}}");
		snprintf(want, sizeof want, "{\"error\":{\"message\":\"%s ", bad[i][1]);
		CHECK_OK(&r, 400, want);
	}
	rt_get(&r, &full, "/iceberg/v1/namespaces/shop/tables/orders", NULL);
	CHECK_OK(&r, 200, "{\"metadata-location\":\"file:///lake/_iceberg/shop/orders/metadata/v3.metadata.json\","
			  "\"metadata\":{\"format-version\":2},\"config\":{}}");
	rt_call(&r, &full, "HEAD", "/iceberg/v1/namespaces/shop/tables/orders", NULL, 0, NULL);
	CHECK_EQ_INT(r.status, 204);
	rt_get(&r, &full, "/iceberg/v1/namespaces/shop/tables/nope", NULL);
	CHECK_OK(&r, 404, "{\"error\":{\"message\":\"no table shop.nope\",\"type\":\"NoSuchTableException\",\"code\":404}}");
	rt_get(&r, &full, "/iceberg/v1/namespaces/other/tables", NULL);
	CHECK_OK(&r, 404, "\"type\":\"NoSuchNamespaceException\",\"code\":404}}");
	rt_get(&r, &full, "/iceberg/v1/namespaces/.x/tables", NULL);
	CHECK_OK(&r, 404, "\"type\":\"NoSuchNamespaceException\"");
	rt_get(&r, &full, "/iceberg/v1/tables", NULL);
	CHECK_OK(&r, 404, "\"type\":\"NotFoundException\"");
	rt_call(&r, &full, "POST", "/iceberg/v1/namespaces", "{\"namespace\":[\"x\"]}", 19, NULL);
	CHECK_OK(&r, 405, "\"type\":\"NotAllowedException\",\"code\":405}}");
	rt_call(&r, &full, "DELETE", "/iceberg/v1/namespaces/shop/tables/orders", NULL, 0, NULL);
	CHECK_OK(&r, 405, "read-only");
	/* no lake: 404; with tokens: 401 without one, 403 for a user's, 200 for an admin's */
	rt_get(&r, &bare, "/iceberg/v1/namespaces", NULL);
	CHECK_OK(&r, 404, "\"type\":\"NotFoundException\"");
	rt_get(&r, &authd, "/iceberg/v1/config", NULL);
	CHECK_OK(&r, 401, "\"type\":\"NotAuthorizedException\",\"code\":401}}");
	rt_get(&r, &authd, "/iceberg/v1/namespaces", "ta");
	CHECK_OK(&r, 403, "\"type\":\"ForbiddenException\",\"code\":403}}");
	rt_get(&r, &authd, "/iceberg/v1/namespaces", "tadm");
	CHECK_OK(&r, 200, "{\"namespaces\":[[\"crm\"],[\"shop\"]]}");
	/* vended credentials: only to an admin that asks (the header's list may hold more), and
	 * only when the lake vends */
	const char *ask[] = {"Authorization: Bearer tadm", "X-Iceberg-Access-Delegation: remote-signing, vended-credentials",
			     NULL};
	const char *vended = "{\"metadata-location\":\"file:///lake/_iceberg/shop/orders/metadata/v3.metadata.json\","
			     "\"metadata\":{\"format-version\":2},\"config\":{\"s3.access-key-id\":\"AK\"}}";
	const char *none = "\"metadata\":{\"format-version\":2},\"config\":{}}";
	rt_call(&r, &authd, "GET", "/iceberg/v1/namespaces/shop/tables/orders", NULL, 0, ask);
	CHECK_OK(&r, 200, vended);
	CHECK_EQ_INT((long)r.body.len, (long)strlen(vended));
	rt_get(&r, &authd, "/iceberg/v1/namespaces/shop/tables/orders", "tadm");   /* not asked */
	CHECK_OK(&r, 200, "\"metadata-location\"");
	CHECK_HAS(r.body.data, none);
	const char *other[] = {"Authorization: Bearer tadm", "X-Iceberg-Access-Delegation: vended-credentialsX", NULL};
	rt_call(&r, &authd, "GET", "/iceberg/v1/namespaces/shop/tables/orders", NULL, 0, other);
	CHECK_HAS(r.body.data, none);
	const char *user[] = {"Authorization: Bearer ta", "X-Iceberg-Access-Delegation: vended-credentials", NULL};
	rt_call(&r, &authd, "GET", "/iceberg/v1/namespaces/shop/tables/orders", NULL, 0, user);
	CHECK_OK(&r, 403, "\"type\":\"ForbiddenException\"");
	CHECK(!strstr(r.body.data, "s3."));
	vend_off = 1;   /* the lake vends none: the option off */
	rt_call(&r, &authd, "GET", "/iceberg/v1/namespaces/shop/tables/orders", NULL, 0, ask);
	CHECK_OK(&r, 200, "\"metadata-location\"");
	CHECK_HAS(r.body.data, none);
	vend_off = 0;
	ids_buf_free(&r.body);
}

static void health_ready_metrics(void)
{
	rt_resp r = {0};
	rt_get(&r, &full, "/healthz", NULL);
	CHECK_OK(&r, 200, "{\"ok\":true,\"head\":0,\"epoch\":\"");
	rt_get(&r, &full, "/readyz", NULL);
	CHECK_OK(&r, 200, "{\"head\":0,\"lake\":{\"held\":[]},\"ready\":true}");
	lake.unhealthy = 1;
	rt_get(&r, &full, "/readyz", NULL);
	CHECK_OK(&r, 503, "{\"head\":0,\"lake\":{\"held\":[\"shop.orders\"]},\"ready\":false}");
	lake.unhealthy = 0;
	rt_get(&r, &bare, "/readyz", NULL);
	CHECK_OK(&r, 200, "\"lake\":null,\"ready\":true}");
	rt_get(&r, &full, "/metrics", NULL);
	CHECK_OK(&r, 200, "idbsync_http_requests_total{route=\"healthz\",code=\"2xx\"} 2\n");
	CHECK_HAS(r.body.data, "idbsync_http_requests_total{route=\"healthz\",code=\"5xx\"} 1\n");
	CHECK_HAS(r.body.data, "idbsync_head_seq 0\n");
	CHECK_HAS(r.body.data, "idbsync_fake_lake_metric 7\n");
	CHECK_HAS(r.ctype, "text/plain");
	/* CORS preflight, unknown routes and actions */
	rt_call(&r, &full, "OPTIONS", "/v1/db/shop/push", NULL, 0, NULL);
	CHECK_EQ_INT(r.status, 204);
	rt_get(&r, &full, "/nope", NULL);
	CHECK_ERROR(&r, 404, "not_found", "no route for GET /nope");
	rt_get(&r, &full, "/v1/db/shop/frobnicate", NULL);
	CHECK_ERROR(&r, 404, "not_found", "no route for GET /v1/db/shop/frobnicate");
	ids_buf_free(&r.body);
}

static void flush_and_lake(void)
{
	rt_resp r = {0};
	rt_post(&r, &full, "/v1/db/shop/push",
		"{\"client\":\"f\",\"mutations\":[{\"id\":1,\"store\":\"s\",\"op\":\"put\",\"key\":1,\"value\":1}]}", NULL);
	CHECK_EQ_INT(r.status, 200);
	rt_post(&r, &full, "/v1/db/shop/flush", NULL, NULL);
	CHECK_OK(&r, 200, "{\"flushed\":1}");
	CHECK_EQ_INT(lake.flushes, 1);
	CHECK_EQ_INT(lake.upto, 1); /* the lake is asked for everything acked before the call */
	rt_post(&r, &full, "/v1/db/held/flush", NULL, NULL);
	CHECK_ERROR(&r, 500, "io", "table held.orders is held");
	rt_post(&r, &full, "/v1/db/slow/flush", NULL, NULL);
	CHECK_ERROR(&r, 503, "busy", "did not catch up");
	rt_get(&r, &full, "/v1/db/shop/flush", NULL);
	CHECK_ERROR(&r, 405, "method_not_allowed", "use POST");
	rt_post(&r, &bare, "/v1/db/shop/flush", NULL, NULL);
	CHECK_ERROR(&r, 404, "not_found", "the lake writer is not enabled");

	rt_get(&r, &full, "/v1/db/shop/lake", NULL);
	CHECK_OK(&r, 200, "{\"tables\":[],\"flushed\":1}");
	rt_get(&r, &full, "/v1/db/broken/lake", NULL);
	CHECK_ERROR(&r, 500, "io", "cannot list the lake of broken");
	rt_post(&r, &full, "/v1/db/shop/lake", "{}", NULL);
	CHECK_ERROR(&r, 405, "method_not_allowed", "use GET");
	rt_get(&r, &bare, "/v1/db/shop/lake", NULL);
	CHECK_ERROR(&r, 404, "not_found", "the lake writer is not enabled");
	rt_get(&r, &authd, "/v1/db/shop/lake", "ta");
	CHECK_ERROR(&r, 403, "forbidden", "need an admin token");
	rt_get(&r, &authd, "/v1/db/shop/lake", "tadm");
	CHECK_OK(&r, 200, "{\"tables\":[]");
	rt_get(&r, &authd, "/v1/db/shop/lake", NULL);
	CHECK_ERROR(&r, 401, "unauthorized", "missing bearer token");
	ids_buf_free(&r.body);
}

static void gc(void)
{
	rt_resp r = {0};
	rt_post(&r, &full, "/v1/admin/gc", NULL, NULL);
	CHECK_OK(&r, 200, "{\"collected\":0}");
	rt_get(&r, &full, "/v1/admin/gc", NULL);
	CHECK_ERROR(&r, 405, "method_not_allowed", "use POST");
	rt_post(&r, &authd, "/v1/admin/gc", NULL, NULL);
	CHECK_ERROR(&r, 401, "unauthorized", "missing bearer token");
	rt_post(&r, &authd, "/v1/admin/gc", NULL, "ta");
	CHECK_ERROR(&r, 403, "forbidden", "admin routes need a token marked admin");
	rt_post(&r, &authd, "/v1/admin/gc", NULL, "tadm");
	CHECK_OK(&r, 200, "{\"collected\":0}");
	ids_buf_free(&r.body);
}

static void query(void)
{
	rt_resp r = {0};
	rt_post(&r, &full, "/v1/db/q/push",
		"{\"client\":\"q\",\"mutations\":[{\"id\":1,\"store\":\"orders\",\"op\":\"put\",\"key\":1,"
		"\"value\":{\"item\":\"tea\",\"n\":3}},{\"id\":2,\"store\":\"orders\",\"op\":\"put\",\"key\":2,"
		"\"value\":{\"item\":\"cake\",\"n\":1}}]}", NULL);
	CHECK_EQ_INT(r.status, 200);
	rt_post(&r, &full, "/v1/db/q/query", "{\"sql\":\"SELECT item, n FROM orders WHERE n > ? ORDER BY n DESC\",\"params\":[0]}", NULL);
	CHECK_OK(&r, 200, "{\"columns\":[\"item\",\"n\"],\"rows\":[[\"tea\",3],[\"cake\",1]],\"truncated\":false}");
	/* --query-max-rows: more rows are cut and say so */
	rt_post(&r, &full, "/v1/db/q/query",
		"{\"sql\":\"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 60) SELECT x FROM c\"}", NULL);
	CHECK_OK(&r, 200, "[49],[50]],\"truncated\":true}");
	rt_post(&r, &full, "/v1/db/q/query", "{\"describe\":\"orders\"}", NULL);
	CHECK_OK(&r, 200, "{\"store\":\"orders\",\"columns\":[{\"name\":\"_key\",\"type\":\"json\"},");
	CHECK_HAS(r.body.data, "{\"name\":\"item\",\"type\":\"text\"}");
	rt_post(&r, &full, "/v1/db/q/query", "{\"describe\":\"nothing\"}", NULL);
	CHECK_ERROR(&r, 404, "not_found", "nothing");
	rt_post(&r, &full, "/v1/db/q/query", "{\"describe\":3}", NULL);
	CHECK_ERROR(&r, 400, "invalid", "describe: the name of a store");
	rt_post(&r, &full, "/v1/db/q/query", "[1]", NULL);
	CHECK_ERROR(&r, 400, "invalid", "body must be a JSON object");
	rt_post(&r, &full, "/v1/db/q/query", "{\"sql\":1}", NULL);
	CHECK_ERROR(&r, 400, "invalid", "sql: required, a string");
	rt_post(&r, &full, "/v1/db/q/query", "{\"sql\":\"DELETE FROM orders\"}", NULL);
	CHECK_ERROR(&r, 400, "invalid", "");
	rt_get(&r, &full, "/v1/db/q/query", NULL);
	CHECK_ERROR(&r, 405, "method_not_allowed", "use POST");
	/* a query that never ends on its own: stopped by --query-timeout, 422 */
	rt_post(&r, &full, "/v1/db/q/query",
		"{\"sql\":\"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c\"}", NULL);
	CHECK_ERROR(&r, 422, "timeout", "");
	ids_buf_free(&r.body);
}

static char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	char *p = malloc(1 << 20);
	*n = f && p ? fread(p, 1, 1 << 20, f) : 0;
	if (f)
		fclose(f);
	return p;
}

static long upload(rt_resp *r, const rt_server *s, const char *path, const char *body, size_t n, const char *token,
		   const char *files_header)
{
	char auth[300];
	snprintf(auth, sizeof auth, "Authorization: Bearer %s", token ? token : "");
	const char *h[] = {"Content-Type: application/octet-stream", files_header ? files_header : "X-None: 1",
			   token ? auth : NULL, NULL};
	return rt_call(r, s, "POST", path, body, n, h);
}

static void import(void)
{
	rt_resp r = {0};
	char path[512];
	size_t n, nk;
	snprintf(path, sizeof path, "%s/items.parquet", root);
	write_parquet_file(path, "{\"fields\":[{\"name\":\"id\",\"type\":\"int64\"},{\"name\":\"name\",\"type\":\"string\"}]}",
			   "{\"id\":1,\"name\":\"tea\"}\n{\"id\":2,\"name\":\"cake\"}\n{\"id\":1,\"name\":\"green tea\"}\n", NULL);
	char *pq = slurp(path, &n);
	snprintf(path, sizeof path, "%s/nokey.parquet", root);
	write_parquet_file(path, "{\"fields\":[{\"name\":\"sku\",\"type\":\"string\"}]}", "{\"sku\":\"a\"}\n", NULL);
	char *nokey = slurp(path, &nk);

	upload(&r, &full, "/v1/admin/db/shop/import?store=items&client=up1", pq, n, NULL, NULL);
	CHECK_OK(&r, 200, "{\"files\":1,\"rows\":3,\"puts\":3,\"deletes\":0,\"replaced\":0,\"duplicates\":0,\"conflicts\":0,"
		 "\"keys\":2,\"duplicate_keys\":1,\"first_duplicate\":\"key 1: the upload row 3\",\"cursor\":");
	rt_get(&r, &full, "/v1/db/shop/pull", NULL);
	CHECK_HAS(r.body.data, "\"store\":\"items\",\"op\":\"put\",\"key\":1,\"value\":{\"id\":1,\"name\":\"green tea\"}");
	/* progress=1: NDJSON, the last line the result */
	upload(&r, &full, "/v1/admin/db/shop/import?store=items2&progress=1", pq, n, NULL, NULL);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_STR(r.ctype, "application/x-ndjson");
	CHECK_HAS(r.body.data, "{\"result\":{\"files\":1,\"rows\":3,");

	/* 400s: the query parameters, input that is not Parquet (named as the caller names it),
	 * a missing key column listing the file's columns */
	upload(&r, &full, "/v1/admin/db/shop/import", pq, n, NULL, NULL);
	CHECK_ERROR(&r, 400, "invalid", "query parameter store");
	upload(&r, &full, "/v1/admin/db/shop/import?store=items&mode=merge", pq, n, NULL, NULL);
	CHECK_ERROR(&r, 400, "invalid", "mode must be upsert or replace");
	upload(&r, &full, "/v1/admin/db/shop/import?store=items&client=a%20b", pq, n, NULL, NULL);
	CHECK_ERROR(&r, 400, "invalid", "query parameter client");
	upload(&r, &full, "/v1/admin/db/shop/import?store=items", "not parquet at all", 18, NULL, NULL);
	CHECK_ERROR(&r, 400, "invalid", "the upload");
	upload(&r, &full, "/v1/admin/db/shop/import?store=items", "not parquet at all", 18, NULL,
	       "X-Idbsync-Files: [\"mine.parquet\"]");
	CHECK_ERROR(&r, 400, "invalid", "mine.parquet");
	CHECK(!strstr(r.body.data, root));
	upload(&r, &full, "/v1/admin/db/shop/import?store=items", nokey, nk, NULL, NULL);
	CHECK_ERROR(&r, 400, "invalid", "no column \\\"id\\\" to take the key from; the file has the columns sku");
	upload(&r, &full, "/v1/admin/db/_bad/import?store=items", pq, n, NULL, NULL);
	CHECK_ERROR(&r, 400, "invalid", "database name");
	rt_get(&r, &full, "/v1/admin/db/shop/import?store=items", NULL);
	CHECK_ERROR(&r, 405, "method_not_allowed", "use POST");
	/* without a spool directory, with tokens */
	upload(&r, &bare, "/v1/admin/db/shop/import?store=items", pq, n, NULL, NULL);
	CHECK_ERROR(&r, 400, "invalid", "imports need the server's --data directory");
	upload(&r, &authd, "/v1/admin/db/shop/import?store=items", pq, n, NULL, NULL);
	CHECK_ERROR(&r, 401, "unauthorized", "missing bearer token");
	upload(&r, &authd, "/v1/admin/db/shop/import?store=items", pq, n, "ta", NULL);
	CHECK_ERROR(&r, 403, "forbidden", "imports need a token marked admin");
	free(pq);
	free(nokey);
	ids_buf_free(&r.body);
}

static void static_files(void)
{
	rt_resp r = {0};
	rt_get(&r, &full, "/client/x.js", NULL);
	CHECK_OK(&r, 200, "export const x = 1;\n");
	CHECK_EQ_STR(r.ctype, "text/javascript; charset=utf-8");
	rt_get(&r, &full, "/", NULL);
	CHECK_OK(&r, 200, "<title>demo</title>");
	rt_call(&r, &full, "HEAD", "/client/x.js", NULL, 0, NULL);
	CHECK_EQ_INT(r.status, 200);
	rt_get(&r, &full, "/client/.secret", NULL);
	CHECK_ERROR(&r, 404, "not_found", "file not found");
	rt_get(&r, &full, "/client/missing.js", NULL);
	CHECK_ERROR(&r, 404, "not_found", "file not found");
	rt_post(&r, &full, "/client/x.js", "{}", NULL);
	CHECK_ERROR(&r, 405, "method_not_allowed", "use GET");
	rt_get(&r, &bare, "/client/x.js", NULL);
	CHECK_ERROR(&r, 404, "not_found", "no static directory configured");
	ids_buf_free(&r.body);
}

static void put_file(const char *rel, const char *text)
{
	char p[600];
	snprintf(p, sizeof p, "%s/%s", root, rel);
	FILE *f = fopen(p, "w");
	if (!f || fputs(text, f) < 0)
		TEST_FAIL("cannot write %s", p);
	if (f)
		fclose(f);
}

int main(void)
{
	if (test_mkdtemp(root, sizeof root, "ids_test_routes_admin"))
		return 1;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	char dir[512], spool[512], stat_dir[512], spec[600];
	const char *mk[] = {"static", "static/client", "static/demo", "spool"};
	for (size_t i = 0; i < 4; i++) {
		snprintf(dir, sizeof dir, "%s/%s", root, mk[i]);
		mkdir(dir, 0700);
	}
	put_file("static/client/x.js", "export const x = 1;\n");
	put_file("static/client/.secret", "no\n");
	put_file("static/demo/index.html", "<!doctype html><title>demo</title>\n");
	put_file("tokens", "ta alice\ntadm root admin\n");
	snprintf(spool, sizeof spool, "%s/spool", root);
	snprintf(stat_dir, sizeof stat_dir, "%s/static", root);
	snprintf(spec, sizeof spec, "tokens:%s/tokens", root);

	server_options o = SERVER_OPTIONS_INIT;
	o.hooks = (server_hooks){NULL, fake_flush, fake_metrics, fake_stats, fake_health, fake_iceberg, fake_vend};
	o.static_dir = stat_dir;
	o.spool_dir = spool;
	o.query_timeout_ms = 2000;
	o.query_max_rows = 50;
	server_options b = SERVER_OPTIONS_INIT;
	server_options a = SERVER_OPTIONS_INIT;
	a.auth = spec;
	a.hooks.lake_stats = fake_stats;
	a.hooks.iceberg = fake_iceberg;
	a.hooks.iceberg_vend = fake_vend;
	snprintf(dir, sizeof dir, "%s/full", root);
	int ok = rt_start(&full, dir, 0, &o) == 0;
	snprintf(dir, sizeof dir, "%s/bare", root);
	ok = ok && rt_start(&bare, dir, 0, &b) == 0;
	snprintf(dir, sizeof dir, "%s/auth", root);
	ok = ok && rt_start(&authd, dir, 1, &a) == 0;
	if (ok) {
		health_ready_metrics();
		flush_and_lake();
		gc();
		query();
		import();
		static_files();
		iceberg_catalog();
	}
	rt_stop(&authd);
	rt_stop(&bare);
	rt_stop(&full);
	curl_global_cleanup();
	test_rmtree(root);
	return test_report("test_routes_admin");
}
