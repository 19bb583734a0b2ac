/* Files for data filters: reads and writes at offsets on the loop's
 * io_uring (the seed's spool file, WriteFile with an OVERLAPPED offset).
 *
 * Each operation is its own record with its own op, so any number may be
 * in flight at once, at any offsets; they complete in whatever order the
 * kernel finishes them. A write completes once all its bytes are written:
 * a short write is resubmitted for the rest at the advanced offset. A
 * read is one read(2): fewer bytes than asked only at end of file.
 *
 * Close cancels what is in flight (a read or write the kernel already
 * runs finishes, and reports its real result); the file and its fd go
 * when the last operation has completed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "io/sock_internal.h"

struct weir_file {
	struct weir_loop *loop;
	int fd;
	bool closed;
	unsigned depth;             /* completions running */
	struct file_req *reqs;      /* in flight, for close */
};

struct file_req {
	struct weir__io_op op;
	struct weir_file *f;
	struct file_req *prev, *next;
	struct weir_io_target t;
	uint64_t user_data;
	struct weir_iobuf *buf;
	uint64_t off;
	uint32_t done;              /* bytes written so far */
	bool write;
};

static void maybe_free(struct weir_file *f)
{
	if (!f->closed || f->depth || f->reqs)
		return;
	close(f->fd);
	free(f);
}

static void link_req(struct weir_file *f, struct file_req *r)
{
	r->prev = NULL;
	r->next = f->reqs;
	if (f->reqs)
		f->reqs->prev = r;
	f->reqs = r;
}

static void unlink_req(struct weir_file *f, struct file_req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		f->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
}

static int submit(struct file_req *r)
{
	struct io_uring_sqe *sqe = weir__io_sqe(r->f->loop, &r->op);
	struct weir_iobuf *b = r->buf;

	if (!sqe)
		return -errno;
	if (r->write)
		io_uring_prep_write(sqe, r->f->fd, b->data + r->done,
				    b->len - r->done, r->off + r->done);
	else
		io_uring_prep_read(sqe, r->f->fd, b->data, b->cap, r->off);
	return 0;
}

/* A write's result: final (>= 0 or -errno), or 1 when the rest of a short
 * write went to the kernel again. */
static int write_result(struct file_req *r, int res)
{
	if (res < 0)
		return res;
	r->done += (uint32_t)res;
	if (r->done >= r->buf->len)
		return 0;
	if (!res)
		return -EIO; /* no progress: it would not get better */
	if (r->f->closed)
		return -ECANCELED;
	res = submit(r);
	if (!res)
		return 1;
	return res == -ESHUTDOWN ? -ECANCELED : res;
}

static void req_done(struct weir__io_op *op, int res, unsigned flags)
{
	struct file_req *r = weir__container_of(op, struct file_req, op);
	struct weir_file *f = r->f;
	struct weir_iobuf *buf = NULL;

	(void)flags;
	if (f->closed && res == -EINTR)
		res = -ECANCELED;
	if (r->write) {
		res = write_result(r, res);
		if (res == 1)
			return;
		weir_iobuf_unref(r->buf);
	} else if (res >= 0) {
		buf = r->buf;
		buf->len = (uint32_t)res;
	} else {
		weir_iobuf_unref(r->buf);
	}
	unlink_req(f, r);
	f->depth++;
	r->t.complete(r->t.target, res >= 0, res < 0 ? res : 0, buf,
		      r->user_data, NULL, 0);
	free(r);
	f->depth--;
	maybe_free(f);
}

static int start(struct weir_file *f, uint64_t off, struct weir_iobuf *buf,
		 bool write, const struct weir_io_target *t,
		 uint64_t user_data)
{
	struct file_req *r;
	int rc;

	if (weir__loop_closing(f->loop))
		return -ESHUTDOWN;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->op.done = req_done;
	r->f = f;
	r->t = *t;
	r->user_data = user_data;
	r->buf = buf;
	r->off = off;
	r->write = write;
	rc = submit(r);
	if (rc) {
		free(r);
		return rc;
	}
	link_req(f, r);
	return 0;
}

int weir_file_write(struct weir_file *f, uint64_t off, struct weir_iobuf *buf,
		    const struct weir_io_target *t, uint64_t user_data)
{
	int rc;

	if (!f || !buf || !t || !t->complete || f->closed)
		return -EINVAL;
	if (off > (uint64_t)INT64_MAX - buf->len)
		return -EFBIG;
	rc = start(f, off, weir_iobuf_ref(buf), true, t, user_data);
	if (rc)
		weir_iobuf_unref(buf);
	return rc;
}

int weir_file_read(struct weir_file *f, uint64_t off, uint32_t len,
		   const struct weir_io_target *t, uint64_t user_data)
{
	struct weir_iobuf *buf;
	int rc;

	/* len 0 would be indistinguishable from end of file. */
	if (!f || !len || !t || !t->complete || f->closed)
		return -EINVAL;
	if (off > (uint64_t)INT64_MAX)
		return -EINVAL;
	buf = weir_iobuf_new(len);
	if (!buf)
		return -ENOMEM;
	rc = start(f, off, buf, false, t, user_data);
	if (rc)
		weir_iobuf_unref(buf);
	return rc;
}

int weir_file_tmp(struct weir_loop *loop, const char *dir,
		  struct weir_file **ret_file)
{
	struct weir_file *f;
	int fd;

	if (!loop || !ret_file)
		return -EINVAL;
	if (weir__loop_closing(loop))
		return -ESHUTDOWN;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	fd = open(dir ? dir : "/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0) {
		fd = -errno;
		free(f);
		return fd;
	}
	f->loop = loop;
	f->fd = fd;
	*ret_file = f;
	return 0;
}

void weir_file_close(struct weir_file *f)
{
	if (!f)
		return;
	f->closed = true;
	/* A cancel without an SQE is harmless: file I/O ends by itself. */
	for (struct file_req *r = f->reqs; r; r = r->next)
		weir__io_cancel(f->loop, &r->op);
	maybe_free(f);
}
