/* The file footer: FileMetaData with the flattened schema (SchemaElement per node, both
 * LogicalType and the legacy ConvertedType so old and new engines agree), row groups,
 * key/value metadata, created_by and a TypeDefinedOrder per column. */
#include "pqw.h"
#include "parquet/common/thrift.h"

#include <string.h>

/* Legacy ConvertedType implied by a LogicalType, for nodes built without one. */
static pq_converted derive_converted(const pq_node *n)
{
	const pq_logical *l = &n->logical;
	switch (l->kind) {
	case PQ_LT_STRING: return PQ_CT_UTF8;
	case PQ_LT_MAP: return PQ_CT_MAP;
	case PQ_LT_LIST: return PQ_CT_LIST;
	case PQ_LT_ENUM: return PQ_CT_ENUM;
	case PQ_LT_DECIMAL: return PQ_CT_DECIMAL;
	case PQ_LT_DATE: return PQ_CT_DATE;
	case PQ_LT_JSON: return PQ_CT_JSON;
	case PQ_LT_BSON: return PQ_CT_BSON;
	case PQ_LT_TIME:
		if (!l->utc)
			return PQ_CT_NONE;
		return l->unit == PQ_MILLIS ? PQ_CT_TIME_MILLIS
		       : l->unit == PQ_MICROS ? PQ_CT_TIME_MICROS : PQ_CT_NONE;
	case PQ_LT_TIMESTAMP:
		if (!l->utc)
			return PQ_CT_NONE;
		return l->unit == PQ_MILLIS ? PQ_CT_TIMESTAMP_MILLIS
		       : l->unit == PQ_MICROS ? PQ_CT_TIMESTAMP_MICROS : PQ_CT_NONE;
	case PQ_LT_INTEGER: {
		int k = l->bit_width == 8 ? 0 : l->bit_width == 16 ? 1 : l->bit_width == 32 ? 2 : 3;
		return (pq_converted)((l->is_signed ? PQ_CT_INT_8 : PQ_CT_UINT_8) + k);
	}
	default: return PQ_CT_NONE;
	}
}

static void time_unit(pq_tenc *e, int16_t id, pq_time_unit u)
{
	pq_tenc_struct_begin(e, id);
	pq_tenc_struct_begin(e, u == PQ_MILLIS ? 1 : u == PQ_MICROS ? 2 : 3);
	pq_tenc_struct_end(e);
	pq_tenc_struct_end(e);
}

static void logical_type(pq_tenc *e, const pq_logical *l)
{
	static const int16_t ids[] = {
		[PQ_LT_STRING] = 1, [PQ_LT_MAP] = 2, [PQ_LT_LIST] = 3, [PQ_LT_ENUM] = 4,
		[PQ_LT_DECIMAL] = 5, [PQ_LT_DATE] = 6, [PQ_LT_TIME] = 7, [PQ_LT_TIMESTAMP] = 8,
		[PQ_LT_INTEGER] = 10, [PQ_LT_UNKNOWN] = 11, [PQ_LT_JSON] = 12, [PQ_LT_BSON] = 13,
		[PQ_LT_UUID] = 14, [PQ_LT_FLOAT16] = 15};
	if (l->kind <= PQ_LT_NONE || (size_t)l->kind >= sizeof ids / sizeof ids[0])
		return;
	pq_tenc_struct_begin(e, 10);
	pq_tenc_struct_begin(e, ids[l->kind]);
	switch (l->kind) {
	case PQ_LT_DECIMAL:
		pq_tenc_i32(e, 1, l->scale);
		pq_tenc_i32(e, 2, l->precision);
		break;
	case PQ_LT_TIME:
	case PQ_LT_TIMESTAMP:
		pq_tenc_bool(e, 1, l->utc);
		time_unit(e, 2, l->unit);
		break;
	case PQ_LT_INTEGER: {
		/* bitWidth is an i8, which the encoder has no call for: field 1, type BYTE */
		uint8_t raw[2] = {(uint8_t)(1 << 4 | PQ_T_BYTE), (uint8_t)l->bit_width};
		ids_buf_append(e->out, raw, 2);
		e->last_id[e->depth] = 1;
		pq_tenc_bool(e, 2, l->is_signed);
		break;
	}
	default:
		break;
	}
	pq_tenc_struct_end(e);
	pq_tenc_struct_end(e);
}

static size_t count_nodes(const pq_node *n)
{
	size_t k = 1;
	for (size_t i = 0; i < n->n_children; i++)
		k += count_nodes(n->children[i]);
	return k;
}

static void schema_element(pq_tenc *e, const pq_node *n, int is_root)
{
	pq_tenc_elem_struct_begin(e);
	if (n->type != PQ_GROUP) {
		pq_tenc_i32(e, 1, n->type);
		if (n->type == PQ_FIXED_LEN_BYTE_ARRAY)
			pq_tenc_i32(e, 2, n->type_length);
	}
	if (!is_root)
		pq_tenc_i32(e, 3, n->repetition);
	pq_tenc_string(e, 4, n->name);
	if (n->type == PQ_GROUP)
		pq_tenc_i32(e, 5, (int32_t)n->n_children);
	pq_converted ct = n->converted != PQ_CT_NONE ? n->converted : derive_converted(n);
	if (!is_root && ct != PQ_CT_NONE) {
		pq_tenc_i32(e, 6, ct);
		if (ct == PQ_CT_DECIMAL) {
			pq_tenc_i32(e, 7, n->logical.scale);
			pq_tenc_i32(e, 8, n->logical.precision);
		}
	}
	if (!is_root && n->field_id >= 0)
		pq_tenc_i32(e, 9, n->field_id);
	if (!is_root)
		logical_type(e, &n->logical);
	pq_tenc_struct_end(e);
	for (size_t i = 0; i < n->n_children; i++)
		schema_element(e, n->children[i], 0);
}

void pqw_write_schema(pq_tenc *e, const pq_node *root)
{
	pq_tenc_list_begin(e, 2, PQ_T_STRUCT, count_nodes(root));
	schema_element(e, root, 1);
}

int pqw_write_footer(pq_writer *w, ids_error *err)
{
	ids_buf f = IDS_BUF_INIT;
	pq_tenc e;
	pq_tenc_init(&e, &f);
	pq_tenc_elem_struct_begin(&e);
	pq_tenc_i32(&e, 1, w->o.page_version == 2 ? 2 : 1);
	pqw_write_schema(&e, w->schema);
	pq_tenc_i64(&e, 3, w->total_rows);
	pq_tenc_list_begin(&e, 4, PQ_T_STRUCT, w->n_rg);
	ids_buf_append(&f, w->rg_meta.data, w->rg_meta.len);
	if (w->o.n_kv) {
		pq_tenc_list_begin(&e, 5, PQ_T_STRUCT, w->o.n_kv);
		for (size_t i = 0; i < w->o.n_kv; i++) {
			pq_tenc_elem_struct_begin(&e);
			pq_tenc_string(&e, 1, w->o.kv[i].key);
			if (w->o.kv[i].value)
				pq_tenc_string(&e, 2, w->o.kv[i].value);
			pq_tenc_struct_end(&e);
		}
	}
	pq_tenc_string(&e, 6, w->o.created_by);
	pq_tenc_list_begin(&e, 7, PQ_T_STRUCT, w->ncols);
	for (size_t i = 0; i < w->ncols; i++) {
		pq_tenc_elem_struct_begin(&e);
		pq_tenc_struct_begin(&e, 1);   /* TYPE_ORDER: TypeDefinedOrder {} */
		pq_tenc_struct_end(&e);
		pq_tenc_struct_end(&e);
	}
	pq_tenc_struct_end(&e);
	int rc = pq_tenc_finish(&e);
	if (!rc && f.len > UINT32_MAX)
		rc = IDS_ELIMIT;
	if (rc) {
		ids_buf_free(&f);
		return ids_fail(err, rc, "footer encoding failed");
	}
	uint8_t tail[8];
	uint32_t n = (uint32_t)f.len;
	memcpy(tail, &n, 4);
	memcpy(tail + 4, "PAR1", 4);
	rc = pqw_write_all(w, f.data, f.len, err);
	if (!rc)
		rc = pqw_write_all(w, tail, 8, err);
	ids_buf_free(&f);
	return rc;
}
