/* The weir daemon's control plane (`weir run`): the policy, its engine
 * and plug-ins, one live capture per compartment, the kernel steering
 * that feeds them, reloads, and the control socket that `weir stats`
 * talks to. Internal to the weir program.
 *
 *   daemon.c   start, reload, stop; compartments
 *   plan.c     what the policy needs steered, and where bypass is safe
 *   server.c   the control socket: one command line in, one answer out
 *   report.c   the stats answer (text and JSON)
 */
#ifndef WEIR_CONTROL_DAEMON_H
#define WEIR_CONTROL_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <weir/engine.h>
#include <weir/inject.h>
#include <weir/plugin.h>
#include <weir/policy.h>

#include "proxy/proxy.h"

#include "capture/live.h"
#include "capture/steer.h"

#define DAEMON_MAX_NETNS 8
#define DAEMON_CONTROL_DEFAULT "/run/weir/weir.sock"

struct daemon_opts {
	const char *policy_path;
	const char *plugin_dir;           /* NULL: the policy's */
	const char *control_path;         /* NULL: DAEMON_CONTROL_DEFAULT */
	const char *tag;                  /* steering tag; NULL: "weir" */
	unsigned nqueues;                 /* per compartment, 0: 1 */
	uint16_t queue_base;
	bool fail_closed;                 /* overload/stop: drop, not accept */
	bool queue_bypass;                /* kernel accepts while weir is away */
	bool steer;                       /* install rules (else the admin's) */
	bool connmark_bypass;             /* ALE flows leave the queue */
	uint64_t pend_timeout_ns;
	uint32_t queue_maxlen;            /* 0: 65536 */
	uint32_t copy_range;              /* bytes copied up per packet;
	                                   * 0: what the callouts need */
	unsigned proxy_workers;           /* application tier threads; 0: 1 */
	unsigned proxy_max_sessions;      /* per worker; 0: 10000 */
	uint64_t proxy_idle_ns;           /* 0: 300 s */
	const char *netns[DAEMON_MAX_NETNS];  /* compartments; none: ours */
	unsigned nnetns;
};

/* What a policy asks of the kernel (plan.c). */
struct daemon_needs {
	bool hook[2][WEIR__STEER_NHOOK];       /* [v6][hook]: steer it */
	bool new_only[2][WEIR__STEER_NHOOK];   /* first packets suffice */
	bool bypass_ok[2];                     /* only ALE layers in use */
	bool payload;                          /* a callout reads past the
	                                        * headers (or may) */
	bool forward_flows;                    /* ipforward reads flows */
	bool conntrack;                        /* NFQA_CT attributes are
	                                        * read */
	unsigned layers_used;
};

/* Reads the policy's layers and defaults into *ret; the callouts its
 * filters name are looked up in `engine` (registered by then). */
void daemon_needs_of(const struct weir_policy *p, struct weir_engine *engine,
		     struct daemon_needs *ret);
/* Before its plug-ins load: whether the policy may need whole packets
 * (a callout not registered yet counts as needing them). */
bool daemon_may_need_payload(const struct weir_policy *p,
			     struct weir_engine *engine);
/* Likewise for flows of forwarded packets, and for the kernel's
 * conntrack attributes. */
bool daemon_may_need_forward_flows(const struct weir_policy *p,
				   struct weir_engine *engine);
bool daemon_may_need_conntrack(const struct weir_policy *p,
			       struct weir_engine *engine);

struct compartment {
	uint32_t id;                      /* 0: weir's own namespace */
	const char *netns;                /* NULL: ours */
	struct weir__live *live;
	bool steered;
};

struct loaded_plugin {
	char *name;
	struct weir_plugin *p;
};

struct daemon {
	struct daemon_opts o;
	struct weir_engine *engine;
	struct weir_policy *policy;       /* the running one */
	struct weir_policy *first_policy; /* kept: compartment paths */
	uint64_t *ids;                    /* engine id of policy filter i */
	size_t nids;
	struct loaded_plugin *plugins;
	size_t nplugins;
	struct weir_inject_live *inject;  /* NULL: callouts cannot inject */
	struct weir__proxy *proxy;        /* NULL: the policy has no listener */
	struct compartment comp[DAEMON_MAX_NETNS];
	unsigned ncomp;
	struct daemon_needs needs;
	uint8_t generation;               /* connmark generation, 1.. */
	uint32_t copy_range;              /* the queues' copy range now;
	                                   * 0: unknown (a send failed) */
	uint64_t reloads, reload_failures;
	uint64_t started_ns;
	char last_error[512];
};

/* Loads the policy and plug-ins, binds the queues, cleans stale rules
 * and steers. 0, or -errno after printing why (nothing left behind). */
int daemon_start(struct daemon *d, const struct daemon_opts *o);
/* Loads the policy file again and applies it atomically; on any error
 * the running policy stays and the reason is in d->last_error. */
int daemon_reload(struct daemon *d);
/* Removes the rules, drains the queues (every held packet gets the fail
 * mode's verdict), unloads everything. */
void daemon_stop(struct daemon *d);

/* report.c: writes the stats answer. */
void daemon_report(struct daemon *d, FILE *f, bool json);

/* server.c: the control socket. */
int control_listen(const char *path);
/* Serves one client on the listening socket; returns what to do. */
enum control_cmd { CONTROL_NONE, CONTROL_RELOAD, CONTROL_STOP };
enum control_cmd control_serve(int lfd, struct daemon *d);

#endif /* WEIR_CONTROL_DAEMON_H */
