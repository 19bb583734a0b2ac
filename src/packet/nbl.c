/* Packet lists (weir_nbl): an ordered, refcounted list of packets that
 * travel and complete together, after WFP's NET_BUFFER_LIST.
 */
#include <stdatomic.h>
#include <string.h>

#include "packet/nbl_internal.h"
#include "packet/pool.h"

struct weir_nbl *weir_nbl_new(void)
{
	struct weir_nbl *nbl = weir__pool_alloc(WEIR__CLS_NBL);

	if (!nbl)
		return NULL;
	memset(nbl, 0, sizeof(*nbl));
	atomic_init(&nbl->refcnt_, 1);
	return nbl;
}

struct weir_nbl *weir_nbl_from_bytes(const void *bytes, uint32_t len)
{
	struct weir_nbl *nbl = weir_nbl_new();
	struct weir_pkt *pkt;

	if (!nbl)
		return NULL;
	pkt = weir_pkt_from_bytes(bytes, len);
	if (!pkt)
		return weir_nbl_unref(nbl);
	weir_nbl_add(nbl, pkt);
	return nbl;
}

void weir_nbl_add(struct weir_nbl *nbl, struct weir_pkt *pkt)
{
	pkt->next = NULL;
	if (nbl->last_)
		nbl->last_->next = pkt;
	else
		nbl->first = pkt;
	nbl->last_ = pkt;
	nbl->count++;
}

struct weir_pkt *weir_nbl_pop(struct weir_nbl *nbl)
{
	struct weir_pkt *pkt = nbl->first;

	if (!pkt)
		return NULL;
	nbl->first = pkt->next;
	if (!nbl->first)
		nbl->last_ = NULL;
	nbl->count--;
	pkt->next = NULL;
	return pkt;
}

struct weir_nbl *weir_nbl_ref(struct weir_nbl *nbl)
{
	atomic_fetch_add_explicit(&nbl->refcnt_, 1, memory_order_relaxed);
	return nbl;
}

struct weir_nbl *weir_nbl_unref(struct weir_nbl *nbl)
{
	if (!nbl || atomic_fetch_sub_explicit(&nbl->refcnt_, 1,
					      memory_order_acq_rel) != 1)
		return NULL;
	while (nbl->first)
		weir_pkt_free(weir_nbl_pop(nbl));
	weir__pool_free(nbl);
	return NULL;
}

/* A new list holding dup(p) for every packet p of nbl; nothing is left
 * allocated on failure. */
static struct weir_nbl *nbl_dup(const struct weir_nbl *nbl,
				struct weir_pkt *(*dup)(const struct weir_pkt *))
{
	struct weir_nbl *out = weir_nbl_new();

	if (!out)
		return NULL;
	for (const struct weir_pkt *p = nbl->first; p; p = p->next) {
		struct weir_pkt *c = dup(p);

		if (!c)
			return weir_nbl_unref(out);
		weir_nbl_add(out, c);
	}
	out->status = nbl->status;
	return out;
}

struct weir_nbl *weir_nbl_clone(const struct weir_nbl *nbl)
{
	return nbl_dup(nbl, weir_pkt_clone);
}

struct weir_nbl *weir_nbl_copy(const struct weir_nbl *nbl)
{
	return nbl_dup(nbl, weir_pkt_copy);
}
