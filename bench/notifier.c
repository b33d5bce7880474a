/* bench/notifier.c — a service that says READY=1 at once: it appends
 * "<CLOCK_REALTIME ns> <pid>\n" to the stamp file named by its argument
 * with one write(2), sends READY=1 to $NOTIFY_SOCKET (the sd_notify
 * protocol: one datagram, abstract address when it starts with '@'), and
 * pause()s. The stamp is the instant just before the datagram: the start
 * of the readiness latency the benchmark measures. */
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct timespec ts;
    char line[64];
    socklen_t len;
    int fd, out, n;

    if (argc < 2 || !path || !path[0] || strlen(path) >= sizeof(sa.sun_path)) {
        fputs("usage: NOTIFY_SOCKET=... notifier STAMPFILE\n", stderr);
        return 2;
    }
    memcpy(sa.sun_path, path, strlen(path));
    if (sa.sun_path[0] == '@')
        sa.sun_path[0] = '\0';
    len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    out = open(argv[1], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || out < 0)
        return 1;
    clock_gettime(CLOCK_REALTIME, &ts);
    n = snprintf(line, sizeof(line), "%lld %ld\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec,
                 (long)getpid());
    if (write(out, line, (size_t)n) != n)
        return 1;
    if (sendto(fd, "READY=1", 7, 0, (struct sockaddr *)&sa, len) != 7)
        return 1;
    close(out);
    for (;;)
        pause();
}
