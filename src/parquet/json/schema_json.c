/* Schema files for `parquet write --schema`: a small JSON format (documented in
 * include/idbsync/pq_write.h and docs/engines.md) turned into a pq_node tree, with the
 * physical types the chosen profile's engines expect. Parsed with jansson: not a hot path. */
#include "idbsync/pq_write.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define MAX_NEST 20

static pq_node *field(json_t *f, const char *name, const char *where, pq_profile profile,
		      int depth, ids_error *err);

static pq_node *leaf(const char *name, pq_type t, pq_repetition rep, pq_logical_kind lk,
		     pq_converted ct)
{
	pq_node *n = pq_node_new_leaf(name, t, rep);
	if (n) {
		n->logical.kind = lk;
		n->converted = ct;
	}
	return n;
}

static int decimal_bytes(int precision)
{
	/* smallest n with 10^precision - 1 < 2^(8n-1) */
	for (int n = 1; n <= 16; n++) {
		double maxv = 1;
		for (int i = 0; i < 8 * n - 1; i++)
			maxv *= 2;
		double need = 1;
		for (int i = 0; i < precision; i++)
			need *= 10;
		if (need <= maxv)
			return n;
	}
	return 16;
}

/* outer { mid { a [, b] } }; takes ownership of all four, also on failure. */
static pq_node *wrap(pq_node *outer, pq_node *mid, pq_node *a, pq_node *b, ids_error *err)
{
	int ok = outer && mid;
	if (ok && (ok = !pq_node_add(mid, a)))
		a = NULL;
	if (ok && b && (ok = !pq_node_add(mid, b)))
		b = NULL;
	if (ok && !pq_node_add(outer, mid))
		return outer;
	pq_node_free(a);
	pq_node_free(b);
	pq_node_free(mid);
	pq_node_free(outer);
	ids_fail(err, IDS_ENOMEM, "out of memory");
	return NULL;
}

static pq_node *struct_fields(json_t *arr, const char *name, pq_repetition rep,
			      const char *where, pq_profile profile, int depth, ids_error *err)
{
	if (!json_is_array(arr) || !json_array_size(arr)) {
		ids_fail(err, IDS_EINVAL, "%s: \"fields\" must be a non-empty array", where);
		return NULL;
	}
	pq_node *g = pq_node_new_group(name, rep);
	if (!g) {
		ids_fail(err, IDS_ENOMEM, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < json_array_size(arr); i++) {
		char w[256];
		snprintf(w, sizeof w, "%s.fields[%zu]", where, i);
		json_t *f = json_array_get(arr, i);
		json_t *nm = json_object_get(f, "name");
		if (!json_is_string(nm) || !json_string_length(nm)) {
			ids_fail(err, IDS_EINVAL, "%s: missing \"name\"", w);
			pq_node_free(g);
			return NULL;
		}
		pq_node *c = field(f, json_string_value(nm), w, profile, depth + 1, err);
		if (!c) {
			pq_node_free(g);
			return NULL;
		}
		if (pq_node_add(g, c)) {
			pq_node_free(c);
			pq_node_free(g);
			ids_fail(err, IDS_ENOMEM, "out of memory");
			return NULL;
		}
	}
	return g;
}

static pq_node *field(json_t *f, const char *name, const char *where, pq_profile profile,
		      int depth, ids_error *err)
{
	if (depth > MAX_NEST) {
		ids_fail(err, IDS_EINVAL, "%s: nested deeper than %d", where, MAX_NEST);
		return NULL;
	}
	if (!json_is_object(f)) {
		ids_fail(err, IDS_EINVAL, "%s: expected an object", where);
		return NULL;
	}
	const char *t = json_string_value(json_object_get(f, "type"));
	if (!t) {
		ids_fail(err, IDS_EINVAL, "%s: missing \"type\"", where);
		return NULL;
	}
	pq_repetition rep = json_is_true(json_object_get(f, "required")) ? PQ_REQUIRED : PQ_OPTIONAL;
	pq_node *n = NULL;
	char w[256];
	if (!strcmp(t, "boolean") || !strcmp(t, "bool"))
		n = leaf(name, PQ_BOOLEAN, rep, PQ_LT_NONE, PQ_CT_NONE);
	else if (!strcmp(t, "int32"))
		n = leaf(name, PQ_INT32, rep, PQ_LT_NONE, PQ_CT_NONE);
	else if (!strcmp(t, "int64"))
		n = leaf(name, PQ_INT64, rep, PQ_LT_NONE, PQ_CT_NONE);
	else if (!strcmp(t, "float"))
		n = leaf(name, PQ_FLOAT, rep, PQ_LT_NONE, PQ_CT_NONE);
	else if (!strcmp(t, "double"))
		n = leaf(name, PQ_DOUBLE, rep, PQ_LT_NONE, PQ_CT_NONE);
	else if (!strcmp(t, "string"))
		n = leaf(name, PQ_BYTE_ARRAY, rep, PQ_LT_STRING, PQ_CT_UTF8);
	else if (!strcmp(t, "json"))
		n = leaf(name, PQ_BYTE_ARRAY, rep, PQ_LT_JSON, PQ_CT_JSON);
	else if (!strcmp(t, "binary"))
		n = leaf(name, PQ_BYTE_ARRAY, rep, PQ_LT_NONE, PQ_CT_NONE);
	else if (!strcmp(t, "date"))
		n = leaf(name, PQ_INT32, rep, PQ_LT_DATE, PQ_CT_DATE);
	else if (!strcmp(t, "int96"))
		n = leaf(name, PQ_INT96, rep, PQ_LT_NONE, PQ_CT_NONE);
	else if (!strcmp(t, "uuid")) {
		if ((n = leaf(name, PQ_FIXED_LEN_BYTE_ARRAY, rep, PQ_LT_UUID, PQ_CT_NONE)))
			n->type_length = 16;
	} else if (!strcmp(t, "fixed")) {
		json_int_t len = json_integer_value(json_object_get(f, "length"));
		if (len <= 0 || len > (1 << 20)) {
			ids_fail(err, IDS_EINVAL, "%s: \"length\" must be 1..%d", where, 1 << 20);
			return NULL;
		}
		if ((n = leaf(name, PQ_FIXED_LEN_BYTE_ARRAY, rep, PQ_LT_NONE, PQ_CT_NONE)))
			n->type_length = (int32_t)len;
	} else if (!strcmp(t, "timestamp")) {
		const char *u = json_string_value(json_object_get(f, "unit"));
		json_t *utcj = json_object_get(f, "utc");
		int utc = utcj ? json_is_true(utcj) : 1;
		if (!u && profile == PQ_PROFILE_COMPAT && utc) {
			n = leaf(name, PQ_INT96, rep, PQ_LT_NONE, PQ_CT_NONE);
		} else {
			pq_time_unit unit = PQ_MICROS;
			if (u && !strcmp(u, "millis"))
				unit = PQ_MILLIS;
			else if (u && !strcmp(u, "nanos"))
				unit = PQ_NANOS;
			else if (u && strcmp(u, "micros")) {
				ids_fail(err, IDS_EINVAL, "%s: \"unit\" must be millis, micros or nanos",
					 where);
				return NULL;
			}
			if ((n = leaf(name, PQ_INT64, rep, PQ_LT_TIMESTAMP, PQ_CT_NONE))) {
				n->logical.unit = unit;
				n->logical.utc = utc;
				if (utc && unit != PQ_NANOS)
					n->converted = unit == PQ_MILLIS ? PQ_CT_TIMESTAMP_MILLIS
									 : PQ_CT_TIMESTAMP_MICROS;
			}
		}
	} else if (!strcmp(t, "decimal")) {
		json_int_t p = json_integer_value(json_object_get(f, "precision"));
		json_int_t s = json_integer_value(json_object_get(f, "scale"));
		if (p < 1 || p > 38 || s < 0 || s > p) {
			ids_fail(err, IDS_EINVAL, "%s: decimal needs 1 <= precision <= 38 and "
				 "0 <= scale <= precision", where);
			return NULL;
		}
		pq_type pt = PQ_FIXED_LEN_BYTE_ARRAY;
		if (profile == PQ_PROFILE_MODERN)
			pt = p <= 9 ? PQ_INT32 : p <= 18 ? PQ_INT64 : PQ_FIXED_LEN_BYTE_ARRAY;
		if ((n = leaf(name, pt, rep, PQ_LT_DECIMAL, PQ_CT_DECIMAL))) {
			n->logical.precision = (int32_t)p;
			n->logical.scale = (int32_t)s;
			if (pt == PQ_FIXED_LEN_BYTE_ARRAY)
				n->type_length = decimal_bytes((int)p);
		}
	} else if (!strcmp(t, "struct")) {
		return struct_fields(json_object_get(f, "fields"), name, rep, where, profile, depth,
				     err);
	} else if (!strcmp(t, "list")) {
		snprintf(w, sizeof w, "%s.element", where);
		pq_node *e = field(json_object_get(f, "element"), "element", w, profile, depth + 1, err);
		if (!e)
			return NULL;
		pq_node *outer = pq_node_new_group(name, rep);
		if (outer) {
			outer->logical.kind = PQ_LT_LIST;
			outer->converted = PQ_CT_LIST;
		}
		return wrap(outer, pq_node_new_group("list", PQ_REPEATED), e, NULL, err);
	} else if (!strcmp(t, "map")) {
		snprintf(w, sizeof w, "%s.key", where);
		pq_node *k = field(json_object_get(f, "key"), "key", w, profile, depth + 1, err);
		if (!k)
			return NULL;
		k->repetition = PQ_REQUIRED;
		if (k->type == PQ_GROUP) {
			pq_node_free(k);
			ids_fail(err, IDS_EINVAL, "%s: map keys must be a primitive type", w);
			return NULL;
		}
		snprintf(w, sizeof w, "%s.value", where);
		pq_node *v = field(json_object_get(f, "value"), "value", w, profile, depth + 1, err);
		if (!v) {
			pq_node_free(k);
			return NULL;
		}
		pq_node *outer = pq_node_new_group(name, rep);
		if (outer) {
			outer->logical.kind = PQ_LT_MAP;
			outer->converted = PQ_CT_MAP;
		}
		return wrap(outer, pq_node_new_group("key_value", PQ_REPEATED), k, v, err);
	} else {
		ids_fail(err, IDS_EINVAL, "%s: unknown type '%s'", where, t);
		return NULL;
	}
	if (!n)
		ids_fail(err, IDS_ENOMEM, "out of memory");
	return n;
}

int pq_schema_from_json(pq_node **out, const char *text, size_t len, pq_profile profile,
			ids_error *err)
{
	*out = NULL;
	json_error_t je;
	json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!doc)
		return ids_fail(err, IDS_EINVAL, "schema: %d:%d: %s", je.line, je.column, je.text);
	pq_node *root = struct_fields(json_object_get(doc, "fields"), "schema", PQ_REQUIRED,
				      "schema", profile, 0, err);
	json_decref(doc);
	if (!root)
		return err ? err->code : IDS_EINVAL;
	*out = root;
	return 0;
}
