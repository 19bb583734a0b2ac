/* "Did you mean": the candidate nearest to a misspelt word by edit
 * distance, offered when it is close enough to be a typo.
 */
#include <string.h>

#include "policy/policy_internal.h"

#define WORD_MAX 48

void weir__suggest_init(struct weir__suggest *sg, const char *word,
			size_t len)
{
	sg->word = word;
	sg->len = len;
	sg->best = NULL;
	sg->dist = (size_t)-1;
}

/* Levenshtein distance with one row (both strings are short). */
static size_t distance(const char *a, size_t na, const char *b, size_t nb)
{
	size_t row[WORD_MAX + 1];

	for (size_t j = 0; j <= nb; j++)
		row[j] = j;
	for (size_t i = 1; i <= na; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= nb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[nb];
}

void weir__suggest_try(struct weir__suggest *sg, const char *cand)
{
	size_t n = strlen(cand), d;

	if (sg->len > WORD_MAX || n > WORD_MAX)
		return;
	d = distance(sg->word, sg->len, cand, n);
	if (d < sg->dist) {
		sg->dist = d;
		sg->best = cand;
	}
}

const char *weir__suggest_best(const struct weir__suggest *sg)
{
	size_t limit = sg->len / 3 + 1;

	if (!sg->best || sg->dist == 0 || sg->dist > (limit < 3 ? limit : 3))
		return NULL;
	return sg->best;
}
