"""Revoking a peer cuts it off within 2 s (popnetd removes it from WireGuard; the gateway stops accepting it),
while the other peers go on working."""

from __future__ import annotations

import time

from harness.demo import Demo
from harness.http import chat
from harness.probes import seconds_until_cut_off
from harness.processes import describe

MESSAGES = [{"role": "user", "content": "hello"}]
REVOCATION_DEADLINE = 2.0

def test_revoked_peer_is_cut_off_within_two_seconds(demo: Demo) -> None:
    made = demo.demo_sh("client", "pg-client2", "revokee", timeout=90)
    assert made.returncode == 0, describe(made)
    conf = made.stdout.strip().splitlines()[-1]
    assert conf.endswith(".conf"), describe(made)

    before = chat("pg-client2", demo, MESSAGES)
    assert before.status == 200, str(before)

    demo.popctl_ok("peer", "revoke", "revokee")
    stopped = seconds_until_cut_off("pg-client2", demo, since=time.monotonic(), within=REVOCATION_DEADLINE,
                                    request_timeout=0.5)
    assert stopped is not None, f"pg-client2 still got answers {REVOCATION_DEADLINE} s after its peer was revoked"

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

