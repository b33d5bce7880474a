/* supervisor/claim.c — children that other parts of corral started (hooks)
 * and wait for: sup_reap() hands their exits over instead of reporting
 * orphans. */
#include "supervisor/internal.h"

#include <errno.h>
#include <stdlib.h>

int sup_child_claim(struct sup *s, pid_t pid, sup_child_fn fn, void *ctx)
{
    if (s->n_claims == s->cap_claims) {
        size_t cap = s->cap_claims ? 2 * s->cap_claims : 8;
        struct sup_claim *c = realloc(s->claims, cap * sizeof(*c));
        if (!c)
            return -ENOMEM;
        s->claims = c;
        s->cap_claims = cap;
    }
    s->claims[s->n_claims++] = (struct sup_claim){.pid = pid, .fn = fn, .ctx = ctx};
    return 0;
}

void sup_child_unclaim(struct sup *s, pid_t pid)
{
    for (size_t i = 0; i < s->n_claims; i++)
        if (s->claims[i].pid == pid) {
            s->claims[i] = s->claims[--s->n_claims];
            return;
        }
}

/* Hand a claimed child's exit to its owner; false when nobody claimed it. */
bool sup_deliver_claimed(struct sup *s, const siginfo_t *si)
{
    for (size_t i = 0; i < s->n_claims; i++) {
        struct sup_claim c = s->claims[i];
        if (c.pid != si->si_pid)
            continue;
        s->claims[i] = s->claims[--s->n_claims];
        c.fn(c.ctx, c.pid, sup_exit_code(si->si_code, si->si_status));
        return true;
    }
    return false;
}
