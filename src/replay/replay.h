/* Offline replay (`weir replay`): a capture file runs through a real
 * engine with the policy's plug-ins, packet by packet, with the capture's
 * timestamps as the only clock. Internal to the weir program.
 *
 *   pcapio.c    capture files in and out (libpcap), link headers stripped
 *   addr.c      the local address set and the interface map
 *   flowmap.c   engine flow ids to small, repeatable flow numbers
 *   pipeline.c  the layers a packet crosses, classification, pends
 *   report.c    the JSON-lines log and the summary table
 *   replay.c    set-up, the run loop, tear-down
 */
#ifndef WEIR_REPLAY_H
#define WEIR_REPLAY_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <weir/engine.h>
#include <weir/flow.h>
#include <weir/inject.h>
#include <weir/policy.h>

#include "engine/path.h"

/* Where `make install` puts the shipped plug-ins (set by the build). */
#ifndef WEIR_PLUGIN_INSTALL_DIR
#define WEIR_PLUGIN_INSTALL_DIR "/usr/local/lib/weir/plugins"
#endif

/* ---- options ---------------------------------------------------------- */

/* An address prefix: addr in network order (IPv4 in the first 4 bytes,
 * the rest zero), plen in bits. */
struct replay_prefix {
	uint8_t family;              /* AF_INET or AF_INET6 */
	uint8_t plen;
	uint8_t addr[16];
};

/* "Packets from pfx arrive on name, packets to pfx leave on it." */
struct replay_iface {
	char name[16];
	uint32_t index;              /* 1-based position on the command line */
	struct replay_prefix pfx;
};

/* What the command line asked for. Strings and arrays are the caller's
 * and must outlive replay_run(). */
struct replay_opts {
	const char *policy;          /* -p */
	const char *in_path;         /* -r */
	const char *out_path;        /* -w, NULL: none */
	const char *log_path;        /* --log, NULL: none, "-": stdout */
	const char *plugin_dir;      /* --plugins, NULL: policy's or install */
	const struct replay_prefix *local;   /* -l */
	size_t nlocal;
	const struct replay_iface *ifaces;   /* -i */
	size_t niface;
	uint64_t pend_timeout_ns;    /* --pend-timeout, 0: 5 s */
	bool quiet;                  /* -q */
};

/* Runs the replay; returns the exit status (0, 1 runtime, 2 set-up). */
int replay_run(const struct replay_opts *o);

/* ---- addresses (addr.c) ------------------------------------------------ */

/* Parses "ADDR" or "ADDR/LEN" (host bits must be zero). 0 or -EINVAL. */
int replay_prefix_parse(const char *text, struct replay_prefix *ret);
/* Parses "NAME=PREFIX" (NAME 1..15 bytes). 0 or -EINVAL. */
int replay_iface_parse(const char *text, struct replay_iface *ret);
/* True when addr (family fam, network order) is inside one of set[]. */
bool replay_in_set(const struct replay_prefix *set, size_t n, int fam,
		   const uint8_t *addr);
/* The interface with the longest prefix holding addr, or NULL. */
const struct replay_iface *replay_iface_of(const struct replay_iface *ifs,
					   size_t n, int fam,
					   const uint8_t *addr);

/* ---- capture files (pcapio.c) ------------------------------------------ */

/* Longest link header kept with a packet (Ethernet with stacked tags). */
#define REPLAY_LINK_MAX 64

/* One frame as read. `data` is valid until the next read. */
struct replay_frame {
	const uint8_t *data;         /* the frame, link header on */
	uint32_t caplen;             /* bytes present */
	uint32_t wirelen;            /* bytes on the wire */
	uint64_t ts_ns;              /* capture time, ns since the epoch */
	uint32_t ip_off;             /* IP header offset (with is_ip) */
	bool is_ip;                  /* the link layer says IPv4 or IPv6 */
};

struct replay_pcap_in;
struct replay_pcap_out;

/* Opens a pcap or pcapng file; -EPROTONOSUPPORT for a link type weir
 * cannot strip, other -errno; a reason in err. */
int replay_pcap_open(const char *path, struct replay_pcap_in **ret,
		     char *err, size_t errlen);
/* The next frame: 1, 0 at the end, -EIO (reason in err). */
int replay_pcap_next(struct replay_pcap_in *in, struct replay_frame *ret,
		     char *err, size_t errlen);
void replay_pcap_close(struct replay_pcap_in *in);

/* Creates a pcap file with the input's link type and time precision. */
int replay_pcap_create(const char *path, const struct replay_pcap_in *like,
		       struct replay_pcap_out **ret, char *err, size_t errlen);
/* Writes link[0..link_len) + ip[0..ip_len) as one frame; wirelen 0
 * means the bytes written. 0 or -ENOMEM. */
int replay_pcap_write(struct replay_pcap_out *out, uint64_t ts_ns,
		      const uint8_t *link, uint32_t link_len,
		      const uint8_t *ip, uint32_t ip_len, uint32_t wirelen);
/* Flushes and closes; 0 or -EIO (reason in err). NULL is fine. */
int replay_pcap_close_out(struct replay_pcap_out *out, char *err,
			  size_t errlen);

/* ---- flow numbers (flowmap.c) ------------------------------------------ */

/* Engine flow ids depend on the flow table's random hash seed; the log
 * numbers flows 1, 2, ... in order of creation instead. */
struct replay_flowmap {
	uint64_t *ids;               /* 0: empty slot */
	uint64_t *nos;
	size_t cap, used;
	uint64_t next_no;
};

/* The number of flow `id`, a new one when `created` or not yet known.
 * Never fails: without memory it still returns a (non-unique) number. */
uint64_t replay_flow_no(struct replay_flowmap *m, struct weir_flow_table *t,
			uint64_t id, bool created);
void replay_flowmap_free(struct replay_flowmap *m);

/* ---- one run ----------------------------------------------------------- */

enum replay_verdict {
	REPLAY_HELD = 0,             /* pended: not known yet */
	REPLAY_PERMIT,
	REPLAY_BLOCK,
	REPLAY_ABSORB,
	REPLAY_SKIP,                 /* not IP, or no IP header: unclassified */
};

/* How the host sees a packet, from the local address set: the path
 * module's enum weir__path_where. */
enum replay_dir {
	REPLAY_DIR_FORWARD = WEIR__PATH_FORWARD,     /* neither local */
	REPLAY_DIR_INBOUND = WEIR__PATH_INBOUND,     /* destination local */
	REPLAY_DIR_OUTBOUND = WEIR__PATH_OUTBOUND,   /* source local */
	REPLAY_DIR_LOOPBACK = WEIR__PATH_LOOPBACK,   /* out, then in */
};

#define REPLAY_MAX_STEPS WEIR__PATH_MAX

/* One layer's decision, as the log shows it. */
struct replay_entry {
	uint8_t layer;
	uint8_t pend_end;            /* enum weir_pend_end once a pend ended */
	struct weir_decision d;      /* d.action is the pend's final word */
};

/* A packet on its way. Owned by the run loop, and by the held list while
 * it waits for a pend; freed by replay_finish(). */
struct replay_packet {
	uint64_t index;              /* 0-based position in the capture */
	uint64_t ts_ns;              /* capture time */
	struct weir_pkt *pkt;        /* owned; NULL for skipped frames */
	uint8_t link[REPLAY_LINK_MAX];
	uint32_t link_len;
	uint32_t wirelen;            /* frame length on the wire */
	uint32_t caplen;             /* frame bytes captured */
	bool replaced;               /* a pend completion swapped the bytes */
	bool pended;                 /* pended at least once */
	bool reply;                  /* goes against its flow's first packet */
	const char *skip_reason;     /* static text, with REPLAY_SKIP */
	uint8_t dir;                 /* enum replay_dir */
	uint64_t flow_id;            /* engine flow, 0: none */
	uint64_t flow_no;            /* replay_flowmap number, 0: none */
	uint8_t nsteps, next, nentries;
	struct weir__step steps[REPLAY_MAX_STEPS];
	struct replay_entry entries[REPLAY_MAX_STEPS];
	struct replay_packet *next_held;
	bool injected;               /* made by a callout's injection */
	uint64_t origin;             /* injected: index of the frame being
	                              * replayed when it was injected */
};

/* Indexes of injected packets start here (they are pend cookies too, so
 * they must not meet a frame's index). */
#define REPLAY_INJECTED_BASE (1ull << 62)

/* A link header kept for injected packets (inject.c). */
struct replay_link {
	uint8_t bytes[REPLAY_LINK_MAX];
	uint32_t len;
	bool seen;
};

/* A pend's end, queued by the engine's handler (any thread). */
struct replay_done {
	uint64_t cookie;             /* the packet's index */
	uint8_t how;                 /* enum weir_pend_end */
	uint8_t action;
	struct weir_pkt *replacement;  /* owned by the queue, may be NULL */
	struct replay_done *next;
};

struct replay_filter {
	uint64_t id;
	uint64_t hits;
	const struct weir_policy_filter *pf;   /* the policy's */
};

struct replay_counts {
	uint64_t read, permit, block, absorb, skip, pended, written, injected;
};

struct replay {
	const struct replay_opts *o;
	struct weir_policy *policy;
	struct weir_engine *engine;
	struct weir_flow_table *flows;         /* the engine's */
	struct weir_plugin **plugins;
	size_t nplugins;
	struct replay_filter *filters;         /* index i: policy filter i */
	size_t nfilters;
	struct replay_pcap_in *in;
	struct replay_pcap_out *out;
	FILE *log;
	bool log_own;
	uint64_t now;                          /* replay clock, never 0 */
	uint64_t flows_expired;                /* when flows were last reaped */
	struct replay_flowmap fm;
	struct replay_packet *held, *held_tail;
	pthread_mutex_t lock;                  /* guards done */
	struct replay_done *done, *done_tail;
	struct replay_counts n;
	int err;                               /* first runtime error */
	struct weir_injector *injector;        /* inject.c */
	struct weir_inject_req *inj_head, *inj_tail; /* guarded by lock */
	bool injecting;
	struct replay_link links[2];           /* last IPv4, IPv6 frame's */
	const struct replay_link *last_link;
};

/* ---- pipeline.c ------------------------------------------------------- */

/* Installs the pend handler on r->engine. */
int replay_pend_setup(struct replay *r);
/* Derives direction and flow, builds the steps, and classifies; the
 * packet is then finished, or held until its pend ends. Then continues
 * the held packets whose pends its callouts completed. */
void replay_packet_run(struct replay *r, struct replay_packet *p);
/* Ends pends that are due at r->now, then continues the packets whose
 * pend ended. `all`: end every pend (end of the capture). */
void replay_pends_settle(struct replay *r, bool all);
/* Frees what a pend handler queued but nobody took. */
void replay_done_free(struct replay *r);

/* ---- inject.c --------------------------------------------------------- */

/* Installs the replay as r->engine's injector. */
int replay_inject_setup(struct replay *r);
/* Runs the queued injections' packets through the engine, then their
 * completions. Not reentrant: a nested call returns at once. */
void replay_inject_drain(struct replay *r);
/* Uninstalls the injector (cancelling what is still queued). */
void replay_inject_free(struct replay *r);
/* Keeps a frame's link header for injected packets of its IP version. */
void replay_remember_link(struct replay *r, const uint8_t *ip,
			  const uint8_t *link, uint32_t len);

/* ---- report.c --------------------------------------------------------- */

/* Logs the packet, writes it when permitted, counts it, and frees it. */
void replay_finish(struct replay *r, struct replay_packet *p,
		   enum replay_verdict v);
/* The policy filter of an engine id, or NULL. */
const struct replay_filter *replay_filter_of(const struct replay *r,
					     uint64_t id);
/* Prints the counters and the per-filter table to stdout. */
void replay_summary(struct replay *r);

#endif /* WEIR_REPLAY_H */
