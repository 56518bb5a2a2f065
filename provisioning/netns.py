"""How the layouts of topology.py are made: network namespaces, bridges, veth pairs, interfaces moved in, routes,
each with one `ip` command, and their removal (deleting a namespace takes its links with it)."""

from __future__ import annotations

import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

TIMEOUT = 15  # s for one `ip` call: it never waits on anything but the kernel


@dataclass(frozen=True)
class End:
    """One end of a veth pair: its name in its namespace, and either addresses or the bridge it is a port of."""

    ns: str
    dev: str
    addresses: tuple[str, ...] = ()  # with their prefix length; IPv6 ones without duplicate address detection
    bridge: str | None = None


@dataclass(frozen=True)
class Veth:
    a: End
    b: End


@dataclass(frozen=True)
class Bridge:
    ns: str
    name: str
    address: str
    mac: str | None = None


@dataclass(frozen=True)
class Moved:
    """An interface something else made in the host's namespace (a container's veth end), moved into `ns`."""

    dev: str
    ns: str
    address: str


@dataclass(frozen=True)
class Route:
    ns: str
    to: str
    via: str


@dataclass
class Topology:
    """Namespaces and the links between them, created in this order by `up` and removed by `down`."""

    namespaces: list[str] = field(default_factory=list)
    bridges: list[Bridge] = field(default_factory=list)
    links: list[Veth] = field(default_factory=list)
    moved: list[Moved] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)

    def commands(self) -> list[list[str]]:
        steps: list[list[str]] = []
        for ns in self.namespaces:
            # Foundation needs a working loopback even in a process that never uses it (CFSocket's wakeup pair).
            steps += [["ip", "netns", "add", ns], ["ip", "-n", ns, "link", "set", "lo", "up"]]
        for bridge in self.bridges:
            steps.append(["ip", "-n", bridge.ns, "link", "add", bridge.name, "type", "bridge"])
            if bridge.mac:
                steps.append(["ip", "-n", bridge.ns, "link", "set", bridge.name, "address", bridge.mac])
            steps += [["ip", "-n", bridge.ns, "addr", "add", bridge.address, "dev", bridge.name],
                      ["ip", "-n", bridge.ns, "link", "set", bridge.name, "up"]]
        for link in self.links:
            steps.append(["ip", "link", "add", link.a.dev, "netns", link.a.ns, "type", "veth",
                          "peer", "name", link.b.dev, "netns", link.b.ns])
            for end in (link.a, link.b):
                steps += _configure(end.ns, end.dev, end.addresses, end.bridge)
        for moved in self.moved:
            steps.append(["ip", "link", "set", moved.dev, "netns", moved.ns])
            steps += _configure(moved.ns, moved.dev, (moved.address,), None)
        for route in self.routes:
            steps.append(["ip", "-n", route.ns, "route", "add", route.to, "via", route.via])
        return steps

    def up(self) -> None:
        """Creates everything; on a failure removes what it made and raises TopologyError."""
        existing = [ns for ns in self.namespaces if namespace_exists(ns)]
        if existing:
            raise TopologyError(f"namespace {', '.join(existing)} already exists: take the topology down first")
        try:
            for step in self.commands():
                _ip(step)
        except TopologyError:
            self.down()
            raise

    def down(self) -> list[str]:
        """Deletes the namespaces (their links go with them); returns what it found still running in them."""
        return [problem for ns in self.namespaces if (problem := delete_namespace(ns))]


class TopologyError(Exception):
    pass


def _configure(ns: str, dev: str, addresses: tuple[str, ...], bridge: str | None) -> list[list[str]]:
    steps = []
    if bridge:
        steps.append(["ip", "-n", ns, "link", "set", dev, "master", bridge])
    for address in addresses:
        nodad = ["nodad"] if ":" in address else []  # usable at once
        steps.append(["ip", "-n", ns, "addr", "add", address, "dev", dev, *nodad])
    steps.append(["ip", "-n", ns, "link", "set", dev, "up"])
    return steps


def _ip(cmd: list[str]) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise TopologyError(f"$ {shlex.join(cmd)}: exit {result.returncode}: {result.stderr.strip()}")


def namespace_exists(ns: str) -> bool:
    return Path(f"/run/netns/{ns}").exists()


def namespace_pids(ns: str) -> list[int]:
    result = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, timeout=TIMEOUT)
    return [int(pid) for pid in result.stdout.split()]


def delete_namespace(ns: str) -> str | None:
    """Deletes `ns` if it exists; says so when processes still run in it (they keep it alive until they end)."""
    if not namespace_exists(ns):
        return None
    left = namespace_pids(ns)
    subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=TIMEOUT)
    if namespace_exists(ns):
        return f"namespace {ns} could not be deleted"
    return f"processes still in {ns} when it was deleted: {left}" if left else None
