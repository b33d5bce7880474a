/* proc/ports.c — sockets by port from /proc/net, their owners from /proc/PID/fd. */
#include "proc/ports.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TCP_LISTEN 0x0A
#define UDP_BOUND  0x07 /* TCP_CLOSE: the state the kernel shows for a bound UDP socket */

/* The kernel prints each 32-bit word of the address in host order as %08X. */
static int parse_addr(const char *hex, bool v6, unsigned char *out)
{
    size_t words = v6 ? 4 : 1;
    if (strlen(hex) != words * 8)
        return -EINVAL;
    for (size_t w = 0; w < words; w++) {
        char part[9];
        char *end;
        uint32_t v;
        memcpy(part, hex + 8 * w, 8);
        part[8] = '\0';
        v = (uint32_t)strtoul(part, &end, 16);
        if (*end)
            return -EINVAL;
        memcpy(out + 4 * w, &v, 4);
    }
    return 0;
}

int proc_net_parse_line(const char *line, enum proc_proto proto, bool v6, struct proc_sock *out)
{
    char local[64];
    unsigned port, state, uid;
    uint64_t inode;
    memset(out, 0, sizeof(*out));
    if (sscanf(line,
               " %*u: %63[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x %*x:%*x %*x:%*x %*x %u %*d %" SCNu64,
               local, &port, &state, &uid, &inode) != 5)
        return -EINVAL;
    if (port > 65535 || parse_addr(local, v6, out->addr) < 0)
        return -EINVAL;
    out->proto = proto;
    out->v6 = v6;
    out->port = port;
    out->state = state;
    out->uid = (uid_t)uid;
    out->inode = inode;
    return 0;
}

bool proc_sock_holds(const struct proc_sock *s)
{
    return s->proto == PROC_TCP ? s->state == TCP_LISTEN : s->state == UDP_BOUND;
}

void proc_sock_addr_text(const struct proc_sock *s, char *buf, size_t size)
{
    if (!inet_ntop(s->v6 ? AF_INET6 : AF_INET, s->addr, buf, (socklen_t)size))
        snprintf(buf, size, "?");
}

/* --- sockets ------------------------------------------------------------------------ */

struct found {
    struct proc_port_holder *h;
    size_t n, cap;
};

static bool wanted(const unsigned *ports, size_t n, unsigned port)
{
    for (size_t i = 0; i < n; i++)
        if (ports[i] == port)
            return true;
    return false;
}

static int add(struct found *f, const struct proc_sock *s)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 16;
        struct proc_port_holder *h = realloc(f->h, cap * sizeof(*h));
        if (!h)
            return -ENOMEM;
        f->h = h;
        f->cap = cap;
    }
    f->h[f->n].sock = *s;
    f->h[f->n].pid = 0;
    f->n++;
    return 0;
}

static int read_table(const char *path, enum proc_proto proto, bool v6, const unsigned *ports,
                      size_t n, struct found *f)
{
    char line[512];
    FILE *fp = fopen(path, "re");
    int r = 0;
    if (!fp)
        return errno == ENOENT ? 0 : -errno; /* no IPv6 on this host: nothing there */
    while (r == 0 && fgets(line, sizeof(line), fp)) {
        struct proc_sock s;
        if (proc_net_parse_line(line, proto, v6, &s) == 0 && proc_sock_holds(&s) &&
            wanted(ports, n, s.port))
            r = add(f, &s);
    }
    fclose(fp);
    return r;
}

/* --- owners ------------------------------------------------------------------------- */

static struct proc_port_holder *by_inode(struct found *f, uint64_t inode)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->h[i].sock.inode == inode)
            return &f->h[i];
    return NULL;
}

/* A socket shared by several processes (a forking server) is reported once
 * per process: each is a holder. */
static int note_owner(struct found *f, uint64_t inode, pid_t pid)
{
    struct proc_port_holder *h = by_inode(f, inode);
    struct proc_sock s;
    if (!h)
        return 0;
    if (h->pid == 0 || h->pid == pid) {
        h->pid = pid;
        return 0;
    }
    for (size_t i = 0; i < f->n; i++)
        if (f->h[i].sock.inode == inode && f->h[i].pid == pid)
            return 0;
    s = h->sock;
    if (add(f, &s) < 0)
        return -ENOMEM;
    f->h[f->n - 1].pid = pid;
    return 0;
}

static void scan_fds(struct found *f, pid_t pid)
{
    char path[64];
    DIR *d;
    struct dirent *e;
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    d = opendir(path);
    if (!d)
        return; /* gone, or not ours to read */
    while ((e = readdir(d))) {
        char link[64];
        ssize_t len;
        uint64_t inode;
        if (e->d_name[0] == '.')
            continue;
        len = readlinkat(dirfd(d), e->d_name, link, sizeof(link) - 1);
        if (len <= 0)
            continue;
        link[len] = '\0';
        if (sscanf(link, "socket:[%" SCNu64 "]", &inode) == 1 && note_owner(f, inode, pid) < 0)
            break;
    }
    closedir(d);
}

static void scan_owners(struct found *f)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    if (!d)
        return;
    while ((e = readdir(d))) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0)
            continue;
        scan_fds(f, (pid_t)pid);
    }
    closedir(d);
}

int proc_ports_find(const unsigned *ports, size_t n, proc_port_fn fn, void *ctx)
{
    static const struct {
        const char *path;
        enum proc_proto proto;
        bool v6;
    } tables[] = {
        {"/proc/net/tcp", PROC_TCP, false},
        {"/proc/net/tcp6", PROC_TCP, true},
        {"/proc/net/udp", PROC_UDP, false},
        {"/proc/net/udp6", PROC_UDP, true},
    };
    struct found f = {0};
    int r = 0;
    for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]) && r == 0; t++)
        r = read_table(tables[t].path, tables[t].proto, tables[t].v6, ports, n, &f);
    if (r == 0 && f.n > 0)
        scan_owners(&f);
    for (size_t i = 0; r == 0 && i < f.n; i++)
        fn(ctx, &f.h[i]);
    free(f.h);
    return r < 0 ? r : (int)f.n;
}
