/* Path building (idbsync/path.h): vsnprintf's length tells a cut name from a whole one. */
#include "idbsync/path.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int ids_path(char *out, size_t n, ids_error *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(out, n, fmt, ap);
	va_end(ap);
	if (k >= 0 && (size_t)k < n && k <= IDS_PATH_MAX)
		return 0;
	/* the start names it well enough; the whole name may be kilobytes */
	int rc = ids_fail(err, IDS_ELIMIT, "path too long (%d bytes; the limit is %zu): %.80s...", k,
			  n - 1 < IDS_PATH_MAX ? n - 1 : (size_t)IDS_PATH_MAX, out);
	if (n)
		out[0] = 0;
	return rc;
}

int ids_path_room(const char *dir, size_t room, const char *what, ids_error *err)
{
	size_t len = strlen(dir);
	if (len + room <= IDS_PATH_MAX)
		return 0;
	return ids_fail(err, IDS_ELIMIT, "%s: the directory name is %zu bytes; at most %zu leave room for the names "
			"idbsync creates beneath it: %.80s...", what, len, IDS_PATH_MAX - room, dir);
}

int ids_mkdirs(const char *path, ids_error *err)
{
	char tmp[IDS_PATH_MAX + 1];
	int rc = ids_path(tmp, sizeof tmp, err, "%s", path);
	for (char *p = tmp + 1; !rc && *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, 0755) && errno != EEXIST)
			return ids_fail(err, IDS_EIO, "mkdir %s: %s", tmp, strerror(errno));
		*p = '/';
	}
	if (!rc && mkdir(tmp, 0755) && errno != EEXIST)
		return ids_fail(err, IDS_EIO, "mkdir %s: %s", tmp, strerror(errno));
	return rc;
}
