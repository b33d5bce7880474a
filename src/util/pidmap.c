/* util/pidmap.c — open addressing with linear probing, at most half full, and
 * deletion by shifting the probe run back, so no tombstones build up as
 * services come and go. */
#include "util/pidmap.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#define MIN_CAP 16

static size_t home(pid_t pid, size_t cap)
{
    /* Fibonacci hashing: consecutive PIDs, the usual case, spread out. */
    return (size_t)(((uint32_t)pid * 2654435769u) >> 7) & (cap - 1);
}

static struct pidmap_slot *find(const struct pidmap *m, pid_t pid)
{
    if (!m->cap)
        return NULL;
    for (size_t i = home(pid, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (m->slots[i].pid == pid)
            return &m->slots[i];
        if (!m->slots[i].pid)
            return NULL;
    }
}

static void insert(struct pidmap_slot *slots, size_t cap, pid_t pid, void *val)
{
    size_t i = home(pid, cap);
    while (slots[i].pid)
        i = (i + 1) & (cap - 1);
    slots[i] = (struct pidmap_slot){.pid = pid, .val = val};
}

static int grow(struct pidmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : MIN_CAP;
    struct pidmap_slot *slots = calloc(cap, sizeof(*slots));
    if (!slots)
        return -ENOMEM;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].pid)
            insert(slots, cap, m->slots[i].pid, m->slots[i].val);
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return 0;
}

int pidmap_put(struct pidmap *m, pid_t pid, void *val)
{
    struct pidmap_slot *s = find(m, pid);
    if (s) {
        s->val = val;
        return 0;
    }
    if ((m->n + 1) * 2 > m->cap && grow(m) < 0)
        return -ENOMEM;
    insert(m->slots, m->cap, pid, val);
    m->n++;
    return 0;
}

void *pidmap_get(const struct pidmap *m, pid_t pid)
{
    const struct pidmap_slot *s = pid > 0 ? find(m, pid) : NULL;
    return s ? s->val : NULL;
}

void pidmap_del(struct pidmap *m, pid_t pid)
{
    struct pidmap_slot *s = pid > 0 ? find(m, pid) : NULL;
    if (!s)
        return;
    size_t mask = m->cap - 1;
    size_t hole = (size_t)(s - m->slots);
    /* Move back each later member of the run that may live in the hole:
     * one whose home is not cyclically within (hole, j]. */
    for (size_t j = (hole + 1) & mask; m->slots[j].pid; j = (j + 1) & mask) {
        size_t h = home(m->slots[j].pid, m->cap);
        if (((j - h) & mask) >= ((j - hole) & mask)) {
            m->slots[hole] = m->slots[j];
            hole = j;
        }
    }
    m->slots[hole] = (struct pidmap_slot){0};
    m->n--;
}

void pidmap_clear(struct pidmap *m)
{
    free(m->slots);
    *m = (struct pidmap){0};
}
