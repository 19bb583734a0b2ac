/* Chains: a session whose protocol has data filters runs through them.
 *
 *   client fd ─ csock ⇄ [f1] ⇄ link ⇄ [f2] ⇄ ... ⇄ [fn] ⇄ ssock ─ server fd
 *
 * The filters are the policy's `datafilter` bindings that apply to the
 * session's protocol and those its session filters attached, in
 * increasing priority class (bindings in policy order, then attachments,
 * among equals). Each gets its two sockets in attach and moves the data itself.
 *
 * The session watches its two real sockets (weir__sock_observe): the
 * client->server direction is over when a shutdown for writing reached
 * the server's socket, the other when one reached the client's; both
 * over is the normal end. An error on a real socket, or a filter's
 * weir_session_abort(), ends it at once with resets. Either way every
 * socket of the chain is closed, and once each has reported that it is
 * freed (every completion of every filter delivered), the filters are
 * detached, last to first, and the session goes.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proxy/proxy_internal.h"

/* One filter of the chain to be: a policy binding or an attachment. */
struct pick {
	const char *name, *params;
	unsigned priority;
};

/* Inserts after every pick of the same or a lower class (stable). */
static void insert(struct pick *out, size_t n, struct pick p)
{
	size_t k = n;

	while (k > 0 && out[k - 1].priority > p.priority) {
		out[k] = out[k - 1];
		k--;
	}
	out[k] = p;
}

/* The session's filters, sorted by class: the policy's bindings for its
 * protocol, then what session filters attached. */
static size_t select_filters(const struct weir_session *s, struct pick *out)
{
	const struct weir_policy *pol = s->pol;
	const struct weir__sfilt_set *set = s->sfs;
	size_t n = 0;

	for (size_t i = 0; i < weir_policy_datafilter_count(pol) &&
			   n < WEIR__CHAIN_MAX; i++) {
		const struct weir_policy_datafilter *d =
			weir_policy_datafilter_at(pol, i);

		if (weir__binding_applies(d, s->info.protocol))
			insert(out, n++, (struct pick){ d->name, d->params,
							d->priority });
	}
	for (size_t i = 0; set && i < set->natt && n < WEIR__CHAIN_MAX; i++)
		insert(out, n++, (struct pick){ set->att[i].name,
						set->att[i].params,
						set->att[i].priority });
	return n;
}

size_t weir__chain_count(const struct weir_session *s)
{
	struct pick p[WEIR__CHAIN_MAX];

	return select_filters(s, p);
}

static void detach_all(struct weir_session *s)
{
	for (size_t i = s->nchain; i-- > 0;) {
		struct weir__chain_elem *c = &s->chain[i];

		if (c->attached && c->df.detach)
			c->df.detach(c->df.priv, c->inst);
		c->attached = false;
	}
}

void weir__chain_on_sock(void *arg, struct weir_sock *sock, int ev, int res)
{
	struct weir_session *s = arg;

	(void)res;
	switch (ev) {
	case WEIR__SOCK_EV_SHUT_WR:
		if (sock == s->ssock)
			s->up_done = true;
		else if (sock == s->csock)
			s->down_done = true;
		if (s->up_done && s->down_done)
			weir__session_close(s);
		break;
	case WEIR__SOCK_EV_ERROR:
		if (sock == s->ssock || sock == s->csock)
			weir__session_fail(s, res);
		break;
	case WEIR__SOCK_EV_FREED:
		/* Closed and idle; still held, so that a filter's late call
		 * gets -ESHUTDOWN: released once every socket got here. */
		if (--s->socks_open == 0)
			weir__chain_done(s);
		break;
	default:
		break;
	}
}

/* Every socket of the chain idle: the filters go, then the sockets'
 * memory, then the op that kept the session. */
void weir__chain_done(struct weir_session *s)
{
	detach_all(s);
	/* UDP sessions count datagrams themselves (udp.c). */
	if (s->info.transport == IPPROTO_TCP && s->csock && s->ssock) {
		s->bytes_up += weir__sock_rx_bytes(s->csock);
		s->bytes_down += weir__sock_rx_bytes(s->ssock);
	}
	if (s->csock)
		weir__sock_release(s->csock);
	if (s->ssock)
		weir__sock_release(s->ssock);
	for (size_t i = 0; i < s->nlinks; i++)
		weir__sock_release(s->links[i]);
	s->csock = s->ssock = NULL;
	s->nlinks = 0;
	weir__session_op_done(s);
}

/* Watched and held (see weir__chain_done). */
void weir__chain_adopt(struct weir_session *s, struct weir_sock *k)
{
	weir__sock_observe(k, weir__chain_on_sock, s);
	weir__sock_hold(k);
	s->socks_open++;
}

static struct weir_sock *wrap(struct weir_session *s, int *fd, bool ext)
{
	struct weir_sock *sock;

	if (weir_sock_from_fd(s->w->loop, *fd, ext, &sock) < 0)
		return NULL;
	*fd = -1;  /* the weir_sock owns it now */
	weir__chain_adopt(s, sock);
	return sock;
}

/* The sockets: real ends and n-1 links, sock[2i] internal, sock[2i+1]
 * external of filter i. */
static int make_socks(struct weir_session *s, struct weir_sock **sock)
{
	size_t n = s->nchain;

	sock[0] = s->csock = wrap(s, &s->cfd, false);
	sock[2 * n - 1] = s->ssock = wrap(s, &s->sfd, true);
	if (!s->csock || !s->ssock)
		return -ENOMEM;
	for (size_t i = 0; i + 1 < n; i++) {
		struct weir_sock *a, *b;

		if (weir_sock_pair(s->w->loop, WEIR_SOCK_STREAM, &a, &b) < 0)
			return -ENOMEM;
		weir__chain_adopt(s, a);
		weir__chain_adopt(s, b);
		sock[2 * i + 1] = a;
		sock[2 * i + 2] = b;
		s->links[s->nlinks++] = a;
		s->links[s->nlinks++] = b;
	}
	return 0;
}

int weir__chain_attach(struct weir_session *s, struct weir_sock **sock)
{
	for (size_t i = 0; i < s->nchain; i++) {
		struct weir__chain_elem *c = &s->chain[i];
		int rc = c->df.attach(c->df.priv, s, sock[2 * i],
				      sock[2 * i + 1], c->params, &c->inst);

		if (rc < 0)
			return rc;
		c->attached = true;
		if (s->aborted)
			return -ECONNABORTED;
	}
	return 0;
}

int weir__chain_lookup(struct weir_session *s)
{
	struct pick p[WEIR__CHAIN_MAX];
	size_t n = select_filters(s, p);

	for (size_t i = 0; i < n; i++) {
		struct weir__chain_elem *c = &s->chain[i];

		if (weir__datafilter_get(s->w->p->o.engine, p[i].name,
					 &c->df) < 0) {
			/* not registered (plug-in missing) */
			weir__session_why(s, -ENOENT, "data filter not "
					  "registered");
			return -ENOENT;
		}
		c->params = p[i].params;
	}
	s->nchain = n;
	return 0;
}

int weir__chain_start(struct weir_session *s)
{
	struct weir_sock *sock[2 * WEIR__CHAIN_MAX];
	int rc = weir__chain_lookup(s);

	/* Until the sockets are all freed, the session counts one op. */
	s->ops++;
	s->chained = true;
	if (!rc)
		rc = make_socks(s, sock);
	if (!rc)
		rc = weir__chain_attach(s, sock);
	if (!rc)
		s->state = WEIR__SESS_RUNNING;
	return rc;
}

static void chain_done_later(void *arg, int status)
{
	(void)status; /* -ECANCELED (loop closed) frees all the same */
	weir__chain_done(arg);
}

void weir__chain_close(struct weir_session *s)
{
	struct weir_sock *all[2 + 2 * WEIR__CHAIN_MAX];
	size_t n = 0;

	if (s->chain_closed)
		return;
	s->chain_closed = true;
	/* A socket may report itself freed inside its close: hold the
	 * count up until every close is done. */
	s->socks_open++;
	if (s->csock)
		all[n++] = s->csock;
	if (s->ssock)
		all[n++] = s->ssock;
	for (size_t i = 0; i < s->nlinks; i++)
		all[n++] = s->links[i];
	if (s->aborted) {
		weir__reset_on_close(weir_sock_fd(s->csock));
		weir__reset_on_close(weir_sock_fd(s->ssock));
	}
	for (size_t i = 0; i < n; i++)
		weir_sock_close(all[i]);
	/* Every socket idle already (or none made): the op taken in start
	 * ends, but from the loop: a filter may abort from a file or timer
	 * completion, or inside attach, with every socket idle; detach
	 * there would free its instance under its feet (and, inside attach,
	 * miss the filter being attached). A socket's own completions are
	 * safe already: it is not idle before its callback returns. */
	if (--s->socks_open == 0 &&
	    weir_loop_post_req(s->w->loop, &s->chain_post, chain_done_later,
			       s) < 0)
		weir__chain_done(s); /* the loop is closing: nothing runs */
}
