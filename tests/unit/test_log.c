/* The log sink: level filter, text quoting (spaces, quotes, '=', control bytes), JSON lines that
 * parse, one line per event, and a line over the cap replaced, not cut mid-field. */
#include "idbsync/log.h"
#include "idbsync/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_util.h"

static char got[1 << 17];

/* Runs fn with the sink on a pipe and returns what it wrote. */
static const char *capture(void (*fn)(void), ids_log_level lvl, ids_log_format fmt)
{
	int p[2];
	if (pipe(p))
		return "";
	ids_log_setup(lvl, fmt, p[1]);
	fn();
	close(p[1]);
	ssize_t n, off = 0;
	while ((n = read(p[0], got + off, sizeof got - 1 - (size_t)off)) > 0)
		off += n;
	got[off] = 0;
	close(p[0]);
	ids_log_setup(IDS_LOG_INFO, IDS_LOG_TEXT, 2);
	return got;
}

static void events(void)
{
	ids_logrec r;
	if (ids_log_begin(&r, IDS_LOG_INFO, "request")) {
		ids_log_str(&r, "path", "/v1/db/a/push");
		ids_log_str(&r, "msg", "two words \"quoted\" a=b\nnext");
		ids_log_int(&r, "status", 200);
		ids_log_num(&r, "ms", 1.5);
		ids_log_str(&r, "client", NULL);
		ids_log_end(&r);
	}
	ids_logf(IDS_LOG_DEBUG, "hidden", "below the level");
	ids_logf(IDS_LOG_ERROR, "lake_flush_failed", "will retry: %s", "disk full");
}

static void too_long(void)
{
	ids_logrec r;
	if (ids_log_begin(&r, IDS_LOG_WARN, "big")) {
		static char v[100000];
		memset(v, 'x', sizeof v - 1);
		ids_log_str(&r, "v", v);
		ids_log_end(&r);
	}
}

int main(void)
{
	const char *t = capture(events, IDS_LOG_INFO, IDS_LOG_TEXT);
	CHECK_HAS(t, " info request path=/v1/db/a/push msg=\"two words \\\"quoted\\\" a=b\\nnext\" status=200 ms=1.500 client=-\n");
	CHECK_HAS(t, " error lake_flush_failed msg=\"will retry: disk full\"\n");
	CHECK(!strstr(t, "hidden"));
	/* one line per event */
	int lines = 0;
	for (const char *p = t; *p; p++)
		lines += *p == '\n';
	CHECK_EQ_INT(lines, 2);

	const char *j = capture(events, IDS_LOG_DEBUG, IDS_LOG_JSON);
	CHECK_HAS(j, "\"event\":\"hidden\"");
	int n = 0;
	for (const char *line = j; *line; n++) {
		const char *nl = strchr(line, '\n');
		if (!CHECK(nl != NULL))
			break;
		ids_json x = IDS_JSON_INIT;
		ids_error err = IDS_ERROR_INIT;
		if (!CHECK_EQ_INT(ids_json_parse(&x, line, (size_t)(nl - line), 0, 10, &err), 0))
			fprintf(stderr, "  not JSON: %.*s (%s)\n", (int)(nl - line), line, err.msg);
		ids_json_free(&x);
		line = nl + 1;
	}
	CHECK_EQ_INT(n, 3);
	CHECK_HAS(j, "\"msg\":\"two words \\\"quoted\\\" a=b\\nnext\",\"status\":200,\"ms\":1.500,\"client\":null");

	const char *b = capture(too_long, IDS_LOG_INFO, IDS_LOG_TEXT);
	CHECK_EQ_STR(b, "log_line_too_long\n");

	ids_log_level l;
	CHECK_EQ_INT(ids_log_level_parse("warn", &l), 0);
	CHECK_EQ_INT(l, IDS_LOG_WARN);
	CHECK(ids_log_level_parse("loud", &l) != 0);
	return test_report("test_log");
}
