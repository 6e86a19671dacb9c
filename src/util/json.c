/* Zero-copy JSON tokenizer: validates RFC 8259 JSON (including UTF-8 in strings) and
 * records token spans so the push path never re-serializes client values. */
#include "idbsync/json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct parser {
	ids_json *j;
	const char *s;
	size_t n, pos, max_tokens;
	int max_depth;
	ids_error *err;
} parser;

static int fail_at(parser *p, size_t at, const char *what)
{
	size_t line = 1, col = 1;
	for (size_t i = 0; i < at && i < p->n; i++) {
		if (p->s[i] == '\n') {
			line++;
			col = 1;
		} else {
			col++;
		}
	}
	return ids_fail(p->err, IDS_EINVAL, "invalid JSON at byte %zu (line %zu, column %zu): %s", at, line,
			col, what);
}

static void skip_ws(parser *p)
{
	while (p->pos < p->n) {
		char c = p->s[p->pos];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		p->pos++;
	}
}

static long new_tok(parser *p, ids_jtype type)
{
	ids_json *j = p->j;
	if (j->ntok >= p->max_tokens) {
		ids_fail(p->err, IDS_ELIMIT, "JSON has more than %zu values", p->max_tokens);
		return -1;
	}
	if (j->ntok == j->cap) {
		size_t nc = j->cap ? j->cap * 2 : 64;
		ids_jtok *t = realloc(j->tok, nc * sizeof *t);
		if (!t) {
			ids_fail(p->err, IDS_ENOMEM, "out of memory parsing JSON");
			return -1;
		}
		j->tok = t;
		j->cap = nc;
	}
	ids_jtok *t = &j->tok[j->ntok];
	*t = (ids_jtok){.type = (uint8_t)type, .start = (uint32_t)p->pos};
	return (long)j->ntok++;
}

static int parse_string(parser *p)
{
	long t = new_tok(p, IDS_JSTR);
	if (t < 0)
		return p->err ? p->err->code : IDS_EINVAL;
	ids_jlex x;
	char why[40];
	if (ids_jlex_string(p->s + p->pos + 1, p->s + p->n, &x))
		return fail_at(p, x.bad ? (size_t)(x.bad - p->s) : p->pos, ids_jlex_why(&x, why, sizeof why));
	size_t i = (size_t)(x.end - p->s);
	ids_jtok *tk = &p->j->tok[t];
	tk->escaped = (uint8_t)x.escaped;
	tk->end = (uint32_t)(i + 1);
	tk->next = (uint32_t)p->j->ntok;
	p->pos = i + 1;
	return 0;
}

static int parse_number(parser *p)
{
	long t = new_tok(p, IDS_JNUM);
	if (t < 0)
		return p->err ? p->err->code : IDS_EINVAL;
	ids_jlex x;
	char why[40];
	if (ids_jlex_number(p->s + p->pos, p->s + p->n, &x))
		return fail_at(p, (size_t)(x.bad - p->s), ids_jlex_why(&x, why, sizeof why));
	ids_jtok *tk = &p->j->tok[t];
	tk->is_int = (uint8_t)x.is_int;
	tk->end = (uint32_t)(x.end - p->s);
	tk->next = (uint32_t)p->j->ntok;
	p->pos = tk->end;
	return 0;
}

static int parse_value(parser *p, int depth);

static int parse_container(parser *p, int depth, int is_obj)
{
	if (depth >= p->max_depth)
		return ids_fail(p->err, IDS_ELIMIT, "JSON nested deeper than %d levels at byte %zu", p->max_depth,
				p->pos);
	long t = new_tok(p, is_obj ? IDS_JOBJ : IDS_JARR);
	if (t < 0)
		return p->err ? p->err->code : IDS_EINVAL;
	char close = is_obj ? '}' : ']';
	uint32_t count = 0;
	p->pos++;
	skip_ws(p);
	if (p->pos < p->n && p->s[p->pos] == close) {
		p->pos++;
	} else {
		for (;;) {
			skip_ws(p);
			if (is_obj) {
				if (p->pos >= p->n || p->s[p->pos] != '"')
					return fail_at(p, p->pos, "object key (a string) expected");
				int rc = parse_string(p);
				if (rc)
					return rc;
				skip_ws(p);
				if (p->pos >= p->n || p->s[p->pos] != ':')
					return fail_at(p, p->pos, "':' expected after object key");
				p->pos++;
			}
			int rc = parse_value(p, depth + 1);
			if (rc)
				return rc;
			count++;
			skip_ws(p);
			if (p->pos >= p->n)
				return fail_at(p, p->pos, is_obj ? "unterminated object" : "unterminated array");
			if (p->s[p->pos] == ',') {
				p->pos++;
				continue;
			}
			if (p->s[p->pos] == close) {
				p->pos++;
				break;
			}
			return fail_at(p, p->pos, is_obj ? "',' or '}' expected" : "',' or ']' expected");
		}
	}
	ids_jtok *tk = &p->j->tok[t];
	tk->size = count;
	tk->end = (uint32_t)p->pos;
	tk->next = (uint32_t)p->j->ntok;
	return 0;
}

static int parse_literal(parser *p, const char *lit, ids_jtype type)
{
	size_t l = strlen(lit);
	if (p->n - p->pos < l || memcmp(p->s + p->pos, lit, l) != 0)
		return fail_at(p, p->pos, "unexpected character");
	long t = new_tok(p, type);
	if (t < 0)
		return p->err ? p->err->code : IDS_EINVAL;
	p->pos += l;
	p->j->tok[t].end = (uint32_t)p->pos;
	p->j->tok[t].next = (uint32_t)p->j->ntok;
	return 0;
}

static int parse_value(parser *p, int depth)
{
	skip_ws(p);
	if (p->pos >= p->n)
		return fail_at(p, p->pos, "value expected, found end of input");
	switch (p->s[p->pos]) {
	case '{': return parse_container(p, depth, 1);
	case '[': return parse_container(p, depth, 0);
	case '"': return parse_string(p);
	case 't': return parse_literal(p, "true", IDS_JTRUE);
	case 'f': return parse_literal(p, "false", IDS_JFALSE);
	case 'n': return parse_literal(p, "null", IDS_JNULL);
	default:
		if (p->s[p->pos] == '-' || (p->s[p->pos] >= '0' && p->s[p->pos] <= '9'))
			return parse_number(p);
		return fail_at(p, p->pos, "unexpected character");
	}
}

int ids_json_parse(ids_json *j, const char *text, size_t len, size_t max_tokens, int max_depth,
		   ids_error *err)
{
	if (len > UINT32_MAX - 1)
		return ids_fail(err, IDS_ELIMIT, "JSON text over 4 GiB");
	j->text = text;
	j->len = len;
	j->ntok = 0;
	parser p = {j, text, len, 0, max_tokens ? max_tokens : SIZE_MAX, max_depth ? max_depth : 64, err};
	/* JSON averages under one token per 8 bytes: sized once, the array is rarely
	 * copied as it grows (capped by max_tokens, so a body cannot reserve more than it may use) */
	size_t want = len / 8 + 16;
	if (want > p.max_tokens)
		want = p.max_tokens;
	if (want > j->cap) {
		ids_jtok *t = realloc(j->tok, want * sizeof *t);
		if (t) {
			j->tok = t;
			j->cap = want;
		}
	}
	int rc = parse_value(&p, 0);
	if (rc)
		return rc;
	skip_ws(&p);
	if (p.pos != len)
		return fail_at(&p, p.pos, "unexpected data after the JSON value");
	return 0;
}

int ids_json_parse_at(ids_json *j, const char *text, size_t len, size_t *pos, int depth, size_t max_tokens,
		      int max_depth, ids_error *err)
{
	if (len > UINT32_MAX - 1)
		return ids_fail(err, IDS_ELIMIT, "JSON text over 4 GiB");
	j->text = text;
	j->len = len;
	parser p = {j, text, len, *pos, max_tokens, max_depth ? max_depth : 64, err};
	int rc = parse_value(&p, depth);
	*pos = p.pos;
	return rc;
}

void ids_json_free(ids_json *j)
{
	free(j->tok);
	memset(j, 0, sizeof *j);
}

long ids_json_get(const ids_json *j, size_t obj, const char *name)
{
	if (obj >= j->ntok || j->tok[obj].type != IDS_JOBJ)
		return -1;
	size_t t = obj + 1;
	for (uint32_t k = 0; k < j->tok[obj].size; k++) {
		if (ids_json_streq(j, t, name))
			return (long)(t + 1);
		t = j->tok[t + 1].next;
	}
	return -1;
}

int ids_json_unescape(const ids_json *j, size_t t, ids_buf *out)
{
	const ids_jtok *tk = &j->tok[t];
	const char *s = j->text + tk->start + 1;
	size_t n = tk->end - tk->start - 2;
	if (!tk->escaped)
		return ids_buf_append(out, s, n);
	/* lone surrogates become U+FFFD so the output is always valid UTF-8 */
	ids_json_unescape_text(s, n, IDS_UNESC_FFFD, out, NULL);
	return out->failed;
}

int ids_json_streq(const ids_json *j, size_t t, const char *s)
{
	const ids_jtok *tk = &j->tok[t];
	if (tk->type != IDS_JSTR)
		return 0;
	size_t n = strlen(s);
	if (!tk->escaped)
		return tk->end - tk->start - 2 == n && memcmp(j->text + tk->start + 1, s, n) == 0;
	ids_buf tmp = IDS_BUF_INIT;
	int eq = !ids_json_unescape(j, t, &tmp) && tmp.len == n && (n == 0 || memcmp(tmp.data, s, n) == 0);
	ids_buf_free(&tmp);
	return eq;
}

int ids_json_strcpy(const ids_json *j, size_t t, char *dst, size_t dstlen)
{
	ids_buf b;
	ids_buf_init(&b, dstlen ? dstlen - 1 : 0);
	int rc = ids_json_unescape(j, t, &b);
	if (!rc && memchr(b.data ? b.data : "", 0, b.len))
		rc = IDS_EINVAL; /* embedded NUL can't live in a C string */
	if (!rc) {
		memcpy(dst, b.data ? b.data : "", b.len);
		dst[b.len] = 0;
	}
	ids_buf_free(&b);
	return rc;
}

int ids_json_i64(const ids_json *j, size_t t, int64_t *out)
{
	const ids_jtok *tk = &j->tok[t];
	if (tk->type != IDS_JNUM || !tk->is_int)
		return IDS_EINVAL;
	size_t n = tk->end - tk->start;
	const char *s = j->text + tk->start;
	if (n <= 18) { /* up to 18 digits (or '-' and 17) cannot overflow */
		int neg = s[0] == '-';
		int64_t v = 0;
		for (size_t i = (size_t)neg; i < n; i++)
			v = v * 10 + (s[i] - '0');
		*out = neg ? -v : v;
		return 0;
	}
	char tmp[32];
	if (n >= sizeof tmp)
		return IDS_EINVAL;
	memcpy(tmp, j->text + tk->start, n);
	tmp[n] = 0;
	errno = 0;
	long long v = strtoll(tmp, NULL, 10);
	if (errno)
		return IDS_EINVAL;
	*out = v;
	return 0;
}

double ids_json_num(const ids_json *j, size_t t)
{
	const ids_jtok *tk = &j->tok[t];
	return ids_json_to_double(j->text + tk->start, tk->end - tk->start);
}

int ids_json_minify(const ids_json *j, size_t t, ids_buf *out)
{
	const char *s = j->text + j->tok[t].start;
	size_t n = j->tok[t].end - j->tok[t].start;
	int rc = ids_buf_reserve(out, n);
	if (rc)
		return rc;
	int in_str = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (in_str) {
			out->data[out->len++] = c;
			if (c == '\\') {
				out->data[out->len++] = s[++i];
			} else if (c == '"') {
				in_str = 0;
			}
		} else if (c == '"') {
			in_str = 1;
			out->data[out->len++] = c;
		} else if (c != ' ' && c != '\n' && c != '\r' && c != '\t') {
			out->data[out->len++] = c;
		}
	}
	out->data[out->len] = 0;
	return 0;
}
