"""Routing by tier, as tiers.txt says, against the demo's four simulated workers (provisioning/demo.sh):

  sim-big  weights medium 1, fast 5, ludicrous 10; priority scheduling    measured load (idle)
  sim-a    weights slow 10, medium 5, fast 1                              queue 2, KV 0.1
  sim-b    same weights                                                   queue 1, KV 0.6
  sim-c    same weights                                                   queue 2, KV 0.3

So for popgate-sim-small: ludicrous → sim-big; fast → sim-big; medium and slow → sim-b (shortest queue), and
among equal queues sim-a (least KV) before sim-c. Which worker served a request is read from popgated's log by
the request's X-Request-Id; the workers' own /metrics show the priority they received.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess

import pytest

from popgate_harness import Demo, bearer, clean_env, describe, http_request, ns_cmd, ns_run, wait_for

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


def _last_priority(demo: Demo, sim: str) -> float:
    result = ns_run(demo.compute_ns, ["curl", "-fsS", "-m", "2", f"http://10.99.0.2:{SIM_PORTS[sim]}/metrics"],
                    timeout=10)
    assert result.returncode == 0, describe(result)
    [value] = re.findall(r'^popgate_sim_last_priority\{model_name="popgate-sim-small"\} (\S+)$', result.stdout,
                         re.M)
    return float(value)


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
    # sim-b runs fcfs: it would refuse a non-zero priority with 400, and records none.
    assert _chat(demo, "medium").status == 200
    assert _last_priority(demo, "sim-b") == -1


def test_a_clients_own_priority_never_reaches_a_worker(demo: Demo) -> None:
    response = _chat(demo, "slow", priority=-1000)
    assert response.status == 200, str(response)  # sim-b (fcfs) would have refused it
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
    pid_file = demo.demo_dir / "pids" / "popgate-inference-sim@sim-b.pid"
    pid = int(pid_file.read_text())
    argv = [part.decode() for part in open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0") if part]
    os.kill(pid, signal.SIGTERM)
    assert wait_for(lambda: ns_run(demo.compute_ns, ["curl", "-s", "-m", "1", "http://10.99.0.2:8002/health"],
                                   timeout=10).returncode != 0, timeout=10)
    restarted = None
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
        assert wait_for(lambda: re.search(r"backend=sim-b .*backend unhealthy", _gateway_log(demo)[offset:]),
                        timeout=10)
        after = _chat(demo, "medium")
        assert after.status == 200 and _served_by(demo, after) == "sim-a"
    finally:
        log_file = open(demo.demo_dir / "logs" / "popgate-inference-sim@sim-b.log", "ab")
        restarted = subprocess.Popen(ns_cmd(demo.compute_ns, argv), stdin=subprocess.DEVNULL, stdout=log_file,
                                     stderr=log_file, env=clean_env())
        log_file.close()
        pid_file.write_text(f"{restarted.pid}\n")
    assert wait_for(lambda: re.search(r"backend=sim-b .*backend healthy again", _gateway_log(demo)[offset:]),
                    timeout=15), _gateway_log(demo)[offset:][-2000:]
    back = _chat(demo, "medium")
    assert back.status == 200 and _served_by(demo, back) == "sim-b"
