/* Sockets for data filters: the public calls, shared by both kinds, and
 * real fd sockets on the loop's io_uring (the in-memory links are in
 * sock_link.c).
 *
 * A real socket has two operation records: one for its receive (one in
 * flight at a time, -EBUSY otherwise) and one for the head of its send
 * queue. Sends and shutdowns queue in order and only the head is in the
 * kernel, which is what keeps a stream's bytes in order when a send is
 * short: the rest of the head goes again before the next starts.
 * Completions are called straight from the op's done callback: that runs
 * from the loop's dispatch, never inside a starting call.
 *
 *   weir_sock_send ─▶ txq: [head in kernel] → [queued] → [queued]
 *                          tx_done: short? resubmit rest : complete, next
 *
 * Close cancels what is in the kernel; each operation then completes once
 * from its done callback (-ECANCELED, or its real result if it won the
 * race), queued sends behind the head with -ECANCELED. The socket and its
 * fd go when no op is in flight and no completion of ours is running
 * (`depth`: a completion may close the socket under our feet).
 *
 * External address of a datagram on the internal side: its destination,
 * from IP_ORIGDSTADDR / IPV6_ORIGDSTADDR ancillary data (address and
 * port, and under TPROXY the client's original destination), else the
 * socket's own address (getsockname).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io/loop.h"
#include "io/sock_internal.h"

/* Room for one IPv6 or IPv4 original-destination message, or both. */
#define DST_CTL_LEN (CMSG_SPACE(sizeof(struct sockaddr_in6)) + \
		     CMSG_SPACE(sizeof(struct sockaddr_in)))

struct real_sock {
	struct weir_sock base;
	int fd;
	bool side_external;
	bool closed;
	bool tx_pumping;            /* tx_done is completing: sends queue */
	unsigned depth;             /* completions of ours running */
	struct weir__io_op rx_op, tx_op;
	struct weir__req_q txq;     /* head is in the kernel */
	struct msghdr rx_msg, tx_msg;
	struct iovec rx_iov, tx_iov;
	union {
		struct cmsghdr align;
		char bytes[DST_CTL_LEN];
	} rx_ctl;
};

static const struct weir__sock_ops real_ops;

static struct real_sock *real(struct weir_sock *s)
{
	return weir__container_of(s, struct real_sock, base);
}

bool weir__loop_closing(const struct weir_loop *loop)
{
	return loop->closing;
}

/* ---- real sockets: lifetime ------------------------------------------ */

static void maybe_free(struct real_sock *s)
{
	if (!s->closed || s->depth || weir__io_busy(&s->rx_op) ||
	    weir__io_busy(&s->tx_op))
		return;
	if (s->fd >= 0) {
		close(s->fd);
		s->fd = -1;
	}
	s->depth++;   /* the observer may release us inside */
	weir__sock_idle(&s->base);
	s->depth--;
	if (!s->base.held_ && !s->depth)
		free(s);
}

/* Asks the kernel to end `op`. Without an SQE for the cancel, shutting
 * the socket down still wakes a waiting receive or send. */
static void cancel(struct real_sock *s, struct weir__io_op *op)
{
	if (weir__io_busy(op) &&
	    weir__io_cancel(s->base.loop, op) == -EBUSY)
		shutdown(s->fd, SHUT_RDWR);
}

static void real_close(struct weir_sock *base)
{
	struct real_sock *s = real(base);

	s->closed = true;
	cancel(s, &s->rx_op);
	cancel(s, &s->tx_op);
	maybe_free(s);
}

static int real_fd(const struct weir_sock *base)
{
	const struct real_sock *s = (const void *)((const char *)base -
				    offsetof(struct real_sock, base));

	return s->fd;
}

/* What a closed socket's operation reports: the kernel says -EINTR for
 * one it interrupted in a worker. */
static int closed_res(const struct real_sock *s, int res)
{
	return s->closed && res == -EINTR ? -ECANCELED : res;
}

/* ---- real sockets: receive -------------------------------------------- */

static int real_recv(struct weir_sock *base)
{
	struct real_sock *s = real(base);
	struct weir__sock_req *r = &base->rx;
	struct io_uring_sqe *sqe;
	bool dgram = base->kind == WEIR_SOCK_DGRAM;
	int rc;

	if (!r->buf) {
		r->buf = weir_iobuf_new(dgram ? WEIR__RECV_DGRAM_CAP
					      : WEIR__RECV_STREAM_CAP);
		if (!r->buf)
			return -ENOMEM;
		r->own_buf = true;
	}
	sqe = weir__io_sqe(base->loop, &s->rx_op);
	if (!sqe) {
		rc = -errno;
		if (r->own_buf)
			weir_iobuf_unref(r->buf);
		return rc;
	}
	s->rx_iov.iov_base = r->buf->data + r->buf->len;
	s->rx_iov.iov_len = r->buf->cap - r->buf->len;
	if (!dgram) {
		io_uring_prep_recv(sqe, s->fd, s->rx_iov.iov_base,
				   s->rx_iov.iov_len, 0);
		return 0;
	}
	memset(&s->rx_msg, 0, sizeof(s->rx_msg));
	s->rx_msg.msg_iov = &s->rx_iov;
	s->rx_msg.msg_iovlen = 1;
	s->rx_msg.msg_name = &r->addr;
	s->rx_msg.msg_namelen = sizeof(r->addr);
	if (!s->side_external) {
		s->rx_msg.msg_control = s->rx_ctl.bytes;
		s->rx_msg.msg_controllen = sizeof(s->rx_ctl.bytes);
	}
	io_uring_prep_recvmsg(sqe, s->fd, &s->rx_msg, 0);
	return 0;
}

socklen_t weir__orig_dst(struct msghdr *msg,
			 struct sockaddr_storage *dst)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c;
	     c = CMSG_NXTHDR(msg, c)) {
		socklen_t len;

		if (c->cmsg_level == SOL_IP && c->cmsg_type == IP_ORIGDSTADDR)
			len = sizeof(struct sockaddr_in);
		else if (c->cmsg_level == SOL_IPV6 &&
			 c->cmsg_type == IPV6_ORIGDSTADDR)
			len = sizeof(struct sockaddr_in6);
		else
			continue;
		if (c->cmsg_len < CMSG_LEN(len))
			continue;
		memset(dst, 0, sizeof(*dst));
		memcpy(dst, CMSG_DATA(c), len);
		return len;
	}
	return 0;
}

/* The destination of the datagram just received, into *dst. */
static socklen_t dst_addr(struct real_sock *s, struct sockaddr_storage *dst)
{
	socklen_t len = weir__orig_dst(&s->rx_msg, dst);

	if (len)
		return len;
	len = sizeof(*dst);
	return getsockname(s->fd, (struct sockaddr *)dst, &len) ? 0 : len;
}

/* The external address of a received datagram, into *ext. */
static socklen_t ext_addr(struct real_sock *s,
			  const struct weir__sock_req *r,
			  struct sockaddr_storage *ext)
{
	socklen_t len;

	if (!s->side_external)
		len = dst_addr(s, ext);
	else if ((len = s->rx_msg.msg_namelen) <= sizeof(*ext))
		memcpy(ext, &r->addr, len);
	else
		len = 0;
	/* An unnamed AF_UNIX peer has a family and nothing else. */
	return len > sizeof(sa_family_t) ? len : 0;
}

static void rx_done(struct weir__io_op *op, int res, unsigned flags)
{
	struct real_sock *s = weir__container_of(op, struct real_sock, rx_op);
	struct weir__sock_req r = s->base.rx;
	struct weir_iobuf *buf = r.buf;
	struct sockaddr_storage ext;
	socklen_t ext_len = 0;

	(void)flags;
	res = closed_res(s, res);
	s->base.rx_busy = false;
	s->base.rx.buf = NULL;
	if (res >= 0 && s->base.kind == WEIR_SOCK_DGRAM) {
		if (s->rx_msg.msg_flags & MSG_TRUNC)
			res = -EMSGSIZE; /* a datagram cut short is lost */
		else
			ext_len = ext_addr(s, &r, &ext);
	}
	if (res >= 0) {
		buf->len += (uint32_t)res;
		s->base.rx_bytes += (uint32_t)res;
		if (r.own_buf && s->base.kind == WEIR_SOCK_DGRAM)
			buf = weir__iobuf_shrink(buf);
	} else if (r.own_buf) {
		weir_iobuf_unref(buf);
		buf = NULL;
	}
	s->depth++;
	weir__req_deliver(&r, res, buf, ext_len ? (struct sockaddr *)&ext
						: NULL, ext_len);
	if (res < 0 && res != -ECANCELED)
		weir__sock_notify(&s->base, WEIR__SOCK_EV_ERROR, res);
	s->depth--;
	maybe_free(s);
}

/* ---- real sockets: sends and shutdowns --------------------------------- */

static int tx_submit(struct real_sock *s, struct weir__sock_req *r)
{
	struct io_uring_sqe *sqe = weir__io_sqe(s->base.loop, &s->tx_op);
	int flags = MSG_NOSIGNAL;

	if (!sqe)
		return -errno;
	if (r->op == WEIR__OP_SHUTDOWN) {
		io_uring_prep_shutdown(sqe, s->fd, r->how);
		return 0;
	}
	s->tx_iov.iov_base = r->buf->data + r->done;
	s->tx_iov.iov_len = r->buf->len - r->done;
	if (!r->addr_len) {
		/* No MSG_WAITALL: on this kernel a WAITALL send that the
		 * socket took whole could stay uncompleted, and hold up the
		 * socket's receive with it (a request/response exchange
		 * through a chain stalled). tx_result() resubmits what a
		 * short send left. */
		io_uring_prep_send(sqe, s->fd, s->tx_iov.iov_base,
				   s->tx_iov.iov_len, flags);
		return 0;
	}
	memset(&s->tx_msg, 0, sizeof(s->tx_msg));
	s->tx_msg.msg_name = &r->addr;
	s->tx_msg.msg_namelen = r->addr_len;
	s->tx_msg.msg_iov = &s->tx_iov;
	s->tx_msg.msg_iovlen = 1;
	io_uring_prep_sendmsg(sqe, s->fd, &s->tx_msg, flags);
	return 0;
}

/* Completes a send or shutdown. Our buffer reference goes first, so
 * that the sender may find its buffer writable again in the callback. */
static void tx_finish(struct weir__sock_req *r, int res)
{
	weir_iobuf_unref(r->buf);
	r->buf = NULL;
	weir__req_deliver(r, res, NULL, NULL, 0);
	free(r);
}

/* Starts the next queued request; those that cannot start complete with
 * their error (-ECANCELED once the socket or the loop is closing). */
static void tx_next(struct real_sock *s)
{
	int rc;

	while (s->txq.head && !weir__io_busy(&s->tx_op)) {
		rc = s->closed ? -ECANCELED : tx_submit(s, s->txq.head);
		if (!rc)
			return;
		tx_finish(weir__req_pop(&s->txq),
			  rc == -ESHUTDOWN ? -ECANCELED : rc);
	}
}

/* The head's result (>= 0 or -errno), or *again when a short stream
 * send was resubmitted for the rest. (A flag, not a special value: any
 * byte count, 1 included, is a real result.) */
static int tx_result(struct real_sock *s, struct weir__sock_req *r, int res,
		     bool *again)
{
	*again = false;
	res = closed_res(s, res);
	if (res < 0 || r->op != WEIR__OP_SEND ||
	    s->base.kind != WEIR_SOCK_STREAM)
		return res;
	r->done += (uint32_t)res;
	if (r->done >= r->buf->len)
		return res;
	if (!res)
		return -EIO; /* the kernel took nothing: it will not */
	if (s->closed)
		return -ECANCELED;
	res = tx_submit(s, r);
	if (!res) {
		*again = true;
		return 0;
	}
	return res == -ESHUTDOWN ? -ECANCELED : res;
}

static void tx_done(struct weir__io_op *op, int res, unsigned flags)
{
	struct real_sock *s = weir__container_of(op, struct real_sock, tx_op);
	struct weir__sock_req *r;
	bool shut_wr, again;

	(void)flags;
	res = tx_result(s, s->txq.head, res, &again);
	if (again)
		return;
	r = weir__req_pop(&s->txq);
	shut_wr = r->op == WEIR__OP_SHUTDOWN && res >= 0 &&
		  (r->how == SHUT_WR || r->how == SHUT_RDWR);

	s->depth++;
	s->tx_pumping = true;
	tx_finish(r, res);
	if (shut_wr)
		weir__sock_notify(&s->base, WEIR__SOCK_EV_SHUT_WR, 0);
	else if (res < 0 && res != -ECANCELED)
		weir__sock_notify(&s->base, WEIR__SOCK_EV_ERROR, res);
	tx_next(s);
	s->tx_pumping = false;
	s->depth--;
	maybe_free(s);
}

static int real_send(struct weir_sock *base, struct weir__sock_req *r)
{
	struct real_sock *s = real(base);
	int rc;

	if (!s->txq.head && !s->tx_pumping) {
		rc = tx_submit(s, r);
		if (rc)
			return rc;
	}
	weir__req_push(&s->txq, r);
	return 0;
}

static void real_release(struct weir_sock *base)
{
	maybe_free(real(base));
}

static const struct weir__sock_ops real_ops = {
	.recv = real_recv,
	.send = real_send,
	.close = real_close,
	.fd = real_fd,
	.release = real_release,
};

/* Asks for the destination of each datagram (internal side). IPv4 on a
 * dual-stack IPv6 socket reports IP_ORIGDSTADDR, hence both. Failure only
 * costs the fallback to getsockname. */
static void want_dst(int fd, int family)
{
	int one = 1;

	if (family == AF_INET || family == AF_INET6)
		setsockopt(fd, SOL_IP, IP_RECVORIGDSTADDR, &one, sizeof(one));
	if (family == AF_INET6)
		setsockopt(fd, SOL_IPV6, IPV6_RECVORIGDSTADDR, &one,
			   sizeof(one));
}

/* The kind of socket fd is, or -EINVAL. */
static int sock_kind(int fd, int *ret_family)
{
	socklen_t len = sizeof(int);
	int type;

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len))
		return -EINVAL;
	len = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, ret_family, &len))
		return -EINVAL;
	if (type == SOCK_STREAM)
		return WEIR_SOCK_STREAM;
	if (type == SOCK_DGRAM)
		return WEIR_SOCK_DGRAM;
	return -EINVAL;
}

int weir_sock_from_fd(struct weir_loop *loop, int fd, bool side_external,
		      struct weir_sock **ret_sock)
{
	struct real_sock *s;
	int kind, family, fl;

	if (!loop || fd < 0 || !ret_sock)
		return -EINVAL;
	if (loop->closing)
		return -ESHUTDOWN;
	kind = sock_kind(fd, &family);
	if (kind < 0)
		return kind;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || (!(fl & O_NONBLOCK) &&
		       fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0))
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->base.ops = &real_ops;
	s->base.loop = loop;
	s->base.kind = (enum weir_sock_kind)kind;
	s->fd = fd;
	s->side_external = side_external;
	s->rx_op.done = rx_done;
	s->tx_op.done = tx_done;
	if (kind == WEIR_SOCK_DGRAM && !side_external)
		want_dst(fd, family);
	*ret_sock = &s->base;
	return 0;
}

/* ---- the public calls --------------------------------------------------- */

static bool target_ok(const struct weir_io_target *t)
{
	return t && t->complete;
}

static int start_recv(struct weir_sock *s, struct weir_iobuf *buf,
		      const struct weir_io_target *t, uint64_t user_data)
{
	struct weir__sock_req *r;
	int rc;

	if (!s || !target_ok(t))
		return -EINVAL;
	if (buf && !weir_iobuf_writable(buf))
		return -EINVAL; /* we would write where others read */
	if (buf && buf->len >= buf->cap)
		return -ENOBUFS;
	if (s->rx_busy)
		return -EBUSY;
	if (s->loop->closing || s->closed_)
		return -ESHUTDOWN;
	r = &s->rx;
	memset(r, 0, offsetof(struct weir__sock_req, addr));
	r->op = WEIR__OP_RECV;
	r->t = *t;
	r->user_data = user_data;
	r->buf = buf;
	r->want_addr = s->kind == WEIR_SOCK_DGRAM;
	s->rx_busy = true;
	rc = s->ops->recv(s);
	if (rc) {
		s->rx_busy = false;
		r->buf = NULL;
	}
	return rc;
}

int weir_sock_recv(struct weir_sock *s, struct weir_iobuf *buf,
		   const struct weir_io_target *t, uint64_t user_data)
{
	return start_recv(s, buf, t, user_data);
}

/* On a datagram socket every receive reports the external address; on a
 * stream socket there is none to report. */
int weir_sock_recvfrom(struct weir_sock *s, struct weir_iobuf *buf,
		       const struct weir_io_target *t, uint64_t user_data)
{
	return start_recv(s, buf, t, user_data);
}

/* Queues r on s; frees it when s refuses it. */
static int start_req(struct weir_sock *s, struct weir__sock_req *r)
{
	int rc = s->ops->send(s, r);

	if (rc) {
		weir_iobuf_unref(r->buf);
		free(r);
	}
	return rc;
}

static struct weir__sock_req *new_req(const struct weir_io_target *t,
				      uint64_t user_data, int op)
{
	struct weir__sock_req *r = malloc(sizeof(*r));

	if (!r)
		return NULL;
	memset(r, 0, offsetof(struct weir__sock_req, addr));
	r->op = (uint8_t)op;
	r->t = *t;
	r->user_data = user_data;
	return r;
}

static int check_send(struct weir_sock *s, const struct weir_iobuf *buf,
		      const struct sockaddr *to, socklen_t to_len,
		      const struct weir_io_target *t)
{
	if (!s || !buf || !target_ok(t))
		return -EINVAL;
	/* An empty stream send would read as end of stream on a link. */
	if (s->kind == WEIR_SOCK_STREAM && !buf->len)
		return -EINVAL;
	if (to && s->kind == WEIR_SOCK_STREAM)
		return -EISCONN;
	if (to && (!to_len || to_len > sizeof(struct sockaddr_storage)))
		return -EINVAL;
	if (s->loop->closing || s->closed_)
		return -ESHUTDOWN;
	return 0;
}

int weir_sock_sendto(struct weir_sock *s, struct weir_iobuf *buf,
		     const struct sockaddr *to, socklen_t to_len,
		     const struct weir_io_target *t, uint64_t user_data)
{
	struct weir__sock_req *r;
	int rc = check_send(s, buf, to, to_len, t);

	if (rc)
		return rc;
	r = new_req(t, user_data, WEIR__OP_SEND);
	if (!r)
		return -ENOMEM;
	r->buf = weir_iobuf_ref(buf);
	if (to) {
		memcpy(&r->addr, to, to_len);
		r->addr_len = to_len;
	}
	return start_req(s, r);
}

int weir_sock_send(struct weir_sock *s, struct weir_iobuf *buf,
		   const struct weir_io_target *t, uint64_t user_data)
{
	return weir_sock_sendto(s, buf, NULL, 0, t, user_data);
}

int weir_sock_shutdown(struct weir_sock *s, int how,
		       const struct weir_io_target *t, uint64_t user_data)
{
	struct weir__sock_req *r;

	if (!s || !target_ok(t) ||
	    (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR))
		return -EINVAL;
	if (s->loop->closing || s->closed_)
		return -ESHUTDOWN;
	r = new_req(t, user_data, WEIR__OP_SHUTDOWN);
	if (!r)
		return -ENOMEM;
	r->how = how;
	return start_req(s, r);
}

void weir_sock_close(struct weir_sock *s)
{
	if (s && !s->closed_) {
		s->closed_ = true;
		s->ops->close(s);
	}
}

void weir__sock_hold(struct weir_sock *s)
{
	s->held_ = true;
}

void weir__sock_release(struct weir_sock *s)
{
	s->held_ = false;
	if (s->ops->release)
		s->ops->release(s);
}

uint64_t weir__sock_rx_bytes(const struct weir_sock *s)
{
	return s->rx_bytes;
}

int weir_sock_fd(const struct weir_sock *s)
{
	return s ? s->ops->fd(s) : -1;
}

int weir_sock_pair(struct weir_loop *loop, enum weir_sock_kind kind,
		   struct weir_sock **ret_a, struct weir_sock **ret_b)
{
	if (!loop || !ret_a || !ret_b ||
	    (kind != WEIR_SOCK_STREAM && kind != WEIR_SOCK_DGRAM))
		return -EINVAL;
	if (loop->closing)
		return -ESHUTDOWN;
	return weir__link_pair(loop, kind, ret_a, ret_b);
}

void weir__sock_observe(struct weir_sock *s, weir__sock_obs_fn fn, void *arg)
{
	s->obs = fn;
	s->obs_arg = arg;
}

enum weir_sock_kind weir_sock_kind(const struct weir_sock *s)
{
	return s->kind;
}
