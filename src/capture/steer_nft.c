/* The nft backend, as far as this kernel allows: a probe. nft's own
 * `queue` statement needs CONFIG_NFT_QUEUE, which the kernels weir was
 * built on lack (and they ship no `nft` binary), so steering goes
 * through iptables' xt NFQUEUE target there. The probe says whether a
 * host could do better; apply and remove are left to a future backend
 * (steer.h, "Backends", says how to add them).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture/steer.h"

/* Adds a throw-away table with a queue rule in a chain no hook reaches,
 * and deletes it, in one transaction: a kernel without the queue
 * expression refuses the whole batch, one with it keeps nothing. */
static int nft_probe(const struct weir__steer_plan *plan,
		     struct weir__steer_err *err)
{
	const char *argv[] = { "nft", "-f", "-", NULL };
	struct weir__steer_run run = { .netns_path = plan->netns_path };
	char text[256];
	int n, rc;

	n = snprintf(text, sizeof(text),
		     "add table inet weir_probe_%d\n"
		     "add chain inet weir_probe_%d c\n"
		     "add rule inet weir_probe_%d c queue num 0 bypass\n"
		     "delete table inet weir_probe_%d\n",
		     (int)getpid(), (int)getpid(), (int)getpid(),
		     (int)getpid());
	run.in = text;
	run.in_len = (size_t)n;
	rc = weir__steer_exec(argv, &run);
	if (!rc)
		return 0;
	weir__steer_fail(err, -1, run.status, "nft queue unsupported: %s",
			 rc == -ENOENT ? "no nft binary" : run.err);
	return -ENOTSUP;
}

const struct weir__steer_backend weir__steer_nft = {
	.name = "nft",
	.probe = nft_probe,
};
