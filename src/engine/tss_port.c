/* Tuple-space classifier, build side: port fields as intervals, and the
 * pieces a port field is hashed on.
 *
 * A port field is hashed on its top q bits, q one of 16, 12, 8 or 4
 * (blocks of 1, 16, 256 or 4096 ports): the classic TSS treatment of
 * ranges (a range as its covering prefixes), with the prefix lengths
 * quantized as the addresses' are, so that a policy has few shapes. The
 * field's intervals are cut at the block edges; each piece is one
 * alternative, keyed on its block, and its record checks the piece,
 * which lies in the block, so the check still implies the key.
 *
 * The level is the finest at which the field has at most PORT_PIECES
 * pieces: a 6-port range is 6 exact ports, a 100-port one about 7 blocks
 * of 16. Filters on one address that differ by their (disjoint) ranges
 * then fall under different keys, and a packet's run holds the few whose
 * ranges share its block, not all of them.
 */
#include "engine/tss.h"

/* More pieces cost entries (memory, build time); fewer a coarser level,
 * where more filters share a block. */
#define PORT_PIECES 8

static const uint8_t levels[] = { 16, 12, 8, 4 };

/* The interval of one condition, false when it is none (or reaches past
 * the 16-bit port, which a packet's port never does: kept unhashed, the
 * reference matcher decides). */
static bool cond_iv(uint8_t match, const struct weir_val *v, uint64_t *lo,
		    uint64_t *hi)
{
	switch (match) {
	case WEIR_MATCH_EQ:
		*lo = *hi = v->lo;
		break;
	case WEIR_MATCH_RANGE:
		*lo = v->lo;
		*hi = v->hi;
		break;
	case WEIR_MATCH_LE:
		*lo = 0;
		*hi = v->lo;
		break;
	case WEIR_MATCH_LT:
		if (!v->lo)
			return false;
		*lo = 0;
		*hi = v->lo - 1;
		break;
	case WEIR_MATCH_GE:
		*lo = v->lo;
		*hi = 0xffff;
		break;
	case WEIR_MATCH_GT:
		if (v->lo >= 0xffff)
			return false;
		*lo = v->lo + 1;
		*hi = 0xffff;
		break;
	default:
		return false;
	}
	return *lo <= *hi && *hi <= 0xffff;
}

static bool iv_push(struct port_ivs *iv, uint64_t lo, uint64_t hi)
{
	if (iv->n == MAX_ALT || lo > hi || hi > 0xffff)
		return false;
	iv->v[iv->n].lo = (uint16_t)lo;
	iv->v[iv->n++].hi = (uint16_t)hi;
	return true;
}

static bool cond_ivs(const struct weir__cond *c, struct port_ivs *iv)
{
	uint64_t lo, hi;

	if (c->match != WEIR_MATCH_IN_SET)
		return cond_iv(c->match, &c->v, &lo, &hi) &&
		       iv_push(iv, lo, hi);
	for (uint32_t k = 0; k < c->set_len; k++) {
		const struct weir_val *m = &c->set[k];

		/* A set member is a single value (hi < lo) or a range. */
		if (!iv_push(iv, m->lo, m->hi < m->lo ? m->lo : m->hi))
			return false;
	}
	return true;
}

/* Sorts by lo and merges overlapping or adjacent intervals: the union,
 * with as few intervals (and so pieces) as it takes. */
static void iv_merge(struct port_ivs *iv)
{
	uint32_t out = 0;

	for (uint32_t i = 1; i < iv->n; i++)
		for (uint32_t j = i; j && iv->v[j].lo < iv->v[j - 1].lo; j--) {
			struct port_iv t = iv->v[j];

			iv->v[j] = iv->v[j - 1];
			iv->v[j - 1] = t;
		}
	for (uint32_t i = 0; i < iv->n; i++) {
		if (out && (uint32_t)iv->v[out - 1].hi + 1 >= iv->v[i].lo) {
			if (iv->v[i].hi > iv->v[out - 1].hi)
				iv->v[out - 1].hi = iv->v[i].hi;
			continue;
		}
		iv->v[out++] = iv->v[i];
	}
	iv->n = out;
	iv->points = true;
	for (uint32_t i = 0; i < out; i++)
		iv->points &= iv->v[i].lo == iv->v[i].hi;
}

void weir__tss_port_ivs(const struct weir__filter *f, uint16_t field,
			struct port_ivs *iv)
{
	const struct weir__group *gr = NULL;
	bool ok;

	for (uint32_t g = 0; g < f->ngroup && !gr; g++)
		if (f->groups[g].field == field)
			gr = &f->groups[g];
	iv->n = 0;
	ok = gr != NULL;
	for (uint16_t i = 0; ok && i < gr->count; i++)
		ok = cond_ivs(&f->conds[gr->first + i], iv);
	if (!ok)
		iv->n = 0;
	iv_merge(iv);
}

/* The pieces of iv at level q, counted (all of them) and stored in as
 * (as many as fit; as may be NULL). */
static uint32_t pieces(const struct port_ivs *iv, unsigned q,
		       struct alts *as)
{
	unsigned s = 16 - q;
	uint32_t n = 0;

	for (uint32_t i = 0; i < iv->n; i++) {
		uint32_t lo = iv->v[i].lo, hi = iv->v[i].hi;

		for (uint32_t b = lo >> s; b <= hi >> s; b++, n++) {
			uint32_t start = b << s, end = start + (1u << s) - 1;

			if (!as || n >= MAX_ALT)
				continue;
			memset(&as->a[n], 0, sizeof(as->a[n]));
			as->a[n].lo = (uint16_t)(lo > start ? lo : start);
			as->a[n].hi = (uint16_t)(hi < end ? hi : end);
		}
	}
	return n;
}

unsigned weir__tss_port_level(const struct port_ivs *iv, unsigned below,
			      bool ranges)
{
	for (size_t i = 0; iv->n && i < sizeof(levels); i++) {
		unsigned q = levels[i];
		uint32_t n;

		if (q >= below)
			continue;
		/* Exact ports alone are hashed as they always were: one
		 * entry each (up to the expansion's limit), else none. */
		if (!ranges)
			return q == 16 && iv->points &&
			       pieces(iv, q, NULL) <= MAX_ALT ? q : 0;
		n = pieces(iv, q, NULL);
		if (n <= PORT_PIECES || (q == 16 && iv->points && n <= MAX_ALT))
			return q;
	}
	return 0;
}

void weir__tss_port_pieces(const struct port_ivs *iv, unsigned q,
			   struct alts *as)
{
	uint32_t n = q ? pieces(iv, q, as) : 0;

	as->q = (uint8_t)q;
	as->n = n <= MAX_ALT ? n : 0;
	if (!as->n)
		as->q = 0;
}
