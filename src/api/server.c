/* api/server.c — the listeners and libmicrohttpd inside corral's loop: each
 * daemon runs in external-epoll mode, its epoll fd watched by our loop and its
 * timeouts kept in our timer heap, so the API adds no thread and, with no
 * client connected, no wake-up. Authentication happens before any body is
 * read: the Unix socket admits only corral's own uid or root (SO_PEERCRED),
 * TCP only a request with the bearer token. */
#include "api/internal.h"
#include "util/utf8.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define API_CONN_LIMIT   256
#define API_IDLE_TIMEOUT 15          /* seconds without traffic on a request/response */
#define API_CONN_MEMORY  (32 * 1024) /* request line + headers per connection */
#define API_PER_IP_LIMIT 64          /* TCP: one host cannot take every slot */
/* At a stop, how long the ended streams are given to send what they hold. */
#define API_DRAIN_MS 2000

/* --- responses ----------------------------------------------------------------------- */

static enum MHD_Result queue(struct MHD_Connection *c, unsigned status, struct MHD_Response *resp)
{
    enum MHD_Result r;
    if (!resp)
        return MHD_NO;
    r = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return r;
}

/* body as compact JSON and a newline (which keeps curl output readable);
 * takes the reference. NULL when out of memory. */
static struct MHD_Response *json_response(json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    size_t len = text ? strlen(text) : 0;
    char *line = text ? realloc(text, len + 2) : NULL;
    struct MHD_Response *resp;
    json_decref(body);
    if (!line) {
        free(text);
        return NULL;
    }
    line[len++] = '\n';
    line[len] = '\0';
    resp = MHD_create_response_from_buffer(len, line, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(line);
        return NULL;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    return resp;
}

enum MHD_Result api_respond_json(struct MHD_Connection *c, unsigned status, json_t *body)
{
    return queue(c, status, json_response(body));
}

enum MHD_Result api_respond_text(struct MHD_Connection *c, unsigned status, char *text, size_t len,
                                 const char *content_type)
{
    struct MHD_Response *resp =
        text ? MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE) : NULL;
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", content_type);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    return queue(c, status, resp);
}

enum MHD_Result api_respond_error(struct MHD_Connection *c, unsigned status, const char *code,
                                  const char *field, const char *fmt, ...)
{
    char msg[512], clean[sizeof(msg)];
    va_list ap;
    json_t *err;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* A message quoting what it was sent may end in a character cut in two. */
    utf8_clean(msg, strlen(msg), clean);
    err = json_pack("{s:{s:s,s:s,s:s?}}", "error", "code", code, "message", clean, "field", field);
    return api_respond_json(c, status, err);
}

static enum MHD_Result respond_with_header(struct MHD_Connection *c, unsigned status,
                                           const char *header, const char *value, const char *code,
                                           const char *msg)
{
    /* The message may quote the client's bytes (its method, cut to size):
     * made valid UTF-8, or jansson would refuse it and no answer go out. */
    char *clean = utf8_cleaned(msg);
    struct MHD_Response *resp = json_response(json_pack("{s:{s:s,s:s,s:n}}", "error", "code", code,
                                                        "message", clean ? clean : code, "field"));
    free(clean);
    if (resp)
        MHD_add_response_header(resp, header, value);
    return queue(c, status, resp);
}

/* --- authentication ------------------------------------------------------------------ */

static bool peer_allowed(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (!ci || getsockopt(ci->connect_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return false;
    return cred.uid == 0 || cred.uid == geteuid();
}

static enum MHD_Result deny(struct api_listener *l, struct MHD_Connection *c)
{
    if (!l->tcp)
        return api_respond_error(c, MHD_HTTP_FORBIDDEN, "forbidden", NULL,
                                 "only root and corral's own user may use this socket");
    return respond_with_header(c, MHD_HTTP_UNAUTHORIZED, "WWW-Authenticate", "Bearer",
                               "unauthorized",
                               "missing or wrong bearer token (see api.token_file)");
}

static bool authorized(struct api_listener *l, struct MHD_Connection *c)
{
    if (!l->tcp)
        return peer_allowed(c);
    return api_token_ok(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization"),
                        l->api->token);
}

/* --- requests ------------------------------------------------------------------------ */

static bool body_too_big(struct MHD_Connection *c)
{
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    uint64_t n;
    return cl && (api_parse_uint(cl, UINT64_MAX / 10, 0, &n) < 0 || n > API_BODY_MAX);
}

static enum MHD_Result first_call(struct api_listener *l, struct MHD_Connection *c, void **con_cls)
{
    struct api_req *req = calloc(1, sizeof(*req));
    if (!req)
        return MHD_NO;
    *con_cls = req;
    if (!authorized(l, c))
        return deny(l, c);
    if (body_too_big(c)) {
        req->too_big = true;
        return api_respond_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "payload_too_large", NULL,
                                 "request bodies are limited to %d bytes", API_BODY_MAX);
    }
    return MHD_YES;
}

static void take_body(struct api_req *req, const char *data, size_t *size)
{
    if (!req->too_big && req->len + *size <= API_BODY_MAX) {
        char *b = realloc(req->body, req->len + *size + 1);
        if (b) {
            memcpy(b + req->len, data, *size);
            req->body = b;
            req->len += *size;
            b[req->len] = '\0';
        } else {
            req->too_big = true;
        }
    } else {
        req->too_big = true;
    }
    *size = 0;
}

static int hex_value(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* libmicrohttpd's own decoding makes %00 a NUL, which ends the string it
 * hands over: ".../web%00x/stop" was read as web's. Every %XX is decoded
 * but that one, which stays as written, and so names nothing. */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
    char *out = s;
    (void)cls;
    (void)c;
    for (const char *p = s; *p; p++) {
        int hi = *p == '%' ? hex_value(p[1]) : -1, lo = hi >= 0 ? hex_value(p[2]) : -1;
        if (lo >= 0 && (hi | lo)) {
            *out++ = (char)(hi << 4 | lo);
            p += 2;
        } else {
            *out++ = *p;
        }
    }
    *out = '\0';
    return (size_t)(out - s);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct api_listener *l = cls;
    struct api_req *req = *con_cls;
    struct api_route route;
    const char *allow, *msg;
    int status;
    (void)version;
    if (!req)
        return first_call(l, c, con_cls);
    if (*upload_data_size) {
        take_body(req, upload_data, upload_data_size);
        return MHD_YES;
    }
    if (req->too_big)
        return api_respond_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "payload_too_large", NULL,
                                 "request bodies are limited to %d bytes", API_BODY_MAX);
    status = api_route_match(method, url, &route, &allow, &msg);
    if (status == 405) {
        char text[128];
        snprintf(text, sizeof(text), "%s %s is not allowed; use %s", method, url, allow);
        return respond_with_header(c, MHD_HTTP_METHOD_NOT_ALLOWED, "Allow", allow,
                                   "method_not_allowed", text);
    }
    if (status != 0)
        return api_respond_error(c, MHD_HTTP_NOT_FOUND, "not_found", NULL, "%s: %s", url, msg);
    return api_dispatch(l->api, c, &route, req);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct api_listener *l = cls;
    struct api_req *req = *con_cls;
    (void)c;
    (void)toe;
    if (req) {
        free(req->body);
        free(req);
        *con_cls = NULL;
    }
    if (!loop_timer_armed(&l->api->trim))
        loop_timer_arm(l->api->lp, &l->api->trim, API_TRIM_AFTER_MS);
}

/* The status of a thousand services is built from a few megabytes of small
 * JSON pieces, freed at once but kept resident by malloc where they lay: a
 * while after the requests stop, they are given back. One wake-up per burst
 * of requests, none while nobody asks. */
static void on_trim(struct loop *lp, void *data)
{
    (void)lp;
    (void)data;
    malloc_trim(0);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    /* libmicrohttpd reports client errors (bad requests, resets) here; they
     * are the client's business and already answered, so they are dropped. */
    (void)cls;
    (void)fmt;
    (void)ap;
}

/* --- the loop ---------------------------------------------------------------------- */

static void arm_timer(struct api *a)
{
    MHD_UNSIGNED_LONG_LONG t, best = 0;
    bool any = false;
    struct api_listener *ls[2] = {&a->unix_l, &a->tcp_l};
    for (int i = 0; i < 2; i++)
        if (ls[i]->d && MHD_get_timeout(ls[i]->d, &t) == MHD_YES && (!any || t < best)) {
            best = t;
            any = true;
        }
    if (any)
        loop_timer_arm(a->lp, &a->mhd_timer, best);
    else
        loop_timer_disarm(a->lp, &a->mhd_timer);
}

static unsigned open_connections(struct MHD_Daemon *d)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    return info ? info->num_connections : 0;
}

/* At its connection limit MHD takes its listening socket out of its epoll
 * set, and puts it back only at the start of a later run. A run that closed
 * connections (idle ones at their timeout, say) is followed by another at
 * once: else, with nothing left to wake the set, no client would ever be
 * accepted again. */
static void run_listener(struct MHD_Daemon *d)
{
    unsigned before = open_connections(d);
    MHD_run(d);
    if (open_connections(d) < before)
        MHD_run(d);
}

void api_poke(struct api *a)
{
    if (a->unix_l.d)
        run_listener(a->unix_l.d);
    if (a->tcp_l.d)
        run_listener(a->tcp_l.d);
    arm_timer(a);
}

void api_poke_soon(struct api *a)
{
    if (!loop_timer_armed(&a->mhd_timer) || a->mhd_timer.due_ms > loop_now_ms())
        loop_timer_arm(a->lp, &a->mhd_timer, 0);
}

static void on_mhd(struct loop *lp, int fd, uint32_t events, void *data)
{
    struct api_listener *l = data;
    (void)lp;
    (void)fd;
    (void)events;
    run_listener(l->d);
    arm_timer(l->api);
}

static void on_mhd_timer(struct loop *lp, void *data)
{
    (void)lp;
    api_poke(data);
}

static int listener_start(struct api *a, struct api_listener *l, struct diag *dg)
{
    const union MHD_DaemonInfo *info;
    bool tcp = l->tcp;
    l->d = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL, on_request, l,
                            MHD_OPTION_LISTEN_SOCKET, l->fd, MHD_OPTION_CONNECTION_LIMIT,
                            (unsigned)API_CONN_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned)API_IDLE_TIMEOUT, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                            (size_t)API_CONN_MEMORY, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                            (unsigned)(tcp ? API_PER_IP_LIMIT : 0), MHD_OPTION_NOTIFY_COMPLETED,
                            on_completed, l, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                            MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL, MHD_OPTION_END);
    if (!l->d) {
        diag_set(dg, -EIO, "cannot start the HTTP server");
        return -EIO;
    }
    l->fd = -1; /* the server's now, closed by MHD_stop_daemon() */
    info = MHD_get_daemon_info(l->d, MHD_DAEMON_INFO_EPOLL_FD);
    l->watch = info ? loop_watch_add(a->lp, info->epoll_fd, EPOLLIN, on_mhd, l) : NULL;
    if (!l->watch) {
        diag_set(dg, -EIO, "cannot watch the HTTP server");
        return -EIO;
    }
    return 0;
}

static void knock_watches_del(struct api *a)
{
    struct api_listener *ls[2] = {&a->unix_l, &a->tcp_l};
    for (int i = 0; i < 2; i++)
        if (!ls[i]->d && ls[i]->watch) {
            loop_watch_del(a->lp, ls[i]->watch);
            ls[i]->watch = NULL;
        }
}

/* The first client is let in: libmicrohttpd, and GnuTLS with a dozen more
 * libraries behind it (1.5 MiB resident), is loaded only now, so a corral
 * nobody talks to costs none of it, and its start none of their loading.
 * That client waits in the listen backlog meanwhile. */
static void on_knock(struct loop *lp, int fd, uint32_t events, void *data)
{
    struct api *a = data;
    char why[256];
    struct diag dg;
    (void)lp;
    (void)fd;
    (void)events;
    diag_clear(&dg);
    knock_watches_del(a);
    if (mhd_fns_load(why, sizeof(why)) < 0) {
        a->h.broken(a->h.ctx, why);
        return;
    }
    if ((a->unix_l.fd >= 0 && listener_start(a, &a->unix_l, &dg) < 0) ||
        (a->tcp_l.fd >= 0 && listener_start(a, &a->tcp_l, &dg) < 0)) {
        a->h.broken(a->h.ctx, dg.msg);
        return;
    }
    api_poke(a);
}

static int knock_watch(struct api *a, struct api_listener *l)
{
    l->watch = loop_watch_add(a->lp, l->fd, EPOLLIN, on_knock, a);
    return l->watch ? 0 : -errno;
}

/* --- sockets ------------------------------------------------------------------------ */

static int unix_path_fits(const char *path, struct diag *dg)
{
    struct sockaddr_un sa;
    if (strlen(path) < sizeof(sa.sun_path))
        return 0;
    diag_set(dg, -ENAMETOOLONG,
             "socket path %s is %zu bytes, more than the %zu a Unix socket allows; set "
             "state_dir to a shorter path",
             path, strlen(path), sizeof(sa.sun_path) - 1);
    return -ENAMETOOLONG;
}

static int listen_unix(const char *path, struct diag *dg)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    mode_t old;
    int fd, r;
    if ((r = unix_path_fits(path, dg)) < 0)
        return r;
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        diag_set(dg, -errno, "socket: %s", strerror(errno));
        return -errno;
    }
    /* The caller holds the state directory's lock: a socket file left here is
     * from a corral that is gone. */
    (void)unlink(path);
    old = umask(0177); /* created 0600: nobody else may even connect */
    r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (r < 0 || listen(fd, 128) < 0) {
        diag_set(dg, -errno, "cannot listen on %s: %s", path, strerror(errno));
        close(fd);
        return -errno;
    }
    return fd;
}

static int listen_tcp(const struct cfg_api *api, struct diag *dg)
{
    struct sockaddr_storage ss;
    socklen_t len;
    bool v6 = strchr(api->listen_addr, ':') != NULL;
    int one = 1, fd;
    memset(&ss, 0, sizeof(ss));
    if (v6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)api->listen_port);
        inet_pton(AF_INET6, api->listen_addr, &s6->sin6_addr);
        len = sizeof(*s6);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)api->listen_port);
        inet_pton(AF_INET, api->listen_addr, &s4->sin_addr);
        len = sizeof(*s4);
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        diag_set(dg, -errno, "socket: %s", strerror(errno));
        return -errno;
    }
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (v6)
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 128) < 0) {
        diag_set(dg, -errno, "api.listen %s: %s", api->listen, strerror(errno));
        close(fd);
        return -errno;
    }
    return fd;
}

/* The token file is read if it exists, else created 0600 with 32 random bytes
 * in hex, so that a client can read it once and keep using it. */
static int token_load(const char *path, char *token, struct diag *dg)
{
    unsigned char raw[API_TOKEN_LEN / 2];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd >= 0) {
        n = read(fd, token, API_TOKEN_LEN);
        close(fd);
        while (n > 0 && (token[n - 1] == '\n' || token[n - 1] == '\r' || token[n - 1] == ' '))
            n--;
        if (n < CFG_TOKEN_MIN) {
            diag_set(dg, -EINVAL, "%s: a token needs at least %d characters", path, CFG_TOKEN_MIN);
            return -EINVAL;
        }
        token[n] = '\0';
        return 0;
    }
    if (errno != ENOENT) {
        diag_set(dg, -errno, "cannot read %s: %s", path, strerror(errno));
        return -errno;
    }
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
        diag_set(dg, -EIO, "getrandom: %s", strerror(errno));
        return -EIO;
    }
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(token + 2 * i, 3, "%02x", raw[i]);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || write(fd, token, API_TOKEN_LEN) != API_TOKEN_LEN || write(fd, "\n", 1) != 1) {
        diag_set(dg, -errno, "cannot write %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -EIO;
    }
    close(fd);
    return 0;
}

/* --- public ------------------------------------------------------------------------- */

struct api *api_new(struct loop *lp, struct sup *s, const struct cfg_model *m,
                    const struct api_hooks *h, long long started_at, struct diag *dg)
{
    struct api *a = calloc(1, sizeof(*a));
    int fd;
    if (!a) {
        diag_set(dg, -ENOMEM, "out of memory");
        return NULL;
    }
    a->lp = lp;
    a->sup = s;
    a->m = m;
    a->h = *h;
    a->started_at = started_at;
    if (api_events_init(&a->ev) < 0) {
        diag_set(dg, -ENOMEM, "out of memory");
        free(a);
        return NULL;
    }
    api_history_init(a);
    loop_timer_init(&a->mhd_timer, on_mhd_timer, a);
    loop_timer_init(&a->trim, on_trim, a);
    loop_timer_init(&a->ping, api_ping, a);
    a->unix_l = (struct api_listener){.api = a, .fd = -1};
    a->tcp_l = (struct api_listener){.api = a, .fd = -1, .tcp = true};
    snprintf(a->sock_path, sizeof(a->sock_path), "%s/" CFG_SOCKET_NAME, m->state_dir);
    if (unix_path_fits(a->sock_path, dg) < 0)
        goto fail;
    if (m->api.listen) {
        if (token_load(m->api.token_file, a->token, dg) < 0)
            goto fail;
        fd = listen_tcp(&m->api, dg);
        if (fd < 0)
            goto fail;
        a->tcp_l.fd = fd;
    }
    if (a->tcp_l.fd >= 0 && knock_watch(a, &a->tcp_l) < 0) {
        diag_set(dg, -EIO, "cannot watch the API socket");
        goto fail;
    }
    return a;
fail:
    api_free(a);
    return NULL;
}

int api_listen(struct api *a, struct diag *dg)
{
    int fd = listen_unix(a->sock_path, dg);
    if (fd < 0)
        return -1;
    a->sock_bound = true;
    a->unix_l.fd = fd;
    if (knock_watch(a, &a->unix_l) < 0) {
        diag_set(dg, -EIO, "cannot watch the API socket");
        return -1;
    }
    return 0;
}

static void listener_stop(struct api *a, struct api_listener *l)
{
    knock_watches_del(a);
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
    if (!l->d)
        return;
    loop_watch_del(a->lp, l->watch);
    MHD_stop_daemon(l->d);
    l->d = NULL;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int listener_epoll_fd(const struct api_listener *l)
{
    const union MHD_DaemonInfo *info =
        l->d ? MHD_get_daemon_info(l->d, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
    return info ? info->epoll_fd : -1;
}

/* The ended streams are run to their end before the server stops: stopping
 * it cuts every connection, and a client whose stream still held data would
 * see it break off instead of end, as if corral had died. The one wait of
 * the loop's owner, at its end, bounded by API_DRAIN_MS. */
static void streams_drain(struct api *a)
{
    int64_t deadline = mono_ms() + API_DRAIN_MS;
    struct pollfd fds[2] = {{.fd = listener_epoll_fd(&a->unix_l), .events = POLLIN},
                            {.fd = listener_epoll_fd(&a->tcp_l), .events = POLLIN}};
    while (a->streams) {
        int64_t left = deadline - mono_ms();
        if (left <= 0)
            break;
        /* A short wait: a resumed connection may be due without a wakeup. */
        (void)poll(fds, 2, left < 10 ? (int)left : 10);
        api_poke(a);
    }
}

void api_free(struct api *a)
{
    if (!a)
        return;
    api_history_free(a);
    api_streams_end_all(a);
    streams_drain(a);
    listener_stop(a, &a->unix_l);
    listener_stop(a, &a->tcp_l);
    loop_timer_disarm(a->lp, &a->mhd_timer);
    loop_timer_disarm(a->lp, &a->trim);
    loop_timer_disarm(a->lp, &a->ping);
    if (a->sock_bound)
        (void)unlink(a->sock_path);
    api_events_free(&a->ev);
    free(a);
}

void api_retarget(struct api *a, struct sup *s, const struct cfg_model *m)
{
    const struct cfg_model *old = a->m;
    a->sup = s;
    a->m = m;
    api_streams_retarget(a, old, m);
}
