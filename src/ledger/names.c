/* Names to ids in the writer's transaction: databases, users and stores get a row (and an id)
 * the first time a push or an import names them. */
#include "ledger_int.h"

/* *id gets the id of name (under a, when a >= 0), from a new row when there is none. */
static int lookup_or_insert(ledger *lg, const char *sel, const char *ins, int64_t a, const char *name,
			    int64_t *id, ids_error *err)
{
	*id = -1;
	for (int pass = 0; pass < 2 && *id < 0; pass++) {
		sqlite3_stmt *q;
		if (sqlite3_prepare_v2(lg->w, pass ? ins : sel, -1, &q, NULL) != SQLITE_OK)
			return ledger_sql_err(lg, lg->w, SQLITE_ERROR, err, "prepare");
		int i = 1;
		if (a >= 0)
			sqlite3_bind_int64(q, i++, a);
		sqlite3_bind_text(q, i, name, -1, SQLITE_STATIC);
		int rc = sqlite3_step(q);
		if (!pass && rc == SQLITE_ROW)
			*id = sqlite3_column_int64(q, 0);
		else if (pass && rc == SQLITE_DONE)
			*id = sqlite3_last_insert_rowid(lg->w);
		else if (pass) {
			rc = ledger_sql_err(lg, lg->w, rc, err, "insert");
			sqlite3_finalize(q);
			return rc;
		}
		sqlite3_finalize(q);
	}
	return 0;
}

int ledger_db_id(ledger *lg, const char *name, int64_t *did, ids_error *err)
{
	return lookup_or_insert(lg, "SELECT did FROM dbs WHERE name=?1", "INSERT INTO dbs(name) VALUES(?1)", -1, name,
				did, err);
}

int ledger_user_id(ledger *lg, const char *name, int64_t *uid, ids_error *err)
{
	return lookup_or_insert(lg, "SELECT uid FROM users WHERE name=?1", "INSERT INTO users(name) VALUES(?1)", -1,
				name, uid, err);
}

int ledger_store_id(ledger *lg, int64_t did, const char *name, int64_t *sid, ids_error *err)
{
	return lookup_or_insert(lg, "SELECT sid FROM stores WHERE did=?1 AND name=?2",
				"INSERT INTO stores(did, name) VALUES(?1, ?2)", did, name, sid, err);
}
