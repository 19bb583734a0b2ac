/* The control socket: a root-only Unix stream socket. A client sends one
 * command line ("stats", "stats json", "reload", "stop", "ping") and
 * reads the answer until the daemon closes. Served on the daemon's main
 * thread, one client at a time: it is a management path, never on the
 * packets' way.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "control/daemon.h"

#define CLIENT_TIMEOUT_MS 2000

static int mkparent(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int control_listen(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	rc = mkparent(path);
	if (rc < 0)
		return rc;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	unlink(path); /* a socket file left by a dead daemon */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(path, 0600) < 0 || listen(fd, 8) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

/* Reads one line (the command) with a deadline. */
static int read_line(int fd, char *buf, size_t len)
{
	size_t n = 0;

	while (n + 1 < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, CLIENT_TIMEOUT_MS) <= 0)
			return -ETIMEDOUT;
		r = read(fd, buf + n, len - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
		if (memchr(buf, '\n', n))
			break;
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	return 0;
}

/* Only root (or the daemon's own user) may talk to the daemon. */
static bool allowed(int fd)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
		return false;
	return cr.uid == 0 || cr.uid == getuid();
}

static enum control_cmd answer(FILE *f, const char *cmd, struct daemon *d)
{
	if (!strcmp(cmd, "stats") || !strcmp(cmd, "stats json")) {
		daemon_report(d, f, cmd[5] != '\0');
		return CONTROL_NONE;
	}
	if (!strcmp(cmd, "ping")) {
		fputs("pong\n", f);
		return CONTROL_NONE;
	}
	if (!strcmp(cmd, "reload")) {
		int rc = daemon_reload(d);

		if (rc < 0)
			fprintf(f, "error: %s\n", d->last_error);
		else
			fputs("ok\n", f);
		return CONTROL_NONE;
	}
	if (!strcmp(cmd, "stop")) {
		fputs("ok\n", f);
		return CONTROL_STOP;
	}
	fprintf(f, "error: unknown command '%s'\n", cmd);
	return CONTROL_NONE;
}

enum control_cmd control_serve(int lfd, struct daemon *d)
{
	enum control_cmd what = CONTROL_NONE;
	char cmd[128];
	FILE *f;
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return CONTROL_NONE;
	if (!allowed(fd) || read_line(fd, cmd, sizeof(cmd)) < 0) {
		close(fd);
		return CONTROL_NONE;
	}
	/* A client that stops reading must not stall the daemon. */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO,
		   &(struct timeval){ .tv_sec = CLIENT_TIMEOUT_MS / 1000 },
		   sizeof(struct timeval));
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return CONTROL_NONE;
	}
	what = answer(f, cmd, d);
	fclose(f);
	return what;
}
