/* Sessions: one client connection, its upstream connection and what
 * moves bytes between them.
 *
 *   accepted --connect op--> running (kernel pump, or a chain) --both
 *   directions done, or a failure--> closing --last completion--> freed
 *
 * Lifetime: every operation bound to the session (the connect, the pump
 * polls) counts in s->ops; closing cancels them, and the session is
 * freed when the last one has completed, so no completion ever meets
 * freed memory. A failure resets both ends (SO_LINGER 0: the client
 * sees a reset, not a clean end of a stream that was cut).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy/proxy_internal.h"

static _Atomic uint64_t next_id = 1;

static void link_in(struct weir__worker *w, struct weir_session *s);

void weir__count(struct weir__worker *w, uint64_t *field, int64_t delta)
{
	pthread_mutex_lock(&w->st_lock);
	*field += (uint64_t)delta;
	pthread_mutex_unlock(&w->st_lock);
}

uint64_t weir__session_next_id(void)
{
	return atomic_fetch_add(&next_id, 1);
}

void weir__session_link(struct weir__worker *w, struct weir_session *s)
{
	weir__count(w, &w->st.accepted, 1);
	link_in(w, s);
}

static void link_in(struct weir__worker *w, struct weir_session *s)
{
	s->next = w->sessions;
	if (w->sessions)
		w->sessions->prev = s;
	w->sessions = s;
	w->nsessions++;
	weir__count(w, &w->st.active, 1);
}

static void link_out(struct weir__worker *w, struct weir_session *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		w->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	w->nsessions--;
	weir__count(w, &w->st.active, -1);
}

void weir__reset_on_close(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

static void reset_close(int fd)
{
	if (fd < 0)
		return;
	weir__reset_on_close(fd);
	close(fd);
}

static void free_session(struct weir_session *s)
{
	struct weir__worker *w = s->w;

	weir__splice_fini(&s->up);
	weir__splice_fini(&s->down);
	/* A chain's sockets own their fds (then -1 here). */
	if (s->aborted) {
		reset_close(s->cfd);
		reset_close(s->sfd);
	} else {
		if (s->cfd >= 0)
			close(s->cfd);
		if (s->sfd >= 0)
			close(s->sfd);
	}
	weir__sessfilt_end(s);
	if (s->info.transport == IPPROTO_UDP) {
		weir__udp_forget(s);
		s->l->users--;
		weir__listener_maybe_free(s->l);
	}
	weir_policy_free(s->pol);
	pthread_mutex_lock(&w->st_lock);
	w->st.bytes_up += s->bytes_up;
	w->st.bytes_down += s->bytes_down;
	pthread_mutex_unlock(&w->st_lock);
	link_out(w, s);
	free(s);
}

/* Cancels what is in flight; the session goes when the last completes.
 * The extra op held meanwhile keeps a completion that runs inside (a
 * chain with nothing to wait for) from freeing it under our feet. */
void weir__session_close(struct weir_session *s)
{
	if (s->state == WEIR__SESS_CLOSING)
		return;
	s->state = WEIR__SESS_CLOSING;
	s->ops++;
	weir__io_cancel(s->w->loop, &s->connect_op);
	weir__io_cancel(s->w->loop, &s->up.poll_op);
	weir__io_cancel(s->w->loop, &s->down.poll_op);
	if (s->chained)
		weir__chain_close(s);
	weir__session_op_done(s);
}


void weir__session_op_done(struct weir_session *s)
{
	if (--s->ops == 0 && s->state == WEIR__SESS_CLOSING)
		free_session(s);
}

void weir__session_why(struct weir_session *s, int err, const char *why)
{
	if (s->end_err || s->why[0])
		return;
	s->end_err = err;
	if (why)
		snprintf(s->why, sizeof(s->why), "%s", why);
}

void weir__session_fail(struct weir_session *s, int err)
{
	weir__session_why(s, err, NULL);
	if (s->aborted)
		return;
	s->aborted = true;
	if (!s->idle_end)
		weir__count(s->w, &s->w->st.aborted, 1);
	weir__session_close(s);
}

void weir_session_abort(struct weir_session *s, const char *why)
{
	struct weir__worker *w = s->w;

	/* The last reason a filter gave, for weir stats: per session lines
	 * would flood the log under an attack. */
	if (why && !s->aborted) {
		pthread_mutex_lock(&w->st_lock);
		snprintf(w->last_abort, sizeof(w->last_abort), "%s", why);
		pthread_mutex_unlock(&w->st_lock);
		weir__session_why(s, -ECONNABORTED, why);
	}
	weir__session_fail(s, -ECONNABORTED);
}

void weir__session_dir_done(struct weir_session *s)
{
	if (s->up.done && s->down.done)
		weir__session_close(s);
}

static int start_pump(struct weir_session *s)
{
	int rc;

	if (weir__chain_count(s)) {
		weir__count(s->w, &s->w->st.chained, 1);
		return weir__chain_start(s);
	}
	rc = weir__splice_init(&s->up, s, s->cfd, s->sfd, &s->bytes_up);

	if (!rc)
		rc = weir__splice_init(&s->down, s, s->sfd, s->cfd,
				       &s->bytes_down);
	if (rc)
		return rc;
	weir__count(s->w, &s->w->st.spliced, 1);
	s->state = WEIR__SESS_RUNNING;
	weir__splice_run(&s->up);
	if (!s->aborted)
		weir__splice_run(&s->down);
	return 0;
}

static void on_connect(struct weir__io_op *op, int res, unsigned flags)
{
	struct weir_session *s =
		weir__container_of(op, struct weir_session, connect_op);
	int rc;

	(void)flags;
	if (res < 0 && s->state == WEIR__SESS_CONNECTING) {
		weir__count(s->w, &s->w->st.connect_failed, 1);
		weir__session_why(s, res, "upstream unreachable");
		weir__session_fail(s, res);
	} else if (s->state == WEIR__SESS_CONNECTING) {
		rc = start_pump(s);
		if (rc)
			weir__session_fail(s, rc);
	}
	weir__session_op_done(s);
}

static socklen_t sa_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
					 : sizeof(struct sockaddr_in);
}

static int connect_upstream(struct weir_session *s)
{
	const struct sockaddr_storage *up = &s->info.upstream;
	struct io_uring_sqe *sqe;
	int one = 1;

	s->sfd = socket(up->ss_family,
			SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->sfd < 0)
		return -errno;
	setsockopt(s->sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	s->connect_op.done = on_connect;
	sqe = weir__io_sqe(s->w->loop, &s->connect_op);
	if (!sqe)
		return -ESHUTDOWN;
	io_uring_prep_connect(sqe, s->sfd, (const struct sockaddr *)up,
			      sa_len(up));
	s->ops++;
	return 0;
}

static uint16_t port_of(const struct sockaddr_storage *ss)
{
	return ntohs(ss->ss_family == AF_INET6
			     ? ((const struct sockaddr_in6 *)ss)->sin6_port
			     : ((const struct sockaddr_in *)ss)->sin_port);
}

/* Explicit: the listener's fixed upstream. Transparent: where the client
 * was going, unless that is weir's own listener (a client connecting to
 * the intercept port directly would make weir connect to itself). */
static int set_upstream(struct weir_session *s)
{
	const struct weir_policy_listener *pl = s->l->pl;
	struct weir__proxy *p = s->w->p;
	int rc;

	if (!s->l->transparent) {
		memcpy(&s->info.original_dst, &pl->listen, pl->listen_len);
		memcpy(&s->info.upstream, &pl->upstream, pl->upstream_len);
		return 0;
	}
	rc = weir__original_dst(s->cfd, &s->info.original_dst);
	if (rc < 0 || port_of(&s->info.original_dst) == p->o.intercept_port) {
		errno = rc < 0 ? -rc : ELOOP;
		return -1;
	}
	s->info.upstream = s->info.original_dst;
	s->info.protocol = weir__intercept_protocol(
		s->pol, IPPROTO_TCP, port_of(&s->info.original_dst));
	return 0;
}

/* The session filters' say before anything is connected. 0 to go on,
 * or -errno (refused; why recorded). */
static int screen(struct weir_session *s)
{
	int v = weir__sessfilt_screen(s, WEIR_SESSION_CONNECT);

	return v == WEIR_SESSION_CONTINUE ? 0 : v < 0 ? v : -EACCES;
}

void weir__session_start(struct weir__listener *l, int cfd,
			 const struct sockaddr_storage *peer)
{
	struct weir__worker *w = l->w;
	struct weir_session *s;
	int one = 1, rc;

	if (w->nsessions >= w->p->o.max_sessions ||
	    !(s = calloc(1, sizeof(*s)))) {
		weir__count(w, &w->st.refused, 1);
		reset_close(cfd);
		return;
	}
	weir__count(w, &w->st.accepted, 1);
	setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	*s = (struct weir_session){
		.w = w, .l = l, .cfd = cfd, .sfd = -1,
		.state = WEIR__SESS_CONNECTING,
		.up.pipe = { -1, -1 }, .down.pipe = { -1, -1 },
		.info = { .id = atomic_fetch_add(&next_id, 1),
			  .transport = IPPROTO_TCP,
			  .protocol = l->pl->protocol,
			  .client = *peer } };
	/* The listener's policy: info.protocol points into it. */
	s->pol = weir_policy_ref(l->pol);
	link_in(w, s);
	/* Held across the filters' events: one that aborts the session
	 * inside must not free it under them. */
	s->ops++;
	if (set_upstream(s) < 0)
		weir__session_fail(s, -errno);
	else if ((rc = screen(s)) < 0)
		weir__session_fail(s, rc);
	else if (connect_upstream(s) < 0)
		weir__session_fail(s, -errno);
	weir__session_op_done(s);
}

const struct weir_session_info *weir_session_info(const struct weir_session *s)
{
	return &s->info;
}

struct weir_loop *weir_session_loop(struct weir_session *s)
{
	return s->w->loop;
}
