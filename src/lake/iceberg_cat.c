/* The Iceberg catalog kept in the server's state, for a warehouse on S3 without an external
 * catalog (--iceberg-warehouse s3://... without --iceberg-rest): object storage has no rename
 * and no create-if-absent, so a table's metadata file gets a unique name
 * (v<N>-<uuid>.metadata.json), is written to the mirror and PUT to S3 like every other file
 * of the commit, and the commit is the compare-and-set of the table's row in the state
 * (ledger_ice_swap, src/ledger/icecat.c). The served catalog (/iceberg/v1) answers from that
 * row, so engines see exactly the committed snapshots. docs/iceberg.md, "S3 without an
 * external catalog". */
#include "iceberg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "idbsync/log.h"

int ice_cat_mode(const lake *l)
{
	return l->o.iceberg_warehouse && !l->o.iceberg_rest;
}

/* "db" and "table" (with its _changes / _conflicts suffix) of a table dir root/db/table. */
static void cat_names(const lk_ice *ice, const char *loc, char *ns, size_t nsz, const char **name)
{
	const char *rel = loc + strlen(ice->root) + 1;
	const char *slash = strchr(rel, '/');
	size_t n = slash ? (size_t)(slash - rel) : 0;
	snprintf(ns, nsz, "%.*s", (int)n, rel);
	*name = slash ? slash + 1 : rel;
}

int ice_cat_version(const char *uri)
{
	const char *b = uri ? strrchr(uri, '/') : NULL;
	int v = 0;
	return b && sscanf(b, "/v%d-", &v) == 1 && v > 0 ? v : 0;
}

int ice_cat_read(lk_ice *ice, const char *uri, ids_buf *out, ids_error *err)
{
	char buf[4800];
	const char *p = ice_path(ice, uri, buf, sizeof buf);
	int rc = p == uri ? ids_fail(err, IDS_ECORRUPT, "%s: not a file of the warehouse %s", uri, ice->s3_base) : 0;
	if (!rc)
		rc = ice_fetch(ice, p, err);   /* a new machine: the mirror lacks it */
	if (!rc)
		rc = lk_read_file(p, out, 256u << 20, err);
	return rc;
}

int ice_cat_load(lake *l, ice_tbl *x, json_t **meta, ids_error *err)
{
	char ns[512];
	const char *name;
	cat_names(l->ice, x->loc, ns, sizeof ns, &name);
	ids_buf uri = IDS_BUF_INIT, body = IDS_BUF_INIT;
	*meta = NULL;
	int rc = ledger_ice_get(l->lg, ns, name, &uri, err);
	if (rc == IDS_ENOTFOUND) {   /* not created yet */
		*err = (ids_error)IDS_ERROR_INIT;
		rc = 0;
	} else if (!rc && !(rc = ice_cat_read(l->ice, uri.data, &body, err))) {
		json_error_t je;
		if (!(*meta = json_loadb(body.data, body.len, 0, &je)))
			rc = ids_fail(err, IDS_ECORRUPT, "%s:%d: %s", uri.data, je.line, je.text);
		free(x->uri);
		x->uri = *meta ? strdup(uri.data) : NULL;
		x->version = ice_cat_version(uri.data);
	}
	ids_buf_free(&uri);
	ids_buf_free(&body);
	return rc;
}

int ice_cat_commit(lake *l, ice_tbl *x, const char *mdir, const char *uuid, json_t *meta, ids_error *err)
{
	char *body = ice_meta_text(meta);
	if (!body)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	char path[IDS_PATH_MAX + 1], uri[4900], ns[512];
	const char *name;
	int rc = ids_path(path, sizeof path, err, "%s/v%d-%s.metadata.json", mdir, x->version + 1, uuid);
	if (!rc)
		rc = ice_create_file(path, body, strlen(body), err);
	free(body);
	if (!rc)
		rc = ice_publish(l->ice, path, err);
	if (!rc && ice_uri(l->ice, path, uri, sizeof uri))
		rc = ids_fail(err, IDS_ELIMIT, "%s: path too long", path);
	if (!rc)
		ice_test_kill("cat-put");   /* the metadata is on S3, the state does not name it */
	cat_names(l->ice, x->loc, ns, sizeof ns, &name);
	if (rc) {
		ice_remove(l->ice, path);   /* no row can name it yet */
		return rc;
	}
	if ((rc = ledger_ice_swap(l->lg, ns, name, x->uri, uri, err))) {
		/* an answer lost after the commit: the row names our file after all. When the row
		 * cannot be read the file stays (an orphan at worst: never a row naming a removed
		 * file), and the table is read again before the next commit. */
		ids_buf now = IDS_BUF_INIT;
		ids_error e2 = IDS_ERROR_INIT;
		int got = ledger_ice_get(l->lg, ns, name, &now, &e2);
		if (!got && !strcmp(now.data, uri)) {
			*err = (ids_error)IDS_ERROR_INIT;
			rc = 0;
		} else if (!got) {
			ice_remove(l->ice, path);   /* the row names another file: nobody reads this one */
		}
		if (rc)
			x->reload = 1;
		ids_buf_free(&now);
		if (rc)
			return rc;
	}
	free(x->uri);
	x->uri = strdup(uri);
	return x->uri ? 0 : ids_fail(err, IDS_ENOMEM, "out of memory");
}

/* The served catalog's answers (lake_iceberg_read) from the state's rows. */
int ice_cat_serve(lake *l, const char *db, const char *table, ids_buf *loc, ids_buf *out, ids_error *err)
{
	if (!table) {
		size_t mark = out->len;
		int rc = ledger_ice_list(l->lg, db, out, err);
		if (!rc && db && out->len == mark)
			rc = ids_fail(err, IDS_ENOTFOUND, "no namespace %s", db);
		return rc;
	}
	/* a version can be expired between reading the row and the file: read the row again */
	for (int attempt = 0;; attempt++) {
		ids_buf uri = IDS_BUF_INIT;
		int rc = ledger_ice_get(l->lg, db, table, &uri, err);
		if (rc == IDS_ENOTFOUND)
			ids_fail(err, IDS_ENOTFOUND, "no table %s.%s", db, table);
		size_t mark = out->len;
		if (!rc && (rc = ice_cat_read(l->ice, uri.data, out, err)) == IDS_ENOTFOUND && attempt < 3) {
			out->len = mark;
			ids_buf_free(&uri);
			*err = (ids_error)IDS_ERROR_INIT;
			continue;
		}
		if (!rc) {
			json_error_t je;
			json_t *j = json_loadb(out->data + mark, out->len - mark, 0, &je);
			if (!j)
				rc = ids_fail(err, IDS_ECORRUPT, "%s:%d: %s", uri.data, je.line, je.text);
			json_decref(j);
		}
		if (!rc)
			ids_buf_puts(loc, uri.data);
		ids_buf_free(&uri);
		return rc;
	}
}

/* At start: every table the state's catalog names, so the reconcile with the progress sees
 * all of them. */
int ice_cat_open(lake *l, ids_error *err)
{
	ids_buf nss = IDS_BUF_INIT;
	int rc = ledger_ice_list(l->lg, NULL, &nss, err);
	for (char *ns = nss.data, *nl; !rc && ns && *ns; ns = nl + 1) {
		if (!(nl = strchr(ns, '\n')))
			break;
		*nl = 0;
		ids_buf names = IDS_BUF_INIT;
		rc = ledger_ice_list(l->lg, ns, &names, err);
		for (char *t = names.data, *tl; !rc && t && *t; t = tl + 1) {
			if (!(tl = strchr(t, '\n')))
				break;
			*tl = 0;
			ids_buf uri = IDS_BUF_INIT, body = IDS_BUF_INIT;
			json_t *m = NULL;
			if (!(rc = ledger_ice_get(l->lg, ns, t, &uri, err)) && !(rc = ice_cat_read(l->ice, uri.data, &body, err))) {
				json_error_t je;
				if (!(m = json_loadb(body.data, body.len, 0, &je)))
					rc = ids_fail(err, IDS_ECORRUPT, "%s:%d: %s", uri.data, je.line, je.text);
			}
			json_t *props = json_object_get(m, "properties");
			const char *dbn = json_string_value(json_object_get(props, "idbsync.db"));
			const char *st = json_string_value(json_object_get(props, "idbsync.store"));
			lk_table *lt;
			ice_ent *e;
			if (!rc && dbn && st && !(rc = lk_table_get(l, dbn, st, &lt, err)))
				rc = ice_ent_get(l, lt, &e, err);
			json_decref(m);
			ids_buf_free(&uri);
			ids_buf_free(&body);
		}
		ids_buf_free(&names);
	}
	ids_buf_free(&nss);
	return rc ? ids_wrap(err, "iceberg catalog in the state: "), rc : 0;
}
