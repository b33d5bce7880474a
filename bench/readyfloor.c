/* bench/readyfloor.c — the floor for readiness latency: what any supervisor
 * must do between a service's READY=1 and its dependant's exec. It binds a
 * datagram socket, spawns the notifier with NOTIFY_SOCKET set, waits in
 * poll(2) for the datagram, reads it, and posix_spawns the dependant; then
 * waits for SIGTERM, kills both through pidfds and reaps them.
 *
 *   readyfloor SOCKPATH NOTIFIER NSTAMPS STAMP DSTAMPS */
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int pidfd_open_(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

static void end(pid_t pid)
{
    int fd = pidfd_open_(pid);
    if (fd >= 0) {
        syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0);
        close(fd);
    }
    waitpid(pid, NULL, 0);
}

int main(int argc, char **argv)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char env_notify[sizeof(sa.sun_path) + 16], buf[256];
    char *nargv[3], *dargv[3];
    pid_t n, d;
    sigset_t set;
    int fd, sig;

    if (argc < 6 || strlen(argv[1]) >= sizeof(sa.sun_path))
        return 2;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    strcpy(sa.sun_path, argv[1]);
    unlink(argv[1]);
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return 1;
    snprintf(env_notify, sizeof(env_notify), "NOTIFY_SOCKET=%s", argv[1]);
    putenv(env_notify);
    nargv[0] = argv[2], nargv[1] = argv[3], nargv[2] = NULL;
    dargv[0] = argv[4], dargv[1] = argv[5], dargv[2] = NULL;
    if (posix_spawn(&n, argv[2], NULL, NULL, nargv, environ) != 0)
        return 1;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ssize_t got;
        if (poll(&p, 1, -1) < 0)
            continue;
        got = recv(fd, buf, sizeof(buf) - 1, 0);
        if (got >= 7 && memcmp(buf, "READY=1", 7) == 0)
            break;
    }
    if (posix_spawn(&d, argv[4], NULL, NULL, dargv, environ) != 0)
        return 1;
    sigwait(&set, &sig);
    end(d);
    end(n);
    unlink(argv[1]);
    return 0;
}
