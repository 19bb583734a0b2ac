/* Executable detection (exedetect.h): magic numbers first, libmagic's
 * MIME type second. Only the first EXEDETECT_WINDOW bytes are ever
 * looked at, so the answer for a body does not depend on how much of it
 * the caller happened to have when it asked.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <magic.h>

#include "exedetect.h"

/* What one signature says about a prefix. */
enum { SIG_NO, SIG_MATCH, SIG_MAYBE };

typedef int (*sig_fn)(const uint8_t *b, size_t len, const char **why);

struct exedetect {
	magic_t magic;     /* NULL: no libmagic opinion */
	unsigned sigs;     /* bits: index in the signature table */
	char *mimes;       /* lower-case entries, each NUL-terminated, the
	                    * list ends with an empty one */
	char reason[192];
};

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* b starts with magic m (MATCH), could still (MAYBE: b is a shorter
 * prefix of it), or does not. */
static int prefix(const uint8_t *b, size_t len, const char *m, size_t mlen)
{
	if (len == 0)
		return SIG_MAYBE;
	if (len >= mlen)
		return memcmp(b, m, mlen) ? SIG_NO : SIG_MATCH;
	return memcmp(b, m, len) ? SIG_NO : SIG_MAYBE;
}

/* MS-DOS "MZ" header; e_lfanew (at 0x3c) points to the new header of
 * PE ("PE\0\0"), NE and LE/LX files. An MZ file whose new header is not
 * within the bytes seen still counts: all of them are programs. */
static int sig_pe(const uint8_t *b, size_t len, const char **why)
{
	int r = prefix(b, len, "MZ", 2);
	uint32_t off;

	if (r != SIG_MATCH)
		return r;
	*why = "MZ executable (new header not seen)";
	if (len < 0x40)
		return SIG_MATCH;
	off = le32(b + 0x3c);
	if (off < 0x40 || off > len - 4)
		return SIG_MATCH;
	if (!memcmp(b + off, "PE\0\0", 4))
		*why = "PE executable";
	else if (!memcmp(b + off, "NE", 2))
		*why = "NE executable (16-bit Windows)";
	else if (!memcmp(b + off, "LE", 2) || !memcmp(b + off, "LX", 2))
		*why = "LE/LX executable";
	else
		*why = "MZ executable (DOS)";
	return SIG_MATCH;
}

static int sig_elf(const uint8_t *b, size_t len, const char **why)
{
	*why = "ELF";
	return prefix(b, len, "\x7f" "ELF", 4);
}

/* Fat (universal) Mach-O shares its magic with Java class files, whose
 * next word is minor << 16 | major version (major >= 45). file(1)'s
 * magic (Magdir/cafebabe) calls it Mach-O when that word is 1..19 and
 * Java when it is over 30: the same rule here. */
static int sig_fat(const uint8_t *b, size_t len, const char **why)
{
	int r = prefix(b, len, "\xca\xfe\xba\xbe", 4);
	uint32_t narch;

	if (r == SIG_NO)
		r = prefix(b, len, "\xca\xfe\xba\xbf", 4); /* FAT_MAGIC_64 */
	if (r != SIG_MATCH)
		return r;
	if (len < 8)
		return SIG_MAYBE;
	narch = be32(b + 4);
	*why = "Mach-O universal binary";
	return narch >= 1 && narch < 20 ? SIG_MATCH : SIG_NO;
}

/* MH_MAGIC, MH_CIGAM, MH_MAGIC_64, MH_CIGAM_64 as bytes on the wire. */
static int sig_macho(const uint8_t *b, size_t len, const char **why)
{
	static const char *const magics[] = {
		"\xfe\xed\xfa\xce", "\xce\xfa\xed\xfe",
		"\xfe\xed\xfa\xcf", "\xcf\xfa\xed\xfe",
	};
	int best = sig_fat(b, len, why);

	for (size_t i = 0; i < 4 && best != SIG_MATCH; i++) {
		int r = prefix(b, len, magics[i], 4);

		if (r == SIG_MATCH)
			*why = "Mach-O";
		if (r != SIG_NO)
			best = r;
	}
	return best;
}

/* "#!" and an interpreter, as the kernel's binfmt_script reads it
 * (blanks may come first). "#![" starts Rust source (an inner
 * attribute); "#!" alone on a line names no interpreter. */
static int sig_script(const uint8_t *b, size_t len, const char **why)
{
	int r = prefix(b, len, "#!", 2);
	size_t i = 2;

	if (r != SIG_MATCH)
		return r;
	while (i < len && i < 64 && (b[i] == ' ' || b[i] == '\t'))
		i++;
	if (i == len)
		return SIG_MAYBE;
	*why = "script (#!)";
	return b[i] == '[' || b[i] == '\n' || b[i] == '\r' || i == 64 ?
	       SIG_NO : SIG_MATCH;
}

static int sig_cab(const uint8_t *b, size_t len, const char **why)
{
	*why = "Microsoft cabinet";
	return prefix(b, len, "MSCF\0\0\0\0", 8);
}

static const struct {
	const char *name;
	sig_fn fn;
} sigs[] = {
	{ "pe", sig_pe },
	{ "elf", sig_elf },
	{ "macho", sig_macho },
	{ "script", sig_script },
	{ "cab", sig_cab },
};

#define NSIGS (sizeof(sigs) / sizeof(sigs[0]))

static bool is_sep(char c)
{
	return c == ',' || c == ' ' || c == '\t' || c == '\n';
}

/* The next word of a list (comma or white space separated) at *s, in
 * [*w, *w + *n); false at the end. */
static bool next_word(const char **s, const char **w, size_t *n)
{
	const char *p = *s;

	while (*p && is_sep(*p))
		p++;
	if (!*p)
		return false;
	*w = p;
	while (*p && !is_sep(*p))
		p++;
	*n = (size_t)(p - *w);
	*s = p;
	return true;
}

static int parse_sigs(struct exedetect *d, const char *list)
{
	const char *w;
	size_t n;

	while (next_word(&list, &w, &n)) {
		size_t i;

		for (i = 0; i < NSIGS; i++)
			if (strlen(sigs[i].name) == n &&
			    !strncasecmp(sigs[i].name, w, n))
				break;
		if (i == NSIGS)
			return -EINVAL;
		d->sigs |= 1u << i;
	}
	return 0;
}

/* Copies the list as lower-case NUL-terminated entries; each must look
 * like type/subtype. */
static int parse_mimes(struct exedetect *d, const char *list)
{
	char *out = malloc(strlen(list) + 2);
	const char *w;
	size_t n, pos = 0;

	if (!out)
		return -ENOMEM;
	d->mimes = out;
	while (next_word(&list, &w, &n)) {
		const char *slash = memchr(w, '/', n);

		if (!slash || slash == w || slash == w + n - 1)
			return -EINVAL;
		for (size_t i = 0; i < n; i++)
			out[pos++] = (char)(w[i] >= 'A' && w[i] <= 'Z' ?
					    w[i] + 32 : w[i]);
		out[pos++] = '\0';
	}
	out[pos] = '\0';
	return 0;
}

static int open_magic(struct exedetect *d)
{
	int err;

	d->magic = magic_open(MAGIC_MIME_TYPE | MAGIC_ERROR);
	if (!d->magic)
		return errno ? -errno : -ENOMEM;
	if (magic_load(d->magic, NULL) == 0)
		return 0;
	err = magic_errno(d->magic);
	return err > 0 ? -err : -ENOENT;
}

struct exedetect *exedetect_new(const char *mime_list, const char *sig_list)
{
	struct exedetect *d = calloc(1, sizeof(*d));
	int err;

	if (!d)
		return NULL;
	err = parse_sigs(d, sig_list ? sig_list : EXEDETECT_SIGS_DEFAULT);
	if (!err)
		err = parse_mimes(d, mime_list ? mime_list :
				  EXEDETECT_MIME_DEFAULT);
	if (!err && d->mimes[0])
		err = open_magic(d);
	if (err) {
		exedetect_free(d);
		errno = -err;
		return NULL;
	}
	return d;
}

void exedetect_free(struct exedetect *d)
{
	if (!d)
		return;
	if (d->magic)
		magic_close(d->magic);
	free(d->mimes);
	free(d);
}

static bool mime_listed(const struct exedetect *d, const char *mime)
{
	for (const char *m = d->mimes; *m; m += strlen(m) + 1)
		if (!strcasecmp(m, mime))
			return true;
	return false;
}

/* The signatures: SIG_MATCH (with *why), SIG_MAYBE if one could still
 * match with more bytes, else SIG_NO. */
static int run_sigs(const struct exedetect *d, const uint8_t *b, size_t len,
		    const char **why)
{
	int any = SIG_NO;

	for (size_t i = 0; i < NSIGS; i++) {
		int r;

		if (!(d->sigs & (1u << i)))
			continue;
		r = sigs[i].fn(b, len, why);
		if (r == SIG_MATCH)
			return r;
		if (r == SIG_MAYBE)
			any = r;
	}
	return any;
}

/* libmagic 5.44 also names a buffer a DOS .COM program when it merely
 * starts with a jump or a mov (its "msdos" COM tests): about 1 % of
 * random bytes, so 1 % of compressed or encrypted downloads would be
 * blocked. A real DOS program has the MZ header (the "pe" signature
 * catches it first); without one, x-dosexec is that guess. */
static bool com_guess(const char *mime, const uint8_t *b, size_t len)
{
	return !strcmp(mime, "application/x-dosexec") &&
	       !(len >= 2 && (!memcmp(b, "MZ", 2) || !memcmp(b, "ZM", 2)));
}

/* libmagic's opinion. A failure of magic_buffer is not an executable
 * (the signatures have spoken already) but says so in the reason. */
static enum exedetect_result ask_magic(struct exedetect *d,
				       const uint8_t *b, size_t len)
{
	const char *mime;

	if (!d->magic || !len) {
		snprintf(d->reason, sizeof(d->reason), "%s",
			 len ? "no signature" : "empty");
		return EXEDETECT_NOT_EXE;
	}
	mime = magic_buffer(d->magic, b, len);
	if (!mime) {
		snprintf(d->reason, sizeof(d->reason), "libmagic failed: %s",
			 magic_error(d->magic) ? magic_error(d->magic) : "?");
		return EXEDETECT_NOT_EXE;
	}
	if (com_guess(mime, b, len)) {
		snprintf(d->reason, sizeof(d->reason),
			 "libmagic: %s without an MZ header (a COM guess)",
			 mime);
		return EXEDETECT_NOT_EXE;
	}
	snprintf(d->reason, sizeof(d->reason), "libmagic: %s", mime);
	return mime_listed(d, mime) ? EXEDETECT_EXE : EXEDETECT_NOT_EXE;
}

static enum exedetect_result check(struct exedetect *d, const uint8_t *b,
				   size_t len, bool last, const char **reason)
{
	const char *why = "";
	enum exedetect_result res;
	int s;

	if (len > EXEDETECT_WINDOW)
		len = EXEDETECT_WINDOW;
	s = run_sigs(d, b, len, &why);
	if (s == SIG_MATCH) {
		snprintf(d->reason, sizeof(d->reason), "%s", why);
		res = EXEDETECT_EXE;
	} else if (!last && (s == SIG_MAYBE || len < EXEDETECT_WINDOW)) {
		snprintf(d->reason, sizeof(d->reason), "need more bytes");
		res = EXEDETECT_NEED_MORE;
	} else {
		res = ask_magic(d, b, len);
	}
	if (reason)
		*reason = d->reason;
	return res;
}

enum exedetect_result exedetect_check(struct exedetect *d,
				      const uint8_t *bytes, size_t len,
				      const char **reason)
{
	return check(d, bytes, len, false, reason);
}

enum exedetect_result exedetect_check_last(struct exedetect *d,
					   const uint8_t *bytes, size_t len,
					   const char **reason)
{
	return check(d, bytes, len, true, reason);
}
