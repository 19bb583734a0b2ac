/* Where a policy's plug-ins are looked for, shared by `weir run` and
 * `weir replay`. */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

char *weir_cli_plugin_dir(const char *policy_path,
			  const struct weir_policy *policy,
			  const char *override)
{
	const char *d = weir_policy_plugin_dir(policy);
	char *copy, *out = NULL;

	if (override)
		return strdup(override);
	if (!d)
		return strdup(WEIR_PLUGIN_INSTALL_DIR);
	if (d[0] == '/')
		return strdup(d);
	/* Relative to the policy file, so a policy and its plug-ins can
	 * move together. */
	copy = strdup(policy_path);
	if (copy && asprintf(&out, "%s/%s", dirname(copy), d) < 0)
		out = NULL;
	free(copy);
	return out;
}
