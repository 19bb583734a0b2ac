/* weir policy language: parses a policy text (sublayers, layer defaults,
 * plug-ins, filters with nft/WinDivert-style match expressions) into a
 * validated policy, and applies it to an engine in one transaction.
 *
 *   text ─▶ weir_policy_parse ─▶ struct weir_policy ─▶ weir_policy_apply
 *             │ first error stops:     (sublayers, defaults,    (one txn)
 *             ▼ file:line:col + why    plug-ins, filter specs)
 *          struct weir_policy_error
 *
 * A policy is parsed and checked whole before anything is applied; a bad
 * one is rejected with the location of the offending text, and an apply
 * that fails changes no filter. The grammar is in docs/policy.md.
 *
 * One filter statement may become several filter specs: its expression is
 * brought to disjunctive normal form (conditions on one field are ORed and
 * on different fields ANDed, as filter.h says), and each alternative that
 * cannot be merged into another becomes one spec named "NAME#N".
 */
#ifndef WEIR_POLICY_H
#define WEIR_POLICY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <weir/engine.h>
#include <weir/filter.h>

#ifdef __cplusplus
extern "C" {
#endif

struct weir_policy;
struct weir_expr;

/* Where and why parsing failed. line/col are 1-based (col counts bytes;
 * a tab is one column); len is the length of the offending text (at
 * least 1). line 0: the error has no position (file, engine). */
struct weir_policy_error {
	char file[256];
	unsigned line, col, len;
	char msg[200];
	char line_text[256];    /* the line, without its newline */
};

/* Renders an error as
 *     FILE:LINE:COL: error: MSG
 *       LINE TEXT
 *       ^~~~
 * with the caret under the offending text (tabs kept, so it lines up).
 * Returns what snprintf returns. */
int weir_policy_error_format(const struct weir_policy_error *err, char *buf,
			     size_t size);

/* ---- parsing ------------------------------------------------------- */

/* Parses and validates a policy text of len bytes; `filename` names it in
 * errors (NULL: "<policy>"). Returns 0 and a policy in *ret, or -EINVAL
 * (syntax or meaning; *err says where and why) or -ENOMEM. `err` may be
 * NULL. */
int weir_policy_parse(const char *text, size_t len, const char *filename,
		      struct weir_policy **ret, struct weir_policy_error *err);
/* Reads the file at `path` and parses it. Also -errno of open/read, and
 * -EFBIG above 16 MiB. */
int weir_policy_load(const char *path, struct weir_policy **ret,
		     struct weir_policy_error *err);
/* Drops a reference; the last one frees the policy and everything it
 * owns. NULL is fine. */
void weir_policy_free(struct weir_policy *policy);
/* Another reference to a parsed policy (which is never changed after
 * parsing), for a holder that may outlive its creator's: the daemon's
 * application tier keeps each session's policy until the session ends,
 * across reloads. Any thread. Returns policy. */
struct weir_policy *weir_policy_ref(struct weir_policy *policy);
/* The file name the policy was parsed from ("" if none), for messages
 * that point at a line of it. */
const char *weir_policy_file(const struct weir_policy *policy);

/* ---- what a policy holds ------------------------------------------- */

struct weir_policy_sublayer {
	const char *name;
	uint16_t weight;
	unsigned line;
};

struct weir_policy_plugin {
	const char *name;
	const char *params;     /* "key=value\n" lines, "" if none */
	unsigned line;
};

/* `compartment N "PATH";`: the daemon attaches in the network namespace
 * at PATH and stamps its packets with compartment N (meta.compartment). */
struct weir_policy_compartment {
	uint32_t id;            /* 1..WEIR_POLICY_COMPARTMENTS_MAX */
	const char *netns;      /* e.g. "/run/netns/gw" */
	unsigned line;
};
#define WEIR_POLICY_COMPARTMENTS_MAX 8

/* ---- the application tier (docs/policy.md, docs/proxy.md) ---------- */

/* `protocol NAME tcp|udp PORT, ...;`: a protocol definition (TMG's):
 * connections to these ports are this protocol. */
struct weir_policy_protocol {
	const char *name;
	int transport;          /* IPPROTO_TCP or IPPROTO_UDP */
	const uint16_t *ports;
	uint32_t nports;
	unsigned line;
};

/* `listen NAME [tcp|udp] "ADDR:PORT" to "ADDR:PORT" [protocol NAME];`: an
 * explicit listener with a fixed upstream (TCP unless said). */
struct weir_policy_listener {
	const char *name;
	int transport;          /* IPPROTO_TCP or IPPROTO_UDP */
	struct sockaddr_storage listen, upstream;
	socklen_t listen_len, upstream_len;
	const char *protocol;   /* NULL: none (no data filter applies) */
	unsigned line;
};

/* `datafilter NAME [on PROTO, ...] [priority N] [{ params }];`: binds the
 * data filter a plug-in registered as NAME to those protocols (all, when
 * no `on`), in priority class N (default 100; the chain runs internal to
 * external in increasing class, then in policy order). */
struct weir_policy_datafilter {
	const char *name;
	const char *const *protocols;
	uint32_t nprotocols;    /* 0: every protocol */
	uint32_t priority;
	const char *params;     /* "key=value\n" lines, "" if none */
	unsigned line;
};

/* `intercept PROTO, ...;`: weir run redirects connections of these TCP
 * protocols passing through (forwarded, or to this host) into its
 * transparent listener; each is proxied to where it was going. The
 * protocols, in policy order (duplicates merged). */
size_t weir_policy_intercept_count(const struct weir_policy *policy);
const struct weir_policy_protocol *
weir_policy_intercept_at(const struct weir_policy *policy, size_t i);

size_t weir_policy_protocol_count(const struct weir_policy *policy);
const struct weir_policy_protocol *
weir_policy_protocol_at(const struct weir_policy *policy, size_t i);
size_t weir_policy_listener_count(const struct weir_policy *policy);
const struct weir_policy_listener *
weir_policy_listener_at(const struct weir_policy *policy, size_t i);
size_t weir_policy_datafilter_count(const struct weir_policy *policy);
const struct weir_policy_datafilter *
weir_policy_datafilter_at(const struct weir_policy *policy, size_t i);
/* `sessionfilter NAME [on PROTO, ...] [{ params }];`: binds the session
 * filter (proxy.h) registered as NAME to those protocols (all, when no
 * `on`); bound filters see events in policy order. Described by the
 * same struct as a data-filter binding, priority unused. */
size_t weir_policy_sessionfilter_count(const struct weir_policy *policy);
const struct weir_policy_datafilter *
weir_policy_sessionfilter_at(const struct weir_policy *policy, size_t i);

/* One filter spec. spec.sublayer is 0: `sublayer` names the sublayer,
 * which weir_policy_apply() resolves. spec.conds, their sets and
 * spec.params belong to the policy. */
struct weir_policy_filter {
	struct weir_filter_spec spec;
	const char *sublayer;   /* NULL: the default sublayer */
	unsigned line, col;     /* the statement it came from */
};

size_t weir_policy_sublayer_count(const struct weir_policy *policy);
const struct weir_policy_sublayer *
weir_policy_sublayer_at(const struct weir_policy *policy, size_t i);

size_t weir_policy_filter_count(const struct weir_policy *policy);
const struct weir_policy_filter *
weir_policy_filter_at(const struct weir_policy *policy, size_t i);

size_t weir_policy_plugin_count(const struct weir_policy *policy);
const struct weir_policy_plugin *
weir_policy_plugin_at(const struct weir_policy *policy, size_t i);
size_t weir_policy_compartment_count(const struct weir_policy *policy);
const struct weir_policy_compartment *
weir_policy_compartment_at(const struct weir_policy *policy, size_t i);
/* The `plugins` directory, or NULL when the policy names none. */
const char *weir_policy_plugin_dir(const struct weir_policy *policy);

/* The layer's default action (WEIR_ACTION_PERMIT/BLOCK), or 0 when the
 * policy does not set one (applying it then sets permit). */
int weir_policy_default(const struct weir_policy *policy, int layer);

/* ---- applying ------------------------------------------------------ */

/* Makes the engine's filters those of the policy: checks every spec,
 * adds the policy's sublayers the engine lacks (an existing one keeps its
 * weight), then one transaction deletes every filter and adds the
 * policy's; once it committed, sets every layer's default (permit where
 * the policy says nothing). Returns 0, or a negative errno with *err
 * naming the filter the engine refused (its statement's file:line:col
 * and the engine's reason) or the commit's error (a callout's notify
 * refused a filter); the engine's filters and defaults are then
 * unchanged (sublayers it added stay, empty). Plug-ins are the caller's
 * business. */
int weir_policy_apply(const struct weir_policy *policy,
		      struct weir_engine *engine,
		      struct weir_policy_error *err);
/* The same, and on success the engine id of each filter in
 * ret_ids[0..weir_policy_filter_count()) (in the policy's order). */
int weir_policy_apply_ids(const struct weir_policy *policy,
			  struct weir_engine *engine, uint64_t *ret_ids,
			  struct weir_policy_error *err);

/* Writes a spec as a one-line policy statement ("block \"x\" in
 * ipforward-v4 weight 100 if th.dport == 23;") that parses back into the
 * same conditions, for listings. Returns what snprintf returns. */
int weir_policy_format_filter(const struct weir_filter_spec *spec,
			      const char *sublayer, char *buf, size_t size);

/* ---- standalone expressions (`weir filter add`) ---------------------- */

/* Compiles one match expression (the text after `if`) for one layer into
 * one or more condition lists, one per filter to add. The error's file is
 * "<expr>". Returns 0, -EINVAL or -ENOMEM. */
int weir_expr_parse(const char *text, int layer, struct weir_expr **ret,
		    struct weir_policy_error *err);
/* How many condition lists (filters) the expression needs. */
size_t weir_expr_count(const struct weir_expr *expr);
/* The i-th list and its length, or NULL past the end. */
const struct weir_cond *weir_expr_conds(const struct weir_expr *expr,
					size_t i, uint32_t *ret_n);
void weir_expr_free(struct weir_expr *expr);

#ifdef __cplusplus
}
#endif

#endif /* WEIR_POLICY_H */
