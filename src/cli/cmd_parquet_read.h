/* `idbsync parquet cat|schema|meta`: the reader's command-line face. */
#ifndef IDBSYNC_CMD_PARQUET_READ_H
#define IDBSYNC_CMD_PARQUET_READ_H

/* argv[0] is the subcommand ("schema" or "meta"). Returns the process exit code:
 * 0 ok, 1 on a file error (message on stderr naming the file), 2 on a usage error. */
int pq_cli_read(int argc, char **argv);
/* `cat` and `head` (cmd_parquet_cat.c): argv[0] is the subcommand. */
int pq_cli_cat(int argc, char **argv);

#endif
