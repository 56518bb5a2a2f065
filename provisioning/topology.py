#!/usr/bin/env python3
"""The network namespaces and links popgate's demo, integration tests and benchmarks run in: every namespace name
and address they use is made here, and only here.

The site (one or more PoPs; the demo is one PoP with every role):

  <p>-client   up0 198.51.100.10/24 ─┐
  <p>-outside  up0 198.51.100.66/24 ─┼─ br-up 198.51.100.1/24  <p>-pop  bb0 10.99.0.1/24 ── br-bb 10.99.0.2/24
  extra client up0 198.51.100.N/24  ─┘                                (more PoPs: .3, .4, …)    <p>-compute
                                        mgmt0 192.0.2.1/24 ── mgmt0 192.0.2.10/24  <p>-ops

With several PoPs (labels a, b, …) each has its own uplink segment and first client (<p>-pop-a, <p>-client-a, …,
the same addresses in each, as every PoP of a fleet is reached at its own public address); the compute namespace is
one, on one backbone bridge, and the outside and ops namespaces sit at the first PoP. Nothing is forwarded anywhere
(ip_forward stays off), and every veth pair is created with both ends in their namespaces, so nothing appears in the
host's namespace.

Two more layouts for what the site cannot stand for: `firewall` (a veth named like the WireGuard device stands in
for the tunnel, so the nftables policy can be tested without WireGuard) and `container` (the PoP is a booted
container, whose veth pairs systemd-nspawn made; their host ends are moved into a client and a compute namespace).
`lone` is a single namespace with loopback up; `pair` two namespaces joined by one veth pair, for the kernel test
VM (which gets it as a shell script). netns.py holds what they are made of, and makes them.

Teardown deletes exactly the namespaces the layout names plus the extra clients recorded for its prefix (in
STATE_DIR); it stops no process: whoever started one in these namespaces ends it first (a namespace with a process
in it outlives its deletion), and `down` reports the ones it still finds.

Command line (for bash; run as root):

    topology.py up     [LAYOUT OPTIONS]                 create the layout (fails if one of its namespaces exists)
    topology.py down   [LAYOUT OPTIONS]                 delete it and its extra clients (safe to repeat)
    topology.py env    [LAYOUT OPTIONS]                 NAME=value lines for bash's eval (quoted for the shell)
    topology.py client [LAYOUT OPTIONS] NS [--host N]   one more client on the first PoP's uplink; prints its address
    topology.py script [LAYOUT OPTIONS]                 a shell script that makes the layout and sets its env names,
                                                        for a machine without Python (the kernel test VM)
    LAYOUT OPTIONS: --layout site|firewall|lone|pair (default site) --prefix P (site: default pg, the demo's; firewall: pg-fw)
                    site only: --pops a,b  --no-client --no-compute --no-outside --no-ops
                    (down and client take the site's options from what `up` recorded for the prefix)
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import shlex
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from netns import Bridge, End, Moved, Route, Topology, TopologyError, Veth, delete_namespace, namespace_exists

STATE_DIR = Path("/run/popgate-topology")
DEMO_PREFIX = "pg"  # the demo's namespaces: pg-pop, pg-client, …; the tests' own layouts take other prefixes

# The site's addresses.
UPLINK_NET = ipaddress.ip_network("198.51.100.0/24")
POP_UPLINK_HOST, CLIENT_UPLINK_HOST, OUTSIDE_UPLINK_HOST = 1, 10, 66
FIRST_EXTRA_CLIENT_HOST = 11  # extra clients count up from here unless they ask for a host
UPLINK_BRIDGE, UPLINK_IF = "br-up", "up0"
# A fixed MAC: by default a bridge takes the lowest MAC of its ports, so attaching another client would change it,
# and the others' ARP entries would point at an address the PoP no longer answers to for ~10 s.
UPLINK_BRIDGE_MAC = "02:70:67:00:00:01"
BACKBONE_NET = ipaddress.ip_network("10.99.0.0/24")
COMPUTE_BACKBONE_HOST = 2  # the compute node keeps .2 however many PoPs there are; PoPs take .1, then .3, .4, …
BACKBONE_BRIDGE, BACKBONE_IF = "br-bb", "bb0"
MGMT_NET = ipaddress.ip_network("192.0.2.0/24")
POP_MGMT_HOST, OPS_MGMT_HOST = 1, 10
MGMT_IF = "mgmt0"
# The tunnel: popnetd makes the device; the outside namespace routes the pool to the PoP, to try to reach it.
TUNNEL_POOL = ipaddress.ip_network("10.77.0.0/24")
POP_TUNNEL_HOST = 1
TUNNEL_POOL6 = ipaddress.ip_network("fd00:78::/64")  # a PoP whose pool is IPv6 (test_ipv6_pool.py)
# The pair layout's wire, inside the kernel test VM: a machine of its own, so it meets no other layout's addresses.
PAIR_NET = ipaddress.ip_network("192.0.2.0/24")
PAIR_A_HOST, PAIR_B_HOST = 1, 2


def host(net: ipaddress.IPv4Network | ipaddress.IPv6Network, number: int) -> str:
    return str(net.network_address + number)


def cidr(net: ipaddress.IPv4Network | ipaddress.IPv6Network, number: int) -> str:
    return f"{host(net, number)}/{net.prefixlen}"


# ------------------------------------------------------------------------------------------------------------------
# The site


@dataclass(frozen=True)
class Pop:
    """One PoP of a site: its namespace, its first client's, and its addresses."""

    label: str  # "" for a site of one PoP
    ns: str
    client_ns: str | None
    backbone: str

    @property
    def uplink(self) -> str:
        return host(UPLINK_NET, POP_UPLINK_HOST)

    @property
    def tunnel(self) -> str:
        return host(TUNNEL_POOL, POP_TUNNEL_HOST)


@dataclass(frozen=True)
class Client:
    ns: str
    address: str
    port: str  # its veth end on the PoP's uplink bridge
    pop: str  # the PoP's namespace


@dataclass(frozen=True)
class Site:
    prefix: str = DEMO_PREFIX
    pops: tuple[str, ...] = ("",)
    client: bool = True
    compute: bool = True
    outside: bool = True
    ops: bool = True

    def name(self, role: str, label: str = "") -> str:
        return f"{self.prefix}-{role}" + (f"-{label}" if label else "")

    @property
    def pop_list(self) -> list[Pop]:
        return [Pop(label, self.name("pop", label), self.name("client", label) if self.client else None,
                    host(BACKBONE_NET, 1 if i == 0 else COMPUTE_BACKBONE_HOST + i))
                for i, label in enumerate(self.pops)]

    @property
    def pop(self) -> Pop:
        """The first PoP: the one the outside and ops namespaces and extra clients are attached to."""
        return self.pop_list[0]

    compute_ns = property(lambda self: self.name("compute") if self.compute else None)
    outside_ns = property(lambda self: self.name("outside") if self.outside else None)
    ops_ns = property(lambda self: self.name("ops") if self.ops else None)
    compute_address = host(BACKBONE_NET, COMPUTE_BACKBONE_HOST)
    client_address = host(UPLINK_NET, CLIENT_UPLINK_HOST)
    outside_address = host(UPLINK_NET, OUTSIDE_UPLINK_HOST)
    pop_mgmt_address = host(MGMT_NET, POP_MGMT_HOST)
    ops_mgmt_address = host(MGMT_NET, OPS_MGMT_HOST)

    def topology(self) -> Topology:
        t = Topology()
        for pop in self.pop_list:
            t.namespaces += [pop.ns, *([pop.client_ns] if pop.client_ns else [])]
        t.namespaces += [ns for ns in (self.compute_ns, self.outside_ns, self.ops_ns) if ns]
        if self.compute_ns:
            t.bridges.append(Bridge(self.compute_ns, BACKBONE_BRIDGE, cidr(BACKBONE_NET, COMPUTE_BACKBONE_HOST)))
        for pop in self.pop_list:
            t.bridges.append(Bridge(pop.ns, UPLINK_BRIDGE, cidr(UPLINK_NET, POP_UPLINK_HOST), UPLINK_BRIDGE_MAC))
            if pop.client_ns:
                t.links.append(uplink_veth(pop.ns, pop.client_ns, CLIENT_UPLINK_HOST))
            if self.compute_ns:
                # The backbone stands for the direct-attach links to the GPU rack.
                t.links.append(Veth(End(pop.ns, BACKBONE_IF, (f"{pop.backbone}/{BACKBONE_NET.prefixlen}",)),
                                    End(self.compute_ns, f"bb-{pop.label or 'pop'}", bridge=BACKBONE_BRIDGE)))
        if self.outside_ns:
            t.links.append(uplink_veth(self.pop.ns, self.outside_ns, OUTSIDE_UPLINK_HOST))
            # The outsider sends to the tunnel addresses directly: the PoP's kernel accepts packets for its own
            # address on any interface, so only popnetd's nftables policy stands between it and the gateway.
            t.routes.append(Route(self.outside_ns, str(TUNNEL_POOL), self.pop.uplink))
        if self.ops_ns:
            t.links.append(Veth(End(self.pop.ns, MGMT_IF, (cidr(MGMT_NET, POP_MGMT_HOST),)),
                                End(self.ops_ns, MGMT_IF, (cidr(MGMT_NET, OPS_MGMT_HOST),))))
        return t

    # -- extra clients, recorded per prefix so that `down` finds them however the caller ended

    @property
    def state_file(self) -> Path:
        return STATE_DIR / f"{self.prefix}.json"

    def extra_clients(self) -> list[Client]:
        return [Client(**c) for c in _read_state(self.state_file).get("clients", [])]

    def _record(self, clients: list[Client]) -> None:
        STATE_DIR.mkdir(mode=0o755, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"site": asdict(self), "clients": [asdict(c) for c in clients]}))
        tmp.replace(self.state_file)

    @classmethod
    def recorded(cls, prefix: str) -> "Site | None":
        """The site `up` made with this prefix, as it recorded it (for a caller that knows only the prefix)."""
        options = _read_state(STATE_DIR / f"{prefix}.json").get("site")
        return cls(**{**options, "pops": tuple(options["pops"])}) if options else None

    def add_client(self, ns: str, host_number: int | None = None) -> Client:
        """One more client namespace on the first PoP's uplink, at `host_number` or the next free host from .11."""
        if namespace_exists(ns):
            raise TopologyError(f"namespace {ns} already exists")
        clients = self.extra_clients()
        used = {POP_UPLINK_HOST, CLIENT_UPLINK_HOST, OUTSIDE_UPLINK_HOST,
                *(int(ipaddress.ip_address(c.address)) - int(UPLINK_NET.network_address) for c in clients)}
        if host_number is None:
            host_number = next((n for n in range(FIRST_EXTRA_CLIENT_HOST, 255) if n not in used), None)
            if host_number is None:
                raise TopologyError("no free address left on the uplink")
        elif host_number in used or not 1 < host_number < 255:
            raise TopologyError(f"uplink host .{host_number} is taken or out of range")
        client = Client(ns, host(UPLINK_NET, host_number), f"up{host_number}", self.pop.ns)
        self._record([*clients, client])  # before anything exists, so that `down` finds whatever part of it does
        link = uplink_veth(self.pop.ns, ns, host_number)
        try:
            Topology(namespaces=[ns], links=[link]).up()
        except TopologyError:
            self._record([c for c in self.extra_clients() if c.ns != ns])
            raise
        return client

    def remove_client(self, ns: str) -> str | None:
        problem = delete_namespace(ns)
        self._record([c for c in self.extra_clients() if c.ns != ns])
        return problem

    def up(self) -> None:
        self.topology().up()
        self._record([])

    def down(self) -> list[str]:
        """Extra clients first (their ports are on a PoP's bridge), then the layout's namespaces."""
        problems = [p for c in self.extra_clients() if (p := delete_namespace(c.ns))]
        self.state_file.unlink(missing_ok=True)
        return problems + self.topology().down()

    def env(self) -> dict[str, str]:
        """The names and addresses a shell script needs (the first PoP's)."""
        pop = self.pop
        return {
            "POP_NS": pop.ns, "CLIENT_NS": pop.client_ns or "", "COMPUTE_NS": self.compute_ns or "",
            "OUTSIDE_NS": self.outside_ns or "", "OPS_NS": self.ops_ns or "",
            "UPLINK_IF": UPLINK_BRIDGE, "BACKBONE_IF": BACKBONE_IF, "MGMT_IF": MGMT_IF,
            "POP_UPLINK_ADDR": pop.uplink, "CLIENT_UPLINK_ADDR": self.client_address,
            "OUTSIDE_UPLINK_ADDR": self.outside_address, "UPLINK_PREFIX": str(UPLINK_NET),
            "POP_TUNNEL_ADDR": pop.tunnel, "TUNNEL_POOL": str(TUNNEL_POOL),
            "BACKBONE_POP": pop.backbone, "BACKBONE_COMPUTE": self.compute_address,
            "MGMT_PREFIX": str(MGMT_NET), "POP_MGMT_ADDR": self.pop_mgmt_address,
            "OPS_MGMT_ADDR": self.ops_mgmt_address,
        }


def _read_state(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}


def uplink_veth(pop_ns: str, ns: str, host_number: int) -> Veth:
    """A client-side namespace's link to a PoP's uplink bridge: up0 inside it, up<host> on the bridge."""
    return Veth(End(ns, UPLINK_IF, (cidr(UPLINK_NET, host_number),)),
                End(pop_ns, f"up{host_number}", bridge=UPLINK_BRIDGE))


# ------------------------------------------------------------------------------------------------------------------
# The other layouts


@dataclass(frozen=True)
class Firewall:
    """The PoP's interfaces as popgate's nftables policy names them, each a plain veth: uplink eth0 and management
    mgmt0 to the outside (which is also the admin), wg-edge to a peer (a veth in place of the WireGuard device: the
    policy matches interface names and addresses, not WireGuard itself), bb0 to a worker."""

    prefix: str = "pg-fw"
    pop_uplink, outside_address = "10.200.0.1", "10.200.0.2"
    pop_mgmt, admin_address, not_admin_address = "10.201.0.1", "10.201.0.2", "10.201.0.3"
    pop_edge, peer_address, stranger_address = host(TUNNEL_POOL, 1), host(TUNNEL_POOL, 2), host(TUNNEL_POOL, 3)
    pop_edge6, peer_address6, stranger_address6 = "fd77::1", "fd77::2", "fd77::3"
    pop_backbone, worker_address = host(BACKBONE_NET, 1), host(BACKBONE_NET, COMPUTE_BACKBONE_HOST)
    outside_if, admin_if, peer_if, worker_if = "fw-out0", "fw-admin0", "fw-peer0", "fw-worker0"

    pop_ns = property(lambda self: f"{self.prefix}-pop")
    outside_ns = property(lambda self: f"{self.prefix}-out")
    peer_ns = property(lambda self: f"{self.prefix}-peer")
    worker_ns = property(lambda self: f"{self.prefix}-worker")

    def topology(self) -> Topology:
        pop = self.pop_ns

        def v4(*addresses: str) -> tuple[str, ...]:
            return tuple(f"{a}/24" for a in addresses)

        return Topology(
            namespaces=[pop, self.outside_ns, self.peer_ns, self.worker_ns],
            links=[
                Veth(End(pop, "eth0", v4(self.pop_uplink)),
                     End(self.outside_ns, self.outside_if, v4(self.outside_address))),
                Veth(End(pop, "wg-edge", (*v4(self.pop_edge), f"{self.pop_edge6}/64")),
                     End(self.peer_ns, self.peer_if, (*v4(self.peer_address, self.stranger_address),
                                                      f"{self.peer_address6}/64", f"{self.stranger_address6}/64"))),
                Veth(End(pop, MGMT_IF, v4(self.pop_mgmt)),
                     End(self.outside_ns, self.admin_if, v4(self.admin_address, self.not_admin_address))),
                Veth(End(pop, BACKBONE_IF, v4(self.pop_backbone)),
                     End(self.worker_ns, self.worker_if, v4(self.worker_address))),
            ])

    def up(self) -> None:
        self.topology().up()

    def down(self) -> list[str]:
        return self.topology().down()

    def env(self) -> dict[str, str]:
        return {"POP_NS": self.pop_ns, "OUTSIDE_NS": self.outside_ns, "PEER_NS": self.peer_ns,
                "WORKER_NS": self.worker_ns}


@dataclass(frozen=True)
class Container:
    """A PoP that is a booted container (systemd-nspawn --network-veth-extra=HOST:up0 and HOST:bb0): the host ends
    of its uplink and backbone moved into a client and a compute namespace, with the site's addresses. The
    container's own ends (up0, bb0) are the caller's to address: `pop_uplink` and `pop_backbone`."""

    prefix: str
    uplink_dev: str
    backbone_dev: str

    client_ns = property(lambda self: f"{self.prefix}-client")
    compute_ns = property(lambda self: f"{self.prefix}-compute")
    pop_uplink, pop_backbone = cidr(UPLINK_NET, POP_UPLINK_HOST), cidr(BACKBONE_NET, 1)
    pop_tunnel = cidr(TUNNEL_POOL, POP_TUNNEL_HOST)
    pop_address = host(UPLINK_NET, POP_UPLINK_HOST)
    client_address = host(UPLINK_NET, CLIENT_UPLINK_HOST)
    compute_address = host(BACKBONE_NET, COMPUTE_BACKBONE_HOST)

    def topology(self) -> Topology:
        return Topology(namespaces=[self.client_ns, self.compute_ns],
                        moved=[Moved(self.uplink_dev, self.client_ns, cidr(UPLINK_NET, CLIENT_UPLINK_HOST)),
                               Moved(self.backbone_dev, self.compute_ns, cidr(BACKBONE_NET, COMPUTE_BACKBONE_HOST))])

    def up(self) -> None:
        self.topology().up()

    def down(self) -> list[str]:
        return self.topology().down()


@dataclass(frozen=True)
class Lone:
    """One namespace, loopback up, nothing else: for a WireGuard device or a firewall table on its own."""

    name: str

    def topology(self) -> Topology:
        return Topology(namespaces=[self.name])

    def up(self) -> None:
        self.topology().up()

    def down(self) -> list[str]:
        return self.topology().down()

    def env(self) -> dict[str, str]:
        return {"NS": self.name}


@dataclass(frozen=True)
class Pair:
    """Two namespaces joined by one veth pair: the wire between two WireGuard peers inside the kernel test VM. The
    VM's busybox has no Python, so the VM gets this layout as the shell script `script` prints (`shell_script`)."""

    prefix: str = ""

    @property
    def names(self) -> tuple[str, str]:
        return f"{self.prefix}a", f"{self.prefix}b"

    def topology(self) -> Topology:
        a, b = self.names
        return Topology(namespaces=[a, b], links=[
            Veth(End(a, "veth-a", (cidr(PAIR_NET, PAIR_A_HOST),)), End(b, "veth-b", (cidr(PAIR_NET, PAIR_B_HOST),)))])

    def up(self) -> None:
        self.topology().up()

    def down(self) -> list[str]:
        return self.topology().down()

    def env(self) -> dict[str, str]:
        a, b = self.names
        return {"NS_A": a, "NS_B": b, "ADDR_A": host(PAIR_NET, PAIR_A_HOST), "ADDR_B": host(PAIR_NET, PAIR_B_HOST)}


def shell_script(layout: "Site | Firewall | Lone | Pair") -> str:
    """A POSIX shell script that makes `layout` with `ip` and then sets its env() names, for a machine without Python
    that sources it (`. FILE`). It assumes none of the layout's namespaces exists (a fresh VM)."""
    lines = ["# Made by provisioning/topology.py; not to be edited.", "set -eu"]
    lines += [shlex.join(step) for step in layout.topology().commands()]
    lines += [f"{name}={shlex.quote(value)}" for name, value in layout.env().items()]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------------------------
# Command line


def _layout(args: argparse.Namespace) -> Site | Firewall | Lone | Pair:
    if args.layout == "pair":
        return Pair(args.prefix or "")
    if args.layout == "firewall":
        return Firewall(args.prefix) if args.prefix else Firewall()
    if args.layout == "lone":
        if not args.prefix:
            raise TopologyError("the lone layout needs --prefix, its namespace's name")
        return Lone(args.prefix)
    prefix = args.prefix or DEMO_PREFIX
    if args.command in ("down", "client") and (recorded := Site.recorded(prefix)):
        return recorded
    return Site(prefix, tuple(args.pops.split(",")) if args.pops else ("",), client=not args.no_client,
                compute=not args.no_compute, outside=not args.no_outside, ops=not args.no_ops)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="topology.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("up", "down", "env", "client", "script"))
    parser.add_argument("ns", nargs="?", help="client: the new namespace")
    parser.add_argument("--layout", choices=("site", "firewall", "lone", "pair"), default="site")
    parser.add_argument("--prefix", help="the namespaces' prefix (site: pg, the demo's; firewall: pg-fw)")
    parser.add_argument("--pops", default="", help="site: PoP labels, comma-separated (default: one PoP)")
    for role in ("client", "compute", "outside", "ops"):
        parser.add_argument(f"--no-{role}", action="store_true")
    parser.add_argument("--host", type=int, help="client: the uplink host number")
    args = parser.parse_intermixed_args(argv)
    try:
        layout = _layout(args)
        if args.command == "env":
            for name, value in layout.env().items():
                print(f"{name}={shlex.quote(value)}")
        elif args.command == "script":
            print(shell_script(layout), end="")
        elif args.command == "up":
            layout.up()
        elif args.command == "down":
            for problem in layout.down():
                print(f"topology.py: {problem}", file=sys.stderr)
        else:
            if not isinstance(layout, Site) or not args.ns:
                parser.error("client needs the site layout and a namespace name")
            print(layout.add_client(args.ns, args.host).address)
    except TopologyError as error:
        print(f"topology.py: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
