/* The option table of a command: one entry per flag (name, type, default, help, config key)
 * generates the --help text, parses the flags and the --config file, so the three cannot
 * disagree (Redis's standardConfig, curl's aliases[]). Adding a flag is adding an entry. */
#ifndef IDS_CLI_OPTS_H
#define IDS_CLI_OPTS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "idbsync/error.h"

typedef enum cli_type {
	CLI_STR,      /* const char * field: the flag's text (argv or the config file) */
	CLI_SWITCH,   /* int field set to 1 by the bare flag; config: true or false */
	CLI_INT,      /* integer field (size bytes), from min to max, stored times scale */
	CLI_DUR,      /* int64_t milliseconds: 1s, 250ms, 500; config: a number (ms) or a string */
	CLI_SIZE,     /* int64_t bytes: 134217728, 128M, 64k; config: a number or a string */
	CLI_ENUM,     /* int-sized field: one of choices */
	CLI_CUSTOM,   /* parse(cfg, value, err) */
	CLI_CONFIG,   /* --config FILE: read before the flags, which override it */
} cli_type;

typedef struct cli_choice {
	const char *name;
	int value;
} cli_choice;

#define CLI_REPEAT 1u   /* may be given many times; config: an array, or {"k":"v"} as "k=v" */

typedef struct cli_opt {
	const char *flag;      /* "--max-body" */
	const char *arg;       /* the value's name in help ("BYTES"); NULL for a switch */
	const char *def;       /* the default as help shows it; NULL: none */
	const char *help;
	cli_type type;
	size_t off, size;      /* the field in the command's settings struct */
	int64_t min, max;      /* CLI_INT, CLI_DUR, CLI_SIZE: accepted range (max 0: no upper bound) */
	int64_t scale;         /* CLI_INT: the field holds value * scale (seconds as ms); 0: 1 */
	const cli_choice *choices;   /* CLI_ENUM, ending with {NULL, 0} */
	int (*parse)(void *cfg, const char *value, ids_error *err);   /* CLI_CUSTOM */
	const char *key;       /* the config key when it is not the flag with '_' for '-' */
	unsigned flags;        /* CLI_REPEAT */
	const char *section;   /* a heading help prints before this entry */
} cli_opt;

typedef struct cli_cmd {
	const char *name;      /* "serve": messages read "idbsync serve: ..." */
	const char *usage;     /* help's first lines, before the table */
	const char *footer;    /* help's last lines (NULL: none) */
	const cli_opt *opts;   /* ends with an entry whose flag is NULL */
	int flags_anywhere;    /* 1: flags may follow positional arguments */
	int help_on_error;     /* 1: a usage error is followed by the help on stderr */
	int no_args;           /* 1: the command takes flags only; an argument is a usage error */
	void (*help_extra)(FILE *f);   /* prints more help after the footer (NULL: none) */
} cli_cmd;

/* The table's off and size for member M of settings struct S. */
#define CLI_FIELD(S, M) .off = offsetof(S, M), .size = sizeof(((S *)0)->M)

/* Prints the generated help: usage, then one line per entry "  --flag ARG  help [default]". */
void cli_help(const cli_cmd *c, FILE *f);
/* A command's whole front. With --help or -h (before any "--") prints the help to stdout and
 * returns 0. Otherwise reads every --config FILE, then the flags of argv[1..] (flags win), into
 * cfg, and returns run(cfg, args, nargs) with the positional arguments (pointing into argv;
 * none for a no_args command). A bad flag, value, key or file is printed to stderr
 * ("idbsync CMD: ...", naming the file, line, key and expected type; every one found) and
 * returns 2. Strings of config files stay valid for the life of the process. */
int cli_main(const cli_cmd *c, void *cfg, int argc, char **argv, int (*run)(void *cfg, char **args, int nargs));

#endif
