/* main.c — argv to a command. */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out, "usage: corral <command> [options]\n"
                 "\n"
                 "commands:\n"
                 "  up [-f FILE] [-d] [-q] [-t] [--no-color] [SERVICE...]\n"
                 "                 start the stack (in the foreground; -d: as a daemon)\n"
                 "  status, ps [--json] [--stats] [NAME...]\n"
                 "                 every service's state (--stats: CPU and RSS)\n"
                 "  start|stop|restart [--no-wait] [--timeout S] NAME...\n"
                 "  signal NAME SIGNAL       send a signal to a service's main process\n"
                 "  logs [-f] [-n N] [NAME...]   tail (and follow) service logs\n"
                 "  tree [--json] [NAME...]  every service's process tree\n"
                 "  events [-f] [-n N] [--since X] [--until X] [--json] [NAME...]\n"
                 "                 the event history (X: an id, 10m, 2h, 10:00 or a time)\n"
                 "  top [--once] [--sort cpu|memory|name|restarts]\n"
                 "                 live CPU, memory and restarts of every service\n"
                 "  reload                   re-read the config; restart only what changed\n"
                 "  down [--no-wait]         stop everything and the daemon\n"
                 "    these pick the instance with -f FILE (--file for logs and events)\n"
                 "    or --state-dir DIR\n"
                 "  check [-f FILE] [--json]\n"
                 "                 validate the config and print the resolved model\n"
                 "  port [--json] PORT...\n"
                 "                 who holds each port: PID, user, command, corral service\n"
                 "  doctor [-f FILE] [--state-dir DIR] [--json] [--window DURATION]\n"
                 "                 zombies, orphans, hung processes, stale state, state health\n"
                 "  cleanup [-f FILE] [--state-dir DIR] [--dry-run] [--yes]\n"
                 "                 stop this corral's orphans (asks first)\n"
                 "  version        print the version\n"
                 "\n"
                 "exit status: 0 ok, 1 a service failed, 2 usage or config error,\n"
                 "             3 a stop left a process alive, 4 corral is not running\n");
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : NULL;
    if (!cmd || strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(cmd ? stdout : stderr);
        return cmd ? CLI_OK : CLI_USAGE;
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("corral %s\n", CORRAL_VERSION);
        return CLI_OK;
    }
    if (strcmp(cmd, "up") == 0)
        return cli_up(argc - 1, argv + 1);
    if (strcmp(cmd, "check") == 0)
        return cli_check(argc - 1, argv + 1);
    if (strcmp(cmd, "port") == 0)
        return cli_port(argc - 1, argv + 1);
    if (strcmp(cmd, "doctor") == 0)
        return cli_doctor(argc - 1, argv + 1);
    if (strcmp(cmd, "cleanup") == 0)
        return cli_cleanup(argc - 1, argv + 1);
    if (strcmp(cmd, "top") == 0)
        return cli_top(argc - 1, argv + 1);
    if (cli_is_ctl(cmd))
        return cli_ctl(argc - 1, argv + 1);
    fprintf(stderr, "corral: unknown command '%s'\n", cmd);
    usage(stderr);
    return CLI_USAGE;
}
