/* Page compression codecs (internal to the parquet module): thin wrappers over
 * Debian's snappy, libdeflate (gzip pages written; read first), zlib (gzip pages libdeflate
 * cannot read: zlib-wrapped, raw deflate), zstd, lz4 and brotli that bound every output size. */
#ifndef PQ_CODEC_H
#define PQ_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "idbsync/buf.h"
#include "idbsync/pq.h"

/* Appends the compressed form of in[0..n) to out. level <= 0 means the codec's default. */
int pq_compress(pq_codec codec, int level, const uint8_t *in, size_t n, ids_buf *out, ids_error *err);

/* zstd match finders a column chunk may choose for its pages (the writer measures them on
 * the chunk's first page, page.c). Level 3's own finder (dfast, minimum match 5) is built
 * for text; plain 8-byte numbers share 4-byte runs (a timestamp's high bytes, a decimal
 * double's repeating mantissa) that a minimum match of 4 or the fast finder catch. Every
 * choice writes an ordinary zstd frame, with a window no larger than level 3's. */
typedef enum pq_ztune {
	PQ_ZTUNE_LEVEL = 0,   /* the level's own parameters (pq_compress) */
	PQ_ZTUNE_DFAST4,      /* level 3's parameters for inputs <= 256 KiB: dfast, match 4 */
	PQ_ZTUNE_FAST6,       /* level 2: fast, match 6 */
	PQ_ZTUNE_FAST4,       /* level 2 with a minimum match of 4 */
	PQ_ZTUNE_TEXT,        /* level 3's finder with a 1 MiB window instead of 2 MiB: long text
			       * pages, which a probe of a page's start cannot tell apart */
	PQ_ZTUNE_COUNT
} pq_ztune;

/* pq_compress with zstd's parameters set by tune when codec is ZSTD and level <= 0 (the
 * default level); otherwise exactly pq_compress. */
int pq_compress_tuned(pq_codec codec, int level, pq_ztune tune, const uint8_t *in, size_t n,
		      ids_buf *out, ids_error *err);

/* Decompresses in[0..n) into exactly out_len bytes at out (the page header's
 * uncompressed size). Fails with IDS_ECORRUPT when the data does not decode to exactly
 * out_len bytes; never writes past out + out_len. Handles gzip multi-member streams
 * and Hadoop-framed LZ4 (PQ_CODEC_LZ4, with a fallback to raw LZ4 blocks). */
int pq_decompress(pq_codec codec, const uint8_t *in, size_t n, uint8_t *out, size_t out_len,
		  ids_error *err);

/* Releases the calling thread's cached zstd contexts (both directions / decompression only).
 * Optional: call before a worker thread exits, or at the end of main to keep valgrind quiet. */
void pq_codec_thread_cleanup(void);
void pq_decompress_thread_cleanup(void);

#endif
