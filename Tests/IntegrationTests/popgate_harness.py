"""Shared helpers for popgate's integration tests.

Everything here runs real processes: `ip netns exec` into the demo's namespaces, the popctl binary, and small
Python scripts executed *inside* a namespace (so their traffic really comes from that namespace's address and
goes through its WireGuard tunnel). Every subprocess has a timeout; nothing here waits unboundedly.
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import pytest

REPO = Path(__file__).resolve().parents[2]
DEMO_SCRIPT = REPO / "provisioning" / "demo.sh"
BIN = Path(os.environ.get("POPGATE_BIN", REPO / ".build" / "debug"))
BINARIES = ("popctl", "popnetd", "popgated", "popgate-inference-sim")
SWIFT_PATH = "/opt/swift/usr/bin"

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
        """`popctl peer list --json`, parsed."""
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
    return parts.hostname or "", parts.port or 80, parts.path or "/"


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
        out = {"status": 200, "headers": resp.getheaders(), "body": buffer.decode("utf-8", "replace"),
               "events": events}
    conn.close()
except Exception as e:
    out = {"error": "%s: %s" % (type(e).__name__, e)}
print(json.dumps(out))
"""


def stream_chat(ns: str, url: str, key: str, body: Mapping[str, Any], *, timeout: float = 15) -> Response:
    """POSTs a streaming chat completion from inside `ns`, recording each SSE event's arrival time in the client.

    `Response.events` holds (seconds since the request was sent, data payload); `Response.body` holds what
    followed the last complete event (normally nothing).
    """
    host, port, path = _split_url(url.rstrip("/") + "/v1/chat/completions")
    args = {"host": host, "port": port, "path": path, "timeout": timeout, "body": json.dumps(body),
            "headers": {"Content-Type": "application/json", **bearer(key)}}
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


def wait_for(predicate, *, timeout: float, interval: float = 0.1) -> bool:
    """Polls `predicate` until it is true or `timeout` seconds have passed (for state with no event to wait on)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
