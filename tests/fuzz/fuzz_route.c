/* fuzz_route.c — libFuzzer target over what the API makes of a request:
 * method and path to a route, query values, a JSON body, an Authorization
 * header. Any bytes must give an answer, never a crash, a hang or a leak. */
#include "api/route.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Input: fields separated by '\n': method, path, a query value, the rest is
 * the body. */
static const char *field(char **p)
{
    char *s = *p;
    char *nl = strchr(s, '\n');
    if (nl) {
        *nl = '\0';
        *p = nl + 1;
    } else {
        *p = s + strlen(s);
    }
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1);
    char *p = copy;
    struct api_route r;
    const char *allow, *msg, *method, *path, *value, *names[API_NAMES_MAX];
    char buf[API_NAMES_MAX * API_NAME_MAX], err[256];
    uint64_t n;
    int64_t ms;
    bool f;
    int sig, status;
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    method = field(&p);
    path = field(&p);
    value = field(&p);
    status = api_route_match(method, path, &r, &allow, &msg);
    assert(status == 0 || status == 404 || status == 405);
    if (status == 0 && r.service[0])
        assert(api_name_valid(r.service));
    if (status == 405)
        assert(allow && (!strcmp(allow, "GET") || !strcmp(allow, "POST")));
    if (api_parse_uint(value, API_TAIL_MAX, 0, &n) == 0)
        assert(n <= API_TAIL_MAX);
    (void)api_parse_flag(value, false, &f);
    if (api_parse_time(value, &ms) == 0)
        assert(ms >= 0 - 24 * 3600 * 1000LL && ms < 253402387200000LL); /* 9999-12-31T24:00+24h */
    if (api_parse_names(value, buf, sizeof(buf), names, API_NAMES_MAX) > 0)
        assert(api_name_valid(names[0]));
    err[0] = '\0';
    if (api_parse_signal_body(p, strlen(p), &sig, err, sizeof(err)) == 0)
        assert(sig > 0);
    else
        assert(err[0] != '\0');
    (void)api_token_ok(value, "0123456789abcdef0123456789abcdef");
    free(copy);
    return 0;
}
