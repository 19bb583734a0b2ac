/* nfq_min: the smallest NFQUEUE program worth comparing weir against
 * (row b of `make bench-packet`). It accepts every packet of one queue,
 * configured as BASELINES.md measured best on this machine kind:
 * whole GSO super-packets (NFQA_CFG_F_GSO), fail-open, copy range
 * 0xffff, queue maxlen 65536, a 64 MiB receive buffer, NETLINK_NO_ENOBUFS,
 * recvmmsg of up to 64 messages and then one NFQNL_MSG_VERDICT_BATCH for
 * all of them. It uses the libmnl-based libnetfilter_queue API, not the
 * deprecated nfnl one.
 *
 * Usage: nfq_min [-q QUEUE] [-b BATCH] [-c COPY_RANGE]
 * Runs until SIGTERM or SIGINT, then prints
 *   verdicted=N batches=N errors=N
 * on standard output. "verdicted" counts the packets user space actually
 * answered; with fail-open the kernel forwards the surplus unseen.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#define MAX_BATCH 64
#define RCVBUF (64 << 20)
#define QUEUE_MAXLEN 65536

struct nfq_min {
	struct mnl_socket *nl;
	uint16_t queue;
	unsigned batch;             /* messages per recvmmsg, <= MAX_BATCH */
	uint32_t copy_range;
	size_t bufsz;               /* one message buffer */
	char *bufs;                 /* batch buffers of bufsz */
	struct mmsghdr msgs[MAX_BATCH];
	struct iovec iov[MAX_BATCH];
	uint64_t verdicted;         /* packet messages answered */
	uint64_t batches;           /* batch verdicts sent */
	uint64_t errors;            /* netlink errors the kernel reported */
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* No SA_RESTART: a signal ends the blocking recvmmsg at once. */
static void catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
}

static int parse_args(struct nfq_min *q, int argc, char **argv)
{
	int c;

	q->batch = MAX_BATCH;
	q->copy_range = 0xffff;
	while ((c = getopt(argc, argv, "q:b:c:")) != -1) {
		switch (c) {
		case 'q': q->queue = (uint16_t)atoi(optarg); break;
		case 'b': q->batch = (unsigned)atoi(optarg); break;
		case 'c': q->copy_range = (uint32_t)strtoul(optarg, NULL, 0);
			  break;
		default: return -1;
		}
	}
	if (q->batch < 1 || q->batch > MAX_BATCH || q->copy_range < 1 ||
	    q->copy_range > 0xffff)
		return -1;
	return 0;
}

static int set_int(int fd, int level, int name, int v)
{
	return setsockopt(fd, level, name, &v, sizeof(v));
}

/* A short receive timeout lets the loop see a signal that arrived just
 * before it blocked. */
static int open_socket(struct nfq_min *q)
{
	struct timeval tv = { .tv_usec = 200 * 1000 };
	int fd;

	q->nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!q->nl || mnl_socket_bind(q->nl, 0, MNL_SOCKET_AUTOPID) < 0)
		return -1;
	fd = mnl_socket_get_fd(q->nl);
	/* FORCE goes past net.core.rmem_max (we are CAP_NET_ADMIN). */
	if (set_int(fd, SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF) < 0 ||
	    set_int(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, 1) < 0)
		return -1;
	return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

/* Sends one config message and waits for the kernel's acknowledgement. */
static int config_send(struct nfq_min *q, struct nlmsghdr *nlh, char *buf,
		       size_t len)
{
	static uint32_t seq;
	int n;

	nlh->nlmsg_flags |= NLM_F_ACK;
	nlh->nlmsg_seq = ++seq;
	if (mnl_socket_sendto(q->nl, nlh, nlh->nlmsg_len) < 0)
		return -1;
	n = (int)mnl_socket_recvfrom(q->nl, buf, len);
	if (n < 0)
		return -1;
	return mnl_cb_run(buf, (size_t)n, seq, mnl_socket_get_portid(q->nl),
			  NULL, NULL) < 0 ? -1 : 0;
}

static int configure(struct nfq_min *q)
{
	char buf[8192];         /* a config message and its ack */
	uint32_t flags = NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN;
	struct nlmsghdr *nlh;

	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, q->queue);
	nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_BIND);
	if (config_send(q, nlh, buf, sizeof(buf)) < 0)
		return -1;
	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, q->queue);
	nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, (int)q->copy_range);
	nfq_nlmsg_cfg_put_qmaxlen(nlh, QUEUE_MAXLEN);
	mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(flags));
	mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(flags));
	return config_send(q, nlh, buf, sizeof(buf));
}

static int alloc_buffers(struct nfq_min *q)
{
	/* The copied packet plus its attributes (metadata, headers). */
	q->bufsz = (size_t)q->copy_range + 4096;
	q->bufs = malloc(q->bufsz * q->batch);
	if (!q->bufs)
		return -1;
	for (unsigned i = 0; i < q->batch; i++) {
		q->iov[i] = (struct iovec){ q->bufs + i * q->bufsz, q->bufsz };
		q->msgs[i].msg_hdr = (struct msghdr){ .msg_iov = &q->iov[i],
						      .msg_iovlen = 1 };
	}
	return 0;
}

/* The id of a packet message, or 0 for anything else (ids start at 1;
 * an error message is counted). */
static uint32_t packet_id(struct nfq_min *q, const struct nlmsghdr *nlh)
{
	struct nlattr *attr[NFQA_MAX + 1] = { 0 };
	const struct nfqnl_msg_packet_hdr *ph;

	if (nlh->nlmsg_type == NLMSG_ERROR) {
		q->errors++;
		return 0;
	}
	if (NFNL_MSG_TYPE(nlh->nlmsg_type) != NFQNL_MSG_PACKET ||
	    nfq_nlmsg_parse(nlh, attr) < 0 || !attr[NFQA_PACKET_HDR])
		return 0;
	ph = mnl_attr_get_payload(attr[NFQA_PACKET_HDR]);
	return ntohl(ph->packet_id);
}

/* Walks the received messages; returns the id of the last packet (ids
 * grow in arrival order, so a batch verdict up to it covers them all). */
static uint32_t walk(struct nfq_min *q, int nmsgs, uint64_t *ret_n)
{
	uint32_t last = 0;

	for (int i = 0; i < nmsgs; i++) {
		const struct nlmsghdr *nlh = q->iov[i].iov_base;
		int len = (int)q->msgs[i].msg_len;

		for (; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len)) {
			uint32_t id = packet_id(q, nlh);

			if (id) {
				last = id;
				(*ret_n)++;
			}
		}
	}
	return last;
}

static int verdict_batch(struct nfq_min *q, uint32_t last_id)
{
	char buf[256];
	struct nlmsghdr *nlh;

	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_VERDICT_BATCH, q->queue);
	nfq_nlmsg_verdict_put(nlh, (int)last_id, NF_ACCEPT);
	if (mnl_socket_sendto(q->nl, nlh, nlh->nlmsg_len) < 0)
		return -1;
	q->batches++;
	return 0;
}

/* One recvmmsg (blocking for the first message unless `nowait`) and one
 * batch verdict. Returns the messages read, 0 when none, -1 on error. */
static int step(struct nfq_min *q, int nowait)
{
	int flags = nowait ? MSG_DONTWAIT : MSG_WAITFORONE;
	int fd = mnl_socket_get_fd(q->nl);
	uint64_t n = 0;
	uint32_t last;
	int got;

	got = recvmmsg(fd, q->msgs, q->batch, flags, NULL);
	if (got < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	last = walk(q, got, &n);
	if (last && verdict_batch(q, last) < 0)
		return -1;
	q->verdicted += n;
	return got;
}

/* Answers what is already queued, so that stopping drops nothing. */
static int drain(struct nfq_min *q)
{
	int rc;

	do
		rc = step(q, 1);
	while (rc > 0);
	return rc;
}

static void unbind(struct nfq_min *q)
{
	char buf[256];
	struct nlmsghdr *nlh;

	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, q->queue);
	nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_UNBIND);
	mnl_socket_sendto(q->nl, nlh, nlh->nlmsg_len);
}

int main(int argc, char **argv)
{
	struct nfq_min q = { 0 };
	int rc = 0;

	if (parse_args(&q, argc, argv) < 0) {
		fprintf(stderr, "usage: nfq_min [-q QUEUE] [-b BATCH<=64] "
				"[-c COPY_RANGE]\n");
		return 2;
	}
	catch_signals();
	if (open_socket(&q) < 0 || alloc_buffers(&q) < 0 ||
	    configure(&q) < 0) {
		perror("nfq_min: setup");
		return 1;
	}
	while (!stop && rc >= 0)
		rc = step(&q, 0);
	if (rc >= 0)
		rc = drain(&q);
	if (rc < 0)
		perror("nfq_min");
	unbind(&q);
	mnl_socket_close(q.nl);
	free(q.bufs);
	printf("verdicted=%llu batches=%llu errors=%llu\n",
	       (unsigned long long)q.verdicted,
	       (unsigned long long)q.batches, (unsigned long long)q.errors);
	return rc < 0;
}
