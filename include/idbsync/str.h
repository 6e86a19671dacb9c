/* C strings: the small helpers over them that several modules share, each written once. */
#ifndef IDBSYNC_STR_H
#define IDBSYNC_STR_H

/* The qsort/bsearch comparator of an array of C strings (char * or const char * elements):
 * strcmp of the strings they point to, so the order is unsigned byte order (UTF-8 names sort
 * by code point). The elements must not be NULL. */
int ids_str_cmp(const void *a, const void *b);

#endif
