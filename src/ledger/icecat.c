/* The Iceberg catalog kept in the state (--lake-format iceberg --iceberg-warehouse s3://...
 * without --iceberg-rest): one row per table naming its current metadata file. Object storage
 * has no rename and no create-if-absent, so this row is the commit point: a compare-and-set in
 * one statement (UPDATE ... WHERE location = the one the commit was built on), durable like
 * every other write of the state. A connection of its own per call (a few calls per flush and
 * per catalog request), so it needs no lock and runs on any thread; the table is created on
 * first use. docs/iceberg.md, "S3 without an external catalog". */
#include "pg_int.h"
#include "ledger_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ICECAT_SQLITE                                                                                             \
	"CREATE TABLE IF NOT EXISTS iceberg_tables(ns TEXT NOT NULL, name TEXT NOT NULL, location TEXT NOT NULL," \
	" PRIMARY KEY(ns, name));"
#define ICECAT_PG                                                                                                 \
	"CREATE TABLE IF NOT EXISTS iceberg_tables(ns text NOT NULL, name text NOT NULL, location text NOT NULL," \
	" PRIMARY KEY(ns, name));"

/* The SQL of each call, SQLite's ?N and PostgreSQL's $N. */
enum { Q_GET, Q_UPDATE, Q_INSERT, Q_NAMESPACES, Q_TABLES, Q_N };
static const char *const lite_sql[Q_N] = {
	"SELECT location FROM iceberg_tables WHERE ns = ?1 AND name = ?2",
	"UPDATE iceberg_tables SET location = ?4 WHERE ns = ?1 AND name = ?2 AND location = ?3",
	"INSERT OR IGNORE INTO iceberg_tables(ns, name, location) VALUES(?1, ?2, ?3)",
	"SELECT DISTINCT ns FROM iceberg_tables ORDER BY ns",
	"SELECT name FROM iceberg_tables WHERE ns = ?1 ORDER BY name",
};
static const char *const pg_sql[Q_N] = {
	"SELECT location FROM iceberg_tables WHERE ns = $1 AND name = $2",
	"UPDATE iceberg_tables SET location = $4 WHERE ns = $1 AND name = $2 AND location = $3",
	"INSERT INTO iceberg_tables(ns, name, location) VALUES($1, $2, $3) ON CONFLICT DO NOTHING",
	"SELECT DISTINCT ns FROM iceberg_tables ORDER BY ns",
	"SELECT name FROM iceberg_tables WHERE ns = $1 ORDER BY name",
};

/* Runs query q with parameters p[0..4) (the first NULL ends them); each row's first column is appended to
 * out followed by '\n'; *changed: rows a write changed. */
static int run_lite(ledger *lg, int q, const char *const p[4], ids_buf *out, int *changed, ids_error *err)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc = ledger_conn_open(lg, &db, 0, err);   /* waits out the writer thread's short transactions */
	if (!rc)
		rc = ledger_exec(db, lg->o.durable ? "PRAGMA synchronous=FULL;" ICECAT_SQLITE : "PRAGMA synchronous=OFF;" ICECAT_SQLITE,
				err);
	if (!rc && sqlite3_prepare_v2(db, lite_sql[q], -1, &st, NULL) != SQLITE_OK)
		rc = ledger_sql_err(lg, db, SQLITE_ERROR, err, "iceberg catalog");
	for (int i = 0; !rc && i < 4 && p[i]; i++)
		sqlite3_bind_text(st, i + 1, p[i], -1, SQLITE_TRANSIENT);
	int r = SQLITE_DONE;
	while (!rc && (r = sqlite3_step(st)) == SQLITE_ROW)
		if (out && (ids_buf_append(out, sqlite3_column_text(st, 0), (size_t)sqlite3_column_bytes(st, 0)) ||
			    ids_buf_append(out, "\n", 1)))
			rc = ids_fail(err, IDS_ELIMIT, "iceberg catalog: answer too large");
	if (!rc && r != SQLITE_DONE)
		rc = ledger_sql_err(lg, db, r, err, "iceberg catalog");
	if (!rc && changed)
		*changed = sqlite3_changes(db);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc;
}

static int run_pg(ledger *lg, int q, const char *const p[4], ids_buf *out, int *changed, ids_error *err)
{
	PGconn *c = NULL;
	int rc = pg_connect(lg, &c, err);
	if (!rc)
		rc = pg_exec(lg, c, "iceberg catalog table", ICECAT_PG, err);
	int n = 0;
	while (n < 4 && p[n])
		n++;
	PGresult *r = rc ? NULL : pg_run(lg, c, "iceberg catalog", pg_sql[q], n, p, NULL, NULL, err);
	if (!r && !rc)
		rc = err->code;
	for (int i = 0; r && i < PQntuples(r) && !rc; i++)
		if (out && (ids_buf_append(out, PQgetvalue(r, i, 0), (size_t)PQgetlength(r, i, 0)) || ids_buf_append(out, "\n", 1)))
			rc = ids_fail(err, IDS_ELIMIT, "iceberg catalog: answer too large");
	if (r && changed)
		*changed = atoi(PQcmdTuples(r));
	PQclear(r);
	PQfinish(c);
	return rc;
}

static int run(ledger *lg, int q, const char *const p[4], ids_buf *out, int *changed, ids_error *err)
{
	return lg->pg ? run_pg(lg, q, p, out, changed, err) : run_lite(lg, q, p, out, changed, err);
}

int ledger_ice_get(ledger *lg, const char *ns, const char *name, ids_buf *loc, ids_error *err)
{
	const char *p[4] = {ns, name, NULL, NULL};
	size_t before = loc->len;
	int rc = run(lg, Q_GET, p, loc, NULL, err);
	if (!rc && loc->len == before)
		return ids_fail(err, IDS_ENOTFOUND, "no iceberg table %s.%s in the catalog", ns, name);
	if (!rc)
		loc->data[--loc->len] = 0;   /* the row's '\n' */
	return rc;
}

int ledger_ice_swap(ledger *lg, const char *ns, const char *name, const char *expect, const char *loc, ids_error *err)
{
	const char *upd[4] = {ns, name, expect, loc}, *ins[4] = {ns, name, loc, NULL};
	int changed = 0;
	int rc = run(lg, expect ? Q_UPDATE : Q_INSERT, expect ? upd : ins, NULL, &changed, err);
	if (!rc && changed != 1)
		rc = ids_fail(err, IDS_ECONFLICT, "iceberg table %s.%s: its catalog entry is not %s any more", ns, name,
			      expect ? expect : "absent");
	return rc;
}

int ledger_ice_list(ledger *lg, const char *ns, ids_buf *out, ids_error *err)
{
	const char *p[4] = {ns, NULL, NULL, NULL};
	return run(lg, ns ? Q_TABLES : Q_NAMESPACES, p, out, NULL, err);
}
