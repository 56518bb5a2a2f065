"""A way for the demo's client to reach a second popgated through its tunnel, past popgate's firewall."""

from __future__ import annotations

import subprocess
import tomllib

from harness.demo import Demo
from harness.http import split_url
from harness.processes import describe, ns_run


STEERING_TABLE = "popgate_test_steer"  # our own nftables table, in both namespaces; never popgate's


# The client namespace's source ports: the kernel's default, and the range used while a TunnelSteering is in force
# (disjoint from the default, and large enough for the canary's 10,000 connections of its long form).
DEFAULT_PORT_RANGE = "32768 60999"
STEERED_PORT_RANGE = "10000 32767"


class TunnelSteering:
    """Lets the client namespace reach a second popgated on `port` through its tunnel, for a `with` block.

    popnetd's policy (policy-drop base chains) lets peers reach only the API port, and an accept in another
    table cannot overrule a drop in popgate's, so a connection to `port` must cross the PoP's input chain as one
    to the API port. The client's connections to `port` are therefore rewritten, before they enter the tunnel,
    to the API port and tagged with DSCP CS1; on the PoP, after popgate's input chain (priority 10) and before
    the socket lookup, tagged packets get `port` back. The replies are rewritten and tagged the other way: on
    the PoP before conntrack (priority -350 < -200), so conntrack and popgate's output chain see the original
    connection's replies, and in the client after the tunnel. The tag, not a source port, marks what is steered,
    so any client (curl, an SDK's connection pool) can be used unchanged, and the demo's own connections to the
    API port are untouched. popgate's table is never changed.

    While steering, the client picks its source ports from STEERED_PORT_RANGE, apart from the kernel's default
    range that every earlier connection of the session to the API port came from. On the PoP a steered
    connection is one to the API port; from a source port that an earlier connection to the API port used, it
    could meet that connection's conntrack entry (in a state a new SYN does not fit) and be dropped until the
    entry expired: 2 of 1,000 canary requests timed out that way in a full CI session.
    """

    def __init__(self, demo: Demo, port: int) -> None:
        with open(demo.config, "rb") as file:
            config = tomllib.load(file)
        self.demo, self.port = demo, port
        self.interface = config["wireguard"]["interface"]
        parts = split_url(demo.api_url)
        self.address, self.api_port = parts[0], parts[1]

    def _pop_table(self) -> str:
        a, api, port, wg = self.address, self.api_port, self.port, self.interface
        return f"""
table inet {STEERING_TABLE} {{
    chain steer_in {{
        type filter hook input priority 10; policy accept;
        iifname "{wg}" ip daddr {a} tcp dport {api} ip dscp cs1 tcp dport set {port}
    }}
    chain steer_out {{
        type filter hook output priority -350; policy accept;
        oifname "{wg}" ip saddr {a} tcp sport {port} ip dscp set cs1 tcp sport set {api}
    }}
}}
"""

    def _client_table(self) -> str:
        a, api, port = self.address, self.api_port, self.port
        return f"""
table inet {STEERING_TABLE} {{
    chain tag_out {{
        type filter hook output priority -350; policy accept;
        ip daddr {a} tcp dport {port} ip dscp set cs1 tcp dport set {api}
    }}
    chain tag_in {{
        type filter hook input priority 10; policy accept;
        ip saddr {a} tcp sport {api} ip dscp cs1 tcp sport set {port}
    }}
}}
"""

    def _port_range(self, value: str) -> subprocess.CompletedProcess[str]:
        return ns_run(self.demo.client_ns, ["sysctl", "-q", "-w", f"net.ipv4.ip_local_port_range={value}"], timeout=10)

    def _remove(self) -> list[subprocess.CompletedProcess[str]]:
        return [ns_run(ns, ["nft", "delete", "table", "inet", STEERING_TABLE], timeout=10)
                for ns in (self.demo.pop_ns, self.demo.client_ns)] + [self._port_range(DEFAULT_PORT_RANGE)]

    def __enter__(self) -> "TunnelSteering":
        self._remove()  # left by a killed run
        try:
            for ns, table in ((self.demo.pop_ns, self._pop_table()), (self.demo.client_ns, self._client_table())):
                added = ns_run(ns, ["nft", "-f", "-"], timeout=10, input=table)
                assert added.returncode == 0, describe(added)
            ranged = self._port_range(STEERED_PORT_RANGE)
            assert ranged.returncode == 0, describe(ranged)
        except BaseException:
            self._remove()
            raise
        return self

    def __exit__(self, kind: object, *_: object) -> None:
        removed = self._remove()
        if kind is None:  # else the failure that is already on its way matters more
            for result in removed:
                assert result.returncode == 0, describe(result)
