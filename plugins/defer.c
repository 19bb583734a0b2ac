/* The `defer` callout: pends every classification it is asked for and
 * decides it later from its own thread, after `delay` milliseconds, as
 * a callout that consults something slow (a user prompt, a reputation
 * service) would. The sample of WFP's pend/complete pattern on weir.
 *
 * Parameters: delay=MS (default 200), action=permit|block (default
 * permit). When the engine cannot pend (limit reached), it decides at
 * once with the same action.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <weir/plugin.h>

struct deferred {
	uint64_t pend_id;
	uint64_t due_ns;
	struct deferred *next;
};

struct defer_state {
	struct weir_engine *engine;
	uint64_t delay_ns;
	uint8_t action;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct deferred *head, *tail;   /* in due order: one fixed delay */
	bool stop;
	pthread_t thread;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void defer_classify(void *priv, const struct weir_classify_in *in,
			   const struct weir_filter_view *filter,
			   uint64_t flow_ctx, struct weir_callout_out *out)
{
	struct defer_state *st = priv;
	struct deferred *d = malloc(sizeof(*d));

	(void)flow_ctx;
	if (!d || weir_pend(in, filter, out, &d->pend_id) < 0) {
		free(d);
		out->action = st->action;
		return;
	}
	d->due_ns = now_ns() + st->delay_ns;
	d->next = NULL;
	pthread_mutex_lock(&st->lock);
	if (st->tail)
		st->tail->next = d;
	else
		st->head = d;
	st->tail = d;
	pthread_cond_signal(&st->cond);
	pthread_mutex_unlock(&st->lock);
}

/* Waits until the first entry is due (or stop), and takes it. */
static struct deferred *next_due(struct defer_state *st)
{
	struct deferred *d;

	while (!st->stop) {
		uint64_t now = now_ns();
		struct timespec ts;

		if (!st->head) {
			pthread_cond_wait(&st->cond, &st->lock);
			continue;
		}
		if (st->head->due_ns <= now)
			break;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)(st->head->due_ns - now);
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&st->cond, &st->lock, &ts);
	}
	d = st->head;
	if (d && (st->head = d->next) == NULL)
		st->tail = NULL;
	return d;
}

static void *defer_thread(void *arg)
{
	struct defer_state *st = arg;
	struct deferred *d;

	pthread_mutex_lock(&st->lock);
	while ((d = next_due(st)) != NULL) {
		pthread_mutex_unlock(&st->lock);
		/* On stop, the rest is decided at once. -ETIMEDOUT: the
		 * engine's timeout ended it already. */
		weir_pend_complete(st->engine, d->pend_id, st->action, NULL);
		free(d);
		pthread_mutex_lock(&st->lock);
	}
	pthread_mutex_unlock(&st->lock);
	return NULL;
}

static void defer_fini_thread(struct defer_state *st);

static int parse(struct defer_state *st, const char *params)
{
	char buf[32];
	long ms = 200;

	if (weir_param_get(params, "delay", buf, sizeof(buf)) == 0) {
		char *end;

		ms = strtol(buf, &end, 10);
		if (*end || ms < 0 || ms > 3600000)
			return -EINVAL;
	}
	st->delay_ns = (uint64_t)ms * 1000000u;
	st->action = WEIR_ACTION_PERMIT;
	if (weir_param_get(params, "action", buf, sizeof(buf)) == 0) {
		if (!strcmp(buf, "block"))
			st->action = WEIR_ACTION_BLOCK;
		else if (strcmp(buf, "permit"))
			return -EINVAL;
	}
	return 0;
}

static int defer_init(struct weir_engine *engine, const char *params,
		      void **ret_state)
{
	struct defer_state *st = calloc(1, sizeof(*st));
	int rc;

	if (!st)
		return -ENOMEM;
	st->engine = engine;
	rc = parse(st, params);
	if (rc < 0) {
		free(st);
		return rc;
	}
	pthread_mutex_init(&st->lock, NULL);
	pthread_cond_init(&st->cond, NULL);
	rc = -pthread_create(&st->thread, NULL, defer_thread, st);
	if (rc < 0) {
		free(st);
		return rc;
	}
	rc = weir_callout_register(engine, &(struct weir_callout){
		.name = "defer", .classify = defer_classify, .priv = st,
		/* Pends by filter, not by flow: reads no flow state. */
		.flags = WEIR_CALLOUT_FLOWLESS });
	if (rc < 0) {
		defer_fini_thread(st);
		return rc;
	}
	*ret_state = st;
	return 0;
}

static void defer_fini_thread(struct defer_state *st)
{
	pthread_mutex_lock(&st->lock);
	st->stop = true;
	pthread_cond_signal(&st->cond);
	pthread_mutex_unlock(&st->lock);
	pthread_join(st->thread, NULL);
	/* Stopped early: decide what is left now. */
	while (st->head) {
		struct deferred *d = st->head;

		st->head = d->next;
		weir_pend_complete(st->engine, d->pend_id, st->action, NULL);
		free(d);
	}
	pthread_mutex_destroy(&st->lock);
	pthread_cond_destroy(&st->cond);
	free(st);
}

static void defer_fini(struct weir_engine *engine, void *state)
{
	weir_callout_unregister(engine, "defer");
	defer_fini_thread(state);
}

const struct weir_plugin_ops *weir_plugin_entry(void);
const struct weir_plugin_ops *weir_plugin_entry(void)
{
	static const struct weir_plugin_ops ops = {
		.abi = WEIR_PLUGIN_ABI, .name = "defer",
		.description = "pends each classification and decides it "
			       "later from its own thread",
		.init = defer_init, .fini = defer_fini };

	return &ops;
}
