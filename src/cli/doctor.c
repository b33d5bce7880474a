/* cli/doctor.c — `corral doctor`: a read-only scan for what a supervisor can
 * leave behind or get wrong: zombies (with the parent that does not reap
 * them), this corral's orphans, foreign orphans holding ports, hung (CPU
 * pinned) processes of this corral, stale state records, port conflicts, the
 * containment in use, and the health of the state directory. One pass over
 * /proc; the CPU sampling window overlaps the other checks. Changes nothing. */
#include "cli/cli.h"
#include "cli/own.h"
#include "cli/report.h"
#include "config/config.h"
#include "health/limits.h"
#include "health/stats.h"
#include "logs/ring.h"
#include "proc/cgroup.h"
#include "proc/ports.h"
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WINDOW_DEFAULT_MS 250
#define WINDOW_MAX_MS     60000
#define HUNG_PERCENT      95.0
#define SOCK_INODES_MAX   1024

struct doctor {
    const char *file;
    const char *state_dir;
    bool json;
    uint64_t window_ms;
    struct cfg_model *m; /* NULL when none was read, or it did not load */
    struct own o;
    struct doc_report r;
    uint64_t *cpu_ns; /* per own process, at the window's start */
};

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: corral doctor [-f FILE] [--state-dir DIR] [--json] [--window DURATION]\n");
}

static int parse(struct doctor *d, int argc, char **argv)
{
    static const struct option opts[] = {
        {"file", required_argument, NULL, 'f'}, {"state-dir", required_argument, NULL, 'S'},
        {"json", no_argument, NULL, 'j'},       {"window", required_argument, NULL, 'w'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0},
    };
    int c;
    d->window_ms = WINDOW_DEFAULT_MS;
    while ((c = getopt_long(argc, argv, "f:h", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            d->file = optarg;
            break;
        case 'S':
            d->state_dir = optarg;
            break;
        case 'j':
            d->json = true;
            break;
        case 'w':
            if (cfg_parse_duration(optarg, &d->window_ms) < 0 || d->window_ms == 0 ||
                d->window_ms > WINDOW_MAX_MS) {
                fprintf(stderr, "corral doctor: --window takes a duration from 1ms to 60s "
                                "(\"250ms\", \"2s\")\n");
                return CLI_USAGE;
            }
            break;
        case 'h':
            usage(stdout);
            return CLI_OK;
        default:
            usage(stderr);
            return CLI_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "corral doctor: unexpected argument '%s'\n", argv[optind]);
        return CLI_USAGE;
    }
    return -1;
}

/* The config, when one names the instance: -f FILE, or ./corral.yaml unless
 * --state-dir alone picked the instance. */
static void load_config(struct doctor *d)
{
    const char *path = d->file ? d->file : d->state_dir ? NULL : "corral.yaml";
    struct diag dg;
    if (!path)
        return;
    if (!realpath(path, d->r.config))
        snprintf(d->r.config, sizeof(d->r.config), "%s", path);
    diag_clear(&dg);
    d->m = cfg_load(path, &dg);
    if (!d->m)
        diag_format(&dg, d->r.config_error, sizeof(d->r.config_error));
}

/* --- state directory and database ------------------------------------------------------- */

static void on_run(void *ctx, const struct store_run *run)
{
    struct doctor *d = ctx;
    char why[128] = "";
    if (run->pid > 0) {
        const struct proc_entry *e = proc_snap_find(&d->o.snap, run->pid);
        if (strcmp(run->boot_id, d->o.boot_id) != 0)
            snprintf(why, sizeof(why), "recorded before the last reboot");
        else if (!e)
            snprintf(why, sizeof(why), "its process is gone");
        else if (e->start_ticks != run->start_ticks)
            snprintf(why, sizeof(why), "the PID now names another process");
    }
    if (!why[0] && d->m && cfg_find(d->m, run->service) < 0)
        snprintf(why, sizeof(why), "the service is not in the config");
    if (why[0]) {
        struct doc_stale *s = REPORT_ADD(&d->r, stale);
        if (!s)
            return;
        snprintf(s->service, sizeof(s->service), "%s", run->service);
        s->pid = run->pid;
        snprintf(s->why, sizeof(s->why), "%s", why);
    }
}

static void check_database(struct doctor *d, const char *path)
{
    struct doc_state *s = &d->r.state;
    struct store *st;
    struct diag dg;
    struct stat sb;
    s->db_schema = -1;
    s->db_exists = stat(path, &sb) == 0;
    if (!s->db_exists)
        return;
    diag_clear(&dg);
    st = store_open_readonly(d->o.c.state_dir, d->o.running, &dg);
    if (!st) {
        snprintf(s->db_error, sizeof(s->db_error), "%s", dg.msg);
        return;
    }
    s->db_ok = store_check(st, &s->db_schema, s->db_error, sizeof(s->db_error)) == 0;
    s->db_intact = s->db_ok || s->db_schema > STORE_SCHEMA_VERSION;
    if (s->db_ok && s->db_schema >= 2 && store_each_run(st, on_run, d) < 0)
        snprintf(s->db_error, sizeof(s->db_error), "service_run could not be read");
    store_close(st);
}

static void check_state(struct doctor *d)
{
    struct doc_state *s = &d->r.state;
    char path[PATH_MAX + 32];
    struct dirent *de;
    struct stat sb;
    DIR *dir;
    s->dir_exists = d->o.state_dir_exists;
    s->dir_writable = s->dir_exists && access(d->o.c.state_dir, W_OK) == 0;
    snprintf(path, sizeof(path), "%s/state.db", d->o.c.state_dir);
    check_database(d, path);
    s->lock_held = d->o.running || d->o.cleanup_pid;
    s->lock_lost = d->o.lock_lost;
    s->lock_pid = d->o.cleanup_pid ? d->o.cleanup_pid : d->o.corral_pid;
    s->lock_cleanup = d->o.cleanup_pid > 0;
    s->guard_foreign_pid = d->o.guard_foreign_pid;
    s->guard_foreign_uid = (unsigned)d->o.guard_foreign_uid;
    s->socket_exists = stat(d->o.c.sock, &sb) == 0 && S_ISSOCK(sb.st_mode);
    s->api = d->o.api;
    dir = s->dir_exists ? opendir(d->o.c.state_dir) : NULL;
    while (dir && (de = readdir(dir)))
        if (!strncmp(de->d_name, "state.db.bad-", 13))
            s->db_set_aside++;
    if (dir)
        closedir(dir);
}

/* --- containment ------------------------------------------------------------------------ */

static void check_containment(struct doctor *d)
{
    struct doc_report *r = &d->r;
    char dir[PATH_MAX];
    struct diag dg;
    const char *mode = json_string_value(json_object_get(d->o.info, "containment"));
    const char *why = json_string_value(json_object_get(d->o.info, "containment_reason"));
    for (size_t i = 0; i < d->o.n_cg; i++)
        (void)report_add_cgroup(r, d->o.cg_dirs[i]);
    if (mode && why) {
        snprintf(r->containment, sizeof(r->containment), "%s", mode);
        snprintf(r->containment_reason, sizeof(r->containment_reason), "%s", why);
        r->containment_source = "running corral";
        return;
    }
    r->containment_source = "this host and the config";
    if (d->m && d->m->containment == CFG_CONTAIN_PGROUP) {
        snprintf(r->containment, sizeof(r->containment), "pgroup");
        snprintf(r->containment_reason, sizeof(r->containment_reason),
                 "process groups + subreaper + environment tag (containment: pgroup in config)");
        return;
    }
    diag_clear(&dg);
    if (proc_cgroup_detect(dir, sizeof(dir), NULL, &dg) >= 0) {
        snprintf(r->containment, sizeof(r->containment), "cgroup");
        snprintf(r->containment_reason, sizeof(r->containment_reason), "cgroup v2 at %s/corral-%s",
                 dir, d->o.instance);
    } else if (d->m && d->m->containment == CFG_CONTAIN_CGROUP) {
        snprintf(r->containment, sizeof(r->containment), "cgroup");
        snprintf(r->containment_reason, sizeof(r->containment_reason),
                 "containment: cgroup was asked for, but %s", dg.msg);
        r->containment_problem = true;
    } else {
        snprintf(r->containment, sizeof(r->containment), "pgroup");
        snprintf(r->containment_reason, sizeof(r->containment_reason),
                 "process groups + subreaper + environment tag (no usable cgroup v2: %s)", dg.msg);
    }
}

/* How service log files are written: as the running corral says, else as
 * one started here would (the ring is made with the first log file). */
static void check_log_writes(struct doctor *d)
{
    struct doc_report *r = &d->r;
    const char *mode = json_string_value(json_object_get(d->o.info, "log_writes"));
    const char *why = json_string_value(json_object_get(d->o.info, "log_writes_reason"));
    struct logs_ring *ring;
    if (mode && why && strcmp(mode, "none yet") != 0) {
        snprintf(r->log_writes, sizeof(r->log_writes), "%s", mode);
        snprintf(r->log_writes_reason, sizeof(r->log_writes_reason), "%s", why);
        r->log_writes_source = "running corral";
        return;
    }
    r->log_writes_source = "this host";
    ring = logs_ring_new();
    snprintf(r->log_writes, sizeof(r->log_writes), "%s", ring ? "io_uring" : "direct");
    if (ring)
        snprintf(r->log_writes_reason, sizeof(r->log_writes_reason), LOGS_RING_WHY);
    else
        snprintf(r->log_writes_reason, sizeof(r->log_writes_reason), LOGS_RING_REFUSED,
                 strerror(errno));
    logs_ring_free(ring);
}

/* --- limits ------------------------------------------------------------------------------ */

static int controllers_running(const json_t *info)
{
    const json_t *l = json_object_get(info, "controllers");
    size_t i;
    json_t *v;
    int bits = 0;
    json_array_foreach(l, i, v) bits |= health_controllers_parse(json_string_value(v));
    return bits;
}

/* Without a running corral: what corral's cgroup could pass to its services, from
 * the cgroup it would be made in (enabled there when corral starts, where the
 * kernel lets it). */
static int controllers_here(void)
{
    char dir[PATH_MAX];
    struct diag dg;
    int fd, bits;
    diag_clear(&dg);
    if (proc_cgroup_detect(dir, sizeof(dir), NULL, &dg) < 0 ||
        (fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return 0;
    bits = health_cgroup_controllers(fd, "cgroup.controllers");
    close(fd);
    return bits < 0 ? 0 : bits;
}

static void check_limits(struct doctor *d)
{
    struct doc_report *r = &d->r;
    bool cgroup = !strcmp(r->containment, "cgroup") && !r->containment_problem;
    int ctrl = 0;
    if (cgroup) {
        bool running = json_object_get(d->o.info, "controllers") != NULL;
        ctrl = running ? controllers_running(d->o.info) : controllers_here();
        r->controllers_source =
            running ? "running corral"
                    : "this host: enabled once a service has a memory, cpu or pids limit";
        snprintf(r->controllers, sizeof(r->controllers), "%s%s%s",
                 ctrl & HEALTH_CTRL_CPU ? "cpu " : "", ctrl & HEALTH_CTRL_MEMORY ? "memory " : "",
                 ctrl & HEALTH_CTRL_PIDS ? "pids " : "");
        if (r->controllers[0])
            r->controllers[strlen(r->controllers) - 1] = '\0';
    }
    for (size_t i = 0; d->m && i < d->m->n_services; i++) {
        const struct cfg_service *s = &d->m->services[i];
        for (int l = 0; l < HEALTH_LIM__COUNT; l++) {
            uint64_t v = health_limit_value(&s->limits, (enum health_limit)l);
            enum health_enforce e = health_limit_enforce((enum health_limit)l, cgroup, ctrl);
            struct doc_limit *x;
            if (!v || !(x = REPORT_ADD(r, limits)))
                continue;
            snprintf(x->service, sizeof(x->service), "%s", s->name);
            x->limit = health_limit_name((enum health_limit)l);
            x->value = v;
            x->enforced_by = health_enforce_name(e);
            x->how = health_limit_how((enum health_limit)l, e);
        }
    }
}

/* --- orphans, hung, zombies --------------------------------------------------------------- */

static void list_orphans(struct doctor *d)
{
    for (size_t i = 0; i < d->o.n; i++) {
        const struct own_proc *p = &d->o.v[i];
        struct doc_orphan *x;
        if (!p->orphan_why || !(x = REPORT_ADD(&d->r, orphans)))
            continue;
        x->pid = p->pid;
        x->ppid = p->ppid;
        snprintf(x->service, sizeof(x->service), "%s", p->service);
        x->why = p->orphan_why;
        x->found_by = p->tagged && p->cgroup ? "tag+cgroup" : p->cgroup ? "cgroup" : "tag";
        x->age_ms = p->age_ms;
        snprintf(x->command, sizeof(x->command), "%s", p->command);
    }
}

static void sample_cpu(struct doctor *d)
{
    d->cpu_ns = calloc(d->o.n + 1, sizeof(*d->cpu_ns));
    for (size_t i = 0; d->cpu_ns && i < d->o.n; i++)
        if (proc_cpu_ns(d->o.v[i].pid, &d->cpu_ns[i]) < 0)
            d->cpu_ns[i] = UINT64_MAX;
}

static void list_hung(struct doctor *d, uint64_t window_ns)
{
    for (size_t i = 0; d->cpu_ns && i < d->o.n; i++) {
        const struct own_proc *p = &d->o.v[i];
        struct proc_stat st;
        struct doc_hung *h;
        uint64_t ns;
        double pct;
        if (d->cpu_ns[i] == UINT64_MAX || proc_cpu_ns(p->pid, &ns) < 0)
            continue;
        /* The same process still: a PID reused within the window is not. */
        if (proc_stat_read(p->pid, &st) < 0 || st.start_ticks != p->start_ticks)
            continue;
        pct = proc_cpu_percent(d->cpu_ns[i], ns, window_ns);
        if (pct < HUNG_PERCENT || !(h = REPORT_ADD(&d->r, hung)))
            continue;
        h->pid = p->pid;
        h->cpu_percent = pct;
        snprintf(h->service, sizeof(h->service), "%s", p->service);
        snprintf(h->command, sizeof(h->command), "%s", p->command);
    }
}

/* A zombie seen twice, a window apart, is one its parent does not reap; one
 * seen once may be a child exiting this very moment. */
static void list_zombies(struct doctor *d)
{
    uint64_t now = proc_boottime_ns();
    for (size_t i = 0; i < d->o.snap.n; i++) {
        const struct proc_entry *e = &d->o.snap.v[i];
        struct proc_stat st;
        struct doc_zombie *z;
        const struct proc_entry *parent;
        if (e->state != 'Z' || proc_stat_read(e->pid, &st) < 0 || st.state != 'Z' ||
            st.start_ticks != e->start_ticks || !(z = REPORT_ADD(&d->r, zombies)))
            continue;
        z->pid = e->pid;
        z->ppid = st.ppid;
        z->age_ms = proc_age_ms(e->start_ticks, now);
        snprintf(z->command, sizeof(z->command), "%s", e->comm);
        if (proc_cmdline_read(st.ppid, z->parent_command, sizeof(z->parent_command)) <= 0) {
            parent = proc_snap_find(&d->o.snap, st.ppid);
            snprintf(z->parent_command, sizeof(z->parent_command), "[%s]",
                     parent ? parent->comm : "?");
        }
    }
}

/* --- ports ----------------------------------------------------------------------------------- */

static const char *proto_name(const struct proc_sock *s)
{
    if (s->proto == PROC_TCP)
        return s->v6 ? "tcp6" : "tcp";
    return s->v6 ? "udp6" : "udp";
}

struct socks {
    struct proc_sock *v;
    size_t n, cap;
};

static int by_inode(const void *a, const void *b)
{
    const struct proc_sock *x = a, *y = b;
    return (x->inode > y->inode) - (x->inode < y->inode);
}

/* Every socket that holds a port: TCP listeners, bound UDP sockets. */
static void read_holding(struct socks *s)
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
    for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
        char line[512];
        FILE *fp = fopen(tables[t].path, "re");
        while (fp && fgets(line, sizeof(line), fp)) {
            struct proc_sock k;
            if (proc_net_parse_line(line, tables[t].proto, tables[t].v6, &k) < 0 ||
                !proc_sock_holds(&k) || k.inode == 0)
                continue;
            if (s->n == s->cap) {
                size_t cap = s->cap ? 2 * s->cap : 64;
                struct proc_sock *v = realloc(s->v, cap * sizeof(*v));
                if (!v)
                    break;
                s->v = v;
                s->cap = cap;
            }
            s->v[s->n++] = k;
        }
        if (fp)
            fclose(fp);
    }
    qsort(s->v, s->n, sizeof(*s->v), by_inode);
}

/* Started by systemd as a unit, not left behind: its cgroup says so. */
static bool systemd_unit(pid_t pid)
{
    char cg[PATH_MAX];
    size_t len;
    if (proc_cgroup_of(pid, cg, sizeof(cg)) < 0 || strncmp(cg, "/system.slice/", 14) != 0)
        return false;
    len = strlen(cg);
    return len > 8 && !strcmp(cg + len - 8, ".service");
}

static void foreign_one(struct doctor *d, const struct proc_entry *e, const struct socks *s,
                        uint64_t now)
{
    uint64_t inodes[SOCK_INODES_MAX];
    struct doc_foreign *f = NULL;
    int n = proc_socket_inodes(e->pid, inodes, SOCK_INODES_MAX);
    for (int i = 0; i < n; i++) {
        struct proc_sock key = {.inode = inodes[i]};
        const struct proc_sock *k = bsearch(&key, s->v, s->n, sizeof(*s->v), by_inode);
        struct doc_port *p;
        if (!k)
            continue;
        if (!f) {
            struct passwd *pw = getpwuid(k->uid);
            if (!(f = REPORT_ADD(&d->r, foreign)))
                return;
            f->pid = e->pid;
            f->ppid = e->ppid;
            f->age_ms = proc_age_ms(e->start_ticks, now);
            if (pw)
                snprintf(f->user, sizeof(f->user), "%s", pw->pw_name);
            else
                snprintf(f->user, sizeof(f->user), "%u", (unsigned)k->uid);
            if (proc_cmdline_read(e->pid, f->command, sizeof(f->command)) <= 0)
                snprintf(f->command, sizeof(f->command), "[%s]", e->comm);
            if (proc_cmdline_read(e->ppid, f->parent_command, sizeof(f->parent_command)) <= 0)
                snprintf(f->parent_command, sizeof(f->parent_command), "?");
        }
        if (f->n_ports == REPORT_PORTS_MAX)
            break;
        p = &f->ports[f->n_ports++];
        p->port = k->port;
        p->proto = proto_name(k);
        proc_sock_addr_text(k, p->address, sizeof(p->address));
    }
}

/* Processes of no corral of ours, handed to init or to a subreaper, that hold
 * a port: what a dev server left running by a dead parent looks like. Only
 * those few have their fds read. */
static void list_foreign(struct doctor *d)
{
    struct socks s = {0};
    bool *ours = calloc(d->o.snap.n + 1, sizeof(*ours));
    uint64_t now = proc_boottime_ns();
    read_holding(&s);
    for (size_t i = 0; ours && i < d->o.n; i++) {
        const struct proc_entry *e = proc_snap_find(&d->o.snap, d->o.v[i].pid);
        if (e)
            ours[e - d->o.snap.v] = true;
    }
    for (size_t i = 0; ours && s.n > 0 && i < d->o.snap.n; i++) {
        const struct proc_entry *e = &d->o.snap.v[i];
        if (ours[i] || e->tagged || e->state == 'Z' ||
            !proc_entry_reparented(e, proc_snap_find(&d->o.snap, e->ppid)) || systemd_unit(e->pid))
            continue;
        foreign_one(d, e, &s, now);
    }
    free(ours);
    free(s.v);
}

/* A configured port and the service that wants it. */
struct want_port {
    const char *service;
    unsigned port;
    enum proc_proto proto;
};

struct conflict_ctx {
    struct doctor *d;
    const struct want_port *want;
    size_t n;
};

static void on_holder(void *ctx, const struct proc_port_holder *h)
{
    struct conflict_ctx *cc = ctx;
    const struct proc_entry *e = h->pid ? proc_snap_find(&cc->d->o.snap, h->pid) : NULL;
    for (size_t i = 0; i < cc->n; i++) {
        const struct want_port *w = &cc->want[i];
        struct doc_conflict *c;
        if (w->port != h->sock.port || w->proto != h->sock.proto)
            continue;
        /* The service itself holding its own port is no conflict. */
        if (e && e->tagged && !strcmp(e->service, w->service))
            continue;
        if (!(c = REPORT_ADD(&cc->d->r, conflicts)))
            return;
        snprintf(c->service, sizeof(c->service), "%s", w->service);
        c->port = w->port;
        c->proto = proto_name(&h->sock);
        c->pid = h->pid;
        if (h->pid > 0 && proc_cmdline_read(h->pid, c->command, sizeof(c->command)) < 0)
            c->command[0] = '\0';
    }
}

/* Which configured ports someone else already holds. */
static void check_ports(struct doctor *d, const struct want_port *want, size_t n)
{
    struct conflict_ctx cc = {.d = d, .want = want, .n = n};
    unsigned *ports;
    if (n == 0)
        return;
    ports = calloc(n, sizeof(*ports));
    if (!ports)
        return;
    for (size_t i = 0; i < n; i++)
        ports[i] = want[i].port;
    (void)proc_ports_find(ports, n, on_holder, &cc);
    free(ports);
}

/* Every service's `ports:` from the config, when there is one. */
static void check_configured_ports(struct doctor *d)
{
    struct want_port *want;
    size_t n = 0, k = 0;
    if (!d->m)
        return;
    for (size_t i = 0; i < d->m->n_services; i++)
        n += d->m->services[i].n_ports;
    if (n == 0 || !(want = calloc(n, sizeof(*want))))
        return;
    for (size_t i = 0; i < d->m->n_services; i++) {
        const struct cfg_service *s = &d->m->services[i];
        for (size_t j = 0; j < s->n_ports; j++)
            want[k++] = (struct want_port){
                .service = s->name,
                .port = s->ports[j].port,
                .proto = s->ports[j].proto == CFG_PROTO_UDP ? PROC_UDP : PROC_TCP,
            };
    }
    check_ports(d, want, n);
    free(want);
}

/* --- the run ---------------------------------------------------------------------------------- */

static void sleep_until(uint64_t deadline_ns)
{
    uint64_t now = mono_ns();
    struct timespec ts;
    if (now >= deadline_ns)
        return;
    ts.tv_sec = (time_t)((deadline_ns - now) / 1000000000ULL);
    ts.tv_nsec = (long)((deadline_ns - now) % 1000000000ULL);
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static int run(struct doctor *d)
{
    uint64_t t0, t1;
    int r;
    load_config(d);
    r = own_scan(&d->o);
    if (r < 0) {
        fprintf(stderr, "corral doctor: cannot read /proc: %s\n", strerror(-r));
        return CLI_FAILED;
    }
    snprintf(d->r.state_dir, sizeof(d->r.state_dir), "%s", d->o.c.state_dir);
    snprintf(d->r.instance, sizeof(d->r.instance), "%s", d->o.instance);
    d->r.window_ms = d->window_ms;
    t0 = mono_ns();
    sample_cpu(d);
    /* The window's time is spent on the other checks. */
    list_orphans(d);
    check_state(d);
    check_containment(d);
    check_log_writes(d);
    check_limits(d);
    list_foreign(d);
    check_configured_ports(d);
    sleep_until(t0 + d->window_ms * 1000000ULL);
    t1 = mono_ns();
    list_hung(d, t1 - t0);
    list_zombies(d);
    if (d->json)
        report_json(&d->r, stdout);
    else
        report_table(&d->r, stdout);
    if (d->r.config_error[0]) {
        fprintf(stderr, "corral doctor: %s\n", d->r.config_error);
        return CLI_USAGE;
    }
    return report_problems(&d->r) ? CLI_FAILED : CLI_OK;
}

int cli_doctor(int argc, char **argv)
{
    struct doctor d;
    int r;
    memset(&d, 0, sizeof(d));
    r = parse(&d, argc, argv);
    if (r >= 0)
        return r;
    r = own_open(&d.o, d.file, d.state_dir);
    if (r == 0)
        r = run(&d);
    own_close(&d.o);
    report_free(&d.r);
    cfg_free(d.m);
    free(d.cpu_ns);
    return r;
}
