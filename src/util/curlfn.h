/* util/curlfn.h — libcurl, loaded with dlopen by what needs it: the commands
 * that talk to a running corral, and the daemon's http probes and webhooks
 * when it has any. Linked in, libcurl and what it pulls in (TLS, Kerberos,
 * LDAP: 30 libraries) took 7 ms to load at every start of the binary, `corral
 * up` included, whose start of ten services takes about as long. Include
 * after <curl/curl.h>: the calls below go through the table. */
#ifndef CORRAL_UTIL_CURLFN_H
#define CORRAL_UTIL_CURLFN_H

#include <curl/curl.h>

struct curl_fns {
    CURLcode (*global_init)(long flags);
    void (*global_cleanup)(void);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *h);
    void (*easy_reset)(CURL *h);
    CURLcode (*easy_setopt)(CURL *h, CURLoption opt, ...);
    CURLcode (*easy_perform)(CURL *h);
    CURLcode (*easy_getinfo)(CURL *h, CURLINFO info, ...);
    const char *(*easy_strerror)(CURLcode rc);
    struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
    void (*slist_free_all)(struct curl_slist *l);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_cleanup)(CURLM *m);
    CURLMcode (*multi_setopt)(CURLM *m, CURLMoption opt, ...);
    CURLMcode (*multi_add_handle)(CURLM *m, CURL *h);
    CURLMcode (*multi_remove_handle)(CURLM *m, CURL *h);
    CURLMcode (*multi_socket_action)(CURLM *m, curl_socket_t s, int ev_bitmask,
                                     int *running_handles);
    CURLMsg *(*multi_info_read)(CURLM *m, int *msgs_in_queue);
    CURLMcode (*multi_assign)(CURLM *m, curl_socket_t s, void *p);
};

extern struct curl_fns curl_fns;

/* Load libcurl once. 0, or -1 with why filled. */
int curl_fns_load(char *why, size_t size);

#undef curl_easy_setopt
#undef curl_easy_getinfo
#undef curl_multi_setopt
#define curl_global_init(f)                  curl_fns.global_init(f)
#define curl_global_cleanup()                curl_fns.global_cleanup()
#define curl_easy_init()                     curl_fns.easy_init()
#define curl_easy_cleanup(h)                 curl_fns.easy_cleanup(h)
#define curl_easy_reset(h)                   curl_fns.easy_reset(h)
#define curl_easy_setopt(h, ...)             curl_fns.easy_setopt(h, __VA_ARGS__)
#define curl_easy_perform(h)                 curl_fns.easy_perform(h)
#define curl_easy_getinfo(h, ...)            curl_fns.easy_getinfo(h, __VA_ARGS__)
#define curl_easy_strerror(rc)               curl_fns.easy_strerror(rc)
#define curl_slist_append(l, s)              curl_fns.slist_append(l, s)
#define curl_slist_free_all(l)               curl_fns.slist_free_all(l)
#define curl_multi_init()                    curl_fns.multi_init()
#define curl_multi_cleanup(m)                curl_fns.multi_cleanup(m)
#define curl_multi_setopt(m, ...)            curl_fns.multi_setopt(m, __VA_ARGS__)
#define curl_multi_add_handle(m, h)          curl_fns.multi_add_handle(m, h)
#define curl_multi_remove_handle(m, h)       curl_fns.multi_remove_handle(m, h)
#define curl_multi_socket_action(m, s, e, r) curl_fns.multi_socket_action(m, s, e, r)
#define curl_multi_info_read(m, q)           curl_fns.multi_info_read(m, q)
#define curl_multi_assign(m, s, p)           curl_fns.multi_assign(m, s, p)

#endif
