/* RLE/bit-packed hybrid decoding (definition/repetition levels, dictionary indices, RLE
 * booleans) and the deprecated MSB-first BIT_PACKED level encoding. Runs are bounds-checked
 * against the input and clipped to the number of values asked for, so a hostile run length
 * can neither overrun the output nor make us loop. */
#include "parquet/read/rd_internal.h"

static int rle_err(ids_error *err, const char *what, size_t got, size_t n)
{
	return ids_fail(err, IDS_ECORRUPT, "RLE/bit-packed data %s after %zu of %zu values", what, got, n);
}

static inline uint64_t load64_tail(const uint8_t *p, const uint8_t *end)
{
	uint64_t v = 0;
	size_t avail = (size_t)(end - p);
	if (avail >= 8) {
		memcpy(&v, p, 8);
		return v;
	}
	for (size_t i = 0; i < avail; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* One template for both output types: levels (int16) and indices (uint32). */
#define RLE_DECODER(NAME, T)                                                                     \
	int NAME(const uint8_t *p, size_t len, int bw, size_t n, T *out, ids_error *err)         \
	{                                                                                        \
		const uint8_t *end = p + len;                                                    \
		size_t got = 0;                                                                  \
		if (bw < 0 || bw > 32)                                                           \
			return ids_fail(err, IDS_ECORRUPT, "invalid bit width %d", bw);          \
		const uint64_t mask = bw == 32 ? 0xffffffffu : (((uint64_t)1 << bw) - 1);        \
		const size_t vbytes = ((size_t)bw + 7) / 8;                                      \
		while (got < n) {                                                                \
			uint64_t h = 0;                                                          \
			int shift = 0;                                                           \
			for (;;) {                                                               \
				if (p >= end)                                                    \
					return rle_err(err, "ends", got, n);                     \
				uint8_t b = *p++;                                                \
				h |= (uint64_t)(b & 0x7f) << shift;                              \
				if (!(b & 0x80))                                                 \
					break;                                                   \
				if ((shift += 7) > 28)                                           \
					return rle_err(err, "has a bad run header", got, n);     \
			}                                                                        \
			if (h & 1) {                                                             \
				uint64_t cnt = (h >> 1) * 8;                                     \
				size_t bytes_full = (size_t)(h >> 1) * (size_t)bw;               \
				size_t take = cnt < n - got ? (size_t)cnt : n - got;             \
				size_t need = (take * (size_t)bw + 7) / 8;                       \
				if (need > (size_t)(end - p))                                    \
					return rle_err(err, "ends inside a bit-packed run", got, n); \
				if (bw == 0) {                                                   \
					memset(out + got, 0, take * sizeof(T));                  \
				} else {                                                         \
					for (size_t i = 0; i < take; i++) {                      \
						size_t bit = i * (size_t)bw;                     \
						uint64_t w = load64_tail(p + bit / 8, end);      \
						out[got + i] = (T)((w >> (bit & 7)) & mask);     \
					}                                                        \
				}                                                                \
				got += take;                                                     \
				p += bytes_full < (size_t)(end - p) ? bytes_full : (size_t)(end - p); \
			} else {                                                                 \
				uint64_t cnt = h >> 1;                                           \
				if (vbytes > (size_t)(end - p))                                  \
					return rle_err(err, "ends inside an RLE run", got, n);   \
				uint32_t v = 0;                                                  \
				for (size_t i = 0; i < vbytes; i++)                              \
					v |= (uint32_t)p[i] << (8 * i);                          \
				p += vbytes;                                                     \
				size_t take = cnt < n - got ? (size_t)cnt : n - got;             \
				T tv = (T)v;                                                     \
				if ((uint64_t)v > mask)                                          \
					return rle_err(err, "has a run value wider than its bit width", got, n); \
				for (size_t i = 0; i < take; i++)                                \
					out[got + i] = tv;                                       \
				got += take;                                                     \
			}                                                                        \
		}                                                                                \
		return 0;                                                                        \
	}

RLE_DECODER(rd_rle_i16, int16_t)
RLE_DECODER(rd_rle_u32, uint32_t)

int rd_bitpacked_i16(const uint8_t *p, size_t len, int bw, size_t n, int16_t *out, size_t *used,
		     ids_error *err)
{
	if (bw < 0 || bw > 16)
		return ids_fail(err, IDS_ECORRUPT, "invalid level bit width %d", bw);
	size_t need = (n * (size_t)bw + 7) / 8;
	if (need > len)
		return ids_fail(err, IDS_ECORRUPT, "BIT_PACKED levels need %zu bytes, page has %zu",
				need, len);
	for (size_t i = 0; i < n; i++) {
		uint32_t v = 0;
		for (int b = 0; b < bw; b++) {
			size_t bit = i * (size_t)bw + (size_t)b;
			v = v << 1 | ((p[bit / 8] >> (7 - bit % 8)) & 1);
		}
		out[i] = (int16_t)v;
	}
	*used = need;
	return 0;
}
