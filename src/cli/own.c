/* cli/own.c — find a corral instance's own processes and judge which are
 * orphans; open them only through identity-checked pidfds. */
#include "cli/own.h"

#include "cli/cli.h"
#include "cli/lock.h"
#include "cli/report.h"
#include "proc/cgroup.h"
#include "util/curlfn.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define API_TIMEOUT_MS 2000
#define API_BODY_MAX   (16 * 1024 * 1024)

/* --- instance ---------------------------------------------------------------------------- */

/* The id of a state directory that may no longer exist: its parent's real
 * path and its own name, as realpath() would have given them. */
static void instance_of(struct own *o)
{
    char copy[PATH_MAX], base[PATH_MAX], real[PATH_MAX], abs[2 * PATH_MAX + 2];
    if (proc_instance_of(o->c.state_dir, o->instance) == 0)
        return;
    snprintf(copy, sizeof(copy), "%s", o->c.state_dir);
    snprintf(base, sizeof(base), "%s", basename(copy));
    snprintf(copy, sizeof(copy), "%s", o->c.state_dir);
    if (realpath(dirname(copy), real))
        snprintf(abs, sizeof(abs), "%s/%s", strcmp(real, "/") ? real : "", base);
    else
        snprintf(abs, sizeof(abs), "%s", o->c.state_dir);
    proc_instance_hash(abs, o->instance);
}

int own_open(struct own *o, const char *file, const char *state_dir)
{
    struct stat sb;
    int r;
    memset(o, 0, sizeof(*o));
    o->api = -1;
    o->held_lock_fd = -1;
    r = client_open(&o->c, file, state_dir);
    if (r)
        return r;
    o->state_dir_exists = stat(o->c.state_dir, &sb) == 0 && S_ISDIR(sb.st_mode);
    instance_of(o);
    if (proc_boot_id_read(o->boot_id) < 0) {
        fprintf(stderr, "corral: cannot read the boot id from /proc\n");
        return CLI_FAILED;
    }
    return 0;
}

void own_close(struct own *o)
{
    for (size_t i = 0; i < o->n; i++)
        free(o->v[i].cgroup);
    free(o->v);
    for (size_t i = 0; i < o->n_cg; i++)
        free(o->cg_dirs[i]);
    free(o->cg_dirs);
    proc_snap_free(&o->snap);
    json_decref(o->info);
    json_decref(o->services);
    client_close(&o->c);
}

/* --- the running corral ------------------------------------------------------------------- */

static void lock_holder(struct own *o)
{
    char path[PATH_MAX + 16];
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    pid_t pid = 0;
    uid_t uid = geteuid();
    int fd;
    snprintf(path, sizeof(path), "%s/corral.lock", o->c.state_dir);
    /* A POSIX lock goes with the first close of any descriptor of its file
     * by its holder: never open and close another one then. */
    fd = o->held_lock_fd >= 0 ? o->held_lock_fd : open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd >= 0) {
        if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK) {
            if (fl.l_pid > 0 && cli_holder_is_cleanup(fl.l_pid)) {
                o->cleanup_pid = fl.l_pid; /* it holds the guard too */
            } else {
                o->running = true;
                o->corral_pid = fl.l_pid;
            }
        }
        if (fd != o->held_lock_fd)
            close(fd);
    }
    if (o->cleanup_pid)
        return;
    /* A corral whose state directory was removed or replaced while it runs
     * holds no lock here, but still its instance's guard (cleanup's own,
     * taken with the lock, does not count). Anyone may bind that abstract
     * name: a holder of another user is named as such, as corral up does. */
    if (o->running || cli_guard_holder(o->instance, &pid, &uid) <= 0 || pid == getpid())
        return;
    if (pid > 0 && uid != geteuid()) {
        o->guard_foreign_pid = pid;
        o->guard_foreign_uid = uid;
    } else {
        o->running = true;
        o->lock_lost = true;
        o->corral_pid = pid;
    }
}

struct body {
    char *data;
    size_t len;
};

static size_t collect(char *p, size_t size, size_t n, void *ctx)
{
    struct body *b = ctx;
    size_t len = size * n;
    char *d;
    if (b->len + len > API_BODY_MAX || !(d = realloc(b->data, b->len + len + 1)))
        return 0;
    memcpy(d + b->len, p, len);
    b->data = d;
    b->len += len;
    d[b->len] = '\0';
    return len;
}

int own_api_get(struct own *o, const char *path, json_t **out)
{
    char url[512];
    struct body b = {0};
    long status = 0;
    CURL *h = o->c.curl;
    CURLcode rc;
    *out = NULL;
    snprintf(url, sizeof(url), "http://corral%s", path);
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, o->c.sock);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    /* A corral that holds its lock but does not answer is a finding, not a
     * reason for doctor to hang. */
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)API_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    rc = curl_easy_perform(h);
    if (rc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (status == 200 && b.data)
        *out = json_loadb(b.data, b.len, 0, NULL);
    free(b.data);
    return *out ? 1 : 0;
}

const char *own_service_state(const struct own *o, const char *name)
{
    size_t i;
    json_t *s;
    json_array_foreach(o->services, i, s)
    {
        const char *n = json_string_value(json_object_get(s, "name"));
        if (n && !strcmp(n, name))
            return json_string_value(json_object_get(s, "state"));
    }
    return NULL;
}

static void ask_corral(struct own *o)
{
    json_t *body = NULL;
    if (!o->running)
        return;
    o->api = own_api_get(o, "/v1/services", &body);
    if (o->api == 1) {
        o->services = json_incref(json_object_get(body, "services"));
        (void)own_api_get(o, "/v1", &o->info);
    }
    json_decref(body);
}

/* --- the scan ------------------------------------------------------------------------------ */

struct member {
    pid_t pid;
    char *cgroup; /* relative to the mount */
    char service[PROC_SERVICE_LEN + 1];
};

struct members {
    struct own *o;
    const char *dir; /* the corral-<id> directory being walked */
    struct member *v;
    size_t n, cap;
    int err;
};

static void add_dir(void *ctx, const char *dir)
{
    struct own *o = ctx;
    char **v = realloc(o->cg_dirs, (o->n_cg + 1) * sizeof(*v));
    if (!v)
        return;
    o->cg_dirs = v;
    if ((v[o->n_cg] = strdup(dir)))
        o->n_cg++;
}

static void add_member(void *ctx, const char *sub, pid_t pid)
{
    struct members *ms = ctx;
    char rel[PATH_MAX];
    struct member *m;
    size_t svc_len = strcspn(sub, "/");
    if (ms->n == ms->cap) {
        size_t cap = ms->cap ? 2 * ms->cap : 64;
        struct member *v = realloc(ms->v, cap * sizeof(*v));
        if (!v) {
            ms->err = -ENOMEM;
            return;
        }
        ms->v = v;
        ms->cap = cap;
    }
    snprintf(rel, sizeof(rel), "%s%s%s", ms->dir + ms->o->cg_mount_len, *sub ? "/" : "", sub);
    m = &ms->v[ms->n];
    m->pid = pid;
    m->cgroup = strdup(rel);
    if (svc_len > PROC_SERVICE_LEN)
        svc_len = PROC_SERVICE_LEN;
    memcpy(m->service, sub, svc_len);
    m->service[svc_len] = '\0';
    if (!m->cgroup) {
        ms->err = -ENOMEM;
        return;
    }
    ms->n++;
}

static int find_members(struct own *o, struct members *ms)
{
    char name[PROC_INSTANCE_LEN + 16];
    snprintf(name, sizeof(name), "corral-%s", o->instance);
    if (proc_cgroup_find_named(name, add_dir, o, &o->cg_mount_len) < 0)
        return 0; /* no cgroup v2 here: nothing to find there */
    ms->o = o;
    for (size_t i = 0; i < o->n_cg && ms->err == 0; i++) {
        ms->dir = o->cg_dirs[i];
        (void)proc_cgroup_walk_procs(o->cg_dirs[i], add_member, ms);
    }
    return ms->err;
}

static struct own_proc *add_own(struct own *o, const struct proc_entry *e, uint64_t now_ns)
{
    struct own_proc *p = report_grow((void **)&o->v, &o->n, &o->cap, sizeof(*o->v));
    if (!p)
        return NULL;
    p->pid = e->pid;
    p->ppid = e->ppid;
    p->start_ticks = e->start_ticks;
    p->tagged = e->tagged;
    snprintf(p->service, sizeof(p->service), "%s", e->service);
    p->age_ms = proc_age_ms(e->start_ticks, now_ns);
    if (proc_cmdline_read(e->pid, p->command, sizeof(p->command)) <= 0)
        snprintf(p->command, sizeof(p->command), "[%s]", e->comm);
    return p;
}

/* Pair each entry with its cgroup membership; idx maps snapshot index to
 * own index. */
static int build(struct own *o, struct members *ms)
{
    uint64_t now = proc_boottime_ns();
    long *idx = malloc((o->snap.n + 1) * sizeof(*idx));
    int r = 0;
    if (!idx)
        return -ENOMEM;
    for (size_t i = 0; i < o->snap.n; i++)
        idx[i] = -1;
    for (size_t i = 0; i < ms->n && r == 0; i++) {
        struct proc_entry *e = proc_snap_find(&o->snap, ms->v[i].pid);
        struct own_proc *p;
        if (!e || e->state == 'Z' || idx[e - o->snap.v] >= 0)
            continue;
        if (!(p = add_own(o, e, now))) {
            r = -ENOMEM;
            break;
        }
        idx[e - o->snap.v] = (long)(o->n - 1);
        p->cgroup = ms->v[i].cgroup;
        ms->v[i].cgroup = NULL;
        if (ms->v[i].service[0])
            snprintf(p->service, sizeof(p->service), "%s", ms->v[i].service);
    }
    for (size_t i = 0; i < o->snap.n && r == 0; i++) {
        const struct proc_entry *e = &o->snap.v[i];
        if (!e->tagged || e->state == 'Z' || idx[i] >= 0 || e->pid == o->corral_pid)
            continue;
        if (!add_own(o, e, now))
            r = -ENOMEM;
    }
    free(idx);
    return r;
}

int own_scan(struct own *o)
{
    struct members ms = {0};
    int r;
    lock_holder(o);
    r = proc_snap_take(&o->snap, o->instance);
    if (r == 0)
        r = find_members(o, &ms);
    /* A process that joined the subtree after the walk: read it now. */
    for (size_t i = 0; r == 0 && i < ms.n; i++)
        if (!proc_snap_find(&o->snap, ms.v[i].pid))
            r = proc_snap_add(&o->snap, ms.v[i].pid, o->instance);
    if (r == 0)
        r = build(o, &ms);
    for (size_t i = 0; i < ms.n; i++)
        free(ms.v[i].cgroup);
    free(ms.v);
    if (r < 0)
        return r;
    ask_corral(o);
    for (size_t i = 0; i < o->n; i++) {
        struct own_proc *p = &o->v[i];
        /* A corral that does not answer cannot say what is live: then
         * nothing of it is called an orphan. */
        if (o->running && o->api != 1)
            continue;
        if (o->running && report_hook_cgroup(p->service))
            continue;
        p->orphan_why = report_orphan_why(o->running, own_service_state(o, p->service));
    }
    return 0;
}

/* --- signalling ----------------------------------------------------------------------------- */

static bool still_tagged(const struct own *o, const struct own_proc *p)
{
    enum { ENV_MAX = 256 * 1024 };
    char path[64], service[PROC_SERVICE_LEN + 1];
    char *env = malloc(ENV_MAX);
    bool ok = false;
    int n;
    if (!env)
        return false;
    snprintf(path, sizeof(path), "/proc/%d/environ", (int)p->pid);
    n = proc_read_at(AT_FDCWD, path, env, ENV_MAX);
    if (n > 0 && proc_environ_tag(env, (size_t)n, o->instance, service, sizeof(service)))
        ok = true;
    free(env);
    return ok;
}

int own_pidfd(const struct own *o, const struct own_proc *p)
{
    struct proc_id id = {.pid = p->pid, .start_ticks = p->start_ticks};
    int fd;
    snprintf(id.boot_id, sizeof(id.boot_id), "%s", o->boot_id);
    /* Opens the pidfd first, then checks boot id and start time. */
    fd = proc_ident_open(&id, o->boot_id);
    if (fd < 0)
        return fd;
    if ((p->cgroup && proc_cgroup_contains(p->pid, p->cgroup)) || (p->tagged && still_tagged(o, p)))
        return fd;
    close(fd);
    return -ESRCH;
}
