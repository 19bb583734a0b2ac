/* libFuzzer harness for the policy language: parses arbitrary bytes as a
 * policy and as a standalone expression, and aborts on the first broken
 * promise: an error without a sane location, a spec the engine would
 * refuse, or a filter that does not survive being written out and parsed
 * again. Everything is freed (leaks are reported by ASan).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weir/filter.h>
#include <weir/policy.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_INPUT (64u * 1024u)

#include "fuzz_check.h"

/* An error names a line and column inside the text, and renders. */
static void check_error(const struct weir_policy_error *err, int ret,
			size_t size)
{
	char buf[1024];
	int n;

	CHECK(ret == -EINVAL || ret == -ENOMEM);
	CHECK(err->msg[0] != '\0');
	CHECK(err->line >= 1 && err->col >= 1 && err->len >= 1);
	CHECK(err->line <= size + 1 && err->col <= size + 1);
	CHECK(strnlen(err->line_text, sizeof(err->line_text)) <
	      sizeof(err->line_text));
	n = weir_policy_error_format(err, buf, sizeof(buf));
	CHECK(n > 0 && strstr(buf, "error: ") != NULL);
}

static bool val_eq(const struct weir_val *a, const struct weir_val *b)
{
	return a->lo == b->lo && a->hi == b->hi && a->plen == b->plen &&
	       a->len == b->len && !memcmp(a->addr, b->addr, 16) &&
	       !memcmp(a->bytes, b->bytes, a->len < 32 ? a->len : 32);
}

static bool conds_eq(const struct weir_filter_spec *a,
		     const struct weir_filter_spec *b)
{
	if (a->ncond != b->ncond)
		return false;
	for (uint32_t i = 0; i < a->ncond; i++) {
		const struct weir_cond *x = &a->conds[i], *y = &b->conds[i];

		if (x->field != y->field || x->match != y->match ||
		    x->width != y->width || x->offset != y->offset ||
		    x->set_len != y->set_len || !val_eq(&x->v, &y->v))
			return false;
		for (uint32_t k = 0; k < x->set_len; k++)
			if (!val_eq(&x->set[k], &y->set[k]))
				return false;
	}
	return true;
}

/* The filter written as a statement parses into the same conditions. */
static void check_round_trip(const struct weir_policy_filter *f)
{
	static char text[1 << 17];
	struct weir_policy_error err;
	struct weir_policy *q;
	int n = 0, r;

	if (f->sublayer)
		n = snprintf(text, sizeof(text), "sublayer \"%s\" weight 1;\n",
			     f->sublayer);
	r = weir_policy_format_filter(&f->spec, f->sublayer, text + n,
				      sizeof(text) - (size_t)n);
	CHECK(r > 0 && (size_t)(r + n) < sizeof(text));
	r = weir_policy_parse(text, strlen(text), "round-trip", &q, &err);
	if (r == -ENOMEM)
		return;
	if (r != 0)
		fprintf(stderr, "%s\n-> %u:%u %s\n", text, err.line, err.col,
			err.msg);
	CHECK(r == 0);
	CHECK(weir_policy_filter_count(q) == 1);
	CHECK(conds_eq(&f->spec, &weir_policy_filter_at(q, 0)->spec));
	weir_policy_free(q);
}

static void run_policy(const uint8_t *data, size_t size)
{
	struct weir_policy_error err;
	struct weir_policy *p = NULL;
	int r = weir_policy_parse((const char *)data, size, "fuzz", &p, &err);

	if (r != 0) {
		CHECK(p == NULL);
		check_error(&err, r, size);
		return;
	}
	for (size_t i = 0; i < weir_policy_filter_count(p); i++) {
		const struct weir_policy_filter *f = weir_policy_filter_at(p, i);
		const char *why = NULL;

		if (weir_filter_spec_check(&f->spec, &why) != 0)
			fprintf(stderr, "refused: %s\n", why);
		CHECK(weir_filter_spec_check(&f->spec, &why) == 0);
		CHECK(f->line >= 1 && f->col >= 1);
		check_round_trip(f);
	}
	for (size_t i = 0; i < weir_policy_sublayer_count(p); i++)
		CHECK(weir_policy_sublayer_at(p, i)->name[0] != '\0');
	for (size_t i = 0; i < weir_policy_plugin_count(p); i++)
		CHECK(weir_policy_plugin_at(p, i)->params != NULL);
	weir_policy_free(p);
}

/* The bytes up to the first NUL as an expression for one layer. */
static void run_expr(const uint8_t *data, size_t size)
{
	struct weir_policy_error err;
	struct weir_expr *e = NULL;
	struct weir_filter_spec spec;
	char *text = malloc(size + 1);
	int layer = 1 + (int)(size % (WEIR_LAYER__COUNT - 1)), r;

	CHECK(text != NULL);
	memcpy(text, data, size);
	text[size] = '\0';
	r = weir_expr_parse(text, layer, &e, &err);
	if (r != 0) {
		CHECK(e == NULL);
		check_error(&err, r, size);
		free(text);
		return;
	}
	CHECK(weir_expr_count(e) >= 1 && weir_expr_count(e) <= 64);
	memset(&spec, 0, sizeof(spec));
	spec.layer = (uint16_t)layer;
	spec.action = WEIR_ACTION_BLOCK;
	for (size_t i = 0; i < weir_expr_count(e); i++) {
		spec.conds = weir_expr_conds(e, i, &spec.ncond);
		CHECK(spec.conds != NULL);
		CHECK(weir_filter_spec_check(&spec, NULL) == 0);
	}
	weir_expr_free(e);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > MAX_INPUT)
		return 0;
	run_policy(data, size);
	run_expr(data, size);
	return 0;
}
