/* Resident memory of holding a rule set: VmRSS (from /proc/self/status) of this process before
 * and after it loads a compiled rule set from a file (what a gateway does), or after it compiles
 * the rule set itself (what a gateway must not do: Hyperscan's compiler keeps its heap).
 *   rss load FILE.wgc | rss compile FILE.json     prints "before <kB> after <kB> kB" */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"

static long vm_rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return kb;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(b);
        return NULL;
    }
    fclose(f);
    b[n] = '\0';
    *len = (size_t)n;
    return b;
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "load") != 0 && strcmp(argv[1], "compile") != 0)) {
        fprintf(stderr, "usage: rss load FILE.wgc | rss compile FILE.json\n");
        return 2;
    }
    /* a scan first, so the libraries' pages and a scanner are resident in both measurements */
    wg_audit_scanner_t *sc = wg_audit_scanner_new(0);
    long before = vm_rss_kb();
    size_t len;
    char *b = slurp(argv[2], &len);
    if (!b)
        return 1;
    char err[WG_AUDIT_ERR_MAX];
    wg_audit_ruleset_t *rs = strcmp(argv[1], "load") == 0
                                 ? wg_audit_ruleset_load_compiled(b, len, NULL, 0, err)
                                 : wg_audit_ruleset_compile(b, len, err);
    free(b);
    if (!rs) {
        fprintf(stderr, "rss: %s\n", err);
        return 1;
    }
    wg_audit_msg_t m = {0};
    m.text = "你好，测试一下";
    m.len = strlen(m.text);
    wg_audit_result_t res;
    wg_audit_scan(sc, rs, &m, &res, err); /* the scratch, as a scanning gateway holds it */
    long after = vm_rss_kb();
    printf("before %ld after %ld kB\n", before, after);
    wg_audit_scanner_free(sc);
    wg_audit_ruleset_unref(rs);
    return 0;
}
