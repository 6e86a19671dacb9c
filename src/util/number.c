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

double ids_json_to_double(const char *s, size_t n)
{
	/* the lexer's fast path (Clinger's: a short mantissa and a small exponent) when it
	 * applies; everything else goes to strtod */
	ids_jlex x;
	double d;
	if (!ids_jlex_number(s, s + n, &x) && x.end == s + n && !ids_jlex_double(&x, &d))
		return d;
	char tmp[128], *buf = tmp;
	if (n >= sizeof tmp && !(buf = malloc(n + 1)))
		return NAN;
	memcpy(buf, s, n);
	buf[n] = 0;
	d = strtod(buf, NULL);
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
