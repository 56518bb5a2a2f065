"""popgated's drain on SIGTERM (docs/architecture.md, "Drain"), through the demo's tunnel.

Each test starts a second popgated (`SecondGateway`, reached through `TunnelSteering`; the demo's own gateway is
never stopped), opens 20 streamed chat completions from the client's namespace, and sends that popgated SIGTERM
once every stream has its first token:

* a long drain (30 s) with streams of 3 s: every stream ends whole (its final usage and `[DONE]`), its connection
  is closed by the gateway after it, and popgated exits 0 as soon as the last has ended, long before the 30 s;
* a short drain (1 s) with streams of 10 s: each stream is cut when the drain runs out and ends with the
  `server_shutting_down` error event, popgated exits 0, and each has a receipt saying 503, naming the backend that
  answered, with the completion tokens the client received (read back from the same receipt log by the same
  popgated started again on it);
* in both, a connection attempted while the drain runs gets no byte: the listener is closed first, so the kernel
  refuses it.

The demo's workers generate 50 tokens a second per stream, so `max_tokens` sets how long a stream lasts.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness.demo import Demo
from harness.gateways import SecondGateway, free_port, listening, second_gateway_config
from harness.http import bearer, http_request
from harness.processes import ns_cmd, ns_python, stop_process, wait_for
from harness.steering import TunnelSteering

STREAMS = 20
TOKENS_PER_SECOND = 50  # the demo's simulated workers (provisioning/demo.sh)
BEGIN_TIMEOUT = 20  # s for all 20 streams to have their first token
STREAM_TIMEOUT = 30  # s: a socket read in the client that waits longer fails the stream
CLIENT_TIMEOUT = 60  # s for the whole client, a bound on a hang
RECEIPT_WAIT = 15  # s; a receipt is answered once a checkpoint covers it (signed each second)
MESSAGES = [{"role": "user", "content": "tell me a long story"}]

# 20 streams on their own connections (kept alive: the drain, not the client, decides when they close). Each reads
# the chunked body as it comes, counts content events, and notes the final usage, [DONE], an error event, the
# chunked end and whether the gateway then closed the connection. Once every stream has had its first content
# event, the mark file is written. Prints one JSON list, a result per stream.
_STREAMS_SCRIPT = r"""
import json, socket, sys, threading, time
a = json.loads(sys.argv[1])
lock = threading.Lock()
begun = [0]

def handle(event, result):
    for line in event.split(b"\n"):
        if not line.startswith(b"data: "):
            continue
        payload = line[6:].strip()
        if payload == b"[DONE]":
            result["done"] = True
            continue
        chunk = json.loads(payload)
        if "error" in chunk:
            result["error"] = chunk["error"]
            continue
        if chunk.get("usage"):
            result["usage"] = chunk["usage"]
        for choice in chunk.get("choices") or []:
            if (choice.get("delta") or {}).get("content"):
                result["content"] += 1
                if result["content"] == 1:
                    with lock:
                        begun[0] += 1
                        if begun[0] == a["streams"]:
                            open(a["mark"], "w").close()

def one(result):
    body = json.dumps(a["body"]).encode()
    head = ("POST /v1/chat/completions HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
            "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (a["host"], a["key"], len(body)))
    sock = socket.create_connection((a["host"], a["port"]), timeout=a["timeout"])
    started = time.monotonic()
    sock.sendall(head.encode() + body)
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        if not piece:
            raise RuntimeError("closed before the response head: %r" % data)
        data += piece
    header, _, pending = data.partition(b"\r\n\r\n")
    lines = header.decode("latin-1").split("\r\n")
    result["status"] = int(lines[0].split()[1])
    headers = {l.split(":", 1)[0].strip().lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
    result["receipt"] = headers.get("x-receipt-id")
    if result["status"] != 200 or headers.get("transfer-encoding", "").lower() != "chunked":
        result["head"] = header.decode("latin-1")
        return
    events = b""
    while True:
        # Every whole chunk received so far; its bytes go to the event buffer.
        while not result["terminated"]:
            end = pending.find(b"\r\n")
            if end < 0:
                break
            size = int(pending[:end].split(b";")[0], 16)
            if size == 0:
                result["terminated"] = True
                result["seconds"] = time.monotonic() - started
                break
            if len(pending) < end + 2 + size + 2:
                break
            events += pending[end + 2:end + 2 + size]
            pending = pending[end + 2 + size + 2:]
            while b"\n\n" in events:
                event, events = events.split(b"\n\n", 1)
                handle(event, result)
        piece = sock.recv(65536)
        if not piece:
            result["eof"] = True  # the gateway closed the connection
            break
        pending += piece
    sock.close()

results = [{"content": 0, "done": False, "usage": None, "error": None, "terminated": False, "eof": False}
           for _ in range(a["streams"])]
def run(result):
    try:
        one(result)
    except Exception as e:
        result["exception"] = "%s: %s" % (type(e).__name__, e)
threads = [threading.Thread(target=run, args=(result,)) for result in results]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps(results))
"""

# One new connection while the drain runs: what, if anything, comes back within `wait` seconds of a request.
_PROBE_SCRIPT = r"""
import json, socket, sys, time
a = json.loads(sys.argv[1])
try:
    sock = socket.create_connection((a["host"], a["port"]), timeout=a["wait"])
except ConnectionRefusedError:
    print(json.dumps({"outcome": "refused", "bytes": 0}))
    sys.exit(0)
except socket.timeout:
    print(json.dumps({"outcome": "connect timed out", "bytes": 0}))
    sys.exit(0)
received = b""
outcome = "closed"
try:
    sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n"
                 % (a["host"].encode(), a["key"].encode()))
    deadline = time.monotonic() + a["wait"]
    while time.monotonic() < deadline:
        piece = sock.recv(65536)
        if not piece:
            break
        received += piece
    else:
        outcome = "open"
except socket.timeout:
    outcome = "open"
except ConnectionResetError:
    outcome = "reset"
print(json.dumps({"outcome": outcome, "bytes": len(received), "text": received[:200].decode("latin-1")}))
"""


def _config(demo: Demo, port: int, drain_timeout_s: int) -> str:
    # The demo caps a peer's streams at 6 (for test_limits.py); 20 are needed here.
    text, count = re.subn(r"(?m)^max_streams_per_peer\s*=.*$", "max_streams_per_peer = 64",
                          Path(demo.config).read_text())
    assert count == 1, "the demo's popgate.toml no longer sets [limits] max_streams_per_peer"
    return second_gateway_config(text, port, gateway=[f"drain_timeout_s = {drain_timeout_s}"])


class Streams:
    """The 20 streams of _STREAMS_SCRIPT, running in the client's namespace for a `with` block."""

    def __init__(self, demo: Demo, host: str, port: int, max_tokens: int, mark: Path) -> None:
        self.mark, self.ns = mark, demo.client_ns
        body = {"model": demo.model, "messages": MESSAGES, "stream": True, "max_tokens": max_tokens,
                "stream_options": {"include_usage": True}}
        self.args = {"host": host, "port": port, "key": demo.api_key, "body": body, "streams": STREAMS,
                     "mark": str(mark), "timeout": STREAM_TIMEOUT}
        self.process: subprocess.Popen[str] | None = None

    def __enter__(self) -> "Streams":
        self.process = subprocess.Popen(
            ns_cmd(self.ns, [sys.executable, "-c", _STREAMS_SCRIPT, json.dumps(self.args)]),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return self

    def results(self) -> list[dict[str, Any]]:
        assert self.process is not None
        out, err = self.process.communicate(timeout=CLIENT_TIMEOUT)
        assert self.process.returncode == 0, f"the stream client failed:\n{err}"
        results = json.loads(out.strip().splitlines()[-1])
        assert len(results) == STREAMS and not [r for r in results if "exception" in r], results
        return results

    def __exit__(self, *_: object) -> None:
        stop_process(self.process, 10)


def _begin(streams: Streams, gateway: SecondGateway) -> None:
    """Waits until every stream has its first token (or says why not)."""
    if not wait_for(streams.mark.exists, timeout=BEGIN_TIMEOUT, interval=0.05):
        stop_process(streams.process, 10)
        out, err = streams.process.communicate(timeout=10) if streams.process else ("", "")
        raise AssertionError(f"the {STREAMS} streams did not all begin within {BEGIN_TIMEOUT} s:\n{out}\n{err}\n"
                             f"{gateway.log()[-3000:]}")


def _probe_during_drain(demo: Demo, host: str, port: int, gateway: SecondGateway) -> dict[str, Any]:
    """A new connection once the listener has closed, while popgated still drains."""
    assert wait_for(lambda: not listening(demo.pop_ns, port), timeout=5, interval=0.02), (
        f"the listener did not close after SIGTERM:\n{gateway.log()[-2000:]}")
    probe = ns_python(demo.client_ns, _PROBE_SCRIPT, {"host": host, "port": port, "key": demo.api_key, "wait": 2},
                      timeout=15)
    assert gateway.process is not None
    assert gateway.process.poll() is None, f"popgated had already exited: the probe did not meet the drain {probe}"
    return probe


def _host(demo: Demo) -> str:
    return demo.api_url.split("//")[1].split(":")[0]


def _sigterm_during_streams(demo: Demo, gateway: SecondGateway, host: str, port: int, max_tokens: int,
                           marks: Path, exit_timeout: float) -> tuple[list[dict[str, Any]], dict[str, Any], int, float]:
    """Sends SIGTERM to `gateway` once every stream has begun; the streams' results, what a connection tried
    during the drain got, popgated's exit status, and the seconds from SIGTERM to its exit."""
    with Streams(demo, host, port, max_tokens, marks) as streams:
        _begin(streams, gateway)
        assert gateway.process is not None
        terminated = time.monotonic()
        gateway.process.send_signal(signal.SIGTERM)
        probe = _probe_during_drain(demo, host, port, gateway)
        results = streams.results()
        exit_status = gateway.process.wait(timeout=exit_timeout)
        return results, probe, exit_status, time.monotonic() - terminated


def test_a_long_drain_lets_every_stream_end_whole_then_exits_0(demo: Demo, tmp_path: Path) -> None:
    host = _host(demo)
    port = free_port(demo.pop_ns, host)
    max_tokens = 3 * TOKENS_PER_SECOND  # 3 s each: well inside the 30 s drain
    with TunnelSteering(demo, port), SecondGateway(demo, "drain-long", _config(demo, port, 30), port) as gateway:
        results, probe, exit_status, drained_in = _sigterm_during_streams(
            demo, gateway, host, port, max_tokens, tmp_path / "begun", exit_timeout=40)
    log = gateway.log()
    assert exit_status == 0, f"popgated exited {exit_status}:\n{log[-3000:]}"
    for result in results:
        assert result["status"] == 200 and result["error"] is None, result
        # Whole: every token, the final usage and [DONE], then the chunked end.
        assert result["content"] == max_tokens and result["done"] and result["terminated"], result
        assert result["usage"] and result["usage"]["completion_tokens"] == max_tokens, result
        # Not kept alive while draining: the gateway closed the connection after the answer.
        assert result["eof"], result
    assert probe["bytes"] == 0, probe
    # It waited for the streams, not for the drain timeout: about 3 s from the first tokens.
    assert drained_in < 15, f"the drain took {drained_in:.1f} s for streams of 3 s:\n{log[-3000:]}"
    assert "drained: every connection closed" in log, log[-3000:]
    assert "drain timed out" not in log, log[-3000:]
    print(f"long drain: {STREAMS} whole streams, SIGTERM to exit {drained_in:.2f} s; probe: {probe}")
    print("\n".join(line for line in log.splitlines() if "drain" in line or "stopped" in line))


def test_a_short_drain_cuts_the_streams_with_an_error_event_and_receipts_each(demo: Demo, tmp_path: Path) -> None:
    host = _host(demo)
    port = free_port(demo.pop_ns, host)
    max_tokens = 10 * TOKENS_PER_SECOND  # 10 s each: cut by the 1 s drain
    config = _config(demo, port, 1)
    with TunnelSteering(demo, port):
        with SecondGateway(demo, "drain-short", config, port) as gateway:
            results, probe, exit_status, drained_in = _sigterm_during_streams(
                demo, gateway, host, port, max_tokens, tmp_path / "begun", exit_timeout=20)
        log = gateway.log()
        assert exit_status == 0, f"popgated exited {exit_status}:\n{log[-3000:]}"
        assert probe["bytes"] == 0, probe
        assert f"requests={STREAMS}" in log and "drain timed out" in log, log[-3000:]
        for result in results:
            assert result["status"] == 200 and 0 < result["content"] < max_tokens, result
            # Cut with the error event (which the SDKs raise), then the stream's proper end; no [DONE].
            assert result["error"] and result["error"]["code"] == "server_shutting_down", result
            assert result["error"]["message"] == "The PoP is restarting; retry the request.", result
            assert not result["done"] and result["terminated"] and result["eof"], result

        # The receipts, from the same log: popgated started again on it (a receipt is answered once a checkpoint
        # covers it; the drained popgated signed a last one before it exited).
        with SecondGateway(demo, "drain-short", config, port) as again:
            receipts = [_receipt(demo, host, port, result["receipt"], again) for result in results]
    pairs = []
    for result, receipt in zip(results, receipts):
        assert receipt["status"] == 503, receipt
        assert receipt["backend"], receipt
        usage = receipt["usage"]
        assert usage is not None, receipt
        # The demo's workers are of the vLLM kind: the last count relayed is the worker's own, prompt included.
        assert usage["source"] in ("reported", "counted"), receipt
        if usage["source"] == "reported":
            assert usage["prompt_tokens"] > 0, receipt
        assert abs(usage["completion_tokens"] - result["content"]) <= 1, (result, receipt)
        pairs.append((usage["completion_tokens"], result["content"]))
    print(f"short drain: SIGTERM to exit {drained_in:.2f} s; (recorded, received) completion tokens: {pairs}; "
          f"sources: {sorted({r['usage']['source'] for r in receipts})}; backends: {sorted({r['backend'] for r in receipts})}; "
          f"probe: {probe}")
    print("\n".join(line for line in log.splitlines() if "drain" in line or "stopped" in line))


def _receipt(demo: Demo, host: str, port: int, receipt_id: str, gateway: SecondGateway) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    def fetch() -> bool:
        response = http_request(demo.client_ns, "GET", f"http://{host}:{port}/v1/receipts/{receipt_id}",
                                headers=bearer(demo.api_key))
        if response.status == 200:
            found.append(response.json()["receipt"])
        return bool(found)

    assert wait_for(fetch, timeout=RECEIPT_WAIT, interval=0.2), (
        f"no receipt {receipt_id} in the drained log:\n{gateway.log()[-2000:]}")
    return found[0]
