"""One PoP with an IPv6 tunnel pool, end to end: popctl hands out IPv6 client addresses, popnetd puts them on the
WireGuard device and in nftables' IPv6 peer set, a client tunnels in with the config popctl wrote and is served on
http://[fd00:78::1]:8080, and a revoke cuts it off within a second.

Topology: provisioning/topology.py's site with prefix v6p and no outside or ops namespace (this module's own; the
demo's and test_multi_pop.py's may run beside it, in namespaces of their own); the uplink and the backbone stay IPv4:

    v6p-client  up0 198.51.100.10 ── br-up 198.51.100.1  v6p-pop  wg-v6p fd00:78::1/64  bb0 10.99.0.1 ──
                                                                                          br-bb 10.99.0.2  v6p-compute
                                                                                          (the simulator)

The registry is SQLite (`[registry] path`) under this module's directory; popctl runs in the PoP's namespace.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest

from conftest import require_network_prerequisites
from harness.binaries import BIN
from harness.daemons import Daemons, own_topology
from harness.demo import Demo
from harness.gateways import listening
from harness.http import RequestFailed, chat
from harness.namespaces import take_down
from harness.probes import seconds_until_cut_off
from harness.processes import describe, ns_python, ns_run, require, run, run_ok, wait_for
from harness.simulator import sim_text
from harness.wireguard import public_key_of_config, remove_stale_wireguard_socket
from topology import BACKBONE_IF, TUNNEL_POOL6, UPLINK_BRIDGE, Site, host

WORK = Path("/run/popgate-v6pool")
SITE = Site("v6p", outside=False, ops=False)
POP_NS, CLIENT_NS, CORE_NS = SITE.pop.ns, SITE.pop.client_ns, SITE.compute_ns
INTERFACE = "wg-v6p"
POP_UPLINK, CORE_ADDR = SITE.pop.uplink, SITE.compute_address
POP_TUNNEL_ADDR = host(TUNNEL_POOL6, 1)
TUNNEL_PREFIX = TUNNEL_POOL6.prefixlen  # the pool defaults to the address's prefix
API_PORT, SIM_PORT = 8080, 8000
API_URL = f"http://[{POP_TUNNEL_ADDR}]:{API_PORT}"
NON_PEER = host(TUNNEL_POOL6, 0x99)  # in the pool, never issued
MODEL = "popgate-sim-small"
TENANT = "v6"
MESSAGES = [{"role": "user", "content": "hello over IPv6"}]
START_TIMEOUT = 20
REVOCATION_DEADLINE = 1.0  # seconds from `popctl peer revoke` returning


def _config() -> str:
    return f"""# Written by test_ipv6_pool.py: one PoP whose tunnel pool is IPv6.
[pop]
name = "v6p-pop"

[registry]
path = "{WORK}/state/registry.sqlite"

[wireguard]
interface = "{INTERFACE}"
private_key_file = "{WORK}/keys/wg.key"
listen_port = 51820
address = "{POP_TUNNEL_ADDR}/{TUNNEL_PREFIX}"
endpoint = "{POP_UPLINK}:51820"
persistent_keepalive = 25

[gateway]
listen_port = {API_PORT}
cache_salt_key_file = "{WORK}/keys/cache-salt.key"

[netd]
run_directory = "{WORK}/run"

[receipts]
directory = "{WORK}/receipts"
signing_key_file = "{WORK}/keys/receipts.key"

[firewall]
uplink_interface = "{UPLINK_BRIDGE}"
backbone_interface = "{BACKBONE_IF}"

[[backends]]
name = "sim"
url = "http://{CORE_ADDR}:{SIM_PORT}"
models = ["{MODEL}"]
"""


@dataclass
class Issued:
    """What `popctl peer add` gave a peer: its name, the config it wrote, and the address in it."""

    name: str
    conf: Path
    address: str
    public_key: str


class Pop(Daemons):
    """The running PoP: its processes (Daemons, popctl in the PoP's namespace), the tenant's API key, the peers
    issued."""

    def __init__(self) -> None:
        super().__init__(WORK / "logs", popctl_ns=POP_NS, popctl_config=self.config, wait_timeout=START_TIMEOUT)
        self.api_key = ""
        self.peers: dict[str, Issued] = {}

    @property
    def config(self) -> Path:
        return WORK / "popgate.toml"

    def as_demo(self) -> Demo:
        """What the harness's request helpers read from the demo (API URL, key, model), for this PoP."""
        return Demo({"POP_API_URL": API_URL, "API_KEY": self.api_key, "MODEL": MODEL})


# -- reading the PoP -----------------------------------------------------------------------------------------------


def allowed_ips() -> dict[str, str]:
    """Public key → allowed IPs on the PoP's device, as `wg show IF allowed-ips` prints them."""
    result = ns_run(POP_NS, ["wg", "show", INTERFACE, "allowed-ips"], timeout=10)
    assert result.returncode == 0, describe(result)
    return {key: rest.strip() for key, _, rest in (line.partition("\t") for line in result.stdout.splitlines())}


def v6_peer_set() -> str:
    """`nft list set inet popgate edge_peers_v6` in the PoP's namespace."""
    result = ns_run(POP_NS, ["nft", "list", "set", "inet", "popgate", "edge_peers_v6"], timeout=10)
    assert result.returncode == 0, describe(result)
    return result.stdout


def in_v6_peer_set(address: str) -> bool:
    return re.search(rf"(?<![0-9a-f:]){re.escape(address)}(?![0-9a-f:])", v6_peer_set()) is not None


def issue(pop: Pop, name: str, *extra: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """`popctl peer add --tenant v6 --name NAME [EXTRA] --output WORK/NAME.conf`."""
    conf = WORK / f"{name}.conf"  # wg-quick names the interface after the file: unique machine-wide
    return pop.popctl("peer", "add", "--tenant", TENANT, "--name", name, *extra, "--output", str(conf)), conf


def config_address(conf: Path) -> str:
    match = re.search(r"^Address = (\S+)$", conf.read_text(), re.M)
    assert match, f"no Address line in {conf}:\n{conf.read_text()}"
    return match.group(1)


# -- setting up and tearing down -----------------------------------------------------------------------------------


def _teardown(pop: Pop | None) -> list[str]:
    """Removes everything this module makes (also what a killed run left); returns what could not be removed."""
    problems: list[str] = []
    if pop:
        pop.stop_all()
    if Path(f"/run/netns/{CLIENT_NS}").exists():
        for conf in WORK.glob("*.conf"):
            ns_run(CLIENT_NS, ["wg-quick", "down", str(conf)], timeout=30)
    if Path(f"/run/netns/{POP_NS}").exists():
        # Ends the wireguard-go popnetd started (it exits when its TUN goes).
        run(["ip", "-n", POP_NS, "link", "del", INTERFACE], timeout=10)
    # What still runs in our namespaces is ours (wireguard-go started by popnetd or wg-quick).
    problems += take_down(SITE)
    for interface in (INTERFACE, *(c.stem for c in WORK.glob("*.conf"))):
        remove_stale_wireguard_socket(interface)
    shutil.rmtree(WORK, ignore_errors=True)
    return problems


def _start(pop: Pop) -> None:
    WORK.mkdir(mode=0o700)
    for sub, mode in (("logs", 0o755), ("run", 0o755), ("state", 0o700), ("keys", 0o700)):
        (WORK / sub).mkdir(mode=mode)
    SITE.up()
    pop.config.write_text(_config())
    pop.start(CORE_NS, "sim", str(BIN / "popgate-inference-sim"), "--listen", f"{CORE_ADDR}:{SIM_PORT}",
              "--models", MODEL, "--tokens-per-second", "1000")
    pop.start(POP_NS, "popnetd", str(BIN / "popnetd"), "--config", str(pop.config))
    pop.wait(f"{INTERFACE} up in {POP_NS}", lambda: ns_run(
        POP_NS, ["wg", "show", INTERFACE, "listen-port"], timeout=10).stdout.strip() == "51820")
    pop.wait(f"{POP_TUNNEL_ADDR} on {INTERFACE}", lambda: POP_TUNNEL_ADDR in ns_run(
        POP_NS, ["ip", "-6", "addr", "show", "dev", INTERFACE], timeout=10).stdout)
    pop.start(POP_NS, "popgated", str(BIN / "popgated"), "--config", str(pop.config))
    pop.wait(f"popgated listening on {API_PORT}", lambda: listening(POP_NS, API_PORT))
    pop.popctl_ok("tenant", "add", TENANT)
    pop.api_key = pop.popctl_ok("key", "create", "--tenant", TENANT).stdout.strip()


@pytest.fixture(scope="module")
def pop(built: None) -> Iterator[Pop]:
    require_network_prerequisites()
    require(shutil.which("nft"), "nft is not installed (`make deps`)")
    yield from own_topology(Pop(), _start, _teardown)


@pytest.fixture
def logs_on_failure(pop: Pop) -> Iterator[None]:
    """The daemons' logs as captured output, which pytest shows when the test fails (the teardown removes them)."""
    yield
    pop.print_logs()


# -- the tests (in order: they share the peers issued by the first) ------------------------------------------------


def test_peer_add_issues_the_lowest_free_ipv6_addresses_and_refuses_the_pops_own(pop: Pop,
                                                                                  logs_on_failure: None) -> None:
    for name, expected in (("v6pa", host(TUNNEL_POOL6, 2)), ("v6pb", host(TUNNEL_POOL6, 3))):
        added, conf = issue(pop, name)
        assert added.returncode == 0, describe(added)
        assert config_address(conf) == f"{expected}/128", conf.read_text()
        text = conf.read_text()
        assert re.search(rf"^AllowedIPs = {re.escape(POP_TUNNEL_ADDR)}/128$", text, re.M), text
        assert re.search(rf"^Endpoint = {re.escape(POP_UPLINK)}:51820$", text, re.M), text
        pop.peers[name] = Issued(name, conf, expected, public_key_of_config(conf))

    refused, conf = issue(pop, "v6pself", "--address", POP_TUNNEL_ADDR)
    assert refused.returncode != 0, f"--address {POP_TUNNEL_ADDR} (the PoP's own) was accepted:\n{describe(refused)}"
    assert not conf.exists(), f"a refused peer add wrote {conf}"
    assert "v6pself" not in pop.popctl_ok("peer", "list").stdout
    print(f"refusal: {refused.stderr.strip()}")


def test_the_pops_device_and_v6_peer_set_hold_the_peers(pop: Pop, logs_on_failure: None) -> None:
    assert pop.peers, "no peers were issued (see the first test)"
    for peer in pop.peers.values():
        pop.wait(f"{peer.name} on {INTERFACE}", lambda: allowed_ips().get(peer.public_key) is not None)
        assert allowed_ips()[peer.public_key] == f"{peer.address}/128", allowed_ips()
        pop.wait(f"{peer.address} in edge_peers_v6", lambda: in_v6_peer_set(peer.address))
    # The one rule that lets peers in: from the IPv6 peer set, to the PoP's IPv6 address and the API port.
    chain = ns_run(POP_NS, ["nft", "list", "chain", "inet", "popgate", "input"], timeout=10)
    assert chain.returncode == 0, describe(chain)
    assert re.search(rf'iifname "{INTERFACE}" ip6 saddr @edge_peers_v6 ip6 daddr {re.escape(POP_TUNNEL_ADDR)} '
                     rf"tcp dport {API_PORT} accept", chain.stdout), chain.stdout
    assert "policy drop" in chain.stdout, chain.stdout


def test_a_client_tunnels_in_with_the_written_config_and_is_served_on_the_ipv6_address(
        pop: Pop, logs_on_failure: None) -> None:
    peer = pop.peers["v6pa"]
    up = ns_run(CLIENT_NS, ["wg-quick", "up", str(peer.conf)], timeout=30)
    assert up.returncode == 0, describe(up)
    routes = ns_run(CLIENT_NS, ["ip", "-6", "route", "get", POP_TUNNEL_ADDR], timeout=10)
    assert f"dev {peer.conf.stem}" in routes.stdout, describe(routes)

    def answered() -> bool:
        try:
            return chat(CLIENT_NS, pop.as_demo(), MESSAGES, timeout=2).status == 200
        except RequestFailed:
            return False
    pop.wait(f"a chat from {peer.name} over {API_URL}", answered, timeout=15)
    response = chat(CLIENT_NS, pop.as_demo(), MESSAGES, timeout=10)
    assert response.status == 200, str(response)
    assert response.json()["choices"][0]["message"]["content"] == sim_text(), str(response)


def test_a_non_peer_source_in_the_pool_gets_a_silent_close(pop: Pop, logs_on_failure: None) -> None:
    """The gateway's own refusal: an address of the pool that is no peer, put on the PoP's loopback (which the
    nftables policy leaves open), connects but gets no HTTP response."""
    run_ok(["ip", "-n", POP_NS, "-6", "addr", "add", f"{NON_PEER}/128", "dev", "lo", "nodad"])
    try:
        script = r"""
import http.client, json, sys
a = json.loads(sys.argv[1])
conn = http.client.HTTPConnection(a["host"], a["port"], timeout=3, source_address=(a["source"], 0))
try:
    conn.connect()
except OSError as e:
    print(json.dumps({"outcome": "connect failed: %s" % e})); sys.exit(0)
try:
    conn.request("GET", "/v1/models", headers={"Authorization": "Bearer " + a["key"]})
    resp = conn.getresponse(); resp.read()
    print(json.dumps({"outcome": "HTTP %d" % resp.status}))
except (http.client.RemoteDisconnected, ConnectionResetError) as e:
    print(json.dumps({"outcome": "closed", "how": "%s: %s" % (type(e).__name__, e)}))
except OSError as e:
    print(json.dumps({"outcome": "%s: %s" % (type(e).__name__, e)}))
"""
        args = {"host": POP_TUNNEL_ADDR, "port": API_PORT, "key": pop.api_key}
        outcome = ns_python(POP_NS, script, {**args, "source": NON_PEER}, timeout=20)
        assert outcome["outcome"] == "closed", f"{NON_PEER} (no peer) got {outcome}"
        # The same request from a live peer's address is answered, so the close is about the source.
        peer = pop.peers["v6pb"]
        run_ok(["ip", "-n", POP_NS, "-6", "addr", "add", f"{peer.address}/128", "dev", "lo", "nodad"])
        try:
            served = ns_python(POP_NS, script, {**args, "source": peer.address}, timeout=20)
        finally:
            run(["ip", "-n", POP_NS, "-6", "addr", "del", f"{peer.address}/128", "dev", "lo"], timeout=10)
        assert served["outcome"] == "HTTP 200", f"{peer.address} (peer {peer.name}) got {served}"
    finally:
        run(["ip", "-n", POP_NS, "-6", "addr", "del", f"{NON_PEER}/128", "dev", "lo"], timeout=10)


def test_a_spoofed_source_through_a_live_tunnel_gets_no_answer(pop: Pop, logs_on_failure: None) -> None:
    """WireGuard's cryptokey routing: the PoP drops what a peer sends from an address that is not its own."""
    peer = pop.peers["v6pa"]
    interface = peer.conf.stem
    run_ok(["ip", "-n", CLIENT_NS, "-6", "addr", "add", f"{NON_PEER}/128", "dev", interface, "nodad"])
    try:
        script = r"""
import json, socket, sys
a = json.loads(sys.argv[1])
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM); s.settimeout(2); s.bind((a["source"], 0))
try:
    s.connect((a["host"], a["port"])); print(json.dumps({"outcome": "connected"}))
except OSError as e:
    print(json.dumps({"outcome": "%s: %s" % (type(e).__name__, e)}))
"""
        outcome = ns_python(CLIENT_NS, script, {"host": POP_TUNNEL_ADDR, "port": API_PORT, "source": NON_PEER},
                            timeout=20)
        assert outcome["outcome"].startswith("TimeoutError"), f"{NON_PEER} through {peer.name}'s tunnel: {outcome}"
    finally:
        run(["ip", "-n", CLIENT_NS, "-6", "addr", "del", f"{NON_PEER}/128", "dev", interface], timeout=10)
    assert chat(CLIENT_NS, pop.as_demo(), MESSAGES, timeout=10).status == 200  # the peer's own address still is


def test_a_revoked_ipv6_peer_is_cut_off_within_a_second(pop: Pop, logs_on_failure: None) -> None:
    peer = pop.peers["v6pa"]
    assert chat(CLIENT_NS, pop.as_demo(), MESSAGES, timeout=10).status == 200
    revoked = pop.popctl_ok("peer", "revoke", peer.name)
    since = time.monotonic()
    assert f"revoked peer {peer.name}" in revoked.stdout, describe(revoked)

    def seconds_until(predicate: Callable[[], bool]) -> float | None:
        if wait_for(predicate, timeout=max(0.0, since + REVOCATION_DEADLINE - time.monotonic()), interval=0.02):
            return time.monotonic() - since
        return None

    # Measured side by side, each from the moment the revoke returned.
    with ThreadPoolExecutor(max_workers=3) as pool:
        cut_off = pool.submit(seconds_until_cut_off, CLIENT_NS, pop.as_demo(), since=since,
                              within=REVOCATION_DEADLINE)
        off_device = pool.submit(seconds_until, lambda: peer.public_key not in allowed_ips())
        off_set = pool.submit(seconds_until, lambda: not in_v6_peer_set(peer.address))
    print(f"seconds from `popctl peer revoke` returning: requests unanswered {cut_off.result()}, off {INTERFACE} "
          f"{off_device.result()}, out of edge_peers_v6 {off_set.result()} (None = not within "
          f"{REVOCATION_DEADLINE} s)")
    assert cut_off.result() is not None, f"{peer.name} was still answered {REVOCATION_DEADLINE} s after the revoke"
    assert off_device.result() is not None, f"{peer.public_key} still on {INTERFACE} after {REVOCATION_DEADLINE} s"
    assert off_set.result() is not None, f"{peer.address} still in edge_peers_v6:\n{v6_peer_set()}"
    with pytest.raises(RequestFailed):
        chat(CLIENT_NS, pop.as_demo(), MESSAGES, timeout=2)
    # The other peer is untouched.
    assert allowed_ips().get(pop.peers["v6pb"].public_key) == f"{pop.peers['v6pb'].address}/128"
    pop.check_alive()
