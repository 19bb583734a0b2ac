/* Executable detection for the exeblock data filter: from the first
 * bytes of a body, is it a program? Two opinions, either one suffices:
 *
 * 1. weir's own signatures (magic numbers at offset 0, no allocation):
 *    pe      "MZ"; "PE\0\0" at e_lfanew confirms it when those bytes
 *            are here, otherwise MZ alone counts (DOS, NE, LE and PE
 *            all start so)
 *    elf     "\x7fELF"
 *    macho   thin Mach-O (feedface, feedfacf, both byte orders) and fat
 *            (universal) files: cafebabe/cafebabf followed by an
 *            architecture count of 1..19, as file(1) decides; a larger
 *            word there is a Java class file's version, not Mach-O
 *    script  "#!" then an interpreter ("#![" is Rust source, not one)
 *    cab     "MSCF\0\0\0\0", a Microsoft cabinet (not in the default set)
 * 2. libmagic's MIME type of the same bytes (magic_buffer with
 *    MAGIC_MIME_TYPE), counted when it is in a configured list.
 *
 * Never by file name: a name is what the sender chose to call it.
 *
 * A detector holds a libmagic handle, which is not thread-safe: each
 * detector is used by one thread at a time (one per worker thread).
 * Link with -lmagic (Debian: libmagic-dev).
 */
#ifndef WEIR_PLUGIN_EXEDETECT_H
#define WEIR_PLUGIN_EXEDETECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes wanted for a confident answer when no signature matched: enough
 * for libmagic's tests of executable formats, whose offsets are small
 * (the PE header is at e_lfanew, usually < 0x200). */
#define EXEDETECT_WINDOW 4096u

/* Signature names in sig_list, and the default set (NULL). */
#define EXEDETECT_SIGS_DEFAULT "pe,elf,macho,script"
#define EXEDETECT_SIGS_ALL "pe,elf,macho,script,cab"

/* MIME types counted as executable when mime_list is NULL: the names
 * libmagic 5.44 gives programs, libraries, installers and shell scripts.
 * Perl, Python and Ruby types are left out: libmagic also gives them to
 * source files without "#!", which are not programs a click runs (with
 * "#!" the script signature catches them). */
#define EXEDETECT_MIME_DEFAULT \
	"application/x-dosexec,application/x-msdownload," \
	"application/vnd.microsoft.portable-executable," \
	"application/x-executable,application/x-sharedlib," \
	"application/x-pie-executable,application/x-mach-binary," \
	"application/x-msi,text/x-shellscript"

enum exedetect_result {
	EXEDETECT_NOT_EXE = 0,
	EXEDETECT_EXE,
	EXEDETECT_NEED_MORE, /* too few bytes yet; more of the body may come */
};

struct exedetect;

/* A detector. mime_list: MIME types (comma or white space separated,
 * case-insensitive) libmagic may name for an executable; NULL for
 * EXEDETECT_MIME_DEFAULT, "" to ask libmagic nothing. sig_list: the
 * signatures to test, NULL for EXEDETECT_SIGS_DEFAULT, "" for none.
 * NULL with errno EINVAL (unknown signature name, a MIME entry that is
 * not type/subtype), ENOMEM, or the error of magic_open/magic_load
 * (libmagic's database missing). */
struct exedetect *exedetect_new(const char *mime_list, const char *sig_list);

/* Checks the first len bytes of a body (bytes[0..len) is its start, not
 * a later piece), of which more may come. EXE or NOT_EXE is final;
 * NEED_MORE until a signature matched or EXEDETECT_WINDOW bytes were
 * given (call again with the longer prefix). *reason (may be NULL) gets
 * a text saying why, valid until the next call on d. */
enum exedetect_result exedetect_check(struct exedetect *d,
				      const uint8_t *bytes, size_t len,
				      const char **reason);

/* As exedetect_check, for a body that ended after len bytes: never
 * NEED_MORE. */
enum exedetect_result exedetect_check_last(struct exedetect *d,
					   const uint8_t *bytes, size_t len,
					   const char **reason);

void exedetect_free(struct exedetect *d);

#endif
