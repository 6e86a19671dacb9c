/* Tombstone collection on PostgreSQL, by the rule of gc.c: a tombstone goes once every client of
 * its database seen within the retention has pulled past it, and the database's gc_floor
 * records the highest seq removed (a pull from below it gets 410). Every server runs it on its
 * writer thread (periodically and for POST /v1/admin/gc), inside a transaction that holds the
 * head lock (pg_push.c): collections of several servers therefore run one at a time, and none
 * runs while a push group of any server is between reading a row and committing it (a group
 * that read a tombstone the collection then deleted would count and decide on a row that is
 * gone). The pull progress this server noted (ledger_note_pull) is written in the same
 * transaction: progress noted on any server counts. */
#include "pg_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The noted pull progress (db, user, client, cursor, time) of this server as five text arrays
 * (PostgreSQL array literals), and the notes freed. */
static int notes_arrays(ledger *lg, ids_buf a[5], ids_error *err)
{
	pthread_mutex_lock(&lg->mu);
	pull_note *list = lg->notes;
	lg->notes = NULL;
	pthread_mutex_unlock(&lg->mu);
	for (int k = 0; k < 5; k++)
		ids_buf_putc(&a[k], '{');
	for (int first = 1; list; first = 0) {
		pull_note *n = list;
		list = n->next;
		const char *names[3] = {n->db, n->user, n->client};
		for (int k = 0; k < 3; k++) {
			/* an array element in double quotes: \ and " escaped */
			ids_buf_puts(&a[k], first ? "\"" : ",\"");
			for (const char *p = names[k]; *p; p++) {
				if (*p == '"' || *p == '\\')
					ids_buf_putc(&a[k], '\\');
				ids_buf_putc(&a[k], *p);
			}
			ids_buf_putc(&a[k], '"');
		}
		ids_buf_printf(&a[3], "%s%lld", first ? "" : ",", (long long)n->since);
		ids_buf_printf(&a[4], "%s%lld", first ? "" : ",", (long long)n->seen);
		free(n->key);
		free(n);
	}
	int failed = 0;
	for (int k = 0; k < 5; k++) {
		ids_buf_putc(&a[k], '}');
		failed |= a[k].failed;
	}
	return failed ? ids_fail(err, IDS_ENOMEM, "out of memory") : 0;
}

/* Progress of clients the state does not know yet (a pull before any push) creates them, as on
 * SQLite; a database or user that does not exist has nothing to collect and is skipped. */
static const char *const notes_sql =
	"INSERT INTO clients(did, uid, name, pulled, seen)"
	" SELECT d.did, u.uid, x.client, x.since, x.seen FROM unnest($1::text[], $2::text[], $3::text[],"
	" $4::bigint[], $5::bigint[]) AS x(db, usr, client, since, seen)"
	" JOIN dbs d ON d.name=x.db JOIN users u ON u.name=x.usr"
	" ON CONFLICT(did, uid, name) DO UPDATE SET pulled=greatest(clients.pulled, excluded.pulled),"
	" seen=greatest(clients.seen, excluded.seen)";

/* Every database's horizon (the least cursor of its recent clients, else the head $1), its
 * tombstones at or below it deleted, gc_floor and the stores' tombstone counts moved, in one
 * statement that answers how many went. */
static const char *const gc_sql =
	"WITH hz AS (SELECT d.did, coalesce((SELECT min(c.pulled) FROM clients c WHERE c.did=d.did AND c.seen>=$2),"
	" $1::bigint) AS h FROM dbs d),"
	" del AS (DELETE FROM rows r USING hz WHERE r.did=hz.did AND r.deleted=1 AND r.seq<=hz.h"
	" RETURNING r.did, r.sid, r.seq),"
	" fl AS (UPDATE dbs SET gc_floor=greatest(dbs.gc_floor, x.top) FROM (SELECT did, max(seq) AS top FROM del"
	" GROUP BY did) x WHERE dbs.did=x.did),"
	" cnt AS (UPDATE stores SET tomb=stores.tomb-x.n FROM (SELECT sid, count(*) AS n FROM del GROUP BY sid) x"
	" WHERE stores.sid=x.sid)"
	" SELECT count(*) FROM del";

int ledger_pg_gc(ledger *lg, ids_error *err)
{
	struct ledger_pg *pg = lg->pg;
	ids_buf a[5];
	for (int k = 0; k < 5; k++)
		ids_buf_init(&a[k], (size_t)1 << 30);
	int64_t head = 0, collected = 0, now = hlc_wall_ms();
	int rc = notes_arrays(lg, a, err), open = 0;
	if (!rc)
		rc = pg_connect(lg, &pg->w, err);
	if (!rc && !(rc = pg_exec(lg, pg->w, "gc", "BEGIN", err)))
		open = 1;
	PGresult *r = NULL;
	if (!rc) {
		r = pg_run(lg, pg->w, "gc: head lock", "UPDATE meta SET v=v WHERE k='head' RETURNING v::bigint", 0, NULL, NULL,
			   NULL, err);
		head = r && PQntuples(r) ? pg_i64(r, 0, 0) : 0;
		rc = r ? 0 : IDS_EIO;
		PQclear(r);
	}
	if (!rc && a[0].len > 2) {
		const char *v[] = {a[0].data, a[1].data, a[2].data, a[3].data, a[4].data};
		PQclear(r = pg_run(lg, pg->w, "gc: pull progress", notes_sql, 5, v, NULL, NULL, err));
		rc = r ? 0 : IDS_EIO;
	}
	if (!rc) {
		char h[24], since[24];
		snprintf(h, sizeof h, "%lld", (long long)head);
		snprintf(since, sizeof since, "%lld", (long long)(now - lg->o.tombstone_retention_ms));
		const char *v[] = {h, since};
		r = pg_run(lg, pg->w, "gc: collect tombstones", gc_sql, 2, v, NULL, NULL, err);
		collected = r && PQntuples(r) ? pg_i64(r, 0, 0) : 0;
		rc = r ? 0 : IDS_EIO;
		PQclear(r);
	}
	if (!rc && lg->o.no_lake) {
		/* without a lake the change log only serves three-way merges: keep base_retention of it */
		rc = pg_prune_changes(lg, pg->w, INT64_MAX, now - lg->o.base_retention_ms, err);
	}
	/* the other servers' shared pages may hold what this removed: their listeners move
	 * their read generation on this (delivered at the commit) */
	if (!rc && collected)
		rc = pg_exec(lg, pg->w, "gc: notify", "NOTIFY idbsync_head", err);
	if (!rc) {
		rc = pg_exec(lg, pg->w, "gc: commit", "COMMIT", err);
		open = 0;
	}
	if (rc && open && PQstatus(pg->w) == CONNECTION_OK)
		pg_exec(lg, pg->w, "rollback", "ROLLBACK", NULL);
	if (!rc) {
		atomic_fetch_add(&lg->stats.tombstones_collected, collected);
		/* every run, not only one that collected: another server's collection may have
		 * committed just before, and its NOTIFY can reach the listener after this returns */
		atomic_fetch_add(&lg->read_gen, 1);
	}
	for (int k = 0; k < 5; k++)
		ids_buf_free(&a[k]);
	return rc;
}
