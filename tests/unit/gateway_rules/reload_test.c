/* wg_rules_reload: a spawned `wegate rules compile` whose output replaces the live rule set, and
 * every failure leaving the set in force untouched. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/rules/reload.h"
#include "testlib.h"

static const char *bin;
static char dir[] = "/tmp/wegate-reload-test-XXXXXX";

static const char *write_rules(const char *name, const char *json)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(json, f);
        fclose(f);
    }
    return path;
}

static const char *words_rules(const char *id, const char *word)
{
    static char json[512];
    snprintf(json, sizeof json,
             "{\"version\": 1, \"rules\": [{\"id\": \"%s\", \"name\": \"n\", \"kind\": \"word\", "
             "\"severity\": \"warning\", \"words\": [\"%s\"]}]}",
             id, word);
    return json;
}

/* The rule ids hit by text under the live set, comma-separated ("" for none). */
static const char *hits(wg_audit_live_t *live, const char *text)
{
    static char out[WG_AUDIT_ERR_MAX + 64];
    char err[WG_AUDIT_ERR_MAX];
    wg_audit_scanner_t *s = wg_audit_scanner_new(16);
    wg_audit_msg_t msg = {.text = text, .len = strlen(text)};
    wg_audit_result_t res;
    out[0] = '\0';
    if (wg_audit_live_scan(live, s, &msg, &res, err) == 0) {
        for (size_t i = 0; i < res.n_hits; i++) {
            strncat(out, i ? "," : "", sizeof out - strlen(out) - 1);
            strncat(out, res.hits[i].rule, sizeof out - strlen(out) - 1);
        }
    } else {
        snprintf(out, sizeof out, "error: %s", err);
    }
    wg_audit_scanner_free(s);
    return out;
}

static void test_reload(void)
{
    char err[512];
    const char *a = words_rules("alpha_rule", "alpha");
    wg_audit_live_t *live = wg_audit_live_new(wg_audit_ruleset_compile(a, strlen(a), err));
    CHECK(live != NULL);
    CHECK_STR(hits(live, "alpha beta"), "alpha_rule");

    /* a new rule set, compiled by the child, replaces the old one */
    const char *path = write_rules("b.json", words_rules("beta_rule", "beta"));
    CHECK_INT(wg_rules_reload(live, bin, path, err, sizeof err), 0);
    CHECK_STR(hits(live, "alpha beta"), "beta_rule");

    /* a rule set that does not compile: the child's message, the set in force unchanged */
    path = write_rules("bad.json", "{\"version\": 1, \"rules\": [{\"id\": \"broken\", \"name\": "
                                   "\"n\", \"kind\": \"regex\", \"severity\": \"info\", "
                                   "\"pattern\": \"(unclosed\"}]}");
    CHECK_INT(wg_rules_reload(live, bin, path, err, sizeof err), -1);
    CHECK(strstr(err, "rules compile exited 1") != NULL);
    CHECK(strstr(err, "broken") != NULL);
    CHECK_STR(hits(live, "alpha beta"), "beta_rule");

    /* no such rule file, no such program, a file that is not JSON */
    CHECK_INT(wg_rules_reload(live, bin, "/nonexistent/rules.json", err, sizeof err), -1);
    CHECK(strstr(err, "/nonexistent/rules.json") != NULL);
    path = write_rules("c.json", words_rules("gamma_rule", "gamma"));
    CHECK_INT(wg_rules_reload(live, "/nonexistent/wegate", path, err, sizeof err), -1);
    CHECK(strstr(err, "cannot run /nonexistent/wegate") != NULL);
    path = write_rules("d.json", "not json");
    CHECK_INT(wg_rules_reload(live, bin, path, err, sizeof err), -1);
    CHECK_STR(hits(live, "alpha beta gamma"), "beta_rule");

    /* and a good one still goes in afterwards; no temporary file is left behind */
    path = write_rules("c.json", words_rules("gamma_rule", "gamma"));
    CHECK_INT(wg_rules_reload(live, bin, path, err, sizeof err), 0);
    CHECK_STR(hits(live, "alpha beta gamma"), "gamma_rule");
    wg_audit_live_free(live);
}

int main(void)
{
    bin = getenv("WG_BIN");
    if (!bin || !mkdtemp(dir)) {
        fprintf(stderr, "WG_BIN (the wegate binary) must be set\n");
        return 1;
    }
    setenv("TMPDIR", dir, 1);
    TEST_RUN(test_reload);
    /* every temporary compiled file was removed: only the rule files remain */
    char cmd[512];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls %s | grep wegate-rules-)\"", dir);
    CHECK_INT(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return TEST_DONE();
}
