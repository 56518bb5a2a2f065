"""Faults the PoP must ride out, each while clients keep asking (docs/architecture.md, "Failure modes"):

* a worker that hangs mid-stream (SIGSTOP: its TCP connection stays open, nothing more arrives): the stream ends
  with an OpenAI-style error event after `upstream_idle_timeout_s`, then FIN; the request has a receipt; other
  requests go on; the backend leaves the rotation and comes back after SIGCONT;
* popnetd killed with SIGKILL and started again under traffic: the nftables table is never absent, the tunnels
  are untouched (no new handshake, same peers and endpoints), and every request is answered;
* the demo's popgated killed with SIGKILL under traffic: started again, it serves within seconds and its receipt
  log verifies;
* the registry's PostgreSQL restarted, then stopped and started, under traffic: requests keep being answered,
  both daemons say degraded while it is away, and a key created or a peer revoked after it is back takes effect
  within a second of the daemons' next read (a degraded daemon reads again 2 s after its last failure).

Already tested elsewhere, and not again here: a worker killed mid-stream (test_routing.py), receipts a client was
given surviving a killed gateway and a full receipt disk (test_receipts.py), the ruleset not touched by a restarted
popnetd (test_firewall_popnetd.py), a database outage without traffic (test_multi_pop.py, whose fleet this module
brings up again for itself). How long faults and load last comes from fault_helpers (POPGATE_SOAK=1: longer).
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from fault_helpers import (KILL_ROUNDS, LOAD_SECONDS_AFTER_RESTART, ClientLoop, RecordedDaemon, TableWatch,
                           fresh_client_session, raw_stream, seconds_until_answered, wg_peer_view)
from harness.demo import Demo, status_document
from harness.gateways import SecondGateway, free_port, second_gateway_config, small_receipt_disk
from harness.http import bearer, http_request
from harness.processes import describe, ns_cmd, run, stop_process, wait_for
from harness.steering import TunnelSteering
from harness.wireguard import public_key_of_config
# The two-PoP fleet on PostgreSQL (module-scoped: this module gets a fleet of its own, torn down after it).
from test_multi_pop import (DEGRADED_METRIC, MODEL, POPS, Fleet, connect, device_peers, fleet,  # noqa: F401
                            metric, register, registry_state)
from test_multi_pop import status_document as pop_status_document

# Long form with POPGATE_SOAK=1: `make soak` selects this module by its marker.
pytestmark = pytest.mark.soak

MESSAGES = [{"role": "user", "content": "hello"}]
HUNG_WORKER = "sim-big"  # where the demo key's tier (fast) streams from
UPSTREAM_IDLE_TIMEOUT = 2  # s: the second gateway's upstream_idle_timeout_s (the default, 300 s, is far too long)
HUNG_STREAM_TOKENS = 200  # at the demo's 50 tokens/s: 4 s, so the stop falls mid-stream
BACKEND_STATE_TIMEOUT = 15  # s: unhealthy after 2 failed checks of up to 2 s, 1 s apart; healthy after 2 passes
POPNETD_READY_TIMEOUT = 15
GATEWAY_SERVES_DEADLINE = 10.0  # s from starting popgated again to its first answer (it replays the receipt log)
CHANGE_DEADLINE = 1.0  # s from popctl returning to a registry change taking effect, once the daemons read again
# A daemon that failed to read the registry tries again only after RegistryReplica.retryInterval (2 s), however soon
# the database is back: a change made just after a restart may wait that long on top.
REGISTRY_RETRY_PAUSE = 2.0
CHANGE_OBSERVED = 10.0  # s: how long a late change is waited for, to say how late
OUTAGE_SECONDS = 2.0  # how long the database stays stopped (10 registry polls)


def _gateway_log_since(gateway: SecondGateway | RecordedDaemon, offset: int) -> str:
    return gateway.log()[offset:]


def _backend_line(backend: str, what: str) -> re.Pattern[str]:
    return re.compile(rf"backend={re.escape(backend)} .*{re.escape(what)}")


# ---------------------------------------------------------------------------------------------------------------
# A worker that hangs mid-stream


def test_a_worker_that_hangs_mid_stream_is_cut_off_after_the_idle_timeout_and_taken_out_until_it_resumes(
        demo: Demo, tmp_path: Path) -> None:
    host = demo.api_url.split("//")[1].split(":")[0]
    port = free_port(demo.pop_ns, host)
    config = second_gateway_config(Path(demo.config).read_text(), port,
                                   gateway=[f"upstream_idle_timeout_s = {UPSTREAM_IDLE_TIMEOUT}"])
    worker = RecordedDaemon(demo, f"popgate-inference-sim@{HUNG_WORKER}", demo.compute_ns)
    demo_gateway = RecordedDaemon(demo, "popgated", demo.pop_ns)
    demo_offset = len(demo_gateway.log())
    url = f"http://{host}:{port}"
    body = {"model": demo.model, "messages": MESSAGES, "stream": True, "max_tokens": HUNG_STREAM_TOKENS}
    results: dict[str, Any] = {}

    def in_thread(name: str, job) -> threading.Thread:
        def run_job() -> None:
            try:
                results[name] = job()
            except Exception as error:  # reported as the job's result
                results[name] = error
        thread = threading.Thread(target=run_job)
        thread.start()
        return thread

    def timed(tier: str) -> tuple[float, Any]:
        sent = time.monotonic()
        response = http_request(demo.client_ns, "POST", url + "/v1/chat/completions",
                                headers={**bearer(demo.api_key), "X-Siati-Tier": tier},
                                json_body={"model": demo.model, "messages": MESSAGES, "max_tokens": 2}, timeout=15)
        return time.monotonic() - sent, response

    with TunnelSteering(demo, port), SecondGateway(demo, "hang", config, port) as gateway:
        offset = len(gateway.log())
        begun = tmp_path / "begun"
        stream = in_thread("stream", lambda: raw_stream(demo.client_ns, host, port, body, bearer(demo.api_key),
                                                         timeout=30, mark=begun))
        stopped = False
        try:
            assert wait_for(begun.exists, timeout=10, interval=0.01), "the stream never began"
            worker.signal(signal.SIGSTOP)
            stopped = True
            # Meanwhile: a request for a tier another worker serves, and one for the hung worker's own tier, which
            # waits the idle timeout once (not twice: a silent worker is not retried on a new connection) and is
            # then answered by the next backend.
            others = [in_thread("medium", lambda: timed("medium")), in_thread("fast", lambda: timed("fast"))]
            stream.join(timeout=45)
            for thread in others:
                thread.join(timeout=30)
            assert wait_for(lambda: _backend_line(HUNG_WORKER, "backend unhealthy").search(
                _gateway_log_since(gateway, offset)), timeout=BACKEND_STATE_TIMEOUT), (
                f"{HUNG_WORKER} was not taken out:\n{_gateway_log_since(gateway, offset)[-2000:]}")
            out_after = wait_for(lambda: timed("fast")[1].status == 200, timeout=5)
        finally:
            if stopped:
                worker.signal(signal.SIGCONT)
            stream.join(timeout=45)
        back = wait_for(lambda: _backend_line(HUNG_WORKER, "backend healthy again").search(
            _gateway_log_since(gateway, offset)), timeout=BACKEND_STATE_TIMEOUT)
        streamed = results["stream"]
        assert not isinstance(streamed, Exception), streamed
        receipt_id = streamed["headers"].get("X-Receipt-Id")
        receipt = http_request(demo.client_ns, "GET", f"{url}/v1/receipts/{receipt_id}",
                               headers=bearer(demo.api_key)) if receipt_id else None
        log = _gateway_log_since(gateway, offset)

    # The demo's own gateway saw the same worker stop: it is left with the worker back in its rotation.
    if _backend_line(HUNG_WORKER, "backend unhealthy").search(_gateway_log_since(demo_gateway, demo_offset)):
        assert wait_for(lambda: _backend_line(HUNG_WORKER, "backend healthy again").search(
            _gateway_log_since(demo_gateway, demo_offset)), timeout=BACKEND_STATE_TIMEOUT), "demo gateway"

    assert streamed["status"] == 200, streamed
    events = streamed["events"]
    tokens = [t for t, data in events if '"choices"' in data]
    assert tokens and len(tokens) < HUNG_STREAM_TOKENS, f"{len(tokens)} tokens: the stop did not fall mid-stream"
    cut_at, last = events[-1]
    assert '"error"' in last, (f"the stream did not end with an error event: {len(tokens)} tokens, then "
                               f"{streamed['end']} after {streamed['ended_at']:.1f} s; last event {last[:200]}")
    error = json.loads(last)["error"]
    assert error["code"] == "backend_failed" and error["type"] == "server_error", events[-3:]
    silence = cut_at - tokens[-1]
    assert UPSTREAM_IDLE_TIMEOUT - 0.2 <= silence <= UPSTREAM_IDLE_TIMEOUT + 2, (
        f"the stream was cut {silence:.2f} s after its last token; upstream_idle_timeout_s = {UPSTREAM_IDLE_TIMEOUT}")
    assert streamed["chunked_end"] and streamed["end"] == "eof", (
        f"the connection ended with {streamed['end']} (last chunk sent: {streamed['chunked_end']}), not FIN")
    assert f"the worker sent nothing for {UPSTREAM_IDLE_TIMEOUT} s" in log, log[-2000:]

    assert receipt is not None and receipt.status == 200, f"no receipt for the cut stream: {receipt}"
    recorded = receipt.json()["receipt"]
    assert recorded["status"] == 502 and recorded["backend"] == HUNG_WORKER, recorded

    medium_took, medium = results["medium"]
    assert medium.status == 200 and medium_took < 2, f"another worker's request: {medium} after {medium_took:.2f} s"
    fast_took, fast = results["fast"]
    assert fast.status == 200, str(fast)
    assert fast_took < 2 * UPSTREAM_IDLE_TIMEOUT, f"the hung worker's tier was answered after {fast_took:.2f} s"
    assert out_after, "with the hung worker out, its tier was not served by another"
    assert back, f"{HUNG_WORKER} did not come back after SIGCONT:\n{log[-2000:]}"
    print(f"hung stream cut {silence:.2f} s after its last token ({len(tokens)} tokens), then FIN; "
          f"other worker's request {medium_took:.2f} s; hung worker's tier answered elsewhere after {fast_took:.2f} s")


# ---------------------------------------------------------------------------------------------------------------
# popnetd and popgated killed and started again


def test_popnetd_killed_under_traffic_leaves_the_policy_and_the_tunnels_as_they_were(
        demo: Demo, tmp_path: Path) -> None:
    popnetd = RecordedDaemon(demo, "popnetd", demo.pop_ns)
    client_key = public_key_of_config(Path(demo.env["CLIENT_CONFIG"]))
    # No scheduled rekey inside the test: any new handshake would be the restart's.
    fresh_client_session(demo, client_key)
    before = wg_peer_view(demo)
    assert before["handshakes"].get(client_key), f"the demo's client has no handshake on wg-edge: {before}"
    restarts: list[float] = []
    with ClientLoop(demo, demo.client_ns, tmp_path / "requests") as client:
        assert wait_for(lambda: client.answered() >= 5, timeout=10), client.results()[-5:]
        with TableWatch(demo) as watch:
            for _ in range(KILL_ROUNDS):
                command = popnetd.argv()
                offset = len(popnetd.log())
                popnetd.signal(signal.SIGKILL)
                assert wait_for(popnetd.gone, timeout=5), "popnetd outlived SIGKILL"
                started = time.monotonic()
                popnetd.start(command)
                assert wait_for(lambda: "firewall already in place" in popnetd.log()[offset:],
                                timeout=POPNETD_READY_TIMEOUT), popnetd.log()[offset:][-2000:]
                assert wait_for(lambda: status_document(demo)["last_reconcile"] is not None,
                                timeout=POPNETD_READY_TIMEOUT), popnetd.log()[offset:][-2000:]
                restarts.append(time.monotonic() - started)
                answered = client.answered()
                assert wait_for(lambda: client.answered() >= answered + 5, timeout=10), client.results()[-5:]
                time.sleep(LOAD_SECONDS_AFTER_RESTART)  # traffic through the restarted PoP (a duration, not a sync)
    after = wg_peer_view(demo)

    assert watch.listings >= 20, f"only {watch.listings} listings of the table"
    assert not watch.absent, f"table inet popgate was absent in {len(watch.absent)} of {watch.listings} listings: " \
                             f"{watch.absent[:3]}"
    assert "popgate" not in watch.changes, f"the ruleset changed while popnetd restarted:\n{watch.changes}"
    assert after["endpoints"] == before["endpoints"] and after["allowed_ips"] == before["allowed_ips"], (before, after)
    # The demo client's only: other tests' clients may still be up, rekeying on their own schedule.
    assert after["handshakes"][client_key] == before["handshakes"][client_key], (
        f"the client's tunnel made a new handshake across popnetd's restart: {before['handshakes'][client_key]} -> "
        f"{after['handshakes'][client_key]}")
    assert not client.failures(), f"{len(client.failures())} requests failed: {client.failures()[:3]}"
    print(f"{KILL_ROUNDS} kill(s): popnetd ready again after {', '.join(f'{s:.2f}' for s in restarts)} s; "
          f"table listed {watch.listings} times, absent 0; {client.answered()} requests answered, 0 failed; "
          f"handshakes unchanged")


def test_the_demo_gateway_killed_under_traffic_serves_again_within_seconds_and_its_log_verifies(
        demo: Demo, tmp_path: Path) -> None:
    gateway = RecordedDaemon(demo, "popgated", demo.pop_ns)
    with ClientLoop(demo, demo.client_ns, tmp_path / "requests", request_timeout=2) as client:
        assert wait_for(lambda: client.answered() >= 10, timeout=10), client.results()[-5:]
        command = gateway.argv()
        gateway.signal(signal.SIGKILL)
        assert wait_for(gateway.gone, timeout=5), "popgated outlived SIGKILL"
        started = time.monotonic()
        gateway.start(command)
        assert wait_for(lambda: client.answered(after=started) >= 1, timeout=GATEWAY_SERVES_DEADLINE), (
            f"no answer within {GATEWAY_SERVES_DEADLINE} s of starting popgated again:\n{gateway.log()[-2000:]}")
        first = min(r["sent"] + r["took"] for r in client.results() if r["sent"] >= started and r["outcome"] == 200)
        answered = client.answered()
        assert wait_for(lambda: client.answered() >= answered + 10, timeout=10), client.results()[-5:]

    export = tmp_path / "receipts"
    demo.popctl_ok("receipts", "export", str(export))
    key = demo.popctl_ok("receipts", "key").stdout.strip()
    verified = run([str(demo.bin / "popaudit"), "verify", str(export), "--key", key, "--json"], timeout=120)
    assert verified.returncode == 0, describe(verified)
    report = json.loads(verified.stdout)
    assert report["valid"], report
    print(f"popgated answered again {first - started:.2f} s after it was started; its log of {report['entries']} "
          f"entries verifies")


# ---------------------------------------------------------------------------------------------------------------
# The registry's PostgreSQL restarted


def _fleet_demo(fleet: Fleet, key: str | None = None) -> Demo:
    """What the harness's and fault_helpers' request helpers read from a demo, for PoP a of the fleet."""
    return Demo({"POP_API_URL": POPS[0].api_url, "API_KEY": key or fleet.api_key, "MODEL": MODEL})


def test_a_restarted_registry_database_interrupts_no_request_and_changes_arrive_once_it_is_back(
        fleet: Fleet, tmp_path: Path) -> None:  # noqa: F811 (the fixture imported above)
    pop = POPS[0]
    client = connect(fleet, "pgfault", "pgmf")
    try:
        _, doomed, _, _ = register(fleet, "pgfault-doomed")
        fleet.wait(f"pgfault-doomed on {pop.interface}", lambda: doomed in device_peers(pop))
        with ClientLoop(_fleet_demo(fleet), pop.client_ns, tmp_path / "requests") as load:
            assert wait_for(lambda: load.answered() >= 5, timeout=10), load.results()[-5:]

            # A restart (the server ends every session: the daemons must open new ones), then a key made at once.
            began = time.monotonic()
            restarted = fleet.pg_ctl("restart", "-m", "fast", "-w", "-t", "30", "-l", str(fleet.pg_dir / "log"))
            assert restarted.returncode == 0, describe(restarted)
            restart_took = time.monotonic() - began
            key = fleet.popctl_ok("key", "create", "--tenant", fleet.tenant, "--tier", "fast").stdout.strip()
            since = time.monotonic()
            # Measured over a longer window than the deadline, so a failure says how late it was.
            key_works = seconds_until_answered(pop.client_ns, pop.api_url, key, since=since,
                                               within=CHANGE_OBSERVED)

            # Away for a while: both daemons say degraded, and requests are still answered from what they knew.
            fleet.stop_database()
            stopped_at = time.monotonic()
            degraded = {"popgated": wait_for(lambda: metric(pop, DEGRADED_METRIC) == 1, timeout=OUTAGE_SECONDS),
                        "popnetd": wait_for(lambda: registry_state(pop_status_document(pop)) == "degraded",
                                            timeout=OUTAGE_SECONDS)}
            time.sleep(max(0.0, stopped_at + OUTAGE_SECONDS - time.monotonic()))  # the outage's length, not a sync
            answered_while_down = load.answered(after=stopped_at)
            fleet.start_database()
            revoked = fleet.popctl("peer", "revoke", "pgfault-doomed")
            since = time.monotonic()
            assert revoked.returncode == 0, describe(revoked)
            revoke_took = None
            if wait_for(lambda: doomed not in device_peers(pop), timeout=CHANGE_OBSERVED, interval=0.02):
                revoke_took = time.monotonic() - since
            synced = {"popgated": wait_for(lambda: metric(pop, DEGRADED_METRIC) == 0, timeout=5),
                      "popnetd": wait_for(lambda: registry_state(pop_status_document(pop)) == "synced", timeout=5)}
            settled = load.answered()
            assert wait_for(lambda: load.answered() >= settled + 5, timeout=10), load.results()[-5:]
        fleet.check_alive()
    finally:
        client.down()
        fleet.popctl("peer", "revoke", "pgfault-doomed")  # when the test stopped before its revoke
        if fleet.pg_dir and fleet.pg_ctl("status").returncode != 0:
            fleet.start_database()  # for the teardown's clean stop

    assert not load.failures(), f"{len(load.failures())} requests failed: {load.failures()[:3]}"
    assert answered_while_down >= 5, (
        f"only {answered_while_down} requests answered in {OUTAGE_SECONDS} s without the database")
    late_by = REGISTRY_RETRY_PAUSE + CHANGE_DEADLINE
    assert key_works["answered_after"] is not None and key_works["answered_after"] <= late_by, (
        f"a key made {restart_took:.2f} s after the restart began was not accepted within {late_by} s "
        f"(None: not within {CHANGE_OBSERVED} s): {key_works}")
    assert all(degraded.values()), f"not degraded while the database was down: {degraded}"
    assert revoke_took is not None and revoke_took <= late_by, (
        f"a revoke after the database came back took {revoke_took} s (None: over {CHANGE_OBSERVED} s), "
        f"more than {late_by} s")
    assert all(synced.values()), f"still degraded after the database came back: {synced}"
    print(f"database restarted in {restart_took:.2f} s; a key made then answered after "
          f"{key_works['answered_after']:.3f} s; stopped {OUTAGE_SECONDS} s: {answered_while_down} requests answered, "
          f"degraded {degraded}; a revoke after the start left the device after {revoke_took:.3f} s; "
          f"{load.answered()} requests answered in all, 0 failed")


# ---------------------------------------------------------------------------------------------------------------
# The receipt disk full (test_receipts.py checks the 503 and the recovery; this, that no answered request's
# receipt is missing from the log afterwards)


def test_a_full_receipt_disk_loses_no_receipt_of_a_request_that_was_answered(demo: Demo) -> None:
    host = demo.api_url.split("//")[1].split(":")[0]
    port = free_port(demo.pop_ns, host)
    config = second_gateway_config(Path(demo.config).read_text(), port)
    url = f"http://{host}:{port}"
    answered: list[str] = []  # the receipt ids of the answers clients got
    statuses: list[int | None] = []

    def post() -> int | None:
        try:
            response = http_request(demo.client_ns, "POST", url + "/v1/chat/completions", headers=bearer(demo.api_key),
                                    json_body={"model": demo.model, "messages": MESSAGES, "max_tokens": 2})
        except Exception:
            statuses.append(None)  # cut short: its receipt could not be written
            return None
        if response.status == 200:
            answered.append(response.header("X-Receipt-Id") or "(none)")
        statuses.append(response.status)
        return response.status

    with small_receipt_disk(demo, "fullfault") as log:
        with TunnelSteering(demo, port), SecondGateway(demo, "fullfault", config, port) as gateway:
            assert post() == 200
            filler = log / "filler"
            run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], timeout=30)
            assert wait_for(lambda: post() == 503, timeout=10, interval=0.05), gateway.log()[-2000:]
            filler.unlink()
            assert wait_for(lambda: post() == 200, timeout=10, interval=0.3), gateway.log()[-2000:]
            missing = [rid for rid in answered if http_request(
                demo.client_ns, "GET", f"{url}/v1/receipts/{rid}", headers=bearer(demo.api_key)).status != 200]
            key = run([str(demo.bin / "popctl"), "receipts", "key", "--config", str(gateway.config_path)],
                      timeout=30).stdout.strip()
        verified = run([str(demo.bin / "popaudit"), "verify", str(log), "--key", key], timeout=60)
    assert not missing, f"{len(missing)} of {len(answered)} answered requests have no receipt in the log: {missing}"
    assert verified.returncode == 0, describe(verified)
    print(f"disk full: {len(answered)} answered requests, all in the log, which verifies; statuses in order: "
          f"{statuses}")


# A streamed chat completion on a raw socket from the client namespace: prints "started" once the first content event
# is in, then reads to the end, and prints how the stream ended: the connection closed, reset, or nothing more within
# the socket's timeout (left open).
_STREAM_TO_THE_END = r"""
import json, socket, sys
a = json.loads(sys.argv[1])
body = json.dumps(a["body"]).encode()
head = ("POST /v1/chat/completions HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
        "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (a["host"], a["key"], len(body)))
sock = socket.create_connection((a["host"], a["port"]), timeout=a["timeout"])
sock.sendall(head.encode() + body)
data, started, end = b"", False, "left open"
try:
    while True:
        piece = sock.recv(65536)
        if not piece:
            end = "closed"
            break
        data += piece
        if not started and b'"content":"' in data:
            started = True
            print("started", flush=True)
except socket.timeout:
    pass
except ConnectionResetError:
    end = "reset"
status = data.split(b" ", 2)[1].decode() if data.startswith(b"HTTP/1.1 ") else None
print(json.dumps({"status": status, "started": started, "done": b"data: [DONE]" in data,
                  "last_chunk": data.endswith(b"\r\n0\r\n\r\n"), "end": end}), flush=True)
"""
STREAM_TOKENS = 400  # 8 s at the demo simulator's 50 tokens a second: the disk fills while the stream runs
STREAM_READ_TIMEOUT = 20  # s with nothing received before the client calls the connection left open


def test_a_stream_whose_receipt_cannot_be_written_is_closed_without_its_end(demo: Demo) -> None:
    """A proxied answer's end waits for its receipt. When the receipt cannot be written (the disk filled while the
    stream ran), the client's connection is closed without the end, at once: not left open with nothing more to come,
    which is what the connection did when it was told an answer of its own had ended instead of a proxied one."""
    host = demo.api_url.split("//")[1].split(":")[0]
    port = free_port(demo.pop_ns, host)
    config = second_gateway_config(Path(demo.config).read_text(), port)
    url = f"http://{host}:{port}/v1/chat/completions"

    def post() -> int | None:
        try:
            return http_request(demo.client_ns, "POST", url, headers=bearer(demo.api_key),
                                json_body={"model": demo.model, "messages": MESSAGES, "max_tokens": 2}).status
        except Exception:
            return None  # cut short: its receipt could not be written

    arguments = {"host": host, "port": port, "key": demo.api_key, "timeout": STREAM_READ_TIMEOUT,
                 "body": {"model": demo.model, "messages": MESSAGES, "max_tokens": STREAM_TOKENS, "stream": True}}
    with small_receipt_disk(demo, "cutfault") as log:
        with TunnelSteering(demo, port), SecondGateway(demo, "cutfault", config, port) as gateway:
            client = subprocess.Popen(ns_cmd(demo.client_ns, [sys.executable, "-c", _STREAM_TO_THE_END,
                                                              json.dumps(arguments)]),
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            try:
                first = client.stdout.readline().strip()  # bounded: the client's socket times out
                assert first == "started", f"the stream did not start: {first} {client.stdout.read()}"
                run(["dd", "if=/dev/zero", f"of={log / 'filler'}", "bs=64k"], timeout=30)
                assert wait_for(lambda: post() == 503, timeout=10, interval=0.05), gateway.log()[-2000:]
                output, _ = client.communicate(timeout=STREAM_TOKENS / 50 + STREAM_READ_TIMEOUT + 10)
            finally:
                stop_process(client, 5)
            gateway_log = gateway.log()
    result = json.loads(output.strip().splitlines()[-1])
    assert result["status"] == "200" and result["started"], result
    assert result["end"] == "closed", f"the stream was {result['end']}, not closed: {result}\n{gateway_log[-2000:]}"
    assert not result["done"] and not result["last_chunk"], f"the stream got its end without a receipt: {result}"
    assert "receipt not written" in gateway_log, gateway_log[-2000:]
