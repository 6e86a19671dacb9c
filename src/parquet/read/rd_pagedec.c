/* Decodes one data page (V1 or V2) of a column chunk: repetition and definition levels,
 * then the non-null values in whatever encoding the page uses, into the cursor's arrays.
 * Levels are range-checked here, and dictionary indices against the dictionary size. */
#include "parquet/read/rd_internal.h"

#include <stdlib.h>

/* One level stream. V1 RLE streams carry a 4-byte length; V2 streams are given their length. */
static int levels(const uint8_t *data, size_t len, size_t *pos, int enc, int max, int v2,
		  size_t v2len, size_t n, int16_t *out, const char *what, ids_error *err)
{
	int bw = rd_bit_width((uint32_t)max);
	int rc;
	if (v2) {
		rc = rd_rle_i16(data + *pos, v2len, bw, n, out, err);
		*pos += v2len;
	} else if (enc == PQ_ENC_RLE) {
		if (len - *pos < 4)
			return ids_fail(err, IDS_ECORRUPT, "%s levels: missing length prefix", what);
		uint32_t l = rd_le32(data + *pos);
		*pos += 4;
		if (l > len - *pos)
			return ids_fail(err, IDS_ECORRUPT, "%s levels: length %u past end of page (%zu bytes left)",
					what, l, len - *pos);
		rc = rd_rle_i16(data + *pos, l, bw, n, out, err);
		*pos += l;
	} else if (enc == PQ_ENC_BIT_PACKED) {
		size_t used = 0;
		rc = rd_bitpacked_i16(data + *pos, len - *pos, bw, n, out, &used, err);
		*pos += used;
	} else {
		return ids_fail(err, IDS_ECORRUPT, "%s levels: unsupported encoding %d", what, enc);
	}
	if (rc)
		return ids_wrap(err, "%s levels: ", what);
	for (size_t i = 0; i < n; i++) {
		if ((uint16_t)out[i] > (uint16_t)max)
			return ids_fail(err, IDS_ECORRUPT, "%s level %d at entry %zu exceeds the maximum %d",
					what, out[i], i, max);
	}
	return 0;
}

static int dict_values(rd_col *c, const uint8_t *p, size_t len, size_t nv, ids_error *err)
{
	if (!c->have_dict)
		return ids_fail(err, IDS_ECORRUPT, "dictionary-encoded page but the chunk has no dictionary page");
	if (nv == 0)
		return 0;
	if (len < 1)
		return ids_fail(err, IDS_ECORRUPT, "dictionary indices: missing bit width");
	int bw = p[0];
	if (bw > 32)
		return ids_fail(err, IDS_ECORRUPT, "dictionary indices: bit width %d", bw);
	int rc = rd_grow(&c->idx, &c->idx_cap, nv * sizeof(uint32_t), err);
	if (rc || (rc = rd_rle_u32(p + 1, len - 1, bw, nv, c->idx, err)))
		return rc ? ids_wrap(err, "dictionary indices: ") : rc;
	const uint32_t *idx = c->idx;
	size_t dn = c->dict_n, es = c->elem;
	for (size_t i = 0; i < nv; i++) {
		if (idx[i] >= dn)
			return ids_fail(err, IDS_ECORRUPT,
					"dictionary index %u out of range (dictionary has %zu entries)", idx[i], dn);
	}
	/* specialised copies for the common widths keep this loop free of memcpy calls */
	if (es == 16) {
		pq_rbytes *o = (pq_rbytes *)c->vals;
		const pq_rbytes *d = (const pq_rbytes *)c->dict_vals;
		for (size_t i = 0; i < nv; i++)
			o[i] = d[idx[i]];
	} else if (es == 8) {
		uint64_t *o = (uint64_t *)c->vals;
		const uint64_t *d = (const uint64_t *)c->dict_vals;
		for (size_t i = 0; i < nv; i++)
			o[i] = d[idx[i]];
	} else if (es == 4) {
		uint32_t *o = (uint32_t *)c->vals;
		const uint32_t *d = (const uint32_t *)c->dict_vals;
		for (size_t i = 0; i < nv; i++)
			o[i] = d[idx[i]];
	} else {
		for (size_t i = 0; i < nv; i++)
			memcpy(c->vals + i * es, c->dict_vals + (size_t)idx[i] * es, es);
	}
	return 0;
}

static int values(rd_col *c, int enc, const uint8_t *p, size_t len, size_t nv, ids_error *err)
{
	pq_type t = c->desc->node->type;
	int32_t tl = c->desc->node->type_length;
	size_t used = 0;
	int rc;
	switch (enc) {
	case PQ_ENC_PLAIN:
		return rd_plain(t, tl, p, len, nv, c->vals, &used, err);
	case PQ_ENC_PLAIN_DICTIONARY:
	case PQ_ENC_RLE_DICTIONARY:
		return dict_values(c, p, len, nv, err);
	case PQ_ENC_RLE:
		if (t != PQ_BOOLEAN)
			break;
		if (len < 4 || rd_le32(p) > len - 4)
			return ids_fail(err, IDS_ECORRUPT, "RLE booleans: bad length prefix");
		if ((rc = rd_grow(&c->idx, &c->idx_cap, nv * sizeof(uint32_t) + 4, err)) ||
		    (rc = rd_rle_u32(p + 4, rd_le32(p), 1, nv, c->idx, err)))
			return rc;
		for (size_t i = 0; i < nv; i++)
			c->vals[i] = (uint8_t)c->idx[i];
		return 0;
	case PQ_ENC_DELTA_BINARY_PACKED:
		if (t != PQ_INT32 && t != PQ_INT64)
			break;
		return rd_delta_binary(p, len, nv, t == PQ_INT64, c->vals, &used, err);
	case PQ_ENC_DELTA_LENGTH_BYTE_ARRAY:
		if (t != PQ_BYTE_ARRAY)
			break;
		return rd_delta_length_ba(p, len, nv, (pq_rbytes *)c->vals, c->opts->max_page_values, err);
	case PQ_ENC_DELTA_BYTE_ARRAY: {
		if (t != PQ_BYTE_ARRAY && t != PQ_FIXED_LEN_BYTE_ARRAY)
			break;
		if (t == PQ_BYTE_ARRAY)
			return rd_delta_ba(p, len, nv, (pq_rbytes *)c->vals, &c->arena, &c->arena_cap,
					   c->opts->max_page_size, c->opts->max_page_values, err);
		/* FIXED_LEN_BYTE_ARRAY: rebuild as byte strings, then pack */
		pq_rbytes *tmp = malloc((nv ? nv : 1) * sizeof *tmp);
		if (!tmp)
			return ids_fail(err, IDS_ENOMEM, "out of memory");
		rc = rd_delta_ba(p, len, nv, tmp, &c->arena, &c->arena_cap, c->opts->max_page_size,
				 c->opts->max_page_values, err);
		for (size_t i = 0; rc == 0 && i < nv; i++) {
			if (tmp[i].len != (uint32_t)tl)
				rc = ids_fail(err, IDS_ECORRUPT, "DELTA_BYTE_ARRAY value %zu has %u bytes, "
					      "column is fixed at %d", i, tmp[i].len, tl);
			else
				memcpy(c->vals + i * c->elem, tmp[i].ptr, c->elem);
		}
		free(tmp);
		return rc;
	}
	case PQ_ENC_BYTE_STREAM_SPLIT:
		return rd_byte_stream_split(t, tl, p, len, nv, c->vals, err);
	default:
		return ids_fail(err, IDS_ECORRUPT, "unsupported value encoding %d", enc);
	}
	return ids_fail(err, IDS_ECORRUPT, "encoding %s is not valid for %s values",
			pq_encoding_name((pq_encoding)enc), pq_type_name(t));
}

int rd_decode_data_page(rd_col *c, int v2, size_t n, int enc, int def_enc, int rep_enc, size_t rl,
			size_t dl, const uint8_t *data, size_t len, ids_error *err)
{
	const pq_column_desc *d = c->desc;
	size_t pos = 0;
	int rc;
	c->n = c->i = c->nv = c->vi = 0;
	if (d->max_rep > 0 || d->max_def > 0) {
		if ((rc = rd_grow(&c->rep, &c->lvl_cap, n * sizeof(int16_t) + 2, err)))
			return rc;
		if ((rc = rd_grow(&c->def, &c->def_cap, n * sizeof(int16_t) + 2, err)))
			return rc;
	}
	if (v2 && rl + dl > len)
		return ids_fail(err, IDS_ECORRUPT, "level streams longer than the page");
	if (d->max_rep > 0 &&
	    (rc = levels(data, len, &pos, rep_enc, d->max_rep, v2, rl, n, c->rep, "repetition", err)))
		return rc;
	if (v2)
		pos = rl;
	if (d->max_def > 0 &&
	    (rc = levels(data, len, &pos, def_enc, d->max_def, v2, dl, n, c->def, "definition", err)))
		return rc;
	if (v2)
		pos = rl + dl;
	size_t nv = n;
	if (d->max_def > 0) {
		nv = 0;
		const int16_t *def = c->def;
		int16_t md = (int16_t)d->max_def;
		for (size_t i = 0; i < n; i++)
			nv += def[i] == md;
	}
	if (d->max_rep > 0 && n > 0 && c->values_read == 0 && c->rep[0] != 0)
		return ids_fail(err, IDS_ECORRUPT, "first repetition level of the column chunk is %d, not 0",
				c->rep[0]);
	if ((rc = rd_grow(&c->vals, &c->vals_cap, nv * c->elem + 16, err)))
		return rc;
	if ((rc = values(c, enc, data + pos, len - pos, nv, err)))
		return rc;
	c->n = n;
	c->nv = nv;
	return 0;
}
