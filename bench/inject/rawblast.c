/* rawblast: the baseline of the injection benchmark. What weir's send-path
 * injection does, at its least: hand complete IPv4 packets to a raw
 * IPPROTO_RAW socket (IP_HDRINCL), sendmmsg batches of 64, the same bytes
 * as injblast (pkt.h). No weir, no allocation, no completion: the cost
 * left is the kernel's output path, which weir cannot avoid either.
 *
 * Usage: rawblast -S SRC -d DST [-s SPORT] [-p DPORT] [-l LEN]
 *                 [-t SECONDS] [-b BATCH]
 *   -S/-d  IPv4 source and destination written in the packets
 *   -s/-p  UDP ports (default 20000 and 9000)
 *   -l     UDP payload bytes (default 64)
 *   -t     duration in seconds (default 5)
 *   -b     messages per sendmmsg (default 64, at most 1024)
 * Prints on exit (also after SIGINT/SIGTERM):
 *   sent=N errors=E seconds=S pps=P cpu=C
 * "sent" counts packets the kernel accepted from us; "errors" counts
 * failed sendmmsg calls (ENOBUFS and the like); "cpu" the seconds of CPU
 * (user + system) the sending took, pkt.h's bench_cpu_s().
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pkt.h"

#define MAX_BATCH 1024

struct raw {
	struct bench_pkt_spec spec;
	const char *src, *dst;
	double seconds;
	unsigned batch;
	int fd;
	uint8_t bytes[BENCH_PKT_HDRS + BENCH_PKT_MAX];
	struct iovec iov;
	struct sockaddr_in to;
	struct mmsghdr msgs[MAX_BATCH];
	unsigned long long sent, errors;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int parse_args(struct raw *r, int argc, char **argv)
{
	int c;

	r->spec = (struct bench_pkt_spec){ .sport = 20000, .dport = 9000,
					   .payload = BENCH_PKT_PAYLOAD };
	r->seconds = 5;
	r->batch = 64;
	while ((c = getopt(argc, argv, "S:d:s:p:l:t:b:")) != -1) {
		switch (c) {
		case 'S': r->src = optarg; break;
		case 'd': r->dst = optarg; break;
		case 's': r->spec.sport = (uint16_t)atoi(optarg); break;
		case 'p': r->spec.dport = (uint16_t)atoi(optarg); break;
		case 'l': r->spec.payload = (uint32_t)atoi(optarg); break;
		case 't': r->seconds = atof(optarg); break;
		case 'b': r->batch = (unsigned)atoi(optarg); break;
		default: return -1;
		}
	}
	return bench_pkt_addrs(&r->spec, r->src, r->dst) == 0 &&
	       r->seconds > 0 && r->batch >= 1 && r->batch <= MAX_BATCH ?
	       0 : -1;
}

/* IPPROTO_RAW implies IP_HDRINCL: the kernel sends our header as it is
 * (filling the checksum), routed by its destination. */
static int open_raw(struct raw *r)
{
	r->fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
	return r->fd < 0 ? -1 : 0;
}

/* Every message of the batch sends the same packet to the same address:
 * the batch is built once and reused for the whole run. */
static int init_msgs(struct raw *r)
{
	uint32_t len = bench_pkt_build(r->bytes, &r->spec);

	if (!len)
		return -1;
	r->iov = (struct iovec){ r->bytes, len };
	r->to = (struct sockaddr_in){ .sin_family = AF_INET,
				      .sin_addr = r->spec.dst };
	for (unsigned i = 0; i < r->batch; i++)
		r->msgs[i].msg_hdr = (struct msghdr){
			.msg_name = &r->to, .msg_namelen = sizeof(r->to),
			.msg_iov = &r->iov, .msg_iovlen = 1 };
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double run(struct raw *r)
{
	double start = now_s(), t = start;

	while (!stop && t - start < r->seconds) {
		int n = sendmmsg(r->fd, r->msgs, r->batch, 0);

		if (n > 0)
			r->sent += (unsigned)n;
		else if (errno != EINTR)
			r->errors++;
		t = now_s();
	}
	return t - start;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct raw *r = calloc(1, sizeof(*r));
	double secs, cpu;

	if (!r || parse_args(r, argc, argv) < 0) {
		fprintf(stderr, "usage: rawblast -S SRC -d DST [-s SPORT] "
				"[-p DPORT] [-l LEN] [-t SECONDS] "
				"[-b BATCH]\n");
		return 2;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (open_raw(r) < 0 || init_msgs(r) < 0) {
		perror("rawblast: setup");
		return 1;
	}
	cpu = bench_cpu_s();
	secs = run(r);
	cpu = bench_cpu_s() - cpu;
	printf("sent=%llu errors=%llu seconds=%.3f pps=%.0f cpu=%.3f\n",
	       r->sent, r->errors, secs, (double)r->sent / secs, cpu);
	close(r->fd);
	free(r);
	return 0;
}
