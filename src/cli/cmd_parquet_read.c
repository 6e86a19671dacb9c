/* `idbsync parquet schema FILE` (the schema tree) and
 * `meta FILE [--json]` (row groups, column chunks, encodings, codecs, sizes, statistics),
 * all built on the public reader API in idbsync/pq_read.h. */
#include "cli/cmd_parquet_read.h"
#include "idbsync/pq_read.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opts.h"

typedef struct read_cfg {
	int json;
	const struct cli_cmd *cmd;   /* schema or meta */
} read_cfg;

static const cli_opt schema_opts[] = {{0}};
static const cli_opt meta_opts[] = {
	{.flag = "--json", .help = "the footer as JSON", .type = CLI_SWITCH, CLI_FIELD(read_cfg, json)},
	{0},
};
#define READ_USAGE "usage: idbsync parquet schema FILE\n" \
		   "       idbsync parquet meta FILE [--json]\n" \
		   "  (rows: idbsync parquet cat --help)\n"
static const cli_cmd schema_cmd = {.name = "parquet schema", .usage = READ_USAGE, .opts = schema_opts,
				   .flags_anywhere = 1};
static const cli_cmd meta_cmd = {.name = "parquet meta", .usage = READ_USAGE, .opts = meta_opts, .flags_anywhere = 1};

static int fail(const char *cmd, const ids_error *err)
{
	fprintf(stderr, "idbsync parquet %s: %s\n", cmd, err->msg);
	return 1;
}

static int flush(ids_buf *b)
{
	if (b->len && fwrite(b->data, 1, b->len, stdout) != b->len)
		return -1;
	ids_buf_reset(b);
	return 0;
}

static void logical_str(const pq_node *n, char *s, size_t cap)
{
	const pq_logical *l = &n->logical;
	static const char *units[] = {"MILLIS", "MICROS", "NANOS"};
	s[0] = 0;
	switch (l->kind) {
	case PQ_LT_STRING: snprintf(s, cap, "STRING"); break;
	case PQ_LT_MAP: snprintf(s, cap, "MAP"); break;
	case PQ_LT_LIST: snprintf(s, cap, "LIST"); break;
	case PQ_LT_ENUM: snprintf(s, cap, "ENUM"); break;
	case PQ_LT_DECIMAL: snprintf(s, cap, "DECIMAL(%d,%d)", l->precision, l->scale); break;
	case PQ_LT_DATE: snprintf(s, cap, "DATE"); break;
	case PQ_LT_TIME: snprintf(s, cap, "TIME(%s,%s)", units[l->unit % 3], l->utc ? "true" : "false"); break;
	case PQ_LT_TIMESTAMP:
		snprintf(s, cap, "TIMESTAMP(%s,%s)", units[l->unit % 3], l->utc ? "true" : "false");
		break;
	case PQ_LT_INTEGER: snprintf(s, cap, "INTEGER(%d,%s)", l->bit_width, l->is_signed ? "true" : "false"); break;
	case PQ_LT_UNKNOWN: snprintf(s, cap, "UNKNOWN"); break;
	case PQ_LT_JSON: snprintf(s, cap, "JSON"); break;
	case PQ_LT_BSON: snprintf(s, cap, "BSON"); break;
	case PQ_LT_UUID: snprintf(s, cap, "UUID"); break;
	case PQ_LT_FLOAT16: snprintf(s, cap, "FLOAT16"); break;
	default: break;
	}
}

static const char *rep_name(pq_repetition r)
{
	return r == PQ_REQUIRED ? "required" : r == PQ_OPTIONAL ? "optional" : "repeated";
}

static void print_node(const pq_node *n, int depth)
{
	char lt[64], tn[48];
	logical_str(n, lt, sizeof lt);
	printf("%*s", depth * 2, "");
	if (n->type == PQ_GROUP) {
		if (depth)
			printf("%s group %s", rep_name(n->repetition), n->name);
		else
			printf("message %s", n->name);
	} else {
		snprintf(tn, sizeof tn, "%s", pq_type_name(n->type));
		for (char *p = tn; *p; p++)
			*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
		if (n->type == PQ_FIXED_LEN_BYTE_ARRAY)
			printf("%s %s(%d) %s", rep_name(n->repetition), tn, n->type_length, n->name);
		else
			printf("%s %s %s", rep_name(n->repetition), tn, n->name);
	}
	if (lt[0])
		printf(" (%s)", lt);
	if (n->field_id >= 0)
		printf(" = %d", n->field_id);
	if (n->type == PQ_GROUP) {
		printf(" {\n");
		for (size_t i = 0; i < n->n_children; i++)
			print_node(n->children[i], depth + 1);
		printf("%*s}\n", depth * 2, "");
	} else {
		printf(";\n");
	}
}

/* statistics bytes are PLAIN-encoded values; show them in the JSON value conventions */
static void stat_value(const pq_column_desc *c, const uint8_t *p, uint32_t len, ids_buf *b)
{
	size_t want = 0;
	switch (c->node->type) {
	case PQ_BOOLEAN: want = 1; break;
	case PQ_INT32: case PQ_FLOAT: want = 4; break;
	case PQ_INT64: case PQ_DOUBLE: want = 8; break;
	case PQ_INT96: want = 12; break;
	case PQ_FIXED_LEN_BYTE_ARRAY: want = (size_t)c->node->type_length; break;
	default: break;
	}
	if (c->node->type == PQ_BYTE_ARRAY) {
		pq_rbytes v = {p, len};
		pq_value_to_json(c, &v, b);
	} else if (want && len == want) {
		pq_value_to_json(c, p, b);
	} else {
		ids_buf_printf(b, "\"<%u bytes>\"", len);
	}
}

static void meta_json(const char *path, const pq_file_meta *m, ids_buf *b)
{
	ids_buf_puts(b, "{\"file\":");
	ids_buf_json_str(b, path, strlen(path));
	ids_buf_printf(b, ",\"version\":%d,\"num_rows\":%lld,\"created_by\":", m->version, (long long)m->num_rows);
	if (m->created_by)
		ids_buf_json_str(b, m->created_by, strlen(m->created_by));
	else
		ids_buf_puts(b, "null");
	ids_buf_puts(b, ",\"key_value_metadata\":{");
	for (size_t i = 0; i < m->n_kv; i++) {
		if (i)
			ids_buf_putc(b, ',');
		ids_buf_json_str(b, m->kv[i].key, strlen(m->kv[i].key));
		ids_buf_putc(b, ':');
		if (m->kv[i].value)
			ids_buf_json_str(b, m->kv[i].value, strlen(m->kv[i].value));
		else
			ids_buf_puts(b, "null");
	}
	ids_buf_printf(b, "},\"column_orders\":%s,\"columns\":[", m->has_column_orders ? "true" : "false");
	for (size_t c = 0; c < m->n_columns; c++) {
		char lt[64];
		logical_str(m->columns[c].node, lt, sizeof lt);
		ids_buf_puts(b, c ? ",{\"path\":" : "{\"path\":");
		ids_buf_json_str(b, m->columns[c].path, strlen(m->columns[c].path));
		ids_buf_printf(b, ",\"type\":\"%s\",\"logical\":", pq_type_name(m->columns[c].node->type));
		if (lt[0])
			ids_buf_json_str(b, lt, strlen(lt));
		else
			ids_buf_puts(b, "null");
		ids_buf_printf(b, ",\"max_def\":%d,\"max_rep\":%d}", m->columns[c].max_def, m->columns[c].max_rep);
	}
	ids_buf_puts(b, "],\"row_groups\":[");
	for (size_t g = 0; g < m->n_row_groups; g++) {
		const pq_row_group_meta *rg = &m->row_groups[g];
		ids_buf_printf(b, "%s{\"num_rows\":%lld,\"total_byte_size\":%lld,\"columns\":[", g ? "," : "",
			       (long long)rg->num_rows, (long long)rg->total_byte_size);
		for (size_t c = 0; c < m->n_columns; c++) {
			const pq_chunk_meta *cm = &rg->chunks[c];
			ids_buf_puts(b, c ? ",{\"path\":" : "{\"path\":");
			ids_buf_json_str(b, cm->path, strlen(cm->path));
			ids_buf_printf(b, ",\"type\":\"%s\",\"codec\":\"%s\",\"encodings\":[",
				       pq_type_name(cm->type), pq_codec_name(cm->codec));
			for (size_t e = 0; e < cm->n_encodings; e++)
				ids_buf_printf(b, "%s\"%s\"", e ? "," : "", pq_encoding_name(cm->encodings[e]));
			ids_buf_printf(b, "],\"num_values\":%lld,\"total_compressed_size\":%lld,"
				       "\"total_uncompressed_size\":%lld,\"data_page_offset\":%lld,"
				       "\"dictionary_page_offset\":%lld,\"statistics\":{",
				       (long long)cm->num_values, (long long)cm->total_compressed_size,
				       (long long)cm->total_uncompressed_size, (long long)cm->data_page_offset,
				       (long long)cm->dictionary_page_offset);
			const pq_stats *s = &cm->stats;
			int first = 1;
			if (s->has_min) {
				ids_buf_puts(b, "\"min\":");
				stat_value(&m->columns[c], s->min, s->min_len, b);
				first = 0;
			}
			if (s->has_max) {
				ids_buf_puts(b, first ? "\"max\":" : ",\"max\":");
				stat_value(&m->columns[c], s->max, s->max_len, b);
				first = 0;
			}
			if (s->null_count >= 0) {
				ids_buf_printf(b, "%s\"null_count\":%lld", first ? "" : ",", (long long)s->null_count);
				first = 0;
			}
			if (s->distinct_count >= 0)
				ids_buf_printf(b, "%s\"distinct_count\":%lld", first ? "" : ",",
					       (long long)s->distinct_count);
			ids_buf_puts(b, "}}");
		}
		ids_buf_puts(b, "]}");
	}
	ids_buf_puts(b, "]}\n");
}

static void meta_text(const char *path, const pq_file_meta *m, ids_buf *b)
{
	ids_buf_printf(b, "file: %s\nversion: %d\ncreated_by: %s\nnum_rows: %lld\nrow_groups: %zu\ncolumns: %zu\n",
		       path, m->version, m->created_by ? m->created_by : "(none)", (long long)m->num_rows,
		       m->n_row_groups, m->n_columns);
	if (m->n_kv)
		ids_buf_puts(b, "key_value_metadata:\n");
	for (size_t i = 0; i < m->n_kv; i++) {
		const char *v = m->kv[i].value ? m->kv[i].value : "(null)";
		size_t vl = strlen(v);
		ids_buf_printf(b, "  %s = %.*s%s\n", m->kv[i].key, (int)(vl > 200 ? 200 : vl), v,
			       vl > 200 ? "..." : "");
	}
	for (size_t g = 0; g < m->n_row_groups; g++) {
		const pq_row_group_meta *rg = &m->row_groups[g];
		ids_buf_printf(b, "row group %zu: %lld rows, %lld bytes uncompressed\n", g,
			       (long long)rg->num_rows, (long long)rg->total_byte_size);
		for (size_t c = 0; c < m->n_columns; c++) {
			const pq_chunk_meta *cm = &rg->chunks[c];
			ids_buf_printf(b, "  column '%s': %s %s [", cm->path, pq_type_name(cm->type),
				       pq_codec_name(cm->codec));
			for (size_t e = 0; e < cm->n_encodings; e++)
				ids_buf_printf(b, "%s%s", e ? " " : "", pq_encoding_name(cm->encodings[e]));
			ids_buf_printf(b, "] values=%lld compressed=%lld uncompressed=%lld offset=%lld",
				       (long long)cm->num_values, (long long)cm->total_compressed_size,
				       (long long)cm->total_uncompressed_size, (long long)cm->data_page_offset);
			if (cm->dictionary_page_offset >= 0)
				ids_buf_printf(b, " dict_offset=%lld", (long long)cm->dictionary_page_offset);
			const pq_stats *s = &cm->stats;
			if (s->has_min) {
				ids_buf_puts(b, " min=");
				stat_value(&m->columns[c], s->min, s->min_len, b);
			}
			if (s->has_max) {
				ids_buf_puts(b, " max=");
				stat_value(&m->columns[c], s->max, s->max_len, b);
			}
			if (s->null_count >= 0)
				ids_buf_printf(b, " nulls=%lld", (long long)s->null_count);
			ids_buf_putc(b, '\n');
		}
	}
}

static int read_run(void *cfg, char **args, int nargs)
{
	const read_cfg c = *(read_cfg *)cfg;
	const char *cmd = c.cmd == &meta_cmd ? "meta" : "schema";
	if (nargs != 1) {
		fprintf(stderr, "idbsync %s: expected one file, got %d (see --help)\n", c.cmd->name, nargs);
		return 2;
	}
	const char *path = args[0];
	int json = c.json;
	pq_read_options ro = PQ_READ_OPTIONS_INIT;
	pq_reader *r;
	ids_error err = IDS_ERROR_INIT;
	if (pq_reader_open(&r, path, &ro, &err))
		return fail(cmd, &err);
	int status = 0;
	if (strcmp(cmd, "schema") == 0) {
		print_node(pq_reader_schema(r), 0);
	} else {
		ids_buf b = IDS_BUF_INIT;
		if (json)
			meta_json(path, pq_reader_meta(r), &b);
		else
			meta_text(path, pq_reader_meta(r), &b);
		if (flush(&b))
			status = 1;
		ids_buf_free(&b);
	}
	pq_reader_free(r);
	return status;
}

int pq_cli_read(int argc, char **argv)
{
	read_cfg c = {.cmd = strcmp(argv[0], "meta") ? &schema_cmd : &meta_cmd};
	return cli_main(c.cmd, &c, argc, argv, read_run);
}
