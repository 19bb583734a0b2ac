/* Injection under `weir replay`: the replay is the injector of its
 * engine. An injected list is queued, and after the packet being
 * classified is done, each of its packets runs through the engine as a
 * new packet of the capture (re-classified per the same rules, with its
 * injection record, so callouts see it as theirs), is logged with
 * "injected" and, when permitted, written to the output capture. Then
 * the completion runs, on the replay's thread, with status 0.
 *
 * The output needs a link header for an injected packet: it borrows the
 * one of the last frame read of the same IP version (of any frame when
 * none), so an Ethernet capture stays an Ethernet capture.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <weir/inject.h>

#include "replay/replay.h"

static int submit(void *arg, struct weir_inject_req *req)
{
	struct replay *r = arg;

	req->backend_[0] = NULL;
	pthread_mutex_lock(&r->lock);
	if (r->inj_tail)
		r->inj_tail->backend_[0] = req;
	else
		r->inj_head = req;
	r->inj_tail = req;
	pthread_mutex_unlock(&r->lock);
	return 0;
}

static struct weir_inject_req *pop(struct replay *r)
{
	struct weir_inject_req *req;

	pthread_mutex_lock(&r->lock);
	req = r->inj_head;
	if (req) {
		r->inj_head = req->backend_[0];
		if (!r->inj_head)
			r->inj_tail = NULL;
	}
	pthread_mutex_unlock(&r->lock);
	return req;
}

/* Nothing may stay queued once the injector goes: cancel the rest. */
static void shutdown_inj(void *arg)
{
	struct replay *r = arg;
	struct weir_inject_req *req;

	while ((req = pop(r)))
		weir_inject_req_done(req, -ECANCELED);
}

int replay_inject_setup(struct replay *r)
{
	static const struct weir_inject_ops ops = {
		.submit = submit, .shutdown = shutdown_inj };

	return weir_injector_new(r->engine, &ops, r, &r->injector);
}

void replay_inject_free(struct replay *r)
{
	weir_injector_free(r->injector);
	r->injector = NULL;
}

void replay_remember_link(struct replay *r, const uint8_t *ip,
			  const uint8_t *link, uint32_t len)
{
	struct replay_link *l = &r->links[(ip[0] >> 4) == 6];

	memcpy(l->bytes, link, len);
	l->len = len;
	l->seen = true;
	r->last_link = l;
}

static void borrow_link(struct replay *r, struct replay_packet *p)
{
	const struct replay_link *l = &r->links[(p->pkt->data[0] >> 4) == 6];

	if (!l->seen)
		l = r->last_link;
	if (!l)
		return;
	memcpy(p->link, l->bytes, l->len);
	p->link_len = l->len;
}

/* One injected packet as a new packet of the run. */
static void run_one(struct replay *r, const struct weir_pkt *src)
{
	struct replay_packet *p = calloc(1, sizeof(*p));
	struct weir_pkt *pkt = p ? weir_pkt_copy(src) : NULL;

	if (!pkt) {
		free(p);
		r->err = r->err ? r->err : -ENOMEM;
		return;
	}
	*p = (struct replay_packet){
		.index = REPLAY_INJECTED_BASE + r->n.injected++,
		.origin = r->n.read ? r->n.read - 1 : 0, .ts_ns = r->now,
		.wirelen = pkt->len, .caplen = pkt->len, .pkt = pkt,
		.injected = true };
	pkt->meta.timestamp_ns = r->now;
	weir_pkt_parse(pkt);
	borrow_link(r, p);
	if (!(pkt->pd.flags & WEIR_PD_L3)) {
		p->skip_reason = weir_perr_str(pkt->pd.err);
		replay_finish(r, p, REPLAY_SKIP);
		return;
	}
	replay_packet_run(r, p);
}

void replay_inject_drain(struct replay *r)
{
	struct weir_inject_req *req;

	/* Running an injected packet may inject again: the outermost call
	 * runs them all, in order, instead of recursing. */
	if (r->injecting)
		return;
	r->injecting = true;
	while ((req = pop(r))) {
		for (struct weir_pkt *pk = req->nbl->first; pk; pk = pk->next)
			run_one(r, pk);
		weir_inject_req_done(req, 0);
	}
	r->injecting = false;
}
