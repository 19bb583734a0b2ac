/* `weir run -c POLICY`: the daemon, in the foreground, logging to
 * stderr (journald picks it up under systemd). SIGHUP reloads the
 * policy; SIGTERM and SIGINT stop it: rules removed, queues drained,
 * every held packet given the fail mode's verdict. The main thread only
 * handles signals and the control socket; packets run on the workers.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <weir/callout.h>

#include "cli/cli.h"
#include "control/daemon.h"

enum { OPT_QBASE = 256, OPT_FAIL_CLOSED, OPT_NO_QBYPASS, OPT_NO_STEER,
       OPT_NO_CMBYPASS, OPT_NETNS, OPT_CONTROL, OPT_TAG, OPT_PLUGINS,
       OPT_PEND_TIMEOUT, OPT_MAXLEN, OPT_COPY, OPT_PROXY_WORKERS, OPT_PROXY_MAX,
       OPT_PROXY_IDLE };

static const struct option long_opts[] = {
	{ "policy", required_argument, NULL, 'c' },
	{ "queues", required_argument, NULL, 'q' },
	{ "queue-base", required_argument, NULL, OPT_QBASE },
	{ "fail-closed", no_argument, NULL, OPT_FAIL_CLOSED },
	{ "no-queue-bypass", no_argument, NULL, OPT_NO_QBYPASS },
	{ "no-steer", no_argument, NULL, OPT_NO_STEER },
	{ "no-connmark-bypass", no_argument, NULL, OPT_NO_CMBYPASS },
	{ "netns", required_argument, NULL, OPT_NETNS },
	{ "control", required_argument, NULL, OPT_CONTROL },
	{ "tag", required_argument, NULL, OPT_TAG },
	{ "plugins", required_argument, NULL, OPT_PLUGINS },
	{ "pend-timeout", required_argument, NULL, OPT_PEND_TIMEOUT },
	{ "queue-maxlen", required_argument, NULL, OPT_MAXLEN },
	{ "copy-range", required_argument, NULL, OPT_COPY },
	{ "proxy-workers", required_argument, NULL, OPT_PROXY_WORKERS },
	{ "proxy-max-sessions", required_argument, NULL, OPT_PROXY_MAX },
	{ "proxy-idle", required_argument, NULL, OPT_PROXY_IDLE },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void usage(FILE *f)
{
	fputs("usage: weir run -c POLICY [options]\n"
	      "  -c, --policy FILE        the policy to enforce\n"
	      "  -q, --queues N           worker threads, one NFQUEUE each (1)\n"
	      "      --queue-base N       first queue number (0)\n"
	      "      --fail-closed        drop, not accept, what weir cannot\n"
	      "                           handle (overload, shutdown)\n"
	      "      --no-queue-bypass    while no weir listens, steered\n"
	      "                           packets are dropped (default: pass)\n"
	      "      --no-steer           install no rules: steer to the\n"
	      "                           queues yourself\n"
	      "      --no-connmark-bypass keep queueing flows the connect/\n"
	      "                           accept layers already permitted\n"
	      "      --netns PATH         attach in this network namespace\n"
	      "                           (repeatable; compartments 1, 2, ...)\n"
	      "      --control PATH       control socket (" DAEMON_CONTROL_DEFAULT
	      ")\n"
	      "      --tag TAG            names weir's rules (weir)\n"
	      "      --plugins DIR        plug-in directory\n"
	      "      --pend-timeout SEC   how long a pended packet waits (5)\n"
	      "      --queue-maxlen N     packets the kernel holds per queue\n"
	      "                           before the fail mode applies (65536)\n"
	      "      --copy-range N       bytes of each packet copied up, 320\n"
	      "                           to 65535 (default: whole packets if\n"
	      "                           a filter matches payload bytes or a\n"
	      "                           callout reads them, else 320)\n"
	      "      --proxy-workers N    application tier threads, each\n"
	      "                           accepting on every listener (1)\n"
	      "      --proxy-max-sessions N  sessions per proxy thread; more\n"
	      "                           are refused with a reset (10000)\n"
	      "      --proxy-idle SEC     a session with no data either way for\n"
	      "                           this long is ended (300)\n",
	      f);
}

static int parse_uint(const char *s, unsigned long max, unsigned long *ret)
{
	char *end;

	errno = 0;
	*ret = strtoul(s, &end, 10);
	return errno || end == s || *end || *ret > max ? -EINVAL : 0;
}

static int parse_opt(int c, struct daemon_opts *o)
{
	unsigned long v;
	double sec;

	switch (c) {
	case 'c': o->policy_path = optarg; return 0;
	case 'q':
		if (parse_uint(optarg, 64, &v) < 0 || !v)
			return -EINVAL;
		o->nqueues = (unsigned)v;
		return 0;
	case OPT_QBASE:
		if (parse_uint(optarg, 65535, &v) < 0)
			return -EINVAL;
		o->queue_base = (uint16_t)v;
		return 0;
	case OPT_FAIL_CLOSED: o->fail_closed = true; return 0;
	case OPT_NO_QBYPASS: o->queue_bypass = false; return 0;
	case OPT_NO_STEER: o->steer = false; return 0;
	case OPT_NO_CMBYPASS: o->connmark_bypass = false; return 0;
	case OPT_NETNS:
		if (o->nnetns == DAEMON_MAX_NETNS)
			return -E2BIG;
		o->netns[o->nnetns++] = optarg;
		return 0;
	case OPT_CONTROL: o->control_path = optarg; return 0;
	case OPT_TAG: o->tag = optarg; return 0;
	case OPT_PLUGINS: o->plugin_dir = optarg; return 0;
	case OPT_MAXLEN:
		if (parse_uint(optarg, 1u << 24, &v) < 0 || !v)
			return -EINVAL;
		o->queue_maxlen = (uint32_t)v;
		return 0;
	case OPT_COPY:
		/* Below the headers every packet would be cut short. */
		if (parse_uint(optarg, 0xffff, &v) < 0 ||
		    v < WEIR_HEADERS_COPY)
			return -EINVAL;
		o->copy_range = (uint32_t)v;
		return 0;
	case OPT_PROXY_WORKERS:
		if (parse_uint(optarg, 64, &v) < 0 || !v)
			return -EINVAL;
		o->proxy_workers = (unsigned)v;
		return 0;
	case OPT_PROXY_MAX:
		if (parse_uint(optarg, 1000000, &v) < 0 || !v)
			return -EINVAL;
		o->proxy_max_sessions = (unsigned)v;
		return 0;
	case OPT_PROXY_IDLE:
		sec = strtod(optarg, NULL);
		if (!(sec > 0) || sec > 86400)
			return -EINVAL;
		o->proxy_idle_ns = (uint64_t)(sec * 1e9);
		return 0;
	case OPT_PEND_TIMEOUT:
		sec = strtod(optarg, NULL);
		if (!(sec > 0) || sec > 3600)
			return -EINVAL;
		o->pend_timeout_ns = (uint64_t)(sec * 1e9);
		return 0;
	default:
		return -EINVAL;
	}
}

static int parse_args(int argc, char **argv, struct daemon_opts *o)
{
	int c;

	*o = (struct daemon_opts){ .queue_bypass = true, .steer = true,
				   .connmark_bypass = true };
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:q:h", long_opts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 1;
		}
		if (parse_opt(c, o) < 0) {
			if (c != '?')
				fprintf(stderr, "weir run: bad value '%s'\n",
					optarg);
			usage(stderr);
			return -EINVAL;
		}
	}
	if (!o->policy_path || optind != argc) {
		usage(stderr);
		return -EINVAL;
	}
	return 0;
}

/* Signals arrive as reads on a signalfd; blocked before any worker
 * thread starts, so that only this thread sees them. */
static int signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

/* Returns true when the daemon should stop. */
static bool on_signal(int sfd, struct daemon *d)
{
	struct signalfd_siginfo si;

	while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo != SIGHUP)
			return true;
		fprintf(stderr, "weir: SIGHUP: reloading %s\n",
			d->o.policy_path);
		daemon_reload(d);
	}
	return false;
}

static void serve(struct daemon *d, int sfd, int cfd)
{
	for (;;) {
		struct pollfd p[2] = { { .fd = sfd, .events = POLLIN },
				       { .fd = cfd, .events = POLLIN } };

		if (poll(p, cfd >= 0 ? 2 : 1, -1) < 0 && errno != EINTR)
			return;
		if ((p[0].revents & POLLIN) && on_signal(sfd, d))
			return;
		if (cfd >= 0 && (p[1].revents & POLLIN) &&
		    control_serve(cfd, d) == CONTROL_STOP)
			return;
	}
}

int weir_cmd_run(int argc, char **argv)
{
	struct daemon_opts o;
	struct daemon d;
	const char *cpath;
	int rc = parse_args(argc, argv, &o), sfd, cfd;

	if (rc)
		return rc > 0 ? 0 : 2;
	cpath = o.control_path ? o.control_path : DAEMON_CONTROL_DEFAULT;
	sfd = signals();
	cfd = control_listen(cpath);
	if (sfd < 0 || cfd < 0) {
		fprintf(stderr, "weir run: control socket %s: %s\n", cpath,
			strerror(cfd < 0 ? -cfd : errno));
		return 1;
	}
	if (daemon_start(&d, &o) < 0) {
		close(cfd);
		unlink(cpath);
		return 1;
	}
	fprintf(stderr, "weir: running: %zu filters, %u compartment(s), "
			"%u queue(s) each from %u, fail-%s\n", d.nids, d.ncomp,
		d.o.nqueues, d.o.queue_base,
		o.fail_closed ? "closed" : "open");
	serve(&d, sfd, cfd);
	fprintf(stderr, "weir: stopping\n");
	daemon_stop(&d);
	close(cfd);
	unlink(cpath);
	close(sfd);
	return 0;
}
