/* `idbsync parquet cat|head`: rows of one or more Parquet files (files, directories read as
 * engines list them, quoted globs) as NDJSON or CSV, with --limit and --columns, the way
 * analysts use DuckDB's and pyarrow's readers. Built on the public reader API. */
#include <dirent.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "idbsync/path.h"
#include "cli/cmd_parquet_read.h"
#include "idbsync/json.h"
#include "idbsync/pq_read.h"
#include "idbsync/str.h"
#include "opts.h"

typedef struct cat_opts {
	long long limit;          /* -1: all */
	char **cols;              /* --columns, or NULL */
	size_t n_cols;
	int csv;
	pq_read_options ro;
	int header_done;
	int no_verify_crc;        /* --no-verify-crc */
	const struct cli_cmd *cmd;   /* cat or head */
} cat_opts;

static int add_path(char ***v, size_t *n, const char *p)
{
	char **x = realloc(*v, (*n + 1) * sizeof *x);
	if (!x || !(x[*n] = strdup(p)))
		return -1;
	*v = x;
	(*n)++;
	return 0;
}

static int parse_columns(void *cfg, const char *v, ids_error *err)
{
	cat_opts *o = cfg;
	char *list = strdup(v), *save = NULL;
	if (!list)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	for (char *c = strtok_r(list, ",", &save); c; c = strtok_r(NULL, ",", &save))
		add_path(&o->cols, &o->n_cols, c);
	free(list);
	return 0;
}

static const cli_choice formats[] = {{"ndjson", 0}, {"csv", 1}, {NULL, 0}};

/* Every flag of `idbsync parquet cat|head` (help, parsing: src/cli/opts.c). */
static const cli_opt cat_flags[] = {
	{.flag = "--limit", .arg = "N", .help = "stop after N rows (over all files)", .type = CLI_INT,
	 CLI_FIELD(cat_opts, limit)},
	{.flag = "--columns", .arg = "a,b", .help = "these top-level columns, in this order", .type = CLI_CUSTOM,
	 .parse = parse_columns},
	{.flag = "--format", .arg = "ndjson|csv", .def = "ndjson",
	 .help = "NDJSON (tagged values as idbsync pulls them) or CSV with a header (dates as ISO text, binary "
		 "as base64, nested values as JSON)", .type = CLI_ENUM, CLI_FIELD(cat_opts, csv), .choices = formats},
	{.flag = "--no-verify-crc", .help = "read past a page whose CRC does not match (verifying is the default; most "
					    "other readers do not verify)", .type = CLI_SWITCH,
	 CLI_FIELD(cat_opts, no_verify_crc)},
	{0},
};

#define CAT_USAGE "usage: idbsync parquet cat [options] FILE|DIR|'GLOB'...\n" \
		  "       idbsync parquet head [options] FILE...   (cat --limit 10)\n"
#define CAT_FOOTER "  A directory is read as engines list it: its *.parquet files, recursively, in name order,\n" \
		   "  skipping names that start with '_' or '.'.\n"
static const cli_cmd cat_cmd = {.name = "parquet cat", .usage = CAT_USAGE, .footer = CAT_FOOTER, .opts = cat_flags,
				.flags_anywhere = 1};
static const cli_cmd head_cmd = {.name = "parquet head", .usage = CAT_USAGE, .footer = CAT_FOOTER, .opts = cat_flags,
				 .flags_anywhere = 1};

static int list_dir(const char *dir, char ***v, size_t *n)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	struct dirent *e;
	char **names = NULL;
	size_t k = 0;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && e->d_name[0] != '_')
			add_path(&names, &k, e->d_name);
	closedir(d);
	qsort(names, k, sizeof *names, ids_str_cmp);
	for (size_t i = 0; i < k; i++) {
		char p[IDS_PATH_MAX + 1];
		ids_path(p, sizeof p, NULL, "%s/%s", dir, names[i]);
		struct stat st;
		size_t l = strlen(p);
		if (!stat(p, &st) && S_ISDIR(st.st_mode))
			list_dir(p, v, n);
		else if (l > 8 && !strcmp(p + l - 8, ".parquet"))
			add_path(v, n, p);
		free(names[i]);
	}
	free(names);
	return 0;
}

/* CSV field: quoted when it holds a comma, quote, CR or LF (RFC 4180). */
static void csv_field(ids_buf *b, const char *s, size_t n)
{
	int q = memchr(s, ',', n) || memchr(s, '"', n) || memchr(s, '\n', n) || memchr(s, '\r', n);
	if (!q) {
		ids_buf_append(b, s, n);
		return;
	}
	ids_buf_putc(b, '"');
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"')
			ids_buf_putc(b, '"');
		ids_buf_putc(b, s[i]);
	}
	ids_buf_putc(b, '"');
}

static void csv_value(ids_buf *b, const ids_json *j, long t, ids_buf *tmp)
{
	if (t < 0 || j->tok[t].type == IDS_JNULL)
		return;
	ids_buf_reset(tmp);
	const ids_jtok *k = &j->tok[t];
	if (k->type == IDS_JSTR) {
		ids_json_unescape(j, (size_t)t, tmp);
	} else if (k->type == IDS_JOBJ && k->size == 1 && j->tok[t + 2].type == IDS_JSTR &&
		   (ids_json_streq(j, (size_t)t + 1, "$date") || ids_json_streq(j, (size_t)t + 1, "$bin") ||
		    ids_json_streq(j, (size_t)t + 1, "$num") || ids_json_streq(j, (size_t)t + 1, "$bigint"))) {
		ids_json_unescape(j, (size_t)t + 2, tmp);   /* a tagged scalar: its text */
	} else {
		ids_buf_append(tmp, j->text + k->start, k->end - k->start);
	}
	csv_field(b, tmp->data ? tmp->data : "", tmp->len);
}

/* The names the output has: --columns, or the file's top-level fields. */
static int out_names(const pq_reader *r, const cat_opts *o, const char *path, char ***names, size_t *n)
{
	const pq_node *root = pq_reader_schema(r);
	*names = NULL;
	*n = 0;
	if (!o->cols) {
		for (size_t i = 0; i < root->n_children; i++)
			add_path(names, n, root->children[i]->name);
		return 0;
	}
	for (size_t c = 0; c < o->n_cols; c++) {
		size_t i = 0;
		while (i < root->n_children && strcmp(root->children[i]->name, o->cols[c]))
			i++;
		if (i == root->n_children) {
			fprintf(stderr, "idbsync parquet cat: %s has no column '%s'; its columns:", path, o->cols[c]);
			for (i = 0; i < root->n_children; i++)
				fprintf(stderr, "%s %s", i ? "," : "", root->children[i]->name);
			fputc('\n', stderr);
			return -1;
		}
		add_path(names, n, o->cols[c]);
	}
	return 0;
}

static int cat_file(const char *path, cat_opts *o, ids_buf *out)
{
	pq_reader *r;
	ids_error err = IDS_ERROR_INIT;
	if (pq_reader_open(&r, path, &o->ro, &err)) {
		fprintf(stderr, "idbsync parquet cat: %s\n", err.msg);
		return 1;
	}
	char **names;
	size_t nn;
	int status = out_names(r, o, path, &names, &nn) ? 2 : 0;
	if (!status && o->csv && !o->header_done) {
		for (size_t i = 0; i < nn; i++) {
			if (i)
				ids_buf_putc(out, ',');
			csv_field(out, names[i], strlen(names[i]));
		}
		ids_buf_puts(out, "\r\n");
		o->header_done = 1;
	}
	ids_buf row = IDS_BUF_INIT, tmp = IDS_BUF_INIT;
	ids_json j = IDS_JSON_INIT;
	int rc = 0;
	while (!status && o->limit != 0 && (rc = pq_reader_next_row_json(r, &row, &err)) > 0) {
		if (!o->cols && !o->csv) {
			ids_buf_append(out, row.data, row.len);
		} else if (ids_json_parse(&j, row.data, row.len, 0, 1000, &err)) {
			rc = IDS_ECORRUPT;
			break;
		} else {
			if (!o->csv)
				ids_buf_putc(out, '{');
			for (size_t i = 0; i < nn; i++) {
				long t = ids_json_get(&j, 0, names[i]);
				if (i)
					ids_buf_putc(out, ',');
				if (o->csv) {
					csv_value(out, &j, t, &tmp);
					continue;
				}
				ids_buf_json_str(out, names[i], strlen(names[i]));
				ids_buf_putc(out, ':');
				if (t < 0)
					ids_buf_puts(out, "null");
				else
					ids_buf_append(out, j.text + j.tok[t].start, j.tok[t].end - j.tok[t].start);
			}
			if (!o->csv)
				ids_buf_putc(out, '}');
		}
		ids_buf_puts(out, o->csv ? "\r\n" : "\n");
		ids_buf_reset(&row);
		if (o->limit > 0)
			o->limit--;
		if (out->len >= (1 << 20)) {
			fwrite(out->data, 1, out->len, stdout);
			ids_buf_reset(out);
		}
	}
	if (rc < 0) {
		fprintf(stderr, "idbsync parquet cat: %s\n", err.msg);
		status = 1;
	}
	for (size_t i = 0; i < nn; i++)
		free(names[i]);
	free(names);
	ids_json_free(&j);
	ids_buf_free(&row);
	ids_buf_free(&tmp);
	pq_reader_free(r);
	return status;
}

static int cat_run(void *cfg, char **args, int nargs)
{
	cat_opts o = *(cat_opts *)cfg;
	const cli_cmd *cmd = o.cmd;
	o.ro.verify_crc = !o.no_verify_crc;
	char **files = NULL;
	size_t nf = 0;
	for (int i = 0; i < nargs; i++) {
		const char *v = args[i];
		struct stat st;
		glob_t g;
		if (!stat(v, &st) && S_ISDIR(st.st_mode)) {
			list_dir(v, &files, &nf);
		} else if (strpbrk(v, "*?[") && !glob(v, 0, NULL, &g)) {
			for (size_t k = 0; k < g.gl_pathc; k++)
				add_path(&files, &nf, g.gl_pathv[k]);
			globfree(&g);
		} else {
			add_path(&files, &nf, v);   /* a missing file is named when it is opened */
		}
	}
	if (!nf) {
		fprintf(stderr, "idbsync %s: no Parquet file given (or none found)\n", cmd->name);
		cli_help(cmd, stderr);
		return 2;
	}
	ids_buf out = IDS_BUF_INIT;
	int status = 0;
	for (size_t i = 0; i < nf && !status && o.limit != 0; i++)
		status = cat_file(files[i], &o, &out);
	if ((out.len && fwrite(out.data, 1, out.len, stdout) != out.len) || fflush(stdout)) {
		fprintf(stderr, "idbsync %s: write error on stdout\n", cmd->name);
		status = 1;
	}
	ids_buf_free(&out);
	for (size_t i = 0; i < nf; i++)
		free(files[i]);
	free(files);
	return status;
}

int pq_cli_cat(int argc, char **argv)
{
	int head = !strcmp(argv[0], "head");
	cat_opts o = {.limit = head ? 10 : -1, .ro = PQ_READ_OPTIONS_INIT, .cmd = head ? &head_cmd : &cat_cmd};
	int rc = cli_main(o.cmd, &o, argc, argv, cat_run);
	for (size_t i = 0; i < o.n_cols; i++)   /* --columns, kept in o by the parse */
		free(o.cols[i]);
	free(o.cols);
	return rc;
}
