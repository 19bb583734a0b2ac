/* weir application tier: the firewall service, its sessions and the
 * chains of data filters they run through (after Forefront TMG's
 * firewall service, FWX session and data filters).
 *
 *   client ─── real socket ─── [filter 1] ══ link ══ [filter 2] ─── real socket ─── server
 *              (internal)       class 10              class 20       (external)
 *
 * A session is one proxied TCP connection (or UDP association). The
 * proxy accepts it (an explicit listener, or transparent interception),
 * connects upstream, and then:
 *  - with no data filter bound to its protocol, pumps the bytes in the
 *    kernel (splice through a pipe): they never enter user space;
 *  - otherwise builds the chain, internal to external in priority-class
 *    order. Each filter gets two weir_sock (io.h): toward internal (the
 *    client's real socket or the link from the previous filter) and
 *    toward external (the link to the next filter or the server's real
 *    socket), and moves the data itself with completion-based receives
 *    and sends. A filter that does not care about a direction hands it to
 *    weir_pump(), which forwards buffers without copying them.
 *
 * Data filters are registered by plug-ins (plugin.h) or an embedding
 * program, by name, on the engine the plug-in is given; the policy binds
 * them to protocols (docs/policy.md: protocol, listen, datafilter).
 *
 * Threads: a session lives on one loop; a filter's attach, its
 * completions and detach all run on that loop's thread.
 */
#ifndef WEIR_PROXY_H
#define WEIR_PROXY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <weir/engine.h>
#include <weir/io.h>

#ifdef __cplusplus
extern "C" {
#endif

struct weir_session;

/* What a filter may know about its session. Addresses as seen by the
 * proxy; `original_dst` is where the client meant to go (transparent
 * interception) or the listener's address (explicit). */
struct weir_session_info {
	uint64_t id;                        /* unique in the proxy */
	int transport;                      /* IPPROTO_TCP or IPPROTO_UDP */
	const char *protocol;               /* the policy's name, or NULL */
	struct sockaddr_storage client;
	struct sockaddr_storage original_dst;
	struct sockaddr_storage upstream;
};

/* A data filter (TMG's IFWXDataFilter), registered once, instantiated
 * per session. */
struct weir_datafilter {
	const char *name;      /* unique; copied */
	/* A session needs an instance: `internal` and `external` are its
	 * sockets (owned by the session: the filter never closes them;
	 * weir_session_abort() ends everything). `params` are the policy's
	 * parameters for this binding ("" if none). The filter typically
	 * posts its first receives here. Returns 0, or a negative errno to
	 * refuse the session (it is then torn down: the client sees a
	 * reset). *ret_inst is handed back to detach. */
	int (*attach)(void *priv, struct weir_session *s,
		      struct weir_sock *internal, struct weir_sock *external,
		      const char *params, void **ret_inst);
	/* The session is over and every completion of the filter's
	 * operations has been delivered: free the instance. */
	void (*detach)(void *priv, void *inst);
	void *priv;
};

/* Registers a data filter on `engine` (copied). -EEXIST, -EINVAL,
 * -ENOMEM. Sessions started afterwards may use it. */
int weir_datafilter_register(struct weir_engine *engine,
			     const struct weir_datafilter *df);
/* Unregisters it; sessions already using it keep their instances.
 * 0 or -ENOENT. */
int weir_datafilter_unregister(struct weir_engine *engine, const char *name);

/* ---- session filters ----------------------------------------------- */

/* A session filter (TMG's IFWXSessionFilter) sees a session's life, not
 * its bytes: it may refuse the session, end it, redirect it, or attach
 * data filters to it alone. The policy binds it to protocols
 * (`sessionfilter NAME [on P, ...] { params }`); bound filters run in
 * policy order, each event to each filter until one says otherwise. */
enum weir_session_event {
	/* A client's connection was accepted (TCP), or a client's first
	 * datagram made a UDP association. info: client, original_dst,
	 * upstream (where it will go). Data filters may be attached and the
	 * upstream changed. */
	WEIR_SESSION_ACCEPT = 1,
	/* TCP: the proxy is about to connect to `addr` (the upstream).
	 * The last moment to change it or attach data filters. */
	WEIR_SESSION_CONNECT,
	/* UDP: the association is about to send its first datagram toward
	 * `addr` (each destination is its own association, so once per
	 * session). The last moment to attach data filters. */
	WEIR_SESSION_UDP_DEST,
	/* The session is over: every data filter detached, both sockets
	 * closed. Delivered exactly once to every filter that got ACCEPT,
	 * whatever the verdicts; the verdict is ignored. The place to free
	 * *ctx. */
	WEIR_SESSION_TERMINATE,
};

enum weir_session_verdict {
	WEIR_SESSION_CONTINUE = 0,   /* next filter; then the session goes on */
	/* Refuse what the event announces. ACCEPT, CONNECT: the client
	 * gets a reset, nothing is connected. UDP_DEST: the association
	 * stays but drops every datagram until it goes idle (so a
	 * flood of refused datagrams is not a flood of events). */
	WEIR_SESSION_DENY,
	/* End the session now (weir_session_abort). For TCP the same as
	 * DENY; for UDP the association ends and a later datagram makes a
	 * new one. */
	WEIR_SESSION_KILL,
};

struct weir_session_event_info {
	enum weir_session_event kind;
	/* CONNECT: the upstream; UDP_DEST: the destination; else NULL. */
	const struct sockaddr *addr;
	socklen_t addr_len;
	/* TERMINATE: bytes client->server and back as the real sockets
	 * moved them, and why it ended: 0 (both sides closed), or a
	 * negative errno with `reason` ("denied by session filter NAME",
	 * "idle", a data filter's abort reason, "upstream unreachable",
	 * ...; NULL if none). */
	uint64_t bytes_up, bytes_down;
	int error;
	const char *reason;
};

struct weir_sessionfilter {
	const char *name;      /* unique among session filters; copied */
	/* An event of session s (on its loop's thread). `params` is the
	 * policy's parameter text for this binding ("" if none). `ctx` is
	 * a word per (session, filter), NULL at first, kept across the
	 * session's events: what the filter keeps there it frees at
	 * TERMINATE. */
	enum weir_session_verdict (*event)(
		void *priv, struct weir_session *s,
		const struct weir_session_event_info *ev, const char *params,
		void **ctx);
	void *priv;
};

/* Registers a session filter on engine (copied). -EEXIST, -EINVAL,
 * -ENOMEM. Sessions started afterwards use it. */
int weir_sessionfilter_register(struct weir_engine *engine,
				const struct weir_sessionfilter *sf);
/* 0 or -ENOENT. A session that already looked it up keeps calling it:
 * unregister from a plug-in's fini only (the proxy stops first). */
int weir_sessionfilter_unregister(struct weir_engine *engine,
				  const char *name);

/* From ACCEPT, CONNECT or UDP_DEST: puts the data filter registered as
 * `datafilter` into this session's chain in priority class `priority`
 * (0..1000; with the policy's bindings, in increasing class, bindings
 * first among equals) with `params` (copied; NULL = ""). The session
 * then runs through a chain even if its protocol binds no filter.
 * 0, -ENOENT (no such data filter), -ENOSPC (the chain is full: 8),
 * -EINVAL, -EBUSY (outside those events), -ENOMEM. */
int weir_session_attach(struct weir_session *s, const char *datafilter,
			unsigned priority, const char *params);

/* From ACCEPT or CONNECT (TCP) or ACCEPT (UDP): sends the session to `a`
 * instead (a redirector). info.upstream changes; original_dst stays.
 * 0, -EINVAL (not an IPv4/IPv6 address), -EBUSY (too late). */
int weir_session_set_upstream(struct weir_session *s,
			      const struct sockaddr *a, socklen_t len);

/* ---- inside a session --------------------------------------------- */

const struct weir_session_info *
weir_session_info(const struct weir_session *s);
/* The loop the session runs on (for timers and files). */
struct weir_loop *weir_session_loop(struct weir_session *s);
/* Ends the session at once (the seed's _Abort): both real sockets are
 * reset and closed, every link closed; every operation still in flight
 * completes (-ECANCELED or -ECONNRESET), then each filter's detach runs,
 * never inside this call (save while the loop itself is being freed):
 * a filter may abort from any of its callbacks, attach included, and go
 * on using its instance until it returns. Idempotent; from the
 * session's loop only. */
void weir_session_abort(struct weir_session *s, const char *why);

/* Forwards everything `from` receives to `to` without copying, until end
 * of stream (then shuts `to` down for writing) or an error (then aborts
 * the session). For the direction a filter does not inspect. `bytes`,
 * when given, counts what was handed on (it must outlive the session's
 * sockets: detach is a safe place to read it). 0 or -ENOMEM. */
int weir_pump(struct weir_session *s, struct weir_sock *from,
	      struct weir_sock *to, uint64_t *bytes);

#ifdef __cplusplus
}
#endif

#endif /* WEIR_PROXY_H */
