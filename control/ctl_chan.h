/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_chan.h - mxgate-control's end of the control channel: the Unix socket
 * every dataplane connects to (framing: common/mxg_chan.h).
 *
 * Down to the dataplanes: the policy snapshot (mxg_policy_snapshot(), one
 * query for all of them, coalesced) and quarantine acknowledgements. Up:
 * HELLO, POLICY_ACK, tracking records (TRACK) and quarantine requests
 * (QUAR). Everything runs on the process's event loop; the channel owns two
 * PostgreSQL connections of its own (ctl_db.h) so that bulk tracking inserts
 * and quarantine commits never queue behind each other or behind the API:
 *
 *   quarantine  one INSERT per QUAR (message as a binary bytea parameter);
 *               QUAR_ACK status 0 once the autocommitted row is there,
 *               status 1 at once when the database is down, the insert
 *               fails or too many bytes are already in flight.
 *   tracking    records queue in memory (bounded: 200,000 rows or 256 MiB,
 *               beyond that they are dropped and counted) and are flushed as
 *               ONE multi-row INSERT over json_array_elements($1) when 500
 *               rows are queued or the oldest waited 100 ms, one flush in
 *               flight at a time. While the database is down the queue is
 *               kept and flushed when the connection is back. A batch the
 *               server refuses is bisected until the offending record is
 *               found and dropped (logged), so one bad record never costs
 *               its 499 neighbours.
 *
 * The policy snapshot query runs on the main connection (ctl->db), the one
 * that LISTENs: the snapshot read after a NOTIFY sees the change it
 * announces.
 */
#ifndef CTL_CHAN_H
#define CTL_CHAN_H

#include <stdint.h>

#include <jansson.h>

#include "ctl.h"

struct ctl_chan;
struct ctl_user;

/* Binds and listens on c->conf.channel_socket: a stale socket left by a
 * dead process is removed (a live one is an error), the socket is created
 * mode 0660 and, when we are root and will drop to |u|, owned by |u|. The
 * default directory (state_dir/run) is created 0700 for |u| if missing.
 * Call before dropping privileges. Returns NULL with the reason logged. */
struct ctl_chan *ctl_chan_new(struct ctl *c, const struct ctl_user *u);

/* Opens the channel's database connections (after the privilege drop,
 * with c->conninfo). Returns 0 or MXG_E_NOMEM. */
int ctl_chan_start(struct ctl_chan *ch);

/* Closes every connection (pending quarantine answers are dropped with
 * it), the database connections and the socket (unlinked). Call after
 * ctl_db_free(c->db): a policy query in flight calls back into us. */
void ctl_chan_free(struct ctl_chan *ch);

/* The policy may have changed (NOTIFY mxg_policy with |version|, or 0 when
 * the main connection came back and notifications may have been missed):
 * re-reads the snapshot unless the cached one is already that recent. */
void ctl_chan_policy_changed(struct ctl_chan *ch, int64_t version);

/* The blocklist may have changed (NOTIFY mxg_blocklist with |version|, or
 * 0 when the main connection came back): re-reads mxg_blocklist_snapshot()
 * unless the cached one is that recent, and pushes it (MXG_CHAN_BLOCKLIST)
 * to every dataplane that has not got it. */
void ctl_chan_blocklist_changed(struct ctl_chan *ch, int64_t version);

/* GET /api/v1/status: the connected dataplanes (array, new reference) and
 * the channel's counters (object, new reference). NULL |ch|: empty. */
json_t *ctl_chan_dataplanes(const struct ctl_chan *ch);
json_t *ctl_chan_counters(const struct ctl_chan *ch);

#endif
