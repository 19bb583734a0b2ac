/* `weir check POLICY`: placeholder until the policy language lands. */
#include <stdio.h>

#include "cli/cli.h"

int weir_cmd_check(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "weir check: the policy language is not built yet\n");
	return 2;
}
