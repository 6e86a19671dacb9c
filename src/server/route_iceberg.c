/* The read side of an Apache Iceberg REST catalog at /iceberg/v1/ (the open REST catalog spec,
 * apache/iceberg open-api/rest-catalog-open-api.yaml): config, namespaces (one per database),
 * tables (both lists paged with pageToken and pageSize), load table. The tables and their
 * committed metadata come from the lake through server_hooks.iceberg; every write answers
 * 405. Errors use the spec's shape, {"error":{"message","type","code"}}. The catalog covers
 * every user's rows: with authentication on it needs an admin token. docs/iceberg.md, "The
 * served catalog". */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "idbsync/log.h"
#include "idbsync/str.h"
#include "idbsync/value.h"
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

/* Paging of the two lists (the spec's pageToken and pageSize). The token is the last name a
 * page held, in base64: every page lists and sorts the names again and starts after that one,
 * so no name comes twice and none that was there all along is skipped, whatever is added or
 * dropped between pages (a name added before the token's is not sent). Without pageSize every
 * name after the token, in the shape clients that do not page expect (no "next-page-token");
 * with it at most that many, and "next-page-token" null on the last page. */
typedef struct {
	ids_buf after;   /* the token's name ("" before the first page) */
	size_t size;     /* 0: no pageSize, no bound */
} page_req;

static int page_parse(http_req *req, page_req *pg, http_resp *resp)
{
	const char *tok = req_query(req, "pageToken"), *ps = req_query(req, "pageSize");
	char msg[200];
	if (ps) {
		char *end = NULL;
		long long v = ps[0] >= '0' && ps[0] <= '9' ? strtoll(ps, &end, 10) : 0;
		if (v < 1 || !end || *end) {
			snprintf(msg, sizeof msg, "pageSize %.40s: expected a whole number from 1", ps);
			resp_iceberg_error(resp, 400, "BadRequestException", msg);
			return -1;
		}
		pg->size = v > INT_MAX ? INT_MAX : (size_t)v;
	}
	if (tok && *tok) {
		ids_buf_init(&pg->after, 1024);
		/* a name this catalog lists: 1-255 bytes, no NUL, newline or slash */
		int bad = ids_base64_decode(tok, strlen(tok), &pg->after);
		const char *a = pg->after.data;
		size_t n = pg->after.len;
		if (bad || !n || n > 255 || strlen(a) != n || strpbrk(a, "\n/")) {
			snprintf(msg, sizeof msg, "pageToken %.40s: not a token of this catalog (a next-page-token it sent)", tok);
			resp_iceberg_error(resp, 400, "BadRequestException", msg);
			return -1;
		}
	}
	return 0;
}

/* The list answer from names one a line (the hook's out, cut into strings in place): one page
 * of {"namespaces":[["a"],..]} or {"identifiers":[{"namespace":["a"],"name":"t"},..]}. */
static int list_page(ids_buf *o, int depth, const char *ns, ids_buf *names, const page_req *pg)
{
	size_t n = 0, k = 0;
	if (names->len && names->data[names->len - 1] != '\n' && ids_buf_putc(names, '\n'))
		return -1;
	for (size_t i = 0; i < names->len; i++)
		n += names->data[i] == '\n';
	char **v = n ? malloc(n * sizeof *v) : NULL;
	if (n && !v)
		return -1;
	for (char *p = names->data, *nl; k < n && (nl = strchr(p, '\n')); p = nl + 1) {
		*nl = 0;
		v[k++] = p;
	}
	/* sorted here: the token orders names by strcmp, whatever order the hook's source has */
	if (k)
		qsort(v, k, sizeof *v, ids_str_cmp);
	ids_buf_puts(o, depth == 1 ? "{\"namespaces\":[" : "{\"identifiers\":[");
	size_t sent = 0;
	const char *last = NULL;
	int more = 0;
	for (size_t i = 0; i < k; i++) {
		if (pg->after.len && strcmp(v[i], pg->after.data) <= 0)
			continue;
		if (pg->size && sent == pg->size) {
			more = 1;
			break;
		}
		if (sent++)
			ids_buf_putc(o, ',');
		if (depth == 1) {
			ids_buf_putc(o, '[');
			ids_buf_json_str(o, v[i], strlen(v[i]));
			ids_buf_putc(o, ']');
		} else {
			ids_buf_puts(o, "{\"namespace\":[");
			ids_buf_json_str(o, ns, strlen(ns));
			ids_buf_puts(o, "],\"name\":");
			ids_buf_json_str(o, v[i], strlen(v[i]));
			ids_buf_putc(o, '}');
		}
		last = v[i];
	}
	ids_buf_putc(o, ']');
	if (pg->size) {
		ids_buf_puts(o, ",\"next-page-token\":");
		if (more) {
			ids_buf t = IDS_BUF_INIT;
			ids_base64_encode((const uint8_t *)last, strlen(last), &t);
			ids_buf_json_str(o, t.data ? t.data : "", t.len);
			ids_buf_free(&t);
		} else {
			ids_buf_puts(o, "null");
		}
	}
	ids_buf_putc(o, '}');
	free(v);
	return 0;
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
	page_req pg = {IDS_BUF_INIT, 0};
	if ((depth == 1 || depth == 3) && page_parse(req, &pg, resp))
		goto done;
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
		if (list_page(o, depth, ns, &out, &pg))
			resp_iceberg_error(resp, 500, "ServerErrorException", "out of memory listing the catalog");
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
	ids_buf_free(&pg.after);
	ids_buf_free(&loc);
	ids_buf_free(&out);
}
