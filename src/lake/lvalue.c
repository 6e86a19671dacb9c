/* Stored values against lake column types: type inference (observe) and conversion into the
 * row text the Parquet writer shreds (emit). Both work on the zero-copy tokens of the stored
 * JSON text: numbers and strings are copied as their original bytes, so no value is parsed
 * into a tree or printed back (jansson parse + our dump were two thirds of the lake's time). */
#include "lake_int.h"

#include <stdlib.h>
#include <string.h>

#include "idbsync/value.h"

#define TOK(j, t) (&(j)->tok[t])

/* Raw bytes of token t: strings with their quotes and escapes, numbers as written. */
static void put_raw(ids_buf *b, const ids_json *j, long t)
{
	ids_buf_append(b, j->text + TOK(j, t)->start, TOK(j, t)->end - TOK(j, t)->start);
}

/* Key token k equals s (n bytes, which may hold NUL). */
static int key_eq(const ids_json *j, size_t k, const char *s, size_t n)
{
	const ids_jtok *t = TOK(j, k);
	if (!t->escaped)
		return t->end - t->start - 2 == n && !memcmp(j->text + t->start + 1, s, n);
	ids_buf tmp = IDS_BUF_INIT;
	int eq = !ids_json_unescape(j, k, &tmp) && tmp.len == n && (!n || !memcmp(tmp.data, s, n));
	ids_buf_free(&tmp);
	return eq;
}

/* The first character of key k after unescaping is '$'. */
static int key_is_tag(const ids_json *j, size_t k)
{
	const char *s = j->text + TOK(j, k)->start + 1;
	if (s[0] == '$')
		return 1;
	return TOK(j, k)->escaped && s[0] == '\\' && !strncmp(s, "\\u0024", 6);
}

static long get(const ids_json *j, long obj, const char *name) { return obj < 0 ? -1 : ids_json_get(j, (size_t)obj, name); }

long lk_get_field(const ids_json *j, long obj, const char *field, size_t len)
{
	if (obj < 0 || TOK(j, obj)->type != IDS_JOBJ)
		return -1;
	size_t k = (size_t)obj + 1;
	for (uint32_t i = 0; i < TOK(j, obj)->size; i++, k = TOK(j, k + 1)->next)
		if (key_eq(j, k, field, len))
			return (long)k + 1;
	return -1;
}

long lk_plain_object(const ids_json *j, long t)
{
	if (t < 0 || TOK(j, t)->type != IDS_JOBJ)
		return -1;
	if (TOK(j, t)->size == 1 && key_eq(j, (size_t)t + 1, "$esc", 4))
		return TOK(j, t + 2)->type == IDS_JOBJ ? t + 2 : -1;
	size_t k = (size_t)t + 1;
	for (uint32_t i = 0; i < TOK(j, t)->size; i++, k = TOK(j, k + 1)->next)
		if (key_is_tag(j, k))
			return -1; /* a tagged value ($date, $bin, $map, ...) */
	return t;
}

/* An integer token that fits int64 (longer ones are doubles, as JSON readers take them). */
int lk_is_i64(const ids_json *j, long t)
{
	const ids_jtok *k = TOK(j, t);
	if (k->type != IDS_JNUM || !k->is_int)
		return 0;
	if (k->end - k->start <= 18)
		return 1;
	int64_t x;
	return !ids_json_i64(j, (size_t)t, &x);
}

static int is_str(const ids_json *j, long t) { return t >= 0 && TOK(j, t)->type == IDS_JSTR; }

static lk_kind value_kind(const ids_json *j, long t, int nested);

/* Some field of plain object o has a value of a kind (a struct needs a field to exist). */
static int any_field(const ids_json *j, long o, int nested)
{
	size_t k = (size_t)o + 1;
	for (uint32_t i = 0; i < TOK(j, o)->size; i++, k = TOK(j, k + 1)->next)
		if (value_kind(j, (long)k + 1, nested) != LK_NULL)
			return 1;
	return 0;
}

/* The kind a single value has on its own (containers: their own kind, contents aside; an
 * object whose fields are all null is null, like a field that was only ever null). */
static lk_kind value_kind(const ids_json *j, long t, int nested)
{
	switch (TOK(j, t)->type) {
	case IDS_JNULL: return LK_NULL;
	case IDS_JTRUE:
	case IDS_JFALSE: return LK_BOOL;
	case IDS_JNUM: return lk_is_i64(j, t) ? LK_BIGINT : LK_DOUBLE;
	case IDS_JSTR: return LK_STRING;
	case IDS_JARR: return nested == LK_NESTED_STRUCT ? LK_LIST : LK_JSON;
	default: break;
	}
	long o = lk_plain_object(j, t);
	if (o >= 0)
		return nested == LK_NESTED_STRUCT ? (any_field(j, o, nested) ? LK_STRUCT : LK_NULL) : LK_JSON;
	long x;
	if ((x = get(j, t, "$date")) >= 0)
		return is_str(j, x) ? LK_TIMESTAMP : LK_NULL;
	if (get(j, t, "$num") >= 0)
		return LK_DOUBLE;
	if (get(j, t, "$bin") >= 0)
		return LK_BINARY;
	if (get(j, t, "$bigint") >= 0)
		return LK_STRING;
	if (get(j, t, "$undefined") >= 0)
		return LK_NULL;
	return LK_JSON; /* $map, $set, $regexp: their JSON text */
}

static int reserved_has(const char *const *reserved, const char *n)
{
	for (size_t i = 0; reserved && reserved[i]; i++)
		if (!strcmp(reserved[i], n))
			return 1;
	return 0;
}

typedef struct taken_ctx {
	lk_col *cols;
	size_t n;
	const char *const *reserved;
} taken_ctx;

static int name_taken(void *ctx, const char *n)
{
	taken_ctx *t = ctx;
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->cols[i].name, n))
			return 1;
	return reserved_has(t->reserved, n);
}

static int observe_type(lk_type **tp, const ids_json *j, long v, int nested, int version);

static int add_col(lk_col **cols, size_t *n, const char *field, size_t field_len, const ids_json *j, long v,
		   int nested, int version, const char *const *reserved)
{
	lk_col *c = realloc(*cols, (*n + 1) * sizeof *c);
	if (!c)
		return 0;
	*cols = c;
	char name[128];
	lk_sanitize(field, name, sizeof name);
	taken_ctx tc = {*cols, *n, reserved};
	lk_unique(name, sizeof name, name_taken, &tc);
	lk_col *x = &c[*n];
	memset(x, 0, sizeof *x);
	x->name = strdup(name);
	x->field = malloc(field_len + 1);   /* JavaScript keys may hold NUL: kept whole */
	if (x->field) {
		memcpy(x->field, field, field_len);
		x->field[field_len] = 0;
	}
	x->field_len = field_len;
	x->since = version;
	(*n)++;
	observe_type(&x->type, j, v, nested, version);
	return 1;
}

static int observe_cols(lk_col **cols, size_t *n, const ids_json *j, long obj, int nested, int version,
			const char *const *reserved);

/* Merges value v into *tp. Returns the bit set of lk_cols_observe. */
static int observe_type(lk_type **tp, const ids_json *j, long v, int nested, int version)
{
	lk_kind k = value_kind(j, v, nested);
	if (k == LK_NULL)
		return 0;
	lk_type *t = *tp;
	if (!t) {
		*tp = t = lk_type_new(k);
		if (!t)
			return 0;
		if (k == LK_STRUCT) {
			observe_cols(&t->fields, &t->n_fields, j, lk_plain_object(j, v), nested, version, NULL);
		} else if (k == LK_LIST) {
			size_t e = (size_t)v + 1;
			for (uint32_t i = 0; i < TOK(j, v)->size; i++, e = TOK(j, e)->next)
				observe_type(&t->elem, j, (long)e, nested, version);
		}
		return 1;
	}
	if (t->kind == k) {
		if (k == LK_STRUCT)
			return observe_cols(&t->fields, &t->n_fields, j, lk_plain_object(j, v), nested, version, NULL);
		if (k == LK_LIST) {
			int r = 0;
			size_t e = (size_t)v + 1;
			for (uint32_t i = 0; i < TOK(j, v)->size; i++, e = TOK(j, e)->next) {
				int had = t->elem != NULL;
				int x = observe_type(&t->elem, j, (long)e, nested, version);
				/* an element type appearing changes the physical type (string placeholder) */
				r |= had ? x : (x ? 2 : 0);
			}
			return r;
		}
		return 0;
	}
	if (t->kind == LK_DOUBLE && k == LK_BIGINT)
		return 0;
	if ((t->kind == LK_STRING && k != LK_STRING) || (t->kind == LK_JSON && k == LK_JSON))
		return 0; /* a string column holds anything as text */
	lk_kind nk = (t->kind == LK_BIGINT && k == LK_DOUBLE) ? LK_DOUBLE : LK_STRING;
	lk_cols_free(t->fields, t->n_fields);
	t->fields = NULL;
	t->n_fields = 0;
	lk_type_free(t->elem);
	t->elem = NULL;
	t->kind = nk;
	return 2;
}

/* The column of field key k: hint first (objects of one store mostly keep their key order),
 * then a scan. -1 if none. */
static long find_col(const lk_col *cols, size_t n, const ids_json *j, size_t k, size_t *hint)
{
	if (*hint < n && key_eq(j, k, cols[*hint].field, cols[*hint].field_len))
		return (long)(*hint)++;
	for (size_t i = 0; i < n; i++)
		if (key_eq(j, k, cols[i].field, cols[i].field_len)) {
			*hint = i + 1;
			return (long)i;
		}
	return -1;
}

static int observe_cols(lk_col **cols, size_t *n, const ids_json *j, long obj, int nested, int version,
			const char *const *reserved)
{
	int r = 0;
	size_t k = (size_t)obj + 1, hint = 0;
	ids_buf name = IDS_BUF_INIT;
	for (uint32_t i = 0; i < TOK(j, obj)->size; i++, k = TOK(j, k + 1)->next) {
		long c = find_col(*cols, *n, j, k, &hint);
		if (c >= 0) {
			r |= observe_type(&(*cols)[c].type, j, (long)k + 1, nested, version);
		} else if (value_kind(j, (long)k + 1, nested) != LK_NULL) {
			ids_buf_reset(&name);
			if (ids_json_unescape(j, k, &name) || name.failed)
				continue;
			r |= add_col(cols, n, name.data ? name.data : "", name.len, j, (long)k + 1, nested, version, reserved);
		}
	}
	ids_buf_free(&name);
	return r;
}

int lk_cols_observe(lk_col **cols, size_t *n, const ids_json *j, long v, int nested, int version,
		    const char *const *reserved)
{
	long obj = lk_plain_object(j, v);
	if (obj >= 0)
		return observe_cols(cols, n, j, obj, nested, version, reserved);
	/* a value that is not an object: one column for the whole value */
	if (value_kind(j, v, nested) == LK_NULL)
		return 0;
	for (size_t i = 0; i < *n; i++)
		if ((*cols)[i].field_len == 6 && !strcmp((*cols)[i].field, "$value"))
			return observe_type(&(*cols)[i].type, j, v, nested, version);
	return add_col(cols, n, "$value", 6, j, v, nested, version, reserved);
}

/* The single-string payload of a tagged scalar ({"$date":s}, {"$bigint":s}, {"$num":s}), or -1. */
long lk_tagged_text(const ids_json *j, long v)
{
	if (TOK(j, v)->type != IDS_JOBJ || TOK(j, v)->size != 1)
		return -1;
	long x = v + 2;
	if (!is_str(j, x))
		return -1;
	return key_eq(j, (size_t)v + 1, "$date", 5) || key_eq(j, (size_t)v + 1, "$bigint", 7) ||
			       key_eq(j, (size_t)v + 1, "$num", 4)
		       ? x
		       : -1;
}

void lk_text_of(const ids_json *j, long v, ids_buf *out)
{
	long s = is_str(j, v) ? v : lk_tagged_text(j, v);
	if (s >= 0)
		ids_json_unescape(j, (size_t)s, out);
	else if (TOK(j, v)->type == IDS_JNUM)
		put_raw(out, j, v);
	else
		ids_json_minify(j, (size_t)v, out);
}

/* String token s as a JSON string the writer takes: as stored, or with each lone surrogate
 * (JavaScript strings, and so IndexedDB, hold them; UTF-8 text cannot) replaced by U+FFFD
 * (what TextEncoder writes for it), counted. */
static void put_str(ids_buf *b, lk_emit_ctx *e, const ids_json *j, long s)
{
	const ids_jtok *t = TOK(j, s);
	if (!t->escaped) {
		put_raw(b, j, s);
		return;
	}
	ids_buf_reset(e->tmp);
	if (!ids_json_unescape_text(j->text + t->start + 1, t->end - t->start - 2, IDS_UNESC_FFFD, e->tmp, NULL)) {
		put_raw(b, j, s);
		return;
	}
	e->n[LK_FB_SURROGATE]++;
	ids_buf_json_str(b, e->tmp->data ? e->tmp->data : "", e->tmp->len);
}

/* v as a JSON string: strings as they are, anything else its JSON text quoted (a JSON text
 * keeps its \u escapes, lone surrogates too: it is exact). */
static void emit_text(ids_buf *b, lk_emit_ctx *e, const ids_json *j, long v)
{
	long s = is_str(j, v) ? v : lk_tagged_text(j, v);
	if (s >= 0) {
		put_str(b, e, j, s);
		return;
	}
	ids_buf_putc(b, '"');
	if (TOK(j, v)->type == IDS_JNUM || TOK(j, v)->type == IDS_JTRUE || TOK(j, v)->type == IDS_JFALSE) {
		put_raw(b, j, v); /* no character of these needs escaping */
	} else {
		ids_buf_reset(e->tmp);
		ids_json_minify(j, (size_t)v, e->tmp);
		ids_buf_json_esc(b, e->tmp->data ? e->tmp->data : "", e->tmp->len);
	}
	ids_buf_putc(b, '"');
}

/* {"<tag>":"..."} when v is such a tagged value with a string, else null. */
static void emit_tagged(ids_buf *b, const ids_json *j, long v, const char *tag)
{
	long x = get(j, v, tag);
	if (!is_str(j, x)) {
		ids_buf_puts(b, "null");
		return;
	}
	ids_buf_puts(b, "{\"");
	ids_buf_puts(b, tag);
	ids_buf_puts(b, "\":");
	put_raw(b, j, x);
	ids_buf_putc(b, '}');
}

/* The earliest instant an INT96 timestamp holds: Julian day 0 (-4713-11-24), in ms. */
#define INT96_MIN_MS (-2440588.0 * 86400000.0)

/* {"$date":...} in the millisecond form the writer takes for every timestamp unit. The push
 * accepts any ISO-8601 UTC text (a date alone, 1 to 9 fraction digits); the fuzzer found that
 * "...00.00002020Z" made the writer refuse the row for a MICROS column, which failed every
 * flush. IndexedDB dates are milliseconds anyway. INT64 MICROS holds all of JavaScript's
 * range (+-8.64e15 ms); INT96 (compat) starts at Julian day 0: earlier dates are null. */
static void emit_date(ids_buf *b, lk_emit_ctx *e, const ids_json *j, long v)
{
	long x = get(j, v, "$date");
	double ms;
	char iso[40];
	ids_buf_reset(e->tmp);
	if (!is_str(j, x) || ids_json_unescape(j, (size_t)x, e->tmp) || !e->tmp->data ||
	    ids_iso_to_ms(e->tmp->data, e->tmp->len, &ms)) {
		ids_buf_puts(b, "null");
		return;
	}
	if (e->profile == PQ_PROFILE_COMPAT && ms < INT96_MIN_MS) {
		e->n[LK_FB_DATE_RANGE]++;
		ids_buf_puts(b, "null");
		return;
	}
	ids_ms_to_iso(ms, iso);
	ids_buf_puts(b, "{\"$date\":\"");
	ids_buf_puts(b, iso);
	ids_buf_puts(b, "\"}");
}

int lk_value_null(const ids_json *j, long v)
{
	return v < 0 || TOK(j, v)->type == IDS_JNULL || (TOK(j, v)->type == IDS_JOBJ && get(j, v, "$undefined") >= 0);
}

static void emit(ids_buf *b, lk_emit_ctx *e, const ids_json *j, long v, const lk_type *t)
{
	lk_kind k = t ? t->kind : LK_STRING;
	if (lk_value_null(j, v)) {
		ids_buf_puts(b, "null");
		return;
	}
	switch (k) {
	case LK_NULL:
	case LK_STRING:
	case LK_JSON:
		emit_text(b, e, j, v);
		return;
	case LK_BOOL:
		if (TOK(j, v)->type == IDS_JTRUE || TOK(j, v)->type == IDS_JFALSE)
			put_raw(b, j, v);
		else
			ids_buf_puts(b, "null");
		return;
	case LK_BIGINT:
		if (lk_is_i64(j, v))
			put_raw(b, j, v);
		else
			ids_buf_puts(b, "null");
		return;
	case LK_DOUBLE:
		if (TOK(j, v)->type == IDS_JNUM)
			put_raw(b, j, v);
		else
			emit_tagged(b, j, v, "$num");
		return;
	case LK_TIMESTAMP:
		emit_date(b, e, j, v);
		return;
	case LK_BINARY:
		emit_tagged(b, j, v, "$bin");
		return;
	case LK_STRUCT: {
		long obj = lk_plain_object(j, v);
		if (obj < 0 || !t->n_fields) {
			ids_buf_puts(b, "null");
			return;
		}
		ids_buf_putc(b, '{');
		for (size_t i = 0; i < t->n_fields; i++) {
			if (i)
				ids_buf_putc(b, ',');
			ids_buf_json_str(b, t->fields[i].name, strlen(t->fields[i].name));
			ids_buf_putc(b, ':');
			emit(b, e, j, lk_get_field(j, obj, t->fields[i].field, t->fields[i].field_len), t->fields[i].type);
		}
		ids_buf_putc(b, '}');
		return;
	}
	case LK_LIST: {
		if (TOK(j, v)->type != IDS_JARR) {
			ids_buf_puts(b, "null");
			return;
		}
		ids_buf_putc(b, '[');
		size_t x = (size_t)v + 1;
		for (uint32_t i = 0; i < TOK(j, v)->size; i++, x = TOK(j, x)->next) {
			if (i)
				ids_buf_putc(b, ',');
			emit(b, e, j, (long)x, t->elem);
		}
		ids_buf_putc(b, ']');
		return;
	}
	}
	ids_buf_puts(b, "null");
}

void lk_cols_begin(lk_cols_cur *k, const ids_json *j, long v, const char *skip)
{
	k->j = j;
	k->v = v;
	k->obj = v >= 0 ? lk_plain_object(j, v) : -1;
	k->end = k->obj >= 0 ? TOK(j, k->obj)->next : 0;
	k->kn = (size_t)k->obj + 1;
	k->skip = skip;
}

long lk_cols_value(lk_cols_cur *k, const lk_col *c)
{
	const ids_json *j = k->j;
	if (k->skip && !strcmp(c->field, k->skip))
		return -2;
	if (k->obj < 0)
		return k->v >= 0 && c->field_len == 6 && !strcmp(c->field, "$value") ? k->v : -1;
	/* the value's keys mostly come in column order: try the key after the last match first */
	long x;
	if (k->kn < k->end && key_eq(j, k->kn, c->field, c->field_len))
		x = (long)k->kn + 1;
	else
		x = lk_get_field(j, k->obj, c->field, c->field_len);
	if (x >= 0)
		k->kn = TOK(j, x)->next;
	return x;
}

const char *const lk_fallback_names[LK_FB_N] = {"lone_surrogate", "date_range", "bad_value"};

void lk_emit_cols(ids_buf *b, lk_emit_ctx *e, const lk_col *cols, size_t n, const char *skip, const ids_json *j,
		  long v)
{
	lk_cols_cur k;
	lk_cols_begin(&k, j, v, skip);
	for (size_t i = 0; i < n; i++) {
		long x = lk_cols_value(&k, &cols[i]);
		if (x == -2)
			continue;
		ids_buf_putc(b, ',');
		ids_buf_json_str(b, cols[i].name, strlen(cols[i].name));
		ids_buf_putc(b, ':');
		emit(b, e, j, x, cols[i].type);
	}
}
