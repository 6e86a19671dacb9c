/* PLAIN and BYTE_STREAM_SPLIT value decoding into packed arrays (see pq_read_batch for the
 * layout). Counts are checked against the bytes actually present before anything is copied. */
#include "parquet/read/rd_internal.h"

size_t rd_elem_size(pq_type t, int32_t tl)
{
	switch (t) {
	case PQ_BOOLEAN: return 1;
	case PQ_INT32: case PQ_FLOAT: return 4;
	case PQ_INT64: case PQ_DOUBLE: return 8;
	case PQ_INT96: return 12;
	case PQ_BYTE_ARRAY: return sizeof(pq_rbytes);
	case PQ_FIXED_LEN_BYTE_ARRAY: return tl > 0 ? (size_t)tl : 0;
	default: return 0;
	}
}

static int short_data(ids_error *err, const char *enc, size_t n, size_t need, size_t len)
{
	return ids_fail(err, IDS_ECORRUPT, "%s data for %zu values needs %zu bytes, page has %zu",
			enc, n, need, len);
}

int rd_plain(pq_type t, int32_t tl, const uint8_t *p, size_t len, size_t n, void *out, size_t *used,
	     ids_error *err)
{
	if (t == PQ_BOOLEAN) {
		size_t need = (n + 7) / 8;
		if (need > len)
			return short_data(err, "PLAIN boolean", n, need, len);
		uint8_t *o = out;
		for (size_t i = 0; i < n; i++)
			o[i] = (p[i >> 3] >> (i & 7)) & 1;
		*used = need;
		return 0;
	}
	if (t == PQ_BYTE_ARRAY) {
		pq_rbytes *o = out;
		size_t pos = 0;
		if (n > len / 4)
			return short_data(err, "PLAIN BYTE_ARRAY", n, n * 4, len);
		for (size_t i = 0; i < n; i++) {
			if (len - pos < 4)
				return ids_fail(err, IDS_ECORRUPT,
						"PLAIN BYTE_ARRAY value %zu of %zu: length past end of page", i, n);
			uint32_t l = rd_le32(p + pos);
			pos += 4;
			if (l > len - pos)
				return ids_fail(err, IDS_ECORRUPT,
						"PLAIN BYTE_ARRAY value %zu of %zu: length %u past end of page "
						"(%zu bytes left)", i, n, l, len - pos);
			o[i].ptr = p + pos;
			o[i].len = l;
			pos += l;
		}
		*used = pos;
		return 0;
	}
	size_t es = rd_elem_size(t, tl);
	if (es == 0)
		return ids_fail(err, IDS_ECORRUPT, "PLAIN: invalid physical type %d (length %d)", (int)t, tl);
	if (n > len / es)
		return short_data(err, "PLAIN", n, n * es, len);
	if (n)
		memcpy(out, p, n * es);
	*used = n * es;
	return 0;
}

int rd_byte_stream_split(pq_type t, int32_t tl, const uint8_t *p, size_t len, size_t n, void *out,
			 ids_error *err)
{
	if (t == PQ_BOOLEAN || t == PQ_BYTE_ARRAY || t == PQ_INT96)
		return ids_fail(err, IDS_ECORRUPT, "BYTE_STREAM_SPLIT is not defined for %s",
				pq_type_name(t));
	size_t es = rd_elem_size(t, tl);
	if (es == 0)
		return ids_fail(err, IDS_ECORRUPT, "BYTE_STREAM_SPLIT: invalid type length %d", tl);
	/* each byte stream is len / es bytes long (as Arrow reads it); it must hold n values */
	if (len % es != 0 || len / es < n)
		return short_data(err, "BYTE_STREAM_SPLIT", n, n * es, len);
	size_t stride = len / es;
	uint8_t *o = out;
	for (size_t b = 0; b < es; b++) {
		const uint8_t *s = p + b * stride;
		for (size_t i = 0; i < n; i++)
			o[i * es + b] = s[i];
	}
	return 0;
}
