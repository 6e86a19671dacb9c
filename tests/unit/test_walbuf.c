/* The writer's WAL write buffer (src/ledger/walbuf.c) under the cases where SQLite does more
 * than append a commit's frames: a transaction larger than the page cache spills frames
 * before its commit, reads them back and rewrites them in place; a spilled transaction is
 * rolled back; a commit is larger than the buffer. Each time a second connection (the default
 * VFS, as the server's readers) and a reopened database must see exactly what was committed.
 * Last, a commit whose frames need a WAL index region that cannot be had (a full disk; here the
 * VFS beneath refuses it) fails before its frames count: a recovered copy does not have it. */
#include "ledger/ledger_int.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "test_util.h"

static int exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		TEST_FAIL("%s: %s", sql, msg ? msg : sqlite3_errstr(rc));
	sqlite3_free(msg);
	return rc;
}

static long long one(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *q = NULL;
	long long v = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int64(q, 0);
	else
		TEST_FAIL("%s: %s", sql, sqlite3_errmsg(db));
	sqlite3_finalize(q);
	return v;
}

/* rows [from, to) with 3000-byte values: about one page each */
static void insert(sqlite3 *db, int from, int to)
{
	char sql[256];
	snprintf(sql, sizeof sql,
		 "WITH RECURSIVE n(i) AS (SELECT %d UNION ALL SELECT i+1 FROM n WHERE i+1<%d)"
		 " INSERT INTO t(id, v) SELECT i, printf('%%.3000c', char(65 + i %% 26)) FROM n",
		 from, to);
	exec(db, sql);
}

static void check_state(sqlite3 *db, long long rows, long long sum, const char *when)
{
	long long n = one(db, "SELECT count(*) FROM t"), s = one(db, "SELECT sum(id + length(v) + unicode(v)) FROM t");
	if (n != rows || s != sum)
		TEST_FAIL("%s: %lld rows (sum %lld), expected %lld (sum %lld)", when, n, s, rows, sum);
	else
		CHECK(1);
}

static void check_integrity(sqlite3 *db)
{
	sqlite3_stmt *q = NULL;
	sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL);
	CHECK(q && sqlite3_step(q) == SQLITE_ROW && !strcmp((const char *)sqlite3_column_text(q, 0), "ok"));
	sqlite3_finalize(q);
}

static int copy_file(const char *from, const char *to, const char *suffix)
{
	char a[320], b[320], buf[65536];
	snprintf(a, sizeof a, "%s%s", from, suffix);
	snprintf(b, sizeof b, "%s%s", to, suffix);
	FILE *in = fopen(a, "rb"), *out = fopen(b, "wb");
	size_t n, total = 0;
	while (in && out && (n = fread(buf, 1, sizeof buf, in)) > 0)
		total += fwrite(buf, 1, n, out);
	int ok = in && out && total > 0;
	if (in)
		fclose(in);
	if (out)
		fclose(out);
	return ok;
}

/* The VFS beneath walbuf.c's: the unix one, refusing WAL index regions from fail_from on as a
 * full disk does (walbuf.c's shm_back answers SQLITE_FULL there). */
static sqlite3_vfs *unix_vfs, refusing_vfs;
static sqlite3_io_methods refusing_io;
static const sqlite3_io_methods *unix_io;
static int fail_from = 1 << 30;

static int refusing_shm_map(sqlite3_file *p, int pg, int sz, int ext, void volatile **out)
{
	if (pg >= fail_from) {
		*out = NULL;
		return SQLITE_FULL;
	}
	return unix_io->xShmMap(p, pg, sz, ext, out);
}

static int refusing_open(sqlite3_vfs *v, sqlite3_filename name, sqlite3_file *p, int flags, int *out_flags)
{
	(void)v;
	int rc = unix_vfs->xOpen(unix_vfs, name, p, flags, out_flags);
	if (rc == SQLITE_OK && p->pMethods && (!unix_io || p->pMethods == unix_io)) {
		unix_io = p->pMethods;
		refusing_io = *unix_io;
		refusing_io.xShmMap = refusing_shm_map;
		p->pMethods = &refusing_io;
	}
	return rc;
}

static long long file_size(const char *path, const char *suffix)
{
	char a[320];
	struct stat st;
	snprintf(a, sizeof a, "%s%s", path, suffix);
	return stat(a, &st) ? -1 : (long long)st.st_size;
}

/* frames in the WAL (a passive checkpoint's count), and where the last one ends */
static long long wal_end(sqlite3 *db)
{
	int log = -1, done = -1;
	CHECK_EQ_INT(sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done), SQLITE_OK);
	return 32 + (long long)log * (4096 + 24);
}

/* 1 if bytes [from, to) of the file are all zero */
static int zeros(const char *path, const char *suffix, long long from, long long to)
{
	char a[320], buf[65536];
	snprintf(a, sizeof a, "%s%s", path, suffix);
	FILE *in = fopen(a, "rb");
	int ok = in && fseek(in, from, SEEK_SET) == 0;
	for (long long at = from; ok && at < to;) {
		size_t want = to - at < (long long)sizeof buf ? (size_t)(to - at) : sizeof buf, n = fread(buf, 1, want, in);
		for (size_t i = 0; ok && i < n; i++)
			ok = buf[i] == 0;
		ok = ok && n == want;
		at += (long long)n;
	}
	if (in)
		fclose(in);
	return ok;
}

/* The WAL gets its blocks ahead of its commits (walfill.c): after a commit near the file's end a
 * thread appends zeros (1 MiB at first, then as much as the file has, up to 8 MiB), which
 * commits then overwrite with their frames; a copy taken
 * meanwhile (a kill -9) recovers exactly the commits, and nothing is filled past the WAL limit. */
static void fill_ahead(const char *dir)
{
	char path[300], copy[300];
	snprintf(path, sizeof path, "%s/fill.sqlite", dir);
	snprintf(copy, sizeof copy, "%s/fill-copy.sqlite", dir);
	sqlite3 *w = NULL, *r = NULL;
	CHECK_EQ_INT(sqlite3_open_v2(path, &w, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, LEDGER_WALBUF_VFS), SQLITE_OK);
	exec(w, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA wal_autocheckpoint=0;"
		"PRAGMA journal_size_limit=" LEDGER_WAL_LIMIT_SQL "; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL)");
	/* a reader in a transaction keeps the WAL from starting over, as the lake's reads do */
	CHECK_EQ_INT(sqlite3_open_v2(path, &r, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	exec(r, "BEGIN");
	one(r, "SELECT count(*) FROM t");
	insert(w, 0, 10);
	/* the fill is the thread's: wait for it (not a timing: 1 MiB of zeros, however slow) */
	for (int i = 0; i < 2000 && file_size(path, "-wal") < (1 << 20); i++)
		sqlite3_sleep(10);
	long long size = file_size(path, "-wal"), end = wal_end(w);
	CHECK(size >= (1 << 20));
	CHECK(end < size && zeros(path, "-wal", end, size));
	/* commits into the filled part, and past it while the next fill runs */
	for (int c = 0; c < 12; c++)
		insert(w, 10 + c * 300, 10 + (c + 1) * 300);
	long long sum = one(w, "SELECT sum(id + length(v) + unicode(v)) FROM t");
	CHECK(wal_end(w) > (8 << 20));
	CHECK(copy_file(path, copy, ""));
	CHECK(copy_file(path, copy, "-wal"));
	sqlite3 *c = NULL;
	CHECK_EQ_INT(sqlite3_open_v2(copy, &c, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	check_state(c, 3610, sum, "recovered copy of a filled WAL");
	check_integrity(c);
	sqlite3_close(c);
	/* to past the limit (64 MiB): the file ends with the frames, no zeros beyond */
	for (int c2 = 0; c2 < 100 && wal_end(w) < LEDGER_WAL_LIMIT + (1 << 20); c2++)
		insert(w, 4000 + c2 * 2000, 4000 + (c2 + 1) * 2000);
	for (int i = 0; i < 200; i++)
		sqlite3_sleep(10); /* a fill that would start now would have written by then */
	CHECK_EQ_INT(file_size(path, "-wal"), wal_end(w));
	exec(r, "COMMIT");
	sqlite3_close(r);
	sqlite3_close(w);
}

/* Another connection writes the same WAL (the server's Iceberg catalog does, icecat.c): its
 * frames appended right after a commit of the writer's that started a fill reach the bytes
 * being filled, and must not be zeroed by it. Rounds of: the writer commits near the end (a
 * fill starts), the other connection at once commits 1.2 MB; the rows, a recovered copy and
 * the integrity check must all hold. The fill is slowed (a test hook) so that every such commit
 * meets a fill at work: without the join, pages of these commits read back as zeros. */
static void fill_other_writer(const char *dir)
{
	setenv("IDBSYNC_TEST_WALFILL_SLOW", "20000", 1);
	char path[300], copy[300];
	snprintf(path, sizeof path, "%s/fill2.sqlite", dir);
	snprintf(copy, sizeof copy, "%s/fill2-copy.sqlite", dir);
	sqlite3 *w = NULL, *o = NULL, *r = NULL;
	CHECK_EQ_INT(sqlite3_open_v2(path, &w, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, LEDGER_WALBUF_VFS), SQLITE_OK);
	exec(w, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA wal_autocheckpoint=0;"
		"CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL)");
	CHECK_EQ_INT(sqlite3_open_v2(path, &o, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	exec(o, "PRAGMA synchronous=FULL; PRAGMA wal_autocheckpoint=0");
	CHECK_EQ_INT(sqlite3_open_v2(path, &r, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	unsetenv("IDBSYNC_TEST_WALFILL_SLOW"); /* read when the WAL opened */
	exec(r, "BEGIN");
	one(r, "SELECT count(*) FROM t");
	int id = 0;
	for (int round = 0; round < 20; round++) {
		insert(w, id, id + 5);
		id += 5;
		insert(o, id, id + 300);
		id += 300;
	}
	long long sum = one(w, "SELECT sum(id + length(v) + unicode(v)) FROM t");
	check_state(o, id, sum, "the other connection after the rounds");
	CHECK(copy_file(path, copy, ""));
	CHECK(copy_file(path, copy, "-wal"));
	exec(r, "COMMIT");
	sqlite3_close(r);
	sqlite3_close(o);
	sqlite3_close(w);
	sqlite3 *c = NULL;
	CHECK_EQ_INT(sqlite3_open_v2(copy, &c, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	check_state(c, id, sum, "recovered copy after two writers");
	check_integrity(c);
	sqlite3_close(c);
}

/* A fill that fails (a full disk; here the test hook's ENOSPC after one 256 KiB piece) is cut
 * back to where it started and not tried again: the WAL then grows with its commits, exactly
 * to their last frame, as SQLite's own does. */
static void fill_fails(const char *dir)
{
	char path[300];
	snprintf(path, sizeof path, "%s/fillfail.sqlite", dir);
	setenv("IDBSYNC_TEST_WALFILL_FAIL", "262144", 1);
	sqlite3 *w = NULL;
	CHECK_EQ_INT(sqlite3_open_v2(path, &w, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, LEDGER_WALBUF_VFS), SQLITE_OK);
	exec(w, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA wal_autocheckpoint=0;"
		"CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL)"); /* the WAL opens here */
	unsetenv("IDBSYNC_TEST_WALFILL_FAIL");
	sqlite3 *r = NULL; /* keeps the WAL from starting over (wal_end's checkpoints) */
	CHECK_EQ_INT(sqlite3_open_v2(path, &r, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	exec(r, "BEGIN");
	one(r, "SELECT count(*) FROM t");
	insert(w, 0, 10);
	for (int i = 0; i < 100; i++)
		sqlite3_sleep(10); /* the fill's thread fails by itself */
	long long first = wal_end(w);
	CHECK(file_size(path, "-wal") < first + 262144); /* cut back */
	/* commits well past that point: each sync would start a fill if one were allowed */
	for (int c = 0; c < 100 && wal_end(w) < first + (2 << 20); c++) {
		insert(w, 10 + c * 100, 10 + (c + 1) * 100);
		for (int i = 0; i < 20; i++)
			sqlite3_sleep(10);
	}
	CHECK_EQ_INT(file_size(path, "-wal"), wal_end(w));
	CHECK(wal_end(w) >= first + (2 << 20));
	exec(r, "COMMIT");
	sqlite3_close(r);
	sqlite3_close(w);
}

int main(void)
{
	char dir[256], path[300];
	if (test_mkdtemp(dir, sizeof dir, "walbuf"))
		return 1;
	snprintf(path, sizeof path, "%s/t.sqlite", dir);
	unix_vfs = sqlite3_vfs_find(NULL);
	refusing_vfs = *unix_vfs;
	refusing_vfs.zName = "refusing";
	refusing_vfs.xOpen = refusing_open;
	CHECK_EQ_INT(sqlite3_vfs_register(&refusing_vfs, 1), SQLITE_OK);
	CHECK_EQ_INT(ledger_walbuf_register(), SQLITE_OK);
	/* every connection that names no VFS (the server's readers) maps the WAL index through
	 * walbuf.c's shm_back, which gets each region its disk blocks (faults/shm_full) */
	CHECK(sqlite3_vfs_find(NULL) && !strcmp(sqlite3_vfs_find(NULL)->zName, LEDGER_SHM_VFS));

	sqlite3 *w = NULL, *r = NULL;
	CHECK_EQ_INT(sqlite3_open_v2(path, &w, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, LEDGER_WALBUF_VFS), SQLITE_OK);
	exec(w, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA wal_autocheckpoint=0;"
		"CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL)");
	CHECK_EQ_INT(sqlite3_open_v2(path, &r, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);

	/* a plain commit, then one larger than the buffer (1 MiB: ~1300 pages of 4 KiB) */
	insert(w, 0, 100);
	insert(w, 100, 1500);
	long long sum = one(w, "SELECT sum(id + length(v) + unicode(v)) FROM t");
	check_state(r, 1500, sum, "reader after large commit");

	/* a transaction bigger than a 20-page cache: frames spill to the WAL before the commit, are
	 * read back by the updates and rewritten in place */
	exec(w, "PRAGMA cache_size=20");
	exec(w, "BEGIN");
	insert(w, 1500, 1800);
	exec(w, "UPDATE t SET v = printf('%.3000c', 'z') WHERE id % 7 = 0");
	long long mid = one(w, "SELECT sum(id + length(v) + unicode(v)) FROM t");
	check_state(r, 1500, sum, "reader during the spilled transaction");
	exec(w, "COMMIT");
	check_state(r, 1800, mid, "reader after the spilled commit");
	check_state(w, 1800, mid, "writer after the spilled commit");

	/* a spilled transaction rolled back leaves nothing */
	exec(w, "BEGIN");
	insert(w, 1800, 2200);
	exec(w, "DELETE FROM t WHERE id < 300");
	exec(w, "ROLLBACK");
	check_state(w, 1800, mid, "writer after rollback");
	check_state(r, 1800, mid, "reader after rollback");
	exec(w, "PRAGMA cache_size=2000");
	insert(w, 1800, 1810);
	long long last = one(w, "SELECT sum(id + length(v) + unicode(v)) FROM t");
	check_state(r, 1810, last, "reader after the commit following a rollback");

	/* a checkpoint through the buffered connection, then the WAL restarts and is overwritten */
	CHECK_EQ_INT(sqlite3_wal_checkpoint_v2(w, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL), SQLITE_OK);
	insert(w, 1810, 1900);
	last = one(w, "SELECT sum(id + length(v) + unicode(v)) FROM t");
	check_state(r, 1900, last, "reader after the WAL restarted");
	/* past the first 32 KiB region of the WAL index (4062 frames): a region the writer extends
	 * and populates, the reader maps and populates again */
	insert(w, 1900, 6300);
	last = one(w, "SELECT sum(id + length(v) + unicode(v)) FROM t");
	check_state(r, 6300, last, "reader after a WAL of two index regions");

	/* what is on disk: the files copied while both connections are open (as a kill -9 leaves
	 * them), opened without the buffer, the WAL recovered from its frames */
	char copy[300];
	snprintf(copy, sizeof copy, "%s/c.sqlite", dir);
	CHECK(copy_file(path, copy, ""));
	CHECK(copy_file(path, copy, "-wal"));
	sqlite3_close(r);
	sqlite3_close(w);
	CHECK_EQ_INT(sqlite3_open_v2(copy, &r, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	check_state(r, 6300, last, "recovered copy");
	check_integrity(r);
	sqlite3_close(r);

	/* a commit that needs index region 1 (past 4062 frames) when it cannot be had: SQLITE_FULL,
	 * and none of its frames in the WAL as a commit (SQLite alone syncs them first and fails
	 * on the index after: a recovered copy then had the refused commit) */
	snprintf(path, sizeof path, "%s/f.sqlite", dir);
	CHECK_EQ_INT(sqlite3_open_v2(path, &w, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, LEDGER_WALBUF_VFS), SQLITE_OK);
	exec(w, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA wal_autocheckpoint=0; PRAGMA cache_size=-100000;"
		"CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL)");
	insert(w, 0, 10);
	last = one(w, "SELECT sum(id + length(v) + unicode(v)) FROM t");
	fail_from = 1;
	char sql[256];
	snprintf(sql, sizeof sql,
		 "WITH RECURSIVE n(i) AS (SELECT 10 UNION ALL SELECT i+1 FROM n WHERE i+1<4600)"
		 " INSERT INTO t(id, v) SELECT i, printf('%%.3000c', 'q') FROM n");
	CHECK_EQ_INT(sqlite3_exec(w, sql, NULL, NULL, NULL) & 0xff, SQLITE_FULL);
	check_state(w, 10, last, "writer after the refused commit");
	snprintf(copy, sizeof copy, "%s/g.sqlite", dir);
	CHECK(copy_file(path, copy, ""));
	CHECK(copy_file(path, copy, "-wal"));
	fail_from = 1 << 30;
	CHECK_EQ_INT(sqlite3_open_v2(copy, &r, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	check_state(r, 10, last, "recovered copy after the refused commit");
	sqlite3_close(r);
	/* the region back: the same commit goes through. The refused frames were dropped by a
	 * flush of a full buffer (in xWrite), whose error walbuf.c also keeps for the next sync (a
	 * sync must never succeed after buffered frames were lost), so that next commit fails
	 * once more, and a retry goes through. */
	CHECK_EQ_INT(sqlite3_exec(w, sql, NULL, NULL, NULL) & 0xff, SQLITE_FULL);
	CHECK_EQ_INT(sqlite3_exec(w, sql, NULL, NULL, NULL), SQLITE_OK);
	CHECK_EQ_INT(one(w, "SELECT count(*) FROM t"), 4600);
	sqlite3_close(w);
	fill_ahead(dir);
	fill_other_writer(dir);
	fill_fails(dir);
	test_rmtree(dir);
	return test_report("test_walbuf");
}
