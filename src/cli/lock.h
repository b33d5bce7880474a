/* cli/lock.h — the single-instance lock of a state directory. */
#ifndef CORRAL_CLI_LOCK_H
#define CORRAL_CLI_LOCK_H

#include "util/diag.h"

/* Create state_dir if needed and lock it for this process. Returns the fd
 * that holds the lock (keep it open), or -1 with dg filled: code -EBUSY and
 * "corral is already running for DIR (pid N, up since T)" when another
 * corral holds it. */
int cli_lock(const char *state_dir, struct diag *dg);

#endif
