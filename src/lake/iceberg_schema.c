/* Field ids and schemas of the Iceberg tables: ids are assigned to the writer's Parquet schema
 * tree (lk_table_schema calls lk_ice_field_ids) from one map per store, "path:type" -> id, so
 * every file carries them and a type change gets a new id; the Iceberg schema JSON is built from
 * the same tree, and the ids of committed schemas are read back at start. docs/iceberg.md. */
#include "iceberg.h"

#include <stdio.h>
#include <string.h>

static const char *ice_type(const pq_node *n)
{
	if (n->type == PQ_GROUP)
		return n->logical.kind == PQ_LT_LIST ? "list" : "struct";
	switch (n->type) {
	case PQ_BOOLEAN: return "boolean";
	case PQ_INT32: return "int";
	case PQ_INT64: return n->logical.kind == PQ_LT_TIMESTAMP ? "timestamptz" : "long";
	case PQ_INT96: return "timestamptz";
	case PQ_FLOAT: return "float";
	case PQ_DOUBLE: return "double";
	default:
		return n->logical.kind == PQ_LT_STRING || n->converted == PQ_CT_UTF8 ? "string" : "binary";
	}
}

static int sys_id(const char *name)
{
	for (int i = 0; lk_reserved_cols[i]; i++)
		if (!strcmp(lk_reserved_cols[i], name) && strcmp(name, "dt"))
			return i + 1;
	return 0;
}

static int id_for(ice_ent *e, const char *key)
{
	json_t *x = json_object_get(e->ids, key);
	if (x)
		return (int)json_integer_value(x);
	int id = e->next_id++;
	json_object_set_new(e->ids, key, json_integer(id));
	return id;
}

static void assign(ice_ent *e, pq_node *n, const char *prefix, int top)
{
	int sid = top ? sys_id(n->name) : 0;
	if (sid) {
		n->field_id = sid;
		return;
	}
	char key[1200], sub[1100];
	snprintf(key, sizeof key, "%s%s:%s", prefix, n->name, ice_type(n));
	snprintf(sub, sizeof sub, "%s%s.", prefix, n->name);
	n->field_id = id_for(e, key);
	if (n->type != PQ_GROUP)
		return;
	if (n->logical.kind == PQ_LT_LIST) {
		if (n->n_children == 1 && n->children[0]->n_children == 1)
			assign(e, n->children[0]->children[0], sub, 0);
		return;
	}
	for (size_t i = 0; i < n->n_children; i++)
		assign(e, n->children[i], sub, 0);
}

/* The ids of an Iceberg schema's fields back into the map (at load). */
/* "n__long": a column kept under its old id after its type changed. Sanitized names have no
 * "__" except before a uniqueness number ("order__2": a reserved word made unique), so a type
 * name after the last "__" marks a retired column. */
static int retired(const char *name)
{
	static const char *const types[] = {"boolean", "int", "long", "float", "double", "string", "binary",
					    "timestamptz", "struct", "list", NULL};
	const char *u = NULL;
	for (const char *p = strstr(name, "__"); p; p = strstr(p + 1, "__"))
		u = p;
	for (int i = 0; u && types[i]; i++)
		if (!strcmp(u + 2, types[i]))
			return 1;
	return 0;
}

static void learn_ids(ice_ent *e, json_t *fields, const char *prefix, int top);

static void learn_type(ice_ent *e, json_t *type, const char *path)
{
	if (!json_is_object(type))
		return;
	const char *k = json_string_value(json_object_get(type, "type"));
	char sub[1100];
	snprintf(sub, sizeof sub, "%s.", path);
	if (k && !strcmp(k, "struct"))
		learn_ids(e, json_object_get(type, "fields"), sub, 0);
	else if (k && !strcmp(k, "list")) {
		json_t *el = json_object_get(type, "element");
		char key[1200];
		const char *et = json_is_string(el) ? json_string_value(el) : json_string_value(json_object_get(el, "type"));
		snprintf(key, sizeof key, "%selement:%s", sub, et ? et : "?");
		json_object_set_new(e->ids, key, json_integer(json_integer_value(json_object_get(type, "element-id"))));
		char ep[1200];
		snprintf(ep, sizeof ep, "%selement", sub);
		learn_type(e, el, ep);
	}
}

static void learn_ids(ice_ent *e, json_t *fields, const char *prefix, int top)
{
	size_t i;
	json_t *f;
	json_array_foreach(fields, i, f)
	{
		const char *name = json_string_value(json_object_get(f, "name"));
		json_t *type = json_object_get(f, "type");
		int id = (int)json_integer_value(json_object_get(f, "id"));
		if (!name || (top && sys_id(name)) || retired(name))
			continue;   /* system columns have fixed ids; "a__long" is a retired column */
		const char *tn = json_is_string(type) ? json_string_value(type) : json_string_value(json_object_get(type, "type"));
		char key[1200], path[1100];
		snprintf(key, sizeof key, "%s%s:%s", prefix, name, tn ? tn : "?");
		snprintf(path, sizeof path, "%s%s", prefix, name);
		json_object_set_new(e->ids, key, json_integer(id));
		if (id >= e->next_id)
			e->next_id = id + 1;
		learn_type(e, type, path);
	}
}


void lk_ice_field_ids(lake *l, const lk_table *t, pq_node *root)
{
	ice_ent *e;
	ids_error err = IDS_ERROR_INIT;
	if (!l->ice || !root || ice_ent_get(l, (lk_table *)t, &e, &err))
		return;   /* a load error comes back at the commit */
	for (size_t i = 0; i < root->n_children; i++)
		assign(e, root->children[i], "", 1);
}

/* ---- Iceberg schema JSON from the Parquet schema tree ---- */
static json_t *type_json(const pq_node *n);

static json_t *field_json(const pq_node *n)
{
	return json_pack("{sisssbso}", "id", (int)n->field_id, "name", n->name, "required", 0, "type", type_json(n));
}

static json_t *type_json(const pq_node *n)
{
	if (n->type != PQ_GROUP)
		return json_string(ice_type(n));
	if (n->logical.kind == PQ_LT_LIST && n->n_children == 1 && n->children[0]->n_children == 1) {
		const pq_node *el = n->children[0]->children[0];
		return json_pack("{sssisbso}", "type", "list", "element-id", (int)el->field_id, "element-required",
				 el->repetition == PQ_REQUIRED, "element", type_json(el));
	}
	json_t *a = json_array();
	for (size_t i = 0; i < n->n_children; i++)
		json_array_append_new(a, field_json(n->children[i]));
	return json_pack("{ssso}", "type", "struct", "fields", a);
}

int ice_max_id(json_t *fields)
{
	int m = 0;
	size_t i;
	json_t *f;
	json_array_foreach(fields, i, f)
	{
		int id = (int)json_integer_value(json_object_get(f, "id"));
		if (id > m)
			m = id;
		json_t *ty = json_object_get(f, "type");
		json_t *el = json_object_get(ty, "element-id");
		if (el && json_integer_value(el) > m)
			m = (int)json_integer_value(el);
		json_t *sub = json_object_get(ty, "fields");
		if (!sub && json_is_object(json_object_get(ty, "element")))
			sub = json_object_get(json_object_get(ty, "element"), "fields");
		int s = sub ? ice_max_id(sub) : 0;
		if (s > m)
			m = s;
	}
	return m;
}

/* The element of array member `list` of meta whose member `key` is id, or NULL. */
json_t *ice_find_by_id(json_t *meta, const char *list, const char *key, json_int_t id)
{
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(meta, list), i, s)
		if (json_integer_value(json_object_get(s, key)) == id)
			return s;
	return NULL;
}

json_t *ice_current_schema(json_t *meta)
{
	return ice_find_by_id(meta, "schemas", "schema-id", json_integer_value(json_object_get(meta, "current-schema-id")));
}

/* The fields of table kind k now: the writer's schema, plus every top-level column of the
 * previous schema whose id left it (its type changed in a way Iceberg does not promote): it
 * stays readable as "<name>__<type>" so no file's values disappear from the current schema. */
json_t *ice_schema_fields(lake *l, ice_ent *e, int k, ids_error *err)
{
	pq_node *root = lk_table_schema(l, e->t, (lk_table_kind)k);
	if (!root)
		return ids_fail(err, IDS_ENOMEM, "out of memory"), NULL;
	json_t *fields = json_array();
	for (size_t i = 0; i < root->n_children; i++)
		json_array_append_new(fields, field_json(root->children[i]));
	pq_node_free(root);
	json_t *prev = e->k[k].meta ? ice_current_schema(e->k[k].meta) : NULL;
	size_t i, j;
	json_t *f, *g;
	json_array_foreach(json_object_get(prev, "fields"), i, f)
	{
		json_int_t id = json_integer_value(json_object_get(f, "id"));
		if (id < ICE_FIRST_USER_ID)
			continue;   /* system columns: fixed ids and types, never retired */
		int found = 0;
		json_array_foreach(fields, j, g)
			if (json_integer_value(json_object_get(g, "id")) == id)
				found = 1;
		if (found)
			continue;
		json_t *c = json_deep_copy(f);
		const char *name = json_string_value(json_object_get(f, "name"));
		if (name && !retired(name)) {
			json_t *ty = json_object_get(f, "type");
			const char *tn = json_is_string(ty) ? json_string_value(ty) : json_string_value(json_object_get(ty, "type"));
			char nn[300];
			snprintf(nn, sizeof nn, "%s__%s", name, tn ? tn : "old");
			json_object_set_new(c, "name", json_string(nn));
		}
		json_array_append_new(fields, c);
	}
	return fields;
}

void ice_learn_schema(ice_ent *e, json_t *meta)
{
	learn_ids(e, json_object_get(ice_current_schema(meta), "fields"), "", 1);
}
