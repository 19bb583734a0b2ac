/* Packets: a header (weir_pkt) pointing into a refcounted, pooled buffer
 * with headroom, plus the copy-on-write rule for shared buffers.
 */
#include <errno.h>
#include <string.h>

#include "packet/buf.h"
#include "packet/nbl_internal.h"
#include "packet/pool.h"

static struct weir_buf *buf_alloc(size_t need)
{
	struct weir_buf *buf;
	uint32_t size;

	if (need <= WEIR__SMALL_BYTES) {
		buf = weir__pool_alloc(WEIR__CLS_SMALL);
		size = WEIR__SMALL_BYTES;
	} else if (need <= WEIR__LARGE_BYTES) {
		buf = weir__pool_alloc(WEIR__CLS_LARGE);
		size = WEIR__LARGE_BYTES;
	} else {
		buf = weir__pool_alloc_oversize(sizeof(*buf) + need);
		size = (uint32_t)need;
	}
	if (!buf)
		return NULL;
	atomic_init(&buf->refcnt, 1);
	buf->size = size;
	return buf;
}

static void buf_unref(struct weir_buf *buf)
{
	if (buf && atomic_fetch_sub_explicit(&buf->refcnt, 1,
					     memory_order_acq_rel) == 1)
		weir__pool_free(buf);
}

static struct weir_pkt *pkt_header(void)
{
	struct weir_pkt *pkt = weir__pool_alloc(WEIR__CLS_PKT);

	if (pkt)
		memset(pkt, 0, sizeof(*pkt));
	return pkt;
}

struct weir_pkt *weir_pkt_alloc(uint32_t len, uint32_t headroom)
{
	struct weir_pkt *pkt;

	if ((size_t)len + headroom > WEIR__PKT_MAX_BYTES)
		return NULL;
	pkt = pkt_header();
	if (!pkt)
		return NULL;
	pkt->buf_ = buf_alloc((size_t)len + headroom);
	if (!pkt->buf_) {
		weir__pool_free(pkt);
		return NULL;
	}
	pkt->data = pkt->buf_->data + headroom;
	pkt->len = len;
	return pkt;
}

/* ---- receive buffers (buf.h) ----------------------------------------- */

struct weir_buf *weir__buf_new(size_t size)
{
	return size > WEIR__PKT_MAX_BYTES ? NULL : buf_alloc(size);
}

uint8_t *weir__buf_data(struct weir_buf *buf)
{
	return buf->data;
}

bool weir__buf_shared(const struct weir_buf *buf)
{
	return atomic_load_explicit(&buf->refcnt, memory_order_acquire) > 1;
}

void weir__buf_put(struct weir_buf *buf)
{
	buf_unref(buf);
}

struct weir_pkt *weir__pkt_in_buf(struct weir_buf *buf, uint8_t *data,
				  uint32_t len)
{
	struct weir_pkt *pkt = pkt_header();

	if (!pkt)
		return NULL;
	atomic_fetch_add_explicit(&buf->refcnt, 1, memory_order_relaxed);
	pkt->buf_ = buf;
	pkt->data = data;
	pkt->len = len;
	return pkt;
}

struct weir_pkt *weir_pkt_from_bytes(const void *bytes, uint32_t len)
{
	struct weir_pkt *pkt = weir_pkt_alloc(len, WEIR_PKT_HEADROOM);

	if (pkt && len)
		memcpy(pkt->data, bytes, len);
	return pkt;
}

void weir_pkt_free(struct weir_pkt *pkt)
{
	if (!pkt)
		return;
	buf_unref(pkt->buf_);
	weir__pool_free(pkt);
}

struct weir_pkt *weir_pkt_clone(const struct weir_pkt *pkt)
{
	struct weir_pkt *c = pkt_header();

	if (!c)
		return NULL;
	*c = *pkt;
	c->next = NULL;
	atomic_fetch_add_explicit(&pkt->buf_->refcnt, 1, memory_order_relaxed);
	return c;
}

/* A private buffer of at least `size` bytes holding pkt's headroom and
 * data at the same offsets; the old buffer is released. */
static int pkt_rebuffer(struct weir_pkt *pkt, size_t size)
{
	uint32_t head = weir_pkt_headroom(pkt);
	struct weir_buf *nb = buf_alloc(size);

	if (!nb)
		return -ENOMEM;
	memcpy(nb->data + head, pkt->data, pkt->len);
	buf_unref(pkt->buf_);
	pkt->buf_ = nb;
	pkt->data = nb->data + head;
	return 0;
}

struct weir_pkt *weir_pkt_copy(const struct weir_pkt *pkt)
{
	struct weir_pkt *c = weir_pkt_clone(pkt);

	if (c && pkt_rebuffer(c, pkt->buf_->size) < 0) {
		weir_pkt_free(c);
		return NULL;
	}
	return c;
}

bool weir_pkt_is_shared(const struct weir_pkt *pkt)
{
	return atomic_load_explicit(&pkt->buf_->refcnt,
				    memory_order_acquire) > 1;
}

int weir_pkt_make_writable(struct weir_pkt *pkt)
{
	if (!weir_pkt_is_shared(pkt))
		return 0;
	return pkt_rebuffer(pkt, pkt->buf_->size);
}

uint32_t weir_pkt_headroom(const struct weir_pkt *pkt)
{
	return (uint32_t)(pkt->data - pkt->buf_->data);
}

uint32_t weir_pkt_tailroom(const struct weir_pkt *pkt)
{
	return pkt->buf_->size - weir_pkt_headroom(pkt) - pkt->len;
}

uint8_t *weir_pkt_push(struct weir_pkt *pkt, uint32_t n)
{
	if (weir_pkt_headroom(pkt) < n || weir_pkt_make_writable(pkt) < 0)
		return NULL;
	pkt->data -= n;
	pkt->len += n;
	return pkt->data;
}

uint8_t *weir_pkt_pull(struct weir_pkt *pkt, uint32_t n)
{
	if (pkt->len < n)
		return NULL;
	pkt->data += n;
	pkt->len -= n;
	return pkt->data;
}

int weir_pkt_put(struct weir_pkt *pkt, uint32_t n)
{
	size_t need = (size_t)weir_pkt_headroom(pkt) + pkt->len + n;
	int err;

	if ((size_t)pkt->len + n > WEIR__PKT_MAX_BYTES)
		return -EMSGSIZE;
	if (weir_pkt_tailroom(pkt) < n || weir_pkt_is_shared(pkt)) {
		err = pkt_rebuffer(pkt, need);
		if (err < 0)
			return err;
	}
	pkt->len += n;
	return 0;
}

void weir_pkt_trim(struct weir_pkt *pkt, uint32_t len)
{
	if (len < pkt->len)
		pkt->len = len;
}

int weir_pkt_parse(struct weir_pkt *pkt)
{
	return weir_parse(pkt->data, pkt->len, &pkt->pd);
}
