/* api/mhdfn.c — libmicrohttpd through dlopen (see mhdfn.h). */
#include "api/mhdfn.h"

#include "util/dlfn.h"

#include <dlfcn.h>

struct mhd_fns mhd_fns;

int mhd_fns_load(char *why, size_t size)
{
    static void *lib;
    const struct dlfn_sym syms[] = {
        {"MHD_start_daemon", &mhd_fns.start_daemon},
        {"MHD_stop_daemon", &mhd_fns.stop_daemon},
        {"MHD_run", &mhd_fns.run},
        {"MHD_get_timeout", &mhd_fns.get_timeout},
        {"MHD_get_daemon_info", &mhd_fns.get_daemon_info},
        {"MHD_get_connection_info", &mhd_fns.get_connection_info},
        {"MHD_set_connection_option", &mhd_fns.set_connection_option},
        {"MHD_lookup_connection_value", &mhd_fns.lookup_connection_value},
        {"MHD_queue_response", &mhd_fns.queue_response},
        {"MHD_suspend_connection", &mhd_fns.suspend_connection},
        {"MHD_resume_connection", &mhd_fns.resume_connection},
        {"MHD_create_response_from_buffer", &mhd_fns.create_response_from_buffer},
        {"MHD_create_response_from_callback", &mhd_fns.create_response_from_callback},
        {"MHD_add_response_header", &mhd_fns.add_response_header},
        {"MHD_destroy_response", &mhd_fns.destroy_response},
    };
    if (lib)
        return 0;
    lib = dlfn_open("libmicrohttpd.so.12", RTLD_NOW | RTLD_LOCAL, syms,
                    sizeof(syms) / sizeof(syms[0]), why, size);
    return lib ? 0 : -1;
}
