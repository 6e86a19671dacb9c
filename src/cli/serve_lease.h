/* The lake writer and the inbox of `idbsync serve`, run by one server at a time when several
 * share a PostgreSQL state (docs/scaling.md): each is opened while this server holds its lease
 * (ledger_lease "lake" / "inbox") and closed when the lease is lost; another server takes over
 * within a lease period. With the SQLite state the process always holds both, and they open at
 * start as they always did. */
#ifndef IDS_SERVE_LEASE_H
#define IDS_SERVE_LEASE_H

#include "idbsync/import.h"
#include "idbsync/lake.h"
#include "idbsync/server.h"
#include "idbsync/ledger.h"

/* How often a server checks its leases (and a free one is taken): the failover time. */
#define SERVE_LEASE_PERIOD_MS 1000

typedef struct serve_lease serve_lease;

/* Starts the lease thread. shared: the state is PostgreSQL (other servers may hold the leases).
 * lo/io NULL: no lake / no inbox; they must outlive the thread. When this server holds a lease
 * (always, with SQLite) the lake or inbox opens before this returns; an error opening it is
 * returned unless shared, where it is logged and retried each period, as later takeovers are. *hooks
 * gets the server's lake hooks (flush, metrics, stats, health), which answer 503 on a server
 * that does not hold the lake lease. */
int serve_lease_start(serve_lease **out, ledger *lg, int shared, const lake_options *lo,
		      const imp_inbox_options *io, server_hooks *hooks, ids_error *err);
/* Wakes everything waiting on the lake (lake_stop): call before stopping the HTTP server. */
void serve_lease_stop(serve_lease *ls);
/* Stops the thread, closes the lake and the inbox, frees. NULL is a no-op. */
void serve_lease_free(serve_lease *ls);

#endif
