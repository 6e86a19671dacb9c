/* Streaming JSON scanner for the NDJSON -> Parquet path (internal to src/parquet/json).
 * No DOM: callers walk the text with these primitives and shred values straight into
 * column buffers, so a row costs one pass over its bytes. Every primitive validates what
 * it consumes (strict RFC 8259 grammar, valid UTF-8, no raw control characters) and on
 * failure records the byte offset so callers can report "file:line:col". */
#ifndef PQJ_H
#define PQJ_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "idbsync/buf.h"
#include "idbsync/error.h"
#include "idbsync/json.h"
#include "idbsync/value.h"

#define PQJ_MAX_DEPTH 128

typedef struct pqj {
	const char *start;   /* beginning of the row text (offsets are relative to it) */
	const char *p;       /* cursor */
	const char *end;
	ids_error *err;
	size_t err_off;      /* byte offset of the failure within the row */
	ids_buf scratch;     /* unescaped strings live here until the next string */
	ids_buf scratch2;    /* a second slot, for object keys while their value is parsed */
} pqj;

/* A scanned JSON number: its text and, for integer tokens, the value if it fits int64. */
typedef struct pqj_num {
	const char *s;
	size_t n;
	int is_int;          /* no fraction, no exponent */
	int fits;            /* is_int and within int64 */
	int64_t i;
	ids_jlex lx;         /* the lexer's result, for ids_jlex_double */
} pqj_num;

void pqj_init(pqj *j, ids_error *err);
void pqj_reset(pqj *j, const char *text, size_t len);
void pqj_free(pqj *j);

/* A row, one JSON object: pqj_row_begin points j at text (failures into err) and checks
 * that an object starts there (0, or the failure); pqj_row_end takes the result of reading
 * it, checks that nothing follows, and on failure sets *err_off (when not NULL). */
int pqj_row_begin(pqj *j, const char *text, size_t len, ids_error *err);
int pqj_row_end(pqj *j, int rc, size_t *err_off);

/* Records a failure at `at` and returns IDS_EINVAL. */
int pqj_fail(pqj *j, const char *at, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 3, 4)))
#endif
	;

static inline void pqj_ws(pqj *j)
{
	const char *p = j->p, *e = j->end;
	if (p < e && (unsigned char)*p > ' ')
		return;   /* compact JSON: nothing to skip */
	while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	j->p = p;
}

/* Skips whitespace, then requires character c. */
static inline int pqj_expect(pqj *j, char c, const char *what)
{
	pqj_ws(j);
	if (j->p < j->end && *j->p == c) {
		j->p++;
		return 0;
	}
	return pqj_fail(j, j->p, "expected %s", what);
}

/* Peeks at the next non-space character (0 at end). */
static inline char pqj_peek(pqj *j)
{
	pqj_ws(j);
	return j->p < j->end ? *j->p : 0;
}

/* A hash index over a struct's field names, for rows whose keys do not come in the
 * expected order (sparse rows name only the fields they hold): slots hold entry + 1, 0 is
 * empty, linear probing, so of two equal names the first put is found first. Shared by
 * inference (infer.c) and the shredder (shred.c), each probing its own entries. */
static inline uint32_t pqj_name_hash(const char *s, size_t n)
{
	uint32_t h = 2166136261u;   /* FNV-1a */
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 16777619u;
	return h;
}

/* The mask of a table with room for n names at most half full. */
static inline size_t pqj_index_mask(size_t n)
{
	size_t mask = 15;
	while (mask + 1 < n * 2)
		mask = mask * 2 + 1;
	return mask;
}

static inline void pqj_index_put(uint32_t *ix, size_t mask, const char *name, size_t len,
				 size_t entry)
{
	size_t s = pqj_name_hash(name, len) & mask;
	while (ix[s])
		s = (s + 1) & mask;
	ix[s] = (uint32_t)entry + 1;
}

/* Precomputed raw form of an object key for pqj_key_is: the name plus its closing quote
 * as two little-endian words (names of up to 15 bytes), so the expected key of a row is
 * recognized with one or two loads and compares instead of a scan. */
typedef struct pqj_key {
	const char *name;
	size_t len;
	uint64_t word[2], mask[2];   /* mask[0] == 0: longer name, compared with memcmp */
	int raw_ok;              /* name needs no JSON escape */
} pqj_key;

static inline void pqj_key_init(pqj_key *k, const char *name, size_t len)
{
	k->name = name;
	k->len = len;
	k->raw_ok = 1;
	for (size_t i = 0; i < len; i++)
		if (name[i] == '"' || name[i] == '\\' || (unsigned char)name[i] < 0x20)
			k->raw_ok = 0;
	memset(k->word, 0, sizeof k->word);
	memset(k->mask, 0, sizeof k->mask);
	if (len + 1 <= 16) {
		unsigned char b[16] = {0}, m[16] = {0};
		memcpy(b, name, len);
		b[len] = '"';
		memset(m, 0xff, len + 1);
		memcpy(k->word, b, 16);
		memcpy(k->mask, m, 16);
	}
}

/* at points at an opening quote: is the key there exactly k (no escapes)? */
static inline int pqj_key_is(const char *at, const char *end, const pqj_key *k)
{
	if (!k->raw_ok || (size_t)(end - at) < k->len + 2)
		return 0;
	uint64_t x[2];
	if (k->mask[0] && !k->mask[1] && end - at >= 9) {
		memcpy(x, at + 1, 8);
		return (x[0] & k->mask[0]) == k->word[0];
	}
	if (k->mask[1] && end - at >= 17) {
		memcpy(x, at + 1, 16);
		return (x[0] & k->mask[0]) == k->word[0] && (x[1] & k->mask[1]) == k->word[1];
	}
	return at[1 + k->len] == '"' && !memcmp(at + 1, k->name, k->len);
}

/* pqj_string past the string's plain-ASCII start (from: its first byte that is not, or the
 * last few bytes of the text). */
int pqj_string_from(pqj *j, int slot, const char *from, const char **s, size_t *n);

/* Cursor at '"': scans the string, returns its decoded UTF-8 contents in *s, *n (pointing
 * into the text when it has no escapes, else into a scratch buffer: slot 0 or 1). Inline:
 * a plain ASCII string, most of them, ends in the first loop without a call. */
static inline int pqj_string(pqj *j, int slot, const char **s, size_t *n)
{
	const char *b = j->p + 1, *p = b;
	while (j->end - p >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		uint64_t m = ids_jlex_special8(w);
		if (m) {
			p += __builtin_ctzll(m) >> 3;
			if (*p != '"')
				break;
			*s = b;
			*n = (size_t)(p - b);
			j->p = p + 1;
			return 0;
		}
		p += 8;
	}
	return pqj_string_from(j, slot, p, s, n);
}

/* Walking an object: after its '{' (and pqj_peek said it is not '}'), pqj_obj_key reads
 * one key and its ':' into *k, *kn (slot 1). hint is the key expected next (NULL: none):
 * when it stands there byte for byte it is taken without a scan and *hit is 1. After the
 * member's value, pqj_next(j, '}') consumes ',' (returns 1: another member) or the '}' (0);
 * the same for an array's elements with ']'.
 * (Inline: they run once per key and per element of every row.) */
static inline int pqj_obj_key(pqj *j, const pqj_key *hint, const char **k, size_t *kn, int *hit)
{
	int rc;
	*hit = 0;
	if (pqj_peek(j) != '"')
		return pqj_fail(j, j->p, "expected a string key");
	*hit = hint && pqj_key_is(j->p, j->end, hint);
	if (*hit) {
		j->p += hint->len + 2;
		*k = hint->name;
		*kn = hint->len;
	} else if ((rc = pqj_string(j, 1, k, kn))) {
		return rc;
	}
	return pqj_expect(j, ':', "':'");
}

static inline int pqj_next(pqj *j, char close)
{
	char c = pqj_peek(j);
	if (c == ',' || c == close) {
		j->p++;
		return c == ',';
	}
	return pqj_fail(j, j->p, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
}

/* Cursor at a number's first character: scans and validates it. */
int pqj_number(pqj *j, pqj_num *out);

/* The plain numbers most columns hold, without pqj_number's calls and copies: '-'?, an
 * integer part without a leading zero (or "0"), optionally '.' and digits, no exponent,
 * at most 18 digits in all. Returns where the number ends, with its digits as one decimal
 * mantissa (< 10^18), its sign and its fraction digits, without moving the cursor; NULL
 * for anything else (exponents, long or malformed numbers), which pqj_number then scans
 * and reports exactly as before. */
static inline const char *pqj_number_plain(const pqj *j, uint64_t *mant, int *neg, int *nfrac)
{
	const char *p = j->p, *e = j->end;
	int ng = p < e && *p == '-';
	p += ng;
	const char *d0 = p;
	uint64_t v = 0;
	while (p < e && (unsigned char)(*p - '0') < 10)
		v = v * 10 + (uint64_t)(*p++ - '0');
	size_t ni = (size_t)(p - d0), nf = 0;
	if (!ni || (*d0 == '0' && ni > 1))
		return NULL;
	if (p < e && *p == '.') {
		const char *f0 = ++p;
		while (p < e && (unsigned char)(*p - '0') < 10)
			v = v * 10 + (uint64_t)(*p++ - '0');
		if (!(nf = (size_t)(p - f0)))
			return NULL;
	}
	if (ni + nf > 18 || (p < e && (*p == 'e' || *p == 'E')))
		return NULL;
	*mant = v;
	*neg = ng;
	*nfrac = (int)nf;
	return p;
}
/* Skips any value (validating it); depth counts enclosing containers. */
int pqj_skip(pqj *j, int depth);
/* Cursor at 't', 'f' or 'n': consumes the literal; *val = 1 true, 0 false, -1 null. */
int pqj_literal(pqj *j, int *val);

/* A tagged value {"$date":"..."} / {"$bin":"..."} / {"$num":"..."}: if the cursor is at
 * '{' and the object is exactly one such pair, consumes it and returns the tag
 * (PQJ_TAG_*), with the string in *s, *n (*s = NULL for a null payload, e.g. the Invalid
 * Date {"$date":null}); otherwise leaves the cursor and returns 0.
 * Returns < 0 on a syntax error inside what was consumed. */
enum { PQJ_TAG_NONE = 0, PQJ_TAG_DATE = 1, PQJ_TAG_BIN = 2, PQJ_TAG_NUM = 3 };
int pqj_tagged(pqj *j, const char **s, size_t *n);

/* What a JSON string's text is, for inference: PQJ_ISO_DATE for exactly "YYYY-MM-DD";
 * PQJ_ISO_INSTANT for "YYYY-MM-DD[T| ]HH:MM[:SS[.f{1,9}]]" with a zone (Z, +HH:MM, +HHMM),
 * with the instant and *digits as ids_iso_parse gives them (a date: its midnight UTC);
 * PQJ_ISO_NONE for anything else (a local time without a zone names no instant, so it
 * stays a string). */
enum { PQJ_ISO_NONE = 0, PQJ_ISO_DATE = 1, PQJ_ISO_INSTANT = 2 };
int pqj_iso_text(const char *s, size_t n, int64_t *secs, int32_t *nanos, int *digits);

#endif
