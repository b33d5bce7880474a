/* tests/helpers/stallfs.c — a slow disk on demand, for the tests: a FUSE file
 * system that passes every call through to a backing directory, except that
 * while it is stalled (SIGUSR1; SIGUSR2 ends it) every change waits: a write,
 * an open for writing, a create, a rename, an unlink. FUSE writes are not
 * cached, so a write(2) to a file here waits with it, as one to a disk the
 * kernel throttles writers of does.
 *
 *   stallfs BACKING MOUNTPOINT   (foreground; fusermount3 -u MOUNTPOINT ends it) */
#define FUSE_USE_VERSION 31
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

static int backing = -1;
static volatile sig_atomic_t stalled;

static void on_signal(int sig)
{
    stalled = sig == SIGUSR1;
}

static void wait_while_stalled(void)
{
    struct timespec nap = {0, 10 * 1000 * 1000};
    while (stalled)
        nanosleep(&nap, NULL);
}

/* "/a/b" -> "a/b", "/" -> "." : relative to the backing directory. */
static const char *rel(const char *path)
{
    while (*path == '/')
        path++;
    return *path ? path : ".";
}

static int fs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
    if (fi)
        return fstat((int)fi->fh, st) < 0 ? -errno : 0;
    return fstatat(backing, rel(path), st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
                      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
    int fd = openat(backing, rel(path), O_RDONLY | O_DIRECTORY);
    DIR *d;
    struct dirent *e;
    (void)off;
    (void)fi;
    (void)flags;
    if (fd < 0 || !(d = fdopendir(fd))) {
        if (fd >= 0)
            close(fd);
        return -errno;
    }
    while ((e = readdir(d)))
        fill(buf, e->d_name, NULL, 0, 0);
    closedir(d);
    return 0;
}

static int fs_open(const char *path, struct fuse_file_info *fi)
{
    int fd;
    if ((fi->flags & O_ACCMODE) != O_RDONLY)
        wait_while_stalled();
    fd = openat(backing, rel(path), fi->flags & ~O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    fi->fh = (uint64_t)fd;
    return 0;
}

static int fs_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
    int fd;
    wait_while_stalled();
    fd = openat(backing, rel(path), fi->flags | O_CREAT, mode);
    if (fd < 0)
        return -errno;
    fi->fh = (uint64_t)fd;
    return 0;
}

static int fs_read(const char *path, char *buf, size_t n, off_t off, struct fuse_file_info *fi)
{
    ssize_t r = pread((int)fi->fh, buf, n, off);
    (void)path;
    return r < 0 ? -errno : (int)r;
}

static int fs_write(const char *path, const char *buf, size_t n, off_t off,
                    struct fuse_file_info *fi)
{
    ssize_t r;
    (void)path;
    wait_while_stalled();
    /* O_APPEND is the kernel's: it passes the file's end as off. */
    r = pwrite((int)fi->fh, buf, n, off);
    return r < 0 ? -errno : (int)r;
}

static int fs_release(const char *path, struct fuse_file_info *fi)
{
    (void)path;
    close((int)fi->fh);
    return 0;
}

static int fs_rename(const char *from, const char *to, unsigned int flags)
{
    if (flags)
        return -EINVAL;
    wait_while_stalled();
    return renameat(backing, rel(from), backing, rel(to)) < 0 ? -errno : 0;
}

static int fs_unlink(const char *path)
{
    wait_while_stalled();
    return unlinkat(backing, rel(path), 0) < 0 ? -errno : 0;
}

static int fs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
    int r;
    if (fi)
        return ftruncate((int)fi->fh, size) < 0 ? -errno : 0;
    int fd = openat(backing, rel(path), O_WRONLY);
    if (fd < 0)
        return -errno;
    r = ftruncate(fd, size) < 0 ? -errno : 0;
    close(fd);
    return r;
}

static int fs_statfs(const char *path, struct statvfs *sv)
{
    (void)path;
    return fstatvfs(backing, sv) < 0 ? -errno : 0;
}

static int fs_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
    if (fi)
        return futimens((int)fi->fh, tv) < 0 ? -errno : 0;
    return utimensat(backing, rel(path), tv, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

static const struct fuse_operations ops = {
    .getattr = fs_getattr,
    .readdir = fs_readdir,
    .open = fs_open,
    .create = fs_create,
    .read = fs_read,
    .write = fs_write,
    .release = fs_release,
    .rename = fs_rename,
    .unlink = fs_unlink,
    .truncate = fs_truncate,
    .statfs = fs_statfs,
    .utimens = fs_utimens,
};

int main(int argc, char **argv)
{
    struct sigaction sa = {.sa_handler = on_signal};
    char *fargv[] = {argv[0], "-f", "-o", "default_permissions", argc > 2 ? argv[2] : NULL, NULL};
    if (argc != 3) {
        fprintf(stderr, "usage: stallfs BACKING MOUNTPOINT\n");
        return 2;
    }
    backing = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (backing < 0) {
        perror(argv[1]);
        return 1;
    }
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    return fuse_main(5, fargv, &ops, NULL);
}
