/* Socket addresses as log text (addr_text.h). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>

#include "addr_text.h"

void addr_text(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	const void *a = ss->ss_family == AF_INET6
		? (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr
		: (const void *)&((const struct sockaddr_in *)ss)->sin_addr;
	uint16_t port = ntohs(ss->ss_family == AF_INET6
		? ((const struct sockaddr_in6 *)ss)->sin6_port
		: ((const struct sockaddr_in *)ss)->sin_port);
	char host[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET || ss->ss_family == AF_INET6)
		inet_ntop(ss->ss_family, a, host, sizeof(host));
	snprintf(buf, len, ss->ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u",
		 host, port);
}
