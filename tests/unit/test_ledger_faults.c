/* The commit path under injected failures (ledger_int.h's fault hook): a failure of BEGIN, a
 * SAVEPOINT, a ROLLBACK TO, a RELEASE, the head update or the COMMIT makes the push fail with
 * the error, commits nothing of it (head, rows and change log as before), and leaves the
 * ledger working: the same push succeeds right after. */
#include "idbsync/ledger.h"
#include "ledger/ledger_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_util.h"

static int push(ledger *lg, const char *body, ledger_push_result *res, ids_error *err)
{
	ids_batch *b = NULL;
	ids_limits lim = IDS_LIMITS_INIT;
	ledger_push_result_init(res);
	int rc = ids_batch_parse(&b, "db", strdup(body), strlen(body), &lim, ledger_clock(lg), err);
	if (!rc)
		rc = ledger_push(lg, b, res, err);
	ids_batch_free(b);
	return rc;
}

/* Changes of store st in the pull feed. */
static int changes(ledger *lg, const char *st)
{
	ledger_pull_req r = {"db", "", NULL, 0, 10000, 0};
	ids_buf out = IDS_BUF_INIT;
	int64_t cursor;
	int count = 0;
	ids_error err = IDS_ERROR_INIT;
	CHECK_EQ_INT(ledger_pull(lg, &r, &out, &cursor, &count, &err), 0);
	int n = 0;
	char pat[64];
	snprintf(pat, sizeof pat, "\"store\":\"%s\"", st);
	for (const char *p = out.data; p && (p = strstr(p, pat)); p++)
		n++;
	ids_buf_free(&out);
	return n;
}

static void one_step(const char *dir, const char *stepname)
{
	ledger_options o = LEDGER_OPTIONS_INIT;
	o.dir = dir;
	o.durable = 0;
	ledger *lg = NULL;
	ids_error err = IDS_ERROR_INIT;
	if (!CHECK_EQ_INT(ledger_open(&lg, &o, &err), 0))
		return;
	ledger_push_result res;
	CHECK_EQ_INT(push(lg, "{\"client\":\"a\",\"mutations\":[{\"id\":1,\"store\":\"t\",\"op\":\"put\",\"key\":1,\"value\":1}]}", &res,
			  &err), 0);
	ledger_push_result_free(&res);
	ledger_set_read_only(lg, "db", "ro");
	int64_t head = ledger_head(lg);
	/* rollback_to runs only for a push refused on its own: a write to a read-only store */
	const char *body = !strcmp(stepname, "rollback_to")
				   ? "{\"client\":\"b\",\"mutations\":[{\"id\":1,\"store\":\"ro\",\"op\":\"put\",\"key\":1,\"value\":1}]}"
				   : "{\"client\":\"b\",\"mutations\":[{\"id\":1,\"store\":\"t\",\"op\":\"put\",\"key\":2,\"value\":2},"
				     "{\"id\":2,\"store\":\"t\",\"op\":\"put\",\"key\":3,\"value\":3}]}";
	lg->fault_step = stepname;
	lg->fault_countdown = 1;
	ids_error perr = IDS_ERROR_INIT;
	int rc = push(lg, body, &res, &perr);
	ledger_push_result_free(&res);
	int own = !strcmp(stepname, "rollback_to");   /* a refused push keeps its own answer (403) */
	if (!CHECK_EQ_INT(rc, own ? IDS_EFORBIDDEN : IDS_EIO))
		fprintf(stderr, "  step %s: push answered %d (%s)\n", stepname, rc, perr.msg);
	CHECK(own || strstr(perr.msg, stepname) != NULL);
	CHECK_EQ_INT(ledger_head(lg), head);
	CHECK_EQ_INT(changes(lg, "t"), 1);
	CHECK_EQ_INT(changes(lg, "ro"), 0);
	lg->fault_step = NULL;
	/* the ledger goes on: the same push now gets its own answer */
	rc = push(lg, body, &res, &perr);
	if (!strcmp(stepname, "rollback_to")) {
		CHECK_EQ_INT(rc, IDS_EFORBIDDEN);
		CHECK_EQ_INT(ledger_head(lg), head);
	} else {
		CHECK_EQ_INT(rc, 0);
		CHECK_EQ_INT(res.applied, 2);
		CHECK_EQ_INT(ledger_head(lg), head + 2);
		CHECK_EQ_INT(changes(lg, "t"), 3);
	}
	ledger_push_result_free(&res);
	ledger_free(lg);
	/* and what was committed is what a restart finds */
	if (!CHECK_EQ_INT(ledger_open(&lg, &o, &err), 0))
		return;
	CHECK_EQ_INT(ledger_head(lg), !strcmp(stepname, "rollback_to") ? head : head + 2);
	ledger_free(lg);
}

/* Several pushers at once so groups hold several jobs; the second RELEASE of the run fails:
 * every job of that group fails, none of its writes is committed, the others are. */
typedef struct pusher {
	ledger *lg;
	int n, rc;
} pusher;

static void *push_thread(void *arg)
{
	pusher *p = arg;
	char body[300];
	snprintf(body, sizeof body,
		 "{\"client\":\"p%d\",\"mutations\":[{\"id\":1,\"store\":\"g\",\"op\":\"put\",\"key\":%d,\"value\":1},"
		 "{\"id\":2,\"store\":\"g\",\"op\":\"put\",\"key\":%d,\"value\":2}]}",
		 p->n, p->n * 10, p->n * 10 + 1);
	ledger_push_result res;
	ids_error err = IDS_ERROR_INIT;
	p->rc = push(p->lg, body, &res, &err);
	ledger_push_result_free(&res);
	return NULL;
}

static void group(const char *dir)
{
	ledger_options o = LEDGER_OPTIONS_INIT;
	o.dir = dir;
	o.durable = 1;   /* slower commits: the pushers queue up behind them */
	ledger *lg = NULL;
	ids_error err = IDS_ERROR_INIT;
	if (!CHECK_EQ_INT(ledger_open(&lg, &o, &err), 0))
		return;
	lg->fault_step = "release";
	lg->fault_countdown = 2;
	pusher p[8];
	pthread_t th[8];
	for (int i = 0; i < 8; i++) {
		p[i] = (pusher){lg, i + 1, -99};
		pthread_create(&th[i], NULL, push_thread, &p[i]);
	}
	int ok = 0, failed = 0;
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		ok += p[i].rc == 0;
		failed += p[i].rc == IDS_EIO;
	}
	CHECK_EQ_INT(ok + failed, 8);
	CHECK(failed >= 1);
	CHECK_EQ_INT(changes(lg, "g"), 2 * ok);   /* nothing of a failed push, all of a good one */
	CHECK_EQ_INT(ledger_head(lg), 2 * ok);
	ledger_free(lg);
}

int main(void)
{
	char root[256];
	if (test_mkdtemp(root, sizeof root, "idbsync-faults"))
		return 1;
	const char *steps[] = {"begin", "savepoint", "rollback_to", "release", "head", "commit"};
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		char dir[300];
		snprintf(dir, sizeof dir, "%s/%s", root, steps[i]);
		one_step(dir, steps[i]);
	}
	char gdir[300];
	snprintf(gdir, sizeof gdir, "%s/group", root);
	group(gdir);
	test_rmtree(root);
	return test_report("test_ledger_faults");
}
