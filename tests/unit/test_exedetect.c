/* Unit tests for plugins/exedetect.c: hand-made PE (and DOS, NE), ELF,
 * thin and fat Mach-O, Java class, scripts, text, PNG, zip and cabinet
 * samples built here; NEED_MORE while a prefix is too short; the same
 * verdict whatever prefix first gives one; configuration errors; and
 * libmagic's opinion of real files of the system (/bin/ls, a shell
 * script, /etc/os-release) with the signatures switched off.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugins/exedetect.h"

#define W EXEDETECT_WINDOW

struct sample {
	const char *name;
	uint8_t b[W + 512];
	size_t len;
};

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	put_le16(p, (uint16_t)v);
	put_le16(p + 2, (uint16_t)(v >> 16));
}

/* A small PE32 image: DOS header and stub, PE signature, COFF header
 * (i386, executable) and an optional header, as a linker lays them out. */
static size_t make_pe(uint8_t *b, uint32_t lfanew, const char *sig)
{
	memset(b, 0, 1024);
	memcpy(b, "MZ", 2);
	put_le16(b + 2, 0x90);   /* bytes on last page */
	put_le16(b + 4, 3);      /* pages */
	put_le16(b + 8, 4);      /* header paragraphs */
	put_le16(b + 0x18, 0x40); /* relocation table offset */
	put_le32(b + 0x3c, lfanew);
	memcpy(b + 0x4e, "This program cannot be run in DOS mode.\r\r\n$", 43);
	memcpy(b + lfanew, sig, strlen(sig));
	put_le16(b + lfanew + 4, 0x14c);   /* Machine: i386 */
	put_le16(b + lfanew + 6, 1);       /* sections */
	put_le16(b + lfanew + 20, 0xe0);   /* optional header size */
	put_le16(b + lfanew + 22, 0x0102); /* executable, 32-bit */
	put_le16(b + lfanew + 24, 0x10b);  /* PE32 magic */
	return 1024;
}

static size_t make_elf(uint8_t *b)
{
	static const uint8_t hdr[] = {
		0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		2, 0, 0x3e, 0, 1, 0, 0, 0, /* ET_EXEC, x86-64, version 1 */
	};

	memset(b, 0, 256);
	memcpy(b, hdr, sizeof(hdr));
	put_le16(b + 52, 64); /* e_ehsize */
	return 256;
}

static size_t make_bytes(uint8_t *b, const void *p, size_t n)
{
	memcpy(b, p, n);
	return n;
}

static size_t make_text(uint8_t *b, const char *s)
{
	return make_bytes(b, s, strlen(s));
}

static size_t make_png(uint8_t *b)
{
	static const uint8_t png[] = {
		0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',
		0, 0, 0, 13, 'I', 'H', 'D', 'R', 0, 0, 0, 1, 0, 0, 0, 1,
		8, 6, 0, 0, 0, 0x1f, 0x15, 0xc4, 0x89,
	};

	return make_bytes(b, png, sizeof(png));
}

static size_t make_zip(uint8_t *b)
{
	memset(b, 0, 64);
	memcpy(b, "PK\3\4", 4);
	put_le16(b + 4, 20);
	put_le16(b + 26, 5); /* name length */
	memcpy(b + 30, "a.txt", 5);
	return 64;
}

static size_t make_cab(uint8_t *b)
{
	memset(b, 0, 64);
	memcpy(b, "MSCF", 4);
	put_le32(b + 8, 64);    /* cabinet size */
	put_le32(b + 16, 44);   /* first file offset */
	b[24] = 3;              /* version 1.3 */
	b[25] = 1;
	put_le16(b + 26, 1);    /* folders */
	put_le16(b + 28, 1);    /* files */
	return 64;
}

static struct exedetect *new_det(const char *mimes, const char *sigs)
{
	struct exedetect *d = exedetect_new(mimes, sigs);

	assert_non_null(d);
	return d;
}

static void expect(struct exedetect *d, const uint8_t *b, size_t len,
		   bool last, enum exedetect_result want, const char *why)
{
	const char *reason = NULL;
	enum exedetect_result r = last ? exedetect_check_last(d, b, len, &reason)
				       : exedetect_check(d, b, len, &reason);

	assert_non_null(reason);
	if (r != want || (why && strcmp(reason, why)))
		fail_msg("len %zu last %d: got %d (%s), want %d (%s)", len, last,
			 r, reason, want, why ? why : "any");
}

static void test_pe(void **state)
{
	struct exedetect *d = new_det(NULL, NULL);
	uint8_t b[2048];
	size_t n = make_pe(b, 0x80, "PE");

	expect(d, b, n, false, EXEDETECT_EXE, "PE executable");
	expect(d, b, 0x84, false, EXEDETECT_EXE, "PE executable");
	/* the PE header not here yet: MZ alone is enough */
	expect(d, b, 0x83, false, EXEDETECT_EXE,
	       "MZ executable (new header not seen)");
	expect(d, b, 2, false, EXEDETECT_EXE,
	       "MZ executable (new header not seen)");
	expect(d, b, 1, false, EXEDETECT_NEED_MORE, "need more bytes");
	expect(d, b, 0, false, EXEDETECT_NEED_MORE, "need more bytes");
	make_pe(b, 0x80, "NE");
	expect(d, b, n, true, EXEDETECT_EXE, "NE executable (16-bit Windows)");
	make_pe(b, 0x80, "LX");
	expect(d, b, n, true, EXEDETECT_EXE, "LE/LX executable");
	make_pe(b, 0x80, "ZZ");
	expect(d, b, n, true, EXEDETECT_EXE, "MZ executable (DOS)");
	/* e_lfanew pointing into the DOS header, or far away */
	make_pe(b, 0x80, "PE");
	put_le32(b + 0x3c, 0x10);
	expect(d, b, n, true, EXEDETECT_EXE,
	       "MZ executable (new header not seen)");
	put_le32(b + 0x3c, 0xfffffffcu);
	expect(d, b, n, true, EXEDETECT_EXE,
	       "MZ executable (new header not seen)");
	exedetect_free(d);
}

static void test_elf(void **state)
{
	struct exedetect *d = new_det(NULL, NULL);
	uint8_t b[256];
	size_t n = make_elf(b);

	expect(d, b, n, false, EXEDETECT_EXE, "ELF");
	expect(d, b, 4, false, EXEDETECT_EXE, "ELF");
	expect(d, b, 3, false, EXEDETECT_NEED_MORE, NULL);
	/* a prefix that never becomes ELF is left to libmagic */
	expect(d, (const uint8_t *)"\x7f" "ELX", 4, false, EXEDETECT_NEED_MORE,
	       NULL);
	expect(d, (const uint8_t *)"\x7f" "ELX", 4, true, EXEDETECT_NOT_EXE,
	       NULL);
	expect(d, b, 3, true, EXEDETECT_NOT_EXE, NULL);
	exedetect_free(d);
}

static void test_macho(void **state)
{
	static const char *const thin[] = {
		"\xfe\xed\xfa\xce", "\xce\xfa\xed\xfe",
		"\xfe\xed\xfa\xcf", "\xcf\xfa\xed\xfe",
	};
	struct exedetect *d = new_det(NULL, NULL);
	uint8_t b[64] = { 0 };

	for (int i = 0; i < 4; i++) {
		memcpy(b, thin[i], 4);
		expect(d, b, 32, false, EXEDETECT_EXE, "Mach-O");
		expect(d, b, 4, false, EXEDETECT_EXE, "Mach-O");
		expect(d, b, 3, false, EXEDETECT_NEED_MORE, NULL);
	}
	/* fat: cafebabe and an architecture count (big-endian) */
	memcpy(b, "\xca\xfe\xba\xbe\0\0\0\x02\x01\0\0\x07\0\0\0\x03", 16);
	expect(d, b, 48, false, EXEDETECT_EXE, "Mach-O universal binary");
	expect(d, b, 8, false, EXEDETECT_EXE, "Mach-O universal binary");
	expect(d, b, 7, false, EXEDETECT_NEED_MORE, NULL);
	b[7] = 1;
	expect(d, b, 8, false, EXEDETECT_EXE, "Mach-O universal binary");
	b[7] = 19;
	expect(d, b, 8, false, EXEDETECT_EXE, "Mach-O universal binary");
	b[3] = 0xbf; /* FAT_MAGIC_64 */
	expect(d, b, 8, false, EXEDETECT_EXE, "Mach-O universal binary");
	exedetect_free(d);
}

/* cafebabe followed by a class file version (minor 0, major 52: Java 8)
 * is Java, and neither 0 nor 20 architectures is Mach-O. */
static void test_java_class(void **state)
{
	struct exedetect *d = new_det(NULL, NULL);
	uint8_t b[W] = { 0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 0x34, 0, 0x10 };

	expect(d, b, 10, false, EXEDETECT_NEED_MORE, "need more bytes");
	expect(d, b, 10, true, EXEDETECT_NOT_EXE,
	       "libmagic: application/x-java-applet");
	expect(d, b, W, false, EXEDETECT_NOT_EXE, NULL);
	b[7] = 0;
	expect(d, b, 8, true, EXEDETECT_NOT_EXE, NULL);
	b[7] = 20;
	expect(d, b, 8, true, EXEDETECT_NOT_EXE, NULL);
	exedetect_free(d);
}

static void test_scripts(void **state)
{
	static const char *const yes[] = {
		"#!/bin/sh\necho hi\n", "#! /usr/bin/env python3\n",
		"#!\t/usr/bin/perl -w\n", "#!perl\n",
	};
	static const char *const no[] = {
		"#![allow(dead_code)]\nfn main() {}\n", "#!\nnothing\n",
		"# !/bin/sh\n", "#\n!",
	};
	static const char py[] = "import os\nimport sys\n\ndef main():\n"
				 "    print(sys.argv)\n\nif __name__ == "
				 "\"__main__\":\n    main()\n";
	struct exedetect *d = new_det(NULL, NULL);

	for (size_t i = 0; i < 4; i++)
		expect(d, (const uint8_t *)yes[i], strlen(yes[i]), false,
		       EXEDETECT_EXE, "script (#!)");
	for (size_t i = 0; i < 4; i++)
		expect(d, (const uint8_t *)no[i], strlen(no[i]), true,
		       EXEDETECT_NOT_EXE, NULL);
	expect(d, (const uint8_t *)"#!", 2, false, EXEDETECT_NEED_MORE, NULL);
	expect(d, (const uint8_t *)"#!   ", 5, false, EXEDETECT_NEED_MORE,
	       NULL);
	expect(d, (const uint8_t *)"#!", 2, true, EXEDETECT_NOT_EXE, NULL);
	/* Python source without "#!" is libmagic's text/x-script.python,
	 * which the default list leaves out */
	expect(d, (const uint8_t *)py, strlen(py), true, EXEDETECT_NOT_EXE,
	       "libmagic: text/x-script.python");
	exedetect_free(d);
}

static void test_not_exe(void **state)
{
	struct exedetect *d = new_det(NULL, NULL);
	uint8_t b[W];
	size_t n;

	n = make_png(b);
	expect(d, b, n, false, EXEDETECT_NEED_MORE, "need more bytes");
	expect(d, b, n, true, EXEDETECT_NOT_EXE, "libmagic: image/png");
	n = make_zip(b);
	expect(d, b, n, true, EXEDETECT_NOT_EXE, "libmagic: application/zip");
	n = make_text(b, "hello, world\nthis is text\n");
	expect(d, b, n, true, EXEDETECT_NOT_EXE, "libmagic: text/plain");
	/* a full window needs no end of body */
	memset(b, 'a', W);
	expect(d, b, W, false, EXEDETECT_NOT_EXE, "libmagic: text/plain");
	expect(d, b, 0, true, EXEDETECT_NOT_EXE, "empty");
	/* libmagic's DOS .COM guess (a first byte that is a jump) on
	 * data without an MZ header: about 1 % of random bytes */
	memset(b, 0, W);
	memcpy(b, "\xeb\x57\x90", 3);
	expect(d, b, W, true, EXEDETECT_NOT_EXE,
	       "libmagic: application/x-dosexec without an MZ header "
	       "(a COM guess)");
	/* a cabinet is not a program unless asked for */
	n = make_cab(b);
	expect(d, b, n, true, EXEDETECT_NOT_EXE, NULL);
	exedetect_free(d);
	d = new_det(NULL, EXEDETECT_SIGS_ALL);
	expect(d, b, n, true, EXEDETECT_EXE, "Microsoft cabinet");
	expect(d, b, 7, false, EXEDETECT_NEED_MORE, NULL);
	exedetect_free(d);
}

/* For every sample, each prefix that gets a verdict gets the one of the
 * whole window: the answer does not depend on where the body was cut. */
static void test_prefix_stable(void **state)
{
	static struct sample s[9];
	struct exedetect *d = new_det(NULL, NULL);
	uint8_t *big = malloc(3 * W);

	assert_non_null(big);
	s[0].len = make_pe(s[0].b, 0x80, "PE");
	s[1].len = make_elf(s[1].b);
	s[2].len = make_bytes(s[2].b, "\xca\xfe\xba\xbe\0\0\0\x02", 8);
	s[3].len = make_bytes(s[3].b, "\xca\xfe\xba\xbe\0\0\0\x34", 8);
	s[4].len = make_text(s[4].b, "#!/bin/sh\nexec true\n");
	s[5].len = make_text(s[5].b, "#![no_std]\n");
	s[6].len = make_png(s[6].b);
	s[7].len = make_zip(s[7].b);
	s[8].len = make_text(s[8].b, "<html><body>hello</body></html>\n");
	for (size_t i = 0; i < 9; i++) {
		enum exedetect_result full;

		memset(s[i].b + s[i].len, ' ', sizeof(s[i].b) - s[i].len);
		full = exedetect_check(d, s[i].b, W, NULL);
		assert_int_not_equal(full, EXEDETECT_NEED_MORE);
		memcpy(big, s[i].b, sizeof(s[i].b));
		memset(big + sizeof(s[i].b), 0, 3 * W - sizeof(s[i].b));
		assert_int_equal(exedetect_check(d, big, 3 * W, NULL), full);
		for (size_t len = 0; len <= W; len += len < 64 ? 1 : 61) {
			enum exedetect_result r =
				exedetect_check(d, s[i].b, len, NULL);

			if (r != EXEDETECT_NEED_MORE && r != full)
				fail_msg("sample %zu prefix %zu: %d, window %d",
					 i, len, r, full);
		}
	}
	free(big);
	exedetect_free(d);
}

static size_t read_file(const char *path, uint8_t *b, size_t max)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f)
		return 0;
	n = fread(b, 1, max, f);
	fclose(f);
	return n;
}

/* libmagic alone (no signatures) on files of this system. */
static void test_libmagic_system(void **state)
{
	struct exedetect *d = new_det(NULL, "");
	uint8_t b[W];
	const char *why;
	size_t n;

	n = read_file("/bin/ls", b, W);
	assert_int_equal(n, W);
	assert_int_equal(exedetect_check(d, b, n, &why), EXEDETECT_EXE);
	/* x-sharedlib: telling a PIE from a library needs the dynamic
	 * section, which is past the first 4 KiB */
	assert_true(!strcmp(why, "libmagic: application/x-pie-executable") ||
		    !strcmp(why, "libmagic: application/x-executable") ||
		    !strcmp(why, "libmagic: application/x-sharedlib"));
	n = read_file("/etc/os-release", b, W);
	assert_true(n > 0);
	expect(d, b, n, true, EXEDETECT_NOT_EXE, "libmagic: text/plain");
	n = read_file("/usr/bin/ldd", b, W); /* a bash script in Debian */
	if (n > 2 && b[0] == '#' && b[1] == '!')
		expect(d, b, n, true, EXEDETECT_EXE,
		       "libmagic: text/x-shellscript");
	n = make_pe(b, 0x80, "PE");
	expect(d, b, n, true, EXEDETECT_EXE, NULL);
	/* a DOS program with its MZ header still counts as x-dosexec */
	memset(b, 0, 1024);
	memcpy(b, "MZ", 2);
	put_le16(b + 2, 0x90);    /* bytes on last page */
	put_le16(b + 4, 3);       /* pages */
	put_le16(b + 8, 4);       /* header paragraphs */
	put_le16(b + 0x18, 0x1c); /* relocations right after the header */
	expect(d, b, 1024, true, EXEDETECT_EXE,
	       "libmagic: application/x-dosexec");
	n = make_elf(b);
	expect(d, b, n, true, EXEDETECT_EXE, NULL);
	memcpy(b, "\xcf\xfa\xed\xfe\x07\0\0\x01\x03\0\0\0\x02\0\0\0", 16);
	expect(d, b, 32, true, EXEDETECT_EXE, "libmagic: application/x-mach-binary");
	/* without signatures nothing is decided before the window fills */
	n = make_elf(b);
	expect(d, b, n, false, EXEDETECT_NEED_MORE, NULL);
	exedetect_free(d);
}

static void test_config(void **state)
{
	struct exedetect *d;
	uint8_t b[W];
	size_t n = make_png(b);

	errno = 0;
	assert_null(exedetect_new(NULL, "pe,bogus"));
	assert_int_equal(errno, EINVAL);
	assert_null(exedetect_new("application/x-dosexec,notamime", NULL));
	assert_int_equal(errno, EINVAL);
	assert_null(exedetect_new("text/", NULL));
	assert_null(exedetect_new("/plain", NULL));
	/* the MIME list is the user's: here PNG counts, in any case */
	d = new_det("IMAGE/PNG  text/x-nothing", "ELF , Pe");
	expect(d, b, n, true, EXEDETECT_EXE, "libmagic: image/png");
	n = make_elf(b);
	expect(d, b, n, false, EXEDETECT_EXE, "ELF");
	exedetect_free(d);
	/* "" asks libmagic nothing */
	d = new_det("", NULL);
	n = make_text(b, "#!/bin/sh\n");
	expect(d, b, n, false, EXEDETECT_EXE, "script (#!)");
	n = make_png(b);
	expect(d, b, n, true, EXEDETECT_NOT_EXE, "no signature");
	exedetect_free(d);
	exedetect_free(NULL);
	/* reason may be NULL */
	d = new_det(NULL, NULL);
	assert_int_equal(exedetect_check_last(d, b, n, NULL), EXEDETECT_NOT_EXE);
	exedetect_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pe),
		cmocka_unit_test(test_elf),
		cmocka_unit_test(test_macho),
		cmocka_unit_test(test_java_class),
		cmocka_unit_test(test_scripts),
		cmocka_unit_test(test_not_exe),
		cmocka_unit_test(test_prefix_stable),
		cmocka_unit_test(test_libmagic_system),
		cmocka_unit_test(test_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
