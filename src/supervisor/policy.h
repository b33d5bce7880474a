/* supervisor/policy.h — the restart policy as pure functions: whether an exit
 * calls for a restart, the backoff delay with jitter, and the give-up window.
 * No clocks are read here; callers pass the time in. */
#ifndef CORRAL_SUPERVISOR_POLICY_H
#define CORRAL_SUPERVISOR_POLICY_H

#include "config/config.h"

#include <stdbool.h>
#include <stdint.h>

#define SUP_WINDOW_MAX (CFG_MAX_RESTARTS + 1) /* restart times the give-up window holds */

/* An exit status as corral reports it: the exit code, or 128 + signal. */
int sup_exit_code(int cld_code, int status);

/* True when the exit counts as success: 0 or one of success_exit_codes. */
bool sup_exit_success(const struct cfg_restart *r, int exit_code);

/* True when policy says this exit should be followed by a restart, like
 * systemd's Restart= with SuccessExitStatus= and RestartForceExitStatus=:
 * an exit in restart_on_exit_codes always restarts (even under policy no,
 * and a oneshot too); otherwise no never restarts, on-failure restarts what
 * is not a success, always restarts everything except a oneshot's success
 * (it has completed). Only an operator's stop or corral's shutdown (checked
 * by the caller) overrides this. */
bool sup_should_restart(const struct cfg_restart *r, enum cfg_kind kind, int exit_code);

/* True when a run of ran_ms is stable: it resets the backoff and the give-up
 * window, and a service that had restarted or given up has recovered. */
bool sup_run_stable(const struct cfg_restart *r, uint64_t ran_ms);

/* When to try again after giving up, in ms from now; 0 when never. */
uint64_t sup_retry_delay_ms(const struct cfg_restart *r);

/* Delay before restart number attempt (0-based): initial * multiplier^attempt,
 * capped at max, then moved by up to ±jitter of itself; rnd is a uniform
 * random 32-bit value. The result never exceeds max * (1 + jitter). */
uint64_t sup_backoff_ms(const struct cfg_restart *r, unsigned attempt, uint32_t rnd);

/* The last max_restarts + 1 restart times, allocated on the first restart so
 * that a service that never restarts costs nothing. */
struct sup_window {
    uint64_t *times_ms;
    unsigned cap;
    unsigned head;
    unsigned count;
};

void sup_window_reset(struct sup_window *w);
void sup_window_free(struct sup_window *w);
/* Record a restart at now_ms; returns how many restarts fall in the last
 * window_ms, this one included (0 when max_restarts is 0 = unlimited). */
unsigned sup_window_note(struct sup_window *w, const struct cfg_restart *r, uint64_t now_ms);

/* True when a restart now would pass max_restarts within the window. */
bool sup_window_exceeded(const struct cfg_restart *r, unsigned restarts_in_window);

/* What a give-up after restarts restarts counted: "2 restarts in 60s", or,
 * with window 0 (no time bound: every restart since the last stable run
 * counts), "2 restarts with no run of 1m between them". */
void sup_giveup_text(const struct cfg_restart *r, unsigned restarts, char *buf, size_t size);

#endif
