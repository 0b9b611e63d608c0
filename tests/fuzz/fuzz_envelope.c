/* libFuzzer target: the callback envelope parser (connectors/wecom/callback_xml.c). Besides the
 * sanitizers, it checks the contract: a success has a non-empty, NUL-free Encrypt of the stated
 * length; a failure leaves the envelope zeroed with a message; clear is idempotent. */
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
    wg_wecom_envelope_t env;
    char err[256];
    wg_wecom_xml_rc_t rc = wg_wecom_envelope_parse((const char *)data, size, &env, err, sizeof err);
    if (memchr(err, '\0', sizeof err) == NULL)
        abort();
    if (rc == WG_WECOM_XML_OK) {
        if (env.encrypt == NULL || env.encrypt_len == 0 || strlen(env.encrypt) != env.encrypt_len ||
            err[0] != '\0')
            abort();
        if (env.to_user_name != NULL)
            (void)strlen(env.to_user_name);
        if (env.agent_id != NULL)
            (void)strlen(env.agent_id);
    } else if (!all_zero(&env, sizeof env) || err[0] == '\0' ||
               strcmp(wg_wecom_xml_rc_name(rc), "invalid") == 0) {
        abort();
    }
    wg_wecom_envelope_clear(&env);
    wg_wecom_envelope_clear(&env);
    return 0;
}
