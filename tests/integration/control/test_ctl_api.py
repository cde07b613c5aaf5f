# SPDX-License-Identifier: BSD-3-Clause
"""The REST API and mxgatectl against one running mxgate-control: bearer
authentication, policy CRUD, import validation (malformed JSON, invalid
rules named by field, all-or-nothing), export/import round trip, lists,
quarantine and message-log search."""

import base64
import json
import os

import pytest

from ctlenv import Control  # noqa: F401  (fixtures come from conftest)


@pytest.fixture
def c(shared_control):
    return shared_control


def write(c, name, obj_or_text):
    p = os.path.join(c.tmp, name)
    with open(p, "w") as f:
        f.write(obj_or_text if isinstance(obj_or_text, str) else json.dumps(obj_or_text))
    return p


def test_401_without_token(c):
    for method, path in (("GET", "/status"), ("GET", "/policies"), ("DELETE", "/policies/1"),
                         ("POST", "/config/import"), ("GET", "/no/such/path")):
        code, j = c.api(method, path, token=None)
        assert code == 401, (method, path)
        assert j == {"error": "missing or invalid bearer token"}
    code, _ = c.api("GET", "/status", token="mxg_" + "0" * 64)
    assert code == 401
    r = c.ctl("--token", "wrong", "status")
    assert r.returncode == 1 and "invalid bearer token" in r.stderr
    code, _ = c.api("GET", "/status")
    assert code == 200


def test_unknown_endpoint_and_method(c):
    assert c.api("GET", "/nothing")[0] == 404
    assert c.api("DELETE", "/policies")[0] == 405
    code, j = c.api("GET", "/policies/abc")
    assert code == 400 and j["errors"][0]["field"] == "id"


def test_policy_crud_via_mxgatectl(c):
    v0 = c.status()["policy_version"]
    rule = {"name": "Tag bulk mail", "scope": "inbound",
            "conditions": [{"type": "header", "name": "Precedence", "regex": "^bulk$"}],
            "actions": [{"type": "tag_subject", "tag": "[BULK]"},
                        {"type": "insert_header", "name": "X-Mxgate-Bulk", "value": "yes"}]}
    r = c.ctl("policy", "add", write(c, "rule.json", rule))
    assert r.returncode == 0, r.stderr
    rid = int(r.stdout.split()[2])
    r = c.ctl("policy", "show", str(rid))
    assert r.returncode == 0
    shown = json.loads(r.stdout)
    assert shown["name"] == "Tag bulk mail" and shown["scope"] == "inbound"
    assert shown["conditions"] == rule["conditions"] and shown["actions"] == rule["actions"]
    assert shown["enabled"] is True and shown["exceptions"] == []
    v1 = c.status()["policy_version"]
    assert v1 > v0

    # edit: the output of "show", changed, goes back in as is
    shown["scope"] = "both"
    shown["enabled"] = False
    r = c.ctl("policy", "edit", str(rid), write(c, "edit.json", shown))
    assert r.returncode == 0, r.stderr
    code, got = c.api("GET", f"/policies/{rid}")
    assert code == 200 and got["scope"] == "both" and got["enabled"] is False
    v2 = c.status()["policy_version"]
    assert v2 > v1

    r = c.ctl("policy", "list")
    assert r.returncode == 0 and "Tag bulk mail" in r.stdout

    # same name twice: conflict named by field
    r = c.ctl("policy", "add", write(c, "rule.json", rule))
    assert r.returncode == 1 and "name: already used" in r.stderr

    r = c.ctl("policy", "delete", str(rid))
    assert r.returncode == 0
    r = c.ctl("policy", "show", str(rid))
    assert r.returncode == 1 and "no such rule" in r.stderr
    assert c.status()["policy_version"] > v2
    r = c.ctl("policy", "show", "x1")
    assert r.returncode == 2


def test_policy_add_invalid_rule_names_field(c):
    bad = {"name": "bad", "conditions": [{"type": "subject", "regex": "(unclosed"}],
           "actions": [{"type": "deliver"}]}
    r = c.ctl("policy", "add", write(c, "bad.json", bad))
    assert r.returncode == 1
    assert "conditions[0].regex: does not compile" in r.stderr
    code, j = c.api("POST", "/policies", {"name": "x", "conditions": [{"type": "sender",
                    "list": "no_such_list"}], "actions": [{"type": "deliver"}]})
    assert code == 400 and j["errors"][0]["field"] == "conditions[0].list"
    code, j = c.api("PUT", "/policies/1", {"id": 2, "name": "x",
                    "conditions": [{"type": "any"}], "actions": [{"type": "log"}]})
    assert code == 400 and j["errors"][0]["field"] == "id"


def test_import_rejects_malformed_json(c):
    before = c.api("GET", "/config/export")[1]
    p = write(c, "malformed.json", '{"version": 1, "policies": [\n  {"name": "x",}\n]}')
    r = c.ctl("policy", "import", p)
    assert r.returncode == 2
    assert "invalid JSON at line 2" in r.stderr
    code, j = c.api("POST", "/config/import", raw='{"version": 1, "policies": [')
    assert code == 400 and j["error"].startswith("invalid JSON at line 1")
    assert c.api("GET", "/config/export")[1] == before


def test_import_rejects_invalid_rule_as_a_whole(c):
    before = c.api("GET", "/config/export")[1]
    doc = json.loads(json.dumps(before))
    doc["policies"].append({"name": "ok rule", "conditions": [{"type": "any"}],
                            "actions": [{"type": "log"}]})
    doc["policies"].append({"name": "broken", "conditions": [{"type": "virus"}],
                            "actions": [{"type": "quarantine", "area": "virus"},
                                        {"type": "launch_missiles"}]})
    n = len(doc["policies"]) - 1
    r = c.ctl("policy", "import", write(c, "invalid.json", doc))
    assert r.returncode == 1
    assert f"policies[{n}].actions[1].type: unknown action type 'launch_missiles'" in r.stderr
    # nothing of it applied, not even the valid rule
    assert c.api("GET", "/config/export")[1] == before
    doc["policies"].pop()
    doc["lists"][0]["entries"] = ["not an address"]
    code, j = c.api("POST", "/config/import", doc)
    assert code == 400 and j["errors"][0]["field"] == "lists[0].entries[0]"


def test_export_import_idempotent(c):
    # make the configuration non-trivial first
    code, _ = c.api("PUT", "/lists/vips", {"kind": "approved_senders",
                                           "entries": ["ceo@example.com", "*@partner.example"]})
    assert code == 200
    code, _ = c.api("POST", "/policies", {
        "name": "VIPs skip tagging", "position": 5, "scope": "inbound", "match": "any",
        "conditions": [{"type": "sender", "list": "vips"}],
        "exceptions": [{"type": "virus"}], "actions": [{"type": "deliver"}], "stop": True})
    assert code == 201
    out1 = os.path.join(c.tmp, "export1.json")
    out2 = os.path.join(c.tmp, "export2.json")
    assert c.ctl("policy", "export", out1).returncode == 0
    v = c.status()["policy_version"]
    r = c.ctl("policy", "import", out1)
    assert r.returncode == 0, r.stderr
    assert c.status()["policy_version"] > v, "an import is a new policy version"
    assert c.ctl("policy", "export", out2).returncode == 0
    with open(out1) as f1, open(out2) as f2:
        a, b = f1.read(), f2.read()
    assert a == b
    doc = json.loads(a)
    assert any(p["name"] == "VIPs skip tagging" for p in doc["policies"])
    assert {"name": "vips", "kind": "approved_senders", "description": "",
            "entries": ["*@partner.example", "ceo@example.com"]} in doc["lists"]


def test_lists(c):
    p = write(c, "list.json", {"kind": "blocked_senders", "entries": ["spam@bad.example"]})
    r = c.ctl("list", "set", "blocked_senders", p)
    assert r.returncode == 0, r.stderr
    r = c.ctl("list", "show", "blocked_senders")
    assert json.loads(r.stdout)["entries"] == ["spam@bad.example"]
    r = c.ctl("list", "set", "newlist", write(c, "nokind.json", {"entries": []}))
    assert r.returncode == 1 and "kind: required" in r.stderr
    r = c.ctl("list", "show", "absent")
    assert r.returncode == 1 and "no such list" in r.stderr
    r = c.ctl("list")
    assert r.returncode == 0 and "blocked_senders" in r.stdout


def test_quarantine(c):
    msg = b"From: a@x.example\r\nSubject: infected\r\n\r\nX5O!P%@AP\r\n"
    qid = c.psql("INSERT INTO quarantine (expires_at, area, reason, sender, recipients, "
                 "subject, message_id, size, message) VALUES (now() + interval '1 day', "
                 "'virus', 'EICAR', 'a@x.example', '{b@y.example}', 'infected', '<m1@x>', "
                 f"{len(msg)}, decode('{base64.b64encode(msg).decode()}', 'base64')) "
                 "RETURNING id").splitlines()[0]
    r = c.ctl("quarantine", "list", "--sender", "A@X.example")
    assert r.returncode == 0 and "infected" in r.stdout
    code, j = c.api("GET", "/quarantine?recipient=b@y.example&area=virus")
    assert code == 200 and [q["id"] for q in j] == [int(qid)]
    assert c.api("GET", "/quarantine?recipient=nobody@y.example")[1] == []
    code, j = c.api("GET", "/quarantine?since=yesterday")
    assert code == 400 and j["errors"][0]["field"] == "since"
    raw = os.path.join(c.tmp, "q.eml")
    r = c.ctl("quarantine", "show", qid, "--raw", raw)
    assert r.returncode == 0 and json.loads(r.stdout)["reason"] == "EICAR"
    with open(raw, "rb") as f:
        assert f.read() == msg
    assert c.ctl("quarantine", "delete", qid).returncode == 0
    r = c.ctl("quarantine", "show", qid)
    assert r.returncode == 1 and "no such quarantined message" in r.stderr


def test_log_search(c):
    c.psql("INSERT INTO message_log (ts, msg_uuid, sender, recipient, subject, message_id, "
           "verdict, action, rule_name) VALUES "
           "(now(), gen_random_uuid(), 's1@x.example', 'r1@y.example', 'Quarterly report', "
           "'<a@x>', 'clean', 'deliver', 'Log everything'), "
           "(now() - interval '1 hour', gen_random_uuid(), 's2@x.example', 'r1@y.example', "
           "'You won 100% free', '<b@x>', 'virus', 'quarantine', 'Quarantine viruses')")
    r = c.ctl("log", "search", "--recipient", "r1@y.example")
    assert r.returncode == 0 and "Quarterly" in r.stdout and "You won" in r.stdout
    r = c.ctl("--json", "log", "search", "--verdict", "virus")
    rows = json.loads(r.stdout)
    assert [x["message_id"] for x in rows] == ["<b@x>"]
    assert rows[0]["rule_name"] == "Quarantine viruses"
    rows = json.loads(c.ctl("--json", "log", "search", "--subject", "100%").stdout)
    assert [x["message_id"] for x in rows] == ["<b@x>"], "% is literal, not a wildcard"
    rows = json.loads(c.ctl("--json", "log", "search", "--message-id", "<a@x>").stdout)
    assert len(rows) == 1 and rows[0]["sender"] == "s1@x.example"
    rows = json.loads(c.ctl("--json", "log", "search", "--sender", "s2@x.example",
                            "--until", "2000-01-01").stdout)
    assert rows == []
    r = c.ctl("log", "search", "--colour", "red")
    assert r.returncode == 2
    code, j = c.api("GET", "/logs?colour=red")
    assert code == 400 and j["errors"][0]["field"] == "colour"
