/* WeCom callback XML parsers: one SAX2 pass of libxml2 that fills the envelope or the typed event
 * straight from a table of element names (no DOM), stopping at the first DOCTYPE, depth, size or
 * duplicate fault. The rules are in callback_xml.h. */
#include "connectors/wecom/callback_xml.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/xmlerror.h>

/* No network, no entity substitution (no NOENT), no DTD loading or validation, no HUGE, nothing
 * printed; the document is UTF-8 whatever its declaration says (checked before parsing). */
#define WG_XML_OPTIONS                                                                             \
    (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_IGNORE_ENC)

enum field_kind {
    F_STR,  /* char *, trimmed */
    F_TEXT, /* char *, verbatim */
    F_INT,  /* int64_t with an int has_ flag */
    F_LIST, /* char ** of <Item> values with a size_t count */
};

struct field {
    const char *name;
    enum field_kind kind;
    size_t off;     /* of the char *, int64_t or char ** */
    size_t aux_off; /* F_INT: of the has_ flag; F_LIST: of the count */
};

#define ENV_STR(name, member)                                                                      \
    {                                                                                              \
        name, F_STR, offsetof(wg_wecom_envelope_t, member), 0                                      \
    }
static const struct field envelope_fields[] = {
    ENV_STR("ToUserName", to_user_name),
    ENV_STR("Encrypt", encrypt),
    ENV_STR("AgentID", agent_id),
};

#define EV_STR(name, member)                                                                       \
    {                                                                                              \
        name, F_STR, offsetof(wg_wecom_event_t, member), 0                                         \
    }
#define EV_INT(name, member)                                                                       \
    {                                                                                              \
        name, F_INT, offsetof(wg_wecom_event_t, member), offsetof(wg_wecom_event_t, has_##member)  \
    }
static const struct field event_fields[] = {
    EV_STR("ToUserName", to_user_name),
    EV_STR("FromUserName", from_user_name),
    EV_INT("CreateTime", create_time),
    EV_STR("MsgType", msg_type),
    EV_STR("Event", event),
    EV_STR("ChangeType", change_type),
    EV_STR("AgentID", agent_id),
    EV_STR("MsgId", msg_id),
    {"Content", F_TEXT, offsetof(wg_wecom_event_t, content), 0},
    EV_STR("UserID", user_id),
    EV_STR("ExternalUserID", external_user_id),
    EV_STR("State", state),
    EV_STR("WelcomeCode", welcome_code),
    EV_STR("Source", source),
    EV_STR("FailReason", fail_reason),
    EV_STR("ChatId", chat_id),
    EV_STR("UpdateDetail", update_detail),
    EV_INT("JoinScene", join_scene),
    EV_INT("QuitScene", quit_scene),
    EV_INT("MemChangeCnt", mem_change_cnt),
    {"MemChangeList", F_LIST, offsetof(wg_wecom_event_t, mem_change_list),
     offsetof(wg_wecom_event_t, n_mem_change)},
    EV_STR("LastMemVer", last_mem_ver),
    EV_STR("CurMemVer", cur_mem_ver),
    EV_STR("Id", tag_id),
    EV_STR("TagType", tag_type),
    EV_STR("Department", department),
    EV_STR("InfoType", info_type),
    EV_STR("SuiteId", suite_id),
    EV_STR("AuthCorpId", auth_corp_id),
    EV_INT("TimeStamp", time_stamp),
    EV_STR("SuiteTicket", suite_ticket),
    EV_STR("AuthCode", auth_code),
};

/* Duplicates are tracked in a 64-bit mask. */
_Static_assert(sizeof event_fields / sizeof event_fields[0] <= 64, "too many fields for the mask");

#define LIST_ITEM "Item"

/* The state of one parse, reached from every SAX callback. */
struct sax_state {
    xmlParserCtxtPtr ctxt;
    const char *doc; /* the caller's document, for error places */
    size_t doc_len;
    const struct field *fields;
    size_t nfields;
    void *target; /* the envelope or event being filled */
    uint64_t seen;
    int depth;               /* of the element being read; root = 1 */
    const struct field *cur; /* known depth-2 element being read, or NULL */
    bool in_item;            /* inside an <Item> of cur (a list) */
    size_t list_cap;         /* capacity of the list being filled */
    char *buf;               /* text of cur or of the item */
    size_t len, cap;
    bool saw_root;
    wg_wecom_xml_rc_t rc; /* the first fault found by a callback */
    char msg[192];        /* its message, or libxml2's first error */
};

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init(void)
{
    xmlInitParser();
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Records the first fault and stops the parser: nothing after it is read. */
static void fail(struct sax_state *st, wg_wecom_xml_rc_t rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(struct sax_state *st, wg_wecom_xml_rc_t rc, const char *fmt, ...)
{
    if (st->rc == WG_WECOM_XML_OK) {
        st->rc = rc;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(st->msg, sizeof st->msg, fmt, ap);
        va_end(ap);
    }
    xmlStopParser(st->ctxt);
}

static bool is_xml_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void trim(const char **s, size_t *n)
{
    while (*n > 0 && is_xml_space((unsigned char)(*s)[0])) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && is_xml_space((unsigned char)(*s)[*n - 1]))
        (*n)--;
}

static char *dup_mem(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* Strict: an optional '-', then at least one digit, and the value fits an int64_t. */
static bool parse_i64(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    bool neg = n > 0 && s[0] == '-';
    if (neg)
        i = 1;
    if (i == n)
        return false;
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (limit - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (!neg)
        *out = (int64_t)v;
    else if (v == (uint64_t)INT64_MAX + 1)
        *out = INT64_MIN;
    else
        *out = -(int64_t)v;
    return true;
}

/* libxml2's message with its place. Only the message's first line is kept: some messages go on
 * with an excerpt of the document ("CData section not finished\n<50 bytes>"), and a decrypted
 * event's text must not reach the logs. The padding (see parse) has no newline, so only a column
 * on the last line can point past the document: it is reported as the end of the document. */
static void describe(struct sax_state *st, const xmlError *e)
{
    const char *m = e->message ? e->message : "not well-formed";
    size_t n = strcspn(m, "\r\n");
    while (n > 0 && is_xml_space((unsigned char)m[n - 1]))
        n--;
    int lines = 1;
    size_t last = 0; /* start of the last line */
    for (size_t i = 0; i < st->doc_len; i++)
        if (st->doc[i] == '\n') {
            lines++;
            last = i + 1;
        }
    int col = e->int2;
    if (e->line == lines && col > (int)(st->doc_len - last) + 1)
        col = (int)(st->doc_len - last) + 1;
    snprintf(st->msg, sizeof st->msg, "line %d column %d: %.*s", e->line, col, (int)n, m);
}

static void on_error(void *user, xmlErrorPtr e)
{
    struct sax_state *st = user;
    if (e == NULL || e->level < XML_ERR_ERROR)
        return;
    if (e->code == XML_ERR_NO_MEMORY) {
        fail(st, WG_WECOM_XML_E_NOMEM, "out of memory in libxml2");
        return;
    }
    /* Keep the first fatal one (a well-formedness error): later ones follow from it, and a
     * namespace error (level ERROR) does not fail the document. */
    if (e->level == XML_ERR_FATAL && st->rc == WG_WECOM_XML_OK && st->msg[0] == '\0')
        describe(st, e);
}

/* A DOCTYPE is reported as soon as its name and external id are read, before any internal
 * subset: no entity is ever declared, let alone expanded or loaded. */
static void on_doctype(void *user, const xmlChar *name, const xmlChar *external_id,
                       const xmlChar *system_id)
{
    (void)name;
    (void)external_id;
    (void)system_id;
    fail(user, WG_WECOM_XML_E_DOCTYPE, "DOCTYPE not allowed");
}

static void on_text(void *user, const xmlChar *text, int n)
{
    struct sax_state *st = user;
    if (st->rc != WG_WECOM_XML_OK || st->cur == NULL || n <= 0)
        return;
    /* Only the direct text of a field, or of an <Item> of a list field. */
    if (st->in_item ? st->depth != 3 : (st->depth != 2 || st->cur->kind == F_LIST))
        return;
    size_t need = st->len + (size_t)n + 1;
    if (need > st->cap) {
        size_t cap = st->cap ? st->cap : 64;
        while (cap < need)
            cap *= 2;
        char *nb = realloc(st->buf, cap);
        if (nb == NULL) {
            fail(st, WG_WECOM_XML_E_NOMEM, "out of memory");
            return;
        }
        st->buf = nb;
        st->cap = cap;
    }
    memcpy(st->buf + st->len, text, (size_t)n);
    st->len += (size_t)n;
}

static void on_start(void *user, const xmlChar *localname, const xmlChar *prefix,
                     const xmlChar *uri, int nb_namespaces, const xmlChar **namespaces,
                     int nb_attributes, int nb_defaulted, const xmlChar **attributes)
{
    struct sax_state *st = user;
    const char *name = (const char *)localname;
    (void)prefix;
    (void)uri;
    (void)nb_namespaces;
    (void)namespaces;
    (void)nb_attributes;
    (void)nb_defaulted;
    (void)attributes;
    if (st->rc != WG_WECOM_XML_OK)
        return;
    if (++st->depth > WG_WECOM_XML_MAX_DEPTH) {
        fail(st, WG_WECOM_XML_E_LIMIT, "elements nested deeper than %d levels",
             WG_WECOM_XML_MAX_DEPTH);
        return;
    }
    if (st->depth == 1) {
        if (strcmp(name, "xml") != 0) {
            fail(st, WG_WECOM_XML_E_ROOT, "root element is <%.64s>, not <xml>", name);
            return;
        }
        st->saw_root = true;
        return;
    }
    if (st->depth == 2) {
        for (size_t i = 0; i < st->nfields; i++) {
            if (strcmp(name, st->fields[i].name) != 0)
                continue;
            if (st->seen & ((uint64_t)1 << i)) {
                fail(st, WG_WECOM_XML_E_SYNTAX, "duplicate <%s>", st->fields[i].name);
                return;
            }
            st->seen |= (uint64_t)1 << i;
            st->cur = &st->fields[i];
            st->len = 0;
            return;
        }
        return;
    }
    if (st->depth == 3 && st->cur != NULL && st->cur->kind == F_LIST &&
        strcmp(name, LIST_ITEM) == 0) {
        st->in_item = true;
        st->len = 0;
    }
}

static void end_item(struct sax_state *st)
{
    const char *s = st->buf;
    size_t n = st->len;
    trim(&s, &n);
    if (n == 0)
        return; /* an empty <Item> names nobody */
    char ***list = (char ***)((char *)st->target + st->cur->off);
    size_t *count = (size_t *)((char *)st->target + st->cur->aux_off);
    if (*count == st->list_cap) {
        size_t cap = st->list_cap ? st->list_cap * 2 : 8;
        char **nl = realloc(*list, cap * sizeof *nl);
        if (nl == NULL) {
            fail(st, WG_WECOM_XML_E_NOMEM, "out of memory");
            return;
        }
        *list = nl;
        st->list_cap = cap;
    }
    char *item = dup_mem(s, n);
    if (item == NULL) {
        fail(st, WG_WECOM_XML_E_NOMEM, "out of memory");
        return;
    }
    (*list)[(*count)++] = item;
}

static void end_field(struct sax_state *st)
{
    const struct field *f = st->cur;
    char *base = st->target;
    const char *s = st->buf ? st->buf : "";
    size_t n = st->len;
    if (f->kind != F_TEXT)
        trim(&s, &n);
    switch (f->kind) {
    case F_STR:
    case F_TEXT: {
        char *v = dup_mem(s, n);
        if (v == NULL) {
            fail(st, WG_WECOM_XML_E_NOMEM, "out of memory");
            return;
        }
        *(char **)(base + f->off) = v;
        break;
    }
    case F_INT: {
        int64_t v;
        if (parse_i64(s, n, &v)) {
            *(int64_t *)(base + f->off) = v;
            *(int *)(base + f->aux_off) = 1;
        }
        break;
    }
    case F_LIST:
        break; /* items were added as they ended */
    }
}

static void on_end(void *user, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri)
{
    struct sax_state *st = user;
    (void)localname;
    (void)prefix;
    (void)uri;
    if (st->rc != WG_WECOM_XML_OK)
        return;
    if (st->depth == 3 && st->in_item) {
        st->in_item = false;
        end_item(st);
    } else if (st->depth == 2 && st->cur != NULL) {
        end_field(st);
        st->cur = NULL;
    }
    st->depth--;
}

/* Before libxml2 sees a byte: size, NUL bytes, strict UTF-8 (no overlong forms, surrogates or
 * code points past U+10FFFF), and a first character of '<' after an optional UTF-8 BOM and
 * whitespace, which leaves libxml2 no UTF-16/UCS-4/EBCDIC guess to make. */
static wg_wecom_xml_rc_t prescan(const char *xml, size_t len, char *err, size_t errlen)
{
    if (xml == NULL || len == 0) {
        set_err(err, errlen, "empty document");
        return WG_WECOM_XML_E_SYNTAX;
    }
    if (len > WG_WECOM_XML_MAX_BYTES) {
        set_err(err, errlen, "document is %zu bytes, over the limit of %d", len,
                WG_WECOM_XML_MAX_BYTES);
        return WG_WECOM_XML_E_LIMIT;
    }
    const unsigned char *p = (const unsigned char *)xml;
    size_t i = 0;
    while (i < len) {
        unsigned c = p[i];
        if (c >= 0x01 && c < 0x80) {
            i++;
            continue;
        }
        if (c == 0) {
            set_err(err, errlen, "NUL byte at offset %zu", i);
            return WG_WECOM_XML_E_SYNTAX;
        }
        size_t n;
        unsigned lo = 0x80, hi = 0xBF; /* range of the second byte */
        if (c >= 0xC2 && c <= 0xDF) {
            n = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 3;
            if (c == 0xE0)
                lo = 0xA0; /* overlong */
            else if (c == 0xED)
                hi = 0x9F; /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 4;
            if (c == 0xF0)
                lo = 0x90; /* overlong */
            else if (c == 0xF4)
                hi = 0x8F; /* past U+10FFFF */
        } else {
            n = 0;
        }
        bool ok = n != 0 && len - i >= n && p[i + 1] >= lo && p[i + 1] <= hi;
        for (size_t k = 2; ok && k < n; k++)
            ok = p[i + k] >= 0x80 && p[i + k] <= 0xBF;
        if (!ok) {
            set_err(err, errlen, "invalid UTF-8 at offset %zu", i);
            return WG_WECOM_XML_E_SYNTAX;
        }
        i += n;
    }
    i = 0;
    if (len >= 3 && memcmp(xml, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    while (i < len && is_xml_space(p[i]))
        i++;
    if (i == len || p[i] != '<') {
        set_err(err, errlen, "document does not start with '<'");
        return WG_WECOM_XML_E_SYNTAX;
    }
    return WG_WECOM_XML_OK;
}

#define PAD 256 /* > INPUT_CHUNK of libxml2 2.9 */

static wg_wecom_xml_rc_t parse(const char *xml, size_t len, const struct field *fields,
                               size_t nfields, void *target, char *err, size_t errlen)
{
    wg_wecom_xml_rc_t rc = prescan(xml, len, err, errlen);
    if (rc != WG_WECOM_XML_OK)
        return rc;
    pthread_once(&xml_once, xml_init);

    struct sax_state st = {
        .doc = xml, .doc_len = len, .fields = fields, .nfields = nfields, .target = target};
    /* libxml2 2.9 tries to grow its input before nearly every token within INPUT_CHUNK (250)
     * bytes of the end, which on a small document costs a third of the parse. Trailing
     * whitespace after the root element is allowed and means nothing (XML 1.0 [1], Misc), and
     * no construct can be completed by it, so padding keeps every verdict and value and
     * spares those calls (an error at the very end reports a column inside the padding). */
    char *padded = malloc(len + PAD);
    if (padded == NULL) {
        set_err(err, errlen, "out of memory");
        return WG_WECOM_XML_E_NOMEM;
    }
    memcpy(padded, xml, len);
    memset(padded + len, ' ', PAD);
    /* The parser copies its input; len + PAD fits an int (len <= WG_WECOM_XML_MAX_BYTES). */
    xmlParserCtxtPtr ctxt = xmlCreateMemoryParserCtxt(padded, (int)(len + PAD));
    free(padded);
    if (ctxt == NULL) {
        set_err(err, errlen, "out of memory");
        return WG_WECOM_XML_E_NOMEM;
    }
    st.ctxt = ctxt;
    /* Our handlers replace the tree builder; the SAX block and the error handler belong to this
     * context alone, so parses on other threads are unaffected. */
    xmlSAXHandler *sax = ctxt->sax;
    memset(sax, 0, sizeof *sax);
    sax->initialized = XML_SAX2_MAGIC;
    sax->internalSubset = on_doctype;
    sax->externalSubset = on_doctype;
    sax->startElementNs = on_start;
    sax->endElementNs = on_end;
    sax->characters = on_text;
    sax->ignorableWhitespace = on_text;
    sax->cdataBlock = on_text;
    sax->serror = on_error;
    ctxt->userData = &st; /* the first argument of every handler above */
    xmlCtxtUseOptions(ctxt, WG_XML_OPTIONS);

    int prc = xmlParseDocument(ctxt);
    int well_formed = ctxt->wellFormed;
    if (st.rc == WG_WECOM_XML_OK && (prc != 0 || !well_formed)) {
        if (ctxt->errNo == XML_ERR_NO_MEMORY)
            st.rc = WG_WECOM_XML_E_NOMEM;
        else
            st.rc = WG_WECOM_XML_E_SYNTAX;
        if (st.msg[0] == '\0')
            describe(&st, &ctxt->lastError);
    }
    if (st.rc == WG_WECOM_XML_OK && !st.saw_root) {
        st.rc = WG_WECOM_XML_E_SYNTAX;
        snprintf(st.msg, sizeof st.msg, "no root element");
    }
    xmlFreeParserCtxt(ctxt);
    free(st.buf);
    if (st.rc != WG_WECOM_XML_OK)
        set_err(err, errlen, "%s", st.msg);
    return st.rc;
}

const char *wg_wecom_xml_rc_name(wg_wecom_xml_rc_t rc)
{
    switch (rc) {
    case WG_WECOM_XML_OK:
        return "ok";
    case WG_WECOM_XML_E_SYNTAX:
        return "syntax";
    case WG_WECOM_XML_E_DOCTYPE:
        return "doctype";
    case WG_WECOM_XML_E_ROOT:
        return "root";
    case WG_WECOM_XML_E_MISSING:
        return "missing";
    case WG_WECOM_XML_E_LIMIT:
        return "limit";
    case WG_WECOM_XML_E_NOMEM:
        return "nomem";
    }
    return "invalid";
}

void wg_wecom_envelope_clear(wg_wecom_envelope_t *env)
{
    if (env == NULL)
        return;
    free(env->to_user_name);
    free(env->encrypt);
    free(env->agent_id);
    memset(env, 0, sizeof *env);
}

wg_wecom_xml_rc_t wg_wecom_envelope_parse(const char *xml, size_t len, wg_wecom_envelope_t *out,
                                          char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    wg_wecom_xml_rc_t rc =
        parse(xml, len, envelope_fields, sizeof envelope_fields / sizeof envelope_fields[0], out,
              err, errlen);
    if (rc == WG_WECOM_XML_OK && (out->encrypt == NULL || out->encrypt[0] == '\0')) {
        set_err(err, errlen, "missing or empty <Encrypt>");
        rc = WG_WECOM_XML_E_MISSING;
    }
    if (rc != WG_WECOM_XML_OK) {
        wg_wecom_envelope_clear(out);
        return rc;
    }
    out->encrypt_len = strlen(out->encrypt);
    return WG_WECOM_XML_OK;
}

static const struct {
    const char *name;
    wg_wecom_event_kind_t kind;
} contact_changes[] = {
    {"add_external_contact", WG_WECOM_EV_ADD_EXTERNAL_CONTACT},
    {"add_half_external_contact", WG_WECOM_EV_ADD_HALF_EXTERNAL_CONTACT},
    {"edit_external_contact", WG_WECOM_EV_EDIT_EXTERNAL_CONTACT},
    {"del_external_contact", WG_WECOM_EV_DEL_EXTERNAL_CONTACT},
    {"del_follow_user", WG_WECOM_EV_DEL_FOLLOW_USER},
    {"transfer_fail", WG_WECOM_EV_TRANSFER_FAIL},
    {"msg_audit_approved", WG_WECOM_EV_MSG_AUDIT_APPROVED},
};

/* The data events named by Event (self-built apps) or InfoType (suites); see the header. */
static bool data_event_kind(const char *family, const char *change_type,
                            wg_wecom_event_kind_t *kind)
{
    if (strcmp(family, "change_external_contact") == 0) {
        *kind = WG_WECOM_EV_UNKNOWN;
        for (size_t i = 0;
             change_type != NULL && i < sizeof contact_changes / sizeof contact_changes[0]; i++) {
            if (strcmp(change_type, contact_changes[i].name) == 0)
                *kind = contact_changes[i].kind;
        }
    } else if (strcmp(family, "change_external_chat") == 0) {
        *kind = WG_WECOM_EV_EXTERNAL_CHAT;
    } else if (strcmp(family, "change_external_tag") == 0) {
        *kind = WG_WECOM_EV_EXTERNAL_TAG;
    } else if (strcmp(family, "change_contact") == 0) {
        *kind = WG_WECOM_EV_CONTACT;
    } else {
        return false;
    }
    return true;
}

static wg_wecom_event_kind_t classify(const wg_wecom_event_t *ev)
{
    wg_wecom_event_kind_t kind;
    if (ev->msg_type != NULL && ev->msg_type[0] != '\0') {
        if (strcmp(ev->msg_type, "event") != 0)
            return WG_WECOM_EV_MESSAGE;
        if (ev->event == NULL)
            return WG_WECOM_EV_UNKNOWN;
        if (data_event_kind(ev->event, ev->change_type, &kind))
            return kind;
        if (strcmp(ev->event, "msgaudit_notify") == 0)
            return WG_WECOM_EV_MSGAUDIT_NOTIFY;
        return WG_WECOM_EV_UNKNOWN;
    }
    if (ev->info_type != NULL && ev->info_type[0] != '\0') {
        if (data_event_kind(ev->info_type, ev->change_type, &kind))
            return kind;
        return WG_WECOM_EV_SUITE;
    }
    return WG_WECOM_EV_UNKNOWN;
}

const char *wg_wecom_event_kind_name(wg_wecom_event_kind_t kind)
{
    switch (kind) {
    case WG_WECOM_EV_UNKNOWN:
        return "unknown";
    case WG_WECOM_EV_MESSAGE:
        return "message";
    case WG_WECOM_EV_ADD_EXTERNAL_CONTACT:
        return "add_external_contact";
    case WG_WECOM_EV_ADD_HALF_EXTERNAL_CONTACT:
        return "add_half_external_contact";
    case WG_WECOM_EV_EDIT_EXTERNAL_CONTACT:
        return "edit_external_contact";
    case WG_WECOM_EV_DEL_EXTERNAL_CONTACT:
        return "del_external_contact";
    case WG_WECOM_EV_DEL_FOLLOW_USER:
        return "del_follow_user";
    case WG_WECOM_EV_TRANSFER_FAIL:
        return "transfer_fail";
    case WG_WECOM_EV_MSG_AUDIT_APPROVED:
        return "msg_audit_approved";
    case WG_WECOM_EV_EXTERNAL_CHAT:
        return "external_chat";
    case WG_WECOM_EV_EXTERNAL_TAG:
        return "external_tag";
    case WG_WECOM_EV_CONTACT:
        return "contact";
    case WG_WECOM_EV_MSGAUDIT_NOTIFY:
        return "msgaudit_notify";
    case WG_WECOM_EV_SUITE:
        return "suite";
    }
    return "invalid";
}

void wg_wecom_event_clear(wg_wecom_event_t *ev)
{
    if (ev == NULL)
        return;
    char *base = (char *)ev;
    for (size_t i = 0; i < sizeof event_fields / sizeof event_fields[0]; i++) {
        const struct field *f = &event_fields[i];
        if (f->kind == F_STR || f->kind == F_TEXT) {
            free(*(char **)(base + f->off));
        } else if (f->kind == F_LIST) {
            char **list = *(char ***)(base + f->off);
            size_t n = *(size_t *)(base + f->aux_off);
            for (size_t k = 0; list != NULL && k < n; k++)
                free(list[k]);
            free(list);
        }
    }
    memset(ev, 0, sizeof *ev);
}

wg_wecom_xml_rc_t wg_wecom_event_parse(const char *xml, size_t len, wg_wecom_event_t *out,
                                       char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    wg_wecom_xml_rc_t rc = parse(xml, len, event_fields,
                                 sizeof event_fields / sizeof event_fields[0], out, err, errlen);
    if (rc != WG_WECOM_XML_OK) {
        wg_wecom_event_clear(out);
        return rc;
    }
    out->kind = classify(out);
    return WG_WECOM_XML_OK;
}

const char *wg_wecom_event_corp_id(const wg_wecom_event_t *ev)
{
    if (ev->auth_corp_id != NULL && ev->auth_corp_id[0] != '\0')
        return ev->auth_corp_id;
    return ev->to_user_name;
}
