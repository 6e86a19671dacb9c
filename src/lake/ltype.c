/* Column types of lake tables: inferred from values, widened by fixed rules (docs/lake-layout.md
 * "Schema"), stored as JSON in the hidden metadata, turned into Parquet nodes per profile, and
 * the value conversion that makes a value fit its (possibly widened) column. */
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

json_t *lk_plain_object(json_t *v)
{
	if (!json_is_object(v))
		return NULL;
	json_t *e = json_object_get(v, "$esc");
	if (e && json_object_size(v) == 1 && json_is_object(e))
		return e;
	const char *k;
	json_t *x;
	json_object_foreach(v, k, x)
	{
		if (k[0] == '$')
			return NULL;   /* a tagged value ($date, $bin, $map, ...) */
	}
	return v;
}

/* The kind a single value has on its own (containers: their own kind, contents aside). */
static lk_kind value_kind(json_t *v, int nested)
{
	switch (json_typeof(v)) {
	case JSON_NULL: return LK_NULL;
	case JSON_TRUE:
	case JSON_FALSE: return LK_BOOL;
	case JSON_INTEGER: return LK_BIGINT;
	case JSON_REAL: return LK_DOUBLE;
	case JSON_STRING: return LK_STRING;
	case JSON_ARRAY: return nested == LK_NESTED_STRUCT ? LK_LIST : LK_JSON;
	case JSON_OBJECT: break;
	}
	if (lk_plain_object(v))
		return nested == LK_NESTED_STRUCT ? (json_object_size(lk_plain_object(v)) ? LK_STRUCT : LK_NULL) : LK_JSON;
	json_t *x;
	if ((x = json_object_get(v, "$date")))
		return json_is_string(x) ? LK_TIMESTAMP : LK_NULL;
	if (json_object_get(v, "$num"))
		return LK_DOUBLE;
	if (json_object_get(v, "$bin"))
		return LK_BINARY;
	if (json_object_get(v, "$bigint"))
		return LK_STRING;
	if (json_object_get(v, "$undefined"))
		return LK_NULL;
	return LK_JSON;    /* $map, $set, $regexp: their JSON text */
}

static int reserved_has(const char *const *reserved, const char *n)
{
	for (size_t i = 0; reserved && reserved[i]; i++)
		if (!strcmp(reserved[i], n))
			return 1;
	return 0;
}

typedef struct taken_ctx {
	lk_col *cols;
	size_t n;
	const char *const *reserved;
} taken_ctx;

static int name_taken(void *ctx, const char *n)
{
	taken_ctx *t = ctx;
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->cols[i].name, n))
			return 1;
	return reserved_has(t->reserved, n);
}

static int observe_type(lk_type **tp, json_t *v, int nested, int version);

static int add_col(lk_col **cols, size_t *n, const char *field, json_t *v, int nested, int version,
		   const char *const *reserved)
{
	lk_col *c = realloc(*cols, (*n + 1) * sizeof *c);
	if (!c)
		return 0;
	*cols = c;
	char name[128];
	lk_sanitize(field, name, sizeof name);
	taken_ctx tc = {*cols, *n, reserved};
	lk_unique(name, sizeof name, name_taken, &tc);
	lk_col *x = &c[*n];
	memset(x, 0, sizeof *x);
	x->name = strdup(name);
	x->field = strdup(field);
	x->since = version;
	(*n)++;
	observe_type(&x->type, v, nested, version);
	return 1;
}

/* Merges value v into *tp. Returns the bit set of lk_cols_observe. */
static int observe_type(lk_type **tp, json_t *v, int nested, int version)
{
	lk_kind k = value_kind(v, nested);
	if (k == LK_NULL)
		return 0;
	lk_type *t = *tp;
	if (!t) {
		*tp = t = lk_type_new(k);
		if (!t)
			return 0;
		if (k == LK_STRUCT)
			lk_cols_observe(&t->fields, &t->n_fields, lk_plain_object(v), nested, version, NULL);
		else if (k == LK_LIST)
			for (size_t i = 0; i < json_array_size(v); i++)
				observe_type(&t->elem, json_array_get(v, i), nested, version);
		return 1;
	}
	if (t->kind == k) {
		if (k == LK_STRUCT)
			return lk_cols_observe(&t->fields, &t->n_fields, lk_plain_object(v), nested, version, NULL);
		if (k == LK_LIST) {
			int r = 0;
			for (size_t i = 0; i < json_array_size(v); i++) {
				int had = t->elem != NULL;
				int x = observe_type(&t->elem, json_array_get(v, i), nested, version);
				/* an element type appearing changes the physical type (string placeholder) */
				r |= had ? x : (x ? 2 : 0);
			}
			return r;
		}
		return 0;
	}
	if (t->kind == LK_DOUBLE && k == LK_BIGINT)
		return 0;
	if ((t->kind == LK_STRING && k != LK_STRING) || (t->kind == LK_JSON && k == LK_JSON))
		return 0;     /* a string column holds anything as text */
	lk_kind nk = (t->kind == LK_BIGINT && k == LK_DOUBLE) ? LK_DOUBLE : LK_STRING;
	lk_cols_free(t->fields, t->n_fields);
	t->fields = NULL;
	t->n_fields = 0;
	lk_type_free(t->elem);
	t->elem = NULL;
	t->kind = nk;
	return 2;
}

int lk_cols_observe(lk_col **cols, size_t *n, json_t *v, int nested, int version, const char *const *reserved)
{
	json_t *obj = lk_plain_object(v);
	int r = 0;
	if (!obj) {
		/* a value that is not an object: one column for the whole value */
		if (value_kind(v, nested) == LK_NULL)
			return 0;
		for (size_t i = 0; i < *n; i++)
			if (!strcmp((*cols)[i].field, "$value"))
				return observe_type(&(*cols)[i].type, v, nested, version);
		return add_col(cols, n, "$value", v, nested, version, reserved);
	}
	const char *key;
	json_t *x;
	json_object_foreach(obj, key, x)
	{
		size_t i;
		for (i = 0; i < *n; i++)
			if (!strcmp((*cols)[i].field, key))
				break;
		if (i < *n)
			r |= observe_type(&(*cols)[i].type, x, nested, version);
		else if (value_kind(x, nested) != LK_NULL)
			r |= add_col(cols, n, key, x, nested, version, reserved);
	}
	return r;
}

static json_t *text_of(json_t *v)
{
	if (json_is_string(v))
		return json_incref(v);
	if (json_is_object(v)) {
		json_t *x;
		if (((x = json_object_get(v, "$date")) || (x = json_object_get(v, "$bigint")) ||
		     (x = json_object_get(v, "$num"))) && json_is_string(x) && json_object_size(v) == 1)
			return json_incref(x);
	}
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	json_t *o = s ? json_string(s) : json_null();
	free(s);
	return o ? o : json_null();
}

json_t *lk_convert(json_t *v, const lk_type *t)
{
	lk_kind k = t ? t->kind : LK_STRING;
	if (!v || json_is_null(v) || (json_is_object(v) && json_object_get(v, "$undefined")))
		return json_null();
	json_t *x;
	switch (k) {
	case LK_NULL:
	case LK_STRING:
	case LK_JSON:
		return text_of(v);
	case LK_BOOL:
		return json_is_boolean(v) ? json_incref(v) : json_null();
	case LK_BIGINT:
		return json_is_integer(v) ? json_incref(v) : json_null();
	case LK_DOUBLE:
		if (json_is_number(v))
			return json_incref(v);
		if (json_is_object(v) && json_is_string(x = json_object_get(v, "$num")))
			return json_pack("{sO}", "$num", x);
		return json_null();
	case LK_TIMESTAMP:
		if (json_is_object(v) && json_is_string(x = json_object_get(v, "$date")))
			return json_pack("{sO}", "$date", x);
		return json_null();
	case LK_BINARY:
		if (json_is_object(v) && json_is_string(x = json_object_get(v, "$bin")))
			return json_pack("{sO}", "$bin", x);
		return json_null();
	case LK_STRUCT: {
		json_t *obj = lk_plain_object(v);
		if (!obj || !t->n_fields)
			return json_null();
		json_t *o = json_object();
		for (size_t i = 0; i < t->n_fields; i++)
			json_object_set_new(o, t->fields[i].name, lk_convert(json_object_get(obj, t->fields[i].field),
									  t->fields[i].type));
		return o;
	}
	case LK_LIST: {
		if (!json_is_array(v))
			return json_null();
		json_t *a = json_array();
		for (size_t i = 0; i < json_array_size(v); i++)
			json_array_append_new(a, lk_convert(json_array_get(v, i), t->elem));
		return a;
	}
	}
	return json_null();
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
		json_array_append_new(a, json_pack("{sssssosi}", "name", c[i].name, "field", c[i].field, "type",
						   type_to_json(c[i].type), "since", c[i].since));
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
		c[i].field = strdup(field);
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
