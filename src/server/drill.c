/* Forwarding analytics queries to Apache Drill's REST API (POST <url>/query.json) with
 * libcurl, and turning Drill's row objects (values often as strings) into our
 * {"columns":[...],"rows":[[...]]} shape using the column types Drill reports. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "server_int.h"

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	ids_buf *b = arg;
	return ids_buf_append(b, p, size * n) ? 0 : size * n;
}

/* Drill's REST API has no bind parameters: inline them as SQL literals, outside quotes. */
static int inline_params(const char *sql, const char *params, size_t plen, ids_buf *out, ids_error *err)
{
	json_t *arr = NULL;
	if (params && plen) {
		json_error_t je;
		arr = json_loadb(params, plen, 0, &je);
		if (!arr || !json_is_array(arr)) {
			json_decref(arr);
			return ids_fail(err, IDS_EINVAL, "params must be a JSON array");
		}
	}
	size_t next = 0;
	char quote = 0;
	for (const char *p = sql; *p; p++) {
		if (quote) {
			if (*p == quote)
				quote = 0;
		} else if (*p == '\'' || *p == '"' || *p == '`') {
			quote = *p;
		} else if (*p == '?') {
			json_t *v = arr ? json_array_get(arr, next++) : NULL;
			if (!v) {
				json_decref(arr);
				return ids_fail(err, IDS_EINVAL, "params has fewer values than the SQL has placeholders");
			}
			if (json_is_string(v)) {
				ids_buf_putc(out, '\'');
				for (const char *c = json_string_value(v); *c; c++) {
					if (*c == '\'')
						ids_buf_putc(out, '\'');
					ids_buf_putc(out, *c);
				}
				ids_buf_putc(out, '\'');
			} else if (json_is_integer(v)) {
				ids_buf_printf(out, "%lld", (long long)json_integer_value(v));
			} else if (json_is_real(v)) {
				char tmp[40];
				ids_fmt_double(json_real_value(v), tmp);
				ids_buf_puts(out, tmp);
			} else if (json_is_boolean(v)) {
				ids_buf_puts(out, json_is_true(v) ? "TRUE" : "FALSE");
			} else if (json_is_null(v)) {
				ids_buf_puts(out, "NULL");
			} else {
				json_decref(arr);
				return ids_fail(err, IDS_EINVAL, "params: only numbers, strings, booleans and null bind");
			}
			continue;
		}
		ids_buf_putc(out, *p);
	}
	size_t n = arr ? json_array_size(arr) : 0;
	json_decref(arr);
	if (next != n)
		return ids_fail(err, IDS_EINVAL, "params has %zu values, the SQL has %zu placeholders", n, next);
	return 0;
}

static int numeric_type(const char *t)
{
	return t && (!strcmp(t, "INT") || !strcmp(t, "BIGINT") || !strcmp(t, "SMALLINT") || !strcmp(t, "TINYINT") ||
		     !strcmp(t, "FLOAT4") || !strcmp(t, "FLOAT8") || !strcmp(t, "DOUBLE") || !strcmp(t, "FLOAT") ||
		     !strncmp(t, "DECIMAL", 7) || !strcmp(t, "INTEGER") || !strcmp(t, "VARDECIMAL"));
}

static void put_cell(ids_buf *o, json_t *v, const char *type)
{
	if (!v || json_is_null(v)) {
		ids_buf_puts(o, "null");
		return;
	}
	if (json_is_string(v) && numeric_type(type)) {
		const char *s = json_string_value(v);
		char *end;
		strtod(s, &end);
		if (*s && !*end) { /* a valid number in text form: emit it as a number */
			ids_buf_puts(o, s);
			return;
		}
	}
	if (json_is_string(v) && type && !strcmp(type, "BIT")) {
		ids_buf_puts(o, !strcmp(json_string_value(v), "true") ? "true" : "false");
		return;
	}
	char *txt = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	ids_buf_puts(o, txt ? txt : "null");
	free(txt);
}

int drill_query(const char *url, const char *db, const char *sql, const char *params, size_t plen,
		int64_t timeout_ms, ids_buf *out, ids_error *err)
{
	ids_buf q = IDS_BUF_INIT, body = IDS_BUF_INIT, resp;
	ids_buf_init(&resp, 256u << 20);
	int rc = inline_params(sql, params, plen, &q, err);
	if (rc)
		goto done;
	ids_buf_puts(&body, "{\"queryType\":\"SQL\",\"query\":");
	ids_buf_json_str(&body, q.data ? q.data : "", q.len);
	ids_buf_putc(&body, '}');
	char endpoint[2048];
	if ((size_t)snprintf(endpoint, sizeof endpoint, "%s/query.json", url) >= sizeof endpoint) {
		rc = ids_fail(err, IDS_ELIMIT, "--drill-url is longer than %zu bytes", sizeof endpoint - 12);
		goto done;   /* a cut URL would ask some other server */
	}
	CURL *c = curl_easy_init();
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, endpoint);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body.len);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(timeout_ms > 0 ? timeout_ms : 30000));
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	CURLcode cc = curl_easy_perform(c);
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	if (cc != CURLE_OK) {
		rc = ids_fail(err, cc == CURLE_OPERATION_TIMEDOUT ? IDS_ETIMEOUT : IDS_EIO, "drill %s: %s", url,
			      curl_easy_strerror(cc));
		goto done;
	}
	json_error_t je;
	json_t *root = json_loadb(resp.data ? resp.data : "", resp.len, 0, &je);
	if (status != 200 || !root) {
		json_t *m = root ? json_object_get(root, "errorMessage") : NULL;
		rc = ids_fail(err, status >= 400 && status < 500 ? IDS_EINVAL : IDS_EIO, "drill answered %ld: %.300s",
			      status, m && json_is_string(m) ? json_string_value(m) : (resp.data ? resp.data : ""));
		json_decref(root);
		goto done;
	}
	json_t *cols = json_object_get(root, "columns"), *rows = json_object_get(root, "rows"),
	       *meta = json_object_get(root, "metadata");
	json_t *state = json_object_get(root, "queryState");
	if (state && json_is_string(state) && strcmp(json_string_value(state), "COMPLETED")) {
		json_t *m = json_object_get(root, "errorMessage");
		rc = ids_fail(err, IDS_EINVAL, "drill query %s: %.300s", json_string_value(state),
			      m && json_is_string(m) ? json_string_value(m) : "");
		json_decref(root);
		goto done;
	}
	ids_buf_puts(out, "{\"columns\":[");
	size_t nc = json_is_array(cols) ? json_array_size(cols) : 0;
	for (size_t i = 0; i < nc; i++) {
		const char *n = json_string_value(json_array_get(cols, i));
		if (i)
			ids_buf_putc(out, ',');
		ids_buf_json_str(out, n ? n : "", n ? strlen(n) : 0);
	}
	ids_buf_puts(out, "],\"rows\":[");
	size_t nr = json_is_array(rows) ? json_array_size(rows) : 0;
	for (size_t r = 0; r < nr; r++) {
		json_t *row = json_array_get(rows, r);
		ids_buf_puts(out, r ? ",[" : "[");
		for (size_t i = 0; i < nc; i++) {
			if (i)
				ids_buf_putc(out, ',');
			const char *n = json_string_value(json_array_get(cols, i));
			const char *t = json_string_value(json_array_get(meta, i));
			put_cell(out, n ? json_object_get(row, n) : NULL, t);
		}
		ids_buf_putc(out, ']');
	}
	ids_buf_puts(out, "],\"truncated\":false,\"engine\":\"drill\"}");
	json_decref(root);
	(void)db;
done:
	ids_buf_free(&q);
	ids_buf_free(&body);
	ids_buf_free(&resp);
	return rc;
}
