/* udpsink: the receiving end of udpblast. It exists so that the server
 * takes the datagrams like an application would (without a listener the
 * server would answer each with an ICMP port unreachable, which crosses
 * the gateway and its queue too), and it counts them.
 *
 * Usage: udpsink [-b ADDR] [-p PORT] [-t SECONDS]
 *   -b  address to bind (default: the IPv6 wildcard, which takes IPv4
 *       too); -p port (default 9000); -t stop after SECONDS (default:
 *       run until SIGINT/SIGTERM).
 * Prints on exit: received=N
 * The harness counts deliveries from the server's UDP counters instead
 * (per round); this count covers the sink's whole life.
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

#define BATCH 64
#define BUFSZ 2048

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int open_sink(const char *addr, unsigned port)
{
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6,
				    .sin6_port = htons((uint16_t)port) };
	struct sockaddr_in in = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port) };
	struct timeval tv = { .tv_usec = 200 * 1000 };
	int v4 = addr && inet_pton(AF_INET, addr, &in.sin_addr) == 1;
	int rcvbuf = 8 << 20, fd;

	if (!v4 && addr && inet_pton(AF_INET6, addr, &in6.sin6_addr) != 1)
		return -1;
	fd = socket(v4 ? AF_INET : AF_INET6, SOCK_DGRAM, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
	/* The timeout lets the loop see a signal or the deadline. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (v4 ? bind(fd, (struct sockaddr *)&in, sizeof(in))
	       : bind(fd, (struct sockaddr *)&in6, sizeof(in6))) {
		close(fd);
		return -1;
	}
	return fd;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned long long sink(int fd, double seconds)
{
	static char bufs[BATCH][BUFSZ];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	unsigned long long received = 0;
	double end = seconds > 0 ? now_s() + seconds : 0;

	for (int i = 0; i < BATCH; i++) {
		iov[i] = (struct iovec){ bufs[i], BUFSZ };
		msgs[i].msg_hdr = (struct msghdr){ .msg_iov = &iov[i],
						   .msg_iovlen = 1 };
	}
	while (!stop && (!end || now_s() < end)) {
		int n = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);

		if (n > 0)
			received += (unsigned)n;
		else if (errno != EAGAIN && errno != EINTR)
			break;
	}
	return received;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	const char *addr = NULL;
	unsigned port = 9000;
	double seconds = 0;
	int c, fd;

	while ((c = getopt(argc, argv, "b:p:t:")) != -1) {
		switch (c) {
		case 'b': addr = optarg; break;
		case 'p': port = (unsigned)atoi(optarg); break;
		case 't': seconds = atof(optarg); break;
		default:
			fprintf(stderr, "usage: udpsink [-b ADDR] [-p PORT] "
					"[-t SECONDS]\n");
			return 2;
		}
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	fd = open_sink(addr, port);
	if (fd < 0) {
		perror("udpsink");
		return 1;
	}
	printf("received=%llu\n", sink(fd, seconds));
	close(fd);
	return 0;
}
