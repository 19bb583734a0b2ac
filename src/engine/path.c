/* A packet's path through the layers (see path.h). */
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <weir/engine.h>

#include "engine/path.h"

int weir__path_flow(struct weir_flow_table *ft, const struct weir_pdesc *pd,
		    uint64_t now, struct weir__flow_view *fv)
{
	struct weir_flow_key k;
	unsigned kflags = 0, flags = WEIR_FLOW_CREATE;
	int rc;

	*fv = (struct weir__flow_view){ 0 };
	if (weir_flow_key_from_pdesc(&k, pd, 0, &kflags) < 0)
		return 0;
	if (kflags & WEIR_FLOWK_RELATED)
		flags = WEIR_FLOW_NOTOUCH;
	fv->related = kflags & WEIR_FLOWK_RELATED;
	for (int tries = 0; tries < 2; tries++) {
		rc = weir_flow_lookup(ft, &k, now, flags, &fv->id, &fv->info);
		if (rc == -ENOENT && fv->related)
			return fv->id = 0, 0;
		if (rc < 0)
			return *fv = (struct weir__flow_view){ 0 }, rc;
		if (pd->proto != IPPROTO_TCP || !(pd->flags & WEIR_PD_L4) ||
		    fv->related)
			return 0;
		rc = weir_flow_tcp_update(ft, fv->id,
					  fv->info & WEIR_FLOWI_REPLY,
					  pd->tcp_flags, now);
		if (rc != WEIR_FLOW_TCP_REUSED)
			return rc < 0 ? rc : 0;
		weir_flow_delete(ft, fv->id);
	}
	return 0;
}

/* Linux's enum ip_conntrack_info, which weir_fields_from_pkt() turns
 * into ct.state bits. */
enum { CT_ESTABLISHED = 0, CT_RELATED = 1, CT_NEW = 2,
       CT_ESTABLISHED_REPLY = 3, CT_RELATED_REPLY = 4 };

void weir__path_ct(struct weir_flow_table *ft,
		   const struct weir__flow_view *fv, struct weir_pkt *pkt)
{
	bool reply = fv->info & WEIR_FLOWI_REPLY;
	uint32_t ct;

	(void)ft;
	if (!fv->id)
		return;
	if (fv->related)
		ct = reply ? CT_RELATED_REPLY : CT_RELATED;
	else if (reply)
		ct = CT_ESTABLISHED_REPLY;
	else if (fv->info & WEIR_FLOWI_ANSWERED)
		ct = CT_ESTABLISHED;
	else
		ct = CT_NEW;
	pkt->meta.ct_state = ct;
	pkt->meta.flags |= WEIR_META_CT;
}

struct path {
	struct weir_flow_table *ft;
	const struct weir_pdesc *pd;
	const struct weir__flow_view *fv;
	struct weir__step *steps;
	unsigned n;
};

static void add_step(struct path *p, int layer_v4, int dir)
{
	int v6 = p->pd->family == AF_INET6;

	p->steps[p->n++] = (struct weir__step){
		.layer = (uint8_t)(layer_v4 + v6), .dir = (uint8_t)dir };
}

/* The ALE layer of this side of the flow, when it applies: always for
 * the flow's own direction, for replies only when it decided already. */
static void add_ale(struct path *p, bool outbound)
{
	bool reply = p->fv->info & WEIR_FLOWI_REPLY;
	int layer = outbound != reply ? WEIR_LAYER_ALE_CONNECT_V4
				      : WEIR_LAYER_ALE_ACCEPT_V4;
	int v6 = p->pd->family == AF_INET6;

	if (!p->fv->id)
		return;
	if ((reply || p->fv->related) &&
	    weir_flow_decision_get(p->ft, p->fv->id, layer + v6, NULL, NULL,
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

static void add_outbound(struct path *p)
{
	add_ale(p, true);
	if (p->fv->id && is_datagram(p->pd))
		add_step(p, WEIR_LAYER_DATAGRAM_DATA_V4, WEIR_DIR_OUTBOUND);
	if (p->pd->flags & WEIR_PD_L4)
		add_step(p, WEIR_LAYER_OUTBOUND_TRANSPORT_V4, WEIR_DIR_OUTBOUND);
	add_step(p, WEIR_LAYER_OUTBOUND_IPPACKET_V4, WEIR_DIR_OUTBOUND);
}

static void add_inbound(struct path *p)
{
	add_step(p, WEIR_LAYER_INBOUND_IPPACKET_V4, WEIR_DIR_INBOUND);
	if (p->pd->flags & WEIR_PD_L4)
		add_step(p, WEIR_LAYER_INBOUND_TRANSPORT_V4, WEIR_DIR_INBOUND);
	add_ale(p, false);
	if (p->fv->id && is_datagram(p->pd))
		add_step(p, WEIR_LAYER_DATAGRAM_DATA_V4, WEIR_DIR_INBOUND);
}

unsigned weir__path_steps(struct weir_flow_table *ft,
			  const struct weir_pdesc *pd, int where,
			  const struct weir__flow_view *fv,
			  struct weir__step *steps)
{
	struct path p = { .ft = ft, .pd = pd, .fv = fv, .steps = steps };

	if (where == WEIR__PATH_FORWARD) {
		add_step(&p, WEIR_LAYER_IPFORWARD_V4, WEIR_DIR_FORWARD);
		return p.n;
	}
	if (where != WEIR__PATH_INBOUND)
		add_outbound(&p);
	if (where != WEIR__PATH_OUTBOUND)
		add_inbound(&p);
	if (fv->id && !fv->related && (fv->info & WEIR_FLOWI_FIRST_REPLY))
		add_step(&p, WEIR_LAYER_ALE_FLOW_ESTABLISHED_V4,
			 where == WEIR__PATH_OUTBOUND ? WEIR_DIR_OUTBOUND
						      : WEIR_DIR_INBOUND);
	return p.n;
}
