/* cli/report.c — doctor's findings as a table or as JSON, and which of them
 * are problems. */
#include "cli/report.h"

#include "supervisor/sup.h"
#include "util/utf8.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

void *report_grow(void **v, size_t *n, size_t *cap, size_t elem)
{
    char *p;
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 8;
        void *nv = realloc(*v, c * elem);
        if (!nv)
            return NULL;
        *v = nv;
        *cap = c;
    }
    p = (char *)*v + *n * elem;
    memset(p, 0, elem);
    (*n)++;
    return p;
}

int report_add_cgroup(struct doc_report *r, const char *dir)
{
    char **v = realloc(r->cgroups, (r->n_cgroups + 1) * sizeof(*v));
    if (!v)
        return -ENOMEM;
    r->cgroups = v;
    if (!(v[r->n_cgroups] = strdup(dir)))
        return -ENOMEM;
    r->n_cgroups++;
    return 0;
}

void report_free(struct doc_report *r)
{
    for (size_t i = 0; i < r->n_cgroups; i++)
        free(r->cgroups[i]);
    free(r->cgroups);
    free(r->zombies);
    free(r->orphans);
    free(r->foreign);
    free(r->hung);
    free(r->stale);
    free(r->conflicts);
    free(r->limits);
    memset(r, 0, sizeof(*r));
}

/* --- judgement ---------------------------------------------------------------------------- */

const char *report_orphan_why(bool running, const char *state)
{
    if (!running)
        return "no corral runs for its state directory";
    if (!state)
        return "its service is not configured in the running corral";
    if (sup_state_name_has_tree(state))
        return NULL;
    return "its service is not live in the running corral";
}

bool report_hook_cgroup(const char *name)
{
    return strncmp(name, ".hook-", 6) == 0;
}

size_t report_state_problems(const struct doc_state *s, const char **out, size_t max)
{
    size_t n = 0;
    if (s->dir_exists && !s->dir_writable && n < max)
        out[n++] = "the state directory is not writable";
    if (s->db_exists && !s->db_ok && n < max)
        out[n++] = "state.db is not usable";
    if (s->lock_held && s->lock_lost && n < max)
        out[n++] = "a corral runs this instance, but its state directory was removed or replaced "
                   "while it runs: stop it by its PID";
    else if (s->lock_held && !s->lock_cleanup && s->api == 0 && n < max)
        out[n++] = "a corral holds the lock but its API does not answer";
    if (s->guard_foreign_pid > 0 && n < max)
        out[n++] =
            "the instance's guard is held by a process of another user (state.lock.foreign): "
            "corral cannot start, nor cleanup act, until it lets go";
    return n;
}

size_t report_state_notes(const struct doc_state *s, const char **out, size_t max)
{
    size_t n = 0;
    if (!s->dir_exists && n < max)
        out[n++] = "the state directory does not exist (no corral ran here)";
    if (s->dir_exists && !s->db_exists && n < max)
        out[n++] = "no state.db yet";
    if (s->socket_exists && !s->lock_held && n < max)
        out[n++] = "corral.sock was left behind by a corral that is gone";
    if (s->db_set_aside > 0 && n < max)
        out[n++] = "unusable databases were moved aside earlier (state.db.bad-*)";
    return n;
}

size_t report_problems(const struct doc_report *r)
{
    const char *p[8];
    return r->n_zombies + r->n_orphans + r->n_foreign + r->n_hung + r->n_stale + r->n_conflicts +
           report_state_problems(&r->state, p, 8) + (r->containment_problem ? 1 : 0);
}

void report_age_text(uint64_t ms, char *buf, size_t size)
{
    unsigned long long s = (unsigned long long)(ms / 1000);
    if (ms < 1000)
        snprintf(buf, size, "%llums", (unsigned long long)ms);
    else if (s < 60)
        snprintf(buf, size, "%llus", s);
    else if (s < 3600)
        snprintf(buf, size, "%llum%llus", s / 60, s % 60);
    else if (s < 86400)
        snprintf(buf, size, "%lluh%llum", s / 3600, (s % 3600) / 60);
    else
        snprintf(buf, size, "%llud%lluh", s / 86400, (s % 86400) / 3600);
}

/* --- JSON ---------------------------------------------------------------------------------- */

/* Command lines come from /proc as their owners wrote them, and cut to a
 * buffer's size: not always UTF-8, which JSON strings must be (jansson would
 * refuse the whole object). */
static json_t *text(const char *s)
{
    json_t *j = json_string(s);
    char *clean;
    if (j)
        return j;
    clean = utf8_cleaned(s);
    j = clean ? json_string(clean) : NULL;
    free(clean);
    return j ? j : json_string("");
}

static json_t *str_or_null(const char *s)
{
    return s && *s ? text(s) : json_null();
}

static json_t *pid_or_null(pid_t pid)
{
    return pid > 0 ? json_integer(pid) : json_null();
}

static json_t *strings(const char **v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static json_t *state_json(const struct doc_state *s)
{
    const char *p[8], *notes[8];
    size_t np = report_state_problems(s, p, 8), nn = report_state_notes(s, notes, 8);
    json_t *db =
        json_pack("{s:b,s:b,s:o,s:o,s:I}", "exists", s->db_exists, "ok", s->db_ok, "schema_version",
                  s->db_schema >= 0 ? json_integer(s->db_schema) : json_null(), "error",
                  str_or_null(s->db_error), "set_aside", (json_int_t)s->db_set_aside);
    json_t *foreign = s->guard_foreign_pid > 0
                          ? json_pack("{s:i,s:I}", "pid", (int)s->guard_foreign_pid, "uid",
                                      (json_int_t)s->guard_foreign_uid)
                          : json_null();
    json_t *lock =
        json_pack("{s:b,s:b,s:o,s:o,s:b}", "held", s->lock_held, "lost", s->lock_lost, "pid",
                  pid_or_null(s->lock_pid), "foreign", foreign, "cleanup", s->lock_cleanup);
    json_t *sock = json_pack("{s:b,s:o}", "exists", s->socket_exists, "answers",
                             s->api < 0 ? json_null() : json_boolean(s->api == 1));
    return json_pack("{s:b,s:b,s:b,s:o,s:o,s:o,s:o,s:o}", "healthy", np == 0, "exists",
                     s->dir_exists, "writable", s->dir_writable, "database", db, "lock", lock,
                     "socket", sock, "problems", strings(p, np), "notes", strings(notes, nn));
}

static json_t *zombies_json(const struct doc_report *r)
{
    json_t *a = json_array();
    for (size_t i = 0; i < r->n_zombies; i++) {
        const struct doc_zombie *z = &r->zombies[i];
        json_array_append_new(a,
                              json_pack("{s:i,s:o,s:i,s:o,s:I}", "pid", (int)z->pid, "command",
                                        text(z->command), "ppid", (int)z->ppid, "parent_command",
                                        text(z->parent_command), "age_ms", (json_int_t)z->age_ms));
    }
    return a;
}

static json_t *orphans_json(const struct doc_report *r)
{
    json_t *a = json_array();
    for (size_t i = 0; i < r->n_orphans; i++) {
        const struct doc_orphan *o = &r->orphans[i];
        json_array_append_new(a, json_pack("{s:i,s:i,s:s,s:s,s:s,s:I,s:o}", "pid", (int)o->pid,
                                           "ppid", (int)o->ppid, "service", o->service, "why",
                                           o->why, "found_by", o->found_by, "age_ms",
                                           (json_int_t)o->age_ms, "command", text(o->command)));
    }
    return a;
}

static json_t *foreign_json(const struct doc_report *r)
{
    json_t *a = json_array();
    for (size_t i = 0; i < r->n_foreign; i++) {
        const struct doc_foreign *f = &r->foreign[i];
        json_t *ports = json_array();
        for (size_t k = 0; k < f->n_ports; k++)
            json_array_append_new(ports,
                                  json_pack("{s:i,s:s,s:s}", "port", (int)f->ports[k].port, "proto",
                                            f->ports[k].proto, "address", f->ports[k].address));
        json_array_append_new(
            a, json_pack("{s:i,s:i,s:o,s:s,s:o,s:I,s:o}", "pid", (int)f->pid, "ppid", (int)f->ppid,
                         "parent_command", text(f->parent_command), "user", f->user, "command",
                         text(f->command), "age_ms", (json_int_t)f->age_ms, "ports", ports));
    }
    return a;
}

static json_t *hung_json(const struct doc_report *r)
{
    json_t *a = json_array();
    for (size_t i = 0; i < r->n_hung; i++) {
        const struct doc_hung *h = &r->hung[i];
        json_array_append_new(a, json_pack("{s:i,s:s,s:f,s:o}", "pid", (int)h->pid, "service",
                                           h->service, "cpu_percent", h->cpu_percent, "command",
                                           text(h->command)));
    }
    return a;
}

static json_t *stale_json(const struct doc_report *r)
{
    json_t *a = json_array();
    for (size_t i = 0; i < r->n_stale; i++) {
        const struct doc_stale *s = &r->stale[i];
        json_array_append_new(a, json_pack("{s:s,s:o,s:s}", "service", s->service, "pid",
                                           pid_or_null(s->pid), "why", s->why));
    }
    return a;
}

static json_t *conflicts_json(const struct doc_report *r)
{
    json_t *a = json_array();
    for (size_t i = 0; i < r->n_conflicts; i++) {
        const struct doc_conflict *c = &r->conflicts[i];
        json_array_append_new(a,
                              json_pack("{s:s,s:i,s:s,s:o,s:o}", "service", c->service, "port",
                                        (int)c->port, "proto", c->proto, "pid", pid_or_null(c->pid),
                                        "command", str_or_null(c->command)));
    }
    return a;
}

/* The controllers as a list of names, null when the containment has none to give. */
static json_t *controllers_json(const struct doc_report *r)
{
    json_t *a;
    char buf[64];
    if (!r->controllers_source)
        return json_null();
    a = json_array();
    snprintf(buf, sizeof(buf), "%s", r->controllers);
    for (char *save = NULL, *w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save))
        json_array_append_new(a, json_string(w));
    return a;
}

static json_t *limits_json(const struct doc_report *r)
{
    json_t *a = json_array();
    for (size_t i = 0; i < r->n_limits; i++) {
        const struct doc_limit *l = &r->limits[i];
        json_array_append_new(a, json_pack("{s:s,s:s,s:I,s:s,s:s}", "service", l->service, "limit",
                                           l->limit, "value", (json_int_t)l->value, "enforced_by",
                                           l->enforced_by, "how", l->how));
    }
    return a;
}

int report_json(const struct doc_report *r, FILE *out)
{
    json_t *cgroups = strings((const char **)r->cgroups, r->n_cgroups);
    json_t *contain =
        json_pack("{s:s,s:s,s:s,s:b,s:o}", "mode", r->containment, "reason", r->containment_reason,
                  "source", r->containment_source ? r->containment_source : "", "problem",
                  r->containment_problem, "cgroups", cgroups);
    if (contain)
        json_object_set_new(contain, "controllers", controllers_json(r));
    json_t *config = json_pack("{s:o,s:o}", "path", str_or_null(r->config), "error",
                               str_or_null(r->config_error));
    size_t problems = report_problems(r);
    json_t *body = json_pack(
        "{s:i,s:b,s:I,s:s,s:s,s:o,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "schema",
        REPORT_JSON_SCHEMA, "healthy", problems == 0, "problems", (json_int_t)problems, "state_dir",
        r->state_dir, "instance", r->instance, "config", config, "window_ms",
        (json_int_t)r->window_ms, "containment", contain, "state", state_json(&r->state), "zombies",
        zombies_json(r), "orphans", orphans_json(r), "foreign_orphans", foreign_json(r), "hung",
        hung_json(r), "stale_records", stale_json(r), "port_conflicts", conflicts_json(r));
    int rc;
    if (!body)
        return -ENOMEM;
    json_object_set_new(body, "limits", limits_json(r));
    json_object_set_new(body, "log_writes",
                        json_pack("{s:s,s:s,s:s}", "mode", r->log_writes, "reason",
                                  r->log_writes_reason, "source",
                                  r->log_writes_source ? r->log_writes_source : ""));
    rc = json_dumpf(body, out, JSON_INDENT(2) | JSON_REAL_PRECISION(4));
    fputc('\n', out);
    json_decref(body);
    return rc < 0 ? -EIO : 0;
}

/* --- table ------------------------------------------------------------------------------- */

static void heading(FILE *out, const char *title, size_t n)
{
    if (n == 0)
        fprintf(out, "\n%s: none\n", title);
    else
        fprintf(out, "\n%s: %zu\n", title, n);
}

static void table_state(const struct doc_report *r, FILE *out)
{
    const struct doc_state *s = &r->state;
    const char *v[8];
    char pid[32] = "pid unknown";
    size_t n;
    fprintf(out, "state dir   %s (instance %s)\n", r->state_dir, r->instance);
    if (r->config[0])
        fprintf(out, "config      %s%s%s\n", r->config, r->config_error[0] ? ": " : "",
                r->config_error);
    if (s->lock_pid > 0)
        snprintf(pid, sizeof(pid), "pid %d", (int)s->lock_pid);
    if (s->lock_cleanup)
        fprintf(out, "corral      not running; corral cleanup (%s) is stopping its orphans\n", pid);
    else if (s->lock_held)
        fprintf(out, "corral      running (%s), API %s\n", pid,
                s->api == 1 ? "answers" : "does not answer");
    else if (s->guard_foreign_pid > 0)
        fprintf(out, "corral      not running; its guard is held by pid %d of uid %u\n",
                (int)s->guard_foreign_pid, s->guard_foreign_uid);
    else
        fprintf(out, "corral      not running\n");
    if (s->db_exists)
        fprintf(out, "state.db    %s%s%s\n", s->db_ok ? "ok" : "NOT USABLE",
                s->db_error[0] ? ": " : "", s->db_error);
    if (s->db_exists && s->db_schema >= 0)
        fprintf(out, "            schema %d, quick_check %s\n", s->db_schema,
                s->db_intact ? "ok" : "failed");
    fprintf(out, "containment %s: %s (%s)%s\n", r->containment, r->containment_reason,
            r->containment_source ? r->containment_source : "",
            r->containment_problem ? "  PROBLEM" : "");
    for (size_t i = 0; i < r->n_cgroups; i++)
        fprintf(out, "            cgroup %s\n", r->cgroups[i]);
    if (r->controllers_source)
        fprintf(out, "controllers %s (%s)\n", r->controllers[0] ? r->controllers : "none delegated",
                r->controllers_source);
    if (r->log_writes[0])
        fprintf(out, "log writes  %s: %s (%s)\n", r->log_writes, r->log_writes_reason,
                r->log_writes_source ? r->log_writes_source : "");
    for (size_t i = 0; i < r->n_limits; i++)
        fprintf(out, "limit       %s %s: %s, %s\n", r->limits[i].service, r->limits[i].limit,
                r->limits[i].enforced_by, r->limits[i].how);
    n = report_state_problems(s, v, 8);
    for (size_t i = 0; i < n; i++)
        fprintf(out, "PROBLEM     %s\n", v[i]);
    n = report_state_notes(s, v, 8);
    for (size_t i = 0; i < n; i++)
        fprintf(out, "note        %s\n", v[i]);
}

static void table_lists(const struct doc_report *r, FILE *out)
{
    char age[32];
    heading(out, "zombies", r->n_zombies);
    if (r->n_zombies)
        fprintf(out, "  %7s  %-16s %8s  %7s  %s\n", "PID", "COMMAND", "AGE", "PPID",
                "PARENT (reaps it, or should)");
    for (size_t i = 0; i < r->n_zombies; i++) {
        const struct doc_zombie *z = &r->zombies[i];
        report_age_text(z->age_ms, age, sizeof(age));
        fprintf(out, "  %7d  %-16s %8s  %7d  %s\n", (int)z->pid, z->command, age, (int)z->ppid,
                z->parent_command);
    }
    heading(out, "orphans of this corral", r->n_orphans);
    if (r->n_orphans)
        fprintf(out, "  %7s  %-14s %8s  %-10s %s\n", "PID", "SERVICE", "AGE", "FOUND BY",
                "COMMAND");
    for (size_t i = 0; i < r->n_orphans; i++) {
        const struct doc_orphan *o = &r->orphans[i];
        report_age_text(o->age_ms, age, sizeof(age));
        fprintf(out, "  %7d  %-14s %8s  %-10s %s\n", (int)o->pid, o->service, age, o->found_by,
                o->command);
    }
    if (r->n_orphans)
        fprintf(out, "  (%s; `corral cleanup` stops them)\n", r->orphans[0].why);
    heading(out, "foreign orphans holding ports", r->n_foreign);
    for (size_t i = 0; i < r->n_foreign; i++) {
        const struct doc_foreign *f = &r->foreign[i];
        report_age_text(f->age_ms, age, sizeof(age));
        fprintf(out, "  %7d  %-10s %8s  ppid %d  ", (int)f->pid, f->user, age, (int)f->ppid);
        for (size_t k = 0; k < f->n_ports; k++)
            fprintf(out, "%s%s %s:%u", k ? ", " : "", f->ports[k].proto, f->ports[k].address,
                    f->ports[k].port);
        fprintf(out, "  %s\n", f->command);
    }
}

static void table_rest(const struct doc_report *r, FILE *out)
{
    heading(out, "hung (CPU pinned)", r->n_hung);
    for (size_t i = 0; i < r->n_hung; i++)
        fprintf(out, "  %7d  %-14s %5.1f%% of a core over %llums  %s\n", (int)r->hung[i].pid,
                r->hung[i].service, r->hung[i].cpu_percent, (unsigned long long)r->window_ms,
                r->hung[i].command);
    heading(out, "stale state records", r->n_stale);
    for (size_t i = 0; i < r->n_stale; i++)
        fprintf(out, "  %-14s pid %-7d %s\n", r->stale[i].service, (int)r->stale[i].pid,
                r->stale[i].why);
    heading(out, "port conflicts", r->n_conflicts);
    for (size_t i = 0; i < r->n_conflicts; i++)
        fprintf(out, "  %-14s %s %u held by pid %d  %s\n", r->conflicts[i].service,
                r->conflicts[i].proto, r->conflicts[i].port, (int)r->conflicts[i].pid,
                r->conflicts[i].command);
}

void report_table(const struct doc_report *r, FILE *out)
{
    size_t n = report_problems(r);
    table_state(r, out);
    table_lists(r, out);
    table_rest(r, out);
    if (n == 0)
        fprintf(out, "\nhealthy: no problem found\n");
    else
        fprintf(out, "\n%zu problem%s found\n", n, n == 1 ? "" : "s");
}
