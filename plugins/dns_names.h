/* The DNS name lists of the dnssink and dnsfilter plug-ins, and what a
 * listed name is answered with.
 *
 * A list holds patterns as typed in a policy:
 *   ads.example      that name only
 *   *.ads.example    every name below it, not itself
 *   .ads.example     the name and every name below it
 * matched without regard to case, a trailing dot allowed. It is built
 * once (in a plug-in's init) and only read afterwards, so the readers
 * (classify, every worker's sessions) share it without a lock.
 *
 * Messages go to stderr prefixed with `who`, the calling plug-in's name,
 * so each still speaks for itself.
 *
 * Internal to plug-ins (compiled into dnssink and dnsfilter with dns.c);
 * not part of libweir.
 */
#ifndef WEIR_PLUGIN_DNS_NAMES_H
#define WEIR_PLUGIN_DNS_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns.h"

struct dns_pattern;

/* A name list. All zero is the empty list, so it can be embedded in a
 * calloc'd state; the fields are dns_names.c's. */
struct dns_names {
	struct dns_pattern *set; /* open addressing, at most half full */
	uint32_t cap;            /* power of two, or 0 */
	uint32_t count;
};

/* Adds one pattern ("x", "*.x" or ".x"). 0, -EINVAL (not a name),
 * -ENOMEM. */
int dns_names_add(struct dns_names *ns, const char *pattern);

/* Adds every pattern of list, separated by spaces, tabs, commas or line
 * ends; list is cut up in place. 0, -EINVAL (a bad pattern, reported),
 * -ENOMEM. */
int dns_names_add_list(struct dns_names *ns, char *list, const char *who);

/* Adds the patterns of the file at path: lists as dns_names_add_list()
 * reads them, one per line, '#' starting a comment. 0 or a negative
 * errno (reported). */
int dns_names_add_file(struct dns_names *ns, const char *path,
		       const char *who);

/* Adds the patterns of a plug-in's parameters: names=LIST and list=PATH,
 * at least one of them required. 0 or a negative errno (reported). */
int dns_names_parse(struct dns_names *ns, const char *params,
		    const char *who);

/* Whether name[0..len) (normalised, as dns_parse_query() gives it) or
 * one of the names above it is listed. */
bool dns_names_listed(const struct dns_names *ns, const char *name,
		      size_t len);

/* Frees the list's contents, leaving it empty. */
void dns_names_free(struct dns_names *ns);

/* What a listed name gets. */
struct dns_policy {
	bool nxdomain;           /* every type NXDOMAIN, else the sink */
	uint8_t a[4], aaaa[16];  /* the sink addresses */
	uint32_t ttl;
};

/* Overrides the fields of *pol that params set: answer=sink|nxdomain,
 * a=ADDR, aaaa=ADDR, ttl=N. The defaults are the caller's to set, so a
 * binding's parameters can override the plug-in's. 0, -EINVAL (not
 * reported: the caller knows which parameters were bad). */
int dns_policy_parse(struct dns_policy *pol, const char *params);

/* The answer to question q of a listed name: NXDOMAIN, or the sink
 * record for A and AAAA and NODATA for the other types. */
void dns_policy_answer(const struct dns_policy *pol,
		       const struct dns_question *q, struct dns_answer *a);

#endif /* WEIR_PLUGIN_DNS_NAMES_H */
