/* The DNS name lists of dnssink and dnsfilter (dns_names.h). */
#include "dns_names.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <weir/plugin.h>

#define MATCH_EXACT 0x1u   /* the name itself */
#define MATCH_BELOW 0x2u   /* names below it */

struct dns_pattern {
	char *name;         /* normalised (dns_name_normalize), NULL = free */
	uint8_t match;      /* MATCH_* */
};

/* ---- the hash set ------------------------------------------------------- */

static uint32_t name_hash(const char *s, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 16777619u;
	return h;
}

/* The slot holding s[0..n), or the free one where it would go. */
static struct dns_pattern *slot_of(const struct dns_names *ns, const char *s,
				   size_t n)
{
	uint32_t i = name_hash(s, n) & (ns->cap - 1);

	for (;; i = (i + 1) & (ns->cap - 1)) {
		struct dns_pattern *p = &ns->set[i];

		if (!p->name || (strlen(p->name) == n && !memcmp(p->name, s, n)))
			return p;
	}
}

static int grow(struct dns_names *ns)
{
	struct dns_names big = { .cap = ns->cap ? ns->cap * 2 : 64 };

	big.set = calloc(big.cap, sizeof(*big.set));
	if (!big.set)
		return -ENOMEM;
	for (uint32_t i = 0; i < ns->cap; i++) {
		struct dns_pattern *p = &ns->set[i];

		if (p->name)
			*slot_of(&big, p->name, strlen(p->name)) = *p;
	}
	free(ns->set);
	ns->set = big.set;
	ns->cap = big.cap;
	return 0;
}

int dns_names_add(struct dns_names *ns, const char *text)
{
	char name[DNS_NAME_TEXT_MAX];
	uint8_t match = MATCH_EXACT;
	struct dns_pattern *p;

	if (!strncmp(text, "*.", 2))
		text += 2, match = MATCH_BELOW;
	else if (text[0] == '.')
		text += 1, match = MATCH_EXACT | MATCH_BELOW;
	if (!text[0] || dns_name_normalize(text, name, sizeof(name)) < 0 ||
	    !name[0])
		return -EINVAL;
	/* At most half full, so a probe always meets a free slot. */
	if ((ns->count + 1) * 2 > ns->cap && grow(ns) < 0)
		return -ENOMEM;
	p = slot_of(ns, name, strlen(name));
	if (!p->name) {
		if (!(p->name = strdup(name)))
			return -ENOMEM;
		ns->count++;
	}
	p->match |= match;
	return 0;
}

static uint8_t match_of(const struct dns_names *ns, const char *s, size_t n)
{
	const struct dns_pattern *p;

	if (!ns->cap)
		return 0;
	p = slot_of(ns, s, n);
	return p->name ? p->match : 0;
}

bool dns_names_listed(const struct dns_names *ns, const char *name,
		      size_t n)
{
	if (match_of(ns, name, n) & MATCH_EXACT)
		return true;
	/* Each parent: the name after each dot. */
	for (size_t i = 0; i < n; i++)
		if (name[i] == '.' &&
		    (match_of(ns, name + i + 1, n - i - 1) & MATCH_BELOW))
			return true;
	return false;
}

void dns_names_free(struct dns_names *ns)
{
	for (uint32_t i = 0; i < ns->cap; i++)
		free(ns->set[i].name);
	free(ns->set);
	*ns = (struct dns_names){ 0 };
}

/* ---- lists, files and parameters ----------------------------------------- */

int dns_names_add_list(struct dns_names *ns, char *list, const char *who)
{
	char *save = NULL;

	for (char *w = strtok_r(list, " \t,\r\n", &save); w;
	     w = strtok_r(NULL, " \t,\r\n", &save)) {
		if (dns_names_add(ns, w) < 0) {
			fprintf(stderr, "%s: bad name pattern '%s'\n", who, w);
			return -EINVAL;
		}
	}
	return 0;
}

int dns_names_add_file(struct dns_names *ns, const char *path,
		       const char *who)
{
	FILE *f = fopen(path, "re");
	char line[1024];
	int rc = 0;

	if (!f) {
		rc = -errno;
		fprintf(stderr, "%s: %s: %s\n", who, path, strerror(-rc));
		return rc;
	}
	while (rc == 0 && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "#")] = '\0';
		rc = dns_names_add_list(ns, line, who);
	}
	fclose(f);
	return rc;
}

/* Adds the patterns of parameter `key` (a list, or a file naming them);
 * 0 when the parameter is absent. */
static int add_param(struct dns_names *ns, const char *params,
		     const char *key, bool file, bool *any, const char *who)
{
	size_t len = 65536;
	char *buf = malloc(len);
	int rc;

	if (!buf)
		return -ENOMEM;
	rc = weir_param_get(params, key, buf, len);
	if (rc == 0) {
		*any = true;
		rc = file ? dns_names_add_file(ns, buf, who)
			  : dns_names_add_list(ns, buf, who);
	} else if (rc == -ENOENT) {
		rc = 0;
	} else {
		fprintf(stderr, "%s: %s= longer than 64 KiB\n", who, key);
	}
	free(buf);
	return rc;
}

int dns_names_parse(struct dns_names *ns, const char *params,
		    const char *who)
{
	bool any = false;
	int rc = add_param(ns, params, "names", false, &any, who);

	if (rc == 0)
		rc = add_param(ns, params, "list", true, &any, who);
	if (rc == 0 && !any) {
		fprintf(stderr, "%s: no names= or list= given\n", who);
		rc = -EINVAL;
	}
	return rc;
}

/* ---- what a listed name gets ----------------------------------------------- */

static int parse_addr(const char *params, const char *key, int family,
		      void *addr)
{
	char buf[64];

	if (weir_param_get(params, key, buf, sizeof(buf)) < 0)
		return 0; /* the default stays */
	return inet_pton(family, buf, addr) == 1 ? 0 : -EINVAL;
}

int dns_policy_parse(struct dns_policy *pol, const char *params)
{
	char buf[32];

	if (weir_param_get(params, "ttl", buf, sizeof(buf)) == 0) {
		char *end;
		unsigned long v = strtoul(buf, &end, 10);

		if (*end || end == buf || v > 0x7fffffff)
			return -EINVAL; /* RFC 2181 8 */
		pol->ttl = (uint32_t)v;
	}
	/* "sink" is set, not just accepted: a binding may undo the
	 * plug-in's nxdomain. */
	if (weir_param_get(params, "answer", buf, sizeof(buf)) == 0) {
		if (!strcmp(buf, "nxdomain"))
			pol->nxdomain = true;
		else if (!strcmp(buf, "sink"))
			pol->nxdomain = false;
		else
			return -EINVAL;
	}
	if (parse_addr(params, "a", AF_INET, pol->a) < 0 ||
	    parse_addr(params, "aaaa", AF_INET6, pol->aaaa) < 0)
		return -EINVAL;
	return 0;
}

void dns_policy_answer(const struct dns_policy *pol,
		       const struct dns_question *q, struct dns_answer *a)
{
	memset(a, 0, sizeof(*a));
	a->ttl = pol->ttl;
	if (pol->nxdomain) {
		a->rcode = DNS_RCODE_NXDOMAIN;
	} else if (q->qtype == DNS_TYPE_A) {
		a->type = DNS_TYPE_A;
		memcpy(a->rdata, pol->a, 4);
	} else if (q->qtype == DNS_TYPE_AAAA) {
		a->type = DNS_TYPE_AAAA;
		memcpy(a->rdata, pol->aaaa, 16);
	} /* else NODATA: NOERROR without records */
}
