/* Queue statistics from /proc/net/netfilter/nfnetlink_queue, the kernel's
 * one line per bound queue:
 *
 *   queue portid waiting copy_mode copy_range queue_dropped user_dropped
 *   id_sequence 1
 *
 * The file belongs to a network namespace, and /proc/self/net is the
 * namespace of the process's main thread, not of the caller. So for
 * another namespace a short-lived thread setns()es into it and opens
 * /proc/thread-self/net/...; the open file stays bound to that namespace
 * after the thread is gone, and is read here.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture/steer.h"

#define PROC_NFQ "/proc/thread-self/net/netfilter/nfnetlink_queue"

static int parse_line(const char *line, struct weir__nfq_proc *q)
{
	unsigned v[8];
	int end = 0;

	if (sscanf(line, "%u %u %u %u %u %u %u %u %*d%n", &v[0], &v[1],
		   &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &end) != 8 ||
	    !end || v[0] > 0xffff || v[3] > 0xff)
		return -EBADMSG;
	*q = (struct weir__nfq_proc){
		.queue = (uint16_t)v[0], .portid = v[1], .queue_total = v[2],
		.copy_mode = (uint8_t)v[3], .copy_range = v[4],
		.queue_dropped = v[5], .user_dropped = v[6],
		.id_sequence = v[7],
	};
	return 0;
}

int weir__nfq_proc_parse(const char *text, struct weir__nfq_proc *ret,
			 size_t max)
{
	int count = 0;

	while (*text) {
		struct weir__nfq_proc q;
		size_t n = strcspn(text, "\n");
		char line[128];

		if (n >= sizeof(line))
			return -EBADMSG;
		memcpy(line, text, n);
		line[n] = '\0';
		text += n + (text[n] == '\n');
		if (line[strspn(line, " \t")] == '\0')
			continue;
		if (parse_line(line, &q))
			return -EBADMSG;
		if ((size_t)count < max)
			ret[count] = q;
		count++;
	}
	return count;
}

struct opener {
	int nsfd;
	int fd;                 /* out: the open file, or -errno */
};

static void *open_in_ns(void *arg)
{
	struct opener *o = arg;

	if (setns(o->nsfd, CLONE_NEWNET) < 0)
		o->fd = -errno;
	else if ((o->fd = open(PROC_NFQ, O_RDONLY | O_CLOEXEC)) < 0)
		o->fd = -errno;
	return NULL;
}

/* The file as `netns_path` sees it: an fd, or -errno; only the file's
 * own absence is -ENOENT (a missing namespace is -EBADF). */
static int open_proc(const char *netns_path)
{
	struct opener o = { .fd = -EIO };
	pthread_t t;
	int rc;

	if (!netns_path) {
		rc = open(PROC_NFQ, O_RDONLY | O_CLOEXEC);
		return rc < 0 ? -errno : rc;
	}
	o.nsfd = open(netns_path, O_RDONLY | O_CLOEXEC);
	if (o.nsfd < 0)
		return errno == ENOENT ? -EBADF : -errno;
	rc = pthread_create(&t, NULL, open_in_ns, &o);
	if (rc == 0)
		pthread_join(t, NULL);
	close(o.nsfd);
	return rc ? -rc : o.fd;
}

/* The whole file; it is one short line per bound queue. */
static int slurp(int fd, char **ret)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap), *nb;
	ssize_t n;

	while (buf && (n = read(fd, buf + len, cap - len - 1)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(buf);
			return -errno;
		}
		len += (size_t)n;
		if (cap - len < 512) {
			nb = realloc(buf, cap * 2);
			if (!nb)
				free(buf);
			buf = nb;
			cap *= 2;
		}
	}
	if (!buf)
		return -ENOMEM;
	buf[len] = '\0';
	*ret = buf;
	return 0;
}

int weir__nfq_proc_read(const char *netns_path, struct weir__nfq_proc *ret,
			size_t max)
{
	char *text = NULL;
	int fd = open_proc(netns_path), rc;

	if (fd == -ENOENT)
		return 0;       /* nfnetlink_queue not loaded: no queue */
	if (fd < 0)
		return fd;
	rc = slurp(fd, &text);
	close(fd);
	if (rc)
		return rc;
	rc = weir__nfq_proc_parse(text, ret, max);
	free(text);
	return rc;
}
