/* What `weir replay` tells: one JSON line per packet once its verdict is
 * known (--log), the permitted packets (-w), and the summary table of
 * counters and per-filter hits. Everything printed comes from the
 * capture and the policy, never from the clock or an address in memory,
 * so two runs print the same bytes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <weir/flow.h>
#include <weir/plugin.h>

#include "replay/replay.h"

static const char *const verdict_names[] = {
	[REPLAY_HELD] = "held", [REPLAY_PERMIT] = "permit",
	[REPLAY_BLOCK] = "block", [REPLAY_ABSORB] = "absorb",
	[REPLAY_SKIP] = "skip",
};

static const char *const dir_names[] = {
	[REPLAY_DIR_FORWARD] = "forward", [REPLAY_DIR_INBOUND] = "inbound",
	[REPLAY_DIR_OUTBOUND] = "outbound", [REPLAY_DIR_LOOPBACK] = "loopback",
};

const struct replay_filter *replay_filter_of(const struct replay *r,
					     uint64_t id)
{
	if (id && id <= r->nfilters && r->filters[id - 1].id == id)
		return &r->filters[id - 1];
	for (size_t i = 0; i < r->nfilters; i++)
		if (r->filters[i].id == id)
			return &r->filters[i];
	return NULL;
}

static void tcp_flags_str(uint8_t fl, char *buf)
{
	static const char letters[] = "FSRPAUEC";
	size_t n = 0;

	for (int i = 0; i < 8; i++)
		if (fl & (1u << i))
			buf[n++] = letters[i];
	buf[n] = '\0';
}

static void log_addrs(FILE *f, const struct weir_pdesc *pd)
{
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN], fl[9];

	inet_ntop(pd->family, pd->src, s, sizeof(s));
	inet_ntop(pd->family, pd->dst, d, sizeof(d));
	fprintf(f, ",\"src\":\"%s\",\"dst\":\"%s\",\"proto\":%u", s, d,
		pd->proto);
	if (!(pd->flags & WEIR_PD_L4))
		return;
	if (pd->proto == IPPROTO_TCP || pd->proto == IPPROTO_UDP ||
	    pd->proto == IPPROTO_UDPLITE)
		fprintf(f, ",\"sport\":%u,\"dport\":%u", pd->sport, pd->dport);
	if (pd->proto == IPPROTO_TCP) {
		tcp_flags_str(pd->tcp_flags, fl);
		fprintf(f, ",\"tcp_flags\":\"%s\"", fl);
	}
	if (pd->proto == IPPROTO_ICMP || pd->proto == IPPROTO_ICMPV6)
		fprintf(f, ",\"icmp_type\":%u,\"icmp_code\":%u", pd->icmp_type,
			pd->icmp_code);
}

static const char *pend_end_name(uint8_t how)
{
	switch (how) {
	case WEIR_PEND_COMPLETED: return "completed";
	case WEIR_PEND_TIMED_OUT: return "timed-out";
	case WEIR_PEND_CANCELLED: return "cancelled";
	default: return "?";
	}
}

static void log_entry(FILE *f, const struct replay *r,
		      const struct replay_entry *e)
{
	const struct replay_filter *flt = replay_filter_of(r, e->d.filter_id);

	fprintf(f, "{\"layer\":\"%s\",\"action\":\"%s\",\"filter\":%llu,"
		"\"name\":", weir_layer_name(e->layer),
		e->d.action == WEIR_ACTION_PERMIT ? "permit" : "block",
		(unsigned long long)e->d.filter_id);
	weir_json_put(f, !e->d.filter_id ? "default"
		 : flt ? flt->pf->spec.name : "?");
	if (e->d.remembered)
		fputs(",\"remembered\":true", f);
	if (e->d.reauth)
		fputs(",\"reauth\":true", f);
	if (e->d.veto)
		fputs(",\"veto\":true", f);
	if (e->d.absorb)
		fputs(",\"absorbed\":true", f);
	if (e->d.pended)
		fprintf(f, ",\"pended\":true,\"pend\":\"%s\"",
			pend_end_name(e->pend_end));
	fputc('}', f);
}

static void log_packet(struct replay *r, const struct replay_packet *p,
		       enum replay_verdict v)
{
	FILE *f = r->log;
	const struct weir_pdesc *pd = p->pkt ? &p->pkt->pd : NULL;

	fprintf(f, "{\"i\":%llu,\"time\":%llu.%09llu,\"len\":%u",
		(unsigned long long)(p->injected ? p->origin : p->index),
		(unsigned long long)(p->ts_ns / 1000000000u),
		(unsigned long long)(p->ts_ns % 1000000000u), p->wirelen);
	if (p->injected)
		fprintf(f, ",\"injected\":%llu",
			(unsigned long long)(p->index - REPLAY_INJECTED_BASE));
	if (pd && (pd->flags & WEIR_PD_L3)) {
		fprintf(f, ",\"dir\":\"%s\"", dir_names[p->dir]);
		log_addrs(f, pd);
		if (pd->err)
			fprintf(f, ",\"malformed\":\"%s\"",
				weir_perr_str(pd->err));
	}
	if (p->flow_no)
		fprintf(f, ",\"flow\":%llu%s", (unsigned long long)p->flow_no,
			p->reply ? ",\"reply\":true" : "");
	if (v != REPLAY_SKIP) {
		fputs(",\"layers\":[", f);
		for (unsigned i = 0; i < p->nentries; i++) {
			if (i)
				fputc(',', f);
			log_entry(f, r, &p->entries[i]);
		}
		fputc(']', f);
	}
	if (p->pended)
		fputs(",\"pended\":true", f);
	if (p->replaced)
		fputs(",\"replaced\":true", f);
	fprintf(f, ",\"verdict\":\"%s\"", verdict_names[v]);
	if (p->skip_reason)
		fprintf(f, ",\"reason\":\"%s\"", p->skip_reason);
	fputs("}\n", f);
}

static void write_packet(struct replay *r, const struct replay_packet *p)
{
	int rc = replay_pcap_write(r->out, p->ts_ns, p->link, p->link_len,
				   p->pkt->data, p->pkt->len,
				   p->replaced ? 0 : p->wirelen);

	if (rc < 0 && !r->err)
		r->err = rc;
	else if (rc == 0)
		r->n.written++;
}

void replay_finish(struct replay *r, struct replay_packet *p,
		   enum replay_verdict v)
{
	if (r->log)
		log_packet(r, p, v);
	if (v == REPLAY_PERMIT && r->out)
		write_packet(r, p);
	r->n.permit += v == REPLAY_PERMIT;
	r->n.block += v == REPLAY_BLOCK;
	r->n.absorb += v == REPLAY_ABSORB;
	r->n.skip += v == REPLAY_SKIP;
	r->n.pended += p->pended;
	weir_pkt_free(p->pkt);
	free(p);
}

/* ---- summary ------------------------------------------------------------ */

static int by_hits(const void *a, const void *b)
{
	const struct replay_filter *x = a, *y = b;

	if (x->hits != y->hits)
		return x->hits > y->hits ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static void action_str(const struct weir_filter_spec *s, char *buf,
		       size_t len)
{
	if (s->action == WEIR_ACTION_PERMIT || s->action == WEIR_ACTION_BLOCK)
		snprintf(buf, len, "%s", s->action == WEIR_ACTION_PERMIT
			 ? "permit" : "block");
	else
		snprintf(buf, len, "callout %s", s->callout);
}

static void filter_table(struct replay *r)
{
	struct replay_filter *t = calloc(r->nfilters + 1, sizeof(*t));
	size_t n = 0;
	int wname = 4, wact = 6;
	char act[WEIR_NAME_MAX + 16];

	if (!t)
		return;
	for (size_t i = 0; i < r->nfilters; i++) {
		struct replay_filter *f = &r->filters[i];

		if (weir_filter_hits(r->engine, f->id, &f->hits) < 0 ||
		    !f->hits)
			continue;
		t[n++] = *f;
		action_str(&f->pf->spec, act, sizeof(act));
		wname = wname > (int)strlen(f->pf->spec.name)
			? wname : (int)strlen(f->pf->spec.name);
		wact = wact > (int)strlen(act) ? wact : (int)strlen(act);
	}
	qsort(t, n, sizeof(*t), by_hits);
	if (n)
		printf("\n%6s  %-25s %-*s  %-*s  %10s\n", "id", "layer", wname,
		       "name", wact, "action", "hits");
	else
		printf("\nno filter matched\n");
	for (size_t i = 0; i < n; i++) {
		action_str(&t[i].pf->spec, act, sizeof(act));
		printf("%6llu  %-25s %-*s  %-*s  %10llu\n",
		       (unsigned long long)t[i].id,
		       weir_layer_name(t[i].pf->spec.layer), wname,
		       t[i].pf->spec.name, wact, act,
		       (unsigned long long)t[i].hits);
	}
	free(t);
}

void replay_summary(struct replay *r)
{
	struct weir_flow_stats fs = { 0 };

	weir_flow_stats(r->flows, &fs);
	printf("%s: %llu packets: %llu permitted, %llu blocked, "
	       "%llu absorbed, %llu skipped; %llu pended; %llu flows\n",
	       r->o->in_path, (unsigned long long)r->n.read,
	       (unsigned long long)r->n.permit,
	       (unsigned long long)r->n.block,
	       (unsigned long long)r->n.absorb,
	       (unsigned long long)r->n.skip,
	       (unsigned long long)r->n.pended,
	       (unsigned long long)fs.created);
	if (r->n.injected)
		printf("%s: %llu packets injected by callouts\n",
		       r->o->in_path, (unsigned long long)r->n.injected);
	if (r->out)
		printf("%s: %llu packets written\n", r->o->out_path,
		       (unsigned long long)r->n.written);
	filter_table(r);
}
