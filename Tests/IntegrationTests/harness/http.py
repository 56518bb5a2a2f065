"""HTTP from inside a namespace: small Python scripts run there, so the traffic really comes from that namespace's
address and goes through its WireGuard tunnel.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from harness.demo import Demo
from harness.processes import ns_python, wait_for


_HTTP_SCRIPT = r"""
import base64, http.client, json, sys
a = json.loads(sys.argv[1])
try:
    phase = "connecting"
    conn = http.client.HTTPConnection(a["host"], a["port"], timeout=a["timeout"])
    conn.connect()
    phase = "sending the request"
    body = a["body"].encode() if a["body"] is not None else None
    conn.request(a["method"], a["path"], body=body, headers=a["headers"])
    phase = "waiting for the response"
    resp = conn.getresponse()
    data = resp.read()
    out = {"status": resp.status, "headers": resp.getheaders(), "body": base64.b64encode(data).decode()}
    conn.close()
except Exception as e:
    out = {"error": "%s while %s: %s" % (type(e).__name__, phase, e)}
print(json.dumps(out))
"""


class RequestFailed(Exception):
    """The request got no HTTP response (connection refused, reset, closed empty, or timed out)."""


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    events: list[tuple[float, str]] = field(default_factory=list)  # streaming only: (arrival s, data)

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def json(self) -> Any:
        return json.loads(self.body)

    def __str__(self) -> str:
        return f"HTTP {self.status} {dict(self.headers)} {self.body[:2000]!r}"


def split_url(url: str) -> tuple[str, int, str]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.hostname or "", parts.port or 80, target


def http_request(
    ns: str,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    json_body: Any = None,
    timeout: float = 10,
) -> Response:
    """Sends one HTTP/1.1 request from inside `ns`; raises RequestFailed if no response came back."""
    host, port, path = split_url(url)
    all_headers = dict(headers or {})
    body = None
    if json_body is not None:
        body = json.dumps(json_body)
        all_headers.setdefault("Content-Type", "application/json")
    args = {"host": host, "port": port, "path": path, "method": method, "headers": all_headers, "body": body,
            "timeout": timeout}
    out = ns_python(ns, _HTTP_SCRIPT, args, timeout=timeout + 15)
    if "error" in out:
        raise RequestFailed(f"{method} {url} from {ns}: {out['error']}")
    return Response(out["status"], [tuple(h) for h in out["headers"]], base64.b64decode(out["body"]))


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


_STREAM_SCRIPT = r"""
import http.client, json, sys, time
a = json.loads(sys.argv[1])
try:
    conn = http.client.HTTPConnection(a["host"], a["port"], timeout=a["timeout"])
    start = time.monotonic()
    conn.request("POST", a["path"], body=a["body"].encode(), headers=a["headers"])
    resp = conn.getresponse()
    if resp.status != 200:
        out = {"status": resp.status, "headers": resp.getheaders(), "body": resp.read().decode("utf-8", "replace"),
               "events": []}
    else:
        events, buffer = [], b""
        while True:
            piece = resp.read1(65536)
            now = time.monotonic() - start
            if not piece:
                break
            buffer += piece.replace(b"\r\n", b"\n")
            # An event is complete at its blank line; it arrived when the read that completed it returned.
            while b"\n\n" in buffer:
                raw, buffer = buffer.split(b"\n\n", 1)
                data = [l[5:].lstrip(b" ") for l in raw.split(b"\n") if l.startswith(b"data:")]
                if data:
                    events.append([now, b"\n".join(data).decode()])
                    if a.get("mark") and len(events) == 1:
                        open(a["mark"], "w").close()  # tells the test the stream has begun
        out = {"status": 200, "headers": resp.getheaders(), "body": buffer.decode("utf-8", "replace"),
               "events": events}
    conn.close()
except Exception as e:
    out = {"error": "%s: %s" % (type(e).__name__, e)}
print(json.dumps(out))
"""


def stream_chat(ns: str, url: str, key: str, body: Mapping[str, Any], *, timeout: float = 15,
                mark: Path | None = None) -> Response:
    """POSTs a streaming chat completion from inside `ns`, recording each SSE event's arrival time in the client.

    `Response.events` holds (seconds since the request was sent, data payload); `Response.body` holds what
    followed the last complete event (normally nothing). With `mark`, that file is created when the first event
    arrives, so a test running the stream in a thread can act once the stream has begun.
    """
    host, port, path = split_url(url.rstrip("/") + "/v1/chat/completions")
    args = {"host": host, "port": port, "path": path, "timeout": timeout, "body": json.dumps(body),
            "headers": {"Content-Type": "application/json", **bearer(key)}, "mark": str(mark) if mark else None}
    out = ns_python(ns, _STREAM_SCRIPT, args, timeout=timeout + 15)
    if "error" in out:
        raise RequestFailed(f"streaming POST {url} from {ns}: {out['error']}")
    return Response(out["status"], [tuple(h) for h in out["headers"]], out["body"].encode(),
                    [(t, d) for t, d in out["events"]])


def chat(ns: str, demo: Demo, messages: list[dict[str, str]], *, key: str | None = None, timeout: float = 10,
         **extra: Any) -> Response:
    """POSTs a (non-streaming) chat completion from inside `ns` with the demo's key unless `key` is given."""
    body = {"model": demo.model, "messages": messages, **extra}
    return http_request(ns, "POST", demo.api_url + "/v1/chat/completions",
                        headers=bearer(key if key is not None else demo.api_key), json_body=body, timeout=timeout)


# One client in a namespace: POSTs a streamed chat completion on a raw socket, reads until it has seen
# `read` content events (or the stream ends), then hangs up (FIN) without reading the rest. With `parallel`, that many
# such streams at once, each on its own connection. Prints, per stream, the status, the content events it received
# and the receipt id.
_CUT_SCRIPT = r"""
import json, re, socket, sys, threading
a = json.loads(sys.argv[1])
CONTENT = re.compile(rb'"content":"[^"]')

def one():
    body = json.dumps(a["body"]).encode()
    head = ("POST /v1/chat/completions HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
            "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (a["host"], a["key"], len(body)))
    sock = socket.create_connection((a["host"], a["port"]), timeout=a["timeout"])
    sock.sendall(head.encode() + body)
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        if not piece:
            break
        data += piece
    header, _, rest = data.partition(b"\r\n\r\n")
    lines = header.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
    headers = {l.split(":", 1)[0].strip().lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
    received = 0
    if status == 200:
        buffer, done = rest, False
        while True:
            # Whole events only: an event is counted once its blank line has arrived.
            while b"\n\n" in buffer:
                event, buffer = buffer.split(b"\n\n", 1)
                received += len(CONTENT.findall(event))
                done = done or b"[DONE]" in event
            if received >= a["read"] or done:
                break
            piece = sock.recv(65536)
            if not piece:
                break
            buffer += piece
    sock.shutdown(socket.SHUT_RDWR)
    sock.close()
    return {"status": status, "received": received, "receipt": headers.get("x-receipt-id"),
            "retry_after": headers.get("retry-after")}

results = [None] * a["parallel"]
def run(i):
    try:
        results[i] = one()
    except Exception as e:
        results[i] = {"error": "%s: %s" % (type(e).__name__, e)}
threads = [threading.Thread(target=run, args=(i,)) for i in range(a["parallel"])]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps(results))
"""

def cut_streams(ns: str, host: str, port: int, key: str, body: Mapping[str, Any], *, read: int,
                parallel: int = 1, timeout: float = 20) -> list[dict]:
    """POSTs the streamed chat completion `body` from inside `ns` on `parallel` connections at once, each read
    until `read` content events (or the end) and then hung up on. Per stream: status, content events received,
    X-Receipt-Id and Retry-After."""
    results = ns_python(ns, _CUT_SCRIPT, {"host": host, "port": port, "key": key, "body": dict(body), "read": read,
                                          "parallel": parallel, "timeout": timeout}, timeout=timeout * 3)
    for result in results:
        assert "error" not in result, results
    return results


def settled_receipt(ns: str, base_url: str, key: str, receipt_id: str | None, *, timeout: float = 10) -> dict:
    """The receipt `receipt_id` from the gateway at `base_url`, once the gateway has settled its request (for a
    stream the client cut, when the gateway has seen the client's FIN)."""
    assert receipt_id, "the answer had no X-Receipt-Id"
    found: list[dict] = []

    def fetch() -> bool:
        response = http_request(ns, "GET", f"{base_url}/v1/receipts/{receipt_id}", headers=bearer(key))
        if response.status == 200:
            found.append(response.json()["receipt"])
        return bool(found)

    assert wait_for(fetch, timeout=timeout, interval=0.2), f"no receipt {receipt_id} at {base_url}"
    return found[0]
