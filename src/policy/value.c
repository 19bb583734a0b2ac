/* Operands of a test: numbers and named values, addresses and prefixes,
 * ranges, sets, flag combinations, names and byte strings, each turned
 * into the value set the test allows (vset.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "policy/policy_internal.h"

#define IFNAME_MAX 15
#define MSG 200
/* Members of one set: numbers and addresses, names and byte strings. */
#define MEMBERS_MAX 65536
#define NAMES_MAX 256

enum ikind { I_POINT, I_PREFIX, I_RANGE };

static struct weir__loc sub_loc(struct weir__loc l, size_t at, size_t len)
{
	l.off += (uint32_t)at;
	l.col += (uint32_t)at;
	l.len = (uint32_t)len;
	return l;
}

int weir__parse_u64(const char *p, size_t n, uint64_t *ret)
{
	unsigned base = 10;
	uint64_t v = 0;

	if (n > 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
		n -= 2;
	}
	if (!n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int c = p[i], d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (base == 16 && c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (base == 16 && c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		if (v > (UINT64_MAX - (uint64_t)d) / base)
			return -2;
		v = v * base + (uint64_t)d;
	}
	*ret = v;
	return 0;
}

static void unknown_value(const struct weir__fdesc *fd, const char *p,
			  size_t n, char *msg)
{
	struct weir__suggest sg;

	if (!fd->consts) {
		snprintf(msg, MSG, "expected a number for %s, found '%.*s'",
			 fd->name, (int)(n > 40 ? 40 : n), p);
		return;
	}
	weir__suggest_init(&sg, p, n);
	for (const struct weir__const *c = fd->consts; c->name; c++)
		weir__suggest_try(&sg, c->name);
	snprintf(msg, MSG, "unknown value '%.*s' for %s%s%s%s",
		 (int)(n > 40 ? 40 : n), p, fd->name,
		 weir__suggest_best(&sg) ? "; did you mean '" : "",
		 weir__suggest_best(&sg) ? weir__suggest_best(&sg) : "",
		 weir__suggest_best(&sg) ? "'?" : "");
}

/* A number or named value of the field; NULL or why not (in msg). */
static const char *num_point(const struct weir__fdesc *fd, const char *p,
			     size_t n, uint64_t *ret, char *msg)
{
	int r = weir__parse_u64(p, n, ret);

	if (r == -2) {
		snprintf(msg, MSG, "number %.*s is too large",
			 (int)(n > 40 ? 40 : n), p);
		return msg;
	}
	if (r < 0 && !weir__const_find(fd, p, n, ret)) {
		unknown_value(fd, p, n, msg);
		return msg;
	}
	if (*ret > fd->max) {
		snprintf(msg, MSG, "%.*s is out of range for %s (0-%llu)",
			 (int)(n > 40 ? 40 : n), p, fd->name,
			 (unsigned long long)fd->max);
		return msg;
	}
	return NULL;
}

static const char *prefix_len(const char *p, int family, unsigned *ret,
			      char *msg)
{
	unsigned bits = family == AF_INET ? 32 : 128;
	uint64_t v;

	if (weir__parse_u64(p, strlen(p), &v) < 0 || v > bits) {
		snprintf(msg, MSG, "bad prefix length '/%.8s' (0-%u)", p, bits);
		return msg;
	}
	*ret = (unsigned)v;
	return NULL;
}

/* Why a prefix with host bits set is wrong, with the right one. */
static const char *host_bits(const char *addr, int family, unsigned plen,
			     struct weir__u128 v, struct weir__u128 host,
			     char *msg)
{
	char shown[INET6_ADDRSTRLEN];
	uint8_t net[16];

	if (!(v.hi & host.hi) && !(v.lo & host.lo))
		return NULL;
	weir__u128_to_addr(weir__u128_andnot(v, host), family, net);
	inet_ntop(family, net, shown, sizeof(shown));
	snprintf(msg, MSG, "%s/%u has bits set past the prefix length; did "
		 "you mean %s/%u?", addr, plen, shown, plen);
	return msg;
}

/* An address or prefix: the interval it covers and its family. */
static const char *addr_point(const char *p, size_t n, struct weir__ival *ret,
			      int *ret_family, bool *ret_prefix, char *msg)
{
	char buf[64];
	uint8_t addr[16] = { 0 };
	char *slash;
	int family;
	unsigned plen, bits;
	struct weir__u128 v, host;

	if (n >= sizeof(buf) || !n) {
		snprintf(msg, MSG, "bad address '%.*s'",
			 n > 40 ? 40 : (int)n, p);
		return msg;
	}
	memcpy(buf, p, n);
	buf[n] = '\0';
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	family = strchr(buf, ':') ? AF_INET6 : AF_INET;
	bits = family == AF_INET ? 32 : 128;
	if (inet_pton(family, buf, addr) != 1) {
		snprintf(msg, MSG, "bad %s address '%s'",
			 family == AF_INET ? "IPv4" : "IPv6", buf);
		return msg;
	}
	plen = bits;
	if (slash && prefix_len(slash + 1, family, &plen, msg))
		return msg;
	v = weir__u128_from_addr(addr, family);
	host = weir__u128_ones(bits - plen);
	if (host_bits(buf, family, plen, v, host, msg))
		return msg;
	*ret = (struct weir__ival){ v, weir__u128_or(v, host) };
	*ret_family = family;
	*ret_prefix = plen != bits;
	return NULL;
}

static int family_ok(struct weir__ectx *cx, struct weir__atom *at, int fam,
		     struct weir__loc loc)
{
	const char *want = fam == AF_INET ? "IPv6" : "IPv4";

	if (at->fd->family && at->fd->family != fam)
		return weir__error(cx->lx->src, loc, "%s needs an %s address",
				   at->fd->name, want);
	if (cx->family && cx->family != fam)
		return weir__error(cx->lx->src, loc, "%s address in an %s "
				   "layer", fam == AF_INET ? "IPv4" : "IPv6",
				   want);
	if (at->family && at->family != fam)
		return weir__error(cx->lx->src, loc, "IPv4 and IPv6 addresses "
				   "mixed in one test");
	at->family = (uint8_t)fam;
	at->set.max = weir__u128_ones(fam == AF_INET ? 32 : 128);
	return 0;
}

/* One point (number, address or prefix) of text p[0..n) at loc. */
static const char *point(struct weir__ectx *cx, struct weir__atom *at,
			 const char *p, size_t n, struct weir__loc loc,
			 struct weir__ival *ret, bool *ret_prefix, char *msg)
{
	uint64_t v;
	int fam;

	if (at->fd->kind != VK_ADDR) {
		*ret_prefix = false;
		if (num_point(at->fd, p, n, &v, msg))
			return msg;
		ret->lo = ret->hi = weir__u128_num(v);
		return NULL;
	}
	if (addr_point(p, n, ret, &fam, ret_prefix, msg))
		return msg;
	if (family_ok(cx, at, fam, loc) < 0)
		return "";
	return NULL;
}

static int range_end(struct weir__ectx *cx, struct weir__atom *at,
		     const char *p, size_t n, struct weir__loc loc,
		     struct weir__ival *ret)
{
	char msg[MSG];
	bool prefix;
	const char *why = point(cx, at, p, n, loc, ret, &prefix, msg);

	if (!why && prefix)
		why = "a range runs between two addresses, not prefixes";
	if (why && *why)
		return weir__error(cx->lx->src, loc, "%s", why);
	return why ? -EINVAL : 0;
}

static int make_range(struct weir__ectx *cx, struct weir__ival lo,
		      struct weir__ival hi, struct weir__loc loc,
		      struct weir__ival *ret)
{
	if (weir__u128_cmp(lo.lo, hi.lo) > 0)
		return weir__error(cx->lx->src, loc, "empty range: the first "
				   "value is above the second");
	*ret = (struct weir__ival){ lo.lo, hi.lo };
	return 0;
}

/* "a-b" or "a..b" inside one word; 1 when no split parses. */
static int split_range(struct weir__ectx *cx, struct weir__atom *at,
		       const struct weir__tok *t, struct weir__ival *ret)
{
	char msg[MSG];
	struct weir__ival lo, hi;
	bool pl, ph;
	uint8_t fam = at->family;

	for (size_t k = 1; k + 1 < t->loc.len; k++) {
		size_t sep = t->p[k] == '-' ? 1 :
			     (t->p[k] == '.' && t->p[k + 1] == '.') ? 2 : 0;
		struct weir__loc l1 = sub_loc(t->loc, 0, k);
		struct weir__loc l2 = sub_loc(t->loc, k + sep,
					      t->loc.len - k - sep);

		if (!sep || k + sep >= t->loc.len)
			continue;
		if (point(cx, at, t->p, k, l1, &lo, &pl, msg) ||
		    point(cx, at, t->p + k + sep, l2.len, l2, &hi, &ph, msg)) {
			if (cx->lx->src->status)
				return cx->lx->src->status;
			at->family = fam;
			continue;
		}
		if (pl || ph)
			return weir__error(cx->lx->src, t->loc, "a range "
					   "runs between two addresses, not "
					   "prefixes");
		return make_range(cx, lo, hi, t->loc, ret);
	}
	return 1;
}

/* A number, address, prefix or range; *ret_kind says which. */
static int item(struct weir__ectx *cx, struct weir__atom *at,
		struct weir__ival *ret, enum ikind *ret_kind)
{
	struct weir__tok t = weir__next(cx->lx), t2;
	struct weir__ival hi;
	char msg[MSG];
	bool prefix;
	const char *why;
	int r;

	if (t.kind != TK_WORD)
		return weir__expected(cx->lx, &t, "a value");
	why = point(cx, at, t.p, t.loc.len, t.loc, ret, &prefix, msg);
	if (why && !*why)
		return -EINVAL;
	if (why) {
		r = split_range(cx, at, &t, ret);
		if (r <= 0)
			*ret_kind = I_RANGE;
		return r <= 0 ? r : weir__error(cx->lx->src, t.loc, "%s", why);
	}
	*ret_kind = prefix ? I_PREFIX : I_POINT;
	if (!weir__accept(cx->lx, "-") && !weir__accept(cx->lx, ".."))
		return 0;
	t2 = weir__next(cx->lx);
	if (t2.kind != TK_WORD)
		return weir__expected(cx->lx, &t2, "the end of the range");
	if (prefix)
		return weir__error(cx->lx->src, t.loc, "a range runs between "
				   "two addresses, not prefixes");
	if (range_end(cx, at, t2.p, t2.loc.len, t2.loc, &hi) < 0)
		return -EINVAL;
	*ret_kind = I_RANGE;
	return make_range(cx, *ret, hi, t2.loc, ret);
}

/* ---- flags ------------------------------------------------------------- */

/* flag { '|' flag }, or '(' that ')'. */
static int flag_value(struct weir__ectx *cx, struct weir__atom *at,
		      uint64_t *ret)
{
	bool paren = weir__accept(cx->lx, "(");
	char msg[MSG];

	*ret = 0;
	do {
		struct weir__tok t = weir__next(cx->lx);
		uint64_t v;

		if (t.kind != TK_WORD)
			return weir__expected(cx->lx, &t, "a flag name");
		if (num_point(at->fd, t.p, t.loc.len, &v, msg))
			return weir__error(cx->lx->src, t.loc, "%s", msg);
		*ret |= v;
	} while (weir__accept(cx->lx, "|"));
	return paren ? weir__expect(cx->lx, ")") : 0;
}

static bool has_all(uint64_t x, uint64_t m, uint64_t v)
{
	(void)v;
	return (x & m) == m;
}

static bool has_any(uint64_t x, uint64_t m, uint64_t v)
{
	(void)v;
	return (x & m) != 0;
}

static bool has_none(uint64_t x, uint64_t m, uint64_t v)
{
	(void)v;
	return (x & m) == 0;
}

static bool masked_eq(uint64_t x, uint64_t m, uint64_t v)
{
	return (x & m) == v;
}

static bool masked_ne(uint64_t x, uint64_t m, uint64_t v)
{
	return (x & m) != v;
}

static int oom(struct weir__ectx *cx)
{
	return weir__oom(cx->lx->src, cx->lx->prev);
}

/* has/any/none FLAGS, or & MASK (==|!=) VALUE. */
static int flag_test(struct weir__ectx *cx, struct weir__atom *at,
		     const char *op)
{
	bool (*pred)(uint64_t, uint64_t, uint64_t) = has_all;
	uint64_t m, v = 0;

	if (flag_value(cx, at, &m) < 0)
		return -EINVAL;
	if (!strcmp(op, "any"))
		pred = has_any;
	else if (!strcmp(op, "none"))
		pred = has_none;
	else if (!strcmp(op, "&")) {
		pred = weir__accept(cx->lx, "!=") ? masked_ne : NULL;
		if (!pred && weir__expect(cx->lx, "==") < 0)
			return -EINVAL;
		pred = pred ? pred : masked_eq;
		if (flag_value(cx, at, &v) < 0)
			return -EINVAL;
	}
	if (weir__vset_where(cx->tmp, at->fd->max, pred, m, v, &at->set) < 0)
		return oom(cx);
	return 0;
}

/* ---- names and byte strings -------------------------------------------- */

static int name_item(struct weir__ectx *cx, struct weir__sitem *it)
{
	struct weir__tok t = weir__next(cx->lx);
	const uint8_t *b = t.kind == TK_STRING ? t.str : (const uint8_t *)t.p;
	size_t n = t.kind == TK_STRING ? t.slen : t.loc.len;
	const struct weir__tok *star = weir__peek(cx->lx, 0);

	if (t.kind != TK_STRING && t.kind != TK_WORD)
		return weir__expected(cx->lx, &t, "an interface name");
	memset(it, 0, sizeof(*it));
	if (t.kind == TK_WORD && weir__tok_is(star, "*") &&
	    star->loc.off == t.loc.off + t.loc.len) {
		weir__next(cx->lx);
		it->prefix = true;
	} else if (n && b[n - 1] == '*') {
		it->prefix = true;
		n--;
	}
	if (!n || n > IFNAME_MAX || memchr(b, 0, n))
		return weir__error(cx->lx->src, t.loc, "an interface name has "
				   "1 to %d bytes and no NUL", IFNAME_MAX);
	memcpy(it->b, b, n);
	it->len = (uint8_t)n;
	return 0;
}

static int bytes_item(struct weir__ectx *cx, struct weir__sitem *it)
{
	struct weir__tok t = weir__next(cx->lx);

	if (t.kind != TK_STRING)
		return weir__expected(cx->lx, &t, "a string");
	if (!t.slen || t.slen > WEIR_VAL_BYTES)
		return weir__error(cx->lx->src, t.loc, "a byte string has 1 to "
				   "%d bytes", WEIR_VAL_BYTES);
	memset(it, 0, sizeof(*it));
	memcpy(it->b, t.str, t.slen);
	it->len = (uint8_t)t.slen;
	it->prefix = true; /* bytes at an offset: the packet goes on */
	return 0;
}

/* ---- operands ---------------------------------------------------------- */

static bool is_string_kind(const struct weir__atom *at)
{
	return at->fd->kind == VK_STR ||
	       (at->fd->kind == VK_BYTES && at->key.width == 0);
}

/* A flag field's member is a number or range ("2-3") rather than flag
 * names ("syn|ack"). */
static bool number_item(struct weir__ectx *cx)
{
	const struct weir__tok *t = weir__peek(cx->lx, 0);

	return t->kind == TK_WORD && t->p[0] >= '0' && t->p[0] <= '9' &&
	       !weir__tok_is(weir__peek(cx->lx, 1), "|");
}

/* The members of one operand, collected before they become a set. */
struct members {
	struct weir__ival *iv;
	struct weir__sitem *it;
	uint32_t n, cap;
};

static int members_room(struct weir__ectx *cx, const struct weir__atom *at,
			struct members *m)
{
	bool str = is_string_kind(at);

	if (m->n == (str ? NAMES_MAX : MEMBERS_MAX))
		return weir__error(cx->lx->src, weir__peek(cx->lx, 0)->loc,
				   "a set has at most %d %s", str ? NAMES_MAX
				   : MEMBERS_MAX, str ? "strings" : "members");
	if (m->n < m->cap)
		return 0;
	m->cap = m->cap ? m->cap * 2 : 8;
	if (str)
		m->it = weir__grow(cx->tmp, m->it, m->n, m->cap,
				   sizeof(*m->it));
	else
		m->iv = weir__grow(cx->tmp, m->iv, m->n, m->cap,
				   sizeof(*m->iv));
	return (str ? (void *)m->it : (void *)m->iv) ? 0 : oom(cx);
}

/* Adds one member. `point_only` refuses ranges and prefixes. */
static int member(struct weir__ectx *cx, struct weir__atom *at,
		  bool point_only, struct members *m)
{
	struct weir__loc loc = weir__peek(cx->lx, 0)->loc;
	struct weir__ival *iv;
	enum ikind kind = I_POINT;
	uint64_t f;

	if (members_room(cx, at, m) < 0)
		return -EINVAL;
	if (is_string_kind(at))
		return at->fd->kind == VK_STR ? name_item(cx, &m->it[m->n++])
					      : bytes_item(cx, &m->it[m->n++]);
	iv = &m->iv[m->n++];
	if (at->fd->kind == VK_FLAGS && !number_item(cx)) {
		if (flag_value(cx, at, &f) < 0)
			return -EINVAL;
		iv->lo = iv->hi = weir__u128_num(f);
	} else if (item(cx, at, iv, &kind) < 0) {
		return -EINVAL;
	} else if (point_only && kind != I_POINT) {
		loc.len = cx->lx->prev.off + cx->lx->prev.len - loc.off;
		return weir__error(cx->lx->src, loc, "<, <=, > and >= compare "
				   "with one value, not a %s",
				   kind == I_RANGE ? "range" : "prefix");
	}
	return 0;
}

/* A member or '{' member, ... '}': their union in at->set. */
static int operand(struct weir__ectx *cx, struct weir__atom *at)
{
	struct members m = { 0 };
	bool set = weir__accept(cx->lx, "{");
	int err;

	if (set && weir__tok_is(weir__peek(cx->lx, 0), "}"))
		return weir__error(cx->lx->src, weir__peek(cx->lx, 0)->loc,
				   "empty set");
	do {
		if (set && weir__tok_is(weir__peek(cx->lx, 0), "}"))
			break;
		if (member(cx, at, false, &m) < 0)
			return -EINVAL;
	} while (set && weir__accept(cx->lx, ","));
	if (set && weir__expect(cx->lx, "}") < 0)
		return -EINVAL;
	err = is_string_kind(at)
	      ? weir__vset_items(cx->tmp, m.it, m.n, &at->set)
	      : weir__vset_ivals(cx->tmp, m.iv, m.n, at->set.max, &at->set);
	return err < 0 ? oom(cx) : 0;
}

/* <, <=, >, >= one value. */
static int compare(struct weir__ectx *cx, struct weir__atom *at,
		   const char *op)
{
	struct members m = { 0 };
	struct weir__u128 x, lo = weir__u128_num(0), hi, zero = lo;
	bool empty = false;

	if (is_string_kind(at))
		return weir__error(cx->lx->src, at->loc, "%s compares with ==, "
				   "!= and in only", at->fd->name);
	if (member(cx, at, true, &m) < 0)
		return -EINVAL;
	x = m.iv[0].lo;
	hi = at->set.max;
	if (!strcmp(op, "<")) {
		empty = !weir__u128_cmp(x, zero);
		hi = empty ? hi : weir__u128_sub1(x);
	} else if (!strcmp(op, "<=")) {
		hi = x;
	} else if (!strcmp(op, ">")) {
		empty = weir__u128_cmp(x, hi) >= 0;
		lo = empty ? lo : weir__u128_add1(x);
	} else {
		lo = x;
	}
	if (empty) {
		lo = weir__u128_num(1);
		hi = zero;
	}
	if (weir__vset_range(cx->tmp, lo, hi, at->set.max, &at->set) < 0)
		return oom(cx);
	return 0;
}

int weir__value_parse(struct weir__ectx *cx, struct weir__atom *at,
		      const char *op)
{
	bool neg = !strcmp(op, "!=") || !strcmp(op, "not in");
	const struct weir__tok *t = weir__peek(cx->lx, 0);

	if (at->fd->kind == VK_BYTES && at->fd->width == 1 &&
	    (t->kind == TK_STRING || (weir__tok_is(t, "{") &&
	     weir__peek(cx->lx, 1)->kind == TK_STRING)))
		at->key.width = 0;
	at->set.max = weir__u128_num(at->fd->max);
	if (op[0] == '<' || op[0] == '>')
		return compare(cx, at, op);
	if (!strcmp(op, "has") || !strcmp(op, "any") || !strcmp(op, "none") ||
	    !strcmp(op, "&"))
		return flag_test(cx, at, op);
	if (operand(cx, at) < 0)
		return -EINVAL;
	if (neg && weir__vset_not(cx->tmp, &at->set, &at->set) < 0)
		return oom(cx);
	return 0;
}
