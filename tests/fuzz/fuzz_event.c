/* libFuzzer target: the decrypted inner event parser (connectors/wecom/callback_xml.c). Besides
 * the sanitizers, it checks the contract: a success has a named kind consistent with MsgType and
 * a well-formed member list; a failure leaves the event zeroed with a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/wecom/callback_xml.h"

static int all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0)
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wg_wecom_event_t ev;
    char err[256];
    wg_wecom_xml_rc_t rc = wg_wecom_event_parse((const char *)data, size, &ev, err, sizeof err);
    if (memchr(err, '\0', sizeof err) == NULL)
        abort();
    if (rc == WG_WECOM_XML_OK) {
        if (err[0] != '\0' || strcmp(wg_wecom_event_kind_name(ev.kind), "invalid") == 0)
            abort();
        int is_message =
            ev.msg_type != NULL && ev.msg_type[0] != '\0' && strcmp(ev.msg_type, "event") != 0;
        if (is_message != (ev.kind == WG_WECOM_EV_MESSAGE))
            abort();
        if (ev.kind == WG_WECOM_EV_SUITE && (ev.info_type == NULL || is_message))
            abort();
        if ((ev.n_mem_change == 0) != (ev.mem_change_list == NULL))
            abort();
        for (size_t i = 0; i < ev.n_mem_change; i++)
            if (ev.mem_change_list[i] == NULL || ev.mem_change_list[i][0] == '\0')
                abort();
        const char *corp = wg_wecom_event_corp_id(&ev);
        if (corp != NULL && corp != ev.auth_corp_id && corp != ev.to_user_name)
            abort();
    } else if (!all_zero(&ev, sizeof ev) || err[0] == '\0' ||
               strcmp(wg_wecom_xml_rc_name(rc), "invalid") == 0) {
        abort();
    }
    wg_wecom_event_clear(&ev);
    wg_wecom_event_clear(&ev);
    return 0;
}
