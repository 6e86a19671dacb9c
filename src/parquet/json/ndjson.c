/* NDJSON inference driver: split a buffer into lines and hand each non-blank line to
 * inference, turning a failure into "<name>:<line>:<col>: <what>". Inference can run over
 * several threads, each on a slice that starts at a line start; slices are merged in
 * order, and the first failing slice's error wins. (Writing: ndjson_write.c.) */
#include "idbsync/pq_write.h"
#include "infer_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef int (*row_fn)(void *ctx, const char *row, size_t len, size_t *err_off, ids_error *err);

/* Runs fn on each line; on failure *line / *col say where (1-based, col 0 = whole line). */
static int each_line(const char *data, size_t len, row_fn fn, void *ctx, ids_error *err,
		     size_t *line_out, size_t *col_out)
{
	const char *p = data, *end = data + len;
	size_t line = 1;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;
		const char *q = p;
		while (q < e && (*q == ' ' || *q == '\t' || *q == '\r'))
			q++;
		if (q < e) {
			size_t off = 0;
			int rc = fn(ctx, p, (size_t)(e - p), &off, err);
			if (rc) {
				*line_out = line;
				*col_out = rc == IDS_EINVAL ? off + 1 : 0;
				return rc;
			}
		}
		p = e + 1;
		line++;
	}
	return 0;
}

static int wrap(int rc, ids_error *err, const char *name, size_t line, size_t col)
{
	if (!err)
		return rc;
	if (col)
		return ids_wrap(err, "%s:%zu:%zu: ", name ? name : "<input>", line, col);
	return ids_wrap(err, "%s:%zu: ", name ? name : "<input>", line);
}

static int infer_row(void *ctx, const char *row, size_t len, size_t *err_off, ids_error *err)
{
	return pq_infer_add_json(ctx, row, len, err_off, err);
}

int pq_infer_add_ndjson(pq_infer *inf, const char *data, size_t len, const char *name,
			ids_error *err)
{
	size_t line, col;
	int rc = each_line(data, len, infer_row, inf, err, &line, &col);
	return rc ? wrap(rc, err, name, line, col) : 0;
}

typedef struct slice {
	const char *p;
	size_t n;
	pq_infer *inf;
	int rc;
	size_t line, col;
	ids_error err;
	pthread_t th;
	int started;
} slice;

static void *infer_slice(void *arg)
{
	slice *s = arg;
	s->rc = each_line(s->p, s->n, infer_row, s->inf, &s->err, &s->line, &s->col);
	return NULL;
}

static size_t count_lines(const char *p, size_t n)
{
	size_t k = 0;
	for (const char *e = p + n; (p = memchr(p, '\n', (size_t)(e - p))); p++)
		k++;
	return k;
}

/* Small enough that the CLI's 2 MiB prefix (cmd_parquet_write.c) is inferred on two
 * threads: a slice costs one thread start and one tree merge, about what 10 KiB of rows
 * do. */
#define MIN_SLICE ((size_t)1 << 20)

int pq_infer_add_ndjson_threads(pq_infer *inf, const char *data, size_t len, const char *name,
				int threads, ids_error *err)
{
	if (threads > 16)
		threads = 16;
	if (threads <= 1 || len < 2 * MIN_SLICE)
		return pq_infer_add_ndjson(inf, data, len, name, err);
	slice sl[16];
	memset(sl, 0, sizeof sl);
	int n = 0, rc = 0;
	const char *p = data, *end = data + len;
	for (int i = 0; i < threads && p < end; i++) {
		const char *e = i == threads - 1 ? end : p + len / (size_t)threads;
		if (e < end) {
			const char *nl = memchr(e, '\n', (size_t)(end - e));
			e = nl ? nl + 1 : end;
		}
		sl[n].p = p;
		sl[n].n = (size_t)(e - p);
		n++;
		p = e;
	}
	/* slice 0 goes straight into inf; the others into their own trees, merged after */
	sl[0].inf = inf;
	for (int i = 1; i < n; i++) {
		if ((rc = pq_infer_new(&sl[i].inf, err)))
			goto done;
		pq_infer_text_times(sl[i].inf, pqi_text_times(inf));
	}
	for (int i = 1; i < n; i++)
		sl[i].started = !pthread_create(&sl[i].th, NULL, infer_slice, &sl[i]);
	infer_slice(&sl[0]);
	for (int i = 1; i < n; i++) {
		if (sl[i].started)
			pthread_join(sl[i].th, NULL);
		else
			infer_slice(&sl[i]);
	}
	size_t line0 = 0;
	for (int i = 0; i < n; i++) {
		if (sl[i].rc) {
			if (err)
				*err = sl[i].err;
			rc = wrap(sl[i].rc, err, name, line0 + sl[i].line, sl[i].col);
			goto done;
		}
		line0 += count_lines(sl[i].p, sl[i].n);
	}
	for (int i = 1; i < n && !rc; i++)
		rc = pq_infer_merge(inf, sl[i].inf, err);
done:
	for (int i = 1; i < n; i++)
		pq_infer_free(sl[i].inf);
	return rc;
}
