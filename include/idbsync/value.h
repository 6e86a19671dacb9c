/* IndexedDB keys and values on the wire.
 *
 * Values are JSON; what JSON lacks uses one tagged form (documented in docs/protocol.md):
 *   {"$date":"2024-01-01T00:00:00.000Z"} / {"$date":null}     Date / Invalid Date
 *   {"$num":"NaN"|"Infinity"|"-Infinity"|"-0"}                non-finite numbers and -0
 *   {"$undefined":true}                                      undefined (also array holes)
 *   {"$bigint":"-123"}                                       BigInt
 *   {"$bin":"<base64>"[,"$type":"Uint8Array"|...]}           ArrayBuffer / typed arrays / DataView
 *   {"$map":[[k,v],...]}  {"$set":[v,...]}                   Map, Set
 *   {"$regexp":"source","$flags":"gi"}                       RegExp
 *   {"$esc":{...}}                                           a plain object whose keys start with '$'
 * Keys (IndexedDB keys) are a number, a string, {"$date":..}, {"$bin":..}, {"$num":"Infinity"|
 * "-Infinity"} or an array of keys. The server stores a key as an order-preserving binary
 * encoding (IndexedDB order: number < date < string < binary < array), so equal keys (1 and 1.0,
 * 0 and -0) are one row. */
#ifndef IDBSYNC_VALUE_H
#define IDBSYNC_VALUE_H

#include <stddef.h>
#include <stdint.h>

#include "idbsync/buf.h"
#include "idbsync/error.h"
#include "idbsync/json.h"

#define IDS_KEY_MAX_DEPTH 16

/* Encodes key token t of j into its canonical binary form (appended to out). */
int ids_key_encode(const ids_json *j, size_t t, ids_buf *out, ids_error *err);
/* Appends the canonical JSON form of an encoded key. IDS_ECORRUPT on bad bytes. */
int ids_key_to_json(const uint8_t *k, size_t n, ids_buf *out, ids_error *err);

/* Checks that value token t uses tags correctly (unknown or malformed $-tags are errors).
 * path names the field in messages, e.g. "mutations[3].value". */
int ids_value_check(const ids_json *j, size_t t, const char *path, ids_error *err);

/* ---- the primitives under values, in src/util (the Parquet code uses them too, and may call
 * only util). Each exists once: a second copy is how the push check and the lake came to
 * disagree. ---- */

/* Dates (util/datetime.c). Days since 1970-01-01 <-> a proleptic Gregorian date. */
int64_t ids_days_from_civil(int64_t y, unsigned m, unsigned d);
void ids_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);
/* ISO-8601 "YYYY-MM-DD[THH:MM[:SS[.f{1,9}]]][zone]" (years also "+YYYYYY"/"-YYYYYY") into
 * seconds since the epoch and nanoseconds [0, 1e9); *digits gets the significant fraction
 * digits (trailing zeros dropped). Without flags (files): 'T', 't' or ' ' before the time,
 * zone Z, z, +HH:MM, +HHMM or none (UTC). IDS_ISO_JS (the wire's $date): Date.toISOString()'s
 * grammar: 'T', a time needs 'Z', 24:00:00.000 is the end of the day. IDS_EINVAL if bad. */
enum { IDS_ISO_JS = 1 };
int ids_iso_parse(const char *s, size_t n, int flags, int64_t *secs, int32_t *nanos, int *digits);
/* "YYYY-MM-DD" alone, as days since the epoch. */
int ids_iso_date(const char *s, size_t n, int32_t *days);
/* A $date (IDS_ISO_JS) as JavaScript's milliseconds (finer digits cut), within +-8.64e15. */
int ids_iso_to_ms(const char *s, size_t n, double *ms);
/* "YYYY-MM-DDTHH:MM:SS.fffZ" with `digits` (3, 6 or 9) fraction digits; years outside
 * 0..9999 as a sign and at least six digits. out must hold 40 bytes; returns the length. */
int ids_iso_format(int64_t secs, uint32_t nanos, int digits, char *out);
/* JS Date.toISOString() form of unix ms; out must hold 32 bytes. Returns length. */
int ids_ms_to_iso(double ms, char *out);
/* Unix ms as seconds (floored) and nanoseconds [0, 1e9): the instant ids_ms_to_iso prints. */
void ids_ms_split(int64_t ms, int64_t *secs, int32_t *nanos);

/* $num's text (util/number.c): "NaN", "Infinity", "-Infinity" or "-0" as the double it
 * names; IDS_EINVAL for anything else. */
int ids_num_special(const char *s, size_t n, double *out);
/* The same for string token t of j (unescaped first); IDS_EINVAL if t is not one. */
int ids_json_num_special(const ids_json *j, size_t t, double *out);

/* Base64 (util/base64.c), standard alphabet; every byte string has one encoding (non-zero
 * leftover bits are refused). decode: the wire form, padded; IDS_B64_PAD_OPTIONAL also takes
 * it without the padding (NDJSON files). IDS_EINVAL on bad input, IDS_ELIMIT past out's cap. */
enum { IDS_B64_PAD_OPTIONAL = 1 };
int ids_base64_decode(const char *s, size_t n, ids_buf *out);
int ids_base64_decode_opt(const char *s, size_t n, int flags, ids_buf *out);
int ids_base64_encode(const uint8_t *p, size_t n, ids_buf *out);

/* UTF-8 (util/utf8.c). The length (1-4) of the valid sequence at p[0..n) (RFC 3629: no
 * overlongs, surrogates or code points past U+10FFFF), 0 if invalid. */
size_t ids_utf8_len(const uint8_t *p, size_t n);
/* p[0..n) is valid UTF-8. */
int ids_utf8_valid(const uint8_t *p, size_t n);
/* Writes code point cp (any value below 2^21, surrogates too: the key encoding stores UTF-16
 * units in this layout) to o (4 bytes); returns the length. */
size_t ids_utf8_put(char *o, uint32_t cp);
/* Reads a sequence's bit layout without judging it (surrogates and overlongs pass): for text
 * already validated, or the key encoding's units. Returns its length, 0 if malformed. */
size_t ids_utf8_get(const uint8_t *p, size_t n, uint32_t *cp);

#endif
