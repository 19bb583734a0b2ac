/* Listeners: a listening socket per worker (SO_REUSEPORT: the kernel
 * spreads connections over the workers), accepting with a multishot
 * io_uring accept, re-armed if the kernel ends it (UDP ones: udp.c).
 *
 * A reload may close a listener while its accept (or receive) is in
 * flight and, for UDP, while associations still send from its socket:
 * it is freed when the last of those is over.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy/proxy_internal.h"

int weir__set_transparent(int fd, int family)
{
	int one = 1;
	int rc = family == AF_INET6
		? setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof(one))
		: setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one));

	return rc ? -errno : 0;
}

/* TPROXY delivers only to transparent sockets; the original destination
 * comes with each datagram. (A redirected TCP connection needs neither:
 * its destination was rewritten, conntrack keeps the original.) */
static int tproxy_opts(int fd, int family)
{
	int one = 1;

	if (weir__set_transparent(fd, family) < 0)
		return -1;
	return family == AF_INET6
		? setsockopt(fd, SOL_IPV6, IPV6_RECVORIGDSTADDR, &one,
			     sizeof(one))
		: setsockopt(fd, SOL_IP, IP_RECVORIGDSTADDR, &one,
			     sizeof(one));
}

/* A socket bound to pl's address, not yet listening. fd or -errno. */
static int open_bound(const struct weir_policy_listener *pl, bool transparent)
{
	bool udp = pl->transport == IPPROTO_UDP;
	int one = 1;
	int fd = socket(pl->listen.ss_family,
			(udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK |
				SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
	    (pl->listen.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one))) ||
	    (udp && transparent && tproxy_opts(fd, pl->listen.ss_family)) ||
	    bind(fd, (const struct sockaddr *)&pl->listen, pl->listen_len)) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	return fd;
}

int weir__listener_open(const struct weir_policy_listener *pl,
			bool transparent)
{
	int fd = open_bound(pl, transparent);

	if (fd >= 0 && pl->transport != IPPROTO_UDP && listen(fd, 4096)) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	return fd;
}

int weir__listener_probe(const struct weir_policy_listener *pl,
			 bool transparent)
{
	int fd = open_bound(pl, transparent);

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

static void on_accept(struct weir__io_op *op, int res, unsigned flags)
{
	struct weir__listener *l =
		weir__container_of(op, struct weir__listener, accept_op);
	struct sockaddr_storage peer;
	socklen_t len = sizeof(peer);

	if (res >= 0 && l->closed) {
		/* Accepted before the cancel of a closed listener took
		 * effect: its policy is on its way out. */
		weir__reset_on_close(res);
		close(res);
	} else if (res >= 0) {
		/* Multishot accept gives no address: ask the socket. */
		if (getpeername(res, (struct sockaddr *)&peer, &len))
			peer.ss_family = AF_UNSPEC;
		weir__session_start(l, res, &peer);
	}
	/* The kernel ends a multishot accept on errors (and on overflow of
	 * the completion queue); take it up again unless closing. */
	if (!(flags & IORING_CQE_F_MORE) && !l->closed && res != -ECANCELED)
		weir__listener_arm(l);
	else if (!(flags & IORING_CQE_F_MORE))
		weir__listener_maybe_free(l);
}

int weir__listener_arm(struct weir__listener *l)
{
	struct io_uring_sqe *sqe;

	if (l->pl->transport == IPPROTO_UDP)
		return weir__udp_arm(l);

	l->accept_op.done = on_accept;
	sqe = weir__io_sqe(l->w->loop, &l->accept_op);
	if (!sqe)
		return -errno;
	io_uring_prep_multishot_accept(sqe, l->fd, NULL, NULL,
				       SOCK_NONBLOCK | SOCK_CLOEXEC);
	return 0;
}

int weir__listener_add(struct weir__worker *w,
		       const struct weir_policy_listener *pl,
		       struct weir_policy *pol, bool transparent)
{
	struct weir__listener *l;
	int fd;

	if (w->nls == w->capls) {
		size_t nc = w->capls ? 2 * w->capls : 8;
		struct weir__listener **v = realloc(w->ls, nc * sizeof(*v));

		if (!v)
			return -ENOMEM;
		w->ls = v;
		w->capls = nc;
	}
	fd = weir__listener_open(pl, transparent);
	if (fd < 0)
		return fd;
	l = calloc(1, sizeof(*l));
	if (!l) {
		close(fd);
		return -ENOMEM;
	}
	*l = (struct weir__listener){ .pl = pl, .pol = weir_policy_ref(pol),
				      .fd = fd, .w = w,
				      .transparent = transparent };
	w->ls[w->nls++] = l;
	return 0;
}

void weir__listener_close(struct weir__listener *l)
{
	struct weir__worker *w = l->w;

	if (l->closed)
		return;
	l->closed = true;
	weir__io_cancel(w->loop, &l->accept_op);
	/* A UDP association answers from its listener's socket: it ends
	 * with it (a client's next datagram finds the new listeners). The
	 * extra user keeps l while sessions go inside the loop. */
	l->users++;
	for (struct weir_session *s = w->sessions, *next; s; s = next) {
		next = s->next;
		if (s->info.transport == IPPROTO_UDP && s->l == l)
			weir__session_close(s);
	}
	l->users--;
	weir__listener_maybe_free(l);
}

void weir__listener_maybe_free(struct weir__listener *l)
{
	struct weir__worker *w = l->w;

	if (!l->closed || l->users || weir__io_busy(&l->accept_op))
		return;
	for (size_t i = 0; i < w->nls; i++)
		if (w->ls[i] == l) {
			w->ls[i] = w->ls[--w->nls];
			break;
		}
	close(l->fd);
	weir__udp_listener_fini(l);
	weir_policy_free(l->pol);
	free(l);
}
