/* `weir parse HEX`: decodes one IP packet given as hex digits with the
 * packet core and prints its headers and checksum verdicts.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <weir/csum.h>
#include <weir/packet.h>

#include "cli/cli.h"

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes hex digits into out; returns the byte count or -1. */
static long unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = 0;
	int hi = -1;

	for (; *s; s++) {
		int v = hexval((unsigned char)*s);

		if (v < 0) {
			if (isspace((unsigned char)*s) || *s == ':')
				continue;
			return -1;
		}
		if (hi < 0) {
			hi = v;
			continue;
		}
		if (n == cap)
			return -1;
		out[n++] = (uint8_t)(hi << 4 | v);
		hi = -1;
	}
	return hi < 0 ? (long)n : -1;
}

static const char *csum_name(uint8_t v)
{
	static const char *const names[] = { "none", "good", "bad", "absent",
					      "uncheckable", "pseudo-ok" };

	return v < sizeof(names) / sizeof(names[0]) ? names[v] : "?";
}

static void print_l4(const struct weir_pdesc *pd)
{
	if (!(pd->flags & WEIR_PD_L4))
		return;
	if (pd->proto == 6)
		printf("tcp %u -> %u flags 0x%02x seq %u ack %u win %u"
		       " mss %u\n", pd->sport, pd->dport, pd->tcp_flags,
		       pd->tcp_seq, pd->tcp_ack, pd->tcp_win, pd->tcp_mss);
	else if (pd->proto == 17)
		printf("udp %u -> %u len %u\n", pd->sport, pd->dport,
		       pd->udp_len);
	else
		printf("icmp type %u code %u\n", pd->icmp_type,
		       pd->icmp_code);
	if (pd->flags & WEIR_PD_INNER) {
		char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];

		inet_ntop(pd->inner.family, pd->inner.src, s, sizeof(s));
		inet_ntop(pd->inner.family, pd->inner.dst, d, sizeof(d));
		printf("quotes proto %u %s port %u -> %s port %u\n",
		       pd->inner.proto, s, pd->inner.sport, d,
		       pd->inner.dport);
	}
}

int weir_cmd_parse(int argc, char **argv)
{
	static uint8_t buf[65536];
	const char *hex = argc == 2 ? argv[1] : NULL;
	char src[INET6_ADDRSTRLEN] = "?", dst[INET6_ADDRSTRLEN] = "?";
	struct weir_csum_report r;
	struct weir_pdesc pd;
	long n = hex ? unhex(hex, buf, sizeof(buf)) : -1;

	if (n < 0) {
		fprintf(stderr, "weir parse: not a hex string\n");
		return 2;
	}
	weir_parse(buf, (size_t)n, &pd);
	if (pd.family) {
		inet_ntop(pd.family, pd.src, src, sizeof(src));
		inet_ntop(pd.family, pd.dst, dst, sizeof(dst));
	}
	printf("ipv%d %s -> %s proto %u ttl %u len %u (%ld captured)\n",
	       pd.family == AF_INET ? 4 : 6, src, dst, pd.proto, pd.ttl,
	       pd.ip_len, n);
	if (pd.flags & WEIR_PD_FRAG)
		printf("fragment at offset %u%s\n", pd.frag_off,
		       pd.flags & WEIR_PD_MF ? ", more follow" : "");
	print_l4(&pd);
	weir_csum_verify(buf, &pd, false, &r);
	printf("checksums: ip %s, l4 %s\n", csum_name(r.ip),
	       csum_name(r.l4));
	if (pd.err) {
		printf("error: %s at byte %u\n", weir_perr_str(pd.err),
		       pd.err_off);
		return 1;
	}
	return 0;
}
