/* store/sqlfn.c — libsqlite3 through dlopen (see sqlfn.h). */
#include "store/sqlfn.h"

#include "util/dlfn.h"

#include <dlfcn.h>
#include <string.h>

struct sql_fns sql_fns;
static void *lib;
static unsigned users;

int sql_fns_load(char *why, size_t size)
{
    const struct dlfn_sym syms[] = {
        {"sqlite3_open_v2", &sql_fns.open_v2},
        {"sqlite3_close", &sql_fns.close},
        {"sqlite3_shutdown", &sql_fns.shutdown},
        {"sqlite3_db_config", &sql_fns.db_config},
        {"sqlite3_busy_timeout", &sql_fns.busy_timeout},
        {"sqlite3_db_release_memory", &sql_fns.db_release_memory},
        {"sqlite3_exec", &sql_fns.exec},
        {"sqlite3_errmsg", &sql_fns.errmsg},
        {"sqlite3_errstr", &sql_fns.errstr},
        {"sqlite3_errcode", &sql_fns.errcode},
        {"sqlite3_free", &sql_fns.free},
        {"sqlite3_prepare_v2", &sql_fns.prepare_v2},
        {"sqlite3_step", &sql_fns.step},
        {"sqlite3_reset", &sql_fns.reset},
        {"sqlite3_finalize", &sql_fns.finalize},
        {"sqlite3_bind_int", &sql_fns.bind_int},
        {"sqlite3_bind_int64", &sql_fns.bind_int64},
        {"sqlite3_bind_null", &sql_fns.bind_null},
        {"sqlite3_bind_text", &sql_fns.bind_text},
        {"sqlite3_column_type", &sql_fns.column_type},
        {"sqlite3_column_int", &sql_fns.column_int},
        {"sqlite3_column_int64", &sql_fns.column_int64},
        {"sqlite3_column_text", &sql_fns.column_text},
    };
    if (!lib) {
        /* Lazy: of SQLite's own calls into libc, only those a burst makes
         * are bound, at each load. */
        lib = dlfn_open("libsqlite3.so.0", RTLD_LAZY | RTLD_LOCAL, syms,
                        sizeof(syms) / sizeof(syms[0]), why, size);
        if (!lib) {
            memset(&sql_fns, 0, sizeof(sql_fns));
            return -1;
        }
    }
    users++;
    return 0;
}

void sql_fns_unload(void)
{
    if (!users || --users)
        return;
    (void)sql_fns.shutdown();
    dlclose(lib);
    lib = NULL;
    memset(&sql_fns, 0, sizeof(sql_fns));
}
