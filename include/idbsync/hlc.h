/* Hybrid logical clock stamps: "<13-digit unix ms>-<4 hex digit counter>-<node id>".
 * Fixed-width fields make byte order equal time order, so stamps compare with strcmp.
 * The clock never goes backwards, absorbs remote stamps up to max_skew_ms ahead of the wall
 * clock, and rejects stamps further ahead (a client with a broken clock must not drag the
 * server's clock into the future). */
#ifndef IDBSYNC_HLC_H
#define IDBSYNC_HLC_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "idbsync/error.h"

#define HLC_NODE_MAX 64
#define HLC_STR_MAX (13 + 1 + 4 + 1 + HLC_NODE_MAX + 1)
#define HLC_MS_MAX 9999999999999LL

typedef struct hlc_stamp {
	int64_t ms;
	uint32_t counter;      /* 0..0xffff */
	char node[HLC_NODE_MAX + 1];
} hlc_stamp;

typedef struct hlc_clock {
	pthread_mutex_t mu;
	int64_t ms;
	uint32_t counter;
	int64_t max_skew_ms;
	char node[HLC_NODE_MAX + 1];
	int64_t (*now_ms)(void); /* wall clock; replaceable in tests */
} hlc_clock;

/* Parses s[0..n) into st. The node id is 1..64 characters from [A-Za-z0-9_.:~-]; hex is
 * accepted in either case. IDS_EINVAL with a message on any other shape. */
int hlc_parse(hlc_stamp *st, const char *s, size_t n, ids_error *err);
/* Writes the canonical form (lowercase hex) into out[HLC_STR_MAX]; returns its length. */
size_t hlc_format(const hlc_stamp *st, char *out);
/* <0, 0, >0 like strcmp, on (ms, counter, node). */
int hlc_compare(const hlc_stamp *a, const hlc_stamp *b);
/* Validates a node id. */
int hlc_valid_node(const char *node, size_t n);

int hlc_clock_init(hlc_clock *c, const char *node, int64_t max_skew_ms, ids_error *err);
void hlc_clock_destroy(hlc_clock *c);
/* A fresh stamp for a local event, greater than every stamp issued or observed before. */
void hlc_clock_now(hlc_clock *c, hlc_stamp *out);
/* Checks that a remote stamp is within max_skew_ms of the wall clock (IDS_EINVAL naming the
 * skew otherwise), without changing the clock. */
int hlc_clock_check(hlc_clock *c, const hlc_stamp *remote, ids_error *err);
/* Merges a remote stamp into the clock (after hlc_clock_check succeeded). */
void hlc_clock_observe(hlc_clock *c, const hlc_stamp *remote);
int64_t hlc_wall_ms(void);

#endif
