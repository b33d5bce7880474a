/* config/envfile.c — env_file: a dotenv file read at load time (once per path,
 * however many services name it), so a bad line stops the load, not a start. */
#include "config/internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct cfg_envfile {
    struct cfg_envfile *next;
    const char *path;
    const struct cfg_env *env;
    size_t n;
};

struct dotenv {
    struct cfg_ctx *pc;
    const char *path;
    const char *field;
    int line;
    const char *bol; /* start of the current line, for columns */
    struct cfg_env *env;
    size_t n;
    size_t cap;
};

__attribute__((format(printf, 3, 4))) static int line_err(struct dotenv *de, const char *at,
                                                          const char *fmt, ...)
{
    char msg[DIAG_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return cfg_err_at(de->pc, de->path, de->line, (int)(at - de->bol) + 1, de->field, "%s", msg);
}

static char *skip_ws(char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* After a closing quote only a comment may follow. */
static int after_quote(struct dotenv *de, char *p)
{
    p = skip_ws(p);
    if (*p && *p != '#')
        return line_err(de, p, "unexpected text after the closing quote");
    return 0;
}

static int single_quoted(struct dotenv *de, char *p, char **value)
{
    char *end = strchr(p + 1, '\'');
    if (!end)
        return line_err(de, p, "unterminated single quote (values cannot span lines)");
    *end = '\0';
    *value = p + 1;
    return after_quote(de, end + 1);
}

static int double_quoted(struct dotenv *de, char *p, char **value)
{
    char *in = p + 1, *out = p + 1;
    for (; *in && *in != '"'; in++) {
        if (*in != '\\' || !in[1]) {
            *out++ = *in;
            continue;
        }
        in++;
        /* Unknown escapes stay as written, backslash included ("C:\dir"). */
        if (*in == 'n')
            *out++ = '\n';
        else if (*in == 't')
            *out++ = '\t';
        else if (*in == '\\' || *in == '"')
            *out++ = *in;
        else {
            *out++ = '\\';
            *out++ = *in;
        }
    }
    if (*in != '"')
        return line_err(de, p, "unterminated double quote (values cannot span lines)");
    *out = '\0';
    *value = p + 1;
    return after_quote(de, in + 1);
}

static void unquoted(char *p, bool after_space, char **value)
{
    char *end = p;
    if (*p == '#' && after_space) {
        *p = '\0';
        *value = p;
        return;
    }
    while (*end && !((end[0] == ' ' || end[0] == '\t') && end[1] == '#'))
        end++;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *end = '\0';
    *value = p;
}

static int add_entry(struct dotenv *de, const char *key, size_t klen, const char *value,
                     const char *at)
{
    struct cfg_env *e;
    if (cfg_utf8_check(value, strlen(value)) != strlen(value))
        return line_err(de, at, "the value is not valid UTF-8");
    /* The last value wins, in the place of the first: a key written again is
     * no new variable, and does not count towards the limit. */
    for (size_t i = 0; i < de->n; i++)
        if (strlen(de->env[i].key) == klen && !strncmp(de->env[i].key, key, klen)) {
            de->env[i].value = cfg_arena_strdup(de->pc->ar, value);
            return de->env[i].value ? 0 : cfg_nomem(de->pc);
        }
    if (de->n == de->cap)
        return line_err(de, key, "more than %d variables", CFG_MAX_ENV);
    e = &de->env[de->n];
    e->key = cfg_arena_strndup(de->pc->ar, key, klen);
    e->value = cfg_arena_strdup(de->pc->ar, value);
    if (!e->key || !e->value)
        return cfg_nomem(de->pc);
    de->n++;
    return 0;
}

/* KEY=VALUE, optionally after "export "; line is NUL-terminated and writable. */
static int parse_line(struct dotenv *de, char *line)
{
    char *p = skip_ws(line), *key, *vstart, *value = NULL;
    size_t klen;
    int r;
    if (!*p || *p == '#')
        return 0;
    /* "export FOO=1" is the shell's prefix; in "export = 1" nothing follows
     * it but '=', so export is the variable's name, as in "export=1". */
    if (strncmp(p, "export", 6) == 0 && (p[6] == ' ' || p[6] == '\t') && *skip_ws(p + 6) != '=')
        p = skip_ws(p + 6);
    key = p;
    klen = strcspn(p, "= \t");
    if (!klen)
        return line_err(de, key, "expected KEY=VALUE");
    if (!cfg_env_key_valid(key, klen))
        return line_err(de, key,
                        "invalid variable name '%.*s' (use letters, digits and _, not starting "
                        "with a digit)",
                        (int)klen, key);
    if (cfg_env_key_reserved(key, klen))
        return line_err(de, key, "'%.*s': " CFG_ENV_RESERVED_WHY, (int)klen, key);
    p = skip_ws(p + klen);
    if (*p != '=')
        return line_err(de, p, "expected '=' after '%.*s'", (int)klen, key);
    vstart = skip_ws(p + 1);
    if (*vstart == '\'')
        r = single_quoted(de, vstart, &value);
    else if (*vstart == '"')
        r = double_quoted(de, vstart, &value);
    else {
        unquoted(vstart, vstart != p + 1, &value);
        r = 0;
    }
    if (r < 0)
        return r;
    return add_entry(de, key, klen, value, vstart);
}

static int parse_text(struct dotenv *de, char *text, size_t len)
{
    char *end = text + len, *line = text;
    /* A byte order mark, as some editors write, is no part of the first key. */
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        line += 3;
    for (; line < end; de->line++) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        char *eol = nl ? nl : end;
        int r;
        de->bol = line;
        if (memchr(line, '\0', (size_t)(eol - line)))
            return line_err(de, line, "the line contains a NUL byte");
        if (eol > line && eol[-1] == '\r')
            eol[-1] = '\0';
        *eol = '\0';
        r = parse_line(de, line);
        if (r < 0)
            return r;
        line = eol + 1;
    }
    return 0;
}

static const char *read_error(int r)
{
    if (r == -EFBIG)
        return "larger than 1 MiB";
    return r == -EINVAL ? "not a regular file" : strerror(-r);
}

int cfg_envfile_load(struct cfg_ctx *pc, const char *path, const struct cfg_node *at,
                     const char *field, const struct cfg_env **out, size_t *n_out)
{
    struct dotenv de = {.pc = pc, .path = path, .field = field, .line = 1};
    struct cfg_envfile *ef;
    size_t len = 0, lines = 1;
    char *text = NULL;
    int r;
    for (ef = pc->envfiles; ef; ef = ef->next) {
        if (strcmp(ef->path, path) == 0) {
            *out = ef->env;
            *n_out = ef->n;
            return 0;
        }
    }
    r = cfg_read_file(pc->tmp, path, CFG_MAX_ENVFILE_BYTES, &text, &len);
    if (r == -ENOMEM)
        return cfg_nomem(pc);
    if (r < 0)
        return cfg_err(pc, at, field, "cannot read env file '%s': %s", path, read_error(r));
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    de.cap = lines < CFG_MAX_ENV ? lines : CFG_MAX_ENV;
    de.env = cfg_arena_array(pc->tmp, de.cap, sizeof(*de.env));
    ef = cfg_arena_alloc(pc->tmp, sizeof(*ef));
    if (!de.env || !ef)
        return cfg_nomem(pc);
    r = parse_text(&de, text, len);
    if (r < 0)
        return r;
    /* A key given twice keeps its last value, as in a shell. */
    r = cfg_env_merge(pc, (const struct cfg_env *const[]){de.env}, &de.n, 1, &ef->env, &ef->n);
    if (r < 0)
        return r;
    ef->path = path;
    ef->next = pc->envfiles;
    pc->envfiles = ef;
    *out = ef->env;
    *n_out = ef->n;
    return 0;
}
