/* Exact JSON-text -> Parquet value conversions shared by the shredder (internal). */
#ifndef PQ_JSON_CONV_H
#define PQ_JSON_CONV_H

#include <stddef.h>
#include <stdint.h>

#include "idbsync/pq.h"

/* Parses a decimal ("-12.50", "1e3") into the unscaled integer for `scale`, failing (with
 * *why) when digits would be dropped or the value needs more than `precision` digits. */
int pqc_decimal(const char *s, size_t n, int scale, int precision, __int128 *out,
		const char **why);
/* Big-endian two's complement in width bytes (width <= 16). */
void pqc_decimal_be(__int128 v, uint8_t *out, int width);
int pqc_decimal_min_bytes(__int128 v);
/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" -> 16 bytes. */
int pqc_uuid(const char *s, size_t n, uint8_t out[16]);
/* Seconds + nanoseconds -> count of unit; -1 if precision would be lost, -2 on overflow. */
int pqc_ts_unit(int64_t secs, int32_t nanos, pq_time_unit unit, int64_t *out);
int pqc_unit_to_secs(int64_t v, pq_time_unit unit, int64_t *secs, int32_t *nanos);
/* INT96 timestamp: LE nanoseconds of the day, then LE Julian day number. */
void pqc_int96(int64_t secs, int32_t nanos, uint8_t out[12]);
/* An instant as an INT96 (int96 != 0) or an INT64 count of unit into out (*len bytes):
 * 0, or non-zero with *why ("timestamp out of range", or precision lost). The one
 * conversion behind the shredder's {"$date":..} and pq_instant_value. */
int pqc_instant(int int96, pq_time_unit unit, int64_t secs, int32_t nanos, uint8_t out[12], size_t *len,
		const char **why);

#endif
