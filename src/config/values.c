/* config/values.c — the scalar syntaxes of corral.yaml: durations, sizes, signals,
 * fractions. Strict on purpose: a typo must be an error, not a surprising value. */
#include "config/config.h"
#include "config/internal.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

struct sig_name {
    const char *name;
    int sig;
};

/* The standard Linux signals; real-time ones have no fixed names, so a number
 * outside this table is refused rather than dumped as "?". */
static const struct sig_name signals[] = {
    {"HUP", SIGHUP},       {"INT", SIGINT},       {"QUIT", SIGQUIT}, {"ILL", SIGILL},
    {"TRAP", SIGTRAP},     {"ABRT", SIGABRT},     {"BUS", SIGBUS},   {"FPE", SIGFPE},
    {"KILL", SIGKILL},     {"USR1", SIGUSR1},     {"SEGV", SIGSEGV}, {"USR2", SIGUSR2},
    {"PIPE", SIGPIPE},     {"ALRM", SIGALRM},     {"TERM", SIGTERM},
#ifdef SIGSTKFLT
    {"STKFLT", SIGSTKFLT},
#endif
    {"CHLD", SIGCHLD},     {"CONT", SIGCONT},     {"STOP", SIGSTOP}, {"TSTP", SIGTSTP},
    {"TTIN", SIGTTIN},     {"TTOU", SIGTTOU},     {"URG", SIGURG},   {"XCPU", SIGXCPU},
    {"XFSZ", SIGXFSZ},     {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH},
    {"IO", SIGIO},
#ifdef SIGPWR
    {"PWR", SIGPWR},
#endif
    {"SYS", SIGSYS},
};

#define N_SIGNALS (sizeof(signals) / sizeof(signals[0]))

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* One or more digits into *out; -EINVAL on none or on overflow. */
static int digits(const char **sp, uint64_t *out)
{
    const char *s = *sp;
    uint64_t v = 0;
    if (!is_digit(*s))
        return -EINVAL;
    for (; is_digit(*s); s++) {
        if (v > (UINT64_MAX - 9) / 10)
            return -EINVAL;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *sp = s;
    *out = v;
    return 0;
}

struct unit {
    const char *name;
    uint64_t ms;
};

/* Largest first: a composite must name its units in this order ("1h30m"). "ms"
 * precedes "m" so that the longer match wins. */
static const struct unit units[] = {{"h", 3600000}, {"ms", 1}, {"m", 60000}, {"s", 1000}};
static const int unit_rank[] = {0, 3, 1, 2};

static int unit_at(const char **sp)
{
    for (int i = 0; i < 4; i++) {
        size_t n = strlen(units[i].name);
        if (strncmp(*sp, units[i].name, n) == 0) {
            *sp += n;
            return i;
        }
    }
    return -1;
}

/* "1.5" of a unit worth unit_ms, truncated to whole milliseconds. */
static int component(const char **sp, uint64_t *whole, uint64_t *frac, uint64_t *den)
{
    *frac = 0;
    *den = 1;
    if (digits(sp, whole) < 0)
        return -EINVAL;
    if (**sp != '.')
        return 0;
    (*sp)++;
    if (!is_digit(**sp))
        return -EINVAL;
    for (; is_digit(**sp); (*sp)++) {
        /* Nine places are below a millisecond of an hour; the rest are dropped. */
        if (*den < 1000000000) {
            *frac = *frac * 10 + (uint64_t)(**sp - '0');
            *den *= 10;
        }
    }
    return 0;
}

int cfg_parse_duration(const char *s, uint64_t *out_ms)
{
    uint64_t total = 0;
    bool some = false; /* a component above zero */
    int last = -1;
    if (!s || !*s)
        return -EINVAL;
    if (strcmp(s, "0") == 0) {
        *out_ms = 0;
        return 0;
    }
    while (*s) {
        uint64_t whole, frac, den, ms;
        int u;
        if (component(&s, &whole, &frac, &den) < 0)
            return -EINVAL;
        u = unit_at(&s);
        if (u < 0 || unit_rank[u] <= last)
            return -EINVAL;
        last = unit_rank[u];
        some = some || whole > 0 || frac > 0;
        if (__builtin_mul_overflow(whole, units[u].ms, &ms) ||
            __builtin_add_overflow(ms, frac * units[u].ms / den, &ms) ||
            __builtin_add_overflow(total, ms, &total) || total > CFG_MAX_DURATION_MS)
            return -EINVAL;
    }
    /* 0.5ms kept as 0 would mean "off" or "forever" to many a key. */
    if (some && total == 0)
        return -ERANGE;
    *out_ms = total;
    return 0;
}

int cfg_parse_size(const char *s, uint64_t *out_bytes)
{
    static const char letters[] = "KMGT";
    uint64_t v;
    unsigned shift = 0;
    const char *u;
    if (!s || digits(&s, &v) < 0)
        return -EINVAL;
    if (*s && (u = strchr(letters, *s >= 'a' ? *s - 'a' + 'A' : *s))) {
        shift = 10 * (unsigned)(u - letters + 1);
        s++;
        if (*s == 'i')
            s++;
        if (s[-1] == 'i' && *s != 'B')
            return -EINVAL;
    }
    if (*s == 'B')
        s++;
    if (*s)
        return -EINVAL;
    /* Kept within int64 so that every size is exact in JSON and off_t. */
    if (v > (uint64_t)INT64_MAX >> shift)
        return -EINVAL;
    *out_bytes = v << shift;
    return 0;
}

int cfg_signal_parse(const char *s)
{
    uint64_t n;
    const char *p = s;
    if (!s || !*s)
        return -EINVAL;
    if (is_digit(*s)) {
        if (digits(&p, &n) < 0 || *p || n > 1000)
            return -EINVAL;
        return cfg_signal_name((int)n)[0] == '?' ? -EINVAL : (int)n;
    }
    if (strncasecmp(s, "SIG", 3) == 0 && s[3])
        s += 3;
    for (size_t i = 0; i < N_SIGNALS; i++)
        if (strcasecmp(s, signals[i].name) == 0)
            return signals[i].sig;
    return -EINVAL;
}

const char *cfg_signal_name(int sig)
{
    for (size_t i = 0; i < N_SIGNALS; i++)
        if (signals[i].sig == sig)
            return signals[i].name;
    return "?";
}

int cfg_parse_decimal(const char *s, double *out)
{
    uint64_t whole, frac, den;
    if (!s || component(&s, &whole, &frac, &den) < 0 || *s)
        return -EINVAL;
    /* Past 2^53 a double is no longer exact; no setting needs that much. */
    if (whole > (1ull << 53))
        return -EINVAL;
    *out = (double)whole + (double)frac / (double)den;
    return 0;
}

int cfg_parse_fraction(const char *s, double *out)
{
    uint64_t whole, frac, den;
    double v;
    if (!s || component(&s, &whole, &frac, &den) < 0 || whole > 100)
        return -EINVAL;
    v = (double)whole + (double)frac / (double)den;
    if (*s == '%' && !s[1])
        v /= 100.0;
    else if (*s)
        return -EINVAL;
    if (v > 1.0)
        return -EINVAL;
    *out = v;
    return 0;
}

int cfg_parse_cpu_percent(const char *s, unsigned *out_percent)
{
    uint64_t whole, frac, den, pct;
    if (!s || component(&s, &whole, &frac, &den) < 0 || whole > CFG_MAX_CPU_PERCENT)
        return -EINVAL;
    /* cpu.max takes whole microseconds of a 100 ms period: 1% is its grain. */
    if (*s == '%' && !s[1]) {
        if (frac)
            return -EINVAL;
        pct = whole;
    } else if (!*s) { /* cores */
        if (frac * 100 % den)
            return -EINVAL;
        pct = whole * 100 + frac * 100 / den;
    } else {
        return -EINVAL;
    }
    if (pct < 1 || pct > CFG_MAX_CPU_PERCENT)
        return -EINVAL;
    *out_percent = (unsigned)pct;
    return 0;
}

int cfg_parse_uint(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v;
    if (!s || digits(&s, &v) < 0 || *s || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

int cfg_parse_bool(const char *s, bool *out)
{
    if (s && (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))) {
        *out = true;
        return 0;
    }
    if (s && (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))) {
        *out = false;
        return 0;
    }
    return -EINVAL;
}

/* Length of the UTF-8 sequence led by c and the smallest valid second byte, or 0. */
static size_t utf8_lead(unsigned char c, unsigned char *lo, unsigned char *hi)
{
    *lo = 0x80;
    *hi = 0xBF;
    if (c < 0x80)
        return 1;
    if (c < 0xC2 || c > 0xF4)
        return 0;
    if (c < 0xE0)
        return 2;
    if (c == 0xE0)
        *lo = 0xA0; /* overlong */
    if (c == 0xED)
        *hi = 0x9F; /* surrogates */
    if (c < 0xF0)
        return 3;
    if (c == 0xF0)
        *lo = 0x90; /* overlong */
    if (c == 0xF4)
        *hi = 0x8F; /* past U+10FFFF */
    return 4;
}

size_t cfg_utf8_check(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned char lo, hi;
        size_t n = utf8_lead(p[i], &lo, &hi);
        if (n == 0 || len - i < n)
            return i;
        for (size_t k = 1; k < n; k++) {
            unsigned char c = p[i + k];
            if (c < (k == 1 ? lo : 0x80) || c > (k == 1 ? hi : 0xBF))
                return i;
        }
        i += n;
    }
    return len;
}

void cfg_format_duration(uint64_t ms, char *buf, size_t size)
{
    static const struct unit order[] = {{"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}};
    size_t off = 0;
    if (!size)
        return;
    buf[0] = '\0';
    if (ms == 0) {
        snprintf(buf, size, "0");
        return;
    }
    for (int i = 0; i < 4 && off < size; i++) {
        uint64_t n = ms / order[i].ms;
        if (!n)
            continue;
        ms -= n * order[i].ms;
        int w = snprintf(buf + off, size - off, "%llu%s", (unsigned long long)n, order[i].name);
        if (w < 0)
            return;
        off += (size_t)w;
    }
}

void cfg_format_size(uint64_t bytes, char *buf, size_t size)
{
    static const char letters[] = "TGMK";
    for (int i = 0; i < 4; i++) {
        unsigned shift = 10 * (unsigned)(4 - i);
        if (bytes && bytes % (1ull << shift) == 0) {
            snprintf(buf, size, "%llu%c", (unsigned long long)(bytes >> shift), letters[i]);
            return;
        }
    }
    snprintf(buf, size, "%llu", (unsigned long long)bytes);
}

/* The host (a name, an address, or [an IPv6 address]) and the port. */
static const char *url_authority(const char *p, const char **why)
{
    const char *end = p + strcspn(p, "/?#"), *at = memchr(p, '@', (size_t)(end - p));
    unsigned long port = 0;
    if (at)
        p = at + 1; /* user:password@ */
    if (*p == '[') {
        const char *q = memchr(p, ']', (size_t)(end - p));
        if (!q || q == p + 1) {
            *why = "an IPv6 address goes in [brackets]";
            return NULL;
        }
        p = q + 1;
    } else {
        const char *host = p;
        p += strcspn(p, ":/?#");
        if (p == host) {
            *why = "it names no host";
            return NULL;
        }
    }
    if (*p != ':')
        return p;
    for (p++; *p >= '0' && *p <= '9' && port <= 65535; p++)
        port = port * 10 + (unsigned long)(*p - '0');
    if (port < 1 || port > 65535 || (*p && !strchr("/?#", *p))) {
        *why = "the port is not a number from 1 to 65535";
        return NULL;
    }
    return p;
}

int cfg_check_url(const char *s, const char **why)
{
    /* A scheme is case-insensitive (RFC 3986), as libcurl reads it. */
    const char *p = !strncasecmp(s, "http://", 7)    ? s + 7
                    : !strncasecmp(s, "https://", 8) ? s + 8
                                                     : NULL;
    if (!p) {
        *why = "expected http://... or https://...";
        return -EINVAL;
    }
    for (const char *q = s; *q; q++)
        if ((unsigned char)*q <= ' ' || *q == 0x7f) {
            *why = "a URL holds no space or control character (write %20)";
            return -EINVAL;
        }
    if (!(p = url_authority(p, why)))
        return -EINVAL;
    if (*p && !strchr("/?#", *p)) {
        *why = "unexpected text after the host";
        return -EINVAL;
    }
    return 0;
}

struct redacted {
    char *buf;
    size_t size, n;
};

static void put_text(struct redacted *r, const char *p, size_t len)
{
    for (size_t i = 0; i < len && r->n + 1 < r->size; i++)
        r->buf[r->n++] = p[i];
}

/* The password of a URL's user info and the values of its query are kept
 * out of what corral shows (check, events, logs); the rest is as written. */
void cfg_url_redact(const char *url, char *buf, size_t size)
{
    struct redacted r = {buf, size, 0};
    const char *scheme = strstr(url, "://");
    const char *auth = scheme ? scheme + 3 : url;
    const char *auth_end = auth + strcspn(auth, "/?#");
    const char *at = memrchr(auth, '@', (size_t)(auth_end - auth));
    const char *pass = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    const char *p = url, *q, *q_end;
    if (!size)
        return;
    if (pass) {
        put_text(&r, url, (size_t)(pass + 1 - url));
        put_text(&r, "***", 3);
        p = at;
    }
    q = auth_end[strcspn(auth_end, "?#")] == '?' ? auth_end + strcspn(auth_end, "?#") : NULL;
    if (!q) {
        put_text(&r, p, strlen(p));
        buf[r.n] = '\0';
        return;
    }
    put_text(&r, p, (size_t)(q + 1 - p));
    q_end = q + 1 + strcspn(q + 1, "#");
    for (q++; q < q_end;) {
        const char *seg_end = q + strcspn(q, "&#");
        const char *eq = memchr(q, '=', (size_t)(seg_end - q));
        put_text(&r, q, (size_t)((eq ? eq + 1 : seg_end) - q));
        if (eq)
            put_text(&r, "***", 3);
        if (seg_end < q_end)
            put_text(&r, "&", 1);
        q = seg_end + 1;
    }
    put_text(&r, q_end, strlen(q_end));
    buf[r.n] = '\0';
}
