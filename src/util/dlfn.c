/* util/dlfn.c — open a library and fill a table of its functions (see dlfn.h). */
#include "util/dlfn.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

static unsigned loads;

unsigned dlfn_loads(void)
{
    return loads;
}

void *dlfn_open(const char *soname, int flags, const struct dlfn_sym *syms, size_t n, char *why,
                size_t size)
{
    void *lib = dlopen(soname, flags);
    if (!lib) {
        snprintf(why, size, "cannot load %s: %s", soname, dlerror());
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        void *p = dlsym(lib, syms[i].name);
        if (!p) {
            /* "libcurl.so.4" -> "libcurl" */
            snprintf(why, size, "%.*s has no %s", (int)strcspn(soname, "."), soname, syms[i].name);
            dlclose(lib);
            return NULL;
        }
        memcpy(syms[i].slot, &p, sizeof(p)); /* object to function pointer, as POSIX allows */
    }
    loads++;
    return lib;
}
