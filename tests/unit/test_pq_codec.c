/* Unit tests for the page codecs: round trips for every codec, exact-size enforcement,
 * gzip multi-member (zlib's and ours mixed) and zlib-wrapped input, every gzip level, Hadoop-framed and raw LZ4, corrupt input. */
#include "parquet/codec/pq_codec.h"

#include <lz4.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "test_util.h"

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	/* half-compressible: runs of text with pseudo-random bytes in between */
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (i / 64) % 2 ? (uint8_t)("parquet "[i % 8]) : (uint8_t)(seed >> 16);
	}
}

static void roundtrip(pq_codec c, size_t n)
{
	uint8_t *in = malloc(n + 1), *out = malloc(n + 2);
	fill(in, n, (unsigned)n);
	ids_buf b = IDS_BUF_INIT;
	ids_error err = IDS_ERROR_INIT;
	ids_buf_append(&b, "xy", 2); /* compress appends: existing bytes must stay */
	int rc = pq_compress(c, 0, in, n, &b, &err);
	CHECK(rc == 0);
	if (rc) {
		fprintf(stderr, "  %s: %s\n", pq_codec_name(c), err.msg);
		goto done;
	}
	CHECK(memcmp(b.data, "xy", 2) == 0);
	const uint8_t *cz = (const uint8_t *)b.data + 2;
	size_t cn = b.len - 2;
	memset(out, 0xAB, n + 2);
	rc = pq_decompress(c, cz, cn, out, n, &err);
	CHECK(rc == 0);
	if (rc)
		fprintf(stderr, "  %s n=%zu: %s\n", pq_codec_name(c), n, err.msg);
	CHECK(memcmp(in, out, n) == 0);
	CHECK(out[n] == 0xAB && out[n + 1] == 0xAB);
	/* wrong expected size in either direction must fail, and never write past out_len */
	if (n > 0) {
		memset(out, 0xAB, n + 2);
		CHECK(pq_decompress(c, cz, cn, out, n - 1, &err) != 0);
		CHECK(out[n - 1] == 0xAB);
	}
	CHECK(pq_decompress(c, cz, cn, out, n + 1, &err) != 0);
	/* truncated input must fail */
	if (cn > 4 && n > 0)
		CHECK(pq_decompress(c, cz, cn / 2, out, n, &err) != 0);
	/* garbage must fail (or, for codecs without checksums, at least not overrun) */
	uint8_t *junk = malloc(cn + 1);
	memcpy(junk, cz, cn);
	for (size_t i = 0; i < cn; i += 7)
		junk[i] ^= 0x5A;
	memset(out, 0xAB, n + 2);
	pq_decompress(c, junk, cn, out, n, &err);
	CHECK(out[n] == 0xAB);
	free(junk);
done:
	ids_buf_free(&b);
	free(in);
	free(out);
}

static size_t gzip_member(const uint8_t *in, size_t n, uint8_t *out, size_t cap, int wbits)
{
	z_stream zs;
	memset(&zs, 0, sizeof zs);
	deflateInit2(&zs, 6, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY);
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)n;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	deflate(&zs, Z_FINISH);
	size_t len = cap - zs.avail_out;
	deflateEnd(&zs);
	return len;
}

static void gzip_variants(void)
{
	uint8_t in[5000], cz[12000], out[5001];
	ids_error err = IDS_ERROR_INIT;
	fill(in, sizeof in, 7);
	/* two gzip members, as Hadoop's GzipCodec may produce */
	size_t a = gzip_member(in, 2000, cz, sizeof cz, 31);
	size_t b = gzip_member(in + 2000, 3000, cz + a, sizeof cz - a, 31);
	CHECK(pq_decompress(PQ_CODEC_GZIP, cz, a + b, out, 5000, &err) == 0);
	CHECK(memcmp(in, out, 5000) == 0);
	/* zlib-wrapped and raw deflate are accepted too */
	size_t z = gzip_member(in, 5000, cz, sizeof cz, 15);
	CHECK(pq_decompress(PQ_CODEC_GZIP, cz, z, out, 5000, &err) == 0);
	CHECK(memcmp(in, out, 5000) == 0);
	z = gzip_member(in, 5000, cz, sizeof cz, -15);
	CHECK(pq_decompress(PQ_CODEC_GZIP, cz, z, out, 5000, &err) == 0);
	/* a second member that would overflow out_len must fail without overrun */
	memset(out, 0xAB, sizeof out);
	CHECK(pq_decompress(PQ_CODEC_GZIP, cz, 0, out, 0, &err) != 0);
	a = gzip_member(in, 2000, cz, sizeof cz, 31);
	b = gzip_member(in, 2000, cz + a, sizeof cz - a, 31);
	CHECK(pq_decompress(PQ_CODEC_GZIP, cz, a + b, out, 3000, &err) != 0);
	CHECK(out[3000] == 0xAB);
	/* empty payload */
	a = gzip_member(in, 0, cz, sizeof cz, 31);
	CHECK(pq_decompress(PQ_CODEC_GZIP, cz, a, out, 0, &err) == 0);
}

/* Pages written with libdeflate (ours) and with zlib (parquet-mr, Arrow, DuckDB's miniz) mixed
 * in one multi-member page; every --compression-level, and the per-thread compressor remade
 * when the level changes between pages. */
static void gzip_writers(void)
{
	static uint8_t in[300000], out[300001];
	ids_error err = IDS_ERROR_INIT;
	fill(in, sizeof in, 11);
	const int levels[] = {1, 6, 9, 12, 22, 0, 3};
	for (size_t k = 0; k < sizeof levels / sizeof levels[0]; k++) {
		ids_buf b = IDS_BUF_INIT;
		CHECK(pq_compress(PQ_CODEC_GZIP, levels[k], in, sizeof in, &b, &err) == 0);
		/* an ordinary gzip member: zlib decodes it as other readers would */
		uLongf zlen = 0;
		z_stream zs;
		memset(&zs, 0, sizeof zs);
		CHECK(inflateInit2(&zs, 31) == Z_OK);
		zs.next_in = (Bytef *)b.data;
		zs.avail_in = (uInt)b.len;
		zs.next_out = out;
		zs.avail_out = sizeof out;
		CHECK(inflate(&zs, Z_FINISH) == Z_STREAM_END);
		zlen = zs.total_out;
		inflateEnd(&zs);
		CHECK(zlen == sizeof in && memcmp(in, out, sizeof in) == 0);
		CHECK(pq_decompress(PQ_CODEC_GZIP, (uint8_t *)b.data, b.len, out, sizeof in, &err) == 0);
		CHECK(memcmp(in, out, sizeof in) == 0);
		ids_buf_free(&b);
	}
	/* member 1 from zlib, member 2 from us, then zero padding */
	static uint8_t cz[700000];
	size_t a = gzip_member(in, 100000, cz, sizeof cz, 31);
	ids_buf b = IDS_BUF_INIT;
	CHECK(pq_compress(PQ_CODEC_GZIP, 0, in + 100000, 200000, &b, &err) == 0);
	memcpy(cz + a, b.data, b.len);
	size_t total = a + b.len;
	memset(cz + total, 0, 8);
	memset(out, 0xAB, sizeof out);
	CHECK(pq_decompress(PQ_CODEC_GZIP, cz, total + 8, out, sizeof in, &err) == 0);
	CHECK(memcmp(in, out, sizeof in) == 0);
	/* the second member cut short fails, and says so */
	CHECK(pq_decompress(PQ_CODEC_GZIP, cz, total - 10, out, sizeof in, &err) == IDS_ECORRUPT);
	/* a corrupted trailer CRC in the second member fails (libdeflate and zlib both check) */
	cz[total - 6] ^= 0xFF;
	CHECK(pq_decompress(PQ_CODEC_GZIP, cz, total, out, sizeof in, &err) != 0);
	ids_buf_free(&b);
	pq_codec_thread_cleanup();
}

static void lz4_variants(void)
{
	uint8_t in[3000], cz[8000], out[3001];
	ids_error err = IDS_ERROR_INIT;
	fill(in, sizeof in, 9);
	/* raw LZ4 block stored under codec LZ4 (old parquet-cpp) */
	int c = LZ4_compress_default((const char *)in, (char *)cz, 3000, sizeof cz);
	CHECK(pq_decompress(PQ_CODEC_LZ4, cz, (size_t)c, out, 3000, &err) == 0);
	CHECK(memcmp(in, out, 3000) == 0);
	/* Hadoop framing with two outer blocks */
	size_t pos = 0;
	for (int blk = 0; blk < 2; blk++) {
		int c2 = LZ4_compress_default((const char *)in + blk * 1500, (char *)cz + pos + 8, 1500,
					      (int)(sizeof cz - pos - 8));
		uint32_t u = 1500, cl = (uint32_t)c2;
		for (int i = 0; i < 4; i++) {
			cz[pos + i] = (uint8_t)(u >> (24 - 8 * i));
			cz[pos + 4 + i] = (uint8_t)(cl >> (24 - 8 * i));
		}
		pos += 8 + (size_t)c2;
	}
	memset(out, 0, sizeof out);
	CHECK(pq_decompress(PQ_CODEC_LZ4, cz, pos, out, 3000, &err) == 0);
	CHECK(memcmp(in, out, 3000) == 0);
	/* framing that claims more than out_len is rejected */
	CHECK(pq_decompress(PQ_CODEC_LZ4, cz, pos, out, 2999, &err) != 0);
}

int main(void)
{
	const pq_codec codecs[] = {PQ_CODEC_UNCOMPRESSED, PQ_CODEC_SNAPPY, PQ_CODEC_GZIP, PQ_CODEC_ZSTD,
				   PQ_CODEC_LZ4_RAW, PQ_CODEC_LZ4, PQ_CODEC_BROTLI};
	const size_t sizes[] = {0, 1, 100, 4096, 300000};
	for (size_t i = 0; i < sizeof codecs / sizeof codecs[0]; i++)
		for (size_t j = 0; j < sizeof sizes / sizeof sizes[0]; j++)
			roundtrip(codecs[i], sizes[j]);
	gzip_variants();
	gzip_writers();
	lz4_variants();

	ids_error err = IDS_ERROR_INIT;
	ids_buf b = IDS_BUF_INIT;
	uint8_t x[4];
	CHECK(pq_compress(PQ_CODEC_LZO, 0, x, 4, &b, &err) == IDS_EINVAL);
	CHECK(pq_decompress(PQ_CODEC_LZO, x, 4, x, 4, &err) == IDS_EINVAL);
	CHECK(pq_decompress((pq_codec)99, x, 4, x, 4, &err) == IDS_EINVAL);
	/* a capped buffer reports ELIMIT instead of growing */
	ids_buf capped;
	ids_buf_init(&capped, 16);
	uint8_t big[1000] = {0};
	CHECK(pq_compress(PQ_CODEC_UNCOMPRESSED, 0, big, sizeof big, &capped, &err) == IDS_ELIMIT);
	ids_buf_free(&capped);
	ids_buf_free(&b);

	pq_codec pc;
	CHECK(pq_codec_parse("ZSTD", &pc) == 0 && pc == PQ_CODEC_ZSTD);
	CHECK(pq_codec_parse("none", &pc) == 0 && pc == PQ_CODEC_UNCOMPRESSED);
	CHECK(pq_codec_parse("lz4_raw", &pc) == 0 && pc == PQ_CODEC_LZ4_RAW);
	CHECK(pq_codec_parse("lzo", &pc) == IDS_EINVAL);
	CHECK(strcmp(pq_codec_name(PQ_CODEC_SNAPPY), "SNAPPY") == 0);
	CHECK(strcmp(pq_encoding_name(PQ_ENC_RLE_DICTIONARY), "RLE_DICTIONARY") == 0);
	CHECK(strcmp(pq_type_name(PQ_FIXED_LEN_BYTE_ARRAY), "FIXED_LEN_BYTE_ARRAY") == 0);

	/* schema tree helpers */
	pq_node *root = pq_node_new_group("schema", PQ_REQUIRED);
	for (int i = 0; i < 37; i++) {
		char name[16];
		snprintf(name, sizeof name, "c%d", i);
		pq_node *leaf = pq_node_new_leaf(name, PQ_INT64, PQ_OPTIONAL);
		CHECK(pq_node_add(root, leaf) == 0);
	}
	pq_node *g = pq_node_new_group("g", PQ_OPTIONAL);
	pq_node_add(g, pq_node_new_leaf("x", PQ_BYTE_ARRAY, PQ_REQUIRED));
	pq_node_add(root, g);
	pq_node *bad = pq_node_new_leaf("bad", PQ_INT32, PQ_REQUIRED);
	CHECK(pq_node_add(g->children[0], bad) == IDS_EINVAL); /* leaves take no children */
	pq_node_free(bad);
	pq_node *copy = pq_node_clone(root);
	CHECK(copy && copy->n_children == 38 && strcmp(copy->children[36]->name, "c36") == 0);
	CHECK(copy->children[37]->n_children == 1 && copy->children[37]->children[0]->type == PQ_BYTE_ARRAY);
	CHECK(copy->children[0]->field_id == -1 && copy->children[0]->converted == PQ_CT_NONE);
	pq_node_free(root);
	pq_node_free(copy);
	pq_node_free(NULL);
	pq_codec_thread_cleanup();

	return test_report("test_pq_codec");
}
