/* Flow keys: normalizing, matching in either direction, a keyed hash that
 * gives a key and its reverse the same value, and building a key from a
 * parsed packet (ICMP query identifiers, ICMP errors to their flow).
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include <weir/pdesc.h>

#include "engine/flow_internal.h"

int weir__flow_key_norm(struct weir_flow_key *ret, const struct weir_flow_key *k)
{
	size_t alen;

	if (k->family != AF_INET && k->family != AF_INET6)
		return -EINVAL;
	alen = k->family == AF_INET ? 4 : 16;
	memset(ret, 0, sizeof(*ret));
	ret->compartment = k->compartment;
	ret->family = k->family;
	ret->proto = k->proto;
	ret->sport = k->sport;
	ret->dport = k->dport;
	memcpy(ret->src, k->src, alen);
	memcpy(ret->dst, k->dst, alen);
	return 0;
}

int weir__flow_key_match(const struct weir_flow_key *fk,
			 const struct weir_flow_key *k)
{
	if (fk->compartment != k->compartment || fk->family != k->family ||
	    fk->proto != k->proto)
		return -1;
	if (fk->sport == k->sport && fk->dport == k->dport &&
	    !memcmp(fk->src, k->src, 16) && !memcmp(fk->dst, k->dst, 16))
		return 0;
	if (fk->sport == k->dport && fk->dport == k->sport &&
	    !memcmp(fk->src, k->dst, 16) && !memcmp(fk->dst, k->src, 16))
		return 1;
	return -1;
}

void weir_flow_key_reverse(struct weir_flow_key *ret_rev,
			   const struct weir_flow_key *k)
{
	struct weir_flow_key r = *k;

	r.sport = k->dport;
	r.dport = k->sport;
	memcpy(r.src, k->dst, 16);
	memcpy(r.dst, k->src, 16);
	*ret_rev = r;
}

/* ---- SipHash-1-3 over 64-bit words ------------------------------------ */

#define ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))

static void sipround(uint64_t v[4])
{
	v[0] += v[1];
	v[1] = ROTL(v[1], 13) ^ v[0];
	v[0] = ROTL(v[0], 32);
	v[2] += v[3];
	v[3] = ROTL(v[3], 16) ^ v[2];
	v[0] += v[3];
	v[3] = ROTL(v[3], 21) ^ v[0];
	v[2] += v[1];
	v[1] = ROTL(v[1], 17) ^ v[2];
	v[2] = ROTL(v[2], 32);
}

static uint64_t siphash13(const uint64_t key[2], const uint64_t *m, size_t n)
{
	uint64_t v[4] = {
		key[0] ^ 0x736f6d6570736575ull, key[1] ^ 0x646f72616e646f6dull,
		key[0] ^ 0x6c7967656e657261ull, key[1] ^ 0x7465646279746573ull,
	};
	uint64_t b = (uint64_t)(n * 8) << 56;

	for (size_t i = 0; i < n; i++) {
		v[3] ^= m[i];
		sipround(v);
		v[0] ^= m[i];
	}
	v[3] ^= b;
	sipround(v);
	v[0] ^= b;
	v[2] ^= 0xff;
	for (int i = 0; i < 3; i++)
		sipround(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* Hashes the endpoints in a fixed order (the smaller address, then port,
 * first), so that both directions hash alike. */
uint64_t weir__flow_key_hash(const uint64_t sip[2], const struct weir_flow_key *k)
{
	const uint8_t *a = k->src, *b = k->dst;
	uint16_t pa = k->sport, pb = k->dport;
	int c = memcmp(a, b, 16);
	uint64_t w[6];

	if (c > 0 || (c == 0 && pa > pb)) {
		a = k->dst, b = k->src;
		pa = k->dport, pb = k->sport;
	}
	w[0] = (uint64_t)k->compartment | (uint64_t)k->family << 32 |
	       (uint64_t)k->proto << 40;
	w[1] = (uint64_t)pa << 16 | pb;
	memcpy(&w[2], a, 16);
	memcpy(&w[4], b, 16);
	return siphash13(sip, w, 6);
}

/* ---- keys from packets ------------------------------------------------- */

/* ICMP queries whose reply echoes an identifier. */
static bool icmp_has_id(uint8_t family, uint8_t type)
{
	if (family == AF_INET6)
		return type == 128 || type == 129;
	return type == 0 || type == 8 || (type >= 13 && type <= 18);
}

static int icmp_proto(uint8_t family)
{
	return family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6;
}

static int key_ports(struct weir_flow_key *k, const struct weir_pdesc *pd)
{
	bool l4 = pd->flags & WEIR_PD_L4;

	if (k->proto == IPPROTO_TCP || k->proto == IPPROTO_UDP) {
		if (!l4)
			return -ENODATA;
		k->sport = pd->sport;
		k->dport = pd->dport;
	} else if (k->proto == icmp_proto(k->family)) {
		if (!l4)
			return -ENODATA;
		if (icmp_has_id(k->family, pd->icmp_type))
			k->sport = k->dport = (uint16_t)(pd->icmp_rest >> 16);
	}
	return 0;
}

/* The flow an ICMP error quotes, turned the way the error travels (the
 * quoted packet went from the error's destination towards its source). */
static int key_related(struct weir_flow_key *k, const struct weir_pdesc *pd)
{
	const struct weir_pd_inner *in = &pd->inner;

	if (!(pd->flags & WEIR_PD_INNER) || in->family != pd->family)
		return -ENODATA;
	k->proto = in->proto;
	memcpy(k->src, in->src, 16);
	memcpy(k->dst, in->dst, 16);
	if (in->proto == IPPROTO_TCP || in->proto == IPPROTO_UDP) {
		if (!(pd->flags & WEIR_PD_INNER_L4))
			return -ENODATA;
		k->sport = in->sport;
		k->dport = in->dport;
	}
	weir_flow_key_reverse(k, k);
	return 0;
}

int weir_flow_key_from_pdesc(struct weir_flow_key *ret_key,
			     const struct weir_pdesc *pd, uint32_t compartment,
			     unsigned *ret_kflags)
{
	struct weir_flow_key k;
	bool related;
	int rc;

	if (!ret_key || !pd || !(pd->flags & WEIR_PD_L3) ||
	    (pd->family != AF_INET && pd->family != AF_INET6))
		return -EINVAL;
	memset(&k, 0, sizeof(k));
	k.compartment = compartment;
	k.family = pd->family;
	k.proto = pd->proto;
	memcpy(k.src, pd->src, 16);
	memcpy(k.dst, pd->dst, 16);
	related = pd->flags & WEIR_PD_ICMP_ERR;
	rc = related ? key_related(&k, pd) : key_ports(&k, pd);
	if (rc < 0)
		return rc;
	rc = weir__flow_key_norm(ret_key, &k);
	if (rc == 0 && ret_kflags)
		*ret_kflags = related ? WEIR_FLOWK_RELATED : 0;
	return rc;
}
