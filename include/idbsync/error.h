/* Error codes and the error struct every idbsync function fills.
 * Functions return 0 on success or one of the negative IDS_E* codes, and write a
 * message a person can act on (which file, offset, field, what was expected) into
 * the ids_error the caller passes (which may be NULL when the caller does not care). */
#ifndef IDBSYNC_ERROR_H
#define IDBSYNC_ERROR_H

#include <stddef.h>

#define IDS_OK 0
#define IDS_EINVAL    (-1)  /* bad input: malformed, missing or ill-typed field */
#define IDS_ENOTFOUND (-2)
#define IDS_ECORRUPT  (-3)  /* stored or received data violates its format */
#define IDS_ELIMIT    (-4)  /* a size, count or depth cap was hit */
#define IDS_ECONFLICT (-5)
#define IDS_EIO       (-6)  /* the OS or a library failed: disk, network, sqlite */
#define IDS_EFORBIDDEN (-7) /* caller may not touch this (auth scoping) */
#define IDS_ENOMEM    (-8)
#define IDS_EGONE     (-9)  /* cursor older than the garbage-collection horizon */
#define IDS_ENOSPC    (-10) /* disk full: retry once space returns */
#define IDS_EBUSY     (-11) /* overloaded: retry shortly */
#define IDS_ETIMEOUT  (-12) /* stopped by a time limit (a query ran too long) */

typedef struct ids_error {
	int code;
	char msg[512];
} ids_error;

#define IDS_ERROR_INIT {0, {0}}

/* Sets err (if not NULL) and returns code, so callers can write `return ids_fail(err, ...)`. */
int ids_fail(ids_error *err, int code, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 3, 4)))
#endif
	;

/* Prefixes the message already in err with more context ("file x: " + old). */
int ids_wrap(ids_error *err, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 2, 3)))
#endif
	;

/* A short stable name for a code ("invalid", "not_found", ...), used in HTTP error bodies. */
const char *ids_code_name(int code);

#endif
