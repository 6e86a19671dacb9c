/* Reader internals shared by the files of src/parquet/read/: the byte source, the per-column
 * page cursor, the low-level decoders and the record assembler. Not a public header. */
#ifndef PQ_RD_INTERNAL_H
#define PQ_RD_INTERNAL_H

#include "idbsync/pq_read.h"
#include "parquet/common/thrift.h"

#include <stdint.h>
#include <string.h>

/* ---- arena owning the footer's strings and arrays (rd_meta.c) ---- */
struct pq_meta_arena {
	void **ptrs;
	size_t n, cap;
};
void *rd_arena_alloc(struct pq_meta_arena *a, size_t size);   /* zeroed */
char *rd_arena_strndup(struct pq_meta_arena *a, const uint8_t *s, size_t n);

/* schema elements -> pq_node tree + leaf descriptors (rd_schema.c) */
typedef struct rd_selem {
	const uint8_t *name;
	size_t name_len;
	int type;                 /* -1 if absent (group) */
	int32_t type_length;
	int repetition;           /* -1 if absent */
	int32_t num_children;     /* -1 if absent */
	int converted;            /* -1 if absent */
	int32_t scale, precision; /* -1 if absent */
	int32_t field_id;         /* -1 if absent */
	pq_logical logical;
} rd_selem;
int rd_schema_build(pq_file_meta *m, const rd_selem *el, size_t n, ids_error *err);
int rd_decode_logical(struct pq_tdec *d, pq_logical *lt);

/* ---- byte source ---- */
typedef struct rd_src {
	int fd;                   /* -1 for memory */
	const uint8_t *mem;
	uint64_t size;
	const char *name;
} rd_src;
/* Reads [off, off+n) into buf; *p is set to the bytes (buf, or the memory source directly). */
int rd_src_read(const rd_src *s, uint64_t off, size_t n, uint8_t *buf, const uint8_t **p,
		ids_error *err);

/* ---- low-level decoders (rd_levels.c, rd_values.c, rd_delta.c) ---- */
static inline uint32_t rd_le32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}
static inline int rd_bit_width(uint32_t max) { int w = 0; while (max) { w++; max >>= 1; } return w; }
size_t rd_elem_size(pq_type t, int32_t type_length);
/* Grows *pp (realloc) to at least need bytes, doubling; *cap tracks its size. */
int rd_grow(void *pp, size_t *cap, size_t need, ids_error *err);

/* RLE/bit-packed hybrid: n values of bit width bw (0..32) from p[0..len). */
int rd_rle_i16(const uint8_t *p, size_t len, int bw, size_t n, int16_t *out, ids_error *err);
int rd_rle_u32(const uint8_t *p, size_t len, int bw, size_t n, uint32_t *out, ids_error *err);
/* Deprecated BIT_PACKED levels (MSB first); *used = bytes consumed. */
int rd_bitpacked_i16(const uint8_t *p, size_t len, int bw, size_t n, int16_t *out, size_t *used,
		     ids_error *err);
/* PLAIN values; *used = bytes consumed. BYTE_ARRAY values point into p. */
int rd_plain(pq_type t, int32_t tl, const uint8_t *p, size_t len, size_t n, void *out, size_t *used,
	     ids_error *err);
int rd_byte_stream_split(pq_type t, int32_t tl, const uint8_t *p, size_t len, size_t n, void *out,
			 ids_error *err);
/* DELTA_BINARY_PACKED into int32 (is64 = 0) or int64; *used = bytes consumed. */
int rd_delta_binary(const uint8_t *p, size_t len, size_t n, int is64, void *out, size_t *used,
		    ids_error *err);
/* Total value count from a DELTA_BINARY_PACKED header (for sizing). */
int rd_delta_count(const uint8_t *p, size_t len, size_t *count, ids_error *err);
int rd_delta_length_ba(const uint8_t *p, size_t len, size_t n, pq_rbytes *out, size_t max_count,
		       ids_error *err);
/* DELTA_BYTE_ARRAY: strings are rebuilt into *arena (realloc'd, owned by caller). For
 * FIXED_LEN_BYTE_ARRAY (fixed_len > 0) values are packed into out instead of pq_rbytes. */
int rd_delta_ba(const uint8_t *p, size_t len, size_t n, pq_rbytes *out, uint8_t **arena,
		size_t *arena_cap, size_t max_bytes, size_t max_count, ids_error *err);

/* ---- column cursor (rd_page.c) ---- */
typedef struct rd_col {
	const rd_src *src;
	const pq_read_options *opts;
	const pq_column_desc *desc;
	const pq_chunk_meta *cm;
	size_t rg, col;
	size_t elem;              /* packed value size (sizeof(pq_rbytes) for BYTE_ARRAY) */
	uint8_t *chunk;           /* owned copy of the chunk bytes (file source) */
	const uint8_t *cbuf;
	size_t clen, cpos;
	uint64_t cbase;           /* file offset of cbuf[0] */
	int64_t values_read;
	/* dictionary */
	uint8_t *dict_buf, *dict_vals;
	size_t dict_n;
	int have_dict;
	/* current page, fully decoded */
	uint8_t *page_buf;
	size_t page_cap;
	int16_t *def, *rep;
	size_t lvl_cap, def_cap;
	uint8_t *vals;
	size_t vals_cap;
	uint32_t *idx;
	size_t idx_cap;
	uint8_t *arena;
	size_t arena_cap;
	size_t n, i;              /* level entries in page, next entry */
	size_t nv, vi;            /* values in page, next value */
	uint64_t page_off;        /* file offset of the current page header */
} rd_col;

int rd_col_open(rd_col *c, const rd_src *src, const pq_read_options *opts, const pq_file_meta *m,
		size_t rg, size_t col, ids_error *err);
/* Loads the next data page: 1 loaded, 0 end of chunk, <0 error. */
int rd_col_next_page(rd_col *c, ids_error *err);
void rd_col_close(rd_col *c);
/* Decodes one data page's levels and values into c (rd_pagedec.c). For V2 pages the first
 * rl + dl bytes of data are the uncompressed level streams. */
int rd_decode_data_page(rd_col *c, int v2, size_t n, int enc, int def_enc, int rep_enc, size_t rl,
			size_t dl, const uint8_t *data, size_t len, ids_error *err);

/* ---- JSON output of leaf values (rd_json.c) ---- */
/* ids_buf appends with the common case (room available) inlined: the row writer's hot path */
static inline int rd_put(ids_buf *b, const void *p, size_t n)
{
	if (!b->failed && b->data && n < b->cap - b->len) {
		memcpy(b->data + b->len, p, n);
		b->len += n;
		b->data[b->len] = 0;
		return 0;
	}
	return ids_buf_append(b, p, n);
}
static inline int rd_putc(ids_buf *b, char c)
{
	if (!b->failed && b->data && 1 < b->cap - b->len) {
		b->data[b->len++] = c;
		b->data[b->len] = 0;
		return 0;
	}
	return ids_buf_putc(b, c);
}
int rd_json_value(const pq_column_desc *c, const uint8_t *v, ids_buf *out);
int rd_json_str(ids_buf *out, const uint8_t *s, size_t n);

/* ---- record assembly (rd_assemble.c) ---- */
typedef struct rd_asm rd_asm;
int rd_asm_new(rd_asm **out, const pq_file_meta *m, ids_error *err);
void rd_asm_free(rd_asm *a);
/* Emits one row from the open cursors cols[0..n_columns). 1 row, <0 error. */
int rd_asm_row(rd_asm *a, rd_col *cols, ids_buf *out, ids_error *err);

#endif
