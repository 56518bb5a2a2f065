"""Routing by tier, as the product's tier rule says, against the demo's four simulated workers (provisioning/demo.sh):

  sim-big  weights medium 1, fast 5, ludicrous 10; priority scheduling    measured load (idle)
  sim-a    weights slow 10, medium 5, fast 1                              queue 2, KV 0.1
  sim-b    same weights                                                   queue 1, KV 0.6
  sim-c    same weights                                                   queue 2, KV 0.3

So for popgate-sim-small: ludicrous → sim-big; fast → sim-big; medium and slow → sim-b (shortest queue), and
among equal queues sim-a (least KV) before sim-c. Which worker served a request is read from popgated's log by
the request's X-Request-Id; the workers' own /metrics show the priority they received.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading

import pytest

from harness.demo import Demo
from harness.http import bearer, http_request, stream_chat
from harness.namespaces import ClientNamespace
from harness.processes import clean_env, describe, ns_cmd, ns_run, wait_for

MESSAGES = [{"role": "user", "content": "hello"}]
SIM_PORTS = {"sim-big": 8000, "sim-a": 8001, "sim-b": 8002, "sim-c": 8003}


def _chat(demo: Demo, tier: str | None, model: str = "popgate-sim-small", **extra):
    headers = bearer(demo.api_key)
    if tier is not None:
        headers["X-Siati-Tier"] = tier
    body = {"model": model, "messages": MESSAGES, "max_tokens": 2, **extra}
    return http_request(demo.client_ns, "POST", demo.api_url + "/v1/chat/completions", headers=headers,
                        json_body=body)


def _gateway_log(demo: Demo) -> str:
    return (demo.demo_dir / "logs" / "popgated.log").read_text(errors="replace")


def _served_by(demo: Demo, response) -> str:
    request_id = response.header("X-Request-Id")
    assert request_id, str(response)
    pattern = re.compile(rf"backend=(\S+) .*request\.id={re.escape(request_id)} .*request served")
    found: list[str] = []
    assert wait_for(lambda: found.extend(pattern.findall(_gateway_log(demo))) or found, timeout=5), (
        f"{request_id} not in popgated.log:\n{_gateway_log(demo)[-3000:]}"
    )
    return found[0]


def _metric(demo: Demo, sim: str, name: str) -> float:
    result = ns_run(demo.compute_ns, ["curl", "-fsS", "-m", "2", f"http://10.99.0.2:{SIM_PORTS[sim]}/metrics"],
                    timeout=10)
    assert result.returncode == 0, describe(result)
    [value] = re.findall(rf'^{re.escape(name)}\{{model_name="popgate-sim-small"\}} (\S+)$', result.stdout, re.M)
    return float(value)


def _last_priority(demo: Demo, sim: str) -> float:
    return _metric(demo, sim, "popgate_sim_last_priority")


def _restart_simulator(demo: Demo, sim: str, argv: list[str]) -> None:
    """Starts a simulator again with the command line it had, where `demo.sh down` finds it."""
    with open(demo.demo_dir / "logs" / f"popgate-inference-sim@{sim}.log", "ab") as log:
        process = subprocess.Popen(ns_cmd(demo.compute_ns, argv), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                   env=clean_env())
    (demo.demo_dir / "pids" / f"popgate-inference-sim@{sim}.pid").write_text(f"{process.pid}\n")


def _stop_simulator(demo: Demo, sim: str) -> list[str]:
    """Stops a simulator (SIGTERM) and returns its command line, for ``_restart_simulator``."""
    pid = int((demo.demo_dir / "pids" / f"popgate-inference-sim@{sim}.pid").read_text())
    argv = [part.decode() for part in open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0") if part]
    os.kill(pid, signal.SIGTERM)
    url = f"http://10.99.0.2:{SIM_PORTS[sim]}/health"
    assert wait_for(lambda: ns_run(demo.compute_ns, ["curl", "-s", "-m", "1", url], timeout=10).returncode != 0,
                    timeout=10), f"{sim} did not stop"
    return argv


@pytest.mark.parametrize(("tier", "expected"), [
    ("ludicrous", "sim-big"), ("fast", "sim-big"), ("medium", "sim-b"), ("slow", "sim-b"), ("LUDICROUS", "sim-big"),
])
def test_each_tier_goes_where_the_seed_says(demo: Demo, tier: str, expected: str) -> None:
    response = _chat(demo, tier)
    assert response.status == 200, str(response)
    assert _served_by(demo, response) == expected


def test_without_the_header_the_keys_default_tier_routes(demo: Demo) -> None:
    # The demo's key is created with --tier fast.
    response = _chat(demo, None)
    assert response.status == 200, str(response)
    assert _served_by(demo, response) == "sim-big"


def test_priority_is_sent_only_to_the_worker_that_schedules_by_it(demo: Demo) -> None:
    assert _chat(demo, "ludicrous").status == 200
    assert _last_priority(demo, "sim-big") == 1  # vLLM serves lower first: ludicrous 1 … slow 1000
    assert _chat(demo, "fast").status == 200
    assert _last_priority(demo, "sim-big") == 10
    # sim-b runs fcfs, where a priority means nothing: the gateway sends none, so sim-b records none.
    assert _chat(demo, "medium").status == 200
    assert _last_priority(demo, "sim-b") == -1


def test_a_clients_own_priority_never_reaches_a_worker(demo: Demo) -> None:
    response = _chat(demo, "slow", priority=-1000)
    assert response.status == 200, str(response)
    assert _served_by(demo, response) == "sim-b" and _last_priority(demo, "sim-b") == -1
    response = _chat(demo, "fast", priority=-1000)
    assert response.status == 200 and _last_priority(demo, "sim-big") == 10


def test_unknown_tier_unknown_model_and_an_empty_tier_get_openai_errors(demo: Demo) -> None:
    unknown_tier = _chat(demo, "turbo")
    assert unknown_tier.status == 400 and unknown_tier.json()["error"]["code"] == "invalid_tier", str(unknown_tier)
    unknown_model = _chat(demo, "fast", model="gpt-4o")
    assert unknown_model.status == 404 and unknown_model.json()["error"]["code"] == "model_not_found"
    # Only sim-big serves the large model, and it weighs 0 for slow.
    empty = _chat(demo, "slow", model="popgate-sim-large")
    assert empty.status == 503 and empty.json()["error"]["code"] == "no_backend_available", str(empty)


def test_a_worker_that_is_down_is_skipped_before_the_first_byte_then_taken_out_and_back(demo: Demo) -> None:
    argv = _stop_simulator(demo, "sim-b")
    try:
        offset = len(_gateway_log(demo))
        response = _chat(demo, "medium")
        assert response.status == 200, str(response)
        served = _served_by(demo, response)
        log = _gateway_log(demo)[offset:]
        if "backend unhealthy" not in log:
            # Not yet taken out by the checks: it was tried first and skipped.
            assert re.search(r"backend=sim-b .*backend failed before answering", log), log[-2000:]
        assert served == "sim-a", served  # next: equal weight, queue 2, least KV
        # Two failed checks (each waits up to the 1 s connect timeout, then 1 s apart), or a busy machine's worth more.
        assert wait_for(lambda: re.search(r"backend=sim-b .*backend unhealthy", _gateway_log(demo)[offset:]),
                        timeout=30), _gateway_log(demo)[offset:][-2000:]
        after = _chat(demo, "medium")
        assert after.status == 200 and _served_by(demo, after) == "sim-a"
    finally:
        _restart_simulator(demo, "sim-b", argv)
    assert wait_for(lambda: re.search(r"backend=sim-b .*backend healthy again", _gateway_log(demo)[offset:]),
                    timeout=15), _gateway_log(demo)[offset:][-2000:]
    back = _chat(demo, "medium")
    assert back.status == 200 and _served_by(demo, back) == "sim-b"


def test_a_worker_that_fails_mid_stream_ends_the_stream_with_an_openai_error_event(demo: Demo, tmp_path) -> None:
    # The demo key's tier (fast) streams from sim-big: 200 tokens at 50/s take 4 s.
    body = {"model": "popgate-sim-small", "messages": MESSAGES, "stream": True, "max_tokens": 200}
    result: dict = {}
    client = threading.Thread(
        target=lambda: result.update(
            response=stream_chat(demo.client_ns, demo.api_url, demo.api_key, body, mark=tmp_path / "begun")))
    client.start()
    argv = None
    try:
        # Once the client holds the first token, so the failure is truly mid-stream.
        assert wait_for(lambda: (tmp_path / "begun").exists(), timeout=5, interval=0.01)
        argv = _stop_simulator(demo, "sim-big")
        client.join(timeout=30)
        assert not client.is_alive(), "the stream did not end after its worker stopped"
    finally:
        if argv is None and (demo.demo_dir / "pids" / "popgate-inference-sim@sim-big.pid").exists():
            client.join(timeout=30)
        if argv is not None:
            _restart_simulator(demo, "sim-big", argv)
    response = result["response"]
    assert response.status == 200, str(response)
    contents = [data for _, data in response.events if '"choices"' in data]
    assert contents, response.events
    last = json.loads(response.events[-1][1])
    assert last["error"]["code"] == "backend_failed" and last["error"]["type"] == "server_error", response.events
    url = f"http://10.99.0.2:{SIM_PORTS['sim-big']}/health"
    assert wait_for(lambda: ns_run(demo.compute_ns, ["curl", "-fs", "-m", "1", url], timeout=10).returncode == 0,
                    timeout=10)


def _salts_logged(demo: Demo, sim: str, offset: int) -> list[str]:
    text = (demo.demo_dir / "logs" / f"popgate-inference-sim@{sim}.log").read_text(errors="replace")[offset:]
    return re.findall(r"cache_salt=(\S+)", text)


def _sim_log_size(demo: Demo, sim: str) -> int:
    return len((demo.demo_dir / "logs" / f"popgate-inference-sim@{sim}.log").read_text(errors="replace"))


def test_each_tenant_gets_its_own_cache_salt_and_a_client_cannot_choose_one(demo: Demo, tmp_path) -> None:
    offset = _sim_log_size(demo, "sim-b")
    assert _chat(demo, "medium").status == 200
    assert _chat(demo, "medium", cache_salt="someone-elses").status == 200
    acme = _salts_logged(demo, "sim-b", offset)
    assert len(acme) == 2 and acme[0] == acme[1] and re.fullmatch(r"[0-9a-f]{64}", acme[0]), acme

    demo.popctl_ok("tenant", "add", "saltco")
    conf = tmp_path / "pggx0.conf"
    demo.popctl_ok("peer", "add", "--tenant", "saltco", "--name", "gx-laptop", "--output", str(conf))
    key = demo.popctl_ok("key", "create", "--tenant", "saltco", "--tier", "medium").stdout.strip()
    try:
        with ClientNamespace(demo, "pg-saltco", 203, conf) as client:
            client.tunnel_up()
            offset = _sim_log_size(demo, "sim-b")
            response = http_request(client.ns, "POST", demo.api_url + "/v1/chat/completions", headers=bearer(key),
                                    json_body={"model": "popgate-sim-small", "messages": MESSAGES, "max_tokens": 2})
            assert response.status == 200, str(response)
            other = _salts_logged(demo, "sim-b", offset)
            assert len(other) == 1 and other[0] != acme[0], (other, acme)
    finally:
        demo.popctl("peer", "revoke", "gx-laptop")


@pytest.mark.parametrize(("tier", "expected"), [
    ("slow", {"popgate-sim-small"}), ("fast", {"popgate-sim-small", "popgate-sim-large"}),
])
def test_the_model_list_holds_what_the_callers_tier_can_use(demo: Demo, tier: str, expected: set[str]) -> None:
    response = http_request(demo.client_ns, "GET", demo.api_url + "/v1/models",
                            headers={**bearer(demo.api_key), "X-Siati-Tier": tier})
    assert response.status == 200, str(response)
    listing = response.json()
    assert listing["object"] == "list" and {m["id"] for m in listing["data"]} == expected, listing
    assert all(m["object"] == "model" for m in listing["data"]), listing
