/* Settings: JSON settings files (`idbsync serve --config`, `--lake-config`) whose errors name
 * the file, the line and the key, and the value syntaxes flags and files share (durations,
 * sizes). One home, so the server's and the lake's files behave the same. */
#ifndef IDBSYNC_CONFIG_H
#define IDBSYNC_CONFIG_H

#include <jansson.h>
#include <stdint.h>

#include "idbsync/error.h"

typedef struct ids_config ids_config;

/* Reads path, which must hold one JSON object. IDS_EINVAL ("FILE:LINE:COL: ...") when it does
 * not parse or is not an object, IDS_EIO when it cannot be read. */
int ids_config_load(ids_config **out, const char *path, ids_error *err);
/* The object (borrowed: strings in it live as long as the config). */
json_t *ids_config_root(const ids_config *c);
const char *ids_config_path(const ids_config *c);
/* The line on which key is written (inside the object member parent when parent is not
 * NULL), or 0 when it cannot be found. */
int ids_config_line(const ids_config *c, const char *parent, const char *key);
/* Fills err with `FILE:LINE: field "KEY": message` (KEY is "parent.key" inside parent) and
 * returns IDS_EINVAL. */
int ids_config_fail(const ids_config *c, ids_error *err, const char *parent, const char *key, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 5, 6)))
#endif
	;
/* NULL is a no-op. */
void ids_config_free(ids_config *c);

/* "250ms", "1.5s", "500" (ms) → milliseconds. IDS_EINVAL when negative or malformed. */
int ids_parse_duration_ms(const char *s, int64_t *out);
/* "134217728", "128M", "64k", "1GiB" → bytes. IDS_EINVAL when not positive or malformed. */
int ids_parse_size(const char *s, int64_t *out);

#endif
