/* AWS Signature Version 4 (docs.aws.amazon.com, "Signature Version 4 signing process") for
 * the S3 client: canonical request, string to sign, the HMAC-SHA256 key chain. Signed headers
 * are host, x-amz-content-sha256 (the body's real hash, so the server checks it) and
 * x-amz-date. */
#include "sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

static void hex(const unsigned char *d, size_t n, char *out)
{
	static const char h[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = h[d[i] >> 4];
		out[2 * i + 1] = h[d[i] & 15];
	}
	out[2 * n] = 0;
}

static int hmac(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
	unsigned int n = 32;
	return HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &n) ? 0 : -1;
}

int s3_uri_encode(const char *s, int keep_slash, char *out, size_t size)
{
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		int keep = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
			   *p == '_' || *p == '.' || *p == '~' || (keep_slash && *p == '/');
		if (o + 4 > size)
			return -1;
		if (keep)
			out[o++] = (char)*p;
		else
			o += (size_t)snprintf(out + o, 4, "%%%02X", *p);
	}
	out[o] = 0;
	return 0;
}

int s3_sign(const char *method, const char *host, const char *canonical_uri, const char *canonical_query,
	    const void *body, size_t len,
	    const char *region, const char *access_key, const char *secret_key, time_t now, char amz_date[17],
	    char payload_hash[65], char *auth, size_t auth_size)
{
	unsigned char d[32];
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(amz_date, 17, "%Y%m%dT%H%M%SZ", &tm);
	char date[9];
	memcpy(date, amz_date, 8);
	date[8] = 0;
	SHA256(body ? body : "", len, d);
	hex(d, 32, payload_hash);
	const char *signed_headers = "host;x-amz-content-sha256;x-amz-date";
	char creq[8192], scope[200], sts[512], key[300], sig[65];
	int n = snprintf(creq, sizeof creq, "%s\n%s\n%s\nhost:%s\nx-amz-content-sha256:%s\nx-amz-date:%s\n\n%s\n%s", method,
			 canonical_uri, canonical_query, host, payload_hash, amz_date, signed_headers, payload_hash);
	if (n < 0 || (size_t)n >= sizeof creq)
		return -1;
	SHA256((const unsigned char *)creq, (size_t)n, d);
	char creq_hash[65];
	hex(d, 32, creq_hash);
	snprintf(scope, sizeof scope, "%s/%s/s3/aws4_request", date, region);
	snprintf(sts, sizeof sts, "AWS4-HMAC-SHA256\n%s\n%s\n%s", amz_date, scope, creq_hash);
	n = snprintf(key, sizeof key, "AWS4%s", secret_key);
	if (n < 0 || (size_t)n >= sizeof key)
		return -1;
	unsigned char k1[32], k2[32], k3[32], k4[32], s[32];
	if (hmac(key, (size_t)n, date, k1) || hmac(k1, 32, region, k2) || hmac(k2, 32, "s3", k3) ||
	    hmac(k3, 32, "aws4_request", k4) || hmac(k4, 32, sts, s))
		return -1;
	hex(s, 32, sig);
	n = snprintf(auth, auth_size, "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s", access_key, scope,
		     signed_headers, sig);
	return n < 0 || (size_t)n >= auth_size ? -1 : 0;
}
