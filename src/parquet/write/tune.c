/* Codec choices a column chunk makes on its first page, by measuring what comes out smaller
 * (the page encoder, page.c, applies them to the chunk's pages): zstd's match finder, gzip's
 * level, and whether lz4_raw pages of PLAIN values are cut into pieces LZ4 hashes more
 * finely. All stay within the profile's encodings (PLAIN, dictionary, RLE levels) and write
 * ordinary frames, members and blocks, so every reader of the codec reads them. */
#include "pqw.h"
#include "parquet/codec/pq_codec.h"

/* The zstd parameters of a chunk's pages are measured on its first page when that page has
 * at least ZTUNE_MIN bytes: each pq_ztune compresses its first ZTUNE_PROBE bytes and the
 * smallest wins, if it beats the level's own by more than 1/ZTUNE_MARGIN (the probe sees
 * less history than the page, and text a 128 KiB probe favours by 0.2% came out 1.5% larger
 * over the whole column). On the bench's 8-byte columns the winner is 2-8% smaller than
 * level 3 (mixed amount, ts, id; orders created) and the probe costs four compressions of
 * 128 KiB per chunk. Smaller first pages (the lake's flushes of a few thousand rows) keep
 * the level's parameters: the probe would cost more than it can save there. */
#define ZTUNE_MIN ((size_t)256 << 10)
#define ZTUNE_PROBE ((size_t)128 << 10)
#define ZTUNE_MARGIN 200

int pqw_ztune_choose(pq_writer *w, pqw_scratch *sc, const uint8_t *in, size_t n, ids_error *err)
{
	if (w->codec != PQ_CODEC_ZSTD || w->o.codec_level > 0 || n < ZTUNE_MIN)
		return PQ_ZTUNE_LEVEL;
	size_t size[PQ_ZTUNE_TEXT];
	for (int t = 0; t < PQ_ZTUNE_TEXT; t++) {   /* TEXT is level 3's on a 128 KiB probe */
		ids_buf_reset(&sc->comp);
		int rc = pq_compress_tuned(w->codec, 0, (pq_ztune)t, in, ZTUNE_PROBE, &sc->comp, err);
		if (rc)
			return rc;
		size[t] = sc->comp.len;
	}
	int best = PQ_ZTUNE_LEVEL;
	for (int t = 1; t < PQ_ZTUNE_TEXT; t++)
		if (size[t] < size[best])
			best = t;
	return size[best] + size[PQ_ZTUNE_LEVEL] / ZTUNE_MARGIN < size[PQ_ZTUNE_LEVEL] ? best
											   : PQ_ZTUNE_LEVEL;
}

/* gzip: libdeflate's level 6 against its level 9 (lazy2: a second lazy step and longer hash
 * chains) on the first GZ_PROBE bytes of a chunk's first page, when that page has at least
 * ZTUNE_MIN bytes. Level 9 costs 3-5x the CPU of 6, and on the bench's columns a probe saved
 * 0.0-1.2% with it (numbers, dictionary indices, long text) but 8.6% on URLs (a shared
 * prefix, a word, a counter; over the column 284,141 -> 240,728 B, where DuckDB's miniz
 * writes 252,207). So a chunk takes level 9 only when its probe comes out more than
 * 1/GZ_MARGIN smaller; everything else keeps level 6 and its speed. The window of deflate is
 * 32 KiB, so a probe of 32 KiB sees what a page does; a probe of 128 KiB had cost 18% more
 * instructions on a 200k-row mixed write, this one 4% (less on larger writes: a probe per
 * chunk). */
#define GZ_HIGH 9
#define GZ_MARGIN 20
#define GZ_PROBE ((size_t)32 << 10)

int pqw_gzlevel_choose(pq_writer *w, pqw_scratch *sc, const uint8_t *in, size_t n, ids_error *err)
{
	if (w->codec != PQ_CODEC_GZIP || w->o.codec_level > 0 || n < ZTUNE_MIN)
		return 0;
	size_t size[2];
	for (int t = 0; t < 2; t++) {
		ids_buf_reset(&sc->comp);
		int rc = pq_compress(w->codec, t ? GZ_HIGH : 6, in, GZ_PROBE, &sc->comp, err);
		if (rc)
			return rc;
		size[t] = sc->comp.len;
	}
	return size[1] + size[0] / GZ_MARGIN < size[0] ? GZ_HIGH : 0;
}

/* LZ4 hashes an input under 64 KiB + 11 bytes with 16-bit positions in twice the table
 * entries (its byU16 mode), so it finds more of the 4-byte repeats of plain numbers and of
 * text than in one block of a 1 MiB page: 1M random timestamps 8,031,328 -> 7,481,467 B,
 * decimal doubles 5,463,082 -> 5,167,311, long text 63.9 -> 58.7 MB; sequential values
 * (ids, increasing timestamps) lose the longer history instead. So the first page decides:
 * its values in pieces of PQW_LZ4_PIECE bytes, each with a page header's cost, against the
 * page in one block. One more LZ4 pass over the first page. */
#define PIECE_HEADER 24

int pqw_lz4_pieces_pay(pq_writer *w, pqw_scratch *sc, const uint8_t *whole, size_t whole_n,
		       const uint8_t *vals, size_t vals_n, ids_error *err)
{
	if (w->codec != PQ_CODEC_LZ4_RAW || vals_n < 2 * PQW_LZ4_PIECE)
		return 0;
	ids_buf_reset(&sc->comp);
	int rc = pq_compress(w->codec, w->o.codec_level, whole, whole_n, &sc->comp, err);
	if (rc)
		return rc;
	size_t one = sc->comp.len, pieces = 0;
	for (size_t off = 0; off < vals_n && pieces < one; off += PQW_LZ4_PIECE) {
		size_t k = vals_n - off < PQW_LZ4_PIECE ? vals_n - off : PQW_LZ4_PIECE;
		ids_buf_reset(&sc->comp);
		if ((rc = pq_compress(w->codec, w->o.codec_level, vals + off, k, &sc->comp, err)))
			return rc;
		pieces += sc->comp.len + PIECE_HEADER;
	}
	return pieces < one;
}
