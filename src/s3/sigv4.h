/* AWS Signature Version 4 for one S3 request (sigv4.c): private to src/s3. */
#ifndef S3_SIGV4_H
#define S3_SIGV4_H

#include <stddef.h>
#include <time.h>

/* Fills amz_date (YYYYMMDDTHHMMSSZ, 17 bytes with the NUL), payload_hash (hex SHA-256 of the
 * body, 65) and auth (the Authorization header's value) for method and canonical_uri (already
 * URI-encoded, starting with '/') with canonical_query ("" or name=value pairs sorted by name,
 * both URI-encoded, joined by '&': exactly the query string sent) sent to host (as in the Host
 * header). */
int s3_sign(const char *method, const char *host, const char *canonical_uri, const char *canonical_query,
	    const void *body, size_t len,
	    const char *region, const char *access_key, const char *secret_key, time_t now, char amz_date[17],
	    char payload_hash[65], char *auth, size_t auth_size);
/* Appends s URI-encoded the S3 way (unreserved characters kept, '/' kept when keep_slash). */
int s3_uri_encode(const char *s, int keep_slash, char *out, size_t size);

#endif
