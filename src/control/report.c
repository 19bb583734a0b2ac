/* `weir stats`: the daemon's counters. Per queue set (compartment): what
 * weir received and how each packet ended; per kernel queue: the
 * kernel's own counters (packets waiting, dropped because the queue was
 * full or the socket overran); per layer and per filter: hits. The
 * balance line checks the promise that every packet gets exactly one
 * verdict: received = accepted + dropped + held.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <weir/engine.h>
#include <weir/flow.h>

#include "control/daemon.h"

#define MAX_PROC_QUEUES 64

static uint64_t uptime_s(const struct daemon *d)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec -
		d->started_ns) / 1000000000u;
}

static void text_live(FILE *f, const struct compartment *c)
{
	struct weir__live_stats s;
	struct weir__nfq_proc q[MAX_PROC_QUEUES];
	int nq;

	weir__live_stats(c->live, &s);
	fprintf(f, "compartment %u (%s)\n", c->id,
		c->netns ? c->netns : "weir's own namespace");
	fprintf(f, "  packets   received %" PRIu64 "  accepted %" PRIu64
		   "  dropped %" PRIu64 "  held %" PRIu64 "  balance %s\n",
		s.received, s.accepted, s.dropped, s.held,
		s.received == s.accepted + s.dropped + s.held ? "ok"
							      : "MISMATCH");
	fprintf(f, "  verdicts  by-default %" PRIu64 "  replaced %" PRIu64
		   "  bypassed %" PRIu64 "  own %" PRIu64 "  batches %" PRIu64
		   "  busy-reads %" PRIu64 "  send-errors %" PRIu64
		   "  kernel-errors %" PRIu64 "%s%s%s\n",
		s.by_default, s.replaced, s.bypassed, s.own, s.verdict_batches,
		s.busy_reads, s.send_errors, s.kernel_errors,
		s.last_kernel_error ? " (last: " : "",
		s.last_kernel_error ? strerror(s.last_kernel_error) : "",
		s.last_kernel_error ? ")" : "");
	fprintf(f, "  pends     begun %" PRIu64 "  timed-out %" PRIu64
		   "  unparsed %" PRIu64 "  cut-short %" PRIu64
		   "  bad-messages %" PRIu64 "\n",
		s.pended, s.pend_timeouts, s.unparsed, s.cut_short, s.bad_msgs);
	nq = weir__nfq_proc_read(c->netns, q, MAX_PROC_QUEUES);
	for (int i = 0; i < nq && i < MAX_PROC_QUEUES; i++)
		fprintf(f, "  kernel queue %u: waiting %u  queue-dropped %u  "
			   "user-dropped %u  last-id %u  copy %u\n", q[i].queue,
			q[i].queue_total, q[i].queue_dropped,
			q[i].user_dropped, q[i].id_sequence, q[i].copy_range);
}

/* Hits per layer: the sum over its filters. */
static void layer_hits(const struct daemon *d, uint64_t hits[])
{
	for (size_t i = 0; i < d->nids; i++) {
		struct weir_filter_info fi;

		if (weir_filter_get(d->engine, d->ids[i], &fi) == 0)
			hits[fi.layer] += fi.hits;
	}
}

static const char *action_name(const struct weir_filter_info *fi)
{
	switch (fi->action) {
	case WEIR_ACTION_PERMIT: return "permit";
	case WEIR_ACTION_BLOCK: return "block";
	default: return fi->callout;
	}
}

static void text_filters(FILE *f, const struct daemon *d)
{
	uint64_t hits[WEIR_LAYER__COUNT] = { 0 };

	layer_hits(d, hits);
	fputs("layers\n", f);
	for (int l = 1; l < WEIR_LAYER__COUNT; l++)
		if (hits[l])
			fprintf(f, "  %-30s hits %" PRIu64 "\n",
				weir_layer_name(l), hits[l]);
	fputs("filters\n", f);
	for (size_t i = 0; i < d->nids; i++) {
		struct weir_filter_info fi;

		if (weir_filter_get(d->engine, d->ids[i], &fi) < 0)
			continue;
		fprintf(f, "  %6" PRIu64 "  %-24s %-26s %-10s hits %" PRIu64
			   "\n", fi.id, fi.name, weir_layer_name(fi.layer),
			action_name(&fi), fi.hits);
	}
}

/* The engine's flow table, shared by the compartments. */
static void text_flows(struct daemon *d, FILE *f)
{
	struct weir_flow_stats fs = { 0 };

	weir_flow_stats(weir_engine_flows(d->engine), &fs);
	fprintf(f, "  flows     active %" PRIu64 "  created %" PRIu64
		   "  expired %" PRIu64 "  evicted %" PRIu64 "  refused %"
		   PRIu64 "  contexts %" PRIu64 "\n", fs.active, fs.created,
		fs.expired, fs.evicted, fs.refused, fs.contexts);
}

/* Whether the kernel sends conntrack attributes with packets now. */
static const char *conntrack_word(const struct daemon *d)
{
	int rc = d->ncomp && d->comp[0].live ?
		 weir__live_conntrack(d->comp[0].live) : 0;

	return rc < 0 ? "unavailable" : rc ? "on" : "off";
}

static void text_report(struct daemon *d, FILE *f)
{
	fprintf(f, "weir pid %d, up %" PRIu64 " s, policy %s\n", (int)getpid(),
		uptime_s(d), d->o.policy_path);
	fprintf(f, "  filters %zu  generation %u  reloads %" PRIu64
		   " (failed %" PRIu64 ")  fail-%s  forward-flows %s"
		   "  conntrack %s\n",
		d->nids, d->generation, d->reloads, d->reload_failures,
		d->o.fail_closed ? "closed" : "open",
		d->needs.forward_flows ? "on" : "off",
		conntrack_word(d));
	text_flows(d, f);
	if (d->last_error[0])
		fprintf(f, "  last error: %s\n", d->last_error);
	for (unsigned i = 0; i < d->ncomp; i++)
		text_live(f, &d->comp[i]);
	if (d->proxy) {
		struct weir__proxy_stats ps;
		char why[128];

		weir__proxy_stats(d->proxy, &ps);
		fprintf(f, "proxy     sessions %" PRIu64 " (active %" PRIu64
			   ", refused %" PRIu64 ", connect-failed %" PRIu64
			   ", aborted %" PRIu64 ", idle-closed %" PRIu64
			   ", denied %" PRIu64 ")  spliced %" PRIu64
			   "  chained %" PRIu64 "  bytes up %" PRIu64
			   " down %" PRIu64 "\n", ps.accepted, ps.active,
			ps.refused, ps.connect_failed, ps.aborted,
			ps.idle_closed, ps.denied, ps.spliced, ps.chained, ps.bytes_up,
			ps.bytes_down);
		weir__proxy_last_abort(d->proxy, why, sizeof(why));
		if (why[0])
			fprintf(f, "          last abort: %s\n", why);
	}
	if (d->inject) {
		struct weir_inject_live_stats st;

		weir_inject_live_stats(d->inject, &st);
		fprintf(f, "injected  lists %" PRIu64 "  packets %" PRIu64
			   "  failed %" PRIu64 "  segmented %" PRIu64 "\n",
			st.reqs, st.packets, st.errors, st.segmented);
	}
	text_filters(f, d);
}

/* ---- JSON ---------------------------------------------------------------- */

static void json_live(FILE *f, const struct compartment *c)
{
	struct weir__live_stats s;
	struct weir__nfq_proc q[MAX_PROC_QUEUES];
	int nq = weir__nfq_proc_read(c->netns, q, MAX_PROC_QUEUES);

	weir__live_stats(c->live, &s);
	fprintf(f, "{\"id\":%u,\"received\":%" PRIu64 ",\"accepted\":%" PRIu64
		   ",\"dropped\":%" PRIu64 ",\"held\":%" PRIu64 ",\"pended\":%"
		   PRIu64 ",\"pend_timeouts\":%" PRIu64 ",\"replaced\":%" PRIu64
		   ",\"bypassed\":%" PRIu64 ",\"own\":%" PRIu64
		   ",\"by_default\":%" PRIu64
		   ",\"unparsed\":%" PRIu64 ",\"cut_short\":%" PRIu64
		   ",\"send_errors\":%" PRIu64 ",\"kernel_errors\":%" PRIu64
		   ",\"last_kernel_errno\":%d"
		   ",\"batches\":%" PRIu64 ",\"busy_reads\":%" PRIu64
		   ",\"queues\":[", c->id, s.received,
		s.accepted, s.dropped, s.held, s.pended, s.pend_timeouts,
		s.replaced, s.bypassed, s.own, s.by_default, s.unparsed,
		s.cut_short, s.send_errors, s.kernel_errors,
		s.last_kernel_error, s.verdict_batches, s.busy_reads);
	for (int i = 0; i < nq && i < MAX_PROC_QUEUES; i++)
		fprintf(f, "%s{\"queue\":%u,\"waiting\":%u,\"queue_dropped\":%u,"
			   "\"user_dropped\":%u,\"id_sequence\":%u,"
			   "\"copy_range\":%u}",
			i ? "," : "", q[i].queue, q[i].queue_total,
			q[i].queue_dropped, q[i].user_dropped,
			q[i].id_sequence, q[i].copy_range);
	fputs("]}", f);
}

static void json_flows(struct daemon *d, FILE *f)
{
	struct weir_flow_stats fs = { 0 };

	weir_flow_stats(weir_engine_flows(d->engine), &fs);
	fprintf(f, ",\"flows\":{\"active\":%" PRIu64 ",\"created\":%" PRIu64
		   ",\"expired\":%" PRIu64 ",\"evicted\":%" PRIu64
		   ",\"refused\":%" PRIu64 ",\"contexts\":%" PRIu64 "}",
		fs.active, fs.created, fs.expired, fs.evicted, fs.refused,
		fs.contexts);
}

static void json_report(struct daemon *d, FILE *f)
{
	fprintf(f, "{\"pid\":%d,\"uptime_s\":%" PRIu64 ",\"generation\":%u,"
		   "\"reloads\":%" PRIu64 ",\"reload_failures\":%" PRIu64
		   ",\"forward_flows\":%s,\"conntrack\":\"%s\","
		   "\"compartments\":[", (int)getpid(),
		uptime_s(d), d->generation, d->reloads, d->reload_failures,
		d->needs.forward_flows ? "true" : "false",
		conntrack_word(d));
	for (unsigned i = 0; i < d->ncomp; i++) {
		fputs(i ? "," : "", f);
		json_live(f, &d->comp[i]);
	}
	fputs("]", f);
	json_flows(d, f);
	if (d->inject) {
		struct weir_inject_live_stats st;

		weir_inject_live_stats(d->inject, &st);
		fprintf(f, ",\"inject\":{\"lists\":%" PRIu64
			   ",\"packets\":%" PRIu64 ",\"failed\":%" PRIu64
			   ",\"segmented\":%" PRIu64 "}",
			st.reqs, st.packets, st.errors, st.segmented);
	}
	if (d->proxy) {
		struct weir__proxy_stats ps;

		weir__proxy_stats(d->proxy, &ps);
		fprintf(f, ",\"proxy\":{\"sessions\":%" PRIu64
			   ",\"active\":%" PRIu64 ",\"refused\":%" PRIu64
			   ",\"connect_failed\":%" PRIu64 ",\"aborted\":%"
			   PRIu64 ",\"idle_closed\":%" PRIu64
			   ",\"denied\":%" PRIu64 ",\"spliced\":%" PRIu64 ",\"chained\":%"
			   PRIu64 ",\"bytes_up\":%" PRIu64
			   ",\"bytes_down\":%" PRIu64 "}",
			ps.accepted, ps.active, ps.refused, ps.connect_failed,
			ps.aborted, ps.idle_closed, ps.denied, ps.spliced,
			ps.chained, ps.bytes_up, ps.bytes_down);
	}
	fputs(",\"filters\":[", f);
	for (size_t i = 0, n = 0; i < d->nids; i++) {
		struct weir_filter_info fi;

		if (weir_filter_get(d->engine, d->ids[i], &fi) < 0)
			continue;
		fprintf(f, "%s{\"id\":%" PRIu64 ",\"name\":", n++ ? "," : "",
			fi.id);
		weir_json_put(f, fi.name);
		fprintf(f, ",\"layer\":\"%s\",\"hits\":%" PRIu64 "}",
			weir_layer_name(fi.layer), fi.hits);
	}
	fputs("]}\n", f);
}

void daemon_report(struct daemon *d, FILE *f, bool json)
{
	if (json)
		json_report(d, f);
	else
		text_report(d, f);
}
