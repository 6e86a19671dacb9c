/* The read side of an Apache Iceberg REST catalog at /iceberg/v1/ (the open REST catalog spec,
 * apache/iceberg open-api/rest-catalog-open-api.yaml): config, namespaces (one per database),
 * tables, load table. The tables and their committed metadata come from the lake through
 * server_hooks.iceberg; every write answers 405. Errors use the spec's shape,
 * {"error":{"message","type","code"}}. The catalog covers every user's rows: with
 * authentication on it needs an admin token. docs/iceberg.md, "The served catalog". */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "idbsync/log.h"
#include "server_int.h"

void resp_iceberg_error(http_resp *resp, int status, const char *type, const char *msg)
{
	resp->status = status;
	resp->ctype = "application/json";
	ids_buf_reset(&resp->body);
	ids_buf_puts(&resp->body, "{\"error\":{\"message\":");
	ids_buf_json_str(&resp->body, msg, strlen(msg));
	ids_buf_puts(&resp->body, ",\"type\":");
	ids_buf_json_str(&resp->body, type, strlen(type));
	ids_buf_printf(&resp->body, ",\"code\":%d}}", status);
}

/* The header asks for vended credentials: X-Iceberg-Access-Delegation is a comma-separated
 * list of "vended-credentials" and "remote-signing" (the spec). */
static int wants_vended(http_req *req)
{
	const char *h = req_header(req, "X-Iceberg-Access-Delegation");
	static const char want[] = "vended-credentials";
	for (const char *p = h; p && *p;) {
		p += strspn(p, " \t,");
		size_t n = strcspn(p, ",");
		size_t m = n;
		while (m && (p[m - 1] == ' ' || p[m - 1] == '\t'))
			m--;
		if (m == sizeof want - 1 && !strncasecmp(p, want, m))
			return 1;
		p += n;
	}
	return 0;
}

static void ice_fail(http_resp *resp, int code, const char *what, const ids_error *err)
{
	if (code == IDS_ENOTFOUND)
		resp_iceberg_error(resp, 404, what, err->msg);
	else
		resp_iceberg_error(resp, status_for(code), "ServerErrorException", err->msg);
}

/* The endpoints this catalog answers (ConfigResponse "endpoints": clients call no others). They
 * are written as the spec's path templates, "{prefix}" included although this catalog has no
 * prefix: Iceberg's Java client (Trino, Spark) compares them as strings with its own templates
 * and refuses a call whose template is not listed ("Server does not support endpoint"). */
static const char *const endpoints[] = {
	"GET /v1/{prefix}/namespaces",
	"GET /v1/{prefix}/namespaces/{namespace}",
	"HEAD /v1/{prefix}/namespaces/{namespace}",
	"GET /v1/{prefix}/namespaces/{namespace}/tables",
	"GET /v1/{prefix}/namespaces/{namespace}/tables/{table}",
	"HEAD /v1/{prefix}/namespaces/{namespace}/tables/{table}",
};

static void config(http_resp *resp)
{
	ids_buf *o = &resp->body;
	ids_buf_puts(o, "{\"defaults\":{},\"overrides\":{},\"endpoints\":[");
	for (size_t i = 0; i < sizeof endpoints / sizeof endpoints[0]; i++) {
		if (i)
			ids_buf_putc(o, ',');
		ids_buf_json_str(o, endpoints[i], strlen(endpoints[i]));
	}
	ids_buf_puts(o, "]}");
	resp->status = 200;
}

/* Splits "namespaces[/{ns}[/tables[/{table}]]]" (after /iceberg/v1/); returns the depth
 * (1: namespaces, 2: one namespace, 3: its tables, 4: one table) or 0 for another path. */
static int parse(const char *p, char *ns, size_t nsl, char *tbl, size_t tl)
{
	static const char pre[] = "namespaces";
	if (strncmp(p, pre, sizeof pre - 1))
		return 0;
	p += sizeof pre - 1;
	if (!*p)
		return 1;
	if (*p++ != '/')
		return 0;
	const char *e = strchr(p, '/');
	size_t n = e ? (size_t)(e - p) : strlen(p);
	if (!n || n >= nsl)
		return 0;
	memcpy(ns, p, n);
	ns[n] = 0;
	if (!e)
		return 2;
	if (strncmp(e, "/tables", 7))
		return 0;
	p = e + 7;
	if (!*p)
		return 3;
	if (*p++ != '/' || !*p || strchr(p, '/') || strlen(p) >= tl)
		return 0;
	strcpy(tbl, p);
	return 4;
}

void route_iceberg(server *s, http_req *req, http_resp *resp, const char *sub)
{
	int get = !strcmp(req->method, "GET"), head = !strcmp(req->method, "HEAD");
	if (!s->o.hooks.iceberg) {
		resp_iceberg_error(resp, 404, "NotFoundException", "the lake writer is not enabled on this server");
		return;
	}
	/* the tables hold every user's rows: with authentication on, only for admin tokens */
	if (req->user[0] && !req->admin) {
		resp_iceberg_error(resp, 403, "ForbiddenException",
			  "the Iceberg catalog covers every user's rows: it needs a token marked admin in the tokens file");
		return;
	}
	char ns[512], tbl[512];
	int depth = !strcmp(sub, "config") ? -1 : parse(sub, ns, sizeof ns, tbl, sizeof tbl);
	if (!depth) {
		char msg[200];
		snprintf(msg, sizeof msg, "no Iceberg catalog route %.8s /iceberg/v1/%.100s", req->method, sub);
		resp_iceberg_error(resp, 404, "NotFoundException", msg);
		return;
	}
	if (!get && !(head && (depth == 2 || depth == 4))) {
		resp_iceberg_error(resp, 405, "NotAllowedException",
			  "this Iceberg catalog is read-only: idbsync's lake writer commits the tables");
		return;
	}
	if (depth == -1) {
		config(resp);
		return;
	}
	ids_error err = IDS_ERROR_INIT;
	ids_buf loc = IDS_BUF_INIT, out = IDS_BUF_INIT;
	int rc;
	/* a table in a namespace that cannot exist is a missing table: Spark looks up the metadata
	 * table db.t.snapshots as table "snapshots" in namespace db.t first, and goes on to the
	 * metadata table only on NoSuchTableException */
	if (depth >= 2 && !ids_db_name_valid(ns)) {
		snprintf(err.msg, sizeof err.msg, "no namespace %.100s", ns);
		resp_iceberg_error(resp, 404, depth == 4 ? "NoSuchTableException" : "NoSuchNamespaceException", err.msg);
		return;
	}
	/* a parent namespace: there are none below the databases */
	if (depth == 1 && req_query(req, "parent")) {
		ids_buf_puts(&resp->body, "{\"namespaces\":[]}");
		resp->status = 200;
		return;
	}
	rc = s->o.hooks.iceberg(s->o.hooks.ctx, depth >= 2 ? ns : NULL, depth == 4 ? tbl : NULL, &loc, &out, &err);
	if (rc) {
		ice_fail(resp, rc, depth == 4 ? "NoSuchTableException" : "NoSuchNamespaceException", &err);
		goto done;
	}
	ids_buf *o = &resp->body;
	resp->status = 200;
	if (head) {
		resp->status = 204;
	} else if (depth == 2) {
		ids_buf_puts(o, "{\"namespace\":[");
		ids_buf_json_str(o, ns, strlen(ns));
		ids_buf_puts(o, "],\"properties\":{}}");
	} else if (depth == 1 || depth == 3) {
		/* names one a line: {"namespaces":[["a"],..]} or {"identifiers":[{"namespace":["a"],"name":"t"},..]} */
		ids_buf_puts(o, depth == 1 ? "{\"namespaces\":[" : "{\"identifiers\":[");
		const char *p = out.data, *end = out.data + out.len;
		for (int first = 1; p && p < end; first = 0) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
			if (!first)
				ids_buf_putc(o, ',');
			if (depth == 1) {
				ids_buf_putc(o, '[');
				ids_buf_json_str(o, p, n);
				ids_buf_putc(o, ']');
			} else {
				ids_buf_puts(o, "{\"namespace\":[");
				ids_buf_json_str(o, ns, strlen(ns));
				ids_buf_puts(o, "],\"name\":");
				ids_buf_json_str(o, p, n);
				ids_buf_putc(o, '}');
			}
			p = nl ? nl + 1 : end;
		}
		ids_buf_puts(o, "]}");
	} else {
		ids_buf_puts(o, "{\"metadata-location\":");
		ids_buf_json_str(o, loc.data, loc.len);
		ids_buf_puts(o, ",\"metadata\":");
		ids_buf_append(o, out.data, out.len);
		/* vended credentials: only asked for, only when the lake vends (the operator's
		 * --iceberg-vend-credentials), only to a caller that got this far (an admin token
		 * with --auth tokens; `idbsync serve` refuses the option with --auth none) */
		size_t mark = o->len;
		ids_buf_putc(o, ',');
		if (wants_vended(req) && s->o.hooks.iceberg_vend && !s->o.hooks.iceberg_vend(s->o.hooks.ctx, o, &err)) {
			ids_logf(IDS_LOG_INFO, "iceberg_vend", "S3 credentials vended for %s.%s to %s", ns, tbl,
				 req->user[0] ? req->user : "(no auth)");
			ids_buf_putc(o, '}');
		} else {
			o->len = mark;
			ids_buf_puts(o, ",\"config\":{}}");
		}
	}
done:
	ids_buf_free(&loc);
	ids_buf_free(&out);
}
