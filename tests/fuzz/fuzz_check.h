/* The harnesses' invariant check: CHECK(cond) reports the condition, the
 * file and the line (and the step, for a harness that defines FUZZ_STEP
 * as the name of its step variable before including this) and aborts,
 * so that libFuzzer saves the input.
 */
#ifndef WEIR_FUZZ_CHECK_H
#define WEIR_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond) \
	do { \
		if (!(cond)) \
			fuzz_fail(#cond, __FILE__, __LINE__); \
	} while (0)

__attribute__((noreturn)) static void fuzz_fail(const char *what,
						const char *file, int line)
{
#ifdef FUZZ_STEP
	fprintf(stderr, "weir fuzz: invariant violated in step '%s': %s "
		"(%s:%d)\n", FUZZ_STEP, what, file, line);
#else
	fprintf(stderr, "weir fuzz: invariant violated: %s (%s:%d)\n", what,
		file, line);
#endif
	abort();
}

#endif
