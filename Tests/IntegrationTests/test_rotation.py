"""`popctl peer rotate`: the old config keeps working until the new one handshakes; then, within 2 s, the old key
stops working and the new one takes over the same tunnel address."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from harness.demo import Demo
from harness.http import chat
from harness.namespaces import ClientNamespace
from harness.probes import seconds_until_cut_off
from harness.processes import describe, ns_run, wait_for
from harness.wireguard import pop_allowed_ips, pop_handshakes, pop_peer_keys, public_key_of_config

MESSAGES = [{"role": "user", "content": "hello"}]
CUT_OFF_DEADLINE = 2.0


def test_rotation_hands_the_address_to_the_new_key_on_its_first_handshake(demo: Demo) -> None:
    made = demo.demo_sh("client", "pg-rot-old", "rotee", timeout=90)
    assert made.returncode == 0, describe(made)
    old_conf = Path(made.stdout.strip().splitlines()[-1])
    old_key = public_key_of_config(old_conf)
    [before] = [p for p in demo.peers() if p["name"] == "rotee"]

    new_conf = demo.demo_dir / "pgrot1.conf"
    rotated = demo.popctl_ok("peer", "rotate", "rotee", "--output", str(new_conf))
    assert "new public key" in rotated.stderr and "PrivateKey" not in rotated.stdout + rotated.stderr, describe(rotated)
    new_key = public_key_of_config(new_conf)
    assert new_conf.stat().st_mode & 0o777 == 0o600
    assert new_conf.read_text().count("Address = " + before["address"] + "/32") == 1

    # During the rotation the device holds both keys; only the old one has the address.
    assert wait_for(lambda: new_key in pop_peer_keys(demo), timeout=5), "the new key never reached wg-edge"
    allowed = pop_allowed_ips(demo)
    assert allowed[old_key] == before["address"] + "/32" and allowed[new_key] == "(none)", allowed
    [pending] = [p for p in demo.peers() if p["name"] == "rotee"]
    assert pending["public_key"] == old_key and pending["rotation"]["public_key"] == new_key, pending
    assert chat("pg-rot-old", demo, MESSAGES).status == 200, "the old config stopped working before the new was used"

    with ClientNamespace(demo, "pg-rot-new", 202, new_conf) as client:
        client.tunnel_up()
        # A datagram makes the new client initiate its handshake now (the PoP drops the datagram itself: the new
        # key has no allowed IPs until the address moves to it).
        nudge = "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('10.77.0.1', 9))"
        ns_run(client.ns, [sys.executable, "-c", nudge], timeout=10)
        assert wait_for(lambda: pop_handshakes(demo).get(new_key, 0) > 0, timeout=10, interval=0.02), (
            "the new config never completed a handshake"
        )
        handshook = time.monotonic()

        stopped = seconds_until_cut_off("pg-rot-old", demo, since=handshook, within=CUT_OFF_DEADLINE)
        assert stopped is not None, f"the old config still worked {CUT_OFF_DEADLINE} s after the new one handshook"
        print(f"old config cut off {stopped:.2f} s after the new one's handshake")

        response = chat(client.ns, demo, MESSAGES)
        assert response.status == 200, str(response)
        assert old_key not in pop_peer_keys(demo)
        assert pop_allowed_ips(demo)[new_key] == before["address"] + "/32"

    [after] = [p for p in demo.peers() if p["name"] == "rotee"]
    assert after["public_key"] == new_key and after["rotation"] is None, after
    assert (after["id"], after["address"], after["tenant"]) == (before["id"], before["address"], before["tenant"])
    assert chat(demo.client_ns, demo, MESSAGES).status == 200


def test_rotating_an_unknown_peer_fails_and_changes_nothing(demo: Demo, tmp_path: Path) -> None:
    before = demo.peers()
    result = demo.popctl("peer", "rotate", "no-such-peer", "--output", str(tmp_path / "x.conf"))
    assert result.returncode == 1 and "no-such-peer" in result.stderr, describe(result)
    assert not (tmp_path / "x.conf").exists()
    bad_grace = demo.popctl("peer", "rotate", demo.env["PEER_NAME"], "--grace", "soon")
    assert bad_grace.returncode == 1 and "--grace" in bad_grace.stderr, describe(bad_grace)
    assert demo.peers() == before
