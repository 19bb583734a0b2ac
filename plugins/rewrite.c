/* The `rewrite` callout: clone, modify, re-inject. For a packet it would
 * change, it copies the packet (weir_pkt_copy), changes the copy, absorbs
 * the original and injects the copy on the path the original was on:
 * outbound and forwarded packets into the send path, inbound ones into
 * the receive path (on meta.ifindex_in). Packets it leaves as they are
 * are permitted.
 *
 * Parameters (the plug-in's block in the policy; at least one change):
 *   mss=N          lower the MSS option of TCP SYNs above N to N
 *   ttl=N          set the IPv4 TTL / IPv6 hop limit to N (1..255)
 *   find=TEXT      in UDP payloads, replace every occurrence of TEXT
 *   replace=TEXT   by TEXT (may be longer, shorter or empty: the IP and
 *                  UDP lengths and checksums follow)
 * TEXT is taken literally; it cannot hold ';' or a newline.
 *
 * Forwarded packets are seen after the kernel decremented their TTL, and
 * the send path does not decrement it again: the copy leaves with the TTL
 * the original would have had. TCP GSO super-packets (a GSO capture) are
 * injected whole: the injector segments them. UDP GSO packets and UDP
 * fragments are not rewritten (a find could straddle datagrams). When a
 * change or the injection fails, the original is permitted unchanged:
 * a rewrite is a repair, not a filter.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <weir/craft.h>
#include <weir/csum.h>
#include <weir/inject.h>
#include <weir/plugin.h>

#define TEXT_MAX 1024

struct rewrite_state {
	struct weir_inject_handle *h;
	bool do_mss, do_ttl, do_replace;
	uint16_t mss;
	uint8_t ttl;
	uint32_t find_len, repl_len;
	char find[TEXT_MAX], repl[TEXT_MAX];
};

static int direction_of(const struct weir_classify_in *in)
{
	if (in->pkt->meta.direction != WEIR_DIR_NONE)
		return in->pkt->meta.direction;
	switch (in->layer) {
	case WEIR_LAYER_INBOUND_IPPACKET_V4:
	case WEIR_LAYER_INBOUND_IPPACKET_V6:
	case WEIR_LAYER_INBOUND_TRANSPORT_V4:
	case WEIR_LAYER_INBOUND_TRANSPORT_V6:
	case WEIR_LAYER_ALE_ACCEPT_V4:
	case WEIR_LAYER_ALE_ACCEPT_V6:
		return WEIR_DIR_INBOUND;
	default:
		return WEIR_DIR_OUTBOUND;
	}
}

/* ---- what changes ------------------------------------------------------ */

static bool wants_mss(const struct rewrite_state *st,
		      const struct weir_pdesc *pd)
{
	return st->do_mss && (pd->flags & WEIR_PD_L4) &&
	       pd->proto == IPPROTO_TCP && (pd->tcp_flags & WEIR_TCP_SYN) &&
	       (pd->flags & WEIR_PD_TCP_MSS) && pd->tcp_mss > st->mss;
}

static bool wants_ttl(const struct rewrite_state *st,
		      const struct weir_pdesc *pd)
{
	return st->do_ttl && (pd->flags & WEIR_PD_L3) && pd->ttl != st->ttl;
}

/* The first occurrence of find in the payload at or after off. */
static const uint8_t *find_from(const struct rewrite_state *st,
				const struct weir_pkt *pkt, uint32_t off)
{
	const uint8_t *pay = pkt->data + pkt->pd.payload_off;
	uint32_t len = pkt->pd.payload_len;

	if (off > len || len - off < st->find_len)
		return NULL;
	return memmem(pay + off, len - off, st->find, st->find_len);
}

static bool wants_replace(const struct rewrite_state *st,
			  const struct weir_pkt *pkt)
{
	const struct weir_pdesc *pd = &pkt->pd;

	if (!st->do_replace || !(pd->flags & WEIR_PD_L4) ||
	    pd->proto != IPPROTO_UDP || (pkt->meta.flags & WEIR_META_GSO) ||
	    (pd->flags & (WEIR_PD_FRAG | WEIR_PD_TRUNCATED)))
		return false;
	return find_from(st, pkt, 0) != NULL;
}

/* ---- changing the copy ------------------------------------------------ */

/* Replaces every occurrence, left to right, never inside replaced text. */
static int replace_all(const struct rewrite_state *st, struct weir_pkt *pkt)
{
	const uint8_t *hit;
	uint32_t off = 0;

	while ((hit = find_from(st, pkt, off)) != NULL) {
		/* pkt->data may move with each replacement: offsets only */
		off = (uint32_t)(hit - (pkt->data + pkt->pd.payload_off));
		int rc = weir_pkt_replace_payload(pkt, off, st->find_len,
						  st->repl, st->repl_len);
		if (rc < 0)
			return rc;
		off += st->repl_len;
	}
	return 0;
}

static int modify(const struct rewrite_state *st, struct weir_pkt *copy,
		  bool mss, bool ttl, bool repl)
{
	int rc = 0;

	if (mss)
		rc = weir_pkt_clamp_mss(copy, st->mss);
	if (rc >= 0 && ttl)
		rc = weir_pkt_set_ttl(copy, st->ttl);
	if (rc >= 0 && repl)
		rc = replace_all(st, copy);
	/* The stack takes injected bytes as complete; a GSO super-packet
	 * is completed segment by segment by the injector instead. */
	if (rc >= 0 && copy->meta.csum_state == WEIR_CSUM_PARTIAL &&
	    !(copy->meta.flags & WEIR_META_GSO))
		rc = weir_pkt_csum_finalize(copy);
	return rc < 0 ? rc : 0;
}

static void copy_done(void *ctx, struct weir_nbl *nbl)
{
	(void)ctx; /* a lost copy is a lost packet: the sender retransmits */
	weir_nbl_unref(nbl);
}

/* Injects copy where the original was going. Takes copy. */
static int inject(struct rewrite_state *st, const struct weir_pkt *orig,
		  struct weir_pkt *copy, int dir)
{
	struct weir_nbl *nbl = weir_nbl_new();
	uint32_t cpt = orig->meta.compartment;
	int rc;

	if (!nbl) {
		weir_pkt_free(copy);
		return -ENOMEM;
	}
	weir_nbl_add(nbl, copy);
	if (dir == WEIR_DIR_INBOUND)
		rc = weir_inject_network_receive(st->h, 0, 0, cpt,
						 orig->meta.ifindex_in, nbl,
						 copy_done, NULL);
	else
		rc = weir_inject_network_send(st->h, 0, 0, cpt, nbl, copy_done,
					      NULL);
	if (rc < 0)
		weir_nbl_unref(nbl);
	return rc;
}

/* True when a changed copy was injected in the packet's place. */
static bool rewrite(struct rewrite_state *st,
		    const struct weir_classify_in *in)
{
	const struct weir_pkt *pkt = in->pkt;
	bool mss = wants_mss(st, &pkt->pd), ttl = wants_ttl(st, &pkt->pd);
	bool repl = wants_replace(st, pkt);
	struct weir_pkt *copy;

	if (!mss && !ttl && !repl)
		return false;
	copy = weir_pkt_copy(pkt);
	if (!copy)
		return false;
	if (modify(st, copy, mss, ttl, repl) < 0) {
		weir_pkt_free(copy);
		return false;
	}
	return inject(st, pkt, copy, direction_of(in)) == 0;
}

static void rewrite_classify(void *priv, const struct weir_classify_in *in,
			     const struct weir_filter_view *filter,
			     uint64_t flow_ctx, struct weir_callout_out *out)
{
	struct rewrite_state *st = priv;

	(void)filter, (void)flow_ctx;
	out->action = WEIR_ACTION_PERMIT;
	if (!in->pkt)
		return;
	switch (weir_injection_state(st->h, in->pkt, NULL)) {
	case WEIR_INJECTED_BY_SELF:
	case WEIR_PREVIOUSLY_INJECTED_BY_SELF:
		return; /* our copy: permitted, never rewritten twice */
	default:
		break;
	}
	if (!rewrite(st, in))
		return;
	out->action = WEIR_ACTION_BLOCK;
	out->rights &= (uint8_t)~WEIR_RIGHT_ACTION_WRITE;
	out->flags |= WEIR_CLASSIFY_ABSORB;
}

/* ---- set-up ----------------------------------------------------------- */

static int param_num(const char *params, const char *key, unsigned long lo,
		     unsigned long hi, bool *ret_set, unsigned long *ret)
{
	char buf[32], *end;
	unsigned long v;

	if (weir_param_get(params, key, buf, sizeof(buf)) < 0)
		return 0;
	v = strtoul(buf, &end, 10);
	if (end == buf || *end || v < lo || v > hi)
		return -EINVAL;
	*ret_set = true;
	*ret = v;
	return 0;
}

static int param_text(const char *params, const char *key, char *buf,
		      uint32_t *ret_len)
{
	int rc = weir_param_get(params, key, buf, TEXT_MAX);

	if (rc < 0)
		return rc;
	*ret_len = (uint32_t)strlen(buf);
	return 0;
}

static int parse(struct rewrite_state *st, const char *params)
{
	unsigned long mss = 0, ttl = 0;
	int rc_find, rc_repl;

	/* An MSS below 88 leaves no room for data behind IPv6 + TCP with
	 * options: a typo rather than a wish. */
	if (param_num(params, "mss", 88, 65535, &st->do_mss, &mss) < 0 ||
	    param_num(params, "ttl", 1, 255, &st->do_ttl, &ttl) < 0) {
		fprintf(stderr, "rewrite: mss= is 88..65535, ttl= 1..255\n");
		return -EINVAL;
	}
	st->mss = (uint16_t)mss;
	st->ttl = (uint8_t)ttl;
	rc_find = param_text(params, "find", st->find, &st->find_len);
	rc_repl = param_text(params, "replace", st->repl, &st->repl_len);
	if (rc_find == -ENOSPC || rc_repl == -ENOSPC ||
	    (rc_find == 0) != (rc_repl == 0) || (rc_find == 0 && !st->find_len)) {
		fprintf(stderr, "rewrite: find= (not empty) and replace= come "
			"together, each under %d bytes\n", TEXT_MAX);
		return -EINVAL;
	}
	st->do_replace = rc_find == 0;
	if (!st->do_mss && !st->do_ttl && !st->do_replace) {
		fprintf(stderr, "rewrite: nothing to change: give mss=, ttl= "
			"or find= with replace=\n");
		return -EINVAL;
	}
	return 0;
}

static int rewrite_init(struct weir_engine *engine, const char *params,
			void **ret_state)
{
	struct rewrite_state *st = calloc(1, sizeof(*st));
	int rc;

	if (!st)
		return -ENOMEM;
	rc = parse(st, params);
	if (rc == 0)
		rc = weir_inject_handle_create(engine, AF_UNSPEC,
					       WEIR_INJECT_NETWORK, &st->h);
	if (rc == 0)
		rc = weir_callout_register(engine, &(struct weir_callout){
			.name = "rewrite", .classify = rewrite_classify,
			.priv = st, .flags = WEIR_CALLOUT_FLOWLESS });
	if (rc < 0) {
		weir_inject_handle_destroy(st->h);
		free(st);
		return rc;
	}
	*ret_state = st;
	return 0;
}

static void rewrite_fini(struct weir_engine *engine, void *state)
{
	struct rewrite_state *st = state;

	/* Nothing injects after the unregister; copies in flight do not
	 * touch st (see tcpreset.c about -EDEADLK). */
	weir_callout_unregister(engine, "rewrite");
	weir_inject_handle_destroy(st->h);
	free(st);
}

const struct weir_plugin_ops *weir_plugin_entry(void);

const struct weir_plugin_ops *weir_plugin_entry(void)
{
	static const struct weir_plugin_ops ops = {
		.abi = WEIR_PLUGIN_ABI,
		.name = "rewrite",
		.description = "clamps the TCP MSS, sets the TTL, replaces "
			       "text in UDP payloads; re-injects the copy",
		.init = rewrite_init,
		.fini = rewrite_fini,
	};

	return &ops;
}
