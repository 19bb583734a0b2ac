/* The live tier's life cycle: workers started one per queue (each binds
 * its own queue in its own thread, because a socket belongs to the
 * network namespace of the thread that creates it), statistics, the
 * bypass settings, and the orderly stop that leaves no packet without
 * a verdict.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture/live_internal.h"

static void defaults(struct weir__live_opts *o)
{
	if (!o->nqueues)
		o->nqueues = 1;
	if (!o->copy_range || o->copy_range > WEIR__NFQ_COPY_MAX)
		o->copy_range = WEIR__NFQ_COPY_MAX;
	if (!o->maxlen)
		o->maxlen = 65536;
	if (!o->rcvbuf)
		o->rcvbuf = 64u << 20;
	if (!o->pend_timeout_ns)
		o->pend_timeout_ns = 5000000000ull;
	if (!o->pend_max)
		o->pend_max = 4096;
}

/* Waits until every started worker reported its bind. */
static int wait_started(struct weir__live *l, unsigned n, char *err,
			size_t errlen)
{
	int rc = 0;

	pthread_mutex_lock(&l->start_lock);
	while (l->started < n)
		pthread_cond_wait(&l->start_cond, &l->start_lock);
	pthread_mutex_unlock(&l->start_lock);
	for (unsigned i = 0; i < n && !rc; i++) {
		rc = l->workers[i].start_rc;
		if (rc < 0)
			snprintf(err, errlen, "%s", l->workers[i].start_err);
	}
	return rc;
}

static void join_all(struct weir__live *l, unsigned n, bool stop)
{
	for (unsigned i = 0; i < n; i++) {
		if (stop && l->workers[i].start_rc == 0)
			weir__live_worker_stop(&l->workers[i]);
	}
	for (unsigned i = 0; i < n; i++)
		pthread_join(l->workers[i].thread, NULL);
}

static void live_free(struct weir__live *l)
{
	weir_engine_set_pend(l->engine, NULL, NULL, l->o.pend_max,
			     l->o.pend_timeout_ns);
	pthread_mutex_destroy(&l->start_lock);
	pthread_cond_destroy(&l->start_cond);
	free(l->workers);
	free(l);
}

static int spawn(struct weir__live *l, unsigned *ret_n, char *err,
		 size_t errlen)
{
	for (unsigned i = 0; i < l->nworkers; i++) {
		struct weir__live_worker *w = &l->workers[i];
		int rc;

		w->l = l;
		w->index = i;
		rc = pthread_create(&w->thread, NULL, weir__live_worker_main, w);
		if (rc) {
			snprintf(err, errlen, "worker thread: %s",
				 strerror(rc));
			return -rc;
		}
		*ret_n = i + 1;
	}
	return 0;
}

int weir__live_start(const struct weir__live_opts *opts,
		     struct weir__live **ret, char *err, size_t errlen)
{
	struct weir__live *l = calloc(1, sizeof(*l));
	unsigned n = 0;
	int rc;

	*ret = NULL;
	if (!l)
		return snprintf(err, errlen, "out of memory"), -ENOMEM;
	l->o = *opts;
	atomic_init(&l->forward_flows, true);
	atomic_init(&l->conntrack, l->o.conntrack);
	if (opts->own_ifname) {
		size_t len = strlen(opts->own_ifname);

		l->own_ifprefix = len && opts->own_ifname[len - 1] == '+';
		l->own_iflen = len - l->own_ifprefix;
	}
	defaults(&l->o);
	l->engine = opts->engine;
	l->flows = weir_engine_flows(l->engine);
	l->nworkers = l->o.nqueues;
	pthread_mutex_init(&l->start_lock, NULL);
	pthread_cond_init(&l->start_cond, NULL);
	l->workers = calloc(l->nworkers, sizeof(*l->workers));
	rc = l->workers ? 0 : -ENOMEM;
	if (rc == 0)
		rc = weir_engine_set_pend(l->engine, weir__live_pend_end, l,
					  l->o.pend_max, l->o.pend_timeout_ns);
	if (rc < 0)
		snprintf(err, errlen, "pend set-up: %s", strerror(-rc));
	if (rc == 0)
		rc = spawn(l, &n, err, errlen);
	if (n) {
		int rc2 = wait_started(l, n, err, errlen);

		rc = rc ? rc : rc2;
	}
	if (rc < 0) {
		join_all(l, n, true);
		live_free(l);
		return rc;
	}
	*ret = l;
	return 0;
}

/* A setting message for one queue: the copy range, or the conntrack
 * flag (value 0 or 1). */
enum queue_setting { SET_COPY_RANGE, SET_CONNTRACK };

/* Sends every worker's queue the setting (from the caller's thread: a
 * netlink send is one datagram, whoever else sends on the socket).
 * 0 or the first send's -errno. */
static int set_each(struct weir__live *l, enum queue_setting what,
		    uint32_t value)
{
	char buf[WEIR__NFQ_CFG_BUF];
	int rc = 0, r;

	for (unsigned i = 0; i < l->nworkers; i++) {
		struct weir__nfq_sock *s = &l->workers[i].sock;

		if (what == SET_CONNTRACK && s->no_conntrack)
			continue;  /* the kernel would refuse the flag */
		r = weir__nfq_send(s, buf, what == SET_COPY_RANGE
				   ? weir__nfq_copy_build(buf, s->queue, value)
				   : weir__nfq_ct_build(buf, s->queue, value));
		if (r < 0 && rc == 0)
			rc = r;
	}
	return rc;
}

int weir__live_set_copy_range(struct weir__live *l, uint32_t copy_range)
{
	if (!copy_range || copy_range > WEIR__NFQ_COPY_MAX)
		copy_range = WEIR__NFQ_COPY_MAX;
	l->o.copy_range = copy_range;
	return set_each(l, SET_COPY_RANGE, copy_range);
}

int weir__live_set_conntrack(struct weir__live *l, bool on)
{
	int rc = set_each(l, SET_CONNTRACK, on);

	if (rc == 0)
		atomic_store(&l->conntrack, on);
	return rc;
}

int weir__live_conntrack(const struct weir__live *l)
{
	if (l->nworkers && l->workers[0].sock.no_conntrack)
		return -EOPNOTSUPP;
	return atomic_load(&l->conntrack);
}

void weir__live_set_bypass(struct weir__live *l, uint32_t ctmark,
			   uint32_t vmark, bool ok_v4, bool ok_v6)
{
	atomic_store(&l->bypass_vmark, vmark);
	atomic_store(&l->bypass_ok[0], ok_v4);
	atomic_store(&l->bypass_ok[1], ok_v6);
	atomic_store(&l->bypass_mark, l->o.ctmark_mask ? ctmark : 0);
}

void weir__live_set_forward_flows(struct weir__live *l, bool on)
{
	atomic_store_explicit(&l->forward_flows, on, memory_order_release);
}

#define SUM(field) \
	ret->field += atomic_load_explicit(&w->n.field, memory_order_relaxed)

void weir__live_stats(struct weir__live *l, struct weir__live_stats *ret)
{
	int e;

	memset(ret, 0, sizeof(*ret));
	for (unsigned i = 0; i < l->nworkers; i++) {
		struct weir__live_worker *w = &l->workers[i];

		SUM(received); SUM(accepted); SUM(dropped); SUM(replaced);
		SUM(bypassed); SUM(pended); SUM(pend_timeouts); SUM(held);
		SUM(by_default); SUM(unparsed); SUM(cut_short); SUM(bad_msgs);
		SUM(verdict_batches); SUM(busy_reads); SUM(own); SUM(send_errors); SUM(early);
		SUM(kernel_errors);
		e = atomic_load_explicit(&w->n.last_kernel_error,
					 memory_order_relaxed);
		if (e)
			ret->last_kernel_error = e;
	}
}

void weir__live_stop(struct weir__live *l, struct weir__live_stats *ret_final)
{
	if (!l)
		return;
	join_all(l, l->nworkers, true);
	if (ret_final)
		weir__live_stats(l, ret_final);
	live_free(l);
}
