/* Test helpers: hand-built IPv4/IPv6 packets with TCP, UDP or ICMP, with
 * correct checksums unless a test breaks them on purpose. Independent of
 * weir's builders so that tests do not check weir against itself (the
 * checksums come from a naive RFC 1071 loop below).
 */
#ifndef WEIR_TEST_PKTGEN_H
#define WEIR_TEST_PKTGEN_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

struct tpkt {
	int family;             /* AF_INET or AF_INET6 */
	uint8_t proto;          /* IPPROTO_TCP, _UDP, _ICMP, _ICMPV6 */
	const char *src, *dst;  /* textual addresses */
	uint16_t sport, dport;
	uint8_t tcp_flags;
	uint32_t seq, ack;
	const uint8_t *tcp_opts; /* raw option bytes, multiple of 4 */
	uint8_t tcp_opts_len;
	const uint8_t *ip_opts;  /* IPv4 only, multiple of 4 */
	uint8_t ip_opts_len;
	uint8_t icmp_type, icmp_code;
	const uint8_t *payload;
	uint16_t payload_len;
	uint8_t ttl;            /* 0 = 64 */
};

/* Naive one's-complement sum, 16 bits at a time, big-endian. */
static inline uint32_t tsum(uint32_t s, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	return s;
}

static inline uint16_t tfold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static inline void tput16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void tput32(uint8_t *p, uint32_t v)
{
	tput16(p, (uint16_t)(v >> 16));
	tput16(p + 2, (uint16_t)v);
}

static inline size_t tpkt_l4(const struct tpkt *t, uint8_t *l4)
{
	size_t n;

	if (t->proto == IPPROTO_TCP) {
		n = 20u + t->tcp_opts_len;
		memset(l4, 0, n);
		tput16(l4, t->sport);
		tput16(l4 + 2, t->dport);
		tput32(l4 + 4, t->seq);
		tput32(l4 + 8, t->ack);
		l4[12] = (uint8_t)((n / 4) << 4);
		l4[13] = t->tcp_flags;
		tput16(l4 + 14, 65535);
		if (t->tcp_opts_len)
			memcpy(l4 + 20, t->tcp_opts, t->tcp_opts_len);
	} else if (t->proto == IPPROTO_UDP) {
		n = 8;
		memset(l4, 0, n);
		tput16(l4, t->sport);
		tput16(l4 + 2, t->dport);
		tput16(l4 + 4, (uint16_t)(8 + t->payload_len));
	} else {
		n = 8;
		memset(l4, 0, n);
		l4[0] = t->icmp_type;
		l4[1] = t->icmp_code;
		tput16(l4 + 4, t->sport); /* echo id */
		tput16(l4 + 6, t->dport); /* echo seq */
	}
	if (t->payload_len)
		memcpy(l4 + n, t->payload, t->payload_len);
	return n + t->payload_len;
}

static inline void tpkt_l4_csum(const struct tpkt *t, const uint8_t *src,
				const uint8_t *dst, uint8_t *l4, size_t n)
{
	size_t alen = t->family == AF_INET ? 4 : 16;
	int at = t->proto == IPPROTO_TCP ? 16 : t->proto == IPPROTO_UDP ? 6 : 2;
	uint32_t s = 0;

	if (t->proto != IPPROTO_ICMP) {
		s = tsum(tsum(0, src, alen), dst, alen);
		s += t->proto + (uint32_t)n;
	}
	s = tsum(s, l4, n);
	tput16(l4 + at, tfold(s));
	if (t->proto == IPPROTO_UDP && l4[6] == 0 && l4[7] == 0)
		tput16(l4 + 6, 0xffff);
}

/* Builds the packet into out (>= 1600 bytes); returns its length. */
static inline size_t tpkt_make(const struct tpkt *t, uint8_t *out)
{
	uint8_t src[16] = { 0 }, dst[16] = { 0 };
	size_t hl, n;

	inet_pton(t->family, t->src, src);
	inet_pton(t->family, t->dst, dst);
	if (t->family == AF_INET) {
		hl = 20u + t->ip_opts_len;
		memset(out, 0, hl);
		out[0] = (uint8_t)(0x40 | hl / 4);
		out[8] = t->ttl ? t->ttl : 64;
		out[9] = t->proto;
		memcpy(out + 12, src, 4);
		memcpy(out + 16, dst, 4);
		if (t->ip_opts_len)
			memcpy(out + 20, t->ip_opts, t->ip_opts_len);
	} else {
		hl = 40;
		memset(out, 0, hl);
		out[0] = 0x60;
		out[6] = t->proto;
		out[7] = t->ttl ? t->ttl : 64;
		memcpy(out + 8, src, 16);
		memcpy(out + 24, dst, 16);
	}
	n = tpkt_l4(t, out + hl);
	tpkt_l4_csum(t, src, dst, out + hl, n);
	if (t->family == AF_INET) {
		tput16(out + 2, (uint16_t)(hl + n));
		tput16(out + 10, tfold(tsum(0, out, hl)));
	} else {
		tput16(out + 4, (uint16_t)n);
	}
	return hl + n;
}

/* True when every checksum of the packet verifies with the naive sum. */
static inline int tpkt_csum_ok(const uint8_t *p, size_t len)
{
	int v4 = p[0] >> 4 == 4;
	size_t hl = v4 ? (p[0] & 15u) * 4u : 40, alen = v4 ? 4 : 16;
	uint8_t proto = v4 ? p[9] : p[6];
	uint32_t s = 0;

	if (v4 && tfold(tsum(0, p, hl)) != 0)
		return 0;
	if (proto != IPPROTO_ICMP) {
		s = tsum(tsum(0, p + (v4 ? 12 : 8), alen), p + (v4 ? 16 : 24),
			 alen);
		s += proto + (uint32_t)(len - hl);
	}
	if (proto == IPPROTO_UDP && v4 && p[hl + 6] == 0 && p[hl + 7] == 0)
		return 1;
	return tfold(tsum(s, p + hl, len - hl)) == 0;
}

#endif /* WEIR_TEST_PKTGEN_H */
