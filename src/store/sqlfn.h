/* store/sqlfn.h — libsqlite3, loaded with dlopen while a store uses it and
 * unloaded when it is done: a daemon writes state.db in bursts at human
 * rates, and the SQLite code those touched would otherwise stay resident for
 * its whole life (1.2 MiB of an idle corral). <sqlite3.h> gives the types;
 * the calls below go through the table. */
#ifndef CORRAL_STORE_SQLFN_H
#define CORRAL_STORE_SQLFN_H

#include <sqlite3.h>
#include <stddef.h>

struct sql_fns {
    int (*open_v2)(const char *path, sqlite3 **db, int flags, const char *vfs);
    int (*close)(sqlite3 *db);
    int (*shutdown)(void);
    int (*db_config)(sqlite3 *db, int op, ...);
    int (*busy_timeout)(sqlite3 *db, int ms);
    int (*db_release_memory)(sqlite3 *db);
    int (*exec)(sqlite3 *db, const char *sql, int (*fn)(void *, int, char **, char **), void *ctx,
                char **err);
    const char *(*errmsg)(sqlite3 *db);
    const char *(*errstr)(int rc);
    int (*errcode)(sqlite3 *db);
    void (*free)(void *p);
    int (*prepare_v2)(sqlite3 *db, const char *sql, int len, sqlite3_stmt **q, const char **tail);
    int (*step)(sqlite3_stmt *q);
    int (*reset)(sqlite3_stmt *q);
    int (*finalize)(sqlite3_stmt *q);
    int (*bind_int)(sqlite3_stmt *q, int i, int v);
    int (*bind_int64)(sqlite3_stmt *q, int i, sqlite3_int64 v);
    int (*bind_null)(sqlite3_stmt *q, int i);
    int (*bind_text)(sqlite3_stmt *q, int i, const char *s, int len, void (*dtor)(void *));
    int (*column_type)(sqlite3_stmt *q, int i);
    int (*column_int)(sqlite3_stmt *q, int i);
    sqlite3_int64 (*column_int64)(sqlite3_stmt *q, int i);
    const unsigned char *(*column_text)(sqlite3_stmt *q, int i);
};

extern struct sql_fns sql_fns;

/* Load libsqlite3 for one more user: 0, or -1 with why filled. */
int sql_fns_load(char *why, size_t size);
/* One user fewer. The last one shuts SQLite down, so that none of its global
 * state (mutexes, memory, the default VFS) outlives the code, and unloads
 * it: its connections must all be closed. */
void sql_fns_unload(void);

#define sqlite3_open_v2(p, d, f, v)         sql_fns.open_v2(p, d, f, v)
#define sqlite3_close(d)                    sql_fns.close(d)
#define sqlite3_db_config(d, ...)           sql_fns.db_config(d, __VA_ARGS__)
#define sqlite3_busy_timeout(d, ms)         sql_fns.busy_timeout(d, ms)
#define sqlite3_db_release_memory(d)        sql_fns.db_release_memory(d)
#define sqlite3_exec(d, s, f, c, e)         sql_fns.exec(d, s, f, c, e)
#define sqlite3_errmsg(d)                   sql_fns.errmsg(d)
#define sqlite3_errstr(rc)                  sql_fns.errstr(rc)
#define sqlite3_errcode(d)                  sql_fns.errcode(d)
#define sqlite3_free(p)                     sql_fns.free(p)
#define sqlite3_prepare_v2(d, s, n, q, t)   sql_fns.prepare_v2(d, s, n, q, t)
#define sqlite3_step(q)                     sql_fns.step(q)
#define sqlite3_reset(q)                    sql_fns.reset(q)
#define sqlite3_finalize(q)                 sql_fns.finalize(q)
#define sqlite3_bind_int(q, i, v)           sql_fns.bind_int(q, i, v)
#define sqlite3_bind_int64(q, i, v)         sql_fns.bind_int64(q, i, v)
#define sqlite3_bind_null(q, i)             sql_fns.bind_null(q, i)
#define sqlite3_bind_text(q, i, s, n, dtor) sql_fns.bind_text(q, i, s, n, dtor)
#define sqlite3_column_type(q, i)           sql_fns.column_type(q, i)
#define sqlite3_column_int(q, i)            sql_fns.column_int(q, i)
#define sqlite3_column_int64(q, i)          sql_fns.column_int64(q, i)
#define sqlite3_column_text(q, i)           sql_fns.column_text(q, i)

#endif
