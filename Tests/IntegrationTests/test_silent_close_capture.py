"""The silent close, seen on the wire: a packet capture of each probe shows the gateway sent nothing but a FIN.

test_silence.py watches from the client's socket; a socket cannot tell "the server sent RST" from some races,
nor whether the server read what it was sent. Here tcpdump records each probe's connection and the test reads
the capture (pcap, parsed with struct) to check, for every packet the gateway sent on that connection:

* no TCP payload byte (every one has length 0),
* no RST,
* a FIN,
* and an acknowledgement of everything the client sent, FIN included.

The ACK shows the bytes reached the gateway's kernel, not that popgated read them. Closing a socket with unread
bytes is what makes the kernel send RST, but only while the client's side is still open: once the client's FIN
has arrived the socket is in TIME_WAIT and a close sends nothing. The probes here close right after EOF, as curl
does, so one more probe keeps its side open until the gateway lets go of the socket (its drain timeout): a
gateway that had left the bytes unread would reset it then.

Probes from a source that is not a live peer run inside the PoP's namespace over loopback (its own tunnel
address is no peer; popnetd's policy lets loopback through, while pg-outside is dropped before any socket and
shows nothing to capture). The last case is a real peer with a wrong API key, through its tunnel, against a second
popgated configured with `silent_close_on_auth_failure = true`; see `_rewrite_table` for how it is reached.
"""

from __future__ import annotations

import ipaddress
import json
import random
import select
import sys
import time
import shutil
import signal
import struct
import subprocess
import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import urlsplit

import pytest

from harness.binaries import REPO
from harness.demo import Demo
from harness.gateways import SecondGateway, free_port, second_gateway_config
from harness.processes import clean_env, describe, ns_cmd, ns_python, ns_run, require, wait_for

CAPTURE_READY_TIMEOUT = 10  # tcpdump prints "listening on" within a second
PROBE_READ_TIMEOUT = 20  # the gateway's drain gives up after 10 s; a silent close normally ends in milliseconds
DRAIN_TIMEOUT = 10  # SilentCloseHandler's default: how long the gateway waits for the client to close
SETTLE_TIMEOUT = 5  # after the probe saw EOF, the last packets (its FIN, the gateway's ACK) are in flight
STOP_TIMEOUT = 10
POST_BODY_BYTES = 100 * 1024
WRONG_KEY = "popk_0000000000000000_" + "0" * 64
TEST_TABLE = "popgate_test_capture"  # our own nftables table, never popgate's (popnetd repairs that one)

FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10


# ------------------------------------------------------------------------------------------------------------
# Reading the capture


@dataclass(frozen=True)
class Segment:
    """One captured TCP segment; `payload` comes from the IP length fields, so a short snaplen is enough."""

    time: float
    src: str
    sport: int
    dst: str
    dport: int
    seq: int
    ack: int
    flags: int
    payload: int

    def __str__(self) -> str:
        names = "".join(c for bit, c in ((SYN, "S"), (FIN, "F"), (RST, "R"), (0x08, "P")) if self.flags & bit)
        names += "." if self.flags & ACK else ""
        return (f"{self.time:.6f} {self.src}.{self.sport} > {self.dst}.{self.dport}: Flags [{names}], "
                f"seq {self.seq}, ack {self.ack}, length {self.payload}")


def _ip_offset(linktype: int, frame: bytes) -> int | None:
    """Where the IP header starts in a frame of this link type, or None if the frame carries no IP."""
    if linktype == 1:  # Ethernet (loopback is captured as Ethernet with zero addresses)
        offset, ethertype = 14, struct.unpack_from("!H", frame, 12)[0] if len(frame) >= 14 else 0
        while ethertype in (0x8100, 0x88A8) and len(frame) >= offset + 4:
            ethertype, offset = struct.unpack_from("!H", frame, offset + 2)[0], offset + 4
        return offset if ethertype in (0x0800, 0x86DD) else None
    if linktype in (12, 14, 101):  # raw IP: a TUN device such as wireguard-go's
        return 0
    if linktype == 113:  # Linux cooked (-i any)
        return 16
    if linktype == 276:  # Linux cooked v2
        return 20
    if linktype == 0:  # BSD loopback: a 4-byte address family
        return 4
    return None


def _segment(time_: float, linktype: int, frame: bytes, wire_length: int) -> Segment | None:
    offset = _ip_offset(linktype, frame)
    if offset is None or len(frame) < offset + 1:
        return None
    version = frame[offset] >> 4
    if version == 4 and len(frame) >= offset + 20:
        header = (frame[offset] & 0x0F) * 4
        total, protocol = struct.unpack_from("!H", frame, offset + 2)[0], frame[offset + 9]
        src = str(ipaddress.IPv4Address(frame[offset + 12:offset + 16]))
        dst = str(ipaddress.IPv4Address(frame[offset + 16:offset + 20]))
        # A GSO packet over 64 KiB (IPv4 BIG TCP) carries total length 0: then the frame's wire length tells.
        ip_length = total or wire_length - offset
    elif version == 6 and len(frame) >= offset + 40:
        header, protocol = 40, frame[offset + 6]
        ip_length = 40 + struct.unpack_from("!H", frame, offset + 4)[0]
        src = str(ipaddress.IPv6Address(frame[offset + 8:offset + 24]))
        dst = str(ipaddress.IPv6Address(frame[offset + 24:offset + 40]))
    else:
        return None
    tcp = offset + header
    if protocol != 6 or len(frame) < tcp + 14:
        return None
    sport, dport, seq, ack, data_offset, flags = struct.unpack_from("!HHIIBB", frame, tcp)
    payload = ip_length - header - (data_offset >> 4) * 4
    return Segment(time_, src, sport, dst, dport, seq, ack, flags, payload)


def parse_pcap(data: bytes) -> list[Segment]:
    """The TCP segments in a pcap stream (a record still being written at the end is left out)."""
    if len(data) < 24:
        return []
    magic = data[:4]
    formats = {b"\xd4\xc3\xb2\xa1": ("<", 1e-6), b"\xa1\xb2\xc3\xd4": (">", 1e-6),
               b"\x4d\x3c\xb2\xa1": ("<", 1e-9), b"\xa1\xb2\x3c\x4d": (">", 1e-9)}
    if magic not in formats:
        raise AssertionError(f"not a pcap stream (magic {magic.hex()}): is this tcpdump's -w output?")
    order, unit = formats[magic]
    linktype = struct.unpack_from(order + "I", data, 20)[0] & 0xFFFF
    segments, position = [], 24
    while position + 16 <= len(data):
        seconds, fraction, captured, wire = struct.unpack_from(order + "IIII", data, position)
        if position + 16 + captured > len(data):
            break
        frame = data[position + 16:position + 16 + captured]
        segment = _segment(seconds + fraction * unit, linktype, frame, wire)
        if segment is not None:
            segments.append(segment)
        position += 16 + captured
    return segments


def _relative(number: int, isn: int) -> int:
    return (number - isn) % (1 << 32)


@dataclass
class Connection:
    """One TCP connection in a capture, from the client's SYN on."""

    client: tuple[str, int]
    server: tuple[str, int]
    segments: list[Segment]

    @property
    def from_client(self) -> list[Segment]:
        return [s for s in self.segments if (s.src, s.sport) == self.client and (s.dst, s.dport) == self.server]

    @property
    def from_server(self) -> list[Segment]:
        return [s for s in self.segments if (s.src, s.sport) == self.server and (s.dst, s.dport) == self.client]

    @property
    def client_isn(self) -> int | None:
        syn = next((s for s in self.from_client if s.flags & SYN), None)
        return syn.seq if syn else None

    def client_bytes(self) -> int:
        """How many payload bytes the client sent (the highest sequence offset; retransmissions count once)."""
        isn = self.client_isn
        ends = [_relative(s.seq, isn) - 1 + s.payload for s in self.from_client if s.payload > 0 and isn is not None]
        return max(ends, default=0)

    def client_fin_end(self) -> int | None:
        """The relative sequence number just past the client's FIN, which the server's ACK must reach."""
        isn = self.client_isn
        fins = [s for s in self.from_client if s.flags & FIN]
        return _relative(fins[0].seq, isn) + fins[0].payload + 1 if fins and isn is not None else None

    def server_acked(self) -> int:
        """The highest relative acknowledgement number the server sent (0: none)."""
        isn = self.client_isn
        acks = [_relative(s.ack, isn) for s in self.from_server if s.flags & ACK and isn is not None]
        return max(acks, default=0)

    def closed(self) -> bool:
        """Over on the wire: someone reset it, or both sides sent FIN and the server acknowledged the client's."""
        if any(s.flags & RST for s in self.segments):
            return True
        fin_end = self.client_fin_end()
        server_fin = any(s.flags & FIN for s in self.from_server)
        return server_fin and fin_end is not None and self.server_acked() >= fin_end

    def render(self) -> str:
        return "\n".join(str(s) for s in self.segments) or "(no packets of this connection were captured)"


def connection(segments: list[Segment], server: tuple[str, int], client_port: int) -> Connection:
    """The segments between `server` and the client's port (the client's address is whichever talked to it)."""
    mine = [s for s in segments
            if ((s.dst, s.dport) == server and s.sport == client_port)
            or ((s.src, s.sport) == server and s.dport == client_port)]
    client_address = next((s.src for s in mine if (s.dst, s.dport) == server), server[0])
    return Connection((client_address, client_port), server, mine)


# ------------------------------------------------------------------------------------------------------------
# tcpdump, running in a namespace for the length of a `with` block


class Capture:
    """tcpdump writing pcap to a pipe (packet-buffered) that a thread reads; waits are on its arrivals."""

    def __init__(self, ns: str, interface: str, host: str, port: int) -> None:
        self.command = ns_cmd(ns, ["tcpdump", "-i", interface, "-nn", "-U", "-s", "256", "-w", "-",
                                   f"tcp and host {host} and port {port}"])
        self.changed = threading.Condition()
        self.data = bytearray()
        self.stderr = ""
        self.process: subprocess.Popen[bytes] | None = None
        self.threads: list[threading.Thread] = []

    def __enter__(self) -> "Capture":
        self.process = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, env=clean_env())
        self.threads = [threading.Thread(target=self._pump, args=(self.process.stdout, False), daemon=True),
                        threading.Thread(target=self._pump, args=(self.process.stderr, True), daemon=True)]
        for thread in self.threads:
            thread.start()
        try:
            # tcpdump says "listening on" once the socket is bound and the filter installed: from then on it sees
            # every packet. Waiting for that line, not for some time, is what makes the capture complete.
            started = self._wait(lambda: "listening on" in self.stderr or self.process.poll() is not None,
                                 CAPTURE_READY_TIMEOUT)
            assert started and self.process.poll() is None, \
                f"tcpdump did not start capturing: $ {' '.join(self.command)}\n{self.stderr}"
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self._stop()

    def _pump(self, stream, text: bool) -> None:
        while chunk := stream.read1(65536):
            with self.changed:
                if text:
                    self.stderr += chunk.decode(errors="replace")
                else:
                    self.data += chunk
                self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    def _wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(predicate, timeout=timeout)

    def segments(self) -> list[Segment]:
        with self.changed:
            return parse_pcap(bytes(self.data))

    def wait_closed(self, server: tuple[str, int], client_port: int, timeout: float) -> Connection:
        """The connection once it is over on the wire (see `Connection.closed`), or as it stands after `timeout`."""
        self._wait(lambda: connection(parse_pcap(bytes(self.data)), server, client_port).closed(), timeout)
        return connection(self.segments(), server, client_port)

    def _stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # tcpdump flushes and prints its statistics
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT)
        for thread in self.threads:
            thread.join(timeout=STOP_TIMEOUT)

    def dropped(self) -> str | None:
        """tcpdump's own report of packets it lost, if it lost any (then the capture proves nothing)."""
        for line in self.stderr.splitlines():
            words = line.split()
            if line.endswith("dropped by kernel") and words and words[0].isdigit() and int(words[0]) > 0:
                return line
        return None


# ------------------------------------------------------------------------------------------------------------
# The probe: one raw TCP connection from inside a namespace

_PROBE_SCRIPT = r"""
import json, socket, sys, time
a = json.loads(sys.argv[1])
payload = a["head"].encode() + b"x" * a["body_bytes"]
s = socket.socket(socket.AF_INET6 if ":" in a["host"] else socket.AF_INET)
if a["source_port"]:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("", a["source_port"]))
s.settimeout(a["connect_timeout"])
try:
    s.connect((a["host"], a["port"]))
except OSError as e:
    print(json.dumps({"outcome": "connect failed: %s: %s" % (type(e).__name__, e), "received": 0, "preview": "",
                      "sent": 0, "local_port": s.getsockname()[1]}))
    sys.exit(0)
local_port = s.getsockname()[1]
sent, outcome = 0, None
try:
    s.sendall(payload)
    sent = len(payload)
except OSError as e:
    outcome = "send failed: %s: %s" % (type(e).__name__, e)
received = b""
deadline = time.monotonic() + a["read_timeout"]
while outcome is None:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        outcome = "timeout"
        break
    s.settimeout(remaining)
    try:
        chunk = s.recv(65536)
    except socket.timeout:
        outcome = "timeout"
    except ConnectionResetError:
        outcome = "reset"
    else:
        if not chunk:
            outcome = "eof"
        else:
            received += chunk
            outcome = "data"  # one byte is already a failure: no need to wait for more
s.close()
print(json.dumps({"outcome": outcome, "received": len(received), "preview": received[:300].decode("latin-1"),
                  "sent": sent, "local_port": local_port}))
"""


def probe(ns: str, host: str, port: int, head: str, body_bytes: int = 0, source_port: int = 0) -> dict:
    """Connects from `ns`, sends `head` and `body_bytes` bytes, reads until EOF, reset, a first byte or timeout."""
    args = {"host": host, "port": port, "head": head, "body_bytes": body_bytes, "source_port": source_port,
            "connect_timeout": 5, "read_timeout": PROBE_READ_TIMEOUT}
    return ns_python(ns, _PROBE_SCRIPT, args, timeout=PROBE_READ_TIMEOUT + 20)


def get_models(host: str, port: int, key: str) -> str:
    return (f"GET /v1/models HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {key}\r\n"
            "Accept: application/json\r\n\r\n")


def post_chat_head(host: str, port: int, key: str, body_bytes: int) -> str:
    """The head of a chat completion POST whose body (`body_bytes` of 'x', sent by the probe) follows."""
    return (f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {body_bytes}\r\n\r\n")


def requests(host: str, port: int, key: str) -> dict[str, tuple[str, int]]:
    """The probes the issue names: connect and send nothing, a full GET, a 100 KB POST."""
    return {
        "nothing": ("", 0),
        "get": (get_models(host, port, key), 0),
        "post-100k": (post_chat_head(host, port, key, POST_BODY_BYTES), POST_BODY_BYTES),
    }


# ------------------------------------------------------------------------------------------------------------
# Assertions on one captured connection


def assert_silent_close_on_the_wire(conn: Connection, result: dict, capture: Capture) -> None:
    context = f"probe: {result}\ncapture of the connection:\n{conn.render()}\ntcpdump:\n{capture.stderr}"
    assert capture.dropped() is None, f"tcpdump lost packets ({capture.dropped()}): the capture proves nothing\n" \
        + context
    assert conn.client_isn is not None, "the capture holds no SYN from the probe\n" + context
    assert any(s.flags & SYN and s.flags & ACK for s in conn.from_server), \
        "the gateway never accepted the connection (no SYN-ACK): nothing reached the listener\n" + context
    talking = [str(s) for s in conn.from_server if s.payload > 0]
    assert not talking, "the gateway sent TCP payload:\n" + "\n".join(talking) + "\n" + context
    resets = [str(s) for s in conn.from_server if s.flags & RST]
    assert not resets, "the gateway sent RST:\n" + "\n".join(resets) + "\n" + context
    assert any(s.flags & FIN for s in conn.from_server), "the gateway never sent FIN\n" + context
    sent = conn.client_bytes()
    assert sent == result["sent"], f"the capture holds {sent} client bytes, the probe sent {result['sent']}\n" \
        + context
    acked = conn.server_acked()
    assert acked >= 1 + sent, f"the gateway acknowledged {max(acked - 1, 0)} of the {sent} bytes sent\n" + context
    assert acked == conn.client_fin_end(), "the gateway did not acknowledge the client's FIN\n" + context
    # The client's view agrees: not a byte, and an orderly end of stream rather than a reset.
    assert result["received"] == 0, f"the probe received {result['received']} bytes: {result['preview']!r}"
    assert result["outcome"] == "eof", f"the probe ended with {result['outcome']}, not a clean EOF\n" + context


def captured_probe(demo: Demo, ns: str, interface: str, server: tuple[str, int], head: str, body_bytes: int, *,
                   source_port: int = 0) -> tuple[Connection, dict, Capture]:
    """Captures `interface` in the PoP's namespace while `ns` runs one probe to `server` (address, port)."""
    host, port = server
    with Capture(demo.pop_ns, interface, host, port) as capture:
        result = probe(ns, host, port, head, body_bytes, source_port)
        assert not result["outcome"].startswith("connect failed"), (
            f"could not reach the listener at {host}:{port} from {ns} ({result['outcome']}); "
            f"tcpdump:\n{capture.stderr}"
        )
        # Only the probe's last packets can still be in flight when it returns (a failed one may never finish).
        conn = capture.wait_closed(server, result["local_port"], SETTLE_TIMEOUT if result["outcome"] == "eof" else 1)
    print(f"--- {interface}: {head.splitlines()[0] if head else 'connect, send nothing'}"
          f"{f' + {body_bytes} body bytes' if body_bytes else ''}\n{conn.render()}")
    return conn, result, capture


@pytest.fixture
def tcpdump(demo: Demo) -> Demo:
    """The demo, on a machine that has tcpdump."""
    require(shutil.which("tcpdump"), "tcpdump is not installed (`make deps`)")
    return demo


def _tunnel_endpoint(demo: Demo) -> tuple[str, int]:
    """The gateway's tunnel address and API port."""
    parts = urlsplit(demo.api_url)
    return parts.hostname or "", parts.port or 80


# ------------------------------------------------------------------------------------------------------------
# A source that is not a live peer: the PoP itself, over loopback


@pytest.mark.parametrize("kind", ["nothing", "get", "post-100k"])
def test_a_non_peer_gets_only_a_fin_on_the_wire(tcpdump: Demo, kind: str) -> None:
    demo = tcpdump
    server = _tunnel_endpoint(demo)
    head, body_bytes = requests(*server, demo.api_key)[kind]
    # Even the tenant's valid key: the source decides, before any byte is read.
    conn, result, capture = captured_probe(demo, demo.pop_ns, "lo", server, head, body_bytes)
    assert_silent_close_on_the_wire(conn, result, capture)


# Sends a request, reads to EOF, then says so (one JSON line) and keeps its side open until told to close on stdin.
_HOLDING_PROBE_SCRIPT = r"""
import json, socket, sys
a = json.loads(sys.argv[1])
s = socket.create_connection((a["host"], a["port"]), timeout=a["read_timeout"])
local_port = s.getsockname()[1]
s.sendall(a["head"].encode() + b"x" * a["body_bytes"])
received = b""
try:
    while chunk := s.recv(65536):
        received += chunk
        break  # one byte is already a failure
    outcome = "data" if received else "eof"
except OSError as e:
    outcome = "%s: %s" % (type(e).__name__, e)
print(json.dumps({"local_port": local_port, "outcome": outcome}), flush=True)
if outcome == "eof":
    sys.stdin.readline()
    # A reset that came while holding shows as an error here (and as an R in the capture).
    s.setblocking(False)
    try:
        s.recv(1)
    except BlockingIOError:
        pass
    except OSError as e:
        outcome = "while holding: %s: %s" % (type(e).__name__, e)
s.close()
print(json.dumps({"local_port": local_port, "outcome": outcome, "received": len(received),
                  "preview": received[:300].decode("latin-1"), "sent": len(a["head"]) + a["body_bytes"]}))
"""


def _gateway_let_go(ns: str, server_port: int, client_port: int) -> bool:
    """True once the gateway has closed its socket of this connection: gone, or a time-wait socket (inode 0)."""
    result = ns_run(ns, ["ss", "-Htnoe", f"( sport = :{server_port} and dport = :{client_port} )"], timeout=10)
    return result.returncode == 0 and (not result.stdout.strip() or " ino:0 " in result.stdout + " ")


def test_a_non_peer_that_keeps_its_side_open_is_let_go_after_the_drain_timeout_without_rst(tcpdump: Demo) -> None:
    demo = tcpdump
    server = _tunnel_endpoint(demo)
    head, body_bytes = requests(*server, demo.api_key)["post-100k"]
    args = {"host": server[0], "port": server[1], "head": head, "body_bytes": body_bytes, "read_timeout": 10}
    with Capture(demo.pop_ns, "lo", *server) as capture:
        started = time.monotonic()
        process = subprocess.Popen(ns_cmd(demo.pop_ns, [sys.executable, "-c", _HOLDING_PROBE_SCRIPT, json.dumps(args)]),
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   env=clean_env())
        try:
            ready, _, _ = select.select([process.stdout], [], [], 15)
            assert ready, "the probe did not report within 15 s"
            holding = json.loads(process.stdout.readline() or "{}")
            assert holding.get("outcome") == "eof", f"the probe did not get a clean EOF: {holding}"
            let_go = wait_for(lambda: _gateway_let_go(demo.pop_ns, server[1], holding["local_port"]),
                              timeout=DRAIN_TIMEOUT + 8, interval=0.25)
            held = time.monotonic() - started
            out, err = process.communicate("close\n", timeout=15)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=STOP_TIMEOUT)
        result = json.loads(out.strip().splitlines()[-1]) if out.strip() else {"outcome": f"no output: {err}"}
        conn = capture.wait_closed(server, holding["local_port"], SETTLE_TIMEOUT)
    print(f"--- lo: held open for {held:.1f} s\n{conn.render()}")
    assert let_go, f"the gateway still held the connection {held:.1f} s after it began\n{conn.render()}"
    assert DRAIN_TIMEOUT - 1 <= held, f"the gateway let go after {held:.1f} s, before its drain timeout"
    assert_silent_close_on_the_wire(conn, result, capture)


# ------------------------------------------------------------------------------------------------------------
# A real peer with a wrong key, against a gateway told to close silently on authentication failure


def _silent_auth_feature_landed() -> bool:
    return any("silent_close_on_auth_failure" in path.read_text(errors="replace")
               for path in (REPO / "Sources" / "PopConfig").glob("*.swift"))


@pytest.fixture
def silent_auth_gateway(tcpdump: Demo) -> Iterator[int]:
    """A second popgated in the PoP's namespace, on a free port of the tunnel address, with a copy of the demo's
    configuration plus `silent_close_on_auth_failure = true`; yields its port and stops it by PID afterwards."""
    demo = tcpdump
    host, _ = _tunnel_endpoint(demo)
    port = free_port(demo.pop_ns, host)
    config = second_gateway_config(Path(demo.config).read_text(), port,
                                   gateway=["silent_close_on_auth_failure = true"])
    with SecondGateway(demo, "silent-auth", config, port):
        yield port


def _rewrite_table(interface: str, address: str, api_port: int, gateway_port: int, client_port: int) -> str:
    """Steers one client port's connection to the API port over to `gateway_port`, and its replies back.

    popnetd's policy (policy-drop base chains) lets peers reach only the API port, and an accept in another table
    cannot overrule a drop in popgate's, so the probe must pass popgate's input chain as a connection to the API
    port. After it (priority 10) its destination port is rewritten, before the socket lookup that follows the input
    hook; the replies get the API port back as their source port before conntrack (priority -350 < -200), so
    conntrack and popgate's output chain see the original connection's replies. The wire on `interface` shows the
    API port throughout. Only the probe's own source port is touched; popgate's table is never changed.
    """
    return f"""
table inet {TEST_TABLE} {{
    chain steer_in {{
        type filter hook input priority 10; policy accept;
        iifname "{interface}" ip daddr {address} tcp sport {client_port} tcp dport {api_port} \
tcp dport set {gateway_port}
    }}
    chain steer_out {{
        type filter hook output priority -350; policy accept;
        oifname "{interface}" ip saddr {address} tcp sport {gateway_port} tcp dport {client_port} \
tcp sport set {api_port}
    }}
}}
"""


def _edge_interface(demo: Demo) -> str:
    with open(demo.config, "rb") as file:
        return tomllib.load(file)["wireguard"]["interface"]


@pytest.mark.parametrize("kind", ["get", "post-100k"])
def test_a_peer_with_a_wrong_key_gets_only_a_fin_on_the_wire_when_so_configured(
    tcpdump: Demo, kind: str, request: pytest.FixtureRequest
) -> None:
    if not _silent_auth_feature_landed():
        pytest.skip("[gateway] silent_close_on_auth_failure is not in PopConfig yet")
    require(shutil.which("nft"), "nft is not installed (`make deps`)")
    demo = tcpdump
    gateway_port = request.getfixturevalue("silent_auth_gateway")
    server = _tunnel_endpoint(demo)
    interface = _edge_interface(demo)
    # Below the ephemeral range (32768-60999), so nothing else in the client's namespace uses it.
    client_port = random.randint(20000, 29999)
    head, body_bytes = requests(*server, WRONG_KEY)[kind]
    ns_run(demo.pop_ns, ["nft", "delete", "table", "inet", TEST_TABLE], timeout=10)  # left by a killed run
    added = ns_run(demo.pop_ns, ["nft", "-f", "-"], timeout=10,
                   input=_rewrite_table(interface, server[0], server[1], gateway_port, client_port))
    assert added.returncode == 0, describe(added)
    try:
        conn, result, capture = captured_probe(demo, demo.client_ns, interface, server, head, body_bytes,
                                               source_port=client_port)
    finally:
        removed = ns_run(demo.pop_ns, ["nft", "delete", "table", "inet", TEST_TABLE], timeout=10)
    assert removed.returncode == 0, describe(removed)
    assert_silent_close_on_the_wire(conn, result, capture)
