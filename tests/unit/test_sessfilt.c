/* Session filters' contract, without sockets: registration, events in
 * policy order until a verdict, TERMINATE once to every filter that saw
 * ACCEPT (with its context), attachments merged into the chain by class,
 * what may be called when. The proxy's structures are set up by hand:
 * only the fields these functions read.
 */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/proxy_internal.h"

/* What each filter heard, as letters: a=accept c=connect u=udp_dest
 * t=terminate, per filter. */
struct heard {
	char log[64];
	size_t n;
	enum weir_session_verdict on_accept, on_connect;
	int ctx_seen_at_end;            /* TERMINATE found its context */
	const char *attach;             /* attach this data filter at ACCEPT */
	unsigned attach_class;
	int attach_rc;
};

static enum weir_session_verdict ev_fn(void *priv, struct weir_session *s,
				       const struct weir_session_event_info *ev,
				       const char *params, void **ctx)
{
	struct heard *h = priv;
	static const char letter[] = "?acut";

	(void)params;
	h->log[h->n++] = letter[ev->kind];
	switch (ev->kind) {
	case WEIR_SESSION_ACCEPT:
		*ctx = h;
		if (h->attach)
			h->attach_rc = weir_session_attach(s, h->attach,
							   h->attach_class,
							   "k=v\n");
		return h->on_accept;
	case WEIR_SESSION_CONNECT:
		return h->on_connect;
	case WEIR_SESSION_TERMINATE:
		h->ctx_seen_at_end = *ctx == h;
		*ctx = NULL;
		return WEIR_SESSION_CONTINUE;
	default:
		return WEIR_SESSION_CONTINUE;
	}
}

static int df_attach(void *priv, struct weir_session *s,
		     struct weir_sock *in, struct weir_sock *out,
		     const char *params, void **ret)
{
	(void)priv, (void)s, (void)in, (void)out, (void)params, (void)ret;
	return 0;
}

struct fixture {
	struct weir_engine *engine;
	struct weir_policy *pol;
	struct weir__proxy p;
	struct weir__worker w;
	struct weir_session s;
	struct heard a, b;
};

static struct fixture fx;

static void setup_with(const char *policy, int transport)
{
	struct weir_policy_error err;
	struct weir_sessionfilter sa = { .name = "A", .event = ev_fn,
					 .priv = &fx.a };
	struct weir_sessionfilter sb = { .name = "B", .event = ev_fn,
					 .priv = &fx.b };
	struct weir_datafilter df = { .name = "tap", .attach = df_attach };

	memset(&fx, 0, sizeof(fx));
	fx.engine = weir_engine_new();
	assert_non_null(fx.engine);
	assert_int_equal(weir_policy_parse(policy, strlen(policy), "t.weir",
					   &fx.pol, &err), 0);
	assert_int_equal(weir_sessionfilter_register(fx.engine, &sa), 0);
	assert_int_equal(weir_sessionfilter_register(fx.engine, &sb), 0);
	assert_int_equal(weir_datafilter_register(fx.engine, &df), 0);
	df.name = "x";
	assert_int_equal(weir_datafilter_register(fx.engine, &df), 0);
	fx.p.o.engine = fx.engine;
	fx.p.o.policy = fx.pol;
	fx.w.p = &fx.p;
	pthread_mutex_init(&fx.w.st_lock, NULL);
	fx.s.w = &fx.w;
	fx.s.pol = fx.pol;      /* borrowed: the session is never freed */
	fx.s.info.transport = transport;
	fx.s.info.protocol = "web";
}

static int teardown(void **state)
{
	(void)state;
	weir__sessfilt_end(&fx.s);
	weir_sessionfilter_unregister(fx.engine, "A");
	weir_sessionfilter_unregister(fx.engine, "B");
	weir_datafilter_unregister(fx.engine, "tap");
	weir_datafilter_unregister(fx.engine, "x");
	weir_policy_free(fx.pol);
	weir_engine_free(fx.engine);
	pthread_mutex_destroy(&fx.w.st_lock);
	return 0;
}

#define TWO "protocol web tcp 80;\nsessionfilter A on web;\n" \
	    "sessionfilter B;\n"

static void test_register(void **state)
{
	struct weir_engine *e = weir_engine_new();
	struct weir_sessionfilter sf = { .name = "s", .event = ev_fn };
	struct weir_datafilter df = { .name = "s", .attach = df_attach };

	(void)state;
	assert_int_equal(weir_sessionfilter_register(e, &sf), 0);
	assert_int_equal(weir_sessionfilter_register(e, &sf), -EEXIST);
	/* A data filter may share the name: the kinds are apart. */
	assert_int_equal(weir_datafilter_register(e, &df), 0);
	sf.event = NULL;
	sf.name = "t";
	assert_int_equal(weir_sessionfilter_register(e, &sf), -EINVAL);
	sf.event = ev_fn;
	sf.name = "";
	assert_int_equal(weir_sessionfilter_register(e, &sf), -EINVAL);
	assert_int_equal(weir_sessionfilter_unregister(e, "s"), 0);
	assert_int_equal(weir_sessionfilter_unregister(e, "s"), -ENOENT);
	assert_int_equal(weir_datafilter_unregister(e, "s"), 0);
	weir_engine_free(e);
}

/* B denies CONNECT: both saw ACCEPT, so both get TERMINATE, once. */
static void test_deny_at_connect(void **state)
{
	(void)state;
	setup_with(TWO, IPPROTO_TCP);
	fx.b.on_connect = WEIR_SESSION_DENY;
	assert_int_equal(weir__sessfilt_lookup(&fx.s), 0);
	assert_int_equal(weir__sessfilt_event(&fx.s, WEIR_SESSION_ACCEPT,
					      NULL), WEIR_SESSION_CONTINUE);
	assert_int_equal(weir__sessfilt_event(&fx.s, WEIR_SESSION_CONNECT,
					      &fx.s.info.upstream),
			 WEIR_SESSION_DENY);
	assert_int_equal(fx.s.end_err, -EACCES);
	assert_string_equal(fx.s.why, "denied by session filter B");
	weir__sessfilt_end(&fx.s);
	assert_null(fx.s.sfs);
	assert_string_equal(fx.a.log, "act");
	assert_string_equal(fx.b.log, "act");
	assert_true(fx.a.ctx_seen_at_end);
	assert_true(fx.b.ctx_seen_at_end);
}

/* A denies ACCEPT: B is never asked and is owed nothing. */
static void test_deny_at_accept(void **state)
{
	(void)state;
	setup_with(TWO, IPPROTO_TCP);
	fx.a.on_accept = WEIR_SESSION_KILL;
	assert_int_equal(weir__sessfilt_lookup(&fx.s), 0);
	assert_int_equal(weir__sessfilt_event(&fx.s, WEIR_SESSION_ACCEPT,
					      NULL), WEIR_SESSION_KILL);
	assert_int_equal(fx.s.end_err, -ECONNABORTED);
	weir__sessfilt_end(&fx.s);
	assert_string_equal(fx.a.log, "at");
	assert_string_equal(fx.b.log, "");
}

/* A verdict the proxy does not know fails closed. */
static void test_bad_verdict(void **state)
{
	(void)state;
	setup_with(TWO, IPPROTO_TCP);
	fx.a.on_accept = (enum weir_session_verdict)42;
	assert_int_equal(weir__sessfilt_lookup(&fx.s), 0);
	assert_int_equal(weir__sessfilt_event(&fx.s, WEIR_SESSION_ACCEPT,
					      NULL), WEIR_SESSION_KILL);
	assert_string_equal(fx.b.log, "");
}

/* The binding's `on` limits it: another protocol sees only B. */
static void test_binding_scope(void **state)
{
	(void)state;
	setup_with(TWO, IPPROTO_TCP);
	fx.s.info.protocol = "mail";
	assert_int_equal(weir__sessfilt_lookup(&fx.s), 0);
	weir__sessfilt_event(&fx.s, WEIR_SESSION_ACCEPT, NULL);
	assert_string_equal(fx.a.log, "");
	assert_string_equal(fx.b.log, "a");
}

static void test_unregistered(void **state)
{
	(void)state;
	setup_with("sessionfilter nobody;\n", IPPROTO_TCP);
	assert_int_equal(weir__sessfilt_lookup(&fx.s), -ENOENT);
	assert_string_equal(fx.s.why, "session filter not registered");
}

/* Attachments join the policy's bindings by class, bindings first among
 * equals; only during the events that may shape the session. */
static void test_attach_order(void **state)
{
	(void)state;
	setup_with("protocol web tcp 80;\ndatafilter tap priority 100;\n"
		   "sessionfilter A;\nsessionfilter B;\n", IPPROTO_TCP);
	fx.a.attach = "x";
	fx.a.attach_class = 100;
	fx.b.attach = "x";
	fx.b.attach_class = 50;
	assert_int_equal(weir__sessfilt_lookup(&fx.s), 0);
	assert_int_equal(weir_session_attach(&fx.s, "x", 1, NULL), -EBUSY);
	weir__sessfilt_event(&fx.s, WEIR_SESSION_ACCEPT, NULL);
	assert_int_equal(fx.a.attach_rc, 0);
	assert_int_equal(fx.b.attach_rc, 0);
	assert_int_equal(weir__chain_count(&fx.s), 3);
	assert_int_equal(weir__chain_lookup(&fx.s), 0);
	assert_int_equal(fx.s.nchain, 3);
	/* x@50 (B's), tap@100 (policy), x@100 (A's) */
	assert_string_equal(fx.s.chain[0].params, "k=v\n");
	assert_string_equal(fx.s.chain[1].params, "");
	assert_string_equal(fx.s.chain[2].params, "k=v\n");
	assert_int_equal(weir_session_attach(&fx.s, "x", 1, NULL), -EBUSY);
}

static void test_attach_errors(void **state)
{
	(void)state;
	setup_with("sessionfilter A;\n", IPPROTO_TCP);
	fx.a.attach = "nosuch";
	assert_int_equal(weir__sessfilt_lookup(&fx.s), 0);
	weir__sessfilt_event(&fx.s, WEIR_SESSION_ACCEPT, NULL);
	assert_int_equal(fx.a.attach_rc, -ENOENT);
	fx.s.sfs->now = WEIR_SESSION_ACCEPT;
	assert_int_equal(weir_session_attach(&fx.s, "x", 1001, NULL), -EINVAL);
	for (int i = 0; i < WEIR__CHAIN_MAX; i++)
		assert_int_equal(weir_session_attach(&fx.s, "x", 1, NULL), 0);
	assert_int_equal(weir_session_attach(&fx.s, "x", 1, NULL), -ENOSPC);
	fx.s.sfs->now = 0;
}

/* The policy's bindings take room too: an attachment beyond the chain's
 * eight is refused, not silently dropped. */
static void test_attach_room(void **state)
{
	(void)state;
	setup_with("datafilter tap;\ndatafilter tap;\ndatafilter tap;\n"
		   "datafilter tap;\ndatafilter tap;\ndatafilter tap;\n"
		   "datafilter tap;\nsessionfilter A;\n", IPPROTO_TCP);
	assert_int_equal(weir__sessfilt_lookup(&fx.s), 0);
	fx.s.sfs->now = WEIR_SESSION_ACCEPT;
	assert_int_equal(weir_session_attach(&fx.s, "x", 1, NULL), 0);
	assert_int_equal(weir_session_attach(&fx.s, "x", 1, NULL), -ENOSPC);
	fx.s.sfs->now = 0;
	assert_int_equal(weir__chain_count(&fx.s), WEIR__CHAIN_MAX);
}

static void test_set_upstream(void **state)
{
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6,
				   .sin6_port = htons(81) };
	struct sockaddr_in bad = { .sin_family = AF_UNIX };

	(void)state;
	setup_with("sessionfilter A;\n", IPPROTO_UDP);
	assert_int_equal(weir__sessfilt_lookup(&fx.s), 0);
	assert_int_equal(weir_session_set_upstream(
				 &fx.s, (struct sockaddr *)&a6, sizeof(a6)),
			 -EBUSY);
	fx.s.sfs->now = WEIR_SESSION_UDP_DEST;
	assert_int_equal(weir_session_set_upstream(
				 &fx.s, (struct sockaddr *)&a6, sizeof(a6)),
			 -EBUSY);   /* UDP: the socket is connected by then */
	fx.s.sfs->now = WEIR_SESSION_ACCEPT;
	assert_int_equal(weir_session_set_upstream(
				 &fx.s, (struct sockaddr *)&bad, sizeof(bad)),
			 -EINVAL);
	assert_int_equal(weir_session_set_upstream(
				 &fx.s, (struct sockaddr *)&a6, 8), -EINVAL);
	assert_int_equal(weir_session_set_upstream(
				 &fx.s, (struct sockaddr *)&a6, sizeof(a6)), 0);
	assert_int_equal(fx.s.info.upstream.ss_family, AF_INET6);
	assert_int_equal(((struct sockaddr_in6 *)&fx.s.info.upstream)
				 ->sin6_port, htons(81));
	fx.s.sfs->now = 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_register),
		cmocka_unit_test_teardown(test_deny_at_connect, teardown),
		cmocka_unit_test_teardown(test_deny_at_accept, teardown),
		cmocka_unit_test_teardown(test_bad_verdict, teardown),
		cmocka_unit_test_teardown(test_binding_scope, teardown),
		cmocka_unit_test_teardown(test_unregistered, teardown),
		cmocka_unit_test_teardown(test_attach_order, teardown),
		cmocka_unit_test_teardown(test_attach_errors, teardown),
		cmocka_unit_test_teardown(test_attach_room, teardown),
		cmocka_unit_test_teardown(test_set_upstream, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
