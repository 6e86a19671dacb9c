/* Private to src/import: the per-column type conversions of docs/types.md (convert.c). */
#ifndef IMPORT_INT_H
#define IMPORT_INT_H

#include "idbsync/buf.h"
#include "idbsync/json.h"
#include "idbsync/pq.h"

enum { IMP_CONV_NUMBER = 1, IMP_CONV_INTERVAL = 2 };

typedef struct imp_conv {
	const char *name;      /* a top-level column, borrowed from the reader's schema */
	int kind;
} imp_conv;

typedef struct imp_convs {
	imp_conv *c;
	size_t n;
} imp_convs;

/* Lists the top-level columns of root whose values are converted (replacing cv's list).
 * 0 or IDS_ENOMEM; free with imp_convs_free. */
int imp_convs_plan(imp_convs *cv, const pq_node *root);
void imp_convs_free(imp_convs *cv);
/* Appends the value token vt of field kt of the row's JSON: converted when its column is
 * listed (and the value has the reader's form), else as it is. */
void imp_convs_put(const imp_convs *cv, const ids_json *j, size_t kt, size_t vt, const char *row, ids_buf *val);
/* The key's JSON text (token k of field): a converted DECIMAL key is the same number the
 * value holds. */
void imp_convs_key(const imp_convs *cv, const char *field, const ids_json *j, size_t k, const char *row,
		   const char **p, size_t *n);
/* Rewrites integers beyond 2^53 in the JSON value text as {"$bigint":"digits"}. */
int imp_widen_big_ints(ids_json *j, ids_buf *val);

#endif
