/* Arenas: a policy, and each parse, allocate from a chain of chunks that
 * is freed in one call, so no error path can leak.
 */
#include <stdlib.h>
#include <string.h>

#include "policy/policy_internal.h"

#define CHUNK_MIN 4096u
/* Chunks double up to this: a policy of 100k statements then wastes
 * little at the end of each chunk and makes few of them. */
#define CHUNK_MAX (1u << 20)
#define ALIGN 16u
/* Larger single allocations are refused (a policy never needs them). */
#define ALLOC_MAX ((size_t)1 << 30)

struct weir__chunk {
	struct weir__chunk *next;
	size_t size, used;
	_Alignas(16) unsigned char data[];
};

static struct weir__chunk *chunk_new(size_t need, size_t prev)
{
	size_t size = prev * 2 > CHUNK_MIN ? prev * 2 : CHUNK_MIN;
	struct weir__chunk *c;

	if (size > CHUNK_MAX)
		size = CHUNK_MAX;
	if (need > size)
		size = need;
	c = malloc(sizeof(*c) + size);

	if (!c)
		return NULL;
	c->next = NULL;
	c->size = size;
	c->used = 0;
	return c;
}

void *weir__alloc(struct weir__arena *a, size_t size)
{
	struct weir__chunk *c = a->head;
	void *p;

	if (size > ALLOC_MAX)
		return NULL;
	size = (size + ALIGN - 1) & ~(size_t)(ALIGN - 1);
	if (!size)
		size = ALIGN;
	if (!c || c->size - c->used < size) {
		c = chunk_new(size, c ? c->size : 0);
		if (!c)
			return NULL;
		c->next = a->head;
		a->head = c;
	}
	p = c->data + c->used;
	c->used += size;
	memset(p, 0, size);
	return p;
}

void *weir__calloc(struct weir__arena *a, size_t n, size_t elem)
{
	if (elem && n > ALLOC_MAX / elem)
		return NULL;
	return weir__alloc(a, n * elem);
}

void *weir__grow(struct weir__arena *a, const void *old, size_t n_old,
		 size_t n_new, size_t elem)
{
	void *p = weir__calloc(a, n_new, elem);

	if (p && old && n_old)
		memcpy(p, old, (n_old < n_new ? n_old : n_new) * elem);
	return p;
}

char *weir__strndup(struct weir__arena *a, const char *s, size_t n)
{
	char *p = weir__alloc(a, n + 1);

	if (p && n)
		memcpy(p, s, n);
	return p;
}

void weir__arena_free(struct weir__arena *a)
{
	struct weir__chunk *c = a->head;

	while (c) {
		struct weir__chunk *next = c->next;

		free(c);
		c = next;
	}
	a->head = NULL;
}
