/* Fuzz target: a whole Parquet file from bytes. Opens it from memory, reads every row as
 * JSON and decodes every column chunk with the batch API; must never crash, hang or
 * over-allocate (caps are lowered so the fuzzer's memory limit is not the one that trips). */
#include "idbsync/pq_read.h"

#include <stdint.h>
#include <stddef.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pq_read_options o = PQ_READ_OPTIONS_INIT;
	o.max_page_size = 8 << 20;
	o.max_page_values = 1 << 20;
	o.max_row_json = 4 << 20;
	pq_reader *r = NULL;
	ids_error err = IDS_ERROR_INIT;
	if (pq_reader_open_mem(&r, data, size, "fuzz.parquet", &o, &err) != 0)
		return 0;
	ids_buf out;
	ids_buf_init(&out, 16 << 20);
	int rows = 0;
	while (pq_reader_next_row_json(r, &out, &err) > 0 && rows++ < 100000)
		ids_buf_reset(&out);
	const pq_file_meta *m = pq_reader_meta(r);
	for (size_t g = 0; g < m->n_row_groups && g < 8; g++)
		for (size_t c = 0; c < m->n_columns && c < 64; c++) {
			pq_read_batch b;
			pq_reader_read_column(r, g, c, &b, &err);
		}
	ids_buf_free(&out);
	pq_reader_free(r);
	return 0;
}
