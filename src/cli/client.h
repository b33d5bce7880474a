/* cli/client.h — the CLI's side of the API: HTTP over the instance's Unix
 * socket (libcurl), JSON in and out. */
#ifndef CORRAL_CLI_CLIENT_H
#define CORRAL_CLI_CLIENT_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

struct client {
    char state_dir[PATH_MAX];
    char sock[PATH_MAX];
    void *curl;
    bool quiet; /* a request that gets no answer is not explained on stderr */
};

/* Pick the instance: state_dir when given, else the config file's state_dir
 * (file defaults to ./corral.yaml). Returns 0, or a CLI exit status after
 * printing why. */
int client_open(struct client *c, const char *file, const char *state_dir);

/* What a request that got no answer returns (after saying why). */
#define CLIENT_DOWN (-1) /* nothing listens on the socket: corral is not running */
#define CLIENT_MUTE (-2) /* corral took the request and did not answer in time */
/* What a stream that broke off after it began returns (after saying why):
 * the connection was reset or closed before the response's end. */
#define CLIENT_BROKEN (-3)
/* The exit status for any of these: CLI_NOT_RUNNING (4) or CLI_FAILED (1). */
int client_exit_status(long status);
void client_close(struct client *c);

/* One request with an optional JSON body; *out gets the parsed response (or
 * NULL) and the HTTP status is returned, or -1 after printing why the daemon
 * could not be reached. */
long client_call(struct client *c, const char *method, const char *path, const char *body,
                 json_t **out);

/* GET path and hand each piece of the body to fn as it arrives, until the
 * server ends it or fn returns false. A refusal (any status but 200) is not
 * handed on: its message is printed on stderr. Returns the HTTP status (200
 * when the server ended the stream or fn stopped it), CLIENT_DOWN or
 * CLIENT_MUTE when it got no answer, or CLIENT_BROKEN when the stream broke
 * off before its end; each of those after saying why. */
long client_stream(struct client *c, const char *path,
                   bool (*fn)(void *ctx, const char *data, size_t len), void *ctx);

/* The "message" of an API error body, or a fallback. */
const char *client_error(const json_t *body, long status);

/* The state directory's lock file still carries the running mark, which a
 * corral clears once every tree it ran is empty. */
bool client_left_running(const struct client *c);
/* True when no corral holds the instance's lock. */
bool client_daemon_gone(const struct client *c);

#endif
