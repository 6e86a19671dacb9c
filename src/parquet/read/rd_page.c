/* The column cursor: reads one column chunk's bytes, walks its pages (dictionary, data V1/V2,
 * skipping index pages), verifies CRCs, decompresses with size caps, and decodes each data
 * page completely into level arrays and packed values for the assembler or the batch API. */
#include "parquet/read/rd_internal.h"
#include "parquet/codec/pq_codec.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

int rd_src_read(const rd_src *s, uint64_t off, size_t n, uint8_t *buf, const uint8_t **p,
		ids_error *err)
{
	if (off > s->size || n > s->size - off)
		return ids_fail(err, IDS_ECORRUPT, "byte range %llu+%zu is past the end of the file (%llu bytes)",
				(unsigned long long)off, n, (unsigned long long)s->size);
	if (s->fd < 0) {
		*p = s->mem + off;
		return 0;
	}
	size_t got = 0;
	while (got < n) {
		ssize_t r = pread(s->fd, buf + got, n - got, (off_t)(off + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return ids_fail(err, IDS_EIO, "read at byte offset %llu failed: %s",
					(unsigned long long)(off + got), r < 0 ? strerror(errno) : "unexpected end of file");
		got += (size_t)r;
	}
	*p = buf;
	return 0;
}

int rd_grow(void *pp, size_t *cap, size_t need, ids_error *err)
{
	void **p = pp;
	if (need <= *cap)
		return 0;
	size_t nc = *cap ? *cap : 4096;
	while (nc < need)
		nc = nc > SIZE_MAX / 2 ? need : nc * 2;
	void *q = realloc(*p, nc);
	if (!q)
		return ids_fail(err, IDS_ENOMEM, "out of memory (%zu bytes)", nc);
	*p = q;
	*cap = nc;
	return 0;
}

int rd_col_open(rd_col *c, const rd_src *src, const pq_read_options *opts, const pq_file_meta *m,
		size_t rg, size_t col, ids_error *err)
{
	memset(c, 0, sizeof *c);
	c->src = src;
	c->opts = opts;
	c->rg = rg;
	c->col = col;
	c->desc = &m->columns[col];
	c->cm = &m->row_groups[rg].chunks[col];
	c->elem = rd_elem_size(c->desc->node->type, c->desc->node->type_length);
	const pq_chunk_meta *cm = c->cm;
	const char *where = c->desc->path;
	if (!cm->has_meta)
		return ids_fail(err, IDS_EINVAL, "file %s: row group %zu, column '%s': no column metadata "
				"(encrypted columns are not supported)", src->name, rg, where);
	if (cm->file_path)
		return ids_fail(err, IDS_EINVAL, "file %s: row group %zu, column '%s': data lives in "
				"another file (%s), which is not supported", src->name, rg, where, cm->file_path);
	int64_t start = cm->data_page_offset;
	if (cm->dictionary_page_offset > 0 && cm->dictionary_page_offset < start)
		start = cm->dictionary_page_offset;
	int64_t len = cm->total_compressed_size;
	if (start < 4 || len < 0 || (uint64_t)start > src->size || (uint64_t)len > src->size - (uint64_t)start)
		return ids_fail(err, IDS_ECORRUPT, "file %s: row group %zu, column '%s': chunk at byte "
				"offset %lld, length %lld lies outside the file (%llu bytes)", src->name, rg,
				where, (long long)start, (long long)len, (unsigned long long)src->size);
	if (src->fd >= 0 && !(c->chunk = malloc(len ? (size_t)len : 1)))
		return ids_fail(err, IDS_ENOMEM, "file %s: out of memory for a %lld-byte column chunk",
				src->name, (long long)len);
	int rc = rd_src_read(src, (uint64_t)start, (size_t)len, c->chunk, &c->cbuf, err);
	if (rc)
		return ids_wrap(err, "file %s: row group %zu, column '%s': ", src->name, rg, where);
	c->clen = (size_t)len;
	c->cbase = (uint64_t)start;
	return 0;
}

void rd_col_close(rd_col *c)
{
	free(c->chunk);
	free(c->dict_buf);
	free(c->dict_vals);
	free(c->page_buf);
	free(c->def);
	free(c->rep);
	free(c->vals);
	free(c->idx);
	free(c->arena);
	memset(c, 0, sizeof *c);
}

typedef struct page_hdr {
	int32_t type, usize, csize, crc;
	int has_crc;
	int32_t num_values, num_nulls, num_rows, encoding, def_enc, rep_enc, dl_len, rl_len;
	int is_compressed, has_sub;
} page_hdr;

static int decode_sub(pq_tdec *d, page_hdr *h, int16_t which)
{
	int16_t id;
	int t, rc;
	if ((rc = pq_tdec_struct_begin(d)))
		return rc;
	h->has_sub = 1;
	while ((rc = pq_tdec_field(d, &id, &t)) > 0) {
		int32_t *dst = NULL;
		if (which == 5) { /* DataPageHeader */
			dst = id == 1 ? &h->num_values : id == 2 ? &h->encoding : id == 3 ? &h->def_enc
			    : id == 4 ? &h->rep_enc : NULL;
		} else if (which == 7) { /* DictionaryPageHeader */
			dst = id == 1 ? &h->num_values : id == 2 ? &h->encoding : NULL;
		} else { /* DataPageHeaderV2 */
			dst = id == 1 ? &h->num_values : id == 2 ? &h->num_nulls : id == 3 ? &h->num_rows
			    : id == 4 ? &h->encoding : id == 5 ? &h->dl_len : id == 6 ? &h->rl_len : NULL;
			if (id == 7) {
				rc = pq_tdec_expect_bool(d, t, &h->is_compressed);
				if (rc < 0)
					return rc;
				continue;
			}
		}
		rc = dst ? pq_tdec_expect_i32(d, t, dst) : pq_tdec_skip(d, t);
		if (rc < 0)
			return rc;
	}
	return rc;
}

static int decode_header(rd_col *c, page_hdr *h, size_t *hlen, ids_error *err)
{
	memset(h, 0, sizeof *h);
	h->type = h->usize = h->csize = h->num_values = h->encoding = -1;
	h->dl_len = h->rl_len = 0;
	h->is_compressed = 1;
	pq_tdec d;
	pq_tdec_init(&d, c->cbuf + c->cpos, c->clen - c->cpos, err);
	d.base_offset = c->cbase + c->cpos;
	int16_t id;
	int t, rc = pq_tdec_struct_begin(&d);
	while (rc == 0 && (rc = pq_tdec_field(&d, &id, &t)) > 0) {
		if (id == 1) rc = pq_tdec_expect_i32(&d, t, &h->type);
		else if (id == 2) rc = pq_tdec_expect_i32(&d, t, &h->usize);
		else if (id == 3) rc = pq_tdec_expect_i32(&d, t, &h->csize);
		else if (id == 4) h->has_crc = (rc = pq_tdec_expect_i32(&d, t, &h->crc)) == 1;
		else if ((id == 5 || id == 7 || id == 8) && t == PQ_T_STRUCT && !h->has_sub) rc = decode_sub(&d, h, id);
		else rc = pq_tdec_skip(&d, t);
		rc = rc > 0 ? 0 : rc;
	}
	if (rc < 0)
		return rc;
	*hlen = pq_tdec_pos(&d);
	if (h->type < 0 || h->usize < 0 || h->csize < 0)
		return ids_fail(err, IDS_ECORRUPT, "page header lacks type or sizes");
	return 0;
}

/* Largest plausible expansion per codec, so a tiny hostile page cannot make us allocate its
 * claimed uncompressed size (zstd and brotli can legitimately exceed any fixed ratio; their
 * cap is max_page_size, and zstd's frame header is checked when it carries the size). */
static int check_usize(rd_col *c, const uint8_t *cz, size_t csize, size_t usize, ids_error *err)
{
	if (usize > c->opts->max_page_size)
		return ids_fail(err, IDS_ELIMIT, "page uncompressed size %zu exceeds the cap of %zu bytes",
				usize, c->opts->max_page_size);
	uint64_t ratio = 0;
	switch (c->cm->codec) {
	case PQ_CODEC_UNCOMPRESSED: ratio = 1; break;
	case PQ_CODEC_SNAPPY: ratio = 64; break;
	case PQ_CODEC_LZ4: case PQ_CODEC_LZ4_RAW: ratio = 300; break;
	case PQ_CODEC_GZIP: ratio = 1100; break;
	default: ratio = 0;
	}
	if (ratio && usize > 4096 && (uint64_t)usize > (uint64_t)csize * ratio + 64)
		return ids_fail(err, IDS_ECORRUPT, "page claims %zu bytes uncompressed from %zu compressed "
				"bytes, impossible for %s", usize, csize, pq_codec_name(c->cm->codec));
	(void)cz;
	return 0;
}

static int page_err(rd_col *c, ids_error *err)
{
	return ids_wrap(err, "file %s: row group %zu, column '%s', page at byte offset %llu: ",
			c->src->name, c->rg, c->desc->path, (unsigned long long)c->page_off);
}

/* Decompresses csize bytes at cz into a buffer of usize (or points at cz when no codec). */
static int inflate_page(rd_col *c, const uint8_t *cz, size_t csize, size_t usize, int compressed,
			uint8_t **keep, size_t *keep_cap, size_t prefix, const uint8_t **out,
			ids_error *err)
{
	int rc = check_usize(c, cz, csize, usize, err);
	if (rc)
		return rc;
	if (!compressed || c->cm->codec == PQ_CODEC_UNCOMPRESSED) {
		if (csize != usize)
			return ids_fail(err, IDS_ECORRUPT, "uncompressed page: compressed size %zu != "
					"uncompressed size %zu", csize, usize);
		if (prefix == 0) {
			*out = cz;
			return 0;
		}
	}
	if ((rc = rd_grow(keep, keep_cap, prefix + usize + 8, err)))
		return rc;
	if (!compressed || c->cm->codec == PQ_CODEC_UNCOMPRESSED)
		memcpy(*keep + prefix, cz, usize);
	else if (csize == 0 && usize == 0)
		; /* a V2 page of nulls only: no values, and writers leave out the codec's frame too */
	else if ((rc = pq_decompress(c->cm->codec, cz, csize, *keep + prefix, usize, err)))
		return rc;
	*out = *keep;
	return 0;
}

static int load_dictionary(rd_col *c, const page_hdr *h, const uint8_t *body, ids_error *err)
{
	if (c->have_dict)
		return ids_fail(err, IDS_ECORRUPT, "second dictionary page in one column chunk");
	if (h->num_values < 0 || (size_t)h->num_values > c->opts->max_page_values)
		return ids_fail(err, IDS_ECORRUPT, "dictionary has %d entries (cap %zu)", h->num_values,
				c->opts->max_page_values);
	if (h->encoding != PQ_ENC_PLAIN && h->encoding != PQ_ENC_PLAIN_DICTIONARY)
		return ids_fail(err, IDS_ECORRUPT, "dictionary page encoding %d is not PLAIN", h->encoding);
	size_t cap = 0;
	const uint8_t *data;
	int rc = inflate_page(c, body, (size_t)h->csize, (size_t)h->usize, 1, &c->dict_buf, &cap, 0,
			      &data, err);
	if (rc)
		return rc;
	size_t n = (size_t)h->num_values, used = 0, len = (size_t)h->usize;
	pq_type t = c->desc->node->type;
	/* bound the entry count by the bytes present before allocating the entries */
	size_t min_bytes = t == PQ_BYTE_ARRAY ? 4 : t == PQ_BOOLEAN ? 1 : c->elem;
	if (t != PQ_BOOLEAN && n > len / min_bytes)
		return ids_fail(err, IDS_ECORRUPT, "dictionary of %zu entries cannot fit in %zu bytes", n, len);
	if (!(c->dict_vals = malloc(n * c->elem + 1)))
		return ids_fail(err, IDS_ENOMEM, "out of memory for a %zu-entry dictionary", n);
	if ((rc = rd_plain(t, c->desc->node->type_length, data, len, n, c->dict_vals, &used, err)))
		return rc;
	c->dict_n = n;
	c->have_dict = 1;
	return 0;
}

int rd_col_next_page(rd_col *c, ids_error *err)
{
	for (;;) {
		if (c->cpos >= c->clen || c->values_read >= c->cm->num_values)
			return 0;
		c->page_off = c->cbase + c->cpos;
		page_hdr h;
		size_t hlen = 0;
		int rc = decode_header(c, &h, &hlen, err);
		if (rc)
			return page_err(c, err);
		if ((size_t)h.csize > c->clen - c->cpos - hlen) {
			ids_fail(err, IDS_ECORRUPT, "page of %d bytes runs past the end of the column chunk "
				 "(%zu bytes left)", h.csize, c->clen - c->cpos - hlen);
			return page_err(c, err);
		}
		const uint8_t *body = c->cbuf + c->cpos + hlen;
		c->cpos += hlen + (size_t)h.csize;
		if (h.has_crc && c->opts->verify_crc) {
			uint32_t crc = (uint32_t)crc32(0, body, (uInt)h.csize);
			if (crc != (uint32_t)h.crc) {
				ids_fail(err, IDS_ECORRUPT, "page CRC mismatch (stored %08x, computed %08x)",
					 (uint32_t)h.crc, crc);
				return page_err(c, err);
			}
		}
		if (h.type == PQ_PAGE_DICTIONARY) {
			if (!h.has_sub) {
				ids_fail(err, IDS_ECORRUPT, "dictionary page without its header");
				return page_err(c, err);
			}
			if ((rc = load_dictionary(c, &h, body, err)))
				return page_err(c, err);
			continue;
		}
		if (h.type != PQ_PAGE_DATA && h.type != PQ_PAGE_DATA_V2)
			continue; /* index pages and unknown page types carry nothing we need */
		if (!h.has_sub || h.num_values < 0) {
			ids_fail(err, IDS_ECORRUPT, "data page without its header");
			return page_err(c, err);
		}
		if ((size_t)h.num_values > c->opts->max_page_values) {
			ids_fail(err, IDS_ELIMIT, "page has %d values (cap %zu)", h.num_values,
				 c->opts->max_page_values);
			return page_err(c, err);
		}
		const uint8_t *data;
		size_t len = (size_t)h.usize;
		size_t lv = 0;
		if (h.type == PQ_PAGE_DATA_V2) {
			/* levels are stored uncompressed in front of the (maybe compressed) values */
			if (h.rl_len < 0 || h.dl_len < 0 || (int64_t)h.rl_len + h.dl_len > h.csize ||
			    (int64_t)h.rl_len + h.dl_len > h.usize) {
				ids_fail(err, IDS_ECORRUPT, "level lengths %d+%d exceed the page size",
					 h.rl_len, h.dl_len);
				return page_err(c, err);
			}
			lv = (size_t)h.rl_len + (size_t)h.dl_len;
			rc = inflate_page(c, body + lv, (size_t)h.csize - lv, len - lv, h.is_compressed,
					  &c->page_buf, &c->page_cap, lv, &data, err);
			if (rc == 0 && data == c->page_buf)
				memcpy(c->page_buf, body, lv);
			else if (rc == 0)
				data = body; /* no codec: levels and values are contiguous in the chunk */
		} else {
			rc = inflate_page(c, body, (size_t)h.csize, len, 1, &c->page_buf, &c->page_cap, 0,
					  &data, err);
		}
		if (rc == 0)
			rc = rd_decode_data_page(c, h.type == PQ_PAGE_DATA_V2, (size_t)h.num_values,
						 h.encoding, h.def_enc, h.rep_enc, (size_t)h.rl_len,
						 (size_t)h.dl_len, data, len, err);
		if (rc)
			return page_err(c, err);
		c->values_read += h.num_values;
		if (c->n == 0)
			continue;
		return 1;
	}
}
