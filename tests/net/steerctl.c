/* steerctl: the steering API from the command line, for test_steer.sh.
 *
 *   steerctl [options] apply|bump|remove|clean|render|probe|proc
 *   steerctl [options] serve QUEUE SECONDS
 *
 * Options build the plan: --netns PATH, --tag T, --gen N, --hooks
 * in,out,fwd, --v4 / --v6 (only that family; default both), --queue A or
 * A:B, --bypass, --new-only, --no-ct (no connmark rules), --fanout,
 * --inject-if NAME, --nft (the nft
 * backend: probe only). `render` prints
 * what apply would change against the live rules ("no change" if
 * nothing). `serve` binds QUEUE in the current namespace and accepts
 * what arrives for SECONDS, the way the daemon lets a flow leave the
 * queue: --ct (the verdict sets the connmark; needs the kernel's
 * NETFILTER_NETLINK_GLUE_CT), --repeat (NF_REPEAT with the verdict mark,
 * which the steering rules turn into the connmark) or neither (plain
 * accept); it prints how many packets it saw. Exit 0 ok, 1 failure.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netfilter/nfnetlink_queue.h>

#include "capture/steer.h"

struct opts {
	struct weir__steer_plan plan;
	unsigned hooks;                 /* bit per enum weir__steer_hook */
	unsigned families;              /* bit per family */
	struct weir__steer_hook_plan hp;
	enum { PLAIN, CT, REPEAT } how;
};

static int usage(void)
{
	fprintf(stderr, "usage: steerctl [options] apply|bump|remove|clean|"
		"render|probe|proc|serve QUEUE SECONDS\n");
	return 1;
}

static unsigned parse_hooks(const char *s)
{
	unsigned m = 0;

	for (const char *p = s; *p;) {
		size_t n = strcspn(p, ",");

		if (n == 2 && !strncmp(p, "in", 2))
			m |= 1u << WEIR__STEER_INPUT;
		else if (n == 3 && !strncmp(p, "out", 3))
			m |= 1u << WEIR__STEER_OUTPUT;
		else if (n == 3 && !strncmp(p, "fwd", 3))
			m |= 1u << WEIR__STEER_FORWARD;
		p += n + (p[n] == ',');
	}
	return m;
}

/* Parses options up to the command; returns its index or -1. */
static int parse(struct opts *o, int argc, char **argv)
{
	int i;

	weir__steer_plan_init(&o->plan);
	o->hooks = 1u << WEIR__STEER_INPUT | 1u << WEIR__STEER_OUTPUT;
	o->families = 3;
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		unsigned q0, q1;

		if (!strcmp(a, "--bypass"))
			o->hp.bypass = true;
		else if (!strcmp(a, "--new-only"))
			o->hp.new_only = true;
		else if (!strcmp(a, "--no-ct"))
			o->hp.no_ct_bypass = true;
		else if (!strcmp(a, "--fanout"))
			o->hp.cpu_fanout = true;
		else if (!strcmp(a, "--v4"))
			o->families = 1;
		else if (!strcmp(a, "--v6"))
			o->families = 2;
		else if (!strcmp(a, "--ct"))
			o->how = CT;
		else if (!strcmp(a, "--repeat"))
			o->how = REPEAT;
		else if (!strcmp(a, "--nft"))
			o->plan.backend = WEIR__STEER_NFT;
		else if (!v)
			return -1;
		else if (i++, !strcmp(a, "--netns"))
			o->plan.netns_path = v;
		else if (!strcmp(a, "--tag"))
			o->plan.tag = v;
		else if (!strcmp(a, "--gen"))
			o->plan.generation = (uint8_t)atoi(v);
		else if (!strcmp(a, "--hooks"))
			o->hooks = parse_hooks(v);
		else if (!strcmp(a, "--inject-if"))
			o->plan.inject_ifname = v;
		else if (!strcmp(a, "--queue") &&
			 sscanf(v, "%u:%u", &q0, &q1) >= 1) {
			o->hp.qfirst = (uint16_t)q0;
			o->hp.qlast = (uint16_t)(strchr(v, ':') ? q1 : q0);
		} else
			return -1;
	}
	o->hp.queue = true;
	for (int f = 0; f < WEIR__STEER_NFAMILY; f++)
		for (int h = 0; h < WEIR__STEER_NHOOK; h++)
			if ((o->families >> f & 1) && (o->hooks >> h & 1))
				o->plan.hook[f][h] = o->hp;
	return i < argc ? i : -1;
}

static int failed(const char *what, int rc, const struct weir__steer_err *e)
{
	fprintf(stderr, "steerctl: %s: %s: %s\n", what, strerror(-rc), e->msg);
	return 1;
}

/* What apply would do now, against the live rules. */
static int render(const struct weir__steer_plan *plan)
{
	static const char *const save[] = { "iptables-save", "ip6tables-save" };
	int changes = 0;

	for (int f = 0; f < WEIR__STEER_NFAMILY; f++) {
		const char *argv[] = { save[f], "-t", "filter", NULL };
		struct weir__steer_run run = { .netns_path = plan->netns_path,
					       .want_out = true };
		struct weir__steer_state st;
		struct weir__steer_err err = { 0 };
		char *text = NULL;
		int rc = weir__steer_exec(argv, &run);

		if (rc) {
			fprintf(stderr, "steerctl: %s: %s\n", save[f], run.err);
			return 1;
		}
		rc = weir__steer_state_parse(&st, run.out, plan->tag);
		if (!rc)
			rc = weir__steer_render(plan, f, &st, &text, &err);
		free(run.out);
		weir__steer_state_exit(&st);
		if (rc)
			return failed("render", rc, &err);
		if (text)
			printf("# %s\n%s", save[f], text), changes++;
		free(text);
	}
	if (!changes)
		printf("no change\n");
	return 0;
}

static int proc(const char *netns_path)
{
	struct weir__nfq_proc q[64];
	int n = weir__nfq_proc_read(netns_path, q, 64);

	if (n < 0) {
		fprintf(stderr, "steerctl: proc: %s\n", strerror(-n));
		return 1;
	}
	for (int i = 0; i < n && i < 64; i++)
		printf("queue %u portid %u waiting %u copy %u/%u dropped %u/%u "
		       "seq %u\n", q[i].queue, q[i].portid, q[i].queue_total,
		       q[i].copy_mode, q[i].copy_range, q[i].queue_dropped,
		       q[i].user_dropped, q[i].id_sequence);
	return 0;
}

/* ---- serve: a tiny queue reader ----------------------------------- */

static int send_cfg(struct mnl_socket *nl, uint16_t queue, bool bind)
{
	char buf[256];
	struct nlmsghdr *nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, queue);

	if (bind)
		nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_BIND);
	else
		nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, 128);
	return mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0 ? -errno : 0;
}

static void verdict(struct mnl_socket *nl, const struct opts *o,
		    uint16_t queue, uint32_t id, uint32_t mark)
{
	const struct weir__steer_plan *p = &o->plan;
	char buf[256];
	struct nlmsghdr *nlh = nfq_nlmsg_put(buf, NFQNL_MSG_VERDICT, queue);

	nfq_nlmsg_verdict_put(nlh, (int)id,
			      o->how == REPEAT ? NF_REPEAT : NF_ACCEPT);
	if (o->how == REPEAT)
		nfq_nlmsg_verdict_put_mark(nlh, (mark & ~p->vmark_mask) |
				weir__steer_vmark(p, p->generation));
	if (o->how == CT) {
		struct nlattr *nest = mnl_attr_nest_start(nlh, NFQA_CT);

		mnl_attr_put_u32(nlh, CTA_MARK,
			htonl(weir__steer_ctmark(p, p->generation)));
		mnl_attr_put_u32(nlh, CTA_MARK_MASK, htonl(p->ct_mask));
		mnl_attr_nest_end(nlh, nest);
	}
	mnl_socket_sendto(nl, nlh, nlh->nlmsg_len);
}

struct server {
	struct mnl_socket *nl;
	const struct opts *o;
	uint16_t queue;
	unsigned seen;
};

static int on_packet(const struct nlmsghdr *nlh, void *data)
{
	struct nlattr *attr[NFQA_MAX + 1] = { 0 };
	const struct nfqnl_msg_packet_hdr *ph;
	struct server *sv = data;
	uint32_t mark = 0;

	if (nfq_nlmsg_parse(nlh, attr) < 0 || !attr[NFQA_PACKET_HDR])
		return MNL_CB_OK;
	ph = mnl_attr_get_payload(attr[NFQA_PACKET_HDR]);
	if (attr[NFQA_MARK])
		mark = ntohl(mnl_attr_get_u32(attr[NFQA_MARK]));
	verdict(sv->nl, sv->o, sv->queue, ntohl(ph->packet_id), mark);
	sv->seen++;
	return MNL_CB_OK;
}

static int serve(const struct opts *o, uint16_t queue, int seconds)
{
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	struct timeval tv = { .tv_sec = 0, .tv_usec = 100000 };
	static char buf[65536 + 4096];
	struct server sv = { nl, o, queue, 0 };
	time_t end = time(NULL) + seconds;

	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    send_cfg(nl, queue, true) || send_cfg(nl, queue, false)) {
		perror("steerctl: serve");
		return 1;
	}
	setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVTIMEO, &tv,
		   sizeof(tv));
	printf("bound %u portid %u\n", queue, mnl_socket_get_portid(nl));
	fflush(stdout);
	while (time(NULL) < end) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));

		if (n > 0)
			mnl_cb_run(buf, (size_t)n, 0, 0, on_packet, &sv);
	}
	printf("queued %u\n", sv.seen);
	mnl_socket_close(nl);
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct weir__steer_err err = { 0 };
	int i = parse(&o, argc, argv), rc;
	const char *cmd;
	uint8_t gen = 0;

	if (i < 0)
		return usage();
	cmd = argv[i];
	if (!strcmp(cmd, "serve"))
		return i + 2 < argc ? serve(&o, (uint16_t)atoi(argv[i + 1]),
					    atoi(argv[i + 2])) : usage();
	if (!strcmp(cmd, "render"))
		return render(&o.plan);
	if (!strcmp(cmd, "proc"))
		return proc(o.plan.netns_path);
	if (!strcmp(cmd, "apply"))
		rc = weir__steer_apply(&o.plan, &err);
	else if (!strcmp(cmd, "bump"))
		rc = weir__steer_bump(&o.plan, &err);
	else if (!strcmp(cmd, "remove"))
		rc = weir__steer_remove(&o.plan, &err);
	else if (!strcmp(cmd, "clean"))
		rc = weir__steer_clean_stale(&o.plan, &gen, &err);
	else if (!strcmp(cmd, "probe"))
		rc = weir__steer_probe(&o.plan, &err);
	else
		return usage();
	if (rc < 0)
		return failed(cmd, rc, &err);
	if (!strcmp(cmd, "clean"))
		printf("removed %d generation %u\n", rc, gen);
	if (!strcmp(cmd, "bump"))
		printf("generation %u\n", o.plan.generation);
	return 0;
}
