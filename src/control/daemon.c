/* The daemon's life: start (policy, plug-ins, queues, then rules: a
 * queue must be bound before packets are steered to it), reload (the
 * engine and its flows and pends stay; one transaction swaps the
 * filters; the steering follows the new needs and moves to a new
 * connmark generation so that bypassed flows are authorised again), and
 * stop (rules first, then the queues drain).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <weir/callout.h>
#include <weir/flow.h>

#include "cli/cli.h"
#include "control/daemon.h"

static void say(struct daemon *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void say(struct daemon *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->last_error, sizeof(d->last_error), fmt, ap);
	va_end(ap);
	fprintf(stderr, "weir: %s\n", d->last_error);
}

/* ---- plug-ins ------------------------------------------------------------ */

static bool plugin_loaded(const struct daemon *d, const char *name)
{
	for (size_t i = 0; i < d->nplugins; i++)
		if (!strcmp(d->plugins[i].name, name))
			return true;
	return false;
}

/* Loads the policy's plug-ins that are not loaded yet. A plug-in stays
 * loaded across reloads (its callouts may hold pends and flow
 * contexts); its parameters are those of the policy that loaded it. */
static int load_plugins(struct daemon *d, const struct weir_policy *p)
{
	size_t n = weir_policy_plugin_count(p);
	char *dir = weir_cli_plugin_dir(d->o.policy_path, p, d->o.plugin_dir);
	struct loaded_plugin *np;
	char err[400];
	int rc = 0;

	np = realloc(d->plugins, (d->nplugins + n + 1) * sizeof(*np));
	if (!dir || !np) {
		free(dir);
		d->plugins = np ? np : d->plugins;
		return say(d, "out of memory"), -ENOMEM;
	}
	d->plugins = np;
	for (size_t i = 0; i < n && !rc; i++) {
		const struct weir_policy_plugin *pl = weir_policy_plugin_at(p, i);
		struct loaded_plugin *lp = &d->plugins[d->nplugins];

		if (plugin_loaded(d, pl->name))
			continue;
		err[0] = '\0';
		rc = weir_plugin_load(d->engine, dir, pl->name, pl->params,
				      &lp->p, err, sizeof(err));
		if (rc < 0) {
			say(d, "%s:%u: %s", d->o.policy_path, pl->line,
			    err[0] ? err : strerror(-rc));
			break;
		}
		lp->name = strdup(pl->name);
		d->nplugins++;
	}
	free(dir);
	return rc;
}

static void unload_plugins(struct daemon *d)
{
	for (size_t i = d->nplugins; i-- > 0;) {
		weir_plugin_unload(d->plugins[i].p);
		free(d->plugins[i].name);
	}
	free(d->plugins);
	d->plugins = NULL;
	d->nplugins = 0;
}

/* ---- policy -------------------------------------------------------------- */

static int load_policy(struct daemon *d, struct weir_policy **ret)
{
	struct weir_policy_error perr;
	char buf[1024];
	int rc = weir_policy_load(d->o.policy_path, ret, &perr);

	if (rc < 0) {
		weir_policy_error_format(&perr, buf, sizeof(buf));
		buf[strcspn(buf, "\n")] = '\0'; /* first line for the log */
		say(d, "policy rejected: %s", buf);
		weir_policy_error_format(&perr, buf, sizeof(buf));
		fputs(buf, stderr);
	}
	return rc;
}

/* Applies p to the engine; on success it becomes the running policy. */
/* The application tier's part of a policy, before any of it applies:
 * its bindings name registered filters (the plug-ins are loaded by now),
 * its new listeners can be opened. */
static int check_proxy(struct daemon *d, const struct weir_policy *p)
{
	char err[256];
	int rc;

	if (!d->proxy && !weir_policy_listener_count(p) &&
	    !weir_policy_intercept_count(p))
		return 0;
	rc = weir__proxy_check(d->proxy, d->engine, p, err, sizeof(err));
	if (rc < 0)
		say(d, "policy rejected: %s", err);
	return rc;
}

static int apply_policy(struct daemon *d, struct weir_policy *p)
{
	struct weir_policy_error perr;
	size_t n = weir_policy_filter_count(p);
	uint64_t *ids = calloc(n + 1, sizeof(*ids));
	char buf[1024];
	int rc;

	if (!ids)
		return say(d, "out of memory"), -ENOMEM;
	rc = load_plugins(d, p);
	if (rc == 0)
		rc = check_proxy(d, p);
	if (rc == 0)
		rc = weir_policy_apply_ids(p, d->engine, ids, &perr);
	if (rc < 0) {
		if (rc != -ENOMEM && d->last_error[0] == '\0') {
			weir_policy_error_format(&perr, buf, sizeof(buf));
			buf[strcspn(buf, "\n")] = '\0';
			say(d, "policy rejected: %s", buf);
		}
		free(ids);
		return rc;
	}
	if (d->policy != d->first_policy)
		weir_policy_free(d->policy);
	free(d->ids);
	d->policy = p;
	d->ids = ids;
	d->nids = n;
	daemon_needs_of(p, d->engine, &d->needs);
	if (d->o.copy_range && d->o.copy_range < 0xffff && d->needs.payload)
		fprintf(stderr, "weir: --copy-range %u: the policy matches "
				"payload bytes or calls callouts that read "
				"them; they see %u bytes of each packet\n",
			d->o.copy_range, d->o.copy_range);
	return 0;
}

/* ---- steering -------------------------------------------------------- */

static void plan_of(const struct daemon *d, const struct compartment *c,
		    struct weir__steer_plan *plan)
{
	weir__steer_plan_init(plan);
	plan->tag = d->o.tag;
	plan->netns_path = c->netns;
	plan->generation = d->generation;
	/* What weir injects into the receive path arrives on its TUN
	 * devices; the mark on the rest is the plan's default. */
	if (d->inject)
		plan->inject_ifname = "weir-inj+";
	for (int v6 = 0; v6 < 2; v6++)
		for (int h = 0; h < WEIR__STEER_NHOOK; h++) {
			struct weir__steer_hook_plan *hp = &plan->hook[v6][h];

			hp->queue = d->needs.hook[v6][h];
			hp->new_only = d->needs.new_only[v6][h];
			hp->bypass = d->o.queue_bypass;
			/* Flows leave the queue only once a connect/accept
			 * layer permitted them: never on FORWARD, where
			 * none runs. */
			hp->no_ct_bypass = !d->o.connmark_bypass ||
					   !d->needs.bypass_ok[v6] ||
					   h == WEIR__STEER_FORWARD;
			/* What weir injects reaches FORWARD only from its
			 * TUN devices; the workers skip it there
			 * (live_path.c), so that the rule is bare. */
			hp->skips_in_user = h == WEIR__STEER_FORWARD;
			hp->qfirst = d->o.queue_base;
			hp->qlast = (uint16_t)(d->o.queue_base +
					       d->o.nqueues - 1);
		}
}

static int steer(struct daemon *d, struct compartment *c)
{
	struct weir__steer_plan plan;
	struct weir__steer_err err = { 0 };
	int rc;

	if (!d->o.steer)
		return 0;
	plan_of(d, c, &plan);
	rc = weir__steer_apply(&plan, &err);
	if (rc < 0)
		say(d, "steering%s%s: %s", c->netns ? " in " : "",
		    c->netns ? c->netns : "", err.msg);
	else
		c->steered = true;
	return rc;
}

static void unsteer(struct daemon *d, struct compartment *c)
{
	struct weir__steer_plan plan;
	struct weir__steer_err err = { 0 };

	if (!c->steered)
		return;
	plan_of(d, c, &plan);
	if (weir__steer_remove(&plan, &err) < 0)
		say(d, "removing rules: %s", err.msg);
	c->steered = false;
}

/* Stale rules of this tag, left by a daemon that died: they would
 * steer packets to queues nobody reads (or, without bypass, drop
 * them). The generation found continues, so that flows bypassed then
 * are authorised again. */
static void clean_stale(struct daemon *d, struct compartment *c)
{
	struct weir__steer_plan plan;
	struct weir__steer_err err = { 0 };
	uint8_t gen = 0;

	if (!d->o.steer)
		return;
	plan_of(d, c, &plan);
	if (weir__steer_clean_stale(&plan, &gen, &err) < 0)
		say(d, "cleaning stale rules: %s", err.msg);
	if (gen)
		d->generation = weir__steer_generation_next(&plan, gen);
}

static void set_bypass(struct daemon *d)
{
	struct weir__steer_plan plan;
	uint32_t mark, vmark;

	plan_of(d, &d->comp[0], &plan);
	mark = weir__steer_ctmark(&plan, d->generation);
	vmark = weir__steer_vmark(&plan, d->generation);
	for (unsigned i = 0; i < d->ncomp; i++)
		weir__live_set_bypass(d->comp[i].live,
				      d->o.connmark_bypass ? mark : 0, vmark,
				      d->needs.bypass_ok[0],
				      d->needs.bypass_ok[1]);
}

/* Forwarded packets get flows only while ipforward reads them. */
static void set_forward_flows(struct daemon *d, bool on)
{
	for (unsigned i = 0; i < d->ncomp; i++)
		weir__live_set_forward_flows(d->comp[i].live, on);
}

/* ---- life cycle ------------------------------------------------------- */

/* Whole packets when a callout in use may read them, else headers. */
static uint32_t copy_range(const struct daemon *d)
{
	if (d->o.copy_range)
		return d->o.copy_range;
	return d->needs.payload ? 0xffff : WEIR_HEADERS_COPY;
}

static void copy_range_to(struct daemon *d, uint32_t want)
{
	bool ok = true;

	if (want == d->copy_range)
		return;
	for (unsigned i = 0; i < d->ncomp; i++)
		if (weir__live_set_copy_range(d->comp[i].live, want) < 0)
			ok = false;
	/* After a failure some queues may have switched: unknown, so the
	 * next call sends again whatever it wants. */
	d->copy_range = ok ? want : 0;
	if (!ok)
		say(d, "cannot set the copy range to %u", want);
}

/* The live tiers keep what their queues were last set to (unchanged
 * by a failed send, so the next call tries again); a kernel without
 * the glue has nothing to set. */
static void conntrack_to(struct daemon *d, bool want)
{
	bool ok = true;

	for (unsigned i = 0; i < d->ncomp; i++) {
		struct weir__live *l = d->comp[i].live;
		int now = weir__live_conntrack(l);

		if (now >= 0 && now != (int)want &&
		    weir__live_set_conntrack(l, want) < 0)
			ok = false;
	}
	if (!ok)
		say(d, "cannot turn the conntrack attributes %s",
		    want ? "on" : "off");
}

/* The copy range and the conntrack attributes the running policy
 * needs. */
static void set_queue_config(struct daemon *d)
{
	copy_range_to(d, copy_range(d));
	conntrack_to(d, d->needs.conntrack);
}

/* A reload that brings payload filters or callouts widens the copy
 * before the new policy classifies anything: packets it matches on
 * bytes were then (almost all) queued whole. Only those already waiting
 * in the queue or the socket were cut at the old range. Likewise the
 * conntrack attributes for a policy that reads ct.state: a packet
 * queued without them meanwhile has its state derived from weir's
 * flows. */
static void widen_queue_config(struct daemon *d, const struct weir_policy *p)
{
	if (!d->o.copy_range && daemon_may_need_payload(p, d->engine))
		copy_range_to(d, 0xffff);
	if (daemon_may_need_conntrack(p, d->engine))
		conntrack_to(d, true);
}

static int start_live(struct daemon *d, struct compartment *c)
{
	struct weir__steer_plan plan;
	struct weir__live_opts lo;
	char err[256];
	int rc;

	plan_of(d, c, &plan);
	lo = (struct weir__live_opts){
		.engine = d->engine, .nqueues = d->o.nqueues,
		.queue_base = d->o.queue_base, .fail_open = !d->o.fail_closed,
		.ctmark_mask = plan.ct_mask, .vmark_mask = plan.vmark_mask,
		.own_mark = plan.mark, .own_mark_mask = plan.mark_mask,
		.own_ifname = plan.inject_ifname,
		.own_forward = d->o.steer &&
			       plan.hook[0][WEIR__STEER_FORWARD].skips_in_user,
		.netns = c->netns, .compartment = c->id,
		.pend_timeout_ns = d->o.pend_timeout_ns,
		.maxlen = d->o.queue_maxlen, .copy_range = copy_range(d),
		.conntrack = d->needs.conntrack };
	rc = weir__live_start(&lo, &c->live, err, sizeof(err));
	if (rc < 0)
		say(d, "%s", err);
	else
		d->copy_range = lo.copy_range;
	return rc;
}

/* A random first generation: flows a previous daemon marked keep their
 * connmark after it stopped cleanly (no stale rules tell its
 * generation), and must not pass unchecked under this one. */
static uint8_t first_generation(struct daemon *d)
{
	struct weir__steer_plan plan;
	uint8_t max, r = 0;

	plan_of(d, &d->comp[0], &plan);
	max = weir__steer_generation_max(&plan);
	if (getrandom(&r, 1, 0) != 1 || !max)
		r = (uint8_t)time(NULL);
	return max ? (uint8_t)(1 + r % max) : 1;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The namespaces to attach in: --netns (numbered 1, 2, ...), else the
 * policy's `compartment` statements, else weir's own (compartment 0).
 * Fixed for the daemon's life: a reload does not move it. */
static void compartments(struct daemon *d, const struct weir_policy *p)
{
	size_t np = weir_policy_compartment_count(p);

	if (d->o.nnetns) {
		d->ncomp = d->o.nnetns;
		for (unsigned i = 0; i < d->ncomp; i++)
			d->comp[i] = (struct compartment){
				.id = i + 1, .netns = d->o.netns[i] };
		return;
	}
	d->ncomp = np ? (unsigned)np : 1;
	d->comp[0] = (struct compartment){ 0 };
	for (size_t i = 0; i < np && i < DAEMON_MAX_NETNS; i++) {
		const struct weir_policy_compartment *c =
			weir_policy_compartment_at(p, i);

		d->comp[i] = (struct compartment){ .id = c->id,
						   .netns = c->netns };
	}
}

/* The live injector, in every compartment. Without it weir still
 * filters; only injections fail (WEIR_INJECT_E_NOT_READY). */
static void start_inject(struct daemon *d)
{
	struct weir_inject_compartment ic[DAEMON_MAX_NETNS];
	struct weir_inject_live_opts o = { .compartments = ic };
	int rc;

	for (unsigned i = 0; i < d->ncomp; i++)
		if (d->comp[i].id && d->comp[i].netns)
			ic[o.ncompartments++] = (struct weir_inject_compartment){
				.id = d->comp[i].id,
				.netns_path = d->comp[i].netns };
	rc = weir_inject_live_new(d->engine, &o, &d->inject);
	if (rc < 0)
		fprintf(stderr, "weir: injection unavailable: %s\n",
			strerror(-rc));
}

/* The application tier, on the current policy's listeners (a reload
 * moves it to the next policy: weir__proxy_update). */
static int start_proxy(struct daemon *d)
{
	struct weir__proxy_opts po = { .engine = d->engine,
				       .policy = d->policy,
				       .workers = d->o.proxy_workers,
				       .max_sessions = d->o.proxy_max_sessions,
				       .idle_timeout_ns = d->o.proxy_idle_ns,
				       .tag = d->o.tag,
				       .no_rules = !d->o.steer };
	char err[256];
	int rc = weir__proxy_start(&po, &d->proxy, err, sizeof(err));

	if (rc < 0)
		say(d, "proxy: %s", err[0] ? err : strerror(-rc));
	else if (d->proxy)
		fprintf(stderr, "weir: proxy: %zu listener(s), %zu intercepted "
				"protocol(s), %u worker(s)\n",
			weir_policy_listener_count(d->policy),
			weir_policy_intercept_count(d->policy),
			po.workers ? po.workers : 1);
	return rc;
}

int daemon_start(struct daemon *d, const struct daemon_opts *o)
{
	struct weir_policy *p;
	int rc;

	memset(d, 0, sizeof(*d));
	d->o = *o;
	d->o.nqueues = o->nqueues ? o->nqueues : 1;
	d->started_ns = mono_ns();
	if (load_policy(d, &p) < 0)
		return -EINVAL;
	compartments(d, p);
	/* The first policy's strings (compartment paths) must live as long
	 * as the daemon: keep it. */
	d->first_policy = p;
	d->generation = first_generation(d);
	d->engine = weir_engine_new();
	if (!d->engine)
		return weir_policy_free(p), say(d, "out of memory"), -ENOMEM;
	start_inject(d);
	rc = apply_policy(d, p);
	if (rc < 0) {
		daemon_stop(d);
		return rc;
	}
	for (unsigned i = 0; i < d->ncomp && rc == 0; i++)
		clean_stale(d, &d->comp[i]);
	for (unsigned i = 0; i < d->ncomp && rc == 0; i++)
		rc = start_live(d, &d->comp[i]);
	if (rc == 0) {
		set_bypass(d);
		set_forward_flows(d, d->needs.forward_flows);
	}
	for (unsigned i = 0; i < d->ncomp && rc == 0; i++)
		rc = steer(d, &d->comp[i]);
	if (rc == 0)
		rc = start_proxy(d);
	if (rc < 0)
		daemon_stop(d);
	return rc;
}

/* The application tier follows: the running proxy moves to the new
 * policy, or one starts if this is the first policy with listeners. */
static int reload_proxy(struct daemon *d)
{
	char err[256];
	int rc;

	if (!d->proxy)
		return start_proxy(d);
	rc = weir__proxy_update(d->proxy, d->policy, err, sizeof(err));
	if (rc < 0)
		say(d, "proxy: %s", err);
	return rc;
}

int daemon_reload(struct daemon *d)
{
	struct weir_policy *p;
	int rc;

	d->last_error[0] = '\0';
	rc = load_policy(d, &p);
	if (rc == 0) {
		widen_queue_config(d, p);
		/* Flows before the new policy classifies: its callouts at
		 * ipforward then find them (a packet already past its flow
		 * lookup may still meet the new policy without one). */
		if (daemon_may_need_forward_flows(p, d->engine))
			set_forward_flows(d, true);
		rc = apply_policy(d, p);
		if (rc < 0)
			weir_policy_free(p);
	}
	if (rc < 0) {
		/* The new plug-ins stay loaded, and a callout that was
		 * missing may now serve a running filter: the running
		 * policy's needs again, with what is registered now. */
		daemon_needs_of(d->policy, d->engine, &d->needs);
		set_queue_config(d);  /* back to the running policy's */
		set_forward_flows(d, d->needs.forward_flows);
		d->reload_failures++;
		fprintf(stderr, "weir: reload failed; the running policy "
				"stays\n");
		return rc;
	}
	{
		struct weir__steer_plan plan;

		plan_of(d, &d->comp[0], &plan);
		d->generation = weir__steer_generation_next(&plan,
							    d->generation);
	}
	/* Rules first: they must know the new generation's marks before
	 * verdicts carry them. */
	for (unsigned i = 0; i < d->ncomp; i++)
		if (steer(d, &d->comp[i]) < 0)
			rc = -EIO;
	set_bypass(d);
	set_queue_config(d);
	set_forward_flows(d, d->needs.forward_flows);
	if (reload_proxy(d) < 0)
		rc = -EIO;
	d->reloads++;
	fprintf(stderr, "weir: policy reloaded (%zu filters)\n", d->nids);
	return rc;
}

void daemon_stop(struct daemon *d)
{
	/* Sessions end first: their data filters live in the plug-ins. */
	weir__proxy_stop(d->proxy);
	d->proxy = NULL;
	for (unsigned i = 0; i < d->ncomp; i++)
		unsteer(d, &d->comp[i]);
	for (unsigned i = 0; i < d->ncomp; i++) {
		struct weir__live_stats s;

		if (!d->comp[i].live)
			continue;
		weir__live_stop(d->comp[i].live, &s);
		d->comp[i].live = NULL;
		fprintf(stderr, "weir: stopped: compartment %u: received %"
			PRIu64 " accepted %" PRIu64 " dropped %" PRIu64
			" held %" PRIu64 " balance %s\n", d->comp[i].id,
			s.received, s.accepted, s.dropped, s.held,
			s.received == s.accepted + s.dropped + s.held
				? "ok" : "MISMATCH");
	}
	/* Injections still queued complete (cancelled) before the
	 * plug-ins that wait for them in their handles' destroy go. */
	weir_inject_live_free(d->inject);
	d->inject = NULL;
	/* Unloading unregisters the callouts, which ends their flow
	 * contexts (flow_delete runs); the engine must outlive it. */
	unload_plugins(d);
	weir_engine_free(d->engine);
	d->engine = NULL;
	if (d->policy != d->first_policy)
		weir_policy_free(d->policy);
	weir_policy_free(d->first_policy);
	d->policy = d->first_policy = NULL;
	free(d->ids);
	d->ids = NULL;
}
