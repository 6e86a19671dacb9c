/* Online backup and restore of the SQLite state. A backup is SQLite's backup API run from
 * its own read connection: one read transaction copies every page, so the copy is the state
 * at one commit while the server goes on writing (WAL). A restore checks the file, takes the
 * data dir's lock (no server may run on it), replaces the database and gives the state a new
 * epoch, so clients holding cursors of the old state resync instead of waiting for seqs that
 * will never come. */
#include "ledger_int.h"
#include "idbsync/path.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

void ledger_new_epoch(char out[LEDGER_EPOCH_LEN + 1])
{
	unsigned char rnd[LEDGER_EPOCH_LEN / 2];
	sqlite3_randomness(sizeof rnd, rnd);
	for (size_t i = 0; i < sizeof rnd; i++)
		snprintf(out + 2 * i, 3, "%02x", rnd[i]);
}

static int db_path(const char *dir, char *out, size_t n, ids_error *err)
{
	return ids_path(out, n, err, "%s/idbsync.sqlite", dir);
}

static int sql_fail(sqlite3 *db, ids_error *err, const char *what, const char *path)
{
	return ids_fail(err, IDS_EIO, "%s %s: %s", what, path, db ? sqlite3_errmsg(db) : "out of memory");
}

static int read_head(sqlite3 *db, int64_t *head)
{
	sqlite3_stmt *q = NULL;
	int rc = sqlite3_prepare_v2(db, "SELECT max(coalesce((SELECT max(seq) FROM changes), 0),"
					" coalesce((SELECT max(seq) FROM rows), 0), (SELECT v FROM meta WHERE k='head'))",
				    -1, &q, NULL);
	if (rc == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
		*head = sqlite3_column_int64(q, 0);
	else
		rc = SQLITE_ERROR;
	sqlite3_finalize(q);
	return rc == SQLITE_OK ? 0 : -1;
}

/* The copy is written beside its name and renamed: a failed backup leaves no half file, and
 * out_file is claimed first (O_EXCL) so that a backup never overwrites one. */
int ledger_backup_claim(const char *out_file, char tmp[IDS_PATH_MAX + 1], ids_error *err)
{
	if (ids_path(tmp, IDS_PATH_MAX + 1, err, "%s.partial", out_file))
		return err->code;
	int fd = open(out_file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return ids_fail(err, errno == EEXIST ? IDS_EINVAL : IDS_EIO, "%s: %s%s", out_file, strerror(errno),
				errno == EEXIST ? " (a backup never overwrites a file)" : "");
	close(fd);
	unlink(tmp);
	return 0;
}

int ledger_backup_finish(int rc, const char *tmp, const char *out_file, ids_error *err)
{
	if (!rc) {
		int f = open(tmp, O_RDONLY | O_CLOEXEC);
		if (f < 0 || fsync(f))
			rc = ids_fail(err, IDS_EIO, "fsync %s: %s", tmp, strerror(errno));
		if (f >= 0)
			close(f);
	}
	if (!rc && rename(tmp, out_file))
		rc = ids_fail(err, IDS_EIO, "rename %s -> %s: %s", tmp, out_file, strerror(errno));
	if (rc) {
		unlink(tmp);
		unlink(out_file);
	}
	return rc;
}

int ledger_backup(const char *data_dir, const char *out_file, int64_t *head, ids_error *err)
{
	char src_path[4200];
	int rc = db_path(data_dir, src_path, sizeof src_path, err);
	if (rc)
		return rc;
	if (access(src_path, F_OK))
		return ids_fail(err, IDS_ENOTFOUND, "%s: no idbsync state here (expected %s)", data_dir, src_path);
	char tmp[IDS_PATH_MAX + 1];
	if ((rc = ledger_backup_claim(out_file, tmp, err)))
		return rc;
	sqlite3 *src = NULL, *dst = NULL;
	if (sqlite3_open_v2(src_path, &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		rc = sql_fail(src, err, "open", src_path);
	if (!rc && sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
		rc = sql_fail(dst, err, "create", tmp);
	if (!rc) {
		sqlite3_busy_timeout(src, 10000);
		/* one step over every page: a single read snapshot, consistent at one commit */
		sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
		if (!b)
			rc = sql_fail(dst, err, "backup into", tmp);
		int step = b ? sqlite3_backup_step(b, -1) : SQLITE_ERROR;
		if (b && sqlite3_backup_finish(b) != SQLITE_OK && !rc)
			rc = sql_fail(dst, err, "backup into", tmp);
		if (!rc && step != SQLITE_DONE)
			rc = ids_fail(err, IDS_EIO, "backup of %s: %s", src_path, sqlite3_errstr(step));
	}
	if (!rc && read_head(dst, head))
		rc = sql_fail(dst, err, "read the head of", tmp);
	/* the copy is a plain rollback-journal database: one file, whatever the source's WAL */
	if (!rc && sqlite3_exec(dst, "PRAGMA journal_mode=DELETE;", NULL, NULL, NULL) != SQLITE_OK)
		rc = sql_fail(dst, err, "finish", tmp);
	sqlite3_close(src);
	sqlite3_close(dst);
	return ledger_backup_finish(rc, tmp, out_file, err);
}

static int check_backup(const char *file, int64_t *head, ids_error *err)
{
	sqlite3 *db = NULL;
	int rc = 0;
	if (sqlite3_open_v2(file, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		rc = sql_fail(db, err, "open", file);
	sqlite3_stmt *q = NULL;
	if (!rc && sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL) != SQLITE_OK)
		rc = ids_fail(err, IDS_ECORRUPT, "%s: not a SQLite database (%s)", file, sqlite3_errmsg(db));
	if (!rc && (sqlite3_step(q) != SQLITE_ROW || strcmp((const char *)sqlite3_column_text(q, 0), "ok")))
		rc = ids_fail(err, IDS_ECORRUPT, "%s: integrity check failed: %s", file,
			      sqlite3_column_text(q, 0) ? (const char *)sqlite3_column_text(q, 0) : sqlite3_errmsg(db));
	sqlite3_finalize(q);
	if (!rc && read_head(db, head))
		rc = ids_fail(err, IDS_ECORRUPT, "%s: not an idbsync state (no meta/changes/rows tables)", file);
	sqlite3_close(db);
	return rc;
}

static int copy_file(const char *from, const char *to, ids_error *err)
{
	int in = open(from, O_RDONLY | O_CLOEXEC), out = in < 0 ? -1 : open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int rc = in < 0 || out < 0 ? ids_fail(err, IDS_EIO, "copy %s -> %s: %s", from, to, strerror(errno)) : 0;
	char buf[1 << 16];
	ssize_t n;
	while (!rc && (n = read(in, buf, sizeof buf)) != 0) {
		if (n < 0 || write(out, buf, (size_t)n) != n)
			rc = ids_fail(err, IDS_EIO, "copy %s -> %s: %s", from, to, strerror(errno));
	}
	if (!rc && fsync(out))
		rc = ids_fail(err, IDS_EIO, "fsync %s: %s", to, strerror(errno));
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return rc;
}

int ledger_restore(const char *backup_file, const char *data_dir, char epoch_out[LEDGER_EPOCH_LEN + 1], int64_t *head,
		  ids_error *err)
{
	int rc = check_backup(backup_file, head, err);
	char dbp[IDS_PATH_MAX + 1], lock[IDS_PATH_MAX + 1], tmp[IDS_PATH_MAX + 1];
	if (!rc)
		rc = db_path(data_dir, dbp, sizeof dbp, err);
	if (rc)
		return rc;
	if (mkdir(data_dir, 0755) && errno != EEXIST)
		return ids_fail(err, IDS_EIO, "cannot create %s: %s", data_dir, strerror(errno));
	if ((rc = ids_path(lock, sizeof lock, err, "%s/LOCK", data_dir)) ||
	    (rc = ids_path(tmp, sizeof tmp, err, "%s.restore", dbp)))
		return rc;
	int lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (lfd < 0 || flock(lfd, LOCK_EX | LOCK_NB)) {
		if (lfd >= 0)
			close(lfd);
		return ids_fail(err, IDS_EIO, "%s is in use by a running idbsync: stop it first, restore, then start it", data_dir);
	}
	rc = copy_file(backup_file, tmp, err);
	sqlite3 *db = NULL;
	if (!rc && sqlite3_open_v2(tmp, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
		rc = sql_fail(db, err, "open", tmp);
	if (!rc) {
		ledger_new_epoch(epoch_out);
		char sql[300];
		snprintf(sql, sizeof sql,
			 "INSERT INTO meta(k, v) VALUES('epoch', '%s') ON CONFLICT(k) DO UPDATE SET v=excluded.v;"
			 "INSERT INTO meta(k, v) VALUES('restored_ms', CAST(strftime('%%s','now') AS INTEGER) * 1000)"
			 " ON CONFLICT(k) DO UPDATE SET v=excluded.v;",
			 epoch_out);
		if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
			rc = sql_fail(db, err, "set the epoch of", tmp);
	}
	sqlite3_close(db);
	/* the old WAL belongs to the old database: it must not be replayed into the new one */
	char side[IDS_PATH_MAX + 1];
	for (int i = 0; !rc && i < 2; i++) {
		if ((rc = ids_path(side, sizeof side, err, "%s%s", dbp, i ? "-shm" : "-wal")))
			break;
		if (unlink(side) && errno != ENOENT)
			rc = ids_fail(err, IDS_EIO, "remove %s: %s", side, strerror(errno));
	}
	if (!rc && rename(tmp, dbp))
		rc = ids_fail(err, IDS_EIO, "rename %s -> %s: %s", tmp, dbp, strerror(errno));
	if (rc)
		unlink(tmp);
	int dfd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	close(lfd);
	return rc;
}
