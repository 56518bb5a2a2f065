#!/usr/bin/env python3
"""Driver for Benchmarks/popnetd.sh: popctl-to-device latency and popnetd's memory with many peers.

Runs inside the namespace the shell script made, against a popnetd it starts on wireguard-go. Three parts:

1. One peer added (`popctl peer add`) and removed (`popctl peer revoke`) with few peers present: from the start
   of popctl until the device has acknowledged the change (wireguard-go answered errno=0 to popnetd's `set`,
   seen as popnetd's "device reconciled" log line, timestamped as it arrives on a pipe). The anchor is `wg set`
   of the same kind of change on the same device, from its start to its exit (wg exits on that same
   acknowledgement). Each change is then checked on the device itself, untimed.
2. PEERS peers written to the registry in one transaction; the time until the device holds them all, and
   the resident memory of popnetd and of wireguard-go (the anchor) once it does, and popnetd's CPU use while
   it keeps the device reconciled.
3. Part 1 again with PEERS present.

Observing the device by reading it instead would not do at 10,000 peers: one read takes wireguard-go about
50 ms and holds the device while it does.
The registry is seeded with SQL rather than 10,000 popctl runs: that is setup, not what is measured. With
--seed import the peers come from one `popctl peer import` instead, timed from popctl's start.
"""

from __future__ import annotations

import argparse
import base64
import ipaddress
import os
import queue
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

INTERFACE = "pgnb0"
POOL = ipaddress.ip_network("10.80.0.0/16")
POP_ADDRESS = ipaddress.ip_address("10.80.0.1")
ANCHOR_POOL = ipaddress.ip_network("10.81.0.0/16")  # outside the registry's pool: never popnetd's
SOCKET = Path("/var/run/wireguard") / f"{INTERFACE}.sock"
DEADLINE = 10.0  # seconds; a change not seen by then is a failure, not a slow sample


def uapi_keys() -> set[str]:
    """The public keys (hex) on the device, read over wireguard-go's UAPI socket."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(str(SOCKET))
        s.sendall(b"get=1\n\n")
        chunks = []
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
            if chunk.endswith(b"\n\n"):
                break
    text = b"".join(chunks).decode()
    return {line[len("public_key="):] for line in text.splitlines() if line.startswith("public_key=")}


def check_device(key_hex: str, present: bool) -> None:
    """The device holds (or no longer holds) the key: asserted, not timed."""
    if (key_hex in uapi_keys()) != present:
        sys.exit(f"popnetd_bench: key {key_hex[:8]}… {'absent from' if present else 'still on'} the device")


def new_key() -> tuple[str, str]:
    raw = os.urandom(32)
    return base64.b64encode(raw).decode(), raw.hex()


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.bin = Path(args.bin)
        self.dir = Path(args.dir)
        self.config = self.dir / "popgate.toml"
        self.runs = args.runs
        self.serial = 0
        self.env = dict(os.environ, POPGATE_CONFIG=str(self.config))

    def write_config(self) -> None:
        (self.dir / "keys").mkdir(mode=0o700)
        (self.dir / "clients").mkdir()
        self.config.write_text(f"""[pop]
name = "pop-bench"
[registry]
path = "{self.dir}/registry.sqlite"
[wireguard]
interface = "{INTERFACE}"
private_key_file = "{self.dir}/keys/{INTERFACE}.key"
listen_port = 51999
address = "{POP_ADDRESS}/{POOL.prefixlen}"
pool = "{POOL}"
endpoint = "192.0.2.1:51999"
backend = "userspace"
[gateway]
listen_port = 8080
[netd]
run_directory = "{self.dir}/run"
[firewall]
enabled = false
[[backends]]
name = "unused"
url = "http://192.0.2.2:8000"
models = ["unused"]
""")

    def popctl(self, *args: str) -> None:
        result = subprocess.run([str(self.bin / "popctl"), *args], env=self.env, capture_output=True, text=True,
                                timeout=60)
        if result.returncode != 0:
            sys.exit(f"popnetd_bench: popctl {' '.join(args)} failed: {result.stderr.strip()}")

    def start_popnetd(self) -> subprocess.Popen[bytes]:
        process = subprocess.Popen([str(self.bin / "popnetd"), "--config", str(self.config)], stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, env=self.env)
        self.log_lines: queue.Queue[tuple[float, str]] = queue.Queue()

        def read_log() -> None:
            with open(self.dir / "popnetd.log", "w") as log:
                for raw in process.stdout:
                    line = raw.decode(errors="replace")
                    self.log_lines.put((time.monotonic(), line))
                    log.write(line)

        threading.Thread(target=read_log, daemon=True).start()
        since = time.monotonic()
        while not (self.dir / "run" / "popnetd.sock").exists():
            if process.poll() is not None or time.monotonic() - since > 30:
                sys.exit(f"popnetd_bench: popnetd did not start; see {self.dir}/popnetd.log")
            time.sleep(0.05)
        return process

    def drain_log(self) -> None:
        while not self.log_lines.empty():
            self.log_lines.get_nowait()

    def acknowledged(self, detail: str, since: float) -> float:
        """Seconds from `since` until popnetd logged a reconcile with `detail` (e.g. peers.upserted=1)."""
        while True:
            try:
                stamp, line = self.log_lines.get(timeout=max(0.01, since + DEADLINE - time.monotonic()))
            except queue.Empty:
                sys.exit(f"popnetd_bench: popnetd logged no reconcile with {detail} within {DEADLINE} s")
            if "device reconciled" in line and detail in line:
                return stamp - since

    def one_change(self) -> tuple[float, float, float, float]:
        """popctl add, popctl revoke, wg set add, wg set remove: seconds until the device acknowledged each."""
        self.serial += 1
        name = f"lat-{self.serial}"
        key_b64, key_hex = new_key()
        self.drain_log()
        since = time.monotonic()
        self.popctl("peer", "add", "--tenant", "bench", "--name", name, "--public-key", key_b64,
                    "--output", str(self.dir / "clients" / f"{name}.conf"))
        added = self.acknowledged("peers.upserted=1", since)
        check_device(key_hex, True)
        since = time.monotonic()
        self.popctl("peer", "revoke", name)
        revoked = self.acknowledged("peers.removed=1", since)
        check_device(key_hex, False)

        # The anchor: the same kind of change made directly with wg. popnetd reverts it as drift within about
        # a second; it is removed again well before that.
        anchor_b64, anchor_hex = new_key()
        address = ANCHOR_POOL.network_address + self.serial
        since = time.monotonic()
        subprocess.run(["wg", "set", INTERFACE, "peer", anchor_b64, "allowed-ips", f"{address}/32"], check=True)
        wg_added = time.monotonic() - since
        since = time.monotonic()
        subprocess.run(["wg", "set", INTERFACE, "peer", anchor_b64, "remove"], check=True)
        wg_removed = time.monotonic() - since
        check_device(anchor_hex, False)
        return added, revoked, wg_added, wg_removed

    def latency(self, label: str) -> None:
        samples = [self.one_change() for _ in range(self.runs)]
        popctl_alone = []
        for _ in range(max(5, self.runs // 2)):
            since = time.monotonic()
            self.popctl("tenant", "list")
            popctl_alone.append(time.monotonic() - since)
        columns = list(zip(*samples))
        ms = lambda values: statistics.median(values) * 1000  # noqa: E731
        print(f"-- one peer, {label}: medians of {self.runs} (a popctl run that changes nothing: "
              f"{ms(popctl_alone):.1f} ms)")
        print(f"   add:    popctl peer add -> device acknowledged  {ms(columns[0]):6.1f} ms   "
              f"wg set {ms(columns[2]):6.1f} ms   ratio {ms(columns[0]) / ms(columns[2]):.2f}")
        print(f"   remove: popctl peer revoke -> acknowledged      {ms(columns[1]):6.1f} ms   "
              f"wg set {ms(columns[3]):6.1f} ms   ratio {ms(columns[1]) / ms(columns[3]):.2f}")
        print(f"   worst popctl add/remove: {max(columns[0]) * 1000:.1f} / {max(columns[1]) * 1000:.1f} ms")

    def seed(self, count: int) -> None:
        """Writes COUNT active peers of tenant bench in one transaction, as popctl would have."""
        db = sqlite3.connect(self.dir / "registry.sqlite", timeout=10)
        with db:
            (tenant,) = db.execute("SELECT id FROM tenants WHERE name = 'bench'").fetchone()
            used = {row[0] for row in db.execute("SELECT address FROM peers WHERE state = 'active'")}
            hosts = (h for h in POOL.hosts() if h != POP_ADDRESS and str(h) not in used)
            now = time.time()
            rows = []
            for index, address in zip(range(count), hosts):
                rows.append((tenant, f"seed-{index}", new_key()[0], str(address),
                             base64.b64encode(os.urandom(32)).decode(), now))
            db.executemany("INSERT INTO peers (tenant_id, name, public_key, address, preshared_key, state, created_at)"
                           " VALUES (?, ?, ?, ?, ?, 'active', ?)", rows)
        db.close()
        # A commit announced the way RegistryStore announces its own (see RegistryChangeSignal).
        Path(str(self.dir / "registry.sqlite") + "-notify").touch()


    def import_peers(self, count: int) -> float:
        """Registers COUNT peers of tenant bench with `popctl peer import`, the clients' own keys in a CSV, as an
        operator would; returns how long popctl itself took."""
        csv = self.dir / "peers.csv"
        csv.write_text("tenant,name,public_key\n" + "".join(f"bench,imported-{i},{new_key()[0]}\n" for i in range(count)))
        started = time.monotonic()
        # The PoP issues preshared keys, which only the configs carry: they go to a directory of their own.
        self.popctl("peer", "import", str(csv), "--output-dir", str(self.dir / "imported"))
        return time.monotonic() - started


def rss_kib(pid: int) -> tuple[int, int]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wireguard_go_pid() -> int:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv[0].endswith(b"wireguard-go") and INTERFACE.encode() in argv:
                return int(entry.name)
    sys.exit("popnetd_bench: wireguard-go for the benchmark interface not found")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--peers", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--seed", choices=["sql", "import"], default="sql",
                        help="how the PEERS peers get into the registry: one SQL transaction, or popctl peer import")
    args = parser.parse_args()
    bench = Bench(args)
    bench.write_config()
    bench.popctl("tenant", "add", "bench")
    popnetd = bench.start_popnetd()
    try:
        wireguard_go = wireguard_go_pid()
        print(f"popnetd pid {popnetd.pid} on wireguard-go pid {wireguard_go}, interface {INTERFACE}")
        idle_rss, _ = rss_kib(popnetd.pid)
        bench.latency("few peers present")

        since = time.monotonic()
        if args.seed == "import":
            popctl_seconds = bench.import_peers(args.peers)
        else:
            bench.seed(args.peers)
        while len(uapi_keys()) < args.peers:
            if time.monotonic() - since > 600:
                sys.exit("popnetd_bench: the seeded peers did not all reach the device in 600 s")
            time.sleep(0.1)
        applied = time.monotonic() - since
        time.sleep(3)  # let the first full checks with every peer present run before memory is read
        popnetd_rss, popnetd_peak = rss_kib(popnetd.pid)
        wg_rss, _ = rss_kib(wireguard_go)
        cpu_before, wall_before = cpu_seconds(popnetd.pid), time.monotonic()
        time.sleep(10)
        cpu_share = (cpu_seconds(popnetd.pid) - cpu_before) / (time.monotonic() - wall_before)
        if args.seed == "import":
            print(f"-- {args.peers} peers imported with `popctl peer import` -> all on the device: {applied:.2f} s "
                  f"(popctl itself {popctl_seconds:.2f} s)")
        else:
            print(f"-- {args.peers} peers written to the registry -> all on the device: {applied:.2f} s")
        print(f"   popnetd RSS {popnetd_rss / 1024:.1f} MiB (peak {popnetd_peak / 1024:.1f} MiB, "
              f"{idle_rss / 1024:.1f} MiB with no peers); wireguard-go RSS {wg_rss / 1024:.1f} MiB; "
              f"ratio popnetd/wireguard-go {popnetd_rss / wg_rss:.2f}")
        print(f"   popnetd CPU while idle with {args.peers} peers (full check every reconcile_interval_s): "
              f"{cpu_share * 100:.1f} % of one core")
        bench.latency(f"{args.peers} peers present")
    finally:
        popnetd.terminate()
        try:
            popnetd.wait(timeout=15)
        except subprocess.TimeoutExpired:
            popnetd.kill()


if __name__ == "__main__":
    main()
