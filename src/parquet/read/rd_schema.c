/* Turns the footer's flat list of SchemaElements (depth-first, with num_children) into a
 * pq_node tree and the leaf column descriptors (dotted path, max definition and repetition
 * levels). LogicalType is decoded here too, and legacy ConvertedType annotations are mapped
 * onto it when a file has no LogicalType, so later stages only look at node->logical. */
#include "parquet/read/rd_internal.h"

#include <stdlib.h>

#define MAX_SCHEMA_DEPTH 64

static int decode_unit(pq_tdec *d, pq_time_unit *unit)
{
	int rc = pq_tdec_struct_begin(d), t;
	int16_t id;
	if (rc)
		return rc;
	while ((rc = pq_tdec_field(d, &id, &t)) > 0) {
		if (t == PQ_T_STRUCT && id >= 1 && id <= 3)
			*unit = id == 1 ? PQ_MILLIS : id == 2 ? PQ_MICROS : PQ_NANOS;
		if ((rc = pq_tdec_skip(d, t)))
			return rc;
	}
	return rc;
}

/* TimeType / TimestampType: 1: bool isAdjustedToUTC, 2: TimeUnit unit */
static int decode_time(pq_tdec *d, pq_logical *lt)
{
	int rc = pq_tdec_struct_begin(d), t;
	int16_t id;
	if (rc)
		return rc;
	while ((rc = pq_tdec_field(d, &id, &t)) > 0) {
		if (id == 1)
			rc = pq_tdec_expect_bool(d, t, &lt->utc);
		else if (id == 2 && t == PQ_T_STRUCT)
			rc = decode_unit(d, &lt->unit);
		else
			rc = pq_tdec_skip(d, t);
		if (rc < 0)
			return rc;
	}
	return rc;
}

int rd_decode_logical(pq_tdec *d, pq_logical *lt)
{
	int rc = pq_tdec_struct_begin(d), t;
	int16_t id;
	if (rc)
		return rc;
	memset(lt, 0, sizeof *lt);
	lt->scale = lt->precision = -1;
	while ((rc = pq_tdec_field(d, &id, &t)) > 0) {
		if (t != PQ_T_STRUCT) {
			if ((rc = pq_tdec_skip(d, t)))
				return rc;
			continue;
		}
		static const pq_logical_kind kinds[] = {
			[1] = PQ_LT_STRING, [2] = PQ_LT_MAP, [3] = PQ_LT_LIST, [4] = PQ_LT_ENUM,
			[5] = PQ_LT_DECIMAL, [6] = PQ_LT_DATE, [7] = PQ_LT_TIME, [8] = PQ_LT_TIMESTAMP,
			[10] = PQ_LT_INTEGER, [11] = PQ_LT_UNKNOWN, [12] = PQ_LT_JSON, [13] = PQ_LT_BSON,
			[14] = PQ_LT_UUID, [15] = PQ_LT_FLOAT16};
		pq_logical_kind k = id > 0 && id < 16 ? kinds[id] : PQ_LT_NONE;
		if (k == PQ_LT_TIME || k == PQ_LT_TIMESTAMP) {
			lt->kind = k;
			rc = decode_time(d, lt);
		} else if (k == PQ_LT_DECIMAL || k == PQ_LT_INTEGER) {
			lt->kind = k;
			if ((rc = pq_tdec_struct_begin(d)))
				return rc;
			int16_t fid;
			int ft;
			while ((rc = pq_tdec_field(d, &fid, &ft)) > 0) {
				int32_t v;
				int bv;
				if (k == PQ_LT_DECIMAL && (fid == 1 || fid == 2)) {
					rc = pq_tdec_expect_i32(d, ft, &v);
					if (rc == 1)
						*(fid == 1 ? &lt->scale : &lt->precision) = v;
				} else if (k == PQ_LT_INTEGER && fid == 1 && ft == PQ_T_BYTE) {
					if (d->p >= d->end)
						return ids_fail(d->err, IDS_ECORRUPT, "thrift: truncated byte");
					lt->bit_width = (int8_t)*d->p++;
				} else if (k == PQ_LT_INTEGER && fid == 2) {
					rc = pq_tdec_expect_bool(d, ft, &bv);
					if (rc == 1)
						lt->is_signed = bv;
				} else {
					rc = pq_tdec_skip(d, ft);
				}
				if (rc < 0)
					return rc;
			}
		} else {
			/* empty marker structs; unknown members (VARIANT, GEOMETRY, ...) stay NONE */
			if (k != PQ_LT_NONE)
				lt->kind = k;
			rc = pq_tdec_skip(d, t);
		}
		if (rc < 0)
			return rc;
	}
	return rc;
}

static void from_converted(pq_node *n, const rd_selem *e)
{
	pq_logical *lt = &n->logical;
	if (lt->kind != PQ_LT_NONE) {
		if (lt->kind == PQ_LT_DECIMAL) {
			if (lt->scale < 0)
				lt->scale = e->scale;
			if (lt->precision < 0)
				lt->precision = e->precision;
		}
		return;
	}
	switch (e->converted) {
	case PQ_CT_UTF8: lt->kind = PQ_LT_STRING; break;
	case PQ_CT_MAP: case PQ_CT_MAP_KEY_VALUE: lt->kind = PQ_LT_MAP; break;
	case PQ_CT_LIST: lt->kind = PQ_LT_LIST; break;
	case PQ_CT_ENUM: lt->kind = PQ_LT_ENUM; break;
	case PQ_CT_DECIMAL:
		lt->kind = PQ_LT_DECIMAL;
		lt->scale = e->scale;
		lt->precision = e->precision;
		break;
	case PQ_CT_DATE: lt->kind = PQ_LT_DATE; break;
	case PQ_CT_TIME_MILLIS: case PQ_CT_TIME_MICROS:
	case PQ_CT_TIMESTAMP_MILLIS: case PQ_CT_TIMESTAMP_MICROS:
		lt->kind = e->converted <= PQ_CT_TIME_MICROS ? PQ_LT_TIME : PQ_LT_TIMESTAMP;
		lt->unit = (e->converted == PQ_CT_TIME_MILLIS || e->converted == PQ_CT_TIMESTAMP_MILLIS)
				   ? PQ_MILLIS : PQ_MICROS;
		lt->utc = 1;
		break;
	case PQ_CT_UINT_8: case PQ_CT_UINT_16: case PQ_CT_UINT_32: case PQ_CT_UINT_64:
		lt->kind = PQ_LT_INTEGER;
		lt->bit_width = 8 << (e->converted - PQ_CT_UINT_8);
		lt->is_signed = 0;
		break;
	case PQ_CT_INT_8: case PQ_CT_INT_16: case PQ_CT_INT_32: case PQ_CT_INT_64:
		lt->kind = PQ_LT_INTEGER;
		lt->bit_width = 8 << (e->converted - PQ_CT_INT_8);
		lt->is_signed = 1;
		break;
	case PQ_CT_JSON: lt->kind = PQ_LT_JSON; break;
	case PQ_CT_BSON: lt->kind = PQ_LT_BSON; break;
	default: break;
	}
}

typedef struct build {
	pq_file_meta *m;
	const rd_selem *el;
	size_t n, pos;
	size_t n_leaves, leaves_cap;
	ids_error *err;
} build;

static int add_leaf(build *b, const pq_node *node, const char *path, int def, int rep)
{
	if (b->n_leaves == b->leaves_cap) {
		size_t nc = b->leaves_cap ? b->leaves_cap * 2 : 16;
		pq_column_desc *c = realloc(b->m->columns, nc * sizeof *c);
		if (!c)
			return ids_fail(b->err, IDS_ENOMEM, "out of memory for column descriptors");
		b->m->columns = c;
		b->leaves_cap = nc;
	}
	pq_column_desc *c = &b->m->columns[b->n_leaves++];
	c->node = node;
	c->path = path;
	c->max_def = def;
	c->max_rep = rep;
	return 0;
}

static int build_node(build *b, pq_node **out, const char *parent_path, int def, int rep, int depth)
{
	if (depth > MAX_SCHEMA_DEPTH)
		return ids_fail(b->err, IDS_ELIMIT, "schema nested deeper than %d levels", MAX_SCHEMA_DEPTH);
	if (b->pos >= b->n)
		return ids_fail(b->err, IDS_ECORRUPT, "schema: num_children points past the %zu elements", b->n);
	const rd_selem *e = &b->el[b->pos++];
	int is_group = e->num_children > 0 || e->type < 0;
	if (e->name_len > 4096)
		return ids_fail(b->err, IDS_ECORRUPT, "schema element %zu: name longer than 4096 bytes", b->pos - 1);
	char *name = rd_arena_strndup(b->m->arena, e->name, e->name_len);
	if (!name)
		return ids_fail(b->err, IDS_ENOMEM, "out of memory for schema");
	pq_repetition r = depth == 0 ? PQ_REQUIRED : (pq_repetition)(e->repetition < 0 ? PQ_REQUIRED : e->repetition);
	if (e->repetition > 2)
		return ids_fail(b->err, IDS_ECORRUPT, "schema element '%s': invalid repetition %d", name, e->repetition);
	if (!is_group && (e->type > 7 || (e->type == PQ_FIXED_LEN_BYTE_ARRAY &&
					    (e->type_length <= 0 || e->type_length > (1 << 24)))))
		return ids_fail(b->err, IDS_ECORRUPT, "schema element '%s': invalid type %d (length %d)",
				name, e->type, e->type_length);
	pq_node *n = is_group ? pq_node_new_group(name, r) : pq_node_new_leaf(name, (pq_type)e->type, r);
	if (!n)
		return ids_fail(b->err, IDS_ENOMEM, "out of memory for schema");
	*out = n;
	n->type_length = e->type == PQ_FIXED_LEN_BYTE_ARRAY ? e->type_length : 0;
	n->converted = e->converted < 0 || e->converted > PQ_CT_INTERVAL ? PQ_CT_NONE : (pq_converted)e->converted;
	n->field_id = e->field_id;
	n->logical = e->logical;
	from_converted(n, e);
	if (depth > 0) {
		if (r != PQ_REQUIRED)
			def++;
		if (r == PQ_REPEATED)
			rep++;
	}
	if (def > 255 || rep > 255)
		return ids_fail(b->err, IDS_ELIMIT, "schema: too many nested levels");
	char *path = NULL;
	if (depth > 0) {
		size_t pl = parent_path ? strlen(parent_path) : 0;
		path = rd_arena_alloc(b->m->arena, pl + e->name_len + 2);
		if (!path)
			return ids_fail(b->err, IDS_ENOMEM, "out of memory for schema");
		if (pl) {
			memcpy(path, parent_path, pl);
			path[pl] = '.';
			memcpy(path + pl + 1, name, e->name_len + 1);
		} else {
			memcpy(path, name, e->name_len + 1);
		}
	}
	if (!is_group)
		return depth == 0 ? ids_fail(b->err, IDS_ECORRUPT, "schema root is not a group")
				  : add_leaf(b, n, path, def, rep);
	if (e->num_children <= 0)
		return ids_fail(b->err, IDS_ECORRUPT, "schema group '%s' has no children", name);
	if ((size_t)e->num_children > b->n - b->pos)
		return ids_fail(b->err, IDS_ECORRUPT,
				"schema group '%s' claims %d children, only %zu elements follow", name,
				e->num_children, b->n - b->pos);
	for (int32_t i = 0; i < e->num_children; i++) {
		pq_node *child = NULL;
		int rc = build_node(b, &child, path, def, rep, depth + 1);
		if (child && pq_node_add(n, child) != 0) {
			pq_node_free(child);
			return ids_fail(b->err, IDS_ENOMEM, "out of memory for schema");
		}
		if (rc)
			return rc;
	}
	return 0;
}

int rd_schema_build(pq_file_meta *m, const rd_selem *el, size_t n, ids_error *err)
{
	if (n == 0)
		return ids_fail(err, IDS_ECORRUPT, "schema is empty");
	build b = {m, el, n, 0, 0, 0, err};
	int rc = build_node(&b, &m->schema, NULL, 0, 0, 0);
	m->n_columns = b.n_leaves;
	if (rc)
		return rc;
	if (b.pos != n)
		return ids_fail(err, IDS_ECORRUPT, "schema has %zu elements but the root tree uses %zu", n, b.pos);
	if (b.n_leaves == 0)
		return ids_fail(err, IDS_ECORRUPT, "schema has no columns");
	return 0;
}
