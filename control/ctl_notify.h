/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_notify.h - notifications of the policy's "notify" actions: rendered
 * from templates in PostgreSQL (notification_templates) into complete
 * RFC 5322 messages and sent with ctl_smtp_send to [control] notify_smtp.
 * Design, rules and limits: ctl_notify.c.
 */
#ifndef CTL_NOTIFY_H
#define CTL_NOTIFY_H

#include <jansson.h>

#include "ctl.h"

/* Module state in c->notify. 0 or MXG_E_NOMEM. */
int ctl_notify_init(struct ctl *c);
/* Drops what waits; what is in flight is answered by ctl_smtp_fini and
 * ctl_db_free, which must follow (the jobs free themselves then). */
void ctl_notify_fini(struct ctl *c);

/* A tracking record from the channel (borrowed; nothing kept after the
 * call). Queues one notification per element of its "notify" array (and
 * per recipient for "to": "recipient"), merged and filtered as ctl_notify.c
 * describes. Never blocks, never fails the caller: what cannot be queued is
 * dropped and counted. */
void ctl_notify_submit(struct ctl *c, json_t *record);

/* Counters: {"queued", "in_flight", "submitted", "sent", "failed",
 * "dropped", "skipped"} (new reference; NULL when not initialised). */
json_t *ctl_notify_stats(const struct ctl *c);

#endif
