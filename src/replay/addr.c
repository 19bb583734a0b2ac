/* Address prefixes for `weir replay`: the host's own addresses (-l),
 * which decide each packet's direction, and the interface map (-i),
 * which names the interfaces a packet arrives on and leaves by.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "replay/replay.h"

/* True when the first plen bits of a and b are equal. */
static bool prefix_eq(const uint8_t *a, const uint8_t *b, unsigned plen)
{
	unsigned whole = plen / 8, rest = plen % 8;

	if (memcmp(a, b, whole))
		return false;
	return !rest || !((a[whole] ^ b[whole]) & (0xff00u >> rest));
}

/* True when no bit past plen is set. */
static bool host_bits_clear(const uint8_t *a, unsigned alen, unsigned plen)
{
	for (unsigned bit = plen; bit < alen * 8; bit++)
		if (a[bit / 8] & (0x80u >> (bit % 8)))
			return false;
	return true;
}

int replay_prefix_parse(const char *text, struct replay_prefix *ret)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash, *end;
	struct replay_prefix p = { 0 };
	unsigned long plen;
	unsigned alen;

	if (!text || strlen(text) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, text);
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET, buf, p.addr) == 1)
		p.family = AF_INET;
	else if (inet_pton(AF_INET6, buf, p.addr) == 1)
		p.family = AF_INET6;
	else
		return -EINVAL;
	alen = p.family == AF_INET ? 4 : 16;
	plen = alen * 8;
	if (slash) {
		errno = 0;
		plen = strtoul(slash + 1, &end, 10);
		if (!slash[1] || *end || errno || plen > alen * 8)
			return -EINVAL;
	}
	if (!host_bits_clear(p.addr, alen, (unsigned)plen))
		return -EINVAL;
	p.plen = (uint8_t)plen;
	*ret = p;
	return 0;
}

int replay_iface_parse(const char *text, struct replay_iface *ret)
{
	const char *eq = text ? strchr(text, '=') : NULL;
	struct replay_iface f = { 0 };
	size_t n;

	if (!eq)
		return -EINVAL;
	n = (size_t)(eq - text);
	if (n == 0 || n >= sizeof(f.name))
		return -EINVAL;
	memcpy(f.name, text, n);
	if (replay_prefix_parse(eq + 1, &f.pfx) < 0)
		return -EINVAL;
	*ret = f;
	return 0;
}

bool replay_in_set(const struct replay_prefix *set, size_t n, int fam,
		   const uint8_t *addr)
{
	for (size_t i = 0; i < n; i++)
		if (set[i].family == fam &&
		    prefix_eq(set[i].addr, addr, set[i].plen))
			return true;
	return false;
}

const struct replay_iface *replay_iface_of(const struct replay_iface *ifs,
					   size_t n, int fam,
					   const uint8_t *addr)
{
	const struct replay_iface *best = NULL;

	for (size_t i = 0; i < n; i++)
		if (ifs[i].pfx.family == fam &&
		    prefix_eq(ifs[i].pfx.addr, addr, ifs[i].pfx.plen) &&
		    (!best || ifs[i].pfx.plen > best->pfx.plen))
			best = &ifs[i];
	return best;
}
