/* Iceberg manifests and manifest lists as Avro object container files. Records are encoded
 * with Apache Avro C (avro_value_write); the container framing (magic, key-value metadata,
 * sync marker, one block) is written here because avro-c rewrites the schema it stores in the
 * file header without the "field-id"/"element-id" attributes Iceberg readers need (measured
 * on avro-c 1.11.1: avro_schema_to_json drops them), so the header carries our schema text.
 * Reading them back: iceberg_avro_read.c. */
#include "iceberg.h"

#include <avro.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

/* manifest_file (manifest list entries), v2 */
static const char MANIFEST_LIST_SCHEMA[] =
	"{\"type\":\"record\",\"name\":\"manifest_file\",\"fields\":["
	"{\"name\":\"manifest_path\",\"type\":\"string\",\"field-id\":500},"
	"{\"name\":\"manifest_length\",\"type\":\"long\",\"field-id\":501},"
	"{\"name\":\"partition_spec_id\",\"type\":\"int\",\"field-id\":502},"
	"{\"name\":\"content\",\"type\":\"int\",\"field-id\":517},"
	"{\"name\":\"sequence_number\",\"type\":\"long\",\"field-id\":515},"
	"{\"name\":\"min_sequence_number\",\"type\":\"long\",\"field-id\":516},"
	"{\"name\":\"added_snapshot_id\",\"type\":\"long\",\"field-id\":503},"
	"{\"name\":\"added_files_count\",\"type\":\"int\",\"field-id\":504},"
	"{\"name\":\"existing_files_count\",\"type\":\"int\",\"field-id\":505},"
	"{\"name\":\"deleted_files_count\",\"type\":\"int\",\"field-id\":506},"
	"{\"name\":\"added_rows_count\",\"type\":\"long\",\"field-id\":512},"
	"{\"name\":\"existing_rows_count\",\"type\":\"long\",\"field-id\":513},"
	"{\"name\":\"deleted_rows_count\",\"type\":\"long\",\"field-id\":514},"
	"{\"name\":\"partitions\",\"type\":[\"null\",{\"type\":\"array\",\"items\":{\"type\":\"record\",\"name\":\"r508\","
	"\"fields\":[{\"name\":\"contains_null\",\"type\":\"boolean\",\"field-id\":509},"
	"{\"name\":\"contains_nan\",\"type\":[\"null\",\"boolean\"],\"default\":null,\"field-id\":518},"
	"{\"name\":\"lower_bound\",\"type\":[\"null\",\"bytes\"],\"default\":null,\"field-id\":510},"
	"{\"name\":\"upper_bound\",\"type\":[\"null\",\"bytes\"],\"default\":null,\"field-id\":511}]},"
	"\"element-id\":508}],\"default\":null,\"field-id\":507}]}";

/* manifest_entry, v2; %s: the partition record's fields */
static const char MANIFEST_SCHEMA_FMT[] =
	"{\"type\":\"record\",\"name\":\"manifest_entry\",\"fields\":["
	"{\"name\":\"status\",\"type\":\"int\",\"field-id\":0},"
	"{\"name\":\"snapshot_id\",\"type\":[\"null\",\"long\"],\"default\":null,\"field-id\":1},"
	"{\"name\":\"sequence_number\",\"type\":[\"null\",\"long\"],\"default\":null,\"field-id\":3},"
	"{\"name\":\"file_sequence_number\",\"type\":[\"null\",\"long\"],\"default\":null,\"field-id\":4},"
	"{\"name\":\"data_file\",\"type\":{\"type\":\"record\",\"name\":\"r2\",\"fields\":["
	"{\"name\":\"content\",\"type\":\"int\",\"field-id\":134},"
	"{\"name\":\"file_path\",\"type\":\"string\",\"field-id\":100},"
	"{\"name\":\"file_format\",\"type\":\"string\",\"field-id\":101},"
	"{\"name\":\"partition\",\"type\":{\"type\":\"record\",\"name\":\"r102\",\"fields\":[%s]},\"field-id\":102},"
	"{\"name\":\"record_count\",\"type\":\"long\",\"field-id\":103},"
	"{\"name\":\"file_size_in_bytes\",\"type\":\"long\",\"field-id\":104},"
	"{\"name\":\"column_sizes\",\"type\":[\"null\",{\"type\":\"array\",\"items\":{\"type\":\"record\",\"name\":\"k117_v118\","
	"\"fields\":[{\"name\":\"key\",\"type\":\"int\",\"field-id\":117},{\"name\":\"value\",\"type\":\"long\",\"field-id\":118}]},"
	"\"logicalType\":\"map\"}],\"default\":null,\"field-id\":108},"
	"{\"name\":\"value_counts\",\"type\":[\"null\",{\"type\":\"array\",\"items\":{\"type\":\"record\",\"name\":\"k119_v120\","
	"\"fields\":[{\"name\":\"key\",\"type\":\"int\",\"field-id\":119},{\"name\":\"value\",\"type\":\"long\",\"field-id\":120}]},"
	"\"logicalType\":\"map\"}],\"default\":null,\"field-id\":109},"
	"{\"name\":\"null_value_counts\",\"type\":[\"null\",{\"type\":\"array\",\"items\":{\"type\":\"record\",\"name\":\"k121_v122\","
	"\"fields\":[{\"name\":\"key\",\"type\":\"int\",\"field-id\":121},{\"name\":\"value\",\"type\":\"long\",\"field-id\":122}]},"
	"\"logicalType\":\"map\"}],\"default\":null,\"field-id\":110},"
	"{\"name\":\"nan_value_counts\",\"type\":[\"null\",{\"type\":\"array\",\"items\":{\"type\":\"record\",\"name\":\"k138_v139\","
	"\"fields\":[{\"name\":\"key\",\"type\":\"int\",\"field-id\":138},{\"name\":\"value\",\"type\":\"long\",\"field-id\":139}]},"
	"\"logicalType\":\"map\"}],\"default\":null,\"field-id\":137},"
	"{\"name\":\"lower_bounds\",\"type\":[\"null\",{\"type\":\"array\",\"items\":{\"type\":\"record\",\"name\":\"k126_v127\","
	"\"fields\":[{\"name\":\"key\",\"type\":\"int\",\"field-id\":126},{\"name\":\"value\",\"type\":\"bytes\",\"field-id\":127}]},"
	"\"logicalType\":\"map\"}],\"default\":null,\"field-id\":125},"
	"{\"name\":\"upper_bounds\",\"type\":[\"null\",{\"type\":\"array\",\"items\":{\"type\":\"record\",\"name\":\"k129_v130\","
	"\"fields\":[{\"name\":\"key\",\"type\":\"int\",\"field-id\":129},{\"name\":\"value\",\"type\":\"bytes\",\"field-id\":130}]},"
	"\"logicalType\":\"map\"}],\"default\":null,\"field-id\":128},"
	"{\"name\":\"sort_order_id\",\"type\":[\"null\",\"int\"],\"default\":null,\"field-id\":140}"
	"]},\"field-id\":2}]}";

/* The Avro type of a partition value of Iceberg type t. */
static const char *avro_type_of(const char *t)
{
	return !strcmp(t, "date")          ? "{\"type\":\"int\",\"logicalType\":\"date\"}"
	       : !strcmp(t, "long")        ? "\"long\""
	       : !strcmp(t, "double")      ? "\"double\""
	       : !strcmp(t, "boolean")     ? "\"boolean\""
	       : !strcmp(t, "string")      ? "\"string\""
	       : !strcmp(t, "timestamptz") ? "{\"type\":\"long\",\"logicalType\":\"timestamp-micros\",\"adjust-to-utc\":true}"
					   : "\"bytes\"";
}

/* The partition record's field of spec p ("" unpartitioned). Its Avro name must be a valid
 * one (readers match the field by its field-id): the partition name if it is, else p<id>. */
static void part_field_json(const ice_part *p, char *out, size_t size)
{
	if (!p->transform) {
		*out = 0;
		return;
	}
	int ok = p->name[0] && !(p->name[0] >= '0' && p->name[0] <= '9');
	for (const char *c = p->name; *c; c++)
		ok &= (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_';
	char name[300];
	if (ok)
		snprintf(name, sizeof name, "%s", p->name);
	else
		snprintf(name, sizeof name, "p%d", (int)p->field_id);
	snprintf(out, size, "{\"name\":\"%s\",\"type\":[\"null\",%s],\"default\":null,\"field-id\":%d}", name,
		 avro_type_of(p->type), (int)p->field_id);
}

/* ---- container framing ---- */
static void put_long(ids_buf *b, int64_t v)
{
	uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
	while (z & ~0x7full) {
		ids_buf_putc(b, (char)((z & 0x7f) | 0x80));
		z >>= 7;
	}
	ids_buf_putc(b, (char)z);
}

static void put_bytes(ids_buf *b, const char *s, size_t n)
{
	put_long(b, (int64_t)n);
	ids_buf_append(b, s, n);
}

typedef struct avro_out {
	avro_schema_t schema;
	avro_value_iface_t *cls;
	avro_value_t v;
	ids_buf block;
	int64_t count;
	int ok;
} avro_out;

static int out_init(avro_out *o, const char *schema_json, ids_error *err)
{
	memset(o, 0, sizeof *o);
	if (avro_schema_from_json_length(schema_json, strlen(schema_json), &o->schema))
		return ids_fail(err, IDS_EINVAL, "avro schema: %s", avro_strerror());
	o->cls = avro_generic_class_from_schema(o->schema);
	if (!o->cls || avro_generic_value_new(o->cls, &o->v)) {
		avro_schema_decref(o->schema);
		if (o->cls)
			avro_value_iface_decref(o->cls);
		return ids_fail(err, IDS_ENOMEM, "avro: %s", avro_strerror());
	}
	o->ok = 1;
	return 0;
}

static void out_free(avro_out *o)
{
	if (!o->ok)
		return;
	avro_value_decref(&o->v);
	avro_value_iface_decref(o->cls);
	avro_schema_decref(o->schema);
	ids_buf_free(&o->block);
	o->ok = 0;
}

/* Appends the record in o->v to the block. */
static int out_record(avro_out *o, ids_error *err)
{
	size_t n = 0;
	if (avro_value_sizeof(&o->v, &n))
		return ids_fail(err, IDS_EINVAL, "avro: %s", avro_strerror());
	size_t at = o->block.len;
	ids_buf_reserve(&o->block, n + 1);
	if (o->block.failed)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	avro_writer_t w = avro_writer_memory(o->block.data + at, (int64_t)n);
	int rc = avro_value_write(w, &o->v);
	avro_writer_free(w);
	if (rc)
		return ids_fail(err, IDS_EINVAL, "avro write: %s", avro_strerror());
	o->block.len = at + n;
	o->count++;
	avro_value_reset(&o->v);
	return 0;
}

/* The whole container: header (metadata kv pairs, NULL-terminated) and the block. */
static int out_file(avro_out *o, const char *path, const char *schema_json, const char *const *kv, ids_error *err)
{
	ids_buf f = IDS_BUF_INIT;
	ids_buf_append(&f, "Obj\x01", 4);
	size_t n = 2;
	for (const char *const *p = kv; *p; p += 2)
		n++;
	put_long(&f, (int64_t)n);
	put_bytes(&f, "avro.schema", 11);
	put_bytes(&f, schema_json, strlen(schema_json));
	put_bytes(&f, "avro.codec", 10);
	put_bytes(&f, "null", 4);
	for (const char *const *p = kv; *p; p += 2) {
		put_bytes(&f, p[0], strlen(p[0]));
		put_bytes(&f, p[1], strlen(p[1]));
	}
	put_long(&f, 0);
	char sync[16];
	if (getrandom(sync, sizeof sync, 0) != (ssize_t)sizeof sync)
		for (size_t i = 0; i < sizeof sync; i++)
			sync[i] = (char)(rand() & 0xff);
	ids_buf_append(&f, sync, sizeof sync);
	if (o->count) {
		put_long(&f, o->count);
		put_long(&f, (int64_t)o->block.len);
		ids_buf_append(&f, o->block.data, o->block.len);
		ids_buf_append(&f, sync, sizeof sync);
	}
	int rc = f.failed ? ids_fail(err, IDS_ENOMEM, "out of memory") : ice_create_file(path, f.data, f.len, err);
	ids_buf_free(&f);
	return rc;
}

int ice_create_file(const char *path, const void *data, size_t len, ids_error *err)
{
	char tmp[IDS_PATH_MAX + 1];
	unsigned r = 0;
	if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
		r = (unsigned)rand();
	int rc = ids_path(tmp, sizeof tmp, err, "%s.%08x.tmp", path, r);
	if (rc)
		return rc;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return ids_fail(err, IDS_EIO, "create %s: %s", tmp, strerror(errno));
	const char *p = data;
	size_t off = 0;
	while (!rc && off < len) {
		ssize_t w = write(fd, p + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			rc = ids_fail(err, IDS_EIO, "write %s: %s", tmp, strerror(errno));
		else
			off += (size_t)w;
	}
	if (!rc && fsync(fd))
		rc = ids_fail(err, IDS_EIO, "fsync %s: %s", tmp, strerror(errno));
	close(fd);
	/* link(2) never replaces: the catalog's "create the next version or fail" */
	if (!rc && link(tmp, path))
		rc = ids_fail(err, errno == EEXIST ? IDS_ECONFLICT : IDS_EIO, "link %s -> %s: %s", tmp, path,
			      strerror(errno));
	unlink(tmp);
	if (!rc) {
		char dir[IDS_PATH_MAX + 1];
		char *s = ids_path(dir, sizeof dir, NULL, "%s", path) ? NULL : strrchr(dir, '/');
		if (s) {
			*s = 0;
			lk_fsync_dir(dir);
		}
	}
	return rc;
}

/* ---- setters ---- */
static void set_int(avro_value_t *rec, const char *name, int32_t x)
{
	avro_value_t f;
	if (!avro_value_get_by_name(rec, name, &f, NULL))
		avro_value_set_int(&f, x);
}

static void set_long(avro_value_t *rec, const char *name, int64_t x)
{
	avro_value_t f;
	if (!avro_value_get_by_name(rec, name, &f, NULL))
		avro_value_set_long(&f, x);
}

static void set_string(avro_value_t *rec, const char *name, const char *s)
{
	avro_value_t f;
	if (!avro_value_get_by_name(rec, name, &f, NULL))
		avro_value_set_string(&f, s);
}

/* A ["null", T] union: branch 1 (the value) or 0 (null). */
static int opt_branch(avro_value_t *rec, const char *name, int present, avro_value_t *out)
{
	avro_value_t f;
	if (avro_value_get_by_name(rec, name, &f, NULL))
		return -1;
	avro_value_t b;
	if (avro_value_set_branch(&f, present ? 1 : 0, &b))
		return -1;
	if (!present)
		avro_value_set_null(&b);
	*out = b;
	return present ? 0 : 1;
}

static void set_opt_long(avro_value_t *rec, const char *name, int present, int64_t x)
{
	avro_value_t b;
	if (!opt_branch(rec, name, present, &b))
		avro_value_set_long(&b, x);
}

static void le64(char *o, int64_t v)
{
	for (int i = 0; i < 8; i++)
		o[i] = (char)(((uint64_t)v >> (8 * i)) & 0xff);
}

static void le32(char *o, int32_t v)
{
	for (int i = 0; i < 4; i++)
		o[i] = (char)(((uint32_t)v >> (8 * i)) & 0xff);
}

/* One key/value record appended to a map<int, T> stored as an array. */
static int map_entry(avro_value_t *arr, int key, avro_value_t *val)
{
	avro_value_t el, k;
	if (avro_value_append(arr, &el, NULL) || avro_value_get_by_name(&el, "key", &k, NULL) ||
	    avro_value_get_by_name(&el, "value", val, NULL))
		return -1;
	return avro_value_set_int(&k, key);
}

/* One of the file's count maps: value_counts, null_value_counts, column_sizes or
 * nan_value_counts (the columns whose count is known). */
enum { CNT_VALUES, CNT_NULLS, CNT_SIZES, CNT_NANS };
static int64_t count_of(const ice_metric *m, int which)
{
	switch (which) {
	case CNT_VALUES: return m->values;
	case CNT_NULLS: return m->nulls;
	case CNT_SIZES: return m->size > 0 ? m->size : -1;
	default: return m->nans;
	}
}

static void set_counts(avro_value_t *rec, const char *name, const ice_file *f, int which)
{
	size_t n = 0;
	for (size_t i = 0; i < f->n_m; i++)
		n += count_of(&f->m[i], which) >= 0;
	avro_value_t arr, v;
	if (opt_branch(rec, name, n > 0, &arr))
		return;
	for (size_t i = 0; i < f->n_m; i++)
		if (count_of(&f->m[i], which) >= 0 && !map_entry(&arr, f->m[i].id, &v))
			avro_value_set_long(&v, count_of(&f->m[i], which));
}

/* lower_bounds / upper_bounds; without metrics the seq or id range of a log file (field key) */
static void set_bounds(avro_value_t *rec, const char *name, const ice_file *f, int upper, int key)
{
	size_t n = 0;
	for (size_t i = 0; i < f->n_m; i++)
		n += (upper ? f->m[i].hi_len : f->m[i].lo_len) > 0;
	int range = !f->n_m && key > 0 && f->last >= f->first && f->last > 0;
	avro_value_t arr, v;
	if (opt_branch(rec, name, n > 0 || range, &arr))
		return;
	for (size_t i = 0; i < f->n_m; i++) {
		size_t len = upper ? f->m[i].hi_len : f->m[i].lo_len;
		if (len && !map_entry(&arr, f->m[i].id, &v))
			avro_value_set_bytes(&v, (void *)(upper ? f->m[i].hi : f->m[i].lo), len);
	}
	if (range && !map_entry(&arr, key, &v)) {
		char b[8];
		le64(b, upper ? f->last : f->first);
		avro_value_set_bytes(&v, b, 8);
	}
}

/* A file's partition value under spec p in single-value serialization (0: null). */
static size_t part_value(const ice_part *p, const ice_file *f, uint8_t *out)
{
	if (!strcmp(p->transform, "day")) {
		le32((char *)out, f->day);
		return 4;
	}
	if (f->pnull)
		return 0;
	memcpy(out, f->pval, f->plen);
	return f->plen ? f->plen : (size_t)-1;   /* an empty string: a value of length 0 */
}

/* Sets the partition record's field to the value (n bytes; (size_t)-1: empty, 0: null). */
static void set_part(avro_value_t *df, const ice_part *p, const uint8_t *v, size_t n)
{
	avro_value_t part, b, f;
	if (avro_value_get_by_name(df, "partition", &part, NULL) || avro_value_get_by_index(&part, 0, &f, NULL) ||
	    avro_value_set_branch(&f, n ? 1 : 0, &b))
		return;
	if (!n) {
		avro_value_set_null(&b);
		return;
	}
	if (n == (size_t)-1)
		n = 0;
	const char *t = p->type;
	uint64_t u = 0;
	for (size_t i = 0; i < 8 && i < n; i++)
		u |= (uint64_t)v[i] << (8 * i);
	if (!strcmp(t, "date"))
		avro_value_set_int(&b, (int32_t)(uint32_t)u);
	else if (!strcmp(t, "long") || !strcmp(t, "timestamptz"))
		avro_value_set_long(&b, (int64_t)u);
	else if (!strcmp(t, "double")) {
		double d;
		memcpy(&d, &u, sizeof d);
		avro_value_set_double(&b, d);
	} else if (!strcmp(t, "boolean"))
		avro_value_set_boolean(&b, n && v[0]);
	else if (!strcmp(t, "string")) {
		char *z = malloc(n + 1);
		if (z) {
			memcpy(z, v, n);
			z[n] = 0;
			avro_value_set_string_len(&b, z, n + 1);
			free(z);
		}
	} else
		avro_value_set_bytes(&b, (void *)v, n);
}

/* The manifest-list summary of the partition values (bounds, nulls). */
static void summary_add(ice_mf *out, const ice_part *p, const uint8_t *v, size_t n)
{
	out->has_bounds = 1;
	if (!n) {
		out->pnull = 1;
		return;
	}
	if (n == (size_t)-1)
		n = 0;
	int first = !out->pvals;
	out->pvals = 1;
	if (first || ice_value_cmp(p->type, v, n, out->lo, out->lo_len) < 0) {
		memcpy(out->lo, v, n);
		out->lo_len = (uint8_t)n;
	}
	if (first || ice_value_cmp(p->type, v, n, out->hi, out->hi_len) > 0) {
		memcpy(out->hi, v, n);
		out->hi_len = (uint8_t)n;
	}
}

int ice_write_manifest(const char *path, const ice_file *files, size_t n, const ice_mf_meta *m, int64_t snap,
		       ice_mf *out, ids_error *err)
{
	char pf[600];
	const ice_part *pt = &m->part;
	part_field_json(pt, pf, sizeof pf);
	size_t sl = sizeof MANIFEST_SCHEMA_FMT + strlen(pf);
	char *schema = malloc(sl);
	if (!schema)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	snprintf(schema, sl, MANIFEST_SCHEMA_FMT, pf);
	avro_out o;
	int rc = out_init(&o, schema, err);
	memset(out, 0, sizeof *out);
	for (size_t i = 0; !rc && i < n; i++) {
		const ice_file *f = &files[i];
		avro_value_t *v = &o.v, df;
		uint8_t pv[ICE_PART_MAX];
		size_t pn = pt->transform ? part_value(pt, f, pv) : 0;
		if (pt->transform && strcmp(pt->transform, "day") && !f->pset) {
			/* our own bug: an identity entry without a value would claim one it lacks */
			rc = ids_fail(err, IDS_ECORRUPT, "%s: no %s value for partition spec %d", f->path, pt->name, (int)pt->spec_id);
			break;
		}
		set_int(v, "status", f->status);
		/* added files inherit their sequence numbers from the manifest list */
		int inherit = f->status == 1 && !f->seq;
		set_opt_long(v, "snapshot_id", 1, f->status == 2 ? snap : f->snap ? f->snap : snap);
		set_opt_long(v, "sequence_number", !inherit, f->seq);
		set_opt_long(v, "file_sequence_number", !inherit, f->fseq ? f->fseq : f->seq);
		if (avro_value_get_by_name(v, "data_file", &df, NULL)) {
			rc = ids_fail(err, IDS_EINVAL, "avro: no data_file");
			break;
		}
		set_int(&df, "content", 0);
		char uri[4600];
		if (ice_uri(m->ice, f->path, uri, sizeof uri)) {
			rc = ids_fail(err, IDS_ELIMIT, "%s: path too long", f->path);
			break;
		}
		set_string(&df, "file_path", uri);
		set_string(&df, "file_format", "PARQUET");
		if (pt->transform)
			set_part(&df, pt, pv, pn);
		set_long(&df, "record_count", f->rows);
		set_long(&df, "file_size_in_bytes", f->size);
		set_counts(&df, "column_sizes", f, CNT_SIZES);
		set_counts(&df, "value_counts", f, CNT_VALUES);
		set_counts(&df, "null_value_counts", f, CNT_NULLS);
		set_counts(&df, "nan_value_counts", f, CNT_NANS);
		set_bounds(&df, "lower_bounds", f, 0, m->seq_field_id);
		set_bounds(&df, "upper_bounds", f, 1, m->seq_field_id);
		avro_value_t so;
		if (!opt_branch(&df, "sort_order_id", 1, &so))
			avro_value_set_int(&so, m->sort_order_id);
		rc = out_record(&o, err);
		/* the manifest-list summary */
		int64_t dseq = inherit ? INT64_MAX : f->seq;
		if (f->status == 1) {
			out->added++;
			out->arows += f->rows;
		} else if (f->status == 0) {
			out->existing++;
			out->erows += f->rows;
		} else {
			out->deleted++;
			out->drows += f->rows;
		}
		if (f->status != 2 && (out->min_seq == 0 || dseq < out->min_seq))
			out->min_seq = dseq;
		if (pt->transform && f->status != 2)
			summary_add(out, pt, pv, pn);
	}
	char sid[24], spec[800], specid[24];
	snprintf(sid, sizeof sid, "%d", m->schema_id);
	snprintf(specid, sizeof specid, "%d", (int)pt->spec_id);
	json_t *sj = json_array();
	if (pt->transform)
		json_array_append_new(sj, json_pack("{sisisssss}", "source-id", (int)pt->source_id, "field-id", (int)pt->field_id,
						    "name", pt->name, "transform", pt->transform));
	char *st = sj ? json_dumps(sj, JSON_COMPACT) : NULL;
	snprintf(spec, sizeof spec, "%s", st ? st : "[]");
	free(st);
	json_decref(sj);
	const char *kv[] = {"schema", m->schema_json, "schema-id", sid, "partition-spec", spec, "partition-spec-id", specid,
			    "format-version", "2", "content", "data", NULL};
	if (!rc)
		rc = out_file(&o, path, schema, kv, err);
	out_free(&o);
	free(schema);
	if (!rc) {
		out->len = lk_file_size(path);
		out->snap = snap;
		out->spec = pt->spec_id;
	}
	return rc;
}

int ice_write_manifest_list(const lk_ice *ice, const char *path, const ice_mf *mfs, size_t n, int64_t snap,
			    int64_t parent, int64_t seq, ids_error *err)
{
	avro_out o;
	int rc = out_init(&o, MANIFEST_LIST_SCHEMA, err);
	for (size_t i = 0; !rc && i < n; i++) {
		const ice_mf *m = &mfs[i];
		avro_value_t *v = &o.v, arr, el, b;
		char uri[4600];
		if (ice_uri(ice, m->path, uri, sizeof uri)) {
			rc = ids_fail(err, IDS_ELIMIT, "%s: path too long", m->path);
			break;
		}
		set_string(v, "manifest_path", uri);
		set_long(v, "manifest_length", m->len);
		set_int(v, "partition_spec_id", m->spec);
		set_int(v, "content", 0);
		set_long(v, "sequence_number", m->seq);
		set_long(v, "min_sequence_number", m->min_seq);
		set_long(v, "added_snapshot_id", m->snap);
		set_int(v, "added_files_count", m->added);
		set_int(v, "existing_files_count", m->existing);
		set_int(v, "deleted_files_count", m->deleted);
		set_long(v, "added_rows_count", m->arows);
		set_long(v, "existing_rows_count", m->erows);
		set_long(v, "deleted_rows_count", m->drows);
		if (!opt_branch(v, "partitions", m->has_bounds, &arr) && !avro_value_append(&arr, &el, NULL)) {
			avro_value_t f;
			int vals = m->pvals;
			if (!avro_value_get_by_name(&el, "contains_null", &f, NULL))
				avro_value_set_boolean(&f, m->pnull);
			opt_branch(&el, "contains_nan", 0, &b);
			if (!opt_branch(&el, "lower_bound", vals, &b))
				avro_value_set_bytes(&b, (void *)m->lo, m->lo_len);
			if (!opt_branch(&el, "upper_bound", vals, &b))
				avro_value_set_bytes(&b, (void *)m->hi, m->hi_len);
		}
		rc = out_record(&o, err);
	}
	char s[24], p[24], q[24];
	snprintf(s, sizeof s, "%" PRId64, snap);
	snprintf(p, sizeof p, "%" PRId64, parent);
	snprintf(q, sizeof q, "%" PRId64, seq);
	const char *kv[] = {"snapshot-id", s, "parent-snapshot-id", parent ? p : "null", "sequence-number", q,
			    "format-version", "2", NULL};
	if (!rc)
		rc = out_file(&o, path, MANIFEST_LIST_SCHEMA, kv, err);
	out_free(&o);
	return rc;
}
