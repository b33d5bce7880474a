/* util/jtext.c — see jtext.h. */
#include "util/jtext.h"

#include "util/utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLEAN_STACK 256

void jtext_init(struct jtext *j)
{
    j->buf = j->inline_buf;
    j->buf[0] = '\0';
    j->len = 0;
    j->cap = sizeof(j->inline_buf);
    j->depth = 0;
    j->failed = false;
}

static bool room(struct jtext *j, size_t more)
{
    size_t cap = j->cap;
    char *p;
    if (j->failed)
        return false;
    if (j->len + more + 1 <= j->cap)
        return true;
    while (cap < j->len + more + 1)
        cap *= 2;
    p = j->buf == j->inline_buf ? malloc(cap) : realloc(j->buf, cap);
    if (!p) {
        j->failed = true;
        return false;
    }
    if (j->buf == j->inline_buf)
        memcpy(p, j->buf, j->len + 1);
    j->buf = p;
    j->cap = cap;
    return true;
}

static void jtext_raw(struct jtext *j, const char *s, size_t len)
{
    if (!room(j, len))
        return;
    memcpy(j->buf + j->len, s, len);
    j->len += len;
    j->buf[j->len] = '\0';
}

static void put_char(struct jtext *j, char c)
{
    jtext_raw(j, &c, 1);
}

void jtext_open(struct jtext *j)
{
    if (j->depth >= JTEXT_DEPTH_MAX) {
        j->failed = true;
        return;
    }
    j->items[j->depth++] = false;
    put_char(j, '{');
}

void jtext_close(struct jtext *j)
{
    if (j->depth > 0)
        j->depth--;
    put_char(j, '}');
}

/* As jansson's dump: the two-character escapes it has, \u00XX for the rest of
 * the control characters; '/' and non-ASCII characters as they are. */
static void escaped(struct jtext *j, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    static const char two[] = {['"'] = '"',  ['\\'] = '\\', ['\b'] = 'b', ['\f'] = 'f',
                               ['\n'] = 'n', ['\r'] = 'r',  ['\t'] = 't'};
    size_t run = 0;
    put_char(j, '"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        jtext_raw(j, s + run, i - run);
        run = i + 1;
        if (c < sizeof(two) && two[c]) {
            esc[1] = two[c];
            jtext_raw(j, esc, 2);
        } else {
            jtext_raw(j, esc, 6);
        }
    }
    jtext_raw(j, s + run, len - run);
    put_char(j, '"');
}

void jtext_strn(struct jtext *j, const char *s, size_t len)
{
    char stack[CLEAN_STACK];
    char *clean = len < sizeof(stack) ? stack : malloc(len + 1);
    if (!clean) {
        j->failed = true;
        return;
    }
    utf8_clean(s, len, clean);
    escaped(j, clean, len);
    if (clean != stack)
        free(clean);
}

void jtext_str(struct jtext *j, const char *s)
{
    if (s)
        jtext_strn(j, s, strlen(s));
    else
        jtext_null(j);
}

void jtext_key(struct jtext *j, const char *key)
{
    if (j->depth > 0) {
        if (j->items[j->depth - 1])
            put_char(j, ',');
        j->items[j->depth - 1] = true;
    }
    jtext_str(j, key);
    put_char(j, ':');
}

void jtext_int(struct jtext *j, long long v)
{
    char num[24];
    int n = snprintf(num, sizeof(num), "%lld", v);
    jtext_raw(j, num, (size_t)n);
}

void jtext_null(struct jtext *j)
{
    jtext_raw(j, "null", 4);
}

char *jtext_take(struct jtext *j)
{
    char *text = j->failed ? NULL : malloc(j->len + 1);
    if (text)
        memcpy(text, j->buf, j->len + 1);
    jtext_free(j);
    return text;
}

void jtext_free(struct jtext *j)
{
    if (j->buf != j->inline_buf)
        free(j->buf);
    jtext_init(j);
}
