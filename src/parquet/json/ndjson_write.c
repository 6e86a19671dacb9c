/* pq_writer_write_ndjson: NDJSON into the writer on several threads with a deterministic
 * result. The input is cut at line boundaries into slices (about 8 MiB, never more lines
 * than a row group may hold). Parser threads shred whole slices into their own staging
 * columns, sealing a page when it is full and at the slice's end; finished slices are then
 * committed strictly in order (pqw_commit_pages), which cuts row groups at slice
 * boundaries and hands the pages to the column encoders. Page and row-group boundaries
 * therefore depend only on the data and the options, never on timing or thread count. */
#include "idbsync/pq_write.h"
#include "parquet/codec/pq_codec.h"
#include "parquet/write/pqw.h"
#include "shred.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SLICE_BYTES ((size_t)8 << 20)
#define MAX_PARSERS 16

typedef struct slice_out {
	size_t k;                /* slice number; valid while ready */
	int ready;
	size_t rows, bytes;
	size_t line0;            /* lines before the slice */
	int rc;
	size_t err_line, err_col;
	ids_error err;
	pqw_page **head, **tail; /* per column, in order */
	size_t *ends;            /* where each line ends (offset of its '\n', or of the
				  * slice's end), found by the slicer; NULL: not recorded */
	size_t n_ends, cap_ends;
} slice_out;

typedef struct par par;

typedef struct parser {
	par *p;
	pthread_t th;
	int started;
	pqw_col *cols;           /* shadow columns */
	struct pqw_shred *shred;
} parser;

struct par {
	pq_writer *w;
	const char *name;
	const char *cur, *end;   /* slicer position */
	size_t next_k, lines;
	size_t max_lines;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	slice_out *ring;
	size_t ring_n, next_commit;
	int committing, stop, rc;
	ids_error err;
};

static void seal(par *p, parser *ps, slice_out *o, size_t i)
{
	pqw_col *sh = &ps->cols[i];
	if (!sh->cur.n_lv)
		return;
	pqw_page *fresh = pqw_pool_get(p->w, &p->w->cols[i]);
	if (!fresh) {
		o->rc = IDS_ENOMEM;
		return;
	}
	pqw_page *full = fresh, tmp = *fresh;
	*full = sh->cur;
	sh->cur = tmp;
	full->next = NULL;
	o->bytes += full->vals.len + full->n_lv / 4;
	if (o->tail[i])
		o->tail[i]->next = full;
	else
		o->head[i] = full;
	o->tail[i] = full;
}

static void drop_pages(par *p, slice_out *o)
{
	for (size_t i = 0; i < p->w->ncols; i++) {
		for (pqw_page *pg = o->head[i], *nx; pg; pg = nx) {
			nx = pg->next;
			pqw_pool_put(p->w, &p->w->cols[i], pg);
		}
		o->head[i] = o->tail[i] = NULL;
	}
}

/* Shreds slice [s, e) into o. */
static void parse_slice(par *p, parser *ps, slice_out *o, const char *s, const char *e)
{
	pq_writer *w = p->w;
	size_t line = 1, since = 0;
	pqw_shred_defer(ps->shred, 1);
	const char *s0 = s;
	size_t k = 0;
	while (s < e) {
		/* the slicer already found every line's end: a second memchr per line was ~1.5%
		 * of a write's instructions */
		const char *le;
		if (o->ends && k < o->n_ends) {
			le = s0 + o->ends[k++];
		} else {
			const char *nl = memchr(s, '\n', (size_t)(e - s));
			le = nl ? nl : e;
		}
		const char *q = s;
		while (q < le && (*q == ' ' || *q == '\t' || *q == '\r'))
			q++;
		if (q < le) {
			size_t off = 0;
			int rc = pqw_shred_row(ps->shred, s, (size_t)(le - s), &off, &o->err);
			if (rc) {
				o->rc = rc;
				o->err_line = line;
				o->err_col = rc == IDS_EINVAL ? off + 1 : 0;
				break;
			}
			o->rows++;
			if (++since == 32) {
				since = 0;
				if (pqw_shred_catch_up(ps->shred)) {
					o->rc = ids_fail(&o->err, IDS_ENOMEM, "out of memory");
					o->err_line = line;
					o->err_col = 0;
					break;
				}
				for (size_t i = 0; i < w->ncols; i++)
					if (pqw_staged_bytes(&ps->cols[i]) >= w->o.page_bytes)
						seal(p, ps, o, i);
			}
		}
		s = le + 1;
		line++;
	}
	if (!o->rc && pqw_shred_catch_up(ps->shred)) {
		o->rc = ids_fail(&o->err, IDS_ENOMEM, "out of memory");
		o->err_line = line - 1;
		o->err_col = 0;
	}
	if (o->rc) {
		for (size_t i = 0; i < w->ncols; i++)
			pqw_page_reset(&ps->cols[i].cur);
		drop_pages(p, o);
		return;
	}
	for (size_t i = 0; i < w->ncols; i++)
		seal(p, ps, o, i);
}

/* Commits every finished slice that is next in order. Called with p->mu held. */
static void commit_ready(par *p)
{
	if (p->committing)
		return;
	p->committing = 1;
	for (;;) {
		slice_out *o = &p->ring[p->next_commit % p->ring_n];
		if (!o->ready || o->k != p->next_commit)
			break;
		pthread_mutex_unlock(&p->mu);
		int rc = 0;
		ids_error err = IDS_ERROR_INIT;
		if (p->rc) {
			drop_pages(p, o);
		} else if (o->rc) {
			rc = o->rc;
			err = o->err;
			if (o->err_col)
				ids_wrap(&err, "%s:%zu:%zu: ", p->name, o->line0 + o->err_line,
					 o->err_col);
			else
				ids_wrap(&err, "%s:%zu: ", p->name, o->line0 + o->err_line);
		} else {
			rc = pqw_commit_pages(p->w, o->head, o->rows, o->bytes, &err);
		}
		pthread_mutex_lock(&p->mu);
		if (rc && !p->rc) {
			p->rc = rc;
			p->err = err;
			p->stop = 1;
		}
		o->ready = 0;
		p->next_commit++;
		pthread_cond_broadcast(&p->cv);
	}
	p->committing = 0;
}

static void *run(void *arg)
{
	parser *ps = arg;
	par *p = ps->p;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->stop && p->cur < p->end && p->next_k - p->next_commit >= p->ring_n)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->stop || p->cur >= p->end)
			break;
		/* take the next slice: whole lines, about SLICE_BYTES, at most max_lines; each
		 * line's end is kept for the parser (o->ends; on out of memory it finds them) */
		const char *s = p->cur, *e = s, *lim = s + SLICE_BYTES;
		size_t lines = 0;
		slice_out *o = &p->ring[p->next_k % p->ring_n];
		int rec = 1;
		while (e < p->end && lines < p->max_lines) {
			const char *nl = memchr(e, '\n', (size_t)(p->end - e));
			if (rec && lines == o->cap_ends) {
				size_t nc = o->cap_ends ? o->cap_ends * 2 : 4096;
				size_t *ne = realloc(o->ends, nc * sizeof *ne);
				if (ne) {
					o->ends = ne;
					o->cap_ends = nc;
				} else {
					rec = 0;
				}
			}
			if (rec)
				o->ends[lines] = (size_t)((nl ? nl : p->end) - s);
			e = nl ? nl + 1 : p->end;
			lines++;
			if (e >= lim)
				break;
		}
		o->n_ends = rec ? lines : 0;
		o->k = p->next_k++;
		o->line0 = p->lines;
		o->rows = o->bytes = 0;
		o->rc = 0;
		for (size_t i = 0; i < p->w->ncols; i++)
			o->head[i] = o->tail[i] = NULL;   /* the previous user handed its pages on */
		p->lines += lines;
		p->cur = e;
		pthread_mutex_unlock(&p->mu);

		parse_slice(p, ps, o, s, e);

		pthread_mutex_lock(&p->mu);
		o->ready = 1;   /* a failed slice stops the others when it is committed, in order */
		commit_ready(p);
	}
	/* the last one out commits what is left */
	commit_ready(p);
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* Spawned parsers may compress (a row group flushed by the commit they run); their cached
 * codec contexts die with them. */
static void *run_thread(void *arg)
{
	run(arg);
	pq_codec_thread_cleanup();
	return NULL;
}

int pq_writer_write_ndjson(pq_writer *w, const char *data, size_t len, const char *name,
			   ids_error *err)
{
	if (w->state)
		return ids_fail(err, IDS_EINVAL, "writer is closed or failed");
	/* rows staged through the row API come first */
	for (size_t i = 0; i < w->ncols; i++) {
		int rc = pqw_flush_page(w, &w->cols[i], err);
		if (rc) {
			w->state = -1;
			return rc;
		}
	}
	int np = w->o.threads > 1 ? w->o.threads : 1;
	if (np > MAX_PARSERS)
		np = MAX_PARSERS;
	par p;
	memset(&p, 0, sizeof p);
	p.w = w;
	p.name = name ? name : "<input>";
	p.cur = data;
	p.end = data + len;
	p.max_lines = (size_t)w->o.row_group_rows;
	p.ring_n = (size_t)np * 2;
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.cv, NULL);
	parser ps[MAX_PARSERS];
	memset(ps, 0, sizeof ps);
	int rc = 0;
	p.ring = calloc(p.ring_n, sizeof *p.ring);
	if (!p.ring)
		rc = ids_fail(err, IDS_ENOMEM, "out of memory");
	for (size_t r = 0; !rc && r < p.ring_n; r++) {
		p.ring[r].head = calloc(w->ncols, sizeof *p.ring[r].head);
		p.ring[r].tail = calloc(w->ncols, sizeof *p.ring[r].tail);
		if (!p.ring[r].head || !p.ring[r].tail)
			rc = ids_fail(err, IDS_ENOMEM, "out of memory");
	}
	for (int i = 0; !rc && i < np; i++) {
		ps[i].p = &p;
		ps[i].cols = calloc(w->ncols, sizeof *ps[i].cols);
		if (!ps[i].cols) {
			rc = ids_fail(err, IDS_ENOMEM, "out of memory");
			break;
		}
		for (size_t c = 0; !rc && c < w->ncols; c++)
			if (pqw_shadow_init(&ps[i].cols[c], &w->cols[c]))
				rc = ids_fail(err, IDS_ENOMEM, "out of memory");
		if (!rc)
			rc = pqw_shred_new(&ps[i].shred, w, ps[i].cols, err);
		if (!rc && w->strict)
			pqw_shred_strict(ps[i].shred, w->strict);
	}
	if (!rc) {
		for (int i = 1; i < np; i++)
			ps[i].started = !pthread_create(&ps[i].th, NULL, run_thread, &ps[i]);
		run(&ps[0]);
		for (int i = 1; i < np; i++)
			if (ps[i].started)
				pthread_join(ps[i].th, NULL);
		if (p.rc) {
			rc = p.rc;
			if (err)
				*err = p.err;
		}
	}
	/* rows staged through the row API next must follow the last page's values */
	for (size_t i = 0; !rc && i < w->ncols; i++)
		if (pqw_page_join(w, &w->cols[i]))
			rc = ids_fail(err, IDS_ENOMEM, "out of memory");
	if (rc)
		w->state = -1;
	for (int i = 0; i < np; i++) {
		pqw_shred_free(ps[i].shred);
		for (size_t c = 0; ps[i].cols && c < w->ncols; c++)
			pqw_page_free(&ps[i].cols[c].cur);
		free(ps[i].cols);
	}
	for (size_t r = 0; p.ring && r < p.ring_n; r++) {
		if (p.ring[r].head && p.ring[r].tail)
			drop_pages(&p, &p.ring[r]);
		free(p.ring[r].head);
		free(p.ring[r].tail);
		free(p.ring[r].ends);
	}
	free(p.ring);
	pthread_mutex_destroy(&p.mu);
	pthread_cond_destroy(&p.cv);
	return rc;
}

int pq_writer_write_ndjson_inferred(pq_writer *w, const char *data, size_t len,
				    const char *name, const pq_infer *inf, ids_error *err)
{
	w->strict = inf;
	int rc = pq_writer_write_ndjson(w, data, len, name, err);
	w->strict = NULL;
	return rc;
}
