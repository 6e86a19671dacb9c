/* The field registry behind the analytics views: which top-level fields each store's values
 * have had and of which kinds. Kept on the writer thread with an in-memory cache so a push
 * writes to the table only when a store sees a new field or a new kind of value for one. */
#include "ledger_int.h"

#include <stdlib.h>
#include <string.h>

enum { K_INT = 1, K_REAL = 2, K_TEXT = 4, K_BOOL = 8, K_OBJECT = 16, K_ARRAY = 32, K_DATE = 64, K_NULL = 128 };

typedef struct field_seen {
	int64_t sid;
	int kinds;
	struct field_seen *next;
	char name[];
} field_seen;

#define FIELD_BUCKETS 4096

static uint32_t fhash(int64_t sid, const char *name)
{
	uint32_t h = 2166136261u ^ (uint32_t)sid;
	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 16777619u;
	return h % FIELD_BUCKETS;
}

void ledger_fields_reset(ledger *lg)
{
	lg->shape_len = 0;
	if (!lg->fields)
		return;
	for (size_t i = 0; i < FIELD_BUCKETS; i++) {
		while (lg->fields[i]) {
			field_seen *f = lg->fields[i];
			lg->fields[i] = f->next;
			free(f);
		}
	}
	free(lg->fields);
	lg->fields = NULL;
}

static int kind_of(const ids_json *j, size_t v)
{
	switch (j->tok[v].type) {
	case IDS_JNUM: return j->tok[v].is_int ? K_INT : K_REAL;
	case IDS_JSTR: return K_TEXT;
	case IDS_JTRUE:
	case IDS_JFALSE: return K_BOOL;
	case IDS_JARR: return K_ARRAY;
	case IDS_JOBJ: return ids_json_get(j, v, "$date") >= 0 && j->tok[v].size == 1 ? K_DATE : K_OBJECT;
	default: return K_NULL;
	}
}

static int note_one(ledger *lg, int64_t sid, const char *name, int kind, ids_error *err)
{
	if (!lg->fields && !(lg->fields = calloc(FIELD_BUCKETS, sizeof *lg->fields)))
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	uint32_t h = fhash(sid, name);
	field_seen *f = lg->fields[h];
	while (f && (f->sid != sid || strcmp(f->name, name)))
		f = f->next;
	if (f && (f->kinds | kind) == f->kinds)
		return 0;
	if (!f) {
		size_t n = strlen(name);
		if (!(f = calloc(1, sizeof *f + n + 1)))
			return ids_fail(err, IDS_ENOMEM, "out of memory");
		f->sid = sid;
		memcpy(f->name, name, n + 1);
		f->next = lg->fields[h];
		lg->fields[h] = f;
	}
	f->kinds |= kind;
	sqlite3_stmt *q = lg->st[ST_FIELD];
	sqlite3_bind_int64(q, 1, sid);
	sqlite3_bind_text(q, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 3, f->kinds);
	int rc = sqlite3_step(q);
	sqlite3_reset(q);
	return rc == SQLITE_DONE ? 0 : ledger_sql_err(lg, lg->w, rc, err, "field registry");
}

int ledger_fields_note(ledger *lg, int64_t sid, const ids_mutation *m, ids_error *err)
{
	if (!m->value)
		return 0;
	ids_json own = IDS_JSON_INIT;
	const ids_json *j = m->json;
	size_t v = m->vtok;
	if (!j) { /* server-side batches carry text only */
		if (ids_json_parse(&own, m->value, m->value_len, 0, 64, NULL))
			return 0;
		j = &own;
		v = 0;
	}
	int rc = 0;
	if (j->tok[v].type == IDS_JOBJ) {
		/* most values of a store have the fields of the one before, in the same order: their
		 * names as sent and kinds, compared with the last value's, skip the lookups */
		char shape[sizeof lg->shape];
		size_t sl = 0;
		size_t t = v + 1;
		for (uint32_t i = 0; i < j->tok[v].size && sl != SIZE_MAX; i++, t = j->tok[t + 1].next) {
			size_t n = j->tok[t].end - j->tok[t].start;
			if (sl + n + 1 > sizeof shape) {
				sl = SIZE_MAX;
				break;
			}
			memcpy(shape + sl, j->text + j->tok[t].start, n);
			shape[sl + n] = (char)kind_of(j, t + 1);
			sl += n + 1;
		}
		if (sl != SIZE_MAX && lg->shape_len == sl && lg->shape_sid == sid && !memcmp(lg->shape, shape, sl)) {
			ids_json_free(&own);
			return 0;
		}
		t = v + 1;
		ids_buf name = IDS_BUF_INIT;
		char small[128];
		for (uint32_t i = 0; i < j->tok[v].size && !rc; i++) {
			const ids_jtok *kt = &j->tok[t];
			size_t n = kt->end - kt->start - 2;
			const char *nm = NULL;
			/* the common case, a short name without escapes, costs no allocation */
			if (!kt->escaped && n < sizeof small) {
				memcpy(small, j->text + kt->start + 1, n);
				small[n] = 0;
				nm = n ? small : NULL;
			} else {
				ids_buf_reset(&name);
				ids_json_unescape(j, t, &name);
				if (name.len && !memchr(name.data, 0, name.len))
					nm = name.data;
			}
			if (nm)
				rc = note_one(lg, sid, nm, kind_of(j, t + 1), err);
			t = j->tok[t + 1].next;
		}
		ids_buf_free(&name);
		if (!rc && sl != SIZE_MAX && sl) {
			memcpy(lg->shape, shape, sl);
			lg->shape_len = sl;
			lg->shape_sid = sid;
		}
	}
	ids_json_free(&own);
	return rc;
}
