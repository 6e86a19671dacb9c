/* Fuzz target: push bodies (JSON scanner, key encoding, tagged values, batch validation) —
 * everything the server runs on a request body before the ledger sees it; and the same body
 * streamed (ids_batch_stream_begin), which must end well only where the whole parse accepts,
 * with the same mutations. */
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
	ids_batch *b = NULL, *s = NULL;
	char *copy = malloc(size + 1);
	if (copy && !ids_batch_stream_begin(&s, "db", memcpy(copy, body, size + 1), size, &lim, NULL))
		ids_batch_stream_run(s);
	else
		free(copy);
	int whole = ids_batch_parse(&b, "db", body, size, &lim, NULL, &err);
	if (s && !ids_batch_stream_end(s, NULL)) {
		if (whole || s->n != b->n)
			abort();
		for (size_t i = 0; i < s->n; i++)
			if (s->m[i].id != b->m[i].id || s->m[i].key_len != b->m[i].key_len ||
			    memcmp(s->m[i].key, b->m[i].key, s->m[i].key_len) || strcmp(s->m[i].store, b->m[i].store) ||
			    s->m[i].value_len != b->m[i].value_len)
				abort();
	}
	ids_batch_free(s);
	if (whole == 0) {
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
