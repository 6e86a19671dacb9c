/* The JSON lexer, once: strings (escapes and UTF-8 checked, 8 bytes at a time over plain
 * ASCII), numbers, and the unescaping of string text. Both tokenizers stand on it: the token
 * array of push bodies and stored values (json.c) and the Parquet writer's streaming scanner
 * (parquet/json/pqj.c); the Parquet reader's JSON check uses the token array. */
#include "idbsync/json.h"

#include <stdio.h>
#include <string.h>

#include "idbsync/value.h"


static int hexval(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

static int jfail(ids_jlex *x, const char *at, int code)
{
	x->bad = at;
	x->err = code;
	return code;
}

int ids_jlex_string(const char *p, const char *end, ids_jlex *x)
{
	x->escaped = 0;
	x->err = 0;
	for (;;) {
		while (end - p >= 8) {
			uint64_t w;
			memcpy(&w, p, 8);
			uint64_t m = ids_jlex_special8(w);
			if (m) {
				p += __builtin_ctzll(m) >> 3;
				break;
			}
			p += 8;
		}
		while (p < end && (unsigned char)*p >= 0x20 && (unsigned char)*p < 0x80 && *p != '"' && *p != '\\')
			p++;
		if (p >= end)
			return jfail(x, NULL, IDS_JLEX_UNTERMINATED);
		unsigned char c = (unsigned char)*p;
		if (c == '"') {
			x->end = p;
			return 0;
		}
		if (c < 0x20)
			return jfail(x, p, IDS_JLEX_CONTROL);
		if (c == '\\') {
			x->escaped = 1;
			if (end - p < 2)
				return jfail(x, NULL, IDS_JLEX_UNTERMINATED);
			char e = p[1];
			if (e == 'u') {
				if (end - p < 6 || hexval(p[2]) < 0 || hexval(p[3]) < 0 || hexval(p[4]) < 0 || hexval(p[5]) < 0)
					return jfail(x, p, IDS_JLEX_UESCAPE);
				p += 6;
			} else if (e && strchr("\"\\/bfnrt", e)) {
				p += 2;
			} else {
				return jfail(x, p, IDS_JLEX_ESCAPE);
			}
			continue;
		}
		size_t k = ids_utf8_len((const uint8_t *)p, (size_t)(end - p));
		if (!k)
			return jfail(x, p, IDS_JLEX_UTF8);
		p += k;
	}
}

/* Digits from p on, appended to *v (wrapping: callers count them); returns the end. (Eight
 * at a time with SWAR multiplies took more instructions than this loop: most JSON numbers
 * are short.) */
static inline const char *digits(const char *p, const char *end, uint64_t *v)
{
	uint64_t acc = *v;
	while (p < end && (unsigned char)(*p - '0') < 10)
		acc = acc * 10 + (unsigned)(*p++ - '0');
	*v = acc;
	return p;
}

static const double pow10_dbl[23] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

int ids_jlex_number(const char *s, const char *end, ids_jlex *x)
{
	const char *p = s;
	int neg = 0;
	x->err = 0;
	if (p < end && *p == '-') {
		neg = 1;
		p++;
	}
	if (p >= end || *p < '0' || *p > '9')
		return jfail(x, s, IDS_JLEX_NUMBER);
	/* v gathers every digit, integer and fraction, as one decimal mantissa; it is only
	 * trusted when there are at most 19 of them (19 digits always fit in uint64) */
	uint64_t v = 0;
	int nd = 0, nfrac = 0;
	if (*p == '0') {
		p++;
	} else {
		const char *d0 = p;
		p = digits(p, end, &v);
		nd = (int)(p - d0);
	}
	int is_int = 1, over = nd > 19;
	if (p < end && *p == '.') {
		is_int = 0;
		p++;
		if (p >= end || *p < '0' || *p > '9')
			return jfail(x, p, IDS_JLEX_FRACTION);
		const char *f0 = p;
		p = digits(p, end, &v);
		nfrac = (int)(p - f0);
	}
	int exp10 = -nfrac;
	if (p < end && (*p == 'e' || *p == 'E')) {
		is_int = 0;
		p++;
		int eneg = 0, ev = 0;
		if (p < end && (*p == '+' || *p == '-'))
			eneg = *p++ == '-';
		if (p >= end || *p < '0' || *p > '9')
			return jfail(x, p, IDS_JLEX_EXPONENT);
		/* capped: beyond +-22 it only matters that it is out of the fast path's range */
		while (p < end && *p >= '0' && *p <= '9') {
			if (ev < 100000)
				ev = ev * 10 + (*p - '0');
			p++;
		}
		exp10 += eneg ? -ev : ev;
	}
	x->end = p;
	x->is_int = is_int;
	x->fits = 0;
	if (is_int && !over) {
		if (!neg && v <= (uint64_t)INT64_MAX) {
			x->fits = 1;
			x->i = (int64_t)v;
		} else if (neg && v <= (uint64_t)INT64_MAX + 1) {
			x->fits = 1;
			x->i = (int64_t)(0 - v);
		}
	}
	/* the double is made only when asked for (ids_jlex_double): most numbers are integers */
	x->neg = neg;
	x->mant = v;
	x->exp10 = exp10;
	x->ndig = nd + nfrac;
	return 0;
}

int ids_jlex_double(const ids_jlex *x, double *out)
{
	/* Clinger's fast path: a mantissa up to 2^53 is an exact double, and so is every power
	 * of ten up to 1e22, so one IEEE multiply or divide rounds correctly (as strtod does) */
	if (x->ndig > 19 || x->mant > (1ULL << 53) || x->exp10 < -22 || x->exp10 > 22)
		return -1;
	double d = (double)x->mant;
	d = x->exp10 < 0 ? d / pow10_dbl[-x->exp10] : d * pow10_dbl[x->exp10];
	*out = x->neg ? -d : d;
	return 0;
}

const char *ids_jlex_why(const ids_jlex *x, char *buf, size_t n)
{
	switch (x->err) {
	case IDS_JLEX_UNTERMINATED: return "unterminated string";
	case IDS_JLEX_CONTROL: return "control character in string (must be escaped)";
	case IDS_JLEX_UTF8: return "invalid UTF-8 in string";
	case IDS_JLEX_UESCAPE: return "bad \\u escape";
	case IDS_JLEX_ESCAPE:
		snprintf(buf, n, "bad escape '\\%c'", x->bad[1] >= 0x20 && x->bad[1] < 0x7f ? x->bad[1] : '?');
		return buf;
	case IDS_JLEX_NUMBER: return "invalid number";
	case IDS_JLEX_FRACTION: return "expected digit after '.'";
	case IDS_JLEX_EXPONENT: return "expected digit in exponent";
	default: return "invalid JSON";
	}
}

static unsigned hex4(const char *s)
{
	return (unsigned)(hexval(s[0]) << 12 | hexval(s[1]) << 8 | hexval(s[2]) << 4 | hexval(s[3]));
}

long ids_json_unescape_text(const char *s, size_t n, int policy, ids_buf *out, const char **bad)
{
	long lone = 0;
	/* no up-front reserve: the unescaped text is shorter, and a capped buffer must only count
	 * what is really stored */
	for (size_t i = 0; i < n;) {
		if (s[i] != '\\') {
			const char *r = memchr(s + i, '\\', n - i);
			size_t e = r ? (size_t)(r - s) : n;
			ids_buf_append(out, s + i, e - i);
			i = e;
			continue;
		}
		char e = s[i + 1], c, tmp[4];
		switch (e) {
		case 'b': c = '\b'; break;
		case 'f': c = '\f'; break;
		case 'n': c = '\n'; break;
		case 'r': c = '\r'; break;
		case 't': c = '\t'; break;
		case 'u': {
			size_t at = i;
			unsigned cp = hex4(s + i + 2);
			i += 6;
			if (cp >= 0xD800 && cp < 0xDC00 && i + 6 <= n && s[i] == '\\' && s[i + 1] == 'u') {
				unsigned lo = hex4(s + i + 2);
				if (lo >= 0xDC00 && lo < 0xE000) {
					cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
					i += 6;
				}
			}
			if (cp >= 0xD800 && cp < 0xE000) {
				/* a lone surrogate: JavaScript strings hold them, UTF-8 text cannot */
				lone++;
				if (policy == IDS_UNESC_STRICT) {
					if (bad)
						*bad = s + at;
					return -1;
				}
				if (policy == IDS_UNESC_FFFD)
					cp = 0xFFFD;
			}
			ids_buf_append(out, tmp, ids_utf8_put(tmp, cp));
			continue;
		}
		default: c = e; break;
		}
		ids_buf_putc(out, c);
		i += 2;
	}
	return lone;
}
