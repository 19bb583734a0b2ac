/* Kernel steering: the netfilter rules that send packets into weir's
 * NFQUEUE queues, installed, replaced and removed as whole transactions.
 * Internal to libweir (the daemon's capture side).
 *
 * Every rule lives in the filter table, in chains of weir's own that the
 * built-in chains reach by one plain jump each (known by that exact form:
 * a comment would cost an xt match per packet under iptables-nft):
 *
 *   INPUT   ─ -j WEIR-INPUT ──┐
 *   OUTPUT  ─ -j WEIR-OUTPUT  │ RETURN: the admin's rules after it run
 *   FORWARD ─ -j WEIR-FORWARD ▼
 *
 *   WEIR-INPUT:  mark V/M injected by weir      → RETURN
 *                mark G/VM (verdict: bypass)    → CONNMARK G/CTM
 *                connmark G/CTM (generation G)  → RETURN   flow needs no
 *                -i INJECT_IF                   → RETURN   more user space
 *                [ctstate NEW]                  → NFQUEUE
 *                [connmark ≠ 0/CTM: older gen]  → NFQUEUE  (new_only only)
 *
 * Without the connmark rules (no flow can leave the queue), one rule:
 * ! -i INJECT_IF, mark ≠ V/M → NFQUEUE.
 *
 * A flow leaves the queue when its connmark holds the current generation
 * G. The daemon gets it there in one of two ways: its verdict sets the
 * connmark (NFQA_CT; needs CONFIG_NETFILTER_NETLINK_GLUE_CT, which the
 * reference kernel lacks: the kernel then ignores NFQA_CT silently), or
 * its verdict is NF_REPEAT with G in the packet mark's VM bits, and the
 * second rule copies it into the connmark when the packet goes through
 * the chain again. A verdict made under an older generation carries an
 * older G, matches nothing, and is queued again.
 *
 * A change renders the difference between the rules the kernel has (read
 * back with iptables-save) and the plan, and hands it to iptables-restore
 * --noflush in one go, so each family changes atomically; when IPv6 fails
 * after IPv4 succeeded, IPv4 is put back. Tools run by fork+exec, inside
 * the plan's network namespace. docs/steering.md is the user's view.
 *
 *   steer_plan.c    plan defaults, checks, generations, chain names
 *   steer_state.c   iptables-save text → the rules weir owns (pure)
 *   steer_render.c  plan → target rules; state diff → restore text (pure)
 *   steer_exec.c    fork+setns+exec of a tool with stdin/stdout/stderr
 *   steer_ipt.c     the iptables backend: read, diff, restore, roll back
 *   steer_nft.c     the nft backend: probe only (see "Backends" below)
 *   steer.c         the entry points and the one backend selection point
 *   steer_proc.c    /proc/net/netfilter/nfnetlink_queue, per namespace
 */
#ifndef WEIR_CAPTURE_STEER_H
#define WEIR_CAPTURE_STEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum weir__steer_family {
	WEIR__STEER_IPV4,
	WEIR__STEER_IPV6,
	WEIR__STEER_NFAMILY,
};

/* The hooks weir steers, in the order of their chains. */
enum weir__steer_hook {
	WEIR__STEER_INPUT,
	WEIR__STEER_OUTPUT,
	WEIR__STEER_FORWARD,
	WEIR__STEER_NHOOK,
};

enum weir__steer_backend_id {
	WEIR__STEER_IPTABLES,      /* xt NFQUEUE through iptables-restore */
	WEIR__STEER_NFT,           /* nft `queue`: probe only, for now */
};

#define WEIR__STEER_TAG_DEFAULT "weir"
#define WEIR__STEER_TAG_MAX 15          /* WEIR-TAG-FORWARD fits 28 bytes */
#define WEIR__STEER_CHAIN_MAX 29        /* iptables chain name + NUL */
#define WEIR__STEER_MARK_DEFAULT 0x00570000u      /* 'W' in bits 16..23 */
#define WEIR__STEER_MARK_MASK_DEFAULT 0x00ff0000u
#define WEIR__STEER_VMARK_MASK_DEFAULT 0xff000000u  /* packet mark */
#define WEIR__STEER_CT_MASK_DEFAULT 0xff000000u     /* connmark */

/* What one hook of one family gets. */
struct weir__steer_hook_plan {
	bool queue;                /* steer this hook at all */
	bool new_only;             /* first packet of a flow only (ctstate
				    * NEW), plus flows of older generations:
				    * for connect/accept authorisation */
	bool bypass;               /* --queue-bypass: accept while no program
				    * is bound to the queue (fail-open) */
	bool cpu_fanout;           /* --queue-cpu-fanout; needs a range */
	bool no_ct_bypass;         /* no connmark rules: the policy cannot
				    * leave flows in the kernel, so they
				    * would never match, and they would make
				    * conntrack track every packet */
	bool skips_in_user;        /* the one-rule chain (no_ct_bypass and
				    * not new_only) queues weir's own
				    * packets too, and the workers let them
				    * through at once: on FORWARD, where
				    * every match costs the forwarding path
				    * and weir's own packets are rare; the
				    * built-in chain then holds a copy of
				    * that rule instead of a jump to it */
	uint16_t qfirst, qlast;    /* queues: qfirst..qlast (--queue-balance),
				    * one queue when equal (--queue-num) */
};

/* A steering plan. Set it up with weir__steer_plan_init(); the strings
 * are borrowed and must outlive each call that gets the plan. */
struct weir__steer_plan {
	const char *tag;           /* instance: 1..15 of [A-Za-z0-9_.-], not
				    * starting with '-'; NULL: "weir" */
	const char *netns_path;    /* e.g. /run/netns/NAME; NULL: ours */
	const char *inject_ifname; /* weir's TUN device (a trailing '+' is a
				    * wildcard): its packets are weir's own
				    * injections; NULL: none */
	uint32_t mark, mark_mask;  /* packet mark of weir's injections */
	uint32_t vmark_mask;       /* packet-mark bits where an NF_REPEAT
				    * verdict names its generation; one run
				    * of >= 2 bits, apart from mark_mask */
	uint32_t ct_mask;          /* connmark bits of the generation; one
				    * run of >= 2 bits */
	uint8_t generation;        /* 1..weir__steer_generation_max() */
	uint8_t backend;           /* enum weir__steer_backend_id */
	struct weir__steer_hook_plan hook[WEIR__STEER_NFAMILY]
					 [WEIR__STEER_NHOOK];
};

/* Why a call failed. Every entry point fills it on failure (when not
 * NULL) and leaves it alone on success. */
struct weir__steer_err {
	int family;                /* enum weir__steer_family, -1: none */
	int status;                /* the tool's exit status; -1: no tool ran
				    * to its end (ours, exec, signal) */
	char msg[512];             /* the reason, or "TOOL: its stderr" */
};

/* ---- plans (steer_plan.c) -------------------------------------------- */

/* Default plan: tag "weir", this namespace, the default marks,
 * generation 1, the iptables backend, no hook steered. */
void weir__steer_plan_init(struct weir__steer_plan *plan);

/* 0, or -EINVAL with the reason in *err: a bad tag or interface name,
 * an injection mark with no bit in its mask (it would match unmarked
 * packets) or bits outside it, a connmark or verdict-mark mask that is
 * not one run of at least two bits, a verdict mark overlapping the
 * injection mark, a generation out of range, a reversed queue range, a
 * CPU fan-out without a range, an unknown backend. */
int weir__steer_plan_check(const struct weir__steer_plan *plan,
			   struct weir__steer_err *err);

/* The highest generation both the connmark and the verdict-mark fields
 * hold (at most 255); 0 when a mask is bad. */
uint8_t weir__steer_generation_max(const struct weir__steer_plan *plan);
/* The generation after `gen`: 1, 2, ... max, then 1 again; never 0. */
uint8_t weir__steer_generation_next(const struct weir__steer_plan *plan,
				    uint8_t gen);
/* The connmark of generation `gen`: gen << ctz(ct_mask). A verdict that
 * sets the connmark (NFQA_CT) puts this with CTA_MARK_MASK = ct_mask,
 * so that other bits of the connmark stay. 0 for a bad mask. */
uint32_t weir__steer_ctmark(const struct weir__steer_plan *plan,
			    uint8_t gen);
/* The packet-mark bits of generation `gen`: gen << ctz(vmark_mask). An
 * NF_REPEAT verdict sets the packet mark to (mark & ~vmark_mask) | this.
 * 0 for a bad mask. */
uint32_t weir__steer_vmark(const struct weir__steer_plan *plan, uint8_t gen);

/* "INPUT", "OUTPUT", "FORWARD". */
const char *weir__steer_hook_name(int hook);
/* The hook whose built-in chain a saved rule ("-A CHAIN ...") is in, or
 * -1 for any other chain. */
int weir__steer_rule_hook(const char *rule);

/* The chain weir uses for `hook` with `tag` (NULL: the default):
 * WEIR-INPUT for the default tag, WEIR-<tag>-INPUT otherwise, so two
 * instances never share a chain. 0 or -EINVAL (bad tag). */
int weir__steer_chain_name(const char *tag, int hook,
			   char ret[WEIR__STEER_CHAIN_MAX]);

/* ---- the rules weir owns (steer_state.c) ----------------------------- */

/* A growable list of rules in iptables-save form ("-A CHAIN ..."). */
struct weir__steer_lines {
	char **v;
	size_t n, cap;
};

/* The rules of one tag in one family's filter table. Every rule outside
 * our chains has one target, so it reaches at most one of them. All-zero
 * is the empty state; free with _state_exit().
 *
 *   chain[h], rules[h]  our chain for hook h exists; its rules, in order
 *   jumps               our jumps ("-A HOOK -j CHAIN" exactly, in hook's
 *                       built-in chain), our direct rule (a copy, in
 *                       FORWARD, of a queue rule of our FORWARD chain:
 *                       the skips_in_user form, see steer_render.c), any
 *                       stale copy of them, and any rule with the
 *                       comment of older versions' jumps ("weir:TAG")
 *   jump_pos[h]         1-based place of the first of those that jumps to
 *                       chain h, or is its direct rule, in h's built-in
 *                       chain; 0: none
 *   links[h]            other rules elsewhere that -j/-g to chain h (an
 *                       admin's): kept while h stays, removed with h
 */
struct weir__steer_state {
	bool chain[WEIR__STEER_NHOOK];
	struct weir__steer_lines rules[WEIR__STEER_NHOOK];
	struct weir__steer_lines jumps;
	unsigned jump_pos[WEIR__STEER_NHOOK];
	struct weir__steer_lines links[WEIR__STEER_NHOOK];
};

/* Collects from iptables-save output (any tables; only *filter is read)
 * what belongs to `tag`. 0, -EINVAL (bad tag) or -ENOMEM; *ret is
 * filled (and must be exited) in every case. */
int weir__steer_state_parse(struct weir__steer_state *ret, const char *text,
			    const char *tag);
void weir__steer_state_exit(struct weir__steer_state *st);
/* Appends a copy of line; 0 or -ENOMEM. */
int weir__steer_lines_add(struct weir__steer_lines *l, const char *line);
/* Rules and chains in the state: what removing it takes away. */
size_t weir__steer_state_count(const struct weir__steer_state *st);
/* The generation of the connmark bypass rule found in the state (the
 * highest when several hooks disagree), 0 when none. */
uint8_t weir__steer_state_generation(const struct weir__steer_state *st,
				     uint32_t ct_mask);

/* ---- rendering (steer_render.c) -------------------------------------- */

/* The state `plan` wants in `family`, given the current one `cur`
 * (NULL: empty): an admin's links to a chain that stays are kept.
 * 0 or -ENOMEM; *ret must be exited in every case. The plan must have
 * passed weir__steer_plan_check(). */
int weir__steer_target(const struct weir__steer_plan *plan, int family,
		       const struct weir__steer_state *cur,
		       struct weir__steer_state *ret);

/* The iptables-restore --noflush text that turns `from` into `to`:
 * chains whose rules differ are declared (which creates or flushes
 * them) and refilled; jumps and links of `from` missing from `to` are
 * deleted, those new in `to` inserted at position 1 (one already in
 * place keeps its position); chains `to` lacks are flushed and deleted.
 * NULL in *ret_text when nothing changes. 0 or -ENOMEM; the caller
 * frees the text. */
int weir__steer_diff(const struct weir__steer_state *from,
		     const struct weir__steer_state *to, const char *tag,
		     char **ret_text);

/* weir__steer_target() + weir__steer_diff() for `family`, from `cur`
 * (NULL: nothing installed). Pure: the unit tests' golden strings. 0,
 * -EINVAL (plan; *err says why) or -ENOMEM. */
int weir__steer_render(const struct weir__steer_plan *plan, int family,
		       const struct weir__steer_state *cur, char **ret_text,
		       struct weir__steer_err *err);

/* ---- running tools (steer_exec.c) ------------------------------------ */

/* One run of a tool. The caller sets the inputs; weir__steer_exec()
 * sets the outputs, also on failure. */
struct weir__steer_run {
	const char *netns_path;    /* in: namespace to run in, NULL: ours */
	const char *in;            /* in: stdin text, NULL: empty */
	size_t in_len;
	int timeout_ms;            /* in: then SIGKILL; <= 0: 30 s */
	char *out;                 /* out: stdout, NUL-terminated, malloc'd;
				    * NULL when not wanted (want_out) */
	size_t out_len;
	bool want_out;             /* in: collect stdout */
	int status;                /* out: exit status, -1: none */
	char err[1024];            /* out: stderr (its start) or our reason */
};

/* Runs `argv[0]` (a bare name: found in PATH, then /usr/sbin, /sbin,
 * /usr/local/sbin; or an absolute path) with argv, no shell, setns()ing
 * into run->netns_path first. 0 when it exited 0; -ENOENT (no such
 * tool), -errno (namespace, fork, exec), -ETIMEDOUT, or for a non-zero
 * exit the errno of iptables' convention: 2 -EINVAL, 3 -ENOTSUP,
 * 4 -EBUSY (resource, lock), else -EIO. Free run->out with free(). */
int weir__steer_exec(const char *const *argv, struct weir__steer_run *run);
/* Where argv0 would run from, in ret (size bytes). 0 or -ENOENT. */
int weir__steer_which(const char *argv0, char *ret, size_t size);

/* ---- backends (steer_ipt.c, steer_nft.c) ----------------------------- */

/* A backend makes the kernel follow a plan. Every hook returns >= 0 or
 * -errno with *err filled; err may be NULL.
 *   probe:  0 when it can work in plan->netns_path, -ENOTSUP if not.
 *   apply:  install or replace what the plan says, atomically per
 *           family; on failure the kernel keeps what it had.
 *   remove: take away every rule and chain of plan->tag (only tag and
 *           netns_path are used); returns how many it removed and sets
 *           *ret_gen to the generation it saw (0: none). NULL ret_gen
 *           is fine.
 * To add one: a new `weir__steer_backend_id`, a `const struct
 * weir__steer_backend` in steer_<name>.c, and its line in steer.c's
 * table; weir__steer_clean_stale() then sweeps it too. A NULL hook
 * answers -EOPNOTSUPP. */
struct weir__steer_backend {
	const char *name;
	int (*probe)(const struct weir__steer_plan *plan,
		     struct weir__steer_err *err);
	int (*apply)(const struct weir__steer_plan *plan,
		     struct weir__steer_err *err);
	int (*remove)(const struct weir__steer_plan *plan, uint8_t *ret_gen,
		      struct weir__steer_err *err);
};

extern const struct weir__steer_backend weir__steer_iptables;
extern const struct weir__steer_backend weir__steer_nft;

/* Sets *err (when not NULL): family, status and a formatted message. */
__attribute__((format(printf, 4, 5)))
void weir__steer_fail(struct weir__steer_err *err, int family, int status,
		      const char *fmt, ...);

/* ---- entry points (steer.c) ------------------------------------------ */

/* These run tools and wait for them (milliseconds; at most 30 s each):
 * call them from a control thread, never a packet loop. Calls for one
 * tag in one namespace must not overlap; the caller serialises them.
 * SIGCHLD must not be ignored (the tools' status is waited for). */

/* Checks the plan, then installs or replaces its rules with its backend:
 * per family, our chains are flushed and refilled and the jumps made to
 * exist exactly once, in one iptables-restore transaction. A hook or
 * family the plan does not steer loses its chain and jump. When IPv6
 * fails after IPv4 changed, IPv4 is rolled back (best effort; *err says
 * if that failed too). 0 or -errno. */
int weir__steer_apply(const struct weir__steer_plan *plan,
		      struct weir__steer_err *err);

/* Moves plan->generation to the next one and applies the plan, so that
 * flows let through by the old generation's connmark are queued again
 * (policy reload: re-authorisation). On failure the generation is put
 * back. 0 or -errno. */
int weir__steer_bump(struct weir__steer_plan *plan,
		     struct weir__steer_err *err);

/* Removes every chain and rule of plan->tag from both families, with
 * the plan's backend (clean shutdown). Nothing installed is fine.
 * 0 or -errno. */
int weir__steer_remove(const struct weir__steer_plan *plan,
		       struct weir__steer_err *err);

/* The same, at start after a crash, with every backend that can run:
 * returns how many rules and chains it removed (> 0: a previous run did
 * not clean up) and, in *ret_gen, the generation those rules used (0:
 * none), so that the new run can start past it (see docs/steering.md).
 * -errno on failure. */
int weir__steer_clean_stale(const struct weir__steer_plan *plan,
			    uint8_t *ret_gen, struct weir__steer_err *err);

/* 0 when the plan's backend works in its namespace; -ENOTSUP with the
 * reason otherwise (nft: no `nft` binary, or no kernel queue support). */
int weir__steer_probe(const struct weir__steer_plan *plan,
		      struct weir__steer_err *err);

/* ---- queue statistics (steer_proc.c) --------------------------------- */

/* One line of /proc/net/netfilter/nfnetlink_queue: a bound queue. */
struct weir__nfq_proc {
	uint16_t queue;            /* queue number */
	uint32_t portid;           /* netlink port id of the bound socket */
	uint32_t queue_total;      /* packets waiting for a verdict */
	uint8_t copy_mode;         /* NFQNL_COPY_* */
	uint32_t copy_range;
	uint32_t queue_dropped;    /* dropped: queue full (without fail-open) */
	uint32_t user_dropped;     /* dropped: netlink send failed */
	uint32_t id_sequence;      /* last packet id handed out */
};

/* Parses the file's text. Returns how many queues it lists, of which
 * the first `max` are stored in ret[]; -EBADMSG for a malformed line. */
int weir__nfq_proc_parse(const char *text, struct weir__nfq_proc *ret,
			 size_t max);

/* Reads the file as seen in netns_path (NULL: the calling thread's): it
 * is per namespace, so a short-lived thread enters the namespace and
 * opens it. Returns as weir__nfq_proc_parse(); 0 queues when the file is
 * absent (nfnetlink_queue not loaded); -EBADF for a netns_path that does
 * not exist, -errno (setns: -EPERM without CAP_SYS_ADMIN, read). */
int weir__nfq_proc_read(const char *netns_path, struct weir__nfq_proc *ret,
			size_t max);

#endif /* WEIR_CAPTURE_STEER_H */
