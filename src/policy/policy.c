/* The policy object: parsing a text or a file into it, what it holds, and
 * freeing it; and standalone expressions for `weir filter add`.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy/policy_internal.h"

#define FILE_MAX (16u << 20)

int weir_policy_parse(const char *text, size_t len, const char *filename,
		      struct weir_policy **ret, struct weir_policy_error *err)
{
	struct weir__src src = { .name = filename ? filename : "<policy>",
				 .text = text, .len = len, .err = err };

	if (!text && len)
		return -EINVAL;
	if (len > FILE_MAX) {
		weir__error_plain(err, src.name, "policy larger than 16 MiB");
		return -EFBIG;
	}
	return weir__policy_parse(&src, ret);
}

static int read_all(int fd, char **ret, size_t *ret_len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap), *grown;
	ssize_t r;

	while (buf) {
		if (n == cap) {
			if (cap > FILE_MAX)
				break;
			grown = realloc(buf, cap * 2);
			if (!grown)
				break;
			buf = grown;
			cap *= 2;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0) {
				*ret = buf;
				*ret_len = n;
				return 0;
			}
			free(buf);
			return -errno;
		}
		n += (size_t)r;
	}
	free(buf);
	return n > FILE_MAX ? -EFBIG : -ENOMEM;
}

int weir_policy_load(const char *path, struct weir_policy **ret,
		     struct weir_policy_error *err)
{
	char *text = NULL;
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), r;

	if (fd < 0) {
		r = -errno;
		weir__error_plain(err, path, "cannot open: %s", strerror(-r));
		return r;
	}
	r = read_all(fd, &text, &len);
	close(fd);
	if (r == -EFBIG)
		weir__error_plain(err, path, "policy larger than 16 MiB");
	else if (r < 0)
		weir__error_plain(err, path, "cannot read: %s", strerror(-r));
	if (r < 0)
		return r;
	r = weir_policy_parse(text, len, path, ret, err);
	free(text);
	return r;
}

struct weir_policy *weir_policy_ref(struct weir_policy *policy)
{
	if (policy)
		atomic_fetch_add_explicit(&policy->refs, 1,
					  memory_order_relaxed);
	return policy;
}

void weir_policy_free(struct weir_policy *policy)
{
	if (!policy ||
	    atomic_fetch_sub_explicit(&policy->refs, 1, memory_order_acq_rel) != 1)
		return;
	weir__arena_free(&policy->arena);
	free(policy);
}

const char *weir_policy_file(const struct weir_policy *policy)
{
	return policy && policy->file ? policy->file : "";
}

size_t weir_policy_sublayer_count(const struct weir_policy *policy)
{
	return policy->nsub;
}

const struct weir_policy_sublayer *
weir_policy_sublayer_at(const struct weir_policy *policy, size_t i)
{
	return i < policy->nsub ? &policy->subs[i] : NULL;
}

size_t weir_policy_filter_count(const struct weir_policy *policy)
{
	return policy->nflt;
}

const struct weir_policy_filter *
weir_policy_filter_at(const struct weir_policy *policy, size_t i)
{
	return i < policy->nflt ? &policy->flts[i] : NULL;
}

size_t weir_policy_plugin_count(const struct weir_policy *policy)
{
	return policy->nplg;
}

const struct weir_policy_plugin *
weir_policy_plugin_at(const struct weir_policy *policy, size_t i)
{
	return i < policy->nplg ? &policy->plgs[i] : NULL;
}

size_t weir_policy_compartment_count(const struct weir_policy *policy)
{
	return policy->ncomp;
}

const struct weir_policy_compartment *
weir_policy_compartment_at(const struct weir_policy *policy, size_t i)
{
	return i < policy->ncomp ? &policy->comps[i] : NULL;
}

const char *weir_policy_plugin_dir(const struct weir_policy *policy)
{
	return policy->plugin_dir;
}

int weir_policy_default(const struct weir_policy *policy, int layer)
{
	if (layer <= WEIR_LAYER_NONE || layer >= WEIR_LAYER__COUNT)
		return 0;
	return policy->defaults[layer];
}

/* ---- standalone expressions -------------------------------------------- */

struct weir_expr {
	struct weir__arena arena;
	struct weir__clist *lists;
	uint32_t n;
};

static int expr_compile(struct weir__src *src, int layer, struct weir_expr *e)
{
	struct weir__arena tmp = { 0 };
	struct weir__lexer lx;
	struct weir__ectx cx = { .lx = &lx, .tmp = &tmp,
				 .family = weir_layer_family(layer) };
	int *layers;
	int err;

	weir__lex_init(&lx, src, &tmp);
	err = weir__expr_compile(&cx, &layer, 1, &e->arena, &e->lists, &layers,
				 &e->n);
	if (!err && weir__peek(&lx, 0)->kind != TK_EOF)
		err = weir__expected(&lx, weir__peek(&lx, 0), "'and', 'or' or "
				     "the end of the expression");
	weir__arena_free(&tmp);
	return err < 0 ? (src->status ? src->status : err) : 0;
}

int weir_expr_parse(const char *text, int layer, struct weir_expr **ret,
		    struct weir_policy_error *err)
{
	struct weir__src src = { .name = "<expr>", .text = text,
				 .len = text ? strlen(text) : 0, .err = err };
	struct weir_expr *e;
	int r;

	if (!text || weir_layer_family(layer) < 0) {
		weir__error_plain(err, src.name, "%s", text ? "unknown layer"
				  : "no expression");
		return -EINVAL;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	r = expr_compile(&src, layer, e);
	if (r < 0) {
		weir_expr_free(e);
		return r;
	}
	*ret = e;
	return 0;
}

size_t weir_expr_count(const struct weir_expr *expr)
{
	return expr->n;
}

const struct weir_cond *weir_expr_conds(const struct weir_expr *expr,
					size_t i, uint32_t *ret_n)
{
	static const struct weir_cond none;

	if (i >= expr->n)
		return NULL;
	*ret_n = expr->lists[i].n;
	return expr->lists[i].c ? expr->lists[i].c : &none;
}

void weir_expr_free(struct weir_expr *expr)
{
	if (!expr)
		return;
	weir__arena_free(&expr->arena);
	free(expr);
}
