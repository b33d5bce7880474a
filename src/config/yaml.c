/* config/yaml.c — corral.yaml through libfyaml's event parser into a small tree
 * that keeps each node's line:col, and the typed accessors the schema code uses.
 * Events rather than fy_document because libfyaml 0.7 gives no position for a
 * mapping or list node, and a type error must point at one. */
#include "config/internal.h"

#include <errno.h>
#include <libfyaml.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

struct builder {
    struct cfg_ctx *pc;
    struct cfg_node *open[CFG_MAX_DEPTH]; /* collections not yet closed */
    struct cfg_node *tail[CFG_MAX_DEPTH]; /* and the last child of each */
    int depth;
    int docs;
    struct cfg_node *root;
    struct cfg_pos pos; /* of the latest event that had one */
    struct fy_mark end; /* where that event ended, or past an empty item's '-' */
    const char *src;    /* the input, for single-quoted scalars */
    size_t src_len;
};

/* The key path of the node about to be attached ("services.web.command[1]"),
 * as the schema code names fields: a key's value takes the key's name, a list
 * item its index. A key itself, or a key that is no string, ends the path at
 * the mapping that holds it. */
static void open_path(const struct builder *b, char *buf, size_t size)
{
    char sub[DIAG_FIELD_MAX];
    buf[0] = '\0';
    for (int d = 0; d < b->depth; d++) {
        const struct cfg_node *p = b->open[d], *c = d + 1 < b->depth ? b->open[d + 1] : NULL;
        const struct cfg_node *key = NULL;
        size_t i = 0;
        /* Position of c among p's children; p->n (the next) when not attached. */
        for (const struct cfg_node *it = p->child; c && it != c; it = it->next, i++)
            key = it;
        if (!c)
            key = b->tail[d];
        if (p->type == CFG_NODE_SEQ) {
            snprintf(sub, sizeof(sub), "%s[%zu]", buf, c ? i : p->n);
        } else {
            if ((c ? i : p->n) % 2 == 0 || !key || key->type != CFG_NODE_SCALAR)
                return;
            cfg_yaml_field(sub, sizeof(sub), buf, key->text);
        }
        snprintf(buf, size, "%s", sub);
    }
}

static int err_here(struct builder *b, const char *msg)
{
    struct cfg_node at = {.pos = b->pos};
    char field[DIAG_FIELD_MAX];
    open_path(b, field, sizeof(field));
    return cfg_err(b->pc, &at, field, "%s", msg);
}

static bool mark_ok(const struct builder *b, const struct fy_mark *mk)
{
    return mk && mk->line >= 0 && mk->column >= 0 && mk->line < INT_MAX - 1 &&
           mk->column < INT_MAX - 1 && mk->input_pos <= b->src_len;
}

static void track_pos(struct builder *b, struct fy_event *ev)
{
    /* Empty scalars carry no mark; they keep the position of what precedes
     * them, which for "key:" is the key (an empty list item: empty_item). */
    const struct fy_mark *mk = fy_event_start_mark(ev), *end = fy_event_end_mark(ev);
    if (mark_ok(b, mk)) {
        b->pos.line = mk->line + 1;
        b->pos.col = mk->column + 1;
        b->end = mark_ok(b, end) ? *end : *mk;
    }
}

/* An empty item of a block list ("-" alone on its line) has no mark of its
 * own, and the position of what precedes it is the item before. Its '-' is
 * the next thing after that, past blanks, line breaks and comments, so the
 * item is placed there; when no '-' follows (a form not foreseen), it keeps
 * the position it had. */
static void empty_item(struct builder *b)
{
    size_t i = b->end.input_pos;
    int line = b->end.line, col = b->end.column;
    while (i < b->src_len && line < INT_MAX - 1 && col < INT_MAX - 1) {
        char c = b->src[i];
        if (c == '-' && (i + 1 == b->src_len || strchr(" \t\r\n", b->src[i + 1]))) {
            b->pos = (struct cfg_pos){line + 1, col + 1};
            b->end = (struct fy_mark){.input_pos = i + 1, .line = line, .column = col + 1};
            return;
        }
        if (c == '#') {
            while (i < b->src_len && b->src[i] != '\n')
                i++;
            continue;
        }
        if (c == '\n') {
            line++;
            col = 0;
        } else if (c == ' ' || c == '\t' || c == '\r') {
            col++;
        } else {
            return;
        }
        i++;
    }
}

static struct cfg_node *node_new(struct builder *b, enum cfg_node_type type)
{
    struct cfg_node *n = cfg_arena_alloc(b->pc->tmp, sizeof(*n));
    if (!n)
        return NULL;
    n->type = type;
    n->pos = b->pos;
    return n;
}

static void attach(struct builder *b, struct cfg_node *n)
{
    struct cfg_node *parent;
    if (b->depth == 0) {
        b->root = n;
        return;
    }
    parent = b->open[b->depth - 1];
    if (b->tail[b->depth - 1])
        b->tail[b->depth - 1]->next = n;
    else
        parent->child = n;
    b->tail[b->depth - 1] = n;
    parent->n++;
}

static bool plain_null(struct fy_event *ev, const char *s, size_t len)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    if (fy_token_scalar_style(ev->scalar.value) != FYSS_PLAIN)
        return false;
    for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
        if (len == strlen(nulls[i]) && memcmp(s, nulls[i], len) == 0)
            return true;
    return false;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* YAML's folding of single-quoted text: '' is one quote; a line break between
 * text becomes a space, each blank line in between a newline, and blanks
 * around a break go. out needs len bytes at most. */
static size_t sq_fold(const char *src, size_t len, char *out)
{
    size_t o = 0, i = 0, breaks = 0;
    bool first = true;
    for (;;) {
        const char *nl = memchr(src + i, '\n', len - i);
        size_t start = i, end = nl ? (size_t)(nl - src) : len;
        while (!first && start < end && is_blank(src[start]))
            start++;
        while (nl && end > start && (is_blank(src[end - 1]) || src[end - 1] == '\r'))
            end--;
        if (!first && nl && start == end) {
            breaks++;
        } else {
            if (!first)
                for (size_t k = 0; k < (breaks ? breaks : 1); k++)
                    out[o++] = breaks ? '\n' : ' ';
            breaks = 0;
            for (size_t k = start; k < end; k++) {
                out[o++] = src[k];
                k += src[k] == '\'' && k + 1 < end && src[k + 1] == '\'';
            }
        }
        if (!nl)
            return o;
        first = false;
        i = (size_t)(nl - src) + 1;
    }
}

/* libfyaml 0.7.12's fy_token_get_text() leaks on single-quoted scalars with
 * adjacent '' escapes, so those are decoded here from the source span. */
static int scalar_text(struct builder *b, struct fy_token *t, const char **out, size_t *len)
{
    const struct fy_mark *s = fy_token_start_mark(t), *e = fy_token_end_mark(t);
    const char *text;
    char *buf;
    if (fy_token_scalar_style(t) == FYSS_SINGLE_QUOTED && s && e && s->input_pos <= e->input_pos &&
        e->input_pos <= b->src_len) {
        buf = cfg_arena_alloc(b->pc->tmp, e->input_pos - s->input_pos + 1);
        if (!buf)
            return cfg_nomem(b->pc);
        *len = sq_fold(b->src + s->input_pos, e->input_pos - s->input_pos, buf);
        *out = buf;
        return 0;
    }
    text = fy_token_get_text(t, len);
    if (!text)
        *len = 0;
    *out = cfg_arena_strndup(b->pc->tmp, text ? text : "", *len);
    return *out ? 0 : cfg_nomem(b->pc);
}

/* 1 when the byte just before ev's mark is c: libfyaml marks a quoted scalar
 * inside its quotes and an alias past its '*', but the user looks for those. */
static int mark_after(const struct builder *b, struct fy_event *ev, char c)
{
    const struct fy_mark *mk = fy_event_start_mark(ev);
    if (!c || !mk || mk->input_pos == 0 || mk->input_pos > b->src_len || b->pos.col < 2)
        return 0;
    return b->src[mk->input_pos - 1] == c;
}

static char quote_of(struct fy_event *ev)
{
    enum fy_scalar_style st = fy_token_scalar_style(ev->scalar.value);
    return st == FYSS_SINGLE_QUOTED ? '\'' : st == FYSS_DOUBLE_QUOTED ? '"' : 0;
}

static int on_scalar(struct builder *b, struct fy_event *ev)
{
    size_t len = 0;
    const char *s;
    struct cfg_node *n;
    int r = scalar_text(b, ev->scalar.value, &s, &len);
    if (r < 0)
        return r;
    if (!fy_event_start_mark(ev) && b->depth > 0 && b->open[b->depth - 1]->type == CFG_NODE_SEQ)
        empty_item(b);
    /* Escapes ("\0", "\ud800") can put into a scalar what the file check
     * could not see. */
    if (memchr(s, '\0', len))
        return err_here(b, "a string contains a NUL character");
    if (cfg_utf8_check(s, len) != len)
        return err_here(b, "a string is not valid UTF-8");
    n = node_new(b, plain_null(ev, s, len) ? CFG_NODE_NULL : CFG_NODE_SCALAR);
    if (!n)
        return cfg_nomem(b->pc);
    n->pos.col -= mark_after(b, ev, quote_of(ev));
    n->text = s;
    n->len = len;
    attach(b, n);
    return 0;
}

static int on_open(struct builder *b, enum cfg_node_type type)
{
    struct cfg_node *n;
    if (b->depth == CFG_MAX_DEPTH)
        return err_here(b, "nesting is too deep for a corral config");
    n = node_new(b, type);
    if (!n)
        return cfg_nomem(b->pc);
    attach(b, n);
    b->open[b->depth] = n;
    b->tail[b->depth] = NULL;
    b->depth++;
    return 0;
}

static int on_event(struct builder *b, struct fy_event *ev)
{
    track_pos(b, ev);
    switch (ev->type) {
    case FYET_NONE:
    case FYET_STREAM_START:
    case FYET_STREAM_END:
    case FYET_DOCUMENT_END:
        return 0;
    case FYET_DOCUMENT_START:
        if (++b->docs > 1)
            return err_here(b, "only one YAML document is allowed");
        return 0;
    case FYET_MAPPING_START:
        return on_open(b, CFG_NODE_MAP);
    case FYET_SEQUENCE_START:
        return on_open(b, CFG_NODE_SEQ);
    case FYET_MAPPING_END:
    case FYET_SEQUENCE_END:
        if (b->depth > 0)
            b->depth--;
        return 0;
    case FYET_SCALAR:
        return on_scalar(b, ev);
    case FYET_ALIAS:
        /* Expanding aliases lets a small file stand for a huge one. */
        b->pos.col -= mark_after(b, ev, '*');
        return err_here(b, "YAML aliases (*name) are not supported; write the value out");
    }
    return 0;
}

/* Before libfyaml sees it: a NUL would silently end its input, and invalid
 * UTF-8 can come out as an empty string. */
static int check_bytes(struct cfg_ctx *pc, const char *text, size_t len)
{
    size_t bad = cfg_utf8_check(text, len);
    const char *nul = memchr(text, '\0', bad);
    size_t at = nul ? (size_t)(nul - text) : bad;
    int line = 1, col = 1;
    if (at == len)
        return 0;
    for (size_t i = 0; i < at && line < INT_MAX; i++) {
        if (text[i] == '\n') {
            line++;
            col = 1;
        } else if (((unsigned char)text[i] & 0xC0) != 0x80 && col < INT_MAX) {
            col++;
        }
    }
    return cfg_err_at(pc, pc->file, line, col, "", "%s",
                      nul ? "the file contains a NUL byte" : "the file is not valid UTF-8");
}

static void discard(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
    (void)diag;
    (void)user;
    (void)buf;
    (void)len;
}

static int syntax_error(struct cfg_ctx *pc, struct fy_diag *fd)
{
    void *it = NULL;
    struct fy_diag_error *e = fy_diag_errors_iterate(fd, &it);
    /* libfyaml's collected errors are already 1-based. */
    if (!e)
        return cfg_err_at(pc, pc->file, 0, 0, "", "invalid YAML");
    return cfg_err_at(pc, pc->file, e->line > 0 ? e->line : 0, e->column > 0 ? e->column : 0, "",
                      "invalid YAML: %s", e->msg ? e->msg : "syntax error");
}

int cfg_yaml_load(struct cfg_ctx *pc, const char *text, size_t len, struct cfg_node **root)
{
    struct builder b = {.pc = pc, .pos = {1, 1}, .src = text, .src_len = len};
    struct fy_parse_cfg cfg = {.flags = FYPCF_QUIET};
    struct fy_diag_cfg dc;
    struct fy_parser *fyp;
    struct fy_event *ev;
    int r = check_bytes(pc, text, len);
    if (r < 0)
        return r;
    fy_diag_cfg_default(&dc);
    dc.fp = NULL;
    dc.output_fn = discard;
    dc.level = FYET_ERROR;
    dc.colorize = false;
    cfg.diag = fy_diag_create(&dc);
    if (!cfg.diag)
        return cfg_nomem(pc);
    fy_diag_set_collect_errors(cfg.diag, true);
    fyp = fy_parser_create(&cfg);
    if (!fyp) {
        r = cfg_nomem(pc);
        goto out_diag;
    }
    r = fy_parser_set_string(fyp, text, len) == 0 ? 0 : cfg_nomem(pc);
    while (r >= 0 && (ev = fy_parser_parse(fyp))) {
        r = on_event(&b, ev);
        fy_parser_event_free(fyp, ev);
    }
    if (r >= 0 && fy_parser_get_stream_error(fyp))
        r = syntax_error(pc, cfg.diag);
    if (r >= 0)
        *root = b.root;
    fy_parser_destroy(fyp);
out_diag:
    fy_diag_destroy(cfg.diag);
    return r;
}

const char *cfg_yaml_type_name(const struct cfg_node *n)
{
    if (!n)
        return "nothing";
    switch (n->type) {
    case CFG_NODE_NULL:
        return "an empty value";
    case CFG_NODE_SCALAR:
        return "a string";
    case CFG_NODE_SEQ:
        return "a list";
    case CFG_NODE_MAP:
        return "a mapping";
    case CFG_NODE__COUNT:
        break;
    }
    return "?";
}

int cfg_yaml_expect(struct cfg_ctx *pc, const struct cfg_node *n, enum cfg_node_type want,
                    const char *field)
{
    struct cfg_node wanted = {.type = want};
    if (n && n->type == want)
        return 0;
    return cfg_err(pc, n, field, "expected %s, got %s", cfg_yaml_type_name(&wanted),
                   cfg_yaml_type_name(n));
}

int cfg_yaml_scalar(struct cfg_ctx *pc, const struct cfg_node *n, const char *field,
                    const char **out)
{
    int r = cfg_yaml_expect(pc, n, CFG_NODE_SCALAR, field);
    if (r < 0)
        return r;
    *out = n->text;
    return 0;
}

int cfg_yaml_value(struct cfg_ctx *pc, const struct cfg_node *n, const char *field,
                   const char *what, const char **out)
{
    if (n && n->type == CFG_NODE_SCALAR) {
        *out = n->text;
        return 0;
    }
    return cfg_err(pc, n, field, "expected %s, got %s", what, cfg_yaml_type_name(n));
}

/* Truncates as snprintf would, without its cost: it runs for every key of
 * every service, ~1.5 ms of a start of 1,000 services through snprintf. */
static size_t put(char *buf, size_t size, size_t off, const char *s, size_t len)
{
    if (off + 1 >= size)
        return off;
    if (len > size - 1 - off)
        len = size - 1 - off;
    memmove(buf + off, s, len);
    return off + len;
}

void cfg_yaml_field(char *buf, size_t size, const char *base, const char *key)
{
    size_t off;
    if (size == 0)
        return;
    off = put(buf, size, 0, base, strlen(base));
    if (base[0])
        off = put(buf, size, off, ".", 1);
    off = put(buf, size, off, key, strlen(key));
    buf[off] = '\0';
}

static void join(char *buf, size_t size, const char *const *names, int n)
{
    size_t off = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && off < size; i++) {
        int w = snprintf(buf + off, size - off, "%s%s", i ? ", " : "", names[i]);
        if (w < 0)
            return;
        off += (size_t)w;
    }
}

static int key_index(struct cfg_ctx *pc, const struct cfg_node *k, const char *field,
                     const char *const *keys, int n_keys)
{
    char sub[DIAG_FIELD_MAX], list[512];
    const char *hint;
    if (k->type != CFG_NODE_SCALAR)
        return cfg_err(pc, k, field, "expected a key name, got %s", cfg_yaml_type_name(k));
    for (int i = 0; i < n_keys; i++)
        if (strcmp(k->text, keys[i]) == 0)
            return i;
    cfg_yaml_field(sub, sizeof(sub), field, k->text);
    hint = cfg_suggest(k->text, keys, (size_t)n_keys);
    if (hint)
        return cfg_err(pc, k, sub, "unknown key '%s' (did you mean '%s'?)", k->text, hint);
    join(list, sizeof(list), keys, n_keys);
    return cfg_err(pc, k, sub, "unknown key '%s' (valid keys: %s)", k->text, list);
}

int cfg_yaml_walk(struct cfg_ctx *pc, const struct cfg_node *map, const char *field,
                  const char *const *keys, int n_keys, cfg_yaml_key_fn fn, void *obj)
{
    const struct cfg_node *seen[32] = {0};
    char sub[DIAG_FIELD_MAX];
    int r = cfg_yaml_expect(pc, map, CFG_NODE_MAP, field);
    if (r < 0)
        return r;
    for (const struct cfg_node *k = map->child; k && k->next; k = k->next->next) {
        int i = key_index(pc, k, field, keys, n_keys < 32 ? n_keys : 32);
        if (i < 0)
            return i;
        cfg_yaml_field(sub, sizeof(sub), field, keys[i]);
        if (seen[i])
            return cfg_err(pc, k, sub, "duplicate key '%s' (first at line %d)", keys[i],
                           seen[i]->pos.line);
        seen[i] = k;
        r = fn(pc, obj, i, k, k->next, sub);
        if (r < 0)
            return r;
    }
    return 0;
}

int cfg_yaml_enum(struct cfg_ctx *pc, const struct cfg_node *n, const char *field,
                  const char *const *names, int count, int *out)
{
    char list[512];
    bool scalar = n && n->type == CFG_NODE_SCALAR;
    for (int i = 0; scalar && i < count; i++) {
        if (strcmp(n->text, names[i]) == 0) {
            *out = i;
            return 0;
        }
    }
    /* Joined only here: this runs for every enum key of every service. */
    join(list, sizeof(list), names, count);
    if (!scalar)
        return cfg_err(pc, n, field, "expected one of: %s (got %s)", list, cfg_yaml_type_name(n));
    return cfg_err(pc, n, field, "invalid value '%s' (expected one of: %s)", n->text, list);
}

const struct cfg_node *cfg_yaml_find_key(const struct cfg_node *map, const char *text)
{
    for (const struct cfg_node *k = map->child; k && k->next; k = k->next->next)
        if (k->type == CFG_NODE_SCALAR && strcmp(k->text, text) == 0)
            return k;
    return NULL;
}
