/* Standard base64 (RFC 4648), once: binary keys and values travel as {"$bin":"..."} (padded);
 * NDJSON files for the Parquet writer may leave the padding out. */
#include "idbsync/value.h"

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int ids_base64_encode(const uint8_t *p, size_t n, ids_buf *out)
{
	int rc = ids_buf_reserve(out, (n + 2) / 3 * 4);
	if (rc)
		return rc;
	char *o = out->data + out->len;
	size_t i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*o++ = b64[v >> 18];
		*o++ = b64[(v >> 12) & 63];
		*o++ = b64[(v >> 6) & 63];
		*o++ = b64[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
		*o++ = b64[v >> 18];
		*o++ = b64[(v >> 12) & 63];
		*o++ = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	out->len = (size_t)(o - out->data);
	out->data[out->len] = 0;
	return 0;
}

/* 1 + the 6-bit value of each base64 character, 0 for anything else */
static const int8_t b64val[256] = {
	['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6, ['G'] = 7, ['H'] = 8,
	['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15,
	['P'] = 16, ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22,
	['W'] = 23, ['X'] = 24, ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29,
	['d'] = 30, ['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36,
	['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42, ['q'] = 43,
	['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48, ['w'] = 49, ['x'] = 50,
	['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56, ['4'] = 57,
	['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64};

int ids_base64_decode_opt(const char *s, size_t n, int flags, ids_buf *out)
{
	size_t pad = 0;
	while (n && s[n - 1] == '=' && (pad < 2 || (flags & IDS_B64_PAD_OPTIONAL))) {
		n--;
		pad++;
	}
	/* the wire form is whole padded quads; files may leave the padding out. A last group of
	 * one character holds no whole byte either way */
	if (n % 4 == 1 || (!(flags & IDS_B64_PAD_OPTIONAL) && (n + pad) % 4))
		return IDS_EINVAL;
	int rc = ids_buf_reserve(out, n / 4 * 3 + n % 4 * 3 / 4);
	if (rc)
		return rc;
	uint8_t *o = (uint8_t *)out->data + out->len;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		int v = b64val[(uint8_t)s[i]];
		if (!v)
			return IDS_EINVAL;
		acc = (acc << 6) | (uint32_t)(v - 1);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			*o++ = (uint8_t)(acc >> bits);
		}
	}
	/* leftover bits must be zero: every byte string has one encoding, so the push check, the
	 * lake and the Parquet writer agree on what a $bin holds */
	if (acc & ((1u << bits) - 1))
		return IDS_EINVAL;
	out->len = (size_t)((char *)o - out->data);
	out->data[out->len] = 0;
	return 0;
}

int ids_base64_decode(const char *s, size_t n, ids_buf *out)
{
	return ids_base64_decode_opt(s, n, 0, out);
}
