"""The OpenAI API through the tunnel: from pg-client over WireGuard to popgated, proxied to the simulator."""

from __future__ import annotations

import json

from harness.demo import Demo
from harness.http import bearer, chat, http_request, stream_chat
from harness.processes import ns_python, require
from harness.simulator import DEFAULT_COMPLETION_TOKENS, sim_prompt_tokens, sim_text

MESSAGES = [
    {"role": "system", "content": "You are a terse assistant."},
    {"role": "user", "content": "Say hello from the PoP"},
]


def test_plain_chat_completion(demo: Demo) -> None:
    response = chat(demo.client_ns, demo, MESSAGES)
    assert response.status == 200, str(response)
    assert response.header("X-Request-Id"), f"no X-Request-Id: {response.headers}"
    reply = response.json()
    assert reply["object"] == "chat.completion"
    assert reply["model"] == demo.model
    [choice] = reply["choices"]
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == sim_text()
    assert choice["finish_reason"] == "stop"
    usage = reply["usage"]
    assert usage["prompt_tokens"] == sim_prompt_tokens(MESSAGES) == 12
    assert usage["completion_tokens"] == DEFAULT_COMPLETION_TOKENS
    if "total_tokens" in usage:
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_max_tokens_cuts_the_completion(demo: Demo) -> None:
    response = chat(demo.client_ns, demo, MESSAGES, max_tokens=7)
    assert response.status == 200, str(response)
    reply = response.json()
    assert reply["choices"][0]["message"]["content"] == sim_text(7)
    assert reply["choices"][0]["finish_reason"] == "length"
    assert reply["usage"]["completion_tokens"] == 7


def test_every_request_gets_its_own_request_id(demo: Demo) -> None:
    first = chat(demo.client_ns, demo, MESSAGES)
    second = chat(demo.client_ns, demo, MESSAGES)
    assert first.header("X-Request-Id") and second.header("X-Request-Id")
    assert first.header("X-Request-Id") != second.header("X-Request-Id")


def _chunks(events: list[tuple[float, str]]) -> list[dict]:
    return [json.loads(data) for _, data in events if data != "[DONE]"]


def _content(chunks: list[dict]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


def test_streaming_chat_completion_with_usage(demo: Demo) -> None:
    body = {"model": demo.model, "messages": MESSAGES, "stream": True, "stream_options": {"include_usage": True}}
    response = stream_chat(demo.client_ns, demo.api_url, demo.api_key, body)
    assert response.status == 200, str(response)
    assert response.header("X-Request-Id"), f"no X-Request-Id: {response.headers}"
    assert (response.header("Content-Type") or "").startswith("text/event-stream")
    assert response.events, "no server-sent events"
    assert response.events[-1][1] == "[DONE]", f"last event: {response.events[-1]}"
    assert [d for _, d in response.events].count("[DONE]") == 1
    assert response.body.strip() == b"", f"bytes after the last event: {response.body!r}"

    chunks = _chunks(response.events)
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"].get("role") == "assistant"
    assert _content(chunks) == sim_text()

    finishing = [c for c in chunks if c["choices"] and c["choices"][0].get("finish_reason")]
    assert len(finishing) == 1 and finishing[0]["choices"][0]["finish_reason"] == "stop"
    usage_chunks = [c for c in chunks if c.get("usage")]
    assert len(usage_chunks) == 1, f"usage chunks: {usage_chunks}"
    [usage_chunk] = usage_chunks
    assert usage_chunk["choices"] == []
    assert usage_chunk is chunks[-1], "the usage chunk comes last, just before [DONE]"
    assert usage_chunk["usage"]["prompt_tokens"] == sim_prompt_tokens(MESSAGES)
    assert usage_chunk["usage"]["completion_tokens"] == DEFAULT_COMPLETION_TOKENS


def test_streaming_without_include_usage_has_no_usage_chunk(demo: Demo) -> None:
    body = {"model": demo.model, "messages": MESSAGES, "stream": True}
    response = stream_chat(demo.client_ns, demo.api_url, demo.api_key, body)
    assert response.status == 200, str(response)
    chunks = _chunks(response.events)
    assert _content(chunks) == sim_text()
    assert not any(c.get("usage") for c in chunks), "usage sent without stream_options.include_usage"
    assert response.events[-1][1] == "[DONE]"


def test_streaming_arrives_incrementally(demo: Demo) -> None:
    # The demo's simulator produces 50 tokens per second, so 20 tokens take ~0.38 s from first to last. A
    # gateway that buffers the response would deliver them all at once.
    tokens = 20
    body = {"model": demo.model, "messages": MESSAGES, "stream": True, "max_tokens": tokens}
    response = stream_chat(demo.client_ns, demo.api_url, demo.api_key, body)
    assert response.status == 200, str(response)
    content_times = [
        t for t, data in response.events
        if data != "[DONE]" and (c := json.loads(data))["choices"] and c["choices"][0]["delta"].get("content")
    ]
    assert len(content_times) == tokens
    spread = content_times[-1] - content_times[0]
    assert spread >= 0.2, (
        f"all {tokens} tokens arrived within {spread:.3f} s: the stream was buffered, not passed through "
        f"(arrival times {[round(t, 3) for t in content_times]})"
    )
    assert _content(_chunks(response.events)) == sim_text(tokens)


def test_models_lists_both_models(demo: Demo) -> None:
    response = http_request(demo.client_ns, "GET", demo.api_url + "/v1/models", headers=bearer(demo.api_key))
    assert response.status == 200, str(response)
    assert response.header("X-Request-Id")
    listing = response.json()
    assert listing["object"] == "list"
    ids = {m["id"] for m in listing["data"]}
    assert {"popgate-sim-small", "popgate-sim-large"} <= ids, ids


_OPENAI_SDK_SCRIPT = r"""
import json, sys
from openai import OpenAI
a = json.loads(sys.argv[1])
client = OpenAI(base_url=a["base_url"], api_key=a["api_key"], timeout=10, max_retries=0)
plain = client.chat.completions.create(model=a["model"], messages=a["messages"])
stream = client.chat.completions.create(model=a["model"], messages=a["messages"], stream=True,
                                        stream_options={"include_usage": True})
pieces, usage = [], None
for chunk in stream:
    for choice in chunk.choices:
        pieces.append(choice.delta.content or "")
    if chunk.usage:
        usage = chunk.usage.model_dump()
print(json.dumps({"plain": plain.choices[0].message.content, "plain_usage": plain.usage.model_dump(),
                  "streamed": "".join(pieces), "stream_usage": usage}))
"""


def test_official_openai_sdk_works_unmodified(demo: Demo) -> None:
    try:
        import openai  # noqa: F401  (the script imports it inside the namespace; this only checks it is there)
    except ImportError:
        openai = None
    require(openai is not None, "the openai package is not installed (`make deps`)")
    out = ns_python(
        demo.client_ns,
        _OPENAI_SDK_SCRIPT,
        {"base_url": demo.api_url + "/v1", "api_key": demo.api_key, "model": demo.model, "messages": MESSAGES},
        timeout=60,
    )
    assert out["plain"] == sim_text()
    assert out["streamed"] == sim_text()
    assert out["plain_usage"]["prompt_tokens"] == sim_prompt_tokens(MESSAGES)
    assert out["stream_usage"]["completion_tokens"] == DEFAULT_COMPLETION_TOKENS


_PIPELINE_SCRIPT = r"""
import json, socket, sys
a = json.loads(sys.argv[1])
s = socket.create_connection((a["host"], a["port"]), timeout=10)
s.sendall(a["requests"].encode())
received = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    received += chunk
print(json.dumps(received.decode("latin-1")))
"""


def _split_responses(text: str) -> list[tuple[int, str]]:
    """HTTP/1.1 responses one after another, framed by Content-Length or chunked: (status, body) each."""
    responses = []
    while text:
        head, _, rest = text.partition("\r\n\r\n")
        lines = head.split("\r\n")
        fields = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
        if fields.get("transfer-encoding") == "chunked":
            body = ""
            while True:
                size_line, _, rest = rest.partition("\r\n")
                size = int(size_line, 16)
                body, rest = body + rest[:size], rest[size + 2:]
                if size == 0:
                    break
        else:
            length = int(fields["content-length"])
            body, rest = rest[:length], rest[length:]
        responses.append((int(lines[0].split(" ", 2)[1]), body))
        text = rest
    return responses


def test_pipelined_requests_are_answered_in_order(demo: Demo) -> None:
    # HTTP/1.1 lets a client send its next requests before the first is answered: a proxied one, a
    # refused one, one the gateway answers itself, and a last proxied one, all in one write.
    host, port = demo.api_url.split("//")[1].split(":")
    body = json.dumps({"model": demo.model, "messages": MESSAGES, "max_tokens": 3})

    def request(method: str, path: str, payload: str = "", last: bool = False) -> str:
        return (f"{method} {path} HTTP/1.1\r\nHost: pop\r\nAuthorization: Bearer {demo.api_key}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
                f"{'Connection: close' + chr(13) + chr(10) if last else ''}\r\n{payload}")

    requests = (request("POST", "/v1/chat/completions", body) + request("GET", "/v1/nowhere")
                + request("GET", "/v1/models") + request("POST", "/v1/chat/completions", body, last=True))
    received = ns_python(demo.client_ns, _PIPELINE_SCRIPT, {"host": host, "port": int(port), "requests": requests},
                         timeout=30)
    answers = _split_responses(received)
    assert [status for status, _ in answers] == [200, 404, 200, 200], received
    assert json.loads(answers[0][1])["choices"][0]["message"]["content"] == sim_text(3)
    assert json.loads(answers[1][1])["error"]["code"] == "unknown_url"
    assert json.loads(answers[2][1])["object"] == "list"
    assert json.loads(answers[3][1])["usage"]["completion_tokens"] == 3
