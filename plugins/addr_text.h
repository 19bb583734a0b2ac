/* Socket addresses as log text ("10.0.0.1:80", "[fd00::1]:53"), for the
 * application-tier plug-ins' JSON lines. Internal to plug-ins (compiled
 * into each that needs it); not part of libweir.
 */
#ifndef WEIR_PLUGIN_ADDR_TEXT_H
#define WEIR_PLUGIN_ADDR_TEXT_H

#include <stddef.h>
#include <sys/socket.h>

/* ss as ADDR:PORT (IPv6 in brackets) into buf; "?" for another family. */
void addr_text(const struct sockaddr_storage *ss, char *buf, size_t len);

#endif /* WEIR_PLUGIN_ADDR_TEXT_H */
