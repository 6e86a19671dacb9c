/* The one assertion header of the C unit tests (tests/unit/test_*.c): each CHECK prints
 * file:line and the values involved when it fails, counts passes and failures, and
 * test_report() prints "test_x: N passed, M failed" and returns non-zero if anything failed.
 * A test with its own comparison says why it failed with TEST_FAIL(fmt, ...). Header-only,
 * one test executable per .c file, so the counters can be static. */
#ifndef IDS_TEST_UTIL_H
#define IDS_TEST_UTIL_H

#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static int test_passed, test_failed;

static inline int test_check(int ok, const char *file, int line, const char *expr)
{
	if (ok) {
		test_passed++;
		return 1;
	}
	test_failed++;
	fprintf(stderr, "%s:%d: CHECK(%s) failed\n", file, line, expr);
	return 0;
}

static inline int test_check_int(long long a, long long b, const char *file, int line, const char *ea,
				 const char *eb)
{
	if (a == b) {
		test_passed++;
		return 1;
	}
	test_failed++;
	fprintf(stderr, "%s:%d: CHECK_EQ_INT(%s, %s) failed: %lld != %lld\n", file, line, ea, eb, a, b);
	return 0;
}

static inline int test_check_str(const char *a, const char *b, const char *file, int line, const char *ea,
				 const char *eb)
{
	if (a && b && strcmp(a, b) == 0) {
		test_passed++;
		return 1;
	}
	test_failed++;
	fprintf(stderr, "%s:%d: CHECK_EQ_STR(%s, %s) failed:\n  got:  \"%s\"\n  want: \"%s\"\n", file, line, ea,
		eb, a ? a : "(null)", b ? b : "(null)");
	return 0;
}

/* Substring check, used for error messages ("mentions the field"). */
static inline int test_check_has(const char *hay, const char *needle, const char *file, int line,
				 const char *eh)
{
	if (hay && needle && strstr(hay, needle)) {
		test_passed++;
		return 1;
	}
	test_failed++;
	fprintf(stderr, "%s:%d: CHECK_HAS(%s, \"%s\") failed: got \"%s\"\n", file, line, eh,
		needle ? needle : "(null)", hay ? hay : "(null)");
	return 0;
}

/* A failure the test detected itself (a row that differs, a message that is not the one
 * expected): prints file:line and the formatted explanation, counts a failure, returns 0. */
__attribute__((format(printf, 3, 4))) static inline int test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	test_failed++;
	fprintf(stderr, "%s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 0;
}

/* Each macro evaluates to 1 on success so a test can stop early: if (!CHECK(p)) return; */
#define CHECK(c) test_check(!!(c), __FILE__, __LINE__, #c)
#define CHECK_EQ_INT(a, b) test_check_int((long long)(a), (long long)(b), __FILE__, __LINE__, #a, #b)
#define CHECK_EQ_STR(a, b) test_check_str((a), (b), __FILE__, __LINE__, #a, #b)
#define CHECK_HAS(hay, needle) test_check_has((hay), (needle), __FILE__, __LINE__, #hay)
#define TEST_FAIL(...) test_fail(__FILE__, __LINE__, __VA_ARGS__)

/* A fresh directory $TMPDIR/<name>.XXXXXX (out: at least 256 bytes); 0 on success, else
 * prints why and returns -1. test_rmtree removes it with everything inside. */
static inline int test_mkdtemp(char *out, size_t n, const char *name)
{
	const char *t = getenv("TMPDIR");
	snprintf(out, n, "%s/%s.XXXXXX", t && *t ? t : "/tmp", name);
	if (mkdtemp(out))
		return 0;
	perror(out);
	return -1;
}

static inline int test_rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(p);
}

static inline void test_rmtree(const char *dir)
{
	if (!getenv("IDBSYNC_KEEP_TMP"))
		nftw(dir, test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Deterministic PRNG (splitmix64) so random round-trip tests are reproducible. */
static uint64_t test_rng_state = 0x9e3779b97f4a7c15ULL;
static inline uint64_t test_rand64(void)
{
	uint64_t z = (test_rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline int test_report(const char *name)
{
	printf("%s: %d passed, %d failed\n", name, test_passed, test_failed);
	return test_failed ? 1 : 0;
}

#endif
