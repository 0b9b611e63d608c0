/* Structured logging for gateway/ only (libraries never log): one line per record,
 * "ts=... level=... msg=... key=value ...", to stderr. Thread-safe (one write(2) per line).
 * Never pass bodies, secrets or signatures. */
#ifndef WG_LOG_H
#define WG_LOG_H

#include "gateway/config/config.h"

void wg_log_set_level(wg_log_level_t level);
int wg_log_enabled(wg_log_level_t level);
/* fmt is the rest of the line after msg=: usually key=value pairs. */
void wg_log(wg_log_level_t level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
