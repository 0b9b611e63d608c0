/* The audit engine, kind by kind and option by option: words (Chinese, case, full-width,
 * traditional, zero-width, ignore sets, emoji, invalid UTF-8, overlaps, edges), regexes (digit
 * folding, leftmost non-overlapping, checks, prefilter patterns, errors), scopes, exemptions,
 * corps, behaviours, combos, the unanswered decision, validation errors, serialized sets. */
#include <stdint.h>

#include "audit_util.h"

/* Rules written with ' for " (JSON in C strings stays readable). */
static char *doc(const char *body)
{
    static char buf[16384];
    snprintf(buf, sizeof buf, "{\"version\":1,\"rules\":[%s]}", body);
    for (char *p = buf; *p; p++)
        if (*p == '\'')
            *p = '"';
    return buf;
}

static wg_audit_ruleset_t *rules(const char *body)
{
    return compile_ok(doc(body));
}

static const char *rules_err(const char *body)
{
    return compile_err(doc(body));
}

static wg_audit_scanner_t *sc;

static void test_words_chinese(void)
{
    wg_audit_ruleset_t *rs = rules("{'id':'w','kind':'word','severity':'warning',"
                                   "'words':['微信','加我']}");
    if (!rs)
        return;
    CHECK_STR(scan_text(sc, rs, "请加我微信"), "w@3-9,w@9-15");
    CHECK_STR(scan_text(sc, rs, "微信"), "w@0-6");
    CHECK_STR(scan_text(sc, rs, "微信abc微信"), "w@0-6,w@9-15"); /* very start and end */
    CHECK_STR(scan_text(sc, rs, "微"), "");
    CHECK_STR(scan_text(sc, rs, "徽信"), "");                     /* a near miss */
    CHECK_STR(scan_text(sc, rs, "😀微信😀abc"), "w@4-10");          /* emoji around */
    CHECK_STR(scan_text(sc, rs, "Привет 微信 hello"), "w@13-19"); /* mixed scripts */

    wg_audit_result_t res;
    char err[WG_AUDIT_ERR_MAX];
    wg_audit_msg_t m = text_msg("请加我微信吧");
    CHECK_INT(wg_audit_scan(sc, rs, &m, &res, err), 0);
    CHECK_INT(res.n_hits, 2);
    if (res.n_hits == 2) {
        const wg_audit_hit_t *h = &res.hits[1];
        CHECK_STR(h->rule, "w");
        CHECK_INT(h->kind, WG_AUDIT_WORD);
        CHECK_INT(h->severity, WG_AUDIT_WARNING);
        CHECK_MEM(h->text, h->end - h->start, "微信", 6);
        CHECK_MEM(m.text + h->excerpt_start, h->excerpt_end - h->excerpt_start, "请加我微信吧",
                  strlen("请加我微信吧"));
    }
    wg_audit_ruleset_unref(rs);
}

static void test_words_folds(void)
{
    wg_audit_ruleset_t *rs = rules("{'id':'hb','kind':'word','severity':'info','words':['红包',"
                                   "'转账','WeChat']}");
    if (!rs)
        return;
    CHECK_STR(scan_text(sc, rs, "发个紅包"), "hb@6-12"); /* traditional */
    CHECK_STR(scan_text(sc, rs, "先轉賬"), "hb@3-9");
    CHECK_STR(scan_text(sc, rs, "wechat WECHAT"), "hb@0-6,hb@7-13"); /* Latin case */
    CHECK_STR(scan_text(sc, rs, "ＷｅＣｈａｔ"), "hb@0-18");         /* full-width */
    CHECK_STR(scan_text(sc, rs, "红\u200b包"), "hb@0-9");            /* zero-width inside */
    CHECK_STR(scan_text(sc, rs, "红\ufeff\u2060包"), "hb@0-12");
    CHECK_STR(scan_text(sc, rs, "红 包"), ""); /* a space is not ignored by default */
    wg_audit_ruleset_unref(rs);
}

static void test_words_ignore(void)
{
    wg_audit_ruleset_t *rs =
        rules("{'id':'wx','kind':'word','severity':'warning','words':['微信'],"
              "'ignore':' -.*_/'},"
              "{'id':'plain','kind':'word','severity':'info','words':['微信']}");
    if (!rs)
        return;
    CHECK_STR(scan_text(sc, rs, "微 信"), "wx@0-7");
    CHECK_STR(scan_text(sc, rs, "微-信"), "wx@0-7");
    CHECK_STR(scan_text(sc, rs, "微.信"), "wx@0-7");
    CHECK_STR(scan_text(sc, rs, "微*_*信"), "wx@0-9");
    CHECK_STR(scan_text(sc, rs, "微　信"), "wx@0-9"); /* U+3000 folds to ' ' */
    CHECK_STR(scan_text(sc, rs, "加微信"), "plain@3-9,wx@3-9");
    CHECK_STR(scan_text(sc, rs, "微,信"), "");
    wg_audit_stats_t st;
    wg_audit_ruleset_stats(rs, &st);
    CHECK_INT(st.views, 2);
    CHECK_INT(st.literals, 2);
    wg_audit_ruleset_unref(rs);

    CHECK(strstr(rules_err("{'id':'z','kind':'word','severity':'info','words':['a','--'],"
                           "'ignore':'-'}"),
                 "rule \"z\": word \"--\" is empty") != NULL);
}

static void test_words_invalid_utf8(void)
{
    wg_audit_ruleset_t *rs = rules("{'id':'w','kind':'word','severity':'info','words':['微信']}");
    if (!rs)
        return;
    CHECK_STR(scan_text(sc, rs, "\xff微信\xfe"), "w@1-7");
    CHECK_STR(scan_text(sc, rs, "微\xff信"), "");     /* never across broken bytes */
    CHECK_STR(scan_text(sc, rs, "微\xe4\xbf信"), ""); /* a truncated sequence */
    CHECK_STR(scan_text(sc, rs, "\xe5\xbe"), "");
    wg_audit_ruleset_unref(rs);
}

static void test_empty_text(void)
{
    wg_audit_ruleset_t *rs = rules("{'id':'w','kind':'word','severity':'info','words':['a']},"
                                   "{'id':'r','kind':'regex','severity':'info','pattern':'b+'}");
    if (!rs)
        return;
    CHECK_STR(scan_text(sc, rs, ""), "");
    wg_audit_msg_t m = text_msg(NULL);
    CHECK_STR(scan_msg(sc, rs, &m), "");
    CHECK_STR(scan_text(sc, NULL, "abc"), ""); /* no rule set: no hits */
    wg_audit_ruleset_unref(rs);
}

static void test_overlaps(void)
{
    wg_audit_ruleset_t *rs =
        rules("{'id':'a','kind':'word','severity':'info','words':['abc','bcd','abcd','ABC','abc']},"
              "{'id':'b','kind':'word','severity':'info','words':['bc']}");
    if (!rs)
        return;
    /* one hit per occurrence of each word; the same word listed twice (or in another case)
     * is one hit */
    CHECK_STR(scan_text(sc, rs, "abcd"), "a@0-3,a@0-4,a@1-4,b@1-3");
    CHECK_STR(scan_text(sc, rs, "xbcbc"), "b@1-3,b@3-5");
    wg_audit_ruleset_unref(rs);

    rs = rules("{'id':'aa','kind':'word','severity':'info','words':['aa']}");
    if (rs) {
        CHECK_STR(scan_text(sc, rs, "aaaa"), "aa@0-2,aa@1-3,aa@2-4");
        wg_audit_ruleset_unref(rs);
    }
}

static void test_regex(void)
{
    wg_audit_ruleset_t *rs =
        rules("{'id':'phone','kind':'regex','severity':'warning','fold_digits':true,'ignore':' -',"
              "'pattern':'(?<![0-9])1[3-9][0-9]{9}(?![0-9])'},"
              "{'id':'three','kind':'regex','severity':'info','pattern':'[0-9]{3}'}");
    if (!rs)
        return;
    CHECK_STR(scan_text(sc, rs, "电话13812345678"), "phone@6-17,three@6-9,three@9-12,three@12-15");
    CHECK_STR(scan_text(sc, rs, "一三八 一二三四 五六七八"), "phone@0-35");
    CHECK_STR(scan_text(sc, rs, "①③⑧-1234-5678"), "phone@0-19,three@10-13,three@15-18");
    CHECK_STR(scan_text(sc, rs, "壹叁捌壹贰叁肆伍陆柒捌"), "phone@0-33");
    CHECK_STR(scan_text(sc, rs, "１３８１２３４５６７８"), "phone@0-33,three@0-9,three@9-18,"
                                                           "three@18-27");
    CHECK_STR(scan_text(sc, rs, "238123456789"), "three@0-3,three@3-6,three@6-9,three@9-12");
    CHECK_STR(scan_text(sc, rs, "1381234567"), "three@0-3,three@3-6,three@6-9"); /* 10 digits */
    wg_audit_stats_t st;
    wg_audit_ruleset_stats(rs, &st);
    CHECK_INT(st.by_kind[WG_AUDIT_REGEX], 2);
    CHECK_INT(st.prefiltered, 1); /* lookarounds */
    wg_audit_ruleset_unref(rs);

    /* Case: regexes decide for themselves. */
    rs = rules("{'id':'qq','kind':'regex','severity':'info','pattern':'(?i)qq[:：]?[0-9]{5,11}'}");
    if (rs) {
        CHECK_STR(scan_text(sc, rs, "加QQ:123456 qq12345"), "qq@3-12,qq@13-20");
        wg_audit_ruleset_unref(rs);
    }
}

static void test_regex_prefilter_exact(void)
{
    /* Hyperscan rejects back-references and lookbehinds; prefilter mode plus PCRE2 still give
     * exact spans. */
    wg_audit_ruleset_t *rs =
        rules("{'id':'rep','kind':'regex','severity':'info','pattern':'([0-9])\\\\1{3}'},"
              "{'id':'lb','kind':'regex','severity':'info','pattern':'(?<=加)微信'},"
              "{'id':'atomic','kind':'regex','severity':'info','pattern':'(?>x+)xy|(?>z+)y'}");
    if (!rs)
        return;
    CHECK_STR(scan_text(sc, rs, "号码8888结尾"), "rep@6-10");
    CHECK_STR(scan_text(sc, rs, "号码8878结尾"), "");
    CHECK_STR(scan_text(sc, rs, "11112222"), "rep@0-4,rep@4-8");
    CHECK_STR(scan_text(sc, rs, "加微信 微信"), "lb@3-9");
    /* (?>x+) keeps every x, so "xxxy" never matches; Hyperscan's approximation says it may */
    CHECK_STR(scan_text(sc, rs, "xxxy zzy"), "atomic@5-8");
    wg_audit_stats_t st;
    wg_audit_ruleset_stats(rs, &st);
    CHECK_INT(st.prefiltered, 3);
    wg_audit_ruleset_unref(rs);
}

static void test_regex_errors(void)
{
    const char *e = rules_err("{'id':'bad','kind':'regex','severity':'info','pattern':'a('}");
    CHECK(strstr(e, "rule \"bad\": invalid pattern at offset 2") != NULL);
    e = rules_err("{'id':'empty','kind':'regex','severity':'info','pattern':'a*'}");
    CHECK(strstr(e, "rule \"empty\": pattern can match the empty string") != NULL);
    e = rules_err("{'id':'k','kind':'regex','severity':'info','pattern':'a\\\\Kb'}");
    CHECK(strstr(e, "rule \"k\": Hyperscan cannot run this pattern") != NULL);
    e = rules_err("{'id':'co','kind':'regex','severity':'info','pattern':'a(?C1)b'}");
    CHECK(strstr(e, "rule \"co\": callouts") != NULL);
    e = rules_err("{'id':'ch','kind':'regex','severity':'info','pattern':'1','check':'crc'}");
    CHECK(strstr(e, "rule \"ch\": \"check\"") != NULL);
}

static void test_checks(void)
{
    wg_audit_ruleset_t *rs =
        rules("{'id':'card','kind':'regex','severity':'critical','fold_digits':true,'ignore':' -',"
              "'check':'luhn','pattern':'(?<![0-9])[0-9]{16,19}(?![0-9])'},"
              "{'id':'cnid','kind':'regex','severity':'critical','check':'cn_id',"
              "'pattern':'(?<![0-9])[0-9]{17}[0-9Xx](?![0-9])'}");
    if (!rs)
        return;
    CHECK_STR(scan_text(sc, rs, "卡号4111111111111111"), "card@6-22");
    CHECK_STR(scan_text(sc, rs, "卡号4111111111111112"), "");
    CHECK_STR(scan_text(sc, rs, "卡号 6222 0212 3456 7890 127 谢谢"), "");
    CHECK_STR(scan_text(sc, rs, "4111 1111 1111 1111"), "card@0-19");
    CHECK_STR(scan_text(sc, rs, "身份证11010519491231002X"), "cnid@9-27");
    CHECK_STR(scan_text(sc, rs, "身份证11010519491231002x"), "cnid@9-27");
    CHECK_STR(scan_text(sc, rs, "身份证110105194912310021"), "");
    CHECK_STR(scan_text(sc, rs, "身份证110105194913310021"), ""); /* month 13 */
    CHECK_STR(scan_text(sc, rs, "身份证440304199002301232"), ""); /* 30 February */
    wg_audit_ruleset_unref(rs);

    /* The check makes PCRE2 backtrack to a shorter passing match at the same start. */
    rs = rules("{'id':'c2','kind':'regex','severity':'info','check':'luhn',"
               "'pattern':'[0-9]{16,17}'}");
    if (rs) {
        CHECK_STR(scan_text(sc, rs, "41111111111111110"), "c2@0-16");
        wg_audit_ruleset_unref(rs);
    }
}

static void test_scopes(void)
{
    wg_audit_ruleset_t *rs = rules(
        "{'id':'emp','kind':'word','severity':'info','words':['x'],"
        "'scope':{'speaker':'employee'}},"
        "{'id':'cus','kind':'word','severity':'info','words':['x'],"
        "'scope':{'speaker':'customer','chat':'any'}},"
        "{'id':'grp','kind':'word','severity':'info','words':['x'],'scope':{'chat':'group'}},"
        "{'id':'one','kind':'word','severity':'info','words':['x'],'scope':{'chat':'single'}},"
        "{'id':'corp','kind':'word','severity':'info','words':['x'],'corps':['acme']},"
        "{'id':'ex','kind':'word','severity':'info','words':['x'],'exempt':['boss']},"
        "{'id':'off','kind':'word','severity':'info','words':['x'],'enabled':false}");
    if (!rs)
        return;
    wg_audit_msg_t m = text_msg("x");
    CHECK_STR(scan_msg(sc, rs, &m), "emp@0-1,ex@0-1,one@0-1");
    m.from_role = WG_AUDIT_ROLE_CUSTOMER;
    m.room = 1;
    CHECK_STR(scan_msg(sc, rs, &m), "cus@0-1,ex@0-1,grp@0-1");
    m.from_role = WG_AUDIT_ROLE_UNKNOWN;
    m.corp = "acme";
    m.from = "boss";
    CHECK_STR(scan_msg(sc, rs, &m), "corp@0-1,grp@0-1");
    m.corp = NULL;
    m.from = NULL;
    m.room = 0;
    CHECK_STR(scan_msg(sc, rs, &m), "ex@0-1,one@0-1");
    wg_audit_stats_t st;
    wg_audit_ruleset_stats(rs, &st);
    CHECK_INT(st.rules, 7);
    CHECK_INT(st.enabled, 6);
    wg_audit_ruleset_unref(rs);
}

static void test_behaviours(void)
{
    wg_audit_ruleset_t *rs = rules(
        "{'id':'rp','kind':'behaviour','severity':'warning',"
        "'msgtypes':['redpacket','external_redpacket'],'min_amount_fen':20000},"
        "{'id':'card','kind':'behaviour','severity':'info','msgtypes':['card']},"
        "{'id':'del','kind':'behaviour','severity':'critical',"
        "'events':['del_external_contact','del_follow_user']},"
        "{'id':'links','kind':'behaviour','severity':'warning','link_allow':['example.com']},"
        "{'id':'fin','kind':'behaviour','severity':'info','from':['cfo','cashier']},"
        "{'id':'slow','kind':'behaviour','severity':'warning',"
        "'unanswered':{'minutes':30,'days':'1-5','hours':'09:00-18:00','tz':'Asia/Shanghai'}}");
    if (!rs)
        return;
    wg_audit_msg_t m = text_msg("");
    m.msgtype = "redpacket";
    m.amount_fen = 30000;
    CHECK_STR(scan_msg(sc, rs, &m), "rp");
    m.amount_fen = 20000;
    CHECK_STR(scan_msg(sc, rs, &m), "rp");
    m.amount_fen = 19999;
    CHECK_STR(scan_msg(sc, rs, &m), "");
    m.msgtype = "external_redpacket";
    m.amount_fen = 88800;
    CHECK_STR(scan_msg(sc, rs, &m), "rp");
    m.msgtype = "text";
    CHECK_STR(scan_msg(sc, rs, &m), ""); /* an amount on a text message: no msgtype match */
    m.msgtype = "card";
    m.amount_fen = 0;
    CHECK_STR(scan_msg(sc, rs, &m), "card");
    m.msgtype = NULL;
    m.event = "del_follow_user";
    CHECK_STR(scan_msg(sc, rs, &m), "del");
    m.event = "add_external_contact";
    CHECK_STR(scan_msg(sc, rs, &m), "");
    m.event = NULL;
    m.msgtype = "link";
    m.link_url = "https://evil.example.net/pay";
    CHECK_STR(scan_msg(sc, rs, &m), "links");
    m.link_url = "https://shop.example.com/item?id=1";
    CHECK_STR(scan_msg(sc, rs, &m), "");
    m.link_url = "HTTPS://EXAMPLE.COM:8443/";
    CHECK_STR(scan_msg(sc, rs, &m), "");
    m.link_url = "https://example.com.evil.cn/";
    CHECK_STR(scan_msg(sc, rs, &m), "links");
    m.link_url = "https://user@badexample.com/";
    CHECK_STR(scan_msg(sc, rs, &m), "links");
    m = text_msg("看 http://pay.evil.cn/x?a=1，还有 https://www.example.com/ok");
    CHECK_STR(scan_msg(sc, rs, &m), "links@4-28");
    m.from = "cfo";
    CHECK_STR(scan_msg(sc, rs, &m), "links@4-28,fin");
    wg_audit_stats_t st;
    wg_audit_ruleset_stats(rs, &st);
    CHECK_INT(st.unanswered, 1);
    int slow = wg_audit_ruleset_find(rs, "slow");
    CHECK(slow >= 0 && wg_audit_rule_unanswered(rs, (size_t)slow) != NULL);
    CHECK(wg_audit_ruleset_find(rs, "nope") < 0);
    wg_audit_ruleset_unref(rs);

    CHECK(strstr(rules_err("{'id':'b','kind':'behaviour','severity':'info'}"),
                 "rule \"b\": a behaviour rule needs") != NULL);
    CHECK(strstr(rules_err("{'id':'b','kind':'behaviour','severity':'info',"
                           "'min_amount_fen':-1}"),
                 "rule \"b\": \"min_amount_fen\"") != NULL);
    CHECK(strstr(rules_err("{'id':'u','kind':'behaviour','severity':'info',"
                           "'unanswered':{'minutes':30,'tz':'Europe/Paris'}}"),
                 "rule \"u\": \"unanswered\": tz \"Europe/Paris\": unknown") != NULL);
}

static void test_combos(void)
{
    wg_audit_ruleset_t *rs =
        rules("{'id':'card_no','kind':'regex','severity':'warning','check':'luhn',"
              "'pattern':'[0-9]{16}'},"
              "{'id':'finance_team','kind':'behaviour','severity':'info','from':['cfo'],"
              "'silent':true},"
              "{'id':'money','kind':'word','severity':'info','words':['转账','汇款']},"
              "{'id':'leak','kind':'combo','severity':'critical','all_of':['card_no'],"
              "'none_of':['finance_team']},"
              "{'id':'pay','kind':'combo','severity':'critical','all_of':['card_no'],"
              "'any_of':['money']},"
              "{'id':'meta','kind':'combo','severity':'critical','all_of':['pay','leak']}");
    if (!rs)
        return;
    wg_audit_msg_t m = text_msg("转账到4111111111111111");
    CHECK_STR(scan_msg(sc, rs, &m),
              "meta[money@0-6+card_no@9-25],money@0-6,pay[money@0-6+card_no@9-25],"
              "card_no@9-25,leak[card_no@9-25]");
    m.from = "cfo"; /* the finance team: no leak, so no meta either */
    CHECK_STR(scan_msg(sc, rs, &m), "money@0-6,pay[money@0-6+card_no@9-25],card_no@9-25");
    m = text_msg("卡4111111111111111");
    CHECK_STR(scan_msg(sc, rs, &m), "card_no@3-19,leak[card_no@3-19]");
    m = text_msg("转账");
    CHECK_STR(scan_msg(sc, rs, &m), "money@0-6");
    wg_audit_ruleset_unref(rs);

    CHECK(strstr(rules_err("{'id':'c','kind':'combo','severity':'info','all_of':['zz']}"),
                 "rule \"c\": combo names unknown rule \"zz\"") != NULL);
    CHECK(strstr(rules_err("{'id':'c','kind':'combo','severity':'info','all_of':['d']},"
                           "{'id':'d','kind':'combo','severity':'info','any_of':['c']}"),
                 "cycle") != NULL);
    CHECK(strstr(rules_err("{'id':'c','kind':'combo','severity':'info','none_of':['c']}"),
                 "rule \"c\": a combo needs") != NULL);
}

static void test_validation(void)
{
    CHECK(strstr(compile_err("{\"version\":2,\"rules\":[]}"), "\"version\" must be 1") != NULL);
    CHECK(strstr(compile_err("{\"version\":1,\"rules\":[}"), "line 1") != NULL);
    CHECK(strstr(compile_err("{\"version\":1,\"rules\":[],\"x\":1}"), "unknown top-level") != NULL);
    CHECK(strstr(rules_err("{'id':'w','kind':'word','severity':'info','words':['a'],"
                           "'pattern':'x'}"),
                 "rule \"w\": unknown field \"pattern\" for a word rule") != NULL);
    CHECK(strstr(rules_err("{'id':'w','kind':'word','severity':'info','words':['a']},"
                           "{'id':'w','kind':'word','severity':'info','words':['b']}"),
                 "rule \"w\": duplicate id") != NULL);
    CHECK(strstr(rules_err("{'id':'w','kind':'word','severity':'loud','words':['a']}"),
                 "rule \"w\": \"severity\"") != NULL);
    CHECK(strstr(rules_err("{'id':'w','kind':'word','severity':'info','words':[]}"),
                 "rule \"w\": \"words\" must be") != NULL);
    CHECK(strstr(rules_err("{'kind':'word','severity':'info','words':['a']}"),
                 "rules[0]: \"id\"") != NULL);
    CHECK(strstr(rules_err("{'id':'a b','kind':'word','severity':'info','words':['a']}"),
                 "rules[0]: \"id\" \"a b\" may hold only") != NULL);
    CHECK(strstr(rules_err("{'id':'w','kind':'spell','severity':'info'}"),
                 "rule \"w\": \"kind\"") != NULL);
    CHECK(strstr(rules_err("{'id':'w','kind':'word','severity':'info','words':['a'],"
                           "'scope':{'speaker':'boss'}}"),
                 "rule \"w\": \"scope.speaker\"") != NULL);
    CHECK_STR(rules_err(""), ""); /* an empty rule set is fine */
}

static void test_truncated(void)
{
    wg_audit_ruleset_t *rs = rules("{'id':'a','kind':'word','severity':'info','words':['a']}");
    wg_audit_scanner_t *small = wg_audit_scanner_new(5);
    if (!rs || !small) {
        CHECK(0);
        wg_audit_ruleset_unref(rs);
        wg_audit_scanner_free(small);
        return;
    }
    wg_audit_msg_t m = text_msg("aaaaaaaaaa");
    wg_audit_result_t res;
    char err[WG_AUDIT_ERR_MAX];
    CHECK_INT(wg_audit_scan(small, rs, &m, &res, err), 0);
    CHECK_INT(res.n_hits, 5);
    CHECK_INT(res.truncated, 1);
    m = text_msg("aaa");
    CHECK_INT(wg_audit_scan(small, rs, &m, &res, err), 0);
    CHECK_INT(res.n_hits, 3);
    CHECK_INT(res.truncated, 0);
    wg_audit_scanner_free(small);
    wg_audit_ruleset_unref(rs);
}

/* Unix milliseconds of a local time in a zone offset (minutes). */
static int64_t local_ms(int y, int mo, int d, int h, int mi, int off)
{
    y -= mo <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = era * 146097 + doe - 719468;
    return ((days * 24 + h) * 60 + mi - off) * 60000LL;
}

static void test_unanswered(void)
{
    wg_audit_unanswered_t u;
    char err[WG_AUDIT_ERR_MAX];
    CHECK_INT(wg_audit_unanswered_parse(&u, 30, "1-5", "09:00-18:00", "Asia/Shanghai", err), 0);
    const int sh = 480;
    /* 2024-03-08 is a Friday. A message at 17:45: 15 minutes that day, 15 on Monday. */
    int64_t fri = local_ms(2024, 3, 8, 17, 45, sh);
    CHECK_INT(wg_audit_unanswered_due_at(&u, fri), local_ms(2024, 3, 11, 9, 15, sh));
    CHECK_INT(wg_audit_unanswered_alert(&u, fri, 0, local_ms(2024, 3, 9, 12, 0, sh)), 0);
    CHECK_INT(wg_audit_unanswered_alert(&u, fri, 0, local_ms(2024, 3, 11, 9, 14, sh)), 0);
    CHECK_INT(wg_audit_unanswered_alert(&u, fri, 0, local_ms(2024, 3, 11, 9, 15, sh)), 1);
    /* answered at or after the customer's message: no alert */
    CHECK_INT(wg_audit_unanswered_alert(&u, fri, fri + 1000, local_ms(2024, 3, 12, 0, 0, sh)), 0);
    CHECK_INT(wg_audit_unanswered_alert(&u, fri, fri, local_ms(2024, 3, 12, 0, 0, sh)), 0);
    /* an older reply does not answer a newer message */
    CHECK_INT(wg_audit_unanswered_alert(&u, fri, fri - 1, local_ms(2024, 3, 12, 0, 0, sh)), 1);
    CHECK_INT(wg_audit_unanswered_alert(&u, 0, 0, local_ms(2024, 3, 12, 0, 0, sh)), 0);
    /* Saturday night: counting starts Monday 09:00 */
    CHECK_INT(wg_audit_unanswered_due_at(&u, local_ms(2024, 3, 9, 22, 0, sh)),
              local_ms(2024, 3, 11, 9, 30, sh));
    /* before opening on a weekday */
    CHECK_INT(wg_audit_unanswered_due_at(&u, local_ms(2024, 3, 12, 7, 0, sh)),
              local_ms(2024, 3, 12, 9, 30, sh));
    /* inside the window */
    CHECK_INT(wg_audit_unanswered_due_at(&u, local_ms(2024, 3, 12, 10, 0, sh)),
              local_ms(2024, 3, 12, 10, 30, sh));
    /* exactly at closing time */
    CHECK_INT(wg_audit_unanswered_due_at(&u, local_ms(2024, 3, 12, 18, 0, sh)),
              local_ms(2024, 3, 13, 9, 30, sh));
    /* 3 working days = 1620 minutes from Thursday 12:00 -> the next Tuesday 12:00 */
    wg_audit_unanswered_t u3;
    CHECK_INT(wg_audit_unanswered_parse(&u3, 1620, "1-5", "09:00-18:00", "+08:00", err), 0);
    CHECK_INT(wg_audit_unanswered_due_at(&u3, local_ms(2024, 3, 7, 12, 0, sh)),
              local_ms(2024, 3, 12, 12, 0, sh));
    /* many weeks (the whole-week skip): 10 weeks of 45 working hours from Monday 09:00 */
    wg_audit_unanswered_t u10;
    CHECK_INT(wg_audit_unanswered_parse(&u10, 10 * 5 * 9 * 60, "1-5", "09:00-18:00", NULL, err), 0);
    CHECK_INT(wg_audit_unanswered_due_at(&u10, local_ms(2024, 3, 11, 9, 0, sh)),
              local_ms(2024, 5, 17, 18, 0, sh));
    /* around the clock, every day, in another zone */
    wg_audit_unanswered_t ua;
    CHECK_INT(wg_audit_unanswered_parse(&ua, 90, NULL, NULL, "Asia/Tokyo", err), 0);
    CHECK_INT(ua.tz_offset_min, 540);
    CHECK_INT(wg_audit_unanswered_due_at(&ua, fri), fri + 90 * 60000LL);
    /* a weekend-only window */
    wg_audit_unanswered_t uw;
    CHECK_INT(wg_audit_unanswered_parse(&uw, 60, "6,7", "10:00-12:00", "-05:00", err), 0);
    CHECK_INT(wg_audit_unanswered_due_at(&uw, local_ms(2024, 3, 8, 11, 0, -300)),
              local_ms(2024, 3, 9, 11, 0, -300));
    int off = 0;
    CHECK_INT(wg_audit_tz_offset("+05:30", &off), 0);
    CHECK_INT(off, 330);
    CHECK_INT(wg_audit_tz_offset("UTC", &off), 0);
    CHECK_INT(off, 0);
    CHECK_INT(wg_audit_tz_offset("+5:30", &off), -1);
    CHECK_INT(wg_audit_unanswered_parse(&u, 30, "0-5", NULL, NULL, err), -1);
    CHECK_INT(wg_audit_unanswered_parse(&u, 30, "5-1", NULL, NULL, err), -1);
    CHECK_INT(wg_audit_unanswered_parse(&u, 30, NULL, "18:00-09:00", NULL, err), -1);
    CHECK_INT(wg_audit_unanswered_parse(&u, 30, NULL, "09:00-24:01", NULL, err), -1);
    CHECK_INT(wg_audit_unanswered_parse(&u, 30, NULL, "00:00-24:00", NULL, err), 0);
    CHECK_INT(wg_audit_unanswered_parse(&u, 0, NULL, NULL, NULL, err), -1);
}

static void test_ordering(void)
{
    wg_audit_ruleset_t *rs =
        rules("{'id':'zeta','kind':'word','severity':'info','words':['ab']},"
              "{'id':'alpha','kind':'word','severity':'info','words':['b','ab']},"
              "{'id':'beh','kind':'behaviour','severity':'info','msgtypes':['text']},"
              "{'id':'any','kind':'behaviour','severity':'info','min_amount_fen':0}");
    if (!rs)
        return;
    CHECK_STR(scan_text(sc, rs, "xab"), "alpha@1-3,zeta@1-3,alpha@2-3,any,beh");
    wg_audit_ruleset_unref(rs);
}

static void test_serialized(void)
{
    const char *json = doc("{'id':'w','kind':'word','severity':'info','words':['微信','QQ'],"
                           "'ignore':' '},"
                           "{'id':'p','kind':'regex','severity':'warning','fold_digits':true,"
                           "'pattern':'(?<![0-9])1[3-9][0-9]{9}(?![0-9])'},"
                           "{'id':'r','kind':'behaviour','severity':'info','msgtypes':['card']}");
    char *json_copy = strdup(json);
    char err[WG_AUDIT_ERR_MAX] = "";
    wg_audit_ruleset_t *rs = wg_audit_ruleset_compile(json_copy, strlen(json_copy), err);
    CHECK(rs != NULL);
    char *bytes = NULL;
    size_t len = 0;
    if (!rs || wg_audit_ruleset_serialize(rs, &bytes, &len, err) != 0) {
        fprintf(stderr, "  %s\n", err);
        CHECK(0);
        wg_audit_ruleset_unref(rs);
        free(json_copy);
        return;
    }
    const char *text = "加微 信 或 qq，电话一三八一二三四五六七八";
    char want[4096];
    snprintf(want, sizeof want, "%s", scan_text(sc, rs, text));
    CHECK_STR(want, "w@3-10,w@15-17,p@26-59");

    wg_audit_ruleset_t *ld = wg_audit_ruleset_load_compiled(bytes, len, NULL, 0, err);
    CHECK(ld != NULL);
    if (ld) {
        CHECK_STR(scan_text(sc, ld, text), want);
        wg_audit_stats_t a, b;
        wg_audit_ruleset_stats(rs, &a);
        wg_audit_ruleset_stats(ld, &b);
        CHECK(a.hash == b.hash && a.literals == b.literals && a.views == b.views);
        wg_audit_ruleset_unref(ld);
    }
    /* with the rule set it must match: the same JSON, reformatted, passes */
    const char *spaced = "{ \"rules\": [ {\"severity\":\"info\",\"id\":\"w\",\"kind\":\"word\","
                         "\"words\":[\"微信\",\"QQ\"],\"ignore\":\" \"},"
                         "{\"id\":\"p\",\"kind\":\"regex\",\"severity\":\"warning\","
                         "\"fold_digits\":true,"
                         "\"pattern\":\"(?<![0-9])1[3-9][0-9]{9}(?![0-9])\"},"
                         "{\"id\":\"r\",\"kind\":\"behaviour\",\"severity\":\"info\","
                         "\"msgtypes\":[\"card\"]} ], \"version\": 1 }";
    ld = wg_audit_ruleset_load_compiled(bytes, len, spaced, strlen(spaced), err);
    CHECK(ld != NULL);
    wg_audit_ruleset_unref(ld);
    const char *other = doc("{'id':'w','kind':'word','severity':'info','words':['微信']}");
    ld = wg_audit_ruleset_load_compiled(bytes, len, other, strlen(other), err);
    CHECK(ld == NULL && strstr(err, "rule-set hash mismatch") != NULL);

    /* corrupt: one byte flipped anywhere */
    char *bad = malloc(len);
    memcpy(bad, bytes, len);
    bad[len / 2] ^= 0x40;
    ld = wg_audit_ruleset_load_compiled(bad, len, NULL, 0, err);
    CHECK(ld == NULL && strstr(err, "corrupt") != NULL);
    /* truncated */
    ld = wg_audit_ruleset_load_compiled(bytes, len - 9, NULL, 0, err);
    CHECK(ld == NULL && strstr(err, "compiled rules:") != NULL);
    ld = wg_audit_ruleset_load_compiled(bytes, 20, NULL, 0, err);
    CHECK(ld == NULL && strstr(err, "not a wegate compiled rule set") != NULL);
    /* another Hyperscan version (checksum made right again) */
    memcpy(bad, bytes, len);
    memcpy(bad + 16, "5.3.0 2020-05-15", 17);
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len - 8; i++) {
        h ^= (unsigned char)bad[i];
        h *= 0x100000001b3ULL;
    }
    for (int i = 0; i < 8; i++)
        bad[len - 8 + (size_t)i] = (char)(h >> (8 * i));
    ld = wg_audit_ruleset_load_compiled(bad, len, NULL, 0, err);
    CHECK(ld == NULL && strstr(err, "built with Hyperscan 5.3.0") != NULL);
    /* CPU features this machine lacks: claim them all */
    memcpy(bad, bytes, len);
    bad[64] = (char)0xff;
    h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len - 8; i++) {
        h ^= (unsigned char)bad[i];
        h *= 0x100000001b3ULL;
    }
    for (int i = 0; i < 8; i++)
        bad[len - 8 + (size_t)i] = (char)(h >> (8 * i));
    ld = wg_audit_ruleset_load_compiled(bad, len, NULL, 0, err);
    CHECK(ld == NULL && strstr(err, "built for CPU features") != NULL);
    free(bad);
    free(bytes);
    free(json_copy);
    wg_audit_ruleset_unref(rs);
}

static void test_accessors(void)
{
    wg_audit_ruleset_t *rs = rules("{'id':'w','name':'Words','kind':'word','severity':'critical',"
                                   "'words':['a','b','a']}");
    if (!rs)
        return;
    CHECK_INT(wg_audit_ruleset_count(rs), 1);
    CHECK_STR(wg_audit_rule_id(rs, 0), "w");
    CHECK_STR(wg_audit_rule_name(rs, 0), "Words");
    CHECK_INT(wg_audit_rule_kind(rs, 0), WG_AUDIT_WORD);
    CHECK_INT(wg_audit_rule_severity(rs, 0), WG_AUDIT_CRITICAL);
    CHECK_INT(wg_audit_rule_enabled(rs, 0), 1);
    const char *const *words;
    CHECK_INT(wg_audit_rule_words(rs, 0, &words), 3);
    CHECK_STR(words[2], "a");
    CHECK_STR(wg_audit_kind_name(WG_AUDIT_BEHAVIOUR), "behaviour");
    CHECK_STR(wg_audit_severity_name(WG_AUDIT_WARNING), "warning");
    char err[WG_AUDIT_ERR_MAX];
    const char *a = "{\"b\":1,\"a\":[1,2]}", *b = "{ \"a\" : [1, 2], \"b\" : 1 }";
    CHECK(wg_audit_ruleset_hash_json(a, strlen(a), err) ==
          wg_audit_ruleset_hash_json(b, strlen(b), err));
    CHECK(wg_audit_ruleset_hash_json(a, strlen(a), err) != 0);
    wg_audit_ruleset_unref(rs);
}

/* Spans through the normalizer's change points: a hit right after a full-width character,
 * between and over rewritten ones, a regex over them, and a long message with thousands of
 * change points and hits, every span checked. */
static void test_spans_change_points(void)
{
    wg_audit_ruleset_t *rs = rules("{'id':'w','kind':'word','severity':'info','words':['微信',"
                                   "'红包','a,b']},{'id':'r','kind':'regex','severity':'info',"
                                   "'pattern':'好[,!]+的'}");
    if (!rs)
        return;
    CHECK_STR(scan_text(sc, rs, "，微信"), "w@3-9");
    CHECK_STR(scan_text(sc, rs, "，，微信！"), "w@6-12");
    CHECK_STR(scan_text(sc, rs, "紅\u200b包，微信"), "w@0-9,w@12-18");
    CHECK_STR(scan_text(sc, rs, "ａ，ｂ"), "w@0-9");
    CHECK_STR(scan_text(sc, rs, "x a，b y"), "w@2-7");
    CHECK_STR(scan_text(sc, rs, "很好，！,的"), "r@3-16");

    /* 3,000 times "，微信～紅包" (18 bytes): hits at 3 and 12 of each piece. */
    const size_t reps = 3000, piece = 18;
    char *t = malloc(reps * piece + 1);
    for (size_t i = 0; i < reps; i++)
        memcpy(t + i * piece, "，微信～紅包", piece);
    t[reps * piece] = '\0';
    wg_audit_msg_t m = text_msg(t);
    wg_audit_result_t res;
    char err[WG_AUDIT_ERR_MAX];
    CHECK_INT(wg_audit_scan(sc, rs, &m, &res, err), 0);
    CHECK_INT(res.n_hits, 2 * reps);
    long bad = 0;
    for (size_t i = 0; i < res.n_hits && i < 2 * reps; i++) {
        size_t want = (i / 2) * piece + (i % 2 ? 12 : 3);
        if (res.hits[i].start != want || res.hits[i].end != want + 6)
            bad++;
    }
    CHECK_INT(bad, 0);
    free(t);
    wg_audit_ruleset_unref(rs);
}

int main(void)
{
    sc = wg_audit_scanner_new(0);
    if (!sc)
        return 1;
    TEST_RUN(test_words_chinese);
    TEST_RUN(test_words_folds);
    TEST_RUN(test_words_ignore);
    TEST_RUN(test_words_invalid_utf8);
    TEST_RUN(test_empty_text);
    TEST_RUN(test_overlaps);
    TEST_RUN(test_regex);
    TEST_RUN(test_regex_prefilter_exact);
    TEST_RUN(test_regex_errors);
    TEST_RUN(test_checks);
    TEST_RUN(test_scopes);
    TEST_RUN(test_behaviours);
    TEST_RUN(test_combos);
    TEST_RUN(test_validation);
    TEST_RUN(test_truncated);
    TEST_RUN(test_unanswered);
    TEST_RUN(test_ordering);
    TEST_RUN(test_serialized);
    TEST_RUN(test_accessors);
    TEST_RUN(test_spans_change_points);
    wg_audit_scanner_free(sc);
    return TEST_DONE();
}
