"""popgate in front of vLLM's own OpenAI server (its CPU build), a worker no one here wrote.

vLLM (installed once per machine, provisioning/engines/vllm.sh) serves a tiny model whose tokenizer is real and whose
weights it makes up itself (provisioning/engines/tiny_hf_model.py, `--load-format dummy`): its text is noise, but its
protocol, scheduler, usage reports and metrics are the real engine's. It runs in the demo's PoP with its priority
scheduler and a single sequence at a time, so that requests visibly wait. A second popgated in the PoP has it as its
worker (`kind = "vllm"`, `priority_scheduling = true`) and its own metrics listener on the management address; the
demo's client reaches that gateway through its tunnel.

Answers through the tunnel are checked against the same request sent straight to vLLM: greedy decoding (temperature
0) makes the engine's answer and usage the same both ways, so any difference is popgate's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.demo import Demo
from harness.gateways import SecondGateway, free_port, second_gateway_config, without_tables
from harness.http import Response, bearer, cut_streams, http_request, settled_receipt, split_url, stream_chat
from harness.metric_waits import wait_for_samples
from harness.metrics import parse_samples, sample
from harness.processes import clean_env, ns_cmd, stop_process, wait_for
from harness.steering import TunnelSteering
from harness.vllm import VllmServer, backend_section, tiny_model, vllm_python

pytestmark = pytest.mark.engine

MODEL = "popgate-tiny-vllm"
BACKEND = "vllm-chat"
MESSAGES = [{"role": "user", "content": "Name three rivers of Europe."}]
# Greedy, and as long as asked: ignore_eos (vLLM's sampling extension) keeps a random model from ending early.
GREEDY = {"temperature": 0, "ignore_eos": True}
# One sequence at a time: a second request waits, and the scheduler's choice among the waiting ones is observable.
MAX_NUM_SEQS = 1
# A long request: about 5 s of generation at the 300 tokens a second this model makes on one core.
LONG = 1500
# The request that holds the engine's one sequence while others queue behind it: about 13 s, so that what must happen
# while they wait does, even when the machine stalls for seconds (a process started while vLLM generates on these two
# cores has taken 12 s to run).
RUNNING = 4000
# The gateway reads its workers' load every backend_check_ms, here CHECK_MS: on two cores vLLM's API server, starved
# while its engine generates, takes 2–3 s to answer its metrics, longer than the 2 s a check waits at the 1 s default
# (the reading is then missed and the last one kept). LOAD_READ_TIMEOUT bounds the wait for a change to show.
CHECK_MS = 4000
LOAD_READ_TIMEOUT = 20
QUEUE_TIMEOUT = 30  # for requests sent at once to reach vLLM's queue, or to leave it


@dataclass
class Site:
    demo: Demo
    engine: VllmServer
    gateway: SecondGateway
    url: str  # the second gateway, as the client reaches it through its tunnel
    metrics_url: str  # the second gateway's metrics, on the PoP's management address

    def chat(self, key: str | None = None, **extra) -> Response:
        body = {"model": MODEL, "messages": MESSAGES, **GREEDY, **extra}
        return http_request(self.demo.client_ns, "POST", self.url + "/v1/chat/completions",
                            headers=bearer(key or self.demo.api_key), json_body=body, timeout=60)

    def direct(self, **extra) -> Response:
        """The same chat sent straight to vLLM."""
        response = self.engine.request("POST", "/v1/chat/completions",
                                       {"model": MODEL, "messages": MESSAGES, **GREEDY, **extra})
        assert response.status == 200, response
        return response

    def receipt(self, receipt_id: str | None, key: str | None = None) -> dict:
        return settled_receipt(self.demo.client_ns, self.url, key or self.demo.api_key, receipt_id)

    def gateway_samples(self) -> dict:
        response = http_request(self.demo.pop_ns, "GET", self.metrics_url, timeout=15)
        assert response.status == 200, response
        return parse_samples(response.body.decode())


@pytest.fixture(scope="module")
def site(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    python = vllm_python()
    work = tmp_path_factory.mktemp("vllm")
    model = tiny_model(python, work)
    host = split_url(demo.api_url)[0]
    management = split_url(demo.env["METRICS_URL"])[0]
    port, metrics_port = free_port(demo.pop_ns, host), free_port(demo.pop_ns, management)
    with VllmServer(demo, python, model, MODEL, work / "engine", demo.demo_dir / "logs" / "vllm@chat.log",
                    max_num_seqs=MAX_NUM_SEQS, priority=True) as engine:
        print(f"vLLM answered /health {engine.startup_seconds:.1f} s after it was started")
        base = without_tables(Path(demo.config).read_text(), {"backends"})
        sections = (backend_section(BACKEND, engine, priority_scheduling=True)
                    + f'\n[metrics]\nlisten = "{management}:{metrics_port}"\n')
        config = second_gateway_config(base, port, gateway=[f"backend_check_ms = {CHECK_MS}"], sections=sections)
        with TunnelSteering(demo, port), SecondGateway(demo, "vllm", config, port) as gateway:
            site = Site(demo, engine, gateway, f"http://{host}:{port}", f"http://{management}:{metrics_port}/metrics")
            # The gateway routes to a worker once its first health check has passed.
            assert wait_for(lambda: site.chat(max_tokens=1).status == 200, timeout=20), gateway.log()[-2000:]
            yield site


def _usage(usage: dict) -> dict:
    return {key: usage[key] for key in ("prompt_tokens", "completion_tokens")}


def test_a_chat_through_the_tunnel_is_vllms_answer_with_vllms_usage(site: Site) -> None:
    through = site.chat(max_tokens=16)
    direct = site.direct(max_tokens=16)
    assert through.status == 200, through
    answer, reference = through.json(), direct.json()
    assert answer["choices"][0]["message"]["content"] == reference["choices"][0]["message"]["content"]
    assert answer["usage"] == reference["usage"], (answer["usage"], reference["usage"])
    assert answer["usage"]["completion_tokens"] == 16, answer["usage"]
    receipt = site.receipt(through.header("x-receipt-id"))
    assert receipt["status"] == 200 and receipt["backend"] == BACKEND, receipt
    assert receipt["usage"] == {**_usage(reference["usage"]), "source": "reported"}, receipt


def test_a_streamed_chat_shows_no_usage_the_client_did_not_ask_for(site: Site) -> None:
    # The gateway asks vLLM for usage in every chunk and a final usage chunk; this client asked for neither.
    body = {"model": MODEL, "messages": MESSAGES, **GREEDY, "max_tokens": 24, "stream": True}
    streamed = stream_chat(site.demo.client_ns, site.url, site.demo.api_key, body, timeout=60)
    assert streamed.status == 200, streamed
    payloads = [data for _, data in streamed.events]
    assert payloads[-1] == "[DONE]", payloads[-3:]
    chunks = [json.loads(data) for data in payloads[:-1]]
    assert [chunk for chunk in chunks if "usage" in chunk] == [], "a chunk carries usage"
    assert [chunk for chunk in chunks if not chunk["choices"]] == [], "a chunk carries no choices"
    text = "".join(choice["delta"].get("content") or "" for chunk in chunks for choice in chunk["choices"])
    direct = site.direct(max_tokens=24).json()
    assert text == direct["choices"][0]["message"]["content"]
    receipt = site.receipt(streamed.header("x-receipt-id"))
    assert receipt["status"] == 200, receipt
    assert receipt["usage"] == {**_usage(direct["usage"]), "source": "reported"}, receipt


def test_a_stream_the_client_cuts_is_receipted_with_vllms_count_so_far(site: Site) -> None:
    # With continuous usage every chunk carries vLLM's count so far, so the receipt of a stream cut short has the
    # engine's own figures; the gateway relays chunks before the client reads them, so its last count is at least
    # the content events the client read, and below max_tokens since generation ends with the gateway's connection.
    prompt_tokens = site.direct(max_tokens=1).json()["usage"]["prompt_tokens"]
    host, port, _ = split_url(site.url)
    body = {"model": MODEL, "messages": MESSAGES, **GREEDY, "max_tokens": LONG, "stream": True}
    [result] = cut_streams(site.demo.client_ns, host, port, site.demo.api_key, body, read=12)
    assert result["status"] == 200 and result["received"] >= 12, result
    receipt = site.receipt(result["receipt"])
    assert receipt["status"] == 499 and receipt["backend"] == BACKEND, receipt
    usage = receipt["usage"]
    assert usage is not None and usage["source"] == "reported", receipt
    assert usage["prompt_tokens"] == prompt_tokens, (prompt_tokens, receipt)
    assert result["received"] <= usage["completion_tokens"] < LONG, (result, receipt)
    _wait_until_idle(site)


# Holds `count` chats in flight, each on its own connection, until the process is ended. Writes `ready` into `marks`
# once it is running and, when `trigger` is given, sends nothing until that file exists. Writes `done-<i>` when chat i
# has been answered: its status, and the names in `watch` at that moment; `error-<i>` when it failed.
_HOLD_SCRIPT = r"""
import http.client, json, os, sys, threading, time
a = json.loads(sys.argv[1])
open(os.path.join(a["marks"], "ready"), "w").close()
while a["trigger"] and not os.path.exists(a["trigger"]):
    time.sleep(0.01)
def one(i):
    conn = http.client.HTTPConnection(a["host"], a["port"], timeout=a["timeout"])
    conn.request("POST", "/v1/chat/completions", body=json.dumps(a["body"]),
                 headers={"Content-Type": "application/json", "Authorization": "Bearer " + a["key"]})
    response = conn.getresponse()
    response.read()
    seen = sorted(os.listdir(a["watch"])) if a["watch"] else []
    with open(os.path.join(a["marks"], "done-%d" % i), "w") as mark:
        mark.write(json.dumps({"status": response.status, "watched": seen}))
def guarded(i):
    try:
        one(i)
    except Exception as e:
        with open(os.path.join(a["marks"], "error-%d" % i), "w") as mark:
            mark.write("%s: %s" % (type(e).__name__, e))
threads = [threading.Thread(target=guarded, args=(i,)) for i in range(a["count"])]
for t in threads: t.start()
for t in threads: t.join()
"""


@contextmanager
def _held_chats(site: Site, key: str, count: int, marks: Path, *, max_tokens: int = LONG, trigger: Path | None = None,
                watch: Path | None = None, **extra) -> Iterator[None]:
    """`count` chats through the gateway with `key`, in flight for a `with` block (sent once `trigger` exists, if
    given); when it ends the client hangs up on any not yet answered.

    The client is running before the block begins: while vLLM generates, starting a process here can take seconds
    (12 s seen for a helper's interpreter), so a request that must go at a given moment is sent by a process already
    started. The chats are not streamed: relaying 300 events a second keeps two busy cores busier still."""
    marks.mkdir(exist_ok=True)
    host, port, _ = split_url(site.url)
    body = {"model": MODEL, "messages": MESSAGES, **GREEDY, "max_tokens": max_tokens, **extra}
    arguments = {"host": host, "port": port, "key": key, "body": body, "count": count, "marks": str(marks),
                 "timeout": 120, "trigger": str(trigger) if trigger else None, "watch": str(watch) if watch else None}
    process = subprocess.Popen(ns_cmd(site.demo.client_ns, [sys.executable, "-c", _HOLD_SCRIPT, json.dumps(arguments)]),
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=clean_env())
    try:
        assert wait_for(lambda: (marks / "ready").exists() or process.poll() is not None, timeout=60)
        assert process.poll() is None, f"the client ended at once (exit {process.returncode})"
        yield
    except AssertionError as failure:
        raise AssertionError(f"{failure}\nthe held chats: {_marks(marks)}") from None
    finally:
        stop_process(process, 10)
        _wait_until_idle(site)


def _marks(marks: Path) -> dict[str, str]:
    """What the held chats wrote: each one's status and what it watched, or its error."""
    return {mark.name: mark.read_text() for mark in sorted(marks.glob("*-*"))}


def _wait_for_load(site: Site, running: int, waiting: int, since: int) -> None:
    """Until vLLM's engine has logged `running` requests running and `waiting` waiting, since its log was `since`
    bytes long."""
    assert wait_for(lambda: (running, waiting) in site.engine.logged_loads(since), timeout=QUEUE_TIMEOUT), (
        f"vLLM's requests (running, waiting) went {site.engine.logged_loads(since)}, never {running, waiting}")


def _wait_until_idle(site: Site) -> None:
    """Until vLLM runs and queues nothing (a test's requests must not be in the next one's way), by its gauges:
    once it is idle, its API server answers at once."""
    labels = {"engine": "0", "model_name": MODEL}
    reached, seen = wait_for_samples(site.demo.pop_ns, site.engine.url + "/metrics",
                                     [("vllm:num_requests_running", labels, 0),
                                      ("vllm:num_requests_waiting", labels, 0)], timeout=QUEUE_TIMEOUT)
    assert reached, f"vLLM's requests (running, waiting) went {seen}, never idle"


def test_vllm_publishes_the_gauges_the_gateway_reads(site: Site) -> None:
    # WorkerKind.metrics for vllm: the gateway reads these two, summed over their label sets.
    exposition = parse_samples(site.engine.metrics())
    names = {name for name, labels in exposition if dict(labels).get("model_name") == MODEL}
    assert {"vllm:num_requests_waiting", "vllm:kv_cache_usage_perc"} <= names, sorted(names)
    # And its board holds what they said at the last check: an idle engine, with nothing waiting.
    samples = site.gateway_samples()
    assert sample(samples, "popgate_backend_queue_depth", backend=BACKEND) == 0, samples
    assert sample(samples, "popgate_backend_up", backend=BACKEND) == 1, samples


@pytest.mark.spare_cores
def test_the_gateway_reads_vllms_queue_and_cache_gauges(site: Site, tmp_path: Path) -> None:
    def queue_depth_reaches(depth: int, at_least: bool = False) -> None:
        reached, seen = wait_for_samples(site.demo.pop_ns, site.metrics_url,
                                         [("popgate_backend_queue_depth", {"backend": BACKEND}, depth)],
                                         timeout=LOAD_READ_TIMEOUT, at_least=at_least)
        assert reached, f"the gateway's queue depth for {BACKEND} went {seen}, never {depth}"

    queue_depth_reaches(0)
    since = site.engine.log_size()
    with _held_chats(site, site.demo.api_key, 1, tmp_path / "running", max_tokens=RUNNING), \
            _held_chats(site, site.demo.api_key, 2, tmp_path / "waiting"):
        _wait_for_load(site, 1, 2, since)
        # The gateway counts nothing of its own as a vLLM worker's queue: any depth it shows is vLLM's gauge, read at
        # one of its checks while the queue drains (2 waiting, then 1).
        queue_depth_reaches(1, at_least=True)
        # The KV cache holds the running request's tokens: a small share of the gigabyte given to the cache.
        pressure = sample(site.gateway_samples(), "popgate_backend_gpu_pressure", backend=BACKEND)
        assert pressure is not None and 0 < pressure < 1, pressure


@pytest.mark.spare_cores
def test_a_higher_tier_overtakes_the_waiting_requests_of_a_lower_one(site: Site, tmp_path: Path) -> None:
    # Tier.vllmPriority: medium 100, fast 10 (lower first). The medium requests also ask for the best priority
    # vLLM knows; the gateway must put their tier's in its place, or they would go first. (Not slow: the demo holds
    # that tier to 3,000 tokens a minute, two of these requests' max_tokens.)
    medium_key = site.demo.popctl_ok("key", "create", "--tenant", site.demo.tenant, "--tier", "medium").stdout.strip()
    assert wait_for(lambda: site.chat(medium_key, max_tokens=1).status == 200, timeout=10)
    running, medium, fast, trigger = tmp_path / "running", tmp_path / "medium", tmp_path / "fast", tmp_path / "go"
    since = site.engine.log_size()
    # The demo's key is of tier fast; its chat is sent by a client started beforehand, the moment vLLM queues.
    with _held_chats(site, medium_key, 1, running, max_tokens=RUNNING), \
            _held_chats(site, site.demo.api_key, 1, fast, max_tokens=8, trigger=trigger, watch=medium), \
            _held_chats(site, medium_key, 3, medium, max_tokens=200, priority=-1000):
        _wait_for_load(site, 1, 3, since)
        trigger.touch()
        assert wait_for(lambda: (fast / "done-0").exists(), timeout=QUEUE_TIMEOUT), _marks(fast)
        answer = json.loads((fast / "done-0").read_text())
    assert answer["status"] == 200, answer
    # vLLM does not preempt a running request for a waiting one: the fast request waits for the running one only, and
    # goes before every medium request that was waiting when it came.
    ended_before = [name for name in answer["watched"] if name.startswith("done-")]
    assert not ended_before, f"{ended_before} of the waiting medium requests ended before the fast one"


def test_the_gateway_puts_its_own_cache_salt_in_place_of_the_clients(site: Site) -> None:
    # vLLM refuses an empty salt; through the gateway the client's empty one is replaced by the tenant's.
    refused = site.engine.request("POST", "/v1/chat/completions",
                                  {"model": MODEL, "messages": MESSAGES, "max_tokens": 1, "cache_salt": ""})
    assert refused.status == 400 and "cache_salt" in refused.body.decode(), refused
    through = site.chat(max_tokens=1, cache_salt="")
    assert through.status == 200, through
