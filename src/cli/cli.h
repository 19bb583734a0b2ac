/* Commands of the `weir` program. Each takes the arguments after the
 * command name (argv[0] is the command) and returns the exit status. */
#ifndef WEIR_CLI_H
#define WEIR_CLI_H

#include <weir/policy.h>

int weir_cmd_parse(int argc, char **argv);
int weir_cmd_check(int argc, char **argv);
int weir_cmd_replay(int argc, char **argv);
int weir_cmd_run(int argc, char **argv);
int weir_cmd_stats(int argc, char **argv);

struct weir_policy;

#ifndef WEIR_PLUGIN_INSTALL_DIR
#define WEIR_PLUGIN_INSTALL_DIR "/usr/local/lib/weir/plugins"
#endif

/* The plug-in directory for a policy: `override` when given, else the
 * policy's `plugins` setting (relative to the policy file), else the
 * install directory. Returns a string to free, NULL without memory. */
char *weir_cli_plugin_dir(const char *policy_path,
			  const struct weir_policy *policy,
			  const char *override);

#endif /* WEIR_CLI_H */
