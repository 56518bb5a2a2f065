"""A peer must present an API key of its own tenant; anything else is 401 in OpenAI's error shape."""

from __future__ import annotations

from harness.demo import Demo
from harness.http import Response, bearer, chat, http_request

MESSAGES = [{"role": "user", "content": "hello"}]


def _assert_invalid_api_key(response: Response) -> None:
    assert response.status == 401, str(response)
    assert response.header("X-Request-Id"), f"no X-Request-Id on the 401: {response.headers}"
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "invalid_api_key"
    assert isinstance(error["message"], str) and error["message"]


def test_missing_key_is_401(demo: Demo) -> None:
    response = http_request(demo.client_ns, "POST", demo.api_url + "/v1/chat/completions",
                            json_body={"model": demo.model, "messages": MESSAGES})
    _assert_invalid_api_key(response)


def test_missing_key_on_models_is_401(demo: Demo) -> None:
    _assert_invalid_api_key(http_request(demo.client_ns, "GET", demo.api_url + "/v1/models"))


def test_garbage_key_is_401(demo: Demo) -> None:
    _assert_invalid_api_key(chat(demo.client_ns, demo, MESSAGES, key="not-a-key"))


def test_well_formed_but_unknown_key_is_401(demo: Demo) -> None:
    _assert_invalid_api_key(chat(demo.client_ns, demo, MESSAGES, key="popk_0123456789abcdef_" + "ab" * 32))


def test_other_tenants_key_from_this_peer_is_401(demo: Demo) -> None:
    demo.popctl_ok("tenant", "add", "globex")
    other_key = demo.popctl_ok("key", "create", "--tenant", "globex").stdout.strip()
    assert other_key.startswith("popk_")
    _assert_invalid_api_key(chat(demo.client_ns, demo, MESSAGES, key=other_key))
    # The same request with acme's own key goes through: it is the key's tenant that was refused.
    assert chat(demo.client_ns, demo, MESSAGES).status == 200


def test_non_bearer_authorization_is_401(demo: Demo) -> None:
    response = http_request(demo.client_ns, "GET", demo.api_url + "/v1/models",
                            headers={"Authorization": f"Basic {demo.api_key}"})
    _assert_invalid_api_key(response)
