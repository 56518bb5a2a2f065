"""Waiting, inside a namespace, for a Prometheus page to show given values.

A wait that starts a helper process per reading cannot see a state that lasts a second on a busy machine (each
reading is a new interpreter, and the engine under test takes both cores); this one polls from one process. Not too
often: vLLM renders its page in its API server's event loop, the one that also relays its answers, and on two busy
cores each rendering is tens of milliseconds of it.
"""

from __future__ import annotations

from typing import Mapping

from harness.processes import ns_python

READ_TIMEOUT = 10  # s for one reading of the page

_WAIT_SCRIPT = r"""
import json, re, sys, time, urllib.request
a = json.loads(sys.argv[1])
SAMPLE = re.compile(r'^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$')
LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')
def reading():
    try:
        text = urllib.request.urlopen(a["url"], timeout=a["read_timeout"]).read().decode()
    except OSError as e:  # a page slow to answer on a busy machine is a reading missed, not the end of the wait
        return "%s: %s" % (type(e).__name__, e)
    found = {}
    for line in text.splitlines():
        match = SAMPLE.match(line)
        if match and not line.startswith("#"):
            name, labels, value = match.groups()
            found[(name, frozenset(LABEL.findall(labels or "")))] = float(value)
    return [found.get((w["name"], frozenset(w["labels"].items()))) for w in a["wanted"]]
want = [w["value"] for w in a["wanted"]]
def holds(now):
    if isinstance(now, str):
        return False
    if a["at_least"]:
        return all(value is not None and value >= wanted for value, wanted in zip(now, want))
    return now == want
seen, deadline = [], time.monotonic() + a["timeout"]
while True:
    now = reading()
    if not seen or seen[-1] != now:
        seen.append(now)
    if holds(now) or time.monotonic() >= deadline:
        break
    time.sleep(a["interval"])
print(json.dumps({"reached": holds(now), "seen": seen}))
"""


def wait_for_samples(ns: str, url: str, wanted: list[tuple[str, Mapping[str, str], float]], *, timeout: float,
                     interval: float = 0.5, at_least: bool = False) -> tuple[bool, list[list[float | None] | str]]:
    """Polls the metrics page at `url` from inside `ns` until every (name, labels, value) of `wanted` holds at once
    (each sample equal to its value, or with `at_least` no less), or `timeout` seconds have passed. Returns whether they held, and each distinct reading in turn (a value per
    wanted sample, None where it was missing; the error instead when the page could not be read)."""
    arguments = {"url": url, "timeout": timeout, "interval": interval, "read_timeout": READ_TIMEOUT, "at_least": at_least,
                 "wanted": [{"name": name, "labels": dict(labels), "value": value} for name, labels, value in wanted]}
    out = ns_python(ns, _WAIT_SCRIPT, arguments, timeout=timeout + READ_TIMEOUT + 30)
    return out["reached"], out["seen"]
