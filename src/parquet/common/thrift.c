/* Thrift compact protocol encoder (used by the writer for the footer and page headers) and
 * a bounds-checked decoder over a byte span (used by the reader on untrusted files).
 * Wire format: apache/thrift doc/specs/thrift-compact-protocol.md. */
#include "parquet/common/thrift.h"

#include <string.h>

/* ---------------- encoder ---------------- */

void pq_tenc_init(pq_tenc *e, ids_buf *out)
{
	memset(e, 0, sizeof *e);
	e->out = out;
}

static void put(pq_tenc *e, const void *p, size_t n)
{
	if (!e->failed && ids_buf_append(e->out, p, n))
		e->failed = e->out->failed ? e->out->failed : IDS_ENOMEM;
}

void pq_tenc_varint(pq_tenc *e, uint64_t v)
{
	uint8_t tmp[10];
	size_t n = 0;
	while (v >= 0x80) {
		tmp[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	tmp[n++] = (uint8_t)v;
	put(e, tmp, n);
}

static void field_header(pq_tenc *e, int16_t id, int type)
{
	int16_t last = e->last_id[e->depth];
	if (id > last && id - last <= 15) {
		uint8_t b = (uint8_t)((id - last) << 4 | type);
		put(e, &b, 1);
	} else {
		uint8_t b = (uint8_t)type;
		put(e, &b, 1);
		pq_tenc_varint(e, pq_zigzag32(id));
	}
	e->last_id[e->depth] = id;
}

void pq_tenc_i32(pq_tenc *e, int16_t id, int32_t v)
{
	field_header(e, id, PQ_T_I32);
	pq_tenc_varint(e, pq_zigzag32(v));
}

void pq_tenc_i64(pq_tenc *e, int16_t id, int64_t v)
{
	field_header(e, id, PQ_T_I64);
	pq_tenc_varint(e, pq_zigzag64(v));
}

void pq_tenc_bool(pq_tenc *e, int16_t id, int v)
{
	field_header(e, id, v ? PQ_T_TRUE : PQ_T_FALSE);
}

void pq_tenc_double(pq_tenc *e, int16_t id, double v)
{
	field_header(e, id, PQ_T_DOUBLE);
	uint64_t u = 0;
	memcpy(&u, &v, 8);
	uint8_t b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(u >> (8 * i));
	put(e, b, 8);
}

void pq_tenc_elem_binary(pq_tenc *e, const void *p, size_t n)
{
	pq_tenc_varint(e, n);
	put(e, p, n);
}

void pq_tenc_binary(pq_tenc *e, int16_t id, const void *p, size_t n)
{
	field_header(e, id, PQ_T_BINARY);
	pq_tenc_elem_binary(e, p, n);
}

void pq_tenc_string(pq_tenc *e, int16_t id, const char *s)
{
	pq_tenc_binary(e, id, s, strlen(s));
}

void pq_tenc_elem_struct_begin(pq_tenc *e)
{
	if (e->depth >= PQ_THRIFT_MAX_DEPTH) {
		if (!e->failed)
			e->failed = IDS_EINVAL;
		return;
	}
	e->last_id[++e->depth] = 0;
}

void pq_tenc_struct_begin(pq_tenc *e, int16_t id)
{
	field_header(e, id, PQ_T_STRUCT);
	pq_tenc_elem_struct_begin(e);
}

void pq_tenc_struct_end(pq_tenc *e)
{
	uint8_t stop = 0;
	put(e, &stop, 1);
	if (e->depth > 0)
		e->depth--;
	else if (!e->failed)
		e->failed = IDS_EINVAL;
}

void pq_tenc_list_begin(pq_tenc *e, int16_t id, int elem_type, size_t count)
{
	field_header(e, id, PQ_T_LIST);
	if (count < 15) {
		uint8_t b = (uint8_t)(count << 4 | (unsigned)elem_type);
		put(e, &b, 1);
	} else {
		uint8_t b = (uint8_t)(0xF0 | (unsigned)elem_type);
		put(e, &b, 1);
		pq_tenc_varint(e, count);
	}
}

void pq_tenc_elem_i32(pq_tenc *e, int32_t v) { pq_tenc_varint(e, pq_zigzag32(v)); }
void pq_tenc_elem_i64(pq_tenc *e, int64_t v) { pq_tenc_varint(e, pq_zigzag64(v)); }

void pq_tenc_elem_bool(pq_tenc *e, int v)
{
	uint8_t b = v ? PQ_T_TRUE : PQ_T_FALSE;
	put(e, &b, 1);
}

int pq_tenc_finish(pq_tenc *e)
{
	if (e->failed)
		return e->failed;
	return e->depth == 0 ? 0 : IDS_EINVAL;
}

/* ---------------- decoder ---------------- */

void pq_tdec_init(pq_tdec *d, const uint8_t *p, size_t n, ids_error *err)
{
	memset(d, 0, sizeof *d);
	d->start = d->p = p;
	d->end = p + n;
	d->max_list = (size_t)1 << 24;
	d->field_bool = -1;
	d->err = err;
}

static int corrupt(pq_tdec *d, const char *what)
{
	return ids_fail(d->err, IDS_ECORRUPT, "thrift: %s at byte offset %llu", what,
			(unsigned long long)(d->base_offset + pq_tdec_pos(d)));
}

static int varint(pq_tdec *d, uint64_t *v, int max_bytes)
{
	uint64_t r = 0;
	for (int i = 0, shift = 0; i < max_bytes; i++, shift += 7) {
		if (d->p >= d->end)
			return corrupt(d, "truncated varint");
		uint8_t b = *d->p++;
		r |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = r;
			return 0;
		}
	}
	return corrupt(d, "varint too long");
}

int pq_tdec_struct_begin(pq_tdec *d)
{
	if (d->depth >= PQ_THRIFT_MAX_DEPTH)
		return ids_fail(d->err, IDS_ELIMIT, "thrift: nesting deeper than %d at byte offset %llu",
				PQ_THRIFT_MAX_DEPTH,
				(unsigned long long)(d->base_offset + pq_tdec_pos(d)));
	d->last_id[++d->depth] = 0;
	return 0;
}

int pq_tdec_field(pq_tdec *d, int16_t *id, int *type)
{
	if (d->depth <= 0)
		return corrupt(d, "field read outside a struct");
	if (d->p >= d->end)
		return corrupt(d, "truncated struct (no STOP)");
	uint8_t b = *d->p++;
	int t = b & 0x0f;
	if (t == PQ_T_STOP) {
		d->depth--;
		return 0;
	}
	if (t > PQ_T_STRUCT)
		return corrupt(d, "invalid field type");
	int delta = b >> 4;
	int32_t fid;
	if (delta) {
		fid = d->last_id[d->depth] + delta;
	} else {
		uint64_t u;
		int rc = varint(d, &u, 3);
		if (rc)
			return rc;
		int64_t s = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
		if (s < INT16_MIN || s > INT16_MAX)
			return corrupt(d, "field id out of range");
		fid = (int32_t)s;
	}
	if (fid < INT16_MIN || fid > INT16_MAX)
		return corrupt(d, "field id out of range");
	d->last_id[d->depth] = (int16_t)fid;
	d->field_bool = t == PQ_T_TRUE ? 1 : t == PQ_T_FALSE ? 0 : -1;
	*id = (int16_t)fid;
	*type = t;
	return 1;
}

int pq_tdec_i32(pq_tdec *d, int32_t *v)
{
	uint64_t u = 0;
	int rc = varint(d, &u, 5);
	if (rc)
		return rc;
	if (u > UINT32_MAX)
		return corrupt(d, "i32 varint out of range");
	uint32_t x = (uint32_t)u;
	*v = (int32_t)((x >> 1) ^ (0u - (x & 1)));
	return 0;
}

int pq_tdec_i64(pq_tdec *d, int64_t *v)
{
	uint64_t u = 0;
	int rc = varint(d, &u, 10);
	if (rc)
		return rc;
	*v = (int64_t)((u >> 1) ^ (0 - (u & 1)));
	return 0;
}

int pq_tdec_double(pq_tdec *d, double *v)
{
	if (d->end - d->p < 8)
		return corrupt(d, "truncated double");
	uint64_t u = 0;
	for (int i = 0; i < 8; i++)
		u |= (uint64_t)d->p[i] << (8 * i);
	d->p += 8;
	memcpy(v, &u, 8);
	return 0;
}

int pq_tdec_bool(pq_tdec *d, int *v)
{
	if (d->field_bool >= 0) {
		*v = d->field_bool;
		d->field_bool = -1;
		return 0;
	}
	if (d->p >= d->end)
		return corrupt(d, "truncated bool");
	uint8_t b = *d->p++;
	/* lists of bools: 1 = true, 2 = false per the spec; some writers use 0 for false */
	if (b > 2)
		return corrupt(d, "invalid bool");
	*v = b == 1;
	return 0;
}

int pq_tdec_binary(pq_tdec *d, const uint8_t **p, size_t *n)
{
	uint64_t len = 0;
	int rc = varint(d, &len, 5);
	if (rc)
		return rc;
	if (len > (uint64_t)(d->end - d->p))
		return corrupt(d, "binary length past end of data");
	*p = d->p;
	*n = (size_t)len;
	d->p += len;
	return 0;
}

int pq_tdec_list_begin(pq_tdec *d, int *elem_type, uint32_t *count)
{
	d->field_bool = -1;
	if (d->p >= d->end)
		return corrupt(d, "truncated list header");
	uint8_t b = *d->p++;
	uint64_t n = b >> 4;
	if (n == 15) {
		int rc = varint(d, &n, 5);
		if (rc)
			return rc;
	}
	int t = b & 0x0f;
	if (t == PQ_T_STOP || t > PQ_T_STRUCT)
		return corrupt(d, "invalid list element type");
	/* every element takes at least one byte, so a count beyond the remaining bytes is a lie */
	if (n > (uint64_t)(d->end - d->p) || n > d->max_list)
		return corrupt(d, "list count exceeds remaining bytes or limit");
	*elem_type = t;
	*count = (uint32_t)n;
	return 0;
}

static int skip_depth(pq_tdec *d, int type, int depth)
{
	uint64_t u = 0;
	const uint8_t *bp;
	size_t bn;
	if (depth > PQ_THRIFT_MAX_DEPTH)
		return ids_fail(d->err, IDS_ELIMIT, "thrift: nesting deeper than %d at byte offset %llu",
				PQ_THRIFT_MAX_DEPTH,
				(unsigned long long)(d->base_offset + pq_tdec_pos(d)));
	switch (type) {
	case PQ_T_TRUE:
	case PQ_T_FALSE: {
		int v;
		return pq_tdec_bool(d, &v);
	}
	case PQ_T_BYTE:
		if (d->p >= d->end)
			return corrupt(d, "truncated byte");
		d->p++;
		return 0;
	case PQ_T_I16:
	case PQ_T_I32:
		return varint(d, &u, 5);
	case PQ_T_I64:
		return varint(d, &u, 10);
	case PQ_T_DOUBLE:
		if (d->end - d->p < 8)
			return corrupt(d, "truncated double");
		d->p += 8;
		return 0;
	case PQ_T_BINARY:
		return pq_tdec_binary(d, &bp, &bn);
	case PQ_T_LIST:
	case PQ_T_SET: {
		int et;
		uint32_t n;
		int rc = pq_tdec_list_begin(d, &et, &n);
		for (uint32_t i = 0; rc == 0 && i < n; i++) {
			d->field_bool = -1;
			rc = skip_depth(d, et, depth + 1);
		}
		return rc;
	}
	case PQ_T_MAP: {
		uint64_t n = 0;
		int rc = varint(d, &n, 5);
		if (rc || n == 0)
			return rc;
		if (d->p >= d->end)
			return corrupt(d, "truncated map header");
		uint8_t kv = *d->p++;
		int kt = kv >> 4, vt = kv & 0x0f;
		if (kt == 0 || kt > PQ_T_STRUCT || vt == 0 || vt > PQ_T_STRUCT)
			return corrupt(d, "invalid map key/value type");
		if (n > (uint64_t)(d->end - d->p) / 2 || n > d->max_list)
			return corrupt(d, "map count exceeds remaining bytes or limit");
		for (uint64_t i = 0; rc == 0 && i < n; i++) {
			d->field_bool = -1;
			rc = skip_depth(d, kt, depth + 1);
			d->field_bool = -1;
			if (rc == 0)
				rc = skip_depth(d, vt, depth + 1);
		}
		return rc;
	}
	case PQ_T_STRUCT: {
		int rc = pq_tdec_struct_begin(d);
		if (rc)
			return rc;
		int16_t id;
		int t;
		while ((rc = pq_tdec_field(d, &id, &t)) > 0) {
			if ((rc = skip_depth(d, t, depth + 1)) != 0)
				return rc;
		}
		return rc;
	}
	default:
		return corrupt(d, "invalid type to skip");
	}
}

int pq_tdec_skip(pq_tdec *d, int type)
{
	return skip_depth(d, type, d->depth);
}

int pq_tdec_expect_i32(pq_tdec *d, int type, int32_t *v)
{
	if (type != PQ_T_I32)
		return pq_tdec_skip(d, type);
	int rc = pq_tdec_i32(d, v);
	return rc ? rc : 1;
}

int pq_tdec_expect_i64(pq_tdec *d, int type, int64_t *v)
{
	if (type != PQ_T_I64)
		return pq_tdec_skip(d, type);
	int rc = pq_tdec_i64(d, v);
	return rc ? rc : 1;
}

int pq_tdec_expect_bool(pq_tdec *d, int type, int *v)
{
	if (type != PQ_T_TRUE && type != PQ_T_FALSE)
		return pq_tdec_skip(d, type);
	int rc = pq_tdec_bool(d, v);
	return rc ? rc : 1;
}

int pq_tdec_expect_binary(pq_tdec *d, int type, const uint8_t **p, size_t *n)
{
	if (type != PQ_T_BINARY)
		return pq_tdec_skip(d, type);
	int rc = pq_tdec_binary(d, p, n);
	return rc ? rc : 1;
}
