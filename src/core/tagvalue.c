/* Validation of tagged JSON values (see idbsync/value.h): a value the server accepts can
 * always be decoded back into the same JavaScript value by the client and typed by the lake. */
#include "idbsync/value.h"

#include <stdlib.h>
#include <string.h>

static const char *const typed_names[] = {
	"ArrayBuffer", "DataView", "Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array",
	"Uint16Array", "Int32Array", "Uint32Array", "Float32Array", "Float64Array", "BigInt64Array",
	"BigUint64Array", NULL};

static int bad(ids_error *err, const char *path, const char *what)
{
	return ids_fail(err, IDS_EINVAL, "%s: %s", path, what);
}

static int check(const ids_json *j, size_t t, const char *path, int depth, int plain, ids_error *err);

static int check_children(const ids_json *j, size_t t, const char *path, int depth, ids_error *err)
{
	const ids_jtok *tk = &j->tok[t];
	size_t c = t + 1;
	for (uint32_t i = 0; i < tk->size; i++) {
		if (tk->type == IDS_JOBJ)
			c++; /* the key */
		int rc = check(j, c, path, depth + 1, 0, err);
		if (rc)
			return rc;
		c = j->tok[c].next;
	}
	return 0;
}

static int str_is(const ids_json *j, size_t t) { return j->tok[t].type == IDS_JSTR; }

typedef struct key_span {
	const char *s;
	size_t n;
} key_span;

static int cmp_span(const void *a, const void *b)
{
	const key_span *x = a, *y = b;
	int c = memcmp(x->s, y->s, x->n < y->n ? x->n : y->n);
	return c ? c : (x->n > y->n) - (x->n < y->n);
}

/* An object with a key twice: JavaScript objects never have one, and JSON.parse (the browser)
 * would keep the last where a reader of the first (the lake) keeps the first. Escaped keys
 * are compared unescaped. */
static int dup_key(const ids_json *j, size_t obj)
{
	uint32_t n = j->tok[obj].size;
	if (n < 2)
		return 0;
	key_span stack[64], *k = n <= 64 ? stack : malloc(n * sizeof *k);
	ids_buf esc = IDS_BUF_INIT;
	size_t *at = NULL;
	if (!k)
		return 0;
	size_t c = obj + 1, n_esc = 0;
	for (uint32_t i = 0; i < n; i++, c = j->tok[c + 1].next)
		n_esc += j->tok[c].escaped;
	if (n_esc && !(at = malloc(n * sizeof *at))) {
		if (k != stack)
			free(k);
		return 0;
	}
	c = obj + 1;
	for (uint32_t i = 0; i < n; i++, c = j->tok[c + 1].next) {
		const ids_jtok *t = &j->tok[c];
		if (t->escaped) {
			at[i] = esc.len;
			ids_json_unescape(j, c, &esc);
			k[i].s = NULL;
			k[i].n = esc.len - at[i];
		} else {
			k[i].s = j->text + t->start + 1;
			k[i].n = t->end - t->start - 2;
		}
	}
	for (uint32_t i = 0; n_esc && i < n; i++)
		if (!k[i].s)
			k[i].s = esc.data + at[i];   /* the buffer has stopped moving */
	int dup = 0;
	if (n <= 16) {
		for (uint32_t a = 0; !dup && a < n; a++)
			for (uint32_t b = a + 1; !dup && b < n; b++)
				dup = k[a].n == k[b].n && !memcmp(k[a].s, k[b].s, k[a].n);
	} else {
		qsort(k, n, sizeof *k, cmp_span);
		for (uint32_t a = 1; !dup && a < n; a++)
			dup = !cmp_span(&k[a - 1], &k[a]);
	}
	ids_buf_free(&esc);
	free(at);
	if (k != stack)
		free(k);
	return dup;
}

static int check_tag(const ids_json *j, size_t t, const char *path, int depth, ids_error *err)
{
	const ids_jtok *tk = &j->tok[t];
	size_t k = t + 1, v = t + 2;
	const char *s = j->text + j->tok[v].start + 1;
	size_t sn = j->tok[v].end - j->tok[v].start - (str_is(j, v) ? 2 : 0);
	if (ids_json_streq(j, k, "$esc")) {
		if (tk->size != 1 || j->tok[v].type != IDS_JOBJ)
			return bad(err, path, "$esc must be the only key and hold an object");
		if (dup_key(j, v))
			return bad(err, path, "an object has the same key twice (a JavaScript object cannot)");
		return check_children(j, v, path, depth + 1, err);
	}
	if (ids_json_streq(j, k, "$date")) {
		double ms;
		if (tk->size != 1 || !(j->tok[v].type == IDS_JNULL || (str_is(j, v) && !ids_iso_to_ms(s, sn, &ms))))
			return bad(err, path, "$date must be an ISO-8601 UTC string like 2024-01-01T00:00:00.000Z, or null");
		return 0;
	}
	if (ids_json_streq(j, k, "$num")) {
		double d;
		if (tk->size != 1 || ids_json_num_special(j, v, &d))
			return bad(err, path, "$num must be \"NaN\", \"Infinity\", \"-Infinity\" or \"-0\"");
		return 0;
	}
	if (ids_json_streq(j, k, "$undefined")) {
		if (tk->size != 1 || j->tok[v].type != IDS_JTRUE)
			return bad(err, path, "$undefined must be true");
		return 0;
	}
	if (ids_json_streq(j, k, "$bigint")) {
		int ok = tk->size == 1 && str_is(j, v) && sn > 0 && !j->tok[v].escaped;
		for (size_t i = 0; ok && i < sn; i++)
			ok = (s[i] >= '0' && s[i] <= '9') || (i == 0 && s[i] == '-' && sn > 1);
		return ok ? 0 : bad(err, path, "$bigint must be a string of decimal digits");
	}
	if (ids_json_streq(j, k, "$bin")) {
		if (!str_is(j, v) || j->tok[v].escaped || tk->size < 1 || tk->size > 5)
			return bad(err, path, "$bin must hold a base64 string (optionally with \"$type\")");
		if (tk->size >= 2) {
			int ok = 0, blob = 0;
			if (ids_json_streq(j, v + 1, "$type")) {
				for (int i = 0; typed_names[i]; i++)
					ok |= ids_json_streq(j, v + 2, typed_names[i]);
				blob = ids_json_streq(j, v + 2, "Blob") ? 1 : ids_json_streq(j, v + 2, "File") ? 2 : 0;
			}
			if (!ok && !blob)
				return bad(err, path, "$type must name an ArrayBuffer view such as \"Uint8Array\", or Blob / File");
			if (!blob && tk->size != 2)
				return bad(err, path, "$bin holds only \"$type\" besides the bytes");
			/* A Blob keeps its MIME type ("$mime"), a File also "$name" and "$modified" (ms). */
			size_t c = j->tok[v + 2].next;
			for (uint32_t i = 2; i < tk->size; i++, c = j->tok[c + 1].next) {
				int t = j->tok[c + 1].type;
				if (!(ids_json_streq(j, c, "$mime") && t == IDS_JSTR) &&
				    !(blob == 2 && ids_json_streq(j, c, "$name") && t == IDS_JSTR) &&
				    !(blob == 2 && ids_json_streq(j, c, "$modified") && t == IDS_JNUM))
					return bad(err, path, "a Blob's $bin holds \"$mime\" (string), a File's also \"$name\" (string) "
							      "and \"$modified\" (number)");
			}
		}
		ids_buf tmp = IDS_BUF_INIT;
		int rc = ids_base64_decode(s, sn, &tmp);
		ids_buf_free(&tmp);
		return rc ? bad(err, path, "$bin is not valid base64") : 0;
	}
	if (ids_json_streq(j, k, "$map")) {
		if (tk->size != 1 || j->tok[v].type != IDS_JARR)
			return bad(err, path, "$map must hold an array of [key, value] pairs");
		size_t c = v + 1;
		for (uint32_t i = 0; i < j->tok[v].size; i++) {
			if (j->tok[c].type != IDS_JARR || j->tok[c].size != 2)
				return bad(err, path, "$map entries must be [key, value] arrays");
			c = j->tok[c].next;
		}
		return check_children(j, v, path, depth + 1, err);
	}
	if (ids_json_streq(j, k, "$set")) {
		if (tk->size != 1 || j->tok[v].type != IDS_JARR)
			return bad(err, path, "$set must hold an array");
		return check_children(j, v, path, depth + 1, err);
	}
	if (ids_json_streq(j, k, "$regexp")) {
		if (!str_is(j, v) || !(tk->size == 1 || (tk->size == 2 && ids_json_streq(j, v + 1, "$flags") &&
							  str_is(j, v + 2))))
			return bad(err, path, "$regexp must hold the source string (and optionally \"$flags\")");
		return 0;
	}
	return ids_fail(err, IDS_EINVAL,
			"%s: unknown tag (objects whose keys start with '$' must be one of the documented tags; "
			"wrap a plain object as {\"$esc\":{...}})",
			path);
}

static int check(const ids_json *j, size_t t, const char *path, int depth, int plain, ids_error *err)
{
	const ids_jtok *tk = &j->tok[t];
	if (tk->type == IDS_JARR)
		return check_children(j, t, path, depth, err);
	if (tk->type != IDS_JOBJ)
		return 0;
	if (dup_key(j, t))
		return bad(err, path, "an object has the same key twice (a JavaScript object cannot)");
	if (!plain) {
		size_t c = t + 1;
		for (uint32_t i = 0; i < tk->size; i++) {
			const ids_jtok *kt = &j->tok[c];
			if (kt->end - kt->start > 2 && j->text[kt->start + 1] == '$')
				return check_tag(j, t, path, depth, err);
			c = j->tok[c + 1].next;
		}
	}
	return check_children(j, t, path, depth, err);
}

int ids_value_check(const ids_json *j, size_t t, const char *path, ids_error *err)
{
	return check(j, t, path, 0, 0, err);
}
