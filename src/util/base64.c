/* Standard base64 (RFC 4648, padded): binary keys and values travel as {"$bin":"..."}. */
#include "idbsync/value.h"

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int ids_base64_encode(const uint8_t *p, size_t n, ids_buf *out)
{
	int rc = ids_buf_reserve(out, (n + 2) / 3 * 4);
	if (rc)
		return rc;
	char *o = out->data + out->len;
	size_t i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*o++ = b64[v >> 18];
		*o++ = b64[(v >> 12) & 63];
		*o++ = b64[(v >> 6) & 63];
		*o++ = b64[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
		*o++ = b64[v >> 18];
		*o++ = b64[(v >> 12) & 63];
		*o++ = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	out->len = (size_t)(o - out->data);
	out->data[out->len] = 0;
	return 0;
}

static int val(char c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+') return 62;
	if (c == '/') return 63;
	return -1;
}

int ids_base64_decode(const char *s, size_t n, ids_buf *out)
{
	if (n % 4)
		return IDS_EINVAL;
	int rc = ids_buf_reserve(out, n / 4 * 3);
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i += 4) {
		int a = val(s[i]), b = val(s[i + 1]), c = s[i + 2] == '=' ? -2 : val(s[i + 2]),
		    d = s[i + 3] == '=' ? -2 : val(s[i + 3]);
		int last = i + 4 == n;
		if (a < 0 || b < 0 || c == -1 || d == -1 || (!last && (c < 0 || d < 0)) || (c == -2 && d != -2))
			return IDS_EINVAL;
		uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)(c < 0 ? 0 : c) << 6 |
			     (uint32_t)(d < 0 ? 0 : d);
		out->data[out->len++] = (char)(v >> 16);
		if (c >= 0)
			out->data[out->len++] = (char)(v >> 8);
		if (d >= 0)
			out->data[out->len++] = (char)v;
	}
	out->data[out->len] = 0;
	return 0;
}
