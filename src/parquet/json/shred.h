/* JSON row shredder internals (shred.c builds the node tree, shred_value.c walks rows). */
#ifndef PQ_JSON_SHRED_H
#define PQ_JSON_SHRED_H

#include "parquet/write/pqw.h"
#include "pqj.h"

enum { SH_LEAF, SH_STRUCT, SH_LIST, SH_MAP };

/* How a leaf turns JSON into its physical value. */
enum {
	CV_BOOL, CV_I32, CV_I64, CV_DATE, CV_TS, CV_INT96, CV_FLOAT, CV_DOUBLE, CV_STRING,
	CV_JSON, CV_BINARY, CV_UUID, CV_DEC_I32, CV_DEC_I64, CV_DEC_FLBA, CV_DEC_BA, CV_FLBA
};

typedef struct shn {
	int kind;
	const char *name;        /* JSON key (the caller's schema name) */
	size_t name_len;
	pqj_key key;             /* for recognizing the expected key without scanning */
	struct shn *parent, *next_free;
	int required;            /* REQUIRED: null/missing is an error */
	int repeated;            /* a bare repeated field: its JSON value is an array */
	int16_t def;             /* definition level when this node holds a value */
	int16_t rep;             /* repetition level of this node */
	size_t first, nleaves;   /* leaf columns under this node: cols[first .. first+nleaves) */
	/* strict mode: what inference saw here (PQI_*), and the fraction digits the column
	 * keeps without changing type (timestamps) */
	int skind, sdigits;
	/* leaf */
	pqw_col *col;
	int conv, bits, scale, prec, width;
	pq_time_unit unit;
	/* struct (and a map's key_value group) */
	struct shn **kids;
	uint64_t *seen;          /* object stamp when each kid was last written */
	size_t nkids, hint;
	uint32_t *index;         /* pqj name index over kids (more than 8), else NULL */
	size_t index_mask;
	/* the root, while nulls are deferred (pqw_shred_defer): kids[eager[0..neager)] are
	 * the kids still nulled row by row; a deferred (lazy) leaf has entries for rows
	 * [0, filled) of the slice */
	size_t *eager, neager;
	int lazy;
	size_t filled;
	/* list / map */
	struct shn *elem;        /* list element (or 2-level repeated node); map: key_value */
	int16_t elem_rep;        /* repetition level of the 2nd+ element */
	int three;               /* 3-level list: elem sits under the repeated group */
} shn;

struct pqw_shred {
	pq_writer *w;
	pqw_col *cols;           /* where leaves put values: the writer's, or a parser's own */
	shn *root;
	shn *all;                /* every node, for freeing */
	pqj j;
	ids_buf tmp;             /* decoded binary / converted values */
	uint64_t stamp;
	size_t row;              /* rows shredded since pqw_shred_defer */
	shn **lazy;              /* the root's deferred leaves (NULL: not deferring) */
	size_t nlazy;
	int strict;              /* refuse (IDS_ECONFLICT) what would change the inferred schema */
};
typedef struct pqw_shred pqw_shred;

/* The value at the cursor (no leading whitespace) for node x. */
int shred_content(pqw_shred *s, shn *x, int16_t rep, int depth);
int shred_failf(pqw_shred *s, const shn *x, const char *at, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 4, 5)))
#endif
	;
int shred_oom(pqw_shred *s, int rc);
/* Strict mode: a value full inference would have typed differently. */
int shred_conflict(pqw_shred *s, const shn *x, const char *at, const char *what);
/* A null (or absent value) for every leaf under x. Inline: a sparse row writes one for
 * each field it leaves out (the wide set: ~110 of 120 per row). */
static inline __attribute__((always_inline)) int shred_nulls(pqw_shred *s, const shn *x,
							     int16_t def, int16_t rep)
{
	pqw_col *c = &s->cols[x->first];
	for (size_t i = 0; i < x->nleaves; i++)
		if (pqw_put_null(c + i, def, rep))
			return shred_oom(s, IDS_ENOMEM);
	return 0;
}

#endif
