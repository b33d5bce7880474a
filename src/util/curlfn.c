/* util/curlfn.c — libcurl through dlopen (see curlfn.h). */
#include "util/curlfn.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

struct curl_fns curl_fns;

static int sym(void *lib, const char *name, void *out, char *why, size_t size)
{
    void *p = dlsym(lib, name);
    if (!p) {
        snprintf(why, size, "libcurl has no %s", name);
        return -1;
    }
    memcpy(out, &p, sizeof(p)); /* object to function pointer, as POSIX allows */
    return 0;
}

int curl_fns_load(char *why, size_t size)
{
    static void *lib;
    if (lib)
        return 0;
    lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        snprintf(why, size, "cannot load libcurl.so.4: %s", dlerror());
        return -1;
    }
    if (sym(lib, "curl_global_init", &curl_fns.global_init, why, size) < 0 ||
        sym(lib, "curl_global_cleanup", &curl_fns.global_cleanup, why, size) < 0 ||
        sym(lib, "curl_easy_init", &curl_fns.easy_init, why, size) < 0 ||
        sym(lib, "curl_easy_cleanup", &curl_fns.easy_cleanup, why, size) < 0 ||
        sym(lib, "curl_easy_reset", &curl_fns.easy_reset, why, size) < 0 ||
        sym(lib, "curl_easy_setopt", &curl_fns.easy_setopt, why, size) < 0 ||
        sym(lib, "curl_easy_perform", &curl_fns.easy_perform, why, size) < 0 ||
        sym(lib, "curl_easy_getinfo", &curl_fns.easy_getinfo, why, size) < 0 ||
        sym(lib, "curl_easy_strerror", &curl_fns.easy_strerror, why, size) < 0 ||
        sym(lib, "curl_slist_append", &curl_fns.slist_append, why, size) < 0 ||
        sym(lib, "curl_slist_free_all", &curl_fns.slist_free_all, why, size) < 0 ||
        sym(lib, "curl_multi_init", &curl_fns.multi_init, why, size) < 0 ||
        sym(lib, "curl_multi_cleanup", &curl_fns.multi_cleanup, why, size) < 0 ||
        sym(lib, "curl_multi_setopt", &curl_fns.multi_setopt, why, size) < 0 ||
        sym(lib, "curl_multi_add_handle", &curl_fns.multi_add_handle, why, size) < 0 ||
        sym(lib, "curl_multi_remove_handle", &curl_fns.multi_remove_handle, why, size) < 0 ||
        sym(lib, "curl_multi_socket_action", &curl_fns.multi_socket_action, why, size) < 0 ||
        sym(lib, "curl_multi_info_read", &curl_fns.multi_info_read, why, size) < 0 ||
        sym(lib, "curl_multi_assign", &curl_fns.multi_assign, why, size) < 0) {
        dlclose(lib);
        lib = NULL;
        return -1;
    }
    return 0;
}
