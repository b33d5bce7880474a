/* util/dlfn.h — what the tables of a library loaded with dlopen share
 * (util/curlfn.h, api/mhdfn.h, store/sqlfn.h): open it and
 * fill each slot of the table with dlsym, or say why not. */
#ifndef CORRAL_UTIL_DLFN_H
#define CORRAL_UTIL_DLFN_H

#include <stddef.h>

/* One function of the library and the table member that receives it. */
struct dlfn_sym {
    const char *name;
    void *slot; /* address of a function pointer */
};

/* dlopen(soname, flags), then every slot filled. The handle, or NULL with why
 * filled ("cannot load libx.so.1: ..." or "libx has no x_fn"), nothing left
 * loaded and the slots not to be used. */
void *dlfn_open(const char *soname, int flags, const struct dlfn_sym *syms, size_t n, char *why,
                size_t size);

/* How many libraries dlfn_open has loaded so far: a library's constructor may
 * change a signal's disposition, which the spawner must then see again. */
unsigned dlfn_loads(void);

#endif
