/* Private to the PostgreSQL backend's files (pg.c, pg_push.c, pg_read.c): its connections and
 * the few helpers every statement goes through. */
#ifndef LEDGER_PG_INT_H
#define LEDGER_PG_INT_H

#include <libpq-fe.h>

#include "ledger_int.h"

#define PG_READERS 4

struct ledger_pg {
	char *uri;
	PGconn *w;                    /* the writer thread's (group commit) */
	PGconn *readers[PG_READERS];  /* pulls and scans; guarded by ledger rmu/rfree */
	int reader_busy[PG_READERS];
	PGconn *listen;               /* the listener thread's: LISTEN idbsync_head */
	pthread_t listener;
	int listener_started;
	pthread_mutex_t lease_mu;     /* guards lease (ledger_pg_lease is called from several threads) */
	PGconn *lease;                /* holds the session advisory locks of the leases */
	/* the generation of each lease this process took last (meta 'lease:NAME', counted up by
	 * every taker): a commit is fenced by it (ledger_lease_fence_begin); -1: not known */
	struct { char name[16]; int64_t gen; } gens[4];
	int n_gens;
	int64_t commit_delay_ms;      /* tests: IDBSYNC_TEST_COMMIT_DELAY_MS, a pause while holding the head lock */
};

/* Connects *c if it is not (or no longer) connected. */
int pg_connect(ledger *lg, PGconn **c, ids_error *err);
/* Runs sql with n text parameters (NULL: SQL NULL; lens[i] > 0 with binary[i]: bytea). Returns
 * the result when its status is OK (command or rows), else NULL with err filled (what names the
 * step). The caller PQclear()s the result. */
PGresult *pg_run(ledger *lg, PGconn *c, const char *what, const char *sql, int n, const char *const *vals,
		 const int *lens, const int *binary, ids_error *err);
/* pg_run for statements without parameters whose result is not needed. */
int pg_exec(ledger *lg, PGconn *c, const char *what, const char *sql, ids_error *err);
int64_t pg_i64(const PGresult *r, int row, int col);
/* A read connection (waits for a free one) and its return. NULL with err set when the database
 * cannot be reached. */
PGconn *pg_reader_get(ledger *lg, ids_error *err);
void pg_reader_put(ledger *lg, PGconn *c);
/* Deletes the changes up to seq upto older than cutoff (ms): the old prefix of the log. */
int pg_prune_changes(ledger *lg, PGconn *c, int64_t upto, int64_t cutoff, ids_error *err);
/* The bytea column as bytes (PQunescapeBytea; the caller PQfreemem()s it). */
uint8_t *pg_bytes(const PGresult *r, int row, int col, size_t *len);

/* A result as a row source (ledger_rowsrc): its columns counted from col0; it ends at the last
 * row or at a row whose column col0 is NULL (an outer join's empty side). row: the current row
 * (-1 before the first next(); may be set to read a given row). pg_rows_free after use. */
typedef struct pg_rows {
	ledger_rowsrc src;
	const PGresult *r;
	int row, col0;
	uint8_t *blob;
} pg_rows;
void pg_rows_init(pg_rows *r, const PGresult *q, int col0);
void pg_rows_free(pg_rows *r);

#endif
