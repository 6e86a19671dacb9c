/* Manifests and manifest lists read back with Apache Avro C's file reader (generic values by
 * field name): at start, the current snapshot's files with their metrics, and the files the
 * kept snapshots removed (expiry). */
#include "iceberg.h"

#include <avro.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int get_field(avro_value_t *rec, const char *name, avro_value_t *out)
{
	if (avro_value_get_by_name(rec, name, out, NULL))
		return -1;
	if (avro_value_get_type(out) == AVRO_UNION) {
		int disc;
		avro_value_t b;
		if (avro_value_get_discriminant(out, &disc) || avro_value_get_current_branch(out, &b))
			return -1;
		if (avro_value_get_type(&b) == AVRO_NULL)
			return 1;
		*out = b;
	}
	return 0;
}

static int64_t get_long(avro_value_t *rec, const char *name, int64_t dflt)
{
	avro_value_t f;
	if (get_field(rec, name, &f))
		return dflt;
	int64_t l;
	int32_t i;
	if (avro_value_get_type(&f) == AVRO_INT64 && !avro_value_get_long(&f, &l))
		return l;
	if (avro_value_get_type(&f) == AVRO_INT32 && !avro_value_get_int(&f, &i))
		return i;
	return dflt;
}

/* An optional bytes field into out: 1 present, 0 absent, -1 longer than ICE_PART_MAX. */
static int get_bytes(avro_value_t *rec, const char *name, uint8_t *out, uint8_t *len)
{
	avro_value_t f;
	const void *p;
	size_t n;
	if (get_field(rec, name, &f) || avro_value_get_bytes(&f, &p, &n))
		return 0;
	if (n > ICE_PART_MAX)
		return -1;
	memcpy(out, p, n);
	*len = (uint8_t)n;
	return 1;
}

/* The first field of a partition record as single-value serialized bytes: x->day for a date,
 * x->pset/pnull/pval for an identity value. */
static void read_part(avro_value_t *part, ice_file *x)
{
	avro_value_t f, b;
	size_t cnt = 0;
	if (avro_value_get_size(part, &cnt) || !cnt || avro_value_get_by_index(part, 0, &f, NULL))
		return;
	if (avro_value_get_type(&f) == AVRO_UNION) {
		if (avro_value_get_current_branch(&f, &b))
			return;
		f = b;
	}
	uint64_t u = 0;
	int32_t i32;
	int64_t i64;
	double d;
	int bo;
	const void *p;
	size_t n;
	x->pset = 1;
	switch (avro_value_get_type(&f)) {
	case AVRO_NULL:
		x->pnull = 1;
		return;
	case AVRO_INT32:
		if (!avro_value_get_int(&f, &i32))
			x->day = i32;
		x->pset = 0;
		return;
	case AVRO_INT64:
		if (avro_value_get_long(&f, &i64))
			break;
		u = (uint64_t)i64;
		goto fixed;
	case AVRO_DOUBLE:
		if (avro_value_get_double(&f, &d))
			break;
		memcpy(&u, &d, sizeof u);
	fixed:
		for (int k = 0; k < 8; k++)
			x->pval[k] = (uint8_t)(u >> (8 * k));
		x->plen = 8;
		return;
	case AVRO_BOOLEAN:
		if (avro_value_get_boolean(&f, &bo))
			break;
		x->pval[0] = bo ? 1 : 0;
		x->plen = 1;
		return;
	case AVRO_STRING:
		if (avro_value_get_string(&f, (const char **)&p, &n) || !n || n - 1 > ICE_PART_MAX)
			break;
		memcpy(x->pval, p, n - 1);   /* n counts the NUL */
		x->plen = (uint8_t)(n - 1);
		return;
	case AVRO_BYTES:
		if (avro_value_get_bytes(&f, &p, &n) || n > ICE_PART_MAX)
			break;
		memcpy(x->pval, p, n);
		x->plen = (uint8_t)n;
		return;
	default:
		break;
	}
	x->pset = 0;
}

typedef int (*rec_fn)(void *ctx, avro_value_t *v, ids_error *err);

static int read_records(const char *path, rec_fn fn, void *ctx, ids_error *err)
{
	avro_file_reader_t r;
	if (avro_file_reader(path, &r))
		return ids_fail(err, IDS_ECORRUPT, "%s: %s", path, avro_strerror());
	avro_schema_t ws = avro_file_reader_get_writer_schema(r);
	avro_value_iface_t *cls = avro_generic_class_from_schema(ws);
	avro_value_t v;
	int rc = cls && !avro_generic_value_new(cls, &v) ? 0 : ids_fail(err, IDS_ENOMEM, "avro: %s", avro_strerror());
	if (!rc) {
		int e;
		while (!rc && !(e = avro_file_reader_read_value(r, &v)))
			rc = fn(ctx, &v, err);
		if (!rc && e != EOF)
			rc = ids_fail(err, IDS_ECORRUPT, "%s: %s", path, avro_strerror());
		avro_value_decref(&v);
	}
	if (cls)
		avro_value_iface_decref(cls);
	avro_schema_decref(ws);   /* the getter returns a new reference */
	avro_file_reader_close(r);
	return rc;
}

typedef struct mf_ctx {
	ice_mf **mfs;
	size_t *n;
	ice_file **files;
	int64_t mf_seq;
	int deleted;                 /* the DELETED entries instead of the live ones */
	lk_ice *ice;                 /* URIs -> mirror paths */
} mf_ctx;

static int on_mf(void *ctx, avro_value_t *v, ids_error *err)
{
	mf_ctx *c = ctx;
	ice_mf *a = realloc(*c->mfs, (*c->n + 1) * sizeof *a);
	if (!a)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	*c->mfs = a;
	ice_mf *m = &a[*c->n];
	memset(m, 0, sizeof *m);
	avro_value_t f;
	const char *s = NULL;
	size_t sn;
	char pbuf[4600];
	if (get_field(v, "manifest_path", &f) || avro_value_get_string(&f, &s, &sn) ||
	    !(m->path = strdup(ice_path(c->ice, s, pbuf, sizeof pbuf))))
		return ids_fail(err, IDS_ECORRUPT, "manifest list: no manifest_path");
	(*c->n)++;
	m->len = get_long(v, "manifest_length", 0);
	m->seq = get_long(v, "sequence_number", 0);
	m->min_seq = get_long(v, "min_sequence_number", 0);
	m->snap = get_long(v, "added_snapshot_id", 0);
	m->added = (int32_t)get_long(v, "added_files_count", 0);
	m->existing = (int32_t)get_long(v, "existing_files_count", 0);
	m->deleted = (int32_t)get_long(v, "deleted_files_count", 0);
	m->arows = get_long(v, "added_rows_count", 0);
	m->erows = get_long(v, "existing_rows_count", 0);
	m->drows = get_long(v, "deleted_rows_count", 0);
	avro_value_t arr, el;
	size_t cnt = 0;
	if (!get_field(v, "partitions", &arr) && !avro_value_get_size(&arr, &cnt) && cnt &&
	    !avro_value_get_by_index(&arr, 0, &el, NULL)) {
		avro_value_t cn;
		int bv = 1;
		if (!get_field(&el, "contains_null", &cn))
			avro_value_get_boolean(&cn, &bv);
		m->pnull = bv != 0;
		int lo = get_bytes(&el, "lower_bound", m->lo, &m->lo_len), hi = get_bytes(&el, "upper_bound", m->hi, &m->hi_len);
		m->pvals = lo > 0;
		/* a bound we cannot keep: no summary rather than a wrong one */
		m->has_bounds = lo >= 0 && hi >= 0 && lo == hi;
	}
	m->spec = (int32_t)get_long(v, "partition_spec_id", 0);
	return 0;
}

int ice_read_manifest_list(lk_ice *ice, const char *path, ice_mf **mfs, size_t *n, ids_error *err)
{
	mf_ctx c = {.mfs = mfs, .n = n, .ice = ice};
	int rc = ice_fetch(ice, path, err);
	return rc ? rc : read_records(path, on_mf, &c, err);
}

static ice_metric *metric_of(ice_file *x, int32_t id)
{
	for (size_t i = 0; i < x->n_m; i++)
		if (x->m[i].id == id)
			return &x->m[i];
	ice_metric *m = realloc(x->m, (x->n_m + 1) * sizeof *m);
	if (!m)
		return NULL;
	x->m = m;
	memset(&m[x->n_m], 0, sizeof *m);
	m[x->n_m].id = id;
	m[x->n_m].nulls = -1;
	m[x->n_m].nans = -1;
	return &m[x->n_m++];
}

/* The metrics maps of a manifest entry back into x->m (what written manifests said stays said
 * when a later commit rewrites them). which: 0 values, 1 nulls, 2 lower, 3 upper, 4 sizes,
 * 5 NaNs (a manifest written before these two has neither: they stay unknown). */
static void read_metrics(avro_value_t *df, ice_file *x)
{
	static const char *const names[6] = {"value_counts", "null_value_counts", "lower_bounds", "upper_bounds",
					     "column_sizes", "nan_value_counts"};
	for (int which = 0; which < 6; which++) {
		avro_value_t arr, el, k, val;
		size_t n = 0;
		if (get_field(df, names[which], &arr) || avro_value_get_size(&arr, &n))
			continue;
		for (size_t i = 0; i < n; i++) {
			int32_t id;
			if (avro_value_get_by_index(&arr, i, &el, NULL) || avro_value_get_by_name(&el, "key", &k, NULL) ||
			    avro_value_get_int(&k, &id) || avro_value_get_by_name(&el, "value", &val, NULL))
				continue;
			ice_metric *m = metric_of(x, id);
			const void *p;
			size_t len;
			int64_t l;
			if (!m)
				return;
			if ((which < 2 || which > 3) && !avro_value_get_long(&val, &l)) {
				int64_t *to[6] = {&m->values, &m->nulls, NULL, NULL, &m->size, &m->nans};
				*to[which] = l;
			} else if ((which == 2 || which == 3) && !avro_value_get_bytes(&val, &p, &len) && len <= ICE_BOUND_MAX) {
				memcpy(which == 2 ? m->lo : m->hi, p, len);
				*(which == 2 ? &m->lo_len : &m->hi_len) = (uint8_t)len;
			}
		}
	}
}

static int on_entry(void *ctx, avro_value_t *v, ids_error *err)
{
	mf_ctx *c = ctx;
	int status = (int)get_long(v, "status", 0);
	if ((status == 2) != c->deleted)
		return 0;
	avro_value_t df, f, part;
	const char *s = NULL;
	size_t sn;
	if (avro_value_get_by_name(v, "data_file", &df, NULL) || get_field(&df, "file_path", &f) ||
	    avro_value_get_string(&f, &s, &sn))
		return ids_fail(err, IDS_ECORRUPT, "manifest: no data_file.file_path");
	ice_file *a = realloc(*c->files, (*c->n + 1) * sizeof *a);
	if (!a)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	*c->files = a;
	ice_file *x = &a[*c->n];
	memset(x, 0, sizeof *x);
	char pbuf[4600];
	if (!(x->path = strdup(ice_path(c->ice, s, pbuf, sizeof pbuf))))
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	(*c->n)++;
	x->status = 0;
	x->snap = get_long(v, "snapshot_id", 0);
	x->seq = get_long(v, "sequence_number", c->mf_seq);
	x->fseq = get_long(v, "file_sequence_number", c->mf_seq);
	x->rows = get_long(&df, "record_count", 0);
	x->size = get_long(&df, "file_size_in_bytes", 0);
	if (!avro_value_get_by_name(&df, "partition", &part, NULL))
		read_part(&part, x);
	read_metrics(&df, x);
	const char *base = strrchr(x->path, '/');
	long long a1, b1;
	x->first = x->last = 0;
	if (base && sscanf(base + 1, "part-%lld-%lld-", &a1, &b1) == 2) {
		x->first = a1;
		x->last = b1;
	}
	return 0;
}

int ice_read_manifest(lk_ice *ice, const char *path, int64_t mf_seq, int deleted, ice_file **files, size_t *n,
		      ids_error *err)
{
	mf_ctx c = {.files = files, .n = n, .mf_seq = mf_seq, .deleted = deleted, .ice = ice};
	int rc = ice_fetch(ice, path, err);
	return rc ? rc : read_records(path, on_entry, &c, err);
}

void ice_files_free(ice_file *f, size_t n)
{
	for (size_t i = 0; f && i < n; i++) {
		free(f[i].path);
		free(f[i].m);
	}
	free(f);
}

void ice_mfs_free(ice_mf *m, size_t n)
{
	for (size_t i = 0; m && i < n; i++)
		free(m[i].path);
	free(m);
}
