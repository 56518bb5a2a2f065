"""popnetd owns the demo PoP's nftables policy (table inet popgate in pg-pop): it follows the registry's peers,
ends a revoked peer's connections at once, repairs `nft flush ruleset` within a second, and leaves the node
closed when it dies. The policy's packet-level behaviour is tested on its own in test_firewall.py."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import time

from harness.demo import Demo, status_document
from harness.http import chat
from harness.probes import probe_silence
from harness.processes import clean_env, describe, ns_cmd, ns_run, wait_for

MESSAGES = [{"role": "user", "content": "hello"}]
REPAIR_DEADLINE = 1.0
CONNTRACK_DEADLINE = 0.1


def _peer_set(demo: Demo) -> set[str] | None:
    """The addresses in edge_peers_v4, or None when the set (or the whole table) is missing."""
    result = ns_run(demo.pop_ns, ["nft", "-j", "list", "set", "inet", "popgate", "edge_peers_v4"], timeout=10)
    if result.returncode != 0:
        return None
    return set(re.findall(r'"(\d+\.\d+\.\d+\.\d+)"', result.stdout.split('"elem"', 1)[1])) \
        if '"elem"' in result.stdout else set()


def _live_addresses(demo: Demo) -> set[str]:
    return {p["address"] for p in demo.live_peers()}


def _line(process: subprocess.Popen[str], timeout: float = 10) -> str:
    """The next line `process` writes, or "" if none comes within `timeout`."""
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    return process.stdout.readline() if ready else ""


def _start_popnetd(demo: Demo) -> subprocess.Popen[bytes]:
    """Starts popnetd in the PoP the way demo.sh does, recording its PID where `demo.sh down` finds it."""
    with open(demo.demo_dir / "logs" / "popnetd.log", "ab") as log:
        process = subprocess.Popen(ns_cmd(demo.pop_ns, [str(demo.bin / "popnetd"), "--config", demo.config]),
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=clean_env())
    (demo.demo_dir / "pids" / "popnetd.pid").write_text(f"{process.pid}\n")
    return process


def _popnetd_log(demo: Demo) -> str:
    return (demo.demo_dir / "logs" / "popnetd.log").read_text(errors="replace")


def test_the_policy_holds_exactly_the_live_peers_and_status_says_so(demo: Demo) -> None:
    assert wait_for(lambda: _peer_set(demo) == _live_addresses(demo), timeout=5), (
        f"edge_peers_v4 {_peer_set(demo)} != live peers {_live_addresses(demo)}"
    )
    document = status_document(demo)
    assert document["firewall"] is True and document["firewall_error"] is None, document
    assert document["firewall_peers"] == len(_live_addresses(demo)), document
    text = demo.popctl_ok("status").stdout
    assert re.search(r"^firewall\s+on, \d+ peers?, \d+ repairs?$", text, re.M), text


def test_a_peer_reaches_the_api_and_nothing_else(demo: Demo) -> None:
    assert chat(demo.client_ns, demo, MESSAGES).status == 200
    for port in (22, 9999):
        result = probe_silence(demo.client_ns, f"http://10.77.0.1:{port}", "", connect_timeout=2, read_timeout=1)
        assert result["outcome"] == "connect failed: TimeoutError: timed out", (port, result)


def test_revoking_a_peer_ends_its_connections_within_100_ms(demo: Demo) -> None:
    made = demo.demo_sh("client", "pg-fwrev", "fwrevokee", timeout=90)
    assert made.returncode == 0, describe(made)
    assert chat("pg-fwrev", demo, MESSAGES).status == 200  # leaves a conntrack entry from its tunnel address
    [peer] = [p for p in demo.live_peers() if p["name"] == "fwrevokee"]
    assert wait_for(lambda: peer["address"] in (_peer_set(demo) or set()), timeout=5)

    offset = len(_popnetd_log(demo))
    demo.popctl_ok("peer", "revoke", "fwrevokee")
    committed = time.monotonic()
    flushed = re.compile(r"conntrack\.deleted=(\d+) peers\.added=0 peers\.removed=1 .*firewall peers changed")
    assert wait_for(lambda: flushed.search(_popnetd_log(demo)[offset:]), timeout=5, interval=0.005), (
        _popnetd_log(demo)[offset:][-2000:]
    )
    elapsed = time.monotonic() - committed
    deleted = int(flushed.search(_popnetd_log(demo)[offset:]).group(1))
    assert deleted >= 1, "the revoked peer's connection was not in conntrack to delete"
    assert elapsed < CONNTRACK_DEADLINE, f"connections ended {elapsed * 1000:.0f} ms after the revocation"
    assert peer["address"] not in (_peer_set(demo) or set())
    print(f"{deleted} connection(s) ended {elapsed * 1000:.1f} ms after the revocation committed")


def test_nft_flush_ruleset_is_repaired_within_a_second_and_counted(demo: Demo) -> None:
    repairs = status_document(demo)["firewall_repairs"]
    expected = _live_addresses(demo)
    flushed = ns_run(demo.pop_ns, ["nft", "flush", "ruleset"], timeout=10)
    since = time.monotonic()
    assert flushed.returncode == 0, describe(flushed)
    assert wait_for(lambda: _peer_set(demo) == expected, timeout=REPAIR_DEADLINE, interval=0.02), (
        f"table inet popgate not back within {REPAIR_DEADLINE} s"
    )
    print(f"repaired after {time.monotonic() - since:.2f} s")
    assert wait_for(lambda: status_document(demo)["firewall_repairs"] > repairs, timeout=2)
    assert chat(demo.client_ns, demo, MESSAGES).status == 200


def test_a_killed_popnetd_leaves_the_node_closed_and_a_restart_changes_nothing(demo: Demo) -> None:
    pid_file = demo.demo_dir / "pids" / "popnetd.pid"
    os.kill(int(pid_file.read_text()), signal.SIGKILL)
    assert wait_for(lambda: not os.path.exists(f"/proc/{pid_file.read_text().strip()}/status")
                    or "State:\tZ" in open(f"/proc/{pid_file.read_text().strip()}/status").read(), timeout=5)
    expected = _live_addresses(demo)
    assert _peer_set(demo) == expected, "the policy went with popnetd"
    outsider = probe_silence(demo.outside_ns, demo.api_url, "", connect_timeout=2, read_timeout=1)
    assert outsider["outcome"] == "connect failed: TimeoutError: timed out", outsider

    # Every change to the ruleset while popnetd starts again. nft monitor gives no sign that it listens, so
    # probe tables are added until it reports one; their lines never mention popgate.
    monitor = subprocess.Popen(ns_cmd(demo.pop_ns, ["stdbuf", "-oL", "nft", "monitor", "ruleset"]),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=clean_env())
    restarted = None
    try:
        listening = False
        for attempt in range(50):
            ns_run(demo.pop_ns, ["nft", "add", "table", "inet", f"pgprobe{attempt}"], timeout=10)
            ns_run(demo.pop_ns, ["nft", "delete", "table", "inet", f"pgprobe{attempt}"], timeout=10)
            if "pgprobe" in _line(monitor, timeout=0.2):
                listening = True
                break
        assert listening, "nft monitor never reported a change"

        offset = len(_popnetd_log(demo))
        restarted = _start_popnetd(demo)
        assert wait_for(lambda: "firewall already in place" in _popnetd_log(demo)[offset:], timeout=15), (
            _popnetd_log(demo)[offset:][-2000:]
        )
        assert wait_for(lambda: status_document(demo)["last_reconcile"] is not None, timeout=10)
    finally:
        monitor.send_signal(signal.SIGTERM)
        rest, _ = monitor.communicate(timeout=10)
        if restarted is None:
            _start_popnetd(demo)  # the rest of the suite needs one
    assert "popgate" not in rest, f"the restarted popnetd changed the ruleset:\n{rest}"
    assert _peer_set(demo) == expected
    assert chat(demo.client_ns, demo, MESSAGES).status == 200


def test_a_bad_firewall_section_is_refused_naming_the_key_before_anything_changes(demo: Demo, tmp_path) -> None:
    before = ns_run(demo.pop_ns, ["nft", "list", "ruleset"], timeout=10).stdout
    config = open(demo.config).read()
    # Its own run directory, so the running popnetd's lock does not decide the outcome.
    config = re.sub(r'^run_directory = .*$', f'run_directory = "{tmp_path}/run"', config, flags=re.M)
    cases = {
        "firewall.uplink_interface": config.replace('uplink_interface = "br-up"', 'uplink_interface = "nosuch0"'),
        # The demo's management prefix with host bits set.
        "firewall.management_prefixes": config.replace(
            'management_prefixes = ["192.0.2.0/24"]', 'management_prefixes = ["192.0.2.7/24"]'),
    }
    for key, text in cases.items():
        assert text != config, key
        path = tmp_path / "popgate.toml"
        path.write_text(text)
        result = ns_run(demo.pop_ns, [str(demo.bin / "popnetd"), "--config", str(path)], timeout=30)
        assert result.returncode != 0, describe(result)
        assert key in result.stderr and "firewall" in result.stderr, describe(result)
    assert ns_run(demo.pop_ns, ["nft", "list", "ruleset"], timeout=10).stdout == before
    assert chat(demo.client_ns, demo, MESSAGES).status == 200


def test_a_peer_cannot_reach_another_peer_or_the_backbone_even_by_widening_its_own_tunnel(demo: Demo) -> None:
    made = demo.demo_sh("client", "pg-fwpeer", "fwpeerb", timeout=90)
    assert made.returncode == 0, describe(made)
    [other] = [p for p in demo.live_peers() if p["name"] == "fwpeerb"]
    pop_key = status_document(demo)["public_key"]
    # What a hostile client can do on its own side: send anything into its tunnel.
    widen = [
        ["wg", "set", "pgc0", "peer", pop_key, "allowed-ips", "10.77.0.0/24,10.99.0.0/30"],
        ["ip", "route", "replace", "10.77.0.0/24", "dev", "pgc0"],
        ["ip", "route", "replace", "10.99.0.0/30", "dev", "pgc0"],
    ]
    try:
        for step in widen:
            result = ns_run(demo.client_ns, step, timeout=10)
            assert result.returncode == 0, describe(result)
        # Another peer (forwarded: dropped), the PoP's backbone address (local, but not the API's address: dropped,
        # not reset) and the worker behind it (forwarded: dropped).
        for target in (f"http://{other['address']}:8080", "http://10.99.0.1:8080", "http://10.99.0.2:8000"):
            result = probe_silence(demo.client_ns, target, "", connect_timeout=2, read_timeout=1)
            assert result["outcome"] == "connect failed: TimeoutError: timed out", (target, result)
        assert chat(demo.client_ns, demo, MESSAGES).status == 200
    finally:
        ns_run(demo.client_ns, ["ip", "route", "del", "10.99.0.0/30", "dev", "pgc0"], timeout=10)
        ns_run(demo.client_ns, ["ip", "route", "del", "10.77.0.0/24", "dev", "pgc0"], timeout=10)
        ns_run(demo.client_ns, ["wg", "set", "pgc0", "peer", pop_key, "allowed-ips", "10.77.0.1/32"], timeout=10)
        demo.popctl("peer", "revoke", "fwpeerb")
    assert chat(demo.client_ns, demo, MESSAGES).status == 200
