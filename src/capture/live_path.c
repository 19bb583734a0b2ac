/* One queued packet's way: decode, flow, the layers of its path (the
 * engine's path module, as in replay), and exactly one verdict. A
 * packet whose classification a callout pends waits in its worker's
 * held list, in id order (the verdict batcher needs the lowest held id),
 * until the pend's end is posted back to the worker.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <weir/csum.h>
#include <weir/flow.h>

#include "capture/live_internal.h"
#include "packet/buf.h"

enum outcome { OUT_HELD, OUT_PERMIT, OUT_DROP };

static uint8_t where_of(uint8_t hook)
{
	switch (hook) {
	case WEIR__HOOK_OUTPUT:
	case WEIR__HOOK_POSTROUTING:
		return WEIR__PATH_OUTBOUND;
	case WEIR__HOOK_FORWARD:
		return WEIR__PATH_FORWARD;
	default:
		return WEIR__PATH_INBOUND;
	}
}

static bool is_ale(int layer)
{
	return layer == WEIR_LAYER_ALE_CONNECT_V4 ||
	       layer == WEIR_LAYER_ALE_CONNECT_V6 ||
	       layer == WEIR_LAYER_ALE_ACCEPT_V4 ||
	       layer == WEIR_LAYER_ALE_ACCEPT_V6;
}

/* ---- held list --------------------------------------------------------- */

static void hold(struct weir__live_worker *w, struct weir__held *h)
{
	struct weir__held *after = w->held_tail;

	/* Almost always appended: ids grow. A packet that pends again
	 * after a resume goes back to its place. */
	while (after && weir__nfq_id_after(after->id, h->id))
		after = after->prev;
	h->prev = after;
	h->next = after ? after->next : w->held_head;
	if (h->next)
		h->next->prev = h;
	else
		w->held_tail = h;
	if (after)
		after->next = h;
	else
		w->held_head = h;
	LIVE_INC(w, held);
}

static void unhold(struct weir__live_worker *w, struct weir__held *h)
{
	if (h->prev)
		h->prev->next = h->next;
	else
		w->held_head = h->next;
	if (h->next)
		h->next->prev = h->prev;
	else
		w->held_tail = h->prev;
	h->prev = h->next = NULL;
	atomic_fetch_sub_explicit(&w->n.held, 1, memory_order_relaxed);
}

/* ---- verdicts ---------------------------------------------------------- */

static bool bypass_of(struct weir__live_worker *w, const struct weir__held *h,
		      struct weir__verdict *d)
{
	struct weir__live *l = w->l;
	uint32_t mark = atomic_load_explicit(&l->bypass_mark,
					     memory_order_relaxed);
	int v6;

	/* No packet: a verdict given without classification. */
	if (!h->pkt)
		return false;
	v6 = h->pkt->pd.family == AF_INET6;
	if (!mark || !h->ale_permit || h->replaced ||
	    h->where == WEIR__PATH_FORWARD ||
	    !atomic_load_explicit(&l->bypass_ok[v6], memory_order_relaxed))
		return false;
	/* The verdict's NFQA_CT: the kernel finds the entry from the
	 * packet, whether or not it sent conntrack attributes with it. A
	 * packet without a conntrack state is untracked when the kernel
	 * reports conntrack; when it does not, the state came from weir's
	 * flows, and a packet weir has no flow for may still be tracked (an
	 * untracked one's NFQA_CT is ignored). */
	if (!w->sock.no_conntrack) {
		if (!(h->pkt->meta.flags & WEIR_META_CT) &&
		    atomic_load_explicit(&l->conntrack, memory_order_relaxed))
			return false;
		d->set_ctmark = true;
		d->ctmark = mark;
		d->ctmark_mask = l->o.ctmark_mask;
		return true;
	}
	/* No conntrack glue: NF_REPEAT runs the hook's rules again with a
	 * mark that makes them set the connmark (steer_render.c), for a
	 * packet that is one of weir's flows. */
	if (!l->o.vmark_mask || !(h->pkt->meta.flags & WEIR_META_CT))
		return false;
	d->repeat = true;
	d->set_mark = true;
	d->mark = (h->pkt->meta.mark & ~l->o.vmark_mask) |
		  atomic_load_explicit(&l->bypass_vmark, memory_order_relaxed);
	return true;
}

/* Adds d to the worker's verdict buffer. Out of memory for the buffer,
 * it sends what is there and retries in the emptied buffer; only a new
 * payload can need more than that holds, and then the packet, which
 * cannot go out as the callout made it, is dropped instead (a verdict
 * without payload always fits): d says what was given. */
static void add_verdict(struct weir__live_worker *w, struct weir__verdict *d,
			uint64_t low, bool single)
{
	bool backlog;

	if (weir__verdicts_add(&w->v, d, low, single) == 0)
		return;
	/* The read's backlog flag outlives the flush: without it the rest
	 * of a backlogged read would go out in batches of 4, each a turn
	 * of the queue's lock for its CPU (nfq_verdict.c). */
	backlog = w->v.backlog;
	weir__live_flush(w);
	w->v.backlog = backlog;
	if (weir__verdicts_add(&w->v, d, low, single) == 0)
		return;
	*d = (struct weir__verdict){ .id = d->id };
	weir__verdicts_add(&w->v, d, low, true);
}

/* `single`: a message of its own, never part of a batch message, which
 * would answer every id before it too. */
static void give_verdict(struct weir__live_worker *w, struct weir__held *h,
			 bool accept, bool single)
{
	struct weir__verdict d = { .id = h->id, .accept = accept };
	uint64_t low = w->held_head ? w->held_head->id : WEIR__NO_HELD;
	bool bypass = accept && bypass_of(w, h, &d);

	if (accept && h->replaced) {
		/* The kernel takes a new payload as complete (it drops the
		 * checksum offload state), so a partial sum copied from an
		 * offloaded packet must be finished here. */
		if (h->pkt->meta.csum_state == WEIR_CSUM_PARTIAL)
			weir_pkt_csum_finalize(h->pkt);
		d.payload = h->pkt->data;
		d.payload_len = h->pkt->len;
	}
	add_verdict(w, &d, low, single);
	if (d.accept)
		LIVE_INC(w, accepted);
	else
		LIVE_INC(w, dropped);
	if (d.accept && h->replaced)
		LIVE_INC(w, replaced);
	if (d.accept && bypass)
		LIVE_INC(w, bypassed);
}

/* Packet records are recycled per worker: one per packet would
 * otherwise be a malloc and a free on every packet. */
#define SPARE_MAX 256

static struct weir__held *held_new(struct weir__live_worker *w)
{
	struct weir__held *h = w->spare;

	if (!h)
		return calloc(1, sizeof(*h));
	w->spare = h->next;
	w->nspare--;
	memset(h, 0, sizeof(*h));
	return h;
}

static void release(struct weir__held *h)
{
	struct weir__live_worker *w = h->w;

	weir_pkt_free(h->pkt);
	if (!w || w->nspare >= SPARE_MAX) {
		free(h);
		return;
	}
	h->next = w->spare;
	w->spare = h;
	w->nspare++;
}

void weir__live_spare_free(struct weir__live_worker *w)
{
	while (w->spare) {
		struct weir__held *h = w->spare;

		w->spare = h->next;
		free(h);
	}
	w->nspare = 0;
}

/* ---- the layers ------------------------------------------------------- */

static void set_ifnames(struct weir__live_worker *w, struct weir_fields *f,
			const struct weir_pkt *pkt)
{
	const char *n;

	if (pkt->meta.ifindex_in) {
		n = weir__ifname(&w->ifn, pkt->meta.ifindex_in, w->now);
		strncpy(f->if_in_name, n, sizeof(f->if_in_name) - 1);
		f->present |= 1ull << WEIR_FIELD_IF_IN_NAME;
	}
	if (pkt->meta.ifindex_out) {
		n = weir__ifname(&w->ifn, pkt->meta.ifindex_out, w->now);
		strncpy(f->if_out_name, n, sizeof(f->if_out_name) - 1);
		f->present |= 1ull << WEIR_FIELD_IF_OUT_NAME;
	}
}

/* Classifies from the next step on until a layer blocks, absorbs or
 * pends, or all permitted. */
static enum outcome run_steps(struct weir__live_worker *w,
			      struct weir__held *h)
{
	struct weir_engine *e = w->l->engine;

	while (h->next_step < h->nsteps) {
		const struct weir__step *s = &h->steps[h->next_step++];
		struct weir_decision d;
		struct weir_fields f;
		struct weir_classify_in in = {
			.layer = s->layer, .fields = &f, .pkt = h->pkt,
			.flow_id = h->flow_id, .now_ns = w->now,
			.cookie = (uint64_t)(uintptr_t)h };

		h->pkt->meta.direction = s->dir;
		if (weir_fields_from_pkt(&f, h->pkt, s->layer, 0) < 0) {
			LIVE_INC(w, unparsed);
			return OUT_DROP;
		}
		set_ifnames(w, &f, h->pkt);
		if (weir_classify(e, &in, &d) < 0)
			return OUT_DROP;
		if (d.pended) {
			if (w->draining)
				return w->l->o.fail_open ? OUT_PERMIT
							 : OUT_DROP;
			h->pend_id = d.pend_id;
			LIVE_INC(w, pended);
			return OUT_HELD;
		}
		if (d.absorb || d.action != WEIR_ACTION_PERMIT)
			return OUT_DROP;
		if (d.by_default && h->next_step == h->nsteps)
			LIVE_INC(w, by_default);
		h->ale_permit |= is_ale(s->layer);
	}
	return OUT_PERMIT;
}

static void finish(struct weir__live_worker *w, struct weir__held *h,
		   enum outcome o)
{
	if (o == OUT_HELD) {
		hold(w, h);
		return;
	}
	give_verdict(w, h, o == OUT_PERMIT, false);
	release(h);
}

/* A packet weir sent itself, where the rules left it in the queue (a
 * skip costs every forwarded packet): the injection mark, or one of
 * weir's TUN devices as the input. */
static bool own_packet(struct weir__live_worker *w,
		       const struct weir_pkt_meta *m)
{
	const struct weir__live *l = w->l;
	const char *name;

	if (l->o.own_mark_mask &&
	    (m->mark & l->o.own_mark_mask) == l->o.own_mark)
		return true;
	if (!l->o.own_ifname || !m->ifindex_in)
		return false;
	name = weir__ifname(&w->ifn, m->ifindex_in, w->now);
	if (strncmp(name, l->o.own_ifname, l->own_iflen) != 0)
		return false;
	return l->own_ifprefix || name[l->own_iflen] == '\0';
}

/* A packet the engine cannot take (no memory, or a message weir cannot
 * read): fail mode decides. */
static void fail_verdict(struct weir__live_worker *w, uint32_t id,
			 bool single)
{
	struct weir__held h = { .id = id };

	give_verdict(w, &h, w->l->o.fail_open, single);
}

/* A packet message weir cannot read: one whose header it read still
 * names a packet that waits in the queue, answered by the fail mode in
 * a message of its own (the id comes from a broken message: in a batch
 * message it would answer every id before it too). */
static void bad_message(struct weir__live_worker *w,
			const struct weir__nfq_msg *m)
{
	LIVE_INC(w, bad_msgs);
	if (!m->has_id)
		return;
	LIVE_INC(w, received);
	fail_verdict(w, m->id, true);
}

/* The packet's flow, and from it the conntrack state the kernel did not
 * report; none for a forwarded packet when nothing at ipforward reads
 * flows (weir__live_set_forward_flows). */
static void flow_of(struct weir__live_worker *w, struct weir__held *h,
		    struct weir__flow_view *fv)
{
	if (h->where == WEIR__PATH_FORWARD &&
	    !atomic_load_explicit(&w->l->forward_flows,
				  memory_order_acquire)) {
		*fv = (struct weir__flow_view){ 0 };
		return;
	}
	weir__path_flow(w->l->flows, &h->pkt->pd, w->now, fv);
	if (!(h->pkt->meta.flags & WEIR_META_CT))
		weir__path_ct(w->l->flows, fv, h->pkt);
}

void weir__live_message(struct weir__live_worker *w, struct nlmsghdr *nlh,
			struct weir_buf *pbuf)
{
	struct weir__flow_view fv;
	struct weir__nfq_msg m;
	struct weir__held *h;

	if (weir__nfq_decode(nlh, w->sock.queue, &m) < 0) {
		bad_message(w, &m);
		return;
	}
	LIVE_INC(w, received);
	if (m.hook == WEIR__HOOK_FORWARD && w->l->o.own_forward &&
	    own_packet(w, &m.meta)) {
		struct weir__held own = { .id = m.id };

		give_verdict(w, &own, true, false);
		LIVE_INC(w, own);
		return;
	}
	h = held_new(w);
	/* A view into the receive buffer (copy-on-write, see buf.h). */
	if (h)
		h->pkt = weir__pkt_in_buf(pbuf, (uint8_t *)(uintptr_t)m.payload,
					  m.cap_len);
	if (!h || !h->pkt) {
		free(h);
		fail_verdict(w, m.id, false);
		return;
	}
	h->w = w;
	h->id = m.id;
	h->where = where_of(m.hook);
	h->pkt->meta = m.meta;
	h->pkt->meta.compartment = w->l->o.compartment;
	weir_pkt_parse(h->pkt);
	if (m.wire_len > m.cap_len && h->pkt->pd.err) {
		/* The copy range cut the headers (a long IPv6 extension
		 * chain): without the transport header, port filters would
		 * not see the packet. Whole packets would have parsed. */
		LIVE_INC(w, cut_short);
		finish(w, h, OUT_DROP);
		return;
	}
	flow_of(w, h, &fv);
	h->flow_id = fv.id;
	h->nsteps = (uint8_t)weir__path_steps(w->l->flows, &h->pkt->pd,
					      h->where, &fv, h->steps);
	finish(w, h, run_steps(w, h));
}

/* ---- pends -------------------------------------------------------------- */

/* On the worker: the pend ended; a permit goes on with the next layer. */
static void resume(void *arg, int status)
{
	struct weir__held *h = arg;
	struct weir__live_worker *w = h->w;
	enum outcome o;

	/* -ECANCELED cannot happen: a worker's loop closes only once it
	 * holds nothing (weir__live_maybe_done). */
	(void)status;
	unhold(w, h);
	if (h->end_how == WEIR_PEND_TIMED_OUT)
		LIVE_INC(w, pend_timeouts);
	if (h->end_replacement) {
		/* The capture's metadata, but the replacement's own
		 * checksum state: its bytes are what goes out. */
		uint8_t cs = h->end_replacement->meta.csum_state;

		h->end_replacement->meta = h->pkt->meta;
		h->end_replacement->meta.csum_state = cs;
		weir_pkt_free(h->pkt);
		h->pkt = h->end_replacement;
		h->end_replacement = NULL;
		h->replaced = true;
		weir_pkt_parse(h->pkt);
	}
	/* A replacement shorter than its IP length would make the kernel
	 * cut the real packet down to it: refused, as injection does. */
	if (h->end_action != WEIR_ACTION_PERMIT ||
	    (h->replaced && (h->pkt->pd.flags & WEIR_PD_TRUNCATED)))
		o = OUT_DROP;
	else
		o = run_steps(w, h);
	finish(w, h, o);
	weir__live_flush(w);
	weir__live_maybe_done(w);
}

void weir__live_pend_end(void *arg, uint64_t cookie, uint64_t pend_id,
			 enum weir_pend_end how, uint8_t action,
			 struct weir_pkt *replacement)
{
	struct weir__held *h = (struct weir__held *)(uintptr_t)cookie;

	(void)arg;
	(void)pend_id;
	h->end_how = (uint8_t)how;
	h->end_action = action;
	h->end_replacement = replacement;
	/* May run inside weir_classify or on any thread: the worker
	 * continues the packet on its own loop, later. The loops live
	 * until every held packet ended (weir__live_stop). */
	weir_loop_post_req(h->w->loop, &h->resume_req, resume, h);
}

void weir__live_release_held(struct weir__live_worker *w)
{
	uint8_t action = w->l->o.fail_open ? WEIR_ACTION_PERMIT
					   : WEIR_ACTION_BLOCK;

	/* Ending the pend runs the handler, which posts the resume; a pend
	 * that already ended has its resume queued. Either way the held
	 * list empties as the loop runs. */
	for (struct weir__held *h = w->held_head; h; h = h->next)
		weir_pend_complete(w->l->engine, h->pend_id, action, NULL);
}
