"""Shared helpers for popgate's integration tests.

Everything here runs real processes: `ip netns exec` into the demo's namespaces, the popctl binary, and small
Python scripts executed *inside* a namespace (so their traffic really comes from that namespace's address and
goes through its WireGuard tunnel). Every subprocess has a timeout; nothing here waits unboundedly.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence, TypeVar

import pytest

REPO = Path(__file__).resolve().parents[2]
DEMO_SCRIPT = REPO / "provisioning" / "demo.sh"
BIN = Path(os.environ.get("POPGATE_BIN", REPO / ".build" / "debug"))
BINARIES = ("popctl", "popnetd", "popgated", "popgate-inference-sim")
SWIFT_PATH = "/opt/swift/usr/bin"
# Throwaway PostgreSQL clusters on loopback (the registry's database); the script's own default bindir, moved for
# both by POPGATE_PG_BINDIR.
POSTGRES_SCRIPT = REPO / "Tests" / "support" / "throwaway-postgres.sh"
POSTGRES_BINDIR = Path(os.environ.get("POPGATE_PG_BINDIR", "/usr/lib/postgresql/15/bin"))

# What popgate-inference-sim answers (its documented, deterministic output).
SIM_WORDS = ["Hello", "from", "the", "popgate", "inference", "simulator."]
DEFAULT_COMPLETION_TOKENS = 12


def sim_text(tokens: int = DEFAULT_COMPLETION_TOKENS) -> str:
    """The simulator's completion of `tokens` tokens."""
    return " ".join(SIM_WORDS[i % len(SIM_WORDS)] for i in range(tokens))


def sim_prompt_tokens(messages: Sequence[Mapping[str, str]]) -> int:
    """The simulator's prompt token count: words per message plus one per message."""
    return sum(len(m["content"].split()) + 1 for m in messages)


def integration_required() -> bool:
    """CI sets POPGATE_REQUIRE_INTEGRATION=1: then a missing prerequisite is a failure, not a skip."""
    return os.environ.get("POPGATE_REQUIRE_INTEGRATION") == "1"


def require(condition: Any, why: str) -> None:
    """Skips the test when a prerequisite is missing; fails instead when integration tests are required."""
    if condition:
        return
    if integration_required():
        pytest.fail(f"prerequisite missing (POPGATE_REQUIRE_INTEGRATION=1): {why}", pytrace=False)
    pytest.skip(why)


# Proxies configured for the host must not capture traffic meant for the namespaces' own addresses.
_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _PROXY_VARIABLES}
    env.update(extra or {})
    return env


def run(
    cmd: Sequence[str],
    *,
    timeout: float,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Runs a command to completion (bounded by `timeout`), capturing its output as text."""
    return subprocess.run(
        list(cmd),
        cwd=cwd,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=clean_env(env),
        stdin=None if input is not None else subprocess.DEVNULL,
    )


def describe(result: subprocess.CompletedProcess[str]) -> str:
    """A command's result, for assertion messages."""
    cmd = " ".join(shlex.quote(str(c)) for c in result.args)
    return f"$ {cmd}\nexit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


def run_ok(cmd: Sequence[str], *, timeout: float = 10) -> subprocess.CompletedProcess[str]:
    """`run`, asserting that the command succeeded (described when it did not)."""
    result = run(cmd, timeout=timeout)
    assert result.returncode == 0, describe(result)
    return result


def ns_cmd(ns: str, cmd: Sequence[str]) -> list[str]:
    return ["ip", "netns", "exec", ns, *cmd]


def ns_run(ns: str, cmd: Sequence[str], *, timeout: float, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Runs a command inside network namespace `ns`."""
    return run(ns_cmd(ns, cmd), timeout=timeout, input=input)


def ns_python(ns: str, script: str, args: Any, *, timeout: float) -> Any:
    """Runs a Python script inside `ns` with one JSON argument; the script prints one JSON document."""
    result = ns_run(ns, [sys.executable, "-c", script, json.dumps(args)], timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(f"helper script failed in {ns}:\n{describe(result)}")
    try:
        return json.loads(result.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError) as error:
        raise AssertionError(f"helper script in {ns} printed no JSON ({error}):\n{describe(result)}") from None


# ------------------------------------------------------------------------------------------------------------
# The demo environment


def parse_env_file(path: Path) -> dict[str, str]:
    """Reads the `NAME=value` lines (values quoted for bash with %q) that `demo.sh up` writes."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, raw = line.partition("=")
        words = shlex.split(raw)
        values[name.strip()] = words[0] if words else ""
    return values


# What `popctl peer list --json` takes from popnetd's status socket rather than from the registry.
LIVE_PEER_FIELDS = frozenset({"last_handshake", "endpoint", "rx_bytes", "tx_bytes"})


@dataclass(frozen=True)
class Demo:
    """The running demo, as described by /run/popgate-demo/env."""

    env: dict[str, str]

    @property
    def client_ns(self) -> str:
        return self.env["CLIENT_NS"]

    @property
    def pop_ns(self) -> str:
        return self.env["POP_NS"]

    @property
    def compute_ns(self) -> str:
        return self.env["COMPUTE_NS"]

    @property
    def outside_ns(self) -> str:
        return self.env["OUTSIDE_NS"]

    @property
    def api_url(self) -> str:
        return self.env["POP_API_URL"]

    @property
    def api_key(self) -> str:
        return self.env["API_KEY"]

    @property
    def tenant(self) -> str:
        return self.env["TENANT"]

    @property
    def model(self) -> str:
        return self.env["MODEL"]

    @property
    def config(self) -> str:
        return self.env["POPGATE_CONFIG"]

    @property
    def bin(self) -> Path:
        return Path(self.env["POPGATE_BIN"])

    @property
    def demo_dir(self) -> Path:
        return Path(self.env["DEMO_DIR"])

    def popctl(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Runs popctl against the demo's configuration (on the PoP: popctl needs no namespace)."""
        return run([str(self.bin / "popctl"), *args], timeout=timeout, env={"POPGATE_CONFIG": self.config})

    def popctl_ok(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        result = self.popctl(*args, timeout=timeout)
        assert result.returncode == 0, describe(result)
        return result

    def peers(self) -> list[dict[str, Any]]:
        """The registry's view of the live peers: `popctl peer list --json` without the columns popnetd adds
        (handshake, endpoint, counters), which change with traffic and would make before/after comparisons flaky."""
        return [{k: v for k, v in peer.items() if k not in LIVE_PEER_FIELDS} for peer in self.live_peers()]

    def live_peers(self) -> list[dict[str, Any]]:
        """`popctl peer list --json`, parsed, including what popnetd's status socket adds."""
        return json.loads(self.popctl_ok("peer", "list", "--json").stdout)

    def demo_sh(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return run(["bash", str(DEMO_SCRIPT), *args], timeout=timeout, env={"POPGATE_BIN": str(self.bin)})


# ------------------------------------------------------------------------------------------------------------
# HTTP from inside a namespace

_HTTP_SCRIPT = r"""
import base64, http.client, json, sys
a = json.loads(sys.argv[1])
try:
    phase = "connecting"
    conn = http.client.HTTPConnection(a["host"], a["port"], timeout=a["timeout"])
    conn.connect()
    phase = "sending the request"
    body = a["body"].encode() if a["body"] is not None else None
    conn.request(a["method"], a["path"], body=body, headers=a["headers"])
    phase = "waiting for the response"
    resp = conn.getresponse()
    data = resp.read()
    out = {"status": resp.status, "headers": resp.getheaders(), "body": base64.b64encode(data).decode()}
    conn.close()
except Exception as e:
    out = {"error": "%s while %s: %s" % (type(e).__name__, phase, e)}
print(json.dumps(out))
"""


class RequestFailed(Exception):
    """The request got no HTTP response (connection refused, reset, closed empty, or timed out)."""


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    events: list[tuple[float, str]] = field(default_factory=list)  # streaming only: (arrival s, data)

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def json(self) -> Any:
        return json.loads(self.body)

    def __str__(self) -> str:
        return f"HTTP {self.status} {dict(self.headers)} {self.body[:2000]!r}"


def _split_url(url: str) -> tuple[str, int, str]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.hostname or "", parts.port or 80, target


def http_request(
    ns: str,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    json_body: Any = None,
    timeout: float = 10,
) -> Response:
    """Sends one HTTP/1.1 request from inside `ns`; raises RequestFailed if no response came back."""
    host, port, path = _split_url(url)
    all_headers = dict(headers or {})
    body = None
    if json_body is not None:
        body = json.dumps(json_body)
        all_headers.setdefault("Content-Type", "application/json")
    args = {"host": host, "port": port, "path": path, "method": method, "headers": all_headers, "body": body,
            "timeout": timeout}
    out = ns_python(ns, _HTTP_SCRIPT, args, timeout=timeout + 15)
    if "error" in out:
        raise RequestFailed(f"{method} {url} from {ns}: {out['error']}")
    return Response(out["status"], [tuple(h) for h in out["headers"]], base64.b64decode(out["body"]))


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


_STREAM_SCRIPT = r"""
import http.client, json, sys, time
a = json.loads(sys.argv[1])
try:
    conn = http.client.HTTPConnection(a["host"], a["port"], timeout=a["timeout"])
    start = time.monotonic()
    conn.request("POST", a["path"], body=a["body"].encode(), headers=a["headers"])
    resp = conn.getresponse()
    if resp.status != 200:
        out = {"status": resp.status, "headers": resp.getheaders(), "body": resp.read().decode("utf-8", "replace"),
               "events": []}
    else:
        events, buffer = [], b""
        while True:
            piece = resp.read1(65536)
            now = time.monotonic() - start
            if not piece:
                break
            buffer += piece.replace(b"\r\n", b"\n")
            # An event is complete at its blank line; it arrived when the read that completed it returned.
            while b"\n\n" in buffer:
                raw, buffer = buffer.split(b"\n\n", 1)
                data = [l[5:].lstrip(b" ") for l in raw.split(b"\n") if l.startswith(b"data:")]
                if data:
                    events.append([now, b"\n".join(data).decode()])
                    if a.get("mark") and len(events) == 1:
                        open(a["mark"], "w").close()  # tells the test the stream has begun
        out = {"status": 200, "headers": resp.getheaders(), "body": buffer.decode("utf-8", "replace"),
               "events": events}
    conn.close()
except Exception as e:
    out = {"error": "%s: %s" % (type(e).__name__, e)}
print(json.dumps(out))
"""


def stream_chat(ns: str, url: str, key: str, body: Mapping[str, Any], *, timeout: float = 15,
                mark: Path | None = None) -> Response:
    """POSTs a streaming chat completion from inside `ns`, recording each SSE event's arrival time in the client.

    `Response.events` holds (seconds since the request was sent, data payload); `Response.body` holds what
    followed the last complete event (normally nothing). With `mark`, that file is created when the first event
    arrives, so a test running the stream in a thread can act once the stream has begun.
    """
    host, port, path = _split_url(url.rstrip("/") + "/v1/chat/completions")
    args = {"host": host, "port": port, "path": path, "timeout": timeout, "body": json.dumps(body),
            "headers": {"Content-Type": "application/json", **bearer(key)}, "mark": str(mark) if mark else None}
    out = ns_python(ns, _STREAM_SCRIPT, args, timeout=timeout + 15)
    if "error" in out:
        raise RequestFailed(f"streaming POST {url} from {ns}: {out['error']}")
    return Response(out["status"], [tuple(h) for h in out["headers"]], out["body"].encode(),
                    [(t, d) for t, d in out["events"]])


def chat(ns: str, demo: Demo, messages: list[dict[str, str]], *, key: str | None = None, timeout: float = 10,
         **extra: Any) -> Response:
    """POSTs a (non-streaming) chat completion from inside `ns` with the demo's key unless `key` is given."""
    body = {"model": demo.model, "messages": messages, **extra}
    return http_request(ns, "POST", demo.api_url + "/v1/chat/completions",
                        headers=bearer(key if key is not None else demo.api_key), json_body=body, timeout=timeout)


# ------------------------------------------------------------------------------------------------------------
# Raw TCP from inside a namespace

_SILENCE_SCRIPT = r"""
import json, socket, sys, time
a = json.loads(sys.argv[1])
start = time.monotonic()
try:
    s = socket.create_connection((a["host"], a["port"]), timeout=a["connect_timeout"])
except OSError as e:
    print(json.dumps({"outcome": "connect failed: %s: %s" % (type(e).__name__, e), "received": 0, "preview": "",
                      "elapsed": time.monotonic() - start}))
    sys.exit(0)
if a["send"]:
    s.sendall(a["send"].encode())
received = b""
deadline = time.monotonic() + a["read_timeout"]
while True:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        outcome = "timeout"
        break
    s.settimeout(remaining)
    try:
        chunk = s.recv(65536)
    except socket.timeout:
        outcome = "timeout"
        break
    except ConnectionResetError:
        outcome = "reset"
        break
    if not chunk:
        outcome = "eof"
        break
    received += chunk
s.close()
print(json.dumps({"outcome": outcome, "received": len(received), "preview": received[:300].decode("latin-1"),
                  "elapsed": time.monotonic() - start}))
"""


def probe_silence(ns: str, url: str, send: str, *, connect_timeout: float = 5, read_timeout: float = 20) -> dict:
    """Connects from `ns`, sends `send` (may be empty), and reads until EOF, reset or timeout.

    Returns {"outcome": "eof"|"reset"|"timeout"|"connect failed: …", "received": bytes, "preview", "elapsed"}.
    """
    host, port, _ = _split_url(url)
    args = {"host": host, "port": port, "send": send, "connect_timeout": connect_timeout, "read_timeout": read_timeout}
    return ns_python(ns, _SILENCE_SCRIPT, args, timeout=connect_timeout + read_timeout + 15)


# ------------------------------------------------------------------------------------------------------------
# Binaries


def binary_problem(name: str) -> str | None:
    """Why BIN/name cannot be used (missing, or still the placeholder that prints "stub"), or None."""
    path = BIN / name
    if not (path.is_file() and os.access(path, os.X_OK)):
        return f"{path} is not built (`make build`)"
    try:
        result = run([str(path), "--help"], timeout=30)
    except subprocess.TimeoutExpired:
        return f"{path} --help did not finish within 30 s"
    if result.stdout.strip() == "stub":
        return f"{path} is still a stub"
    return None


def stop_process(process: subprocess.Popen | None, timeout: float) -> None:
    """Ends a process this test started: SIGTERM, then SIGKILL if it has not exited within `timeout`."""
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


def wait_for(predicate, *, timeout: float, interval: float = 0.1) -> bool:
    """Polls `predicate` until it is true or `timeout` seconds have passed (for state with no event to wait on)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


# ------------------------------------------------------------------------------------------------------------
# Daemons a module starts in namespaces of its own (test_multi_pop.py, test_ipv6_pool.py)

DAEMON_STOP_TIMEOUT = 10


class Daemons:
    """The processes a module starts itself, each in a namespace, remembered by PID (never looked up by name) and
    logging to `<logs>/<name>.log`; and popctl, run in one namespace with one configuration."""

    def __init__(self, logs: Path, *, popctl_ns: str, popctl_config: Path, wait_timeout: float,
                 wait_interval: float = 0.1) -> None:
        self.logs = logs
        self.popctl_ns, self.popctl_config = popctl_ns, popctl_config
        self.wait_timeout, self.wait_interval = wait_timeout, wait_interval
        self.processes: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, ns: str, name: str, *args: str) -> subprocess.Popen[bytes]:
        with open(self.logs / f"{name}.log", "wb") as log:
            process = subprocess.Popen(ns_cmd(ns, [*args]), stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, env=clean_env())
        self.processes.append((name, process))
        return process

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def print_logs(self) -> None:
        """Every process's log, as captured output (pytest shows it when a test fails)."""
        for name, _ in self.processes:
            print(f"----- {name} -----\n{self.log(name)}")

    def check_alive(self) -> None:
        for name, process in self.processes:
            assert process.poll() is None, f"{name} exited ({process.returncode}):\n{self.log(name)}"

    def wait(self, what: str, predicate: Callable[[], bool], timeout: float | None = None) -> None:
        """Waits for `predicate`, failing early (with its log) when one of the processes has exited."""
        timeout = self.wait_timeout if timeout is None else timeout

        def ready() -> bool:
            self.check_alive()
            return predicate()
        assert wait_for(ready, timeout=timeout, interval=self.wait_interval), (
            f"gave up after {timeout} s waiting for {what}")

    def stop_all(self) -> None:
        """Terminates the processes by PID, last started first, and waits for each (killing what does not end)."""
        for _, process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for _, process in reversed(self.processes):
            try:
                process.wait(timeout=DAEMON_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=DAEMON_STOP_TIMEOUT)

    def popctl(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return run(ns_cmd(self.popctl_ns, [str(BIN / "popctl"), *args, "--config", str(self.popctl_config)]),
                   timeout=timeout)

    def popctl_ok(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = self.popctl(*args)
        assert result.returncode == 0, describe(result)
        return result


D = TypeVar("D", bound=Daemons)


def own_topology(daemons: D, start: Callable[[D], None], teardown: Callable[[D | None], list[str]]) -> Iterator[D]:
    """The body of a module fixture that builds and removes everything it uses (`yield from` it): removes what a
    killed run left, starts, yields `daemons`; prints every process's log when starting fails (the teardown removes
    them); always tears down, failing on what `teardown` could not remove (the problems it returns)."""
    teardown(None)  # what a killed run left
    try:
        start(daemons)
        yield daemons
    except BaseException:
        daemons.print_logs()
        raise
    finally:
        problems = teardown(daemons)
        assert not problems, "\n".join(problems)


# ------------------------------------------------------------------------------------------------------------
# The PoP's WireGuard device and extra client namespaces (peer lifecycle tests)


def pop_wg(demo: Demo, *args: str, timeout: float = 10) -> subprocess.CompletedProcess[str]:
    """`wg ARGS` inside the PoP's namespace."""
    return ns_run(demo.pop_ns, ["wg", *args], timeout=timeout)


def pop_peer_keys(demo: Demo) -> set[str]:
    """The public keys on the PoP's edge device right now."""
    result = pop_wg(demo, "show", "wg-edge", "peers")
    assert result.returncode == 0, describe(result)
    return set(result.stdout.split())


def pop_allowed_ips(demo: Demo) -> dict[str, str]:
    """Public key → allowed IPs (`(none)` when it has none), as `wg show wg-edge allowed-ips` prints them."""
    result = pop_wg(demo, "show", "wg-edge", "allowed-ips")
    assert result.returncode == 0, describe(result)
    return {key: rest.strip() for key, _, rest in (line.partition("\t") for line in result.stdout.splitlines())}


def pop_handshakes(demo: Demo) -> dict[str, int]:
    """Public key → latest handshake (Unix seconds, 0 for never) on the PoP's edge device."""
    result = pop_wg(demo, "show", "wg-edge", "latest-handshakes")
    assert result.returncode == 0, describe(result)
    return {key: int(value) for key, value in (line.split("\t") for line in result.stdout.splitlines())}


def public_key_of_config(path: Path) -> str:
    """The public key of the PrivateKey in a wg-quick config (the same way demo.sh derives it)."""
    private = next(line.split("=", 1)[1].strip() for line in path.read_text().splitlines()
                   if line.replace(" ", "").startswith("PrivateKey="))
    result = run(["wg", "pubkey"], input=private + "\n", timeout=10)
    assert result.returncode == 0, describe(result)
    return result.stdout.strip()


def status_document(demo: Demo) -> dict[str, Any]:
    """popnetd's status document through `popctl status --json`."""
    return json.loads(demo.popctl_ok("status", "--json").stdout)


class ClientNamespace:
    """A namespace on the demo's uplink that brings a client tunnel up from a given wg-quick config.

    It does what `demo.sh client` does (veth into the uplink bridge, then wg-quick once the PoP holds the key)
    without registering a peer, so a test can use a config made by `popctl peer add --expires` or
    `popctl peer rotate`. The uplink hosts are taken from the top of the /24 (demo.sh counts up from .11), and
    the interface is named after the config file (wg-quick's rule), which must be unique machine-wide because
    wireguard-go's control socket lives in /var/run/wireguard. Use it as a context manager: everything it made is
    removed on exit, also after a failure.
    """

    def __init__(self, demo: Demo, ns: str, host: int, conf: Path) -> None:
        assert 200 <= host <= 254, "extra test clients use uplink hosts .200 to .254"
        self.demo, self.ns, self.host, self.conf = demo, ns, host, conf
        self.port = f"vt{host}"  # the veth end on the PoP's bridge
        self.interface = conf.stem

    def __enter__(self) -> "ClientNamespace":
        self._remove()  # left over by a run that was killed
        steps = [
            ["ip", "netns", "add", self.ns],
            ["ip", "-n", self.ns, "link", "set", "lo", "up"],
            ["ip", "link", "add", "up0", "netns", self.ns, "type", "veth", "peer", "name", self.port,
             "netns", self.demo.pop_ns],
            ["ip", "-n", self.demo.pop_ns, "link", "set", self.port, "master", "br-up", "up"],
            ["ip", "-n", self.ns, "addr", "add", f"198.51.100.{self.host}/24", "dev", "up0"],
            ["ip", "-n", self.ns, "link", "set", "up0", "up"],
        ]
        try:
            for step in steps:
                result = run(step, timeout=10)
                assert result.returncode == 0, describe(result)
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
        if Path(f"/run/netns/{self.ns}").exists() and self.conf.exists():
            ns_run(self.ns, ["wg-quick", "down", str(self.conf)], timeout=30)
        # Whatever still runs in the namespace is ours (wireguard-go started by wg-quick).
        remove_namespace(self.ns)
        remove_stale_wireguard_socket(self.interface)


def remove_namespace(ns: str) -> str | None:
    """Deletes network namespace `ns` if it exists, first sending SIGTERM to every process in it and waiting up to
    5 s for them to go: only for a namespace of the caller's own, where whatever runs is the caller's. Returns the
    PIDs still in it after those 5 s (`ip netns pids`), None when none were left."""
    if not Path(f"/run/netns/{ns}").exists():
        return None
    for pid in run(["ip", "netns", "pids", ns], timeout=10).stdout.split():
        try:
            os.kill(int(pid), 15)
        except ProcessLookupError:
            pass
    left = None
    if not wait_for(lambda: not run(["ip", "netns", "pids", ns], timeout=10).stdout.strip(), timeout=5):
        left = run(["ip", "netns", "pids", ns], timeout=10).stdout
    run(["ip", "netns", "del", ns], timeout=10)
    return left


def remove_stale_wireguard_socket(interface: str) -> None:
    """Removes a userspace WireGuard device's control socket (/var/run/wireguard/IF.sock) that no device answers on
    any more, as a killed wireguard-go leaves it."""
    sock = Path(f"/var/run/wireguard/{interface}.sock")
    if sock.exists() and run(["wg", "show", interface], timeout=10).returncode != 0:
        sock.unlink(missing_ok=True)


# Polls from inside a namespace until a request gets no HTTP response, or the deadline (CLOCK_MONOTONIC, shared by
# every namespace) passes. It asks for the model list, which answers in milliseconds, so a slow completion is
# never mistaken for a cut-off; a working tunnel connects in well under the per-request timeout.
_CUT_OFF_SCRIPT = r"""
import http.client, json, sys, time
a = json.loads(sys.argv[1])
last = None
while True:
    now = time.monotonic()
    if now >= a["deadline"]:
        print(json.dumps({"stopped_after": None, "last": last}))
        break
    try:
        conn = http.client.HTTPConnection(a["host"], a["port"],
                                          timeout=max(0.05, min(a["request_timeout"], a["deadline"] - now)))
        conn.request("GET", "/v1/models", headers={"Authorization": "Bearer " + a["key"]})
        resp = conn.getresponse()
        resp.read()
        conn.close()
        last = "HTTP %d" % resp.status
    except Exception as e:
        print(json.dumps({"stopped_after": time.monotonic() - a["since"], "last": last,
                          "error": "%s: %s" % (type(e).__name__, e)}))
        break
    time.sleep(0.05)
"""


def seconds_until_cut_off(ns: str, demo: Demo, *, since: float, within: float,
                          request_timeout: float = 0.25) -> float | None:
    """Seconds from `since` (time.monotonic()) until requests from `ns` stopped getting answers, or None if they
    were still answered `within` seconds after `since`."""
    host, port, _ = _split_url(demo.api_url)  # also http://[IPv6]:PORT
    result = ns_python(
        ns, _CUT_OFF_SCRIPT,
        {"host": host, "port": port, "key": demo.api_key, "since": since, "deadline": since + within,
         "request_timeout": request_timeout},
        timeout=within + 20,
    )
    return result["stopped_after"]


# ------------------------------------------------------------------------------------------------------------
# A second popgated in the PoP's namespace, beside the demo's, and a way for the client to reach it

SECOND_GATEWAY_START_TIMEOUT = 15
SECOND_GATEWAY_STOP_TIMEOUT = 10

_FREE_PORT_SCRIPT = r"""
import json, socket, sys
a = json.loads(sys.argv[1])
s = socket.socket(); s.bind((a["host"], 0)); print(json.dumps(s.getsockname()[1])); s.close()
"""


def free_port(ns: str, host: str) -> int:
    """A TCP port nothing in `ns` is bound to on `host` right now."""
    return ns_python(ns, _FREE_PORT_SCRIPT, {"host": host}, timeout=10)


def listening(ns: str, port: int) -> bool:
    """Whether some socket in `ns` listens on TCP `port` (asked of the kernel, not of a log line)."""
    return bool(ns_run(ns, ["ss", "-Hltn", f"sport = :{port}"], timeout=10).stdout.strip())


def second_gateway_config(text: str, port: int, *, gateway: Sequence[str] = (), sections: str = "") -> str:
    """A copy of a popgate.toml whose [gateway] listens on `port`, with the `gateway` lines added to [gateway]
    (replacing those keys) and `sections` (more TOML tables) appended.

    Its [metrics] section is left out (then popgated serves no metrics): the demo's gateway holds that port. So is its
    [receipts] section: a receipt log has one writer, and SecondGateway gives the second popgated its own.
    """
    replaced = {"listen_port", *(line.split("=", 1)[0].strip() for line in gateway)}
    lines, section, seen = [], None, False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            section = stripped.split("#", 1)[0].strip()
            if section not in ("[metrics]", "[receipts]"):
                lines.append(line)
            if section == "[gateway]":
                seen = True
                lines += [f"listen_port = {port}", *gateway]
            continue
        key = stripped.split("=", 1)[0].strip()
        if section in ("[metrics]", "[receipts]") or section == "[gateway]" and key in replaced:
            continue
        lines.append(line)
    if not seen:
        lines += ["", "[gateway]", f"listen_port = {port}", *gateway]
    return "\n".join(lines) + "\n" + sections


def receipts_section(workdir: Path) -> str:
    """A [receipts] section keeping a gateway's receipt log and signing key under `workdir`."""
    return (f'\n[receipts]\ndirectory = "{workdir}/receipts"\nsigning_key_file = "{workdir}/keys/receipts.key"\n')


class SecondGateway:
    """popgated started in the PoP's namespace with `config` (written to `<demo dir>/<name>/popgate.toml`), for
    the length of a `with` block; stopped by its PID on exit, also after a failure.

    The log is `<demo dir>/logs/popgated@<name>.log`, which conftest shows when a test fails and `demo.sh down`
    removes with the rest of the demo's directory.
    """

    def __init__(self, demo: Demo, name: str, config: str, port: int) -> None:
        self.demo, self.name, self.port = demo, name, port
        self.workdir = demo.demo_dir / name
        self.config_path = self.workdir / "popgate.toml"
        self.log_path = demo.demo_dir / "logs" / f"popgated@{name}.log"
        self.config = config
        self.process: subprocess.Popen[bytes] | None = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> "SecondGateway":
        self.workdir.mkdir(exist_ok=True)
        self.config_path.write_text(self.config + receipts_section(self.workdir))
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                ns_cmd(self.demo.pop_ns, [str(self.demo.bin / "popgated"), "--config", str(self.config_path)]),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=clean_env())
        try:
            # Nothing popgated does announces "listening" but a log line whose wording may change: ask the kernel.
            up = wait_for(lambda: self.process.poll() is not None or listening(self.demo.pop_ns, self.port),
                          timeout=SECOND_GATEWAY_START_TIMEOUT)
            assert up and self.process.poll() is None, (
                f"the second popgated ({self.name}, port {self.port}) did not start listening within "
                f"{SECOND_GATEWAY_START_TIMEOUT} s (exit status {self.process.poll()}):\n{self.log()[-3000:]}"
            )
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self._stop()

    def _stop(self) -> None:
        stop_process(self.process, SECOND_GATEWAY_STOP_TIMEOUT)
        self.config_path.unlink(missing_ok=True)


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
        parts = _split_url(demo.api_url)
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


# ------------------------------------------------------------------------------------------------------------
# A registry in PostgreSQL (test_registry_postgres.py, test_multi_pop.py)

PSQL_TIMEOUT = 30


def psql(url: str, query: str, *, ns: str | None = None) -> subprocess.CompletedProcess[str]:
    """One statement through psql (unaligned, tuples only, no ~/.psqlrc, errors fail it), from `ns` if given."""
    candidate = POSTGRES_BINDIR / "psql"
    tool = str(candidate) if candidate.exists() else "psql"
    cmd = [tool, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", query]
    return run(ns_cmd(ns, cmd) if ns else cmd, timeout=PSQL_TIMEOUT, env={"PGCONNECT_TIMEOUT": "10"})


def wg_key_pair() -> tuple[str, str]:
    """A fresh WireGuard (private, public) key pair, from `wg`."""
    private = run(["wg", "genkey"], timeout=10).stdout.strip()
    public = run(["wg", "pubkey"], input=private + "\n", timeout=10)
    assert public.returncode == 0 and private, describe(public)
    return private, public.stdout.strip()


def registry_config(directory: Path, registry_lines: str) -> Path:
    """A minimal popgate.toml in `directory` for popctl (no daemon reads it), with `registry_lines` as its
    [registry] section, and the WireGuard private key file popctl needs to write client configs."""
    key = directory / "wg.key"
    if not key.exists():
        key.touch(mode=0o600)
        key.write_text(wg_key_pair()[0] + "\n")
    path = directory / "popgate.toml"
    path.write_text(f"""[pop]
name = "pop-pg-test"

[registry]
{registry_lines}

[wireguard]
interface = "wg-pgtest"
private_key_file = "{key}"
address = "10.88.0.1/24"
endpoint = "192.0.2.1:51820"

[netd]
run_directory = "{directory}/run"

[[backends]]
name = "none"
url = "http://192.0.2.2:8000"
models = ["popgate-sim-small"]
""")
    return path


def unit_exposure(unit: Path, root: Path | None = None) -> float:
    """The overall exposure `systemd-analyze security` gives the unit file, read without a running systemd; with
    `root`, the unit of that name as installed in that tree, with its drop-ins."""
    command = ["systemd-analyze", "security", "--offline=true", "--no-pager"]
    if root is not None:
        command += [f"--root={root}", unit.name]
    else:
        command.append(str(unit))
    result = run(command, timeout=60)
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match, f"no exposure level in the output: {describe(result)}"
    return float(match.group(1))
