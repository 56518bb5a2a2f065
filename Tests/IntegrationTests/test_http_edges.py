"""HTTP/1.1's edge cases, each probed on a raw socket through the demo's tunnel: every one gets a clear answer in
OpenAI's shape (or a 100 Continue) and a defined end, never a hang or an answer run into the next.

* An HTTP/1.0 client that asks for keep-alive gets a stream (which has no length) with `Connection: close`, and the
  connection ends after it: an HTTP/1.0 body without a length ends only at the close (RFC 9112, section 6.3).
* CONNECT gets a 405 with `Allow` (NIO's encoder sends no body to a CONNECT) and the connection closes.
* A request that asks to upgrade the protocol (`Connection: Upgrade`) is served as plain HTTP/1.1 (RFC 9110,
  section 7.8 lets a server ignore Upgrade), and the connection closes after it: the parser reads nothing more.
* `Expect: 100-continue` (curl sends it for large bodies) gets `100 Continue` when the request is admitted, and the
  refusal at once, without waiting for the body, when it is not (RFC 9110, section 10.1.1).
* A request the parser rejects gets a 400 with an `X-Request-Id` and a message in the client's terms.
"""

from __future__ import annotations

import json

from harness.demo import Demo
from harness.processes import ns_python

MODEL = "popgate-sim-small"

# Sends `send` (latin-1 text), reads until `until` appears in what came back (or EOF, or `timeout`), then sends
# `then` if given and reads until EOF (or `timeout`). Reports what came back at each step and how long it took.
_PROBE_SCRIPT = r"""
import json, socket, sys, time
a = json.loads(sys.argv[1])
sock = socket.create_connection((a["host"], a["port"]), timeout=a["timeout"])
start = time.monotonic()
def read_until(marker):
    data, eof = b"", False
    while marker is None or marker.encode() not in data:
        try:
            piece = sock.recv(65536)
        except socket.timeout:
            break
        if not piece:
            eof = True
            break
        data += piece
    return data, eof
sock.sendall(a["send"].encode("latin-1"))
first, eof = read_until(a.get("until"))
first_at = time.monotonic() - start
rest, rest_eof = b"", eof
if not eof:
    if a.get("then"):
        sock.sendall(a["then"].encode("latin-1"))
    rest, rest_eof = read_until(None)
print(json.dumps({"first": first.decode("latin-1"), "first_at": first_at, "rest": rest.decode("latin-1"),
                  "eof": rest_eof, "eof_at": time.monotonic() - start}))
sock.close()
"""


def _probe(demo: Demo, send: str, *, until: str | None = None, then: str | None = None, timeout: float = 5) -> dict:
    host, port = demo.api_url.split("//")[1].split(":")
    return ns_python(demo.client_ns, _PROBE_SCRIPT, {"host": host, "port": int(port), "send": send, "until": until,
                                                      "then": then, "timeout": timeout}, timeout=timeout * 3 + 15)


def _head(text: str) -> tuple[int, dict[str, str], str]:
    head, _, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    headers = {line.split(":", 1)[0].strip().lower(): line.split(":", 1)[1].strip() for line in lines[1:] if ":" in line}
    return int(lines[0].split()[1]), headers, body


def _dechunk(body: str) -> str:
    out, rest = "", body
    while rest:
        size, _, rest = rest.partition("\r\n")
        length = int(size, 16)
        if length == 0:
            break
        out, rest = out + rest[:length], rest[length + 2:]
    return out


def _request(method: str, path: str, key: str, *, version: str = "1.1", headers: dict[str, str] | None = None,
             body: str = "") -> str:
    lines = [f"{method} {path} HTTP/{version}", "Host: pop", f"Authorization: Bearer {key}"]
    if body or method == "POST":
        lines += ["Content-Type: application/json", f"Content-Length: {len(body.encode())}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return "\r\n".join(lines) + "\r\n\r\n" + body


def _chat_body(**extra: object) -> str:
    return json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3, **extra})


def test_an_http_1_0_keep_alive_stream_ends_with_the_connection(demo: Demo) -> None:
    result = _probe(demo, _request("POST", "/v1/chat/completions", demo.api_key, version="1.0",
                                   headers={"Connection": "keep-alive"}, body=_chat_body(stream=True)))
    status, headers, body = _head(result["first"] + result["rest"])
    assert status == 200 and headers.get("connection") == "close", result
    assert "transfer-encoding" not in headers, headers
    assert body.rstrip().endswith("data: [DONE]"), body
    # The close is what ends the answer: it came, and promptly (not after an idle timeout).
    assert result["eof"] and result["eof_at"] < 4, result


def test_connect_gets_a_405_and_the_connection_closes(demo: Demo) -> None:
    result = _probe(demo, _request("CONNECT", "example.com:443", demo.api_key))
    status, headers, body = _head(result["first"] + result["rest"])
    assert status == 405 and headers.get("allow") == "GET, POST", result
    # NIO's encoder gives a CONNECT answer no body: the head must not claim one.
    assert "content-type" not in headers and body == "", result
    assert headers.get("x-request-id", "").startswith("req_") and headers.get("connection") == "close", headers
    assert result["eof"] and result["eof_at"] < 2, result


def test_an_upgrade_is_ignored_the_request_served_and_the_connection_closed(demo: Demo) -> None:
    for request in (
        _request("GET", "/v1/models", demo.api_key, headers={"Connection": "Upgrade", "Upgrade": "websocket"}),
        _request("POST", "/v1/chat/completions", demo.api_key, body=_chat_body(),
                 headers={"Connection": "Upgrade, HTTP2-Settings", "Upgrade": "h2c", "HTTP2-Settings": "AAMAAABkAAQAoAAA"}),
    ):
        result = _probe(demo, request)
        status, headers, body = _head(result["first"] + result["rest"])
        assert status == 200 and headers.get("connection") == "close", result
        if headers.get("transfer-encoding") == "chunked":
            body = _dechunk(body)
        assert json.loads(body)["object"] in ("list", "chat.completion"), body
        assert result["eof"] and result["eof_at"] < 2, result


def test_expect_100_continue_is_answered_before_the_body_is_sent(demo: Demo) -> None:
    body = _chat_body()
    head = _request("POST", "/v1/chat/completions", demo.api_key, body="", headers={"Expect": "100-continue"})
    head = head.replace("Content-Length: 0", f"Content-Length: {len(body)}")
    result = _probe(demo, head, until="\r\n\r\n", then=body + "GET /v1/models HTTP/1.1\r\nHost: pop\r\n"
                    "Authorization: Bearer " + demo.api_key + "\r\nConnection: close\r\n\r\n")
    assert result["first"].startswith("HTTP/1.1 100 Continue\r\n"), result
    assert result["first_at"] < 1, result  # curl sends the body anyway after waiting 1 s
    answer = result["rest"]
    assert answer.startswith("HTTP/1.1 200 OK"), answer
    assert '"chat.completion"' in answer and '"object":"list"' in answer.replace(" ", ""), answer


def test_expect_100_continue_refused_at_once_without_the_body(demo: Demo) -> None:
    head = _request("POST", "/v1/chat/completions", demo.api_key, headers={"Expect": "100-continue",
                                                                          "X-Siati-Tier": "platinum"})
    head = head.replace("Content-Length: 0", "Content-Length: 5000")
    result = _probe(demo, head, until="}")
    status, headers, body = _head(result["first"] + result["rest"])
    assert status == 400 and "platinum" in body, result
    assert result["first_at"] < 1, result
    assert headers.get("connection") == "close", headers
    # The connection then ends with a FIN (the body the client may still send is drained, never answered).
    assert result["eof"] and result["eof_at"] < 3, result


def test_a_request_the_parser_rejects_gets_a_request_id_and_a_message_in_plain_terms(demo: Demo) -> None:
    result = _probe(demo, "GET /v1/models HTTP/1.1\r\nHost: pop\r\nBad Header: x\r\n\r\n")
    status, headers, body = _head(result["first"] + result["rest"])
    assert status == 400, result
    assert headers.get("x-request-id", "").startswith("req_"), headers
    message = json.loads(body)["error"]["message"]
    assert "header line is malformed" in message, message
    assert "HTTPParserError" not in message and "invalid" not in message, message
