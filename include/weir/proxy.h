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

/* ---- inside a session --------------------------------------------- */

const struct weir_session_info *
weir_session_info(const struct weir_session *s);
/* The loop the session runs on (for timers and files). */
struct weir_loop *weir_session_loop(struct weir_session *s);
/* Ends the session at once (the seed's _Abort): both real sockets are
 * reset and closed, every link closed; every operation still in flight
 * completes (-ECANCELED or -ECONNRESET), then each filter's detach runs.
 * Idempotent; from the session's loop only. */
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
