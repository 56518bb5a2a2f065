"""A flood generator for test_floods.py, run inside a network namespace with `ip netns exec`.

One asyncio process holds thousands of sockets (RLIMIT_NOFILE is raised to the hard limit), and it is paced: new
connections and datagrams come at a fixed rate and bodies at a fixed byte rate, so that it costs little CPU on a
small machine, where it competes with wireguard-go and popgated. What it floods with is in MODES; it stops after
--seconds, or as soon as the --stop file exists, and prints one JSON summary line: what it did and everything the
other side sent back (bytes, the HTTP status of each answer, how connections ended). It never prints what it sent.

    flood_client.py MODE --host H --port P [--ports P,P] --seconds S --connections N --rate R [...]
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import os
import random
import resource
import socket
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable

# A pool of random bytes taken from at random offsets: fresh garbage for every connection without calling urandom
# (and spending CPU) for each.
GARBAGE = os.urandom(1 << 20)
CHUNK = 16 << 10


@dataclass
class Tally:
    """What the flood did and what came back."""

    connects: int = 0
    connect_failures: Counter[str] = field(default_factory=Counter)
    open_now: int = 0
    open_peak: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    endings: Counter[str] = field(default_factory=Counter)  # eof, reset, held (still open at the end)
    lifetimes: list[float] = field(default_factory=list)  # seconds from connect to the server's close
    datagrams_sent: int = 0
    datagram_errors: Counter[str] = field(default_factory=Counter)

    def summary(self, mode: str, elapsed: float) -> dict:
        return {
            "mode": mode, "elapsed": round(elapsed, 2), "connects": self.connects,
            "connect_failures": dict(self.connect_failures), "open_peak": self.open_peak,
            "bytes_sent": self.bytes_sent, "bytes_received": self.bytes_received, "statuses": dict(self.statuses),
            "endings": dict(self.endings),
            "lifetime_median": round(statistics.median(self.lifetimes), 3) if self.lifetimes else None,
            "lifetime_max": round(max(self.lifetimes), 3) if self.lifetimes else None,
            "datagrams_sent": self.datagrams_sent, "datagram_errors": dict(self.datagram_errors),
        }


class Pace:
    """Hands out slots at `rate` per second (a new connection, a datagram, a trickled byte), shared by all tasks.

    With thousands of tasks waiting, a slot may lie many seconds ahead: the wait ends early once `over()` is true,
    so that the flood stops when told."""

    def __init__(self, rate: float, over: Callable[[], bool]) -> None:
        self.interval = 1 / rate
        self.next = time.monotonic()
        self.over = over

    async def wait(self) -> None:
        now = time.monotonic()
        self.next = max(self.next, now - self.interval) + self.interval
        slot = self.next
        while now < slot and not self.over():
            await asyncio.sleep(min(slot - now, 0.5))
            now = time.monotonic()


def error_name(error: BaseException) -> str:
    if isinstance(error, asyncio.TimeoutError):
        return "timeout"
    if isinstance(error, OSError) and error.errno:
        return errno.errorcode.get(error.errno, str(error.errno))
    return type(error).__name__


def garbage(size: int) -> bytes:
    start = random.randrange(0, len(GARBAGE) - size)
    return GARBAGE[start:start + size]


class Flood:
    def __init__(self, options: argparse.Namespace) -> None:
        self.o = options
        self.tally = Tally()
        self.deadline = time.monotonic() + options.seconds
        self.stop = Path(options.stop) if options.stop else None
        self.connects = Pace(options.rate, self.over)
        self.bytes = Pace(options.byte_rate / CHUNK, self.over) if options.byte_rate else None

    def over(self) -> bool:
        return time.monotonic() >= self.deadline or (self.stop is not None and self.stop.exists())

    async def run(self, behaviour: Callable[[asyncio.StreamWriter], Awaitable[None]]) -> None:
        """`connections` workers, each connecting (paced), running `behaviour` while reading everything the server
        sends, until the server closes; then again, until the flood is over."""
        await asyncio.gather(*(self.worker(behaviour) for _ in range(self.o.connections)))

    async def worker(self, behaviour: Callable[[asyncio.StreamWriter], Awaitable[None]]) -> None:
        while not self.over():
            await self.connects.wait()
            if self.over():
                return
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(self.o.host, self.o.port), self.o.connect_timeout)
            except (OSError, asyncio.TimeoutError) as error:
                self.tally.connect_failures[error_name(error)] += 1
                continue
            if self.o.mode == "bad-key":
                await self.refused(reader, writer)
            else:
                await self.converse(reader, writer, behaviour)

    async def converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       behaviour: Callable[[asyncio.StreamWriter], Awaitable[None]]) -> None:
        tally = self.tally
        tally.connects += 1
        tally.open_now += 1
        tally.open_peak = max(tally.open_peak, tally.open_now)
        opened = time.monotonic()
        sending = asyncio.ensure_future(behaviour(writer))
        ending = "held"
        received = b""
        try:
            while not self.over():
                try:
                    piece = await asyncio.wait_for(reader.read(65536), max(0.05, min(1.0, self.deadline - time.monotonic())))
                except asyncio.TimeoutError:
                    continue
                if not piece:
                    ending = "eof"
                    break
                if not received:
                    # The status line of the first answer on the connection ("HTTP/1.1 431 …" → "431").
                    words = piece.split(b" ", 2)
                    tally.statuses[words[1].decode("ascii", "replace") if len(words) > 1 and
                                   words[0].startswith(b"HTTP/") else "not http"] += 1
                received += piece[:64]
                tally.bytes_received += len(piece)
        except OSError as error:
            ending = "reset" if isinstance(error, ConnectionResetError) else error_name(error)
        finally:
            if ending != "held":
                tally.lifetimes.append(time.monotonic() - opened)
            tally.endings[ending] += 1
            tally.open_now -= 1
            sending.cancel()
            try:
                await sending
            except (asyncio.CancelledError, OSError):
                pass
            writer.transport.abort()

    async def refused(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Requests with a key that does not exist, kept alive, at --rate per second in all: each is refused (and
        receipted) by the gateway. Every answer is read to its end before the next request."""
        tally = self.tally
        tally.connects += 1
        request = (b"GET /v1/models HTTP/1.1\r\nHost: pop\r\nAuthorization: Bearer popk_0000000000000000_" +
                   b"0" * 64 + b"\r\n\r\n")
        try:
            while not self.over():
                await self.connects.wait()
                await self.send(writer, request)
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self.o.connect_timeout)
                tally.bytes_received += len(head)
                tally.statuses[head.split(b" ", 2)[1].decode("ascii", "replace")] += 1
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                tally.bytes_received += len(await reader.readexactly(length))
            tally.endings["held"] += 1
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as error:
            tally.endings["eof" if isinstance(error, asyncio.IncompleteReadError) else error_name(error)] += 1
        finally:
            writer.transport.abort()

    async def send(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        writer.write(data)
        self.tally.bytes_sent += len(data)
        await writer.drain()

    # What each kind of connection sends.

    async def idle(self, writer: asyncio.StreamWriter) -> None:
        """Nothing at all: a connection held open."""

    async def slowloris(self, writer: asyncio.StreamWriter) -> None:
        """A request line, then one byte of a header every --interval seconds, never the end of the head."""
        await self.send(writer, b"POST /v1/chat/completions HTTP/1.1\r\nHost: pop\r\n")
        trickle = b"X-Slow: " + b"a" * 1_000_000
        for index in range(len(trickle)):
            await asyncio.sleep(self.o.interval)
            await self.send(writer, trickle[index:index + 1])

    async def headers(self, writer: asyncio.StreamWriter) -> None:
        """A request whose head is far past any sane limit: one huge header, or thousands of small ones
        (alternately)."""
        head = b"GET /v1/models HTTP/1.1\r\nHost: pop\r\n"
        if random.random() < 0.5:
            head += b"X-Huge: " + b"h" * self.o.head_bytes + b"\r\n"
        else:
            head += b"".join(b"X-%d: v\r\n" % index for index in range(self.o.head_bytes // 10))
        await self.send(writer, head + b"\r\n")

    async def garbage(self, writer: asyncio.StreamWriter) -> None:
        """Random bytes, at most --byte-rate in all."""
        for _ in range(64):
            await self.paced_send(writer, garbage(CHUNK))

    async def endless_body(self, writer: asyncio.StreamWriter) -> None:
        """A request announcing a body of a petabyte (Content-Length) or chunks without end (--chunked), then body
        bytes: at --byte-rate in all (fast), or one byte every --interval seconds (--trickle)."""
        head = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: pop\r\nContent-Type: application/json\r\n"
                b"Authorization: Bearer " + self.o.key.encode() + b"\r\n")
        head += b"Transfer-Encoding: chunked\r\n\r\n" if self.o.chunked else b"Content-Length: 1000000000000000\r\n\r\n"
        await self.send(writer, head)
        while True:
            if self.o.trickle:
                await asyncio.sleep(self.o.interval)
                piece = b"1\r\n{\r\n" if self.o.chunked else b"{"
                await self.send(writer, piece)
            else:
                body = garbage(CHUNK)
                await self.paced_send(writer, b"%x\r\n%s\r\n" % (len(body), body) if self.o.chunked else body)

    async def paced_send(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        if self.bytes is not None:
            await self.bytes.wait()
        await self.send(writer, data)

    # From outside: nothing may come back.

    async def syn(self) -> None:
        """Connection attempts (each a SYN and its retransmissions) to every --ports, paced; any answer (an RST
        shows as a refusal, an ICMP error as unreachable) is a leak."""
        ports = [int(p) for p in self.o.ports.split(",")]

        async def attempt(port: int) -> None:
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(self.o.host, port), self.o.connect_timeout)
            except (OSError, asyncio.TimeoutError) as error:
                self.tally.connect_failures[error_name(error)] += 1
                return
            self.tally.connects += 1
            writer.transport.abort()

        pending: set[asyncio.Task] = set()
        while not self.over():
            await self.connects.wait()
            if len(pending) < self.o.connections:
                task = asyncio.ensure_future(attempt(random.choice(ports)))
                pending.add(task)
                task.add_done_callback(pending.discard)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def udp(self) -> None:
        """Garbage datagrams to every --ports (WireGuard's among them), paced, from one connected socket per port,
        so that an ICMP error would show as an error on it; any datagram back is a leak."""
        tally = self.tally
        loop = asyncio.get_running_loop()

        class Listener(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: object) -> None:
                tally.bytes_received += len(data)

            def error_received(self, error: Exception) -> None:
                tally.datagram_errors[error_name(error)] += 1

        endpoints = [await loop.create_datagram_endpoint(Listener, remote_addr=(self.o.host, int(port)))
                     for port in self.o.ports.split(",")]
        # WireGuard's message sizes (handshake initiation 148, response 92, cookie 64, data ≥ 32) with random
        # type bytes among them, and arbitrary sizes.
        sizes = [148, 92, 64, 32, 1, 200, 1400]
        while not self.over():
            await self.connects.wait()
            transport, _ = random.choice(endpoints)
            data = bytearray(garbage(random.choice(sizes)))
            data[0] = random.choice([1, 2, 3, 4, data[0]])
            transport.sendto(bytes(data))
            tally.datagrams_sent += 1
        await asyncio.sleep(0.5)  # an ICMP error or an answer to the last datagrams
        for transport, _ in endpoints:
            transport.close()


MODES = ("idle", "slowloris", "headers", "garbage", "endless-body", "bad-key", "syn", "udp")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=MODES)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, default=0, help="the TCP port of the connection modes")
    parser.add_argument("--ports", default="", help="syn and udp: comma-separated ports")
    parser.add_argument("--seconds", type=float, required=True, help="the flood ends after this long at most")
    parser.add_argument("--stop", help="the flood ends as soon as this file exists")
    parser.add_argument("--ready", help="created once the first --connections connections were attempted, or "
                                        "--ramp seconds have passed, whichever comes first")
    parser.add_argument("--ramp", type=float, default=5, help="seconds until --ready at the latest")
    parser.add_argument("--connections", type=int, default=100, help="connections (or attempts) open at once")
    parser.add_argument("--rate", type=float, default=200,
                        help="new connections (udp: datagrams, bad-key: requests) per second")
    parser.add_argument("--byte-rate", type=float, default=0, help="bytes per second in all when sending fast")
    parser.add_argument("--interval", type=float, default=2, help="seconds between trickled bytes")
    parser.add_argument("--head-bytes", type=int, default=65536, help="headers: the size of the oversized head")
    parser.add_argument("--key", default="", help="endless-body: the API key to send")
    parser.add_argument("--chunked", action="store_true", help="endless-body: chunked instead of Content-Length")
    parser.add_argument("--trickle", action="store_true", help="endless-body: one byte per --interval")
    parser.add_argument("--connect-timeout", type=float, default=3)
    options = parser.parse_args(argv)
    if options.mode in ("syn", "udp") and not options.ports:
        parser.error(f"{options.mode} needs --ports")
    if options.mode not in ("syn", "udp") and not options.port:
        parser.error(f"{options.mode} needs --port")
    if options.mode == "endless-body" and not options.key:
        parser.error("endless-body needs --key (a body is only read for an authenticated request)")
    if options.seconds <= 0 or options.rate <= 0 or options.connections <= 0:
        parser.error("--seconds, --rate and --connections must be positive")
    return options


async def main(options: argparse.Namespace) -> dict:
    flood = Flood(options)
    started = time.monotonic()
    if options.ready:
        # Once the first round of connections has been paced out (or the flood is over).
        async def mark_ready() -> None:
            await asyncio.sleep(min(options.seconds, options.ramp, options.connections / options.rate))
            Path(options.ready).touch()
        ready = asyncio.ensure_future(mark_ready())
    if options.mode == "syn":
        await flood.syn()
    elif options.mode == "udp":
        await flood.udp()
    else:
        behaviour = {"idle": flood.idle, "slowloris": flood.slowloris, "headers": flood.headers,
                     "garbage": flood.garbage, "endless-body": flood.endless_body,
                     "bad-key": flood.idle}[options.mode]
        await flood.run(behaviour)
    if options.ready:
        ready.cancel()
    return flood.tally.summary(options.mode, time.monotonic() - started)


if __name__ == "__main__":
    options = parse(sys.argv[1:])
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(json.dumps(asyncio.run(main(options))))
