/* `weir replay -p POLICY -r IN.pcap [-w OUT.pcap] [--log FILE] ...`:
 * runs a capture through the real engine and the policy's plug-ins
 * without root, logs each packet's verdict and prints per-filter hits.
 * This file reads the command line; src/replay/ does the work.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "replay/replay.h"

enum { OPT_LOG = 256, OPT_PLUGINS, OPT_PEND_TIMEOUT };

static const struct option long_opts[] = {
	{ "policy", required_argument, NULL, 'p' },
	{ "read", required_argument, NULL, 'r' },
	{ "write", required_argument, NULL, 'w' },
	{ "log", required_argument, NULL, OPT_LOG },
	{ "local", required_argument, NULL, 'l' },
	{ "iface", required_argument, NULL, 'i' },
	{ "plugins", required_argument, NULL, OPT_PLUGINS },
	{ "pend-timeout", required_argument, NULL, OPT_PEND_TIMEOUT },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void usage(FILE *f)
{
	fputs("usage: weir replay -p POLICY -r IN.pcap [options]\n"
	      "  -p, --policy FILE       the policy to apply\n"
	      "  -r, --read FILE         capture to replay (pcap or pcapng)\n"
	      "  -w, --write FILE        write the permitted packets here\n"
	      "      --log FILE          one JSON line per packet ('-': stdout)\n"
	      "  -l, --local PREFIX      the host's own addresses (repeatable);\n"
	      "                          they decide each packet's direction\n"
	      "  -i, --iface NAME=PREFIX packets from PREFIX arrive on NAME,\n"
	      "                          packets to it leave by NAME (repeatable)\n"
	      "      --plugins DIR       plug-in directory (default: the policy's,\n"
	      "                          else " WEIR_PLUGIN_INSTALL_DIR ")\n"
	      "      --pend-timeout SEC  how long a pended packet waits (5)\n"
	      "  -q, --quiet             no summary\n", f);
}

/* Seconds with an optional fraction, as nanoseconds; 0 when invalid. */
static uint64_t parse_seconds(const char *s)
{
	char *end;
	double d = strtod(s, &end);

	if (end == s || *end || !(d > 0) || d > 1e9)
		return 0;
	return (uint64_t)(d * 1e9 + 0.5);
}

static int short_usage(void)
{
	fputs("usage: weir replay -p POLICY -r IN.pcap [options]"
	      " (--help lists them)\n", stderr);
	return 2;
}

static int bad_arg(const char *what, const char *arg)
{
	fprintf(stderr, "weir replay: bad %s '%s'\n", what, arg);
	return 2;
}

/* Reads one option into *o; 0, or the exit status to stop with. */
static int take(int c, const char *arg, struct replay_opts *o,
		struct replay_prefix *local, struct replay_iface *ifaces)
{
	switch (c) {
	case 'p': o->policy = arg; return 0;
	case 'r': o->in_path = arg; return 0;
	case 'w': o->out_path = arg; return 0;
	case OPT_LOG: o->log_path = arg; return 0;
	case OPT_PLUGINS: o->plugin_dir = arg; return 0;
	case 'q': o->quiet = true; return 0;
	case 'l':
		if (replay_prefix_parse(arg, &local[o->nlocal]) < 0)
			return bad_arg("address or prefix", arg);
		o->nlocal++;
		return 0;
	case 'i':
		if (replay_iface_parse(arg, &ifaces[o->niface]) < 0)
			return bad_arg("interface (NAME=PREFIX)", arg);
		ifaces[o->niface].index = (uint32_t)o->niface + 1;
		o->niface++;
		return 0;
	case OPT_PEND_TIMEOUT:
		o->pend_timeout_ns = parse_seconds(arg);
		return o->pend_timeout_ns ? 0 : bad_arg("time-out", arg);
	case 'h':
		usage(stdout);
		return -1;
	case ':':
		fprintf(stderr, "weir replay: %s needs an argument\n", arg);
		return 2;
	default:
		fprintf(stderr, "weir replay: unknown option '%s'\n", arg);
		return short_usage();
	}
}

static int parse_args(int argc, char **argv, struct replay_opts *o,
		      struct replay_prefix *local, struct replay_iface *ifaces)
{
	int c, rc;

	optind = 0; /* GNU: start afresh */
	opterr = 0; /* reported here, naming the option as typed */
	while ((c = getopt_long(argc, argv, ":p:r:w:l:i:qh", long_opts,
				NULL)) != -1) {
		const char *arg = c == '?' || c == ':' ? argv[optind - 1]
						       : optarg;

		if ((rc = take(c, arg, o, local, ifaces)) != 0)
			return rc;
	}
	if (optind < argc) {
		fprintf(stderr, "weir replay: unexpected argument '%s'\n",
			argv[optind]);
		return 2;
	}
	if (!o->policy || !o->in_path)
		return short_usage();
	return 0;
}

int weir_cmd_replay(int argc, char **argv)
{
	struct replay_opts o = { 0 };
	struct replay_prefix *local = calloc((size_t)argc, sizeof(*local));
	struct replay_iface *ifaces = calloc((size_t)argc, sizeof(*ifaces));
	int rc = 2;

	if (local && ifaces) {
		o.local = local;
		o.ifaces = ifaces;
		rc = parse_args(argc, argv, &o, local, ifaces);
		if (rc == 0)
			rc = replay_run(&o);
		else if (rc < 0)
			rc = 0; /* --help */
	} else {
		fprintf(stderr, "weir replay: out of memory\n");
	}
	free(local);
	free(ifaces);
	return rc;
}
