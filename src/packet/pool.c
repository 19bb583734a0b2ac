/* Per-thread block pools: the memory behind packets, lists and buffers.
 *
 * The fast path (alloc and free on the owner thread) touches only the
 * thread's own free list plus one relaxed atomic for the live count. Slabs
 * of small blocks are never returned to malloc while the pool lives; large
 * (64 KiB) blocks are cached up to a limit and freed beyond it.
 *
 * Lifetime: `live` counts blocks out plus one for the owner thread. The
 * owner drops its unit when the thread exits (pthread key destructor);
 * whoever brings `live` to zero destroys the pool. A remote free pushes its
 * block before it decrements, so the destroyer sees every block.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "packet/pool.h"
#include "packet/nbl_internal.h"

/* Header in front of every block. 32 bytes keep the payload 16-aligned. */
struct weir_blk {
	struct weir_pool *pool;     /* owner; NULL for oversize blocks */
	struct weir_blk *next;      /* free list / remote stack link */
	uint32_t cls;               /* enum weir__pool_class */
	uint32_t pad[3];
};

struct weir_slab {
	struct weir_slab *next;
};

struct weir_pool_cls {
	struct weir_blk *free;                   /* owner only */
	uint32_t nfree;                          /* owner only; blocks
	                                          * adopted from `remote`
	                                          * are not counted */
	_Atomic(struct weir_blk *) remote;       /* any thread pushes */
};

struct weir_pool {
	struct weir_pool_cls cls[WEIR__CLS_COUNT];
	struct weir_slab *slabs;                 /* owner only */
	atomic_long live;                        /* blocks out + owner */
	uint64_t allocs, frees_local, slab_mallocs, oversize;
	atomic_ullong frees_remote;
};

/* Block payload sizes per class, and how many blocks one slab holds. */
static const size_t cls_bytes[WEIR__CLS_COUNT] = {
	[WEIR__CLS_PKT] = sizeof(struct weir_pkt),
	[WEIR__CLS_NBL] = sizeof(struct weir_nbl),
	[WEIR__CLS_SMALL] = WEIR__SMALL_BYTES + sizeof(struct weir_buf),
	[WEIR__CLS_LARGE] = WEIR__LARGE_BYTES + sizeof(struct weir_buf),
};
static const uint32_t cls_per_slab[WEIR__CLS_COUNT] = {
	[WEIR__CLS_PKT] = 64,
	[WEIR__CLS_NBL] = 64,
	[WEIR__CLS_SMALL] = 32,
	[WEIR__CLS_LARGE] = 1,
};
/* Large blocks cached per pool before they go back to malloc (16 MiB). */
#define LARGE_CACHE_MAX 256u

static pthread_key_t pool_key;
static pthread_once_t pool_key_once = PTHREAD_ONCE_INIT;
static _Thread_local struct weir_pool *tls_pool;

static size_t blk_stride(uint32_t cls)
{
	size_t n = sizeof(struct weir_blk) + cls_bytes[cls];

	return (n + 15u) & ~(size_t)15u;
}

static void pool_destroy(struct weir_pool *pool)
{
	struct weir_blk *b, *next;

	/* Large blocks are separate mallocs, wherever they wait. */
	b = atomic_exchange(&pool->cls[WEIR__CLS_LARGE].remote, NULL);
	for (; b; b = next) {
		next = b->next;
		free(b);
	}
	for (b = pool->cls[WEIR__CLS_LARGE].free; b; b = next) {
		next = b->next;
		free(b);
	}
	while (pool->slabs) {
		struct weir_slab *s = pool->slabs;

		pool->slabs = s->next;
		free(s);
	}
	free(pool);
}

static void pool_put(struct weir_pool *pool)
{
	if (atomic_fetch_sub_explicit(&pool->live, 1, memory_order_acq_rel) == 1)
		pool_destroy(pool);
}

static void pool_thread_exit(void *arg)
{
	tls_pool = NULL;
	pool_put(arg);
}

static void pool_key_init(void)
{
	if (pthread_key_create(&pool_key, pool_thread_exit) != 0)
		abort(); /* only at first use; no way to run without it */
}

struct weir_pool *weir_pool_thread(void)
{
	struct weir_pool *pool = tls_pool;

	if (pool)
		return pool;
	pthread_once(&pool_key_once, pool_key_init);
	pool = calloc(1, sizeof(*pool));
	if (!pool)
		return NULL;
	atomic_init(&pool->live, 1);
	if (pthread_setspecific(pool_key, pool) != 0) {
		free(pool);
		return NULL;
	}
	tls_pool = pool;
	return pool;
}

/* Carves a new slab of blocks onto the class's free list. */
static int pool_grow(struct weir_pool *pool, uint32_t cls)
{
	size_t stride = blk_stride(cls);
	uint32_t n = cls_per_slab[cls];
	size_t head = cls == WEIR__CLS_LARGE ? 0 : 16;
	uint8_t *mem = malloc(head + stride * n);

	if (!mem)
		return -ENOMEM;
	pool->slab_mallocs++;
	if (head) {
		struct weir_slab *s = (struct weir_slab *)mem;

		s->next = pool->slabs;
		pool->slabs = s;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct weir_blk *b = (struct weir_blk *)(mem + head + i * stride);

		b->pool = pool;
		b->cls = cls;
		b->next = pool->cls[cls].free;
		pool->cls[cls].free = b;
	}
	pool->cls[cls].nfree += n;
	return 0;
}

/* Adopts every block other threads returned, or grows a slab. */
static int pool_refill(struct weir_pool *pool, uint32_t cls)
{
	struct weir_pool_cls *c = &pool->cls[cls];
	struct weir_blk *b = atomic_exchange_explicit(&c->remote, NULL,
						       memory_order_acquire);

	if (!b)
		return pool_grow(pool, cls);
	/* Not counted: walking the list to count it touched every block,
	 * out of cache, a visible share of a cross-thread workload (an
	 * injector freeing what another thread allocated). nfree only caps
	 * the large class's cache, which may then briefly hold more. */
	c->free = b;
	return 0;
}

void *weir__pool_alloc(enum weir__pool_class cls)
{
	struct weir_pool *pool = weir_pool_thread();
	struct weir_pool_cls *c;
	struct weir_blk *b;

	if (!pool)
		return NULL;
	c = &pool->cls[cls];
	if (!c->free && pool_refill(pool, cls) < 0)
		return NULL;
	b = c->free;
	c->free = b->next;
	if (c->nfree)
		c->nfree--;
	pool->allocs++;
	atomic_fetch_add_explicit(&pool->live, 1, memory_order_relaxed);
	return b + 1;
}

void *weir__pool_alloc_oversize(size_t bytes)
{
	struct weir_pool *pool = weir_pool_thread();
	struct weir_blk *b;

	if (bytes > SIZE_MAX - sizeof(*b))
		return NULL;
	b = malloc(sizeof(*b) + bytes);
	if (!b)
		return NULL;
	b->pool = NULL;
	b->cls = WEIR__CLS_COUNT;
	if (pool)
		pool->oversize++;
	return b + 1;
}

static void remote_push(struct weir_pool *pool, struct weir_blk *b)
{
	struct weir_pool_cls *c = &pool->cls[b->cls];
	struct weir_blk *head = atomic_load_explicit(&c->remote,
						      memory_order_relaxed);

	do {
		b->next = head;
	} while (!atomic_compare_exchange_weak_explicit(&c->remote, &head, b,
			memory_order_release, memory_order_relaxed));
	atomic_fetch_add_explicit(&pool->frees_remote, 1, memory_order_relaxed);
	pool_put(pool);
}

static void local_push(struct weir_pool *pool, struct weir_blk *b)
{
	struct weir_pool_cls *c = &pool->cls[b->cls];

	pool->frees_local++;
	if (b->cls == WEIR__CLS_LARGE && c->nfree >= LARGE_CACHE_MAX) {
		free(b);
	} else {
		b->next = c->free;
		c->free = b;
		c->nfree++;
	}
	atomic_fetch_sub_explicit(&pool->live, 1, memory_order_relaxed);
}

void weir__pool_free(void *block)
{
	struct weir_blk *b;

	if (!block)
		return;
	b = (struct weir_blk *)block - 1;
	if (!b->pool)
		free(b);
	else if (b->pool == tls_pool)
		local_push(b->pool, b);
	else
		remote_push(b->pool, b);
}

int weir_pool_stats(struct weir_pool *pool, struct weir_pool_stats *ret_stats)
{
	uint64_t remote;

	if (!pool)
		pool = weir_pool_thread();
	if (!pool || !ret_stats)
		return -EINVAL;
	remote = atomic_load(&pool->frees_remote);
	*ret_stats = (struct weir_pool_stats){
		.allocs = pool->allocs,
		.frees_local = pool->frees_local,
		.frees_remote = remote,
		.slab_mallocs = pool->slab_mallocs,
		.oversize = pool->oversize,
		.in_use = pool->allocs - pool->frees_local - remote,
	};
	return 0;
}
