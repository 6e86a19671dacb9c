/* `idbsync lake check`: Impala's Parquet reader rules over every file of a lake
 * (lake_check_path in src/lake/check.c); one line per violation, exit 1 when there is one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "idbsync/lake_check.h"

static void lake_usage(FILE *f)
{
	fprintf(f, "usage: idbsync lake check [--profile impala4|compat] [--max-per-file N] DIR|FILE...\n"
		   "       idbsync lake quarantine list|retry --lake DIR   (idbsync lake quarantine --help)\n"
		   "  Applies the checks Apache Impala's Parquet reader makes to every *.parquet file under\n"
		   "  DIR (names starting with '_' or '.' are skipped, as engines do) and prints\n"
		   "  FILE: COLUMN: RULE: MESSAGE per violation; exit 1 when there is one.\n"
		   "  --profile impala4  the current Impala 4.x reader (default)\n"
		   "  --profile compat   also what Impala 3.x refuses (zstd/lz4, RLE_DICTIONARY, DataPage V2,\n"
		   "                     INT64 UTC timestamps): the target of --lake-profile compat\n"
		   "  rules:");
	for (const char *const *r = lake_check_rules; *r; r++)
		fprintf(f, " %s", *r);
	fprintf(f, "\n  (each is described in include/idbsync/lake_check.h and docs/engines.md)\n");
}

static void print_violation(void *ctx, const char *file, const char *column, const char *rule, const char *msg)
{
	(void)ctx;
	printf("%s: %s: %s: %s\n", file, column[0] ? column : "-", rule, msg);
}

static int lake_check(int argc, char **argv)
{
	lake_check_options o = LAKE_CHECK_OPTIONS_INIT;
	int first = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			lake_usage(stdout);
			return 0;
		}
		if (!strcmp(a, "--profile") || !strcmp(a, "--max-per-file")) {
			if (i + 1 >= argc) {
				fprintf(stderr, "idbsync lake check: %s needs a value\n", a);
				return 2;
			}
			const char *v = argv[++i];
			if (!strcmp(a, "--max-per-file")) {
				o.max_per_file = atoi(v);
			} else if (!strcmp(v, "compat")) {
				o.profile = LAKE_CHECK_COMPAT;
			} else if (!strcmp(v, "impala4")) {
				o.profile = LAKE_CHECK_IMPALA4;
			} else {
				fprintf(stderr, "idbsync lake check: --profile: expected impala4 or compat, got \"%s\"\n", v);
				return 2;
			}
			continue;
		}
		if (a[0] == '-' && a[1]) {
			fprintf(stderr, "idbsync lake check: unknown option %s\n", a);
			lake_usage(stderr);
			return 2;
		}
		if (!first)
			first = i;
	}
	if (!first) {
		fprintf(stderr, "idbsync lake check: expected a lake directory or a Parquet file\n");
		lake_usage(stderr);
		return 2;
	}
	lake_check_stats st = {0, 0, 0};
	int rc = 0;
	for (int i = first; i < argc; i++) {
		if (argv[i][0] == '-' && argv[i][1]) {
			if (!strcmp(argv[i], "--profile") || !strcmp(argv[i], "--max-per-file"))
				i++;
			continue;
		}
		ids_error err = IDS_ERROR_INIT;
		if (lake_check_path(argv[i], &o, print_violation, NULL, &st, &err)) {
			fprintf(stderr, "idbsync lake check: %s\n", err.msg);
			rc = 2;
		}
	}
	fflush(stdout);
	fprintf(stderr, "idbsync lake check: %lld files, %lld violations in %lld files (profile %s)\n",
		(long long)st.files, (long long)st.violations, (long long)st.files_failed,
		o.profile == LAKE_CHECK_COMPAT ? "compat" : "impala4");
	return rc ? rc : st.violations ? 1 : 0;
}

int cmd_lake(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "quarantine"))
		return cmd_lake_quarantine(argc - 1, argv + 1);
	if (argc < 2 || strcmp(argv[1], "check")) {
		if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
			lake_usage(stdout);
			return 0;
		}
		fprintf(stderr, "idbsync lake: expected 'check' or 'quarantine'\n");
		lake_usage(stderr);
		return 2;
	}
	return lake_check(argc - 1, argv + 1);
}
