"""The canary: no client content reaches the disk or a log.

1,000 requests (10,000 with POPGATE_SOAK=1) go from the client's namespace through its WireGuard tunnel to a second
popgated, each carrying its own canary (`CANARY-<run id>-<n>-<random>`) in the prompt, in ordinary headers
(User-Agent, X-Client-Note), in body fields the gateway owns or ignores (`cache_salt`, `user`), and for some in the
tier header or the request path and query. They mix what the gateway proxies (chat completions plain and streamed,
legacy completions plain and streamed, responses plain and streamed, embeddings) with what it refuses (a bad API
key, an unknown model, a body over the limit, malformed JSON, an unknown path, an unknown tier): refusals are
receipted and logged too, so they are where a leak is most likely.

The gateway's only backend is a simulator started with `--echo-prompt`, so completions repeat the prompt's words:
the client checks that every completion really carries its request's canary back, so canaries cross the whole path
in both directions. The simulator listens on the PoP's loopback, as popnetd's backbone policy lets the PoP reach
only the demo's four workers.

Afterwards every file changed anywhere on the machine since the run began, everything under the demo's directory
(daemon logs, receipt logs, registry), the journal and the kernel log are searched (canary_search.py) for the run's
canary prefix, plain, base64 and hex: 0 occurrences. Positive controls make sure the search would see a leak: a
canary planted in a file under /tmp, base64-encoded in another, hex-encoded in one on /dev/shm, one in the echo
simulator's log (through its documented logging of `cache_salt`, sent to it directly), and one in the kernel log
must each be found, and nothing else.

The test process writes no canary to disk itself: the requests go to the client over a pipe and the answers come
back over one; nothing but counts leaves the client.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from canary_search import SearchReport, journald_running, mark_time, search_machine
from harness.demo import Demo
from harness.gateways import SecondGateway, free_port, listening, second_gateway_config, without_tables
from harness.http import bearer, http_request
from harness.processes import clean_env, describe, ns_cmd, require, run, stop_process, wait_for
from harness.steering import TunnelSteering

# Long form with POPGATE_SOAK=1: `make soak` selects this module by its marker.
pytestmark = pytest.mark.soak

# The short form runs in `make test`, the long one in `make soak`: the same code, only the count differs.
SOAK = os.environ.get("POPGATE_SOAK") == "1"
REQUESTS = 10_000 if SOAK else 1_000
CLIENT_THREADS = 8
REQUEST_TIMEOUT = 15  # s, each request in the client
CLIENT_TIMEOUT = 120 + REQUESTS * 0.2  # s, the whole run: a hang fails instead of stalling the suite
SIM_START_TIMEOUT = 15
SIM_STOP_TIMEOUT = 10
RECEIPT_WAIT = 15  # s; checkpoints are signed every second
MAX_BODY_BYTES = 65536  # the second gateway's limit, so a 413 needs only a small body
COMPLETION_TOKENS = 8  # enough for the echoed prompt to repeat its canary at least once
TIER_HEADER_DEFAULT = "X-Siati-Tier"
LEAK_SOURCES_SHOWN = 10  # a leak in every receipt tile would otherwise bury the summary


# ---------------------------------------------------------------------------------------------------------------
# The echoing worker and the gateway in front of it


class EchoSimulator:
    """popgate-inference-sim with --echo-prompt on the PoP's loopback, for a `with` block; stopped by its PID."""

    def __init__(self, demo: Demo) -> None:
        self.demo = demo
        self.port = free_port(demo.pop_ns, "127.0.0.1")
        self.log_path = demo.demo_dir / "logs" / "popgate-inference-sim@canary-echo.log"
        self.process: subprocess.Popen[bytes] | None = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else ""

    def __enter__(self) -> "EchoSimulator":
        command = [str(self.demo.bin / "popgate-inference-sim"), "--listen", f"127.0.0.1:{self.port}",
                   "--models", "popgate-sim-small,popgate-sim-large", "--tokens-per-second", "0", "--echo-prompt"]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(ns_cmd(self.demo.pop_ns, command), stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, env=clean_env())
        try:
            up = wait_for(lambda: self.process.poll() is not None or listening(self.demo.pop_ns, self.port),
                          timeout=SIM_START_TIMEOUT)
            assert up and self.process.poll() is None, f"the echo simulator did not start:\n{self.log()}"
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self._stop()

    def _stop(self) -> None:
        stop_process(self.process, SIM_STOP_TIMEOUT)


def echo_gateway_config(demo: Demo, port: int, sim_port: int) -> str:
    """The demo's configuration with the echo simulator as its only backend and no rate limits (the run's pace is
    not what is tested), listening on `port`, with a small body limit."""
    base = without_tables(Path(demo.config).read_text(), {"backends", "limits"})
    unlimited = "{ requests_per_minute = 0, tokens_per_minute = 0 }"
    sections = (f"\n[limits]\nmax_streams_per_peer = 64\n"
                + "".join(f"{tier} = {unlimited}\n" for tier in ("slow", "medium", "fast", "ludicrous"))
                + f'\n[[backends]]\nname = "canary-echo"\nurl = "http://127.0.0.1:{sim_port}"\n'
                + 'models = ["popgate-sim-small", "popgate-sim-large"]\n')
    return second_gateway_config(base, port, gateway=[f"max_request_body_bytes = {MAX_BODY_BYTES}"],
                                 sections=sections)


def tier_header(demo: Demo) -> str:
    with open(demo.config, "rb") as file:
        return tomllib.load(file).get("gateway", {}).get("tier_header", TIER_HEADER_DEFAULT)


# ---------------------------------------------------------------------------------------------------------------
# The requests

# kind → (expected status, how the client finds the completion text; None: no text to check)
KINDS: dict[str, tuple[int, str | None]] = {
    "chat": (200, "chat"),
    "chat_stream": (200, "chat_stream"),
    "completion": (200, "completion"),
    "completion_stream": (200, "completion_stream"),
    "responses": (200, "responses"),
    "responses_stream": (200, "responses_stream"),
    "embeddings": (200, None),
    "chat_query": (200, "chat"),
    "bad_key": (401, None),
    "unknown_model": (404, None),
    "too_large": (413, None),
    "malformed_json": (400, None),
    "unknown_path": (404, None),
    "unknown_tier": (400, None),
}


def plan_request(n: int, kind: str, canary: str, demo: Demo, tier: str) -> dict[str, Any]:
    """One request for the client script: method, path, headers, body (text), and what to check."""
    prompt = f"Please keep {canary} safe"
    headers = {"Authorization": f"Bearer {demo.api_key}", "Content-Type": "application/json",
               "User-Agent": f"canary-client/{canary}", "X-Client-Note": canary}
    path, pad = "/v1/chat/completions", 0
    chat = {"model": demo.model, "messages": [{"role": "user", "content": prompt}], "max_tokens": COMPLETION_TOKENS,
            "user": canary}
    body: Any = chat
    if kind == "chat":
        # A field the gateway owns: it must replace the client's value, never pass it on.
        body = {**chat, "cache_salt": canary}
    elif kind == "chat_stream":
        body = {**chat, "stream": True}
    elif kind in ("completion", "completion_stream"):
        path = "/v1/completions"
        body = {"model": demo.model, "prompt": prompt, "max_tokens": COMPLETION_TOKENS, "user": canary,
                "stream": kind == "completion_stream"}
    elif kind in ("responses", "responses_stream"):
        path = "/v1/responses"
        body = {"model": demo.model, "input": prompt, "max_output_tokens": COMPLETION_TOKENS,
                "instructions": f"Answer {canary}", "metadata": {"note": canary},
                "stream": kind == "responses_stream"}
    elif kind == "embeddings":
        path = "/v1/embeddings"
        body = {"model": demo.model, "input": [prompt, canary]}
    elif kind == "chat_query":
        path = f"/v1/chat/completions?note={canary}"
    elif kind == "bad_key":
        headers["Authorization"] = f"Bearer sk-{canary}"
    elif kind == "unknown_model":
        body = {**chat, "model": f"model-{canary}"}
    elif kind == "too_large":
        body = {**chat, "messages": [{"role": "user", "content": f"{prompt} @PAD@"}]}
        pad = MAX_BODY_BYTES + 1024
    elif kind == "malformed_json":
        body = json.dumps(chat)[:-7]  # cut inside the last member
    elif kind == "unknown_path":
        path = f"/v1/{canary}"
    elif kind == "unknown_tier":
        headers[tier] = canary
    text = body if isinstance(body, str) else json.dumps(body)
    return {"n": n, "kind": kind, "canary": canary, "method": "POST", "path": path, "headers": headers,
            "body": text, "pad": pad, "extract": KINDS[kind][1]}


# Runs in the client's namespace. Reads the plan (JSON) from stdin, sends every request on its own connection from a
# few threads, and prints one JSON line per request with only its outcome: status, whether the completion carried
# the request's canary back, whether a receipt id came with it, or the error. Nothing a request or answer held is
# printed or written anywhere.
_CLIENT = r"""
import concurrent.futures, http.client, json, sys, time
a = json.load(sys.stdin)

def events(raw):
    for block in raw.replace(b"\r\n", b"\n").split(b"\n\n"):
        for line in block.split(b"\n"):
            if line.startswith(b"data:"):
                data = line[5:].strip()
                if data != b"[DONE]":
                    yield json.loads(data)

def completion_text(extract, raw):
    if extract == "chat":
        return json.loads(raw)["choices"][0]["message"]["content"]
    if extract == "completion":
        return json.loads(raw)["choices"][0]["text"]
    if extract == "responses":
        return json.loads(raw)["output"][0]["content"][0]["text"]
    if extract == "chat_stream":
        return "".join(c["delta"].get("content") or "" for e in events(raw) for c in e.get("choices", []))
    if extract == "completion_stream":
        return "".join(c.get("text") or "" for e in events(raw) for c in e.get("choices", []))
    if extract == "responses_stream":
        return "".join(e["delta"] for e in events(raw) if e.get("type") == "response.output_text.delta")
    raise ValueError(extract)

def send(r):
    out = {"n": r["n"], "kind": r["kind"]}
    body = r["body"].replace("@PAD@", "x" * r["pad"]).encode()
    try:
        conn = http.client.HTTPConnection(a["host"], a["port"], timeout=a["timeout"])
        conn.request(r["method"], r["path"], body=body, headers=r["headers"])
        response = conn.getresponse()
        raw = response.read()
        conn.close()
        out["status"] = response.status
        out["receipt"] = response.getheader("X-Receipt-Id") is not None
        if r["extract"] and response.status == 200:
            try:
                out["echoed"] = r["canary"] in completion_text(r["extract"], raw)
            except (ValueError, KeyError, IndexError, TypeError) as e:
                out["error"] = "unreadable answer: %s" % type(e).__name__
    except Exception as e:
        out["error"] = "%s: %s" % (type(e).__name__, str(e).replace(r["canary"], "<canary>"))
    return out

start = time.monotonic()
with concurrent.futures.ThreadPoolExecutor(a["threads"]) as pool:
    for out in pool.map(send, a["requests"]):
        print(json.dumps(out))
print(json.dumps({"elapsed": time.monotonic() - start}))
"""


def run_client(demo: Demo, host: str, port: int, plan: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], float]:
    document = json.dumps({"host": host, "port": port, "timeout": REQUEST_TIMEOUT, "threads": CLIENT_THREADS,
                           "requests": plan})
    result = run(ns_cmd(demo.client_ns, [sys.executable, "-c", _CLIENT]), input=document, timeout=CLIENT_TIMEOUT)
    assert result.returncode == 0, f"the client failed (exit {result.returncode}):\n{result.stderr[-3000:]}"
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return lines[:-1], lines[-1]["elapsed"]


# ---------------------------------------------------------------------------------------------------------------
# The positive controls: leaks planted on purpose, each of which the search must find


def control_paths(run_id: str) -> tuple[Path, Path]:
    """Where the planted files go: a directory under /tmp, and a file on /dev/shm (another mount than /)."""
    return Path(f"/tmp/popgate-canary-control.{run_id}"), Path(f"/dev/shm/popgate-canary-control.{run_id}")


def plant_controls(prefix: str, demo: Demo, sim: EchoSimulator, run_id: str) -> dict[str, str]:
    """Plants one control canary per place; returns source (as the search names it) → form it must be found in."""
    expected: dict[str, str] = {}
    directory, shm = control_paths(run_id)
    directory.mkdir(mode=0o700)
    (directory / "plain").write_text(f"planted {prefix}control-plain\n")
    expected[str(directory / "plain")] = "plain"
    # One byte ahead, so the canary starts mid-group: the search must try every alignment.
    (directory / "base64").write_bytes(base64.b64encode(b"x" + f"{prefix}control-base64".encode()))
    expected[str(directory / "base64")] = "base64 (alignment 1)"
    shm.write_text(f"{prefix}control-hex".encode().hex())
    expected[str(shm)] = "hex"

    # A daemon's own log: the simulator logs the `cache_salt` it is sent (the gateway always replaces a client's, so
    # this one is sent to the simulator directly, from the PoP).
    salted = http_request(demo.pop_ns, "POST", f"http://127.0.0.1:{sim.port}/v1/chat/completions",
                          json_body={"model": demo.model, "messages": [{"role": "user", "content": "hi"}],
                                     "cache_salt": f"{prefix}control-daemon-log"})
    assert salted.status == 200, str(salted)
    assert wait_for(lambda: f"{prefix}control-daemon-log" in sim.log(), timeout=10), sim.log()
    expected[str(sim.log_path)] = "plain"

    with open("/dev/kmsg", "w") as kmsg:
        kmsg.write(f"popgate canary test (positive control, harmless): {prefix}control-kernel\n")
    expected["kernel log (dmesg)"] = "plain"
    if journald_running():
        logged = run(["logger", "-t", "popgate-canary-test", f"{prefix}control-journal"], timeout=10)
        assert logged.returncode == 0, describe(logged)
        run(["journalctl", "--sync"], timeout=30)
        expected["journal"] = "plain"
    return expected


def remove_controls(run_id: str) -> None:
    directory, shm = control_paths(run_id)
    shutil.rmtree(directory, ignore_errors=True)
    shm.unlink(missing_ok=True)


def leaks(report: SearchReport, expected: dict[str, str]) -> list[str]:
    """Every occurrence that is not a planted control, described; and every control not found where planted."""
    problems = []
    controls = Counter()
    for hit in report.hits:
        if hit.source in expected and ("-control-" in hit.context or hit.form != "plain"):
            controls[hit.source] += 1
            if hit.form != expected[hit.source]:
                problems.append(f"control in {hit.source} found as {hit.form}, not {expected[hit.source]}")
    leaking = {source: count - controls[source] for source, count in report.hit_counts.items()
               if count > controls[source]}
    for source in sorted(leaking)[:LEAK_SOURCES_SHOWN]:
        listed = "\n    ".join(str(hit) for hit in report.hits if hit.source == source)
        problems.append(f"LEAK: {leaking[source]} occurrence(s) in {source}:\n    {listed}")
    if len(leaking) > LEAK_SOURCES_SHOWN:
        rest = sorted(leaking)[LEAK_SOURCES_SHOWN:]
        problems.append(f"LEAK: {sum(leaking[s] for s in rest)} more occurrence(s) in {len(rest)} more sources: "
                        + ", ".join(rest))
    problems += [f"the control planted in {source} was not found" for source in expected if not controls[source]]
    return problems


# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture
def dmesg_readable() -> None:
    result = run(["dmesg"], timeout=30)
    require(result.returncode == 0, f"the kernel log cannot be read: {describe(result)}")
    require(os.access("/dev/kmsg", os.W_OK), "/dev/kmsg is not writable: the kernel-log control cannot be planted")


def check_outcomes(outcomes: list[dict[str, Any]], gateway: SecondGateway) -> int:
    """Asserts every request got the answer its kind should, every completion carried its canary back, and every
    answer came with a receipt (docs/receipts.md: refusals too); returns how many completions echoed."""
    assert len(outcomes) == REQUESTS
    errors = [o for o in outcomes if "error" in o]
    assert not errors, f"{len(errors)} requests failed, e.g. {errors[:5]}\n{gateway.log()[-2000:]}"
    wrong = Counter((o["kind"], o["status"]) for o in outcomes if o["status"] != KINDS[o["kind"]][0])
    assert not wrong, f"unexpected statuses (kind, status) → count: {dict(wrong)}"
    not_echoed = Counter(o["kind"] for o in outcomes if o.get("echoed") is False)
    assert not not_echoed, f"completions without their canary, by kind: {dict(not_echoed)}"
    unreceipted = Counter(o["kind"] for o in outcomes if not o["receipt"])
    assert not unreceipted, f"answers without a receipt, by kind: {dict(unreceipted)}"
    return sum(1 for o in outcomes if o.get("echoed"))


def wait_for_receipts_on_disk(demo: Demo, url: str) -> None:
    """Returns once a checkpoint covers one more request's receipt: then so it does every receipt before it."""
    last = http_request(demo.client_ns, "POST", f"{url}/v1/chat/completions", headers=bearer(demo.api_key),
                        json_body={"model": demo.model, "max_tokens": 1,
                                   "messages": [{"role": "user", "content": "last"}]})
    assert last.status == 200, str(last)
    receipt_url = f"{url}/v1/receipts/{last.header('X-Receipt-Id')}"
    assert wait_for(lambda: http_request(demo.client_ns, "GET", receipt_url, headers=bearer(demo.api_key)).status
                    == 200, timeout=RECEIPT_WAIT, interval=0.5), "the last receipt was never checkpointed"


def test_no_canary_reaches_any_file_or_log(demo: Demo, dmesg_readable: None) -> None:
    run_id = secrets.token_hex(6)
    prefix = f"CANARY-{run_id}-"
    since = mark_time()
    tier = tier_header(demo)
    kinds = list(KINDS)
    plan = [plan_request(n, kinds[n % len(kinds)], f"{prefix}{n}-{secrets.token_hex(4)}", demo, tier)
            for n in range(REQUESTS)]
    host = demo.api_url.split("//")[1].split(":")[0]
    port = free_port(demo.pop_ns, host)
    try:
        with EchoSimulator(demo) as sim:
            config = echo_gateway_config(demo, port, sim.port)
            with TunnelSteering(demo, port), SecondGateway(demo, "canary", config, port) as gateway:
                outcomes, elapsed = run_client(demo, host, port, plan)
                echoed = check_outcomes(outcomes, gateway)
                wait_for_receipts_on_disk(demo, f"http://{host}:{port}")
                expected = plant_controls(prefix, demo, sim, run_id)
        # Both daemons have stopped: whatever they write on the way out is on disk now.
        report = search_machine(prefix, since, always=[demo.demo_dir])
    finally:
        remove_controls(run_id)
    print(f"\ncanary run {run_id}: {REQUESTS} requests in {elapsed:.1f} s, {echoed} completions echoed their canary; "
          f"{report.summary()}")
    assert report.files > 0 and report.bytes > 0, report.summary()
    problems = leaks(report, expected)
    if problems:
        pytest.fail("\n".join(problems) + "\n" + report.summary(), pytrace=False)


def _wireguard_secrets(config: Path) -> dict[str, str]:
    """A wg-quick config's PrivateKey and PresharedKey values, by name."""
    found = {}
    for line in config.read_text().splitlines():
        name, _, value = line.partition("=")
        if name.strip() in ("PrivateKey", "PresharedKey"):
            found[f"client {name.strip()}"] = value.strip()
    return found


def test_no_secret_reaches_a_log_or_the_receipts(demo: Demo) -> None:
    """The demo's secrets (the PoP's WireGuard, receipt-signing and cache-salt keys, the client's private and
    preshared keys, the API key) appear in no daemon log, no receipt, the kernel log or the journal; all but the
    preshared key appear nowhere in the registry either (the registry keeps preshared keys in clear:
    docs/threat-model.md). Each daemon's log has had a whole session of requests written to it by now."""
    secret_values = {f"PoP {path.name}": path.read_text().strip() for path in (demo.demo_dir / "keys").glob("*.key")}
    secret_values |= _wireguard_secrets(Path(demo.demo_dir / "pgc0.conf"))
    secret_values["API key"] = demo.api_key
    assert len(secret_values) >= 6 and all(len(value) >= 32 for value in secret_values.values()), sorted(secret_values)

    logs = sorted((demo.demo_dir / "logs").glob("*.log"))
    receipts = [path for path in (demo.demo_dir / "state" / "receipts").rglob("*") if path.is_file()]
    registry = sorted((demo.demo_dir / "state").glob("registry.sqlite*"))
    sources: dict[str, bytes] = {str(path): path.read_bytes() for path in logs + receipts}
    sources["dmesg"] = run(["dmesg"], timeout=30).stdout.encode()
    if journald_running():
        sources["journal"] = run(["journalctl", "-o", "export", "--no-pager"], timeout=60).stdout.encode()
    # The search is only as good as what it read: the gateway's log must be there, and hold the session's requests.
    gateway_log = sources.get(str(demo.demo_dir / "logs" / "popgated.log"), b"")
    assert b"request" in gateway_log and len(receipts) > 0, "nothing to search: the demo wrote no log or receipt"

    hits = [f"{name} in {source}" for name, value in secret_values.items()
            for source, data in sources.items() if value.encode() in data]
    registry_bytes = b"".join(path.read_bytes() for path in registry)
    hits += [f"{name} in the registry" for name, value in secret_values.items()
             if name != "client PresharedKey" and value.encode() in registry_bytes]
    assert hits == [], hits
