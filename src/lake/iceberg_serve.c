/* The read side of the Iceberg REST catalog that the server answers at /iceberg/v1/ (through
 * server_hooks; route_iceberg.c builds the REST bodies): the namespaces, tables and committed
 * metadata of the file-system catalog under DIR/_iceberg, read from disk on every request, so
 * it needs no lock with the flush thread. Only committed files are read: the version
 * version-hint.text names, or a later vN.metadata.json (each is created whole by link(2), the
 * commit; docs/iceberg.md, "Commit and crash safety"). docs/iceberg.md, "The served catalog".
 * With an S3 warehouse it also vends the lake's S3 keys to readers that ask (the route decides
 * who may; docs/iceberg.md, "Credential vending"). */
#include "iceberg.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A name the catalog may join into a path: no separator, not "." / ".." / hidden. */
static int name_ok(const char *s)
{
	size_t n = strlen(s);
	return n > 0 && n <= 255 && s[0] != '.' && s[0] != '_' && !strpbrk(s, "/\n");
}

/* N of the newest committed metadata of the table at loc, or 0 when it has none yet. */
static int committed_version(const char *loc)
{
	char p[IDS_PATH_MAX + 1];
	int v = 0;
	FILE *f = ids_path(p, sizeof p, NULL, "%s/metadata/version-hint.text", loc) ? NULL : fopen(p, "r");
	if (f) {
		if (fscanf(f, "%d", &v) != 1 || v < 0)
			v = 0;
		fclose(f);
	}
	/* the hint is written after the commit: a newer version may exist (readers probe on) */
	for (;;) {
		struct stat st;
		if (ids_path(p, sizeof p, NULL, "%s/metadata/v%d.metadata.json", loc, v + 1) || stat(p, &st))
			break;
		v++;
	}
	if (v > 0)
		return v;
	/* no hint (a crash between the first commit and its hint): the newest vN there is */
	return ice_latest_version(loc);
}

/* Appends the names of the directories under dir (tables: only those with a committed
 * version), one a line, in the directory's order: the route sorts every list it answers
 * (route_iceberg.c, for its page tokens), whatever the hook's source. */
static int list_dir(const char *dir, int tables, ids_buf *out, ids_error *err)
{
	DIR *d = opendir(dir);
	if (!d)
		return ids_fail(err, errno == ENOENT ? IDS_ENOTFOUND : IDS_EIO, "%s: %s", dir, strerror(errno));
	struct dirent *de;
	while ((de = readdir(d))) {
		char p[IDS_PATH_MAX + 1];
		struct stat st;
		if (!name_ok(de->d_name) || ids_path(p, sizeof p, NULL, "%s/%s", dir, de->d_name) ||
		    stat(p, &st) || !S_ISDIR(st.st_mode) || (tables && !committed_version(p)))
			continue;
		ids_buf_printf(out, "%s\n", de->d_name);
	}
	closedir(d);
	return out->failed ? ids_fail(err, out->failed, "listing %s: out of memory", dir) : 0;
}

int lake_iceberg_read(lake *l, const char *db, const char *table, ids_buf *loc, ids_buf *out, ids_error *err)
{
	if (!l->ice)
		return ids_fail(err, IDS_ENOTFOUND, "the lake writes no Iceberg tables (--lake-format iceberg)");
	if (l->o.iceberg_rest)
		return ids_fail(err, IDS_ENOTFOUND,
				"the lake's Iceberg tables are in the REST catalog at %s: attach engines there",
				l->o.iceberg_rest);
	if (ice_cat_mode(l)) {
		if ((db && !name_ok(db)) || (table && !name_ok(table)))
			return ids_fail(err, IDS_ENOTFOUND, "no %s %s", table ? "table" : "namespace", table ? table : db);
		return ice_cat_serve(l, db, table, loc, out, err);
	}
	const char *root = l->ice->root; /* set at lake_open, never changed */
	if (!db)
		return list_dir(root, 0, out, err);
	if (!name_ok(db))
		return ids_fail(err, IDS_ENOTFOUND, "no namespace %s", db);
	char dir[4600];
	if (ids_path(dir, sizeof dir, err, "%s/%s", root, db))
		return err->code;
	if (!table) {
		int rc = list_dir(dir, 1, out, err);
		if (rc == IDS_ENOTFOUND)
			ids_fail(err, IDS_ENOTFOUND, "no namespace %s", db);
		return rc;
	}
	char tdir[4600], meta[4700], uri[4800];
	if (!name_ok(table) || ids_path(tdir, sizeof tdir, err, "%s/%s", dir, table))
		return ids_fail(err, IDS_ENOTFOUND, "no table %s.%s", db, table);
	/* a version can be expired between finding and reading it (another commit): try again */
	for (int attempt = 0;; attempt++) {
		int v = committed_version(tdir);
		if (!v)
			return ids_fail(err, IDS_ENOTFOUND, "no table %s.%s", db, table);
		if (ids_path(meta, sizeof meta, err, "%s/metadata/v%d.metadata.json", tdir, v) ||
		    ice_uri(l->ice, meta, uri, sizeof uri))
			return ids_fail(err, IDS_ELIMIT, "path of table %s.%s too long", db, table);
		size_t mark = out->len;
		int rc = lk_read_file(meta, out, 256u << 20, err);
		if (rc == IDS_ENOTFOUND && attempt < 3) {
			out->len = mark;
			continue;
		}
		if (rc)
			return rc;
		json_error_t je;
		json_t *j = json_loadb(out->data + mark, out->len - mark, 0, &je);
		if (!j)
			return ids_fail(err, IDS_ECORRUPT, "%s:%d: %s", meta, je.line, je.text);
		json_decref(j);
		ids_buf_puts(loc, uri);
		return 0;
	}
}

int ice_vend_init(lake *l, ids_error *err)
{
	if (l->o.iceberg_rest)
		return ids_fail(err, IDS_EINVAL,
				"--iceberg-vend-credentials: with --iceberg-rest idbsync serves no catalog (engines attach to "
				"the REST catalog, which vends credentials itself or not)");
	if (!l->o.iceberg_warehouse)
		return ids_fail(err, IDS_EINVAL,
				"--iceberg-vend-credentials needs --iceberg-warehouse s3://...: the tables' files are local "
				"paths, there are no credentials to vend");
	/* what the lake's own S3 client signs with (s3_open resolved the keys and the region) */
	s3_access a;
	s3_get_access(l->ice->s3, &a);
	json_t *cfg = json_pack("{ssssssssss}", "s3.endpoint", a.endpoint, "s3.region", a.region,
				"s3.path-style-access", "true", "s3.access-key-id", a.access_key,
				"s3.secret-access-key", a.secret_key);
	/* both places the spec has: config (pyiceberg reads it) and storage-credentials, by prefix
	 * (Iceberg's Java client prefers it) */
	json_t *v = cfg ? json_pack("{sOs[{ssso}]}", "config", cfg, "storage-credentials", "prefix", l->o.iceberg_warehouse,
				    "config", cfg)
			: NULL;
	char *text = v ? json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(v);
	if (!text)
		return ids_fail(err, IDS_ENOMEM, "--iceberg-vend-credentials: out of memory");
	/* the members without the object's braces: the route puts them into its answer */
	size_t n = strlen(text);
	memmove(text, text + 1, n - 2);
	text[n - 2] = 0;
	l->ice->vend = text;
	return 0;
}

int lake_iceberg_vend(lake *l, ids_buf *out, ids_error *err)
{
	if (!l->ice || !l->ice->vend)
		return ids_fail(err, IDS_ENOTFOUND, "the lake vends no credentials (--iceberg-vend-credentials)");
	return ids_buf_puts(out, l->ice->vend) ? ids_fail(err, IDS_ELIMIT, "out of memory") : 0;
}
