/* The sync data model shared by the server, the ledger and the importers: a push batch of
 * client mutations, conflict rules, and the limits that bound everything from outside. */
#ifndef IDBSYNC_SYNC_H
#define IDBSYNC_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "idbsync/buf.h"
#include "idbsync/error.h"
#include "idbsync/hlc.h"
#include "idbsync/json.h"

typedef enum ids_op { IDS_OP_PUT = 1, IDS_OP_DELETE = 2 } ids_op;

typedef enum ids_rule {
	IDS_RULE_LWW = 0,        /* greater HLC wins, puts and deletes alike */
	IDS_RULE_CLIENT_WINS,    /* latest arrival wins */
	IDS_RULE_SERVER_WINS,    /* a server-side (lake) change beats client edits based on older versions */
	IDS_RULE_MERGE           /* per top-level field last-writer-wins */
} ids_rule;

typedef enum ids_origin { IDS_ORIGIN_CLIENT = 0, IDS_ORIGIN_SERVER = 1 } ids_origin;

#define IDS_NAME_MAX 256     /* store names, client ids, user ids (bytes) */
#define IDS_DB_NAME_MAX 64

typedef struct ids_limits {
	size_t max_body;         /* bytes of one request body */
	size_t max_key;          /* bytes of an encoded key */
	size_t max_value;        /* bytes of one value's JSON */
	size_t max_mutations;    /* per push */
} ids_limits;

#define IDS_LIMITS_INIT {.max_body = 32u << 20, .max_key = 4096, .max_value = 8u << 20, .max_mutations = 100000}

typedef struct ids_mutation {
	int64_t id;
	const char *store;       /* unescaped, NUL-terminated; owned by the batch */
	ids_op op;
	const uint8_t *key;      /* canonical key encoding; owned by the batch */
	size_t key_len;
	const char *value;       /* put: the value's JSON text exactly as sent; NULL for delete */
	size_t value_len;
	hlc_stamp hlc;
	int has_hlc;
	int64_t base;
	int has_base;
	const ids_json *json;    /* push bodies: the parsed body, and the value's token (else NULL) */
	uint32_t vtok;
} ids_mutation;

typedef struct ids_batch {
	char db[IDS_DB_NAME_MAX + 1];
	char client[IDS_NAME_MAX + 1];
	char user[IDS_NAME_MAX + 1];  /* "" when auth is off or for shared rows */
	ids_origin origin;
	ids_mutation *m;
	size_t n;
	/* private */
	char *body;
	ids_json json;
	ids_buf arena;
	struct ids_batch_stream *stream; /* ids_batch_stream_begin: mutations still being parsed */
} ids_batch;

/* Valid database names: 1-64 of [A-Za-z0-9_.-], not starting with '.' or '_' (those are
 * hidden in the lake). */
int ids_db_name_valid(const char *s);
/* Client and user ids: 1-256 printable ASCII bytes, no spaces. */
int ids_id_valid(const char *s, size_t n);
/* Object store names: 1-256 bytes, no control characters. */
int ids_store_name_valid(const char *s, size_t n);

/* Parses and fully validates a push body {"client":..,"mutations":[..]} (optionally
 * "origin":"server" and "user":".." for server-side writers; the caller decides whether the
 * sender may use them); takes ownership of
 * body (malloc'ed, freed by ids_batch_free). Every mutation is checked before anything is
 * applied, so a rejected batch changes nothing. HLCs from the future beyond the clock's skew
 * bound are rejected. Errors name the field: "mutations[3].key: ...". */
int ids_batch_parse(ids_batch **out, const char *db, char *body, size_t len, const ids_limits *lim,
		    hlc_clock *clock, ids_error *err);
/* An empty batch for server-side writers (importers) to fill with ids_batch_add. */
int ids_batch_new(ids_batch **out, const char *db, const char *client, const char *user,
		  ids_origin origin, ids_error *err);
/* Adds a mutation whose key and value are given as JSON text (copied). */
int ids_batch_add(ids_batch *b, int64_t id, const char *store, ids_op op, const char *key_json,
		  size_t key_len, const char *value_json, size_t value_len, const ids_limits *lim, ids_error *err);
void ids_batch_free(ids_batch *b);

/* A push parsed while it is applied (one client's push: the writer starts on the first
 * mutations while the thread that received the body checks the rest). The batch is all or
 * nothing as with ids_batch_parse: whoever applies it must call ids_batch_stream_end before
 * keeping anything, and a failed stream means "parse the body whole" (ids_batch_parse gives
 * the answer, the same as without streaming).
 *
 * ids_batch_stream_begin reads the body up to the start of its "mutations" array ("client",
 * "origin", "user" come first, as every client sends them) and returns 0 with a batch whose
 * envelope is set and whose mutations are not parsed yet; the batch owns body. It returns 1,
 * leaving body the caller's, when the body is not of that shape or not valid there: then
 * ids_batch_parse it. */
int ids_batch_stream_begin(ids_batch **out, const char *db, char *body, size_t len, const ids_limits *lim,
			   hlc_clock *clock);
/* Parses the mutations, making each one visible to ids_batch_wait as its group of 16 is
 * checked, until the stream ends (the applier may parse some groups itself meanwhile). Run
 * once, by the thread that began the stream; after it returns that thread must not touch b
 * (the applier may free it). */
void ids_batch_stream_run(ids_batch *b);
/* 1 when mutation i exists, waiting for it to be parsed if needed — or parsing its group on
 * the calling thread when the parser's thread is not at it (it lost its core: on a loaded
 * machine the two threads often share one); 0 past the last published one once the stream
 * ended (well or not). Without a stream: i < b->n. */
int ids_batch_wait(ids_batch *b, size_t i);
/* Waits until the stream ended (parsing what is left if nobody is at it) and
 * ids_batch_stream_run has returned: 0 when every mutation was valid (b->n is then their
 * number), else IDS_EINVAL. 0 at once for a batch that was not streamed. */
int ids_batch_stream_end(ids_batch *b, ids_error *err);
/* The body of a streamed batch, taken back (the batch is then only fit for ids_batch_free). */
char *ids_batch_take_body(ids_batch *b, size_t *len);

const char *ids_rule_name(ids_rule r);
int ids_rule_parse(const char *s, ids_rule *out);

/* Current state of a row as the conflict rules see it. */
typedef struct ids_row {
	int exists;
	int deleted;
	int64_t seq;
	hlc_stamp hlc;
	ids_origin origin;
	const char *value;       /* NULL for a tombstone */
	size_t value_len;
	const char *meta;        /* merge rule: per-field stamps as JSON; may be NULL */
	size_t meta_len;
	/* merge rule: the row's value at the mutation's base seq, when still in the change log
	 * (NULL with has_base_value: the base version was a delete). Enables a three-way merge:
	 * fields the client left as they were at its base are not writes. */
	int has_base_value;
	const char *base_value;
	size_t base_len;
} ids_row;

typedef enum ids_outcome {
	IDS_APPLY = 1,    /* write the new state (value/meta below) */
	IDS_LOSE,         /* the mutation loses: log a conflict, keep the row */
	IDS_SAME          /* identical stamp already applied: nothing to do */
} ids_outcome;

typedef struct ids_decision {
	ids_outcome outcome;
	int deleted;             /* new state is a tombstone */
	hlc_stamp hlc;           /* the row's new stamp */
	ids_buf value;           /* merge: the merged value (else empty: use the mutation's) */
	ids_buf meta;            /* merge: the new per-field stamps */
	int merged;              /* value/meta hold the merge result */
	int partial;             /* merge: applied, but some fields lost (also log a conflict) */
	ids_buf lost;            /* merge: JSON array of the field names that lost */
	const char *reason;      /* why the mutation lost, for the conflicts log */
} ids_decision;

void ids_decision_init(ids_decision *d);
void ids_decision_free(ids_decision *d);

/* Applies rule to (current row, mutation m with a stamp of hlc, from origin) and fills d.
 * new_seq is the seq the change will get if applied (recorded per field by merge). */
int ids_conflict_decide(ids_rule rule, const ids_row *cur, const ids_mutation *m, ids_origin origin,
			int64_t new_seq, ids_decision *d, ids_error *err);

#endif
