/* Session filters: the policy's `sessionfilter` bindings for a session's
 * protocol, looked up once at its start, told its events in policy order.
 *
 *   ACCEPT ─> CONNECT (TCP) or UDP_DEST (UDP) ─> ... ─> TERMINATE
 *
 * While ACCEPT, CONNECT or UDP_DEST is being delivered a filter may
 * attach data filters to the session and (ACCEPT, TCP CONNECT) change its
 * upstream; the chain is built after the last of them. TERMINATE is owed
 * to every filter that was given ACCEPT, even when a later one refused
 * the session, so a filter can always free its context.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/proxy_internal.h"

bool weir__binding_applies(const struct weir_policy_datafilter *d,
			   const char *protocol)
{
	if (!d->nprotocols)
		return true;
	for (uint32_t i = 0; protocol && i < d->nprotocols; i++)
		if (!strcmp(d->protocols[i], protocol))
			return true;
	return false;
}

int weir__sessfilt_lookup(struct weir_session *s)
{
	const struct weir_policy *pol = s->pol;
	struct weir__sfilt_set *set = NULL;

	for (size_t i = 0; i < weir_policy_sessionfilter_count(pol); i++) {
		const struct weir_policy_datafilter *b =
			weir_policy_sessionfilter_at(pol, i);
		struct weir__sfilt *f;

		if (!weir__binding_applies(b, s->info.protocol))
			continue;
		if (!set && !(set = s->sfs = calloc(1, sizeof(*set))))
			return -ENOMEM;
		if (set->n == WEIR__CHAIN_MAX) {
			weir__session_why(s, -ENOSPC, "more than 8 session "
					  "filters for the protocol");
			return -ENOSPC;
		}
		f = &set->f[set->n];
		if (weir__sessionfilter_get(s->w->p->o.engine, b->name,
					    &f->sf) < 0) {
			weir__session_why(s, -ENOENT, "session filter not "
					  "registered");
			return -ENOENT;
		}
		f->name = b->name;
		f->params = b->params;
		set->n++;
	}
	return 0;
}

static socklen_t sa_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
					 : sizeof(struct sockaddr_in);
}

enum weir_session_verdict weir__sessfilt_event(struct weir_session *s,
					       enum weir_session_event kind,
					       const struct sockaddr_storage *a)
{
	struct weir__sfilt_set *set = s->sfs;
	struct weir_session_event_info ev = {
		.kind = kind,
		.addr = (const struct sockaddr *)a,
		.addr_len = a ? sa_len(a) : 0,
	};
	enum weir_session_verdict v = WEIR_SESSION_CONTINUE;
	char why[96];

	if (!set)
		return v;
	set->now = kind;
	for (size_t i = 0; i < set->n && v == WEIR_SESSION_CONTINUE &&
			   !s->aborted; i++) {
		struct weir__sfilt *f = &set->f[i];

		if (kind == WEIR_SESSION_ACCEPT)
			set->told = i + 1;
		v = f->sf.event(f->sf.priv, s, &ev, f->params, &f->ctx);
		if (v == WEIR_SESSION_DENY || v == WEIR_SESSION_KILL) {
			snprintf(why, sizeof(why), "%s by session filter %s",
				 v == WEIR_SESSION_DENY ? "denied" : "killed",
				 f->name);
			weir__session_why(s, v == WEIR_SESSION_DENY
						     ? -EACCES
						     : -ECONNABORTED,
					  why);
		} else if (v != WEIR_SESSION_CONTINUE) {
			v = WEIR_SESSION_KILL;   /* an unknown verdict: fail closed */
			weir__session_why(s, -EINVAL, "bad session verdict");
		}
	}
	set->now = 0;
	return v;
}

int weir__sessfilt_screen(struct weir_session *s,
			  enum weir_session_event second)
{
	enum weir_session_verdict v;
	int rc = weir__sessfilt_lookup(s);

	if (rc < 0)
		return rc;
	v = weir__sessfilt_event(s, WEIR_SESSION_ACCEPT, NULL);
	if (v == WEIR_SESSION_CONTINUE && !s->aborted)
		v = weir__sessfilt_event(s, second, &s->info.upstream);
	if (v != WEIR_SESSION_CONTINUE)
		weir__count(s->w, &s->w->st.denied, 1);
	return s->aborted ? (int)WEIR_SESSION_KILL : (int)v;
}

void weir__sessfilt_end(struct weir_session *s)
{
	struct weir__sfilt_set *set = s->sfs;
	struct weir_session_event_info ev = {
		.kind = WEIR_SESSION_TERMINATE,
		.bytes_up = s->bytes_up,
		.bytes_down = s->bytes_down,
		.error = s->end_err,
		.reason = s->why[0] ? s->why : NULL,
	};

	if (!set)
		return;
	set->now = WEIR_SESSION_TERMINATE;
	for (size_t i = 0; i < set->told; i++)
		set->f[i].sf.event(set->f[i].sf.priv, s, &ev, set->f[i].params,
				   &set->f[i].ctx);
	for (size_t i = 0; i < set->natt; i++)
		free(set->att[i].params);
	free(set);
	s->sfs = NULL;
}

/* ---- what a filter may do during an event --------------------------- */

static bool may_shape(const struct weir_session *s)
{
	const struct weir__sfilt_set *set = s->sfs;

	return set && (set->now == WEIR_SESSION_ACCEPT ||
		       set->now == WEIR_SESSION_CONNECT ||
		       set->now == WEIR_SESSION_UDP_DEST);
}

int weir_session_attach(struct weir_session *s, const char *datafilter,
			unsigned priority, const char *params)
{
	struct weir__sfilt_set *set = s ? s->sfs : NULL;
	struct weir_datafilter df;
	struct weir__attached *a;

	if (!s || !datafilter || priority > 1000 ||
	    strlen(datafilter) >= sizeof(a->name))
		return -EINVAL;
	if (!may_shape(s))
		return -EBUSY;
	if (weir__datafilter_get(s->w->p->o.engine, datafilter, &df) < 0)
		return -ENOENT;
	/* Room in the chain, with the policy's bindings counted: an
	 * attachment that could not run must not look accepted. */
	if (weir__chain_count(s) >= WEIR__CHAIN_MAX)
		return -ENOSPC;
	a = &set->att[set->natt];
	a->params = strdup(params ? params : "");
	if (!a->params)
		return -ENOMEM;
	strcpy(a->name, datafilter);
	a->priority = priority;
	set->natt++;
	return 0;
}

int weir_session_set_upstream(struct weir_session *s,
			      const struct sockaddr *a, socklen_t len)
{
	enum weir_session_event now = s && s->sfs ? s->sfs->now : 0;

	if (!s || !a || (a->sa_family == AF_INET ? len < sizeof(struct
								 sockaddr_in)
			: a->sa_family == AF_INET6
				? len < sizeof(struct sockaddr_in6)
				: true))
		return -EINVAL;
	if (now != WEIR_SESSION_ACCEPT &&
	    !(now == WEIR_SESSION_CONNECT &&
	      s->info.transport == IPPROTO_TCP))
		return -EBUSY;
	memset(&s->info.upstream, 0, sizeof(s->info.upstream));
	memcpy(&s->info.upstream, a,
	       a->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
					: sizeof(struct sockaddr_in));
	return 0;
}
