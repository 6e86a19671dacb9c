/* C string helpers (idbsync/str.h): the comparator that sorts names read from directories,
 * catalogs and tables, and searches the lake's reserved words. */
#include "idbsync/str.h"

#include <string.h>

int ids_str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}
