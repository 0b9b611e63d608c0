/* WeCom callback XML: the encrypted envelope and the decrypted inner event (PROTOCOL.md §1, §3),
 * parsed with libxml2 with no network, no entity substitution and no DTD; a document with a
 * DOCTYPE is rejected outright (WeCom never sends one). Whitespace between elements and CDATA or
 * plain values are both accepted. No logging; errors are a status plus a message.
 *
 * Rules shared by both parsers:
 * - Input: at most WG_WECOM_XML_MAX_BYTES of UTF-8 (no NUL byte; an encoding declaration is
 *   ignored), root <xml>, at most WG_WECOM_XML_MAX_DEPTH levels of elements (root = 1).
 *   Comments, processing instructions and an XML declaration are allowed and ignored.
 * - The fields are the root's direct children, matched by exact local name; unknown elements
 *   and attributes are ignored. A known element given twice is E_SYNTAX (WeCom never repeats
 *   one; first-or-last-wins would let two readers of one document disagree).
 * - A value is the concatenation of the element's direct text and CDATA children (comments and
 *   child elements are skipped), with surrounding XML whitespace (space, tab, CR, LF) trimmed:
 *   WeCom's own samples indent CDATA ("<InfoType> <![CDATA[suite_ticket]]>"). The one
 *   exception is the message text <Content>, kept verbatim. An empty element gives "" (present)
 *   where an absent one gives NULL.
 * - Numbers (CreateTime, TimeStamp, JoinScene, QuitScene, MemChangeCnt) are strict: an optional
 *   '-' and decimal digits that fit an int64_t. WeCom always sends digits; a malformed or empty
 *   number is not an error: its has_ flag stays 0 and the event still parses.
 * - err names the fault and its place (line and column, or the element); it never quotes text
 *   content (libxml2's excerpts are cut off), so it can be logged even for a decrypted event.
 * - Threads: both parsers are reentrant (per-call parser state and error handler; libxml2 is
 *   initialised once behind pthread_once). Nothing is printed to stderr. */
#ifndef WG_WECOM_CALLBACK_XML_H
#define WG_WECOM_CALLBACK_XML_H

#include <stddef.h>
#include <stdint.h>

typedef enum wg_wecom_xml_rc {
    WG_WECOM_XML_OK = 0,
    WG_WECOM_XML_E_SYNTAX,  /* not well-formed, truncated, or not UTF-8 */
    WG_WECOM_XML_E_DOCTYPE, /* a DOCTYPE (and so any entity declaration) is present */
    WG_WECOM_XML_E_ROOT,    /* root element is not <xml> */
    WG_WECOM_XML_E_MISSING, /* a required element is missing or empty (the message names it) */
    WG_WECOM_XML_E_LIMIT,   /* too large or nested too deep */
    WG_WECOM_XML_E_NOMEM,
} wg_wecom_xml_rc_t;

/* Ceilings: WeCom's events are a few hundred bytes; the server caps bodies before this. */
#define WG_WECOM_XML_MAX_BYTES (1024 * 1024)
#define WG_WECOM_XML_MAX_DEPTH 8

const char *wg_wecom_xml_rc_name(wg_wecom_xml_rc_t rc);

/* The outer envelope of a POST callback. Owns its strings. */
typedef struct wg_wecom_envelope {
    char *to_user_name; /* may be NULL */
    char *encrypt;      /* required, NUL-terminated */
    size_t encrypt_len;
    char *agent_id; /* may be NULL or "" */
} wg_wecom_envelope_t;

/* Parses <xml><ToUserName/><Encrypt/><AgentID/></xml>. *out is overwritten (it must not own
 * strings yet). On success *out owns its strings; on failure *out is zeroed and err names the
 * fault. Encrypt is required and non-empty (E_MISSING, err names "Encrypt"); the signature is
 * to be checked over env->encrypt as returned (trimmed). */
wg_wecom_xml_rc_t wg_wecom_envelope_parse(const char *xml, size_t len, wg_wecom_envelope_t *out,
                                          char *err, size_t errlen);
/* Frees what the envelope owns and zeroes it: safe on a zeroed envelope and when called twice. */
void wg_wecom_envelope_clear(wg_wecom_envelope_t *env);

/* Every event of PROTOCOL.md §3 (and §8's suite instructions, by InfoType). */
typedef enum wg_wecom_event_kind {
    WG_WECOM_EV_UNKNOWN = 0, /* an event or InfoType we do not know: type strings kept */
    WG_WECOM_EV_MESSAGE,     /* MsgType other than "event": a message sent to the app */
    WG_WECOM_EV_ADD_EXTERNAL_CONTACT,
    WG_WECOM_EV_ADD_HALF_EXTERNAL_CONTACT,
    WG_WECOM_EV_EDIT_EXTERNAL_CONTACT,
    WG_WECOM_EV_DEL_EXTERNAL_CONTACT, /* the employee deleted the customer */
    WG_WECOM_EV_DEL_FOLLOW_USER,      /* the customer deleted the employee */
    WG_WECOM_EV_TRANSFER_FAIL,
    WG_WECOM_EV_MSG_AUDIT_APPROVED,
    WG_WECOM_EV_EXTERNAL_CHAT,   /* change_external_chat: create, update, dismiss */
    WG_WECOM_EV_EXTERNAL_TAG,    /* change_external_tag */
    WG_WECOM_EV_CONTACT,         /* change_contact: staff and departments */
    WG_WECOM_EV_MSGAUDIT_NOTIFY, /* new chat-archive data */
    WG_WECOM_EV_SUITE,           /* a third-party suite instruction (InfoType) */
} wg_wecom_event_kind_t;

/* How the kind is chosen:
 * - MsgType non-empty and not "event": MESSAGE.
 * - MsgType "event": by Event. change_external_contact: by ChangeType (add_external_contact,
 *   add_half_external_contact, edit_external_contact, del_external_contact, del_follow_user,
 *   transfer_fail, msg_audit_approved; any other ChangeType: UNKNOWN). change_external_chat:
 *   EXTERNAL_CHAT, change_external_tag: EXTERNAL_TAG, change_contact: CONTACT, msgaudit_notify:
 *   MSGAUDIT_NOTIFY, whatever their ChangeType (read change_type). Any other Event: UNKNOWN.
 * - No MsgType, InfoType non-empty: a suite callback. InfoType change_external_contact,
 *   change_external_chat, change_external_tag and change_contact carry the same data events as
 *   a self-built app's Event of that name (PROTOCOL.md §8) and get the same kinds as above, with
 *   suite_id/auth_corp_id set and no to_user_name; every other InfoType (suite_ticket,
 *   create_auth, change_auth, cancel_auth, ...) is SUITE.
 * - Otherwise UNKNOWN. */

const char *wg_wecom_event_kind_name(wg_wecom_event_kind_t kind);

/* A decrypted inner event. Every string is NULL when its element is absent; all are owned by the
 * event and freed by wg_wecom_event_clear. Integers have a has_ flag. */
typedef struct wg_wecom_event {
    wg_wecom_event_kind_t kind;
    /* common */
    char *to_user_name;
    char *from_user_name;
    int64_t create_time;
    int has_create_time;
    char *msg_type;
    char *event;
    char *change_type;
    char *agent_id;
    /* messages to the app */
    char *msg_id;
    char *content;
    /* external contacts */
    char *user_id;
    char *external_user_id;
    char *state;
    char *welcome_code;
    char *source;      /* del_external_contact: DELETE_BY_TRANSFER */
    char *fail_reason; /* transfer_fail */
    /* customer groups */
    char *chat_id;
    char *update_detail;
    int64_t join_scene, quit_scene, mem_change_cnt;
    int has_join_scene, has_quit_scene, has_mem_change_cnt;
    char **mem_change_list; /* n_mem_change user ids from <MemChangeList><Item> (empty ones
                               skipped); NULL when there are none */
    size_t n_mem_change;
    char *last_mem_ver;
    char *cur_mem_ver;
    /* tags */
    char *tag_id; /* <Id>: the tag or tag group id; for change_contact *_party, the department id */
    char *tag_type;
    /* staff */
    char *department;
    /* suites (PROTOCOL.md §8) */
    char *info_type;
    char *suite_id;
    char *auth_corp_id;
    int64_t time_stamp; /* <TimeStamp> (suite callbacks carry it instead of CreateTime) */
    int has_time_stamp;
    char *suite_ticket; /* suite_ticket */
    char *auth_code;    /* create_auth: the temporary auth code */
} wg_wecom_event_t;

/* Parses the decrypted inner XML. Missing optional fields are NULL; an unknown event keeps
 * msg_type/event/change_type/info_type and kind UNKNOWN (not an error). No element is required
 * (so never E_MISSING). *out is overwritten; on failure it is zeroed and err names the fault. */
wg_wecom_xml_rc_t wg_wecom_event_parse(const char *xml, size_t len, wg_wecom_event_t *out,
                                       char *err, size_t errlen);
/* Frees what the event owns and zeroes it: safe on a zeroed event and when called twice. */
void wg_wecom_event_clear(wg_wecom_event_t *ev);

/* The corp the event is about (borrowed, may be NULL): AuthCorpId for a suite callback that
 * names one, else ToUserName. A suite's suite_ticket or create_auth names no corp (NULL). */
const char *wg_wecom_event_corp_id(const wg_wecom_event_t *ev);

#endif
