/* Strict streaming JSON scanning primitives used by NDJSON inference and shredding.
 * Hot paths (strings, integers) scan 8 bytes at a time and avoid copies: a string
 * without escapes is returned as a span of the input. */
#include "pqj.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void pqj_init(pqj *j, ids_error *err)
{
	memset(j, 0, sizeof *j);
	j->err = err;
	ids_buf_init(&j->scratch, 0);
	ids_buf_init(&j->scratch2, 0);
}

void pqj_reset(pqj *j, const char *text, size_t len)
{
	j->start = j->p = text;
	j->end = text + len;
	j->err_off = 0;
}

void pqj_free(pqj *j)
{
	ids_buf_free(&j->scratch);
	ids_buf_free(&j->scratch2);
}

int pqj_fail(pqj *j, const char *at, const char *fmt, ...)
{
	j->err_off = (size_t)(at - j->start);
	if (j->err) {
		va_list ap;
		va_start(ap, fmt);
		j->err->code = IDS_EINVAL;
		vsnprintf(j->err->msg, sizeof j->err->msg, fmt, ap);
		va_end(ap);
	}
	return IDS_EINVAL;
}

/* Length of the UTF-8 sequence at p (1..4) if valid, else 0. */
static size_t utf8_seq(const uint8_t *p, const uint8_t *e)
{
	uint8_t c = p[0];
	if (c < 0x80)
		return 1;
	if (c < 0xC2)
		return 0;
	if (c < 0xE0) {
		if (e - p < 2 || (p[1] & 0xC0) != 0x80)
			return 0;
		return 2;
	}
	if (c < 0xF0) {
		if (e - p < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
			return 0;
		if (c == 0xE0 && p[1] < 0xA0)
			return 0;        /* overlong */
		if (c == 0xED && p[1] >= 0xA0)
			return 0;        /* surrogate */
		return 3;
	}
	if (c < 0xF5) {
		if (e - p < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 ||
		    (p[3] & 0xC0) != 0x80)
			return 0;
		if (c == 0xF0 && p[1] < 0x90)
			return 0;
		if (c == 0xF4 && p[1] >= 0x90)
			return 0;
		return 4;
	}
	return 0;
}

int pqj_utf8_ok(const uint8_t *p, size_t n)
{
	const uint8_t *e = p + n;
	while (p < e) {
		if (*p < 0x80) {
			p++;
			continue;
		}
		size_t k = utf8_seq(p, e);
		if (!k)
			return 0;
		p += k;
	}
	return 1;
}

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL
/* Nonzero when some byte of x is '"', '\\', < 0x20 or >= 0x80. */
static inline uint64_t special8(uint64_t x)
{
	uint64_t q = x ^ (ONES * '"'), b = x ^ (ONES * '\\');
	uint64_t t = ((q - ONES) & ~q) | ((b - ONES) & ~b) | (x - ONES * 0x20) | x;
	return t & HIGHS;
}

static int hex4(const char *p, unsigned *out)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static void put_utf8(ids_buf *b, unsigned cp)
{
	char t[4];
	size_t n;
	if (cp < 0x80) {
		t[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		t[0] = (char)(0xC0 | (cp >> 6));
		t[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		t[0] = (char)(0xE0 | (cp >> 12));
		t[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		t[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		t[0] = (char)(0xF0 | (cp >> 18));
		t[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		t[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		t[3] = (char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	ids_buf_append(b, t, n);
}

/* Slow path once a backslash was seen: decodes from `from` to the closing quote. */
static int string_escaped(pqj *j, const char *begin, const char *from, int slot, const char **s,
			  size_t *n)
{
	ids_buf *b = slot ? &j->scratch2 : &j->scratch;
	ids_buf_reset(b);
	ids_buf_append(b, begin, (size_t)(from - begin));
	const char *p = from, *e = j->end;
	while (p < e) {
		unsigned char c = (unsigned char)*p;
		if (c == '"') {
			if (b->failed)
				return pqj_fail(j, p, "string too large");
			j->p = p + 1;
			*s = b->data ? b->data : "";
			*n = b->len;
			return 0;
		}
		if (c < 0x20)
			return pqj_fail(j, p, "control character in string (must be escaped)");
		if (c >= 0x80) {
			size_t k = utf8_seq((const uint8_t *)p, (const uint8_t *)e);
			if (!k)
				return pqj_fail(j, p, "invalid UTF-8 in string");
			ids_buf_append(b, p, k);
			p += k;
			continue;
		}
		if (c != '\\') {
			const char *r = p;
			while (p < e && (unsigned char)*p >= 0x20 && (unsigned char)*p < 0x80 &&
			       *p != '"' && *p != '\\')
				p++;
			ids_buf_append(b, r, (size_t)(p - r));
			continue;
		}
		if (e - p < 2)
			return pqj_fail(j, p, "unterminated string");
		char x = p[1], ch;
		switch (x) {
		case '"': ch = '"'; break;
		case '\\': ch = '\\'; break;
		case '/': ch = '/'; break;
		case 'b': ch = '\b'; break;
		case 'f': ch = '\f'; break;
		case 'n': ch = '\n'; break;
		case 'r': ch = '\r'; break;
		case 't': ch = '\t'; break;
		case 'u': {
			unsigned cp, lo;
			if (e - p < 6 || hex4(p + 2, &cp))
				return pqj_fail(j, p, "bad \\u escape");
			p += 6;
			if (cp >= 0xD800 && cp <= 0xDBFF) {
				if (e - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, &lo) ||
				    lo < 0xDC00 || lo > 0xDFFF)
					return pqj_fail(j, p - 6, "unpaired surrogate in \\u escape");
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				p += 6;
			} else if (cp >= 0xDC00 && cp <= 0xDFFF) {
				return pqj_fail(j, p - 6, "unpaired surrogate in \\u escape");
			}
			put_utf8(b, cp);
			continue;
		}
		default:
			return pqj_fail(j, p, "bad escape '\\%c'", x);
		}
		ids_buf_putc(b, ch);
		p += 2;
	}
	return pqj_fail(j, begin - 1, "unterminated string");
}

int pqj_string(pqj *j, int slot, const char **s, size_t *n)
{
	const char *begin = j->p + 1, *p = begin, *e = j->end;
	for (;;) {
		while (e - p >= 8) {
			uint64_t x;
			memcpy(&x, p, 8);
			uint64_t m = special8(x);
			if (m) {
				/* the lowest flagged byte is a real one (false positives only
				 * appear above it), so jump straight to it */
				p += __builtin_ctzll(m) >> 3;
				break;
			}
			p += 8;
		}
		if (p >= e)
			return pqj_fail(j, begin - 1, "unterminated string");
		unsigned char c = (unsigned char)*p;
		if (c == '"') {
			*s = begin;
			*n = (size_t)(p - begin);
			j->p = p + 1;
			return 0;
		}
		if (c == '\\')
			return string_escaped(j, begin, p, slot, s, n);
		if (c < 0x20)
			return pqj_fail(j, p, "control character in string (must be escaped)");
		if (c >= 0x80) {
			size_t k = utf8_seq((const uint8_t *)p, (const uint8_t *)e);
			if (!k)
				return pqj_fail(j, p, "invalid UTF-8 in string");
			p += k;
		} else {
			p++;
		}
	}
}

int pqj_number(pqj *j, pqj_num *out)
{
	const char *s = j->p, *p = s, *e = j->end;
	int neg = 0;
	if (p < e && *p == '-') {
		neg = 1;
		p++;
	}
	if (p >= e || *p < '0' || *p > '9')
		return pqj_fail(j, s, "invalid number");
	uint64_t v = 0;
	int over = 0;
	if (*p == '0') {
		p++;
	} else {
		/* 19 digits always fit in uint64 (and int64 needs no more): v is only
		 * trusted when there are at most 19 */
		const char *d0 = p;
		while (p < e && (unsigned char)(*p - '0') < 10)
			v = v * 10 + (unsigned)(*p++ - '0');
		over = p - d0 > 19;
	}
	int is_int = 1;
	if (p < e && *p == '.') {
		is_int = 0;
		p++;
		if (p >= e || *p < '0' || *p > '9')
			return pqj_fail(j, p, "expected digit after '.'");
		while (p < e && (unsigned char)(*p - '0') < 10)
			p++;
	}
	if (p < e && (*p == 'e' || *p == 'E')) {
		is_int = 0;
		p++;
		if (p < e && (*p == '+' || *p == '-'))
			p++;
		if (p >= e || *p < '0' || *p > '9')
			return pqj_fail(j, p, "expected digit in exponent");
		while (p < e && *p >= '0' && *p <= '9')
			p++;
	}
	out->s = s;
	out->n = (size_t)(p - s);
	out->is_int = is_int;
	out->fits = 0;
	if (is_int && !over) {
		if (!neg && v <= (uint64_t)INT64_MAX) {
			out->fits = 1;
			out->i = (int64_t)v;
		} else if (neg && v <= (uint64_t)INT64_MAX + 1) {
			out->fits = 1;
			out->i = (int64_t)(0 - v);
		}
	}
	j->p = p;
	return 0;
}

int pqj_literal(pqj *j, int *val)
{
	const char *p = j->p;
	size_t left = (size_t)(j->end - p);
	if (left >= 4 && !memcmp(p, "true", 4)) {
		*val = 1;
		j->p += 4;
	} else if (left >= 5 && !memcmp(p, "false", 5)) {
		*val = 0;
		j->p += 5;
	} else if (left >= 4 && !memcmp(p, "null", 4)) {
		*val = -1;
		j->p += 4;
	} else {
		return pqj_fail(j, p, "invalid literal");
	}
	return 0;
}

int pqj_skip(pqj *j, int depth)
{
	char c = pqj_peek(j);
	const char *s;
	size_t n;
	int v, rc;
	switch (c) {
	case '"':
		return pqj_string(j, 0, &s, &n);
	case '{':
	case '[':
		if (depth >= PQJ_MAX_DEPTH)
			return pqj_fail(j, j->p, "nesting deeper than %d", PQJ_MAX_DEPTH);
		j->p++;
		if (pqj_peek(j) == (c == '{' ? '}' : ']')) {
			j->p++;
			return 0;
		}
		for (;;) {
			if (c == '{') {
				if (pqj_peek(j) != '"')
					return pqj_fail(j, j->p, "expected string key");
				if ((rc = pqj_string(j, 0, &s, &n)) || (rc = pqj_expect(j, ':', "':'")))
					return rc;
			}
			if ((rc = pqj_skip(j, depth + 1)))
				return rc;
			char d = pqj_peek(j);
			if (d == ',') {
				j->p++;
				continue;
			}
			if (d == (c == '{' ? '}' : ']')) {
				j->p++;
				return 0;
			}
			return pqj_fail(j, j->p, c == '{' ? "expected ',' or '}'" : "expected ',' or ']'");
		}
	case 't':
	case 'f':
	case 'n':
		return pqj_literal(j, &v);
	default:
		if (c == '-' || (c >= '0' && c <= '9')) {
			pqj_num num;
			return pqj_number(j, &num);
		}
		return pqj_fail(j, j->p, j->p >= j->end ? "unexpected end of input" : "expected a value");
	}
}

static const double pow10_tab[23] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

double pqj_to_double(const char *s, size_t n)
{
	/* Clinger's fast path: an exact mantissa below 2^53 times an exact power of ten
	 * is correctly rounded by one IEEE operation; everything else goes to strtod. */
	const char *p = s, *e = s + n;
	int neg = 0;
	if (p < e && *p == '-') {
		neg = 1;
		p++;
	}
	uint64_t m = 0;
	int digits = 0, exp10 = 0;
	for (; p < e && *p >= '0' && *p <= '9'; p++) {
		if (m || *p != '0')
			digits++;
		m = m * 10 + (uint64_t)(*p - '0');
		if (digits > 15)
			goto slow;
	}
	if (p < e && *p == '.') {
		for (p++; p < e && *p >= '0' && *p <= '9'; p++) {
			if (m || *p != '0')
				digits++;
			m = m * 10 + (uint64_t)(*p - '0');
			exp10--;
			if (digits > 15)
				goto slow;
		}
	}
	if (p < e && (*p == 'e' || *p == 'E')) {
		p++;
		int eneg = 0, ev = 0;
		if (p < e && (*p == '+' || *p == '-'))
			eneg = *p++ == '-';
		for (; p < e && *p >= '0' && *p <= '9'; p++) {
			ev = ev * 10 + (*p - '0');
			if (ev > 10000)
				goto slow;
		}
		exp10 += eneg ? -ev : ev;
	}
	if (exp10 >= -22 && exp10 <= 22) {
		double d = (double)m;
		d = exp10 < 0 ? d / pow10_tab[-exp10] : d * pow10_tab[exp10];
		return neg ? -d : d;
	}
slow:;
	char tmp[128], *buf = tmp;
	if (n >= sizeof tmp && !(buf = malloc(n + 1)))
		return NAN;
	memcpy(buf, s, n);
	buf[n] = 0;
	double d = strtod(buf, NULL);
	if (buf != tmp)
		free(buf);
	return d;
}

int pqj_tagged(pqj *j, const char **s, size_t *n)
{
	const char *save = j->p;
	/* the compact form writers emit: {"$date":"...  */
	if (j->end - j->p > 10 && j->p[0] == '{' && j->p[1] == '"' && j->p[2] == '$') {
		int tag = 0;
		size_t k = 0;
		if (!memcmp(j->p + 3, "date\":\"", 7))
			tag = PQJ_TAG_DATE, k = 10;
		else if (!memcmp(j->p + 3, "bin\":\"", 6))
			tag = PQJ_TAG_BIN, k = 9;
		else if (!memcmp(j->p + 3, "num\":\"", 6))
			tag = PQJ_TAG_NUM, k = 9;
		if (tag) {
			j->p += k - 1;
			int rc = pqj_string(j, 0, s, n);
			if (rc)
				return rc;
			if (j->p < j->end && *j->p == '}') {
				j->p++;
				return tag;
			}
			if (pqj_peek(j) == '}') {
				j->p++;
				return tag;
			}
			j->p = save;
			return 0;
		}
	}
	if (pqj_peek(j) != '{')
		return 0;
	j->p++;
	if (pqj_peek(j) != '"' || j->end - j->p < 2 || j->p[1] != '$') {
		j->p = save;
		return 0;
	}
	const char *k;
	size_t kn;
	int rc = pqj_string(j, 1, &k, &kn);
	if (rc)
		return rc;
	int tag = PQJ_TAG_NONE;
	if (kn == 5 && !memcmp(k, "$date", 5))
		tag = PQJ_TAG_DATE;
	else if (kn == 4 && !memcmp(k, "$bin", 4))
		tag = PQJ_TAG_BIN;
	else if (kn == 4 && !memcmp(k, "$num", 4))
		tag = PQJ_TAG_NUM;
	if (!tag || pqj_expect(j, ':', "':'")) {
		j->p = save;
		return 0;
	}
	if (pqj_peek(j) == 'n' && j->end - j->p >= 4 && !memcmp(j->p, "null", 4)) {
		j->p += 4;   /* {"$date":null} is an Invalid Date: a null of the tag's type */
		*s = NULL;
		*n = 0;
	} else if (pqj_peek(j) != '"') {
		j->p = save;
		return 0;
	} else if ((rc = pqj_string(j, 0, s, n))) {
		return rc;
	}
	if (pqj_peek(j) != '}') {
		j->p = save;
		return 0;
	}
	j->p++;
	return tag;
}

int pqj_special_double(const char *s, size_t n, double *out)
{
	if (n == 3 && !memcmp(s, "NaN", 3))
		*out = NAN;
	else if (n == 8 && !memcmp(s, "Infinity", 8))
		*out = INFINITY;
	else if (n == 9 && !memcmp(s, "-Infinity", 9))
		*out = -INFINITY;
	else if (n == 2 && !memcmp(s, "-0", 2))
		*out = -0.0;
	else
		return IDS_EINVAL;
	return 0;
}
