/* Lake tables: one per (database, object store), named by a sanitized, collision-free
 * identifier. Its schema (columns, field-name mapping, history) lives in the hidden metadata
 * file DIR/D/_idbsync/<table>.json; this file loads and saves it, grows it from observed values
 * and turns values into rows for the Parquet writer. */
#include "iceberg.h"
#include "lake_int.h"

#include "idbsync/json.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idbsync/value.h"

static const lk_sys sys_state[] = {
	{"idb_key", LK_STRING}, {"idb_user", LK_STRING}, {"idb_seq", LK_BIGINT}, {"idb_hlc", LK_STRING},
};
static const lk_sys sys_changes[] = {
	{"idb_seq", LK_BIGINT}, {"idb_op", LK_STRING}, {"idb_deleted", LK_BOOL}, {"idb_key", LK_STRING},
	{"idb_user", LK_STRING}, {"idb_client", LK_STRING}, {"idb_mid", LK_BIGINT}, {"idb_hlc", LK_STRING},
	{"idb_ts", LK_TIMESTAMP}, {"idb_origin", LK_STRING},
};
static const lk_sys sys_conflicts[] = {
	{"idb_id", LK_BIGINT}, {"idb_key", LK_STRING}, {"idb_user", LK_STRING}, {"idb_client", LK_STRING},
	{"idb_mid", LK_BIGINT}, {"idb_op", LK_STRING}, {"idb_hlc", LK_STRING}, {"idb_rule", LK_STRING},
	{"idb_reason", LK_STRING}, {"idb_winner_seq", LK_BIGINT}, {"idb_winner_hlc", LK_STRING},
	{"idb_ts", LK_TIMESTAMP},
};

const char *const lk_reserved_cols[] = {
	"idb_key", "idb_user", "idb_seq", "idb_hlc", "idb_op", "idb_deleted", "idb_client", "idb_mid",
	"idb_ts", "idb_origin", "idb_id", "idb_rule", "idb_reason", "idb_winner_seq", "idb_winner_hlc",
	"dt", NULL,
};

const lk_sys *lk_system_cols(lk_table_kind k, size_t *n)
{
	if (k == LK_T_CHANGES) {
		*n = sizeof sys_changes / sizeof sys_changes[0];
		return sys_changes;
	}
	if (k == LK_T_CONFLICTS) {
		*n = sizeof sys_conflicts / sizeof sys_conflicts[0];
		return sys_conflicts;
	}
	*n = sizeof sys_state / sizeof sys_state[0];
	return sys_state;
}

void lk_db_meta(lake *l, const char *db, char *out, size_t sz) { ids_path(out, sz, NULL, "%s/%s/_idbsync", l->dir, db); }

int lk_stage_dir(lake *l, const char *db, char *out, size_t sz, ids_error *err)
{
	ids_path(out, sz, NULL, "%s/%s/_idbsync/tmp", l->dir, db);
	return ids_mkdirs(out, err);
}

void lk_table_dir(lake *l, const lk_table *t, const char *suffix, char *out, size_t sz)
{
	ids_path(out, sz, NULL, "%s/%s/%s%s", l->dir, t->db, t->table, suffix ? suffix : "");
}

static void table_free(lk_table *t)
{
	free(t->db);
	free(t->store);
	free(t->part_field);
	lk_cols_free(t->cols, t->n_cols);
	json_decref(t->history);
	free(t->dirty);
	free(t->deltas);
	ids_buf_free(&t->rkeys);
	free(t);
}

void lk_tables_free(lake *l)
{
	while (l->tables) {
		lk_table *n = l->tables->next;
		lk_feed_drop(l, l->tables);
		table_free(l->tables);
		l->tables = n;
	}
}

static int load_table(lake *l, const char *db, const char *path, ids_error *err)
{
	ids_buf b = IDS_BUF_INIT;
	int rc = lk_read_file(path, &b, 64u << 20, err);
	if (rc) {
		ids_buf_free(&b);
		return rc;
	}
	json_error_t je;
	json_t *j = json_loadb(b.data, b.len, 0, &je);
	ids_buf_free(&b);
	if (!j)
		return ids_fail(err, IDS_ECORRUPT, "%s:%d: %s", path, je.line, je.text);
	lk_table *t = calloc(1, sizeof *t);
	const char *store_name = json_string_value(json_object_get(j, "store"));
	const char *table = json_string_value(json_object_get(j, "table"));
	if (!t || !store_name || !table) {
		free(t);
		json_decref(j);
		return ids_fail(err, IDS_ECORRUPT, "%s: \"store\" and \"table\" expected", path);
	}
	t->db = strdup(db);
	t->store = strdup(store_name);
	snprintf(t->table, sizeof t->table, "%s", table);
	const char *pf = json_string_value(json_object_get(j, "partition_by"));
	if (pf) {
		t->part_field = strdup(pf);
		snprintf(t->part_col, sizeof t->part_col, "%s",
			 json_string_value(json_object_get(j, "partition_column")) ?: "part");
	}
	t->bucket_bytes = json_integer_value(json_object_get(j, "bucket_bytes"));
	t->version = (int)json_integer_value(json_object_get(j, "version"));
	t->history = json_incref(json_object_get(j, "history"));
	if (!t->history)
		t->history = json_array();
	t->k = -1;
	t->upto = -1;
	rc = lk_cols_from_json(&t->cols, &t->n_cols, json_object_get(j, "columns"), err);
	json_decref(j);
	if (rc) {
		table_free(t);
		return ids_wrap(err, "%s: ", path), rc;
	}
	t->next = l->tables;
	l->tables = t;
	return 0;
}

/* Loads every table of db once (the first time db is seen). */
static int load_db(lake *l, const char *db, ids_error *err)
{
	for (lk_table *t = l->tables; t; t = t->next)
		if (!strcmp(t->db, db))
			return 0;
	char dir[IDS_PATH_MAX + 1];
	lk_db_meta(l, db, dir, sizeof dir);
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	struct dirent *e;
	int rc = 0;
	while (!rc && (e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (n < 6 || strcmp(e->d_name + n - 5, ".json") || e->d_name[0] == '.')
			continue;
		char p[IDS_PATH_MAX + 1];
		ids_path(p, sizeof p, NULL, "%s/%s", dir, e->d_name);
		rc = load_table(l, db, p, err);
	}
	closedir(d);
	return rc;
}

typedef struct tname_ctx {
	lake *l;
	const char *db;
} tname_ctx;

static int table_name_taken(void *ctx, const char *n)
{
	tname_ctx *c = ctx;
	static const char *const sfx[] = {"", "_changes", "_conflicts"};
	for (lk_table *t = c->l->tables; t; t = t->next) {
		if (strcmp(t->db, c->db))
			continue;
		for (int i = 0; i < 3; i++)
			for (int j = 0; j < 3; j++) {
				char a[160], b[160];
				snprintf(a, sizeof a, "%s%s", t->table, sfx[i]);
				snprintf(b, sizeof b, "%s%s", n, sfx[j]);
				if (!strcmp(a, b))
					return 1;
			}
	}
	return 0;
}

static const lk_store_cfg *store_cfg(lake *l, const char *db, const char *store_name)
{
	char full[400];
	snprintf(full, sizeof full, "%s/%s", db, store_name);
	for (size_t i = 0; i < l->n_cfg; i++)
		if (!strcmp(l->cfg[i].match, full))
			return &l->cfg[i];
	for (size_t i = 0; i < l->n_cfg; i++)
		if (!strcmp(l->cfg[i].match, store_name))
			return &l->cfg[i];
	return NULL;
}

int lk_table_get(lake *l, const char *db, const char *store_name, lk_table **out, ids_error *err)
{
	int rc = load_db(l, db, err);
	if (rc)
		return rc;
	for (lk_table *t = l->tables; t; t = t->next)
		if (!strcmp(t->db, db) && !strcmp(t->store, store_name)) {
			*out = t;
			return 0;
		}
	lk_table *t = calloc(1, sizeof *t);
	if (!t)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	t->db = strdup(db);
	t->store = strdup(store_name);
	t->version = 1;
	t->k = -1;
	t->upto = -1;
	t->history = json_array();
	lk_sanitize(store_name, t->table, sizeof t->table);
	tname_ctx tc = {l, db};
	lk_unique(t->table, sizeof t->table, table_name_taken, &tc);
	const lk_store_cfg *c = store_cfg(l, db, store_name);
	if (c && c->partition_by) {
		t->part_field = strdup(c->partition_by);
		lk_sanitize(c->partition_by, t->part_col, sizeof t->part_col);
		if (!strncmp(t->part_col, "idb_", 4) || !strcmp(t->part_col, "dt"))
			strcat(t->part_col, "_");
		/* the field's column exists from the start, as STRING (its values are path text) */
		t->cols = calloc(1, sizeof *t->cols);
		t->cols[0].name = strdup(t->part_col);
		t->cols[0].field = strdup(c->partition_by);
		t->cols[0].field_len = strlen(c->partition_by);
		t->cols[0].type = lk_type_new(LK_STRING);
		t->cols[0].since = 1;
		t->n_cols = 1;
	}
	t->bucket_bytes = c && c->bucket_bytes ? c->bucket_bytes : 0;
	json_array_append_new(t->history, json_pack("{sisIssso}", "version", 1, "at_ms", (json_int_t)lk_now_ms(),
						    "change", "create", "columns", lk_cols_to_json(t->cols, t->n_cols)));
	t->dirty_schema = 1;
	t->next = l->tables;
	l->tables = t;
	*out = t;
	return 0;
}

int lk_table_save(lake *l, lk_table *t, ids_error *err)
{
	if (!t->dirty_schema)
		return 0;
	char dir[IDS_PATH_MAX + 1], path[IDS_PATH_MAX + 1];
	lk_db_meta(l, t->db, dir, sizeof dir);
	int rc = ids_mkdirs(dir, err);
	if (rc)
		return rc;
	ids_path(path, sizeof path, NULL, "%s/%s.json", dir, t->table);
	json_t *j = json_pack("{sisssssssssssIsisosO}", "format", 1, "db", t->db, "store", t->store, "table", t->table,
			      "profile", l->profile == PQ_PROFILE_MODERN ? "modern" : "compat", "nested",
			      l->nested == LK_NESTED_STRUCT ? "struct" : "json", "bucket_bytes",
			      (json_int_t)(t->bucket_bytes ? t->bucket_bytes : l->bucket_bytes), "version", t->version,
			      "columns", lk_cols_to_json(t->cols, t->n_cols), "history", t->history);
	if (!j)
		return ids_fail(err, IDS_ENOMEM, "schema of %s: out of memory", t->table);
	if (t->part_field) {
		json_object_set_new(j, "partition_by", json_string(t->part_field));
		json_object_set_new(j, "partition_column", json_string(t->part_col));
	}
	char *s = json_dumps(j, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	json_decref(j);
	if (!s)
		return ids_fail(err, IDS_ENOMEM, "schema of %s: out of memory", t->table);
	rc = lk_write_file(path, s, strlen(s), err);
	free(s);
	if (!rc)
		t->dirty_schema = 0;
	return rc;
}

int lk_parse_value(ids_json *j, const char *value, size_t len)
{
	/* the push path capped values at depth 64; imports stay within that too */
	return ids_json_parse(j, value, len, 0, 128, NULL);
}

int lk_table_observe_v(lake *l, lk_table *t, const ids_json *j, int64_t seq)
{
	int r = lk_cols_observe(&t->cols, &t->n_cols, j, 0, l->nested, t->version + 1, lk_reserved_cols);
	if (r) {
		t->version++;
		t->dirty_schema = 1;
		const char *what = r == 1 ? "add" : r == 2 ? "widen" : "add+widen";
		json_array_append_new(t->history, json_pack("{sisIsIssso}", "version", t->version, "seq", (json_int_t)seq,
							    "at_ms", (json_int_t)lk_now_ms(), "change", what, "columns",
							    lk_cols_to_json(t->cols, t->n_cols)));
	}
	return r;
}

pq_node *lk_table_schema(lake *l, const lk_table *t, lk_table_kind kind)
{
	pq_node *root = pq_node_new_group("schema", PQ_REQUIRED);
	/* Iceberg stores timestamps as INT64 micros (UTC) whatever the profile */
	int profile = l->ice ? PQ_PROFILE_MODERN : l->profile;
	size_t ns;
	const lk_sys *sys = lk_system_cols(kind, &ns);
	for (size_t i = 0; root && i < ns; i++) {
		lk_type st = {sys[i].kind, NULL, 0, NULL};
		if (pq_node_add(root, lk_type_node(sys[i].name, &st, profile))) {
			pq_node_free(root);
			return NULL;
		}
	}
	for (size_t i = 0; root && i < t->n_cols; i++) {
		/* the partition column comes from the path, but an Iceberg data file needs it */
		if (kind == LK_T_STATE && t->part_field && !l->ice && !strcmp(t->cols[i].field, t->part_field))
			continue;
		if (pq_node_add(root, lk_type_node(t->cols[i].name, t->cols[i].type, profile))) {
			pq_node_free(root);
			return NULL;
		}
	}
	lk_ice_field_ids(l, t, root);
	return root;
}

lk_row *lk_row_start(lake *l)
{
	lk_row *r = &l->row;
	r->n_sys = 0;
	ids_buf_reset(&r->arena);
	r->t = NULL;
	r->j = NULL;
	r->skip_part = 0;
	r->counted = 0;
	return r;
}

static lk_sysv *sys_add(lk_row *r, const char *name, int kind)
{
	if (r->n_sys == LK_MAX_SYS) {
		r->arena.failed = 1;   /* a bug: reported as out of memory by lk_write_row */
		return NULL;
	}
	lk_sysv *v = &r->sys[r->n_sys++];
	v->name = name;
	v->kind = kind;
	return v;
}

void lk_row_i64(lk_row *r, const char *name, int64_t v)
{
	lk_sysv *x = sys_add(r, name, LK_SV_I64);
	if (x)
		x->i = v;
}

void lk_row_ts(lk_row *r, const char *name, int64_t ms)
{
	lk_sysv *x = sys_add(r, name, LK_SV_TS);
	if (x)
		x->i = ms;
}

void lk_row_bool(lk_row *r, const char *name, int v)
{
	lk_sysv *x = sys_add(r, name, LK_SV_BOOL);
	if (x)
		x->i = v != 0;
}

void lk_row_str(lk_row *r, const char *name, const char *s, size_t n)
{
	lk_sysv *x = sys_add(r, name, LK_SV_STR);
	if (!x)
		return;
	x->off = r->arena.len;
	x->len = n;
	ids_buf_append(&r->arena, s, n);
}

void lk_row_fill(lake *l, const lk_table *t, const ids_json *j, int skip_part)
{
	l->row.t = t;
	l->row.j = j;
	l->row.skip_part = skip_part;
}

lk_row *lk_row_copy(const lk_row *r)
{
	lk_row *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	memcpy(c->sys, r->sys, sizeof c->sys);
	c->n_sys = r->n_sys;
	ids_buf_append(&c->arena, r->arena.data ? r->arena.data : "", r->arena.len);
	if (c->arena.failed || r->arena.failed) {
		lk_row_free_copy(c);
		return NULL;
	}
	return c;
}

void lk_row_restore(lake *l, const lk_row *saved)
{
	lk_row *r = lk_row_start(l);
	memcpy(r->sys, saved->sys, sizeof r->sys);
	r->n_sys = saved->n_sys;
	ids_buf_append(&r->arena, saved->arena.data ? saved->arena.data : "", saved->arena.len);
}

void lk_row_free_copy(lk_row *r)
{
	if (r) {
		ids_buf_free(&r->arena);
		free(r);
	}
}

static lk_emit_ctx emit_ctx(lake *l)
{
	lk_emit_ctx e = {.tmp = &l->row_tmp, .bin = &l->row_bin, .profile = l->ice ? PQ_PROFILE_MODERN : l->profile};
	return e;
}

void lk_row_text(lake *l, ids_buf *b)
{
	const lk_row *r = &l->row;
	ids_buf_reset(b);
	ids_buf_putc(b, '{');
	for (size_t i = 0; i < r->n_sys; i++) {
		const lk_sysv *v = &r->sys[i];
		char iso[40];
		if (i)
			ids_buf_putc(b, ',');
		ids_buf_json_str(b, v->name, strlen(v->name));
		ids_buf_putc(b, ':');
		switch (v->kind) {
		case LK_SV_I64: ids_buf_i64(b, v->i); break;
		case LK_SV_BOOL: ids_buf_puts(b, v->i ? "true" : "false"); break;
		case LK_SV_STR: ids_buf_json_str(b, r->arena.data ? r->arena.data + v->off : "", v->len); break;
		default:
			ids_ms_to_iso((double)v->i, iso);
			ids_buf_puts(b, "{\"$date\":\"");
			ids_buf_puts(b, iso);
			ids_buf_puts(b, "\"}");
			break;
		}
	}
	if (r->t) {
		lk_emit_ctx e = emit_ctx(l);
		lk_emit_cols(b, &e, r->t->cols, r->t->n_cols, r->skip_part ? r->t->part_field : NULL, r->j, r->j ? 0 : -1);
	}
	ids_buf_putc(b, '}');
}

void lk_write_opts(lake *l, pq_write_options *o)
{
	pq_write_options d = PQ_WRITE_OPTIONS_INIT;
	*o = d;
	o->profile = (pq_profile)l->profile;
	/* every page carries its CRC32: readers that verify (pyarrow with page checksums, our own
	 * reader) catch a torn or corrupted page instead of decoding garbage */
	o->page_crc = 1;
	/* A flush's file is often one small page per column, below the writer's default probe of
	 * 16,384 values, so each column of distinct values (seq, key, hlc, ids, amounts) built a
	 * dictionary of the whole page only to drop it: a fifth of a flush's instructions. Judged
	 * on its first 1,024 values, a column whose values repeat (day, user, enum) still gets one. */
	o->dict_probe = 1024;
}

/* The test hook IDBSYNC_TEST_LAKE_REFUSE: rows whose value or system columns hold the text. */
static int test_refused(const lake *l, const lk_row *r)
{
	size_t n = strlen(l->refuse);
	return (r->arena.len && memmem(r->arena.data, r->arena.len, l->refuse, n)) ||
	       (r->j && memmem(r->j->text, r->j->len, l->refuse, n));
}

/* The system columns lead every file, in the order the caller gave them: checked by name at a
 * file's first row (every row of it has them in the same order, lk_row_*). */
static int put_sys(pq_writer *w, const lk_row *r, ids_error *err)
{
	int first = pq_writer_num_rows(w) == 0;
	for (size_t i = 0; i < r->n_sys; i++) {
		const lk_sysv *v = &r->sys[i];
		int md = 0, rc;
		const pq_node *n = pq_writer_column(w, i, &md, NULL);
		if (!n || (first && strcmp(n->name, v->name)))
			return ids_fail(err, IDS_EINVAL, "system column %s is not column %zu of the file", v->name, i);
		uint8_t b = (uint8_t)v->i;
		switch (v->kind) {
		case LK_SV_I64: rc = pq_writer_put(w, i, md, 0, &v->i, 8, err); break;
		case LK_SV_BOOL: rc = pq_writer_put(w, i, md, 0, &b, 1, err); break;
		case LK_SV_STR: rc = pq_writer_put(w, i, md, 0, r->arena.data ? r->arena.data + v->off : "", v->len, err); break;
		default: rc = lk_put_ms(w, i, md, 0, v->i, err); break;
		}
		if (rc)
			return rc;
	}
	return 0;
}

int lk_write_row(lake *l, pq_writer *w, ids_error *err)
{
	lk_row *r = &l->row;
	if (r->arena.failed)
		return ids_fail(err, IDS_ENOMEM, "row: out of memory");
	lk_emit_ctx e = emit_ctx(l);
	int rc;
	l->tape_ok = 0;
	if (l->tape_want) {
		ids_buf_reset(&l->tape);
		e.tape = &l->tape;
	}
	if (l->refuse && test_refused(l, r)) {
		rc = ids_fail(err, IDS_EINVAL, "refused by IDBSYNC_TEST_LAKE_REFUSE");
	} else if (!(rc = pq_writer_row_begin(w, err)) && !(rc = put_sys(w, r, err))) {
		size_t col = r->n_sys;
		if (r->t)
			rc = lk_put_cols(w, &col, &e, r->t->cols, r->t->n_cols, r->skip_part ? r->t->part_field : NULL, r->j,
					 r->j ? 0 : -1, err);
		if (!rc && col != pq_writer_num_columns(w))
			rc = ids_fail(err, IDS_EINVAL, "%zu columns for a file of %zu", col, pq_writer_num_columns(w));
		if (!rc)
			rc = pq_writer_row_end(w, err);
		if (!rc && e.tape && !l->tape.failed) {
			l->tape_ok = 1;
			memcpy(l->tape_fb, e.n, sizeof l->tape_fb);
		}
	}
	int text = 0;
	if (rc && pq_writer_usable(w)) {
		/* refused: the row is put through the writer's JSON row API instead, so a refusal
		 * is the text path's own, with its message (naming the field), and the writer keeps
		 * what it accepts; rows are refused rarely (a bad tagged value, the test hook) */
		pq_writer_row_cancel(w);
		lk_row_text(l, &l->row_buf);
		text = 1;
		size_t off = 0;
		if (!l->row_buf.failed && !(l->refuse && test_refused(l, r))) {
			ids_error e2 = IDS_ERROR_INIT;
			rc = pq_writer_write_json(w, l->row_buf.data, l->row_buf.len, &off, &e2);
			if (rc)
				*err = e2;
		}
	}
	if (rc) {
		if (!text)
			lk_row_text(l, &l->row_buf);
		ids_wrap(err, "row %.*s: ", (int)(l->row_buf.len < 200 ? l->row_buf.len : 200), l->row_buf.data);
	}
	if (!r->counted) {
		r->counted = 1;
		for (int k = 0; k < LK_FB_N; k++)
			if (e.n[k])
				atomic_fetch_add(&l->m_fallbacks[k], e.n[k]);
	}
	atomic_fetch_add(&l->m_rows, 1);
	return rc;
}

int lk_write_row_tape(lake *l, pq_writer *w, ids_error *err)
{
	lk_row *r = &l->row;
	if (!l->tape_ok || r->arena.failed)
		return ids_fail(err, IDS_EINVAL, "no tape of the row's values");
	int rc = pq_writer_row_begin(w, err);
	if (!rc && !(rc = put_sys(w, r, err)) && !(rc = lk_put_tape(w, r->n_sys, &l->tape, err)))
		rc = pq_writer_row_end(w, err);
	if (rc) {
		if (pq_writer_usable(w))
			pq_writer_row_cancel(w);
		return rc;
	}
	for (int k = 0; k < LK_FB_N; k++)   /* counted as a row written from its value would be */
		if (l->tape_fb[k])
			atomic_fetch_add(&l->m_fallbacks[k], l->tape_fb[k]);
	atomic_fetch_add(&l->m_rows, 1);
	return 0;
}

int lk_key_json(const uint8_t *k, size_t n, ids_buf *out, ids_error *err)
{
	ids_buf_reset(out);
	return ids_key_to_json(k, n, out, err);
}

void lk_part_dir(const lk_table *t, const ids_json *j, ids_buf *out)
{
	ids_buf_reset(out);
	ids_buf_puts(out, t->part_col);
	ids_buf_putc(out, '=');
	long obj = lk_plain_object(j, 0);
	long x = obj >= 0 ? ids_json_get(j, (size_t)obj, t->part_field) : -1;
	ids_buf s = IDS_BUF_INIT;   /* the value's text */
	if (!lk_value_null(j, x))
		lk_text_of(j, x, &s);
	if (!s.len)
		ids_buf_puts(out, "__HIVE_DEFAULT_PARTITION__");
	else /* long values are cut so the directory name stays under NAME_MAX */
		lk_hive_escape(s.data, s.len > 60 ? 60 : s.len, out);
	ids_buf_free(&s);
}
