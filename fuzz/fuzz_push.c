/* Fuzz target: push bodies (JSON scanner, key encoding, tagged values, batch validation) —
 * everything the server runs on a request body before the ledger sees it. */
#include <stdlib.h>
#include <string.h>

#include "idbsync/sync.h"
#include "idbsync/value.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char *body = malloc(size + 1);
	if (!body)
		return 0;
	memcpy(body, data, size);
	body[size] = 0;
	ids_limits lim = IDS_LIMITS_INIT;
	ids_error err = IDS_ERROR_INIT;
	ids_batch *b = NULL;
	if (ids_batch_parse(&b, "db", body, size, &lim, NULL, &err) == 0) {
		/* every accepted key must decode back to JSON */
		ids_buf out = IDS_BUF_INIT;
		for (size_t i = 0; i < b->n; i++) {
			if (ids_key_to_json(b->m[i].key, b->m[i].key_len, &out, NULL))
				abort();
			ids_buf_reset(&out);
		}
		ids_buf_free(&out);
		ids_batch_free(b);
	}
	return 0;
}
