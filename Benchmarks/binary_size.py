#!/usr/bin/env python3
"""What the node's daemons weigh, and which modules make the weight.

For each daemon: the size `make install` installs (the static release build, stripped), the shared libraries `ldd`
lists, and the bytes each linked module puts into the binary, read from the linker's map of a relink of the same
build (`-Xlinker -Map`; only the link step runs again). Modules are the Swift targets of this package and its
dependencies, and the toolchain's static libraries (the Swift runtime, Foundation, its ICU data).

    python3 Benchmarks/binary_size.py [--top N] [DAEMON ...]      (default: popgated popnetd)

Results and the reading of them: docs/benchmarks.md, "Binary size".
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SWIFT = "/opt/swift/usr/bin/swift"
RELEASE_FLAGS = ["-c", "release", "--static-swift-stdlib"]  # as the Makefile's release target builds

# A map line: section, address, size, input file; a long section name puts the rest on the next line.
ONE_LINE = re.compile(r"^ (\.\S+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$")
NAME_ONLY = re.compile(r"^ (\.\S+)$")
REST = re.compile(r"^\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$")
# Sections that take no room in a stripped file: debug information, notes, and zero-filled data.
NOT_IN_FILE = (".debug", ".comment", ".bss", ".tbss", ".note.GNU-stack")

# The toolchain's libraries that full Foundation brings; FoundationEssentials alone brings none of them.
FULL_FOUNDATION = {"Foundation", "FoundationInternationalization", "_FoundationICU", "CoreFoundation",
                   "FoundationNetworking", "FoundationXML", "_FoundationCShims", "_FoundationCollections"}


def module_of(input_file: str) -> str:
    """The module an input file belongs to: the target of a `.build` object, or the library of an archive member."""
    match = re.search(r"/release/([^/]+)\.build/.*\.o$", input_file)
    if match:
        return match.group(1)
    match = re.search(r"/lib([^/]+)\.a\(", input_file)
    if match:
        return match.group(1)
    return os.path.basename(input_file)


def bytes_by_module(map_text: str) -> dict[str, int]:
    sizes: dict[str, int] = defaultdict(int)
    in_memory_map = False
    pending_section: str | None = None
    for line in map_text.splitlines():
        if not in_memory_map:
            # GNU ld's heading, and gold's (the Swift toolchain links with gold).
            in_memory_map = line.startswith(("Linker script and memory map", "Memory map"))
            continue
        section = size = source = None
        if pending_section is not None:
            rest = REST.match(line)
            if rest:
                section, size, source = pending_section, int(rest.group(2), 16), rest.group(3)
            pending_section = None
        else:
            one = ONE_LINE.match(line)
            if one:
                section, size, source = one.group(1), int(one.group(3), 16), one.group(4)
            else:
                only = NAME_ONLY.match(line)
                if only:
                    pending_section = only.group(1)
        if section is None or size == 0 or section.startswith(NOT_IN_FILE):
            continue
        sizes[module_of(source)] += size
    return sizes


def run(command: list[str]) -> str:
    """The command's output; its chatter (SwiftPM's warnings) is shown only when it fails."""
    result = subprocess.run(command, text=True, capture_output=True, cwd=REPO)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed (exit {result.returncode}):\n{result.stderr}")
    return result.stdout


def measure(daemon: str, top: int) -> None:
    bin_path = Path(run([SWIFT, "build", *RELEASE_FLAGS, "--show-bin-path"]).strip())
    with tempfile.TemporaryDirectory() as scratch:
        link_map = Path(scratch) / f"{daemon}.map"
        run([SWIFT, "build", *RELEASE_FLAGS, "--product", daemon, "-Xlinker", f"-Map={link_map}"])
        stripped = Path(scratch) / daemon
        run(["strip", "-o", str(stripped), str(bin_path / daemon)])
        size = stripped.stat().st_size
        sizes = bytes_by_module(link_map.read_text(errors="replace"))
    # Relink without the map, so the build directory holds what `make release` makes.
    run([SWIFT, "build", *RELEASE_FLAGS, "--product", daemon])
    libraries = [line.split()[0] for line in run(["ldd", str(bin_path / daemon)]).splitlines() if line.strip()]
    foundation = sum(bytes_ for module, bytes_ in sizes.items() if module in FULL_FOUNDATION)
    total = sum(sizes.values())
    print(f"\n{daemon}: {size / 1e6:.1f} MB stripped; {total / 1e6:.1f} MB in loaded sections, of which full "
          f"Foundation and its ICU data {foundation / 1e6:.1f} MB")
    print(f"  ldd: {' '.join(libraries)}")
    print(f"  {'module':<34} {'MB':>7}")
    for module, bytes_ in sorted(sizes.items(), key=lambda item: -item[1])[:top]:
        print(f"  {module:<34} {bytes_ / 1e6:>7.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("daemons", nargs="*", default=["popgated", "popnetd"])
    parser.add_argument("--top", type=int, default=20, help="modules to list per daemon (default 20)")
    arguments = parser.parse_args()
    os.environ["PATH"] = f"/opt/swift/usr/bin:{os.environ.get('PATH', '')}"
    for daemon in arguments.daemons:
        measure(daemon, arguments.top)


if __name__ == "__main__":
    sys.exit(main())
