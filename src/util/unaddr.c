/* util/unaddr.c — see unaddr.h. */
#include "util/unaddr.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

socklen_t unaddr_abstract(struct sockaddr_un *sa, const char *fmt, ...)
{
    const size_t room = sizeof(sa->sun_path) - 1;
    va_list ap;
    int n;
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    va_start(ap, fmt);
    n = vsnprintf(sa->sun_path + 1, room, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    /* vsnprintf keeps a byte for its NUL: the name is at most room - 1. */
    if ((size_t)n >= room)
        n = (int)(room - 1);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}
