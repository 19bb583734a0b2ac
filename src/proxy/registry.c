/* Registered data filters: a process-wide table of (engine, filter)
 * entries under one lock. Registration is rare (plug-in init and fini)
 * and a session looks its filters up once, at its start, so a lock is
 * cheaper than anything cleverer; keeping the table outside the engine
 * means nothing is left to free when the last filter goes.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/proxy_internal.h"

#define NAME_MAX_ 63

struct entry {
	struct weir_engine *engine;
	char name[NAME_MAX_ + 1];
	struct weir_datafilter df;     /* df.name points at name */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry *table;
static size_t n, cap;

static struct entry *find(struct weir_engine *e, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (table[i].engine == e && !strcmp(table[i].name, name))
			return &table[i];
	return NULL;
}

static int grow(void)
{
	size_t nc = cap ? cap * 2 : 8;
	struct entry *t = realloc(table, nc * sizeof(*t));

	if (!t)
		return -ENOMEM;
	table = t;
	cap = nc;
	return 0;
}

int weir_datafilter_register(struct weir_engine *engine,
			     const struct weir_datafilter *df)
{
	int rc = 0;

	if (!engine || !df || !df->name || !df->name[0] || !df->attach ||
	    strlen(df->name) > NAME_MAX_)
		return -EINVAL;
	pthread_mutex_lock(&lock);
	if (find(engine, df->name))
		rc = -EEXIST;
	else if (n == cap)
		rc = grow();
	if (!rc) {
		struct entry *en = &table[n++];

		en->engine = engine;
		strcpy(en->name, df->name);
		en->df = *df;
		en->df.name = NULL;  /* set on copy-out: entries move */
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

int weir_datafilter_unregister(struct weir_engine *engine, const char *name)
{
	struct entry *en;
	int rc = -ENOENT;

	pthread_mutex_lock(&lock);
	en = name ? find(engine, name) : NULL;
	if (en) {
		*en = table[--n];
		rc = 0;
	}
	if (!n) {
		free(table);
		table = NULL;
		cap = 0;
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

int weir__datafilter_get(struct weir_engine *engine, const char *name,
			 struct weir_datafilter *ret)
{
	struct entry *en;
	int rc = -ENOENT;

	pthread_mutex_lock(&lock);
	en = find(engine, name);
	if (en) {
		*ret = en->df;
		ret->name = NULL;
		rc = 0;
	}
	pthread_mutex_unlock(&lock);
	return rc;
}
