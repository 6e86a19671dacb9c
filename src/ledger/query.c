/* Analytics queries over the synced current state (the embedded engine behind
 * POST /v1/db/{db}/query): a private read-only SQLite connection per query, temp views that
 * expose each store as a typed table, an authorizer that allows only reads through those
 * views, and a progress handler that enforces the time limit. */
#include "ledger_int.h"
#include "idbsync/path.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* _key column: stored key blobs back to their JSON text. */
static void key_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	ids_buf b = IDS_BUF_INIT;
	if (!ids_key_to_json(sqlite3_value_blob(argv[0]), (size_t)sqlite3_value_bytes(argv[0]), &b, NULL))
		sqlite3_result_text(ctx, b.data ? b.data : "", (int)b.len, SQLITE_TRANSIENT);
	else
		sqlite3_result_null(ctx);
	ids_buf_free(&b);
}

/* Body of the views that shadow internal tables: querying one is an error, not an empty set. */
static void no_table_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	char msg[300];
	snprintf(msg, sizeof msg, "no such table: %s (only the stores of this database can be queried)",
		 (const char *)sqlite3_value_text(argv[0]));
	sqlite3_result_error(ctx, msg, -1);
}

typedef struct qctx {
	int building;        /* views are being created: allow it */
	int64_t deadline;
	char schema[40];     /* the data file's random schema name */
	ids_buf bools;       /* "store\0field\0" of each field whose values are all booleans */
	ids_buf others;      /* "store\0field\0" of every other field */
} qctx;

/* The kinds of value a field has had (fields.c) as the column type the views give it. */
enum { K_INT = 1, K_REAL = 2, K_TEXT = 4, K_BOOL = 8, K_OBJECT = 16, K_ARRAY = 32, K_DATE = 64, K_NULL = 128 };
static const char *const col_type_names[] = {"text", "integer", "real", "boolean", "date", "json", "null"};

void ledger_columns_begin(ids_buf *out, const char *store_name)
{
	ids_buf_puts(out, "{\"store\":");
	ids_buf_json_str(out, store_name, strlen(store_name));
	ids_buf_puts(out, ",\"columns\":[{\"name\":\"_key\",\"type\":\"json\"},{\"name\":\"_seq\",\"type\":\"integer\"},"
			  "{\"name\":\"_hlc\",\"type\":\"text\"}");
}

void ledger_columns_add(ids_buf *out, const char *field, int kinds)
{
	ids_buf_puts(out, ",{\"name\":");
	ids_buf_json_str(out, field, strlen(field));
	ids_buf_printf(out, ",\"type\":\"%s\"}", col_type_names[ledger_col_type_of(kinds)]);
}

ledger_col_type ledger_col_type_of(int k)
{
	k &= ~K_NULL;
	if (!k)
		return C_NULL;
	if (k == K_DATE)
		return C_DATE; /* ISO-8601 text */
	if (k & (K_OBJECT | K_ARRAY | K_DATE))
		return C_JSON; /* nested values (or mixed kinds with dates) as JSON text */
	if (k == K_BOOL)
		return C_BOOLEAN; /* 1/0 in SQL, true/false in the answer */
	if ((k & K_REAL) && !(k & (K_TEXT | K_BOOL)))
		return C_REAL;
	if (k == K_INT)
		return C_INTEGER;
	return C_TEXT;
}

static int authorize(void *arg, int action, const char *a, const char *b, const char *dbname, const char *view)
{
	qctx *q = arg;
	if (q->building)
		return SQLITE_OK;
	switch (action) {
	case SQLITE_SELECT:
	case SQLITE_FUNCTION:
	case SQLITE_RECURSIVE:
		return SQLITE_OK;
	case SQLITE_READ:
		/* the raw tables only through our views (which carry the user filter) */
		if (dbname && !strcmp(dbname, q->schema) && !view)
			return SQLITE_DENY;
		return SQLITE_OK;
	default:
		return SQLITE_DENY;
	}
}

static int progress(void *arg)
{
	qctx *q = arg;
	return mono_ms() > q->deadline;
}

void ledger_sql_quote(ids_buf *o, const char *s, char q)
{
	ids_buf_putc(o, q);
	for (; *s; s++) {
		if (*s == q)
			ids_buf_putc(o, q);
		ids_buf_putc(o, *s);
	}
	ids_buf_putc(o, q);
}

static void quote_ident(ids_buf *o, const char *s) { ledger_sql_quote(o, s, '"'); }

static void quote_json_path(ids_buf *o, const char *field, const char *suffix)
{
	/* json path '$."name"' inside an SQL string literal: double both kinds of quote */
	ids_buf_puts(o, "'$.\"");
	for (const char *p = field; *p; p++) {
		if (*p == '\'')
			ids_buf_putc(o, '\'');
		if (*p == '"' || *p == '\\')
			ids_buf_putc(o, '\\');
		ids_buf_putc(o, *p);
	}
	ids_buf_puts(o, "\"");
	ids_buf_puts(o, suffix);
	ids_buf_putc(o, '\'');
}

/* The id a name has in the attached state (sql: one %s for the schema, ?1 the name), or -1. */
static int64_t id_by_name(sqlite3 *db, const char *schema, const char *sql, const char *name)
{
	char buf[256];
	snprintf(buf, sizeof buf, sql, schema);
	sqlite3_stmt *q = NULL;
	int64_t id = -1;
	sqlite3_prepare_v2(db, buf, -1, &q, NULL);
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW)
		id = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return id;
}

/* json_extract(r.value, '$."f"<sub>'); r is the view's subquery, whose value column is the
 * row's value wherever it is kept (LEDGER_ROW_VALUE) */
static void put_extract(ids_buf *v, const char *f, const char *sub)
{
	ids_buf_puts(v, "json_extract(r.value, ");
	quote_json_path(v, f, sub);
	ids_buf_puts(v, ")");
}

/* Field names and a type per field, from a sample of the store's newest rows. */
static int build_view(sqlite3 *db, qctx *qc, int64_t sid, const char *name, int64_t uid, int scoped,
		      ids_error *err)
{
	const char *schema = qc->schema;
	sqlite3_stmt *q;
	/* every field the store's values ever had, with the kinds of value seen (fields.c) */
	char sample[160];
	snprintf(sample, sizeof sample, "SELECT name, kinds FROM %s.fields WHERE sid=?1 ORDER BY rowid", schema);
	int prc = sqlite3_prepare_v2(db, sample, -1, &q, NULL);
	if (prc != SQLITE_OK)
		return ids_fail(err, IDS_EIO, "query: fields of %s: %s", name, sqlite3_errmsg(db));
	sqlite3_bind_int64(q, 1, sid);
	ids_buf v = IDS_BUF_INIT;
	ids_buf_puts(&v, "CREATE TEMP VIEW ");
	quote_ident(&v, name);
	ids_buf_puts(&v, " AS SELECT idbsync_key(r.key) AS _key, r.seq AS _seq, r.hlc AS _hlc");
	int step;
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		const char *f = (const char *)sqlite3_column_text(q, 0);
		if (!f || !f[0] || f[0] == '_')
			continue; /* _key/_seq/_hlc are ours */
		ledger_col_type ct = ledger_col_type_of(sqlite3_column_int(q, 1));
		ids_buf_puts(&v, ", ");
		ids_buf *list = ct == C_BOOLEAN ? &qc->bools : &qc->others;
		ids_buf_append(list, name, strlen(name) + 1);
		ids_buf_append(list, f, strlen(f) + 1);
		if (ct == C_DATE) {
			put_extract(&v, f, ".\"$date\"");
		} else if (ct == C_JSON) {
			/* nested values (or mixed kinds) as JSON text */
			ids_buf_puts(&v, "CASE WHEN json_type(r.value, ");
			quote_json_path(&v, f, "");
			ids_buf_puts(&v, ") IN ('object','array') THEN ");
			put_extract(&v, f, "");
			ids_buf_puts(&v, " ELSE ");
			put_extract(&v, f, "");
			ids_buf_puts(&v, " END");
		} else if (ct == C_REAL) {
			ids_buf_puts(&v, "CAST(");
			put_extract(&v, f, "");
			ids_buf_puts(&v, " AS REAL)");
		} else {
			put_extract(&v, f, "");
		}
		ids_buf_puts(&v, " AS ");
		quote_ident(&v, f);
	}
	if (step != SQLITE_DONE) {
		ids_fail(err, IDS_EIO, "query: sampling store \"%s\": %s", name, sqlite3_errmsg(db));
		sqlite3_finalize(q);
		ids_buf_free(&v);
		return IDS_EIO;
	}
	sqlite3_finalize(q);
	/* the row's value wherever it is kept (LEDGER_ROW_VALUE), in a subquery its fields are read
	 * from; OFFSET keeps SQLite from flattening it into the user's query (flattened, some of
	 * integration/query's queries failed; not looked into) */
	ids_buf_printf(&v, " FROM (SELECT rr.key, rr.seq, rr.hlc, " LEDGER_ROW_VALUE("rr") " AS value FROM %s.rows rr"
		       LEDGER_ROW_VALUE_JOIN("rr", "%s.") " WHERE rr.sid=%lld AND rr.deleted=0", schema, schema,
		       (long long)sid);
	if (scoped)
		ids_buf_printf(&v, " AND rr.uid IN (%lld, 0)", (long long)uid);
	ids_buf_puts(&v, " LIMIT -1 OFFSET 0) r");
	int rc = 0;
	char *msg = NULL;
	if (v.failed || sqlite3_exec(db, v.data, NULL, NULL, &msg) != SQLITE_OK)
		rc = ids_fail(err, IDS_EIO, "query: view for store \"%s\": %s", name, msg ? msg : "out of memory");
	sqlite3_free(msg);
	ids_buf_free(&v);
	return rc;
}

/* Whether (store, field) is listed; store NULL: any store. */
static int listed(const ids_buf *l, const char *store_name, size_t slen, const char *field)
{
	for (size_t p = 0; p < l->len;) {
		const char *st = l->data + p, *f = st + strlen(st) + 1;
		if ((!store_name || (strlen(st) == slen && !memcmp(st, store_name, slen))) && !strcmp(f, field))
			return 1;
		p = (size_t)(f + strlen(f) + 1 - l->data);
	}
	return 0;
}

static int is_store(const qctx *qc, const char *name, size_t n)
{
	for (int k = 0; k < 2; k++) {
		const ids_buf *l = k ? &qc->others : &qc->bools;
		for (size_t p = 0; p < l->len;) {
			const char *st = l->data + p, *f = st + strlen(st) + 1;
			if (strlen(st) == n && !memcmp(st, name, n))
				return 1;
			p = (size_t)(f + strlen(f) + 1 - l->data);
		}
	}
	return 0;
}

/* A full column name "X.field" is a boolean column when X is a store whose field is boolean,
 * or X is an alias (of a table, a subquery, a CTE) and the field is boolean in every ledger
 * that has it. */
static int bool_column(const qctx *qc, const char *name)
{
	for (const char *dot = strchr(name, '.'); dot; dot = strchr(dot + 1, '.')) {
		size_t n = (size_t)(dot - name);
		const char *field = dot + 1;
		if (is_store(qc, name, n)) {
			if (listed(&qc->bools, name, n, field))
				return 1;
		} else if (listed(&qc->bools, NULL, 0, field) && !listed(&qc->others, NULL, 0, field)) {
			return 1;
		}
	}
	return 0;
}

int ledger_query_params(const char *params, size_t len, int expect,
		       int (*fn)(void *ctx, int i, ids_jtype type, const char *text, size_t n), void *ctx, ids_error *err)
{
	if (!params || !len)
		return expect > 0 ? ids_fail(err, IDS_EINVAL, "params has 0 values, the SQL has %d placeholders", expect) : 0;
	ids_json j = IDS_JSON_INIT;
	int rc = ids_json_parse(&j, params, len, 100000, 8, err);
	if (!rc && j.tok[0].type != IDS_JARR)
		rc = ids_fail(err, IDS_EINVAL, "params must be a JSON array");
	if (!rc && expect >= 0 && (int)j.tok[0].size != expect)
		rc = ids_fail(err, IDS_EINVAL, "params has %u values, the SQL has %d placeholders", j.tok[0].size, expect);
	ids_buf b = IDS_BUF_INIT;
	size_t t = 1;
	for (uint32_t i = 0; !rc && i < j.tok[0].size; i++, t = j.tok[t].next) {
		ids_jtype ty = j.tok[t].type;
		b.len = 0;
		if (ty == IDS_JSTR)
			ids_json_unescape(&j, t, &b);
		else if (ty == IDS_JNUM || ty == IDS_JTRUE || ty == IDS_JFALSE || ty == IDS_JNULL)
			ids_buf_append(&b, j.text + j.tok[t].start, j.tok[t].end - j.tok[t].start);
		else
			rc = ids_fail(err, IDS_EINVAL, "params[%u]: only numbers, strings, booleans and null bind", i);
		if (!rc && b.failed)
			rc = ids_fail(err, IDS_ENOMEM, "out of memory");
		if (!rc)
			rc = fn(ctx, (int)i, ty, b.data ? b.data : "", b.len);
	}
	ids_buf_free(&b);
	ids_json_free(&j);
	return rc;
}

static int bind_one(void *ctx, int i, ids_jtype type, const char *text, size_t n)
{
	sqlite3_stmt *st = ctx;
	int idx = i + 1;
	switch (type) {
	case IDS_JNUM: {
		char *end;
		errno = 0;
		long long x = strtoll(text, &end, 10);
		if (end == text + n && !errno)
			sqlite3_bind_int64(st, idx, x);
		else
			sqlite3_bind_double(st, idx, strtod(text, NULL));
		break;
	}
	case IDS_JSTR: sqlite3_bind_text(st, idx, text, (int)n, SQLITE_TRANSIENT); break;
	case IDS_JTRUE: sqlite3_bind_int(st, idx, 1); break;
	case IDS_JFALSE: sqlite3_bind_int(st, idx, 0); break;
	default: sqlite3_bind_null(st, idx);
	}
	return 0;
}

static int bind_params(sqlite3_stmt *st, const char *params, size_t len, ids_error *err)
{
	if (!params || !len)
		return 0;
	return ledger_query_params(params, len, sqlite3_bind_parameter_count(st), bind_one, st, err);
}

static void put_value(ids_buf *o, sqlite3_stmt *st, int c, int is_bool)
{
	switch (sqlite3_column_type(st, c)) {
	case SQLITE_INTEGER: {
		int64_t x = sqlite3_column_int64(st, c);
		if (is_bool && (x == 0 || x == 1))
			ids_buf_puts(o, x ? "true" : "false");
		else
			ids_buf_i64(o, x);
		break;
	}
	case SQLITE_FLOAT: {
		double d = sqlite3_column_double(st, c);
		char tmp[40];
		if (d != d || d - d != 0) /* NaN or infinite */
			ids_buf_printf(o, "{\"$num\":\"%s\"}", d != d ? "NaN" : d > 0 ? "Infinity" : "-Infinity");
		else {
			ids_fmt_double(d, tmp);
			ids_buf_puts(o, tmp);
		}
		break;
	}
	case SQLITE_TEXT:
		ids_buf_json_str(o, (const char *)sqlite3_column_text(st, c), (size_t)sqlite3_column_bytes(st, c));
		break;
	case SQLITE_BLOB:
		ids_buf_puts(o, "{\"$bin\":\"");
		ids_base64_encode(sqlite3_column_blob(st, c), (size_t)sqlite3_column_bytes(st, c), o);
		ids_buf_puts(o, "\"}");
		break;
	default: ids_buf_puts(o, "null");
	}
}

static int only_one_statement(const char *tail, const char *end)
{
	for (const char *p = tail; p < end; p++)
		if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && *p != ';')
			return 0;
	return 1;
}

int ledger_query(ledger *lg, const char *dbname, const char *user, const char *sql, size_t sql_len,
		const char *params, size_t params_len, const ledger_query_limits *lim_in, ids_buf *out,
		ids_error *err)
{
	ledger_query_limits lim = {5000, 10000, 32u << 20};
	if (lim_in) {
		if (lim_in->timeout_ms > 0) lim.timeout_ms = lim_in->timeout_ms;
		if (lim_in->max_rows > 0) lim.max_rows = lim_in->max_rows;
		if (lim_in->max_bytes > 0) lim.max_bytes = lim_in->max_bytes;
	}
	if (lg->pg)
		return ledger_pg_query(lg, dbname, user, sql, sql_len, params, params_len, &lim, out, err);
	char path[IDS_PATH_MAX + 1];
	if (ids_path(path, sizeof path, err, "%s/idbsync.sqlite", lg->dir))
		return err->code;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL, *q = NULL;
	qctx qc = {1, mono_ms() + lim.timeout_ms, {0}, IDS_BUF_INIT, IDS_BUF_INIT};
	unsigned char *bool_col = NULL;
	int rc = 0;
	/* The data file is attached under a random schema name behind an empty in-memory main
	 * database: SQL can only reach it through the views, even where no column is read
	 * (count(*) never asks the authorizer). */
	unsigned char rnd[8];
	sqlite3_randomness(sizeof rnd, rnd);
	snprintf(qc.schema, sizeof qc.schema, "d%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3], rnd[4],
		 rnd[5], rnd[6], rnd[7]);
	if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI, NULL) !=
	    SQLITE_OK) {
		rc = ids_fail(err, IDS_EIO, "query: cannot open an in-memory database");
		goto out;
	}
	sqlite3_busy_timeout(db, 2000);
	{
		sqlite3_stmt *at;
		char uri[4200];
		snprintf(uri, sizeof uri, "file:%s?mode=ro", path);
		char att[128];
		snprintf(att, sizeof att, "ATTACH DATABASE ?1 AS %s", qc.schema);
		sqlite3_prepare_v2(db, att, -1, &at, NULL);
		sqlite3_bind_text(at, 1, uri, -1, SQLITE_STATIC);
		int arc = sqlite3_step(at);
		sqlite3_finalize(at);
		if (arc != SQLITE_DONE) {
			rc = ids_fail(err, IDS_EIO, "query: cannot open %s: %s", path, sqlite3_errmsg(db));
			goto out;
		}
	}
	sqlite3_create_function(db, "idbsync_key", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, key_fn, NULL, NULL);
	sqlite3_create_function(db, "idbsync_no_table", 1, SQLITE_UTF8, NULL, no_table_fn, NULL, NULL);
	sqlite3_set_authorizer(db, authorize, &qc);
	sqlite3_progress_handler(db, 1000, progress, &qc);
	/* one snapshot for the views' sampling and the query */
	if ((rc = ledger_exec(db, "BEGIN", err)))
		goto out;
	int64_t did = id_by_name(db, qc.schema, "SELECT did FROM %s.dbs WHERE name=?1", dbname), uid = 0;
	char sql_buf[256];
	int scoped = user && user[0];
	if (scoped) /* an unknown user (-1) sees shared rows only */
		uid = id_by_name(db, qc.schema, "SELECT uid FROM %s.users WHERE name=?1", user);
	snprintf(sql_buf, sizeof sql_buf, "SELECT sid, name FROM %s.stores WHERE did=?1", qc.schema);
	sqlite3_prepare_v2(db, sql_buf, -1, &q, NULL);
	sqlite3_bind_int64(q, 1, did);
	while (!rc && sqlite3_step(q) == SQLITE_ROW)
		rc = build_view(db, &qc, sqlite3_column_int64(q, 0), (const char *)sqlite3_column_text(q, 1), uid,
				scoped, err);
	sqlite3_finalize(q);
	q = NULL;
	/* unqualified names resolve through attached schemas too: shadow every internal table
	 * with an empty temp view (a store of the same name already took the name) */
	snprintf(sql_buf, sizeof sql_buf, "SELECT name FROM %s.sqlite_master WHERE type IN ('table','view')", qc.schema);
	sqlite3_prepare_v2(db, sql_buf, -1, &q, NULL);
	while (!rc && sqlite3_step(q) == SQLITE_ROW) {
		ids_buf v = IDS_BUF_INIT;
		ids_buf_puts(&v, "CREATE TEMP VIEW IF NOT EXISTS ");
		quote_ident(&v, (const char *)sqlite3_column_text(q, 0));
		/* the function is called in WHERE as well: SQLite 3.46 counts a view's rows without
		 * evaluating its columns, so count(*) got 1 instead of the error (integration/query) */
		ids_buf q_name = IDS_BUF_INIT;
		ids_buf_putc(&q_name, '\'');
		for (const char *tn = (const char *)sqlite3_column_text(q, 0); *tn; tn++) {
			if (*tn == '\'')
				ids_buf_putc(&q_name, '\'');
			ids_buf_putc(&q_name, *tn);
		}
		ids_buf_putc(&q_name, '\'');
		ids_buf_printf(&v, " AS SELECT idbsync_no_table(%.*s) AS none WHERE idbsync_no_table(%.*s) IS NULL",
			       (int)q_name.len, q_name.data, (int)q_name.len, q_name.data);
		int failed = q_name.failed || v.failed; /* a view not made would leave the table reachable */
		ids_buf_free(&q_name);
		if (failed)
			rc = ids_fail(err, IDS_ENOMEM, "query: out of memory");
		else if (sqlite3_exec(db, v.data, NULL, NULL, NULL) != SQLITE_OK)
			rc = ids_fail(err, IDS_EIO, "query: %s", sqlite3_errmsg(db));
		ids_buf_free(&v);
	}
	sqlite3_finalize(q);
	q = NULL;
	if (rc)
		goto out;
	/* Which answer columns are a store's boolean field as it is (also through *, a table alias
	 * or a join): SQLite has no boolean type, but with full column names such a column is
	 * called "store.field" (or "alias.field") while an expression or an AS name keeps its own. */
	int ncol0 = 0;
	if (qc.bools.len) {
		sqlite3_exec(db, "PRAGMA full_column_names=1; PRAGMA short_column_names=0", NULL, NULL, NULL);
		qc.building = 0;
		sqlite3_stmt *probe = NULL;
		if (sqlite3_prepare_v2(db, sql, (int)sql_len, &probe, NULL) == SQLITE_OK && probe) {
			ncol0 = sqlite3_column_count(probe);
			bool_col = calloc((size_t)ncol0 + 1, 1);
			for (int c = 0; bool_col && c < ncol0; c++) {
				const char *nm = sqlite3_column_name(probe, c);
				bool_col[c] = nm && bool_column(&qc, nm);
			}
		}
		sqlite3_finalize(probe);
		qc.building = 1;
		sqlite3_exec(db, "PRAGMA full_column_names=0; PRAGMA short_column_names=1", NULL, NULL, NULL);
	}
	qc.building = 0;
	const char *tail = NULL;
	if (sqlite3_prepare_v2(db, sql, (int)sql_len, &st, &tail) != SQLITE_OK || !st) {
		rc = ids_fail(err, IDS_EINVAL, "query: %s", st || sqlite3_errcode(db) != SQLITE_OK ? sqlite3_errmsg(db) : "empty SQL");
		goto out;
	}
	if (!only_one_statement(tail, sql + sql_len)) {
		rc = ids_fail(err, IDS_EINVAL, "query: only one statement is allowed");
		goto out;
	}
	if (!sqlite3_stmt_readonly(st)) {
		rc = ids_fail(err, IDS_EINVAL, "query: only SELECT statements are allowed");
		goto out;
	}
	if ((rc = bind_params(st, params, params_len, err)))
		goto out;
	int ncol = sqlite3_column_count(st);
	ids_buf_puts(out, "{\"columns\":[");
	for (int c = 0; c < ncol; c++) {
		const char *name = sqlite3_column_name(st, c);
		if (c)
			ids_buf_putc(out, ',');
		ids_buf_json_str(out, name ? name : "", name ? strlen(name) : 0);
	}
	ids_buf_puts(out, "],\"rows\":[");
	size_t start = out->len;
	int64_t n = 0;
	int truncated = 0, step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == lim.max_rows || out->len - start > lim.max_bytes) {
			truncated = 1;
			break;
		}
		ids_buf_puts(out, n ? ",[" : "[");
		for (int c = 0; c < ncol; c++) {
			if (c)
				ids_buf_putc(out, ',');
			put_value(out, st, c, bool_col && c < ncol0 && bool_col[c]);
		}
		ids_buf_putc(out, ']');
		n++;
	}
	if (step == SQLITE_INTERRUPT || (step != SQLITE_DONE && step != SQLITE_ROW && mono_ms() > qc.deadline)) {
		rc = ids_fail(err, IDS_ETIMEOUT, "query: stopped after the time limit of %lld ms", (long long)lim.timeout_ms);
		goto out;
	}
	if (step != SQLITE_DONE && step != SQLITE_ROW) {
		rc = ids_fail(err, IDS_EINVAL, "query: %s", sqlite3_errmsg(db));
		goto out;
	}
	ids_buf_printf(out, "],\"truncated\":%s}", truncated ? "true" : "false");
	if (out->failed)
		rc = ids_fail(err, out->failed, "query: response too large");
out:
	free(bool_col);
	ids_buf_free(&qc.bools);
	ids_buf_free(&qc.others);
	sqlite3_finalize(st);
	sqlite3_finalize(q);
	if (db) {
		sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
		sqlite3_close(db);
	}
	return rc;
}

int ledger_query_columns(ledger *lg, const char *dbname, const char *store_name, ids_buf *out, ids_error *err)
{
	if (lg->pg)
		return ledger_pg_query_columns(lg, dbname, store_name, out, err);
	char path[IDS_PATH_MAX + 1];
	if (ids_path(path, sizeof path, err, "%s/idbsync.sqlite", lg->dir))
		return err->code;
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	int rc = 0;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		rc = ids_fail(err, IDS_EIO, "query: cannot open %s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
		goto out;
	}
	sqlite3_busy_timeout(db, 2000);
	if (sqlite3_prepare_v2(db,
			       "SELECT s.sid, f.name, f.kinds FROM dbs d JOIN stores s ON s.did = d.did "
			       "LEFT JOIN fields f ON f.sid = s.sid WHERE d.name = ?1 AND s.name = ?2 ORDER BY f.rowid",
			       -1, &q, NULL) != SQLITE_OK) {
		rc = ids_fail(err, IDS_EIO, "query: columns: %s", sqlite3_errmsg(db));
		goto out;
	}
	sqlite3_bind_text(q, 1, dbname, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, store_name, -1, SQLITE_STATIC);
	ledger_columns_begin(out, store_name);
	int found = 0, step;
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		found = 1;
		const char *f = (const char *)sqlite3_column_text(q, 1);
		if (!f || !f[0] || f[0] == '_')
			continue; /* as the view: _key/_seq/_hlc are ours */
		ledger_columns_add(out, f, sqlite3_column_int(q, 2));
	}
	if (step != SQLITE_DONE)
		rc = ids_fail(err, IDS_EIO, "query: columns of \"%s\": %s", store_name, sqlite3_errmsg(db));
	else if (!found)
		rc = ids_fail(err, IDS_ENOTFOUND, "no store \"%s\" in database \"%s\"", store_name, dbname);
	ids_buf_puts(out, "]}");
	if (!rc && out->failed)
		rc = ids_fail(err, out->failed, "query: response too large");
out:
	sqlite3_finalize(q);
	sqlite3_close(db);
	return rc;
}
