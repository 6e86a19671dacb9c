/* Fuzz target: the lake end to end on values a browser can produce. The input drives a
 * generator of the client's tagged JSON (every JS type the client encodes, extreme numbers and
 * dates, lone surrogates, deep and wide nesting, field names of every shape, types changing
 * across rows); the rows go through the real push check (ids_batch_parse), the lake's schema
 * inference and conversion (both profiles, both nested modes), the Parquet writer, and back
 * through the project's reader. Findings (abort): a converted row the writer refuses (it
 * would hold a table), a value read back different from the row written, or a scalar whose
 * read-back value is not the original or its documented fallback (docs/lake-layout.md).
 * The same rows also go through the lake's direct path (lk_put_cols, no row text) into a
 * second file, which must read back row for row as the same text: the two paths agree; and
 * what the direct path put, replayed from its tape (lk_put_tape, as the change log feeds the
 * state's delta) into a third, must read back as the second. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "idbsync/pq_read.h"
#include "idbsync/pq_write.h"
#include "idbsync/sync.h"
#include "idbsync/value.h"
#include "lake_common.h"

#define MAX_ROWS 12

typedef struct gen {
	const unsigned char *p;
	size_t n, at;
} gen;

static unsigned byte(gen *g) { return g->at < g->n ? g->p[g->at++] : 0; }
static unsigned pick(gen *g, unsigned k) { return k ? byte(g) % k : 0; }

/* A JS string as JSON: ASCII, escapes, BMP, astral pairs, lone surrogates of both kinds. */
static void gen_string(gen *g, ids_buf *b, unsigned maxlen)
{
	unsigned n = pick(g, maxlen + 1);
	ids_buf_putc(b, '"');
	for (unsigned i = 0; i < n; i++) {
		switch (pick(g, 9)) {
		case 0: ids_buf_printf(b, "\\ud%03x", 0x800 + pick(g, 0x400)); break;            /* lone high */
		case 1: ids_buf_printf(b, "\\ud%03x", 0xc00 + pick(g, 0x400)); break;            /* lone low */
		case 2: ids_buf_printf(b, "\\ud83d\\ude%02x", pick(g, 256)); break;              /* a pair */
		case 3: ids_buf_puts(b, "\xc3\xa9\xe2\x82\xac"); break;                       /* é€ */
		case 4: ids_buf_printf(b, "\\u%04x", pick(g, 32)); break;                       /* controls, NUL */
		case 5: ids_buf_puts(b, "\\\"\\\\/"); break;
		default: ids_buf_putc(b, (char)('a' + pick(g, 26))); break;
		}
	}
	ids_buf_putc(b, '"');
}

static void gen_date(gen *g, ids_buf *b)
{
	static const double edges[] = {-8.64e15, 8.64e15, -210866803200000.0, -210866803200001.0, -62135596800000.0,
				       253402300799999.0, 0, -1, 1e12, -9.3e15 / 1.1};
	double ms = pick(g, 2) ? edges[pick(g, sizeof edges / sizeof edges[0])]
			       : ((double)(int32_t)(byte(g) << 24 | byte(g) << 16 | byte(g) << 8 | byte(g))) * 2e6;
	char iso[40];
	if (fabs(ms) > 8.64e15)
		ms = 8.64e15;
	ids_ms_to_iso(ms, iso);
	ids_buf_printf(b, "{\"$date\":\"%s\"}", iso);
}

static void gen_value(gen *g, ids_buf *b, int depth);

static void gen_name(gen *g, ids_buf *b)
{
	static const char *const names[] = {"id", "ID", "Id", "", "$x", "order", "date", "idb_key", "dt", "a b",
					    "\\u00e9t\\u00e9", "!!!", "123", "_", "\\ud800", "x.y", "select"};
	if (pick(g, 3))
		ids_buf_printf(b, "\"%s\"", names[pick(g, sizeof names / sizeof names[0])]);
	else
		gen_string(g, b, 12);
}

static void gen_object(gen *g, ids_buf *b, int depth, int top)
{
	unsigned n = pick(g, top ? 7 : 4);
	int esc = 0;
	ids_buf mem = IDS_BUF_INIT;
	for (unsigned i = 0; i < n; i++) {
		if (i)
			ids_buf_putc(&mem, ',');
		size_t at = mem.len;
		gen_name(g, &mem);
		esc |= mem.data[at + 1] == '$';
		ids_buf_putc(&mem, ':');
		gen_value(g, &mem, depth + 1);
	}
	/* objects with a key starting with '$' are wrapped, as the client does */
	ids_buf_puts(b, esc ? "{\"$esc\":{" : "{");
	ids_buf_append(b, mem.data ? mem.data : "", mem.len);
	ids_buf_puts(b, esc ? "}}" : "}");
	ids_buf_free(&mem);
}

static void gen_value(gen *g, ids_buf *b, int depth)
{
	static const char *const nums[] = {"0", "-0", "1", "-1", "9007199254740993", "9223372036854775807",
					   "-9223372036854775808", "9223372036854775808", "1e308", "-1.7976931348623157e308",
					   "5e-324", "0.1", "123456789012345678901234567890", "1.5", "2e3"};
	unsigned k = depth > 6 ? pick(g, 11) : pick(g, 14);
	switch (k) {
	case 0: ids_buf_puts(b, "null"); break;
	case 1: ids_buf_puts(b, pick(g, 2) ? "true" : "false"); break;
	case 2: ids_buf_puts(b, nums[pick(g, sizeof nums / sizeof nums[0])]); break;
	case 3: ids_buf_printf(b, "%d", (int)pick(g, 200) - 100); break;
	case 4: gen_string(g, b, 20); break;
	case 5: gen_date(g, b); break;
	case 6: {
		static const char *const t[] = {"NaN", "Infinity", "-Infinity", "-0"};
		ids_buf_printf(b, "{\"$num\":\"%s\"}", t[pick(g, 4)]);
		break;
	}
	case 7: {
		uint8_t raw[24];
		unsigned n = pick(g, sizeof raw + 1);
		for (unsigned i = 0; i < n; i++)
			raw[i] = (uint8_t)byte(g);
		ids_buf_puts(b, "{\"$bin\":\"");
		ids_base64_encode(raw, n, b);
		ids_buf_puts(b, pick(g, 2) ? "\"}" : "\",\"$type\":\"Uint8Array\"}");
		break;
	}
	case 8: ids_buf_printf(b, "{\"$bigint\":\"%s%u%u\"}", pick(g, 2) ? "-" : "", byte(g) + 1, byte(g) * 99991u); break;
	case 9: ids_buf_puts(b, "{\"$undefined\":true}"); break;
	case 10: ids_buf_puts(b, pick(g, 2) ? "{\"$regexp\":\"a+\\\\d\",\"$flags\":\"gi\"}" : "{\"$set\":[1,\"a\"]}"); break;
	case 11: {
		unsigned n = pick(g, 5);
		ids_buf_putc(b, '[');
		for (unsigned i = 0; i < n; i++) {
			if (i)
				ids_buf_putc(b, ',');
			gen_value(g, b, depth + 1);
		}
		ids_buf_putc(b, ']');
		break;
	}
	case 12: ids_buf_puts(b, "{\"$map\":[[\"k\",1],[2,{\"$date\":\"2024-01-01T00:00:00.000Z\"}]]}"); break;
	default: gen_object(g, b, depth, 0); break;
	}
}

/* ---- comparing what was written with what is read back ---- */

#define T(j, t) (&(j)->tok[t])

static int str_of(const ids_json *j, long t, ids_buf *out)
{
	ids_buf_reset(out);
	return T(j, t)->type != IDS_JSTR || ids_json_unescape(j, (size_t)t, out);
}

/* {"$num": s}'s double: the specials as util reads them (anything else as strtod reads it) */
static double special(const ids_json *j, long x, ids_buf *s)
{
	double d;
	if (!ids_json_num_special(j, (size_t)x, &d))
		return d;
	str_of(j, x, s);
	return strtod(s->data ? s->data : "", NULL);
}

/* A tagged scalar's text ({"$date": s}, {"$bin": s}, {"$num": s}), or -1. */
static long tag(const ids_json *j, long t, const char *name)
{
	if (T(j, t)->type != IDS_JOBJ)
		return -1;
	long x = ids_json_get(j, (size_t)t, name);
	return x >= 0 && T(j, x)->type == IDS_JSTR ? x : -1;
}

static int same(const ids_json *a, long ta, const ids_json *b, long tb, ids_buf *s1, ids_buf *s2);

static int same_scalar_tag(const ids_json *a, long ta, const ids_json *b, long tb, ids_buf *s1, ids_buf *s2)
{
	long x, y;
	if ((x = tag(a, ta, "$date")) >= 0 && (y = tag(b, tb, "$date")) >= 0) {
		double m1, m2;
		str_of(a, x, s1);
		str_of(b, y, s2);
		return !ids_iso_to_ms(s1->data, s1->len, &m1) && !ids_iso_to_ms(s2->data, s2->len, &m2) && m1 == m2;
	}
	if ((x = tag(a, ta, "$bin")) >= 0 && (y = tag(b, tb, "$bin")) >= 0) {
		ids_buf d1 = IDS_BUF_INIT, d2 = IDS_BUF_INIT;
		str_of(a, x, s1);
		str_of(b, y, s2);
		int ok = !ids_base64_decode(s1->data ? s1->data : "", s1->len, &d1) &&
			 !ids_base64_decode(s2->data ? s2->data : "", s2->len, &d2) && d1.len == d2.len &&
			 (!d1.len || !memcmp(d1.data, d2.data, d1.len));
		ids_buf_free(&d1);
		ids_buf_free(&d2);
		return ok;
	}
	/* special doubles: {"$num":"NaN"} on either side, -0 as a number or tagged */
	double v1 = (x = tag(a, ta, "$num")) >= 0 ? special(a, x, s1)
						   : T(a, ta)->type == IDS_JNUM ? ids_json_num(a, (size_t)ta) : NAN;
	double v2 = (y = tag(b, tb, "$num")) >= 0 ? special(b, y, s2)
						   : T(b, tb)->type == IDS_JNUM ? ids_json_num(b, (size_t)tb) : NAN;
	if (x < 0 && y < 0)
		return -1;   /* not tagged scalars */
	return (isnan(v1) && isnan(v2)) || (v1 == v2 && signbit(v1) == signbit(v2));
}

static int same(const ids_json *a, long ta, const ids_json *b, long tb, ids_buf *s1, ids_buf *s2)
{
	int na = ta < 0 || T(a, ta)->type == IDS_JNULL, nb = tb < 0 || T(b, tb)->type == IDS_JNULL;
	if (na || nb)
		return na && nb;
	int r = same_scalar_tag(a, ta, b, tb, s1, s2);
	if (r >= 0)
		return r;
	const ids_jtok *x = T(a, ta), *y = T(b, tb);
	if (x->type != y->type)
		return 0;
	switch (x->type) {
	case IDS_JTRUE:
	case IDS_JFALSE: return 1;
	case IDS_JNUM: {
		/* "-0" written as an integer is INT64 0 (the client sends -0 as {"$num":"-0"}) */
		double v1 = ids_json_num(a, (size_t)ta), v2 = ids_json_num(b, (size_t)tb);
		return v1 == v2 && (signbit(v1) == signbit(v2) || (x->is_int && v1 == 0));
	}
	case IDS_JSTR:
		str_of(a, ta, s1);
		str_of(b, tb, s2);
		return s1->len == s2->len && (!s1->len || !memcmp(s1->data, s2->data, s1->len));
	case IDS_JARR: {
		if (x->size != y->size)
			return 0;
		size_t e = (size_t)ta + 1, f = (size_t)tb + 1;
		for (uint32_t i = 0; i < x->size; i++, e = T(a, e)->next, f = T(b, f)->next)
			if (!same(a, (long)e, b, (long)f, s1, s2))
				return 0;
		return 1;
	}
	case IDS_JOBJ: {
		/* every member written is read back (the reader may add null members) */
		size_t k = (size_t)ta + 1;
		for (uint32_t i = 0; i < x->size; i++, k = T(a, k + 1)->next) {
			str_of(a, (long)k, s1);
			char name[256];
			snprintf(name, sizeof name, "%.*s", (int)s1->len, s1->data ? s1->data : "");
			if (!same(a, (long)k + 1, b, ids_json_get(b, (size_t)tb, name), s1, s2))
				return 0;
		}
		return 1;
	}
	}
	return 0;
}

/* The documented value of a top-level scalar: a string column holds the string (lone
 * surrogates as U+FFFD), a BIGINT the integer, a TIMESTAMP the instant (null before Julian
 * day 0 in INT96), a BINARY the bytes. */
static void check_scalar(const lk_col *c, const ids_json *orig, long v, const ids_json *rd, long r, int profile,
			 ids_buf *s1, ids_buf *s2)
{
	if (v < 0 || T(orig, v)->type == IDS_JNULL || lk_value_null(orig, v))
		return;
	lk_kind k = c->type ? c->type->kind : LK_NULL;
	if (k == LK_STRING && T(orig, v)->type == IDS_JSTR) {
		str_of(orig, v, s1);   /* unescaped: lone surrogates already U+FFFD */
		if (str_of(rd, r, s2) || s1->len != s2->len || (s1->len && memcmp(s1->data, s2->data, s1->len)))
			goto bad;
	} else if (k == LK_BIGINT && T(orig, v)->type == IDS_JNUM) {
		int64_t x, y;
		if (ids_json_i64(orig, (size_t)v, &x) || r < 0 || ids_json_i64(rd, (size_t)r, &y) || x != y)
			goto bad;
	} else if (k == LK_TIMESTAMP && tag(orig, v, "$date") >= 0) {
		double ms;
		str_of(orig, tag(orig, v, "$date"), s1);
		if (ids_iso_to_ms(s1->data, s1->len, &ms))
			goto bad;
		if (profile == PQ_PROFILE_COMPAT && ms < -2440588.0 * 86400000.0) {
			if (r >= 0 && T(rd, r)->type != IDS_JNULL)
				goto bad;
			return;
		}
		if (r < 0 || !same(orig, v, rd, r, s1, s2))
			goto bad;
	} else if (k == LK_BINARY && tag(orig, v, "$bin") >= 0) {
		if (r < 0 || !same(orig, v, rd, r, s1, s2))
			goto bad;
	}
	return;
bad:
	fprintf(stderr, "column %s (%s): %.*s read back as %.*s\n", c->name, lk_kind_name(k),
		(int)(T(orig, v)->end - T(orig, v)->start), orig->text + T(orig, v)->start,
		r < 0 ? 6 : (int)(T(rd, r)->end - T(rd, r)->start), r < 0 ? "absent" : rd->text + T(rd, r)->start);
	abort();
}

/* The text path's file (a) and the direct path's (b) read back as the same n rows. */
static void compare_files(const char *a, const char *b, size_t n)
{
	pq_reader *ra = NULL, *rb = NULL;
	pq_read_options ro = PQ_READ_OPTIONS_INIT;
	ids_error err = IDS_ERROR_INIT;
	if (pq_reader_open(&ra, a, &ro, &err) || pq_reader_open(&rb, b, &ro, &err)) {
		fprintf(stderr, "reader: %s\n", err.msg);
		abort();
	}
	ids_buf x = IDS_BUF_INIT, y = IDS_BUF_INIT;
	for (size_t i = 0; i <= n; i++) {
		ids_buf_reset(&x);
		ids_buf_reset(&y);
		int ka = pq_reader_next_row_json(ra, &x, &err), kb = pq_reader_next_row_json(rb, &y, &err);
		if (ka != kb || x.len != y.len || (x.len && memcmp(x.data, y.data, x.len))) {
			fprintf(stderr, "row %zu: text path %.*s\n     direct path %.*s\n", i, (int)x.len, x.data ? x.data : "",
				(int)y.len, y.data ? y.data : "");
			abort();
		}
		if (ka != 1)
			break;
	}
	ids_buf_free(&x);
	ids_buf_free(&y);
	pq_reader_free(ra);
	pq_reader_free(rb);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	gen g = {data, size, 0};
	int nested = byte(&g) & 1 ? LK_NESTED_STRUCT : LK_NESTED_JSON;
	int profile = byte(&g) & 1 ? PQ_PROFILE_MODERN : PQ_PROFILE_COMPAT;
	unsigned rows = 1 + pick(&g, MAX_ROWS);
	ids_buf body = IDS_BUF_INIT;
	ids_buf_puts(&body, "{\"client\":\"fz\",\"mutations\":[");
	for (unsigned i = 0; i < rows; i++) {
		ids_buf_printf(&body, "%s{\"id\":%u,\"store\":\"s\",\"op\":\"put\",\"key\":%u,\"value\":", i ? "," : "", i + 1,
			       i + 1);
		if (pick(&g, 4))
			gen_object(&g, &body, 0, 1);
		else
			gen_value(&g, &body, 0);
		ids_buf_putc(&body, '}');
	}
	ids_buf_puts(&body, "]}");
	ids_limits lim = IDS_LIMITS_INIT;
	ids_batch *b = NULL;
	char *copy = strndup(body.data, body.len);
	ids_error err = IDS_ERROR_INIT;
	if (getenv("FUZZ_LAKE_SHOW"))   /* replaying a finding: the push body it made */
		fprintf(stderr, "%.*s\n", (int)body.len, body.data);
	if (!copy || ids_batch_parse(&b, "db", copy, body.len, &lim, NULL, &err)) {
		ids_buf_free(&body);   /* refused by the push (takes copy either way) */
		return 0;
	}
	ids_json j[MAX_ROWS];
	lk_col *cols = NULL;
	size_t nc = 0;
	for (size_t i = 0; i < b->n; i++) {
		j[i] = (ids_json)IDS_JSON_INIT;
		if (ids_json_parse(&j[i], b->m[i].value, b->m[i].value_len, 0, 200, &err))
			abort();   /* the push stored it: it is JSON */
		lk_cols_observe(&cols, &nc, &j[i], 0, nested, (int)i + 1, lk_reserved_cols);
	}
	char path[64];
	snprintf(path, sizeof path, "/dev/shm/fz-lakeflush-%d.parquet", getpid());
	pq_node *root = NULL;
	pq_writer *w = fz_lake_writer(path, cols, nc, profile, 128, 4, &root);
	char dpath[64];
	snprintf(dpath, sizeof dpath, "/dev/shm/fz-lakeflush-%d.direct.parquet", getpid());
	pq_node *droot = NULL;
	pq_writer *dw = fz_lake_writer(dpath, cols, nc, profile, 128, 4, &droot);
	char tpath[64];
	snprintf(tpath, sizeof tpath, "/dev/shm/fz-lakeflush-%d.tape.parquet", getpid());
	pq_node *troot = NULL;
	pq_writer *tw = fz_lake_writer(tpath, cols, nc, profile, 128, 4, &troot);
	ids_buf row[MAX_ROWS], tmp = IDS_BUF_INIT, bin = IDS_BUF_INIT, s1 = IDS_BUF_INIT, s2 = IDS_BUF_INIT;
	ids_buf tape = IDS_BUF_INIT;
	for (size_t i = 0; i < b->n; i++) {
		row[i] = (ids_buf)IDS_BUF_INIT;
		fz_lake_put_row(w, &row[i], i, cols, nc, &j[i], profile, &tmp);
		fz_lake_put_row_direct(dw, i, cols, nc, &j[i], profile, &tmp, &bin, &tape);
		int64_t seq = (int64_t)i;
		if (pq_writer_row_begin(tw, &err) || pq_writer_put(tw, 0, 0, 0, &seq, 8, &err) ||
		    lk_put_tape(tw, 1, &tape, &err) || pq_writer_row_end(tw, &err)) {
			fprintf(stderr, "the tape's replay was refused (%s)\n", err.msg);
			abort();
		}
	}
	if (pq_writer_close(w, &err) || pq_writer_close(dw, &err) || pq_writer_close(tw, &err)) {
		fprintf(stderr, "close: %s\n", err.msg);
		abort();
	}
	pq_writer_free(w);
	pq_writer_free(dw);
	pq_writer_free(tw);
	compare_files(path, dpath, b->n);
	compare_files(dpath, tpath, b->n);
	unlink(dpath);
	unlink(tpath);
	pq_reader *r = NULL;
	pq_read_options ro = PQ_READ_OPTIONS_INIT;
	if (pq_reader_open(&r, path, &ro, &err)) {
		fprintf(stderr, "reader: %s\n", err.msg);
		abort();
	}
	ids_buf got = IDS_BUF_INIT;
	for (size_t i = 0; i < b->n; i++) {
		ids_buf_reset(&got);
		ids_json w1 = IDS_JSON_INIT, r1 = IDS_JSON_INIT;
		if (pq_reader_next_row_json(r, &got, &err) != 1 || ids_json_parse(&r1, got.data, got.len, 0, 300, &err) ||
		    ids_json_parse(&w1, row[i].data, row[i].len, 0, 300, &err)) {
			fprintf(stderr, "row %zu not read back: %s\n", i, err.msg);
			abort();
		}
		if (!same(&w1, 0, &r1, 0, &s1, &s2)) {
			fprintf(stderr, "row %zu written %.*s\n        read %.*s\n", i, (int)row[i].len, row[i].data, (int)got.len,
				got.data);
			abort();
		}
		long obj = lk_plain_object(&j[i], 0);
		for (size_t c = 0; c < nc; c++) {
			long v = obj >= 0 ? lk_get_field(&j[i], obj, cols[c].field, cols[c].field_len)
					  : (!strcmp(cols[c].field, "$value") ? 0 : -1);
			check_scalar(&cols[c], &j[i], v, &r1, ids_json_get(&r1, 0, cols[c].name), profile, &s1, &s2);
		}
		ids_json_free(&w1);
		ids_json_free(&r1);
	}
	pq_reader_free(r);
	unlink(path);
	for (size_t i = 0; i < b->n; i++) {
		ids_json_free(&j[i]);
		ids_buf_free(&row[i]);
	}
	ids_buf_free(&got);
	ids_buf_free(&tmp);
	ids_buf_free(&bin);
	ids_buf_free(&s1);
	ids_buf_free(&s2);
	ids_buf_free(&body);
	ids_batch_free(b);
	pq_node_free(root);
	pq_node_free(droot);
	pq_node_free(troot);
	ids_buf_free(&tape);
	lk_cols_free(cols, nc);
	return 0;
}
