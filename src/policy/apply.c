/* Applying a policy to an engine: every spec is checked first, missing
 * sublayers are added, then one transaction replaces all filters, and the
 * layer defaults follow once it committed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weir/engine.h>

#include "policy/policy_internal.h"

static void filter_error(const struct weir_policy *p,
			 const struct weir_policy_filter *f, const char *why,
			 struct weir_policy_error *err)
{
	if (!err)
		return;
	weir__error_plain(err, p->file, "filter \"%s\": %s", f->spec.name,
			  why ? why : "refused by the engine");
	err->line = f->line;
	err->col = f->col;
	err->len = 1;
}

/* Every spec as the engine will check it, before anything changes. */
static int check_all(const struct weir_policy *p,
		     struct weir_policy_error *err)
{
	for (uint32_t i = 0; i < p->nflt; i++) {
		const char *why = NULL;
		int r = weir_filter_spec_check(&p->flts[i].spec, &why);

		if (r < 0) {
			filter_error(p, &p->flts[i], why, err);
			return r;
		}
	}
	return 0;
}

/* Engine sublayer id of each policy sublayer; adds those it lacks. */
static int sublayers(const struct weir_policy *p, struct weir_engine *e,
		     int ids[], struct weir_policy_error *err)
{
	for (uint32_t i = 0; i < p->nsub; i++) {
		int id = weir_sublayer_find(e, p->subs[i].name);

		if (id < 0)
			id = weir_sublayer_add(e, p->subs[i].name,
					       p->subs[i].weight);
		if (id < 0) {
			weir__error_plain(err, p->file, "sublayer \"%s\": "
					  "cannot add: %s", p->subs[i].name,
					  strerror(-id));
			if (err)
				err->line = p->subs[i].line, err->col = 1;
			return id;
		}
		ids[i] = id;
	}
	return 0;
}

static uint16_t sublayer_id(const struct weir_policy *p, const int ids[],
			    const char *name)
{
	for (uint32_t i = 0; name && i < p->nsub; i++)
		if (p->subs[i].name == name)
			return (uint16_t)ids[i];
	return 0;
}

static int add_all(const struct weir_policy *p, struct weir_txn *txn,
		   const int ids[], uint64_t *fids,
		   struct weir_policy_error *err)
{
	for (uint32_t i = 0; i < p->nflt; i++) {
		struct weir_filter_spec spec = p->flts[i].spec;
		const char *why = NULL;
		int r;

		spec.sublayer = sublayer_id(p, ids, p->flts[i].sublayer);
		r = weir_txn_add(txn, &spec, fids ? &fids[i] : NULL, &why);
		if (r < 0) {
			filter_error(p, &p->flts[i], why, err);
			return r;
		}
	}
	return 0;
}

/* Reports a refused commit at the refused filter's statement when the
 * engine names one (a callout's notify said no), else at the file. */
static void refused(const struct weir_policy *p, const uint64_t *fids,
		    const struct weir_txn_report *rep, int r,
		    struct weir_policy_error *err)
{
	char why[160];

	for (uint32_t i = 0; fids && rep->refused_id && i < p->nflt; i++)
		if (fids[i] == rep->refused_id) {
			snprintf(why, sizeof(why), "callout \"%s\" refused this "
				 "filter: %s", p->flts[i].spec.callout,
				 strerror(-rep->refused_err));
			filter_error(p, &p->flts[i], why, err);
			return;
		}
	weir__error_plain(err, p->file, "the engine refused the policy: %s",
			  strerror(-r));
}

int weir_policy_apply(const struct weir_policy *policy,
		      struct weir_engine *engine,
		      struct weir_policy_error *err)
{
	return weir_policy_apply_ids(policy, engine, NULL, err);
}

int weir_policy_apply_ids(const struct weir_policy *policy,
			  struct weir_engine *engine, uint64_t *ret_ids,
			  struct weir_policy_error *err)
{
	int ids[64] = { 0 }, r;
	uint64_t *fids = NULL;
	struct weir_txn_report rep;
	struct weir_txn *txn;

	r = check_all(policy, err);
	if (r < 0 || (r = sublayers(policy, engine, ids, err)) < 0)
		return r;
	txn = weir_txn_begin(engine);
	if (!txn) {
		weir__error_plain(err, policy->file, "out of memory");
		return -ENOMEM;
	}
	weir_txn_clear(txn);
	/* Ids are kept even when not asked for: a refusal names its filter. */
	if (policy->nflt && !(fids = calloc(policy->nflt, sizeof(*fids)))) {
		weir_txn_abort(txn);
		weir__error_plain(err, policy->file, "out of memory");
		return -ENOMEM;
	}
	r = add_all(policy, txn, ids, fids, err);
	if (r < 0) {
		weir_txn_abort(txn);
		free(fids);
		return r;
	}
	r = weir_txn_commit_report(txn, &rep);
	if (r < 0) {
		refused(policy, fids, &rep, r, err);
		free(fids);
		return r;
	}
	if (ret_ids && fids)
		memcpy(ret_ids, fids, policy->nflt * sizeof(*fids));
	free(fids);
	for (int l = WEIR_LAYER_NONE + 1; l < WEIR_LAYER__COUNT; l++)
		weir_engine_set_default(engine, l, policy->defaults[l]
					? policy->defaults[l]
					: WEIR_ACTION_PERMIT);
	return 0;
}
