/* `idbsync parquet write`: NDJSON -> Parquet. */
#ifndef IDBSYNC_CMD_PARQUET_WRITE_H
#define IDBSYNC_CMD_PARQUET_WRITE_H

/* argv[0] is "write". Returns the process exit code: 0 ok, 1 failure, 2 usage error. */
int pq_cli_write(int argc, char **argv);

#endif
