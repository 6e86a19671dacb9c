/* The DELTA_* encodings: DELTA_BINARY_PACKED integers (also the length/prefix streams of the
 * byte-array variants), DELTA_LENGTH_BYTE_ARRAY and DELTA_BYTE_ARRAY (prefix sharing).
 * Arithmetic is done modulo 2^64 as the spec requires; header values are validated before
 * use (block size a multiple of 128, miniblock size a multiple of 32, bit widths <= 64). */
#include "parquet/read/rd_internal.h"

#include <stdlib.h>

typedef struct dbp {
	const uint8_t *p, *end, *start;
	uint64_t block_size, n_mini, per_mini, total;
	uint64_t first;
} dbp;

static int uvarint(dbp *d, uint64_t *v, ids_error *err)
{
	uint64_t r = 0;
	for (int shift = 0; shift < 70; shift += 7) {
		if (d->p >= d->end)
			return ids_fail(err, IDS_ECORRUPT, "DELTA_BINARY_PACKED: truncated varint at byte %zu",
					(size_t)(d->p - d->start));
		uint8_t b = *d->p++;
		if (shift == 63 && (b & 0x7e))
			break;
		r |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = r;
			return 0;
		}
	}
	return ids_fail(err, IDS_ECORRUPT, "DELTA_BINARY_PACKED: varint too long");
}

static int header(dbp *d, const uint8_t *p, size_t len, ids_error *err)
{
	d->start = d->p = p;
	d->end = p + len;
	int rc;
	if ((rc = uvarint(d, &d->block_size, err)) || (rc = uvarint(d, &d->n_mini, err)) ||
	    (rc = uvarint(d, &d->total, err)) || (rc = uvarint(d, &d->first, err)))
		return rc;
	d->first = (d->first >> 1) ^ (0 - (d->first & 1));
	if (d->block_size == 0 || d->block_size % 128 != 0 || d->block_size > (1u << 20) ||
	    d->n_mini == 0 || d->block_size % d->n_mini != 0 ||
	    (d->block_size / d->n_mini) % 32 != 0)
		return ids_fail(err, IDS_ECORRUPT,
				"DELTA_BINARY_PACKED: invalid header (block size %llu, %llu miniblocks)",
				(unsigned long long)d->block_size, (unsigned long long)d->n_mini);
	d->per_mini = d->block_size / d->n_mini;
	return 0;
}

int rd_delta_count(const uint8_t *p, size_t len, size_t *count, ids_error *err)
{
	dbp d;
	int rc = header(&d, p, len, err);
	if (rc)
		return rc;
	if (d.total > SIZE_MAX / 16)
		return ids_fail(err, IDS_ECORRUPT, "DELTA_BINARY_PACKED: value count %llu too large",
				(unsigned long long)d.total);
	*count = (size_t)d.total;
	return 0;
}

static inline uint64_t get_bits(const uint8_t *p, const uint8_t *end, size_t bit, int bw)
{
	/* reads bw (<= 64) bits starting at bit offset `bit`; bytes past end read as 0 */
	const uint8_t *q = p + bit / 8;
	unsigned sh = bit & 7;
	uint64_t lo = 0;
	size_t avail = q < end ? (size_t)(end - q) : 0;
	if (avail >= 8) {
		memcpy(&lo, q, 8);
	} else {
		for (size_t i = 0; i < avail; i++)
			lo |= (uint64_t)q[i] << (8 * i);
	}
	uint64_t v = lo >> sh;
	if (sh + (unsigned)bw > 64) {
		uint8_t hi = avail > 8 ? q[8] : 0;
		v |= (uint64_t)hi << (64 - sh);
	}
	return bw == 64 ? v : v & (((uint64_t)1 << bw) - 1);
}

/* Decodes up to n values (n <= header total); *used = bytes consumed by the whole stream
 * when n == total (the reader of a following section needs it). */
int rd_delta_binary(const uint8_t *p, size_t len, size_t n, int is64, void *out, size_t *used,
		    ids_error *err)
{
	dbp d;
	int rc = header(&d, p, len, err);
	if (rc)
		return rc;
	if (n > d.total)
		return ids_fail(err, IDS_ECORRUPT,
				"DELTA_BINARY_PACKED: page needs %zu values, stream has %llu", n,
				(unsigned long long)d.total);
	int32_t *o32 = out;
	int64_t *o64 = out;
	uint64_t cur = d.first;
	size_t got = 0;
	if (d.total > 0 && n > 0) {
		if (is64) o64[0] = (int64_t)cur; else o32[0] = (int32_t)(uint32_t)cur;
		got = 1;
	}
	uint64_t remaining = d.total > 0 ? d.total - 1 : 0; /* values still encoded in blocks */
	while (remaining > 0) {
		uint64_t min_delta;
		if ((rc = uvarint(&d, &min_delta, err)))
			return rc;
		min_delta = (min_delta >> 1) ^ (0 - (min_delta & 1));
		if ((uint64_t)(d.end - d.p) < d.n_mini)
			return ids_fail(err, IDS_ECORRUPT, "DELTA_BINARY_PACKED: truncated block header");
		const uint8_t *widths = d.p;
		d.p += d.n_mini;
		for (uint64_t m = 0; m < d.n_mini && remaining > 0; m++) {
			int bw = widths[m];
			if (bw > 64)
				return ids_fail(err, IDS_ECORRUPT, "DELTA_BINARY_PACKED: bit width %d", bw);
			uint64_t take = remaining < d.per_mini ? remaining : d.per_mini;
			size_t full = (size_t)(d.per_mini * (uint64_t)bw / 8);
			size_t need = (size_t)((take * (uint64_t)bw + 7) / 8);
			size_t avail = (size_t)(d.end - d.p);
			if (need > avail)
				return ids_fail(err, IDS_ECORRUPT,
						"DELTA_BINARY_PACKED: miniblock needs %zu bytes, %zu left",
						need, avail);
			for (uint64_t i = 0; i < take; i++) {
				uint64_t delta = bw ? get_bits(d.p, d.end, (size_t)(i * (uint64_t)bw), bw) : 0;
				cur += min_delta + delta;
				if (got < n) {
					if (is64) o64[got] = (int64_t)cur;
					else o32[got] = (int32_t)(uint32_t)cur;
				}
				got++;
			}
			remaining -= take;
			/* the last miniblock is padded to full size by conforming writers; some
			 * are not, so take what is there */
			d.p += full < avail ? full : avail;
		}
	}
	*used = (size_t)(d.p - d.start);
	return 0;
}

int rd_delta_length_ba(const uint8_t *p, size_t len, size_t n, pq_rbytes *out, size_t max_count,
		       ids_error *err)
{
	size_t total = 0, used = 0;
	int rc = rd_delta_count(p, len, &total, err);
	if (rc)
		return rc;
	if (total < n || total > max_count)
		return ids_fail(err, IDS_ECORRUPT,
				"DELTA_LENGTH_BYTE_ARRAY: %zu lengths for %zu values (cap %zu)", total, n,
				max_count);
	int32_t *lens = malloc((total ? total : 1) * sizeof *lens);
	if (!lens)
		return ids_fail(err, IDS_ENOMEM, "out of memory for %zu lengths", total);
	rc = rd_delta_binary(p, len, total, 0, lens, &used, err);
	size_t pos = used;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (lens[i] < 0 || (size_t)lens[i] > len - pos) {
			rc = ids_fail(err, IDS_ECORRUPT,
				      "DELTA_LENGTH_BYTE_ARRAY value %zu: length %d past end of page", i,
				      lens[i]);
			break;
		}
		out[i].ptr = p + pos;
		out[i].len = (uint32_t)lens[i];
		pos += (size_t)lens[i];
	}
	free(lens);
	return rc;
}

int rd_delta_ba(const uint8_t *p, size_t len, size_t n, pq_rbytes *out, uint8_t **arena,
		size_t *arena_cap, size_t max_bytes, size_t max_count, ids_error *err)
{
	size_t total = 0, used = 0;
	int rc = rd_delta_count(p, len, &total, err);
	if (rc)
		return rc;
	if (total < n || total > max_count)
		return ids_fail(err, IDS_ECORRUPT, "DELTA_BYTE_ARRAY: %zu prefixes for %zu values (cap %zu)",
				total, n, max_count);
	int32_t *pre = malloc((total ? total : 1) * sizeof *pre);
	if (!pre)
		return ids_fail(err, IDS_ENOMEM, "out of memory for %zu prefix lengths", total);
	rc = rd_delta_binary(p, len, total, 0, pre, &used, err);
	if (rc) {
		free(pre);
		return rc;
	}
	/* suffixes are a DELTA_LENGTH_BYTE_ARRAY stream; decode into out, then rebuild */
	rc = rd_delta_length_ba(p + used, len - used, n, out, max_count, err);
	/* first pass: total size of rebuilt values, bounded by max_bytes */
	size_t need = 0, prev = 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (pre[i] < 0 || (size_t)pre[i] > prev) {
			rc = ids_fail(err, IDS_ECORRUPT,
				      "DELTA_BYTE_ARRAY value %zu: prefix %d longer than previous value (%zu)",
				      i, pre[i], prev);
			break;
		}
		prev = (size_t)pre[i] + out[i].len;
		if (prev > UINT32_MAX || prev > max_bytes - need) {
			rc = ids_fail(err, IDS_ELIMIT, "DELTA_BYTE_ARRAY: values exceed %zu bytes", max_bytes);
			break;
		}
		need += prev;
	}
	if (rc == 0 && need + 1 > *arena_cap) {
		uint8_t *a = realloc(*arena, need + 1);
		if (!a)
			rc = ids_fail(err, IDS_ENOMEM, "out of memory for %zu bytes of strings", need);
		else {
			*arena = a;
			*arena_cap = need + 1;
		}
	}
	size_t pos = 0;
	const uint8_t *last = NULL;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		uint8_t *dst = *arena + pos;
		size_t pl = (size_t)pre[i];
		if (pl)
			memcpy(dst, last, pl);
		if (out[i].len)
			memcpy(dst + pl, out[i].ptr, out[i].len);
		out[i].ptr = dst;
		out[i].len = (uint32_t)(pl + out[i].len);
		last = dst;
		pos += out[i].len;
	}
	free(pre);
	return rc;
}
