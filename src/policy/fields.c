/* The fields of the expression language, their engine fields, value
 * kinds, implied protocol and named values, and the bare words
 * ("tcp", "inbound", "tcp.syn", ...) that stand for a whole test.
 */
#include <string.h>
#include <sys/socket.h>

#include <weir/packet.h>
#include <weir/pdesc.h>

#include "policy/policy_internal.h"

#define U32 0xffffffffull

static const struct weir__const proto_c[] = {
	{ "icmp", 1 }, { "igmp", 2 }, { "tcp", 6 }, { "udp", 17 },
	{ "gre", 47 }, { "esp", 50 }, { "ah", 51 }, { "icmpv6", 58 },
	{ "sctp", 132 }, { "udplite", 136 }, { NULL, 0 } };

static const struct weir__const port_c[] = {
	{ "ftp-data", 20 }, { "ftp", 21 }, { "ssh", 22 }, { "telnet", 23 },
	{ "smtp", 25 }, { "domain", 53 }, { "dns", 53 }, { "bootps", 67 },
	{ "bootpc", 68 }, { "tftp", 69 }, { "http", 80 }, { "pop3", 110 },
	{ "ntp", 123 }, { "imap", 143 }, { "snmp", 161 }, { "ldap", 389 },
	{ "https", 443 }, { "microsoft-ds", 445 }, { "syslog", 514 },
	{ "submission", 587 }, { "ldaps", 636 }, { "imaps", 993 },
	{ "pop3s", 995 }, { "openvpn", 1194 }, { "mysql", 3306 },
	{ "rdp", 3389 }, { "postgresql", 5432 }, { "http-alt", 8080 },
	{ NULL, 0 } };

static const struct weir__const tcpf_c[] = {
	{ "fin", WEIR_TCP_FIN }, { "syn", WEIR_TCP_SYN },
	{ "rst", WEIR_TCP_RST }, { "psh", WEIR_TCP_PSH },
	{ "ack", WEIR_TCP_ACK }, { "urg", WEIR_TCP_URG },
	{ "ece", WEIR_TCP_ECE }, { "cwr", WEIR_TCP_CWR }, { NULL, 0 } };

static const struct weir__const icmp4_c[] = {
	{ "echo-reply", 0 }, { "destination-unreachable", 3 },
	{ "source-quench", 4 }, { "redirect", 5 }, { "echo-request", 8 },
	{ "router-advertisement", 9 }, { "router-solicitation", 10 },
	{ "time-exceeded", 11 }, { "parameter-problem", 12 },
	{ "timestamp-request", 13 }, { "timestamp-reply", 14 }, { NULL, 0 } };

static const struct weir__const icmp6_c[] = {
	{ "destination-unreachable", 1 }, { "packet-too-big", 2 },
	{ "time-exceeded", 3 }, { "parameter-problem", 4 },
	{ "echo-request", 128 }, { "echo-reply", 129 },
	{ "mld-listener-query", 130 }, { "mld-listener-report", 131 },
	{ "mld-listener-done", 132 }, { "nd-router-solicit", 133 },
	{ "nd-router-advert", 134 }, { "nd-neighbor-solicit", 135 },
	{ "nd-neighbor-advert", 136 }, { "nd-redirect", 137 }, { NULL, 0 } };

static const struct weir__const dir_c[] = {
	{ "inbound", WEIR_DIR_INBOUND }, { "outbound", WEIR_DIR_OUTBOUND },
	{ "forward", WEIR_DIR_FORWARD }, { NULL, 0 } };

static const struct weir__const bool_c[] = {
	{ "false", 0 }, { "true", 1 }, { "no", 0 }, { "yes", 1 },
	{ NULL, 0 } };

static const struct weir__const frag_c[] = {
	{ "fragment", WEIR_FRAGF_FRAGMENT }, { "first", WEIR_FRAGF_FIRST },
	{ "later", WEIR_FRAGF_LATER }, { "df", WEIR_FRAGF_DF }, { NULL, 0 } };

static const struct weir__const ct_c[] = {
	{ "invalid", WEIR_CTF_INVALID },
	{ "established", WEIR_CTF_ESTABLISHED },
	{ "related", WEIR_CTF_RELATED }, { "new", WEIR_CTF_NEW },
	{ "untracked", WEIR_CTF_UNTRACKED }, { "reply", WEIR_CTF_REPLY },
	{ NULL, 0 } };

static const struct weir__const cf_c[] = {
	{ "reauth", WEIR_CF_REAUTH }, { "injected", WEIR_CF_INJECTED },
	{ "malformed", WEIR_CF_MALFORMED }, { NULL, 0 } };

#define FD(n, f, k, fam, pr, w, mx, c) \
	{ n, WEIR_FIELD_##f, VK_##k, fam, pr, w, mx, c }

/* The first entry of an engine field is its canonical spelling (what
 * weir_field_name() says, so listings parse back). */
static const struct weir__fdesc fields[] = {
	FD("ip.src", IP_SRC, ADDR, 0, 0, 0, 0, NULL),
	FD("ip.dst", IP_DST, ADDR, 0, 0, 0, 0, NULL),
	FD("ip.saddr", IP_SRC, ADDR, 0, 0, 0, 0, NULL),
	FD("ip.daddr", IP_DST, ADDR, 0, 0, 0, 0, NULL),
	FD("ip6.src", IP_SRC, ADDR, AF_INET6, 0, 0, 0, NULL),
	FD("ip6.dst", IP_DST, ADDR, AF_INET6, 0, 0, 0, NULL),
	FD("ip6.saddr", IP_SRC, ADDR, AF_INET6, 0, 0, 0, NULL),
	FD("ip6.daddr", IP_DST, ADDR, AF_INET6, 0, 0, 0, NULL),
	FD("ip.proto", IP_PROTO, NUM, 0, 0, 0, 255, proto_c),
	FD("meta.l4proto", IP_PROTO, NUM, 0, 0, 0, 255, proto_c),
	FD("ip6.nexthdr", IP_PROTO, NUM, AF_INET6, 0, 0, 255, proto_c),
	FD("th.sport", SRC_PORT, NUM, 0, 0, 0, 65535, port_c),
	FD("th.dport", DST_PORT, NUM, 0, 0, 0, 65535, port_c),
	FD("tcp.sport", SRC_PORT, NUM, 0, 6, 0, 65535, port_c),
	FD("tcp.dport", DST_PORT, NUM, 0, 6, 0, 65535, port_c),
	FD("udp.sport", SRC_PORT, NUM, 0, 17, 0, 65535, port_c),
	FD("udp.dport", DST_PORT, NUM, 0, 17, 0, 65535, port_c),
	FD("tcp.flags", TCP_FLAGS, FLAGS, 0, 6, 0, 255, tcpf_c),
	FD("icmp.type", ICMP_TYPE, NUM, AF_INET, 1, 0, 255, icmp4_c),
	FD("icmp.code", ICMP_CODE, NUM, AF_INET, 1, 0, 255, NULL),
	FD("icmpv6.type", ICMP_TYPE, NUM, AF_INET6, 58, 0, 255, icmp6_c),
	FD("icmpv6.code", ICMP_CODE, NUM, AF_INET6, 58, 0, 255, NULL),
	FD("ip.ttl", TTL, NUM, 0, 0, 0, 255, NULL),
	FD("ip6.hoplimit", TTL, NUM, AF_INET6, 0, 0, 255, NULL),
	FD("ip.len", IP_LEN, NUM, 0, 0, 0, U32, NULL),
	FD("meta.iif", IF_IN, NUM, 0, 0, 0, U32, NULL),
	FD("meta.oif", IF_OUT, NUM, 0, 0, 0, U32, NULL),
	FD("meta.iifname", IF_IN_NAME, STR, 0, 0, 0, 0, NULL),
	FD("meta.oifname", IF_OUT_NAME, STR, 0, 0, 0, 0, NULL),
	FD("meta.direction", DIRECTION, NUM, 0, 0, 0, 3, dir_c),
	FD("meta.loopback", LOOPBACK, NUM, 0, 0, 0, 1, bool_c),
	FD("ip.frag", FRAG, FLAGS, 0, 0, 0, 15, frag_c),
	FD("meta.mark", MARK, NUM, 0, 0, 0, U32, NULL),
	FD("ct.state", CT_STATE, FLAGS, 0, 0, 0, 255, ct_c),
	FD("meta.uid", UID, NUM, 0, 0, 0, U32, NULL),
	FD("meta.skuid", UID, NUM, 0, 0, 0, U32, NULL),
	FD("meta.gid", GID, NUM, 0, 0, 0, U32, NULL),
	FD("meta.skgid", GID, NUM, 0, 0, 0, U32, NULL),
	FD("meta.compartment", COMPARTMENT, NUM, 0, 0, 0, U32, NULL),
	FD("packet", PACKET, BYTES, 0, 0, 1, 0xff, NULL),
	FD("packet16", PACKET, BYTES, 0, 0, 2, 0xffff, NULL),
	FD("packet32", PACKET, BYTES, 0, 0, 4, U32, NULL),
	FD("payload", PAYLOAD, BYTES, 0, 0, 1, 0xff, NULL),
	FD("payload16", PAYLOAD, BYTES, 0, 0, 2, 0xffff, NULL),
	FD("payload32", PAYLOAD, BYTES, 0, 0, 4, U32, NULL),
	FD("flags", FLAGS, FLAGS, 0, 0, 0, 7, cf_c),
	FD("meta.flags", FLAGS, FLAGS, 0, 0, 0, 7, cf_c),
};

#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static bool same(const char *name, const char *s, size_t len)
{
	return strlen(name) == len && memcmp(name, s, len) == 0;
}

const struct weir__fdesc *weir__field_find(const char *name, size_t len)
{
	for (size_t i = 0; i < NFIELDS; i++)
		if (same(fields[i].name, name, len))
			return &fields[i];
	return NULL;
}

static bool canonical_fits(const struct weir__fdesc *fd, uint16_t field,
			   int family, uint8_t width, bool any_proto)
{
	if (fd->field != field || (fd->family && fd->family != family))
		return false;
	if (fd->kind == VK_BYTES && fd->width != (width ? width : 1))
		return false;
	return any_proto || !fd->proto;
}

const struct weir__fdesc *weir__field_of(uint16_t field, int family,
					 uint8_t width)
{
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < NFIELDS; i++)
			if (canonical_fits(&fields[i], field, family, width,
					   pass == 1))
				return &fields[i];
	return NULL;
}

void weir__field_suggest(struct weir__suggest *sg)
{
	for (size_t i = 0; i < NFIELDS; i++)
		weir__suggest_try(sg, fields[i].name);
}

bool weir__const_find(const struct weir__fdesc *fd, const char *name,
		      size_t len, uint64_t *ret)
{
	const struct weir__const *c = fd->consts;

	for (; c && c->name; c++)
		if (same(c->name, name, len)) {
			*ret = c->val;
			return true;
		}
	return false;
}

static const struct weir__shorthand shorthands[] = {
	{ "tcp", SH_EQ, "ip.proto", 6, 0 },
	{ "udp", SH_EQ, "ip.proto", 17, 0 },
	{ "sctp", SH_EQ, "ip.proto", 132, 0 },
	{ "icmp", SH_EQ, "ip.proto", 1, AF_INET },
	{ "icmpv6", SH_EQ, "ip.proto", 58, AF_INET6 },
	{ "inbound", SH_EQ, "meta.direction", WEIR_DIR_INBOUND, 0 },
	{ "outbound", SH_EQ, "meta.direction", WEIR_DIR_OUTBOUND, 0 },
	{ "forward", SH_EQ, "meta.direction", WEIR_DIR_FORWARD, 0 },
	{ "loopback", SH_EQ, "meta.loopback", 1, 0 },
	{ "fragment", SH_HAS, "ip.frag", WEIR_FRAGF_FRAGMENT, 0 },
	{ "tcp.fin", SH_HAS, "tcp.flags", WEIR_TCP_FIN, 0 },
	{ "tcp.syn", SH_HAS, "tcp.flags", WEIR_TCP_SYN, 0 },
	{ "tcp.rst", SH_HAS, "tcp.flags", WEIR_TCP_RST, 0 },
	{ "tcp.psh", SH_HAS, "tcp.flags", WEIR_TCP_PSH, 0 },
	{ "tcp.ack", SH_HAS, "tcp.flags", WEIR_TCP_ACK, 0 },
	{ "tcp.urg", SH_HAS, "tcp.flags", WEIR_TCP_URG, 0 },
	{ "tcp.ece", SH_HAS, "tcp.flags", WEIR_TCP_ECE, 0 },
	{ "tcp.cwr", SH_HAS, "tcp.flags", WEIR_TCP_CWR, 0 },
	{ "ip", SH_FAMILY, NULL, 0, AF_INET },
	{ "ipv4", SH_FAMILY, NULL, 0, AF_INET },
	{ "ip6", SH_FAMILY, NULL, 0, AF_INET6 },
	{ "ipv6", SH_FAMILY, NULL, 0, AF_INET6 },
	{ "true", SH_TRUE, NULL, 0, 0 },
	{ "false", SH_FALSE, NULL, 0, 0 },
};

#define NSHORT (sizeof(shorthands) / sizeof(shorthands[0]))

const struct weir__shorthand *weir__shorthand_find(const char *name,
						   size_t len)
{
	for (size_t i = 0; i < NSHORT; i++)
		if (same(shorthands[i].name, name, len))
			return &shorthands[i];
	return NULL;
}

void weir__shorthand_suggest(struct weir__suggest *sg)
{
	for (size_t i = 0; i < NSHORT; i++)
		weir__suggest_try(sg, shorthands[i].name);
}
