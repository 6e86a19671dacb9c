/* `idbsync backup` / `restore` with the state in PostgreSQL: the database is dumped by Debian's
 * pg_dump (custom format) on a snapshot this file exports, so the head it reports is exactly
 * the one the dump holds, while the servers go on serving; a restore checks the file with
 * pg_restore --list, refuses while an idbsync server is connected, replaces the tables in one
 * transaction (pg_restore --clean --single-transaction) and gives the state a new epoch, as the
 * SQLite restore does (backup.c), so clients holding cursors of the old state resync. */
#include "pg_int.h"
#include "idbsync/path.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* The tool on PATH (Debian's pg_wrapper picks the version), else the newest
 * /usr/lib/postgresql/N/bin/tool. */
static int find_tool(const char *tool, char *out, size_t n, ids_error *err)
{
	const char *path = getenv("PATH");
	char dir[IDS_PATH_MAX + 1];
	for (const char *p = path ? path : ""; *p;) {
		size_t l = strcspn(p, ":");
		if (l && l < sizeof dir) {
			memcpy(dir, p, l);
			dir[l] = 0;
			if (!ids_path(out, n, NULL, "%s/%s", dir, tool) && !access(out, X_OK))
				return 0;
		}
		p += l + (p[l] == ':');
	}
	long best = -1;
	DIR *d = opendir("/usr/lib/postgresql");
	for (struct dirent *e; d && (e = readdir(d));) {
		char *end;
		long v = strtol(e->d_name, &end, 10);
		char cand[IDS_PATH_MAX + 1];
		if (!*end && v > best && !ids_path(cand, sizeof cand, NULL, "/usr/lib/postgresql/%s/bin/%s", e->d_name, tool) &&
		    !access(cand, X_OK) && strlen(cand) < n) {
			best = v;
			memcpy(out, cand, strlen(cand) + 1);
		}
	}
	if (d)
		closedir(d);
	if (best >= 0)
		return 0;
	return ids_fail(err, IDS_ENOTFOUND,
			"%s not found (PATH, /usr/lib/postgresql/*/bin): a backup of a PostgreSQL state needs PostgreSQL's "
			"client tools (Debian: apt-get install postgresql-client)",
			tool);
}

/* Runs argv[0] (found by find_tool) with args; its output is kept (the end of it, 1 KiB) for the
 * error when it fails. stdout: NULL to keep it with stderr, else a buffer that gets it. */
static int run_tool(const char *const *argv, ids_buf *stdout_buf, ids_error *err)
{
	char exe[IDS_PATH_MAX + 1];
	int rc = find_tool(argv[0], exe, sizeof exe, err);
	if (rc)
		return rc;
	int pe[2], po[2] = {-1, -1};
	if (pipe2(pe, O_CLOEXEC) || (stdout_buf && pipe2(po, O_CLOEXEC)))
		return ids_fail(err, IDS_EIO, "%s: pipe: %s", argv[0], strerror(errno));
	pid_t pid = fork();
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY);
		dup2(nul, 0);
		dup2(stdout_buf ? po[1] : pe[1], 1);
		dup2(pe[1], 2);
		execv(exe, (char *const *)argv);
		_exit(127);
	}
	close(pe[1]);
	if (po[1] >= 0)
		close(po[1]);
	char tail[1024], buf[4096];
	size_t tl = 0;
	/* both pipes read as they fill: a tool blocked on one of them would never exit */
	struct pollfd p[2] = {{pe[0], POLLIN, 0}, {po[0], POLLIN, 0}};
	while (p[0].fd >= 0 || p[1].fd >= 0) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int k = 0; k < 2; k++) {
			if (p[k].fd < 0 || !p[k].revents)
				continue;
			ssize_t r = read(p[k].fd, buf, sizeof buf);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				p[k].fd = -1; /* poll skips negative fds; the pipes are closed below */
				continue;
			}
			if (k == 1) {
				ids_buf_append(stdout_buf, buf, (size_t)r);
				continue;
			}
			for (ssize_t i = 0; i < r; i++) {
				if (tl == sizeof tail - 1) {
					memmove(tail, tail + 256, tl - 256);
					tl -= 256;
				}
				tail[tl++] = buf[i];
			}
		}
	}
	close(pe[0]);
	if (po[0] >= 0)
		close(po[0]);
	while (tl && (tail[tl - 1] == '\n' || tail[tl - 1] == ' '))
		tl--;
	tail[tl] = 0;
	int st = 0;
	if (pid < 0)
		return ids_fail(err, IDS_EIO, "%s: fork: %s", argv[0], strerror(errno));
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		return ids_fail(err, IDS_EIO, "%s failed (%s %d): %s", exe, WIFEXITED(st) ? "exit" : "signal",
				WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), tl ? tail : "(no message)");
	if (stdout_buf && stdout_buf->failed)
		return ids_fail(err, IDS_ELIMIT, "%s: its output passed the size cap", argv[0]);
	return 0;
}

static int open_conn(const char *uri, const char *app, PGconn **c, ids_error *err)
{
	const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
	const char *vals[] = {uri, "10", app, NULL};
	*c = PQconnectdbParams(keys, vals, 1);
	if (!*c || PQstatus(*c) != CONNECTION_OK)
		return ids_fail(err, IDS_EIO, "cannot connect to PostgreSQL (--state): %s",
				*c ? PQerrorMessage(*c) : "out of memory");
	return 0;
}

/* One answer of sql on c (its first value into out, or "" for none), or an error naming what. */
static int one_value(PGconn *c, const char *what, const char *sql, char *out, size_t n, ids_error *err)
{
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);
	int rc = 0;
	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
		rc = ids_fail(err, IDS_EIO, "PostgreSQL: %s: %s", what, PQerrorMessage(c));
	else if (out)
		snprintf(out, n, "%s", st == PGRES_TUPLES_OK && PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
	PQclear(r);
	return rc;
}

/* The seq the state holds (as backup.c's read_head: the change log and rows count too). */
static const char head_sql[] =
	"SELECT greatest(coalesce((SELECT max(seq) FROM changes), 0), coalesce((SELECT max(seq) FROM rows), 0),"
	" (SELECT v::bigint FROM meta WHERE k='head'))";

int ledger_pg_backup(const char *state, const char *out_file, int64_t *head, ids_error *err)
{
	char tmp[IDS_PATH_MAX + 1], snap[128], h[32], exists[8];
	int rc = ledger_backup_claim(out_file, tmp, err);
	if (rc)
		return rc;
	PGconn *c = NULL;
	rc = open_conn(state, "idbsync backup", &c, err);
	/* the snapshot pg_dump is given: the head read here is the one the dump holds */
	if (!rc)
		rc = one_value(c, "begin", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", NULL, 0, err);
	if (!rc)
		rc = one_value(c, "export a snapshot", "SELECT pg_export_snapshot()", snap, sizeof snap, err);
	if (!rc)
		rc = one_value(c, "read the schema", "SELECT to_regclass('meta') IS NOT NULL", exists, sizeof exists, err);
	if (!rc && strcmp(exists, "t"))
		rc = ids_fail(err, IDS_ENOTFOUND, "%s: no idbsync state in this database (no meta table)", state);
	if (!rc)
		rc = one_value(c, "read the head", head_sql, h, sizeof h, err);
	if (!rc) {
		*head = strtoll(h, NULL, 10);
		char snap_arg[160], file_arg[IDS_PATH_MAX + 16];
		snprintf(snap_arg, sizeof snap_arg, "--snapshot=%s", snap);
		if ((rc = ids_path(file_arg, sizeof file_arg, err, "--file=%s", tmp)))
			goto out;
		const char *argv[] = {"pg_dump", "--format=custom", "--no-owner", "--no-privileges", snap_arg, file_arg,
				      "--dbname", state, NULL};
		rc = run_tool(argv, NULL, err);
	}
out:
	PQfinish(c); /* ends the snapshot's transaction, after pg_dump is done with it */
	return ledger_backup_finish(rc, tmp, out_file, err);
}

/* A pg_restore archive that holds idbsync's tables (pg_restore --list names their data). */
static int check_archive(const char *file, ids_error *err)
{
	ids_buf list;
	ids_buf_init(&list, 64u << 20);
	const char *argv[] = {"pg_restore", "--list", file, NULL};
	int rc = run_tool(argv, &list, err);
	if (rc == IDS_EIO)
		rc = ids_fail(err, IDS_ECORRUPT, "%s: not a backup of a PostgreSQL state (%s)", file, err->msg);
	static const char *const need[] = {"meta", "rows", "changes"};
	for (size_t i = 0; !rc && i < sizeof need / sizeof *need; i++) {
		char line[64];
		snprintf(line, sizeof line, " TABLE DATA public %s ", need[i]);
		if (!list.data || !strstr(list.data, line))
			rc = ids_fail(err, IDS_ECORRUPT, "%s: not a backup of an idbsync state (no table %s)", file, need[i]);
	}
	ids_buf_free(&list);
	return rc;
}

int ledger_pg_restore(const char *backup_file, const char *state, char epoch_out[LEDGER_EPOCH_LEN + 1],
		     int64_t *head, ids_error *err)
{
	int rc = check_archive(backup_file, err);
	PGconn *c = NULL;
	char n[24], h[32];
	if (!rc)
		rc = open_conn(state, "idbsync restore", &c, err);
	/* the servers' sessions name themselves idbsync (pg.c): none may be running */
	if (!rc)
		rc = one_value(c, "sessions",
			       "SELECT count(*) FROM pg_stat_activity WHERE datname=current_database()"
			       " AND pid<>pg_backend_pid() AND application_name='idbsync'",
			       n, sizeof n, err);
	if (!rc && strtoll(n, NULL, 10) > 0)
		rc = ids_fail(err, IDS_EBUSY,
			      "%s is in use by %s idbsync session(s): stop every server on it, restore, then start them",
			      state, n);
	if (!rc) {
		const char *argv[] = {"pg_restore", "--clean", "--if-exists", "--no-owner", "--no-privileges",
				      "--single-transaction", "--exit-on-error", "--dbname", state, backup_file, NULL};
		rc = run_tool(argv, NULL, err);
	}
	if (!rc) {
		ledger_new_epoch(epoch_out);
		char now[24];
		snprintf(now, sizeof now, "%lld", (long long)hlc_wall_ms());
		const char *v[] = {epoch_out, now};
		PGresult *r = PQexecParams(c,
					   "INSERT INTO meta(k, v) VALUES('epoch', $1), ('restored_ms', $2)"
					   " ON CONFLICT(k) DO UPDATE SET v=excluded.v",
					   2, NULL, v, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			rc = ids_fail(err, IDS_EIO, "PostgreSQL: set the new epoch: %s", PQerrorMessage(c));
		PQclear(r);
	}
	if (!rc)
		rc = one_value(c, "read the head", head_sql, h, sizeof h, err);
	if (!rc)
		*head = strtoll(h, NULL, 10);
	PQfinish(c);
	return rc;
}
