/* cli/ctl.c — the commands that drive a running corral through its API:
 * status, start, stop, restart, signal, logs, tree, events, reload, down. */
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/since.h"
#include "config/config.h"
#include "health/limits.h"
#include "util/utf8.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WAIT_POLL_MS      50
#define STABLE_MS         1000 /* a run this long counts as started */
#define WAIT_DEFAULT_S    120
#define NAMES_PARAM_MAX   8192
#define API_NAMES_MAX_CLI 64        /* of POST /v1/restart; more go one by one */
#define STATS_WINDOW_MS   500       /* status --stats: between the two samples of a CPU rate */
#define TIMEOUT_MAX_S     31536000L /* a year: --timeout in ms must not overflow */

struct ctl {
    const char *cmd;
    const char *file;
    const char *state_dir;
    bool json;
    bool no_wait;
    bool follow;
    bool stats; /* status: CPU and memory columns */
    long tail;
    long timeout_s;
    const char *since;
    const char *until;
    struct cli_when since_w, until_w; /* what since and until say */
    char **args;
    int n_args;
    struct client c;
};

/* --- options -------------------------------------------------------------------------- */

static void usage(const struct ctl *t, FILE *out)
{
    bool stream = !strcmp(t->cmd, "logs") || !strcmp(t->cmd, "events");
    fprintf(out, "usage: corral %s [%s FILE] [--state-dir DIR] ...\n       (see corral help)\n",
            t->cmd, stream ? "--file" : "-f");
}

/* The options each command takes beyond -f/--file, --state-dir and --help,
 * as getopt returns them ('f' is follow for logs and events). One given to a
 * command that would ignore it is a usage error: `logs --since 1h` printing
 * the whole tail would mislead. */
static const struct {
    const char *cmd;
    const char *opts;
} takes_opts[] = {
    {"status", "jX"},  {"ps", "jX"},    {"start", "WT"}, {"stop", "WT"},
    {"restart", "WT"}, {"signal", ""},  {"logs", "fLn"}, {"events", "fLnsUj"},
    {"tree", "j"},     {"reload", "j"}, {"down", "WT"},
};

static const char *option_name(int c)
{
    switch (c) {
    case 'j':
        return "--json";
    case 'W':
        return "--no-wait";
    case 'f':
    case 'L':
        return "--follow";
    case 'n':
        return "-n/--lines";
    case 's':
        return "--since";
    case 'U':
        return "--until";
    case 'X':
        return "--stats";
    case 'T':
        return "--timeout";
    default:
        return "?";
    }
}

static bool takes_option(const char *cmd, int c)
{
    for (size_t i = 0; i < sizeof(takes_opts) / sizeof(*takes_opts); i++)
        if (!strcmp(cmd, takes_opts[i].cmd))
            return strchr(takes_opts[i].opts, c) != NULL;
    return true; /* a command not listed is refused later */
}

static int parse(struct ctl *t, int argc, char **argv)
{
    /* logs and events read -f as "follow", like tail -f; the file is --file. */
    bool stream = !strcmp(t->cmd, "logs") || !strcmp(t->cmd, "events");
    static const struct option opts[] = {
        {"file", required_argument, NULL, 'F'},  {"state-dir", required_argument, NULL, 'S'},
        {"json", no_argument, NULL, 'j'},        {"no-wait", no_argument, NULL, 'W'},
        {"follow", no_argument, NULL, 'L'},      {"lines", required_argument, NULL, 'n'},
        {"since", required_argument, NULL, 's'}, {"timeout", required_argument, NULL, 'T'},
        {"until", required_argument, NULL, 'U'}, {"stats", no_argument, NULL, 'X'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
    };
    int c;
    t->tail = -1;
    t->timeout_s = WAIT_DEFAULT_S;
    while ((c = getopt_long(argc, argv, stream ? "fn:h" : "f:n:h", opts, NULL)) != -1) {
        char *end;
        if (c != 'F' && c != 'S' && c != 'h' && c != '?' && (c != 'f' || stream) &&
            !takes_option(t->cmd, c)) {
            fprintf(stderr, "corral %s: %s is not an option of this command\n", t->cmd,
                    option_name(c));
            usage(t, stderr);
            return CLI_USAGE;
        }
        switch (c) {
        case 'f':
            if (stream)
                t->follow = true;
            else
                t->file = optarg;
            break;
        case 'F':
            t->file = optarg;
            break;
        case 'S':
            t->state_dir = optarg;
            break;
        case 'j':
            t->json = true;
            break;
        case 'W':
            t->no_wait = true;
            break;
        case 'L':
            t->follow = true;
            break;
        case 'X':
            t->stats = true;
            break;
        case 'n':
            errno = 0;
            t->tail = strtol(optarg, &end, 10);
            if (*end || end == optarg || errno || t->tail < 0) {
                fprintf(stderr, "corral %s: -n takes a number of lines\n", t->cmd);
                return CLI_USAGE;
            }
            break;
        case 's':
        case 'U': {
            char msg[256];
            struct timespec now;
            clock_gettime(CLOCK_REALTIME, &now);
            if (cli_when_parse(optarg, (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000,
                               c == 's' ? &t->since_w : &t->until_w, msg, sizeof(msg)) < 0) {
                fprintf(stderr, "corral %s: %s: %s\n", t->cmd, c == 's' ? "--since" : "--until",
                        msg);
                return CLI_USAGE;
            }
            *(c == 's' ? &t->since : &t->until) = optarg;
            break;
        }
        case 'T':
            errno = 0;
            t->timeout_s = strtol(optarg, &end, 10);
            if (*end || errno || t->timeout_s <= 0 || t->timeout_s > TIMEOUT_MAX_S) {
                fprintf(stderr, "corral %s: --timeout takes seconds, 1 to %ld\n", t->cmd,
                        TIMEOUT_MAX_S);
                return CLI_USAGE;
            }
            break;
        case 'h':
            usage(t, stdout);
            return CLI_OK;
        default:
            usage(t, stderr);
            return CLI_USAGE;
        }
    }
    if (stream && optind < argc && !strcmp(argv[optind], "-f")) {
        t->follow = true; /* "corral logs web -f" */
        optind++;
    }
    t->args = argv + optind;
    t->n_args = argc - optind;
    return -1;
}

/* --- formatting ----------------------------------------------------------------------- */

static void human_ms(json_int_t ms, char *buf, size_t size)
{
    long long s = (long long)(ms / 1000);
    if (ms <= 0)
        snprintf(buf, size, "-");
    else if (s < 60)
        snprintf(buf, size, "%llds", s);
    else if (s < 3600)
        snprintf(buf, size, "%lldm%llds", s / 60, s % 60);
    else if (s < 86400)
        snprintf(buf, size, "%lldh%lldm", s / 3600, (s % 3600) / 60);
    else
        snprintf(buf, size, "%lldd%lldh", s / 86400, (s % 86400) / 3600);
}

static const char *jget(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* A string of the answer as a terminal may show it (utf8_printable): a
 * STATUS= or a notify message is the service's, or a stranger's, and must
 * not drive the operator's terminal. Four at a time may be in use. */
static const char *jshow(const json_t *o, const char *k)
{
    static char bufs[4][2048];
    static unsigned next;
    char *b = bufs[next++ % 4];
    snprintf(b, sizeof(bufs[0]), "%s", jget(o, k));
    utf8_printable(b);
    return b;
}

static json_int_t jint(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

/* With stats: the tree's CPU % and RSS, "-" where unknown. */
static void stats_cells(const json_t *s, char *cpu, size_t cn, char *rss, size_t rn)
{
    const json_t *st = json_object_get(s, "stats");
    const json_t *pct = json_object_get(st, "cpu_percent");
    snprintf(cpu, cn, "-");
    snprintf(rss, rn, "-");
    if (json_is_number(pct))
        snprintf(cpu, cn, "%.1f", json_number_value(pct));
    if (json_is_true(json_object_get(st, "live")))
        health_format_size((uint64_t)jint(st, "rss_bytes"), rss, rn);
}

static void print_table(const json_t *list, bool stats)
{
    size_t i, w = 4;
    json_t *s;
    json_array_foreach(list, i, s) if (strlen(jget(s, "name")) > w) w = strlen(jget(s, "name"));
    printf("%-*s  %-9s  %7s  %8s", (int)w, "NAME", "STATE", "PID", "UPTIME");
    if (stats)
        printf("  %6s  %7s", "CPU%", "RSS");
    printf("  %8s  %-18s  %s\n", "RESTARTS", "LAST EXIT", "REASON");
    json_array_foreach(list, i, s)
    {
        char pid[16] = "-", up[32], cpu[16], rss[32], retry[64] = "", in[32];
        const json_t *last = json_object_get(s, "last_exit");
        if (json_is_integer(json_object_get(s, "pid")))
            snprintf(pid, sizeof(pid), "%lld", (long long)jint(s, "pid"));
        human_ms(jint(s, "uptime_ms"), up, sizeof(up));
        if (json_is_integer(json_object_get(s, "retry_in_ms"))) {
            human_ms(jint(s, "retry_in_ms"), in, sizeof(in));
            snprintf(retry, sizeof(retry), " (retry in %s)", in);
        }
        printf("%-*s  %-9s  %7s  %8s", (int)w, jget(s, "name"), jget(s, "state"), pid, up);
        if (stats) {
            stats_cells(s, cpu, sizeof(cpu), rss, sizeof(rss));
            printf("  %6s  %7s", cpu, rss);
        }
        printf("  %8lld  %-18s  %s%s%s%s%s\n", (long long)jint(s, "restarts"),
               json_is_object(last) ? jshow(last, "text") : "-", jshow(s, "reason"), retry,
               json_is_true(json_object_get(s, "stopped_by_operator")) ? " (stopped by operator)"
                                                                       : "",
               *jget(s, "status") ? (*jget(s, "reason") ? "; status: " : "status: ") : "",
               jshow(s, "status"));
    }
}

static int api_failed(const json_t *body, long status)
{
    if (status < 0)
        return client_exit_status(status);
    fprintf(stderr, "corral: %s\n", client_error(body, status));
    return status == 404 || status == 400 || status == 422 ? CLI_USAGE : CLI_FAILED;
}

/* --- service names ------------------------------------------------------------------ */

/* A name goes into the API's URLs, as a path segment or a query value: one
 * that is no service name ('/', '?', '&', a space) would address something
 * else, so it is refused before anything is asked. */
static int names_valid(const struct ctl *t, int n)
{
    for (int i = 0; i < n; i++)
        if (!cfg_name_valid(t->args[i], strlen(t->args[i]))) {
            fprintf(stderr,
                    "corral %s: '%s' is not a service name (1 to %d of A-Z a-z 0-9 _ . -, not "
                    "starting with '.' or '-')\n",
                    t->cmd, t->args[i], CFG_MAX_NAME);
            return CLI_USAGE;
        }
    return -1;
}

/* The same name twice is acted on, and reported, once. */
static void names_dedupe(struct ctl *t)
{
    int kept = 0;
    for (int i = 0; i < t->n_args; i++) {
        bool seen = false;
        for (int k = 0; k < kept && !seen; k++)
            seen = !strcmp(t->args[k], t->args[i]);
        if (!seen)
            t->args[kept++] = t->args[i];
    }
    t->n_args = kept;
}

static bool named(const struct ctl *t, const char *name)
{
    for (int i = 0; i < t->n_args; i++)
        if (!strcmp(t->args[i], name))
            return true;
    return false;
}

static bool has_service(const json_t *list, const char *name)
{
    size_t i;
    json_t *s;
    json_array_foreach(list, i, s) if (!strcmp(jget(s, "name"), name)) return true;
    return false;
}

static void say_unknown(const json_t *list, const char *name)
{
    size_t n = json_array_size(list);
    const char **names = calloc(n + 1, sizeof(*names));
    char hint[CFG_HINT_MAX];
    for (size_t i = 0; names && i < n; i++)
        names[i] = jget(json_array_get(list, i), "name");
    fprintf(stderr, "corral: unknown service '%s'%s\n", name,
            cfg_did_you_mean(names ? cfg_suggest(name, names, n) : NULL, hint, sizeof(hint)));
    free(names);
}

/* Every name is one of the running corral's services, checked before any is
 * acted on: `corral stop web nosuch` stops nothing. -1 when all are, else the
 * exit status, after saying why. */
static int names_known(struct ctl *t, int n)
{
    json_t *body;
    long st;
    int r = -1;
    if (n == 0)
        return -1;
    st = client_call(&t->c, "GET", "/v1/services", NULL, &body);
    if (st != 200) {
        r = api_failed(body, st);
        json_decref(body);
        return r;
    }
    for (int i = 0; i < n && r < 0; i++)
        if (!has_service(json_object_get(body, "services"), t->args[i])) {
            say_unknown(json_object_get(body, "services"), t->args[i]);
            r = CLI_USAGE;
        }
    json_decref(body);
    return r;
}

/* Has the history an event of this name's? */
static bool in_history(struct ctl *t, const char *name)
{
    char path[CFG_MAX_NAME + 64];
    json_t *body;
    bool found;
    snprintf(path, sizeof(path), "/v1/events?since=0&limit=1&service=%s", name);
    found = client_call(&t->c, "GET", path, NULL, &body) == 200 &&
            json_array_size(json_object_get(body, "events")) > 0;
    json_decref(body);
    return found;
}

/* Each name is configured, or was once (it has events): one in neither is
 * most likely a typo, said before anything is printed. */
static int names_known_to_history(struct ctl *t)
{
    json_t *body;
    long st;
    int r = CLI_OK;
    if (t->n_args == 0)
        return CLI_OK;
    st = client_call(&t->c, "GET", "/v1/services", NULL, &body);
    if (st != 200) {
        r = api_failed(body, st);
        json_decref(body);
        return r;
    }
    for (int i = 0; i < t->n_args && r == CLI_OK; i++)
        if (!has_service(json_object_get(body, "services"), t->args[i]) &&
            !in_history(t, t->args[i])) {
            say_unknown(json_object_get(body, "services"), t->args[i]);
            r = CLI_USAGE;
        }
    json_decref(body);
    return r;
}

/* Keeps only the named services of a list (all when none is named). */
static void keep_named(const struct ctl *t, json_t *list)
{
    for (size_t i = json_array_size(list); t->n_args > 0 && i-- > 0;)
        if (!named(t, jget(json_array_get(list, i), "name")))
            json_array_remove(list, i);
}

static void print_json_line(const json_t *body)
{
    json_dumpf(body, stdout, JSON_COMPACT);
    putchar('\n');
}

/* --- status ------------------------------------------------------------------------- */

static bool print_raw(void *ctx, const char *data, size_t len);
static void sleep_ms(long ms);

/* Every live service has a CPU rate. */
static bool rates_known(const json_t *list)
{
    size_t i;
    json_t *s;
    json_array_foreach(list, i, s)
    {
        const json_t *st = json_object_get(s, "stats");
        if (json_is_true(json_object_get(st, "live")) &&
            !json_is_number(json_object_get(st, "cpu_percent")))
            return false;
    }
    return true;
}

static int cmd_status(struct ctl *t)
{
    json_t *body;
    long st;
    int r = CLI_OK;
    const char *path = t->stats ? "/v1/services?stats=1" : "/v1/services";
    if (t->json && t->n_args == 0) { /* the API's own bytes: nothing to parse or re-format */
        st = client_stream(&t->c, path, print_raw, NULL);
        return st == 200 ? CLI_OK : st < 0 ? client_exit_status(st) : CLI_FAILED;
    }
    st = client_call(&t->c, "GET", path, NULL, &body);
    /* A CPU rate needs two samples of a run: the first ask of a run has none. */
    if (st == 200 && t->stats && !rates_known(json_object_get(body, "services"))) {
        json_decref(body);
        sleep_ms(STATS_WINDOW_MS);
        st = client_call(&t->c, "GET", path, NULL, &body);
    }
    if (st != 200) {
        r = api_failed(body, st);
    } else {
        keep_named(t, json_object_get(body, "services"));
        if (t->json)
            print_json_line(body);
        else
            print_table(json_object_get(body, "services"), t->stats);
    }
    json_decref(body);
    return r;
}

/* --- start / stop / restart ------------------------------------------------------- */

static bool live(const char *state)
{
    return !strcmp(state, "waiting") || !strcmp(state, "starting") || !strcmp(state, "running") ||
           !strcmp(state, "backoff") || !strcmp(state, "stopping") || !strcmp(state, "blocked") ||
           !strcmp(state, "ready") || !strcmp(state, "unhealthy");
}

/* 1 done well, -1 done badly, 0 not yet. */
#define OVERRIDDEN (-2) /* another request undid this one: said at once */

static int judge(const char *cmd, const json_t *s, json_int_t runs_before)
{
    const char *state = jget(s, "state");
    /* A new run began after the stop was asked for: someone started it. */
    if (!strcmp(cmd, "stop"))
        return !live(state) ? 1 : jint(s, "runs") > runs_before ? OVERRIDDEN : 0;
    /* Stopped, not yet run again: someone stopped it meanwhile. */
    if (!strcmp(cmd, "restart") && jint(s, "runs") <= runs_before && !strcmp(state, "stopped"))
        return OVERRIDDEN;
    /* Held by someone else: say so now. An orphan of corral's is being
     * stopped, and the service starts once it is gone. */
    if (!strcmp(state, "blocked"))
        return json_is_true(json_object_get(json_object_get(s, "blocked"), "orphan")) ? 0 : -1;
    if (!strcmp(cmd, "restart") && jint(s, "runs") <= runs_before)
        return 0;
    /* A process that dies right after its exec has not started: running
     * counts once it has lasted STABLE_MS, as for up -d. */
    if (!strcmp(state, "completed") || !strcmp(state, "ready") ||
        (!strcmp(state, "running") && jint(s, "uptime_ms") >= STABLE_MS))
        return 1;
    /* Unhealthy: its liveness probe fails and its policy does not restart
     * it. It may pass again, but is not started well now: said at once. */
    if (!strcmp(state, "failed") || !strcmp(state, "exited") || !strcmp(state, "stopped") ||
        !strcmp(state, "backoff") || !strcmp(state, "unhealthy"))
        return -1;
    return 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Print the outcome of one service; returns the exit status it implies. */
static int outcome(const char *name, const json_t *s, int verdict)
{
    const char *reason = jget(s, "reason");
    if (verdict > 0 && json_is_integer(json_object_get(s, "pid")))
        printf("%s %s (pid %lld)\n", name, jget(s, "state"), (long long)jint(s, "pid"));
    else if (verdict > 0)
        printf("%s %s\n", name, jget(s, "state"));
    else if (verdict == OVERRIDDEN)
        fprintf(stderr, "corral: %s %s: another request %s it meanwhile\n", name, jget(s, "state"),
                live(jget(s, "state")) ? "started" : "stopped");
    else
        fprintf(stderr, "corral: %s %s%s%s%s\n", name, jget(s, "state"), *reason ? ": " : "",
                reason, verdict == 0 ? " (still not done; gave up waiting)" : "");
    return verdict > 0 ? CLI_OK : CLI_FAILED;
}

/* Poll every requested service until each is done, well or badly. */
static int wait_all(struct ctl *t, const json_int_t *runs_before, bool *pending)
{
    int r = CLI_OK, left = 0;
    long waited = 0;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < t->n_args; i++)
        left += pending[i];
    while (left > 0) {
        /* The requests take time too, not only the sleeps between them. */
        clock_gettime(CLOCK_MONOTONIC, &now);
        waited = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
        for (int i = 0; i < t->n_args; i++) {
            char path[512];
            json_t *s;
            long st;
            int v;
            if (!pending[i])
                continue;
            snprintf(path, sizeof(path), "/v1/services/%s", t->args[i]);
            st = client_call(&t->c, "GET", path, NULL, &s);
            if (st != 200) {
                int e = api_failed(s, st);
                json_decref(s);
                return e;
            }
            v = judge(t->cmd, s, runs_before[i]);
            if (v != 0 || waited >= t->timeout_s * 1000) {
                int e = outcome(t->args[i], s, v);
                r = r == CLI_OK ? e : r;
                pending[i] = false;
                left--;
            }
            json_decref(s);
        }
        if (left > 0)
            sleep_ms(WAIT_POLL_MS);
    }
    return r;
}

static int names_param(const struct ctl *t, char *buf, size_t size);

/* Several restarts in one request, so that they are done in dependency
 * order; *gone when corral gave no answer. */
static int ask_restart_many(struct ctl *t, json_int_t *runs, bool *pending, bool *gone)
{
    char path[NAMES_PARAM_MAX + 64], names[NAMES_PARAM_MAX];
    json_t *body, *list;
    long st;
    int r = CLI_OK;
    if (names_param(t, names, sizeof(names)) < 0) {
        fprintf(stderr, "corral restart: too many names\n");
        return CLI_USAGE;
    }
    snprintf(path, sizeof(path), "/v1/restart?service=%s", names);
    st = client_call(&t->c, "POST", path, NULL, &body);
    list = json_object_get(body, "services");
    if (st != 202 || json_array_size(list) != (size_t)t->n_args) {
        r = api_failed(body, st);
        *gone = st < 0;
    } else {
        for (int i = 0; i < t->n_args; i++) {
            runs[i] = jint(json_array_get(list, (size_t)i), "runs");
            pending[i] = !t->no_wait;
        }
    }
    json_decref(body);
    return r;
}

/* One request per service, each said as it fails; *gone when corral gave
 * no answer (nothing more is asked then). */
static int ask_each(struct ctl *t, json_int_t *runs, bool *pending, bool *gone)
{
    int r = CLI_OK;
    for (int i = 0; i < t->n_args && !*gone; i++) {
        char path[512];
        json_t *body;
        long st;
        snprintf(path, sizeof(path), "/v1/services/%s/%s", t->args[i], t->cmd);
        st = client_call(&t->c, "POST", path, NULL, &body);
        if (st != 202) {
            int e = api_failed(body, st);
            *gone = st < 0;
            r = *gone || r == CLI_OK ? e : r;
        } else {
            runs[i] = jint(json_object_get(body, "service"), "runs");
            pending[i] = !t->no_wait;
        }
        json_decref(body);
    }
    return r;
}

/* Ask for every service first, then wait for all of them together. */
static int cmd_control(struct ctl *t)
{
    json_int_t *runs = calloc((size_t)t->n_args + 1, sizeof(*runs));
    bool *pending = calloc((size_t)t->n_args + 1, sizeof(*pending));
    int r;
    bool gone = false;
    if (t->n_args == 0 || !runs || !pending) {
        fprintf(stderr, "corral %s: name at least one service\n", t->cmd);
        free(runs);
        free(pending);
        return t->n_args == 0 ? CLI_USAGE : CLI_FAILED;
    }
    if (!strcmp(t->cmd, "restart") && t->n_args > 1 && t->n_args <= API_NAMES_MAX_CLI)
        r = ask_restart_many(t, runs, pending, &gone);
    else
        r = ask_each(t, runs, pending, &gone);
    if (!gone) {
        int e = wait_all(t, runs, pending);
        r = r == CLI_OK ? e : r;
    }
    free(runs);
    free(pending);
    return r;
}

static int cmd_signal(struct ctl *t)
{
    char path[512], body_text[128];
    char *text;
    json_t *body;
    long st;
    snprintf(path, sizeof(path), "/v1/services/%s/signal", t->args[0]);
    body = json_pack("{s:s}", "signal", t->args[1]);
    text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    snprintf(body_text, sizeof(body_text), "%s", text ? text : "{}");
    free(text);
    json_decref(body);
    st = client_call(&t->c, "POST", path, body_text, &body);
    if (st != 200) {
        int r = api_failed(body, st);
        json_decref(body);
        return r;
    }
    printf("SIG%s sent to %s (pid %lld)\n", jget(body, "signal"), t->args[0],
           (long long)jint(json_object_get(body, "service"), "pid"));
    json_decref(body);
    return CLI_OK;
}

/* --- streams ------------------------------------------------------------------------ */

static bool print_raw(void *ctx, const char *data, size_t len)
{
    (void)ctx;
    fwrite(data, 1, len, stdout);
    fflush(stdout);
    return !ferror(stdout);
}

static int names_param(const struct ctl *t, char *buf, size_t size)
{
    size_t used = 0;
    for (int i = 0; i < t->n_args; i++) {
        int n = snprintf(buf + used, size - used, "%s%s", i ? "," : "", t->args[i]);
        if (n < 0 || (size_t)n >= size - used)
            return -1;
        used += (size_t)n;
    }
    return 0;
}

/* A followed stream that corral ended whole: it stopped, or (logs) a reload
 * removed every service the stream followed. Which is asked of corral,
 * quietly: one that no longer answers has stopped, which is the end of a
 * follow, exit 0. A stream that broke off instead is CLIENT_BROKEN, 1. */
static int follow_ended(struct ctl *t, bool logs)
{
    json_t *body = NULL, *list;
    int r = CLI_OK;
    long st;
    if (ferror(stdout))
        return CLI_FAILED; /* the output stopped it, not corral */
    t->c.quiet = true;
    st = logs ? client_call(&t->c, "GET", "/v1/services", NULL, &body) : -1;
    t->c.quiet = false;
    list = json_object_get(body, "services");
    if (st == 200 && t->n_args == 0 && json_array_size(list) == 0) {
        fprintf(stderr, "corral: no service is configured any more (a reload removed them)\n");
        r = CLI_FAILED;
    }
    for (int i = 0; st == 200 && i < t->n_args; i++)
        if (!has_service(list, t->args[i])) {
            fprintf(stderr, "corral: %s is no longer configured (a reload removed it)\n",
                    t->args[i]);
            r = CLI_FAILED;
        }
    json_decref(body);
    if (r == CLI_OK)
        fprintf(stderr, "corral: the follow ended: corral stopped\n");
    return r;
}

static int cmd_logs(struct ctl *t)
{
    char path[NAMES_PARAM_MAX + 128], names[NAMES_PARAM_MAX];
    long tail = t->tail >= 0 ? t->tail : (t->follow ? 10 : 100);
    long st;
    if (names_param(t, names, sizeof(names)) < 0) {
        fprintf(stderr, "corral logs: too many names\n");
        return CLI_USAGE;
    }
    if (t->n_args == 1)
        snprintf(path, sizeof(path), "/v1/services/%s/logs?tail=%ld&follow=%d", names, tail,
                 t->follow);
    else
        snprintf(path, sizeof(path), "/v1/logs?tail=%ld&follow=%d%s%s", tail, t->follow,
                 t->n_args ? "&service=" : "", names);
    st = client_stream(&t->c, path, print_raw, NULL);
    if (st == 200 && t->follow)
        return follow_ended(t, true);
    if (st == 200)
        return CLI_OK;
    if (st > 0) {
        /* client_stream() said why. */
        return st == 404 || st == 400 ? CLI_USAGE : CLI_FAILED;
    }
    return client_exit_status(st);
}

static void print_event(const json_t *e)
{
    const char *svc = jget(e, "service"), *text = jshow(e, "text");
    printf("%6lld  %s  %-14s  %s", (long long)jint(e, "id"), jget(e, "time"), jget(e, "kind"),
           *svc ? svc : "corral");
    if (json_is_integer(json_object_get(e, "pid")))
        printf("  pid %lld", (long long)jint(e, "pid"));
    if (json_is_integer(json_object_get(e, "delay_ms")))
        printf("  in %lldms", (long long)jint(e, "delay_ms"));
    printf("%s%s", *text ? "  " : "", text);
    if (json_is_integer(json_object_get(json_object_get(e, "details"), "retry_in_ms"))) {
        char in[32];
        human_ms(jint(json_object_get(e, "details"), "retry_in_ms"), in, sizeof(in));
        printf("  (retry in %s)", in);
    }
    printf("\n");
}

struct lines {
    char buf[65536];
    size_t len;
    bool json;
};

static bool event_lines(void *ctx, const char *data, size_t len)
{
    struct lines *l = ctx;
    for (size_t i = 0; i < len; i++) {
        if (data[i] != '\n') {
            if (l->len < sizeof(l->buf) - 1)
                l->buf[l->len++] = data[i];
            continue;
        }
        l->buf[l->len] = '\0';
        if (l->json) {
            printf("%s\n", l->buf);
        } else {
            json_t *e = json_loads(l->buf, 0, NULL);
            if (e && json_object_get(e, "error"))
                fprintf(stderr, "corral: %s\n", client_error(e, 400));
            else if (e)
                print_event(e);
            else
                printf("%s\n", l->buf);
            json_decref(e);
        }
        fflush(stdout);
        l->len = 0;
    }
    return !ferror(stdout);
}

/* The newest event's id into *id (0 when there is none yet), for a follow
 * of new events only (-f -n 0): 0, or the exit status after saying why. */
static int newest_event(struct ctl *t, long long *id)
{
    json_t *body;
    long st = client_call(&t->c, "GET", "/v1/events?limit=1", NULL, &body);
    int r = st == 200 ? 0 : api_failed(body, st);
    *id = (long long)jint(json_array_get(json_object_get(body, "events"), 0), "id");
    json_decref(body);
    return r;
}

/* The query of `corral events`: --since, --until, -n and service names. 0, or
 * the exit status after saying why not. */
static int events_path(struct ctl *t, char *path, size_t size)
{
    char names[NAMES_PARAM_MAX], since[96] = "since=0", until[96] = "", limit[32] = "";
    if (names_param(t, names, sizeof(names)) < 0) {
        fprintf(stderr, "corral events: too many names\n");
        return CLI_USAGE;
    }
    if (t->since)
        cli_when_param(&t->since_w, "since", since, sizeof(since));
    if (t->until) {
        until[0] = '&';
        cli_when_param(&t->until_w, "until", until + 1, sizeof(until) - 1);
    }
    if (t->follow && t->until) {
        fprintf(stderr, "corral events: -f goes on past --until: use one or the other\n");
        return CLI_USAGE;
    }
    if (t->tail == 0 && (!t->follow || t->since)) {
        fprintf(stderr, "corral events: -n takes a number of events from 1 (0 only with -f "
                        "alone: new events only)\n");
        return CLI_USAGE;
    }
    if (t->tail == 0) { /* -f -n 0: what comes after the newest event now */
        long long id;
        int r = newest_event(t, &id);
        if (r)
            return r;
        snprintf(since, sizeof(since), "since=%lld", id);
    }
    if (t->tail > 0)
        snprintf(limit, sizeof(limit), "&limit=%ld", t->tail);
    snprintf(path, size, "/v1/events?follow=%d&%s%s%s%s%s", t->follow, since, until, limit,
             t->n_args ? "&service=" : "", names);
    return 0;
}

static int cmd_events(struct ctl *t)
{
    char path[NAMES_PARAM_MAX + 512];
    struct lines *l;
    json_t *body, *e;
    size_t i;
    long st;
    int bad = events_path(t, path, sizeof(path));
    if (!bad)
        bad = names_known_to_history(t);
    if (bad)
        return bad;
    if (t->follow) {
        if (!(l = calloc(1, sizeof(*l))))
            return CLI_FAILED;
        l->json = t->json;
        st = client_stream(&t->c, path, event_lines, l);
        free(l);
        if (st == 200) /* only a stopping corral ends an event stream */
            return follow_ended(t, false);
        /* A refusal was said by client_stream(), an error later on by event_lines(). */
        return st < 0 ? client_exit_status(st) : st == 400 ? CLI_USAGE : CLI_FAILED;
    }
    st = client_call(&t->c, "GET", path, NULL, &body);
    if (st != 200) {
        int r = api_failed(body, st);
        json_decref(body);
        return r;
    }
    json_array_foreach(json_object_get(body, "events"), i, e)
    {
        if (t->json) {
            print_json_line(e);
        } else {
            print_event(e);
        }
    }
    if (json_is_true(json_object_get(body, "more")) && !t->json)
        fprintf(stderr, "corral events: older events match too; -n raises the number shown, "
                        "--until ID pages back\n");
    json_decref(body);
    return CLI_OK;
}

/* --- tree --------------------------------------------------------------------------- */

static void print_children(const json_t *procs, json_int_t parent, int depth)
{
    size_t i;
    json_t *p;
    json_array_foreach(procs, i, p)
    {
        if (jint(p, "ppid") != parent)
            continue;
        printf("%*s%-7lld %s  %s%s\n", 2 + 2 * depth, "", (long long)jint(p, "pid"),
               jget(p, "state"), jshow(p, "cmdline"),
               json_is_true(json_object_get(p, "main")) ? "  (main)" : "");
        if (depth < 32)
            print_children(procs, jint(p, "pid"), depth + 1);
    }
}

static bool listed(const json_t *procs, json_int_t pid)
{
    size_t i;
    json_t *p;
    json_array_foreach(procs, i, p) if (jint(p, "pid") == pid) return true;
    return false;
}

static int cmd_tree(struct ctl *t)
{
    json_t *body, *s;
    size_t i;
    long st = client_call(&t->c, "GET", "/v1/tree", NULL, &body);
    if (st != 200) {
        int r = api_failed(body, st);
        json_decref(body);
        return r;
    }
    keep_named(t, json_object_get(body, "services"));
    if (t->json) {
        json_dumpf(body, stdout, JSON_INDENT(2));
        putchar('\n');
    } else {
        json_array_foreach(json_object_get(body, "services"), i, s)
        {
            const json_t *procs = json_object_get(s, "processes");
            size_t k;
            json_t *p;
            printf("%s (%s)\n", jget(s, "name"), jget(s, "state"));
            /* Roots: processes whose parent is not in the tree (corral). */
            json_array_foreach(procs, k, p)
            {
                if (listed(procs, jint(p, "ppid")))
                    continue;
                printf("  %-7lld %s  %s%s\n", (long long)jint(p, "pid"), jget(p, "state"),
                       jget(p, "cmdline"),
                       json_is_true(json_object_get(p, "main")) ? "  (main)" : "");
                print_children(procs, jint(p, "pid"), 1);
            }
        }
    }
    json_decref(body);
    return CLI_OK;
}

/* --- reload, down ---------------------------------------------------------------------- */

static int cmd_reload(struct ctl *t)
{
    json_t *body;
    long st = client_call(&t->c, "POST", "/v1/reload", NULL, &body);
    const json_t *err = json_object_get(body, "error");
    if (st != 200 && json_is_string(json_object_get(err, "file"))) {
        /* Where the config is wrong, as `corral check` says it; a file that
         * cannot be read has no line. */
        char at[64] = "";
        if (jint(err, "line") > 0)
            snprintf(at, sizeof(at), ":%lld:%lld", (long long)jint(err, "line"),
                     (long long)jint(err, "column"));
        fprintf(stderr, "corral: %s%s: %s%s%s\nnothing changed\n", jget(err, "file"), at,
                jget(err, "field"), *jget(err, "field") ? ": " : "", jget(err, "message"));
        json_decref(body);
        return CLI_USAGE;
    }
    if (st != 200) {
        int r = api_failed(body, st);
        json_decref(body);
        return r;
    }
    if (t->json) {
        json_dumpf(body, stdout, JSON_INDENT(2));
        putchar('\n');
    } else {
        static const char *const keys[] = {"added", "removed", "changed", "unchanged"};
        for (size_t k = 0; k < 4; k++) {
            const json_t *list = json_object_get(body, keys[k]);
            size_t i;
            json_t *n;
            printf("%-10s", keys[k]);
            json_array_foreach(list, i, n) printf(" %s", json_string_value(n));
            printf("%s\n", json_array_size(list) ? "" : " -");
        }
    }
    json_decref(body);
    return CLI_OK;
}

static int cmd_down(struct ctl *t)
{
    json_t *body;
    long waited = 0;
    long st = client_call(&t->c, "POST", "/v1/shutdown", NULL, &body);
    if (st != 202) {
        int r = api_failed(body, st);
        json_decref(body);
        return r;
    }
    json_decref(body);
    if (t->no_wait)
        return CLI_OK;
    /* Done when the daemon's lock is free: it exits only once every tree is
     * empty (or it gave up on a survivor, which its log names). */
    while (!client_daemon_gone(&t->c)) {
        if (waited >= t->timeout_s * 1000) {
            fprintf(stderr, "corral: still stopping after %lds; see %s/corral.log\n", t->timeout_s,
                    t->c.state_dir);
            return CLI_FAILED;
        }
        sleep_ms(WAIT_POLL_MS);
        waited += WAIT_POLL_MS;
    }
    /* The running mark is cleared only once every tree is empty: still
     * there, the daemon died on the way (a kill -9), or gave up on a
     * survivor. */
    if (client_left_running(&t->c)) {
        fprintf(stderr,
                "corral: the daemon ended before everything was stopped (killed meanwhile, or a "
                "process survived SIGKILL; see %s/corral.log): `corral up` takes over what is "
                "left, `corral cleanup` stops it\n",
                t->c.state_dir);
        return CLI_SURVIVOR;
    }
    printf("corral stopped (%s)\n", t->c.state_dir);
    return CLI_OK;
}

/* --- dispatch ------------------------------------------------------------------------ */

/* What a command's arguments are. */
enum takes {
    TAKES_NOTHING,
    TAKES_SERVICES, /* services of the running corral */
    TAKES_NAMES,    /* names, perhaps of services no longer configured (events) */
    TAKES_SIGNAL,   /* a service, then a signal */
};

struct command {
    const char *name;
    int (*fn)(struct ctl *t);
    enum takes takes;
};

static const struct command commands[] = {
    {"status", cmd_status, TAKES_SERVICES},   {"ps", cmd_status, TAKES_SERVICES},
    {"start", cmd_control, TAKES_SERVICES},   {"stop", cmd_control, TAKES_SERVICES},
    {"restart", cmd_control, TAKES_SERVICES}, {"signal", cmd_signal, TAKES_SIGNAL},
    {"logs", cmd_logs, TAKES_SERVICES},       {"events", cmd_events, TAKES_NAMES},
    {"tree", cmd_tree, TAKES_SERVICES},       {"reload", cmd_reload, TAKES_NOTHING},
    {"down", cmd_down, TAKES_NOTHING},
};

/* The arguments as far as they can be judged without the daemon: -1 when
 * they may go on, else the exit status, after saying why. */
static int args_usable(struct ctl *t, enum takes takes)
{
    switch (takes) {
    case TAKES_NOTHING:
        if (t->n_args == 0)
            return -1;
        fprintf(stderr, "corral %s: takes no arguments (got '%s')\n", t->cmd, t->args[0]);
        return CLI_USAGE;
    case TAKES_SIGNAL:
        if (t->n_args != 2) {
            fprintf(stderr, "usage: corral signal NAME SIGNAL\n");
            return CLI_USAGE;
        }
        if (cfg_signal_parse(t->args[1]) < 0) {
            fprintf(stderr,
                    "corral signal: unknown signal '%s' (expected a name such as HUP, TERM, "
                    "USR1, or its number)\n",
                    t->args[1]);
            return CLI_USAGE;
        }
        return names_valid(t, 1);
    case TAKES_SERVICES:
    case TAKES_NAMES:
        names_dedupe(t);
        return names_valid(t, t->n_args);
    }
    return -1;
}

bool cli_is_ctl(const char *cmd)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(cmd, commands[i].name))
            return true;
    return false;
}

int cli_ctl(int argc, char **argv)
{
    struct ctl t;
    int r;
    memset(&t, 0, sizeof(t));
    t.cmd = argv[0];
    const struct command *cmd = NULL;
    r = parse(&t, argc, argv);
    if (r >= 0)
        return r;
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(t.cmd, commands[i].name))
            cmd = &commands[i];
    if (!cmd)
        return CLI_USAGE;
    if ((r = args_usable(&t, cmd->takes)) >= 0)
        return r;
    r = client_open(&t.c, t.file, t.state_dir);
    if (r)
        return r;
    r = names_known(&t, cmd->takes == TAKES_SERVICES ? t.n_args
                        : cmd->takes == TAKES_SIGNAL ? 1
                                                     : 0);
    if (r < 0)
        r = cmd->fn(&t);
    client_close(&t.c);
    return r;
}
