/* The route table: URL shape → handler, authentication, and the JSON error format that
 * every 4xx/5xx uses: {"error":{"code":"...","message":"..."}}. */
#include <stdio.h>
#include <string.h>

#include "server_int.h"

int status_for(int code)
{
	switch (code) {
	case IDS_EINVAL: return 400;
	case IDS_ENOTFOUND: return 404;
	case IDS_ELIMIT: return 413;
	case IDS_ECONFLICT: return 409;
	case IDS_EFORBIDDEN: return 403;
	case IDS_EGONE: return 410;
	case IDS_ENOSPC: return 507;
	case IDS_EBUSY: return 503;
	case IDS_ECORRUPT: return 500;
	default: return 500;
	}
}

void resp_error_status(http_resp *resp, int status, const char *code, const char *msg)
{
	resp->status = status;
	resp->ctype = "application/json";
	resp->stream = NULL;
	resp->file = NULL;
	page_unref(resp->page);
	resp->page = NULL;
	ids_buf_reset(&resp->body);
	ids_buf_puts(&resp->body, "{\"error\":{\"code\":");
	ids_buf_json_str(&resp->body, code, strlen(code));
	ids_buf_puts(&resp->body, ",\"message\":");
	ids_buf_json_str(&resp->body, msg, strlen(msg));
	ids_buf_puts(&resp->body, "}}");
}

void resp_error(http_resp *resp, int code, const char *msg)
{
	resp_error_status(resp, status_for(code), ids_code_name(code), msg);
}

/* Matches "/v1/db/{db}/{action}" and copies db out; returns the action or NULL. */
static const char *db_route(const char *path, char *db, size_t dblen)
{
	static const char prefix[] = "/v1/db/";
	if (strncmp(path, prefix, sizeof prefix - 1))
		return NULL;
	const char *p = path + sizeof prefix - 1;
	const char *slash = strchr(p, '/');
	if (!slash || (size_t)(slash - p) >= dblen || slash == p)
		return NULL;
	memcpy(db, p, (size_t)(slash - p));
	db[slash - p] = 0;
	return slash + 1;
}

int route_slow(const char *path)
{
	static const char *const slow[] = {"flush", "query", "lake"};
	char db[512];
	const char *action = db_route(path, db, sizeof db);
	if (!strncmp(path, "/v1/admin/", 10) || !strncmp(path, "/iceberg/", 9))
		return 1; /* imports and gc; catalog reads (a metadata file can be megabytes) */
	for (size_t i = 0; action && i < sizeof slow / sizeof slow[0]; i++)
		if (!strcmp(action, slow[i]))
			return 1;
	return 0;
}

static int authenticate(server *s, http_req *req, http_resp *resp)
{
	if (!auth_enabled(s->auth))
		return 0;
	const char *h = req_header(req, "Authorization");
	const char *token = NULL;
	if (h && !strncasecmp(h, "Bearer ", 7))
		token = h + 7;
	else
		token = req_query(req, "access_token"); /* EventSource cannot set headers */
	if (!token) {
		resp_error_status(resp, 401, "unauthorized", "missing bearer token (Authorization: Bearer <token>)");
		return -1;
	}
	if (auth_check(s->auth, token, &req->user, &req->admin)) {
		resp_error_status(resp, 401, "unauthorized", "unknown or revoked token");
		return -1;
	}
	return 0;
}

static int method_is(http_req *req, const char *m) { return !strcmp(req->method, m); }

static void wrong_method(http_resp *resp, const char *allowed)
{
	char msg[96];
	snprintf(msg, sizeof msg, "method not allowed here; use %s", allowed);
	resp_error_status(resp, 405, "method_not_allowed", msg);
}

int route_dispatch(server *s, http_req *req, http_resp *resp, enum route_id *rid)
{
	const char *path = req->path;
	char db[512]; /* larger than any valid name, so an overlong one gets 400, not 404 */
	const char *action;
	if (method_is(req, "OPTIONS")) {
		resp->status = 204;
		return 0;
	}
	if (!strcmp(path, "/healthz")) {
		*rid = R_HEALTH;
		route_health(s, req, resp);
		return 0;
	}
	if (!strcmp(path, "/readyz")) {
		*rid = R_HEALTH;
		route_ready(s, req, resp);
		return 0;
	}
	if (!strcmp(path, "/metrics")) {
		*rid = R_METRICS;
		route_metrics(s, req, resp);
		return 0;
	}
	if (!strcmp(path, "/") || !strncmp(path, "/client/", 8) || !strncmp(path, "/demo/", 6)) {
		*rid = R_STATIC;
		if (!method_is(req, "GET") && !method_is(req, "HEAD"))
			wrong_method(resp, "GET");
		else
			route_static(s, req, resp);
		return 0;
	}
	char admin_path[600];
	snprintf(admin_path, sizeof admin_path, "/v1%s", strncmp(path, "/v1/admin/db/", 13) ? "" : path + 9);
	if (!strncmp(path, "/v1/admin/db/", 13) && (action = db_route(admin_path, db, sizeof db)) &&
	    !strcmp(action, "import")) {
		*rid = R_IMPORT;
		if (authenticate(s, req, resp))
			return 0;
		if (auth_enabled(s->auth) && !req->admin) {
			resp_error_status(resp, 403, "forbidden", "imports need a token marked admin in the tokens file");
			return 0;
		}
		if (!method_is(req, "POST"))
			wrong_method(resp, "POST");
		else if (!ids_db_name_valid(db))
			resp_error_status(resp, 400, "invalid", "database name must be 1-64 characters of [A-Za-z0-9_.-]");
		else
			route_import(s, req, resp, db);
		return 0;
	}
	if (!strcmp(path, "/v1/admin/gc")) {
		*rid = R_GC;
		if (authenticate(s, req, resp))
			return 0;
		if (auth_enabled(s->auth) && !req->admin) {
			resp_error_status(resp, 403, "forbidden", "admin routes need a token marked admin in the tokens file");
			return 0;
		}
		if (!method_is(req, "POST"))
			wrong_method(resp, "POST");
		else
			route_gc(s, req, resp);
		return 0;
	}
	if (!strncmp(path, "/iceberg/v1/", 12)) {
		*rid = R_ICEBERG;
		if (authenticate(s, req, resp))
			resp_iceberg_error(resp, 401, "NotAuthorizedException", "a valid bearer token is needed (Authorization: Bearer <token>)");
		else
			route_iceberg(s, req, resp, path + 12);
		return 0;
	}
	if ((action = db_route(path, db, sizeof db))) {
		if (!ids_db_name_valid(db)) {
			resp_error_status(resp, 400, "invalid",
					  "database name must be 1-64 characters of [A-Za-z0-9_.-], not starting with '.' or '_'");
			return 0;
		}
		struct {
			const char *action, *method;
			enum route_id id;
			void (*fn)(server *, http_req *, http_resp *, const char *);
		} const table[] = {
			{"push", "POST", R_PUSH, route_push},
			{"pull", "GET", R_PULL, route_pull},
			{"events", "GET", R_EVENTS, route_events},
			{"stores", "GET", R_STORES, route_stores},
			{"flush", "POST", R_FLUSH, route_flush},
			{"query", "POST", R_QUERY, route_query},
			{"lake", "GET", R_LAKE, route_lake},
		};
		for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
			if (strcmp(action, table[i].action))
				continue;
			*rid = table[i].id;
			if (!method_is(req, table[i].method)) {
				wrong_method(resp, table[i].method);
				return 0;
			}
			if (authenticate(s, req, resp))
				return 0;
			table[i].fn(s, req, resp, db);
			return 0;
		}
	}
	char msg[160];
	snprintf(msg, sizeof msg, "no route for %.8s %.100s", req->method, path);
	resp_error_status(resp, 404, "not_found", msg);
	return 0;
}
