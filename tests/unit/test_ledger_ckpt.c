/* Who copies the WAL into the database (src/ledger/checkpoint.c). A read snapshot (the lake's
 * pin) keeps every checkpoint short of its mark, so the WAL grows by thousands of frames
 * behind it. Once it is let go, that backlog is the checkpoint thread's to copy, beside the
 * writer: the writer's own checkpoint, which the next push waits for, copies only the last
 * frames, and the WAL still starts over at its beginning. Without a pin the WAL restarts
 * again and again and stays small. SQLite only (PostgreSQL has no WAL of ours). */
#include "ledger/ledger_int.h"

#include <time.h>

#include "ledger_test.h"

#define PER_PUSH 100
#define BACKLOG 8000 /* frames behind the pin: twice what the writer would copy (CKPT_LEFT) */

/* One push of PER_PUSH puts with ~900-byte values (about 25 frames of 4 KiB); ids go on from
 * *next. Returns the push's rc. */
static int push_one(ledger *lg, int *next)
{
	ids_buf body = {0};
	ids_buf_puts(&body, "{\"client\":\"ckpt\",\"mutations\":[");
	for (int i = 0; i < PER_PUSH; i++, (*next)++)
		ids_buf_printf(&body, "%s{\"id\":%d,\"store\":\"s\",\"op\":\"put\",\"key\":\"k%d\",\"value\":\"%.*d\"}",
			       i ? "," : "", *next, *next, 900, *next);
	ids_buf_puts(&body, "]}");
	ledger_push_result res;
	ids_error err = IDS_ERROR_INIT;
	int rc = push(lg, "db", "", body.data, &res, &err);
	if (rc)
		fprintf(stderr, "  push: %s\n", err.msg);
	ledger_push_result_free(&res);
	ids_buf_free(&body);
	return rc;
}

static void nap_ms(int ms)
{
	nanosleep(&(struct timespec){.tv_nsec = ms * 1000000L}, NULL);
}

static void backlog_after_a_pin(const char *dir)
{
	ledger *lg = open_dir(dir, 0);
	if (!lg)
		return;
	const ledger_stats *st = ledger_get_stats(lg);
	int next = 1, pushes = 0;
	for (int i = 0; i < 20; i++)
		CHECK_EQ_INT(push_one(lg, &next), 0);
	int64_t head = 0;
	ids_error err = IDS_ERROR_INIT;
	CHECK_EQ_INT(ledger_read_begin(lg, &head, &err), 0);
	while (atomic_load(&lg->wal_frames) < BACKLOG && pushes++ < 2000)
		if (!CHECK_EQ_INT(push_one(lg, &next), 0))
			break;
	int grown = atomic_load(&lg->wal_frames);
	CHECK(grown >= BACKLOG);
	long long by_writer = atomic_load(&st->ckpt_frames_writer), by_thread = atomic_load(&st->ckpt_frames_thread);
	long long restarts = atomic_load(&st->wal_restarts);
	ledger_read_end(lg);
	/* pushes go on, a little apart as a client's do, until the WAL starts over */
	for (int i = 0; i < 2000 && atomic_load(&st->wal_restarts) == restarts; i++) {
		if (!CHECK_EQ_INT(push_one(lg, &next), 0))
			break;
		nap_ms(2);
	}
	CHECK(atomic_load(&st->wal_restarts) > restarts);
	by_writer = atomic_load(&st->ckpt_frames_writer) - by_writer;
	by_thread = atomic_load(&st->ckpt_frames_thread) - by_thread;
	/* the backlog went to the thread; the writer copied at most what was left once the thread
	 * was within CKPT_LEFT (4000) frames of the end */
	if (!CHECK(by_thread >= grown - 4500) || !CHECK(by_writer <= 4500))
		fprintf(stderr, "  backlog %d frames: the thread copied %lld, the writer %lld\n", grown, by_thread,
			by_writer);
	/* every push is there */
	ledger_free(lg);
	lg = open_dir(dir, 0);
	if (lg)
		CHECK_EQ_INT(ledger_head(lg), next - 1);
	ledger_free(lg);
}

static void no_pin_stays_small(const char *dir)
{
	ledger *lg = open_dir(dir, 0);
	if (!lg)
		return;
	const ledger_stats *st = ledger_get_stats(lg);
	int next = 1, most = 0;
	for (int i = 0; i < 400; i++) {
		if (!CHECK_EQ_INT(push_one(lg, &next), 0))
			break;
		int f = atomic_load(&lg->wal_frames);
		most = f > most ? f : most;
		if (i % 4 == 0)
			nap_ms(1);
	}
	/* 400 pushes of ~25 frames: 10k frames written, the WAL started over several times */
	CHECK(atomic_load(&st->wal_restarts) >= 3);
	if (!CHECK(most < 3000))
		fprintf(stderr, "  the WAL reached %d frames\n", most);
	ledger_free(lg);
}

int main(void)
{
	if (pg_template()) /* PostgreSQL: no WAL of ours */
		return 77;
	if (test_mkdtemp(tmproot, sizeof tmproot, "ids_test_ckpt"))
		return 1;
	char dir[300];
	make_dir(dir, sizeof dir, "backlog");
	backlog_after_a_pin(dir);
	make_dir(dir, sizeof dir, "nopin");
	no_pin_stays_small(dir);
	test_rmtree(tmproot);
	return test_report("test_ledger_ckpt");
}
