/* The log sink (idbsync/log.h): level filter, text or JSON lines, one write(2) per line so
 * lines from different threads never mix. */
#include "idbsync/log.h"

#include <stdatomic.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "idbsync/error.h"

static atomic_int min_level = IDS_LOG_INFO;
static atomic_int format = IDS_LOG_TEXT;
static atomic_int out_fd = 2;

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

void ids_log_setup(ids_log_level min, ids_log_format fmt, int fd)
{
	atomic_store(&min_level, (int)min);
	atomic_store(&format, (int)fmt);
	atomic_store(&out_fd, fd);
}

int ids_log_level_parse(const char *s, ids_log_level *out)
{
	for (int i = 0; i <= IDS_LOG_OFF; i++)
		if (!strcmp(s, level_names[i])) {
			*out = (ids_log_level)i;
			return 0;
		}
	return IDS_EINVAL;
}

int ids_log_format_parse(const char *s, ids_log_format *out)
{
	if (!strcmp(s, "text"))
		*out = IDS_LOG_TEXT;
	else if (!strcmp(s, "json"))
		*out = IDS_LOG_JSON;
	else
		return IDS_EINVAL;
	return 0;
}

int ids_log_enabled(ids_log_level l) { return (int)l >= atomic_load(&min_level) && l < IDS_LOG_OFF; }

/* text values are quoted when they hold a space, a quote, '=' or a control character */
static void text_value(ids_buf *b, const char *v, size_t n)
{
	int quote = !n;
	for (size_t i = 0; i < n && !quote; i++)
		quote = v[i] == ' ' || v[i] == '"' || v[i] == '=' || (unsigned char)v[i] < 0x20;
	if (!quote) {
		ids_buf_append(b, v, n);
		return;
	}
	ids_buf_putc(b, '"');
	for (size_t i = 0; i < n; i++) {
		char c = v[i];
		if (c == '"' || c == '\\') {
			ids_buf_putc(b, '\\');
			ids_buf_putc(b, c);
		} else if (c == '\n') {
			ids_buf_puts(b, "\\n");
		} else if ((unsigned char)c < 0x20) {
			ids_buf_printf(b, "\\x%02x", (unsigned char)c);
		} else {
			ids_buf_putc(b, c);
		}
	}
	ids_buf_putc(b, '"');
}

int ids_log_begin(ids_logrec *r, ids_log_level l, const char *event)
{
	r->on = ids_log_enabled(l);
	if (!r->on)
		return 0;
	r->json = atomic_load(&format) == IDS_LOG_JSON;
	ids_buf_init(&r->b, 64 << 10);   /* one line is capped: an event never grows without bound */
	struct timeval tv;
	gettimeofday(&tv, NULL);
	struct tm tm;
	gmtime_r(&tv.tv_sec, &tm);
	char ts[40];
	size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, sizeof ts - n, ".%03dZ", (int)(tv.tv_usec / 1000));
	if (r->json)
		ids_buf_printf(&r->b, "{\"ts\":\"%s\",\"level\":\"%s\",\"event\":", ts, level_names[l]);
	else
		ids_buf_printf(&r->b, "%s %s ", ts, level_names[l]);
	if (r->json)
		ids_buf_json_str(&r->b, event, strlen(event));
	else
		ids_buf_puts(&r->b, event);
	return 1;
}

static void key(ids_logrec *r, const char *k)
{
	if (r->json) {
		ids_buf_putc(&r->b, ',');
		ids_buf_json_str(&r->b, k, strlen(k));
		ids_buf_putc(&r->b, ':');
	} else {
		ids_buf_putc(&r->b, ' ');
		ids_buf_puts(&r->b, k);
		ids_buf_putc(&r->b, '=');
	}
}

void ids_log_strn(ids_logrec *r, const char *k, const char *v, size_t n)
{
	if (!r->on)
		return;
	key(r, k);
	if (!v)
		ids_buf_puts(&r->b, r->json ? "null" : "-");
	else if (r->json)
		ids_buf_json_str(&r->b, v, n);
	else
		text_value(&r->b, v, n);
}

void ids_log_str(ids_logrec *r, const char *k, const char *v) { ids_log_strn(r, k, v, v ? strlen(v) : 0); }

void ids_log_int(ids_logrec *r, const char *k, long long v)
{
	if (!r->on)
		return;
	key(r, k);
	ids_buf_printf(&r->b, "%lld", v);
}

void ids_log_num(ids_logrec *r, const char *k, double v)
{
	if (!r->on)
		return;
	key(r, k);
	ids_buf_printf(&r->b, "%.3f", v);
}

void ids_log_end(ids_logrec *r)
{
	if (!r->on)
		return;
	if (r->b.failed) {   /* over the cap: the line says so instead of being cut mid-field */
		ids_buf_reset(&r->b);
		r->b.failed = 0;
		ids_buf_puts(&r->b, r->json ? "{\"event\":\"log_line_too_long\"" : "log_line_too_long");
	}
	ids_buf_puts(&r->b, r->json ? "}\n" : "\n");
	int fd = atomic_load(&out_fd);
	for (size_t off = 0; off < r->b.len;) {
		ssize_t w = write(fd, r->b.data + off, r->b.len - off);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	ids_buf_free(&r->b);
	r->on = 0;
}

void ids_logv(ids_logrec *r, const char *key, const char *fmt, va_list ap)
{
	if (!r->on)
		return;
	char v[2048];   /* a longer field is cut: a log line is not a place for megabytes */
	vsnprintf(v, sizeof v, fmt, ap);
	ids_log_str(r, key, v);
}

void ids_logf(ids_log_level l, const char *event, const char *fmt, ...)
{
	ids_logrec r;
	if (!ids_log_begin(&r, l, event))
		return;
	va_list ap;
	va_start(ap, fmt);
	ids_logv(&r, "msg", fmt, ap);
	va_end(ap);
	ids_log_end(&r);
}
