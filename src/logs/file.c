/* logs/file.c — see file.h. */
#include "logs/file.h"

#include "logs/logs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

void logs_file_init(struct logs_file *f, int dirfd, const char *name, uint64_t max_bytes,
                    unsigned keep)
{
    f->dirfd = dirfd;
    f->fd = -1;
    f->rotations = 0;
    f->max_bytes = max_bytes;
    f->keep = keep;
    snprintf(f->name, sizeof(f->name), "%s", name);
}

static int open_live(struct logs_file *f)
{
    char path[sizeof(f->name) + 4];
    snprintf(path, sizeof(path), "%s.log", f->name);
    /* The state directory is corral's: a link planted in it is refused. */
    f->fd = openat(f->dirfd, path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
    return f->fd < 0 ? -errno : f->fd;
}

/* Its size is read, not counted: others write to it too. */
static bool full(const struct logs_file *f)
{
    struct stat st;
    return f->max_bytes > 0 && fstat(f->fd, &st) == 0 && S_ISREG(st.st_mode) &&
           (uint64_t)st.st_size >= f->max_bytes;
}

int logs_file_fd(struct logs_file *f)
{
    int r;
    if (f->fd < 0 && (r = open_live(f)) < 0)
        return r;
    if (!full(f))
        return f->fd;
    /* Refused (the directory is read-only, say): go on growing the one file
     * rather than lose lines. */
    if (logs_rotate_files(f->dirfd, f->name, f->keep) < 0)
        return f->fd;
    close(f->fd);
    f->rotations++;
    return open_live(f);
}

void logs_file_close(struct logs_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
}
