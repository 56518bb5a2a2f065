"""popgate-inference-sim in llamacpp mode against llama.cpp's own server, side by side.

A gateway's tests run against the simulator far more often than against llama-server, so the simulator must answer
like llama-server in everything a gateway reads: health while loading and once ready, the gauges the router weighs
(requests_processing over /props' total_slots, requests_deferred), the model listing, usage and timings in answers
and streams, and the error shape. Both run on 127.0.0.1, started with the same slot count and model name, and each
check sends both the same request. Where values differ by nature (ids, times, text, and the prompt's token count:
llama-server uses a real tokenizer and the simulator counts words) the structure is compared instead: keys and the
kinds of their values.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.binaries import BIN, binary_problem
from harness.engines import llama_server_binary, tiny_model
from harness.processes import clean_env, require, stop_process, wait_for

pytestmark = pytest.mark.engine

MODEL = "tiny"
SLOTS = 2
START_TIMEOUT = 60
STOP_TIMEOUT = 10
# Greedy, and exact lengths: ignore_eos (llama.cpp's own field) keeps the random model from ending early.
GREEDY = {"temperature": 0, "ignore_eos": True}
MESSAGES = [{"role": "user", "content": "Name three rivers of Europe please"}]
TOKENS = 8
# The simulator's rate: quick answers, but a stream of LONG_TOKENS lasts as long as its client reads.
SIM_RATE = 200
# Long enough to keep llama-server's slots busy for a few scrapes (it makes about a thousand tokens a second here).
LONG_TOKENS = 3000
LOADING = {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Engine:
    """One server under test on 127.0.0.1, started by `command` with its port appended, stopped by its PID."""

    def __init__(self, name: str, command: list[str], log: Path) -> None:
        self.name, self.log_path = name, log
        self.port = free_port()
        self.command = command + ["--port", str(self.port)] if name == "llama-server" else command
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, env=clean_env())

    def wait_ready(self) -> None:
        ready = wait_for(lambda: self.process.poll() is not None or self.status("/health") == 200,
                         timeout=START_TIMEOUT, interval=0.05)
        assert ready and self.process.poll() is None, (
            f"{self.name} did not become ready in {START_TIMEOUT} s (exit {self.process.poll()}):\n"
            f"{self.log_path.read_text(errors='replace')[-3000:]}")

    def stop(self) -> None:
        stop_process(self.process, STOP_TIMEOUT)

    def request(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None,
                timeout: float = 30) -> Answer:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
            connection.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
            response = connection.getresponse()
            return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        finally:
            connection.close()

    def status(self, path: str) -> int:
        try:
            return self.request("GET", path, timeout=5).status
        except OSError:
            return 0

    def chat(self, **fields: Any) -> Answer:
        return self.request("POST", "/v1/chat/completions", {"model": MODEL, "messages": MESSAGES, **GREEDY, **fields})

    def stream(self, **fields: Any) -> list[dict[str, Any]]:
        """The JSON chunks of a streamed chat, up to `[DONE]` (which must end it)."""
        answer = self.chat(stream=True, **fields)
        assert answer.status == 200, answer
        events = [line[len("data: "):] for line in answer.body.decode().split("\n") if line.startswith("data: ")]
        assert events and events[-1] == "[DONE]", f"{self.name}: the stream did not end with [DONE]: {events[-3:]}"
        return [json.loads(event) for event in events[:-1]]

    def gauge(self, name: str) -> float | None:
        answer = self.request("GET", "/metrics")
        match = re.search(rf"^{re.escape(name)} (\S+)$", answer.body.decode(), re.M)
        return float(match.group(1)) if match else None


def shape(value: Any) -> Any:
    """The structure of a JSON value: objects by their keys, arrays element by element, scalars by kind (ints and
    floats are both numbers: Swift writes a whole double without its fraction)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value]
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if value is None:
        return "null"
    return "string"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("engine-fidelity")


@pytest.fixture(scope="module")
def llama_command(workdir: Path) -> list[str]:
    """llama-server's command line, as a PoP starts it, without the port."""
    model = tiny_model(workdir)
    return [str(llama_server_binary()), "--model", str(model), "--alias", MODEL, "--host", "127.0.0.1",
            "--metrics", "--parallel", str(SLOTS), "--ctx-size", str(16384 * SLOTS), "--threads", "1",
            "--seed", "1"]


def sim_command(port: int, *extra: str) -> list[str]:
    problem = binary_problem("popgate-inference-sim")
    require(problem is None, problem or "")
    return [str(BIN / "popgate-inference-sim"), "--engine", "llamacpp", "--listen", f"127.0.0.1:{port}",
            "--models", MODEL, "--max-running", str(SLOTS), "--tokens-per-second", str(SIM_RATE), *extra]


def started(engine: Engine) -> Iterator[Engine]:
    engine.start()
    try:
        engine.wait_ready()
        yield engine
    finally:
        engine.stop()


@pytest.fixture(scope="module")
def real(llama_command: list[str], workdir: Path) -> Iterator[Engine]:
    yield from started(Engine("llama-server", llama_command, workdir / "llama-server.log"))


@pytest.fixture(scope="module")
def sim(workdir: Path) -> Iterator[Engine]:
    engine = Engine("simulator", [], workdir / "simulator.log")
    engine.command = sim_command(engine.port)
    yield from started(engine)


@pytest.fixture(scope="module")
def both(real: Engine, sim: Engine) -> tuple[Engine, Engine]:
    return real, sim


def test_health_once_ready(both: tuple[Engine, Engine]) -> None:
    answers = [engine.request("GET", "/health") for engine in both]
    assert [a.status for a in answers] == [200, 200]
    assert [a.json() for a in answers] == [{"status": "ok"}] * 2
    assert all(a.headers["content-type"].startswith("application/json") for a in answers)


def loading_answers(engine: Engine, until: float) -> list[tuple[str, int, Any]]:
    """Polls /health and a chat from the engine's start every 5 ms until /health answers 200 (or `until` seconds
    pass): the answers, in order, skipping refused connections."""
    seen: list[tuple[str, int, Any]] = []
    paths = ["/health", "/v1/chat/completions"]
    deadline = time.monotonic() + until
    turn = 0
    while time.monotonic() < deadline:
        path = paths[turn % len(paths)]
        turn += 1
        try:
            if path == "/health":
                answer = engine.request("GET", path, timeout=5)
            else:
                answer = engine.chat(max_tokens=1)
        except OSError:
            time.sleep(0.005)
            continue
        seen.append((path, answer.status, answer.json()))
        if path == "/health" and answer.status == 200:
            break
        time.sleep(0.005)
    return seen


def test_loading_answer(llama_command: list[str], workdir: Path) -> None:
    """llama-server answers 503 "Loading model" from the moment its listener opens until the model is loaded (a
    window of some 50 ms for the tiny model); the simulator does the same for --loading-seconds."""
    real = Engine("llama-server", llama_command, workdir / "llama-server-loading.log")
    sim = Engine("simulator", [], workdir / "simulator-loading.log")
    sim.command = sim_command(sim.port, "--loading-seconds", "0.5")
    results = {}
    for engine in (real, sim):
        engine.start()
        try:
            results[engine.name] = loading_answers(engine, until=START_TIMEOUT)
        finally:
            engine.stop()
    for name, seen in results.items():
        assert seen and seen[0][1] == 503, f"{name}: the first answer was not 503: {seen[:3]}"
        assert seen[-1][:2] == ("/health", 200), f"{name} never became ready: {seen[-3:]}"
        loading = [entry for entry in seen if entry[1] != 200]
        assert loading, name
        # Every answer before readiness, health check or chat, is the same 503 with the same body.
        assert all(status == 503 and body == LOADING for _, status, body in loading), f"{name}: {loading}"
        assert any(path == "/health" for path, _, _ in loading), name


def metric_lines(text: str, name: str) -> list[str]:
    return [line for line in text.splitlines() if re.match(rf"(# (HELP|TYPE) )?{re.escape(name)}[ {{]", line)]


def test_metric_names_the_gateway_reads(both: tuple[Engine, Engine]) -> None:
    real, sim = (engine.request("GET", "/metrics") for engine in both)
    assert real.status == sim.status == 200
    assert real.headers["content-type"] == sim.headers["content-type"]
    real_text, sim_text = real.body.decode(), sim.body.decode()
    for name in ("llamacpp:requests_processing", "llamacpp:requests_deferred"):
        for text in (real_text, sim_text):
            lines = metric_lines(text, name)
            assert f"# TYPE {name} gauge" in lines, lines
            samples = [line for line in lines if not line.startswith("#")]
            assert len(samples) == 1 and re.fullmatch(rf"{re.escape(name)} -?[0-9.e+]+", samples[0]), samples
    # Every llamacpp family the simulator serves is the real server's, with the same HELP and TYPE.
    sim_families = {line.split()[2] for line in sim_text.splitlines() if line.startswith("# TYPE llamacpp:")}
    assert {"llamacpp:prompt_tokens_total", "llamacpp:tokens_predicted_total"} <= sim_families
    for name in sorted(sim_families):
        sim_meta = [line for line in metric_lines(sim_text, name) if line.startswith("#")]
        real_meta = [line for line in metric_lines(real_text, name) if line.startswith("#")]
        assert sim_meta == real_meta, name


class HeldStream:
    """A long streamed chat whose answer is read only as far as its first bytes, so it keeps a slot busy until
    closed."""

    def __init__(self, engine: Engine, number: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", engine.port, timeout=30)
        # A prompt of its own, so llama-server's prompt cache gives no request a reason to wait for another's slot.
        messages = [{"role": "user", "content": f"Request {number}: name three rivers of Europe please"}]
        body = {"model": MODEL, "messages": messages, **GREEDY, "max_tokens": LONG_TOKENS, "stream": True}
        self.connection.request("POST", "/v1/chat/completions", body=json.dumps(body),
                                headers={"Content-Type": "application/json"})
        self.response: http.client.HTTPResponse | None = None

    def wait_started(self) -> None:
        # Kept until close(): a response collected as garbage closes its socket, and llama-server cancels the
        # request of a client that left.
        self.response = self.connection.getresponse()
        assert self.response.status == 200
        self.response.read(64)

    def close(self) -> None:
        if self.response is not None:
            self.response.close()
        self.connection.close()


def test_busy_slots_rise_to_the_slot_count(both: tuple[Engine, Engine]) -> None:
    """With one request more than there are slots, the processing gauge rises while the slots are busy, never above
    the slot count, and after the clients leave both gauges return to 0.

    llama-server's gauges lag: in about one run in three its /metrics said 1 processing and 0 deferred for the
    whole of a 5 s generation while its log showed both slots generating and a third request waiting. So for it
    only the direction is required; the simulator, whose gauges are exact, must reach the slot count and defer one.
    """
    peaks = {}
    for engine in both:
        streams = [HeldStream(engine, number) for number in range(SLOTS + 1)]
        # The deferred request's answer starts only once it has a slot: only the first SLOTS are waited for.
        waiters = [threading.Thread(target=stream.wait_started) for stream in streams[:SLOTS]]
        for waiter in waiters:
            waiter.start()
        for waiter in waiters:
            waiter.join(timeout=20)
        peak = {"processing": 0.0, "deferred": 0.0}

        def full() -> bool:
            processing = engine.gauge("llamacpp:requests_processing") or 0
            deferred = engine.gauge("llamacpp:requests_deferred") or 0
            peak.update(processing=max(peak["processing"], processing), deferred=max(peak["deferred"], deferred))
            return processing == SLOTS and deferred >= 1

        try:
            # Long enough for several scrapes while llama-server's slots are busy, not for the whole generation.
            wait_for(full, timeout=2, interval=0.02)
        finally:
            for stream in streams:
                stream.close()
        peaks[engine.name] = peak
        idle = wait_for(lambda: engine.gauge("llamacpp:requests_processing") == 0
                        and engine.gauge("llamacpp:requests_deferred") == 0, timeout=20, interval=0.1)
        assert idle, f"{engine.name} did not go idle after its clients left"
    assert 1 <= peaks["llama-server"]["processing"] <= SLOTS, peaks
    assert peaks["simulator"] == {"processing": SLOTS, "deferred": 1}, peaks


def test_props(both: tuple[Engine, Engine]) -> None:
    real, sim = (engine.request("GET", "/props").json() for engine in both)
    assert real["total_slots"] == sim["total_slots"] == SLOTS
    assert real["model_alias"] == sim["model_alias"] == MODEL
    assert isinstance(sim["default_generation_settings"]["n_ctx"], int)
    assert real["default_generation_settings"]["n_ctx"] == sim["default_generation_settings"]["n_ctx"]
    # What the simulator sends, the real server sends too, with values of the same kinds.
    for key, value in sim.items():
        assert key in real, key
        if key != "default_generation_settings":
            assert shape(value) == shape(real[key]), key


def test_model_listing(both: tuple[Engine, Engine]) -> None:
    real, sim = (engine.request("GET", "/v1/models").json() for engine in both)
    assert [entry["id"] for entry in real["data"]] == [entry["id"] for entry in sim["data"]] == [MODEL]
    assert shape(sim) == shape(real)


def test_non_streamed_usage_and_timings(both: tuple[Engine, Engine]) -> None:
    real, sim = (engine.chat(max_tokens=TOKENS).json() for engine in both)
    assert shape(sim) == shape(real)
    for answer in (real, sim):
        usage = answer["usage"]
        assert usage["completion_tokens"] == TOKENS
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
        timings = answer["timings"]
        assert timings["predicted_n"] == TOKENS
        assert timings["prompt_n"] + timings["cache_n"] == usage["prompt_tokens"]
        assert usage["prompt_tokens_details"]["cached_tokens"] == timings["cache_n"]


def test_include_usage_ends_with_a_usage_chunk_and_ignores_continuous_usage(both: tuple[Engine, Engine]) -> None:
    streams = [engine.stream(max_tokens=TOKENS, stream_options={"include_usage": True, "continuous_usage_stats": True})
               for engine in both]
    assert shape(streams[1]) == shape(streams[0])
    for chunks in streams:
        assert all("usage" not in chunk for chunk in chunks[:-1])
        last = chunks[-1]
        assert last["choices"] == []
        assert last["usage"]["completion_tokens"] == TOKENS
        assert last["usage"]["total_tokens"] == last["usage"]["prompt_tokens"] + TOKENS
        assert last["timings"]["predicted_n"] == TOKENS


def test_stream_without_usage_ends_with_timings_on_the_finish_chunk(both: tuple[Engine, Engine]) -> None:
    streams = [engine.stream(max_tokens=TOKENS) for engine in both]
    assert shape(streams[1]) == shape(streams[0])
    for chunks in streams:
        assert all("usage" not in chunk for chunk in chunks)
        assert [("timings" in chunk) for chunk in chunks] == [False] * (TOKENS + 1) + [True]
        assert chunks[-1]["choices"][0]["finish_reason"] == "length"


@pytest.mark.parametrize("include_usage", [False, True])
def test_timings_per_token(both: tuple[Engine, Engine], include_usage: bool) -> None:
    """Every content chunk counts the tokens generated so far; prompt_n + cache_n is the whole prompt."""
    patterns = []
    for engine in both:
        prompt_tokens = engine.chat(max_tokens=1).json()["usage"]["prompt_tokens"]
        chunks = engine.stream(max_tokens=TOKENS, timings_per_token=True,
                               stream_options={"include_usage": include_usage})
        patterns.append([("timings" in chunk, "usage" in chunk) for chunk in chunks])
        content = [chunk for chunk in chunks if chunk["choices"] and chunk["choices"][0]["delta"].get("content")]
        assert [chunk["timings"]["predicted_n"] for chunk in content] == list(range(1, TOKENS + 1)), engine.name
        for chunk in chunks:
            if "timings" in chunk:
                assert chunk["timings"]["prompt_n"] + chunk["timings"]["cache_n"] == prompt_tokens, engine.name
    assert patterns[0] == patterns[1]


def test_bad_json(both: tuple[Engine, Engine]) -> None:
    answers = [engine.request("POST", "/v1/chat/completions", raw=b'{"model":') for engine in both]
    assert [a.status for a in answers] == [400, 400]
    real, sim = (a.json() for a in answers)
    assert shape(sim) == shape(real)
    assert real["error"]["code"] == sim["error"]["code"] == 400
    assert real["error"]["type"] == sim["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize("fields", [{"priority": 5}, {"cache_salt": "tenant-a"}, {"frobnicate": {"x": 1}}],
                         ids=["priority", "cache_salt", "unknown"])
def test_fields_llamacpp_ignores(both: tuple[Engine, Engine], fields: dict[str, Any]) -> None:
    assert [engine.chat(max_tokens=1, **fields).status for engine in both] == [200, 200]
