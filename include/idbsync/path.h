/* Building file names: every path in idbsync is made here, so a name that does not fit is an
 * error naming it instead of a cut name something then acts on. */
#ifndef IDBSYNC_PATH_H
#define IDBSYNC_PATH_H

#include <stddef.h>

#include "idbsync/error.h"

/* The longest path idbsync builds (PATH_MAX less the terminator). */
#define IDS_PATH_MAX 4095

/* Formats into out (n bytes, usually IDS_PATH_MAX + 1). IDS_ELIMIT, with err naming the start
 * of the path and its length, when it does not fit in n or exceeds IDS_PATH_MAX; out is then
 * the empty string, never a cut name. */
int ids_path(char *out, size_t n, ids_error *err, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 4, 5)))
#endif
	;

/* IDS_ELIMIT when dir leaves fewer than room bytes under IDS_PATH_MAX for the names an owner
 * builds beneath it (what names the directory: "--lake", "--data"). */
int ids_path_room(const char *dir, size_t room, const char *what, ids_error *err);

/* Makes dir and its missing parents (0755; one that exists is fine). IDS_ELIMIT when the name
 * does not fit IDS_PATH_MAX, IDS_EIO naming the directory mkdir failed on. */
int ids_mkdirs(const char *dir, ids_error *err);

#endif
