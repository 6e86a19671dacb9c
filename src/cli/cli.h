/* Subcommand entry points of the idbsync binary; each returns the process exit code
 * (0 ok, 1 failure, 2 usage). */
#ifndef IDS_CLI_H
#define IDS_CLI_H

/* Bytes kept free under a --data directory for the names the state builds beneath it
 * (idbsync.sqlite-wal, LOCK, tmp/import-...): every command that takes --data refuses a longer
 * one with an error naming the flag (ids_path_room), rather than the state acting on a cut name. */
#define CLI_DATA_PATH_ROOM 600

int cmd_serve(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_ddl(int argc, char **argv);
int cmd_lake(int argc, char **argv);   /* argv[0] is "lake": check (cmd_lake.c), quarantine */
int cmd_lake_quarantine(int argc, char **argv);   /* argv[0] is "quarantine" */
int cmd_backup(int argc, char **argv);   /* argv[0] is "backup" or "restore" */

#endif
