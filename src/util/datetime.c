/* Dates, once: ISO-8601 text <-> instants (seconds + nanoseconds, or JavaScript's milliseconds)
 * and the proleptic Gregorian calendar under them. The push check, the key encoding, the lake,
 * the Parquet writer's $date and inference, and the Parquet reader's output all call these, so
 * what the push accepts is what the lake and the writer read. See idbsync/value.h. */
#include "idbsync/value.h"

#include <math.h>
#include <string.h>

/* Days from 1970-01-01 to y-m-d (H. Hinnant's days_from_civil). */
int64_t ids_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

void ids_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t yy = (int64_t)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = yy + (*m <= 2);
}

static int is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int valid_ymd(int64_t y, int m, int d)
{
	static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return m >= 1 && m <= 12 && d >= 1 && d <= mdays[m - 1] + (m == 2 && is_leap(y));
}

static int dig(const char *s, size_t n, size_t *i, int count, int *out)
{
	int v = 0;
	for (int k = 0; k < count; k++) {
		if (*i >= n || s[*i] < '0' || s[*i] > '9')
			return -1;
		v = v * 10 + (s[(*i)++] - '0');
	}
	*out = v;
	return 0;
}

/* The date part ("YYYY-MM-DD", years also "+YYYYYY"/"-YYYYYY"); the index after it, 0 if bad. */
static size_t parse_ymd(const char *s, size_t n, int64_t *days)
{
	size_t i = 0;
	int64_t y;
	int yy, m, d;
	if (n > 0 && (s[0] == '+' || s[0] == '-')) {
		i = 1;
		if (dig(s, n, &i, 6, &yy))
			return 0;
		y = s[0] == '-' ? -(int64_t)yy : yy;
	} else {
		if (dig(s, n, &i, 4, &yy))
			return 0;
		y = yy;
	}
	if (i >= n || s[i++] != '-' || dig(s, n, &i, 2, &m) || i >= n || s[i++] != '-' || dig(s, n, &i, 2, &d))
		return 0;
	if (!valid_ymd(y, m, d))
		return 0;
	*days = ids_days_from_civil(y, (unsigned)m, (unsigned)d);
	return i;
}

int ids_iso_date(const char *s, size_t n, int32_t *days)
{
	int64_t d;
	size_t i = parse_ymd(s, n, &d);
	if (!i || i != n || d < INT32_MIN || d > INT32_MAX)
		return IDS_EINVAL;
	*days = (int32_t)d;
	return 0;
}

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* The form writers emit ("2024-01-01T00:00:00.000Z", 24 bytes), as three little-endian words
 * ("2024-01-", "01T00:00", ":00.000Z"): the separators checked with one compare per word, the
 * other bytes as digits without carries between bytes (b ^ '0' is a digit when neither it
 * nor (it & 0x7f) + 0x76 has its high bit, as in jsonlex.c), and every two-digit field made
 * by one multiply per word (byte i of x * 10 + (x >> 8) is 10 * digit i + digit i+1). */
static int iso_fast(const char *s, int64_t *secs, int32_t *nanos, int *digits)
{
	static const uint64_t sep_mask[3] = {0xFF0000FF00000000ULL, 0x0000FF0000FF0000ULL,
					     0xFF000000FF0000FFULL};
	static const uint64_t sep_want[3] = {0x2D00002D00000000ULL,    /* '-' at 4 and 7 */
					     0x00003A0000540000ULL,    /* 'T' at 10, ':' at 13 */
					     0x5A0000002E00003AULL};   /* ':' 16, '.' 19, 'Z' 23 */
	uint64_t w[3], pair[3], dg[3];
	memcpy(w, s, sizeof w);
	/* unrolled, the masks are constants (-O2 kept the loop and loaded them per word) */
#pragma GCC unroll 3
	for (int k = 0; k < 3; k++) {
		uint64_t x = w[k] ^ (ONES * '0');
		if ((w[k] & sep_mask[k]) != sep_want[k] ||
		    ((x | ((x & (ONES * 0x7f)) + ONES * 0x76)) & HIGHS & ~sep_mask[k]))
			return -1;
		dg[k] = x & ~sep_mask[k];
		pair[k] = dg[k] * 10 + (dg[k] >> 8);
	}
#define BYTE(v, i) ((int)(((v) >> (8 * (i))) & 0xff))
	int64_t y = BYTE(pair[0], 0) * 100 + BYTE(pair[0], 2);
	int mo = BYTE(pair[0], 5), d = BYTE(pair[1], 0), hh = BYTE(pair[1], 3),
	    mm = BYTE(pair[1], 6), ss = BYTE(pair[2], 1), ms = BYTE(pair[2], 4) * 10 + BYTE(dg[2], 6);
#undef BYTE
	if (hh > 23 || mm > 59 || ss > 59)
		return -1;
	/* the date of the last call on this thread, checked and counted: timestamps in a log
	 * or a table mostly come in order, so one date repeats for thousands of values (a third
	 * of this function was valid_ymd and days_from_civil) */
	static _Thread_local uint64_t memo_ym = 0, memo_d = UINT64_MAX;
	static _Thread_local int64_t memo_days;
	uint64_t dword = w[1] & 0xFFFF;
	if (w[0] != memo_ym || dword != memo_d) {
		if (!valid_ymd(y, mo, d))
			return -1;
		memo_days = ids_days_from_civil(y, (unsigned)mo, (unsigned)d);
		memo_ym = w[0];
		memo_d = dword;
	}
	*secs = memo_days * 86400 + hh * 3600 + mm * 60 + ss;
	*nanos = ms * 1000000;
	*digits = ms == 0 ? 0 : ms % 10 ? 3 : ms % 100 ? 2 : 1;
	return 0;
}

int ids_iso_parse(const char *s, size_t n, int flags, int64_t *secs, int32_t *nanos, int *digits)
{
	int js = flags & IDS_ISO_JS;
	if (n == 24 && !iso_fast(s, secs, nanos, digits))
		return 0;
	int64_t days;
	size_t i = parse_ymd(s, n, &days);
	if (!i)
		return IDS_EINVAL;
	int hh = 0, mm = 0, ss = 0, frac = 0, nd = 0, timed = 0;
	if (i < n && (s[i] == 'T' || (!js && (s[i] == 't' || s[i] == ' ')))) {
		timed = 1;
		i++;
		if (dig(s, n, &i, 2, &hh) || i >= n || s[i++] != ':' || dig(s, n, &i, 2, &mm))
			return IDS_EINVAL;
		if (i < n && s[i] == ':') {
			i++;
			if (dig(s, n, &i, 2, &ss))
				return IDS_EINVAL;
			if (i < n && s[i] == '.') {
				i++;
				int k = 0;
				while (i < n && s[i] >= '0' && s[i] <= '9') {
					if (k == 9)
						return IDS_EINVAL;
					frac = frac * 10 + (s[i++] - '0');
					k++;
				}
				if (!k)
					return IDS_EINVAL;
				for (int z = k; z < 9; z++)
					frac *= 10;
			}
		}
		/* JavaScript takes 24:00 as the end of the day (its milliseconds must be zero too) */
		if (mm > 59 || ss > 59 || (hh > 23 && !(js && hh == 24 && !mm && !ss && frac < 1000000)))
			return IDS_EINVAL;
	}
	int64_t off = 0;
	if (js) {
		/* Date.toISOString()'s form: a time is always UTC, written Z */
		if (timed && (i >= n || s[i++] != 'Z'))
			return IDS_EINVAL;
	} else if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
		i++;
	} else if (i < n && (s[i] == '+' || s[i] == '-')) {
		int sign = s[i++] == '-' ? -1 : 1, oh, om;
		if (dig(s, n, &i, 2, &oh))
			return IDS_EINVAL;
		if (i < n && s[i] == ':')
			i++;
		if (dig(s, n, &i, 2, &om) || oh > 23 || om > 59)
			return IDS_EINVAL;
		off = sign * (oh * 3600 + om * 60);
	}
	if (i != n)
		return IDS_EINVAL;
	if (frac) {
		int f = frac;
		nd = 9;
		while (f % 10 == 0) {
			f /= 10;
			nd--;
		}
	}
	*secs = days * 86400 + hh * 3600 + mm * 60 + ss - off;
	*nanos = frac;
	*digits = nd;
	return 0;
}

int ids_iso_to_ms(const char *s, size_t n, double *ms)
{
	int64_t secs;
	int32_t nanos;
	int digits;
	if (ids_iso_parse(s, n, IDS_ISO_JS, &secs, &nanos, &digits))
		return IDS_EINVAL;
	/* JavaScript keeps milliseconds: finer digits are cut, as Date.parse does */
	double v = (double)secs * 1000.0 + (double)(nanos / 1000000);
	if (fabs(v) > 8.64e15)
		return IDS_EINVAL;
	*ms = v;
	return 0;
}

static inline void two(char *p, unsigned v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
}

int ids_iso_format(int64_t secs, uint32_t nanos, int digits, char *out)
{
	/* by hand: snprintf was a tenth of the lake's change-log time (a timestamp per row) */
	int64_t days = secs >= 0 ? secs / 86400 : -((-(secs + 1)) / 86400) - 1;
	int64_t rem = secs - days * 86400, y;
	unsigned mo, d;
	ids_civil_from_days(days, &y, &mo, &d);
	char *p = out;
	if (y >= 0 && y <= 9999) {
		two(p, (unsigned)(y / 100));
		two(p + 2, (unsigned)(y % 100));
		p += 4;
	} else {
		/* extended years: a sign and at least six digits */
		uint64_t u = y < 0 ? 0 - (uint64_t)y : (uint64_t)y;
		char tmp[24], *e = tmp + sizeof tmp, *q = e;
		do
			*--q = (char)('0' + u % 10);
		while ((u /= 10));
		*p++ = y < 0 ? '-' : '+';
		for (ptrdiff_t pad = 6 - (e - q); pad > 0; pad--)
			*p++ = '0';
		memcpy(p, q, (size_t)(e - q));
		p += e - q;
	}
	*p++ = '-';
	two(p, mo);
	p[2] = '-';
	two(p + 3, d);
	p[5] = 'T';
	two(p + 6, (unsigned)(rem / 3600));
	p[8] = ':';
	two(p + 9, (unsigned)(rem / 60 % 60));
	p[11] = ':';
	two(p + 12, (unsigned)(rem % 60));
	p[14] = '.';
	p += 15;
	uint32_t f = digits == 3 ? nanos / 1000000 : digits == 6 ? nanos / 1000 : nanos;
	for (int i = digits - 1; i >= 0; i--) {
		p[i] = (char)('0' + f % 10);
		f /= 10;
	}
	p += digits;
	*p++ = 'Z';
	*p = 0;
	return (int)(p - out);
}

void ids_ms_split(int64_t ms, int64_t *secs, int32_t *nanos)
{
	*secs = ms >= 0 ? ms / 1000 : -((-(ms + 1)) / 1000) - 1;
	*nanos = (int32_t)(ms - *secs * 1000) * 1000000;
}

int ids_ms_to_iso(double msd, char *out)
{
	int64_t secs;
	int32_t nanos;
	ids_ms_split((int64_t)msd, &secs, &nanos);
	return ids_iso_format(secs, (uint32_t)nanos, 3, out);
}
