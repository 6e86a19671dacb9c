/* The option-table engine (opts.h): help text, flag parsing and config files from one table.
 * A config value reaches the field through the same setter as the flag's text, so a key and
 * its flag accept the same values and report the same errors. */
#include "opts.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "idbsync/config.h"

/* The config key of o ("max_body" for --max-body) into out. */
static void opt_key(const cli_opt *o, char *out, size_t n)
{
	snprintf(out, n, "%s", o->key ? o->key : o->flag + 2);
	for (char *p = out; *p; p++)
		if (*p == '-')
			*p = '_';
}

#define HELP_COL 29     /* where the help text starts */
#define HELP_WIDTH 100  /* lines are wrapped before this column */

/* text (and " [def]") from column col, wrapped at spaces, continuation lines at HELP_COL */
static void help_text(FILE *f, int col, const char *text, const char *def)
{
	char all[1024];
	snprintf(all, sizeof all, "%s%s%s%s", text, def ? " [" : "", def ? def : "", def ? "]" : "");
	const char *p = all;
	while (*p) {
		size_t room = col < HELP_WIDTH - 20 ? (size_t)(HELP_WIDTH - col) : 20, n = strlen(p);
		if (n > room) {
			n = room;
			while (n > 0 && p[n] != ' ')
				n--;
			if (!n)
				n = strcspn(p, " ");
		}
		fprintf(f, "%.*s\n", (int)n, p);
		p += n;
		while (*p == ' ')
			p++;
		if (*p)
			fprintf(f, "%*s", HELP_COL, "");
		col = HELP_COL;
	}
}

void cli_help(const cli_cmd *c, FILE *f)
{
	fputs(c->usage, f);
	for (const cli_opt *o = c->opts; o->flag; o++) {
		if (o->section)
			fprintf(f, "%s\n", o->section);
		char left[128];
		snprintf(left, sizeof left, "%s%s%s", o->flag, o->arg ? " " : "", o->arg ? o->arg : "");
		/* a long flag keeps two spaces before its help, so the columns stay readable */
		int col = fprintf(f, "  %-*s%s", HELP_COL - 3, left, strlen(left) < HELP_COL - 3 ? " " : "  ");
		help_text(f, col, o->help, o->def);
	}
	if (c->footer)
		fputs(c->footer, f);
	if (c->help_extra)
		c->help_extra(f);
}

static int wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return 1;
	return 0;
}

static const cli_opt *find_flag(const cli_cmd *c, const char *flag)
{
	for (const cli_opt *o = c->opts; o->flag; o++)
		if (!strcmp(o->flag, flag))
			return o;
	return NULL;
}

static const cli_opt *find_key(const cli_cmd *c, const char *key)
{
	char k[128];
	for (const cli_opt *o = c->opts; o->flag; o++) {
		opt_key(o, k, sizeof k);
		if (o->type != CLI_CONFIG && !strcmp(k, key))
			return o;
		/* a key named for its unit ("gc_interval_s") also answers to the flag's plain name */
		if (o->key) {
			snprintf(k, sizeof k, "%s", o->flag + 2);
			for (char *p = k; *p; p++)
				if (*p == '-')
					*p = '_';
			if (!strcmp(k, key))
				return o;
		}
	}
	return NULL;
}

/* Integer fields are 32 or 64 bits (the table's CLI_FIELD gives the size). */
static void put_int(void *field, size_t size, int64_t v)
{
	if (size == sizeof(int32_t))
		*(int32_t *)field = (int32_t)v;
	else if (size == sizeof(int64_t))
		*(int64_t *)field = v;
	else
		abort();   /* a table entry for a field of another size: our bug, caught by any test */
}

static int range_fail(const cli_opt *o, const char *v, ids_error *err, const char *what)
{
	if (o->max)
		return ids_fail(err, IDS_EINVAL, "expected an %s from %lld to %lld, got \"%s\"", what, (long long)o->min,
				(long long)o->max, v);
	if (o->min)
		return ids_fail(err, IDS_EINVAL, "expected an %s of at least %lld, got \"%s\"", what, (long long)o->min, v);
	return ids_fail(err, IDS_EINVAL, "expected a non-negative %s, got \"%s\"", what, v);
}

/* The one setter: a flag's text, or a config value made text, into the field. */
static int set_value(const cli_opt *o, void *cfg, const char *v, ids_error *err)
{
	void *field = (char *)cfg + o->off;
	int64_t x = 0;
	switch (o->type) {
	case CLI_STR:
		*(const char **)field = v;
		return 0;
	case CLI_SWITCH:
		*(int *)field = 1;
		return 0;
	case CLI_INT: {
		char *end;
		errno = 0;
		long long n = strtoll(v, &end, 10);
		int64_t scale = o->scale ? o->scale : 1;
		if (!*v || *end || errno || n < o->min || (o->max && n > o->max) || n > INT64_MAX / scale ||
		    (o->size == sizeof(int32_t) && n * scale > INT32_MAX))
			return range_fail(o, v, err, "integer");
		put_int(field, o->size, (int64_t)n * scale);
		return 0;
	}
	case CLI_DUR:
		if (ids_parse_duration_ms(v, &x) || x < o->min || (o->max && x > o->max))
			return ids_fail(err, IDS_EINVAL, "expected a duration like 1s, 250ms or 500 (ms)%s, got \"%s\"",
					o->min ? " above 0" : "", v);
		put_int(field, o->size, x);
		return 0;
	case CLI_SIZE:
		if (ids_parse_size(v, &x) || x < o->min || (o->max && x > o->max))
			return ids_fail(err, IDS_EINVAL, "expected a size like 134217728, 128M or 64k, got \"%s\"", v);
		put_int(field, o->size, x);
		return 0;
	case CLI_ENUM: {
		char names[256] = "";
		size_t n = 0;
		for (const cli_choice *ch = o->choices; ch->name; ch++) {
			if (!strcmp(ch->name, v)) {
				*(int *)field = ch->value;
				return 0;
			}
			n += (size_t)snprintf(names + n, n < sizeof names ? sizeof names - n : 0, "%s%s",
					      ch == o->choices ? "" : ch[1].name ? ", " : " or ", ch->name);
		}
		return ids_fail(err, IDS_EINVAL, "expected %s, got \"%s\"", names, v);
	}
	case CLI_CUSTOM:
		return o->parse(cfg, v, err);
	case CLI_CONFIG:
		return 0;   /* read before the flags */
	}
	return ids_fail(err, IDS_EINVAL, "unhandled option type");
}

static int flag_value(const cli_cmd *c, const cli_opt *o, void *cfg, const char *v)
{
	ids_error err = IDS_ERROR_INIT;
	if (!set_value(o, cfg, v, &err))
		return 0;
	fprintf(stderr, "idbsync %s: %s: %s\n", c->name, o->flag, err.msg);
	return IDS_EINVAL;
}

/* The expected JSON type of o's key, as errors name it. */
static const char *expected(const cli_opt *o)
{
	switch (o->type) {
	case CLI_SWITCH: return "true or false";
	case CLI_INT: return "a number";
	case CLI_DUR:
	case CLI_SIZE: return "a number or a string";
	default: return o->flags & CLI_REPEAT ? "a string or an array of strings" : "a string";
	}
}

/* One key of a config file; errors are printed, every key is looked at. */
static int config_key(const cli_cmd *c, void *cfg, const ids_config *cf, const char *key, json_t *v)
{
	ids_error err = IDS_ERROR_INIT;
	const cli_opt *o = find_key(c, key);
	if (!o) {
		ids_config_fail(cf, &err, NULL, key, "unknown setting (the keys are the flags of idbsync %s --help, "
				"with '_' for '-')", c->name);
		goto fail;
	}
	char text[64];
	const char *s = NULL;
	if (o->type == CLI_SWITCH) {
		if (!json_is_boolean(v))
			goto type;
		*(int *)((char *)cfg + o->off) = json_is_true(v);
		return 0;
	}
	if (json_is_integer(v) && (o->type == CLI_INT || o->type == CLI_DUR || o->type == CLI_SIZE)) {
		snprintf(text, sizeof text, "%lld", (long long)json_integer_value(v));
		s = text;
	} else if (json_is_string(v) && o->type != CLI_INT) {
		s = json_string_value(v);
	} else if ((o->flags & CLI_REPEAT) && (json_is_array(v) || json_is_object(v))) {
		int rc = 0;
		size_t i;
		json_t *e;
		const char *k;
		json_array_foreach(v, i, e)
		{
			ids_error e2 = IDS_ERROR_INIT;
			if (!json_is_string(e))
				ids_config_fail(cf, &err, NULL, key, "[%zu]: must be a string (%s %s)", i, o->flag, o->arg);
			else if (set_value(o, cfg, json_string_value(e), &e2))
				ids_config_fail(cf, &err, NULL, key, "[%zu]: %s: %s", i, o->flag, e2.msg);
			else
				continue;
			fprintf(stderr, "idbsync %s: %s\n", c->name, err.msg);
			rc = IDS_EINVAL;
		}
		json_object_foreach(v, k, e)
		{
			/* {"orders": "merge"} is --conflict orders=merge; the pair replaces the value in the
			 * object, so it lives as long as the file's other strings */
			ids_error e2 = IDS_ERROR_INIT;
			if (!json_is_string(e)) {
				ids_config_fail(cf, &err, key, k, "must be a string (%s %s)", o->flag, o->arg);
			} else {
				size_t n = strlen(k) + strlen(json_string_value(e)) + 2;
				char *pair = malloc(n);
				json_t *js = NULL;
				if (pair) {
					snprintf(pair, n, "%s=%s", k, json_string_value(e));
					js = json_string(pair);
					free(pair);
				}
				if (js && !json_object_set_new(v, k, js) &&
				    !set_value(o, cfg, json_string_value(json_object_get(v, k)), &e2))
					continue;
				ids_config_fail(cf, &err, key, k, "%s: %s", o->flag, js ? e2.msg : "out of memory");
			}
			fprintf(stderr, "idbsync %s: %s\n", c->name, err.msg);
			rc = IDS_EINVAL;
		}
		return rc;
	}
	if (!s)
		goto type;
	ids_error e2 = IDS_ERROR_INIT;
	if (!set_value(o, cfg, s, &e2))
		return 0;
	ids_config_fail(cf, &err, NULL, key, "%s: %s", o->flag, e2.msg);
	goto fail;
type:
	ids_config_fail(cf, &err, NULL, key, "must be %s (%s%s%s)", expected(o), o->flag, o->arg ? " " : "",
			o->arg ? o->arg : "");
fail:
	fprintf(stderr, "idbsync %s: %s\n", c->name, err.msg);
	return IDS_EINVAL;
}

/* Config files are kept for the life of the process: the settings point into their strings. */
static int load_config(const cli_cmd *c, void *cfg, const char *path)
{
	ids_error err = IDS_ERROR_INIT;
	ids_config *cf = NULL;
	if (ids_config_load(&cf, path, &err)) {
		fprintf(stderr, "idbsync %s: %s\n", c->name, err.msg);
		return IDS_EINVAL;
	}
	int rc = 0;
	const char *k;
	json_t *v;
	json_object_foreach(ids_config_root(cf), k, v)
	{
		if (config_key(c, cfg, cf, k, v))
			rc = IDS_EINVAL;
	}
	return rc;
}

static int parse(const cli_cmd *c, void *cfg, int argc, char **argv, char **pos, int *npos)
{
	*npos = 0;
	for (int i = 1; i + 1 < argc && strcmp(argv[i], "--"); i++) {
		const cli_opt *o = find_flag(c, argv[i]);
		if (o && o->type == CLI_CONFIG && load_config(c, cfg, argv[++i]))
			return IDS_EINVAL;
	}
	int flags = 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (flags && !strcmp(a, "--")) {
			flags = 0;
			continue;
		}
		if (!flags || a[0] != '-' || !a[1]) {
			if (!pos) {
				fprintf(stderr, "idbsync %s: unexpected argument '%s' (%s takes options only; see --help)\n",
					c->name, a, c->name);
				return IDS_EINVAL;
			}
			pos[(*npos)++] = argv[i];
			if (!c->flags_anywhere)
				flags = 0;
			continue;
		}
		const cli_opt *o = find_flag(c, a);
		if (!o) {
			fprintf(stderr, "idbsync %s: unknown option %s (see --help)\n", c->name, a);
			return IDS_EINVAL;
		}
		if (o->type == CLI_SWITCH) {
			*(int *)((char *)cfg + o->off) = 1;
			continue;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "idbsync %s: %s needs a value (see --help)\n", c->name, a);
			return IDS_EINVAL;
		}
		if (flag_value(c, o, cfg, argv[++i]))
			return IDS_EINVAL;
	}
	return 0;
}

static int parse_or_help(const cli_cmd *c, void *cfg, int argc, char **argv, char **pos, int *npos)
{
	int rc = parse(c, cfg, argc, argv, pos, npos);
	if (rc && c->help_on_error)
		cli_help(c, stderr);
	return rc;
}

int cli_main(const cli_cmd *c, void *cfg, int argc, char **argv, int (*run)(void *cfg, char **args, int nargs))
{
	if (wants_help(argc, argv)) {
		cli_help(c, stdout);
		return 0;
	}
	char **args = c->no_args ? NULL : calloc((size_t)argc, sizeof *args);
	int nargs = 0;
	if (!c->no_args && !args) {
		fprintf(stderr, "idbsync %s: out of memory\n", c->name);
		return 1;
	}
	int rc = parse_or_help(c, cfg, argc, argv, args, &nargs) ? 2 : run(cfg, args, nargs);
	free(args);
	return rc;
}
