/* The plug-in loader: dlopen, ABI check, init; and the small parameter
 * parser plug-ins use for their policy blocks.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weir/plugin.h>

struct weir_plugin {
	void *handle;
	const struct weir_plugin_ops *ops;
	struct weir_engine *engine;
	void *state;
};

static int fail(char *err, size_t len, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t len, int code, const char *fmt, ...)
{
	va_list ap;

	if (err && len) {
		va_start(ap, fmt);
		vsnprintf(err, len, fmt, ap);
		va_end(ap);
	}
	return code;
}

static bool name_ok(const char *n)
{
	if (!n || !*n || strlen(n) > 64)
		return false;
	for (; *n; n++)
		if (!(*n >= 'a' && *n <= 'z') && !(*n >= 'A' && *n <= 'Z') &&
		    !(*n >= '0' && *n <= '9') && *n != '-' && *n != '_')
			return false;
	return true;
}

/* Opens the file and finds its entry point; the ABI is checked before
 * anything else of the plug-in runs. */
static int open_plugin(struct weir_plugin *p, const char *path,
		       const char *name, char *err, size_t len)
{
	weir_plugin_entry_fn entry;

	p->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!p->handle)
		return fail(err, len, -ENOENT, "plugin %s: %s", name, dlerror());
	*(void **)&entry = dlsym(p->handle, "weir_plugin_entry");
	if (!entry)
		return fail(err, len, -ENOEXEC,
			    "plugin %s: %s has no weir_plugin_entry", name, path);
	p->ops = entry();
	if (!p->ops)
		return fail(err, len, -ENOEXEC, "plugin %s: no description",
			    name);
	if (p->ops->abi != WEIR_PLUGIN_ABI)
		return fail(err, len, -ENOEXEC,
			    "plugin %s: built for plug-in ABI %u, this weir "
			    "loads ABI %u; rebuild it against this weir",
			    name, p->ops->abi, WEIR_PLUGIN_ABI);
	if (!p->ops->name || strcmp(p->ops->name, name) || !p->ops->init)
		return fail(err, len, -ENOEXEC,
			    "plugin %s: calls itself \"%s\"", name,
			    p->ops->name ? p->ops->name : "");
	return 0;
}

int weir_plugin_load(struct weir_engine *engine, const char *dir,
		     const char *name, const char *params,
		     struct weir_plugin **ret_plugin, char *err, size_t errlen)
{
	struct weir_plugin *p;
	char path[4096];
	int rc;

	if (!engine || !dir || !ret_plugin || !name_ok(name))
		return fail(err, errlen, -EINVAL, "plugin name \"%s\" is not "
			    "letters, digits, '-' and '_'", name ? name : "");
	if ((size_t)snprintf(path, sizeof(path), "%s/%s.so", dir, name) >=
	    sizeof(path))
		return fail(err, errlen, -ENAMETOOLONG, "plugin path too long");
	p = calloc(1, sizeof(*p));
	if (!p)
		return fail(err, errlen, -ENOMEM, "out of memory");
	p->engine = engine;
	rc = open_plugin(p, path, name, err, errlen);
	if (!rc) {
		rc = p->ops->init(engine, params ? params : "", &p->state);
		if (rc)
			fail(err, errlen, rc, "plugin %s: init failed: %s",
			     name, strerror(-rc));
	}
	if (rc) {
		if (p->handle)
			dlclose(p->handle);
		free(p);
		return rc;
	}
	*ret_plugin = p;
	return 0;
}

void weir_plugin_unload(struct weir_plugin *p)
{
	if (!p)
		return;
	if (p->ops->fini)
		p->ops->fini(p->engine, p->state);
	dlclose(p->handle);
	free(p);
}

const char *weir_plugin_name(const struct weir_plugin *p)
{
	return p->ops->name;
}

int weir_param_get(const char *params, const char *key, char *buf,
		   size_t len)
{
	size_t klen = strlen(key);
	const char *p = params;

	while (p && *p) {
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == ';')
			p++;
		if (!strncmp(p, key, klen) && p[klen] == '=') {
			const char *v = p + klen + 1;
			size_t n = strcspn(v, ";\n");

			if (n >= len)
				return -ENOSPC;
			memcpy(buf, v, n);
			buf[n] = '\0';
			return 0;
		}
		p += strcspn(p, ";\n");
	}
	return -ENOENT;
}

int weir_param_open(const char *params, const char *key, FILE *def,
		    FILE **ret_file)
{
	char path[4096];
	FILE *f;

	if (weir_param_get(params, key, path, sizeof(path)) < 0) {
		*ret_file = def;
		return 0;
	}
	f = fopen(path, "ae");
	if (!f)
		return -errno;
	*ret_file = f;
	return 0;
}

void weir_param_close(FILE *f, FILE *def)
{
	if (f && f != def)
		fclose(f);
}
