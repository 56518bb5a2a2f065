"""The official `openai` Python package, unmodified, through the WireGuard tunnel: every endpoint the gateway
serves, and the SDK's own exception types for the gateway's errors (401, 404, 400, 429)."""

from __future__ import annotations

from harness.demo import Demo
from harness.processes import ns_python, require
from harness.simulator import DEFAULT_COMPLETION_TOKENS, sim_text

_SDK_SCRIPT = r"""
import json, sys
import openai
a = json.loads(sys.argv[1])
client = openai.OpenAI(base_url=a["base_url"], api_key=a["api_key"], max_retries=0, timeout=30)
out = {}
messages = [{"role": "user", "content": "hello"}]

pieces, chunks_without_choices = [], 0
for chunk in client.chat.completions.create(model=a["model"], messages=messages, stream=True):
    if not chunk.choices:
        chunks_without_choices += 1
    for choice in chunk.choices:
        pieces.append(choice.delta.content or "")
out["streamed"] = "".join(pieces)
out["chunks_without_choices"] = chunks_without_choices

embedding = client.embeddings.create(model=a["model"], input=["one two three", "four"])
out["embeddings"] = [len(item.embedding) for item in embedding.data]
out["embedding_tokens"] = embedding.usage.prompt_tokens

out["models"] = sorted(model.id for model in client.models.list())

response = client.responses.create(model=a["model"], input="hello")
out["response_text"] = response.output_text
out["response_usage"] = [response.usage.input_tokens, response.usage.output_tokens]
deltas, completed = [], None
for event in client.responses.create(model=a["model"], input="hello", stream=True):
    if event.type == "response.output_text.delta":
        deltas.append(event.delta)
    elif event.type == "response.completed":
        completed = event.response.usage.output_tokens
out["response_streamed"] = "".join(deltas)
out["response_stream_tokens"] = completed

def error_of(call):
    try:
        call()
    except openai.APIStatusError as error:
        return [type(error).__name__, error.status_code, (error.body or {}).get("code"),
                error.response.headers.get("retry-after")]
    return None

bad = openai.OpenAI(base_url=a["base_url"], api_key="pgk_wrong_key", max_retries=0)
out["bad_key"] = error_of(lambda: bad.models.list())
out["unknown_model"] = error_of(lambda: client.chat.completions.create(model="no-such-model", messages=messages))
out["unknown_tier"] = error_of(lambda: client.chat.completions.create(
    model=a["model"], messages=messages, extra_headers={"X-Siati-Tier": "warp"}))
slow = openai.OpenAI(base_url=a["base_url"], api_key=a["slow_key"], max_retries=0)
for _ in range(20):
    slow.models.list()
out["rate_limited"] = error_of(lambda: slow.models.list())
print(json.dumps(out))
"""


def test_the_openai_sdk_uses_every_endpoint_and_raises_its_own_errors(demo: Demo) -> None:
    try:
        import openai  # noqa: F401  (the script imports it inside the namespace; this only checks it is there)
    except ImportError:
        openai = None
    require(openai is not None, "the openai package is not installed (`make deps`)")
    slow_key = demo.popctl_ok("key", "create", "--tenant", demo.tenant, "--tier", "slow").stdout.strip()
    out = ns_python(demo.client_ns, _SDK_SCRIPT,
                    {"base_url": demo.api_url + "/v1", "api_key": demo.api_key, "model": demo.model,
                     "slow_key": slow_key}, timeout=120)
    assert out["streamed"] == sim_text()
    # The gateway asked for usage on the client's behalf; the SDK never saw that chunk.
    assert out["chunks_without_choices"] == 0
    assert len(out["embeddings"]) == 2 and out["embeddings"][0] > 0 and out["embedding_tokens"] == 4
    assert "popgate-sim-small" in out["models"]
    assert out["response_text"] == sim_text() and out["response_usage"][1] == DEFAULT_COMPLETION_TOKENS
    assert out["response_streamed"] == sim_text() and out["response_stream_tokens"] == DEFAULT_COMPLETION_TOKENS
    assert out["bad_key"][:3] == ["AuthenticationError", 401, "invalid_api_key"], out["bad_key"]
    assert out["unknown_model"][:3] == ["NotFoundError", 404, "model_not_found"], out["unknown_model"]
    assert out["unknown_tier"][:3] == ["BadRequestError", 400, "invalid_tier"], out["unknown_tier"]
    assert out["rate_limited"][:3] == ["RateLimitError", 429, "rate_limit_exceeded"], out["rate_limited"]
    assert int(out["rate_limited"][3]) >= 1, out["rate_limited"]
