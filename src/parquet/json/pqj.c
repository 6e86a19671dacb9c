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

int pqj_string_from(pqj *j, int slot, const char *from, const char **s, size_t *n)
{
	const char *begin = j->p + 1;
	ids_jlex x;
	char why[40];
	if (ids_jlex_string(from, j->end, &x))
		return pqj_fail(j, x.bad ? x.bad : begin - 1, "%s", ids_jlex_why(&x, why, sizeof why));
	j->p = x.end + 1;
	if (!x.escaped) {
		*s = begin;
		*n = (size_t)(x.end - begin);
		return 0;
	}
	ids_buf *b = slot ? &j->scratch2 : &j->scratch;
	ids_buf_reset(b);
	const char *bad = NULL;
	if (ids_json_unescape_text(begin, (size_t)(x.end - begin), IDS_UNESC_STRICT, b, &bad) < 0)
		return pqj_fail(j, bad, "unpaired surrogate in \\u escape");
	if (b->failed)
		return pqj_fail(j, x.end, "string too large");
	*s = b->data ? b->data : "";
	*n = b->len;
	return 0;
}

int pqj_number(pqj *j, pqj_num *out)
{
	ids_jlex *x = &out->lx;
	char why[40];
	if (ids_jlex_number(j->p, j->end, x))
		return pqj_fail(j, x->bad, "%s", ids_jlex_why(x, why, sizeof why));
	out->s = j->p;
	out->n = (size_t)(x->end - j->p);
	out->is_int = x->is_int;
	out->fits = x->fits;
	out->i = x->i;
	j->p = x->end;
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

int pqj_row_begin(pqj *j, const char *text, size_t len, ids_error *err)
{
	j->err = err;
	pqj_reset(j, text, len);
	if (pqj_peek(j) != '{')
		return pqj_fail(j, j->p, j->p >= j->end ? "empty row" : "a row must be a JSON object");
	return 0;
}

int pqj_row_end(pqj *j, int rc, size_t *err_off)
{
	if (!rc && pqj_peek(j))
		rc = pqj_fail(j, j->p, "unexpected data after the row's object");
	if (rc && err_off)
		*err_off = j->err_off;
	return rc;
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
			if ((rc = pqj_next(j, c == '{' ? '}' : ']')) <= 0)
				return rc;
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

