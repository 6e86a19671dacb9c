/* The S3 client of include/idbsync/s3.h: one libcurl request per call, path-style URL
 * <endpoint>/<bucket>/<prefix><key>, signed by sigv4.c. A non-2xx answer becomes an error
 * carrying S3's own <Code> and <Message>. */
#include "idbsync/s3.h"
#include "idbsync/log.h"
#include "idbsync/value.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sigv4.h"

#define S3_OBJECT_MAX ((size_t)5 << 30)   /* a single PUT's limit */
#define S3_ERROR_MAX (64u << 10)
#define S3_LIST_PAGE_MAX (16u << 20)   /* one ListObjectsV2 page: 1000 keys of at most 1 KiB, and more */

struct s3 {
	char endpoint[1024];   /* without a trailing '/' */
	char host[512];        /* host[:port] as signed and sent */
	char bucket[256];
	char prefix[1024];     /* "" or "a/b/" */
	char region[64];
	char access[256], secret[256];
};

void s3_get_access(const s3 *c, s3_access *out)
{
	*out = (s3_access){.endpoint = c->endpoint, .region = c->region, .access_key = c->access, .secret_key = c->secret};
}

int s3_open(s3 **out, const char *url, const s3_options *o, ids_error *err)
{
	*out = NULL;
	if (!url || strncmp(url, "s3://", 5) || !url[5] || url[5] == '/')
		return ids_fail(err, IDS_EINVAL, "%s: expected s3://bucket[/prefix]", url ? url : "(null)");
	const char *ep = o ? o->endpoint : NULL;
	if (!ep || (strncmp(ep, "http://", 7) && strncmp(ep, "https://", 8)))
		return ids_fail(err, IDS_EINVAL, "%s: an S3 endpoint URL (http://host:port) is required", url);
	const char *ak = o->access_key ? o->access_key : getenv("AWS_ACCESS_KEY_ID");
	const char *sk = o->secret_key ? o->secret_key : getenv("AWS_SECRET_ACCESS_KEY");
	if (!ak || !*ak || !sk || !*sk)
		return ids_fail(err, IDS_EINVAL, "%s: no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", url);
	s3 *c = calloc(1, sizeof *c);
	if (!c)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	const char *b = url + 5, *slash = strchr(b, '/');
	size_t bl = slash ? (size_t)(slash - b) : strlen(b);
	const char *hs = strstr(ep, "://") + 3;
	size_t hl = strcspn(hs, "/");
	size_t el = strlen(ep);
	while (el && ep[el - 1] == '/')
		el--;
	if (bl >= sizeof c->bucket || hl >= sizeof c->host || el >= sizeof c->endpoint ||
	    (slash && strlen(slash + 1) + 2 >= sizeof c->prefix) || strlen(ak) >= sizeof c->access ||
	    strlen(sk) >= sizeof c->secret) {
		free(c);
		return ids_fail(err, IDS_ELIMIT, "%s: bucket, prefix, endpoint or key too long", url);
	}
	memcpy(c->bucket, b, bl);
	memcpy(c->host, hs, hl);
	memcpy(c->endpoint, ep, el);
	if (slash && slash[1]) {
		snprintf(c->prefix, sizeof c->prefix, "%s", slash + 1);
		size_t pl = strlen(c->prefix);
		while (pl && c->prefix[pl - 1] == '/')
			c->prefix[--pl] = 0;
		if (pl)
			strcat(c->prefix, "/");
	}
	snprintf(c->region, sizeof c->region, "%s", o->region && *o->region ? o->region : "us-east-1");
	snprintf(c->access, sizeof c->access, "%s", ak);
	snprintf(c->secret, sizeof c->secret, "%s", sk);
	*out = c;
	return 0;
}

void s3_free(s3 *c) { free(c); }

int s3_uri(const s3 *c, const char *key, char *out, size_t size, ids_error *err)
{
	int n = snprintf(out, size, "s3://%s/%s%s", c->bucket, c->prefix, key);
	return n < 0 || (size_t)n >= size ? ids_fail(err, IDS_ELIMIT, "s3://%s/%s%s: too long", c->bucket, c->prefix, key) : 0;
}

static size_t sink(char *p, size_t sz, size_t n, void *ctx)
{
	return ids_buf_append(ctx, p, sz * n) ? 0 : sz * n;
}

/* The text of <tag> in an S3 error document, or "". */
static void xml_tag(const char *doc, const char *tag, char *out, size_t size)
{
	char open[64];
	snprintf(open, sizeof open, "<%s>", tag);
	const char *a = doc ? strstr(doc, open) : NULL;
	const char *b = a ? strchr(a + strlen(open), '<') : NULL;
	size_t n = a && b ? (size_t)(b - a - strlen(open)) : 0;
	if (n >= size)
		n = size - 1;
	if (n)
		memcpy(out, a + strlen(open), n);
	out[n] = 0;
}

/* Tests (IDBSYNC_TEST_S3_KILL=put-body:<n>): kill -9 while the body of the n-th PUT of at
 * least 1 MiB is being sent, once its first bytes left: a server restart mid-upload. */
static int kill_midput(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	(void)ctx, (void)dltotal, (void)dlnow;
	if (ulnow > 0 && ulnow < ultotal)
		raise(SIGKILL);
	return 0;
}

static int test_kill_due(size_t len)
{
	static int count;
	const char *v = getenv("IDBSYNC_TEST_S3_KILL");
	return v && !strncmp(v, "put-body:", 9) && len >= (1u << 20) && ++count == atoi(v + 9);
}

/* Tests (IDBSYNC_TEST_S3_STALL=put-body:<n>:<file>): the n-th PUT of at least 1 MiB, once its
 * first bytes left, waits while <file> exists (at most 5 min), logging that it does: the test
 * kills or restarts the S3 *server* in that window, a restart mid-upload at a known moment. */
static const char *test_stall_file(size_t len)
{
	static int count;
	const char *v = getenv("IDBSYNC_TEST_S3_STALL");
	const char *f = v && !strncmp(v, "put-body:", 9) ? strchr(v + 9, ':') : NULL;
	return f && len >= (1u << 20) && ++count == atoi(v + 9) ? f + 1 : NULL;
}

static int stall_midput(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	(void)dltotal, (void)dlnow;
	const char **file = ctx;
	if (*file && ulnow > 0 && ulnow < ultotal) {
		ids_logf(IDS_LOG_WARN, "s3_test_stall", "PUT stalled after %lld of %lld bytes while %s exists",
			 (long long)ulnow, (long long)ultotal, *file);
		for (int i = 0; i < 6000 && access(*file, F_OK) == 0; i++)
			usleep(50000);
		*file = NULL;   /* once */
	}
	return 0;
}

/* One signed request on key (NULL: the bucket itself) with query (NULL or a canonical query
 * string, see sigv4.h). */
static int request(s3 *c, const char *method, const char *key, const char *query, const void *body, size_t len,
		   ids_buf *out, long *code, ids_error *err)
{
	char path[4096], enc[4096 * 3], uri[4096 * 3 + 300], url[4096 * 3 + 1400];
	snprintf(path, sizeof path, "%s%s%s", c->bucket, key ? "/" : "", key ? c->prefix : "");
	if (key && strlen(path) + strlen(key) + 1 < sizeof path)
		strcat(path, key);
	if (s3_uri_encode(path, 1, enc, sizeof enc))
		return ids_fail(err, IDS_ELIMIT, "s3 key too long: %s", key ? key : c->bucket);
	snprintf(uri, sizeof uri, "/%s", enc);
	int un = snprintf(url, sizeof url, "%s%s%s%s", c->endpoint, uri, query ? "?" : "", query ? query : "");
	if (un < 0 || (size_t)un >= sizeof url)
		return ids_fail(err, IDS_ELIMIT, "s3 request too long: %s", uri);
	char date[17], hash[65], auth[1024];
	if (s3_sign(method, c->host, uri, query ? query : "", body, len, c->region, c->access, c->secret, time(NULL), date,
		    hash, auth, sizeof auth))
		return ids_fail(err, IDS_EINVAL, "s3: cannot sign the request for %s", url);
	char h1[600], h2[100], h3[100], h4[1100];
	snprintf(h1, sizeof h1, "Host: %s", c->host);
	snprintf(h2, sizeof h2, "x-amz-date: %s", date);
	snprintf(h3, sizeof h3, "x-amz-content-sha256: %s", hash);
	snprintf(h4, sizeof h4, "Authorization: %s", auth);
	struct curl_slist *h = NULL;
	h = curl_slist_append(h, h1);
	h = curl_slist_append(h, h2);
	h = curl_slist_append(h, h3);
	h = curl_slist_append(h, h4);
	h = curl_slist_append(h, "Expect:");   /* no 100-continue round trip */
	if (!strcmp(method, "PUT"))
		h = curl_slist_append(h, "Content-Type: application/octet-stream");
	CURL *cu = curl_easy_init();
	if (!cu) {
		curl_slist_free_all(h);
		return ids_fail(err, IDS_ENOMEM, "curl init failed");
	}
	ids_buf ebuf;   /* the answer: an error document, or what out takes (its cap) */
	ids_buf_init(&ebuf, out ? out->max : S3_ERROR_MAX);
	const char *stall = NULL;
	curl_easy_setopt(cu, CURLOPT_URL, url);
	curl_easy_setopt(cu, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(cu, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(cu, CURLOPT_LOW_SPEED_LIMIT, 1L);   /* a stalled transfer ends, a long one does not */
	curl_easy_setopt(cu, CURLOPT_LOW_SPEED_TIME, 60L);
	if (!strcmp(method, "PUT")) {
		curl_easy_setopt(cu, CURLOPT_POST, 1L);
		curl_easy_setopt(cu, CURLOPT_CUSTOMREQUEST, "PUT");
		curl_easy_setopt(cu, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(cu, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		if (test_kill_due(len)) {
			curl_easy_setopt(cu, CURLOPT_XFERINFOFUNCTION, kill_midput);
			curl_easy_setopt(cu, CURLOPT_NOPROGRESS, 0L);
		} else if ((stall = test_stall_file(len))) {
			curl_easy_setopt(cu, CURLOPT_XFERINFOFUNCTION, stall_midput);
			curl_easy_setopt(cu, CURLOPT_XFERINFODATA, &stall);
			curl_easy_setopt(cu, CURLOPT_NOPROGRESS, 0L);
		}
	} else if (strcmp(method, "GET")) {
		curl_easy_setopt(cu, CURLOPT_CUSTOMREQUEST, method);
	}
	curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, sink);
	CURLcode cc;
	*code = 0;
	curl_easy_setopt(cu, CURLOPT_WRITEDATA, &ebuf);
	cc = curl_easy_perform(cu);
	curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, code);
	int rc = 0;
	if (cc != CURLE_OK) {
		rc = ids_fail(err, IDS_EIO, "%s %s: %s", method, url, curl_easy_strerror(cc));
	} else if (*code < 200 || *code > 299) {
		char scode[128], msg[512];
		xml_tag(ebuf.data, "Code", scode, sizeof scode);
		xml_tag(ebuf.data, "Message", msg, sizeof msg);
		rc = ids_fail(err, *code == 404 ? IDS_ENOTFOUND : *code == 409 ? IDS_ECONFLICT : IDS_EIO, "%s %s: HTTP %ld %s %s",
			      method, url, *code, scode, msg);
	} else if (out && ebuf.len && ids_buf_append(out, ebuf.data, ebuf.len)) {
		rc = ids_fail(err, IDS_ELIMIT, "%s %s: the object is larger than %zu bytes", method, url, out->max);
	} else if (ebuf.failed) {
		rc = ids_fail(err, IDS_ELIMIT, "%s %s: answer too large", method, url);
	}
	ids_buf_free(&ebuf);
	curl_slist_free_all(h);
	curl_easy_cleanup(cu);
	return rc;
}

int s3_put(s3 *c, const char *key, const void *data, size_t len, ids_error *err)
{
	long code;
	if (len > S3_OBJECT_MAX)
		return ids_fail(err, IDS_ELIMIT, "s3: %s: %zu bytes, more than one PUT takes", key, len);
	return request(c, "PUT", key, NULL, data, len, NULL, &code, err);
}

int s3_put_file(s3 *c, const char *key, const char *path, ids_error *err)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return ids_fail(err, IDS_EIO, "%s: cannot open", path);
	ids_buf b;
	ids_buf_init(&b, S3_OBJECT_MAX);
	char chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		if (ids_buf_append(&b, chunk, n))
			break;
	int bad = ferror(f) || b.failed;
	fclose(f);
	int rc = bad ? ids_fail(err, IDS_EIO, "%s: read failed or larger than one PUT takes", path)
		     : s3_put(c, key, b.data, b.len, err);
	ids_buf_free(&b);
	return rc;
}

int s3_get(s3 *c, const char *key, ids_buf *out, ids_error *err)
{
	long code;
	return request(c, "GET", key, NULL, NULL, 0, out, &code, err);
}

int s3_delete(s3 *c, const char *key, ids_error *err)
{
	long code;
	int rc = request(c, "DELETE", key, NULL, NULL, 0, NULL, &code, err);
	if (rc == IDS_ENOTFOUND) {
		*err = (ids_error)IDS_ERROR_INIT;
		rc = 0;
	}
	return rc;
}

/* Decodes the XML entities S3 uses in keys (&amp; &lt; &gt; &quot; &apos; &#N;) in place. */
static void xml_unescape(char *s)
{
	static const struct { const char *e; char c; } ents[] = {
		{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
	char *w = s;
	for (const char *r = s; *r;) {
		size_t i, n = sizeof ents / sizeof *ents;
		for (i = 0; *r == '&' && i < n; i++)
			if (!strncmp(r, ents[i].e, strlen(ents[i].e)))
				break;
		if (*r == '&' && i < n) {
			*w++ = ents[i].c;
			r += strlen(ents[i].e);
		} else if (*r == '&' && r[1] == '#' && strchr(r, ';')) {
			long v = r[2] == 'x' ? strtol(r + 3, NULL, 16) : strtol(r + 2, NULL, 10);
			*w++ = v > 0 && v < 128 ? (char)v : '?';
			r = strchr(r, ';') + 1;
		} else
			*w++ = *r++;
	}
	*w = 0;
}

/* An ISO 8601 UTC time (2026-12-05T22:09:43.000Z) as seconds since the epoch (0: not one). */
static int64_t iso_time(const char *s)
{
	int64_t secs;
	int32_t nanos;
	int digits;
	return ids_iso_parse(s, strlen(s), 0, &secs, &nanos, &digits) ? 0 : secs;
}

int s3_list(s3 *c, const char *prefix, int max_keys, s3_list_fn each, void *ctx, ids_error *err)
{
	char token[2048] = "", full[2048], enc_prefix[6200], enc_token[6200], query[13000];
	int n = snprintf(full, sizeof full, "%s%s", c->prefix, prefix ? prefix : "");
	if (n < 0 || (size_t)n >= sizeof full || s3_uri_encode(full, 0, enc_prefix, sizeof enc_prefix))
		return ids_fail(err, IDS_ELIMIT, "s3 list: prefix too long: %s", full);
	size_t strip = strlen(c->prefix);
	int rc = 0;
	for (int page = 0; !rc; page++) {
		/* the query's names in sorted order, as the signature's canonical form needs */
		if (*token && s3_uri_encode(token, 0, enc_token, sizeof enc_token))
			return ids_fail(err, IDS_ELIMIT, "s3 list: continuation token too long");
		snprintf(query, sizeof query, "%s%s%slist-type=2&max-keys=%d&prefix=%s", *token ? "continuation-token=" : "",
			 *token ? enc_token : "", *token ? "&" : "", max_keys > 0 && max_keys <= 1000 ? max_keys : 1000,
			 enc_prefix);
		ids_buf b;
		ids_buf_init(&b, S3_LIST_PAGE_MAX);
		long code;
		rc = request(c, "GET", NULL, query, NULL, 0, &b, &code, err);
		const char *p = b.data ? b.data : "";
		while (!rc && (p = strstr(p, "<Contents>"))) {
			const char *end = strstr(p, "</Contents>");
			if (!end)
				break;
			size_t len = (size_t)(end - p);
			char *one = malloc(len + 1), key[2048], mod[64], size[32];
			if (!one) {
				rc = ids_fail(err, IDS_ENOMEM, "out of memory");
				break;
			}
			memcpy(one, p, len);
			one[len] = 0;
			xml_tag(one, "Key", key, sizeof key);
			xml_tag(one, "LastModified", mod, sizeof mod);
			xml_tag(one, "Size", size, sizeof size);
			free(one);
			xml_unescape(key);
			if (strncmp(key, c->prefix, strip))
				rc = ids_fail(err, IDS_ECORRUPT, "s3 list: key %s outside the prefix %s", key, c->prefix);
			else
				rc = each(ctx, key + strip, strtoll(size, NULL, 10), iso_time(mod));
			p = end;
		}
		char trunc[16];
		xml_tag(b.data, "IsTruncated", trunc, sizeof trunc);
		xml_tag(b.data, "NextContinuationToken", token, sizeof token);
		xml_unescape(token);
		ids_buf_free(&b);
		if (rc || strcmp(trunc, "true"))
			break;
		if (!*token)
			rc = ids_fail(err, IDS_ECORRUPT, "s3 list: a truncated page without NextContinuationToken");
	}
	return rc;
}
