/* util/utc.h — broken-down UTC time without the C library's time-zone set-up.
 * glibc's gmtime_r() reads /etc/localtime on its first call (five syscalls
 * and a parse at start-up) although UTC needs none of it; corral only ever
 * writes UTC. */
#ifndef CORRAL_UTIL_UTC_H
#define CORRAL_UTIL_UTC_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* Fill tm as gmtime_r() would (tm_isdst 0, tm_gmtoff 0, tm_zone "UTC").
 * False, with tm untouched, for a year beyond int. */
bool utc_tm(time_t t, struct tm *tm);

/* The wall clock now, in ms since the epoch. */
int64_t utc_now_ms(void);

#endif
