/* Fuzz target: the Thrift compact decoder on footer bytes (FileMetaData -> schema tree,
 * row groups, statistics), and a generic skip of the same bytes as one struct. */
#include "idbsync/pq_read.h"
#include "parquet/common/thrift.h"

#include <stdint.h>
#include <stddef.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ids_error err = IDS_ERROR_INIT;
	pq_file_meta *m = NULL;
	if (pq_file_meta_parse(&m, data, size, 0, &err) == 0)
		pq_file_meta_free(m);
	pq_tdec d;
	pq_tdec_init(&d, data, size, &err);
	pq_tdec_skip(&d, PQ_T_STRUCT);
	return 0;
}
