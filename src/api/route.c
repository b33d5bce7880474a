/* api/route.c — paths to routes and raw parameters to checked values. */
#include "api/route.h"

#include "config/config.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct fixed_route {
    const char *method;
    const char *path;
    enum api_route_id id;
};

static const struct fixed_route fixed[] = {
    {"GET", "/health/live", API_R_HEALTH_LIVE},
    {"GET", "/health/ready", API_R_HEALTH_READY},
    {"GET", "/v1", API_R_INFO},
    {"GET", "/v1/services", API_R_SERVICES},
    {"GET", "/v1/logs", API_R_LOGS},
    {"GET", "/v1/tree", API_R_TREE},
    {"GET", "/v1/events", API_R_EVENTS},
    {"POST", "/v1/restart", API_R_RESTART_MANY},
    {"POST", "/v1/reload", API_R_RELOAD},
    {"POST", "/v1/shutdown", API_R_SHUTDOWN},
    {"GET", "/metrics", API_R_METRICS},
};

struct action_route {
    const char *method;
    const char *action;
    enum api_route_id id;
};

static const struct action_route actions[] = {
    {"POST", "start", API_R_START},      {"POST", "stop", API_R_STOP},
    {"POST", "restart", API_R_RESTART},  {"POST", "signal", API_R_SIGNAL},
    {"GET", "logs", API_R_SERVICE_LOGS}, {"GET", "tree", API_R_SERVICE_TREE},
};

#define N_FIXED   (sizeof(fixed) / sizeof(fixed[0]))
#define N_ACTIONS (sizeof(actions) / sizeof(actions[0]))

bool api_name_valid(const char *s)
{
    return cfg_name_valid(s, strnlen(s, API_NAME_MAX));
}

/* A method that is GET is also served for HEAD. */
static bool method_is(const char *method, const char *want)
{
    return strcmp(method, want) == 0 || (strcmp(want, "GET") == 0 && strcmp(method, "HEAD") == 0);
}

static int match_service(const char *method, const char *rest, struct api_route *r,
                         const char **allow, const char **msg)
{
    const char *slash = strchr(rest, '/');
    size_t len = slash ? (size_t)(slash - rest) : strlen(rest);
    if (len == 0 || len >= API_NAME_MAX) {
        *msg = "expected /v1/services/NAME";
        return 404;
    }
    memcpy(r->service, rest, len);
    r->service[len] = '\0';
    if (!api_name_valid(r->service)) {
        *msg = "invalid service name";
        return 404;
    }
    if (!slash || slash[1] == '\0') {
        r->id = API_R_SERVICE;
        *allow = "GET";
        return method_is(method, "GET") ? 0 : 405;
    }
    for (size_t i = 0; i < N_ACTIONS; i++)
        if (strcmp(slash + 1, actions[i].action) == 0) {
            r->id = actions[i].id;
            *allow = actions[i].method;
            return method_is(method, actions[i].method) ? 0 : 405;
        }
    *msg = "no such action (expected start, stop, restart, signal, logs or tree)";
    return 404;
}

int api_route_match(const char *method, const char *path, struct api_route *r, const char **allow,
                    const char **msg)
{
    static const char prefix[] = "/v1/services/";
    size_t len = strlen(path);
    memset(r, 0, sizeof(*r));
    *allow = NULL;
    *msg = "no such route";
    /* One trailing slash is forgiven: /v1/services/ is /v1/services. */
    for (size_t i = 0; i < N_FIXED; i++) {
        size_t fl = strlen(fixed[i].path);
        if (strncmp(path, fixed[i].path, fl) == 0 &&
            (len == fl || (len == fl + 1 && path[fl] == '/'))) {
            r->id = fixed[i].id;
            *allow = fixed[i].method;
            return method_is(method, fixed[i].method) ? 0 : 405;
        }
    }
    if (strncmp(path, prefix, sizeof(prefix) - 1) == 0)
        return match_service(method, path + sizeof(prefix) - 1, r, allow, msg);
    return 404;
}

int api_parse_uint(const char *s, uint64_t max, uint64_t def, uint64_t *out)
{
    uint64_t v = 0;
    if (!s) {
        *out = def;
        return 0;
    }
    if (!*s)
        return -EINVAL;
    for (const char *p = s; *p; p++) {
        uint64_t d;
        if (*p < '0' || *p > '9')
            return -EINVAL;
        d = (uint64_t)(*p - '0');
        /* Checked before the step, which could wrap past UINT64_MAX. */
        if (v > (max - d) / 10)
            return -EINVAL;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* n digits at *p into *v, within [lo, hi]. */
static bool digits(const char **p, int n, int lo, int hi, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (**p < '0' || **p > '9')
            return false;
        *v = *v * 10 + (**p - '0');
    }
    return *v >= lo && *v <= hi;
}

static bool expect(const char **p, char c)
{
    if (**p != c)
        return false;
    (*p)++;
    return true;
}

static int days_in(int year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

int api_parse_time(const char *s, int64_t *ms)
{
    struct tm tm = {0};
    int y, mo, d, h, mi, sec, oh = 0, om = 0, frac = 0, sign = 0;
    const char *p = s;
    if (!s || !digits(&p, 4, 1970, 9999, &y) || !expect(&p, '-') || !digits(&p, 2, 1, 12, &mo) ||
        !expect(&p, '-') || !digits(&p, 2, 1, 31, &d) || d > days_in(y, mo) || !expect(&p, 'T') ||
        !digits(&p, 2, 0, 23, &h) || !expect(&p, ':') || !digits(&p, 2, 0, 59, &mi) ||
        !expect(&p, ':') || !digits(&p, 2, 0, 60, &sec))
        return -EINVAL;
    if (*p == '.') {
        int scale = 100, n = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, n++) {
            frac += (*p - '0') * scale;
            scale /= 10;
        }
        if (n == 0 || n > 9)
            return -EINVAL;
    }
    if (*p == '+' || *p == '-') {
        sign = *p++ == '+' ? 1 : -1;
        if (!digits(&p, 2, 0, 23, &oh) || !expect(&p, ':') || !digits(&p, 2, 0, 59, &om))
            return -EINVAL;
    } else if (!expect(&p, 'Z')) {
        return -EINVAL;
    }
    if (*p)
        return -EINVAL;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    *ms = ((int64_t)timegm(&tm) - sign * (oh * 3600 + om * 60)) * 1000 + frac;
    return 0;
}

int api_parse_event_bounds(const char *since, const char *last_id, const char *until,
                           const char *since_time, const char *until_time,
                           struct api_event_bounds *b, const char **field)
{
    memset(b, 0, sizeof(*b));
    *field = NULL;
    if (api_parse_uint(last_id ? last_id : since, UINT64_MAX, 0, &b->after_id) < 0)
        *field = "since";
    /* No id is below 0: until=0 asks for nothing, most likely by mistake. */
    else if (until && (api_parse_uint(until, UINT64_MAX, 0, &b->before_id) < 0 || !b->before_id))
        *field = "until";
    else if (since_time && api_parse_time(since_time, &b->from_ms) < 0)
        *field = "since_time";
    else if (until_time && api_parse_time(until_time, &b->to_ms) < 0)
        *field = "until_time";
    b->has_before = until != NULL;
    b->has_to = until_time != NULL;
    return *field ? -EINVAL : 0;
}

int api_parse_flag(const char *s, bool def, bool *out)
{
    if (!s) {
        *out = def;
        return 0;
    }
    if (!strcmp(s, "1") || !strcmp(s, "true") || !strcmp(s, "yes") || !*s) {
        *out = true; /* "?follow" alone means yes */
        return 0;
    }
    if (!strcmp(s, "0") || !strcmp(s, "false") || !strcmp(s, "no")) {
        *out = false;
        return 0;
    }
    return -EINVAL;
}

int api_parse_names(const char *s, char *buf, size_t size, const char **names, size_t max)
{
    size_t n = 0;
    char *p, *save = NULL;
    if (strlen(s) >= size)
        return -E2BIG;
    strcpy(buf, s);
    for (p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        if (!api_name_valid(p))
            return -EINVAL;
        if (n == max)
            return -E2BIG;
        names[n++] = p;
    }
    return (int)n;
}

static int signal_value(const json_t *v)
{
    if (json_is_string(v))
        return cfg_signal_parse(json_string_value(v));
    if (json_is_integer(v)) {
        json_int_t n = json_integer_value(v);
        if (n > 0 && n < 1000 && cfg_signal_name((int)n)[0] != '?')
            return (int)n;
    }
    return -EINVAL;
}

int api_parse_signal_body(const char *body, size_t len, int *sig, char *msg, size_t msg_size)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *v;
    int r = -EINVAL;
    if (!root) {
        snprintf(msg, msg_size, "malformed JSON at line %d, column %d: %s", jerr.line, jerr.column,
                 jerr.text);
        return -EINVAL;
    }
    v = json_is_object(root) ? json_object_get(root, "signal") : NULL;
    if (!json_is_object(root))
        snprintf(msg, msg_size, "expected a JSON object such as {\"signal\": \"HUP\"}");
    else if (!v)
        snprintf(msg, msg_size, "missing field 'signal'");
    else if ((r = signal_value(v)) < 0 && json_is_string(v))
        snprintf(msg, msg_size,
                 "unknown signal '%s' (expected a name such as HUP, TERM, USR1, or its number)",
                 json_string_value(v));
    else if (r < 0)
        snprintf(msg, msg_size,
                 "unknown signal (expected a name such as HUP, TERM, USR1, or its number)");
    else
        *sig = r;
    json_decref(root);
    return r > 0 ? 0 : -EINVAL;
}

bool api_token_ok(const char *authorization, const char *token)
{
    static const char scheme[] = "Bearer ";
    size_t tlen = strlen(token);
    const char *given;
    unsigned char diff = 0;
    /* The scheme's name is case-insensitive (RFC 9110, 11.1). */
    if (!authorization || strncasecmp(authorization, scheme, sizeof(scheme) - 1) != 0)
        return false;
    given = authorization + sizeof(scheme) - 1;
    if (strlen(given) != tlen)
        return false;
    for (size_t i = 0; i < tlen; i++)
        diff |= (unsigned char)(given[i] ^ token[i]);
    return diff == 0 && tlen > 0;
}
