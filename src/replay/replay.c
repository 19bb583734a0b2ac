/* `weir replay`'s run: loads the policy and its plug-ins into a fresh
 * engine, reads the capture frame by frame with its timestamps as the
 * clock (flows and pends expire by capture time), and at the end ends
 * every pend and flow while the plug-ins are still loaded, prints the
 * summary and frees everything.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <weir/plugin.h>

#include <weir/flow.h>

#include "cli/cli.h"
#include "replay/replay.h"

static void policy_error(const struct weir_policy_error *err)
{
	char buf[1024];

	weir_policy_error_format(err, buf, sizeof(buf));
	fputs(buf, stderr);
}

static int load_plugins(struct replay *r)
{
	size_t n = weir_policy_plugin_count(r->policy);
	char err[512];
	char *dir = weir_cli_plugin_dir(r->o->policy, r->policy,
					r->o->plugin_dir);
	int rc = dir ? 0 : -ENOMEM;

	r->plugins = calloc(n + 1, sizeof(*r->plugins));
	if (!r->plugins)
		rc = -ENOMEM;
	for (size_t i = 0; i < n && !rc; i++) {
		const struct weir_policy_plugin *pl =
			weir_policy_plugin_at(r->policy, i);

		err[0] = '\0';
		rc = weir_plugin_load(r->engine, dir, pl->name, pl->params,
				      &r->plugins[i], err, sizeof(err));
		if (rc < 0 && err[0])
			fprintf(stderr, "%s:%u: %s\n", r->o->policy, pl->line,
				err);
		else if (rc < 0)
			fprintf(stderr, "%s:%u: plugin %s: %s\n", r->o->policy,
				pl->line, pl->name, strerror(-rc));
		else
			r->nplugins++;
	}
	free(dir);
	return rc;
}

/* The policy's filters with the ids the engine gave them (ids[i] for
 * filter i, from weir_policy_apply_ids()). Takes ids. */
static void map_filters(struct replay *r, uint64_t *ids)
{
	size_t n = weir_policy_filter_count(r->policy);

	for (size_t i = 0; i < n; i++)
		r->filters[i] = (struct replay_filter){
			.id = ids[i], .pf = weir_policy_filter_at(r->policy, i) };
	r->nfilters = n;
	free(ids);
}

/* Engine, pend handler, plug-ins, policy. 0 or -errno (reported). */
static int setup_engine(struct replay *r)
{
	struct weir_policy_error perr;
	uint64_t *ids;
	size_t n;
	int rc;

	/* A fixed flow hash seed: flow ids, and so what plug-ins such as
	 * count print, repeat from run to run. */
	r->engine = weir_engine_new_with(&(struct weir_flow_config){
		.hash_seed = 0x7765697272706c79ull });
	if (!r->engine || replay_pend_setup(r) < 0) {
		fprintf(stderr, "weir replay: out of memory\n");
		return -ENOMEM;
	}
	r->flows = weir_engine_flows(r->engine);
	if (replay_inject_setup(r) < 0) {
		fprintf(stderr, "weir replay: out of memory\n");
		return -ENOMEM;
	}
	rc = load_plugins(r);
	if (rc < 0)
		return rc;
	n = weir_policy_filter_count(r->policy);
	ids = calloc(n + 1, sizeof(*ids));
	r->filters = calloc(n + 1, sizeof(*r->filters));
	if (!ids || !r->filters) {
		free(ids);
		fprintf(stderr, "weir replay: out of memory\n");
		return -ENOMEM;
	}
	rc = weir_policy_apply_ids(r->policy, r->engine, ids, &perr);
	if (rc < 0) {
		free(ids);
		policy_error(&perr);
		return rc;
	}
	map_filters(r, ids);
	return 0;
}

static int open_outputs(struct replay *r)
{
	char err[512];

	if (r->o->out_path &&
	    replay_pcap_create(r->o->out_path, r->in, &r->out, err,
			       sizeof(err)) < 0) {
		fprintf(stderr, "weir replay: %s\n", err);
		return -EIO;
	}
	if (r->o->log_path && !strcmp(r->o->log_path, "-")) {
		r->log = stdout;
	} else if (r->o->log_path) {
		r->log = fopen(r->o->log_path, "w");
		r->log_own = true;
		if (!r->log) {
			fprintf(stderr, "weir replay: %s: %s\n",
				r->o->log_path, strerror(errno));
			return -errno;
		}
	}
	return 0;
}

/* Everything before the first packet; exit status 2 on failure. */
static int setup(struct replay *r)
{
	struct weir_policy_error perr;
	char err[512];

	if (weir_policy_load(r->o->policy, &r->policy, &perr) < 0) {
		policy_error(&perr);
		return -EINVAL;
	}
	if (replay_pcap_open(r->o->in_path, &r->in, err, sizeof(err)) < 0) {
		fprintf(stderr, "weir replay: %s\n", err);
		return -EINVAL;
	}
	if (setup_engine(r) < 0)
		return -EINVAL;
	return open_outputs(r);
}

/* Moves the replay clock to the frame's time (never back, never 0) and
 * ends the pends due by then, and once per second of capture time the
 * flows (lookups end the flows they meet on their own; this ends the
 * others, so that callouts see their contexts deleted in good time). */
static void advance(struct replay *r, uint64_t ts)
{
	if (ts <= r->now)
		return;
	r->now = ts;
	replay_pends_settle(r, false);
	if (r->now - r->flows_expired >= 1000000000u) {
		weir_flow_expire(r->flows, r->now, 0);
		r->flows_expired = r->now;
	}
}

static void frame(struct replay *r, const struct replay_frame *fr)
{
	struct replay_packet *p = calloc(1, sizeof(*p));

	if (!p) {
		r->err = -ENOMEM;
		return;
	}
	*p = (struct replay_packet){ .index = r->n.read++, .ts_ns = fr->ts_ns,
				     .wirelen = fr->wirelen,
				     .caplen = fr->caplen };
	if (!fr->is_ip || fr->ip_off > REPLAY_LINK_MAX) {
		p->skip_reason = fr->is_ip ? "link header too long" : "not IP";
		replay_finish(r, p, REPLAY_SKIP);
		return;
	}
	memcpy(p->link, fr->data, fr->ip_off);
	p->link_len = fr->ip_off;
	if (fr->caplen > fr->ip_off)
		replay_remember_link(r, fr->data + fr->ip_off, fr->data,
				     fr->ip_off);
	p->pkt = weir_pkt_from_bytes(fr->data + fr->ip_off,
				     fr->caplen - fr->ip_off);
	if (!p->pkt) {
		r->err = -ENOMEM;
		p->skip_reason = "out of memory";
		replay_finish(r, p, REPLAY_SKIP);
		return;
	}
	weir_pkt_parse(p->pkt);
	p->pkt->meta.timestamp_ns = r->now;
	if (!(p->pkt->pd.flags & WEIR_PD_L3)) {
		p->skip_reason = weir_perr_str(p->pkt->pd.err);
		replay_finish(r, p, REPLAY_SKIP);
		return;
	}
	replay_packet_run(r, p);
}

/* Reads every frame; 0, or -EIO for a damaged capture (reported). */
static int run(struct replay *r)
{
	struct replay_frame fr;
	char err[512];
	int rc = 0;

	r->now = 1;
	while (!r->err &&
	       (rc = replay_pcap_next(r->in, &fr, err, sizeof(err))) == 1) {
		advance(r, fr.ts_ns);
		frame(r, &fr);
	}
	if (!r->err && rc < 0) {
		fprintf(stderr, "weir replay: %s: %s\n", r->o->in_path, err);
		return rc;
	}
	return 0;
}

/* End of the capture: every pend ends by its timeout, then every flow,
 * so that callouts see their flow contexts deleted. */
static void finish_all(struct replay *r)
{
	replay_inject_drain(r);
	replay_pends_settle(r, true);
	while (r->held) {
		struct replay_packet *p = r->held;

		r->held = p->next_held;
		replay_finish(r, p, REPLAY_BLOCK);
	}
	r->held_tail = NULL;
	weir_flow_expire(r->flows, UINT64_MAX, 0);
}

/* Closes the outputs; -EIO when one could not be written whole. */
static int close_outputs(struct replay *r)
{
	char err[512];
	int rc = 0;

	if (replay_pcap_close_out(r->out, err, sizeof(err)) < 0) {
		fprintf(stderr, "weir replay: %s: %s\n", r->o->out_path, err);
		rc = -EIO;
	}
	r->out = NULL;
	if (r->log) {
		bool bad = fflush(r->log) != 0 || ferror(r->log);

		if (r->log_own && fclose(r->log) != 0)
			bad = true;
		if (bad) {
			fprintf(stderr, "weir replay: %s: write error\n",
				r->o->log_path);
			rc = -EIO;
		}
	}
	r->log = NULL;
	r->log_own = false;
	return rc;
}

static void teardown(struct replay *r)
{
	replay_pcap_close_out(r->out, NULL, 0);
	if (r->log_own && r->log)
		fclose(r->log);
	/* Before the plug-ins: their handles wait for what is queued. */
	if (r->injector)
		replay_inject_free(r);
	for (size_t i = r->nplugins; i-- > 0;)
		weir_plugin_unload(r->plugins[i]);
	free(r->plugins);
	weir_engine_free(r->engine);   /* cancels pends: queued, freed below */
	replay_done_free(r);
	while (r->held) {
		struct replay_packet *p = r->held;

		r->held = p->next_held;
		weir_pkt_free(p->pkt);
		free(p);
	}
	replay_flowmap_free(&r->fm);
	free(r->filters);
	weir_policy_free(r->policy);
	replay_pcap_close(r->in);
	pthread_mutex_destroy(&r->lock);
}

int replay_run(const struct replay_opts *o)
{
	struct replay r = { .o = o };
	int status = 0;

	pthread_mutex_init(&r.lock, NULL);
	if (setup(&r) < 0) {
		teardown(&r);
		return 2;
	}
	if (run(&r) < 0)
		status = 1;
	finish_all(&r);
	if (!o->quiet)
		replay_summary(&r);
	if (close_outputs(&r) < 0)
		status = 1;
	if (r.err) {
		fprintf(stderr, "weir replay: %s\n", strerror(-r.err));
		status = 1;
	}
	teardown(&r);
	return status;
}
