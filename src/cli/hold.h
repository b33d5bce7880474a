/* cli/hold.h — the output holder: a small process that keeps a second copy of
 * the reading end of every service's stdout and stderr pipe, so that a crash
 * of corral does not break those pipes. Services keep writing (into the pipe
 * buffer, then blocking) instead of dying of SIGPIPE, and the corral started
 * next takes the pipes of the services it adopts back and goes on logging.
 *
 * It is the program corral-fdhold, found beside corral's own executable. It
 * listens on <state_dir>/fdhold.sock (SOCK_SEQPACKET, mode 0600, peers of
 * corral's uid or root only), talks to one corral at a time, holds nothing of
 * its own and makes no wake-up unless spoken to. It exits when told to (a
 * clean stop of corral), or when no corral is connected and nothing is held.
 *
 * Messages, one per packet, with the fds as SCM_RIGHTS:
 *   corral → holder  'P' then per fd "name\0" + stream byte   hold these
 *                    'D' then "name\0"...                     drop a service's
 *                    'G'                                      give all back
 *                    'Q'                                      quit
 *   holder → corral  'F' entries as for 'P', with fds; then 'E' ends a 'G'. */
#ifndef CORRAL_CLI_HOLD_H
#define CORRAL_CLI_HOLD_H

#include "logs/logs.h"

#include <stdbool.h>
#include <stddef.h>

#define HOLD_FDS_MAX 250 /* per packet; the kernel allows 253 */
#define HOLD_MSG_MAX (HOLD_FDS_MAX * (64 + 2) + 16)

struct hold_entry {
    char name[65];
    enum logs_stream st;
    int fd;
};

/* One packet: kind, entries (with their fds when with_fds). Returns 0 or -errno. */
int hold_send(int sock, char kind, const struct hold_entry *e, size_t n, bool with_fds);
/* Receive one packet: *kind, up to max entries (fds installed O_CLOEXEC).
 * Returns the number of entries, or -errno (-EPIPE at EOF). */
int hold_recv(int sock, char *kind, struct hold_entry *e, size_t max);

/* --- corral's side --------------------------------------------------------------- */

struct hold;

enum hold_how {
    HOLD_CONNECT,          /* to the holder a crashed corral left */
    HOLD_CONNECT_OR_START, /* ... or start one */
    /* Start one: in place of one that went, whose dying listener could
     * still take a connection and then reset it. */
    HOLD_START,
};

/* Connect to a holder or start one, as how says. NULL when that does not
 * work (why says so, "" when there was none to connect to): corral runs on
 * without it. */
struct hold *hold_open(const char *state_dir, enum hold_how how, char *why, size_t size);
/* The holder's PID when this corral started it, else 0. */
pid_t hold_child(const struct hold *h);
/* The connection to the holder: it hangs up when the holder goes. */
int hold_sock(const struct hold *h);
/* Ask for everything held; fn gets each entry and owns its fd. 0 or -errno. */
int hold_fetch(struct hold *h, void (*fn)(void *ctx, const struct hold_entry *e), void *ctx);
/* Queue a service's reading ends (fds stay corral's; copies are sent). */
void hold_put(struct hold *h, const char *service, const int fds[LOGS__COUNT]);
void hold_drop(struct hold *h, const char *service);
/* Send what is queued: one packet per kind. 0 or -errno. */
int hold_flush(struct hold *h);
/* A clean stop: the holder exits. */
void hold_quit(struct hold *h);
/* Disconnect only: the holder keeps what it holds. */
void hold_close(struct hold *h);

#endif
