/* Thrift compact protocol, the encoding of Parquet's footer (FileMetaData) and page headers.
 *
 * API in one paragraph. ENCODER: `pq_tenc e; pq_tenc_init(&e, &buf);` appends to an ids_buf.
 * A struct's fields are written with pq_tenc_i32/i64/bool/binary/string/double(e, field_id, v)
 * in increasing field-id order (the encoder keeps the last id per nesting level, so it emits the
 * short delta form when it can). Open a nested struct field with pq_tenc_struct_begin(e, id) and
 * close it with pq_tenc_struct_end(e) (which writes the STOP byte). A list field is
 * pq_tenc_list_begin(e, id, PQ_T_xxx, count) followed by exactly `count` elements written with the
 * pq_tenc_elem_* functions; for a list of structs use pq_tenc_elem_struct_begin(e) ...fields...
 * pq_tenc_struct_end(e) per element. The top-level struct (FileMetaData, PageHeader) is
 * pq_tenc_elem_struct_begin(e) ... pq_tenc_struct_end(e). pq_tenc_finish(e) returns 0, or
 * IDS_ELIMIT/IDS_ENOMEM if the buffer failed, or IDS_EINVAL on unbalanced begin/end; the write
 * calls themselves never fail loudly (errors are sticky), so call sites stay short.
 * DECODER: `pq_tdec d; pq_tdec_init(&d, bytes, n, err);` reads a byte span. Call
 * pq_tdec_struct_begin(&d), then loop `while ((rc = pq_tdec_field(&d, &id, &type)) > 0)`, reading
 * known fields with pq_tdec_i32/i64/bool/binary/double (after checking `type`) and calling
 * pq_tdec_skip(&d, type) for anything else; pq_tdec_field returns 0 at the struct's STOP (and leaves
 * the struct) or a negative IDS_E* code. Lists: pq_tdec_list_begin(&d, &elem_type, &count) then
 * `count` element reads. Every length is checked against the remaining bytes, nesting is capped at
 * PQ_THRIFT_MAX_DEPTH, a list count can never exceed the remaining bytes (each element takes >= 1
 * byte) nor d.max_list. Binary values are returned as pointers into the input (zero copy).
 * Errors name the byte offset (d.base_offset + position), so set base_offset to the span's file
 * offset for messages a person can act on. pq_tdec_pos(&d) is the number of bytes consumed. */
#ifndef PQ_THRIFT_H
#define PQ_THRIFT_H

#include <stddef.h>
#include <stdint.h>

#include "idbsync/buf.h"
#include "idbsync/error.h"

#define PQ_THRIFT_MAX_DEPTH 64

/* Compact-protocol type ids (as they appear in field and list headers). */
enum {
	PQ_T_STOP = 0, PQ_T_TRUE = 1, PQ_T_FALSE = 2, PQ_T_BYTE = 3, PQ_T_I16 = 4, PQ_T_I32 = 5,
	PQ_T_I64 = 6, PQ_T_DOUBLE = 7, PQ_T_BINARY = 8, PQ_T_LIST = 9, PQ_T_SET = 10, PQ_T_MAP = 11,
	PQ_T_STRUCT = 12,
	PQ_T_BOOL = PQ_T_TRUE /* element type to pass to pq_tenc_list_begin for a list of bools */
};

/* ---- encoder ---- */
typedef struct pq_tenc {
	ids_buf *out;
	int16_t last_id[PQ_THRIFT_MAX_DEPTH + 1];
	int depth;
	int failed;       /* sticky: first error code */
} pq_tenc;

void pq_tenc_init(pq_tenc *e, ids_buf *out);
void pq_tenc_i32(pq_tenc *e, int16_t id, int32_t v);
void pq_tenc_i64(pq_tenc *e, int16_t id, int64_t v);
void pq_tenc_bool(pq_tenc *e, int16_t id, int v);
void pq_tenc_double(pq_tenc *e, int16_t id, double v);
void pq_tenc_binary(pq_tenc *e, int16_t id, const void *p, size_t n);
void pq_tenc_string(pq_tenc *e, int16_t id, const char *s);
/* A struct-typed field; close with pq_tenc_struct_end. */
void pq_tenc_struct_begin(pq_tenc *e, int16_t id);
/* Writes STOP and leaves the current struct. */
void pq_tenc_struct_end(pq_tenc *e);
/* A list-typed field with `count` elements of compact type elem_type (PQ_T_I32, PQ_T_BINARY,
 * PQ_T_STRUCT, PQ_T_BOOL, ...). */
void pq_tenc_list_begin(pq_tenc *e, int16_t id, int elem_type, size_t count);
/* List elements (and the top-level struct: pq_tenc_elem_struct_begin). */
void pq_tenc_elem_i32(pq_tenc *e, int32_t v);
void pq_tenc_elem_i64(pq_tenc *e, int64_t v);
void pq_tenc_elem_bool(pq_tenc *e, int v);
void pq_tenc_elem_binary(pq_tenc *e, const void *p, size_t n);
void pq_tenc_elem_struct_begin(pq_tenc *e);
/* 0 when every begin had its end and nothing failed; else the first error code. */
int pq_tenc_finish(pq_tenc *e);

/* Raw helpers, exposed for the writer's page assembly and tests. */
void pq_tenc_varint(pq_tenc *e, uint64_t v);
static inline uint64_t pq_zigzag64(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static inline uint32_t pq_zigzag32(int32_t v) { return ((uint32_t)v << 1) ^ (uint32_t)(v >> 31); }

/* ---- decoder ---- */
typedef struct pq_tdec {
	const uint8_t *start, *p, *end;
	uint64_t base_offset;     /* file offset of start, for error messages */
	size_t max_list;          /* cap on any list/map count; default 1<<24 */
	int16_t last_id[PQ_THRIFT_MAX_DEPTH + 1];
	int depth;
	int field_bool;           /* value carried by the last bool field header, -1 if none */
	ids_error *err;
} pq_tdec;

void pq_tdec_init(pq_tdec *d, const uint8_t *p, size_t n, ids_error *err);
static inline size_t pq_tdec_pos(const pq_tdec *d) { return (size_t)(d->p - d->start); }

/* Enters a struct (top-level or a struct-typed field / list element). */
int pq_tdec_struct_begin(pq_tdec *d);
/* Next field of the current struct: 1 with id and type set, 0 at STOP (struct left), <0 error. */
int pq_tdec_field(pq_tdec *d, int16_t *id, int *type);
int pq_tdec_i32(pq_tdec *d, int32_t *v);
int pq_tdec_i64(pq_tdec *d, int64_t *v);
int pq_tdec_double(pq_tdec *d, double *v);
/* A bool: the value of a bool field header just read, or a list element byte. */
int pq_tdec_bool(pq_tdec *d, int *v);
/* Zero-copy bytes; *p points into the input span. */
int pq_tdec_binary(pq_tdec *d, const uint8_t **p, size_t *n);
/* List or set header. *count is checked against the remaining bytes and d->max_list. */
int pq_tdec_list_begin(pq_tdec *d, int *elem_type, uint32_t *count);
/* Skips a value of the given compact type (any depth up to PQ_THRIFT_MAX_DEPTH). */
int pq_tdec_skip(pq_tdec *d, int type);
/* Reads a field value into *v when type is the expected one and returns 1; otherwise skips the
 * value and returns 0 (a tolerant reader ignores a field of an unexpected type); <0 on error. */
int pq_tdec_expect_i32(pq_tdec *d, int type, int32_t *v);
int pq_tdec_expect_i64(pq_tdec *d, int type, int64_t *v);
int pq_tdec_expect_bool(pq_tdec *d, int type, int *v);
int pq_tdec_expect_binary(pq_tdec *d, int type, const uint8_t **p, size_t *n);

#endif
