/* Writing a filter spec back as a one-line policy statement, for listings
 * (`weir check -v`) and round trips: what it prints parses into the same
 * conditions.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "policy/policy_internal.h"

/* snprintf into buf, counting what did not fit as snprintf does. */
struct out {
	char *buf;
	size_t size, len;
};

__attribute__((format(printf, 2, 3)))
static void put(struct out *o, const char *fmt, ...)
{
	size_t room = o->len < o->size ? o->size - o->len : 0;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(room ? o->buf + o->len : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len += (size_t)n;
}

static void put_quoted(struct out *o, const uint8_t *b, size_t n)
{
	put(o, "\"");
	for (size_t i = 0; i < n; i++) {
		if (b[i] == '"' || b[i] == '\\')
			put(o, "\\%c", b[i]);
		else if (b[i] < 0x20 || b[i] >= 0x7f)
			put(o, "\\x%02x", b[i]);
		else
			put(o, "%c", b[i]);
	}
	put(o, "\"");
}

/* Flag bits by name when every bit has one, else hex. */
static void put_flags(struct out *o, const struct weir__fdesc *fd, uint64_t v)
{
	uint64_t named = 0;
	const char *sep = "";

	for (const struct weir__const *c = fd->consts; c && c->name; c++)
		named |= c->val;
	if (!v || (v & ~named) || !fd->consts) {
		put(o, "0x%llx", (unsigned long long)v);
		return;
	}
	for (const struct weir__const *c = fd->consts; c->name; c++)
		if (v & c->val) {
			put(o, "%s%s", sep, c->name);
			sep = "|";
		}
}

static void put_addr(struct out *o, const struct weir_val *v, int family,
		     bool prefix)
{
	char s[INET6_ADDRSTRLEN];
	unsigned bits = family == AF_INET ? 32 : 128;

	inet_ntop(family, v->addr, s, sizeof(s));
	put(o, "%s", s);
	if (prefix && v->plen < bits)
		put(o, "/%u", v->plen);
}

static void put_val(struct out *o, const struct weir__fdesc *fd,
		    const struct weir_cond *c, const struct weir_val *v,
		    int family, bool member)
{
	if (fd->kind == VK_ADDR) {
		put_addr(o, v, family, member || c->match == WEIR_MATCH_PREFIX);
	} else if (fd->kind == VK_STR || (fd->kind == VK_BYTES && !c->width)) {
		put_quoted(o, v->bytes, v->len < WEIR_VAL_BYTES
					? v->len : WEIR_VAL_BYTES);
	} else if (fd->kind == VK_FLAGS && !member) {
		put_flags(o, fd, v->lo);
	} else if (member && v->hi > v->lo) {
		put(o, "%llu-%llu", (unsigned long long)v->lo,
		    (unsigned long long)v->hi);
	} else {
		put(o, "%llu", (unsigned long long)v->lo);
	}
}

static const char *op_of(uint8_t match)
{
	static const char *const ops[WEIR_MATCH__COUNT] = {
		[WEIR_MATCH_EQ] = "==", [WEIR_MATCH_NE] = "!=",
		[WEIR_MATCH_LT] = "<", [WEIR_MATCH_LE] = "<=",
		[WEIR_MATCH_GT] = ">", [WEIR_MATCH_GE] = ">=",
		[WEIR_MATCH_RANGE] = "in", [WEIR_MATCH_PREFIX] = "in",
		[WEIR_MATCH_FLAGS_ALL] = "has", [WEIR_MATCH_FLAGS_ANY] = "any",
		[WEIR_MATCH_FLAGS_NONE] = "none", [WEIR_MATCH_IN_SET] = "in",
	};

	return match < WEIR_MATCH__COUNT && ops[match] ? ops[match] : "==";
}

static void put_cond(struct out *o, const struct weir_cond *c, int family)
{
	const struct weir__fdesc *fd = weir__field_of(c->field, family,
						      c->width);

	if (!fd) {
		put(o, "false");
		return;
	}
	put(o, "%s", fd->name);
	if (fd->kind == VK_BYTES)
		put(o, "[%u]", c->offset);
	put(o, " %s ", op_of(c->match));
	if (c->match == WEIR_MATCH_RANGE) {
		put(o, "%llu-%llu", (unsigned long long)c->v.lo,
		    (unsigned long long)c->v.hi);
	} else if (c->match == WEIR_MATCH_IN_SET) {
		put(o, "{");
		for (uint32_t i = 0; c->set && i < c->set_len; i++) {
			put(o, "%s", i ? ", " : "");
			put_val(o, fd, c, &c->set[i], family, true);
		}
		put(o, "}");
	} else {
		put_val(o, fd, c, &c->v, family, false);
	}
}

/* Conditions on one field in parentheses, joined with and. */
static void put_expr(struct out *o, const struct weir_filter_spec *s)
{
	int family = weir_layer_family(s->layer);
	const char *and = " if ";

	for (uint16_t f = 0; f < WEIR_FIELD__COUNT; f++) {
		uint32_t n = 0, k = 0;

		for (uint32_t i = 0; i < s->ncond; i++)
			n += s->conds[i].field == f;
		if (!n)
			continue;
		put(o, "%s%s", and, n > 1 ? "(" : "");
		for (uint32_t i = 0; i < s->ncond; i++) {
			if (s->conds[i].field != f)
				continue;
			put(o, "%s", k++ ? " or " : "");
			put_cond(o, &s->conds[i], family);
		}
		put(o, "%s", n > 1 ? ")" : "");
		and = " and ";
	}
}

static void put_params(struct out *o, const char *params)
{
	const char *line = params;

	put(o, " with {");
	while (*line) {
		const char *eq = strchr(line, '='), *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);

		if (eq && eq < line + len) {
			put(o, " %.*s = ", (int)(eq - line), line);
			put_quoted(o, (const uint8_t *)eq + 1,
				   len - (size_t)(eq + 1 - line));
			put(o, ";");
		}
		line += len + (nl ? 1 : 0);
	}
	put(o, " }");
}

static void put_action(struct out *o, const struct weir_filter_spec *s)
{
	static const char *const kinds[] = { "terminating", "inspection",
					     "unknown" };

	if (s->action == WEIR_ACTION_PERMIT || s->action == WEIR_ACTION_BLOCK) {
		put(o, "%s", s->action == WEIR_ACTION_PERMIT ? "permit"
							      : "block");
		return;
	}
	put(o, "callout ");
	put_quoted(o, (const uint8_t *)s->callout,
		   strnlen(s->callout, sizeof(s->callout)));
	if (s->action >= WEIR_ACTION_CALLOUT_TERMINATING &&
	    s->action <= WEIR_ACTION_CALLOUT_UNKNOWN)
		put(o, " %s",
		    kinds[s->action - WEIR_ACTION_CALLOUT_TERMINATING]);
}

int weir_policy_format_filter(const struct weir_filter_spec *spec,
			      const char *sublayer, char *buf, size_t size)
{
	struct out o = { buf, size, 0 };
	const char *layer = weir_layer_name(spec->layer);

	if (size)
		buf[0] = '\0';
	put_action(&o, spec);
	if (spec->name[0]) {
		put(&o, " ");
		put_quoted(&o, (const uint8_t *)spec->name,
			   strnlen(spec->name, sizeof(spec->name)));
	}
	put(&o, " in %s", layer ? layer : "?");
	if (sublayer) {
		put(&o, " sublayer ");
		put_quoted(&o, (const uint8_t *)sublayer, strlen(sublayer));
	}
	if (spec->weight_kind == WEIR_WEIGHT_EXACT)
		put(&o, " weight %llu", (unsigned long long)spec->weight);
	else if (spec->weight_kind == WEIR_WEIGHT_RANGE)
		put(&o, " weight range %llu", (unsigned long long)spec->weight);
	if (spec->flags & WEIR_FILTER_CLEAR_ACTION_RIGHT)
		put(&o, " hard");
	if (spec->flags & WEIR_FILTER_DISABLED)
		put(&o, " disabled");
	if (spec->flags & WEIR_FILTER_PERMIT_IF_NO_CALLOUT)
		put(&o, " permit-if-unregistered");
	if (spec->flags & WEIR_FILTER_PEND_PERMIT)
		put(&o, " pend-permit");
	put_expr(&o, spec);
	if (spec->params && spec->params[0])
		put_params(&o, spec->params);
	put(&o, ";");
	return (int)o.len;
}
