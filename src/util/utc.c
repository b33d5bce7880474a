/* util/utc.c — days since the epoch to a civil date: the proleptic Gregorian
 * calendar counted in 400-year eras of 146097 days, with years starting in
 * March so that the leap day is the last of its year. */
#include "util/utc.h"

#include <limits.h>
#include <stdint.h>

#define SECS_PER_DAY  86400
#define DAYS_PER_ERA  146097
#define EPOCH_SHIFT   719468 /* days from 0000-03-01 to 1970-01-01 */
#define EPOCH_WEEKDAY 4      /* 1970-01-01 was a Thursday */

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static bool is_leap(int64_t y)
{
    return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

bool utc_tm(time_t t, struct tm *tm)
{
    static const int month_start[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
    int64_t days = floor_div((int64_t)t, SECS_PER_DAY);
    int64_t secs = (int64_t)t - days * SECS_PER_DAY;
    int64_t z = days + EPOCH_SHIFT;
    int64_t era = floor_div(z, DAYS_PER_ERA);
    int64_t doe = z - era * DAYS_PER_ERA;                                /* [0, 146096] */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* from March 1 */
    int64_t mp = (5 * doy + 2) / 153;                                    /* March = 0 */
    int64_t mday = doy - (153 * mp + 2) / 5 + 1;
    int64_t mon = mp < 10 ? mp + 2 : mp - 10; /* January = 0 */
    int64_t year = yoe + era * 400 + (mon < 2);
    if (year - 1900 > INT_MAX || year - 1900 < INT_MIN)
        return false;
    *tm = (struct tm){
        .tm_sec = (int)(secs % 60),
        .tm_min = (int)(secs / 60 % 60),
        .tm_hour = (int)(secs / 3600),
        .tm_mday = (int)mday,
        .tm_mon = (int)mon,
        .tm_year = (int)(year - 1900),
        .tm_wday = (int)(days - floor_div(days + EPOCH_WEEKDAY, 7) * 7 + EPOCH_WEEKDAY),
        .tm_yday = (int)(month_start[mon] + mday - 1 + (mon >= 2 && is_leap(year))),
        .tm_isdst = 0,
        .tm_gmtoff = 0,
        .tm_zone = "UTC",
    };
    return true;
}

int64_t utc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
