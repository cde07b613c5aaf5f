/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_api.h - REST API handlers (/api/v1/...), routed by ctl_http.c.
 *
 * |arg| is the URL-decoded {arg} path segment for routes with one (an id or
 * a list name; the last segment, or the one before a fixed suffix such as
 * ".../{id}/release"), else NULL; |query| the parsed query string. A handler
 * answers exactly once, now or from a database callback.
 */
#ifndef CTL_API_H
#define CTL_API_H

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "ctl.h"

typedef void ctl_api_fn(struct ctl *c, struct evhttp_request *req, const char *arg,
			struct evkeyvalq *query);

/* ctl_api_policy.c */
ctl_api_fn ctl_api_policy_list, ctl_api_policy_get, ctl_api_policy_create,
	ctl_api_policy_update, ctl_api_policy_delete, ctl_api_config_export,
	ctl_api_config_import, ctl_api_list_index, ctl_api_list_get, ctl_api_list_put;
/* ctl_api_store.c */
ctl_api_fn ctl_api_status, ctl_api_quarantine_list, ctl_api_quarantine_get,
	ctl_api_quarantine_delete, ctl_api_log_search;
/* ctl_api_blocklist.c: /api/v1/blocklist, /api/v1/profiler */
ctl_api_fn ctl_api_blocklist_list, ctl_api_blocklist_add, ctl_api_blocklist_delete,
	ctl_api_profiler;
/* ctl_api_dnsbl.c: /api/v1/dnsbl */
ctl_api_fn ctl_api_dnsbl_get, ctl_api_dnsbl_put;
/* ctl_release.c: POST /api/v1/quarantine/{id}/release */
ctl_api_fn ctl_api_quarantine_release;

#endif
