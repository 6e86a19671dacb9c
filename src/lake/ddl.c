/* DDL for the engines that read the lake (`idbsync ddl`): CREATE EXTERNAL TABLE for Hive,
 * Impala and Spark, Hive-connector tables for Trino, views plus the dfs workspace for Drill,
 * and the refresh each engine needs after new data lands. Reads only the hidden metadata
 * (DIR/D/_idbsync/<table>.json), so columns, types and order are exactly those of the files. */
#include "iceberg.h"
#include "lake_int.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef enum dialect { D_HIVE, D_IMPALA, D_DRILL, D_TRINO, D_SPARK, D_DUCKDB } dialect;

typedef struct ddl_table {
	char *db, *store, *table, *part_col, *profile;
	int version;
	lk_col *cols;
	size_t n_cols;
	char *part_field;
} ddl_table;

static void sql_type(ids_buf *o, dialect d, const lk_type *t, int profile)
{
	lk_kind k = t ? t->kind : LK_STRING;
	int trino = d == D_TRINO;
	switch (k) {
	case LK_BOOL: ids_buf_puts(o, "BOOLEAN"); return;
	case LK_BIGINT: ids_buf_puts(o, "BIGINT"); return;
	case LK_DOUBLE: ids_buf_puts(o, "DOUBLE"); return;
	case LK_BINARY:
		ids_buf_puts(o, trino || d == D_DRILL ? "VARBINARY" : d == D_IMPALA ? "STRING" : "BINARY");
		return;
	case LK_TIMESTAMP: ids_buf_puts(o, trino ? "TIMESTAMP(3)" : "TIMESTAMP"); return;
	case LK_STRUCT:
		ids_buf_puts(o, trino ? "ROW(" : "STRUCT<");
		for (size_t i = 0; i < t->n_fields; i++) {
			ids_buf_printf(o, "%s%s%s", i ? ", " : "", t->fields[i].name, trino ? " " : ":");
			sql_type(o, d, t->fields[i].type, profile);
		}
		ids_buf_puts(o, trino ? ")" : ">");
		return;
	case LK_LIST:
		ids_buf_puts(o, trino ? "ARRAY(" : "ARRAY<");
		sql_type(o, d, t->elem, profile);
		ids_buf_puts(o, trino ? ")" : ">");
		return;
	default: ids_buf_puts(o, trino || d == D_DRILL ? "VARCHAR" : "STRING"); return;
	}
}

static void table_free(ddl_table *t)
{
	free(t->db);
	free(t->store);
	free(t->table);
	free(t->part_col);
	free(t->part_field);
	free(t->profile);
	lk_cols_free(t->cols, t->n_cols);
}

static int load(const char *path, const char *db, ddl_table *t, ids_error *err)
{
	json_error_t je;
	json_t *j = json_load_file(path, 0, &je);
	if (!j)
		return ids_fail(err, IDS_ECORRUPT, "%s:%d: %s", path, je.line, je.text);
	memset(t, 0, sizeof *t);
	const char *s = json_string_value(json_object_get(j, "store"));
	const char *tn = json_string_value(json_object_get(j, "table"));
	const char *pc = json_string_value(json_object_get(j, "partition_column"));
	const char *pf = json_string_value(json_object_get(j, "partition_by"));
	const char *pr = json_string_value(json_object_get(j, "profile"));
	int rc = 0;
	if (!s || !tn) {
		rc = ids_fail(err, IDS_ECORRUPT, "%s: \"store\" and \"table\" expected", path);
	} else {
		t->db = strdup(db);
		t->store = strdup(s);
		t->table = strdup(tn);
		t->part_col = pc ? strdup(pc) : NULL;
		t->part_field = pf ? strdup(pf) : NULL;
		t->profile = strdup(pr ? pr : "compat");
		t->version = (int)json_integer_value(json_object_get(j, "version"));
		rc = lk_cols_from_json(&t->cols, &t->n_cols, json_object_get(j, "columns"), err);
		if (rc)
			ids_wrap(err, "%s: ", path);
	}
	json_decref(j);
	return rc;
}

static int cmp_table(const void *a, const void *b)
{
	const ddl_table *x = a, *y = b;
	int c = strcmp(x->db, y->db);
	return c ? c : strcmp(x->table, y->table);
}

/* Drill shows a Hive partition directory as dir0 = "<col>=<value escaped>": strip the name and,
 * for a state table's partition column, undo lk_hive_escape (printable characters, %25 last)
 * and map Hive's null partition to NULL, as Hive does. */
static void drill_part(ids_buf *o, const char *col, int unescape)
{
	static const char esc[] = "\"#'*/:=?\\{[]^";
	size_t n = unescape ? strlen(esc) + 1 : 0;
	ids_buf_puts(o, unescape ? "  NULLIF(" : "  ");
	for (size_t i = 0; i < n; i++)
		ids_buf_puts(o, "REGEXP_REPLACE(");
	ids_buf_printf(o, "REGEXP_REPLACE(t.dir0, '^%s=', '')", col);
	for (size_t i = 0; i < n; i++) {
		char c = i < n - 1 ? esc[i] : '%';
		/* SQL doubles a quote; Java's replacement syntax needs a backslash doubled */
		ids_buf_printf(o, ", '%%%02X', '%s')", (unsigned char)c,
			       c == '\'' ? "''" : c == '\\' ? "\\\\" : (char[]){c, 0});
	}
	if (unescape)
		ids_buf_puts(o, ", '__HIVE_DEFAULT_PARTITION__')");
	ids_buf_printf(o, " AS `%s`\n", col);
}

/* One table of a kind: its columns (system first, then the user's) in file order. */
static void columns(ids_buf *o, dialect d, const ddl_table *t, lk_table_kind kind, int profile, const char *part)
{
	size_t ns;
	const lk_sys *sys = lk_system_cols(kind, &ns);
	size_t total = 0, i;
	for (i = 0; i < t->n_cols; i++)
		if (!(kind == LK_T_STATE && t->part_field && !strcmp(t->cols[i].field, t->part_field)))
			total++;
	total += ns;
	int part_inline = part && (d == D_TRINO || d == D_SPARK);
	size_t at = 0;
	for (i = 0; i < ns + t->n_cols; i++) {
		const char *name;
		lk_type st = {LK_NULL, NULL, 0, NULL};
		const lk_type *ty;
		if (i < ns) {
			name = sys[i].name;
			st.kind = sys[i].kind;
			ty = &st;
		} else {
			const lk_col *c = &t->cols[i - ns];
			if (kind == LK_T_STATE && t->part_field && !strcmp(c->field, t->part_field))
				continue;
			name = c->name;
			ty = c->type;
		}
		at++;
		int last = at == total && !part_inline;
		if (d == D_DRILL) {
			if (ty && (ty->kind == LK_STRUCT || ty->kind == LK_LIST))
				ids_buf_printf(o, "  t.`%s` AS `%s`", name, name);
			else {
				ids_buf_printf(o, "  CAST(t.`%s` AS ", name);
				sql_type(o, d, ty, profile);
				ids_buf_printf(o, ") AS `%s`", name);
			}
		} else {
			ids_buf_printf(o, "  %s ", name);
			sql_type(o, d, ty, profile);
		}
		ids_buf_puts(o, last && !(d == D_DRILL && part) ? "\n" : ",\n");
	}
	if (part_inline)
		ids_buf_printf(o, "  %s %s\n", part, d == D_TRINO ? "VARCHAR" : "STRING");
	if (d == D_DRILL && part)
		drill_part(o, part, kind == LK_T_STATE);
}

static int table_dir_exists(const char *abs, const char *db, const char *name)
{
	char p[IDS_PATH_MAX + 1];
	ids_path(p, sizeof p, NULL, "%s/%s/%s", abs, db, name);
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* root/db/name exists (a table dir with files, or at least made) */
static int lk_exists_under(const char *root, const char *db, const char *name)
{
	char p[IDS_PATH_MAX + 1];
	ids_path(p, sizeof p, NULL, "%s/%s/%s", root, db, name);
	return lk_exists(p);
}

static void one(ids_buf *o, dialect d, const ddl_table *t, lk_table_kind kind, const lake_ddl_options *opt,
		const char *loc, const char *abs)
{
	static const char *const sfx[] = {"", "_changes", "_conflicts"};
	char db[128], name[200];
	lk_sanitize(t->db, db, sizeof db);
	snprintf(name, sizeof name, "%s%s", t->table, sfx[kind]);
	const char *part = kind == LK_T_CHANGES ? "dt" : kind == LK_T_STATE ? t->part_col : NULL;
	int profile = !strcmp(t->profile, "modern") ? PQ_PROFILE_MODERN : PQ_PROFILE_COMPAT;
	const char *what = kind == LK_T_STATE ? "current state" : kind == LK_T_CHANGES ? "change log" : "conflicts";
	ids_buf_printf(o, "-- %s of store \"%s\" (database \"%s\", schema version %d)\n", what, t->store, t->db,
		       t->version);
	const char *ws = opt->drill_workspace ? opt->drill_workspace : "dfs.lake";
	switch (d) {
	case D_HIVE:
	case D_IMPALA:
	case D_SPARK:
		if (d == D_SPARK)
			ids_buf_printf(o, "CREATE TABLE IF NOT EXISTS %s.%s (\n", db, name);
		else
			ids_buf_printf(o, "CREATE EXTERNAL TABLE IF NOT EXISTS %s.%s (\n", db, name);
		columns(o, d, t, kind, profile, part);
		if (d == D_SPARK) {
			ids_buf_puts(o, ")\nUSING PARQUET\n");
			if (part)
				ids_buf_printf(o, "PARTITIONED BY (%s)\n", part);
		} else {
			ids_buf_puts(o, ")\n");
			if (part)
				ids_buf_printf(o, "PARTITIONED BY (%s STRING)\n", part);
			ids_buf_puts(o, "STORED AS PARQUET\n");
		}
		ids_buf_printf(o, "LOCATION '%s/%s/%s';\n", loc, t->db, name);
		break;
	case D_TRINO:
		ids_buf_printf(o, "CREATE TABLE IF NOT EXISTS hive.%s.%s (\n", db, name);
		columns(o, d, t, kind, profile, part);
		ids_buf_printf(o, ")\nWITH (\n  external_location = '%s/%s/%s',\n  format = 'PARQUET'%s", loc, t->db, name,
			       part ? ",\n  partitioned_by = ARRAY['" : "\n");
		if (part)
			ids_buf_printf(o, "%s']\n", part);
		ids_buf_puts(o, ");\n");
		break;
	case D_DRILL:
		if (!table_dir_exists(abs, t->db, name)) {
			/* Drill refuses a view over a directory that does not exist (yet) */
			ids_buf_printf(o, "-- no directory %s/%s yet (nothing written): run idbsync ddl again once it exists\n\n",
				       t->db, name);
			return;
		}
		ids_buf_printf(o, "CREATE OR REPLACE VIEW dfs.tmp.`%s_%s` AS SELECT\n", db, name);
		columns(o, d, t, kind, profile, part);
		ids_buf_printf(o, "FROM %s.`%s/%s` t;\n", ws, t->db, name);
		break;
	case D_DUCKDB:
		/* read_parquet lists the files at every query: no refresh; union_by_name reads the
		 * change log's files of older schema versions; partition values stay text, as in the
		 * other dialects. A view is bound when made, so a table without files yet has none. */
		if (!opt->location && !lk_exists_under(loc + 7, t->db, name)) {
			ids_buf_printf(o, "-- no files yet: run this again after the first %s lands\n", what);
			break;
		}
		ids_buf_printf(o, "CREATE OR REPLACE VIEW %s.%s AS SELECT * FROM read_parquet('%s/%s/%s/**/*.parquet',\n"
				  "  hive_partitioning = %s, hive_types_autocast = false, union_by_name = true);\n",
			       db, name, opt->location ? loc : loc + 7, t->db, name, part ? "true" : "false");
		break;
	}
	ids_buf_putc(o, '\n');
}

static void refresh(ids_buf *o, dialect d, const ddl_table *t, const lake_ddl_options *opt, const char *abs)
{
	static const char *const sfx[] = {"", "_changes", "_conflicts"};
	char db[128];
	lk_sanitize(t->db, db, sizeof db);
	const char *ws = opt->drill_workspace ? opt->drill_workspace : "dfs.lake";
	for (int k = 0; k < 3; k++) {
		int parted = k == 1 || (k == 0 && t->part_col);
		const char *n = t->table, *s = sfx[k];
		switch (d) {
		case D_HIVE:
			if (parted)
				ids_buf_printf(o, "MSCK REPAIR TABLE %s.%s%s;\n", db, n, s);
			break;
		case D_IMPALA:
			if (parted)
				ids_buf_printf(o, "ALTER TABLE %s.%s%s RECOVER PARTITIONS;\n", db, n, s);
			ids_buf_printf(o, "REFRESH %s.%s%s;\n", db, n, s);
			break;
		case D_SPARK:
			if (parted)
				ids_buf_printf(o, "MSCK REPAIR TABLE %s.%s%s;\n", db, n, s);
			ids_buf_printf(o, "REFRESH TABLE %s.%s%s;\n", db, n, s);
			break;
		case D_TRINO:
			if (parted)
				ids_buf_printf(o, "CALL hive.system.sync_partition_metadata('%s', '%s%s', 'FULL');\n", db, n, s);
			break;
		case D_DRILL: {
			char tn[300];
			snprintf(tn, sizeof tn, "%s%s", n, s);
			if (table_dir_exists(abs, t->db, tn))
				ids_buf_printf(o, "REFRESH TABLE METADATA %s.`%s/%s`;\n", ws, t->db, tn);
			break;
		case D_DUCKDB:
			break;   /* read_parquet lists the files at every query */
		}
		}
	}
}

int lake_ddl(ids_buf *out, const lake_ddl_options *o, ids_error *err)
{
	dialect d;
	const char *dl = o->dialect ? o->dialect : "";
	char abs[PATH_MAX], loc[PATH_MAX + 16];
	if (o->dir && realpath(o->dir, abs) && lk_ice_ddl_applies(abs, dl))
		return lk_ice_ddl(out, o, abs, err);   /* --lake-format iceberg: attach those */
	if (!strcmp(dl, "hive")) d = D_HIVE;
	else if (!strcmp(dl, "impala")) d = D_IMPALA;
	else if (!strcmp(dl, "drill")) d = D_DRILL;
	else if (!strcmp(dl, "trino")) d = D_TRINO;
	else if (!strcmp(dl, "spark")) d = D_SPARK;
	else if (!strcmp(dl, "duckdb")) d = D_DUCKDB;
	else return ids_fail(err, IDS_EINVAL, "--dialect: expected hive, impala, drill, trino, spark or duckdb, got \"%s\"", dl);
	if (!realpath(o->dir, abs))
		return ids_fail(err, IDS_ENOTFOUND, "lake %s: %m", o->dir);
	if (o->location) {
		snprintf(loc, sizeof loc, "%s", o->location);
		size_t n = strlen(loc);
		while (n > 1 && loc[n - 1] == '/')
			loc[--n] = 0;
	} else {
		/* Trino reads local paths through its native local file system (local://, with
		 * fs.native-local.enabled=true and local.location=/); over file:// Trino 476 finds
		 * no files and returns no rows, without an error (measured, tests/engines/test_trino.py) */
		snprintf(loc, sizeof loc, "%s://%s", d == D_TRINO ? "local" : "file", abs);
	}
	ddl_table *ts = NULL;
	size_t nt = 0;
	int rc = 0;
	DIR *root = opendir(abs);
	struct dirent *e;
	while (!rc && root && (e = readdir(root))) {
		if (e->d_name[0] == '.' || e->d_name[0] == '_' || (o->db && strcmp(o->db, e->d_name)))
			continue;
		char meta[IDS_PATH_MAX + 1];
		DIR *md = ids_path(meta, sizeof meta, NULL, "%s/%s/_idbsync", abs, e->d_name) ? NULL : opendir(meta);
		struct dirent *f;
		while (!rc && md && (f = readdir(md))) {
			size_t n = strlen(f->d_name);
			if (f->d_name[0] == '.' || n < 6 || strcmp(f->d_name + n - 5, ".json"))
				continue;
			char p[IDS_PATH_MAX + 1];
			ddl_table t;
			if ((rc = ids_path(p, sizeof p, err, "%s/%s", meta, f->d_name)) || (rc = load(p, e->d_name, &t, err)))
				break;
			if (o->store && strcmp(o->store, t.store) && strcmp(o->store, t.table)) {
				table_free(&t);
				continue;
			}
			ddl_table *x = realloc(ts, (nt + 1) * sizeof *x);
			if (!x) {
				table_free(&t);
				rc = ids_fail(err, IDS_ENOMEM, "out of memory");
				break;
			}
			ts = x;
			ts[nt++] = t;
		}
		if (md)
			closedir(md);
	}
	if (root)
		closedir(root);
	if (!rc && !nt)
		rc = ids_fail(err, IDS_ENOTFOUND, "no lake tables under %s%s%s%s%s", abs, o->db ? " for database " : "",
			      o->db ? o->db : "", o->store ? " and store " : "", o->store ? o->store : "");
	if (!rc) {
		qsort(ts, nt, sizeof *ts, cmp_table);
		ids_buf_printf(out, "-- idbsync lake %s, dialect %s\n", abs, dl);
		if (d == D_TRINO && !o->location)
			ids_buf_puts(out, "-- Trino: a Hive catalog with fs.native-local.enabled=true and local.location=/ reads these\n"
					  "-- local:// locations (over file:// it finds no rows); --location for HDFS or S3\n");
		if (d == D_DRILL) {
			ids_buf_printf(out,
				       "-- Drill: add this workspace to the dfs storage plugin (Storage > dfs > Update):\n"
				       "-- \"workspaces\": {\"%s\": {\"location\": \"%s\", \"writable\": false,"
				       " \"defaultInputFormat\": \"parquet\", \"allowAccessOutsideWorkspace\": false}}\n",
				       strchr(o->drill_workspace ? o->drill_workspace : "dfs.lake", '.') + 1,
				       o->location ? loc : abs);
			/* SYSTEM, not SESSION: every REST query (idbsync serve --drill-url's too) runs in a
			 * session of its own, and the views below need it wherever they are queried from. */
			if (!strcmp(ts[0].profile, "compat"))
				ids_buf_puts(out, "-- compat lakes store timestamps as INT96; the views and REST queries need:\n"
						  "ALTER SYSTEM SET `store.parquet.reader.int96_as_timestamp` = true;\n");
		}
		ids_buf_putc(out, '\n');
		const char *last_db = "";
		for (size_t i = 0; i < nt; i++) {
			if (strcmp(last_db, ts[i].db) && d != D_DRILL) {
				char db[128];
				lk_sanitize(ts[i].db, db, sizeof db);
				if (d == D_TRINO)
					ids_buf_printf(out, "CREATE SCHEMA IF NOT EXISTS hive.%s;\n\n", db);
				else if (d == D_DUCKDB)
					ids_buf_printf(out, "CREATE SCHEMA IF NOT EXISTS %s;\n\n", db);
				else
					ids_buf_printf(out, "CREATE DATABASE IF NOT EXISTS %s;\n\n", db);
			}
			last_db = ts[i].db;
			for (int k = 0; k < 3; k++)
				one(out, d, &ts[i], (lk_table_kind)k, o, loc, abs);
		}
		ids_buf_puts(out, "-- after new data lands (idbsync serve --on-flush can run these):\n");
		for (size_t i = 0; i < nt; i++)
			refresh(out, d, &ts[i], o, abs);
	}
	for (size_t i = 0; i < nt; i++)
		table_free(&ts[i]);
	free(ts);
	if (!rc && out->failed)
		rc = ids_fail(err, IDS_ENOMEM, "DDL: out of memory");
	return rc;
}
