/* The inject functions: checks in the order WFP reports them, a record
 * for the injection, hand-off to the injector, and the completion.
 *
 * Accounting: an accepted injection holds one in-flight count on its
 * handle and one user count on the injector, both dropped after its
 * completion has returned; that is what destroy and free wait for.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "inject/inject_internal.h"

/* Fewer bytes than the IP header's length says: a packet captured with
 * headers only (WEIR_CALLOUT_HEADERS_ONLY) or cut short. Sent, it would
 * go out as a shorter packet with a wrong checksum. A length field of 0
 * (BIG TCP, jumbograms) is not checked. */
static bool short_of_ip_len(const struct weir_pkt *p, unsigned v)
{
	unsigned n = v == 4 ? (unsigned)p->data[2] << 8 | p->data[3]
			    : (unsigned)p->data[4] << 8 | p->data[5];

	if (v == 6 && n)
		n += 40;
	return n && p->len < n;
}

/* Every packet must start with an IP header of a family the handle
 * injects, and be whole; anything else would be sent as garbage. */
static int check_packets(const struct weir_inject_handle *h,
			 const struct weir_nbl *nbl)
{
	if (!nbl->first)
		return -EINVAL;
	for (const struct weir_pkt *p = nbl->first; p; p = p->next) {
		unsigned v;

		if (p->len < 20)
			return -EINVAL;
		v = p->data[0] >> 4;
		if ((v == 4 || (v == 6 && p->len >= 40)) &&
		    short_of_ip_len(p, v))
			return -EINVAL;
		if (v == 4 && h->family != AF_INET6)
			continue;
		if (v == 6 && p->len >= 40 && h->family != AF_INET)
			continue;
		return -EINVAL;
	}
	return 0;
}

static void stamp(struct weir_nbl *nbl, uint32_t id)
{
	for (struct weir_pkt *p = nbl->first; p; p = p->next) {
		p->meta.inject_id = id;
		p->status = 0;
	}
	nbl->status = 0;
}

/* Takes one in-flight count unless the handle is closing. Counting
 * before the test means destroy, which closes and then waits for zero,
 * either sees this injection or makes it fail. */
static int enter(struct weir_inject_handle *h)
{
	atomic_fetch_add(&h->inflight, 1);
	if (!atomic_load(&h->closing))
		return 0;
	weir__inject_handle_put(h);
	return WEIR_INJECT_E_CLOSING;
}

static int hand_off(struct weir__inject_req *r, uint64_t ictx)
{
	struct weir_nbl *nbl = r->pub.nbl;
	uint32_t prev = nbl->first->meta.inject_id;
	uint32_t id = weir__record_new(r->handle->serial, ictx, prev);
	int rc;

	stamp(nbl, id);
	rc = r->injector->ops.submit(r->injector->arg, &r->pub);
	if (rc) {
		stamp(nbl, prev);  /* nothing happened, also to the bytes */
		weir__record_drop(id);
	}
	return rc;
}

int weir__inject_submit(struct weir_inject_handle *h,
			const struct weir__inject_call *c, struct weir_nbl *nbl,
			weir_inject_complete_fn complete, void *complete_ctx)
{
	struct weir__inject_req *r;
	int rc;

	if (!h || !nbl || !complete || c->flags)
		return -EINVAL;
	if (h->type != c->type)
		return WEIR_INJECT_E_STALE;
	if (atomic_load(&h->closing))
		return WEIR_INJECT_E_CLOSING;
	rc = check_packets(h, nbl);
	if (rc)
		return rc;
	if (c->path == WEIR_PATH_FORWARD && !c->ifindex)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	*r = (struct weir__inject_req){
		.pub = { .path = c->path, .compartment = c->compartment,
			 .ifindex = c->ifindex, .nbl = nbl },
		.handle = h, .complete = complete,
		.complete_ctx = complete_ctx, .strip = c->strip,
	};
	rc = enter(h);
	if (rc)
		goto fail;
	r->injector = weir__injector_get(h->engine);
	if (!r->injector) {
		rc = WEIR_INJECT_E_NOT_READY;
		goto fail_handle;
	}
	rc = hand_off(r, c->ictx);
	if (!rc)
		return 0;
	weir__injector_put(r->injector);
fail_handle:
	weir__inject_handle_put(h);
fail:
	free(r);
	return rc;
}

int weir_inject_network_send(struct weir_inject_handle *h,
			     uint64_t inject_ctx, uint32_t flags,
			     uint32_t compartment, struct weir_nbl *nbl,
			     weir_inject_complete_fn complete,
			     void *complete_ctx)
{
	struct weir__inject_call c = { .type = WEIR_INJECT_NETWORK,
				       .path = WEIR_PATH_SEND,
				       .ictx = inject_ctx, .flags = flags,
				       .compartment = compartment };

	return weir__inject_submit(h, &c, nbl, complete, complete_ctx);
}

int weir_inject_network_receive(struct weir_inject_handle *h,
				uint64_t inject_ctx, uint32_t flags,
				uint32_t compartment, uint32_t ifindex,
				struct weir_nbl *nbl,
				weir_inject_complete_fn complete,
				void *complete_ctx)
{
	struct weir__inject_call c = { .type = WEIR_INJECT_NETWORK,
				       .path = WEIR_PATH_RECEIVE,
				       .ictx = inject_ctx, .flags = flags,
				       .compartment = compartment,
				       .ifindex = ifindex };

	return weir__inject_submit(h, &c, nbl, complete, complete_ctx);
}

int weir_inject_forward(struct weir_inject_handle *h, uint64_t inject_ctx,
			uint32_t flags, uint32_t compartment,
			uint32_t ifindex_out, struct weir_nbl *nbl,
			weir_inject_complete_fn complete, void *complete_ctx)
{
	struct weir__inject_call c = { .type = WEIR_INJECT_FORWARD,
				       .path = WEIR_PATH_FORWARD,
				       .ictx = inject_ctx, .flags = flags,
				       .compartment = compartment,
				       .ifindex = ifindex_out };

	return weir__inject_submit(h, &c, nbl, complete, complete_ctx);
}

void weir_inject_req_done(struct weir_inject_req *pub, int status)
{
	struct weir__inject_req *r = (struct weir__inject_req *)pub;
	struct weir_inject_handle *h = r->handle;
	struct weir_injector *inj = r->injector;
	struct weir_nbl *nbl = pub->nbl;

	nbl->status = status;
	for (struct weir_pkt *p = nbl->first; p && !nbl->status; p = p->next)
		nbl->status = p->status;
	/* The caller gets its packets back as it gave them. */
	for (struct weir_pkt *p = nbl->first; p && r->strip; p = p->next)
		weir_pkt_pull(p, r->strip);
	weir__inject_completing++;
	r->complete(r->complete_ctx, nbl);
	weir__inject_completing--;
	free(r);
	weir__inject_handle_put(h);
	weir__injector_put(inj);
}

enum weir_injection_state
weir_injection_state(const struct weir_inject_handle *h,
		     const struct weir_pkt *pkt, uint64_t *ret_ctx)
{
	if (ret_ctx)
		*ret_ctx = 0;
	if (!h || !pkt)
		return WEIR_NOT_INJECTED;
	return weir__record_state(pkt->meta.inject_id, h->serial,
				  pkt->meta.layer, ret_ctx);
}
