/* Outbox channels: maps an outbox row (corp, channel name, target, payload, idempotency key) to
 * the connector call that delivers it, and the call's outcome to what the outbox records.
 *
 * Channels are named per corp in the config (corps[].channels.NAME):
 *   wecom_app  message/send (connectors/wecom/api.h) to the row's target, "userid|userid", or
 *              the channel's "to"; msgtype markdown, text or textcard.
 *   robot      the group robot webhook/send with the channel's key; markdown or text (the
 *              row's target, if any, is the text's mentioned_list).
 *   webhook    a signed JSON POST (connectors/webhook/webhook.h) of the payload as stored, with
 *              X-Wegate-Delivery = the idempotency key.
 *
 * Payload (a JSON object; gateway/outbox/outbox.h): for wecom_app and robot,
 *   {"msgtype": "markdown"|"text"|"textcard", "content": "...",
 *    "title": "...", "description": "...", "url": "...", "btntxt": "..."}  (textcard fields)
 * where msgtype defaults to the channel's format; for webhook, any JSON object, posted as is.
 *
 * Everything runs on the background loop (one thread). */
#ifndef WG_OUTBOX_CHANNELS_H
#define WG_OUTBOX_CHANNELS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "connectors/http/client.h"
#include "connectors/webhook/webhook.h"
#include "connectors/wecom/api.h"
#include "gateway/config/config.h"

struct event_base;

/* What the outbox does with a row after an attempt. */
typedef enum wg_outbox_verdict {
    WG_OUTBOX_SENT,  /* delivered: status sent, never sent again */
    WG_OUTBOX_RETRY, /* failed, may heal: attempts count; backoff (at least delay_ms); dead
                        after outbox.max_attempts */
    WG_OUTBOX_DEFER, /* held by a quota or a rate-limit answer: back to pending after delay_ms,
                        the attempt not counted (nothing was wrong with the row) */
    WG_OUTBOX_DEAD,  /* will not heal by retrying (configuration fault, refused data): dead now,
                        with last_error saying what to fix; `wegate outbox retry ID` after */
} wg_outbox_verdict_t;

#define WG_OUTBOX_ERR_MAX 300

typedef struct wg_outbox_outcome {
    wg_outbox_verdict_t verdict;
    int64_t delay_ms;              /* RETRY: a lower bound from the server; DEFER: the delay */
    char error[WG_OUTBOX_ERR_MAX]; /* last_error; for SENT a note ("" if none) */
} wg_outbox_outcome_t;

/* "sent", "retry", "defer", "dead" (static). */
const char *wg_outbox_verdict_name(wg_outbox_verdict_t v);

/* One claimed row, as the channels see it (borrowed for the duration of the send call). */
typedef struct wg_outbox_row {
    int64_t id;
    const char *corp;
    const char *channel;
    const char *target; /* "" when none */
    const char *payload;
    size_t payload_len;
    const char *key; /* idempotency key */
    int attempts;    /* including this one */
} wg_outbox_row_t;

/* A message payload for wecom_app and robot (strings borrowed from the parsed JSON). */
typedef struct wg_outbox_message {
    wg_channel_format_t format;
    const char *content;
    const char *title;
    const char *description;
    const char *url;
    const char *btntxt;
} wg_outbox_message_t;

/* Parses payload for channel ch into *m; *json gets the parsed document (a new reference: the
 * caller json_decref()s it; m's strings live in it). 0, or -1 with err (the row is dead). */
int wg_outbox_message_parse(const wg_config_channel_t *ch, const char *payload, size_t len,
                            wg_outbox_message_t *m, json_t **json, char *err, size_t errlen);

/* The outcome of a WeCom call (message/send or robot): OK sent (invaliduser, when some member
 * did not get it, is noted); the local quota or a rate-limit answer (45009, 45033) defer;
 * other RETRY_LATER and PROTOCOL retry; CONFIG and PERMANENT are dead. */
void wg_outbox_classify_wecom(const wg_wecom_result_t *res, const char *invaliduser,
                              wg_outbox_outcome_t *out);
/* The outcome of a webhook POST: 2xx sent; RETRY_LATER retry (Retry-After as the lower bound);
 * CONFIG (certificate) and PERMANENT (4xx) dead. */
void wg_outbox_classify_webhook(const wg_webhook_result_t *res, wg_outbox_outcome_t *out);

typedef struct wg_outbox_channels wg_outbox_channels_t;
typedef struct wg_outbox_send wg_outbox_send_t;

/* The channels of every corp of cfg (borrowed; must outlive them) on base, sending through http
 * (borrowed; same loop). One WeCom API client per corp (its tokens and quotas). NULL with err
 * on out of memory or a bad corp. */
wg_outbox_channels_t *wg_outbox_channels_new(struct event_base *base, wg_http_client_t *http,
                                             const wg_config_t *cfg, char *err, size_t errlen);
/* Sends still in flight complete (RETRY) before this returns: cancel them first. */
void wg_outbox_channels_free(wg_outbox_channels_t *ch);

/* Called once per accepted send, on the loop, never inside wg_outbox_channels_send(). */
typedef void (*wg_outbox_sent_cb)(void *arg, const wg_outbox_outcome_t *o);

/* Starts delivering row. Returns a handle (valid until the callback starts or
 * wg_outbox_send_cancel() returns), or NULL when the outcome is known at once (unknown corp or
 * channel, bad payload, a request the connector refuses): then *now holds it and cb will not
 * run. */
wg_outbox_send_t *wg_outbox_channels_send(wg_outbox_channels_t *ch, const wg_outbox_row_t *row,
                                          wg_outbox_sent_cb cb, void *arg,
                                          wg_outbox_outcome_t *now);
/* Abandons a send: its callback will not run (a request on the wire is cut off). */
void wg_outbox_send_cancel(wg_outbox_send_t *s);

#endif
