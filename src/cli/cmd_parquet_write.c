/* `idbsync parquet write [options] IN.ndjson|- OUT.parquet`: infers a schema in a first
 * pass (or reads --schema), then streams the rows into the writer. The input is mapped,
 * not read into memory; stdin is spooled to an unlinked temp file so it can be read twice. */
#include "idbsync/path.h"
#include "opts.h"
#include "cmd_parquet_write.h"

#include "idbsync/pq_write.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* What `idbsync parquet write` is told: the writer's options and the command's own. */
typedef struct write_cfg {
	pq_write_options o;
	const char *schema_path;
	int no_dictionary, no_infer_times;
} write_cfg;

static int parse_codec(void *cfg, const char *v, ids_error *err)
{
	pq_codec c;
	if (pq_codec_parse(v, &c))
		return ids_fail(err, IDS_EINVAL, "unknown codec '%s' (none, snappy, gzip, zstd, lz4_raw)", v);
	((write_cfg *)cfg)->o.codec = c;
	return 0;
}

static const cli_choice profiles[] = {{"compat", PQ_PROFILE_COMPAT}, {"modern", PQ_PROFILE_MODERN}, {NULL, 0}};
static const cli_choice page_versions[] = {{"1", 1}, {"2", 2}, {NULL, 0}};

#define F(m) CLI_FIELD(write_cfg, m)
#define POSITIVE(fl, d, m, mx, h) {.flag = fl, .arg = "N", .def = d, .help = h, .type = CLI_INT, F(m), .min = 1, .max = mx}
/* Every flag of `idbsync parquet write` (help, parsing: src/cli/opts.c). */
static const cli_opt write_opts[] = {
	{.flag = "--compression", .arg = "none|snappy|gzip|zstd|lz4_raw", .def = "by profile", .help = "page codec",
	 .type = CLI_CUSTOM, .parse = parse_codec},
	POSITIVE("--compression-level", "the codec's own, zstd 3, gzip 6", o.codec_level, 22,
		 "codec level (gzip 1-12: libdeflate, above 12 means 12)"),
	{.flag = "--profile", .arg = "compat|modern", .def = "compat",
	 .help = "compat: Hive/Impala/Drill; modern: zstd, INT64 timestamps", .type = CLI_ENUM, F(o.profile),
	 .choices = profiles},
	{.flag = "--schema", .arg = "FILE", .help = "JSON schema file instead of inferring one", .type = CLI_STR,
	 F(schema_path)},
	POSITIVE("--row-group-rows", "1000000", o.row_group_rows, 0, "at most N rows per row group"),
	POSITIVE("--row-group-bytes", "128 MiB", o.row_group_bytes, 0, "bytes of values per row group"),
	POSITIVE("--page-size", "1 MiB", o.page_bytes, 0, "bytes of values per data page"),
	{.flag = "--page-version", .arg = "1|2", .def = "1", .help = "data page version", .type = CLI_ENUM,
	 F(o.page_version), .choices = page_versions},
	{.flag = "--no-dictionary", .help = "PLAIN encoding only", .type = CLI_SWITCH, F(no_dictionary)},
	{.flag = "--no-infer-times", .help = "keep ISO-8601 date/timestamp strings as STRING (by default \"YYYY-MM-DD\" "
					     "infers DATE, an instant with a zone TIMESTAMP)", .type = CLI_SWITCH,
	 F(no_infer_times)},
	POSITIVE("--dictionary-limit", "1 MiB", o.dict_max_bytes, 0, "dictionary bytes before falling back to PLAIN"),
	POSITIVE("--threads", "CPUs, at most 4", o.threads, 64, "threads for inference and page encoding"),
	{0},
};
#undef F

static const cli_cmd write_cmd = {
	.name = "parquet write",
	.usage = "usage: idbsync parquet write [options] IN.ndjson|- OUT.parquet\n",
	.opts = write_opts,
	.flags_anywhere = 1,
	.help_on_error = 1,
};

typedef struct input {
	const char *data;
	size_t len;
	void *map;
	size_t map_len;
	int fd;
} input;

static int spool_stdin(void)
{
	const char *dir = getenv("TMPDIR");
	char path[IDS_PATH_MAX + 1];
	if (ids_path(path, sizeof path, NULL, "%s/idbsync-stdin-XXXXXX", dir && *dir ? dir : "/tmp")) {
		errno = ENAMETOOLONG;   /* a descriptor or -1 with errno, as open(2) */
		return -1;
	}
	int fd = mkstemp(path);
	if (fd < 0)
		return -1;
	unlink(path);
	char buf[1 << 16];
	for (;;) {
		ssize_t n = read(0, buf, sizeof buf);
		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			return -1;
		}
		for (ssize_t off = 0; off < n;) {
			ssize_t k = write(fd, buf + off, (size_t)(n - off));
			if (k < 0) {
				if (errno == EINTR)
					continue;
				close(fd);
				return -1;
			}
			off += k;
		}
	}
	return fd;
}

static int open_input(input *in, const char *path)
{
	memset(in, 0, sizeof *in);
	in->fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : spool_stdin();
	if (in->fd < 0) {
		fprintf(stderr, "idbsync parquet write: %s: %s\n", path, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(in->fd, &st)) {
		fprintf(stderr, "idbsync parquet write: %s: %s\n", path, strerror(errno));
		return -1;
	}
	in->len = in->map_len = (size_t)st.st_size;
	in->data = "";
	if (in->len) {
		in->map = mmap(NULL, in->len, PROT_READ, MAP_PRIVATE, in->fd, 0);
		if (in->map == MAP_FAILED) {
			in->map = NULL;
			fprintf(stderr, "idbsync parquet write: %s: %s\n", path, strerror(errno));
			return -1;
		}
		(void)madvise(in->map, in->len, MADV_SEQUENTIAL);
		in->data = in->map;
		if (in->len >= 3 && !memcmp(in->data, "\xEF\xBB\xBF", 3)) {
			in->data += 3;   /* a UTF-8 byte order mark is not part of the first row */
			in->len -= 3;
		}
	}
	return 0;
}

static void close_input(input *in)
{
	if (in->map)
		munmap(in->map, in->map_len);
	if (in->fd >= 0)
		close(in->fd);
}

static int read_file(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	size_t cap = 4096, n = 0;
	char *b = malloc(cap);
	while (b) {
		size_t k = fread(b + n, 1, cap - n, f);
		n += k;
		if (k == 0)
			break;
		if (n == cap) {
			if (cap > ((size_t)16 << 20)) {
				free(b);
				b = NULL;
				errno = EFBIG;
				break;
			}
			char *nb = realloc(b, cap *= 2);
			if (!nb) {
				free(b);
				b = NULL;
			}
			b = nb;
		}
	}
	fclose(f);
	*out = b;
	*len = n;
	return b ? 0 : -1;
}

/* The prefix inference is serial work before the first row is written (a 1M-row write
 * spent 3-4% of its instructions on 8 MiB of it). Its size only decides how soon an input
 * whose later rows need another schema goes to the two full passes: strict mode stops at
 * the first such value, so the file is the same whatever the prefix. */
#define PREFIX_BYTES ((size_t)2 << 20)

/* The fast path for inputs bigger than PREFIX_BYTES: infer from the first lines, then write
 * everything in one more pass, in strict mode. Returns 0 when the file is written, 1 when
 * the prefix itself is bad (the message is printed), 2 when the caller must do the full
 * two passes (the input is small, or some later row needs another schema; nothing is left
 * at OUT). The result is the same file either way. */
static int try_prefix(const input *in, const char *out_path, const char *name,
		      const pq_write_options *o, int times)
{
	if (in->len <= 2 * PREFIX_BYTES)
		return 2;
	const char *nl = memchr(in->data + PREFIX_BYTES, '\n', in->len - PREFIX_BYTES);
	if (!nl)
		return 2;
	size_t pre = (size_t)(nl + 1 - in->data);
	ids_error err = IDS_ERROR_INIT;
	pq_infer *inf = NULL;
	pq_node *schema = NULL;
	pq_writer *w = NULL;
	int r = 2;
	if (pq_infer_new(&inf, &err))
		goto out;
	pq_infer_text_times(inf, times);
	if (pq_infer_add_ndjson_threads(inf, in->data, pre, name, o->threads, &err)) {
		fprintf(stderr, "idbsync parquet write: %s\n", err.msg);
		r = 1;
		goto out;
	}
	if (pq_infer_schema(&schema, inf, o->profile, &err) ||
	    pq_writer_new(&w, out_path, schema, o, &err))
		goto out;
	if (!pq_writer_write_ndjson_inferred(w, in->data, in->len, name, inf, &err) &&
	    !pq_writer_close(w, &err))
		r = 0;
out:
	pq_writer_free(w);
	pq_node_free(schema);
	pq_infer_free(inf);
	return r;
}

static int write_run(void *cfg, char **args, int nargs)
{
	const write_cfg c = *(write_cfg *)cfg;
	if (nargs != 2) {
		if (nargs > 2)
			fprintf(stderr, "idbsync parquet write: too many arguments\n");
		cli_help(&write_cmd, stderr);
		return 2;
	}
	const char *in_path = args[0], *out_path = args[1];   /* argv's */
	pq_write_options o = c.o;
	if (c.no_dictionary)
		o.dictionary = 0;
	const char *schema_path = c.schema_path;
	int times = !c.no_infer_times;
	if (!strcmp(out_path, "-")) {
		/* the file is renamed into place when complete, which a pipe cannot do */
		fprintf(stderr, "idbsync parquet write: OUT must be a file path\n");
		cli_help(&write_cmd, stderr);
		return 2;
	}
	const char *name = strcmp(in_path, "-") ? in_path : "<stdin>";
	ids_error err = IDS_ERROR_INIT;
	pq_node *schema = NULL;
	pq_writer *w = NULL;
	input in;
	int rc = 1;
	if (open_input(&in, in_path))
		goto done;
	if (schema_path) {
		char *text;
		size_t len;
		if (read_file(schema_path, &text, &len)) {
			fprintf(stderr, "idbsync parquet write: %s: %s\n", schema_path, strerror(errno));
			goto done;
		}
		int r = pq_schema_from_json(&schema, text, len, o.profile, &err);
		free(text);
		if (r) {
			fprintf(stderr, "idbsync parquet write: %s: %s\n", schema_path, err.msg);
			goto done;
		}
	} else {
		int r = try_prefix(&in, out_path, name, &o, times);
		if (r == 0) {
			rc = 0;
			goto done;
		}
		if (r == 1)
			goto done;   /* an error in the prefix: the full inference would report it too */
		pq_infer *inf = NULL;
		r = pq_infer_new(&inf, &err);
		if (!r) {
			pq_infer_text_times(inf, times);
			r = pq_infer_add_ndjson_threads(inf, in.data, in.len, name, o.threads, &err);
		}
		if (!r)
			r = pq_infer_schema(&schema, inf, o.profile, &err);
		pq_infer_free(inf);
		if (r) {
			fprintf(stderr, "idbsync parquet write: %s\n", err.msg);
			goto done;
		}
	}
	if (pq_writer_new(&w, out_path, schema, &o, &err) ||
	    pq_writer_write_ndjson(w, in.data, in.len, name, &err) || pq_writer_close(w, &err)) {
		fprintf(stderr, "idbsync parquet write: %s\n", err.msg);
		goto done;
	}
	rc = 0;
done:
	pq_writer_free(w);
	pq_node_free(schema);
	close_input(&in);
	return rc;
}

int pq_cli_write(int argc, char **argv)
{
	write_cfg c = {.o = PQ_WRITE_OPTIONS_INIT};
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	c.o.threads = ncpu < 1 ? 1 : ncpu > 4 ? 4 : (int)ncpu;
	return cli_main(&write_cmd, &c, argc, argv, write_run);
}
