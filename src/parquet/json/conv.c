/* Exact conversions from JSON text to Parquet physical values that need more than a cast:
 * decimals (digits scaled exactly, never through a double), UUID strings, timestamps in
 * a unit (refusing to drop precision) and INT96. */
#include "conv.h"

#include "idbsync/pq_write.h"

#include <string.h>

int pqc_decimal(const char *s, size_t n, int scale, int precision, __int128 *out,
		const char **why)
{
	size_t i = 0;
	int neg = 0;
	if (i < n && (s[i] == '-' || s[i] == '+'))
		neg = s[i++] == '-';
	/* collect significant digits and where the decimal point sits */
	unsigned __int128 v = 0;
	int digits = 0, frac = 0, seen_digit = 0, dot = 0;
	for (; i < n; i++) {
		char c = s[i];
		if (c == '.' && !dot) {
			dot = 1;
			continue;
		}
		if (c < '0' || c > '9')
			break;
		seen_digit = 1;
		if (dot)
			frac++;
		if (v == 0 && c == '0') {
			continue;
		}
		if (++digits > 38) {
			*why = "more than 38 digits";
			return -1;
		}
		v = v * 10 + (unsigned)(c - '0');
	}
	if (!seen_digit) {
		*why = "not a decimal number";
		return -1;
	}
	long exp = 0;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		int eneg = 0;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			eneg = s[i++] == '-';
		if (i >= n) {
			*why = "bad exponent";
			return -1;
		}
		for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			if ((exp = exp * 10 + (s[i] - '0')) > 1000) {
				*why = "exponent out of range";
				return -1;
			}
		if (eneg)
			exp = -exp;
	}
	if (i != n) {
		*why = "not a decimal number";
		return -1;
	}
	/* value = v * 10^(exp - frac); we need v * 10^(exp - frac + scale) to be an integer */
	long shift = exp - frac + scale;
	while (shift < 0) {
		if (v % 10) {
			*why = "more fraction digits than the column's scale";
			return -1;
		}
		v /= 10;
		shift++;
	}
	while (shift > 0 && v) {
		if (v > (unsigned __int128)(((unsigned __int128)1 << 126) / 5)) {
			*why = "too many digits for the column's precision";
			return -1;
		}
		v *= 10;
		shift--;
	}
	unsigned __int128 lim = 1;
	for (int k = 0; k < precision; k++)
		lim *= 10;
	if (v >= lim) {
		*why = "too many digits for the column's precision";
		return -1;
	}
	*out = neg ? -(__int128)v : (__int128)v;
	return 0;
}

void pqc_decimal_be(__int128 v, uint8_t *out, int width)
{
	for (int i = width - 1; i >= 0; i--) {
		out[i] = (uint8_t)(v & 0xFF);
		v >>= 8;   /* arithmetic shift keeps the sign for the leading bytes */
	}
}

int pqc_decimal_min_bytes(__int128 v)
{
	for (int n = 1; n < 16; n++) {
		__int128 lo = -((__int128)1 << (8 * n - 1)), hi = ((__int128)1 << (8 * n - 1)) - 1;
		if (v >= lo && v <= hi)
			return n;
	}
	return 16;
}

static int hexv(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int pqc_uuid(const char *s, size_t n, uint8_t out[16])
{
	if (n != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-')
		return -1;
	int k = 0;
	for (size_t i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23)
			continue;
		int hi = hexv(s[i]), lo = hexv(s[i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[k++] = (uint8_t)(hi << 4 | lo);
		i++;
	}
	return 0;
}

int pqc_ts_unit(int64_t secs, int32_t nanos, pq_time_unit unit, int64_t *out)
{
	static const int64_t per_sec[3] = {1000, 1000000, 1000000000};
	static const int32_t div[3] = {1000000, 1000, 1};
	if (nanos % div[unit])
		return -1;   /* precision would be lost */
	int64_t v;
	if (__builtin_mul_overflow(secs, per_sec[unit], &v) ||
	    __builtin_add_overflow(v, (int64_t)(nanos / div[unit]), &v))
		return -2;
	*out = v;
	return 0;
}

void pqc_int96(int64_t secs, int32_t nanos, uint8_t out[12])
{
	int64_t days = secs / 86400, sod = secs % 86400;
	if (sod < 0) {
		sod += 86400;
		days--;
	}
	int64_t nod = sod * 1000000000LL + nanos;
	uint32_t jd = (uint32_t)(days + 2440588);
	memcpy(out, &nod, 8);
	memcpy(out + 8, &jd, 4);
}

int pqc_unit_to_secs(int64_t v, pq_time_unit unit, int64_t *secs, int32_t *nanos)
{
	static const int64_t per_sec[3] = {1000, 1000000, 1000000000};
	int64_t q = v / per_sec[unit], r = v % per_sec[unit];
	if (r < 0) {
		r += per_sec[unit];
		q--;
	}
	*secs = q;
	*nanos = (int32_t)(r * (1000000000 / per_sec[unit]));
	return 0;
}

int pqc_instant(int int96, pq_time_unit unit, int64_t secs, int32_t nanos, uint8_t out[12], size_t *len,
		const char **why)
{
	if (int96) {
		/* floor division: pqc_int96 takes the day before for a negative time of day, and
		 * one second before Julian day 0 must not wrap to day 2^32-1 */
		int64_t day = secs / 86400 - (secs % 86400 < 0);
		if (day + 2440588 < 0 || day + 2440588 > UINT32_MAX) {
			*why = "timestamp out of range";
			return -2;
		}
		pqc_int96(secs, nanos, out);
		*len = 12;
		return 0;
	}
	int64_t v;
	int rc = pqc_ts_unit(secs, nanos, unit, &v);
	if (rc) {
		*why = rc == -1 ? "timestamp has more precision than the column's unit" : "timestamp out of range";
		return rc;
	}
	memcpy(out, &v, 8);
	*len = 8;
	return 0;
}

int pq_instant_value(uint8_t out[12], size_t *len, const pq_node *n, int64_t secs, int32_t nanos,
		     ids_error *err)
{
	pq_time_unit unit = PQ_MICROS;
	int int96 = n->type == PQ_INT96;
	if (!int96) {
		if (n->type == PQ_INT64 && n->logical.kind == PQ_LT_TIMESTAMP)
			unit = n->logical.unit;
		else if (n->type == PQ_INT64 && (n->converted == PQ_CT_TIMESTAMP_MILLIS ||
						 n->converted == PQ_CT_TIMESTAMP_MICROS))
			unit = n->converted == PQ_CT_TIMESTAMP_MILLIS ? PQ_MILLIS : PQ_MICROS;
		else
			return ids_fail(err, IDS_EINVAL, "column '%s' is not a timestamp", n->name);
	}
	const char *why = NULL;
	if (pqc_instant(int96, unit, secs, nanos, out, len, &why))
		return ids_fail(err, IDS_EINVAL, "column '%s': %s", n->name, why);
	return 0;
}
