/* `idbsync ddl`: prints the engine DDL for the tables of a lake (lake_ddl in src/lake/ddl.c),
 * from its hidden metadata only, so it runs anywhere the lake directory is readable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "idbsync/lake.h"
#include "opts.h"

#define F(m) CLI_FIELD(lake_ddl_options, m)

/* Every flag of `idbsync ddl` (help, parsing: src/cli/opts.c). */
static const cli_opt ddl_opts[] = {
	{.flag = "--lake", .arg = "DIR", .def = "./lake", .help = "the lake (only its hidden metadata is read)", .type = CLI_STR,
	 F(dir)},
	{.flag = "--dialect", .arg = "ENGINE", .help = "hive, impala, drill, trino, spark or duckdb (required)", .type = CLI_STR,
	 F(dialect)},
	{.flag = "--db", .arg = "D", .help = "only this database", .type = CLI_STR, F(db)},
	{.flag = "--store", .arg = "S", .help = "only this store (its name or its table's)", .type = CLI_STR, F(store)},
	{.flag = "--location", .arg = "URI-PREFIX", .def = "file://DIR",
	 .help = "where the engine sees DIR (hdfs://nn/lake, s3a://bucket/lake)", .type = CLI_STR, F(location)},
	{.flag = "--drill-workspace", .arg = "WS", .def = "dfs.lake", .help = "the Drill workspace the lake is mounted as",
	 .type = CLI_STR, F(drill_workspace)},
	{.flag = "--catalog-uri", .arg = "URL",
	 .help = "iceberg lake, trino, spark, duckdb or hive: attach to this REST catalog (the server's http://HOST:PORT/iceberg; "
		 "the token from $IDBSYNC_ICEBERG_TOKEN)",
	 .type = CLI_STR, F(catalog_uri)},
	{.flag = "--s3-endpoint", .arg = "URL",
	 .help = "a lake on S3 (--iceberg-warehouse s3://): the S3-compatible endpoint engines read it at (the server's "
		 "--s3-endpoint; keys from $AWS_ACCESS_KEY_ID/$AWS_SECRET_ACCESS_KEY)",
	 .type = CLI_STR, F(s3_endpoint)},
	{.flag = "--s3-region", .arg = "R", .def = "us-east-1", .help = "a lake on S3: its region", .type = CLI_STR,
	 F(s3_region)},
	{0},
};

static const cli_cmd ddl_cmd = {
	.name = "ddl",
	.usage = "usage: idbsync ddl --lake DIR --dialect hive|impala|drill|trino|spark|duckdb [options]\n",
	.opts = ddl_opts,
	.help_on_error = 1,
	.no_args = 1,
};

static int ddl_run(void *cfg, char **args, int nargs)
{
	const lake_ddl_options o = *(lake_ddl_options *)cfg;
	if (!o.dialect) {
		fprintf(stderr, "idbsync ddl: --dialect is required\n");
		cli_help(&ddl_cmd, stderr);
		return 2;
	}
	lake_ddl_options oo = o;
	const char *tok = getenv("IDBSYNC_ICEBERG_TOKEN");   /* never a flag: it would show in ps */
	if (oo.catalog_uri && tok && *tok)
		oo.catalog_token = tok;
	/* an S3 lake's keys as serve takes them: from the environment, never a flag */
	const char *ak = getenv("AWS_ACCESS_KEY_ID"), *sk = getenv("AWS_SECRET_ACCESS_KEY");
	if (oo.catalog_uri && ak && *ak && sk && *sk) {
		oo.s3_access_key = ak;
		oo.s3_secret_key = sk;
	}
	ids_buf out = IDS_BUF_INIT;
	ids_error err = IDS_ERROR_INIT;
	int rc = lake_ddl(&out, &oo, &err);
	if (rc) {
		fprintf(stderr, "idbsync ddl: %s\n", err.msg);
		ids_buf_free(&out);
		return rc == IDS_EINVAL ? 2 : 1;
	}
	fwrite(out.data, 1, out.len, stdout);
	ids_buf_free(&out);
	return 0;
}

int cmd_ddl(int argc, char **argv)
{
	lake_ddl_options o = {.dir = "./lake"};
	return cli_main(&ddl_cmd, &o, argc, argv, ddl_run);
}
