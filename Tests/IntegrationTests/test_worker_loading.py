"""A worker that is still loading its model never costs a client a request.

llama.cpp's server listens before its model is loaded and answers everything with 503 "Loading model" until then
(test_engine_fidelity.py checks that the simulator's llamacpp mode answers as the real server does). A worker
restarted between two of the gateway's checks, or listed in a gateway that has just started, is taken for healthy
until its checks fail: a request sent to it then is refused before anything reaches the client, and the gateway
asks the next worker. Its checks take it out, and back once it has loaded.

A second popgated in the demo's PoP has two such simulated llama.cpp workers on its loopback, `warming` (listed first,
loading for LOADING_SECONDS) and `ready`; the demo's client reaches that gateway through its tunnel.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.demo import Demo
from harness.gateways import SecondGateway, free_port, listening, second_gateway_config, without_tables
from harness.http import bearer, http_request, settled_receipt
from harness.processes import clean_env, ns_cmd, stop_process, wait_for
from harness.steering import TunnelSteering

MODEL = "popgate-sim-small"
MESSAGES = [{"role": "user", "content": "hello"}]
# Checks slow enough that the first requests meet `warming` before its checks have failed often enough to take it
# out (a request it refuses counts as a failure too); LOADING_SECONDS long enough that they do take it out while it
# loads.
CHECKS = ("backend_check_ms = 2000", "unhealthy_after = 3", "healthy_after = 2")
LOADING_SECONDS = 8
BACKEND_STATE_TIMEOUT = 20


@dataclass
class Site:
    demo: Demo
    gateway: SecondGateway
    url: str
    started: float  # time.monotonic() when `warming` began loading

    def backend_of_a_chat(self) -> str:
        answer = http_request(self.demo.client_ns, "POST", self.url + "/v1/chat/completions",
                              headers=bearer(self.demo.api_key),
                              json_body={"model": MODEL, "messages": MESSAGES, "max_tokens": 2}, timeout=10)
        assert answer.status == 200, answer
        receipt = settled_receipt(self.demo.client_ns, self.url, self.demo.api_key, answer.header("x-receipt-id"))
        return receipt["backend"]


def _simulator(demo: Demo, name: str, port: int, *extra: str) -> subprocess.Popen[bytes]:
    log = open(demo.demo_dir / "logs" / f"popgate-inference-sim@{name}.log", "ab")
    with log:
        return subprocess.Popen(
            ns_cmd(demo.pop_ns, [str(demo.bin / "popgate-inference-sim"), "--listen", f"127.0.0.1:{port}",
                                 "--models", MODEL, "--engine", "llamacpp", "--max-running", "2",
                                 "--tokens-per-second", "0", *extra]),
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=clean_env())


def _backend(name: str, port: int) -> str:
    return (f'\n[[backends]]\nname = "{name}"\nurl = "http://127.0.0.1:{port}"\nmodels = ["{MODEL}"]\n'
            'kind = "llamacpp"\n')


@pytest.fixture(scope="module")
def site(demo: Demo) -> Iterator[Site]:
    host = demo.api_url.split("//")[1].split(":")[0]
    port = free_port(demo.pop_ns, host)
    warming_port, ready_port = free_port(demo.pop_ns, "127.0.0.1"), free_port(demo.pop_ns, "127.0.0.1")
    assert warming_port != ready_port
    base = without_tables(Path(demo.config).read_text(), {"backends"})
    config = second_gateway_config(base, port, gateway=CHECKS,
                                   sections=_backend("warming", warming_port) + _backend("ready", ready_port))
    ready = _simulator(demo, "ready", ready_port)
    started = time.monotonic()
    warming = _simulator(demo, "warming", warming_port, "--loading-seconds", str(LOADING_SECONDS))
    try:
        assert wait_for(lambda: listening(demo.pop_ns, ready_port) and listening(demo.pop_ns, warming_port),
                        timeout=10), "the simulators did not start listening"
        with TunnelSteering(demo, port), SecondGateway(demo, "loading", config, port) as gateway:
            yield Site(demo, gateway, f"http://{host}:{port}", started)
    finally:
        stop_process(warming, 5)
        stop_process(ready, 5)


def test_a_worker_loading_its_model_is_passed_over_then_taken_in_once_loaded(site: Site) -> None:
    # Both workers are new to the gateway, so both count as healthy, and `warming` comes first: the first requests
    # are refused by it (503, before anything reached the client) and answered by `ready`.
    assert site.backend_of_a_chat() == "ready"
    assert re.search(r"backend=warming .*backend unavailable before answering", site.gateway.log()), (
        site.gateway.log()[-2000:])
    # Its checks take it out; every request meanwhile is answered by `ready`.
    taken_out = re.compile(r"backend=warming .*backend unhealthy")
    while not taken_out.search(site.gateway.log()):
        assert time.monotonic() - site.started < LOADING_SECONDS, (
            f"warming was not taken out while it loaded:\n{site.gateway.log()[-2000:]}")
        assert site.backend_of_a_chat() == "ready"
    # Loaded, it passes its checks and is taken back: with the same weight and load it comes first again.
    assert wait_for(lambda: re.search(r"backend=warming .*backend healthy again", site.gateway.log()),
                    timeout=LOADING_SECONDS + BACKEND_STATE_TIMEOUT), site.gateway.log()[-2000:]
    assert site.backend_of_a_chat() == "warming"
