"""Isolation and revocation, re-checked while the PoP is busy.

Five peers of two tenants (the demo's laptop and two more of acme; two of a tenant made here) each keep streams
open and repeat requests. Meanwhile: another tenant's key, receipts and cache salt stay out of reach, a peer
cannot reach another peer's tunnel address, and revoking a key or a peer ends exactly its open streams within
100 ms of `popctl` returning, as the client sees it. Every other stream goes on to its end.

A revoked key's streams end with an error event naming the revocation, their chunked answer's proper end, and the
gateway's FIN. A revoked peer's streams simply stop: popnetd removes the peer from WireGuard first, on purpose (a
removed peer's tunnel is gone before its connections are ended), so the gateway's own goodbye, which it still
sends, and its FIN find no tunnel to the client; the gateway's side of it shows in its log ("peer revoked", not a
client that went away) and in each request's receipt (401, not 499).

The load runs as one process per client namespace (threads inside), so each request really comes from that
peer's tunnel address; CLOCK_MONOTONIC is shared by every namespace, so the times compare with the test's own.
POPGATE_SOAK=1 (`make soak`) runs the same test with more streams and a longer hold.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest

from harness.demo import Demo, status_document
from harness.http import bearer, http_request
from harness.namespaces import ClientNamespace
from harness.probes import probe_silence
from harness.processes import clean_env, describe, ns_cmd, ns_run, wait_for
from harness.simulator import sim_text

# Long form with POPGATE_SOAK=1: `make soak` selects this module by its marker.
pytestmark = pytest.mark.soak

# The sizes, in one place: the short form runs in `make test`, the long one in `make soak`.
SOAK = os.environ.get("POPGATE_SOAK") == "1"
# Within the demo's max_streams_per_peer (6), with a slot to spare for the checks made from the same peer.
STREAMS_PER_PEER = 4 if SOAK else 3
# How long the load goes on after the revocations while the other peers' streams keep completing.
HOLD_SECONDS = 60.0 if SOAK else 2.0
# The other streams' length: 3 s at the demo's 50 tokens/s, so several complete around the revocations.
SHORT_STREAM_TOKENS = 150
# The streams to be revoked outlast the whole test (60 s): they can only end by the revocation.
LONG_STREAM_TOKENS = 3000

REVOCATION_DEADLINE = 0.1  # seconds from popctl's return to the client seeing its connection end
READY_TIMEOUT = 20.0  # every stream has its first event; a debug build under load is slow to start
# A revoked stream not ended by then is reported as not ended at all (and fails the deadline).
CLIENT_READ_TIMEOUT = 5.0
# A stream with no event for this long has stopped (the demo's worker sends one every 20 ms).
STOPPED_STREAM_TIMEOUT = 1.0
MESSAGES = [{"role": "user", "content": "hello"}]
SIMULATORS = ("sim-big", "sim-a", "sim-b", "sim-c")

# ------------------------------------------------------------------------------------------------------------
# The load: one process per client namespace, one thread per job, results as one JSON document on exit.

_LOAD_SCRIPT = r"""
import http.client, json, os, socket, sys, threading, time
a = json.loads(sys.argv[1])
results, lock, begun = [], threading.Lock(), set()

def now():
    return time.monotonic()

def note_begun(name):
    with lock:
        begun.add(name)
        if len(begun) == len(a["jobs"]):
            open(a["ready"], "w").close()  # tells the test every job has its request in flight

def stopping():
    return os.path.exists(a["stop"]) or now() > a["deadline"]

def connection_end(conn):
    # After a revocation the gateway closes the connection: its FIN, seen by the client, is the end.
    if conn.sock is None:
        return now(), "closed by the client library"
    conn.sock.settimeout(a["read_timeout"])
    try:
        return (now(), "fin") if conn.sock.recv(1) == b"" else (None, "more bytes after the end")
    except socket.timeout:
        return None, "no FIN within the read timeout"
    except OSError as e:
        return now(), "%s" % type(e).__name__

def one_stream(job):
    entry = {"job": job["name"], "kind": "stream", "sent": now()}
    conn = http.client.HTTPConnection(a["host"], a["port"], timeout=job["timeout"])
    body = {"model": a["model"], "messages": [{"role": "user", "content": "hello"}], "max_tokens": job["tokens"],
            "stream": True}
    try:
        conn.request("POST", "/v1/chat/completions", body=json.dumps(body),
                     headers={"Content-Type": "application/json", "Authorization": "Bearer " + job["key"]})
        resp = conn.getresponse()
        entry.update(status=resp.status, receipt=resp.getheader("X-Receipt-Id"))
        if resp.status != 200:
            entry.update(error=json.loads(resp.read() or b"{}").get("error", {}).get("code"), ended=now())
            return entry
        buffer, text, events = b"", [], 0
        while True:
            piece = resp.read1(65536)
            if not piece:
                break
            buffer += piece.replace(b"\r\n", b"\n")
            while b"\n\n" in buffer:
                raw, buffer = buffer.split(b"\n\n", 1)
                data = b"\n".join(l[5:].lstrip(b" ") for l in raw.split(b"\n") if l.startswith(b"data:"))
                if not data:
                    continue
                events += 1
                entry["last_event"] = now()
                if events == 1:
                    entry["first_event"] = now()
                    note_begun(job["name"])
                if data == b"[DONE]":
                    entry["done"] = True
                    continue
                event = json.loads(data)
                if "error" in event:
                    entry.update(error=event["error"].get("code"), error_at=now())
                    continue
                for choice in event.get("choices", []):
                    text.append(choice.get("delta", {}).get("content") or "")
        # read1 returned b"": the chunked answer had its proper last chunk (a cut raises IncompleteRead).
        entry.update(ended=now(), proper_end=True, text="".join(text), events=events)
        if entry.get("error"):
            entry["closed"], entry["close"] = connection_end(conn)
    except Exception as e:
        entry.update(failure="%s: %s" % (type(e).__name__, e), ended=now())
    finally:
        conn.close()
    return entry

def one_request(job):
    entry = {"job": job["name"], "kind": "request", "sent": now()}
    conn = http.client.HTTPConnection(a["host"], a["port"], timeout=job["timeout"])
    body = {"model": a["model"], "messages": [{"role": "user", "content": "hello"}], "max_tokens": job["tokens"]}
    try:
        conn.request("POST", "/v1/chat/completions", body=json.dumps(body),
                     headers={"Content-Type": "application/json", "Authorization": "Bearer " + job["key"]})
        if job.get("once"):
            note_begun(job["name"])  # in flight: the worker answers only when all its tokens are made
        resp = conn.getresponse()
        data = resp.read()
        entry.update(status=resp.status, receipt=resp.getheader("X-Receipt-Id"), ended=now())
        if resp.status != 200:
            entry["error"] = json.loads(data or b"{}").get("error", {}).get("code")
            if resp.getheader("Connection", "").lower() == "close" or conn.sock is None:
                entry["closed"], entry["close"] = entry["ended"], "Connection: close"
            else:
                entry["closed"], entry["close"] = connection_end(conn)
        else:
            entry["text"] = json.loads(data)["choices"][0]["message"]["content"]
    except Exception as e:
        entry.update(failure="%s: %s" % (type(e).__name__, e), ended=now())
    finally:
        conn.close()
    return entry

def run(job):
    if job["kind"] == "request" and not job.get("once"):
        note_begun(job["name"])
    try:
        while True:
            entry = (one_stream if job["kind"] == "stream" else one_request)(job)
            with lock:
                results.append(entry)
            # A job ends with the load, when it was meant to run once, or when its request did not succeed.
            if job.get("once") or stopping() or entry.get("status") != 200 or "failure" in entry or entry.get("error"):
                return
    finally:
        open(a["ended"] % job["name"], "w").close()  # tells the test this job is over

threads = [threading.Thread(target=run, args=(job,)) for job in a["jobs"]]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps(results))
"""


@dataclass
class Job:
    """One thread of a load process: a stream (or a non-streaming request) on `key`, repeated until the load stops
    unless `once`."""

    name: str
    key: str
    kind: str = "stream"
    tokens: int = SHORT_STREAM_TOKENS
    once: bool = False
    timeout: float = CLIENT_READ_TIMEOUT  # for a reply's every read; the whole answer of a plain request


@dataclass
class Load:
    """A load process in client namespace `ns`: `start` it, touch `stop_file`, then `finish` reads what each
    request did (`kill` on cleanup, should it still run)."""

    ns: str
    demo: Demo
    jobs: list[Job]
    workdir: Path
    process: subprocess.Popen[str] | None = None
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ready_file(self) -> Path:
        return self.workdir / f"{self.ns}.ready"

    @property
    def stop_file(self) -> Path:
        """One for every load: touching it ends the repeating jobs after their current request."""
        return self.workdir / "stop"

    def ended(self, job: str) -> bool:
        return (self.workdir / f"{self.ns}.{job}.ended").exists()

    def start(self) -> None:
        host, port = self.demo.api_url.removeprefix("http://").rsplit(":", 1)
        args = {"host": host, "port": int(port), "model": self.demo.model, "ready": str(self.ready_file),
                "stop": str(self.stop_file),
                "ended": str(self.workdir / f"{self.ns}.%s.ended"), "read_timeout": CLIENT_READ_TIMEOUT,
                "deadline": time.monotonic() + HOLD_SECONDS + 90,
                "jobs": [vars(job) for job in self.jobs]}
        self.process = subprocess.Popen(ns_cmd(self.ns, [sys.executable, "-c", _LOAD_SCRIPT, json.dumps(args)]),
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env())

    def ready(self) -> bool:
        return self.ready_file.exists()

    def finish(self, timeout: float) -> list[dict[str, Any]]:
        """Waits for the process to end (the stop file must exist) and returns what each request did."""
        assert self.process is not None
        out, err = self.process.communicate(timeout=timeout)
        assert self.process.returncode == 0, f"load in {self.ns} failed:\n{err[-3000:]}"
        self.results = json.loads(out.strip().splitlines()[-1])
        return self.results

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # ours, by its PID: the `ip netns exec` that became the Python process
            self.process.communicate(timeout=10)


# ------------------------------------------------------------------------------------------------------------
# Provisioning, undone whatever happens


@dataclass
class World:
    """What the test provisioned: a second tenant, peers with client namespaces, and keys (each key's id kept
    for `popctl key revoke`)."""

    demo: Demo
    tenant_b: str
    keys: dict[str, str] = field(default_factory=dict)
    peers: dict[str, str] = field(default_factory=dict)  # label -> registry name
    clients: dict[str, ClientNamespace] = field(default_factory=dict)
    addresses: dict[str, str] = field(default_factory=dict)

    def key_id(self, label: str) -> str:
        return self.keys[label].split("_")[1]


PEERS = {  # label: (tenant, uplink host, interface): hosts and names apart from the other tests'
    "a1": ("acme", 210, "pgia1"), "a2": ("acme", 211, "pgia2"), "b1": ("b", 212, "pgib1"), "b2": ("b", 213, "pgib2"),
}


@pytest.fixture
def world(demo: Demo, tmp_path: Path) -> Iterator[World]:
    suffix = secrets.token_hex(3)  # a removed tenant's name stays taken, and revoked peers keep theirs
    world = World(demo, tenant_b=f"isob-{suffix}")
    with ExitStack() as cleanup:
        demo.popctl_ok("tenant", "add", world.tenant_b)
        cleanup.callback(demo.popctl, "tenant", "remove", world.tenant_b, "--force")  # its peers and keys with it
        for label in ("a-revoked", "a-kept"):
            created = demo.popctl_ok("key", "create", "--tenant", demo.tenant, "--tier", "fast")
            world.keys[label] = created.stdout.strip()
            cleanup.callback(demo.popctl, "key", "revoke", world.key_id(label))
        world.keys["b"] = demo.popctl_ok("key", "create", "--tenant", world.tenant_b, "--tier", "fast").stdout.strip()
        for label, (tenant, host, interface) in PEERS.items():
            name = world.peers[label] = f"iso-{label}-{suffix}"
            conf = tmp_path / f"{interface}.conf"
            demo.popctl_ok("peer", "add", "--tenant", demo.tenant if tenant == "acme" else world.tenant_b,
                           "--name", name, "--output", str(conf))
            if tenant == "acme":
                cleanup.callback(demo.popctl, "peer", "revoke", name)
            world.clients[label] = cleanup.enter_context(ClientNamespace(demo, f"pg-iso-{label}", host, conf))
        for client in world.clients.values():
            client.tunnel_up()
        world.addresses = {label: peer["address"] for peer in demo.live_peers()
                           for label, name in world.peers.items() if peer["name"] == name}
        yield world


# ------------------------------------------------------------------------------------------------------------
# Checks


def _sim_logs(demo: Demo) -> dict[str, int]:
    return {sim: (demo.demo_dir / "logs" / f"popgate-inference-sim@{sim}.log").stat().st_size for sim in SIMULATORS}


def _salts_since(demo: Demo, offsets: dict[str, int]) -> list[str]:
    salts = []
    for sim, offset in offsets.items():
        with open(demo.demo_dir / "logs" / f"popgate-inference-sim@{sim}.log", "rb") as log:
            log.seek(offset)
            salts += re.findall(r"cache_salt=([0-9a-f]+)", log.read().decode(errors="replace"))
    return salts


def _salt_of_one_request(demo: Demo, ns: str, key: str) -> str:
    """The salt the workers got with one request from `ns` (made while nothing else runs)."""
    offsets = _sim_logs(demo)
    response = http_request(ns, "POST", demo.api_url + "/v1/chat/completions", headers=bearer(key),
                            json_body={"model": demo.model, "messages": MESSAGES, "max_tokens": 2})
    assert response.status == 200, str(response)
    assert wait_for(lambda: len(_salts_since(demo, offsets)) == 1, timeout=2, interval=0.02), \
        _salts_since(demo, offsets)
    return _salts_since(demo, offsets)[0]


def _receipt(demo: Demo, ns: str, key: str, receipt_id: str):
    return http_request(ns, "GET", demo.api_url + f"/v1/receipts/{receipt_id}", headers=bearer(key), timeout=15)


def _ended_within(entries: list[dict[str, Any]], since: float) -> list[float]:
    """Seconds from `since` until each revoked request's connection ended as its client saw it (inf: never)."""
    return [entry["closed"] - since if entry.get("closed") is not None else float("inf") for entry in entries]


def _stopped(entry: dict[str, Any]) -> float:
    """When a revoked peer's stream ended for its client: the gateway's FIN if it arrived, else the last event (the
    tunnel was gone; the read that follows only times out)."""
    return entry["closed"] if entry.get("closed") is not None else entry["last_event"]


def _figures(latencies: list[float]) -> str:
    return (f"median {statistics.median(latencies) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms "
            f"over {len(latencies)}")


def _assert_completed(entries: list[dict[str, Any]], what: str) -> None:
    assert entries, f"{what}: no request made"
    for entry in entries:
        assert entry.get("status") == 200 and "failure" not in entry and not entry.get("error"), (what, entry)
        if entry["kind"] == "stream":
            assert entry.get("done") and entry["text"] == sim_text(SHORT_STREAM_TOKENS), (what, entry)


def test_revocations_end_exactly_their_streams_and_tenants_stay_apart_under_load(world: World, tmp_path: Path) -> None:
    demo = world.demo
    laptop = demo.client_ns
    ns = {label: client.ns for label, client in world.clients.items()}

    # The salts each tenant's requests carry, learnt while the PoP is quiet.
    salt_a = _salt_of_one_request(demo, laptop, world.keys["a-kept"])
    salt_b = _salt_of_one_request(demo, ns["b2"], world.keys["b"])
    assert salt_a != salt_b, "two tenants share a cache salt"

    revoked_key = world.keys["a-revoked"]
    loads = {
        # Its tunnel goes with the revocation, so its streams end in silence: a short read timeout ends the jobs.
        "a1": Load(ns["a1"], demo, [Job(f"a1-stream{i}", world.keys["a-kept"], tokens=LONG_STREAM_TOKENS, once=True,
                                        timeout=STOPPED_STREAM_TIMEOUT) for i in range(STREAMS_PER_PEER)], tmp_path),
        "a2": Load(ns["a2"], demo, [
            *(Job(f"a2-revoked{i}", revoked_key, tokens=LONG_STREAM_TOKENS, once=True) for i in range(2)),
            Job("a2-revoked-plain", revoked_key, kind="request", tokens=LONG_STREAM_TOKENS, once=True,
                timeout=LONG_STREAM_TOKENS / 50),
            *(Job(f"a2-kept{i}", world.keys["a-kept"]) for i in range(2)),
        ], tmp_path),
        "b1": Load(ns["b1"], demo, [*(Job(f"b1-stream{i}", world.keys["b"]) for i in range(STREAMS_PER_PEER)),
                                    Job("b1-repeat", world.keys["b"], kind="request", tokens=2)], tmp_path),
        "b2": Load(ns["b2"], demo, [Job(f"b2-stream{i}", world.keys["b"]) for i in range(2)], tmp_path),
        "laptop": Load(laptop, demo, [*(Job(f"laptop-stream{i}", demo.api_key) for i in range(2)),
                                      Job("laptop-repeat", demo.api_key, kind="request", tokens=2)], tmp_path),
    }
    salt_offsets = _sim_logs(demo)
    try:
        for load in loads.values():
            load.start()
        assert wait_for(lambda: all(load.ready() for load in loads.values()), timeout=READY_TIMEOUT, interval=0.05), (
            "not every stream began: " + ", ".join(label for label, load in loads.items() if not load.ready()))

        # (c) Tenants stay apart while everything runs: another tenant's key is refused from either side, and
        # another tenant's receipt is answered as one that does not exist.
        for source, key in ((laptop, world.keys["b"]), (ns["b2"], world.keys["a-kept"])):
            refused = http_request(source, "POST", demo.api_url + "/v1/chat/completions", headers=bearer(key),
                                   json_body={"model": demo.model, "messages": MESSAGES, "max_tokens": 2})
            assert refused.status == 401 and refused.json()["error"]["code"] == "invalid_api_key", str(refused)
        b_request = http_request(ns["b2"], "POST", demo.api_url + "/v1/chat/completions",
                                 headers=bearer(world.keys["b"]),
                                 json_body={"model": demo.model, "messages": MESSAGES, "max_tokens": 2})
        assert b_request.status == 200, str(b_request)
        b_receipt = b_request.header("X-Receipt-Id")
        own = _receipt(demo, ns["b2"], world.keys["b"], b_receipt)
        assert own.status == 200 and own.json()["receipt"]["tenant"] == world.tenant_b, str(own)
        foreign = _receipt(demo, laptop, world.keys["a-kept"], b_receipt)
        unknown = _receipt(demo, laptop, world.keys["a-kept"], "rcpt_" + "0" * 32)
        assert (foreign.status, foreign.json()["error"]["code"]) == (404, "receipt_not_found"), str(foreign)
        assert foreign.json()["error"]["message"].replace(b_receipt, "ID") == \
            unknown.json()["error"]["message"].replace("rcpt_" + "0" * 32, "ID")
        listed = http_request(laptop, "GET", demo.api_url + "/v1/receipts?limit=1000",
                              headers=bearer(world.keys["a-kept"]), timeout=15)
        assert listed.status == 200 and b_receipt not in {item["id"] for item in listed.json()["data"]}

        # (d) Peer to peer: even with its own tunnel widened to the whole pool, b2 reaches neither a peer of the
        # other tenant nor one of its own (every packet of theirs is dropped, not answered).
        pop_key = status_document(demo)["public_key"]
        for step in (["wg", "set", "pgib2", "peer", pop_key, "allowed-ips", "10.77.0.0/24"],
                     ["ip", "route", "replace", "10.77.0.0/24", "dev", "pgib2"]):
            widened = ns_run(ns["b2"], step, timeout=10)
            assert widened.returncode == 0, describe(widened)
        for target in ("a1", "b1"):
            probe = probe_silence(ns["b2"], f"http://{world.addresses[target]}:8080", "", connect_timeout=1,
                                  read_timeout=0.5)
            assert probe["outcome"] == "connect failed: TimeoutError: timed out", (target, probe)

        # (b) The key: its two streams and its plain request end; the same peer's other key goes on.
        demo.popctl_ok("key", "revoke", world.key_id("a-revoked"))
        key_revoked_at = time.monotonic()
        revoked_jobs = [job.name for job in loads["a2"].jobs if job.key == revoked_key]
        assert wait_for(lambda: all(loads["a2"].ended(job) for job in revoked_jobs), timeout=CLIENT_READ_TIMEOUT + 5,
                        interval=0.01)
        # (a) The peer: all its streams end; every other peer's go on.
        gateway_log_offset = (demo.demo_dir / "logs" / "popgated.log").stat().st_size
        demo.popctl_ok("peer", "revoke", world.peers["a1"])
        peer_revoked_at = time.monotonic()
        assert wait_for(lambda: all(loads["a1"].ended(job.name) for job in loads["a1"].jobs),
                        timeout=CLIENT_READ_TIMEOUT + 5, interval=0.01)

        time.sleep(HOLD_SECONDS)  # not a synchronisation: the time the other peers' load runs on after both
        loads["a1"].stop_file.touch()
        for load in loads.values():
            load.finish(timeout=CLIENT_READ_TIMEOUT + SHORT_STREAM_TOKENS / 50 + 30)
    finally:
        for load in loads.values():
            load.kill()

    a2 = loads["a2"]
    key_streams = [e for e in a2.results if e["job"].startswith("a2-revoked")]
    assert len(key_streams) == 3, a2.results
    for entry in key_streams:
        assert entry.get("error") == "api_key_revoked", entry
        if entry["kind"] == "stream":
            assert entry.get("proper_end") and not entry.get("done"), entry
        else:
            assert entry["status"] == 401, entry
    key_latencies = _ended_within(key_streams, key_revoked_at)
    print(f"key revocation: streams ended {_figures(key_latencies)}")

    peer_streams = loads["a1"].results
    assert len(peer_streams) == STREAMS_PER_PEER, peer_streams
    for entry in peer_streams:
        # The gateway's goodbye, when it beats popnetd to the tunnel; otherwise the stream just stops.
        goodbye = entry.get("error") == "peer_revoked" and entry.get("proper_end") and entry.get("close") == "fin"
        assert goodbye or entry.get("failure", "").startswith("TimeoutError"), entry
    peer_latencies = [_stopped(entry) - peer_revoked_at for entry in peer_streams]
    print(f"peer revocation: streams stopped {_figures(peer_latencies)} "
          f"({sum(1 for e in peer_streams if e.get('close') == 'fin')} with the gateway's goodbye and FIN)")
    with open(demo.demo_dir / "logs" / "popgated.log", "rb") as log:
        log.seek(gateway_log_offset)
        gateway_log = log.read().decode(errors="replace")
    address = re.escape(world.addresses["a1"])
    closed_for_revocation = re.findall(rf"peer\.address={address} .*peer revoked; closing", gateway_log)
    assert len(closed_for_revocation) == STREAMS_PER_PEER, gateway_log[-3000:]
    blamed = [line for line in gateway_log.splitlines()
              if "client closed the connection" in line and world.peers["a1"] in line]
    assert not blamed, blamed

    assert max(key_latencies) <= REVOCATION_DEADLINE, f"key revocation: {_figures(key_latencies)}"
    assert max(peer_latencies) <= REVOCATION_DEADLINE, f"peer revocation: {_figures(peer_latencies)}"

    # Every other stream and request completed, some of them after both revocations.
    others = [("a2", "a2-kept"), ("b1", "b1-"), ("b2", "b2-"), ("laptop", "laptop-")]
    for label, prefix in others:
        entries = [e for e in loads[label].results if e["job"].startswith(prefix)]
        _assert_completed(entries, label)
        assert any(e["sent"] > peer_revoked_at for e in entries), f"{label}: nothing sent after the revocations"

    # Each revoked request has its receipt, with the status that ended it (401, not the 499 of a client that left),
    # read with the tenant's other key.
    for entry in key_streams + peer_streams:
        receipt = _receipt(demo, laptop, world.keys["a-kept"], entry["receipt"])
        assert receipt.status == 200 and receipt.json()["receipt"]["status"] == 401, (entry, str(receipt))

    # (c) Under load, the workers saw only the two tenants' salts, and tenant B's exactly once per B request.
    b_requests = sum(1 for label in ("b1", "b2") for e in loads[label].results if e.get("status") == 200) + 1
    assert wait_for(lambda: _salts_since(demo, salt_offsets).count(salt_b) >= b_requests, timeout=2, interval=0.05)
    salts = _salts_since(demo, salt_offsets)
    assert set(salts) == {salt_a, salt_b}, set(salts)
    assert salts.count(salt_b) == b_requests, (salts.count(salt_b), b_requests)
