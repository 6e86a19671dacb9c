/* The lake's per-store settings file (--lake-config), read into the lake at open. Its keys
 * are checked as strictly as `idbsync serve --config`'s: an unknown key or a wrong type is an
 * error naming the file, the line and the key. (The lake's flags: src/cli/cmd_serve.c.) */
#include "iceberg.h"
#include "lake_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idbsync/config.h"

int lk_config_add(lake *l, const char *match, const char *part, int64_t bytes, ids_error *err)
{
	lk_store_cfg *c = realloc(l->cfg, (l->n_cfg + 1) * sizeof *c);
	if (!c)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	l->cfg = c;
	c[l->n_cfg].match = strdup(match);
	c[l->n_cfg].partition_by = part ? strdup(part) : NULL;
	c[l->n_cfg].bucket_bytes = bytes;
	l->n_cfg++;
	return 0;
}

/* A positive byte count: an integer or a size string ("128M"). */
static int config_bytes(const ids_config *cf, const char *parent, const char *key, const char *what, json_t *v,
			int64_t *out, ids_error *err)
{
	if (json_is_integer(v) && json_integer_value(v) > 0) {
		*out = json_integer_value(v);
		return 0;
	}
	if (json_is_string(v) && !ids_parse_size(json_string_value(v), out))
		return 0;
	return ids_config_fail(cf, err, parent, key, "%smust be a positive number of bytes or a size like \"128M\"", what);
}

static int config_store(lake *l, const ids_config *cf, const char *match, json_t *v, ids_error *err)
{
	if (!json_is_object(v))
		return ids_config_fail(cf, err, "stores", match, "must be an object {\"partition_by\":F,\"bucket_bytes\":N}");
	const char *part = NULL, *k;
	int64_t bytes = 0;
	json_t *x;
	json_object_foreach(v, k, x)
	{
		if (!strcmp(k, "partition_by")) {
			if (!json_is_string(x))
				return ids_config_fail(cf, err, "stores", match, "partition_by must be a string (a field name)");
			part = json_string_value(x);
		} else if (!strcmp(k, "bucket_bytes")) {
			if (config_bytes(cf, "stores", match, "bucket_bytes ", x, &bytes, err))
				return IDS_EINVAL;
		} else {
			return ids_config_fail(cf, err, "stores", match, "unknown setting \"%s\" (partition_by, bucket_bytes)", k);
		}
	}
	return lk_config_add(l, match, part, bytes, err);
}

int lk_config_load(lake *l, const char *path, ids_error *err)
{
	ids_config *cf = NULL;
	int rc = ids_config_load(&cf, path, err);
	if (rc)
		return rc;
	const char *k;
	json_t *v;
	json_object_foreach(ids_config_root(cf), k, v)
	{
		const char *s = json_string_value(v);
		if (!strcmp(k, "profile")) {
			if (!s || (strcmp(s, "compat") && strcmp(s, "modern")))
				rc = ids_config_fail(cf, err, NULL, k, "must be \"compat\" or \"modern\"");
			else
				l->profile = !strcmp(s, "modern") ? PQ_PROFILE_MODERN : PQ_PROFILE_COMPAT;
		} else if (!strcmp(k, "nested")) {
			if (!s || (strcmp(s, "auto") && strcmp(s, "struct") && strcmp(s, "json")))
				rc = ids_config_fail(cf, err, NULL, k, "must be \"auto\", \"struct\" or \"json\"");
			else
				l->nested = !strcmp(s, "struct") ? LK_NESTED_STRUCT : !strcmp(s, "json") ? LK_NESTED_JSON : 0;
		} else if (!strcmp(k, "bucket_bytes")) {
			rc = config_bytes(cf, NULL, k, "", v, &l->bucket_bytes, err);
		} else if (!strcmp(k, "flush_interval_ms")) {
			if (!json_is_integer(v) || json_integer_value(v) <= 0)
				rc = ids_config_fail(cf, err, NULL, k, "must be a positive number (milliseconds)");
			else
				l->o.flush_interval_ms = json_integer_value(v);
		} else if (!strcmp(k, "stores")) {
			if (!json_is_object(v)) {
				rc = ids_config_fail(cf, err, NULL, k, "must be an object {\"[db/]store\": {...}}");
			} else {
				const char *m;
				json_t *sv;
				json_object_foreach(v, m, sv)
				{
					if ((rc = config_store(l, cf, m, sv, err)))
						break;
				}
			}
		} else {
			rc = ids_config_fail(cf, err, NULL, k, "unknown setting (profile, nested, bucket_bytes, "
							       "flush_interval_ms, stores)");
		}
		if (rc)
			break;
	}
	ids_config_free(cf);
	return rc;
}
