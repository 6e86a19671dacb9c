/* Record assembly: rebuilds nested rows from the leaf columns' repetition and definition
 * levels (Dremel) and writes each row as one JSON object. Structs become objects, LIST
 * (3-level, legacy 2-level) and bare repeated fields become arrays, MAP becomes an object
 * (string keys) or an array of {"key","value"}. Every step consumes at least one level entry,
 * so hostile levels can desynchronise the output but never loop; the reader then reports the
 * inconsistency at the next row boundary. */
#include "parquet/read/rd_internal.h"

#include <stdlib.h>

enum { K_LEAF, K_STRUCT, K_LIST, K_MAP };

typedef struct anode {
	const pq_node *n;
	int kind;
	int def, rep;                /* levels at this node, counting itself */
	size_t first_leaf, n_leaves;
	struct anode *kids;
	size_t n_kids;
	struct anode *rnode, *elem;  /* LIST/MAP: the repeated node and the element (or key) */
	struct anode *value;         /* MAP: value node, NULL for a key-only map */
	int string_keys;             /* MAP: emit as a JSON object */
	char *key;                   /* "name": pre-escaped */
	size_t key_len;
} anode;

struct rd_asm {
	anode root;
	const pq_file_meta *m;
};

static int is_list(const pq_node *n)
{
	return n->logical.kind == PQ_LT_LIST || n->converted == PQ_CT_LIST;
}

static int is_map(const pq_node *n)
{
	return n->logical.kind == PQ_LT_MAP || n->converted == PQ_CT_MAP ||
	       n->converted == PQ_CT_MAP_KEY_VALUE;
}

static int build(anode *a, const pq_node *n, int def, int rep, size_t *leaf, int depth, ids_error *err)
{
	a->n = n;
	if (depth > 0) {
		def += n->repetition != PQ_REQUIRED;
		rep += n->repetition == PQ_REPEATED;
	}
	a->def = def;
	a->rep = rep;
	a->first_leaf = *leaf;
	ids_buf kb = IDS_BUF_INIT;
	rd_json_str(&kb, (const uint8_t *)n->name, strlen(n->name));
	ids_buf_putc(&kb, ':');
	if (kb.failed)
		return ids_fail(err, IDS_ENOMEM, "out of memory for schema");
	a->key = ids_buf_steal(&kb, &a->key_len);
	if (n->type != PQ_GROUP) {
		a->kind = K_LEAF;
		a->n_leaves = 1;
		(*leaf)++;
		return 0;
	}
	a->kind = K_STRUCT;
	a->kids = calloc(n->n_children ? n->n_children : 1, sizeof *a->kids);
	if (!a->kids)
		return ids_fail(err, IDS_ENOMEM, "out of memory for schema");
	a->n_kids = n->n_children;
	for (size_t i = 0; i < n->n_children; i++) {
		int rc = build(&a->kids[i], n->children[i], def, rep, leaf, depth + 1, err);
		if (rc)
			return rc;
	}
	a->n_leaves = *leaf - a->first_leaf;
	if (depth == 0 || a->n_kids != 1 || a->kids[0].n->repetition != PQ_REPEATED)
		return 0;
	anode *r = &a->kids[0];
	if (is_list(n)) {
		/* backward-compatibility rules of LogicalTypes.md for the element node */
		a->kind = K_LIST;
		a->rnode = r;
		a->elem = r;
		if (r->kind != K_LEAF && r->n_kids == 1) {
			size_t nl = strlen(n->name);
			int tuple = strlen(r->n->name) == nl + 6 && strncmp(r->n->name, n->name, nl) == 0 &&
				    strcmp(r->n->name + nl, "_tuple") == 0;
			if (strcmp(r->n->name, "array") != 0 && !tuple)
				a->elem = &r->kids[0];
		}
	} else if (is_map(n) && r->kind == K_STRUCT && r->n_kids >= 1) {
		a->kind = K_MAP;
		a->rnode = r;
		a->elem = &r->kids[0];
		a->value = r->n_kids >= 2 ? &r->kids[1] : NULL;
		const pq_node *k = a->elem->n;
		a->string_keys = k->type == PQ_BYTE_ARRAY && k->repetition == PQ_REQUIRED &&
				 (k->logical.kind == PQ_LT_STRING || k->logical.kind == PQ_LT_ENUM);
	}
	return 0;
}

static void destroy(anode *a)
{
	for (size_t i = 0; i < a->n_kids; i++)
		destroy(&a->kids[i]);
	free(a->kids);
	free(a->key);
}

int rd_asm_new(rd_asm **out, const pq_file_meta *m, ids_error *err)
{
	rd_asm *a = calloc(1, sizeof *a);
	if (!a)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	size_t leaf = 0;
	int rc = build(&a->root, m->schema, 0, 0, &leaf, 0, err);
	if (rc == 0 && leaf != m->n_columns)
		rc = ids_fail(err, IDS_ECORRUPT, "schema leaf count mismatch");
	if (rc) {
		rd_asm_free(a);
		return rc;
	}
	a->m = m;
	*out = a;
	return 0;
}

void rd_asm_free(rd_asm *a)
{
	if (!a)
		return;
	destroy(&a->root);
	free(a);
}

typedef struct ctx {
	rd_col *cols;
	ids_buf *out;
	ids_error *err;
} ctx;

/* Makes the current entry of column c available: 1 yes, 0 column exhausted, <0 error. */
static inline int avail(ctx *x, rd_col *c)
{
	if (c->i < c->n)
		return 1;
	return rd_col_next_page(c, x->err);
}

static inline int cur_def(const rd_col *c) { return c->def && c->desc->max_def ? c->def[c->i] : c->desc->max_def; }
static inline int cur_rep(const rd_col *c) { return c->rep && c->desc->max_rep ? c->rep[c->i] : 0; }

static int ended(ctx *x, rd_col *c)
{
	return ids_fail(x->err, IDS_ECORRUPT, "column '%s' has fewer values than the row structure needs",
			c->desc->path);
}

/* definition level of the first leaf under a, or <0 error */
static int peek_def(ctx *x, const anode *a)
{
	rd_col *c = &x->cols[a->first_leaf];
	int rc = avail(x, c);
	if (rc <= 0)
		return rc < 0 ? rc : ended(x, c);
	return cur_def(c);
}

static inline void consume(rd_col *c)
{
	if (cur_def(c) == c->desc->max_def)
		c->vi++;
	c->i++;
}

/* one entry from every leaf under a (a null or empty node) */
static int skip(ctx *x, const anode *a)
{
	for (size_t l = a->first_leaf; l < a->first_leaf + a->n_leaves; l++) {
		rd_col *c = &x->cols[l];
		int rc = avail(x, c);
		if (rc <= 0)
			return rc < 0 ? rc : ended(x, c);
		consume(c);
	}
	return 0;
}

static int emit_value(ctx *x, const anode *a);

static int emit_field(ctx *x, const anode *a);

/* Elements of repeated node r: [] when absent, else each element until the first leaf's next
 * repetition level drops below r's. */
static int emit_repeated(ctx *x, const anode *r, const anode *elem, const anode *map_parent)
{
	int d = peek_def(x, r);
	if (d < 0)
		return d;
	int obj = map_parent && map_parent->string_keys;
	if (d < r->def) {
		rd_put(x->out, obj ? "{}" : "[]", 2);
		return skip(x, r);
	}
	rd_putc(x->out, obj ? '{' : '[');
	rd_col *first = &x->cols[r->first_leaf];
	for (size_t k = 0;; k++) {
		if (k)
			rd_putc(x->out, ',');
		int rc;
		if (map_parent) {
			if (!obj)
				rd_put(x->out, "{\"key\":", 7);
			rc = emit_field(x, map_parent->elem);
			if (rc == 0) {
				(obj ? rd_putc(x->out, ':') : rd_put(x->out, ",\"value\":", 9));
				rc = map_parent->value ? emit_field(x, map_parent->value)
						       : rd_put(x->out, "null", 4);
			}
			if (!obj)
				rd_putc(x->out, '}');
		} else {
			rc = elem == r ? emit_value(x, r) : emit_field(x, elem);
		}
		if (rc < 0)
			return rc;
		if ((rc = avail(x, first)) < 0)
			return rc;
		if (rc == 0 || cur_rep(first) < r->rep)
			break;
		if (cur_rep(first) > r->rep)
			return ids_fail(x->err, IDS_ECORRUPT, "column '%s': repetition level %d where at most "
					"%d fits", first->desc->path, cur_rep(first), r->rep);
	}
	return rd_putc(x->out, obj ? '}' : ']');
}

static int emit_leaf(ctx *x, const anode *a)
{
	rd_col *c = &x->cols[a->first_leaf];
	int rc = avail(x, c);
	if (rc <= 0)
		return rc < 0 ? rc : ended(x, c);
	if (cur_def(c) < c->desc->max_def) {
		c->i++;
		return rd_put(x->out, "null", 4);
	}
	if (c->vi >= c->nv)
		return ids_fail(x->err, IDS_ECORRUPT, "column '%s': value index past the page", c->desc->path);
	rc = rd_json_value(c->desc, c->vals + c->vi * c->elem, x->out);
	c->vi++;
	c->i++;
	return rc;
}

static int emit_value(ctx *x, const anode *a)
{
	switch (a->kind) {
	case K_LEAF:
		return emit_leaf(x, a);
	case K_LIST:
		return emit_repeated(x, a->rnode, a->elem, NULL);
	case K_MAP:
		return emit_repeated(x, a->rnode, NULL, a);
	default:
		rd_putc(x->out, '{');
		for (size_t i = 0; i < a->n_kids; i++) {
			if (i)
				rd_putc(x->out, ',');
			rd_put(x->out, a->kids[i].key, a->kids[i].key_len);
			int rc = emit_field(x, &a->kids[i]);
			if (rc < 0)
				return rc;
		}
		return rd_putc(x->out, '}');
	}
}

static int emit_field(ctx *x, const anode *a)
{
	if (a->n->repetition == PQ_REPEATED)
		return emit_repeated(x, a, a, NULL);
	if (a->n->repetition == PQ_OPTIONAL) {
		int d = peek_def(x, a);
		if (d < 0)
			return d;
		if (d < a->def) {
			rd_put(x->out, "null", 4);
			return skip(x, a);
		}
	}
	return emit_value(x, a);
}

int rd_asm_row(rd_asm *a, rd_col *cols, ids_buf *out, ids_error *err)
{
	ctx x = {cols, out, err};
	for (size_t l = 0; l < a->m->n_columns; l++) {
		int rc = avail(&x, &cols[l]);
		if (rc < 0)
			return rc;
		if (rc == 0)
			return ended(&x, &cols[l]);
		if (cur_rep(&cols[l]) != 0)
			return ids_fail(err, IDS_ECORRUPT, "column '%s': row starts with repetition level %d",
					cols[l].desc->path, cur_rep(&cols[l]));
	}
	int rc = emit_value(&x, &a->root);
	if (rc < 0)
		return rc;
	if (out->failed)
		return ids_fail(err, out->failed, "row JSON exceeds the output cap");
	return 1;
}
