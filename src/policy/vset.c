/* Value sets and their algebra: what a field may be, as sorted intervals
 * of numbers (ports, marks, addresses) or as sets of names and byte
 * strings (exact or prefix). AND, OR and NOT of tests on one field become
 * intersection, union and complement here.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy_internal.h"

static const struct weir__u128 ALL = { ~0ull, ~0ull };

/* ---- intervals --------------------------------------------------------- */

static bool is_all(struct weir__u128 v)
{
	return weir__u128_cmp(v, ALL) == 0;
}

/* Appends iv (whose lo is >= the last lo), joining what touches. */
static void push(struct weir__iset *s, struct weir__ival iv)
{
	struct weir__ival *last = s->n ? &s->v[s->n - 1] : NULL;

	if (last && (weir__u128_cmp(iv.lo, last->hi) <= 0 ||
		     (!is_all(last->hi) &&
		      weir__u128_cmp(iv.lo, weir__u128_add1(last->hi)) == 0))) {
		if (weir__u128_cmp(iv.hi, last->hi) > 0)
			last->hi = iv.hi;
		return;
	}
	s->v[s->n++] = iv;
}

static int iset_new(struct weir__arena *a, uint32_t cap, struct weir__iset *s)
{
	s->n = 0;
	s->v = weir__calloc(a, cap ? cap : 1, sizeof(*s->v));
	return s->v ? 0 : -ENOMEM;
}

static int iset_or(struct weir__arena *a, const struct weir__iset *x,
		   const struct weir__iset *y, struct weir__iset *r)
{
	uint32_t i = 0, j = 0;

	if (iset_new(a, x->n + y->n, r) < 0)
		return -ENOMEM;
	while (i < x->n || j < y->n) {
		bool take_x = j == y->n ||
			      (i < x->n &&
			       weir__u128_cmp(x->v[i].lo, y->v[j].lo) <= 0);

		push(r, take_x ? x->v[i++] : y->v[j++]);
	}
	return 0;
}

static int iset_and(struct weir__arena *a, const struct weir__iset *x,
		    const struct weir__iset *y, struct weir__iset *r)
{
	uint32_t i = 0, j = 0;

	if (iset_new(a, x->n + y->n, r) < 0)
		return -ENOMEM;
	while (i < x->n && j < y->n) {
		struct weir__ival iv = x->v[i];

		if (weir__u128_cmp(y->v[j].lo, iv.lo) > 0)
			iv.lo = y->v[j].lo;
		if (weir__u128_cmp(y->v[j].hi, iv.hi) < 0)
			iv.hi = y->v[j].hi;
		if (weir__u128_cmp(iv.lo, iv.hi) <= 0)
			r->v[r->n++] = iv;
		if (weir__u128_cmp(x->v[i].hi, y->v[j].hi) < 0)
			i++;
		else
			j++;
	}
	return 0;
}

static int iset_not(struct weir__arena *a, const struct weir__iset *x,
		    struct weir__u128 max, struct weir__iset *r)
{
	struct weir__u128 cur = weir__u128_num(0);

	if (iset_new(a, x->n + 1, r) < 0)
		return -ENOMEM;
	for (uint32_t i = 0; i < x->n; i++) {
		if (weir__u128_cmp(x->v[i].lo, cur) > 0)
			r->v[r->n++] = (struct weir__ival){
				cur, weir__u128_sub1(x->v[i].lo) };
		if (weir__u128_cmp(x->v[i].hi, max) >= 0)
			return 0;
		cur = weir__u128_add1(x->v[i].hi);
	}
	r->v[r->n++] = (struct weir__ival){ cur, max };
	return 0;
}

/* Every interval of x lies inside one of y (y's never touch). */
static bool iset_subset(const struct weir__iset *x, const struct weir__iset *y)
{
	uint32_t j = 0;

	for (uint32_t i = 0; i < x->n; i++) {
		while (j < y->n && weir__u128_cmp(y->v[j].hi, x->v[i].lo) < 0)
			j++;
		if (j == y->n || weir__u128_cmp(y->v[j].lo, x->v[i].lo) > 0 ||
		    weir__u128_cmp(y->v[j].hi, x->v[i].hi) < 0)
			return false;
	}
	return true;
}

bool weir__iset_has(const struct weir__iset *s, struct weir__u128 v)
{
	uint32_t lo = 0, hi = s->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (weir__u128_cmp(s->v[mid].hi, v) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->n && weir__u128_cmp(s->v[lo].lo, v) <= 0;
}

/* ---- strings ----------------------------------------------------------- */

/* Everything y matches, x matches too. */
static bool covers(const struct weir__sitem *x, const struct weir__sitem *y)
{
	if (!x->prefix)
		return !y->prefix && y->len == x->len &&
		       memcmp(x->b, y->b, x->len) == 0;
	return y->len >= x->len && memcmp(x->b, y->b, x->len) == 0;
}

static bool overlaps(const struct weir__sitem *x, const struct weir__sitem *y)
{
	return covers(x, y) || covers(y, x);
}

static int sset_new(struct weir__arena *a, size_t cap, bool neg,
		    struct weir__sset *s)
{
	s->neg = neg;
	s->n = 0;
	s->v = weir__calloc(a, cap ? cap : 1, sizeof(*s->v));
	return s->v ? 0 : -ENOMEM;
}

/* Adds it unless an item covers it; drops the items it covers. */
static void sadd(struct weir__sset *s, const struct weir__sitem *it)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < s->n; i++)
		if (covers(&s->v[i], it))
			return;
	for (uint32_t i = 0; i < s->n; i++)
		if (!covers(it, &s->v[i]))
			s->v[k++] = s->v[i];
	s->n = k;
	s->v[s->n++] = *it;
}

static int sset_union(struct weir__arena *a, const struct weir__sset *x,
		      const struct weir__sset *y, bool neg,
		      struct weir__sset *r)
{
	if (sset_new(a, (size_t)x->n + y->n, neg, r) < 0)
		return -ENOMEM;
	for (uint32_t i = 0; i < x->n; i++)
		sadd(r, &x->v[i]);
	for (uint32_t i = 0; i < y->n; i++)
		sadd(r, &y->v[i]);
	return 0;
}

/* Items in both (as sets of strings). */
static int sset_meet(struct weir__arena *a, const struct weir__sset *x,
		     const struct weir__sset *y, bool neg,
		     struct weir__sset *r)
{
	if (sset_new(a, (size_t)x->n + y->n, neg, r) < 0)
		return -ENOMEM;
	for (uint32_t i = 0; i < x->n; i++)
		for (uint32_t j = 0; j < y->n; j++) {
			if (covers(&x->v[i], &y->v[j]))
				sadd(r, &y->v[j]);
			else if (covers(&y->v[j], &x->v[i]))
				sadd(r, &x->v[i]);
		}
	return 0;
}

/* The items of x no item of y meets; -EDOM when an item of y cuts a
 * piece out of one of x (not writable as a set). */
static int sset_minus(struct weir__arena *a, const struct weir__sset *x,
		      const struct weir__sset *y, bool neg,
		      struct weir__sset *r)
{
	if (sset_new(a, x->n, neg, r) < 0)
		return -ENOMEM;
	for (uint32_t i = 0; i < x->n; i++) {
		bool gone = false;

		for (uint32_t j = 0; j < y->n && !gone; j++) {
			if (covers(&y->v[j], &x->v[i]))
				gone = true;
			else if (covers(&x->v[i], &y->v[j]))
				return -EDOM;
		}
		if (!gone)
			sadd(r, &x->v[i]);
	}
	return 0;
}

static int sset_and(struct weir__arena *a, const struct weir__sset *x,
		    const struct weir__sset *y, struct weir__sset *r)
{
	if (!x->neg && !y->neg)
		return sset_meet(a, x, y, false, r);
	if (x->neg && y->neg)
		return sset_union(a, x, y, true, r);
	if (x->neg)
		return sset_minus(a, y, x, false, r);
	return sset_minus(a, x, y, false, r);
}

static int sset_or(struct weir__arena *a, const struct weir__sset *x,
		   const struct weir__sset *y, struct weir__sset *r)
{
	if (!x->neg && !y->neg)
		return sset_union(a, x, y, false, r);
	if (x->neg && y->neg)
		return sset_meet(a, x, y, true, r);
	if (x->neg)
		return sset_minus(a, x, y, true, r);
	return sset_minus(a, y, x, true, r);
}

static bool all_covered(const struct weir__sset *x, const struct weir__sset *y)
{
	for (uint32_t i = 0; i < x->n; i++) {
		bool in = false;

		for (uint32_t j = 0; j < y->n && !in; j++)
			in = covers(&y->v[j], &x->v[i]);
		if (!in)
			return false;
	}
	return true;
}

static bool sset_subset(const struct weir__sset *x, const struct weir__sset *y)
{
	if (!x->neg && !y->neg)
		return all_covered(x, y);
	if (x->neg && y->neg)
		return all_covered(y, x);
	if (x->neg)
		return false;
	for (uint32_t i = 0; i < x->n; i++)
		for (uint32_t j = 0; j < y->n; j++)
			if (overlaps(&x->v[i], &y->v[j]))
				return false;
	return true;
}

/* ---- value sets -------------------------------------------------------- */

int weir__vset_and(struct weir__arena *a, const struct weir__vset *x,
		   const struct weir__vset *y, struct weir__vset *ret)
{
	struct weir__vset r = *x;
	int err;

	err = x->str ? sset_and(a, &x->s, &y->s, &r.s)
		     : iset_and(a, &x->i, &y->i, &r.i);
	if (err < 0)
		return err;
	*ret = r;
	return 0;
}

int weir__vset_or(struct weir__arena *a, const struct weir__vset *x,
		  const struct weir__vset *y, struct weir__vset *ret)
{
	struct weir__vset r = *x;
	int err;

	err = x->str ? sset_or(a, &x->s, &y->s, &r.s)
		     : iset_or(a, &x->i, &y->i, &r.i);
	if (err < 0)
		return err;
	*ret = r;
	return 0;
}

int weir__vset_not(struct weir__arena *a, const struct weir__vset *x,
		   struct weir__vset *ret)
{
	struct weir__vset r = *x;

	if (x->str) {
		r.s.neg = !x->s.neg;
	} else if (iset_not(a, &x->i, x->max, &r.i) < 0) {
		return -ENOMEM;
	}
	*ret = r;
	return 0;
}

bool weir__vset_empty(const struct weir__vset *x)
{
	return x->str ? !x->s.neg && !x->s.n : !x->i.n;
}

bool weir__vset_full(const struct weir__vset *x)
{
	if (x->str)
		return x->s.neg && !x->s.n;
	return x->i.n == 1 && !x->i.v[0].lo.hi && !x->i.v[0].lo.lo &&
	       weir__u128_cmp(x->i.v[0].hi, x->max) >= 0;
}

bool weir__vset_subset(const struct weir__vset *x, const struct weir__vset *y)
{
	return x->str ? sset_subset(&x->s, &y->s) : iset_subset(&x->i, &y->i);
}

bool weir__vset_equal(const struct weir__vset *x, const struct weir__vset *y)
{
	return weir__vset_subset(x, y) && weir__vset_subset(y, x);
}

int weir__vset_range(struct weir__arena *a, struct weir__u128 lo,
		     struct weir__u128 hi, struct weir__u128 max,
		     struct weir__vset *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->max = max;
	if (iset_new(a, 1, &ret->i) < 0)
		return -ENOMEM;
	if (weir__u128_cmp(lo, hi) <= 0)
		ret->i.v[ret->i.n++] = (struct weir__ival){ lo, hi };
	return 0;
}

int weir__vset_where(struct weir__arena *a, uint64_t max,
		     bool (*pred)(uint64_t x, uint64_t m, uint64_t v),
		     uint64_t m, uint64_t v, struct weir__vset *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->max = weir__u128_num(max);
	if (max > 0xffff || iset_new(a, (uint32_t)(max / 2 + 1), &ret->i) < 0)
		return -ENOMEM;
	for (uint64_t x = 0; x <= max; x++)
		if (pred(x, m, v))
			push(&ret->i, (struct weir__ival){ weir__u128_num(x),
							  weir__u128_num(x) });
	return 0;
}

static int ival_cmp(const void *a, const void *b)
{
	const struct weir__ival *x = a, *y = b;

	return weir__u128_cmp(x->lo, y->lo);
}

int weir__vset_ivals(struct weir__arena *a, struct weir__ival *iv,
		     uint32_t n, struct weir__u128 max, struct weir__vset *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->max = max;
	if (iset_new(a, n, &ret->i) < 0)
		return -ENOMEM;
	if (n)
		qsort(iv, n, sizeof(*iv), ival_cmp);
	for (uint32_t k = 0; k < n; k++)
		push(&ret->i, iv[k]);
	return 0;
}

/* Byte order; on equal bytes a prefix first (it covers the name). */
static int item_cmp(const void *a, const void *b)
{
	const struct weir__sitem *x = a, *y = b;
	int c = memcmp(x->b, y->b, x->len < y->len ? x->len : y->len);

	if (c)
		return c;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return (int)y->prefix - (int)x->prefix;
}

/* Sorted, an item covered by another comes after it, inside the run of
 * items that start with the covering prefix. */
int weir__vset_items(struct weir__arena *a, struct weir__sitem *it,
		     uint32_t n, struct weir__vset *ret)
{
	const struct weir__sitem *pre = NULL, *last = NULL;

	memset(ret, 0, sizeof(*ret));
	ret->str = true;
	if (sset_new(a, n, false, &ret->s) < 0)
		return -ENOMEM;
	if (n)
		qsort(it, n, sizeof(*it), item_cmp);
	for (uint32_t k = 0; k < n; k++) {
		if ((pre && covers(pre, &it[k])) ||
		    (last && covers(last, &it[k])))
			continue;
		ret->s.v[ret->s.n++] = it[k];
		last = &it[k];
		if (it[k].prefix)
			pre = &it[k];
	}
	return 0;
}
