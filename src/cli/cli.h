/* cli/cli.h — the commands of the corral binary. Each returns the process exit
 * status: 0 success, 1 runtime failure, 2 usage or config error, 3 a stop left
 * a survivor, 4 no corral is running for the instance. */
#ifndef CORRAL_CLI_CLI_H
#define CORRAL_CLI_CLI_H

enum cli_exit {
    CLI_OK = 0,
    CLI_FAILED = 1,
    CLI_USAGE = 2,
    CLI_SURVIVOR = 3,
    CLI_NOT_RUNNING = 4, /* no corral runs for that state directory */
};

int cli_up(int argc, char **argv);
int cli_check(int argc, char **argv);
int cli_port(int argc, char **argv);
int cli_doctor(int argc, char **argv);
int cli_cleanup(int argc, char **argv);
int cli_top(int argc, char **argv);
/* The commands that talk to a running corral (status, start, logs, ...). */
#include <stdbool.h>
bool cli_is_ctl(const char *cmd);
int cli_ctl(int argc, char **argv);

/* Load the config named by -f (default ./corral.yaml); prints the error and
 * returns NULL on failure. */
struct cfg_model;
struct cfg_model *cli_load_config(const char *path);

#endif
