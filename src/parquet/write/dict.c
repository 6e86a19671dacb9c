/* Column dictionary: an open-addressing hash set that assigns dense indices to distinct
 * values and keeps their PLAIN encoding, which is exactly the dictionary page body.
 * Values compare bitwise (so -0.0 and 0.0, or two NaN payloads, stay distinct). */
#include "pqw.h"

#include <stdlib.h>
#include <string.h>

/* For values of up to 8 bytes the value itself sits in the slot, so a probe touches one
 * cache line instead of two. */
typedef struct slot {
	uint64_t v;
	uint32_t hash;
	uint32_t idx;
} slot;

struct pqw_dict {
	pq_type type;
	int width;            /* fixed-size value width; 0 for BYTE_ARRAY */
	ids_buf plain;
	uint32_t *offs;       /* BYTE_ARRAY: entry -> offset of its length prefix */
	uint32_t n, cap;      /* entries, capacity of offs */
	slot *slots;          /* hash + entry index + 1 (0 = empty), one cache line per probe */
	size_t mask;
};

static inline uint64_t mix(uint64_t a, uint64_t b)
{
	unsigned __int128 r = (unsigned __int128)a * b;
	return (uint64_t)r ^ (uint64_t)(r >> 64);
}

/* The last n < 8 bytes at p as a little-endian word, zero above them, by whole loads that
 * stay inside the value (long: at least 8 bytes of it end at p + n). A memcpy of n bytes
 * into a zeroed word was a call whose byte stores the next 8-byte load could not forward
 * from: that stall was a quarter of the time of dictionary encoding on the orders set
 * (perf annotate). Overlapping loads read the same bytes twice, so OR keeps them. */
static inline uint64_t tail_word(const uint8_t *p, size_t n, int long_value)
{
	if (!n)
		return 0;
	if (long_value) {
		uint64_t x;
		memcpy(&x, p + n - 8, 8);
		return x >> (64 - 8 * n);
	}
	if (n >= 4) {
		uint32_t lo, hi;
		memcpy(&lo, p, 4);
		memcpy(&hi, p + n - 4, 4);
		return (uint64_t)lo | ((uint64_t)hi << (8 * (n - 4)));
	}
	return (uint64_t)p[0] | ((uint64_t)p[n / 2] << (8 * (n / 2))) |
	       ((uint64_t)p[n - 1] << (8 * (n - 1)));
}

static inline uint64_t hash_bytes(const uint8_t *p, size_t n)
{
	uint64_t h = 0x9E3779B97F4A7C15ULL ^ (uint64_t)n;
	int long_value = n >= 8;
	while (n >= 8) {
		uint64_t x;
		memcpy(&x, p, 8);
		h = mix(h ^ x, 0xA0761D6478BD642FULL);
		p += 8;
		n -= 8;
	}
	return mix(h ^ tail_word(p, n, long_value), 0xE7037ED1A0B428DBULL);
}

/* a[0..n) == b[0..n): values of up to 16 bytes (most dictionary strings) by whole loads
 * inside both, as tail_word does, instead of a call to memcmp per probe */
static inline int same_bytes(const uint8_t *a, const uint8_t *b, size_t n)
{
	if (n > 16)
		return !memcmp(a, b, n);
	if (n >= 8) {
		uint64_t x0, y0, x1, y1;
		memcpy(&x0, a, 8);
		memcpy(&y0, b, 8);
		memcpy(&x1, a + n - 8, 8);
		memcpy(&y1, b + n - 8, 8);
		return ((x0 ^ y0) | (x1 ^ y1)) == 0;
	}
	return tail_word(a, n, 0) == tail_word(b, n, 0);
}

pqw_dict *pqw_dict_new(pq_type type, int width)
{
	pqw_dict *d = calloc(1, sizeof *d);
	if (!d)
		return NULL;
	d->type = type;
	d->width = type == PQ_BYTE_ARRAY ? 0 : width;
	ids_buf_init(&d->plain, 0);
	d->mask = 1023;
	d->slots = pqw_zalloc(d->mask + 1, sizeof *d->slots);
	if (!d->slots) {
		free(d);
		return NULL;
	}
	return d;
}

void pqw_dict_free(pqw_dict *d)
{
	if (!d)
		return;
	ids_buf_free(&d->plain);
	free(d->offs);
	free(d->slots);
	free(d);
}

void pqw_dict_clear(pqw_dict *d)
{
	ids_buf_reset(&d->plain);
	memset(d->slots, 0, (d->mask + 1) * sizeof *d->slots);
	d->n = 0;
}

uint32_t pqw_dict_count(const pqw_dict *d) { return d->n; }

size_t pqw_dict_value_offset(const pqw_dict *d, const uint8_t *vals, size_t len, size_t k)
{
	if (d->width)
		return k * (size_t)d->width;
	size_t o = 0;
	for (size_t i = 0; i < k && o + 4 <= len; i++) {
		uint32_t l;
		memcpy(&l, vals + o, 4);
		o += 4 + (size_t)l;
	}
	return o;
}

const ids_buf *pqw_dict_plain(const pqw_dict *d) { return &d->plain; }

size_t pqw_dict_offset(const pqw_dict *d, uint32_t i)
{
	return d->width ? (size_t)i * (size_t)d->width : d->offs[i];
}

int pqw_dict_reorder(pqw_dict *d, const uint32_t *order)
{
	uint32_t *pos = malloc((size_t)d->n * sizeof *pos + 1);
	uint32_t *noffs = d->width ? NULL : malloc((size_t)d->cap * sizeof *noffs + 1);
	ids_buf np;
	ids_buf_init(&np, 0);
	if (!pos || (!d->width && !noffs) || ids_buf_reserve(&np, d->plain.len)) {
		free(pos);
		free(noffs);
		ids_buf_free(&np);
		return -1;
	}
	for (uint32_t k = 0; k < d->n; k++) {
		uint32_t i = order[k];
		pos[i] = k;
		if (d->width) {
			ids_buf_append(&np, d->plain.data + (size_t)i * (size_t)d->width, (size_t)d->width);
		} else {
			uint32_t l;
			memcpy(&l, d->plain.data + d->offs[i], 4);
			noffs[k] = (uint32_t)np.len;
			ids_buf_append(&np, d->plain.data + d->offs[i], 4 + (size_t)l);
		}
	}
	for (size_t s = 0; s <= d->mask; s++)
		if (d->slots[s].idx)
			d->slots[s].idx = pos[d->slots[s].idx - 1] + 1;
	ids_buf_free(&d->plain);
	d->plain = np;
	if (!d->width) {
		free(d->offs);
		d->offs = noffs;
	}
	free(pos);
	return 0;
}

static int rehash(pqw_dict *d)
{
	size_t nmask = d->mask * 2 + 1;
	slot *ns = pqw_zalloc(nmask + 1, sizeof *ns);
	if (!ns)
		return -1;
	for (size_t i = 0; i <= d->mask; i++) {
		if (!d->slots[i].idx)
			continue;
		size_t s = d->slots[i].hash & nmask;
		while (ns[s].idx)
			s = (s + 1) & nmask;
		ns[s] = d->slots[i];
	}
	free(d->slots);
	d->slots = ns;
	d->mask = nmask;
	return 0;
}

static int64_t insert(pqw_dict *d, size_t s, uint32_t h, uint64_t v, const void *p, size_t n)
{
	if (d->n == UINT32_MAX - 1)
		return -1;
	if (!d->width) {
		if (d->n == d->cap) {
			uint32_t ncap = d->cap ? d->cap * 2 : 256;
			uint32_t *no = realloc(d->offs, ncap * sizeof *no);
			if (!no)
				return -1;
			d->offs = no;
			d->cap = ncap;
		}
		if (d->plain.len > UINT32_MAX - 4 - n)
			return -1;
		d->offs[d->n] = (uint32_t)d->plain.len;
		uint32_t len = (uint32_t)n;
		ids_buf_append(&d->plain, &len, 4);
	}
	ids_buf_append(&d->plain, p, n);
	if (d->plain.failed)
		return -1;
	d->slots[s].v = v;
	d->slots[s].hash = h;
	d->slots[s].idx = d->n + 1;
	uint32_t idx = d->n++;
	if ((size_t)d->n * 2 > d->mask && rehash(d))
		return -1;
	return idx;
}

#define PROBE(EQ, FOUND)                                       \
	for (;;) {                                             \
		slot sl = d->slots[s];                         \
		if (!sl.idx)                                   \
			break;                                 \
		if (sl.hash == h && (EQ)) {                    \
			FOUND;                                 \
		}                                              \
		s = (s + 1) & d->mask;                         \
	}

int64_t pqw_dict_put(pqw_dict *d, const void *p, size_t n)
{
	const char *base = d->plain.data;
	uint32_t h;
	size_t s;
	switch (d->width) {
	case 4: {
		uint32_t x;
		memcpy(&x, p, 4);
		h = (uint32_t)mix(x, 0x9E3779B97F4A7C15ULL);
		s = h & d->mask;
		PROBE(sl.v == x, return sl.idx - 1)
		return insert(d, s, h, x, p, 4);
	}
	case 8: {
		uint64_t x;
		memcpy(&x, p, 8);
		h = (uint32_t)mix(x, 0x9E3779B97F4A7C15ULL);
		s = h & d->mask;
		PROBE(sl.v == x, return sl.idx - 1)
		return insert(d, s, h, x, p, 8);
	}
	case 0: {
		h = (uint32_t)hash_bytes(p, n);
		s = h & d->mask;
		uint32_t len;
		PROBE((memcpy(&len, base + d->offs[sl.idx - 1], 4), len == n) &&
		      !memcmp(base + d->offs[sl.idx - 1] + 4, p, n), return sl.idx - 1)
		return insert(d, s, h, 0, p, n);
	}
	default: {
		size_t w = (size_t)d->width;
		h = (uint32_t)hash_bytes(p, w);
		s = h & d->mask;
		PROBE(!memcmp(base + (size_t)(sl.idx - 1) * w, p, w), return sl.idx - 1)
		return insert(d, s, h, 0, p, w);
	}
	}
}

/* Batch encoding: hash everything first, then probe while prefetching the slot a few
 * values ahead, so the cache misses of a large dictionary overlap instead of adding up. */
#define AHEAD 8

static int encode_fixed8(pqw_dict *d, const uint8_t *vals, size_t n, uint32_t *out, uint32_t *hs)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t x;
		memcpy(&x, vals + i * 8, 8);
		hs[i] = (uint32_t)mix(x, 0x9E3779B97F4A7C15ULL);
	}
	for (size_t i = 0; i < n; i++) {
		if (i + AHEAD < n)
			__builtin_prefetch(&d->slots[hs[i + AHEAD] & d->mask]);
		uint64_t x;
		memcpy(&x, vals + i * 8, 8);
		uint32_t h = hs[i];
		size_t s = h & d->mask;
		int64_t ix = -1;
		PROBE(sl.v == x, ix = sl.idx - 1; break)
		if (ix < 0 && (ix = insert(d, s, h, x, &x, 8)) < 0)
			return -1;
		out[i] = (uint32_t)ix;
	}
	return 0;
}

static int encode_fixed4(pqw_dict *d, const uint8_t *vals, size_t n, uint32_t *out, uint32_t *hs)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t x;
		memcpy(&x, vals + i * 4, 4);
		hs[i] = (uint32_t)mix(x, 0x9E3779B97F4A7C15ULL);
	}
	for (size_t i = 0; i < n; i++) {
		if (i + AHEAD < n)
			__builtin_prefetch(&d->slots[hs[i + AHEAD] & d->mask]);
		uint32_t x;
		memcpy(&x, vals + i * 4, 4);
		uint32_t h = hs[i];
		size_t s = h & d->mask;
		int64_t ix = -1;
		PROBE(sl.v == x, ix = sl.idx - 1; break)
		if (ix < 0 && (ix = insert(d, s, h, x, &x, 4)) < 0)
			return -1;
		out[i] = (uint32_t)ix;
	}
	return 0;
}

int pqw_dict_encode(pqw_dict *d, const uint8_t *vals, size_t len, size_t n, uint32_t *out,
		    uint32_t *scratch)
{
	if (d->width == 8)
		return encode_fixed8(d, vals, n, out, scratch);
	if (d->width == 4)
		return encode_fixed4(d, vals, n, out, scratch);
	if (d->width) {
		size_t w = (size_t)d->width;
		for (size_t i = 0; i < n; i++)
			scratch[i] = (uint32_t)hash_bytes(vals + i * w, w);
		for (size_t i = 0; i < n; i++) {
			if (i + AHEAD < n)
				__builtin_prefetch(&d->slots[scratch[i + AHEAD] & d->mask]);
			const uint8_t *v = vals + i * w;
			uint32_t h = scratch[i];
			size_t s = h & d->mask;
			int64_t ix = -1;
			const char *base = d->plain.data;
			/* constant sizes let the compiler inline the compare (INT96, UUID) */
			if (w == 12) {
				PROBE(!memcmp(base + (size_t)(sl.idx - 1) * 12, v, 12), ix = sl.idx - 1; break)
			} else if (w == 16) {
				PROBE(!memcmp(base + (size_t)(sl.idx - 1) * 16, v, 16), ix = sl.idx - 1; break)
			} else {
				PROBE(!memcmp(base + (size_t)(sl.idx - 1) * w, v, w), ix = sl.idx - 1; break)
			}
			if (ix < 0 && (ix = insert(d, s, h, 0, v, w)) < 0)
				return -1;
			out[i] = (uint32_t)ix;
		}
		return 0;
	}
	/* BYTE_ARRAY: first pass hashes (and records offsets in out), second probes */
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t l;
		if (o + 4 > len)
			return -1;
		memcpy(&l, vals + o, 4);
		scratch[i] = (uint32_t)hash_bytes(vals + o + 4, l);
		out[i] = (uint32_t)o;
		o += 4 + (size_t)l;
	}
	for (size_t i = 0; i < n; i++) {
		if (i + AHEAD < n)
			__builtin_prefetch(&d->slots[scratch[i + AHEAD] & d->mask]);
		const uint8_t *v = vals + out[i];
		uint32_t l;
		memcpy(&l, v, 4);
		uint32_t h = scratch[i];
		size_t s = h & d->mask;
		int64_t ix = -1;
		const char *base = d->plain.data;
		uint32_t len2;
		PROBE((memcpy(&len2, base + d->offs[sl.idx - 1], 4), len2 == l) &&
		      same_bytes((const uint8_t *)base + d->offs[sl.idx - 1] + 4, v + 4, l),
		      ix = sl.idx - 1; break)
		if (ix < 0 && (ix = insert(d, s, h, 0, v + 4, l)) < 0)
			return -1;
		out[i] = (uint32_t)ix;
	}
	return 0;
}
