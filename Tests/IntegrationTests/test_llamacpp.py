"""popgate in front of llama.cpp's own server, a worker no one here wrote.

The session's demo runs with real engines (conftest: a session of tests marked `engine`; provisioning/demo-engines.sh):
four llama-servers in the compute namespace, behind the PoP's firewall and backbone, serving a tiny model with a
real tokenizer and random weights. Its text is noise, but its protocol, usage reports, metrics and slots are the real
engine's. As with the simulators, one engine (llama-big) is preferred by the fast tiers and two (llama-a, llama-b) by
the cheap ones, whose loads decide between them; llama-embed serves embeddings. The demo's key is of tier fast.

Each answer through the tunnel is checked against the same request sent straight to the engine: greedy decoding
(temperature 0) makes the engine's answer and usage the same both ways, so any difference is popgate's.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from harness.demo import Demo
from harness.engines import DemoEngine
from harness.http import bearer, cut_streams, http_request, settled_receipt, stream_chat
from harness.metrics import parse_samples, sample, scrape
from harness.processes import clean_env, ns_cmd, require, stop_process, wait_for

pytestmark = pytest.mark.engine

EMBEDDING_MODEL = "popgate-tiny-embed"
EMBEDDING_WIDTH = 64  # tiny_gguf.py's EMBEDDING
SLOTS = 2  # demo-engines.sh's ENGINE_SLOTS
MODEL_REVISION = "tiny-seed-1"  # demo-engines.sh's ENGINE_MODEL_REVISION: llama.cpp reports no version of its model
MESSAGES = [{"role": "user", "content": "Name three rivers of Europe."}]
# Greedy, and long enough to stream many events; ignore_eos (llama.cpp's own field) keeps a random model from
# ending early, so every request generates exactly max_tokens.
GREEDY = {"temperature": 0, "ignore_eos": True}
# The gateway's backend checks (every second by default; unhealthy_after and healthy_after 2) take a dead worker out,
# a revived one back and a load change into the router within a few seconds; this bounds the waits for them.
BACKEND_STATE_TIMEOUT = 20


@dataclass
class Site:
    demo: Demo
    engines: dict[str, DemoEngine]
    medium_key: str  # a key of tier medium: routed to llama-a or llama-b

    def chat(self, key: str | None = None, **extra):
        body = {"model": self.demo.model, "messages": MESSAGES, **GREEDY, **extra}
        return http_request(self.demo.client_ns, "POST", self.demo.api_url + "/v1/chat/completions",
                            headers=bearer(key or self.demo.api_key), json_body=body, timeout=60)

    def receipt(self, receipt_id: str | None, key: str | None = None) -> dict:
        return settled_receipt(self.demo.client_ns, self.demo.api_url, key or self.demo.api_key, receipt_id)

    def backends_of(self, count: int, key: str | None = None) -> list[str]:
        """The backends `count` short chats in turn were served by, from their receipts."""
        names = []
        for _ in range(count):
            answer = self.chat(key, max_tokens=2)
            assert answer.status == 200, answer
            names.append(self.receipt(answer.header("x-receipt-id"), key)["backend"])
        return names

    def pressure(self, backend: str) -> float | None:
        """The GPU pressure the gateway's router holds for `backend`, as its metrics show it."""
        return sample(parse_samples(scrape(self.demo)), "popgate_backend_gpu_pressure", backend=backend)


@pytest.fixture(scope="module")
def site(demo: Demo) -> Iterator[Site]:
    require(demo.env.get("WORKERS") == "engines", "the demo's workers are not engines (run these with -m engine)")
    engines = {name: DemoEngine(demo, name) for name in ("llama-big", "llama-a", "llama-b", "llama-embed")}
    key = demo.popctl_ok("key", "create", "--tenant", demo.tenant, "--tier", "medium").stdout.strip()
    yield Site(demo, engines, key)


def test_a_chat_through_the_tunnel_is_the_engines_answer_with_the_engines_usage(site: Site) -> None:
    through = site.chat(max_tokens=16)
    direct = site.engines["llama-big"].request("POST", "/v1/chat/completions",
                                               {"model": site.demo.model, "messages": MESSAGES, **GREEDY,
                                                "max_tokens": 16})
    assert through.status == 200 and direct.status == 200, (through, direct)
    answer, reference = through.json(), direct.json()
    assert answer["choices"][0]["message"]["content"] == reference["choices"][0]["message"]["content"]
    usage = {k: answer["usage"][k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
    assert usage == {k: reference["usage"][k] for k in usage}, (answer["usage"], reference["usage"])
    assert usage["completion_tokens"] == 16, usage
    receipt = site.receipt(through.header("x-receipt-id"))
    assert receipt["status"] == 200 and receipt["backend"] == "llama-big", receipt
    assert receipt["model_version"] == MODEL_REVISION, receipt
    assert receipt["usage"]["prompt_tokens"] == usage["prompt_tokens"], receipt
    assert receipt["usage"]["completion_tokens"] == usage["completion_tokens"], receipt


def test_a_streamed_chat_relays_every_event_and_counts_the_engines_usage(site: Site) -> None:
    body = {"model": site.demo.model, "messages": MESSAGES, **GREEDY, "max_tokens": 24, "stream": True}
    streamed = stream_chat(site.demo.client_ns, site.demo.api_url, site.demo.api_key, body, timeout=60)
    assert streamed.status == 200, streamed
    payloads = [data for _, data in streamed.events]
    assert payloads[-1] == "[DONE]", payloads[-3:]
    chunks = [json.loads(data) for data in payloads[:-1]]
    text = "".join(choice["delta"].get("content") or "" for chunk in chunks for choice in chunk.get("choices", []))
    direct = site.engines["llama-big"].request("POST", "/v1/chat/completions",
                                               {"model": site.demo.model, "messages": MESSAGES, **GREEDY,
                                                "max_tokens": 24})
    assert text == direct.json()["choices"][0]["message"]["content"]
    # The gateway asked for the usage chunk and the timings in every chunk on the client's behalf: the client,
    # which asked for neither, gets chunks as the engine sends them to a client that does not ask.
    assert all("usage" not in chunk and "timings" not in chunk for chunk in chunks), chunks[-2:]
    receipt = site.receipt(streamed.header("x-receipt-id"))
    assert receipt["status"] == 200, receipt
    assert receipt["usage"]["completion_tokens"] == 24, receipt
    assert receipt["usage"]["prompt_tokens"] == direct.json()["usage"]["prompt_tokens"], receipt


def test_the_model_listing_through_the_tunnel_names_the_engines_models(site: Site) -> None:
    listed = http_request(site.demo.client_ns, "GET", site.demo.api_url + "/v1/models",
                          headers=bearer(site.demo.api_key))
    assert listed.status == 200, listed
    entries = {model["id"]: model for model in listed.json()["data"]}
    assert {site.demo.model, EMBEDDING_MODEL} <= set(entries), entries
    # Each is described as the engine lists it (llama.cpp's own members), not minimally by the gateway.
    engine_entries = {model["id"]: model for model in site.engines["llama-big"].request("GET", "/v1/models").json()["data"]}
    assert entries[site.demo.model]["owned_by"] == engine_entries[site.demo.model]["owned_by"] == "llamacpp"
    assert entries[site.demo.model]["meta"] == engine_entries[site.demo.model]["meta"]


def test_embeddings_through_the_tunnel_come_from_the_embedding_engine(site: Site) -> None:
    body = {"model": EMBEDDING_MODEL, "input": ["first text", "a second, longer text"]}
    through = http_request(site.demo.client_ns, "POST", site.demo.api_url + "/v1/embeddings",
                           headers=bearer(site.demo.api_key), json_body=body, timeout=60)
    direct = site.engines["llama-embed"].request("POST", "/v1/embeddings", body)
    assert through.status == 200 and direct.status == 200, (through, direct)
    vectors = [item["embedding"] for item in through.json()["data"]]
    assert [len(v) for v in vectors] == [EMBEDDING_WIDTH, EMBEDDING_WIDTH], [len(v) for v in vectors]
    assert vectors == [item["embedding"] for item in direct.json()["data"]]
    assert through.json()["usage"]["prompt_tokens"] == direct.json()["usage"]["prompt_tokens"] > 0
    receipt = site.receipt(through.header("x-receipt-id"))
    assert receipt["backend"] == "llama-embed" and receipt["usage"]["prompt_tokens"] > 0, receipt


def test_the_engine_publishes_the_load_figures_the_gateway_reads(site: Site) -> None:
    engine = site.engines["llama-a"]
    exposition = engine.metrics()
    names = {line.split("{")[0].split(" ")[0] for line in exposition.splitlines() if line and line[0] != "#"}
    # WorkerKind.metrics for llamacpp: the queue, and the busy slots over the slot count of /props.
    assert {"llamacpp:requests_deferred", "llamacpp:requests_processing"} <= names, sorted(names)
    assert engine.request("GET", "/props").json()["total_slots"] == SLOTS


def test_a_stream_the_client_cuts_is_receipted_with_the_engines_own_counts(site: Site) -> None:
    # llama.cpp reports usage only at a stream's end; asked for `timings_per_token`, it also puts its counts so far in
    # every chunk (prompt_n + cache_n for the prompt, predicted_n for the tokens generated), which the gateway keeps
    # for a stream cut short. The engine writes thousands of tokens a second here, so more events are on their way
    # through the tunnel when the client hangs up than the client read: the receipt counts what was relayed, never
    # less than what was read, and less than max_tokens, since the engine's generation ends with the gateway's
    # connection to it (at about 3,000 tokens a second, max_tokens is two seconds of generation).
    host, port = site.demo.api_url.split("//")[1].split(":")
    max_tokens = 6000
    body = {"model": site.demo.model, "messages": MESSAGES, **GREEDY, "max_tokens": max_tokens, "stream": True}
    direct = site.engines["llama-big"].request("POST", "/v1/chat/completions",
                                               {"model": site.demo.model, "messages": MESSAGES, **GREEDY,
                                                "max_tokens": 1})
    prompt_tokens = direct.json()["usage"]["prompt_tokens"]
    for read in (1, 12):
        [result] = cut_streams(site.demo.client_ns, host, int(port), site.demo.api_key, body, read=read)
        assert result["status"] == 200 and result["received"] >= read, result
        receipt = site.receipt(result["receipt"])
        assert receipt["status"] == 499 and receipt["backend"] == "llama-big", receipt
        usage = receipt["usage"]
        assert usage is not None and usage["source"] == "reported", receipt
        assert usage["prompt_tokens"] == prompt_tokens, (receipt, prompt_tokens)
        assert result["received"] <= usage["completion_tokens"] < max_tokens, (result, receipt)


# Streams straight to an engine, from its namespace, read to their end or until the process is ended by its PID: the
# engine's slots stay busy meanwhile.
_HOLD_SCRIPT = r"""
import http.client, json, sys, threading
a = json.loads(sys.argv[1])
def one():
    conn = http.client.HTTPConnection(a["host"], a["port"], timeout=120)
    conn.request("POST", "/v1/chat/completions", body=json.dumps(a["body"]), headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    while response.read(4096):
        pass
threads = [threading.Thread(target=one) for _ in range(a["streams"])]
for t in threads: t.start()
for t in threads: t.join()
"""


class BusySlots:
    """Every slot of `engine` busy with a long generation for a `with` block; ended by the client process's PID."""

    # As long as a slot's context allows (tiny_gguf.py's CONTEXT): several seconds at the tiny model's speed.
    MAX_TOKENS = 16000

    def __init__(self, site: Site, engine: DemoEngine) -> None:
        self.site, self.engine = site, engine
        host, port = engine.url.split("//")[1].split(":")
        body = {"model": engine.alias, "messages": MESSAGES, **GREEDY, "max_tokens": self.MAX_TOKENS, "stream": True}
        self.args = {"host": host, "port": int(port), "body": body, "streams": SLOTS}
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> "BusySlots":
        self.process = subprocess.Popen(
            ns_cmd(self.site.demo.compute_ns, [sys.executable, "-c", _HOLD_SCRIPT, json.dumps(self.args)]),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=clean_env())
        # The router sees it at its next check: wait for the gateway's own view, not for a time.
        assert wait_for(lambda: self.site.pressure(self.engine.name) == 1.0, timeout=BACKEND_STATE_TIMEOUT), (
            f"the gateway never saw every slot of {self.engine.name} busy")
        return self

    def __exit__(self, *_: object) -> None:
        stop_process(self.process, 5)


def test_of_two_engines_with_the_same_weight_the_one_with_free_slots_is_chosen(site: Site) -> None:
    # tiers.txt: sort by the tier's weight, then the queue, then the GPU pressure (for llama.cpp, the share of busy
    # slots). Idle, llama-a and llama-b tie for a medium request, and the first listed wins.
    assert wait_for(lambda: site.pressure("llama-a") == 0 and site.pressure("llama-b") == 0,
                    timeout=BACKEND_STATE_TIMEOUT)
    assert set(site.backends_of(3, site.medium_key)) == {"llama-a"}
    with BusySlots(site, site.engines["llama-a"]):
        assert set(site.backends_of(4, site.medium_key)) == {"llama-b"}


def test_the_tiers_weight_comes_before_the_engines_load(site: Site) -> None:
    # llama-big weighs 5 for the fast tier against 1 for llama-a and llama-b: with every slot busy it is still the
    # fast tier's engine, as tiers.txt orders the weight before the load. The request waits there for a slot (the
    # engine's own queue shows it), and is answered once one is free.
    big = site.engines["llama-big"]

    def deferred() -> float | None:
        return sample(parse_samples(big.metrics()), "llamacpp:requests_deferred")

    with ThreadPoolExecutor(1) as pool:
        with BusySlots(site, big):
            assert site.pressure("llama-a") == 0 and site.pressure("llama-b") == 0
            answer = pool.submit(site.chat, None, max_tokens=2)
            assert wait_for(lambda: deferred() == 1, timeout=BACKEND_STATE_TIMEOUT), big.metrics()
        answered = answer.result(timeout=60)
    assert answered.status == 200, answered
    assert site.receipt(answered.header("x-receipt-id"))["backend"] == "llama-big"


def test_a_killed_engine_is_skipped_then_taken_out_and_back_once_it_returns(site: Site) -> None:
    # The fast tier's engine is killed: every request must then reach one of the others (weight 1 for the fast tier),
    # the first ones by a retry before the first byte, as the connection to the dead engine is refused.
    engine = site.engines["llama-big"]
    engine.kill()
    try:
        assert set(site.backends_of(6)) <= {"llama-a", "llama-b"}
        gateway_log = site.demo.demo_dir / "logs" / "popgated.log"
        taken_out = re.compile(r"backend=llama-big .*backend unhealthy")
        assert wait_for(lambda: taken_out.search(gateway_log.read_text(errors="replace")),
                        timeout=BACKEND_STATE_TIMEOUT), gateway_log.read_text(errors="replace")[-2000:]
    finally:
        engine.start()
    deadline = time.monotonic() + BACKEND_STATE_TIMEOUT
    while "llama-big" not in site.backends_of(2):
        assert time.monotonic() < deadline, "llama-big was not taken back"
