/* Text output helpers for the reader: JSON string literals from untrusted bytes (escaping,
 * with invalid UTF-8 replaced by U+FFFD so the output is always valid JSON), and the JSON
 * logical type: the stored text is emitted as a value (minified) when it is valid JSON,
 * else as a string. Neither allocates beyond the output buffer. */
#include "parquet/read/rd_internal.h"

/* 0 = copy as is, 1 = needs an escape, 2 = starts a multi-byte sequence (or is invalid) */
static const uint8_t cls[256] = {
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};

/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlongs, surrogates or > U+10FFFF),
 * or 0 if invalid. */
static size_t utf8_len(const uint8_t *s, size_t n)
{
	uint8_t c = s[0];
	if (c >= 0xC2 && c <= 0xDF)
		return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
	if (c >= 0xE0 && c <= 0xEF) {
		if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
			return 0;
		if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F))
			return 0;
		return 3;
	}
	if (c >= 0xF0 && c <= 0xF4) {
		if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
			return 0;
		if ((c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] > 0x8F))
			return 0;
		return 4;
	}
	return 0;
}

int rd_json_str(ids_buf *out, const uint8_t *s, size_t n)
{
	int rc = ids_buf_reserve(out, n + 2);
	if (rc)
		return rc;
	out->data[out->len++] = '"';
	size_t i = 0;
	while (i < n) {
		size_t run = i;
		while (i < n && cls[s[i]] == 0)
			i++;
		if (i > run) {
			/* reserved n + 2 up front, but escapes before may have used it */
			if ((rc = ids_buf_append(out, s + run, i - run)))
				return rc;
		}
		if (i >= n)
			break;
		uint8_t c = s[i];
		if (cls[c] == 1) {
			/* control characters, '"' and '\\': the same set the shared escaper handles */
			ids_buf_json_esc(out, (const char *)s + i, 1);
			i++;
			continue;
		}
		size_t l = utf8_len(s + i, n - i);
		if (l) {
			ids_buf_append(out, s + i, l);
			i += l;
		} else {
			ids_buf_append(out, "\xEF\xBF\xBD", 3);
			i++;
		}
	}
	return ids_buf_putc(out, '"');
}

/* ---- validating minifier for the JSON logical type ---- */

typedef struct jt {
	const uint8_t *p, *end;
	ids_buf *out;
	int depth;
} jt;

static void ws(jt *t)
{
	while (t->p < t->end && (*t->p == ' ' || *t->p == '\t' || *t->p == '\n' || *t->p == '\r'))
		t->p++;
}

static int jstring(jt *t)
{
	const uint8_t *start = t->p++;
	while (t->p < t->end) {
		uint8_t c = *t->p;
		if (c == '"') {
			t->p++;
			return ids_buf_append(t->out, start, (size_t)(t->p - start)) ? -1 : 0;
		}
		if (c < 0x20)
			return -1;
		if (c == '\\') {
			if (t->end - t->p < 2)
				return -1;
			uint8_t e = t->p[1];
			if (e == 'u') {
				if (t->end - t->p < 6)
					return -1;
				for (int k = 2; k < 6; k++) {
					uint8_t h = t->p[k];
					if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F')))
						return -1;
				}
				t->p += 6;
			} else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' ||
				   e == 'r' || e == 't') {
				t->p += 2;
			} else {
				return -1;
			}
			continue;
		}
		if (c >= 0x80) {
			size_t l = utf8_len(t->p, (size_t)(t->end - t->p));
			if (!l)
				return -1;
			t->p += l;
			continue;
		}
		t->p++;
	}
	return -1;
}

static int jvalue(jt *t);

static int jnumber(jt *t)
{
	const uint8_t *s = t->p;
	if (t->p < t->end && *t->p == '-')
		t->p++;
	if (t->p >= t->end)
		return -1;
	if (*t->p == '0') {
		t->p++;
	} else if (*t->p >= '1' && *t->p <= '9') {
		while (t->p < t->end && *t->p >= '0' && *t->p <= '9')
			t->p++;
	} else {
		return -1;
	}
	if (t->p < t->end && *t->p == '.') {
		t->p++;
		if (t->p >= t->end || *t->p < '0' || *t->p > '9')
			return -1;
		while (t->p < t->end && *t->p >= '0' && *t->p <= '9')
			t->p++;
	}
	if (t->p < t->end && (*t->p == 'e' || *t->p == 'E')) {
		t->p++;
		if (t->p < t->end && (*t->p == '+' || *t->p == '-'))
			t->p++;
		if (t->p >= t->end || *t->p < '0' || *t->p > '9')
			return -1;
		while (t->p < t->end && *t->p >= '0' && *t->p <= '9')
			t->p++;
	}
	return ids_buf_append(t->out, s, (size_t)(t->p - s)) ? -1 : 0;
}

static int jword(jt *t, const char *w, size_t n)
{
	if ((size_t)(t->end - t->p) < n || memcmp(t->p, w, n) != 0)
		return -1;
	t->p += n;
	return ids_buf_append(t->out, w, n) ? -1 : 0;
}

static int jcontainer(jt *t, uint8_t open, uint8_t close)
{
	if (++t->depth > 64)
		return -1;
	t->p++;
	ids_buf_putc(t->out, (char)open);
	ws(t);
	if (t->p < t->end && *t->p == close) {
		t->p++;
		t->depth--;
		return ids_buf_putc(t->out, (char)close) ? -1 : 0;
	}
	for (;;) {
		ws(t);
		if (open == '{') {
			if (t->p >= t->end || *t->p != '"' || jstring(t))
				return -1;
			ws(t);
			if (t->p >= t->end || *t->p != ':')
				return -1;
			t->p++;
			ids_buf_putc(t->out, ':');
			ws(t);
		}
		if (jvalue(t))
			return -1;
		ws(t);
		if (t->p >= t->end)
			return -1;
		if (*t->p == ',') {
			t->p++;
			ids_buf_putc(t->out, ',');
			continue;
		}
		if (*t->p == close) {
			t->p++;
			t->depth--;
			return ids_buf_putc(t->out, (char)close) ? -1 : 0;
		}
		return -1;
	}
}

static int jvalue(jt *t)
{
	if (t->p >= t->end)
		return -1;
	switch (*t->p) {
	case '{': return jcontainer(t, '{', '}');
	case '[': return jcontainer(t, '[', ']');
	case '"': return jstring(t);
	case 't': return jword(t, "true", 4);
	case 'f': return jword(t, "false", 5);
	case 'n': return jword(t, "null", 4);
	default: return jnumber(t);
	}
}

int rd_json_text(ids_buf *out, const uint8_t *s, size_t n)
{
	size_t mark = out->len;
	jt t = {s, s + n, out, 0};
	ws(&t);
	int bad = jvalue(&t);
	ws(&t);
	if (!bad && t.p == t.end && !out->failed)
		return 0;
	if (out->failed)
		return out->failed;
	out->len = mark;
	if (out->data)
		out->data[mark] = 0;
	return rd_json_str(out, s, n);
}
