/* One packet's way through the engine in `weir replay`: its direction
 * from the local address set, its flow, the layers it crosses in WFP's
 * order, classification at each until one blocks, and pended packets
 * held until their pend completes or times out.
 *
 * Outbound: ale-connect, datagram-data, outbound-transport,
 * outbound-ippacket. Inbound: inbound-ippacket, inbound-transport,
 * ale-accept, datagram-data, then ale-flow-established on a flow's first
 * reply. Forward: ipforward. A packet between two local addresses goes
 * out and then in. Replies meet the ALE layer of the side they reach
 * (an answer to an outbound connection meets ale-connect's remembered
 * decision) only when that layer decided the flow's first packet.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <weir/flow.h>

#include "replay/replay.h"

/* Linux's enum ip_conntrack_info, which weir_fields_from_pkt() turns
 * into ct.state bits. */
enum { CT_ESTABLISHED = 0, CT_RELATED = 1, CT_NEW = 2,
       CT_ESTABLISHED_REPLY = 3, CT_RELATED_REPLY = 4 };

/* What the flow lookup told about a packet. */
struct flow_view {
	uint64_t id;                 /* 0: no flow */
	unsigned info;               /* WEIR_FLOWI_* */
	bool related;                /* an ICMP error on the flow it quotes */
};

static uint8_t dir_of(const struct replay *r, const struct weir_pdesc *pd)
{
	bool src = replay_in_set(r->o->local, r->o->nlocal, pd->family, pd->src);
	bool dst = replay_in_set(r->o->local, r->o->nlocal, pd->family, pd->dst);

	if (src && dst)
		return REPLAY_DIR_LOOPBACK;
	return src ? REPLAY_DIR_OUTBOUND : dst ? REPLAY_DIR_INBOUND
					       : REPLAY_DIR_FORWARD;
}

/* Looks the packet's flow up (creating it), follows TCP, and starts a
 * new flow when a SYN reuses a closed connection's ports. A packet
 * without a key (a later fragment) has no flow; an ICMP error joins the
 * flow it quotes, if any, without refreshing it. */
static int flow_of(struct replay *r, const struct weir_pdesc *pd,
		   struct flow_view *fv)
{
	struct weir_flow_key k;
	unsigned kflags = 0, flags = WEIR_FLOW_CREATE;
	int rc;

	*fv = (struct flow_view){ 0 };
	if (weir_flow_key_from_pdesc(&k, pd, 0, &kflags) < 0)
		return 0;
	if (kflags & WEIR_FLOWK_RELATED)
		flags = WEIR_FLOW_NOTOUCH;
	fv->related = kflags & WEIR_FLOWK_RELATED;
	for (int tries = 0; tries < 2; tries++) {
		rc = weir_flow_lookup(r->flows, &k, r->now, flags, &fv->id,
				      &fv->info);
		if (rc == -ENOENT && fv->related)
			return fv->id = 0, 0;
		if (rc < 0)
			return rc;
		if (pd->proto != IPPROTO_TCP || !(pd->flags & WEIR_PD_L4) ||
		    fv->related)
			return 0;
		rc = weir_flow_tcp_update(r->flows, fv->id,
					  fv->info & WEIR_FLOWI_REPLY,
					  pd->tcp_flags, r->now);
		if (rc != WEIR_FLOW_TCP_REUSED)
			return rc < 0 ? rc : 0;
		weir_flow_delete(r->flows, fv->id);
	}
	return 0;
}

/* The conntrack state Linux would report, from the flow. */
static void set_ct(struct replay *r, struct weir_pkt *pkt,
		   const struct flow_view *fv)
{
	struct weir_flow_info info;
	bool reply = fv->info & WEIR_FLOWI_REPLY;
	uint32_t ct;

	if (!fv->id)
		return;
	if (fv->related)
		ct = reply ? CT_RELATED_REPLY : CT_RELATED;
	else if (reply)
		ct = CT_ESTABLISHED_REPLY;
	else if (weir_flow_info_get(r->flows, fv->id, &info) == 0 &&
		 info.seen_reply)
		ct = CT_ESTABLISHED;
	else
		ct = CT_NEW;
	pkt->meta.ct_state = ct;
	pkt->meta.flags |= WEIR_META_CT;
}

static void add_step(struct replay_packet *p, int layer_v4, int dir)
{
	int v6 = p->pkt->pd.family == AF_INET6;

	p->steps[p->nsteps++] = (struct replay_step){
		.layer = (uint8_t)(layer_v4 + v6), .dir = (uint8_t)dir };
}

/* The ALE layer of this side of the flow, when it applies: always for
 * the flow's own direction, for replies only when it decided already. */
static void add_ale(struct replay *r, struct replay_packet *p,
		    const struct flow_view *fv, bool outbound)
{
	bool reply = fv->info & WEIR_FLOWI_REPLY;
	int layer = outbound != reply ? WEIR_LAYER_ALE_CONNECT_V4
				      : WEIR_LAYER_ALE_ACCEPT_V4;
	int v6 = p->pkt->pd.family == AF_INET6;

	if (!fv->id)
		return;
	if ((reply || fv->related) &&
	    weir_flow_decision_get(r->flows, fv->id, layer + v6, NULL, NULL,
				   NULL) < 0)
		return;
	add_step(p, layer, outbound ? WEIR_DIR_OUTBOUND : WEIR_DIR_INBOUND);
}

static bool is_datagram(const struct weir_pdesc *pd)
{
	return (pd->flags & WEIR_PD_L4) &&
	       (pd->proto == IPPROTO_UDP || pd->proto == IPPROTO_UDPLITE ||
		pd->proto == IPPROTO_ICMP || pd->proto == IPPROTO_ICMPV6);
}

static void add_outbound(struct replay *r, struct replay_packet *p,
			 const struct flow_view *fv)
{
	const struct weir_pdesc *pd = &p->pkt->pd;

	add_ale(r, p, fv, true);
	if (fv->id && is_datagram(pd))
		add_step(p, WEIR_LAYER_DATAGRAM_DATA_V4, WEIR_DIR_OUTBOUND);
	if (pd->flags & WEIR_PD_L4)
		add_step(p, WEIR_LAYER_OUTBOUND_TRANSPORT_V4, WEIR_DIR_OUTBOUND);
	add_step(p, WEIR_LAYER_OUTBOUND_IPPACKET_V4, WEIR_DIR_OUTBOUND);
}

static void add_inbound(struct replay *r, struct replay_packet *p,
			const struct flow_view *fv)
{
	const struct weir_pdesc *pd = &p->pkt->pd;

	add_step(p, WEIR_LAYER_INBOUND_IPPACKET_V4, WEIR_DIR_INBOUND);
	if (pd->flags & WEIR_PD_L4)
		add_step(p, WEIR_LAYER_INBOUND_TRANSPORT_V4, WEIR_DIR_INBOUND);
	add_ale(r, p, fv, false);
	if (fv->id && is_datagram(pd))
		add_step(p, WEIR_LAYER_DATAGRAM_DATA_V4, WEIR_DIR_INBOUND);
}

static void build_steps(struct replay *r, struct replay_packet *p,
			const struct flow_view *fv)
{
	if (p->dir == REPLAY_DIR_FORWARD) {
		add_step(p, WEIR_LAYER_IPFORWARD_V4, WEIR_DIR_FORWARD);
		return;
	}
	if (p->dir != REPLAY_DIR_INBOUND)
		add_outbound(r, p, fv);
	if (p->dir != REPLAY_DIR_OUTBOUND)
		add_inbound(r, p, fv);
	if (fv->id && !fv->related && (fv->info & WEIR_FLOWI_FIRST_REPLY))
		add_step(p, WEIR_LAYER_ALE_FLOW_ESTABLISHED_V4,
			 p->dir == REPLAY_DIR_OUTBOUND ? WEIR_DIR_OUTBOUND
						       : WEIR_DIR_INBOUND);
}

/* Interface names and indexes from the -i map: arriving by the source's
 * interface, leaving by the destination's. */
static void set_ifaces(const struct replay *r, struct weir_pkt *pkt,
		       struct weir_fields *f, int dir)
{
	const struct replay_iface *in = NULL, *out = NULL;
	const struct weir_pdesc *pd = &pkt->pd;

	if (dir != WEIR_DIR_OUTBOUND)
		in = replay_iface_of(r->o->ifaces, r->o->niface, pd->family,
				     pd->src);
	if (dir != WEIR_DIR_INBOUND)
		out = replay_iface_of(r->o->ifaces, r->o->niface, pd->family,
				      pd->dst);
	if (in) {
		memcpy(f->if_in_name, in->name, sizeof(f->if_in_name));
		f->num[WEIR_FIELD_IF_IN] = in->index;
		f->present |= 1ull << WEIR_FIELD_IF_IN_NAME |
			      1ull << WEIR_FIELD_IF_IN;
	}
	if (out) {
		memcpy(f->if_out_name, out->name, sizeof(f->if_out_name));
		f->num[WEIR_FIELD_IF_OUT] = out->index;
		f->present |= 1ull << WEIR_FIELD_IF_OUT_NAME |
			      1ull << WEIR_FIELD_IF_OUT;
	}
}

/* Classifies p from its next step on until a layer blocks, absorbs or
 * pends, or every layer permitted. */
static enum replay_verdict run_steps(struct replay *r, struct replay_packet *p)
{
	while (p->next < p->nsteps) {
		const struct replay_step *s = &p->steps[p->next++];
		struct replay_entry *e = &p->entries[p->nentries++];
		struct weir_fields f;
		struct weir_classify_in in = {
			.layer = s->layer, .fields = &f, .pkt = p->pkt,
			.flow_id = p->flow_id, .now_ns = r->now,
			.cookie = p->index };

		*e = (struct replay_entry){ .layer = s->layer };
		p->pkt->meta.direction = s->dir;
		/* Only a callout's replacement can lack an IP header. */
		if (weir_fields_from_pkt(&f, p->pkt, s->layer, 0) < 0) {
			p->nentries--;
			return REPLAY_BLOCK;
		}
		set_ifaces(r, p->pkt, &f, s->dir);
		if (weir_classify(r->engine, &in, &e->d) < 0) {
			p->nentries--;
			r->err = r->err ? r->err : -EINVAL;
			return REPLAY_BLOCK;
		}
		if (e->d.pended)
			return p->pended = true, REPLAY_HELD;
		if (e->d.absorb)
			return REPLAY_ABSORB;
		if (e->d.action != WEIR_ACTION_PERMIT)
			return REPLAY_BLOCK;
	}
	return REPLAY_PERMIT;
}

static void drain(struct replay *r);

static void hold(struct replay *r, struct replay_packet *p)
{
	p->next_held = NULL;
	if (r->held_tail)
		r->held_tail->next_held = p;
	else
		r->held = p;
	r->held_tail = p;
}

void replay_packet_run(struct replay *r, struct replay_packet *p)
{
	struct weir_pdesc *pd = &p->pkt->pd;
	struct flow_view fv;
	enum replay_verdict v;
	int rc;

	p->dir = dir_of(r, pd);
	if (p->dir == REPLAY_DIR_LOOPBACK)
		p->pkt->meta.flags |= WEIR_META_LOOPBACK;
	rc = flow_of(r, pd, &fv);
	if (rc < 0 && !r->err)
		r->err = rc; /* out of memory: classified without a flow */
	if (rc < 0)
		fv = (struct flow_view){ 0 };
	p->flow_id = fv.id;
	p->reply = fv.info & WEIR_FLOWI_REPLY;
	if (fv.id)
		p->flow_no = replay_flow_no(&r->fm, r->flows, fv.id,
					    fv.info & WEIR_FLOWI_NEW);
	set_ct(r, p->pkt, &fv);
	build_steps(r, p, &fv);
	v = run_steps(r, p);
	if (v == REPLAY_HELD)
		hold(r, p);
	else
		replay_finish(r, p, v);
	drain(r); /* pends its callouts completed meanwhile */
}

/* ---- pends ------------------------------------------------------------ */

/* The engine's pend handler: runs on whichever thread ended the pend
 * (possibly inside weir_classify), so it only queues. */
static void on_pend_end(void *arg, uint64_t cookie, uint64_t pend_id,
			enum weir_pend_end how, uint8_t action,
			struct weir_pkt *replacement)
{
	struct replay *r = arg;
	struct replay_done *d = calloc(1, sizeof(*d));

	(void)pend_id;
	pthread_mutex_lock(&r->lock);
	if (!d) {
		r->err = r->err ? r->err : -ENOMEM;
		pthread_mutex_unlock(&r->lock);
		weir_pkt_free(replacement);
		return;
	}
	*d = (struct replay_done){ .cookie = cookie, .how = (uint8_t)how,
				   .action = action,
				   .replacement = replacement };
	if (r->done_tail)
		r->done_tail->next = d;
	else
		r->done = d;
	r->done_tail = d;
	pthread_mutex_unlock(&r->lock);
}

int replay_pend_setup(struct replay *r)
{
	uint64_t t = r->o->pend_timeout_ns ? r->o->pend_timeout_ns
					   : 5000000000ull;

	return weir_engine_set_pend(r->engine, on_pend_end, r, 4096, t);
}

/* Takes the held packet with that index out of the list. */
static struct replay_packet *unhold(struct replay *r, uint64_t index)
{
	struct replay_packet **pp = &r->held, *prev = NULL;

	for (; *pp; prev = *pp, pp = &(*pp)->next_held) {
		struct replay_packet *p = *pp;

		if (p->index != index)
			continue;
		*pp = p->next_held;
		if (r->held_tail == p)
			r->held_tail = prev;
		return p;
	}
	return NULL;
}

/* The callout's replacement takes the packet's place, with the capture's
 * metadata. */
static void replace(struct replay_packet *p, struct weir_pkt *repl)
{
	repl->meta = p->pkt->meta;
	weir_pkt_free(p->pkt);
	p->pkt = repl;
	p->replaced = true;
	weir_pkt_parse(repl);
}

/* Applies one pend's end: a permit continues with the next layer. */
static void resume(struct replay *r, struct replay_done *d)
{
	struct replay_packet *p = unhold(r, d->cookie);
	struct replay_entry *e;
	enum replay_verdict v;

	if (!p) {
		weir_pkt_free(d->replacement);
		return;
	}
	e = &p->entries[p->nentries - 1];
	e->d.action = d->action;
	e->pend_end = d->how;
	if (d->replacement)
		replace(p, d->replacement);
	v = d->action == WEIR_ACTION_PERMIT ? run_steps(r, p) : REPLAY_BLOCK;
	if (v == REPLAY_HELD)
		hold(r, p);
	else
		replay_finish(r, p, v);
}

/* Runs the queued ends, including those that resuming queues. */
static void drain(struct replay *r)
{
	struct replay_done *d;

	for (;;) {
		pthread_mutex_lock(&r->lock);
		d = r->done;
		if (d) {
			r->done = d->next;
			if (!r->done)
				r->done_tail = NULL;
		}
		pthread_mutex_unlock(&r->lock);
		if (!d)
			return;
		resume(r, d);
		free(d);
	}
}

void replay_pends_settle(struct replay *r, bool all)
{
	drain(r);
	weir_pend_expire(r->engine, r->now);
	drain(r);
	/* A resumed packet may pend again: keep ending them. Every round
	 * moves each held packet at least one layer on. */
	for (int round = 0; all && r->held && round <= REPLAY_MAX_STEPS;
	     round++) {
		weir_pend_expire(r->engine, UINT64_MAX);
		drain(r);
	}
}

void replay_done_free(struct replay *r)
{
	while (r->done) {
		struct replay_done *d = r->done;

		r->done = d->next;
		weir_pkt_free(d->replacement);
		free(d);
	}
	r->done_tail = NULL;
}
