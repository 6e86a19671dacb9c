/* The Iceberg catalog kept in the state (src/ledger/icecat.c): a table's row is created once,
 * moved only from the location it holds (the compare-and-set that is an S3 warehouse's commit
 * point), read back, listed by namespace; a second store on the same state sees every commit.
 * SQLite, or PostgreSQL with IDBSYNC_TEST_PG (tests/pg/ledger.test.mjs). */
#include "ledger_test.h"

static void swap_get_list(const char *dir)
{
	ledger *lg = open_dir(dir, 1);
	if (!CHECK(lg))
		return;
	ids_error err = IDS_ERROR_INIT;
	ids_buf b = IDS_BUF_INIT;
	CHECK_EQ_INT(ledger_ice_get(lg, "app", "docs", &b, &err), IDS_ENOTFOUND);
	err = (ids_error)IDS_ERROR_INIT;
	CHECK_EQ_INT(ledger_ice_swap(lg, "app", "docs", NULL, "s3://b/p/app/docs/metadata/v1-a.metadata.json", &err), 0);
	/* created once: a second create is a conflict, as is a move from a location it does not hold */
	CHECK_EQ_INT(ledger_ice_swap(lg, "app", "docs", NULL, "s3://b/x", &err), IDS_ECONFLICT);
	err = (ids_error)IDS_ERROR_INIT;
	CHECK_EQ_INT(ledger_ice_swap(lg, "app", "docs", "s3://b/old", "s3://b/x", &err), IDS_ECONFLICT);
	CHECK_HAS(err.msg, "app.docs");
	err = (ids_error)IDS_ERROR_INIT;
	CHECK_EQ_INT(ledger_ice_swap(lg, "app", "docs", "s3://b/p/app/docs/metadata/v1-a.metadata.json",
				    "s3://b/p/app/docs/metadata/v2-b.metadata.json", &err), 0);
	CHECK_EQ_INT(ledger_ice_get(lg, "app", "docs", &b, &err), 0);
	CHECK_EQ_STR(b.data, "s3://b/p/app/docs/metadata/v2-b.metadata.json");
	CHECK_EQ_INT(ledger_ice_swap(lg, "app", "docs_changes", NULL, "s3://b/c1", &err), 0);
	CHECK_EQ_INT(ledger_ice_swap(lg, "crm", "t", NULL, "s3://b/t1", &err), 0);
	ids_buf l = IDS_BUF_INIT;
	CHECK_EQ_INT(ledger_ice_list(lg, NULL, &l, &err), 0);
	CHECK_EQ_STR(l.data, "app\ncrm\n");
	l.len = 0;
	CHECK_EQ_INT(ledger_ice_list(lg, "app", &l, &err), 0);
	CHECK_EQ_STR(l.data, "docs\ndocs_changes\n");
	ledger_free(lg);
	/* durable: a reopened state has the last commit */
	lg = open_dir(dir, 1);
	if (CHECK(lg)) {
		b.len = 0;
		CHECK_EQ_INT(ledger_ice_get(lg, "app", "docs", &b, &err), 0);
		CHECK_EQ_STR(b.data, "s3://b/p/app/docs/metadata/v2-b.metadata.json");
		ledger_free(lg);
	}
	ids_buf_free(&b);
	ids_buf_free(&l);
}

int main(void)
{
	(void)pushf, (void)pull;   /* ledger_test.h's push and pull helpers: not needed here */
	if (test_mkdtemp(tmproot, sizeof tmproot, "ids_test_icecat"))
		return 1;
	char dir[512];
	make_dir(dir, sizeof dir, "icecat");
	swap_get_list(dir);
	test_rmtree(tmproot);
	return test_report("test_ledger_icecat");
}
