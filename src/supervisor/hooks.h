/* supervisor/hooks.h — the hook runner: the config's hooks: run on the events
 * they name, with the event's JSON on stdin and in CORRAL_EVENT* variables.
 *
 * Each run is contained (its own cgroup under corral's subtree, or its own
 * session and process group) and time-limited: at its timeout the whole tree
 * is killed (cgroup.kill, or the group while its leader is unreaped, and then
 * each member of its session, or carrying its CORRAL_HOOK tag, and descending
 * from corral, through a pidfd); when its main process exits, whatever it
 * left is killed too. At most HOOKS_RUNNING_MAX run at once and
 * HOOKS_QUEUE_MAX wait; past that the oldest waiting run is dropped, counted
 * and reported. Nothing here blocks the loop: stdin is written nonblocking,
 * exits come from sup_reap() through a claim, and the run's output goes
 * straight to <state_dir>/hooks.log.
 *
 * A hook carries no service's identity tag (CORRAL_SERVICE, CORRAL_INSTANCE):
 * it is no part of the service whose event it reports, so that a stop of
 * that service (which a hook may well ask for) never kills the hook. */
#ifndef CORRAL_SUPERVISOR_HOOKS_H
#define CORRAL_SUPERVISOR_HOOKS_H

#include "config/config.h"
#include "supervisor/sup.h"

#include <stdbool.h>
#include <stdint.h>

#define HOOKS_RUNNING_MAX 4
#define HOOKS_QUEUE_MAX   64

/* What the runner has to say to the operator: kind is "hook_failed",
 * "hook_timeout", "hooks_dropped" or "hook_error", text the message. */
typedef void (*sup_hook_report_fn)(void *ctx, const char *kind, const char *text);

struct sup_hookrun;

/* Returns a runner for m's hooks (m borrowed, see retarget), spawning
 * through s; NULL with dg filled when hooks.log cannot be opened. With no
 * hooks it costs nothing. Caller frees with sup_hookrun_free() before s. */
struct sup_hookrun *sup_hookrun_new(struct sup *s, const struct cfg_model *m,
                                    sup_hook_report_fn report, void *ctx, struct diag *dg);
/* Kills every running hook's tree and waits for it; drops the queue. */
void sup_hookrun_free(struct sup_hookrun *hr);
/* After a reload: new runs use m's hooks; waiting runs of the old ones are
 * dropped (reported), running ones finish. */
void sup_hookrun_retarget(struct sup_hookrun *hr, const struct cfg_model *m);

/* An event happened: queue a run of every hook that asked for it. kind is
 * the API's name for it, service NULL for corral-wide events, json the
 * event as the API sent it (copied). */
void sup_hookrun_fire(struct sup_hookrun *hr, const char *kind, const char *service,
                      const char *json);

/* Kill every running hook's tree now and drop what waits (a second Ctrl-C). */
void sup_hookrun_kill(struct sup_hookrun *hr, const char *why);

/* True when nothing runs or waits. */
bool sup_hookrun_idle(const struct sup_hookrun *hr);
/* corral is about to end: let what runs and waits finish, but kill and drop
 * what is left after grace_ms; then call done(ctx) (at once when idle). */
void sup_hookrun_drain(struct sup_hookrun *hr, uint64_t grace_ms, void (*done)(void *ctx),
                       void *ctx);

#endif
