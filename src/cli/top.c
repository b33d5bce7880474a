/* cli/top.c — `corral top`: every service with its tree's CPU and memory,
 * refreshed in place on the alternate screen, sortable, quit with q. The
 * daemon samples the trees only when asked (GET /v1/services?stats=1), so
 * nothing is measured once top is gone. Not on a terminal (or with --once) it
 * prints one snapshot, measured over a short window, and exits. */
#include "cli/cli.h"
#include "cli/client.h"
#include "health/limits.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define INTERVAL_DEFAULT_MS 2000
#define ONCE_WINDOW_MS      500 /* between the two samples of --once: a CPU rate needs two */
#define NAME_MAX_SHOWN      32

enum top_sort { SORT_CPU, SORT_MEMORY, SORT_NAME, SORT_RESTARTS, SORT__COUNT };
static const char *const sort_names[SORT__COUNT] = {"cpu", "memory", "name", "restarts"};

struct top_row {
    char name[NAME_MAX_SHOWN + 1];
    char state[16];
    long long pid; /* 0: none */
    bool cpu_ok;
    double cpu_percent;
    unsigned long long rss_bytes;
    long long procs;
    long long restarts;
    long long uptime_ms;
};

struct top {
    const char *file;
    const char *state_dir;
    bool once;
    long interval_ms;
    enum top_sort sort;
    struct client c;
    struct top_row *rows;
    size_t n;
    bool tty;
    struct termios saved;
    bool raw;
};

static int parse(struct top *t, int argc, char **argv)
{
    static const struct option opts[] = {
        {"file", required_argument, NULL, 'f'},
        {"state-dir", required_argument, NULL, 'S'},
        {"once", no_argument, NULL, '1'},
        {"interval", required_argument, NULL, 'i'},
        {"sort", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    t->interval_ms = INTERVAL_DEFAULT_MS;
    while ((c = getopt_long(argc, argv, "f:i:s:h", opts, NULL)) != -1) {
        char *end;
        double s;
        int k;
        switch (c) {
        case 'f':
            t->file = optarg;
            break;
        case 'S':
            t->state_dir = optarg;
            break;
        case '1':
            t->once = true;
            break;
        case 'i':
            s = strtod(optarg, &end);
            if (*end || s < 0.2 || s > 3600) {
                fprintf(stderr, "corral top: --interval takes seconds, from 0.2 to 3600\n");
                return CLI_USAGE;
            }
            t->interval_ms = (long)(s * 1000);
            break;
        case 's':
            for (k = 0; k < SORT__COUNT && strcmp(optarg, sort_names[k]); k++)
                ;
            if (k == SORT__COUNT) {
                fprintf(stderr, "corral top: --sort takes cpu, memory, name or restarts\n");
                return CLI_USAGE;
            }
            t->sort = (enum top_sort)k;
            break;
        case 'h':
            printf("usage: corral top [-f FILE] [--state-dir DIR] [--once] [--interval S] "
                   "[--sort cpu|memory|name|restarts]\n"
                   "keys: c cpu, m memory, n name, r restarts, q quit\n");
            return CLI_OK;
        default:
            fprintf(stderr, "usage: corral top [-f FILE] [--state-dir DIR] [--once] "
                            "[--interval S] [--sort KEY]\n");
            return CLI_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "corral top: unexpected argument '%s'\n", argv[optind]);
        return CLI_USAGE;
    }
    return -1;
}

/* --- data ------------------------------------------------------------------------------ */

static long long jint(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static void row_from(struct top_row *r, const json_t *s)
{
    const json_t *st = json_object_get(s, "stats");
    const json_t *cpu = json_object_get(st, "cpu_percent");
    memset(r, 0, sizeof(*r));
    snprintf(r->name, sizeof(r->name), "%s", json_string_value(json_object_get(s, "name")));
    snprintf(r->state, sizeof(r->state), "%s", json_string_value(json_object_get(s, "state")));
    r->pid = jint(s, "pid");
    r->restarts = jint(s, "restarts");
    r->uptime_ms = jint(s, "uptime_ms");
    r->cpu_ok = json_is_number(cpu);
    r->cpu_percent = json_number_value(cpu);
    r->rss_bytes = (unsigned long long)jint(st, "rss_bytes");
    r->procs = jint(st, "procs");
}

/* 0, or a CLI exit status after saying why. */
static int fetch(struct top *t)
{
    json_t *body = NULL, *list;
    long st = client_call(&t->c, "GET", "/v1/services?stats=1", NULL, &body);
    size_t i;
    json_t *s;
    if (st != 200) {
        if (st >= 0)
            fprintf(stderr, "corral top: %s\n", client_error(body, st));
        json_decref(body);
        return st < 0 ? client_exit_status(st) : CLI_FAILED;
    }
    list = json_object_get(body, "services");
    free(t->rows);
    t->n = 0;
    t->rows = calloc(json_array_size(list) + 1, sizeof(*t->rows));
    if (!t->rows) {
        json_decref(body);
        return CLI_FAILED;
    }
    json_array_foreach(list, i, s) row_from(&t->rows[t->n++], s);
    json_decref(body);
    return 0;
}

static int cmp_rows(const void *a, const void *b, void *arg)
{
    const struct top_row *x = a, *y = b;
    enum top_sort how = *(const enum top_sort *)arg;
    double dx = 0, dy = 0;
    switch (how) {
    case SORT_CPU:
        dx = x->cpu_ok ? x->cpu_percent : -1;
        dy = y->cpu_ok ? y->cpu_percent : -1;
        break;
    case SORT_MEMORY:
        dx = (double)x->rss_bytes;
        dy = (double)y->rss_bytes;
        break;
    case SORT_RESTARTS:
        dx = (double)x->restarts;
        dy = (double)y->restarts;
        break;
    case SORT_NAME:
    case SORT__COUNT:
        break;
    }
    /* Biggest first; ties (and the name sort) by name. */
    if (dx != dy)
        return dx < dy ? 1 : -1;
    return strcmp(x->name, y->name);
}

/* --- drawing --------------------------------------------------------------------------- */

static void human_ms(long long ms, char *buf, size_t size)
{
    long long s = ms / 1000;
    if (ms <= 0)
        snprintf(buf, size, "-");
    else if (s < 60)
        snprintf(buf, size, "%llds", s);
    else if (s < 3600)
        snprintf(buf, size, "%lldm%02llds", s / 60, s % 60);
    else if (s < 86400)
        snprintf(buf, size, "%lldh%02lldm", s / 3600, (s % 3600) / 60);
    else
        snprintf(buf, size, "%lldd%02lldh", s / 86400, (s % 86400) / 3600);
}

/* One line per service, at most max_rows (0: all); eol ends each line (it
 * clears the rest of a terminal line in place). */
static void draw(const struct top *t, FILE *out, size_t max_rows, const char *eol)
{
    int w = 4;
    double cpu_total = 0;
    unsigned long long rss_total = 0;
    char rss[32];
    for (size_t i = 0; i < t->n; i++) {
        if ((int)strlen(t->rows[i].name) > w)
            w = (int)strlen(t->rows[i].name);
        cpu_total += t->rows[i].cpu_ok ? t->rows[i].cpu_percent : 0;
        rss_total += t->rows[i].rss_bytes;
    }
    health_format_size(rss_total, rss, sizeof(rss));
    fprintf(out, "corral top: %zu services, CPU %.1f%%, RSS %s, sorted by %s%s%s", t->n, cpu_total,
            rss, sort_names[t->sort],
            t->tty && !t->once ? " (c cpu, m memory, n name, r restarts, q quit)" : "", eol);
    fprintf(out, "%-*s  %-9s  %7s  %6s  %7s  %5s  %8s  %8s%s", w, "NAME", "STATE", "PID", "CPU%",
            "RSS", "PROCS", "RESTARTS", "UPTIME", eol);
    for (size_t i = 0; i < t->n && (!max_rows || i < max_rows); i++) {
        const struct top_row *r = &t->rows[i];
        char pid[24] = "-", cpu[16] = "-", up[32];
        if (r->pid > 0)
            snprintf(pid, sizeof(pid), "%lld", r->pid);
        if (r->cpu_ok)
            snprintf(cpu, sizeof(cpu), "%.1f", r->cpu_percent);
        health_format_size(r->rss_bytes, rss, sizeof(rss));
        human_ms(r->uptime_ms, up, sizeof(up));
        fprintf(out, "%-*s  %-9s  %7s  %6s  %7s  %5lld  %8lld  %8s%s", w, r->name, r->state, pid,
                cpu, r->procs ? rss : "-", r->procs, r->restarts, up, eol);
    }
}

/* --- the terminal ---------------------------------------------------------------------- */

static void term_enter(struct top *t)
{
    struct termios raw;
    if (tcgetattr(STDIN_FILENO, &t->saved) == 0) {
        raw = t->saved;
        /* Keys one at a time, not echoed; ISIG stays so Ctrl-C is a SIGINT. */
        raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
        raw.c_cc[VMIN] = 0;
        raw.c_cc[VTIME] = 0;
        t->raw = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
    }
    fputs("\033[?1049h\033[?25l", stdout); /* alternate screen, cursor hidden */
    fflush(stdout);
}

static void term_leave(struct top *t)
{
    fputs("\033[?25h\033[?1049l", stdout);
    fflush(stdout);
    if (t->raw)
        (void)tcsetattr(STDIN_FILENO, TCSANOW, &t->saved);
    t->raw = false;
}

static size_t term_rows(void)
{
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 3)
        return ws.ws_row;
    return 24;
}

static void redraw(struct top *t)
{
    qsort_r(t->rows, t->n, sizeof(*t->rows), cmp_rows, &t->sort);
    fputs("\033[H", stdout);
    draw(t, stdout, term_rows() - 2, "\033[K\n");
    fputs("\033[J", stdout);
    fflush(stdout);
}

/* A key: a new sort (redraw at once), quit (1), or nothing (0). */
static int on_key(struct top *t, char key)
{
    static const char keys[SORT__COUNT] = {'c', 'm', 'n', 'r'};
    if (key == 'q' || key == 'Q')
        return 1;
    for (int k = 0; k < SORT__COUNT; k++)
        if (key == keys[k]) {
            t->sort = (enum top_sort)k;
            redraw(t);
        }
    return 0;
}

/* Signals come through a signalfd, so the terminal is restored on the main
 * path whatever ends top: q, SIGINT, SIGTERM, SIGHUP; SIGWINCH redraws. */
static int live(struct top *t)
{
    sigset_t set;
    int sfd, r = 0;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGWINCH);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0 ||
        (sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
        perror("corral top: signalfd");
        return CLI_FAILED;
    }
    term_enter(t);
    for (bool quit = false; !quit && (r = fetch(t)) == 0;) {
        struct pollfd fds[2] = {{.fd = STDIN_FILENO, .events = POLLIN},
                                {.fd = sfd, .events = POLLIN}};
        struct timespec due, now;
        redraw(t);
        clock_gettime(CLOCK_MONOTONIC, &due);
        due.tv_sec += t->interval_ms / 1000;
        due.tv_nsec += (t->interval_ms % 1000) * 1000000;
        while (!quit) {
            long left;
            clock_gettime(CLOCK_MONOTONIC, &now);
            left = (due.tv_sec - now.tv_sec) * 1000 + (due.tv_nsec - now.tv_nsec) / 1000000;
            if (left <= 0 || poll(fds, 2, (int)left) == 0)
                break;
            if (fds[0].revents & (POLLHUP | POLLERR))
                quit = true;
            if (fds[0].revents & POLLIN) {
                char key;
                if (read(STDIN_FILENO, &key, 1) == 1)
                    quit = on_key(t, key) != 0;
            }
            if (fds[1].revents & POLLIN) {
                struct signalfd_siginfo si;
                while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
                    if (si.ssi_signo == SIGWINCH)
                        redraw(t);
                    else
                        quit = true;
                }
            }
        }
    }
    term_leave(t);
    close(sfd);
    /* What the client said went to the alternate screen, gone with it. */
    if (r == CLI_NOT_RUNNING)
        fprintf(stderr, "corral top: corral is not running any more\n");
    return r;
}

static int once(struct top *t)
{
    struct timespec gap = {.tv_nsec = ONCE_WINDOW_MS * 1000000L};
    int r = fetch(t);
    if (r)
        return r;
    (void)nanosleep(&gap, NULL);
    if ((r = fetch(t)))
        return r;
    qsort_r(t->rows, t->n, sizeof(*t->rows), cmp_rows, &t->sort);
    draw(t, stdout, 0, "\n");
    return CLI_OK;
}

int cli_top(int argc, char **argv)
{
    struct top t;
    int r;
    memset(&t, 0, sizeof(t));
    r = parse(&t, argc, argv);
    if (r >= 0)
        return r;
    t.tty = isatty(STDOUT_FILENO) && isatty(STDIN_FILENO);
    if (!t.tty)
        t.once = true;
    r = client_open(&t.c, t.file, t.state_dir);
    if (r)
        return r;
    r = t.once ? once(&t) : live(&t);
    client_close(&t.c);
    free(t.rows);
    return r;
}
