/* INCRBYFLOAT's arithmetic, done exactly as Redis does it: C `long double` (80-bit on x86-64),
 * parsed with strtold and printed with "%.17Lf" minus trailing zeros (Redis's ld2string
 * LD_STR_HUMAN). Rust has no long double, so this one function lives in C. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LONG_DOUBLE_CHARS (5 * 1024)

/* Redis's getLongDoubleFromObject rules. Returns 0 on success. */
static int parse_ld(const char *s, size_t len, long double *out) {
    char buf[MAX_LONG_DOUBLE_CHARS + 1];
    char *end;
    if (len == 0 || len > MAX_LONG_DOUBLE_CHARS) return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (isspace((unsigned char)buf[0])) return -1;
    errno = 0;
    long double v = strtold(buf, &end);
    if ((size_t)(end - buf) != len) return -1;
    if (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || fpclassify(v) == FP_ZERO)) return -1;
    if (isnan(v)) return -1;
    *out = v;
    return 0;
}

/* Adds two decimal strings. Returns the length written to out, or
 * -1 if a is not a float, -2 if b is not, -3 if the sum is NaN or infinite, -4 if out is small. */
long spindle_ld_add(const char *a, size_t alen, const char *b, size_t blen, char *out, size_t outlen) {
    long double x, y;
    if (parse_ld(a, alen, &x) != 0) return -1;
    if (parse_ld(b, blen, &y) != 0) return -2;
    long double v = x + y;
    if (isnan(v) || isinf(v)) return -3;
    int l = snprintf(out, outlen, "%.17Lf", v);
    if (l < 0 || (size_t)l + 1 > outlen) return -4;
    if (strchr(out, '.') != NULL) {
        char *p = out + l - 1;
        while (*p == '0') { p--; l--; }
        if (*p == '.') l--;
    }
    if (l == 2 && out[0] == '-' && out[1] == '0') { out[0] = '0'; l = 1; }
    return l;
}

/* Validates a long double argument alone (1 if valid). */
int spindle_ld_valid(const char *a, size_t alen) {
    long double x;
    return parse_ld(a, alen, &x) == 0;
}

/* Redis's getTimeoutFromObjectOrReply in seconds: the timeout in milliseconds,
 * (long long) ceill(seconds * 1000) of a long double. A value beyond the range of long long
 * becomes LLONG_MIN, which is what that conversion gives on x86-64 (so Redis answers "timeout
 * is negative" for "inf" or "1e100"). Returns 0, or -1 if the text is not a float. */
int spindle_timeout_ms(const char *s, size_t len, long long *out) {
    long double v;
    if (parse_ld(s, len, &v) != 0) return -1;
    long double ms = ceill(v * 1000.0L);
    if (!(ms >= -9223372036854775808.0L && ms < 9223372036854775808.0L))
        *out = (-9223372036854775807LL - 1);
    else
        *out = (long long)ms;
    return 0;
}
