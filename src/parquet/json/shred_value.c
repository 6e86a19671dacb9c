/* The row walk of the shredder: structs, lists, maps and leaf conversions. Each JSON
 * value is consumed exactly once and lands in its column with its levels; absent fields
 * and nulls become null entries for every leaf below them. */
#include "shred.h"
#include "conv.h"
#include "infer_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PUT_WITH(put, c, d, r, p, n)                         \
	do {                                                 \
		int rc_ = put(c, d, r, p, n);                \
		if (rc_)                                     \
			return shred_oom(s, rc_);            \
	} while (0)
#define PUT(c, d, r, p, n) PUT_WITH(pqw_put_value, c, d, r, p, n)
/* n: the column's width, a constant */
#define PUTF(c, d, r, p, n) PUT_WITH(pqw_put_fixed, c, d, r, p, n)

/* Returns 0 with the payload, 1 for a null payload ({"$date":null}), <0 on error. */
static int expect_tag(pqw_shred *s, shn *x, int want, const char **v, size_t *n,
		      const char *what)
{
	const char *at = s->j.p;
	int tag = pqj_tagged(&s->j, v, n);
	if (tag < 0)
		return tag;
	if (tag != want)
		return shred_failf(s, x, at, "expected %s", what);
	return *v ? 0 : 1;
}

/* A tagged null such as the Invalid Date {"$date":null}: a null of the leaf. */
static int tag_null(pqw_shred *s, shn *x, int16_t rep, const char *at)
{
	if (x->required || x->repeated)
		return shred_failf(s, x, at, "null in a required field");
	if (pqw_put_null(x->col, (int16_t)(x->def - 1), rep))
		return shred_oom(s, IDS_ENOMEM);
	return 0;
}

/* A timestamp from {"$date":..} or an ISO string; integers are taken in the column unit. */
static int get_time(pqw_shred *s, shn *x, int64_t *secs, int32_t *nanos, int64_t *raw,
		    int *is_raw)
{
	pqj *j = &s->j;
	const char *at = j->p, *v;
	size_t n;
	int rc, digits;
	*is_raw = 0;
	char c = *j->p;
	/* strict: the value must be of the kind inference saw ({"$date":..} or ISO text) */
	if (s->strict && c != (x->skind == PQI_TS ? '{' : '"'))
		return shred_conflict(s, x, at, "a time column got another kind of value");
	if (c == '{') {
		if ((rc = expect_tag(s, x, PQJ_TAG_DATE, &v, &n, "{\"$date\":\"...\"}")))
			return rc;
	} else if (c == '"') {
		if ((rc = pqj_string(j, 0, &v, &n)))
			return rc;
		if (s->strict) {
			/* text of the kind inference saw, parsed once */
			if (pqj_iso_text(v, n, secs, nanos, &digits) !=
			    (x->skind == PQI_DATE_TEXT ? PQJ_ISO_DATE : PQJ_ISO_INSTANT))
				return shred_conflict(s, x, at, "a time column got other text");
			goto parsed;
		}
	} else if (c == '-' || (c >= '0' && c <= '9')) {
		pqj_num num;
		if ((rc = pqj_number(j, &num)))
			return rc;
		if (!num.fits)
			return shred_failf(s, x, at, "expected an integer timestamp");
		*raw = num.i;
		*is_raw = 1;
		return 0;
	} else {
		return shred_failf(s, x, at, "expected {\"$date\":\"...\"}");
	}
	if (ids_iso_parse(v, n, 0, secs, nanos, &digits))
		return shred_failf(s, x, at, "bad ISO-8601 date '%.*s'", (int)(n > 40 ? 40 : n), v);
parsed:
	if (s->strict && digits > x->sdigits)
		return shred_conflict(s, x, at, "a timestamp needs a finer unit");
	return 0;
}

static int leaf_time(pqw_shred *s, shn *x, int16_t rep)
{
	const char *at = s->j.p;
	int64_t secs = 0, raw = 0;
	int32_t nanos = 0;
	int is_raw, rc;
	if ((rc = get_time(s, x, &secs, &nanos, &raw, &is_raw)))
		return rc == 1 ? tag_null(s, x, rep, at) : rc;
	switch (x->conv) {
	case CV_DATE: {
		int32_t days;
		if (is_raw) {
			if (raw < INT32_MIN || raw > INT32_MAX)
				return shred_failf(s, x, at, "date out of range");
			days = (int32_t)raw;
		} else {
			if (secs % 86400 || nanos)
				return shred_failf(s, x, at, "a DATE column needs midnight UTC");
			if (secs / 86400 < INT32_MIN || secs / 86400 > INT32_MAX)
				return shred_failf(s, x, at, "date out of range");
			days = (int32_t)(secs / 86400);
		}
		PUTF(x->col, x->def, rep, &days, 4);
		return 0;
	}
	case CV_TS:
		if (is_raw) {
			PUTF(x->col, x->def, rep, &raw, 8);
			return 0;
		}
		break;
	default:   /* INT96 */
		if (is_raw)
			pqc_unit_to_secs(raw, PQ_NANOS, &secs, &nanos);
		break;
	}
	uint8_t b[12];
	size_t bn;
	const char *why;
	if (pqc_instant(x->conv == CV_INT96, x->unit, secs, nanos, b, &bn, &why))
		return shred_failf(s, x, at, "%s", why);
	if (bn == 12)   /* constant widths: no switch on the column's width per value */
		PUTF(x->col, x->def, rep, b, 12);
	else
		PUTF(x->col, x->def, rep, b, 8);
	return 0;
}

static int leaf_decimal(pqw_shred *s, shn *x, int16_t rep)
{
	pqj *j = &s->j;
	const char *at = j->p, *v;
	size_t n;
	int rc;
	if (*j->p == '"') {
		if ((rc = pqj_string(j, 0, &v, &n)))
			return rc;
	} else if (*j->p == '-' || (*j->p >= '0' && *j->p <= '9')) {
		pqj_num num;
		if ((rc = pqj_number(j, &num)))
			return rc;
		v = num.s;
		n = num.n;
	} else {
		return shred_failf(s, x, at, "expected a decimal (string or number)");
	}
	__int128 d;
	const char *why;
	if (pqc_decimal(v, n, x->scale, x->prec, &d, &why))
		return shred_failf(s, x, at, "decimal(%d,%d): %s", x->prec, x->scale, why);
	if (x->conv == CV_DEC_I32) {
		int32_t t = (int32_t)d;
		if (d < INT32_MIN || d > INT32_MAX)
			return shred_failf(s, x, at, "decimal does not fit INT32");
		PUTF(x->col, x->def, rep, &t, 4);
	} else if (x->conv == CV_DEC_I64) {
		int64_t t = (int64_t)d;
		if (d < INT64_MIN || d > INT64_MAX)
			return shred_failf(s, x, at, "decimal does not fit INT64");
		PUTF(x->col, x->def, rep, &t, 8);
	} else {
		uint8_t b[16];
		int w = x->conv == CV_DEC_FLBA ? x->width : pqc_decimal_min_bytes(d);
		if (pqc_decimal_min_bytes(d) > w)
			return shred_failf(s, x, at, "decimal does not fit %d bytes", w);
		pqc_decimal_be(d, b, w);
		PUT(x->col, x->def, rep, b, (size_t)w);
	}
	return 0;
}

static int leaf_binary(pqw_shred *s, shn *x, int16_t rep)
{
	pqj *j = &s->j;
	const char *at = j->p, *v;
	size_t n;
	int rc;
	if (*j->p == '"') {
		if (s->strict)
			return shred_conflict(s, x, at, "a binary column got a string");
		if ((rc = pqj_string(j, 0, &v, &n)))
			return rc;
		if (x->conv == CV_UUID) {
			uint8_t u[16];
			if (pqc_uuid(v, n, u))
				return shred_failf(s, x, at, "expected a UUID string");
			PUT(x->col, x->def, rep, u, 16);
			return 0;
		}
		if (x->conv == CV_FLBA && (int)n != x->width)
			return shred_failf(s, x, at, "expected %d bytes, got %zu", x->width, n);
		PUT(x->col, x->def, rep, v, n);
		return 0;
	}
	if ((rc = expect_tag(s, x, PQJ_TAG_BIN, &v, &n, "{\"$bin\":\"<base64>\"}")))
		return rc == 1 ? tag_null(s, x, rep, at) : rc;
	ids_buf_reset(&s->tmp);
	if (ids_base64_decode_opt(v, n, IDS_B64_PAD_OPTIONAL, &s->tmp))
		return shred_failf(s, x, at, "bad base64 in $bin");
	if ((x->conv == CV_FLBA || x->conv == CV_UUID) && (int)s->tmp.len != x->width)
		return shred_failf(s, x, at, "expected %d bytes, got %zu", x->width, s->tmp.len);
	PUT(x->col, x->def, rep, s->tmp.data ? s->tmp.data : "", s->tmp.len);
	return 0;
}

static int leaf_number(pqw_shred *s, shn *x, int16_t rep)
{
	pqj *j = &s->j;
	const char *at = j->p;
	char c = *j->p;
	int rc;
	double d;
	if (c == '{') {
		const char *v;
		size_t n;
		if ((rc = expect_tag(s, x, PQJ_TAG_NUM, &v, &n, "a number")))
			return rc == 1 ? tag_null(s, x, rep, at) : rc;
		if (ids_num_special(v, n, &d))
			return shred_failf(s, x, at, "bad $num value");
	} else if (c == '-' || (c >= '0' && c <= '9')) {
		pqj_num num;
		if ((rc = pqj_number(j, &num)))
			return rc;
		if (x->conv == CV_FLOAT) {
			char tmp[64];
			if (num.n >= sizeof tmp)
				return shred_failf(s, x, at, "number too long for FLOAT");
			memcpy(tmp, num.s, num.n);
			tmp[num.n] = 0;
			float f = strtof(tmp, NULL);
			PUTF(x->col, x->def, rep, &f, 4);
			return 0;
		}
		if (num.fits && num.i >= -(1LL << 53) && num.i <= (1LL << 53))
			d = (double)num.i;
		else if (ids_jlex_double(&num.lx, &d))
			d = ids_json_to_double(num.s, num.n);
	} else {
		return shred_failf(s, x, at, "expected a number");
	}
	if (x->conv == CV_FLOAT) {
		float f = (float)d;
		PUTF(x->col, x->def, rep, &f, 4);
	} else {
		PUTF(x->col, x->def, rep, &d, 8);
	}
	return 0;
}

/* Strict mode, a widened (JSON text) column: inference still checks a tagged value at
 * the top of the field, so an invalid one must not pass here either. */
static int text_tag_ok(pqw_shred *s, shn *x)
{
	pqj *j = &s->j;
	const char *at = j->p, *v;
	size_t n;
	int tag = pqj_tagged(j, &v, &n), bad = 0;
	j->p = at;
	if (tag < 0)
		return tag;
	if (tag && v) {
		int64_t secs;
		int32_t nanos;
		int digits;
		double d;
		ids_buf_reset(&s->tmp);
		bad = tag == PQJ_TAG_DATE ? ids_iso_parse(v, n, 0, &secs, &nanos, &digits) != 0
		    : tag == PQJ_TAG_BIN ? ids_base64_decode_opt(v, n, IDS_B64_PAD_OPTIONAL, &s->tmp) != 0
					 : ids_num_special(v, n, &d) != 0;
	}
	return bad ? shred_conflict(s, x, at, "a malformed tagged value") : 0;
}

/* The common leaves, inline where a row's fields are walked (field(), and leaf() for the
 * rest): an INT64 or DOUBLE in its plain form (pqj_number_plain), a string, a boolean.
 * Returns 1 when it took the value (*rc: 0 or the failure), 0 to leave it to leaf(), which
 * then does what it always did, errors included. */
static inline __attribute__((always_inline)) int leaf_fast(pqw_shred *s, shn *x, int16_t rep,
							   int *rc)
{
	pqj *j = &s->j;
	char c = *j->p;
	uint64_t m;
	int neg, nf;
	const char *e, *v;
	size_t n;
	switch (x->conv) {
	case CV_I64: {
		if (!(e = pqj_number_plain(j, &m, &neg, &nf)) || nf)
			return 0;
		j->p = e;   /* at most 18 digits: it fits, as pqj_number would find */
		int64_t i = neg ? -(int64_t)m : (int64_t)m;
		*rc = pqw_put_fixed(x->col, x->def, rep, &i, 8) ? shred_oom(s, IDS_ENOMEM) : 0;
		return 1;
	}
	case CV_DOUBLE: {
		if (!(e = pqj_number_plain(j, &m, &neg, &nf)) || m > (1ULL << 53))
			return 0;
		/* what pqj_number and ids_jlex_double give: an integer's own value (so "-0" is
		 * +0.0), else Clinger's one exact division (m and 10^nf are exact) */
		static const double p10[19] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9,
					       1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18};
		double d = nf ? (neg ? -((double)m / p10[nf]) : (double)m / p10[nf])
			      : (double)(neg ? -(int64_t)m : (int64_t)m);
		j->p = e;
		*rc = pqw_put_fixed(x->col, x->def, rep, &d, 8) ? shred_oom(s, IDS_ENOMEM) : 0;
		return 1;
	}
	case CV_STRING:
		/* strict mode refuses a string in a column inferred as something else */
		if (c != '"' || (s->strict && x->skind != PQI_STRING && x->skind != PQI_TEXT))
			return 0;
		if (!(*rc = pqj_string(j, 0, &v, &n)) && (*rc = pqw_put_bytes(x->col, x->def, rep, v, n)))
			*rc = shred_oom(s, *rc);
		return 1;
	case CV_BOOL: {
		uint8_t t = c == 't';
		size_t k = t ? 4 : 5;
		/* a constant length each, so the compares are inline loads, not a call per value */
		if ((size_t)(j->end - j->p) < k ||
		    (t ? memcmp(j->p, "true", 4) != 0 : memcmp(j->p, "false", 5) != 0))
			return 0;
		j->p += k;
		*rc = pqw_put_fixed(x->col, x->def, rep, &t, 1) ? shred_oom(s, IDS_ENOMEM) : 0;
		return 1;
	}
	default:
		return 0;
	}
}

static int leaf(pqw_shred *s, shn *x, int16_t rep, int depth)
{
	pqj *j = &s->j;
	const char *at = j->p, *v;
	size_t n;
	int rc;
	char c = *at;
	if (leaf_fast(s, x, rep, &rc))
		return rc;
	switch (x->conv) {
	case CV_I64:
	case CV_I32: {
		if (c != '-' && (c < '0' || c > '9'))
			return shred_failf(s, x, at, "expected an integer");
		pqj_num num;
		if ((rc = pqj_number(j, &num)))
			return rc;
		int64_t i = num.i;
		if (s->strict && !num.fits)
			return shred_conflict(s, x, at, "an integer column got another number");
		if (!num.fits) {
			double dv = num.is_int ? 0 : ids_json_to_double(num.s, num.n);
			if (num.is_int || dv != trunc(dv) || fabs(dv) >= 9007199254740992.0)
				return shred_failf(s, x, at, num.is_int ? "integer out of range"
								       : "expected an integer");
			i = (int64_t)dv;
		}
		if (x->conv == CV_I64) {
			PUTF(x->col, x->def, rep, &i, 8);
			return 0;
		}
		int64_t lo = -(1LL << (x->bits - 1)), hi = (1LL << (x->bits - 1)) - 1;
		if (i < lo || i > hi)
			return shred_failf(s, x, at, "integer out of range for %d bits", x->bits);
		int32_t t = (int32_t)i;
		PUTF(x->col, x->def, rep, &t, 4);
		return 0;
	}
	case CV_STRING:
		if (s->strict && x->skind == PQI_TEXT && c == '{' && (rc = text_tag_ok(s, x)))
			return rc;
		if (s->strict && x->skind != PQI_TEXT && (x->skind != PQI_STRING || c != '"')) {
			/* only an empty object may repeat in a column inferred from {} */
			const char *q = at + 1;
			while (q < j->end && (*q == ' ' || *q == '\t' || *q == '\r'))
				q++;
			if (!(x->skind == PQI_STRUCT && c == '{' && q < j->end && *q == '}'))
				return shred_conflict(s, x, at, "a value of another type");
		}
		if (c == '"') {
			if ((rc = pqj_string(j, 0, &v, &n)))
				return rc;
			PUT_WITH(pqw_put_bytes, x->col, x->def, rep, v, n);
			return 0;
		}
		/* any other value is stored as its JSON text */
		__attribute__((fallthrough));
	case CV_JSON:
		if ((rc = pqj_skip(j, depth)))
			return rc;
		PUT(x->col, x->def, rep, at, (size_t)(j->p - at));
		return 0;
	case CV_DOUBLE:
	case CV_FLOAT:
		return leaf_number(s, x, rep);
	case CV_BOOL: {
		int b;
		if ((c != 't' && c != 'f') || (rc = pqj_literal(j, &b)))
			return shred_failf(s, x, at, "expected true or false");
		uint8_t t = (uint8_t)b;
		PUTF(x->col, x->def, rep, &t, 1);
		return 0;
	}
	case CV_DATE:
	case CV_TS:
	case CV_INT96:
		return leaf_time(s, x, rep);
	case CV_DEC_I32:
	case CV_DEC_I64:
	case CV_DEC_FLBA:
	case CV_DEC_BA:
		return leaf_decimal(s, x, rep);
	default:
		return leaf_binary(s, x, rep);
	}
}

/* Inline in object(): it runs once per field of every row. */
static inline __attribute__((always_inline)) int field(pqw_shred *s, shn *x, int16_t pdef,
							 int16_t rep, int depth)
{
	pqj *j = &s->j;
	char c = pqj_peek(j);
	int rc;
	if (c == 'n') {
		const char *at = j->p;
		int v;
		if ((rc = pqj_literal(j, &v)))
			return rc;
		if (x->required)
			return shred_failf(s, x, at, "null in a required field");
		return shred_nulls(s, x, pdef, rep);
	}
	if (!x->repeated) {
		/* most fields are scalars: straight to the leaf (shred_content's checks, inline) */
		if (x->kind == SH_LEAF && depth <= PQJ_MAX_DEPTH && j->p < j->end)
			return leaf_fast(s, x, rep, &rc) ? rc : leaf(s, x, rep, depth);
		return shred_content(s, x, rep, depth);
	}
	if (c != '[')
		return shred_failf(s, x, j->p, "expected an array");
	j->p++;
	if (pqj_peek(j) == ']') {
		j->p++;
		return shred_nulls(s, x, pdef, rep);
	}
	for (int i = 0;; i++) {
		pqj_ws(j);
		if ((rc = shred_content(s, x, i ? x->rep : rep, depth + 1)))
			return rc;
		if ((rc = pqj_next(j, ']')) <= 0)
			return rc;
	}
}

static long find_kid(const shn *x, const char *k, size_t kn)
{
	size_t h = x->hint;
	if (h < x->nkids && x->kids[h]->name_len == kn && !memcmp(x->kids[h]->name, k, kn))
		return (long)h;
	if (x->index) {
		for (size_t q = pqj_name_hash(k, kn) & x->index_mask; x->index[q];
		     q = (q + 1) & x->index_mask) {
			const shn *kid = x->kids[x->index[q] - 1];
			if (kid->name_len == kn && !memcmp(kid->name, k, kn))
				return (long)x->index[q] - 1;
		}
		return -1;
	}
	for (size_t i = 0; i < x->nkids; i++)
		if (x->kids[i]->name_len == kn && !memcmp(x->kids[i]->name, k, kn))
			return (long)i;
	return -1;
}

/* defer (a constant in each of the two copies below): x is the root while nulls are
 * deferred (pqw_shred_defer). Two copies so that rows of other shapes pay nothing for it. */
static inline __attribute__((always_inline)) int object_in(pqw_shred *s, shn *x, int16_t rep,
							     int depth, int defer)
{
	pqj *j = &s->j;
	int rc;
	if (pqj_peek(j) != '{')
		return shred_failf(s, x, j->p, "expected an object");
	j->p++;
	uint64_t stamp = ++s->stamp;
	x->hint = 0;   /* objects usually list their keys in the same order, from the first */
	if (pqj_peek(j) == '}') {
		j->p++;
	} else {
		do {
			const char *k, *kat = j->p;
			size_t kn;
			int hit;
			long ix;
			shn *hk = x->hint < x->nkids ? x->kids[x->hint] : NULL;
			/* compact text holding the expected key: '"', the name, '"', ':' with no
			 * space between (the scanner's whitespace checks would cost three times) */
			size_t kl = hk ? hk->key.len + 2 : 0;
			if (hk && pqj_key_is(kat, j->end, &hk->key) && *kat == '"' &&
			    (size_t)(j->end - kat) > kl && kat[kl] == ':') {
				j->p = kat + kl + 1;
				ix = (long)x->hint;
			} else {
				pqj_ws(j);
				kat = j->p;
				if ((rc = pqj_obj_key(j, hk ? &hk->key : NULL, &k, &kn, &hit)))
					return rc;
				ix = hit ? (long)x->hint : find_kid(x, k, kn);
			}
			if (ix < 0) {
				if (s->strict)
					return shred_conflict(s, x, kat, "a new field");
				if ((rc = pqj_skip(j, depth + 1)))
					return rc;
			} else {
				size_t idx = (size_t)ix;
				shn *kid = x->kids[idx];
				if (x->seen[idx] == stamp)
					return shred_failf(s, kid, kat, "duplicate key");
				x->seen[idx] = stamp;
				x->hint = idx + 1;
				if (defer && kid->lazy) {
					/* the rows since its last entry left it out */
					if (kid->filled < s->row &&
					    pqw_put_nulls(kid->col, 0, s->row - kid->filled))
						return shred_oom(s, IDS_ENOMEM);
					kid->filled = s->row + 1;
				}
				if ((rc = field(s, kid, x->def, rep, depth + 1)))
					return rc;
			}
		} while ((rc = pqj_next(j, '}')) > 0);
		if (rc)
			return rc;
	}
	/* every kid the row left out gets its nulls (while deferring, only the kids that do not
	 * defer: the others get theirs later in one run) */
	size_t n = defer ? x->neager : x->nkids;
	for (size_t e = 0; e < n; e++) {
		size_t i = defer ? x->eager[e] : e;
		if (x->seen[i] == stamp)
			continue;
		shn *kid = x->kids[i];
		if (kid->required && !kid->repeated)
			return shred_failf(s, kid, j->p - 1, "missing required field");
		if ((rc = shred_nulls(s, kid, x->def, rep)))
			return rc;
	}
	return 0;
}

static int object(pqw_shred *s, shn *x, int16_t rep, int depth)
{
	return object_in(s, x, rep, depth, 0);
}

static int object_deferring(pqw_shred *s, shn *x, int16_t rep, int depth)
{
	return object_in(s, x, rep, depth, 1);
}

static int map_key(pqw_shred *s, shn *k, int16_t rep, const char *v, size_t n, const char *at)
{
	if (k->conv == CV_STRING || k->conv == CV_BINARY || k->conv == CV_JSON) {
		PUT(k->col, k->def, rep, v, n);
		return 0;
	}
	if (k->conv == CV_I32 || k->conv == CV_I64) {
		pqj sub;
		pqj_init(&sub, NULL);
		pqj_reset(&sub, v, n);
		pqj_num num;
		int bad = !n || pqj_number(&sub, &num) || sub.p != sub.end || !num.fits ||
			  (k->conv == CV_I32 && (num.i < INT32_MIN || num.i > INT32_MAX));
		pqj_free(&sub);
		if (bad)
			return shred_failf(s, k, at, "map key is not an integer");
		int32_t t = (int32_t)num.i;
		PUT(k->col, k->def, rep, k->conv == CV_I32 ? (void *)&t : (void *)&num.i,
		    k->conv == CV_I32 ? 4 : 8);
		return 0;
	}
	return shred_failf(s, k, at, "this key type needs the [{\"key\":..,\"value\":..}] form");
}

static int map(pqw_shred *s, shn *x, int16_t rep, int depth)
{
	pqj *j = &s->j;
	shn *kv = x->elem;
	char open = pqj_peek(j), close = open == '{' ? '}' : ']';
	int rc;
	if (open != '{' && open != '[')
		return shred_failf(s, x, j->p, "expected an object or an array of {key,value}");
	j->p++;
	if (pqj_peek(j) == close) {
		j->p++;
		return shred_nulls(s, x, x->def, rep);
	}
	for (int i = 0;; i++) {
		int16_t rr = i ? x->elem_rep : rep;
		if (open == '[') {
			pqj_ws(j);
			if ((rc = shred_content(s, kv, rr, depth + 1)))
				return rc;
		} else {
			if (pqj_peek(j) != '"')
				return pqj_fail(j, j->p, "expected a string key");
			const char *k, *kat = j->p;
			size_t kn;
			if ((rc = pqj_string(j, 1, &k, &kn)) ||
			    (rc = map_key(s, kv->kids[0], rr, k, kn, kat)) ||
			    (rc = pqj_expect(j, ':', "':'")))
				return rc;
			if (kv->nkids == 2) {
				if ((rc = field(s, kv->kids[1], kv->def, rr, depth + 1)))
					return rc;
			} else if ((rc = pqj_skip(j, depth + 1))) {
				return rc;
			}
		}
		if ((rc = pqj_next(j, close)) <= 0)
			return rc;
	}
}

int shred_content(pqw_shred *s, shn *x, int16_t rep, int depth)
{
	pqj *j = &s->j;
	if (depth > PQJ_MAX_DEPTH)
		return pqj_fail(j, j->p, "nesting deeper than %d", PQJ_MAX_DEPTH);
	/* callers have skipped whitespace (field() peeks; loops call pqj_ws) */
	if (j->p >= j->end)
		return pqj_fail(j, j->p, "unexpected end of input");
	switch (x->kind) {
	case SH_LEAF:
		return leaf(s, x, rep, depth);
	case SH_STRUCT:
		return s->nlazy && x == s->root ? object_deferring(s, x, rep, depth)
						 : object(s, x, rep, depth);
	case SH_MAP:
		return map(s, x, rep, depth);
	default:
		break;
	}
	/* list */
	int rc;
	if (*j->p != '[')
		return shred_failf(s, x, j->p, "expected an array");
	j->p++;
	if (pqj_peek(j) == ']') {
		j->p++;
		return shred_nulls(s, x, x->def, rep);
	}
	for (int i = 0;; i++) {
		int16_t rr = i ? x->elem_rep : rep;
		if (!x->three)
			pqj_ws(j);
		rc = x->three ? field(s, x->elem, (int16_t)(x->def + 1), rr, depth + 1)
			      : shred_content(s, x->elem, rr, depth + 1);
		if (rc)
			return rc;
		if ((rc = pqj_next(j, ']')) <= 0)
			return rc;
	}
}
