/* pq_writer lifecycle: options, schema checks, the temp file that is renamed into place
 * only after a complete, fsynced write, row-group flushing and the row-level API.
 * Columns (column.c, chunk.c) do the encoding; footer.c writes the metadata. */
#include "pqw.h"
#include "parquet/common/thrift.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the Parquet writer assumes a little-endian host (PLAIN values are copied as they are)"
#endif

#ifndef IDS_BUILD_DATE
#define IDS_BUILD_DATE __DATE__
#endif

static void resolve_options(pq_write_options *o)
{
	if (o->codec < 0)
		o->codec = o->profile == PQ_PROFILE_MODERN ? PQ_CODEC_ZSTD : PQ_CODEC_SNAPPY;
	if (o->page_version != 2)
		o->page_version = 1;
	if (o->dictionary < 0)
		o->dictionary = 1;
	if (!o->dict_max_bytes)
		o->dict_max_bytes = (size_t)1 << 20;
	if (o->dict_max_bytes > ((size_t)1 << 30))
		o->dict_max_bytes = (size_t)1 << 30;
	if (!o->dict_probe)
		o->dict_probe = 16384;
	if (!o->page_bytes)
		o->page_bytes = (size_t)1 << 20;
	if (o->page_bytes > ((size_t)256 << 20))
		o->page_bytes = (size_t)256 << 20;
	if (o->row_group_rows <= 0)
		o->row_group_rows = 1000000;
	if (!o->row_group_bytes)
		o->row_group_bytes = (size_t)128 << 20;
	if (!o->stat_max_bytes)
		o->stat_max_bytes = 64;
	if (!o->file_mode)
		o->file_mode = 0644;
	if (!o->created_by)
		o->created_by = "idbsync version " PQW_VERSION " (build " IDS_BUILD_DATE ")";
	if (o->threads > 64)
		o->threads = 64;
}

/* Checks the tree and, in the compat profile, lowercases names (Hive and Impala resolve
 * columns case-insensitively, so two names equal but for case cannot both exist). */
static int check_node(pq_node *n, int depth, int lower, const char *parent, ids_error *err)
{
	if (depth > PQW_MAX_DEPTH)
		return ids_fail(err, IDS_EINVAL, "schema nests deeper than %d levels", PQW_MAX_DEPTH);
	if (!n->name || !n->name[0])
		return ids_fail(err, IDS_EINVAL, "schema: a field under '%s' has an empty name", parent);
	if (lower)
		for (char *s = n->name; *s; s++)
			*s = (char)tolower((unsigned char)*s);
	if (n->type == PQ_GROUP) {
		if (!n->n_children)
			return ids_fail(err, IDS_EINVAL, "schema: group '%s' has no fields", n->name);
		for (size_t i = 0; i < n->n_children; i++) {
			int rc = check_node(n->children[i], depth + 1, lower, n->name, err);
			if (rc)
				return rc;
			for (size_t k = 0; k < i; k++)
				if (!strcmp(n->children[k]->name, n->children[i]->name))
					return ids_fail(err, IDS_EINVAL,
							"schema: group '%s' has two fields named '%s'%s",
							n->name, n->children[i]->name,
							lower ? " (compat profile lowercases names)" : "");
		}
	} else if (n->type == PQ_FIXED_LEN_BYTE_ARRAY &&
		   (n->type_length <= 0 || n->type_length > (1 << 20))) {
		return ids_fail(err, IDS_EINVAL, "schema: field '%s' has bad fixed length %d", n->name,
				(int)n->type_length);
	} else if ((int)n->type < PQ_BOOLEAN || n->type > PQ_FIXED_LEN_BYTE_ARRAY) {
		return ids_fail(err, IDS_EINVAL, "schema: field '%s' has unknown type", n->name);
	}
	return 0;
}

static int add_leaves(pq_writer *w, const pq_node *n, const char **path, size_t depth,
		      int16_t def, int16_t rep, size_t *cap, ids_error *err)
{
	if (depth) {
		path[depth - 1] = n->name;
		def += n->repetition != PQ_REQUIRED;
		rep += n->repetition == PQ_REPEATED;
	}
	if (n->type == PQ_GROUP) {
		for (size_t i = 0; i < n->n_children; i++) {
			int rc = add_leaves(w, n->children[i], path, depth + 1, def, rep, cap, err);
			if (rc)
				return rc;
		}
		return 0;
	}
	if (w->ncols == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		pqw_col *p = realloc(w->cols, ncap * sizeof *p);
		if (!p)
			return ids_fail(err, IDS_ENOMEM, "out of memory");
		w->cols = p;
		*cap = ncap;
	}
	char **cp = calloc(depth, sizeof *cp);
	if (!cp)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	for (size_t i = 0; i < depth; i++)
		if (!(cp[i] = strdup(path[i]))) {
			while (i--)
				free(cp[i]);
			free(cp);
			return ids_fail(err, IDS_ENOMEM, "out of memory");
		}
	pqw_col *c = &w->cols[w->ncols];
	int rc = pqw_col_init(w, c, n, cp, depth, def, rep);
	c->index = w->ncols;
	w->ncols++;   /* counted even on failure so pqw_col_free releases it */
	return rc ? ids_fail(err, rc, "out of memory") : 0;
}

int pq_writer_new(pq_writer **out, const char *path, const pq_node *schema,
		  const pq_write_options *opts, ids_error *err)
{
	*out = NULL;
	if (!path || !schema || schema->type != PQ_GROUP)
		return ids_fail(err, IDS_EINVAL, "pq_writer_new: need a path and a group schema");
	pq_writer *w = calloc(1, sizeof *w);
	if (!w)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	w->fd = -1;
	pthread_mutex_init(&w->pool_mu, NULL);
	pq_write_options defaults = PQ_WRITE_OPTIONS_INIT;
	w->o = opts ? *opts : defaults;
	resolve_options(&w->o);
	w->codec = (pq_codec)w->o.codec;
	if (!(w->created_by = strdup(w->o.created_by))) {
		pthread_mutex_destroy(&w->pool_mu);
		free(w);
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	}
	w->o.created_by = w->created_by;
	int rc = 0;
	const char *path_stack[PQW_MAX_DEPTH + 2];
	size_t cap = 0;
	w->schema = pq_node_clone(schema);
	w->in_schema = pq_node_clone(schema);
	w->path = strdup(path);
	if (!w->schema || !w->in_schema || !w->path) {
		rc = ids_fail(err, IDS_ENOMEM, "out of memory");
		goto fail;
	}
	if (w->o.n_kv) {
		if (!(w->kv_copy = calloc(w->o.n_kv, sizeof *w->kv_copy))) {
			rc = ids_fail(err, IDS_ENOMEM, "out of memory");
			goto fail;
		}
		for (size_t i = 0; i < w->o.n_kv; i++) {
			const pq_kv *kv = &w->o.kv[i];
			w->kv_copy[i].key = strdup(kv->key ? kv->key : "");
			w->kv_copy[i].value = kv->value ? strdup(kv->value) : NULL;
			if (!w->kv_copy[i].key || (kv->value && !w->kv_copy[i].value)) {
				w->o.kv = w->kv_copy;
				rc = ids_fail(err, IDS_ENOMEM, "out of memory");
				goto fail;
			}
		}
		w->o.kv = w->kv_copy;
	}
	if ((rc = check_node(w->schema, 0, w->o.profile == PQ_PROFILE_COMPAT, "", err)))
		goto fail;
	if ((rc = add_leaves(w, w->schema, path_stack, 0, 0, 0, &cap, err)))
		goto fail;
	if (w->o.codec != PQ_CODEC_UNCOMPRESSED && w->o.codec != PQ_CODEC_SNAPPY &&
	    w->o.codec != PQ_CODEC_GZIP && w->o.codec != PQ_CODEC_ZSTD &&
	    w->o.codec != PQ_CODEC_LZ4_RAW && w->o.codec != PQ_CODEC_BROTLI) {
		rc = ids_fail(err, IDS_EINVAL, "unsupported codec for writing: %s",
			      pq_codec_name(w->codec));
		goto fail;
	}
	ids_buf_init(&w->rg_meta, 0);
	/* as many encoders as threads, and as many parsers (pq_writer_write_ndjson): when the
	 * codec is cheap the parsers keep the cores busy and the encoders wait; when it is
	 * dear (gzip, brotli) the parsers block on the full queue and the encoders have them */
	if (w->o.threads > 1 && (rc = pqw_async_new(w, w->o.threads, err)))
		goto fail;
	/* the file is renamed over path at the end: never let that replace a device, FIFO,
	 * directory or symlink (writing to /dev/null as root must not remove /dev/null) */
	struct stat st;
	if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		rc = ids_fail(err, IDS_EINVAL, "%s: exists and is not a regular file", path);
		goto fail;
	}
	size_t pl = strlen(path);
	if (!(w->tmp = malloc(pl + 16))) {
		rc = ids_fail(err, IDS_ENOMEM, "out of memory");
		goto fail;
	}
	memcpy(w->tmp, path, pl);
	memcpy(w->tmp + pl, ".tmp-XXXXXX", 12);
	w->fd = mkostemp(w->tmp, O_CLOEXEC);
	if (w->fd < 0) {
		rc = ids_fail(err, IDS_EIO, "%s: cannot create temp file: %s", path, strerror(errno));
		free(w->tmp);
		w->tmp = NULL;
		goto fail;
	}
	(void)fchmod(w->fd, (mode_t)w->o.file_mode);
	if ((rc = pqw_write_all(w, "PAR1", 4, err)))
		goto fail;
	*out = w;
	return 0;
fail:
	pq_writer_free(w);
	return rc;
}

#define WRITEBACK_BYTES ((int64_t)1 << 20)

int pqw_write_all(pq_writer *w, const void *p, size_t n, ids_error *err)
{
	const char *s = p;
	while (n) {
		ssize_t k = write(w->fd, s, n > ((size_t)1 << 30) ? ((size_t)1 << 30) : n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			return ids_fail(err, e == ENOSPC ? IDS_ENOSPC : IDS_EIO, "%s: write failed: %s",
					w->path, strerror(e));
		}
		s += k;
		n -= (size_t)k;
		w->off += k;
	}
#ifdef SYNC_FILE_RANGE_WRITE
	/* Start the disk writes of what is written so far without waiting for them, so that
	 * the fsync at close waits only for the last of it: the chunks of a row group are
	 * written in one burst at its end, and the fsync after the last burst stood alone at
	 * the end of every write (10 ms of a 250 ms one). A hint: errors show at the fsync. */
	if (w->off - w->flushed >= WRITEBACK_BYTES) {
		(void)sync_file_range(w->fd, w->flushed, w->off - w->flushed, SYNC_FILE_RANGE_WRITE);
		w->flushed = w->off;
	}
#endif
	return 0;
}

static int flush_row_group(pq_writer *w, ids_error *err)
{
	if (!w->rg_rows)
		return 0;
	int rc = 0;
	for (size_t i = 0; i < w->ncols && !rc; i++)
		rc = pqw_flush_page(w, &w->cols[i], err);
	for (size_t i = 0; i < w->ncols && !rc; i++)
		rc = pqw_async_dict_finish(w, &w->cols[i], err);
	if (rc)
		return rc;
	pq_tenc e;
	pq_tenc_init(&e, &w->rg_meta);
	pq_tenc_elem_struct_begin(&e);
	pq_tenc_list_begin(&e, 1, PQ_T_STRUCT, w->ncols);
	int64_t unc = 0, comp = 0, first = w->off;
	/* With encoder threads, each chunk goes to the file as soon as its own column's pages
	 * are encoded, while the encoders go on with the later columns: waiting for all of
	 * them first left one thread copying every chunk into the file, the other idle, at
	 * the end of each write. The file is the same (chunks in column order). */
	for (size_t i = 0; i < w->ncols; i++)
		if ((rc = pqw_async_wait_col(w, &w->cols[i], err)) ||
		    (rc = pqw_write_chunk(w, &w->cols[i], &e, &unc, &comp, err)))
			return rc;
	if ((rc = pqw_async_barrier(w, err)))
		return rc;
	pq_tenc_i64(&e, 2, unc);
	pq_tenc_i64(&e, 3, w->rg_rows);
	pq_tenc_i64(&e, 5, first);
	pq_tenc_i64(&e, 6, comp);
	pq_tenc_struct_end(&e);
	if ((rc = pq_tenc_finish(&e)))
		return ids_fail(err, rc, "row group metadata encoding failed");
	w->n_rg++;
	w->rg_rows = 0;
	w->rg_bytes = 0;
	return 0;
}

/* Takes a parser's page of column c. A slice ends every column's page where it ends, so
 * its last page is usually short; it is gathered in c->cur with the next slice's until a
 * page's worth is staged. Pages then end by size alone: on the 300k-row orders data the
 * slice-end pages had doubled the low-cardinality columns (a page header and a fresh
 * compressor state every ~57k rows). */
static int take_page(pq_writer *w, pqw_col *c, pqw_page *pg, ids_error *err)
{
	int rc = 0;
	if (!c->cur.n_lv) {
		pqw_page t = c->cur;
		c->cur = *pg;
		*pg = t;
		c->cur.next = NULL;
	} else if (c->type != PQ_BOOLEAN && !pqw_page_link(&c->cur, pg)) {
		/* the next slice's pages are linked rather than copied after the short one the
		 * last slice ended with: that copy moved nearly every value of a write once more
		 * (4.4% of the CPU of `parquet write`) */
		pg = NULL;
	} else if ((rc = pqw_page_append(&c->cur, pg))) {
		rc = ids_fail(err, rc, "column '%s': out of memory", c->leaf->name);
	}
	if (pg)
		pqw_pool_put(w, c, pg);
	if (!rc && pqw_staged_bytes(c) >= w->o.page_bytes)
		rc = pqw_submit_page(w, c, err);
	return rc;
}

int pqw_commit_pages(pq_writer *w, pqw_page **pages, size_t rows, size_t bytes,
		     ids_error *err)
{
	int rc = 0;
	if (w->state)
		rc = ids_fail(err, IDS_EINVAL, "writer is closed or failed");
	else if (w->rg_rows > 0 && (w->rg_rows + (int64_t)rows > w->o.row_group_rows ||
				    w->rg_bytes >= w->o.row_group_bytes))
		rc = flush_row_group(w, err);
	for (size_t i = 0; i < w->ncols; i++) {
		pqw_col *c = &w->cols[i];
		for (pqw_page *pg = pages[i], *nx; pg; pg = nx) {
			nx = pg->next;
			if (rc)
				pqw_pool_put(w, c, pg);
			else
				rc = take_page(w, c, pg, err);
		}
		pages[i] = NULL;
	}
	if (rc) {
		w->state = -1;
		return rc;
	}
	w->rg_rows += (int64_t)rows;
	w->total_rows += (int64_t)rows;
	w->rg_bytes += bytes;
	return 0;
}

void pqw_row_mark(pq_writer *w)
{
	for (size_t i = 0; i < w->ncols; i++) {
		pqw_col *c = &w->cols[i];
		c->m_lv = c->cur.n_lv;
		c->m_vals_len = c->cur.vals.len;
		c->m_vals = c->cur.n_vals;
		c->m_rows = c->cur.rows;
	}
}

void pqw_row_rollback(pq_writer *w)
{
	for (size_t i = 0; i < w->ncols; i++) {
		pqw_col *c = &w->cols[i];
		c->cur.n_lv = c->m_lv;
		c->cur.vals.len = c->m_vals_len;
		c->cur.vals.failed = 0;
		c->cur.n_vals = c->m_vals;
		c->cur.rows = c->m_rows;
	}
}

int pqw_rows_done(pq_writer *w, size_t n, ids_error *err)
{
	w->rg_rows += (int64_t)n;
	w->total_rows += (int64_t)n;
	if (w->rg_rows >= w->o.row_group_rows)
		return flush_row_group(w, err);
	/* page and dictionary limits may overshoot by a few rows; checking every column
	 * after every row would cost more than the rows themselves */
	if ((w->since_check += n) < 32)
		return 0;
	w->since_check = 0;
	size_t total = 0;
	for (size_t i = 0; i < w->ncols; i++) {
		pqw_col *c = &w->cols[i];
		int rc;
		size_t st = pqw_staged_bytes(c);
		if (st >= w->o.page_bytes) {
			if ((rc = pqw_flush_page(w, c, err)))
				return rc;
			st = 0;
		}
		total += st;
	}
	if (total + w->rg_bytes >= w->o.row_group_bytes)
		return flush_row_group(w, err);
	return 0;
}

int pqw_write_row(pq_writer *w, const char *json, size_t len, int keep_going, size_t *err_off,
		  ids_error *err)
{
	if (w->state)
		return ids_fail(err, IDS_EINVAL, "writer is closed or failed");
	int rc;
	if (!w->shred && (rc = pqw_shred_new(&w->shred, w, NULL, err)))
		return rc;
	if (keep_going)
		pqw_row_mark(w);
	if ((rc = pqw_shred_row(w->shred, json, len, err_off, err))) {
		if (keep_going)
			pqw_row_rollback(w);
		else
			w->state = -1;
		return rc;
	}
	if ((rc = pqw_rows_done(w, 1, err)))
		w->state = -1;
	return rc;
}

int pq_writer_write_json(pq_writer *w, const char *json, size_t len, size_t *err_off,
			 ids_error *err)
{
	return pqw_write_row(w, json, len, 1, err_off, err);
}

int64_t pq_writer_num_rows(const pq_writer *w) { return w->total_rows; }

int pq_writer_usable(const pq_writer *w) { return w && !w->state; }

size_t pq_writer_num_columns(const pq_writer *w) { return w->ncols; }

const pq_node *pq_writer_column(const pq_writer *w, size_t i, int *max_def, int *max_rep)
{
	if (i >= w->ncols)
		return NULL;
	if (max_def)
		*max_def = w->cols[i].max_def;
	if (max_rep)
		*max_rep = w->cols[i].max_rep;
	return w->cols[i].leaf;
}

static int sync_dir(const char *path)
{
	char *d = strdup(path);
	if (!d)
		return -1;
	char *slash = strrchr(d, '/');
	const char *dir = ".";
	if (slash) {
		*slash = 0;
		dir = slash == d ? "/" : d;
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = fd < 0 ? -1 : fsync(fd);
	if (fd >= 0)
		close(fd);
	free(d);
	return rc;
}

int pq_writer_close(pq_writer *w, ids_error *err)
{
	if (w->state)
		return ids_fail(err, IDS_EINVAL, "writer is closed or failed");
	int rc = flush_row_group(w, err);
	if (!rc)
		rc = pqw_write_footer(w, err);
	if (!rc && fsync(w->fd))
		rc = ids_fail(err, IDS_EIO, "%s: fsync failed: %s", w->path, strerror(errno));
	if (!rc) {
		int fd = w->fd;
		w->fd = -1;
		if (close(fd))
			rc = ids_fail(err, IDS_EIO, "%s: close failed: %s", w->path, strerror(errno));
	}
	struct stat st;
	if (!rc && lstat(w->path, &st) == 0 && !S_ISREG(st.st_mode))
		rc = ids_fail(err, IDS_EINVAL, "%s: exists and is not a regular file", w->path);
	if (!rc && rename(w->tmp, w->path))
		rc = ids_fail(err, IDS_EIO, "%s: rename failed: %s", w->path, strerror(errno));
	if (rc) {
		w->state = -1;
		if (w->fd >= 0)
			close(w->fd);
		w->fd = -1;
		unlink(w->tmp);
		return rc;
	}
	w->state = 1;
	(void)sync_dir(w->path);   /* the data is safe; a failed dir sync only risks the name */
	return 0;
}

void pq_writer_free(pq_writer *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	if (w->state != 1 && w->tmp)
		unlink(w->tmp);
	pqw_shred_free(w->shred);
	pqw_async_free(w);
	for (size_t i = 0; i < w->ncols; i++)
		pqw_col_free(&w->cols[i]);
	free(w->cols);
	pq_node_free(w->schema);
	pq_node_free(w->in_schema);
	ids_buf_free(&w->rg_meta);
	pqw_scratch_free(&w->sc);
	free(w->created_by);
	for (size_t i = 0; w->kv_copy && i < w->o.n_kv; i++) {
		free((char *)w->kv_copy[i].key);
		free((char *)w->kv_copy[i].value);
	}
	free(w->kv_copy);
	free(w->rep_need);
	free(w->path);
	free(w->tmp);
	pthread_mutex_destroy(&w->pool_mu);
	free(w);
}

void *pqw_zalloc(size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	void *t = malloc(n * size);
	if (t)
		explicit_bzero(t, n * size);
	return t;
}
