/* weir plug-ins: shared objects that register callouts (and, later, data
 * filters) through the same API an embedding program uses.
 *
 * A plug-in exports exactly one symbol, `weir_plugin_entry`, returning a
 * static description with the ABI version it was built for. The loader
 * refuses a plug-in whose ABI differs, with a message naming both
 * versions, before calling anything else in it.
 *
 *     const struct weir_plugin_ops *weir_plugin_entry(void)
 *     {
 *             static const struct weir_plugin_ops ops = {
 *                     .abi = WEIR_PLUGIN_ABI, .name = "log",
 *                     .init = log_init, .fini = log_fini };
 *             return &ops;
 *     }
 */
#ifndef WEIR_PLUGIN_H
#define WEIR_PLUGIN_H

#include <stddef.h>
#include <stdio.h>

#include <weir/callout.h>
#include <weir/engine.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped whenever a public struct or callback a plug-in uses changes. */
#define WEIR_PLUGIN_ABI 2

struct weir_plugin_ops {
	unsigned abi;               /* WEIR_PLUGIN_ABI */
	const char *name;           /* must equal the file name's stem */
	const char *description;
	/* Registers the plug-in's callouts with `engine`. `params` is the
	 * text of the policy's parameter block ("key=value" lines, "" when
	 * none). The plug-in keeps its instance state in *ret_state. 0 or a
	 * negative errno; on error nothing may stay registered. */
	int (*init)(struct weir_engine *engine, const char *params,
		    void **ret_state);
	/* Unregisters what init registered and frees the state. */
	void (*fini)(struct weir_engine *engine, void *state);
};

typedef const struct weir_plugin_ops *(*weir_plugin_entry_fn)(void);

struct weir_plugin;

/* Loads DIR/NAME.so, checks its ABI and name, and runs its init with
 * `params`. NAME is letters, digits, '-' and '_' only. On failure returns
 * a negative errno and writes a reason to err (when given): -ENOENT (no
 * such file), -ENOEXEC (not a plug-in, or ABI mismatch), init's error. */
int weir_plugin_load(struct weir_engine *engine, const char *dir,
		     const char *name, const char *params,
		     struct weir_plugin **ret_plugin, char *err, size_t errlen);
/* Runs fini and unloads. NULL is fine. The engine must outlive it. */
void weir_plugin_unload(struct weir_plugin *plugin);
/* The plug-in's name. */
const char *weir_plugin_name(const struct weir_plugin *plugin);

/* Looks up `key` in a "key=value" parameter text (one per line, or
 * separated by ';'); copies the value into buf. 0, -ENOENT, -ENOSPC. */
int weir_param_get(const char *params, const char *key, char *buf,
		   size_t len);

/* The stream the parameter `key` names as a path (opened for appending,
 * close-on-exec), or `def` when the parameter is absent. 0 or the
 * negative errno of the open. Close it with weir_param_close(). */
int weir_param_open(const char *params, const char *key, FILE *def,
		    FILE **ret_file);
/* Closes a stream from weir_param_open() unless it is `def`. */
void weir_param_close(FILE *f, FILE *def);

/* For JSON log lines: s (NULL: "") as the inside of a JSON string, with
 * quotes, backslashes and control characters escaped, into buf (len
 * bytes with the NUL; cut before an escape that does not fit). Returns
 * the length written. */
size_t weir_json_escape(const char *s, char *buf, size_t len);
/* s (NULL: "") as a JSON string, quotes included, to f. */
void weir_json_put(FILE *f, const char *s);

#ifdef __cplusplus
}
#endif

#endif /* WEIR_PLUGIN_H */
