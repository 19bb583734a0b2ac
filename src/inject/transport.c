/* Transport injection: the callout gives transport segments (or any
 * protocol's bytes) and addresses; weir puts an IP header in front,
 * computes the checksums, and injects them on the send or receive path
 * like network injections. The header is taken off again before the
 * completion, so the callout gets its list back as it gave it.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <string.h>

#include <weir/csum.h>

#include "inject/inject_internal.h"

#define IP4_HLEN 20u
#define IP6_HLEN 40u
#define DEFAULT_TTL 64

/* IPv4 identifications: unique enough for packets that are not
 * fragmented (DF) and never reassembled. */
static _Atomic uint16_t next_id;

static const uint8_t *addr_of(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6
		? ((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr
		: (const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr;
}

static int params_ok(const struct weir_inject_handle *h,
		     const struct weir_inject_transport *t)
{
	int f = t->local.ss_family;

	if ((f != AF_INET && f != AF_INET6) || t->remote.ss_family != f)
		return -EINVAL;
	if (h->family != AF_UNSPEC && h->family != f)
		return -EINVAL;
	return 0;
}

static void put_ip4(uint8_t *d, uint32_t len,
		    const struct weir_inject_transport *t,
		    const uint8_t *src, const uint8_t *dst)
{
	uint16_t tot = htons((uint16_t)len), id = htons(atomic_fetch_add(
					 &next_id, 1));
	uint16_t df = htons(0x4000);

	d[0] = 0x45;
	d[1] = 0;
	memcpy(d + 2, &tot, 2);
	memcpy(d + 4, &id, 2);
	memcpy(d + 6, &df, 2);
	d[8] = t->ttl ? t->ttl : DEFAULT_TTL;
	d[9] = t->protocol;
	memset(d + 10, 0, 2);
	memcpy(d + 12, src, 4);
	memcpy(d + 16, dst, 4);
}

static void put_ip6(uint8_t *d, uint32_t payload,
		    const struct weir_inject_transport *t,
		    const uint8_t *src, const uint8_t *dst)
{
	uint16_t plen = htons((uint16_t)payload);

	memset(d, 0, 4);
	d[0] = 0x60;
	memcpy(d + 4, &plen, 2);
	d[6] = t->protocol;
	d[7] = t->ttl ? t->ttl : DEFAULT_TTL;
	memcpy(d + 8, src, 16);
	memcpy(d + 24, dst, 16);
}

/* The protocols whose header carries a checksum weir computes. */
static bool has_l4_csum(uint8_t proto, bool v6)
{
	return proto == IPPROTO_UDP || proto == IPPROTO_TCP ||
	       proto == (v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP);
}

/* The IPv4 header checksum and the L4 one where the protocol has one;
 * any other protocol's bytes go as the callout made them. */
static int checksums(struct weir_pkt *p, uint8_t proto, bool v6)
{
	uint16_t c;

	if (has_l4_csum(proto, v6))
		return weir_csum_fill(p->data, &p->pd);
	if (!v6) {
		c = weir_csum_ipv4_header(p->data, IP4_HLEN);
		memcpy(p->data + 10, &c, 2);
	}
	return 0;
}

/* The IP header in front of p, then its checksums. 0, or -errno with
 * p starting at its transport header again. */
static int wrap(struct weir_pkt *p, const struct weir_inject_transport *t,
		bool receive)
{
	bool v6 = t->local.ss_family == AF_INET6;
	uint32_t hl = v6 ? IP6_HLEN : IP4_HLEN;
	const uint8_t *src = addr_of(receive ? &t->remote : &t->local);
	const uint8_t *dst = addr_of(receive ? &t->local : &t->remote);
	uint32_t len = p->len;
	uint8_t *d;

	if ((v6 ? len : len + hl) > 65535)
		return -EMSGSIZE;
	d = weir_pkt_push(p, hl);
	if (!d)
		return -ENOSPC;
	if (v6)
		put_ip6(d, len, t, src, dst);
	else
		put_ip4(d, len + hl, t, src, dst);
	/* A transport header cut short fails here, not on the wire. */
	if (weir_pkt_parse(p) < 0 || checksums(p, t->protocol, v6) < 0) {
		weir_pkt_pull(p, hl);
		return -EINVAL;
	}
	p->meta.csum_state = WEIR_CSUM_VERIFIED;
	return 0;
}

static void unwrap(struct weir_nbl *nbl, const struct weir_pkt *upto,
		   uint32_t hl)
{
	for (struct weir_pkt *p = nbl->first; p != upto; p = p->next)
		weir_pkt_pull(p, hl);
}

static int inject(struct weir_inject_handle *h, struct weir__inject_call *c,
		  const struct weir_inject_transport *t, struct weir_nbl *nbl,
		  weir_inject_complete_fn complete, void *complete_ctx)
{
	struct weir_pkt *p;
	int rc;

	/* WFP's order: parameters, handle type, closing; then the bytes. */
	if (!h || !t || !nbl || !nbl->first || !complete || c->flags)
		return -EINVAL;
	if (h->type != c->type)
		return WEIR_INJECT_E_STALE;
	if (atomic_load(&h->closing))
		return WEIR_INJECT_E_CLOSING;
	rc = params_ok(h, t);
	if (rc)
		return rc;
	c->strip = t->local.ss_family == AF_INET6 ? IP6_HLEN : IP4_HLEN;
	for (p = nbl->first; p && !rc; p = rc ? p : p->next)
		rc = wrap(p, t, c->path == WEIR_PATH_RECEIVE);
	if (!rc)
		rc = weir__inject_submit(h, c, nbl, complete, complete_ctx);
	if (rc)
		unwrap(nbl, p, c->strip);
	return rc;
}

int weir_inject_transport_send(struct weir_inject_handle *h,
			       uint64_t inject_ctx, uint32_t flags,
			       uint32_t compartment,
			       const struct weir_inject_transport *t,
			       struct weir_nbl *nbl,
			       weir_inject_complete_fn complete,
			       void *complete_ctx)
{
	struct weir__inject_call c = { .type = WEIR_INJECT_TRANSPORT,
				       .path = WEIR_PATH_SEND,
				       .ictx = inject_ctx, .flags = flags,
				       .compartment = compartment };

	return inject(h, &c, t, nbl, complete, complete_ctx);
}

int weir_inject_transport_receive(struct weir_inject_handle *h,
				  uint64_t inject_ctx, uint32_t flags,
				  uint32_t compartment, uint32_t ifindex,
				  const struct weir_inject_transport *t,
				  struct weir_nbl *nbl,
				  weir_inject_complete_fn complete,
				  void *complete_ctx)
{
	struct weir__inject_call c = { .type = WEIR_INJECT_TRANSPORT,
				       .path = WEIR_PATH_RECEIVE,
				       .ictx = inject_ctx, .flags = flags,
				       .compartment = compartment,
				       .ifindex = ifindex };

	return inject(h, &c, t, nbl, complete, complete_ctx);
}
