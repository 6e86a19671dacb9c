/* Page-level rules of the lake check (lake_check.h): page headers walked chunk by chunk with the
 * project's thrift decoder (size, type, encodings, levels, dictionary placement and size),
 * encoding_stats and the page index layout from the footer fields pq_file_meta does not keep,
 * and the range of every timestamp value (decoded with pq_reader_read_column). */
#include "check_int.h"
#include "idbsync/value.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parquet/common/thrift.h"

#define MAX_PAGE_HEADER ((size_t)8 << 20)   /* Impala's --max_page_header_size default */

/* ---- footer: ColumnChunk.{offset,column}_index_*, ColumnMetaData.encoding_stats ---- */

#define TRY(x) do { if ((rc = (x)) < 0) return rc; } while (0)

static int dec_meta(pq_tdec *d, ck_extra *x)
{
	int16_t id;
	int t, rc;
	TRY(pq_tdec_struct_begin(d));
	while ((rc = pq_tdec_field(d, &id, &t)) > 0) {
		if (id != 13 || t != PQ_T_LIST) {
			TRY(pq_tdec_skip(d, t));
			continue;
		}
		int et;
		uint32_t n;
		TRY(pq_tdec_list_begin(d, &et, &n));
		x->has_enc_stats = 1;
		for (uint32_t i = 0; i < n; i++) {
			if (et != PQ_T_STRUCT) {
				TRY(pq_tdec_skip(d, et));
				continue;
			}
			int32_t v[4] = {-1, -1, -1, 0};
			int16_t fid;
			int ft;
			TRY(pq_tdec_struct_begin(d));
			while ((rc = pq_tdec_field(d, &fid, &ft)) > 0) {
				if (fid >= 1 && fid <= 3)
					TRY(pq_tdec_expect_i32(d, ft, &v[fid]));
				else
					TRY(pq_tdec_skip(d, ft));
			}
			if (rc < 0)
				return rc;
			if (x->n_enc_stats < CK_MAX_ENC_STATS) {
				x->enc_stats[x->n_enc_stats].page_type = v[1];
				x->enc_stats[x->n_enc_stats].encoding = v[2];
				x->enc_stats[x->n_enc_stats].count = v[3];
				x->n_enc_stats++;
			}
		}
	}
	return rc;
}

static int dec_chunk(pq_tdec *d, ck_extra *x)
{
	int16_t id;
	int t, rc;
	TRY(pq_tdec_struct_begin(d));
	while ((rc = pq_tdec_field(d, &id, &t)) > 0) {
		if (id == 3 && t == PQ_T_STRUCT) rc = dec_meta(d, x);
		else if (id == 4) rc = pq_tdec_expect_i64(d, t, &x->oi_off);
		else if (id == 5) rc = pq_tdec_expect_i32(d, t, &x->oi_len);
		else if (id == 6) rc = pq_tdec_expect_i64(d, t, &x->ci_off);
		else if (id == 7) rc = pq_tdec_expect_i32(d, t, &x->ci_len);
		else rc = pq_tdec_skip(d, t);
		if (rc < 0)
			return rc;
	}
	return rc;
}

int ck_footer_extras(ck_file *f, ids_error *err)
{
	const pq_file_meta *m = f->meta;
	size_t nx = m->n_row_groups * m->n_columns;
	f->extra = calloc(nx ? nx : 1, sizeof *f->extra);
	if (!f->extra)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	for (size_t i = 0; i < nx; i++)
		f->extra[i].ci_off = f->extra[i].oi_off = -1;
	const uint8_t *e = f->data + f->size - 8;
	uint32_t flen = (uint32_t)e[0] | (uint32_t)e[1] << 8 | (uint32_t)e[2] << 16 | (uint32_t)e[3] << 24;
	if (flen > f->size - 12)
		return ids_fail(err, IDS_ECORRUPT, "footer length %u past the file", flen);
	pq_tdec d;
	pq_tdec_init(&d, e - flen, flen, err);
	d.base_offset = f->size - 8 - flen;
	int16_t id;
	int t, rc;
	TRY(pq_tdec_struct_begin(&d));
	while ((rc = pq_tdec_field(&d, &id, &t)) > 0) {
		if (id != 4 || t != PQ_T_LIST) {
			TRY(pq_tdec_skip(&d, t));
			continue;
		}
		int et;
		uint32_t ng;
		TRY(pq_tdec_list_begin(&d, &et, &ng));
		for (uint32_t g = 0; g < ng; g++) {
			int16_t gid;
			int gt;
			TRY(pq_tdec_struct_begin(&d));
			while ((rc = pq_tdec_field(&d, &gid, &gt)) > 0) {
				if (gid != 1 || gt != PQ_T_LIST) {
					TRY(pq_tdec_skip(&d, gt));
					continue;
				}
				uint32_t nc;
				TRY(pq_tdec_list_begin(&d, &et, &nc));
				for (uint32_t c = 0; c < nc; c++) {
					ck_extra tmp = {-1, -1, 0, 0, 0, 0, {{0, 0, 0}}};
					int in = g < m->n_row_groups && c < m->n_columns;
					TRY(dec_chunk(&d, in ? &f->extra[g * m->n_columns + c] : &tmp));
				}
			}
			if (rc < 0)
				return rc;
		}
	}
	return rc < 0 ? rc : 0;
}

/* ---- pages ---- */

typedef struct hdr {
	int32_t type, usize, csize;
	int32_t num_values, encoding, def_enc, rep_enc;
	int has_sub;
} hdr;

static int dec_sub(pq_tdec *d, hdr *h, int16_t which)
{
	int16_t id;
	int t, rc;
	TRY(pq_tdec_struct_begin(d));
	h->has_sub = which;
	while ((rc = pq_tdec_field(d, &id, &t)) > 0) {
		int32_t *dst = NULL;
		if (which == 5)
			dst = id == 1 ? &h->num_values : id == 2 ? &h->encoding : id == 3 ? &h->def_enc
			    : id == 4 ? &h->rep_enc : NULL;
		else if (which == 7)
			dst = id == 1 ? &h->num_values : id == 2 ? &h->encoding : NULL;
		else
			dst = id == 1 ? &h->num_values : id == 4 ? &h->encoding : NULL;
		TRY(dst ? pq_tdec_expect_i32(d, t, dst) : pq_tdec_skip(d, t));
	}
	return rc;
}

static int dec_hdr(const uint8_t *p, size_t n, uint64_t off, hdr *h, size_t *len, ids_error *err)
{
	memset(h, 0, sizeof *h);
	h->type = h->usize = h->csize = h->num_values = h->encoding = h->def_enc = h->rep_enc = -1;
	pq_tdec d;
	pq_tdec_init(&d, p, n, err);
	d.base_offset = off;
	int16_t id;
	int t, rc;
	TRY(pq_tdec_struct_begin(&d));
	while ((rc = pq_tdec_field(&d, &id, &t)) > 0) {
		if (id == 1) rc = pq_tdec_expect_i32(&d, t, &h->type);
		else if (id == 2) rc = pq_tdec_expect_i32(&d, t, &h->usize);
		else if (id == 3) rc = pq_tdec_expect_i32(&d, t, &h->csize);
		else if ((id == 5 || id == 7 || id == 8) && t == PQ_T_STRUCT && !h->has_sub) rc = dec_sub(&d, h, id);
		else rc = pq_tdec_skip(&d, t);
		if (rc < 0)
			return rc;
	}
	if (rc < 0)
		return rc;
	*len = pq_tdec_pos(&d);
	if (h->type < 0 || h->csize < 0 || h->usize < 0)
		return ids_fail(err, IDS_ECORRUPT, "page header at byte %llu lacks its type or sizes",
				(unsigned long long)off);
	return 0;
}

static int is_dict_enc(int32_t e) { return e == PQ_ENC_PLAIN_DICTIONARY || e == PQ_ENC_RLE_DICTIONARY; }

static int fixed_width(const pq_node *n)
{
	switch (n->type) {
	case PQ_INT32: case PQ_FLOAT: return 4;
	case PQ_INT64: case PQ_DOUBLE: return 8;
	case PQ_INT96: return 12;
	case PQ_FIXED_LEN_BYTE_ARRAY: return n->type_length;
	default: return 0;
	}
}

void ck_pages(ck_file *f, size_t rg, size_t col, int64_t start, int64_t end)
{
	const pq_column_desc *cd = &f->meta->columns[col];
	const ck_extra *x = &f->extra[rg * f->meta->n_columns + col];
	int is_bool = cd->node->type == PQ_BOOLEAN;
	int64_t pos = start, n_pages = 0, n_plain = 0, n_dict = 0, n_v1_plain = 0;
	int has_dict = 0;
	while (pos < end) {
		size_t avail = (size_t)(end - pos), hlen = 0;
		ids_error err = IDS_ERROR_INIT;
		hdr h;
		if (dec_hdr(f->data + pos, avail, (uint64_t)pos, &h, &hlen, &err)) {
			ck_violation(f, cd->path, "unreadable", "row group %zu: page header: %s", rg, err.msg);
			return;
		}
		if (hlen >= MAX_PAGE_HEADER)
			ck_violation(f, cd->path, "page-header-size", "row group %zu: page header at byte %lld is %zu "
				     "bytes (Impala reads at most 8 MiB)", rg, (long long)pos, hlen);
		if (h.type == PQ_PAGE_DICTIONARY) {
			if (n_pages)
				ck_violation(f, cd->path, "dict-first", "row group %zu: %s dictionary page at byte %lld", rg,
					     has_dict ? "a second" : "not the first page: a", (long long)pos);
			has_dict = 1;
			if (h.encoding != PQ_ENC_PLAIN && h.encoding != PQ_ENC_PLAIN_DICTIONARY)
				ck_violation(f, cd->path, "dict-encoding", "row group %zu: dictionary page encoded %s "
					     "(Impala: PLAIN or PLAIN_DICTIONARY)", rg, pq_encoding_name(h.encoding));
			if (is_bool)
				ck_violation(f, cd->path, "dict-bool", "row group %zu: BOOLEAN dictionary page", rg);
			int w = fixed_width(cd->node);
			if (w > 0 && (h.num_values < 0 || (int64_t)h.num_values * w != h.usize))
				ck_violation(f, cd->path, "dict-count", "row group %zu: dictionary of %d entries of %d "
					     "bytes in %d bytes", rg, h.num_values, w, h.usize);
		} else if (h.type == PQ_PAGE_DATA || h.type == PQ_PAGE_DATA_V2) {
			int v2 = h.type == PQ_PAGE_DATA_V2;
			if (v2 && f->o->profile == LAKE_CHECK_COMPAT)
				ck_violation(f, cd->path, "page-v2", "row group %zu: DataPage V2 at byte %lld (Impala "
					     "reads V2 pages from 4.3 on)", rg, (long long)pos);
			int ok = is_bool ? h.encoding == PQ_ENC_PLAIN || h.encoding == PQ_ENC_RLE
					 : h.encoding == PQ_ENC_PLAIN || is_dict_enc(h.encoding);
			if (!ok)
				ck_violation(f, cd->path, "page-encoding", "row group %zu: data page at byte %lld encoded "
					     "%s (Impala: %s)", rg, (long long)pos, pq_encoding_name(h.encoding) ?
					     pq_encoding_name(h.encoding) : "?", is_bool ? "PLAIN or RLE" :
					     "PLAIN or a dictionary");
			if (is_dict_enc(h.encoding) && !has_dict && h.num_values > 0)
				ck_violation(f, cd->path, "dict-missing", "row group %zu: dictionary-encoded data page "
					     "at byte %lld and no dictionary page", rg, (long long)pos);
			if (!v2 && ((cd->max_def > 0 && h.def_enc != PQ_ENC_RLE) ||
				    (cd->max_rep > 0 && h.rep_enc != PQ_ENC_RLE)))
				ck_violation(f, cd->path, "level-encoding", "row group %zu: data page at byte %lld has "
					     "%s levels encoded %s (Impala 3+: RLE only)", rg, (long long)pos,
					     cd->max_def > 0 && h.def_enc != PQ_ENC_RLE ? "definition" : "repetition",
					     pq_encoding_name(cd->max_def > 0 && h.def_enc != PQ_ENC_RLE ? h.def_enc
						     : h.rep_enc));
			if (is_dict_enc(h.encoding))
				n_dict++;
			else {
				n_plain++;
				if (!v2)
					n_v1_plain++;
			}
		}
		n_pages++;
		pos += (int64_t)hlen + h.csize;
	}
	if (pos != end)
		ck_violation(f, cd->path, "offsets", "row group %zu: pages end at byte %lld, the chunk at %lld", rg,
			     (long long)pos, (long long)end);
	if (x->has_enc_stats) {
		/* Impala's dictionary filter skips a row group when encoding_stats say that every V1
		 * data page is dictionary-encoded: plain pages it does not list are pruned wrongly. */
		int64_t listed_plain = 0, listed_dict = 0;
		for (int i = 0; i < x->n_enc_stats; i++) {
			if (x->enc_stats[i].page_type != PQ_PAGE_DATA && x->enc_stats[i].page_type != PQ_PAGE_DATA_V2)
				continue;
			if (is_dict_enc(x->enc_stats[i].encoding))
				listed_dict += x->enc_stats[i].count;
			else
				listed_plain += x->enc_stats[i].count;
		}
		if ((n_plain > 0) != (listed_plain > 0) || (n_dict > 0) != (listed_dict > 0))
			ck_violation(f, cd->path, "encoding-stats", "row group %zu: encoding_stats list %lld "
				     "dictionary and %lld non-dictionary data pages, the chunk has %lld and %lld "
				     "(Impala's dictionary filter trusts them)", rg, (long long)listed_dict,
				     (long long)listed_plain, (long long)n_dict, (long long)n_plain);
	}
	(void)n_v1_plain;
}

void ck_page_index(ck_file *f, size_t rg)
{
	int64_t ci_start = INT64_MAX, oi_start = INT64_MAX, ci_end = -1, oi_end = -1;
	for (size_t c = 0; c < f->meta->n_columns; c++) {
		const ck_extra *x = &f->extra[rg * f->meta->n_columns + c];
		if (x->ci_off >= 0 && x->ci_len > 0) {
			ci_start = x->ci_off < ci_start ? x->ci_off : ci_start;
			ci_end = x->ci_off + x->ci_len > ci_end ? x->ci_off + x->ci_len : ci_end;
		}
		if (x->oi_off >= 0 && x->oi_len > 0) {
			oi_start = x->oi_off < oi_start ? x->oi_off : oi_start;
			oi_end = x->oi_off + x->oi_len > oi_end ? x->oi_off + x->oi_len : oi_end;
		}
	}
	if (ci_end < 0 || oi_end < 0)
		return;
	if (ci_end > oi_start)
		ck_violation(f, "", "page-index", "row group %zu: ColumnIndex bytes [%lld, %lld) are not all before "
			     "the OffsetIndex bytes [%lld, %lld) (Impala: unsupported page index layout)", rg,
			     (long long)ci_start, (long long)ci_end, (long long)oi_start, (long long)oi_end);
	if ((uint64_t)oi_end > f->size || (uint64_t)ci_end > f->size)
		ck_violation(f, "", "page-index", "row group %zu: page index past the end of the file", rg);
}

/* ---- timestamps: 1400-01-01 .. 9999-12-31 (Impala's TimestampValue range) ---- */

static int64_t floordiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

void ck_timestamps(ck_file *f)
{
	const int64_t lo = ids_days_from_civil(1400, 1, 1), hi = ids_days_from_civil(9999, 12, 31);
	const int64_t julian_epoch = 2440588;   /* Julian day number of 1970-01-01 */
	for (size_t c = 0; c < f->meta->n_columns; c++) {
		const pq_node *n = f->meta->columns[c].node;
		int int96 = n->type == PQ_INT96;
		int int64ts = n->type == PQ_INT64 && n->logical.kind == PQ_LT_TIMESTAMP;
		if (!int96 && !int64ts)
			continue;
		int64_t per_day = 86400LL * (n->logical.unit == PQ_MILLIS ? 1000LL :
					     n->logical.unit == PQ_MICROS ? 1000000LL : 1000000000LL);
		for (size_t g = 0; g < f->meta->n_row_groups; g++) {
			pq_read_batch b;
			ids_error err = IDS_ERROR_INIT;
			if (pq_reader_read_column(f->reader, g, c, &b, &err)) {
				ck_violation(f, f->meta->columns[c].path, "unreadable", "row group %zu: %s", g, err.msg);
				break;
			}
			for (size_t i = 0; i < b.n_values; i++) {
				int64_t day, nanos = 0;
				if (int96) {
					const uint8_t *p = (const uint8_t *)b.values + 12 * i;
					uint32_t jd;
					memcpy(&nanos, p, 8);
					memcpy(&jd, p + 8, 4);
					day = (int64_t)jd - julian_epoch;
				} else {
					int64_t v;
					memcpy(&v, (const uint8_t *)b.values + 8 * i, 8);
					day = floordiv(v, per_day);
				}
				if (day < lo || day > hi || nanos < 0 || nanos >= 86400000000000LL) {
					ck_violation(f, f->meta->columns[c].path, "timestamp-range",
						     "row group %zu: value %zu is outside 1400-01-01 .. 9999-12-31 (day %lld "
						     "from 1970-01-01): Impala reads it as NULL", g, i, (long long)day);
					break;
				}
			}
		}
	}
}
