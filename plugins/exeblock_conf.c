/* exeblock's configuration: the plug-in's parameters are the defaults,
 * a binding's (`datafilter exeblock on web { mode = preview; }`)
 * override them. Sessions of every worker share one configuration per
 * distinct binding text, made on first use and kept until the plug-in
 * unloads (a reload with new parameters adds one; they are small).
 *
 * Detectors hold a libmagic handle, which one thread at a time may use:
 * a configuration keeps a pool of idle ones, a decision takes one for
 * the few microseconds it runs and gives it back, so there are never
 * more than there are workers deciding at once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <weir/plugin.h>

#include "exeblock.h"

#define EB_PREVIEW_DEFAULT 4096u
#define EB_SPOOL_MAX_DEFAULT (64ull << 20)

/* The binding's value of key, else the plug-in's. */
static int param(const struct eb *eb, const char *bparams, const char *key,
		 char *buf, size_t len)
{
	int rc = weir_param_get(bparams, key, buf, len);

	return rc == -ENOENT ? weir_param_get(eb->params, key, buf, len) : rc;
}

/* "123", "64k", "64M", "1G" (powers of 1024). */
static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	default: break;
	}
	if (*end)
		return -EINVAL;
	*out = v;
	return 0;
}

static int conf_mode(struct eb *eb, const char *bp, struct eb_conf *c)
{
	char v[64];
	uint64_t n;
	int rc;

	c->mode = EB_SPOOL;
	c->preview = EB_PREVIEW_DEFAULT;
	c->spool_max = EB_SPOOL_MAX_DEFAULT;
	c->cap_pass = true;
	if ((rc = param(eb, bp, "mode", v, sizeof(v))) == 0) {
		if (!strcmp(v, "preview"))
			c->mode = EB_PREVIEW;
		else if (strcmp(v, "spool"))
			return -EINVAL;
	} else if (rc != -ENOENT) {
		return rc;
	}
	if ((rc = param(eb, bp, "preview", v, sizeof(v))) == 0) {
		if (parse_size(v, &n) || !n || n > EB_HOLD_MAX)
			return -EINVAL;
		c->preview = (uint32_t)n;
	} else if (rc != -ENOENT) {
		return rc;
	}
	if ((rc = param(eb, bp, "spool_max", v, sizeof(v))) == 0) {
		if (parse_size(v, &c->spool_max) || !c->spool_max)
			return -EINVAL;
	} else if (rc != -ENOENT) {
		return rc;
	}
	if ((rc = param(eb, bp, "cap", v, sizeof(v))) == 0) {
		if (!strcmp(v, "block"))
			c->cap_pass = false;
		else if (strcmp(v, "pass"))
			return -EINVAL;
	} else if (rc != -ENOENT) {
		return rc;
	}
	return 0;
}

/* A string parameter, NULL when absent. */
static int conf_str(struct eb *eb, const char *bp, const char *key,
		    char **out)
{
	char v[1024];
	int rc = param(eb, bp, key, v, sizeof(v));

	*out = NULL;
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	*out = strdup(v);
	return *out ? 0 : -ENOMEM;
}

static int conf_files(struct eb *eb, const char *bp, struct eb_conf *c)
{
	char v[512];
	int rc;

	snprintf(c->dir, sizeof(c->dir), "/tmp");
	rc = param(eb, bp, "dir", c->dir, sizeof(c->dir));
	if (rc && rc != -ENOENT)
		return rc;
	if (rc)
		snprintf(c->dir, sizeof(c->dir), "/tmp");
	rc = param(eb, bp, "log", v, sizeof(v));
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	if (!strcmp(v, "stderr")) {
		c->log = stderr;
		return 0;
	}
	/* weir_param_open reads one text: the binding's wins. */
	return weir_param_open(weir_param_get(bp, "log", v, sizeof(v)) == 0
			       ? bp : eb->params, "log", NULL, &c->log);
}

static void conf_free(struct eb_conf *c)
{
	struct eb_det *d;

	while ((d = c->dets)) {
		c->dets = d->next;
		exedetect_free(d->d);
		free(d);
	}
	if (c->log && c->log != stderr)
		weir_param_close(c->log, NULL);
	pthread_mutex_destroy(&c->lock);
	free(c->types);
	free(c->sigs);
	free(c->key);
	free(c);
}

static int conf_new(struct eb *eb, const char *bp, struct eb_conf **ret)
{
	struct eb_conf *c = calloc(1, sizeof(*c));
	struct exedetect *d;
	int rc;

	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	c->key = strdup(bp);
	rc = c->key ? conf_mode(eb, bp, c) : -ENOMEM;
	if (!rc)
		rc = conf_str(eb, bp, "types", &c->types);
	if (!rc)
		rc = conf_str(eb, bp, "signatures", &c->sigs);
	if (!rc)
		rc = conf_files(eb, bp, c);
	if (!rc) {
		/* One detector now: checks the lists and the database. */
		d = exedetect_new(c->types, c->sigs);
		if (d)
			eb_det_give(c, d);
		else
			rc = errno ? -errno : -EINVAL;
	}
	if (rc) {
		conf_free(c);
		return rc;
	}
	*ret = c;
	return 0;
}

int eb_conf_get(struct eb *eb, const char *bparams, struct eb_conf **ret)
{
	struct eb_conf *c;
	int rc = 0;

	if (!bparams)
		bparams = "";
	pthread_mutex_lock(&eb->lock);
	for (c = eb->confs; c; c = c->next)
		if (!strcmp(c->key, bparams))
			break;
	if (!c) {
		rc = conf_new(eb, bparams, &c);
		if (!rc) {
			c->next = eb->confs;
			eb->confs = c;
		}
	}
	pthread_mutex_unlock(&eb->lock);
	if (!rc)
		*ret = c;
	return rc;
}

void eb_conf_free_all(struct eb *eb)
{
	struct eb_conf *c;

	while ((c = eb->confs)) {
		eb->confs = c->next;
		conf_free(c);
	}
}

struct exedetect *eb_det_take(struct eb_conf *c)
{
	struct eb_det *e;
	struct exedetect *d = NULL;

	pthread_mutex_lock(&c->lock);
	e = c->dets;
	if (e)
		c->dets = e->next;
	pthread_mutex_unlock(&c->lock);
	if (e) {
		d = e->d;
		free(e);
		return d;
	}
	/* Another worker holds the idle one: make one more (the lists
	 * were checked when the configuration was made). */
	return exedetect_new(c->types, c->sigs);
}

void eb_det_give(struct eb_conf *c, struct exedetect *d)
{
	struct eb_det *e = malloc(sizeof(*e));

	if (!e) {
		exedetect_free(d);
		return;
	}
	e->d = d;
	pthread_mutex_lock(&c->lock);
	e->next = c->dets;
	c->dets = e;
	pthread_mutex_unlock(&c->lock);
}
