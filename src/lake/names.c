/* Names and files for the lake: identifiers every engine accepts unquoted (Hive, Impala,
 * Drill, Trino, Spark), Hive partition-path escaping, and the small file-system helpers
 * (atomic file replace, directory fsync, RENAME_EXCHANGE) the writers build on. */
#include "lake_int.h"
#include "idbsync/str.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Union of the reserved words of Hive 3, Impala 4, Drill (Calcite), Trino and Spark's ANSI
 * mode that a column might plausibly be called; sorted for bsearch. A name found here gets a
 * trailing underscore, so it stays legal unquoted everywhere. */
static const char *const reserved[] = {
	"all", "alter", "and", "any", "array", "as", "asc", "at", "authorization", "avg", "between",
	"bigint", "binary", "boolean", "both", "by", "call", "case", "cast", "char", "check", "column",
	"comment", "commit", "constraint", "count", "create", "cross", "cube", "current",
	"current_date", "current_time", "current_timestamp", "current_user", "cursor", "data",
	"database", "date", "day", "dec", "decimal", "default", "delete", "desc", "describe",
	"distinct", "div", "double", "drop", "else", "end", "escape", "except", "exchange", "exists",
	"extended", "external", "extract", "false", "fetch", "filter", "first", "float", "following",
	"for", "foreign", "from", "full", "function", "functions", "grant", "group", "grouping",
	"hour", "if", "ilike", "import", "in", "inner", "insert", "int", "integer", "intersect",
	"interval", "into", "is", "join", "language", "last", "lateral", "leading", "left", "like",
	"limit", "local", "location", "macro", "map", "max", "merge", "min", "minute", "month",
	"more", "natural", "new", "none", "normalize", "not", "null", "nulls", "of", "offset", "on",
	"only", "or", "order", "out", "outer", "over", "overwrite", "partition", "partitioned",
	"percent", "position", "preceding", "primary", "procedure", "range", "reads", "real",
	"recover", "references", "refresh", "regexp", "rename", "replace", "revoke", "right",
	"rlike", "role", "rollback", "rollup", "row", "rows", "schema", "second", "select",
	"semi", "session_user", "set", "show", "smallint", "some", "start", "stats", "stored",
	"string", "struct", "sum", "system", "system_user", "table", "tablesample", "then", "time",
	"timestamp", "tinyint", "to", "trailing", "transform", "trigger", "trim", "true", "truncate",
	"uescape", "union", "unique", "unknown", "unnest", "update", "upsert", "use", "user",
	"using", "utc_timestamp", "value", "values", "varchar", "view", "when", "where", "window",
	"with", "within", "year",
};

int lk_is_reserved(const char *s)
{
	return bsearch(&s, reserved, sizeof reserved / sizeof reserved[0], sizeof reserved[0], ids_str_cmp) != NULL;
}

void lk_sanitize(const char *in, char *out, size_t outsz)
{
	size_t o = 0, cap = outsz < 101 ? outsz - 1 : 100;
	int last_us = 0;
	for (const unsigned char *p = (const unsigned char *)in; *p && o < cap; p++) {
		unsigned char c = (unsigned char)tolower(*p);
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
			out[o++] = (char)c;
			last_us = 0;
		} else if (!last_us && o > 0) {
			out[o++] = '_';   /* any run of other bytes (incl. UTF-8) becomes one '_' */
			last_us = 1;
		}
	}
	while (o > 0 && out[o - 1] == '_')
		o--;
	out[o] = 0;
	if (o == 0) {
		snprintf(out, outsz, "col");
		return;
	}
	if (!(out[0] >= 'a' && out[0] <= 'z')) {
		char tmp[128];
		snprintf(tmp, sizeof tmp, "f_%s", out);
		snprintf(out, outsz, "%s", tmp);
	}
	if (lk_is_reserved(out) && strlen(out) + 1 < outsz)
		strcat(out, "_");
}

void lk_unique(char *name, size_t sz, int (*taken)(void *ctx, const char *n), void *ctx)
{
	if (!taken(ctx, name))
		return;
	char base[128];
	snprintf(base, sizeof base, "%s", name);
	if (strlen(base) > 96)
		base[96] = 0;
	for (int i = 2;; i++) {
		snprintf(name, sz, "%s_%d", base, i);
		if (!taken(ctx, name))
			return;
	}
}

void lk_hive_escape(const char *in, size_t n, ids_buf *out)
{
	static const char esc[] = "\"#%'*/:=?\\\x7f{[]^";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c < 0x20 || strchr(esc, c))
			ids_buf_printf(out, "%%%02X", c);
		else
			ids_buf_putc(out, (char)c);
	}
}

int lk_fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

static void parent_of(const char *path, char *out, size_t sz)
{
	snprintf(out, sz, "%s", path);
	char *s = strrchr(out, '/');
	if (s && s != out)
		*s = 0;
	else
		snprintf(out, sz, ".");
}

static int write_file(const char *path, const char *data, size_t len, int sync, ids_error *err)
{
	char tmp[IDS_PATH_MAX + 1];
	ids_path(tmp, sizeof tmp, NULL, "%s.tmp-%d", path, (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return ids_fail(err, IDS_EIO, "create %s: %s", tmp, strerror(errno));
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = errno;
			close(fd);
			unlink(tmp);
			return ids_fail(err, e == ENOSPC ? IDS_ENOSPC : IDS_EIO, "write %s: %s", tmp, strerror(e));
		}
		off += (size_t)w;
	}
	if ((sync && fsync(fd)) || close(fd)) {
		unlink(tmp);
		return ids_fail(err, IDS_EIO, "fsync %s: %s", tmp, strerror(errno));
	}
	if (rename(tmp, path)) {
		unlink(tmp);
		return ids_fail(err, IDS_EIO, "rename %s: %s", path, strerror(errno));
	}
	char dir[IDS_PATH_MAX + 1];
	parent_of(path, dir, sizeof dir);
	if (sync)
		lk_fsync_dir(dir);
	return 0;
}

int lk_write_file(const char *path, const char *data, size_t len, ids_error *err)
{
	return write_file(path, data, len, 1, err);
}

int lk_write_file_nosync(const char *path, const char *data, size_t len, ids_error *err)
{
	return write_file(path, data, len, 0, err);
}

int lk_read_file(const char *path, ids_buf *out, size_t max, ids_error *err)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return ids_fail(err, errno == ENOENT ? IDS_ENOTFOUND : IDS_EIO, "open %s: %s", path, strerror(errno));
	char chunk[65536];
	size_t n;
	int rc = 0;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		if (out->len + n > max) {
			rc = ids_fail(err, IDS_ELIMIT, "%s: larger than %zu bytes", path, max);
			break;
		}
		ids_buf_append(out, chunk, n);
	}
	if (!rc && ferror(f))
		rc = ids_fail(err, IDS_EIO, "read %s: %s", path, strerror(errno));
	fclose(f);
	if (!rc && out->failed)
		rc = ids_fail(err, IDS_ENOMEM, "read %s: out of memory", path);
	return rc;
}

void lk_rm_rf(const char *path)
{
	struct stat st;
	if (lstat(path, &st))
		return;
	if (S_ISDIR(st.st_mode)) {
		DIR *d = opendir(path);
		if (d) {
			struct dirent *e;
			while ((e = readdir(d))) {
				if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
					continue;
				char sub[IDS_PATH_MAX + 1];
				ids_path(sub, sizeof sub, NULL, "%s/%s", path, e->d_name);
				lk_rm_rf(sub);
			}
			closedir(d);
		}
		rmdir(path);
	} else {
		unlink(path);
	}
}

int lk_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

int64_t lk_file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) ? -1 : (int64_t)st.st_size;
}

int lk_exchange(const char *a, const char *b, ids_error *err)
{
	if (renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
		return ids_fail(err, IDS_EIO, "exchange %s and %s: %s", a, b, strerror(errno));
	/* No RENAME_EXCHANGE on this file system: b is briefly missing (documented caveat). */
	char side[IDS_PATH_MAX + 1];
	ids_path(side, sizeof side, NULL, "%s.xchg", a);
	if (rename(b, side) || rename(a, b) || rename(side, a))
		return ids_fail(err, IDS_EIO, "swap %s and %s: %s", a, b, strerror(errno));
	return 0;
}

int64_t lk_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
