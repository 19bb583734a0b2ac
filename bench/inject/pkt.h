/* The packet both sides of the injection benchmark send: one IPv4 UDP
 * datagram, header checksum and UDP checksum done, so that the baseline
 * (rawblast) and weir (injblast) hand the kernel the very same bytes.
 *
 * The packet is complete as it leaves: with IP_HDRINCL the kernel fills
 * only what is zero (the IP id) and recomputes the header checksum, so
 * neither side depends on the kernel or on weir to finish it.
 */
#ifndef WEIR_BENCH_INJECT_PKT_H
#define WEIR_BENCH_INJECT_PKT_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>

/* Bytes of UDP payload by default: "64 B UDP" as in bench/packet, so a
 * 92-byte IP packet. */
#define BENCH_PKT_PAYLOAD 64u
#define BENCH_PKT_HDRS (sizeof(struct iphdr) + sizeof(struct udphdr))
#define BENCH_PKT_MAX 1472u

struct bench_pkt_spec {
	struct in_addr src, dst;
	uint16_t sport, dport;      /* host order */
	uint32_t payload;           /* UDP payload bytes */
};

/* One's complement sum of len bytes, not folded. */
static inline uint32_t bench_sum(const void *p, size_t len, uint32_t sum)
{
	const uint8_t *b = p;

	for (; len > 1; b += 2, len -= 2)
		sum += (uint32_t)(b[0] << 8 | b[1]);
	if (len)
		sum += (uint32_t)(b[0] << 8);
	return sum;
}

static inline uint16_t bench_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* The UDP checksum over the pseudo-header, header and payload; 0 is sent
 * as 0xffff (RFC 768: 0 means "no checksum"). */
static inline uint16_t bench_udp_csum(const struct iphdr *ip,
				      const uint8_t *udp, uint16_t ulen)
{
	uint32_t sum = bench_sum(&ip->saddr, 8, 0);
	uint16_t c;

	sum += IPPROTO_UDP + ulen;
	c = bench_fold(bench_sum(udp, ulen, sum));
	return c ? c : 0xffff;
}

/* Writes the packet into buf (at least BENCH_PKT_HDRS + payload bytes)
 * and returns its length, or 0 when the payload is too big. The payload
 * is a fixed pattern, so both sides send identical bytes. */
static inline uint32_t bench_pkt_build(uint8_t *buf,
				       const struct bench_pkt_spec *s)
{
	struct iphdr *ip = (struct iphdr *)buf;
	struct udphdr *udp = (struct udphdr *)(buf + sizeof(*ip));
	uint32_t len = (uint32_t)BENCH_PKT_HDRS + s->payload;
	uint16_t ulen = (uint16_t)(sizeof(*udp) + s->payload);

	if (s->payload > BENCH_PKT_MAX)
		return 0;
	memset(buf, 0, BENCH_PKT_HDRS);
	for (uint32_t i = 0; i < s->payload; i++)
		buf[BENCH_PKT_HDRS + i] = (uint8_t)('a' + i % 26);
	ip->version = 4;
	ip->ihl = sizeof(*ip) / 4;
	ip->tot_len = htons((uint16_t)len);
	ip->id = htons(0x5742);     /* nonzero: the kernel keeps it as is */
	ip->frag_off = htons(IP_DF);
	ip->ttl = 64;
	ip->protocol = IPPROTO_UDP;
	ip->saddr = s->src.s_addr;
	ip->daddr = s->dst.s_addr;
	ip->check = htons(bench_fold(bench_sum(ip, sizeof(*ip), 0)));
	udp->source = htons(s->sport);
	udp->dest = htons(s->dport);
	udp->len = htons(ulen);
	udp->check = htons(bench_udp_csum(ip, (const uint8_t *)udp, ulen));
	return len;
}

/* Parses "-S SRC -d DST" style addresses into the spec. 0 or -1. */
static inline int bench_pkt_addrs(struct bench_pkt_spec *s, const char *src,
				  const char *dst)
{
	return src && dst && inet_pton(AF_INET, src, &s->src) == 1 &&
	       inet_pton(AF_INET, dst, &s->dst) == 1 ? 0 : -1;
}

/* CPU seconds (user + system) of every thread of the process so far.
 * The system time includes the receive softirq that runs in the
 * sender's syscalls (veth delivers on the sending CPU), the same for
 * both senders. Unlike a rate, it barely moves when other work shares
 * the machine, which makes it the steadier figure on a busy one. */
static inline double bench_cpu_s(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

#endif /* WEIR_BENCH_INJECT_PKT_H */
