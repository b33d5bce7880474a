/* cli/runs.h — each service's current run in state.db, and the recovery of a
 * previous corral's runs at start-up. Writes are batched: a state change marks
 * its service, and one transaction per loop pass writes every marked one, so
 * a thousand services starting at once cost one commit. */
#ifndef CORRAL_CLI_RUNS_H
#define CORRAL_CLI_RUNS_H

#include "loop/loop.h"
#include "store/store.h"
#include "supervisor/sup.h"

struct runs;

typedef void (*runs_say_fn)(void *ctx, const char *msg);

struct hold;

/* NULL when out of memory. store may be NULL (then nothing is kept); hold
 * is the output holder a crashed corral left, or NULL, and then one is
 * started in hold_dir at the first write (NULL: none, and output does not
 * outlive a crash of corral). runs owns hold. */
struct runs *runs_new(struct loop *lp, struct sup *s, struct store *st, struct hold *hold,
                      const char *hold_dir, runs_say_fn say, void *ctx);
/* Writes what is pending, tells the holder to quit, then frees. */
void runs_free(struct runs *r);

/* The store, opened late: every record is written on the next pass. */
void runs_set_store(struct runs *r, struct store *st);

/* A state change of the service: its record is rewritten on this loop pass
 * (now: a new main process), or within 50 ms with the others of a burst. */
void runs_touch(struct runs *r, const char *service, bool now);

/* A reload swapped the model: service indices changed, and the records of
 * services that old had and the supervisor no longer has are dropped. */
void runs_swap(struct runs *r, const struct cfg_model *old);

/* Before the first start: take over (or stop) what the records and the
 * instance's cgroup and tag name, drop the records of services no longer
 * configured, and give adopted services their output pipes back from the
 * holder. Says what it did through say. */
/* unclean: the previous corral did not end with every tree stopped. Returns
 * how many processes or cgroups of services that are no longer
 * configured were found (they are corral's orphans: see cleanup). */
size_t runs_recover(struct runs *r, bool unclean);

#endif
