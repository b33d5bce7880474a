/* supervisor/ports.h — the port check before each spawn, shared by the
 * supervisor's .c files only. A service whose port is held is BLOCKED: it is
 * retried with its restart backoff, which counts neither as a run nor as a
 * restart; a holder that is an orphan of this corral's own is stopped. */
#ifndef CORRAL_SUPERVISOR_PORTS_H
#define CORRAL_SUPERVISOR_PORTS_H

#include "supervisor/internal.h"

/* Before a spawn: 0 when none of the service's ports is held (or it has
 * none, or /proc cannot tell: the spawn's own failure then speaks), and any
 * earlier block is over; 1 when one is held, the holder kept for
 * ports_blocked(). Cheap without ports: nothing is read. */
int ports_check(struct service *svc);

/* Call once the state is BLOCKED, after ports_check() returned 1: the reason,
 * an event when the holder is not the one already reported, a stop for each
 * holder that is an orphan of this corral's, and the retry on svc->timer. */
void ports_blocked(struct service *svc);

/* The service leaves BLOCKED without a spawn (it was stopped): forget the
 * holder and the backoff. Orphans being stopped are stopped still. */
void ports_unblock(struct service *svc);

/* The holder while the service is BLOCKED, else NULL. */
const struct sup_holder *ports_holder(const struct service *svc);

/* With the service: an orphan still in its grace period gets SIGKILL now,
 * through the pidfd that was opened before its identity was checked. */
void ports_free(struct service *svc);

#endif
