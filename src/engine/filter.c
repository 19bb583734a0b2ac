/* Filters: checking a caller's spec, and the engine's own immutable,
 * refcounted copy with its conditions grouped by field.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "engine/engine_internal.h"

enum kind { K_ADDR, K_NUM, K_STR, K_BYTES };

static enum kind field_kind(uint16_t field)
{
	switch (field) {
	case WEIR_FIELD_IP_SRC:
	case WEIR_FIELD_IP_DST:
		return K_ADDR;
	case WEIR_FIELD_IF_IN_NAME:
	case WEIR_FIELD_IF_OUT_NAME:
		return K_STR;
	case WEIR_FIELD_PACKET:
	case WEIR_FIELD_PAYLOAD:
		return K_BYTES;
	default:
		return K_NUM;
	}
}

static bool match_fits(enum kind k, uint8_t match, uint8_t width)
{
	if (k == K_BYTES && width == 0)
		k = K_STR;
	switch (k) {
	case K_ADDR:
		return match <= WEIR_MATCH_GE || match == WEIR_MATCH_PREFIX ||
		       match == WEIR_MATCH_IN_SET;
	case K_STR:
		return match == WEIR_MATCH_EQ || match == WEIR_MATCH_NE ||
		       match == WEIR_MATCH_IN_SET;
	default:
		return match != WEIR_MATCH_PREFIX && match < WEIR_MATCH__COUNT;
	}
}

static int cond_check(const struct weir_cond *c, int layer, const char **why)
{
	unsigned alen = weir_layer_family(layer) == AF_INET6 ? 16 : 4;
	enum kind k;

	if (c->field >= WEIR_FIELD__COUNT)
		return *why = "unknown field", -EINVAL;
	if (!(weir_layer_fields(layer) & (1ull << c->field)))
		return *why = "field not offered by this layer", -EINVAL;
	k = field_kind(c->field);
	if (k == K_BYTES && c->width != 0 && c->width != 1 && c->width != 2 &&
	    c->width != 4 && c->width != 8)
		return *why = "width must be 0, 1, 2, 4 or 8", -EINVAL;
	if (!match_fits(k, c->match, c->width))
		return *why = "match type does not fit the field", -EINVAL;
	if (c->match == WEIR_MATCH_IN_SET &&
	    (!c->set || !c->set_len || c->set_len > WEIR__MAX_SET))
		return *why = "empty or oversized set", -EINVAL;
	if (c->match != WEIR_MATCH_IN_SET && (k == K_STR || k == K_BYTES) &&
	    c->v.len > WEIR_VAL_BYTES)
		return *why = "string too long", -EINVAL;
	if (k == K_ADDR && c->match == WEIR_MATCH_PREFIX && c->v.plen > alen * 8)
		return *why = "prefix longer than the address", -EINVAL;
	for (uint32_t i = 0; c->match == WEIR_MATCH_IN_SET && i < c->set_len; i++)
		if ((k == K_ADDR && c->set[i].plen > alen * 8) ||
		    (k != K_ADDR && k != K_NUM && c->set[i].len > WEIR_VAL_BYTES))
			return *why = "bad set member", -EINVAL;
	return 0;
}

int weir_filter_spec_check(const struct weir_filter_spec *spec,
			   const char **why)
{
	const char *dummy;

	if (!why)
		why = &dummy;
	if (!spec || weir_layer_family(spec->layer) < 0)
		return *why = "unknown layer", -EINVAL;
	if (spec->action < WEIR_ACTION_PERMIT ||
	    spec->action > WEIR_ACTION_CALLOUT_UNKNOWN)
		return *why = "unknown action", -EINVAL;
	if (spec->action >= WEIR_ACTION_CALLOUT_TERMINATING &&
	    !spec->callout[0])
		return *why = "callout action without a callout name", -EINVAL;
	if (spec->weight_kind > WEIR_WEIGHT_RANGE ||
	    (spec->weight_kind == WEIR_WEIGHT_RANGE && spec->weight > 15))
		return *why = "bad weight", -EINVAL;
	if (spec->flags & ~(WEIR_FILTER_CLEAR_ACTION_RIGHT |
			    WEIR_FILTER_PERMIT_IF_NO_CALLOUT |
			    WEIR_FILTER_DISABLED | WEIR_FILTER_PEND_PERMIT))
		return *why = "unknown filter flag", -EINVAL;
	if (spec->ncond > UINT16_MAX || (spec->ncond && !spec->conds))
		return *why = "bad condition list", -EINVAL;
	for (uint32_t i = 0; i < spec->ncond; i++) {
		int err = cond_check(&spec->conds[i], spec->layer, why);

		if (err < 0)
			return err;
	}
	return 0;
}

static int cond_copy(struct weir__cond *d, const struct weir_cond *s)
{
	*d = (struct weir__cond){ .field = s->field, .match = s->match,
				  .width = s->width, .offset = s->offset,
				  .v = s->v };
	if (s->match != WEIR_MATCH_IN_SET)
		return 0;
	d->set = malloc(sizeof(*d->set) * s->set_len);
	if (!d->set)
		return -ENOMEM;
	memcpy(d->set, s->set, sizeof(*d->set) * s->set_len);
	d->set_len = s->set_len;
	return 0;
}

static int by_field(const void *a, const void *b)
{
	const struct weir__cond *x = a, *y = b;

	/* Order within a field does not matter: its conditions are ORed. */
	return (x->field > y->field) - (x->field < y->field);
}

/* Sorted conditions fall into runs of one field: the OR groups. */
static int make_groups(struct weir__filter *f)
{
	f->groups = calloc(f->ncond ? f->ncond : 1, sizeof(*f->groups));
	if (!f->groups)
		return -ENOMEM;
	for (uint32_t i = 0; i < f->ncond; i++) {
		struct weir__group *g = &f->groups[f->ngroup];

		if (i && f->conds[i].field == f->conds[i - 1].field) {
			f->groups[f->ngroup - 1].count++;
			continue;
		}
		*g = (struct weir__group){ .field = f->conds[i].field,
					   .first = (uint16_t)i, .count = 1 };
		f->ngroup++;
	}
	return 0;
}

static int filter_fill(struct weir__filter *f,
		       const struct weir_filter_spec *spec)
{
	f->conds = calloc(spec->ncond ? spec->ncond : 1, sizeof(*f->conds));
	f->params = strdup(spec->params ? spec->params : "");
	if (!f->conds || !f->params)
		return -ENOMEM;
	for (uint32_t i = 0; i < spec->ncond; i++) {
		if (cond_copy(&f->conds[i], &spec->conds[i]) < 0)
			return -ENOMEM;
		f->ncond++;
	}
	qsort(f->conds, f->ncond, sizeof(*f->conds), by_field);
	return make_groups(f);
}

struct weir__filter *weir__filter_new(const struct weir_filter_spec *spec)
{
	struct weir__filter *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	atomic_init(&f->refcnt, 1);
	f->id = spec->id;
	f->layer = spec->layer;
	f->sublayer = spec->sublayer;
	f->action = spec->action;
	f->flags = spec->flags;
	f->context = spec->context;
	memcpy(f->name, spec->name, sizeof(f->name));
	f->name[sizeof(f->name) - 1] = '\0';
	if (filter_fill(f, spec) < 0) {
		weir__filter_unref(f);
		return NULL;
	}
	return f;
}

void weir__filter_ref(struct weir__filter *f)
{
	atomic_fetch_add_explicit(&f->refcnt, 1, memory_order_relaxed);
}

void weir__filter_unref(struct weir__filter *f)
{
	if (!f || atomic_fetch_sub_explicit(&f->refcnt, 1,
					    memory_order_acq_rel) != 1)
		return;
	for (uint32_t i = 0; i < f->ncond; i++)
		free(f->conds[i].set);
	free(f->conds);
	free(f->groups);
	free(f->params);
	free(f);
}

/* How much of the traffic space one condition group pins down, for
 * automatic weights: more specific filters are evaluated first, as WFP's
 * engine does with FWP_EMPTY weights. */
static unsigned group_specificity(const struct weir_cond *c, unsigned alen)
{
	switch (c->match) {
	case WEIR_MATCH_EQ:
		return field_kind(c->field) == K_ADDR ? alen * 8 : 16;
	case WEIR_MATCH_PREFIX:
		return c->v.plen;
	case WEIR_MATCH_IN_SET:
	case WEIR_MATCH_RANGE:
		return 8;
	default:
		return 4;
	}
}

uint64_t weir__filter_weight(const struct weir_filter_spec *spec,
			     uint64_t seq)
{
	unsigned alen = weir_layer_family(spec->layer) == AF_INET6 ? 16 : 4;
	uint64_t spec_score = 0, low;

	if (spec->weight_kind == WEIR_WEIGHT_EXACT)
		return spec->weight;
	for (uint32_t i = 0; i < spec->ncond; i++)
		spec_score += group_specificity(&spec->conds[i], alen);
	if (spec_score > 0xfff)
		spec_score = 0xfff;
	/* Specificity in bits 48..59, then first-added first. */
	low = spec_score << 48 | ((1ull << 48) - 1 - (seq & ((1ull << 48) - 1)));
	if (spec->weight_kind == WEIR_WEIGHT_RANGE)
		return spec->weight << 60 | low;
	return low;
}
