"""popgate in front of llama.cpp's own server, a worker no one here wrote.

llama-server (built from llama.cpp's sources, provisioning/engines/llama-server.sh) runs a tiny model with a real
tokenizer and random weights (provisioning/engines/tiny_gguf.py): its text is noise, but its protocol, usage reports,
metrics and slots are the real engine's. A second popgated in the demo's PoP has two of them, serving the same model,
as its chat workers (`kind = "llamacpp"`), and a third, started for embeddings, as its embedding worker; the demo's
client reaches that gateway through its tunnel.

Each answer through the tunnel is checked against the same request sent straight to the engine: greedy decoding
(temperature 0) makes the engine's answer and usage the same both ways, so any difference is popgate's.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.demo import Demo
from harness.engines import LlamaServer, backend_section, llama_server_binary, tiny_model
from harness.gateways import SecondGateway, free_port, second_gateway_config, without_tables
from harness.http import bearer, cut_streams, http_request, settled_receipt, stream_chat
from harness.processes import wait_for
from harness.steering import TunnelSteering

pytestmark = pytest.mark.engine

CHAT_MODEL = "popgate-tiny-llama"
EMBEDDING_MODEL = "popgate-tiny-embed"
EMBEDDING_WIDTH = 64  # tiny_gguf.py's EMBEDDING
MESSAGES = [{"role": "user", "content": "Name three rivers of Europe."}]
# Greedy, and long enough to stream many events; ignore_eos (llama.cpp's own field) keeps a random model from
# ending early, so every request generates exactly max_tokens.
GREEDY = {"temperature": 0, "ignore_eos": True}


CHAT_BACKENDS = ("llama-chat", "llama-chat-b")
# llama.cpp reports no revision of the weights it serves (its model listing has sizes and counts, no version or
# hash), so the receipts' model version is the one the operator declares in model_revisions.
MODEL_REVISION = "tiny-seed-20261207"
# The gateway's backend checks (backend_check_ms, unhealthy_after, healthy_after in the demo's configuration) take a
# dead worker out and a revived one back within a few seconds; this bounds the wait.
BACKEND_STATE_TIMEOUT = 20


@dataclass
class Site:
    demo: Demo
    chat: LlamaServer
    chat_b: LlamaServer
    embed: LlamaServer
    gateway: SecondGateway
    url: str  # the second gateway, as the client reaches it through its tunnel


@pytest.fixture(scope="module")
def site(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    binary = llama_server_binary()
    work = tmp_path_factory.mktemp("llamacpp")
    model = tiny_model(work)
    logs = demo.demo_dir / "logs"
    host = demo.api_url.split("//")[1].split(":")[0]
    port = free_port(demo.pop_ns, host)
    with LlamaServer(demo, binary, model, CHAT_MODEL, logs / "llama-server@chat.log") as chat, \
            LlamaServer(demo, binary, model, CHAT_MODEL, logs / "llama-server@chat-b.log") as chat_b, \
            LlamaServer(demo, binary, model, EMBEDDING_MODEL, logs / "llama-server@embed.log",
                        embeddings=True) as embed:
        base = without_tables(Path(demo.config).read_text(), {"backends"})
        config = second_gateway_config(base, port, sections=backend_section("llama-chat", chat, MODEL_REVISION)
                                       + backend_section("llama-chat-b", chat_b, MODEL_REVISION)
                                       + backend_section("llama-embed", embed))
        with TunnelSteering(demo, port), SecondGateway(demo, "llamacpp", config, port) as gateway:
            url = f"http://{host}:{port}"
            # The gateway routes to a worker once its first health check has passed.
            assert wait_for(lambda: _chat(demo, url, max_tokens=1).status == 200, timeout=20), gateway.log()[-2000:]
            yield Site(demo, chat, chat_b, embed, gateway, url)


def _chat(demo: Demo, url: str, **extra):
    body = {"model": CHAT_MODEL, "messages": MESSAGES, **GREEDY, **extra}
    return http_request(demo.client_ns, "POST", url + "/v1/chat/completions", headers=bearer(demo.api_key),
                        json_body=body, timeout=60)


def _receipt(site: Site, receipt_id: str | None) -> dict:
    return settled_receipt(site.demo.client_ns, site.url, site.demo.api_key, receipt_id)


def test_a_chat_through_the_tunnel_is_the_engines_answer_with_the_engines_usage(site: Site) -> None:
    through = _chat(site.demo, site.url, max_tokens=16)
    direct = site.chat.request("POST", "/v1/chat/completions",
                               {"model": CHAT_MODEL, "messages": MESSAGES, **GREEDY, "max_tokens": 16})
    assert through.status == 200 and direct.status == 200, (through, direct)
    answer, reference = through.json(), direct.json()
    assert answer["choices"][0]["message"]["content"] == reference["choices"][0]["message"]["content"]
    usage = {k: answer["usage"][k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
    assert usage == {k: reference["usage"][k] for k in usage}, (answer["usage"], reference["usage"])
    assert usage["completion_tokens"] == 16, usage
    receipt = _receipt(site, through.header("x-receipt-id"))
    assert receipt["status"] == 200 and receipt["backend"] in CHAT_BACKENDS, receipt
    assert receipt["model_version"] == MODEL_REVISION, receipt
    assert receipt["usage"]["prompt_tokens"] == usage["prompt_tokens"], receipt
    assert receipt["usage"]["completion_tokens"] == usage["completion_tokens"], receipt


def test_a_streamed_chat_relays_every_event_and_counts_the_engines_usage(site: Site) -> None:
    body = {"model": CHAT_MODEL, "messages": MESSAGES, **GREEDY, "max_tokens": 24, "stream": True}
    streamed = stream_chat(site.demo.client_ns, site.url, site.demo.api_key, body, timeout=60)
    assert streamed.status == 200, streamed
    payloads = [data for _, data in streamed.events]
    assert payloads[-1] == "[DONE]", payloads[-3:]
    chunks = [json.loads(data) for data in payloads[:-1]]
    text = "".join(choice["delta"].get("content") or "" for chunk in chunks for choice in chunk.get("choices", []))
    direct = site.chat.request("POST", "/v1/chat/completions",
                               {"model": CHAT_MODEL, "messages": MESSAGES, **GREEDY, "max_tokens": 24})
    assert text == direct.json()["choices"][0]["message"]["content"]
    receipt = _receipt(site, streamed.header("x-receipt-id"))
    assert receipt["status"] == 200, receipt
    assert receipt["usage"]["completion_tokens"] == 24, receipt
    assert receipt["usage"]["prompt_tokens"] == direct.json()["usage"]["prompt_tokens"], receipt


def test_the_model_listing_through_the_tunnel_names_the_engines_models(site: Site) -> None:
    listed = http_request(site.demo.client_ns, "GET", site.url + "/v1/models", headers=bearer(site.demo.api_key))
    assert listed.status == 200, listed
    ids = {model["id"] for model in listed.json()["data"]}
    assert {CHAT_MODEL, EMBEDDING_MODEL} <= ids, ids
    # The engine's own listing names the same model, under the alias it was started with.
    engine_ids = {model["id"] for model in site.chat.request("GET", "/v1/models").json()["data"]}
    assert CHAT_MODEL in engine_ids, engine_ids


def test_embeddings_through_the_tunnel_come_from_the_embedding_engine(site: Site) -> None:
    body = {"model": EMBEDDING_MODEL, "input": ["first text", "a second, longer text"]}
    through = http_request(site.demo.client_ns, "POST", site.url + "/v1/embeddings",
                           headers=bearer(site.demo.api_key), json_body=body, timeout=60)
    direct = site.embed.request("POST", "/v1/embeddings", body)
    assert through.status == 200 and direct.status == 200, (through, direct)
    vectors = [item["embedding"] for item in through.json()["data"]]
    assert [len(v) for v in vectors] == [EMBEDDING_WIDTH, EMBEDDING_WIDTH], [len(v) for v in vectors]
    assert vectors == [item["embedding"] for item in direct.json()["data"]]
    assert through.json()["usage"]["prompt_tokens"] == direct.json()["usage"]["prompt_tokens"] > 0


def test_the_engine_publishes_the_load_metric_the_gateway_reads(site: Site) -> None:
    exposition = site.chat.metrics()
    names = {line.split("{")[0].split(" ")[0] for line in exposition.splitlines() if line and line[0] != "#"}
    # WorkerKind.metrics for llamacpp: the queue depth; llama.cpp publishes no KV-cache pressure.
    assert "llamacpp:requests_deferred" in names, sorted(names)
    assert "llamacpp:requests_processing" in names, sorted(names)


def test_a_stream_the_client_cuts_is_receipted_with_the_tokens_relayed(site: Site) -> None:
    # llama.cpp reports usage only at a stream's end, so a stream cut short is counted by the gateway: one token per
    # content event it relayed (the engine sends an event per token). The engine writes thousands of tokens a second
    # here, so more events are on their way through the tunnel when the client hangs up than the client read (17
    # relayed against 12 read in one run): the receipt counts what was sent, never less than what was read, and
    # less than max_tokens, since the engine's generation ends with the gateway's connection to it (at about 3,000
    # tokens a second, max_tokens is two seconds of generation; 400 was not always enough).
    host, port = site.url.split("//")[1].split(":")
    max_tokens = 6000
    body = {"model": CHAT_MODEL, "messages": MESSAGES, **GREEDY, "max_tokens": max_tokens, "stream": True}
    for read in (1, 12):
        [result] = cut_streams(site.demo.client_ns, host, int(port), site.demo.api_key, body, read=read)
        assert result["status"] == 200 and result["received"] >= read, result
        receipt = _receipt(site, result["receipt"])
        assert receipt["status"] == 499 and receipt["backend"] in CHAT_BACKENDS, receipt
        usage = receipt["usage"]
        assert usage is not None and usage["source"] == "counted", receipt
        assert result["received"] - 1 <= usage["completion_tokens"] < max_tokens, (result, receipt)


def test_a_killed_engine_is_skipped_then_taken_out_and_back_once_it_returns(site: Site) -> None:
    def backends_of(count: int) -> list[str]:
        names = []
        for _ in range(count):
            answer = _chat(site.demo, site.url, max_tokens=2)
            assert answer.status == 200, answer
            names.append(_receipt(site, answer.header("x-receipt-id"))["backend"])
        return names

    # With both engines idle, the gateway sends every request to the first (load ties go to the first listed), so
    # that is the one killed: every request must then reach the second, the first ones by a retry before the first
    # byte, as the connection to the dead engine is refused.
    site.chat.kill()
    try:
        assert set(backends_of(8)) == {"llama-chat-b"}
        taken_out = re.compile(r"backend=llama-chat .*backend unhealthy")
        assert wait_for(lambda: taken_out.search(site.gateway.log()), timeout=BACKEND_STATE_TIMEOUT), (
            site.gateway.log()[-2000:])
    finally:
        site.chat.start()
    deadline = time.monotonic() + BACKEND_STATE_TIMEOUT
    while "llama-chat" not in backends_of(4):
        assert time.monotonic() < deadline, f"llama-chat was not taken back:\n{site.gateway.log()[-2000:]}"
