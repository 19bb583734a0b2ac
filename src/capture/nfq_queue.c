/* The NFQUEUE socket: bind and configure one queue, receive batches of
 * packet messages, send verdicts. The settings follow what measured
 * best here (BASELINES.md): a large receive buffer so bursts wait in the
 * kernel instead of being dropped, NETLINK_NO_ENOBUFS so an overrun is
 * counted by the kernel instead of failing our reads, recvmmsg batches.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#include "capture/nfq.h"
#include "packet/buf.h"

static int fail(char *err, size_t errlen, int rc, const char *what)
{
	if (err && errlen)
		snprintf(err, errlen, "%s: %s", what, strerror(-rc));
	return rc;
}

static int set_rcvbuf(int fd, size_t bytes)
{
	int v = bytes > (size_t)(1 << 30) ? 1 << 30 : (int)bytes;

	/* FORCE goes past net.core.rmem_max but needs CAP_NET_ADMIN. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) == 0)
		return 0;
	return setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)) ? -errno
								    : 0;
}

static int alloc_batch(struct weir__nfq_sock *s, unsigned batch,
		       uint32_t copy_range)
{
	/* A packet message carries the copied bytes plus attributes; each
	 * buffer starts cache-line aligned (netlink headers need 4). */
	s->bufsz = ((size_t)copy_range + 1024 + 63) & ~(size_t)63;
	s->batch = batch;
	s->bufs = calloc(batch, sizeof(*s->bufs));
	s->msgs = calloc(batch, sizeof(*s->msgs));
	s->iov = calloc(batch, sizeof(*s->iov));
	if (!s->bufs || !s->msgs || !s->iov)
		return -ENOMEM;
	for (unsigned i = 0; i < batch; i++) {
		s->bufs[i] = weir__buf_new(s->bufsz);
		if (!s->bufs[i])
			return -ENOMEM;
		s->iov[i] = (struct iovec){ weir__buf_data(s->bufs[i]),
					    s->bufsz };
		s->msgs[i].msg_hdr.msg_iov = &s->iov[i];
		s->msgs[i].msg_hdr.msg_iovlen = 1;
	}
	s->usable = batch;
	return 0;
}

void weir__nfq_recycle(struct weir__nfq_sock *s, unsigned n)
{
	for (unsigned i = 0; i < n && i < s->usable; i++) {
		struct weir_buf *nb;

		if (!weir__buf_shared(s->bufs[i]))
			continue;
		s->replaced++;
		nb = weir__buf_new(s->bufsz);
		weir__buf_put(s->bufs[i]);
		s->bufs[i] = nb;
		if (!nb) {
			/* Out of memory: receive into the slots before it
			 * until a later recycle finds memory again. */
			s->usable = i;
			break;
		}
		s->iov[i].iov_base = weir__buf_data(nb);
	}
	while (s->usable < s->batch) {
		struct weir_buf *nb = weir__buf_new(s->bufsz);

		if (!nb)
			break;
		s->bufs[s->usable] = nb;
		s->iov[s->usable].iov_base = weir__buf_data(nb);
		s->usable++;
	}
}

/* A packet queued before the bind was acknowledged (rules of another
 * program steering to this queue) gets the fail mode's verdict at once,
 * so that it does not wait in the queue forever. */
static void answer_early(struct weir__nfq_sock *s, const struct nlmsghdr *nlh,
			 bool fail_open)
{
	struct weir__verdicts v;
	struct weir__nfq_msg m;

	s->early++;
	/* Also when weir cannot read the message, if its header attribute
	 * named the packet. */
	if ((weir__nfq_decode(nlh, s->queue, &m) < 0 && !m.has_id) ||
	    weir__verdicts_init(&v, s->queue) < 0)
		return;
	weir__verdicts_add(&v, &(struct weir__verdict){ .id = m.id,
		.accept = fail_open }, WEIR__NO_HELD, true);
	weir__nfq_send(s, v.buf, v.len);
	weir__verdicts_fini(&v);
}

/* Reads until the kernel acknowledges our config message. */
static int wait_ack(struct weir__nfq_sock *s, uint32_t seq, bool fail_open)
{
	char *buf = s->iov[0].iov_base;
	struct timeval tv = { .tv_sec = 2 };

	setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (;;) {
		ssize_t n = recv(s->fd, buf, s->bufsz, 0);
		const struct nlmsghdr *nlh = (const void *)buf;
		int len = (int)n;

		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
			const struct nlmsgerr *e;

			if (nlh->nlmsg_type != NLMSG_ERROR) {
				answer_early(s, nlh, fail_open);
				continue;
			}
			e = mnl_nlmsg_get_payload(nlh);
			if (nlh->nlmsg_seq == seq)
				return e->error;
		}
	}
}

static int bind_once(struct weir__nfq_sock *s, const struct weir__nfq_cfg *cfg)
{
	char buf[WEIR__NFQ_CFG_BUF];
	struct nlmsghdr *nlh = (void *)buf;
	int rc;

	weir__nfq_cfg_build(buf, cfg);
	nlh->nlmsg_seq = (uint32_t)time(NULL);
	rc = weir__nfq_send(s, buf, nlh->nlmsg_len);
	return rc < 0 ? rc : wait_ack(s, nlh->nlmsg_seq, cfg->fail_open);
}

/* Binds with cfg; a kernel without NFQUEUE's conntrack glue
 * (CONFIG_NETFILTER_NETLINK_GLUE_CT) refuses F_CONNTRACK with
 * EOPNOTSUPP (EAGAIN when it just loaded the module): then without it,
 * and weir derives the conntrack state from its own flows. */
static int bind_queue(struct weir__nfq_sock *s, const struct weir__nfq_cfg *cfg)
{
	struct weir__nfq_cfg c = *cfg;
	int rc = bind_once(s, &c);

	if (rc == -EAGAIN)
		rc = bind_once(s, &c);
	if ((rc == -EOPNOTSUPP || rc == -EAGAIN) && c.conntrack) {
		c.conntrack = false;
		rc = bind_once(s, &c);
		s->no_conntrack = rc == 0;
	}
	return rc;
}

int weir__nfq_open(struct weir__nfq_sock *s, const struct weir__nfq_cfg *cfg,
		   unsigned batch, size_t rcvbuf, char *err, size_t errlen)
{
	int one = 1, rc;

	memset(s, 0, sizeof(*s));
	s->fd = -1;
	s->queue = cfg->queue;
	/* Sized for the largest copy whatever cfg asks now: the range may
	 * grow at run time (weir__nfq_copy_build). */
	rc = alloc_batch(s, batch ? batch : 64, WEIR__NFQ_COPY_MAX);
	if (rc < 0)
		return weir__nfq_close(s), fail(err, errlen, rc, "nfqueue");
	s->nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!s->nl || mnl_socket_bind(s->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		rc = -errno;
		weir__nfq_close(s);
		return fail(err, errlen, rc, "nfqueue: netlink socket");
	}
	s->fd = mnl_socket_get_fd(s->nl);
	setsockopt(s->fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof(one));
	rc = set_rcvbuf(s->fd, rcvbuf);
	if (rc < 0) {
		weir__nfq_close(s);
		return fail(err, errlen, rc, "nfqueue: receive buffer");
	}
	rc = bind_queue(s, cfg);
	if (rc < 0) {
		weir__nfq_close(s);
		snprintf(err, errlen, "nfqueue: cannot bind queue %u: %s%s",
			 cfg->queue, strerror(-rc),
			 rc == -EBUSY ? " (another program holds it)" : "");
		return rc;
	}
	return 0;
}

int weir__nfq_recv(struct weir__nfq_sock *s)
{
	int n;

	do
		n = recvmmsg(s->fd, s->msgs, s->usable, MSG_DONTWAIT, NULL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	return n;
}

int weir__nfq_send(struct weir__nfq_sock *s, const void *buf, size_t len)
{
	ssize_t n;

	do
		n = mnl_socket_sendto(s->nl, buf, len);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : 0;
}

void weir__nfq_close(struct weir__nfq_sock *s)
{
	char buf[WEIR__NFQ_CFG_BUF];

	if (s->nl) {
		weir__nfq_send(s, buf, weir__nfq_unbind_build(buf, s->queue));
		mnl_socket_close(s->nl);
	}
	for (unsigned i = 0; s->bufs && i < s->batch; i++)
		weir__buf_put(s->bufs[i]);
	free(s->bufs);
	free(s->msgs);
	free(s->iov);
	memset(s, 0, sizeof(*s));
	s->fd = -1;
}
