/* bench/floor.c — the benchmark's floor: the least any supervisor can do. It posix_spawns
 * the services, reaps them and, asked to stop, signals and reaps them; no config, no state,
 * no logs. Every supervisor's figure in bench/ is reported as a ratio to this program's.
 *
 * usage: floor spawn N PROG [ARG...]     start N copies; SIGTERM stops them and exits
 *        floor restart PROG [ARG...]     one copy, spawned again as soon as it exits
 *        floor log FILE PROG [ARG...]    one copy, its stdout copied from a pipe into FILE
 *
 * All signals it cares about are blocked and taken with sigwaitinfo(): no handlers, no
 * polling, so it is idle (zero wake-ups) while its services are. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define FLOOR_MAX_CHILDREN 100000
#define COPY_BYTES         (64 * 1024)

extern char **environ;

struct floor {
    pid_t *pids; /* live children; 0 marks a reaped slot */
    size_t count;
    size_t live;
    posix_spawnattr_t attr;
    char **argv; /* the service's argv */
};

static int spawn_one(struct floor *fl, size_t slot, const posix_spawn_file_actions_t *fa)
{
    pid_t pid;
    int r = posix_spawn(&pid, fl->argv[0], fa, &fl->attr, fl->argv, environ);
    if (r != 0) {
        errno = r;
        perror("floor: posix_spawn");
        return -r;
    }
    fl->pids[slot] = pid;
    fl->live++;
    return 0;
}

/* Reap every exited child; with respawn set, start each slot again at once. */
static void reap(struct floor *fl, int respawn)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            return;
        for (size_t i = 0; i < fl->count; i++) {
            if (fl->pids[i] != pid)
                continue;
            fl->pids[i] = 0;
            fl->live--;
            if (respawn)
                (void)spawn_one(fl, i, NULL);
            break;
        }
    }
}

/* kill() on a PID is safe here: each one is our own child, not yet reaped. */
static void stop_all(struct floor *fl)
{
    for (size_t i = 0; i < fl->count; i++)
        if (fl->pids[i] > 0)
            (void)kill(fl->pids[i], SIGTERM);
    while (fl->live > 0) {
        int status;
        pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (size_t i = 0; i < fl->count; i++) {
            if (fl->pids[i] == pid) {
                fl->pids[i] = 0;
                fl->live--;
                break;
            }
        }
    }
}

static int wait_loop(struct floor *fl, const sigset_t *set, int respawn)
{
    for (;;) {
        siginfo_t si;
        int sig = sigwaitinfo(set, &si);
        if (sig < 0) {
            if (errno == EINTR)
                continue;
            perror("floor: sigwaitinfo");
            return 1;
        }
        if (sig == SIGCHLD) {
            reap(fl, respawn);
            continue;
        }
        stop_all(fl);
        return 0;
    }
}

/* Copy the child's stdout from the pipe into FILE until EOF, then wait to be stopped. */
static int run_log(struct floor *fl, const char *file, const sigset_t *set)
{
    static char buf[COPY_BYTES];
    int p[2];
    posix_spawn_file_actions_t fa;

    int out = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out < 0 || pipe2(p, O_CLOEXEC) < 0) {
        perror("floor: log");
        return 1;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
    int r = spawn_one(fl, 0, &fa);
    posix_spawn_file_actions_destroy(&fa);
    (void)close(p[1]);
    if (r < 0)
        return 1;
    for (;;) {
        ssize_t n = read(p[0], buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                perror("floor: write");
                return 1;
            }
            off += w;
        }
    }
    (void)close(p[0]);
    (void)close(out);
    reap(fl, 0);
    return wait_loop(fl, set, 0);
}

static int usage(void)
{
    (void)fputs("usage: floor spawn N PROG [ARG...] | floor restart PROG [ARG...] |"
                " floor log FILE PROG [ARG...]\n",
                stderr);
    return 2;
}

int main(int argc, char **argv)
{
    struct floor fl = {0};
    sigset_t set, none;
    int argi;
    const char *mode = argc > 1 ? argv[1] : "";

    if (strcmp(mode, "spawn") == 0 && argc > 3) {
        long n = strtol(argv[2], NULL, 10);
        if (n < 1 || n > FLOOR_MAX_CHILDREN)
            return usage();
        fl.count = (size_t)n;
        argi = 3;
    } else if (strcmp(mode, "restart") == 0 && argc > 2) {
        fl.count = 1;
        argi = 2;
    } else if (strcmp(mode, "log") == 0 && argc > 3) {
        fl.count = 1;
        argi = 3;
    } else {
        return usage();
    }
    fl.argv = argv + argi;
    fl.pids = calloc(fl.count, sizeof(*fl.pids));
    if (!fl.pids)
        return 1;

    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, NULL);
    /* Children get an empty mask: they must die of SIGTERM as usual. */
    sigemptyset(&none);
    posix_spawnattr_init(&fl.attr);
    posix_spawnattr_setsigmask(&fl.attr, &none);
    posix_spawnattr_setflags(&fl.attr, POSIX_SPAWN_SETSIGMASK);

    if (strcmp(mode, "log") == 0)
        return run_log(&fl, argv[2], &set);
    for (size_t i = 0; i < fl.count; i++)
        if (spawn_one(&fl, i, NULL) < 0)
            break;
    return wait_loop(&fl, &set, strcmp(mode, "restart") == 0);
}
