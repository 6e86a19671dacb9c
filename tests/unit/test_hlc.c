/* Unit tests for hybrid logical clock stamps (src/core/hlc.c): parse/format round trips,
 * rejected shapes, byte order == hlc_compare order, and the clock's monotonicity with a fake
 * wall clock (backwards, standing still, counter overflow), observe and the skew check. */
#include "idbsync/hlc.h"

#include <stdlib.h>
#include <string.h>

#include "test_util.h"

static int64_t fake_ms;
static int64_t fake_now(void) { return fake_ms; }

static int sign(int v) { return v < 0 ? -1 : v > 0; }

static int parse_str(hlc_stamp *st, const char *s, ids_error *err) { return hlc_parse(st, s, strlen(s), err); }

static void parse_format(void)
{
	hlc_stamp st;
	ids_error err = IDS_ERROR_INIT;
	char out[HLC_STR_MAX];
	CHECK_EQ_INT(parse_str(&st, "1700000000123-00ab-node1", &err), 0);
	CHECK(st.ms == 1700000000123LL);
	CHECK_EQ_INT(st.counter, 0xab);
	CHECK_EQ_STR(st.node, "node1");
	CHECK_EQ_INT(hlc_format(&st, out), 24);
	CHECK_EQ_STR(out, "1700000000123-00ab-node1");

	/* hex in either case, canonical output is lowercase; the node keeps its case */
	CHECK_EQ_INT(parse_str(&st, "0000000000001-FFfF-Node_A.b:c~d-e", &err), 0);
	CHECK_EQ_INT(st.ms, 1);
	CHECK_EQ_INT(st.counter, 0xffff);
	hlc_format(&st, out);
	CHECK_EQ_STR(out, "0000000000001-ffff-Node_A.b:c~d-e");

	/* smallest and largest shapes */
	CHECK_EQ_INT(parse_str(&st, "0000000000000-0000-x", &err), 0);
	CHECK_EQ_INT(st.ms, 0);
	char longest[HLC_STR_MAX];
	memset(longest, 'n', sizeof longest);
	memcpy(longest, "9999999999999-ffff-", 19);
	longest[HLC_STR_MAX - 1] = 0;
	CHECK_EQ_INT(strlen(longest), 13 + 1 + 4 + 1 + HLC_NODE_MAX);
	CHECK_EQ_INT(parse_str(&st, longest, &err), 0);
	CHECK(st.ms == HLC_MS_MAX);
	CHECK_EQ_INT(strlen(st.node), HLC_NODE_MAX);
	CHECK_EQ_INT(hlc_format(&st, out), HLC_STR_MAX - 1);
	CHECK_EQ_STR(out, longest);

	/* only n bytes are read */
	CHECK_EQ_INT(hlc_parse(&st, "1700000000000-0001-abcXYZ", 22, &err), 0);
	CHECK_EQ_STR(st.node, "abc");

	/* random round trips through the canonical form */
	static const char alpha[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.:~";
	int bad = 0;
	for (int i = 0; i < 20000; i++) {
		hlc_stamp a, b;
		a.ms = (int64_t)(test_rand64() % (uint64_t)(HLC_MS_MAX + 1));
		a.counter = (uint32_t)(test_rand64() & 0xffff);
		size_t nl = 1 + test_rand64() % HLC_NODE_MAX;
		for (size_t k = 0; k < nl; k++)
			a.node[k] = alpha[test_rand64() % (sizeof alpha - 1)];
		a.node[nl] = 0;
		size_t n = hlc_format(&a, out);
		char ref[HLC_STR_MAX]; /* the formatter is hand-written: the printf form it replaced */
		snprintf(ref, sizeof ref, "%013lld-%04x-%s", (long long)a.ms, a.counter & 0xffff, a.node);
		if (n != strlen(out) || strcmp(ref, out) || hlc_parse(&b, out, n, NULL) || hlc_compare(&a, &b) != 0 || a.ms != b.ms ||
		    a.counter != b.counter || strcmp(a.node, b.node))
			bad++;
	}
	CHECK_EQ_INT(bad, 0);
}

static void bad_shapes(void)
{
	char longnode[HLC_STR_MAX + 8];
	memset(longnode, 'n', sizeof longnode);
	memcpy(longnode, "1700000000000-0000-", 19);
	longnode[19 + HLC_NODE_MAX + 1] = 0; /* 65-character node */
	const char *bad[] = {
		"",
		"1700000000000",
		"1700000000000-0000",
		"1700000000000-0000-",          /* empty node */
		"170000000000-0000-node",       /* 12-digit ms */
		"17000000000000-0000-node",     /* 14-digit ms */
		"1700000000000-000-node",       /* 3-digit counter */
		"1700000000000-00000-node",     /* 5-digit counter */
		"1700000000000-00g0-node",      /* not hex */
		"1700000000000-+001-node",
		"170000000000a-0000-node",
		"-700000000000-0000-node",
		" 700000000000-0000-node",
		"1700000000000_0000_node",
		"1700000000000-0000-no de",
		"1700000000000-0000-no/de",
		"1700000000000-0000-n\xc3\xa9",
		"1700000000000-0000-node\n",
		longnode,
		NULL};
	for (int i = 0; bad[i]; i++) {
		hlc_stamp st;
		ids_error err = IDS_ERROR_INIT;
		int rc = parse_str(&st, bad[i], &err);
		if (!CHECK_EQ_INT(rc, IDS_EINVAL)) {
			fprintf(stderr, "  accepted: \"%s\"\n", bad[i]);
			continue;
		}
		CHECK_EQ_INT(err.code, IDS_EINVAL);
		CHECK_HAS(err.msg, "hlc");
	}
	hlc_stamp st;
	CHECK_EQ_INT(parse_str(&st, "1700000000000-0000-", NULL), IDS_EINVAL); /* NULL err is fine */
	/* an embedded NUL in the node */
	CHECK_EQ_INT(hlc_parse(&st, "1700000000000-0000-a\0b", 22, NULL), IDS_EINVAL);

	CHECK(hlc_valid_node("a", 1));
	CHECK(hlc_valid_node("A-z_0.9:~", 9));
	CHECK(!hlc_valid_node("", 0));
	CHECK(!hlc_valid_node("a b", 3));
	CHECK(!hlc_valid_node("a\"", 2));
	CHECK(!hlc_valid_node(longnode + 19, HLC_NODE_MAX + 1));
	CHECK(hlc_valid_node(longnode + 19, HLC_NODE_MAX));
}

static void random_stamp(hlc_stamp *a)
{
	/* few distinct values so ties on ms/counter are common */
	static const char *nodes[] = {"a", "b", "ab", "a-", "a.", "A", "z~", "0", "node:1", "node:10"};
	static const int64_t ms[] = {0, 1, 999, 1000, 1700000000000LL, 1700000000001LL, HLC_MS_MAX};
	a->ms = ms[test_rand64() % 7];
	if (test_rand64() % 3 == 0)
		a->ms = (int64_t)(test_rand64() % (uint64_t)(HLC_MS_MAX + 1));
	static const uint32_t ctr[] = {0, 1, 9, 0xa, 0xf, 0x10, 0xff, 0x100, 0xfff, 0xffff};
	a->counter = ctr[test_rand64() % 10];
	strcpy(a->node, nodes[test_rand64() % 10]);
}

static void order(void)
{
	int bad = 0, ties = 0;
	for (int i = 0; i < 100000; i++) {
		hlc_stamp a, b;
		char sa[HLC_STR_MAX], sb[HLC_STR_MAX];
		random_stamp(&a);
		random_stamp(&b);
		hlc_format(&a, sa);
		hlc_format(&b, sb);
		int c = hlc_compare(&a, &b);
		if (sign(c) != sign(strcmp(sa, sb)) || sign(c) != -sign(hlc_compare(&b, &a)))
			if (bad++ < 5)
				fprintf(stderr, "  order mismatch: %s vs %s: compare %d\n", sa, sb, c);
		ties += c == 0;
	}
	CHECK_EQ_INT(bad, 0);
	CHECK(ties > 0); /* the generator really produced equal stamps */

	hlc_stamp a = {1000, 0, "b"}, b = {1000, 1, "a"}, c = {1001, 0, "a"};
	CHECK(hlc_compare(&a, &b) < 0); /* counter before node */
	CHECK(hlc_compare(&b, &c) < 0); /* ms before counter */
	CHECK(hlc_compare(&a, &a) == 0);
	hlc_stamp d = {1000, 0, "c"};
	CHECK(hlc_compare(&a, &d) < 0); /* node breaks ties */
}

static void clock_now(void)
{
	hlc_clock c;
	ids_error err = IDS_ERROR_INIT;
	CHECK_EQ_INT(hlc_clock_init(&c, "bad node", 1000, &err), IDS_EINVAL);
	CHECK_HAS(err.msg, "bad node");
	CHECK_EQ_INT(hlc_clock_init(&c, "", 1000, &err), IDS_EINVAL);
	if (!CHECK_EQ_INT(hlc_clock_init(&c, "srv", 1000, &err), 0))
		return;
	c.now_ms = fake_now;
	hlc_stamp s, prev;
	char buf[HLC_STR_MAX];

	fake_ms = 1000;
	hlc_clock_now(&c, &s);
	CHECK(s.ms == 1000 && s.counter == 0);
	CHECK_EQ_STR(s.node, "srv");
	hlc_format(&s, buf);
	CHECK_EQ_STR(buf, "0000000001000-0000-srv");
	/* standing still: the counter moves */
	hlc_clock_now(&c, &s);
	CHECK(s.ms == 1000 && s.counter == 1);
	hlc_clock_now(&c, &s);
	CHECK(s.ms == 1000 && s.counter == 2);
	/* forward: counter resets */
	fake_ms = 2000;
	hlc_clock_now(&c, &s);
	CHECK(s.ms == 2000 && s.counter == 0);
	/* backwards: the clock keeps its time and counts */
	fake_ms = 1500;
	hlc_clock_now(&c, &s);
	CHECK(s.ms == 2000 && s.counter == 1);
	fake_ms = 0;
	hlc_clock_now(&c, &s);
	CHECK(s.ms == 2000 && s.counter == 2);

	/* counter overflow borrows the next millisecond */
	fake_ms = 5000;
	hlc_clock_now(&c, &s);
	CHECK(s.ms == 5000 && s.counter == 0);
	c.counter = 0xfffe;
	hlc_clock_now(&c, &s);
	CHECK(s.ms == 5000 && s.counter == 0xffff);
	prev = s;
	hlc_clock_now(&c, &s);
	CHECK(s.ms == 5001 && s.counter == 0);
	CHECK(hlc_compare(&prev, &s) < 0);
	hlc_clock_now(&c, &s); /* the wall clock is now behind the borrowed ms */
	CHECK(s.ms == 5001 && s.counter == 1);
	fake_ms = 5001;
	hlc_clock_now(&c, &s);
	CHECK(s.ms == 5001 && s.counter == 2);
	fake_ms = 5002;
	hlc_clock_now(&c, &s);
	CHECK(s.ms == 5002 && s.counter == 0);

	/* a full 65536+ events within one millisecond stay strictly increasing */
	fake_ms = 9000;
	hlc_clock_now(&c, &prev);
	int bad = 0;
	for (int i = 0; i < 70000; i++) {
		hlc_clock_now(&c, &s);
		bad += hlc_compare(&prev, &s) >= 0 || s.counter > 0xffff;
		prev = s;
	}
	CHECK_EQ_INT(bad, 0);
	CHECK(s.ms == 9001); /* borrowed exactly one ms */

	/* random wall clock walk: always strictly increasing, never below the wall clock */
	fake_ms = 100000;
	hlc_clock_now(&c, &prev);
	bad = 0;
	int below = 0;
	for (int i = 0; i < 100000; i++) {
		int r = (int)(test_rand64() % 10);
		if (r < 3)
			fake_ms += (int64_t)(test_rand64() % 5);
		else if (r < 5)
			fake_ms -= (int64_t)(test_rand64() % 50);
		hlc_clock_now(&c, &s);
		bad += hlc_compare(&prev, &s) >= 0;
		below += s.ms < fake_ms;
		prev = s;
	}
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(below, 0);
	hlc_clock_destroy(&c);
}

static void clock_observe(void)
{
	hlc_clock c;
	ids_error err = IDS_ERROR_INIT;
	if (!CHECK_EQ_INT(hlc_clock_init(&c, "srv", 1000, &err), 0))
		return;
	c.now_ms = fake_now;
	hlc_stamp s, r;

	fake_ms = 10000;
	hlc_clock_now(&c, &s); /* (10000, 0) */

	/* a remote stamp ahead of us but within the skew: accepted and absorbed */
	r = (hlc_stamp){10500, 7, "cli"};
	CHECK_EQ_INT(hlc_clock_check(&c, &r, &err), 0);
	CHECK(c.ms == 10000); /* check does not move the clock */
	hlc_clock_observe(&c, &r);
	CHECK(c.ms == 10500 && c.counter == 8);
	hlc_clock_now(&c, &s);
	CHECK(hlc_compare(&s, &r) > 0);
	CHECK(s.ms == 10500 && s.counter == 9);

	/* remote behind: the clock still ticks */
	r = (hlc_stamp){9000, 100, "cli"};
	hlc_clock_observe(&c, &r);
	CHECK(c.ms == 10500 && c.counter == 10);

	/* same ms, larger counter: take it and go one past */
	r = (hlc_stamp){10500, 300, "cli"};
	hlc_clock_observe(&c, &r);
	CHECK(c.ms == 10500 && c.counter == 301);
	hlc_clock_now(&c, &s);
	CHECK(hlc_compare(&s, &r) > 0);

	/* remote at the counter limit: borrow a ms */
	r = (hlc_stamp){10800, 0xffff, "cli"};
	hlc_clock_observe(&c, &r);
	CHECK(c.ms == 10801 && c.counter == 0);
	hlc_clock_now(&c, &s);
	CHECK(hlc_compare(&s, &r) > 0);

	/* the wall clock passes everything: back to (wall, 0) */
	fake_ms = 20000;
	r = (hlc_stamp){15000, 5, "cli"};
	hlc_clock_observe(&c, &r);
	CHECK(c.ms == 20000 && c.counter == 0);

	/* skew check: exactly max_skew ahead is fine, one more ms is not */
	r = (hlc_stamp){21000, 0, "cli"};
	CHECK_EQ_INT(hlc_clock_check(&c, &r, &err), 0);
	r.ms = 21001;
	err = (ids_error)IDS_ERROR_INIT;
	CHECK_EQ_INT(hlc_clock_check(&c, &r, &err), IDS_EINVAL);
	CHECK_EQ_INT(err.code, IDS_EINVAL);
	CHECK_HAS(err.msg, "1001 ms ahead");
	CHECK_HAS(err.msg, "limit is 1000 ms");
	CHECK(c.ms == 20000); /* rejected stamps leave the clock alone */
	r.ms = HLC_MS_MAX;
	CHECK_EQ_INT(hlc_clock_check(&c, &r, NULL), IDS_EINVAL);
	r.ms = 0; /* stamps from the past are always fine */
	CHECK_EQ_INT(hlc_clock_check(&c, &r, &err), 0);

	/* random observe/now mix: every local stamp is above everything seen before */
	hlc_stamp maxseen;
	hlc_clock_now(&c, &maxseen);
	int bad = 0;
	for (int i = 0; i < 50000; i++) {
		if (test_rand64() % 4 == 0)
			fake_ms += (int64_t)(test_rand64() % 3) - 1;
		if (test_rand64() % 2) {
			r.ms = fake_ms + (int64_t)(test_rand64() % 2000) - 1000;
			r.counter = (uint32_t)(test_rand64() % 0x10000);
			strcpy(r.node, "zzz");
			if (hlc_clock_check(&c, &r, NULL) == 0) {
				hlc_clock_observe(&c, &r);
				if (hlc_compare(&r, &maxseen) > 0)
					maxseen = r;
			} else {
				bad += r.ms <= fake_ms + 1000; /* wrongly rejected */
			}
		} else {
			hlc_clock_now(&c, &s);
			bad += hlc_compare(&s, &maxseen) <= 0;
			maxseen = s;
		}
	}
	CHECK_EQ_INT(bad, 0);
	hlc_clock_destroy(&c);
}

typedef struct tharg {
	hlc_clock *c;
	hlc_stamp *out;
	int n;
} tharg;

static void *stamp_thread(void *p)
{
	tharg *a = p;
	for (int i = 0; i < a->n; i++)
		hlc_clock_now(a->c, &a->out[i]);
	return NULL;
}

static int cmp_stamp(const void *a, const void *b) { return hlc_compare(a, b); }

static void threads(void)
{
	hlc_clock c;
	if (!CHECK_EQ_INT(hlc_clock_init(&c, "mt", 1000, NULL), 0))
		return;
	enum { T = 4, N = 20000 };
	hlc_stamp *all = malloc(sizeof *all * T * N);
	pthread_t th[T];
	tharg args[T];
	for (int i = 0; i < T; i++) {
		args[i] = (tharg){&c, all + i * N, N};
		pthread_create(&th[i], NULL, stamp_thread, &args[i]);
	}
	for (int i = 0; i < T; i++)
		pthread_join(th[i], NULL);
	int bad = 0;
	for (int i = 0; i < T; i++)
		for (int k = 1; k < N; k++)
			bad += hlc_compare(&all[i * N + k - 1], &all[i * N + k]) >= 0;
	CHECK_EQ_INT(bad, 0);
	qsort(all, T * N, sizeof *all, cmp_stamp);
	int dup = 0;
	for (int i = 1; i < T * N; i++)
		dup += hlc_compare(&all[i - 1], &all[i]) == 0;
	CHECK_EQ_INT(dup, 0);
	int64_t wall = hlc_wall_ms();
	CHECK(all[T * N - 1].ms <= wall + 2 && all[0].ms > wall - 60000);
	free(all);
	hlc_clock_destroy(&c);
}

int main(void)
{
	parse_format();
	bad_shapes();
	order();
	clock_now();
	clock_observe();
	threads();
	return test_report("test_hlc");
}
