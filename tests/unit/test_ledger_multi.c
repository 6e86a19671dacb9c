/* Several ledgers on one PostgreSQL database, as several idbsync servers run: a batch retried on
 * another server is acknowledged and never applied twice; pushes spread over every server with
 * forced commit delays while pullers on every server follow their cursors in small pages, and
 * each puller sees every seq exactly once (a cursor never skips a change committed late); a
 * commit on one server wakes a waiter on another (NOTIFY); leases are held by one server at a
 * time and pass on when the holder goes. Needs IDBSYNC_TEST_PG (tests/pg/ledger.test.mjs); without
 * it the test is skipped (exit 77). */
#include <pthread.h>
#include <unistd.h>

#include "ledger_test.h"

enum { SERVERS = 3 };

static void open_all(ledger **lg, const char *name)
{
	char dir[600], state[1024], own[700];
	make_dir(dir, sizeof dir, name);
	state_for(dir, state, sizeof state);
	/* one database (named after the first dir), a data dir each (node id, spool) */
	for (int i = 0; i < SERVERS; i++) {
		snprintf(own, sizeof own, "%s-%d", dir, i);
		lg[i] = open_state(own, state, 1);
	}
}

static void free_all(ledger **lg)
{
	for (int i = 0; i < SERVERS; i++)
		ledger_free(lg[i]);
}

static void retried_elsewhere(void)
{
	ledger *lg[SERVERS];
	open_all(lg, "once");
	if (!lg[0] || !lg[1] || !lg[2]) {
		free_all(lg);
		return;
	}
	const char *b15 = "{\"client\":\"x\",\"mutations\":["
			  "{\"id\":1,\"store\":\"s\",\"op\":\"put\",\"key\":1,\"value\":1},"
			  "{\"id\":2,\"store\":\"s\",\"op\":\"put\",\"key\":2,\"value\":2},"
			  "{\"id\":3,\"store\":\"s\",\"op\":\"put\",\"key\":3,\"value\":3},"
			  "{\"id\":4,\"store\":\"s\",\"op\":\"put\",\"key\":4,\"value\":4},"
			  "{\"id\":5,\"store\":\"s\",\"op\":\"put\",\"key\":5,\"value\":5}]}";
	ledger_push_result r;
	ids_error err = IDS_ERROR_INIT;
	CHECK_EQ_INT(push(lg[0], "m", "", b15, &r, &err), 0);
	CHECK_EQ_INT(r.applied, 5);
	CHECK_EQ_INT(r.ack, 5);
	int64_t c0 = r.cursor;
	ledger_push_result_free(&r);
	/* another server asked at once (before any NOTIFY) knows the head from the state */
	CHECK(ledger_head_fresh(lg[1]) >= c0);
	CHECK(ledger_head(lg[1]) >= c0);
	/* the answer was lost: the client retries on another server */
	CHECK_EQ_INT(push(lg[1], "m", "", b15, &r, &err), 0);
	CHECK_EQ_INT(r.applied, 0);
	CHECK_EQ_INT(r.duplicates, 5);
	CHECK_EQ_INT(r.ack, 5);
	ledger_push_result_free(&r);
	/* overlapping retry on a third: only the new ids apply, after the others' seqs */
	CHECK_EQ_INT(pushf(lg[2], "m", "", &r, &err,
			   "{\"client\":\"x\",\"mutations\":["
			   "{\"id\":4,\"store\":\"s\",\"op\":\"put\",\"key\":4,\"value\":4},"
			   "{\"id\":5,\"store\":\"s\",\"op\":\"put\",\"key\":5,\"value\":5},"
			   "{\"id\":6,\"store\":\"s\",\"op\":\"put\",\"key\":6,\"value\":6}]}"),
		     0);
	CHECK_EQ_INT(r.duplicates, 2);
	CHECK_EQ_INT(r.applied, 1);
	CHECK_EQ_INT(r.ack, 6);
	CHECK_EQ_INT(r.cursor, c0 + 1);
	ledger_push_result_free(&r);
	/* a gap is refused on any server: id 8 before 7 */
	CHECK_EQ_INT(pushf(lg[1], "m", "", &r, &err,
			   "{\"client\":\"x\",\"mutations\":[{\"id\":8,\"store\":\"s\",\"op\":\"put\",\"key\":8,\"value\":8}]}"),
		     0);
	CHECK_EQ_INT(r.gap, 1);
	CHECK_EQ_INT(r.applied, 0);
	CHECK_EQ_INT(r.expected, 7);
	ledger_push_result_free(&r);
	for (int i = 0; i < SERVERS; i++) {
		pulled *p = pull(lg[i], "m", "", NULL, 0, 0);
		CHECK_EQ_INT(p->rc, 0);
		CHECK_EQ_INT(p->count, 6);
		CHECK_EQ_INT(p->cursor, c0 + 1);
	}
	free_all(lg);
}

/* ---- many pushers and pullers on every server, commits delayed ---- */

enum { PUSHERS = 6, BATCHES = 15, PER = 4, TOTAL = PUSHERS * BATCHES * PER };

typedef struct shared {
	ledger *lg[SERVERS];
	atomic_int pushers_left;
} shared;

typedef struct pusher {
	shared *sh;
	int idx, errors, dup_errors;
} pusher;

/* Each batch goes to one server, then again (as a retry whose answer was lost) to the next:
 * the retry must be all duplicates. */
static void *push_main(void *arg)
{
	pusher *a = arg;
	char client[16];
	snprintf(client, sizeof client, "p%d", a->idx);
	ids_buf body = IDS_BUF_INIT;
	for (int bi = 0; bi < BATCHES; bi++) {
		int64_t last = nth_batch(&body, client, bi, PER, "s");
		ledger *first = a->sh->lg[(a->idx + bi) % SERVERS], *again = a->sh->lg[(a->idx + bi + 1) % SERVERS];
		ledger_push_result r;
		ids_error err = IDS_ERROR_INIT;
		if (push(first, "c", "", body.data, &r, &err) || r.ack != last || r.applied != PER)
			a->errors++;
		ledger_push_result_free(&r);
		if (push(again, "c", "", body.data, &r, &err) || r.ack != last || r.applied || r.duplicates != PER)
			a->dup_errors++;
		ledger_push_result_free(&r);
	}
	ids_buf_free(&body);
	atomic_fetch_sub(&a->sh->pushers_left, 1);
	return NULL;
}

typedef struct puller {
	shared *sh;
	int idx;
	int seen_twice, out_of_order, pulls, errors;
	char have[TOTAL + 1];
} puller;

/* Follows its server's cursor in pages of 3 until the pushers are done and it has caught up. */
static void *pull_main(void *arg)
{
	puller *a = arg;
	ledger *lg = a->sh->lg[a->idx];
	int64_t since = 0;
	for (;;) {
		int done = atomic_load(&a->sh->pushers_left) == 0;
		ledger_pull_req req = {.db = "c", .user = "", .since = since, .limit = 3};
		ids_buf out = IDS_BUF_INIT;
		ids_error err = IDS_ERROR_INIT;
		int64_t cur = 0;
		int cnt = 0;
		if (ledger_pull(lg, &req, &out, &cur, &cnt, &err)) {
			a->errors++;
			ids_buf_free(&out);
			break;
		}
		a->pulls++;
		ids_json j = IDS_JSON_INIT;
		if (!ids_json_parse(&j, out.data, out.len, 0, 0, &err)) {
			long ch = ids_json_get(&j, 0, "changes");
			size_t t = (size_t)ch + 1;
			int64_t prev = since;
			for (uint32_t i = 0; ch > 0 && i < j.tok[ch].size; i++, t = j.tok[t].next) {
				int64_t seq = 0;
				ids_json_i64(&j, (size_t)ids_json_get(&j, t, "seq"), &seq);
				if (seq <= prev)
					a->out_of_order++;
				prev = seq;
				if (seq >= 1 && seq <= TOTAL) {
					if (a->have[seq])
						a->seen_twice++;
					a->have[seq] = 1;
				}
			}
			ids_json_free(&j);
		} else {
			a->errors++;
		}
		ids_buf_free(&out);
		if (cur < since)
			a->out_of_order++;
		since = cur;
		if (done && cnt == 0 && since >= TOTAL)
			break;
		if (cnt == 0)
			ledger_wait(lg, since, 200); /* the long-poll's way: woken by any server's commit */
	}
	return NULL;
}

static void spread(void)
{
	/* every group holds the commit order for 3 ms: pulls run while commits are pending */
	setenv("IDBSYNC_TEST_COMMIT_DELAY_MS", "3", 1);
	shared sh;
	open_all(sh.lg, "spread");
	unsetenv("IDBSYNC_TEST_COMMIT_DELAY_MS");
	if (!sh.lg[0] || !sh.lg[1] || !sh.lg[2]) {
		free_all(sh.lg);
		return;
	}
	atomic_init(&sh.pushers_left, PUSHERS);
	static pusher pu[PUSHERS];
	static puller pl[SERVERS];
	pthread_t pt[PUSHERS], lt[SERVERS];
	for (int i = 0; i < SERVERS; i++) {
		memset(&pl[i], 0, sizeof pl[i]);
		pl[i].sh = &sh;
		pl[i].idx = i;
		pthread_create(&lt[i], NULL, pull_main, &pl[i]);
	}
	for (int i = 0; i < PUSHERS; i++) {
		pu[i] = (pusher){&sh, i, 0, 0};
		pthread_create(&pt[i], NULL, push_main, &pu[i]);
	}
	int errors = 0, dup_errors = 0;
	for (int i = 0; i < PUSHERS; i++) {
		pthread_join(pt[i], NULL);
		errors += pu[i].errors;
		dup_errors += pu[i].dup_errors;
	}
	CHECK_EQ_INT(errors, 0);
	CHECK_EQ_INT(dup_errors, 0);
	for (int i = 0; i < SERVERS; i++) {
		pthread_join(lt[i], NULL);
		int missing = 0;
		for (int q = 1; q <= TOTAL; q++)
			missing += !pl[i].have[q];
		if (!CHECK_EQ_INT(missing, 0))
			fprintf(stderr, "  puller on server %d skipped %d of %d changes\n", i, missing, TOTAL);
		CHECK_EQ_INT(pl[i].seen_twice, 0);
		CHECK_EQ_INT(pl[i].out_of_order, 0);
		CHECK_EQ_INT(pl[i].errors, 0);
		CHECK(pl[i].pulls > 1);
	}
	/* every server agrees on the head, and the change log has each change once */
	for (int i = 0; i < SERVERS; i++) {
		pulled *p = pull(sh.lg[i], "c", "", NULL, TOTAL - 5, 0);
		CHECK_EQ_INT(p->rc, 0);
		CHECK_EQ_INT(p->count, 5);
		CHECK_EQ_INT(p->cursor, TOTAL);
	}
	free_all(sh.lg);
}

/* A long-poll on one server wakes for a commit on another (LISTEN/NOTIFY, pg.c). */
static void wake_across(void)
{
	ledger *lg[SERVERS];
	open_all(lg, "wake");
	if (!lg[0] || !lg[1] || !lg[2]) {
		free_all(lg);
		return;
	}
	waiter w = {lg[1], ledger_head(lg[1]), 30000, -1};
	pthread_t t;
	pthread_create(&t, NULL, wait_thread, &w);
	ledger_push_result r;
	ids_error err = IDS_ERROR_INIT;
	CHECK_EQ_INT(push(lg[0], "w", "", "{\"client\":\"w\",\"mutations\":[{\"id\":1,\"store\":\"s\",\"op\":\"put\",\"key\":1,\"value\":1}]}",
			  &r, &err),
		     0);
	ledger_push_result_free(&r);
	pthread_join(t, NULL);
	CHECK_EQ_INT(w.moved, 1);
	CHECK(ledger_head(lg[1]) >= w.after + 1);
	free_all(lg);
}

/* Asks for the lease until lg holds it (its holder's session is going away): 1 when it does. */
static int take_lease(ledger *lg, const char *name)
{
	ids_error err = IDS_ERROR_INIT;
	int held = 0;
	for (int i = 0; i < 300 && !held; i++) {
		CHECK_EQ_INT(ledger_lease(lg, name, &held, &err), 0);
		if (!held)
			usleep(20000);
	}
	return held;
}

/* All three stores open on one database, and lg[0] holding the lake lease; 0 if not. */
static int open_with_lake(ledger **lg, const char *name)
{
	open_all(lg, name);
	if (!lg[0] || !lg[1] || !lg[2]) {
		free_all(lg);
		return 0;
	}
	ids_error err = IDS_ERROR_INIT;
	int held = -1;
	CHECK_EQ_INT(ledger_lease(lg[0], "lake", &held, &err), 0);
	CHECK_EQ_INT(held, 1);
	return 1;
}

/* One holder per lease name; the next server takes it once the holder is gone. */
static void leases(void)
{
	ledger *lg[SERVERS];
	if (!open_with_lake(lg, "lease"))
		return;
	ids_error err = IDS_ERROR_INIT;
	int held = -1;
	CHECK_EQ_INT(ledger_lease(lg[0], "lake", &held, &err), 0); /* asking again keeps it */
	CHECK_EQ_INT(held, 1);
	CHECK_EQ_INT(ledger_lease(lg[1], "lake", &held, &err), 0);
	CHECK_EQ_INT(held, 0);
	CHECK_EQ_INT(ledger_lease(lg[1], "inbox", &held, &err), 0); /* another name, another lease */
	CHECK_EQ_INT(held, 1);
	CHECK_EQ_INT(ledger_lease(lg[2], "inbox", &held, &err), 0);
	CHECK_EQ_INT(held, 0);
	ledger_free(lg[0]); /* the holder goes: its session ends and PostgreSQL frees the lock */
	lg[0] = NULL;
	CHECK_EQ_INT(take_lease(lg[2], "lake"), 1);
	CHECK_EQ_INT(ledger_lease(lg[1], "lake", &held, &err), 0);
	CHECK_EQ_INT(held, 0);
	free_all(lg);
}

/* Lake commits are fenced by the lease: a holder whose lease session died (cut off from the
 * database, still running) commits nothing once another server took the lease, nor while it
 * cannot prove it holds it; every new holder counts the lease's generation up. */
static void fence(void)
{
	ledger *lg[SERVERS];
	if (!open_with_lake(lg, "fence"))
		return;
	ids_error err = IDS_ERROR_INIT;
	int held = -1;
	CHECK_EQ_INT(ledger_lease_fence_begin(lg[0], "lake", &err), 0);
	ledger_lease_fence_end(lg[0]);
	CHECK_EQ_INT(ledger_lease_fence_begin(lg[1], "lake", &err), IDS_EBUSY); /* never held it */
	CHECK_HAS(err.msg, "lake lease is no longer this server's");

	/* lg[0]'s lease session is cut while it is inside a fenced commit (the commit's transaction
	 * dies with it); lg[0] goes on running without noticing */
	char dir[600], state[1024], uri[1024];
	make_dir(dir, sizeof dir, "fence");
	state_for(dir, state, sizeof state);
	snprintf(uri, sizeof uri, "%s", state);
	CHECK_EQ_INT(ledger_lease_fence_begin(lg[0], "lake", &err), 0);
	PGconn *c = PQconnectdb(uri);
	char kill[200];
	snprintf(kill, sizeof kill,
		 "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype='advisory' AND classid=7453 AND objid=%u",
		 ledger_key_hash((const uint8_t *)"lake", 4) & 0x7fffffffu);
	PGresult *r = PQexec(c, kill);
	CHECK(PQresultStatus(r) == PGRES_TUPLES_OK);
	PQclear(r);
	ledger_lease_fence_end(lg[0]); /* its COMMIT fails: the session is gone */
	CHECK_EQ_INT(take_lease(lg[1], "lake"), 1);
	/* lg[0] has not noticed (no lease check since): its next commit is refused */
	CHECK_EQ_INT(ledger_lease_fence_begin(lg[0], "lake", &err), IDS_EBUSY);
	CHECK_EQ_INT(ledger_lease_fence_begin(lg[1], "lake", &err), 0);
	ledger_lease_fence_end(lg[1]);
	/* and lg[0] learns it lost the lease; lg[1] keeps it */
	CHECK_EQ_INT(ledger_lease(lg[0], "lake", &held, &err), 0);
	CHECK_EQ_INT(held, 0);
	CHECK_EQ_INT(ledger_lease_fence_begin(lg[0], "lake", &err), IDS_EBUSY);
	CHECK_EQ_INT(ledger_lease_fence_begin(lg[1], "lake", &err), 0);
	ledger_lease_fence_end(lg[1]);
	r = PQexec(c, "SELECT v FROM meta WHERE k='lease:lake'");
	CHECK(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !strcmp(PQgetvalue(r, 0, 0), "2"));
	PQclear(r);
	PQfinish(c);
	free_all(lg);
}

int main(void)
{
	if (!pg_template()) {
		printf("test_ledger_multi: skipped (IDBSYNC_TEST_PG is not set; tests/pg/ledger.test.mjs sets it)\n");
		return 77;
	}
	if (test_mkdtemp(tmproot, sizeof tmproot, "ids_test_ledger_multi"))
		return 1;
	retried_elsewhere();
	spread();
	wake_across();
	leases();
	fence();
	test_rmtree(tmproot);
	return test_report("test_ledger_multi");
}
