/* Fuzz target: tagged JSON values and IndexedDB keys on their own — any JSON the scanner
 * accepts must either be rejected cleanly by the value/key checks or round-trip: a key that
 * encodes must decode to JSON that encodes to the same bytes. */
#include <stdlib.h>
#include <string.h>

#include "idbsync/value.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	ids_json j = IDS_JSON_INIT, j2 = IDS_JSON_INIT;
	ids_buf k1 = IDS_BUF_INIT, txt = IDS_BUF_INIT, k2 = IDS_BUF_INIT;
	if (ids_json_parse(&j, (const char *)data, size, 100000, 64, NULL) == 0) {
		ids_value_check(&j, 0, "value", NULL);
		if (ids_key_encode(&j, 0, &k1, NULL) == 0) {
			if (ids_key_to_json((const uint8_t *)k1.data, k1.len, &txt, NULL))
				abort(); /* our own encoding must decode */
			if (ids_json_parse(&j2, txt.data, txt.len, 0, 64, NULL) || ids_key_encode(&j2, 0, &k2, NULL) ||
			    k1.len != k2.len || memcmp(k1.data, k2.data, k1.len))
				abort(); /* canonical JSON must re-encode to the same key */
		}
	}
	/* arbitrary bytes as a stored key: decode must fail cleanly or produce JSON */
	ids_buf_reset(&txt);
	ids_key_to_json(data, size, &txt, NULL);
	ids_json_free(&j);
	ids_json_free(&j2);
	ids_buf_free(&k1);
	ids_buf_free(&txt);
	ids_buf_free(&k2);
	return 0;
}
