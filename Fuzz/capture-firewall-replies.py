#!/usr/bin/env python3
"""Captures the kernel's netfilter messages that popnetd reads, as seeds for the firewall-reply fuzz target.

In a network namespace of its own, it installs popgate's table with popgate-fwcheck (the same code popnetd runs),
opens a TCP connection over loopback (v4 and v6) so conntrack holds entries, and then records, one datagram a file:

  - the nftables dumps TableReader asks for (table, chains, rules, sets, each set's elements, the generation);
  - the change events FirewallMonitor reads while peers are added and removed and another table comes and goes;
  - the ctnetlink dumps the conntrack flush searches, for both families.

Run as root from the repository, after `swift build`:

  python3 Fuzz/capture-firewall-replies.py [OUT_DIR]      (default Fuzz/corpus/firewall-reply)

POPGATE_FWCHECK names another popgate-fwcheck binary (default .build/debug/popgate-fwcheck).

The seeds are the kernel's bytes, so they differ a little from kernel to kernel; they are committed as captured.
"""

import os
import select
import socket
import struct
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "provisioning"))
from topology import Lone  # noqa: E402  (the namespaces' one module, found beside the demo)

FWCHECK = Path(os.environ.get("POPGATE_FWCHECK", ROOT / ".build" / "debug" / "popgate-fwcheck"))
NAMESPACE = Lone(f"pgfz{os.getpid()}")
TABLE = b"popgate\0"
PEER_SETS = [b"edge_peers_v4\0", b"edge_peers_v6\0"]
# Seeds are cut at message boundaries to fit the target's input limit (fuzz.sh MAX_LEN).
MAX_SEED = 8192

NETLINK_NETFILTER = 12
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
NFPROTO_INET, AF_INET, AF_INET6 = 1, 2, 10
NFT = 10 << 8  # NFNL_SUBSYS_NFTABLES
NFT_MSG = {"table": 1, "chain": 4, "rule": 7, "set": 10, "element": 13, "generation": 16}
CT_GET = (1 << 8) | 1  # NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_GET
NFNLGRP_NFTABLES = 7


def attribute(kind: int, data: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(data), kind) + data
    return raw + b"\0" * (-len(raw) % 4)


def messages(datagram: bytes) -> list[bytes]:
    out, offset = [], 0
    while offset + 16 <= len(datagram):
        length = struct.unpack_from("=I", datagram, offset)[0]
        if length < 16:
            break
        out.append(datagram[offset:offset + length] + b"\0" * (-length % 4))
        offset += length + (-length % 4)
    return out


class Capture:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.sequence = 1
        self.written = 0

    def save(self, name: str, datagram: bytes) -> None:
        """One file per datagram, cut at message boundaries where it is longer than MAX_SEED."""
        chunk, part = b"", 0
        for message in messages(datagram):
            if chunk and len(chunk) + len(message) > MAX_SEED:
                self._write(f"{name}-{part}", chunk)
                chunk, part = b"", part + 1
            chunk += message[:MAX_SEED]
        if chunk:
            self._write(f"{name}-{part}" if part else name, chunk)

    def _write(self, name: str, data: bytes) -> None:
        (self.out / name).write_bytes(data)
        self.written += 1

    def dump(self, name: str, kind: int, family: int, attributes: bytes = b"", dump: bool = True) -> None:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        sock.bind((0, 0))
        self.sequence += 1
        payload = struct.pack("=BBH", family, 0, 0) + attributes
        flags = NLM_F_REQUEST | (NLM_F_DUMP if dump else 0)
        sock.send(struct.pack("=IHHII", 16 + len(payload), kind, flags, self.sequence, 0) + payload)
        index = 0
        while True:
            ready, _, _ = select.select([sock], [], [], 5)
            if not ready:
                raise SystemExit(f"no answer to the {name} request within 5 s")
            datagram = sock.recv(1 << 20)
            self.save(f"{name}-{index}" if dump else name, datagram)
            index += 1
            types = [struct.unpack_from("=H", m, 4)[0] for m in messages(datagram)]
            if not dump or NLMSG_DONE in types or NLMSG_ERROR in types:
                break
        sock.close()


def inside(out: Path) -> None:
    capture = Capture(out)
    # Events first: FirewallMonitor's subscription sees what the next commands change.
    monitor = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    monitor.bind((0, 1 << (NFNLGRP_NFTABLES - 1)))
    for command in (
        [str(FWCHECK), "peers", "--add", "10.77.0.9", "--add", "fd77::9"],
        [str(FWCHECK), "peers", "--remove", "10.77.0.9"],
        ["nft", "add table inet scratch; add chain inet scratch c; add rule inet scratch c accept"],
        ["nft", "delete table inet scratch"],
    ):
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    index = 0
    while select.select([monitor], [], [], 0.5)[0]:
        capture.save(f"event-{index}", monitor.recv(1 << 20))
        index += 1
    if index == 0:
        raise SystemExit("the nftables monitor group delivered no event")

    table = attribute(1, TABLE)
    capture.dump("generation", NFT | NFT_MSG["generation"], 0, dump=False)
    capture.dump("table", NFT | NFT_MSG["table"], NFPROTO_INET, table, dump=False)
    capture.dump("chains", NFT | NFT_MSG["chain"], NFPROTO_INET, table)
    capture.dump("rules", NFT | NFT_MSG["rule"], NFPROTO_INET, table)
    capture.dump("sets", NFT | NFT_MSG["set"], NFPROTO_INET, table)
    for name in PEER_SETS:
        capture.dump(f"elements-{name[:-1].decode()}", NFT | NFT_MSG["element"], NFPROTO_INET, table + attribute(2, name))

    # Connections over loopback, held open while conntrack is dumped.
    held = []
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        server = socket.socket(family, socket.SOCK_STREAM)
        server.bind((host, 0))
        server.listen()
        client = socket.create_connection(server.getsockname()[:2], timeout=5)
        held += [server, client, server.accept()[0]]
    capture.dump("conntrack-v4", CT_GET, AF_INET)
    capture.dump("conntrack-v6", CT_GET, AF_INET6)
    for sock in held:
        sock.close()
    print(f"{capture.written} seeds written to {out}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--inside":
        inside(Path(sys.argv[2]))
        return
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "Fuzz" / "corpus" / "firewall-reply").resolve()
    if not FWCHECK.exists():
        raise SystemExit(f"{FWCHECK} is missing; run `swift build` first")
    out.mkdir(parents=True, exist_ok=True)
    NAMESPACE.up()  # loopback up, nothing else
    try:
        def run(*command: str) -> None:
            subprocess.run(["ip", "netns", "exec", NAMESPACE.name, *command], check=True)
        peers = out / ".peers"
        peers.write_text("10.77.0.2\n10.77.0.3\nfd77::2\n")
        try:
            run(str(FWCHECK), "install", "--wg-port", "51820", "--mgmt-prefix", "192.0.2.0/24", "--mgmt-port", "22",
                "--worker-prefix", "10.9.0.0/24", "--worker-port", "8000", "--peers-file", str(peers))
        finally:
            peers.unlink()
        run(sys.executable, str(Path(__file__).resolve()), "--inside", str(out))
    finally:
        NAMESPACE.down()


if __name__ == "__main__":
    main()
