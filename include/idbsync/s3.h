/* A small S3 client: single-request PUT, GET and DELETE of objects and their listing (paged
 * ListObjectsV2) under one bucket and key prefix, path-style URLs, requests signed with AWS
 * Signature Version 4 (OpenSSL HMAC-SHA256, libcurl for HTTP). Enough for the lake's Iceberg
 * warehouse on S3-compatible storage (docs/iceberg.md, "S3"); no multipart upload, so one
 * object is at most 5 GiB. */
#ifndef IDBSYNC_S3_H
#define IDBSYNC_S3_H

#include <stddef.h>
#include <stdint.h>

#include "idbsync/buf.h"
#include "idbsync/error.h"

typedef struct s3 s3;

typedef struct s3_options {
	const char *endpoint;     /* http(s)://host[:port] of the S3 service (required) */
	const char *region;       /* signing region; NULL: "us-east-1" */
	const char *access_key;   /* NULL: $AWS_ACCESS_KEY_ID */
	const char *secret_key;   /* NULL: $AWS_SECRET_ACCESS_KEY */
} s3_options;

#define S3_OPTIONS_INIT {NULL, NULL, NULL, NULL}

/* url is s3://bucket[/prefix]: every key below is relative to the prefix. IDS_EINVAL naming
 * what is missing (a malformed url, no endpoint, no credentials). *out is freed with s3_free. */
int s3_open(s3 **out, const char *url, const s3_options *o, ids_error *err);
void s3_free(s3 *c);

/* What c signs with, as s3_open resolved it (options, else the environment; the region's
 * default): for a reader of the same bucket (the served catalog's credential vending). The
 * strings live as long as c. */
typedef struct s3_access {
	const char *endpoint, *region, *access_key, *secret_key;
} s3_access;
void s3_get_access(const s3 *c, s3_access *out);

/* The s3://bucket/prefix/key URI of key (into out; IDS_ELIMIT if it does not fit). */
int s3_uri(const s3 *c, const char *key, char *out, size_t size, ids_error *err);

/* Creates the object key with len bytes of data (replacing one that exists). */
int s3_put(s3 *c, const char *key, const void *data, size_t len, ids_error *err);
/* The same with the contents of a local file. */
int s3_put_file(s3 *c, const char *key, const char *path, ids_error *err);
/* Appends the object's bytes to out (capped by out's max: IDS_ELIMIT). IDS_ENOTFOUND: no such key. */
int s3_get(s3 *c, const char *key, ids_buf *out, ids_error *err);
/* Removes the object (absent already: 0, as S3 answers). */
int s3_delete(s3 *c, const char *key, ids_error *err);

/* Called with each object: its key (relative to the client's prefix, as the other calls take
 * it), size and last-modified time (seconds since the epoch, 0: unknown); non-zero stops the
 * listing and is returned. */
typedef int (*s3_list_fn)(void *ctx, const char *key, int64_t size, int64_t mtime);
/* Lists the objects whose key starts with prefix (relative to the client's prefix) with
 * ListObjectsV2, max_keys a page (<= 0: 1000, S3's maximum), following continuation tokens
 * until the last page. */
int s3_list(s3 *c, const char *prefix, int max_keys, s3_list_fn each, void *ctx, ids_error *err);

#endif
