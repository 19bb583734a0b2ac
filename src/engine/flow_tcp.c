/* TCP close tracking: a connection state machine driven by the flags of
 * the segments the caller sees in each direction, and the timeout class
 * of each state. No sequence numbers are checked (see flow.h: forged
 * flags only shorten a flow's life).
 */
#include <errno.h>
#include <netinet/in.h>

#include <weir/pdesc.h>

#include "engine/flow_internal.h"

#define FIN_BOTH (WEIR__TCPB_FIN_ORIG | WEIR__TCPB_FIN_REPLY)
#define SEEN_BOTH (WEIR__TCPB_SEEN_ORIG | WEIR__TCPB_SEEN_REPLY)

static const char *const state_names[WEIR_FLOW_TCP__COUNT] = {
	[WEIR_FLOW_TCP_NONE] = "none",
	[WEIR_FLOW_TCP_SYN_SENT] = "syn-sent",
	[WEIR_FLOW_TCP_SYN_RECV] = "syn-recv",
	[WEIR_FLOW_TCP_ESTABLISHED] = "established",
	[WEIR_FLOW_TCP_FIN_WAIT] = "fin-wait",
	[WEIR_FLOW_TCP_CLOSING] = "closing",
	[WEIR_FLOW_TCP_TIME_WAIT] = "time-wait",
	[WEIR_FLOW_TCP_CLOSED] = "closed",
};

const char *weir_flow_tcp_state_name(int state)
{
	if (state < 0 || state >= WEIR_FLOW_TCP__COUNT)
		return "?";
	return state_names[state];
}

uint8_t weir__flow_tcp_class(uint8_t state)
{
	switch (state) {
	case WEIR_FLOW_TCP_ESTABLISHED:
		return WEIR__FC_TCP_EST;
	case WEIR_FLOW_TCP_FIN_WAIT:
		return WEIR__FC_TCP_HALF;
	case WEIR_FLOW_TCP_CLOSING:
		return WEIR__FC_TCP_CLOSING;
	case WEIR_FLOW_TCP_TIME_WAIT:
	case WEIR_FLOW_TCP_CLOSED:
		return WEIR__FC_TCP_CLOSED;
	default:
		return WEIR__FC_TCP_SYN;
	}
}

/* A SYN (or SYN/ACK). A bare SYN on a finished connection opens a new
 * one on the same tuple. */
static int on_syn(struct weir__flow *f, bool reply, bool ack)
{
	uint8_t s = f->tcp_state;

	if (s == WEIR_FLOW_TCP_TIME_WAIT || s == WEIR_FLOW_TCP_CLOSED) {
		if (ack)
			return 0;
		f->tcp_state = WEIR_FLOW_TCP_SYN_SENT;
		f->tcp_bits = reply ? WEIR__TCPB_SEEN_REPLY
				    : WEIR__TCPB_SEEN_ORIG;
		return WEIR_FLOW_TCP_REUSED;
	}
	if (s == WEIR_FLOW_TCP_NONE)
		f->tcp_state = ack ? WEIR_FLOW_TCP_SYN_RECV
				   : WEIR_FLOW_TCP_SYN_SENT;
	else if (s == WEIR_FLOW_TCP_SYN_SENT && reply)
		f->tcp_state = WEIR_FLOW_TCP_SYN_RECV; /* or simultaneous open */
	return 0;
}

/* A FIN: the first one half-closes, the other side's closes. */
static void on_fin(struct weir__flow *f, bool reply)
{
	uint8_t mine = reply ? WEIR__TCPB_FIN_REPLY : WEIR__TCPB_FIN_ORIG;

	if (f->tcp_state == WEIR_FLOW_TCP_TIME_WAIT ||
	    f->tcp_state == WEIR_FLOW_TCP_CLOSED || (f->tcp_bits & mine))
		return;
	f->tcp_bits |= mine;
	if ((f->tcp_bits & FIN_BOTH) != FIN_BOTH) {
		f->tcp_state = WEIR_FLOW_TCP_FIN_WAIT;
		return;
	}
	f->tcp_state = WEIR_FLOW_TCP_CLOSING;
	if (reply)
		f->tcp_bits |= WEIR__TCPB_LASTFIN_REPLY;
}

/* A segment without SYN, FIN or RST. */
static void on_plain(struct weir__flow *f, bool reply, bool ack)
{
	bool lastfin_reply = f->tcp_bits & WEIR__TCPB_LASTFIN_REPLY;

	switch (f->tcp_state) {
	case WEIR_FLOW_TCP_NONE:        /* picked up mid-stream */
		f->tcp_bits |= reply ? WEIR__TCPB_SEEN_REPLY
				     : WEIR__TCPB_SEEN_ORIG;
		if ((f->tcp_bits & SEEN_BOTH) == SEEN_BOTH)
			f->tcp_state = WEIR_FLOW_TCP_ESTABLISHED;
		break;
	case WEIR_FLOW_TCP_SYN_RECV:    /* the handshake's last ACK */
		if (!reply && ack)
			f->tcp_state = WEIR_FLOW_TCP_ESTABLISHED;
		break;
	case WEIR_FLOW_TCP_CLOSING:     /* the ACK of the second FIN */
		if (ack && reply != lastfin_reply)
			f->tcp_state = WEIR_FLOW_TCP_TIME_WAIT;
		break;
	default:
		break;
	}
}

static int tcp_step(struct weir__flow *f, bool reply, uint8_t fl)
{
	if (fl & WEIR_TCP_RST) {
		f->tcp_state = WEIR_FLOW_TCP_CLOSED;
		return 0;
	}
	if (fl & WEIR_TCP_SYN)
		return on_syn(f, reply, fl & WEIR_TCP_ACK);
	if (fl & WEIR_TCP_FIN)
		on_fin(f, reply);
	else
		on_plain(f, reply, fl & WEIR_TCP_ACK);
	return 0;
}

int weir_flow_tcp_update(struct weir_flow_table *t, uint64_t flow_id,
			 bool reply, uint8_t tcp_flags, uint64_t now_ns)
{
	struct weir__flow_grave g = { 0 };
	struct weir__flow_stripe *st;
	struct weir__flow *f;
	int rc;

	if (!t)
		return -EINVAL;
	f = weir__flow_lock_id(t, flow_id, &st);
	if (!f) {
		rc = -ENOENT;
	} else if (weir__flow_due(t, f, now_ns)) {
		weir__flow_unlink(t, st, f, &st->expired, &g);
		rc = -ENOENT;
	} else if (f->key.proto != IPPROTO_TCP) {
		rc = -EINVAL;
	} else {
		rc = tcp_step(f, reply, tcp_flags);
		weir__flow_refresh(st, f, now_ns);
	}
	weir__flow_unlock(t, st, &g);
	return rc;
}
