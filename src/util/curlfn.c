/* util/curlfn.c — libcurl through dlopen (see curlfn.h). */
#include "util/curlfn.h"

#include "util/dlfn.h"

#include <dlfcn.h>

struct curl_fns curl_fns;

int curl_fns_load(char *why, size_t size)
{
    static void *lib;
    const struct dlfn_sym syms[] = {
        {"curl_global_init", &curl_fns.global_init},
        {"curl_global_cleanup", &curl_fns.global_cleanup},
        {"curl_easy_init", &curl_fns.easy_init},
        {"curl_easy_cleanup", &curl_fns.easy_cleanup},
        {"curl_easy_reset", &curl_fns.easy_reset},
        {"curl_easy_setopt", &curl_fns.easy_setopt},
        {"curl_easy_perform", &curl_fns.easy_perform},
        {"curl_easy_getinfo", &curl_fns.easy_getinfo},
        {"curl_easy_strerror", &curl_fns.easy_strerror},
        {"curl_slist_append", &curl_fns.slist_append},
        {"curl_slist_free_all", &curl_fns.slist_free_all},
        {"curl_multi_init", &curl_fns.multi_init},
        {"curl_multi_cleanup", &curl_fns.multi_cleanup},
        {"curl_multi_setopt", &curl_fns.multi_setopt},
        {"curl_multi_add_handle", &curl_fns.multi_add_handle},
        {"curl_multi_remove_handle", &curl_fns.multi_remove_handle},
        {"curl_multi_socket_action", &curl_fns.multi_socket_action},
        {"curl_multi_info_read", &curl_fns.multi_info_read},
        {"curl_multi_assign", &curl_fns.multi_assign},
    };
    if (lib)
        return 0;
    lib = dlfn_open("libcurl.so.4", RTLD_NOW | RTLD_LOCAL, syms, sizeof(syms) / sizeof(syms[0]),
                    why, size);
    return lib ? 0 : -1;
}
