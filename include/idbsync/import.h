/* Lake → browser: Parquet rows become server-side changes (origin "server") of one object
 * store, which reach clients on their next pull. Used by `idbsync import`, by the server's
 * upload route (POST /v1/admin/db/{db}/import) and by the inbox watcher.
 *
 * Each row is a JSON object (the reader's conventions: {"$date":..} for dates and timestamps,
 * nested objects, arrays). The key is the value of --key (default "id"); an optional "_op"
 * column ("put" | "delete") carries deletes; with user_column each row belongs to that user.
 * Mutation ids are (file, row) positions under a client id, so importing the same input again
 * under the same client id is absorbed by the server's idempotency: the inbox relies on that
 * for exactly-once imports across crashes. */
#ifndef IDBSYNC_IMPORT_H
#define IDBSYNC_IMPORT_H

#include <stdint.h>

#include "idbsync/error.h"
#include "idbsync/ledger.h"

typedef enum imp_mode { IMP_UPSERT = 0, IMP_REPLACE = 1 } imp_mode;

typedef struct imp_options {
	const char *db;
	const char *store;
	const char *key_field;      /* default "id" */
	imp_mode mode;              /* replace: live rows absent from the files become deletes */
	const char *user_column;    /* NULL: rows are shared (owned by no user) */
	const char *client;         /* client id for the mutations; NULL: "import-<random>" */
	size_t batch_rows;          /* mutations per group commit; default 5000 */
	/* progress callback: rows done so far, rows in all files (may be called often) */
	void (*progress)(void *ctx, int64_t done, int64_t total);
	void *progress_ctx;
	/* what messages call files[i] (the user's own file names when the files are a server's
	 * copies of an upload); NULL: the paths themselves */
	const char *const *names;
	/* read and convert everything, count, push nothing (st may then be NULL; replace mode
	 * then does not compute what it would delete) */
	int dry_run;
} imp_options;

#define IMP_OPTIONS_INIT {.key_field = "id", .mode = IMP_UPSERT, .batch_rows = 5000}

typedef struct imp_summary {
	int64_t files, rows, puts, deletes;
	int64_t replaced;           /* replace mode: rows deleted because absent from the files */
	int64_t duplicates;         /* mutations already applied earlier under the same client */
	int64_t conflicts;          /* mutations that lost to the store's conflict rule */
	int64_t keys;               /* distinct (user, key) pairs in the input */
	/* rows whose key an earlier row of the same import already had: the last row wins */
	int64_t duplicate_keys;
	char first_duplicate[200];  /* e.g. `key 7: a.parquet row 9` ("" when none) */
} imp_summary;

/* Imports files into the ledger (durably, through ledger_push). Fails without applying
 * anything of a batch whose row is malformed: the error names the file, row and field.
 * Values follow docs/types.md: DECIMAL(p<=15) and DECIMAL(p,0) become numbers (integers
 * beyond 2^53 {"$bigint":..}), wider decimals exact strings, INTERVAL an ISO-8601 duration.
 * Rows already committed in earlier batches stay (re-run to finish; ids make it idempotent). */
int imp_files(ledger *lg, const imp_options *o, const char *const *files, size_t n, imp_summary *sum,
	      ids_error *err);

/* The inbox: files engines write under LAKE/<db>/_inbox/<store>/ are imported once complete
 * (a _SUCCESS marker in that directory when present, otherwise a size and mtime unchanged
 * for settle_ms), then moved to _done/; a file that cannot be imported goes alone to
 * _rejected/ with <file>.error.txt (its own error) next to it, the others of its job are
 * imported. */
typedef struct imp_inbox imp_inbox;

typedef struct imp_inbox_options {
	const char *lake_dir;
	int64_t scan_interval_ms;   /* default 2000 */
	int64_t settle_ms;          /* default 3000 */
	const char *key_field;      /* default "id" */
} imp_inbox_options;

#define IMP_INBOX_OPTIONS_INIT {.lake_dir = "./lake", .scan_interval_ms = 2000, .settle_ms = 3000, .key_field = "id"}

/* Bytes the inbox needs beneath lake_dir for the names it builds (imp_inbox_start refuses a
 * longer lake_dir with IDS_ELIMIT). */
#define IMP_INBOX_PATH_ROOM 700
int imp_inbox_start(imp_inbox **out, ledger *lg, const imp_inbox_options *o, ids_error *err);
/* Runs one scan now (tests, and the thread's loop). Returns files imported or rejected. */
int imp_inbox_scan(imp_inbox *ib, ids_error *err);
void imp_inbox_free(imp_inbox *ib);

#endif
