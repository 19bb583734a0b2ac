/* Running iptables and friends: fork, enter the target network namespace,
 * exec the tool with no shell in between, feed its stdin and collect its
 * stdout and stderr without deadlock, and bound the whole run in time.
 *
 * The daemon that calls this is multi-threaded, so the child does only
 * async-signal-safe things between fork and exec, and reports a failure
 * there (setns, exec) through a close-on-exec pipe: nothing arrives when
 * exec succeeded. Stdin is a socket so that writing to a tool that died
 * early gives EPIPE (MSG_NOSIGNAL), not a SIGPIPE that kills the daemon.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "capture/steer.h"

#define RUN_TIMEOUT_MS 30000
#define KILL_GRACE_MS 1000      /* after SIGKILL: a grandchild may hold
				 * our pipes (modprobe); stop waiting */
#define OUT_MAX (64u << 20)     /* an iptables-save this big is no host
				 * weir can steer sanely */

static const char *const sbin_dirs = "/usr/sbin:/sbin:/usr/local/sbin";

static int find_in(const char *dirs, const char *name, char *ret,
		   size_t size)
{
	for (const char *d = dirs; d && *d;) {
		size_t n = strcspn(d, ":");
		int k = snprintf(ret, size, "%.*s/%s", (int)n, d, name);

		if (n && k > 0 && (size_t)k < size && access(ret, X_OK) == 0)
			return 0;
		d += n + (d[n] == ':');
	}
	return -ENOENT;
}

int weir__steer_which(const char *argv0, char *ret, size_t size)
{
	if (strchr(argv0, '/')) {
		if (access(argv0, X_OK) || strlen(argv0) >= size)
			return -ENOENT;
		strcpy(ret, argv0);
		return 0;
	}
	/* Daemons often run with a PATH that lacks the sbin directories. */
	if (find_in(getenv("PATH"), argv0, ret, size) == 0)
		return 0;
	return find_in(sbin_dirs, argv0, ret, size);
}

/* What the child tells the parent when it fails before exec. */
struct child_fail {
	int step;               /* 0 setns, 1 exec, 2 stdio */
	int err;
};

static void __attribute__((noreturn))
child_die(int fd, int step)
{
	struct child_fail f = { step, errno };

	if (write(fd, &f, sizeof(f)) < 0)
		_exit(126);
	_exit(127);
}

/* In the child: async-signal-safe calls only. */
static void __attribute__((noreturn))
child(const char *path, const char *const *argv, int nsfd, const int io[3],
      int failfd)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (nsfd >= 0 && setns(nsfd, CLONE_NEWNET) < 0)
		child_die(failfd, 0);
	for (int i = 0; i < 3; i++)
		if (dup2(io[i], i) < 0)
			child_die(failfd, 2);
	/* Nothing of the daemon's (sockets, queues) leaks into the tool. */
	close_range(3, ~0u, CLOSE_RANGE_CLOEXEC);
	/* execv's prototype predates const; it does not write argv. */
	union {
		const char *const *c;
		char *const *m;
	} args = { .c = argv };
	execv(path, args.m);
	child_die(failfd, 1);
}

/* The parent's ends: [0] writes the child's stdin, [1] and [2] read its
 * stdout and stderr; -1 once closed. */
struct io {
	int fd[3];
	int child[3];           /* the child's ends, closed after fork */
	int fail[2];            /* child_fail pipe */
	struct weir__steer_run *run;
	size_t in_off;
	size_t out_cap;
	size_t err_len;
	int rc;                 /* first failure of our own */
};

static void io_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Moves a descriptor to 3 or above. A daemon may run with 0..2 closed,
 * and then the child's dup2() onto 0..2 would clobber its own ends. */
static int above_stdio(int *fd)
{
	int nfd;

	if (*fd > 2)
		return 0;
	nfd = fcntl(*fd, F_DUPFD_CLOEXEC, 3);
	if (nfd < 0)
		return -errno;
	close(*fd);
	*fd = nfd;
	return 0;
}

static int io_open(struct io *io, struct weir__steer_run *run)
{
	int sv[2], p1[2], p2[2], rc = 0;

	memset(io, 0, sizeof(*io));
	io->run = run;
	for (int i = 0; i < 3; i++)
		io->fd[i] = io->child[i] = -1;
	io->fail[0] = io->fail[1] = -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	io->fd[0] = sv[0];
	io->child[0] = sv[1];
	if (pipe2(p1, O_CLOEXEC) < 0)
		return -errno;
	io->child[1] = p1[1];
	io->fd[1] = p1[0];
	if (pipe2(p2, O_CLOEXEC) < 0)
		return -errno;
	io->child[2] = p2[1];
	io->fd[2] = p2[0];
	if (pipe2(io->fail, O_CLOEXEC) < 0)
		return -errno;
	for (int i = 0; i < 3 && !rc; i++)
		rc = above_stdio(&io->child[i]);
	/* Only our ends: a tool may not like a non-blocking stdin. */
	for (int i = 0; i < 3 && !rc; i++)
		if (fcntl(io->fd[i], F_SETFL, O_NONBLOCK) < 0)
			rc = -errno;
	return rc;
}

static void io_exit(struct io *io)
{
	for (int i = 0; i < 3; i++) {
		io_close(&io->fd[i]);
		io_close(&io->child[i]);
	}
	io_close(&io->fail[0]);
	io_close(&io->fail[1]);
}

static void io_write(struct io *io)
{
	struct weir__steer_run *run = io->run;
	ssize_t n = 0;

	if (io->in_off < run->in_len)
		n = send(io->fd[0], run->in + io->in_off,
			 run->in_len - io->in_off, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	/* EPIPE: the tool stopped reading; its status will tell why. */
	if (n > 0)
		io->in_off += (size_t)n;
	if (n <= 0 || io->in_off == run->in_len)
		io_close(&io->fd[0]);
}

static int out_room(struct io *io)
{
	struct weir__steer_run *run = io->run;
	size_t cap = io->out_cap ? io->out_cap * 2 : 16384;
	char *s;

	if (run->out_len + 1 < io->out_cap)
		return 0;
	if (cap > OUT_MAX)
		return -EFBIG;
	s = realloc(run->out, cap);
	if (!s)
		return -ENOMEM;
	s[run->out_len] = '\0';
	run->out = s;
	io->out_cap = cap;
	return 0;
}

static void io_read(struct io *io, int i)
{
	struct weir__steer_run *run = io->run;
	char sink[4096], *buf = sink;
	size_t room = sizeof(sink);
	ssize_t n;

	if (i == 1 && run->want_out && !io->rc) {
		io->rc = out_room(io);
		if (!io->rc) {
			buf = run->out + run->out_len;
			room = io->out_cap - run->out_len - 1;
		}
	}
	n = read(io->fd[i], buf, room);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		io_close(&io->fd[i]);
		return;
	}
	if (buf != sink) {
		run->out_len += (size_t)n;
		run->out[run->out_len] = '\0';
	} else if (i == 2 && io->err_len < sizeof(run->err) - 1) {
		size_t k = sizeof(run->err) - 1 - io->err_len;

		k = (size_t)n < k ? (size_t)n : k;
		memcpy(run->err + io->err_len, sink, k);
		io->err_len += k;
		run->err[io->err_len] = '\0';
	}
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Moves data until the tool closed its ends, or the deadline: then the
 * tool is killed and, after a grace period, abandoned. */
static void io_loop(struct io *io, pid_t pid, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	bool killed = false;

	while (io->fd[0] >= 0 || io->fd[1] >= 0 || io->fd[2] >= 0) {
		struct pollfd p[3];
		long long left = deadline - now_ms();

		if (left <= 0 && killed)
			break;
		if (left <= 0) {
			kill(pid, SIGKILL);
			killed = true;
			io->rc = -ETIMEDOUT;
			deadline = now_ms() + KILL_GRACE_MS;
			continue;
		}
		for (int i = 0; i < 3; i++) {
			p[i].fd = io->fd[i];
			p[i].events = i == 0 ? POLLOUT : POLLIN;
			p[i].revents = 0;
		}
		if (poll(p, 3, (int)left) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			io_write(io);
		for (int i = 1; i < 3; i++)
			if (p[i].revents)
				io_read(io, i);
	}
}

static int exit_rc(int status)
{
	if (!WIFEXITED(status))
		return -EIO;
	switch (WEXITSTATUS(status)) {
	case 0:
		return 0;
	case 2:                 /* PARAMETER_PROBLEM */
		return -EINVAL;
	case 3:                 /* VERSION_PROBLEM */
		return -ENOTSUP;
	case 4:                 /* RESOURCE_PROBLEM: busy chain, lock */
		return -EBUSY;
	default:
		return -EIO;
	}
}

/* The child's report, if it failed before exec. */
static int child_failure(struct io *io, const char *path)
{
	static const char *const steps[] = { "setns", "exec", "stdio" };
	struct weir__steer_run *run = io->run;
	struct child_fail f;

	if (read(io->fail[0], &f, sizeof(f)) != (ssize_t)sizeof(f))
		return 0;
	snprintf(run->err, sizeof(run->err), "%s(%s): %s",
		 steps[f.step < 0 || f.step > 2 ? 1 : f.step],
		 f.step == 0 ? run->netns_path : path, strerror(f.err));
	return f.err > 0 ? -f.err : -EIO;
}

static int wait_child(pid_t pid, int *ret_status)
{
	while (waitpid(pid, ret_status, 0) < 0)
		if (errno != EINTR)
			return -errno; /* ECHILD: SIGCHLD is ignored */
	return 0;
}

static int spawn(const char *path, const char *const *argv,
		 struct weir__steer_run *run, struct io *io, int nsfd)
{
	int status, rc;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0)
		child(path, argv, nsfd, io->child, io->fail[1]);
	for (int i = 0; i < 3; i++)
		io_close(&io->child[i]);
	io_close(&io->fail[1]);
	io_loop(io, pid, run->timeout_ms > 0 ? run->timeout_ms
					     : RUN_TIMEOUT_MS);
	rc = wait_child(pid, &status);
	if (rc)
		return rc;
	rc = child_failure(io, path);
	if (rc)
		return rc;
	if (io->rc == -ETIMEDOUT)
		snprintf(run->err, sizeof(run->err), "%s: no answer in %d ms",
			 path, run->timeout_ms > 0 ? run->timeout_ms
						   : RUN_TIMEOUT_MS);
	if (io->rc)
		return io->rc;
	if (WIFEXITED(status))
		run->status = WEXITSTATUS(status);
	else if (!run->err[0])
		snprintf(run->err, sizeof(run->err), "%s: killed by signal %d",
			 path, WTERMSIG(status));
	return exit_rc(status);
}

int weir__steer_exec(const char *const *argv, struct weir__steer_run *run)
{
	char path[256];
	struct io io;
	int nsfd = -1, rc;

	run->out = NULL;
	run->out_len = 0;
	run->status = -1;
	run->err[0] = '\0';
	rc = weir__steer_which(argv[0], path, sizeof(path));
	if (rc) {
		snprintf(run->err, sizeof(run->err), "%s: not found", argv[0]);
		return rc;
	}
	if (run->netns_path) {
		nsfd = open(run->netns_path, O_RDONLY | O_CLOEXEC);
		if (nsfd < 0) {
			rc = -errno;
			snprintf(run->err, sizeof(run->err), "%s: %s",
				 run->netns_path, strerror(-rc));
			return rc;
		}
	}
	rc = io_open(&io, run);
	if (!rc)
		rc = spawn(path, argv, run, &io, nsfd);
	io_exit(&io);
	if (!rc && run->want_out && !run->out) {
		run->out = strdup("");
		rc = run->out ? 0 : -ENOMEM;
	}
	if (nsfd >= 0)
		close(nsfd);
	return rc;
}
