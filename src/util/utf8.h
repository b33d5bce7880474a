/* util/utf8.h — bytes from outside corral (service output, command lines read
 * from /proc, cut to a buffer's size) made valid UTF-8: JSON strings must be,
 * and jansson refuses a string that is not, which would drop the field. */
#ifndef CORRAL_UTIL_UTF8_H
#define CORRAL_UTIL_UTF8_H

#include <stddef.h>

/* Copy len bytes of s to out, each byte of an invalid or cut sequence (and a
 * NUL) replaced by '?', and terminate it: out holds at least len + 1 bytes. */
void utf8_clean(const char *s, size_t len, char *out);

/* A cleaned copy of the string s, to free(); NULL when out of memory. */
char *utf8_cleaned(const char *s);

/* In place, s made safe for a terminal: invalid UTF-8 (as utf8_clean), the
 * C0 and C1 control characters and DEL become '?' (a tab or a newline a
 * space), so that no text from a service or a stranger (a STATUS=, a notify
 * message, a command line) can move the cursor or retitle the window of
 * whoever reads it. Its length is kept. */
void utf8_printable(char *s);

#endif
