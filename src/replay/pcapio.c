/* Capture files for `weir replay`, through libpcap: reads pcap and
 * pcapng with nanosecond timestamps, finds the IP header behind the link
 * header of the link types weir knows, and writes permitted packets with
 * the input's link type and time precision.
 */
#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay/replay.h"

#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif
#ifndef DLT_IPV4
#define DLT_IPV4 228
#endif
#ifndef DLT_IPV6
#define DLT_IPV6 229
#endif

#define ETH_IPV4 0x0800u
#define ETH_IPV6 0x86ddu

struct replay_pcap_in {
	pcap_t *p;
	int linktype;                /* DLT_* */
	bool nano;                   /* the file stores nanoseconds */
};

struct replay_pcap_out {
	pcap_t *dead;
	pcap_dumper_t *dump;
	uint8_t *buf;                /* one frame being assembled */
	uint32_t buflen;
};

static const int known_links[] = {
	DLT_RAW, DLT_IPV4, DLT_IPV6, DLT_EN10MB, DLT_LINUX_SLL,
	DLT_LINUX_SLL2, DLT_NULL, DLT_LOOP,
};

static uint16_t be16(const uint8_t *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

static bool ethertype_ip(uint16_t type)
{
	return type == ETH_IPV4 || type == ETH_IPV6;
}

/* Ethernet, with any number of 802.1Q / 802.1ad tags. */
static bool strip_ether(const uint8_t *d, uint32_t len, uint32_t *off)
{
	uint32_t o = 12;
	uint16_t type;

	if (len < 14)
		return false;
	type = be16(d + o);
	while ((type == 0x8100 || type == 0x88a8 || type == 0x9100) &&
	       o + 6 <= len) {
		o += 4;
		type = be16(d + o);
	}
	*off = o + 2;
	return ethertype_ip(type) && *off <= len;
}

/* BSD loopback: the address family as a 4-byte word, in the capturing
 * host's order (DLT_NULL) or big-endian (DLT_LOOP). IPv6 is 10 (Linux),
 * 24, 28 or 30 (the BSDs, macOS). */
static bool null_family_ip(const uint8_t *d, uint32_t len)
{
	uint32_t be, le;

	if (len < 4)
		return false;
	be = (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 | d[2] << 8 | d[3];
	le = (uint32_t)d[3] << 24 | (uint32_t)d[2] << 16 | d[1] << 8 | d[0];
	for (int i = 0; i < 2; i++) {
		uint32_t v = i ? le : be;

		if (v == 2 || v == 10 || v == 24 || v == 28 || v == 30)
			return true;
	}
	return false;
}

/* Where the IP header starts; false when the frame does not carry IP. */
static bool strip_link(int linktype, const uint8_t *d, uint32_t len,
		       uint32_t *off)
{
	*off = 0;
	switch (linktype) {
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
		return len > 0 && (d[0] >> 4 == 4 || d[0] >> 4 == 6);
	case DLT_EN10MB:
		return strip_ether(d, len, off);
	case DLT_LINUX_SLL:
		*off = 16;
		return len >= 16 && ethertype_ip(be16(d + 14));
	case DLT_LINUX_SLL2:
		*off = 20;
		return len >= 20 && ethertype_ip(be16(d));
	case DLT_NULL:
	case DLT_LOOP:
		*off = 4;
		return null_family_ip(d, len);
	default:
		return false;
	}
}

/* True when the file is a classic pcap with nanosecond timestamps. */
static bool file_is_nano(const char *path)
{
	uint8_t m[4];
	FILE *f = fopen(path, "rb");
	bool nano;

	if (!f)
		return false;
	nano = fread(m, 1, 4, f) == 4 &&
	       ((m[0] == 0xa1 && m[1] == 0xb2 && m[2] == 0x3c && m[3] == 0x4d) ||
		(m[0] == 0x4d && m[1] == 0x3c && m[2] == 0xb2 && m[3] == 0xa1));
	fclose(f);
	return nano;
}

/* "PATH: MSG"; libpcap names the file in some messages, not others. */
static void path_error(char *err, size_t errlen, const char *path,
		       const char *msg)
{
	if (!strncmp(msg, path, strlen(path)))
		snprintf(err, errlen, "%s", msg);
	else
		snprintf(err, errlen, "%s: %s", path, msg);
}

static bool link_known(int linktype)
{
	for (size_t i = 0; i < sizeof(known_links) / sizeof(known_links[0]);
	     i++)
		if (known_links[i] == linktype)
			return true;
	return false;
}

int replay_pcap_open(const char *path, struct replay_pcap_in **ret,
		     char *err, size_t errlen)
{
	char ebuf[PCAP_ERRBUF_SIZE] = "";
	struct replay_pcap_in *in = calloc(1, sizeof(*in));

	if (!in)
		return snprintf(err, errlen, "out of memory"), -ENOMEM;
	in->p = pcap_open_offline_with_tstamp_precision(
		path, PCAP_TSTAMP_PRECISION_NANO, ebuf);
	if (!in->p) {
		path_error(err, errlen, path, ebuf);
		free(in);
		return -EINVAL;
	}
	in->linktype = pcap_datalink(in->p);
	if (!link_known(in->linktype)) {
		snprintf(err, errlen, "%s: link type %s (%d) is not supported "
			 "(raw IP, Ethernet, Linux cooked v1/v2, BSD loopback)",
			 path, pcap_datalink_val_to_name(in->linktype)
			 ? pcap_datalink_val_to_name(in->linktype) : "?",
			 in->linktype);
		replay_pcap_close(in);
		return -EPROTONOSUPPORT;
	}
	in->nano = file_is_nano(path);
	*ret = in;
	return 0;
}

int replay_pcap_next(struct replay_pcap_in *in, struct replay_frame *ret,
		     char *err, size_t errlen)
{
	struct pcap_pkthdr *h;
	const u_char *data;
	int r = pcap_next_ex(in->p, &h, &data);

	if (r == PCAP_ERROR_BREAK)
		return 0;
	if (r != 1) {
		snprintf(err, errlen, "%s", pcap_geterr(in->p));
		return -EIO;
	}
	*ret = (struct replay_frame){
		.data = data, .caplen = h->caplen, .wirelen = h->len,
		.ts_ns = (uint64_t)h->ts.tv_sec * 1000000000u +
			 (uint64_t)h->ts.tv_usec };
	ret->is_ip = strip_link(in->linktype, data, h->caplen, &ret->ip_off);
	return 1;
}

void replay_pcap_close(struct replay_pcap_in *in)
{
	if (!in)
		return;
	pcap_close(in->p);
	free(in);
}

int replay_pcap_create(const char *path, const struct replay_pcap_in *like,
		       struct replay_pcap_out **ret, char *err, size_t errlen)
{
	struct replay_pcap_out *o = calloc(1, sizeof(*o));

	if (!o)
		return snprintf(err, errlen, "out of memory"), -ENOMEM;
	o->dead = pcap_open_dead_with_tstamp_precision(
		like->linktype, 262144, like->nano ? PCAP_TSTAMP_PRECISION_NANO
						   : PCAP_TSTAMP_PRECISION_MICRO);
	if (o->dead)
		o->dump = pcap_dump_open(o->dead, path);
	if (!o->dump) {
		path_error(err, errlen, path,
			   o->dead ? pcap_geterr(o->dead) : "out of memory");
		if (o->dead)
			pcap_close(o->dead);
		free(o);
		return -EIO;
	}
	*ret = o;
	return 0;
}

/* Grows the assembly buffer to n bytes. */
static int reserve(struct replay_pcap_out *o, uint32_t n)
{
	uint8_t *b;

	if (n <= o->buflen)
		return 0;
	b = realloc(o->buf, n);
	if (!b)
		return -ENOMEM;
	o->buf = b;
	o->buflen = n;
	return 0;
}

int replay_pcap_write(struct replay_pcap_out *o, uint64_t ts_ns,
		      const uint8_t *link, uint32_t link_len,
		      const uint8_t *ip, uint32_t ip_len, uint32_t wirelen)
{
	uint32_t n = link_len + ip_len;
	struct pcap_pkthdr h = { .caplen = n, .len = wirelen ? wirelen : n };

	if (reserve(o, n) < 0)
		return -ENOMEM;
	memcpy(o->buf, link, link_len);
	memcpy(o->buf + link_len, ip, ip_len);
	h.ts.tv_sec = (time_t)(ts_ns / 1000000000u);
	/* pcap_dump() scales by the precision the handle was opened with:
	 * nanoseconds for a nanosecond file, else microseconds. */
	h.ts.tv_usec = (suseconds_t)(ts_ns % 1000000000u);
	if (pcap_get_tstamp_precision(o->dead) != PCAP_TSTAMP_PRECISION_NANO)
		h.ts.tv_usec /= 1000;
	pcap_dump((u_char *)o->dump, &h, o->buf);
	return 0;
}

int replay_pcap_close_out(struct replay_pcap_out *o, char *err,
			  size_t errlen)
{
	int rc = 0;

	if (!o)
		return 0;
	if (pcap_dump_flush(o->dump) < 0 || ferror(pcap_dump_file(o->dump))) {
		snprintf(err, errlen, "write error");
		rc = -EIO;
	}
	pcap_dump_close(o->dump);
	pcap_close(o->dead);
	free(o->buf);
	free(o);
	return rc;
}
