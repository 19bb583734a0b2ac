/* Rendering: a plan becomes the rules it wants (in the exact form
 * iptables-save prints them, so that an unchanged chain compares equal
 * and is left alone), and the difference between two states becomes one
 * iptables-restore --noflush transaction. Pure functions.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture/steer.h"

/* A growing text; `failed` sticks after the first allocation failure. */
struct text {
	char *s;
	size_t len, cap;
	bool failed;
};

__attribute__((format(printf, 2, 3)))
static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (int pass = 0; pass < 2 && !t->failed; pass++) {
		size_t room = t->cap - t->len;

		va_start(ap, fmt);
		n = vsnprintf(t->s ? t->s + t->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = true;
		} else if ((size_t)n < room) {
			t->len += (size_t)n;
			return;
		} else {
			size_t cap = (t->cap + (size_t)n) * 2;
			char *s = realloc(t->s, cap);

			if (!s)
				t->failed = true;
			t->s = s ? s : t->s;
			t->cap = s ? cap : t->cap;
		}
	}
}

/* "0x570000/0xff0000", or "0x570000" for a full mask, as iptables-save
 * prints the mark and connmark matches. */
static void put_mark(struct text *t, uint32_t v, uint32_t m)
{
	if (m == 0xffffffffu)
		put(t, "0x%x", v);
	else
		put(t, "0x%x/0x%x", v, m);
}

static void put_queue(struct text *t, const struct weir__steer_hook_plan *h)
{
	if (h->qfirst == h->qlast)
		put(t, " -j NFQUEUE --queue-num %u", h->qfirst);
	else
		put(t, " -j NFQUEUE --queue-balance %u:%u", h->qfirst,
		    h->qlast);
	if (h->bypass)
		put(t, " --queue-bypass");
	if (h->cpu_fanout)
		put(t, " --queue-cpu-fanout");
}

/* A chain that queues every packet but weir's own, in one rule: its
 * skips as negated matches instead of RETURN rules. Each rule costs the
 * forwarding path (iptables-nft evaluates them one by one); measured at
 * 300 kpps, the single rule gives 2 % more packets through the queue.
 * With skips_in_user even the matches go (about 3 % more on FORWARD,
 * bench/packet/rules.sh): the workers recognise weir's own packets. */
static void put_single(struct text *t, const struct weir__steer_plan *p,
		       const struct weir__steer_hook_plan *h, int hook,
		       const char *chain)
{
	put(t, "-A %s", chain);
	if (h->skips_in_user) {
		put_queue(t, h);
		put(t, "\n");
		return;
	}
	/* Output packets have no input interface: iptables refuses -i. */
	if (p->inject_ifname && hook != WEIR__STEER_OUTPUT)
		put(t, " ! -i %s", p->inject_ifname);
	put(t, " -m mark ! --mark ");
	put_mark(t, p->mark, p->mark_mask);
	put_queue(t, h);
	put(t, "\n");
}

/* The rules of one chain, one per line, in save form. */
static void put_chain(struct text *t, const struct weir__steer_plan *p,
		      const struct weir__steer_hook_plan *h, int hook,
		      const char *chain)
{
	uint32_t ctmark = weir__steer_ctmark(p, p->generation);

	if (h->no_ct_bypass && !h->new_only) {
		put_single(t, p, h, hook, chain);
		return;
	}
	put(t, "-A %s -m mark --mark ", chain);
	put_mark(t, p->mark, p->mark_mask);
	put(t, " -j RETURN\n");
	if (!h->no_ct_bypass) {
		/* An NF_REPEAT verdict of this generation comes back through
		 * here with the generation in its mark: keep it in the flow's
		 * connmark, then the next rule lets it (and the flow's next
		 * packets) go. */
		put(t, "-A %s -m mark --mark ", chain);
		put_mark(t, weir__steer_vmark(p, p->generation),
			 p->vmark_mask);
		/* CONNMARK prints its mask even when full. */
		put(t, " -j CONNMARK --set-xmark 0x%x/0x%x", ctmark,
		    p->ct_mask);
		put(t, "\n-A %s -m connmark --mark ", chain);
		put_mark(t, ctmark, p->ct_mask);
		put(t, " -j RETURN\n");
	}
	/* Output packets have no input interface: iptables refuses -i. */
	if (p->inject_ifname && hook != WEIR__STEER_OUTPUT)
		put(t, "-A %s -i %s -j RETURN\n", chain, p->inject_ifname);
	put(t, "-A %s%s", chain,
	    h->new_only ? " -m conntrack --ctstate NEW" : "");
	put_queue(t, h);
	put(t, "\n");
	if (!h->new_only)
		return;
	/* A flow marked by an older generation was let through under the
	 * old policy: queue it once more, so it is authorised again. */
	put(t, "-A %s -m connmark ! --mark ", chain);
	put_mark(t, 0, p->ct_mask);
	put_queue(t, h);
	put(t, "\n");
}

/* Splits the text at its newlines into lines. */
static int add_text(struct weir__steer_lines *l, struct text *t)
{
	int rc = 0;

	if (t->failed)
		return -ENOMEM;
	for (char *line = t->s, *nl; line && *line && !rc; line = nl) {
		nl = line + strcspn(line, "\n");
		if (*nl)
			*nl++ = '\0';
		rc = weir__steer_lines_add(l, line);
	}
	free(t->s);
	memset(t, 0, sizeof(*t));
	return rc;
}

static int copy_lines(struct weir__steer_lines *to,
		      const struct weir__steer_lines *from)
{
	int rc = 0;

	for (size_t i = 0; i < from->n && !rc; i++)
		rc = weir__steer_lines_add(to, from->v[i]);
	return rc;
}

/* What the built-in chain holds: a jump to our chain; or, for the
 * one-rule chain of skips_in_user, a copy of that rule, which spares
 * every packet the jump (measured on FORWARD, bench/packet/rules.sh:
 * about 2-3 % more packets through the queue). The copy is weir's
 * because it equals the only rule of weir's own chain
 * (steer_state.c), which stays as that record. */
static void put_jump(struct text *t, const struct weir__steer_hook_plan *h,
		     int hook, const char *chain,
		     const struct weir__steer_lines *rules)
{
	const char *name = weir__steer_hook_name(hook);

	if (h->skips_in_user && rules->n == 1)
		put(t, "-A %s%s\n", name, rules->v[0] + 3 + strlen(chain));
	else
		put(t, "-A %s -j %s\n", name, chain);
}

static int target_hook(const struct weir__steer_plan *p, int family,
		       int hook, const struct weir__steer_state *cur,
		       struct weir__steer_state *ret)
{
	const struct weir__steer_hook_plan *h = &p->hook[family][hook];
	const char *tag = p->tag ? p->tag : WEIR__STEER_TAG_DEFAULT;
	char chain[WEIR__STEER_CHAIN_MAX];
	struct text t = { 0 };
	int rc;

	if (!h->queue)
		return 0;
	if (weir__steer_chain_name(tag, hook, chain))
		return -EINVAL;
	ret->chain[hook] = true;
	/* Where the jump will be: where one was, else first. */
	ret->jump_pos[hook] = cur && cur->jump_pos[hook] ? cur->jump_pos[hook]
							 : 1;
	put_chain(&t, p, h, hook, chain);
	rc = add_text(&ret->rules[hook], &t);
	if (!rc) {
		/* No comment: under iptables-nft 1.8 a comment is an xt
		 * match that runs for every packet. The exact form (built-in
		 * chain, nothing but the jump) marks the rule as weir's. */
		put_jump(&t, h, hook, chain, &ret->rules[hook]);
		rc = add_text(&ret->jumps, &t);
	}
	if (!rc && cur)
		rc = copy_lines(&ret->links[hook], &cur->links[hook]);
	return rc;
}

int weir__steer_target(const struct weir__steer_plan *plan, int family,
		       const struct weir__steer_state *cur,
		       struct weir__steer_state *ret)
{
	int rc = 0;

	memset(ret, 0, sizeof(*ret));
	if (family < 0 || family >= WEIR__STEER_NFAMILY)
		return -EINVAL;
	for (int h = 0; h < WEIR__STEER_NHOOK && !rc; h++)
		rc = target_hook(plan, family, h, cur, ret);
	return rc;
}

static bool same_lines(const struct weir__steer_lines *a,
		       const struct weir__steer_lines *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]) != 0)
			return false;
	return true;
}

/* The rules outside our chains, jumps first, then links by hook. */
struct refs {
	const char **v;
	bool *matched;
	size_t n;
	size_t njumps;                    /* v[0..njumps): jumps */
};

static void put_lines_of(struct refs *r, const struct weir__steer_lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		r->v[r->n++] = l->v[i];
}

static int gather(struct refs *r, const struct weir__steer_state *st)
{
	size_t n = st->jumps.n;

	for (int h = 0; h < WEIR__STEER_NHOOK; h++)
		n += st->links[h].n;
	r->n = 0;
	r->v = calloc(n + 1, sizeof(*r->v));
	r->matched = calloc(n + 1, sizeof(*r->matched));
	if (!r->v || !r->matched)
		return -ENOMEM;
	put_lines_of(r, &st->jumps);
	r->njumps = r->n;
	for (int h = 0; h < WEIR__STEER_NHOOK; h++)
		put_lines_of(r, &st->links[h]);
	return 0;
}

static void refs_exit(struct refs *r)
{
	free(r->v);
	free(r->matched);
}

/* Pairs equal rules of both sides; each may pair once. */
static void match(struct refs *from, struct refs *to)
{
	for (size_t i = 0; i < from->n; i++)
		for (size_t j = 0; j < to->n; j++)
			if (!to->matched[j] &&
			    strcmp(from->v[i], to->v[j]) == 0) {
				from->matched[i] = to->matched[j] = true;
				break;
			}
}

/* "-A CHAIN REST" as "-D CHAIN REST" or "-I CHAIN 1 REST". */
static void put_ref(struct text *t, const char *rule, bool insert)
{
	const char *chain = rule + 3;
	int n = (int)strcspn(chain, " ");

	if (insert)
		put(t, "-I %.*s 1%s\n", n, chain, chain + n);
	else
		put(t, "-D %s\n", rule + 3);
}

/* The hook whose chain the rule jumps to from that hook's built-in
 * chain ("-A INPUT ... -j WEIR-INPUT"), or -1. */
static int jump_hook(const char *rule, char chain[][WEIR__STEER_CHAIN_MAX])
{
	int h = weir__steer_rule_hook(rule);
	size_t len = strlen(rule), c;

	if (h < 0)
		return -1;
	c = strlen(chain[h]);
	if (len > c + 4 && strncmp(rule + len - c - 4, " -j ", 4) == 0 &&
	    strcmp(rule + len - c, chain[h]) == 0)
		return h;
	return -1;
}

static void put_refs(struct text *t, const struct weir__steer_state *fst,
		     char chain_of[][WEIR__STEER_CHAIN_MAX], struct refs *from,
		     struct refs *to)
{
	match(from, to);
	/* A jump of the other form in place (an older version's commented
	 * one, or the way back from it): the wanted one goes in at its
	 * place, before anything in the chain moves; the other goes with
	 * the deletions. */
	for (size_t j = 0; j < to->n; j++) {
		int h = to->matched[j] ? -1
			: j < to->njumps ? weir__steer_rule_hook(to->v[j])
					 : jump_hook(to->v[j], chain_of);
		const char *chain = to->v[j] + 3;
		int n = (int)strcspn(chain, " ");

		if (h < 0 || !fst->jump_pos[h])
			continue;
		put(t, "-I %.*s %u%s\n", n, chain, fst->jump_pos[h], chain + n);
		to->matched[j] = true;
	}
	for (size_t i = 0; i < from->n; i++)
		if (!from->matched[i])
			put_ref(t, from->v[i], false);
	/* Insertions at 1 stack up: the last one ends first. Going
	 * backwards keeps `to`'s order. */
	for (size_t j = to->n; j-- > 0;)
		if (!to->matched[j])
			put_ref(t, to->v[j], true);
}

static void put_chains(struct text *t, const struct weir__steer_state *from,
		       const struct weir__steer_state *to,
		       char chain[][WEIR__STEER_CHAIN_MAX])
{
	for (int h = 0; h < WEIR__STEER_NHOOK; h++) {
		if (!to->chain[h] || (from->chain[h] &&
				      same_lines(&from->rules[h],
						 &to->rules[h])))
			continue;
		/* With --noflush, declaring a chain creates or flushes it. */
		put(t, ":%s - [0:0]\n", chain[h]);
		for (size_t i = 0; i < to->rules[h].n; i++)
			put(t, "%s\n", to->rules[h].v[i]);
	}
}

static int diff(const struct weir__steer_state *from,
		const struct weir__steer_state *to,
		char chain[][WEIR__STEER_CHAIN_MAX], struct refs *rf,
		struct refs *rt, char **ret_text)
{
	struct text t = { 0 };
	size_t head;

	put(&t, "*filter\n");
	head = t.len;
	put_chains(&t, from, to, chain);
	put_refs(&t, from, chain, rf, rt);
	/* A chain goes once nothing reaches it; -X wants it empty. */
	for (int h = 0; h < WEIR__STEER_NHOOK; h++)
		if (from->chain[h] && !to->chain[h])
			put(&t, "-F %s\n-X %s\n", chain[h], chain[h]);
	if (t.len != head)
		put(&t, "COMMIT\n");
	if (t.failed) {
		free(t.s);
		return -ENOMEM;
	}
	if (t.len == head) {
		free(t.s);
		t.s = NULL;
	}
	*ret_text = t.s;
	return 0;
}

int weir__steer_diff(const struct weir__steer_state *from,
		     const struct weir__steer_state *to, const char *tag,
		     char **ret_text)
{
	static const struct weir__steer_state empty;
	char chain[WEIR__STEER_NHOOK][WEIR__STEER_CHAIN_MAX];
	struct refs rf = { 0 }, rt = { 0 };
	int rc = 0;

	from = from ? from : &empty;
	to = to ? to : &empty;
	for (int h = 0; h < WEIR__STEER_NHOOK && !rc; h++)
		rc = weir__steer_chain_name(tag, h, chain[h]);
	if (!rc)
		rc = gather(&rf, from);
	if (!rc)
		rc = gather(&rt, to);
	if (!rc)
		rc = diff(from, to, chain, &rf, &rt, ret_text);
	refs_exit(&rf);
	refs_exit(&rt);
	return rc;
}

int weir__steer_render(const struct weir__steer_plan *plan, int family,
		       const struct weir__steer_state *cur, char **ret_text,
		       struct weir__steer_err *err)
{
	struct weir__steer_state to;
	int rc = weir__steer_plan_check(plan, err);

	if (rc)
		return rc;
	rc = weir__steer_target(plan, family, cur, &to);
	if (!rc)
		rc = weir__steer_diff(cur, &to, plan->tag, ret_text);
	weir__steer_state_exit(&to);
	if (rc)
		weir__steer_fail(err, family, -1, "rendering: %s",
				 strerror(-rc));
	return rc;
}
