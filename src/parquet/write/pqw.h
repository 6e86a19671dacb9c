/* Writer internals shared by the files of src/parquet/write and the JSON shredder.
 * A pqw_col stages one data page of one leaf column (levels + values, either PLAIN bytes
 * or dictionary indices) and accumulates the encoded pages of the current row group. */
#ifndef PQW_H
#define PQW_H

#include <stddef.h>
#include <stdint.h>

#include <pthread.h>
#include <string.h>

#include "idbsync/buf.h"
#include "idbsync/pq_write.h"

#define PQW_VERSION "0.1.0"
#define PQW_MAX_DEPTH 64          /* schema nesting cap (levels fit easily in int16) */

/* ---- RLE / bit-packed hybrid and bit packing (rle.c) ---- */
int pqw_bit_width(uint64_t max);
/* Appends the hybrid encoding of vals[0..n) with bit width bw (no length prefix). */
void pqw_rle_u16(ids_buf *out, const int16_t *vals, size_t n, int bw);
void pqw_rle_u32(ids_buf *out, const uint32_t *vals, size_t n, int bw);
/* PLAIN booleans: one bit per value, LSB first. */
void pqw_pack_bools(ids_buf *out, const uint8_t *vals, size_t n);

/* ---- dictionary (dict.c): a hash set of values that hands out dense indices ---- */
typedef struct pqw_dict pqw_dict;
pqw_dict *pqw_dict_new(pq_type type, int width);
void pqw_dict_free(pqw_dict *d);
void pqw_dict_clear(pqw_dict *d);
/* Index of the value (inserting it if new); -1 on out of memory. For BYTE_ARRAY, p/n is
 * the value; for fixed types p points to width bytes. */
int64_t pqw_dict_put(pqw_dict *d, const void *p, size_t n);
/* Dictionary indices of n PLAIN-encoded values vals[0..len) into out (n entries);
 * scratch holds n uint32_t. -1 on out of memory or malformed input. */
int pqw_dict_encode(pqw_dict *d, const uint8_t *vals, size_t len, size_t n, uint32_t *out,
		    uint32_t *scratch);
uint32_t pqw_dict_count(const pqw_dict *d);
/* Byte offset of value k in a page's staged values (k <= the values there; len bounds it). */
size_t pqw_dict_value_offset(const pqw_dict *d, const uint8_t *vals, size_t len, size_t k);
/* Renumbers the entries: entry order[k] becomes entry k (order is a permutation of
 * 0..count-1). -1 on out of memory (d unchanged). */
int pqw_dict_reorder(pqw_dict *d, const uint32_t *order);
/* PLAIN encoding of all entries, in index order (the dictionary page body). */
const ids_buf *pqw_dict_plain(const pqw_dict *d);
/* Byte offset of entry i in the PLAIN buffer (for BYTE_ARRAY: of its 4-byte length). */
size_t pqw_dict_offset(const pqw_dict *d, uint32_t i);

/* ---- statistics (stats.c) ---- */
enum { PQW_ORDER_NONE = 0, PQW_ORDER_SIGNED, PQW_ORDER_UNSIGNED, PQW_ORDER_DECIMAL };

typedef struct pqw_stats {
	int has;                 /* min/max hold at least one value */
	int64_t nulls;
	int64_t nans;            /* NaN values of a FLOAT/DOUBLE chunk: written as nan_count */
	union { int64_t i; double d; } min, max;   /* bool/int32/int64 in i, float/double in d */
	ids_buf minb, maxb;                          /* BYTE_ARRAY / FIXED_LEN_BYTE_ARRAY */
} pqw_stats;

struct pqw_col;
void pqw_stats_reset(pqw_stats *s);
void pqw_stats_free(pqw_stats *s);
/* Folds n PLAIN-encoded values of a page (bools one byte each) into s, NaNs counted. */
void pqw_stats_plain(pqw_stats *s, const struct pqw_col *c, const uint8_t *p, size_t len,
		     size_t n);
/* Folds the n entries of a chunk's dictionary into s's min/max: its NaN entry, if any, is
 * one distinct value, not a count, so the pages that use it count their NaNs instead
 * (pqw_stats_nans). */
void pqw_stats_dict(pqw_stats *s, const struct pqw_col *c, const uint8_t *p, size_t len,
		    size_t n);
/* Counts the NaNs among n PLAIN values of a dictionary-encoded FLOAT/DOUBLE page (its
 * min/max come from the dictionary). */
void pqw_stats_nans(pqw_stats *s, const struct pqw_col *c, const uint8_t *p, size_t n);
/* Writes a Statistics struct (thrift field id) if there is anything to say. */
struct pq_tenc;
void pqw_stats_write(struct pq_tenc *e, int16_t id, const pqw_stats *s,
		     const struct pqw_col *c, size_t max_bytes);

/* ---- one leaf column ---- */
enum { PQW_DICT_OFF = 0, PQW_DICT_ON = 1, PQW_DICT_FELL_BACK = 2 };

/* A staged data page: levels and PLAIN values (bools one byte each). Dictionary columns
 * stage PLAIN values too; the page is dictionary-encoded in one batch when encoded.
 * The values may continue in a chain of pages, seg (pqw_page_link): the NDJSON commit
 * joins a slice's short last page with the next slices' pages that way without copying
 * their values. */
typedef struct pqw_page {
	int16_t *def, *rep;      /* present when the column has def / rep levels */
	size_t n_lv, cap_lv;
	size_t rows;             /* entries with rep == 0 */
	ids_buf vals;
	size_t n_vals;           /* non-null values; the chain's too when this page heads one */
	struct pqw_page *seg;    /* the next values (seg->vals, seg->n_vals of them; their
				  * levels are in the chain's first page), or NULL */
	struct pqw_col *col;     /* while queued for an encoder thread */
	struct pqw_page *next;
} pqw_page;

/* Per-encoder scratch (one per thread). */
typedef struct pqw_scratch {
	ids_buf page, comp, hdr;
	ids_buf piece;           /* one piece of a page cut for LZ4 (pqw_lz4_pieces_pay) */
	uint32_t *idx, *hash;    /* dictionary indices of the page, and their hashes */
	size_t cap_idx;
} pqw_scratch;

typedef struct pqw_col {
	const pq_node *leaf;     /* in the writer's schema copy (output names) */
	char **path;             /* path_in_schema */
	size_t path_len;
	size_t index;            /* column number (its queue among the encoder threads) */
	pq_type type;
	int32_t width;           /* bytes per fixed-size value (bool 1, INT96 12); 0 BYTE_ARRAY */
	int16_t max_def, max_rep;
	int order;               /* PQW_ORDER_* for statistics */

	pqw_page cur;            /* being filled by the caller's thread */
	size_t m_lv, m_vals_len, m_vals, m_rows;   /* row start marks (rollback) */

	/* Everything below belongs to the column's encoder (the caller's thread, or an
	 * encoder thread between pqw_async_barrier calls; the caller has it back once
	 * pqw_async_wait_col(c) returns and it queues nothing more for c). */
	int dict_mode;
	int dict_pages;          /* data pages already written with dictionary indices */
	size_t dict_max;         /* dictionary PLAIN bytes allowed before falling back */
	pqw_dict *dict;
	ids_buf dict_body;       /* the dictionary page's body as written (compressed), once
				  * pqw_dict_finish ran for this row group */
	int dict_done;
	ids_buf chunk;           /* current row group's encoded data pages (headers + bodies) */
	int64_t num_values, unc_bytes;
	int pages_plain;
	int ztune;               /* pq_ztune of the chunk's zstd pages, -1 until its first page */
	int gz_level;            /* libdeflate level of the chunk's gzip pages (0: the codec's
				  * default), -1 until its first page */
	int lz4_pieces;          /* 1: the chunk's PLAIN lz4_raw pages are cut in pieces; -1
				  * until its first PLAIN page */
	ids_buf held;            /* PLAIN values held to be cut into pages (cut.c): values */
	int16_t *held_def;       /* and definition levels (held_lv of them, room for held_cap) */
	size_t held_lv, held_cap;
	int64_t held_nulls;
	pqw_stats st;
	int64_t rows;            /* rows since the last pq_writer_end_rows (batch API check) */
	pqw_page *pool;          /* recycled empty pages (under the writer's pool_mu) */
} pqw_col;

struct pqw_shred;
struct pqw_async;

struct pq_writer {
	pq_write_options o;      /* defaults resolved */
	pq_codec codec;
	char *path, *tmp;
	int fd;
	int state;               /* 0 open, 1 closed ok, -1 failed */
	pq_node *schema;         /* output schema (compat: lowercased names) */
	pq_node *in_schema;      /* the caller's names, for matching JSON keys */
	pqw_col *cols;
	size_t ncols;
	int64_t rg_rows, total_rows;
	size_t since_check;      /* rows since columns were last checked for full pages */
	size_t rg_bytes;         /* PLAIN bytes of the row group's finished pages */
	int64_t off;             /* bytes written to the file so far */
	int64_t flushed;         /* bytes handed to early writeback (pqw_write_all) */
	ids_buf rg_meta;         /* serialized RowGroup structs, for the footer */
	size_t n_rg;
	pqw_scratch sc;          /* the caller's thread's encoder scratch */
	struct pqw_async *async; /* encoder threads, when o.threads > 1 */
	pthread_mutex_t pool_mu; /* guards every column's page pool */
	pq_kv *kv_copy;          /* our copy of key_value_metadata */
	char *created_by;
	struct pqw_shred *shred; /* JSON row shredder, built on first use */
	const pq_infer *strict;  /* set during pq_writer_write_ndjson_inferred */
	int in_row;              /* row API: between pq_writer_row_begin and _end/_cancel */
	int16_t *rep_need;       /* row API: per column, the def level each rep level needs
				  * (ncols x (PQW_MAX_DEPTH + 1)), built on first use */
};

/* Hot-path appends. Each adds one level entry (+ value). They fail only on out of
 * memory (IDS_ENOMEM) or a value over 1 GiB (IDS_ELIMIT). pg->vals is a binary buffer
 * here (not kept NUL-terminated). */
int pqw_grow_levels(pqw_page *pg);
/* n null entries at definition level def and repetition level 0 (a flat column's rows
 * that left it out, written in one go). IDS_ENOMEM on out of memory. */
int pqw_put_nulls(pqw_col *c, int16_t def, size_t n);
int pqw_grow_vals(pqw_col *c, size_t n);

static inline int pqw_put_levels(pqw_col *c, int16_t def, int16_t rep)
{
	pqw_page *pg = &c->cur;
	if (pg->n_lv == pg->cap_lv && pqw_grow_levels(pg))
		return IDS_ENOMEM;
	if (pg->def)
		pg->def[pg->n_lv] = def;
	if (pg->rep)
		pg->rep[pg->n_lv] = rep;
	pg->n_lv++;
	pg->rows += rep == 0;
	return 0;
}

static inline int pqw_put_null(pqw_col *c, int16_t def, int16_t rep)
{
	return pqw_put_levels(c, def, rep);
}

#define PQW_MAX_VALUE_BYTES ((size_t)1 << 30)

/* Room for need more value bytes, and the entry's levels added. */
static inline __attribute__((always_inline)) int pqw_value_room(pqw_col *c, int16_t def,
							       int16_t rep, size_t need)
{
	ids_buf *v = &c->cur.vals;
	if (v->cap - v->len <= need) {
		int rc = pqw_grow_vals(c, need);
		if (rc)
			return rc;
	}
	return pqw_put_levels(c, def, rep) ? IDS_ENOMEM : 0;
}

/* pqw_put_value for a BYTE_ARRAY column (width 0): the length, then the bytes. Inlined in
 * the shredder's string leaf. */
static inline __attribute__((always_inline)) int pqw_put_bytes(pqw_col *c, int16_t def,
							      int16_t rep, const void *p, size_t n)
{
	if (n > PQW_MAX_VALUE_BYTES)
		return IDS_ELIMIT;
	int rc = pqw_value_room(c, def, rep, 4 + n);
	if (rc)
		return rc;
	ids_buf *v = &c->cur.vals;
	char *d = v->data + v->len;
	uint32_t l = (uint32_t)n;
	memcpy(d, &l, 4);
	if (n)
		memcpy(d + 4, p, n);
	v->len += 4 + n;
	c->cur.n_vals++;
	return 0;
}

static inline int pqw_put_value(pqw_col *c, int16_t def, int16_t rep, const void *p, size_t n)
{
	if (!c->width)
		return pqw_put_bytes(c, def, rep, p, n);
	size_t need = (size_t)c->width;
	int rc = pqw_value_room(c, def, rep, need);
	if (rc)
		return rc;
	ids_buf *v = &c->cur.vals;
	char *d = v->data + v->len;
	switch (c->width) {
	case 8: memcpy(d, p, 8); break;
	case 4: memcpy(d, p, 4); break;
	case 1: *d = *(const char *)p; break;
	case 12: memcpy(d, p, 12); break;
	default: memcpy(d, p, need); break;
	}
	v->len += need;
	c->cur.n_vals++;
	return 0;
}

/* pqw_put_value for a fixed-width column whose width w the caller knows as a constant (the
 * shredder's numbers, booleans and times): no switch on c->width, and inlined, since it runs
 * once per value. */
static inline __attribute__((always_inline)) int pqw_put_fixed(pqw_col *c, int16_t def,
							      int16_t rep, const void *p, size_t w)
{
	int rc = pqw_value_room(c, def, rep, w);
	if (rc)
		return rc;
	ids_buf *v = &c->cur.vals;
	memcpy(v->data + v->len, p, w);
	v->len += w;
	c->cur.n_vals++;
	return 0;
}

/* Recycled empty pages of column c (thread-safe; pool_get allocates when empty and
 * returns NULL only on out of memory). */
/* n zeroed elements of size bytes (NULL on overflow or no memory), for tables that are read
 * before they are written (hash slots, counters). Not calloc: a large calloc maps the shared
 * zero page, the first read maps it and the first write then takes a copy-on-write fault whose
 * TLB flush interrupts every other thread of the process (10% of the CPU of `parquet write
 * --threads 2` went to those flushes); zeroing here faults each page in for writing
 * (explicit_bzero: compilers turn malloc + memset(0) back into calloc). */
void *pqw_zalloc(size_t n, size_t size);
pqw_page *pqw_pool_get(pq_writer *w, pqw_col *c);
void pqw_pool_put(pq_writer *w, pqw_col *c, pqw_page *pg);
/* Takes the filled pages of n rows (pages[i]: a list for column i, in order) at a row
 * group boundary or inside one: cuts a row group first when the rows would pass
 * row_group_rows or the group already holds row_group_bytes, then encodes or queues the
 * pages. The NDJSON driver's way in; pages are taken even on failure. */
int pqw_commit_pages(pq_writer *w, pqw_page **pages, size_t rows, size_t bytes,
		     ids_error *err);
/* Shadow columns for a parser thread: same leaf and levels as the writer's, staging only. */
int pqw_shadow_init(pqw_col *sh, const pqw_col *c);

/* Page buffers: an empty page with level arrays for column c (NULL on out of memory). */
pqw_page *pqw_page_new(const pqw_col *c);
int pqw_page_init(pqw_page *pg, const pqw_col *c);
void pqw_page_reset(pqw_page *pg);
void pqw_page_free(pqw_page *pg);   /* releases the buffers, not pg itself */
void pqw_scratch_free(pqw_scratch *sc);

/* Codec choices made on a chunk's first page (tune.c). pqw_ztune_choose: the pq_ztune for
 * the chunk's zstd pages, from a page body in[0..n) (a negative error code on failure).
 * pqw_lz4_pieces_pay: 1 when the page (whole, as it would be compressed) comes out smaller
 * at lz4_raw with its PLAIN values cut in pieces of at most PQW_LZ4_PIECE bytes, each a
 * page of its own; 0 when not; a negative error code on failure. Both use sc->comp. */
#define PQW_LZ4_PIECE ((size_t)60 << 10)
int pqw_ztune_choose(pq_writer *w, pqw_scratch *sc, const uint8_t *in, size_t n, ids_error *err);
int pqw_gzlevel_choose(pq_writer *w, pqw_scratch *sc, const uint8_t *in, size_t n, ids_error *err);
int pqw_lz4_pieces_pay(pq_writer *w, pqw_scratch *sc, const uint8_t *whole, size_t whole_n,
		       const uint8_t *vals, size_t vals_n, ids_error *err);

/* Encodes one staged page into c->chunk (the encoder side; pg is reset afterwards). */
int pqw_encode_page(pq_writer *w, pqw_col *c, pqw_page *pg, pqw_scratch *sc, ids_error *err);
/* Appends n levels (max: the column's max level) as the RLE / bit-packed hybrid, after a
 * 4-byte length when prefix (V1 pages) (page.c). */
void pqw_levels_encode(ids_buf *b, const int16_t *lv, size_t n, int16_t max, int prefix);
/* Compresses the page body b (levels: the first lv_len bytes, rep_len of them repetition
 * levels; then the values) and appends its header and body to c's chunk. n_lv level
 * entries, nulls of them null, rows of them starting a row (page.c). */
int pqw_emit_page(pq_writer *w, pqw_col *c, pqw_scratch *sc, const ids_buf *b, size_t lv_len,
		  size_t rep_len, size_t n_lv, int64_t nulls, size_t rows, pq_encoding enc,
		  ids_error *err);

/* Pages cut differently from how they were staged (cut.c), all PLAIN pages of a flat
 * column on its encoder:
 * pqw_emit_pieces writes pg (built in b: levels in the first lv_len bytes, then values) as
 * pages of at most PQW_LZ4_PIECE value bytes (see pqw_lz4_pieces_pay).
 * pqw_holds: whether c's text pages are held and written as one (snappy, zstd, lz4_raw not
 * cutting pieces); pqw_hold_text holds pg (built in b), writing what is held at 16 MiB.
 * pqw_fragments: whether c's pages are cut at whole snappy fragments; pqw_hold_fragments
 * takes pg's levels (its values the caller appended to c->held) and writes the held pages
 * that are full.
 * pqw_release_held writes what c holds as one page (the chunk's end; 0 when nothing). */
int pqw_emit_pieces(pq_writer *w, pqw_col *c, pqw_scratch *sc, const pqw_page *pg,
		    const ids_buf *b, size_t lv_len, ids_error *err);
int pqw_holds(const pq_writer *w, const pqw_col *c);
int pqw_hold_text(pq_writer *w, pqw_col *c, pqw_scratch *sc, const pqw_page *pg, const ids_buf *b,
		  size_t lv_len, int64_t nulls, ids_error *err);
int pqw_fragments(const pq_writer *w, const pqw_col *c);
int pqw_hold_fragments(pq_writer *w, pqw_col *c, pqw_scratch *sc, const pqw_page *pg,
		       int64_t nulls, ids_error *err);
int pqw_release_held(pq_writer *w, pqw_col *c, pqw_scratch *sc, ids_error *err);
/* After the row group's last page of c, on its encoder: writes the PLAIN text pages the
 * encoder held back (cut.c) as one page, then pqw_dict_finish. sc: the encoder's scratch. */
int pqw_chunk_finish(pq_writer *w, pqw_col *c, pqw_scratch *sc, ids_error *err);
/* After the row group's last page of c: folds the dictionary into the chunk's statistics
 * and compresses the dictionary page's body into c->dict_body (chunk.c). Runs on the
 * column's encoder thread when there is one (the serial end of a write compressed every
 * dictionary on the committing thread), else in pqw_write_chunk. */
int pqw_dict_finish(pq_writer *w, pqw_col *c, ids_error *err);

/* Encoder threads (async.c). submit queues c->cur for the encoders and gives c a
 * fresh page; barrier waits until every queued page is encoded. Both return the first
 * error an encoder hit. */
int pqw_async_new(pq_writer *w, int threads, ids_error *err);
int pqw_async_submit(pq_writer *w, pqw_col *c, ids_error *err);
int pqw_async_barrier(pq_writer *w, ids_error *err);
/* Waits until no page of column c is queued or being encoded (the other columns' encoding
 * goes on); the first error an encoder hit, as barrier. 0 at once without encoders. */
int pqw_async_wait_col(pq_writer *w, const pqw_col *c, ids_error *err);
/* Queues pqw_dict_finish(c) behind c's pages (0 at once without encoders). */
int pqw_async_dict_finish(pq_writer *w, pqw_col *c, ids_error *err);
void pqw_async_free(pq_writer *w);

/* One JSON row. keep_going: roll a failed row back so the writer stays usable (costs a
 * mark per column per row); otherwise a failure poisons the writer. */
int pqw_write_row(pq_writer *w, const char *json, size_t len, int keep_going, size_t *err_off,
		  ids_error *err);

/* Definition level at which the r-th repeated ancestor (1-based) of column c is present:
 * the least def of an entry with rep r (batch.c). */
int pqw_rep_def(const pq_writer *w, const pqw_col *c, int r);

/* Row boundaries for the row API: marks each column, or rolls back to the marks. */
void pqw_row_mark(pq_writer *w);
void pqw_row_rollback(pq_writer *w);
/* After n complete rows were staged: dictionary fallbacks, page and row-group flushes. */
int pqw_rows_done(pq_writer *w, size_t n, ids_error *err);

int pqw_col_init(pq_writer *w, pqw_col *c, const pq_node *leaf, char **path, size_t path_len,
		 int16_t max_def, int16_t max_rep);
void pqw_col_free(pqw_col *c);
/* Finishes the staged page: encodes it now, or queues it for the column's encoder.
 * flush also counts its bytes into the row group's; submit does not (the NDJSON commit
 * counted them per slice). */
int pqw_flush_page(pq_writer *w, pqw_col *c, ids_error *err);
int pqw_submit_page(pq_writer *w, pqw_col *c, ids_error *err);
/* Appends src's levels and values to dst (IDS_ENOMEM / IDS_ELIMIT). */
int pqw_page_append(pqw_page *dst, const pqw_page *src);
/* Appends src to dst without copying its values: its levels are copied into dst and src
 * goes at the end of dst's seg chain, owned by dst from then on. Not for a BOOLEAN
 * column (bools are bit-packed across the page). IDS_ENOMEM leaves both as they were. */
int pqw_page_link(pqw_page *dst, pqw_page *src);
/* Values of pg's chain after pg's own (0 when it has no seg). */
size_t pqw_seg_bytes(const pqw_page *pg);
/* Copies the values of c->cur's chain into c->cur itself and returns its pages to the
 * pool, so that values can be staged into c->cur again (the row API after an NDJSON
 * write). */
int pqw_page_join(pq_writer *w, pqw_col *c);
/* Returns the pages of pg's chain to the pool (pg's encoder, once the page is encoded). */
void pqw_page_unchain(pq_writer *w, pqw_col *c, pqw_page *pg);
/* PLAIN bytes staged in the current page (page and row-group size decisions). */
size_t pqw_staged_bytes(const pqw_col *c);
/* Writes the chunk (dictionary page + data pages) at the file's end and its ColumnChunk
 * struct into e; resets the chunk. The last page must have been flushed and the encoders
 * drained (pqw_async_barrier). */
struct pq_tenc;
int pqw_write_chunk(pq_writer *w, pqw_col *c, struct pq_tenc *e, int64_t *unc_total,
		    int64_t *comp_total, ids_error *err);

/* File output (writer.c). */
int pqw_write_all(pq_writer *w, const void *p, size_t n, ids_error *err);

/* Footer (footer.c). */
int pqw_write_footer(pq_writer *w, ids_error *err);
void pqw_write_schema(struct pq_tenc *e, const pq_node *root);

/* JSON shredding (src/parquet/json/shred.c). Values go to cols (one per leaf, NULL: the
 * writer's own columns). */
int pqw_shred_new(struct pqw_shred **out, pq_writer *w, pqw_col *cols, ids_error *err);
void pqw_shred_free(struct pqw_shred *s);
/* Strict mode for a schema inferred from a prefix (inf: that inference). */
int pqw_shred_strict(struct pqw_shred *s, const pq_infer *inf);
int pqw_shred_row(struct pqw_shred *s, const char *json, size_t len, size_t *err_off,
		  ids_error *err);
/* Deferred nulls, for a caller that shreds many rows before looking at the columns (the
 * NDJSON parsers): a top-level optional scalar field a row leaves out gets no entry then;
 * its nulls are written in one run when the field next has a value or at
 * pqw_shred_catch_up, which must come before the columns are read (staged bytes, sealing
 * a page). The entries are the same as without deferring. pqw_shred_defer(s, 1) starts
 * it at row 0 (and after a failed row, whose columns the caller throws away). */
void pqw_shred_defer(struct pqw_shred *s, int on);
int pqw_shred_catch_up(struct pqw_shred *s);

#endif
