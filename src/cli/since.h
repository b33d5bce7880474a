/* cli/since.h — what `corral events --since X` / `--until X` may say: an
 * event id, a duration back from now, or a time; and the query parameter
 * the API takes for it. Pure, so that it can be unit-tested. */
#ifndef CORRAL_CLI_SINCE_H
#define CORRAL_CLI_SINCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cli_when {
    bool is_id;
    uint64_t id;     /* when is_id */
    int64_t time_ms; /* else: wall clock, ms since the epoch */
};

/* "42" (an event id); "10m", "2h", "1h30m" (a duration back from now_ms, as
 * the config writes durations); "2026-11-29T10:00:00Z" or with an offset
 * (RFC 3339); "2026-11-29T10:00[:SS]" or "2026-11-29 10:00", "2026-11-29"
 * (local time); "10:00[:SS]" (local, today, or yesterday when that is still
 * to come). 0, or -EINVAL with msg saying what is accepted. */
int cli_when_parse(const char *s, int64_t now_ms, struct cli_when *w, char *msg, size_t size);

/* The query parameter for w as a lower ("since") or upper ("until") bound:
 * "since=42", "until_time=2026-11-29T09:00:00.000Z". */
void cli_when_param(const struct cli_when *w, const char *bound, char *buf, size_t size);

#endif
