/* One leaf column of the writer, caller's side: staging levels and PLAIN values into the
 * current page, page buffers, and deciding when a page is full. Encoding a finished page
 * (page.c) happens here on the caller's thread or on an encoder thread (async.c). */
#include "pqw.h"

#include <stdlib.h>
#include <string.h>

#define MAX_PAGE_LEVELS ((size_t)1 << 24)

int pqw_page_init(pqw_page *pg, const pqw_col *c)
{
	memset(pg, 0, sizeof *pg);
	ids_buf_init(&pg->vals, 0);
	pg->cap_lv = 1024;
	if (c->max_def > 0 && !(pg->def = malloc(pg->cap_lv * sizeof *pg->def)))
		return IDS_ENOMEM;
	if (c->max_rep > 0 && !(pg->rep = malloc(pg->cap_lv * sizeof *pg->rep)))
		return IDS_ENOMEM;
	return 0;
}

pqw_page *pqw_page_new(const pqw_col *c)
{
	pqw_page *pg = malloc(sizeof *pg);
	if (pg && pqw_page_init(pg, c)) {
		pqw_page_free(pg);
		free(pg);
		return NULL;
	}
	return pg;
}

static void seg_free(pqw_page *pg)
{
	for (pqw_page *s = pg->seg, *nx; s; s = nx) {
		nx = s->seg;
		s->seg = NULL;
		pqw_page_free(s);
		free(s);
	}
	pg->seg = NULL;
}

size_t pqw_seg_bytes(const pqw_page *pg)
{
	size_t n = 0;
	for (const pqw_page *s = pg->seg; s; s = s->seg)
		n += s->vals.len;
	return n;
}

void pqw_page_unchain(pq_writer *w, pqw_col *c, pqw_page *pg)
{
	for (pqw_page *s = pg->seg, *nx; s; s = nx) {
		nx = s->seg;
		s->seg = NULL;
		pqw_pool_put(w, c, s);
	}
	pg->seg = NULL;
}

void pqw_page_reset(pqw_page *pg)
{
	pg->n_lv = pg->rows = pg->n_vals = 0;
	ids_buf_reset(&pg->vals);
	seg_free(pg);   /* encoders hand a seg back to the pool; this is for failed pages */
}

void pqw_page_free(pqw_page *pg)
{
	free(pg->def);
	free(pg->rep);
	ids_buf_free(&pg->vals);
	pg->def = pg->rep = NULL;
	seg_free(pg);
}

pqw_page *pqw_pool_get(pq_writer *w, pqw_col *c)
{
	pthread_mutex_lock(&w->pool_mu);
	pqw_page *pg = c->pool;
	if (pg)
		c->pool = pg->next;
	pthread_mutex_unlock(&w->pool_mu);
	return pg ? pg : pqw_page_new(c);
}

void pqw_pool_put(pq_writer *w, pqw_col *c, pqw_page *pg)
{
	pqw_page_reset(pg);
	pthread_mutex_lock(&w->pool_mu);
	pg->next = c->pool;
	c->pool = pg;
	pthread_mutex_unlock(&w->pool_mu);
}

int pqw_shadow_init(pqw_col *sh, const pqw_col *c)
{
	memset(sh, 0, sizeof *sh);
	sh->leaf = c->leaf;
	sh->index = c->index;
	sh->type = c->type;
	sh->width = c->width;
	sh->max_def = c->max_def;
	sh->max_rep = c->max_rep;
	sh->order = c->order;
	return pqw_page_init(&sh->cur, c);
}

void pqw_scratch_free(pqw_scratch *sc)
{
	ids_buf_free(&sc->page);
	ids_buf_free(&sc->comp);
	ids_buf_free(&sc->hdr);
	ids_buf_free(&sc->piece);
	free(sc->idx);
	free(sc->hash);
	memset(sc, 0, sizeof *sc);
}

int pqw_col_init(pq_writer *w, pqw_col *c, const pq_node *leaf, char **path, size_t path_len,
		 int16_t max_def, int16_t max_rep)
{
	memset(c, 0, sizeof *c);
	c->leaf = leaf;
	c->path = path;
	c->path_len = path_len;
	c->type = leaf->type;
	c->max_def = max_def;
	c->max_rep = max_rep;
	switch (leaf->type) {
	case PQ_BOOLEAN: c->width = 1; break;
	case PQ_INT32: case PQ_FLOAT: c->width = 4; break;
	case PQ_INT64: case PQ_DOUBLE: c->width = 8; break;
	case PQ_INT96: c->width = 12; break;
	case PQ_FIXED_LEN_BYTE_ARRAY: c->width = leaf->type_length; break;
	default: c->width = 0; break;
	}
	if (leaf->type == PQ_INT96)
		c->order = PQW_ORDER_NONE;
	else if (leaf->type == PQ_BYTE_ARRAY)
		c->order = PQW_ORDER_UNSIGNED;
	else if (leaf->type == PQ_FIXED_LEN_BYTE_ARRAY)
		c->order = leaf->logical.kind == PQ_LT_DECIMAL || leaf->converted == PQ_CT_DECIMAL
				   ? PQW_ORDER_DECIMAL
				   : PQW_ORDER_UNSIGNED;
	else if ((leaf->logical.kind == PQ_LT_INTEGER && !leaf->logical.is_signed) ||
		 (leaf->converted >= PQ_CT_UINT_8 && leaf->converted <= PQ_CT_UINT_64))
		c->order = PQW_ORDER_NONE;   /* unsigned order: not worth a second code path */
	else
		c->order = PQW_ORDER_SIGNED;
	ids_buf_init(&c->chunk, 0);
	if (pqw_page_init(&c->cur, c))
		return IDS_ENOMEM;
	c->dict_max = w->o.dict_max_bytes;
	c->ztune = c->gz_level = c->lz4_pieces = -1;
	if (w->o.dictionary && leaf->type != PQ_BOOLEAN) {
		if (!(c->dict = pqw_dict_new(leaf->type, c->width)))
			return IDS_ENOMEM;
		c->dict_mode = PQW_DICT_ON;
	}
	return 0;
}

void pqw_col_free(pqw_col *c)
{
	ids_buf_free(&c->held);
	free(c->held_def);
	pqw_page_free(&c->cur);
	for (pqw_page *p = c->pool, *nx; p; p = nx) {
		nx = p->next;
		pqw_page_free(p);
		free(p);
	}
	ids_buf_free(&c->chunk);
	ids_buf_free(&c->dict_body);
	pqw_dict_free(c->dict);
	pqw_stats_free(&c->st);
	for (size_t i = 0; i < c->path_len; i++)
		free(c->path[i]);
	free(c->path);
}

/* Level arrays of pg with room for cap entries. */
static int levels_reserve(pqw_page *pg, size_t cap)
{
	if (cap <= pg->cap_lv)
		return 0;
	if (pg->def) {
		int16_t *p = realloc(pg->def, cap * sizeof *p);
		if (!p)
			return IDS_ENOMEM;
		pg->def = p;
	}
	if (pg->rep) {
		int16_t *p = realloc(pg->rep, cap * sizeof *p);
		if (!p)
			return IDS_ENOMEM;
		pg->rep = p;
	}
	pg->cap_lv = cap;
	return 0;
}

int pqw_put_nulls(pqw_col *c, int16_t def, size_t n)
{
	pqw_page *pg = &c->cur;
	size_t cap = pg->cap_lv ? pg->cap_lv : 64;
	while (cap < pg->n_lv + n)
		cap *= 2;
	if (levels_reserve(pg, cap))
		return IDS_ENOMEM;
	if (pg->def)
		for (size_t i = 0; i < n; i++)
			pg->def[pg->n_lv + i] = def;
	if (pg->rep)
		memset(pg->rep + pg->n_lv, 0, n * sizeof *pg->rep);
	pg->n_lv += n;
	pg->rows += n;
	return 0;
}

int pqw_grow_levels(pqw_page *pg)
{
	return levels_reserve(pg, pg->cap_lv * 2);
}

int pqw_grow_vals(pqw_col *c, size_t n)
{
	ids_buf *v = &c->cur.vals;
	if (ids_buf_reserve(v, n))
		return v->failed == IDS_ENOMEM ? IDS_ENOMEM : IDS_ELIMIT;
	return 0;
}

size_t pqw_staged_bytes(const pqw_col *c)
{
	/* PLAIN bytes, whatever the encoding will be: page and row-group boundaries must not
	 * depend on what an encoder thread has decided yet, so the output is deterministic */
	const pqw_page *pg = &c->cur;
	if (pg->n_lv >= MAX_PAGE_LEVELS)
		return SIZE_MAX;
	return pg->n_lv / 4 + pg->vals.len + pqw_seg_bytes(pg);
}

int pqw_submit_page(pq_writer *w, pqw_col *c, ids_error *err)
{
	if (!c->cur.n_lv)
		return 0;
	if (w->async)
		return pqw_async_submit(w, c, err);
	return pqw_encode_page(w, c, &c->cur, &w->sc, err);
}

int pqw_flush_page(pq_writer *w, pqw_col *c, ids_error *err)
{
	w->rg_bytes += pqw_staged_bytes(c);
	return pqw_submit_page(w, c, err);
}

/* src's levels after dst's (dst->n_lv unchanged: the caller counts them in). */
static int append_levels(pqw_page *dst, const pqw_page *src)
{
	size_t cap = dst->cap_lv;
	while (cap < dst->n_lv + src->n_lv)
		cap *= 2;
	if (levels_reserve(dst, cap))
		return IDS_ENOMEM;
	if (dst->def)
		memcpy(dst->def + dst->n_lv, src->def, src->n_lv * sizeof *src->def);
	if (dst->rep)
		memcpy(dst->rep + dst->n_lv, src->rep, src->n_lv * sizeof *src->rep);
	return 0;
}

int pqw_page_append(pqw_page *dst, const pqw_page *src)
{
	if (append_levels(dst, src))
		return IDS_ENOMEM;
	pqw_page *v = dst;   /* the values go after the last ones, in the chain's last page */
	while (v->seg)
		v = v->seg;
	if (ids_buf_append(&v->vals, src->vals.data, src->vals.len))
		return v->vals.failed == IDS_ENOMEM ? IDS_ENOMEM : IDS_ELIMIT;
	if (v != dst)
		v->n_vals += src->n_vals;
	dst->n_lv += src->n_lv;
	dst->rows += src->rows;
	dst->n_vals += src->n_vals;
	return 0;
}

int pqw_page_link(pqw_page *dst, pqw_page *src)
{
	if (append_levels(dst, src))
		return IDS_ENOMEM;
	dst->n_lv += src->n_lv;
	dst->rows += src->rows;
	dst->n_vals += src->n_vals;
	src->n_lv = src->rows = 0;   /* its levels now live in dst; it keeps its values */
	src->next = NULL;
	pqw_page *t = dst;
	while (t->seg)
		t = t->seg;
	t->seg = src;
	return 0;
}

int pqw_page_join(pq_writer *w, pqw_col *c)
{
	for (pqw_page *s = c->cur.seg; s; s = s->seg)
		if (ids_buf_append(&c->cur.vals, s->vals.data, s->vals.len))
			return c->cur.vals.failed == IDS_ENOMEM ? IDS_ENOMEM : IDS_ELIMIT;
	pqw_page_unchain(w, c, &c->cur);
	return 0;
}
