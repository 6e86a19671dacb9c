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

/* ISO-8601 "YYYY-MM-DDTHH:MM:SS.sssZ" (also ±YYYYYY years, 0-9 fraction digits) <-> unix ms. */
int ids_iso_to_ms(const char *s, size_t n, double *ms);
/* Writes JS Date.toISOString() form; out must hold 32 bytes. Returns length. */
int ids_ms_to_iso(double ms, char *out);

/* Standard base64 with padding. decode: IDS_EINVAL on bad input. */
int ids_base64_decode(const char *s, size_t n, ids_buf *out);
int ids_base64_encode(const uint8_t *p, size_t n, ids_buf *out);

#endif
