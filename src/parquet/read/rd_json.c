/* Leaf values to JSON text in the idbsync conventions (see pq_read.h): logical types are
 * interpreted here (dates, timestamps, decimals, UUIDs, unsigned ints, JSON), with hand-written
 * formatters for integers, timestamps and strings because this is the reader's hot path. */
#include "parquet/read/rd_internal.h"
#include "idbsync/value.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int rd_json_text(ids_buf *out, const uint8_t *s, size_t n); /* rd_jsontext.c */

static char *u64_digits(char *end, uint64_t v)
{
	/* writes digits backwards ending at end; returns the first digit */
	static const char pairs[] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
				    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
				    "8081828384858687888990919293949596979899";
	char *p = end;
	while (v >= 100) {
		unsigned r = (unsigned)(v % 100);
		v /= 100;
		p -= 2;
		memcpy(p, pairs + 2 * r, 2);
	}
	if (v >= 10) {
		p -= 2;
		memcpy(p, pairs + 2 * v, 2);
	} else {
		*--p = (char)('0' + v);
	}
	return p;
}

static int put_u64(ids_buf *out, uint64_t v)
{
	char tmp[24], *e = tmp + sizeof tmp;
	char *p = u64_digits(e, v);
	return rd_put(out, p, (size_t)(e - p));
}

static int put_i64(ids_buf *out, int64_t v)
{
	char tmp[24], *e = tmp + sizeof tmp;
	char *p = u64_digits(e, v < 0 ? 0 - (uint64_t)v : (uint64_t)v);
	if (v < 0)
		*--p = '-';
	return rd_put(out, p, (size_t)(e - p));
}

static int put_num_tag(ids_buf *out, const char *s)
{
	ids_buf_puts(out, "{\"$num\":\"");
	ids_buf_puts(out, s);
	return ids_buf_puts(out, "\"}");
}

static const double pow10_tab[23] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
				     1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Shortest round-trip digits without printf for the common range [1e-7, 1e15): the 15- or
 * 16-digit candidate D is computed in extended precision and accepted only if D / 10^s
 * reads back as v, which is exact here (D < 2^53 and 10^s exact: Clinger's fast path).
 * A 15-digit decimal that round-trips is unique for a normal double, so stripping its
 * trailing zeros gives the shortest form; 17 digits always round-trip. Returns 0 when the
 * caller must use the slow path. */
static int fast_double(double v, char *out)
{
	double a = fabs(v);
	if (!(a >= 1e-7 && a < 1e15))
		return 0;
	int e10 = 0;
	while (e10 < 14 && a >= pow10_tab[e10 + 1])
		e10++;
	if (a < 1.0) {
		e10 = -1;
		while (e10 > -7 && a * pow10_tab[-e10] < 1.0)
			e10--;
	}
	for (int prec = 15; prec <= 17; prec++) {
		int s = prec - 1 - e10;
		if (s < 0 || s > 22)
			return 0;
		long double x = (long double)a * (long double)pow10_tab[s];
		long double r = x + 0.5L;
		uint64_t d;
		if (prec < 17) {
			if (r >= 9007199254740992.0L)
				return 0;
			d = (uint64_t)r;
			if ((double)d / pow10_tab[s] != a)
				continue;
		} else {
			/* 17 digits: the nearest 17-digit decimal is within 5e-17 relative of a, less
			 * than half an ulp, so it always reads back as a (no check needed) */
			if (r < 1e16L || r >= 1e17L)
				return 0;
			d = (uint64_t)r;
		}
		while (s > 0 && d % 10 == 0) {
			d /= 10;
			s--;
		}
		char tmp[24], *e = tmp + sizeof tmp, *p = u64_digits(e, d), *o = out;
		size_t nd = (size_t)(e - p);
		if (v < 0)
			*o++ = '-';
		if ((size_t)s >= nd) {
			*o++ = '0';
			*o++ = '.';
			for (size_t i = nd; i < (size_t)s; i++)
				*o++ = '0';
			memcpy(o, p, nd);
			o += nd;
		} else {
			memcpy(o, p, nd - (size_t)s);
			o += nd - (size_t)s;
			if (s > 0) {
				*o++ = '.';
				memcpy(o, p + nd - (size_t)s, (size_t)s);
				o += s;
			}
		}
		return (int)(o - out);
	}
	return 0;
}

static int put_double(ids_buf *out, double v, int is_float)
{
	if (isnan(v))
		return put_num_tag(out, "NaN");
	if (isinf(v))
		return put_num_tag(out, v > 0 ? "Infinity" : "-Infinity");
	if (v == 0)
		return signbit(v) ? put_num_tag(out, "-0") : rd_putc(out, '0');
	if (fabs(v) < 9007199254740992.0 && v == (double)(int64_t)v)
		return put_i64(out, (int64_t)v);
	char tmp[40];
	int n = is_float ? 0 : fast_double(v, tmp);
	if (n > 0)
		return rd_put(out, tmp, (size_t)n);
	/* Shortest digits that read back as the same value. For normal numbers any decimal of
	 * <= DBL_DIG (FLT_DIG) digits round-trips, so %.15g (%.6g) already is the shortest when
	 * one that short exists; subnormals carry fewer bits and may need fewer digits. */
	int sub = is_float ? fabs(v) < FLT_MIN : fabs(v) < DBL_MIN;
	for (int prec = sub ? 1 : is_float ? 6 : 15; prec <= 17; prec++) {
		n = snprintf(tmp, sizeof tmp, "%.*g", prec, v);
		if (is_float ? strtof(tmp, NULL) == (float)v : strtod(tmp, NULL) == v)
			break;
	}
	return rd_put(out, tmp, (size_t)n);
}

/* {"$date":"YYYY-MM-DDTHH:MM:SS.fffZ"}; frac_ns in [0, 1e9) prints 3, 6 or 9 digits */
static int put_date(ids_buf *out, int64_t secs, uint32_t frac_ns)
{
	char buf[64];
	memcpy(buf, "{\"$date\":\"", 10);
	int digits = frac_ns % 1000000 == 0 ? 3 : frac_ns % 1000 == 0 ? 6 : 9;
	size_t n = 10 + (size_t)ids_iso_format(secs, frac_ns, digits, buf + 10);
	memcpy(buf + n, "\"}", 2);
	return rd_put(out, buf, n + 2);
}

static int put_ts(ids_buf *out, int64_t v, pq_time_unit unit)
{
	int64_t per = unit == PQ_MILLIS ? 1000 : unit == PQ_MICROS ? 1000000 : 1000000000;
	int64_t secs = v / per, r = v % per;
	if (r < 0) {
		r += per;
		secs--;
	}
	return put_date(out, secs, (uint32_t)(r * (1000000000 / per)));
}

/* TIME as a string "HH:MM:SS.fff", with 6 or 9 fraction digits only when they are non-zero */
static int put_time(ids_buf *out, int64_t v, pq_time_unit unit)
{
	int64_t per = unit == PQ_MILLIS ? 1000 : unit == PQ_MICROS ? 1000000 : 1000000000;
	if (v < 0 || v / per > 86400)
		return put_i64(out, v);
	int64_t s = v / per;
	uint32_t ns = (uint32_t)((v % per) * (1000000000 / per));
	int digits = ns % 1000000 == 0 ? 3 : ns % 1000 == 0 ? 6 : 9;
	uint32_t f = digits == 3 ? ns / 1000000 : digits == 6 ? ns / 1000 : ns;
	char buf[32];
	int n = snprintf(buf, sizeof buf, "\"%02d:%02d:%02d.%0*u\"", (int)(s / 3600), (int)(s / 60 % 60),
			 (int)(s % 60), digits, f);
	return rd_put(out, buf, (size_t)n);
}

/* "digits" with a decimal point inserted `scale` places from the right */
static int put_scaled(ids_buf *out, int neg, const char *digits, size_t nd, int32_t scale)
{
	if (scale < 0)
		scale = 0;
	rd_putc(out, '"');
	if (scale > 100) { /* no real schema has this; keep the output linear in the input */
		if (neg)
			rd_putc(out, '-');
		rd_put(out, digits, nd);
		ids_buf_printf(out, "e-%d", scale);
		return rd_putc(out, '"');
	}
	if (neg)
		rd_putc(out, '-');
	if ((size_t)scale >= nd) {
		rd_put(out, "0.", 2);
		for (size_t i = nd; i < (size_t)scale; i++)
			rd_putc(out, '0');
		rd_put(out, digits, nd);
	} else if (scale > 0) {
		rd_put(out, digits, nd - (size_t)scale);
		rd_putc(out, '.');
		rd_put(out, digits + nd - (size_t)scale, (size_t)scale);
	} else {
		rd_put(out, digits, nd);
	}
	return rd_putc(out, '"');
}

static int put_decimal_i64(ids_buf *out, int64_t v, int32_t scale)
{
	char tmp[24], *e = tmp + sizeof tmp;
	char *p = u64_digits(e, v < 0 ? 0 - (uint64_t)v : (uint64_t)v);
	return put_scaled(out, v < 0, p, (size_t)(e - p), scale);
}

static int put_bin(ids_buf *out, const uint8_t *b, size_t n)
{
	rd_put(out, "{\"$bin\":\"", 9);
	ids_base64_encode(b, n, out);
	return rd_put(out, "\"}", 2);
}

/* big-endian two's complement (capped length) */
static int put_decimal_be(ids_buf *out, const uint8_t *b, size_t n, int32_t scale)
{
	if (n == 0)
		return put_scaled(out, 0, "0", 1, scale);
	/* conversion is quadratic in the length: beyond 32 bytes (77 digits, far past any
	 * engine's DECIMAL) the bytes are emitted as binary instead */
	if (n > 32)
		return put_bin(out, b, n);
	uint8_t mag[32];
	int neg = b[0] & 0x80;
	memcpy(mag, b, n);
	if (neg) { /* two's complement negate */
		int carry = 1;
		for (size_t i = n; i-- > 0;) {
			unsigned v = (unsigned)(uint8_t)~mag[i] + (unsigned)carry;
			mag[i] = (uint8_t)v;
			carry = v >> 8;
		}
	}
	char digits[96];
	size_t nd = 0;
	size_t start = 0;
	while (start < n && mag[start] == 0)
		start++;
	/* repeated division by 1e9: quadratic but n <= 256 */
	while (start < n) {
		uint64_t rem = 0;
		for (size_t i = start; i < n; i++) {
			uint64_t cur = rem << 8 | mag[i];
			mag[i] = (uint8_t)(cur / 1000000000u);
			rem = cur % 1000000000u;
		}
		while (start < n && mag[start] == 0)
			start++;
		for (int k = 0; k < 9 && (start < n || rem); k++) {
			digits[nd++] = (char)('0' + rem % 10);
			rem /= 10;
		}
	}
	if (nd == 0)
		digits[nd++] = '0';
	for (size_t i = 0; i < nd / 2; i++) {
		char t = digits[i];
		digits[i] = digits[nd - 1 - i];
		digits[nd - 1 - i] = t;
	}
	return put_scaled(out, neg, digits, nd, scale);
}

static int put_uuid(ids_buf *out, const uint8_t *b)
{
	static const char hex[] = "0123456789abcdef";
	char s[38], *p = s;
	*p++ = '"';
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[b[i] >> 4];
		*p++ = hex[b[i] & 15];
	}
	*p++ = '"';
	return rd_put(out, s, (size_t)(p - s));
}

static float half_to_float(uint16_t h)
{
	int e = (h >> 10) & 31, m = h & 1023;
	float v = e == 0 ? ldexpf((float)m, -24) : e == 31 ? (m ? NAN : INFINITY)
			 : ldexpf((float)(m | 1024), e - 25);
	return (h & 0x8000) ? -v : v;
}

int rd_json_value(const pq_column_desc *c, const uint8_t *v, ids_buf *out)
{
	const pq_node *n = c->node;
	const pq_logical *lt = &n->logical;
	switch (n->type) {
	case PQ_BOOLEAN:
		return *v ? rd_put(out, "true", 4) : rd_put(out, "false", 5);
	case PQ_INT32: {
		int32_t x;
		memcpy(&x, v, 4);
		if (lt->kind == PQ_LT_DATE)
			return put_date(out, (int64_t)x * 86400, 0);
		if (lt->kind == PQ_LT_DECIMAL)
			return put_decimal_i64(out, x, lt->scale);
		if (lt->kind == PQ_LT_INTEGER && !lt->is_signed)
			return put_u64(out, (uint32_t)x);
		if (lt->kind == PQ_LT_TIME)
			return put_time(out, x, PQ_MILLIS);
		return put_i64(out, x);
	}
	case PQ_INT64: {
		int64_t x;
		memcpy(&x, v, 8);
		if (lt->kind == PQ_LT_TIMESTAMP)
			return put_ts(out, x, lt->unit);
		if (lt->kind == PQ_LT_DECIMAL)
			return put_decimal_i64(out, x, lt->scale);
		if (lt->kind == PQ_LT_INTEGER && !lt->is_signed)
			return put_u64(out, (uint64_t)x);
		if (lt->kind == PQ_LT_TIME)
			return put_time(out, x, lt->unit);
		return put_i64(out, x);
	}
	case PQ_INT96: {
		int64_t nod;
		int32_t jd;
		memcpy(&nod, v, 8);
		memcpy(&jd, v + 8, 4);
		int64_t secs = nod / 1000000000, r = nod % 1000000000;
		if (r < 0) {
			r += 1000000000;
			secs--;
		}
		return put_date(out, ((int64_t)jd - 2440588) * 86400 + secs, (uint32_t)r);
	}
	case PQ_FLOAT: {
		float f;
		memcpy(&f, v, 4);
		return put_double(out, f, 1);
	}
	case PQ_DOUBLE: {
		double d;
		memcpy(&d, v, 8);
		return put_double(out, d, 0);
	}
	case PQ_BYTE_ARRAY: {
		pq_rbytes b;
		memcpy(&b, v, sizeof b);
		switch (lt->kind) {
		case PQ_LT_STRING: case PQ_LT_ENUM:
			return rd_json_str(out, b.ptr, b.len);
		case PQ_LT_JSON:
			return rd_json_text(out, b.ptr, b.len);
		case PQ_LT_DECIMAL:
			return put_decimal_be(out, b.ptr, b.len, lt->scale);
		default:
			return put_bin(out, b.ptr, b.len);
		}
	}
	case PQ_FIXED_LEN_BYTE_ARRAY: {
		size_t len = (size_t)n->type_length;
		if (lt->kind == PQ_LT_UUID && len == 16)
			return put_uuid(out, v);
		if (lt->kind == PQ_LT_DECIMAL)
			return put_decimal_be(out, v, len, lt->scale);
		if (lt->kind == PQ_LT_FLOAT16 && len == 2)
			return put_double(out, half_to_float((uint16_t)(v[0] | v[1] << 8)), 1);
		if (lt->kind == PQ_LT_STRING || lt->kind == PQ_LT_ENUM)
			return rd_json_str(out, v, len);
		return put_bin(out, v, len);
	}
	default:
		return rd_put(out, "null", 4);
	}
}

int pq_value_to_json(const pq_column_desc *c, const void *v, ids_buf *out)
{
	return rd_json_value(c, v, out);
}
