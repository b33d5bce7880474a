/* supervisor/ports.c — before a service spawns, is any of its ports held? If
 * so, by whom, retried when, and, when the holder is an orphan of this
 * corral's own, stopped: through a pidfd opened before its identity and tag
 * are checked again, stop signal first, SIGKILL after the stop timeout. */
#include "supervisor/ports.h"

#include "proc/cgroup.h"
#include "proc/ports.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ORPHANS_MAX 8 /* stopped at once per service; more wait for the next retry */
#define ENVIRON_MAX (256 * 1024)
#define ATTEMPT_MAX 64
/* A check reads every process's sockets: with restart.initial 0 the backoff
 * alone would repeat it at once, for as long as the port stays held. */
#define RECHECK_MIN_MS 100

/* An orphan being stopped: its pidfd pins it, so the SIGKILL that may follow
 * cannot reach a process that reused its PID. */
struct orphan {
    struct ports_block *pb;
    int pidfd; /* -1: the slot is free */
    struct loop_watch *watch;
    pid_t pid;
    uint64_t kill_due_ms;
    bool killed;
};

/* An orphan found by a check, not yet signalled. */
struct found {
    struct proc_id id;
    char service[CFG_MAX_NAME + 1];
};

struct ports_block {
    struct service *svc;
    bool blocked;  /* holder is the current reason */
    bool reported; /* an event named report_pid / report_port */
    pid_t report_pid;
    unsigned report_port;
    enum cfg_proto report_proto;
    unsigned attempt;
    struct sup_holder holder;
    struct found found[ORPHANS_MAX];
    size_t n_found;
    struct orphan orphans[ORPHANS_MAX];
    struct loop_timer kill_timer;
    /* A holder not corral's, watched through a pidfd (only watched, never
     * signalled): its exit brings the next check forward, so the service
     * starts, and its reason stops naming it, at once. */
    int holder_fd;
    pid_t holder_pid;
    struct loop_watch *holder_watch;
};

/* One check: the holder to name (a foreign one before an orphan, which is
 * about to go) and the orphans to stop. */
struct scan {
    struct service *svc;
    char *env;
    struct sup_holder shown;
    bool have_shown;
    struct found found[ORPHANS_MAX];
    size_t n_found;
};

static bool is_live(enum svc_state st)
{
    return sup_state_up(st) || st == SVC_STOPPING;
}

static enum cfg_proto proto_of(const struct proc_sock *s)
{
    return s->proto == PROC_UDP ? CFG_PROTO_UDP : CFG_PROTO_TCP;
}

static bool declared(const struct cfg_service *c, const struct proc_sock *s)
{
    for (size_t i = 0; i < c->n_ports; i++)
        if (c->ports[i].port == s->port && c->ports[i].proto == proto_of(s))
            return true;
    return false;
}

/* A command line may hold newlines; a reason is one line. */
static void one_line(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < ' ' || *s == 0x7f)
            *s = ' ';
}

static void user_name(uid_t uid, char *out, size_t size)
{
    struct passwd pw, *res = NULL;
    char buf[1024];
    if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res)
        snprintf(out, size, "%s", pw.pw_name);
    else
        snprintf(out, size, "%u", (unsigned)uid);
}

/* Which service of this corral pid belongs to, by its tag or else by its
 * cgroup; returns true when that service is not live (an orphan). */
static bool owner_of(struct sup *s, pid_t pid, char *env, char *service, size_t size)
{
    char path[64];
    const struct service *o;
    int n;
    service[0] = '\0';
    if (pid <= 0 || pid == getpid())
        return false;
    snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
    n = proc_read_at(AT_FDCWD, path, env, ENVIRON_MAX);
    if (n <= 0 || !proc_environ_tag(env, (size_t)n, s->instance, service, size))
        contain_cgroup_owner(s, pid, service, size);
    if (!service[0])
        return false;
    o = sup_by_name(s, service);
    return !o || !is_live(o->state);
}

static void on_holder(void *ctx, const struct proc_port_holder *h)
{
    struct scan *sc = ctx;
    struct sup *s = sc->svc->sup;
    struct sup_holder x;
    struct found f;
    if (!declared(sc->svc->cfg, &h->sock))
        return;
    /* Only now, with a holder to judge, is an environ buffer worth having. */
    if (!sc->env && !(sc->env = malloc(ENVIRON_MAX)))
        return;
    memset(&x, 0, sizeof(x));
    x.port = h->sock.port;
    x.proto = proto_of(&h->sock);
    x.pid = h->pid;
    proc_sock_addr_text(&h->sock, x.address, sizeof(x.address));
    user_name(h->sock.uid, x.user, sizeof(x.user));
    if (h->pid > 0 && proc_cmdline_read(h->pid, x.command, sizeof(x.command)) < 0)
        x.command[0] = '\0';
    one_line(x.command);
    x.orphan = owner_of(s, h->pid, sc->env, x.service, sizeof(x.service));
    if (x.orphan && sc->n_found < ORPHANS_MAX && proc_ident_read(h->pid, s->boot_id, &f.id) == 0) {
        memcpy(f.service, x.service, sizeof(f.service));
        sc->found[sc->n_found++] = f;
    }
    if (!sc->have_shown || (sc->shown.orphan && !x.orphan)) {
        sc->shown = x;
        sc->have_shown = true;
    }
}

static void on_kill_due(struct loop *lp, void *data);

static struct ports_block *block_of(struct service *svc)
{
    struct ports_block *pb = svc->ports;
    if (pb)
        return pb;
    pb = calloc(1, sizeof(*pb));
    if (!pb)
        return NULL;
    pb->svc = svc;
    pb->holder_fd = -1;
    loop_timer_init(&pb->kill_timer, on_kill_due, pb);
    for (size_t i = 0; i < ORPHANS_MAX; i++) {
        pb->orphans[i].pb = pb;
        pb->orphans[i].pidfd = -1;
    }
    svc->ports = pb;
    return pb;
}

int ports_check(struct service *svc)
{
    const struct cfg_service *c = svc->cfg;
    unsigned nums[CFG_MAX_PORTS];
    struct scan sc = {.svc = svc};
    struct ports_block *pb;
    int r;
    if (!c->n_ports) {
        ports_unblock(svc);
        return 0;
    }
    for (size_t i = 0; i < c->n_ports && i < CFG_MAX_PORTS; i++)
        nums[i] = c->ports[i].port;
    /* /proc/PID/fd is walked only when /proc/net shows a holding socket. */
    r = proc_ports_find(nums, c->n_ports < CFG_MAX_PORTS ? c->n_ports : CFG_MAX_PORTS, on_holder,
                        &sc);
    free(sc.env);
    pb = r > 0 && sc.have_shown ? block_of(svc) : NULL;
    if (!pb) {
        ports_unblock(svc);
        return 0;
    }
    sc.shown.checks = pb->blocked ? pb->holder.checks + 1 : 1;
    pb->holder = sc.shown;
    memcpy(pb->found, sc.found, sizeof(sc.found));
    pb->n_found = sc.n_found;
    pb->blocked = true;
    return 1;
}

/* --- orphans ------------------------------------------------------------------------ */

static void orphan_close(struct orphan *o)
{
    struct loop *lp = o->pb->svc->sup->lp;
    loop_watch_del(lp, o->watch);
    o->watch = NULL;
    if (o->pidfd >= 0)
        close(o->pidfd);
    o->pidfd = -1;
}

/* The pidfd turns readable when the process exits: the port may be free. */
static void on_orphan_exit(struct loop *lp, int fd, uint32_t events, void *data)
{
    struct orphan *o = data;
    struct service *svc = o->pb->svc;
    (void)fd;
    (void)events;
    orphan_close(o);
    if (svc->state == SVC_BLOCKED)
        loop_timer_arm(lp, &svc->timer, 0);
}

static void arm_kill(struct ports_block *pb)
{
    struct loop *lp = pb->svc->sup->lp;
    uint64_t now = loop_now_ms(), due = UINT64_MAX;
    for (size_t i = 0; i < ORPHANS_MAX; i++)
        if (pb->orphans[i].pidfd >= 0 && !pb->orphans[i].killed && pb->orphans[i].kill_due_ms < due)
            due = pb->orphans[i].kill_due_ms;
    if (due == UINT64_MAX)
        loop_timer_disarm(lp, &pb->kill_timer);
    else
        loop_timer_arm(lp, &pb->kill_timer, due > now ? due - now : 0);
}

static void on_kill_due(struct loop *lp, void *data)
{
    struct ports_block *pb = data;
    uint64_t now = loop_now_ms();
    (void)lp;
    for (size_t i = 0; i < ORPHANS_MAX; i++) {
        struct orphan *o = &pb->orphans[i];
        if (o->pidfd < 0 || o->killed || o->kill_due_ms > now)
            continue;
        o->killed = true;
        (void)proc_pidfd_signal(o->pidfd, SIGKILL);
    }
    arm_kill(pb);
}

static bool stopping(const struct ports_block *pb, pid_t pid)
{
    for (size_t i = 0; i < ORPHANS_MAX; i++)
        if (pb->orphans[i].pidfd >= 0 && pb->orphans[i].pid == pid)
            return true;
    return false;
}

static struct orphan *free_slot(struct ports_block *pb)
{
    for (size_t i = 0; i < ORPHANS_MAX; i++)
        if (pb->orphans[i].pidfd < 0)
            return &pb->orphans[i];
    return NULL;
}

/* Pin the process with a pidfd, then check that it is still the one found
 * (start time, in proc_ident_open) and still an orphan of the same service,
 * and only then signal it, through that pidfd. */
static void stop_orphan(struct ports_block *pb, const struct found *f, char *env)
{
    struct service *svc = pb->svc;
    struct sup *s = svc->sup;
    const struct service *named = sup_by_name(s, f->service);
    const struct cfg_stop *st = named ? &named->cfg->stop : &svc->cfg->stop;
    struct orphan *o = free_slot(pb);
    char service[CFG_MAX_NAME + 1], cmd[512];
    int fd;
    if (!o || stopping(pb, f->id.pid))
        return;
    fd = proc_ident_open(&f->id, s->boot_id);
    if (fd < 0)
        return;
    if (!owner_of(s, f->id.pid, env, service, sizeof(service)) ||
        strcmp(service, f->service) != 0) {
        close(fd);
        return;
    }
    /* Read while it surely still runs: the signal may end it at once. */
    if (proc_cmdline_read(f->id.pid, cmd, sizeof(cmd)) < 0)
        cmd[0] = '\0';
    one_line(cmd);
    if (proc_pidfd_signal(fd, st->signal) < 0) {
        close(fd);
        return;
    }
    o->pidfd = fd;
    o->pid = f->id.pid;
    o->killed = false;
    o->kill_due_ms = loop_now_ms() + st->timeout_ms;
    o->watch = loop_watch_add(s->lp, fd, EPOLLIN, on_orphan_exit, o);
    /* Without a watch its exit is seen by the next retry. */
    arm_kill(pb);
    sup_emit(s, SUP_EV_ORPHAN, svc, f->id.pid, cmd);
}

/* --- blocked ------------------------------------------------------------------------ */

static void holder_close(struct ports_block *pb)
{
    loop_watch_del(pb->svc->sup->lp, pb->holder_watch);
    pb->holder_watch = NULL;
    if (pb->holder_fd >= 0)
        close(pb->holder_fd);
    pb->holder_fd = -1;
    pb->holder_pid = 0;
}

static void on_holder_exit(struct loop *lp, int fd, uint32_t events, void *data)
{
    struct ports_block *pb = data;
    (void)fd;
    (void)events;
    holder_close(pb);
    if (pb->svc->state == SVC_BLOCKED)
        loop_timer_arm(lp, &pb->svc->timer, 0);
}

/* A PID reused between the check and the open only brings a check forward. */
static void watch_holder(struct ports_block *pb)
{
    const struct sup_holder *h = &pb->holder;
    if (!h->pid || h->orphan) { /* an orphan has its own watch (stop_orphan) */
        holder_close(pb);
        return;
    }
    if (pb->holder_fd >= 0 && pb->holder_pid == h->pid)
        return;
    holder_close(pb);
    pb->holder_fd = (int)syscall(SYS_pidfd_open, h->pid, 0);
    if (pb->holder_fd < 0)
        return; /* gone already, or no pidfd: the next retry sees to it */
    pb->holder_pid = h->pid;
    pb->holder_watch = loop_watch_add(pb->svc->sup->lp, pb->holder_fd, EPOLLIN, on_holder_exit, pb);
    if (!pb->holder_watch)
        holder_close(pb);
}

/* Most telling first: a long command line is what a full buffer cuts. */
static void describe(const struct sup_holder *h, char *buf, size_t size)
{
    const char *who = h->orphan ? ", an orphan of corral's service '" : ", of corral's service '";
    if (!h->pid) {
        snprintf(buf, size,
                 "port %u/%s is held on %s by a socket of user %s that no visible process has "
                 "open",
                 h->port, cfg_proto_name(h->proto), h->address, h->user);
        return;
    }
    snprintf(buf, size, "port %u/%s is held on %s by pid %d (user %s%s%s%s%s): %s", h->port,
             cfg_proto_name(h->proto), h->address, (int)h->pid, h->user, h->service[0] ? who : "",
             h->service, h->service[0] ? "'" : "", h->orphan ? ": stopping it" : "",
             h->command[0] ? h->command : "?");
}

void ports_blocked(struct service *svc)
{
    struct ports_block *pb = svc->ports;
    struct sup *s = svc->sup;
    const struct sup_holder *h;
    char why[SUP_REASON_MAX];
    uint64_t delay;
    char *env;
    if (!pb || !pb->blocked)
        return;
    h = &pb->holder;
    describe(h, why, sizeof(why));
    svc_set_reason(svc, "%s", why);
    watch_holder(pb);
    /* A socket whose owner was not seen is most often one being closed as
     * /proc was read: no news about a port already reported. */
    if (!pb->reported || (h->pid && pb->report_pid != h->pid) || pb->report_port != h->port ||
        pb->report_proto != h->proto) {
        pb->reported = true;
        pb->report_pid = h->pid;
        pb->report_port = h->port;
        pb->report_proto = h->proto;
        sup_emit(s, SUP_EV_BLOCKED, svc, h->pid, svc_reason(svc));
    }
    env = pb->n_found ? malloc(ENVIRON_MAX) : NULL;
    for (size_t i = 0; env && i < pb->n_found; i++)
        stop_orphan(pb, &pb->found[i], env);
    free(env);
    pb->n_found = 0;
    /* The restart backoff, but not a restart: a port held by someone else is
     * not a crash loop, so neither runs nor the give-up window move. */
    s->rng = s->rng * 1664525u + 1013904223u;
    delay = sup_backoff_ms(&svc->cfg->restart, pb->attempt, s->rng);
    if (delay < RECHECK_MIN_MS)
        delay = RECHECK_MIN_MS;
    if (pb->attempt < ATTEMPT_MAX)
        pb->attempt++;
    loop_timer_arm(s->lp, &svc->timer, delay);
}

void ports_unblock(struct service *svc)
{
    struct ports_block *pb = svc->ports;
    if (!pb)
        return;
    if (pb->blocked)
        svc_set_reason(svc, "%s", ""); /* it said which port was held */
    holder_close(pb);
    pb->blocked = false;
    pb->reported = false;
    pb->attempt = 0;
    pb->n_found = 0;
}

const struct sup_holder *ports_holder(const struct service *svc)
{
    const struct ports_block *pb = svc->ports;
    return pb && pb->blocked && svc->state == SVC_BLOCKED ? &pb->holder : NULL;
}

void ports_free(struct service *svc)
{
    struct ports_block *pb = svc->ports;
    if (!pb)
        return;
    for (size_t i = 0; i < ORPHANS_MAX; i++) {
        struct orphan *o = &pb->orphans[i];
        if (o->pidfd >= 0 && !o->killed)
            (void)proc_pidfd_signal(o->pidfd, SIGKILL);
        orphan_close(o);
    }
    loop_timer_disarm(svc->sup->lp, &pb->kill_timer);
    holder_close(pb);
    free(pb);
    svc->ports = NULL;
}
