/* A growable byte buffer with a hard size cap (like curl's dynbuf): anything that grows
 * from outside input goes through one, so no request can make us allocate without bound. */
#ifndef IDBSYNC_BUF_H
#define IDBSYNC_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct ids_buf {
	char *data;      /* always NUL-terminated when len > 0 or after any append */
	size_t len;
	size_t cap;      /* allocated bytes */
	size_t max;      /* cap on len; 0 means SIZE_MAX/2 */
	int failed;      /* sticky: an append hit the cap or ran out of memory */
} ids_buf;

#define IDS_BUF_INIT {NULL, 0, 0, 0, 0}

void ids_buf_init(ids_buf *b, size_t max);
/* Each append returns 0, or IDS_ELIMIT / IDS_ENOMEM and sets b->failed (later appends are no-ops). */
int ids_buf_append_slow(ids_buf *b, const void *p, size_t n);
/* The appends are inline when the bytes fit the allocation (cap > len always holds once
 * allocated, and cap never exceeds max + 1): a call chain per byte was ~4% of a lake flush's
 * instructions and ~2% of a push's parse (callgrind). Anything else takes the checked path. */
static inline int ids_buf_append(ids_buf *b, const void *p, size_t n)
{
	if (b->failed || n >= b->cap - b->len)
		return ids_buf_append_slow(b, p, n);
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = 0;
	return 0;
}
static inline int ids_buf_puts(ids_buf *b, const char *s) { return ids_buf_append(b, s, strlen(s)); }
static inline int ids_buf_putc(ids_buf *b, char c)
{
	if (b->failed || b->cap - b->len < 2)
		return ids_buf_append_slow(b, &c, 1);
	b->data[b->len++] = c;
	b->data[b->len] = 0;
	return 0;
}
int ids_buf_printf(ids_buf *b, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 2, 3)))
#endif
	;
int ids_buf_reserve(ids_buf *b, size_t extra);
/* Appends s as a JSON string literal (quotes and escapes added). */
int ids_buf_json_str(ids_buf *b, const char *s, size_t n);
/* The same escaping without the surrounding quotes. */
int ids_buf_json_esc(ids_buf *b, const char *s, size_t n);
int ids_buf_i64(ids_buf *b, int64_t v);
void ids_buf_reset(ids_buf *b);
/* Hands the data to the caller (who frees it with free()) and empties b. */
char *ids_buf_steal(ids_buf *b, size_t *len);
void ids_buf_free(ids_buf *b);

#endif
