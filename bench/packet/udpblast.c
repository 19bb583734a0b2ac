/* udpblast: a UDP load generator for the packet-tier benchmark. One
 * iperf3 UDP sender saturates near 160 kpps on this machine kind
 * (BASELINES.md), below what the gateway forwards, so the 64-byte rows
 * use this instead: sendmmsg batches of 32 on connected sockets.
 *
 * Usage: udpblast -d DST [-p DPORT] [-s SPORT] [-n NPORTS] [-S SRC]
 *                 [-r PPS] [-t SECONDS] [-l LEN] [-b BATCH]
 *   -d  destination address, IPv4 or IPv6
 *   -p  destination port (default 9000)
 *   -s  first source port (default 20000); -n source ports in turn
 *       (default 1), one socket each. Note that NFQUEUE --queue-balance
 *       hashes addresses only: more ports do not spread queues.
 *   -S  source address to bind (default: chosen by the route)
 *   -r  packets per second, 0 for as fast as possible (default 0)
 *   -t  duration in seconds (default 10)
 *   -l  UDP payload bytes (default 64)
 *   -b  messages per sendmmsg (default 32)
 * Prints on exit (also after SIGINT/SIGTERM):
 *   sent=N seconds=S pps=P errors=E
 * "sent" counts datagrams the kernel accepted from us; "errors" failed
 * sendmmsg calls (ENOBUFS and the like).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_BATCH 1024
#define MAX_PORTS 4096
#define MAX_LEN 65507

struct blast {
	const char *dst, *src;
	unsigned dport, sport, nports;
	double rate;                 /* packets per second, 0: unlimited */
	double seconds;
	unsigned len, batch;
	int fds[MAX_PORTS];
	struct mmsghdr msgs[MAX_BATCH];
	struct iovec iov;
	unsigned long long sent, errors;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int parse_args(struct blast *b, int argc, char **argv)
{
	int c;

	*b = (struct blast){ .dport = 9000, .sport = 20000, .nports = 1,
			     .seconds = 10, .len = 64, .batch = 32 };
	while ((c = getopt(argc, argv, "d:p:s:n:S:r:t:l:b:")) != -1) {
		switch (c) {
		case 'd': b->dst = optarg; break;
		case 'p': b->dport = (unsigned)atoi(optarg); break;
		case 's': b->sport = (unsigned)atoi(optarg); break;
		case 'n': b->nports = (unsigned)atoi(optarg); break;
		case 'S': b->src = optarg; break;
		case 'r': b->rate = atof(optarg); break;
		case 't': b->seconds = atof(optarg); break;
		case 'l': b->len = (unsigned)atoi(optarg); break;
		case 'b': b->batch = (unsigned)atoi(optarg); break;
		default: return -1;
		}
	}
	return b->dst && b->dport && b->dport < 65536 && b->nports >= 1 &&
	       b->nports <= MAX_PORTS && b->sport + b->nports <= 65536 &&
	       b->len <= MAX_LEN && b->batch >= 1 && b->batch <= MAX_BATCH &&
	       b->seconds > 0 && b->rate >= 0 ? 0 : -1;
}

/* Fills a sockaddr for addr (NULL: the wildcard of `family`). Returns
 * its length, or 0 for an unparsable address. */
static socklen_t make_addr(struct sockaddr_storage *ss, int family,
			   const char *addr, unsigned port)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		if (addr && inet_pton(AF_INET, addr, &in->sin_addr) != 1)
			return 0;
		return sizeof(*in);
	}
	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons((uint16_t)port);
	if (addr && inet_pton(AF_INET6, addr, &in6->sin6_addr) != 1)
		return 0;
	return sizeof(*in6);
}

static int open_one(const struct blast *b, int family, unsigned sport)
{
	struct sockaddr_storage src, dst;
	socklen_t slen = make_addr(&src, family, b->src, sport);
	socklen_t dlen = make_addr(&dst, family, b->dst, b->dport);
	int one = 1, fd;

	if (!slen || !dlen)
		return -1;
	fd = socket(family, SOCK_DGRAM, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&src, slen) < 0 ||
	    connect(fd, (struct sockaddr *)&dst, dlen) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int open_sockets(struct blast *b)
{
	int family = strchr(b->dst, ':') ? AF_INET6 : AF_INET;

	for (unsigned i = 0; i < b->nports; i++) {
		b->fds[i] = open_one(b, family, b->sport + i);
		if (b->fds[i] < 0)
			return -1;
	}
	return 0;
}

/* Every message sends the same payload on a connected socket. */
static int init_msgs(struct blast *b)
{
	char *payload = calloc(1, b->len ? b->len : 1);

	if (!payload)
		return -1;
	b->iov = (struct iovec){ payload, b->len };
	for (unsigned i = 0; i < b->batch; i++)
		b->msgs[i].msg_hdr = (struct msghdr){ .msg_iov = &b->iov,
						      .msg_iovlen = 1 };
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* With a rate, sleeps until the packets sent so far are due. */
static void pace(const struct blast *b, double start)
{
	double ahead;

	if (b->rate <= 0)
		return;
	ahead = start + (double)b->sent / b->rate - now_s();
	if (ahead > 0) {
		struct timespec ts = { (time_t)ahead,
				       (long)((ahead - (time_t)ahead) * 1e9) };
		nanosleep(&ts, NULL);
	}
}

static double run(struct blast *b)
{
	double start = now_s(), t = start;
	unsigned i = 0;

	while (!stop && t - start < b->seconds) {
		int n = sendmmsg(b->fds[i], b->msgs, b->batch, 0);

		if (n > 0)
			b->sent += (unsigned)n;
		else
			b->errors++;
		i = i + 1 == b->nports ? 0 : i + 1;
		pace(b, start);
		t = now_s();
	}
	return t - start;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct blast *b = malloc(sizeof(*b));
	double secs;

	if (!b || parse_args(b, argc, argv) < 0) {
		fprintf(stderr, "usage: udpblast -d DST [-p DPORT] [-s SPORT] "
				"[-n NPORTS] [-S SRC] [-r PPS] [-t SECONDS] "
				"[-l LEN] [-b BATCH]\n");
		return 2;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (open_sockets(b) < 0 || init_msgs(b) < 0) {
		perror("udpblast: setup");
		return 1;
	}
	secs = run(b);
	printf("sent=%llu seconds=%.3f pps=%.0f errors=%llu\n", b->sent, secs,
	       (double)b->sent / secs, b->errors);
	return 0;
}
