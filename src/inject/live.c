/* The live injector: what `weir run` installs so that callouts inject
 * into the real stack. One thread runs an io loop (completions run
 * there); compartments hold the raw sockets and TUN devices; the sender
 * (live_send.c) does the work.
 *
 * Hand-off: an injecting thread pushes its req on a lock-free stack and,
 * if no wake-up is pending, posts one (a post in the injector's storage:
 * no allocation, and one eventfd write at most per loop sleep). The loop
 * takes the whole stack at once, so a burst of injections costs one
 * wake-up.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "inject/live_internal.h"

static struct weir__inj_comp *find(struct weir_inject_live *l, uint32_t id)
{
	for (size_t i = 0; i < l->ncomps; i++)
		if (l->comps[i].id == id)
			return &l->comps[i];
	return NULL;
}

static void on_post(void *arg, int status)
{
	struct weir_inject_live *l = arg;

	/* Cleared first: a push after this posts again. */
	atomic_store(&l->posted, false);
	if (status == 0)
		weir__inj_pump(l);
}

static int submit(void *arg, struct weir_inject_req *req)
{
	struct weir_inject_live *l = arg;
	struct weir_inject_req *head;

	if (!find(l, req->compartment) || atomic_load(&l->stopping))
		return WEIR_INJECT_E_NOT_READY;
	head = atomic_load(&l->incoming);
	do
		req->backend_[0] = head;
	while (!atomic_compare_exchange_weak(&l->incoming, &head, req));
	if (!atomic_exchange(&l->posted, true))
		weir_loop_post_req(l->loop, &l->post, on_post, l);
	return 0;
}

static void cancel_all(void *arg, int status)
{
	(void)status;  /* run with -ECANCELED too: the loop closed */
	weir__inj_fail_all(arg, -ECANCELED);
}

/* The injector goes: what is not handed to the kernel yet is cancelled,
 * on the loop (which owns the work list). */
static void shutdown_live(void *arg)
{
	struct weir_inject_live *l = arg;

	atomic_store(&l->stopping, true);
	if (weir_loop_post(l->loop, cancel_all, l) < 0)
		weir__inj_fail_all(l, -ECANCELED);
}

static void *loop_main(void *arg)
{
	struct weir_inject_live *l = arg;

	weir_loop_run(l->loop);
	/* Closing on its own thread completes the POLLOUT wait and the
	 * posts still queued. */
	weir_loop_close(l->loop);
	weir__inj_fail_all(l, -ECANCELED);
	return NULL;
}

static int open_comps(struct weir_inject_live *l,
		      const struct weir_inject_live_opts *o)
{
	const char *tun = o->tun_name ? o->tun_name : WEIR__INJ_DEFAULT_TUN;
	int rc;

	l->comps = calloc(o->ncompartments + 1, sizeof(*l->comps));
	if (!l->comps)
		return -ENOMEM;
	rc = weir__inj_comp_open(&l->comps[0], NULL, l->mark, tun);
	l->ncomps = rc ? 0 : 1;
	for (size_t i = 0; i < o->ncompartments && !rc; i++) {
		struct weir__inj_comp *c = &l->comps[l->ncomps];

		if (!o->compartments[i].id || !o->compartments[i].netns_path ||
		    find(l, o->compartments[i].id))
			return -EINVAL;
		rc = weir__inj_comp_open(c, o->compartments[i].netns_path,
					 l->mark, tun);
		c->id = o->compartments[i].id;
		l->ncomps += rc == 0;
	}
	return rc;
}

static void free_live(struct weir_inject_live *l)
{
	if (l->thread_started) {
		weir_loop_stop(l->loop);
		pthread_join(l->thread, NULL);
	}
	weir_loop_free(l->loop);
	for (size_t i = 0; i < l->ncomps; i++)
		weir__inj_comp_close(&l->comps[i]);
	free(l->comps);
	free(l);
}

static int start(struct weir_inject_live *l, struct weir_engine *engine)
{
	static const struct weir_inject_ops ops = {
		.submit = submit, .shutdown = shutdown_live };
	int rc = weir_loop_new(NULL, &l->loop);

	if (rc)
		return rc;
	rc = -pthread_create(&l->thread, NULL, loop_main, l);
	if (rc)
		return rc;
	l->thread_started = true;
	return weir_injector_new(engine, &ops, l, &l->injector);
}

int weir_inject_live_new(struct weir_engine *engine,
			 const struct weir_inject_live_opts *opts,
			 struct weir_inject_live **ret_live)
{
	static const struct weir_inject_live_opts none;
	struct weir_inject_live *l;
	int rc;

	if (!engine || !ret_live)
		return -EINVAL;
	if (weir_engine_slot(engine, WEIR_ENGINE_SLOT_INJECTOR))
		return -EEXIST;
	opts = opts ? opts : &none;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->mark = opts->mark ? opts->mark : WEIR__INJ_DEFAULT_MARK;
	rc = open_comps(l, opts);
	if (!rc)
		rc = start(l, engine);
	if (rc) {
		free_live(l);
		return rc;
	}
	*ret_live = l;
	return 0;
}

void weir_inject_live_free(struct weir_inject_live *l)
{
	if (!l)
		return;
	weir_injector_free(l->injector);  /* every req done after this */
	free_live(l);
}

void weir_inject_live_stats(const struct weir_inject_live *l,
			    struct weir_inject_live_stats *ret)
{
	*ret = (struct weir_inject_live_stats){
		.reqs = atomic_load(&l->n_reqs),
		.packets = atomic_load(&l->n_packets),
		.errors = atomic_load(&l->n_errors),
		.segmented = atomic_load(&l->n_segmented),
	};
}
