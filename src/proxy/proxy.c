/* The firewall service's workers: each runs an io loop on its own
 * thread, accepts on its own copy of every listener, and owns the
 * sessions it accepted for their whole life (no locks on the data path).
 * Stopping closes the listeners, aborts the sessions and closes the loop,
 * which delivers every outstanding completion.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy/proxy_internal.h"

static void *worker_main(void *arg)
{
	struct weir__worker *w = arg;

	weir_loop_run(w->loop);
	/* Delivers the cancellations of what the stop left in flight. */
	weir_loop_close(w->loop);
	return NULL;
}

/* On the worker: stop accepting, abort every session, then the loop. */
static void on_stop(void *arg, int status)
{
	struct weir__worker *w = arg;

	(void)status;
	w->stopping = true;
	weir_timer_cancel(&w->idle_timer);
	for (size_t i = 0; i < w->nls; i++) {
		w->ls[i].closed = true;
		weir__io_cancel(w->loop, &w->ls[i].accept_op);
	}
	for (struct weir_session *s = w->sessions, *next; s; s = next) {
		next = s->next;
		weir_session_abort(s, "weir is stopping");
	}
	weir_loop_stop(w->loop);
}

static int open_one(struct weir__worker *w,
		    const struct weir_policy_listener *pl, bool transparent,
		    char *err, size_t errlen)
{
	int fd = weir__listener_open(pl, transparent);

	if (fd < 0) {
		snprintf(err, errlen, "listener %s (line %u): %s", pl->name,
			 pl->line, strerror(-fd));
		return fd;
	}
	w->ls[w->nls++] = (struct weir__listener){
		.pl = pl, .fd = fd, .w = w, .transparent = transparent };
	return 0;
}

static int open_listeners(struct weir__worker *w, char *err, size_t errlen)
{
	const struct weir_policy *pol = w->p->o.policy;
	size_t n = weir_policy_listener_count(pol);
	int rc = 0;

	w->ls = calloc(n + w->p->nicpt + 1, sizeof(*w->ls));
	if (!w->ls)
		return -ENOMEM;
	for (size_t i = 0; i < n && !rc; i++)
		rc = open_one(w, weir_policy_listener_at(pol, i), false, err,
			      errlen);
	for (size_t i = 0; i < w->p->nicpt && !rc; i++)
		rc = open_one(w, &w->p->icpt[i], true, err, errlen);
	return rc;
}

/* A transparent listener: any address of a family, on the intercept
 * port. */
static void plan_one(struct weir__proxy *p, const char *name, int transport,
		     int family)
{
	struct weir_policy_listener *l = &p->icpt[p->nicpt++];
	struct sockaddr_in *a4 = (struct sockaddr_in *)&l->listen;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&l->listen;

	*l = (struct weir_policy_listener){ .name = name,
					    .transport = transport };
	if (family == AF_INET6) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(p->o.intercept_port);
		l->listen_len = sizeof(*a6);
	} else {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(p->o.intercept_port);
		l->listen_len = sizeof(*a4);
	}
}

/* The transparent listeners the intercepted protocols need: TCP (the
 * redirected connections) and UDP (TPROXY's datagrams), IPv4 and IPv6,
 * on one port. */
static void plan_intercept(struct weir__proxy *p)
{
	const struct weir_policy *pol = p->o.policy;

	p->o.intercept_port = p->o.intercept_port ? p->o.intercept_port
						  : 15001;
	if (weir__intercept_has(pol, IPPROTO_TCP)) {
		plan_one(p, "intercept", IPPROTO_TCP, AF_INET);
		plan_one(p, "intercept6", IPPROTO_TCP, AF_INET6);
	}
	if (weir__intercept_has(pol, IPPROTO_UDP)) {
		plan_one(p, "intercept-udp", IPPROTO_UDP, AF_INET);
		plan_one(p, "intercept-udp6", IPPROTO_UDP, AF_INET6);
	}
}

static int start_worker(struct weir__worker *w, char *err, size_t errlen)
{
	int rc;

	pthread_mutex_init(&w->st_lock, NULL);
	rc = weir_loop_new(NULL, &w->loop);
	if (rc) {
		snprintf(err, errlen, "io loop: %s", strerror(-rc));
		return rc;
	}
	rc = open_listeners(w, err, errlen);
	for (size_t i = 0; i < w->nls && !rc; i++)
		rc = weir__listener_arm(&w->ls[i]);
	if (!rc)
		weir__idle_arm(w);
	if (!rc)
		rc = -pthread_create(&w->thread, NULL, worker_main, w);
	if (rc && !err[0])
		snprintf(err, errlen, "worker: %s", strerror(-rc));
	return rc;
}

static void free_worker(struct weir__worker *w, bool started)
{
	if (started) {
		if (weir_loop_post_req(w->loop, &w->stop_post, on_stop, w) < 0)
			weir_loop_stop(w->loop);
		pthread_join(w->thread, NULL);
	}
	weir_loop_free(w->loop);
	for (size_t i = 0; i < w->nls; i++) {
		close(w->ls[i].fd);
		weir__udp_listener_fini(&w->ls[i]);
	}
	for (unsigned i = 0; i < w->npipes; i++) {
		close(w->pipes[i][0]);
		close(w->pipes[i][1]);
	}
	free(w->ls);
	pthread_mutex_destroy(&w->st_lock);
}

/* Every binding names a filter some plug-in registered: otherwise each
 * session of its protocols would be refused, which is better said now. */
static int check_bindings(const struct weir__proxy_opts *o, char *err,
			  size_t errlen)
{
	const struct weir_policy *pol = o->policy;
	struct weir_datafilter df;
	struct weir_sessionfilter sf;

	for (size_t i = 0; i < weir_policy_datafilter_count(pol); i++) {
		const struct weir_policy_datafilter *b =
			weir_policy_datafilter_at(pol, i);

		if (weir__datafilter_get(o->engine, b->name, &df) < 0) {
			snprintf(err, errlen, "line %u: no loaded plug-in "
				 "registers a data filter '%s'", b->line,
				 b->name);
			return -ENOENT;
		}
	}
	for (size_t i = 0; i < weir_policy_sessionfilter_count(pol); i++) {
		const struct weir_policy_datafilter *b =
			weir_policy_sessionfilter_at(pol, i);

		if (weir__sessionfilter_get(o->engine, b->name, &sf) < 0) {
			snprintf(err, errlen, "line %u: no loaded plug-in "
				 "registers a session filter '%s'", b->line,
				 b->name);
			return -ENOENT;
		}
	}
	return 0;
}

int weir__proxy_start(const struct weir__proxy_opts *opts,
		      struct weir__proxy **ret, char *err, size_t errlen)
{
	struct weir__proxy *p;
	int rc = 0;

	err[0] = '\0';
	*ret = NULL;
	if (!weir_policy_listener_count(opts->policy) &&
	    !weir_policy_intercept_count(opts->policy))
		return 0;
	rc = check_bindings(opts, err, errlen);
	if (rc < 0)
		return rc;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->o = *opts;
	p->o.workers = opts->workers ? opts->workers : 1;
	p->o.max_sessions = opts->max_sessions ? opts->max_sessions : 10000;
	p->o.idle_timeout_ns = opts->idle_timeout_ns ? opts->idle_timeout_ns
						     : 300000000000ull;
	p->w = calloc(p->o.workers, sizeof(*p->w));
	if (!p->w) {
		free(p);
		return -ENOMEM;
	}
	plan_intercept(p);
	for (unsigned i = 0; i < p->o.workers && !rc; i++) {
		p->w[i].p = p;
		rc = start_worker(&p->w[i], err, errlen);
		p->nw = i + (rc == 0);
		if (rc)
			free_worker(&p->w[i], false);
	}
	if (!rc && p->nicpt && !p->o.no_rules) {
		/* After the listeners: a redirected connection must find
		 * one. */
		rc = weir__intercept_install(p->o.policy, p->o.tag,
					     p->o.intercept_port, err, errlen);
		p->rules = rc == 0;
	}
	if (rc) {
		weir__proxy_stop(p);
		return rc;
	}
	*ret = p;
	return 0;
}

void weir__proxy_stop(struct weir__proxy *p)
{
	if (!p)
		return;
	/* No new redirected connections while the workers go. */
	if (p->rules)
		weir__intercept_remove(p->o.policy, p->o.tag);
	for (unsigned i = 0; i < p->nw; i++)
		free_worker(&p->w[i], true);
	free(p->w);
	free(p);
}

void weir__proxy_stats(struct weir__proxy *p, struct weir__proxy_stats *ret)
{
	memset(ret, 0, sizeof(*ret));
	for (unsigned i = 0; p && i < p->nw; i++) {
		struct weir__worker *w = &p->w[i];
		uint64_t *dst = (uint64_t *)ret;
		const uint64_t *src = (const uint64_t *)&w->st;

		pthread_mutex_lock(&w->st_lock);
		for (size_t k = 0; k < sizeof(*ret) / sizeof(uint64_t); k++)
			dst[k] += src[k];
		pthread_mutex_unlock(&w->st_lock);
	}
}

void weir__proxy_last_abort(struct weir__proxy *p, char *buf, size_t len)
{
	buf[0] = '\0';
	for (unsigned i = 0; p && i < p->nw; i++) {
		struct weir__worker *w = &p->w[i];

		pthread_mutex_lock(&w->st_lock);
		if (w->last_abort[0])
			snprintf(buf, len, "%s", w->last_abort);
		pthread_mutex_unlock(&w->st_lock);
	}
}
