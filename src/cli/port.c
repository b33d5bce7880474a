/* cli/port.c — `corral port PORT...`: who holds each port (TCP listeners and
 * bound UDP sockets, IPv4 and IPv6), with the process, its user, its command
 * line, and the corral service it belongs to, if any. Read-only; needs no
 * running corral. */
#include "cli/cli.h"
#include "proc/ident.h"
#include "proc/ports.h"
#include "util/utf8.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PORTS_MAX 256

struct holder {
    struct proc_port_holder h;
    char user[64];
    char command[256];
    char service[128];
    char instance[64];
};

struct holders {
    struct holder *v;
    size_t n, cap;
};

/* CORRAL_SERVICE and CORRAL_INSTANCE from the process's environment. */
static void corral_tag(pid_t pid, struct holder *out)
{
    char path[64];
    static char env[1 << 16];
    int len;
    snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
    len = proc_read_at(AT_FDCWD, path, env, sizeof(env));
    for (int i = 0; len > 0 && i < len; i += (int)strlen(env + i) + 1) {
        if (strncmp(env + i, "CORRAL_SERVICE=", 15) == 0)
            snprintf(out->service, sizeof(out->service), "%s", env + i + 15);
        else if (strncmp(env + i, "CORRAL_INSTANCE=", 16) == 0)
            snprintf(out->instance, sizeof(out->instance), "%s", env + i + 16);
    }
}

static void collect(void *ctx, const struct proc_port_holder *h)
{
    struct holders *hs = ctx;
    struct holder *x;
    struct passwd *pw;
    if (hs->n == hs->cap) {
        size_t cap = hs->cap ? 2 * hs->cap : 16;
        struct holder *v = realloc(hs->v, cap * sizeof(*v));
        if (!v)
            return;
        hs->v = v;
        hs->cap = cap;
    }
    x = &hs->v[hs->n++];
    memset(x, 0, sizeof(*x));
    x->h = *h;
    pw = getpwuid(h->sock.uid);
    if (pw)
        snprintf(x->user, sizeof(x->user), "%s", pw->pw_name);
    else
        snprintf(x->user, sizeof(x->user), "%u", (unsigned)h->sock.uid);
    if (h->pid > 0) {
        if (proc_cmdline_read(h->pid, x->command, sizeof(x->command)) < 0)
            x->command[0] = '\0';
        corral_tag(h->pid, x);
    }
}

static const char *proto_name(const struct proc_sock *s)
{
    if (s->proto == PROC_TCP)
        return s->v6 ? "tcp6" : "tcp";
    return s->v6 ? "udp6" : "udp";
}

static json_t *holder_json(const struct holder *x)
{
    char addr[64];
    proc_sock_addr_text(&x->h.sock, addr, sizeof(addr));
    return json_pack("{s:I,s:s,s:s,s:o,s:s,s:s?,s:s?,s:s?}", "port", (json_int_t)x->h.sock.port,
                     "proto", proto_name(&x->h.sock), "address", addr, "pid",
                     x->h.pid ? json_integer(x->h.pid) : json_null(), "user", x->user, "command",
                     x->command[0] ? x->command : NULL, "service",
                     x->service[0] ? x->service : NULL, "instance",
                     x->instance[0] ? x->instance : NULL);
}

static bool held(const struct holders *hs, unsigned port)
{
    for (size_t i = 0; i < hs->n; i++)
        if (hs->v[i].h.sock.port == port)
            return true;
    return false;
}

static void print_table(const struct holders *hs, const unsigned *ports, size_t n)
{
    printf("%-6s %-5s %-16s %7s  %-10s %-14s %s\n", "PORT", "PROTO", "ADDRESS", "PID", "USER",
           "SERVICE", "COMMAND");
    for (size_t k = 0; k < n; k++) {
        if (!held(hs, ports[k]))
            printf("%-6u free\n", ports[k]);
        for (size_t i = 0; i < hs->n; i++) {
            const struct holder *x = &hs->v[i];
            char addr[64], pid[16] = "-", cmd[sizeof(x->command)];
            if (x->h.sock.port != ports[k])
                continue;
            proc_sock_addr_text(&x->h.sock, addr, sizeof(addr));
            if (x->h.pid)
                snprintf(pid, sizeof(pid), "%d", (int)x->h.pid);
            snprintf(cmd, sizeof(cmd), "%s", x->command[0] ? x->command : "-");
            utf8_printable(cmd); /* a command line may hold a newline, or worse */
            printf("%-6u %-5s %-16s %7s  %-10s %-14s %s\n", ports[k], proto_name(&x->h.sock), addr,
                   pid, x->user, x->service[0] ? x->service : "-", cmd);
        }
    }
}

static int parse_ports(int argc, char **argv, unsigned *ports, size_t *n)
{
    *n = 0;
    for (int i = optind; i < argc; i++) {
        char *end;
        long p = strtol(argv[i], &end, 10);
        if (*end || p < 1 || p > 65535 || *n == PORTS_MAX) {
            fprintf(stderr, "corral port: '%s' is not a port (1-65535)\n", argv[i]);
            return CLI_USAGE;
        }
        ports[(*n)++] = (unsigned)p;
    }
    if (*n == 0) {
        fprintf(stderr, "usage: corral port [--json] PORT...\n");
        return CLI_USAGE;
    }
    return 0;
}

int cli_port(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    unsigned ports[PORTS_MAX];
    struct holders hs = {0};
    bool json = false, all = true;
    size_t n;
    int c, r;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'j') {
            json = true;
        } else {
            fprintf(c == 'h' ? stdout : stderr, "usage: corral port [--json] PORT...\n");
            return c == 'h' ? CLI_OK : CLI_USAGE;
        }
    }
    if ((r = parse_ports(argc, argv, ports, &n)) != 0)
        return r;
    r = proc_ports_find(ports, n, collect, &hs);
    if (r < 0) {
        fprintf(stderr, "corral port: cannot read /proc/net: %s\n", strerror(-r));
        free(hs.v);
        return CLI_FAILED;
    }
    for (size_t k = 0; k < n; k++)
        all = all && held(&hs, ports[k]);
    if (json) {
        json_t *list = json_array();
        for (size_t i = 0; i < hs.n; i++)
            json_array_append_new(list, holder_json(&hs.v[i]));
        json_t *free_ports = json_array();
        for (size_t k = 0; k < n; k++)
            if (!held(&hs, ports[k]))
                json_array_append_new(free_ports, json_integer(ports[k]));
        json_t *body = json_pack("{s:o,s:o}", "holders", list, "free", free_ports);
        json_dumpf(body, stdout, JSON_COMPACT);
        putchar('\n');
        json_decref(body);
    } else {
        print_table(&hs, ports, n);
    }
    free(hs.v);
    /* Like fuser: 0 when every port asked about is held. */
    return all ? CLI_OK : CLI_FAILED;
}
