/* cli/up.c — `corral up` in the foreground: start the stack, print every
 * service's output merged with a name prefix and corral's own state changes,
 * and on Ctrl-C stop everything (a second Ctrl-C kills, a third gives up
 * waiting and reports what is left). */
#include "cli/cli.h"
#include "cli/out.h"
#include "config/config.h"
#include "loop/loop.h"
#include "supervisor/sup.h"

#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *const colours[] = {"\033[36m", "\033[33m", "\033[32m", "\033[35m",
                                      "\033[34m", "\033[96m", "\033[93m", "\033[92m"};
#define N_COLOURS (sizeof(colours) / sizeof(colours[0]))

struct up {
    struct loop *lp;
    struct sup *sup;
    const struct cfg_model *m;
    bool colour;
    bool quiet;
    bool timestamps;
    int width;
    int interrupts;
    struct out *out;
};

static const char *colour_of(const struct up *u, const char *service)
{
    long idx;
    if (!u->colour)
        return "";
    idx = service ? cfg_find(u->m, service) : -1;
    if (idx < 0)
        return "\033[1m";
    return colours[(size_t)idx % N_COLOURS];
}

static void prefix(struct up *u, const char *name)
{
    if (u->timestamps) {
        struct timeval tv;
        struct tm tm;
        gettimeofday(&tv, NULL);
        localtime_r(&tv.tv_sec, &tm);
        out_printf(u->out, "%02d:%02d:%02d.%03ld ", tm.tm_hour, tm.tm_min, tm.tm_sec,
                   (long)(tv.tv_usec / 1000));
    }
    out_printf(u->out, "%s%-*s |%s ", colour_of(u, name), u->width, name ? name : "corral",
               u->colour ? "\033[0m" : "");
}

static void on_output(void *ctx, const char *service, enum logs_stream st, const char *line,
                      size_t len, bool complete)
{
    struct up *u = ctx;
    (void)st;
    (void)complete;
    prefix(u, service);
    out_write(u->out, line, len);
    out_write(u->out, "\n", 1);
}

static void say(struct up *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(struct up *u, const char *fmt, ...)
{
    va_list ap;
    prefix(u, NULL);
    va_start(ap, fmt);
    out_vprintf(u->out, fmt, ap);
    va_end(ap);
    out_write(u->out, "\n", 1);
}

static void on_event(void *ctx, const struct sup_event *ev)
{
    struct up *u = ctx;
    const char *n = ev->service;
    switch (ev->kind) {
    case SUP_EV_STARTED:
        say(u, "%s started (pid %d)", n, (int)ev->pid);
        break;
    case SUP_EV_EXITED:
        say(u, "%s %s", n, ev->text);
        break;
    case SUP_EV_LEFTOVER:
        say(u, "%s: main process gone, stopping what it left running", n);
        break;
    case SUP_EV_RESTARTING:
        say(u, "%s restarting in %.1fs", n, (double)ev->delay_ms / 1000.0);
        break;
    case SUP_EV_COMPLETED:
        say(u, "%s completed", n);
        break;
    case SUP_EV_FAILED:
        say(u, "%s failed: %s", n, ev->text);
        break;
    case SUP_EV_STOPPING:
        say(u, "%s stopping", n);
        break;
    case SUP_EV_KILLING:
        say(u, "%s did not stop in time: SIGKILL to its whole tree", n);
        break;
    case SUP_EV_SURVIVOR:
        say(u, "%s: pid %d is still alive after SIGKILL: %s", n, (int)ev->pid, ev->text);
        break;
    case SUP_EV_STOPPED:
        say(u, "%s stopped", n);
        break;
    case SUP_EV_LOGS_LOST:
        say(u, "%s: %s", n, ev->text);
        break;
    case SUP_EV_REAPED:
        say(u, "reaped orphaned descendant pid %d (status %d)", (int)ev->pid, ev->exit_code);
        break;
    case SUP_EV__COUNT:
        break;
    }
}

static void on_settled(void *ctx)
{
    struct up *u = ctx;
    loop_quit(u->lp);
}

static void on_signal(struct loop *lp, const struct signalfd_siginfo *si, void *data)
{
    struct up *u = data;
    if (si->ssi_signo == SIGCHLD) {
        sup_reap(u->sup);
        return;
    }
    u->interrupts++;
    if (u->interrupts == 1) {
        /* SIGHUP here means the terminal went away: a foreground stack must
         * not live on unseen behind a closed window. */
        say(u, "SIG%s: stopping everything (%s again to kill)", cfg_signal_name((int)si->ssi_signo),
            si->ssi_signo == SIGINT ? "Ctrl-C" : "signal");
        sup_shutdown(u->sup);
    } else if (u->interrupts == 2) {
        say(u, "killing every tree now");
        sup_kill_all(u->sup);
    } else {
        say(u, "giving up waiting for the remaining processes");
        loop_quit(lp);
    }
}

static int parse_args(struct up *u, int argc, char **argv, const char **file)
{
    static const struct option opts[] = {
        {"file", required_argument, NULL, 'f'}, {"quiet", no_argument, NULL, 'q'},
        {"timestamps", no_argument, NULL, 't'}, {"no-color", no_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0},
    };
    int c;
    const char *term = getenv("TERM");
    u->colour = isatty(STDOUT_FILENO) && !getenv("NO_COLOR") && !(term && !strcmp(term, "dumb"));
    while ((c = getopt_long(argc, argv, "f:qth", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            *file = optarg;
            break;
        case 'q':
            u->quiet = true;
            break;
        case 't':
            u->timestamps = true;
            break;
        case 'C':
            u->colour = false;
            break;
        case 'h':
            printf("usage: corral up [-f FILE] [-q] [-t] [--no-color] [SERVICE...]\n");
            return CLI_OK;
        default:
            fprintf(stderr, "usage: corral up [-f FILE] [-q] [-t] [--no-color] [SERVICE...]\n");
            return CLI_USAGE;
        }
    }
    return -1;
}

static void set_width(struct up *u)
{
    u->width = 6; /* "corral" */
    for (size_t i = 0; i < u->m->n_services; i++) {
        int len = (int)strlen(u->m->services[i].name);
        if (len > u->width)
            u->width = len;
    }
}

static int run(struct up *u, char **names, size_t n_names)
{
    struct sup_hooks h = {.on_event = on_event, .on_settled = on_settled, .ctx = u};
    struct diag dg;
    const char *why;
    sigset_t set;
    if (!u->quiet)
        h.on_output = on_output;
    diag_clear(&dg);
    u->sup = sup_new(u->lp, u->m, &h, &dg);
    if (!u->sup) {
        fprintf(stderr, "corral: %s\n", dg.msg);
        return CLI_FAILED;
    }
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    if (loop_signals(u->lp, &set, on_signal, u) < 0) {
        fprintf(stderr, "corral: cannot set up signals\n");
        return CLI_FAILED;
    }
    sup_containment(u->sup, &why);
    say(u, "corral %s, instance %s, pid %d", CORRAL_VERSION, sup_instance(u->sup), (int)getpid());
    say(u, "containment: %s", why);
    if (sup_start(u->sup, (const char *const *)names, n_names, &dg) < 0) {
        fprintf(stderr, "corral: %s\n", dg.msg);
        return CLI_USAGE;
    }
    if (loop_run(u->lp) < 0)
        return CLI_FAILED;
    if (sup_any_survivor(u->sup) || !sup_settled(u->sup))
        return CLI_SURVIVOR;
    return sup_any_failed(u->sup) ? CLI_FAILED : CLI_OK;
}

int cli_up(int argc, char **argv)
{
    struct up u;
    const char *file = "corral.yaml";
    struct cfg_model *m;
    int r;
    memset(&u, 0, sizeof(u));
    r = parse_args(&u, argc, argv, &file);
    if (r >= 0)
        return r;
    m = cli_load_config(file);
    if (!m)
        return CLI_USAGE;
    for (int i = optind; i < argc; i++)
        if (cfg_find(m, argv[i]) < 0) {
            fprintf(stderr, "corral: %s: unknown service '%s'\n", file, argv[i]);
            cfg_free(m);
            return CLI_USAGE;
        }
    u.m = m;
    set_width(&u);
    /* A reader that went away must cost corral its output, not its life and
     * with it every service's supervision. */
    signal(SIGPIPE, SIG_IGN);
    u.lp = loop_new();
    u.out = u.lp ? out_new(u.lp, STDOUT_FILENO) : NULL;
    if (!u.out) {
        perror("corral: set-up");
        loop_free(u.lp);
        cfg_free(m);
        return CLI_FAILED;
    }
    r = run(&u, argv + optind, (size_t)(argc - optind));
    out_drain(u.out, 2000);
    sup_free(u.sup);
    out_free(u.out);
    loop_free(u.lp);
    cfg_free(m);
    return r;
}
