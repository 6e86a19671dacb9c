/* IndexedDB keys <-> a binary form whose byte order is IndexedDB's key order. Equal keys must map to one row, so
 * numbers are normalized (-0 == 0) and every key has exactly one encoding. Layout per item:
 * type byte, then 8 big-endian bytes (number/date) or 0x00-escaped bytes ending in 0x00
 * (string/binary), or items ending in 0x00 (array). */
#include "idbsync/value.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { K_NUM = 0x10, K_DATE = 0x20, K_STR = 0x30, K_BIN = 0x40, K_ARR = 0x50 };

static int put_double(ids_buf *out, uint8_t type, double v)
{
	if (v == 0)
		v = 0; /* folds -0 into +0 */
	uint64_t bits;
	memcpy(&bits, &v, 8);
	bits = (bits >> 63) ? ~bits : bits ^ 0x8000000000000000ULL;
	uint8_t b[9] = {type};
	for (int i = 0; i < 8; i++)
		b[1 + i] = (uint8_t)(bits >> (56 - 8 * i));
	return ids_buf_append(out, b, 9);
}

static int put_bytes(ids_buf *out, uint8_t type, const uint8_t *p, size_t n)
{
	ids_buf_putc(out, (char)type);
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == 0) {
			ids_buf_append(out, p + run, i - run + 1);
			ids_buf_putc(out, (char)0xFF);
			run = i + 1;
		}
	}
	ids_buf_append(out, p + run, n - run);
	return ids_buf_putc(out, 0);
}

/* IndexedDB compares strings by UTF-16 code units, and JavaScript strings may hold lone
 * surrogates. So string keys are stored as their UTF-16 code units, each written in UTF-8's
 * bit layout (CESU-8): byte order then equals IndexedDB order, every JS string round-trips,
 * and ASCII stays one byte. */
static int put_string(const ids_json *j, size_t t, ids_buf *out)
{
	const ids_jtok *tk = &j->tok[t];
	const char *s = j->text + tk->start + 1;
	size_t n = tk->end - tk->start - 2;
	if (!tk->escaped) {
		/* plain ASCII (the usual key) is its own code units */
		size_t i = 0;
		while (i < n && (unsigned char)s[i] < 0x80)
			i++;
		if (i == n)
			return put_bytes(out, K_STR, (const uint8_t *)s, n);
	}
	/* the text with escapes decoded, lone surrogates (\ud800) kept in UTF-8's layout */
	ids_buf txt = IDS_BUF_INIT, units = IDS_BUF_INIT;
	const char *p = s;
	if (tk->escaped) {
		ids_json_unescape_text(s, n, IDS_UNESC_WTF8, &txt, NULL);
		p = txt.data ? txt.data : "";
		n = txt.len;
	}
	ids_buf_reserve(&units, n + 4);
	char o[4];
	int rc = 0;
	for (size_t i = 0; i < n;) {
		uint32_t u;
		size_t l = ids_utf8_get((const uint8_t *)p + i, n - i, &u);
		if (!l) { /* the JSON scanner only lets valid UTF-8 through */
			rc = IDS_EINVAL;
			break;
		}
		i += l;
		if (u >= 0x10000) {
			u -= 0x10000;
			ids_buf_append(&units, o, ids_utf8_put(o, 0xD800 + (u >> 10)));
			u = 0xDC00 + (u & 0x3FF);
		}
		ids_buf_append(&units, o, ids_utf8_put(o, u));
	}
	if (!rc)
		rc = put_bytes(out, K_STR, (const uint8_t *)(units.data ? units.data : ""), units.len);
	ids_buf_free(&txt);
	ids_buf_free(&units);
	return rc;
}

/* Code units back to a JSON string: surrogate pairs become UTF-8, lone ones \uXXXX. */
static int units_to_json(const uint8_t *p, size_t n, ids_buf *out)
{
	ids_buf run = IDS_BUF_INIT;
	int rc = 0;
	ids_buf_putc(out, '"');
	for (size_t i = 0; i < n;) {
		uint32_t u, lo = 0;
		size_t l = ids_utf8_get(p + i, n - i, &u);
		if (!l || l == 4) {
			rc = IDS_ECORRUPT;
			break;
		}
		i += l;
		size_t l2 = 0;
		if (u >= 0xD800 && u < 0xDC00 && i < n && (l2 = ids_utf8_get(p + i, n - i, &lo)) && lo >= 0xDC00 && lo < 0xE000) {
			i += l2;
			u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
		} else if (u >= 0xD800 && u < 0xE000) {
			ids_buf_json_esc(out, run.data ? run.data : "", run.len);
			ids_buf_reset(&run);
			ids_buf_printf(out, "\\u%04x", u);
			continue;
		}
		char b[4];
		size_t bl = ids_utf8_put(b, u);
		ids_buf_append(&run, b, bl);
	}
	if (!rc) {
		ids_buf_json_esc(out, run.data ? run.data : "", run.len);
		rc = ids_buf_putc(out, '"');
	}
	ids_buf_free(&run);
	return rc;
}

static int encode(const ids_json *j, size_t t, ids_buf *out, int depth, ids_error *err)
{
	const ids_jtok *tk = &j->tok[t];
	if (depth > IDS_KEY_MAX_DEPTH)
		return ids_fail(err, IDS_ELIMIT, "key arrays nested deeper than %d", IDS_KEY_MAX_DEPTH);
	switch (tk->type) {
	case IDS_JNUM: {
		double v = ids_json_num(j, t);
		if (!isfinite(v))
			return ids_fail(err, IDS_EINVAL, "key number out of range");
		/* an integer past 2^53 that no double holds exactly: a browser cannot have sent it
		 * (JavaScript would have rounded it first), and keeping the rounded key would merge
		 * distinct keys silently */
		size_t n = tk->end - tk->start;
		if (tk->is_int && fabs(v) >= 9007199254740992.0) {
			char back[400];
			int m = snprintf(back, sizeof back, "%.0f", v);   /* the double's exact integer value */
			const char *txt = j->text + tk->start;
			if ((size_t)m != n || memcmp(back, txt, n))
				return ids_fail(err, IDS_EINVAL,
						"key %.*s is past 2^53 and not exactly a JavaScript number (it would be %.40s): "
						"send it as a string, or as the number JavaScript has",
						(int)(n < 40 ? n : 40), txt, back);
		}
		return put_double(out, K_NUM, v);
	}
	case IDS_JSTR:
		return put_string(j, t, out);
	case IDS_JARR: {
		ids_buf_putc(out, K_ARR);
		size_t c = t + 1;
		for (uint32_t i = 0; i < tk->size; i++) {
			int rc = encode(j, c, out, depth + 1, err);
			if (rc)
				return rc;
			c = j->tok[c].next;
		}
		return ids_buf_putc(out, 0);
	}
	case IDS_JOBJ: {
		if (tk->size >= 1) {
			size_t k = t + 1, v = t + 2;
			if (ids_json_streq(j, k, "$date") && tk->size == 1 && j->tok[v].type == IDS_JSTR) {
				double ms;
				const char *s = j->text + j->tok[v].start + 1;
				if (ids_iso_to_ms(s, j->tok[v].end - j->tok[v].start - 2, &ms))
					return ids_fail(err, IDS_EINVAL, "key: $date is not an ISO-8601 UTC date");
				return put_double(out, K_DATE, ms);
			}
			if (ids_json_streq(j, k, "$num") && tk->size == 1) {
				double d;
				if (!ids_json_num_special(j, v, &d) && d == d)
					return put_double(out, K_NUM, d == 0 ? 0 : d);   /* -0 is the key 0 */
				return ids_fail(err, IDS_EINVAL, "key: NaN is not a valid IndexedDB key");
			}
			if (ids_json_streq(j, k, "$bin") && j->tok[v].type == IDS_JSTR &&
			    (tk->size == 1 || (tk->size == 2 && ids_json_streq(j, v + 1, "$type")))) {
				ids_buf tmp = IDS_BUF_INIT;
				const char *s = j->text + j->tok[v].start + 1;
				int rc = ids_base64_decode(s, j->tok[v].end - j->tok[v].start - 2, &tmp);
				if (rc)
					rc = ids_fail(err, IDS_EINVAL, "key: $bin is not valid base64");
				else
					rc = put_bytes(out, K_BIN, (const uint8_t *)(tmp.data ? tmp.data : ""), tmp.len);
				ids_buf_free(&tmp);
				return rc;
			}
		}
		return ids_fail(err, IDS_EINVAL,
				"key must be a number, string, {\"$date\":..}, {\"$bin\":..} or an array of keys");
	}
	default:
		return ids_fail(err, IDS_EINVAL,
				"key must be a number, string, {\"$date\":..}, {\"$bin\":..} or an array of keys "
				"(true/false/null are not IndexedDB keys)");
	}
}

int ids_key_encode(const ids_json *j, size_t t, ids_buf *out, ids_error *err)
{
	int rc = encode(j, t, out, 0, err);
	if (!rc && out->failed)
		rc = ids_fail(err, out->failed, "key too large");
	return rc;
}

static double get_double(const uint8_t *p)
{
	uint64_t bits = 0;
	for (int i = 0; i < 8; i++)
		bits = bits << 8 | p[i];
	bits = (bits >> 63) ? bits ^ 0x8000000000000000ULL : ~bits;
	double v;
	memcpy(&v, &bits, 8);
	return v;
}

static int put_num(ids_buf *out, double v)
{
	if (isinf(v))
		return ids_buf_puts(out, v > 0 ? "{\"$num\":\"Infinity\"}" : "{\"$num\":\"-Infinity\"}");
	if (v == floor(v) && fabs(v) < 9007199254740992.0)
		return ids_buf_i64(out, (int64_t)v);   /* not snprintf: a lake row formats one per key */
	char tmp[40];
	ids_fmt_double(v, tmp);
	return ids_buf_puts(out, tmp);
}

/* Reads an escaped byte run at k[*i..n) into tmp; returns 0 or IDS_ECORRUPT. */
static int get_bytes(const uint8_t *k, size_t n, size_t *i, ids_buf *tmp)
{
	while (*i < n) {
		uint8_t c = k[(*i)++];
		if (c != 0) {
			ids_buf_putc(tmp, (char)c);
			continue;
		}
		if (*i < n && k[*i] == 0xFF) {
			ids_buf_putc(tmp, 0);
			(*i)++;
			continue;
		}
		return 0;
	}
	return IDS_ECORRUPT;
}

static int decode(const uint8_t *k, size_t n, size_t *i, ids_buf *out, int depth)
{
	if (*i >= n || depth > IDS_KEY_MAX_DEPTH + 1)
		return IDS_ECORRUPT;
	uint8_t type = k[(*i)++];
	switch (type) {
	case K_NUM:
	case K_DATE: {
		if (n - *i < 8)
			return IDS_ECORRUPT;
		double v = get_double(k + *i);
		*i += 8;
		/* only what encode() can produce: no NaN, dates within JavaScript's range */
		if (isnan(v) || (type == K_DATE && !(fabs(v) <= 8.64e15)))
			return IDS_ECORRUPT;
		if (type == K_NUM)
			return put_num(out, v);
		char iso[40];
		ids_ms_to_iso(v, iso);
		return ids_buf_printf(out, "{\"$date\":\"%s\"}", iso);
	}
	case K_STR:
	case K_BIN: {
		if (type == K_STR) {
			/* the usual key, printable ASCII without quotes or backslashes up to its end mark,
			 * is its own JSON text between quotes: no copy through the code-unit path (two
			 * allocations and a pass per character, 2k instructions of a lake row's 27k) */
			size_t e = *i;
			while (e < n && k[e] >= 0x20 && k[e] < 0x7f && k[e] != '"' && k[e] != '\\')
				e++;
			if (e < n && k[e] == 0 && (e + 1 == n || k[e + 1] != 0xFF)) {
				ids_buf_putc(out, '"');
				ids_buf_append(out, k + *i, e - *i);
				*i = e + 1;
				return ids_buf_putc(out, '"');
			}
		}
		ids_buf tmp = IDS_BUF_INIT;
		int rc = get_bytes(k, n, i, &tmp);
		if (!rc && type == K_STR)
			rc = units_to_json((const uint8_t *)(tmp.data ? tmp.data : ""), tmp.len, out);
		if (!rc && type == K_BIN) {
			ids_buf_puts(out, "{\"$bin\":\"");
			ids_base64_encode((const uint8_t *)(tmp.data ? tmp.data : ""), tmp.len, out);
			rc = ids_buf_puts(out, "\"}");
		}
		ids_buf_free(&tmp);
		return rc;
	}
	case K_ARR: {
		ids_buf_putc(out, '[');
		int first = 1;
		while (*i < n && k[*i] != 0) {
			if (!first)
				ids_buf_putc(out, ',');
			first = 0;
			int rc = decode(k, n, i, out, depth + 1);
			if (rc)
				return rc;
		}
		if (*i >= n)
			return IDS_ECORRUPT;
		(*i)++;
		return ids_buf_putc(out, ']');
	}
	default:
		return IDS_ECORRUPT;
	}
}

int ids_key_to_json(const uint8_t *k, size_t n, ids_buf *out, ids_error *err)
{
	size_t i = 0;
	int rc = decode(k, n, &i, out, 0);
	if (!rc && i != n)
		rc = IDS_ECORRUPT;
	if (rc)
		return ids_fail(err, rc == IDS_ECORRUPT ? IDS_ECORRUPT : rc, "stored key is corrupt at byte %zu", i);
	return 0;
}
