/* util/unaddr.h — abstract unix socket addresses. */
#ifndef CORRAL_UTIL_UNADDR_H
#define CORRAL_UTIL_UNADDR_H

#include <sys/socket.h>
#include <sys/un.h>

/* The abstract name printf(fmt, ...) makes, in sa: sun_path starts with a NUL
 * and the returned length, not a terminator, ends the name (cut to fit). */
socklen_t unaddr_abstract(struct sockaddr_un *sa, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
