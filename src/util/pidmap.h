/* util/pidmap.h — a PID → pointer map, so that an exit is matched to its
 * service without looking at every service: with a thousand services
 * stopping, a search per exit was a million comparisons. */
#ifndef CORRAL_UTIL_PIDMAP_H
#define CORRAL_UTIL_PIDMAP_H

#include <stddef.h>
#include <sys/types.h>

struct pidmap_slot {
    pid_t pid; /* 0: free */
    void *val;
};

struct pidmap {
    struct pidmap_slot *slots;
    size_t cap; /* a power of two, or 0 */
    size_t n;
};

/* pid (> 0) now maps to val, replacing what it mapped to: 0, or -ENOMEM
 * with the map unchanged. */
int pidmap_put(struct pidmap *m, pid_t pid, void *val);
/* What pid maps to, or NULL. */
void *pidmap_get(const struct pidmap *m, pid_t pid);
/* pid maps to nothing (it may already). */
void pidmap_del(struct pidmap *m, pid_t pid);
/* Empty, its memory freed; usable again as it is. */
void pidmap_clear(struct pidmap *m);

#endif
