"""popgated's Prometheus metrics as the operator reads them: from the management namespace, parsed into samples."""

from __future__ import annotations

import re

from harness.demo import Demo
from harness.http import http_request

_SAMPLE = re.compile(r'^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$')
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """(metric name, label set) → value, for every sample line of a Prometheus text exposition."""
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, labels, value = match.groups()
        samples[(name, frozenset(_LABEL.findall(labels or "")))] = float(value)
    return samples


def sample(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def scrape(demo: Demo) -> str:
    """GET /metrics from the operator's namespace, checking the response's shape."""
    response = http_request(demo.env["OPS_NS"], "GET", demo.env["METRICS_URL"], timeout=5)
    assert response.status == 200, str(response)
    assert (response.header("Content-Type") or "").startswith("text/plain; version=0.0.4"), response.headers
    return response.body.decode()
