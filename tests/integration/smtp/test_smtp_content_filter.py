# SPDX-License-Identifier: BSD-3-Clause
"""The gateway as Postfix's content filter, set up the way IMSS documents
it (issue 4): one Postfix instance is both the upstream and the downstream
of the gateway (the "sandwich"):

  smtp-source -> Postfix smtpd PEER:2525  (content_filter = imss:[GW]:10025)
              -> imss transport (smtp, XFORWARD) -> gateway GW:10025
              -> Postfix smtpd PEER:10026 (-o content_filter=, ...)
              -> virtual(8) -> Maildir

2,000 messages from smtp-source arrive exactly once, each byte-identical
to what smtp-source sent apart from the trace header fields Postfix adds
at the top (compared by SHA-256).

Exactly once: smtp-source -N numbers the envelope recipient of every
message of a run (1f0@local.test, 2f0@local.test, ...) and each run has its
own recipient suffix (f0..f3) and its own message file, so every message
sent has a distinct envelope recipient; virtual(8) records it in the
X-Original-To: header of the Maildir file. A lost message is a missing
recipient, a duplicate (say the gateway told Postfix 451 after the
downstream had taken the message, and Postfix sent it again) is a repeated
one. Once Postfix's queue is empty nothing more can arrive: the first hop's
queue file is removed only after the gateway's 250, which the gateway gives
only after the second hop (the 10026 smtpd, same Postfix) queued the
message, and the second hop's queue file is removed only after virtual(8)
delivered it. So: the Maildir holds exactly 2,000 files, their recipients
are exactly the 2,000 sent, and the queue is empty.
"""

import hashlib
import os
import re
import threading
import time

import pytest

from mxgtest.net import run
from smtpenv import PySink, Postfix, SmtpGateway, maildir_files, postfix_ids

SUBNET = 11
GW, PEER = f"198.18.{SUBNET}.1", f"198.18.{SUBNET}.2"
RUNS = 4                 # smtp-source runs in parallel, one message file each
PER_RUN = 500            # RUNS * PER_RUN = 2,000 messages
SESSIONS = 5             # per run: 20 SMTP sessions in parallel in all
TRACE = ("return-path", "x-original-to", "delivered-to", "received")

# The IMSS additions to master.cf: the transport to the filter and the
# smtpd that takes the filtered mail back (no second content filter).
MASTER_IMSS = f"""\
imss      unix  -       -       n       -       -       smtp
  -o smtp_send_xforward_command=yes
  -o disable_mime_output_conversion=yes
{PEER}:10026 inet n     -       n       -       -       smtpd
  -o content_filter=
  -o receive_override_options=no_unknown_recipient_checks,no_header_body_checks
  -o smtpd_authorized_xforward_hosts={GW}
  -o mynetworks={GW}/32
"""


def message_files():
    """Four messages of different shapes (LF line ends; smtp-source -F
    sends each line with CRLF and dot-stuffs lines that begin with '.').
    Every one has From, To, Date and Message-ID, so Postfix's cleanup adds
    no header of its own."""
    def hdr(i, extra=""):
        return (f"From: Sender <a@ext.test>\nTo: <b@local.test>\n"
                f"Date: Mon, 2 Jun 2025 10:00:0{i} +0000\n"
                f"Message-ID: <cf-{i}@src.test>\nSubject: content filter {i}\n{extra}\n")
    # f0: plain text, about the 2,000 bytes of smtp-source -l 2000.
    f0 = hdr(0) + "".join(f"La de da de da {n}.\n" for n in range(100))
    # f1: dot transparency and mbox-looking lines.
    f1 = hdr(1, "X-Dots: .not.a.line.start\n") + (
        ".\n..\n...\n.leading dot\n..two dots\nFrom the start of a line\n"
        ">From quoted\n. \n.\t\nend of dots\n") * 40
    # f2: 8-bit (UTF-8) text, folded and MIME headers, blanks and tabs.
    f2 = hdr(2, "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
                "Content-Transfer-Encoding: 8bit\nX-Folded: first part\n"
                "\tsecond part\n  third part\n") + (
        "Grüße aus Köln, ½ € – “quotes” ☃\ntrailing blanks   \n\ttab first\n"
        "\n\n") * 60
    # f3: larger (about 64 KB), lines up to 990 bytes (under Postfix's
    # 998-byte smtp_line_length_limit, beyond which it would fold).
    f3 = hdr(3) + "".join(
        (f"{n:05d} " + "0123456789abcdefghijklmnopqrstuvwxyz" * 28)[:990] + "\n"
        if n % 3 == 0 else f"short line {n}\n" for n in range(190))
    return [f0, f1, f2, f3]


@pytest.fixture(scope="module")
def cf_gw(dataplane_bin, tmp_path_factory):
    from smtpenv import need
    need("postfix")
    need("smtp-source")
    # The gateway on its default scanning ports (25 and 10025); Postfix's
    # content filter client (PEER) may relay, and it is the known upstream
    # whose XFORWARD names the original client.
    smtp = {"smtp_allow_client_ip": PEER, "known_hosts": PEER,
            "local_domains": "local.test",
            "downstream_smtp_server_addr": PEER, "downstream_smtp_server_port": 10026}
    with SmtpGateway(dataplane_bin, str(tmp_path_factory.mktemp("smtpgw")), smtp=smtp,
                     subnet=SUBNET) as gw:
        yield gw


@pytest.fixture
def pf_imss(cf_gw):
    uid, gid = postfix_ids()
    pf = Postfix(cf_gw.ns, f"{PEER}:2525", {
        "myhostname": "mta.test",
        "content_filter": f"imss:[{GW}]:10025",
        "virtual_mailbox_domains": "local.test",
        "virtual_mailbox_base": "{dir}/mail",
        "virtual_mailbox_maps": "static:box/",
        "virtual_uid_maps": f"static:{uid}",
        "virtual_gid_maps": f"static:{gid}",
        "virtual_minimum_uid": "1",
    }, master=MASTER_IMSS)
    os.makedirs(os.path.join(pf.dir, "mail"))
    os.chown(os.path.join(pf.dir, "mail"), uid, gid)
    with pf:
        pf.maildir = os.path.join(pf.dir, "mail", "box")
        yield pf


def smtp_source(ns, path, rcpt, count, port, sessions=1):
    return run(["smtp-source", "-N", "-s", str(sessions), "-m", str(count), "-F", path,
                "-f", "a@ext.test", "-t", rcpt, "-M", "src.test", f"{PEER}:{port}"],
               netns=str(ns), check=False, timeout=300)


def originals(gw, paths):
    """What smtp-source really sends for each file (it also appends an
    empty line of its own after the file): one message of each to a
    scripted sink, which records the content after dot-unstuffing."""
    out = []
    with PySink(gw.ns, PEER, 2600) as sink:
        for i, p in enumerate(paths):
            r = smtp_source(gw.ns, p, f"f{i}@local.test", 1, 2600)
            assert r.returncode == 0, r.stderr
            out.append(sink.wait_messages(i + 1)[i].data)
    return out


def split_trace(data):
    """(names of the leading trace header fields, the rest)."""
    lines = data.split(b"\n")
    names, i = [], 0
    while i < len(lines):
        m = re.match(rb"([A-Za-z-]+):", lines[i])
        if not m or m.group(1).decode().lower() not in TRACE:
            break
        names.append(m.group(1).decode().lower())
        i += 1
        while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
            i += 1
    return names, b"\n".join(lines[i:])


def wait_until(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(what())
        time.sleep(0.1)     # polling a directory; the deadline bounds it


def first_diff(a, b):
    n = next((i for i in range(min(len(a), len(b))) if a[i] != b[i]), min(len(a), len(b)))
    return (f"lengths {len(a)} (delivered) vs {len(b)} (sent), first difference at "
            f"byte {n}: delivered {a[max(0, n - 40):n + 40]!r} sent {b[max(0, n - 40):n + 40]!r}")


def test_imss_sandwich_2000_exactly_once_byte_identical(cf_gw, pf_imss, tmp_path):
    # Postfix's daemons (user postfix) do not read these; smtp-source (root) does.
    paths = []
    for i, text in enumerate(message_files()):
        p = tmp_path / f"msg{i}.txt"
        p.write_bytes(text.encode())
        paths.append(str(p))
    sent = originals(cf_gw, paths)
    for text, data in zip(message_files(), sent):
        assert data.startswith(text.encode().replace(b"\n", b"\r\n")), data[:200]
    # Maildir files use LF line ends (virtual(8) stores lines, not CRLF).
    want = [hashlib.sha256(d.replace(b"\r\n", b"\n")).hexdigest() for d in sent]
    assert len(set(want)) == RUNS
    st0 = cf_gw.smtp_stats()

    t0 = time.monotonic()
    results = [None] * RUNS

    def source(i):
        results[i] = smtp_source(cf_gw.ns, paths[i], f"f{i}@local.test", PER_RUN, 2525,
                                 SESSIONS)
    threads = [threading.Thread(target=source, args=(i,)) for i in range(RUNS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        assert r.returncode == 0, (r.stdout, r.stderr)
    t_src = time.monotonic() - t0

    total = RUNS * PER_RUN
    wait_until(lambda: len(maildir_files(pf_imss.maildir)) >= total, 120,
               lambda: f"{len(maildir_files(pf_imss.maildir))} of {total} delivered; "
                       f"queue {pf_imss.queue_count()}\n" + pf_imss.proc.tail(40))
    wait_until(lambda: pf_imss.queue_count() == 0, 60,
               lambda: f"queue not empty: {pf_imss.queue_count()}\n" + pf_imss.proc.tail(40))
    t_all = time.monotonic() - t0

    files = maildir_files(pf_imss.maildir)
    seen = {}
    bad = []
    for f in files:
        data = open(f, "rb").read()
        m = re.search(rb"^X-Original-To: (\d+)f(\d)@local\.test$", data, re.M)
        assert m, data[:600]
        key = (int(m.group(2)), int(m.group(1)))
        seen.setdefault(key, []).append(f)
        names, rest = split_trace(data)
        # One Received per Postfix smtpd (2525, then 10026): the gateway
        # adds no header, and nothing else was inserted at the top.
        assert sorted(names) == sorted(["return-path", "x-original-to", "delivered-to",
                                        "received", "received"]), (names, data[:800])
        if hashlib.sha256(rest).hexdigest() != want[key[0]]:
            bad.append((f, first_diff(rest, sent[key[0]].replace(b"\r\n", b"\n"))))
    assert not bad, f"{len(bad)} messages changed; first: {bad[0]}"
    dups = {k: v for k, v in seen.items() if len(v) > 1}
    assert not dups, f"{len(dups)} duplicated, e.g. {list(dups.items())[:3]}"
    expected = {(i, n) for i in range(RUNS) for n in range(1, PER_RUN + 1)}
    assert set(seen) == expected, (sorted(expected - set(seen))[:10],
                                   sorted(set(seen) - expected)[:10])
    assert len(files) == total

    # Postfix's view: every message went through the gateway once and was
    # delivered to the Maildir once; nothing deferred, bounced or left.
    log = pf_imss.proc.lines["stdout"]
    via_gw = [l for l in log if re.search(rf"relay={re.escape(GW)}\[{re.escape(GW)}\]:10025,"
                                         r".* status=sent", l)]
    to_box = [l for l in log if "relay=virtual" in l and "status=sent" in l]
    assert len(via_gw) == total and len(to_box) == total, (len(via_gw), len(to_box))
    assert not [l for l in log if re.search(r"status=(deferred|bounced)", l)]
    assert pf_imss.queue_count() == 0
    # The second hop was told the original client by XFORWARD.
    assert any(re.search(rf"client=\S+\[{re.escape(GW)}\], orig_client=\S+\[{re.escape(PEER)}\]",
                         l) for l in log)

    st = cf_gw.smtp_stats()
    d = {k: st[k] - st0[k] for k in ("messages_received", "messages_delivered",
                                      "messages_tempfailed", "messages_rejected")}
    assert d == {"messages_received": total, "messages_delivered": total,
                 "messages_tempfailed": 0, "messages_rejected": 0}, d
    print(f"\n{total} messages: smtp-source done in {t_src:.1f} s, all delivered and "
          f"queue empty after {t_all:.1f} s")
