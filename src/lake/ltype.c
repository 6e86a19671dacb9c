/* Column types of lake tables: the type tree, stored as JSON in the hidden metadata and turned
 * into Parquet nodes per profile. Inference from values and conversion: lvalue.c. */
#include "lake_int.h"

#include <stdlib.h>
#include <string.h>

static const char *const kind_names[] = {"null", "boolean", "bigint", "double", "string", "json",
					 "binary", "timestamp", "struct", "list"};

const char *lk_kind_name(lk_kind k) { return k <= LK_LIST ? kind_names[k] : "?"; }

lk_type *lk_type_new(lk_kind k)
{
	lk_type *t = calloc(1, sizeof *t);
	if (t)
		t->kind = k;
	return t;
}

void lk_cols_free(lk_col *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(c[i].name);
		free(c[i].field);
		lk_type_free(c[i].type);
	}
	free(c);
}

void lk_type_free(lk_type *t)
{
	if (!t)
		return;
	lk_cols_free(t->fields, t->n_fields);
	lk_type_free(t->elem);
	free(t);
}

static json_t *type_to_json(const lk_type *t)
{
	if (!t)
		return json_string("null");
	if (t->kind == LK_STRUCT)
		return json_pack("{so}", "struct", lk_cols_to_json(t->fields, t->n_fields));
	if (t->kind == LK_LIST)
		return json_pack("{so}", "list", type_to_json(t->elem));
	return json_string(lk_kind_name(t->kind));
}

json_t *lk_cols_to_json(const lk_col *c, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
	{
		json_t *o = json_pack("{sssosi}", "name", c[i].name, "type", type_to_json(c[i].type), "since", c[i].since);
		/* the field as its bytes: a JavaScript key may hold NUL */
		json_object_set_new(o, "field", json_stringn(c[i].field, c[i].field_len));
		json_array_append_new(a, o);
	}
	return a;
}

static int type_from_json(lk_type **out, json_t *j, ids_error *err)
{
	*out = NULL;
	if (json_is_string(j)) {
		for (int k = 0; k <= LK_LIST; k++)
			if (!strcmp(json_string_value(j), kind_names[k])) {
				if (k != LK_NULL)
					*out = lk_type_new((lk_kind)k);
				return 0;
			}
		return ids_fail(err, IDS_ECORRUPT, "unknown column type \"%s\"", json_string_value(j));
	}
	json_t *x;
	if ((x = json_object_get(j, "struct"))) {
		*out = lk_type_new(LK_STRUCT);
		return lk_cols_from_json(&(*out)->fields, &(*out)->n_fields, x, err);
	}
	if ((x = json_object_get(j, "list"))) {
		*out = lk_type_new(LK_LIST);
		return type_from_json(&(*out)->elem, x, err);
	}
	return ids_fail(err, IDS_ECORRUPT, "bad column type");
}

int lk_cols_from_json(lk_col **out, size_t *n, json_t *a, ids_error *err)
{
	*out = NULL;
	*n = 0;
	if (!json_is_array(a))
		return ids_fail(err, IDS_ECORRUPT, "columns: expected an array");
	lk_col *c = calloc(json_array_size(a) + 1, sizeof *c);
	if (!c)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	*out = c;
	for (size_t i = 0; i < json_array_size(a); i++) {
		json_t *e = json_array_get(a, i);
		const char *name = json_string_value(json_object_get(e, "name"));
		const char *field = json_string_value(json_object_get(e, "field"));
		if (!name || !field)
			return ids_fail(err, IDS_ECORRUPT, "columns[%zu]: name and field expected", i);
		c[i].name = strdup(name);
		/* a field name may hold NUL (JavaScript keys can): its length is the JSON string's */
		c[i].field_len = json_string_length(json_object_get(e, "field"));
		c[i].field = malloc(c[i].field_len + 1);
		if (c[i].field) {
			memcpy(c[i].field, field, c[i].field_len);
			c[i].field[c[i].field_len] = 0;
		}
		c[i].since = (int)json_integer_value(json_object_get(e, "since"));
		(*n)++;
		int rc = type_from_json(&c[i].type, json_object_get(e, "type"), err);
		if (rc)
			return ids_wrap(err, "columns[%zu] (%s): ", i, name), rc;
	}
	return 0;
}

pq_node *lk_type_node(const char *name, const lk_type *t, int profile)
{
	lk_kind k = t ? t->kind : LK_STRING;
	pq_node *n = NULL;
	switch (k) {
	case LK_BOOL: return pq_node_new_leaf(name, PQ_BOOLEAN, PQ_OPTIONAL);
	case LK_BIGINT: return pq_node_new_leaf(name, PQ_INT64, PQ_OPTIONAL);
	case LK_DOUBLE: return pq_node_new_leaf(name, PQ_DOUBLE, PQ_OPTIONAL);
	case LK_BINARY: return pq_node_new_leaf(name, PQ_BYTE_ARRAY, PQ_OPTIONAL);
	case LK_TIMESTAMP:
		if (profile == PQ_PROFILE_COMPAT)
			return pq_node_new_leaf(name, PQ_INT96, PQ_OPTIONAL);
		n = pq_node_new_leaf(name, PQ_INT64, PQ_OPTIONAL);
		if (n) {
			n->logical.kind = PQ_LT_TIMESTAMP;
			n->logical.utc = 1;
			n->logical.unit = PQ_MICROS;
			n->converted = PQ_CT_TIMESTAMP_MICROS;
		}
		return n;
	case LK_STRUCT:
		n = pq_node_new_group(name, PQ_OPTIONAL);
		for (size_t i = 0; n && i < t->n_fields; i++)
			pq_node_add(n, lk_type_node(t->fields[i].name, t->fields[i].type, profile));
		return n;
	case LK_LIST: {
		n = pq_node_new_group(name, PQ_OPTIONAL);
		pq_node *rep = pq_node_new_group("list", PQ_REPEATED);
		if (!n || !rep) {
			pq_node_free(n);
			pq_node_free(rep);
			return NULL;
		}
		n->logical.kind = PQ_LT_LIST;
		n->converted = PQ_CT_LIST;
		pq_node_add(rep, lk_type_node("element", t->elem, profile));
		pq_node_add(n, rep);
		return n;
	}
	default:
		n = pq_node_new_leaf(name, PQ_BYTE_ARRAY, PQ_OPTIONAL);
		if (n) {
			n->logical.kind = PQ_LT_STRING;
			n->converted = PQ_CT_UTF8;
		}
		return n;
	}
}
