/* config/fyfn.h — libfyaml, loaded with dlopen for each parse of a config
 * and unloaded after it: a daemon reads its config at start and at reloads
 * only, and the half megabyte of parser code it touched would otherwise
 * stay resident for its whole life. Include after <libfyaml.h> in the one
 * file that parses; the calls below go through the table. */
#ifndef CORRAL_CONFIG_FYFN_H
#define CORRAL_CONFIG_FYFN_H

#include <libfyaml.h>

struct fy_fns {
    const struct fy_mark *(*event_start_mark)(struct fy_event *fye);
    enum fy_scalar_style (*token_scalar_style)(struct fy_token *fyt);
    const struct fy_mark *(*token_start_mark)(struct fy_token *fyt);
    const struct fy_mark *(*token_end_mark)(struct fy_token *fyt);
    const char *(*token_get_text)(struct fy_token *fyt, size_t *lenp);
    struct fy_diag_error *(*diag_errors_iterate)(struct fy_diag *diag, void **prevp);
    void (*diag_cfg_default)(struct fy_diag_cfg *cfg);
    struct fy_diag *(*diag_create)(const struct fy_diag_cfg *cfg);
    void (*diag_destroy)(struct fy_diag *diag);
    void (*diag_set_collect_errors)(struct fy_diag *diag, bool collect_errors);
    struct fy_parser *(*parser_create)(const struct fy_parse_cfg *cfg);
    void (*parser_destroy)(struct fy_parser *fyp);
    int (*parser_set_string)(struct fy_parser *fyp, const char *str, size_t len);
    struct fy_event *(*parser_parse)(struct fy_parser *fyp);
    void (*parser_event_free)(struct fy_parser *fyp, struct fy_event *fye);
    bool (*parser_get_stream_error)(struct fy_parser *fyp);
};

extern struct fy_fns fy_fns;

/* Load libfyaml (0, or -1 with why filled) and unload it again. */
int fy_fns_load(char *why, size_t size);
void fy_fns_unload(void);

#define fy_event_start_mark(e)           fy_fns.event_start_mark(e)
#define fy_token_scalar_style(t)         fy_fns.token_scalar_style(t)
#define fy_token_start_mark(t)           fy_fns.token_start_mark(t)
#define fy_token_end_mark(t)             fy_fns.token_end_mark(t)
#define fy_token_get_text(t, l)          fy_fns.token_get_text(t, l)
#define fy_diag_errors_iterate(d, p)     fy_fns.diag_errors_iterate(d, p)
#define fy_diag_cfg_default(c)           fy_fns.diag_cfg_default(c)
#define fy_diag_create(c)                fy_fns.diag_create(c)
#define fy_diag_destroy(d)               fy_fns.diag_destroy(d)
#define fy_diag_set_collect_errors(d, b) fy_fns.diag_set_collect_errors(d, b)
#define fy_parser_create(c)              fy_fns.parser_create(c)
#define fy_parser_destroy(p)             fy_fns.parser_destroy(p)
#define fy_parser_set_string(p, s, l)    fy_fns.parser_set_string(p, s, l)
#define fy_parser_parse(p)               fy_fns.parser_parse(p)
#define fy_parser_event_free(p, e)       fy_fns.parser_event_free(p, e)
#define fy_parser_get_stream_error(p)    fy_fns.parser_get_stream_error(p)

#endif
