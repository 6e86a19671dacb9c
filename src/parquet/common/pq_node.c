/* Schema tree nodes shared by the writer and the reader: construction, deep copy and
 * release. A tree owns its children and names, so one pq_node_free releases all of it. */
#include "idbsync/pq.h"

#include <stdlib.h>
#include <string.h>

static pq_node *node_new(const char *name, pq_type type, pq_repetition rep)
{
	pq_node *n = calloc(1, sizeof *n);
	if (!n)
		return NULL;
	n->name = strdup(name ? name : "");
	if (!n->name) {
		free(n);
		return NULL;
	}
	n->type = type;
	n->repetition = rep;
	n->converted = PQ_CT_NONE;
	n->field_id = -1;
	return n;
}

pq_node *pq_node_new_group(const char *name, pq_repetition rep)
{
	return node_new(name, PQ_GROUP, rep);
}

pq_node *pq_node_new_leaf(const char *name, pq_type type, pq_repetition rep)
{
	return node_new(name, type, rep);
}

int pq_node_add(pq_node *group, pq_node *child)
{
	if (!group || !child || group->type != PQ_GROUP)
		return IDS_EINVAL;
	/* capacity is implicit: 4, then the next power of two, so only grow at those sizes */
	size_t n = group->n_children;
	if (n == 0 || (n >= 4 && (n & (n - 1)) == 0)) {
		size_t ncap = n ? n * 2 : 4;
		pq_node **p = realloc(group->children, ncap * sizeof *p);
		if (!p)
			return IDS_ENOMEM;
		group->children = p;
	}
	group->children[group->n_children++] = child;
	return 0;
}

pq_node *pq_node_clone(const pq_node *src)
{
	if (!src)
		return NULL;
	pq_node *n = node_new(src->name, src->type, src->repetition);
	if (!n)
		return NULL;
	n->type_length = src->type_length;
	n->logical = src->logical;
	n->converted = src->converted;
	n->field_id = src->field_id;
	for (size_t i = 0; i < src->n_children; i++) {
		pq_node *c = pq_node_clone(src->children[i]);
		if (!c || pq_node_add(n, c) != 0) {
			pq_node_free(c);
			pq_node_free(n);
			return NULL;
		}
	}
	return n;
}

void pq_node_free(pq_node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n_children; i++)
		pq_node_free(n->children[i]);
	free(n->children);
	free(n->name);
	free(n);
}
