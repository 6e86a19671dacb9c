/* Pages written cut differently from how they were staged (page.c hands them here): lz4_raw
 * pieces under 64 KiB, text held back and written as one long page, and snappy pages of
 * whole 64 KiB fragments. The cuts keep the values' order and every entry's levels, so the
 * file is the same for any --threads; the held values are the encoder's, like its chunk. */
#include "pqw.h"

#include <stdlib.h>
#include <string.h>

/* The PLAIN page of a flat column (levels in b's first lv_len bytes, values after them) as
 * pages of at most PQW_LZ4_PIECE value bytes (a value larger than that is a page of its
 * own), each with its slice of the definition levels: see pqw_lz4_pieces_pay. */
int pqw_emit_pieces(pq_writer *w, pqw_col *c, pqw_scratch *sc, const pqw_page *pg,
		       const ids_buf *b, size_t lv_len, ids_error *err)
{
	int v2 = w->o.page_version == 2;
	const uint8_t *v = (const uint8_t *)b->data + lv_len, *end = (const uint8_t *)b->data + b->len;
	size_t e = 0;
	while (e < pg->n_lv) {
		size_t e0 = e, bytes = 0;
		int64_t nulls = 0;
		for (; e < pg->n_lv; e++) {
			if (pg->def && pg->def[e] < c->max_def) {
				nulls++;
				continue;
			}
			size_t k = (size_t)c->width;
			if (!k) {   /* a BYTE_ARRAY value: its 4-byte length, then the bytes */
				uint32_t l;
				if ((size_t)(end - v) - bytes < 4)
					break;
				memcpy(&l, v + bytes, 4);
				k = 4 + (size_t)l;
			}
			if (bytes && bytes + k > PQW_LZ4_PIECE)
				break;
			bytes += k;
		}
		if (e == e0)   /* a length running past the staged values: our own bug */
			return ids_fail(err, IDS_EINVAL, "column '%s': staged values end early",
					c->leaf->name);
		ids_buf *p = &sc->piece;
		ids_buf_reset(p);
		if (c->max_def)
			pqw_levels_encode(p, pg->def + e0, e - e0, c->max_def, !v2);
		size_t plv = p->len;
		ids_buf_append(p, v, bytes);
		if (p->failed || v + bytes > end)
			return ids_fail(err, p->failed ? p->failed : IDS_EINVAL,
					"column '%s': page piece too large", c->leaf->name);
		int rc = pqw_emit_page(w, c, sc, p, plv, 0, e - e0, nulls, e - e0, PQ_ENC_PLAIN, err);
		if (rc)
			return rc;
		v += bytes;
	}
	return 0;
}

/* Long text compresses better in long pages: snappy and zstd start each page with no
 * history, and a column of 1-3 KB strings in 1 MiB pages came out 0.3% (snappy) and 0.5%
 * (zstd) larger than DuckDB's one page per row group; short strings that fit in a few pages
 * (titles, URLs) up to 1.2%. So an encoder holds the PLAIN pages of a flat BYTE_ARRAY column
 * back and writes them as one page of up to HOLD_MAX values, or at the chunk's end
 * (pqw_chunk_finish). For lz4_raw only when its first page did not pay in pieces (tune.c:
 * the pieces go the other way; URLs 492,540 -> 491,760 B held); not for gzip, whose pages
 * libdeflate already compresses smaller than DuckDB's. The held bytes are the
 * values of one page, bounded like the chunk the writer keeps anyway. */
#define HOLD_MAX ((size_t)16 << 20)

int pqw_holds(const pq_writer *w, const pqw_col *c)
{
	return c->type == PQ_BYTE_ARRAY && !c->max_rep &&
	       (w->codec == PQ_CODEC_SNAPPY || w->codec == PQ_CODEC_ZSTD ||
		(w->codec == PQ_CODEC_LZ4_RAW && !c->lz4_pieces));
}

/* Appends the page's levels to what c holds, and vals[0..len) (the caller may append the
 * values itself and pass none). */
static int hold_page(pqw_col *c, const pqw_page *pg, const void *vals, size_t len, int64_t nulls,
		     ids_error *err)
{
	if (c->max_def) {
		if (c->held_lv + pg->n_lv > c->held_cap) {
			size_t cap = (c->held_lv + pg->n_lv) * 2;
			int16_t *d = realloc(c->held_def, cap * sizeof *d);
			if (!d)
				return ids_fail(err, IDS_ENOMEM, "column '%s': out of memory", c->leaf->name);
			c->held_def = d;
			c->held_cap = cap;
		}
		memcpy(c->held_def + c->held_lv, pg->def, pg->n_lv * sizeof *pg->def);
	}
	c->held_lv += pg->n_lv;
	c->held_nulls += nulls;
	if (len)
		ids_buf_append(&c->held, vals, len);
	if (c->held.failed)
		return ids_fail(err, c->held.failed, "column '%s': page too large", c->leaf->name);
	return 0;
}

/* snappy compresses a page in fragments of 64 KiB, each with a fresh hash table and no match
 * reaching into the one before: a page body that ends a few bytes into a fragment writes
 * that short fragment with almost nothing to match, and every page costs a header, a run
 * of levels and a cold first fragment. So at snappy an encoder holds a flat column's PLAIN
 * values of a width that divides 64 KiB (4, 8, 16 bytes) and writes them in pages whose
 * body (levels, then values) fills the whole fragments of twice page_bytes (32 at 1 MiB)
 * but for less than one value, carrying the rest to the chunk's next page or its end.
 * On the 1M-row mixed set: ids -235 B, amounts -386 B (DuckDB's column is then 40 B
 * larger), random timestamps -4,346 B; pages of 16 fragments took half of it off, of 64
 * a little more. INT96's 12 bytes do not divide a fragment and its cuts came out up to
 * 1.7 kB larger, so it is left as it is. */
#define FRAGMENT ((size_t)64 << 10)

int pqw_fragments(const pq_writer *w, const pqw_col *c)
{
	return w->codec == PQ_CODEC_SNAPPY && c->width > 1 && FRAGMENT % (size_t)c->width == 0 &&
	       !c->max_rep && w->o.page_bytes >= FRAGMENT;
}

/* Value bytes of a page cut by fragments: the body's levels are one RLE run when no value is
 * null (4 bytes of length in a V1 page, the run's varint header, the level's byte). */
static size_t fragment_bytes(const pq_writer *w, const pqw_col *c)
{
	size_t body = 2 * w->o.page_bytes / FRAGMENT * FRAGMENT, wd = (size_t)c->width;
	if (c->max_def && w->o.page_version != 2) {
		uint64_t run = (uint64_t)(body / wd) << 1;
		size_t lv = 4 + 1 + (size_t)(pqw_bit_width((uint64_t)c->max_def) + 7) / 8;
		for (; run >= 0x80; run >>= 7)
			lv++;
		body -= lv;
	}
	return body / wd * wd;
}

int pqw_hold_fragments(pq_writer *w, pqw_col *c, pqw_scratch *sc, const pqw_page *pg,
		       int64_t nulls, ids_error *err)
{
	/* the values are in c->held already; whole pages of fragment_bytes go out, in order,
	 * and the rest moves to the front of the held buffers */
	int rc = hold_page(c, pg, NULL, 0, nulls, err);
	if (rc)
		return rc;
	size_t want = fragment_bytes(w, c), per = want / (size_t)c->width, off = 0, e = 0;
	while (c->held.len - off >= want) {
		size_t e0 = e, vals = 0;
		int64_t page_nulls = 0;
		if (c->max_def)
			for (; vals < per && e < c->held_lv; e++) {
				if (c->held_def[e] < c->max_def)
					page_nulls++;
				else
					vals++;
			}
		else
			e += per;
		ids_buf *b = &sc->page;
		ids_buf_reset(b);
		if (c->max_def)
			pqw_levels_encode(b, c->held_def + e0, e - e0, c->max_def, w->o.page_version != 2);
		size_t lv_len = b->len;
		ids_buf_append(b, c->held.data + off, want);
		if (b->failed)
			return ids_fail(err, b->failed, "column '%s': page too large", c->leaf->name);
		if ((rc = pqw_emit_page(w, c, sc, b, lv_len, 0, e - e0, page_nulls, e - e0, PQ_ENC_PLAIN, err)))
			return rc;
		off += want;
		c->held_nulls -= page_nulls;
	}
	if (off) {
		memmove(c->held.data, c->held.data + off, c->held.len - off);
		c->held.len -= off;
		c->held.data[c->held.len] = 0;
		if (c->max_def)
			memmove(c->held_def, c->held_def + e, (c->held_lv - e) * sizeof *c->held_def);
		c->held_lv -= e;
	}
	return 0;
}

int pqw_hold_text(pq_writer *w, pqw_col *c, pqw_scratch *sc, const pqw_page *pg, const ids_buf *b,
		  size_t lv_len, int64_t nulls, ids_error *err)
{
	int rc = hold_page(c, pg, b->data + lv_len, b->len - lv_len, nulls, err);
	if (!rc && c->held.len >= HOLD_MAX)
		rc = pqw_release_held(w, c, sc, err);
	return rc;
}

int pqw_release_held(pq_writer *w, pqw_col *c, pqw_scratch *sc, ids_error *err)
{
	if (!c->held_lv)
		return 0;
	ids_buf *b = &sc->page;
	ids_buf_reset(b);
	if (c->max_def)
		pqw_levels_encode(b, c->held_def, c->held_lv, c->max_def, w->o.page_version != 2);
	size_t lv_len = b->len;
	ids_buf_append(b, c->held.data, c->held.len);
	if (b->failed)
		return ids_fail(err, b->failed, "column '%s': page too large", c->leaf->name);
	int rc = pqw_emit_page(w, c, sc, b, lv_len, 0, c->held_lv, c->held_nulls, c->held_lv,
			   PQ_ENC_PLAIN, err);
	c->held_lv = 0;
	c->held_nulls = 0;
	ids_buf_reset(&c->held);
	if (c->held.cap > HOLD_MAX * 2) {   /* do not pin a huge buffer for the next chunk */
		ids_buf_free(&c->held);
		ids_buf_init(&c->held, 0);
	}
	return rc;
}
