/* reqfloor.c — the floor for the control-plane benchmarks: the least an HTTP
 * status query can cost on this machine. A server that answers every request
 * with a fixed body read from a file (no routing, no JSON, no state), and a
 * client that sends one request and copies the answer to stdout.
 *
 *   reqfloor serve-unix PATH BODYFILE   one request per connection, then close
 *   reqfloor serve-tcp PORT BODYFILE    127.0.0.1, keep-alive, single-threaded epoll
 *   reqfloor get PATH                   GET over the Unix socket, body to stdout
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static char *reply;
static size_t reply_len;

static void load(const char *path)
{
    struct stat st;
    int fd = open(path, O_RDONLY);
    char head[128];
    int hn;
    if (fd < 0 || fstat(fd, &st) < 0) {
        perror(path);
        exit(1);
    }
    hn = snprintf(
        head, sizeof(head),
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %lld\r\n\r\n",
        (long long)st.st_size);
    reply = malloc((size_t)hn + (size_t)st.st_size);
    memcpy(reply, head, (size_t)hn);
    if (read(fd, reply + hn, (size_t)st.st_size) != st.st_size) {
        perror(path);
        exit(1);
    }
    reply_len = (size_t)hn + (size_t)st.st_size;
    close(fd);
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static int serve_unix(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int ls = socket(AF_UNIX, SOCK_STREAM, 0);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    unlink(path);
    if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(ls, 128) < 0) {
        perror(path);
        return 1;
    }
    for (;;) {
        char buf[8192];
        size_t got = 0;
        int c = accept(ls, NULL, NULL);
        if (c < 0)
            continue;
        while (got < sizeof(buf) - 1) {
            ssize_t r = read(c, buf + got, sizeof(buf) - 1 - got);
            if (r <= 0)
                break;
            got += (size_t)r;
            buf[got] = '\0';
            if (strstr(buf, "\r\n\r\n"))
                break;
        }
        write_all(c, reply, reply_len);
        close(c);
    }
}

static int serve_tcp(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct epoll_event ev, evs[64];
    int one = 1, ep = epoll_create1(0);
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(ls, 512) < 0) {
        perror("bind");
        return 1;
    }
    ev.events = EPOLLIN;
    ev.data.fd = ls;
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    for (;;) {
        int n = epoll_wait(ep, evs, 64, -1);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            char buf[16384];
            ssize_t r;
            if (fd == ls) {
                int c;
                while ((c = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    ev.events = EPOLLIN;
                    ev.data.fd = c;
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
                }
                continue;
            }
            r = read(fd, buf, sizeof(buf) - 1);
            if (r <= 0) {
                close(fd);
                continue;
            }
            buf[r] = '\0';
            /* One reply per request in the buffer (wrk pipelines nothing by default). */
            for (char *p = buf; (p = strstr(p, "\r\n\r\n")); p += 4)
                write_all(fd, reply, reply_len);
        }
    }
}

static int get(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    static const char req[] = "GET /v1/services HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    char buf[65536];
    ssize_t r;
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if (connect(c, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        perror(path);
        return 1;
    }
    write_all(c, req, sizeof(req) - 1);
    while ((r = read(c, buf, sizeof(buf))) > 0)
        write_all(STDOUT_FILENO, buf, (size_t)r);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "serve-unix")) {
        load(argv[3]);
        return serve_unix(argv[2]);
    }
    if (argc == 4 && !strcmp(argv[1], "serve-tcp")) {
        load(argv[3]);
        return serve_tcp(atoi(argv[2]));
    }
    if (argc == 3 && !strcmp(argv[1], "get"))
        return get(argv[2]);
    fprintf(stderr, "usage: reqfloor serve-unix PATH BODY | serve-tcp PORT BODY | get PATH\n");
    return 2;
}
