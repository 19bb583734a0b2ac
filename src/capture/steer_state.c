/* What weir owns in a filter table, read from iptables-save output: the
 * chains of one tag with their rules; weir's jumps (a built-in chain's
 * rule that is nothing but a jump to the tag's chain for that hook, or
 * FORWARD's copy of a queue rule of that chain, or any rule with the
 * tag's comment, the form of older versions); and the rules elsewhere
 * that jump to those chains. Pure text processing, so the diff that
 * follows can be tested without root. Two passes: our chains' rules
 * first (the save lists built-in chains first), then what refers to
 * them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture/steer.h"

int weir__steer_lines_add(struct weir__steer_lines *l, const char *line)
{
	char *copy = strdup(line);

	if (!copy)
		return -ENOMEM;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		char **v = realloc(l->v, cap * sizeof(*v));

		if (!v) {
			free(copy);
			return -ENOMEM;
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = copy;
	return 0;
}

static void lines_exit(struct weir__steer_lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

void weir__steer_state_exit(struct weir__steer_state *st)
{
	for (int h = 0; h < WEIR__STEER_NHOOK; h++) {
		lines_exit(&st->rules[h]);
		lines_exit(&st->links[h]);
	}
	lines_exit(&st->jumps);
	memset(st, 0, sizeof(*st));
}

size_t weir__steer_state_count(const struct weir__steer_state *st)
{
	size_t n = st->jumps.n;

	for (int h = 0; h < WEIR__STEER_NHOOK; h++)
		n += st->chain[h] + st->rules[h].n + st->links[h].n;
	return n;
}

/* Does `word` appear in s as a whole blank-separated word right after
 * `opt ` (e.g. opt "-j", word "WEIR-INPUT")? */
static bool has_opt(const char *s, const char *opt, const char *word)
{
	size_t ol = strlen(opt), wl = strlen(word);

	for (const char *p = strstr(s, opt); p; p = strstr(p + 1, opt)) {
		const char *v = p + ol;

		if ((p != s && p[-1] != ' ') || *v != ' ')
			continue;
		v++;
		if (*v == '"')
			v++;
		if (strncmp(v, word, wl) == 0 &&
		    (v[wl] == '\0' || v[wl] == ' ' || v[wl] == '"'))
			return true;
	}
	return false;
}

struct names {
	char chain[WEIR__STEER_NHOOK][WEIR__STEER_CHAIN_MAX];
	char jump[WEIR__STEER_NHOOK][16 + 2 * WEIR__STEER_CHAIN_MAX];
	char comment[8 + WEIR__STEER_TAG_MAX]; /* of older versions' jumps */
	unsigned builtin_rules[WEIR__STEER_NHOOK]; /* seen so far, per hook */
};

/* FORWARD's copy of a queue rule of weir's FORWARD chain (the
 * skips_in_user form, steer_render.c): "-A FORWARD REST" where the chain
 * has "-A WEIR-...-FORWARD REST". Any of the chain's queue rules, not
 * only a sole one: an admin's rule appended to the chain must not hide
 * the copy from removal. */
static bool is_direct(const struct weir__steer_state *st,
		      const struct names *nm, int bh, const char *line)
{
	const struct weir__steer_lines *r = &st->rules[WEIR__STEER_FORWARD];
	size_t hl = 3 + strlen(weir__steer_hook_name(WEIR__STEER_FORWARD));
	size_t cl = 3 + strlen(nm->chain[WEIR__STEER_FORWARD]);

	if (bh != WEIR__STEER_FORWARD || !strstr(line, " -j NFQUEUE "))
		return false;
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(line + hl, r->v[i] + cl) == 0)
			return true;
	return false;
}

/* Notes where the first of weir's jumps for a hook sits in the built-in
 * chain: a jump of the other form (an upgrade, or a rollback of one)
 * goes in at the same place. */
static void note_jump(struct weir__steer_state *st, const struct names *nm,
		      int bh, const char *rule)
{
	if (bh >= 0 && !st->jump_pos[bh] &&
	    (has_opt(rule, "-j", nm->chain[bh]) ||
	     has_opt(rule, "-g", nm->chain[bh]) ||
	     is_direct(st, nm, bh, rule)))
		st->jump_pos[bh] = nm->builtin_rules[bh];
}

static int our_chain(const struct names *nm, const char *name, size_t len)
{
	for (int h = 0; h < WEIR__STEER_NHOOK; h++)
		if (strlen(nm->chain[h]) == len &&
		    memcmp(nm->chain[h], name, len) == 0)
			return h;
	return -1;
}

/* The chain of ours a rule jumps or goes to, -1 for none. */
static int reaches(const struct names *nm, const char *rule)
{
	for (int h = 0; h < WEIR__STEER_NHOOK; h++)
		if (has_opt(rule, "-j", nm->chain[h]) ||
		    has_opt(rule, "-g", nm->chain[h]))
			return h;
	return -1;
}

/* Pass 0: our chains and their rules. */
static int take_own(struct weir__steer_state *st, const struct names *nm,
		    const char *line)
{
	size_t n;
	int h;

	if (line[0] == ':') {
		n = strcspn(line + 1, " ");
		h = our_chain(nm, line + 1, n);
		if (h >= 0)
			st->chain[h] = true;
		return 0;
	}
	if (strncmp(line, "-A ", 3) != 0)
		return 0;
	n = strcspn(line + 3, " ");
	h = our_chain(nm, line + 3, n);
	return h >= 0 ? weir__steer_lines_add(&st->rules[h], line) : 0;
}

/* Pass 1: the rules outside our chains. */
static int take_line(struct weir__steer_state *st, struct names *nm,
		     const char *line)
{
	size_t n;
	int h, bh;

	if (strncmp(line, "-A ", 3) != 0)
		return 0;
	n = strcspn(line + 3, " ");
	if (our_chain(nm, line + 3, n) >= 0)
		return 0;
	bh = weir__steer_rule_hook(line);
	if (bh >= 0)
		nm->builtin_rules[bh]++;
	if ((bh >= 0 && strcmp(line, nm->jump[bh]) == 0) ||
	    is_direct(st, nm, bh, line) ||
	    has_opt(line, "--comment", nm->comment)) {
		note_jump(st, nm, bh, line);
		return weir__steer_lines_add(&st->jumps, line);
	}
	h = reaches(nm, line);
	if (h >= 0)
		return weir__steer_lines_add(&st->links[h], line);
	return 0;
}

static int names_init(struct names *nm, const char *tag)
{
	if (!tag)
		tag = WEIR__STEER_TAG_DEFAULT;
	for (int h = 0; h < WEIR__STEER_NHOOK; h++) {
		if (weir__steer_chain_name(tag, h, nm->chain[h]))
			return -EINVAL;
		snprintf(nm->jump[h], sizeof(nm->jump[h]), "-A %s -j %s",
			 weir__steer_hook_name(h), nm->chain[h]);
	}
	snprintf(nm->comment, sizeof(nm->comment), "weir:%s", tag);
	return 0;
}

/* Splits text (a copy) into lines without trailing blanks: ownership
 * goes by exact text, and no stray blank may hide it. */
static int parse_pass(struct weir__steer_state *st, struct names *nm,
		      const char *text, int pass)
{
	bool filter = false;
	char *copy = strdup(text), *line, *next;
	int rc = 0;

	if (!copy)
		return -ENOMEM;
	for (line = copy; line && !rc; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		for (size_t n = strlen(line);
		     n && strchr(" \t\r", line[n - 1]); n--)
			line[n - 1] = '\0';
		if (line[0] == '*')
			filter = strcmp(line, "*filter") == 0;
		else if (filter)
			rc = pass ? take_line(st, nm, line)
				  : take_own(st, nm, line);
	}
	free(copy);
	return rc;
}

int weir__steer_state_parse(struct weir__steer_state *ret, const char *text,
			    const char *tag)
{
	struct names nm = { 0 };
	int rc;

	memset(ret, 0, sizeof(*ret));
	if (names_init(&nm, tag))
		return -EINVAL;
	rc = parse_pass(ret, &nm, text, 0);
	if (!rc)
		rc = parse_pass(ret, &nm, text, 1);
	return rc;
}

static uint8_t gen_of(const char *rule, uint32_t ct_mask)
{
	const char *p = strstr(rule, " -m connmark --mark ");
	unsigned value, mask;
	uint32_t lsb = ct_mask & -ct_mask;

	if (!p || !lsb || sscanf(p + 20, "%x/%x", &value, &mask) != 2 ||
	    mask != ct_mask || !strstr(p, " -j RETURN"))
		return 0;
	value = (value & ct_mask) / lsb;
	return value > 255 ? 255 : (uint8_t)value;
}

uint8_t weir__steer_state_generation(const struct weir__steer_state *st,
				     uint32_t ct_mask)
{
	uint8_t best = 0;

	for (int h = 0; h < WEIR__STEER_NHOOK; h++)
		for (size_t i = 0; i < st->rules[h].n; i++) {
			uint8_t g = gen_of(st->rules[h].v[i], ct_mask);

			if (g > best)
				best = g;
		}
	return best;
}
