/* The weir program's application tier (the firewall service): listeners,
 * sessions and their pumps, on worker threads with an io loop each.
 * Internal to the weir program (the daemon starts it); the data-filter
 * interface for plug-ins is include/weir/proxy.h.
 */
#ifndef WEIR_SRC_PROXY_H
#define WEIR_SRC_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <weir/engine.h>
#include <weir/policy.h>

struct weir__proxy;

struct weir__proxy_opts {
	struct weir_engine *engine;     /* data filters are registered here */
	struct weir_policy *policy;     /* listeners, protocols, bindings:
	                                 * the proxy takes a reference */
	unsigned workers;               /* threads, each accepting on every
	                                 * listener (SO_REUSEPORT); 0 = 1 */
	unsigned max_sessions;          /* per worker; 0 = 10000 */
	uint64_t idle_timeout_ns;       /* 0 = 300 s */
	const char *tag;                /* names the interception rules, as
	                                 * the steering's; NULL = "weir" */
	uint16_t intercept_port;        /* transparent listener; 0 = 15001 */
	bool no_rules;                  /* intercept, but the admin
	                                 * installs the redirects */
};

/* Counters, summed over the workers. */
struct weir__proxy_stats {
	uint64_t accepted;              /* client connections taken */
	uint64_t refused;               /* over max_sessions */
	uint64_t active;                /* sessions now */
	uint64_t connect_failed;        /* upstream unreachable */
	uint64_t spliced;               /* sessions pumped in the kernel */
	uint64_t chained;               /* sessions through data filters */
	uint64_t aborted;               /* ended by an error or a filter */
	uint64_t idle_closed;           /* ended by the idle timeout */
	uint64_t denied;                /* refused by a session filter */
	uint64_t bytes_up, bytes_down;  /* client->server, server->client */
};

/* Opens the policy's listeners (and, when it intercepts protocols, the
 * transparent listener and its redirect rules) and starts the workers. 0, or -errno with
 * a reason in err (nothing left running). A policy without listeners
 * starts nothing and returns 0 with *ret NULL. */
int weir__proxy_start(const struct weir__proxy_opts *opts,
		      struct weir__proxy **ret, char *err, size_t errlen);

/* Whether pol could replace the proxy's policy: every binding names a
 * registered filter (plug-ins loaded) and every listener it wants can be
 * opened. p NULL: the bindings only. 0 or -errno with the reason in err.
 * Call it before anything of a reload is applied. */
int weir__proxy_check(struct weir__proxy *p, struct weir_engine *engine,
		      const struct weir_policy *pol, char *err,
		      size_t errlen);
/* Moves the proxy to pol (a reference is taken): new sessions use its
 * protocols and bindings; listeners it keeps (same transport and address)
 * stay open, others close (a closed UDP listener's associations end),
 * new ones open; interception rules are replaced if the intercepted
 * ports changed. Sessions running keep their policy until they end.
 * Workers switch asynchronously, within a loop turn. 0, or -errno with
 * a reason in err (interception rules could not be installed). */
int weir__proxy_update(struct weir__proxy *p, struct weir_policy *pol,
		       char *err, size_t errlen);

/* Closes the listeners, aborts the sessions (every completion delivered,
 * every filter detached), stops the workers. NULL is fine. */
void weir__proxy_stop(struct weir__proxy *p);

void weir__proxy_stats(struct weir__proxy *p, struct weir__proxy_stats *ret);
/* The last reason a data filter gave for ending a session (any worker),
 * "" if none. */
void weir__proxy_last_abort(struct weir__proxy *p, char *buf, size_t len);

#endif /* WEIR_SRC_PROXY_H */
