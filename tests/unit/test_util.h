/* A tiny assertion helper shared by the unit tests: each CHECK prints file:line and the
 * values involved when it fails, counts passes and failures, and TEST_MAIN_END prints
 * "test_x: N passed, M failed" and returns non-zero if anything failed. Header-only, one
 * test executable per .c file, so the counters can be static. */
#ifndef IDS_TEST_UTIL_H
#define IDS_TEST_UTIL_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
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

/* Each macro evaluates to 1 on success so a test can stop early: if (!CHECK(p)) return; */
#define CHECK(c) test_check(!!(c), __FILE__, __LINE__, #c)
#define CHECK_EQ_INT(a, b) test_check_int((long long)(a), (long long)(b), __FILE__, __LINE__, #a, #b)
#define CHECK_EQ_STR(a, b) test_check_str((a), (b), __FILE__, __LINE__, #a, #b)
#define CHECK_HAS(hay, needle) test_check_has((hay), (needle), __FILE__, __LINE__, #hay)

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
