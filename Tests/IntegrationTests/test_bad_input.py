"""Bad input from an authenticated peer gets a clear status or nothing at all, never a crash, and the
gateway goes on serving: malformed HTTP, oversized heads, bodies that are not JSON, bodies that never end,
and clients that stall (the demo sets header_timeout_ms and body_timeout_ms to 3 s)."""

from __future__ import annotations

import json

from harness.demo import Demo
from harness.http import bearer, http_request
from harness.processes import ns_python

_RAW_SCRIPT = r"""
import json, select, socket, sys, time
a = json.loads(sys.argv[1])
s = socket.create_connection((a["host"], a["port"]), timeout=5)
start = time.monotonic()
sent = 0
try:
    for piece in a["pieces"]:
        s.sendall(piece.encode("latin-1"))
        sent += len(piece)
    chunk = b"100000\r\n" + b"x" * 0x100000 + b"\r\n"  # 1 MiB in chunked encoding
    for _ in range(a.get("mebibyte_chunks", 0)):
        # Like curl, stop sending once the server has answered.
        if select.select([s], [], [], 0)[0]:
            break
        s.sendall(chunk)
except OSError as e:
    pass
received = b""
outcome = "timeout"
s.settimeout(a["read_timeout"])
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            outcome = "eof"
            break
        received += chunk
except socket.timeout:
    outcome = "timeout"
except ConnectionResetError:
    outcome = "reset"
s.close()
print(json.dumps({"outcome": outcome, "received": received.decode("latin-1"), "elapsed": time.monotonic() - start}))
"""


def _raw(demo: Demo, pieces: list[str], read_timeout: float = 10, mebibyte_chunks: int = 0) -> dict:
    host, port = demo.api_url.split("//")[1].split(":")
    return ns_python(demo.client_ns, _RAW_SCRIPT, {"host": host, "port": int(port), "pieces": pieces,
                                                  "read_timeout": read_timeout, "mebibyte_chunks": mebibyte_chunks},
                     timeout=read_timeout + 20)


def _status_and_error(received: str) -> tuple[int, dict]:
    head, _, body = received.partition("\r\n\r\n")
    status = int(head.split(" ", 2)[1])
    return status, json.loads(body)["error"]


def _still_serving(demo: Demo) -> None:
    models = http_request(demo.client_ns, "GET", demo.api_url + "/v1/models", headers=bearer(demo.api_key))
    assert models.status == 200, str(models)


def test_a_head_larger_than_the_limit_gets_431(demo: Demo) -> None:
    request = (f"GET /v1/models HTTP/1.1\r\nHost: pop\r\nAuthorization: Bearer {demo.api_key}\r\n"
               f"X-Padding: {'a' * 20000}\r\n\r\n")
    reply = _raw(demo, [request])
    status, error = _status_and_error(reply["received"])
    assert status == 431 and error["code"] == "headers_too_large", reply
    assert reply["outcome"] == "eof", reply
    _still_serving(demo)


def test_malformed_http_gets_400_in_openais_shape(demo: Demo) -> None:
    reply = _raw(demo, ["GET /v1/models HTTP/1.1\r\nHost pop no colon\r\n\r\n"])
    status, error = _status_and_error(reply["received"])
    assert status == 400 and error["code"] == "malformed_request", reply
    _still_serving(demo)


def test_bodies_that_are_not_a_json_object_get_400(demo: Demo) -> None:
    for content_type, body in [("application/json", "{not json"), ("application/x-www-form-urlencoded", "model=m"),
                               ("application/json", "[1, 2]"), ("text/plain", "")]:
        request = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: pop\r\nAuthorization: Bearer {demo.api_key}\r\n"
                   f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}")
        reply = _raw(demo, [request])
        assert reply["received"], (content_type, body, reply)
        status, error = _status_and_error(reply["received"])
        assert status == 400 and error["code"] == "invalid_request_body", (content_type, body, reply)
    missing = http_request(demo.client_ns, "POST", demo.api_url + "/v1/chat/completions",
                           headers=bearer(demo.api_key), json_body={"messages": []})
    assert missing.status == 400 and missing.json()["error"]["param"] == "model", str(missing)


def test_an_endless_body_gets_413_and_the_connection_is_closed(demo: Demo) -> None:
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: pop\r\nAuthorization: Bearer {demo.api_key}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    # Past the 8 MiB limit after nine 1 MiB chunks; the gateway answers and closes without reading the rest.
    reply = _raw(demo, [head], read_timeout=20, mebibyte_chunks=64)
    assert reply["received"], reply
    status, error = _status_and_error(reply["received"])
    assert status == 413 and error["code"] == "request_too_large", reply
    _still_serving(demo)


def test_a_client_that_stalls_in_its_head_is_closed_with_nothing(demo: Demo) -> None:
    reply = _raw(demo, ["POST /v1/chat/completions HTTP/1.1\r\nHost: pop\r\n"], read_timeout=15)
    assert reply["outcome"] == "eof" and reply["received"] == "", reply
    assert 2.5 <= reply["elapsed"] <= 10, reply  # header_timeout_ms = 3000 in the demo
    _still_serving(demo)


def test_a_client_that_stalls_in_its_body_is_closed_with_nothing(demo: Demo) -> None:
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: pop\r\nAuthorization: Bearer {demo.api_key}\r\n"
            "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
    reply = _raw(demo, [head, '{"model": "popgate-sim-small", '], read_timeout=15)
    assert reply["outcome"] == "eof" and reply["received"] == "", reply
    assert 2.5 <= reply["elapsed"] <= 10, reply  # body_timeout_ms = 3000 in the demo


def test_a_connection_that_only_connects_is_closed_after_the_header_timeout(demo: Demo) -> None:
    reply = _raw(demo, [], read_timeout=15)
    assert reply["outcome"] == "eof" and reply["received"] == "", reply
    assert 2.5 <= reply["elapsed"] <= 10, reply


_NEVER_READS_SCRIPT = r"""
import json, socket, sys, time
a = json.loads(sys.argv[1])
s = socket.create_connection((a["host"], a["port"]), timeout=10)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)  # a small window, so the gateway's writes back up soon
body = json.dumps({"model": "popgate-sim-small", "input": ["word"] * a["inputs"]}).encode()
s.sendall(("POST /v1/embeddings HTTP/1.1\r\nHost: pop\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\n"
           "Content-Length: %d\r\n\r\n" % (a["key"], len(body))).encode() + body)
# Never reads: waits for the test to say it has seen the gateway give up, then leaves.
deadline = time.monotonic() + a["hold"]
while time.monotonic() < deadline and not __import__("os").path.exists(a["release"]):
    time.sleep(0.05)
s.close()
print(json.dumps({}))
"""


def test_a_client_that_never_reads_is_cut_off_after_the_send_timeout(demo: Demo, tmp_path) -> None:
    import threading
    from harness.processes import wait_for

    log = demo.demo_dir / "logs" / "popgated.log"
    offset = len(log.read_text(errors="replace"))
    host, port = demo.api_url.split("//")[1].split(":")
    release = tmp_path / "release"
    args = {"host": host, "port": int(port), "key": demo.api_key, "inputs": 60000, "hold": 60,
            "release": str(release)}
    client = threading.Thread(target=lambda: ns_python(demo.client_ns, _NEVER_READS_SCRIPT, args, timeout=90))
    client.start()
    try:
        # 60,000 embeddings are several MB of JSON: more than the socket buffers hold, so the gateway waits on the
        # client, which send_timeout_s (3 s in the demo) ends.
        assert wait_for(lambda: "deadline=send" in log.read_text(errors="replace")[offset:], timeout=45), (
            log.read_text(errors="replace")[offset:][-3000:])
        _still_serving(demo)
    finally:
        release.touch()
        client.join(timeout=30)


_STALLERS_SCRIPT = r"""
import json, os, socket, sys, time
a = json.loads(sys.argv[1])
held = []
for _ in range(a["count"]):
    s = socket.create_connection((a["host"], a["port"]), timeout=5)
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: pop\r\n")  # and never the rest
    held.append(s)
open(a["ready"], "w").close()
deadline = time.monotonic() + a["hold"]
while time.monotonic() < deadline and not os.path.exists(a["release"]):
    time.sleep(0.05)
for s in held:
    s.close()
print(json.dumps({"held": len(held)}))
"""


def test_another_peer_is_served_while_one_peer_stalls_many_connections(demo: Demo, tmp_path) -> None:
    import threading

    from harness.http import chat
    from harness.namespaces import ClientNamespace
    from harness.processes import wait_for

    conf = tmp_path / "pgbad0.conf"
    demo.popctl_ok("peer", "add", "--tenant", demo.tenant, "--name", "bystander", "--output", str(conf))
    host, port = demo.api_url.split("//")[1].split(":")
    ready, release = tmp_path / "ready", tmp_path / "release"
    args = {"host": host, "port": int(port), "count": 200, "hold": 30, "ready": str(ready), "release": str(release)}
    try:
        with ClientNamespace(demo, "pg-bystander", 204, conf) as bystander:
            bystander.tunnel_up()
            stalled = threading.Thread(target=lambda: ns_python(demo.client_ns, _STALLERS_SCRIPT, args, timeout=60))
            stalled.start()
            try:
                assert wait_for(ready.exists, timeout=20, interval=0.02), "the stalled connections were not opened"
                response = chat(bystander.ns, demo, [{"role": "user", "content": "hello"}])
                assert response.status == 200, str(response)
            finally:
                release.touch()
                stalled.join(timeout=30)
    finally:
        demo.popctl("peer", "revoke", "bystander")
