/* idbsync: one binary, subcommands. Dispatch only; each subcommand lives in its own file. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

#include "cmd_parquet_read.h"
#include "cmd_parquet_write.h"

#define IDS_VERSION "0.1.0"

static void usage(FILE *f)
{
	fprintf(f, "idbsync %s — sync browser IndexedDB with a Parquet data lake\n\n"
		   "usage:\n"
		   "  idbsync serve [--data DIR] [--lake DIR] [--listen ADDR:PORT] [--config FILE] ...\n"
		   "  idbsync parquet write [options] IN.ndjson|- OUT.parquet\n"
		   "  idbsync parquet cat|head [--limit N] [--columns a,b] [--format ndjson|csv] FILE|DIR...\n"
		   "  idbsync parquet schema|meta FILE\n"
		   "  idbsync import --db D --store S [--key F] [--mode upsert|replace] (--data DIR | --server URL) FILE...\n"
		   "  idbsync ddl --lake DIR --dialect hive|impala|drill|trino|spark|duckdb [--db D] [--store S]\n"
		   "  idbsync lake check [--profile impala4|compat] DIR|FILE...   (Impala's reader rules)\n"
		   "  idbsync lake quarantine list|retry --lake DIR\n"
		   "  idbsync backup --data DIR OUT.sqlite        (online)\n"
		   "  idbsync restore --data DIR BACKUP.sqlite     (server stopped)\n"
		   "  idbsync version\n\n"
		   "Every command answers --help ('idbsync serve --help' lists the server's options).\n",
		IDS_VERSION);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "serve"))
		return cmd_serve(argc - 1, argv + 1);
	if (!strcmp(cmd, "parquet")) {
		if (argc >= 3 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h") || !strcmp(argv[2], "help"))) {
			printf("usage: idbsync parquet write|cat|head|schema|meta ...\n"
			       "  write [options] IN.ndjson|- OUT.parquet   NDJSON to Parquet (idbsync parquet write --help)\n"
			       "  cat FILE|DIR|GLOB... [--limit N] [--columns a,b] [--format ndjson|csv]  rows\n"
			       "  head FILE...                              the first 10 rows\n"
			       "  schema FILE                               the schema tree\n"
			       "  meta FILE [--json]                        row groups, chunks, encodings, statistics\n");
			return 0;
		}
		if (argc < 3) {
			fprintf(stderr, "idbsync parquet: expected write, cat, schema or meta (idbsync parquet --help)\n");
			return 2;
		}
		if (!strcmp(argv[2], "write"))
			return pq_cli_write(argc - 2, argv + 2);
		if (!strcmp(argv[2], "cat") || !strcmp(argv[2], "head"))
			return pq_cli_cat(argc - 2, argv + 2);
		if (!strcmp(argv[2], "schema") || !strcmp(argv[2], "meta"))
			return pq_cli_read(argc - 2, argv + 2);
		fprintf(stderr, "idbsync parquet: unknown subcommand '%s' (write, cat, head, schema, meta)\n", argv[2]);
		return 2;
	}
	if (!strcmp(cmd, "import"))
		return cmd_import(argc - 1, argv + 1);
	if (!strcmp(cmd, "ddl"))
		return cmd_ddl(argc - 1, argv + 1);
	if (!strcmp(cmd, "backup") || !strcmp(cmd, "restore"))
		return cmd_backup(argc - 1, argv + 1);
	if (!strcmp(cmd, "lake"))
		return cmd_lake(argc - 1, argv + 1);
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		printf("idbsync %s\n", IDS_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "idbsync: unknown command '%s'\n\n", cmd);
	usage(stderr);
	return 2;
}
