/* `idbsync ddl`: prints the engine DDL for the tables of a lake (lake_ddl in src/lake/ddl.c),
 * from its hidden metadata only, so it runs anywhere the lake directory is readable. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "idbsync/lake.h"

static void ddl_usage(FILE *f)
{
	fprintf(f, "usage: idbsync ddl --lake DIR --dialect hive|impala|drill|trino|spark|duckdb [--db D] [--store S]\n"
		   "                   [--location URI-PREFIX] [--drill-workspace dfs.lake]\n"
		   "  --location  where the engine sees DIR (hdfs://nn/lake, s3a://bucket/lake) [file://DIR]\n");
}

int cmd_ddl(int argc, char **argv)
{
	lake_ddl_options o = {"./lake", NULL, NULL, NULL, NULL, NULL};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			ddl_usage(stdout);
			return 0;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "idbsync ddl: %s needs a value\n", a);
			ddl_usage(stderr);
			return 2;
		}
		const char *v = argv[++i];
		if (!strcmp(a, "--lake")) o.dir = v;
		else if (!strcmp(a, "--dialect")) o.dialect = v;
		else if (!strcmp(a, "--db")) o.db = v;
		else if (!strcmp(a, "--store")) o.store = v;
		else if (!strcmp(a, "--location")) o.location = v;
		else if (!strcmp(a, "--drill-workspace")) o.drill_workspace = v;
		else {
			fprintf(stderr, "idbsync ddl: unknown option %s\n", a);
			ddl_usage(stderr);
			return 2;
		}
	}
	if (!o.dialect) {
		fprintf(stderr, "idbsync ddl: --dialect is required\n");
		ddl_usage(stderr);
		return 2;
	}
	ids_buf out = IDS_BUF_INIT;
	ids_error err = IDS_ERROR_INIT;
	int rc = lake_ddl(&out, &o, &err);
	if (rc) {
		fprintf(stderr, "idbsync ddl: %s\n", err.msg);
		ids_buf_free(&out);
		return rc == IDS_EINVAL ? 2 : 1;
	}
	fwrite(out.data, 1, out.len, stdout);
	ids_buf_free(&out);
	return 0;
}
