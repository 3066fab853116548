/* Precomputed protocol tables: status lines, reason phrases, and the Date format.
 * The tables live in generated files (scripts/gen_tables.py); nothing here allocates or calls printf. */
#ifndef SW_TABLES_H
#define SW_TABLES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Longest line sw_write_status_line can write. */
#define SW_STATUS_LINE_MAX 64

/* The complete status line for `status`, "HTTP/1.1 200 OK\r\n", as static bytes, with its length in *len.
 * Returns NULL (and *len = 0) for a code outside 100..599 or not registered with IANA. */
const char *sw_status_line(int status, size_t *len);

/* Writes the status line for any `status` in 100..999 into dst (room for SW_STATUS_LINE_MAX bytes) and
 * returns its length; a registered code is one memcpy, any other is built from its digits with an empty
 * reason phrase ("HTTP/1.1 599 \r\n", allowed by RFC 9112 4). `minor` 0 writes "HTTP/1.0". Returns 0 for
 * a status outside 100..999. */
size_t sw_write_status_line(char *dst, int status, int minor);

/* The IANA reason phrase ("Not Found"), or "" for an unregistered code. Static, NUL-terminated. */
const char *sw_reason_phrase(int status);

/* Length of an IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 5.6.7). */
#define SW_IMF_FIXDATE_LEN 29

/* Writes the IMF-fixdate for `unix_seconds` (UTC, proleptic Gregorian, years 1970..9999) into out[0, 29);
 * no NUL is written. Returns 29, or 0 if the time is out of range. Thread-safe, no locale, no libc time calls. */
size_t sw_format_imf_fixdate(int64_t unix_seconds, char *out);

#ifdef __cplusplus
}
#endif

#endif
