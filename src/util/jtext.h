/* util/jtext.h — a JSON object written straight as text, for the records
 * corral makes at every state change (an API event per start, exit or stop):
 * building a jansson tree and dumping it cost ~10 us an event, twice that of
 * everything else an event does. Strings are made valid UTF-8 (util/utf8.h)
 * and escaped as jansson escapes them, so the text is the one json_dumps()
 * gives for the same object with JSON_COMPACT. */
#ifndef CORRAL_UTIL_JTEXT_H
#define CORRAL_UTIL_JTEXT_H

#include <stdbool.h>
#include <stddef.h>

#define JTEXT_DEPTH_MAX 8
#define JTEXT_INLINE    512 /* an event's text fits: no allocation until the copy */

struct jtext {
    char *buf; /* inline, or malloc'd once it outgrows it; NUL-terminated */
    size_t len, cap;
    char inline_buf[JTEXT_INLINE];
    int depth;
    bool items[JTEXT_DEPTH_MAX]; /* whether the open object at each depth has one */
    bool failed;                 /* out of memory, or nested too deep */
};

void jtext_init(struct jtext *j);
/* '{' as a value (after a key, or the outermost); '}' ends the innermost. */
void jtext_open(struct jtext *j);
void jtext_close(struct jtext *j);
/* A member's name: the comma before it when needed, the name and ':'. */
void jtext_key(struct jtext *j, const char *key);
/* Values. A NULL string is null. */
void jtext_str(struct jtext *j, const char *s);
void jtext_strn(struct jtext *j, const char *s, size_t len);
void jtext_int(struct jtext *j, long long v);
void jtext_null(struct jtext *j);
/* The text, the caller's to free(), allocated to its size: a thousand of
 * them stay in the event ring. NULL if anything failed. */
char *jtext_take(struct jtext *j);
void jtext_free(struct jtext *j);

#endif
