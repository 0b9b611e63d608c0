/* Behaviour rules (message metadata, not text): msgtypes, red-packet amounts, events, senders,
 * links outside an allow list, and the pure "unanswered" decision over working hours. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/internal.h"

int wg__behaviour_applies(const wg_rule_t *r, const wg_audit_msg_t *m)
{
    const char *mt = m->msgtype && *m->msgtype ? m->msgtype : "text";
    if (r->has_msgtypes && !wg__strlist_has(&r->msgtypes, mt))
        return 0;
    if (r->has_events && !(m->event && *m->event && wg__strlist_has(&r->events, m->event)))
        return 0;
    if (r->has_from && !wg__strlist_has(&r->from, m->from))
        return 0;
    if (r->has_min_amount && m->amount_fen < r->min_amount_fen)
        return 0;
    return 1;
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

int wg__url_host(const char *url, size_t n, size_t *hs, size_t *he)
{
    size_t p;
    if (n >= 7 && strncasecmp(url, "http://", 7) == 0)
        p = 7;
    else if (n >= 8 && strncasecmp(url, "https://", 8) == 0)
        p = 8;
    else
        return 0;
    size_t end = p;
    while (end < n && url[end] != '/' && url[end] != '?' && url[end] != '#')
        end++;
    size_t start = p;
    for (size_t i = p; i < end; i++)
        if (url[i] == '@')
            start = i + 1; /* userinfo */
    size_t stop = end;
    for (size_t i = start; i < end; i++)
        if (url[i] == ':') {
            stop = i; /* port */
            break;
        }
    while (stop > start && url[stop - 1] == '.')
        stop--;
    if (stop == start)
        return 0;
    *hs = start;
    *he = stop;
    return 1;
}

int wg__host_allowed(const wg_strlist_t *allow, const char *host, size_t n)
{
    for (size_t i = 0; i < allow->n; i++) {
        const char *d = allow->v[i];
        size_t dl = strlen(d);
        if (dl > n)
            continue;
        size_t off = n - dl;
        int eq = 1;
        for (size_t k = 0; k < dl && eq; k++)
            eq = lower(host[off + k]) == d[k];
        if (eq && (off == 0 || host[off - 1] == '.'))
            return 1;
    }
    return 0;
}

/* ---- unanswered ------------------------------------------------------------------------------ */

/* Zones without daylight saving time only: their offset is fixed, so no tz database is read. */
static const struct {
    const char *name;
    int minutes;
} zones[] = {
    {"Asia/Shanghai", 480},
    {"Asia/Chongqing", 480},
    {"Asia/Harbin", 480},
    {"PRC", 480},
    {"Asia/Hong_Kong", 480},
    {"Asia/Macau", 480},
    {"Asia/Taipei", 480},
    {"Asia/Singapore", 480},
    {"Asia/Kuala_Lumpur", 480},
    {"Asia/Manila", 480},
    {"Asia/Tokyo", 540},
    {"Asia/Seoul", 540},
    {"Asia/Bangkok", 420},
    {"Asia/Ho_Chi_Minh", 420},
    {"Asia/Jakarta", 420},
    {"Asia/Kolkata", 330},
    {"Asia/Dubai", 240},
    {"UTC", 0},
    {"Etc/UTC", 0},
    {"GMT", 0},
};

int wg_audit_tz_offset(const char *tz, int *minutes)
{
    for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++)
        if (strcmp(tz, zones[i].name) == 0) {
            *minutes = zones[i].minutes;
            return 0;
        }
    if ((tz[0] == '+' || tz[0] == '-') && strlen(tz) == 6 && tz[3] == ':') {
        const char *d = tz + 1;
        if (d[0] < '0' || d[0] > '9' || d[1] < '0' || d[1] > '9' || d[3] < '0' || d[3] > '9' ||
            d[4] < '0' || d[4] > '9')
            return -1;
        int h = (d[0] - '0') * 10 + (d[1] - '0'), m = (d[3] - '0') * 10 + (d[4] - '0');
        if (h > 14 || m > 59)
            return -1;
        *minutes = (tz[0] == '-' ? -1 : 1) * (h * 60 + m);
        return 0;
    }
    return -1;
}

static int parse_hhmm(const char *s, int *out)
{
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' || s[2] != ':' || s[3] < '0' ||
        s[3] > '9' || s[4] < '0' || s[4] > '9')
        return -1;
    int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
    if (m > 59 || h > 24 || (h == 24 && m != 0))
        return -1;
    *out = h * 60 + m;
    return 0;
}

int wg_audit_unanswered_parse(wg_audit_unanswered_t *u, int64_t minutes, const char *days,
                              const char *hours, const char *tz, char err[WG_AUDIT_ERR_MAX])
{
    memset(u, 0, sizeof *u);
    if (minutes <= 0) {
        wg__err(err, "minutes must be positive");
        return -1;
    }
    u->minutes = minutes;
    if (!days) {
        u->days = 0x7f;
    } else {
        const char *p = days;
        for (;;) {
            if (p[0] < '1' || p[0] > '7') {
                wg__err(err,
                        "days \"%s\": want ISO weekdays 1-7 (1 = Monday), as \"1-5\" or "
                        "\"1,3,5-7\"",
                        days);
                return -1;
            }
            int a = p[0] - '0', b = a;
            p++;
            if (*p == '-') {
                if (p[1] < '1' || p[1] > '7' || p[1] - '0' < a) {
                    wg__err(err, "days \"%s\": bad range", days);
                    return -1;
                }
                b = p[1] - '0';
                p += 2;
            }
            for (int d = a; d <= b; d++)
                u->days |= (uint8_t)(1u << (d - 1));
            if (*p == '\0')
                break;
            if (*p != ',') {
                wg__err(err, "days \"%s\": want \"1-5\" or \"1,3,5-7\"", days);
                return -1;
            }
            p++;
        }
    }
    if (!hours) {
        u->start_min = 0;
        u->end_min = 1440;
    } else if (strlen(hours) != 11 || hours[5] != '-' || parse_hhmm(hours, &u->start_min) != 0 ||
               parse_hhmm(hours + 6, &u->end_min) != 0 || u->start_min >= u->end_min ||
               u->start_min >= 1440) {
        wg__err(err, "hours \"%s\": want \"HH:MM-HH:MM\", start before end (up to 24:00)", hours);
        return -1;
    }
    if (wg_audit_tz_offset(tz ? tz : "Asia/Shanghai", &u->tz_offset_min) != 0) {
        wg__err(err,
                "tz \"%s\": unknown; use a fixed-offset zone such as Asia/Shanghai or \"+08:00\"",
                tz);
        return -1;
    }
    return 0;
}

#define DAY_MS 86400000LL
#define MIN_MS 60000LL

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int64_t wg_audit_unanswered_due_at(const wg_audit_unanswered_t *u, int64_t t)
{
    if (u->days == 0 || u->start_min >= u->end_min || u->minutes <= 0)
        return INT64_MAX;
    const int64_t off = (int64_t)u->tz_offset_min * MIN_MS;
    const int64_t limit = INT64_MAX / 4;
    if (t > limit || t < -limit)
        return INT64_MAX;
    int64_t cur = t + off; /* local milliseconds */
    int64_t remaining = u->minutes * MIN_MS;
    int64_t win = (int64_t)(u->end_min - u->start_min) * MIN_MS;
    int64_t week = (int64_t)__builtin_popcount(u->days) * win;
    int64_t day = floor_div(cur, DAY_MS);
    int skipped = 0;
    for (int guard = 0; guard < 7 * 4 + 16; guard++, day++) {
        int64_t base = day * DAY_MS;
        if (!skipped && cur == base && remaining > 2 * week) {
            /* Whole weeks at once: each holds exactly `week` working time. */
            int64_t k = remaining / week - 1;
            remaining -= k * week;
            day += k * 7;
            base = day * DAY_MS;
            cur = base;
            skipped = 1;
        }
        int wd = (int)(((day + 3) % 7 + 7) % 7) + 1; /* 1970-01-01 was a Thursday */
        if (u->days & (1u << (wd - 1))) {
            int64_t ws = base + (int64_t)u->start_min * MIN_MS;
            int64_t we = base + (int64_t)u->end_min * MIN_MS;
            int64_t from = cur > ws ? cur : ws;
            if (from < we) {
                if (we - from >= remaining)
                    return from + remaining - off;
                remaining -= we - from;
            }
        }
        cur = base + DAY_MS;
    }
    return INT64_MAX;
}

int wg_audit_unanswered_alert(const wg_audit_unanswered_t *u, int64_t last_customer_ms,
                              int64_t last_reply_ms, int64_t now_ms)
{
    if (last_customer_ms <= 0 || last_reply_ms >= last_customer_ms)
        return 0;
    return now_ms >= wg_audit_unanswered_due_at(u, last_customer_ms);
}
