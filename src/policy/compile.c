/* From normal form to engine conditions: each alternative that applies to
 * a layer becomes one condition list, each field's value set the fewest
 * conditions that say it (== != < <= > >= range, prefix, flag tests, or a
 * set), since the engine ORs conditions on one field.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "policy/policy_internal.h"

/* The engine's largest set (weir_filter_spec_check()): members of a
 * numeric set, prefixes of an address test. */
#define SET_MAX 65536
#define PREFIX_MAX SET_MAX

/* A growing condition list of one alternative. */
struct cvec {
	struct weir__arena *a;
	struct weir_cond *c;
	uint32_t n, cap;
};

static struct weir_cond *cond_add(struct cvec *v, const struct weir__term *t,
				  uint8_t match)
{
	struct weir_cond *c;

	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 4;
		v->c = weir__grow(v->a, v->c, v->n, v->cap, sizeof(*v->c));
		if (!v->c)
			return NULL;
	}
	c = &v->c[v->n++];
	memset(c, 0, sizeof(*c));
	c->field = t->key.field;
	c->width = t->key.width;
	c->offset = t->key.offset;
	c->match = match;
	return c;
}

static bool is_zero(struct weir__u128 v)
{
	return !v.hi && !v.lo;
}

static bool same(struct weir__u128 a, struct weir__u128 b)
{
	return !weir__u128_cmp(a, b);
}

/* Everything but one value: [0, a-1] and [a+1, max]. */
static bool co_point(const struct weir__vset *s, struct weir__u128 *ret)
{
	const struct weir__ival *v = s->i.v;

	if (s->i.n == 1 && is_zero(v[0].lo) &&
	    same(weir__u128_add1(v[0].hi), s->max)) {
		*ret = s->max;
		return true;
	}
	if (s->i.n == 1 && same(v[0].hi, s->max) && same(v[0].lo,
							  weir__u128_num(1))) {
		*ret = weir__u128_num(0);
		return true;
	}
	if (s->i.n != 2 || !is_zero(v[0].lo) || !same(v[1].hi, s->max) ||
	    !same(weir__u128_add1(weir__u128_add1(v[0].hi)), v[1].lo))
		return false;
	*ret = weir__u128_add1(v[0].hi);
	return true;
}

/* ---- numbers ----------------------------------------------------------- */

/* Whether the set is exactly {x : pred(x)} for a flag test with mask m. */
static bool flags_are(const struct weir__vset *s, uint8_t match, uint64_t m)
{
	for (uint64_t x = 0; x <= s->max.lo; x++) {
		bool in = match == WEIR_MATCH_FLAGS_ALL ? (x & m) == m :
			  match == WEIR_MATCH_FLAGS_ANY ? (x & m) != 0 :
			  (x & m) == 0;

		if (in != weir__iset_has(&s->i, weir__u128_num(x)))
			return false;
	}
	return true;
}

/* A flag test saying exactly s, or 0. */
static uint8_t flag_match(const struct weir__vset *s, uint64_t *ret_mask)
{
	uint64_t and_in = s->max.lo, or_in = 0, or_out = 0;

	if (s->max.lo > 0xff)
		return 0;
	for (uint64_t x = 0; x <= s->max.lo; x++) {
		if (weir__iset_has(&s->i, weir__u128_num(x))) {
			and_in &= x;
			or_in |= x;
		} else {
			or_out |= x;
		}
	}
	if ((*ret_mask = and_in) && flags_are(s, WEIR_MATCH_FLAGS_ALL, and_in))
		return WEIR_MATCH_FLAGS_ALL;
	if ((*ret_mask = ~or_out & s->max.lo) &&
	    flags_are(s, WEIR_MATCH_FLAGS_ANY, *ret_mask))
		return WEIR_MATCH_FLAGS_ANY;
	if ((*ret_mask = ~or_in & s->max.lo) &&
	    flags_are(s, WEIR_MATCH_FLAGS_NONE, *ret_mask))
		return WEIR_MATCH_FLAGS_NONE;
	return 0;
}

static int num_set(struct cvec *v, const struct weir__term *t)
{
	struct weir_cond *c;
	struct weir_val *m;

	if (t->set.i.n > SET_MAX)
		return -E2BIG;
	c = cond_add(v, t, WEIR_MATCH_IN_SET);
	if (!c)
		return -ENOMEM;
	m = weir__calloc(v->a, t->set.i.n, sizeof(*m));
	if (!m)
		return -ENOMEM;
	for (uint32_t i = 0; i < t->set.i.n; i++) {
		m[i].lo = t->set.i.v[i].lo.lo;
		m[i].hi = t->set.i.v[i].hi.lo;
	}
	c->set = m;
	c->set_len = t->set.i.n;
	return 0;
}

/* The one condition that says s, or WEIR_MATCH_IN_SET when it takes a
 * set. */
static uint8_t num_match(const struct weir__term *t, uint64_t *ret_lo,
			 uint64_t *ret_hi)
{
	const struct weir__vset *s = &t->set;
	const struct weir__ival *iv = s->i.v;
	struct weir__u128 x;
	uint8_t fm;

	*ret_lo = iv[0].lo.lo;
	*ret_hi = iv[0].hi.lo;
	if (s->i.n == 1 && same(iv[0].lo, iv[0].hi))
		return WEIR_MATCH_EQ;
	if (co_point(s, &x)) {
		*ret_lo = x.lo;
		return WEIR_MATCH_NE;
	}
	if (t->atom->fd->kind == VK_FLAGS && (fm = flag_match(s, ret_lo)))
		return fm;
	if (s->i.n != 1)
		return WEIR_MATCH_IN_SET;
	if (is_zero(iv[0].lo)) {
		*ret_lo = iv[0].hi.lo;
		return WEIR_MATCH_LE;
	}
	return same(iv[0].hi, s->max) ? WEIR_MATCH_GE : WEIR_MATCH_RANGE;
}

static int num_conds(struct cvec *v, const struct weir__term *t)
{
	uint64_t lo, hi;
	uint8_t match = num_match(t, &lo, &hi);
	struct weir_cond *c;

	if (match == WEIR_MATCH_IN_SET)
		return num_set(v, t);
	c = cond_add(v, t, match);
	if (!c)
		return -ENOMEM;
	c->v.lo = lo;
	if (match == WEIR_MATCH_RANGE)
		c->v.hi = hi;
	return 0;
}

/* ---- addresses --------------------------------------------------------- */

struct pvec {
	struct weir_val *v;
	uint32_t n, cap;
};

static int prefix_add(struct weir__arena *a, struct pvec *p, int family,
		      struct weir__u128 v, unsigned plen)
{
	if (p->n == PREFIX_MAX)
		return -E2BIG;
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 2; /* most are one prefix */
		p->v = weir__grow(a, p->v, p->n, p->cap, sizeof(*p->v));
		if (!p->v)
			return -ENOMEM;
	}
	memset(&p->v[p->n], 0, sizeof(p->v[0]));
	weir__u128_to_addr(v, family, p->v[p->n].addr);
	p->v[p->n++].plen = (uint8_t)plen;
	return 0;
}

/* [lo, hi] as the fewest prefixes. */
static int cidrs(struct weir__arena *a, struct pvec *p, int family,
		 struct weir__u128 lo, struct weir__u128 hi)
{
	unsigned bits = family == AF_INET ? 32 : 128;

	for (;;) {
		unsigned k = bits;
		struct weir__u128 end;
		int err;

		for (; k > 0; k--) {
			struct weir__u128 m = weir__u128_ones(k);

			if (!(lo.hi & m.hi) && !(lo.lo & m.lo) &&
			    weir__u128_cmp(weir__u128_or(lo, m), hi) <= 0)
				break;
		}
		err = prefix_add(a, p, family, lo, bits - k);
		if (err < 0)
			return err;
		end = weir__u128_or(lo, weir__u128_ones(k));
		if (weir__u128_cmp(end, hi) >= 0)
			return 0;
		lo = weir__u128_add1(end);
	}
}

/* [lo, hi] is one prefix: hi - lo is all ones below some bit, and lo
 * has none of them. */
static bool is_cidr(const struct weir__ival *iv)
{
	struct weir__u128 x = { iv->lo.hi ^ iv->hi.hi, iv->lo.lo ^ iv->hi.lo };
	struct weir__u128 up = weir__u128_add1(x);

	if ((iv->lo.hi & x.hi) || (iv->lo.lo & x.lo))
		return false;
	/* x + 1 must be a power of two (or wrap to 0 for all ones) */
	return !((up.hi & x.hi) || (up.lo & x.lo));
}

static int addr_one(struct cvec *v, const struct weir__term *t,
		    uint8_t match, struct weir__u128 x)
{
	struct weir_cond *c = cond_add(v, t, match);

	if (!c)
		return -ENOMEM;
	weir__u128_to_addr(x, t->family, c->v.addr);
	c->v.plen = t->family == AF_INET ? 32 : 128;
	return 0;
}

static int addr_prefixes(struct cvec *v, const struct weir__term *t,
			 const struct pvec *p)
{
	struct weir_cond *c;

	if (!p->n)
		return 0;
	c = cond_add(v, t, p->n == 1 ? WEIR_MATCH_PREFIX : WEIR_MATCH_IN_SET);
	if (!c)
		return -ENOMEM;
	if (p->n == 1)
		c->v = p->v[0];
	else
		c->set = p->v, c->set_len = p->n;
	if (p->n == 1 && c->v.plen == (t->family == AF_INET ? 32 : 128))
		c->match = WEIR_MATCH_EQ;
	return 0;
}

static int addr_conds(struct cvec *v, const struct weir__term *t)
{
	const struct weir__vset *s = &t->set;
	struct pvec p = { 0 };
	struct weir__u128 x;
	int err = 0;

	if (co_point(s, &x))
		return addr_one(v, t, WEIR_MATCH_NE, x);
	for (uint32_t i = 0; i < s->i.n && !err; i++) {
		const struct weir__ival *iv = &s->i.v[i];

		if (is_cidr(iv))
			err = cidrs(v->a, &p, t->family, iv->lo, iv->hi);
		else if (is_zero(iv->lo))
			err = addr_one(v, t, WEIR_MATCH_LE, iv->hi);
		else if (same(iv->hi, s->max))
			err = addr_one(v, t, WEIR_MATCH_GE, iv->lo);
		else
			err = cidrs(v->a, &p, t->family, iv->lo, iv->hi);
	}
	return err ? err : addr_prefixes(v, t, &p);
}

/* ---- names and byte strings -------------------------------------------- */

static void item_val(const struct weir__term *t, const struct weir__sitem *it,
		     struct weir_val *val)
{
	memset(val, 0, sizeof(*val));
	memcpy(val->bytes, it->b, it->len);
	val->len = it->len;
	if (t->key.field != WEIR_FIELD_PACKET &&
	    t->key.field != WEIR_FIELD_PAYLOAD && it->prefix)
		val->bytes[val->len++] = '*';
}

static int str_conds(struct cvec *v, const struct weir__term *t)
{
	const struct weir__sset *s = &t->set.s;
	bool bytes = t->key.field == WEIR_FIELD_PACKET ||
		     t->key.field == WEIR_FIELD_PAYLOAD;
	struct weir_cond *c;
	struct weir_val *m;

	if (s->neg && s->n > 1)
		return -EDOM;
	if (s->n == 1 || bytes) {
		for (uint32_t i = 0; i < s->n; i++) {
			c = cond_add(v, t, s->neg ? WEIR_MATCH_NE
						  : WEIR_MATCH_EQ);
			if (!c)
				return -ENOMEM;
			item_val(t, &s->v[i], &c->v);
		}
		return 0;
	}
	if (s->n > SET_MAX)
		return -E2BIG;
	c = cond_add(v, t, WEIR_MATCH_IN_SET);
	m = weir__calloc(v->a, s->n, sizeof(*m));
	if (!c || !m)
		return -ENOMEM;
	for (uint32_t i = 0; i < s->n; i++)
		item_val(t, &s->v[i], &m[i]);
	c->set = m;
	c->set_len = s->n;
	return 0;
}

/* ---- alternatives ------------------------------------------------------ */

static int term_error(struct weir__ectx *cx, const struct weir__term *t,
		      int err)
{
	const char *f = t->atom->fd->name;

	if (err == -ENOMEM)
		return weir__oom(cx->lx->src, t->atom->loc);
	if (err == -E2BIG)
		return weir__error(cx->lx->src, t->atom->loc, "the values of "
				   "%s need a set of more than %d members",
				   f, SET_MAX);
	return weir__error(cx->lx->src, t->atom->loc, "cannot express %s "
			   "differing from several values in one filter "
			   "(conditions on one field are ORed)", f);
}

/* The location of whichever test comes later in the text. */
static struct weir__loc later(const struct weir__term *a,
			      const struct weir__term *b)
{
	return a->atom->loc.off > b->atom->loc.off ? a->atom->loc
						    : b->atom->loc;
}

/* Checks what the engine cannot take: a field the layer lacks, two
 * places of the packet (the engine ORs conditions on one field). */
static int check_terms(struct weir__ectx *cx, const struct weir__conj *c,
		       int layer)
{
	uint64_t offered = weir_layer_fields(layer);

	for (uint32_t i = 0; i < c->n; i++) {
		const struct weir__term *t = &c->t[i];

		if (!(offered & (1ull << t->key.field)))
			return weir__error(cx->lx->src, t->atom->loc, "%s is "
					   "not available at layer %s",
					   t->atom->fd->name,
					   weir_layer_name(layer));
		if (i && t->key.field == c->t[i - 1].key.field)
			return weir__error(cx->lx->src, later(t, &c->t[i - 1]),
					   "one "
					   "filter tests one place of the "
					   "packet or payload (conditions on "
					   "one field are ORed)");
	}
	return 0;
}

static int conj_conds(struct weir__ectx *cx, const struct weir__conj *c,
		      struct weir__arena *out, struct weir__clist *ret)
{
	struct cvec v = { .a = out };

	/* Mostly one condition a term: room for that much first (the
	 * arena keeps what growing leaves behind, as long as the policy). */
	if (c->n) {
		v.cap = c->n;
		v.c = weir__calloc(out, v.cap, sizeof(*v.c));
		if (!v.c)
			return term_error(cx, &c->t[0], -ENOMEM);
	}
	for (uint32_t i = 0; i < c->n; i++) {
		const struct weir__term *t = &c->t[i];
		int err = t->set.str ? str_conds(&v, t)
			  : t->atom->fd->kind == VK_ADDR ? addr_conds(&v, t)
			  : num_conds(&v, t);

		if (err < 0)
			return term_error(cx, t, err);
	}
	ret->n = v.n;
	ret->c = v.c;
	return 0;
}

int weir__compile(struct weir__ectx *cx, const struct weir__dnf *d,
		  int layer, struct weir__arena *out,
		  struct weir__clist *lists, uint32_t *nlists)
{
	int family = weir_layer_family(layer);

	for (uint32_t i = 0; i < d->n; i++) {
		const struct weir__conj *c = &d->c[i];

		if (c->family && c->family != family)
			continue;
		if (check_terms(cx, c, layer) < 0 ||
		    conj_conds(cx, c, out, &lists[*nlists]) < 0)
			return -EINVAL;
		++*nlists;
	}
	return 0;
}

/* How many lists the layers need. */
static uint32_t count(const struct weir__dnf *d, const int *layers,
		      int nlayers)
{
	uint32_t n = 0;

	for (int l = 0; l < nlayers; l++)
		for (uint32_t i = 0; i < d->n; i++)
			n += !d->c[i].family ||
			     d->c[i].family == weir_layer_family(layers[l]);
	return n;
}

static int expansion_check(struct weir__ectx *cx, struct weir__loc loc,
			   uint32_t n)
{
	if (!n)
		return weir__error(cx->lx->src, loc, "this expression never "
				   "matches");
	if (n > WEIR__SPECS_MAX)
		return weir__error(cx->lx->src, loc, "this expression needs "
				   "%u filters (at most %d); simplify it or "
				   "split the statement", n, WEIR__SPECS_MAX);
	return 0;
}

int weir__expr_compile(struct weir__ectx *cx, const int *layers,
		       int nlayers, struct weir__arena *out,
		       struct weir__clist **lists, int **list_layers,
		       uint32_t *nlists)
{
	struct weir__loc loc = weir__peek(cx->lx, 0)->loc;
	struct weir__node *tree, *nnf;
	struct weir__dnf d;
	uint32_t n = 0;

	if (weir__expr_parse(cx, &tree) < 0 ||
	    weir__expr_nnf(cx, tree, false, &nnf) < 0 ||
	    weir__dnf_build(cx, nnf, &d) < 0)
		return -EINVAL;
	loc.len = cx->lx->prev.off + cx->lx->prev.len - loc.off;
	if (expansion_check(cx, loc, count(&d, layers, nlayers)) < 0)
		return -EINVAL;
	/* Exactly as many as the layers need: a policy keeps these for
	 * as long as it runs, one set per statement. */
	n = count(&d, layers, nlayers);
	*lists = weir__calloc(out, n, sizeof(**lists));
	*list_layers = weir__calloc(out, n, sizeof(**list_layers));
	n = 0;
	if (!*lists || !*list_layers)
		return weir__oom(cx->lx->src, loc);
	for (int i = 0; i < nlayers; i++) {
		uint32_t before = n;

		if (weir__compile(cx, &d, layers[i], out, *lists, &n) < 0)
			return -EINVAL;
		for (uint32_t k = before; k < n; k++)
			(*list_layers)[k] = layers[i];
	}
	*nlists = n;
	return 0;
}
