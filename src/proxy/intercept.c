/* Transparent interception: the policy's `intercept` protocols are
 * diverted by the kernel to weir's transparent listeners on one port.
 *
 * TCP: nat PREROUTING REDIRECT; each session connects to where the
 * client was going (SO_ORIGINAL_DST, from the connection's conntrack
 * entry). UDP: mangle PREROUTING TPROXY, which hands the datagram,
 * addresses untouched, to a local socket: the listener, or a socket
 * bound to the original destination and connected to that client (a
 * session's reply socket, udp.c). TPROXY only picks the socket; the
 * packet still has to be routed to the host rather than forwarded,
 * hence its mark and a routing table where every address is local.
 *
 * The rules are weir's own: chains named after the tag, reached by plain
 * jumps (as the steering's: under iptables-nft a comment is an xt match
 * that runs for every packet, and the mangle jump sees every packet; the
 * commented jumps of older versions are still removed):
 *
 *   nat:    PREROUTING -j WEIR-TAG-ICPT
 *           WEIR-TAG-ICPT -p tcp -m multiport --dports 80,8080
 *                         -j REDIRECT --to-ports PORT
 *   mangle: PREROUTING -j WEIR-TAG-ICPT
 *           WEIR-TAG-ICPT ! -i lo -p udp -m multiport --dports 53
 *                         -j TPROXY --on-port PORT
 *                         --tproxy-mark 0x5701/0xffff
 *   ip rule add fwmark 0x5701/0xffff lookup 5701 protocol 87
 *   ip route add local 0.0.0.0/0 dev lo table 5701 proto 87
 *
 * for IPv4 and IPv6 (`ip -6`), each table only when the policy has
 * protocols of its transport, installed at start after removing any a
 * crashed instance left, removed at stop. Only PREROUTING, and for UDP
 * not from lo: what weir sends itself (the upstream datagrams and
 * connections) leaves through OUTPUT, and when it goes to an address of
 * this host it comes back in through lo, where it must not be caught
 * again. The mark, the table and the routing rule are not per tag: one
 * instance per namespace intercepts UDP, and only one that does touches
 * them.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "capture/steer.h"
#include "proxy/proxy_internal.h"

#define MULTIPORT_MAX 15   /* ports per multiport match */

/* TPROXY's packet mark: the low 16 bits, which weir's packet steering
 * leaves alone (it uses 0x00ff0000 for its own packets and 0xff000000
 * for verdict generations, capture/steer.h). */
#define TPROXY_MARK 0x5701u
#define TPROXY_MASK 0xffffu
/* The routing table for marked packets (ours alone: flushed whole), and
 * the protocol number ('W') that marks our ip rule and route as weir's
 * (`ip rule show protocol 87`). */
#define TPROXY_TABLE "5701"
#define TPROXY_RTPROTO "87"

/* From <linux/netfilter_ipv4.h> and <linux/netfilter_ipv6/ip6_tables.h>,
 * which clash with glibc's <netinet/in.h>. */
#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

static void chain_name(const char *tag, char *buf, size_t len)
{
	if (!tag || !strcmp(tag, "weir"))
		snprintf(buf, len, "WEIR-ICPT");
	else
		snprintf(buf, len, "WEIR-%s-ICPT", tag);
}

static int run(const char *tool, const char *const *args, const char *in,
	       char *err, size_t errlen)
{
	const char *argv[16] = { tool };
	struct weir__steer_run r = { .in = in, .in_len = in ? strlen(in) : 0 };
	int rc;

	/* argv keeps a NULL after the last argument. */
	for (size_t i = 0; args[i] && i + 2 < 16; i++)
		argv[i + 1] = args[i];
	rc = weir__steer_exec(argv, &r);
	if (rc && err)
		snprintf(err, errlen, "%s: %s", tool,
			 r.err[0] ? r.err : strerror(-rc));
	free(r.out);
	return rc;
}

/* Removes the jump(s), plain or in the commented form of older
 * versions, and the chain from one table; quiet when there is nothing. */
static void remove_table(const char *ipt, const char *table, const char *tag)
{
	char chain[40], comment[40];
	const char *del_old[] = { "-w", "-t", table, "-D", "PREROUTING", "-m",
				  "comment", "--comment", comment, "-j", chain,
				  NULL };
	const char *del[] = { "-w", "-t", table, "-D", "PREROUTING", "-j",
			      chain, NULL };
	const char *flush[] = { "-w", "-t", table, "-F", chain, NULL };
	const char *drop[] = { "-w", "-t", table, "-X", chain, NULL };

	chain_name(tag, chain, sizeof(chain));
	snprintf(comment, sizeof(comment), "weir:%s", tag ? tag : "weir");
	for (int i = 0; i < 32 && (run(ipt, del, NULL, NULL, 0) == 0 ||
				   run(ipt, del_old, NULL, NULL, 0) == 0); i++)
		;
	run(ipt, flush, NULL, NULL, 0);
	run(ipt, drop, NULL, NULL, 0);
}

/* The ports of pol's intercepted protocols of one transport, at most
 * max. */
static size_t ports_of(const struct weir_policy *pol, int transport,
		       uint16_t *ports, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < weir_policy_intercept_count(pol); i++) {
		const struct weir_policy_protocol *pr =
			weir_policy_intercept_at(pol, i);

		for (uint32_t j = 0; pr->transport == transport &&
				     j < pr->nports && n < max; j++)
			ports[n++] = pr->ports[j];
	}
	return n;
}

/* Appends printf-style text to t (len bytes in all); what does not fit
 * is cut, and the caller's restore then fails on the cut rule. */
static void put(char *t, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void put(char *t, size_t len, const char *fmt, ...)
{
	size_t off = strlen(t);
	va_list ap;

	if (off + 1 >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(t + off, len - off, fmt, ap);
	va_end(ap);
}

/* One table's section: the chain, a rule per group of up to 15 ports
 * (multiport's limit) with `match` before the ports and `target` after
 * them, and the jump unless the chain is there already (then
 * declaring it flushes it, and the new rules replace the old ones in the
 * same transaction: no moment without interception). Nothing when there
 * are no ports. */
static void put_table(char *t, size_t len, const char *table,
		      const char *chain, const uint16_t *ports, size_t n,
		      const char *match, const char *target, bool jump)
{
	if (!n)
		return;
	put(t, len, "*%s\n:%s - [0:0]\n", table, chain);
	for (size_t g = 0; g < n; g += MULTIPORT_MAX) {
		put(t, len, "-A %s %s -m multiport --dports ", chain, match);
		for (size_t k = g; k < n && k < g + MULTIPORT_MAX; k++)
			put(t, len, "%s%u", k > g ? "," : "", ports[k]);
		put(t, len, " %s\n", target);
	}
	if (jump)
		put(t, len, "-A PREROUTING -j %s\n", chain);
	put(t, len, "COMMIT\n");
}

/* The rules of pol for one family. `old`: the policy whose rules are
 * installed now (NULL: none), whose chains are replaced in place. */
static int install_family(const char *restore, const char *tag,
			  const struct weir_policy *pol,
			  const struct weir_policy *old, uint16_t port,
			  char *err, size_t errlen)
{
	char chain[40], text[8192] = "", redirect[48], tproxy[96];
	const char *args[] = { "--noflush", "-w", NULL };
	uint16_t tcp[256], udp[256];
	size_t ntcp = ports_of(pol, IPPROTO_TCP, tcp, 256);
	size_t nudp = ports_of(pol, IPPROTO_UDP, udp, 256);

	chain_name(tag, chain, sizeof(chain));
	snprintf(redirect, sizeof(redirect), "-j REDIRECT --to-ports %u",
		 port);
	snprintf(tproxy, sizeof(tproxy),
		 "-j TPROXY --on-port %u --tproxy-mark 0x%x/0x%x", port,
		 TPROXY_MARK, TPROXY_MASK);
	put_table(text, sizeof(text), "nat", chain, tcp, ntcp,
		  "-p tcp", redirect,
		  !old || !weir__intercept_has(old, IPPROTO_TCP));
	put_table(text, sizeof(text), "mangle", chain, udp, nudp,
		  "! -i lo -p udp", tproxy,
		  !old || !weir__intercept_has(old, IPPROTO_UDP));
	return text[0] ? run(restore, args, text, err, errlen) : 0;
}

/* Marked packets are delivered here: a rule to our table, where every
 * address is local. `fam` is "-4" or "-6". */
static int install_routing(const char *fam, char *err, size_t errlen)
{
	char mark[32];
	const char *rule[] = { fam, "rule", "add", "fwmark", mark, "lookup",
			       TPROXY_TABLE, "protocol", TPROXY_RTPROTO, NULL };
	const char *route[] = { fam, "route", "add", "local",
				!strcmp(fam, "-6") ? "::/0" : "0.0.0.0/0",
				"dev", "lo", "table", TPROXY_TABLE, "proto",
				TPROXY_RTPROTO, NULL };
	int rc;

	snprintf(mark, sizeof(mark), "0x%x/0x%x", TPROXY_MARK, TPROXY_MASK);
	rc = run("ip", route, NULL, err, errlen);
	if (!rc)
		rc = run("ip", rule, NULL, err, errlen);
	return rc;
}

/* Our rules (any number: an add repeated by hand, or by instances with
 * other tags) and our table; quiet when there are none. */
static void remove_routing(const char *fam)
{
	char mark[32];
	const char *rule[] = { fam, "rule", "del", "fwmark", mark, "lookup",
			       TPROXY_TABLE, "protocol", TPROXY_RTPROTO, NULL };
	const char *flush[] = { fam, "route", "flush", "table", TPROXY_TABLE,
				NULL };

	snprintf(mark, sizeof(mark), "0x%x/0x%x", TPROXY_MARK, TPROXY_MASK);
	for (int i = 0; i < 16 && run("ip", rule, NULL, NULL, 0) == 0; i++)
		;
	run("ip", flush, NULL, NULL, 0);
}

bool weir__intercept_has(const struct weir_policy *pol, int transport)
{
	uint16_t port;

	return ports_of(pol, transport, &port, 1) > 0;
}

static int install_routing_both(char *err, size_t errlen)
{
	int rc = install_routing("-4", err, errlen);

	return rc ? rc : install_routing("-6", err, errlen);
}

static void remove_routing_both(void)
{
	remove_routing("-4");
	remove_routing("-6");
}

/* pol's rules for both families, replacing old's (NULL: none). */
static int install_families(const char *tag, const struct weir_policy *pol,
			    const struct weir_policy *old, uint16_t port,
			    char *err, size_t errlen)
{
	int rc = install_family("iptables-restore", tag, pol, old, port, err,
				errlen);

	return rc ? rc : install_family("ip6tables-restore", tag, pol, old,
					port, err, errlen);
}

int weir__intercept_install(const struct weir_policy *pol, const char *tag,
			    uint16_t port, char *err, size_t errlen)
{
	int rc = 0;

	weir__intercept_remove(pol, tag);
	/* The routing first: a datagram TPROXY marks must find it. */
	if (weir__intercept_has(pol, IPPROTO_UDP))
		rc = install_routing_both(err, errlen);
	if (!rc)
		rc = install_families(tag, pol, NULL, port, err, errlen);
	if (rc)
		weir__intercept_remove(pol, tag);
	return rc;
}

/* The tables and routing a transport's interception uses, gone. */
static void remove_transport(int transport, const char *tag)
{
	const char *table = transport == IPPROTO_TCP ? "nat" : "mangle";

	remove_table("iptables", table, tag);
	remove_table("ip6tables", table, tag);
	if (transport == IPPROTO_UDP)
		remove_routing_both();
}

int weir__intercept_update(const struct weir_policy *old,
			   const struct weir_policy *pol, const char *tag,
			   uint16_t port, char *err, size_t errlen)
{
	bool udp_was = weir__intercept_has(old, IPPROTO_UDP);
	bool udp_now = weir__intercept_has(pol, IPPROTO_UDP);
	int rc = 0;

	/* The routing before the rules, as at install. */
	if (udp_now && !udp_was)
		rc = install_routing_both(err, errlen);
	if (!rc)
		rc = install_families(tag, pol, old, port, err, errlen);
	if (rc) {
		/* Nothing half-done stays: neither policy's rules. */
		weir__intercept_remove(old, tag);
		weir__intercept_remove(pol, tag);
		return rc;
	}
	for (int t = 0; t < 2; t++) {
		int tr = t ? IPPROTO_UDP : IPPROTO_TCP;

		if (weir__intercept_has(old, tr) && !weir__intercept_has(pol, tr))
			remove_transport(tr, tag);
	}
	return 0;
}

/* The routing is not per tag: an instance that intercepts no UDP leaves
 * it alone, or it would cut off another tag's UDP interception. */
void weir__intercept_remove(const struct weir_policy *pol, const char *tag)
{
	remove_table("iptables", "nat", tag);
	remove_table("ip6tables", "nat", tag);
	remove_table("iptables", "mangle", tag);
	remove_table("ip6tables", "mangle", tag);
	if (weir__intercept_has(pol, IPPROTO_UDP))
		remove_routing_both();
}

int weir__original_dst(int fd, struct sockaddr_storage *ret)
{
	socklen_t len = sizeof(*ret);

	memset(ret, 0, sizeof(*ret));
	if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, ret, &len) == 0)
		return 0;
	len = sizeof(*ret);
	if (getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, ret, &len) == 0)
		return 0;
	return -errno;
}

const char *weir__intercept_protocol(const struct weir_policy *pol,
				     int transport, uint16_t port)
{
	for (size_t i = 0; i < weir_policy_intercept_count(pol); i++) {
		const struct weir_policy_protocol *pr =
			weir_policy_intercept_at(pol, i);

		for (uint32_t j = 0; pr->transport == transport &&
				     j < pr->nports; j++)
			if (pr->ports[j] == port)
				return pr->name;
	}
	return NULL;
}
