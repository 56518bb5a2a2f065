"""Extra client namespaces on the demo's uplink, and ending what runs in a namespace of one's own."""

from __future__ import annotations

import os
from pathlib import Path

import topology
from harness.demo import Demo
from harness.processes import describe, ns_run, run, wait_for
from harness.wireguard import pop_peer_keys, public_key_of_config, remove_stale_wireguard_socket


class ClientNamespace:
    """A namespace on the demo's uplink that brings a client tunnel up from a given wg-quick config.

    It does what `demo.sh client` does (topology.py's extra client on the uplink bridge, then wg-quick once the PoP
    holds the key) without registering a peer, so a test can use a config made by `popctl peer add --expires` or
    `popctl peer rotate`. The uplink hosts are taken from the top of the /24 (demo.sh counts up from .11), and
    the interface is named after the config file (wg-quick's rule), which must be unique machine-wide because
    wireguard-go's control socket lives in /var/run/wireguard. Use it as a context manager: everything it made is
    removed on exit, also after a failure.
    """

    def __init__(self, demo: Demo, ns: str, host: int, conf: Path) -> None:
        assert 200 <= host <= 254, "extra test clients use uplink hosts .200 to .254"
        self.demo, self.ns, self.host, self.conf = demo, ns, host, conf
        self.site = topology.Site.recorded(topology.DEMO_PREFIX) or topology.Site()
        self.interface = conf.stem

    def __enter__(self) -> "ClientNamespace":
        self._remove()  # left over by a run that was killed
        try:
            self.site.add_client(self.ns, self.host)
        except BaseException:
            self._remove()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self._remove()

    def tunnel_up(self, *, timeout: float = 15) -> None:
        """wg-quick up, once popnetd has put the config's key on the PoP (an earlier handshake would be dropped,
        and WireGuard retries only after 5 s)."""
        key = public_key_of_config(self.conf)
        assert wait_for(lambda: key in pop_peer_keys(self.demo), timeout=timeout), f"{key} never reached wg-edge"
        result = ns_run(self.ns, ["wg-quick", "up", str(self.conf)], timeout=30)
        assert result.returncode == 0, describe(result)

    def _remove(self) -> None:
        if topology.namespace_exists(self.ns) and self.conf.exists():
            ns_run(self.ns, ["wg-quick", "down", str(self.conf)], timeout=30)
        # Whatever still runs in the namespace is ours (wireguard-go started by wg-quick).
        stop_processes_in(self.ns)
        self.site.remove_client(self.ns)
        remove_stale_wireguard_socket(self.interface)


def stop_processes_in(ns: str) -> str | None:
    """Sends SIGTERM to every process in network namespace `ns` and waits up to 5 s for them to go: only for a
    namespace of the caller's own, where whatever runs is the caller's. Returns the PIDs still in it after those
    5 s (`ip netns pids`), None when none were left (or there is no such namespace)."""
    if not topology.namespace_exists(ns):
        return None
    for pid in run(["ip", "netns", "pids", ns], timeout=10).stdout.split():
        try:
            os.kill(int(pid), 15)
        except ProcessLookupError:
            pass
    if wait_for(lambda: not run(["ip", "netns", "pids", ns], timeout=10).stdout.strip(), timeout=5):
        return None
    return run(["ip", "netns", "pids", ns], timeout=10).stdout


def take_down(layout: "topology.Site | topology.Firewall | topology.Container | topology.Lone") -> list[str]:
    """Ends what still runs in the layout's namespaces (the caller's: daemons, wireguard-go started by popnetd or
    wg-quick), then removes the layout; returns the problems (processes that would not end)."""
    namespaces = layout.topology().namespaces
    if isinstance(layout, topology.Site):
        namespaces = [*(c.ns for c in layout.extra_clients()), *namespaces]
    problems = [f"processes still in {ns}: {left}" for ns in namespaces if (left := stop_processes_in(ns))]
    return problems + layout.down()
