/* `idbsync backup --data DIR OUT` (online: a running server goes on serving) and
 * `idbsync restore --data DIR BACKUP` (the server stopped): store_backup / store_restore. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "idbsync/store.h"

static void usage(FILE *f, const char *cmd)
{
	if (!strcmp(cmd, "backup"))
		fprintf(f, "usage: idbsync backup --data DIR OUT.sqlite\n"
			   "  a consistent copy of the sync state in DIR (one SQLite file), taken while a server\n"
			   "  keeps serving; OUT must not exist. The lake is not part of it: the lake is written\n"
			   "  again from the state where it has to be.\n");
	else
		fprintf(f, "usage: idbsync restore --data DIR BACKUP.sqlite\n"
			   "  replaces the state in DIR by the backup (stop the server first). The restored state\n"
			   "  gets a new epoch: clients holding cursors of the old one are told (409) and resync,\n"
			   "  and the lake moves what the backup lacks to LAKE/_idbsync/orphaned/<old epoch>/.\n");
}

int cmd_backup(int argc, char **argv)
{
	const char *cmd = argv[0], *data = "./data", *file = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout, cmd);
			return 0;
		}
		if (!strcmp(a, "--data")) {
			if (i + 1 >= argc) {
				fprintf(stderr, "idbsync %s: --data needs a value\n", cmd);
				return 2;
			}
			data = argv[++i];
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "idbsync %s: unknown option %s\n", cmd, a);
			usage(stderr, cmd);
			return 2;
		} else if (file) {
			fprintf(stderr, "idbsync %s: one file, not '%s' and '%s'\n", cmd, file, a);
			return 2;
		} else {
			file = a;
		}
	}
	if (!file) {
		usage(stderr, cmd);
		return 2;
	}
	ids_error err = IDS_ERROR_INIT;
	int64_t head = 0;
	if (!strcmp(cmd, "backup")) {
		if (store_backup(data, file, &head, &err)) {
			fprintf(stderr, "idbsync backup: %s\n", err.msg);
			return 1;
		}
		printf("backed up %s to %s (up to seq %" PRId64 ")\n", data, file, head);
		return 0;
	}
	char epoch[STORE_EPOCH_LEN + 1];
	if (store_restore(file, data, epoch, &head, &err)) {
		fprintf(stderr, "idbsync restore: %s\n", err.msg);
		return 1;
	}
	printf("restored %s into %s (up to seq %" PRId64 "), new epoch %s\n", file, data, head, epoch);
	return 0;
}
