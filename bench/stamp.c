/* bench/stamp.c — the benchmark's service: on start it appends "<CLOCK_REALTIME ns> <pid>\n"
 * to a stamp file with one O_APPEND write(2), then waits for a signal; in exit mode it exits 1
 * at once, so that a supervisor restarts it.
 *
 * usage: stamp [FILE [exit]]
 * $STAMP_FILE, when set, wins over argv[1] and $STAMP_EXIT=1 selects exit mode: s6-supervise
 * passes its service directory as argv[1], and runit/s6 run ./run as a symlink to this binary
 * with the environment of runsvdir/s6-svscan. Linked statically, so that the time from exec to
 * the stamp is a few microseconds and not the dynamic loader's. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
    /* One write: O_APPEND makes it atomic against the other services' stamps. */
    ssize_t n = write(fd, line, (size_t)len);
    (void)close(fd);
    return n == len ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *path = getenv("STAMP_FILE");
    const char *mode = getenv("STAMP_EXIT");
    int exit_mode = mode && strcmp(mode, "1") == 0;

    if (!path || !*path) {
        if (argc < 2) {
            (void)fputs("usage: stamp FILE [exit]  (or $STAMP_FILE, $STAMP_EXIT=1)\n", stderr);
            return 2;
        }
        path = argv[1];
        exit_mode = exit_mode || (argc > 2 && strcmp(argv[2], "exit") == 0);
    }
    if (stamp(path) < 0) {
        perror("stamp");
        return 1;
    }
    if (exit_mode)
        return 1;
    for (;;)
        pause();
}
