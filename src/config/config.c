/* config/config.c — load entry points and the plumbing every config file shares:
 * the arena that owns a model, a string set, "did you mean" and error helpers. */
#include "config/config.h"

#include "config/internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK_BYTES (64u << 10)
#define ALIGN       alignof(max_align_t)

struct chunk {
    struct chunk *next;
    size_t size;
    size_t used;
    max_align_t data[];
};

struct cfg_arena {
    struct chunk *head;
    size_t total;
    size_t cap;
};

const char *const cfg_kind_names[CFG_KIND__COUNT] = {
    [CFG_KIND_LONGRUN] = "longrun",
    [CFG_KIND_ONESHOT] = "oneshot",
};
const char *const cfg_recover_names[CFG_RECOVER__COUNT] = {
    [CFG_RECOVER_RESTART] = "restart",
    [CFG_RECOVER_ADOPT] = "adopt",
};
const char *const cfg_restart_policy_names[CFG_RESTART__COUNT] = {
    [CFG_RESTART_NO] = "no",
    [CFG_RESTART_ON_FAILURE] = "on-failure",
    [CFG_RESTART_ALWAYS] = "always",
};
const char *const cfg_dep_cond_names[CFG_DEP__COUNT] = {
    [CFG_DEP_STARTED] = "started",
    [CFG_DEP_COMPLETED] = "completed",
    [CFG_DEP_READY] = "ready",
    [CFG_DEP_HEALTHY] = "healthy",
};
const char *const cfg_containment_names[CFG_CONTAIN__COUNT] = {
    [CFG_CONTAIN_AUTO] = "auto",
    [CFG_CONTAIN_CGROUP] = "cgroup",
    [CFG_CONTAIN_PGROUP] = "pgroup",
};
const char *const cfg_proto_names[CFG_PROTO__COUNT] = {
    [CFG_PROTO_TCP] = "tcp",
    [CFG_PROTO_UDP] = "udp",
};

struct cfg_arena *cfg_arena_new(size_t cap_bytes)
{
    struct cfg_arena *ar = calloc(1, sizeof(*ar));
    if (!ar)
        return NULL;
    ar->cap = cap_bytes;
    return ar;
}

void cfg_arena_free(struct cfg_arena *ar)
{
    if (!ar)
        return;
    while (ar->head) {
        struct chunk *c = ar->head;
        ar->head = c->next;
        free(c);
    }
    free(ar);
}

static struct chunk *chunk_new(struct cfg_arena *ar, size_t size)
{
    struct chunk *c;
    if (size > ar->cap || ar->total > ar->cap - size) {
        errno = ENOMEM;
        return NULL;
    }
    /* Not calloc: zeroing a whole chunk up front touches all its pages,
     * most of which a small config never uses (each first touch is a page
     * fault, on the way to the first spawn). */
    c = malloc(sizeof(*c) + size);
    if (!c)
        return NULL;
    c->next = NULL;
    c->used = 0;
    c->size = size;
    ar->total += size;
    return c;
}

void *cfg_arena_alloc(struct cfg_arena *ar, size_t size)
{
    struct chunk *c;
    size_t need;
    void *p;
    if (size > SIZE_MAX / 2) {
        errno = ENOMEM;
        return NULL;
    }
    need = size ? (size + ALIGN - 1) & ~(ALIGN - 1) : ALIGN;
    c = ar->head;
    if (!c || c->size - c->used < need) {
        /* Large blocks get a chunk of their own behind the head, so the head's
         * free space stays usable for the small ones that follow. */
        bool big = need > CHUNK_BYTES / 4;
        c = chunk_new(ar, big ? need : CHUNK_BYTES);
        if (!c)
            return NULL;
        if (big && ar->head) {
            c->next = ar->head->next;
            ar->head->next = c;
        } else {
            c->next = ar->head;
            ar->head = c;
        }
    }
    p = (char *)c->data + c->used;
    c->used += need;
    return memset(p, 0, need); /* memory is never reused: each block is born zeroed */
}

void *cfg_arena_array(struct cfg_arena *ar, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / 2 / size) {
        errno = ENOMEM;
        return NULL;
    }
    return cfg_arena_alloc(ar, n * size);
}

char *cfg_arena_strndup(struct cfg_arena *ar, const char *s, size_t len)
{
    char *p = cfg_arena_alloc(ar, len + 1);
    if (p && len)
        memcpy(p, s, len);
    return p;
}

char *cfg_arena_strdup(struct cfg_arena *ar, const char *s)
{
    return cfg_arena_strndup(ar, s, strlen(s));
}

static size_t hash_str(const char *s)
{
    size_t h = 14695981039346656037ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

int cfg_strset_init(struct cfg_strset *set, struct cfg_arena *ar, size_t n_max)
{
    size_t cap = 8;
    while (cap < n_max * 2)
        cap *= 2;
    set->cap = cap;
    set->keys = cfg_arena_array(ar, cap, sizeof(*set->keys));
    set->vals = cfg_arena_array(ar, cap, sizeof(*set->vals));
    return set->keys && set->vals ? 0 : -ENOMEM;
}

static size_t strset_slot(const struct cfg_strset *set, const char *key)
{
    size_t i = hash_str(key) & (set->cap - 1);
    while (set->keys[i] && strcmp(set->keys[i], key) != 0)
        i = (i + 1) & (set->cap - 1);
    return i;
}

long cfg_strset_put(struct cfg_strset *set, const char *key, size_t val)
{
    size_t i = strset_slot(set, key);
    if (set->keys[i])
        return (long)set->vals[i];
    set->keys[i] = key;
    set->vals[i] = val;
    return -1;
}

long cfg_strset_get(const struct cfg_strset *set, const char *key)
{
    size_t i = strset_slot(set, key);
    return set->keys[i] ? (long)set->vals[i] : -1;
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static size_t min3(size_t a, size_t b, size_t c)
{
    size_t m = a < b ? a : b;
    return m < c ? m : c;
}

/* Optimal string alignment distance, case-insensitive, so that a swapped pair
 * ("comamnd") counts as one typo. Words past 64 bytes are never near. */
size_t cfg_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t rows[3][65];
    size_t *pp = rows[0], *p = rows[1], *c = rows[2];
    if (la > 64 || lb > 64)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        p[j] = j;
    for (size_t i = 1; i <= la; i++) {
        c[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = lower(a[i - 1]) != lower(b[j - 1]);
            c[j] = min3(p[j] + 1, c[j - 1] + 1, p[j - 1] + cost);
            if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
                lower(a[i - 2]) == lower(b[j - 1]) && pp[j - 2] + 1 < c[j])
                c[j] = pp[j - 2] + 1;
        }
        size_t *t = pp;
        pp = p;
        p = c;
        c = t;
    }
    return p[lb];
}

/* Keeps cand in *best when it is a plausible typo of word nearer than *best. */
static void nearer(const char *word, const char *cand, const char **best, size_t *best_d)
{
    size_t d = cfg_edit_distance(word, cand);
    /* Short words are all within two edits of each other; demand more. */
    size_t limit = strlen(cand) <= 4 ? 1 : 2;
    if (d <= limit && d < *best_d) {
        *best = cand;
        *best_d = d;
    }
}

/* What other tools (compose, supervisord, systemd, PM2) call a key, and what
 * corral calls it: a word no edit distance leads to ("cmd" is one edit from
 * "cwd", not from "command"). */
static const char *const aliases[][2] = {
    {"cmd", "command"},
    {"exec", "command"},
    {"program", "command"},
    {"args", "command"},
    {"environment", "env"},
    {"envfile", "env_file"},
    {"workdir", "cwd"},
    {"working_dir", "cwd"},
    {"working_directory", "cwd"},
    {"directory", "cwd"},
    {"dir", "cwd"},
    {"depends", "depends_on"},
    {"requires", "depends_on"},
    {"needs", "depends_on"},
    {"after", "depends_on"},
    {"restart_policy", "restart"},
    {"autorestart", "restart"},
    {"stop_signal", "stop"},
    {"stopsignal", "stop"},
    {"stop_timeout", "stop"},
    {"healthcheck", "liveness"},
    {"health_check", "liveness"},
    {"liveness_probe", "liveness"},
    {"readiness", "ready"},
    {"readiness_probe", "ready"},
    {"type", "kind"},
    {"log", "logs"},
    {"logging", "logs"},
    {"auto_start", "autostart"},
    {"enabled", "autostart"},
};

static const char *alias_of(const char *word, const char *const *cands, size_t n)
{
    for (size_t a = 0; a < sizeof(aliases) / sizeof(*aliases); a++) {
        if (strcasecmp(word, aliases[a][0]) != 0)
            continue;
        for (size_t i = 0; i < n; i++)
            if (!strcmp(cands[i], aliases[a][1]))
                return cands[i];
    }
    return NULL;
}

const char *cfg_suggest(const char *word, const char *const *cands, size_t n)
{
    const char *best = alias_of(word, cands, n);
    size_t best_d = SIZE_MAX;
    if (best)
        return best;
    for (size_t i = 0; i < n; i++)
        nearer(word, cands[i], &best, &best_d);
    return best;
}

const char *cfg_did_you_mean(const char *hint, char *buf, size_t size)
{
    if (!hint)
        return "";
    snprintf(buf, size, " (did you mean '%s'?)", hint);
    return buf;
}

const char *cfg_suggest_service(const struct cfg_model *m, const char *word)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (size_t i = 0; i < m->n_services; i++)
        nearer(word, m->services[i].name, &best, &best_d);
    return best;
}

__attribute__((format(printf, 6, 0))) static int err_v(struct cfg_ctx *pc, const char *file,
                                                       int line, int col, const char *field,
                                                       const char *fmt, va_list ap)
{
    char msg[DIAG_MSG_MAX];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    diag_at(pc->dg, file, line, col, field, "%s", msg);
    return -EINVAL;
}

int cfg_err_at(struct cfg_ctx *pc, const char *file, int line, int col, const char *field,
               const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_v(pc, file, line, col, field, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

int cfg_err(struct cfg_ctx *pc, const struct cfg_node *at, const char *field, const char *fmt, ...)
{
    va_list ap;
    int line = at ? at->pos.line : 1, col = at ? at->pos.col : 1;
    va_start(ap, fmt);
    err_v(pc, pc->file, line, col, field, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

int cfg_err_url(struct cfg_ctx *pc, const struct cfg_node *at, const char *field, const char *url,
                const char *why)
{
    char shown[1024]; /* as dump.c shows URLs; a longer one is cut */
    cfg_url_redact(url, shown, sizeof(shown));
    return cfg_err(pc, at, field, "invalid url '%s' (%s)", shown, why);
}

int cfg_nomem(struct cfg_ctx *pc)
{
    diag_at(pc->dg, pc->file, 0, 0, "", "out of memory, or the config needs more than %u MiB",
            CFG_ARENA_CAP_BYTES >> 20);
    if (pc->dg)
        pc->dg->code = -ENOMEM;
    return -ENOMEM;
}

/* Drop empty and "." components in place; ".." stays, since with symlinks it
 * cannot be removed lexically. */
static void path_clean(char *p)
{
    char *out = p, *s = p;
    while (*s) {
        char *end;
        while (*s == '/')
            s++;
        end = s + strcspn(s, "/");
        if (end - s == 0 || (end - s == 1 && s[0] == '.')) {
            s = end;
            continue;
        }
        *out++ = '/';
        memmove(out, s, (size_t)(end - s));
        out += end - s;
        s = end;
    }
    if (out == p)
        *out++ = '/';
    *out = '\0';
}

char *cfg_path_resolve(struct cfg_arena *ar, const char *dir, const char *path)
{
    size_t ld = path[0] == '/' ? 0 : strlen(dir), lp = strlen(path);
    char *buf = cfg_arena_alloc(ar, ld + lp + 2);
    if (!buf)
        return NULL;
    memcpy(buf, dir, ld);
    buf[ld] = '/';
    memcpy(buf + ld + 1, path, lp + 1);
    path_clean(buf);
    return buf;
}

static int read_all(int fd, size_t hint, size_t max_bytes, char **out, size_t *len_out)
{
    size_t cap = hint + 1 < max_bytes + 1 ? hint + 1 : max_bytes + 1, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        return -ENOMEM;
    for (;;) {
        ssize_t n;
        if (len == cap) {
            char *nb;
            if (cap > max_bytes) {
                free(buf);
                return -EFBIG;
            }
            cap = cap * 2 < max_bytes + 1 ? cap * 2 : max_bytes + 1;
            nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                return -ENOMEM;
            }
            buf = nb;
        }
        n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int r = -errno;
            free(buf);
            return r;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > max_bytes) {
        free(buf);
        return -EFBIG;
    }
    *out = buf;
    *len_out = len;
    return 0;
}

int cfg_read_file(struct cfg_arena *ar, const char *path, size_t max_bytes, char **out,
                  size_t *len_out)
{
    struct stat st;
    char *heap = NULL;
    size_t len = 0;
    int r;
    /* O_NONBLOCK so that a FIFO named as a config cannot hang the open. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0) {
        r = -errno;
        goto out;
    }
    r = S_ISDIR(st.st_mode) ? -EISDIR : S_ISREG(st.st_mode) ? 0 : -EINVAL;
    if (r < 0)
        goto out;
    /* st_size is only a hint: /proc files say 0 and files grow. */
    r = read_all(fd, st.st_size > 0 ? (size_t)st.st_size : 4096, max_bytes, &heap, &len);
    if (r < 0)
        goto out;
    *out = cfg_arena_strndup(ar, heap, len);
    *len_out = len;
    r = *out ? 0 : -ENOMEM;
    free(heap);
out:
    (void)close(fd);
    return r;
}

static int load_text(const char *text, size_t len, const char *name, const char *abs_path,
                     const char *dir, struct cfg_arena *tmp, struct cfg_model **out,
                     struct diag *dg)
{
    struct cfg_ctx pc = {.tmp = tmp, .dg = dg, .file = name};
    struct cfg_node *root = NULL;
    struct cfg_model *m;
    int r = -ENOMEM;
    pc.ar = cfg_arena_new(CFG_ARENA_CAP_BYTES);
    if (!pc.ar)
        return cfg_nomem(&pc);
    m = cfg_arena_alloc(pc.ar, sizeof(*m));
    if (!m)
        goto fail;
    m->arena = pc.ar;
    m->path = cfg_arena_strdup(pc.ar, abs_path);
    m->dir = pc.dir = cfg_arena_strdup(pc.ar, dir);
    if (!m->path || !m->dir)
        goto fail;
    r = cfg_yaml_load(&pc, text, len, &root);
    if (r < 0)
        goto fail;
    r = cfg_parse_model(&pc, root, m);
    if (r < 0)
        goto fail;
    *out = m;
    return 0;
fail:
    if (r == -ENOMEM && (!dg || !dg->msg[0]))
        cfg_nomem(&pc);
    cfg_arena_free(pc.ar);
    return r;
}

static int cwd_path(struct cfg_arena *ar, const char *path, char **out)
{
    char cwd[PATH_MAX];
    if (path[0] == '/') {
        *out = cfg_path_resolve(ar, "/", path);
        return *out ? 0 : -ENOMEM;
    }
    if (!getcwd(cwd, sizeof(cwd)))
        return -errno;
    *out = cfg_path_resolve(ar, cwd, path);
    return *out ? 0 : -ENOMEM;
}

static struct cfg_model *finish(struct cfg_arena *tmp, struct cfg_model *m, int r, const char *name,
                                struct diag *dg)
{
    cfg_arena_free(tmp);
    if (r >= 0)
        return m;
    /* A NULL result always comes with a message. */
    if (dg && !dg->msg[0]) {
        diag_at(dg, name, 0, 0, "", "cannot load config: %s", strerror(-r));
        dg->code = r;
    }
    return NULL;
}

static const char *read_error(int r)
{
    if (r == -EFBIG)
        return "larger than 4 MiB";
    return r == -EINVAL ? "not a regular file" : strerror(-r);
}

struct cfg_model *cfg_load(const char *path, struct diag *dg)
{
    struct cfg_arena *tmp = cfg_arena_new(CFG_ARENA_CAP_BYTES);
    struct cfg_model *m = NULL;
    char *text = NULL, *abs = NULL, *dir;
    size_t len = 0;
    int r;
    diag_clear(dg);
    if (!path || !path[0]) {
        diag_at(dg, "", 0, 0, "", "no config file given");
        return finish(tmp, NULL, -EINVAL, "", dg);
    }
    if (!tmp)
        return finish(tmp, NULL, -ENOMEM, path, dg);
    r = cwd_path(tmp, path, &abs);
    if (r < 0)
        return finish(tmp, NULL, r, path, dg);
    r = cfg_read_file(tmp, path, CFG_MAX_FILE_BYTES, &text, &len);
    if (r < 0) {
        diag_at(dg, path, 0, 0, "", "cannot read config file: %s", read_error(r));
        if (dg)
            dg->code = r;
        return finish(tmp, NULL, r, path, dg);
    }
    /* abs is clean and absolute, so its last '/' separates the directory. */
    dir = cfg_arena_strndup(tmp, abs, (size_t)(strrchr(abs, '/') - abs));
    if (!dir)
        return finish(tmp, NULL, -ENOMEM, path, dg);
    r = load_text(text, len, path, abs, dir[0] ? dir : "/", tmp, &m, dg);
    return finish(tmp, m, r, path, dg);
}

/* True when the text is a block mapping at the top whose keys (the lines
 * that start in column 0) are plain words and none is state_dir: then the
 * default applies and a 1,000-service file need not be parsed just to learn
 * that. Anything unusual (flow style, quotes, anchors, documents) says no. */
static bool surely_default_state_dir(const char *text, size_t len)
{
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '#') {
            const char *q = p;
            if (eol - p >= 9 && strncmp(p, "state_dir", 9) == 0)
                return false;
            while (q < eol && (isalnum((unsigned char)*q) || *q == '_'))
                q++;
            if (q == p || q == eol || *q != ':')
                return false;
        }
        p = eol + 1;
    }
    return true;
}

/* A config that does not load may still say where its corral keeps its state:
 * a "state_dir: VALUE" line at the top level, the value plain or quoted and
 * without escapes. Returns it (in tmp), or NULL. */
static char *state_dir_line(struct cfg_arena *tmp, const char *text, size_t len)
{
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end, *v = p + 9, *ve;
        p = eol + 1;
        if (eol - v < 1 || strncmp(v - 9, "state_dir", 9) != 0)
            continue;
        while (v < eol && *v == ' ')
            v++;
        if (v == eol || *v++ != ':')
            continue;
        while (v < eol && *v == ' ')
            v++;
        ve = v;
        if (v < eol && (*v == '"' || *v == '\'')) {
            const char *q = memchr(v + 1, *v, (size_t)(eol - v - 1));
            if (!q || memchr(v, '\\', (size_t)(q - v)))
                continue;
            return cfg_arena_strndup(tmp, v + 1, (size_t)(q - v - 1));
        }
        while (ve < eol && *ve != '\r' && !(*ve == '#' && ve > v && ve[-1] == ' '))
            ve++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        if (ve > v)
            return cfg_arena_strndup(tmp, v, (size_t)(ve - v));
    }
    return NULL;
}

int cfg_state_dir(const char *path, char *out, size_t size, struct diag *dg)
{
    struct cfg_arena *tmp = cfg_arena_new(CFG_ARENA_CAP_BYTES);
    struct cfg_ctx pc = {.tmp = tmp, .ar = tmp, .dg = dg, .file = path};
    struct cfg_node *root = NULL;
    const struct cfg_node *k;
    char *text = NULL, *abs = NULL, *dir, *sd;
    size_t len = 0;
    int r;
    diag_clear(dg);
    if (!tmp)
        return -ENOMEM;
    if ((r = cwd_path(tmp, path, &abs)) < 0 ||
        (r = cfg_read_file(tmp, path, CFG_MAX_FILE_BYTES, &text, &len)) < 0) {
        diag_at(dg, path, 0, 0, "", "cannot read config file: %s", read_error(r));
        cfg_arena_free(tmp);
        return r;
    }
    dir = cfg_arena_strndup(tmp, abs, (size_t)(strrchr(abs, '/') - abs));
    pc.dir = dir && dir[0] ? dir : "/";
    if (dir && surely_default_state_dir(text, len))
        r = 0;
    else
        r = dir ? cfg_yaml_load(&pc, text, len, &root) : -ENOMEM;
    k = r >= 0 && root && root->type == CFG_NODE_MAP ? cfg_yaml_find_key(root, "state_dir") : NULL;
    if (r >= 0) {
        bool set = k && k->next && k->next->type == CFG_NODE_SCALAR && k->next->len;
        sd = cfg_path_resolve(tmp, pc.dir, set ? k->next->text : ".corral");
        r = sd ? 0 : -ENOMEM;
        if (sd)
            snprintf(out, size, "%s", sd);
    } else if (dir && (sd = state_dir_line(tmp, text, len)) &&
               (sd = cfg_path_resolve(tmp, pc.dir, sd))) {
        snprintf(out, size, "%s", sd);
        r = 1; /* dg still says why the file does not load */
    }
    cfg_arena_free(tmp);
    return r;
}

struct cfg_model *cfg_load_string(const char *text, size_t len, const char *name,
                                  const char *base_dir, struct diag *dg)
{
    struct cfg_arena *tmp = cfg_arena_new(CFG_ARENA_CAP_BYTES);
    struct cfg_model *m = NULL;
    char *dir = NULL, *abs;
    int r;
    diag_clear(dg);
    name = name && name[0] ? name : "<string>";
    if (!tmp || (!text && len))
        return finish(tmp, NULL, tmp ? -EINVAL : -ENOMEM, name, dg);
    r = cwd_path(tmp, base_dir && base_dir[0] ? base_dir : ".", &dir);
    if (r < 0)
        return finish(tmp, NULL, r, name, dg);
    abs = cfg_path_resolve(tmp, dir, name);
    if (!abs)
        return finish(tmp, NULL, -ENOMEM, name, dg);
    r = load_text(text ? text : "", len, name, abs, dir, tmp, &m, dg);
    return finish(tmp, m, r, name, dg);
}

void cfg_free(struct cfg_model *m)
{
    if (m)
        cfg_arena_free(m->arena);
}

long cfg_find(const struct cfg_model *m, const char *name)
{
    if (!m || !name)
        return -1;
    for (size_t i = 0; i < m->n_services; i++)
        if (strcmp(m->services[i].name, name) == 0)
            return (long)i;
    return -1;
}

const char *cfg_kind_name(enum cfg_kind k)
{
    return (unsigned)k < CFG_KIND__COUNT ? cfg_kind_names[k] : "?";
}

const char *cfg_recover_name(enum cfg_recover r)
{
    return (unsigned)r < CFG_RECOVER__COUNT ? cfg_recover_names[r] : "?";
}

const char *cfg_restart_policy_name(enum cfg_restart_policy p)
{
    return (unsigned)p < CFG_RESTART__COUNT ? cfg_restart_policy_names[p] : "?";
}

const char *cfg_dep_cond_name(enum cfg_dep_cond c)
{
    return (unsigned)c < CFG_DEP__COUNT ? cfg_dep_cond_names[c] : "?";
}

const char *cfg_containment_name(enum cfg_containment c)
{
    return (unsigned)c < CFG_CONTAIN__COUNT ? cfg_containment_names[c] : "?";
}

const char *cfg_proto_name(enum cfg_proto p)
{
    return (unsigned)p < CFG_PROTO__COUNT ? cfg_proto_names[p] : "?";
}
