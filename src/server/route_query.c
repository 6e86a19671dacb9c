/* POST /v1/db/{db}/query {"sql":..,"params":[..]}: analytics over the synced data. The
 * embedded engine (SQLite views over the current state, ledger_query) answers by default;
 * with --drill-url the query goes to Apache Drill's REST API and comes back in our shape.
 * {"describe":"STORE"} instead of sql lists the columns (and types) a query sees for a store.
 * A query stopped by the time limit is 422 {"error":{"code":"timeout"}}. */
#include <string.h>

#include "idbsync/json.h"
#include "server_int.h"

void route_query(server *s, http_req *req, http_resp *resp, const char *db)
{
	ids_error err = IDS_ERROR_INIT;
	ids_json j = IDS_JSON_INIT;
	ids_buf sql = IDS_BUF_INIT;
	int rc = ids_json_parse(&j, req->body, req->body_len, 100000, 16, &err);
	if (!rc && j.tok[0].type != IDS_JOBJ)
		rc = ids_fail(&err, IDS_EINVAL, "body must be a JSON object {\"sql\":..,\"params\":[..]}");
	long fc = rc ? -1 : ids_json_get(&j, 0, "describe");
	if (!rc && fc >= 0) {
		ids_buf name = IDS_BUF_INIT;
		if (j.tok[fc].type != IDS_JSTR)
			rc = ids_fail(&err, IDS_EINVAL, "describe: the name of a store, a string");
		if (!rc)
			rc = ids_json_unescape(&j, (size_t)fc, &name);
		if (!rc && s->o.drill_url && s->o.drill_url[0] && req->user[0] && !req->admin)
			rc = ids_fail(&err, IDS_EFORBIDDEN, "queries go to Apache Drill: only admin tokens may query");
		/* the same columns a query's view has (for every user: a view's columns do not
		 * depend on whose rows it holds) */
		if (!rc)
			rc = ledger_query_columns(s->lg, db, name.data ? name.data : "", &resp->body, &err);
		ids_buf_free(&name);
		ids_json_free(&j);
		if (rc)
			resp_error(resp, rc, err.msg);
		else
			resp->status = 200;
		return;
	}
	long fs = rc ? -1 : ids_json_get(&j, 0, "sql");
	if (!rc && (fs < 0 || j.tok[fs].type != IDS_JSTR))
		rc = ids_fail(&err, IDS_EINVAL, "sql: required, a string (or \"describe\": a store's name)");
	if (!rc)
		rc = ids_json_unescape(&j, (size_t)fs, &sql);
	long fp = rc ? -1 : ids_json_get(&j, 0, "params");
	const char *params = NULL;
	size_t plen = 0;
	if (!rc && fp >= 0 && j.tok[fp].type != IDS_JNULL) {
		params = j.text + j.tok[fp].start;
		plen = j.tok[fp].end - j.tok[fp].start;
	}
	if (!rc && s->o.drill_url && s->o.drill_url[0] && req->user[0] && !req->admin)
		rc = ids_fail(&err, IDS_EFORBIDDEN,
			      "queries go to Apache Drill, which cannot scope rows per user: only admin tokens may query");
	if (!rc) {
		if (s->o.drill_url && s->o.drill_url[0])
			rc = drill_query(s->o.drill_url, db, sql.data ? sql.data : "", params, plen, s->o.query_timeout_ms,
					 &resp->body, &err);
		else {
			ledger_query_limits lim = {s->o.query_timeout_ms, s->o.query_max_rows, 0};
			rc = ledger_query(s->lg, db, req->user, sql.data ? sql.data : "", sql.len, params, plen, &lim,
					 &resp->body, &err);
		}
	}
	if (rc == IDS_ETIMEOUT)
		resp_error_status(resp, 422, ids_code_name(rc), err.msg); /* not worth retrying as is */
	else if (rc)
		resp_error(resp, rc, err.msg);
	else
		resp->status = 200;
	ids_buf_free(&sql);
	ids_json_free(&j);
}
