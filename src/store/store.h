/* store/store.h — corral's state on disk: <state_dir>/state.db, SQLite in WAL
 * mode, with a versioned schema. Today it holds what an operator wants of each
 * service (run, or stay stopped), so that a stop survives a restart of corral.
 * A database that cannot be used is moved aside, never a reason not to start. */
#ifndef CORRAL_STORE_STORE_H
#define CORRAL_STORE_STORE_H

#include "util/diag.h"

#include <stdbool.h>
#include <stddef.h>

#define STORE_SCHEMA_VERSION 1

struct store;

/* Open (creating or migrating) <state_dir>/state.db. A file that is not a
 * usable corral database — garbage, truncated, failing its integrity check,
 * from a newer corral, or locked by another process — is renamed to
 * state.db.bad-<time> and a fresh one made; *aside then names that file and
 * why (else it is ""). NULL with dg filled only when no database at all can
 * be made there. */
struct store *store_open(const char *state_dir, char *aside, size_t aside_size, struct diag *dg);
void store_close(struct store *st);

/* The operator's wish for a service, kept across restarts of corral. */
int store_set_stopped(struct store *st, const char *service, bool stopped);
/* The same for n services in one transaction. */
int store_save_stopped(struct store *st, const char *const *names, const bool *stopped, size_t n);
/* Calls fn for every service the operator stopped. 0 or -EIO. */
int store_each_stopped(struct store *st, void (*fn)(void *ctx, const char *service), void *ctx);

#endif
