/* Parsers for the tagged-value payloads of the JSON conventions: ISO-8601 dates and
 * timestamps ($date, kept exact to the nanosecond), base64 ($bin). Written for the
 * writer's hot path: no allocation, no locale. */
#include "pqj.h"

static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

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

/* Parses the date part; returns the index after it or 0 on error. */
static size_t parse_ymd(const char *s, size_t n, int64_t *days)
{
	size_t i = 0;
	int64_t y;
	int yy, m, d;
	if (n > 0 && (s[0] == '+' || s[0] == '-')) {
		int six;
		i = 1;
		if (dig(s, n, &i, 6, &six))
			return 0;
		y = s[0] == '-' ? -(int64_t)six : six;
	} else {
		if (dig(s, n, &i, 4, &yy))
			return 0;
		y = yy;
	}
	if (i >= n || s[i++] != '-' || dig(s, n, &i, 2, &m) || i >= n || s[i++] != '-' ||
	    dig(s, n, &i, 2, &d))
		return 0;
	static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1] + (m == 2 && is_leap(y)))
		return 0;
	*days = days_from_civil(y, m, d);
	return i;
}

int pqj_parse_date(const char *s, size_t n, int32_t *days)
{
	int64_t d;
	size_t i = parse_ymd(s, n, &d);
	if (!i || i != n || d < INT32_MIN || d > INT32_MAX)
		return IDS_EINVAL;
	*days = (int32_t)d;
	return 0;
}

static inline int d2(const char *s, int *out)
{
	unsigned a = (unsigned)(s[0] - '0'), b = (unsigned)(s[1] - '0');
	*out = (int)(a * 10 + b);
	return a > 9 || b > 9;
}

/* The form writers emit ("2024-01-01T00:00:00.000Z"), without the general parser's loops. */
static int iso_fast(const char *s, int64_t *secs, int32_t *nanos, int *digits)
{
	int y1, y2, mo, d, hh, mm, ss, ms1, ms2;
	if (s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' ||
	    s[19] != '.' || s[23] != 'Z')
		return -1;
	if (d2(s, &y1) | d2(s + 2, &y2) | d2(s + 5, &mo) | d2(s + 8, &d) | d2(s + 11, &hh) |
	    d2(s + 14, &mm) | d2(s + 17, &ss) | d2(s + 20, &ms1) | d2(s + 21, &ms2))
		return -1;
	static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int64_t y = y1 * 100 + y2;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && is_leap(y)) || hh > 23 ||
	    mm > 59 || ss > 59)
		return -1;
	int ms = ms1 * 10 + (s[22] - '0');
	if ((unsigned)(s[22] - '0') > 9)
		return -1;
	*secs = days_from_civil(y, mo, d) * 86400 + hh * 3600 + mm * 60 + ss;
	*nanos = ms * 1000000;
	*digits = ms == 0 ? 0 : ms % 10 ? 3 : ms % 100 ? 2 : 1;
	return 0;
}

int pqj_parse_iso(const char *s, size_t n, int64_t *secs, int32_t *nanos, int *digits)
{
	if (n == 24 && !iso_fast(s, secs, nanos, digits))
		return 0;
	int64_t days;
	size_t i = parse_ymd(s, n, &days);
	if (!i)
		return IDS_EINVAL;
	int hh = 0, mm = 0, ss = 0, frac = 0, nd = 0;
	if (i < n && (s[i] == 'T' || s[i] == 't' || s[i] == ' ')) {
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
		if (hh > 23 || mm > 59 || ss > 59)
			return IDS_EINVAL;
	}
	int64_t off = 0;
	if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
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

int pqj_iso_text(const char *s, size_t n, int64_t *secs, int32_t *nanos, int *digits)
{
	int32_t days;
	*digits = 0;
	/* cheap shape test first: most strings are not dates */
	if (n < 10 || n > 40 || s[4] != '-' || s[7] != '-' || (unsigned)(s[0] - '0') > 9)
		return PQJ_ISO_NONE;
	if (n == 10) {
		if (pqj_parse_date(s, n, &days))
			return PQJ_ISO_NONE;
		*secs = (int64_t)days * 86400;
		*nanos = 0;
		return PQJ_ISO_DATE;
	}
	if (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
		return PQJ_ISO_NONE;
	/* an instant needs its zone: without one the text names no point in time */
	char z = s[n - 1];
	int zoned = z == 'Z' || z == 'z' || (n >= 16 + 6 && (s[n - 6] == '+' || s[n - 6] == '-') &&
					    s[n - 3] == ':') ||
		    (n >= 16 + 5 && (s[n - 5] == '+' || s[n - 5] == '-'));
	if (!zoned || pqj_parse_iso(s, n, secs, nanos, digits))
		return PQJ_ISO_NONE;
	return PQJ_ISO_INSTANT;
}

static const int8_t b64[256] = {
	['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6, ['G'] = 7, ['H'] = 8,
	['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15,
	['P'] = 16, ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22,
	['W'] = 23, ['X'] = 24, ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29,
	['d'] = 30, ['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36,
	['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42, ['q'] = 43,
	['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48, ['w'] = 49, ['x'] = 50,
	['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56, ['4'] = 57,
	['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64};

int pqj_base64_decode(const char *s, size_t n, ids_buf *out)
{
	while (n && s[n - 1] == '=')
		n--;
	if (n % 4 == 1)
		return IDS_EINVAL;
	int rc = ids_buf_reserve(out, n / 4 * 3 + 3);
	if (rc)
		return rc;
	uint8_t *o = (uint8_t *)out->data + out->len;
	size_t i = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (; i < n; i++) {
		int v = b64[(uint8_t)s[i]];
		if (!v)
			return IDS_EINVAL;
		acc = (acc << 6) | (uint32_t)(v - 1);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			*o++ = (uint8_t)(acc >> bits);
		}
	}
	/* Leftover bits must be zero, or the encoding was not canonical. */
	if (acc & ((1u << bits) - 1))
		return IDS_EINVAL;
	out->len = (size_t)((char *)o - out->data);
	out->data[out->len] = 0;
	return 0;
}
