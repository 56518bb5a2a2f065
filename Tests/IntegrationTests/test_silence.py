"""Whatever is not a live peer gets nothing: not a byte, not a reset.

Two layers, each tested on its own. popnetd's nftables policy drops everything from pg-outside (it sits on the
PoP's uplink with a route to the tunnel network) before it reaches any socket: a connection attempt simply times
out, with no RST and no ICMP error. Behind it, popgated's listener closes any connection from an address that is
not a live peer without sending a byte (FIN, drain, never RST); that is reached here from inside the PoP, over
loopback, which the policy lets through.
"""

from __future__ import annotations

import pytest

from harness.demo import Demo
from harness.probes import probe_silence

REQUEST = (
    "POST /v1/chat/completions HTTP/1.1\r\n"
    "Host: 10.77.0.1:8080\r\n"
    "Authorization: Bearer popk_0000000000000000_" + "0" * 64 + "\r\n"
    "Content-Type: application/json\r\n"
    "Content-Length: 2\r\n"
    "\r\n"
    "{}"
)


@pytest.mark.parametrize("target", ["http://10.77.0.1:8080", "http://198.51.100.1:8080", "http://198.51.100.1:22"])
def test_an_outsider_gets_no_answer_at_all(demo: Demo, target: str) -> None:
    # A timeout is the only outcome with nothing sent back: an RST would be "refused", an ICMP error "unreachable".
    result = probe_silence(demo.outside_ns, target, REQUEST, connect_timeout=3, read_timeout=1)
    assert result["outcome"] == "connect failed: TimeoutError: timed out", result
    assert result["received"] == 0


def _assert_silent_close(result: dict) -> None:
    assert not result["outcome"].startswith("connect failed"), (
        f"could not reach the listener at all ({result['outcome']}); this test needs it reachable"
    )
    assert result["received"] == 0, f"a non-peer received {result['received']} bytes: {result['preview']!r}"
    assert result["outcome"] == "eof", f"expected a clean close (FIN), got {result['outcome']} after " \
        f"{result['elapsed']:.1f} s"


def test_a_non_peer_request_gets_zero_bytes_and_a_clean_close(demo: Demo) -> None:
    _assert_silent_close(probe_silence(demo.pop_ns, demo.api_url, REQUEST))


def test_a_non_peer_that_sends_nothing_gets_zero_bytes_and_a_clean_close(demo: Demo) -> None:
    _assert_silent_close(probe_silence(demo.pop_ns, demo.api_url, ""))
