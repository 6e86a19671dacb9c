/* The change-log pass feeds the next state delta: each change it writes to a table's change
 * log, it also writes as that table's current-state row into a staged file (one per table,
 * across rounds, until the state pass). When the pass finds that its touched keys were all
 * created by exactly those changes and not touched since (state_delta.c checks it against the
 * rows created since its last range), the staged file is the new delta file and is renamed
 * in; otherwise it is dropped and the pass reads the ledger as before. An ingest of new keys
 * then reads and tokenizes each stored value once, not once per pass, and the state pass reads
 * no values (docs/lake-layout.md, "Rows created since the last rebuild go to delta files"). */
#include "lake_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FEEDS_MAX 8                       /* open staged files at once (each holds a row group) */
#define FEED_ROW_GROUP ((size_t)16 << 20)

struct lk_feed {
	pq_writer *w;
	char stage[IDS_PATH_MAX + 1];
	int version;                  /* the table's schema version the file was opened with */
	size_t n;                     /* rows fed, one per change */
	int64_t last;                 /* seq of the last change fed */
};

void lk_feed_drop(lake *l, lk_table *t)
{
	lk_feed *f = t->feed;
	if (!f)
		return;
	pq_writer_free(f->w);
	if (f->stage[0])
		unlink(f->stage);
	free(f);
	t->feed = NULL;
	l->n_feeds--;
}

void lk_feed_bad(lk_table *t) { t->feed_bad = 1; }

/* t's state is in the delta layout and the next pass writes what is new as one delta */
static int eligible(lake *l, const lk_table *t)
{
	return t->upto >= 0 && !t->part_field && t->k >= 0 && t->dir_version == t->version && !t->rebuild &&
	       !t->grow && !t->state_held && !t->rkeys_over && !lk_hold_state_any(l, t);
}

static int open_feed(lake *l, lk_table *t, int64_t seq, ids_error *err)
{
	lk_feed *f = calloc(1, sizeof *f);
	if (!f)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	t->feed = f;
	l->n_feeds++;
	f->version = t->version;
	char stage[IDS_PATH_MAX + 1];
	int rc = lk_stage_dir(l, t->db, stage, sizeof stage, err);
	if (!rc)
		rc = ids_path(f->stage, sizeof f->stage, err, "%s/%s-feed-%" PRId64 ".parquet", stage, t->table, seq);
	pq_node *schema = rc ? NULL : lk_table_schema(l, t, LK_T_STATE);
	pq_write_options wo;
	lk_write_opts(l, &wo);
	wo.row_group_bytes = FEED_ROW_GROUP;
	if (!rc)
		rc = schema ? pq_writer_new(&f->w, f->stage, schema, &wo, err) : ids_fail(err, IDS_ENOMEM, "out of memory");
	pq_node_free(schema);
	if (!rc)
		atomic_fetch_add(&l->m_files, 1);
	return rc;   /* on failure lk_feed_drop removes whatever is at f->stage */
}

void lk_feed_change(lake *l, lk_table *t, const ledger_change *c, const char *keyjson, size_t keylen,
		    const ids_json *v)
{
	if (t->feed_bad)
		return;
	ids_error err = IDS_ERROR_INIT;
	if (c->op == IDS_OP_DELETE || !v || !eligible(l, t) || (t->feed && t->feed->version != t->version) ||
	    (!t->feed && (l->n_feeds >= FEEDS_MAX || open_feed(l, t, c->seq, &err)))) {
		lk_feed_bad(t);   /* a delete, a wider schema, ...: the pass reads the ledger */
		return;
	}
	lk_row *row = lk_row_start(l);
	lk_row_str(row, "idb_key", keyjson, keylen);
	lk_row_str(row, "idb_user", c->user, strlen(c->user));
	lk_row_i64(row, "idb_seq", c->seq);
	lk_row_str(row, "idb_hlc", c->hlc, strlen(c->hlc));
	/* the user columns are the ones the change-log row just put (same schema version) */
	if (lk_write_row_tape(l, t->feed->w, &err)) {
		t->feed_bad = 1;   /* the pass writes (or holds) it from the ledger */
		return;
	}
	t->feed->n++;
	t->feed->last = c->seq;
}

int lk_feed_usable(const lk_table *t, int64_t *last_seq)
{
	const lk_feed *f = t->feed;
	/* every touched key was fed (one touch, one row): a change passed over breaks the count */
	if (t->feed_bad || !f || !f->n || f->n != t->n_rkeys || f->version != t->version)
		return 0;
	*last_seq = f->last;
	return 1;
}

int lk_feed_take(lake *l, lk_table *t, const char *final, int64_t *size, ids_error *err)
{
	lk_feed *f = t->feed;
	int rc = pq_writer_close(f->w, err);
	if (!rc && rename(f->stage, final))
		rc = ids_fail(err, IDS_EIO, "rename %s -> %s: %m", f->stage, final);
	if (!rc) {
		f->stage[0] = 0;
		atomic_fetch_add(&l->m_fed_rows, (long long)f->n);
		int64_t s = lk_file_size(final);
		if (s > *size)
			*size = s;
	}
	lk_feed_drop(l, t);
	return rc;
}

void lk_feed_reset(lake *l, lk_table *t)
{
	lk_feed_drop(l, t);
	t->feed_bad = 0;
}
