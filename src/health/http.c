/* health/http.c — libcurl's multi interface driven by the loop (see http.h):
 * curl says which sockets to watch for what and when to call it back; the
 * loop's watches and one timer do the waiting. */
#include "health/http.h"

#include "util/curlfn.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

struct http_sock;

struct http_client {
    struct loop *lp;
    CURLM *multi;
    struct loop_timer timer;
    struct http_req *reqs; /* in flight, newest first */
    size_t n_reqs;
    struct http_sock *socks; /* watched for curl */
};

/* One socket curl asked us to watch. */
struct http_sock {
    struct http_client *c;
    struct http_sock *prev, *next;
    curl_socket_t fd;
    struct loop_watch *watch;
};

static void sock_free(struct http_sock *hs)
{
    struct http_client *c = hs->c;
    if (hs->prev)
        hs->prev->next = hs->next;
    else
        c->socks = hs->next;
    if (hs->next)
        hs->next->prev = hs->prev;
    loop_watch_del(c->lp, hs->watch);
    free(hs);
}

struct http_req {
    struct http_client *c;
    struct http_req *prev, *next;
    CURL *easy;
    struct curl_slist *headers;
    http_done_fn fn;
    void *ctx;
    char *url;
    char *body;
    char *answer; /* HTTP_BODY_MAX + 1, at the first byte */
    size_t answer_len;
    uint64_t started_ms;
    char error[CURL_ERROR_SIZE];
};

static void check_done(struct http_client *c);

/* --- curl's sockets and timer on the loop --------------------------------------- */

static void on_socket_ready(struct loop *lp, int fd, uint32_t events, void *data)
{
    struct http_sock *hs = data;
    struct http_client *c = hs->c;
    int flags = 0, running;
    (void)lp;
    if (events & EPOLLIN)
        flags |= CURL_CSELECT_IN;
    if (events & EPOLLOUT)
        flags |= CURL_CSELECT_OUT;
    if (events & (EPOLLERR | EPOLLHUP))
        flags |= CURL_CSELECT_ERR;
    /* hs may be freed inside (curl removes the socket): only c is used after. */
    (void)curl_multi_socket_action(c->multi, fd, flags, &running);
    check_done(c);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct http_client *c = userp;
    struct http_sock *hs = socketp;
    uint32_t events = 0;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (hs) {
            sock_free(hs);
            (void)curl_multi_assign(c->multi, fd, NULL);
        }
        return 0;
    }
    if (what & CURL_POLL_IN)
        events |= EPOLLIN;
    if (what & CURL_POLL_OUT)
        events |= EPOLLOUT;
    if (hs)
        return loop_watch_mod(c->lp, hs->watch, events) < 0 ? -1 : 0;
    hs = calloc(1, sizeof(*hs));
    if (!hs)
        return -1;
    hs->c = c;
    hs->fd = fd;
    hs->watch = loop_watch_add(c->lp, fd, events, on_socket_ready, hs);
    if (!hs->watch) {
        free(hs);
        return -1;
    }
    hs->next = c->socks;
    if (c->socks)
        c->socks->prev = hs;
    c->socks = hs;
    (void)curl_multi_assign(c->multi, fd, hs);
    return 0;
}

static void on_timer(struct loop *lp, void *data)
{
    struct http_client *c = data;
    int running;
    (void)lp;
    (void)curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(c);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct http_client *c = userp;
    (void)multi;
    if (timeout_ms < 0)
        loop_timer_disarm(c->lp, &c->timer);
    else
        loop_timer_arm(c->lp, &c->timer, (uint64_t)timeout_ms);
    return 0;
}

/* --- requests ----------------------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t n, void *userp)
{
    struct http_req *q = userp;
    size_t len = size * n, room;
    if (!q->answer && !(q->answer = malloc(HTTP_BODY_MAX + 1)))
        return len; /* the status still counts; the body is not kept */
    room = HTTP_BODY_MAX - q->answer_len;
    if (len < room)
        room = len;
    memcpy(q->answer + q->answer_len, data, room);
    q->answer_len += room;
    return len; /* the rest is read and dropped: memory stays bounded */
}

static void unlink_req(struct http_req *q)
{
    struct http_client *c = q->c;
    if (q->prev)
        q->prev->next = q->next;
    else
        c->reqs = q->next;
    if (q->next)
        q->next->prev = q->prev;
    c->n_reqs--;
}

static void req_free(struct http_req *q)
{
    if (q->easy) {
        (void)curl_multi_remove_handle(q->c->multi, q->easy);
        curl_easy_cleanup(q->easy);
    }
    curl_slist_free_all(q->headers);
    free(q->url);
    free(q->body);
    free(q->answer);
    free(q);
}

static void finish(struct http_req *q, CURLcode rc)
{
    struct http_answer a = {0};
    long status = 0;
    a.elapsed_ms = loop_now_ms() - q->started_ms;
    if (rc == CURLE_OK && curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK &&
        status > 0) {
        a.ok = true;
        a.status = status;
    } else {
        a.error = q->error[0] ? q->error : curl_easy_strerror(rc);
    }
    if (q->answer)
        q->answer[q->answer_len] = '\0';
    a.body = q->answer ? q->answer : "";
    a.body_len = q->answer_len;
    unlink_req(q);
    /* Out of curl before the callback, which may start or cancel requests. */
    (void)curl_multi_remove_handle(q->c->multi, q->easy);
    q->fn(q->ctx, &a);
    req_free(q);
}

static void check_done(struct http_client *c)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(c->multi, &left))) {
        struct http_req *q = NULL;
        if (msg->msg != CURLMSG_DONE)
            continue;
        (void)curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&q);
        if (q)
            finish(q, msg->data.result);
    }
}

static int set_options(struct http_req *q, const struct http_request *r)
{
    CURL *e = q->easy;
    long timeout = r->timeout_ms > (uint64_t)LONG_MAX ? LONG_MAX : (long)r->timeout_ms;
    char ctype[128];
    if (curl_easy_setopt(e, CURLOPT_URL, q->url) != CURLE_OK ||
        /* A probe or a webhook speaks HTTP only: no file://, no redirects. */
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_PRIVATE, q) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_WRITEDATA, q) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, q->error) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_USERAGENT, "corral/" CORRAL_VERSION) != CURLE_OK)
        return -EINVAL;
    if (!r->body)
        return 0;
    snprintf(ctype, sizeof(ctype), "Content-Type: %s",
             r->content_type ? r->content_type : "application/json");
    /* "Expect:" off: no waiting for a 100 Continue that small bodies never need. */
    if (!(q->headers = curl_slist_append(NULL, ctype)) ||
        !(q->headers = curl_slist_append(q->headers, "Expect:")))
        return -ENOMEM;
    if (curl_easy_setopt(e, CURLOPT_HTTPHEADER, q->headers) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, q->body) != CURLE_OK)
        return -EINVAL;
    return 0;
}

struct http_req *http_start(struct http_client *c, const struct http_request *r, http_done_fn fn,
                            void *ctx, char *why, size_t size)
{
    struct http_req *q = calloc(1, sizeof(*q));
    if (!q || !(q->url = strdup(r->url)) ||
        (r->body && !(q->body = malloc(r->body_len ? r->body_len : 1))) ||
        !(q->easy = curl_easy_init())) {
        snprintf(why, size, "out of memory");
        goto fail;
    }
    if (r->body)
        memcpy(q->body, r->body, r->body_len);
    q->c = c;
    q->fn = fn;
    q->ctx = ctx;
    q->started_ms = loop_now_ms();
    if (set_options(q, r) < 0) {
        snprintf(why, size, "cannot set up a request to %s", r->url);
        goto fail;
    }
    if (curl_multi_add_handle(c->multi, q->easy) != CURLM_OK) {
        snprintf(why, size, "cannot start a request to %s", r->url);
        goto fail;
    }
    q->next = c->reqs;
    if (c->reqs)
        c->reqs->prev = q;
    c->reqs = q;
    c->n_reqs++;
    return q;
fail:
    if (q) {
        q->c = c;
        req_free(q);
    }
    return NULL;
}

void http_cancel(struct http_req *q)
{
    if (!q)
        return;
    unlink_req(q);
    req_free(q);
}

size_t http_in_flight(const struct http_client *c)
{
    return c->n_reqs;
}

/* --- the client ------------------------------------------------------------------- */

struct http_client *http_client_new(struct loop *lp, char *why, size_t size)
{
    static bool global;
    struct http_client *c;
    if (curl_fns_load(why, size) < 0)
        return NULL;
    if (!global && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(why, size, "libcurl cannot initialise");
        return NULL;
    }
    global = true;
    c = calloc(1, sizeof(*c));
    if (!c || !(c->multi = curl_multi_init())) {
        snprintf(why, size, "out of memory");
        free(c);
        return NULL;
    }
    c->lp = lp;
    loop_timer_init(&c->timer, on_timer, c);
    if (curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket) != CURLM_OK ||
        curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c) != CURLM_OK ||
        curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer) != CURLM_OK ||
        curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c) != CURLM_OK) {
        snprintf(why, size, "libcurl refused the event-loop callbacks");
        http_client_free(c);
        return NULL;
    }
    return c;
}

void http_client_free(struct http_client *c)
{
    if (!c)
        return;
    while (c->reqs)
        http_cancel(c->reqs);
    (void)curl_multi_cleanup(c->multi);
    /* Whatever curl did not hand back through on_socket(REMOVE). */
    while (c->socks)
        sock_free(c->socks);
    loop_timer_disarm(c->lp, &c->timer);
    free(c);
}
