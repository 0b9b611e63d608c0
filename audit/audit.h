/* The audit engine's public contract: rule sets (JSON → compiled, immutable, reference-counted),
 * per-thread scanners, the live set that a reload swaps atomically, serialized rule sets, and the
 * pure "unanswered" decision. No I/O anywhere: bytes go in, hits and decisions come out.
 *
 * Ownership words as in jansson: "new" (caller owns and frees), "borrowed" (valid while its owner
 * lives), "stolen" (the callee takes the caller's reference). */
#ifndef WG_AUDIT_H
#define WG_AUDIT_H

#include <stddef.h>
#include <stdint.h>

/* Every error message fits in a caller-owned buffer of this size. Errors about one rule start
 * with `rule "<id>": `. */
#define WG_AUDIT_ERR_MAX 512

typedef enum wg_audit_kind {
    WG_AUDIT_WORD,
    WG_AUDIT_REGEX,
    WG_AUDIT_BEHAVIOUR,
    WG_AUDIT_COMBO,
} wg_audit_kind_t;

typedef enum wg_audit_severity {
    WG_AUDIT_INFO,
    WG_AUDIT_WARNING,
    WG_AUDIT_CRITICAL,
} wg_audit_severity_t;

typedef enum wg_audit_role {
    WG_AUDIT_ROLE_UNKNOWN, /* rules scoped to a speaker never apply */
    WG_AUDIT_ROLE_EMPLOYEE,
    WG_AUDIT_ROLE_CUSTOMER,
} wg_audit_role_t;

const char *wg_audit_kind_name(wg_audit_kind_t k);         /* "word", "regex", ... */
const char *wg_audit_severity_name(wg_audit_severity_t s); /* "info", "warning", "critical" */

/* ---- Rule sets ------------------------------------------------------------------------------ */

typedef struct wg_audit_ruleset wg_audit_ruleset_t;

/* Validates and compiles a rule-set JSON document (json[0..len), UTF-8). Returns a new set with
 * one reference, or NULL with err filled (the rule id and the cause). */
wg_audit_ruleset_t *wg_audit_ruleset_compile(const char *json, size_t len,
                                             char err[WG_AUDIT_ERR_MAX]);

/* Reference counting (atomic, any thread). ref returns its argument; unref frees on the last
 * reference. unref(NULL) does nothing. */
wg_audit_ruleset_t *wg_audit_ruleset_ref(wg_audit_ruleset_t *rs);
void wg_audit_ruleset_unref(wg_audit_ruleset_t *rs);

typedef struct wg_audit_stats {
    size_t rules;       /* all rules, enabled or not */
    size_t enabled;     /* enabled rules */
    size_t by_kind[4];  /* enabled rules per wg_audit_kind_t */
    size_t words;       /* words of enabled word rules, as listed */
    size_t literals;    /* distinct normalized literals given to Hyperscan */
    size_t prefiltered; /* regexes Hyperscan runs in prefilter mode */
    size_t views;       /* normalization views scanned */
    size_t unanswered;  /* behaviour rules with an "unanswered" policy */
    size_t db_bytes;    /* size of the Hyperscan databases */
    uint64_t hash;      /* FNV-1a 64 of the canonical rule-set JSON */
} wg_audit_stats_t;

void wg_audit_ruleset_stats(const wg_audit_ruleset_t *rs, wg_audit_stats_t *out);

/* Rule lookup by id: the index (usable with the accessors below), or -1 when absent. */
int wg_audit_ruleset_find(const wg_audit_ruleset_t *rs, const char *id);
size_t wg_audit_ruleset_count(const wg_audit_ruleset_t *rs);
/* Borrowed strings; i < count. */
const char *wg_audit_rule_id(const wg_audit_ruleset_t *rs, size_t i);
const char *wg_audit_rule_name(const wg_audit_ruleset_t *rs, size_t i);
wg_audit_kind_t wg_audit_rule_kind(const wg_audit_ruleset_t *rs, size_t i);
wg_audit_severity_t wg_audit_rule_severity(const wg_audit_ruleset_t *rs, size_t i);
int wg_audit_rule_enabled(const wg_audit_ruleset_t *rs, size_t i);
/* The words of a word rule as listed in the JSON (borrowed; 0 for other kinds). */
size_t wg_audit_rule_words(const wg_audit_ruleset_t *rs, size_t i, const char *const **words);
/* The rule's scope: *speaker WG_AUDIT_ROLE_UNKNOWN for any; *chat -1 any, 0 one-to-one,
 * 1 group. */
void wg_audit_rule_scope(const wg_audit_ruleset_t *rs, size_t i, wg_audit_role_t *speaker,
                         int *chat);
/* The corps a rule is limited to (borrowed, sorted); 0 when it applies to all. */
size_t wg_audit_rule_corps(const wg_audit_ruleset_t *rs, size_t i, const char *const **corps);

/* ---- Serialized (compiled) rule sets --------------------------------------------------------
 * The file `wegate rules compile` writes: Hyperscan's serialized databases, the canonical
 * rule-set JSON they were built from, its hash, the Hyperscan version and the CPU features the
 * databases need. Loading one costs no Hyperscan compile (and none of the compiler's heap). */

/* Serializes rs into a new malloc'd buffer (*out, *out_len). Returns 0, or -1 with err. */
int wg_audit_ruleset_serialize(const wg_audit_ruleset_t *rs, char **out, size_t *out_len,
                               char err[WG_AUDIT_ERR_MAX]);

/* Loads a serialized rule set. When rules_json is not NULL, the file must have been compiled
 * from that rule set (same canonical hash), else it is rejected. Rejects another Hyperscan
 * version, a CPU lacking the features the databases were built for, a corrupt or truncated
 * file, and a file whose inputs this build would normalize differently. Returns a new set with
 * one reference, or NULL with err. */
wg_audit_ruleset_t *wg_audit_ruleset_load_compiled(const void *bytes, size_t len,
                                                   const char *rules_json, size_t json_len,
                                                   char err[WG_AUDIT_ERR_MAX]);

/* FNV-1a 64 of the canonical form (sorted keys, compact) of a rule-set JSON document; 0 with
 * err when it is not JSON. Identifies a rule set; not a defence against a forger (none is
 * needed: the compiled file never crosses a trust boundary). */
uint64_t wg_audit_ruleset_hash_json(const char *json, size_t len, char err[WG_AUDIT_ERR_MAX]);

/* ---- Scanning ------------------------------------------------------------------------------- */

typedef struct wg_audit_msg {
    const char *text; /* UTF-8 (invalid sequences tolerated), len bytes; NULL when len == 0 */
    size_t len;
    const char *msgtype; /* "text", "redpacket", "link", ...; NULL reads as "text" */
    wg_audit_role_t from_role;
    const char *from;     /* sender's user id, or NULL */
    int room;             /* 1: a group chat, 0: one-to-one */
    const char *corp;     /* corp name, or NULL */
    int64_t amount_fen;   /* red packets: total amount in fen (PROTOCOL.md §4) */
    const char *event;    /* callback event name ("del_external_contact"), or NULL/"" */
    const char *link_url; /* link/docmsg/news messages' URL, or NULL */
} wg_audit_msg_t;

typedef struct wg_audit_part {
    const char *rule; /* borrowed from the rule set */
    size_t start, end;
} wg_audit_part_t;

typedef struct wg_audit_hit {
    const char *rule; /* id, borrowed from the rule set */
    wg_audit_kind_t kind;
    wg_audit_severity_t severity;
    int has_span;                 /* 0 for behaviour, event and combo hits */
    size_t start, end;            /* byte span in the original text (when has_span) */
    const char *text;             /* msg->text + start, end - start bytes (borrowed), or NULL */
    size_t excerpt_start;         /* a short excerpt of the original text around the span */
    size_t excerpt_end;           /* (UTF-8 boundaries where the text is valid) */
    const wg_audit_part_t *parts; /* combo: the spanned hits it was made of (borrowed) */
    size_t n_parts;
} wg_audit_hit_t;

typedef struct wg_audit_result {
    const wg_audit_hit_t *hits; /* ordered by start, then rule id; spanless hits last */
    size_t n_hits;
    int truncated; /* stopped at the scanner's hit ceiling */
} wg_audit_result_t;

/* One scanner per thread: Hyperscan scratch, normalization buffers, hit arrays. It follows the
 * rule set it is handed (reallocating scratch when the set changes) and holds a reference to
 * the last one until the next scan or its free, so a result stays valid until then. */
typedef struct wg_audit_scanner wg_audit_scanner_t;

/* max_hits: ceiling of hits per message (0: 10000). NULL when out of memory. */
wg_audit_scanner_t *wg_audit_scanner_new(size_t max_hits);
void wg_audit_scanner_free(wg_audit_scanner_t *s);

/* Scans one message with rs. The result (borrowed) is valid until the next call on s or its
 * free, and its text pointers point into msg->text. Returns 0, or -1 with err (out of memory,
 * Hyperscan failure). */
int wg_audit_scan(wg_audit_scanner_t *s, wg_audit_ruleset_t *rs, const wg_audit_msg_t *msg,
                  wg_audit_result_t *out, char err[WG_AUDIT_ERR_MAX]);

/* ---- The live rule set (hot reload) ----------------------------------------------------------
 * Holds the rule set in force. Any thread may scan through it while another swaps in a new set:
 * a scan runs wholly on the set it acquired (the old or the new, never a mix), readers never
 * wait, and the last reference frees the old set. */
typedef struct wg_audit_live wg_audit_live_t;

/* initial: stolen (may be NULL: no rules, no hits). NULL when out of memory. */
wg_audit_live_t *wg_audit_live_new(wg_audit_ruleset_t *initial);
/* No scan may be running on it. */
void wg_audit_live_free(wg_audit_live_t *l);
/* A new reference to the current set (NULL when none). */
wg_audit_ruleset_t *wg_audit_live_acquire(wg_audit_live_t *l);
/* Makes next (stolen, not NULL) current; drops the live holder's reference to the old set once
 * no reader can still be acquiring it. */
void wg_audit_live_swap(wg_audit_live_t *l, wg_audit_ruleset_t *next);
/* Compiles json and swaps it in; on error the current set stays and err names the cause.
 * Returns 0 or -1. */
int wg_audit_live_reload(wg_audit_live_t *l, const char *json, size_t len,
                         char err[WG_AUDIT_ERR_MAX]);
/* Acquire, scan, release: the result stays valid as for wg_audit_scan. */
int wg_audit_live_scan(wg_audit_live_t *l, wg_audit_scanner_t *s, const wg_audit_msg_t *msg,
                       wg_audit_result_t *out, char err[WG_AUDIT_ERR_MAX]);

/* ---- Unanswered customer messages ------------------------------------------------------------
 * A behaviour rule's "unanswered" policy: alert when a customer's message has had no employee
 * reply for `minutes` working minutes, counting only minutes inside the working window (days of
 * the ISO week, 1 = Monday .. 7 = Sunday, and hours) in the time zone tz (a fixed offset: see
 * wg_audit_tz_offset). Times are Unix milliseconds. */
typedef struct wg_audit_unanswered {
    int64_t minutes;
    uint8_t days;      /* bit d-1 set: ISO weekday d is a working day */
    int start_min;     /* window start, minutes after local midnight, 0..1439 */
    int end_min;       /* window end, start_min < end_min <= 1440 */
    int tz_offset_min; /* local = UTC + offset */
} wg_audit_unanswered_t;

/* Parses an "unanswered" object's fields: days "1-5" or "1,3,5-7"; hours "09:00-18:00"; tz an
 * IANA name from a small built-in table of fixed-offset zones (Asia/Shanghai, Asia/Hong_Kong,
 * Asia/Taipei, Asia/Macau, Asia/Singapore, Asia/Tokyo, Asia/Seoul, UTC, ...) or "+HH:MM" /
 * "-HH:MM". NULL fields take the defaults: every day, 00:00-24:00, Asia/Shanghai. Returns 0 or
 * -1 with err. */
int wg_audit_unanswered_parse(wg_audit_unanswered_t *u, int64_t minutes, const char *days,
                              const char *hours, const char *tz, char err[WG_AUDIT_ERR_MAX]);
/* The zone's offset in minutes east of UTC into *minutes; 0, or -1 for an unknown zone. */
int wg_audit_tz_offset(const char *tz, int *minutes);
/* The moment the policy is due for a customer message at last_customer_ms (when minutes working
 * minutes have passed since it). INT64_MAX when it can never be due. */
int64_t wg_audit_unanswered_due_at(const wg_audit_unanswered_t *u, int64_t last_customer_ms);
/* The decision: 1 when a customer message (last_customer_ms > 0) has no employee reply at or after
 * it (last_reply_ms < last_customer_ms) and now_ms has reached its due time; else 0. */
int wg_audit_unanswered_alert(const wg_audit_unanswered_t *u, int64_t last_customer_ms,
                              int64_t last_reply_ms, int64_t now_ms);
/* The policy of rule i (a behaviour rule with "unanswered"), or NULL. Borrowed. */
const wg_audit_unanswered_t *wg_audit_rule_unanswered(const wg_audit_ruleset_t *rs, size_t i);

#endif
