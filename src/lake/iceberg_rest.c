/* The Iceberg REST catalog client (--iceberg-rest URL): the lake's tables are registered in an
 * external catalog (apache/iceberg open-api/rest-catalog-open-api.yaml) instead of the
 * file-system catalog, and each commit is a POST of the table's updates with requirements
 * (table uuid, main ref at the snapshot the commit was built on), so the catalog's pointer is
 * the only commit point. A 409 means another writer moved the table: the caller re-reads it and
 * builds the commit again. Data files, manifests and lists stay where iceberg_commit.c writes
 * them; the catalog writes the metadata JSON. docs/iceberg.md, "REST catalog". */
#include "iceberg.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idbsync/log.h"

#define RESP_MAX (256u << 20)   /* a table's metadata JSON */
#define TIMEOUT_S 60L

static size_t sink(char *p, size_t sz, size_t n, void *ctx)
{
	return ids_buf_append(ctx, p, sz * n) ? 0 : sz * n;
}

/* One request: method, path under the catalog's /v1/{prefix}, optional JSON body. Fills
 * *code with the HTTP status and *out with the parsed JSON answer (NULL if empty). */
static int call(lake *l, const char *method, const char *path, json_t *body, long *code, json_t **out, ids_error *err)
{
	*out = NULL;
	*code = 0;
	CURL *c = curl_easy_init();
	if (!c)
		return ids_fail(err, IDS_ENOMEM, "curl init failed");
	const char *base = l->o.iceberg_rest;
	size_t bl = strlen(base);
	while (bl && base[bl - 1] == '/')
		bl--;
	char url[6000];
	snprintf(url, sizeof url, "%.*s/v1/%s%s", (int)bl, base, l->ice->prefix, path);
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	const char *tok = getenv("IDBSYNC_ICEBERG_TOKEN");
	char auth[4200];
	if (tok && *tok) {
		snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok);
		h = curl_slist_append(h, auth);
	}
	ids_buf resp;
	ids_buf_init(&resp, RESP_MAX);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (text)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, TIMEOUT_S);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
	CURLcode cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, code);
	int rc = 0;
	if (cc != CURLE_OK) {
		rc = ids_fail(err, IDS_EIO, "%s %s: %s", method, url, curl_easy_strerror(cc));
	} else if (resp.len) {
		json_error_t je;
		*out = json_loadb(resp.data, resp.len, 0, &je);
		if (!*out)
			rc = ids_fail(err, IDS_ECORRUPT, "%s %s: HTTP %ld, not JSON (%s): %.200s", method, url, *code, je.text,
				      resp.data);
	}
	if (!rc && (*code < 200 || *code > 299)) {
		json_t *e = json_object_get(*out, "error");
		const char *msg = json_string_value(json_object_get(e, "message"));
		const char *type = json_string_value(json_object_get(e, "type"));
		rc = ids_fail(err, *code == 404 ? IDS_ENOTFOUND : *code == 409 ? IDS_ECONFLICT : IDS_EIO,
			      "%s %s: HTTP %ld %s: %s", method, url, *code, type ? type : "",
			      msg ? msg : resp.data ? resp.data : "");
	}
	ids_buf_free(&resp);
	curl_slist_free_all(h);
	free(text);
	curl_easy_cleanup(c);
	return rc;
}

static int escape(const char *s, char *out, size_t sz)
{
	char *e = curl_easy_escape(NULL, s, 0);
	if (!e)
		return -1;
	int n = snprintf(out, sz, "%s", e);
	curl_free(e);
	return n < 0 || (size_t)n >= sz ? -1 : 0;
}

/* "namespaces/<db>/tables/<name>" of table kind k of e (name: the table dir's) */
static int tbl_path(ice_ent *e, int k, char *out, size_t sz, ids_error *err)
{
	char ns[600], name[1200];
	const char *b = strrchr(e->k[k].loc, '/');
	if (escape(e->t->db, ns, sizeof ns) || escape(b ? b + 1 : e->k[k].loc, name, sizeof name))
		return ids_fail(err, IDS_ELIMIT, "iceberg rest: name too long: %s", e->k[k].loc);
	snprintf(out, sz, "namespaces/%s/tables/%s", ns, name);
	return 0;
}

int ice_rest_open(lake *l, ids_error *err)
{
	long code;
	json_t *cfg = NULL;
	curl_global_init(CURL_GLOBAL_DEFAULT);   /* at lake_open: no other thread runs curl yet */
	int rc = call(l, "GET", "config", NULL, &code, &cfg, err);
	/* GET /v1/config is not under a prefix; the catalog may name one for the rest */
	if (!rc) {
		const char *p = json_string_value(json_object_get(json_object_get(cfg, "overrides"), "prefix"));
		if (!p)
			p = json_string_value(json_object_get(json_object_get(cfg, "defaults"), "prefix"));
		if (p && *p && escape(p, l->ice->prefix, sizeof l->ice->prefix - 1) == 0)
			strcat(l->ice->prefix, "/");
	}
	json_decref(cfg);
	return rc ? ids_wrap(err, "iceberg rest catalog %s: ", l->o.iceberg_rest), rc : 0;
}

int ice_rest_load(lake *l, ice_ent *e, int k, json_t **meta, ids_error *err)
{
	char p[2000];
	long code;
	json_t *r = NULL;
	*meta = NULL;
	int rc = tbl_path(e, k, p, sizeof p, err);
	if (!rc)
		rc = call(l, "GET", p, NULL, &code, &r, err);
	if (rc == IDS_ENOTFOUND) {
		*err = (ids_error)IDS_ERROR_INIT;
		rc = 0;   /* not created yet */
	} else if (!rc && !json_is_object(json_object_get(r, "metadata"))) {
		rc = ids_fail(err, IDS_ECORRUPT, "iceberg rest: GET %s: no metadata in the answer", p);
	} else if (!rc) {
		*meta = json_incref(json_object_get(r, "metadata"));
	}
	json_decref(r);
	return rc;
}

int ice_rest_list(lake *l, void (*each)(lake *l, json_t *meta, void *ctx), void *ctx, ids_error *err)
{
	long code;
	json_t *nss = NULL;
	int rc = call(l, "GET", "namespaces", NULL, &code, &nss, err);
	size_t i, j;
	json_t *ns, *id;
	json_array_foreach(rc ? NULL : json_object_get(nss, "namespaces"), i, ns)
	{
		const char *n = json_string_value(json_array_get(ns, 0));
		char en[600], p[2000];
		if (!n || json_array_size(ns) != 1 || escape(n, en, sizeof en))
			continue;   /* not one of the lake's databases */
		json_t *ts = NULL;
		snprintf(p, sizeof p, "namespaces/%s/tables", en);
		if ((rc = call(l, "GET", p, NULL, &code, &ts, err)))
			break;
		json_array_foreach(json_object_get(ts, "identifiers"), j, id)
		{
			const char *t = json_string_value(json_object_get(id, "name"));
			char et[1200];
			json_t *r = NULL;
			if (!t || escape(t, et, sizeof et))
				continue;
			snprintf(p, sizeof p, "namespaces/%s/tables/%s", en, et);
			if ((rc = call(l, "GET", p, NULL, &code, &r, err)))
				break;
			each(l, json_object_get(r, "metadata"), ctx);
			json_decref(r);
		}
		json_decref(ts);
		if (rc)
			break;
	}
	json_decref(nss);
	return rc;
}

/* The schema a table is created with: the catalog assigns fresh ids 1..n in field order, so it
 * gets the system columns in their fixed order (ids 1..15; the ones table kind k lacks as
 * placeholders), which the partition spec and sort order refer to. The commit after it adds the
 * real schema with the lake's own ids (add-schema keeps ids). */
static json_t *create_schema(json_t *fields)
{
	json_t *a = json_array();
	for (int i = 0; lk_reserved_cols[i] && strcmp(lk_reserved_cols[i], "dt"); i++) {
		json_t *f = NULL, *g;
		size_t j;
		json_array_foreach(fields, j, g)
			if (json_integer_value(json_object_get(g, "id")) == i + 1)
				f = g;
		json_array_append_new(a, f ? json_deep_copy(f)
					   : json_pack("{sisssbss}", "id", i + 1, "name", lk_reserved_cols[i], "required", 0,
						       "type", "string"));
	}
	return json_pack("{sssiso}", "type", "struct", "schema-id", 0, "fields", a);
}

int ice_rest_create(lake *l, ice_ent *e, int k, json_t *want, json_t *fields, json_t **meta, ids_error *err)
{
	long code;
	json_t *r = NULL;
	char ns[600], p[2000];
	*meta = NULL;
	if (escape(e->t->db, ns, sizeof ns))
		return ids_fail(err, IDS_ELIMIT, "iceberg rest: name too long: %s", e->t->db);
	json_t *nb = json_pack("{s[s]s{}}", "namespace", e->t->db, "properties");
	int rc = call(l, "POST", "namespaces", nb, &code, &r, err);
	json_decref(nb);
	json_decref(r);
	r = NULL;
	if (rc == IDS_ECONFLICT) {   /* it exists */
		*err = (ids_error)IDS_ERROR_INIT;
		rc = 0;
	}
	const char *b = strrchr(e->k[k].loc, '/');
	json_t *props = json_deep_copy(json_object_get(want, "properties"));
	/* the catalog writes the metadata files: it removes its old ones, as our expiry does */
	json_object_set_new(props, "write.metadata.delete-after-commit.enabled", json_string("true"));
	json_object_set_new(props, "write.metadata.previous-versions-max", json_string("20"));
	json_t *order = ice_find_by_id(want, "sort-orders", "order-id",
				       json_integer_value(json_object_get(want, "default-sort-order-id")));
	json_t *body = json_pack("{sssOsosOsOsbso}", "name", b ? b + 1 : e->k[k].loc, "location",
				 json_object_get(want, "location"), "schema", create_schema(fields), "partition-spec",
				 json_array_get(json_object_get(want, "partition-specs"), 0), "write-order", order,
				 "stage-create", 0, "properties", props);
	snprintf(p, sizeof p, "namespaces/%s/tables", ns);
	if (!rc && !body)
		rc = ids_fail(err, IDS_ENOMEM, "iceberg rest: cannot build the create request of %s", e->k[k].loc);
	if (!rc)
		rc = call(l, "POST", p, body, &code, &r, err);
	json_decref(body);
	if (rc == IDS_ECONFLICT) {   /* created meanwhile (a previous run's lost answer): load it */
		*err = (ids_error)IDS_ERROR_INIT;
		json_decref(r);
		return ice_rest_load(l, e, k, meta, err);
	}
	if (!rc && !json_is_object(json_object_get(r, "metadata")))
		rc = ids_fail(err, IDS_ECORRUPT, "iceberg rest: POST %s: no metadata in the answer", p);
	if (!rc)
		*meta = json_incref(json_object_get(r, "metadata"));
	json_decref(r);
	return rc;
}

/* Elements of next's array `list` whose `key` base does not have. */
static void added(json_t *base, json_t *next, const char *list, const char *key, json_t *out, const char *action,
		  const char *as)
{
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(next, list), i, s)
		if (!ice_find_by_id(base, list, key, json_integer_value(json_object_get(s, key))))
			json_array_append_new(out, json_pack("{sssO}", "action", action, as, s));
}

int ice_rest_commit(lake *l, ice_ent *e, int k, json_t *base, json_t *next, json_t **meta, ids_error *err)
{
	*meta = NULL;
	json_t *req = json_array(), *upd = json_array();
	json_array_append_new(req, json_pack("{ssss}", "type", "assert-table-uuid", "uuid",
					     json_string_value(json_object_get(base, "table-uuid"))));
	int64_t parent = ice_main_snapshot(base);
	json_array_append_new(req, json_pack("{ssssso}", "type", "assert-ref-snapshot-id", "ref", "main", "snapshot-id",
					     parent ? json_integer(parent) : json_null()));
	/* the updates that turn base into next */
	size_t before = json_array_size(upd);
	added(base, next, "schemas", "schema-id", upd, "add-schema", "schema");
	if (json_array_size(upd) > before)   /* ids from base's last-column-id on are ours */
		json_array_append_new(req, json_pack("{sssO}", "type", "assert-last-assigned-field-id", "last-assigned-field-id",
						     json_object_get(base, "last-column-id")));
	int new_schema = json_array_size(upd) > before;
	if (!json_equal(json_object_get(base, "current-schema-id"), json_object_get(next, "current-schema-id")))
		json_array_append_new(upd, json_pack("{sssI}", "action", "set-current-schema", "schema-id",
						     new_schema ? (json_int_t)-1
								: json_integer_value(json_object_get(next, "current-schema-id"))));
	/* a partitioned store's state: the identity spec ice_state_spec added (on a table created
	 * unpartitioned, or before this writer partitioned it); the files of spec 0 keep theirs.
	 * After the schema updates: the catalog binds a new spec to the current schema. The
	 * requirements pin what the spec's ids were chosen from (the catalog gives an added spec
	 * the next free spec id, as ice_state_spec did, and keeps its partition field id). */
	before = json_array_size(upd);
	added(base, next, "partition-specs", "spec-id", upd, "add-spec", "spec");
	int new_spec = json_array_size(upd) > before;
	if (new_spec || !json_equal(json_object_get(base, "default-spec-id"), json_object_get(next, "default-spec-id"))) {
		json_array_append_new(req, json_pack("{sssO}", "type", "assert-last-assigned-partition-id",
						     "last-assigned-partition-id", json_object_get(base, "last-partition-id")));
		json_array_append_new(req, json_pack("{sssO}", "type", "assert-default-spec-id", "default-spec-id",
						     json_object_get(base, "default-spec-id")));
		json_array_append_new(upd, json_pack("{sssI}", "action", "set-default-spec", "spec-id",
						     new_spec ? (json_int_t)-1
							      : json_integer_value(json_object_get(next, "default-spec-id"))));
	}
	added(base, next, "snapshots", "snapshot-id", upd, "add-snapshot", "snapshot");
	json_t *gone = json_array(), *s;
	size_t i;
	json_array_foreach(json_object_get(base, "snapshots"), i, s)
	{
		json_t *id = json_object_get(s, "snapshot-id");
		if (!ice_find_by_id(next, "snapshots", "snapshot-id", json_integer_value(id)))
			json_array_append(gone, id);
	}
	if (json_array_size(gone))
		json_array_append_new(upd, json_pack("{ssso}", "action", "remove-snapshots", "snapshot-ids", gone));
	else
		json_decref(gone);
	int64_t snap = ice_main_snapshot(next);
	if (snap && snap != parent)
		json_array_append_new(upd, json_pack("{sssssssI}", "action", "set-snapshot-ref", "ref-name", "main", "type",
						     "branch", "snapshot-id", (json_int_t)snap));
	json_t *body = json_pack("{soso}", "requirements", req, "updates", upd);
	char p[2000];
	long code;
	json_t *r = NULL;
	int rc = body ? tbl_path(e, k, p, sizeof p, err)
		      : ids_fail(err, IDS_ENOMEM, "iceberg rest: cannot build the commit of %s", e->k[k].loc);
	if (!rc)
		rc = call(l, "POST", p, body, &code, &r, err);
	json_decref(body);
	if (!rc && !json_is_object(json_object_get(r, "metadata")))
		rc = ids_fail(err, IDS_ECORRUPT, "iceberg rest: POST %s: no metadata in the answer", p);
	if (!rc)
		*meta = json_incref(json_object_get(r, "metadata"));
	json_decref(r);
	/* the manifests name the spec by the id we chose: a catalog that gave it another one
	 * (or other field ids) would make readers misread the partition values */
	json_t *sp;
	json_array_foreach(rc || !new_spec ? NULL : json_object_get(next, "partition-specs"), i, sp)
	{
		json_int_t id = json_integer_value(json_object_get(sp, "spec-id"));
		json_t *got = ice_find_by_id(*meta, "partition-specs", "spec-id", id);
		if (!got || !json_equal(json_object_get(got, "fields"), json_object_get(sp, "fields")))
			ids_logf(IDS_LOG_ERROR, "lake_iceberg", "iceberg rest: %s: the catalog stored partition spec %d not as committed",
				 e->k[k].loc, (int)id);
	}
	return rc;
}
