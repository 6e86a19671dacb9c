/* Unit tests for the state ledger (src/ledger/), driven through its public API in a temp dir:
 * push/pull, idempotent retries, id gaps, the server-wins and merge rules end to end, user
 * scoping (403 on shared rows), tombstone GC with 410 for old cursors, reopen after close,
 * a durable ledger, and concurrent pushers sharing group commits. The same suite runs on the
 * PostgreSQL backend when IDBSYNC_TEST_PG is set (tests/pg/ledger.test.mjs), less what only SQLite
 * has: the field registry of the analytics views. */
#include <pthread.h>
#include <sqlite3.h>
#include <unistd.h>

#include "ledger_test.h"

/* ---- tests ---- */

static void push_pull(ledger *lg)
{
	ledger_push_result r;
	ids_error err = IDS_ERROR_INIT;
	int rc = push(lg, "db1", "",
		      "{\"client\":\"c1\",\"mutations\":["
		      "{\"id\":1,\"store\":\"s\",\"op\":\"put\",\"key\":\"a\",\"value\":{\"v\":1}},"
		      "{\"id\":2,\"store\":\"s\",\"op\":\"put\",\"key\":\"b\",\"value\":{ \"v\" : 2 }},"
		      "{\"id\":3,\"store\":\"s\",\"op\":\"delete\",\"key\":\"a\"},"
		      "{\"id\":4,\"store\":\"t\",\"op\":\"put\",\"key\":[1,{\"$date\":\"2024-01-01T00:00:00Z\"}],"
		      "\"value\":{\"d\":{\"$date\":null},\"n\":{\"$num\":\"NaN\"}}}]}",
		      &r, &err);
	if (!CHECK_EQ_INT(rc, 0))
		fprintf(stderr, "  %s\n", err.msg);
	CHECK_EQ_INT(r.applied, 4);
	CHECK_EQ_INT(r.duplicates, 0);
	CHECK_EQ_INT(r.conflicts, 0);
	CHECK_EQ_INT(r.ack, 4);
	CHECK_EQ_INT(r.expected, 5);
	CHECK_EQ_INT(r.gap, 0);
	CHECK_EQ_INT(r.cursor, 4);
	CHECK_EQ_INT(ledger_head(lg), 4);
	ledger_push_result_free(&r);

	/* compacted feed: "a" appears once, as its delete */
	pulled *p = pull(lg, "db1", "", NULL, 0, 0);
	CHECK_EQ_INT(p->rc, 0);
	CHECK_EQ_INT(p->count, 3);
	CHECK_EQ_INT(p->parsed, 3);
	CHECK_EQ_INT(p->cursor, 4);
	CHECK_EQ_INT(p->json_cursor, 4);
	CHECK_EQ_INT(p->more, 0);
	CHECK_EQ_STR(p->c[0].key, "\"b\"");
	CHECK_EQ_INT(p->c[0].seq, 2);
	CHECK_EQ_INT(p->c[0].del, 0);
	CHECK_EQ_STR(p->c[0].value, "{\"v\":2}");
	CHECK_EQ_STR(p->c[0].store, "s");
	CHECK_EQ_STR(p->c[1].key, "\"a\"");
	CHECK_EQ_INT(p->c[1].del, 1);
	CHECK_EQ_INT(p->c[1].seq, 3);
	CHECK_EQ_STR(p->c[1].value, ""); /* no value on deletes */
	CHECK_EQ_STR(p->c[2].store, "t");
	CHECK_EQ_STR(p->c[2].key, "[1,{\"$date\":\"2024-01-01T00:00:00.000Z\"}]");
	CHECK_EQ_STR(p->c[2].value, "{\"d\":{\"$date\":null},\"n\":{\"$num\":\"NaN\"}}");
	hlc_stamp st;
	CHECK_EQ_INT(hlc_parse(&st, p->c[0].hlc, strlen(p->c[0].hlc), NULL), 0); /* server-stamped */
	CHECK_EQ_STR(st.node, ledger_clock(lg)->node);

	/* the value is stored byte for byte as sent */
	ids_buf out = IDS_BUF_INIT;
	ledger_pull_req req = {.db = "db1", .user = "", .since = 1, .limit = 1};
	int64_t cur;
	int cnt;
	CHECK_EQ_INT(ledger_pull(lg, &req, &out, &cur, &cnt, &err), 0);
	CHECK_HAS(out.data, "\"value\":{ \"v\" : 2 }");
	ids_buf_free(&out);

	/* paging */
	p = pull(lg, "db1", "", NULL, 0, 2);
	CHECK_EQ_INT(p->count, 2);
	CHECK_EQ_INT(p->more, 1);
	CHECK_EQ_INT(p->cursor, 3);
	p = pull(lg, "db1", "", NULL, 3, 2);
	CHECK_EQ_INT(p->count, 1);
	CHECK_EQ_INT(p->more, 0);
	CHECK_EQ_INT(p->cursor, 4);
	p = pull(lg, "db1", "", NULL, 4, 0);
	CHECK_EQ_INT(p->count, 0);
	CHECK_EQ_INT(p->cursor, 4);
	/* a byte budget cuts the page early but always sends at least one change */
	for (size_t mb = 1; mb <= 2; mb++) {
		ledger_pull_req rq = {.db = "db1", .user = "", .since = 0, .limit = 100, .max_bytes = mb};
		ids_buf o = IDS_BUF_INIT;
		int64_t c2 = -1;
		int n2 = -1;
		CHECK_EQ_INT(ledger_pull(lg, &rq, &o, &c2, &n2, &err), 0);
		CHECK_EQ_INT(n2, 1);
		CHECK_EQ_INT(c2, 2);
		CHECK_HAS(o.data, "\"more\":true");
		ids_buf_free(&o);
	}
	/* unknown database: empty, cursor at the head */
	p = pull(lg, "nope", "", NULL, 0, 0);
	CHECK_EQ_INT(p->rc, 0);
	CHECK_EQ_INT(p->count, 0);

	/* equal keys are one row: 1, 1.0 and -0/0 */
	rc = push(lg, "db1", "",
		  "{\"client\":\"c1\",\"mutations\":["
		  "{\"id\":5,\"store\":\"n\",\"op\":\"put\",\"key\":1,\"value\":\"one\"},"
		  "{\"id\":6,\"store\":\"n\",\"op\":\"put\",\"key\":1.0,\"value\":\"uno\"},"
		  "{\"id\":7,\"store\":\"n\",\"op\":\"put\",\"key\":-0,\"value\":\"zero\"},"
		  "{\"id\":8,\"store\":\"n\",\"op\":\"put\",\"key\":0,\"value\":\"cero\"}]}",
		  &r, &err);
	CHECK_EQ_INT(rc, 0);
	CHECK_EQ_INT(r.applied, 4);
	ledger_push_result_free(&r);
	p = pull(lg, "db1", "", NULL, 4, 0);
	CHECK_EQ_INT(p->count, 2);
	CHECK(find_key(p, "1") && !strcmp(find_key(p, "1")->value, "\"uno\""));
	CHECK(find_key(p, "0") && !strcmp(find_key(p, "0")->value, "\"cero\""));

	/* store listing */
	out = (ids_buf)IDS_BUF_INIT;
	CHECK_EQ_INT(ledger_list_json(lg, "db1", "", &out, &err), 0);
	CHECK_EQ_STR(out.data, "{\"stores\":[{\"name\":\"n\",\"rows\":2,\"tombstones\":0,\"conflict\":\"lww\"},"
			       "{\"name\":\"s\",\"rows\":1,\"tombstones\":1,\"conflict\":\"lww\"},"
			       "{\"name\":\"t\",\"rows\":1,\"tombstones\":0,\"conflict\":\"lww\"}]}");
	ids_buf_free(&out);
	CHECK(atomic_load(&ledger_get_stats(lg)->mutations_applied) >= 8);
}

static void idempotency_and_gaps(ledger *lg)
{
	ledger_push_result r;
	ids_error err = IDS_ERROR_INIT;
	const char *b123 = "{\"client\":\"idem\",\"mutations\":["
			   "{\"id\":1,\"store\":\"s\",\"op\":\"put\",\"key\":1,\"value\":1},"
			   "{\"id\":2,\"store\":\"s\",\"op\":\"put\",\"key\":2,\"value\":2},"
			   "{\"id\":3,\"store\":\"s\",\"op\":\"put\",\"key\":1,\"value\":3}]}";
	CHECK_EQ_INT(push(lg, "db2", "", b123, &r, &err), 0);
	CHECK_EQ_INT(r.applied, 3);
	CHECK_EQ_INT(r.ack, 3);
	int64_t head = ledger_head(lg);
	ledger_push_result_free(&r);
	long long dup0 = atomic_load(&ledger_get_stats(lg)->mutations_duplicate);

	/* the same batch again (the ack got lost): all duplicates, nothing applied twice */
	CHECK_EQ_INT(push(lg, "db2", "", b123, &r, &err), 0);
	CHECK_EQ_INT(r.applied, 0);
	CHECK_EQ_INT(r.duplicates, 3);
	CHECK_EQ_INT(r.ack, 3);
	CHECK_EQ_INT(r.expected, 4);
	CHECK_EQ_INT(ledger_head(lg), head);
	ledger_push_result_free(&r);
	CHECK_EQ_INT(atomic_load(&ledger_get_stats(lg)->mutations_duplicate) - dup0, 3);
	pulled *p = pull(lg, "db2", "", NULL, 0, 0);
	CHECK_EQ_INT(p->count, 2);
	CHECK(find_key(p, "1") && !strcmp(find_key(p, "1")->value, "3"));

	/* overlapping retry: 2,3 are duplicates, 4,5 are new */
	CHECK_EQ_INT(pushf(lg, "db2", "", &r, &err,
			   "{\"client\":\"idem\",\"mutations\":["
			   "{\"id\":2,\"store\":\"s\",\"op\":\"put\",\"key\":2,\"value\":\"changed?\"},"
			   "{\"id\":3,\"store\":\"s\",\"op\":\"put\",\"key\":1,\"value\":\"changed?\"},"
			   "{\"id\":4,\"store\":\"s\",\"op\":\"put\",\"key\":4,\"value\":4},"
			   "{\"id\":5,\"store\":\"s\",\"op\":\"delete\",\"key\":2}]}"),
		     0);
	CHECK_EQ_INT(r.duplicates, 2);
	CHECK_EQ_INT(r.applied, 2);
	CHECK_EQ_INT(r.ack, 5);
	CHECK_EQ_INT(ledger_head(lg), head + 2);
	ledger_push_result_free(&r);
	p = pull(lg, "db2", "", NULL, 0, 0);
	CHECK(find_key(p, "1") && !strcmp(find_key(p, "1")->value, "3"));
	CHECK(find_key(p, "2") && find_key(p, "2")->del);

	/* a gap stops the batch: nothing after the missing id is applied, the ack stays */
	head = ledger_head(lg);
	CHECK_EQ_INT(pushf(lg, "db2", "", &r, &err,
			   "{\"client\":\"idem\",\"mutations\":["
			   "{\"id\":7,\"store\":\"s\",\"op\":\"put\",\"key\":7,\"value\":7},"
			   "{\"id\":8,\"store\":\"s\",\"op\":\"put\",\"key\":8,\"value\":8}]}"),
		     0);
	CHECK_EQ_INT(r.gap, 1);
	CHECK_EQ_INT(r.applied, 0);
	CHECK_EQ_INT(r.ack, 5);
	CHECK_EQ_INT(r.expected, 6);
	CHECK_EQ_INT(ledger_head(lg), head);
	ledger_push_result_free(&r);
	/* 6 fills the gap, 8 is beyond the next gap */
	CHECK_EQ_INT(pushf(lg, "db2", "", &r, &err,
			   "{\"client\":\"idem\",\"mutations\":["
			   "{\"id\":6,\"store\":\"s\",\"op\":\"put\",\"key\":6,\"value\":6},"
			   "{\"id\":8,\"store\":\"s\",\"op\":\"put\",\"key\":8,\"value\":8}]}"),
		     0);
	CHECK_EQ_INT(r.applied, 1);
	CHECK_EQ_INT(r.gap, 1);
	CHECK_EQ_INT(r.ack, 6);
	ledger_push_result_free(&r);
	p = pull(lg, "db2", "", NULL, 0, 0);
	CHECK(find_key(p, "6") != NULL);
	CHECK(find_key(p, "8") == NULL);
	/* a new client must start at 1 */
	CHECK_EQ_INT(pushf(lg, "db2", "", &r, &err,
			   "{\"client\":\"late\",\"mutations\":[{\"id\":2,\"store\":\"s\",\"op\":\"put\",\"key\":9,\"value\":9}]}"),
		     0);
	CHECK_EQ_INT(r.gap, 1);
	CHECK_EQ_INT(r.ack, 0);
	CHECK_EQ_INT(r.expected, 1);
	ledger_push_result_free(&r);
	/* client ids are per database: the same client name elsewhere starts fresh */
	CHECK_EQ_INT(push(lg, "db2b", "", b123, &r, &err), 0);
	CHECK_EQ_INT(r.applied, 3);
	ledger_push_result_free(&r);
	/* an empty push reports the current ack */
	CHECK_EQ_INT(push(lg, "db2", "", "{\"client\":\"idem\",\"mutations\":[]}", &r, &err), 0);
	CHECK_EQ_INT(r.ack, 6);
	CHECK_EQ_INT(r.applied, 0);
	ledger_push_result_free(&r);
}

static void lww_conflicts(ledger *lg)
{
	ledger_push_result r;
	ids_error err = IDS_ERROR_INIT;
	CHECK_EQ_INT(pushf(lg, "db3", "", &r, &err,
			   "{\"client\":\"A\",\"mutations\":[{\"id\":1,\"store\":\"s\",\"op\":\"put\",\"key\":\"k\","
			   "\"value\":\"new\",\"hlc\":\"%s\"}]}",
			   hlc_at(2000, 0, "A")),
		     0);
	CHECK_EQ_INT(r.applied, 1);
	int64_t seq = r.cursor;
	ledger_push_result_free(&r);
	/* an older write from B loses; its id is still consumed */
	CHECK_EQ_INT(pushf(lg, "db3", "", &r, &err,
			   "{\"client\":\"B\",\"mutations\":[{\"id\":1,\"store\":\"s\",\"op\":\"put\",\"key\":\"k\","
			   "\"value\":\"old\",\"hlc\":\"%s\"}]}",
			   hlc_at(1000, 0, "B")),
		     0);
	CHECK_EQ_INT(r.applied, 0);
	CHECK_EQ_INT(r.conflicts, 1);
	CHECK_EQ_INT(r.ack, 1);
	ids_json j = IDS_JSON_INIT;
	if (CHECK_EQ_INT(ids_json_parse(&j, r.conflicts_json.data, r.conflicts_json.len, 0, 0, &err), 0)) {
		CHECK_EQ_INT(j.tok[0].type, IDS_JARR);
		CHECK_EQ_INT(j.tok[0].size, 1);
		long w = ids_json_get(&j, 1, "winner");
		int64_t wseq = 0;
		CHECK(w > 0 && ids_json_i64(&j, (size_t)ids_json_get(&j, (size_t)w, "seq"), &wseq) == 0);
		CHECK_EQ_INT(wseq, seq);
		CHECK(w > 0 && ids_json_streq(&j, (size_t)ids_json_get(&j, (size_t)w, "value"), "new"));
		CHECK(ids_json_streq(&j, (size_t)ids_json_get(&j, 1, "rule"), "lww"));
		CHECK(ids_json_streq(&j, (size_t)ids_json_get(&j, 1, "key"), "k"));
	}
	ids_json_free(&j);
	ledger_push_result_free(&r);
	pulled *p = pull(lg, "db3", "", NULL, 0, 0);
	CHECK(find_key(p, "\"k\"") && !strcmp(find_key(p, "\"k\"")->value, "\"new\""));
	/* a stamp too far in the future is rejected before anything is applied */
	char body[512];
	hlc_stamp fut = {hlc_wall_ms() + 3600000, 0, "B"};
	char fs[HLC_STR_MAX];
	hlc_format(&fut, fs);
	snprintf(body, sizeof body,
		 "{\"client\":\"B\",\"mutations\":[{\"id\":2,\"store\":\"s\",\"op\":\"put\",\"key\":\"k\","
		 "\"value\":1,\"hlc\":\"%s\"}]}",
		 fs);
	ids_batch *b = NULL;
	ids_limits lim = IDS_LIMITS_INIT;
	CHECK_EQ_INT(ids_batch_parse(&b, "db3", strdup(body), strlen(body), &lim, ledger_clock(lg), &err), IDS_EINVAL);
	CHECK_HAS(err.msg, "ahead");
}

/* New keys are inserted before their row is read (apply.c insert_first); a push mixing them
 * with keys that exist, including losers, gives the same answer as reading every row first. */
static void new_and_existing_keys(ledger *lg)
{
	ledger_push_result r;
	ids_error err = IDS_ERROR_INIT;
	ids_buf body = IDS_BUF_INIT;
	ids_buf_puts(&body, "{\"client\":\"A\",\"mutations\":[");
	for (int i = 0; i < 60; i++)
		ids_buf_printf(&body, "%s{\"id\":%d,\"store\":\"s\",\"op\":\"put\",\"key\":\"e%d\",\"value\":%d,"
			       "\"hlc\":\"%s\"}", i ? "," : "", i + 1, i, i, hlc_at(2000, i, "A"));
	ids_buf_puts(&body, "]}");
	CHECK_EQ_INT(push(lg, "db3b", "", body.data, &r, &err), 0);
	CHECK_EQ_INT(r.applied, 60);
	ledger_push_result_free(&r);
	/* B: every third mutation an older write to an existing key (loses), every third a newer
	 * one (wins), the others new keys, one of them twice (the second finds the first) */
	ids_buf_reset(&body);
	ids_buf_puts(&body, "{\"client\":\"B\",\"mutations\":[");
	for (int i = 0; i < 60; i++) {
		char key[16];
		int at = i % 3 == 0 ? 1000 : 3000;
		if (i % 3 == 2)
			snprintf(key, sizeof key, "n%d", i == 59 ? 2 : i);
		else
			snprintf(key, sizeof key, "e%d", i);
		ids_buf_printf(&body, "%s{\"id\":%d,\"store\":\"s\",\"op\":\"%s\",\"key\":\"%s\"%s,\"hlc\":\"%s\"}",
			       i ? "," : "", i + 1, i == 31 ? "delete" : "put", key, i == 31 ? "" : ",\"value\":\"B\"",
			       hlc_at(at, i, "B"));
	}
	ids_buf_puts(&body, "]}");
	CHECK_EQ_INT(push(lg, "db3b", "", body.data, &r, &err), 0);
	CHECK_EQ_INT(r.conflicts, 20);
	CHECK_EQ_INT(r.applied, 40);
	CHECK_EQ_INT(r.ack, 60);
	ledger_push_result_free(&r);
	pulled *p = pull(lg, "db3b", "", NULL, 0, 0);
	CHECK(find_key(p, "\"e0\"") && !strcmp(find_key(p, "\"e0\"")->value, "0"));
	CHECK(find_key(p, "\"e1\"") && !strcmp(find_key(p, "\"e1\"")->value, "\"B\""));
	CHECK(find_key(p, "\"e31\"") && find_key(p, "\"e31\"")->del);
	CHECK(find_key(p, "\"n5\"") && !strcmp(find_key(p, "\"n5\"")->value, "\"B\""));
	CHECK(find_key(p, "\"n2\"") && !strcmp(find_key(p, "\"n2\"")->value, "\"B\""));
	/* 60 e-keys (one deleted) + 19 distinct n-keys */
	ids_buf out = IDS_BUF_INIT;
	CHECK_EQ_INT(ledger_list_json(lg, "db3b", "", &out, &err), 0);
	CHECK_HAS(out.data, "\"rows\":78,\"tombstones\":1");
	ids_buf_free(&out);
	ids_buf_free(&body);
}

/* New keys' rows are inserted 32, 8 or 1 per statement; a run holding a key that exists (a row
 * of an earlier push, or a key twice in the run) is undone by SQLite and taken again row by row.
 * Whatever the runs, every applied mutation gets the next seq (no gap, none twice) and the
 * rows end as if each mutation had been applied alone. */
static void new_rows_in_runs(ledger *lg)
{
	ledger_push_result r;
	ids_error err = IDS_ERROR_INIT;
	ids_buf body = IDS_BUF_INIT;
	int64_t head0 = ledger_head(lg);
	ids_buf_puts(&body, "{\"client\":\"R\",\"mutations\":[");
	for (int i = 0; i < 110; i++)
		ids_buf_printf(&body, "%s{\"id\":%d,\"store\":\"s\",\"op\":\"put\",\"key\":\"a%d\",\"value\":%d}", i ? "," : "",
			       i + 1, i, i);
	ids_buf_puts(&body, "]}");
	CHECK_EQ_INT(push(lg, "db3r", "", body.data, &r, &err), 0);
	CHECK_EQ_INT(r.applied, 110); /* runs of 32, 32, 32, 8, then 1 by 1 */
	CHECK_EQ_INT(ledger_head(lg), head0 + 110);
	ledger_push_result_free(&r);
	/* 141 mutations: the first run of 32 all new; #45 an existing key (its run is taken again
	 * row by row, then 16 mutations read first); #100 and #105 the same new key, in one run
	 * with #90, a delete of a key never written; the rest new keys */
	ids_buf_reset(&body);
	ids_buf_puts(&body, "{\"client\":\"S\",\"mutations\":[");
	for (int i = 0; i < 141; i++) {
		char key[16];
		snprintf(key, sizeof key, i == 45 ? "a5" : i == 105 ? "b100" : "b%d", i);
		ids_buf_printf(&body, "%s{\"id\":%d,\"store\":\"s\",\"op\":\"%s\",\"key\":\"%s\"", i ? "," : "", i + 1,
			       i == 90 ? "delete" : "put", key);
		if (i != 90)
			ids_buf_printf(&body, ",\"value\":\"S%d\"", i);
		ids_buf_putc(&body, '}');
	}
	ids_buf_puts(&body, "]}");
	CHECK_EQ_INT(push(lg, "db3r", "", body.data, &r, &err), 0);
	CHECK_EQ_INT(r.applied, 141);
	CHECK_EQ_INT(r.conflicts, 0);
	CHECK_EQ_INT(r.ack, 141);
	CHECK_EQ_INT(ledger_head(lg), head0 + 251);
	ledger_push_result_free(&r);
	/* the same push again: all duplicates, nothing written */
	CHECK_EQ_INT(push(lg, "db3r", "", body.data, &r, &err), 0);
	CHECK_EQ_INT(r.duplicates, 141);
	CHECK_EQ_INT(ledger_head(lg), head0 + 251);
	ledger_push_result_free(&r);
	pulled *p = pull(lg, "db3r", "", NULL, 0, 0);
	CHECK_EQ_INT(p->count, 110 + 139); /* a0..a109, b0..b140 less b45 and b105 */
	CHECK(find_key(p, "\"a5\"") && !strcmp(find_key(p, "\"a5\"")->value, "\"S45\""));
	CHECK(find_key(p, "\"b100\"") && !strcmp(find_key(p, "\"b100\"")->value, "\"S105\""));
	CHECK(find_key(p, "\"b90\"") && find_key(p, "\"b90\"")->del);
	CHECK(find_key(p, "\"b140\"") && !strcmp(find_key(p, "\"b140\"")->value, "\"S140\""));
	/* seqs strictly increasing in the feed, the last one the head: none lost, none twice */
	int ordered = 1;
	for (int i = 1; i < p->count; i++)
		ordered &= p->c[i].seq > p->c[i - 1].seq;
	CHECK(ordered);
	CHECK_EQ_INT(p->c[p->count - 1].seq, head0 + 251);
	ids_buf out = IDS_BUF_INIT;
	CHECK_EQ_INT(ledger_list_json(lg, "db3r", "", &out, &err), 0);
	CHECK_HAS(out.data, "\"rows\":248,\"tombstones\":1");
	ids_buf_free(&out);
	ids_buf_free(&body);
}

/* One push over more stores than a group keeps at hand, the same key in each (different rows)
 * and twice in one store (the second sees the first): with PostgreSQL such a push is split into
 * segments that each read and write their keys in one statement (pg_push.c). */
static void many_stores(ledger *lg)
{
	/* 24 puts to key "k" of st0..st11 (each store twice), then a delete in st3 */
	ids_buf body = IDS_BUF_INIT;
	for (int i = 0; i < 25; i++)
		ids_buf_printf(&body, "%s{\"id\":%d,\"store\":\"st%d\",\"op\":\"%s\",\"key\":\"k\"%s%.0d}%s",
			       i ? "," : "{\"client\":\"M\",\"mutations\":[", i + 1, i < 24 ? i % 12 : 3,
			       i < 24 ? "put" : "delete", i < 24 ? ",\"value\":" : "", i < 24 ? i + 1 : 0, i < 24 ? "" : "]}");
	ledger_push_result r;
	ids_error err = IDS_ERROR_INIT;
	CHECK_EQ_INT(push(lg, "db3m", "", body.data, &r, &err), 0);
	CHECK_EQ_INT(r.applied, 25);
	CHECK_EQ_INT(r.ack, 25);
	ledger_push_result_free(&r);
	ids_buf out = IDS_BUF_INIT;
	CHECK_EQ_INT(ledger_list_json(lg, "db3m", "", &out, &err), 0);
	CHECK_HAS(out.data, "\"name\":\"st5\",\"rows\":1,\"tombstones\":0");
	CHECK_HAS(out.data, "\"name\":\"st3\",\"rows\":0,\"tombstones\":1");
	ids_buf_free(&out);
	pulled *p = pull(lg, "db3m", "", NULL, 0, 0);
	CHECK_EQ_INT(p->parsed, 12);
	ids_buf_free(&body);
}

/* The field registry (fields.c) skips values shaped like the one before; a new kind, a new
 * field or another store is still recorded, and a rolled-back push leaves nothing behind. */
static void field_registry(const char *dir)
{
	ledger *lg = open_dir(dir, 0);
	if (!lg)
		return;
	ledger_push_result r;
	ids_error err = IDS_ERROR_INIT;
	CHECK_EQ_INT(pushf(lg, "fdb", "", &r, &err,
			   "{\"client\":\"A\",\"mutations\":["
			   "{\"id\":1,\"store\":\"s\",\"op\":\"put\",\"key\":1,\"value\":{\"a\":1,\"b\":\"x\"}},"
			   "{\"id\":2,\"store\":\"s\",\"op\":\"put\",\"key\":2,\"value\":{\"a\":2,\"b\":\"y\"}},"
			   "{\"id\":3,\"store\":\"s\",\"op\":\"put\",\"key\":3,\"value\":{\"a\":\"s\",\"b\":\"y\"}},"
			   "{\"id\":4,\"store\":\"t\",\"op\":\"put\",\"key\":4,\"value\":{\"a\":\"s\",\"b\":\"y\"}},"
			   "{\"id\":5,\"store\":\"s\",\"op\":\"put\",\"key\":5,\"value\":{\"a\":1,\"b\":\"x\",\"c\":true}}]}"),
		     0);
	ledger_push_result_free(&r);
	/* a push that fails (an existing shared row is not this user's) rolls back its fields */
	ids_batch *b = NULL;
	ids_limits lim = IDS_LIMITS_INIT;
	CHECK_EQ_INT(ids_batch_new(&b, "fdb", "import", "", IDS_ORIGIN_SERVER, &err), 0);
	CHECK_EQ_INT(ids_batch_add(b, 1, "s", IDS_OP_PUT, "\"shared\"", 8, "{}", 2, &lim, &err), 0);
	ledger_push_result_init(&r);
	CHECK_EQ_INT(ledger_push(lg, b, &r, &err), 0);
	ledger_push_result_free(&r);
	ids_batch_free(b);
	CHECK_EQ_INT(pushf(lg, "fdb", "u", &r, &err,
			   "{\"client\":\"U\",\"mutations\":["
			   "{\"id\":1,\"store\":\"s\",\"op\":\"put\",\"key\":9,\"value\":{\"gone\":1}},"
			   "{\"id\":2,\"store\":\"s\",\"op\":\"put\",\"key\":\"shared\",\"value\":{}}]}"),
		     IDS_EFORBIDDEN);
	ledger_push_result_free(&r);
	/* the same value again after the rollback is recorded (the skip did not outlive it) */
	CHECK_EQ_INT(pushf(lg, "fdb", "", &r, &err,
			   "{\"client\":\"A\",\"mutations\":["
			   "{\"id\":6,\"store\":\"s\",\"op\":\"put\",\"key\":6,\"value\":{\"gone\":1}}]}"),
		     0);
	ledger_push_result_free(&r);
	ledger_free(lg);
	char path[600];
	snprintf(path, sizeof path, "%s/idbsync.sqlite", dir);
	sqlite3 *db = NULL;
	CHECK_EQ_INT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_stmt *q = NULL;
	sqlite3_prepare_v2(db, "SELECT group_concat(st.name || '.' || f.name || '=' || f.kinds, ' ') FROM"
			   " (SELECT * FROM fields ORDER BY sid, name) f JOIN stores st USING(sid)", -1, &q, NULL);
	CHECK(q && sqlite3_step(q) == SQLITE_ROW);
	/* kinds: 1 int, 4 text, 8 bool (fields.c) */
	CHECK_EQ_STR(q ? (const char *)sqlite3_column_text(q, 0) : "", "s.a=5 s.b=4 s.c=8 s.gone=1 t.a=4 t.b=4");
	sqlite3_finalize(q);
	sqlite3_close(db);
}

static void server_wins(ledger *lg)
{
	ledger_push_result r;
	ids_error err = IDS_ERROR_INIT;
	ids_limits lim = IDS_LIMITS_INIT;
	CHECK_EQ_INT(ledger_set_rule(lg, "db4", "lake", IDS_RULE_SERVER_WINS), 0);
	CHECK_EQ_INT(ledger_rule(lg, "db4", "lake"), IDS_RULE_SERVER_WINS);
	CHECK_EQ_INT(ledger_rule(lg, "db4", "other"), IDS_RULE_LWW);
	CHECK_EQ_INT(ledger_rule(lg, "dbX", "lake"), IDS_RULE_LWW);

	/* a client writes first, then the lake (origin SERVER) overwrites it */
	CHECK_EQ_INT(pushf(lg, "db4", "", &r, &err,
			   "{\"client\":\"c\",\"mutations\":[{\"id\":1,\"store\":\"lake\",\"op\":\"put\",\"key\":\"k\","
			   "\"value\":\"client-1\"}]}"),
		     0);
	ledger_push_result_free(&r);
	ids_batch *b = NULL;
	CHECK_EQ_INT(ids_batch_new(&b, "db4", "lake-import", NULL, IDS_ORIGIN_SERVER, &err), 0);
	CHECK_EQ_INT(ids_batch_add(b, 1, "lake", IDS_OP_PUT, "\"k\"", 3, "\"from-lake\"", 11, &lim, &err), 0);
	CHECK_EQ_INT(ids_batch_add(b, 2, "lake", IDS_OP_PUT, "\"k2\"", 4, "\"lake2\"", 7, &lim, &err), 0);
	ledger_push_result_init(&r);
	CHECK_EQ_INT(ledger_push(lg, b, &r, &err), 0);
	CHECK_EQ_INT(r.applied, 2);
	CHECK_EQ_INT(r.conflicts, 0);
	ledger_push_result_free(&r);
	ids_batch_free(b);
	pulled *p = pull(lg, "db4", "", NULL, 0, 0);
	change *k = find_key(p, "\"k\"");
	CHECK(k && !strcmp(k->value, "\"from-lake\""));
	int64_t lake_seq = k ? k->seq : -1;

	/* the client edits without having seen the lake change: loses, even with a fresh stamp */
	CHECK_EQ_INT(pushf(lg, "db4", "", &r, &err,
			   "{\"client\":\"c\",\"mutations\":[{\"id\":2,\"store\":\"lake\",\"op\":\"put\",\"key\":\"k\","
			   "\"value\":\"client-2\",\"base\":%lld}]}",
			   (long long)lake_seq - 1),
		     0);
	CHECK_EQ_INT(r.applied, 0);
	CHECK_EQ_INT(r.conflicts, 1);
	CHECK_EQ_INT(r.ack, 2);
	CHECK_HAS(r.conflicts_json.data, "server-wins");
	CHECK_HAS(r.conflicts_json.data, "from-lake");
	ledger_push_result_free(&r);
	CHECK_EQ_INT(pushf(lg, "db4", "", &r, &err,
			   "{\"client\":\"c\",\"mutations\":[{\"id\":3,\"store\":\"lake\",\"op\":\"delete\",\"key\":\"k2\"}]}"),
		     0);
	CHECK_EQ_INT(r.conflicts, 1);
	ledger_push_result_free(&r);
	p = pull(lg, "db4", "", NULL, 0, 0);
	CHECK(find_key(p, "\"k\"") && !strcmp(find_key(p, "\"k\"")->value, "\"from-lake\""));
	CHECK(find_key(p, "\"k2\"") && !find_key(p, "\"k2\"")->del);

	/* based on the lake's version: the client wins */
	CHECK_EQ_INT(pushf(lg, "db4", "", &r, &err,
			   "{\"client\":\"c\",\"mutations\":[{\"id\":4,\"store\":\"lake\",\"op\":\"put\",\"key\":\"k\","
			   "\"value\":\"client-3\",\"base\":%lld}]}",
			   (long long)lake_seq),
		     0);
	CHECK_EQ_INT(r.applied, 1);
	CHECK_EQ_INT(r.conflicts, 0);
	ledger_push_result_free(&r);
	p = pull(lg, "db4", "", NULL, 0, 0);
	CHECK(find_key(p, "\"k\"") && !strcmp(find_key(p, "\"k\"")->value, "\"client-3\""));

	/* now the row is a client row: the next client edit is plain lww (no base needed) */
	CHECK_EQ_INT(pushf(lg, "db4", "", &r, &err,
			   "{\"client\":\"d\",\"mutations\":[{\"id\":1,\"store\":\"lake\",\"op\":\"put\",\"key\":\"k\","
			   "\"value\":\"client-d\"}]}"),
		     0);
	CHECK_EQ_INT(r.applied, 1);
	ledger_push_result_free(&r);
	/* and a SERVER batch always applies, whatever the base */
	CHECK_EQ_INT(ids_batch_new(&b, "db4", "lake-import", "", IDS_ORIGIN_SERVER, &err), 0);
	CHECK_EQ_INT(ids_batch_add(b, 3, "lake", IDS_OP_DELETE, "\"k\"", 3, NULL, 0, &lim, &err), 0);
	ledger_push_result_init(&r);
	CHECK_EQ_INT(ledger_push(lg, b, &r, &err), 0);
	CHECK_EQ_INT(r.applied, 1);
	ledger_push_result_free(&r);
	ids_batch_free(b);
	p = pull(lg, "db4", "", NULL, 0, 0);
	CHECK(find_key(p, "\"k\"") && find_key(p, "\"k\"")->del);
}

static void merge_rule(ledger *lg)
{
	ledger_push_result r;
	ids_error err = IDS_ERROR_INIT;
	CHECK_EQ_INT(ledger_set_rule(lg, NULL, "doc", IDS_RULE_MERGE), 0);
	CHECK_EQ_INT(ledger_rule(lg, "db5", "doc"), IDS_RULE_MERGE);
	/* two writers, disjoint fields */
	CHECK_EQ_INT(pushf(lg, "db5", "", &r, &err,
			   "{\"client\":\"A\",\"mutations\":[{\"id\":1,\"store\":\"doc\",\"op\":\"put\",\"key\":1,"
			   "\"value\":{\"title\":\"t1\",\"n\":1},\"hlc\":\"%s\"}]}",
			   hlc_at(1000, 0, "A")),
		     0);
	CHECK_EQ_INT(r.applied, 1);
	ledger_push_result_free(&r);
	CHECK_EQ_INT(pushf(lg, "db5", "", &r, &err,
			   "{\"client\":\"B\",\"mutations\":[{\"id\":1,\"store\":\"doc\",\"op\":\"put\",\"key\":1,"
			   "\"value\":{\"done\":true},\"hlc\":\"%s\"}]}",
			   hlc_at(500, 0, "B")),
		     0);
	CHECK_EQ_INT(r.applied, 1);
	CHECK_EQ_INT(r.conflicts, 0);
	ledger_push_result_free(&r);
	pulled *p = pull(lg, "db5", "", NULL, 0, 0);
	CHECK_EQ_INT(p->count, 1);
	CHECK_EQ_STR(p->c[0].value, "{\"title\":\"t1\",\"n\":1,\"done\":true}");
	/* C writes both an older title and a newer n: partial, title reported lost */
	CHECK_EQ_INT(pushf(lg, "db5", "", &r, &err,
			   "{\"client\":\"C\",\"mutations\":[{\"id\":1,\"store\":\"doc\",\"op\":\"put\",\"key\":1,"
			   "\"value\":{\"title\":\"old\",\"done\":false},\"hlc\":\"%s\"}]}",
			   hlc_at(700, 0, "C")),
		     0);
	CHECK_EQ_INT(r.applied, 1);
	CHECK_EQ_INT(r.conflicts, 1);
	CHECK_HAS(r.conflicts_json.data, "\"fields\":[\"title\"]");
	ledger_push_result_free(&r);
	p = pull(lg, "db5", "", NULL, 0, 0);
	CHECK_EQ_STR(p->c[0].value, "{\"title\":\"t1\",\"n\":1,\"done\":false}");
	/* A removes "n" having seen the current version (base = its seq) */
	int64_t seq = p->c[0].seq;
	CHECK_EQ_INT(pushf(lg, "db5", "", &r, &err,
			   "{\"client\":\"A\",\"mutations\":[{\"id\":2,\"store\":\"doc\",\"op\":\"put\",\"key\":1,"
			   "\"value\":{\"title\":\"t2\",\"done\":false},\"base\":%lld}]}",
			   (long long)seq),
		     0);
	CHECK_EQ_INT(r.applied, 1);
	ledger_push_result_free(&r);
	p = pull(lg, "db5", "", NULL, 0, 0);
	CHECK_EQ_STR(p->c[0].value, "{\"title\":\"t2\",\"done\":false}");
	/* a put older than everything loses as a whole */
	CHECK_EQ_INT(pushf(lg, "db5", "", &r, &err,
			   "{\"client\":\"B\",\"mutations\":[{\"id\":2,\"store\":\"doc\",\"op\":\"put\",\"key\":1,"
			   "\"value\":{\"title\":\"x\"},\"hlc\":\"%s\"}]}",
			   hlc_at(10, 0, "B")),
		     0);
	CHECK_EQ_INT(r.applied, 0);
	CHECK_EQ_INT(r.conflicts, 1);
	ledger_push_result_free(&r);
}

static void user_scoping(ledger *lg)
{
	ledger_push_result r;
	ids_error err = IDS_ERROR_INIT;
	ids_limits lim = IDS_LIMITS_INIT;
	/* a shared row (user "") written by the server */
	ids_batch *b = NULL;
	CHECK_EQ_INT(ids_batch_new(&b, "db6", "import", "", IDS_ORIGIN_SERVER, &err), 0);
	CHECK_EQ_INT(ids_batch_add(b, 1, "cfg", IDS_OP_PUT, "\"shared\"", 8, "{\"v\":0}", 7, &lim, &err), 0);
	ledger_push_result_init(&r);
	CHECK_EQ_INT(ledger_push(lg, b, &r, &err), 0);
	ledger_push_result_free(&r);
	ids_batch_free(b);
	int64_t head = ledger_head(lg);

	/* alice may not touch it; the whole push is rolled back, including her earlier mutation */
	err = (ids_error)IDS_ERROR_INIT;
	int rc = pushf(lg, "db6", "alice", &r, &err,
		       "{\"client\":\"a1\",\"mutations\":["
		       "{\"id\":1,\"store\":\"cfg\",\"op\":\"put\",\"key\":\"mine\",\"value\":1},"
		       "{\"id\":2,\"store\":\"cfg\",\"op\":\"put\",\"key\":\"shared\",\"value\":{\"v\":666}}]}");
	CHECK_EQ_INT(rc, IDS_EFORBIDDEN);
	CHECK_EQ_INT(err.code, IDS_EFORBIDDEN);
	CHECK_HAS(err.msg, "shared");
	CHECK_HAS(err.msg, "alice");
	ledger_push_result_free(&r);
	CHECK_EQ_INT(ledger_head(lg), head);
	rc = pushf(lg, "db6", "alice", &r, &err,
		   "{\"client\":\"a1\",\"mutations\":[{\"id\":1,\"store\":\"cfg\",\"op\":\"delete\",\"key\":\"shared\"}]}");
	CHECK_EQ_INT(rc, IDS_EFORBIDDEN);
	ledger_push_result_free(&r);
	/* her ack did not move: id 1 is still expected */
	rc = pushf(lg, "db6", "alice", &r, &err,
		   "{\"client\":\"a1\",\"mutations\":[{\"id\":1,\"store\":\"cfg\",\"op\":\"put\",\"key\":\"mine\",\"value\":1}]}");
	CHECK_EQ_INT(rc, 0);
	CHECK_EQ_INT(r.applied, 1);
	CHECK_EQ_INT(r.ack, 1);
	ledger_push_result_free(&r);
	/* bob writes a key with the same name as alice's: separate rows */
	rc = pushf(lg, "db6", "bob", &r, &err,
		   "{\"client\":\"b1\",\"mutations\":[{\"id\":1,\"store\":\"cfg\",\"op\":\"put\",\"key\":\"mine\",\"value\":2}]}");
	CHECK_EQ_INT(rc, 0);
	CHECK_EQ_INT(r.applied, 1);
	CHECK_EQ_INT(r.conflicts, 0);
	ledger_push_result_free(&r);

	pulled *p = pull(lg, "db6", "alice", NULL, 0, 0);
	CHECK_EQ_INT(p->count, 2);
	CHECK(find_key(p, "\"shared\"") && !strcmp(find_key(p, "\"shared\"")->value, "{\"v\":0}"));
	CHECK(find_key(p, "\"mine\"") && !strcmp(find_key(p, "\"mine\"")->value, "1"));
	p = pull(lg, "db6", "bob", NULL, 0, 0);
	CHECK_EQ_INT(p->count, 2);
	CHECK(find_key(p, "\"mine\"") && !strcmp(find_key(p, "\"mine\"")->value, "2"));
	p = pull(lg, "db6", "carol", NULL, 0, 0); /* unknown user: shared rows only */
	CHECK_EQ_INT(p->count, 1);
	CHECK(find_key(p, "\"shared\"") != NULL);
	/* merged feed stays in seq order */
	p = pull(lg, "db6", "alice", NULL, 0, 0);
	CHECK(p->parsed == 2 && p->c[0].seq < p->c[1].seq);
	/* with auth off (user ""), only shared rows */
	p = pull(lg, "db6", "", NULL, 0, 0);
	CHECK_EQ_INT(p->count, 1);
	ids_buf out = IDS_BUF_INIT;
	CHECK_EQ_INT(ledger_list_json(lg, "db6", "alice", &out, &err), 0);
	CHECK_HAS(out.data, "\"rows\":2");
	ids_buf_free(&out);
}

/* Change-log rows go in without their seq (the next rowid) only while the log's largest seq is
 * the one before: after GC has pruned the whole log (no lake: base_retention), seqs keep
 * following the head, and the log reads back each mutation at its seq. */
typedef struct seen_changes {
	ledger *lg;   /* scan_changes_thread's */
	int n, ordered;
	int64_t first, last;
	char first_key[32];
} seen_changes;

static int see_change(void *ctx, const ledger_change *c)
{
	seen_changes *v = ctx;
	if (!v->n++) {
		v->first = c->seq;
		ids_buf k = IDS_BUF_INIT;
		ids_key_to_json(c->key, c->key_len, &k, NULL);
		snprintf(v->first_key, sizeof v->first_key, "%s", k.data ? k.data : "");
		ids_buf_free(&k);
	} else if (c->seq != v->last + 1) {
		v->ordered = 0;
	}
	v->last = c->seq;
	return 0;
}

/* The change log names each change's database, store, user and client (the lake's columns).
 * 120 one-mutation pushes from 40 clients into 3 databases, 34 stores and 2 users, interleaved,
 * so a scan's name lookups (SQLite: lognames.c, 32 slots per kind) collide and are replaced
 * over and over; each value holds the names its change must come with. Each push is its
 * client's first in its database as its user (3 and 40 are coprime), so each is mutation 1. */
typedef struct names_seen {
	int n, wrong;
} names_seen;

static int check_names(void *ctx, const ledger_change *c)
{
	names_seen *v = ctx;
	char want[200];
	snprintf(want, sizeof want, "\"%s|%s|%s|%s\"", c->db, c->store, c->user, c->client);
	if (!c->value || c->value_len != strlen(want) || memcmp(c->value, want, c->value_len)) {
		if (v->wrong++ < 3)
			fprintf(stderr, "  seq %lld came as %s, its value is %.*s\n", (long long)c->seq, want,
				(int)c->value_len, c->value ? c->value : "");
	}
	v->n++;
	return 0;
}

static void log_names(ledger *lg)
{
	int64_t head0 = ledger_head(lg);
	ids_error err = IDS_ERROR_INIT;
	for (int i = 0; i < 120; i++) {
		char db[16], store[16], client[16];
		const char *user = i % 2 ? "u1" : "";
		snprintf(db, sizeof db, "nm%d", i % 3);
		snprintf(store, sizeof store, "s%d", i % 34);
		snprintf(client, sizeof client, "c%d", i % 40);
		ledger_push_result r;
		CHECK_EQ_INT(pushf(lg, db, user, &r, &err,
				   "{\"client\":\"%s\",\"mutations\":[{\"id\":%d,\"store\":\"%s\",\"op\":\"put\","
				   "\"key\":\"k%d\",\"value\":\"%s|%s|%s|%s\"}]}",
				   client, 1, store, i, db, store, user, client),
			     0);
		CHECK_EQ_INT(r.applied, 1);
		ledger_push_result_free(&r);
	}
	names_seen v = {0};
	int64_t last = 0;
	CHECK_EQ_INT(ledger_changes_scan(lg, head0, 1000, check_names, &v, &last, &err), 0);
	CHECK_EQ_INT(v.n, 120);
	CHECK_EQ_INT(v.wrong, 0);
	CHECK_EQ_INT(last, head0 + 120);
}

static void change_log_tail(const char *dir)
{
	ledger_options o = LEDGER_OPTIONS_INIT;
	o.dir = dir;
	o.no_lake = 1;
	o.base_retention_ms = -60000; /* GC prunes every change-log row */
	ledger *lg = NULL;
	ids_error err = IDS_ERROR_INIT;
	if (!CHECK_EQ_INT(ledger_open(&lg, &o, &err), 0))
		return;
	ids_buf body = IDS_BUF_INIT;
	for (int round = 0; round < 3; round++) {
		ids_buf_reset(&body);
		ids_buf_puts(&body, "{\"client\":\"T\",\"mutations\":[");
		for (int i = 0; i < 40; i++)
			ids_buf_printf(&body, "%s{\"id\":%d,\"store\":\"s\",\"op\":\"put\",\"key\":\"k%d\",\"value\":1}",
				       i ? "," : "", round * 40 + i + 1, round * 40 + i);
		ids_buf_puts(&body, "]}");
		ledger_push_result r;
		CHECK_EQ_INT(push(lg, "tail", "", body.data, &r, &err), 0);
		CHECK_EQ_INT(r.applied, 40);
		ledger_push_result_free(&r);
		if (round == 0)
			CHECK_EQ_INT(ledger_gc_now(lg, &err), 0);
	}
	CHECK_EQ_INT(ledger_head(lg), 120);
	seen_changes v = {.ordered = 1};
	int64_t last = 0;
	CHECK_EQ_INT(ledger_changes_scan(lg, 0, 1000, see_change, &v, &last, &err), 0);
	CHECK_EQ_INT(v.n, 80);
	CHECK_EQ_INT(v.first, 41);
	CHECK_EQ_INT(v.last, 120);
	CHECK(v.ordered);
	CHECK_EQ_STR(v.first_key, "\"k40\"");
	ids_buf_free(&body);
	ledger_free(lg);
}

/* Row ids for the lake's delta files: a row keeps its id through updates and as a tombstone,
 * ids are distinct, a scan by id range returns exactly the live rows in it. And the
 * change-log prune: only changes past the retention go, and only up to the seq asked. */
typedef struct key_list {
	int n;
	uint8_t key[100][16];
	size_t len[100];
} key_list;

static int collect_key(void *ctx, const ledger_row *r)
{
	key_list *k = ctx;
	if (k->n < 100 && r->key_len <= sizeof k->key[0]) {
		memcpy(k->key[k->n], r->key, r->key_len);
		k->len[k->n++] = r->key_len;
	}
	return 0;
}

static int push_keys(ledger *lg, int from, int n, int first_id, const char *op)
{
	ids_buf body = IDS_BUF_INIT;
	ids_buf_puts(&body, "{\"client\":\"R\",\"mutations\":[");
	for (int i = 0; i < n; i++)
		ids_buf_printf(&body, "%s{\"id\":%d,\"store\":\"s\",\"op\":\"%s\",\"key\":\"k%d\"%s}", i ? "," : "",
			       first_id + i, op, from + i, op[0] == 'p' ? ",\"value\":1" : "");
	ids_buf_puts(&body, "]}");
	ledger_push_result r;
	ids_error err = IDS_ERROR_INIT;
	int rc = push(lg, "rid", "", body.data, &r, &err);
	ledger_push_result_free(&r);
	ids_buf_free(&body);
	return rc;
}

/* ids of the keys of k (plus a key never pushed, last), *max_id the highest id */
static void ids_of(ledger *lg, const key_list *k, int64_t *ids, int64_t *max_id)
{
	ledger_key_ref refs[101];
	for (int i = 0; i < k->n; i++)
		refs[i] = (ledger_key_ref){"", k->key[i], k->len[i]};
	refs[k->n] = (ledger_key_ref){"", (const uint8_t *)"nope", 4};
	ids_error err = IDS_ERROR_INIT;
	CHECK_EQ_INT(ledger_rows_ids(lg, "rid", "s", refs, (size_t)k->n + 1, ids, max_id, &err), 0);
	CHECK_EQ_INT(ids[k->n], 0);
}

static int in_range(const int64_t *ids, int n, int64_t lo, int64_t hi)
{
	int c = 0;
	for (int i = 0; i < n; i++)
		c += ids[i] > lo && ids[i] <= hi;
	return c;
}

typedef struct after_rows {
	int n, deleted;
	int64_t last_id, ids[101];
} after_rows;

static int collect_after(void *ctx, const ledger_row_id *r)
{
	after_rows *a = ctx;
	CHECK(r->id > a->last_id);   /* in id order */
	CHECK(!strcmp(r->user, "") && r->key_len > 0 && r->key && r->seq > 0);
	a->deleted += r->deleted;
	a->last_id = r->id;
	if (a->n < 101)
		a->ids[a->n++] = r->id;
	return 0;
}

static void row_ids(const char *dir)
{
	ledger *lg = open_dir(dir, 0);
	if (!lg)
		return;
	ids_error err = IDS_ERROR_INIT;
	int64_t head = 0, max_id = 0, ids[101], again[101], live[101];
	CHECK_EQ_INT(push_keys(lg, 0, 40, 1, "put"), 0);
	CHECK_EQ_INT(push_keys(lg, 40, 40, 41, "put"), 0);
	key_list all = {0}, alive = {0};
	CHECK_EQ_INT(ledger_rows_scan(lg, "rid", "s", 0, 0xffffffffu, collect_key, &all, &head, &err), 0);
	CHECK_EQ_INT(all.n, 80);
	ids_of(lg, &all, ids, &max_id);
	int64_t lo = ids[0], hi = 0;
	for (int i = 0; i < 80; i++) {
		CHECK(ids[i] > 0);
		for (int j = 0; j < i; j++)
			CHECK(ids[i] != ids[j]);
		lo = ids[i] < lo ? ids[i] : lo;
		hi = ids[i] > hi ? ids[i] : hi;
	}
	CHECK_EQ_INT(max_id, hi);
	/* an update and a delete keep the ids (a tombstone still has one) */
	CHECK_EQ_INT(push_keys(lg, 5, 1, 81, "put"), 0);
	CHECK_EQ_INT(push_keys(lg, 50, 1, 82, "delete"), 0);
	ids_of(lg, &all, again, NULL);
	CHECK(!memcmp(ids, again, 80 * sizeof *ids));
	CHECK_EQ_INT(ledger_rows_scan(lg, "rid", "s", 0, 0xffffffffu, collect_key, &alive, &head, &err), 0);
	CHECK_EQ_INT(alive.n, 79);
	ids_of(lg, &alive, live, NULL);
	/* a range scan returns the live rows with id in (after, upto], whichever plan reads it */
	int64_t mid = lo + (hi - lo) / 2;
	for (int k = 0; k < 3; k++) {
		int64_t a = k == 0 ? 0 : k == 1 ? mid : lo, b = k == 0 ? mid : hi;
		key_list got = {0};
		CHECK_EQ_INT(ledger_rows_scan_ids(lg, "rid", "s", 0, 0xffffffffu, a, b, collect_key, &got, &head, &err), 0);
		CHECK_EQ_INT(got.n, in_range(live, 79, a, b));
	}
	/* the rows after an id, tombstones too, in id order, at most max of them */
	after_rows ar = {0};
	CHECK_EQ_INT(ledger_rows_after(lg, "rid", "s", mid, 1000, collect_after, &ar, &err), 0);
	CHECK_EQ_INT(ar.n, in_range(ids, 80, mid, hi));
	after_rows every = {0};
	CHECK_EQ_INT(ledger_rows_after(lg, "rid", "s", 0, 1000, collect_after, &every, &err), 0);
	CHECK_EQ_INT(every.n, 80);
	CHECK_EQ_INT(every.deleted, 1);   /* key k50's tombstone */
	after_rows cut = {0};
	CHECK_EQ_INT(ledger_rows_after(lg, "rid", "s", lo - 1, 7, collect_after, &cut, &err), 0);
	CHECK_EQ_INT(cut.n, 7);
	CHECK(cut.ids[0] == lo);
	after_rows none = {0};
	CHECK_EQ_INT(ledger_rows_after(lg, "rid", "nostore", 0, 1000, collect_after, &none, &err), 0);
	CHECK_EQ_INT(none.n, 0);
	ledger_free(lg);
}

static int count_row(void *ctx, const ledger_row *r)
{
	(void)r;
	++*(int *)ctx;
	return 0;
}

static void *scan_changes_thread(void *arg)
{
	seen_changes *v = arg;
	int64_t last = 0;
	ids_error err = IDS_ERROR_INIT;
	CHECK_EQ_INT(ledger_changes_scan(v->lg, 0, 1000, see_change, v, &last, &err), 0);
	return NULL;
}

/* The changes and the live rows of store rid/s a scan of each sees, and the rows scan's head. */
static void scan_counts(ledger *lg, int *changes, int *rows, int64_t *head)
{
	ids_error err = IDS_ERROR_INIT;
	seen_changes v = {.ordered = 1};
	int64_t last = 0;
	*rows = 0;
	CHECK_EQ_INT(ledger_changes_scan(lg, 0, 1000, see_change, &v, &last, &err), 0);
	CHECK_EQ_INT(ledger_rows_scan(lg, "rid", "s", 0, 0xffffffffu, count_row, rows, head, &err), 0);
	*changes = v.n;
}

/* A pinned read snapshot (ledger_read_begin, either backend): the pinning thread's scans of the
 * change log and of the rows see the state at its head and no push after it; another thread's
 * see the pushes; a second pin is refused; after ledger_read_end the pinning thread sees them. */
static void read_pin(const char *dir)
{
	ledger *lg = open_dir(dir, 0);
	if (!lg)
		return;
	ids_error err = IDS_ERROR_INIT;
	CHECK_EQ_INT(push_keys(lg, 0, 10, 1, "put"), 0);
	int64_t head = -1, h = -1;
	int changes = 0, rows = 0;
	CHECK_EQ_INT(ledger_read_begin(lg, &head, &err), 0);
	CHECK_EQ_INT(head, 10);
	CHECK_EQ_INT(push_keys(lg, 10, 5, 11, "put"), 0);
	CHECK_EQ_INT(push_keys(lg, 0, 1, 16, "delete"), 0);
	CHECK_EQ_INT(ledger_head(lg), 16);
	scan_counts(lg, &changes, &rows, &h);
	CHECK_EQ_INT(changes, 10);
	CHECK_EQ_INT(rows, 10);
	CHECK_EQ_INT(h, 10);
	seen_changes other = {.ordered = 1, .lg = lg};
	pthread_t t;
	CHECK_EQ_INT(pthread_create(&t, NULL, scan_changes_thread, &other), 0);
	pthread_join(t, NULL);
	CHECK_EQ_INT(other.n, 16);
	ids_error busy = IDS_ERROR_INIT;
	CHECK_EQ_INT(ledger_read_begin(lg, NULL, &busy), IDS_EBUSY);
	ledger_read_end(lg);
	ledger_read_end(lg);   /* no pin: nothing to end */
	scan_counts(lg, &changes, &rows, &h);
	CHECK_EQ_INT(changes, 16);
	CHECK_EQ_INT(rows, 14);
	CHECK_EQ_INT(h, 16);
	ledger_free(lg);
}

/* The change-log prune on either backend: the default retention (a day) keeps every change;
 * a negative one lets those up to the seq asked go, and only those (82 changes pushed). */
static void change_prune(const char *dir)
{
	ledger *lg = open_dir(dir, 0);
	if (!lg)
		return;
	ids_error err = IDS_ERROR_INIT;
	CHECK_EQ_INT(push_keys(lg, 0, 40, 1, "put"), 0);
	CHECK_EQ_INT(push_keys(lg, 40, 40, 41, "put"), 0);
	CHECK_EQ_INT(push_keys(lg, 5, 1, 81, "put"), 0);
	CHECK_EQ_INT(push_keys(lg, 50, 1, 82, "delete"), 0);
	seen_changes v = {.ordered = 1};
	int64_t last = 0;
	CHECK_EQ_INT(ledger_changes_prune(lg, 50, &err), 0);
	CHECK_EQ_INT(ledger_changes_scan(lg, 0, 1000, see_change, &v, &last, &err), 0);
	CHECK_EQ_INT(v.n, 82);
	ledger_free(lg);
	char state[1024];
	state_for(dir, state, sizeof state);
	ledger_options o = LEDGER_OPTIONS_INIT;
	o.dir = dir;
	o.state = state[0] ? state : NULL;
	o.base_retention_ms = -60000;
	lg = NULL;
	if (!CHECK_EQ_INT(ledger_open(&lg, &o, &err), 0))
		return;
	CHECK_EQ_INT(ledger_changes_prune(lg, 50, &err), 0);
	v = (seen_changes){.ordered = 1};
	CHECK_EQ_INT(ledger_changes_scan(lg, 0, 1000, see_change, &v, &last, &err), 0);
	CHECK_EQ_INT(v.n, 32);
	CHECK_EQ_INT(v.first, 51);
	ledger_free(lg);
}

static void gc(const char *dir)
{
	ledger *lg = open_dir(dir, 0);
	if (!lg)
		return;
	ledger_push_result r;
	ids_error err = IDS_ERROR_INIT;
	CHECK_EQ_INT(push(lg, "g", "",
			  "{\"client\":\"g1\",\"mutations\":["
			  "{\"id\":1,\"store\":\"s\",\"op\":\"put\",\"key\":\"a\",\"value\":1},"
			  "{\"id\":2,\"store\":\"s\",\"op\":\"put\",\"key\":\"b\",\"value\":2},"
			  "{\"id\":3,\"store\":\"s\",\"op\":\"delete\",\"key\":\"a\"}]}",
			  &r, &err),
		     0);
	ledger_push_result_free(&r);
	CHECK_EQ_INT(push(lg, "g", "",
			  "{\"client\":\"g2\",\"mutations\":[{\"id\":1,\"store\":\"s\",\"op\":\"put\",\"key\":\"c\",\"value\":3}]}",
			  &r, &err),
		     0);
	ledger_push_result_free(&r);
	CHECK_EQ_INT(ledger_head(lg), 4);

	/* g1 has pulled everything, g2 nothing yet: the tombstone must stay */
	CHECK_EQ_INT(pull(lg, "g", "", "g1", 4, 0)->rc, 0);
	CHECK_EQ_INT(ledger_gc_now(lg, &err), 0);
	CHECK_EQ_INT(atomic_load(&ledger_get_stats(lg)->tombstones_collected), 0);
	pulled *p = pull(lg, "g", "", NULL, 1, 0);
	CHECK_EQ_INT(p->rc, 0);
	CHECK(find_key(p, "\"a\"") && find_key(p, "\"a\"")->del);

	/* g2 catches up: now every recent client is past seq 3 */
	CHECK_EQ_INT(pull(lg, "g", "", "g2", 4, 0)->rc, 0);
	CHECK_EQ_INT(ledger_gc_now(lg, &err), 0);
	CHECK_EQ_INT(atomic_load(&ledger_get_stats(lg)->tombstones_collected), 1);
	/* a cursor before the collected delete gets IDS_EGONE, telling the client to resync */
	p = pull(lg, "g", "", NULL, 1, 0);
	CHECK_EQ_INT(p->rc, IDS_EGONE);
	CHECK_HAS(p->err, "since=0");
	p = pull(lg, "g", "", NULL, 2, 0);
	CHECK_EQ_INT(p->rc, IDS_EGONE);
	/* from the start: a full resync without the collected tombstone */
	p = pull(lg, "g", "", NULL, 0, 0);
	CHECK_EQ_INT(p->rc, 0);
	CHECK_EQ_INT(p->count, 2);
	CHECK(find_key(p, "\"a\"") == NULL);
	/* cursors at or after the horizon are fine */
	CHECK_EQ_INT(pull(lg, "g", "", NULL, 3, 0)->rc, 0);
	CHECK_EQ_INT(pull(lg, "g", "", NULL, 4, 0)->rc, 0);
	ids_buf out = IDS_BUF_INIT;
	CHECK_EQ_INT(ledger_list_json(lg, "g", "", &out, &err), 0);
	CHECK_HAS(out.data, "\"rows\":2,\"tombstones\":0");
	ids_buf_free(&out);
	/* other databases are unaffected */
	CHECK_EQ_INT(pull(lg, "other", "", NULL, 1, 0)->rc, 0);
	ledger_free(lg);

	/* the horizon survives a restart */
	lg = open_dir(dir, 0);
	if (!lg)
		return;
	CHECK_EQ_INT(pull(lg, "g", "", NULL, 1, 0)->rc, IDS_EGONE);
	CHECK_EQ_INT(pull(lg, "g", "", NULL, 0, 0)->count, 2);
	ledger_free(lg);
}

static void reopen(const char *dir, int durable, int total, int per_batch)
{
	ledger *lg = open_dir(dir, durable);
	if (!lg)
		return;
	char node[HLC_NODE_MAX + 1];
	snprintf(node, sizeof node, "%s", ledger_clock(lg)->node);
	ids_error err = IDS_ERROR_INIT;
	int bad = 0;
	size_t applied = 0;
	for (int id = 1; id <= total; id += per_batch) {
		ids_buf body = IDS_BUF_INIT;
		ids_buf_puts(&body, "{\"client\":\"r\",\"mutations\":[");
		for (int k = id; k < id + per_batch && k <= total; k++)
			ids_buf_printf(&body, "%s{\"id\":%d,\"store\":\"s\",\"op\":\"put\",\"key\":%d,\"value\":{\"i\":%d}}",
				       k > id ? "," : "", k, k - 1, k - 1);
		ids_buf_puts(&body, "]}");
		ledger_push_result r;
		bad += push(lg, "rdb", "", body.data, &r, &err) != 0;
		applied += r.applied;
		bad += r.ack != (id + per_batch - 1 < total ? id + per_batch - 1 : total);
		ledger_push_result_free(&r);
		ids_buf_free(&body);
	}
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(applied, total);
	CHECK_EQ_INT(ledger_head(lg), total);
	hlc_stamp before;
	hlc_clock_now(ledger_clock(lg), &before);
	ledger_free(lg);

	lg = open_dir(dir, durable);
	if (!lg)
		return;
	CHECK_EQ_STR(ledger_clock(lg)->node, node); /* the random node id is persisted */
	CHECK_EQ_INT(ledger_head(lg), total);
	/* pull everything back in pages */
	int seen = 0, pages = 0;
	char *have = calloc((size_t)total, 1);
	int64_t since = 0;
	for (;;) {
		pulled *p = pull(lg, "rdb", "", NULL, since, 300);
		if (!CHECK_EQ_INT(p->rc, 0))
			break;
		pages++;
		for (int i = 0; i < p->parsed; i++) {
			int k = atoi(p->c[i].key);
			char want[32];
			snprintf(want, sizeof want, "{\"i\":%d}", k);
			if (k >= 0 && k < total && !have[k] && !strcmp(p->c[i].value, want)) {
				have[k] = 1;
				seen++;
			} else if (bad++ < 5) {
				fprintf(stderr, "  unexpected change key %s value %s\n", p->c[i].key, p->c[i].value);
			}
		}
		since = p->cursor;
		if (!p->more)
			break;
		if (pages > total)
			break;
	}
	free(have);
	CHECK_EQ_INT(seen, total);
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(pages, (total + 299) / 300);
	CHECK_EQ_INT(since, total);
	/* the client's ack continues where it was */
	ledger_push_result r;
	char body[256];
	snprintf(body, sizeof body,
		 "{\"client\":\"r\",\"mutations\":[{\"id\":%d,\"store\":\"s\",\"op\":\"put\",\"key\":0,\"value\":\"again\"},"
		 "{\"id\":%d,\"store\":\"s\",\"op\":\"put\",\"key\":-1,\"value\":\"new\"}]}",
		 total, total + 1);
	CHECK_EQ_INT(push(lg, "rdb", "", body, &r, &err), 0);
	CHECK_EQ_INT(r.duplicates, 1);
	CHECK_EQ_INT(r.applied, 1);
	CHECK_EQ_INT(r.ack, total + 1);
	CHECK_EQ_INT(r.cursor, total + 1);
	ledger_push_result_free(&r);
	/* new stamps sort after everything stored before the restart */
	hlc_stamp after;
	hlc_clock_now(ledger_clock(lg), &after);
	CHECK(after.ms >= before.ms);
	pulled *p = pull(lg, "rdb", "", NULL, total, 0);
	CHECK_EQ_INT(p->count, 1);
	CHECK_EQ_STR(p->c[0].key, "-1");
	ledger_free(lg);
}

typedef struct pusher {
	ledger *lg;
	int idx, batches, per;
	int errors;
	size_t applied;
} pusher;

static void *push_thread(void *arg)
{
	pusher *a = arg;
	char client[16], st[16];
	snprintf(client, sizeof client, "t%d", a->idx);
	snprintf(st, sizeof st, "s%d", a->idx % 3);
	ids_buf body = IDS_BUF_INIT;
	for (int bi = 0; bi < a->batches; bi++) {
		int64_t last = nth_batch(&body, client, bi, a->per, st);
		ids_error err = IDS_ERROR_INIT;
		ledger_push_result r;
		if (push(a->lg, "cdb", "", body.data, &r, &err) || r.ack != last)
			a->errors++;
		a->applied += r.applied;
		ledger_push_result_free(&r);
	}
	ids_buf_free(&body);
	return NULL;
}

static void concurrent(const char *dir)
{
	ledger *lg = open_dir(dir, 0);
	if (!lg)
		return;
	enum { T = 8, BATCHES = 40, PER = 10 };
	/* a waiter wakes up on the first commit */
	waiter w = {lg, ledger_head(lg), 20000, -1};
	pthread_t wt;
	pthread_create(&wt, NULL, wait_thread, &w);
	pusher args[T];
	pthread_t th[T];
	for (int i = 0; i < T; i++) {
		args[i] = (pusher){lg, i, BATCHES, PER, 0, 0};
		pthread_create(&th[i], NULL, push_thread, &args[i]);
	}
	int errors = 0;
	size_t applied = 0;
	for (int i = 0; i < T; i++) {
		pthread_join(th[i], NULL);
		errors += args[i].errors;
		applied += args[i].applied;
	}
	pthread_join(wt, NULL);
	CHECK_EQ_INT(w.moved, 1);
	CHECK_EQ_INT(errors, 0);
	CHECK_EQ_INT(applied, T * BATCHES * PER);
	CHECK_EQ_INT(ledger_head(lg), T * BATCHES * PER);
	const ledger_stats *st = ledger_get_stats(lg);
	CHECK_EQ_INT(atomic_load(&st->pushes), T * BATCHES);
	CHECK(atomic_load(&st->commits) >= 1 && atomic_load(&st->commits) <= T * BATCHES);
	/* every change is there exactly once, seqs 1..N without holes */
	int64_t since = 0;
	int total = 0, bad = 0;
	int64_t expect_seq = 1;
	for (int guard = 0; guard < 100; guard++) {
		pulled *p = pull(lg, "cdb", "", NULL, since, 1000);
		if (p->rc)
			break;
		for (int i = 0; i < p->parsed; i++)
			bad += p->c[i].seq != expect_seq++;
		total += p->parsed;
		since = p->cursor;
		if (!p->more)
			break;
	}
	CHECK_EQ_INT(total, T * BATCHES * PER);
	CHECK_EQ_INT(bad, 0);
	/* a waiter with nothing to wait for times out */
	CHECK_EQ_INT(ledger_wait(lg, ledger_head(lg), 50), 0);
	CHECK_EQ_INT(ledger_wait(lg, 0, 50), 1);
	ledger_free(lg);
}

int main(void)
{
	if (test_mkdtemp(tmproot, sizeof tmproot, "ids_test_ledger"))
		return 1;
	char dir[512];

	make_dir(dir, sizeof dir, "main/nested"); /* created with parents */
	ledger *lg = open_dir(dir, 0);
	if (lg) {
		push_pull(lg);
		idempotency_and_gaps(lg);
		lww_conflicts(lg);
		new_and_existing_keys(lg);
		new_rows_in_runs(lg);
		log_names(lg);
		many_stores(lg);
		server_wins(lg);
		merge_rule(lg);
		user_scoping(lg);
		ledger_free(lg);
	}
	ledger_free(NULL);

	if (!pg_template()) { /* SQLite only (ledger.h: analytics views) */
		make_dir(dir, sizeof dir, "fields");
		field_registry(dir);
		make_dir(dir, sizeof dir, "tail");
		change_log_tail(dir);
		make_dir(dir, sizeof dir, "rowids");
		row_ids(dir);
	}
	make_dir(dir, sizeof dir, "prune");
	change_prune(dir);
	make_dir(dir, sizeof dir, "pin");
	read_pin(dir);
	make_dir(dir, sizeof dir, "gc");
	gc(dir);
	make_dir(dir, sizeof dir, "reopen");
	reopen(dir, 0, 1000, 100);
	make_dir(dir, sizeof dir, "durable");
	reopen(dir, 1, 60, 7);
	make_dir(dir, sizeof dir, "concurrent");
	concurrent(dir);

	/* a data dir that cannot be created is an error, not a crash */
	ledger_options o = LEDGER_OPTIONS_INIT;
	o.dir = "/proc/ids-cannot-create/x";
	ids_error err = IDS_ERROR_INIT;
	ledger *bad = (ledger *)&o;
	CHECK(ledger_open(&bad, &o, &err) != 0);
	CHECK(bad == NULL);
	CHECK(err.msg[0] != 0);

	test_rmtree(tmproot);
	return test_report("test_ledger");
}
