/* A validating, zero-copy JSON tokenizer (jsmn-like) for hot paths such as push bodies.
 * Tokens carry byte spans into the caller's text, so values can be stored exactly as the
 * client sent them (no reformatting of numbers). Strings are checked for valid escapes and
 * UTF-8. Depth and token count are capped. jansson is used elsewhere for documents. */
#ifndef IDBSYNC_JSON_H
#define IDBSYNC_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "idbsync/buf.h"
#include "idbsync/error.h"

typedef enum ids_jtype {
	IDS_JOBJ = 1, IDS_JARR, IDS_JSTR, IDS_JNUM, IDS_JTRUE, IDS_JFALSE, IDS_JNULL
} ids_jtype;

typedef struct ids_jtok {
	uint8_t type;      /* ids_jtype */
	uint8_t escaped;   /* JSTR: contains backslash escapes */
	uint8_t is_int;    /* JNUM: no fraction or exponent */
	uint32_t start;    /* first byte (the quote for strings, '{' for objects) */
	uint32_t end;      /* one past the last byte */
	uint32_t size;     /* JOBJ: number of keys; JARR: number of elements */
	uint32_t next;     /* index of the first token after this one's subtree */
} ids_jtok;

typedef struct ids_json {
	const char *text;
	size_t len;
	ids_jtok *tok;
	size_t ntok;
	size_t cap;
} ids_json;

#define IDS_JSON_INIT {NULL, 0, NULL, 0, 0}

/* Tokenizes text[0..len). Objects are followed by key/value token pairs, arrays by their
 * elements. Fails with IDS_EINVAL (message with byte offset, line and column) or IDS_ELIMIT
 * (more than max_tokens tokens or deeper than max_depth). j is reusable; free with ids_json_free. */
int ids_json_parse(ids_json *j, const char *text, size_t len, size_t max_tokens, int max_depth,
		   ids_error *err);
void ids_json_free(ids_json *j);
/* Tokenizes the one value at text[*pos] (after whitespace), nested `depth` levels deep in a
 * larger text, and appends its tokens to j (j->ntok is not reset; capped at max_tokens in j);
 * *pos ends one past the value. Lets a caller walk a large document a piece at a time
 * (ids_batch_stream_run): offsets are into text, as with ids_json_parse. */
int ids_json_parse_at(ids_json *j, const char *text, size_t len, size_t *pos, int depth, size_t max_tokens,
		      int max_depth, ids_error *err);

/* In object token obj, finds key `name`; returns the value token index or -1. */
long ids_json_get(const ids_json *j, size_t obj, const char *name);
/* String token equals literal s (after unescaping). */
int ids_json_streq(const ids_json *j, size_t t, const char *s);
/* Appends the unescaped UTF-8 contents of string token t to out. */
int ids_json_unescape(const ids_json *j, size_t t, ids_buf *out);
/* Unescaped string into a fixed buffer; IDS_ELIMIT if it does not fit (with the NUL). */
int ids_json_strcpy(const ids_json *j, size_t t, char *dst, size_t dstlen);
/* Integer token t as int64 (IDS_EINVAL if not an integer in range). */
int ids_json_i64(const ids_json *j, size_t t, int64_t *out);
/* Number token t as double. */
double ids_json_num(const ids_json *j, size_t t);
/* Appends token t's subtree with insignificant whitespace removed. */
int ids_json_minify(const ids_json *j, size_t t, ids_buf *out);

/* ---- the lexer under both tokenizers (this one and the Parquet writer's streaming scanner):
 * one definition of a JSON string and number (util/jsonlex.c) ---- */
enum {
	IDS_JLEX_UNTERMINATED = 1, IDS_JLEX_CONTROL, IDS_JLEX_UTF8, IDS_JLEX_ESCAPE, IDS_JLEX_UESCAPE,
	IDS_JLEX_NUMBER, IDS_JLEX_FRACTION, IDS_JLEX_EXPONENT
};
typedef struct ids_jlex {
	const char *end;     /* string: its closing quote; number: one past its last byte */
	const char *bad;     /* on failure: the offending byte (NULL: the string never ends) */
	int err;             /* 0 or IDS_JLEX_* */
	int escaped;         /* string: holds a backslash escape */
	int is_int;          /* number: no fraction, no exponent */
	int fits;            /* number: is_int and within int64, in i */
	int64_t i;
	/* number: all its ndig digits as one mantissa (exact when at most 19) and the power of
	 * ten that scales it, for ids_jlex_double */
	int neg, ndig, exp10;
	uint64_t mant;
} ids_jlex;
/* Scans a string whose opening quote is just before p: checks its escapes and UTF-8 (no raw
 * control characters). 0, or the IDS_JLEX_* code (also in x->err). */
int ids_jlex_string(const char *p, const char *end, ids_jlex *x);
/* Eight string bytes at once (little-endian word x): nonzero when one of them is '"', '\\',
 * < 0x20 or >= 0x80, and then the lowest flagged byte is a real one (false positives only
 * appear above it). The string scan's step, for callers that inline its plain-ASCII part. */
static inline uint64_t ids_jlex_special8(uint64_t x)
{
	const uint64_t ones = 0x0101010101010101ULL;
	uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
	uint64_t t = ((q - ones) & ~q) | ((b - ones) & ~b) | (x - ones * 0x20) | x;
	return t & 0x8080808080808080ULL;
}
/* Scans a number (RFC 8259 grammar) starting at p. */
int ids_jlex_number(const char *p, const char *end, ids_jlex *x);
/* A scanned number's nearest double when a short mantissa and a small exponent make it
 * exact to compute (0), else -1: ids_json_to_double then does it the long way. */
int ids_jlex_double(const ids_jlex *x, double *out);
/* What x->err means, for a message ("bad escape '\q'"); buf (>= 32 bytes) may hold it. */
const char *ids_jlex_why(const ids_jlex *x, char *buf, size_t n);
/* Appends the UTF-8 of a scanned string's text s[0..n) (between its quotes). A \u surrogate
 * pair is one code point; a lone surrogate (JavaScript strings hold them, UTF-8 cannot) is
 * U+FFFD with IDS_UNESC_FFFD, kept in UTF-8's bit layout with IDS_UNESC_WTF8 (the key
 * encoding keeps every JS string whole), refused with IDS_UNESC_STRICT (returns -1, *bad at
 * its escape). Returns the number of lone surrogates met. */
enum { IDS_UNESC_FFFD = 0, IDS_UNESC_WTF8, IDS_UNESC_STRICT };
long ids_json_unescape_text(const char *s, size_t n, int policy, ids_buf *out, const char **bad);

/* Numbers (util/number.c). A validated JSON number's text as the nearest double (correctly
 * rounded, any length). */
double ids_json_to_double(const char *s, size_t n);
/* Formats a double with the fewest digits that read back as the same value ("1", "0.1",
 * "1e+21"). Non-finite values are the caller's problem. Returns the length written to out (>= 32 bytes). */
int ids_fmt_double(double v, char *out);

#endif
