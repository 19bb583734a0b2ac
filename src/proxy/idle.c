/* Idle timeouts: a session on which no data moved either way for the
 * configured time is ended (with resets: nobody is waiting for a clean
 * end any more).
 *
 * The kernel already knows when each TCP socket last sent and received
 * data (TCP_INFO's tcpi_last_data_recv / tcpi_last_data_sent, in ms), for
 * the kernel pump and for chains alike, so a sweep every quarter of the
 * timeout (at most every 5 s) asks both sockets of each session instead
 * of weir counting on its data paths.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "proxy/proxy_internal.h"

#define SWEEP_MAX_NS 5000000000ull

/* Milliseconds since fd last moved data, or 0 when unknown. */
static uint64_t quiet_ms(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	if (fd < 0 || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len))
		return 0;
	return ti.tcpi_last_data_recv < ti.tcpi_last_data_sent
		       ? ti.tcpi_last_data_recv : ti.tcpi_last_data_sent;
}

static int fd_of(const struct weir_session *s, bool client)
{
	if (s->chained) {
		struct weir_sock *k = client ? s->csock : s->ssock;

		return k ? weir_sock_fd(k) : -1;
	}
	return client ? s->cfd : s->sfd;
}

static bool idle(const struct weir_session *s, uint64_t limit_ms)
{
	uint64_t c, u;

	if (s->state != WEIR__SESS_RUNNING)
		return false;
	if (s->info.transport == IPPROTO_UDP)
		return weir__udp_idle(s, limit_ms * 1000000u);
	c = quiet_ms(fd_of(s, true));
	u = quiet_ms(fd_of(s, false));
	return c >= limit_ms && u >= limit_ms;
}

static uint64_t period(const struct weir__worker *w)
{
	uint64_t t = w->p->o.idle_timeout_ns / 4;

	return t < SWEEP_MAX_NS ? t : SWEEP_MAX_NS;
}

static void sweep(struct weir_timer *t, void *arg, int status)
{
	struct weir__worker *w = arg;
	uint64_t limit_ms = w->p->o.idle_timeout_ns / 1000000u;

	(void)t;
	if (status)
		return;  /* the loop is closing */
	for (struct weir_session *s = w->sessions, *next; s; s = next) {
		next = s->next;
		if (!idle(s, limit_ms))
			continue;
		weir__count(w, &w->st.idle_closed, 1);
		/* Ended with resets, but counted as idle, not aborted. */
		s->idle_end = true;
		weir__session_why(s, -ETIMEDOUT, "idle");
		weir__session_fail(s, -ETIMEDOUT);
	}
	weir__idle_arm(w);
}

void weir__idle_arm(struct weir__worker *w)
{
	if (!w->stopping)
		weir_timer_start(w->loop, &w->idle_timer, period(w), sweep, w);
}
