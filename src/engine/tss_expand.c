/* Tuple-space classifier, build side: turns one filter into keyed
 * entries, one per combination of the values its key fields may take.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/tss.h"

/* ---- expansion of one filter into keyed entries --------------------- */

static const struct weir__group *group_of(const struct weir__filter *f,
					  uint16_t field)
{
	for (uint32_t g = 0; g < f->ngroup; g++)
		if (f->groups[g].field == field)
			return &f->groups[g];
	return NULL;
}

static bool alt_push(struct alts *as, const uint8_t *addr, unsigned plen,
		     uint64_t num)
{
	if (as->n == MAX_ALT)
		return false;
	memset(&as->a[as->n], 0, sizeof(as->a[0]));
	if (addr)
		memcpy(as->a[as->n].addr, addr, 16);
	as->a[as->n].plen = (uint8_t)plen;
	as->a[as->n].lo = as->a[as->n].hi = (uint16_t)num;
	as->n++;
	return true;
}

/* Alternatives of an address field: EQ, PREFIX or a set of prefixes;
 * anything else makes the field a wildcard (checked as residue). */
static void addr_alts(const struct weir__filter *f, uint16_t field,
		      unsigned alen, struct alts *as)
{
	const struct weir__group *g = group_of(f, field);
	bool ok = g != NULL;

	as->n = 0;
	for (uint16_t i = 0; ok && i < g->count; i++) {
		const struct weir__cond *c = &f->conds[g->first + i];

		if (c->match == WEIR_MATCH_EQ)
			ok = alt_push(as, c->v.addr, alen * 8, 0);
		else if (c->match == WEIR_MATCH_PREFIX)
			ok = alt_push(as, c->v.addr, c->v.plen, 0);
		else if (c->match == WEIR_MATCH_IN_SET)
			for (uint32_t k = 0; ok && k < c->set_len; k++)
				ok = alt_push(as, c->set[k].addr,
					      c->set[k].plen, 0);
		else
			ok = false;
	}
	if (!ok)
		as->n = 0;
}

/* Alternatives of the protocol: exact values only. */
static void num_alts(const struct weir__filter *f, uint16_t field,
		     uint64_t max, struct alts *as)
{
	const struct weir__group *g = group_of(f, field);
	bool ok = g != NULL;

	as->n = 0;
	for (uint16_t i = 0; ok && i < g->count; i++) {
		const struct weir__cond *c = &f->conds[g->first + i];

		if (c->match == WEIR_MATCH_EQ)
			ok = c->v.lo <= max && alt_push(as, NULL, 0, c->v.lo);
		else if (c->match == WEIR_MATCH_IN_SET)
			for (uint32_t k = 0; ok && k < c->set_len; k++)
				ok = c->set[k].hi < c->set[k].lo &&
				     c->set[k].lo <= max &&
				     alt_push(as, NULL, 0, c->set[k].lo);
		else
			ok = false;
	}
	if (!ok)
		as->n = 0;
}

enum { A_SRC, A_DST, A_PROTO, A_SPORT, A_DPORT, A_N };

/* A filter's key fields: their alternatives, and the intervals of its
 * source (port[0]) and destination (port[1]) ports. */
struct expand {
	struct alts as[A_N];
	struct port_ivs port[2];
	bool ranges;                 /* port ranges are hashed */
	bool ranged;                 /* a port range is left unhashed */
};

static uint64_t combos(const struct alts *as)
{
	uint64_t n = 1;

	for (int i = 0; i < A_N; i++)
		n *= as[i].n ? as[i].n : 1;
	return n;
}

static void port_alts(struct expand *x, int a, unsigned below)
{
	const struct port_ivs *iv = &x->port[a - A_SPORT];

	weir__tss_port_pieces(iv, weir__tss_port_level(iv, below, x->ranges),
			      &x->as[a]);
}

/* Whether hashing ranges would key a port field this expansion leaves
 * unhashed: what tss_crowd.c looks for in a crowded key. */
static bool range_left_out(const struct expand *x)
{
	for (int a = A_SPORT; a <= A_DPORT; a++)
		if (!x->as[a].n &&
		    weir__tss_port_level(&x->port[a - A_SPORT], 17, true))
			return true;
	return false;
}

/* Fills the alternatives of the five key fields, then widens the field
 * with the most alternatives until the product is small: a port field
 * to its next coarser level (fewer, wider pieces), any other field to a
 * wildcard. */
static void filter_alts(const struct weir__filter *f, unsigned alen,
			bool ranges, struct expand *x)
{
	struct alts *as = x->as;

	addr_alts(f, WEIR_FIELD_IP_SRC, alen, &as[A_SRC]);
	addr_alts(f, WEIR_FIELD_IP_DST, alen, &as[A_DST]);
	num_alts(f, WEIR_FIELD_IP_PROTO, 255, &as[A_PROTO]);
	weir__tss_port_ivs(f, WEIR_FIELD_SRC_PORT, &x->port[0]);
	weir__tss_port_ivs(f, WEIR_FIELD_DST_PORT, &x->port[1]);
	x->ranges = ranges;
	port_alts(x, A_SPORT, 17);
	port_alts(x, A_DPORT, 17);
	while (combos(as) > MAX_EXPAND) {
		int big = 0;

		for (int i = 1; i < A_N; i++)
			if (as[i].n > as[big].n)
				big = i;
		if (big >= A_SPORT)
			port_alts(x, big, as[big].q);
		else
			as[big].n = 0;
	}
	x->ranged = !ranges && range_left_out(x);
}

/* Prefix lengths hashed: IPv4 /16 or /24 (nothing below /16), IPv6 /32
 * or /64. Few shapes keep the probes per lookup few; /24 keeps a packet
 * from landing in the bucket of every service of its /16 (a near miss
 * that costs two cache misses to reject). The exact prefix is checked on
 * the candidate. */
static unsigned quantize(unsigned plen, unsigned alen)
{
	if (alen == 4)
		return plen >= 24 ? 24 : plen >= 16 ? 16 : 0;
	return plen >= 64 ? 64 : plen >= 32 ? 32 : 0;
}

static int entries_push(struct weir__tss_entries *v, const struct entry *e)
{
	if (v->n == v->cap) {
		uint32_t cap = v->cap ? v->cap * 2 : 256;
		struct entry *ne = realloc(v->e, sizeof(*ne) * cap);

		if (!ne)
			return -ENOMEM;
		v->e = ne;
		v->cap = cap;
	}
	v->e[v->n++] = *e;
	return 0;
}

/* A port field's pre-check when it is not hashed: the hull of its
 * intervals, or nothing (0..65535). */
static void port_hull(const struct port_ivs *iv, uint16_t *lo, uint16_t *hi)
{
	*lo = iv->n ? iv->v[0].lo : 0;
	*hi = iv->n ? iv->v[iv->n - 1].hi : 0xffff;
}

/* A hashed port: its piece is the key and the record's range, which
 * implies the key (the piece lies in one block of the level). */
static void pick_port(const struct alts *as, const struct alt *a,
		      uint8_t *q, uint16_t *key, uint16_t *lo, uint16_t *hi)
{
	*q = as->q;
	*key = a->lo;
	*lo = a->lo;
	*hi = a->hi;
}

static void pick_addr(const struct alt *a, unsigned alen, uint8_t *q,
		      uint8_t *key, uint8_t *plen, uint8_t *addr)
{
	*q = (uint8_t)quantize(a->plen, alen);
	memcpy(key, a->addr, alen);
	*plen = a->plen;
	memcpy(addr, a->addr, alen);
}

/* Whether a port field's checks on the candidate are the whole field:
 * its pieces (each a part of the union, together all of it) or its one
 * interval. A 0..65535 pre-check is no check at all, so it would skip
 * the field's presence: not covered. */
static bool port_covered(const struct alts *as, const struct port_ivs *iv)
{
	return as->n || (iv->n == 1 && (iv->v[0].lo || iv->v[0].hi != 0xffff));
}

/* Whether the candidate's own checks (the picked key values, exact
 * prefixes and the port ranges) say everything the filter says, so a
 * lookup need not read the filter at all. */
static bool covered(const struct weir__filter *f, const struct expand *x)
{
	const struct alts *as = x->as;

	/* A /0 alternative leaves the candidate without an address check,
	 * and so without the field's presence check. */
	for (int a = A_SRC; a <= A_DST; a++)
		for (uint32_t i = 0; i < as[a].n; i++)
			if (!as[a].a[i].plen)
				return false;
	for (uint32_t g = 0; g < f->ngroup; g++) {
		switch (f->groups[g].field) {
		case WEIR_FIELD_IP_SRC:
			if (!as[A_SRC].n)
				return false;
			break;
		case WEIR_FIELD_IP_DST:
			if (!as[A_DST].n)
				return false;
			break;
		case WEIR_FIELD_IP_PROTO:
			if (!as[A_PROTO].n)
				return false;
			break;
		case WEIR_FIELD_SRC_PORT:
			if (!port_covered(&as[A_SPORT], &x->port[0]))
				return false;
			break;
		case WEIR_FIELD_DST_PORT:
			if (!port_covered(&as[A_DPORT], &x->port[1]))
				return false;
			break;
		default:
			return false;
		}
	}
	return true;
}

/* The entry for combination number `k` of the alternatives. */
static void make_entry(const struct weir__filter *f, const struct expand *x,
		       uint64_t k, unsigned alen, uint32_t rank,
		       struct entry *e)
{
	const struct alts *as = x->as;
	const struct alt *pick[A_N] = { 0 };
	struct cand *c = &e->cand;
	union tkey m;

	memset(e, 0, sizeof(*e));
	for (int i = 0; i < A_N; i++) {
		if (!as[i].n)
			continue;
		pick[i] = &as[i].a[k % as[i].n];
		k /= as[i].n;
	}
	if (pick[A_SRC])
		pick_addr(pick[A_SRC], alen, &e->sh.src_q, e->key.f.src,
			  &c->src_plen, c->src);
	if (pick[A_DST])
		pick_addr(pick[A_DST], alen, &e->sh.dst_q, e->key.f.dst,
			  &c->dst_plen, c->dst);
	if (pick[A_PROTO]) {
		e->sh.kf |= KF_PROTO;
		e->key.f.proto = (uint8_t)pick[A_PROTO]->lo;
	}
	port_hull(&x->port[0], &c->sport_lo, &c->sport_hi);
	port_hull(&x->port[1], &c->dport_lo, &c->dport_hi);
	if (pick[A_SPORT])
		pick_port(&as[A_SPORT], pick[A_SPORT], &e->sh.sport_q,
			  &e->key.f.sport, &c->sport_lo, &c->sport_hi);
	if (pick[A_DPORT])
		pick_port(&as[A_DPORT], pick[A_DPORT], &e->sh.dport_q,
			  &e->key.f.dport, &c->dport_lo, &c->dport_hi);
	shape_mask(&e->sh, alen, &m);
	key_and(&e->key, &m);
	c->rank = rank;
	c->complete = covered(f, x);
	c->ranged = x->ranged;
}

int weir__tss_expand(const struct weir__filter *f, uint32_t rank,
		     unsigned alen, bool ranges,
		     struct weir__tss_entries *out)
{
	struct expand x;
	struct entry e;
	uint64_t n;

	filter_alts(f, alen, ranges, &x);
	n = combos(x.as);
	for (uint64_t k = 0; k < n; k++) {
		make_entry(f, &x, k, alen, rank, &e);
		if (entries_push(out, &e) < 0)
			return -ENOMEM;
	}
	return 0;
}
