/* health/limits.c — the enforcement of each limit, decided from the host. */
#include "health/limits.h"

#include "health/stats.h"

#include <stdio.h>

static const char *const limit_names[HEALTH_LIM__COUNT] = {
    [HEALTH_LIM_MEMORY] = "memory",
    [HEALTH_LIM_CPU] = "cpu",
    [HEALTH_LIM_PIDS] = "pids",
    [HEALTH_LIM_NOFILE] = "nofile",
    [HEALTH_LIM_ADDRESS_SPACE] = "address_space",
    [HEALTH_LIM_CPU_TIME] = "cpu_time",
};

static const char *const enforce_names[HEALTH_ENF__COUNT] = {
    [HEALTH_ENF_CGROUP] = "cgroup",
    [HEALTH_ENF_SAMPLING] = "sampling",
    [HEALTH_ENF_RLIMIT] = "rlimit",
    [HEALTH_ENF_NONE] = "none",
};

void health_format_size(uint64_t bytes, char *buf, size_t size)
{
    static const char units[] = "BKMGTPE";
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024.0 && u < 6) {
        v /= 1024.0;
        u++;
    }
    if (u == 0 || v >= 10.0 || v == (double)(uint64_t)v)
        snprintf(buf, size, "%.0f%c", v, units[u]);
    else
        snprintf(buf, size, "%.1f%c", v, units[u]);
}

const char *health_limit_name(enum health_limit l)
{
    return l < HEALTH_LIM__COUNT ? limit_names[l] : "?";
}

const char *health_enforce_name(enum health_enforce e)
{
    return e < HEALTH_ENF__COUNT ? enforce_names[e] : "?";
}

uint64_t health_limit_value(const struct cfg_limits *lim, enum health_limit l)
{
    switch (l) {
    case HEALTH_LIM_MEMORY:
        return lim->memory_bytes;
    case HEALTH_LIM_CPU:
        return lim->cpu_percent;
    case HEALTH_LIM_PIDS:
        return lim->pids;
    case HEALTH_LIM_NOFILE:
        return lim->nofile;
    case HEALTH_LIM_ADDRESS_SPACE:
        return lim->address_space_bytes;
    case HEALTH_LIM_CPU_TIME:
        return lim->cpu_time_ms;
    case HEALTH_LIM__COUNT:
        break;
    }
    return 0;
}

enum health_enforce health_limit_enforce(enum health_limit l, bool cgroup, int ctrl)
{
    switch (l) {
    case HEALTH_LIM_MEMORY:
        return cgroup && (ctrl & HEALTH_CTRL_MEMORY) ? HEALTH_ENF_CGROUP : HEALTH_ENF_SAMPLING;
    case HEALTH_LIM_CPU:
        return cgroup && (ctrl & HEALTH_CTRL_CPU) ? HEALTH_ENF_CGROUP : HEALTH_ENF_NONE;
    case HEALTH_LIM_PIDS:
        return cgroup && (ctrl & HEALTH_CTRL_PIDS) ? HEALTH_ENF_CGROUP : HEALTH_ENF_NONE;
    case HEALTH_LIM_NOFILE:
    case HEALTH_LIM_ADDRESS_SPACE:
    case HEALTH_LIM_CPU_TIME:
        return HEALTH_ENF_RLIMIT;
    case HEALTH_LIM__COUNT:
        break;
    }
    return HEALTH_ENF_NONE;
}

const char *health_limit_how(enum health_limit l, enum health_enforce e)
{
    switch (l) {
    case HEALTH_LIM_MEMORY:
        return e == HEALTH_ENF_CGROUP
                   ? "cgroup memory.max (swap off): the kernel OOM-kills, corral restarts with "
                     "reason oom"
                   : "the tree's RSS sampled every second; above the limit corral stops the "
                     "service (reason: memory limit)";
    case HEALTH_LIM_CPU:
        return e == HEALTH_ENF_CGROUP
                   ? "cgroup cpu.max: the tree is throttled to this share of a core"
                   : "not enforced: no cpu controller for corral's cgroups (cpu_time sets "
                     "RLIMIT_CPU, a total of CPU time, not a rate)";
    case HEALTH_LIM_PIDS:
        return e == HEALTH_ENF_CGROUP
                   ? "cgroup pids.max: fork fails past it, for the whole tree"
                   : "not enforced: no pids controller for corral's cgroups (RLIMIT_NPROC "
                     "counts every process of the user, so it is not used)";
    case HEALTH_LIM_NOFILE:
        return "RLIMIT_NOFILE of each process";
    case HEALTH_LIM_ADDRESS_SPACE:
        return "RLIMIT_AS of each process: allocations past it fail";
    case HEALTH_LIM_CPU_TIME:
        return "RLIMIT_CPU of each process: CPU seconds in all, then SIGXCPU and SIGKILL";
    case HEALTH_LIM__COUNT:
        break;
    }
    return "?";
}
