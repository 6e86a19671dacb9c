/* Conflict rules: given a row's current state and an incoming mutation, decide what wins.
 * Pure functions (no I/O) so every rule is unit-tested on its own; the ledger calls them
 * inside its write transaction. The merge rule keeps a stamp per top-level field. */
#include "idbsync/sync.h"

#include <stdlib.h>
#include <string.h>

void ids_decision_init(ids_decision *d)
{
	memset(d, 0, sizeof *d);
	ids_buf_init(&d->value, 0);
	ids_buf_init(&d->meta, 0);
	ids_buf_init(&d->lost, 0);
}

void ids_decision_free(ids_decision *d)
{
	ids_buf_free(&d->value);
	ids_buf_free(&d->meta);
	ids_buf_free(&d->lost);
}

static void take(ids_decision *d, const ids_mutation *m)
{
	d->outcome = IDS_APPLY;
	d->deleted = m->op == IDS_OP_DELETE;
	d->hlc = m->hlc;
}

static int lww(const ids_row *cur, const ids_mutation *m, ids_decision *d)
{
	int c = cur->exists ? hlc_compare(&m->hlc, &cur->hlc) : 1;
	if (c > 0) {
		take(d, m);
	} else if (c == 0) {
		d->outcome = IDS_SAME;
	} else {
		d->outcome = IDS_LOSE;
		d->reason = "older than the current version (last-writer-wins by hlc)";
	}
	return 0;
}

/* ---- merge ---- */

typedef struct field {
	char *name;              /* unescaped */
	const char *val;         /* JSON span (NULL when removed) */
	size_t val_len;
	hlc_stamp hlc;
	int64_t seq;
	int present;
} field;

typedef struct fields {
	field *f;
	size_t n, cap;
} fields;

static field *find(fields *fs, const char *name)
{
	for (size_t i = 0; i < fs->n; i++)
		if (!strcmp(fs->f[i].name, name))
			return &fs->f[i];
	return NULL;
}

static field *add(fields *fs, const char *name)
{
	if (fs->n == fs->cap) {
		size_t nc = fs->cap ? fs->cap * 2 : 16;
		field *nf = realloc(fs->f, nc * sizeof *nf);
		if (!nf)
			return NULL;
		fs->f = nf;
		fs->cap = nc;
	}
	field *f = &fs->f[fs->n];
	memset(f, 0, sizeof *f);
	f->name = strdup(name);
	if (!f->name)
		return NULL;
	fs->n++;
	return f;
}

static void fields_free(fields *fs)
{
	for (size_t i = 0; i < fs->n; i++)
		free(fs->f[i].name);
	free(fs->f);
}

static char *tok_name(const ids_json *j, size_t t)
{
	ids_buf b = IDS_BUF_INIT;
	if (ids_json_unescape(j, t, &b)) {
		ids_buf_free(&b);
		return NULL;
	}
	return ids_buf_steal(&b, NULL);
}

/* Loads the current row's fields: values from cur->value, stamps from cur->meta
 * ({"d":"<delete hlc>","f":{"name":["<hlc>",seq],...}}), defaulting to the row's stamp. */
static int load_current(const ids_row *cur, fields *fs, hlc_stamp *del, int *has_del, ids_error *err)
{
	ids_json j = IDS_JSON_INIT;
	int rc = 0;
	*has_del = 0;
	if (cur->meta && cur->meta_len) {
		if ((rc = ids_json_parse(&j, cur->meta, cur->meta_len, 0, 8, err)))
			goto out;
		long d = ids_json_get(&j, 0, "d");
		if (d >= 0 && j.tok[d].type == IDS_JSTR &&
		    !hlc_parse(del, j.text + j.tok[d].start + 1, j.tok[d].end - j.tok[d].start - 2, NULL))
			*has_del = 1;
		long fo = ids_json_get(&j, 0, "f");
		if (fo >= 0 && j.tok[fo].type == IDS_JOBJ) {
			size_t t = (size_t)fo + 1;
			for (uint32_t i = 0; i < j.tok[fo].size; i++) {
				size_t v = t + 1;
				char *name = tok_name(&j, t);
				field *f = name ? add(fs, name) : NULL;
				free(name);
				if (!f) {
					rc = ids_fail(err, IDS_ENOMEM, "out of memory");
					goto out;
				}
				if (j.tok[v].type == IDS_JARR && j.tok[v].size == 2) {
					const ids_jtok *h = &j.tok[v + 1];
					hlc_parse(&f->hlc, j.text + h->start + 1, h->end - h->start - 2, NULL);
					ids_json_i64(&j, v + 2, &f->seq);
				}
				t = j.tok[v].next;
			}
		}
	}
	if (cur->deleted && !*has_del) {
		*del = cur->hlc;
		*has_del = 1;
	}
	if (cur->value && !cur->deleted) {
		if ((rc = ids_json_parse(&j, cur->value, cur->value_len, 0, 64, err)))
			goto out;
		if (j.tok[0].type != IDS_JOBJ)
			goto out;
		size_t t = 1;
		for (uint32_t i = 0; i < j.tok[0].size; i++) {
			size_t v = t + 1;
			char *name = tok_name(&j, t);
			field *f = name ? find(fs, name) : NULL;
			if (name && !f && (f = add(fs, name))) {
				f->hlc = cur->hlc;
				f->seq = cur->seq;
			}
			free(name);
			if (!f) {
				rc = ids_fail(err, IDS_ENOMEM, "out of memory");
				goto out;
			}
			f->present = 1;
			f->val = cur->value + j.tok[v].start;
			f->val_len = j.tok[v].end - j.tok[v].start;
			t = j.tok[v].next;
		}
	}
out:
	ids_json_free(&j);
	return rc;
}

static void emit(ids_decision *d, fields *fs, const hlc_stamp *del, int has_del, int is_delete)
{
	char h[HLC_STR_MAX];
	int any = 0;
	ids_buf_putc(&d->value, '{');
	for (size_t i = 0; i < fs->n; i++) {
		if (!fs->f[i].present)
			continue;
		if (any++)
			ids_buf_putc(&d->value, ',');
		ids_buf_json_str(&d->value, fs->f[i].name, strlen(fs->f[i].name));
		ids_buf_putc(&d->value, ':');
		ids_buf_append(&d->value, fs->f[i].val, fs->f[i].val_len);
	}
	ids_buf_putc(&d->value, '}');
	/* a put always leaves a live row, even {}; only a delete that removed every field is a tombstone */
	d->deleted = is_delete && !any;
	ids_buf_puts(&d->meta, "{");
	if (has_del) {
		hlc_format(del, h);
		ids_buf_printf(&d->meta, "\"d\":\"%s\",", h);
	}
	ids_buf_puts(&d->meta, "\"f\":{");
	for (size_t i = 0; i < fs->n; i++) {
		if (i)
			ids_buf_putc(&d->meta, ',');
		ids_buf_json_str(&d->meta, fs->f[i].name, strlen(fs->f[i].name));
		hlc_format(&fs->f[i].hlc, h);
		ids_buf_printf(&d->meta, ":[\"%s\",%lld]", h, (long long)fs->f[i].seq);
	}
	ids_buf_puts(&d->meta, "}}");
	d->merged = 1;
}

/* Semantic JSON equality (numbers by value, objects regardless of key order), so a client
 * that re-serialized its base copy (1.0 -> 1) is still recognized as unchanged. */
static int jeq(const ids_json *a, size_t x, const ids_json *b, size_t y)
{
	const ids_jtok *p = &a->tok[x], *q = &b->tok[y];
	if (p->type != q->type)
		return 0;
	switch (p->type) {
	case IDS_JNUM:
		return ids_json_num(a, x) == ids_json_num(b, y);
	case IDS_JSTR: {
		ids_buf s1 = IDS_BUF_INIT, s2 = IDS_BUF_INIT;
		ids_json_unescape(a, x, &s1);
		ids_json_unescape(b, y, &s2);
		int eq = s1.len == s2.len && (s1.len == 0 || !memcmp(s1.data, s2.data, s1.len));
		ids_buf_free(&s1);
		ids_buf_free(&s2);
		return eq;
	}
	case IDS_JARR: {
		if (p->size != q->size)
			return 0;
		size_t i = x + 1, k = y + 1;
		for (uint32_t n = 0; n < p->size; n++, i = a->tok[i].next, k = b->tok[k].next)
			if (!jeq(a, i, b, k))
				return 0;
		return 1;
	}
	case IDS_JOBJ: {
		if (p->size != q->size)
			return 0;
		size_t i = x + 1;
		for (uint32_t n = 0; n < p->size; n++, i = a->tok[i + 1].next) {
			ids_buf name = IDS_BUF_INIT;
			ids_json_unescape(a, i, &name);
			ids_buf_putc(&name, 0);
			long v = ids_json_get(b, y, name.data);
			ids_buf_free(&name);
			if (v < 0 || !jeq(a, i + 1, b, (size_t)v))
				return 0;
		}
		return 1;
	}
	default:
		return 1;
	}
}

static void lost_field(ids_decision *d, const char *name)
{
	ids_buf_putc(&d->lost, d->lost.len ? ',' : '[');
	ids_buf_json_str(&d->lost, name, strlen(name));
}

static int merge(const ids_row *cur, const ids_mutation *m, int64_t new_seq, ids_decision *d, ids_error *err)
{
	ids_json j = IDS_JSON_INIT, bj = IDS_JSON_INIT;
	int have_base = 0; /* bj holds the object the client last saw */
	fields fs = {0};
	hlc_stamp del;
	int has_del = 0, changed = 0, rc = 0;
	const hlc_stamp *h = &m->hlc;
	if (m->op == IDS_OP_PUT) {
		if ((rc = ids_json_parse(&j, m->value, m->value_len, 0, 64, err)))
			goto out;
		/* values that are not objects have no fields: whole-value last-writer-wins */
		int cur_obj = !cur->exists || cur->deleted || (cur->value_len && cur->value[0] == '{');
		if (j.tok[0].type != IDS_JOBJ || !cur_obj) {
			rc = lww(cur, m, d);
			goto out;
		}
	}
	if (cur->exists && hlc_compare(h, &cur->hlc) == 0) {
		d->outcome = IDS_SAME; /* this very mutation is already applied */
		goto out;
	}
	if (cur->exists && (rc = load_current(cur, &fs, &del, &has_del, err)))
		goto out;
	if (m->op == IDS_OP_PUT) {
		/* creating (or re-creating after a delete) the row is a change even with no fields */
		if (!cur->exists || (cur->deleted && (!has_del || hlc_compare(h, &del) > 0)))
			changed = 1;
		if (cur->has_base_value) {
			const char *bv = cur->base_value ? cur->base_value : "{}";
			size_t bl = cur->base_value ? cur->base_len : 2;
			have_base = !ids_json_parse(&bj, bv, bl, 0, 64, NULL) && bj.tok[0].type == IDS_JOBJ;
		}
		size_t t = 1;
		for (uint32_t i = 0; i < j.tok[0].size; i++) {
			size_t v = t + 1;
			char *name = tok_name(&j, t);
			if (!name) {
				rc = ids_fail(err, IDS_ENOMEM, "out of memory");
				goto out;
			}
			field *f = find(&fs, name);
			long bf = have_base ? ids_json_get(&bj, 0, name) : -1;
			if (f && bf >= 0 && jeq(&j, v, &bj, (size_t)bf)) {
				/* as the client saw it at its base: not a write, so nothing to win or lose */
			} else if ((has_del && hlc_compare(h, &del) <= 0) || (f && hlc_compare(h, &f->hlc) <= 0)) {
				lost_field(d, name);
			} else {
				if (!f && !(f = add(&fs, name))) {
					free(name);
					rc = ids_fail(err, IDS_ENOMEM, "out of memory");
					goto out;
				}
				f->val = m->value + j.tok[v].start;
				f->val_len = j.tok[v].end - j.tok[v].start;
				f->hlc = *h;
				f->seq = new_seq;
				f->present = 1;
				changed = 1;
			}
			free(name);
			t = j.tok[v].next;
		}
		/* A field missing from the put was removed only if the client knew it: it was in the
		 * client's base version (three-way), or without that version, base >= the field's seq. */
		for (size_t i = 0; i < fs.n; i++) {
			field *f = &fs.f[i];
			if (!f->present || f->seq == new_seq || ids_json_get(&j, 0, f->name) >= 0)
				continue;
			int knew = have_base ? ids_json_get(&bj, 0, f->name) >= 0 : (m->has_base && m->base >= f->seq);
			if (knew && hlc_compare(h, &f->hlc) > 0) {
				f->present = 0;
				f->hlc = *h;
				f->seq = new_seq;
				changed = 1;
			}
		}
	} else {
		for (size_t i = 0; i < fs.n; i++) {
			field *f = &fs.f[i];
			if (hlc_compare(&f->hlc, h) < 0) {
				if (f->present)
					changed = 1;
				f->present = 0;
				f->hlc = *h;
				f->seq = new_seq;
			} else if (f->present) {
				lost_field(d, f->name);
			}
		}
		if (!has_del || hlc_compare(h, &del) > 0) {
			if (!cur->exists || !cur->deleted)
				changed = 1;
			del = *h;
			has_del = 1;
		}
	}
	if (d->lost.len)
		ids_buf_putc(&d->lost, ']');
	if (!changed) {
		d->outcome = IDS_LOSE;
		d->reason = "every field it writes has a newer version (per-field merge)";
		goto out;
	}
	d->outcome = IDS_APPLY;
	d->partial = d->lost.len > 0;
	d->hlc = cur->exists && hlc_compare(&cur->hlc, h) > 0 ? cur->hlc : *h;
	emit(d, &fs, &del, has_del, m->op == IDS_OP_DELETE);
	if (d->value.failed || d->meta.failed)
		rc = ids_fail(err, IDS_ENOMEM, "out of memory");
out:
	fields_free(&fs);
	ids_json_free(&j);
	ids_json_free(&bj);
	return rc;
}

int ids_conflict_decide(ids_rule rule, const ids_row *cur, const ids_mutation *m, ids_origin origin,
			int64_t new_seq, ids_decision *d, ids_error *err)
{
	switch (rule) {
	case IDS_RULE_CLIENT_WINS:
		take(d, m);
		if (cur->exists && hlc_compare(&cur->hlc, &m->hlc) > 0)
			d->hlc = cur->hlc; /* the row's stamp never goes backwards */
		return 0;
	case IDS_RULE_SERVER_WINS:
		if (origin == IDS_ORIGIN_SERVER) {
			take(d, m);
			if (cur->exists && hlc_compare(&cur->hlc, &m->hlc) > 0)
				d->hlc = cur->hlc;
			return 0;
		}
		if (cur->exists && cur->origin == IDS_ORIGIN_SERVER) {
			if (!m->has_base || m->base < cur->seq) {
				d->outcome = IDS_LOSE;
				d->reason = "based on a version older than the server-side (lake) change (server-wins)";
				return 0;
			}
			/* the client saw the server's version: its edit is newer knowledge, whatever its clock */
			take(d, m);
			if (hlc_compare(&cur->hlc, &m->hlc) > 0)
				d->hlc = cur->hlc;
			return 0;
		}
		return lww(cur, m, d);
	case IDS_RULE_MERGE:
		return merge(cur, m, new_seq, d, err);
	case IDS_RULE_LWW:
	default:
		return lww(cur, m, d);
	}
}
