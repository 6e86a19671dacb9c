/* `idbsync lake check`: Impala's Parquet reader rules over every file of a lake
 * (lake_check_path in src/lake/check.c); one line per violation, exit 1 when there is one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "idbsync/lake_check.h"
#include "opts.h"

static void rules_help(FILE *f);

static const cli_choice profiles[] = {{"impala4", LAKE_CHECK_IMPALA4}, {"compat", LAKE_CHECK_COMPAT}, {NULL, 0}};

/* Every flag of `idbsync lake check` (help, parsing: src/cli/opts.c). */
static const cli_opt check_opts[] = {
	{.flag = "--profile", .arg = "impala4|compat", .def = "impala4",
	 .help = "impala4: the current Impala 4.x reader; compat: also what Impala 3.x refuses (zstd/lz4, "
		 "RLE_DICTIONARY, DataPage V2, INT64 UTC timestamps), the target of --lake-profile compat",
	 .type = CLI_ENUM, CLI_FIELD(lake_check_options, profile), .choices = profiles},
	{.flag = "--max-per-file", .arg = "N", .def = "20", .help = "violations reported per file before \"... more\"",
	 .type = CLI_INT, CLI_FIELD(lake_check_options, max_per_file)},
	{0},
};

static const cli_cmd check_cmd = {
	.name = "lake check",
	.usage = "usage: idbsync lake check [--profile impala4|compat] [--max-per-file N] DIR|FILE...\n"
		 "       idbsync lake quarantine list|retry --lake DIR   (idbsync lake quarantine --help)\n"
		 "  Applies the checks Apache Impala's Parquet reader makes to every *.parquet file under\n"
		 "  DIR (names starting with '_' or '.' are skipped, as engines do) and prints\n"
		 "  FILE: COLUMN: RULE: MESSAGE per violation; exit 1 when there is one.\n",
	.opts = check_opts,
	.flags_anywhere = 1,
	.help_on_error = 1,
	.help_extra = rules_help,
};

static void rules_help(FILE *f)
{
	fprintf(f, "  rules:");
	for (const char *const *r = lake_check_rules; *r; r++)
		fprintf(f, " %s", *r);
	fprintf(f, "\n  (each is described in include/idbsync/lake_check.h and docs/engines.md)\n");
}

static void print_violation(void *ctx, const char *file, const char *column, const char *rule, const char *msg)
{
	(void)ctx;
	printf("%s: %s: %s: %s\n", file, column[0] ? column : "-", rule, msg);
}

static int check_run(void *cfg, char **paths, int n)
{
	const lake_check_options o = *(lake_check_options *)cfg;
	if (!n) {
		fprintf(stderr, "idbsync lake check: expected a lake directory or a Parquet file\n");
		cli_help(&check_cmd, stderr);
		return 2;
	}
	lake_check_stats st = {0, 0, 0};
	int rc = 0;
	for (int i = 0; i < n; i++) {
		ids_error err = IDS_ERROR_INIT;
		if (lake_check_path(paths[i], &o, print_violation, NULL, &st, &err)) {
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

static int lake_check(int argc, char **argv)
{
	lake_check_options o = LAKE_CHECK_OPTIONS_INIT;
	return cli_main(&check_cmd, &o, argc, argv, check_run);
}

int cmd_lake(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "quarantine"))
		return cmd_lake_quarantine(argc - 1, argv + 1);
	if (argc < 2 || strcmp(argv[1], "check")) {
		if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
			cli_help(&check_cmd, stdout);
			return 0;
		}
		fprintf(stderr, "idbsync lake: expected 'check' or 'quarantine'\n");
		cli_help(&check_cmd, stderr);
		return 2;
	}
	return lake_check(argc - 1, argv + 1);
}
