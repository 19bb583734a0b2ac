/* UDP sessions: one per client address on an explicit UDP listener (an
 * association), or one per client address and original destination on
 * the transparent listener (TPROXY, intercept.c), each with its own
 * connected socket to the upstream.
 *
 *   client ⇄ listener fd ── (demux by client) ── A ⇄ B [f1] ⇄ ... ⇄ [fn] ⇄ upstream
 *                                             link (zero copy)   connected UDP
 *
 * Without data filters the session relays itself between the listener
 * and its upstream socket. With filters the first one's internal side is
 * a datagram link whose other end (A) the session feeds: each client
 * datagram is sent to A with the upstream as its address (so the
 * filter's receive reports, as TMG's external address on the internal
 * side, the destination the client meant), and what the filter sends
 * back is received on A and sent to the client from the listener.
 *
 * A transparent session answers from the address the client sent to,
 * which is not this host's: its reply socket (csock) is bound to the
 * original destination (IP_TRANSPARENT) and connected to the client.
 * TPROXY then finds that connected socket for the client's next
 * datagrams, so the session receives on it too; the ones that reached
 * the listener first still find the session by (client, destination).
 *
 *   client ─▶ TPROXY ─┬─▶ listener fd (the first datagrams) ─┐
 *                     └─▶ reply socket (the later ones) ──────┴─▶ session
 *   client ◀─ reply socket (from the original destination) ◀─ session
 *
 * Datagrams may be dropped, as UDP allows: more than 64 handed on and
 * not yet taken, or a full send buffer toward the client. An association
 * ends after the idle time (at most 30 s) with no datagram, when the
 * upstream reports an error (ICMP unreachable) or a transparent
 * session's reply socket fails, or with the proxy. Socket lifetimes are
 * the chains' (chain.c): the session goes when every one of its sockets
 * is freed.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy/proxy_internal.h"

#define DGRAM_MAX 65536u
#define PENDING_MAX 64
#define UDP_IDLE_MAX_NS 30000000000ull

enum { UD_SENT = 1, UD_BACK, UD_CLIENT };

static bool same_addr(const struct sockaddr_storage *a,
		      const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET6)
		return !memcmp(a, b, sizeof(struct sockaddr_in6));
	return !memcmp(a, b, sizeof(struct sockaddr_in));
}

static unsigned bucket(const struct sockaddr_storage *a)
{
	const uint8_t *p = (const uint8_t *)a;
	size_t n = a->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
					    : sizeof(struct sockaddr_in);
	unsigned h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h & 255u;
}

static socklen_t sa_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
					 : sizeof(struct sockaddr_in);
}

static uint16_t port_of(const struct sockaddr_storage *ss)
{
	return ntohs(ss->ss_family == AF_INET6
			     ? ((const struct sockaddr_in6 *)ss)->sin6_port
			     : ((const struct sockaddr_in *)ss)->sin_port);
}

/* The session of a client (explicit listener), or of a client and the
 * destination it meant (transparent: each destination is a session of
 * its own). The table hashes the client only: a client talking to many
 * destinations at once makes one bucket longer, nobody else's. */
static struct weir_session *find(struct weir__listener *l,
				 const struct sockaddr_storage *from,
				 const struct sockaddr_storage *dst)
{
	for (struct weir_session *s = l->w->udp_tab[bucket(from)]; s;
	     s = s->hnext)
		if (s->l == l && same_addr(&s->info.client, from) &&
		    (!l->transparent ||
		     same_addr(&s->info.original_dst, dst)) &&
		    s->state == WEIR__SESS_RUNNING)
			return s;
	return NULL;
}

void weir__udp_forget(struct weir_session *s)
{
	struct weir_session **pp = &s->w->udp_tab[bucket(&s->info.client)];

	for (; *pp; pp = &(*pp)->hnext)
		if (*pp == s) {
			*pp = s->hnext;
			return;
		}
}

bool weir__udp_idle(const struct weir_session *s, uint64_t limit_ns)
{
	if (limit_ns > UDP_IDLE_MAX_NS)
		limit_ns = UDP_IDLE_MAX_NS;
	return weir__mono_ns() - s->last_ns >= limit_ns;
}

/* ---- the session's side ------------------------------------------------ */

static void post_back(struct weir_session *s);

/* Back toward the client: from the listener, or on a transparent
 * session from its reply socket, so the client sees the address it
 * talked to. */
static void to_client(struct weir_session *s, struct weir_iobuf *b)
{
	ssize_t n = s->csock
		? send(weir_sock_fd(s->csock), b->data, b->len, MSG_DONTWAIT)
		: sendto(s->l->fd, b->data, b->len, MSG_DONTWAIT,
			 (const struct sockaddr *)&s->info.client,
			 sa_len(&s->info.client));

	if (n == (ssize_t)b->len)
		s->bytes_down += b->len;
	s->last_ns = weir__mono_ns();
}

static void from_client(struct weir_session *s, bool ok, int err,
			struct weir_iobuf *buf);

static void complete(void *target, bool ok, int err, struct weir_iobuf *buf,
		     uint64_t ud, const struct sockaddr *a, socklen_t al)
{
	struct weir_session *s = target;

	(void)a, (void)al;
	if (ud == UD_SENT) {
		s->udp_pending--;
		return;
	}
	if (ud == UD_CLIENT) {
		from_client(s, ok, err, buf);
		return;
	}

	if (ok)
		to_client(s, buf);
	weir_iobuf_unref(buf);
	/* -ESHUTDOWN: the first filter shut its internal side; it will
	 * send the client no more (the association lives on until idle). */
	if (!ok) {
		if (err != -ECANCELED && err != -ESHUTDOWN)
			weir__session_fail(s, err);
		return;
	}
	post_back(s);
}

/* One receive for what goes back to the client: from the first filter,
 * or from the upstream socket when there is none. */
static void post_back(struct weir_session *s)
{
	struct weir_sock *from = s->ua ? s->ua : s->ssock;

	if (s->state != WEIR__SESS_RUNNING)
		return;
	if (weir_sock_recv(from, NULL, &s->ut, UD_BACK) < 0)
		weir__session_fail(s, -EIO);
}

/* A client datagram on its way up. Takes b. */
static void to_upstream(struct weir_session *s, struct weir_iobuf *b)
{
	int rc;

	s->last_ns = weir__mono_ns();
	if (s->udp_pending >= PENDING_MAX || s->udp_denied) {
		/* not keeping up, or refused by a session filter */
		weir_iobuf_unref(b);
		return;
	}
	s->bytes_up += b->len;
	rc = s->ua ? weir_sock_sendto(s->ua, b,
				      (const struct sockaddr *)&s->info.upstream,
				      sa_len(&s->info.upstream), &s->ut, UD_SENT)
		   : weir_sock_send(s->ssock, b, &s->ut, UD_SENT);
	weir_iobuf_unref(b);
	if (!rc)
		s->udp_pending++;
}

/* One receive on a transparent session's reply socket: the client's
 * datagrams that TPROXY delivered to it. */
static void post_client(struct weir_session *s)
{
	if (s->state != WEIR__SESS_RUNNING)
		return;
	if (weir_sock_recv(s->csock, NULL, &s->ut, UD_CLIENT) < 0)
		weir__session_fail(s, -EIO);
}

/* A datagram from the client on the reply socket: on its way up as one
 * that came through the listener. An error of the socket ends the
 * session through the chain's observer (csock is a real end). */
static void from_client(struct weir_session *s, bool ok, int err,
			struct weir_iobuf *buf)
{
	(void)err;
	if (!ok) {
		weir_iobuf_unref(buf);
		return;
	}
	if (s->state == WEIR__SESS_RUNNING)
		to_upstream(s, buf);
	else
		weir_iobuf_unref(buf);
	post_client(s);
}

/* ---- making a session -------------------------------------------------- */

/* A transparent session's socket toward the client: bound to the
 * original destination (IP_TRANSPARENT allows an address that is not
 * this host's), so that replies come from the address and port the
 * client talked to, and connected to the client, so that TPROXY's lookup
 * of an established socket hands it that client's next datagrams. The
 * sessions of other clients of the same destination bind the same
 * address and port (SO_REUSEADDR); the connected peer tells them apart. */
static int reply_sock(struct weir_session *s, struct weir_sock **ret)
{
	const struct sockaddr_storage *dst = &s->info.original_dst;
	const struct sockaddr_storage *cl = &s->info.client;
	int one = 1, rc;
	int fd = socket(dst->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			0);

	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    weir__set_transparent(fd, dst->ss_family) < 0 ||
	    bind(fd, (const struct sockaddr *)dst, sa_len(dst)) ||
	    connect(fd, (const struct sockaddr *)cl, sa_len(cl))) {
		rc = -errno;
		close(fd);
		return rc;
	}
	/* External side: the source is reported, the connected client,
	 * which costs no ancillary data per datagram (and is not used). */
	rc = weir_sock_from_fd(s->w->loop, fd, true, ret);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	weir__chain_adopt(s, *ret);
	return 0;
}

static struct weir_sock *upstream_sock(struct weir_session *s)
{
	const struct sockaddr_storage *up = &s->info.upstream;
	struct weir_sock *k;
	int fd = socket(up->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			0);

	if (fd < 0)
		return NULL;
	if (connect(fd, (const struct sockaddr *)up, sa_len(up)) ||
	    weir_sock_from_fd(s->w->loop, fd, true, &k) < 0) {
		close(fd);
		return NULL;
	}
	weir__chain_adopt(s, k);
	return k;
}

static int add_pair(struct weir_session *s, struct weir_sock **a,
		    struct weir_sock **b)
{
	if (weir_sock_pair(s->w->loop, WEIR_SOCK_DGRAM, a, b) < 0)
		return -ENOMEM;
	weir__chain_adopt(s, *a);
	weir__chain_adopt(s, *b);
	s->links[s->nlinks++] = *a;
	s->links[s->nlinks++] = *b;
	return 0;
}

/* The filters: B is the first one's internal side, A the session's. */
static int build_chain(struct weir_session *s)
{
	struct weir_sock *sock[2 * WEIR__CHAIN_MAX], *a, *b;
	size_t n = s->nchain;

	if (add_pair(s, &s->ua, &sock[0]) < 0)
		return -ENOMEM;
	sock[2 * n - 1] = s->ssock;
	for (size_t i = 0; i + 1 < n; i++) {
		if (add_pair(s, &a, &b) < 0)
			return -ENOMEM;
		sock[2 * i + 1] = a;
		sock[2 * i + 2] = b;
	}
	weir__count(s->w, &s->w->st.chained, 1);
	return weir__chain_attach(s, sock);
}

/* The session filters' say: ACCEPT, then UDP_DEST. 0 to go on, 1 when
 * denied (the association stays, dropping what the client sends, so a
 * refused flood is not a flood of events), or -errno to end it. The
 * caller holds an op on s: a filter may abort it inside. */
static int screen(struct weir_session *s)
{
	int v = weir__sessfilt_screen(s, WEIR_SESSION_UDP_DEST);

	if (v < 0)
		return v;
	return v == WEIR_SESSION_KILL ? -ECONNABORTED
				      : v == WEIR_SESSION_DENY;
}

static int setup(struct weir_session *s)
{
	int rc = screen(s);

	if (rc != 0) {
		s->udp_denied = rc > 0;
		return rc < 0 ? rc : 0;
	}
	if (s->l->transparent) {
		rc = reply_sock(s, &s->csock);
		if (rc < 0)
			return rc;
	}
	s->ssock = upstream_sock(s);
	if (!s->ssock)
		return -errno ? -errno : -ENOMEM;
	rc = weir__chain_lookup(s);
	if (!rc && s->nchain)
		rc = build_chain(s);
	if (!rc)
		post_back(s);
	if (!rc && s->csock)
		post_client(s);
	return rc;
}

/* Explicit: the listener's address and its fixed upstream. Transparent:
 * where the client's datagram was going, and the intercepted protocol of
 * that port. */
static void set_upstream(struct weir_session *s,
			 const struct sockaddr_storage *dst)
{
	const struct weir_policy_listener *pl = s->l->pl;

	if (!s->l->transparent) {
		memcpy(&s->info.original_dst, &pl->listen, pl->listen_len);
		memcpy(&s->info.upstream, &pl->upstream, pl->upstream_len);
		return;
	}
	s->info.original_dst = *dst;
	s->info.upstream = *dst;
	s->info.protocol = weir__intercept_protocol(s->pol,
						    IPPROTO_UDP,
						    port_of(dst));
}

static struct weir_session *new_session(struct weir__listener *l,
					const struct sockaddr_storage *dst)
{
	struct weir__worker *w = l->w;
	struct weir_session *s;
	bool alive;
	int rc;

	if (w->nsessions >= w->p->o.max_sessions ||
	    !(s = calloc(1, sizeof(*s)))) {
		weir__count(w, &w->st.refused, 1);
		return NULL;
	}
	*s = (struct weir_session){
		.w = w, .l = l, .cfd = -1, .sfd = -1,
		.state = WEIR__SESS_RUNNING, .chained = true, .ops = 1,
		.up.pipe = { -1, -1 }, .down.pipe = { -1, -1 },
		.ut = { .complete = complete, .target = s },
		.last_ns = weir__mono_ns(),
		.info = { .id = weir__session_next_id(),
			  .transport = IPPROTO_UDP,
			  .protocol = l->pl->protocol, .client = l->from } };
	/* The listener's policy: info.protocol points into it. */
	s->pol = weir_policy_ref(l->pol);
	l->users++;     /* answers go out from l->fd */
	set_upstream(s, dst);
	weir__session_link(w, s);
	s->hnext = w->udp_tab[bucket(&l->from)];
	w->udp_tab[bucket(&l->from)] = s;
	/* Held across setup: a session filter may abort s inside. */
	s->ops++;
	rc = setup(s);
	if (rc < 0)
		weir__session_fail(s, rc);
	alive = s->state == WEIR__SESS_RUNNING;
	weir__session_op_done(s);
	return alive ? s : NULL;
}

/* ---- the listener ------------------------------------------------------ */

/* Where the datagram just received on a transparent listener was going:
 * TPROXY leaves its addresses alone, and the kernel reports the
 * destination as IP_ORIGDSTADDR (IPV6_ORIGDSTADDR). False without one,
 * or when it is weir's own intercept port: weir would send to itself. */
static bool orig_dst(struct weir__listener *l, struct sockaddr_storage *dst)
{
	return weir__orig_dst(&l->msg, dst) &&
	       port_of(dst) != l->w->p->o.intercept_port;
}

static void on_dgram(struct weir__io_op *op, int res, unsigned flags)
{
	struct weir__listener *l =
		weir__container_of(op, struct weir__listener, accept_op);
	struct weir_iobuf *b = l->rx;
	struct sockaddr_storage dst = { 0 };
	struct weir_session *s;

	(void)flags;
	l->rx = NULL;
	/* A session that fails inside must not free l under us. */
	l->users++;
	/* Closed (a reload removed it, or the proxy stops): its sessions
	 * were ended; a datagram that came meanwhile makes none. */
	if (res >= 0 && !l->closed && !(l->msg.msg_flags & MSG_TRUNC) &&
	    (!l->transparent || orig_dst(l, &dst))) {
		b->len = (uint32_t)res;
		s = find(l, &l->from, &dst);
		if (!s)
			s = new_session(l, &dst);
		if (s) {
			to_upstream(s, b);
			b = NULL;
		}
	}
	weir_iobuf_unref(b);
	l->users--;
	if (!l->closed && res != -ECANCELED)
		weir__udp_arm(l);
	else
		weir__listener_maybe_free(l);
}

int weir__udp_arm(struct weir__listener *l)
{
	struct io_uring_sqe *sqe;

	if (!l->rx && !(l->rx = weir_iobuf_new(DGRAM_MAX)))
		return -ENOMEM;
	l->iov = (struct iovec){ l->rx->data, l->rx->cap };
	l->msg = (struct msghdr){ .msg_name = &l->from,
				  .msg_namelen = sizeof(l->from),
				  .msg_iov = &l->iov, .msg_iovlen = 1 };
	if (l->transparent) {
		l->msg.msg_control = l->ctl.bytes;
		l->msg.msg_controllen = sizeof(l->ctl.bytes);
	}
	l->accept_op.done = on_dgram;
	sqe = weir__io_sqe(l->w->loop, &l->accept_op);
	if (!sqe)
		return -errno;
	io_uring_prep_recvmsg(sqe, l->fd, &l->msg, 0);
	return 0;
}

void weir__udp_listener_fini(struct weir__listener *l)
{
	weir_iobuf_unref(l->rx);
	l->rx = NULL;
}
