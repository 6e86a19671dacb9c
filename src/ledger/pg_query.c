/* Analytics queries (POST /v1/db/{db}/query) with the state in PostgreSQL: the same views as on
 * SQLite (query.c: a store is a view with _key, _seq, _hlc and a typed column per top-level field,
 * holding only the caller's and shared rows) run by PostgreSQL itself. Each query has a
 * connection of its own, closed after it (whatever the query did to its session goes with it):
 * in one REPEATABLE READ transaction the views are made as temporary views, then the
 * transaction turns read-only and the query runs as the role idbsync_query, which may read the
 * views and nothing else (a temporary view reads the tables with its owner's rights), with
 * search_path pg_temp (the raw tables are "no such table"), statement_timeout and a deadline
 * this side enforces by cancelling. What differs from SQLite is in docs/scaling.md. */
#include "pg_int.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "idbsync/json.h"

#define QUERY_ROLE "idbsync_query"

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The fields of the stores of database $1 (only store $2 when not NULL) with the kinds of value
 * they hold (fields.c's bits: 1 integer, 2 real, 4 text, 8 boolean, 16 object, 32 array, 64
 * date, 128 null), from the current rows: PostgreSQL keeps no field registry, so this is one
 * pass over the database's rows. Columns in the order their fields first appear (the oldest
 * current row that has them, then their place in its value). */
static const char *const fields_sql =
	"SELECT s.sid, s.name, f.key, bit_or(CASE json_typeof(f.value)"
	"  WHEN 'number' THEN CASE WHEN f.value::text ~ '^-?[0-9]+$' THEN 1 ELSE 2 END"
	"  WHEN 'string' THEN 4 WHEN 'boolean' THEN 8 WHEN 'array' THEN 32"
	"  WHEN 'object' THEN CASE WHEN f.value->'$date' IS NOT NULL"
	"   AND (SELECT count(*) FROM json_object_keys(f.value)) = 1 THEN 64 ELSE 16 END"
	"  ELSE 128 END)::int"
	" FROM stores s JOIN dbs d ON d.did=s.did LEFT JOIN LATERAL (SELECT seq, value::json AS j FROM rows r"
	"  WHERE r.sid=s.sid AND r.deleted=0) r ON true"
	" LEFT JOIN LATERAL json_each(CASE WHEN json_typeof(r.j)='object' THEN r.j END) WITH ORDINALITY"
	"  AS f(key, value, ord) ON true"
	" WHERE d.name=$1 AND ($2::text IS NULL OR s.name=$2)"
	" GROUP BY s.sid, s.name, f.key ORDER BY s.name, min(ARRAY[r.seq, f.ord]), f.key";

static void quote_ident(ids_buf *o, const char *s) { ledger_sql_quote(o, s, '"'); }
/* a string literal (standard_conforming_strings: only ' is doubled) */
static void quote_lit(ids_buf *o, const char *s) { ledger_sql_quote(o, s, '\''); }

/* One column of a view: field f of the row's value (r.j, json) typed as query.c types it. */
static void field_col(ids_buf *v, const char *f, int kinds)
{
	ids_buf l = IDS_BUF_INIT;
	quote_lit(&l, f);
	const char *k = l.data ? l.data : "''";
	switch (ledger_col_type_of(kinds)) {
	case C_INTEGER: ids_buf_printf(v, "(r.j->>%s)::numeric", k); break;
	case C_REAL: ids_buf_printf(v, "(r.j->>%s)::double precision", k); break;
	case C_BOOLEAN: ids_buf_printf(v, "(r.j->>%s)::boolean", k); break;
	case C_DATE: ids_buf_printf(v, "r.j->%s->>'$date'", k); break;
	case C_JSON:
		ids_buf_printf(v, "CASE WHEN json_typeof(r.j->%s) IN ('object','array') THEN (r.j->%s)::text ELSE r.j->>%s END", k,
			       k, k);
		break;
	case C_NULL: ids_buf_puts(v, "NULL::text"); break;
	default: ids_buf_printf(v, "r.j->>%s", k);
	}
	ids_buf_free(&l);
	ids_buf_puts(v, " AS ");
	quote_ident(v, f);
}

/* The view of one store (fields rows [from, to) of the fields answer). */
static void view_sql(ids_buf *v, const PGresult *f, int from, int to, const char *schema, int scoped, int64_t uid)
{
	ids_buf_puts(v, "CREATE TEMP VIEW ");
	quote_ident(v, PQgetvalue(f, from, 1));
	ids_buf_puts(v, " AS SELECT r.key AS _key, r.seq AS _seq, r.hlc AS _hlc");
	for (int i = from; i < to; i++) {
		const char *name = PQgetvalue(f, i, 2);
		if (PQgetisnull(f, i, 2) || !name[0] || name[0] == '_')
			continue; /* _key/_seq/_hlc are ours */
		ids_buf_puts(v, ", ");
		field_col(v, name, (int)pg_i64(f, i, 3));
	}
	/* the table by its schema: a store called rows has a temporary view of that name */
	ids_buf_puts(v, " FROM (SELECT key, seq, hlc, value::json AS j FROM ");
	quote_ident(v, schema);
	ids_buf_printf(v, ".rows WHERE sid=%lld AND deleted=0", (long long)pg_i64(f, from, 0));
	if (scoped)
		ids_buf_printf(v, " AND uid IN (%lld, 0)", (long long)uid);
	ids_buf_puts(v, ") r; GRANT SELECT ON ");
	quote_ident(v, PQgetvalue(f, from, 1));
	ids_buf_puts(v, " TO " QUERY_ROLE ";");
}

/* The role the query runs as: created (with this user a member) the first time, when the
 * server's user may; else the error says what to run. */
static int query_role(ledger *lg, PGconn *c, ids_error *err)
{
	PGresult *r = pg_run(lg, c, "query role",
			     "SELECT pg_has_role(current_user, oid, 'USAGE') FROM pg_roles WHERE rolname='" QUERY_ROLE "'", 0,
			     NULL, NULL, NULL, err);
	if (!r)
		return IDS_EIO;
	int ok = PQntuples(r) && PQgetvalue(r, 0, 0)[0] == 't', exists = PQntuples(r) > 0;
	PQclear(r);
	if (ok)
		return 0;
	ids_error e2 = IDS_ERROR_INIT;
	if ((exists || !pg_exec(lg, c, "query role", "CREATE ROLE " QUERY_ROLE " NOLOGIN", &e2)) &&
	    !pg_exec(lg, c, "query role", "GRANT " QUERY_ROLE " TO CURRENT_USER", &e2))
		return 0;
	return ids_fail(err, IDS_EINVAL,
			"/query on PostgreSQL runs as the role " QUERY_ROLE ", which this server's user can neither "
			"create nor use (%s): run CREATE ROLE " QUERY_ROLE " NOLOGIN; GRANT " QUERY_ROLE " TO <the user "
			"of --state>",
			e2.msg);
}

/* The query's parameters as text values for PQexecParams (PostgreSQL counts the placeholders):
 * offsets into one buffer while it grows, pointers at the end. */
typedef struct ptext {
	ids_buf buf;
	size_t at[1024]; /* 1 + offset; 0: NULL */
	int n;
} ptext;

static int take_param(void *ctx, int i, ids_jtype type, const char *text, size_t n)
{
	ptext *p = ctx;
	if (i >= (int)(sizeof p->at / sizeof *p->at))
		return IDS_ELIMIT;
	p->at[i] = type == IDS_JNULL ? 0 : p->buf.len + 1;
	if (type != IDS_JNULL)
		ids_buf_append(&p->buf, text, n);
	ids_buf_putc(&p->buf, 0);
	p->n = i + 1;
	return p->buf.failed ? IDS_ENOMEM : 0;
}

static int params_text(const char *params, size_t len, ptext *p, const char **vals, ids_error *err)
{
	int rc = ledger_query_params(params, len, -1, take_param, p, err);
	if (rc == IDS_ELIMIT)
		return ids_fail(err, rc, "params: at most %zu values", sizeof p->at / sizeof *p->at);
	if (rc == IDS_ENOMEM)
		return ids_fail(err, rc, "out of memory");
	for (int i = 0; !rc && i < p->n; i++)
		vals[i] = p->at[i] ? p->buf.data + p->at[i] - 1 : NULL;
	return rc;
}

/* One answer value by its PostgreSQL type, as query.c answers SQLite's. */
static void put_value(ids_buf *o, const PGresult *r, int row, int c)
{
	if (PQgetisnull(r, row, c)) {
		ids_buf_puts(o, "null");
		return;
	}
	const char *v = PQgetvalue(r, row, c);
	size_t n = (size_t)PQgetlength(r, row, c);
	switch (PQftype(r, c)) {
	case 16: ids_buf_puts(o, v[0] == 't' ? "true" : "false"); return; /* bool */
	case 20: case 21: case 23: case 26: ids_buf_append(o, v, n); return; /* integers */
	case 700: case 701: case 1700: /* float4, float8, numeric */
		if (!strcmp(v, "NaN") || !strcmp(v, "Infinity") || !strcmp(v, "-Infinity")) {
			ids_buf_printf(o, "{\"$num\":\"%s\"}", v);
		} else if (PQftype(r, c) == 1700) {
			ids_buf_append(o, v, n);
		} else {
			char tmp[40];
			ids_fmt_double(strtod(v, NULL), tmp);
			ids_buf_puts(o, tmp);
		}
		return;
	case 17: { /* bytea: a _key as its JSON text (as SQLite's idbsync_key), other bytes as $bin */
		size_t bl = 0;
		uint8_t *b = PQunescapeBytea((const unsigned char *)v, &bl);
		ids_buf k = IDS_BUF_INIT;
		if (b && !ids_key_to_json(b, bl, &k, NULL)) {
			ids_buf_json_str(o, k.data ? k.data : "", k.len);
		} else {
			ids_buf_puts(o, "{\"$bin\":\"");
			if (b)
				ids_base64_encode(b, bl, o);
			ids_buf_puts(o, "\"}");
		}
		ids_buf_free(&k);
		PQfreemem(b);
		return;
	}
	default: ids_buf_json_str(o, v, n);
	}
}

/* The query's error: the time limit (ours or statement_timeout), a missing table as SQLite
 * words it, anything else as PostgreSQL does. */
static int query_error(const PGresult *r, PGconn *c, int64_t timeout_ms, ids_error *err)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = r && PQresultErrorMessage(r)[0] ? PQresultErrorMessage(r) : PQerrorMessage(c);
	if (state && !strcmp(state, "57014"))
		return ids_fail(err, IDS_ETIMEOUT, "query: stopped after the time limit of %lld ms", (long long)timeout_ms);
	if (PQstatus(c) != CONNECTION_OK)
		return ids_fail(err, IDS_EIO, "query: PostgreSQL: %s", msg);
	int rc = ids_fail(err, IDS_EINVAL, "query: %s%s", msg,
			  state && !strcmp(state, "42P01") ? " (no such table: only the stores of this database can be queried)" : "");
	size_t l = strlen(err->msg);
	while (l && (err->msg[l - 1] == '\n' || err->msg[l - 1] == ' '))
		err->msg[--l] = 0;
	return rc;
}

/* The answer's opening with the column names; returns their count. */
static int put_columns(ids_buf *out, const PGresult *r)
{
	int ncol = PQnfields(r);
	ids_buf_puts(out, "{\"columns\":[");
	for (int k = 0; k < ncol; k++) {
		if (k)
			ids_buf_putc(out, ',');
		ids_buf_json_str(out, PQfname(r, k), strlen(PQfname(r, k)));
	}
	ids_buf_puts(out, "],\"rows\":[");
	return ncol;
}

/* Asks the server to stop the running statement (its answer then ends with an error). */
static void cancel(PGconn *c)
{
	PGcancel *k = PQgetCancel(c);
	char buf[256];
	if (k) {
		PQcancel(k, buf, sizeof buf);
		PQfreeCancel(k);
	}
}

/* With the views made: the rest of the transaction read-only and restricted, then sql, its rows
 * streamed into out up to the limits. */
static int run_query(ledger *lg, PGconn *c, const char *sql, const char *const *pv, int np,
		     const ledger_query_limits *lim, int64_t deadline, ids_buf *out, ids_error *err)
{
	char set[160];
	int64_t left = deadline - mono_ms();
	snprintf(set, sizeof set,
		 "SET LOCAL transaction_read_only=on; SET LOCAL ROLE " QUERY_ROLE "; SET LOCAL search_path=pg_temp;"
		 " SET LOCAL statement_timeout=%lld",
		 (long long)(left > 0 ? left : 1));
	int rc = pg_exec(lg, c, "query settings", set, err);
	if (rc)
		return rc;
	if (!PQsendQueryParams(c, sql, np, NULL, pv, NULL, NULL, 0) || !PQsetSingleRowMode(c))
		return ids_fail(err, IDS_EINVAL, "query: %s", PQerrorMessage(c));
	int64_t n = 0;
	int ncol = -1, truncated = 0, cancelled = 0;
	size_t start = 0;
	PGresult *r;
	for (;;) {
		/* wait for the next row, cancelling at the deadline (set_config could lift
		 * statement_timeout; this cannot) */
		while (PQisBusy(c) && !cancelled) {
			int64_t left = deadline - mono_ms();
			struct pollfd p = {PQsocket(c), POLLIN, 0};
			if (left <= 0 || poll(&p, 1, (int)(left < 1000 ? left : 1000)) < 0) {
				if (left > 0)
					continue;
				cancel(c);
				cancelled = 1;
				break;
			}
			if (!PQconsumeInput(c))
				break;
		}
		if (!(r = PQgetResult(c)))
			break;
		ExecStatusType st = PQresultStatus(r);
		if (st == PGRES_SINGLE_TUPLE && !truncated && !rc) {
			if (ncol < 0) {
				ncol = put_columns(out, r);
				start = out->len;
			}
			if (n == lim->max_rows || out->len - start > lim->max_bytes) {
				truncated = 1; /* the rest is read and dropped: the connection closes after */
				cancel(c);
			} else {
				ids_buf_puts(out, n ? ",[" : "[");
				for (int k = 0; k < ncol; k++) {
					if (k)
						ids_buf_putc(out, ',');
					put_value(out, r, 0, k);
				}
				ids_buf_putc(out, ']');
				n++;
			}
		} else if (st == PGRES_TUPLES_OK && ncol < 0 && !rc) {
			ncol = put_columns(out, r); /* no rows: the columns from the final result */
		} else if (st == PGRES_EMPTY_QUERY && !rc) {
			rc = ids_fail(err, IDS_EINVAL, "query: empty SQL");
		} else if (st == PGRES_COMMAND_OK && !rc) {
			rc = ids_fail(err, IDS_EINVAL, "query: only SELECT statements are allowed");
		} else if (st != PGRES_SINGLE_TUPLE && st != PGRES_TUPLES_OK && !rc && !truncated) {
			rc = query_error(r, c, lim->timeout_ms, err);
			if (cancelled && rc == IDS_EINVAL)
				rc = ids_fail(err, IDS_ETIMEOUT, "query: stopped after the time limit of %lld ms",
					      (long long)lim->timeout_ms);
		}
		PQclear(r);
	}
	if (!rc && cancelled && !truncated)
		rc = ids_fail(err, IDS_ETIMEOUT, "query: stopped after the time limit of %lld ms", (long long)lim->timeout_ms);
	if (!rc && ncol < 0)
		rc = ids_fail(err, IDS_EINVAL, "query: empty SQL");
	if (!rc)
		ids_buf_printf(out, "],\"truncated\":%s}", truncated ? "true" : "false");
	if (!rc && out->failed)
		rc = ids_fail(err, out->failed, "query: response too large");
	return rc;
}

/* A connection of the query's own (closed after it). */
static PGconn *query_conn(ledger *lg, ids_error *err)
{
	PGconn *c = NULL;
	if (pg_connect(lg, &c, err))
		return NULL;
	return c;
}

int ledger_pg_query(ledger *lg, const char *dbname, const char *user, const char *sql, size_t sql_len, const char *params,
		   size_t params_len, const ledger_query_limits *lim, ids_buf *out, ids_error *err)
{
	int64_t deadline = mono_ms() + lim->timeout_ms;
	ids_buf text = IDS_BUF_INIT, views = IDS_BUF_INIT;
	ptext *pt = calloc(1, sizeof *pt);
	const char **pv = calloc(sizeof pt->at / sizeof *pt->at, sizeof *pv);
	ids_buf_append(&text, sql, sql_len);
	ids_buf_putc(&text, 0);
	int rc = text.failed || !pt || !pv ? ids_fail(err, IDS_ENOMEM, "out of memory") : 0;
	if (!rc)
		rc = params_text(params, params_len, pt, pv, err);
	int np = pt ? pt->n : 0;
	PGconn *c = rc ? NULL : query_conn(lg, err);
	if (!rc && !c)
		rc = IDS_EIO;
	if (!rc)
		rc = query_role(lg, c, err);
	char begin[128], schema[128] = "";
	snprintf(begin, sizeof begin, "BEGIN ISOLATION LEVEL REPEATABLE READ; SET LOCAL statement_timeout=%lld",
		 (long long)lim->timeout_ms);
	if (!rc)
		rc = pg_exec(lg, c, "query", begin, err);
	PGresult *f = NULL;
	if (!rc) {
		const char *v[] = {dbname, NULL};
		f = pg_run(lg, c, "query: fields", fields_sql, 2, v, NULL, NULL, err);
		rc = f ? 0 : query_error(NULL, c, lim->timeout_ms, err);
	}
	if (!rc) {
		PGresult *n = pg_run(lg, c, "query: schema", "SELECT nspname FROM pg_namespace WHERE oid=(SELECT relnamespace"
				     " FROM pg_class WHERE oid='rows'::regclass)", 0, NULL, NULL, NULL, err);
		rc = !n ? IDS_EIO : PQntuples(n) ? 0 : ids_fail(err, IDS_ECORRUPT, "PostgreSQL (--state): no table rows");
		if (!rc)
			snprintf(schema, sizeof schema, "%s", PQgetvalue(n, 0, 0));
		PQclear(n);
	}
	int scoped = user && user[0];
	int64_t uid = -1; /* an unknown user: shared rows only */
	if (!rc && scoped) {
		const char *v[] = {user};
		PGresult *u = pg_run(lg, c, "query: user", "SELECT uid FROM users WHERE name=$1", 1, v, NULL, NULL, err);
		rc = u ? 0 : IDS_EIO;
		if (u && PQntuples(u))
			uid = pg_i64(u, 0, 0);
		PQclear(u);
	}
	for (int i = 0, j; !rc && i < PQntuples(f); i = j) {
		for (j = i + 1; j < PQntuples(f) && !strcmp(PQgetvalue(f, j, 1), PQgetvalue(f, i, 1)); j++)
			;
		view_sql(&views, f, i, j, schema, scoped, uid);
	}
	PQclear(f);
	if (!rc && views.len)
		rc = views.failed ? ids_fail(err, IDS_ENOMEM, "out of memory") : pg_exec(lg, c, "query: views", views.data, err);
	if (!rc)
		rc = run_query(lg, c, text.data, pv, np, lim, deadline, out, err);
	PQfinish(c);
	if (pt)
		ids_buf_free(&pt->buf);
	free(pt);
	free(pv);
	ids_buf_free(&text), ids_buf_free(&views);
	return rc;
}

int ledger_pg_query_columns(ledger *lg, const char *dbname, const char *store_name, ids_buf *out, ids_error *err)
{
	PGconn *c = pg_reader_get(lg, err);
	if (!c)
		return IDS_EIO;
	const char *v[] = {dbname, store_name};
	PGresult *f = pg_run(lg, c, "query: columns", fields_sql, 2, v, NULL, NULL, err);
	int rc = f ? 0 : IDS_EIO;
	if (f && !PQntuples(f))
		rc = ids_fail(err, IDS_ENOTFOUND, "no store \"%s\" in database \"%s\"", store_name, dbname);
	if (!rc) {
		ledger_columns_begin(out, store_name);
		for (int i = 0; i < PQntuples(f); i++) {
			const char *name = PQgetvalue(f, i, 2);
			if (!PQgetisnull(f, i, 2) && name[0] && name[0] != '_')
				ledger_columns_add(out, name, (int)pg_i64(f, i, 3));
		}
		ids_buf_puts(out, "]}");
		if (out->failed)
			rc = ids_fail(err, out->failed, "query: response too large");
	}
	PQclear(f);
	pg_reader_put(lg, c);
	return rc;
}
