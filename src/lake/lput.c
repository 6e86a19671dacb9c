/* The lake's direct path: a stored value's tokens (the one tokenizer, ids_json) walked
 * against the table's column types and put straight into the Parquet writer's leaf columns
 * with their Dremel levels (pq_writer_put), converted with the one value module (src/util).
 * It writes exactly what lk_emit_cols' row text would make the writer's JSON shredder write
 * (fuzz/fuzz_lake_flush.c compares the two) without printing and re-reading that text. */
#include "lake_int.h"

#include <string.h>

#include "idbsync/value.h"

#define TOK(j, t) (&(j)->tok[t])

typedef struct put_ctx {
	pq_writer *w;
	size_t col;                  /* the next leaf column */
	size_t first;                /* the first one (the tape records columns from it) */
	lk_emit_ctx *e;
	ids_error *err;
} put_ctx;

/* One leaf value into the writer at column col, and onto the tape if one is kept: a record
 * (u32 column from the first, i16 def, i16 rep, u32 length or UINT32_MAX for null, bytes). */
static int put(put_ctx *x, size_t col, int def, int rep, const void *p, size_t n)
{
	ids_buf *t = x->e->tape;
	if (t) {
		uint8_t h[12];
		uint32_t c = (uint32_t)(col - x->first), len = p ? (uint32_t)n : UINT32_MAX;
		int16_t lv[2] = {(int16_t)def, (int16_t)rep};
		memcpy(h, &c, 4);
		memcpy(h + 4, lv, 4);
		memcpy(h + 8, &len, 4);
		if (!ids_buf_reserve(t, 12 + n)) {   /* one growth check per leaf: this runs per value */
			memcpy(t->data + t->len, h, 12);
			if (p && n)
				memcpy(t->data + t->len + 12, p, n);
			t->len += 12 + (p ? n : 0);
		}
	}
	return pq_writer_put(x->w, col, def, rep, p, n, x->err);
}

int lk_put_tape(pq_writer *w, size_t first, const ids_buf *tape, ids_error *err)
{
	const char *p = tape->data, *end = p ? p + tape->len : NULL;
	int rc = 0;
	while (!rc && p && p < end) {
		uint32_t c, len;
		int16_t lv[2];
		memcpy(&c, p, 4);
		memcpy(lv, p + 4, 4);
		memcpy(&len, p + 8, 4);
		p += 12;
		rc = pq_writer_put(w, first + c, lv[0], lv[1], len == UINT32_MAX ? NULL : p, len == UINT32_MAX ? 0 : len, err);
		p += len == UINT32_MAX ? 0 : len;
	}
	return rc;
}

/* Leaf columns of a column of type t (lk_type_node's shape: a struct's fields, a list's element). */
static size_t leaves(const lk_type *t)
{
	if (!t || (t->kind != LK_STRUCT && t->kind != LK_LIST))
		return 1;
	if (t->kind == LK_LIST)
		return leaves(t->elem);
	size_t n = 0;
	for (size_t i = 0; i < t->n_fields; i++)
		n += leaves(t->fields[i].type);
	return n;
}

/* Every leaf of t null at level def (the shredder's shred_nulls). */
static int put_nulls(put_ctx *x, const lk_type *t, int def, int rep)
{
	for (size_t i = leaves(t); i; i--) {
		int rc = put(x, x->col++, def, rep, NULL, 0);
		if (rc)
			return rc;
	}
	return 0;
}

/* The leaf at hand has the physical type (and, for byte arrays, the string-ness) the
 * column type gives it: a writer opened with another schema version than the table's
 * refuses the row (then the text path decides) instead of taking bits of another type. */
static int leaf_is(put_ctx *x, pq_type type, int str)
{
	const pq_node *n = pq_writer_column(x->w, x->col, NULL, NULL);
	if (n && n->type == type && (type != PQ_BYTE_ARRAY || (n->logical.kind == PQ_LT_STRING) == str))
		return 0;
	return ids_fail(x->err, IDS_EINVAL, "column %zu does not have the table's type", x->col);
}

static int put_as(put_ctx *x, pq_type type, int str, int def, int rep, const void *p, size_t n)
{
	int rc = leaf_is(x, type, str);
	return rc ? rc : put(x, x->col++, def, rep, p, n);
}

/* String token s's UTF-8 (lone surrogates as U+FFFD, counted, as put_str does in the text). */
static int put_string(put_ctx *x, const ids_json *j, long s, int def, int rep)
{
	const ids_jtok *t = TOK(j, s);
	if (!t->escaped)
		return put_as(x, PQ_BYTE_ARRAY, 1, def, rep, j->text + t->start + 1, t->end - t->start - 2);
	ids_buf *b = x->e->tmp;
	ids_buf_reset(b);
	if (ids_json_unescape_text(j->text + t->start + 1, t->end - t->start - 2, IDS_UNESC_FFFD, b, NULL))
		x->e->n[LK_FB_SURROGATE]++;
	if (b->failed)
		return ids_fail(x->err, IDS_ENOMEM, "out of memory");
	return put_as(x, PQ_BYTE_ARRAY, 1, def, rep, b->data ? b->data : "", b->len);
}

/* A string column: strings as they are, tagged scalars their string, anything else its JSON text. */
static int put_text(put_ctx *x, const ids_json *j, long v, int def, int rep)
{
	long s = TOK(j, v)->type == IDS_JSTR ? v : lk_tagged_text(j, v);
	if (s >= 0)
		return put_string(x, j, s, def, rep);
	const ids_jtok *t = TOK(j, v);
	if (t->type == IDS_JNUM || t->type == IDS_JTRUE || t->type == IDS_JFALSE)
		return put_as(x, PQ_BYTE_ARRAY, 1, def, rep, j->text + t->start, t->end - t->start);
	ids_buf *b = x->e->tmp;
	ids_buf_reset(b);
	ids_json_minify(j, (size_t)v, b);
	if (b->failed)
		return ids_fail(x->err, IDS_ENOMEM, "out of memory");
	return put_as(x, PQ_BYTE_ARRAY, 1, def, rep, b->data ? b->data : "", b->len);
}

/* The string of {"<tag>": s} unescaped strictly (as the shredder reads it) into e->tmp:
 * 0, 1 when v has no such string (the column's null), or IDS_EINVAL. */
static int tag_string(put_ctx *x, const ids_json *j, long v, const char *tag)
{
	long s = TOK(j, v)->type == IDS_JOBJ ? ids_json_get(j, (size_t)v, tag) : -1;
	if (s < 0 || TOK(j, s)->type != IDS_JSTR)
		return 1;
	const ids_jtok *t = TOK(j, s);
	ids_buf_reset(x->e->tmp);
	if (ids_json_unescape_text(j->text + t->start + 1, t->end - t->start - 2, IDS_UNESC_STRICT, x->e->tmp, NULL) < 0)
		return ids_fail(x->err, IDS_EINVAL, "unpaired surrogate in \\u escape");
	return x->e->tmp->failed ? ids_fail(x->err, IDS_ENOMEM, "out of memory") : 0;
}

static int put_double(put_ctx *x, const ids_json *j, long v, int def, int rep)
{
	double d;
	const ids_jtok *t = TOK(j, v);
	if (t->type == IDS_JNUM) {
		/* as the shredder reads the number's text: exact integers, else correctly rounded */
		ids_jlex lx;
		const char *p = j->text + t->start;
		if (ids_jlex_number(p, j->text + t->end, &lx))
			return ids_fail(x->err, IDS_EINVAL, "bad number");
		d = lx.fits && lx.i >= -(1LL << 53) && lx.i <= (1LL << 53) ? (double)lx.i
									 : ids_json_to_double(p, t->end - t->start);
		return put_as(x, PQ_DOUBLE, 0, def, rep, &d, 8);
	}
	int rc = tag_string(x, j, v, "$num");
	if (rc)
		return rc == 1 ? put_nulls(x, NULL, def - 1, rep) : rc;
	if (ids_num_special(x->e->tmp->data ? x->e->tmp->data : "", x->e->tmp->len, &d))
		return ids_fail(x->err, IDS_EINVAL, "bad $num value");
	return put_as(x, PQ_DOUBLE, 0, def, rep, &d, 8);
}

static int put_binary(put_ctx *x, const ids_json *j, long v, int def, int rep)
{
	int rc = tag_string(x, j, v, "$bin");
	if (rc)
		return rc == 1 ? put_nulls(x, NULL, def - 1, rep) : rc;
	ids_buf *b = x->e->bin;
	ids_buf_reset(b);
	if (ids_base64_decode_opt(x->e->tmp->data ? x->e->tmp->data : "", x->e->tmp->len, IDS_B64_PAD_OPTIONAL, b))
		return ids_fail(x->err, IDS_EINVAL, "bad base64 in $bin");
	return put_as(x, PQ_BYTE_ARRAY, 0, def, rep, b->data ? b->data : "", b->len);
}

/* The earliest instant an INT96 timestamp holds: Julian day 0 (-4713-11-24), in ms. */
#define INT96_MIN_MS (-2440588.0 * 86400000.0)

/* ms as the bytes of timestamp column col of w (INT96 or INT64 micros, by its type) */
static int ms_value(pq_writer *w, size_t col, int64_t ms, uint8_t b[12], size_t *n, ids_error *err)
{
	int64_t secs;
	int32_t nanos;
	ids_ms_split(ms, &secs, &nanos);
	return pq_instant_value(b, n, pq_writer_column(w, col, NULL, NULL), secs, nanos, err);
}

int lk_put_ms(pq_writer *w, size_t col, int def, int rep, int64_t ms, ids_error *err)
{
	uint8_t b[12];
	size_t n;
	int rc = ms_value(w, col, ms, b, &n, err);
	return rc ? rc : pq_writer_put(w, col, def, rep, b, n, err);
}

/* {"$date":..} as emit_date makes it: JavaScript's milliseconds; before Julian day 0 a
 * compat (INT96) column holds null, counted. */
static int put_date(put_ctx *x, const ids_json *j, long v, int def, int rep)
{
	double ms;
	if (tag_string(x, j, v, "$date") || !x->e->tmp->data || ids_iso_to_ms(x->e->tmp->data, x->e->tmp->len, &ms))
		return put_nulls(x, NULL, def - 1, rep);
	if (x->e->profile == PQ_PROFILE_COMPAT && ms < INT96_MIN_MS) {
		x->e->n[LK_FB_DATE_RANGE]++;
		return put_nulls(x, NULL, def - 1, rep);
	}
	uint8_t b[12];
	size_t n;
	int rc = ms_value(x->w, x->col, (int64_t)ms, b, &n, x->err);
	return rc ? rc : put(x, x->col++, def, rep, b, n);
}

/* Value v (-1: absent) of a column of type t; def: its definition level when present, rep:
 * the repetition level of its first entry, maxrep: that of the repeated nodes above it. */
static int put_value(put_ctx *x, const lk_type *t, const ids_json *j, long v, int def, int rep, int maxrep)
{
	if (lk_value_null(j, v))
		return put_nulls(x, t, def - 1, rep);
	const ids_jtok *tk = TOK(j, v);
	switch (t ? t->kind : LK_STRING) {
	case LK_NULL:
	case LK_STRING:
	case LK_JSON:
		return put_text(x, j, v, def, rep);
	case LK_BOOL: {
		uint8_t b = tk->type == IDS_JTRUE;
		if (tk->type != IDS_JTRUE && tk->type != IDS_JFALSE)
			return put_nulls(x, t, def - 1, rep);
		return put_as(x, PQ_BOOLEAN, 0, def, rep, &b, 1);
	}
	case LK_BIGINT: {
		int64_t i;
		if (!lk_is_i64(j, v) || ids_json_i64(j, (size_t)v, &i))
			return put_nulls(x, t, def - 1, rep);
		return put_as(x, PQ_INT64, 0, def, rep, &i, 8);
	}
	case LK_DOUBLE:
		return put_double(x, j, v, def, rep);
	case LK_TIMESTAMP:
		return put_date(x, j, v, def, rep);
	case LK_BINARY:
		return put_binary(x, j, v, def, rep);
	case LK_STRUCT: {
		long obj = lk_plain_object(j, v);
		if (obj < 0 || !t->n_fields)
			return put_nulls(x, t, def - 1, rep);
		for (size_t i = 0; i < t->n_fields; i++) {
			const lk_col *f = &t->fields[i];
			int rc = put_value(x, f->type, j, lk_get_field(j, obj, f->field, f->field_len), def + 1, rep, maxrep);
			if (rc)
				return rc;
		}
		return 0;
	}
	case LK_LIST: {
		/* 3-level list: the optional list (def), its repeated group (def + 1), the
		 * optional element (def + 2) */
		if (tk->type != IDS_JARR)
			return put_nulls(x, t, def - 1, rep);
		if (!tk->size)
			return put_nulls(x, t, def, rep);
		size_t first = x->col, e = (size_t)v + 1;
		for (uint32_t i = 0; i < tk->size; i++, e = TOK(j, e)->next) {
			x->col = first;
			int rc = put_value(x, t->elem, j, (long)e, def + 2, i ? maxrep + 1 : rep, maxrep + 1);
			if (rc)
				return rc;
		}
		return 0;
	}
	}
	return put_nulls(x, t, def - 1, rep);
}

int lk_put_cols(pq_writer *w, size_t *col, lk_emit_ctx *e, const lk_col *cols, size_t n, const char *skip,
		const ids_json *j, long v, ids_error *err)
{
	put_ctx x = {w, *col, *col, e, err};
	lk_cols_cur k;
	lk_cols_begin(&k, j, v, skip);
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		long f = lk_cols_value(&k, &cols[i]);
		if (f != -2)
			rc = put_value(&x, cols[i].type, j, f, 1, 0, 0);
	}
	*col = x.col;
	return rc;
}
