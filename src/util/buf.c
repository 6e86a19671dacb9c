/* Capped growable buffer: the one place where outside-driven allocation grows. */
#include "idbsync/buf.h"
#include "idbsync/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ids_buf_init(ids_buf *b, size_t max)
{
	memset(b, 0, sizeof *b);
	b->max = max;
}

int ids_buf_reserve(ids_buf *b, size_t extra)
{
	if (b->failed)
		return b->failed;
	size_t max = b->max ? b->max : SIZE_MAX / 2;
	if (extra > max || b->len > max - extra) {
		b->failed = IDS_ELIMIT;
		return IDS_ELIMIT;
	}
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	size_t ncap = b->cap ? b->cap : 256;
	while (ncap < need)
		ncap = ncap * 2 < ncap ? need : ncap * 2;
	if (ncap > max + 1)
		ncap = max + 1;
	char *p = realloc(b->data, ncap);
	if (!p) {
		b->failed = IDS_ENOMEM;
		return IDS_ENOMEM;
	}
	b->data = p;
	b->cap = ncap;
	return 0;
}

int ids_buf_append_slow(ids_buf *b, const void *p, size_t n)
{
	int rc = ids_buf_reserve(b, n);
	if (rc)
		return rc;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = 0;
	return 0;
}

int ids_buf_printf(ids_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return IDS_EINVAL;
	int rc = ids_buf_reserve(b, (size_t)n);
	if (rc)
		return rc;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

int ids_buf_i64(ids_buf *b, int64_t v)
{
	/* by hand: snprintf was most of the cost of a lake row's key (one integer per row) */
	char tmp[24], *p = tmp + sizeof tmp;
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	return ids_buf_append(b, p, (size_t)(tmp + sizeof tmp - p));
}

int ids_buf_json_str(ids_buf *b, const char *s, size_t n)
{
	int rc = ids_buf_reserve(b, n + 2);
	if (rc)
		return rc;
	b->data[b->len++] = '"';
	ids_buf_json_esc(b, s, n);
	return ids_buf_putc(b, '"');
}

int ids_buf_json_esc(ids_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		ids_buf_append(b, s + run, i - run);
		run = i + 1;
		char esc[6] = {'\\', 0};
		size_t elen = 2;
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		default:
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			elen = 6;
		}
		ids_buf_append(b, esc, elen);
	}
	return ids_buf_append(b, s + run, n - run);
}

void ids_buf_reset(ids_buf *b)
{
	b->len = 0;
	b->failed = 0;
	if (b->data)
		b->data[0] = 0;
}

char *ids_buf_steal(ids_buf *b, size_t *len)
{
	char *d = b->data;
	if (len)
		*len = b->len;
	if (!d)
		d = calloc(1, 1);
	b->data = NULL;
	b->len = b->cap = 0;
	return d;
}

void ids_buf_free(ids_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}
