/* Row-at-a-time API: callers that walk their own values (the lake, from a stored value's
 * tokens) put each leaf's level entries straight into the staged pages, the calls the JSON
 * shredder makes, with the levels checked so a caller bug cannot make a file readers
 * misread. A row is marked at its start and rolled back whole when it is cancelled. */
#include "pqw.h"

#include <stdlib.h>

#define NEED(w, col, r) ((w)->rep_need[(col) * (PQW_MAX_DEPTH + 1) + (size_t)(r)])

int pq_writer_row_begin(pq_writer *w, ids_error *err)
{
	if (w->state)
		return ids_fail(err, IDS_EINVAL, "writer is closed or failed");
	if (!w->rep_need) {
		w->rep_need = calloc(w->ncols ? w->ncols : 1, (PQW_MAX_DEPTH + 1) * sizeof *w->rep_need);
		if (!w->rep_need)
			return ids_fail(err, IDS_ENOMEM, "out of memory");
		for (size_t i = 0; i < w->ncols; i++)
			for (int r = 1; r <= w->cols[i].max_rep; r++)
				NEED(w, i, r) = (int16_t)pqw_rep_def(w, &w->cols[i], r);
	}
	if (w->in_row)
		pqw_row_rollback(w);   /* a row left open: it never happened */
	pqw_row_mark(w);
	w->in_row = 1;
	return 0;
}

int pq_writer_put(pq_writer *w, size_t col, int def, int rep, const void *value, size_t len,
		  ids_error *err)
{
	if (!w->in_row)
		return ids_fail(err, IDS_EINVAL, "pq_writer_put outside a row");
	if (col >= w->ncols)
		return ids_fail(err, IDS_EINVAL, "column %zu out of range (%zu columns)", col, w->ncols);
	pqw_col *c = &w->cols[col];
	const char *name = c->leaf->name;
	if (def < 0 || def > c->max_def || rep < 0 || rep > c->max_rep)
		return ids_fail(err, IDS_EINVAL, "column '%s': level out of range (def %d of %d, rep %d of %d)",
				name, def, c->max_def, rep, c->max_rep);
	if (rep ? c->cur.n_lv == c->m_lv || def < NEED(w, col, rep) : c->cur.rows != c->m_rows)
		return ids_fail(err, IDS_EINVAL, "column '%s': entry with rep %d and def %d out of order",
				name, rep, def);
	int rc;
	if (def < c->max_def) {
		if (value)
			return ids_fail(err, IDS_EINVAL, "column '%s': a value with def %d < %d", name, def,
					c->max_def);
		rc = pqw_put_null(c, (int16_t)def, (int16_t)rep);
	} else {
		if (c->width && len != (size_t)c->width)
			return ids_fail(err, IDS_EINVAL, "column '%s': %zu bytes for a %d-byte value", name,
					len, c->width);
		if (!value && len)
			return ids_fail(err, IDS_EINVAL, "column '%s': no value", name);
		uint8_t b;
		if (c->type == PQ_BOOLEAN) {
			b = value && *(const uint8_t *)value;
			value = &b;
		}
		rc = pqw_put_value(c, (int16_t)def, (int16_t)rep, value ? value : "", len);
	}
	if (rc)
		return ids_fail(err, rc, "column '%s': %s", name,
				rc == IDS_ELIMIT ? "value too large" : "out of memory");
	return 0;
}

int pq_writer_row_end(pq_writer *w, ids_error *err)
{
	if (!w->in_row)
		return ids_fail(err, IDS_EINVAL, "pq_writer_row_end outside a row");
	for (size_t i = 0; i < w->ncols; i++)
		if (w->cols[i].cur.rows != w->cols[i].m_rows + 1)
			return ids_fail(err, IDS_EINVAL, "column '%s' got no entry in this row",
					w->cols[i].leaf->name);
	w->in_row = 0;
	int rc = pqw_rows_done(w, 1, err);
	if (rc)
		w->state = -1;
	return rc;
}

void pq_writer_row_cancel(pq_writer *w)
{
	if (w && w->in_row) {
		pqw_row_rollback(w);
		w->in_row = 0;
	}
}
