/* bench/probefloor.c — the floor for tcp probes: N probes, each a
 * nonblocking connect(2) to HOST:PORT every INTERVAL_MS, watched with epoll
 * until it completes, then closed; one attempt in flight per probe. All N
 * start on one timerfd tick per interval, the fewest wake-ups the schedule
 * allows. Runs until SIGTERM. What a supervisor's tcp probes cannot do with
 * less.
 *
 *   probefloor N HOST PORT INTERVAL_MS */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    struct itimerspec its;
    struct epoll_event ev, evs[256];
    int *fds, n, interval_ms, ep, tfd, sfd;
    sigset_t set;

    if (argc < 5)
        return 2;
    n = atoi(argv[1]);
    interval_ms = atoi(argv[4]);
    sa.sin_port = htons((uint16_t)atoi(argv[3]));
    if (n <= 0 || interval_ms <= 0 || inet_pton(AF_INET, argv[2], &sa.sin_addr) != 1)
        return 2;
    its.it_interval.tv_sec = interval_ms / 1000;
    its.it_interval.tv_nsec = (interval_ms % 1000) * 1000000L;
    its.it_value = its.it_interval;
    fds = calloc((size_t)n, sizeof(*fds));
    for (int i = 0; i < n; i++)
        fds[i] = -1;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    ep = epoll_create1(EPOLL_CLOEXEC);
    tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    sfd = signalfd(-1, &set, SFD_CLOEXEC);
    timerfd_settime(tfd, 0, &its, NULL);
    ev.events = EPOLLIN;
    ev.data.u64 = UINT64_MAX;
    epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
    ev.data.u64 = UINT64_MAX - 1;
    epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
    for (;;) {
        int got = epoll_wait(ep, evs, 256, -1);
        for (int k = 0; k < got; k++) {
            uint64_t id = evs[k].data.u64, ticks;
            if (id == UINT64_MAX - 1)
                return 0;
            if (id != UINT64_MAX) { /* a connect finished: the probe is done */
                close(fds[id]);
                fds[id] = -1;
                continue;
            }
            if (read(tfd, &ticks, sizeof(ticks)) < 0)
                continue;
            for (int j = 0; j < n; j++) {
                if (fds[j] >= 0)
                    continue; /* still in flight: never two at once */
                fds[j] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
                if (connect(fds[j], (struct sockaddr *)&sa, sizeof(sa)) < 0 &&
                    errno != EINPROGRESS) {
                    close(fds[j]);
                    fds[j] = -1;
                    continue;
                }
                ev.events = EPOLLOUT;
                ev.data.u64 = (uint64_t)j;
                epoll_ctl(ep, EPOLL_CTL_ADD, fds[j], &ev);
            }
        }
    }
}
