/* fuzz_config.c — libFuzzer target: any bytes as corral.yaml must give a model
 * or a diag with a message, never a crash, a hang or a leak. */
#include "config/config.h"

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct diag dg;
    struct cfg_model *m;
    diag_clear(&dg);
    m = cfg_load_string((const char *)data, size, "fuzz.yaml", "/tmp", &dg);
    if (m) {
        assert(m->n_services > 0);
        cfg_free(m);
    } else {
        assert(dg.msg[0] != '\0');
    }
    return 0;
}
