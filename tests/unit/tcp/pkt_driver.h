/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pkt_driver.h - a packetdrill-syntax interpreter for the sans-IO TCP core.
 *
 * Runs a script (the packetdrill subset that matters: timed inbound "<" and
 * expected outbound ">" segments, and the socket calls socket, bind,
 * listen, accept, connect, read/recv, write/send, shutdown, close) against
 * one struct tcps_stack whose output is captured in memory, with virtual
 * time. The format and the corpus results are described in PACKETDRILL.md. Lines using what we do not offer (Linux sysctls, most socket
 * options, poll/epoll, ioctls, ECN, TFO, MD5) make the script "not
 * applicable" rather than failed.
 *
 * Extensions of ours, for scripts in tests/unit/tcp/cases:
 *   %conf key value        (before the first event) stack/driver settings:
 *                          rcvbuf, sndbuf, mtu, time_wait_ms, rto_min_ms,
 *                          rto_init_ms, rto_max_ms, delack_ms, fin_wait2_ms,
 *                          backlog, max_conns, mem_max, ooo_max,
 *                          keepalive_ms, keepalive_intvl_ms, keepalive_cnt,
 *                          syn_retries, max_retries, challenge_rate,
 *                          remote_isn, tolerance_ms, and the flags ipv6,
 *                          no_ts, no_sack, no_ws, no_quickack, no_cookies,
 *                          no_tlp,
 *                          cubic, ignore_win
 *   +t %state FD NAME      connection state is NAME (e.g. ESTABLISHED)
 *   +t %stat NAME N        stack counter NAME equals N
 *   +t %read FD "text"     reads exactly the text (C escapes)
 *   +t %readable FD N      N bytes are waiting
 *   +t %eof FD             peer FIN consumed and nothing left to read
 *   +t %error FD NAME      on_error reported NAME (reset/refused/timeout/...)
 *   +t %noout              nothing was sent up to t
 *   +t %rport N            later segments come from (and go to) peer port N
 *   +t %newconn            relearn our ISN and TSval (another connection)
 *   <..., unknown K L, ...> inbound option of kind K with length byte L
 *                          (L - 2 zero bytes follow): malformed on purpose
 *   <seg> ... data "text"  inbound payload given explicitly (default: a
 *                          pattern derived from the stream offset)
 */
#ifndef PKT_DRIVER_H
#define PKT_DRIVER_H

#include <stddef.h>

enum pkt_result {
	PKT_PASS,
	PKT_FAIL,
	PKT_NA, /* uses something tcpstack does not offer */
};

/* Runs the script file |path|. On PKT_FAIL/PKT_NA writes a one-line reason
 * (with the script line number) into |why|. */
enum pkt_result pkt_run_file(const char *path, char *why, size_t whylen, int verbose);

#endif
