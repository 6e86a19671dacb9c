/* The lake's options: the `idbsync serve` flags it owns (lake_option, lake_usage) and the
 * per-store settings file (--lake-config), read into the lake at open. */
#include "iceberg.h"
#include "lake_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int parse_ms(const char *v, int64_t *out)
{
	char *end;
	errno = 0;
	double x = strtod(v, &end);
	if (end == v || errno || x < 0)
		return -1;
	if (!strcmp(end, "s"))
		x *= 1000;
	else if (*end && strcmp(end, "ms"))
		return -1;
	*out = (int64_t)x;
	return 0;
}

static int parse_bytes(const char *v, int64_t *out)
{
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	if (end == v || errno || x <= 0)
		return -1;
	if (!strcasecmp(end, "k") || !strcasecmp(end, "KiB")) x <<= 10;
	else if (!strcasecmp(end, "m") || !strcasecmp(end, "MiB")) x <<= 20;
	else if (!strcasecmp(end, "g") || !strcasecmp(end, "GiB")) x <<= 30;
	else if (*end) return -1;
	*out = x;
	return 0;
}

int lake_option(lake_options *o, const char *flag, const char *value, ids_error *err)
{
	if (!strcmp(flag, "--lake-profile")) {
		if (!strcmp(value, "compat")) o->profile = PQ_PROFILE_COMPAT;
		else if (!strcmp(value, "modern")) o->profile = PQ_PROFILE_MODERN;
		else return ids_fail(err, IDS_EINVAL, "expected compat or modern");
	} else if (!strcmp(flag, "--flush-interval")) {
		if (parse_ms(value, &o->flush_interval_ms) || o->flush_interval_ms < 1)
			return ids_fail(err, IDS_EINVAL, "expected a duration like 1s, 250ms or 500 (ms)");
	} else if (!strcmp(flag, "--on-flush")) {
		o->on_flush = value;
	} else if (!strcmp(flag, "--drill-url")) {
		o->drill_url = value;
	} else if (!strcmp(flag, "--drill-workspace")) {
		o->drill_workspace = value;
	} else if (!strcmp(flag, "--lake-config")) {
		o->config_file = value;
	} else if (!strcmp(flag, "--lake-nested")) {
		if (!strcmp(value, "auto")) o->nested = 0;
		else if (!strcmp(value, "struct")) o->nested = LK_NESTED_STRUCT;
		else if (!strcmp(value, "json")) o->nested = LK_NESTED_JSON;
		else return ids_fail(err, IDS_EINVAL, "expected auto, struct or json");
	} else if (!strcmp(flag, "--lake-bucket-bytes")) {
		if (parse_bytes(value, &o->bucket_bytes))
			return ids_fail(err, IDS_EINVAL, "expected a size like 134217728, 128M or 64k");
	} else if (!strcmp(flag, "--lake-retry-max")) {
		char *end;
		long n = strtol(value, &end, 10);
		if (*end || end == value || n < 1 || n > 1000)
			return ids_fail(err, IDS_EINVAL, "expected a number of attempts from 1 to 1000");
		o->retry_max = (int)n;
	} else if (!strcmp(flag, "--lake-retry-base")) {
		if (parse_ms(value, &o->retry_base_ms) || o->retry_base_ms < 1)
			return ids_fail(err, IDS_EINVAL, "expected a duration like 1s, 250ms or 500 (ms)");
	} else if (!strcmp(flag, "--lake-format")) {
		if (!strcmp(value, "hive")) o->format = LK_FORMAT_HIVE;
		else if (!strcmp(value, "iceberg")) o->format = LK_FORMAT_ICEBERG;
		else return ids_fail(err, IDS_EINVAL, "expected hive or iceberg");
	} else if (!strcmp(flag, "--iceberg-keep")) {
		if (parse_ms(value, &o->iceberg_keep_ms))
			return ids_fail(err, IDS_EINVAL, "expected a duration like 10min as 600s, or 0 (keep every snapshot)");
		if (!o->iceberg_keep_ms)
			o->iceberg_keep_ms = -1;
	} else if (!strcmp(flag, "--iceberg-rest")) {
		if (strncmp(value, "http://", 7) && strncmp(value, "https://", 8))
			return ids_fail(err, IDS_EINVAL, "expected the catalog's base URL, like http://127.0.0.1:8181");
		o->iceberg_rest = value;
	} else if (!strcmp(flag, "--iceberg-warehouse")) {
		if (strncmp(value, "s3://", 5) || !value[5] || value[5] == '/')
			return ids_fail(err, IDS_EINVAL, "expected s3://bucket[/prefix]");
		o->iceberg_warehouse = value;
	} else if (!strcmp(flag, "--s3-endpoint")) {
		if (strncmp(value, "http://", 7) && strncmp(value, "https://", 8))
			return ids_fail(err, IDS_EINVAL, "expected the S3 service's URL, like http://127.0.0.1:7070");
		o->s3_endpoint = value;
	} else if (!strcmp(flag, "--s3-region")) {
		o->s3_region = value;
	} else if (!strcmp(flag, "--lake-partition")) {
		if (!strchr(value, '=') || o->n_partition == (int)(sizeof o->partition / sizeof o->partition[0]))
			return ids_fail(err, IDS_EINVAL, "expected [DB/]STORE=FIELD (at most 16)");
		o->partition[o->n_partition++] = value;
	} else {
		return 0;
	}
	return 1;
}

const char *lake_usage(void)
{
	return "lake (Parquet) options:\n"
	       "  --lake-profile compat|modern  compat: Hive 2+/Impala 3+/Drill; modern: Trino/Spark/DuckDB [compat]\n"
	       "  --lake-format hive|iceberg  iceberg: also Apache Iceberg v2 tables in DIR/_iceberg [hive]\n"
	       "  --iceberg-rest URL        commit the Iceberg tables through this REST catalog [file-system catalog]\n"
	       "  --iceberg-warehouse s3://BUCKET/PREFIX  the Iceberg files also on S3 (needs --iceberg-rest)\n"
	       "  --s3-endpoint URL         the S3 service (credentials: $AWS_ACCESS_KEY_ID, $AWS_SECRET_ACCESS_KEY)\n"
	       "  --s3-region REGION        S3 signing region [us-east-1]\n"
	       "  --iceberg-keep DUR        Iceberg snapshots kept for time travel and running queries; 0: all [600s]\n"
	       "  --flush-interval DUR      how often new changes land in the lake (1s, 250ms) [1s]\n"
	       "  --lake-nested auto|struct|json  nested objects as STRUCT or JSON text [auto: by profile]\n"
	       "  --lake-partition [DB/]STORE=FIELD  Hive-style partitioning of a store's current state\n"
	       "  --lake-bucket-bytes SIZE  target size of one current-state file before doubling [128M]\n"
	       "  --lake-config FILE        JSON: {\"stores\":{\"[db/]store\":{\"partition_by\":F,\"bucket_bytes\":N}}}\n"
	       "  --lake-retry-max N        attempts before a failing table or row is quarantined [10]\n"
	       "  --lake-retry-base DUR     wait before the first retry, doubled each time up to 5 min [1s]\n"
	       "  --on-flush 'COMMAND'      run after each flush per touched table (env IDBSYNC_TABLE, ...)\n"
	       "  --drill-url URL           send REFRESH TABLE METADATA to Drill's REST API after flushes\n"
	       "  --drill-workspace WS      the Drill workspace the lake is mounted as [dfs.lake]\n";
}

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

int lk_config_load(lake *l, const char *path, ids_error *err)
{
	json_error_t je;
	json_t *j = json_load_file(path, 0, &je);
	if (!j)
		return ids_fail(err, IDS_EINVAL, "%s:%d:%d: %s", path, je.line, je.column, je.text);
	int rc = 0;
	json_t *x;
	if ((x = json_object_get(j, "profile")) && json_is_string(x))
		l->profile = !strcmp(json_string_value(x), "modern") ? PQ_PROFILE_MODERN : PQ_PROFILE_COMPAT;
	if ((x = json_object_get(j, "nested")) && json_is_string(x))
		l->nested = !strcmp(json_string_value(x), "struct") ? LK_NESTED_STRUCT : LK_NESTED_JSON;
	if ((x = json_object_get(j, "bucket_bytes")) && json_is_integer(x) && json_integer_value(x) > 0)
		l->bucket_bytes = json_integer_value(x);
	if ((x = json_object_get(j, "flush_interval_ms")) && json_is_integer(x) && json_integer_value(x) > 0)
		l->o.flush_interval_ms = json_integer_value(x);
	json_t *stores = json_object_get(j, "stores");
	const char *k;
	json_t *v;
	json_object_foreach(stores, k, v)
	{
		json_t *p = json_object_get(v, "partition_by");
		json_t *b = json_object_get(v, "bucket_bytes");
		if ((p && !json_is_string(p)) || (b && !json_is_integer(b))) {
			rc = ids_fail(err, IDS_EINVAL, "%s: stores.%s: partition_by must be a string, bucket_bytes an integer",
				      path, k);
			break;
		}
		if ((rc = lk_config_add(l, k, p ? json_string_value(p) : NULL, b ? json_integer_value(b) : 0, err)))
			break;
	}
	json_decref(j);
	return rc;
}

