/* exeblock's decisions: the detector's opinion of a body's first bytes,
 * the action (pass, a 403 page, or a reset once the head went out) and
 * one JSON log line per decision.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <weir/plugin.h>

#include "exeblock.h"

static void log_line(struct eb_inst *in, const char *decision,
		     const char *why)
{
	FILE *f = in->c->log;

	if (!f)
		return;
	/* One line per call; the stream's lock keeps the workers' lines
	 * whole. */
	flockfile(f);
	fprintf(f, "{\"session\":%llu,\"decision\":\"%s\",\"mode\":\"%s\","
		"\"status\":%u,\"why\":",
		(unsigned long long)weir_session_info(in->s)->id, decision,
		in->c->mode == EB_SPOOL ? "spool" : "preview", in->status);
	weir_json_put(f, why);
	fputs(",\"media_type\":", f);
	weir_json_put(f, in->media_type);
	fputs(",\"filename\":", f);
	weir_json_put(f, in->filename);
	fprintf(f, ",\"scanned\":%u,\"body_bytes\":%llu}\n", in->pre_len,
		(unsigned long long)in->body_raw);
	fflush(f);
	funlockfile(f);
}

enum exedetect_result eb_detect(struct eb_inst *in, bool last, char *why,
				size_t why_len)
{
	struct exedetect *d = eb_det_take(in->c);
	uint32_t want = in->c->preview < EXEDETECT_WINDOW
		? in->c->preview : EXEDETECT_WINDOW;
	enum exedetect_result r;
	const char *reason = "";

	if (!d) {
		/* No libmagic handle (out of memory): fail closed. */
		snprintf(why, why_len, "detector unavailable");
		return EXEDETECT_EXE;
	}
	/* The preview is the first `preview` bytes: with fewer wanted than
	 * the detector's window, they are all it gets. */
	if (last || in->pre_len >= want)
		r = exedetect_check_last(d, in->pre,
					 in->pre_len < want ? in->pre_len
							    : want, &reason);
	else
		r = exedetect_check(d, in->pre, in->pre_len, &reason);
	snprintf(why, why_len, "%s", reason);
	eb_det_give(in->c, d);
	return r;
}

void eb_log_pass(struct eb_inst *in, const char *why)
{
	log_line(in, "pass", why);
}

static struct weir_iobuf *page_403(const char *text)
{
	char body[512], page[1024];
	int bl = snprintf(body, sizeof(body), "weir exeblock: %s\n", text);
	int pl = snprintf(page, sizeof(page),
			  "HTTP/1.1 403 Forbidden\r\n"
			  "Content-Type: text/plain; charset=utf-8\r\n"
			  "Content-Length: %d\r\n"
			  "Cache-Control: no-store\r\n"
			  "Connection: close\r\n\r\n%s", bl, body);

	return weir_iobuf_from(page, (uint32_t)pl);
}

/* The response's head has not gone out: the client gets a 403 page
 * instead of it, then the connection ends cleanly (both directions shut
 * down: the request side too, as the page says Connection: close). */
static void answer_403(struct eb_inst *in, const char *text)
{
	struct weir_iobuf *b = page_403(text);
	int rc = b ? eb_dn_send(in, b) : -ENOMEM;

	weir_iobuf_unref(b);
	if (!rc && !in->dn_shut) {
		in->dn_shut = true;
		rc = weir_sock_shutdown(in->in, SHUT_WR, &in->t,
					EB_UD(EB_UD_DN_SHUT, 0));
	}
	if (rc) {
		eb_fail(in, rc, "exeblock: could not send the 403 page");
		return;
	}
	eb_up_stop(in);
}

void eb_block(struct eb_inst *in, const char *text, const char *why)
{
	log_line(in, "block", why);
	if (!in->head_out)
		answer_403(in, text);
	else
		/* Part of the response is out: a reset is the only way to
		 * tell the client it must not use it. */
		eb_fail(in, -EPERM, "exeblock: blocked after the response "
				    "head went out");
	in->st = EB_R_BLOCKED;
	in->dn_done = true;
}

void eb_block_exe(struct eb_inst *in, const char *why)
{
	char text[256];

	snprintf(text, sizeof(text),
		 "blocked an executable download (%s)", why);
	eb_block(in, text, why);
}
