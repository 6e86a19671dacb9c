/* Fuzz target: NDJSON -> schema inference -> writer, plus schema files and a fixed rich schema:
 * outside text must produce a clean error or a file, never a crash or a leak. */
#include "idbsync/pq_write.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
static const char schema_json[] =
	"{\"fields\":[{\"name\":\"id\",\"type\":\"int64\",\"required\":true},{\"name\":\"i32\",\"type\":\"int32\"},"
	"{\"name\":\"f\",\"type\":\"float\"},{\"name\":\"day\",\"type\":\"date\"},{\"name\":\"ms\",\"type\":\"timestamp\",\"unit\":\"millis\"},"
	"{\"name\":\"i96\",\"type\":\"int96\"},{\"name\":\"price\",\"type\":\"decimal\",\"precision\":12,\"scale\":2},"
	"{\"name\":\"huge\",\"type\":\"decimal\",\"precision\":38,\"scale\":3},{\"name\":\"u\",\"type\":\"uuid\"},{\"name\":\"j\",\"type\":\"json\"},"
	"{\"name\":\"raw\",\"type\":\"binary\"},{\"name\":\"fx\",\"type\":\"fixed\",\"length\":3},"
	"{\"name\":\"tags\",\"type\":\"list\",\"element\":{\"type\":\"string\"}},"
	"{\"name\":\"people\",\"type\":\"list\",\"element\":{\"type\":\"struct\",\"fields\":[{\"name\":\"name\",\"type\":\"string\"},{\"name\":\"age\",\"type\":\"int32\",\"required\":true}]}},"
	"{\"name\":\"m\",\"type\":\"map\",\"key\":{\"type\":\"string\"},\"value\":{\"type\":\"int64\"}},"
	"{\"name\":\"mi\",\"type\":\"map\",\"key\":{\"type\":\"int32\"},\"value\":{\"type\":\"list\",\"element\":{\"type\":\"double\"}}},"
	"{\"name\":\"addr\",\"type\":\"struct\",\"fields\":[{\"name\":\"city\",\"type\":\"string\"},{\"name\":\"zip\",\"type\":\"string\",\"required\":true}]}]}";
static pq_node *fixed;
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ids_error err = IDS_ERROR_INIT;
	char path[64];
	snprintf(path, sizeof path, "/dev/shm/fz-%d.parquet", getpid());
	if (!fixed)
		pq_schema_from_json(&fixed, schema_json, strlen(schema_json), PQ_PROFILE_MODERN, &err);
	pq_node *s = NULL;
	pq_schema_from_json(&s, (const char *)data, size, PQ_PROFILE_COMPAT, &err);
	pq_node_free(s);
	s = NULL;
	pq_infer *inf;
	pq_infer_new(&inf, &err);
	int rc = pq_infer_add_ndjson(inf, (const char *)data, size, "f", &err);
	if (!rc && !pq_infer_schema(&s, inf, size & 1 ? PQ_PROFILE_MODERN : PQ_PROFILE_COMPAT, &err)) {
		pq_write_options o = PQ_WRITE_OPTIONS_INIT;
		o.page_bytes = 64; o.dict_max_bytes = 100; o.row_group_rows = 3; o.stat_max_bytes = 8;
		o.page_version = size & 2 ? 2 : 1;
		o.threads = size & 4 ? 2 : 1;
		pq_writer *w;
		if (!pq_writer_new(&w, path, s, &o, &err)) {
			if (pq_writer_write_ndjson(w, (const char *)data, size, "f", &err)) {
				fprintf(stderr, "inferred schema rejected its own input: %s\n", err.msg);
				abort();
			}
			if (pq_writer_close(w, &err)) { fprintf(stderr, "close: %s\n", err.msg); abort(); }
			pq_writer_free(w);
		}
		pq_node_free(s);
	}
	pq_infer_free(inf);
	/* differential: schema from a prefix + strict write must equal the full two passes */
	{
		size_t pre = size / 2;
		while (pre < size && data[pre] != '\n')
			pre++;
		if (pre < size)
			pre++;
		pq_infer *i1 = NULL, *i2 = NULL;
		pq_node *s1 = NULL, *s2 = NULL;
		pq_infer_new(&i1, &err);
		pq_infer_new(&i2, &err);
		int ok1 = !pq_infer_add_ndjson(i1, (const char *)data, pre, "f", &err) &&
			  !pq_infer_schema(&s1, i1, PQ_PROFILE_MODERN, &err);
		int ok2 = !pq_infer_add_ndjson(i2, (const char *)data, size, "f", &err) &&
			  !pq_infer_schema(&s2, i2, PQ_PROFILE_MODERN, &err);
		char p1[80], p2[80];
		snprintf(p1, sizeof p1, "/dev/shm/fz1-%d.parquet", getpid());
		snprintf(p2, sizeof p2, "/dev/shm/fz2-%d.parquet", getpid());
		pq_write_options o = PQ_WRITE_OPTIONS_INIT;
		o.profile = PQ_PROFILE_MODERN; o.page_bytes = 64; o.row_group_rows = 3;
		o.threads = size & 8 ? 2 : 1;
		int r1 = -1, r2 = -1;
		pq_writer *w1 = NULL, *w2 = NULL;
		if (ok1 && !pq_writer_new(&w1, p1, s1, &o, &err))
			r1 = pq_writer_write_ndjson_inferred(w1, (const char *)data, size, "f", i1, &err) ? -1
			     : pq_writer_close(w1, &err);
		if (ok2 && !pq_writer_new(&w2, p2, s2, &o, &err))
			r2 = pq_writer_write_ndjson(w2, (const char *)data, size, "f", &err) ? -1
			     : pq_writer_close(w2, &err);
		pq_writer_free(w1);
		pq_writer_free(w2);
		if (r1 == 0) {
			if (r2 != 0) { fprintf(stderr, "prefix path wrote, full path failed\n"); abort(); }
			FILE *f1 = fopen(p1, "rb"), *f2 = fopen(p2, "rb");
			int c1, c2;
			do { c1 = fgetc(f1); c2 = fgetc(f2); } while (c1 == c2 && c1 != EOF);
			if (c1 != c2) { fprintf(stderr, "prefix path differs from full path\n"); abort(); }
			fclose(f1); fclose(f2);
		}
		unlink(p1); unlink(p2);
		pq_node_free(s1); pq_node_free(s2);
		pq_infer_free(i1); pq_infer_free(i2);
	}
	pq_writer *w;
	pq_write_options o = PQ_WRITE_OPTIONS_INIT;
	o.page_bytes = 100; o.row_group_rows = 2;
	if (!pq_writer_new(&w, path, fixed, &o, &err)) {
		const char *p = (const char *)data, *e = p + size;
		while (p < e) {
			const char *nl = memchr(p, '\n', (size_t)(e - p));
			const char *le = nl ? nl : e;
			size_t off;
			pq_writer_write_json(w, p, (size_t)(le - p), &off, &err);
			p = le + 1;
		}
		if (pq_writer_close(w, &err)) { fprintf(stderr, "close2: %s\n", err.msg); abort(); }
		pq_writer_free(w);
	}
	unlink(path);
	return 0;
}
