/* What the SQLite push (apply.c) and the PostgreSQL push (pg_push.c) share: admitting a
 * mutation (read-only stores, the hlc stamp), the 403 on another owner's row, the runs of kept
 * mutations and a conflict's JSON in the push's answer. */
#include "ledger_int.h"

#include <stdlib.h>
#include <string.h>

void ledger_conflict_json(ids_buf *o, const ids_mutation *m, ids_rule rule, const char *reason, int64_t wseq,
			 int wdel, const char *whlc, const char *wval, size_t wlen, const ids_buf *lost)
{
	ids_buf_putc(o, o->len ? ',' : '[');
	ids_buf_printf(o, "{\"id\":%lld,\"store\":", (long long)m->id);
	ids_buf_json_str(o, m->store, strlen(m->store));
	ids_buf_puts(o, ",\"key\":");
	ids_key_to_json(m->key, m->key_len, o, NULL);
	ids_buf_printf(o, ",\"op\":\"%s\",\"rule\":\"%s\",\"reason\":", m->op == IDS_OP_PUT ? "put" : "delete",
		       ids_rule_name(rule));
	ids_buf_json_str(o, reason, strlen(reason));
	if (lost && lost->len) {
		ids_buf_puts(o, ",\"fields\":");
		ids_buf_append(o, lost->data, lost->len);
	}
	ids_buf_printf(o, ",\"winner\":{\"seq\":%lld,\"op\":\"%s\",\"hlc\":\"%s\"", (long long)wseq,
		       wdel ? "delete" : "put", whlc);
	if (!wdel && wval) {
		ids_buf_puts(o, ",\"value\":");
		ids_buf_append(o, wval, wlen);
	}
	ids_buf_puts(o, "}}");
}

int ledger_admit_mutation(ledger *lg, const ids_batch *b, int read_only, ids_mutation *m, ids_error *err)
{
	if (b->origin == IDS_ORIGIN_CLIENT && read_only)
		return ids_fail(err, IDS_EFORBIDDEN,
				"mutation %lld: store \"%s\" is server-owned (read-only for clients); nothing of this push "
				"was applied",
				(long long)m->id, m->store);
	if (!m->has_hlc) {
		hlc_clock_now(&lg->clock, &m->hlc);
		m->has_hlc = 1;
	} else {
		hlc_clock_observe(&lg->clock, &m->hlc);
	}
	return 0;
}

int ledger_refuse_shared(const ids_batch *b, const ids_mutation *m, ids_error *err)
{
	ids_buf k = IDS_BUF_INIT;
	ids_key_to_json(m->key, m->key_len, &k, NULL);
	int rc = ids_fail(err, IDS_EFORBIDDEN,
			  "mutation %lld: store \"%s\" key %s belongs to another owner (shared row); "
			  "user \"%s\" may not change it",
			  (long long)m->id, m->store, k.data ? k.data : "?", b->user);
	ids_buf_free(&k);
	return rc;
}

/* Extends the last run of kept mutations or starts one. */
int ledger_note_kept(ledger_push_result *r, int64_t id, int64_t seq, ids_error *err)
{
	struct ledger_kept_run *k = r->n_kept ? &r->kept[r->n_kept - 1] : NULL;
	if (k && id == k->id + k->n && seq == k->seq + k->n) {
		k->n++;
		return 0;
	}
	if (r->n_kept == r->cap_kept) {
		size_t nc = r->cap_kept ? r->cap_kept * 2 : 4;
		struct ledger_kept_run *a = realloc(r->kept, nc * sizeof *a);
		if (!a)
			return ids_fail(err, IDS_ENOMEM, "out of memory");
		r->kept = a;
		r->cap_kept = nc;
	}
	r->kept[r->n_kept++] = (struct ledger_kept_run){id, seq, 1};
	return 0;
}
