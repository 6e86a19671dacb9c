/* POST /v1/admin/db/{db}/import?store=S[&key=F][&mode=upsert|replace][&user_column=C][&client=ID]
 * The body (spooled to disk by http.c) is one Parquet file, or several framed as an idbsync
 * bundle ("IDSBUNDL" then, per file, an 8-byte big-endian length and the bytes) so a replace
 * can span files. The import runs here, in-process, exactly as `idbsync import --data` would. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "idbsync/import.h"
#include "server_int.h"

/* Splits a bundle into temp files next to it; returns how many (paths in out). */
static int split_bundle(const char *path, char ***out, size_t *n, ids_error *err)
{
	FILE *f = fopen(path, "rb");
	char magic[8];
	*out = NULL;
	*n = 0;
	if (!f)
		return ids_fail(err, IDS_EIO, "cannot read the upload");
	if (fread(magic, 1, 8, f) != 8 || memcmp(magic, "IDSBUNDL", 8)) {
		fclose(f);
		/* a plain Parquet file */
		*out = calloc(1, sizeof **out);
		if (!*out)
			return ids_fail(err, IDS_ENOMEM, "out of memory");
		(*out)[0] = strdup(path);
		*n = 1;
		return 0;
	}
	int rc = 0;
	unsigned char lenb[8];
	while (!rc && fread(lenb, 1, 8, f) == 8) {
		uint64_t len = 0;
		for (int i = 0; i < 8; i++)
			len = len << 8 | lenb[i];
		char tmpl[4200];
		snprintf(tmpl, sizeof tmpl, "%s-part%zu", path, *n);
		FILE *o = fopen(tmpl, "wb");
		char **grown = realloc(*out, (*n + 1) * sizeof **out);
		if (!o || !grown) {
			if (o)
				fclose(o);
			if (grown)
				*out = grown;
			rc = ids_fail(err, IDS_EIO, "cannot split the upload");
			break;
		}
		*out = grown;
		(*out)[(*n)++] = strdup(tmpl);
		char buf[65536];
		while (len > 0) {
			size_t want = len < sizeof buf ? (size_t)len : sizeof buf;
			size_t got = fread(buf, 1, want, f);
			if (got != want || fwrite(buf, 1, got, o) != got) {
				rc = ids_fail(err, IDS_EINVAL, "bundle: file %zu is truncated", *n);
				break;
			}
			len -= got;
		}
		fclose(o);
	}
	fclose(f);
	return rc;
}

void route_import(server *s, http_req *req, http_resp *resp, const char *db)
{
	ids_error err = IDS_ERROR_INIT;
	if (!req->body_file) {
		resp_error_status(resp, 400, "invalid", "imports need the server's --data directory for uploads");
		return;
	}
	imp_options o = IMP_OPTIONS_INIT;
	o.db = db;
	o.store = req_query(req, "store");
	const char *key = req_query(req, "key"), *mode = req_query(req, "mode");
	if (key)
		o.key_field = key;
	o.user_column = req_query(req, "user_column");
	o.client = req_query(req, "client");
	if (mode && !strcmp(mode, "replace"))
		o.mode = IMP_REPLACE;
	else if (mode && strcmp(mode, "upsert")) {
		resp_error_status(resp, 400, "invalid", "mode must be upsert or replace");
		return;
	}
	if (!o.store || !o.store[0]) {
		resp_error_status(resp, 400, "invalid", "query parameter store (the object store to import into) is required");
		return;
	}
	if (o.client && !ids_id_valid(o.client, strlen(o.client))) {
		resp_error_status(resp, 400, "invalid", "query parameter client: 1-256 printable ASCII characters");
		return;
	}
	char **files = NULL;
	size_t n = 0;
	int rc = split_bundle(req->body_file, &files, &n, &err);
	imp_summary sum;
	if (!rc)
		rc = imp_files(s->st, &o, (const char *const *)files, n, &sum, &err);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(files[i], req->body_file))
			unlink(files[i]);
		free(files[i]);
	}
	free(files);
	if (rc) {
		/* unreadable Parquet is the caller's input problem, not a server fault */
		resp_error(resp, rc == IDS_ECORRUPT ? IDS_EINVAL : rc, err.msg);
		return;
	}
	ids_buf_printf(&resp->body,
		       "{\"files\":%lld,\"rows\":%lld,\"puts\":%lld,\"deletes\":%lld,\"replaced\":%lld,\"duplicates\":%lld,"
		       "\"conflicts\":%lld,\"cursor\":%lld}",
		       (long long)sum.files, (long long)sum.rows, (long long)sum.puts, (long long)sum.deletes,
		       (long long)sum.replaced, (long long)sum.duplicates, (long long)sum.conflicts,
		       (long long)store_head(s->st));
	resp->status = 200;
}
