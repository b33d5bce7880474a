/* cli/since.c — `--since` / `--until` values to an event id or an instant. */
#include "cli/since.h"

#include "api/route.h"
#include "config/config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* n digits at *p into *v, within [lo, hi]. */
static bool num(const char **p, int n, int lo, int hi, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (**p < '0' || **p > '9')
            return false;
        *v = *v * 10 + (**p - '0');
    }
    return *v >= lo && *v <= hi;
}

static bool chr(const char **p, char c)
{
    if (**p != c)
        return false;
    (*p)++;
    return true;
}

/* "HH:MM[:SS]" at *p, to the end of the string. */
static bool clock_time(const char *p, struct tm *tm)
{
    int h, m, s = 0;
    if (!num(&p, 2, 0, 23, &h) || !chr(&p, ':') || !num(&p, 2, 0, 59, &m))
        return false;
    if (*p == ':' && (!chr(&p, ':') || !num(&p, 2, 0, 59, &s)))
        return false;
    if (*p)
        return false;
    tm->tm_hour = h;
    tm->tm_min = m;
    tm->tm_sec = s;
    return true;
}

/* A local date, with a time or not; mktime() checks that the day exists. */
static bool local_date(const char *s, int64_t *ms)
{
    struct tm tm = {0}, check;
    const char *p = s;
    int y, mo, d;
    time_t t;
    if (!num(&p, 4, 1970, 9999, &y) || !chr(&p, '-') || !num(&p, 2, 1, 12, &mo) || !chr(&p, '-') ||
        !num(&p, 2, 1, 31, &d))
        return false;
    if (*p && !((chr(&p, 'T') || chr(&p, ' ')) && clock_time(p, &tm)))
        return false;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_isdst = -1;
    check = tm;
    t = mktime(&tm);
    if (t == (time_t)-1 || tm.tm_mday != check.tm_mday || tm.tm_mon != check.tm_mon)
        return false; /* 2026-02-30 */
    *ms = (int64_t)t * 1000;
    return true;
}

/* Today at that local time, or yesterday when that is still to come. */
static bool local_clock(const char *s, int64_t now_ms, int64_t *ms)
{
    time_t now = (time_t)(now_ms / 1000), t;
    struct tm tm;
    localtime_r(&now, &tm);
    if (!clock_time(s, &tm))
        return false;
    tm.tm_isdst = -1;
    t = mktime(&tm);
    if (t != (time_t)-1 && (int64_t)t * 1000 > now_ms) {
        localtime_r(&now, &tm);
        clock_time(s, &tm);
        tm.tm_mday--;
        tm.tm_isdst = -1;
        t = mktime(&tm);
    }
    if (t == (time_t)-1)
        return false;
    *ms = (int64_t)t * 1000;
    return true;
}

int cli_when_parse(const char *s, int64_t now_ms, struct cli_when *w, char *msg, size_t size)
{
    uint64_t v;
    memset(w, 0, sizeof(*w));
    if (s && *s && strspn(s, "0123456789") == strlen(s)) {
        if (api_parse_uint(s, UINT64_MAX, 0, &v) == 0) {
            w->is_id = true;
            w->id = v;
            return 0;
        }
    } else if (s && cfg_parse_duration(s, &v) == 0) {
        w->time_ms = (int64_t)v > now_ms ? 0 : now_ms - (int64_t)v;
        return 0;
    } else if (s && (api_parse_time(s, &w->time_ms) == 0 || local_date(s, &w->time_ms) ||
                     local_clock(s, now_ms, &w->time_ms))) {
        return 0;
    }
    snprintf(msg, size,
             "'%s' is not an event id (42), a duration back from now (10m, 2h, 1h30m) or a time "
             "(2026-11-29T10:00:00Z, 2026-11-29 10:00, 10:00)",
             s ? s : "");
    return -EINVAL;
}

void cli_when_param(const struct cli_when *w, const char *bound, char *buf, size_t size)
{
    time_t t;
    struct tm tm;
    int64_t ms = w->time_ms < 0 ? 0 : w->time_ms;
    if (w->is_id) {
        snprintf(buf, size, "%s=%llu", bound, (unsigned long long)w->id);
        return;
    }
    t = (time_t)(ms / 1000);
    gmtime_r(&t, &tm);
    snprintf(buf, size, "%s_time=%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", bound, tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}
