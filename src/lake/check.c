/* `idbsync lake check` (include/idbsync/lake_check.h): walks a lake, and per Parquet file applies
 * the file- and schema-level rules of Impala's reader (version, codecs, encodings, types, offsets,
 * by-position column order against the lake's metadata, partition columns); the page-level rules
 * (page headers, dictionaries, levels, encoding_stats, page index, timestamp range) are in
 * check_pages.c. The file is decoded with the project's reader (pq_reader_open_mem over a map). */
#include "idbsync/path.h"
#include "idbsync/str.h"
#include "check_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

const char *const lake_check_rules[] = {
	"unreadable", "version", "codec", "encoding", "type", "offsets", "page-header-size", "page-v2",
	"page-encoding", "level-encoding", "dict-encoding", "dict-first", "dict-bool", "dict-missing",
	"dict-count", "encoding-stats", "page-index", "timestamp-range", "timestamp-utc", "list-levels",
	"column-order", "partition-column", NULL};

void ck_violation(ck_file *f, const char *column, const char *rule, const char *fmt, ...)
{
	f->st->violations++;
	if (!f->n++)
		f->st->files_failed++;
	int max = f->o->max_per_file > 0 ? f->o->max_per_file : 20;
	if (f->n > max + 1)
		return;
	char msg[1024];
	if (f->n == max + 1) {
		snprintf(msg, sizeof msg, "more violations in this file are not shown");
		f->report(f->ctx, f->path, "", "more", msg);
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	f->report(f->ctx, f->path, column ? column : "", rule, msg);
}

/* ---- the table a file belongs to: expected top-level column order ---- */

/* The table dir of a file (dir of the file, or its parent when the dir is <col>=<value>),
 * and the partition column named by the path, if any. */
static void table_dir_of(const char *file, char *dir, size_t dsz, char *part, size_t psz)
{
	part[0] = 0;
	snprintf(dir, dsz, "%s", file);
	char *s = strrchr(dir, '/');
	if (!s) {
		snprintf(dir, dsz, ".");
		return;
	}
	*s = 0;
	char *base = strrchr(dir, '/');
	base = base ? base + 1 : dir;
	char *eq = strchr(base, '=');
	if (eq && eq != base && base != dir) {
		snprintf(part, psz, "%.*s", (int)(eq - base), base);
		base[-1] = 0;
	}
}

/* The lake metadata of table dir td (DIR/D/<name>): D/_idbsync/<t>.json whose table is name,
 * name minus _changes or _conflicts. Fills names (system columns then the user's, the state's
 * partition column left out). Returns the number of names, 0 when no metadata describes it. */
static size_t lake_columns(const char *td, char ***names)
{
	*names = NULL;
	char db[PATH_MAX];
	snprintf(db, sizeof db, "%s", td);
	char *s = strrchr(db, '/');
	if (!s)
		return 0;
	*s = 0;
	const char *tname = s + 1;
	char meta[IDS_PATH_MAX + 1];
	ids_path(meta, sizeof meta, NULL, "%s/_idbsync", db);
	DIR *d = opendir(meta);
	if (!d)
		return 0;
	size_t n = 0;
	struct dirent *e;
	while (!n && (e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (e->d_name[0] == '.' || len < 6 || strcmp(e->d_name + len - 5, ".json"))
			continue;
		char p[IDS_PATH_MAX + 1];
		ids_path(p, sizeof p, NULL, "%s/%s", meta, e->d_name);
		json_t *j = json_load_file(p, 0, NULL);
		const char *t = j ? json_string_value(json_object_get(j, "table")) : NULL;
		size_t tl = t ? strlen(t) : 0;
		lk_table_kind kind;
		if (!t || strncmp(tname, t, tl))
			goto next;
		if (!tname[tl])
			kind = LK_T_STATE;
		else if (!strcmp(tname + tl, "_changes"))
			kind = LK_T_CHANGES;
		else if (!strcmp(tname + tl, "_conflicts"))
			kind = LK_T_CONFLICTS;
		else
			goto next;
		lk_col *cols = NULL;
		size_t nc = 0;
		if (lk_cols_from_json(&cols, &nc, json_object_get(j, "columns"), NULL))
			goto next;
		const char *pf = json_string_value(json_object_get(j, "partition_by"));
		size_t ns;
		const lk_sys *sys = lk_system_cols(kind, &ns);
		char **v = calloc(ns + nc + 1, sizeof *v);
		if (v) {
			for (size_t i = 0; i < ns; i++)
				v[n++] = strdup(sys[i].name);
			for (size_t i = 0; i < nc; i++)
				if (!(kind == LK_T_STATE && pf && !strcmp(cols[i].field, pf)))
					v[n++] = strdup(cols[i].name);
			*names = v;
		}
		lk_cols_free(cols, nc);
	next:
		if (j)
			json_decref(j);
	}
	closedir(d);
	return n;
}

static ck_table *table_for(ck_walk *w, const char *td)
{
	for (ck_table *t = w->tables; t; t = t->next)
		if (!strcmp(t->dir, td))
			return t;
	ck_table *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->dir = strdup(td);
	t->n = lake_columns(td, &t->names);
	t->from_meta = t->n > 0;
	t->next = w->tables;
	w->tables = t;
	return t;
}

static void tables_free(ck_table *t)
{
	while (t) {
		ck_table *n = t->next;
		for (size_t i = 0; i < t->n; i++)
			free(t->names[i]);
		free(t->names);
		free(t->ref_file);
		free(t->dir);
		free(t);
		t = n;
	}
}

static void check_order(ck_file *f, ck_walk *w)
{
	char td[PATH_MAX], part[256];
	table_dir_of(f->path, td, sizeof td, part, sizeof part);
	const pq_node *root = f->meta->schema;
	if (part[0])
		for (size_t i = 0; i < root->n_children; i++)
			if (!strcasecmp(root->children[i]->name, part))
				ck_violation(f, root->children[i]->name, "partition-column",
					     "the file stores the partition column '%s' that its directory %s=... "
					     "also gives (Impala and Hive take it from the path)",
					     part, part);
	ck_table *t = table_for(w, td);
	if (!t)
		return;
	if (!t->n && !part[0])
		return;   /* a plain directory of files, not known to be one table */
	if (!t->n) {
		/* a partitioned table without lake metadata: its first file is the reference */
		t->names = calloc(root->n_children + 1, sizeof *t->names);
		if (!t->names)
			return;
		for (size_t i = 0; i < root->n_children; i++)
			t->names[t->n++] = strdup(root->children[i]->name);
		t->ref_file = strdup(f->path);
		return;
	}
	for (size_t i = 0; i < root->n_children; i++) {
		const char *have = root->children[i]->name;
		if (i >= t->n) {
			if (t->from_meta)
				ck_violation(f, have, "column-order",
					     "column %zu '%s' is not in the table's metadata (%s has %zu columns)", i + 1,
					     have, td, t->n);
			break;
		}
		if (strcasecmp(have, t->names[i])) {
			ck_violation(f, have, "column-order",
				     "column %zu is '%s' where the table has '%s' (%s); Impala resolves Parquet "
				     "columns by position and would read '%s' as '%s'",
				     i + 1, have, t->names[i], t->from_meta ? "the lake's metadata" : t->ref_file, have,
				     t->names[i]);
			break;
		}
	}
}

/* ---- schema: types and lists ---- */

static int is_decimal(const pq_node *n) { return n->logical.kind == PQ_LT_DECIMAL || n->converted == PQ_CT_DECIMAL; }

static void check_node(ck_file *f, const pq_node *n, const char *path)
{
	char p[1024];
	if (n->type == PQ_GROUP) {
		if (n->logical.kind == PQ_LT_LIST || n->converted == PQ_CT_LIST) {
			const pq_node *r = n->n_children == 1 ? n->children[0] : NULL;
			if (!r || r->repetition != PQ_REPEATED || r->type != PQ_GROUP || r->n_children != 1)
				ck_violation(f, path, "list-levels",
					     "LIST is not <name> (LIST) { repeated group list { <element> } }: Impala "
					     "resolves arrays as three-level first and reads this one differently");
		}
		for (size_t i = 0; i < n->n_children; i++) {
			snprintf(p, sizeof p, "%s%s%s", path, path[0] ? "." : "", n->children[i]->name);
			check_node(f, n->children[i], p);
		}
		return;
	}
	if (is_decimal(n)) {
		if (n->logical.precision <= 0 || n->logical.scale < 0 || n->logical.scale > n->logical.precision)
			ck_violation(f, path, "type", "DECIMAL with precision %d and scale %d (Impala needs 1 <= "
				     "precision and 0 <= scale <= precision)", n->logical.precision, n->logical.scale);
		if (n->type == PQ_FIXED_LEN_BYTE_ARRAY && n->type_length <= 0)
			ck_violation(f, path, "type", "DECIMAL FIXED_LEN_BYTE_ARRAY without a positive type_length");
		if (n->type == PQ_BOOLEAN || n->type == PQ_FLOAT || n->type == PQ_DOUBLE || n->type == PQ_INT96)
			ck_violation(f, path, "type", "DECIMAL on %s", pq_type_name(n->type));
	} else if (n->type == PQ_FIXED_LEN_BYTE_ARRAY) {
		ck_violation(f, path, "type", "FIXED_LEN_BYTE_ARRAY(%d) that is not a DECIMAL: Impala has no "
			     "type to read it as", n->type_length);
	}
	if (n->logical.kind == PQ_LT_TIMESTAMP && n->type != PQ_INT64)
		ck_violation(f, path, "type", "TIMESTAMP on %s (Impala: INT96 or INT64)", pq_type_name(n->type));
	if (n->type == PQ_INT64 && n->logical.kind == PQ_LT_TIMESTAMP && n->logical.utc &&
	    f->o->profile == LAKE_CHECK_COMPAT)
		ck_violation(f, path, "timestamp-utc",
			     "INT64 TIMESTAMP(isAdjustedToUTC=true): Impala shows it in the server's local time "
			     "(and Impala < 3.2 cannot read it); compat lakes store INT96");
}

/* ---- chunk-level metadata ---- */

static int codec_ok(pq_codec c, lake_check_profile p)
{
	switch (c) {
	case PQ_CODEC_UNCOMPRESSED: case PQ_CODEC_SNAPPY: case PQ_CODEC_GZIP: return 1;
	case PQ_CODEC_ZSTD: case PQ_CODEC_LZ4: return p != LAKE_CHECK_COMPAT;
	default: return 0;
	}
}

static int encoding_ok(pq_encoding e, lake_check_profile p)
{
	switch (e) {
	case PQ_ENC_PLAIN: case PQ_ENC_PLAIN_DICTIONARY: case PQ_ENC_RLE: case PQ_ENC_BIT_PACKED: return 1;
	case PQ_ENC_RLE_DICTIONARY: return p != LAKE_CHECK_COMPAT;
	default: return 0;
	}
}

static const char *enc_name(int e)
{
	const char *s = e >= 0 && e <= 9 ? pq_encoding_name((pq_encoding)e) : NULL;
	return s ? s : "?";
}

static void check_chunks(ck_file *f)
{
	const pq_file_meta *m = f->meta;
	const char *prof = f->o->profile == LAKE_CHECK_COMPAT ? " (profile compat: Impala 3.x)" : "";
	for (size_t g = 0; g < m->n_row_groups; g++) {
		for (size_t c = 0; c < m->n_columns; c++) {
			const pq_chunk_meta *cm = &m->row_groups[g].chunks[c];
			const pq_column_desc *cd = &m->columns[c];
			if (!cm->has_meta) {
				ck_violation(f, cd->path, "unreadable", "row group %zu: no ColumnMetaData (encrypted?)", g);
				continue;
			}
			if (!codec_ok(cm->codec, f->o->profile))
				ck_violation(f, cd->path, "codec", "row group %zu: codec %s is not read by Impala%s", g,
					     pq_codec_name(cm->codec) ? pq_codec_name(cm->codec) : "?", prof);
			for (size_t e = 0; e < cm->n_encodings; e++)
				if (!encoding_ok(cm->encodings[e], f->o->profile))
					ck_violation(f, cd->path, "encoding", "row group %zu: encoding %s is not read by Impala%s",
						     g, enc_name(cm->encodings[e]), prof);
			if (cm->type != cd->node->type)
				ck_violation(f, cd->path, "type", "row group %zu: chunk type %s but the schema says %s", g,
					     pq_type_name(cm->type), pq_type_name(cd->node->type));
			if (cd->node->type == PQ_BOOLEAN && cm->dictionary_page_offset >= 0)
				ck_violation(f, cd->path, "dict-bool", "row group %zu: BOOLEAN chunk with a dictionary page", g);
			int64_t size = (int64_t)f->size;
			int64_t start = cm->data_page_offset;
			if (start < 0 || start >= size) {
				ck_violation(f, cd->path, "offsets", "row group %zu: data_page_offset %lld outside the file "
					     "(%lld bytes)", g, (long long)start, (long long)size);
				continue;
			}
			if (cm->dictionary_page_offset >= 0) {
				if (cm->dictionary_page_offset >= size) {
					ck_violation(f, cd->path, "offsets", "row group %zu: dictionary_page_offset %lld outside "
						     "the file", g, (long long)cm->dictionary_page_offset);
					continue;
				}
				if (cm->dictionary_page_offset >= start) {
					ck_violation(f, cd->path, "offsets", "row group %zu: dictionary page (offset %lld) must "
						     "come before the data pages (offset %lld)", g,
						     (long long)cm->dictionary_page_offset, (long long)start);
					continue;
				}
				start = cm->dictionary_page_offset;
			}
			int64_t end = start + cm->total_compressed_size;
			if (cm->total_compressed_size < 0 || end <= 0 || end >= size) {
				ck_violation(f, cd->path, "offsets", "row group %zu: chunk [%lld, +%lld) reaches past the "
					     "data (file is %lld bytes)", g, (long long)start,
					     (long long)cm->total_compressed_size, (long long)size);
				continue;
			}
			ck_pages(f, g, c, start, end);
		}
		ck_page_index(f, g);
	}
}

/* ---- one file ---- */

static void check_file(ck_walk *w, const char *path)
{
	ck_file f;
	memset(&f, 0, sizeof f);
	f.path = path;
	f.o = w->o;
	f.report = w->report;
	f.ctx = w->ctx;
	f.st = w->st;
	w->st->files++;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb)) {
		ck_violation(&f, "", "unreadable", "cannot open: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	f.size = (size_t)sb.st_size;
	if (f.size < 12) {
		ck_violation(&f, "", "unreadable", "%zu bytes: too short for a Parquet file", f.size);
		close(fd);
		return;
	}
	void *map = mmap(NULL, f.size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		ck_violation(&f, "", "unreadable", "cannot map: %s", strerror(errno));
		return;
	}
	f.data = map;
	ids_error err = IDS_ERROR_INIT;
	pq_reader *r = NULL;
	if (memcmp(f.data, "PAR1", 4) || memcmp(f.data + f.size - 4, "PAR1", 4)) {
		ck_violation(&f, "", "unreadable", "no PAR1 magic at the start and the end");
	} else if (pq_reader_open_mem(&r, f.data, f.size, path, NULL, &err)) {
		ck_violation(&f, "", "unreadable", "%s", err.msg);
	} else {
		f.reader = r;
		f.meta = pq_reader_meta(r);
		if (f.meta->version > 2)
			ck_violation(&f, "", "version", "file version %d (Impala reads versions 1 and 2)",
				     (int)f.meta->version);
		if (ck_footer_extras(&f, &err))
			ck_violation(&f, "", "unreadable", "%s", err.msg);
		else {
			check_node(&f, f.meta->schema, "");
			check_order(&f, w);
			check_chunks(&f);
			ck_timestamps(&f);
		}
	}
	free(f.extra);
	pq_reader_free(r);
	munmap(map, f.size);
}

static int walk(ck_walk *w, const char *path, int top, ids_error *err)
{
	struct stat sb;
	if (stat(path, &sb))
		return top ? ids_fail(err, errno == ENOENT ? IDS_ENOTFOUND : IDS_EIO, "%s: %s", path, strerror(errno)) : 0;
	if (!S_ISDIR(sb.st_mode)) {
		size_t n = strlen(path);
		if (top || (n > 8 && !strcmp(path + n - 8, ".parquet")))
			check_file(w, path);
		return 0;
	}
	DIR *d = opendir(path);
	if (!d)
		return top ? ids_fail(err, IDS_EIO, "%s: %s", path, strerror(errno)) : 0;
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || e->d_name[0] == '_')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			char **x = realloc(names, cap * sizeof *x);
			if (!x)
				break;
			names = x;
		}
		if (!(names[n] = strdup(e->d_name)))
			break;
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof *names, ids_str_cmp);
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		char p[IDS_PATH_MAX + 1];
		if (!rc)
			rc = ids_path(p, sizeof p, err, "%s%s%s", path, path[strlen(path) - 1] == '/' ? "" : "/", names[i]);
		if (!rc)
			rc = walk(w, p, 0, err);
		free(names[i]);
	}
	free(names);
	return rc;
}

int lake_check_path(const char *path, const lake_check_options *o, lake_check_report report, void *ctx,
		    lake_check_stats *st, ids_error *err)
{
	lake_check_options def = LAKE_CHECK_OPTIONS_INIT;
	ck_walk w = {o ? o : &def, report, ctx, st, NULL};
	int rc = walk(&w, path, 1, err);
	tables_free(w.tables);
	return rc;
}
