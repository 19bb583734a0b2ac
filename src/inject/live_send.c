/* The live injector's sender, on its loop thread.
 *
 * Reqs are sent strictly in the order they were accepted. Each is first
 * prepared into slots, one per packet that goes to the kernel (a TCP
 * super-packet becomes several segments, all reporting to the original
 * packet's status). The send and forward paths gather consecutive slots
 * bound for the same raw socket, across reqs, into one sendmmsg(2) of up
 * to WEIR__INJ_BATCH packets: that is what lets injection keep up with a
 * plain sendmmsg loop. The receive path writes each packet to the
 * compartment's TUN device. A full socket buffer (EAGAIN) parks the
 * sender on an io_uring POLLOUT until the kernel has room; every other
 * error is the status of the packet it hit. A req completes as soon as
 * its last slot has its result.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <weir/craft.h>
#include <weir/csum.h>

#include "inject/live_internal.h"

struct rstate {
	uint32_t n, next;           /* slots, next to hand to the kernel */
	struct weir_nbl *segs;      /* segments made for it, or NULL */
	struct weir__inj_slot s[];
};

static struct weir__inj_comp *comp_of(struct weir_inject_live *l,
				      uint32_t id)
{
	for (size_t i = 0; i < l->ncomps; i++)
		if (l->comps[i].id == id)
			return &l->comps[i];
	return NULL;
}

static bool needs_segments(struct weir_inject_req *req, struct weir_pkt *p)
{
	if (req->path == WEIR_PATH_RECEIVE || p->len <= WEIR__INJ_SEG_MTU)
		return false;
	if (!(p->pd.flags & WEIR_PD_L3))
		weir_pkt_parse(p);
	return p->pd.proto == IPPROTO_TCP;
}

static uint32_t add_slot(struct rstate *rs, struct weir_inject_req *req,
			 struct weir_pkt *orig, const struct weir_pkt *bytes)
{
	rs->s[rs->n++] = (struct weir__inj_slot){
		.req = req, .pkt = orig, .data = bytes->data,
		.len = bytes->len };
	return rs->n;
}

/* Slots for one packet; segments go to rs->segs. */
static void prepare_pkt(struct weir_inject_live *l, struct rstate *rs,
			struct weir_inject_req *req, struct weir_pkt *p)
{
	struct weir_pkt *seg;
	uint32_t before;
	int rc;

	if (!needs_segments(req, p)) {
		/* A packet captured with an offloaded checksum holds only
		 * the pseudo-header sum: the stack would send it as is. */
		if (p->meta.csum_state == WEIR_CSUM_PARTIAL &&
		    (rc = weir_pkt_csum_finalize(p)) < 0) {
			p->status = rc;
			return;
		}
		add_slot(rs, req, p, p);
		return;
	}
	before = rs->segs->count;
	rc = weir_pkt_segment(p, WEIR__INJ_SEG_MTU, rs->segs);
	if (rc < 0) {
		p->status = rc;
		return;
	}
	atomic_fetch_add_explicit(&l->n_segmented, 1, memory_order_relaxed);
	seg = rs->segs->first;
	for (uint32_t i = 0; i < before; i++)
		seg = seg->next;
	for (; seg; seg = seg->next)
		add_slot(rs, req, p, seg);
}

static uint32_t max_slots(struct weir_inject_req *req)
{
	uint32_t n = 0;

	for (struct weir_pkt *p = req->nbl->first; p; p = p->next)
		n += needs_segments(req, p) ? p->len / 64 + 2 : 1;
	return n;
}

/* 0, or -ENOMEM with the req not prepared. */
static int prepare(struct weir_inject_live *l, struct weir_inject_req *req)
{
	uint32_t max = max_slots(req);
	struct rstate *rs = calloc(1, sizeof(*rs) + max * sizeof(rs->s[0]));

	if (!rs)
		return -ENOMEM;
	if (max > req->nbl->count && !(rs->segs = weir_nbl_new())) {
		free(rs);
		return -ENOMEM;
	}
	for (struct weir_pkt *p = req->nbl->first; p; p = p->next)
		prepare_pkt(l, rs, req, p);
	req->backend_[1] = rs;
	return 0;
}

static void finish(struct weir_inject_live *l, struct weir_inject_req *req,
		   int status)
{
	struct rstate *rs = req->backend_[1];

	if (rs) {
		weir_nbl_unref(rs->segs);
		free(rs);
	}
	req->backend_[1] = NULL;
	atomic_fetch_add_explicit(&l->n_reqs, 1, memory_order_relaxed);
	weir_inject_req_done(req, status);
}

/* Takes what other threads handed over, oldest first, onto `work`. */
static void take_incoming(struct weir_inject_live *l)
{
	struct weir_inject_req *lifo = atomic_exchange(&l->incoming, NULL);
	struct weir_inject_req *fifo = NULL;

	while (lifo) {
		struct weir_inject_req *next = lifo->backend_[0];

		lifo->backend_[0] = fifo;
		fifo = lifo;
		lifo = next;
	}
	for (struct weir_inject_req *r = fifo, *next; r; r = next) {
		next = r->backend_[0];
		r->backend_[0] = NULL;
		if (prepare(l, r) < 0) {
			finish(l, r, -ENOMEM);
			continue;
		}
		if (l->work_tail)
			l->work_tail->backend_[0] = r;
		else
			l->work = r;
		l->work_tail = r;
	}
}

static void result(struct weir_inject_live *l, struct weir__inj_slot *s,
		   int rc)
{
	if (rc && !s->pkt->status)
		s->pkt->status = rc;
	if (rc)
		atomic_fetch_add_explicit(&l->n_errors, 1,
					  memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&l->n_packets, 1,
					  memory_order_relaxed);
}

/* Completes the reqs at the head whose slots all had their result. */
static void reap(struct weir_inject_live *l)
{
	struct weir_inject_req *r;

	while ((r = l->work)) {
		struct rstate *rs = r->backend_[1];

		if (rs->next < rs->n)
			return;
		l->work = r->backend_[0];
		if (!l->work)
			l->work_tail = NULL;
		finish(l, r, 0);
	}
}

/* ---- gathering a batch ------------------------------------------------ */

union sa {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

struct batch {
	int fd;
	unsigned n;
	struct weir__inj_slot *slot[WEIR__INJ_BATCH];
	struct mmsghdr msg[WEIR__INJ_BATCH];
	struct iovec iov[WEIR__INJ_BATCH];
	union sa addr[WEIR__INJ_BATCH];
	char cbuf[WEIR__INJ_BATCH][CMSG_SPACE(sizeof(struct in6_pktinfo))];
};

static int raw_fd(const struct weir__inj_comp *c, const uint8_t *ip)
{
	return (ip[0] >> 4) == 6 ? c->raw6 : c->raw4;
}

/* The forward path names the interface to leave by: IP_PKTINFO's
 * ifindex routes the raw packet out of it. */
static socklen_t put_oif(struct batch *b, unsigned i, bool v6, uint32_t oif)
{
	struct cmsghdr *cm = (struct cmsghdr *)(void *)b->cbuf[i];

	memset(b->cbuf[i], 0, sizeof(b->cbuf[i]));
	if (v6) {
		struct in6_pktinfo pi = { .ipi6_ifindex = oif };

		cm->cmsg_level = IPPROTO_IPV6;
		cm->cmsg_type = IPV6_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
		return CMSG_SPACE(sizeof(pi));
	}
	struct in_pktinfo pi4 = { .ipi_ifindex = (int)oif };

	cm->cmsg_level = IPPROTO_IP;
	cm->cmsg_type = IP_PKTINFO;
	cm->cmsg_len = CMSG_LEN(sizeof(pi4));
	memcpy(CMSG_DATA(cm), &pi4, sizeof(pi4));
	return CMSG_SPACE(sizeof(pi4));
}

/* The raw socket routes by the address given, not the header's. */
static void add_msg(struct batch *b, struct weir__inj_slot *s)
{
	unsigned i = b->n++;
	bool v6 = (s->data[0] >> 4) == 6;
	struct msghdr *m = &b->msg[i].msg_hdr;

	memset(m, 0, sizeof(*m));
	memset(&b->addr[i], 0, sizeof(b->addr[i]));
	if (v6) {
		b->addr[i].in6.sin6_family = AF_INET6;
		memcpy(&b->addr[i].in6.sin6_addr, s->data + 24, 16);
		m->msg_namelen = sizeof(b->addr[i].in6);
	} else {
		b->addr[i].in.sin_family = AF_INET;
		memcpy(&b->addr[i].in.sin_addr, s->data + 16, 4);
		m->msg_namelen = sizeof(b->addr[i].in);
	}
	m->msg_name = &b->addr[i];
	b->iov[i] = (struct iovec){ (void *)(uintptr_t)s->data, s->len };
	m->msg_iov = &b->iov[i];
	m->msg_iovlen = 1;
	if (s->req->path == WEIR_PATH_FORWARD) {
		m->msg_control = b->cbuf[i];
		m->msg_controllen = put_oif(b, i, v6, s->req->ifindex);
	}
	b->slot[i] = s;
}

/* Slots from the head on that go to one raw socket, in order. */
static void gather(struct weir_inject_live *l, struct batch *b)
{
	b->n = 0;
	b->fd = -1;
	for (struct weir_inject_req *r = l->work; r; r = r->backend_[0]) {
		struct rstate *rs = r->backend_[1];
		struct weir__inj_comp *c = comp_of(l, r->compartment);

		if (r->path == WEIR_PATH_RECEIVE)
			return;
		for (uint32_t k = rs->next; k < rs->n; k++) {
			int fd = raw_fd(c, rs->s[k].data);

			if (b->n == WEIR__INJ_BATCH || (b->fd >= 0 && fd != b->fd))
				return;
			b->fd = fd;
			add_msg(b, &rs->s[k]);
		}
	}
}

/* Marks the first `k` slots of the batch handed over with result rc. */
static void advance(struct weir_inject_live *l, struct batch *b, unsigned k,
		    int rc)
{
	for (unsigned i = 0; i < k; i++) {
		struct rstate *rs = b->slot[i]->req->backend_[1];

		result(l, b->slot[i], rc);
		rs->next++;
	}
}

static void on_writable(struct weir__io_op *op, int res, unsigned flags)
{
	struct weir_inject_live *l =
		weir__container_of(op, struct weir_inject_live, wait_op);

	(void)res, (void)flags;
	l->waiting = false;
	weir__inj_pump(l);
}

/* Parks the sender until fd can take more. False when the loop cannot
 * take the poll (closing): then the caller fails the rest. */
static bool wait_writable(struct weir_inject_live *l, int fd)
{
	struct io_uring_sqe *sqe;

	l->wait_op.done = on_writable;
	sqe = weir__io_sqe(l->loop, &l->wait_op);
	if (!sqe)
		return false;
	io_uring_prep_poll_add(sqe, fd, POLLOUT);
	l->waiting = true;
	return true;
}

/* One sendmmsg; false when the sender must wait. */
static bool send_batch(struct weir_inject_live *l, struct batch *b)
{
	int k = sendmmsg(b->fd, b->msg, b->n, MSG_DONTWAIT);

	if (k > 0) {
		advance(l, b, (unsigned)k, 0);
		return true;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		if (wait_writable(l, b->fd))
			return false;
		errno = ESHUTDOWN;
	}
	advance(l, b, 1, -errno);  /* the first packet cannot go */
	return true;
}

static void write_tun(struct weir_inject_live *l, struct weir_inject_req *r)
{
	struct rstate *rs = r->backend_[1];
	struct weir__inj_slot *s = &rs->s[rs->next++];
	int fd = comp_of(l, r->compartment)->tun;
	ssize_t n = write(fd, s->data, s->len);

	result(l, s, n < 0 ? -errno : n == (ssize_t)s->len ? 0 : -EIO);
}

void weir__inj_pump(struct weir_inject_live *l)
{
	struct batch b;

	take_incoming(l);
	if (l->waiting)
		return;
	for (reap(l); l->work; reap(l)) {
		if (l->work->path == WEIR_PATH_RECEIVE) {
			write_tun(l, l->work);
			continue;
		}
		gather(l, &b);
		if (!send_batch(l, &b))
			return;
	}
}

void weir__inj_fail_all(struct weir_inject_live *l, int status)
{
	struct weir_inject_req *r;

	take_incoming(l);
	while ((r = l->work)) {
		struct rstate *rs = r->backend_[1];

		l->work = r->backend_[0];
		for (uint32_t k = rs->next; k < rs->n; k++)
			result(l, &rs->s[k], status);
		rs->next = rs->n;
		finish(l, r, 0);
	}
	l->work_tail = NULL;
}
