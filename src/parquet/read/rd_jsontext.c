/* Text output helpers for the reader: JSON string literals from untrusted bytes (escaping,
 * with invalid UTF-8 replaced by U+FFFD so the output is always valid JSON), and the JSON
 * logical type: the stored text is emitted as a value (minified) when it is valid JSON,
 * else as a string. */
#include "parquet/read/rd_internal.h"
#include "idbsync/json.h"
#include "idbsync/value.h"

/* 0 = copy as is, 1 = needs an escape, 2 = starts a multi-byte sequence (or is invalid) */
static const uint8_t cls[256] = {
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};

int rd_json_str(ids_buf *out, const uint8_t *s, size_t n)
{
	int rc = ids_buf_reserve(out, n + 2);
	if (rc)
		return rc;
	out->data[out->len++] = '"';
	size_t i = 0;
	while (i < n) {
		size_t run = i;
		while (i < n && cls[s[i]] == 0)
			i++;
		if (i > run) {
			/* reserved n + 2 up front, but escapes before may have used it */
			if ((rc = ids_buf_append(out, s + run, i - run)))
				return rc;
		}
		if (i >= n)
			break;
		uint8_t c = s[i];
		if (cls[c] == 1) {
			/* control characters, '"' and '\\': the same set the shared escaper handles */
			ids_buf_json_esc(out, (const char *)s + i, 1);
			i++;
			continue;
		}
		size_t l = ids_utf8_len(s + i, n - i);
		if (l) {
			ids_buf_append(out, s + i, l);
			i += l;
		} else {
			ids_buf_append(out, "\xEF\xBF\xBD", 3);
			i++;
		}
	}
	return ids_buf_putc(out, '"');
}

/* The JSON logical type: the stored text as a value when it is JSON (checked by the one
 * tokenizer, util's, 64 levels deep at most), else as a string. */
int rd_json_text(ids_buf *out, const uint8_t *s, size_t n)
{
	ids_json j = IDS_JSON_INIT;
	int rc = ids_json_parse(&j, (const char *)s, n, 0, 64, NULL);
	if (!rc)
		rc = ids_json_minify(&j, 0, out);
	ids_json_free(&j);
	if (!rc || out->failed)
		return out->failed;
	return rd_json_str(out, s, n);
}
