/* Settings files and value syntaxes (idbsync/config.h). The file's text is kept beside the
 * parsed object so an error can name the line a key is on: jansson keeps no positions. */
#include "idbsync/config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CONFIG_MAX_BYTES (16u << 20)   /* a settings file, not a data file */

struct ids_config {
	char *path;
	char *text;
	size_t len;
	json_t *root;
};

static int read_all(const char *path, char **out, size_t *len, ids_error *err)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return ids_fail(err, IDS_EIO, "%s: %s", path, strerror(errno));
	char *b = NULL;
	size_t n = 0, cap = 0;
	for (;;) {
		if (n == cap) {
			if (cap >= CONFIG_MAX_BYTES) {
				free(b);
				fclose(f);
				return ids_fail(err, IDS_ELIMIT, "%s: larger than %u bytes: not a settings file", path,
						CONFIG_MAX_BYTES);
			}
			cap = cap ? cap * 2 : 4096;
			char *nb = realloc(b, cap + 1);
			if (!nb) {
				free(b);
				fclose(f);
				return ids_fail(err, IDS_ENOMEM, "%s: out of memory", path);
			}
			b = nb;
		}
		size_t r = fread(b + n, 1, cap - n, f);
		n += r;
		if (r == 0)
			break;
	}
	int bad = ferror(f);
	fclose(f);
	if (bad) {
		free(b);
		return ids_fail(err, IDS_EIO, "%s: cannot read", path);
	}
	b[n] = 0;
	*out = b;
	*len = n;
	return 0;
}

int ids_config_load(ids_config **out, const char *path, ids_error *err)
{
	*out = NULL;
	ids_config *c = calloc(1, sizeof *c);
	if (!c || !(c->path = strdup(path))) {
		free(c);
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	}
	int rc = read_all(path, &c->text, &c->len, err);
	if (rc) {
		ids_config_free(c);
		return rc;
	}
	json_error_t je;
	c->root = json_loadb(c->text, c->len, 0, &je);
	if (!c->root) {
		rc = ids_fail(err, IDS_EINVAL, "%s:%d:%d: %s", path, je.line, je.column, je.text);
		ids_config_free(c);
		return rc;
	}
	if (!json_is_object(c->root)) {
		ids_config_free(c);
		return ids_fail(err, IDS_EINVAL, "%s: expected a JSON object of settings", path);
	}
	*out = c;
	return 0;
}

json_t *ids_config_root(const ids_config *c) { return c->root; }

const char *ids_config_path(const ids_config *c) { return c->path; }

/* A walk over the text that knows strings and nesting: enough to find where a key is written
 * (an escaped key is compared as written, and then only found when written plainly). */
int ids_config_line(const ids_config *c, const char *parent, const char *key)
{
	const char *p = c->text, *end = c->text + c->len;
	size_t kl = strlen(key), pl = parent ? strlen(parent) : 0;
	int line = 1, depth = 0, in_parent = 0;
	for (; p < end; p++) {
		char ch = *p;
		if (ch == '\n') {
			line++;
		} else if (ch == '{' || ch == '[') {
			depth++;
		} else if (ch == '}' || ch == ']') {
			depth--;
		} else if (ch == '"') {
			const char *s = ++p;
			int at = line;
			while (p < end && *p != '"') {
				if (*p == '\\' && p + 1 < end)
					p++;
				else if (*p == '\n')
					line++;
				p++;
			}
			size_t n = (size_t)(p - s);
			const char *q = p + 1;
			while (q < end && (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n'))
				q++;
			if (q >= end || *q != ':')
				continue;
			if (depth == 1) {
				if (!parent && n == kl && !memcmp(s, key, n))
					return at;
				in_parent = parent && n == pl && !memcmp(s, parent, n);
			} else if (depth == 2 && in_parent && n == kl && !memcmp(s, key, n)) {
				return at;
			}
		}
	}
	return 0;
}

int ids_config_fail(const ids_config *c, ids_error *err, const char *parent, const char *key, const char *fmt, ...)
{
	if (!err)
		return IDS_EINVAL;
	char msg[sizeof err->msg];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	int line = ids_config_line(c, parent, key);
	char at[32] = "";
	if (line)
		snprintf(at, sizeof at, ":%d", line);
	return ids_fail(err, IDS_EINVAL, "%s%s: field \"%s%s%s\": %s", c->path, at, parent ? parent : "",
			parent ? "." : "", key, msg);
}

void ids_config_free(ids_config *c)
{
	if (!c)
		return;
	json_decref(c->root);
	free(c->text);
	free(c->path);
	free(c);
}

int ids_parse_duration_ms(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	double x = strtod(s, &end);
	if (end == s || errno || x < 0 || x > 9e15)
		return IDS_EINVAL;
	if (!strcmp(end, "s"))
		x *= 1000;
	else if (*end && strcmp(end, "ms"))
		return IDS_EINVAL;
	*out = (int64_t)x;
	return 0;
}

int ids_parse_size(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	long long x = strtoll(s, &end, 10);
	if (end == s || errno || x <= 0)
		return IDS_EINVAL;
	int shift = 0;
	if (!strcasecmp(end, "k") || !strcasecmp(end, "KiB"))
		shift = 10;
	else if (!strcasecmp(end, "m") || !strcasecmp(end, "MiB"))
		shift = 20;
	else if (!strcasecmp(end, "g") || !strcasecmp(end, "GiB"))
		shift = 30;
	else if (*end)
		return IDS_EINVAL;
	if (x > (INT64_MAX >> shift))
		return IDS_EINVAL;
	*out = (int64_t)x << shift;
	return 0;
}
