/* Transparent interception: the policy's `intercept` protocols are
 * redirected by the kernel (nat PREROUTING REDIRECT) to weir's
 * transparent listener, and each session connects to where the client
 * was going (SO_ORIGINAL_DST, from the connection's conntrack entry).
 *
 * The rules are weir's own, tagged like the steering rules:
 *
 *   PREROUTING -m comment --comment "weir:TAG" -j WEIR-TAG-ICPT
 *   WEIR-TAG-ICPT -p tcp -m multiport --dports 80,8080 -j REDIRECT
 *                 --to-ports PORT
 *
 * for IPv4 and IPv6, installed at start after removing any a crashed
 * instance left, removed at stop. Only PREROUTING: connections weir
 * makes itself (the upstream ones) leave through OUTPUT and are never
 * caught again.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "capture/steer.h"
#include "proxy/proxy_internal.h"

#define MULTIPORT_MAX 15   /* ports per multiport match */

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

/* Removes the jump(s) and the chain; quiet when there is nothing. */
static void remove_family(const char *ipt, const char *tag)
{
	char chain[40], comment[40];
	const char *del[] = { "-w", "-t", "nat", "-D", "PREROUTING", "-m",
			      "comment", "--comment", comment, "-j", chain,
			      NULL };
	const char *flush[] = { "-w", "-t", "nat", "-F", chain, NULL };
	const char *drop[] = { "-w", "-t", "nat", "-X", chain, NULL };

	chain_name(tag, chain, sizeof(chain));
	snprintf(comment, sizeof(comment), "weir:%s", tag ? tag : "weir");
	for (int i = 0; i < 16 && run(ipt, del, NULL, NULL, 0) == 0; i++)
		;
	run(ipt, flush, NULL, NULL, 0);
	run(ipt, drop, NULL, NULL, 0);
}

/* One REDIRECT rule per group of up to 15 ports (multiport's limit). */
static void put_rules(char *t, size_t len, const struct weir_policy *pol,
		      const char *chain, uint16_t port)
{
	uint16_t ports[256];
	size_t n = 0, off = strlen(t);

	for (size_t i = 0; i < weir_policy_intercept_count(pol); i++) {
		const struct weir_policy_protocol *pr =
			weir_policy_intercept_at(pol, i);

		for (uint32_t j = 0; j < pr->nports && n < 256; j++)
			ports[n++] = pr->ports[j];
	}
	for (size_t g = 0; g < n && off < len; g += MULTIPORT_MAX) {
		off += (size_t)snprintf(t + off, len - off,
					"-A %s -p tcp -m multiport --dports ",
					chain);
		for (size_t k = g; k < n && k < g + MULTIPORT_MAX && off < len;
		     k++)
			off += (size_t)snprintf(t + off, len - off, "%s%u",
						k > g ? "," : "", ports[k]);
		if (off < len)
			off += (size_t)snprintf(t + off, len - off,
						" -j REDIRECT --to-ports %u\n",
						port);
	}
}

static int install_family(const char *restore, const char *tag,
			  const struct weir_policy *pol, uint16_t port,
			  char *err, size_t errlen)
{
	char chain[40], text[4096];
	const char *args[] = { "--noflush", "-w", NULL };

	chain_name(tag, chain, sizeof(chain));
	snprintf(text, sizeof(text), "*nat\n:%s - [0:0]\n", chain);
	put_rules(text, sizeof(text), pol, chain, port);
	snprintf(text + strlen(text), sizeof(text) - strlen(text),
		 "-A PREROUTING -m comment --comment \"weir:%s\" -j %s\n"
		 "COMMIT\n", tag ? tag : "weir", chain);
	return run(restore, args, text, err, errlen);
}

int weir__intercept_install(const struct weir_policy *pol, const char *tag,
			    uint16_t port, char *err, size_t errlen)
{
	int rc;

	weir__intercept_remove(tag);
	rc = install_family("iptables-restore", tag, pol, port, err, errlen);
	if (!rc)
		rc = install_family("ip6tables-restore", tag, pol, port, err,
				    errlen);
	if (rc)
		weir__intercept_remove(tag);
	return rc;
}

void weir__intercept_remove(const char *tag)
{
	remove_family("iptables", tag);
	remove_family("ip6tables", tag);
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
				     uint16_t port)
{
	for (size_t i = 0; i < weir_policy_intercept_count(pol); i++) {
		const struct weir_policy_protocol *pr =
			weir_policy_intercept_at(pol, i);

		for (uint32_t j = 0; j < pr->nports; j++)
			if (pr->ports[j] == port)
				return pr->name;
	}
	return NULL;
}
