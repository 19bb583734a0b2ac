/* Tuple-space classifier, build side: turns one filter into keyed
 * entries, one per combination of the values its key fields may take.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/tss.h"

/* ---- expansion of one filter into keyed entries --------------------- */

struct alt {          /* one value a key field may take */
	uint8_t addr[16];
	uint8_t plen;
	uint16_t num;
};

struct alts {
	uint32_t n;       /* 0 = wildcard */
	struct alt a[MAX_ALT];
};

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
	as->a[as->n].num = (uint16_t)num;
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

/* Alternatives of a numeric key field: exact values only. */
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

static uint64_t combos(const struct alts *as)
{
	uint64_t n = 1;

	for (int i = 0; i < A_N; i++)
		n *= as[i].n ? as[i].n : 1;
	return n;
}

/* Fills the alternatives of the five key fields, widening the field with
 * the most alternatives to a wildcard until the product is small. */
static void filter_alts(const struct weir__filter *f, unsigned alen,
			struct alts *as)
{
	addr_alts(f, WEIR_FIELD_IP_SRC, alen, &as[A_SRC]);
	addr_alts(f, WEIR_FIELD_IP_DST, alen, &as[A_DST]);
	num_alts(f, WEIR_FIELD_IP_PROTO, 255, &as[A_PROTO]);
	num_alts(f, WEIR_FIELD_SRC_PORT, 65535, &as[A_SPORT]);
	num_alts(f, WEIR_FIELD_DST_PORT, 65535, &as[A_DPORT]);
	while (combos(as) > MAX_EXPAND) {
		int big = 0;

		for (int i = 1; i < A_N; i++)
			if (as[i].n > as[big].n)
				big = i;
		as[big].n = 0;
	}
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

/* The range of a port field when it is one EQ or RANGE condition, for
 * the candidate's pre-check; anything else checks nothing there. */
static void port_range(const struct weir__filter *f, uint16_t field,
		       uint16_t *lo, uint16_t *hi)
{
	const struct weir__group *g = group_of(f, field);
	const struct weir__cond *c;

	*lo = 0;
	*hi = 0xffff;
	if (!g || g->count != 1)
		return;
	c = &f->conds[g->first];
	if (c->match == WEIR_MATCH_EQ && c->v.lo <= 0xffff)
		*lo = *hi = (uint16_t)c->v.lo;
	else if (c->match == WEIR_MATCH_RANGE && c->v.lo <= c->v.hi &&
		 c->v.hi <= 0xffff) {
		*lo = (uint16_t)c->v.lo;
		*hi = (uint16_t)c->v.hi;
	}
}

static void pick_addr(const struct alt *a, unsigned alen, uint8_t *q,
		      uint8_t *key, uint8_t *plen, uint8_t *addr)
{
	*q = (uint8_t)quantize(a->plen, alen);
	memcpy(key, a->addr, alen);
	*plen = a->plen;
	memcpy(addr, a->addr, alen);
}

/* Whether the candidate's own checks (the picked key values, exact
 * prefixes and the port ranges) say everything the filter says, so a
 * lookup need not read the filter at all. */
static bool covered(const struct weir__filter *f, const struct alts *as)
{
	/* A /0 alternative leaves the candidate without an address check,
	 * and so without the field's presence check. */
	for (int a = A_SRC; a <= A_DST; a++)
		for (uint32_t i = 0; i < as[a].n; i++)
			if (!as[a].a[i].plen)
				return false;
	for (uint32_t g = 0; g < f->ngroup; g++) {
		const struct weir__group *gr = &f->groups[g];
		const struct weir__cond *c = &f->conds[gr->first];
		/* A candidate's 0..65535 range means "no check", which
		 * would skip the field's presence: not covered. */
		bool one_range = gr->count == 1 &&
				 (c->match == WEIR_MATCH_EQ ||
				  (c->match == WEIR_MATCH_RANGE &&
				   c->v.lo <= c->v.hi && c->v.hi <= 0xffff &&
				   (c->v.lo || c->v.hi != 0xffff))) &&
				 c->v.lo <= 0xffff;

		switch (gr->field) {
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
			if (!as[A_SPORT].n && !one_range)
				return false;
			break;
		case WEIR_FIELD_DST_PORT:
			if (!as[A_DPORT].n && !one_range)
				return false;
			break;
		default:
			return false;
		}
	}
	return true;
}

/* The entry for combination number `k` of the alternatives. */
static void make_entry(const struct weir__filter *f, const struct alts *as,
		       uint64_t k, unsigned alen, uint32_t rank,
		       struct entry *e)
{
	const struct alt *pick[A_N] = { 0 };
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
			  &e->cand.src_plen, e->cand.src);
	if (pick[A_DST])
		pick_addr(pick[A_DST], alen, &e->sh.dst_q, e->key.f.dst,
			  &e->cand.dst_plen, e->cand.dst);
	if (pick[A_PROTO]) {
		e->sh.kf |= KF_PROTO;
		e->key.f.proto = (uint8_t)pick[A_PROTO]->num;
	}
	port_range(f, WEIR_FIELD_SRC_PORT, &e->cand.sport_lo, &e->cand.sport_hi);
	port_range(f, WEIR_FIELD_DST_PORT, &e->cand.dport_lo, &e->cand.dport_hi);
	/* A keyed port is also the candidate's one-value range: the table
	 * compares no keys, the candidate's checks imply them. */
	if (pick[A_SPORT]) {
		e->sh.kf |= KF_SPORT;
		e->key.f.sport = pick[A_SPORT]->num;
		e->cand.sport_lo = e->cand.sport_hi = pick[A_SPORT]->num;
	}
	if (pick[A_DPORT]) {
		e->sh.kf |= KF_DPORT;
		e->key.f.dport = pick[A_DPORT]->num;
		e->cand.dport_lo = e->cand.dport_hi = pick[A_DPORT]->num;
	}
	shape_mask(&e->sh, alen, &m);
	key_and(&e->key, &m);
	e->cand.rank = rank;
	e->cand.complete = covered(f, as);
}

int weir__tss_expand(const struct weir__filter *f, uint32_t rank,
		     unsigned alen, struct weir__tss_entries *out)
{
	struct alts as[A_N];
	struct entry e;
	uint64_t n;

	filter_alts(f, alen, as);
	n = combos(as);
	for (uint64_t k = 0; k < n; k++) {
		make_entry(f, as, k, alen, rank, &e);
		if (entries_push(out, &e) < 0)
			return -ENOMEM;
	}
	return 0;
}
