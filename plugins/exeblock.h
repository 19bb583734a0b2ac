/* The exeblock data filter (issue 6), shared by its files:
 *
 *   exeblock.c        the plug-in: registration, attach/detach, failures
 *   exeblock_conf.c   parameters, one configuration per binding, the
 *                     detector pool, the decision log
 *   exeblock_up.c     client -> server: forwarded unchanged, read only to
 *                     learn each request's method (HEAD has no body)
 *   exeblock_down.c   server -> client: responses parsed, each held until
 *                     its body's first bytes (preview) or whole body
 *                     (spool) decide
 *   exeblock_spool.c  the spool file: writes at offsets, read back
 *   exeblock_decide.c detection, the 403 page, the log line
 *
 * One instance per session, on the session's loop thread only. Every
 * operation completes through eb_complete() with a user-data word
 * saying what it was (EB_UD_*) and, for sends and writes, how many bytes
 * it carried (the upper bits), which is how the in-flight byte counts
 * that bound memory are kept.
 */
#ifndef WEIR_PLUGIN_EXEBLOCK_H
#define WEIR_PLUGIN_EXEBLOCK_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <weir/proxy.h>

#include "exedetect.h"
#include "http1.h"

/* Bytes sent toward the client and not yet taken: past this the filter
 * stops reading from the server (a slow client slows the server down
 * instead of filling weir's memory). */
#define EB_TX_MAX (256u * 1024u)
/* Spool writes in flight: past this, wait for the disk. */
#define EB_WR_MAX (1024u * 1024u)
/* Read-back chunk from the spool file. */
#define EB_RD_CHUNK (64u * 1024u)
/* Raw body bytes held in memory while a preview decides (chunk framing
 * included); a body whose framing alone is this large decides early. */
#define EB_HOLD_MAX (1024u * 1024u)

enum eb_mode { EB_SPOOL, EB_PREVIEW };

struct eb_det {
	struct exedetect *d;
	struct eb_det *next;
};

/* The configuration of one binding (its parameter text), shared by the
 * sessions of every worker; immutable once made, but for the pool. */
struct eb_conf {
	char *key;                 /* the binding's parameter text */
	enum eb_mode mode;
	uint32_t preview;
	uint64_t spool_max;
	bool cap_pass;
	char *types, *sigs;        /* NULL: exedetect's defaults */
	char dir[256];
	FILE *log;                 /* NULL: no log */
	pthread_mutex_t lock;      /* the pool below */
	struct eb_det *dets;       /* idle detectors (libmagic handles are
	                            * not thread-safe: one per user) */
	struct eb_conf *next;
};

struct eb {
	char *params;              /* the plug-in's: defaults of every key */
	pthread_mutex_t lock;      /* confs */
	struct eb_conf *confs;
};

/* What a held response is waiting for. */
enum eb_resp {
	EB_R_HEAD,     /* between responses: the parser gathers a head */
	EB_R_HOLD,     /* preview: head and body start held in memory */
	EB_R_SPOOL,    /* spool: body going to the file */
	EB_R_DRAIN,    /* passed: the spooled bytes go to the client */
	EB_R_PASS,     /* decided (or nothing to decide): bytes stream */
	EB_R_BLOCKED,  /* 403 sent or session aborted: nothing more */
};

enum {
	EB_UD_UP_RECV = 1, EB_UD_UP_SEND, EB_UD_UP_SHUT,
	EB_UD_DN_RECV, EB_UD_DN_SEND, EB_UD_DN_SHUT,
	EB_UD_F_WRITE, EB_UD_F_READ,
};
#define EB_UD(kind, len) ((uint64_t)(kind) | ((uint64_t)(len) << 8))
#define EB_UD_KIND(ud) ((unsigned)((ud) & 0xff))
#define EB_UD_LEN(ud) ((ud) >> 8)

struct eb_inst {
	struct eb_conf *c;
	struct weir_session *s;
	struct weir_sock *in, *ex;
	struct weir_io_target t;
	bool dead;                 /* aborted or blocked: start nothing */
	bool detached;             /* freed by the last file completion */
	unsigned file_ops;

	/* client -> server */
	struct http1_req_parser rq;
	bool up_recv, up_eof, up_shut, up_stop;
	unsigned up_sends;
	unsigned outstanding;      /* requests without a final response */

	/* server -> client */
	struct http1_parser rp;
	struct weir_iobuf *cur;    /* received, being worked through */
	uint32_t cur_off;
	bool parse_more;           /* the parser may have another event */
	bool dn_recv, dn_eof, dn_shut, dn_done;
	uint64_t tx_bytes;         /* sent to the client, not yet taken */

	/* the response in hand */
	enum eb_resp st;
	struct weir_iobuf *head;   /* its head, held until the decision */
	bool head_out;             /* its head went to the client */
	uint16_t status;
	uint32_t hflags;
	char media_type[HTTP1_MEDIA_TYPE_MAX];
	char filename[HTTP1_FILENAME_MAX];
	uint8_t *hold;             /* preview: raw body bytes held */
	uint32_t hold_len, hold_cap;
	uint8_t pre[EXEDETECT_WINDOW]; /* the body's first bytes, de-chunked */
	uint32_t pre_len;
	uint64_t body_raw;         /* raw body bytes seen */
	bool msg_end;              /* its body is complete */

	/* spool */
	struct weir_file *f;
	uint64_t spooled, wr_bytes, rd_off;
	bool reading;
};

/* exeblock.c */
void eb_fail(struct eb_inst *in, int err, const char *why);
void eb_complete(void *target, bool ok, int err, struct weir_iobuf *buf,
		 uint64_t ud, const struct sockaddr *a, socklen_t al);

/* exeblock_conf.c */
int eb_conf_get(struct eb *eb, const char *bparams, struct eb_conf **ret);
void eb_conf_free_all(struct eb *eb);
struct exedetect *eb_det_take(struct eb_conf *c);
void eb_det_give(struct eb_conf *c, struct exedetect *d);

/* exeblock_up.c */
void eb_up_start(struct eb_inst *in);
void eb_up_done(struct eb_inst *in, unsigned kind, bool ok, int err,
		struct weir_iobuf *buf);
void eb_up_stop(struct eb_inst *in);

/* exeblock_down.c */
void eb_dn_run(struct eb_inst *in);
void eb_dn_done(struct eb_inst *in, unsigned kind, uint64_t len, bool ok,
		int err, struct weir_iobuf *buf);
int eb_dn_send(struct eb_inst *in, struct weir_iobuf *b);
/* The response in hand is complete and out: ready for the next. */
void eb_resp_finish(struct eb_inst *in);
/* Sends the held head, if any. 0 or -errno. */
int eb_head_out(struct eb_inst *in);

/* exeblock_spool.c */
int eb_spool_write(struct eb_inst *in, struct weir_iobuf *b);
void eb_spool_drain(struct eb_inst *in);
void eb_spool_done(struct eb_inst *in, unsigned kind, uint64_t len, bool ok,
		   int err, struct weir_iobuf *buf);

/* exeblock_decide.c */
/* The detector's opinion of the body's first bytes (`last`: the body
 * ended, or no more will be looked at); its reason in why. */
enum exedetect_result eb_detect(struct eb_inst *in, bool last, char *why,
				size_t why_len);
void eb_log_pass(struct eb_inst *in, const char *why);
/* Blocks the response in hand: a 403 page saying `text` when its head
 * has not gone out, else a reset; logs `why`. */
void eb_block(struct eb_inst *in, const char *text, const char *why);
void eb_block_exe(struct eb_inst *in, const char *why);

#endif
