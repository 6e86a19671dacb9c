/* Unit tests for the conflict rules (src/core/conflict.c), one rule at a time, on hand-built
 * rows and mutations: last-writer-wins, client-wins, server-wins (origins and base seqs) and
 * the per-field merge (disjoint writers, partial losses, removals by base, deletes). The
 * merged value and per-field meta are checked as JSON text. */
#include "idbsync/sync.h"

#include <stdlib.h>
#include <string.h>

#include "test_util.h"

static hlc_stamp H(int64_t ms, uint32_t ctr, const char *node)
{
	hlc_stamp s;
	s.ms = ms;
	s.counter = ctr;
	snprintf(s.node, sizeof s.node, "%s", node);
	return s;
}

static const char *hs(hlc_stamp s)
{
	static char buf[8][HLC_STR_MAX];
	static int i;
	char *b = buf[i++ % 8];
	hlc_format(&s, b);
	return b;
}

static ids_mutation put(const char *value, hlc_stamp h)
{
	ids_mutation m;
	memset(&m, 0, sizeof m);
	m.id = 1;
	m.store = "s";
	m.op = IDS_OP_PUT;
	m.value = value;
	m.value_len = strlen(value);
	m.hlc = h;
	m.has_hlc = 1;
	return m;
}

static ids_mutation del(hlc_stamp h)
{
	ids_mutation m;
	memset(&m, 0, sizeof m);
	m.id = 1;
	m.store = "s";
	m.op = IDS_OP_DELETE;
	m.hlc = h;
	m.has_hlc = 1;
	return m;
}

static ids_mutation based(ids_mutation m, int64_t base)
{
	m.base = base;
	m.has_base = 1;
	return m;
}

static ids_row row(int64_t seq, hlc_stamp h, ids_origin origin, const char *value, const char *meta)
{
	ids_row r;
	memset(&r, 0, sizeof r);
	r.exists = 1;
	r.deleted = value == NULL;
	r.seq = seq;
	r.hlc = h;
	r.origin = origin;
	r.value = value;
	r.value_len = value ? strlen(value) : 0;
	r.meta = meta;
	r.meta_len = meta ? strlen(meta) : 0;
	return r;
}

static const ids_row none = {0};

/* Runs the rule; d must be freed by the caller. */
static int decide(ids_rule rule, const ids_row *cur, const ids_mutation *m, ids_origin origin, int64_t seq,
		  ids_decision *d)
{
	ids_error err = IDS_ERROR_INIT;
	ids_decision_init(d);
	int rc = ids_conflict_decide(rule, cur, m, origin, seq, d, &err);
	if (rc)
		fprintf(stderr, "  decide failed: %s\n", err.msg);
	return rc;
}

static void lww(void)
{
	ids_decision d;
	hlc_stamp h1 = H(1000, 0, "a"), h2 = H(1000, 1, "a"), h3 = H(2000, 0, "a");
	ids_mutation m = put("{\"x\":1}", h2);

	/* no row yet */
	CHECK_EQ_INT(decide(IDS_RULE_LWW, &none, &m, IDS_ORIGIN_CLIENT, 7, &d), 0);
	CHECK_EQ_INT(d.outcome, IDS_APPLY);
	CHECK_EQ_INT(d.deleted, 0);
	CHECK_EQ_INT(hlc_compare(&d.hlc, &h2), 0);
	CHECK_EQ_INT(d.merged, 0);
	CHECK_EQ_INT(d.value.len, 0);
	ids_decision_free(&d);

	/* newer wins, older loses, equal is the same mutation */
	ids_row r = row(5, h2, IDS_ORIGIN_CLIENT, "{\"x\":0}", NULL);
	m = put("{\"x\":2}", h3);
	decide(IDS_RULE_LWW, &r, &m, IDS_ORIGIN_CLIENT, 7, &d);
	CHECK_EQ_INT(d.outcome, IDS_APPLY);
	CHECK_EQ_STR(hs(d.hlc), hs(h3));
	ids_decision_free(&d);
	m = put("{\"x\":2}", h1);
	decide(IDS_RULE_LWW, &r, &m, IDS_ORIGIN_CLIENT, 7, &d);
	CHECK_EQ_INT(d.outcome, IDS_LOSE);
	CHECK(d.reason && strstr(d.reason, "older"));
	ids_decision_free(&d);
	m = put("{\"x\":2}", h2);
	decide(IDS_RULE_LWW, &r, &m, IDS_ORIGIN_CLIENT, 7, &d);
	CHECK_EQ_INT(d.outcome, IDS_SAME);
	ids_decision_free(&d);
	/* the node id breaks ties between equal (ms, counter) */
	m = put("{\"x\":2}", H(1000, 1, "b"));
	decide(IDS_RULE_LWW, &r, &m, IDS_ORIGIN_CLIENT, 7, &d);
	CHECK_EQ_INT(d.outcome, IDS_APPLY);
	ids_decision_free(&d);
	m = put("{\"x\":2}", H(1000, 1, "Z")); /* 'Z' < 'a' */
	decide(IDS_RULE_LWW, &r, &m, IDS_ORIGIN_CLIENT, 7, &d);
	CHECK_EQ_INT(d.outcome, IDS_LOSE);
	ids_decision_free(&d);

	/* deletes are writes with a stamp: a newer delete wins and leaves a tombstone */
	m = del(h3);
	decide(IDS_RULE_LWW, &r, &m, IDS_ORIGIN_CLIENT, 7, &d);
	CHECK_EQ_INT(d.outcome, IDS_APPLY);
	CHECK_EQ_INT(d.deleted, 1);
	CHECK_EQ_STR(hs(d.hlc), hs(h3));
	ids_decision_free(&d);
	m = del(h1);
	decide(IDS_RULE_LWW, &r, &m, IDS_ORIGIN_CLIENT, 7, &d);
	CHECK_EQ_INT(d.outcome, IDS_LOSE);
	ids_decision_free(&d);
	/* against a tombstone: an older put loses (no resurrection), a newer put wins */
	ids_row t = row(6, h2, IDS_ORIGIN_CLIENT, NULL, NULL);
	m = put("1", h1);
	decide(IDS_RULE_LWW, &t, &m, IDS_ORIGIN_CLIENT, 7, &d);
	CHECK_EQ_INT(d.outcome, IDS_LOSE);
	ids_decision_free(&d);
	m = put("1", h3);
	decide(IDS_RULE_LWW, &t, &m, IDS_ORIGIN_CLIENT, 7, &d);
	CHECK_EQ_INT(d.outcome, IDS_APPLY);
	CHECK_EQ_INT(d.deleted, 0);
	ids_decision_free(&d);
	m = del(h2);
	decide(IDS_RULE_LWW, &t, &m, IDS_ORIGIN_CLIENT, 7, &d);
	CHECK_EQ_INT(d.outcome, IDS_SAME);
	ids_decision_free(&d);
	/* delete of a row that never existed still records a tombstone */
	m = del(h1);
	decide(IDS_RULE_LWW, &none, &m, IDS_ORIGIN_CLIENT, 7, &d);
	CHECK_EQ_INT(d.outcome, IDS_APPLY);
	CHECK_EQ_INT(d.deleted, 1);
	ids_decision_free(&d);
	/* origin does not matter for lww */
	m = put("1", h1);
	decide(IDS_RULE_LWW, &r, &m, IDS_ORIGIN_SERVER, 7, &d);
	CHECK_EQ_INT(d.outcome, IDS_LOSE);
	ids_decision_free(&d);
}

static void client_wins(void)
{
	ids_decision d;
	hlc_stamp h1 = H(1000, 0, "a"), h2 = H(2000, 0, "a"), h3 = H(3000, 0, "a");
	ids_row r = row(5, h2, IDS_ORIGIN_SERVER, "{\"x\":0}", NULL);
	ids_mutation m = put("{\"x\":1}", h1); /* older, still applies */
	decide(IDS_RULE_CLIENT_WINS, &r, &m, IDS_ORIGIN_CLIENT, 7, &d);
	CHECK_EQ_INT(d.outcome, IDS_APPLY);
	CHECK_EQ_INT(d.deleted, 0);
	CHECK_EQ_STR(hs(d.hlc), hs(h2)); /* the row's stamp never goes backwards */
	ids_decision_free(&d);
	m = put("{\"x\":1}", h3);
	decide(IDS_RULE_CLIENT_WINS, &r, &m, IDS_ORIGIN_CLIENT, 7, &d);
	CHECK_EQ_INT(d.outcome, IDS_APPLY);
	CHECK_EQ_STR(hs(d.hlc), hs(h3));
	ids_decision_free(&d);
	m = del(h1);
	decide(IDS_RULE_CLIENT_WINS, &r, &m, IDS_ORIGIN_CLIENT, 7, &d);
	CHECK_EQ_INT(d.outcome, IDS_APPLY);
	CHECK_EQ_INT(d.deleted, 1);
	CHECK_EQ_STR(hs(d.hlc), hs(h2));
	ids_decision_free(&d);
	/* a tombstone is overwritten by an older put too */
	ids_row t = row(6, h3, IDS_ORIGIN_CLIENT, NULL, NULL);
	m = put("2", h1);
	decide(IDS_RULE_CLIENT_WINS, &t, &m, IDS_ORIGIN_CLIENT, 7, &d);
	CHECK_EQ_INT(d.outcome, IDS_APPLY);
	CHECK_EQ_INT(d.deleted, 0);
	CHECK_EQ_STR(hs(d.hlc), hs(h3));
	ids_decision_free(&d);
	m = put("2", h1);
	decide(IDS_RULE_CLIENT_WINS, &none, &m, IDS_ORIGIN_CLIENT, 7, &d);
	CHECK_EQ_INT(d.outcome, IDS_APPLY);
	CHECK_EQ_STR(hs(d.hlc), hs(h1));
	ids_decision_free(&d);
}

static void server_wins(void)
{
	ids_decision d;
	hlc_stamp h1 = H(1000, 0, "a"), h2 = H(2000, 0, "srv"), h3 = H(3000, 0, "a");
	ids_row srow = row(10, h2, IDS_ORIGIN_SERVER, "{\"x\":\"lake\"}", NULL);

	/* client edits based on an older version (or no base at all) lose, even with a newer hlc */
	ids_mutation m = put("{\"x\":1}", h3);
	decide(IDS_RULE_SERVER_WINS, &srow, &m, IDS_ORIGIN_CLIENT, 11, &d);
	CHECK_EQ_INT(d.outcome, IDS_LOSE);
	CHECK(d.reason && strstr(d.reason, "server-wins"));
	ids_decision_free(&d);
	m = based(put("{\"x\":1}", h3), 9);
	decide(IDS_RULE_SERVER_WINS, &srow, &m, IDS_ORIGIN_CLIENT, 11, &d);
	CHECK_EQ_INT(d.outcome, IDS_LOSE);
	ids_decision_free(&d);
	m = based(del(h3), 0);
	decide(IDS_RULE_SERVER_WINS, &srow, &m, IDS_ORIGIN_CLIENT, 11, &d);
	CHECK_EQ_INT(d.outcome, IDS_LOSE);
	ids_decision_free(&d);
	/* an edit based on the server's version (base >= its seq) wins */
	m = based(put("{\"x\":1}", h3), 10);
	decide(IDS_RULE_SERVER_WINS, &srow, &m, IDS_ORIGIN_CLIENT, 11, &d);
	CHECK_EQ_INT(d.outcome, IDS_APPLY);
	CHECK_EQ_STR(hs(d.hlc), hs(h3));
	ids_decision_free(&d);
	m = based(del(h3), 12);
	decide(IDS_RULE_SERVER_WINS, &srow, &m, IDS_ORIGIN_CLIENT, 13, &d);
	CHECK_EQ_INT(d.outcome, IDS_APPLY);
	CHECK_EQ_INT(d.deleted, 1);
	ids_decision_free(&d);
	/* a server-side tombstone also beats unaware client puts */
	ids_row stomb = row(10, h2, IDS_ORIGIN_SERVER, NULL, NULL);
	m = put("{\"x\":1}", h3);
	decide(IDS_RULE_SERVER_WINS, &stomb, &m, IDS_ORIGIN_CLIENT, 11, &d);
	CHECK_EQ_INT(d.outcome, IDS_LOSE);
	ids_decision_free(&d);

	/* SERVER-origin mutations always apply, and never move the stamp backwards */
	ids_row crow = row(10, h3, IDS_ORIGIN_CLIENT, "{\"x\":\"client\"}", NULL);
	m = put("{\"x\":\"lake\"}", h1);
	decide(IDS_RULE_SERVER_WINS, &crow, &m, IDS_ORIGIN_SERVER, 11, &d);
	CHECK_EQ_INT(d.outcome, IDS_APPLY);
	CHECK_EQ_STR(hs(d.hlc), hs(h3));
	ids_decision_free(&d);
	m = del(h1);
	decide(IDS_RULE_SERVER_WINS, &srow, &m, IDS_ORIGIN_SERVER, 11, &d);
	CHECK_EQ_INT(d.outcome, IDS_APPLY);
	CHECK_EQ_INT(d.deleted, 1);
	CHECK_EQ_STR(hs(d.hlc), hs(h2));
	ids_decision_free(&d);
	m = put("1", h1);
	decide(IDS_RULE_SERVER_WINS, &none, &m, IDS_ORIGIN_SERVER, 11, &d);
	CHECK_EQ_INT(d.outcome, IDS_APPLY);
	CHECK_EQ_STR(hs(d.hlc), hs(h1));
	ids_decision_free(&d);

	/* client vs client rows: plain last-writer-wins, base or not */
	m = put("{\"x\":1}", h1);
	decide(IDS_RULE_SERVER_WINS, &crow, &m, IDS_ORIGIN_CLIENT, 11, &d);
	CHECK_EQ_INT(d.outcome, IDS_LOSE);
	CHECK(d.reason && strstr(d.reason, "last-writer-wins"));
	ids_decision_free(&d);
	m = based(put("{\"x\":1}", h1), 99);
	decide(IDS_RULE_SERVER_WINS, &crow, &m, IDS_ORIGIN_CLIENT, 11, &d);
	CHECK_EQ_INT(d.outcome, IDS_LOSE);
	ids_decision_free(&d);
	m = put("{\"x\":1}", H(4000, 0, "b"));
	decide(IDS_RULE_SERVER_WINS, &crow, &m, IDS_ORIGIN_CLIENT, 11, &d);
	CHECK_EQ_INT(d.outcome, IDS_APPLY);
	ids_decision_free(&d);
	m = put("{\"x\":1}", h3);
	decide(IDS_RULE_SERVER_WINS, &crow, &m, IDS_ORIGIN_CLIENT, 11, &d);
	CHECK_EQ_INT(d.outcome, IDS_SAME);
	ids_decision_free(&d);
	m = put("{\"x\":1}", h1);
	decide(IDS_RULE_SERVER_WINS, &none, &m, IDS_ORIGIN_CLIENT, 11, &d);
	CHECK_EQ_INT(d.outcome, IDS_APPLY);
	ids_decision_free(&d);
}

/* ---- merge ---- */

static void merge_basic(void)
{
	ids_decision d;
	hlc_stamp h1 = H(1000, 0, "w1"), h2 = H(2000, 0, "w2"), h3 = H(3000, 0, "w1"), h4 = H(4000, 0, "w2");
	char want[512];

	/* first write: value as sent (minified per field), one stamp per field */
	ids_mutation m = put("{\"a\": 1, \"b\" : [1, 2]}", h1);
	CHECK_EQ_INT(decide(IDS_RULE_MERGE, &none, &m, IDS_ORIGIN_CLIENT, 1, &d), 0);
	CHECK_EQ_INT(d.outcome, IDS_APPLY);
	CHECK_EQ_INT(d.merged, 1);
	CHECK_EQ_INT(d.partial, 0);
	CHECK_EQ_INT(d.deleted, 0);
	CHECK_EQ_STR(d.value.data, "{\"a\":1,\"b\":[1, 2]}");
	snprintf(want, sizeof want, "{\"f\":{\"a\":[\"%s\",1],\"b\":[\"%s\",1]}}", hs(h1), hs(h1));
	CHECK_EQ_STR(d.meta.data, want);
	CHECK_EQ_STR(hs(d.hlc), hs(h1));
	ids_decision_free(&d);

	/* two writers touch disjoint fields: both survive, whatever the order of their stamps */
	char meta1[256];
	snprintf(meta1, sizeof meta1, "{\"f\":{\"a\":[\"%s\",1]}}", hs(h2));
	ids_row r = row(1, h2, IDS_ORIGIN_CLIENT, "{\"a\":1}", meta1);
	m = put("{\"b\":2}", h1); /* older stamp, other field */
	decide(IDS_RULE_MERGE, &r, &m, IDS_ORIGIN_CLIENT, 2, &d);
	CHECK_EQ_INT(d.outcome, IDS_APPLY);
	CHECK_EQ_INT(d.partial, 0);
	CHECK_EQ_STR(d.value.data, "{\"a\":1,\"b\":2}");
	snprintf(want, sizeof want, "{\"f\":{\"a\":[\"%s\",1],\"b\":[\"%s\",2]}}", hs(h2), hs(h1));
	CHECK_EQ_STR(d.meta.data, want);
	CHECK_EQ_STR(hs(d.hlc), hs(h2)); /* the row stamp is the max */
	ids_decision_free(&d);
	m = put("{\"b\":2}", h3); /* newer stamp, other field; no base so "a" is not a removal */
	decide(IDS_RULE_MERGE, &r, &m, IDS_ORIGIN_CLIENT, 2, &d);
	CHECK_EQ_INT(d.outcome, IDS_APPLY);
	CHECK_EQ_STR(d.value.data, "{\"a\":1,\"b\":2}");
	CHECK_EQ_STR(hs(d.hlc), hs(h3));
	ids_decision_free(&d);

	/* same field: the newer stamp wins, an older write loses entirely */
	m = put("{\"a\":5}", h3);
	decide(IDS_RULE_MERGE, &r, &m, IDS_ORIGIN_CLIENT, 2, &d);
	CHECK_EQ_INT(d.outcome, IDS_APPLY);
	CHECK_EQ_STR(d.value.data, "{\"a\":5}");
	snprintf(want, sizeof want, "{\"f\":{\"a\":[\"%s\",2]}}", hs(h3));
	CHECK_EQ_STR(d.meta.data, want);
	ids_decision_free(&d);
	m = put("{\"a\":5}", h1);
	decide(IDS_RULE_MERGE, &r, &m, IDS_ORIGIN_CLIENT, 2, &d);
	CHECK_EQ_INT(d.outcome, IDS_LOSE);
	CHECK(d.reason && strstr(d.reason, "merge"));
	CHECK_EQ_STR(d.lost.data, "[\"a\"]");
	ids_decision_free(&d);

	/* mixed: the older field write loses, the rest applies (partial, with `lost`) */
	char meta2[256];
	snprintf(meta2, sizeof meta2, "{\"f\":{\"a\":[\"%s\",3],\"b\":[\"%s\",1],\"c\":[\"%s\",2]}}", hs(h3), hs(h1),
		 hs(h3));
	ids_row r2 = row(3, h3, IDS_ORIGIN_CLIENT, "{\"a\":1,\"b\":2,\"c\":3}", meta2);
	m = put("{\"a\":9,\"b\":8,\"c\":7,\"d\":6}", h2);
	decide(IDS_RULE_MERGE, &r2, &m, IDS_ORIGIN_CLIENT, 4, &d);
	CHECK_EQ_INT(d.outcome, IDS_APPLY);
	CHECK_EQ_INT(d.partial, 1);
	CHECK_EQ_STR(d.lost.data, "[\"a\",\"c\"]");
	CHECK_EQ_STR(d.value.data, "{\"a\":1,\"b\":8,\"c\":3,\"d\":6}");
	snprintf(want, sizeof want, "{\"f\":{\"a\":[\"%s\",3],\"b\":[\"%s\",4],\"c\":[\"%s\",2],\"d\":[\"%s\",4]}}",
		 hs(h3), hs(h2), hs(h3), hs(h2));
	CHECK_EQ_STR(d.meta.data, want);
	CHECK_EQ_STR(hs(d.hlc), hs(h3));
	ids_decision_free(&d);

	/* a row written by another rule (no meta): every field carries the row's stamp and seq */
	ids_row plain = row(8, h2, IDS_ORIGIN_CLIENT, "{\"a\":1,\"b\":2}", NULL);
	m = put("{\"a\":3,\"b\":4}", h1);
	decide(IDS_RULE_MERGE, &plain, &m, IDS_ORIGIN_CLIENT, 9, &d);
	CHECK_EQ_INT(d.outcome, IDS_LOSE);
	ids_decision_free(&d);
	m = put("{\"b\":4}", h4);
	decide(IDS_RULE_MERGE, &plain, &m, IDS_ORIGIN_CLIENT, 9, &d);
	CHECK_EQ_INT(d.outcome, IDS_APPLY);
	CHECK_EQ_STR(d.value.data, "{\"a\":1,\"b\":4}");
	snprintf(want, sizeof want, "{\"f\":{\"a\":[\"%s\",8],\"b\":[\"%s\",9]}}", hs(h2), hs(h4));
	CHECK_EQ_STR(d.meta.data, want);
	ids_decision_free(&d);

	/* escaped field names are unescaped for matching and re-escaped on output */
	ids_row esc = row(1, h1, IDS_ORIGIN_CLIENT, "{\"q\\\"k\":1,\"\\u00e9\":2}", NULL);
	m = put("{\"q\\u0022k\":5}", h2);
	decide(IDS_RULE_MERGE, &esc, &m, IDS_ORIGIN_CLIENT, 2, &d);
	CHECK_EQ_INT(d.outcome, IDS_APPLY);
	CHECK_EQ_STR(d.value.data, "{\"q\\\"k\":5,\"\xc3\xa9\":2}");
	ids_decision_free(&d);
}

static void merge_removals(void)
{
	ids_decision d;
	hlc_stamp h1 = H(1000, 0, "w1"), h2 = H(2000, 0, "w2"), h3 = H(3000, 0, "w1"), h4 = H(4000, 0, "w2"),
		  h5 = H(5000, 0, "w1");
	char meta[256], want[512];
	/* a written at seq 5, b at seq 7 */
	snprintf(meta, sizeof meta, "{\"f\":{\"a\":[\"%s\",5],\"b\":[\"%s\",7]}}", hs(h1), hs(h2));
	ids_row r = row(7, h2, IDS_ORIGIN_CLIENT, "{\"a\":1,\"b\":2}", meta);

	/* the client saw seq 6 only: it did not know b, so b's absence is not a removal */
	ids_mutation m = based(put("{\"a\":3}", h3), 6);
	decide(IDS_RULE_MERGE, &r, &m, IDS_ORIGIN_CLIENT, 8, &d);
	CHECK_EQ_INT(d.outcome, IDS_APPLY);
	CHECK_EQ_STR(d.value.data, "{\"a\":3,\"b\":2}");
	ids_decision_free(&d);
	/* no base: same */
	m = put("{\"a\":3}", h3);
	decide(IDS_RULE_MERGE, &r, &m, IDS_ORIGIN_CLIENT, 8, &d);
	CHECK_EQ_STR(d.value.data, "{\"a\":3,\"b\":2}");
	ids_decision_free(&d);
	/* base >= b's seq: the client saw b and dropped it */
	m = based(put("{\"a\":3}", h3), 7);
	decide(IDS_RULE_MERGE, &r, &m, IDS_ORIGIN_CLIENT, 8, &d);
	CHECK_EQ_INT(d.outcome, IDS_APPLY);
	CHECK_EQ_INT(d.partial, 0);
	CHECK_EQ_STR(d.value.data, "{\"a\":3}");
	/* b stays in meta as a removed field with the remover's stamp */
	snprintf(want, sizeof want, "{\"f\":{\"a\":[\"%s\",8],\"b\":[\"%s\",8]}}", hs(h3), hs(h3));
	CHECK_EQ_STR(d.meta.data, want);
	ids_decision_free(&d);
	/* base high enough but the removal is older than b's write: b stays */
	char meta2[256];
	snprintf(meta2, sizeof meta2, "{\"f\":{\"a\":[\"%s\",5],\"b\":[\"%s\",7]}}", hs(h1), hs(h4));
	ids_row r2 = row(7, h4, IDS_ORIGIN_CLIENT, "{\"a\":1,\"b\":2}", meta2);
	m = based(put("{\"a\":3}", h3), 7);
	decide(IDS_RULE_MERGE, &r2, &m, IDS_ORIGIN_CLIENT, 8, &d);
	CHECK_EQ_STR(d.value.data, "{\"a\":3,\"b\":2}");
	ids_decision_free(&d);
	/* an empty object with a full base removes every field */
	m = based(put("{}", h3), 7);
	decide(IDS_RULE_MERGE, &r, &m, IDS_ORIGIN_CLIENT, 8, &d);
	CHECK_EQ_INT(d.outcome, IDS_APPLY);
	CHECK_EQ_STR(d.value.data, "{}");
/* Regression (fixed; src/core/conflict.c merge/emit): a put whose merged object has no
			 * fields sets d->deleted (emit: deleted = !any), so put(key, {}) turns the row into
			 * a tombstone; the client that wrote {} still has the row, every other client
			 * deletes it. Expected: a live row with value {}. */
	CHECK_EQ_INT(d.deleted, 0);
	ids_decision_free(&d);
	/* put of an empty object on a new row */
	m = put("{}", h3);
	decide(IDS_RULE_MERGE, &none, &m, IDS_ORIGIN_CLIENT, 8, &d);
/* Regression (fixed; src/core/conflict.c merge): put(key, {}) on a row that does not exist
			 * changes no field, so merge returns IDS_LOSE ("every field it writes has a newer
			 * version") and the row is never created. Expected IDS_APPLY, value {}, live. */
	CHECK_EQ_INT(d.outcome, IDS_APPLY);
	CHECK_EQ_INT(d.deleted, 0);
	ids_decision_free(&d);
	/* a removed field comes back with a newer write, but not with an older one */
	snprintf(meta, sizeof meta, "{\"f\":{\"a\":[\"%s\",8],\"b\":[\"%s\",8]}}", hs(h3), hs(h3));
	ids_row r3 = row(8, h3, IDS_ORIGIN_CLIENT, "{\"a\":3}", meta);
	m = put("{\"b\":5}", h2);
	decide(IDS_RULE_MERGE, &r3, &m, IDS_ORIGIN_CLIENT, 9, &d);
	CHECK_EQ_INT(d.outcome, IDS_LOSE);
	ids_decision_free(&d);
	m = put("{\"b\":5}", h5);
	decide(IDS_RULE_MERGE, &r3, &m, IDS_ORIGIN_CLIENT, 9, &d);
	CHECK_EQ_INT(d.outcome, IDS_APPLY);
	CHECK_EQ_STR(d.value.data, "{\"a\":3,\"b\":5}");
	ids_decision_free(&d);
}

static void merge_deletes(void)
{
	ids_decision d;
	hlc_stamp h1 = H(1000, 0, "w1"), h2 = H(2000, 0, "w2"), h3 = H(3000, 0, "w1"), h4 = H(4000, 0, "w2"),
		  h5 = H(5000, 0, "w1");
	char meta[256], want[512];
	snprintf(meta, sizeof meta, "{\"f\":{\"a\":[\"%s\",1],\"b\":[\"%s\",2]}}", hs(h1), hs(h3));
	ids_row r = row(2, h3, IDS_ORIGIN_CLIENT, "{\"a\":1,\"b\":2}", meta);

	/* a delete between the two field writes removes a, keeps the newer b (partial) */
	ids_mutation m = del(h2);
	decide(IDS_RULE_MERGE, &r, &m, IDS_ORIGIN_CLIENT, 3, &d);
	CHECK_EQ_INT(d.outcome, IDS_APPLY);
	CHECK_EQ_INT(d.deleted, 0);
	CHECK_EQ_INT(d.partial, 1);
	CHECK_EQ_STR(d.lost.data, "[\"b\"]");
	CHECK_EQ_STR(d.value.data, "{\"b\":2}");
	snprintf(want, sizeof want, "{\"d\":\"%s\",\"f\":{\"a\":[\"%s\",3],\"b\":[\"%s\",2]}}", hs(h2), hs(h2), hs(h3));
	CHECK_EQ_STR(d.meta.data, want);
	CHECK_EQ_STR(hs(d.hlc), hs(h3));
	ids_decision_free(&d);

	/* a delete newer than everything: tombstone */
	m = del(h4);
	decide(IDS_RULE_MERGE, &r, &m, IDS_ORIGIN_CLIENT, 3, &d);
	CHECK_EQ_INT(d.outcome, IDS_APPLY);
	CHECK_EQ_INT(d.deleted, 1);
	CHECK_EQ_INT(d.partial, 0);
	CHECK_EQ_STR(hs(d.hlc), hs(h4));
	snprintf(want, sizeof want, "\"d\":\"%s\"", hs(h4));
	CHECK_HAS(d.meta.data, want);
	ids_decision_free(&d);

	/* a delete older than every field loses */
	m = del(H(500, 0, "w1"));
	decide(IDS_RULE_MERGE, &r, &m, IDS_ORIGIN_CLIENT, 3, &d);
	CHECK(d.outcome == IDS_LOSE || (d.outcome == IDS_APPLY && d.partial && !d.deleted));
	CHECK_EQ_STR(d.lost.data, "[\"a\",\"b\"]");
	ids_decision_free(&d);

	/* after a merge delete (tombstone with "d"), an older put loses, a newer one resurrects */
	snprintf(meta, sizeof meta, "{\"d\":\"%s\",\"f\":{\"a\":[\"%s\",3],\"b\":[\"%s\",3]}}", hs(h4), hs(h4), hs(h4));
	ids_row t = row(3, h4, IDS_ORIGIN_CLIENT, NULL, meta);
	m = put("{\"c\":1}", h2); /* a field the delete never saw, but older than the delete */
	decide(IDS_RULE_MERGE, &t, &m, IDS_ORIGIN_CLIENT, 4, &d);
	CHECK_EQ_INT(d.outcome, IDS_LOSE);
	CHECK_EQ_STR(d.lost.data, "[\"c\"]");
	ids_decision_free(&d);
	m = put("{\"a\":7}", h5);
	decide(IDS_RULE_MERGE, &t, &m, IDS_ORIGIN_CLIENT, 4, &d);
	CHECK_EQ_INT(d.outcome, IDS_APPLY);
	CHECK_EQ_INT(d.deleted, 0);
	CHECK_EQ_STR(d.value.data, "{\"a\":7}");
	snprintf(want, sizeof want, "\"d\":\"%s\"", hs(h4));
	CHECK_HAS(d.meta.data, want); /* the delete stamp is kept for later stragglers */
	ids_decision_free(&d);

	/* a plain tombstone (no meta, e.g. from lww): its stamp acts as the delete stamp */
	ids_row pt = row(3, h3, IDS_ORIGIN_CLIENT, NULL, NULL);
	m = put("{\"a\":1}", h2);
	decide(IDS_RULE_MERGE, &pt, &m, IDS_ORIGIN_CLIENT, 4, &d);
	CHECK_EQ_INT(d.outcome, IDS_LOSE);
	ids_decision_free(&d);
	m = put("{\"a\":1}", h4);
	decide(IDS_RULE_MERGE, &pt, &m, IDS_ORIGIN_CLIENT, 4, &d);
	CHECK_EQ_INT(d.outcome, IDS_APPLY);
	CHECK_EQ_STR(d.value.data, "{\"a\":1}");
	ids_decision_free(&d);

	/* delete of an unknown row: a tombstone with its stamp */
	m = del(h1);
	decide(IDS_RULE_MERGE, &none, &m, IDS_ORIGIN_CLIENT, 1, &d);
	CHECK_EQ_INT(d.outcome, IDS_APPLY);
	CHECK_EQ_INT(d.deleted, 1);
	snprintf(want, sizeof want, "{\"d\":\"%s\",\"f\":{}}", hs(h1));
	CHECK_EQ_STR(d.meta.data, want);
	ids_decision_free(&d);
	/* a second, older delete of a tombstone changes nothing */
	m = del(h2);
	decide(IDS_RULE_MERGE, &t, &m, IDS_ORIGIN_CLIENT, 4, &d);
	CHECK_EQ_INT(d.outcome, IDS_LOSE);
	ids_decision_free(&d);
}

static void merge_fallbacks(void)
{
	ids_decision d;
	hlc_stamp h1 = H(1000, 0, "w1"), h2 = H(2000, 0, "w2"), h3 = H(3000, 0, "w1");
	/* non-object values have no fields: whole-value last-writer-wins */
	ids_row r = row(2, h2, IDS_ORIGIN_CLIENT, "{\"a\":1}", NULL);
	ids_mutation m = put("5", h3);
	decide(IDS_RULE_MERGE, &r, &m, IDS_ORIGIN_CLIENT, 3, &d);
	CHECK_EQ_INT(d.outcome, IDS_APPLY);
	CHECK_EQ_INT(d.merged, 0);
	ids_decision_free(&d);
	m = put("[1,2]", h1);
	decide(IDS_RULE_MERGE, &r, &m, IDS_ORIGIN_CLIENT, 3, &d);
	CHECK_EQ_INT(d.outcome, IDS_LOSE);
	CHECK_EQ_INT(d.merged, 0);
	ids_decision_free(&d);
	ids_row arr = row(2, h2, IDS_ORIGIN_CLIENT, "[1]", NULL);
	m = put("{\"a\":1}", h1);
	decide(IDS_RULE_MERGE, &arr, &m, IDS_ORIGIN_CLIENT, 3, &d);
	CHECK_EQ_INT(d.outcome, IDS_LOSE);
	ids_decision_free(&d);
	m = put("{\"a\":1}", h3);
	decide(IDS_RULE_MERGE, &arr, &m, IDS_ORIGIN_CLIENT, 3, &d);
	CHECK_EQ_INT(d.outcome, IDS_APPLY);
	CHECK_EQ_INT(d.merged, 0);
	ids_decision_free(&d);
	m = put("\"s\"", h2);
	decide(IDS_RULE_MERGE, &arr, &m, IDS_ORIGIN_CLIENT, 3, &d);
	CHECK_EQ_INT(d.outcome, IDS_SAME);
	ids_decision_free(&d);
	/* a put with invalid JSON is an error, not a crash */
	ids_error err = IDS_ERROR_INIT;
	m = put("{\"a\":", h3);
	ids_decision_init(&d);
	CHECK_EQ_INT(ids_conflict_decide(IDS_RULE_MERGE, &r, &m, IDS_ORIGIN_CLIENT, 3, &d, &err), IDS_EINVAL);
	ids_decision_free(&d);

/* Regression (fixed; src/core/conflict.c merge): re-deciding the exact mutation that wrote
			 * the row (same hlc) returns IDS_LOSE with reason "every field it writes has a
			 * newer version" instead of IDS_SAME like the other rules; the fields are equal,
			 * not newer, and the ledger would log a spurious conflict. */
	char meta[128];
	snprintf(meta, sizeof meta, "{\"f\":{\"a\":[\"%s\",2]}}", hs(h2));
	ids_row same = row(2, h2, IDS_ORIGIN_CLIENT, "{\"a\":1}", meta);
	m = put("{\"a\":1}", h2);
	decide(IDS_RULE_MERGE, &same, &m, IDS_ORIGIN_CLIENT, 3, &d);
	CHECK_EQ_INT(d.outcome, IDS_SAME);
	ids_decision_free(&d);
}

/* Property: applying the same set of single-field writes in any order converges (merge is
 * commutative per field). Uses decide's own value/meta as the next row. */
static void merge_converges(void)
{
	enum { W = 6 };
	const char *fields[] = {"a", "b", "c"};
	int bad = 0;
	for (int iter = 0; iter < 300; iter++) {
		char vals[W][32];
		hlc_stamp hs_[W];
		for (int i = 0; i < W; i++) {
			snprintf(vals[i], sizeof vals[i], "{\"%s\":%d}", fields[test_rand64() % 3], i);
			hs_[i] = H(1000 + (int64_t)(test_rand64() % 50), 0, i % 2 ? "x" : "y");
			hs_[i].counter = (uint32_t)i; /* distinct stamps */
		}
		char result[2][512];
		for (int pass = 0; pass < 2; pass++) {
			int order[W];
			for (int i = 0; i < W; i++)
				order[i] = pass ? W - 1 - i : i;
			char value[512] = "", metab[1024] = "";
			hlc_stamp rh = {0};
			int exists = 0;
			for (int k = 0; k < W; k++) {
				int i = order[k];
				ids_row r = exists ? row(k, rh, IDS_ORIGIN_CLIENT, value, metab) : none;
				ids_mutation m = put(vals[i], hs_[i]);
				ids_decision d;
				decide(IDS_RULE_MERGE, &r, &m, IDS_ORIGIN_CLIENT, k + 1, &d);
				if (d.outcome == IDS_APPLY) {
					snprintf(value, sizeof value, "%s", d.value.data);
					snprintf(metab, sizeof metab, "%s", d.meta.data);
					rh = d.hlc;
					exists = 1;
				}
				ids_decision_free(&d);
			}
			/* compare field by field (order of keys may differ) */
			snprintf(result[pass], sizeof result[pass], "%s", value);
		}
		/* each field's final value is the one with the greatest stamp among its writers */
		for (int f = 0; f < 3; f++) {
			int best = -1;
			for (int i = 0; i < W; i++) {
				char key[8];
				snprintf(key, sizeof key, "{\"%s\":", fields[f]);
				if (strncmp(vals[i], key, strlen(key)) == 0 &&
				    (best < 0 || hlc_compare(&hs_[i], &hs_[best]) > 0))
					best = i;
			}
			if (best < 0)
				continue;
			char frag[16];
			snprintf(frag, sizeof frag, "\"%s\":%d", fields[f], best);
			for (int pass = 0; pass < 2; pass++)
				if (!strstr(result[pass], frag) && bad++ < 5)
					fprintf(stderr, "  pass %d: %s lacks %s\n", pass, result[pass], frag);
		}
	}
	CHECK_EQ_INT(bad, 0);
}

int main(void)
{
	lww();
	client_wins();
	server_wins();
	merge_basic();
	merge_removals();
	merge_deletes();
	merge_fallbacks();
	merge_converges();
	return test_report("test_conflict");
}
