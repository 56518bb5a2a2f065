"""popgated's Prometheus metrics: served to the operator on the management network (pg-ops, through the
firewall's management rule), never on the tunnel address, and valid for `promtool check metrics`.

Asserted here: requests by tenant, tier, backend, endpoint and status, the latency and time-to-first-token
histograms, tokens, silent closes at accept, backend health and load (copied from the router's board at each
scrape), active streams.
"""

from __future__ import annotations

import shutil

import pytest

from harness.demo import Demo
from harness.http import chat, http_request
from harness.metrics import parse_samples, sample, scrape
from harness.probes import probe_silence
from harness.processes import describe, ns_run, require, run, wait_for

MESSAGES = [{"role": "user", "content": "hello"}]
# demo.sh: four simulators; the small ones report fixed load figures.
BACKENDS = ("sim-big", "sim-a", "sim-b", "sim-c")
REPORTED_LOAD = {"sim-a": (2, 0.1), "sim-b": (1, 0.6), "sim-c": (2, 0.3)}

def test_the_operator_reads_metrics_that_promtool_accepts(demo: Demo, tmp_path) -> None:
    require(shutil.which("promtool"), "promtool is not installed (`make deps` installs Debian's prometheus package)")
    assert chat(demo.client_ns, demo, MESSAGES).status == 200
    assert chat(demo.client_ns, demo, MESSAGES, stream=True).status == 200
    text = scrape(demo)
    for family in ("popgate_requests_total", "popgate_request_duration_seconds", "popgate_time_to_first_token_seconds",
                   "popgate_tokens_total", "popgate_silent_closes_total", "popgate_active_streams", "popgate_backend_up",
                   "popgate_backend_queue_depth", "popgate_backend_gpu_pressure"):
        assert f"# TYPE {family} " in text, f"{family} missing:\n{text}"
    checked = run(["promtool", "check", "metrics"], input=text, timeout=30)
    assert checked.returncode == 0, f"{describe(checked)}\n--- scraped\n{text}"
    (tmp_path / "metrics.txt").write_text(text)  # kept by pytest for a look after a failure


def test_backend_health_and_load_are_the_routers_view(demo: Demo) -> None:
    def all_up() -> bool:
        samples = parse_samples(scrape(demo))
        return all(sample(samples, "popgate_backend_up", backend=b) == 1 for b in BACKENDS)

    assert wait_for(all_up, timeout=10), scrape(demo)
    samples = parse_samples(scrape(demo))
    for backend, (queue, pressure) in REPORTED_LOAD.items():
        assert sample(samples, "popgate_backend_queue_depth", backend=backend) == queue, backend
        assert sample(samples, "popgate_backend_gpu_pressure", backend=backend) == pytest.approx(pressure), backend
    assert sample(samples, "popgate_active_streams") == 0


def test_a_non_peer_connection_counts_as_a_silent_close(demo: Demo) -> None:
    def non_peer_closes() -> float:
        value = sample(parse_samples(scrape(demo)), "popgate_silent_closes_total", reason="non_peer")
        assert value is not None, "popgate_silent_closes_total{reason=\"non_peer\"} is missing"
        return value

    before = non_peer_closes()
    # From inside the PoP (a local source address, never a peer): the listener itself closes it, as in
    # test_silence.py; an outsider on the uplink is dropped by nftables before any socket sees it.
    result = probe_silence(demo.pop_ns, demo.api_url, "", read_timeout=5)
    assert result["received"] == 0 and result["outcome"] == "eof", result
    assert wait_for(lambda: non_peer_closes() >= before + 1, timeout=5), (before, non_peer_closes())


def test_only_the_metrics_path_is_served(demo: Demo) -> None:
    base = demo.env["METRICS_URL"].removesuffix("/metrics")
    for path in ("/", "/metrics/", "/v1/models"):
        response = http_request(demo.env["OPS_NS"], "GET", base + path, timeout=5)
        assert response.status == 404, (path, str(response))


def test_metrics_are_on_the_management_address_only(demo: Demo) -> None:
    port = demo.env["METRICS_URL"].rsplit(":", 1)[1].split("/")[0]
    listening = ns_run(demo.pop_ns, ["ss", "-Hltn", f"sport = :{port}"], timeout=10)
    assert listening.returncode == 0, describe(listening)
    local = {line.split()[3] for line in listening.stdout.splitlines() if line.strip()}
    management = demo.env["METRICS_URL"].removeprefix("http://").removesuffix("/metrics")
    assert local == {management}, f"metrics listeners: {local}"
    # A peer aiming at the metrics port on the tunnel address, and an outsider on the uplink: dropped, no answer.
    tunnel_address = demo.api_url.removeprefix("http://").rsplit(":", 1)[0]
    for ns, target in ((demo.client_ns, f"http://{tunnel_address}:{port}"),
                       (demo.outside_ns, f"http://{demo.env['POP_UPLINK_ADDR']}:{port}")):
        result = probe_silence(ns, target, "", connect_timeout=2, read_timeout=1)
        assert result["outcome"] == "connect failed: TimeoutError: timed out", (ns, target, result)
        assert result["received"] == 0


def test_each_request_is_counted_with_its_tokens(demo: Demo) -> None:
    labels = {"tenant": demo.tenant, "tier": "fast", "backend": "sim-big", "endpoint": "/v1/chat/completions",
              "status": "200"}
    before = parse_samples(scrape(demo))
    assert chat(demo.client_ns, demo, MESSAGES).status == 200
    assert chat(demo.client_ns, demo, MESSAGES, stream=True).status == 200
    bad_tier = http_request(demo.client_ns, "POST", demo.api_url + "/v1/chat/completions",
                            headers={"Authorization": f"Bearer {demo.api_key}", "X-Siati-Tier": "warp"},
                            json_body={"model": demo.model, "messages": MESSAGES})
    assert bad_tier.status == 400
    after = parse_samples(scrape(demo))

    def grew(name: str, **labels: str) -> float:
        return (sample(after, name, **labels) or 0) - (sample(before, name, **labels) or 0)

    assert grew("popgate_requests_total", **labels) == 2
    assert grew("popgate_requests_total", tenant=demo.tenant, tier="unknown", backend="none",
                endpoint="/v1/chat/completions", status="400") == 1
    # The simulator's prompt is 2 tokens ("hello" and one per message) and its completion 12, for each request:
    # the streamed one's usage came from the chunk the gateway asked for.
    assert grew("popgate_tokens_total", tenant=demo.tenant, tier="fast", kind="prompt") == 4
    assert grew("popgate_tokens_total", tenant=demo.tenant, tier="fast", kind="completion") == 24
    assert grew("popgate_time_to_first_token_seconds_count", tier="fast", endpoint="/v1/chat/completions") == 2
    assert grew("popgate_request_duration_seconds_count", tier="fast", endpoint="/v1/chat/completions") == 2
    assert grew("popgate_request_duration_seconds_count", tier="unknown", endpoint="/v1/chat/completions") == 1
