/* health/limits.h — which mechanism enforces each of a service's limits on
 * this host: a cgroup v2 controller when one is delegated to corral's subtree,
 * else an rlimit or RSS sampling, else nothing (and then it says why). */
#ifndef CORRAL_HEALTH_LIMITS_H
#define CORRAL_HEALTH_LIMITS_H

#include "config/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How often a tree's RSS is sampled while a memory limit has no controller. */
#define HEALTH_RSS_SAMPLE_MS 1000

enum health_limit {
    HEALTH_LIM_MEMORY,
    HEALTH_LIM_CPU,
    HEALTH_LIM_PIDS,
    HEALTH_LIM_NOFILE,
    HEALTH_LIM_ADDRESS_SPACE,
    HEALTH_LIM_CPU_TIME,
    HEALTH_LIM__COUNT
};

enum health_enforce {
    HEALTH_ENF_CGROUP,   /* the kernel, through a cgroup controller: the whole tree */
    HEALTH_ENF_SAMPLING, /* corral samples the tree and stops it */
    HEALTH_ENF_RLIMIT,   /* each process, on its own */
    HEALTH_ENF_NONE,     /* not enforced on this host */
    HEALTH_ENF__COUNT
};

/* "memory", "cpu", ... as the config spells them. */
const char *health_limit_name(enum health_limit l);
/* "cgroup", "sampling", "rlimit", "none". */
const char *health_enforce_name(enum health_enforce e);
/* The value of limit l in lim, 0 when not set. */
uint64_t health_limit_value(const struct cfg_limits *lim, enum health_limit l);
/* How l is enforced with (cgroup) or without cgroup containment, given the
 * controllers (enum health_ctrl bits) service cgroups have. Pure. */
enum health_enforce health_limit_enforce(enum health_limit l, bool cgroup, int ctrl);
/* One line for a person: the mechanism, and what it means. Pure. */
const char *health_limit_how(enum health_limit l, enum health_enforce e);

/* A size for a person, in powers of 1024: "512M", "1.5G", "900K", "12B";
 * one decimal below 10 of a unit. Pure. */
void health_format_size(uint64_t bytes, char *buf, size_t size);

#endif
