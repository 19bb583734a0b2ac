/* Internals of the injection module shared by its files: handles, the
 * request wrapper, the injector, and the process-wide injection records.
 * Not used outside src/inject/.
 */
#ifndef WEIR_INJECT_INTERNAL_H
#define WEIR_INJECT_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <weir/inject.h>

struct weir_inject_handle {
	struct weir_engine *engine;
	int family;                    /* AF_INET, AF_INET6, AF_UNSPEC */
	enum weir_inject_type type;
	uint32_t serial;               /* process-unique, never 0 */
	_Atomic bool closing;
	_Atomic uint32_t inflight;     /* accepted, completion not finished */
	pthread_mutex_t lock;          /* with `idle`: destroy waits */
	pthread_cond_t idle;
};

struct weir_injector {
	struct weir_engine *engine;
	struct weir_inject_ops ops;
	void *arg;
	_Atomic uint32_t users;        /* submits running + reqs taken */
	pthread_mutex_t lock;          /* with `idle`: free waits */
	pthread_cond_t idle;
};

/* What weir keeps for an accepted injection; the backend sees `pub`. */
struct weir__inject_req {
	struct weir_inject_req pub;
	struct weir_inject_handle *handle;
	struct weir_injector *injector;
	weir_inject_complete_fn complete;
	void *complete_ctx;
	uint16_t strip;                /* header bytes weir put in front of
	                                * each packet: removed before the
	                                * completion (transport injection) */
};

/* ---- submit.c ---- */
/* One inject call, as the public functions describe it. */
struct weir__inject_call {
	enum weir_inject_type type;    /* the handle type it needs */
	enum weir_inject_path path;
	uint64_t ictx;
	uint32_t flags, compartment, ifindex;
	uint16_t strip;                /* see weir__inject_req */
};
/* Checks, records and hands the injection to the engine's injector. The
 * public functions' returns. */
int weir__inject_submit(struct weir_inject_handle *h,
			const struct weir__inject_call *c, struct weir_nbl *nbl,
			weir_inject_complete_fn complete, void *complete_ctx);

/* ---- handle.c ---- */
/* Drops one in-flight injection of h, waking a waiting destroy. */
void weir__inject_handle_put(struct weir_inject_handle *h);

/* ---- injector.c ---- */
/* The engine's injector with one more user, or NULL (none installed). */
struct weir_injector *weir__injector_get(struct weir_engine *engine);
void weir__injector_put(struct weir_injector *inj);

/* ---- record.c: who injected what ---- */
/* A new record for an injection by handle `serial` with `ctx`, after
 * record `prev` (the packet's earlier injection, 0 = none). Never 0. */
uint32_t weir__record_new(uint32_t serial, uint64_t ctx, uint32_t prev);
/* Forgets a record whose injection was refused after all. */
void weir__record_drop(uint32_t id);

/* The state of record `id` for handle `serial`, seen at `layer`. */
enum weir_injection_state weir__record_state(uint32_t id, uint32_t serial,
					     int layer, uint64_t *ret_ctx);

/* Completion nesting of the calling thread (destroy refuses to wait for
 * itself). */
extern _Thread_local unsigned weir__inject_completing;

#endif /* WEIR_INJECT_INTERNAL_H */
