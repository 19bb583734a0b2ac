/* Filter statements, in block form and on one line, checked whole and
 * turned into filter specs (one per alternative of the match expression
 * and per layer family).
 *
 *   filter NAME [in LAYER] {option} "{" { "match" EXPR ";"
 *          | "action" ACTION ";" | "with" PARAMS | "layer" LAYER ";"
 *          | option ";" } "}"
 *   ACTION ["NAME"] in LAYER { option | "if" EXPR | "with" PARAMS } ";"
 *   ACTION := "permit" | "block" | "callout" NAME [KIND]
 *   option := "sublayer" NAME | "weight" ["range"] N | "hard" | "disabled"
 *           | "permit-if-unregistered" | "pend-permit" | KIND
 *   KIND   := "terminating" | "inspection" | "unknown"
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "policy/policy_internal.h"

#define FILTER_NAME_MAX (WEIR_NAME_MAX - 1)

struct fst {
	struct weir__loc loc;
	const char *name;
	struct weir__loc name_loc;
	int layers[2], nlayers;
	bool have_sub, have_weight, have_action, have_params, have_match;
	const char *sublayer;
	uint8_t weight_kind, action, kind;
	uint64_t weight;
	uint32_t flags;
	struct weir__loc kind_loc, unreg_loc, params_loc;
	const char *callout;
	const char *params;
	struct weir__clist *lists;
	int *list_layers;
	uint32_t nlists;
};

static const struct {
	const char *word;
	uint32_t flag;
} flag_words[] = {
	{ "hard", WEIR_FILTER_CLEAR_ACTION_RIGHT },
	{ "disabled", WEIR_FILTER_DISABLED },
	{ "permit-if-unregistered", WEIR_FILTER_PERMIT_IF_NO_CALLOUT },
	{ "pend-permit", WEIR_FILTER_PEND_PERMIT },
};

static const struct {
	const char *word;
	uint8_t action;
} kind_words[] = {
	{ "terminating", WEIR_ACTION_CALLOUT_TERMINATING },
	{ "inspection", WEIR_ACTION_CALLOUT_INSPECTION },
	{ "unknown", WEIR_ACTION_CALLOUT_UNKNOWN },
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int twice(struct weir__parser *p, struct weir__loc loc,
		 const char *what)
{
	return weir__error(p->src, loc, "%s given twice", what);
}

/* ---- options ----------------------------------------------------------- */

static int opt_sublayer(struct weir__parser *p, struct fst *st,
			struct weir__loc at)
{
	struct weir_policy *pol = p->pol;
	struct weir__loc loc;
	const char *name;

	if (st->have_sub)
		return twice(p, at, "sublayer");
	if (weir__parse_name(p, "sublayer name", WEIR_NAME_MAX - 1, false,
			     &name, &loc) < 0)
		return -EINVAL;
	st->have_sub = true;
	if (!strcmp(name, "default"))
		return 1;
	for (uint32_t i = 0; i < pol->nsub; i++)
		if (!strcmp(pol->subs[i].name, name)) {
			st->sublayer = pol->subs[i].name;
			return 1;
		}
	return weir__error(p->src, loc, "unknown sublayer \"%s\" (declare "
			   "it first: sublayer \"%s\" weight N;)", name, name);
}

static int opt_weight(struct weir__parser *p, struct fst *st,
		      struct weir__loc at)
{
	bool range = weir__accept(&p->lx, "range");
	struct weir__tok t;
	int r;

	if (st->have_weight)
		return twice(p, at, "weight");
	st->have_weight = true;
	if (!range && weir__accept(&p->lx, "auto"))
		return 1;
	t = weir__next(&p->lx);
	if (t.kind != TK_WORD)
		return weir__expected(&p->lx, &t, "a weight");
	r = weir__parse_u64(t.p, t.loc.len, &st->weight);
	if (r < 0 || (range && st->weight > 15))
		return weir__error(p->src, t.loc, range
				   ? "a weight range is a number from 0 to 15"
				   : "a weight is a number from 0 to 2^64-1");
	st->weight_kind = range ? WEIR_WEIGHT_RANGE : WEIR_WEIGHT_EXACT;
	return 1;
}

/* 1 when the next token was an option (taken), 0 when not, or < 0. */
static int parse_option(struct weir__parser *p, struct fst *st)
{
	const struct weir__tok *t = weir__peek(&p->lx, 0);
	struct weir__loc at = t->loc;

	if (weir__accept(&p->lx, "sublayer"))
		return opt_sublayer(p, st, at);
	if (weir__accept(&p->lx, "weight"))
		return opt_weight(p, st, at);
	for (size_t i = 0; i < COUNT(flag_words); i++)
		if (weir__accept(&p->lx, flag_words[i].word)) {
			if (st->flags & flag_words[i].flag)
				return twice(p, at, flag_words[i].word);
			st->flags |= flag_words[i].flag;
			if (flag_words[i].flag ==
			    WEIR_FILTER_PERMIT_IF_NO_CALLOUT)
				st->unreg_loc = at;
			return 1;
		}
	for (size_t i = 0; i < COUNT(kind_words); i++)
		if (weir__accept(&p->lx, kind_words[i].word)) {
			if (st->kind)
				return twice(p, at, "the callout kind");
			st->kind = kind_words[i].action;
			st->kind_loc = at;
			return 1;
		}
	return 0;
}

/* ---- parts ------------------------------------------------------------- */

static int parse_action(struct weir__parser *p, struct fst *st)
{
	struct weir__tok t = weir__next(&p->lx);

	if (st->have_action)
		return twice(p, t.loc, "action");
	st->have_action = true;
	if (weir__tok_is(&t, "permit") || weir__tok_is(&t, "block")) {
		st->action = weir__tok_is(&t, "permit") ? WEIR_ACTION_PERMIT
							: WEIR_ACTION_BLOCK;
		return 0;
	}
	if (!weir__tok_is(&t, "callout"))
		return weir__expected(&p->lx, &t, "'permit', 'block' or "
				      "'callout NAME'");
	st->action = WEIR_ACTION_CALLOUT_UNKNOWN;
	if (weir__parse_name(p, "callout name", WEIR_NAME_MAX - 1, false,
			     &st->callout, NULL) < 0)
		return -EINVAL;
	return parse_option(p, st) < 0 ? -EINVAL : 0;
}

static int parse_layer_once(struct weir__parser *p, struct fst *st)
{
	if (st->nlayers)
		return twice(p, weir__peek(&p->lx, 0)->loc, "layer");
	return weir__parse_layer(p, st->layers, &st->nlayers);
}

static int parse_match(struct weir__parser *p, struct fst *st,
		       struct weir__loc at)
{
	struct weir__ectx cx = { .lx = &p->lx, .tmp = &p->tmp };

	if (st->have_match)
		return weir__error(p->src, at, "a filter has one match; join "
				   "the tests with 'and'");
	if (!st->nlayers)
		return weir__error(p->src, at, "the layer comes before the "
				   "match ('in LAYER' or 'layer LAYER;')");
	st->have_match = true;
	cx.family = st->nlayers == 1 ? weir_layer_family(st->layers[0]) : 0;
	return weir__expr_compile(&cx, st->layers, st->nlayers,
				  &p->pol->arena, &st->lists,
				  &st->list_layers, &st->nlists);
}

static int parse_with(struct weir__parser *p, struct fst *st,
		      struct weir__loc at)
{
	if (st->have_params)
		return twice(p, at, "parameters");
	st->have_params = true;
	st->params_loc = at;
	return weir__parse_params(p, &st->params);
}

/* ---- checks and specs -------------------------------------------------- */

static int check(struct weir__parser *p, struct fst *st)
{
	bool callout = st->action >= WEIR_ACTION_CALLOUT_TERMINATING;

	if (!st->nlayers)
		return weir__error(p->src, st->loc, "a filter needs a layer "
				   "(in LAYER)");
	if (!st->have_action)
		return weir__error(p->src, st->loc, "a filter needs an action "
				   "(action permit|block|callout NAME;)");
	if (st->kind && !callout)
		return weir__error(p->src, st->kind_loc, "a callout kind needs "
				   "a callout action");
	if ((st->flags & WEIR_FILTER_PERMIT_IF_NO_CALLOUT) && !callout)
		return weir__error(p->src, st->unreg_loc, "permit-if-"
				   "unregistered needs a callout action");
	if (st->have_params && !callout)
		return weir__error(p->src, st->params_loc, "parameters are for "
				   "callouts");
	if (callout && st->kind)
		st->action = st->kind;
	return 0;
}

/* Without a match: one empty condition list per layer. */
static int match_all(struct weir__parser *p, struct fst *st)
{
	st->lists = weir__calloc(&p->pol->arena, 2, sizeof(*st->lists));
	st->list_layers = weir__calloc(&p->pol->arena, 2, sizeof(int));
	if (!st->lists || !st->list_layers)
		return weir__oom(p->src, st->loc);
	for (int i = 0; i < st->nlayers; i++)
		st->list_layers[i] = st->layers[i];
	st->nlists = (uint32_t)st->nlayers;
	return 0;
}

static int name_check(struct weir__parser *p, struct fst *st)
{
	char suffix[16];
	uint32_t prev;
	int r;

	if (!st->name)
		return 0;
	snprintf(suffix, sizeof(suffix), "#%u", st->nlists);
	if (st->nlists > 1 && strlen(st->name) + strlen(suffix) >
	    FILTER_NAME_MAX)
		return weir__error(p->src, st->name_loc, "filter name too "
				   "long for the %u filters this statement "
				   "makes (\"NAME%s\" has at most %d bytes)",
				   st->nlists, suffix, FILTER_NAME_MAX);
	r = weir__names_add(p, st->name, st->name_loc.line, &prev);
	if (r < 0)
		return weir__oom(p->src, st->name_loc);
	if (r > 0)
		return weir__error(p->src, st->name_loc, "filter name \"%s\" "
				   "already used at line %u", st->name, prev);
	return 0;
}

static void fill_spec(const struct fst *st, uint32_t i,
		      struct weir_filter_spec *s)
{
	memset(s, 0, sizeof(*s));
	if (st->name && st->nlists == 1)
		snprintf(s->name, sizeof(s->name), "%s", st->name);
	else if (st->name)
		snprintf(s->name, sizeof(s->name), "%s#%u", st->name, i + 1);
	else if (st->nlists == 1)
		snprintf(s->name, sizeof(s->name), "line-%u", st->loc.line);
	else
		snprintf(s->name, sizeof(s->name), "line-%u#%u", st->loc.line,
			 i + 1);
	s->layer = (uint16_t)st->list_layers[i];
	s->weight_kind = st->weight_kind;
	s->weight = st->weight;
	s->action = st->action;
	s->flags = st->flags;
	if (st->callout)
		snprintf(s->callout, sizeof(s->callout), "%s", st->callout);
	s->params = st->params;
	s->conds = st->lists[i].c;
	s->ncond = st->lists[i].n;
}

static int emit(struct weir__parser *p, struct fst *st)
{
	struct weir_policy *pol = p->pol;

	if (check(p, st) < 0 || (!st->have_match && match_all(p, st) < 0) ||
	    name_check(p, st) < 0)
		return -EINVAL;
	if (pol->nflt + st->nlists > pol->capflt) {
		pol->capflt = pol->capflt ? pol->capflt * 2 : 16;
		if (pol->capflt < pol->nflt + st->nlists)
			pol->capflt = pol->nflt + st->nlists;
		pol->flts = weir__grow(&pol->arena, pol->flts, pol->nflt,
				       pol->capflt, sizeof(*pol->flts));
		if (!pol->flts)
			return weir__oom(p->src, st->loc);
	}
	for (uint32_t i = 0; i < st->nlists; i++) {
		struct weir_policy_filter *f = &pol->flts[pol->nflt++];

		fill_spec(st, i, &f->spec);
		f->sublayer = st->sublayer;
		f->line = st->loc.line;
		f->col = st->loc.col;
	}
	return 0;
}

/* ---- statements -------------------------------------------------------- */

static int block_item(struct weir__parser *p, struct fst *st)
{
	const struct weir__tok *t = weir__peek(&p->lx, 0);
	struct weir__loc at = t->loc;
	int r;

	if (weir__accept(&p->lx, "match"))
		return parse_match(p, st, at) < 0 ? -EINVAL
						   : weir__expect(&p->lx, ";");
	if (weir__accept(&p->lx, "action"))
		return parse_action(p, st) < 0 ? -EINVAL
					       : weir__expect(&p->lx, ";");
	if (weir__accept(&p->lx, "with") || weir__accept(&p->lx, "params")) {
		if (parse_with(p, st, at) < 0)
			return -EINVAL;
		weir__accept(&p->lx, ";");
		return 0;
	}
	if (weir__accept(&p->lx, "layer"))
		return parse_layer_once(p, st) < 0 ? -EINVAL
						   : weir__expect(&p->lx, ";");
	r = parse_option(p, st);
	if (r > 0)
		return weir__expect(&p->lx, ";");
	return r < 0 ? r : weir__expected(&p->lx, t, "match, action, with, "
					  "layer, an option or '}'");
}

int weir__parse_filter_block(struct weir__parser *p)
{
	struct fst st = { .loc = p->lx.prev };
	int r;

	if (weir__parse_name(p, "filter name", FILTER_NAME_MAX, false,
			     &st.name, &st.name_loc) < 0)
		return -EINVAL;
	if (weir__accept(&p->lx, "in") && parse_layer_once(p, &st) < 0)
		return -EINVAL;
	while ((r = parse_option(p, &st)) > 0)
		;
	if (r < 0 || weir__expect(&p->lx, "{") < 0)
		return -EINVAL;
	while (!weir__accept(&p->lx, "}"))
		if (block_item(p, &st) < 0)
			return -EINVAL;
	weir__accept(&p->lx, ";");
	return emit(p, &st);
}

int weir__parse_rule(struct weir__parser *p)
{
	struct fst st = { .loc = weir__peek(&p->lx, 0)->loc };
	int r;

	if (parse_action(p, &st) < 0)
		return -EINVAL;
	if (weir__peek(&p->lx, 0)->kind == TK_STRING &&
	    weir__parse_name(p, "filter name", FILTER_NAME_MAX, false,
			     &st.name, &st.name_loc) < 0)
		return -EINVAL;
	if (weir__expect(&p->lx, "in") < 0 || parse_layer_once(p, &st) < 0)
		return -EINVAL;
	while (!weir__accept(&p->lx, ";")) {
		struct weir__loc at = weir__peek(&p->lx, 0)->loc;

		if (weir__accept(&p->lx, "if"))
			r = parse_match(p, &st, at);
		else if (weir__accept(&p->lx, "with"))
			r = parse_with(p, &st, at);
		else if ((r = parse_option(p, &st)) == 0)
			return weir__expect(&p->lx, ";");
		if (r < 0)
			return -EINVAL;
	}
	return emit(p, &st);
}
