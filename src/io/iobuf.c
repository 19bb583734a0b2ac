/* Reference-counted byte buffers (TMG's IFWXIOBuffer).
 *
 * A buffer is one allocation: the header, then its `cap` bytes, so that a
 * receive costs one malloc. A window is a header alone whose `data`
 * points into another buffer's bytes; it holds a reference on the buffer
 * that owns those bytes (the root: a window of a window refers to the
 * root directly, so that freeing never recurses more than one level).
 *
 * The count is atomic (buffers cross threads: a filter may hand one to a
 * worker), accessed with the compiler's __atomic builtins because the
 * public struct keeps it a plain uint32_t. The static empty buffer
 * (end-of-stream on a link, where nothing was allocated) ignores counts.
 */
#include <stdlib.h>
#include <string.h>

#include "io/sock_internal.h"

enum {
	BUF_WINDOW = 1u << 0,   /* data belongs to parent_ */
	BUF_STATIC = 1u << 1,   /* never freed, counts ignored */
};

static uint8_t empty_byte;
static struct weir_iobuf empty = {
	.data = &empty_byte,
	.flags_ = BUF_STATIC,
};

struct weir_iobuf *weir__iobuf_empty(void)
{
	return &empty;
}

struct weir_iobuf *weir_iobuf_new(uint32_t cap)
{
	struct weir_iobuf *b = malloc(sizeof(*b) + cap);

	if (!b)
		return NULL;
	b->data = (uint8_t *)(b + 1);
	b->len = 0;
	b->cap = cap;
	b->refcnt_ = 1;
	b->flags_ = 0;
	b->parent_ = NULL;
	return b;
}

/* Gives back the unused tail of a buffer only we hold (a datagram in a
 * 64 KiB receive buffer): one realloc, which may move it. */
struct weir_iobuf *weir__iobuf_shrink(struct weir_iobuf *b)
{
	struct weir_iobuf *n;

	if (!weir_iobuf_writable(b) || b->cap - b->len < 1024)
		return b;
	n = realloc(b, sizeof(*b) + b->len);
	if (!n)
		return b;
	n->data = (uint8_t *)(n + 1);
	n->cap = n->len;
	return n;
}

struct weir_iobuf *weir_iobuf_from(const void *bytes, uint32_t len)
{
	struct weir_iobuf *b = weir_iobuf_new(len);

	if (!b)
		return NULL;
	if (len)
		memcpy(b->data, bytes, len);
	b->len = len;
	return b;
}

struct weir_iobuf *weir_iobuf_window(struct weir_iobuf *b, uint32_t off,
				     uint32_t len)
{
	struct weir_iobuf *w, *root;

	if (!b || off > b->len)
		return NULL;
	w = malloc(sizeof(*w));
	if (!w)
		return NULL;
	if (len > b->len - off)
		len = b->len - off;
	root = (b->flags_ & BUF_WINDOW) ? b->parent_ : b;
	w->data = b->data + off;
	w->len = len;
	w->cap = len;
	w->refcnt_ = 1;
	w->flags_ = BUF_WINDOW;
	w->parent_ = weir_iobuf_ref(root);
	return w;
}

struct weir_iobuf *weir_iobuf_ref(struct weir_iobuf *b)
{
	if (b && !(b->flags_ & BUF_STATIC))
		__atomic_fetch_add(&b->refcnt_, 1, __ATOMIC_RELAXED);
	return b;
}

void weir_iobuf_unref(struct weir_iobuf *b)
{
	struct weir_iobuf *parent;

	if (!b || (b->flags_ & BUF_STATIC))
		return;
	/* Release our writes, and acquire everyone else's before the free. */
	if (__atomic_sub_fetch(&b->refcnt_, 1, __ATOMIC_ACQ_REL))
		return;
	parent = b->parent_;
	free(b);
	weir_iobuf_unref(parent);
}

bool weir_iobuf_writable(const struct weir_iobuf *b)
{
	if (!b || (b->flags_ & (BUF_WINDOW | BUF_STATIC)))
		return false;
	/* Acquire: the last other holder's accesses happen before ours. */
	return __atomic_load_n(&b->refcnt_, __ATOMIC_ACQUIRE) == 1;
}
