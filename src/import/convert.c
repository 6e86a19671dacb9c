/* The import's own type choices on top of the reader's JSON (docs/types.md): DECIMAL columns
 * whose values a double holds exactly become numbers, INTERVAL an ISO-8601 duration, integers
 * beyond 2^53 {"$bigint":..}. Used per row by import.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idbsync/value.h"
#include "import_int.h"

/* JavaScript numbers hold integers exactly only up to 2^53: larger INT64/UINT64 values travel
 * as {"$bigint":"digits"} (a BigInt in the browser) instead of silently rounding. */
static int is_big_int(const char *p, size_t n)
{
	if (n < 16)
		return 0;
	int neg = p[0] == '-';
	const char *d = p + neg;
	size_t dn = n - (size_t)neg;
	if (dn > 16)
		return 1;
	return strncmp(d, "9007199254740992", 16) > 0; /* 16 digits: compare with 2^53 */
}

int imp_widen_big_ints(ids_json *j, ids_buf *val)
{
	if (ids_json_parse(j, val->data, val->len, 0, 64, NULL))
		return 0;
	int any = 0;
	for (size_t t = 0; t < j->ntok && !any; t++)
		any = j->tok[t].type == IDS_JNUM && j->tok[t].is_int &&
		      is_big_int(val->data + j->tok[t].start, j->tok[t].end - j->tok[t].start);
	if (!any)
		return 0;
	ids_buf out = IDS_BUF_INIT;
	size_t pos = 0;
	for (size_t t = 0; t < j->ntok; t++) {
		const ids_jtok *k = &j->tok[t];
		if (k->type != IDS_JNUM || !k->is_int || !is_big_int(val->data + k->start, k->end - k->start))
			continue;
		ids_buf_append(&out, val->data + pos, k->start - pos);
		ids_buf_puts(&out, "{\"$bigint\":\"");
		ids_buf_append(&out, val->data + k->start, k->end - k->start);
		ids_buf_puts(&out, "\"}");
		pos = k->end;
	}
	ids_buf_append(&out, val->data + pos, val->len - pos);
	ids_buf_reset(val);
	ids_buf_append(val, out.data, out.len);
	ids_buf_free(&out);
	return out.failed;
}

/* DECIMAL text "123.45" is already valid JSON number syntax. */
static int decimal_text(const char *p, size_t n)
{
	if (!n || n > 60)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || p[i] == '.' || (p[i] == '-' && i == 0)))
			return 0;
	return 1;
}

/* INTERVAL (12 bytes: months, days, milliseconds, unsigned little-endian per the Parquet spec;
 * DuckDB refuses to write negative intervals) as an ISO-8601 duration "P1Y2M3DT4H5M6.789S"
 * (Temporal.Duration.from reads it). */
static int put_interval(ids_buf *val, const ids_json *j, size_t t, const char *row)
{
	long b = j->tok[t].type == IDS_JOBJ ? ids_json_get(j, t, "$bin") : -1;
	if (b < 0 || j->tok[b].type != IDS_JSTR)
		return 0;
	ids_buf raw = IDS_BUF_INIT;
	int ok = !ids_base64_decode(row + j->tok[b].start + 1, j->tok[b].end - j->tok[b].start - 2, &raw) &&
		 raw.len == 12;
	if (ok) {
		uint32_t f[3];
		for (int i = 0; i < 3; i++) {
			const uint8_t *q = (const uint8_t *)raw.data + 4 * i;
			f[i] = (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24;
		}
		uint32_t ms = f[2], h = ms / 3600000, mi = ms / 60000 % 60, sec = ms / 1000 % 60, frac = ms % 1000;
		ids_buf_puts(val, "\"P");
		if (f[0] / 12)
			ids_buf_printf(val, "%uY", f[0] / 12);
		if (f[0] % 12)
			ids_buf_printf(val, "%uM", f[0] % 12);
		if (f[1])
			ids_buf_printf(val, "%uD", f[1]);
		if (ms) {
			ids_buf_putc(val, 'T');
			if (h)
				ids_buf_printf(val, "%uH", h);
			if (mi)
				ids_buf_printf(val, "%uM", mi);
			if (sec || frac)
				ids_buf_printf(val, frac ? "%u.%03uS" : "%uS", sec, frac);
		} else if (!f[0] && !f[1]) {
			ids_buf_puts(val, "T0S");
		}
		ids_buf_putc(val, '"');
	}
	ids_buf_free(&raw);
	return ok;
}

int imp_convs_plan(imp_convs *cv, const pq_node *root)
{
	imp_convs_free(cv);
	cv->c = calloc(root->n_children + 1, sizeof *cv->c);
	if (!cv->c)
		return IDS_ENOMEM;
	for (size_t i = 0; i < root->n_children; i++) {
		const pq_node *c = root->children[i];
		const pq_logical *lt = &c->logical;
		if (c->type == PQ_GROUP)
			continue;
		/* up to 15 significant digits a double holds every decimal exactly (DBL_DIG), and
		 * scale 0 is an integer (beyond 2^53 a $bigint, as for INT64) */
		if (lt->kind == PQ_LT_DECIMAL && (lt->precision <= 15 || lt->scale == 0))
			cv->c[cv->n++] = (imp_conv){c->name, IMP_CONV_NUMBER};
		else if (c->converted == PQ_CT_INTERVAL && c->type == PQ_FIXED_LEN_BYTE_ARRAY && c->type_length == 12)
			cv->c[cv->n++] = (imp_conv){c->name, IMP_CONV_INTERVAL};
	}
	return 0;
}

void imp_convs_free(imp_convs *cv)
{
	free(cv->c);
	cv->c = NULL;
	cv->n = 0;
}

static const imp_conv *find(const imp_convs *cv, const ids_json *j, size_t kt)
{
	for (size_t c = 0; c < cv->n; c++)
		if (ids_json_streq(j, kt, cv->c[c].name))
			return &cv->c[c];
	return NULL;
}

void imp_convs_put(const imp_convs *cv, const ids_json *j, size_t kt, size_t vt, const char *row, ids_buf *val)
{
	const imp_conv *c = find(cv, j, kt);
	const ids_jtok *v = &j->tok[vt];
	if (c && c->kind == IMP_CONV_NUMBER && v->type == IDS_JSTR && !v->escaped &&
	    decimal_text(row + v->start + 1, v->end - v->start - 2)) {
		ids_buf_append(val, row + v->start + 1, v->end - v->start - 2);
		return;
	}
	if (c && c->kind == IMP_CONV_INTERVAL && put_interval(val, j, vt, row))
		return;
	ids_buf_append(val, row + v->start, v->end - v->start);
}

void imp_convs_key(const imp_convs *cv, const char *field, const ids_json *j, size_t k, const char *row,
		   const char **p, size_t *n)
{
	const ids_jtok *t = &j->tok[k];
	*p = row + t->start;
	*n = t->end - t->start;
	for (size_t c = 0; c < cv->n; c++)
		if (cv->c[c].kind == IMP_CONV_NUMBER && !strcmp(cv->c[c].name, field) && t->type == IDS_JSTR &&
		    !t->escaped && decimal_text(*p + 1, *n - 2)) {
			(*p)++;
			*n -= 2;
		}
}
