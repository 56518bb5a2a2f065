"""Revoking a peer cuts it off within 2 s (popnetd removes it from WireGuard; the gateway stops accepting it),
while the other peers go on working."""

from __future__ import annotations

import time

from popgate_harness import Demo, chat, describe, ns_python

MESSAGES = [{"role": "user", "content": "hello"}]
REVOCATION_DEADLINE = 2.0

# Polls from inside the namespace with short timeouts until a request no longer gets any HTTP response, or the
# deadline (CLOCK_MONOTONIC, which every namespace shares) passes. It asks for the model list, which answers in
# milliseconds, so a slow completion is never mistaken for a cut-off.
_POLL_SCRIPT = r"""
import http.client, json, sys, time
a = json.loads(sys.argv[1])
last = None
while True:
    now = time.monotonic()
    if now >= a["deadline"]:
        print(json.dumps({"stopped_after": None, "last": last}))
        break
    try:
        conn = http.client.HTTPConnection(a["host"], a["port"], timeout=max(0.05, min(0.5, a["deadline"] - now)))
        conn.request("GET", "/v1/models", headers={"Authorization": "Bearer " + a["key"]})
        resp = conn.getresponse()
        resp.read()
        conn.close()
        last = "HTTP %d" % resp.status
    except Exception as e:
        print(json.dumps({"stopped_after": time.monotonic() - a["revoked_at"], "last": last,
                          "error": "%s: %s" % (type(e).__name__, e)}))
        break
    time.sleep(0.05)
"""


def test_revoked_peer_is_cut_off_within_two_seconds(demo: Demo) -> None:
    made = demo.demo_sh("client", "pg-client2", "revokee", timeout=90)
    assert made.returncode == 0, describe(made)
    conf = made.stdout.strip().splitlines()[-1]
    assert conf.endswith(".conf"), describe(made)

    before = chat("pg-client2", demo, MESSAGES)
    assert before.status == 200, str(before)

    demo.popctl_ok("peer", "revoke", "revokee")
    revoked_at = time.monotonic()
    host, port = demo.api_url.removeprefix("http://").split(":")
    result = ns_python(
        "pg-client2",
        _POLL_SCRIPT,
        {"host": host, "port": int(port), "key": demo.api_key, "revoked_at": revoked_at,
         "deadline": revoked_at + REVOCATION_DEADLINE},
        timeout=REVOCATION_DEADLINE + 20,
    )
    assert result["stopped_after"] is not None, (
        f"pg-client2 still got answers {REVOCATION_DEADLINE} s after its peer was revoked (last: {result['last']})"
    )

    state = {p["name"]: p["state"] for p in demo.peers()}
    assert "revokee" not in state or state["revokee"] != "active", state

    # The first client is untouched.
    assert chat(demo.client_ns, demo, MESSAGES).status == 200


def test_revoking_an_unknown_peer_fails(demo: Demo) -> None:
    before = demo.peers()
    result = demo.popctl("peer", "revoke", "no-such-peer")
    assert result.returncode == 1, describe(result)
    assert "no-such-peer" in result.stderr, describe(result)
    assert demo.peers() == before

