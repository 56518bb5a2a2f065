"""popnetd's status socket and what popctl shows from it; drift made with `wg set` is reverted within 2 s.

The socket is <netd.run_directory>/popnetd.sock: root-only, a Unix socket (popnetd listens on no network socket),
one JSON document per connection. `popctl status` and the live columns of `popctl peer list` read it.
"""

from __future__ import annotations

import os
import re
import stat
import time
from datetime import datetime, timezone
from pathlib import Path

from harness.demo import Demo, status_document
from harness.processes import describe, ns_run, run, wait_for
from harness.wireguard import pop_peer_keys, pop_wg

DRIFT_DEADLINE = 2.0


def _popnetd_pid(demo: Demo) -> int:
    return int((demo.demo_dir / "pids" / "popnetd.pid").read_text())


def test_the_status_socket_is_root_only_and_popnetd_listens_on_no_network_socket(demo: Demo) -> None:
    path = demo.demo_dir / "run" / "popnetd.sock"
    info = path.lstat()
    assert stat.S_ISSOCK(info.st_mode), f"{path} is not a socket"
    assert stat.S_IMODE(info.st_mode) == 0o600 and info.st_uid == 0, oct(info.st_mode)

    pid = _popnetd_pid(demo)
    # Every TCP, UDP and raw socket of both families, listening or not: popnetd holds none.
    inet = ns_run(demo.pop_ns, ["ss", "-Hanp", "-tuw", "-f", "inet", "-f", "inet6"], timeout=10)
    assert inet.returncode == 0, describe(inet)
    assert f"pid={pid}," not in inet.stdout, f"popnetd (pid {pid}) has a network socket:\n{inet.stdout}"
    unix = ns_run(demo.pop_ns, ["ss", "-Hlxp"], timeout=10)
    assert any(str(path) in line and f"pid={pid}," in line for line in unix.stdout.splitlines()), unix.stdout


def test_popctl_status_shows_backend_interface_counts_and_last_reconcile(demo: Demo) -> None:
    document = status_document(demo)
    assert document["backend"] in ("userspace", "kernel"), document
    assert document["interface"] == "wg-edge" and document["listen_port"] == 51820
    assert document["last_error"] is None, document["last_error"]
    assert document["peers_desired"] == document["peers_on_device"] == len(pop_peer_keys(demo)), document
    last = datetime.fromisoformat(document["last_reconcile"].replace("Z", "+00:00"))
    # Reconciled at least every netd.reconcile_interval_s (1 s by default).
    assert (datetime.now(timezone.utc) - last).total_seconds() < 5, document["last_reconcile"]
    assert "PrivateKey" not in str(document) and "preshared" not in str(document).lower()

    text = demo.popctl_ok("status").stdout
    for label in ("backend", "interface", "listen port", "peers", "last reconcile", "last error", "drift repairs"):
        assert re.search(rf"^{label}\s+\S", text, re.M), f"{label!r} missing:\n{text}"
    assert re.search(r"^last error\s+none$", text, re.M), text


def test_peer_list_shows_handshake_endpoint_and_traffic(demo: Demo) -> None:
    [laptop] = [p for p in demo.live_peers() if p["name"] == demo.env["PEER_NAME"]]
    assert laptop["last_handshake"] is not None, laptop
    assert laptop["endpoint"].startswith("198.51.100.10:"), laptop
    assert laptop["rx_bytes"] > 0 and laptop["tx_bytes"] > 0, laptop
    result = demo.popctl_ok("peer", "list")
    header, *rows = result.stdout.splitlines()
    assert re.search(r"EXPIRES.*LAST HANDSHAKE\s+ENDPOINT\s+RX\s+TX$", header), header
    [row] = [r for r in rows if r.startswith(demo.env["PEER_NAME"] + " ")]
    assert "198.51.100.10:" in row and " ago " in row, row
    assert "not reachable" not in result.stderr, result.stderr


def test_peer_list_without_popnetd_shows_dashes_and_says_why(demo: Demo, tmp_path: Path) -> None:
    # The same registry, but a run directory where no popnetd listens.
    config = Path(demo.config).read_text()
    elsewhere = re.sub(r'^run_directory = .*$', f'run_directory = "{tmp_path}"', config, flags=re.M)
    assert elsewhere != config
    (tmp_path / "popgate.toml").write_text(elsewhere)
    result = run([str(demo.bin / "popctl"), "peer", "list", "--config", str(tmp_path / "popgate.toml")], timeout=30)
    assert result.returncode == 0, describe(result)
    assert "popnetd is not reachable" in result.stderr, describe(result)
    [row] = [r for r in result.stdout.splitlines() if r.startswith(demo.env["PEER_NAME"] + " ")]
    assert row.split()[-4:] == ["-", "-", "-", "-"], row
    status = run([str(demo.bin / "popctl"), "status", "--config", str(tmp_path / "popgate.toml")], timeout=30)
    assert status.returncode == 1 and "popnetd is not running" in status.stderr, describe(status)


def _key_pair() -> tuple[str, str]:
    private = run(["wg", "genkey"], timeout=10).stdout.strip()
    return private, run(["wg", "pubkey"], input=private + "\n", timeout=10).stdout.strip()


def _seconds_until(predicate, *, since: float, within: float) -> float | None:
    if wait_for(predicate, timeout=within - (time.monotonic() - since), interval=0.05):
        return time.monotonic() - since
    return None


def test_drift_made_with_wg_set_is_reverted_within_two_seconds_and_counted(demo: Demo, tmp_path: Path) -> None:
    _, registered = _key_pair()
    demo.popctl_ok("peer", "add", "--tenant", demo.tenant, "--name", "drifter", "--public-key", registered,
                   "--output", str(tmp_path / "drifter.conf"))
    try:
        assert wait_for(lambda: registered in pop_peer_keys(demo), timeout=5), "the registered peer never arrived"
        repairs = status_document(demo)["drift_repairs"]

        # A registered peer removed behind popnetd's back comes back.
        removed = pop_wg(demo, "set", "wg-edge", "peer", registered, "remove")
        since = time.monotonic()
        assert removed.returncode == 0, describe(removed)
        back = _seconds_until(lambda: registered in pop_peer_keys(demo), since=since, within=DRIFT_DEADLINE)
        assert back is not None, f"the removed peer was not restored within {DRIFT_DEADLINE} s"

        # A peer added behind popnetd's back goes away.
        _, foreign = _key_pair()
        added = pop_wg(demo, "set", "wg-edge", "peer", foreign, "allowed-ips", "10.77.0.250/32")
        since = time.monotonic()
        assert added.returncode == 0, describe(added)
        gone = _seconds_until(lambda: foreign not in pop_peer_keys(demo), since=since, within=DRIFT_DEADLINE)
        assert gone is not None, f"the foreign peer was still there {DRIFT_DEADLINE} s later"

        assert wait_for(lambda: status_document(demo)["drift_repairs"] >= repairs + 2, timeout=2), (
            f"drift_repairs went from {repairs} to {status_document(demo)['drift_repairs']}, expected +2"
        )
        print(f"restored after {back:.2f} s, removed after {gone:.2f} s")
    finally:
        demo.popctl("peer", "revoke", "drifter")
