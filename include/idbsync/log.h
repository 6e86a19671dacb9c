/* Structured logs: one line per event, as text
 *   2026-12-05T13:49:28.123Z info request method=POST path=/v1/db/shop/push status=200 ms=1.9
 * or as JSON ({"ts":"...","level":"info","event":"request","method":"POST",...}). The process
 * (idbsync serve's --log-level and --log-format, the CLI) sets the sink once; library code
 * only emits events. Lines are written whole (one write each), so threads never interleave. */
#ifndef IDBSYNC_LOG_H
#define IDBSYNC_LOG_H

#include <stdarg.h>
#include <stdio.h>

#include "idbsync/buf.h"

typedef enum ids_log_level { IDS_LOG_DEBUG = 0, IDS_LOG_INFO, IDS_LOG_WARN, IDS_LOG_ERROR, IDS_LOG_OFF } ids_log_level;
typedef enum ids_log_format { IDS_LOG_TEXT = 0, IDS_LOG_JSON } ids_log_format;

/* Events below min are dropped; fd is where lines go (default: info, text, stderr). */
void ids_log_setup(ids_log_level min, ids_log_format fmt, int fd);
/* "debug", "info", "warn", "error", "off"; "text", "json". 0, or IDS_EINVAL. */
int ids_log_level_parse(const char *s, ids_log_level *out);
int ids_log_format_parse(const char *s, ids_log_format *out);
int ids_log_enabled(ids_log_level l);

/* An event built field by field: ids_log_begin returns 0 when the level is off (then the
 * other calls do nothing and cost nothing but the call). */
typedef struct ids_logrec {
	ids_buf b;
	int on, json;
} ids_logrec;
int ids_log_begin(ids_logrec *r, ids_log_level l, const char *event);
void ids_log_str(ids_logrec *r, const char *key, const char *v);
void ids_log_strn(ids_logrec *r, const char *key, const char *v, size_t n);
void ids_log_int(ids_logrec *r, const char *key, long long v);
void ids_log_num(ids_logrec *r, const char *key, double v);
void ids_log_end(ids_logrec *r);
/* Field key, formatted printf-style from ap (for callers with their own variadic helper). */
void ids_logv(ids_logrec *r, const char *key, const char *fmt, va_list ap)
#if defined(__GNUC__)
	__attribute__((format(printf, 3, 0)))
#endif
	;

/* An event with one field, msg, formatted printf-style. */
void ids_logf(ids_log_level l, const char *event, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 3, 4)))
#endif
	;

#endif
