"""Searching the whole machine for canary strings (test_canary.py).

Every canary of one run starts with the same prefix, `CANARY-<run id>-`, random per run: finding the prefix
finds any canary of the run, whole or cut short, and can never be set off by another run's leftovers or by another
engineer's files. Besides the plain bytes, the prefix is looked for base64-encoded (standard and URL alphabets, at
each of the three byte alignments) and hex-encoded (lower and upper case): the encodings a program that stores
request bytes without reading them (a binary log field, a JSON-wrapped blob, a dump) would use. Canaries hold only
letters, digits and dashes, so JSON, URL and shell escaping leave them as they are. Compressed files are not
unpacked; the journal, which compresses large fields, is searched through `journalctl`'s output instead.

The files searched are every regular file changed (mtime or ctime, which no program can set back) since a mark
taken before the run, on every mounted filesystem except the kernel's pseudo-filesystems and read-only mounts
(nothing can have been written to those), plus everything under the directories given as always searched.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

# Filesystems whose "files" are kernel state, not data anything wrote: never walked.
PSEUDO_FILESYSTEMS = frozenset({
    "proc", "sysfs", "cgroup", "cgroup2", "devpts", "debugfs", "tracefs", "securityfs", "pstore", "bpf", "mqueue",
    "hugetlbfs", "configfs", "fusectl", "autofs", "binfmt_misc", "nsfs", "rpc_pipefs", "efivarfs", "selinuxfs",
})
# Larger files are listed as skipped rather than read: nothing the run writes comes near this, and a multi-gigabyte
# image some other process touched would otherwise dominate the test's time.
MAX_FILE_BYTES = 1 << 30
CHUNK_BYTES = 4 << 20
CONTEXT_BYTES = 40
HITS_PER_SOURCE = 5  # enough to show where; the count says how many
COMMAND_TIMEOUT = 60


def needles(prefix: str) -> dict[bytes, str]:
    """The byte strings to look for, each with the name of the form it finds the prefix in."""
    raw = prefix.encode()
    found: dict[bytes, str] = {raw: "plain", raw.hex().encode(): "hex", raw.hex().upper().encode(): "hex"}
    for alignment in range(3):
        for alphabet, encode in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
            text = encode(b"\0" * alignment + raw)
            # Only the characters made entirely of the prefix's own bits: the first ones mix in the bytes before
            # it, the last ones those after it.
            first, end = -(-8 * alignment // 6), 8 * (alignment + len(raw)) // 6
            found.setdefault(text[first:end], f"{alphabet} (alignment {alignment})")
    return found


def mark_time() -> int:
    """The filesystem's idea of now, in ns: the mtime of a file created and removed at once. Taken from the kernel's
    file timestamps (coarse-grained), not the wall clock, so a file written right afterwards is never older."""
    with tempfile.NamedTemporaryFile(prefix="popgate-canary-mark.") as mark:
        return os.fstat(mark.fileno()).st_mtime_ns


@dataclass(frozen=True)
class Mount:
    point: str
    fstype: str
    read_only: bool


def mounts() -> list[Mount]:
    """The mount table of this process's mount namespace (/proc/self/mounts, octal escapes undone)."""
    def unescape(text: str) -> str:  # the kernel writes space, tab, newline and backslash as \ooo
        return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), text)

    table = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _, point, fstype, options, *_ = line.split()
        table.append(Mount(unescape(point), fstype, "ro" in options.split(",")))
    return table


@dataclass(frozen=True)
class Hit:
    """One place a needle was found: a file's path or a log's name, the form, and the bytes around it."""
    source: str
    form: str
    offset: int
    context: str

    def __str__(self) -> str:
        return f"{self.source} @{self.offset} ({self.form}): {self.context}"


@dataclass
class SearchReport:
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0
    walked_mounts: list[str] = field(default_factory=list)
    skipped_mounts: list[str] = field(default_factory=list)
    skipped_files: list[str] = field(default_factory=list)  # too large, or unreadable, with the reason
    logs: dict[str, str] = field(default_factory=dict)  # journal / kernel log: what was searched, or why not
    hits: list[Hit] = field(default_factory=list)
    hit_counts: dict[str, int] = field(default_factory=dict)  # source → occurrences, including those not listed

    def summary(self) -> str:
        return (f"searched {self.files} files, {self.bytes} bytes in {self.seconds:.1f} s on "
                f"{', '.join(self.walked_mounts)}; logs: {self.logs}; skipped mounts: {self.skipped_mounts}; "
                f"skipped files: {self.skipped_files}; hits: {sum(self.hit_counts.values())}")


class _Scanner:
    """Searches byte streams for the needles, a chunk at a time (chunks overlap by one needle's length less one
    byte, so a needle across a boundary is found, and found once)."""

    def __init__(self, wanted: dict[bytes, str], report: SearchReport) -> None:
        self.wanted, self.report = wanted, report
        self.overlap = max(len(n) for n in wanted) - 1

    def scan(self, source: str, chunks: Iterable[bytes]) -> None:
        tail, base = b"", 0  # `base`: the offset in the source of the buffer's first byte
        for chunk in chunks:
            buffer = tail + chunk
            for needle, form in self.wanted.items():
                at = buffer.find(needle)
                while at != -1:
                    if at + len(needle) > len(tail):  # else wholly in the overlap: found with the last chunk
                        self._record(source, form, base + at, buffer, at, len(needle))
                    at = buffer.find(needle, at + 1)
            tail = buffer[-self.overlap:] if self.overlap else b""
            base += len(buffer) - len(tail)

    def _record(self, source: str, form: str, offset: int, buffer: bytes, at: int, length: int) -> None:
        count = self.report.hit_counts.get(source, 0)
        self.report.hit_counts[source] = count + 1
        if count < HITS_PER_SOURCE:
            around = buffer[max(0, at - CONTEXT_BYTES):at + length + CONTEXT_BYTES]
            self.report.hits.append(Hit(source, form, offset, repr(around)[2:-1]))


def _file_chunks(path: str) -> Iterator[bytes]:
    with open(path, "rb", buffering=0) as file:
        while chunk := file.read(CHUNK_BYTES):
            yield chunk


def _changed_files(since_ns: int, always: tuple[str, ...], pruned: frozenset[str],
                   report: SearchReport) -> Iterator[tuple[str, int]]:
    """(path, size) of every regular file under / changed since `since_ns` or under an `always` directory,
    never entering `pruned` (mount points not to walk); symbolic links are not followed."""
    stack = ["/"]
    while stack:
        directory = stack.pop()
        try:
            entries = os.scandir(directory)
        except OSError as error:  # vanished, or a directory even root may not list (a FUSE mount of another user)
            if os.path.exists(directory):
                report.skipped_files.append(f"{directory}/: {error.strerror}")
            continue
        with entries:
            for entry in entries:
                if entry.path in pruned:
                    continue
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue  # removed since it was listed
                if stat.S_ISDIR(info.st_mode):
                    stack.append(entry.path)
                elif stat.S_ISREG(info.st_mode) and (
                        info.st_mtime_ns >= since_ns or info.st_ctime_ns >= since_ns
                        or entry.path.startswith(always)):
                    yield entry.path, info.st_size


def _command_output(argv: list[str]) -> tuple[bytes | None, str]:
    try:
        result = subprocess.run(argv, capture_output=True, timeout=COMMAND_TIMEOUT, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as error:
        return None, f"`{' '.join(argv)}` failed: {error}"
    if result.returncode != 0:
        return None, f"`{' '.join(argv)}` exited {result.returncode}: {result.stderr.decode(errors='replace')[:300]}"
    return result.stdout, f"`{' '.join(argv)}`: {len(result.stdout)} bytes"


def journald_running() -> bool:
    return Path("/run/systemd/journal/socket").exists() and shutil.which("journalctl") is not None


def search_machine(prefix: str, since_ns: int, always: Iterable[Path] = ()) -> SearchReport:
    """Searches every file changed since `since_ns` (see the module's description), everything under `always`,
    the journal's entries since then (when journald runs) and the kernel log, for `prefix` in every form."""
    report = SearchReport()
    scanner = _Scanner(needles(prefix), report)
    started = time.monotonic()
    table = mounts()
    pruned = frozenset(m.point for m in table if m.fstype in PSEUDO_FILESYSTEMS or m.read_only)

    def reached(point: str) -> bool:  # not pruned itself, nor mounted inside a pruned mount (/sys/fs/cgroup)
        return point not in pruned and not any(point.startswith(p.rstrip("/") + "/") for p in pruned)

    report.walked_mounts = sorted({m.point for m in table if reached(m.point)})
    report.skipped_mounts = sorted({f"{m.point} ({m.fstype}{', ro' if m.read_only else ''})"
                                    for m in table if not reached(m.point)})
    always_roots = tuple(str(path).rstrip("/") + "/" for path in always)
    for path, size in _changed_files(since_ns, always_roots, pruned, report):
        if size > MAX_FILE_BYTES:
            report.skipped_files.append(f"{path}: {size} bytes, over {MAX_FILE_BYTES}")
            continue
        try:
            scanner.scan(path, _file_chunks(path))
        except FileNotFoundError:
            continue  # removed while the walk went on: what it held is gone with it
        except OSError as error:
            report.skipped_files.append(f"{path}: {error.strerror}")
            continue
        report.files += 1
        report.bytes += size

    if journald_running():
        # `export` holds every field of every entry, binary ones raw, decompressed.
        output, report.logs["journal"] = _command_output(
            ["journalctl", "--no-pager", "-o", "export", "--since", f"@{since_ns // 1_000_000_000}"])
    else:
        output, report.logs["journal"] = None, "journald is not running (no /run/systemd/journal/socket)"
    if output is not None:
        scanner.scan("journal", [output])
        report.bytes += len(output)
    output, report.logs["kernel"] = _command_output(["dmesg"])
    if output is not None:
        scanner.scan("kernel log (dmesg)", [output])
        report.bytes += len(output)
    report.seconds = time.monotonic() - started
    return report
