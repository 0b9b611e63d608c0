/* Structured log lines on stderr. */
#include "gateway/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static _Atomic int current_level = WG_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void wg_log_set_level(wg_log_level_t level)
{
    atomic_store(&current_level, (int)level);
}

int wg_log_enabled(wg_log_level_t level)
{
    return (int)level >= atomic_load(&current_level);
}

/* Appends msg as a logfmt value: quoted (with \" \\ \n escaped) when it holds a space, quote,
 * '=' or control character, bare otherwise. Returns the new length. */
static size_t append_value(char *line, size_t n, size_t cap, const char *v)
{
    int quote = *v == '\0';
    for (const char *p = v; *p && !quote; p++)
        quote = *p == ' ' || *p == '"' || *p == '=' || (unsigned char)*p < 0x20;
    if (quote && n < cap)
        line[n++] = '"';
    for (const char *p = v; *p && n + 2 < cap; p++) {
        unsigned char c = (unsigned char)*p;
        if (quote && (c == '"' || c == '\\')) {
            line[n++] = '\\';
            line[n++] = (char)c;
        } else if (c < 0x20) {
            line[n++] = '\\';
            line[n++] = c == '\n' ? 'n' : '?';
        } else {
            line[n++] = (char)c;
        }
    }
    if (quote && n < cap)
        line[n++] = '"';
    return n;
}

void wg_log(wg_log_level_t level, const char *msg, const char *fmt, ...)
{
    if (!wg_log_enabled(level))
        return;
    char line[2048];
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof line,
                     "ts=%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ level=%s msg=", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)tv.tv_usec,
                     level_names[level]);
    if (n < 0)
        return;
    n = (int)append_value(line, (size_t)n, sizeof line - 2, msg);
    if (fmt && *fmt && (size_t)n < sizeof line - 2) {
        line[n++] = ' ';
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
        va_end(ap);
        if (m > 0)
            n += m;
    }
    if ((size_t)n > sizeof line - 2)
        n = (int)sizeof line - 2; /* truncated */
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}
