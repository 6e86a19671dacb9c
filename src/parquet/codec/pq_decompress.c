/* Page decompression for the reader. Every codec decodes into a caller buffer of exactly
 * the size the page header promises and fails (IDS_ECORRUPT) unless the data decodes to
 * exactly that many bytes, so a hostile page can neither overflow nor under-fill. */
#include "parquet/codec/pq_codec.h"

#include <brotli/decode.h>
#include <libdeflate.h>
#include <lz4.h>
#include <pthread.h>
#include <lz4frame.h>
#include <snappy-c.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

/* One zstd context per thread, kept between pages (creating one costs more than a small
 * page). A thread-specific key, not a plain thread-local: its destructor frees the context
 * when the thread exits, so a server thread that read a zstd file (an import upload on a
 * connection thread) does not leak it whether or not it calls the cleanup below. */
static pthread_key_t dctx_key;
static pthread_once_t dctx_once = PTHREAD_ONCE_INIT;
static int dctx_key_ok;

static void free_dctx(void *p) { ZSTD_freeDCtx(p); }
static void make_dctx_key(void) { dctx_key_ok = pthread_key_create(&dctx_key, free_dctx) == 0; }

static ZSTD_DCtx *thread_dctx(void)
{
	pthread_once(&dctx_once, make_dctx_key);
	if (!dctx_key_ok)
		return NULL;
	ZSTD_DCtx *d = pthread_getspecific(dctx_key);
	if (!d && (d = ZSTD_createDCtx()) && pthread_setspecific(dctx_key, d)) {
		ZSTD_freeDCtx(d);
		d = NULL;
	}
	return d;
}

void pq_decompress_thread_cleanup(void)
{
	pthread_once(&dctx_once, make_dctx_key);
	if (!dctx_key_ok)
		return;
	ZSTD_freeDCtx(pthread_getspecific(dctx_key));
	pthread_setspecific(dctx_key, NULL);
}

static int short_output(ids_error *err, const char *codec, size_t got, size_t want)
{
	return ids_fail(err, IDS_ECORRUPT, "%s: data decompresses to %zu bytes, page header says %zu",
			codec, got, want);
}

/* gzip (possibly several concatenated members, as Hadoop writes), zlib-wrapped, or raw
 * deflate as a last resort. */
static int inflate_all(const uint8_t *in, size_t n, uint8_t *out, size_t out_len, int wbits,
		       size_t *produced)
{
	z_stream zs;
	memset(&zs, 0, sizeof zs);
	if (inflateInit2(&zs, wbits) != Z_OK)
		return -1;
	size_t ipos = 0, opos = 0;
	int ok = 0;
	uint8_t spill;
	for (;;) {
		/* once out is full, inflate into a 1-byte spill slot: the stream may still have
		 * its trailer to check, and any byte landing there means the data is too long */
		int full = opos == out_len;
		size_t ichunk = n - ipos > UINT32_MAX ? UINT32_MAX : n - ipos;
		size_t ochunk = full ? 1 : (out_len - opos > UINT32_MAX ? UINT32_MAX : out_len - opos);
		zs.next_in = (Bytef *)in + ipos;
		zs.avail_in = (uInt)ichunk;
		zs.next_out = full ? &spill : out + opos;
		zs.avail_out = (uInt)ochunk;
		int rc = inflate(&zs, Z_NO_FLUSH);
		size_t used = ichunk - zs.avail_in, made = ochunk - zs.avail_out;
		ipos += used;
		if (full && made)
			break;
		opos += full ? 0 : made;
		if (rc == Z_STREAM_END) {
			/* another gzip member may follow; trailing zero padding is tolerated */
			while (ipos < n && in[ipos] == 0)
				ipos++;
			if (ipos >= n) {
				ok = 1;
				break;
			}
			if (wbits < 0 || inflateReset(&zs) != Z_OK)
				break;
			continue;
		}
		if ((rc != Z_OK && rc != Z_BUF_ERROR) || (used == 0 && made == 0))
			break;
	}
	inflateEnd(&zs);
	*produced = opos;
	return ok ? 0 : -1;
}

/* The fast path: libdeflate, member after member (Hadoop writes several per page), into the
 * exact size the page header gives. 0 when the page decoded to exactly out_len; -1 for
 * anything else (zlib-wrapped or raw deflate, a bad or short stream), which the zlib path
 * below then decodes or diagnoses. The decompressor is a plain ~10 KB allocation with no
 * set-up cost, so it is made per page rather than kept per thread. */
static int libdeflate_gzip_all(const uint8_t *in, size_t n, uint8_t *out, size_t out_len)
{
	struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
	if (!d)
		return -1;
	size_t ipos = 0, opos = 0, members = 0;
	int ok = 1;
	while (ok && ipos < n) {
		size_t zeros = ipos;
		while (zeros < n && in[zeros] == 0)
			zeros++;
		if (zeros == n && members > 0 && opos == out_len)
			break; /* trailing zero padding, as zlib's path tolerates */
		size_t in_used = 0, out_used = 0;
		ok = libdeflate_gzip_decompress_ex(d, in + ipos, n - ipos, out + opos, out_len - opos,
						   &in_used, &out_used) == LIBDEFLATE_SUCCESS &&
		     in_used > 0;
		ipos += in_used;
		opos += out_used;
		members++;
	}
	libdeflate_free_decompressor(d);
	return ok && members > 0 && opos == out_len ? 0 : -1;
}

static int gzip_decompress(const uint8_t *in, size_t n, uint8_t *out, size_t out_len, ids_error *err)
{
	if (libdeflate_gzip_all(in, n, out, out_len) == 0)
		return 0;
	size_t got = 0;
	/* 47 = auto-detect gzip or zlib header */
	if (inflate_all(in, n, out, out_len, 47, &got) == 0 && got == out_len)
		return 0;
	size_t got_raw = 0;
	if (inflate_all(in, n, out, out_len, -15, &got_raw) == 0 && got_raw == out_len)
		return 0;
	if (got != out_len)
		return short_output(err, "gzip", got, out_len);
	return ids_fail(err, IDS_ECORRUPT, "gzip: invalid or truncated deflate stream");
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Hadoop's BlockCompressorStream framing: outer blocks of [ulen BE32] followed by inner
 * [clen BE32][lz4 block] chunks until ulen bytes are produced. Returns 0 if it fits. */
static int hadoop_lz4(const uint8_t *in, size_t n, uint8_t *out, size_t out_len)
{
	size_t ipos = 0, opos = 0;
	if (n < 8)
		return -1;
	while (ipos < n) {
		if (n - ipos < 4)
			return -1;
		uint32_t ulen = be32(in + ipos);
		ipos += 4;
		if (ulen > out_len - opos)
			return -1;
		size_t block_end = opos + ulen;
		do {
			if (n - ipos < 4)
				return -1;
			uint32_t clen = be32(in + ipos);
			ipos += 4;
			if (clen > n - ipos || clen > INT32_MAX)
				return -1;
			size_t room = block_end - opos;
			if (room > INT32_MAX)
				return -1;
			int d = LZ4_decompress_safe((const char *)in + ipos, (char *)out + opos,
						    (int)clen, (int)room);
			if (d < 0 || (d == 0 && clen > 1))
				return -1;
			ipos += clen;
			opos += (size_t)d;
		} while (opos < block_end);
	}
	return opos == out_len ? 0 : -1;
}

static int lz4_frame(const uint8_t *in, size_t n, uint8_t *out, size_t out_len)
{
	LZ4F_dctx *dctx;
	if (LZ4F_isError(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION)))
		return -1;
	size_t ipos = 0, opos = 0, hint = 1;
	while (ipos < n && hint != 0) {
		size_t isz = n - ipos, osz = out_len - opos;
		hint = LZ4F_decompress(dctx, out + opos, &osz, in + ipos, &isz, NULL);
		if (LZ4F_isError(hint) || (isz == 0 && osz == 0))
			break;
		ipos += isz;
		opos += osz;
	}
	/* a frame that wants more output than out_len leaves hint != 0 */
	LZ4F_freeDecompressionContext(dctx);
	return hint == 0 && ipos == n && opos == out_len ? 0 : -1;
}

static int lz4_block(const uint8_t *in, size_t n, uint8_t *out, size_t out_len)
{
	if (n > INT32_MAX || out_len > INT32_MAX)
		return -1;
	int d = LZ4_decompress_safe((const char *)in, (char *)out, (int)n, (int)out_len);
	return d >= 0 && (size_t)d == out_len ? 0 : -1;
}

int pq_decompress(pq_codec codec, const uint8_t *in, size_t n, uint8_t *out, size_t out_len,
		  ids_error *err)
{
	switch (codec) {
	case PQ_CODEC_UNCOMPRESSED:
		if (n != out_len)
			return short_output(err, "uncompressed page", n, out_len);
		if (n)
			memcpy(out, in, n);
		return 0;
	case PQ_CODEC_SNAPPY: {
		size_t ulen = 0;
		if (snappy_uncompressed_length((const char *)in, n, &ulen) != SNAPPY_OK)
			return ids_fail(err, IDS_ECORRUPT, "snappy: invalid length header");
		if (ulen != out_len)
			return short_output(err, "snappy", ulen, out_len);
		size_t got = out_len;
		if (out_len == 0) {
			uint8_t dummy;
			return snappy_uncompress((const char *)in, n, (char *)&dummy, &got) == SNAPPY_OK
				       ? 0 : ids_fail(err, IDS_ECORRUPT, "snappy: invalid data");
		}
		if (snappy_uncompress((const char *)in, n, (char *)out, &got) != SNAPPY_OK ||
		    got != out_len)
			return ids_fail(err, IDS_ECORRUPT, "snappy: invalid compressed data");
		return 0;
	}
	case PQ_CODEC_GZIP:
		return gzip_decompress(in, n, out, out_len, err);
	case PQ_CODEC_ZSTD: {
		ZSTD_DCtx *dctx = thread_dctx();
		if (!dctx)
			return ids_fail(err, IDS_ENOMEM, "zstd: cannot create context");
		size_t d = ZSTD_decompressDCtx(dctx, out, out_len, in, n);
		if (ZSTD_isError(d))
			return ids_fail(err, IDS_ECORRUPT, "zstd: %s (page header says %zu bytes)",
					ZSTD_getErrorName(d), out_len);
		if (d != out_len)
			return short_output(err, "zstd", d, out_len);
		return 0;
	}
	case PQ_CODEC_LZ4_RAW:
		if (lz4_block(in, n, out, out_len) != 0)
			return ids_fail(err, IDS_ECORRUPT,
					"lz4_raw: invalid block or not exactly %zu bytes", out_len);
		return 0;
	case PQ_CODEC_LZ4:
		/* Hadoop framing first (parquet-mr), then a raw block (old parquet-cpp), then the
		 * LZ4 frame format (some other old writers) */
		if (hadoop_lz4(in, n, out, out_len) == 0 || lz4_block(in, n, out, out_len) == 0)
			return 0;
		if (n >= 4 && in[0] == 0x04 && in[1] == 0x22 && in[2] == 0x4d && in[3] == 0x18 &&
		    lz4_frame(in, n, out, out_len) == 0)
			return 0;
		return ids_fail(err, IDS_ECORRUPT, "lz4: data is neither Hadoop-framed, raw nor an "
				"LZ4 frame decoding to %zu bytes", out_len);
	case PQ_CODEC_BROTLI: {
		size_t got = out_len;
		uint8_t dummy;
		BrotliDecoderResult r = BrotliDecoderDecompress(n, in, &got, out_len ? out : &dummy);
		if (r != BROTLI_DECODER_RESULT_SUCCESS)
			return ids_fail(err, IDS_ECORRUPT, "brotli: invalid data or larger than %zu bytes",
					out_len);
		if (got != out_len)
			return short_output(err, "brotli", got, out_len);
		return 0;
	}
	case PQ_CODEC_LZO:
		break;
	}
	return ids_fail(err, IDS_EINVAL, "compression codec %s (%d) is not supported",
			pq_codec_name(codec), (int)codec);
}
