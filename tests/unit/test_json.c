/* Unit tests for the zero-copy JSON tokenizer (src/util/json.c): token layout of valid
 * documents, rejection of invalid ones with byte/line/column messages, depth and token caps,
 * UTF-8 validation, unescaping (incl. surrogate pairs), the accessors, minify, and the
 * shortest round-trip double formatter. */
#include "idbsync/json.h"
#include "idbsync/value.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

static int parse(ids_json *j, const char *s, ids_error *err)
{
	return ids_json_parse(j, s, strlen(s), 0, 0, err);
}

static void token_layout(void)
{
	ids_json j = IDS_JSON_INIT;
	ids_error err = IDS_ERROR_INIT;
	const char *s = " {\"a\": [1, 2.5, {\"b\": null}], \"c\": \"x\", \"d\": true, \"e\": false} ";
	if (!CHECK_EQ_INT(parse(&j, s, &err), 0))
		return;
	/* obj, "a", arr, 1, 2.5, obj, "b", null, "c", "x", "d", true, "e", false */
	CHECK_EQ_INT(j.ntok, 14);
	CHECK_EQ_INT(j.tok[0].type, IDS_JOBJ);
	CHECK_EQ_INT(j.tok[0].size, 4);
	CHECK_EQ_INT(j.tok[0].start, 1);
	CHECK_EQ_INT(j.tok[0].end, strlen(s) - 1);
	CHECK_EQ_INT(j.tok[0].next, 14);
	CHECK_EQ_INT(j.tok[1].type, IDS_JSTR);
	CHECK_EQ_INT(j.tok[2].type, IDS_JARR);
	CHECK_EQ_INT(j.tok[2].size, 3);
	CHECK_EQ_INT(j.tok[2].next, 8);
	CHECK_EQ_INT(j.tok[3].type, IDS_JNUM);
	CHECK_EQ_INT(j.tok[3].is_int, 1);
	CHECK_EQ_INT(j.tok[4].is_int, 0);
	CHECK_EQ_INT(j.tok[5].type, IDS_JOBJ);
	CHECK_EQ_INT(j.tok[5].size, 1);
	CHECK_EQ_INT(j.tok[7].type, IDS_JNULL);
	CHECK_EQ_INT(j.tok[9].type, IDS_JSTR);
	CHECK_EQ_INT(j.tok[11].type, IDS_JTRUE);
	CHECK_EQ_INT(j.tok[13].type, IDS_JFALSE);
	/* the string token spans its quotes */
	CHECK(j.text[j.tok[9].start] == '"' && j.text[j.tok[9].end - 1] == '"');
	CHECK_EQ_INT(j.tok[9].end - j.tok[9].start, 3);

	/* scalars at top level, empty containers, number shapes */
	const char *ok[] = {"0", "-0", "1e5", "1.5E-3", "-12.25e+10", "\"\"", "[]", "{}", "[[]]", "null",
			    " \t\r\n[ ] ", "{\"\":{}}", "123456789012345678901234567890", NULL};
	for (int i = 0; ok[i]; i++) {
		int rc = parse(&j, ok[i], &err);
		if (!CHECK_EQ_INT(rc, 0))
			fprintf(stderr, "  input %s: %s\n", ok[i], err.msg);
	}
	CHECK_EQ_INT(parse(&j, "1e5", &err), 0);
	CHECK_EQ_INT(j.tok[0].is_int, 0);
	CHECK_EQ_INT(parse(&j, "-17", &err), 0);
	CHECK_EQ_INT(j.tok[0].is_int, 1);
	CHECK_EQ_INT(parse(&j, "[]", &err), 0);
	CHECK_EQ_INT(j.tok[0].size, 0);
	CHECK_EQ_INT(j.ntok, 1);
	ids_json_free(&j);
	ids_json_free(&j); /* free twice is harmless: the struct was reset */
}

static void invalid_documents(void)
{
	const char *bad[] = {"", "   ", "{", "[", "[1,]", "[1 2]", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{1:2}",
			     "{'a':1}", "01", "1.", ".5", "-", "1e", "1e+", "+1", "tru", "nul", "falsey", "\"abc",
			     "\"a\\x\"", "\"\\u12g4\"", "\"\\u12\"", "\"a\tb\"", "\"a\nb\"", "1 2", "NaN",
			     "Infinity", "[1]]", "{\"a\":1}}", "\"\\", "[\"a\",", NULL};
	ids_json j = IDS_JSON_INIT;
	for (int i = 0; bad[i]; i++) {
		ids_error err = IDS_ERROR_INIT;
		int rc = parse(&j, bad[i], &err);
		if (!CHECK_EQ_INT(rc, IDS_EINVAL)) {
			fprintf(stderr, "  input: %s\n", bad[i]);
			continue;
		}
		CHECK_EQ_INT(err.code, IDS_EINVAL);
		CHECK_HAS(err.msg, "invalid JSON at byte");
		CHECK_HAS(err.msg, "line");
		CHECK_HAS(err.msg, "column");
	}

	/* the position points at the offending byte */
	ids_error err = IDS_ERROR_INIT;
	CHECK_EQ_INT(parse(&j, "[1,\n  x]", &err), IDS_EINVAL);
	CHECK_HAS(err.msg, "byte 6 ");
	CHECK_HAS(err.msg, "line 2, column 3");
	CHECK_EQ_INT(parse(&j, "{\"a\":1}\n\n  ,", &err), IDS_EINVAL);
	CHECK_HAS(err.msg, "byte 11 ");
	CHECK_HAS(err.msg, "line 3, column 3");
	CHECK_HAS(err.msg, "after the JSON value");
	CHECK_EQ_INT(parse(&j, "\"ab\x01\"", &err), IDS_EINVAL);
	CHECK_HAS(err.msg, "byte 3 ");
	CHECK_HAS(err.msg, "control character");
	/* a length shorter than the text: only the prefix is parsed */
	CHECK_EQ_INT(ids_json_parse(&j, "[1,2]", 3, 0, 0, &err), IDS_EINVAL);
	CHECK_EQ_INT(ids_json_parse(&j, "12345", 2, 0, 0, &err), 0);
	CHECK_EQ_INT(j.tok[0].end, 2);
	/* NULL err is allowed */
	CHECK_EQ_INT(parse(&j, "[", NULL), IDS_EINVAL);
	ids_json_free(&j);
}

static char *nested(int depth, char open, char close, const char *inner)
{
	size_t il = strlen(inner);
	char *s = malloc((size_t)depth * 2 + il + 1);
	for (int i = 0; i < depth; i++)
		s[i] = open;
	memcpy(s + depth, inner, il);
	for (int i = 0; i < depth; i++)
		s[depth + il + i] = close;
	s[depth * 2 + il] = 0;
	return s;
}

static void caps(void)
{
	ids_json j = IDS_JSON_INIT;
	ids_error err = IDS_ERROR_INIT;
	char *s = nested(4, '[', ']', "1");
	CHECK_EQ_INT(ids_json_parse(&j, s, strlen(s), 0, 4, &err), 0);
	free(s);
	s = nested(5, '[', ']', "1");
	CHECK_EQ_INT(ids_json_parse(&j, s, strlen(s), 0, 4, &err), IDS_ELIMIT);
	CHECK_HAS(err.msg, "deeper than 4");
	free(s);
	/* default depth 64 */
	s = nested(64, '[', ']', "");
	CHECK_EQ_INT(ids_json_parse(&j, s, strlen(s), 0, 0, &err), 0);
	free(s);
	s = nested(65, '[', ']', "");
	CHECK_EQ_INT(ids_json_parse(&j, s, strlen(s), 0, 0, &err), IDS_ELIMIT);
	free(s);
	/* a hostile 100k-deep document fails cleanly (no stack overflow) */
	s = nested(100000, '[', ']', "");
	CHECK_EQ_INT(ids_json_parse(&j, s, strlen(s), 0, 0, &err), IDS_ELIMIT);
	free(s);
	/* objects count too */
	CHECK_EQ_INT(ids_json_parse(&j, "{\"a\":{\"b\":{}}}", 14, 0, 2, &err), IDS_ELIMIT);
	CHECK_EQ_INT(ids_json_parse(&j, "{\"a\":{\"b\":1}}", 13, 0, 2, &err), 0);

	/* token cap: keys count as tokens */
	CHECK_EQ_INT(ids_json_parse(&j, "[1,2]", 5, 3, 0, &err), 0);
	CHECK_EQ_INT(ids_json_parse(&j, "[1,2,3]", 7, 3, 0, &err), IDS_ELIMIT);
	CHECK_HAS(err.msg, "more than 3");
	CHECK_EQ_INT(ids_json_parse(&j, "{\"a\":1}", 7, 2, 0, &err), IDS_ELIMIT);
	CHECK_EQ_INT(ids_json_parse(&j, "{\"a\":1}", 7, 3, 0, &err), 0);
	/* many tokens with no cap: the token array grows */
	size_t n = 20000;
	char *big = malloc(n * 2 + 2);
	big[0] = '[';
	for (size_t i = 0; i < n; i++) {
		big[1 + 2 * i] = '7';
		big[2 + 2 * i] = i + 1 < n ? ',' : ']';
	}
	big[2 * n + 1] = 0;
	CHECK_EQ_INT(ids_json_parse(&j, big, strlen(big), 0, 0, &err), 0);
	CHECK_EQ_INT(j.ntok, n + 1);
	CHECK_EQ_INT(j.tok[0].size, n);
	CHECK_EQ_INT(ids_json_parse(&j, big, strlen(big), n, 0, &err), IDS_ELIMIT);
	free(big);
	ids_json_free(&j);
}

static void utf8(void)
{
	ids_json j = IDS_JSON_INIT;
	ids_error err = IDS_ERROR_INIT;
	const char *good[] = {"\"caf\xc3\xa9\"", "\"\xe2\x82\xac\"", "\"\xf0\x9f\x98\x80\"", "\"\xef\xbf\xbf\"",
			      "\"\xf4\x8f\xbf\xbf\"", NULL};
	for (int i = 0; good[i]; i++)
		CHECK_EQ_INT(parse(&j, good[i], &err), 0);
	const char *bad[] = {
		"\"\xff\"",                 /* never valid */
		"\"\x80\"",                 /* lone continuation byte */
		"\"\xc0\xaf\"",             /* overlong '/' */
		"\"\xe0\x80\xaf\"",         /* overlong 3-byte */
		"\"\xed\xa0\x80\"",         /* UTF-16 surrogate D800 encoded */
		"\"\xe2\x82\"",             /* truncated */
		"\"\xf4\x90\x80\x80\"",     /* > U+10FFFF */
		"\"\xf8\x88\x80\x80\x80\"", /* 5-byte form */
		"\"\xc3\"",                 /* truncated before the closing quote */
		"\"a\xc3(\"",               /* bad continuation */
		NULL};
	for (int i = 0; bad[i]; i++) {
		int rc = parse(&j, bad[i], &err);
		if (CHECK_EQ_INT(rc, IDS_EINVAL))
			CHECK_HAS(err.msg, "UTF-8");
		else
			fprintf(stderr, "  bad utf-8 case %d accepted\n", i);
	}
	/* invalid UTF-8 inside an object key is rejected too */
	CHECK_EQ_INT(parse(&j, "{\"\xff\":1}", &err), IDS_EINVAL);
	/* outside strings bytes >= 0x80 are just unexpected */
	CHECK_EQ_INT(parse(&j, "\xc3\xa9", &err), IDS_EINVAL);
	ids_json_free(&j);
}

/* The string scanner skips 8 plain bytes at a time: a byte that needs a look (quote,
 * backslash, control, non-ASCII) at any position of a word, after any run, is still seen. */
static void string_words(void)
{
	static const char *const odd[] = {"\"", "\\n", "\x01", "\x1f", "\xc3\xa9", "\xff", "\x7f", " "};
	static const int ok[] = {1, 1, 0, 0, 1, 0, 1, 1}; /* '"' ends the string early: still valid */
	int bad = 0;
	for (int len = 0; len < 24; len++)
		for (int at = 0; at <= len; at++)
			for (size_t k = 0; k < sizeof ok / sizeof ok[0]; k++) {
				char doc[64];
				int n = 0;
				doc[n++] = '"';
				for (int i = 0; i < len; i++) {
					if (i == at) {
						memcpy(doc + n, odd[k], strlen(odd[k]));
						n += (int)strlen(odd[k]);
					}
					doc[n++] = 'a';
				}
				if (at == len) {
					memcpy(doc + n, odd[k], strlen(odd[k]));
					n += (int)strlen(odd[k]);
				}
				doc[n++] = '"';
				ids_json j = IDS_JSON_INIT;
				int rc = ids_json_parse(&j, doc, (size_t)n, 0, 0, NULL);
				if (k == 0) /* a quote inside ends the string: what follows is trailing data */
					bad += rc != IDS_EINVAL;
				else if (ok[k])
					bad += rc != 0 || j.tok[0].end != (uint32_t)n || j.tok[0].escaped != (k == 1);
				else
					bad += rc != IDS_EINVAL;
				ids_json_free(&j);
			}
	CHECK_EQ_INT(bad, 0);
}

static void unescape_one(const char *json, const char *want, size_t want_len)
{
	ids_json j = IDS_JSON_INIT;
	ids_error err = IDS_ERROR_INIT;
	if (!CHECK_EQ_INT(parse(&j, json, &err), 0)) {
		fprintf(stderr, "  %s: %s\n", json, err.msg);
		return;
	}
	ids_buf b = IDS_BUF_INIT;
	CHECK_EQ_INT(ids_json_unescape(&j, 0, &b), 0);
	if (!CHECK(b.len == want_len && memcmp(b.data ? b.data : "", want, want_len) == 0))
		fprintf(stderr, "  %s unescaped to %zu bytes \"%s\"\n", json, b.len, b.data ? b.data : "");
	ids_buf_free(&b);
	ids_json_free(&j);
}

static void escapes(void)
{
	unescape_one("\"plain\"", "plain", 5);
	unescape_one("\"\"", "", 0);
	unescape_one("\"a\\n\\t\\\"\\\\\\/\\b\\f\\r\"", "a\n\t\"\\/\b\f\r", 9);
	unescape_one("\"\\u00e9\"", "\xc3\xa9", 2);
	unescape_one("\"\\u00E9x\"", "\xc3\xa9x", 3);
	unescape_one("\"\\u20ac\"", "\xe2\x82\xac", 3);
	unescape_one("\"\\u0041\\u0042\"", "AB", 2);
	unescape_one("\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80", 4);     /* surrogate pair */
	unescape_one("\"\\uD83D\\uDE00!\"", "\xf0\x9f\x98\x80!", 5);   /* upper-case hex */
	unescape_one("\"x\\ud800y\"", "x\xef\xbf\xbdy", 5);            /* lone high -> U+FFFD */
	unescape_one("\"\\udc00\"", "\xef\xbf\xbd", 3);                /* lone low -> U+FFFD */
	unescape_one("\"\\ud800\\u0041\"", "\xef\xbf\xbd" "A", 4);     /* high + non-low */
	unescape_one("\"\\u0000\"", "\0", 1);
	unescape_one("\"caf\xc3\xa9 \\\"q\\\"\"", "caf\xc3\xa9 \"q\"", 9);

	ids_json j = IDS_JSON_INIT;
	ids_error err = IDS_ERROR_INIT;
	CHECK_EQ_INT(parse(&j, "[\"a\\nb\", \"ab\"]", &err), 0);
	CHECK_EQ_INT(j.tok[1].escaped, 1);
	CHECK_EQ_INT(j.tok[2].escaped, 0);
	char tmp[8];
	CHECK_EQ_INT(ids_json_strcpy(&j, 1, tmp, sizeof tmp), 0);
	CHECK_EQ_STR(tmp, "a\nb");
	CHECK_EQ_INT(ids_json_strcpy(&j, 2, tmp, 3), 0); /* "ab" + NUL fits exactly */
	CHECK_EQ_STR(tmp, "ab");
	CHECK_EQ_INT(ids_json_strcpy(&j, 2, tmp, 2), IDS_ELIMIT);
	/* an embedded NUL cannot live in a C string */
	char big[32];
	CHECK_EQ_INT(parse(&j, "\"a\\u0000b\"", &err), 0);
	CHECK_EQ_INT(ids_json_strcpy(&j, 0, big, sizeof big), IDS_EINVAL);
	CHECK(!ids_json_streq(&j, 0, "a"));
	/* the cap applies to the unescaped length: "\u0061\u0062" is 12 bytes of text, 2 of string */
	CHECK_EQ_INT(parse(&j, "\"\\u0061\\u0062\"", &err), 0);
	CHECK(ids_json_streq(&j, 0, "ab"));
/* Regression (fixed; src/util/json.c ids_json_strcpy): caps the buffer at dstlen-1 and ids_json_unescape
       * reserves the *escaped* length first, so a string that fits once unescaped is rejected with
       * IDS_ELIMIT ("\u0061\u0062" into char[4]); affects client ids sent with \u escapes. */
	CHECK_EQ_INT(ids_json_strcpy(&j, 0, tmp, 4), 0);
	CHECK_EQ_STR(tmp, "ab");
	ids_json_free(&j);
}

static void accessors(void)
{
	ids_json j = IDS_JSON_INIT;
	ids_error err = IDS_ERROR_INIT;
	const char *s = "{\"x\":{\"id\":1,\"y\":[1,{\"id\":2}]},\"id\":3,\"a\\u0062\":\"v\\u00e9\",\"n\":-7,"
			"\"big\":9223372036854775807,\"min\":-9223372036854775808,\"over\":9223372036854775808,"
			"\"f\":1.5,\"e\":1e3,\"s\":\"12\",\"long\":123456789012345678901234567890123}";
	if (!CHECK_EQ_INT(parse(&j, s, &err), 0))
		return;
	long id = ids_json_get(&j, 0, "id");
	CHECK(id > 0);
	int64_t v = 0;
	CHECK_EQ_INT(ids_json_i64(&j, (size_t)id, &v), 0);
	CHECK_EQ_INT(v, 3); /* the top-level one, not the nested ids */
	long x = ids_json_get(&j, 0, "x");
	CHECK(x == 2);
	long xid = ids_json_get(&j, (size_t)x, "id");
	CHECK_EQ_INT(ids_json_i64(&j, (size_t)xid, &v), 0);
	CHECK_EQ_INT(v, 1);
	CHECK_EQ_INT(ids_json_get(&j, 0, "missing"), -1);
	CHECK_EQ_INT(ids_json_get(&j, 0, "i"), -1); /* no prefix match */
	CHECK_EQ_INT(ids_json_get(&j, (size_t)id, "id"), -1); /* not an object */
	CHECK_EQ_INT(ids_json_get(&j, 100000, "id"), -1);     /* out of range */
	long ab = ids_json_get(&j, 0, "ab");                  /* escaped key */
	CHECK(ab > 0);
	CHECK(ab > 0 && ids_json_streq(&j, (size_t)ab, "v\xc3\xa9"));
	CHECK(ab > 0 && !ids_json_streq(&j, (size_t)ab, "v"));
	CHECK(ab > 0 && !ids_json_streq(&j, (size_t)ab, "v\xc3\xa9x"));
	CHECK(!ids_json_streq(&j, (size_t)id, "3")); /* a number is not a string */

	long n = ids_json_get(&j, 0, "n");
	CHECK_EQ_INT(ids_json_i64(&j, (size_t)n, &v), 0);
	CHECK_EQ_INT(v, -7);
	CHECK_EQ_INT(ids_json_i64(&j, (size_t)ids_json_get(&j, 0, "big"), &v), 0);
	CHECK(v == INT64_MAX);
	CHECK_EQ_INT(ids_json_i64(&j, (size_t)ids_json_get(&j, 0, "min"), &v), 0);
	CHECK(v == INT64_MIN);
	CHECK_EQ_INT(ids_json_i64(&j, (size_t)ids_json_get(&j, 0, "over"), &v), IDS_EINVAL);
	CHECK_EQ_INT(ids_json_i64(&j, (size_t)ids_json_get(&j, 0, "f"), &v), IDS_EINVAL);
	CHECK_EQ_INT(ids_json_i64(&j, (size_t)ids_json_get(&j, 0, "e"), &v), IDS_EINVAL);
	CHECK_EQ_INT(ids_json_i64(&j, (size_t)ids_json_get(&j, 0, "s"), &v), IDS_EINVAL);
	CHECK_EQ_INT(ids_json_i64(&j, (size_t)ids_json_get(&j, 0, "long"), &v), IDS_EINVAL);
	CHECK(ids_json_num(&j, (size_t)ids_json_get(&j, 0, "f")) == 1.5);
	CHECK(ids_json_num(&j, (size_t)ids_json_get(&j, 0, "e")) == 1000.0);
	CHECK(ids_json_num(&j, (size_t)ids_json_get(&j, 0, "n")) == -7.0);
	CHECK(ids_json_num(&j, (size_t)ids_json_get(&j, 0, "long")) == 123456789012345678901234567890123.0);

	/* a 300-character escaped key still matches (the escaped compare must not truncate) */
	char key[300];
	memset(key, 'k', sizeof key - 1);
	key[sizeof key - 1] = 0;
	ids_buf doc = IDS_BUF_INIT;
	ids_buf_printf(&doc, "{\"\\u006b%s\":1}", key + 1);
	CHECK_EQ_INT(ids_json_parse(&j, doc.data, doc.len, 0, 0, &err), 0);
/* Regression (fixed; src/util/json.c ids_json_streq): escaped strings are compared through a 256-byte
       * stack buffer, so an escaped key longer than 255 bytes never matches (ids_json_get -> -1).
       * The merge rule uses ids_json_get on field names. */
	CHECK_EQ_INT(ids_json_get(&j, 0, key), 2);
	ids_buf_free(&doc);
	ids_json_free(&j);
}

static void minify_one(const char *in, size_t tok, const char *want)
{
	ids_json j = IDS_JSON_INIT;
	ids_error err = IDS_ERROR_INIT;
	if (!CHECK_EQ_INT(parse(&j, in, &err), 0))
		return;
	ids_buf b = IDS_BUF_INIT;
	CHECK_EQ_INT(ids_json_minify(&j, tok, &b), 0);
	CHECK_EQ_STR(b.data, want);
	ids_buf_free(&b);
	ids_json_free(&j);
}

static void minify(void)
{
	minify_one(" { \"a\" : [ 1 , 2 ] ,\n\t\"b\" : \"x y \\\" z\\\\\" , \"c d\":{ } } ", 0,
		   "{\"a\":[1,2],\"b\":\"x y \\\" z\\\\\",\"c d\":{}}");
	minify_one("{\"a\" : [ 1 , { \"k\" : \" \" } ] }", 2, "[1,{\"k\":\" \"}]");
	minify_one("  42  ", 0, "42");
	minify_one("\"  \"", 0, "\"  \"");
	/* capped output buffers fail instead of overflowing */
	ids_json j = IDS_JSON_INIT;
	ids_error err = IDS_ERROR_INIT;
	CHECK_EQ_INT(parse(&j, "[1, 2, 3, 4]", &err), 0);
	ids_buf b;
	ids_buf_init(&b, 4);
	CHECK_EQ_INT(ids_json_minify(&j, 0, &b), IDS_ELIMIT);
	ids_buf_free(&b);
	ids_json_free(&j);
}

/* Number of significant digits in a %g-style string. */
static int sig_digits(const char *s)
{
	int n = 0, started = 0, trailing = 0;
	for (; *s && *s != 'e' && *s != 'E'; s++) {
		if (*s < '0' || *s > '9')
			continue;
		if (*s != '0')
			started = 1;
		if (!started)
			continue;
		n++;
		trailing = *s == '0' ? trailing + 1 : 0;
	}
	return n - trailing; /* trailing zeros of an integer are placeholders */
}

/* The fewest digits any %.Ng (N = 1..17) needs to read back as v. */
static int shortest_digits(double v)
{
	char tmp[40];
	for (int p = 1; p <= 17; p++) {
		snprintf(tmp, sizeof tmp, "%.*g", p, v);
		if (strtod(tmp, NULL) == v)
			return sig_digits(tmp);
	}
	return 17;
}

static void fmt_one(double v, const char *want)
{
	char out[40];
	int n = ids_fmt_double(v, out);
	CHECK_EQ_INT(n, strlen(out));
	CHECK_EQ_STR(out, want);
}

static void fmt_double(void)
{
	fmt_one(0.1, "0.1");
	fmt_one(1, "1");
	fmt_one(0, "0");
	fmt_one(-0.0, "-0");
	fmt_one(1.5, "1.5");
	fmt_one(-2.25, "-2.25");
	fmt_one(1e21, "1e+21");
	fmt_one(1e300, "1e+300");
	fmt_one(0.1 + 0.2, "0.30000000000000004");
	fmt_one(9007199254740992.0, "9007199254740992");
	fmt_one(DBL_MAX, "1.7976931348623157e+308");
	fmt_one(DBL_MIN, "2.2250738585072014e-308");
	fmt_one(123456789.125, "123456789.125");
	fmt_one(1.0 / 3, "0.3333333333333333");
	char out[40];
	ids_fmt_double(-0.0, out);
	CHECK(signbit(strtod(out, NULL)));
	/* subnormals: the shortest form that reads back, like JavaScript's "5e-324" */
	ids_fmt_double(5e-324, out);
	CHECK(strtod(out, NULL) == 5e-324);
/* Regression (fixed; src/util/json.c ids_fmt_double): starts at %.15g, so subnormals get 15 digits:
       * 5e-324 -> "4.94065645841247e-324", expected "5e-324" (header promises the fewest digits). */
	fmt_one(5e-324, "5e-324");
	fmt_one(1e-320, "1e-320");

	/* random bit patterns: always round trip, and never longer than the shortest %g form
	 * (normal numbers only: see the subnormal bug above) */
	int rt_fail = 0, short_fail = 0;
	for (int i = 0; i < 200000; i++) {
		uint64_t bits = test_rand64();
		double v;
		memcpy(&v, &bits, 8);
		if (!isfinite(v))
			continue;
		int n = ids_fmt_double(v, out);
		if (n <= 0 || n >= 32 || strtod(out, NULL) != v || (v == 0 && signbit(v) != signbit(strtod(out, NULL)))) {
			if (rt_fail++ < 5)
				fprintf(stderr, "  round trip failed: %.17g -> %s\n", v, out);
			continue;
		}
		if (isnormal(v) && sig_digits(out) > shortest_digits(v)) {
			if (short_fail++ < 5)
				fprintf(stderr, "  not shortest: %.17g -> %s (%d digits would do)\n", v, out,
					shortest_digits(v));
		}
	}
	CHECK_EQ_INT(rt_fail, 0);
	CHECK_EQ_INT(short_fail, 0);
	/* "human" numbers: short decimals stay short */
	for (int i = 0; i < 20000; i++) {
		long long m = (long long)(test_rand64() % 2000000) - 1000000;
		int e = (int)(test_rand64() % 40) - 20;
		char in[40];
		snprintf(in, sizeof in, "%lldE%d", m, e);
		double v = strtod(in, NULL);
		ids_fmt_double(v, out);
		if (strtod(out, NULL) != v || sig_digits(out) > 7) {
			rt_fail++;
			if (rt_fail < 5)
				fprintf(stderr, "  %s -> %s\n", in, out);
		}
	}
	CHECK_EQ_INT(rt_fail, 0);
}

/* The lexer's own conversion (Clinger's fast path, digits 8 at a time) must give exactly what
 * strtod gives, and its integer value what strtoll gives: edge cases, then random numbers of
 * every digit count with fractions and exponents, each also with bytes after it (the 8-byte
 * digit reads stop at the number's end) and at the end of the buffer. */
static int lex_same(const char *txt)
{
	size_t n = strlen(txt);
	char buf[128];
	int bad = 0;
	for (int tail = 0; tail < 2; tail++) {
		/* tail 1: the number is followed by ",\"x\":12345678" as in a row */
		memcpy(buf, txt, n);
		size_t m = n;
		if (tail) {
			memcpy(buf + n, ",\"x\":12345678", 13);
			m += 13;
		}
		ids_jlex x;
		if (ids_jlex_number(buf, buf + m, &x) || x.end != buf + n) {
			bad = 1;
			continue;
		}
		double want = strtod(txt, NULL), fast;
		if (!ids_jlex_double(&x, &fast) && memcmp(&fast, &want, sizeof want))
			bad = 1;
		double got = ids_json_to_double(buf, n);
		if (memcmp(&got, &want, sizeof want))
			bad = 1;
		if (x.fits && x.i != strtoll(txt, NULL, 10))
			bad = 1;
	}
	if (bad && !getenv("QUIET"))
		fprintf(stderr, "  number %s\n", txt);
	return bad;
}

static void number_lexer_exact(void)
{
	static const char *edge[] = {
		"0", "-0", "0.0", "-0.0", "1", "9", "10", "99999999", "100000000", "123456789",
		"9007199254740992", "9007199254740993", "-9007199254740993", "18446744073709551615",
		"9223372036854775807", "-9223372036854775808", "9223372036854775808",
		"12345678901234567890", "0.1", "0.2", "0.3", "1.7976931348623157e308", "4.9e-324",
		"2.2250738585072014e-308", "1e22", "1e23", "1e-22", "1e-23", "123456789012345678e-5",
		"0.000000000000000000000001", "4482.91", "617.81", "171.97", "436.1", "1.5E+3",
		"1.5e-0", "12345678.12345678", "9007199254740992e22", "9007199254740993e-22",
		"1e400", "1e-400", "0.1e100000000000", "123e-100000000000",
	};
	int bad = 0;
	for (size_t i = 0; i < sizeof edge / sizeof *edge; i++)
		bad += lex_same(edge[i]);
	uint64_t r = 0x9E3779B97F4A7C15ULL;
	for (int k = 0; k < 200000; k++) {
		r ^= r << 13;
		r ^= r >> 7;
		r ^= r << 17;
		char t[80];
		int len = 0, nd = 1 + (int)(r % 20), nf = (int)((r >> 8) % 22) - 4;
		if ((r >> 16) & 1)
			t[len++] = '-';
		for (int d = 0; d < nd; d++)
			t[len++] = (char)('0' + (d == 0 && nd > 1 ? 1 + (r >> (20 + d)) % 9 : (r >> (24 + 2 * d)) % 10));
		if (nf > 0) {
			t[len++] = '.';
			uint64_t q = r * 0x2545F4914F6CDD1DULL;
			for (int d = 0; d < nf; d++, q /= 10)
				t[len++] = (char)('0' + q % 10);
		}
		if (((r >> 40) & 3) == 0)
			len += snprintf(t + len, sizeof t - (size_t)len, "e%d", (int)((r >> 44) % 61) - 30);
		t[len] = 0;
		bad += lex_same(t);
	}
	CHECK_EQ_INT(bad, 0);
}

/* Numbers have one converter (util/number.c): the token array, the Parquet scanner and the key
 * encoding all read number text through it, at any length, and the $num specials through
 * ids_num_special. */
static void numbers(void)
{
	CHECK(ids_json_to_double("0.1", 3) == 0.1);
	CHECK(ids_json_to_double("-2.5e-3", 7) == -2.5e-3);
	CHECK(ids_json_to_double("9007199254740993", 16) == 9007199254740992.0);   /* rounds to even */
	CHECK(ids_json_to_double("1e400", 5) == INFINITY);
	/* longer than the 399 bytes the token array's strtod copy once kept: 0.(398 zeros)1e400
	 * is 10, its cut prefix 0 */
	ids_buf t = IDS_BUF_INIT;
	ids_buf_puts(&t, "{\"n\":0.");
	for (int i = 0; i < 398; i++)
		ids_buf_putc(&t, '0');
	ids_buf_puts(&t, "1e400}");
	ids_json j = IDS_JSON_INIT;
	ids_error err = IDS_ERROR_INIT;
	if (CHECK_EQ_INT(ids_json_parse(&j, t.data, t.len, 0, 0, &err), 0)) {
		CHECK(ids_json_num(&j, 2) == 10.0);
		CHECK(ids_json_to_double(t.data + 5, t.len - 6) == 10.0);
	}
	ids_buf_free(&t);

	number_lexer_exact();

	double d = 0;
	CHECK_EQ_INT(ids_num_special("NaN", 3, &d), 0);
	CHECK(d != d);
	CHECK_EQ_INT(ids_num_special("-Infinity", 9, &d), 0);
	CHECK(d == -INFINITY);
	CHECK_EQ_INT(ids_num_special("-0", 2, &d), 0);
	CHECK(d == 0 && signbit(d));
	CHECK_EQ_INT(ids_num_special("Inf", 3, &d), IDS_EINVAL);
	CHECK_EQ_INT(ids_num_special("nan", 3, &d), IDS_EINVAL);
	/* a token is read unescaped, as the push check always has */
	const char *doc = "[\"\\u004eaN\",\"Infinity\",1,\"-Infinityy\"]";
	if (CHECK_EQ_INT(ids_json_parse(&j, doc, strlen(doc), 0, 0, &err), 0)) {
		CHECK_EQ_INT(ids_json_num_special(&j, 1, &d), 0);
		CHECK(d != d);
		CHECK_EQ_INT(ids_json_num_special(&j, 2, &d), 0);
		CHECK(d == INFINITY);
		CHECK_EQ_INT(ids_json_num_special(&j, 3, &d), IDS_EINVAL);
		CHECK_EQ_INT(ids_json_num_special(&j, 4, &d), IDS_EINVAL);
	}
	ids_json_free(&j);
}

/* ids_buf_i64 (formatted by hand) across the whole int64 range. */
static void buf_i64(void)
{
	const int64_t v[] = {0, -1, 7, 42, -1000000007, INT64_MAX, INT64_MIN};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		char want[32];
		snprintf(want, sizeof want, "%lld", (long long)v[i]);
		ids_buf b = IDS_BUF_INIT;
		ids_buf_i64(&b, v[i]);
		CHECK(b.len == strlen(want) && !memcmp(b.data, want, b.len));
		ids_buf_free(&b);
	}
}

int main(void)
{
	buf_i64();
	token_layout();
	invalid_documents();
	caps();
	utf8();
	string_words();
	escapes();
	accessors();
	minify();
	fmt_double();
	numbers();
	return test_report("test_json");
}
