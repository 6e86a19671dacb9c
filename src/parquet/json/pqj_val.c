/* What the text of a JSON string is to inference: a date, an instant, or neither. The payload
 * parsers themselves (ISO-8601, base64) are util's (idbsync/value.h), shared with the push
 * check and the lake. */
#include "pqj.h"

int pqj_iso_text(const char *s, size_t n, int64_t *secs, int32_t *nanos, int *digits)
{
	int32_t days;
	*digits = 0;
	/* cheap shape test first: most strings are not dates */
	if (n < 10 || n > 40 || s[4] != '-' || s[7] != '-' || (unsigned)(s[0] - '0') > 9)
		return PQJ_ISO_NONE;
	if (n == 10) {
		if (ids_iso_date(s, n, &days))
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
	if (!zoned || ids_iso_parse(s, n, 0, secs, nanos, digits))
		return PQJ_ISO_NONE;
	return PQJ_ISO_INSTANT;
}
