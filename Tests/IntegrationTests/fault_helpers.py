"""Helpers for test_faults.py: processes of the demo stopped, killed and started again by their recorded PIDs, a
client that keeps asking in the background, a raw streaming client that tells how its connection ended, and a
watch on popnetd's nftables table.

Everything here is bounded in time and ends only processes it started itself, or the demo's daemons named by the
PID files `demo.sh up` wrote (which `demo.sh down` then finds again, rewritten when a daemon is started anew).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.demo import Demo
from harness.processes import clean_env, describe, ns_cmd, ns_python, ns_run, wait_for

# How long the short and the long (POPGATE_SOAK=1, `make soak`) forms keep faults and load going: read here only.
SOAK = os.environ.get("POPGATE_SOAK") == "1"
KILL_ROUNDS = 5 if SOAK else 1  # popnetd kill/restart cycles under traffic
# Traffic kept flowing after each restart. All rounds together must stay well inside WireGuard's 120 s rekey
# interval, which starts with the fresh session the test makes: a rekey would look like a handshake the restart made.
LOAD_SECONDS_AFTER_RESTART = 15.0 if SOAK else 2.0


# ------------------------------------------------------------------------------------------------------------
# The demo's daemons, by the PIDs demo.sh recorded


@dataclass
class RecordedDaemon:
    """One of the demo's processes (`popnetd`, `popgated`, `popgate-inference-sim@sim-big`), known by the PID file
    demo.sh wrote; its command line is read before it is stopped, so it can be started again the same way."""

    demo: Demo
    name: str  # the pid and log files' stem
    ns: str  # where it runs (`ip netns exec` replaced itself with the program: its command line is the program's)

    @property
    def pid_file(self) -> Path:
        return self.demo.demo_dir / "pids" / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.demo.demo_dir / "logs" / f"{self.name}.log"

    def pid(self) -> int:
        return int(self.pid_file.read_text())

    def argv(self) -> list[str]:
        return [part.decode() for part in Path(f"/proc/{self.pid()}/cmdline").read_bytes().split(b"\0") if part]

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def signal(self, number: signal.Signals) -> None:
        os.kill(self.pid(), number)

    def gone(self) -> bool:
        """Whether the recorded process has exited (a zombie counts as gone: its parent has not reaped it yet)."""
        try:
            status = Path(f"/proc/{self.pid()}/status").read_text()
        except FileNotFoundError:
            return True
        return "State:\tZ" in status

    def start(self, command: list[str]) -> subprocess.Popen[bytes]:
        """Starts it again with `command` (its old `argv()`) in its namespace, appending to its log, and records the
        new PID where `demo.sh down` finds it."""
        with open(self.log_file, "ab") as log:
            process = subprocess.Popen(ns_cmd(self.ns, command), stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, env=clean_env())
        self.pid_file.write_text(f"{process.pid}\n")
        return process


# ------------------------------------------------------------------------------------------------------------
# A client that keeps asking, in the background

# Sends small chat completions back to back from inside a namespace until `until` (CLOCK_MONOTONIC, shared by every
# namespace) and appends one JSON line per request: when it was sent and how long it took, and its status or why it
# got none. One connection per request, so a request that fails says so instead of poisoning the next.
_CLIENT_LOOP = r"""
import http.client, json, sys, time
a = json.loads(sys.argv[1])
body = json.dumps({"model": a["model"], "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2})
with open(a["out"], "a", buffering=1) as out:
    while time.monotonic() < a["until"]:
        sent = time.monotonic()
        try:
            conn = http.client.HTTPConnection(a["host"], a["port"], timeout=a["timeout"])
            conn.request("POST", "/v1/chat/completions", body=body,
                         headers={"Authorization": "Bearer " + a["key"], "Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            conn.close()
            outcome = response.status
        except Exception as e:
            outcome = "%s: %s" % (type(e).__name__, e)
        out.write(json.dumps({"sent": sent, "took": time.monotonic() - sent, "outcome": outcome}) + "\n")
        time.sleep(a["pause"])
"""


class ClientLoop:
    """Requests from `ns` to `url`'s gateway, one after another, for a `with` block (ended by its PID on exit)."""

    def __init__(self, demo: Demo, ns: str, out: Path, *, seconds: float = 600, pause: float = 0.02,
                 request_timeout: float = 5) -> None:
        host, port = demo.api_url.split("//")[1].rsplit(":", 1)
        self.out = out
        self.args = {"host": host, "port": int(port), "key": demo.api_key, "model": demo.model, "out": str(out),
                     "until": time.monotonic() + seconds, "pause": pause, "timeout": request_timeout}
        self.ns = ns
        self.process: subprocess.Popen[bytes] | None = None

    def results(self) -> list[dict[str, Any]]:
        if not self.out.exists():
            return []
        return [json.loads(line) for line in self.out.read_text().splitlines() if line.endswith("}")]

    def __enter__(self) -> "ClientLoop":
        self.process = subprocess.Popen(ns_cmd(self.ns, ["python3", "-c", _CLIENT_LOOP, json.dumps(self.args)]),
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, env=clean_env())
        return self

    def __exit__(self, *_: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def answered(self, after: float = 0.0) -> int:
        """Requests sent after `after` (monotonic) that got 200."""
        return sum(1 for r in self.results() if r["sent"] >= after and r["outcome"] == 200)

    def failures(self) -> list[dict[str, Any]]:
        return [r for r in self.results() if r["outcome"] != 200]


# ------------------------------------------------------------------------------------------------------------
# A streaming request that reports how its connection ended

# One streaming chat completion over a plain socket from inside a namespace: it reads until the server closes (FIN:
# "eof"), resets ("reset") or the deadline passes ("timeout"), noting when each SSE event arrived, and touches
# `mark` when the first one has. The HTTP response is taken apart afterwards (chunked transfer coding).
_RAW_STREAM_SCRIPT = r"""
import json, socket, sys, time
a = json.loads(sys.argv[1])
body = json.dumps(a["body"]).encode()
head = "POST /v1/chat/completions HTTP/1.1\r\nHost: %s:%d\r\n" % (a["host"], a["port"])
head += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
for name, value in a["headers"].items():
    head += "%s: %s\r\n" % (name, value)
start = time.monotonic()
s = socket.create_connection((a["host"], a["port"]), timeout=5)
s.sendall(head.encode() + b"\r\n" + body)
received, arrivals, marked, end = b"", [], False, "timeout"
deadline = start + a["timeout"]
while True:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        break
    s.settimeout(remaining)
    try:
        piece = s.recv(65536)
    except socket.timeout:
        break
    except ConnectionResetError:
        end = "reset"
        break
    if not piece:
        end = "eof"
        break
    received += piece
    arrivals.append((time.monotonic() - start, len(received)))
    if not marked and b"data:" in received and a["mark"]:
        open(a["mark"], "w").close()
        marked = True
ended = time.monotonic() - start
s.close()

header, _, rest = received.partition(b"\r\n\r\n")
lines = header.decode("latin-1").split("\r\n")
status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
# Chunked: each chunk's payload, with the offset (in `received`) where it ends, for its arrival time.
offset, payload, pieces, complete = len(header) + 4, b"", [], False
while True:
    size_end = rest.find(b"\r\n")
    if size_end < 0:
        break
    size = int(rest[:size_end].split(b";")[0] or b"0", 16)
    if size == 0:
        complete = True
        break
    chunk = rest[size_end + 2:size_end + 2 + size]
    if len(chunk) < size:
        break
    offset += size_end + 2 + size + 2
    pieces.append((offset, chunk))
    rest = rest[size_end + 2 + size + 2:]
events, buffer = [], b""
for end_offset, chunk in pieces:
    arrived = next(t for t, size in arrivals if size >= end_offset - 2)
    buffer += chunk
    while b"\n\n" in buffer:
        raw, buffer = buffer.split(b"\n\n", 1)
        data = [l[5:].lstrip(b" ") for l in raw.split(b"\n") if l.startswith(b"data:")]
        if data:
            events.append([arrived, b"\n".join(data).decode()])
print(json.dumps({"status": status, "headers": headers, "events": events, "end": end, "ended_at": ended,
                  "chunked_end": complete}))
"""


def raw_stream(ns: str, host: str, port: int, body: dict[str, Any], headers: dict[str, str], *, timeout: float,
               mark: Path | None = None) -> dict[str, Any]:
    """Streams one chat completion from `ns`; returns {"status", "headers", "events": [[seconds, data], …],
    "end": "eof"|"reset"|"timeout", "ended_at": seconds, "chunked_end": whether the last chunk came}."""
    args = {"host": host, "port": port, "body": body, "headers": headers, "timeout": timeout,
            "mark": str(mark) if mark else None}
    return ns_python(ns, _RAW_STREAM_SCRIPT, args, timeout=timeout + 20)


# ------------------------------------------------------------------------------------------------------------
# popnetd's table, watched


class TableWatch:
    """Watches `table inet popgate` in the PoP's namespace for a `with` block, two ways at once: `nft monitor`
    reports every change to the ruleset (a deleted table is an event), and a thread lists the table back to back,
    counting the listings that did not find it. A listing takes milliseconds, so a gap that outlasted one would
    be seen even if the monitor missed it."""

    def __init__(self, demo: Demo) -> None:
        self.demo = demo
        self.monitor: subprocess.Popen[str] | None = None
        self.listings = 0
        self.absent: list[str] = []  # why each listing that failed did
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self.changes = ""

    def _poll(self) -> None:
        while not self._stop.is_set():
            result = ns_run(self.demo.pop_ns, ["nft", "list", "table", "inet", "popgate"], timeout=10)
            self.listings += 1
            if result.returncode != 0 or "table inet popgate" not in result.stdout:
                self.absent.append(result.stderr.strip()[:200])

    def __enter__(self) -> "TableWatch":
        self.monitor = subprocess.Popen(ns_cmd(self.demo.pop_ns, ["stdbuf", "-oL", "nft", "monitor", "ruleset"]),
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True, env=clean_env())
        try:
            self._wait_until_monitor_listens()
        except BaseException:
            self._end_monitor()
            raise
        self._thread.start()
        return self

    def _wait_until_monitor_listens(self) -> None:
        # nft monitor gives no sign that it listens: probe tables (never popgate's) are added until it reports one.
        import select
        assert self.monitor is not None and self.monitor.stdout is not None
        for attempt in range(50):
            probe = f"pgfaultprobe{attempt}"
            ns_run(self.demo.pop_ns, ["nft", "add", "table", "inet", probe], timeout=10)
            ns_run(self.demo.pop_ns, ["nft", "delete", "table", "inet", probe], timeout=10)
            ready, _, _ = select.select([self.monitor.stdout], [], [], 0.2)
            if ready and "pgfaultprobe" in self.monitor.stdout.readline():
                return
        raise AssertionError("nft monitor never reported a change")

    def _end_monitor(self) -> str:
        if self.monitor is None or self.monitor.poll() is not None:
            return ""
        self.monitor.send_signal(signal.SIGTERM)
        rest, _ = self.monitor.communicate(timeout=10)
        return rest or ""

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=15)
        self.changes = "\n".join(line for line in self._end_monitor().splitlines() if "pgfaultprobe" not in line)


def wg_peer_view(demo: Demo, interface: str = "wg-edge") -> dict[str, Any]:
    """The PoP device's peers with their endpoints and allowed IPs and their latest handshakes (no key material
    beyond public keys)."""
    def show(what: str) -> dict[str, str]:
        result = ns_run(demo.pop_ns, ["wg", "show", interface, what], timeout=10)
        assert result.returncode == 0, describe(result)
        return dict(line.split("\t", 1) for line in result.stdout.splitlines() if "\t" in line)
    return {"endpoints": show("endpoints"), "allowed_ips": show("allowed-ips"),
            "handshakes": {k: int(v) for k, v in show("latest-handshakes").items()}}


def fresh_client_session(demo: Demo, client_key: str, interface: str = "pgc0", *, timeout: float = 10) -> None:
    """Makes the client's tunnel start a new WireGuard session now, so that no scheduled rekey (after 120 s of
    traffic) falls inside the next minute: the client's peer (the PoP) is removed and added again from the client's
    own configuration, read and written through pipes (it holds the private key); the new peer's keepalive makes the
    handshake at once. Returns once the PoP's device shows it for `client_key`."""
    before = wg_peer_view(demo)["handshakes"].get(client_key, 0)
    # Handshake times have a resolution of a second: a new one must be able to show as later.
    time.sleep(max(0.0, before + 1.05 - time.time()))
    shown = ns_run(demo.client_ns, ["wg", "showconf", interface], timeout=10)
    assert shown.returncode == 0, f"wg showconf {interface} failed: exit {shown.returncode}"
    pop_key = ns_run(demo.client_ns, ["wg", "show", interface, "peers"], timeout=10).stdout.split()
    assert len(pop_key) == 1, f"{interface} has {len(pop_key)} peers, expected the PoP alone"
    removed = ns_run(demo.client_ns, ["wg", "set", interface, "peer", pop_key[0], "remove"], timeout=10)
    assert removed.returncode == 0, describe(removed)
    added = ns_run(demo.client_ns, ["wg", "addconf", interface, "/dev/stdin"], timeout=10, input=shown.stdout)
    assert added.returncode == 0, f"wg addconf {interface} failed: exit {added.returncode}"
    assert wait_for(lambda: wg_peer_view(demo)["handshakes"].get(client_key, 0) > before, timeout=timeout,
                    interval=0.1), "the client's tunnel made no new handshake"


# Polls from inside a namespace until a request with `key` gets HTTP 200 or the deadline (CLOCK_MONOTONIC) passes.
_ANSWERED_SCRIPT = r"""
import http.client, json, sys, time
a = json.loads(sys.argv[1])
last = None
while time.monotonic() < a["deadline"]:
    try:
        conn = http.client.HTTPConnection(a["host"], a["port"], timeout=0.5)
        conn.request("GET", "/v1/models", headers={"Authorization": "Bearer " + a["key"]})
        response = conn.getresponse()
        response.read()
        conn.close()
        last = "HTTP %d" % response.status
        if response.status == 200:
            print(json.dumps({"answered_after": time.monotonic() - a["since"], "last": last}))
            sys.exit(0)
    except Exception as e:
        last = "%s: %s" % (type(e).__name__, e)
    time.sleep(0.01)
print(json.dumps({"answered_after": None, "last": last}))
"""


def seconds_until_answered(ns: str, url: str, key: str, *, since: float, within: float) -> dict[str, Any]:
    """{"answered_after": seconds from `since` until a request from `ns` with `key` got 200 (None: not within
    `within` seconds), "last": the last outcome}."""
    host, port = url.split("//")[1].rsplit(":", 1)
    return ns_python(ns, _ANSWERED_SCRIPT, {"host": host, "port": int(port), "key": key, "since": since,
                                            "deadline": since + within}, timeout=within + 20)
