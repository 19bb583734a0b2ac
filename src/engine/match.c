/* Condition matching: one condition against one packet's field values,
 * and a whole filter (AND over fields, OR within a field). This is the
 * reference semantics; the compiled classifier calls it to confirm its
 * candidates, and the linear evaluator calls it for every filter.
 */
#include <string.h>
#include <sys/socket.h>

#include "engine/engine_internal.h"

static bool num_cmp(uint8_t match, uint64_t x, const struct weir_val *v)
{
	switch (match) {
	case WEIR_MATCH_EQ:
		return x == v->lo;
	case WEIR_MATCH_NE:
		return x != v->lo;
	case WEIR_MATCH_LT:
		return x < v->lo;
	case WEIR_MATCH_LE:
		return x <= v->lo;
	case WEIR_MATCH_GT:
		return x > v->lo;
	case WEIR_MATCH_GE:
		return x >= v->lo;
	case WEIR_MATCH_RANGE:
		return x >= v->lo && x <= v->hi;
	case WEIR_MATCH_FLAGS_ALL:
		return (x & v->lo) == v->lo;
	case WEIR_MATCH_FLAGS_ANY:
		return (x & v->lo) != 0;
	case WEIR_MATCH_FLAGS_NONE:
		return (x & v->lo) == 0;
	default:
		return false;
	}
}

/* A set member is a single value (hi < lo) or a range. */
static bool num_in_set(uint64_t x, const struct weir_val *set, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		const struct weir_val *m = &set[i];

		if (m->hi < m->lo ? x == m->lo : x >= m->lo && x <= m->hi)
			return true;
	}
	return false;
}

static bool prefix_eq(const uint8_t *a, const uint8_t *p, unsigned plen)
{
	unsigned bytes = plen / 8, bits = plen % 8;

	if (memcmp(a, p, bytes))
		return false;
	if (!bits)
		return true;
	return ((a[bytes] ^ p[bytes]) & (uint8_t)(0xff00u >> bits)) == 0;
}

static bool addr_match(const struct weir__cond *c, const uint8_t *a,
		       unsigned alen)
{
	int cmp = memcmp(a, c->v.addr, alen);

	switch (c->match) {
	case WEIR_MATCH_PREFIX:
		return prefix_eq(a, c->v.addr, c->v.plen);
	case WEIR_MATCH_IN_SET:
		for (uint32_t i = 0; i < c->set_len; i++)
			if (prefix_eq(a, c->set[i].addr, c->set[i].plen))
				return true;
		return false;
	case WEIR_MATCH_EQ:
		return cmp == 0;
	case WEIR_MATCH_NE:
		return cmp != 0;
	case WEIR_MATCH_LT: /* addresses order as big-endian numbers */
		return cmp < 0;
	case WEIR_MATCH_LE:
		return cmp <= 0;
	case WEIR_MATCH_GT:
		return cmp > 0;
	case WEIR_MATCH_GE:
		return cmp >= 0;
	default:
		return false;
	}
}

/* Names compare exactly, or as a prefix when the value ends in '*'. */
static bool str_eq(const char *s, const struct weir_val *v)
{
	size_t n = v->len;

	if (n && v->bytes[n - 1] == '*')
		return strncmp(s, (const char *)v->bytes, n - 1) == 0;
	return strlen(s) == n && memcmp(s, v->bytes, n) == 0;
}

static bool str_match(const struct weir__cond *c, const char *s)
{
	if (c->match == WEIR_MATCH_IN_SET) {
		for (uint32_t i = 0; i < c->set_len; i++)
			if (str_eq(s, &c->set[i]))
				return true;
		return false;
	}
	return str_eq(s, &c->v) == (c->match == WEIR_MATCH_EQ);
}

static bool bytes_match(const struct weir__cond *c,
			const struct weir_fields *fl)
{
	uint32_t base = c->field == WEIR_FIELD_PAYLOAD ? fl->payload_off : 0;
	uint64_t end = (uint64_t)base + c->offset + (c->width ? c->width
								: c->v.len);
	const uint8_t *p;
	uint64_t x = 0;

	if (!fl->packet || end > fl->packet_len)
		return false; /* too short: no match, NE included */
	p = fl->packet + base + c->offset;
	if (!c->width)
		return (memcmp(p, c->v.bytes, c->v.len) == 0) ==
		       (c->match == WEIR_MATCH_EQ);
	for (unsigned i = 0; i < c->width; i++)
		x = x << 8 | p[i];
	if (c->match == WEIR_MATCH_IN_SET)
		return num_in_set(x, c->set, c->set_len);
	return num_cmp(c->match, x, &c->v);
}

bool weir__cond_matches(const struct weir__cond *c,
			const struct weir_fields *fl)
{
	unsigned alen = fl->family == AF_INET6 ? 16 : 4;
	uint64_t x;

	if (!(fl->present & (1ull << c->field)))
		return false;
	switch (c->field) {
	case WEIR_FIELD_IP_SRC:
		return addr_match(c, fl->src, alen);
	case WEIR_FIELD_IP_DST:
		return addr_match(c, fl->dst, alen);
	case WEIR_FIELD_IF_IN_NAME:
		return str_match(c, fl->if_in_name);
	case WEIR_FIELD_IF_OUT_NAME:
		return str_match(c, fl->if_out_name);
	case WEIR_FIELD_PACKET:
	case WEIR_FIELD_PAYLOAD:
		return bytes_match(c, fl);
	default:
		x = fl->num[c->field];
		if (c->match == WEIR_MATCH_IN_SET)
			return num_in_set(x, c->set, c->set_len);
		return num_cmp(c->match, x, &c->v);
	}
}

bool weir__filter_matches(const struct weir__filter *f,
			  const struct weir_fields *fl)
{
	for (uint32_t g = 0; g < f->ngroup; g++) {
		const struct weir__group *gr = &f->groups[g];
		bool any = false;

		for (uint16_t i = 0; i < gr->count && !any; i++)
			any = weir__cond_matches(&f->conds[gr->first + i], fl);
		if (!any)
			return false;
	}
	return true;
}
