"""Receipts end to end, in the demo topology: every answered request gets a content-free, signed receipt.

* a chat's `X-Receipt-Id` leads to its receipt, with an inclusion proof and the checkpoint it leads to, which
  `popaudit check-receipt` verifies offline; refused and streamed requests get receipts too;
* `popctl receipts export` copies the live log and `popaudit verify` checks all of it; a flipped byte in an
  entry, a tile or a checkpoint, and a removed entry, are each found and named;
* `popaudit consistency` checks a newer checkpoint extends one the client kept;
* no prompt reaches any file under the receipt log or the logs (a canary);
* popgated killed with SIGKILL while requests stream in: after a restart the log verifies, and every receipt id
  a client got a whole answer with is in it;
* when receipts cannot be written (a full disk), new requests get 503, and are served again once they can.

The crash and disk-full tests use a second popgated with its own receipt log (`SecondGateway`), reached through
`TunnelSteering`; the demo's own gateway is never stopped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from harness.demo import Demo
from harness.gateways import SecondGateway, free_port, second_gateway_config, small_receipt_disk
from harness.http import bearer, chat, http_request, stream_chat
from harness.processes import describe, ns_cmd, run, wait_for
from harness.steering import TunnelSteering

MESSAGES = [{"role": "user", "content": "Say something."}]
CHECKPOINT_WAIT = 10  # s; checkpoints are signed every second


def receipts_dir(demo: Demo) -> Path:
    return demo.demo_dir / "state" / "receipts"


def verifier_key(demo: Demo) -> str:
    return demo.popctl_ok("receipts", "key").stdout.strip()


def popaudit(demo: Demo, *args: str) -> subprocess.CompletedProcess[str]:
    return run([str(demo.bin / "popaudit"), *args], timeout=60)


def get(demo: Demo, path: str, *, key: str | None = None, timeout: float = 10) -> Any:
    response = http_request(demo.client_ns, "GET", demo.api_url + path, headers=bearer(key or demo.api_key),
                            timeout=timeout)
    assert response.status == 200, str(response)
    return response.json()


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="popgate-receipts-test."))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_a_chat_gets_a_receipt_the_client_verifies_offline(demo: Demo, workdir: Path) -> None:
    response = chat(demo.client_ns, demo, MESSAGES, max_tokens=5)
    assert response.status == 200, str(response)
    receipt_id = response.header("X-Receipt-Id")
    assert receipt_id and receipt_id.startswith("rcpt_"), str(response)
    # The same 128 random bits name the request and its receipt.
    assert response.header("X-Request-Id") == "req_" + receipt_id[5:]

    answer = get(demo, f"/v1/receipts/{receipt_id}")
    receipt = answer["receipt"]
    assert answer["object"] == "receipt" and answer["id"] == receipt_id
    assert receipt["tenant"] == demo.tenant and receipt["model"] == demo.model and receipt["status"] == 200
    assert receipt["usage"] == {**{key: response.json()["usage"][key] for key in ("prompt_tokens", "completion_tokens")},
                                "source": "reported"}
    assert receipt["backend"] and receipt["tier"] in ("slow", "medium", "fast", "ludicrous")
    assert answer["tree_size"] > answer["leaf_index"]

    held = workdir / "receipt.json"
    held.write_text(json.dumps(answer))
    checked = popaudit(demo, "check-receipt", str(held), "--key", verifier_key(demo))
    assert checked.returncode == 0 and receipt_id in checked.stdout, describe(checked)

    # The readable part is not what is signed: a client who trusts an edited one is told.
    edited = dict(answer, receipt=dict(receipt, usage={"prompt_tokens": 1, "completion_tokens": 1}))
    held.write_text(json.dumps(edited))
    refused = popaudit(demo, "check-receipt", str(held), "--key", verifier_key(demo))
    assert refused.returncode == 1 and "differs from the signed entry" in refused.stdout, describe(refused)
    # Nor does a proof for another entry verify.
    forged = dict(answer, leaf_index=answer["leaf_index"] + 1 if answer["leaf_index"] == 0 else answer["leaf_index"] - 1)
    held.write_text(json.dumps(forged))
    refused = popaudit(demo, "check-receipt", str(held), "--key", verifier_key(demo))
    assert refused.returncode == 1 and "inclusion proof" in refused.stdout, describe(refused)


def test_refused_and_streamed_requests_get_receipts_too(demo: Demo) -> None:
    missing = http_request(demo.client_ns, "GET", demo.api_url + "/v1/nowhere", headers=bearer(demo.api_key))
    assert missing.status == 404
    first = get(demo, f"/v1/receipts/{missing.header('X-Receipt-Id')}")
    assert first["receipt"]["status"] == 404

    unknown_model = http_request(demo.client_ns, "POST", demo.api_url + "/v1/chat/completions",
                                 headers=bearer(demo.api_key), json_body={"model": "no-such-model", "messages": MESSAGES})
    assert unknown_model.status == 404
    receipt = get(demo, f"/v1/receipts/{unknown_model.header('X-Receipt-Id')}")["receipt"]
    # An unknown model's name is the client's own text: it stays out of the receipt.
    assert (receipt["status"], receipt["model"], receipt["backend"], receipt["usage"]) == (404, "", "", None)

    stream = stream_chat(demo.client_ns, demo.api_url, demo.api_key,
                         {"model": demo.model, "messages": MESSAGES, "max_tokens": 4, "stream": True,
                          "stream_options": {"include_usage": True}})
    assert stream.status == 200
    usage = json.loads(next(data for _, data in reversed(stream.events) if data != "[DONE]"))["usage"]
    receipt = get(demo, f"/v1/receipts/{stream.header('X-Receipt-Id')}")["receipt"]
    assert receipt["usage"] == {"prompt_tokens": usage["prompt_tokens"], "completion_tokens": 4, "source": "reported"}

    # Reads of the log itself get none: polling for a receipt must not grow the log.
    listing = http_request(demo.client_ns, "GET", demo.api_url + "/v1/receipts/checkpoint", headers=bearer(demo.api_key))
    assert listing.status == 200 and listing.header("X-Receipt-Id") is None

    # The tenant's list holds them, in log order (listed from the first of them: the session's other tests may
    # have put thousands before it).
    listed = get(demo, f"/v1/receipts?from_index={first['leaf_index']}&limit=1000")
    ids = [item["id"] for item in listed["data"]]
    assert missing.header("X-Receipt-Id") in ids and stream.header("X-Receipt-Id") in ids
    assert [item["leaf_index"] for item in listed["data"]] == sorted(item["leaf_index"] for item in listed["data"])

    bad = http_request(demo.client_ns, "GET", demo.api_url + "/v1/receipts/rcpt_nothex", headers=bearer(demo.api_key))
    assert bad.status == 400 and bad.json()["error"]["code"] == "invalid_receipt_id"
    unknown = http_request(demo.client_ns, "GET", demo.api_url + "/v1/receipts/rcpt_" + "0" * 32,
                           headers=bearer(demo.api_key))
    assert unknown.status == 404 and unknown.json()["error"]["code"] == "receipt_not_found"


def _exported(demo: Demo, workdir: Path, name: str) -> Path:
    target = workdir / name
    result = demo.popctl_ok("receipts", "export", str(target))
    assert "popaudit verify" in result.stdout
    return target


def _verify(demo: Demo, directory: Path) -> tuple[int, dict[str, Any]]:
    result = popaudit(demo, "verify", str(directory), "--key", verifier_key(demo), "--json")
    assert result.returncode in (0, 1), describe(result)
    return result.returncode, json.loads(result.stdout)


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_the_exported_log_verifies_and_tampering_is_named(demo: Demo, workdir: Path) -> None:
    for _ in range(3):
        assert chat(demo.client_ns, demo, MESSAGES, max_tokens=2).status == 200
    original = _exported(demo, workdir, "log")
    status, report = _verify(demo, original)
    assert status == 0 and report["valid"] and report["problem"] is None, report
    assert report["entries"] >= report["tree_size"] >= 3 and report["checkpoints"] >= 1

    def copy(name: str) -> Path:
        target = workdir / name
        shutil.copytree(original, target)
        return target

    def bundle(log: Path) -> Path:
        # The bundle holding the first entry: full, or the widest partial one.
        full = log / "tile" / "entries" / "000"
        if full.exists():
            return full
        return max((log / "tile" / "entries" / "000.p").iterdir(), key=lambda p: int(p.name))

    # A flipped byte in an entry (inside the first receipt's id).
    log = copy("entry")
    _flip(bundle(log), 5)
    status, report = _verify(demo, log)
    assert status == 1 and "tile/entries/000" in report["problem"], report

    # A flipped byte in a hash tile.
    log = copy("tile")
    tile = next(p for p in sorted((log / "tile" / "0").rglob("*")) if p.is_file())
    _flip(tile, 0)
    status, report = _verify(demo, log)
    assert status == 1 and "tile/0/" in report["problem"] and "does not match the entries" in report["problem"], report

    # A flipped byte in a checkpoint (its root hash, in checkpoints.log).
    log = copy("checkpoint")
    text = (log / "checkpoints.log").read_text()
    first_root_at = len(text.split("\n")[0]) + len(text.split("\n")[1]) + 2
    _flip(log / "checkpoints.log", first_root_at + 3)
    status, report = _verify(demo, log)
    assert status == 1 and "checkpoint 1 in checkpoints.log" in report["problem"], report

    # A removed entry: the last one, cut from its bundle.
    log = copy("removed")
    last = bundle(log)
    data = last.read_bytes()
    cut = len(data)
    offset = 0
    while offset < len(data):  # find the start of the last entry (u16 length prefixes)
        cut = offset
        offset += 2 + int.from_bytes(data[offset:offset + 2], "big")
    last.write_bytes(data[:cut])
    status, report = _verify(demo, log)
    assert status == 1 and str(last.relative_to(log)) in report["problem"], report


def test_a_newer_checkpoint_extends_the_one_a_client_kept(demo: Demo, workdir: Path) -> None:
    old = get(demo, "/v1/receipts/checkpoint")
    assert chat(demo.client_ns, demo, MESSAGES, max_tokens=2).status == 200
    assert wait_for(lambda: get(demo, "/v1/receipts/checkpoint")["tree_size"] > old["tree_size"],
                    timeout=CHECKPOINT_WAIT, interval=0.2)
    proof = get(demo, f"/v1/receipts/consistency?from={old['tree_size']}")
    assert proof["from"] == old["tree_size"] and proof["to"] > old["tree_size"] and proof["checkpoint"]
    (workdir / "old.json").write_text(json.dumps(old))
    (workdir / "new.json").write_text(json.dumps(proof))
    result = popaudit(demo, "consistency", str(workdir / "old.json"), str(workdir / "new.json"), "--key",
                      verifier_key(demo))
    assert result.returncode == 0 and "extends" in result.stdout, describe(result)
    # The same check against the exported log, and a tampered old checkpoint refused.
    log = _exported(demo, workdir, "log")
    result = popaudit(demo, "consistency", str(workdir / "old.json"), str(log / "checkpoint"), "--log", str(log),
                      "--key", verifier_key(demo))
    assert result.returncode == 0, describe(result)
    size = old["tree_size"]
    altered = old["checkpoint"].replace(f"\n{size}\n", f"\n{size + 1}\n", 1)
    assert altered != old["checkpoint"]
    (workdir / "old.json").write_text(json.dumps(dict(old, checkpoint=altered)))
    result = popaudit(demo, "consistency", str(workdir / "old.json"), str(workdir / "new.json"), "--key",
                      verifier_key(demo))
    assert result.returncode == 1 and "does not verify" in result.stdout, describe(result)
    # Usage errors exit 2.
    result = popaudit(demo, "verify", str(workdir / "nowhere"), "--key", verifier_key(demo))
    assert result.returncode == 2, describe(result)
    result = popaudit(demo, "verify", str(log), "--key", "not-a-key")
    assert result.returncode == 2 and "verifier key" in result.stderr, describe(result)


def _gauge(text: str, name: str) -> float:
    return float(next(line.split()[1] for line in text.splitlines() if line.startswith(name + " ")))


def test_the_operator_sees_the_log_in_the_metrics(demo: Demo) -> None:
    assert chat(demo.client_ns, demo, MESSAGES, max_tokens=1).status == 200
    signed = get(demo, "/v1/receipts/checkpoint")["tree_size"]
    metrics = http_request(demo.env["OPS_NS"], "GET", demo.env["METRICS_URL"], timeout=5).body.decode()
    assert _gauge(metrics, "popgate_receipts_available") == 1
    assert _gauge(metrics, "popgate_receipts_written") >= _gauge(metrics, "popgate_receipts_checkpoint_size") >= signed


def test_no_prompt_reaches_the_receipts_or_the_logs(demo: Demo) -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    messages = [{"role": "user", "content": f"Remember {canary}."}]
    ids = []
    for stream in (False, True):
        response = chat(demo.client_ns, demo, messages, max_tokens=3, stream=stream)
        assert response.status == 200
        ids.append(response.header("X-Receipt-Id"))
    for receipt_id in ids:
        get(demo, f"/v1/receipts/{receipt_id}")  # in a checkpoint: everything about it is on disk now
    found = []
    for root in (receipts_dir(demo), demo.demo_dir / "logs"):
        for path in root.rglob("*"):
            if path.is_file() and not path.is_fifo() and canary.encode() in path.read_bytes():
                found.append(str(path))
    assert found == [], f"the canary prompt was written to {found}"


# ---------------------------------------------------------------------------------------------------------------
# A second popgated, with its own receipt log

_CLIENT_LOOP = r"""
import http.client, json, sys, threading, time
a = json.loads(sys.argv[1])
body = json.dumps({"model": a["model"], "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2})
lock = threading.Lock()
def worker():
    while time.monotonic() < a["until"]:
        try:
            conn = http.client.HTTPConnection(a["host"], a["port"], timeout=5)
            conn.request("POST", "/v1/chat/completions", body=body,
                         headers={"Authorization": "Bearer " + a["key"], "Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()  # raises when the answer is cut short: only whole answers count
            conn.close()
            if response.status == 200:
                with lock, open(a["out"], "a") as out:
                    out.write(response.getheader("X-Receipt-Id") + "\n")
        except Exception:
            time.sleep(0.05)  # popgated is down: try again shortly (not synchronisation)
threads = [threading.Thread(target=worker) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
"""


def _lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def test_a_killed_gateway_loses_no_receipt_a_client_was_given(demo: Demo, workdir: Path) -> None:
    host = demo.api_url.split("//")[1].split(":")[0]
    port = free_port(demo.pop_ns, host)
    config = second_gateway_config(Path(demo.config).read_text(), port)
    received = workdir / "received"
    # A network namespace shares the kernel's monotonic clock: the loop stops by itself within a minute.
    args = {"host": host, "port": port, "key": demo.api_key, "model": demo.model, "out": str(received),
            "until": time.monotonic() + 60}
    with TunnelSteering(demo, port):
        with SecondGateway(demo, "crash", config, port) as first:
            client = subprocess.Popen(ns_cmd(demo.client_ns, ["python3", "-c", _CLIENT_LOOP, json.dumps(args)]),
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:
                assert wait_for(lambda: len(_lines(received)) >= 30, timeout=30), first.log()[-2000:]
                first.process.kill()
                first.process.wait(timeout=10)
                before = len(_lines(received))
                with SecondGateway(demo, "crash", config, port) as second:
                    assert wait_for(lambda: len(_lines(received)) >= before + 30, timeout=30), second.log()[-2000:]
                    client.kill()
                    client.wait(timeout=10)
                    ids = set(_lines(received))
                    # One more request, whose receipt is fetched once a checkpoint covers it: that checkpoint
                    # covers every receipt appended before, so the list below is complete.
                    gateway_url = f"http://{host}:{port}"
                    last = http_request(demo.client_ns, "POST", gateway_url + "/v1/chat/completions",
                                        headers=bearer(demo.api_key),
                                        json_body={"model": demo.model, "messages": MESSAGES, "max_tokens": 1})
                    assert last.status == 200, str(last)
                    covered = http_request(demo.client_ns, "GET", f"{gateway_url}/v1/receipts/{last.header('X-Receipt-Id')}",
                                           headers=bearer(demo.api_key))
                    assert covered.status == 200, str(covered)
                    listed: set[str] = set()
                    next_index: int | None = 0
                    while next_index is not None:
                        page = http_request(demo.client_ns, "GET",
                                            f"http://{host}:{port}/v1/receipts?limit=1000&from_index={next_index}",
                                            headers=bearer(demo.api_key)).json()
                        listed |= {item["id"] for item in page["data"]}
                        next_index = page["next_from_index"]
                    key = run([str(demo.bin / "popctl"), "receipts", "key", "--config", str(second.config_path)],
                              timeout=30).stdout.strip()
                assert ids <= listed, f"{len(ids - listed)} receipt ids clients got are not in the log"
                log = demo.demo_dir / "crash" / "receipts"
                result = popaudit(demo, "verify", str(log), "--key", key)
                assert result.returncode == 0, describe(result)
            finally:
                if client.poll() is None:
                    client.kill()
                    client.wait(timeout=10)


def test_a_full_disk_gets_503_until_receipts_can_be_written_again(demo: Demo, workdir: Path) -> None:
    host = demo.api_url.split("//")[1].split(":")[0]
    port = free_port(demo.pop_ns, host)
    config = second_gateway_config(Path(demo.config).read_text(), port)
    url = f"http://{host}:{port}/v1/chat/completions"
    body = {"model": demo.model, "messages": MESSAGES, "max_tokens": 2}

    def post() -> int | None:
        try:
            return http_request(demo.client_ns, "POST", url, headers=bearer(demo.api_key), json_body=body).status
        except Exception:
            return None  # cut short: its receipt could not be written

    with small_receipt_disk(demo, "full") as log:
        with TunnelSteering(demo, port), SecondGateway(demo, "full", config, port) as gateway:
            assert post() == 200
            filler = log / "filler"
            subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True, timeout=30)
            # Receipts go to the journal first, which may still have room in its last page; the tiles written
            # with the next checkpoint (within a second) do not fit, and from then on requests are refused.
            assert wait_for(lambda: post() == 503, timeout=10, interval=0.2), gateway.log()[-2000:]
            refused = http_request(demo.client_ns, "POST", url, headers=bearer(demo.api_key), json_body=body)
            assert refused.status == 503 and refused.json()["error"]["code"] == "receipts_unavailable", str(refused)
            assert "receipts cannot be written" in gateway.log()
            filler.unlink()
            assert wait_for(lambda: post() == 200, timeout=10, interval=0.3), gateway.log()[-2000:]
