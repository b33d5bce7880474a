/* util/utf8.c — the one check of UTF-8 sequences, as strict as jansson's: lead
 * byte, continuation bytes, no overlong form, no surrogate, nothing past
 * U+10FFFF. */
#include "util/utf8.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* How many continuation bytes the lead byte c announces; -1 for none valid. */
static int continuations(unsigned char c)
{
    if (c < 0x80)
        return 0;
    if ((c >> 5) == 6)
        return c < 0xc2 ? -1 : 1; /* 0xc0, 0xc1: overlong */
    if ((c >> 4) == 14)
        return 2;
    if ((c >> 3) == 30)
        return 3;
    return -1;
}

/* Whether the need continuation bytes after s[0] complete a character. */
static bool complete(const unsigned char *s, int need)
{
    static const unsigned long least[4] = {0, 0x80, 0x800, 0x10000};
    unsigned long cp = s[0] & (0x7fu >> (need + 1));
    for (int k = 1; k <= need; k++) {
        if ((s[k] >> 6) != 2)
            return false;
        cp = cp << 6 | (s[k] & 0x3fu);
    }
    return cp >= least[need] && cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff);
}

void utf8_clean(const char *s, size_t len, char *out)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        int need = continuations(c);
        bool ok = need >= 0 && c != 0 && i + (size_t)need < len &&
                  complete((const unsigned char *)s + i, need);
        if (!ok) {
            out[i++] = '?';
            continue;
        }
        memcpy(out + i, s + i, (size_t)need + 1);
        i += (size_t)need + 1;
    }
    out[len] = '\0';
}

char *utf8_cleaned(const char *s)
{
    size_t len = strlen(s);
    char *out = malloc(len + 1);
    if (out)
        utf8_clean(s, len, out);
    return out;
}

void utf8_printable(char *s)
{
    size_t len = strlen(s), i = 0;
    unsigned char *p = (unsigned char *)s;
    while (i < len) {
        int need = continuations(p[i]);
        if (need < 0 || i + (size_t)need >= len || !complete(p + i, need)) {
            p[i++] = '?';
        } else if (need > 0) {
            if (p[i] == 0xc2 && p[i + 1] <= 0x9f) /* U+0080..U+009F: C1, CSI among them */
                p[i] = p[i + 1] = '?';
            i += (size_t)need + 1;
        } else {
            if (p[i] == '\t' || p[i] == '\n' || p[i] == '\r')
                p[i] = ' ';
            else if (p[i] < 0x20 || p[i] == 0x7f)
                p[i] = '?';
            i++;
        }
    }
}
