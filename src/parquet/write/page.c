/* Encodes one staged page of a column: dictionary indices (in one prefetching batch) or
 * PLAIN values, RLE levels, DataPage V1 or V2 layout, compression, page header; appends
 * the result to the column's chunk. Runs on the caller's thread or an encoder thread; it
 * touches only the column's encoder-side state and the given scratch. Dictionary
 * encoding falls back to PLAIN for the rest of the chunk when the dictionary passes its
 * byte limit or does not beat PLAIN on the chunk's first page. */
#include "pqw.h"
#include "parquet/codec/pq_codec.h"
#include "parquet/common/thrift.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* Distinct values expected among N draws, given d distinct among the first n: solve
 * d = D (1 - e^(-n/D)) for the domain size D (coupon collector), then project to N. */
static double project_distinct(double n, double d, double N)
{
	if (d >= n)
		return N;   /* all distinct so far: assume they stay distinct */
	double lo = d, hi = 1e15;
	for (int i = 0; i < 200 && hi - lo > 0.5; i++) {
		double mid = (lo + hi) / 2;
		if (mid * -expm1(-n / mid) < d)
			lo = mid;
		else
			hi = mid;
	}
	return lo * -expm1(-N / lo);
}

/* Whether a dictionary is worth keeping for the chunk, judged on its first page (n values,
 * d distinct, plain bytes) and projected to the values a chunk may hold: many columns
 * (zip codes, small enums) only pay off once their domain is mostly seen. */
static int dict_pays(size_t n, uint32_t d, size_t dict_bytes, size_t plain, size_t dict_max,
		     double chunk_values)
{
	if (!n || !d)
		return 0;
	double N = chunk_values > (double)n ? chunk_values : (double)n;
	double pd = project_distinct((double)n, (double)d, N);
	double dict = pd * ((double)dict_bytes / d);
	double enc = N * pqw_bit_width((uint64_t)pd) / 8 + dict;
	if (dict > (double)dict_max) {
		/* it would overflow and fall back; keep it only if it pays before that */
		int bw = pqw_bit_width(d);
		return (n * (size_t)bw + 7) / 8 + dict_bytes < plain && dict_bytes <= dict_max;
	}
	return enc < N * ((double)plain / (double)n);
}

/* Renumbers the dictionary by how often the chunk's first page uses each entry, most used
 * first (ties: first seen first), and the page's indices with it. Frequent values then
 * have small indices whose high bits are zero, which the page codec squeezes better than
 * first-seen order: on DuckDB's files (first-seen order per row group) the same qty column
 * varied 59.8k-68.2k B per 122,880 values with zstd. A counting sort (counts are at most
 * n): qsort over the 90,000 zip codes was a fifth of a write's instructions. Later pages
 * append new values at the end as before. */
static int dict_by_frequency(pqw_dict *d, uint32_t *idx, size_t n)
{
	uint32_t nd = pqw_dict_count(d), maxc = 0;
	if (nd < 2)
		return 0;
	uint32_t *cnt = pqw_zalloc(nd, sizeof *cnt), *order = malloc(nd * sizeof *order), *start = NULL;
	int rc = -1;
	if (!cnt || !order)
		goto out;
	for (size_t i = 0; i < n; i++)
		cnt[idx[i]]++;
	for (uint32_t e = 0; e < nd; e++)
		maxc = cnt[e] > maxc ? cnt[e] : maxc;
	if (!(start = pqw_zalloc((size_t)maxc + 2, sizeof *start)))
		goto out;
	for (uint32_t e = 0; e < nd; e++)   /* start[c]: entries used more than c times */
		start[cnt[e]]++;
	for (uint32_t c = maxc, sum = 0; c != UINT32_MAX; c--) {
		uint32_t k = start[c];
		start[c] = sum;
		sum += k;
	}
	for (uint32_t e = 0; e < nd; e++)
		order[start[cnt[e]]++] = e;
	if (pqw_dict_reorder(d, order))
		goto out;
	for (uint32_t k = 0; k < nd; k++)   /* cnt becomes old index -> new index */
		cnt[order[k]] = k;
	for (size_t i = 0; i < n; i++)
		idx[i] = cnt[idx[i]];
	rc = 0;
out:
	free(cnt);
	free(order);
	free(start);
	return rc;
}

/* A page's values, one span per page of its chain (pqw_page_link): pg's own first. */
typedef struct span {
	const uint8_t *p;
	size_t len, n;
} span;

static span span_of(const pqw_page *pg, const pqw_page *s)
{
	size_t n = s->n_vals;
	if (s == pg)   /* the head counts the chain's values too */
		for (const pqw_page *t = pg->seg; t; t = t->seg)
			n -= t->n_vals;
	return (span){(const uint8_t *)s->vals.data, s->vals.len, n};
}

/* Where dictionary encoding stands in the chain: page at, its byte offset and values taken. */
typedef struct vcur {
	const pqw_page *pg, *at;
	span s;
	size_t off, k;
} vcur;

/* The dictionary indices of the next n values into out (the same indices as one call over
 * one buffer: entries are added in value order); *bytes: their PLAIN size. */
static int dict_take(pqw_dict *d, vcur *v, size_t n, uint32_t *out, uint32_t *scratch,
		     size_t *bytes)
{
	*bytes = 0;
	while (n) {
		const span *s = &v->s;
		size_t left = s->n - v->k;
		if (!left) {
			if (!(v->at = v->at->seg))
				return -1;
			v->s = span_of(v->pg, v->at);
			v->off = v->k = 0;
			continue;
		}
		size_t k = left < n ? left : n;
		size_t end = k == left ? s->len
				       : v->off + pqw_dict_value_offset(d, s->p + v->off, s->len - v->off, k);
		if (pqw_dict_encode(d, s->p + v->off, s->len - v->off, k, out, scratch))
			return -1;
		*bytes += end - v->off;
		v->off = end;
		v->k += k;
		out += k;
		n -= k;
	}
	return 0;
}

/* Dictionary-encodes the page into sc->idx. Returns 1 when the page is to be written with
 * dictionary indices, 0 when PLAIN. */
static int dict_page(const pq_writer *w, pqw_col *c, pqw_page *pg, pqw_scratch *sc, double chunk_values,
		     ids_error *err, int *rc)
{
	*rc = 0;
	if (c->dict_mode != PQW_DICT_ON || !pg->n_vals)
		return c->dict_mode == PQW_DICT_ON && c->dict_pages > 0;
	if (pg->n_vals > sc->cap_idx) {
		size_t ncap = pg->n_vals + pg->n_vals / 2;
		uint32_t *a = realloc(sc->idx, ncap * sizeof *a), *b;
		if (a)
			sc->idx = a;
		b = a ? realloc(sc->hash, ncap * sizeof *b) : NULL;
		if (!b) {
			*rc = ids_fail(err, IDS_ENOMEM, "out of memory");
			return 0;
		}
		sc->hash = b;
		sc->cap_idx = ncap;
	}
	vcur v = {pg, pg, span_of(pg, pg), 0, 0};
	size_t done = 0, off = 0, rest;
	size_t probe = w->o.dict_probe;
	if (c->dict_pages == 0 && pg->n_vals >= 2 * probe) {
		/* Judge the chunk's first values before building the dictionary of the whole page:
		 * for ids, timestamps, amounts it never pays, and building it was a sixth of the
		 * lake's time and a tenth of `parquet write`'s. */
		if (dict_take(c->dict, &v, probe, sc->idx, sc->hash, &off))
			goto oom;
		if (!dict_pays(probe, pqw_dict_count(c->dict), pqw_dict_plain(c->dict)->len, off, c->dict_max,
			       chunk_values)) {
			pqw_dict_clear(c->dict);
			c->dict_mode = PQW_DICT_FELL_BACK;
			return 0;
		}
		done = probe;
	}
	if (dict_take(c->dict, &v, pg->n_vals - done, sc->idx + done, sc->hash, &rest))
		goto oom;
	size_t dict_bytes = pqw_dict_plain(c->dict)->len;
	if (c->dict_pages == 0) {
		/* first page of the chunk: keep the dictionary if it is expected to beat PLAIN */
		if (!dict_pays(pg->n_vals, pqw_dict_count(c->dict), dict_bytes, off + rest,
			       c->dict_max, chunk_values)) {
			pqw_dict_clear(c->dict);
			c->dict_mode = PQW_DICT_FELL_BACK;
			return 0;
		}
		if (dict_by_frequency(c->dict, sc->idx, pg->n_vals))
			goto oom;
	} else if (dict_bytes > c->dict_max) {
		/* this page still refers to the dictionary; the rest of the chunk is PLAIN */
		c->dict_mode = PQW_DICT_FELL_BACK;
	}
	return 1;
oom:
	*rc = ids_fail(err, IDS_ENOMEM, "column '%s': out of memory", c->leaf->name);
	return 0;
}

static pq_encoding dict_data_encoding(const pq_writer *w)
{
	return w->o.profile == PQ_PROFILE_COMPAT && w->o.page_version == 1
		       ? PQ_ENC_PLAIN_DICTIONARY
		       : PQ_ENC_RLE_DICTIONARY;
}

/* Compresses in[0..n) into sc->comp (or passes it through when the codec is none). */
static int page_compress(pq_writer *w, pqw_col *c, pqw_scratch *sc, const uint8_t *in, size_t n,
			 const uint8_t **out, size_t *out_n, ids_error *err)
{
	if (w->codec == PQ_CODEC_UNCOMPRESSED) {
		*out = in;
		*out_n = n;
		return 0;
	}
	if (c->ztune < 0) {
		int t = pqw_ztune_choose(w, sc, in, n, err);
		if (t < 0)
			return t;
		c->ztune = t;
	}
	if (c->gz_level < 0) {
		int l = pqw_gzlevel_choose(w, sc, in, n, err);
		if (l < 0)
			return l;
		c->gz_level = l;
	}
	/* a held text page longer than zstd's 1 MiB window at level 3: TEXT (pq_codec.h). Its
	 * 2 MiB window finds repeats further back that cost more to point at than they save:
	 * the text set's 95 MB body in 16 MiB pages 35,798,968 -> 35,721,738 B (a window of
	 * 512 KiB smaller still, but titles larger), titles and URLs 36 and 267 B smaller */
	pq_ztune tune = (pq_ztune)c->ztune;
	if (tune == PQ_ZTUNE_LEVEL && n > ((size_t)1 << 20) && pqw_holds(w, c))
		tune = PQ_ZTUNE_TEXT;
	ids_buf_reset(&sc->comp);
	int level = w->o.codec_level > 0 ? w->o.codec_level : c->gz_level;   /* 0 but at gzip */
	int rc = pq_compress_tuned(w->codec, level, tune, in, n, &sc->comp, err);
	if (rc)
		return rc;
	*out = (const uint8_t *)sc->comp.data;
	*out_n = sc->comp.len;
	return 0;
}

static int64_t count_nulls(const pqw_col *c, const pqw_page *pg)
{
	if (!pg->def)
		return 0;
	int64_t n = 0;
	for (size_t i = 0; i < pg->n_lv; i++)
		n += pg->def[i] < c->max_def;
	return n;
}

void pqw_levels_encode(ids_buf *b, const int16_t *lv, size_t n, int16_t max, int prefix)
{
	size_t at = b->len;
	if (prefix)
		ids_buf_append(b, "\0\0\0\0", 4);
	pqw_rle_u16(b, lv, n, pqw_bit_width((uint64_t)max));
	if (prefix && !b->failed) {
		uint32_t l = (uint32_t)(b->len - at - 4);
		memcpy(b->data + at, &l, 4);
	}
}

int pqw_emit_page(pq_writer *w, pqw_col *c, pqw_scratch *sc, const ids_buf *b, size_t lv_len,
		     size_t rep_len, size_t n_lv, int64_t nulls, size_t rows, pq_encoding enc,
		     ids_error *err)
{
	int v2 = w->o.page_version == 2, rc;
	const uint8_t *body;
	size_t body_n, unc = b->len;
	int is_compressed = 1;
	if (v2) {
		if ((rc = page_compress(w, c, sc, (const uint8_t *)b->data + lv_len, b->len - lv_len,
					&body, &body_n, err)))
			return rc;
		if (w->codec == PQ_CODEC_UNCOMPRESSED || body_n >= b->len - lv_len) {
			body = (const uint8_t *)b->data + lv_len;   /* compression did not pay */
			body_n = b->len - lv_len;
			is_compressed = 0;
		}
	} else if ((rc = page_compress(w, c, sc, (const uint8_t *)b->data, b->len, &body, &body_n,
				       err))) {
		return rc;
	}
	size_t comp = v2 ? lv_len + body_n : body_n;

	ids_buf_reset(&sc->hdr);
	pq_tenc e;
	pq_tenc_init(&e, &sc->hdr);
	pq_tenc_elem_struct_begin(&e);
	pq_tenc_i32(&e, 1, v2 ? PQ_PAGE_DATA_V2 : PQ_PAGE_DATA);
	pq_tenc_i32(&e, 2, (int32_t)unc);
	pq_tenc_i32(&e, 3, (int32_t)comp);
	if (w->o.page_crc) {
		uLong crc = crc32(0L, Z_NULL, 0);
		if (v2)
			crc = crc32(crc, (const Bytef *)b->data, (uInt)lv_len);
		crc = crc32(crc, body, (uInt)body_n);
		pq_tenc_i32(&e, 4, (int32_t)(uint32_t)crc);
	}
	if (!v2) {
		pq_tenc_struct_begin(&e, 5);
		pq_tenc_i32(&e, 1, (int32_t)n_lv);
		pq_tenc_i32(&e, 2, enc);
		pq_tenc_i32(&e, 3, PQ_ENC_RLE);
		pq_tenc_i32(&e, 4, PQ_ENC_RLE);
		pq_tenc_struct_end(&e);
	} else {
		pq_tenc_struct_begin(&e, 8);
		pq_tenc_i32(&e, 1, (int32_t)n_lv);
		pq_tenc_i32(&e, 2, (int32_t)nulls);
		pq_tenc_i32(&e, 3, (int32_t)rows);
		pq_tenc_i32(&e, 4, enc);
		pq_tenc_i32(&e, 5, (int32_t)(lv_len - rep_len));
		pq_tenc_i32(&e, 6, (int32_t)rep_len);
		if (!is_compressed)
			pq_tenc_bool(&e, 7, 0);
		pq_tenc_struct_end(&e);
	}
	pq_tenc_struct_end(&e);
	if ((rc = pq_tenc_finish(&e)))
		return ids_fail(err, rc, "page header encoding failed");

	ids_buf_append(&c->chunk, sc->hdr.data, sc->hdr.len);
	if (v2)
		ids_buf_append(&c->chunk, b->data, lv_len);
	ids_buf_append(&c->chunk, body, body_n);
	if (c->chunk.failed)
		return ids_fail(err, c->chunk.failed, "column '%s': column chunk too large",
				c->leaf->name);
	c->unc_bytes += (int64_t)(sc->hdr.len + unc);
	c->num_values += (int64_t)n_lv;
	if (enc == PQ_ENC_PLAIN)
		c->pages_plain++;
	else
		c->dict_pages++;
	return 0;
}

int pqw_encode_page(pq_writer *w, pqw_col *c, pqw_page *pg, pqw_scratch *sc, ids_error *err)
{
	if (!pg->n_lv)
		return 0;
	int v2 = w->o.page_version == 2, rc;
	/* values a chunk may hold: a row group's rows times this page's values per row (a
	 * sparse column holds far fewer values than rows, and projecting its distinct values
	 * to a million made a dictionary look like it pays where PLAIN is smaller) */
	double per_row = pg->rows ? (double)pg->n_vals / (double)pg->rows : 1.0;
	int dict = dict_page(w, c, pg, sc, (double)w->o.row_group_rows * per_row, err, &rc);
	if (rc)
		return rc;
	int64_t nulls = count_nulls(c, pg);
	int frag = !dict && pqw_fragments(w, c);   /* levels and values go to c->held instead */
	ids_buf *b = &sc->page, *vb = frag ? &c->held : b;
	ids_buf_reset(b);
	if (c->max_rep)
		pqw_levels_encode(b, pg->rep, pg->n_lv, c->max_rep, !v2);
	size_t rep_len = b->len;
	if (c->max_def && !frag)
		pqw_levels_encode(b, pg->def, pg->n_lv, c->max_def, !v2);
	size_t lv_len = b->len;
	pq_encoding enc;
	if (dict) {
		int bw = pqw_bit_width(pqw_dict_count(c->dict) - 1);
		if (bw == 0)
			bw = 1;
		uint8_t bb = (uint8_t)bw;
		ids_buf_append(b, &bb, 1);
		pqw_rle_u32(b, sc->idx, pg->n_vals, bw);
		enc = dict_data_encoding(w);
		if (c->type == PQ_DOUBLE || c->type == PQ_FLOAT)
			for (const pqw_page *s = pg; s; s = s->seg) {
				span sp = span_of(pg, s);
				pqw_stats_nans(&c->st, c, sp.p, sp.n);
			}
	} else {
		for (const pqw_page *s = pg; s; s = s->seg) {   /* a BOOLEAN page has no chain */
			span sp = span_of(pg, s);
			if (c->type == PQ_BOOLEAN)
				pqw_pack_bools(b, sp.p, sp.n);
			else
				ids_buf_append(vb, sp.p, sp.len);
			pqw_stats_plain(&c->st, c, sp.p, sp.len, sp.n);
		}
		enc = PQ_ENC_PLAIN;
	}
	/* vb is the one buffer this page's bytes went to: b itself, or on snappy's fragment path
	 * c->held, where b stays empty (pqw_fragments: a flat column, so no repetition levels; its
	 * definition levels are held in cut.c, not encoded here; no dictionary, no BOOLEAN) */
	if (vb->failed)
		return ids_fail(err, vb->failed, "column '%s': page too large", c->leaf->name);
	if (b->len > INT32_MAX / 2)
		return ids_fail(err, IDS_ELIMIT, "column '%s': page of %zu bytes is too large",
				c->leaf->name, b->len);
	c->st.nulls += nulls;

	if (!dict && c->type != PQ_BOOLEAN && !c->max_rep && w->codec == PQ_CODEC_LZ4_RAW &&
	    c->lz4_pieces < 0) {
		size_t skip = v2 ? lv_len : 0;   /* what page_compress would compress */
		c->lz4_pieces = pqw_lz4_pieces_pay(w, sc, (const uint8_t *)b->data + skip, b->len - skip,
						   (const uint8_t *)b->data + lv_len, b->len - lv_len, err);
		if (c->lz4_pieces < 0)
			return c->lz4_pieces;
	}
	if (frag)
		rc = pqw_hold_fragments(w, c, sc, pg, nulls, err);
	else if (!dict && c->lz4_pieces > 0)
		rc = pqw_emit_pieces(w, c, sc, pg, b, lv_len, err);
	else if (!dict && pqw_holds(w, c))
		rc = pqw_hold_text(w, c, sc, pg, b, lv_len, nulls, err);
	else
		rc = pqw_emit_page(w, c, sc, b, lv_len, rep_len, pg->n_lv, nulls, pg->rows, enc, err);
	if (rc)
		return rc;
	pqw_page_unchain(w, c, pg);
	pqw_page_reset(pg);
	return 0;
}
