#!/usr/bin/env python3
"""Driver for Benchmarks/gateway-vs-nginx.sh: popgated against NGINX through the same WireGuard tunnel.

Runs in the client namespace the shell script made; popgated, NGINX and the workers run in the PoP namespace
(/proc is shared, so their counters are read from here). For each of RUNS runs, in alternating order:

1. wrk (one thread) for -c64 and -c1: GET /v1/models and a small POST /v1/chat/completions, and -c1 with a
   1 MiB POST /v1/embeddings body; req/s and the p50/p99 wrk reports. At -c1 the worker is also measured
   directly through the tunnel (no proxy), so each proxy's added latency is its p50 minus that; for the chat
   at -c64 too, the ceiling no proxy can pass on this machine (everything but the proxy shares its cores).
2. A streamed chat (SSE) from the worker that generates tokens at a set rate, one request at a time on a new
   connection (timed from the request's first byte): time to the response head, to the first event (the role
   chunk, sent at once), and to the first token (which the worker sends 1/rate after its head).
3. Around every wrk run and every SSE batch: write_bytes and cancelled_write_bytes from /proc/PID/io, and CPU
   time, of popgated and of the NGINX master and its workers.

Medians over runs are printed, with popgate/NGINX ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

MIB = 1 << 20


@dataclass
class Target:
    name: str
    port: int
    stream_port: int
    pids: Callable[[], list[int]]  # (): the processes whose disk writes and CPU count for this target


@dataclass
class Counters:
    write_bytes: int = 0
    cancelled_write_bytes: int = 0
    cpu_seconds: float = 0.0
    context_switches: int = 0  # voluntary and involuntary, all threads
    machine_seconds: float = 0.0  # the whole machine's busy time (client, tunnel, worker, proxy)

    def __sub__(self, other: "Counters") -> "Counters":
        return Counters(self.write_bytes - other.write_bytes,
                        self.cancelled_write_bytes - other.cancelled_write_bytes,
                        self.cpu_seconds - other.cpu_seconds, self.context_switches - other.context_switches,
                        self.machine_seconds - other.machine_seconds)

    def __add__(self, other: "Counters") -> "Counters":
        return Counters(self.write_bytes + other.write_bytes,
                        self.cancelled_write_bytes + other.cancelled_write_bytes,
                        self.cpu_seconds + other.cpu_seconds, self.context_switches + other.context_switches,
                        self.machine_seconds + other.machine_seconds)


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def counters(pids: list[int]) -> Counters:
    total = Counters(machine_seconds=machine_busy_seconds())
    for pid in pids:
        try:
            io = dict(line.split(": ", 1) for line in Path(f"/proc/{pid}/io").read_text().splitlines())
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            switches = 0
            for task in Path(f"/proc/{pid}/task").iterdir():
                for line in (task / "status").read_text().splitlines():
                    if "ctxt_switches:" in line:
                        switches += int(line.split()[1])
        except OSError:
            continue  # a worker that exited; its counts are lost (and a warning would show in NGINX's log)
        total += Counters(int(io["write_bytes"]), int(io["cancelled_write_bytes"]),
                          (int(stat[11]) + int(stat[12])) / CLOCK_TICKS, switches)
    return total


def machine_busy_seconds() -> float:
    """CPU time the whole machine has spent not idle (every process, the kernel's interrupts included)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    bad: int  # non-2xx responses plus socket errors


UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def parse_latency(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"cannot read wrk latency {text!r}")
    return float(match.group(1)) * UNITS[match.group(2)]


def parse_wrk(output: str) -> WrkResult:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50 = parse_latency(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))
    p99 = parse_latency(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    bad = 0
    if match := re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        bad += int(match.group(1))
    if match := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output):
        bad += sum(int(g) for g in match.groups())
    return WrkResult(rps, p50, p99, requests, bad)


@dataclass
class Scenario:
    label: str
    path: str
    connections: int
    script: str | None  # a Lua file name under the work directory, or None for a plain GET
    direct: bool  # also measure the worker without a proxy
    samples: dict[str, list[WrkResult]] = field(default_factory=dict)
    disk: dict[str, Counters] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.dir = Path(args.dir)
        self.lua = self.dir / "lua"
        self.lua.mkdir(exist_ok=True)
        popgated, nginx = args.popgated_pid, args.nginx_pid
        self.targets = [
            Target("popgate", args.popgate, args.popgate, lambda: [popgated]),
            Target("nginx", args.nginx, args.nginx_stream, lambda: [nginx, *children(nginx)]),
        ]
        self.direct = Target("direct", args.direct, args.direct_stream, lambda: [])
        # FLOOR=1: NIO's bare proxy path (Benchmarks/ProxyFloor), measured in the wrk scenarios only.
        floor_pid = args.floor_pid
        self.floor = Target("floor", args.floor, args.floor, lambda: [floor_pid]) if args.floor else None
        self.write_scripts()

    def write_scripts(self) -> None:
        chat = json.dumps({"model": "bench-fast", "max_tokens": 16,
                           "messages": [{"role": "user", "content": "Say hello from the PoP"}]})
        (self.lua / "chat.lua").write_text(lua_post(chat))
        # Exactly 1 MiB of JSON: a model name and one long input string.
        head, tail = '{"model":"bench-fast","input":"', '"}'
        filler = MIB - len(head) - len(tail)
        (self.lua / "embed.lua").write_text(
            'wrk.method = "POST"\n'
            'wrk.headers["Content-Type"] = "application/json"\n'
            f"wrk.body = '{head}' .. string.rep(\"lorem ipsum \", {filler // 12}) .. "
            f"string.rep(\"a\", {filler % 12}) .. '{tail}'\n"
        )

    def wrk(self, target: Target, scenario: Scenario, duration: float,
            sample_upstream: bool = False) -> tuple[WrkResult, Counters]:
        command = ["wrk", "-t1", f"-c{scenario.connections}", f"-d{duration:g}s", "--latency", "--timeout", "10s",
                   "-H", f"Authorization: Bearer {self.args.key}"]
        if scenario.script:
            command += ["-s", str(self.lua / scenario.script)]
        command.append(f"http://{self.args.host}:{target.port}{scenario.path}")
        before = counters(target.pids())
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if sample_upstream:
            time.sleep(duration / 2)
            print(f"   {scenario.label}, mid-run of {target.name}: connections to the worker by owner "
                  f"(idle ones of the other proxy included): {self.upstream_connections()}")
        output, _ = process.communicate(timeout=duration + 60)
        spent = counters(target.pids()) - before
        if process.returncode != 0:
            sys.exit(f"gateway_bench: wrk failed against {target.name}:\n{output}")
        result = parse_wrk(output)
        if result.bad:
            sys.exit(f"gateway_bench: {result.bad} failed requests against {target.name} ({scenario.label}):\n{output}")
        return result, spent

    def upstream_connections(self) -> dict[str, int]:
        """Established connections to the fast worker, by owning process (read in the PoP namespace)."""
        out = subprocess.run(["ip", "netns", "exec", self.args.pop_namespace, "ss", "-Htnp", "state", "established",
                              f"( dport = :{self.args.direct} )"], capture_output=True, text=True).stdout
        owners: dict[str, int] = {}
        for name in re.findall(r'users:\(\("([^"]+)"', out):
            owners[name] = owners.get(name, 0) + 1
        return owners

    def run_scenarios(self, scenarios: list[Scenario]) -> None:
        for scenario in scenarios:
            for target in [*self.targets, *([self.floor] if self.floor else [])]:
                self.wrk(target, scenario, 2)  # warm-up: pools filled, caches warm
        for run in range(self.args.runs):
            for scenario in scenarios:
                order = self.targets if run % 2 == 0 else self.targets[::-1]
                if self.floor:
                    order = [*order, self.floor]
                if scenario.direct:
                    order = [*order, self.direct]
                for target in order:
                    sample = run == 0 and scenario.connections > 1 and target in self.targets
                    result, spent = self.wrk(target, scenario, self.args.duration, sample_upstream=sample)
                    scenario.samples.setdefault(target.name, []).append(result)
                    scenario.disk[target.name] = scenario.disk.get(target.name, Counters()) + spent
                    scenario.requests[target.name] = scenario.requests.get(target.name, 0) + result.requests
            print(f"   run {run + 1}/{self.args.runs} done", flush=True)

    def sse_once(self, target: Target) -> tuple[float, float, float]:
        body = json.dumps({"model": "bench-stream", "stream": True, "max_tokens": 2,
                           "messages": [{"role": "user", "content": "Say hello from the PoP"}]}).encode()
        request = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: {self.args.host}:{target.stream_port}\r\n"
                   f"Authorization: Bearer {self.args.key}\r\nContent-Type: application/json\r\n"
                   f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
        with socket.create_connection((self.args.host, target.stream_port), timeout=10) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            received = b""
            first_byte = first_event = first_token = None
            start = time.perf_counter()
            s.sendall(request)
            while chunk := s.recv(65536):
                now = time.perf_counter()
                received += chunk
                first_byte = first_byte or now
                if first_event is None and b"data: " in received:
                    first_event = now
                if first_token is None and re.search(rb'"content":"[^"]', received):
                    first_token = now
        if not received.startswith(b"HTTP/1.1 200") or b"data: [DONE]" not in received or first_token is None:
            sys.exit(f"gateway_bench: bad stream from {target.name}:\n{received[:1500]!r}")
        return (first_byte - start) * 1000, (first_event - start) * 1000, (first_token - start) * 1000

    def run_sse(self) -> tuple[dict[str, list[tuple[float, float, float]]], dict[str, list[tuple[float, float, float]]],
                                dict[str, Counters]]:
        per_run: dict[str, list[tuple[float, float, float]]] = {}
        pooled: dict[str, list[tuple[float, float, float]]] = {}
        disk: dict[str, Counters] = {}
        targets = [*self.targets, self.direct]
        for target in targets:
            for _ in range(3):
                self.sse_once(target)
        for run in range(self.args.runs):
            order = targets if run % 2 == 0 else [*self.targets[::-1], self.direct]
            for target in order:
                before = counters(target.pids())
                samples = [self.sse_once(target) for _ in range(self.args.sse_requests)]
                disk[target.name] = disk.get(target.name, Counters()) + (counters(target.pids()) - before)
                pooled.setdefault(target.name, []).extend(samples)
                per_run.setdefault(target.name, []).append(tuple(statistics.median(c) for c in zip(*samples)))
        return per_run, pooled, disk


    def idle_memory(self, target: Target, count: int) -> float:
        """KiB of resident memory per idle keep-alive connection: COUNT connections each served one request and
        then left open, the proxy's RSS compared before and after (NGINX: master and workers)."""
        def rss_kib() -> int:
            total = 0
            for pid in target.pids():
                status = Path(f"/proc/{pid}/status").read_text()
                total += int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1))
            return total

        request = (f"GET /v1/models HTTP/1.1\r\nHost: {self.args.host}\r\n"
                   f"Authorization: Bearer {self.args.key}\r\n\r\n").encode()
        before = rss_kib()
        sockets = []
        try:
            for _ in range(count):
                s = socket.create_connection((self.args.host, target.port), timeout=10)
                sockets.append(s)
                s.sendall(request)
                received = b""
                while b"\r\n\r\n" not in received or len(received) < received.index(b"\r\n\r\n") + 4 + int(
                        re.search(rb"(?i)content-length: (\d+)", received).group(1)):
                    chunk = s.recv(65536)
                    if not chunk:
                        sys.exit(f"gateway_bench: {target.name} closed an idle-memory connection early")
                    received += chunk
            time.sleep(1)  # let allocators settle; RSS is sampled, not an event
            after = rss_kib()
        finally:
            for s in sockets:
                s.close()
        return (after - before) / count

    def profile(self, scenario: Scenario) -> None:
        """`perf record` of popgated during one more run of SCENARIO; the flat profile's top goes to stdout."""
        data = self.dir / "popgated.perf.data"
        perf = subprocess.Popen(["perf", "record", "-q", "-F", "999", "-g", "-o", str(data), "-p",
                                 str(self.args.popgated_pid), "--", "sleep", f"{self.args.duration:g}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        self.wrk(self.targets[0], scenario, self.args.duration)
        perf.wait(timeout=60)
        report = subprocess.run(["perf", "report", "-i", str(data), "--no-children", "--stdio", "-g", "none",
                                 "--sort", "dso,symbol", "--percent-limit", "0.7"],
                                capture_output=True, text=True).stdout
        print()
        print(f"-- perf: where popgated spends its CPU under {scenario.label} ({data})")
        for line in report.splitlines():
            if line.strip() and not line.startswith("#"):
                print("   " + line[:150])


def lua_post(body: str) -> str:
    return ('wrk.method = "POST"\n'
            'wrk.headers["Content-Type"] = "application/json"\n'
            f"wrk.body = {json.dumps(body)}\n")


def median(values: list[float]) -> float:
    return statistics.median(values)


def report_wrk(scenarios: list[Scenario]) -> None:
    print()
    print("-- wrk: medians of runs; ratio = popgate / NGINX")
    print(f"   {'scenario':<34} {'':>8}  {'popgate':>9} {'nginx':>9} {'ratio':>6}   {'direct':>8}"
          + (f"   {'floor':>8} {'ratio':>6}" if any("floor" in s.samples for s in scenarios) else ""))
    for s in scenarios:
        slow = median([r.rps for r in s.samples["nginx"]]) < 100
        rows = [("req/s", lambda r: r.rps, "{:9.2f}" if slow else "{:9.0f}"),
                ("p50 ms", lambda r: r.p50_ms, "{:9.2f}"), ("p99 ms", lambda r: r.p99_ms, "{:9.2f}")]
        for i, (what, get, fmt) in enumerate(rows):
            pg = median([get(r) for r in s.samples["popgate"]])
            ng = median([get(r) for r in s.samples["nginx"]])
            direct = f"{median([get(r) for r in s.samples['direct']]):8.2f}" if "direct" in s.samples else f"{'':8}"
            label = s.label if i == 0 else ""
            ratio = pg / ng if ng else float("nan")
            floor = ""
            if "floor" in s.samples:
                fl = median([get(r) for r in s.samples["floor"]])
                floor = f"   {fmt.format(fl)} {fl / ng if ng else float('nan'):6.2f}"
            print(f"   {label:<34} {what:>8}  {fmt.format(pg)} {fmt.format(ng)} {ratio:6.2f}   {direct}{floor}")
        if "direct" in s.samples and s.connections > 1:
            # What a proxy costing nothing would reach: wrk, the tunnel and the worker alone.
            ceiling = median([r.rps for r in s.samples["direct"]]) / median([r.rps for r in s.samples["nginx"]])
            print(f"   {'':<34} {'ceiling':>8}  {ceiling:9.2f} x NGINX's req/s with no proxy at all (the worker "
                  "directly through the tunnel)")
        elif "direct" in s.samples:
            base = median([r.p50_ms for r in s.samples["direct"]])
            pg = median([r.p50_ms for r in s.samples["popgate"]]) - base
            ng = median([r.p50_ms for r in s.samples["nginx"]]) - base
            ratio = f"{pg / ng:6.2f}" if ng > 0 else f"{'-':>6}"
            floor = ""
            if "floor" in s.samples:
                floor = f", floor {median([r.p50_ms for r in s.samples['floor']]) - base:.3f}"
            print(f"   {'':<34} {'added':>8}  {pg:9.3f} {ng:9.3f} {ratio}   (p50 minus the worker's own p50 through "
                  f"the tunnel{floor})")


def report_cost(scenarios: list[Scenario], sse_disk: dict[str, Counters]) -> None:
    print()
    print("-- disk and CPU, summed over all runs: write_bytes (cancelled_write_bytes), CPU µs and context switches "
          "per request")
    for s in scenarios:
        cells = []
        for name in ("popgate", "nginx", *(["floor"] if "floor" in s.disk else [])):
            spent = s.disk[name]
            requests = s.requests[name]
            cells.append(f"{name} {spent.write_bytes:>11,} B ({spent.cancelled_write_bytes:>11,}) "
                         f"{spent.cpu_seconds / requests * 1e6:7.0f} µs "
                         f"{spent.context_switches / requests:5.1f} cs/req")
        print(f"   {s.label:<34} " + "   ".join(cells))
    print()
    print("-- the whole machine's CPU per request (client, WireGuard, worker, kernel and proxy), and what is left "
          "without the proxy's own: the floor no proxy can go under")
    for s in scenarios:
        cells = []
        for name in ("popgate", "nginx", *(["floor"] if "floor" in s.disk else [])):
            spent = s.disk[name]
            requests = s.requests[name]
            machine = spent.machine_seconds / requests * 1e6
            rest = (spent.machine_seconds - spent.cpu_seconds) / requests * 1e6
            cells.append(f"{name} {machine:7.0f} µs, without the proxy {rest:5.0f} µs")
        print(f"   {s.label:<34} " + "   ".join(cells))
    if sse_disk:
        cells = [f"{name} {sse_disk[name].write_bytes:>11,} B ({sse_disk[name].cancelled_write_bytes:>11,})"
                 for name in ("popgate", "nginx")]
        print(f"   {'SSE streams':<34} " + "   ".join(cells))


def report_sse(per_run: dict, pooled: dict, rate: float, requests: int, runs: int) -> None:
    print()
    print(f"-- SSE chat stream ({rate:g} tokens/s, first token due {1000 / rate:.0f} ms after the head): "
          f"medians of {runs} run medians ({requests} streams each), ms; pooled p90 in brackets")
    names = ["popgate", "nginx", "direct"]
    print(f"   {'':<20} " + " ".join(f"{n:>16}" for n in names) + f" {'ratio':>7}")
    for i, what in enumerate(["first byte (head)", "first event", "first token"]):
        values = {n: median([r[i] for r in per_run[n]]) for n in names}
        p90 = {n: statistics.quantiles([p[i] for p in pooled[n]], n=10)[-1] for n in names}
        cells = " ".join(f"{values[n]:8.2f} [{p90[n]:5.1f}]" for n in names)
        print(f"   {what:<20} {cells} {values['popgate'] / values['nginx']:7.2f}")
    for i, what in enumerate(["first byte (head)", "first event", "first token"]):
        base = median([r[i] for r in per_run["direct"]])
        pg = median([r[i] for r in per_run["popgate"]]) - base
        ng = median([r[i] for r in per_run["nginx"]]) - base
        print(f"   added, {what:<13} popgate {pg:6.2f} ms   nginx {ng:6.2f} ms")


def profile_loaded(bench: "Bench", scenarios: list[Scenario]) -> None:
    """The profile is taken under the -c64 POST, the proxy path under load (or what ONLY kept at -c64)."""
    loaded = sorted((s for s in scenarios if s.connections == 64), key=lambda s: "POST" not in s.label)
    if loaded:
        bench.profile(loaded[0])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--popgate", type=int, required=True)
    parser.add_argument("--nginx", type=int, required=True)
    parser.add_argument("--nginx-stream", type=int, required=True)
    parser.add_argument("--direct", type=int, required=True)
    parser.add_argument("--direct-stream", type=int, required=True)
    parser.add_argument("--popgated-pid", type=int, required=True)
    parser.add_argument("--nginx-pid", type=int, required=True)
    parser.add_argument("--pop-namespace", required=True)
    parser.add_argument("--stream-tokens-per-second", type=float, required=True)
    parser.add_argument("--sse-requests", type=int, default=20)
    parser.add_argument("--idle-connections", type=int, default=2000)
    parser.add_argument("--floor", type=int, default=0, help="port of Benchmarks/ProxyFloor, also measured")
    parser.add_argument("--floor-pid", type=int, default=0)
    parser.add_argument("--only", default="", help="run only the wrk scenarios whose label contains this")
    parser.add_argument("--perf", action="store_true", help="profile popgated under -c64 POST load at the end")
    args = parser.parse_args()
    bench = Bench(args)
    nginx_workers = children(args.nginx_pid)
    print(f"popgated pid {args.popgated_pid}; nginx master {args.nginx_pid}, workers {nginx_workers}")

    scenarios = [
        Scenario("GET /v1/models -c64", "/v1/models", 64, None, False),
        Scenario("GET /v1/models -c1", "/v1/models", 1, None, True),
        # Direct at -c64 too: no proxy at all is the most any proxy can approach on this machine.
        Scenario("POST chat (small) -c64", "/v1/chat/completions", 64, "chat.lua", True),
        Scenario("POST chat (small) -c1", "/v1/chat/completions", 1, "chat.lua", True),
        Scenario("POST embeddings 1 MiB body -c1", "/v1/embeddings", 1, "embed.lua", True),
    ]
    if args.only:
        # A quick look at one change: only the matching wrk scenarios, no SSE, idle memory or disk totals.
        scenarios = [s for s in scenarios if args.only in s.label]
        bench.run_scenarios(scenarios)
        report_wrk(scenarios)
        report_cost(scenarios, {})
        if args.perf:
            profile_loaded(bench, scenarios)
        return
    # First, while neither proxy has yet grown its heap under load (memory freed after a load is reused
    # by new connections and would hide their cost).
    idle = {t.name: [bench.idle_memory(t, args.idle_connections) for _ in range(3)] for t in bench.targets}
    total_before = {t.name: counters(t.pids()) for t in bench.targets}
    bench.run_scenarios(scenarios)
    per_run, pooled, sse_disk = bench.run_sse()
    total = {t.name: counters(t.pids()) - total_before[t.name] for t in bench.targets}
    if children(args.nginx_pid) != nginx_workers:
        print(f"   note: NGINX's workers changed during the run ({nginx_workers} -> {children(args.nginx_pid)}); "
              "the disk figures miss what the old ones wrote")

    report_wrk(scenarios)
    report_sse(per_run, pooled, args.stream_tokens_per_second, args.sse_requests, args.runs)
    report_cost(scenarios, sse_disk)
    print()
    # The first round is the one that counts: the later ones reuse the memory the first one's connections freed.
    print(f"-- memory per idle keep-alive connection ({args.idle_connections} connections, each served one request, "
          "measured before the load; first of 3 rounds, then the other two): "
          + ", ".join(f"{name} {values[0]:.1f} KiB ({values[1]:.1f}, {values[2]:.1f})" for name, values in idle.items())
          + f"; popgate / NGINX {idle['popgate'][0] / max(idle['nginx'][0], 0.01):.2f}")
    for name in ("popgate", "nginx"):
        print(f"-- whole run, {name}: {total[name].write_bytes:,} bytes written to disk "
              f"({total[name].cancelled_write_bytes:,} cancelled before write-back), "
              f"{total[name].cpu_seconds:.1f} s CPU")
    if args.perf:
        profile_loaded(bench, scenarios)
    temp = [p for p in (Path(args.dir) / "nginx" / "body").rglob("*") if p.is_file()]
    print(f"   NGINX body temp files left now: {len(temp)} (each spooled body is unlinked once forwarded)")


if __name__ == "__main__":
    main()
