/* Static files: the browser client at /client/ and the demo app at /. Paths are confined to
 * the static directory (no "..", no hidden files). */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "idbsync/path.h"
#include "server_int.h"

static const char *mime(const char *path)
{
	const char *dot = strrchr(path, '.');
	if (!dot) return "application/octet-stream";
	if (!strcmp(dot, ".js") || !strcmp(dot, ".mjs")) return "text/javascript; charset=utf-8";
	if (!strcmp(dot, ".html")) return "text/html; charset=utf-8";
	if (!strcmp(dot, ".css")) return "text/css; charset=utf-8";
	if (!strcmp(dot, ".json")) return "application/json";
	if (!strcmp(dot, ".svg")) return "image/svg+xml";
	if (!strcmp(dot, ".png")) return "image/png";
	if (!strcmp(dot, ".ts")) return "text/plain; charset=utf-8";
	return "application/octet-stream";
}

void route_static(server *s, http_req *req, http_resp *resp)
{
	if (!s->o.static_dir) {
		resp_error_status(resp, 404, "not_found", "no static directory configured (--static DIR)");
		return;
	}
	const char *rel = req->path;
	if (!strcmp(rel, "/"))
		rel = "/demo/index.html";
	if (strstr(rel, "/.") || strstr(rel, "..") || strlen(rel) > 512) {
		resp_error_status(resp, 404, "not_found", "file not found");
		return;
	}
	char *path = resp->file_path;   /* the response outlives this call until it is sent */
	if (ids_path(path, sizeof resp->file_path, NULL, "%s%s", s->o.static_dir, rel)) {
		resp_error_status(resp, 404, "not_found", "file not found");
		return;
	}
	struct stat stt;
	if (stat(path, &stt) || !S_ISREG(stt.st_mode)) {
		resp_error_status(resp, 404, "not_found", "file not found");
		return;
	}
	resp->file = path;
	resp->file_bytes = (long long)stt.st_size;   /* for the request log, written before the send */
	resp->ctype = mime(path);
	resp->status = 200;
}
