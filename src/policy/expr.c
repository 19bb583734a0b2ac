/* Match expressions: a recursive-descent parser from tokens to a tree of
 * and/or/not over tests, and the rewrite that pushes every `not` down to
 * the tests (De Morgan; a negated test keeps the complement of its values).
 *
 *   expr    := and { ("or" | "||") and }
 *   and     := unary { ("and" | "&&") unary }
 *   unary   := ("not" | "!") unary | "(" expr ")" | test | shorthand
 *   test    := FIELD ["[" OFFSET "]"] [op value]
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "policy/policy_internal.h"

#define DEPTH_MAX 64
#define OFFSET_MAX 65535

static int parse_or(struct weir__ectx *cx, struct weir__node **ret);

static int oom(struct weir__ectx *cx)
{
	return weir__oom(cx->lx->src, cx->lx->prev);
}

static struct weir__node *node_new(struct weir__ectx *cx, uint8_t kind,
				   struct weir__loc loc)
{
	struct weir__node *n = weir__alloc(cx->tmp, sizeof(*n));

	if (n) {
		n->kind = kind;
		n->loc = loc;
	}
	return n;
}

/* A node over kids[0..n). */
static struct weir__node *node_of(struct weir__ectx *cx, uint8_t kind,
				  struct weir__node **kids, uint32_t n,
				  struct weir__loc loc)
{
	struct weir__node *node = node_new(cx, kind, loc);

	if (!node)
		return NULL;
	node->kids = weir__calloc(cx->tmp, n, sizeof(*kids));
	if (!node->kids)
		return NULL;
	memcpy(node->kids, kids, n * sizeof(*kids));
	node->n = n;
	return node;
}

/* kid { OP kid } where OP is word or sym; one kid stays itself. */
static int parse_chain(struct weir__ectx *cx, uint8_t kind, const char *word,
		       const char *sym,
		       int (*kid)(struct weir__ectx *, struct weir__node **),
		       struct weir__node **ret)
{
	struct weir__node **kids = NULL, *k = NULL;
	uint32_t n = 0, cap = 0;
	struct weir__loc loc = weir__peek(cx->lx, 0)->loc;

	do {
		if (kid(cx, &k) < 0)
			return -EINVAL;
		if (n == cap) {
			cap = cap ? cap * 2 : 4;
			kids = weir__grow(cx->tmp, kids, n, cap, sizeof(*kids));
			if (!kids)
				return oom(cx);
		}
		kids[n++] = k;
	} while (weir__accept(cx->lx, word) || weir__accept(cx->lx, sym));
	*ret = n == 1 ? kids[0] : node_of(cx, kind, kids, n, loc);
	return *ret ? 0 : oom(cx);
}

/* An atom node, under `ip.proto == P and` when the field implies one. */
static int atom_node(struct weir__ectx *cx, const struct weir__atom *at,
		     struct weir__node **ret)
{
	struct weir__node *n = node_new(cx, NK_ATOM, at->loc), *kids[2];
	struct weir__atom *p;

	if (!n)
		return oom(cx);
	n->atom = *at;
	if (!at->fd->proto) {
		*ret = n;
		return 0;
	}
	kids[0] = node_new(cx, NK_ATOM, at->loc);
	kids[1] = n;
	if (!kids[0])
		return oom(cx);
	p = &kids[0]->atom;
	p->fd = weir__field_find("ip.proto", 8);
	p->key.field = WEIR_FIELD_IP_PROTO;
	p->family = at->fd->family;
	p->loc = at->loc;
	if (weir__vset_range(cx->tmp, weir__u128_num(at->fd->proto),
			     weir__u128_num(at->fd->proto),
			     weir__u128_num(255), &p->set) < 0)
		return oom(cx);
	*ret = node_of(cx, NK_AND, kids, 2, at->loc);
	return *ret ? 0 : oom(cx);
}

static int family_check(struct weir__ectx *cx, int need, const char *what,
			struct weir__loc loc)
{
	if (!need || !cx->family || need == cx->family)
		return 0;
	if (!strncmp(what, "icmp", 4))
		return weir__error(cx->lx->src, loc, "%s is for IPv%s; use "
				   "%s in an IPv%s layer", what,
				   need == AF_INET ? "4" : "6",
				   need == AF_INET ? "icmpv6" : "icmp",
				   need == AF_INET ? "6" : "4");
	return weir__error(cx->lx->src, loc, "%s needs an IPv%s layer", what,
			   need == AF_INET ? "4" : "6");
}

/* ---- tests ------------------------------------------------------------- */

static int parse_offset(struct weir__ectx *cx, struct weir__atom *at)
{
	struct weir__tok t;
	uint64_t v = 0;
	size_t i;

	if (!weir__accept(cx->lx, "["))
		return weir__expected(cx->lx, weir__peek(cx->lx, 0),
				      "'[offset]'");
	t = weir__next(cx->lx);
	if (t.kind != TK_WORD)
		return weir__expected(cx->lx, &t, "an offset");
	for (i = 0; i < t.loc.len && t.p[i] >= '0' && t.p[i] <= '9' &&
	     v <= OFFSET_MAX; i++)
		v = v * 10 + (uint64_t)(t.p[i] - '0');
	if (i != t.loc.len || v > OFFSET_MAX)
		return weir__error(cx->lx->src, t.loc, "an offset is a number "
				   "from 0 to %d", OFFSET_MAX);
	at->key.offset = (uint32_t)v;
	return weir__expect(cx->lx, "]");
}

static bool flag_op(const char *op)
{
	return !strcmp(op, "has") || !strcmp(op, "any") ||
	       !strcmp(op, "none") || !strcmp(op, "&");
}

/* The operator after a field, or NULL (op_buf holds it). */
static const char *parse_op(struct weir__ectx *cx)
{
	static const char *const ops[] = { "==", "!=", "<", "<=", ">", ">=",
					   "in", "has", "any", "none", "&" };
	const struct weir__tok *t = weir__peek(cx->lx, 0);

	if (weir__tok_is(t, "not") &&
	    weir__tok_is(weir__peek(cx->lx, 1), "in")) {
		weir__next(cx->lx);
		weir__next(cx->lx);
		return "not in";
	}
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (weir__tok_is(t, ops[i])) {
			weir__next(cx->lx);
			return ops[i];
		}
	return NULL;
}

/* A bare field that is a yes/no value (meta.loopback) means == 1. */
static int bare_field(struct weir__ectx *cx, struct weir__atom *at)
{
	const struct weir__tok *t = weir__peek(cx->lx, 0);

	if (weir__tok_is(t, "="))
		return weir__error(cx->lx->src, t->loc, "use == to compare");
	if (at->fd->kind != VK_NUM || at->fd->max != 1)
		return weir__expected(cx->lx, t, "an operator (== != < <= > "
				      ">= in, not in, has, any, none, &)");
	return weir__vset_range(cx->tmp, weir__u128_num(1), weir__u128_num(1),
				weir__u128_num(1), &at->set) < 0 ? oom(cx) : 0;
}

static int parse_test(struct weir__ectx *cx, const struct weir__fdesc *fd,
		      const struct weir__tok *name, struct weir__node **ret)
{
	struct weir__atom at;
	const char *op;

	memset(&at, 0, sizeof(at));
	at.fd = fd;
	at.key.field = fd->field;
	at.key.width = fd->width;
	at.family = fd->family;
	at.loc = name->loc;
	if (family_check(cx, fd->family, fd->name, name->loc) < 0)
		return -EINVAL;
	if (fd->kind == VK_BYTES && parse_offset(cx, &at) < 0)
		return -EINVAL;
	op = parse_op(cx);
	if (op && flag_op(op) && fd->kind != VK_FLAGS)
		return weir__error(cx->lx->src, cx->lx->prev, "'%s' tests flag "
				   "fields (tcp.flags, ct.state, ip.frag, "
				   "flags), not %s", op, fd->name);
	if (!op && bare_field(cx, &at) < 0)
		return -EINVAL;
	if (op && weir__value_parse(cx, &at, op) < 0)
		return -EINVAL;
	return atom_node(cx, &at, ret);
}

static bool all_bits(uint64_t x, uint64_t m, uint64_t v)
{
	(void)v;
	return (x & m) == m;
}

static int shorthand(struct weir__ectx *cx, const struct weir__shorthand *sh,
		     const struct weir__tok *t, struct weir__node **ret)
{
	struct weir__atom at;
	uint8_t kind = sh->kind == SH_TRUE ? NK_TRUE : NK_FALSE;

	if (sh->kind != SH_FAMILY &&
	    family_check(cx, sh->family, sh->name, t->loc) < 0)
		return -EINVAL;
	if (sh->kind == SH_FAMILY && cx->family)
		kind = sh->family == cx->family ? NK_TRUE : NK_FALSE;
	else if (sh->kind == SH_FAMILY)
		kind = NK_FAMILY;
	if (sh->kind == SH_TRUE || sh->kind == SH_FALSE ||
	    sh->kind == SH_FAMILY) {
		*ret = node_new(cx, kind, t->loc);
		if (*ret)
			(*ret)->family = sh->family;
		return *ret ? 0 : oom(cx);
	}
	memset(&at, 0, sizeof(at));
	at.fd = weir__field_find(sh->field, strlen(sh->field));
	at.key.field = at.fd->field;
	at.family = sh->family;
	at.loc = t->loc;
	if ((sh->kind == SH_EQ
	     ? weir__vset_range(cx->tmp, weir__u128_num(sh->val),
				weir__u128_num(sh->val),
				weir__u128_num(at.fd->max), &at.set)
	     : weir__vset_where(cx->tmp, at.fd->max, all_bits, sh->val, 0,
				&at.set)) < 0)
		return oom(cx);
	return atom_node(cx, &at, ret);
}

static int unknown_word(struct weir__ectx *cx, const struct weir__tok *t)
{
	struct weir__suggest sg;
	const char *best;

	weir__suggest_init(&sg, t->p, t->loc.len);
	weir__field_suggest(&sg);
	weir__shorthand_suggest(&sg);
	best = weir__suggest_best(&sg);
	return weir__error(cx->lx->src, t->loc, "unknown field '%.*s'%s%s%s",
			   t->loc.len > 40 ? 40 : (int)t->loc.len, t->p,
			   best ? "; did you mean '" : "", best ? best : "",
			   best ? "'?" : "");
}

static int parse_primary(struct weir__ectx *cx, struct weir__node **ret)
{
	struct weir__tok t = weir__next(cx->lx);
	const struct weir__fdesc *fd;
	const struct weir__shorthand *sh;
	int err;

	if (weir__tok_is(&t, "(")) {
		if (++cx->depth > DEPTH_MAX)
			return weir__error(cx->lx->src, t.loc, "expression "
					   "nested more than %d deep",
					   DEPTH_MAX);
		err = parse_or(cx, ret);
		cx->depth--;
		return err < 0 ? err : weir__expect(cx->lx, ")");
	}
	if (t.kind != TK_WORD)
		return weir__expected(cx->lx, &t, "a test");
	fd = weir__field_find(t.p, t.loc.len);
	if (fd)
		return parse_test(cx, fd, &t, ret);
	sh = weir__shorthand_find(t.p, t.loc.len);
	if (sh)
		return shorthand(cx, sh, &t, ret);
	return unknown_word(cx, &t);
}

static int parse_unary(struct weir__ectx *cx, struct weir__node **ret)
{
	struct weir__loc loc = weir__peek(cx->lx, 0)->loc;
	struct weir__node *kid;
	int err;

	if (!weir__accept(cx->lx, "not") && !weir__accept(cx->lx, "!"))
		return parse_primary(cx, ret);
	if (++cx->depth > DEPTH_MAX)
		return weir__error(cx->lx->src, loc, "expression nested more "
				   "than %d deep", DEPTH_MAX);
	err = parse_unary(cx, &kid);
	cx->depth--;
	if (err < 0)
		return err;
	*ret = node_of(cx, NK_NOT, &kid, 1, loc);
	return *ret ? 0 : oom(cx);
}

static int parse_and(struct weir__ectx *cx, struct weir__node **ret)
{
	return parse_chain(cx, NK_AND, "and", "&&", parse_unary, ret);
}

static int parse_or(struct weir__ectx *cx, struct weir__node **ret)
{
	return parse_chain(cx, NK_OR, "or", "||", parse_and, ret);
}

int weir__expr_parse(struct weir__ectx *cx, struct weir__node **ret)
{
	return parse_or(cx, ret);
}

/* ---- not push-down ----------------------------------------------------- */

static int nnf_kids(struct weir__ectx *cx, const struct weir__node *n,
		    bool neg, struct weir__node *out)
{
	out->kids = weir__calloc(cx->tmp, n->n, sizeof(*out->kids));
	if (!out->kids)
		return oom(cx);
	out->n = n->n;
	for (uint32_t i = 0; i < n->n; i++)
		if (weir__expr_nnf(cx, n->kids[i], neg, &out->kids[i]) < 0)
			return -EINVAL;
	return 0;
}

/* ---- long or-chains ---------------------------------------------------- */

/* The test of an or-kid that may join its siblings: a test, or the test
 * after its implied protocol (*ret_pre). Negated string sets do not. */
static struct weir__atom *joinable(struct weir__node *k,
				   struct weir__atom **ret_pre)
{
	struct weir__atom *at = NULL;

	*ret_pre = NULL;
	if (k->kind == NK_ATOM)
		at = &k->atom;
	if (k->kind == NK_AND && k->n == 2 && k->kids[0]->kind == NK_ATOM &&
	    k->kids[1]->kind == NK_ATOM) {
		*ret_pre = &k->kids[0]->atom;
		at = &k->kids[1]->atom;
	}
	return at && !(at->set.str && at->set.s.neg) ? at : NULL;
}

static bool same_key(const struct weir__atom *a, const struct weir__atom *b)
{
	return a->key.field == b->key.field && a->key.offset == b->key.offset &&
	       a->key.width == b->key.width && a->family == b->family &&
	       a->set.str == b->set.str;
}

static bool same_group(const struct weir__atom *a, const struct weir__atom *pa,
		       const struct weir__atom *b, const struct weir__atom *pb)
{
	if (!same_key(a, b) || !pa != !pb)
		return false;
	return !pa ||
	       (same_key(pa, pb) && weir__vset_equal(&pa->set, &pb->set));
}

/* Appends the values of v to acc (*cap: room in its array). */
static int gather(struct weir__ectx *cx, const struct weir__vset *v,
		  struct weir__vset *acc, uint32_t *cap)
{
	uint32_t n = v->str ? v->s.n : v->i.n, have = acc->s.n + acc->i.n;

	if (have + n > *cap) {
		*cap = (have + n) * 2;
		if (v->str)
			acc->s.v = weir__grow(cx->tmp, acc->s.v, have, *cap,
					      sizeof(*acc->s.v));
		else
			acc->i.v = weir__grow(cx->tmp, acc->i.v, have, *cap,
					      sizeof(*acc->i.v));
		if (v->str ? !acc->s.v : !acc->i.v)
			return oom(cx);
	}
	if (v->str && n)
		memcpy(acc->s.v + acc->s.n, v->s.v, n * sizeof(*v->s.v));
	else if (n)
		memcpy(acc->i.v + acc->i.n, v->i.v, n * sizeof(*v->i.v));
	acc->s.n += v->str ? n : 0;
	acc->i.n += v->str ? 0 : n;
	return 0;
}

/* Joins the kids from i on that test one field (under the same implied
 * protocol) into kid i, in one union: `a == 1 or a == 2 or ...` costs
 * n log n, not n^2. Joined kids become NULL. */
static int join_group(struct weir__ectx *cx, struct weir__node *or, uint32_t i)
{
	struct weir__atom *pre, *at = joinable(or->kids[i], &pre), *p2, *a2;
	struct weir__vset acc = { .str = at->set.str, .max = at->set.max };
	uint32_t joined = 0, cap = 0;

	if (gather(cx, &at->set, &acc, &cap) < 0)
		return -EINVAL;
	for (uint32_t j = i + 1; j < or->n; j++) {
		if (!or->kids[j] || !(a2 = joinable(or->kids[j], &p2)) ||
		    !same_group(at, pre, a2, p2))
			continue;
		if (gather(cx, &a2->set, &acc, &cap) < 0)
			return -EINVAL;
		or->kids[j] = NULL;
		joined++;
	}
	if (!joined)
		return 0;
	if ((acc.str ? weir__vset_items(cx->tmp, acc.s.v, acc.s.n, &at->set)
		     : weir__vset_ivals(cx->tmp, acc.i.v, acc.i.n, acc.max,
					&at->set)) < 0)
		return oom(cx);
	return 0;
}

/* Drops the NULL kids. */
static void compact(struct weir__node *n)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < n->n; i++)
		if (n->kids[i])
			n->kids[k++] = n->kids[i];
	n->n = k;
}

static int join_or(struct weir__ectx *cx, struct weir__node *or)
{
	struct weir__atom *pre;

	for (uint32_t i = 0; i < or->n; i++)
		if (or->kids[i] && joinable(or->kids[i], &pre) &&
		    join_group(cx, or, i) < 0)
			return -EINVAL;
	compact(or);
	return 0;
}

static bool numeric_atom(const struct weir__node *k)
{
	return k && k->kind == NK_ATOM && !k->atom.set.str;
}

/* ANDed tests of one numeric field into kid i, in one go: the
 * complement of the union of their complements. */
static int join_and_group(struct weir__ectx *cx, struct weir__node *and,
			  uint32_t i)
{
	struct weir__atom *at = &and->kids[i]->atom;
	struct weir__vset acc = { .max = at->set.max }, comp;
	uint32_t cap = 0, joined = 0;

	for (uint32_t j = i; j < and->n; j++) {
		if (!numeric_atom(and->kids[j]) ||
		    !same_key(at, &and->kids[j]->atom))
			continue;
		if (weir__vset_not(cx->tmp, &and->kids[j]->atom.set,
				   &comp) < 0 ||
		    gather(cx, &comp, &acc, &cap) < 0)
			return oom(cx);
		if (j > i && ++joined)
			and->kids[j] = NULL;
	}
	if (!joined)
		return 0;
	if (weir__vset_ivals(cx->tmp, acc.i.v, acc.i.n, acc.max, &comp) < 0 ||
	    weir__vset_not(cx->tmp, &comp, &at->set) < 0)
		return oom(cx);
	return 0;
}

static int join_and(struct weir__ectx *cx, struct weir__node *and)
{
	for (uint32_t i = 0; i < and->n; i++)
		if (numeric_atom(and->kids[i]) &&
		    join_and_group(cx, and, i) < 0)
			return -EINVAL;
	compact(and);
	return 0;
}

/* Kids of the same kind as n (and in and, or in or) become n's kids. */
static int flatten(struct weir__ectx *cx, struct weir__node *n)
{
	struct weir__node **kids;
	uint32_t total = 0, k = 0;

	for (uint32_t i = 0; i < n->n; i++)
		total += n->kids[i]->kind == n->kind ? n->kids[i]->n : 1;
	if (total == n->n)
		return 0;
	kids = weir__calloc(cx->tmp, total, sizeof(*kids));
	if (!kids)
		return oom(cx);
	for (uint32_t i = 0; i < n->n; i++) {
		const struct weir__node *c = n->kids[i];

		if (c->kind != n->kind) {
			kids[k++] = n->kids[i];
			continue;
		}
		memcpy(kids + k, c->kids, c->n * sizeof(*kids));
		k += c->n;
	}
	n->kids = kids;
	n->n = total;
	return 0;
}

/* After the kids of an and/or node are in normal form: flatten, join. */
static int tidy(struct weir__ectx *cx, struct weir__node *n)
{
	if (flatten(cx, n) < 0)
		return -EINVAL;
	return n->kind == NK_OR ? join_or(cx, n) : join_and(cx, n);
}

int weir__expr_nnf(struct weir__ectx *cx, const struct weir__node *n,
		   bool neg, struct weir__node **ret)
{
	struct weir__node *out;

	if (n->kind == NK_NOT)
		return weir__expr_nnf(cx, n->kids[0], !neg, ret);
	out = node_new(cx, n->kind, n->loc);
	if (!out)
		return oom(cx);
	*out = *n;
	*ret = out;
	if (!neg && (n->kind == NK_OR || n->kind == NK_AND))
		return nnf_kids(cx, n, false, out) < 0 ? -EINVAL
						       : tidy(cx, out);
	if (!neg)
		return 0;
	switch (n->kind) {
	case NK_TRUE:
		out->kind = NK_FALSE;
		return 0;
	case NK_FALSE:
		out->kind = NK_TRUE;
		return 0;
	case NK_FAMILY:
		out->family = n->family == AF_INET ? AF_INET6 : AF_INET;
		return 0;
	case NK_ATOM:
		return weir__vset_not(cx->tmp, &n->atom.set, &out->atom.set) < 0
		       ? oom(cx) : 0;
	default:
		out->kind = n->kind == NK_AND ? NK_OR : NK_AND;
		return nnf_kids(cx, n, true, out) < 0 ? -EINVAL
						      : tidy(cx, out);
	}
}
