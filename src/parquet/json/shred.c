/* Shreds one JSON row straight into the writer's column buffers (Dremel levels), walking
 * the text with the streaming scanner: no DOM, one pass. The schema is compiled once into
 * a tree of shn nodes that know their levels, their leaf columns and how to convert a
 * JSON value; struct keys are matched in the order they were last seen, so rows that
 * share a key order cost one string compare per field. */
#include "shred.h"
#include "infer_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static shn *build(pqw_shred *s, const pq_node *in, const pq_node *out, shn *parent,
		  int16_t pdef, int16_t prep, size_t *leaf, int as_content, ids_error *err);

static int is_list(const pq_node *n)
{
	return n->type == PQ_GROUP && (n->logical.kind == PQ_LT_LIST || n->converted == PQ_CT_LIST) &&
	       n->n_children == 1 && n->children[0]->repetition == PQ_REPEATED;
}

static int is_map(const pq_node *n)
{
	if (n->type != PQ_GROUP || n->n_children != 1 ||
	    !(n->logical.kind == PQ_LT_MAP || n->converted == PQ_CT_MAP ||
	      n->converted == PQ_CT_MAP_KEY_VALUE))
		return 0;
	const pq_node *kv = n->children[0];
	return kv->repetition == PQ_REPEATED && kv->type == PQ_GROUP &&
	       (kv->n_children == 1 || kv->n_children == 2) &&
	       kv->children[0]->type != PQ_GROUP;
}

static int leaf_conv(const pq_node *n, shn *x)
{
	const pq_logical *l = &n->logical;
	pq_converted ct = n->converted;
	x->width = n->type_length;
	int dec = l->kind == PQ_LT_DECIMAL || ct == PQ_CT_DECIMAL;
	x->scale = l->scale;
	x->prec = l->precision;
	switch (n->type) {
	case PQ_BOOLEAN: return CV_BOOL;
	case PQ_INT32:
		if (dec)
			return CV_DEC_I32;
		if (l->kind == PQ_LT_DATE || ct == PQ_CT_DATE)
			return CV_DATE;
		x->bits = l->kind == PQ_LT_INTEGER ? l->bit_width
			  : ct == PQ_CT_INT_8 || ct == PQ_CT_UINT_8 ? 8
			  : ct == PQ_CT_INT_16 || ct == PQ_CT_UINT_16 ? 16 : 32;
		if (x->bits < 8 || x->bits > 32)
			x->bits = 32;
		return CV_I32;
	case PQ_INT64:
		if (dec)
			return CV_DEC_I64;
		if (l->kind == PQ_LT_TIMESTAMP) {
			x->unit = l->unit;
			return CV_TS;
		}
		if (ct == PQ_CT_TIMESTAMP_MILLIS || ct == PQ_CT_TIMESTAMP_MICROS) {
			x->unit = ct == PQ_CT_TIMESTAMP_MILLIS ? PQ_MILLIS : PQ_MICROS;
			return CV_TS;
		}
		return CV_I64;
	case PQ_INT96: return CV_INT96;
	case PQ_FLOAT: return CV_FLOAT;
	case PQ_DOUBLE: return CV_DOUBLE;
	case PQ_BYTE_ARRAY:
		if (dec)
			return CV_DEC_BA;
		if (l->kind == PQ_LT_JSON || ct == PQ_CT_JSON)
			return CV_JSON;
		if (l->kind == PQ_LT_STRING || l->kind == PQ_LT_ENUM || ct == PQ_CT_UTF8 ||
		    ct == PQ_CT_ENUM)
			return CV_STRING;
		return CV_BINARY;
	case PQ_FIXED_LEN_BYTE_ARRAY:
		if (dec)
			return n->type_length <= 16 ? CV_DEC_FLBA : -1;
		if (l->kind == PQ_LT_UUID && n->type_length == 16)
			return CV_UUID;
		return CV_FLBA;
	default: return -1;
	}
}

static shn *node_new(pqw_shred *s, const pq_node *in, shn *parent, int kind)
{
	shn *x = calloc(1, sizeof *x);
	if (!x)
		return NULL;
	x->next_free = s->all;
	s->all = x;
	x->kind = kind;
	x->name = in->name;
	x->name_len = strlen(in->name);
	pqj_key_init(&x->key, x->name, x->name_len);
	x->parent = parent;
	x->required = in->repetition == PQ_REQUIRED;
	return x;
}

/* in: the caller's node (JSON names); out: the writer's node (same shape). */
static shn *build(pqw_shred *s, const pq_node *in, const pq_node *out, shn *parent,
		  int16_t pdef, int16_t prep, size_t *leaf, int as_content, ids_error *err)
{
	int kind = in->type != PQ_GROUP ? SH_LEAF : is_list(in) ? SH_LIST : is_map(in) ? SH_MAP
										      : SH_STRUCT;
	shn *x = node_new(s, in, parent, kind);
	if (!x) {
		ids_fail(err, IDS_ENOMEM, "out of memory");
		return NULL;
	}
	x->repeated = in->repetition == PQ_REPEATED && !as_content;
	x->def = (int16_t)(pdef + (in->repetition != PQ_REQUIRED));
	x->rep = (int16_t)(prep + (in->repetition == PQ_REPEATED));
	x->first = *leaf;
	if (kind == SH_LEAF) {
		x->col = &s->cols[(*leaf)++];
		x->conv = leaf_conv(in, x);
		if (x->conv < 0) {
			ids_fail(err, IDS_EINVAL, "column '%s': type not supported by the row API",
				 in->name);
			return NULL;
		}
	} else if (kind == SH_LIST) {
		const pq_node *g = in->children[0], *go = out->children[0];
		int16_t gdef = (int16_t)(x->def + 1), grep = (int16_t)(x->rep + 1);
		x->elem_rep = grep;
		/* 3-level unless the repeated group is itself the element (legacy 2-level forms) */
		int three = g->type == PQ_GROUP && g->n_children == 1 && strcmp(g->name, "array") &&
			    !(strlen(g->name) == x->name_len + 6 &&
			      !strncmp(g->name, in->name, x->name_len) &&
			      !strcmp(g->name + x->name_len, "_tuple"));
		x->three = three;
		if (three)
			x->elem = build(s, g->children[0], go->children[0], x, gdef, grep, leaf, 0, err);
		else
			x->elem = build(s, g, go, x, (int16_t)(gdef - 1), (int16_t)(grep - 1), leaf, 1,
					err);
		if (!x->elem)
			return NULL;
	} else {
		const pq_node *grp = in, *grpo = out;
		int16_t def = x->def, rep = x->rep;
		if (kind == SH_MAP) {
			/* the key_value group behaves as a struct holding key and value */
			grp = in->children[0];
			grpo = out->children[0];
			x->elem_rep = (int16_t)(x->rep + 1);
			shn *kv = node_new(s, grp, x, SH_STRUCT);
			if (!kv) {
				ids_fail(err, IDS_ENOMEM, "out of memory");
				return NULL;
			}
			kv->def = def = (int16_t)(x->def + 1);
			kv->rep = rep = x->elem_rep;
			kv->first = *leaf;
			x->elem = kv;
			x = kv;
		}
		x->nkids = grp->n_children;
		x->kids = calloc(x->nkids, sizeof *x->kids);
		x->seen = calloc(x->nkids, sizeof *x->seen);
		if (!x->kids || !x->seen) {
			ids_fail(err, IDS_ENOMEM, "out of memory");
			return NULL;
		}
		for (size_t i = 0; i < x->nkids; i++)
			if (!(x->kids[i] = build(s, grp->children[i], grpo->children[i], x, def, rep,
						 leaf, 0, err)))
				return NULL;
		if (x->nkids > 8) {
			/* sparse rows miss the expected-next-key guess: find kids by hash */
			x->index_mask = pqj_index_mask(x->nkids);
			x->index = calloc(x->index_mask + 1, sizeof *x->index);
			if (!x->index) {
				ids_fail(err, IDS_ENOMEM, "out of memory");
				return NULL;
			}
			for (size_t i = 0; i < x->nkids; i++)
				pqj_index_put(x->index, x->index_mask, x->kids[i]->name,
					      x->kids[i]->name_len, i);
		}
		x->nleaves = *leaf - x->first;
		if (kind == SH_MAP)
			x = x->parent;
	}
	x->nleaves = *leaf - x->first;
	return x;
}

int pqw_shred_new(pqw_shred **out, pq_writer *w, pqw_col *cols, ids_error *err)
{
	pqw_shred *s = calloc(1, sizeof *s);
	if (!s)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	s->w = w;
	s->cols = cols ? cols : w->cols;
	pqj_init(&s->j, err);
	ids_buf_init(&s->tmp, 0);
	size_t leaf = 0;
	/* the root is a required struct at level 0 */
	s->root = build(s, w->in_schema, w->schema, NULL, 0, 0, &leaf, 1, err);
	if (!s->root) {
		pqw_shred_free(s);
		return err ? err->code : IDS_EINVAL;
	}
	s->root->def = 0;
	*out = s;
	return 0;
}

void pqw_shred_free(pqw_shred *s)
{
	if (!s)
		return;
	for (shn *x = s->all, *n; x; x = n) {
		n = x->next_free;
		free(x->kids);
		free(x->seen);
		free(x->index);
		free(x->eager);
		free(x);
	}
	pqj_free(&s->j);
	ids_buf_free(&s->tmp);
	free(s->lazy);
	free(s);
}

int shred_failf(pqw_shred *s, const shn *x, const char *at, const char *fmt, ...)
{
	char path[256] = "", msg[256];
	const shn *chain[PQW_MAX_DEPTH + 2];
	int n = 0;
	for (const shn *p = x; p && p->parent && n < PQW_MAX_DEPTH + 1; p = p->parent)
		chain[n++] = p;
	size_t len = 0;
	while (n--) {
		int k = snprintf(path + len, sizeof path - len, "%s%s", len ? "." : "", chain[n]->name);
		if (k < 0 || (size_t)k >= sizeof path - len)
			break;
		len += (size_t)k;
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (len)
		return pqj_fail(&s->j, at, "field '%s': %s", path, msg);
	return pqj_fail(&s->j, at, "%s", msg);
}

int shred_oom(pqw_shred *s, int rc)
{
	if (s->j.err)
		ids_fail(s->j.err, rc, rc == IDS_ELIMIT ? "value too large" : "out of memory");
	s->j.err_off = (size_t)(s->j.p - s->j.start);
	return rc;
}

int pqw_shred_row(pqw_shred *s, const char *json, size_t len, size_t *err_off, ids_error *err)
{
	int rc = pqj_row_begin(&s->j, json, len, err);
	rc = pqj_row_end(&s->j, rc ? rc : shred_content(s, s->root, 0, 0), err_off);
	s->row++;
	return rc;
}

/* Deferring pays for sparse rows: the wide bench set leaves ~110 of 120 fields out of
 * every row, and a null entry per field per row was most of its shredding. Only the
 * root's optional scalar kids defer: their null is always (def 0, rep 0), whatever row.
 * Roots of up to DEFER_MIN_KIDS fields do not: the check per value then costs about what
 * it saves (callgrind, the 8-field mixed and orders sets: +0.3-0.5% instructions). */
#define DEFER_MIN_KIDS 16

void pqw_shred_defer(pqw_shred *s, int on)
{
	shn *r = s->root;
	s->row = 0;
	if (on && !s->lazy && r->kind == SH_STRUCT && r->nkids > DEFER_MIN_KIDS) {
		s->lazy = calloc(r->nkids, sizeof *s->lazy);
		r->eager = calloc(r->nkids, sizeof *r->eager);
		if (!s->lazy || !r->eager) {   /* no memory for it: shred eagerly */
			free(s->lazy);
			free(r->eager);
			s->lazy = NULL;
			r->eager = NULL;
			return;
		}
		for (size_t i = 0; i < r->nkids; i++) {
			shn *k = r->kids[i];
			k->lazy = k->kind == SH_LEAF && !k->required && !k->repeated && k->def == 1;
			if (k->lazy)
				s->lazy[s->nlazy++] = k;
			else
				r->eager[r->neager++] = i;
		}
	}
	for (size_t i = 0; i < s->nlazy; i++)
		s->lazy[i]->filled = 0;
}

int pqw_shred_catch_up(pqw_shred *s)
{
	for (size_t i = 0; i < s->nlazy; i++) {
		shn *k = s->lazy[i];
		if (k->filled < s->row && pqw_put_nulls(k->col, 0, s->row - k->filled))
			return IDS_ENOMEM;
		k->filled = s->row;
	}
	return 0;
}

static void annotate(shn *x, const pqi_node *n)
{
	x->skind = pqi_kind(n);
	if (x->skind == PQI_STRUCT && x->kind == SH_LEAF && pqi_nfields(n))
		x->skind = PQI_TEXT;   /* cannot happen for an inferred schema; be safe */
	x->sdigits = 9;
	if (x->kind == SH_LEAF && x->conv == CV_TS)
		x->sdigits = x->unit == PQ_MILLIS ? 3 : x->unit == PQ_MICROS ? 6 : 9;
	if (x->kind == SH_STRUCT)
		for (size_t i = 0; i < x->nkids; i++)
			annotate(x->kids[i], pqi_field(n, x->kids[i]->name, x->kids[i]->name_len));
	else if (x->kind == SH_LIST && x->elem)
		annotate(x->elem, pqi_elem(n));
}

int pqw_shred_strict(pqw_shred *s, const pq_infer *inf)
{
	s->strict = 1;
	annotate(s->root, pqi_root(inf));
	return 0;
}

int shred_conflict(pqw_shred *s, const shn *x, const char *at, const char *what)
{
	shred_failf(s, x, at, "%s (the schema inferred from the first rows does not fit)", what);
	if (s->j.err)
		s->j.err->code = IDS_ECONFLICT;
	return IDS_ECONFLICT;
}
