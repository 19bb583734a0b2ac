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
	struct weir__node **kids = NULL, *k;
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

/* ---- tests -------------------------------------------------------------- */

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

	if (weir__tok_is(t, "not") && weir__tok_is(weir__peek(cx->lx, 1), "in")) {
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
					   "nested more than %d deep", DEPTH_MAX);
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

/* ---- not push-down -------------------------------------------------------- */

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
	if (!neg)
		return n->kind == NK_AND || n->kind == NK_OR
		       ? nnf_kids(cx, n, false, out) : 0;
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
		return nnf_kids(cx, n, true, out);
	}
}
