/* Internals of the application tier shared by src/proxy/ files. */
#ifndef WEIR_PROXY_INTERNAL_H
#define WEIR_PROXY_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <weir/io.h>
#include <weir/proxy.h>

#include "io/io_internal.h"
#include "proxy/proxy.h"

struct weir__worker;
struct weir_session;

/* ---- the kernel pump (splice.c) ---------------------------------------- */

/* One direction of a session pumped in the kernel: src -> pipe -> dst,
 * driven by readiness polls on the loop. */
struct weir__splice_dir {
	struct weir_session *s;
	int src, dst;
	int pipe[2];
	uint32_t in_pipe;               /* bytes waiting in the pipe */
	uint64_t moved;                 /* bytes through, for the resize */
	bool src_eof, done, big;
	uint64_t *bytes;                /* the session's counter */
	struct weir__io_op poll_op;     /* POLLIN on src or POLLOUT on dst */
};

/* Sets up a direction (its pipe). 0 or -errno. */
int weir__splice_init(struct weir__splice_dir *d, struct weir_session *s,
		      int src, int dst, uint64_t *bytes);
/* Moves what it can; arms a poll when it must wait. */
void weir__splice_run(struct weir__splice_dir *d);
void weir__splice_fini(struct weir__splice_dir *d);

/* ---- sessions (session.c) ---------------------------------------------- */

enum weir__sess_state {
	WEIR__SESS_CONNECTING = 1,
	WEIR__SESS_RUNNING,
	WEIR__SESS_CLOSING,
};

/* A listener as a worker knows it. */
struct weir__listener {
	const struct weir_policy_listener *pl; /* in pol, or the proxy's
	                                 * transparent ones */
	struct weir_policy *pol;        /* a reference: pl's strings */
	int fd;
	struct weir__worker *w;
	struct weir__io_op accept_op;   /* TCP: the accept; UDP: the recvmsg */
	unsigned users;                 /* UDP sessions sending from fd */
	bool closed;
	bool transparent;               /* upstream: SO_ORIGINAL_DST (TCP),
	                                 * IP_ORIGDSTADDR (UDP) */
	/* UDP (udp.c): the datagram being received */
	struct weir_iobuf *rx;
	struct msghdr msg;
	struct iovec iov;
	struct sockaddr_storage from;
	union {                         /* transparent: its destination */
		struct cmsghdr align;
		char bytes[CMSG_SPACE(sizeof(struct sockaddr_in6))];
	} ctl;
};

/* The most data filters a session runs through. */
#define WEIR__CHAIN_MAX 8

struct weir__chain_elem {
	struct weir_datafilter df;
	const char *params;
	void *inst;
	bool attached;
};

/* A session filter bound to a session (sessfilt.c). */
struct weir__sfilt {
	struct weir_sessionfilter sf;
	const char *name, *params;      /* the policy's */
	void *ctx;                      /* the filter's word */
};

/* A data filter a session filter attached (weir_session_attach). */
struct weir__attached {
	char name[64];
	unsigned priority;
	char *params;                   /* owned */
};

/* A session's session filters and what they did; allocated only when
 * the policy binds some to its protocol. */
struct weir__sfilt_set {
	struct weir__sfilt f[WEIR__CHAIN_MAX];
	size_t n, told;                 /* bound; given ACCEPT */
	struct weir__attached att[WEIR__CHAIN_MAX];
	size_t natt;
	enum weir_session_event now;    /* being delivered, 0 if none */
};

struct weir_session {
	struct weir_session_info info;
	struct weir__worker *w;
	struct weir__listener *l;       /* TCP: only while starting */
	struct weir_policy *pol;        /* a reference: the policy the
	                                 * session started under (its
	                                 * bindings, info.protocol) */
	enum weir__sess_state state;
	int cfd, sfd;                   /* client, server sockets */
	struct weir__io_op connect_op;
	struct weir__splice_dir up, down;
	uint32_t ops;                   /* operations whose completion is
	                                 * still to come: freed at 0 */
	bool aborted;
	uint64_t bytes_up, bytes_down;
	/* How it ended, for TERMINATE: the first error and reason. */
	int end_err;
	char why[96];
	struct weir__sfilt_set *sfs;    /* NULL: no session filter */
	bool udp_denied;                /* UDP_DEST denied: drop until idle */
	bool idle_end;                  /* ended by the idle sweep */
	/* A chain (chain.c) */
	bool chained, chain_closed, up_done, down_done;
	struct weir_sock *csock, *ssock;
	struct weir_sock *links[2 * WEIR__CHAIN_MAX];
	size_t nlinks;
	struct weir__chain_elem chain[WEIR__CHAIN_MAX];
	size_t nchain;
	unsigned socks_open;            /* not yet freed */
	struct weir_post chain_post;    /* weir__chain_done, from the loop */
	/* UDP (udp.c) */
	struct weir_sock *ua;           /* the session's end toward the first
	                                 * filter (NULL: no filter) */
	struct weir_io_target ut;       /* the session's completions */
	struct weir_session *hnext;     /* the worker's association table */
	uint64_t last_ns;               /* last datagram either way */
	unsigned udp_pending;           /* handed on, not yet taken */
	struct weir_session *prev, *next; /* the worker's list */
};

/* A new session id. */
uint64_t weir__session_next_id(void);
/* Counts s as accepted and puts it on the worker's list. */
void weir__session_link(struct weir__worker *w, struct weir_session *s);
/* A client accepted on l: connect upstream, then pump. Takes cfd. */
void weir__session_start(struct weir__listener *l, int cfd,
			 const struct sockaddr_storage *peer);
/* An operation of s completed: one less to wait for. */
void weir__session_op_done(struct weir_session *s);
/* A pump direction finished (end of stream passed on). */
void weir__session_dir_done(struct weir_session *s);
/* Ends s normally (both directions done), or after a failure. */
void weir__session_close(struct weir_session *s);
/* Ends s now (resets both ends). */
void weir__session_fail(struct weir_session *s, int err);

/* Adds delta to one of w's counters (under st_lock: weir stats reads
 * them from another thread). */
void weir__count(struct weir__worker *w, uint64_t *field, int64_t delta);
/* Records the first reason s ends for (TERMINATE, weir stats). */
void weir__session_why(struct weir_session *s, int err, const char *why);

/* ---- registered filters (registry.c) ------------------------------------ */

/* A copy of the filter registered on engine as `name` (its `name` field
 * NULL). 0 or -ENOENT. Any thread. */
int weir__datafilter_get(struct weir_engine *engine, const char *name,
			 struct weir_datafilter *ret);
int weir__sessionfilter_get(struct weir_engine *engine, const char *name,
			    struct weir_sessionfilter *ret);

/* ---- session filters (sessfilt.c) --------------------------------------- */

/* Finds the session filters bound to s's protocol. 0, -ENOENT (a binding
 * names a filter nobody registered: the session is refused), -ENOMEM. */
int weir__sessfilt_lookup(struct weir_session *s);
/* Delivers an event to s's filters in order until one does not say
 * CONTINUE; returns that verdict. ACCEPT is what makes a filter owed a
 * TERMINATE. A DENY or KILL records why. The caller holds an op on s
 * (a filter may abort it inside). */
enum weir_session_verdict weir__sessfilt_event(struct weir_session *s,
					       enum weir_session_event kind,
					       const struct sockaddr_storage *a);
/* The filters' say on a new session: lookup, ACCEPT, then `second`
 * (CONNECT or UDP_DEST) with the upstream; a refusal counts as denied.
 * The verdict (an abort inside reads as KILL), or lookup's -errno. The
 * caller holds an op on s. */
int weir__sessfilt_screen(struct weir_session *s,
			  enum weir_session_event second);
/* TERMINATE to every filter that got ACCEPT; frees the set. */
void weir__sessfilt_end(struct weir_session *s);
/* Whether a binding applies to a session of `protocol`. */
bool weir__binding_applies(const struct weir_policy_datafilter *d,
			   const char *protocol);

/* ---- chains (chain.c) --------------------------------------------------- */

/* How many data filters apply to the session's protocol. */
size_t weir__chain_count(const struct weir_session *s);
/* Fills s->chain with the bindings for its protocol. 0 or -ENOENT (a
 * binding names a filter nobody registered). */
int weir__chain_lookup(struct weir_session *s);
/* Attaches filter i to sock[2i] (internal) and sock[2i+1] (external). */
int weir__chain_attach(struct weir_session *s, struct weir_sock **sock);
/* Watches and holds a socket of s's chain. */
void weir__chain_adopt(struct weir_session *s, struct weir_sock *k);
/* Every socket of the chain idle: detach, release, end the session. */
void weir__chain_done(struct weir_session *s);
/* The observer of a chain's sockets (end of streams, errors, freed). */
void weir__chain_on_sock(void *arg, struct weir_sock *sock, int ev, int res);
/* Builds the chain and attaches the filters. 0, or -errno (the caller
 * fails the session, which closes what was made). */
int weir__chain_start(struct weir_session *s);
/* Closes every socket of the chain (resets when aborted); the filters
 * are detached once all are freed. Idempotent. */
void weir__chain_close(struct weir_session *s);
/* SO_LINGER 0 on fd, so that its close sends a reset. */
void weir__reset_on_close(int fd);

/* ---- workers (proxy.c) ------------------------------------------------- */

/* Empty pipes kept for the next sessions: making and freeing two pipes
 * per connection is a visible share of a short connection's cost. */
#define WEIR__PIPE_POOL 64

struct weir__worker {
	struct weir__proxy *p;
	int pipes[WEIR__PIPE_POOL][2];
	unsigned npipes;
	struct weir_loop *loop;
	pthread_t thread;
	struct weir__listener **ls;     /* open, or closing */
	size_t nls, capls;
	struct weir_policy *pol;        /* a reference: new sessions' */
	/* A reload (weir__proxy_update) hands the worker its next policy. */
	pthread_mutex_t up_lock;
	pthread_cond_t up_done;         /* applied_gen moved */
	struct weir_policy *up_next;    /* a reference, or NULL */
	uint64_t up_gen;                /* of up_next */
	uint64_t applied_gen;           /* the last update applied */
	bool up_posted;
	struct weir_post up_post;
	struct weir_session *sessions;  /* live ones */
	uint32_t nsessions;
	struct weir_post stop_post;
	struct weir_timer idle_timer;   /* idle.c */
	struct weir_session *udp_tab[256]; /* udp.c: by client address */
	bool stopping;
	struct weir__proxy_stats st;    /* this worker's counters */
	char last_abort[128];           /* weir_session_abort's last why */
	pthread_mutex_t st_lock;        /* guards st for readers */
};

struct weir__proxy {
	struct weir__proxy_opts o;
	struct weir__worker *w;
	unsigned nw;
	struct weir_policy_listener icpt[4]; /* transparent: TCP v4, v6,
	                                      * UDP v4, v6 (opened when the
	                                      * policy intercepts that
	                                      * transport) */
	bool rules;                     /* interception rules installed */
	uint64_t up_gen;                /* updates posted so far */
};

/* ---- interception (intercept.c) ---------------------------------------- */

/* Installs the redirects (TCP) and TPROXY diversions (UDP, with their
 * routing) of pol's intercepted protocols to `port`, after removing stale
 * ones. 0 or -errno with a reason in err. */
int weir__intercept_install(const struct weir_policy *pol, const char *tag,
			    uint16_t port, char *err, size_t errlen);
/* Moves installed rules from old's to pol's: a table intercepted before
 * and after gets its chain's rules replaced in one transaction (no
 * moment without interception), a transport that starts gets its rules
 * (UDP: and routing, first), one that stops loses them. 0, or -errno
 * with a reason in err (then no interception rule is left). */
int weir__intercept_update(const struct weir_policy *old,
			   const struct weir_policy *pol, const char *tag,
			   uint16_t port, char *err, size_t errlen);
/* Removes them (quiet when there are none): the tag's rules, and the
 * UDP routing when pol intercepts UDP. */
void weir__intercept_remove(const struct weir_policy *pol, const char *tag);
/* Where a redirected connection was going. 0 or -errno. */
int weir__original_dst(int fd, struct sockaddr_storage *ret);
/* Whether pol intercepts protocols of a transport. */
bool weir__intercept_has(const struct weir_policy *pol, int transport);
/* The intercepted protocol of a transport (IPPROTO_TCP or IPPROTO_UDP)
 * that a destination port belongs to, or NULL. */
const char *weir__intercept_protocol(const struct weir_policy *pol,
				     int transport, uint16_t port);

/* ---- UDP (udp.c) ----------------------------------------------------- */

/* Starts receiving on a UDP listener. */
int weir__udp_arm(struct weir__listener *l);
/* Takes a freed-to-be UDP session out of the worker's table. */
void weir__udp_forget(struct weir_session *s);
/* A UDP association's idle time is up (it has no TCP_INFO). */
bool weir__udp_idle(const struct weir_session *s, uint64_t limit_ns);
void weir__udp_listener_fini(struct weir__listener *l);

/* ---- idle timeouts (idle.c) -------------------------------------------- */

/* Starts the worker's next idle sweep. Loop thread (or before it runs). */
void weir__idle_arm(struct weir__worker *w);

/* ---- listeners (listener.c) -------------------------------------------- */

/* Opens a listening socket for pl (SO_REUSEPORT, non-blocking); a
 * transparent UDP one takes TPROXY's datagrams and reports their
 * original destinations. fd or -errno. */
int weir__listener_open(const struct weir_policy_listener *pl,
			bool transparent);
/* Whether pl's address can be bound (a socket bound, never listening,
 * closed again: it must not join a live listener's SO_REUSEPORT group,
 * where connections hashed to it would be lost). 0 or -errno. */
int weir__listener_probe(const struct weir_policy_listener *pl,
			 bool transparent);
/* IP_TRANSPARENT (IPV6_TRANSPARENT): fd may receive what TPROXY diverts
 * to it and bind to addresses that are not this host's (needs
 * CAP_NET_ADMIN). 0 or -errno. */
int weir__set_transparent(int fd, int family);
/* Starts accepting on the worker's loop. */
int weir__listener_arm(struct weir__listener *l);
/* Makes a listener of w on pl (a reference to pol is taken) and adds it
 * to w->ls; not armed. 0 or -errno. */
int weir__listener_add(struct weir__worker *w,
		       const struct weir_policy_listener *pl,
		       struct weir_policy *pol, bool transparent);
/* Stops accepting on l; a UDP listener's associations end. l goes once
 * its receive completed and no session uses it. Loop thread. */
void weir__listener_close(struct weir__listener *l);
/* Frees l if closed and idle (see weir__listener_close). */
void weir__listener_maybe_free(struct weir__listener *l);

#endif /* WEIR_PROXY_INTERNAL_H */
