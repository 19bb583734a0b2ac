/* The iptables backend: per family, read what weir has in the filter
 * table (iptables-save), render the difference to the plan, and apply
 * it with one `iptables-restore --noflush -w` transaction. The kernel
 * never sees half a change of one family; across families, an IPv6
 * failure after IPv4 changed puts IPv4 back.
 *
 * Between reading and restoring, someone else may change the table
 * (a rule we delete by its text is gone): the restore then fails whole,
 * and the family is read and tried once more.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture/steer.h"

static const char *const save_tool[WEIR__STEER_NFAMILY] = {
	"iptables-save", "ip6tables-save",
};
static const char *const restore_tool[WEIR__STEER_NFAMILY] = {
	"iptables-restore", "ip6tables-restore",
};

/* "restore line N" errors name a line of our text: quote it. */
static void quote_line(char *msg, size_t size, const char *stderr_text,
		       const char *text)
{
	const char *p = strstr(stderr_text, "line");
	unsigned long n;
	size_t len = strlen(msg);

	while (p && !(p[4] == ' ' || p[4] == ':'))
		p = strstr(p + 4, "line");
	if (!p || !text || sscanf(p + 4, "%*[: ]%lu", &n) != 1 || n == 0)
		return;
	while (--n && (text = strchr(text, '\n')))
		text++;
	if (text && len < size)
		snprintf(msg + len, size - len, " [line: %.*s]",
			 (int)strcspn(text, "\n"), text);
}

/* The tool's stderr on one line, without its usage hint. */
static void fail_run(struct weir__steer_err *err, int family,
		     const struct weir__steer_run *run, const char *tool,
		     const char *text)
{
	char msg[sizeof(err->msg)];
	size_t n = 0;

	if (!err)
		return;
	for (const char *l = run->err; *l && n < sizeof(msg) - 1;) {
		size_t k = strcspn(l, "\n");

		if (k && strncmp(l, "Try `", 5) != 0)
			n += (size_t)snprintf(msg + n, sizeof(msg) - n,
					      "%s%.*s", n ? "; " : "", (int)k,
					      l);
		l += k + (l[k] == '\n');
	}
	if (n >= sizeof(msg))
		n = sizeof(msg) - 1;
	msg[n] = '\0';
	quote_line(msg, sizeof(msg), run->err, text);
	weir__steer_fail(err, family, run->status, "%s: %s", tool,
			 n ? msg : "failed");
}

static int read_state(const struct weir__steer_plan *plan, int family,
		      struct weir__steer_state *ret,
		      struct weir__steer_err *err)
{
	const char *argv[] = { save_tool[family], "-t", "filter", NULL };
	struct weir__steer_run run = { .netns_path = plan->netns_path,
				       .want_out = true };
	int rc = weir__steer_exec(argv, &run);

	if (rc)
		fail_run(err, family, &run, argv[0], NULL);
	else
		rc = weir__steer_state_parse(ret, run.out, plan->tag);
	free(run.out);
	return rc;
}

static int restore(const struct weir__steer_plan *plan, int family,
		   const char *text, struct weir__steer_err *err)
{
	const char *argv[] = { restore_tool[family], "--noflush", "-w", NULL };
	struct weir__steer_run run = { .netns_path = plan->netns_path,
				       .in = text, .in_len = strlen(text) };
	int rc = weir__steer_exec(argv, &run);

	if (rc)
		fail_run(err, family, &run, argv[0], text);
	return rc;
}

static bool steers(const struct weir__steer_plan *plan, int family)
{
	for (int h = 0; h < WEIR__STEER_NHOOK; h++)
		if (plan && plan->hook[family][h].queue)
			return true;
	return false;
}

/* One family to `plan` (NULL: nothing). Leaves the state it found in
 * *cur and the one it made in *to (for a rollback); *ret_changed says
 * whether the kernel changed. */
static int sync_family(const struct weir__steer_plan *plan,
		       const struct weir__steer_plan *want, int family,
		       struct weir__steer_state *cur,
		       struct weir__steer_state *to, bool *ret_changed,
		       struct weir__steer_err *err)
{
	char *text = NULL;
	int rc = -EAGAIN;

	*ret_changed = false;
	for (int attempt = 0; attempt < 2 && rc; attempt++) {
		weir__steer_state_exit(cur);
		weir__steer_state_exit(to);
		free(text);
		text = NULL;
		rc = read_state(plan, family, cur, err);
		/* No ip6tables at all: nothing of ours can be there. */
		if (rc == -ENOENT && !steers(want, family))
			return 0;
		if (!rc && want)
			rc = weir__steer_target(want, family, cur, to);
		if (!rc)
			rc = weir__steer_diff(cur, to, plan->tag, &text);
		if (rc || !text)
			break;
		rc = restore(plan, family, text, err);
	}
	*ret_changed = !rc && text;
	free(text);
	return rc;
}

/* Puts back what `family` had; adds to *err when that fails too. */
static void roll_back(const struct weir__steer_plan *plan, int family,
		      const struct weir__steer_state *made,
		      const struct weir__steer_state *had,
		      struct weir__steer_err *err)
{
	struct weir__steer_err rb;
	char *text = NULL;
	int rc = weir__steer_diff(made, had, plan->tag, &text);

	if (!rc && text)
		rc = restore(plan, family, text, &rb);
	else if (rc)
		weir__steer_fail(&rb, family, -1, "%s", strerror(-rc));
	free(text);
	if (rc && err) {
		size_t n = strlen(err->msg);

		snprintf(err->msg + n, sizeof(err->msg) - n,
			 "; rolling IPv4 back failed too: %s", rb.msg);
	}
}

static int ipt_apply(const struct weir__steer_plan *plan,
		     struct weir__steer_err *err)
{
	struct weir__steer_state cur[WEIR__STEER_NFAMILY] = { 0 };
	struct weir__steer_state to[WEIR__STEER_NFAMILY] = { 0 };
	bool changed[WEIR__STEER_NFAMILY] = { false };
	int rc = 0;

	for (int f = 0; f < WEIR__STEER_NFAMILY && !rc; f++) {
		rc = sync_family(plan, plan, f, &cur[f], &to[f], &changed[f],
				 err);
		if (rc && f == WEIR__STEER_IPV6 && changed[WEIR__STEER_IPV4])
			roll_back(plan, WEIR__STEER_IPV4,
				  &to[WEIR__STEER_IPV4],
				  &cur[WEIR__STEER_IPV4], err);
	}
	for (int f = 0; f < WEIR__STEER_NFAMILY; f++) {
		weir__steer_state_exit(&cur[f]);
		weir__steer_state_exit(&to[f]);
	}
	return rc;
}

/* Both families lose everything of the tag; a failing family does not
 * stop the other. Returns how much went, or the first failure. */
static int ipt_remove(const struct weir__steer_plan *plan, uint8_t *ret_gen,
		      struct weir__steer_err *err)
{
	struct weir__steer_state cur = { 0 }, none = { 0 };
	size_t count = 0;
	uint8_t gen = 0, g;
	bool changed;
	int rc = 0, frc;

	for (int f = 0; f < WEIR__STEER_NFAMILY; f++) {
		frc = sync_family(plan, NULL, f, &cur, &none, &changed,
				  rc ? NULL : err);
		if (!frc) {
			count += weir__steer_state_count(&cur);
			g = weir__steer_state_generation(&cur, plan->ct_mask);
			gen = g > gen ? g : gen;
		}
		rc = rc ? rc : frc;
		weir__steer_state_exit(&cur);
		weir__steer_state_exit(&none);
	}
	if (rc)
		return rc;
	if (ret_gen)
		*ret_gen = gen;
	return count > 0x7fffffff ? 0x7fffffff : (int)count;
}

static int ipt_probe(const struct weir__steer_plan *plan,
		     struct weir__steer_err *err)
{
	char path[256];

	if (weir__steer_which(restore_tool[WEIR__STEER_IPV4], path,
			      sizeof(path)) == 0)
		return 0;
	weir__steer_fail(err, WEIR__STEER_IPV4, -1, "%s: not found",
			 restore_tool[WEIR__STEER_IPV4]);
	return -ENOTSUP;
}

const struct weir__steer_backend weir__steer_iptables = {
	.name = "iptables",
	.probe = ipt_probe,
	.apply = ipt_apply,
	.remove = ipt_remove,
};
