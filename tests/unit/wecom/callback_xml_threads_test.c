/* The callback XML parsers from several threads at once: every thread parses a mix of valid and
 * hostile documents and must get the same answers as alone (run under TSan by the "threads"
 * label, and under ASan in the normal suite). */
#include "connectors/wecom/callback_xml.h"

#include <pthread.h>
#include <string.h>

#include "testlib.h"

#define THREADS 4
#define ROUNDS 400

static const char UPDATE[] =
    "<xml><ToUserName><![CDATA[ww1]]></ToUserName><FromUserName>sys</FromUserName>"
    "<CreateTime>1714200300</CreateTime><MsgType>event</MsgType>"
    "<Event>change_external_chat</Event><ChatId>wr1</ChatId><ChangeType>update</ChangeType>"
    "<MemChangeCnt>2</MemChangeCnt><MemChangeList><Item>a</Item><Item>b</Item></MemChangeList>"
    "</xml>";
static const char LAUGHS[] = "<!DOCTYPE xml [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;"
                             "&a;&a;&a;&a;\">]><xml><Encrypt>&b;</Encrypt></xml>";
static const char BROKEN[] = "<xml><Encrypt>abc</Encrypt><AgentID>1</Agent";
static const char ENVELOPE[] = "<xml><ToUserName>ww1</ToUserName>\n<Encrypt><![CDATA[QUJD]]>"
                               "</Encrypt>\n<AgentID></AgentID></xml>";

struct worker {
    pthread_t tid;
    int failures;
    int rounds;
};

static void *run(void *arg)
{
    struct worker *w = arg;
    char err[128];
    for (int i = 0; i < ROUNDS; i++) {
        wg_wecom_event_t ev;
        wg_wecom_envelope_t env;
        if (wg_wecom_event_parse(UPDATE, strlen(UPDATE), &ev, err, sizeof err) != WG_WECOM_XML_OK ||
            ev.kind != WG_WECOM_EV_EXTERNAL_CHAT || ev.n_mem_change != 2 ||
            strcmp(ev.mem_change_list[1], "b") != 0 || ev.create_time != 1714200300)
            w->failures++;
        wg_wecom_event_clear(&ev);
        if (wg_wecom_event_parse(LAUGHS, strlen(LAUGHS), &ev, err, sizeof err) !=
                WG_WECOM_XML_E_DOCTYPE ||
            strstr(err, "DOCTYPE") == NULL)
            w->failures++;
        if (wg_wecom_envelope_parse(BROKEN, strlen(BROKEN), &env, err, sizeof err) !=
                WG_WECOM_XML_E_SYNTAX ||
            strstr(err, "line 1") == NULL) /* the message is this parse's own */
            w->failures++;
        if (wg_wecom_envelope_parse(ENVELOPE, strlen(ENVELOPE), &env, err, sizeof err) !=
                WG_WECOM_XML_OK ||
            strcmp(env.encrypt, "QUJD") != 0 || strcmp(env.agent_id, "") != 0)
            w->failures++;
        wg_wecom_envelope_clear(&env);
        w->rounds++;
    }
    return NULL;
}

static void test_parallel(void)
{
    struct worker w[THREADS];
    memset(w, 0, sizeof w);
    int started = 0;
    /* no parse before the threads: the first ones race to initialise libxml2 */
    for (int i = 0; i < THREADS; i++)
        if (pthread_create(&w[i].tid, NULL, run, &w[i]) == 0)
            started++;
    CHECK_INT(started, THREADS);
    for (int i = 0; i < started; i++) {
        pthread_join(w[i].tid, NULL);
        CHECK_INT(w[i].failures, 0);
        CHECK_INT(w[i].rounds, ROUNDS);
    }
}

int main(void)
{
    TEST_RUN(test_parallel);
    return TEST_DONE();
}
