/* Unit tests for push-body parsing (src/core/batch.c): a valid body's mutations, and one
 * invalid body per rule, each rejected whole with IDS_EINVAL/IDS_ELIMIT and a message that
 * names the field ("mutations[1].op: ..."). Also server-side batches (ids_batch_new/add),
 * name validation and rule names. */
#include "idbsync/sync.h"
#include "idbsync/value.h"

#include <stdlib.h>
#include <string.h>

#include "test_util.h"

static int64_t fake_ms = 1000000000000LL;
static int64_t fake_now(void) { return fake_ms; }

static int parse_lim(ids_batch **b, const char *body, const ids_limits *lim, hlc_clock *clock, ids_error *err)
{
	char *copy = strdup(body);
	return ids_batch_parse(b, "mydb", copy, strlen(body), lim, clock, err);
}

static int parse(ids_batch **b, const char *body, ids_error *err)
{
	ids_limits lim = IDS_LIMITS_INIT;
	return parse_lim(b, body, &lim, NULL, err);
}

static int key_is(const ids_mutation *m, const char *key_json)
{
	ids_json j = IDS_JSON_INIT;
	ids_buf k = IDS_BUF_INIT;
	int ok = !ids_json_parse(&j, key_json, strlen(key_json), 0, 0, NULL) && !ids_key_encode(&j, 0, &k, NULL) &&
		 k.len == m->key_len && memcmp(k.data, m->key, k.len) == 0;
	ids_json_free(&j);
	ids_buf_free(&k);
	return ok;
}

static void valid_body(void)
{
	ids_batch *b = NULL;
	ids_error err = IDS_ERROR_INIT;
	const char *body =
		"{\"client\":\"c-1\",\"extra\":{\"ignored\":true},\"mutations\":[\n"
		" {\"id\":1,\"store\":\"todos\",\"op\":\"put\",\"key\":1.0,\"value\":{\"a\" : 1, \"d\":{\"$date\":null}},"
		"  \"hlc\":\"1700000000000-000A-c-1\",\"base\":3},\n"
		" {\"id\":2,\"store\":\"t\\u006fdos\",\"op\":\"delete\",\"key\":\"k\",\"value\":null,\"hlc\":null,\"base\":null},\n"
		" {\"op\":\"put\",\"key\":[1,\"a\"],\"value\":[1,2 ,3],\"store\":\"s2\",\"id\":5},\n"
		" {\"id\":6,\"store\":\"s2\",\"op\":\"put\",\"key\":{\"$date\":\"2024-01-01T00:00:00.000Z\"},\"value\":\"x\",\"base\":0}\n"
		"]}";
	if (!CHECK_EQ_INT(parse(&b, body, &err), 0)) {
		fprintf(stderr, "  %s\n", err.msg);
		return;
	}
	CHECK_EQ_STR(b->db, "mydb");
	CHECK_EQ_STR(b->client, "c-1");
	CHECK_EQ_STR(b->user, "");
	CHECK_EQ_INT(b->origin, IDS_ORIGIN_CLIENT);
	CHECK_EQ_INT(b->n, 4);
	ids_mutation *m = b->m;
	CHECK_EQ_INT(m[0].id, 1);
	CHECK_EQ_STR(m[0].store, "todos");
	CHECK_EQ_INT(m[0].op, IDS_OP_PUT);
	CHECK(key_is(&m[0], "1"));
	/* the value is kept exactly as sent */
	CHECK(m[0].value_len == strlen("{\"a\" : 1, \"d\":{\"$date\":null}}") &&
	      memcmp(m[0].value, "{\"a\" : 1, \"d\":{\"$date\":null}}", m[0].value_len) == 0);
	CHECK_EQ_INT(m[0].has_hlc, 1);
	CHECK(m[0].hlc.ms == 1700000000000LL && m[0].hlc.counter == 10);
	CHECK_EQ_STR(m[0].hlc.node, "c-1");
	CHECK_EQ_INT(m[0].has_base, 1);
	CHECK_EQ_INT(m[0].base, 3);
	CHECK_EQ_INT(m[1].id, 2);
	CHECK_EQ_STR(m[1].store, "todos");
	CHECK_EQ_INT(m[1].op, IDS_OP_DELETE);
	CHECK(m[1].value == NULL);
	CHECK_EQ_INT(m[1].has_hlc, 0);
	CHECK_EQ_INT(m[1].has_base, 0);
	CHECK(key_is(&m[1], "\"k\""));
	CHECK_EQ_INT(m[2].id, 5); /* gaps between ids are the ledger's business */
	CHECK_EQ_STR(m[2].store, "s2");
	CHECK(m[2].value_len == 8 && memcmp(m[2].value, "[1,2 ,3]", 8) == 0);
	CHECK(key_is(&m[2], "[1,\"a\"]"));
	CHECK_EQ_INT(m[3].has_base, 1);
	CHECK_EQ_INT(m[3].base, 0);
	CHECK(key_is(&m[3], "{\"$date\":\"2024-01-01T00:00:00Z\"}"));
	CHECK(m[3].value_len == 3 && memcmp(m[3].value, "\"x\"", 3) == 0);
	ids_batch_free(b);

	/* field names are found escaped too, the first of a repeated field counts (as before the
	 * one-pass lookup), and mutations naming the same store share one copy of its name */
	const char *esc =
		"{\"client\":\"c\",\"mutations\":["
		"{\"\\u0069d\":1,\"id\":7,\"st\\u006fre\":\"s\",\"op\":\"put\",\"key\":\"ab\",\"value\":1,\"value\":2},"
		"{\"id\":2,\"store\":\"s\",\"\\u006fp\":\"delete\",\"key\":\"\u00e9\\u0000\"},"
		"{\"id\":3,\"store\":\"s\",\"op\":\"put\",\"key\":\"ab\",\"value\":3}]}";
	if (CHECK_EQ_INT(parse(&b, esc, &err), 0)) {
		CHECK_EQ_INT(b->m[0].id, 1);
		CHECK(b->m[0].value_len == 1 && b->m[0].value[0] == '1');
		CHECK(b->m[0].key_len == 4 && !memcmp(b->m[0].key, "\x30" "ab\0", 4));
		CHECK_EQ_INT(b->m[1].op, IDS_OP_DELETE);
		/* U+00E9 as its UTF-16 unit in UTF-8 layout, then the escaped NUL */
		CHECK(b->m[1].key_len == 6 && !memcmp(b->m[1].key, "\x30\xc3\xa9\0\xff\0", 6));
		CHECK(b->m[0].store == b->m[1].store && b->m[1].store == b->m[2].store);
		CHECK_EQ_STR(b->m[2].store, "s");
		ids_batch_free(b);
	} else {
		fprintf(stderr, "  %s\n", err.msg);
	}

	/* an empty push is legal */
	CHECK_EQ_INT(parse(&b, "{\"client\":\"c\",\"mutations\":[]}", &err), 0);
	CHECK_EQ_INT(b ? b->n : 99, 0);
	ids_batch_free(b);
	ids_batch_free(NULL);

	/* many small mutations: the token cap derived from the body length never rejects them */
	ids_buf big = IDS_BUF_INIT;
	ids_buf_puts(&big, "{\"client\":\"c\",\"mutations\":[");
	for (int i = 1; i <= 3000; i++)
		ids_buf_printf(&big, "%s{\"id\":%d,\"store\":\"s\",\"op\":\"put\",\"key\":%d,\"value\":[1,[2],{}]}",
			       i > 1 ? "," : "", i, i);
	ids_buf_puts(&big, "]}");
	CHECK_EQ_INT(parse(&b, big.data, &err), 0);
	CHECK_EQ_INT(b ? b->n : 0, 3000);
	/* pointers into the arena stay valid after it grew */
	int bad = 0;
	for (size_t i = 0; b && i < b->n; i++) {
		char k[24];
		snprintf(k, sizeof k, "%zu", i + 1);
		bad += strcmp(b->m[i].store, "s") != 0 || !key_is(&b->m[i], k) || b->m[i].id != (int64_t)i + 1;
	}
	CHECK_EQ_INT(bad, 0);
	ids_batch_free(b);
	ids_buf_free(&big);
}

typedef struct bad_case {
	const char *body;
	int code;
	const char *msg;
} bad_case;

#define M0 "{\"client\":\"c\",\"mutations\":["
#define OK1 "{\"id\":1,\"store\":\"s\",\"op\":\"put\",\"key\":1,\"value\":1}"

static void invalid_bodies(void)
{
	char longclient[400];
	snprintf(longclient, sizeof longclient, "{\"client\":\"%0257d\",\"mutations\":[]}", 0);
	char longstore[400];
	snprintf(longstore, sizeof longstore, M0 "{\"id\":1,\"store\":\"%0257d\",\"op\":\"delete\",\"key\":1}]}", 0);
	bad_case cases[] = {
		{"not json", IDS_EINVAL, "invalid JSON at byte 0"},
		{"{\"client\":\"c\",\"mutations\":[]", IDS_EINVAL, "invalid JSON"},
		{"[1]", IDS_EINVAL, "body must be a JSON object"},
		{"\"x\"", IDS_EINVAL, "body must be a JSON object"},
		{"{\"mutations\":[]}", IDS_EINVAL, "client"},
		{"{\"client\":\"\",\"mutations\":[]}", IDS_EINVAL, "client"},
		{"{\"client\":\"a b\",\"mutations\":[]}", IDS_EINVAL, "client"},
		{"{\"client\":5,\"mutations\":[]}", IDS_EINVAL, "client"},
		{"{\"client\":null,\"mutations\":[]}", IDS_EINVAL, "client"},
		{"{\"client\":\"a\\u0001\",\"mutations\":[]}", IDS_EINVAL, "client"},
		{"{\"client\":\"caf\xc3\xa9\",\"mutations\":[]}", IDS_EINVAL, "client"},
		{longclient, IDS_EINVAL, "client"},
		{"{\"client\":\"c\"}", IDS_EINVAL, "mutations: required"},
		{"{\"client\":\"c\",\"mutations\":{}}", IDS_EINVAL, "mutations: required"},
		{"{\"client\":\"c\",\"mutations\":\"x\"}", IDS_EINVAL, "mutations: required"},
		{M0 "1]}", IDS_EINVAL, "mutations[0]: must be an object"},
		{M0 OK1 ",[]]}", IDS_EINVAL, "mutations[1]: must be an object"},
		{M0 "{\"store\":\"s\",\"op\":\"put\",\"key\":1,\"value\":1}]}", IDS_EINVAL, "mutations[0].id"},
		{M0 "{\"id\":0,\"store\":\"s\",\"op\":\"put\",\"key\":1,\"value\":1}]}", IDS_EINVAL, "mutations[0].id"},
		{M0 "{\"id\":-1,\"store\":\"s\",\"op\":\"put\",\"key\":1,\"value\":1}]}", IDS_EINVAL, "mutations[0].id"},
		{M0 "{\"id\":\"1\",\"store\":\"s\",\"op\":\"put\",\"key\":1,\"value\":1}]}", IDS_EINVAL, "mutations[0].id"},
		{M0 "{\"id\":1.5,\"store\":\"s\",\"op\":\"put\",\"key\":1,\"value\":1}]}", IDS_EINVAL, "mutations[0].id"},
		{M0 "{\"id\":1e2,\"store\":\"s\",\"op\":\"put\",\"key\":1,\"value\":1}]}", IDS_EINVAL, "mutations[0].id"},
		{M0 "{\"id\":99999999999999999999,\"store\":\"s\",\"op\":\"put\",\"key\":1,\"value\":1}]}", IDS_EINVAL,
		 "mutations[0].id"},
		{M0 OK1 "," OK1 "]}", IDS_EINVAL, "mutations[1].id: ids must be strictly increasing (1 after 1)"},
		{M0 "{\"id\":5,\"store\":\"s\",\"op\":\"put\",\"key\":1,\"value\":1}," OK1 "]}", IDS_EINVAL,
		 "mutations[1].id: ids must be strictly increasing"},
		{M0 "{\"id\":1,\"op\":\"put\",\"key\":1,\"value\":1}]}", IDS_EINVAL, "mutations[0].store"},
		{M0 "{\"id\":1,\"store\":5,\"op\":\"put\",\"key\":1,\"value\":1}]}", IDS_EINVAL, "mutations[0].store"},
		{M0 "{\"id\":1,\"store\":\"\",\"op\":\"put\",\"key\":1,\"value\":1}]}", IDS_EINVAL, "mutations[0].store"},
		{M0 "{\"id\":1,\"store\":\"a\\u0000b\",\"op\":\"put\",\"key\":1,\"value\":1}]}", IDS_EINVAL,
		 "mutations[0].store"},
		{M0 "{\"id\":1,\"store\":\"a\\nb\",\"op\":\"put\",\"key\":1,\"value\":1}]}", IDS_EINVAL,
		 "mutations[0].store"},
		{longstore, IDS_EINVAL, "mutations[0].store"},
		{M0 OK1 ",{\"id\":2,\"store\":\"s\",\"op\":\"upsert\",\"key\":1,\"value\":1}]}", IDS_EINVAL,
		 "mutations[1].op: must be \"put\" or \"delete\""},
		{M0 OK1 ",{\"id\":2,\"store\":\"s\",\"key\":1,\"value\":1}]}", IDS_EINVAL, "mutations[1].op"},
		{M0 OK1 ",{\"id\":2,\"store\":\"s\",\"op\":1,\"key\":1,\"value\":1}]}", IDS_EINVAL, "mutations[1].op"},
		{M0 OK1 ",{\"id\":2,\"store\":\"s\",\"op\":\"PUT\",\"key\":1,\"value\":1}]}", IDS_EINVAL, "mutations[1].op"},
		{M0 "{\"id\":1,\"store\":\"s\",\"op\":\"put\",\"value\":1}]}", IDS_EINVAL, "mutations[0].key: required"},
		{M0 "{\"id\":1,\"store\":\"s\",\"op\":\"put\",\"key\":true,\"value\":1}]}", IDS_EINVAL, "mutations[0].key: "},
		{M0 "{\"id\":1,\"store\":\"s\",\"op\":\"delete\",\"key\":null}]}", IDS_EINVAL, "mutations[0].key: "},
		{M0 "{\"id\":1,\"store\":\"s\",\"op\":\"delete\",\"key\":{\"a\":1}}]}", IDS_EINVAL, "mutations[0].key: "},
		{M0 "{\"id\":1,\"store\":\"s\",\"op\":\"delete\",\"key\":{\"$num\":\"NaN\"}}]}", IDS_EINVAL,
		 "mutations[0].key: "},
		{M0 "{\"id\":1,\"store\":\"s\",\"op\":\"delete\",\"key\":[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]}]}",
		 IDS_ELIMIT, "mutations[0].key: "},
		{M0 "{\"id\":1,\"store\":\"s\",\"op\":\"put\",\"key\":1}]}", IDS_EINVAL, "mutations[0].value: required for put"},
		{M0 "{\"id\":1,\"store\":\"s\",\"op\":\"delete\",\"key\":1,\"value\":1}]}", IDS_EINVAL,
		 "mutations[0].value: must be absent for delete"},
		{M0 "{\"id\":1,\"store\":\"s\",\"op\":\"put\",\"key\":1,\"value\":{\"$foo\":1}}]}", IDS_EINVAL,
		 "mutations[0].value: unknown tag"},
		{M0 OK1 ",{\"id\":2,\"store\":\"s\",\"op\":\"put\",\"key\":1,\"value\":{\"x\":{\"$date\":\"2023-02-29\"}}}]}",
		 IDS_EINVAL, "mutations[1].value: $date"},
		{M0 "{\"id\":1,\"store\":\"s\",\"op\":\"put\",\"key\":1,\"value\":1,\"hlc\":\"abc\"}]}", IDS_EINVAL,
		 "mutations[0].hlc"},
		{M0 "{\"id\":1,\"store\":\"s\",\"op\":\"put\",\"key\":1,\"value\":1,\"hlc\":\"1700000000000-00x0-n\"}]}",
		 IDS_EINVAL, "mutations[0].hlc"},
		{M0 "{\"id\":1,\"store\":\"s\",\"op\":\"put\",\"key\":1,\"value\":1,\"hlc\":5}]}", IDS_EINVAL,
		 "mutations[0].hlc: must be a string"},
		{M0 "{\"id\":1,\"store\":\"s\",\"op\":\"put\",\"key\":1,\"value\":1,\"base\":-1}]}", IDS_EINVAL,
		 "mutations[0].base"},
		{M0 "{\"id\":1,\"store\":\"s\",\"op\":\"put\",\"key\":1,\"value\":1,\"base\":\"3\"}]}", IDS_EINVAL,
		 "mutations[0].base"},
		{M0 "{\"id\":1,\"store\":\"s\",\"op\":\"put\",\"key\":1,\"value\":1,\"base\":2.5}]}", IDS_EINVAL,
		 "mutations[0].base"},
		{NULL, 0, NULL},
	};
	for (int i = 0; cases[i].body; i++) {
		ids_batch *b = (ids_batch *)&b; /* must be reset to NULL on failure */
		ids_error err = IDS_ERROR_INIT;
		int rc = parse(&b, cases[i].body, &err);
		if (!CHECK_EQ_INT(rc, cases[i].code)) {
			fprintf(stderr, "  case %d: %s\n  message: %s\n", i, cases[i].body, err.msg);
			if (!rc)
				ids_batch_free(b);
			continue;
		}
		CHECK(b == NULL);
		CHECK_EQ_INT(err.code, cases[i].code);
		if (!CHECK_HAS(err.msg, cases[i].msg))
			fprintf(stderr, "  case %d: %s\n", i, cases[i].body);
	}

	/* the database name is checked first */
	const char *dbs[] = {"", ".hidden", "_private", "a/b", "a b", "../x", NULL};
	for (int i = 0; dbs[i]; i++) {
		ids_batch *b = NULL;
		ids_error err = IDS_ERROR_INIT;
		ids_limits lim = IDS_LIMITS_INIT;
		char *body = strdup("{\"client\":\"c\",\"mutations\":[]}");
		CHECK_EQ_INT(ids_batch_parse(&b, dbs[i], body, strlen(body), &lim, NULL, &err), IDS_EINVAL);
		CHECK_HAS(err.msg, "database name");
		CHECK(b == NULL);
	}
}

static void limits(void)
{
	ids_batch *b = NULL;
	ids_error err = IDS_ERROR_INIT;
	ids_limits lim = IDS_LIMITS_INIT;

	/* encoded key size: a 10-character string is 12 bytes encoded (type byte + NUL) */
	lim.max_key = 12;
	CHECK_EQ_INT(parse_lim(&b, M0 "{\"id\":1,\"store\":\"s\",\"op\":\"delete\",\"key\":\"0123456789\"}]}", &lim,
			       NULL, &err), 0);
	ids_batch_free(b);
	CHECK_EQ_INT(parse_lim(&b, M0 OK1 ",{\"id\":2,\"store\":\"s\",\"op\":\"delete\",\"key\":\"0123456789a\"}]}",
			       &lim, NULL, &err), IDS_ELIMIT);
	CHECK_HAS(err.msg, "mutations[1].key: 13 bytes encoded, the limit is 12");
	CHECK(b == NULL);

	/* value size is the JSON text as sent */
	lim = (ids_limits)IDS_LIMITS_INIT;
	lim.max_value = 7;
	CHECK_EQ_INT(parse_lim(&b, M0 "{\"id\":1,\"store\":\"s\",\"op\":\"put\",\"key\":1,\"value\":[1, 2]}]}", &lim,
			       NULL, &err), 0);
	ids_batch_free(b);
	CHECK_EQ_INT(parse_lim(&b, M0 "{\"id\":1,\"store\":\"s\",\"op\":\"put\",\"key\":1,\"value\":[1,   2]}]}",
			       &lim, NULL, &err), IDS_ELIMIT);
	CHECK_HAS(err.msg, "mutations[0].value: 8 bytes, the limit is 7");

	/* mutations per push */
	lim = (ids_limits)IDS_LIMITS_INIT;
	lim.max_mutations = 2;
	const char *three = M0 OK1 ",{\"id\":2,\"store\":\"s\",\"op\":\"delete\",\"key\":1},"
			       "{\"id\":3,\"store\":\"s\",\"op\":\"delete\",\"key\":1}]}";
	CHECK_EQ_INT(parse_lim(&b, three, &lim, NULL, &err), IDS_ELIMIT);
	CHECK_HAS(err.msg, "mutations: 3 in one push, the limit is 2");
	lim.max_mutations = 3;
	CHECK_EQ_INT(parse_lim(&b, three, &lim, NULL, &err), 0);
	ids_batch_free(b);

	/* deep values hit the JSON depth cap (64) */
	ids_buf deep = IDS_BUF_INIT;
	ids_buf_puts(&deep, M0 "{\"id\":1,\"store\":\"s\",\"op\":\"put\",\"key\":1,\"value\":");
	for (int i = 0; i < 70; i++)
		ids_buf_putc(&deep, '[');
	for (int i = 0; i < 70; i++)
		ids_buf_putc(&deep, ']');
	ids_buf_puts(&deep, "}]}");
	lim = (ids_limits)IDS_LIMITS_INIT;
	CHECK_EQ_INT(parse_lim(&b, deep.data, &lim, NULL, &err), IDS_ELIMIT);
	ids_buf_free(&deep);
}

static void hlc_skew(void)
{
	hlc_clock c;
	if (!CHECK_EQ_INT(hlc_clock_init(&c, "srv", 1000, NULL), 0))
		return;
	c.now_ms = fake_now;
	ids_batch *b = NULL;
	ids_error err = IDS_ERROR_INIT;
	ids_limits lim = IDS_LIMITS_INIT;
	/* 500 ms ahead: fine; 2000 ms ahead: rejected, naming the field and the skew */
	CHECK_EQ_INT(parse_lim(&b, M0 "{\"id\":1,\"store\":\"s\",\"op\":\"put\",\"key\":1,\"value\":1,"
				    "\"hlc\":\"1000000000500-0000-c\"}]}", &lim, &c, &err), 0);
	ids_batch_free(b);
	CHECK_EQ_INT(parse_lim(&b, M0 OK1 ",{\"id\":2,\"store\":\"s\",\"op\":\"put\",\"key\":1,\"value\":1,"
				    "\"hlc\":\"1000000002000-0000-c\"}]}", &lim, &c, &err), IDS_EINVAL);
	CHECK_HAS(err.msg, "mutations[1].hlc");
	CHECK_HAS(err.msg, "2000 ms ahead");
	CHECK(b == NULL);
	/* parsing does not move the clock */
	CHECK(c.ms == 0);
	/* without a clock there is no skew check */
	CHECK_EQ_INT(parse_lim(&b, M0 "{\"id\":1,\"store\":\"s\",\"op\":\"put\",\"key\":1,\"value\":1,"
				    "\"hlc\":\"9999999999999-0000-c\"}]}", &lim, NULL, &err), 0);
	ids_batch_free(b);
	/* an escaped hlc string is refused rather than guessed at */
	CHECK_EQ_INT(parse_lim(&b, M0 "{\"id\":1,\"store\":\"s\",\"op\":\"put\",\"key\":1,\"value\":1,"
				    "\"hlc\":\"1000000000500-0000-\\u0063\"}]}", &lim, &c, &err), IDS_EINVAL);
	CHECK_HAS(err.msg, "mutations[0].hlc");
	hlc_clock_destroy(&c);
}

static void server_batches(void)
{
	ids_batch *b = NULL;
	ids_error err = IDS_ERROR_INIT;
	ids_limits lim = IDS_LIMITS_INIT;
	CHECK_EQ_INT(ids_batch_new(&b, ".bad", "lake", "", IDS_ORIGIN_SERVER, &err), IDS_EINVAL);
	if (!CHECK_EQ_INT(ids_batch_new(&b, "mydb", "lake", NULL, IDS_ORIGIN_SERVER, &err), 0))
		return;
	CHECK_EQ_STR(b->client, "lake");
	CHECK_EQ_STR(b->user, "");
	CHECK_EQ_INT(b->origin, IDS_ORIGIN_SERVER);
	CHECK_EQ_INT(b->n, 0);
	const char *v = "{\"name\":\"x\"}";
	CHECK_EQ_INT(ids_batch_add(b, 1, "s", IDS_OP_PUT, "1.0", 3, v, strlen(v), &lim, &err), 0);
	CHECK_EQ_INT(ids_batch_add(b, 2, "s", IDS_OP_DELETE, "\"k\"", 3, NULL, 0, &lim, &err), 0);
	/* bad key, bad value, sizes: rejected, batch unchanged */
	CHECK_EQ_INT(ids_batch_add(b, 3, "s", IDS_OP_PUT, "true", 4, "1", 1, &lim, &err), IDS_EINVAL);
	CHECK_HAS(err.msg, "key");
	CHECK_EQ_INT(ids_batch_add(b, 3, "s", IDS_OP_PUT, "[1", 2, "1", 1, &lim, &err), IDS_EINVAL);
	CHECK_EQ_INT(ids_batch_add(b, 3, "s", IDS_OP_PUT, "1", 1, "{\"$x\":1}", 8, &lim, &err), IDS_EINVAL);
	CHECK_HAS(err.msg, "value: unknown tag");
	CHECK_EQ_INT(ids_batch_add(b, 3, "s", IDS_OP_PUT, "1", 1, "{", 1, &lim, &err), IDS_EINVAL);
	ids_limits small = lim;
	small.max_key = 4;
	CHECK_EQ_INT(ids_batch_add(b, 3, "s", IDS_OP_PUT, "\"abcdef\"", 8, "1", 1, &small, &err), IDS_ELIMIT);
	small = lim;
	small.max_value = 3;
	CHECK_EQ_INT(ids_batch_add(b, 3, "s", IDS_OP_PUT, "1", 1, "[1,2]", 5, &small, &err), IDS_ELIMIT);
	CHECK_EQ_INT(b->n, 2);
	/* many adds: earlier pointers stay valid */
	for (int i = 3; i < 2000; i++) {
		char key[32], val[32];
		int kl = snprintf(key, sizeof key, "[%d,\"k\"]", i);
		int vl = snprintf(val, sizeof val, "{\"i\":%d}", i);
		if (ids_batch_add(b, i, i % 2 ? "odd" : "even", IDS_OP_PUT, key, (size_t)kl, val, (size_t)vl, &lim, &err))
			break;
	}
	CHECK_EQ_INT(b->n, 1999);
	CHECK_EQ_STR(b->m[0].store, "s");
	CHECK(key_is(&b->m[0], "1"));
	CHECK(b->m[0].value_len == strlen(v) && memcmp(b->m[0].value, v, b->m[0].value_len) == 0);
	CHECK(b->m[0].value[b->m[0].value_len] == 0);
	CHECK_EQ_INT(b->m[1].op, IDS_OP_DELETE);
	CHECK(b->m[1].value == NULL);
	CHECK(key_is(&b->m[1], "\"k\""));
	CHECK_EQ_STR(b->m[1000].store, "odd");
	CHECK(key_is(&b->m[1000], "[1001,\"k\"]"));
	CHECK_EQ_INT(b->m[1998].id, 1999);
	CHECK_EQ_INT(b->m[1998].has_hlc, 0);
	ids_batch_free(b);
}

static void names(void)
{
	CHECK(ids_db_name_valid("a"));
	CHECK(ids_db_name_valid("My-db_1.2"));
	char n64[65], n65[66];
	memset(n64, 'd', 64);
	n64[64] = 0;
	memset(n65, 'd', 65);
	n65[65] = 0;
	CHECK(ids_db_name_valid(n64));
	CHECK(!ids_db_name_valid(n65));
	CHECK(!ids_db_name_valid(""));
	CHECK(!ids_db_name_valid(".x"));
	CHECK(!ids_db_name_valid("_x"));
	CHECK(!ids_db_name_valid("a b"));
	CHECK(!ids_db_name_valid("a/b"));
	CHECK(!ids_db_name_valid("\xc3\xa9"));

	CHECK(ids_id_valid("c", 1));
	CHECK(ids_id_valid("user@example.com", 16));
	CHECK(ids_id_valid("!~", 2));
	CHECK(!ids_id_valid("", 0));
	CHECK(!ids_id_valid("a b", 3));
	CHECK(!ids_id_valid("a\x7f", 2));
	CHECK(!ids_id_valid("\xc3\xa9", 2));
	CHECK(!ids_id_valid("a\tb", 3));
	char id257[258];
	memset(id257, 'i', 257);
	CHECK(ids_id_valid(id257, 256));
	CHECK(!ids_id_valid(id257, 257));

	ids_rule r = IDS_RULE_MERGE;
	const ids_rule all[] = {IDS_RULE_LWW, IDS_RULE_CLIENT_WINS, IDS_RULE_SERVER_WINS, IDS_RULE_MERGE};
	for (int i = 0; i < 4; i++) {
		CHECK_EQ_INT(ids_rule_parse(ids_rule_name(all[i]), &r), 0);
		CHECK_EQ_INT(r, all[i]);
	}
	CHECK_EQ_STR(ids_rule_name(IDS_RULE_CLIENT_WINS), "client-wins");
	CHECK_EQ_INT(ids_rule_parse("lake-wins", &r), 0);
	CHECK_EQ_INT(r, IDS_RULE_SERVER_WINS);
	CHECK_EQ_INT(ids_rule_parse("LWW", &r), IDS_EINVAL);
	CHECK_EQ_INT(ids_rule_parse("", &r), IDS_EINVAL);
	CHECK_EQ_INT(r, IDS_RULE_SERVER_WINS); /* unchanged on failure */
}

int main(void)
{
	valid_body();
	invalid_bodies();
	limits();
	hlc_skew();
	server_batches();
	names();
	return test_report("test_batch");
}
