/* Emits a finished column chunk: the dictionary page (if any data page used it), the
 * buffered data pages, and the ColumnChunk/ColumnMetaData footer struct describing them
 * (encodings, sizes, offsets, statistics, per-page-type encoding counts). */
#include "pqw.h"
#include "parquet/codec/pq_codec.h"
#include "parquet/common/thrift.h"

#include <string.h>
#include <zlib.h>

int pqw_dict_finish(pq_writer *w, pqw_col *c, ids_error *err)
{
	if (!c->dict || c->dict_pages <= 0 || c->dict_done)
		return 0;
	const ids_buf *dp = pqw_dict_plain(c->dict);
	int rc;
	if (dp->len > INT32_MAX / 2)
		return ids_fail(err, IDS_ELIMIT, "column '%s': dictionary too large", c->leaf->name);
	pqw_stats_dict(&c->st, c, (const uint8_t *)dp->data, dp->len, pqw_dict_count(c->dict));
	ids_buf_reset(&c->dict_body);
	if (w->codec != PQ_CODEC_UNCOMPRESSED &&
	    (rc = pq_compress(w->codec, w->o.codec_level, (const uint8_t *)dp->data, dp->len,
			      &c->dict_body, err)))
		return rc;
	c->dict_done = 1;
	return 0;
}

int pqw_chunk_finish(pq_writer *w, pqw_col *c, pqw_scratch *sc, ids_error *err)
{
	int rc = pqw_release_held(w, c, sc, err);
	return rc ? rc : pqw_dict_finish(w, c, err);
}

static int write_dict_page(pq_writer *w, pqw_col *c, int64_t *unc, int64_t *comp,
			   ids_error *err)
{
	const ids_buf *dp = pqw_dict_plain(c->dict);
	int rc;
	if ((rc = pqw_dict_finish(w, c, err)))
		return rc;
	const ids_buf *b = w->codec != PQ_CODEC_UNCOMPRESSED ? &c->dict_body : dp;
	const uint8_t *body = (const uint8_t *)b->data;
	size_t body_n = b->len;
	ids_buf_reset(&w->sc.hdr);
	pq_tenc e;
	pq_tenc_init(&e, &w->sc.hdr);
	pq_tenc_elem_struct_begin(&e);
	pq_tenc_i32(&e, 1, PQ_PAGE_DICTIONARY);
	pq_tenc_i32(&e, 2, (int32_t)dp->len);
	pq_tenc_i32(&e, 3, (int32_t)body_n);
	if (w->o.page_crc)
		pq_tenc_i32(&e, 4, (int32_t)(uint32_t)crc32(crc32(0L, Z_NULL, 0), body, (uInt)body_n));
	pq_tenc_struct_begin(&e, 7);
	pq_tenc_i32(&e, 1, (int32_t)pqw_dict_count(c->dict));
	int compat_v1 = w->o.profile == PQ_PROFILE_COMPAT && w->o.page_version == 1;
	pq_tenc_i32(&e, 2, compat_v1 ? PQ_ENC_PLAIN_DICTIONARY : PQ_ENC_PLAIN);
	pq_tenc_bool(&e, 3, 0);
	pq_tenc_struct_end(&e);
	pq_tenc_struct_end(&e);
	if ((rc = pq_tenc_finish(&e)))
		return ids_fail(err, rc, "page header encoding failed");
	if ((rc = pqw_write_all(w, w->sc.hdr.data, w->sc.hdr.len, err)) ||
	    (rc = pqw_write_all(w, body, body_n, err)))
		return rc;
	*unc = (int64_t)(w->sc.hdr.len + dp->len);
	*comp = (int64_t)(w->sc.hdr.len + body_n);
	return 0;
}

static void reset_chunk(pq_writer *w, pqw_col *c)
{
	ids_buf_reset(&c->chunk);
	c->dict_done = 0;
	if (c->chunk.cap > ((size_t)64 << 20)) {
		ids_buf_free(&c->chunk);   /* do not pin a huge buffer for the next row group */
		ids_buf_init(&c->chunk, 0);
	}
	pqw_stats_reset(&c->st);
	c->num_values = c->unc_bytes = 0;
	c->pages_plain = c->dict_pages = 0;
	c->ztune = c->gz_level = c->lz4_pieces = -1;
	c->rows = 0;
	if (c->dict) {
		pqw_dict_clear(c->dict);
		c->dict_mode = PQW_DICT_ON;
	}
}

int pqw_write_chunk(pq_writer *w, pqw_col *c, pq_tenc *e, int64_t *unc_total,
		    int64_t *comp_total, ids_error *err)
{
	int rc;
	/* without encoder threads the held pages are still here (pqw_chunk_finish ran on the
	 * column's encoder otherwise) */
	if ((rc = pqw_flush_page(w, c, err)) || (rc = pqw_release_held(w, c, &w->sc, err)))
		return rc;
	int64_t start = w->off, dict_unc = 0, dict_comp = 0;
	int has_dict = c->dict && c->dict_pages > 0;
	if (has_dict && (rc = write_dict_page(w, c, &dict_unc, &dict_comp, err)))
		return rc;
	int64_t data_off = w->off;
	if ((rc = pqw_write_all(w, c->chunk.data, c->chunk.len, err)))
		return rc;

	int v2 = w->o.page_version == 2;
	int compat_v1 = w->o.profile == PQ_PROFILE_COMPAT && !v2;
	pq_encoding dict_enc = compat_v1 ? PQ_ENC_PLAIN_DICTIONARY : PQ_ENC_RLE_DICTIONARY;
	int32_t encs[4];
	size_t nenc = 0;
	if (has_dict)
		encs[nenc++] = dict_enc;
	if (c->pages_plain || (has_dict && !compat_v1))
		encs[nenc++] = PQ_ENC_PLAIN;
	if (c->max_def || c->max_rep)
		encs[nenc++] = PQ_ENC_RLE;
	if (!nenc)
		encs[nenc++] = PQ_ENC_PLAIN;

	int64_t tot_unc = dict_unc + c->unc_bytes, tot_comp = dict_comp + (int64_t)c->chunk.len;
	pq_tenc_elem_struct_begin(e);
	pq_tenc_i64(e, 2, start);
	pq_tenc_struct_begin(e, 3);
	pq_tenc_i32(e, 1, c->type);
	pq_tenc_list_begin(e, 2, PQ_T_I32, nenc);
	for (size_t i = 0; i < nenc; i++)
		pq_tenc_elem_i32(e, encs[i]);
	pq_tenc_list_begin(e, 3, PQ_T_BINARY, c->path_len);
	for (size_t i = 0; i < c->path_len; i++)
		pq_tenc_elem_binary(e, c->path[i], strlen(c->path[i]));
	pq_tenc_i32(e, 4, w->codec);
	pq_tenc_i64(e, 5, c->num_values);
	pq_tenc_i64(e, 6, tot_unc);
	pq_tenc_i64(e, 7, tot_comp);
	pq_tenc_i64(e, 9, data_off);
	if (has_dict)
		pq_tenc_i64(e, 11, start);
	pqw_stats_write(e, 12, &c->st, c, w->o.stat_max_bytes);
	size_t nstats = (size_t)has_dict + (c->dict_pages > 0) + (c->pages_plain > 0);
	pq_tenc_list_begin(e, 13, PQ_T_STRUCT, nstats);
	int data_type = v2 ? PQ_PAGE_DATA_V2 : PQ_PAGE_DATA;
	if (has_dict) {
		pq_tenc_elem_struct_begin(e);
		pq_tenc_i32(e, 1, PQ_PAGE_DICTIONARY);
		pq_tenc_i32(e, 2, compat_v1 ? PQ_ENC_PLAIN_DICTIONARY : PQ_ENC_PLAIN);
		pq_tenc_i32(e, 3, 1);
		pq_tenc_struct_end(e);
	}
	if (c->dict_pages > 0) {
		pq_tenc_elem_struct_begin(e);
		pq_tenc_i32(e, 1, data_type);
		pq_tenc_i32(e, 2, dict_enc);
		pq_tenc_i32(e, 3, c->dict_pages);
		pq_tenc_struct_end(e);
	}
	if (c->pages_plain > 0) {
		pq_tenc_elem_struct_begin(e);
		pq_tenc_i32(e, 1, data_type);
		pq_tenc_i32(e, 2, PQ_ENC_PLAIN);
		pq_tenc_i32(e, 3, c->pages_plain);
		pq_tenc_struct_end(e);
	}
	pq_tenc_struct_end(e);
	pq_tenc_struct_end(e);
	*unc_total += tot_unc;
	*comp_total += tot_comp;
	reset_chunk(w, c);
	return 0;
}
