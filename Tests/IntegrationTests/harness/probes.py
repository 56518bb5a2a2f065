"""Raw TCP from inside a namespace: what a connection gets back, and when requests stop being answered."""

from __future__ import annotations

from harness.demo import Demo
from harness.http import split_url
from harness.processes import ns_python


_SILENCE_SCRIPT = r"""
import json, socket, sys, time
a = json.loads(sys.argv[1])
start = time.monotonic()
try:
    s = socket.create_connection((a["host"], a["port"]), timeout=a["connect_timeout"])
except OSError as e:
    print(json.dumps({"outcome": "connect failed: %s: %s" % (type(e).__name__, e), "received": 0, "preview": "",
                      "elapsed": time.monotonic() - start}))
    sys.exit(0)
if a["send"]:
    s.sendall(a["send"].encode())
received = b""
deadline = time.monotonic() + a["read_timeout"]
while True:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        outcome = "timeout"
        break
    s.settimeout(remaining)
    try:
        chunk = s.recv(65536)
    except socket.timeout:
        outcome = "timeout"
        break
    except ConnectionResetError:
        outcome = "reset"
        break
    if not chunk:
        outcome = "eof"
        break
    received += chunk
s.close()
print(json.dumps({"outcome": outcome, "received": len(received), "preview": received[:300].decode("latin-1"),
                  "elapsed": time.monotonic() - start}))
"""


def probe_silence(ns: str, url: str, send: str, *, connect_timeout: float = 5, read_timeout: float = 20) -> dict:
    """Connects from `ns`, sends `send` (may be empty), and reads until EOF, reset or timeout.

    Returns {"outcome": "eof"|"reset"|"timeout"|"connect failed: …", "received": bytes, "preview", "elapsed"}.
    """
    host, port, _ = split_url(url)
    args = {"host": host, "port": port, "send": send, "connect_timeout": connect_timeout, "read_timeout": read_timeout}
    return ns_python(ns, _SILENCE_SCRIPT, args, timeout=connect_timeout + read_timeout + 15)


# Polls from inside a namespace until a request gets no HTTP response, or the deadline (CLOCK_MONOTONIC, shared by
# every namespace) passes. It asks for the model list, which answers in milliseconds, so a slow completion is
# never mistaken for a cut-off; a working tunnel connects in well under the per-request timeout.
_CUT_OFF_SCRIPT = r"""
import http.client, json, sys, time
a = json.loads(sys.argv[1])
last = None
while True:
    now = time.monotonic()
    if now >= a["deadline"]:
        print(json.dumps({"stopped_after": None, "last": last}))
        break
    try:
        conn = http.client.HTTPConnection(a["host"], a["port"],
                                          timeout=max(0.05, min(a["request_timeout"], a["deadline"] - now)))
        conn.request("GET", "/v1/models", headers={"Authorization": "Bearer " + a["key"]})
        resp = conn.getresponse()
        resp.read()
        conn.close()
        last = "HTTP %d" % resp.status
    except Exception as e:
        print(json.dumps({"stopped_after": time.monotonic() - a["since"], "last": last,
                          "error": "%s: %s" % (type(e).__name__, e)}))
        break
    time.sleep(0.05)
"""


def seconds_until_cut_off(ns: str, demo: Demo, *, since: float, within: float,
                          request_timeout: float = 0.25) -> float | None:
    """Seconds from `since` (time.monotonic()) until requests from `ns` stopped getting answers, or None if they
    were still answered `within` seconds after `since`."""
    host, port, _ = split_url(demo.api_url)  # also http://[IPv6]:PORT
    result = ns_python(
        ns, _CUT_OFF_SCRIPT,
        {"host": host, "port": port, "key": demo.api_key, "since": since, "deadline": since + within,
         "request_timeout": request_timeout},
        timeout=within + 20,
    )
    return result["stopped_after"]
