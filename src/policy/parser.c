/* Statements of a policy: sublayers, layer defaults, the plug-in directory
 * and plug-ins with their parameters, and the dispatch to filters
 * (filter.c); plus the pieces statements share: layer names, names and
 * parameter blocks.
 *
 *   policy    := { statement }
 *   statement := "sublayer" NAME "weight" N ";"
 *              | "default" LAYER ("permit" | "block") ";"
 *              | "plugins" STRING ";"
 *              | "compartment" N STRING ";"
 *              | "plugin" NAME [ PARAMS ] ";"
 *              | "protocol" ... | "listen" ... | "datafilter" ...
 *              | "sessionfilter" ... | "intercept" ...  (app.c)
 *              | "filter" ... | ("permit" | "block" | "callout") ...
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy_internal.h"

#define SUBLAYERS_MAX 63
#define PLUGIN_DIR_MAX 4096
#define PARAMS_MAX 256

struct weir__name_ent {
	const char *s;
	uint32_t line;
};

/* ---- shared pieces ----------------------------------------------------- */

static int layer_lookup(const char *name, int layers[2])
{
	char both[64];
	int l = weir_layer_by_name(name);

	if (l > 0) {
		layers[0] = l;
		return 1;
	}
	snprintf(both, sizeof(both), "%s-v4", name);
	l = weir_layer_by_name(both);
	if (l <= 0)
		return 0;
	layers[0] = l;
	layers[1] = l + 1;
	return 2;
}

static int unknown_layer(struct weir__parser *p, const struct weir__tok *t)
{
	char bases[WEIR_LAYER__COUNT][48];
	struct weir__suggest sg;
	const char *best;

	weir__suggest_init(&sg, t->p, t->loc.len);
	for (int l = WEIR_LAYER_NONE + 1; l < WEIR_LAYER__COUNT; l++) {
		size_t n = strlen(weir_layer_name(l));

		weir__suggest_try(&sg, weir_layer_name(l));
		snprintf(bases[l], sizeof(bases[l]), "%.*s",
			 n > 3 ? (int)(n - 3) : 0, weir_layer_name(l));
		weir__suggest_try(&sg, bases[l]);
	}
	best = weir__suggest_best(&sg);
	return weir__error(p->src, t->loc, "unknown layer '%.*s'%s%s%s",
			   t->loc.len > 40 ? 40 : (int)t->loc.len, t->p,
			   best ? "; did you mean '" : "", best ? best : "",
			   best ? "'?" : "");
}

int weir__parse_layer(struct weir__parser *p, int layers[2], int *ret_n)
{
	struct weir__tok t = weir__next(&p->lx);
	char name[64];
	int n;

	if (t.kind != TK_WORD)
		return weir__expected(&p->lx, &t, "a layer name");
	snprintf(name, sizeof(name), "%.*s",
		 t.loc.len > 63 ? 63 : (int)t.loc.len, t.p);
	if (!strncmp(name, "forward", 7)) {
		memmove(name + 2, name, sizeof(name) - 2);
		memcpy(name, "ip", 2);
		name[sizeof(name) - 1] = '\0';
	}
	n = t.loc.len < 60 ? layer_lookup(name, layers) : 0;
	if (!n)
		return unknown_layer(p, &t);
	*ret_n = n;
	return 0;
}

int weir__parse_name(struct weir__parser *p, const char *what, size_t max,
		     bool no_hash, const char **ret, struct weir__loc *ret_loc)
{
	struct weir__tok t = weir__next(&p->lx);
	const char *s = t.kind == TK_STRING ? (const char *)t.str : t.p;
	size_t n = t.kind == TK_STRING ? t.slen : t.loc.len;
	char *copy;

	if (t.kind != TK_STRING && t.kind != TK_WORD)
		return weir__expected(&p->lx, &t, what);
	if (!n || n > max)
		return weir__error(p->src, t.loc, "a %s has 1 to %zu bytes",
				   what, max);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f ||
		    (no_hash && s[i] == '#'))
			return weir__error(p->src, t.loc, "a %s cannot hold "
					   "control characters%s", what,
					   no_hash ? " or '#'" : "");
	copy = weir__strndup(&p->lexa, s, n);
	if (!copy)
		return weir__oom(p->src, t.loc);
	*ret = copy;
	if (ret_loc)
		*ret_loc = t.loc;
	return 0;
}

static int param_value(struct weir__parser *p, const char **ret, size_t *ret_n)
{
	struct weir__tok t = weir__next(&p->lx);

	if (t.kind == TK_WORD) {
		*ret = t.p;
		*ret_n = t.loc.len;
		return 0;
	}
	if (t.kind != TK_STRING)
		return weir__expected(&p->lx, &t, "a value");
	if (memchr(t.str, '\n', t.slen) || memchr(t.str, 0, t.slen))
		return weir__error(p->src, t.loc, "a parameter value cannot "
				   "hold a newline or a NUL byte");
	*ret = (const char *)t.str;
	*ret_n = t.slen;
	return 0;
}

/* Whether "key=" starts a line of text[0..n). */
static bool has_key(const char *text, size_t n, const char *key, size_t kn)
{
	if (!text)
		return false;
	for (size_t i = 0; i + kn < n; i++)
		if ((i == 0 || text[i - 1] == '\n') &&
		    !memcmp(text + i, key, kn) && text[i + kn] == '=')
			return true;
	return false;
}

/* Appends "key=value\n" to the text being built. */
static int param_add(struct weir__parser *p, struct weir__tok *k,
		     const char *v, size_t vn, char **text, size_t *n,
		     size_t *cap)
{
	size_t need = *n + k->loc.len + vn + 3;

	if (need > *cap) {
		*cap = need * 2;
		*text = weir__grow(&p->lexa, *text, *n, *cap, 1);
		if (!*text)
			return weir__oom(p->src, k->loc);
	}
	*n += (size_t)sprintf(*text + *n, "%.*s=%.*s\n", (int)k->loc.len,
			      k->p, (int)vn, v);
	return 0;
}

int weir__parse_params(struct weir__parser *p, const char **ret)
{
	char *text = NULL;
	size_t n = 0, cap = 0;
	unsigned count = 0;

	if (weir__expect(&p->lx, "{") < 0)
		return -EINVAL;
	while (!weir__accept(&p->lx, "}")) {
		struct weir__tok k = weir__next(&p->lx);
		const char *v = NULL;
		size_t vn = 0;

		if (k.kind != TK_WORD)
			return weir__expected(&p->lx, &k, "a parameter name or "
					      "'}'");
		if (has_key(text, n, k.p, k.loc.len))
			return weir__error(p->src, k.loc, "parameter '%.*s' "
					   "given twice", (int)k.loc.len, k.p);
		if (++count > PARAMS_MAX)
			return weir__error(p->src, k.loc, "more than %d "
					   "parameters", PARAMS_MAX);
		if (weir__expect(&p->lx, "=") < 0 ||
		    param_value(p, &v, &vn) < 0 ||
		    param_add(p, &k, v, vn, &text, &n, &cap) < 0)
			return -EINVAL;
		if (!weir__accept(&p->lx, ";") && !weir__accept(&p->lx, ",") &&
		    !weir__tok_is(weir__peek(&p->lx, 0), "}"))
			return weir__expect(&p->lx, ";");
	}
	*ret = weir__strndup(&p->pol->arena, text ? text : "", n);
	return *ret ? 0 : weir__oom(p->src, p->lx.prev);
}

static uint32_t hash(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

static int names_grow(struct weir__parser *p)
{
	struct weir__names *h = &p->names;
	struct weir__name_ent *old = h->v;
	uint32_t cap = h->cap ? h->cap * 2 : 64;

	h->v = weir__calloc(&p->lexa, cap, sizeof(*h->v));
	if (!h->v)
		return -ENOMEM;
	for (uint32_t i = 0; i < h->cap; i++) {
		uint32_t k = hash(old[i].s ? old[i].s : "") & (cap - 1);

		if (!old[i].s)
			continue;
		while (h->v[k].s)
			k = (k + 1) & (cap - 1);
		h->v[k] = old[i];
	}
	h->cap = cap;
	return 0;
}

int weir__names_add(struct weir__parser *p, const char *name, uint32_t line,
		    uint32_t *ret_prev)
{
	struct weir__names *h = &p->names;
	uint32_t k;

	if ((h->n + 1) * 2 > h->cap && names_grow(p) < 0)
		return -ENOMEM;
	for (k = hash(name) & (h->cap - 1); h->v[k].s;
	     k = (k + 1) & (h->cap - 1))
		if (!strcmp(h->v[k].s, name)) {
			*ret_prev = h->v[k].line;
			return 1;
		}
	h->v[k] = (struct weir__name_ent){ name, line };
	h->n++;
	return 0;
}

/* ---- statements -------------------------------------------------------- */

static int sublayer_weight(struct weir__parser *p, uint64_t *ret)
{
	struct weir__tok t;

	if (weir__expect(&p->lx, "weight") < 0)
		return -EINVAL;
	t = weir__next(&p->lx);
	if (t.kind != TK_WORD)
		return weir__expected(&p->lx, &t, "a weight");
	if (weir__parse_u64(t.p, t.loc.len, ret) < 0 || *ret > 0xffff)
		return weir__error(p->src, t.loc, "a sublayer weight is a "
				   "number from 0 to 65535");
	return 0;
}

static int sublayer_push(struct weir__parser *p, const char *name,
			 uint16_t weight, struct weir__loc loc)
{
	struct weir_policy *pol = p->pol;
	struct weir_policy_sublayer *sl;

	if (pol->nsub == pol->capsub) {
		pol->capsub = pol->capsub ? pol->capsub * 2 : 8;
		pol->subs = weir__grow(&pol->arena, pol->subs, pol->nsub,
				       pol->capsub, sizeof(*pol->subs));
		if (!pol->subs)
			return weir__oom(p->src, loc);
	}
	sl = &pol->subs[pol->nsub];
	sl->name = weir__strndup(&pol->arena, name, strlen(name));
	sl->weight = weight;
	sl->line = loc.line;
	if (!sl->name)
		return weir__oom(p->src, loc);
	pol->nsub++;
	return 0;
}

static int parse_sublayer(struct weir__parser *p)
{
	struct weir_policy *pol = p->pol;
	struct weir__loc loc;
	const char *name;
	uint64_t w;

	if (weir__parse_name(p, "sublayer name", WEIR_NAME_MAX - 1, false,
			     &name, &loc) < 0)
		return -EINVAL;
	if (!strcmp(name, "default"))
		return weir__error(p->src, loc, "the default sublayer exists "
				   "already (weight 0x8000)");
	for (uint32_t i = 0; i < pol->nsub; i++)
		if (!strcmp(pol->subs[i].name, name))
			return weir__error(p->src, loc, "sublayer \"%s\" "
					   "already declared at line %u",
					   name, pol->subs[i].line);
	if (pol->nsub == SUBLAYERS_MAX)
		return weir__error(p->src, loc, "too many sublayers (at most "
				   "%d)", SUBLAYERS_MAX);
	if (sublayer_weight(p, &w) < 0 ||
	    sublayer_push(p, name, (uint16_t)w, loc) < 0)
		return -EINVAL;
	return weir__expect(&p->lx, ";");
}

static int parse_default(struct weir__parser *p)
{
	struct weir__loc loc = weir__peek(&p->lx, 0)->loc;
	int layers[2], n;
	uint8_t action;

	if (weir__parse_layer(p, layers, &n) < 0)
		return -EINVAL;
	if (weir__accept(&p->lx, "permit"))
		action = WEIR_ACTION_PERMIT;
	else if (weir__accept(&p->lx, "block"))
		action = WEIR_ACTION_BLOCK;
	else
		return weir__expected(&p->lx, weir__peek(&p->lx, 0),
				      "'permit' or 'block'");
	for (int i = 0; i < n; i++) {
		if (p->default_line[layers[i]])
			return weir__error(p->src, loc, "the default of %s is "
					   "already set at line %u",
					   weir_layer_name(layers[i]),
					   p->default_line[layers[i]]);
		p->default_line[layers[i]] = loc.line;
		p->pol->defaults[layers[i]] = action;
	}
	return weir__expect(&p->lx, ";");
}

static int parse_plugin_dir(struct weir__parser *p)
{
	struct weir__tok t = weir__next(&p->lx);

	if (t.kind != TK_STRING)
		return weir__expected(&p->lx, &t, "a directory (a string)");
	if (p->pol->plugin_dir)
		return weir__error(p->src, t.loc, "the plug-in directory is "
				   "already set");
	if (!t.slen || t.slen > PLUGIN_DIR_MAX || memchr(t.str, 0, t.slen))
		return weir__error(p->src, t.loc, "a directory has 1 to %d "
				   "bytes and no NUL", PLUGIN_DIR_MAX);
	p->pol->plugin_dir = weir__strndup(&p->pol->arena,
					   (const char *)t.str, t.slen);
	if (!p->pol->plugin_dir)
		return weir__oom(p->src, t.loc);
	return weir__expect(&p->lx, ";");
}

/* `compartment N "PATH";` names a network namespace the daemon attaches
 * in (docs/daemon.md). */
static int parse_compartment(struct weir__parser *p)
{
	struct weir_policy *pol = p->pol;
	struct weir__tok n = weir__next(&p->lx), t;
	uint64_t id;

	if (n.kind != TK_WORD || weir__parse_u64(n.p, n.loc.len, &id) < 0 ||
	    id < 1 || id > WEIR_POLICY_COMPARTMENTS_MAX)
		return weir__error(p->src, n.loc, "a compartment number is "
				   "1 to %d (0 is weir's own namespace)",
				   WEIR_POLICY_COMPARTMENTS_MAX);
	for (uint32_t i = 0; i < pol->ncomp; i++)
		if (pol->comps[i].id == id)
			return weir__error(p->src, n.loc, "compartment %u "
					   "already named at line %u",
					   (unsigned)id, pol->comps[i].line);
	t = weir__next(&p->lx);
	if (t.kind != TK_STRING)
		return weir__expected(&p->lx, &t, "a namespace path (a string)");
	if (!t.slen || t.slen > PLUGIN_DIR_MAX || memchr(t.str, 0, t.slen) ||
	    t.str[0] != '/')
		return weir__error(p->src, t.loc, "a namespace path is "
				   "absolute, e.g. \"/run/netns/gw\"");
	pol->comps[pol->ncomp] = (struct weir_policy_compartment){
		.id = (uint32_t)id, .line = n.loc.line,
		.netns = weir__strndup(&pol->arena, (const char *)t.str,
				       t.slen) };
	if (!pol->comps[pol->ncomp].netns)
		return weir__oom(p->src, t.loc);
	pol->ncomp++;
	return weir__expect(&p->lx, ";");
}

static int parse_plugin(struct weir__parser *p)
{
	struct weir_policy *pol = p->pol;
	struct weir_policy_plugin *pl;
	struct weir__loc loc;
	const char *name, *params = "";
	bool block;

	if (weir__parse_name(p, "plug-in name", WEIR_NAME_MAX - 1, true,
			     &name, &loc) < 0)
		return -EINVAL;
	for (uint32_t i = 0; i < pol->nplg; i++)
		if (!strcmp(pol->plgs[i].name, name))
			return weir__error(p->src, loc, "plug-in %s already "
					   "loaded at line %u", name,
					   pol->plgs[i].line);
	block = weir__tok_is(weir__peek(&p->lx, 0), "{");
	if (block && weir__parse_params(p, &params) < 0)
		return -EINVAL;
	if (pol->nplg == pol->capplg) {
		pol->capplg = pol->capplg ? pol->capplg * 2 : 8;
		pol->plgs = weir__grow(&pol->arena, pol->plgs, pol->nplg,
				       pol->capplg, sizeof(*pol->plgs));
		if (!pol->plgs)
			return weir__oom(p->src, loc);
	}
	pl = &pol->plgs[pol->nplg++];
	pl->name = weir__strndup(&pol->arena, name, strlen(name));
	pl->params = params;
	pl->line = loc.line;
	if (!pl->name)
		return weir__oom(p->src, loc);
	if (!block)
		return weir__expect(&p->lx, ";");
	weir__accept(&p->lx, ";");
	return 0;
}

static int unknown_statement(struct weir__parser *p, const struct weir__tok *t)
{
	static const char *const kw[] = { "sublayer", "default", "plugins",
					  "plugin", "filter", "permit",
					  "block", "callout", "compartment",
					  "protocol", "listen", "datafilter",
					  "sessionfilter", "intercept" };
	struct weir__suggest sg;
	const char *best;

	if (t->kind != TK_WORD)
		return weir__expected(&p->lx, t, "a statement");
	weir__suggest_init(&sg, t->p, t->loc.len);
	for (size_t i = 0; i < sizeof(kw) / sizeof(kw[0]); i++)
		weir__suggest_try(&sg, kw[i]);
	best = weir__suggest_best(&sg);
	return weir__error(p->src, t->loc, "unknown statement '%.*s'%s%s%s",
			   t->loc.len > 40 ? 40 : (int)t->loc.len, t->p,
			   best ? "; did you mean '" : "", best ? best : "",
			   best ? "'?" : " (sublayer, default, plugins, "
			   "plugin, compartment, filter, permit, block, "
			   "callout, protocol, listen, datafilter, "
			   "sessionfilter, intercept)");
}

static int parse_statement(struct weir__parser *p)
{
	const struct weir__tok *t = weir__peek(&p->lx, 0);

	if (weir__accept(&p->lx, ";"))
		return 0;
	if (weir__accept(&p->lx, "sublayer"))
		return parse_sublayer(p);
	if (weir__accept(&p->lx, "default"))
		return parse_default(p);
	if (weir__accept(&p->lx, "plugins"))
		return parse_plugin_dir(p);
	if (weir__accept(&p->lx, "plugin"))
		return parse_plugin(p);
	if (weir__accept(&p->lx, "compartment"))
		return parse_compartment(p);
	if (weir__accept(&p->lx, "protocol"))
		return weir__parse_protocol(p);
	if (weir__accept(&p->lx, "listen"))
		return weir__parse_listen(p);
	if (weir__accept(&p->lx, "datafilter"))
		return weir__parse_datafilter(p);
	if (weir__accept(&p->lx, "sessionfilter"))
		return weir__parse_sessionfilter(p);
	if (weir__accept(&p->lx, "intercept"))
		return weir__parse_intercept(p);
	if (weir__accept(&p->lx, "filter"))
		return weir__parse_filter_block(p);
	if (weir__tok_is(t, "permit") || weir__tok_is(t, "block") ||
	    weir__tok_is(t, "callout"))
		return weir__parse_rule(p);
	return unknown_statement(p, t);
}

int weir__policy_parse(struct weir__src *src, struct weir_policy **ret)
{
	struct weir__parser p;
	struct weir_policy *pol = calloc(1, sizeof(*pol));
	int err = 0;

	if (!pol)
		return weir__oom(src, (struct weir__loc){ 0, 1, 1, 1 });
	memset(&p, 0, sizeof(p));
	atomic_init(&pol->refs, 1);
	p.src = src;
	p.pol = pol;
	weir__lex_init(&p.lx, src, &p.lexa);
	pol->file = weir__strndup(&pol->arena, src->name, strlen(src->name));
	if (!pol->file)
		err = weir__oom(src, (struct weir__loc){ 0, 1, 1, 1 });
	while (!err && weir__peek(&p.lx, 0)->kind != TK_EOF) {
		err = parse_statement(&p);
		weir__arena_free(&p.tmp);
	}
	weir__arena_free(&p.tmp);
	weir__arena_free(&p.lexa);
	if (err < 0) {
		weir_policy_free(pol);
		return src->status ? src->status : err;
	}
	*ret = pol;
	return 0;
}
