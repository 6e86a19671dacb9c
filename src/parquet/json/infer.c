/* Schema inference for NDJSON: a first pass folds every row into a type tree, widening
 * as it goes (rules in include/idbsync/pq_write.h and docs/engines.md), and the tree then
 * becomes a pq_node schema for a profile. Uses the same streaming scanner as the writer. */
#include "idbsync/pq_write.h"
#include "infer_int.h"
#include "pqj.h"

#include <stdlib.h>
#include <string.h>

#define INFER_MAX_DEPTH 16      /* deeper values are kept as JSON text */
#define INFER_MAX_FIELDS 10000  /* per object, and nodes in total (x10) */

enum {
	IT_NONE = PQI_NONE, IT_BOOL = PQI_BOOL, IT_INT = PQI_INT, IT_DOUBLE = PQI_DOUBLE,
	IT_STRING = PQI_STRING, IT_TS = PQI_TS, IT_BIN = PQI_BIN, IT_STRUCT = PQI_STRUCT,
	IT_LIST = PQI_LIST, IT_TEXT = PQI_TEXT, IT_TS_STR = PQI_TS_TEXT, IT_DATE_STR = PQI_DATE_TEXT
};

typedef struct inode inode;

typedef struct ifield {
	char *name;
	size_t len;
	pqj_key key;             /* for recognizing the expected key without scanning */
	uint64_t seen;
	inode *type;
} ifield;

struct inode {
	int kind;
	int ts_digits;
	ifield *f;
	size_t n, cap, hint;
	uint32_t *index;        /* hash index over f (entry+1), built once n > 8 */
	size_t index_mask;
	inode *elem;
};

struct pq_infer {
	inode root;
	pqj j;
	ids_buf bin;            /* scratch for checking $bin payloads */
	uint64_t stamp;
	size_t nodes;
	int64_t rows;
	int no_text_times;      /* ISO-8601 strings stay strings */
};

static void inode_clear(inode *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->f[i].name);
		inode_clear(t->f[i].type);
		free(t->f[i].type);
	}
	free(t->f);
	free(t->index);
	if (t->elem) {
		inode_clear(t->elem);
		free(t->elem);
	}
	t->f = NULL;
	t->index = NULL;
	t->elem = NULL;
	t->n = t->cap = t->hint = t->index_mask = 0;
}

int pq_infer_new(pq_infer **out, ids_error *err)
{
	pq_infer *inf = calloc(1, sizeof *inf);
	if (!inf)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	inf->root.kind = IT_STRUCT;
	pqj_init(&inf->j, err);
	*out = inf;
	return 0;
}

void pq_infer_free(pq_infer *inf)
{
	if (!inf)
		return;
	inode_clear(&inf->root);
	pqj_free(&inf->j);
	ids_buf_free(&inf->bin);
	free(inf);
}

static int reindex(inode *t)
{
	size_t mask = pqj_index_mask(t->n);
	uint32_t *ix = calloc(mask + 1, sizeof *ix);
	if (!ix)
		return -1;
	for (size_t i = 0; i < t->n; i++)
		pqj_index_put(ix, mask, t->f[i].name, t->f[i].len, i);
	free(t->index);
	t->index = ix;
	t->index_mask = mask;
	return 0;
}

static long find_field(inode *t, const char *k, size_t kn)
{
	size_t h = t->hint;
	if (h < t->n && t->f[h].len == kn && !memcmp(t->f[h].name, k, kn))
		return (long)h;
	if (t->index) {
		size_t s = pqj_name_hash(k, kn) & t->index_mask;
		for (; t->index[s]; s = (s + 1) & t->index_mask) {
			ifield *f = &t->f[t->index[s] - 1];
			if (f->len == kn && !memcmp(f->name, k, kn))
				return (long)t->index[s] - 1;
		}
		return -1;
	}
	for (size_t i = 0; i < t->n; i++)
		if (t->f[i].len == kn && !memcmp(t->f[i].name, k, kn))
			return (long)i;
	return -1;
}

static long add_field(pq_infer *inf, inode *t, const char *k, size_t kn)
{
	if (t->n >= INFER_MAX_FIELDS || inf->nodes >= INFER_MAX_FIELDS * 10)
		return -2;
	if (t->n == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 8;
		ifield *p = realloc(t->f, ncap * sizeof *p);
		if (!p)
			return -1;
		t->f = p;
		t->cap = ncap;
	}
	ifield *f = &t->f[t->n];
	memset(f, 0, sizeof *f);
	f->name = malloc(kn + 1);
	f->type = calloc(1, sizeof *f->type);
	if (!f->name || !f->type) {
		free(f->name);
		free(f->type);
		return -1;
	}
	memcpy(f->name, k, kn);
	f->name[kn] = 0;
	f->len = kn;
	pqj_key_init(&f->key, f->name, kn);
	t->n++;
	inf->nodes++;
	if (t->n > 8) {
		if (!t->index || t->n * 2 > t->index_mask) {
			if (reindex(t))
				return -1;
		} else {
			pqj_index_put(t->index, t->index_mask, k, kn, t->n - 1);
		}
	}
	return (long)t->n - 1;
}

static int is_str(int k) { return k == IT_STRING || k == IT_TS_STR || k == IT_DATE_STR; }

/* Folds kind k into t; returns 1 if t can still track the value's content. */
static int merge(inode *t, int k)
{
	if (t->kind == IT_TEXT)
		return 0;
	if (t->kind == IT_NONE || t->kind == k) {
		t->kind = k;
		return 1;
	}
	if ((t->kind == IT_INT && k == IT_DOUBLE) || (t->kind == IT_DOUBLE && k == IT_INT)) {
		t->kind = IT_DOUBLE;
		return 1;
	}
	if (is_str(t->kind) && is_str(k)) {
		/* dates and instants mixed, or with other text: all of it stays text */
		t->kind = IT_STRING;
		t->ts_digits = 0;
		return 1;
	}
	inode_clear(t);
	t->kind = IT_TEXT;
	return 0;
}

static int value(pq_infer *inf, inode *t, int depth);

static int object(pq_infer *inf, inode *t, int depth)
{
	pqj *j = &inf->j;
	int rc;
	j->p++;
	uint64_t stamp = ++inf->stamp;
	t->hint = 0;   /* objects usually list their keys in the same order, from the first */
	if (pqj_peek(j) == '}') {
		j->p++;
		return 0;
	}
	for (;;) {
		pqj_ws(j);
		const char *k, *at = j->p;
		size_t kn;
		int hit;
		ifield *hf = t->hint < t->n ? &t->f[t->hint] : NULL;
		if ((rc = pqj_obj_key(j, hf ? &hf->key : NULL, &k, &kn, &hit)))
			return rc;
		long ix = hit ? (long)t->hint : find_field(t, k, kn);
		if (ix < 0 && (ix = add_field(inf, t, k, kn)) < 0)
			return ix == -2 ? pqj_fail(j, at, "more than %d fields; use a schema file",
						   INFER_MAX_FIELDS)
					: pqj_fail(j, at, "out of memory");
		ifield *f = &t->f[ix];
		if (f->seen == stamp)
			return pqj_fail(j, at, "duplicate key '%.*s'", (int)(kn > 60 ? 60 : kn), k);
		f->seen = stamp;
		t->hint = (size_t)ix + 1;
		if ((rc = value(inf, f->type, depth + 1)))
			return rc;
		if ((rc = pqj_next(j, '}')) <= 0)
			return rc;
	}
}

static int value(pq_infer *inf, inode *t, int depth)
{
	pqj *j = &inf->j;
	char c = pqj_peek(j);
	const char *s;
	size_t n;
	int rc, v;
	switch (c) {
	case 'n':
	case 't':
	case 'f':
		if ((rc = pqj_literal(j, &v)))
			return rc;
		if (v >= 0)
			merge(t, IT_BOOL);
		return 0;
	case '"':
		if ((rc = pqj_string(j, 0, &s, &n)))
			return rc;
		if (t->kind == IT_STRING || t->kind == IT_TEXT || inf->no_text_times) {
			merge(t, IT_STRING);
			return 0;
		}
		int64_t secs;
		int32_t nanos;
		int digits, iso = pqj_iso_text(s, n, &secs, &nanos, &digits);
		if (merge(t, iso == PQJ_ISO_INSTANT ? IT_TS_STR : iso == PQJ_ISO_DATE ? IT_DATE_STR
										 : IT_STRING) &&
		    t->kind == IT_TS_STR && digits > t->ts_digits)
			t->ts_digits = digits;
		return 0;
	case '[':
		if (depth >= INFER_MAX_DEPTH)
			merge(t, IT_TEXT);
		if (!merge(t, IT_LIST))
			return pqj_skip(j, depth);
		if (!t->elem && !(t->elem = calloc(1, sizeof *t->elem)))
			return pqj_fail(j, j->p, "out of memory");
		j->p++;
		if (pqj_peek(j) == ']') {
			j->p++;
			return 0;
		}
		for (;;) {
			if (t->kind != IT_LIST || !t->elem)
				return pqj_fail(j, j->p, "internal: list lost its element");
			if ((rc = value(inf, t->elem, depth + 1)))
				return rc;
			if ((rc = pqj_next(j, ']')) <= 0)
				return rc;
		}
	case '{': {
		const char *at = j->p;
		int tag = pqj_tagged(j, &s, &n);
		if (tag < 0)
			return tag;
		/* a malformed payload is an error here, as it would be when writing */
		if (tag == PQJ_TAG_DATE) {
			int64_t secs;
			int32_t nanos;
			int digits = 0;
			if (s && ids_iso_parse(s, n, 0, &secs, &nanos, &digits))
				return pqj_fail(j, at, "bad ISO-8601 date in $date");
			if (merge(t, IT_TS) && digits > t->ts_digits)
				t->ts_digits = digits;
			return 0;
		}
		if (tag == PQJ_TAG_BIN) {
			ids_buf_reset(&inf->bin);
			if (s && ids_base64_decode_opt(s, n, IDS_B64_PAD_OPTIONAL, &inf->bin))
				return pqj_fail(j, at, "bad base64 in $bin");
			merge(t, IT_BIN);
			return 0;
		}
		if (tag == PQJ_TAG_NUM) {
			double d;
			if (s && ids_num_special(s, n, &d))
				return pqj_fail(j, at, "bad $num value (NaN, Infinity, -Infinity or -0)");
			merge(t, IT_DOUBLE);
			return 0;
		}
		if (depth >= INFER_MAX_DEPTH)
			merge(t, IT_TEXT);
		if (!merge(t, IT_STRUCT))
			return pqj_skip(j, depth);
		return object(inf, t, depth);
	}
	default:
		if (c == '-' || (c >= '0' && c <= '9')) {
			pqj_num num;
			if ((rc = pqj_number(j, &num)))
				return rc;
			merge(t, num.fits ? IT_INT : IT_DOUBLE);
			return 0;
		}
		return pqj_fail(j, j->p, j->p >= j->end ? "unexpected end of input" : "expected a value");
	}
}

int pq_infer_add_json(pq_infer *inf, const char *json, size_t len, size_t *err_off,
		      ids_error *err)
{
	int rc = pqj_row_begin(&inf->j, json, len, err);
	rc = pqj_row_end(&inf->j, rc ? rc : object(inf, &inf->root, 0), err_off);
	if (!rc)
		inf->rows++;
	return rc;
}

/* ---- merging the trees of inferences over parts of the input ---- */

static int merge_tree(pq_infer *inf, inode *dst, const inode *src)
{
	if (src->kind == IT_NONE)
		return 0;
	if (!merge(dst, src->kind))
		return 0;
	if (dst->kind == src->kind && src->ts_digits > dst->ts_digits)
		dst->ts_digits = src->ts_digits;
	if (src->kind == IT_LIST && src->elem) {
		if (!dst->elem && !(dst->elem = calloc(1, sizeof *dst->elem)))
			return IDS_ENOMEM;
		return merge_tree(inf, dst->elem, src->elem);
	}
	if (src->kind == IT_STRUCT) {
		for (size_t i = 0; i < src->n; i++) {
			const ifield *f = &src->f[i];
			long ix = find_field(dst, f->name, f->len);
			if (ix < 0 && (ix = add_field(inf, dst, f->name, f->len)) < 0)
				return ix == -2 ? IDS_ELIMIT : IDS_ENOMEM;
			int rc = merge_tree(inf, dst->f[ix].type, f->type);
			if (rc)
				return rc;
		}
	}
	return 0;
}

int pq_infer_merge(pq_infer *into, const pq_infer *from, ids_error *err)
{
	int rc = merge_tree(into, &into->root, &from->root);
	if (rc)
		return ids_fail(err, rc, rc == IDS_ELIMIT ? "more than %d fields; use a schema file"
							  : "out of memory", INFER_MAX_FIELDS);
	into->rows += from->rows;
	return 0;
}

/* ---- inode tree -> pq_node schema ---- */

static pq_node *string_leaf(const char *name)
{
	pq_node *n = pq_node_new_leaf(name, PQ_BYTE_ARRAY, PQ_OPTIONAL);
	if (n) {
		n->logical.kind = PQ_LT_STRING;
		n->converted = PQ_CT_UTF8;
	}
	return n;
}

static pq_node *to_node(const char *name, const inode *t, pq_profile profile)
{
	pq_node *n = NULL;
	switch (t->kind) {
	case IT_BOOL: return pq_node_new_leaf(name, PQ_BOOLEAN, PQ_OPTIONAL);
	case IT_INT: return pq_node_new_leaf(name, PQ_INT64, PQ_OPTIONAL);
	case IT_DOUBLE: return pq_node_new_leaf(name, PQ_DOUBLE, PQ_OPTIONAL);
	case IT_BIN: return pq_node_new_leaf(name, PQ_BYTE_ARRAY, PQ_OPTIONAL);
	case IT_DATE_STR:
		if ((n = pq_node_new_leaf(name, PQ_INT32, PQ_OPTIONAL))) {
			n->logical.kind = PQ_LT_DATE;
			n->converted = PQ_CT_DATE;
		}
		return n;
	case IT_TS:
	case IT_TS_STR:
		if (profile == PQ_PROFILE_COMPAT)
			return pq_node_new_leaf(name, PQ_INT96, PQ_OPTIONAL);
		if ((n = pq_node_new_leaf(name, PQ_INT64, PQ_OPTIONAL))) {
			n->logical.kind = PQ_LT_TIMESTAMP;
			n->logical.utc = 1;
			n->logical.unit = t->ts_digits > 6 ? PQ_NANOS : PQ_MICROS;
			n->converted = t->ts_digits > 6 ? PQ_CT_NONE : PQ_CT_TIMESTAMP_MICROS;
		}
		return n;
	case IT_STRUCT:
		if (!t->n)
			return string_leaf(name);
		if (!(n = pq_node_new_group(name, PQ_OPTIONAL)))
			return NULL;
		for (size_t i = 0; i < t->n; i++) {
			pq_node *c = to_node(t->f[i].name, t->f[i].type, profile);
			if (!c || pq_node_add(n, c)) {
				pq_node_free(c);
				pq_node_free(n);
				return NULL;
			}
		}
		return n;
	case IT_LIST: {
		static const inode none = {0};
		n = pq_node_new_group(name, PQ_OPTIONAL);
		pq_node *g = pq_node_new_group("list", PQ_REPEATED);
		pq_node *e = to_node("element", t->elem ? t->elem : &none, profile);
		if (!n || !g || !e || pq_node_add(g, e)) {
			pq_node_free(n);
			pq_node_free(g);
			pq_node_free(e);
			return NULL;
		}
		if (pq_node_add(n, g)) {
			pq_node_free(n);
			pq_node_free(g);
			return NULL;
		}
		n->logical.kind = PQ_LT_LIST;
		n->converted = PQ_CT_LIST;
		return n;
	}
	default:
		return string_leaf(name);
	}
}

int pq_infer_schema(pq_node **out, const pq_infer *inf, pq_profile profile, ids_error *err)
{
	*out = NULL;
	if (!inf->root.n)
		return ids_fail(err, IDS_EINVAL, "cannot infer a schema: the input has no fields");
	pq_node *root = to_node("schema", &inf->root, profile);
	if (!root)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	root->repetition = PQ_REQUIRED;
	*out = root;
	return 0;
}

/* ---- read access for the shredder's strict mode ---- */

const pqi_node *pqi_root(const pq_infer *inf) { return &inf->root; }

void pq_infer_text_times(pq_infer *inf, int on) { inf->no_text_times = !on; }

int pqi_text_times(const pq_infer *inf) { return !inf->no_text_times; }

const pqi_node *pqi_field(const pqi_node *n, const char *name, size_t len)
{
	if (!n || n->kind != IT_STRUCT)
		return NULL;
	long ix = find_field((inode *)n, name, len);
	return ix < 0 ? NULL : n->f[ix].type;
}

const pqi_node *pqi_elem(const pqi_node *n) { return n && n->kind == IT_LIST ? n->elem : NULL; }

int pqi_kind(const pqi_node *n) { return n ? n->kind : IT_NONE; }

size_t pqi_nfields(const pqi_node *n) { return n && n->kind == IT_STRUCT ? n->n : 0; }
