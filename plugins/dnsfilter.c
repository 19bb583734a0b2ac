/* The `dnsfilter` data filter: DNS over UDP sessions of the application
 * tier. A query for a listed name is answered by the filter itself, with
 * a sink address or NXDOMAIN, and never reaches the resolver; every other
 * datagram (other names, other classes, anything that does not parse as
 * a single-question query) goes upstream as it came, and every answer
 * from upstream goes back to the client as it came.
 *
 *   client ─ internal (datagram) ─ [dnsfilter] ─ external ─ resolver
 *                 ▲                 │  listed: answered here
 *                 └─────────────────┘
 *
 * One receive is kept posted on each side. A side's receive is not
 * re-posted while too many sends toward where its datagrams go are in
 * flight: the back-pressure is the kernel's socket buffer (or the
 * session's queue), which drops as UDP may, rather than a queue here.
 *
 * Parameters of the plug-in (its block in the policy), as dnssink's:
 *   names=LIST      patterns separated by spaces or commas: "x" (that
 *                   name), "*.x" (names below it), ".x" (both); any case,
 *                   trailing dot allowed
 *   list=PATH       more patterns, one per line; '#' starts a comment
 *   answer=sink|nxdomain   (sink: A gets `a`, AAAA gets `aaaa`, other
 *                   types NODATA)
 *   a=ADDR, aaaa=ADDR, ttl=N   (0.0.0.0, ::, 60)
 *   log=PATH|stderr one JSON line per client datagram: what was decided
 * A binding's parameters (`datafilter dnsfilter on dns { ... }`) may set
 * answer, a, aaaa and ttl for its sessions; the names are the plug-in's.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <weir/plugin.h>
#include <weir/proxy.h>

#include "addr_text.h"

#include "dns.h"
#include "dns_names.h"

/* Sends in flight toward one side before the receives that feed it wait. */
#define MAX_SENDS 8
/* The largest answer dns_build_answer() makes. */
#define ANSWER_MAX (DNS_HDR_LEN + DNS_NAME_WIRE_MAX + 4 + 12 + 16)

/* The names are built in init and only read afterwards, so the sessions
 * of every worker share them unlocked. */
struct dnsf {
	struct dns_names names;
	struct dns_policy pol;
	FILE *log;          /* NULL: no log */
};

/* ---- the log -------------------------------------------------------------- */

/* One line per client datagram; q is NULL when it did not parse. */
static void log_decision(FILE *log, struct weir_session *s,
			 const struct dns_question *q, const char *action)
{
	const struct weir_session_info *si = weir_session_info(s);
	char c[64], name[2 * DNS_NAME_TEXT_MAX + 1];

	addr_text(&si->client, c, sizeof(c));
	if (!q) {
		fprintf(log, "{\"session\":%llu,\"client\":\"%s\","
			"\"query\":false,\"action\":\"%s\"}\n",
			(unsigned long long)si->id, c, action);
	} else {
		/* A parsed name may hold '"' and '\\': escaped, so a
		 * query cannot forge JSON. */
		weir_json_escape(q->name, name, sizeof(name));
		fprintf(log, "{\"session\":%llu,\"client\":\"%s\","
			"\"name\":\"%s\",\"qtype\":%u,\"action\":\"%s\"}\n",
			(unsigned long long)si->id, c, name, q->qtype,
			action);
	}
	fflush(log);
}

/* ---- a session --------------------------------------------------------- */

enum side_id { IN = 0, EX = 1 };
enum op { OP_RECV = 0, OP_SEND, OP_SHUT };

static uint64_t ud_of(enum op op, enum side_id side)
{
	return (uint64_t)op << 1 | (uint64_t)side;
}

struct side {
	struct weir_sock *sock;
	unsigned sends;      /* toward this side, in flight */
	bool receiving;
	bool eof;            /* a link's peer shut down: no more receives */
};

struct inst {
	const struct dnsf *f;
	struct weir_session *s;
	struct dns_policy pol; /* the plug-in's, with the binding's overrides */
	struct side side[2];
	struct weir_io_target t;
	bool failed;         /* aborted (or closing): start nothing more */
};

static void post_recv(struct inst *in, enum side_id id);

static void fail(struct inst *in, int err)
{
	/* -ECANCELED: the session is closing already. weir_session_abort
	 * is idempotent, so a link's -ECONNRESET at close is harmless. */
	if (!in->failed && err != -ECANCELED)
		weir_session_abort(in->s, "dnsfilter: I/O error");
	in->failed = true;
}

/* Sends b (not taken: the send holds its own reference) toward side. */
static void send_to(struct inst *in, enum side_id id, struct weir_iobuf *b)
{
	int rc = weir_sock_send(in->side[id].sock, b, &in->t,
				ud_of(OP_SEND, id));

	if (rc)
		fail(in, rc);
	else
		in->side[id].sends++;
}

/* The answer to a listed name, in a buffer of its own. */
static struct weir_iobuf *make_answer(const struct inst *in,
				      const struct weir_iobuf *query,
				      const struct dns_question *q)
{
	struct weir_iobuf *b = weir_iobuf_new(ANSWER_MAX);
	struct dns_answer a;
	int n;

	if (!b)
		return NULL;
	dns_policy_answer(&in->pol, q, &a);
	n = dns_build_answer(query->data, query->len, q, &a, b->data, b->cap);
	if (n < 0) {
		weir_iobuf_unref(b);
		return NULL;
	}
	b->len = (uint32_t)n;
	return b;
}

/* A client datagram: answered here when it asks for a listed name, else
 * forwarded as it is. */
static void on_query(struct inst *in, struct weir_iobuf *b)
{
	struct dns_question q;
	bool parsed = dns_parse_query(b->data, b->len, &q) == 0;
	struct weir_iobuf *ans = NULL;

	if (parsed && q.qclass == DNS_CLASS_IN &&
	    dns_names_listed(&in->f->names, q.name, q.name_len))
		ans = make_answer(in, b, &q);
	if (in->f->log)
		log_decision(in->f->log, in->s, parsed ? &q : NULL,
			     !ans ? "forward"
				  : in->pol.nxdomain ? "nxdomain" : "sink");
	/* An answer that could not be built (no memory) forwards: the
	 * query is answered late rather than not at all. */
	if (ans) {
		send_to(in, IN, ans);
		weir_iobuf_unref(ans);
	} else {
		send_to(in, EX, b);
	}
}

/* A receive on side id completed. -ESHUTDOWN: the link's peer shut
 * down writing; passed on. An empty datagram is no DNS message: dropped. */
static void on_recv(struct inst *in, enum side_id id, bool ok, int err,
		    struct weir_iobuf *b)
{
	enum side_id other = id == IN ? EX : IN;
	int rc;

	in->side[id].receiving = false;
	if (!ok || in->failed) {
		weir_iobuf_unref(b);
		if (err != -ESHUTDOWN || in->failed) {
			fail(in, err);
			return;
		}
		in->side[id].eof = true;
		rc = weir_sock_shutdown(in->side[other].sock, SHUT_WR, &in->t,
					ud_of(OP_SHUT, other));
		if (rc)
			fail(in, rc);
		return;
	}
	if (b->len)
		id == IN ? on_query(in, b) : send_to(in, IN, b);
	weir_iobuf_unref(b);
	post_recv(in, id);
}

static void complete(void *target, bool ok, int err, struct weir_iobuf *buf,
		     uint64_t ud, const struct sockaddr *a, socklen_t al)
{
	struct inst *in = target;
	enum side_id id = (enum side_id)(ud & 1);

	(void)a, (void)al;
	switch ((enum op)(ud >> 1)) {
	case OP_RECV:
		on_recv(in, id, ok, err, buf);
		return;
	case OP_SEND:
		in->side[id].sends--;
		break;
	case OP_SHUT:
		break;
	}
	if (!ok) {
		fail(in, err);
		return;
	}
	/* Room again toward id: the receives that feed it may go on. */
	post_recv(in, IN);
	post_recv(in, EX);
}

/* Whether side id may receive: the sides its datagrams go to have room.
 * Client datagrams go upstream or, answered, back to the client. */
static bool room_for(const struct inst *in, enum side_id id)
{
	if (in->side[IN].sends >= MAX_SENDS)
		return false;
	return id == EX || in->side[EX].sends < MAX_SENDS;
}

static void post_recv(struct inst *in, enum side_id id)
{
	struct side *sd = &in->side[id];
	int rc;

	if (in->failed || sd->receiving || sd->eof || !room_for(in, id))
		return;
	rc = weir_sock_recvfrom(sd->sock, NULL, &in->t, ud_of(OP_RECV, id));
	if (rc) {
		fail(in, rc);
		return;
	}
	sd->receiving = true;
}

static int attach(void *priv, struct weir_session *s,
		  struct weir_sock *internal, struct weir_sock *external,
		  const char *params, void **ret_inst)
{
	const struct dnsf *f = priv;
	struct inst *in = calloc(1, sizeof(*in));

	if (!in)
		return -ENOMEM;
	*in = (struct inst){ .f = f, .s = s, .pol = f->pol,
			     .t = { .complete = complete, .target = in } };
	in->side[IN].sock = internal;
	in->side[EX].sock = external;
	/* A refused attach is never detached: free it here, before anything
	 * is in flight. */
	if (params && dns_policy_parse(&in->pol, params) < 0) {
		fprintf(stderr, "dnsfilter: bad binding parameters\n");
		free(in);
		return -EINVAL;
	}
	post_recv(in, IN);
	post_recv(in, EX);
	/* A receive that failed to start aborted the session (fail());
	 * one already in flight still completes into the instance, so it
	 * must stay attached until detach. */
	if (in->failed && !in->side[IN].receiving) {
		free(in);
		return -EIO;
	}
	*ret_inst = in;
	return 0;
}

static void detach(void *priv, void *inst)
{
	(void)priv;
	free(inst);
}

/* ---- the plug-in ------------------------------------------------------- */

static void dnsf_free(struct dnsf *f)
{
	if (f->log)
		weir_param_close(f->log, stderr);
	dns_names_free(&f->names);
	free(f);
}

static int open_log(struct dnsf *f, const char *params)
{
	char path[512];

	if (weir_param_get(params, "log", path, sizeof(path)) != 0)
		return 0;
	if (!strcmp(path, "stderr")) {
		f->log = stderr;
		return 0;
	}
	return weir_param_open(params, "log", stderr, &f->log);
}

static int init(struct weir_engine *e, const char *params, void **ret)
{
	struct dnsf *f = calloc(1, sizeof(*f));
	struct weir_datafilter df = { .name = "dnsfilter", .attach = attach,
				      .detach = detach };
	int rc;

	if (!f)
		return -ENOMEM;
	f->pol.ttl = 60;
	rc = dns_policy_parse(&f->pol, params);
	if (rc < 0)
		fprintf(stderr, "dnsfilter: bad answer, a, aaaa or ttl\n");
	if (!rc)
		rc = dns_names_parse(&f->names, params, "dnsfilter");
	if (!rc)
		rc = open_log(f, params);
	if (!rc) {
		df.priv = f;
		rc = weir_datafilter_register(e, &df);
	}
	if (rc < 0) {
		dnsf_free(f);
		return rc;
	}
	*ret = f;
	return 0;
}

static void fini(struct weir_engine *e, void *state)
{
	weir_datafilter_unregister(e, "dnsfilter");
	dnsf_free(state);
}

const struct weir_plugin_ops *weir_plugin_entry(void);
const struct weir_plugin_ops *weir_plugin_entry(void)
{
	static const struct weir_plugin_ops ops = {
		.abi = WEIR_PLUGIN_ABI, .name = "dnsfilter",
		.description = "data filter: answers DNS queries for listed "
			       "names with a sink address or NXDOMAIN, "
			       "forwards the rest",
		.init = init, .fini = fini };
	return &ops;
}
