/* Kernel steering's entry points and its one backend selection point:
 * the plan names a backend, this table maps it to its operations.
 */
#include <errno.h>
#include <stddef.h>

#include "capture/steer.h"

static const struct weir__steer_backend *const backends[] = {
	[WEIR__STEER_IPTABLES] = &weir__steer_iptables,
	[WEIR__STEER_NFT] = &weir__steer_nft,
};

#define NBACKEND (sizeof(backends) / sizeof(backends[0]))

/* The plan's backend, after checking the plan; NULL with *rc set. */
static const struct weir__steer_backend *
backend_of(const struct weir__steer_plan *plan, struct weir__steer_err *err,
	   int *rc)
{
	*rc = weir__steer_plan_check(plan, err);
	return *rc ? NULL : backends[plan->backend];
}

static int unsupported(const struct weir__steer_backend *b,
		       struct weir__steer_err *err)
{
	weir__steer_fail(err, -1, -1, "%s backend: not implemented", b->name);
	return -EOPNOTSUPP;
}

int weir__steer_apply(const struct weir__steer_plan *plan,
		      struct weir__steer_err *err)
{
	int rc;
	const struct weir__steer_backend *b = backend_of(plan, err, &rc);

	if (!b)
		return rc;
	return b->apply ? b->apply(plan, err) : unsupported(b, err);
}

int weir__steer_bump(struct weir__steer_plan *plan,
		     struct weir__steer_err *err)
{
	uint8_t old = plan->generation;
	int rc;

	plan->generation = weir__steer_generation_next(plan, old);
	rc = weir__steer_apply(plan, err);
	if (rc)
		plan->generation = old;
	return rc;
}

int weir__steer_remove(const struct weir__steer_plan *plan,
		       struct weir__steer_err *err)
{
	int rc;
	const struct weir__steer_backend *b = backend_of(plan, err, &rc);

	if (!b)
		return rc;
	if (!b->remove)
		return unsupported(b, err);
	rc = b->remove(plan, NULL, err);
	return rc < 0 ? rc : 0;
}

/* Every backend that can run here is swept: a crashed run may have used
 * another one than this run's plan names. */
int weir__steer_clean_stale(const struct weir__steer_plan *plan,
			    uint8_t *ret_gen, struct weir__steer_err *err)
{
	uint8_t gen = 0, g;
	int rc, total = 0;

	if (!backend_of(plan, err, &rc))
		return rc;
	for (size_t i = 0; i < NBACKEND; i++) {
		const struct weir__steer_backend *b = backends[i];

		if (!b->remove || b->probe(plan, NULL))
			continue;
		g = 0;
		rc = b->remove(plan, &g, err);
		if (rc < 0)
			return rc;
		total += rc;
		gen = g > gen ? g : gen;
	}
	if (ret_gen)
		*ret_gen = gen;
	return total;
}

int weir__steer_probe(const struct weir__steer_plan *plan,
		      struct weir__steer_err *err)
{
	int rc;
	const struct weir__steer_backend *b = backend_of(plan, err, &rc);

	if (!b)
		return rc;
	return b->probe(plan, err);
}
