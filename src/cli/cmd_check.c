/* `weir check [-v] POLICY`: parses and validates a policy file; prints
 * the first error as FILE:LINE:COL with the line and a caret, or a
 * summary (and with -v every filter spec the policy compiles to).
 */
#include <stdio.h>
#include <string.h>

#include <weir/policy.h>

#include "cli/cli.h"

static void print_error(const struct weir_policy_error *err)
{
	char buf[1024];

	weir_policy_error_format(err, buf, sizeof(buf));
	fputs(buf, stderr);
}

/* "k=v\nk2=v2\n" as the policy wrote it: k = "v"; k2 = "v2"; */
static void print_params(const char *params)
{
	for (const char *p = params; *p; p++) {
		const char *eq = strchr(p, '='), *nl = strchr(p, '\n');

		if (!eq || !nl || eq > nl)
			break;
		printf("%.*s = \"", (int)(eq - p), p);
		for (p = eq + 1; p < nl; p++)
			printf(*p == '"' || *p == '\\' ? "\\%c" :
			       (unsigned char)*p < 0x20 ? "\\x%02x" : "%c",
			       (unsigned char)*p);
		printf("\"; ");
	}
}

static void list(const struct weir_policy *p)
{
	char buf[8192];

	for (size_t i = 0; i < weir_policy_sublayer_count(p); i++) {
		const struct weir_policy_sublayer *s =
			weir_policy_sublayer_at(p, i);

		printf("sublayer \"%s\" weight 0x%04x;\n", s->name, s->weight);
	}
	for (int l = WEIR_LAYER_NONE + 1; l < WEIR_LAYER__COUNT; l++)
		if (weir_policy_default(p, l))
			printf("default %s %s;\n", weir_layer_name(l),
			       weir_policy_default(p, l) == WEIR_ACTION_BLOCK
			       ? "block" : "permit");
	if (weir_policy_plugin_dir(p))
		printf("plugins \"%s\";\n", weir_policy_plugin_dir(p));
	for (size_t i = 0; i < weir_policy_plugin_count(p); i++) {
		const struct weir_policy_plugin *pl =
			weir_policy_plugin_at(p, i);

		if (!pl->params[0]) {
			printf("plugin %s;\n", pl->name);
			continue;
		}
		printf("plugin %s { ", pl->name);
		print_params(pl->params);
		printf("}\n");
	}
	for (size_t i = 0; i < weir_policy_filter_count(p); i++) {
		const struct weir_policy_filter *f =
			weir_policy_filter_at(p, i);

		weir_policy_format_filter(&f->spec, f->sublayer, buf,
					  sizeof(buf));
		printf("%s  # line %u\n", buf, f->line);
	}
}

int weir_cmd_check(int argc, char **argv)
{
	struct weir_policy_error err;
	struct weir_policy *p;
	bool verbose = argc == 3 && !strcmp(argv[1], "-v");
	const char *path = argv[verbose ? 2 : 1];

	if (argc != 2 && !verbose) {
		fprintf(stderr, "usage: weir check [-v] POLICY\n");
		return 2;
	}
	if (weir_policy_load(path, &p, &err) < 0) {
		print_error(&err);
		return 1;
	}
	if (verbose)
		list(p);
	printf("%s: ok: %zu filters, %zu sublayers, %zu plug-ins\n", path,
	       weir_policy_filter_count(p), weir_policy_sublayer_count(p),
	       weir_policy_plugin_count(p));
	weir_policy_free(p);
	return 0;
}
