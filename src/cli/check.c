/* cli/check.c — `corral check`: validate a config, print the resolved model and
 * the containment corral would use here. */
#include "cli/cli.h"
#include "config/config.h"
#include "proc/cgroup.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct cfg_model *cli_load_config(const char *path)
{
    struct diag dg;
    char msg[DIAG_MSG_MAX + DIAG_FILE_MAX + DIAG_FIELD_MAX + 32];
    struct cfg_model *m;
    diag_clear(&dg);
    m = cfg_load(path, &dg);
    if (!m) {
        diag_format(&dg, msg, sizeof(msg));
        fprintf(stderr, "corral: %s\n", msg);
    }
    return m;
}

static void print_containment(const struct cfg_model *m)
{
    char dir[4096];
    struct diag dg;
    diag_clear(&dg);
    if (m->containment == CFG_CONTAIN_PGROUP) {
        printf("containment: pgroup (set in config)\n");
        return;
    }
    if (proc_cgroup_detect(dir, sizeof(dir), NULL, &dg) >= 0)
        printf("containment: cgroup (cgroup v2 at %s)\n", dir);
    else if (m->containment == CFG_CONTAIN_CGROUP)
        printf("containment: cgroup asked for, but unavailable: %s\n", dg.msg);
    else
        printf("containment: pgroup (no usable cgroup v2: %s)\n", dg.msg);
}

int cli_check(int argc, char **argv)
{
    static const struct option opts[] = {
        {"file", required_argument, NULL, 'f'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *file = "corral.yaml";
    bool json = false;
    struct cfg_model *m;
    int c;
    int r;
    while ((c = getopt_long(argc, argv, "f:jh", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            file = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            printf("usage: corral check [-f FILE] [--json]\n");
            return CLI_OK;
        default:
            fprintf(stderr, "usage: corral check [-f FILE] [--json]\n");
            return CLI_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "corral check: unexpected argument '%s'\n", argv[optind]);
        return CLI_USAGE;
    }
    m = cli_load_config(file);
    if (!m)
        return CLI_USAGE;
    r = json ? cfg_dump_json(m, stdout) : cfg_dump_text(m, stdout);
    if (!json)
        print_containment(m);
    cfg_free(m);
    return r < 0 ? CLI_FAILED : CLI_OK;
}
