"""Whatever is not a live peer gets nothing: not a byte, not a reset; just a quiet end of the connection.

pg-outside sits on the PoP's uplink with a route to the tunnel network, so its packets really reach popgated's
listener (the PoP's kernel accepts packets for its own address on any interface); the gateway must send zero
bytes, drain, and close with FIN.
"""

from __future__ import annotations

from popgate_harness import Demo, probe_silence

REQUEST = (
    "POST /v1/chat/completions HTTP/1.1\r\n"
    "Host: 10.77.0.1:8080\r\n"
    "Authorization: Bearer popk_0000000000000000_" + "0" * 64 + "\r\n"
    "Content-Type: application/json\r\n"
    "Content-Length: 2\r\n"
    "\r\n"
    "{}"
)


def _assert_silent_close(result: dict) -> None:
    assert not result["outcome"].startswith("connect failed"), (
        f"the outsider could not reach the listener at all ({result['outcome']}); this test needs it reachable"
    )
    assert result["received"] == 0, f"the outsider received {result['received']} bytes: {result['preview']!r}"
    assert result["outcome"] == "eof", f"expected a clean close (FIN), got {result['outcome']} after " \
        f"{result['elapsed']:.1f} s"


def test_outsider_request_gets_zero_bytes_and_a_clean_close(demo: Demo) -> None:
    _assert_silent_close(probe_silence(demo.outside_ns, demo.api_url, REQUEST))


def test_outsider_that_sends_nothing_gets_zero_bytes_and_a_clean_close(demo: Demo) -> None:
    _assert_silent_close(probe_silence(demo.outside_ns, demo.api_url, ""))
