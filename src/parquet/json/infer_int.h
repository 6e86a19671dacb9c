/* Read access to what inference saw per field, for the shredder's strict mode (used when a
 * schema was inferred from a prefix of the input: see pq_writer_write_ndjson_inferred). */
#ifndef PQ_JSON_INFER_INT_H
#define PQ_JSON_INFER_INT_H

#include <stddef.h>

#include "idbsync/pq_write.h"

enum {
	PQI_NONE, PQI_BOOL, PQI_INT, PQI_DOUBLE, PQI_STRING, PQI_TS, PQI_BIN, PQI_STRUCT,
	PQI_LIST, PQI_TEXT,
	PQI_TS_TEXT,     /* strings that are all ISO-8601 instants (with a zone) */
	PQI_DATE_TEXT    /* strings that are all "YYYY-MM-DD" */
};

typedef struct inode pqi_node;

const pqi_node *pqi_root(const pq_infer *inf);
/* Whether ISO-8601 strings become DATE / TIMESTAMP columns (pq_infer_text_times). */
int pqi_text_times(const pq_infer *inf);
/* Field `name` of a struct node, or NULL. */
const pqi_node *pqi_field(const pqi_node *n, const char *name, size_t len);
/* Element of a list node, or NULL. */
const pqi_node *pqi_elem(const pqi_node *n);
int pqi_kind(const pqi_node *n);
/* Fields of a struct node (0 for an empty object). */
size_t pqi_nfields(const pqi_node *n);

#endif
