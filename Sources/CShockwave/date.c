/* The Date field's format, IMF-fixdate (RFC 9110 5.6.7), from a Unix time, with integer arithmetic only:
 * gmtime_r takes a lock for the time zone on some libcs and strftime reads the locale, neither of which a server
 * that stamps every response should pay for or depend on. */
#include <string.h>

#include "sw_tables.h"

/* 9999-12-31T23:59:59Z: the last second with a four-digit year. */
#define LAST_SECOND INT64_C(253402300799)

/* Three letters each, in English whatever the locale (RFC 9110 5.6.7). */
static const char day_names[] = "SunMonTueWedThuFriSat";
static const char month_names[] = "JanFebMarAprMayJunJulAugSepOctNovDec";

static void put2(char *p, unsigned v) {
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

size_t sw_format_imf_fixdate(int64_t unix_seconds, char *out) {
    if (unix_seconds < 0 || unix_seconds > LAST_SECOND)
        return 0;
    /* Both fit in 32 bits from here on: days <= 2932896, secs < 86400. */
    uint32_t days = (uint32_t)(unix_seconds / 86400);
    uint32_t secs = (uint32_t)(unix_seconds % 86400);

    /* 1970-01-01 was a Thursday (index 4, counting from Sunday). */
    uint32_t weekday = (days + 4) % 7;

    /* civil_from_days, from Howard Hinnant's "chrono-Compatible Low-Level Date Algorithms": count from 0000-03-01
     * so that the leap day is the last day of a year, cut the count into 400-year eras of 146097 days, and inside
     * an era the leap-year rules become divisions by 1460, 36524 and 146096 (4, 100 and 400 years less a day).
     * Days are non-negative here, so the era is plain division; the original's negative branch is not needed. */
    uint32_t z = days + 719468; /* days since 0000-03-01 */
    uint32_t era = z / 146097;
    uint32_t doe = z - era * 146097;                                      /* [0, 146096] */
    uint32_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    uint32_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365], from March 1 */
    uint32_t mp = (5 * doy + 2) / 153;                                    /* [0, 11], March = 0 */
    uint32_t day = doy - (153 * mp + 2) / 5 + 1;                          /* [1, 31] */
    uint32_t month = mp < 10 ? mp + 3 : mp - 9;                           /* [1, 12] */
    uint32_t year = yoe + era * 400 + (month <= 2);                       /* January, February: next year */

    /* "Sun, 06 Nov 1994 08:49:37 GMT" */
    memcpy(out, day_names + 3 * weekday, 3);
    memcpy(out + 3, ", ", 2);
    put2(out + 5, day);
    out[7] = ' ';
    memcpy(out + 8, month_names + 3 * (month - 1), 3);
    out[11] = ' ';
    put2(out + 12, year / 100);
    put2(out + 14, year % 100);
    out[16] = ' ';
    put2(out + 17, secs / 3600);
    out[19] = ':';
    put2(out + 20, secs / 60 % 60);
    out[22] = ':';
    put2(out + 23, secs % 60);
    memcpy(out + 25, " GMT", 4);
    return SW_IMF_FIXDATE_LEN;
}
