/* bench/flood.c — the log workload's service: writes BYTES of 128-byte lines to stdout in
 * large buffers, then exits 0.
 *
 * usage: flood STAMPFILE BYTES [DELAY_MS]
 * It appends "<CLOCK_REALTIME ns> <pid>\n" to STAMPFILE on start, sleeps DELAY_MS (default
 * 1000, so the supervisor is done starting up and its CPU can be sampled), appends a second
 * stamp line and starts writing: the second stamp is the start of the timed transfer. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LINE_BYTES 128
#define BUF_LINES  2048 /* 256 KiB per write(2) */

static int stamp(const char *path)
{
    struct timespec ts;
    char line[64];

    if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
        return -1;
    int len = snprintf(line, sizeof(line), "%lld %ld\n",
                       (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec, (long)getpid());
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, line, (size_t)len);
    (void)close(fd);
    return n == len ? 0 : -1;
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static char buf[BUF_LINES * LINE_BYTES];

    if (argc < 3) {
        (void)fputs("usage: flood STAMPFILE BYTES [DELAY_MS]\n", stderr);
        return 2;
    }
    unsigned long long total = strtoull(argv[2], NULL, 10);
    long delay_ms = argc > 3 ? strtol(argv[3], NULL, 10) : 1000;
    if (total % LINE_BYTES != 0) {
        (void)fputs("flood: BYTES must be a multiple of 128\n", stderr);
        return 2;
    }
    for (size_t i = 0; i < BUF_LINES; i++) {
        char *line = buf + i * LINE_BYTES;
        for (size_t j = 0; j < LINE_BYTES - 1; j++)
            line[j] = (char)('a' + (i + j) % 26);
        line[LINE_BYTES - 1] = '\n';
    }
    if (stamp(argv[1]) < 0) {
        perror("flood: stamp");
        return 1;
    }
    struct timespec d = {delay_ms / 1000, (delay_ms % 1000) * 1000000L};
    while (nanosleep(&d, &d) < 0 && errno == EINTR)
        ;
    if (stamp(argv[1]) < 0) {
        perror("flood: stamp");
        return 1;
    }
    while (total > 0) {
        size_t len = total < sizeof(buf) ? (size_t)total : sizeof(buf);
        int r = write_all(STDOUT_FILENO, buf, len);
        if (r < 0) {
            errno = -r;
            perror("flood: write");
            return 1;
        }
        total -= len;
    }
    return 0;
}
