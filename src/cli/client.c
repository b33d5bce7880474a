/* cli/client.c — HTTP to the daemon over its Unix socket, through libcurl. */
#include "cli/client.h"

#include "cli/cli.h"
#include "cli/lock.h"
#include "config/config.h"
#include "util/curlfn.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A request is answered at once; one that takes this long will not be. */
#define CLIENT_TIMEOUT_S 10L
#define CONNECT_RETRY_MS 25L

#define RESPONSE_MAX (64 * 1024 * 1024)

static int pick_state_dir(struct client *c, const char *file, const char *state_dir)
{
    struct diag dg;
    struct stat st;
    char copy[PATH_MAX];
    int r;
    if (state_dir) {
        if (!*state_dir || (stat(state_dir, &st) == 0 && !S_ISDIR(st.st_mode))) {
            fprintf(stderr, "corral: --state-dir '%s' is not a directory\n", state_dir);
            return CLI_USAGE;
        }
        snprintf(c->state_dir, sizeof(c->state_dir), "%s", state_dir);
        return 0;
    }
    r = cfg_state_dir(file, c->state_dir, sizeof(c->state_dir), &dg);
    if (r == 0)
        return 0;
    if (r == 1) {
        fprintf(stderr, "corral: warning: %s: %s; its state_dir line says %s\n", file, dg.msg,
                c->state_dir);
        return 0;
    }
    if (stat(file, &st) == 0 && S_ISDIR(st.st_mode)) {
        fprintf(stderr, "corral: %s is a directory; -f names the config file\n", file);
        return CLI_USAGE;
    }
    if (access(file, F_OK) < 0) {
        fprintf(stderr, "corral: no %s here; use -f FILE or --state-dir DIR to name the instance\n",
                file);
        return CLI_USAGE;
    }
    /* A file broken since corral started must not lock the operator out:
     * assume the default state directory beside it. */
    if (!realpath(file, copy))
        snprintf(copy, sizeof(copy), "%s", file);
    snprintf(c->state_dir, sizeof(c->state_dir), "%s/.corral", dirname(copy));
    fprintf(stderr, "corral: warning: %s: %s; assuming state directory %s\n", file, dg.msg,
            c->state_dir);
    return 0;
}

int client_open(struct client *c, const char *file, const char *state_dir)
{
    char why[512];
    int r;
    memset(c, 0, sizeof(*c));
    r = pick_state_dir(c, file ? file : "corral.yaml", state_dir);
    if (r)
        return r;
    snprintf(c->sock, sizeof(c->sock), "%s/" CFG_SOCKET_NAME, c->state_dir);
    if (curl_fns_load(why, sizeof(why)) < 0) {
        fprintf(stderr, "corral: %s\n", why);
        return CLI_FAILED;
    }
    if (curl_global_init(CURL_GLOBAL_NOTHING) != CURLE_OK || !(c->curl = curl_easy_init())) {
        fprintf(stderr, "corral: cannot initialise libcurl\n");
        return CLI_FAILED;
    }
    return 0;
}

void client_close(struct client *c)
{
    if (!c->curl)
        return; /* libcurl was never loaded, or nothing was made with it */
    curl_easy_cleanup(c->curl);
    c->curl = NULL;
    curl_global_cleanup();
}

struct buf {
    char *data;
    size_t len;
    bool too_big;
};

static size_t collect(char *p, size_t size, size_t n, void *ctx)
{
    struct buf *b = ctx;
    size_t len = size * n;
    char *d;
    if (b->len + len > RESPONSE_MAX) {
        b->too_big = true;
        return 0;
    }
    d = realloc(b->data, b->len + len + 1);
    if (!d)
        return 0;
    memcpy(d + b->len, p, len);
    b->data = d;
    b->len += len;
    d[b->len] = '\0';
    return len;
}

static void say(const struct client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(const struct client *c, const char *fmt, ...)
{
    va_list ap;
    if (c->quiet)
        return;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

/* Says why a request got no answer (unless quiet); CLIENT_DOWN or CLIENT_MUTE. */
static long not_running(const struct client *c, CURLcode rc)
{
    bool live = false;
    pid_t holder = rc == CURLE_COULDNT_CONNECT ? cli_lock_holder(c->state_dir, &live) : 0;
    if (holder > 0 && cli_holder_is_cleanup(holder)) {
        say(c, "corral: not running for %s: corral cleanup (pid %d) is stopping its orphans\n",
            c->state_dir, (int)holder);
        return CLIENT_DOWN;
    }
    if (holder > 0 && live) {
        say(c,
            "corral: a corral (pid %d) holds %s, but nothing listened on %s within %lds: "
            "it may be hung, or the socket was removed (corral doctor tells more)\n",
            (int)holder, c->state_dir, c->sock, CLIENT_TIMEOUT_S);
        return CLIENT_MUTE;
    }
    if (rc == CURLE_COULDNT_CONNECT) {
        say(c, "corral: not running for %s (nothing listens on %s)\n", c->state_dir, c->sock);
        return CLIENT_DOWN;
    }
    if (rc == CURLE_OPERATION_TIMEDOUT)
        say(c,
            "corral: the daemon at %s took the request but did not answer within %lds: it "
            "may be hung or stopped (corral doctor tells more)\n",
            c->sock, CLIENT_TIMEOUT_S);
    else
        say(c, "corral: cannot talk to the daemon at %s: %s\n", c->sock, curl_easy_strerror(rc));
    return CLIENT_MUTE;
}

int client_exit_status(long status)
{
    return status == CLIENT_DOWN ? CLI_NOT_RUNNING : CLI_FAILED;
}

/* A corral that holds the lock, marked running, but has no socket yet is
 * starting: it makes the socket after its first spawns, 0.75 s into a start
 * of 1000 services.
 * Its API is waited for, up to CLIENT_TIMEOUT_S, rather than said not to
 * run. A cleanup holds the lock too, but no API will come of it. */
static CURLcode perform(struct client *c)
{
    const struct timespec pause = {.tv_nsec = CONNECT_RETRY_MS * 1000000L};
    CURLcode rc;
    for (long waited_ms = 0;; waited_ms += CONNECT_RETRY_MS) {
        bool live;
        pid_t holder;
        rc = curl_easy_perform(c->curl);
        if (rc != CURLE_COULDNT_CONNECT || waited_ms >= CLIENT_TIMEOUT_S * 1000)
            return rc;
        holder = cli_lock_holder(c->state_dir, &live);
        if (holder <= 0 || !live || cli_holder_is_cleanup(holder))
            return rc;
        nanosleep(&pause, NULL);
    }
}

static void prepare(struct client *c, const char *method, const char *path, const char *url_path)
{
    char url[PATH_MAX + 64];
    CURL *h = c->curl;
    (void)path;
    curl_easy_reset(h);
    snprintf(url, sizeof(url), "http://corral%s", url_path);
    curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, c->sock);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
}

long client_call(struct client *c, const char *method, const char *path, const char *body,
                 json_t **out)
{
    struct buf b = {0};
    struct curl_slist *hdr = NULL;
    CURLcode rc;
    long status = -1;
    *out = NULL;
    prepare(c, method, path, path);
    if (body) {
        hdr = curl_slist_append(hdr, "Content-Type: application/json");
        curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, "");
    }
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, CLIENT_TIMEOUT_S);
    rc = perform(c);
    curl_slist_free_all(hdr);
    if (rc != CURLE_OK) {
        status = not_running(c, rc);
    } else {
        curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
        if (b.data)
            *out = json_loadb(b.data, b.len, 0, NULL);
    }
    free(b.data);
    return status;
}

struct stream_ctx {
    bool (*fn)(void *ctx, const char *data, size_t len);
    void *ctx;
    CURL *curl;
    struct buf error; /* the body of a refusal: a message, not output */
};

static size_t pass_on(char *p, size_t size, size_t n, void *ctx)
{
    struct stream_ctx *sc = ctx;
    long status = 0;
    curl_easy_getinfo(sc->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200)
        return collect(p, size, n, &sc->error);
    return sc->fn(sc->ctx, p, size * n) ? size * n : 0;
}

long client_stream(struct client *c, const char *path,
                   bool (*fn)(void *ctx, const char *data, size_t len), void *ctx)
{
    struct stream_ctx sc = {.fn = fn, .ctx = ctx, .curl = c->curl};
    CURLcode rc;
    long status = -1;
    prepare(c, "GET", path, path);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, pass_on);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &sc);
    rc = perform(c);
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK && rc != CURLE_WRITE_ERROR && status == 0) {
        free(sc.error.data);
        return not_running(c, rc);
    }
    /* Begun, then cut off before the server ended it: corral died (kill -9,
     * a crash) or the connection broke. That is no end of the stream. */
    if (rc != CURLE_OK && rc != CURLE_WRITE_ERROR && status == 200) {
        free(sc.error.data);
        fprintf(stderr, "corral: the stream from %s broke off: %s\n", c->sock,
                curl_easy_strerror(rc));
        return CLIENT_BROKEN;
    }
    if (status != 200) {
        json_t *body = sc.error.data ? json_loadb(sc.error.data, sc.error.len, 0, NULL) : NULL;
        fprintf(stderr, "corral: %s\n", client_error(body, status));
        json_decref(body);
    }
    free(sc.error.data);
    return status;
}

const char *client_error(const json_t *body, long status)
{
    static char fallback[64];
    const char *msg = json_string_value(json_object_get(json_object_get(body, "error"), "message"));
    if (msg)
        return msg;
    snprintf(fallback, sizeof(fallback), "HTTP status %ld", status);
    return fallback;
}

bool client_left_running(const struct client *c)
{
    char path[PATH_MAX + 16];
    struct stat st;
    snprintf(path, sizeof(path), "%s/corral.lock", c->state_dir);
    return stat(path, &st) == 0 && st.st_size > 0;
}

bool client_daemon_gone(const struct client *c)
{
    char path[PATH_MAX + 16];
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    int fd;
    bool gone;
    snprintf(path, sizeof(path), "%s/corral.lock", c->state_dir);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT;
    gone = fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type == F_UNLCK;
    close(fd);
    return gone;
}
