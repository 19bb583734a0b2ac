/* weir packet injection: typed handles, asynchronous injection into the
 * send, receive and forward paths, and the injection-state query (after
 * WFP's FwpsInjectionHandleCreate0, FwpsInjectNetworkSendAsync0,
 * FwpsInjectNetworkReceiveAsync0, FwpsInjectForwardAsync0 and
 * FwpsQueryPacketInjectionState0).
 *
 * Who does what:
 *
 *   callout ──inject──▶ handle ──▶ injector ──▶ backend (live: raw sockets
 *      ▲                                │        and TUN devices in each
 *      └──────── completion ◀───────────┘        compartment; replay: the
 *                (the injector's thread)         capture being replayed)
 *
 * An injector belongs to an engine: the packet source that runs the engine
 * (the daemon, `weir replay`, an embedding program) creates it and the
 * callouts of that engine make handles on it. Handles are typed: a network
 * handle injects into the send and receive paths, a forward handle into
 * the forward path; calling the other kind's function with it is "stale
 * handle", as in WFP.
 *
 * The contract of every inject function:
 *  - 0: accepted. weir owns the list until the completion, which runs
 *    exactly once, never inside the call, on the injector's thread, after
 *    the stack took the packets or failed to: nbl->status and each
 *    pkt->status say how (0 or -errno). The completion gets the list back
 *    and must free it (weir_nbl_unref) or keep it.
 *  - anything else: nothing happened, the completion will not run, and
 *    the caller still owns the list.
 * Any thread may inject, also from inside classify.
 *
 * Where injected packets are seen again. Live, never: the kernel rules
 * let weir's injections pass its queues (docs/steering.md), which is what
 * keeps every packet classified once per layer. Under `weir replay`, and
 * in any packet source that feeds injections back to the engine, they are
 * classified again like any packet, as WFP indicates injected packets
 * again, and a callout that injects must ask weir_injection_state() first
 * and let its own packets through, or it loops. Write callouts so; they
 * then behave the same in replay and live:
 *
 *     uint64_t ictx;
 *     switch (weir_injection_state(h, in->pkt, &ictx)) {
 *     case WEIR_INJECTED_BY_SELF:
 *     case WEIR_PREVIOUSLY_INJECTED_BY_SELF:
 *             out->action = WEIR_ACTION_PERMIT;   // mine: let it pass
 *             return;
 *     default:
 *             break;                              // classify it
 *     }
 */
#ifndef WEIR_INJECT_H
#define WEIR_INJECT_H

#include <errno.h>
#include <stdint.h>
#include <sys/socket.h>

#include <weir/engine.h>
#include <weir/packet.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status codes (negative errno values, distinct) ----------------- */

/* The target compartment has no injection path yet (WFP's
 * STATUS_FWP_TCPIP_NOT_READY): not attached, or no injector installed. */
#define WEIR_INJECT_E_NOT_READY (-ENETDOWN)
/* The handle is closing (STATUS_FWP_INJECT_HANDLE_CLOSING). */
#define WEIR_INJECT_E_CLOSING (-ESHUTDOWN)
/* The handle's type does not allow this function
 * (STATUS_FWP_INJECT_HANDLE_STALE). */
#define WEIR_INJECT_E_STALE (-EBADFD)

/* A short English text for any status an inject function or a completion
 * may carry ("handle closing", "stale handle", strerror otherwise). */
const char *weir_inject_strerror(int status);

/* ---- handles ------------------------------------------------------ */

enum weir_inject_type {
	WEIR_INJECT_NETWORK = 1,   /* weir_inject_network_send/_receive */
	WEIR_INJECT_FORWARD,       /* weir_inject_forward */
	WEIR_INJECT_TRANSPORT,     /* weir_inject_transport_send/_receive */
};

/* The compartment of weir's own network namespace. */
#define WEIR_COMPARTMENT_UNSPECIFIED 0u

struct weir_inject_handle;

/* A handle for `family` (AF_INET, AF_INET6, or AF_UNSPEC for both) on the
 * injector of `engine`. The engine need not have an injector yet (a
 * plug-in's init may run before the packet source installs one): then
 * injections return WEIR_INJECT_E_NOT_READY until it does. Any thread.
 * 0, -EINVAL (bad family or type), -ENOMEM. */
int weir_inject_handle_create(struct weir_engine *engine, int family,
			      enum weir_inject_type type,
			      struct weir_inject_handle **ret_handle);

/* Marks the handle closing: from now on every inject function returns
 * WEIR_INJECT_E_CLOSING. Injections already accepted go on and complete
 * (the backend cancels what it can: their status is then -ECANCELED).
 * Does not wait. Any thread; idempotent. */
void weir_inject_handle_close(struct weir_inject_handle *handle);

/* Closes the handle, waits until every accepted injection has completed,
 * and frees it. Must not be called from the injector's thread while
 * injections are in flight there (it would wait for itself): there it
 * returns -EDEADLK after closing the handle; call it again later, or from
 * another thread. 0 or -EDEADLK. NULL is fine (0). */
int weir_inject_handle_destroy(struct weir_inject_handle *handle);

/* Injections accepted by the handle whose completion has not run yet. */
uint32_t weir_inject_handle_inflight(const struct weir_inject_handle *handle);

/* ---- injection ---------------------------------------------------- */

/* Gets the list back, exactly once (see the contract above). */
typedef void (*weir_inject_complete_fn)(void *ctx, struct weir_nbl *nbl);

/* Injects nbl's packets (each starting at the IP header; IPv4 and IPv6
 * may mix if the handle's family allows) into the send path of
 * `compartment`, as if a local socket had sent them: the output hooks,
 * routing, and out. `inject_ctx` is returned by weir_injection_state()
 * for these packets. `flags` must be 0. TCP GSO super-packets (larger
 * than the route's MTU, from a GSO capture) are segmented; other
 * oversized packets fail with -EMSGSIZE in their status. A packet with
 * a partial checksum (WEIR_CSUM_PARTIAL, as captured from an offloading
 * device) gets its checksums completed in place before it leaves.
 * Returns 0, -EINVAL (flags, NULL or empty list, a packet that is not IP
 * of the handle's family), WEIR_INJECT_E_STALE, WEIR_INJECT_E_CLOSING,
 * WEIR_INJECT_E_NOT_READY, -ENOMEM. */
int weir_inject_network_send(struct weir_inject_handle *handle,
			     uint64_t inject_ctx, uint32_t flags,
			     uint32_t compartment, struct weir_nbl *nbl,
			     weir_inject_complete_fn complete,
			     void *complete_ctx);

/* Injects into the receive path of `compartment`, as if the packets had
 * arrived on an interface: the input hooks, routing, local delivery (or
 * forwarding). `ifindex` is the interface the callout means (0 = none);
 * the live injector delivers through its own TUN device in that
 * compartment and records `ifindex` in the injection record. Same
 * returns as weir_inject_network_send. */
int weir_inject_network_receive(struct weir_inject_handle *handle,
				uint64_t inject_ctx, uint32_t flags,
				uint32_t compartment, uint32_t ifindex,
				struct weir_nbl *nbl,
				weir_inject_complete_fn complete,
				void *complete_ctx);

/* Injects into the forward path of `compartment`: the packets leave
 * through interface `ifindex_out` (required) unchanged (no TTL
 * decrement: the callout built them as they should leave). Needs a
 * WEIR_INJECT_FORWARD handle. Same returns, and -EINVAL for ifindex 0. */
int weir_inject_forward(struct weir_inject_handle *handle,
			uint64_t inject_ctx, uint32_t flags,
			uint32_t compartment, uint32_t ifindex_out,
			struct weir_nbl *nbl, weir_inject_complete_fn complete,
			void *complete_ctx);

/* Transport injection (WFP's FwpsInjectTransportSendAsync0 and
 * ...ReceiveAsync0): each packet of the list starts at its transport
 * header (UDP, TCP, ICMP, ICMPv6, or any other protocol's bytes), and
 * weir builds the IP header in front of it from these parameters. */
struct weir_inject_transport {
	uint8_t protocol;          /* IPPROTO_UDP, IPPROTO_TCP, ... */
	uint8_t ttl;               /* TTL / hop limit; 0 = 64 */
	/* This host's end and the peer's (ports are the transport
	 * header's: ignored here). Both AF_INET or both AF_INET6, of a
	 * family the handle allows. */
	struct sockaddr_storage local, remote;
};

/* Injects into the send path, as if a local socket of `t->local` had
 * sent each packet to `t->remote`: an IPv4 header (DF, a fresh
 * identification) or IPv6 header goes in front, then the IPv4 header
 * checksum and the UDP, TCP, ICMP or ICMPv6 checksum are computed (the
 * callout's value in the field is ignored; other protocols' bytes go as
 * given). Then as
 * weir_inject_network_send(). The completion gets the packets back as
 * given, starting at the transport header. Needs a WEIR_INJECT_TRANSPORT
 * handle. Same returns, and -EINVAL for a packet too short for its
 * protocol's header or bad addresses, -EMSGSIZE when the IP packet
 * would exceed 65535 bytes, -ENOSPC without 40 bytes of headroom
 * (weir's packets have it). On any failure the packets are unchanged. */
int weir_inject_transport_send(struct weir_inject_handle *handle,
			       uint64_t inject_ctx, uint32_t flags,
			       uint32_t compartment,
			       const struct weir_inject_transport *t,
			       struct weir_nbl *nbl,
			       weir_inject_complete_fn complete,
			       void *complete_ctx);

/* Injects into the receive path, as if each packet had come from
 * `t->remote` to `t->local` (an address of the compartment, for local
 * delivery) on interface `ifindex` (0 = none): as
 * weir_inject_network_receive() after the IP header is built. */
int weir_inject_transport_receive(struct weir_inject_handle *handle,
				  uint64_t inject_ctx, uint32_t flags,
				  uint32_t compartment, uint32_t ifindex,
				  const struct weir_inject_transport *t,
				  struct weir_nbl *nbl,
				  weir_inject_complete_fn complete,
				  void *complete_ctx);

/* ---- injection state --------------------------------------------- */

enum weir_injection_state {
	WEIR_NOT_INJECTED = 0,
	WEIR_INJECTED_BY_SELF,            /* by this handle */
	WEIR_INJECTED_BY_OTHER,           /* by another handle */
	WEIR_PREVIOUSLY_INJECTED_BY_SELF, /* by this handle, then seen at
	                                   * another layer, or injected again
	                                   * by another handle */
};

/* How `pkt` (as a packet source handed it to classify) relates to
 * injections. For the two "self" states *ret_ctx (when given) receives
 * the inject_ctx of this handle's injection; otherwise it is set to 0.
 * Any thread. The answer comes from pkt->meta.inject_id, the record of
 * the injection that made the packet: weir sets it on every packet it
 * injects (clones keep it), and replay feeds injected packets back with
 * it. Live, weir's injections are not queued again (the kernel rules
 * skip the injection mark and the TUN device, docs/steering.md), so a
 * live callout sees only packets with no record: WEIR_NOT_INJECTED. */
enum weir_injection_state
weir_injection_state(const struct weir_inject_handle *handle,
		     const struct weir_pkt *pkt, uint64_t *ret_ctx);

/* ---- injectors (for packet sources) -------------------------------- */

/* One accepted injection, as a backend sees it. Owned by weir; the
 * backend holds it from submit until weir_inject_req_done(). */
enum weir_inject_path {
	WEIR_PATH_SEND = 1,
	WEIR_PATH_RECEIVE,
	WEIR_PATH_FORWARD,
};

struct weir_inject_req {
	enum weir_inject_path path;
	uint32_t compartment;
	uint32_t ifindex;        /* receive: as given; forward: out */
	struct weir_nbl *nbl;    /* the packets; each has meta.inject_id set
	                          * to this injection's record */
	void *backend_[2];       /* free for the backend's use */
	uint64_t backend_word_[2];
};

/* A packet source's way of delivering injections. */
struct weir_inject_ops {
	/* Takes `req`, to finish later with weir_inject_req_done() exactly
	 * once, never from inside this call. Any thread. Returns 0, or a
	 * negative errno and does not take it (WEIR_INJECT_E_NOT_READY for
	 * an unknown or unattached compartment). */
	int (*submit)(void *arg, struct weir_inject_req *req);
	/* Optional: the injector is going away; finish every req taken
	 * (weir_inject_req_done) before returning or soon after. */
	void (*shutdown)(void *arg);
};

struct weir_injector;

/* Installs an injector on `engine` with `ops` (copied). One per engine:
 * -EEXIST if it has one. Handles made before start working now. */
int weir_injector_new(struct weir_engine *engine,
		      const struct weir_inject_ops *ops, void *arg,
		      struct weir_injector **ret_injector);

/* Uninstalls it: later injections are WEIR_INJECT_E_NOT_READY; calls
 * ops->shutdown and waits until every taken req is done. NULL is fine. */
void weir_injector_free(struct weir_injector *injector);

/* The backend finished `req`: sets the statuses (`status` for the list
 * when no packet has its own error) and runs the completion, on the
 * calling thread. */
void weir_inject_req_done(struct weir_inject_req *req, int status);

/* ---- the live injector (what `weir run` installs) ------------------ */

/* A network namespace injections may target, by weir compartment id. */
struct weir_inject_compartment {
	uint32_t id;              /* > 0; 0 is weir's own namespace, always
	                           * present */
	const char *netns_path;   /* e.g. /run/netns/NAME */
};

struct weir_inject_live_opts {
	uint32_t mark;            /* SO_MARK of injected packets; 0 = 0x570000
	                           * (docs/steering.md: never queued again) */
	const char *tun_name;     /* receive-path TUN device, made in every
	                           * compartment; "%d" in it is a number the
	                           * kernel picks; NULL = "weir-inj%d" */
	const struct weir_inject_compartment *compartments;
	size_t ncompartments;
};

struct weir_inject_live;

/* Makes the live injector of `engine`: a thread with its own io loop
 * (where completions run), and in every compartment raw IP sockets
 * (IP_HDRINCL, the mark) for the send and forward paths and a TUN device
 * for the receive path. Needs CAP_NET_ADMIN and CAP_NET_RAW. 0, -EEXIST
 * (the engine has an injector), or the errno of what failed (with
 * nothing left behind). */
int weir_inject_live_new(struct weir_engine *engine,
			 const struct weir_inject_live_opts *opts,
			 struct weir_inject_live **ret_live);

/* Finishes every injection taken (-ECANCELED for what was not sent yet),
 * uninstalls the injector, removes the TUN devices, stops the thread.
 * NULL is fine. */
void weir_inject_live_free(struct weir_inject_live *live);

/* Counters of the live injector. Any thread. */
struct weir_inject_live_stats {
	uint64_t reqs;            /* injections taken */
	uint64_t packets;         /* packets handed to the stack */
	uint64_t errors;          /* packets that failed */
	uint64_t segmented;       /* GSO super-packets split before sending */
};
void weir_inject_live_stats(const struct weir_inject_live *live,
			    struct weir_inject_live_stats *ret_stats);

#ifdef __cplusplus
}
#endif

#endif /* WEIR_INJECT_H */
