/* `idbsync ddl` for a lake written with --lake-format iceberg: how each engine attaches the
 * Iceberg tables of DIR/_iceberg (a Hadoop/file-system catalog: warehouse DIR/_iceberg,
 * namespace = database, table = table dir). Engines that track the newest metadata themselves
 * (Spark's hadoop catalog, Hive 4 and Impala location-based tables, DuckDB's iceberg_scan
 * through version-hint.text) see every commit; Trino registers one metadata file and needs
 * the registration renewed. With --catalog-uri, Trino, Spark, DuckDB and Hive attach to the REST
 * catalog the running server serves instead, which always names the newest commit. A lake whose tables are
 * on S3 with the server as catalog (--iceberg-warehouse s3://) is attached only that way, with
 * the engine's S3 settings printed beside the catalog's. docs/iceberg.md. */
#include "iceberg.h"

#include "idbsync/path.h"
#include "idbsync/str.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lk_ice_ddl_applies(const char *abs, const char *dialect)
{
	char p[IDS_PATH_MAX + 1];
	if (!dialect || ids_path(p, sizeof p, NULL, "%s/_iceberg", abs) || !lk_exists(p))
		return 0;
	return !strcmp(dialect, "duckdb") || !strcmp(dialect, "spark") || !strcmp(dialect, "trino") ||
	       !strcmp(dialect, "hive") || !strcmp(dialect, "impala");
}

static void attach(ids_buf *o, const char *d, int rest, const char *db, const char *t, const char *loc)
{
	char sdb[128];
	lk_sanitize(db, sdb, sizeof sdb);
	if (!strcmp(d, "spark"))   /* a catalog that names the tables: a query proves each one loads */
		ids_buf_printf(o, "SELECT count(*) FROM idbsync.`%s`.%s;\n", db, t);
	else if (rest && !strcmp(d, "hive"))   /* a Hive table naming the catalog's table, at its location (hive_rest) */
		ids_buf_printf(o, "CREATE EXTERNAL TABLE IF NOT EXISTS %s.%s STORED BY ICEBERG LOCATION '%s'\n"
				  "  TBLPROPERTIES ('iceberg.catalog'='idbsync', 'name'='%s.%s');\n", sdb, t, loc, db, t);
	else if (rest)
		ids_buf_printf(o, "SELECT count(*) FROM idbsync.\"%s\".\"%s\";\n", db, t);
	else if (!strcmp(d, "duckdb"))
		ids_buf_printf(o, "CREATE OR REPLACE VIEW %s_%s AS SELECT * FROM iceberg_scan('%s');\n", sdb, t, loc);
	else if (!strcmp(d, "trino"))
		ids_buf_printf(o, "CALL iceberg.system.register_table(schema_name => '%s', table_name => '%s', table_location => '%s');\n",
			       sdb, t, loc);
	else if (!strcmp(d, "hive"))
		ids_buf_printf(o, "CREATE EXTERNAL TABLE IF NOT EXISTS %s.%s STORED BY ICEBERG LOCATION '%s'\n"
				  "  TBLPROPERTIES ('iceberg.catalog'='location_based_table');\n", sdb, t, loc);
	else
		ids_buf_printf(o, "CREATE EXTERNAL TABLE IF NOT EXISTS %s.%s STORED AS ICEBERG LOCATION '%s'\n"
				  "  TBLPROPERTIES ('iceberg.catalog'='hadoop.tables');\n", sdb, t, loc);
}

/* The URI, token and S3 settings go into SQL string literals as printed: refuse what would need
 * escaping. */
static int rest_check(const lake_ddl_options *o, ids_error *err)
{
	const char *u = o->catalog_uri, *tok = o->catalog_token;
	if ((strncmp(u, "http://", 7) && strncmp(u, "https://", 8)) || strpbrk(u, "'\"\\ \n"))
		return ids_fail(err, IDS_EINVAL, "--catalog-uri %s: expected http(s)://HOST:PORT/iceberg", u);
	if (tok && strpbrk(tok, "'\"\\\n"))
		return ids_fail(err, IDS_EINVAL, "$IDBSYNC_ICEBERG_TOKEN: a token with a quote or backslash cannot be printed");
	const char *what[] = {"--s3-endpoint", "--s3-region", "$AWS_ACCESS_KEY_ID", "$AWS_SECRET_ACCESS_KEY"};
	const char *v[] = {o->s3_endpoint, o->s3_region, o->s3_access_key, o->s3_secret_key};
	for (int i = 0; i < 4; i++)
		if (v[i] && strpbrk(v[i], "'\"\\ \n"))
			return ids_fail(err, IDS_EINVAL, "%s: a value with a quote, backslash or space cannot be printed", what[i]);
	return 0;
}

/* Where one table's metadata says it lives: 1 with the warehouse in wh when on S3
 * (--iceberg-warehouse s3://bucket/prefix with the server as catalog: the mirror's metadata
 * JSON names s3:// locations), -1 when local, 0 when no metadata names a location yet. */
static int table_where(const char *tdir, char *wh, size_t cap)
{
	char mdir[PATH_MAX];
	if (ids_path(mdir, sizeof mdir, NULL, "%s/metadata", tdir))
		return 0;
	int found = 0;
	DIR *m = opendir(mdir);
	struct dirent *f;
	while (!found && m && (f = readdir(m))) {
		size_t fl = strlen(f->d_name);
		char mp[PATH_MAX];
		if (fl < 14 || strcmp(f->d_name + fl - 14, ".metadata.json") ||
		    ids_path(mp, sizeof mp, NULL, "%s/%s", mdir, f->d_name))
			continue;
		json_t *j = json_load_file(mp, 0, NULL);
		const char *loc = json_string_value(json_object_get(j, "location"));
		/* s3://bucket/prefix/<db>/<table>: the warehouse is two levels up */
		char *cut;
		if (loc && !strncmp(loc, "s3://", 5) && strlen(loc) < cap) {
			snprintf(wh, cap, "%s", loc);
			for (int up = 0; up < 2 && (cut = strrchr(wh + 5, '/')); up++)
				*cut = 0;
			found = 1;
		} else if (loc) {
			found = -1;   /* a local table: the lake is not on S3 */
		}
		json_decref(j);
	}
	if (m)
		closedir(m);
	return found;
}

/* The one listing of root (DIR/_iceberg): every "<db>/<table>" into *names, unfiltered (the
 * --db/--store filter applies when printing, so an S3 lake is recognized whatever it asks
 * for), and *s3 set with the warehouse in wh when the first table that names a location names
 * an s3:// one. */
static int list_tables(const char *root, char ***names, size_t *n, char *wh, size_t cap, int *s3, ids_error *err)
{
	DIR *r = opendir(root);
	if (!r)
		return ids_fail(err, IDS_ENOTFOUND, "%s: %s", root, strerror(errno));
	int rc = 0, where = 0;
	struct dirent *e;
	while (!rc && (e = readdir(r))) {
		char dbdir[PATH_MAX];
		if (e->d_name[0] == '.' || ids_path(dbdir, sizeof dbdir, NULL, "%s/%s", root, e->d_name))
			continue;
		DIR *s = opendir(dbdir);
		struct dirent *t;
		while (!rc && s && (t = readdir(s))) {
			char tdir[PATH_MAX];
			if (t->d_name[0] == '.' || ids_path(tdir, sizeof tdir, NULL, "%s/%s", dbdir, t->d_name))
				continue;
			if (!where)
				where = table_where(tdir, wh, cap);
			char **x = realloc(*names, (*n + 1) * sizeof *x);
			if (x)
				*names = x;
			if (!x || asprintf(&x[*n], "%s/%s", e->d_name, t->d_name) < 0)
				rc = ids_fail(err, IDS_ENOMEM, "out of memory");
			else
				(*n)++;
		}
		if (s)
			closedir(s);
	}
	closedir(r);
	*s3 = where > 0;
	return rc;
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* "<db>/<table>" asked for by --db and --store (a store's three tables) */
static int wanted(const lake_ddl_options *o, const char *name)
{
	const char *slash = strchr(name, '/'), *t = slash + 1;
	if (o->db && (strlen(o->db) != (size_t)(slash - name) || strncmp(o->db, name, slash - name)))
		return 0;
	size_t sl = o->store ? strlen(o->store) : 0;
	return !o->store || (!strncmp(t, o->store, sl) &&
			     (!t[sl] || !strcmp(t + sl, "_changes") || !strcmp(t + sl, "_conflicts")));
}

/* An S3 lake's settings for Trino's native S3 file system (inside CREATE CATALOG ... WITH):
 * the endpoint and path-style access of an S3-compatible server, then static keys when the
 * environment has them, else placeholders. */
static void trino_s3(ids_buf *out, const lake_ddl_options *o)
{
	ids_buf_puts(out, "  \"fs.native-s3.enabled\" = 'true',\n");
	if (o->s3_endpoint)
		ids_buf_printf(out, "  \"s3.endpoint\" = '%s',\n  \"s3.path-style-access\" = 'true',\n", o->s3_endpoint);
	else
		ids_buf_puts(out, "  -- an S3-compatible server: idbsync ddl --s3-endpoint URL prints s3.endpoint and path-style access\n");
	/* not vended-credentials-enabled: Trino (476) takes vended S3 keys only with an
	 * s3.session-token (STS), and idbsync vends its static keys without one */
	if (o->s3_access_key)
		ids_buf_printf(out, "  \"s3.aws-access-key\" = '%s',\n  \"s3.aws-secret-key\" = '%s',\n", o->s3_access_key,
			       o->s3_secret_key);
	else
		ids_buf_puts(out, "  -- \"s3.aws-access-key\" = '<key>', \"s3.aws-secret-key\" = '<secret>' (set $AWS_ACCESS_KEY_ID and\n"
				  "  -- $AWS_SECRET_ACCESS_KEY to print them; Trino uses vended keys only with an STS session token)\n");
	ids_buf_printf(out, "  \"s3.region\" = '%s'\n", o->s3_region ? o->s3_region : "us-east-1");
}

/* Iceberg's S3FileIO (iceberg-aws-bundle) settings of an Iceberg catalog, one a line as
 * <pre><property>=<value><post> (Spark's --conf lines, Hive's SETs): the endpoint and path-style
 * access of an S3-compatible server, the region, static keys when the environment has them.
 * Returns whether it printed keys. */
static void props(ids_buf *out, const char *pre, const char *post, const char *const *k, const char *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i])
			ids_buf_printf(out, "%s%s=%s%s\n", pre, k[i], v[i], post);
}

static int s3fileio(ids_buf *out, const lake_ddl_options *o, const char *pre, const char *post)
{
	const char *k[] = {"io-impl", "s3.endpoint", "s3.path-style-access", "client.region", "s3.access-key-id",
			   "s3.secret-access-key"};
	const char *v[] = {"org.apache.iceberg.aws.s3.S3FileIO", o->s3_endpoint, o->s3_endpoint ? "true" : NULL,
			   o->s3_region ? o->s3_region : "us-east-1", o->s3_access_key, o->s3_access_key ? o->s3_secret_key : NULL};
	props(out, pre, post, k, v, sizeof k / sizeof *k);
	return o->s3_access_key != NULL;
}

/* The same endpoint, region and keys for Hadoop's S3A mapped to s3://, which Hive's jobs need
 * beside S3FileIO: a MapReduce or Tez job looks each split up by its table's location and asks
 * Hadoop for that path's file system, and the metastore checks a LOCATION when a table is made
 * (measured with Hive 4.1.0: "No FileSystem for scheme s3", then "cannot find dir = s3://..
 * in pathToPartitionInfo" while the table had the metastore's default location). */
static void hive_s3a(ids_buf *out, const lake_ddl_options *o)
{
	ids_buf_puts(out, "-- Aggregates and joins run as MapReduce/Tez jobs, which find each split by its table's LOCATION\n"
			  "-- through Hadoop's file system for s3://: S3A (org.apache.hadoop:hadoop-aws and the AWS SDK on\n"
			  "-- the classpath), mapped to s3:// and pointed at the same server. Creating the tables needs it too.\n");
	const char *k[] = {"fs.s3.impl", "fs.s3a.endpoint", "fs.s3a.path.style.access", "fs.s3a.endpoint.region",
			   "fs.s3a.access.key", "fs.s3a.secret.key"};
	const char *v[] = {"org.apache.hadoop.fs.s3a.S3AFileSystem", o->s3_endpoint, o->s3_endpoint ? "true" : NULL,
			   o->s3_region ? o->s3_region : "us-east-1", o->s3_access_key, o->s3_access_key ? o->s3_secret_key : NULL};
	props(out, "SET ", ";", k, v, sizeof k / sizeof *k);
	if (!o->s3_access_key)
		ids_buf_puts(out, "-- SET fs.s3a.access.key=<key>; and fs.s3a.secret.key=<secret>; (or S3A's own credential providers)\n");
}

/* The same for Spark's Iceberg catalog; without keys, vended ones asked for with a token. */
static void spark_s3(ids_buf *out, const lake_ddl_options *o)
{
	if (s3fileio(out, o, "--   --conf spark.sql.catalog.idbsync.", " \\"))
		return;
	if (o->catalog_token)
		ids_buf_puts(out, "--   (the S3 keys from the catalog: a server with --iceberg-vend-credentials) \\\n"
				  "--   --conf spark.sql.catalog.idbsync.header.X-Iceberg-Access-Delegation=vended-credentials \\\n");
	else
		ids_buf_puts(out, "--   (--conf spark.sql.catalog.idbsync.s3.access-key-id=<key> and .s3.secret-access-key=<secret>;\n"
				  "--   set $AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY to print them) \\\n");
}

/* Trino attached to the REST catalog a running server serves (docs/iceberg.md, "The served
 * catalog"): one CREATE CATALOG (Trino's dynamic catalog management) that sees every flush. */
static void trino_rest(ids_buf *out, const lake_ddl_options *o, int s3)
{
	const char *u = o->catalog_uri, *tok = o->catalog_token;
	ids_buf_printf(out, "-- Trino (435+) with its Iceberg connector (plugin io.trino:trino-iceberg), catalog.management=dynamic\n"
			  "-- in etc/config.properties; or the WITH properties, unquoted, in etc/catalog/idbsync.properties.\n"
			  "-- The served catalog always names the newest committed snapshot: every query sees the latest flush.\n"
			  "%s"
			  "-- Time travel: SELECT * FROM idbsync.<db>.<table> FOR VERSION AS OF <snapshot_id>;\n"
			  "-- snapshots with their sync seq: SELECT snapshot_id, summary['idbsync.seq'] FROM idbsync.<db>.\"<table>$snapshots\";\n",
		       s3 ? "-- Data files are s3:// objects: Trino reads them with its native S3 file system.\n"
			  : "-- Data files are file:// paths: Trino's workers must see the lake at the same path.\n");
	ids_buf_printf(out, "CREATE CATALOG idbsync USING iceberg WITH (\n"
			    "  \"iceberg.catalog.type\" = 'rest',\n"
			    "  \"iceberg.rest-catalog.uri\" = '%s',\n", u);
	if (tok)
		ids_buf_printf(out, "  \"iceberg.rest-catalog.security\" = 'OAUTH2',\n"
				    "  \"iceberg.rest-catalog.oauth2.token\" = '%s',\n", tok);
	else
		ids_buf_puts(out, "  -- with --auth tokens:FILE: \"iceberg.rest-catalog.security\" = 'OAUTH2',\n"
				  "  -- \"iceberg.rest-catalog.oauth2.token\" = '<admin token>' (set $IDBSYNC_ICEBERG_TOKEN to print it)\n");
	if (s3)
		trino_s3(out, o);
	else
		ids_buf_puts(out, "  \"fs.native-local.enabled\" = 'true',\n"
				  "  \"local.location\" = '/'\n");
	ids_buf_puts(out, ");\n");
}

/* DuckDB's iceberg extension attached to the same catalog (ATTACH ... TYPE iceberg). */
static void duckdb_rest(ids_buf *out, const lake_ddl_options *o, int s3)
{
	const char *u = o->catalog_uri, *tok = o->catalog_token;
	ids_buf_printf(out, "-- DuckDB (1.4+) with its iceberg and httpfs extensions, attached to the REST catalog the running\n"
			  "-- server serves: every query sees the newest snapshot. %s\n"
			  "-- Time travel: SELECT * FROM idbsync.<db>.<table> AT (VERSION => <snapshot_id>);\n"
			  "INSTALL iceberg; LOAD iceberg; INSTALL httpfs; LOAD httpfs;\n",
		       s3 ? "Data files are s3:// objects: DuckDB asks\n-- the catalog for vended credentials (--iceberg-vend-credentials)."
			  : "Data files are file:// paths.");
	if (tok)
		ids_buf_printf(out, "CREATE OR REPLACE SECRET idbsync_catalog (TYPE iceberg, TOKEN '%s');\n"
				    "ATTACH 'idbsync' AS idbsync (TYPE iceberg, ENDPOINT '%s', SECRET idbsync_catalog);\n", tok, u);
	else
		ids_buf_printf(out, "-- with --auth tokens:FILE: CREATE SECRET idbsync_catalog (TYPE iceberg, TOKEN '<admin token>')\n"
				    "-- and SECRET idbsync_catalog instead of AUTHORIZATION_TYPE (set $IDBSYNC_ICEBERG_TOKEN to print it)\n"
				    "ATTACH 'idbsync' AS idbsync (TYPE iceberg, ENDPOINT '%s', AUTHORIZATION_TYPE 'none');\n", u);
}

/* Spark with the Iceberg runtime attached to the same catalog: its settings (Spark has no SQL
 * to create a catalog), tested as printed by tests/engines/test_spark_iceberg.py. */
static void spark_rest(ids_buf *out, const lake_ddl_options *o, int s3)
{
	ids_buf_printf(out, "-- Apache Spark with the Iceberg runtime, attached to the REST catalog the running server serves.\n"
			    "-- cache-enabled=false: every query loads the table and sees the newest snapshot (Iceberg's\n"
			    "-- default keeps a loaded table for 30 s). Data files are %s.\n"
			    "-- spark-sql --packages org.apache.iceberg:iceberg-spark-runtime-4.0_2.13:1.10.0%s \\\n"
			    "--   --conf spark.sql.catalog.idbsync=org.apache.iceberg.spark.SparkCatalog \\\n"
			    "--   --conf spark.sql.catalog.idbsync.type=rest \\\n"
			    "--   --conf spark.sql.catalog.idbsync.uri=%s \\\n",
		       s3 ? "s3:// objects, read with Iceberg's S3FileIO" : "file:// paths",
		       s3 ? ",org.apache.iceberg:iceberg-aws-bundle:1.10.0" : "", o->catalog_uri);
	if (s3)
		spark_s3(out, o);
	if (o->catalog_token)
		ids_buf_printf(out, "--   --conf spark.sql.catalog.idbsync.token=%s \\\n", o->catalog_token);
	else
		ids_buf_puts(out, "--   (with --auth tokens:FILE: --conf spark.sql.catalog.idbsync.token=<admin token>;\n"
				  "--   set $IDBSYNC_ICEBERG_TOKEN to print it) \\\n");
	ids_buf_puts(out, "--   --conf spark.sql.catalog.idbsync.cache-enabled=false\n"
			  "-- Time travel: SELECT * FROM idbsync.<db>.<table> VERSION AS OF <snapshot-id>;\n"
			  "-- snapshots with their idbsync.seq: SELECT snapshot_id, summary['idbsync.seq'] FROM idbsync.<db>.<table>.snapshots;\n");
}

/* Hive 4 attached to the same catalog through the Iceberg storage handler's custom catalogs: the
 * catalog's properties are session settings (iceberg.catalog.idbsync.*, read by the handler's
 * Catalogs when a table names 'iceberg.catalog'='idbsync'); tested by
 * tests/engines/test_iceberg_s3.py with Iceberg's iceberg-hive-runtime 1.4.3 on an S3 lake.
 * Every table gets the LOCATION its metadata names, on a local lake too: Hive's MapReduce/Tez
 * jobs find a split's table by matching its path against the metastore's table locations, and
 * a table made without one has the metastore's default ("cannot find dir", measured on S3;
 * docs/iceberg.md, "Hive aggregates on S3"). */
static void hive_rest(ids_buf *out, const lake_ddl_options *o, int s3)
{
	ids_buf_printf(out, "-- Hive 4 with an Iceberg storage handler (Hive's own, or Iceberg's iceberg-hive-runtime%s),\n"
			    "-- attached to the REST catalog the running server serves: every query loads the newest snapshot.\n"
			    "-- Data files are %s.\n"
			    "SET iceberg.catalog.idbsync.type=rest;\n"
			    "SET iceberg.catalog.idbsync.uri=%s;\n",
		       s3 ? " and\n-- org.apache.iceberg:iceberg-aws-bundle on the classpath" : "",
		       s3 ? "s3:// objects, read with Iceberg's S3FileIO" : "file:// paths", o->catalog_uri);
	if (o->catalog_token)
		ids_buf_printf(out, "SET iceberg.catalog.idbsync.token=%s;\n", o->catalog_token);
	else
		ids_buf_puts(out, "-- with --auth tokens:FILE: SET iceberg.catalog.idbsync.token=<admin token>; (set $IDBSYNC_ICEBERG_TOKEN to print it)\n");
	if (s3 && !s3fileio(out, o, "SET iceberg.catalog.idbsync.", ";"))
		ids_buf_puts(out, "-- SET iceberg.catalog.idbsync.s3.access-key-id=<key>; and .s3.secret-access-key=<secret>;\n"
				  "-- (set $AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY to print them)\n");
	if (s3)
		hive_s3a(out, o);
	ids_buf_puts(out, "-- Time travel (Iceberg's handler): SET iceberg.mr.snapshot.id=<snapshot-id>; (-1: the newest).\n");
}

int lk_ice_ddl(ids_buf *out, const lake_ddl_options *o, const char *abs, ids_error *err)
{
	const char *d = o->dialect;
	int hive = !strcmp(d, "hive");
	int rest = o->catalog_uri && (!strcmp(d, "trino") || !strcmp(d, "duckdb") || !strcmp(d, "spark") || hive);
	if (rest && rest_check(o, err))
		return err->code;
	char root[IDS_PATH_MAX + 1], wh[PATH_MAX + 40];
	char **names = NULL;
	size_t n = 0, kept = 0;
	int s3 = 0, rc = ids_path(root, sizeof root, err, "%s/_iceberg", abs);
	if (!rc)
		rc = list_tables(root, &names, &n, wh, sizeof wh, &s3, err);
	for (size_t i = 0; i < n; i++) {
		if (wanted(o, names[i]))
			names[kept++] = names[i];
		else
			free(names[i]);
	}
	n = kept;
	if (!rc && s3 && !rest)   /* no version-hint, no file:// data: only the served catalog finds the tables */
		rc = ids_fail(err, IDS_EINVAL, "the Iceberg tables of %s are on S3 (%s) with the running server as their catalog: "
					     "attach trino, spark, duckdb or hive to it with --catalog-uri http://HOST:PORT/iceberg",
			      abs, wh);
	if (!rc && !n)
		rc = ids_fail(err, IDS_ENOTFOUND, "no Iceberg tables under %s", root);
	if (rc) {
		free_names(names, n);
		return rc;
	}
	if (s3)
		ids_buf_printf(out, "-- idbsync lake %s (Apache Iceberg v2 on %s, the running server its catalog), dialect %s\n", abs,
			       wh, d);
	else {
		if (o->location)
			snprintf(wh, sizeof wh, "%s/_iceberg", o->location);
		else
			snprintf(wh, sizeof wh, "file://%s", root);
		ids_buf_printf(out, "-- idbsync lake %s (Apache Iceberg v2, file-system catalog at %s), dialect %s\n", abs, wh, d);
	}
	if (rest && !strcmp(d, "duckdb"))
		duckdb_rest(out, o, s3);
	else if (rest && !strcmp(d, "spark"))
		spark_rest(out, o, s3);
	else if (rest && hive)
		hive_rest(out, o, s3);
	else if (rest)
		trino_rest(out, o, s3);
	else if (!strcmp(d, "duckdb"))
		ids_buf_puts(out, "INSTALL iceberg; LOAD iceberg;\n"
				  "-- iceberg_scan(dir) follows metadata/version-hint.text: every query sees the newest snapshot.\n"
				  "-- Time travel: iceberg_scan(dir, snapshot_from_id => <id>) (ids and idbsync.seq: iceberg_snapshots(dir)).\n");
	else if (!strcmp(d, "spark"))
		ids_buf_printf(out, "-- spark-sql --packages org.apache.iceberg:iceberg-spark-runtime-4.0_2.13:1.10.0 \\\n"
				    "--   --conf spark.sql.catalog.idbsync=org.apache.iceberg.spark.SparkCatalog \\\n"
				    "--   --conf spark.sql.catalog.idbsync.type=hadoop --conf spark.sql.catalog.idbsync.warehouse=%s\n"
				    "-- Every query sees the newest snapshot. Time travel: SELECT * FROM idbsync.<db>.<table> VERSION AS OF <snapshot-id>;\n"
				    "-- snapshots with their idbsync.seq: SELECT snapshot_id, summary['idbsync.seq'] FROM idbsync.<db>.<table>.snapshots;\n"
				    "-- Or the REST catalog the running server serves (no path to the lake needed in the config):\n"
				    "--   spark.sql.catalog.idbsync.type=rest, spark.sql.catalog.idbsync.uri=http://<server>/iceberg\n"
				    "--   (with --auth: spark.sql.catalog.idbsync.token=<admin token>).\n",
			       wh);
	else if (!strcmp(d, "trino"))
		ids_buf_puts(out, "-- etc/catalog/iceberg.properties: connector.name=iceberg, iceberg.catalog.type=hive_metastore\n"
				  "-- (a Thrift metastore) or testing_file_metastore with hive.metastore.catalog.dir=<dir> (tested),\n"
				  "-- iceberg.register-table-procedure.enabled=true,\n"
				  "-- fs.native-local.enabled=true, local.location=/ (file:// paths).\n"
				  "-- register_table pins the newest metadata file at that moment: to see later flushes run\n"
				  "-- CALL iceberg.system.unregister_table(...) and register_table again, or attach Trino to the\n"
				  "-- REST catalog the running server serves, which always names the newest snapshot:\n"
				  "--   idbsync ddl --dialect trino --catalog-uri http://<server>/iceberg prints its CREATE CATALOG.\n");
	else if (!strcmp(d, "hive"))
		ids_buf_puts(out, "-- Hive 4: location-based tables read metadata/version-hint.text (every query sees the newest snapshot).\n"
				  "-- Time travel: SELECT * FROM <db>.<table> FOR SYSTEM_VERSION AS OF <snapshot-id>; (ids with their\n"
				  "-- idbsync.seq: SELECT snapshot_id, summary FROM <db>.<table>.snapshots). With Iceberg's own handler\n"
				  "-- (iceberg-hive-runtime) instead of Hive's: SET iceberg.mr.snapshot.id=<snapshot-id>; (-1: the newest).\n");
	else
		ids_buf_puts(out, "-- Impala 4: hadoop.tables; run REFRESH <table> to see newer snapshots.\n");
	qsort(names, n, sizeof *names, ids_str_cmp);
	char last[300] = "";
	int duck = !strcmp(d, "duckdb");
	for (size_t i = 0; i < n; i++) {
		char *slash = strchr(names[i], '/');
		*slash = 0;
		if (strcmp(last, names[i]) && !duck && (!rest || hive) && strcmp(d, "spark")) {
			char sdb[128];
			lk_sanitize(names[i], sdb, sizeof sdb);
			if (!strcmp(d, "trino"))
				ids_buf_printf(out, "\nCREATE SCHEMA IF NOT EXISTS iceberg.%s;\n", sdb);
			else
				ids_buf_printf(out, "\nCREATE DATABASE IF NOT EXISTS %s;\n", sdb);
		}
		snprintf(last, sizeof last, "%s", names[i]);
		char loc[PATH_MAX * 2];   /* DuckDB takes a plain path, the others a URI */
		snprintf(loc, sizeof loc, "%s/%s/%s", duck && !o->location ? root : wh, names[i], slash + 1);
		attach(out, d, rest, names[i], slash + 1, loc);
		*slash = '/';
	}
	free_names(names, n);
	if (out->failed)
		return ids_fail(err, IDS_ENOMEM, "DDL: out of memory");
	return 0;
}
