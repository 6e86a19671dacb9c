/* Page compression for the writer: each codec compresses straight into the caller's
 * ids_buf (reserving the codec's worst-case bound first), so no temporary copies.
 * Per-thread zstd contexts and libdeflate compressors are kept because creating one per
 * page costs more than compressing a small page. */
#include "parquet/codec/pq_codec.h"

#include <brotli/encode.h>
#include <libdeflate.h>
#include <lz4.h>
#include <snappy-c.h>
#include <string.h>
#include <zstd.h>

static _Thread_local ZSTD_CCtx *tls_cctx;
static _Thread_local struct libdeflate_compressor *tls_gz[13];   /* by level, 1-12 */

void pq_codec_thread_cleanup(void)
{
	ZSTD_freeCCtx(tls_cctx);
	tls_cctx = NULL;
	for (int i = 0; i < 13; i++) {
		libdeflate_free_compressor(tls_gz[i]);
		tls_gz[i] = NULL;
	}
	pq_decompress_thread_cleanup();
}

/* GZIP pages go through libdeflate rather than zlib: a page is one whole buffer, which is
 * what libdeflate is built for, and at the same level 6 it took the mixed 1M-row gzip write
 * from 2.6 s to 1.0 s of CPU with smaller pages (docs/benchmarks.md, "GZIP pages through
 * libdeflate"). One compressor per thread and level, kept across pages (it holds the match
 * finder's tables, a large allocation; a write's chunks may take two levels, tune.c). The
 * output is one ordinary gzip member, which every reader (and zlib) decodes. */
static int gzip_compress(int level, const uint8_t *in, size_t n, ids_buf *out, ids_error *err)
{
	/* libdeflate's levels are 1-12 (10-12 are its slow near-optimal parser); 6 is the
	 * default of both libdeflate and zlib, so --compression-level means the same up to 9 */
	int lv = level > 0 ? (level > 12 ? 12 : level) : 6;
	struct libdeflate_compressor **gz = &tls_gz[lv];
	if (!*gz && !(*gz = libdeflate_alloc_compressor(lv)))
		return ids_fail(err, IDS_ENOMEM, "gzip: cannot create compressor");
	size_t bound = libdeflate_gzip_compress_bound(*gz, n);
	if (n > UINT32_MAX || ids_buf_reserve(out, bound))
		return ids_fail(err, IDS_ELIMIT, "gzip: page of %zu bytes does not fit", n);
	size_t c = libdeflate_gzip_compress(*gz, in, n, out->data + out->len, bound);
	if (c == 0)
		return ids_fail(err, IDS_EIO, "gzip: compression failed");
	out->len += c;
	out->data[out->len] = 0;
	return 0;
}

static int hadoop_lz4_compress(const uint8_t *in, size_t n, ids_buf *out, ids_error *err)
{
	/* one outer block holding one inner block: [ulen BE][clen BE][lz4 block] */
	if (n > LZ4_MAX_INPUT_SIZE)
		return ids_fail(err, IDS_ELIMIT, "lz4: page of %zu bytes too large", n);
	int bound = LZ4_compressBound((int)n);
	if (ids_buf_reserve(out, (size_t)bound + 8))
		return ids_fail(err, IDS_ELIMIT, "lz4: output buffer cap reached");
	uint8_t *p = (uint8_t *)out->data + out->len;
	int c = LZ4_compress_default((const char *)in, (char *)p + 8, (int)n, bound);
	if (c <= 0)
		return ids_fail(err, IDS_EIO, "lz4: compression failed");
	uint32_t u = (uint32_t)n, cl = (uint32_t)c;
	for (int i = 0; i < 4; i++) {
		p[i] = (uint8_t)(u >> (24 - 8 * i));
		p[4 + i] = (uint8_t)(cl >> (24 - 8 * i));
	}
	out->len += (size_t)c + 8;
	out->data[out->len] = 0;
	return 0;
}

/* Sets the parameters of a pq_ztune other than PQ_ZTUNE_LEVEL on cc, for ZSTD_compress2. */
static size_t zstd_tune(ZSTD_CCtx *cc, pq_ztune tune)
{
	static const struct {
		int level, wlog, clog, hlog, slog, mml, strat;
	} t[PQ_ZTUNE_COUNT] = {
		[PQ_ZTUNE_DFAST4] = {3, 18, 16, 16, 1, 4, ZSTD_dfast},
		[PQ_ZTUNE_FAST6] = {2, 0, 0, 0, 0, 0, 0},
		[PQ_ZTUNE_FAST4] = {2, 0, 0, 0, 0, 4, 0},
		[PQ_ZTUNE_TEXT] = {3, 20, 0, 0, 0, 0, 0},
	};
	size_t r = ZSTD_CCtx_reset(cc, ZSTD_reset_session_and_parameters);
	const int p[][2] = {{ZSTD_c_compressionLevel, t[tune].level}, {ZSTD_c_windowLog, t[tune].wlog},
			    {ZSTD_c_chainLog, t[tune].clog}, {ZSTD_c_hashLog, t[tune].hlog},
			    {ZSTD_c_searchLog, t[tune].slog}, {ZSTD_c_minMatch, t[tune].mml},
			    {ZSTD_c_strategy, t[tune].strat}};
	for (size_t i = 0; i < sizeof p / sizeof p[0] && !ZSTD_isError(r); i++)
		if (p[i][1])   /* 0: the level's value */
			r = ZSTD_CCtx_setParameter(cc, (ZSTD_cParameter)p[i][0], p[i][1]);
	return r;
}

/* zstd at level (0: 3) with the level's own parameters (PQ_ZTUNE_LEVEL, ZSTD_compressCCtx, which
 * reads none of the sticky ones zstd_tune sets), or with those of another pq_ztune. */
static int zstd_compress(int level, pq_ztune tune, const uint8_t *in, size_t n, ids_buf *out, ids_error *err)
{
	if (!tls_cctx && !(tls_cctx = ZSTD_createCCtx()))
		return ids_fail(err, IDS_ENOMEM, "zstd: cannot create context");
	if (tune != PQ_ZTUNE_LEVEL) {
		size_t r = zstd_tune(tls_cctx, tune);
		if (ZSTD_isError(r))
			return ids_fail(err, IDS_EIO, "zstd: %s", ZSTD_getErrorName(r));
	}
	size_t bound = ZSTD_compressBound(n);
	if (ZSTD_isError(bound) || ids_buf_reserve(out, bound))
		return ids_fail(err, IDS_ELIMIT, "zstd: output buffer cap reached");
	size_t c = tune != PQ_ZTUNE_LEVEL ? ZSTD_compress2(tls_cctx, out->data + out->len, bound, in, n)
					  : ZSTD_compressCCtx(tls_cctx, out->data + out->len, bound, in, n, level > 0 ? level : 3);
	if (ZSTD_isError(c))
		return ids_fail(err, IDS_EIO, "zstd: %s", ZSTD_getErrorName(c));
	out->len += c;
	out->data[out->len] = 0;
	return 0;
}

int pq_compress_tuned(pq_codec codec, int level, pq_ztune tune, const uint8_t *in, size_t n,
		      ids_buf *out, ids_error *err)
{
	if (codec != PQ_CODEC_ZSTD || level > 0 || tune <= PQ_ZTUNE_LEVEL || tune >= PQ_ZTUNE_COUNT)
		return pq_compress(codec, level, in, n, out, err);
	return zstd_compress(0, tune, in, n, out, err);
}

int pq_compress(pq_codec codec, int level, const uint8_t *in, size_t n, ids_buf *out, ids_error *err)
{
	switch (codec) {
	case PQ_CODEC_UNCOMPRESSED:
		if (ids_buf_append(out, in, n))
			return ids_fail(err, IDS_ELIMIT, "output buffer cap reached");
		return 0;
	case PQ_CODEC_SNAPPY: {
		size_t bound = snappy_max_compressed_length(n);
		if (ids_buf_reserve(out, bound))
			return ids_fail(err, IDS_ELIMIT, "snappy: output buffer cap reached");
		size_t clen = bound;
		if (snappy_compress((const char *)in, n, out->data + out->len, &clen) != SNAPPY_OK)
			return ids_fail(err, IDS_EIO, "snappy: compression failed");
		out->len += clen;
		out->data[out->len] = 0;
		return 0;
	}
	case PQ_CODEC_GZIP:
		return gzip_compress(level, in, n, out, err);
	case PQ_CODEC_ZSTD:
		return zstd_compress(level, PQ_ZTUNE_LEVEL, in, n, out, err);
	case PQ_CODEC_LZ4_RAW: {
		if (n > LZ4_MAX_INPUT_SIZE)
			return ids_fail(err, IDS_ELIMIT, "lz4_raw: page of %zu bytes too large", n);
		int bound = LZ4_compressBound((int)n);
		if (ids_buf_reserve(out, (size_t)bound))
			return ids_fail(err, IDS_ELIMIT, "lz4_raw: output buffer cap reached");
		int c = LZ4_compress_default((const char *)in, out->data + out->len, (int)n, bound);
		if (c <= 0)
			return ids_fail(err, IDS_EIO, "lz4_raw: compression failed");
		out->len += (size_t)c;
		out->data[out->len] = 0;
		return 0;
	}
	case PQ_CODEC_LZ4:
		return hadoop_lz4_compress(in, n, out, err);
	case PQ_CODEC_BROTLI: {
		size_t bound = BrotliEncoderMaxCompressedSize(n);
		if (bound == 0)
			bound = n + 1024; /* 0 means "too large to bound"; only happens near SIZE_MAX */
		if (ids_buf_reserve(out, bound))
			return ids_fail(err, IDS_ELIMIT, "brotli: output buffer cap reached");
		size_t clen = bound;
		int q = level > 0 ? (level > 11 ? 11 : level) : 5;
		if (!BrotliEncoderCompress(q, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_GENERIC, n, in, &clen,
					   (uint8_t *)out->data + out->len))
			return ids_fail(err, IDS_EIO, "brotli: compression failed");
		out->len += clen;
		out->data[out->len] = 0;
		return 0;
	}
	case PQ_CODEC_LZO:
		break;
	}
	return ids_fail(err, IDS_EINVAL, "compression codec %s (%d) is not supported",
			pq_codec_name(codec), (int)codec);
}
