/* HTTP requests on the loop against a real server on 127.0.0.1, served by
 * the same loop: answers, refused connections, timeouts, POST bodies,
 * cancelled requests and oversized answers. */
#include "health/http.h"
#include "loop/loop.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
/* cmocka.h uses setjmp.h, stdarg.h and stddef.h without including them. */
#include <cmocka.h>

/* --- a one-connection-at-a-time server on the test's loop ----------------------- */

enum reply { REPLY_OK, REPLY_SILENT, REPLY_HUGE, REPLY_503 };

struct server {
    struct loop *lp;
    int fd;
    unsigned port;
    struct loop_watch *watch;
    enum reply reply;
    char request[8192]; /* what the last client sent */
    size_t request_len;
    int conn;
    struct loop_watch *conn_watch;
    char *out; /* the answer being sent */
    size_t out_len, out_off;
};

static void conn_close(struct server *sv)
{
    loop_watch_del(sv->lp, sv->conn_watch);
    sv->conn_watch = NULL;
    close(sv->conn);
    sv->conn = -1;
    free(sv->out);
    sv->out = NULL;
}

/* Writes what the socket takes; the rest when it is writable again. */
static void send_some(struct server *sv)
{
    while (sv->out_off < sv->out_len) {
        ssize_t n = write(sv->conn, sv->out + sv->out_off, sv->out_len - sv->out_off);
        if (n < 0 && errno == EAGAIN) {
            assert_int_equal(loop_watch_mod(sv->lp, sv->conn_watch, EPOLLOUT), 0);
            return;
        }
        assert_true(n > 0);
        sv->out_off += (size_t)n;
    }
    conn_close(sv);
}

static void reply(struct server *sv)
{
    size_t big = sv->reply == REPLY_HUGE ? 256 * 1024 : 0;
    const char *body = sv->reply == REPLY_503 ? "down" : "all good";
    if (sv->reply == REPLY_SILENT)
        return; /* keep the connection, answer nothing */
    sv->out = malloc(256 + big);
    assert_non_null(sv->out);
    if (big) {
        int h = snprintf(sv->out, 256, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", big);
        memset(sv->out + h, 'x', big);
        sv->out_len = (size_t)h + big;
    } else {
        sv->out_len = (size_t)snprintf(
            sv->out, 256, "HTTP/1.1 %s\r\nContent-Length: %zu\r\n\r\n%s",
            sv->reply == REPLY_503 ? "503 Service Unavailable" : "200 OK", strlen(body), body);
    }
    sv->out_off = 0;
    send_some(sv);
}

/* Reads until the end of the headers and, for a POST, its Content-Length. */
static void on_conn(struct loop *lp, int fd, uint32_t events, void *data)
{
    struct server *sv = data;
    const char *end, *cl;
    ssize_t n;
    (void)lp;
    if (events & EPOLLOUT) {
        send_some(sv);
        return;
    }
    n = read(fd, sv->request + sv->request_len, sizeof(sv->request) - 1 - sv->request_len);
    if (n <= 0) {
        conn_close(sv);
        return;
    }
    sv->request_len += (size_t)n;
    sv->request[sv->request_len] = '\0';
    end = strstr(sv->request, "\r\n\r\n");
    if (!end)
        return;
    cl = strcasestr(sv->request, "Content-Length: ");
    if (cl && (size_t)(end + 4 - sv->request) + strtoul(cl + 16, NULL, 10) > sv->request_len)
        return;
    reply(sv);
}

static void on_accept(struct loop *lp, int fd, uint32_t events, void *data)
{
    struct server *sv = data;
    (void)events;
    int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (c < 0)
        return;
    if (sv->conn >= 0) { /* one at a time is all these tests need */
        close(c);
        return;
    }
    sv->conn = c;
    sv->request_len = 0;
    sv->conn_watch = loop_watch_add(lp, c, EPOLLIN, on_conn, sv);
}

static void server_start(struct server *sv, struct loop *lp, enum reply r)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    memset(sv, 0, sizeof(*sv));
    sv->lp = lp;
    sv->reply = r;
    sv->conn = -1;
    sv->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    assert_true(sv->fd >= 0);
    assert_int_equal(bind(sv->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(sv->fd, 16), 0);
    assert_int_equal(getsockname(sv->fd, (struct sockaddr *)&sa, &len), 0);
    sv->port = ntohs(sa.sin_port);
    sv->watch = loop_watch_add(lp, sv->fd, EPOLLIN, on_accept, sv);
}

static void server_stop(struct server *sv)
{
    if (sv->conn >= 0)
        conn_close(sv);
    loop_watch_del(sv->lp, sv->watch);
    close(sv->fd);
}

/* A port nothing listens on: bound, never listened, then closed. */
static unsigned closed_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/* --- the requests ----------------------------------------------------------------- */

struct got {
    struct loop *lp;
    int calls;
    struct http_answer a;
    char body[HTTP_BODY_MAX + 1];
    char error[256];
};

static void on_done(void *ctx, const struct http_answer *a)
{
    struct got *g = ctx;
    g->calls++;
    g->a = *a;
    memcpy(g->body, a->body, a->body_len + 1);
    g->a.body = g->body;
    snprintf(g->error, sizeof(g->error), "%s", a->error ? a->error : "");
    loop_quit(g->lp);
}

struct fixture {
    struct loop *lp;
    struct http_client *c;
    struct server sv;
    struct loop_timer guard; /* a test that hangs fails instead */
};

static void on_guard(struct loop *lp, void *data)
{
    (void)data;
    loop_quit(lp);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char why[256];
    f->lp = loop_new();
    f->c = http_client_new(f->lp, why, sizeof(why));
    if (!f->c)
        fprintf(stderr, "http_client_new: %s\n", why);
    assert_non_null(f->c);
    loop_timer_init(&f->guard, on_guard, f);
    loop_timer_arm(f->lp, &f->guard, 10000);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    http_client_free(f->c);
    loop_timer_disarm(f->lp, &f->guard);
    loop_free(f->lp);
    free(f);
    return 0;
}

static struct http_req *start(struct fixture *f, const char *url, const char *body,
                              uint64_t timeout_ms, struct got *g)
{
    struct http_request r = {
        .url = url, .body = body, .body_len = body ? strlen(body) : 0, .timeout_ms = timeout_ms};
    char why[256];
    struct http_req *q;
    g->lp = f->lp;
    q = http_start(f->c, &r, on_done, g, why, sizeof(why));
    assert_non_null(q);
    assert_int_equal(g->calls, 0); /* never from inside the call */
    return q;
}

static void test_get_answers(void **state)
{
    struct fixture *f = *state;
    struct got g = {0};
    char url[64];
    server_start(&f->sv, f->lp, REPLY_OK);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/health", f->sv.port);
    start(f, url, NULL, 5000, &g);
    assert_int_equal(http_in_flight(f->c), 1);
    assert_int_equal(loop_run(f->lp), 0);
    assert_int_equal(g.calls, 1);
    assert_true(g.a.ok);
    assert_int_equal(g.a.status, 200);
    assert_string_equal(g.body, "all good");
    assert_non_null(strstr(f->sv.request, "GET /health HTTP/1.1\r\n"));
    assert_int_equal(http_in_flight(f->c), 0);
    server_stop(&f->sv);
}

static void test_status_is_an_answer(void **state)
{
    struct fixture *f = *state;
    struct got g = {0};
    char url[64];
    server_start(&f->sv, f->lp, REPLY_503);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/", f->sv.port);
    start(f, url, NULL, 5000, &g);
    assert_int_equal(loop_run(f->lp), 0);
    assert_true(g.a.ok);
    assert_int_equal(g.a.status, 503);
    assert_string_equal(g.body, "down");
    server_stop(&f->sv);
}

static void test_refused(void **state)
{
    struct fixture *f = *state;
    struct got g = {0};
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/", closed_port());
    start(f, url, NULL, 5000, &g);
    assert_int_equal(loop_run(f->lp), 0);
    assert_int_equal(g.calls, 1);
    assert_false(g.a.ok);
    assert_int_equal(g.a.status, 0);
    assert_true(g.error[0] != '\0');
}

static void test_timeout(void **state)
{
    struct fixture *f = *state;
    struct got g = {0};
    char url[64];
    server_start(&f->sv, f->lp, REPLY_SILENT);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/", f->sv.port);
    start(f, url, NULL, 200, &g);
    assert_int_equal(loop_run(f->lp), 0);
    assert_int_equal(g.calls, 1);
    assert_false(g.a.ok);
    assert_non_null(strcasestr(g.error, "timed out"));
    assert_true(g.a.elapsed_ms >= 200);
    server_stop(&f->sv);
}

static void test_post_body(void **state)
{
    struct fixture *f = *state;
    struct got g = {0};
    char url[64];
    const char *body = "{\"kind\":\"failed\",\"service\":\"web\"}";
    server_start(&f->sv, f->lp, REPLY_OK);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/hook", f->sv.port);
    start(f, url, body, 5000, &g);
    assert_int_equal(loop_run(f->lp), 0);
    assert_int_equal(g.a.status, 200);
    assert_non_null(strstr(f->sv.request, "POST /hook HTTP/1.1\r\n"));
    assert_non_null(strcasestr(f->sv.request, "Content-Type: application/json\r\n"));
    assert_non_null(strstr(f->sv.request, body));
    server_stop(&f->sv);
}

static void test_cancel_calls_nothing(void **state)
{
    struct fixture *f = *state;
    struct got g = {0}, g2 = {0};
    char url[64];
    server_start(&f->sv, f->lp, REPLY_OK);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/", f->sv.port);
    http_cancel(start(f, url, NULL, 5000, &g));
    assert_int_equal(http_in_flight(f->c), 0);
    /* A second request completes; the cancelled one never calls back. */
    start(f, url, NULL, 5000, &g2);
    assert_int_equal(loop_run(f->lp), 0);
    assert_int_equal(g.calls, 0);
    assert_int_equal(g2.calls, 1);
    /* Freed with one in flight: no call back either (teardown frees it). */
    start(f, url, NULL, 5000, &g);
    server_stop(&f->sv);
}

static void test_big_answer_is_cut(void **state)
{
    struct fixture *f = *state;
    static struct got g;
    char url[64];
    server_start(&f->sv, f->lp, REPLY_HUGE);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/", f->sv.port);
    start(f, url, NULL, 5000, &g);
    assert_int_equal(loop_run(f->lp), 0);
    assert_true(g.a.ok);
    assert_int_equal(g.a.body_len, HTTP_BODY_MAX);
    assert_int_equal(strlen(g.body), HTTP_BODY_MAX);
    server_stop(&f->sv);
}

static void test_only_http(void **state)
{
    struct fixture *f = *state;
    struct got g = {0};
    start(f, "file:///etc/passwd", NULL, 5000, &g);
    assert_int_equal(loop_run(f->lp), 0);
    assert_false(g.a.ok);
    assert_int_equal(strstr(g.body, "root:") != NULL, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get_answers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_is_an_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_post_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_calls_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_big_answer_is_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_only_http, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
