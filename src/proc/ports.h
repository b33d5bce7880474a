/* proc/ports.h — who holds a port: the sockets bound to it, from
 * /proc/net/{tcp,tcp6,udp,udp6}, and the processes that have them open, from
 * the socket inodes behind /proc/PID/fd. A TCP port is held by a listener, a
 * UDP port by any socket bound to it. */
#ifndef CORRAL_PROC_PORTS_H
#define CORRAL_PROC_PORTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum proc_proto { PROC_TCP, PROC_UDP };

/* One line of /proc/net/{tcp,udp}[6]. */
struct proc_sock {
    enum proc_proto proto;
    bool v6;
    unsigned char addr[16]; /* network order; 4 bytes used for IPv4 */
    unsigned port;
    unsigned state; /* TCP: 0x0A listen; UDP: 0x07 bound */
    uid_t uid;
    uint64_t inode;
};

/* Parse one line (the header line and malformed ones give -EINVAL). Pure. */
int proc_net_parse_line(const char *line, enum proc_proto proto, bool v6, struct proc_sock *out);

/* The socket holds its port: a TCP listener or any bound UDP socket. */
bool proc_sock_holds(const struct proc_sock *s);

/* "127.0.0.1", "::1", "0.0.0.0", "::" */
void proc_sock_addr_text(const struct proc_sock *s, char *buf, size_t size);

/* A process with a socket that holds one of the ports asked for. */
struct proc_port_holder {
    struct proc_sock sock;
    pid_t pid; /* 0 when no process in this namespace has it open */
};

typedef void (*proc_port_fn)(void *ctx, const struct proc_port_holder *h);

/* Every holder of any of ports[0..n). Returns how many were found, or -errno. */
int proc_ports_find(const unsigned *ports, size_t n, proc_port_fn fn, void *ctx);

#endif
