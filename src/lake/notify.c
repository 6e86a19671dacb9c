/* Engine notifications after a flush: --on-flush runs a shell command per touched table (with
 * the table and its touched partitions in the environment, for impala-shell -q / beeline -e),
 * --drill-url posts REFRESH TABLE METADATA to Drill's REST API. A thread of its own works a
 * bounded, coalescing queue with exponential backoff, so a slow or failing engine never
 * blocks syncing; outcomes are counted for /metrics. */
#include "lake_int.h"

#include "idbsync/log.h"

#include <pthread.h>
#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define QUEUE_MAX 1024
#define MAX_ATTEMPTS 6
#define CMD_TIMEOUT_MS 120000

static void notice_free(lk_notice *n)
{
	if (!n)
		return;
	free(n->table);
	free(n->db);
	free(n->tname);
	free(n->kind);
	free(n->partitions);
	free(n);
}

void lk_notify_table(lake *l, lk_table *t, const char *kind, const char *partitions, int64_t seq)
{
	if (!l->o.on_flush && !l->o.drill_url)
		return;
	char tname[200];
	snprintf(tname, sizeof tname, "%s%s", t->table,
		 !strcmp(kind, "changes") ? "_changes" : !strcmp(kind, "conflicts") ? "_conflicts" : "");
	pthread_mutex_lock(&l->nmu);
	lk_notice *n;
	for (n = l->nq; n; n = n->next)
		if (!n->attempts && !strcmp(n->db, t->db) && !strcmp(n->tname, tname))
			break;
	if (n) { /* coalesce: one refresh covers both flushes */
		if (partitions[0] && !strstr(n->partitions, partitions)) {
			char *p = NULL;
			if (asprintf(&p, "%s%s%s", n->partitions, n->partitions[0] ? " " : "", partitions) > 0) {
				free(n->partitions);
				n->partitions = p;
			}
		}
		n->seq = seq;
	} else if (l->nq_len >= QUEUE_MAX) {
		atomic_fetch_add(&l->m_notify_dropped, 1);
	} else if ((n = calloc(1, sizeof *n))) {
		n->db = strdup(t->db);
		n->tname = strdup(tname);
		n->kind = strdup(kind);
		n->partitions = strdup(partitions);
		if (asprintf(&n->table, "%s.%s", t->db, tname) < 0)
			n->table = NULL;
		n->seq = seq;
		n->next_ms = 0;
		lk_notice **pp = &l->nq;
		while (*pp)
			pp = &(*pp)->next;
		*pp = n;
		l->nq_len++;
	}
	pthread_cond_signal(&l->nwake);
	pthread_mutex_unlock(&l->nmu);
}

static int run_command(lake *l, const lk_notice *n, ids_error *err)
{
	size_t ne = 0;
	while (environ[ne])
		ne++;
	char **env = calloc(ne + 8, sizeof *env);
	if (!env)
		return ids_fail(err, IDS_ENOMEM, "out of memory");
	memcpy(env, environ, ne * sizeof *env);
	char *own[7] = {0};
	if (asprintf(&own[0], "IDBSYNC_LAKE=%s", l->dir) < 0) own[0] = NULL;
	if (asprintf(&own[1], "IDBSYNC_DB=%s", n->db) < 0) own[1] = NULL;
	if (asprintf(&own[2], "IDBSYNC_TABLE=%s", n->tname) < 0) own[2] = NULL;
	if (asprintf(&own[3], "IDBSYNC_KIND=%s", n->kind) < 0) own[3] = NULL;
	if (asprintf(&own[4], "IDBSYNC_PARTITIONS=%s", n->partitions) < 0) own[4] = NULL;
	if (asprintf(&own[5], "IDBSYNC_SEQ=%lld", (long long)n->seq) < 0) own[5] = NULL;
	if (asprintf(&own[6], "IDBSYNC_LOCATION=%s/%s/%s", l->dir, n->db, n->tname) < 0) own[6] = NULL;
	size_t k = ne;
	for (int i = 0; i < 7; i++)
		if (own[i])
			env[k++] = own[i];
	env[k] = NULL;
	char *argv[] = {"sh", "-c", (char *)l->o.on_flush, NULL};
	pid_t pid;
	posix_spawnattr_t attr;
	posix_spawnattr_init(&attr);
	sigset_t none;
	sigemptyset(&none);
	/* the server blocks SIGINT/SIGTERM in every thread; the child must not inherit that */
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
	int rc = posix_spawn(&pid, "/bin/sh", NULL, &attr, argv, env);
	posix_spawnattr_destroy(&attr);
	for (int i = 0; i < 7; i++)
		free(own[i]);
	free(env);
	if (rc) {
		return ids_fail(err, IDS_EIO, "cannot run /bin/sh: %s", strerror(rc));
	}
	int status = 0;
	for (int waited = 0;; waited += 50) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		if (r < 0) {
			return ids_fail(err, IDS_EIO, "waitpid: %s", strerror(errno));
		}
		if (waited >= CMD_TIMEOUT_MS) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return ids_fail(err, IDS_EIO, "timed out after %d s", CMD_TIMEOUT_MS / 1000);
		}
		struct timespec ts = {0, 50 * 1000000L};
		nanosleep(&ts, NULL);
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	return ids_fail(err, IDS_EIO, "exit status %d", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

static size_t sink(char *p, size_t sz, size_t n, void *ctx)
{
	ids_buf *b = ctx;
	ids_buf_append(b, p, sz * n);
	return sz * n;
}

static int drill_refresh(lake *l, const lk_notice *n, ids_error *err)
{
	/* a cut URL or statement would refresh the wrong thing: refuse instead */
	char url[2048], q[1200];
	if ((size_t)snprintf(url, sizeof url, "%s/query.json", l->o.drill_url) >= sizeof url)
		return ids_fail(err, IDS_ELIMIT, "--drill-url is longer than %zu bytes", sizeof url - 12);
	if ((size_t)snprintf(q, sizeof q, "REFRESH TABLE METADATA %s.`%s/%s`", l->drill_ws, n->db, n->tname) >= sizeof q)
		return ids_fail(err, IDS_ELIMIT, "REFRESH statement for %s longer than %zu bytes", n->tname, sizeof q);
	CURL *c = curl_easy_init();
	if (!c)
		return ids_fail(err, IDS_ENOMEM, "curl init failed");
	json_t *body = json_pack("{ssss}", "queryType", "SQL", "query", q);
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	ids_buf resp;
	ids_buf_init(&resp, 1 << 20);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
	CURLcode cc = curl_easy_perform(c);
	long code = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	int rc = 0;
	if (cc != CURLE_OK) {
		rc = ids_fail(err, IDS_EIO, "%.300s: %s", url, curl_easy_strerror(cc));
	} else if (code != 200 || (resp.data && strstr(resp.data, "\"errorMessage\""))) {
		rc = ids_fail(err, IDS_EIO, "%.200s: HTTP %ld: %.200s", url, code, resp.data ? resp.data : "");
	}
	ids_buf_free(&resp);
	curl_slist_free_all(h);
	free(text);
	curl_easy_cleanup(c);
	return rc;
}

static void *notify_main(void *arg)
{
	pthread_setname_np(pthread_self(), "idb-lake-notify");
	lake *l = arg;
	pthread_mutex_lock(&l->nmu);
	for (;;) {
		int64_t now = lk_now_ms(), next = now + 1000;
		lk_notice **pp = &l->nq, *n = NULL;
		for (; *pp; pp = &(*pp)->next) {
			if ((*pp)->next_ms <= now) {
				n = *pp;
				*pp = n->next;
				l->nq_len--;
				break;
			}
			if ((*pp)->next_ms < next)
				next = (*pp)->next_ms;
		}
		if (!n) {
			if (l->stop)
				break;
			struct timespec ts = {(time_t)(next / 1000), (long)(next % 1000) * 1000000L};
			pthread_cond_timedwait(&l->nwake, &l->nmu, &ts);
			continue;
		}
		pthread_mutex_unlock(&l->nmu);
		ids_error err = IDS_ERROR_INIT;
		int rc = 0;
		if (l->o.on_flush)
			rc = run_command(l, n, &err);
		if (!rc && l->o.drill_url)
			rc = drill_refresh(l, n, &err);
		pthread_mutex_lock(&l->nmu);
		if (!rc) {
			atomic_fetch_add(&l->m_notify_ok, 1);
			notice_free(n);
			continue;
		}
		atomic_fetch_add(&l->m_notify_fail, 1);
		ids_logf(IDS_LOG_WARN, "lake_notify_failed", "refresh of %s failed (attempt %d): %s", n->table, n->attempts + 1, err.msg);
		if (++n->attempts >= MAX_ATTEMPTS || l->stop) {
			atomic_fetch_add(&l->m_notify_dropped, 1);
			notice_free(n);
			continue;
		}
		atomic_fetch_add(&l->m_notify_retries, 1);
		n->next_ms = lk_now_ms() + (1000LL << (n->attempts - 1)); /* 1 s, 2 s, 4 s, ... */
		n->next = l->nq;
		l->nq = n;
		l->nq_len++;
	}
	pthread_mutex_unlock(&l->nmu);
	return NULL;
}

int lk_notify_start(lake *l, ids_error *err)
{
	if (!l->o.on_flush && !l->o.drill_url)
		return 0;
	if (l->o.drill_url)
		curl_global_init(CURL_GLOBAL_DEFAULT);
	if (pthread_create(&l->nthread, NULL, notify_main, l))
		return ids_fail(err, IDS_EIO, "cannot start the notification thread");
	l->nstarted = 1;
	return 0;
}

void lk_notify_stop(lake *l)
{
	if (!l->nstarted)
		return;
	pthread_mutex_lock(&l->nmu);
	pthread_cond_broadcast(&l->nwake);
	pthread_mutex_unlock(&l->nmu);
	pthread_join(l->nthread, NULL);
	l->nstarted = 0;
	while (l->nq) {
		lk_notice *n = l->nq->next;
		notice_free(l->nq);
		l->nq = n;
	}
}
