/* Column metrics of an Iceberg data file, taken from the statistics our Parquet writer put in
 * the footer (row-group min/max, null counts, chunk sizes), so engines prune files by value
 * and plan by size: per top-level primitive column with a field id, the value count, the null
 * count, the compressed size, lower/upper bounds in Iceberg's single-value serialization (LE 8
 * bytes for long, double and timestamptz, one byte for boolean, the bytes of a string or
 * binary) and, for a double column, the NaN count: the footer's nan_count, which our writer
 * puts in every double chunk's statistics, so a file the lake wrote is not read back; only a
 * file without it (another writer's, or one written before nan_count was) has its double
 * column decoded and counted. */
#include "iceberg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "idbsync/pq_read.h"

static int64_t rd64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return (int64_t)v;
}

static double rdd(const uint8_t *p)
{
	int64_t v = rd64(p);
	double d;
	memcpy(&d, &v, sizeof d);
	return d;
}

/* <0, 0, >0 as a < b for the column's physical type (byte arrays unsigned, as Iceberg). */
static int cmp(pq_type t, const uint8_t *a, uint32_t an, const uint8_t *b, uint32_t bn)
{
	if (t == PQ_INT64) {
		int64_t x = rd64(a), y = rd64(b);
		return x < y ? -1 : x > y;
	}
	if (t == PQ_DOUBLE) {
		double x = rdd(a), y = rdd(b);
		return x < y ? -1 : x > y;
	}
	if (t == PQ_BOOLEAN)
		return (int)a[0] - (int)b[0];
	int c = memcmp(a, b, an < bn ? an : bn);
	return c ? c : an < bn ? -1 : an > bn;
}

/* a value fits a bound as it is (fixed-size types, short byte arrays) */
static int usable(pq_type t, const uint8_t *p, uint32_t n)
{
	if (t == PQ_INT64 || t == PQ_DOUBLE)
		return n == 8 && (t != PQ_DOUBLE || !isnan(rdd(p)));
	if (t == PQ_BOOLEAN)
		return n >= 1;
	return 1;
}

/* Lower bound: a string prefix at a UTF-8 boundary is still a lower bound. Upper: only when
 * the whole value fits. */
static void set_bound(uint8_t *dst, uint8_t *len, pq_type t, const uint8_t *p, uint32_t n, int upper, int utf8)
{
	if (t == PQ_BOOLEAN) {
		dst[0] = p[0] ? 1 : 0;
		*len = 1;
		return;
	}
	if (n <= ICE_BOUND_MAX) {
		memcpy(dst, p, n);
		*len = (uint8_t)(n ? n : 0);
		if (!n)
			*len = 0;   /* an empty string: no bound (a zero length means none here) */
		return;
	}
	if (upper) {
		*len = 0;
		return;
	}
	uint32_t k = ICE_BOUND_MAX;
	while (utf8 && k > 0 && (p[k] & 0xc0) == 0x80)
		k--;   /* p[k] is the first byte left out: cut before a continuation byte */
	memcpy(dst, p, k);
	*len = (uint8_t)k;
}

int ice_value_cmp(const char *type, const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	pq_type t = !strcmp(type, "long") || !strcmp(type, "timestamptz") ? PQ_INT64
		    : !strcmp(type, "double")                             ? PQ_DOUBLE
		    : !strcmp(type, "boolean")                            ? PQ_BOOLEAN
									  : PQ_BYTE_ARRAY;
	if (t != PQ_BYTE_ARRAY && (an < (t == PQ_BOOLEAN ? 1u : 8u) || bn < (t == PQ_BOOLEAN ? 1u : 8u)))
		return an < bn ? -1 : an > bn;
	return cmp(t, a, (uint32_t)an, b, (uint32_t)bn);
}

/* The NaNs of double column c in all row groups: the sum of the footer's nan_counts when
 * every chunk has one, else read back (a chunk's values decoded), or -1 when a chunk cannot be
 * read back: the count is optional, and the commit of a file is not made to depend on it. */
static int64_t count_nans(pq_reader *r, const pq_file_meta *m, size_t c)
{
	int64_t n = 0;
	size_t g = 0;
	for (; g < m->n_row_groups; g++) {
		int64_t k = m->row_groups[g].chunks[c].stats.nan_count;
		if (k < 0 || k > m->row_groups[g].num_rows)
			break;   /* not written (or not believable): count them all below */
		n += k;
	}
	if (g == m->n_row_groups)
		return n;
	n = 0;
	for (g = 0; g < m->n_row_groups; g++) {
		pq_read_batch b;
		ids_error e = IDS_ERROR_INIT;
		if (pq_reader_read_column(r, g, c, &b, &e))
			return -1;
		for (size_t i = 0; i < b.n_values; i++) {
			double d;
			memcpy(&d, (const uint8_t *)b.values + i * sizeof d, sizeof d);
			n += isnan(d) != 0;
		}
	}
	return n;
}

/* The identity partition value of column x of a file: one value in every row (min == max in
 * every row group: a cut byte-array bound never equals its bumped maximum, so equal bounds are
 * exact), or only nulls. */
static void part_value(ice_file *f, const ice_metric *x, pq_type t, const uint8_t *lo, uint32_t lon, const uint8_t *hi,
		       uint32_t hin, int bounds)
{
	if (x->nulls >= 0 && x->nulls == f->rows) {
		f->pset = f->pnull = 1;
		return;
	}
	if (x->nulls != 0 || !bounds || !lo || !hi || lon != hin || memcmp(lo, hi, lon) || lon > ICE_PART_MAX)
		return;
	if (t == PQ_BOOLEAN) {
		f->pval[0] = lo[0] ? 1 : 0;
		f->plen = 1;
	} else {
		memcpy(f->pval, lo, lon);
		f->plen = (uint8_t)lon;
	}
	f->pset = 1;
}

int ice_file_metrics(const char *path, const char *part, ice_file *f, ids_error *err)
{
	pq_reader *r = NULL;
	int rc = pq_reader_open(&r, path, NULL, err);
	if (rc)
		return rc;
	const pq_file_meta *m = pq_reader_meta(r);
	ice_metric *out = calloc(m->n_columns + 1, sizeof *out);
	size_t n = 0;
	if (!out)
		rc = ids_fail(err, IDS_ENOMEM, "out of memory");
	for (size_t c = 0; !rc && c < m->n_columns; c++) {
		const pq_node *node = m->columns[c].node;
		pq_type t = node->type;
		if (node->field_id <= 0 || strchr(m->columns[c].path, '.') ||
		    (t != PQ_INT64 && t != PQ_DOUBLE && t != PQ_BOOLEAN && t != PQ_BYTE_ARRAY))
			continue;
		ice_metric *x = &out[n++];
		x->id = node->field_id;
		x->nans = t == PQ_DOUBLE ? count_nans(r, m, c) : -1;
		int utf8 = node->logical.kind == PQ_LT_STRING || node->converted == PQ_CT_UTF8;
		int bounds = 1;
		const uint8_t *lo = NULL, *hi = NULL;
		uint32_t lon = 0, hin = 0;
		for (size_t g = 0; g < m->n_row_groups; g++) {
			const pq_chunk_meta *ch = &m->row_groups[g].chunks[c];
			const pq_stats *s = &ch->stats;
			x->values += ch->num_values;
			x->size += ch->total_compressed_size;
			if (s->null_count < 0 || x->nulls < 0)
				x->nulls = -1;
			else
				x->nulls += s->null_count;
			int64_t non_null = s->null_count >= 0 ? m->row_groups[g].num_rows - s->null_count : -1;
			if (!non_null)
				continue;   /* all null: no values to bound */
			if (!s->has_min || !s->has_max || s->legacy_minmax || !usable(t, s->min, s->min_len) ||
			    !usable(t, s->max, s->max_len)) {
				bounds = 0;
				continue;
			}
			if (!lo || cmp(t, s->min, s->min_len, lo, lon) < 0) {
				lo = s->min;
				lon = s->min_len;
			}
			if (!hi || cmp(t, s->max, s->max_len, hi, hin) > 0) {
				hi = s->max;
				hin = s->max_len;
			}
		}
		if (bounds && lo && hi) {
			set_bound(x->lo, &x->lo_len, t, lo, lon, 0, utf8);
			set_bound(x->hi, &x->hi_len, t, hi, hin, 1, utf8);
		}
		if (part && !strcmp(m->columns[c].path, part)) {
			f->rows = m->num_rows;
			part_value(f, x, t, lo, lon, hi, hin, bounds);
		}
	}
	f->rows = m->num_rows;
	pq_reader_free(r);
	if (rc) {
		free(out);
		return rc;
	}
	free(f->m);
	f->m = out;
	f->n_m = n;
	return 0;
}
