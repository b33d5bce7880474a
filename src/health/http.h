/* health/http.h — HTTP requests on corral's one loop, through libcurl's multi
 * interface: its sockets are watched by the loop and its timeouts are a loop
 * timer, so a request never blocks and costs nothing while it waits. For the
 * http probes and the webhooks. libcurl is loaded (dlopen) when the first
 * client is made. */
#ifndef CORRAL_HEALTH_HTTP_H
#define CORRAL_HEALTH_HTTP_H

#include "loop/loop.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_BODY_MAX (64 * 1024) /* of an answer, kept for the caller to look at */

struct http_client;
struct http_req;

/* Returns a client on lp, or NULL with why filled (libcurl cannot be
 * loaded, out of memory). Free with http_client_free(), which cancels every
 * request in flight without calling back. */
struct http_client *http_client_new(struct loop *lp, char *why, size_t size);
void http_client_free(struct http_client *c);

struct http_request {
    const char *url;  /* http:// or https:// */
    const char *body; /* NULL: GET; else POST with it */
    size_t body_len;
    const char *content_type; /* of the body; NULL: application/json */
    uint64_t timeout_ms;      /* the whole request, connect included */
};

struct http_answer {
    bool ok;           /* an answer came: status is set (any status) */
    long status;       /* HTTP status, 0 without an answer */
    const char *error; /* without an answer: why ("Connection refused", "timed out") */
    const char *body;  /* its first HTTP_BODY_MAX bytes, NUL-terminated; "" if none */
    size_t body_len;
    uint64_t elapsed_ms; /* from the start to the answer or the failure */
};

typedef void (*http_done_fn)(void *ctx, const struct http_answer *a);

/* Start a request; fn is called once from the loop with its answer (never
 * from inside this call). Returns a handle for http_cancel(), or NULL with
 * why filled. The request's strings are copied. */
struct http_req *http_start(struct http_client *c, const struct http_request *r, http_done_fn fn,
                            void *ctx, char *why, size_t size);
/* Abandon a request: fn is not called. NULL is a no-op. */
void http_cancel(struct http_req *q);
/* Requests in flight. */
size_t http_in_flight(const struct http_client *c);

#endif
