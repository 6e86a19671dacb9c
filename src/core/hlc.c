/* Hybrid logical clock (Kulkarni et al.): wall-clock milliseconds plus a counter that
 * orders events within one millisecond and keeps the clock monotonic across skew. */
#include "idbsync/hlc.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t hlc_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int hlc_valid_node(const char *node, size_t n)
{
	if (n == 0 || n > HLC_NODE_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = node[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
		      c == '-' || c == '.' || c == ':' || c == '~'))
			return 0;
	}
	return 1;
}

static int hexv(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

int hlc_parse(hlc_stamp *st, const char *s, size_t n, ids_error *err)
{
	if (n < 13 + 1 + 4 + 1 + 1 || n > HLC_STR_MAX - 1 || s[13] != '-' || s[18] != '-')
		return ids_fail(err, IDS_EINVAL,
				"hlc must look like \"<13-digit ms>-<4 hex digits>-<node id>\", got %zu bytes", n);
	int64_t ms = 0;
	for (int i = 0; i < 13; i++) {
		if (s[i] < '0' || s[i] > '9')
			return ids_fail(err, IDS_EINVAL, "hlc: the first 13 characters must be digits (unix ms)");
		ms = ms * 10 + (s[i] - '0');
	}
	uint32_t ctr = 0;
	for (int i = 14; i < 18; i++) {
		int v = hexv(s[i]);
		if (v < 0)
			return ids_fail(err, IDS_EINVAL, "hlc: characters 15-18 must be hex digits (counter)");
		ctr = ctr * 16 + (uint32_t)v;
	}
	if (!hlc_valid_node(s + 19, n - 19))
		return ids_fail(err, IDS_EINVAL, "hlc: node id must be 1-64 characters of [A-Za-z0-9_.:~-]");
	st->ms = ms;
	st->counter = ctr;
	memcpy(st->node, s + 19, n - 19);
	st->node[n - 19] = 0;
	return 0;
}

size_t hlc_format(const hlc_stamp *st, char *out)
{
	size_t nl = strnlen(st->node, HLC_NODE_MAX);
	if (st->ms < 0 || st->ms > HLC_MS_MAX)
		return (size_t)snprintf(out, HLC_STR_MAX, "%013lld-%04x-%s", (long long)st->ms,
					st->counter & 0xffff, st->node);
	/* by hand: the writer formats one stamp per applied mutation, snprintf cost 1.8k instructions;
	 * a push's stamps share their millisecond, whose 13 digits (13 divisions) are kept */
	static const char hex[] = "0123456789abcdef";
	static _Thread_local int64_t last_ms = -1;
	static _Thread_local char digits[13];
	if (st->ms != last_ms) {
		int64_t ms = st->ms;
		for (int i = 12; i >= 0; i--, ms /= 10)
			digits[i] = (char)('0' + ms % 10);
		last_ms = st->ms;
	}
	memcpy(out, digits, 13);
	out[13] = '-';
	for (int i = 0; i < 4; i++)
		out[14 + i] = hex[(st->counter >> (12 - 4 * i)) & 0xf];
	out[18] = '-';
	memcpy(out + 19, st->node, nl);
	out[19 + nl] = 0;
	return 19 + nl;
}

int hlc_compare(const hlc_stamp *a, const hlc_stamp *b)
{
	if (a->ms != b->ms)
		return a->ms < b->ms ? -1 : 1;
	if (a->counter != b->counter)
		return a->counter < b->counter ? -1 : 1;
	return strcmp(a->node, b->node);
}

int hlc_clock_init(hlc_clock *c, const char *node, int64_t max_skew_ms, ids_error *err)
{
	memset(c, 0, sizeof *c);
	if (!hlc_valid_node(node, strlen(node)))
		return ids_fail(err, IDS_EINVAL, "node id \"%s\" must be 1-64 characters of [A-Za-z0-9_.:~-]",
				node);
	pthread_mutex_init(&c->mu, NULL);
	strcpy(c->node, node);
	c->max_skew_ms = max_skew_ms;
	c->now_ms = hlc_wall_ms;
	return 0;
}

void hlc_clock_destroy(hlc_clock *c) { pthread_mutex_destroy(&c->mu); }

/* The counter is 16 bits; on overflow we borrow the next millisecond, which keeps order
 * and bounds drift to one ms per 65536 events within a millisecond. */
static void bump(hlc_clock *c)
{
	if (c->counter >= 0xffff) {
		c->ms++;
		c->counter = 0;
	} else {
		c->counter++;
	}
}

void hlc_clock_now(hlc_clock *c, hlc_stamp *out)
{
	pthread_mutex_lock(&c->mu);
	int64_t pt = c->now_ms();
	if (pt > c->ms) {
		c->ms = pt;
		c->counter = 0;
	} else {
		bump(c);
	}
	out->ms = c->ms;
	out->counter = c->counter;
	strcpy(out->node, c->node);
	pthread_mutex_unlock(&c->mu);
}

int hlc_clock_check(hlc_clock *c, const hlc_stamp *remote, ids_error *err)
{
	int64_t pt = c->now_ms();
	if (remote->ms > pt + c->max_skew_ms)
		return ids_fail(err, IDS_EINVAL,
				"hlc %013lld is %lld ms ahead of the server clock (%lld); the limit is %lld ms: "
				"fix the client's clock",
				(long long)remote->ms, (long long)(remote->ms - pt), (long long)pt,
				(long long)c->max_skew_ms);
	return 0;
}

void hlc_clock_observe(hlc_clock *c, const hlc_stamp *r)
{
	pthread_mutex_lock(&c->mu);
	int64_t pt = c->now_ms();
	if (pt > c->ms && pt > r->ms) {
		c->ms = pt;
		c->counter = 0;
	} else if (r->ms > c->ms) {
		c->ms = r->ms;
		c->counter = r->counter;
		bump(c);
	} else if (r->ms == c->ms) {
		if (r->counter > c->counter)
			c->counter = r->counter;
		bump(c);
	} else {
		bump(c);
	}
	pthread_mutex_unlock(&c->mu);
}
