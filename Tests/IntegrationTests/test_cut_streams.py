"""Streams that do not reach their end are limited, counted and receipted like every other request, through the
tunnel of the demo (provisioning/demo.sh): the clients here read part of a stream and hang up.

* A key created with a small tokens-per-minute allowance receives at most that allowance, plus one request's
  `max_tokens`, plus what refills while the test runs, however its streams end: cut one after another, or many at
  once. Before streams were settled when cut, six cut streams of 40 tokens each went through a 60-token key.
* The worker stops generating as soon as the client hangs up: the gateway closes its connection to the worker the
  moment it sees the client's FIN, and the simulator logs when its generation stopped. Measured here against the
  FIN's arrival on the PoP's WireGuard interface (tcpdump's clock and the simulator's are the same wall clock).
* The receipt of a stream cut after k content events names the backend that answered, says 499 (the client
  closed the request), and records k ± 1 completion tokens: the demo's workers are of the vLLM kind, so they are
  asked for usage in every chunk (`continuous_usage_stats`) and the last count the client's connection carried is
  the worker's own.
"""

from __future__ import annotations

import re
import statistics
import time

from harness.demo import Demo
from harness.http import cut_streams, settled_receipt
from harness.processes import wait_for
from test_silent_close_capture import FIN, Capture

MODEL = "popgate-sim-small"

def _cut_streams(demo: Demo, key: str, *, read: int, max_tokens: int, parallel: int = 1) -> list[dict]:
    host, port = demo.api_url.split("//")[1].split(":")
    body = {"model": MODEL, "messages": [{"role": "user", "content": "tell me a long story"}], "stream": True,
            "max_tokens": max_tokens}
    return cut_streams(demo.client_ns, host, int(port), key, body, read=read, parallel=parallel)


def test_a_token_limited_key_receives_at_most_its_allowance_plus_one_requests_max_tokens(demo: Demo) -> None:
    allowance, max_tokens, read = 60, 100, 40
    key = demo.popctl_ok("key", "create", "--tenant", demo.tenant, "--tier", "fast",
                         "--tokens-per-minute", str(allowance)).stdout.strip()
    started = time.monotonic()
    results: list[dict] = []
    # One after another, each cut after `read` content events, then six at once: before cut streams were
    # settled, each of these would have been let through.
    for _ in range(6):
        results += _cut_streams(demo, key, read=read, max_tokens=max_tokens)
    results += _cut_streams(demo, key, read=read, max_tokens=max_tokens, parallel=6)
    elapsed = time.monotonic() - started
    received = sum(result["received"] for result in results)
    refilled = allowance * elapsed / 60
    statuses = [result["status"] for result in results]
    assert received <= allowance + max_tokens + refilled, (received, elapsed, results)
    assert 429 in statuses and 200 in statuses, statuses
    # A refused request says when to come back.
    refused = next(result for result in results if result["status"] == 429)
    assert refused["retry_after"] and int(refused["retry_after"]) >= 1, refused


def test_the_receipt_of_a_cut_stream_names_its_backend_and_the_tokens_relayed(demo: Demo) -> None:
    for read in (1, 7, 25):
        [result] = _cut_streams(demo, demo.api_key, read=read, max_tokens=200)
        assert result["status"] == 200 and result["received"] >= read, result
        receipt = settled_receipt(demo.client_ns, demo.api_url, demo.api_key, result["receipt"])
        assert receipt["status"] == 499, receipt
        assert receipt["backend"], receipt
        usage = receipt["usage"]
        assert usage is not None, receipt
        assert read - 1 <= usage["completion_tokens"] <= result["received"] + 1, (result, receipt)
        # vLLM-kind workers report the usage in every chunk: the count is the worker's, prompt included.
        assert usage["source"] == "reported" and usage["prompt_tokens"] > 0, receipt


def test_a_whole_stream_still_counts_its_final_usage(demo: Demo) -> None:
    [result] = _cut_streams(demo, demo.api_key, read=10_000, max_tokens=12)
    assert result["status"] == 200 and result["received"] == 12, result
    receipt = settled_receipt(demo.client_ns, demo.api_url, demo.api_key, result["receipt"])
    assert receipt["status"] == 200 and receipt["usage"]["completion_tokens"] == 12, receipt
    assert receipt["usage"]["source"] == "reported", receipt


def _stops_logged(demo: Demo, backend: str) -> list[float]:
    log = demo.demo_dir / "logs" / f"popgate-inference-sim@{backend}.log"
    return [int(found) / 1e6 for found in re.findall(r"generation\.stopped_us=(\d+)", log.read_text(errors="replace"))]


def test_the_worker_stops_generating_within_10_ms_of_the_clients_fin(demo: Demo) -> None:
    host, port = demo.api_url.split("//")[1].split(":")
    delays: list[float] = []
    for _ in range(5):
        with Capture(demo.pop_ns, "wg-edge", host, int(port)) as capture:
            [result] = _cut_streams(demo, demo.api_key, read=3, max_tokens=500)
            backend = settled_receipt(demo.client_ns, demo.api_url, demo.api_key, result["receipt"])["backend"]
            fins: list[float] = []
            assert wait_for(lambda: fins.extend(s.time for s in capture.segments()
                                                if s.dport == int(port) and s.flags & FIN) or fins, timeout=5)
        fin = fins[0]
        stops: list[float] = []
        assert wait_for(lambda: stops.extend(t for t in _stops_logged(demo, backend) if t >= fin - 1) or stops,
                        timeout=5), f"{backend} logged no stopped generation"
        delays.append(stops[-1] - fin)
    print(f"generation stopped after the client's FIN reached the PoP: {[round(d * 1000, 2) for d in delays]} ms")
    assert all(delay >= 0 for delay in delays), delays
    assert statistics.median(delays) < 0.010, delays
    assert max(delays) < 0.100, delays
