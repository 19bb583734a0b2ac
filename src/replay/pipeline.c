/* One packet's way through the engine in `weir replay`: its direction
 * from the local address set, its flow and the layers it crosses (the
 * engine's path module, shared with the live capture), classification
 * at each until one blocks, and pended packets held until their pend
 * completes or times out.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <weir/flow.h>

#include "engine/path.h"
#include "replay/replay.h"

static uint8_t dir_of(const struct replay *r, const struct weir_pdesc *pd)
{
	bool src = replay_in_set(r->o->local, r->o->nlocal, pd->family, pd->src);
	bool dst = replay_in_set(r->o->local, r->o->nlocal, pd->family, pd->dst);

	if (src && dst)
		return REPLAY_DIR_LOOPBACK;
	return src ? REPLAY_DIR_OUTBOUND : dst ? REPLAY_DIR_INBOUND
					       : REPLAY_DIR_FORWARD;
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
		const struct weir__step *s = &p->steps[p->next++];
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

static bool is_ale(int layer)
{
	return layer >= WEIR_LAYER_ALE_CONNECT_V4 &&
	       layer <= WEIR_LAYER_ALE_FLOW_ESTABLISHED_V6;
}

/* Injected packets cross the packet layers only, as live, where the
 * kernel lets weir's injections pass its queues: a flow's remembered
 * connect/accept decision must not swallow the RST a callout injected to
 * end that very flow (and WFP does not run ALE for network injections). */
static void drop_ale_steps(struct replay_packet *p)
{
	uint8_t n = 0;

	for (uint8_t i = 0; i < p->nsteps; i++)
		if (!is_ale(p->steps[i].layer))
			p->steps[n++] = p->steps[i];
	p->nsteps = n;
}

void replay_packet_run(struct replay *r, struct replay_packet *p)
{
	struct weir_pdesc *pd = &p->pkt->pd;
	struct weir__flow_view fv;
	enum replay_verdict v;
	int rc;

	p->dir = dir_of(r, pd);
	if (p->dir == REPLAY_DIR_LOOPBACK)
		p->pkt->meta.flags |= WEIR_META_LOOPBACK;
	rc = weir__path_flow(r->flows, pd, r->now, &fv);
	if (rc < 0 && !r->err)
		r->err = rc; /* out of memory: classified without a flow */
	p->flow_id = fv.id;
	p->reply = fv.info & WEIR_FLOWI_REPLY;
	if (fv.id)
		p->flow_no = replay_flow_no(&r->fm, r->flows, fv.id,
					    fv.info & WEIR_FLOWI_NEW);
	weir__path_ct(r->flows, &fv, p->pkt);
	p->nsteps = (uint8_t)weir__path_steps(r->flows, pd, p->dir, &fv,
					      p->steps);
	if (p->injected)
		drop_ale_steps(p);
	v = run_steps(r, p);
	if (v == REPLAY_HELD)
		hold(r, p);
	else
		replay_finish(r, p, v);
	drain(r); /* pends its callouts completed meanwhile */
	replay_inject_drain(r); /* and what they injected */
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
	replay_inject_drain(r);
	/* A resumed packet may pend again: keep ending them. Every round
	 * moves each held packet at least one layer on. */
	for (int round = 0; all && r->held && round <= REPLAY_MAX_STEPS;
	     round++) {
		weir_pend_expire(r->engine, UINT64_MAX);
		drain(r);
		replay_inject_drain(r);
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
