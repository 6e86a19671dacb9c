/* Column chunk statistics: min/max in the type's defined sort order, null counts and, for
 * FLOAT/DOUBLE, NaN counts. Long byte-array bounds are truncated so they stay bounds (min: a
 * prefix; max: a prefix with its last incrementable byte bumped) and flagged inexact; UTF-8
 * strings stay valid. Float zeros follow the spec (min written as -0.0, max as +0.0), NaNs are
 * left out of min/max and counted in nan_count (Statistics field 9), which the spec requires
 * beside min/max under TYPE_ORDER and which the lake's Iceberg manifests take as they are. */
#include "pqw.h"
#include "parquet/common/thrift.h"

#include <math.h>
#include <string.h>

void pqw_stats_reset(pqw_stats *s)
{
	s->has = 0;
	s->nulls = s->nans = 0;
	ids_buf_reset(&s->minb);
	ids_buf_reset(&s->maxb);
}

void pqw_stats_free(pqw_stats *s)
{
	ids_buf_free(&s->minb);
	ids_buf_free(&s->maxb);
}

static int cmp_bytes(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	size_t m = an < bn ? an : bn;
	int r = memcmp(a, b, m);
	if (r)
		return r;
	return an < bn ? -1 : an > bn;
}

/* Two's-complement big-endian compare of equal-length decimals. */
static int cmp_decimal(const uint8_t *a, const uint8_t *b, size_t n)
{
	if (!n)
		return 0;
	if (a[0] != b[0])
		return (int8_t)a[0] < (int8_t)b[0] ? -1 : 1;
	return memcmp(a + 1, b + 1, n - 1);
}

static void set_buf(ids_buf *b, const uint8_t *p, size_t n)
{
	ids_buf_reset(b);
	ids_buf_append(b, p, n);
}

static void fold_bytes(pqw_stats *s, const uint8_t *v, size_t n, int decimal)
{
	if (!s->has) {
		set_buf(&s->minb, v, n);
		set_buf(&s->maxb, v, n);
		s->has = 1;
		return;
	}
	const uint8_t *mn = (const uint8_t *)s->minb.data, *mx = (const uint8_t *)s->maxb.data;
	if (decimal) {
		if (cmp_decimal(v, mn, n) < 0)
			set_buf(&s->minb, v, n);
		else if (cmp_decimal(v, mx, n) > 0)
			set_buf(&s->maxb, v, n);
		return;
	}
	if (cmp_bytes(v, n, mn, s->minb.len) < 0)
		set_buf(&s->minb, v, n);
	else if (cmp_bytes(v, n, mx, s->maxb.len) > 0)
		set_buf(&s->maxb, v, n);
}

#define FOLD_INT(T)                                                     \
	{                                                               \
		int64_t mn = s->has ? s->min.i : INT64_MAX;            \
		int64_t mx = s->has ? s->max.i : INT64_MIN;            \
		for (size_t k = 0; k < n; k++) {                        \
			T v;                                            \
			memcpy(&v, p + k * sizeof(T), sizeof(T));        \
			if (v < mn)                                     \
				mn = v;                                 \
			if (v > mx)                                     \
				mx = v;                                 \
		}                                                       \
		if (n) {                                                \
			s->min.i = mn;                                  \
			s->max.i = mx;                                  \
			s->has = 1;                                     \
		}                                                       \
	}

/* NaNs are counted only when the values are a page's (count): a dictionary's are distinct */
#define FOLD_FLOAT(T)                                                   \
	{                                                               \
		int64_t nans = 0;                                       \
		for (size_t k = 0; k < n; k++) {                        \
			T v;                                            \
			memcpy(&v, p + k * sizeof(T), sizeof(T));        \
			if (isnan(v)) {                                 \
				nans++;                                 \
				continue;                               \
			}                                               \
			if (!s->has) {                                  \
				s->min.d = s->max.d = v;                \
				s->has = 1;                             \
			} else if (v < s->min.d) {                      \
				s->min.d = v;                           \
			} else if (v > s->max.d) {                      \
				s->max.d = v;                           \
			}                                               \
		}                                                       \
		if (count)                                              \
			s->nans += nans;                                \
	}

#define COUNT_NANS(T)                                                   \
	for (size_t k = 0; k < n; k++) {                                \
		T v;                                                    \
		memcpy(&v, p + k * sizeof(T), sizeof(T));                \
		s->nans += isnan(v) != 0;                               \
	}

void pqw_stats_nans(pqw_stats *s, const pqw_col *c, const uint8_t *p, size_t n)
{
	if (c->order == PQW_ORDER_NONE)
		return;
	if (c->type == PQ_DOUBLE)
		COUNT_NANS(double)
	else if (c->type == PQ_FLOAT)
		COUNT_NANS(float)
}

static void fold(pqw_stats *s, const pqw_col *c, const uint8_t *p, size_t len, size_t n, int count)
{
	if (c->order == PQW_ORDER_NONE)
		return;
	switch (c->type) {
	case PQ_BOOLEAN: FOLD_INT(uint8_t) break;
	case PQ_INT32: FOLD_INT(int32_t) break;
	case PQ_INT64: FOLD_INT(int64_t) break;
	case PQ_FLOAT: FOLD_FLOAT(float) break;
	case PQ_DOUBLE: FOLD_FLOAT(double) break;
	case PQ_FIXED_LEN_BYTE_ARRAY:
		for (size_t k = 0; k < n; k++)
			fold_bytes(s, p + k * (size_t)c->width, (size_t)c->width,
				   c->order == PQW_ORDER_DECIMAL);
		break;
	case PQ_BYTE_ARRAY: {
		size_t o = 0;
		for (size_t k = 0; k < n && o + 4 <= len; k++) {
			uint32_t l;
			memcpy(&l, p + o, 4);
			fold_bytes(s, p + o + 4, l, 0);
			o += 4 + (size_t)l;
		}
		break;
	}
	default:
		break;
	}
}

void pqw_stats_plain(pqw_stats *s, const pqw_col *c, const uint8_t *p, size_t len, size_t n)
{
	fold(s, c, p, len, n, 1);
}

void pqw_stats_dict(pqw_stats *s, const pqw_col *c, const uint8_t *p, size_t len, size_t n)
{
	fold(s, c, p, len, n, 0);
}

/* Encodes a fixed-width bound into t; returns its length. */
static size_t enc_fixed(const pqw_col *c, int is_max, const pqw_stats *s, uint8_t *t)
{
	const int64_t iv = is_max ? s->max.i : s->min.i;
	double dv = is_max ? s->max.d : s->min.d;
	if (dv == 0.0)
		dv = is_max ? 0.0 : -0.0;
	switch (c->type) {
	case PQ_BOOLEAN: t[0] = (uint8_t)iv; return 1;
	case PQ_INT32: { int32_t v = (int32_t)iv; memcpy(t, &v, 4); return 4; }
	case PQ_INT64: memcpy(t, &iv, 8); return 8;
	case PQ_FLOAT: { float v = (float)dv; memcpy(t, &v, 4); return 4; }
	case PQ_DOUBLE: memcpy(t, &dv, 8); return 8;
	default: return 0;
	}
}

static int utf8_cont(uint8_t b) { return (b & 0xC0) == 0x80; }

void pqw_stats_write(pq_tenc *e, int16_t id, const pqw_stats *s, const pqw_col *c,
		     size_t max_bytes)
{
	pq_tenc_struct_begin(e, id);
	if (s->has && c->type != PQ_BYTE_ARRAY && c->type != PQ_FIXED_LEN_BYTE_ARRAY) {
		uint8_t mn[8], mx[8];
		size_t n = enc_fixed(c, 1, s, mx);
		enc_fixed(c, 0, s, mn);
		pq_tenc_binary(e, 1, mx, n);
		pq_tenc_binary(e, 2, mn, n);
		pq_tenc_i64(e, 3, s->nulls);
		pq_tenc_binary(e, 5, mx, n);
		pq_tenc_binary(e, 6, mn, n);
	} else if (s->has) {
		const uint8_t *mn = (const uint8_t *)s->minb.data, *mx = (const uint8_t *)s->maxb.data;
		size_t mnl = s->minb.len, mxl = s->maxb.len;
		int is_str = c->leaf->logical.kind == PQ_LT_STRING || c->leaf->converted == PQ_CT_UTF8 ||
			     c->leaf->logical.kind == PQ_LT_JSON;
		int min_exact = 1, max_exact = 1, have_max = 1, have_min = 1;
		uint8_t tmx[256];
		if (max_bytes > sizeof tmx)
			max_bytes = sizeof tmx;
		if (c->order == PQW_ORDER_DECIMAL && mnl > max_bytes) {
			have_min = have_max = 0;   /* a cut two's-complement number is no bound */
		} else {
			if (mnl > max_bytes) {
				mnl = max_bytes;
				while (is_str && mnl && utf8_cont(mn[mnl]))
					mnl--;
				min_exact = 0;
			}
			if (mxl > max_bytes) {
				/* bump the last byte that can grow; for strings only ASCII bytes below
				 * 0x7F, which start a character, so the prefix stays valid UTF-8 */
				memcpy(tmx, mx, max_bytes);
				size_t k = max_bytes;
				have_max = 0;
				while (k--) {
					if (is_str ? tmx[k] < 0x7F : tmx[k] < 0xFF) {
						tmx[k]++;
						mxl = k + 1;
						have_max = 1;
						break;
					}
				}
				mx = tmx;
				max_exact = 0;
			}
		}
		pq_tenc_i64(e, 3, s->nulls);
		if (have_max)
			pq_tenc_binary(e, 5, mx, mxl);
		if (have_min)
			pq_tenc_binary(e, 6, mn, mnl);
		if (have_max)
			pq_tenc_bool(e, 7, max_exact);
		if (have_min)
			pq_tenc_bool(e, 8, min_exact);
	} else {
		pq_tenc_i64(e, 3, s->nulls);
	}
	if ((c->type == PQ_DOUBLE || c->type == PQ_FLOAT) && c->order != PQW_ORDER_NONE)
		pq_tenc_i64(e, 9, s->nans);   /* even when 0: readers must not assume 0 without it */
	pq_tenc_struct_end(e);
}
