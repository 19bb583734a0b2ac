/* Registered data and session filters: a process-wide table of (engine,
 * kind, filter) entries under one lock. Registration is rare (plug-in init and fini)
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

enum kind { DATA, SESSION };

struct entry {
	struct weir_engine *engine;
	enum kind kind;                /* names are unique per kind */
	char name[NAME_MAX_ + 1];
	union {
		struct weir_datafilter df;     /* .name NULL: entries move */
		struct weir_sessionfilter sf;
	} u;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry *table;
static size_t n, cap;

static struct entry *find(struct weir_engine *e, enum kind k,
			  const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (table[i].engine == e && table[i].kind == k &&
		    !strcmp(table[i].name, name))
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

static int add(struct weir_engine *engine, enum kind k, const char *name,
	       const void *filter)
{
	int rc = 0;

	pthread_mutex_lock(&lock);
	if (find(engine, k, name))
		rc = -EEXIST;
	else if (n == cap)
		rc = grow();
	if (!rc) {
		struct entry *en = &table[n++];

		en->engine = engine;
		en->kind = k;
		strcpy(en->name, name);
		if (k == DATA) {
			en->u.df = *(const struct weir_datafilter *)filter;
			en->u.df.name = NULL;
		} else {
			en->u.sf = *(const struct weir_sessionfilter *)filter;
			en->u.sf.name = NULL;
		}
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

static int del(struct weir_engine *engine, enum kind k, const char *name)
{
	struct entry *en;
	int rc = -ENOENT;

	pthread_mutex_lock(&lock);
	en = name ? find(engine, k, name) : NULL;
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

/* Copies the entry out (its name field NULL): 0 or -ENOENT. */
static int get(struct weir_engine *engine, enum kind k, const char *name,
	       void *ret)
{
	struct entry *en;
	int rc = -ENOENT;

	pthread_mutex_lock(&lock);
	en = find(engine, k, name);
	if (en && k == DATA)
		*(struct weir_datafilter *)ret = en->u.df;
	else if (en)
		*(struct weir_sessionfilter *)ret = en->u.sf;
	if (en)
		rc = 0;
	pthread_mutex_unlock(&lock);
	return rc;
}

static bool name_ok(const char *name)
{
	return name && name[0] && strlen(name) <= NAME_MAX_;
}

int weir_datafilter_register(struct weir_engine *engine,
			     const struct weir_datafilter *df)
{
	if (!engine || !df || !name_ok(df->name) || !df->attach)
		return -EINVAL;
	return add(engine, DATA, df->name, df);
}

int weir_datafilter_unregister(struct weir_engine *engine, const char *name)
{
	return del(engine, DATA, name);
}

int weir__datafilter_get(struct weir_engine *engine, const char *name,
			 struct weir_datafilter *ret)
{
	return get(engine, DATA, name, ret);
}

int weir_sessionfilter_register(struct weir_engine *engine,
				const struct weir_sessionfilter *sf)
{
	if (!engine || !sf || !name_ok(sf->name) || !sf->event)
		return -EINVAL;
	return add(engine, SESSION, sf->name, sf);
}

int weir_sessionfilter_unregister(struct weir_engine *engine,
				  const char *name)
{
	return del(engine, SESSION, name);
}

int weir__sessionfilter_get(struct weir_engine *engine, const char *name,
			    struct weir_sessionfilter *ret)
{
	return get(engine, SESSION, name, ret);
}
