/* Tombstone garbage collection. Rule: a tombstone (a deleted row) is removed once every
 * client of its database seen within the retention window has pulled past its seq. The
 * database's gc_floor then records the highest removed seq; a pull from a cursor below it
 * gets 410 (cursor_expired) because deletions it needs are gone, and the client resyncs.
 * PostgreSQL: the same rule in pg_gc.c. */
#include "ledger_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Writes pull progress noted in memory by ledger_pull into the clients table. Pull is a read
 * path, so progress is batched here on the writer thread instead of writing per pull. */
void ledger_flush_notes(ledger *lg)
{
	if (lg->pg)
		return; /* PostgreSQL: written by ledger_pg_gc, in its transaction */
	pthread_mutex_lock(&lg->mu);
	pull_note *list = lg->notes;
	lg->notes = NULL;
	memset(lg->note_index, 0, sizeof lg->note_index);
	pthread_mutex_unlock(&lg->mu);
	if (!list)
		return;
	ledger_exec(lg->w, "BEGIN IMMEDIATE", NULL);
	sqlite3_stmt *up;
	sqlite3_prepare_v2(lg->w,
			   "INSERT INTO clients(did, uid, name, pulled, seen) VALUES(?1,?2,?3,?4,?5)"
			   " ON CONFLICT(did, uid, name) DO UPDATE SET pulled=max(pulled, excluded.pulled),"
			   " seen=max(seen, excluded.seen)",
			   -1, &up, NULL);
	while (list) {
		pull_note *n = list;
		list = n->next;
		int64_t did, uid;
		if (!ledger_db_id(lg, n->db, &did, NULL) && !ledger_user_id(lg, n->user, &uid, NULL)) {
			sqlite3_bind_int64(up, 1, did);
			sqlite3_bind_int64(up, 2, uid);
			sqlite3_bind_text(up, 3, n->client, -1, SQLITE_STATIC);
			sqlite3_bind_int64(up, 4, n->since);
			sqlite3_bind_int64(up, 5, n->seen);
			sqlite3_step(up);
			sqlite3_reset(up);
		}
		free(n->key);
		free(n);
	}
	sqlite3_finalize(up);
	ledger_exec(lg->w, "COMMIT", NULL);
}

int ledger_gc_run(ledger *lg, ids_error *err)
{
	if (lg->pg)
		return ledger_pg_gc(lg, err);
	int64_t now = hlc_wall_ms();
	int rc = ledger_exec(lg->w, "BEGIN IMMEDIATE", err);
	if (rc)
		return rc;
	sqlite3_stmt *dbs, *hz, *mx, *del, *fl, *cnt;
	sqlite3_prepare_v2(lg->w, "SELECT did FROM dbs", -1, &dbs, NULL);
	sqlite3_prepare_v2(lg->w, "SELECT min(pulled) FROM clients WHERE did=?1 AND seen>=?2", -1, &hz, NULL);
	sqlite3_prepare_v2(lg->w, "SELECT max(seq), count(*) FROM rows WHERE did=?1 AND deleted=1 AND seq<=?2", -1,
			   &mx, NULL);
	sqlite3_prepare_v2(lg->w, "DELETE FROM rows WHERE did=?1 AND deleted=1 AND seq<=?2", -1, &del, NULL);
	sqlite3_prepare_v2(lg->w, "UPDATE dbs SET gc_floor=max(gc_floor, ?2) WHERE did=?1", -1, &fl, NULL);
	sqlite3_prepare_v2(lg->w,
			   "UPDATE stores SET tomb=(SELECT count(*) FROM rows r WHERE r.did=stores.did AND r.sid=stores.sid"
			   " AND r.deleted=1)"
			   " WHERE did=?1",
			   -1, &cnt, NULL);
	int64_t head = lg->next_seq - 1;
	while (sqlite3_step(dbs) == SQLITE_ROW) {
		int64_t did = sqlite3_column_int64(dbs, 0);
		sqlite3_bind_int64(hz, 1, did);
		sqlite3_bind_int64(hz, 2, now - lg->o.tombstone_retention_ms);
		int64_t horizon = head;
		if (sqlite3_step(hz) == SQLITE_ROW && sqlite3_column_type(hz, 0) != SQLITE_NULL)
			horizon = sqlite3_column_int64(hz, 0);
		sqlite3_reset(hz);
		sqlite3_bind_int64(mx, 1, did);
		sqlite3_bind_int64(mx, 2, horizon);
		int64_t top = 0, n = 0;
		if (sqlite3_step(mx) == SQLITE_ROW) {
			top = sqlite3_column_int64(mx, 0);
			n = sqlite3_column_int64(mx, 1);
		}
		sqlite3_reset(mx);
		if (!n)
			continue;
		sqlite3_bind_int64(del, 1, did);
		sqlite3_bind_int64(del, 2, horizon);
		sqlite3_step(del);
		sqlite3_reset(del);
		sqlite3_bind_int64(fl, 1, did);
		sqlite3_bind_int64(fl, 2, top);
		sqlite3_step(fl);
		sqlite3_reset(fl);
		sqlite3_bind_int64(cnt, 1, did);
		sqlite3_step(cnt);
		sqlite3_reset(cnt);
		atomic_fetch_add(&lg->stats.tombstones_collected, n);
		atomic_fetch_add(&lg->read_gen, 1);
	}
	if (lg->o.no_lake) {
		/* without a lake the change log only serves three-way merges: keep base_retention of it */
		rc = ledger_prune_old_changes(lg, lg->w, INT64_MAX, now - lg->o.base_retention_ms, err);
	}
	sqlite3_finalize(dbs);
	sqlite3_finalize(hz);
	sqlite3_finalize(mx);
	sqlite3_finalize(del);
	sqlite3_finalize(fl);
	sqlite3_finalize(cnt);
	if (!rc)
		rc = ledger_exec(lg->w, "COMMIT", err);
	if (rc)
		ledger_exec(lg->w, "ROLLBACK", NULL);
	return rc;
}

int ledger_gc_now(ledger *lg, ids_error *err)
{
	return ledger_push(lg, NULL, NULL, err);
}
