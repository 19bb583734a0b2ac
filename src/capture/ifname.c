/* Interface names for the if.in.name/if.out.name fields. NFQUEUE gives
 * indexes only, and if_indextoname() is a system call, so each worker
 * keeps a small direct-mapped cache. A renamed interface shows its old
 * name for at most IFNAME_TTL_NS. The lookup runs in the worker's own
 * network namespace, which is the queue's. */
#include <net/if.h>
#include <string.h>

#include "capture/live_internal.h"

#define IFNAME_TTL_NS 2000000000ull

const char *weir__ifname(struct ifname_cache *c, uint32_t ifindex,
			 uint64_t now)
{
	struct ifname_slot *s = &c->slot[ifindex % IFNAME_SLOTS];
	char buf[IF_NAMESIZE];

	if (s->index == ifindex && now < s->until)
		return s->name;
	s->index = ifindex;
	s->until = now + IFNAME_TTL_NS;
	if (!if_indextoname(ifindex, buf))
		buf[0] = '\0';
	memcpy(s->name, buf, sizeof(s->name));
	s->name[sizeof(s->name) - 1] = '\0';
	return s->name;
}
