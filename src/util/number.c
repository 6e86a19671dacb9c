/* Numbers, once: JSON number text to the nearest double (every reader of values: the token
 * array, the Parquet writer's scanner, the key encoding), the $num specials ("NaN",
 * "Infinity", "-Infinity", "-0") that JSON cannot write, and doubles back to their shortest
 * text. */
#include "idbsync/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idbsync/value.h"

static const double pow10_tab[23] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

double ids_json_to_double(const char *s, size_t n)
{
	/* Clinger's fast path: an exact mantissa below 2^53 times an exact power of ten
	 * is correctly rounded by one IEEE operation; everything else goes to strtod. */
	const char *p = s, *e = s + n;
	int neg = 0;
	if (p < e && *p == '-') {
		neg = 1;
		p++;
	}
	uint64_t m = 0;
	int digits = 0, exp10 = 0;
	for (; p < e && *p >= '0' && *p <= '9'; p++) {
		if (m || *p != '0')
			digits++;
		m = m * 10 + (uint64_t)(*p - '0');
		if (digits > 15)
			goto slow;
	}
	if (p < e && *p == '.') {
		for (p++; p < e && *p >= '0' && *p <= '9'; p++) {
			if (m || *p != '0')
				digits++;
			m = m * 10 + (uint64_t)(*p - '0');
			exp10--;
			if (digits > 15)
				goto slow;
		}
	}
	if (p < e && (*p == 'e' || *p == 'E')) {
		p++;
		int eneg = 0, ev = 0;
		if (p < e && (*p == '+' || *p == '-'))
			eneg = *p++ == '-';
		for (; p < e && *p >= '0' && *p <= '9'; p++) {
			ev = ev * 10 + (*p - '0');
			if (ev > 10000)
				goto slow;
		}
		exp10 += eneg ? -ev : ev;
	}
	if (exp10 >= -22 && exp10 <= 22) {
		double d = (double)m;
		d = exp10 < 0 ? d / pow10_tab[-exp10] : d * pow10_tab[exp10];
		return neg ? -d : d;
	}
slow:;
	char tmp[128], *buf = tmp;
	if (n >= sizeof tmp && !(buf = malloc(n + 1)))
		return NAN;
	memcpy(buf, s, n);
	buf[n] = 0;
	double d = strtod(buf, NULL);
	if (buf != tmp)
		free(buf);
	return d;
}

int ids_num_special(const char *s, size_t n, double *out)
{
	if (n == 3 && !memcmp(s, "NaN", 3))
		*out = NAN;
	else if (n == 8 && !memcmp(s, "Infinity", 8))
		*out = INFINITY;
	else if (n == 9 && !memcmp(s, "-Infinity", 9))
		*out = -INFINITY;
	else if (n == 2 && !memcmp(s, "-0", 2))
		*out = -0.0;
	else
		return IDS_EINVAL;
	return 0;
}

int ids_json_num_special(const ids_json *j, size_t t, double *out)
{
	char s[16];   /* longer than any special: not one */
	if (j->tok[t].type != IDS_JSTR || ids_json_strcpy(j, t, s, sizeof s))
		return IDS_EINVAL;
	return ids_num_special(s, strlen(s), out);
}

int ids_fmt_double(double v, char *out)
{
	int n = 0;
	/* 15 digits suffice to start for normal numbers; subnormals can need as few as 1 */
	int first = (v != 0 && fabs(v) < 2.2250738585072014e-308) ? 1 : 15;
	for (int prec = first; prec <= 17; prec++) {
		n = snprintf(out, 32, "%.*g", prec, v);
		if (strtod(out, NULL) == v)
			break;
	}
	return n;
}
