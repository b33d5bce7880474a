/* cli/curlfn.h — libcurl, loaded with dlopen by the commands that talk to a
 * running corral, and only by them. Linked in, libcurl and what it pulls in
 * (TLS, Kerberos, LDAP: 30 libraries) took 7 ms to load at every start of the
 * binary, `corral up` included, whose start of ten services takes about as
 * long. Include after <curl/curl.h>: the calls below go through the table. */
#ifndef CORRAL_CLI_CURLFN_H
#define CORRAL_CLI_CURLFN_H

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
};

extern struct curl_fns curl_fns;

/* Load libcurl once. 0, or -1 with why filled. */
int curl_fns_load(char *why, size_t size);

#undef curl_easy_setopt
#undef curl_easy_getinfo
#define curl_global_init(f)       curl_fns.global_init(f)
#define curl_global_cleanup()     curl_fns.global_cleanup()
#define curl_easy_init()          curl_fns.easy_init()
#define curl_easy_cleanup(h)      curl_fns.easy_cleanup(h)
#define curl_easy_reset(h)        curl_fns.easy_reset(h)
#define curl_easy_setopt(h, ...)  curl_fns.easy_setopt(h, __VA_ARGS__)
#define curl_easy_perform(h)      curl_fns.easy_perform(h)
#define curl_easy_getinfo(h, ...) curl_fns.easy_getinfo(h, __VA_ARGS__)
#define curl_easy_strerror(rc)    curl_fns.easy_strerror(rc)
#define curl_slist_append(l, s)   curl_fns.slist_append(l, s)
#define curl_slist_free_all(l)    curl_fns.slist_free_all(l)

#endif
