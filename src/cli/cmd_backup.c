/* `idbsync backup --data DIR OUT` (online: a running server goes on serving) and
 * `idbsync restore --data DIR BACKUP` (the server stopped): ledger_backup / ledger_restore, or
 * with --state postgres://... ledger_pg_backup / ledger_pg_restore. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "idbsync/path.h"
#include "idbsync/ledger.h"
#include "opts.h"

typedef struct backup_cfg {
	const char *data;
	const char *state;           /* postgres://...: the state in PostgreSQL (--data unused) */
	const struct cli_cmd *cmd;   /* backup or restore */
} backup_cfg;

static int parse_state(void *cfg, const char *v, ids_error *err)
{
	if (!ledger_state_is_postgres(v))
		return ids_fail(err, IDS_EINVAL, "expected a postgres://... or postgresql://... URI, got \"%s\"", v);
	((backup_cfg *)cfg)->state = v;
	return 0;
}

static const cli_opt backup_opts[] = {
	{.flag = "--data", .arg = "DIR", .def = "./data", .help = "the state directory", .type = CLI_STR,
	 CLI_FIELD(backup_cfg, data)},
	{.flag = "--state", .arg = "URL", .help = "the state in PostgreSQL (postgres://...) instead of --data",
	 .type = CLI_CUSTOM, .parse = parse_state},
	{0},
};

static const cli_cmd backup_cmd = {
	.name = "backup",
	.usage = "usage: idbsync backup --data DIR OUT.sqlite\n"
		 "       idbsync backup --state postgres://... OUT.dump\n"
		 "  a consistent copy of the sync state in DIR (one SQLite file), taken while a server\n"
		 "  keeps serving; OUT must not exist. The lake is not part of it: the lake is written\n"
		 "  again from the state where it has to be. With --state, the PostgreSQL database is\n"
		 "  dumped by pg_dump (custom format; Debian: postgresql-client) while servers keep serving.\n",
	.opts = backup_opts,
	.flags_anywhere = 1,
};

static const cli_cmd restore_cmd = {
	.name = "restore",
	.usage = "usage: idbsync restore --data DIR BACKUP.sqlite\n"
		 "       idbsync restore --state postgres://... BACKUP.dump\n"
		 "  replaces the state in DIR (or the PostgreSQL database, by pg_restore) by the backup\n"
		 "  (stop the server, or every server on the database, first). The restored state\n"
		 "  gets a new epoch: clients holding cursors of the old one are told (409) and resync,\n"
		 "  and the lake moves what the backup lacks to LAKE/_idbsync/orphaned/<old epoch>/.\n",
	.opts = backup_opts,
	.flags_anywhere = 1,
};

static int backup_run(void *cfg, char **args, int nargs)
{
	const cli_cmd *c = ((backup_cfg *)cfg)->cmd;
	if (nargs != 1) {
		if (nargs > 1)
			fprintf(stderr, "idbsync %s: one file, not '%s' and '%s'\n", c->name, args[0], args[1]);
		else
			cli_help(c, stderr);
		return 2;
	}
	const char *data = ((backup_cfg *)cfg)->data, *file = args[0];
	ids_error err = IDS_ERROR_INIT;
	if (ids_path_room(data, CLI_DATA_PATH_ROOM, "--data", &err)) {
		fprintf(stderr, "idbsync %s: %s\n", c->name, err.msg);
		return 2;
	}
	int64_t head = 0;
	const char *state = ((backup_cfg *)cfg)->state, *from = state ? state : data;
	if (c == &backup_cmd) {
		if (state ? ledger_pg_backup(state, file, &head, &err) : ledger_backup(data, file, &head, &err)) {
			fprintf(stderr, "idbsync backup: %s\n", err.msg);
			return 1;
		}
		printf("backed up %s to %s (up to seq %" PRId64 ")\n", from, file, head);
		return 0;
	}
	char epoch[LEDGER_EPOCH_LEN + 1];
	if (state ? ledger_pg_restore(file, state, epoch, &head, &err) : ledger_restore(file, data, epoch, &head, &err)) {
		fprintf(stderr, "idbsync restore: %s\n", err.msg);
		return 1;
	}
	printf("restored %s into %s (up to seq %" PRId64 "), new epoch %s\n", file, from, head, epoch);
	return 0;
}

int cmd_backup(int argc, char **argv)
{
	backup_cfg cfg = {.data = "./data", .cmd = strcmp(argv[0], "backup") ? &restore_cmd : &backup_cmd};
	return cli_main(cfg.cmd, &cfg, argc, argv, backup_run);
}
