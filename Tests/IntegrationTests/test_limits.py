"""Limits per API key and tier, and per peer, against the demo (provisioning/demo.sh sets them small):

  [limits] max_streams_per_peer = 6, slow = { requests_per_minute = 20, tokens_per_minute = 3000 }

Each test that spends an allowance creates its own slow key, so the tests neither depend on nor disturb each
other's buckets. A refusal is a 429 in OpenAI's shape with Retry-After; the tokens a request used are read
from the worker's usage, also when the gateway had to ask for it on the client's behalf.
"""

from __future__ import annotations

import json
import re
import threading

from harness.demo import Demo
from harness.http import bearer, http_request, stream_chat
from harness.processes import ns_python, wait_for

MODEL = "popgate-sim-small"

_BURST_SCRIPT = r"""
import http.client, json, sys
a = json.loads(sys.argv[1])
conn = http.client.HTTPConnection(a["host"], a["port"], timeout=10)
out = []
for i in range(a["count"]):
    conn.request("GET", "/v1/models", headers=a["headers"])
    resp = conn.getresponse()
    body = resp.read()
    out.append({"status": resp.status, "retry_after": resp.getheader("Retry-After"),
                "limit": resp.getheader("x-ratelimit-limit-requests"), "body": body.decode()})
print(json.dumps(out))
"""


def _slow_key(demo: Demo) -> str:
    return demo.popctl_ok("key", "create", "--tenant", demo.tenant, "--tier", "slow").stdout.strip()


def _burst(demo: Demo, key: str, count: int, tier: str | None = None) -> list[dict]:
    host, port = demo.api_url.split("//")[1].split(":")
    headers = bearer(key)
    if tier:
        headers["X-Siati-Tier"] = tier
    return ns_python(demo.client_ns, _BURST_SCRIPT, {"host": host, "port": int(port), "count": count,
                                                    "headers": headers}, timeout=60)


def test_a_keys_requests_per_minute_in_a_tier_are_limited_with_retry_after(demo: Demo) -> None:
    key = _slow_key(demo)
    replies = _burst(demo, key, 21)
    assert [r["status"] for r in replies[:20]] == [200] * 20, replies[:20]
    refused = replies[20]
    assert refused["status"] == 429, refused
    error = json.loads(refused["body"])["error"]
    assert error["code"] == "rate_limit_exceeded" and error["type"] == "requests", error
    assert "slow tier" in error["message"] and "20" in error["message"], error
    # 20 a minute refill one every 3 s.
    assert refused["retry_after"] is not None and 1 <= int(refused["retry_after"]) <= 3, refused
    assert refused["limit"] == "20", refused
    # The same key in another tier has an allowance of its own.
    assert [r["status"] for r in _burst(demo, key, 3, tier="fast")] == [200] * 3


def test_a_key_created_with_its_own_limit_is_held_to_it(demo: Demo) -> None:
    key = demo.popctl_ok("key", "create", "--tenant", demo.tenant, "--tier", "slow",
                         "--requests-per-minute", "3").stdout.strip()
    replies = _burst(demo, key, 4)
    assert [r["status"] for r in replies] == [200, 200, 200, 429], replies
    assert replies[3]["limit"] == "3", replies[3]
    assert "limit 3" in json.loads(replies[3]["body"])["error"]["message"], replies[3]


def test_tokens_are_counted_from_usage_and_a_key_over_its_tokens_waits(demo: Demo) -> None:
    key = _slow_key(demo)
    words = " ".join(["token"] * 3200)
    first = http_request(demo.client_ns, "POST", demo.api_url + "/v1/embeddings", headers=bearer(key),
                         json_body={"model": MODEL, "input": words})
    assert first.status == 200, str(first)
    assert first.json()["usage"]["prompt_tokens"] >= 3000, first.json()["usage"]
    second = http_request(demo.client_ns, "POST", demo.api_url + "/v1/embeddings", headers=bearer(key),
                          json_body={"model": MODEL, "input": "one more"})
    assert second.status == 429, str(second)
    assert second.json()["error"]["type"] == "tokens", str(second)
    # A debt of ~200 tokens at 3000 a minute (50 a second) refills in a few seconds.
    assert 1 <= int(second.header("Retry-After") or "0") <= 10, str(second)


def test_a_peer_has_at_most_six_requests_in_flight(demo: Demo, tmp_path) -> None:
    # The demo key's tier (fast) streams from sim-big: 150 tokens at 50/s take 3 s.
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hello"}], "stream": True, "max_tokens": 150}
    results: list = []
    threads = [
        threading.Thread(target=lambda i=i: results.append(
            stream_chat(demo.client_ns, demo.api_url, demo.api_key, body, mark=tmp_path / f"begun-{i}")))
        for i in range(6)
    ]
    for thread in threads:
        thread.start()
    try:
        assert wait_for(lambda: all((tmp_path / f"begun-{i}").exists() for i in range(6)), timeout=15, interval=0.02)
        seventh = http_request(demo.client_ns, "GET", demo.api_url + "/v1/models", headers=bearer(demo.api_key))
        assert seventh.status == 429, str(seventh)
        assert seventh.json()["error"]["code"] == "too_many_concurrent_requests", str(seventh)
        assert seventh.header("Retry-After") == "1"
    finally:
        for thread in threads:
            thread.join(timeout=30)
    assert [r.status for r in results] == [200] * 6
    # Once they have finished, the peer may ask again.
    assert http_request(demo.client_ns, "GET", demo.api_url + "/v1/models", headers=bearer(demo.api_key)).status == 200


def _tokens_logged(demo: Demo, request_id: str) -> tuple[str, str]:
    pattern = re.compile(rf"request\.id={re.escape(request_id)} .*request served.*")
    found: list[str] = []
    log = demo.demo_dir / "logs" / "popgated.log"
    assert wait_for(lambda: found.extend(pattern.findall(log.read_text(errors="replace"))) or found, timeout=5)
    prompt = re.search(r"tokens\.prompt=(\S+)", found[0])
    completion = re.search(r"tokens\.completion=(\S+)", found[0])
    assert prompt and completion, found[0]
    return prompt.group(1), completion.group(1)


def test_a_stream_that_did_not_ask_for_usage_is_counted_but_never_sees_the_usage_chunk(demo: Demo) -> None:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "count my tokens"}], "stream": True,
            "max_tokens": 5}
    response = stream_chat(demo.client_ns, demo.api_url, demo.api_key, body)
    assert response.status == 200, str(response)
    chunks = [json.loads(data) for _, data in response.events if data != "[DONE]"]
    assert chunks and all(chunk["choices"] for chunk in chunks), chunks
    assert all(chunk.get("usage") is None for chunk in chunks), chunks
    assert response.events[-1][1] == "[DONE]"
    assert _tokens_logged(demo, response.header("X-Request-Id")) == ("4", "5")


def test_a_stream_that_asked_for_usage_gets_it(demo: Demo) -> None:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "count my tokens"}], "stream": True,
            "max_tokens": 5, "stream_options": {"include_usage": True}}
    response = stream_chat(demo.client_ns, demo.api_url, demo.api_key, body)
    assert response.status == 200, str(response)
    chunks = [json.loads(data) for _, data in response.events if data != "[DONE]"]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 5, chunks[-1]
    assert _tokens_logged(demo, response.header("X-Request-Id")) == ("4", "5")


def test_a_plain_response_is_counted_from_its_usage(demo: Demo) -> None:
    response = http_request(demo.client_ns, "POST", demo.api_url + "/v1/chat/completions", headers=bearer(demo.api_key),
                            json_body={"model": MODEL, "messages": [{"role": "user", "content": "a b c"}],
                                       "max_tokens": 3})
    assert response.status == 200, str(response)
    assert _tokens_logged(demo, response.header("X-Request-Id")) == ("4", "3")


def test_a_response_of_megabytes_is_counted_from_the_usage_at_its_end(demo: Demo) -> None:
    response = http_request(demo.client_ns, "POST", demo.api_url + "/v1/embeddings", headers=bearer(demo.api_key),
                            json_body={"model": MODEL, "input": ["word"] * 12000}, timeout=60)
    assert response.status == 200, str(response)[:500]
    assert len(response.body) > 1 << 20, len(response.body)
    assert _tokens_logged(demo, response.header("X-Request-Id")) == ("12000", "0")
