/* Decodes the footer's FileMetaData (row groups, column chunks, ColumnMetaData with
 * statistics, key/value metadata, created_by, column orders) into pq_file_meta. Everything
 * it allocates hangs off one arena so a half-decoded hostile footer frees cleanly. */
#include "parquet/read/rd_internal.h"

#include <stdlib.h>

void *rd_arena_alloc(struct pq_meta_arena *a, size_t size)
{
	if (a->n == a->cap) {
		size_t nc = a->cap ? a->cap * 2 : 64;
		void **p = realloc(a->ptrs, nc * sizeof *p);
		if (!p)
			return NULL;
		a->ptrs = p;
		a->cap = nc;
	}
	void *m = calloc(1, size ? size : 1);
	if (m)
		a->ptrs[a->n++] = m;
	return m;
}

char *rd_arena_strndup(struct pq_meta_arena *a, const uint8_t *s, size_t n)
{
	char *p = rd_arena_alloc(a, n + 1);
	if (p && n)
		memcpy(p, s, n);
	return p;
}

void pq_file_meta_free(pq_file_meta *m)
{
	if (!m)
		return;
	if (m->arena) {
		for (size_t i = 0; i < m->arena->n; i++)
			free(m->arena->ptrs[i]);
		free(m->arena->ptrs);
		free(m->arena);
	}
	pq_node_free(m->schema);
	free(m->columns);
	free(m);
}

#define TRY(x) do { int rc_ = (x); if (rc_ < 0) return rc_; } while (0)

static int nomem(pq_tdec *d) { return ids_fail(d->err, IDS_ENOMEM, "out of memory decoding footer"); }

static int decode_stats(pq_tdec *d, pq_stats *s)
{
	int16_t id;
	int t, rc;
	const uint8_t *p;
	size_t n;
	const uint8_t *lmin = NULL, *lmax = NULL;
	size_t lmin_n = 0, lmax_n = 0;
	s->null_count = s->distinct_count = s->nan_count = -1;
	TRY(pq_tdec_struct_begin(d));
	while ((rc = pq_tdec_field(d, &id, &t)) > 0) {
		switch (id) {
		case 1: if ((rc = pq_tdec_expect_binary(d, t, &p, &n)) == 1) { lmax = p; lmax_n = n; } break;
		case 2: if ((rc = pq_tdec_expect_binary(d, t, &p, &n)) == 1) { lmin = p; lmin_n = n; } break;
		case 3: rc = pq_tdec_expect_i64(d, t, &s->null_count); break;
		case 4: rc = pq_tdec_expect_i64(d, t, &s->distinct_count); break;
		case 9: rc = pq_tdec_expect_i64(d, t, &s->nan_count); break;
		case 5:
			if ((rc = pq_tdec_expect_binary(d, t, &p, &n)) == 1) {
				s->max = p; s->max_len = (uint32_t)n; s->has_max = 1;
			}
			break;
		case 6:
			if ((rc = pq_tdec_expect_binary(d, t, &p, &n)) == 1) {
				s->min = p; s->min_len = (uint32_t)n; s->has_min = 1;
			}
			break;
		default: rc = pq_tdec_skip(d, t);
		}
		if (rc < 0)
			return rc;
	}
	if (rc < 0)
		return rc;
	/* prefer min_value/max_value; fall back to the deprecated min/max */
	if (!s->has_min && !s->has_max && (lmin || lmax)) {
		s->legacy_minmax = 1;
		if (lmin) { s->min = lmin; s->min_len = (uint32_t)lmin_n; s->has_min = 1; }
		if (lmax) { s->max = lmax; s->max_len = (uint32_t)lmax_n; s->has_max = 1; }
	}
	return 0;
}

static int decode_path(pq_tdec *d, pq_file_meta *m, int t, const char **out)
{
	if (t != PQ_T_LIST)
		return pq_tdec_skip(d, t);
	int et;
	uint32_t cnt;
	TRY(pq_tdec_list_begin(d, &et, &cnt));
	const uint8_t *parts[256];
	size_t lens[256], total = 0;
	if (cnt > 256)
		return ids_fail(d->err, IDS_ECORRUPT, "path_in_schema has %u parts", cnt);
	for (uint32_t i = 0; i < cnt; i++) {
		if (et != PQ_T_BINARY)
			return ids_fail(d->err, IDS_ECORRUPT, "path_in_schema is not a list of strings");
		TRY(pq_tdec_binary(d, &parts[i], &lens[i]));
		total += lens[i] + 1;
	}
	char *s = rd_arena_alloc(m->arena, total + 1), *w = s;
	if (!s)
		return nomem(d);
	for (uint32_t i = 0; i < cnt; i++) {
		if (i)
			*w++ = '.';
		memcpy(w, parts[i], lens[i]);
		w += lens[i];
	}
	*out = s;
	return 0;
}

static int decode_colmeta(pq_tdec *d, pq_file_meta *m, pq_chunk_meta *c)
{
	int16_t id;
	int t, rc, et;
	int32_t v32;
	uint32_t cnt;
	TRY(pq_tdec_struct_begin(d));
	c->has_meta = 1;
	while ((rc = pq_tdec_field(d, &id, &t)) > 0) {
		switch (id) {
		case 1: if ((rc = pq_tdec_expect_i32(d, t, &v32)) == 1) c->type = (pq_type)v32; break;
		case 2:
			if (t != PQ_T_LIST) { rc = pq_tdec_skip(d, t); break; }
			TRY(pq_tdec_list_begin(d, &et, &cnt));
			pq_encoding *e = rd_arena_alloc(m->arena, (cnt ? cnt : 1) * sizeof *e);
			if (!e)
				return nomem(d);
			for (uint32_t i = 0; i < cnt; i++) {
				if (et != PQ_T_I32)
					return ids_fail(d->err, IDS_ECORRUPT, "encodings is not a list of i32");
				TRY(pq_tdec_i32(d, &v32));
				e[i] = (pq_encoding)v32;
			}
			c->encodings = e;
			c->n_encodings = cnt;
			break;
		case 3: rc = decode_path(d, m, t, &c->path); break;
		case 4: if ((rc = pq_tdec_expect_i32(d, t, &v32)) == 1) c->codec = (pq_codec)v32; break;
		case 5: rc = pq_tdec_expect_i64(d, t, &c->num_values); break;
		case 6: rc = pq_tdec_expect_i64(d, t, &c->total_uncompressed_size); break;
		case 7: rc = pq_tdec_expect_i64(d, t, &c->total_compressed_size); break;
		case 9: rc = pq_tdec_expect_i64(d, t, &c->data_page_offset); break;
		case 10: rc = pq_tdec_expect_i64(d, t, &c->index_page_offset); break;
		case 11: rc = pq_tdec_expect_i64(d, t, &c->dictionary_page_offset); break;
		case 12: rc = t == PQ_T_STRUCT ? decode_stats(d, &c->stats) : pq_tdec_skip(d, t); break;
		default: rc = pq_tdec_skip(d, t);
		}
		if (rc < 0)
			return rc;
	}
	return rc;
}

static int decode_chunk(pq_tdec *d, pq_file_meta *m, pq_chunk_meta *c)
{
	int16_t id;
	int t, rc;
	const uint8_t *p;
	size_t n;
	c->dictionary_page_offset = c->index_page_offset = -1;
	c->stats.null_count = c->stats.distinct_count = c->stats.nan_count = -1;
	c->type = (pq_type)-2;
	TRY(pq_tdec_struct_begin(d));
	while ((rc = pq_tdec_field(d, &id, &t)) > 0) {
		if (id == 1 && (rc = pq_tdec_expect_binary(d, t, &p, &n)) == 1) {
			if (!(c->file_path = rd_arena_strndup(m->arena, p, n)))
				return nomem(d);
		} else if (id == 3 && t == PQ_T_STRUCT) {
			rc = decode_colmeta(d, m, c);
		} else if (id != 1) {
			rc = pq_tdec_skip(d, t);
		}
		if (rc < 0)
			return rc;
	}
	return rc;
}

static int decode_row_group(pq_tdec *d, pq_file_meta *m, pq_row_group_meta *g)
{
	int16_t id;
	int t, rc, et;
	uint32_t cnt;
	g->total_compressed_size = -1;
	g->num_rows = -1;
	TRY(pq_tdec_struct_begin(d));
	while ((rc = pq_tdec_field(d, &id, &t)) > 0) {
		if (id == 1 && t == PQ_T_LIST) {
			TRY(pq_tdec_list_begin(d, &et, &cnt));
			if (et != PQ_T_STRUCT || cnt != m->n_columns || g->chunks)
				return ids_fail(d->err, IDS_ECORRUPT,
						"row group has %u column chunks, schema has %zu columns", cnt,
						m->n_columns);
			g->chunks = rd_arena_alloc(m->arena, (cnt ? cnt : 1) * sizeof *g->chunks);
			if (!g->chunks)
				return nomem(d);
			for (uint32_t i = 0; i < cnt; i++)
				TRY(decode_chunk(d, m, &g->chunks[i]));
		} else if (id == 2) {
			rc = pq_tdec_expect_i64(d, t, &g->total_byte_size);
		} else if (id == 3) {
			rc = pq_tdec_expect_i64(d, t, &g->num_rows);
		} else if (id == 6) {
			rc = pq_tdec_expect_i64(d, t, &g->total_compressed_size);
		} else {
			rc = pq_tdec_skip(d, t);
		}
		if (rc < 0)
			return rc;
	}
	if (rc < 0)
		return rc;
	if (!g->chunks || g->num_rows < 0)
		return ids_fail(d->err, IDS_ECORRUPT, "row group lacks columns or num_rows");
	return 0;
}

static int decode_schema_list(pq_tdec *d, pq_file_meta *m)
{
	int et;
	uint32_t cnt;
	TRY(pq_tdec_list_begin(d, &et, &cnt));
	if (et != PQ_T_STRUCT)
		return ids_fail(d->err, IDS_ECORRUPT, "schema is not a list of structs");
	rd_selem *el = calloc(cnt ? cnt : 1, sizeof *el);
	if (!el)
		return nomem(d);
	int rc = 0;
	for (uint32_t i = 0; i < cnt && rc >= 0; i++) {
		rd_selem *e = &el[i];
		e->type = e->repetition = e->num_children = e->converted = -1;
		e->scale = e->precision = e->field_id = -1;
		e->logical.scale = e->logical.precision = -1;
		int16_t id;
		int t;
		int32_t v;
		int have_name = 0;
		if ((rc = pq_tdec_struct_begin(d)))
			break;
		while ((rc = pq_tdec_field(d, &id, &t)) > 0) {
			switch (id) {
			case 1: if ((rc = pq_tdec_expect_i32(d, t, &v)) == 1) e->type = v < 0 ? 99 : v; break;
			case 2: rc = pq_tdec_expect_i32(d, t, &e->type_length); break;
			case 3: if ((rc = pq_tdec_expect_i32(d, t, &v)) == 1) e->repetition = v < 0 ? 99 : v; break;
			case 4: rc = pq_tdec_expect_binary(d, t, &e->name, &e->name_len); have_name |= rc == 1; break;
			case 5: rc = pq_tdec_expect_i32(d, t, &e->num_children); break;
			case 6: rc = pq_tdec_expect_i32(d, t, &e->converted); break;
			case 7: rc = pq_tdec_expect_i32(d, t, &e->scale); break;
			case 8: rc = pq_tdec_expect_i32(d, t, &e->precision); break;
			case 9: rc = pq_tdec_expect_i32(d, t, &e->field_id); break;
			case 10: rc = t == PQ_T_STRUCT ? rd_decode_logical(d, &e->logical) : pq_tdec_skip(d, t); break;
			default: rc = pq_tdec_skip(d, t);
			}
			if (rc < 0)
				break;
		}
		if (rc == 0 && !have_name)
			rc = ids_fail(d->err, IDS_ECORRUPT, "schema element %u has no name", i);
	}
	if (rc >= 0)
		rc = rd_schema_build(m, el, cnt, d->err);
	free(el);
	return rc;
}

static int decode_kv(pq_tdec *d, pq_file_meta *m, int t)
{
	int et;
	uint32_t cnt;
	if (t != PQ_T_LIST)
		return pq_tdec_skip(d, t);
	TRY(pq_tdec_list_begin(d, &et, &cnt));
	if (et != PQ_T_STRUCT)
		return ids_fail(d->err, IDS_ECORRUPT, "key_value_metadata is not a list of structs");
	m->kv = rd_arena_alloc(m->arena, (cnt ? cnt : 1) * sizeof *m->kv);
	if (!m->kv)
		return nomem(d);
	for (uint32_t i = 0; i < cnt; i++) {
		int16_t id;
		int ft, rc;
		const uint8_t *p;
		size_t n;
		TRY(pq_tdec_struct_begin(d));
		while ((rc = pq_tdec_field(d, &id, &ft)) > 0) {
			if ((id == 1 || id == 2) && (rc = pq_tdec_expect_binary(d, ft, &p, &n)) == 1) {
				char *s = rd_arena_strndup(m->arena, p, n);
				if (!s)
					return nomem(d);
				if (id == 1)
					m->kv[i].key = s;
				else
					m->kv[i].value = s;
			} else if (id != 1 && id != 2) {
				rc = pq_tdec_skip(d, ft);
			}
			if (rc < 0)
				return rc;
		}
		if (rc < 0)
			return rc;
		if (!m->kv[i].key)
			m->kv[i].key = "";
	}
	m->n_kv = cnt;
	return 0;
}

static int decode_file(pq_tdec *d, pq_file_meta *m)
{
	int16_t id;
	int t, rc, et, seen_schema = 0;
	uint32_t cnt;
	const uint8_t *p;
	size_t n;
	m->num_rows = -1;
	TRY(pq_tdec_struct_begin(d));
	while ((rc = pq_tdec_field(d, &id, &t)) > 0) {
		if (id == 1) {
			rc = pq_tdec_expect_i32(d, t, &m->version);
		} else if (id == 2 && t == PQ_T_LIST && !seen_schema) {
			rc = decode_schema_list(d, m);
			seen_schema = 1;
		} else if (id == 3) {
			rc = pq_tdec_expect_i64(d, t, &m->num_rows);
		} else if (id == 4 && t == PQ_T_LIST && !m->row_groups) {
			/* the row groups need the column count, so the schema must come first */
			if (!seen_schema)
				return ids_fail(d->err, IDS_ECORRUPT, "row_groups precede the schema");
			TRY(pq_tdec_list_begin(d, &et, &cnt));
			if (et != PQ_T_STRUCT)
				return ids_fail(d->err, IDS_ECORRUPT, "row_groups is not a list of structs");
			m->row_groups = rd_arena_alloc(m->arena, (cnt ? cnt : 1) * sizeof *m->row_groups);
			if (!m->row_groups)
				return nomem(d);
			for (uint32_t i = 0; i < cnt; i++) {
				if ((rc = decode_row_group(d, m, &m->row_groups[i])) < 0)
					return ids_wrap(d->err, "row group %u: ", i);
				m->n_row_groups = i + 1;
			}
		} else if (id == 5) {
			rc = decode_kv(d, m, t);
		} else if (id == 6 && (rc = pq_tdec_expect_binary(d, t, &p, &n)) == 1) {
			if (!(m->created_by = rd_arena_strndup(m->arena, p, n)))
				return nomem(d);
		} else if (id == 7 && t == PQ_T_LIST) {
			m->has_column_orders = 1;
			rc = pq_tdec_skip(d, t);
		} else if (id == 8) {
			return ids_fail(d->err, IDS_EINVAL, "file is encrypted (not supported)");
		} else if (id != 6) {
			rc = pq_tdec_skip(d, t);
		}
		if (rc < 0)
			return rc;
	}
	if (rc < 0)
		return rc;
	if (!seen_schema || m->num_rows < 0)
		return ids_fail(d->err, IDS_ECORRUPT, "footer lacks the schema or num_rows");
	return 0;
}

int pq_file_meta_parse(pq_file_meta **out, const uint8_t *footer, size_t n, uint64_t base_offset,
		       ids_error *err)
{
	*out = NULL;
	pq_file_meta *m = calloc(1, sizeof *m);
	if (!m || !(m->arena = calloc(1, sizeof *m->arena))) {
		free(m);
		return ids_fail(err, IDS_ENOMEM, "out of memory decoding footer");
	}
	pq_tdec d;
	pq_tdec_init(&d, footer, n, err);
	d.base_offset = base_offset;
	int rc = decode_file(&d, m);
	if (rc < 0) {
		pq_file_meta_free(m);
		return rc;
	}
	/* chunk types must agree with the schema or decoding would misread values */
	int64_t rows = 0;
	for (size_t g = 0; g < m->n_row_groups; g++) {
		rows += m->row_groups[g].num_rows;
		for (size_t c = 0; c < m->n_columns; c++) {
			pq_chunk_meta *cm = &m->row_groups[g].chunks[c];
			if (!cm->path)
				cm->path = m->columns[c].path;
			if (cm->has_meta && cm->type != m->columns[c].node->type) {
				rc = ids_fail(err, IDS_ECORRUPT,
					      "row group %zu, column '%s': chunk type %d differs from schema type %s",
					      g, m->columns[c].path, (int)cm->type,
					      pq_type_name(m->columns[c].node->type));
				pq_file_meta_free(m);
				return rc;
			}
		}
		if (rows < 0 || m->row_groups[g].num_rows < 0)
			break;
	}
	*out = m;
	return 0;
}
