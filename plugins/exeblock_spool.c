/* exeblock's spool (the seed's flow): a response's raw body bytes are
 * written to an anonymous temporary file at increasing offsets as they
 * arrive (several writes in flight, completing in any order); once the
 * body is decided harmless, the file is read back in EB_RD_CHUNK pieces
 * and sent to the client, one read at a time and only while the client
 * keeps up (EB_TX_MAX). One file per session, made on first use and
 * reused from offset 0 by the next response of a keep-alive connection
 * (only the bytes written for the response in hand are read back).
 * Any failure aborts the session (the seed's _Abort).
 */
#include <errno.h>

#include "exeblock.h"

int eb_spool_write(struct eb_inst *in, struct weir_iobuf *b)
{
	int rc;

	if (!in->f) {
		rc = weir_file_tmp(weir_session_loop(in->s), in->c->dir,
				   &in->f);
		if (rc)
			return rc;
	}
	rc = weir_file_write(in->f, in->spooled, b, &in->t,
			     EB_UD(EB_UD_F_WRITE, b->len));
	if (rc)
		return rc;
	in->file_ops++;
	in->wr_bytes += b->len;
	in->spooled += b->len;
	return 0;
}

static void drained(struct eb_inst *in)
{
	if (in->msg_end)
		eb_resp_finish(in);
	else
		/* Spool cap, cap=pass: the rest streams unscanned. */
		in->st = EB_R_PASS;
}

/* Moves the spooled body on; leaves EB_R_DRAIN once all of it went out. */
void eb_spool_drain(struct eb_inst *in)
{
	uint64_t left = in->spooled - in->rd_off;
	int rc;

	if (!in->head_out && (rc = eb_head_out(in))) {
		eb_fail(in, rc, "exeblock: send to the client failed");
		return;
	}
	/* Read back only what is on disk: every write completed. */
	if (in->wr_bytes || in->reading || in->tx_bytes >= EB_TX_MAX)
		return;
	if (!left) {
		drained(in);
		return;
	}
	rc = weir_file_read(in->f, in->rd_off,
			    left < EB_RD_CHUNK ? (uint32_t)left : EB_RD_CHUNK,
			    &in->t, EB_UD(EB_UD_F_READ, 0));
	if (rc) {
		eb_fail(in, rc, "exeblock: spool read failed");
		return;
	}
	in->file_ops++;
	in->reading = true;
}

static void on_read(struct eb_inst *in, struct weir_iobuf *b)
{
	int rc;

	if (!b->len) {
		/* The file is shorter than what was written to it. */
		eb_fail(in, -EIO, "exeblock: spool file truncated");
		return;
	}
	rc = eb_dn_send(in, b);
	if (rc) {
		eb_fail(in, rc, "exeblock: send to the client failed");
		return;
	}
	in->rd_off += b->len;
}

void eb_spool_done(struct eb_inst *in, unsigned kind, uint64_t len, bool ok,
		   int err, struct weir_iobuf *buf)
{
	if (kind == EB_UD_F_WRITE)
		in->wr_bytes -= len;
	else
		in->reading = false;
	if (!ok || in->dead) {
		weir_iobuf_unref(buf);
		if (!ok)
			eb_fail(in, err, "exeblock: spool I/O error");
		return;
	}
	if (kind == EB_UD_F_READ && in->st == EB_R_DRAIN)
		on_read(in, buf);
	weir_iobuf_unref(buf);
	eb_dn_run(in);
}
