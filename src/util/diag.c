/* util/diag.c — fill and render struct diag. */
#include "util/diag.h"

#include <stdio.h>
#include <string.h>

void diag_clear(struct diag *dg)
{
    if (dg)
        memset(dg, 0, sizeof(*dg));
}

void diag_set(struct diag *dg, int code, const char *fmt, ...)
{
    va_list ap;
    if (!dg)
        return;
    dg->code = code;
    va_start(ap, fmt);
    vsnprintf(dg->msg, sizeof(dg->msg), fmt, ap);
    va_end(ap);
}

void diag_at(struct diag *dg, const char *file, int line, int col, const char *field,
             const char *fmt, ...)
{
    va_list ap;
    if (!dg)
        return;
    dg->code = dg->code ? dg->code : -22;
    dg->line = line;
    dg->col = col;
    snprintf(dg->file, sizeof(dg->file), "%s", file ? file : "");
    snprintf(dg->field, sizeof(dg->field), "%s", field ? field : "");
    va_start(ap, fmt);
    vsnprintf(dg->msg, sizeof(dg->msg), fmt, ap);
    va_end(ap);
}

void diag_format(const struct diag *dg, char *buf, unsigned long size)
{
    int n = 0;
    if (!size)
        return;
    buf[0] = '\0';
    if (dg->file[0] && dg->line > 0)
        n = snprintf(buf, size, "%s:%d:%d: ", dg->file, dg->line, dg->col > 0 ? dg->col : 1);
    else if (dg->file[0])
        n = snprintf(buf, size, "%s: ", dg->file);
    if (n < 0 || (unsigned long)n >= size)
        return;
    if (dg->field[0]) {
        int m = snprintf(buf + n, size - n, "%s: ", dg->field);
        if (m < 0 || (unsigned long)(n + m) >= size)
            return;
        n += m;
    }
    snprintf(buf + n, size - n, "%s", dg->msg[0] ? dg->msg : "unknown error");
}
