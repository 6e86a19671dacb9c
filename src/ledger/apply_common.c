/* The decisions both backends' apply share (apply.c for SQLite, pg_push.c for PostgreSQL):
 * which of a push's mutations apply (duplicates, gaps), and what follows a conflict rule's
 * decision (the write or the conflict log, the push's answer, the stores' counts). The
 * backends differ only in how rows are read and written (ledger_apply_io). */
#include "ledger_int.h"

#include <string.h>

int ledger_apply_ids(ids_batch *b, int64_t *ack, ledger_push_result *res, int (*fn)(void *ctx, size_t i), void *ctx)
{
	int rc = 0;
	for (size_t i = 0; !rc && ids_batch_wait(b, i); i++) {
		ids_mutation *m = &b->m[i];
		if (m->id <= *ack) {
			res->duplicates++;
			continue;
		}
		if (m->id != *ack + 1) {
			res->gap = 1;
			break;
		}
		rc = fn(ctx, i);
		if (!rc)
			*ack = m->id;
	}
	return rc;
}

int ledger_apply_decided(ledger *lg, const ledger_apply_io *io, ids_rule rule, const ids_mutation *m,
			const ids_row *cur, const char *cur_hlc, int64_t seq, const ids_decision *d, int64_t *dlive,
			int64_t *dtomb, ledger_push_result *res, ids_error *err)
{
	int rc = 0;
	if (d->outcome == IDS_APPLY) {
		const char *val = d->deleted ? NULL : d->merged ? d->value.data : m->value;
		size_t vlen = d->deleted ? 0 : d->merged ? d->value.len : m->value_len;
		char h[HLC_STR_MAX];
		hlc_format(&d->hlc, h);
		if ((rc = io->write(io->ctx, m, seq, h, d, val, vlen, err)))
			return rc;
		lg->next_seq++;
		res->applied++;
		/* stored exactly as sent: the client's next edit of the key is made on this version */
		if (!d->partial && d->deleted == (m->op == IDS_OP_DELETE) &&
		    (!d->merged || d->deleted || (vlen == m->value_len && !memcmp(val, m->value, vlen))) &&
		    (rc = ledger_note_kept(res, m->id, seq, err)))
			return rc;
		int was_live = cur->exists && !cur->deleted, was_tomb = cur->exists && cur->deleted;
		*dlive += (!d->deleted) - was_live;
		*dtomb += (d->deleted ? 1 : 0) - was_tomb;
		if (d->partial) {
			const char *reason = "some fields have newer versions (per-field merge)";
			ledger_conflict_json(&res->conflicts_json, m, rule, reason, seq, d->deleted, h, val, vlen, &d->lost);
			res->conflicts++;
			rc = io->conflict(io->ctx, m, rule, reason, seq, h, err);
		}
	} else if (d->outcome == IDS_LOSE) {
		ledger_conflict_json(&res->conflicts_json, m, rule, d->reason, cur->seq, cur->deleted, cur_hlc, cur->value,
				    cur->value_len, &d->lost);
		res->conflicts++;
		rc = io->conflict(io->ctx, m, rule, d->reason, cur->seq, cur_hlc, err);
	} else {
		res->duplicates++;
	}
	return rc;
}
