/* Steering plans: defaults, the checks that keep a bad plan away from
 * the kernel, connmark generations and the names of weir's chains.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "capture/steer.h"

static const char *const hook_names[WEIR__STEER_NHOOK] = {
	[WEIR__STEER_INPUT] = "INPUT",
	[WEIR__STEER_OUTPUT] = "OUTPUT",
	[WEIR__STEER_FORWARD] = "FORWARD",
};

const char *weir__steer_hook_name(int hook)
{
	return hook >= 0 && hook < WEIR__STEER_NHOOK ? hook_names[hook] : "?";
}

int weir__steer_rule_hook(const char *rule)
{
	if (strncmp(rule, "-A ", 3) != 0)
		return -1;
	for (int h = 0; h < WEIR__STEER_NHOOK; h++) {
		size_t n = strlen(hook_names[h]);

		if (strncmp(rule + 3, hook_names[h], n) == 0 &&
		    rule[3 + n] == ' ')
			return h;
	}
	return -1;
}

void weir__steer_fail(struct weir__steer_err *err, int family, int status,
		      const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	err->family = family;
	err->status = status;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

void weir__steer_plan_init(struct weir__steer_plan *plan)
{
	memset(plan, 0, sizeof(*plan));
	plan->mark = WEIR__STEER_MARK_DEFAULT;
	plan->mark_mask = WEIR__STEER_MARK_MASK_DEFAULT;
	plan->vmark_mask = WEIR__STEER_VMARK_MASK_DEFAULT;
	plan->ct_mask = WEIR__STEER_CT_MASK_DEFAULT;
	plan->generation = 1;
	plan->backend = WEIR__STEER_IPTABLES;
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

/* The tag goes into chain names and a comment, unquoted by iptables-save
 * rules of its own: no blanks, quotes or option-like start. */
static bool tag_ok(const char *tag)
{
	size_t n = strlen(tag);

	if (n == 0 || n > WEIR__STEER_TAG_MAX || tag[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!name_char(tag[i]))
			return false;
	return true;
}

static bool ifname_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 15 || name[0] == '-' || name[0] == '+')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!name_char(name[i]) && name[i] != ':' &&
		    !(name[i] == '+' && i == n - 1))
			return false;
	return true;
}

static unsigned ctz32(uint32_t v)
{
	return (unsigned)__builtin_ctz(v);
}

/* A mask of one run of set bits: adding its lowest bit clears them all. */
static bool contiguous(uint32_t m)
{
	return m && ((m + (m & -m)) & m) == 0;
}

/* The largest value a mask's field holds, capped at 255; 0: bad mask. */
static uint8_t field_max(uint32_t mask)
{
	uint32_t max;

	if (!contiguous(mask))
		return 0;
	max = mask >> ctz32(mask);
	return max > 255 ? 255 : (uint8_t)max;
}

uint8_t weir__steer_generation_max(const struct weir__steer_plan *plan)
{
	uint8_t c = field_max(plan->ct_mask), v = field_max(plan->vmark_mask);

	return c < v ? c : v;
}

uint8_t weir__steer_generation_next(const struct weir__steer_plan *plan,
				    uint8_t gen)
{
	uint8_t max = weir__steer_generation_max(plan);

	if (!max)
		return 0;
	return gen >= max ? 1 : (uint8_t)(gen + 1);
}

static uint32_t field(uint8_t v, uint32_t mask)
{
	if (!contiguous(mask))
		return 0;
	return ((uint32_t)v << ctz32(mask)) & mask;
}

uint32_t weir__steer_ctmark(const struct weir__steer_plan *plan, uint8_t gen)
{
	return field(gen, plan->ct_mask);
}

uint32_t weir__steer_vmark(const struct weir__steer_plan *plan, uint8_t gen)
{
	return field(gen, plan->vmark_mask);
}

int weir__steer_chain_name(const char *tag, int hook,
			   char ret[WEIR__STEER_CHAIN_MAX])
{
	if (!tag)
		tag = WEIR__STEER_TAG_DEFAULT;
	if (!tag_ok(tag) || hook < 0 || hook >= WEIR__STEER_NHOOK)
		return -EINVAL;
	/* No tag ends in "-INPUT" etc. ambiguously: the hook names are not
	 * suffixes of one another, so every (tag, hook) has its own name. */
	if (strcmp(tag, WEIR__STEER_TAG_DEFAULT) == 0)
		snprintf(ret, WEIR__STEER_CHAIN_MAX, "WEIR-%s",
			 hook_names[hook]);
	else
		snprintf(ret, WEIR__STEER_CHAIN_MAX, "WEIR-%s-%s", tag,
			 hook_names[hook]);
	return 0;
}

static int check_hook(const struct weir__steer_hook_plan *h, int family,
		      int hook, struct weir__steer_err *err)
{
	const char *why = NULL;

	if (!h->queue)
		return 0;
	if (h->qfirst > h->qlast)
		why = "queue range ends before it starts";
	else if (h->cpu_fanout && h->qfirst == h->qlast)
		why = "CPU fan-out needs a range of queues";
	if (!why)
		return 0;
	weir__steer_fail(err, family, -1, "%s %s: %s",
			 family == WEIR__STEER_IPV4 ? "IPv4" : "IPv6",
			 hook_names[hook], why);
	return -EINVAL;
}

static const char *check_marks(const struct weir__steer_plan *p)
{
	uint8_t max = weir__steer_generation_max(p);

	if (!p->mark_mask || !(p->mark & p->mark_mask))
		return "the injection mark needs a bit set in its mask";
	if (p->mark & ~p->mark_mask)
		return "the injection mark has bits outside its mask";
	if (!field_max(p->ct_mask) || !field_max(p->vmark_mask))
		return "the connmark and verdict-mark masks need one run of "
		       "set bits";
	/* With one bit the generation could never change: a reload would
	 * leave every bypassed flow bypassed. */
	if (max < 2)
		return "the connmark and verdict-mark masks need two bits";
	if (p->vmark_mask & p->mark_mask)
		return "the verdict mark overlaps the injection mark";
	if (p->generation == 0 || p->generation > max)
		return "the generation is outside 1..max of the masks";
	return NULL;
}

int weir__steer_plan_check(const struct weir__steer_plan *plan,
			   struct weir__steer_err *err)
{
	const char *why = NULL;

	if (!plan)
		why = "no plan";
	else if (plan->tag && !tag_ok(plan->tag))
		why = "the tag needs 1..15 of A-Z a-z 0-9 _ . - (no leading -)";
	else if (plan->inject_ifname && !ifname_ok(plan->inject_ifname))
		why = "bad injection interface name";
	else if (plan->backend > WEIR__STEER_NFT)
		why = "unknown backend";
	else
		why = check_marks(plan);
	if (why) {
		weir__steer_fail(err, -1, -1, "%s", why);
		return -EINVAL;
	}
	for (int f = 0; f < WEIR__STEER_NFAMILY; f++)
		for (int h = 0; h < WEIR__STEER_NHOOK; h++)
			if (check_hook(&plan->hook[f][h], f, h, err))
				return -EINVAL;
	return 0;
}
