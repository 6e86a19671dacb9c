/* Where the Iceberg warehouse's files live. DIR/_iceberg is always written first (data files
 * hard-linked, manifests and lists written there); with --iceberg-warehouse s3://bucket/prefix
 * that tree is a local mirror of the warehouse: each file is also PUT to the same relative key
 * before the commit that names it, metadata and manifests name the s3:// URIs, and a file the
 * mirror lacks (a new machine) is fetched at load. The one home of the URI <-> local path
 * mapping (file:// for a local warehouse). docs/iceberg.md, "S3". */
#include "iceberg.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>
#include "idbsync/log.h"

/* path relative to the mirror root, or NULL when path is not under it */
static const char *rel_of(const lk_ice *ice, const char *path)
{
	size_t n = strlen(ice->root);
	return !strncmp(path, ice->root, n) && path[n] == '/' ? path + n + 1 : NULL;
}

int ice_uri(const lk_ice *ice, const char *path, char *out, size_t size)
{
	const char *rel = ice->s3 ? rel_of(ice, path) : NULL;
	int n = rel ? snprintf(out, size, "%s%s", ice->s3_base, rel) : snprintf(out, size, "file://%s", path);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

const char *ice_path(const lk_ice *ice, const char *uri, char *buf, size_t size)
{
	if (!uri)
		return NULL;
	if (!strncmp(uri, "file://", 7))
		return uri + 7;
	if (!strncmp(uri, "file:/", 6))   /* Hadoop's form */
		return uri + 5;
	size_t bl = ice && ice->s3 ? strlen(ice->s3_base) : 0;
	if (bl && !strncmp(uri, ice->s3_base, bl)) {
		return ids_path(buf, size, NULL, "%s/%s", ice->root, uri + bl) ? uri : buf;
	}
	return uri;
}

int ice_publish(lk_ice *ice, const char *path, ids_error *err)
{
	const char *rel = ice->s3 ? rel_of(ice, path) : NULL;
	if (!ice->s3)
		return 0;
	if (!rel)
		return ids_fail(err, IDS_EINVAL, "%s: not in the warehouse mirror %s", path, ice->root);
	int rc = s3_put_file(ice->s3, rel, path, err);
	if (!rc)
		ice_test_kill("put");   /* between two uploads of a commit */
	return rc ? ids_wrap(err, "iceberg warehouse upload: "), rc : 0;
}

int ice_fetch(lk_ice *ice, const char *path, ids_error *err)
{
	struct stat st;
	const char *rel = ice && ice->s3 ? rel_of(ice, path) : NULL;
	if (!rel || !stat(path, &st))
		return 0;
	ids_buf b;
	ids_buf_init(&b, 1u << 30);
	int rc = s3_get(ice->s3, rel, &b, err);
	char dir[IDS_PATH_MAX + 1];
	if (!rc)
		rc = ids_path(dir, sizeof dir, err, "%s", path);
	char *slash = rc ? NULL : strrchr(dir, '/');
	if (slash)
		*slash = 0;
	if (!rc && !(rc = ids_mkdirs(dir, err)))
		rc = lk_write_file(path, b.data ? b.data : "", b.len, err);
	ids_buf_free(&b);
	return rc ? ids_wrap(err, "iceberg warehouse fetch: "), rc : 0;
}

void ice_remove(lk_ice *ice, const char *path)
{
	const char *rel = ice && ice->s3 ? rel_of(ice, path) : NULL;
	ids_error err = IDS_ERROR_INIT;
	if (rel && s3_delete(ice->s3, rel, &err))
		ids_logf(IDS_LOG_WARN, "lake_iceberg", "iceberg: %s (an orphan on S3)", err.msg);
	if (unlink(path) && errno != ENOENT)
		ids_logf(IDS_LOG_WARN, "lake_iceberg", "iceberg: unlink %s: %s", path, strerror(errno));
}

typedef struct sweep_ctx {
	lk_ice *ice;
	json_t *set;
	const char *const *suffixes;
	time_t cutoff;
	size_t n;
} sweep_ctx;

static int sweep_object(void *ctx, const char *key, int64_t size, int64_t mtime)
{
	(void)size;
	sweep_ctx *c = ctx;
	size_t kl = strlen(key);
	int match = 0;
	for (const char *const *sf = c->suffixes; *sf; sf++)
		match |= kl > strlen(*sf) && !strcmp(key + kl - strlen(*sf), *sf);
	char path[IDS_PATH_MAX + 1];
	/* an object of unknown age is kept: it may be a commit in progress */
	if (!match || ids_path(path, sizeof path, NULL, "%s/%s", c->ice->root, key) || json_object_get(c->set, path) || !mtime || mtime >= c->cutoff)
		return 0;
	ice_remove(c->ice, path);
	c->n++;
	return 0;
}

size_t ice_sweep_s3(lk_ice *ice, const char *dir, const char *const *suffixes, json_t *set, time_t cutoff)
{
	const char *rel = ice->s3 ? rel_of(ice, dir) : NULL;
	char prefix[4700];
	if (!rel || snprintf(prefix, sizeof prefix, "%s/", rel) >= (int)sizeof prefix)
		return 0;
	sweep_ctx c = {.ice = ice, .set = set, .suffixes = suffixes, .cutoff = cutoff};
	ids_error err = IDS_ERROR_INIT;
	if (s3_list(ice->s3, prefix, 0, sweep_object, &c, &err))
		ids_logf(IDS_LOG_WARN, "lake_iceberg", "iceberg: orphans on S3 under %s: %s", prefix, err.msg);
	return c.n;
}
