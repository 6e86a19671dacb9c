/* RLE / bit-packed hybrid encoder (Parquet Encodings.md) for definition and repetition
 * levels and dictionary indices, and PLAIN boolean bit packing. Runs of equal values
 * that would take 8+ bytes bit-packed (and are 8+ values long) become RLE runs; everything
 * else is bit-packed in groups of 8 (at most 63 groups per literal run, the limit older
 * readers assume). */
#include "pqw.h"

#include <string.h>

int pqw_bit_width(uint64_t max)
{
	int w = 0;
	while (max) {
		w++;
		max >>= 1;
	}
	return w;
}

static void put_varint(ids_buf *b, uint64_t v)
{
	uint8_t t[10];
	size_t n = 0;
	while (v >= 0x80) {
		t[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	t[n++] = (uint8_t)v;
	ids_buf_append(b, t, n);
}

/* Packs n (a multiple of 8) values LSB-first with bw bits each. */
static void bitpack(ids_buf *b, const uint32_t *v, size_t n, int bw)
{
	size_t bytes = n / 8 * (size_t)bw;
	if (ids_buf_reserve(b, bytes))
		return;
	uint8_t *o = (uint8_t *)b->data + b->len;
	if (bw <= 8) {
		/* levels and small dictionaries: a group of 8 values is bw whole bytes, built
		 * in one word without the byte loop's per-value branch (same bytes) */
		for (size_t i = 0; i < n; i += 8, o += bw) {
			uint64_t g = 0;
			for (int k = 0; k < 8; k++)
				g |= (uint64_t)v[i + (size_t)k] << (k * bw);
			for (int k = 0; k < bw; k++)
				o[k] = (uint8_t)(g >> (8 * k));
		}
		b->len += bytes;
		b->data[b->len] = 0;
		return;
	}
	/* wider values (dictionaries of more than 256 entries): whole 32-bit words out of the
	 * accumulator instead of a loop per byte (same bytes, little-endian) */
	uint64_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		acc |= (uint64_t)v[i] << bits;
		bits += bw;
		if (bits >= 32) {
			uint32_t word = (uint32_t)acc;
			for (int k = 0; k < 4; k++)
				o[k] = (uint8_t)(word >> (8 * k));
			o += 4;
			acc >>= 32;
			bits -= 32;
		}
	}
	for (; bits > 0; bits -= 8) {
		*o++ = (uint8_t)acc;
		acc >>= 8;
	}
	b->len += bytes;
	b->data[b->len] = 0;
}

#define LIT_MAX 504   /* 63 groups of 8 */

typedef struct rle {
	ids_buf *out;
	int bw;
	uint32_t lit[LIT_MAX];
	size_t nl;
} rle;

static void flush_lit(rle *r)
{
	if (!r->nl)
		return;
	while (r->nl % 8)
		r->lit[r->nl++] = 0;
	put_varint(r->out, (uint64_t)(r->nl / 8) << 1 | 1);
	bitpack(r->out, r->lit, r->nl, r->bw);
	r->nl = 0;
}

static void add_lit(rle *r, uint32_t v, size_t count)
{
	while (count) {
		size_t k = LIT_MAX - r->nl;
		if (k > count)
			k = count;
		for (size_t i = 0; i < k; i++)
			r->lit[r->nl + i] = v;
		r->nl += k;
		count -= k;
		if (r->nl == LIT_MAX)
			flush_lit(r);
	}
}

/* A run of 8+ equal values goes RLE, except inside a literal run, where it must take 8
 * bytes or more bit-packed: there it also splits the literal run (one more header) and its
 * header and value bytes break the packed stream a compressor sees. With runs of 8 (the
 * old rule) the sparse def levels of a wide table (0/1, bit width 1, zeros in runs of ~10)
 * were 10% larger than plain bit-packing and compressed worse: 11,367,564 -> 10,791,104 B
 * zstd on the 300k-row wide bench data. */
#define RLE_MIN_BITS 64

static int short_run(const rle *r, size_t count)
{
	return count < 8 || (r->nl && count * (size_t)r->bw < RLE_MIN_BITS);
}

static void add_run(rle *r, uint32_t v, size_t count)
{
	if (short_run(r, count)) {
		add_lit(r, v, count);
		return;
	}
	if (r->nl % 8) {
		/* top the literal run up to a whole group with values of this run */
		size_t pad = 8 - r->nl % 8;
		add_lit(r, v, pad);
		count -= pad;
		if (short_run(r, count)) {
			add_lit(r, v, count);
			return;
		}
	}
	flush_lit(r);
	put_varint(r->out, (uint64_t)count << 1);
	uint8_t t[4];
	int nb = (r->bw + 7) / 8;
	for (int i = 0; i < nb; i++)
		t[i] = (uint8_t)(v >> (8 * i));
	ids_buf_append(r->out, t, (size_t)nb);
}

#define RLE_BODY(vals, n)                                             \
	rle r;                                                        \
	r.out = out;                                                  \
	r.bw = bw;                                                    \
	r.nl = 0;                                                     \
	size_t i = 0;                                                 \
	while (i < n) {                                               \
		/* eight runs of one value in a row (no two neighbours  \
		 * equal, nor the 8th and the 9th): the eight literals  \
		 * the loop below would add one by one */               \
		while (i + 8 < n && r.nl + 8 < LIT_MAX &&               \
		       vals[i] != vals[i + 1] && vals[i + 1] != vals[i + 2] && \
		       vals[i + 2] != vals[i + 3] && vals[i + 3] != vals[i + 4] && \
		       vals[i + 4] != vals[i + 5] && vals[i + 5] != vals[i + 6] && \
		       vals[i + 6] != vals[i + 7] && vals[i + 7] != vals[i + 8]) { \
			for (int k_ = 0; k_ < 8; k_++)                  \
				r.lit[r.nl + (size_t)k_] = (uint32_t)vals[i + (size_t)k_]; \
			r.nl += 8;                                     \
			i += 8;                                        \
		}                                                      \
		if (i >= n)                                            \
			break;                                         \
		uint32_t v = (uint32_t)vals[i];                        \
		size_t j = i + 1;                                      \
		while (j < n && (uint32_t)vals[j] == v)                \
			j++;                                           \
		if (j - i < 8 && r.nl + (j - i) < LIT_MAX) {           \
			/* the common literal case, without a call */   \
			for (; i < j; i++)                             \
				r.lit[r.nl++] = v;                     \
		} else {                                               \
			add_run(&r, v, j - i);                         \
		}                                                      \
		i = j;                                                 \
	}                                                             \
	flush_lit(&r);

void pqw_rle_u16(ids_buf *out, const int16_t *vals, size_t n, int bw)
{
	RLE_BODY(vals, n)
}

void pqw_rle_u32(ids_buf *out, const uint32_t *vals, size_t n, int bw)
{
	RLE_BODY(vals, n)
}

void pqw_pack_bools(ids_buf *out, const uint8_t *vals, size_t n)
{
	size_t bytes = (n + 7) / 8;
	if (ids_buf_reserve(out, bytes))
		return;
	uint8_t *o = (uint8_t *)out->data + out->len;
	memset(o, 0, bytes);
	for (size_t i = 0; i < n; i++)
		o[i >> 3] |= (uint8_t)((vals[i] & 1) << (i & 7));
	out->len += bytes;
	out->data[out->len] = 0;
}
