/* Disjunctive normal form: an and/or tree with `not` pushed down becomes
 * alternatives (conjunctions) of one value set per field. ANDed tests on
 * one field intersect; alternatives that differ in one field only merge
 * into one (their sets unite); an alternative inside another goes.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "policy/policy_internal.h"

static int oom(struct weir__ectx *cx)
{
	return weir__oom(cx->lx->src, cx->lx->prev);
}

static int key_cmp(const struct weir__key *a, const struct weir__key *b)
{
	if (a->field != b->field)
		return a->field < b->field ? -1 : 1;
	if (a->offset != b->offset)
		return a->offset < b->offset ? -1 : 1;
	if (a->width != b->width)
		return a->width < b->width ? -1 : 1;
	return 0;
}

static const struct weir__term *find(const struct weir__conj *c,
				     const struct weir__key *k)
{
	for (uint32_t i = 0; i < c->n; i++)
		if (!key_cmp(&c->t[i].key, k))
			return &c->t[i];
	return NULL;
}

static int dnf_alloc(struct weir__ectx *cx, uint32_t cap, struct weir__dnf *d)
{
	d->n = 0;
	d->c = weir__calloc(cx->tmp, cap ? cap : 1, sizeof(*d->c));
	return d->c ? 0 : oom(cx);
}

static int too_complex(struct weir__ectx *cx, const struct weir__node *n)
{
	return weir__error(cx->lx->src, n->loc, "expression too complex: it "
			   "expands to more than %d alternatives",
			   WEIR__DNF_MAX);
}

static int cant_express(struct weir__ectx *cx, const struct weir__atom *at)
{
	return weir__error(cx->lx->src, at->loc, "cannot express this test "
			   "on %s: a name pattern would need an exception "
			   "for a name it covers", at->fd->name);
}

/* ---- one conjunction --------------------------------------------------- */

/* x AND y into *ret; ret->n = UINT32_MAX when it can never hold. */
static int conj_and(struct weir__ectx *cx, const struct weir__conj *x,
		    const struct weir__conj *y, struct weir__conj *ret)
{
	uint32_t i = 0, j = 0;
	struct weir__term *t;

	ret->n = UINT32_MAX;
	if (x->family && y->family && x->family != y->family)
		return 0;
	t = weir__calloc(cx->tmp, (size_t)x->n + y->n + 1, sizeof(*t));
	if (!t)
		return oom(cx);
	ret->t = t;
	ret->family = x->family ? x->family : y->family;
	ret->n = 0;
	while (i < x->n || j < y->n) {
		int c = i == x->n ? 1 : j == y->n ? -1
			: key_cmp(&x->t[i].key, &y->t[j].key);
		int err;

		if (c) {
			t[ret->n++] = c < 0 ? x->t[i++] : y->t[j++];
			continue;
		}
		t[ret->n] = y->t[j];
		err = weir__vset_and(cx->tmp, &x->t[i].set, &y->t[j].set,
				     &t[ret->n].set);
		if (err == -EDOM)
			return cant_express(cx, y->t[j].atom);
		if (err < 0)
			return oom(cx);
		i++, j++;
		if (weir__vset_empty(&t[ret->n].set)) {
			ret->n = UINT32_MAX;
			return 0;
		}
		if (!weir__vset_full(&t[ret->n].set))
			ret->n++;
	}
	return 0;
}

/* Every packet x matches, y matches. */
static bool conj_subset(const struct weir__conj *x, const struct weir__conj *y)
{
	if (y->family && y->family != x->family)
		return false;
	for (uint32_t i = 0; i < y->n; i++) {
		const struct weir__term *t = find(x, &y->t[i].key);

		if (!t || !weir__vset_subset(&t->set, &y->t[i].set))
			return false;
	}
	return true;
}

/* The one key x and y differ in, or NULL when they differ in none or
 * several; *ret_diff counts. */
static const struct weir__key *diff_key(const struct weir__conj *x,
					const struct weir__conj *y,
					int *ret_diff)
{
	const struct weir__key *k = NULL;

	*ret_diff = 0;
	for (uint32_t i = 0; i < x->n && *ret_diff < 2; i++) {
		const struct weir__term *t = find(y, &x->t[i].key);

		if (!t || !weir__vset_equal(&t->set, &x->t[i].set)) {
			k = &x->t[i].key;
			++*ret_diff;
		}
	}
	for (uint32_t i = 0; i < y->n && *ret_diff < 2; i++)
		if (!find(x, &y->t[i].key)) {
			k = &y->t[i].key;
			++*ret_diff;
		}
	return *ret_diff == 1 ? k : NULL;
}

/* Moves the last of t[0..n) back to its place in key order. */
static void sort_last(struct weir__term *t, uint32_t n)
{
	for (uint32_t i = n - 1;
	     i > 0 && key_cmp(&t[i - 1].key, &t[i].key) > 0; i--) {
		struct weir__term tmp = t[i];

		t[i] = t[i - 1];
		t[i - 1] = tmp;
	}
}

/* x OR y as one conjunction when they differ in one field; 1 if not. */
static int conj_merge(struct weir__ectx *cx, const struct weir__conj *x,
		      const struct weir__conj *y, struct weir__conj *ret)
{
	const struct weir__key *k;
	const struct weir__term *tx, *ty;
	struct weir__term *t;
	int diff, err;

	if (x->family != y->family)
		return 1;
	k = diff_key(x, y, &diff);
	tx = k ? find(x, k) : NULL;
	ty = k ? find(y, k) : NULL;
	if (!k)
		return 1;
	t = weir__calloc(cx->tmp, x->n + 1, sizeof(*t));
	if (!t)
		return oom(cx);
	*ret = (struct weir__conj){ .family = x->family, .t = t };
	for (uint32_t i = 0; i < x->n; i++)
		if (key_cmp(&x->t[i].key, k))
			t[ret->n++] = x->t[i];
	if (!tx || !ty)
		return 0; /* one side does not test it: the union is all */
	t[ret->n] = *tx;
	err = weir__vset_or(cx->tmp, &tx->set, &ty->set, &t[ret->n].set);
	if (err == -EDOM)
		return 1;
	if (err < 0)
		return oom(cx);
	if (!weir__vset_full(&t[ret->n].set))
		sort_last(t, ++ret->n);
	return 0;
}

/* ---- simplification ---------------------------------------------------- */

static void drop(struct weir__dnf *d, uint32_t i)
{
	memmove(&d->c[i], &d->c[i + 1], (d->n - i - 1) * sizeof(*d->c));
	d->n--;
}

/* What x OR y is as one conjunction: 0 when *ret holds it, 1 if they
 * stay apart. */
static int conj_or(struct weir__ectx *cx, const struct weir__conj *x,
		   const struct weir__conj *y, struct weir__conj *ret)
{
	if (conj_subset(y, x)) {
		*ret = *x;
		return 0;
	}
	if (conj_subset(x, y)) {
		*ret = *y;
		return 0;
	}
	return conj_merge(cx, x, y, ret);
}

/* Merges pairs until no pair merges. */
static int simplify(struct weir__ectx *cx, struct weir__dnf *d)
{
	bool changed = true;

	while (changed) {
		changed = false;
		for (uint32_t i = 0; i < d->n; i++) {
			uint32_t j = i + 1;

			while (j < d->n) {
				struct weir__conj m;
				int r = conj_or(cx, &d->c[i], &d->c[j], &m);

				if (r < 0)
					return r;
				if (r > 0) {
					j++;
					continue;
				}
				d->c[i] = m;
				drop(d, j);
				j = i + 1;
				changed = true;
			}
		}
	}
	return 0;
}

/* ---- building ---------------------------------------------------------- */

static int build(struct weir__ectx *cx, const struct weir__node *n,
		 struct weir__dnf *ret);

static int leaf(struct weir__ectx *cx, const struct weir__node *n,
		struct weir__dnf *ret)
{
	struct weir__conj *c;

	if (dnf_alloc(cx, 1, ret) < 0)
		return -ENOMEM;
	if (n->kind == NK_FALSE ||
	    (n->kind == NK_ATOM && weir__vset_empty(&n->atom.set)))
		return 0;
	c = &ret->c[ret->n++];
	c->family = n->kind == NK_FAMILY ? n->family
		    : n->kind == NK_ATOM ? n->atom.family : 0;
	if (n->kind != NK_ATOM || weir__vset_full(&n->atom.set))
		return 0;
	c->t = weir__calloc(cx->tmp, 1, sizeof(*c->t));
	if (!c->t)
		return oom(cx);
	c->n = 1;
	c->t->key = n->atom.key;
	c->t->family = n->atom.family;
	c->t->set = n->atom.set;
	c->t->atom = &n->atom;
	return 0;
}

static int build_or(struct weir__ectx *cx, const struct weir__node *n,
		    struct weir__dnf *ret)
{
	struct weir__dnf acc = { 0 }, kid, both;

	for (uint32_t k = 0; k < n->n; k++) {
		if (build(cx, n->kids[k], &kid) < 0)
			return -EINVAL;
		if ((size_t)acc.n + kid.n > WEIR__DNF_MAX)
			return too_complex(cx, n);
		if (dnf_alloc(cx, acc.n + kid.n, &both) < 0)
			return -ENOMEM;
		if (acc.n)
			memcpy(both.c, acc.c, acc.n * sizeof(*acc.c));
		if (kid.n)
			memcpy(both.c + acc.n, kid.c, kid.n * sizeof(*kid.c));
		both.n = acc.n + kid.n;
		if (simplify(cx, &both) < 0)
			return -EINVAL;
		acc = both;
	}
	*ret = acc;
	return 0;
}

static int product(struct weir__ectx *cx, const struct weir__node *n,
		   const struct weir__dnf *x, const struct weir__dnf *y,
		   struct weir__dnf *ret)
{
	if ((uint64_t)x->n * y->n > WEIR__DNF_MAX)
		return too_complex(cx, n);
	if (dnf_alloc(cx, x->n * y->n, ret) < 0)
		return -ENOMEM;
	for (uint32_t i = 0; i < x->n; i++)
		for (uint32_t j = 0; j < y->n; j++) {
			struct weir__conj *c = &ret->c[ret->n];

			if (conj_and(cx, &x->c[i], &y->c[j], c) < 0)
				return -EINVAL;
			if (c->n != UINT32_MAX)
				ret->n++;
		}
	return simplify(cx, ret);
}

static int build_and(struct weir__ectx *cx, const struct weir__node *n,
		     struct weir__dnf *ret)
{
	struct weir__dnf acc, kid, next;

	if (build(cx, n->kids[0], &acc) < 0)
		return -EINVAL;
	for (uint32_t k = 1; k < n->n; k++) {
		if (build(cx, n->kids[k], &kid) < 0 ||
		    product(cx, n, &acc, &kid, &next) < 0)
			return -EINVAL;
		acc = next;
	}
	*ret = acc;
	return 0;
}

static int build(struct weir__ectx *cx, const struct weir__node *n,
		 struct weir__dnf *ret)
{
	if (n->kind == NK_OR)
		return build_or(cx, n, ret);
	if (n->kind == NK_AND)
		return build_and(cx, n, ret);
	return leaf(cx, n, ret);
}

/* ---- implied protocols ------------------------------------------------- */

/* The protocol without which a field is absent (TCP flags, ICMP type and
 * code), or 0. */
static uint8_t proto_of(const struct weir__conj *c, uint16_t *ret_i)
{
	for (uint16_t i = 0; i < c->n; i++) {
		uint16_t f = c->t[i].key.field;

		*ret_i = i;
		if (f == WEIR_FIELD_TCP_FLAGS)
			return 6;
		if (f == WEIR_FIELD_ICMP_TYPE || f == WEIR_FIELD_ICMP_CODE)
			return c->family == AF_INET6 ? 58 : 1;
	}
	return 0;
}

/* A test on such a field holds only for its protocol (`not tcp.flags has
 * syn` leaves "flags without syn", which only TCP has): the protocol test
 * is added. The engine matches the same packets, and every filter can be
 * written back in the language, where tcp.flags and icmp.* imply their
 * protocol. c->n = UINT32_MAX when the result never holds. */
static int add_proto(struct weir__ectx *cx, struct weir__conj *c)
{
	struct weir__atom *at;
	struct weir__conj pc = { .family = c->family, .n = 1 }, out;
	uint16_t i = 0;
	uint8_t proto = proto_of(c, &i);

	if (!proto)
		return 0;
	at = weir__alloc(cx->tmp, sizeof(*at));
	pc.t = weir__alloc(cx->tmp, sizeof(*pc.t));
	if (!at || !pc.t)
		return oom(cx);
	at->fd = weir__field_find("ip.proto", 8);
	at->key.field = WEIR_FIELD_IP_PROTO;
	at->family = c->family;
	at->loc = c->t[i].atom->loc;
	if (weir__vset_range(cx->tmp, weir__u128_num(proto),
			     weir__u128_num(proto), weir__u128_num(255),
			     &at->set) < 0)
		return oom(cx);
	*pc.t = (struct weir__term){ .key = at->key, .family = c->family,
				     .set = at->set, .atom = at };
	if (conj_and(cx, c, &pc, &out) < 0)
		return -EINVAL;
	*c = out;
	return 0;
}

int weir__dnf_build(struct weir__ectx *cx, const struct weir__node *nnf,
		    struct weir__dnf *ret)
{
	uint32_t k = 0;

	if (build(cx, nnf, ret) < 0)
		return -EINVAL;
	for (uint32_t i = 0; i < ret->n; i++) {
		if (add_proto(cx, &ret->c[i]) < 0)
			return -EINVAL;
		if (ret->c[i].n != UINT32_MAX)
			ret->c[k++] = ret->c[i];
	}
	ret->n = k;
	return simplify(cx, ret);
}
