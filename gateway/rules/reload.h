/* Rule-set reloads for a long-running gateway. Hyperscan's compiler keeps its heap after a large
 * compile (~110 MB after 50,000 words), so the gateway never compiles in its own process: it
 * runs `wegate rules compile FILE -o TMP` in a child and loads what the child wrote. */
#ifndef WG_RULES_RELOAD_H
#define WG_RULES_RELOAD_H

#include <stddef.h>

#include "audit/audit.h"

/* Reads rules_file, spawns wegate_exe (posix_spawn: never fork in a threaded process) to compile
 * it into a temporary file, loads that file, checking that it was compiled from the contents
 * read here (a file changed meanwhile is refused: try again), and swaps it into live. Any
 * failure leaves the set in force as it was and fills err (the child's own message when the
 * compile failed). Blocking: for the background thread or a CLI, never an HTTP worker.
 * Returns 0 or -1. */
int wg_rules_reload(wg_audit_live_t *live, const char *wegate_exe, const char *rules_file,
                    char *err, size_t errlen);

#endif
