/* Error reporting: the first error of a parse with its location and the
 * text of its line, and rendering it with a caret under the offending
 * text.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "policy/policy_internal.h"

static void set_file(struct weir_policy_error *err, const char *file)
{
	snprintf(err->file, sizeof(err->file), "%s", file ? file : "<policy>");
}

/* Copies the line holding byte `off`, without its newline; control
 * characters but tabs become spaces so the caret lines up. */
static void copy_line(struct weir_policy_error *err, const char *text,
		      size_t len, size_t off)
{
	size_t start = off < len ? off : len, end, n;

	while (start > 0 && text[start - 1] != '\n')
		start--;
	end = start;
	while (end < len && text[end] != '\n')
		end++;
	if (end > start && text[end - 1] == '\r')
		end--;
	n = end - start;
	if (n >= sizeof(err->line_text))
		n = sizeof(err->line_text) - 1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)text[start + i];

		err->line_text[i] = (c < 0x20 && c != '\t') || c == 0x7f
				    ? ' ' : (char)c;
	}
	err->line_text[n] = '\0';
}

__attribute__((format(printf, 4, 0)))
static int record(struct weir__src *s, struct weir__loc loc, int code,
		  const char *fmt, va_list ap)
{
	struct weir_policy_error *err = s->err;

	if (s->status)
		return s->status;
	s->status = code;
	if (!err)
		return code;
	memset(err, 0, sizeof(*err));
	set_file(err, s->name);
	err->line = loc.line;
	err->col = loc.col;
	err->len = loc.len ? loc.len : 1;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	copy_line(err, s->text, s->len, loc.off);
	return code;
}

int weir__error(struct weir__src *s, struct weir__loc loc, const char *fmt,
		...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = record(s, loc, -EINVAL, fmt, ap);
	va_end(ap);
	return ret;
}

__attribute__((format(printf, 3, 4)))
static int oom_record(struct weir__src *s, struct weir__loc loc,
		      const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = record(s, loc, -ENOMEM, fmt, ap);
	va_end(ap);
	return ret;
}

int weir__oom(struct weir__src *s, struct weir__loc loc)
{
	return oom_record(s, loc, "out of memory");
}

void weir__error_plain(struct weir_policy_error *err, const char *file,
		       const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	memset(err, 0, sizeof(*err));
	set_file(err, file);
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

/* "    ^~~~": the indent repeats the line's tabs so the caret lines up. */
static void caret_line(const struct weir_policy_error *err, char *out,
		       size_t size)
{
	size_t tl = strnlen(err->line_text, sizeof(err->line_text));
	size_t col = err->col ? err->col - 1 : 0, n = 0, marks;

	if (col > size - 3)
		col = size - 3;
	for (size_t i = 0; i < col; i++)
		out[n++] = i < tl && err->line_text[i] == '\t' ? '\t' : ' ';
	out[n++] = '^';
	marks = err->len > 1 ? err->len - 1 : 0;
	if (col + 1 + marks > tl)
		marks = tl > col + 1 ? tl - col - 1 : 0;
	while (marks-- > 0 && n < size - 1)
		out[n++] = '~';
	out[n] = '\0';
}

int weir_policy_error_format(const struct weir_policy_error *err, char *buf,
			     size_t size)
{
	char caret[sizeof(err->line_text) + 8];

	if (!err->line)
		return snprintf(buf, size, "%.256s: error: %.200s\n", err->file,
				err->msg);
	if (!err->line_text[0])
		return snprintf(buf, size, "%.256s:%u:%u: error: %.200s\n",
				err->file, err->line, err->col, err->msg);
	caret_line(err, caret, sizeof(caret));
	return snprintf(buf, size, "%.256s:%u:%u: error: %.200s\n  %.256s\n"
			"  %s\n", err->file, err->line, err->col, err->msg,
			err->line_text, caret);
}
