/* ISO-8601 <-> unix milliseconds, matching JavaScript's Date.toISOString() exactly,
 * including extended years (+275760 / -271821), so dates round-trip through the server. */
#include "idbsync/value.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
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

static int digits(const char *s, size_t n, size_t *i, int count, int64_t *out)
{
	int64_t v = 0;
	for (int k = 0; k < count; k++) {
		if (*i >= n || s[*i] < '0' || s[*i] > '9')
			return -1;
		v = v * 10 + (s[(*i)++] - '0');
	}
	*out = v;
	return 0;
}

int ids_iso_to_ms(const char *s, size_t n, double *ms)
{
	size_t i = 0;
	int64_t y, mo, d, h = 0, mi = 0, sec = 0, frac = 0;
	int sign = 1;
	if (n > 0 && (s[0] == '+' || s[0] == '-')) {
		sign = s[0] == '-' ? -1 : 1;
		i = 1;
		if (digits(s, n, &i, 6, &y))
			return IDS_EINVAL;
	} else if (digits(s, n, &i, 4, &y)) {
		return IDS_EINVAL;
	}
	y *= sign;
	if (i >= n || s[i++] != '-' || digits(s, n, &i, 2, &mo) || i >= n || s[i++] != '-' ||
	    digits(s, n, &i, 2, &d))
		return IDS_EINVAL;
	if (i < n) {
		if (s[i++] != 'T' || digits(s, n, &i, 2, &h) || i >= n || s[i++] != ':' || digits(s, n, &i, 2, &mi))
			return IDS_EINVAL;
		if (i < n && s[i] == ':') {
			i++;
			if (digits(s, n, &i, 2, &sec))
				return IDS_EINVAL;
			if (i < n && s[i] == '.') {
				i++;
				int nd = 0;
				while (i < n && s[i] >= '0' && s[i] <= '9') {
					if (nd < 3)
						frac = frac * 10 + (s[i] - '0');
					nd++;
					i++;
				}
				if (nd == 0 || nd > 9)
					return IDS_EINVAL;
				for (; nd < 3; nd++)
					frac *= 10;
			}
		}
		if (i >= n || s[i++] != 'Z' || i != n)
			return IDS_EINVAL;
	}
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 24 || mi > 59 || sec > 59)
		return IDS_EINVAL;
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap))
		return IDS_EINVAL;
	if (h == 24 && (mi || sec || frac))
		return IDS_EINVAL;
	double v = (double)days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400000.0 +
		   (double)(h * 3600000 + mi * 60000 + sec * 1000 + frac);
	if (fabs(v) > 8.64e15)
		return IDS_EINVAL;
	*ms = v;
	return 0;
}

int ids_ms_to_iso(double msd, char *out)
{
	int64_t ms = (int64_t)msd;
	int64_t days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
	int64_t rem = ms - days * 86400000;
	int64_t y;
	unsigned m, d;
	civil_from_days(days, &y, &m, &d);
	int h = (int)(rem / 3600000), mi = (int)(rem / 60000 % 60), s = (int)(rem / 1000 % 60),
	    f = (int)(rem % 1000);
	if (y >= 0 && y <= 9999) {
		/* by hand: snprintf was a tenth of the lake's change-log time (a timestamp per row) */
		static const char f4[] = "0000-00-00T00:00:00.000Z";
		memcpy(out, f4, sizeof f4);
		int v[][3] = {{(int)y, 0, 4}, {(int)m, 5, 2}, {(int)d, 8, 2}, {h, 11, 2}, {mi, 14, 2}, {s, 17, 2}, {f, 20, 3}};
		for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
			for (int k = v[i][2] - 1, x = v[i][0]; k >= 0; k--, x /= 10)
				out[v[i][1] + k] = (char)('0' + x % 10);
		return 24;
	}
	return snprintf(out, 32, "%c%06lld-%02u-%02uT%02d:%02d:%02d.%03dZ", y < 0 ? '-' : '+',
			(long long)(y < 0 ? -y : y), m, d, h, mi, s, f);
}
