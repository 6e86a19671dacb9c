/* What batch.c (whole bodies) and batch_stream.c (a body parsed while it is applied) share:
 * one check per mutation and one for the envelope, so both accept exactly the same pushes. */
#ifndef IDBSYNC_BATCH_INT_H
#define IDBSYNC_BATCH_INT_H

#include "idbsync/sync.h"

/* Mutations keep offsets into an arena while it grows; pointers are fixed when it stops. */
typedef struct pending {
	size_t store_off, key_off;
	size_t store_tok;
} pending;

/* Checks mutation idx (object token t of j) into b->m[idx]; its store and key go to arena
 * (offsets in pd). prev: the previous mutation's pending in the same j and arena, whose store
 * text is reused when equal, or NULL. */
int ids_batch_parse_mutation(ids_batch *b, const ids_json *j, ids_buf *arena, size_t t, size_t idx, pending *pd,
			     const pending *prev, const ids_limits *lim, hlc_clock *clock, ids_error *err);
/* "client", "origin" and "user" of the object token 0 of b->json into b. */
int ids_batch_envelope(ids_batch *b, ids_error *err);
int ids_batch_alloc(ids_batch **out, const char *db, ids_error *err);
void ids_batch_stream_free(struct ids_batch_stream *st);

#endif
