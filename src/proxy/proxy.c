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
#include <time.h>
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
	/* Backwards: a listener with nothing in flight goes at once. */
	for (size_t i = w->nls; i-- > 0;)
		weir__listener_close(w->ls[i]);
	for (struct weir_session *s = w->sessions, *next; s; s = next) {
		next = s->next;
		weir_session_abort(s, "weir is stopping");
	}
	weir_loop_stop(w->loop);
}

/* ---- the listeners a policy wants ------------------------------------ */

/* Listener i of what pol wants: its own listeners, then the proxy's
 * transparent ones for the transports it intercepts. NULL past the end
 * or for a transparent one it does not need. */
static const struct weir_policy_listener *
wanted(const struct weir__proxy *p, const struct weir_policy *pol, size_t i,
       bool *transparent)
{
	size_t n = weir_policy_listener_count(pol);
	const struct weir_policy_listener *t;

	*transparent = i >= n;
	if (i < n)
		return weir_policy_listener_at(pol, i);
	if (i - n >= 4)
		return NULL;
	t = &p->icpt[i - n];
	return weir__intercept_has(pol, t->transport) ? t : NULL;
}

static size_t wanted_count(const struct weir_policy *pol)
{
	return weir_policy_listener_count(pol) + 4;
}

/* Whether two listener specs open the same socket. */
static bool same_spec(const struct weir_policy_listener *a, bool ta,
		      const struct weir_policy_listener *b, bool tb)
{
	return ta == tb && a->transport == b->transport &&
	       a->listen_len == b->listen_len &&
	       !memcmp(&a->listen, &b->listen, b->listen_len);
}

/* Whether listener l serves spec pl. */
static bool same_socket(const struct weir__listener *l,
			const struct weir_policy_listener *pl,
			bool transparent)
{
	return same_spec(l->pl, l->transparent, pl, transparent);
}

static int open_listeners(struct weir__worker *w, char *err, size_t errlen)
{
	int rc = 0;

	for (size_t i = 0; i < wanted_count(w->pol) && !rc; i++) {
		bool tr;
		const struct weir_policy_listener *pl =
			wanted(w->p, w->pol, i, &tr);

		if (pl && (rc = weir__listener_add(w, pl, w->pol, tr)) < 0)
			snprintf(err, errlen, "listener %s (line %u): %s",
				 pl->name, pl->line, strerror(-rc));
	}
	return rc;
}

/* The transparent listeners: any address of a family, on the intercept
 * port, for TCP (redirected connections) and UDP (TPROXY's datagrams).
 * The same four whatever the policy: a reload opens those it needs. */
static void plan_one(struct weir_policy_listener *l, const char *name,
		     int transport, int family, uint16_t port)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)&l->listen;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&l->listen;

	*l = (struct weir_policy_listener){ .name = name,
					    .transport = transport };
	if (family == AF_INET6) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		l->listen_len = sizeof(*a6);
	} else {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(port);
		l->listen_len = sizeof(*a4);
	}
}

static void plan_intercept(struct weir__proxy *p)
{
	uint16_t port = p->o.intercept_port ? p->o.intercept_port : 15001;

	p->o.intercept_port = port;
	plan_one(&p->icpt[0], "intercept", IPPROTO_TCP, AF_INET, port);
	plan_one(&p->icpt[1], "intercept6", IPPROTO_TCP, AF_INET6, port);
	plan_one(&p->icpt[2], "intercept-udp", IPPROTO_UDP, AF_INET, port);
	plan_one(&p->icpt[3], "intercept-udp6", IPPROTO_UDP, AF_INET6, port);
}

static bool intercepts(const struct weir_policy *pol)
{
	return weir_policy_intercept_count(pol) != 0;
}

/* ---- reloads, on the worker ------------------------------------------ */

/* A listener a reload adds, accepting at once. Failures are logged:
 * weir__proxy_check() probed the address before the reload applied. */
static void open_new(struct weir__worker *w,
		     const struct weir_policy_listener *pl,
		     struct weir_policy *pol, bool transparent)
{
	int rc = weir__listener_add(w, pl, pol, transparent);
	struct weir__listener *l = rc ? NULL : w->ls[w->nls - 1];

	if (l && (rc = weir__listener_arm(l)) < 0)
		/* Not accepting, it must not hold its share of the
		 * SO_REUSEPORT group's connections either. */
		weir__listener_close(l);
	if (rc < 0)
		fprintf(stderr, "weir: proxy: listener %s: %s\n", pl->name,
			strerror(-rc));
}

/* Moves the worker to pol (a reference it takes): listeners the new
 * policy keeps stay open (their sessions never notice), the others
 * close, new ones open. Sessions keep the policy they started under. */
static void apply_update(struct weir__worker *w, struct weir_policy *pol)
{
	size_t nw = wanted_count(pol);
	bool *kept = calloc(nw, sizeof(*kept));

	if (!kept) {
		fprintf(stderr, "weir: proxy: out of memory: the listeners "
				"stay as they were\n");
		weir_policy_free(pol);
		return;
	}
	for (size_t k = w->nls; k-- > 0;) {
		struct weir__listener *l = w->ls[k];
		size_t i;
		bool tr;

		if (l->closed)
			continue;
		for (i = 0; i < nw; i++) {
			const struct weir_policy_listener *pl =
				wanted(w->p, pol, i, &tr);

			if (pl && !kept[i] && same_socket(l, pl, tr))
				break;
		}
		if (i == nw) {
			weir__listener_close(l);
			continue;
		}
		kept[i] = true;
		l->pl = wanted(w->p, pol, i, &tr);
		weir_policy_free(l->pol);
		l->pol = weir_policy_ref(pol);
	}
	weir_policy_free(w->pol);
	w->pol = pol;
	for (size_t i = 0; i < nw; i++) {
		bool tr;
		const struct weir_policy_listener *pl = wanted(w->p, pol, i, &tr);

		if (pl && !kept[i])
			open_new(w, pl, pol, tr);
	}
	free(kept);
}

/* The worker is done with update gen (applied, or never will be). */
static void set_applied(struct weir__worker *w, uint64_t gen)
{
	pthread_mutex_lock(&w->up_lock);
	if (gen > w->applied_gen)
		w->applied_gen = gen;
	pthread_cond_broadcast(&w->up_done);
	pthread_mutex_unlock(&w->up_lock);
}

/* Waits (at most until `deadline`, CLOCK_MONOTONIC) for the worker to
 * be done with update gen. */
static void wait_applied(struct weir__worker *w, uint64_t gen,
			 const struct timespec *deadline)
{
	pthread_mutex_lock(&w->up_lock);
	while (w->applied_gen < gen &&
	       pthread_cond_timedwait(&w->up_done, &w->up_lock, deadline) == 0)
		;
	pthread_mutex_unlock(&w->up_lock);
}

static void on_update(void *arg, int status)
{
	struct weir__worker *w = arg;
	struct weir_policy *pol;
	uint64_t gen;

	pthread_mutex_lock(&w->up_lock);
	pol = w->up_next;
	gen = w->up_gen;
	w->up_next = NULL;
	w->up_posted = false;
	pthread_mutex_unlock(&w->up_lock);
	if (status == 0 && pol && !w->stopping)
		apply_update(w, pol);
	else
		weir_policy_free(pol);
	set_applied(w, gen);
}

/* Hands pol to the worker (a reference); a reload that comes before the
 * worker took the previous one replaces it. */
static void post_update(struct weir__worker *w, struct weir_policy *pol,
			uint64_t gen)
{
	struct weir_policy *old;
	bool post;

	pthread_mutex_lock(&w->up_lock);
	old = w->up_next;
	w->up_next = weir_policy_ref(pol);
	w->up_gen = gen;
	post = !w->up_posted;
	w->up_posted = true;
	/* Under the lock: on_update must not take up_post back before it
	 * is posted. A loop that is closing takes no post: nothing to
	 * update then (free_worker drops up_next). */
	if (post && weir_loop_post_req(w->loop, &w->up_post, on_update, w) < 0) {
		w->up_posted = false;
		w->applied_gen = gen;
	}
	pthread_mutex_unlock(&w->up_lock);
	weir_policy_free(old);
}

/* ---- workers --------------------------------------------------------- */

/* A condition whose timed waits count on CLOCK_MONOTONIC. */
static void init_cond(pthread_cond_t *c)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(c, &a);
	pthread_condattr_destroy(&a);
}

static int start_worker(struct weir__worker *w, char *err, size_t errlen)
{
	int rc;

	pthread_mutex_init(&w->st_lock, NULL);
	pthread_mutex_init(&w->up_lock, NULL);
	init_cond(&w->up_done);
	w->pol = weir_policy_ref(w->p->o.policy);
	rc = weir_loop_new(NULL, &w->loop);
	if (rc) {
		snprintf(err, errlen, "io loop: %s", strerror(-rc));
		return rc;
	}
	rc = open_listeners(w, err, errlen);
	for (size_t i = 0; i < w->nls && !rc; i++)
		rc = weir__listener_arm(w->ls[i]);
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
	/* What the loop's close did not free (never armed, or a worker
	 * that did not start). */
	while (w->nls) {
		struct weir__listener *l = w->ls[--w->nls];

		close(l->fd);
		weir__udp_listener_fini(l);
		weir_policy_free(l->pol);
		free(l);
	}
	for (unsigned i = 0; i < w->npipes; i++) {
		close(w->pipes[i][0]);
		close(w->pipes[i][1]);
	}
	free(w->ls);
	weir_policy_free(w->up_next);
	weir_policy_free(w->pol);
	pthread_cond_destroy(&w->up_done);
	pthread_mutex_destroy(&w->up_lock);
	pthread_mutex_destroy(&w->st_lock);
}

/* Every binding names a filter some plug-in registered: otherwise each
 * session of its protocols would be refused, which is better said now. */
static int check_bindings(struct weir_engine *e, const struct weir_policy *pol,
			  char *err, size_t errlen)
{
	struct weir_datafilter df;
	struct weir_sessionfilter sf;

	for (size_t i = 0; i < weir_policy_datafilter_count(pol); i++) {
		const struct weir_policy_datafilter *b =
			weir_policy_datafilter_at(pol, i);

		if (weir__datafilter_get(e, b->name, &df) < 0) {
			snprintf(err, errlen, "%s:%u: no loaded plug-in "
				 "registers a data filter '%s'",
				 weir_policy_file(pol), b->line, b->name);
			return -ENOENT;
		}
	}
	for (size_t i = 0; i < weir_policy_sessionfilter_count(pol); i++) {
		const struct weir_policy_datafilter *b =
			weir_policy_sessionfilter_at(pol, i);

		if (weir__sessionfilter_get(e, b->name, &sf) < 0) {
			snprintf(err, errlen, "%s:%u: no loaded plug-in "
				 "registers a session filter '%s'",
				 weir_policy_file(pol), b->line, b->name);
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
	    !intercepts(opts->policy))
		return 0;
	rc = check_bindings(opts->engine, opts->policy, err, errlen);
	if (rc < 0)
		return rc;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->o = *opts;
	p->o.policy = weir_policy_ref(opts->policy);
	p->o.workers = opts->workers ? opts->workers : 1;
	p->o.max_sessions = opts->max_sessions ? opts->max_sessions : 10000;
	p->o.idle_timeout_ns = opts->idle_timeout_ns ? opts->idle_timeout_ns
						     : 300000000000ull;
	p->w = calloc(p->o.workers, sizeof(*p->w));
	if (!p->w) {
		weir_policy_free(p->o.policy);
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
	if (!rc && intercepts(p->o.policy) && !p->o.no_rules) {
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

/* ---- reloads ---------------------------------------------------------- */

/* Whether the proxy's current policy has a listener on pl's socket. */
static bool served(const struct weir__proxy *p,
		   const struct weir_policy_listener *pl, bool transparent)
{
	for (size_t i = 0; i < wanted_count(p->o.policy); i++) {
		bool tr;
		const struct weir_policy_listener *cur =
			wanted(p, p->o.policy, i, &tr);

		if (cur && same_spec(cur, tr, pl, transparent))
			return true;
	}
	return false;
}

int weir__proxy_check(struct weir__proxy *p, struct weir_engine *engine,
		      const struct weir_policy *pol, char *err, size_t errlen)
{
	int rc = check_bindings(engine, pol, err, errlen);

	/* Each listener it adds can be bound, so a reload fails whole
	 * rather than half. Those open now are not probed: a probe would
	 * join their SO_REUSEPORT group for a moment. */
	for (size_t i = 0; p && !rc && i < wanted_count(pol); i++) {
		bool tr;
		const struct weir_policy_listener *pl = wanted(p, pol, i, &tr);

		if (!pl || served(p, pl, tr))
			continue;
		rc = weir__listener_probe(pl, tr);
		if (rc < 0)
			snprintf(err, errlen, "%s:%u: listener %s: %s",
				 weir_policy_file(pol), pl->line, pl->name,
				 strerror(-rc));
	}
	return rc;
}

/* Whether two policies intercept the same ports of the same
 * transports (the rules would not change). */
static bool same_intercepts(const struct weir_policy *a,
			    const struct weir_policy *b)
{
	size_t n = weir_policy_intercept_count(a);

	if (n != weir_policy_intercept_count(b))
		return false;
	for (size_t i = 0; i < n; i++) {
		const struct weir_policy_protocol *x =
			weir_policy_intercept_at(a, i);
		const struct weir_policy_protocol *y =
			weir_policy_intercept_at(b, i);

		if (x->transport != y->transport || x->nports != y->nports ||
		    memcmp(x->ports, y->ports, x->nports * sizeof(*x->ports)))
			return false;
	}
	return true;
}

/* The interception rules, from the current policy's to pol's. */
static int rules_follow(struct weir__proxy *p, const struct weir_policy *pol,
			char *err, size_t errlen)
{
	int rc = 0;

	if (p->rules && intercepts(pol))
		rc = weir__intercept_update(p->o.policy, pol, p->o.tag,
					    p->o.intercept_port, err, errlen);
	else if (p->rules)
		weir__intercept_remove(p->o.policy, p->o.tag);
	else if (intercepts(pol))
		rc = weir__intercept_install(pol, p->o.tag,
					     p->o.intercept_port, err, errlen);
	p->rules = intercepts(pol) && rc == 0;
	return rc;
}

int weir__proxy_update(struct weir__proxy *p, struct weir_policy *pol,
		       char *err, size_t errlen)
{
	int rc = 0;

	err[0] = '\0';
	p->up_gen++;
	for (unsigned i = 0; i < p->nw; i++)
		post_update(&p->w[i], pol, p->up_gen);
	if (!p->o.no_rules && !same_intercepts(p->o.policy, pol)) {
		/* As at start, listeners before rules: a redirected
		 * connection must find one (bounded: a stuck worker must
		 * not hold the reload forever). */
		struct timespec deadline;

		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += 5;
		for (unsigned i = 0; i < p->nw; i++)
			wait_applied(&p->w[i], p->up_gen, &deadline);
		rc = rules_follow(p, pol, err, errlen);
	}
	weir_policy_free(p->o.policy);
	p->o.policy = weir_policy_ref(pol);
	return rc;
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
	weir_policy_free(p->o.policy);
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
