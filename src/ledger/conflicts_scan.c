/* Read-side scan of the conflicts log for the lake writer (DIR/D/S_conflicts/): the losing
 * mutations in id order with their winners, on a read snapshot like the other scans. */
#include "ledger_int.h"

#include <string.h>

int ledger_conflicts_scan(ledger *lg, int64_t after, size_t max,
			 int (*fn)(void *ctx, const ledger_conflict *c), void *ctx, int64_t *last,
			 ids_error *err)
{
	if (lg->pg)
		return ledger_pg_conflicts_scan(lg, after, max, fn, ctx, last, err);
	return ledger_sqlite_scan_log(lg, "scan conflicts", LEDGER_CONFLICTS_IDS_SQL, after, max, NULL, fn, ctx,
				     last, err);
}

int64_t ledger_conflicts_head(ledger *lg)
{
	if (lg->pg)
		return ledger_pg_conflicts_head(lg);
	sqlite3 *db = ledger_reader_get(lg);
	sqlite3_stmt *q = NULL;
	int64_t head = 0;
	if (sqlite3_prepare_v2(db, "SELECT coalesce(max(id), 0) FROM conflicts", -1, &q, NULL) == SQLITE_OK &&
	    sqlite3_step(q) == SQLITE_ROW)
		head = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	ledger_reader_put(lg, db);
	return head;
}
