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
