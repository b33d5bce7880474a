/* config/api.c — the api: section: where the control API listens besides its
 * Unix socket, and where the TCP listener's bearer token lives. */
#include "config/internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum api_key { AK_LISTEN, AK_TOKEN_FILE, AK_EVENTS_KEEP, AK__COUNT };
static const char *const api_keys[AK__COUNT] = {"listen", "token_file", "events_keep"};

int cfg_parse_listen(const char *s, char *addr, size_t size, unsigned *port)
{
    const char *colon = strrchr(s, ':');
    const char *host = s;
    size_t host_len;
    uint64_t p;
    unsigned char bin[16];
    if (!colon || colon == s)
        return -EINVAL;
    host_len = (size_t)(colon - s);
    if (s[0] == '[') {
        if (host_len < 3 || s[host_len - 1] != ']')
            return -EINVAL;
        host = s + 1;
        host_len -= 2;
    }
    if (host_len >= size)
        return -EINVAL;
    memcpy(addr, host, host_len);
    addr[host_len] = '\0';
    if (cfg_parse_uint(colon + 1, 65535, &p) < 0 || p == 0)
        return -EINVAL;
    if (inet_pton(s[0] == '[' ? AF_INET6 : AF_INET, addr, bin) != 1)
        return -EINVAL;
    *port = (unsigned)p;
    return 0;
}

static int api_key(struct cfg_ctx *pc, void *obj, int key, const struct cfg_node *k,
                   const struct cfg_node *v, const char *field)
{
    struct cfg_api *api = obj;
    const char *s;
    int r;
    (void)k;
    switch ((enum api_key)key) {
    case AK_LISTEN:
        r = cfg_yaml_value(pc, v, field, "an IP address and a port", &s);
        if (r < 0)
            return r;
        if (cfg_parse_listen(s, api->listen_addr, sizeof(api->listen_addr), &api->listen_port) < 0)
            return cfg_err(pc, v, field,
                           "expected an IP address and a port, such as 127.0.0.1:7070 or "
                           "[::1]:7070, got '%s'",
                           s);
        api->listen = cfg_arena_strdup(pc->ar, s); /* s lives in the scratch arena */
        return api->listen ? 0 : cfg_nomem(pc);
    case AK_TOKEN_FILE:
        return cfg_path_value(pc, v, field, &api->token_file);
    case AK_EVENTS_KEEP:
        r = cfg_yaml_value(pc, v, field, "a whole number", &s);
        if (r < 0)
            return r;
        if (cfg_parse_uint(s, CFG_MAX_EVENTS_KEEP, &api->events_keep) < 0 || api->events_keep == 0)
            return cfg_err(pc, v, field,
                           "invalid number '%s' (expected a whole number of events from 1 to %d)",
                           s, CFG_MAX_EVENTS_KEEP);
        return 0;
    case AK__COUNT:
        break;
    }
    return 0;
}

int cfg_api_parse(struct cfg_ctx *pc, const struct cfg_node *v, const char *field,
                  struct cfg_api *api)
{
    return cfg_yaml_walk(pc, v, field, api_keys, AK__COUNT, api_key, api);
}

/* An existing token file of a TCP listener must hold a usable token: said
 * now, with the config's other errors, not after the first services ran.
 * A missing one is made by corral at start. at: the api: section. */
int cfg_api_check_token(struct cfg_ctx *pc, const struct cfg_api *api, const struct cfg_node *at)
{
    char buf[CFG_TOKEN_MAX + 2];
    ssize_t n;
    int fd;
    if (!api->listen || !api->token_file)
        return 0;
    fd = open(api->token_file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? 0
                               : cfg_err(pc, at, "api.token_file", "cannot read %s: %s",
                                         api->token_file, strerror(errno));
    n = read(fd, buf, sizeof(buf));
    close(fd);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        n--;
    if (n < CFG_TOKEN_MIN || n > CFG_TOKEN_MAX)
        return cfg_err(pc, at, "api.token_file",
                       "%s holds a token of %zd characters; it needs %d to %d (remove the file "
                       "and corral makes one)",
                       api->token_file, n < 0 ? 0 : n, CFG_TOKEN_MIN, CFG_TOKEN_MAX);
    for (ssize_t i = 0; i < n; i++)
        if ((unsigned char)buf[i] <= ' ' || buf[i] == 0x7f)
            return cfg_err(pc, at, "api.token_file",
                           "%s: a token holds no space or control character", api->token_file);
    return 0;
}
