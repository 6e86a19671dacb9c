/* Column batch API: callers that already hold columnar data (the lake writer, tests)
 * hand over values plus definition/repetition levels per leaf. Levels are validated so a
 * caller bug cannot produce a file that readers reject or misread. */
#include "pqw.h"

#include <string.h>

int pqw_rep_def(const pq_writer *w, const pqw_col *c, int r)
{
	const pq_node *n = w->schema;
	int def = 0, rep = 0;
	for (size_t i = 0; i < c->path_len; i++) {
		const pq_node *next = NULL;
		for (size_t k = 0; k < n->n_children; k++)
			if (!strcmp(n->children[k]->name, c->path[i])) {
				next = n->children[k];
				break;
			}
		if (!next)
			break;
		n = next;
		def += n->repetition != PQ_REQUIRED;
		if (n->repetition == PQ_REPEATED && ++rep == r)
			return def;
	}
	return def;
}

int pq_writer_write_column(pq_writer *w, size_t col, const pq_column_batch *b, ids_error *err)
{
	if (w->state)
		return ids_fail(err, IDS_EINVAL, "writer is closed or failed");
	if (col >= w->ncols)
		return ids_fail(err, IDS_EINVAL, "column %zu out of range (%zu columns)", col, w->ncols);
	pqw_col *c = &w->cols[col];
	const char *name = c->leaf->name;
	if ((c->max_def && !b->def && b->n) || (c->max_rep && !b->rep && b->n))
		return ids_fail(err, IDS_EINVAL, "column '%s': levels missing", name);
	if (!c->max_def && !c->max_rep && b->n != b->n_values)
		return ids_fail(err, IDS_EINVAL, "column '%s': %zu entries but %zu values", name, b->n,
				b->n_values);
	if (b->n && c->max_rep && b->rep[0] != 0)
		return ids_fail(err, IDS_EINVAL, "column '%s': a batch must start a row (rep[0] = 0)",
				name);
	int16_t need[PQW_MAX_DEPTH + 1];
	for (int r = 1; r <= c->max_rep; r++)
		need[r] = (int16_t)pqw_rep_def(w, c, r);
	size_t nv = 0, rows = 0;
	for (size_t i = 0; i < b->n; i++) {
		int16_t d = c->max_def ? b->def[i] : 0, r = c->max_rep ? b->rep[i] : 0;
		if (d < 0 || d > c->max_def || r < 0 || r > c->max_rep)
			return ids_fail(err, IDS_EINVAL, "column '%s': entry %zu: level out of range "
					"(def %d of %d, rep %d of %d)", name, i, d, c->max_def, r,
					c->max_rep);
		if (r > 0 && d < need[r])
			return ids_fail(err, IDS_EINVAL, "column '%s': entry %zu: rep %d with def %d "
					"(a repeated entry needs def >= %d)", name, i, r, d, need[r]);
		nv += d == c->max_def;
		rows += r == 0;
	}
	if (nv != b->n_values)
		return ids_fail(err, IDS_EINVAL, "column '%s': levels say %zu values, batch has %zu",
				name, nv, b->n_values);
	const uint8_t *v = b->values;
	const pq_bytes *bv = b->values;
	size_t k = 0;
	for (size_t i = 0; i < b->n; i++) {
		int16_t d = c->max_def ? b->def[i] : 0, r = c->max_rep ? b->rep[i] : 0;
		int rc;
		if (r == 0 && (i & 1023) == 0 && i) {
			/* pages need only start at this column's row boundaries */
			if (pqw_staged_bytes(c) >= w->o.page_bytes && (rc = pqw_flush_page(w, c, err))) {
				w->state = -1;
				return rc;
			}
		}
		if (d < c->max_def) {
			rc = pqw_put_null(c, d, r);
		} else if (c->type == PQ_BYTE_ARRAY) {
			rc = pqw_put_value(c, d, r, bv[k].ptr, bv[k].len);
			k++;
		} else if (c->type == PQ_BOOLEAN) {
			uint8_t t = v[k++] ? 1 : 0;
			rc = pqw_put_value(c, d, r, &t, 1);
		} else {
			rc = pqw_put_value(c, d, r, v + k * (size_t)c->width, (size_t)c->width);
			k++;
		}
		if (rc) {
			w->state = -1;
			return ids_fail(err, rc, "column '%s': %s", name,
					rc == IDS_ELIMIT ? "value too large" : "out of memory");
		}
	}
	c->rows += (int64_t)rows;
	return 0;
}

int pq_writer_end_rows(pq_writer *w, size_t n_rows, ids_error *err)
{
	if (w->state)
		return ids_fail(err, IDS_EINVAL, "writer is closed or failed");
	for (size_t i = 0; i < w->ncols; i++)
		if (w->cols[i].rows != (int64_t)n_rows)
			return ids_fail(err, IDS_EINVAL, "column '%s' has %lld new rows, expected %zu",
					w->cols[i].leaf->name, (long long)w->cols[i].rows, n_rows);
	for (size_t i = 0; i < w->ncols; i++)
		w->cols[i].rows = 0;
	int rc = pqw_rows_done(w, n_rows, err);
	if (rc)
		w->state = -1;
	return rc;
}
