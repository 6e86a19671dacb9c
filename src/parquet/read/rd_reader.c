/* The public reader (pq_read.h): opens a file or memory buffer, validates the PAR1 framing,
 * decodes the footer, and drives the column cursors row group by row group for the row API,
 * or one column chunk at a time for the batch API. */
#include "parquet/read/rd_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

struct pq_reader {
	rd_src src;
	char *name;
	pq_read_options opts;
	pq_file_meta *meta;
	rd_asm *as;
	rd_col *cols;
	size_t rg;
	int rg_open;
	int64_t row_in_rg;
	int failed;
	/* batch API */
	int16_t *bdef, *brep;
	uint8_t *bvals, *bbytes;
	size_t bdef_cap, brep_cap, bvals_cap, bbytes_cap;
};

static int open_common(pq_reader *r, ids_error *err)
{
	const rd_src *s = &r->src;
	uint8_t tail[8], head[4];
	const uint8_t *p;
	if (s->size < 12)
		return ids_fail(err, IDS_ECORRUPT, "file %s: %llu bytes is too small for a Parquet file",
				r->name, (unsigned long long)s->size);
	int rc = rd_src_read(s, 0, 4, head, &p, err);
	if (rc)
		return ids_wrap(err, "file %s: ", r->name);
	if (memcmp(p, "PAR1", 4) != 0)
		return ids_fail(err, IDS_ECORRUPT, "file %s: no PAR1 magic at the start (not a Parquet file)",
				r->name);
	if ((rc = rd_src_read(s, s->size - 8, 8, tail, &p, err)))
		return ids_wrap(err, "file %s: ", r->name);
	if (memcmp(p + 4, "PARE", 4) == 0)
		return ids_fail(err, IDS_EINVAL, "file %s: encrypted footer (PARE) is not supported", r->name);
	if (memcmp(p + 4, "PAR1", 4) != 0)
		return ids_fail(err, IDS_ECORRUPT, "file %s: no PAR1 magic at the end (truncated file?)", r->name);
	uint32_t flen = rd_le32(p);
	if ((uint64_t)flen > s->size - 12)
		return ids_fail(err, IDS_ECORRUPT, "file %s: footer length %u exceeds the file size %llu",
				r->name, flen, (unsigned long long)s->size);
	if (flen > r->opts.max_footer_size)
		return ids_fail(err, IDS_ELIMIT, "file %s: footer of %u bytes exceeds the cap of %zu",
				r->name, flen, r->opts.max_footer_size);
	uint64_t foff = s->size - 8 - flen;
	uint8_t *buf = s->fd >= 0 ? malloc(flen ? flen : 1) : NULL;
	if (s->fd >= 0 && !buf)
		return ids_fail(err, IDS_ENOMEM, "file %s: out of memory for the footer", r->name);
	rc = rd_src_read(s, foff, flen, buf, &p, err);
	if (rc == 0)
		rc = pq_file_meta_parse(&r->meta, p, flen, foff, err);
	/* the metadata points into the footer bytes (statistics), so keep them */
	if (rc) {
		free(buf);
		return ids_wrap(err, "file %s: footer: ", r->name);
	}
	r->bbytes = NULL;
	if (buf) {
		/* hand the footer bytes to the metadata arena so they live as long as it does */
		struct pq_meta_arena *a = r->meta->arena;
		void **np = realloc(a->ptrs, (a->n + 1) * sizeof *np);
		if (!np) {
			free(buf);
			return ids_fail(err, IDS_ENOMEM, "out of memory");
		}
		a->ptrs = np;
		a->ptrs[a->n++] = buf;
		a->cap = a->n;
	}
	if ((rc = rd_asm_new(&r->as, r->meta, err)))
		return ids_wrap(err, "file %s: ", r->name);
	r->cols = calloc(r->meta->n_columns, sizeof *r->cols);
	if (!r->cols)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	return 0;
}

static pq_reader *new_reader(const char *name, const pq_read_options *opts)
{
	pq_reader *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	pq_read_options def = PQ_READ_OPTIONS_INIT;
	r->opts = opts ? *opts : def;
	if (!r->opts.max_page_size) r->opts.max_page_size = def.max_page_size;
	if (!r->opts.max_page_values) r->opts.max_page_values = def.max_page_values;
	if (!r->opts.max_footer_size) r->opts.max_footer_size = def.max_footer_size;
	if (!r->opts.max_row_json) r->opts.max_row_json = def.max_row_json;
	r->name = strdup(name ? name : "<memory>");
	r->src.fd = -1;
	r->src.name = r->name;
	if (!r->name) {
		free(r);
		return NULL;
	}
	return r;
}

int pq_reader_open(pq_reader **out, const char *path, const pq_read_options *opts, ids_error *err)
{
	*out = NULL;
	pq_reader *r = new_reader(path, opts);
	if (!r)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	r->src.fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (r->src.fd < 0 || fstat(r->src.fd, &st) != 0) {
		int e = errno;
		pq_reader_free(r);
		return ids_fail(err, e == ENOENT ? IDS_ENOTFOUND : IDS_EIO, "file %s: cannot open: %s", path,
				strerror(e));
	}
	if (!S_ISREG(st.st_mode)) {
		pq_reader_free(r);
		return ids_fail(err, IDS_EINVAL, "file %s: not a regular file", path);
	}
	r->src.size = (uint64_t)st.st_size;
	int rc = open_common(r, err);
	if (rc) {
		pq_reader_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

int pq_reader_open_mem(pq_reader **out, const void *data, size_t len, const char *name,
		       const pq_read_options *opts, ids_error *err)
{
	*out = NULL;
	pq_reader *r = new_reader(name, opts);
	if (!r)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	r->src.mem = data;
	r->src.size = len;
	int rc = open_common(r, err);
	if (rc) {
		pq_reader_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

static void close_rg(pq_reader *r)
{
	if (r->rg_open && r->cols)
		for (size_t i = 0; i < r->meta->n_columns; i++)
			rd_col_close(&r->cols[i]);
	r->rg_open = 0;
}

void pq_reader_free(pq_reader *r)
{
	if (!r)
		return;
	close_rg(r);
	free(r->cols);
	rd_asm_free(r->as);
	pq_file_meta_free(r->meta);
	if (r->src.fd >= 0)
		close(r->src.fd);
	free(r->bdef);
	free(r->brep);
	free(r->bvals);
	free(r->bbytes);
	free(r->name);
	free(r);
}

const pq_file_meta *pq_reader_meta(const pq_reader *r) { return r->meta; }
const pq_node *pq_reader_schema(const pq_reader *r) { return r->meta->schema; }
int64_t pq_reader_num_rows(const pq_reader *r) { return r->meta->num_rows; }

static int open_rg(pq_reader *r, ids_error *err)
{
	for (size_t i = 0; i < r->meta->n_columns; i++) {
		int rc = rd_col_open(&r->cols[i], &r->src, &r->opts, r->meta, r->rg, i, err);
		if (rc) {
			for (size_t j = 0; j <= i; j++)
				rd_col_close(&r->cols[j]);
			return rc;
		}
	}
	r->rg_open = 1;
	r->row_in_rg = 0;
	return 0;
}

/* after the last row of a row group no column may have entries left */
static int check_drained(pq_reader *r, ids_error *err)
{
	for (size_t i = 0; i < r->meta->n_columns; i++) {
		rd_col *c = &r->cols[i];
		int rc = c->i < c->n ? 1 : rd_col_next_page(c, err);
		if (rc < 0)
			return rc;
		if (rc > 0)
			return ids_fail(err, IDS_ECORRUPT, "file %s: row group %zu, column '%s': more values "
					"than the row group's %lld rows", r->name, r->rg, c->desc->path,
					(long long)r->meta->row_groups[r->rg].num_rows);
	}
	return 0;
}

int pq_reader_next_row_json(pq_reader *r, ids_buf *out, ids_error *err)
{
	if (r->failed)
		return ids_fail(err, r->failed, "file %s: reader stopped after an earlier error", r->name);
	int rc;
	for (;;) {
		if (!r->rg_open) {
			if (r->rg >= r->meta->n_row_groups)
				return 0;
			if (r->meta->row_groups[r->rg].num_rows == 0) {
				r->rg++;
				continue;
			}
			if ((rc = open_rg(r, err)))
				goto fail;
		}
		if (r->row_in_rg >= r->meta->row_groups[r->rg].num_rows) {
			rc = check_drained(r, err);
			close_rg(r);
			if (rc)
				goto fail;
			r->rg++;
			continue;
		}
		break;
	}
	size_t mark = out->len;
	rc = rd_asm_row(r->as, r->cols, out, err);
	if (rc >= 0 && out->len - mark > r->opts.max_row_json)
		rc = ids_fail(err, IDS_ELIMIT, "row JSON exceeds the cap of %zu bytes", r->opts.max_row_json);
	if (rc < 0) {
		out->len = mark;
		if (out->data)
			out->data[mark] = 0;
		if (strncmp(err ? err->msg : "", "file ", 5) != 0)
			ids_wrap(err, "file %s: row group %zu, row %lld: ", r->name, r->rg,
				 (long long)r->row_in_rg);
		goto fail;
	}
	r->row_in_rg++;
	return 1;
fail:
	r->failed = rc;
	return rc;
}

int pq_reader_read_column(pq_reader *r, size_t rg, size_t col, pq_read_batch *out, ids_error *err)
{
	memset(out, 0, sizeof *out);
	if (rg >= r->meta->n_row_groups || col >= r->meta->n_columns)
		return ids_fail(err, IDS_EINVAL, "file %s: no column %zu in row group %zu", r->name, col, rg);
	rd_col c;
	int rc = rd_col_open(&c, &r->src, &r->opts, r->meta, rg, col, err);
	if (rc) {
		rd_col_close(&c);
		return rc;
	}
	size_t n = 0, nv = 0, nbytes = 0;
	int is_ba = c.desc->node->type == PQ_BYTE_ARRAY;
	while ((rc = rd_col_next_page(&c, err)) > 0) {
		if ((c.desc->max_def && (rc = rd_grow(&r->bdef, &r->bdef_cap, (n + c.n) * 2, err))) ||
		    (c.desc->max_rep && (rc = rd_grow(&r->brep, &r->brep_cap, (n + c.n) * 2, err))) ||
		    (rc = rd_grow(&r->bvals, &r->bvals_cap, (nv + c.nv) * c.elem + 1, err)))
			break;
		if (c.desc->max_def)
			memcpy(r->bdef + n, c.def, c.n * 2);
		if (c.desc->max_rep)
			memcpy(r->brep + n, c.rep, c.n * 2);
		if (is_ba) {
			/* page buffers are reused, so copy the bytes; store offsets until the end */
			pq_rbytes *src = (pq_rbytes *)c.vals, *dst = (pq_rbytes *)r->bvals + nv;
			for (size_t i = 0; i < c.nv; i++) {
				if ((rc = rd_grow(&r->bbytes, &r->bbytes_cap, nbytes + src[i].len + 1, err)))
					break;
				memcpy(r->bbytes + nbytes, src[i].ptr, src[i].len);
				dst[i].ptr = (const uint8_t *)(uintptr_t)nbytes;
				dst[i].len = src[i].len;
				nbytes += src[i].len;
			}
			if (rc)
				break;
		} else if (c.nv) {
			memcpy(r->bvals + nv * c.elem, c.vals, c.nv * c.elem);
		}
		n += c.n;
		nv += c.nv;
	}
	rd_col_close(&c);
	if (rc < 0)
		return rc;
	if (is_ba) {
		pq_rbytes *v = (pq_rbytes *)r->bvals;
		for (size_t i = 0; i < nv; i++)
			v[i].ptr = r->bbytes + (uintptr_t)v[i].ptr;
	}
	const pq_column_desc *d = &r->meta->columns[col];
	out->n = n;
	out->def = d->max_def ? r->bdef : NULL;
	out->rep = d->max_rep ? r->brep : NULL;
	out->values = r->bvals;
	out->n_values = nv;
	return 0;
}
