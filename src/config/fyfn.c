/* config/fyfn.c — libfyaml through dlopen (see fyfn.h). */
#include "config/fyfn.h"

#include "util/dlfn.h"

#include <dlfcn.h>
#include <string.h>

struct fy_fns fy_fns;
static void *lib;

int fy_fns_load(char *why, size_t size)
{
    const struct dlfn_sym syms[] = {
        {"fy_event_start_mark", &fy_fns.event_start_mark},
        {"fy_token_scalar_style", &fy_fns.token_scalar_style},
        {"fy_token_start_mark", &fy_fns.token_start_mark},
        {"fy_token_end_mark", &fy_fns.token_end_mark},
        {"fy_token_get_text", &fy_fns.token_get_text},
        {"fy_diag_errors_iterate", &fy_fns.diag_errors_iterate},
        {"fy_diag_cfg_default", &fy_fns.diag_cfg_default},
        {"fy_diag_create", &fy_fns.diag_create},
        {"fy_diag_destroy", &fy_fns.diag_destroy},
        {"fy_diag_set_collect_errors", &fy_fns.diag_set_collect_errors},
        {"fy_parser_create", &fy_fns.parser_create},
        {"fy_parser_destroy", &fy_fns.parser_destroy},
        {"fy_parser_set_string", &fy_fns.parser_set_string},
        {"fy_parser_parse", &fy_fns.parser_parse},
        {"fy_parser_event_free", &fy_fns.parser_event_free},
        {"fy_parser_get_stream_error", &fy_fns.parser_get_stream_error},
    };
    if (lib)
        return 0;
    /* Lazy: a parse binds the few libc functions it calls, not all of them
     * (a third of the load's time, on the way to the first spawn). */
    lib = dlfn_open("libfyaml.so.0", RTLD_LAZY | RTLD_LOCAL, syms, sizeof(syms) / sizeof(syms[0]),
                    why, size);
    if (!lib) {
        fy_fns_unload();
        return -1;
    }
    return 0;
}

void fy_fns_unload(void)
{
    if (lib)
        dlclose(lib);
    lib = NULL;
    memset(&fy_fns, 0, sizeof(fy_fns));
}
