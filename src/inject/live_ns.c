/* Compartments of the live injector: raw IP sockets and a TUN device
 * made inside a network namespace.
 *
 * A socket or a TUN device belongs to the namespace of the thread that
 * creates it, and keeps belonging to it wherever it is used from. So a
 * short-lived thread enters the namespace (setns affects only itself),
 * opens everything, configures the TUN device through the same
 * namespace's /proc/sys, and exits; the loop thread then uses the
 * descriptors from weir's own namespace.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "inject/live_internal.h"

static int raw_socket(int family, uint32_t mark)
{
	int one = 1;
	int fd = socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
			IPPROTO_RAW);

	if (fd < 0)
		return -errno;
	/* IPPROTO_RAW implies the header is ours (IPv4: IP_HDRINCL, IPv6:
	 * IPV6_HDRINCL since 4.5); set it anyway for older kernels' v4. */
	if ((family == AF_INET &&
	     setsockopt(fd, IPPROTO_IP, IP_HDRINCL, &one, sizeof(one))) ||
	    setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark))) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	return fd;
}

/* Writes `val` to /proc/sys/net/<path>; errors are only worth a note:
 * the path works without them in the common configurations. */
static void sysctl_set(const char *path, const char *val)
{
	char p[128];
	int fd;

	snprintf(p, sizeof(p), "/proc/sys/net/%s", path);
	fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (write(fd, val, strlen(val)) < 0)
		fprintf(stderr, "weir: inject: %s: %s\n", p, strerror(errno));
	close(fd);
}

/* The integer in /proc/sys/net/<path>, or -1. */
static int sysctl_get(const char *path)
{
	char p[128], buf[16] = { 0 };
	int fd;
	ssize_t n;

	snprintf(p, sizeof(p), "/proc/sys/net/%s", path);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? atoi(buf) : -1;
}

/* Up, MTU 65535 (a receive injection may carry a GSO-sized packet), and
 * willing to take packets from any source. A device without an IPv4
 * address fails every reverse-path check, loose or strict, so rp_filter
 * must be 0 here; the kernel applies the larger of all/ and the device's
 * value, so a namespace whose all/rp_filter is set drops receive
 * injections whose source is not routed via the TUN device: weir warns
 * about that. accept_local lets a packet carry a local source. */
static int tun_config(const char *name)
{
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int rc = 0;
	char p[96];

	if (s < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_mtu = 65535;
	ioctl(s, SIOCSIFMTU, &ifr);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) ||
	    (ifr.ifr_flags |= IFF_UP | IFF_RUNNING,
	     ioctl(s, SIOCSIFFLAGS, &ifr)))
		rc = -errno;
	close(s);
	snprintf(p, sizeof(p), "ipv4/conf/%s/rp_filter", name);
	sysctl_set(p, "0");
	if (sysctl_get("ipv4/conf/all/rp_filter") > 0)
		fprintf(stderr, "weir: inject: net.ipv4.conf.all.rp_filter is "
			"set in this namespace: packets injected into the "
			"receive path may be dropped as martians\n");
	snprintf(p, sizeof(p), "ipv4/conf/%s/accept_local", name);
	sysctl_set(p, "1");
	return rc;
}

static int tun_open(struct weir__inj_comp *c, const char *name)
{
	struct ifreq ifr = { 0 };
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -errno;
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr)) {
		rc = -errno;
		close(fd);
		return rc;
	}
	memcpy(c->tun_name, ifr.ifr_name, sizeof(c->tun_name));
	c->tun = fd;
	return tun_config(c->tun_name);
}

struct opener {
	struct weir__inj_comp *c;
	const char *path;
	uint32_t mark;
	const char *tun_name;
	int rc;
};

static int open_here(struct opener *o)
{
	struct weir__inj_comp *c = o->c;

	c->raw4 = raw_socket(AF_INET, o->mark);
	if (c->raw4 < 0)
		return c->raw4;
	c->raw6 = raw_socket(AF_INET6, o->mark);
	if (c->raw6 < 0)
		return c->raw6;
	return tun_open(c, o->tun_name);
}

static void *opener_main(void *arg)
{
	struct opener *o = arg;

	if (o->c->netns >= 0 && setns(o->c->netns, CLONE_NEWNET)) {
		o->rc = -errno;
		return NULL;
	}
	o->rc = open_here(o);
	return NULL;
}

int weir__inj_comp_open(struct weir__inj_comp *c, const char *path,
			uint32_t mark, const char *tun_name)
{
	struct opener o = { .c = c, .path = path, .mark = mark,
			    .tun_name = tun_name };
	pthread_t t;

	c->raw4 = c->raw6 = c->tun = c->netns = -1;
	if (!path) {
		o.rc = open_here(&o);
	} else {
		c->netns = open(path, O_RDONLY | O_CLOEXEC);
		if (c->netns < 0)
			return -errno;
		o.rc = pthread_create(&t, NULL, opener_main, &o);
		if (o.rc)
			o.rc = -o.rc;
		else
			pthread_join(t, NULL);
	}
	if (o.rc)
		weir__inj_comp_close(c);
	return o.rc;
}

void weir__inj_comp_close(struct weir__inj_comp *c)
{
	/* Closing the TUN descriptor removes the device (not persistent). */
	int *fds[] = { &c->raw4, &c->raw6, &c->tun, &c->netns };

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}
