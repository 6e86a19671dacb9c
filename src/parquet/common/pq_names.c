/* Printable names for the Parquet enums (schema/meta output, error messages) and the
 * codec-name parser used by the CLI and the lake configuration. */
#include "idbsync/pq.h"

#include <strings.h>

const char *pq_type_name(pq_type t)
{
	switch (t) {
	case PQ_BOOLEAN: return "BOOLEAN";
	case PQ_INT32: return "INT32";
	case PQ_INT64: return "INT64";
	case PQ_INT96: return "INT96";
	case PQ_FLOAT: return "FLOAT";
	case PQ_DOUBLE: return "DOUBLE";
	case PQ_BYTE_ARRAY: return "BYTE_ARRAY";
	case PQ_FIXED_LEN_BYTE_ARRAY: return "FIXED_LEN_BYTE_ARRAY";
	case PQ_GROUP: return "GROUP";
	}
	return "UNKNOWN";
}

const char *pq_encoding_name(pq_encoding e)
{
	switch (e) {
	case PQ_ENC_PLAIN: return "PLAIN";
	case PQ_ENC_PLAIN_DICTIONARY: return "PLAIN_DICTIONARY";
	case PQ_ENC_RLE: return "RLE";
	case PQ_ENC_BIT_PACKED: return "BIT_PACKED";
	case PQ_ENC_DELTA_BINARY_PACKED: return "DELTA_BINARY_PACKED";
	case PQ_ENC_DELTA_LENGTH_BYTE_ARRAY: return "DELTA_LENGTH_BYTE_ARRAY";
	case PQ_ENC_DELTA_BYTE_ARRAY: return "DELTA_BYTE_ARRAY";
	case PQ_ENC_RLE_DICTIONARY: return "RLE_DICTIONARY";
	case PQ_ENC_BYTE_STREAM_SPLIT: return "BYTE_STREAM_SPLIT";
	}
	return "UNKNOWN";
}

const char *pq_codec_name(pq_codec c)
{
	switch (c) {
	case PQ_CODEC_UNCOMPRESSED: return "UNCOMPRESSED";
	case PQ_CODEC_SNAPPY: return "SNAPPY";
	case PQ_CODEC_GZIP: return "GZIP";
	case PQ_CODEC_LZO: return "LZO";
	case PQ_CODEC_BROTLI: return "BROTLI";
	case PQ_CODEC_LZ4: return "LZ4";
	case PQ_CODEC_ZSTD: return "ZSTD";
	case PQ_CODEC_LZ4_RAW: return "LZ4_RAW";
	}
	return "UNKNOWN";
}

int pq_codec_parse(const char *s, pq_codec *out)
{
	static const struct { const char *name; pq_codec c; } tab[] = {
		{"none", PQ_CODEC_UNCOMPRESSED}, {"uncompressed", PQ_CODEC_UNCOMPRESSED},
		{"snappy", PQ_CODEC_SNAPPY}, {"gzip", PQ_CODEC_GZIP}, {"zstd", PQ_CODEC_ZSTD},
		{"lz4_raw", PQ_CODEC_LZ4_RAW}, {"lz4", PQ_CODEC_LZ4}, {"brotli", PQ_CODEC_BROTLI},
	};
	if (!s || !out)
		return IDS_EINVAL;
	for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
		if (strcasecmp(s, tab[i].name) == 0) {
			*out = tab[i].c;
			return 0;
		}
	}
	return IDS_EINVAL;
}
