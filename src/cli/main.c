/* The `weir` command: dispatches to one file per command (cmd_*.c). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

#ifndef WEIR_VERSION
#define WEIR_VERSION "unknown"
#endif

struct command {
	const char *name;
	const char *args;
	const char *help;
	int (*run)(int argc, char **argv);
};

static const struct command commands[] = {
	{ "parse", "HEX", "decode one IP packet given as hex digits (spaces\n"
	  "                   and colons ignored); print headers and checksums",
	  weir_cmd_parse },
	{ "check", "POLICY", "validate a policy file; errors name file:line:col",
	  weir_cmd_check },
	{ "replay", "[OPTIONS]", "run a capture through the engine and plug-ins\n"
	  "                   offline: verdicts, per-filter hits (--help)",
	  weir_cmd_replay },
	{ "run", "-c POLICY", "filter live traffic: the daemon over NFQUEUE\n"
	  "                   (--help); SIGHUP reloads, SIGTERM stops",
	  weir_cmd_run },
	{ "stats", "[--json]", "counters of the running daemon",
	  weir_cmd_stats },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: weir COMMAND [ARGS]\n\ncommands:\n"
		   "  version          print the version\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-6s %-9s %s\n", commands[i].name,
			commands[i].args, commands[i].help);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
		printf("weir %s\n", WEIR_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	usage(stderr);
	return 2;
}
